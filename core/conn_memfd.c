/* SPDX-License-Identifier: MIT */
/* conn_memfd.c - the connection's side of data in sealed memfds: the
 * threshold our hello announces, and what the codec is told about the
 * peer's memfd tags and ours (docs/protocol.md, "Data in sealed memfds").
 * Checking, mapping and counting the memfds is value_memfd.c's. */
#include "conn_int.h"

#include <stdlib.h>
#include <string.h>

void seam__conn_memfd_defaults(seam_conn_config *cfg)
{
    if (cfg->memfd_min == 0) {
        cfg->memfd_min = DEFAULT_MEMFD_MIN;
    } else if (cfg->memfd_min < SEAM__HELLO_MIN_MEMFD) {
        cfg->memfd_min = SEAM__HELLO_MIN_MEMFD;
    }
    if (cfg->max_memfd_bytes == 0) {
        cfg->max_memfd_bytes = DEFAULT_MAX_MEMFD_BYTES;
    }
}

/* Announced only where descriptors pass, unless the configuration or
 * SEAM_NO_MEMFD=1 says never. */
uint64_t seam__conn_memfd_offer(const seam_conn *c)
{
    const char *no = getenv("SEAM_NO_MEMFD");
    if (seam__conn_our_max_fds(c) == 0 || c->cfg.memfd_min == SIZE_MAX ||
        (no != NULL && strcmp(no, "1") == 0)) {
        return 0;
    }
    return c->cfg.memfd_min;
}

const seam__dec_memfd *seam__conn_memfd_in(const seam_conn *c, seam__dec_memfd *mf)
{
    if (c->memfd_offer == 0 || c->memfd_account == NULL) {
        return NULL;
    }
    *mf = (seam__dec_memfd){c->memfd_offer, c->cfg.max_memfd_bytes, c->memfd_account};
    return mf;
}

const seam__enc_memfd *seam__conn_memfd_out(const seam_conn *c, uint8_t kind, seam__enc_memfd *mf)
{
    bool carries_fds =
        kind == SEAM__KIND_MESSAGE || kind == SEAM__KIND_REQUEST || kind == SEAM__KIND_REPLY;
    if (c->state != SEAM__CONN_OPEN || c->peer.memfd == 0 || c->peer.max_fds == 0 || !carries_fds) {
        return NULL;
    }
    *mf = (seam__enc_memfd){c->peer.memfd, (size_t)c->peer.max_fds};
    return mf;
}
