/* SPDX-License-Identifier: MIT */
/* monitor.h - copies of every frame a server's peers send and receive, for
 * the peers that asked to monitor (docs/protocol.md, "Library requests").
 * conn.c calls the hooks below only when SEAM__MONITORED() holds, so an
 * unmonitored server pays one comparison per frame. */
#ifndef SEAM_MONITOR_H
#define SEAM_MONITOR_H

#include "conn.h"

/* The raw message id of a monitor record on a monitoring connection. */
#define SEAM__MONITOR_RECORD_ID 1u

/* Bytes of a record before the copied frame. */
#define SEAM__MONITOR_HEAD 32u

/* True when frames of c are to be copied to monitors. */
#define SEAM__MONITORED(c) ((c)->server != NULL && (c)->server->monitors > 0 && !(c)->monitor)

/* A frame of c: head (header and possibly the start of the payload) and
 * tail (the rest, may be NULL); out is true for frames c sends. */
void seam__monitor_frame(seam_conn *c, bool out, const uint8_t *head, size_t head_len,
                         const uint8_t *tail, size_t tail_len);

/* The hello c sent when it was accepted. */
void seam__monitor_hello_out(seam_conn *c);

/* A frame c received, as parsed. */
void seam__monitor_frame_in(seam_conn *c, const seam__frame *f);

/* If f is the monitor request and c a server's peer, answers req (refusing
 * unless the server allows monitoring and c runs as the server's user),
 * makes c a monitor on success and returns true; else returns false. */
bool seam__monitor_request(seam_conn *c, seam_request *req, const seam__frame *f);

/* c leaves its server: one monitor fewer if it was one. */
void seam__monitor_leave(seam_conn *c);

#endif /* SEAM_MONITOR_H */
