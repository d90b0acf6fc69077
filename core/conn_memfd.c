/* SPDX-License-Identifier: MIT */
/* conn_memfd.c - the connection's side of data in sealed memfds: the
 * threshold our hello announces, what the codec is told about the peer's
 * memfd tags and ours, and raw bytes in a memfd, sent and received
 * (docs/protocol.md, "Data in sealed memfds"). Checking, mapping and
 * counting the memfds is value_memfd.c's. */
#include "conn_int.h"
#include "memfd.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int seam__conn_raw_memfd_seal(int fd, size_t len)
{
    if (fd < 0) {
        return SEAM_EBADF;
    }
    if (len == 0) {
        return SEAM_EINVAL;
    }
    return seam__memfd_seal(fd, len);
}

int seam__conn_queue_raw_out(seam_conn *c, uint8_t kind, uint64_t id, const seam__raw_out *raw,
                             bool bounded)
{
    if (raw->memfd < 0) {
        return seam__conn_queue_raw(c, kind, id, raw->id, raw->bytes, raw->len, bounded);
    }
    seam__enc_memfd mf;
    const seam__enc_memfd *out = seam__conn_memfd_out(c, kind, &mf);
    int r;
    if (out != NULL && raw->len >= out->min) {
        r = seam__conn_queue_raw_memfd(c, kind, id, raw->id, raw->memfd, raw->len, bounded);
    } else {
        /* A peer that takes no memfd (or not this short), or one whose
         * hello has not come: the bytes go, copied from a mapping. */
        const void *map = NULL;
        r = seam__memfd_map(raw->memfd, raw->len, &map);
        if (r == 0) {
            r = seam__conn_queue_raw(c, kind, id, raw->id, map, raw->len, bounded);
            seam__memfd_unmap(map, raw->len);
        }
    }
    if (r == 0) {
        close(raw->memfd); /* the queue holds a duplicate, or the bytes */
    }
    return r;
}

int seam__conn_raw_memfd_in(seam_conn *c, const seam__frame *f, const int *fds, seam_value **out)
{
    *out = NULL;
    seam__dec_memfd mf;
    if (seam__conn_memfd_in(c, &mf) == NULL) {
        return SEAM_EPROTO;
    }
    const uint8_t *p = f->payload + SEAM__FRAME_RAW_ID_SIZE;
    uint64_t len = 0;
    for (int i = SEAM__FRAME_MEMFD_SIZE - SEAM__FRAME_RAW_ID_SIZE - 1; i >= 0; i--) {
        len = len << 8 | p[i];
    }
    int err = SEAM_ENOMEM;
    *out = seam__value_from_memfd(fds[0], len, &mf, &err);
    return *out != NULL ? 0 : err;
}
