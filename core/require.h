/* SPDX-License-Identifier: MIT */
/* require.h - a server's declarative peer requirements
 * (seam_server_config.require): a copy the server owns, and the check of
 * one accepted peer against it before anything is read from that peer. */
#ifndef SEAM_REQUIRE_H
#define SEAM_REQUIRE_H

#include "tran.h"

#include <sys/types.h>

typedef struct seam__require {
    bool set; /* a requirement was given at all */
    uint32_t *uids;
    size_t nuids;
    uint32_t *gids;
    size_t ngids;
    char *exe;
    bool same_user;
} seam__require;

/* Copies in (may be NULL: nothing required) into out. Returns 0,
 * SEAM_EINVAL for a list with a count but no array or an exe path that
 * is not absolute, or SEAM_ENOMEM. */
int seam__require_copy(const seam_peer_require *in, seam__require *out);
void seam__require_free(seam__require *r);

/* Whether the check needs the peer's pidfd (the executable rule). */
bool seam__require_wants_pidfd(const seam__require *r);

/* Checks the peer of p (peer as the transport described it) against r.
 * Returns NULL when every rule holds, else the name of the first rule
 * that refused ("uid", "gid", "exe", "same_user"), with why in reason. */
const char *seam__require_check(const seam__require *r, seam__pipe *p, const seam_peer *peer,
                                char *reason, size_t len);

#endif /* SEAM_REQUIRE_H */
