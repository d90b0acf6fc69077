/* SPDX-License-Identifier: MIT */
/* hello.c - builds and reads the handshake frame's CBOR map. */
#include "hello.h"
#include "shm_ring.h"

static int put_u64(seam_value *dict, const char *key, uint64_t u)
{
    seam_value *v = seam_value_new_uint64(u);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_ENOMEM;
}

int seam__hello_write(const seam__hello *h, seam__buf *out)
{
    seam_value *m = seam_value_new_dict();
    /* Room for every key at once: one allocation, never a growth. */
    int r = m != NULL ? seam__dict_reserve(m, 5) : SEAM_ENOMEM;
    if (r < 0) {
        seam_value_unref(m);
        return r;
    }
    r = put_u64(m, "seam", h->version);
    if (r == 0) {
        r = put_u64(m, "max_frame", h->max_frame);
    }
    if (r == 0) {
        r = put_u64(m, "max_fds", h->max_fds);
    }
    if (r == 0 && h->shm != 0) {
        r = put_u64(m, "shm", h->shm);
    }
    if (r == 0 && h->memfd != 0) {
        r = put_u64(m, "memfd", h->memfd);
    }
    size_t start = out->len;
    if (r == 0) {
        /* The longest hello: a map head, then five keys of at most 10
         * bytes with a 9-byte integer each. Reserved at once, so writing
         * a hello into an empty queue is one allocation. */
        r = seam__buf_reserve(out, SEAM__FRAME_HEADER_SIZE + 1 + 5 * (10 + 9));
    }
    if (r == 0) {
        out->len += SEAM__FRAME_HEADER_SIZE;
        r = seam__encode(m, out, NULL, 0, NULL);
    }
    seam_value_unref(m);
    if (r < 0) {
        out->len = start;
        return r;
    }
    seam__frame_header fh = {(uint32_t)(out->len - start - SEAM__FRAME_HEADER_SIZE),
                             SEAM__KIND_HELLO, 0, 0, 0};
    seam__frame_header_write(out->data + start, &fh);
    return 0;
}

int seam__hello_read(const uint8_t *payload, size_t len, seam__hello *out)
{
    /* The 4096 bytes bound everything else: within them, any value the
     * default limits take is a valid hello (docs/protocol.md, "Handshake"). */
    if (len > SEAM__HELLO_MAX_PAYLOAD) {
        return SEAM_EHANDSHAKE;
    }
    seam_value *m = NULL;
    int r = seam__decode(payload, len, NULL, NULL, 0, &m);
    if (r < 0) {
        return r;
    }
    seam__hello h = {0};
    bool ok = seam_value_type(m) == SEAM_TYPE_DICT &&
              seam_value_get_uint64(seam_dict_get(m, "seam"), &h.version) && h.version > 0 &&
              seam_value_get_uint64(seam_dict_get(m, "max_frame"), &h.max_frame) &&
              h.max_frame >= SEAM__HELLO_MIN_FRAME &&
              seam_value_get_uint64(seam_dict_get(m, "max_fds"), &h.max_fds);
    const seam_value *shm = seam_dict_get(m, "shm");
    if (ok && shm != NULL) {
        ok = seam_value_get_uint64(shm, &h.shm) && seam__ring_size_ok(h.shm);
    }
    const seam_value *memfd = seam_dict_get(m, "memfd");
    if (ok && memfd != NULL) {
        ok = seam_value_get_uint64(memfd, &h.memfd) && h.memfd >= SEAM__HELLO_MIN_MEMFD;
    }
    seam_value_unref(m);
    if (!ok) {
        return SEAM_EHANDSHAKE;
    }
    /* No frame carries more than 64 descriptors: announcing more means the
     * same as 64, and leaves room for a later version to mean more. */
    if (h.max_fds > SEAM__HELLO_MAX_FDS) {
        h.max_fds = SEAM__HELLO_MAX_FDS;
    }
    *out = h;
    return 0;
}
