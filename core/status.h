/* SPDX-License-Identifier: MIT */
/* status.h - the library's own answer to the status request, which every
 * server gives without its application seeing the request
 * (docs/protocol.md, "Library requests"). */
#ifndef SEAM_STATUS_H
#define SEAM_STATUS_H

#include "conn.h"

/* If f is the status request and c a server's peer, answers req with the
 * server's status and returns true; otherwise returns false at the cost
 * of one length comparison, and the request goes to the application. */
bool seam__status_answer(seam_conn *c, seam_request *req, const seam__frame *f);

#endif /* SEAM_STATUS_H */
