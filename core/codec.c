/* SPDX-License-Identifier: MIT */
/* codec.c - values to CBOR, with libcbor's low-level encoders, straight
 * into the caller's buffer (a connection's send queue). Decoding is in
 * decode.c. */
#include "internal.h"

#include <cbor.h>
#include <string.h>

#define TAG_DATE  1u
#define TAG_UUID  37u
#define TAG_FD    0x7365616Du /* the ASCII bytes "seam": an unregistered tag, see protocol.md */
#define TAG_MEMFD 0x7365616Eu /* "sean": data in a sealed memfd, see protocol.md */

#define DEFAULT_MAX_DEPTH 64u

/* Longest CBOR head: initial byte plus an 8-byte argument. */
#define HEAD_MAX 9

/* ---- encoding ---- */

typedef struct encoder {
    seam__buf *out;
    int *fds;
    size_t max_fds;
    size_t nfds;
    seam__gather_fn gather; /* NULL: every byte is copied into out */
    void *gather_ctx;
    size_t gather_min;
    const seam__enc_memfd *memfd; /* NULL: memfd data is copied */
    uint64_t max_len;             /* 0: no limit */
    size_t start;                 /* out->len when the encoding began */
    uint64_t gathered;            /* bytes handed to gather */
} encoder;

/* Whether n more bytes keep the encoding within max_len. */
static bool fits(const encoder *e, uint64_t n)
{
    uint64_t have = (uint64_t)(e->out->len - e->start) + e->gathered;
    return e->max_len == 0 || (n <= e->max_len && have <= e->max_len - n);
}

typedef size_t (*head_fn)(size_t, unsigned char *, size_t);

static int put_head(encoder *e, head_fn fn, size_t arg)
{
    int r = seam__buf_room(e->out, HEAD_MAX);
    if (r < 0) {
        return r;
    }
    e->out->len += fn(arg, e->out->data + e->out->len, HEAD_MAX);
    return 0;
}

static int put_uint(encoder *e, uint64_t u)
{
    int r = seam__buf_room(e->out, HEAD_MAX);
    if (r < 0) {
        return r;
    }
    e->out->len += cbor_encode_uint(u, e->out->data + e->out->len, HEAD_MAX);
    return 0;
}

static int put_tag(encoder *e, uint64_t tag)
{
    int r = seam__buf_room(e->out, HEAD_MAX);
    if (r < 0) {
        return r;
    }
    e->out->len += cbor_encode_tag(tag, e->out->data + e->out->len, HEAD_MAX);
    return 0;
}

static int put_double(encoder *e, double d)
{
    int r = seam__buf_room(e->out, HEAD_MAX);
    if (r < 0) {
        return r;
    }
    e->out->len += cbor_encode_double(d, e->out->data + e->out->len, HEAD_MAX);
    return 0;
}

static int put_bytes(encoder *e, head_fn head, const void *bytes, size_t len)
{
    if (len > SIZE_MAX - HEAD_MAX) {
        return SEAM_ENOMEM;
    }
    if (!fits(e, (uint64_t)len + HEAD_MAX)) {
        return SEAM_EMSGSIZE;
    }
    int r = seam__buf_room(e->out, HEAD_MAX + len);
    if (r < 0) {
        return r;
    }
    e->out->len += head(len, e->out->data + e->out->len, HEAD_MAX);
    if (len > 0) {
        memcpy(e->out->data + e->out->len, bytes, len);
        e->out->len += len;
    }
    return 0;
}

/* The index of fd among the frame's descriptors, added if new while
 * there are fewer than max; -1 when it does not fit. */
static long fd_index(encoder *e, int fd, size_t max)
{
    size_t at = 0;
    while (at < e->nfds && e->fds[at] != fd) {
        at++;
    }
    if (at == e->nfds) {
        if (e->nfds >= max) {
            return -1;
        }
        e->fds[e->nfds++] = fd;
    }
    return (long)at;
}

/* Data in a sealed memfd as the memfd tag on [index, length]: 0, 1 when
 * the frame has no descriptor left for it (its bytes are copied
 * instead), or a negative code. */
static int put_memfd(encoder *e, const seam_value *v)
{
    size_t max = e->memfd->max_fds < e->max_fds ? e->memfd->max_fds : e->max_fds;
    long at = fd_index(e, seam__value_memfd(v), max);
    if (at < 0) {
        return 1;
    }
    int r = put_tag(e, TAG_MEMFD);
    if (r == 0) {
        r = put_head(e, cbor_encode_array_start, 2);
    }
    if (r == 0) {
        r = put_uint(e, (uint64_t)at);
    }
    return r < 0 ? r : put_uint(e, v->as.blob.len);
}

static int encode_value(encoder *e, const seam_value *v, uint32_t depth)
{
    int r = 0;
    switch (v->type) {
    case SEAM_TYPE_NULL:
        r = seam__buf_room(e->out, 1);
        if (r == 0) {
            e->out->data[e->out->len++] = 0xF6;
        }
        return r;
    case SEAM_TYPE_BOOL:
        r = seam__buf_room(e->out, 1);
        if (r == 0) {
            e->out->data[e->out->len++] = v->as.b ? 0xF5 : 0xF4;
        }
        return r;
    case SEAM_TYPE_INT64:
        if (v->as.i >= 0) {
            return put_uint(e, (uint64_t)v->as.i);
        }
        r = seam__buf_room(e->out, HEAD_MAX);
        if (r == 0) {
            uint64_t n = (uint64_t)(-(v->as.i + 1));
            e->out->len += cbor_encode_negint(n, e->out->data + e->out->len, HEAD_MAX);
        }
        return r;
    case SEAM_TYPE_UINT64:
        return put_uint(e, v->as.u);
    case SEAM_TYPE_DOUBLE:
        return put_double(e, v->as.d);
    case SEAM_TYPE_DATE:
        r = put_tag(e, TAG_DATE);
        return r < 0 ? r : put_double(e, v->as.d);
    case SEAM_TYPE_STRING:
        return put_bytes(e, cbor_encode_string_start, v->as.blob.bytes, v->as.blob.len);
    case SEAM_TYPE_DATA:
        if (v->as.blob.memfd != NULL && e->memfd != NULL && e->fds != NULL &&
            v->as.blob.len >= e->memfd->min) {
            int handed = put_memfd(e, v);
            if (handed != 1) {
                return handed;
            }
        }
        if (e->gather != NULL && v->as.blob.len >= e->gather_min) {
            if (!fits(e, (uint64_t)v->as.blob.len + HEAD_MAX)) {
                return SEAM_EMSGSIZE;
            }
            r = put_head(e, cbor_encode_bytestring_start, v->as.blob.len);
            e->gathered += v->as.blob.len;
            return r < 0 ? r : e->gather(e->gather_ctx, v);
        }
        return put_bytes(e, cbor_encode_bytestring_start, v->as.blob.bytes, v->as.blob.len);
    case SEAM_TYPE_UUID:
        r = put_tag(e, TAG_UUID);
        return r < 0 ? r : put_bytes(e, cbor_encode_bytestring_start, v->as.uuid, 16);
    case SEAM_TYPE_FD: {
        if (e->fds == NULL) {
            return SEAM_EFD;
        }
        /* A descriptor the value holds twice travels once. */
        long at = fd_index(e, v->as.fd, e->max_fds);
        if (at < 0) {
            return SEAM_EFRAMEFDS;
        }
        r = put_tag(e, TAG_FD);
        return r < 0 ? r : put_uint(e, (uint64_t)at);
    }
    case SEAM_TYPE_ARRAY:
        if (depth >= DEFAULT_MAX_DEPTH) {
            return SEAM_EDEPTH;
        }
        r = put_head(e, cbor_encode_array_start, v->as.array.count);
        for (size_t i = 0; r == 0 && i < v->as.array.count; i++) {
            r = encode_value(e, v->as.array.items[i], depth + 1);
        }
        return r;
    case SEAM_TYPE_DICT:
        if (depth >= DEFAULT_MAX_DEPTH) {
            return SEAM_EDEPTH;
        }
        r = put_head(e, cbor_encode_map_start, v->as.dict.count);
        for (size_t i = 0; r == 0 && i < v->as.dict.count; i++) {
            const seam__dict_entry *en = &v->as.dict.entries[i];
            r = put_bytes(e, cbor_encode_string_start, en->key, en->key_len);
            if (r == 0) {
                r = encode_value(e, en->value, depth + 1);
            }
        }
        return r;
    }
    return SEAM_EINVAL;
}

int seam__encode(const seam_value *v, seam__buf *out, int *fds, size_t max_fds, size_t *nfds)
{
    return seam__encode_gather(v, out, fds, max_fds, nfds, NULL, NULL, 0, NULL, 0);
}

int seam__encode_gather(const seam_value *v, seam__buf *out, int *fds, size_t max_fds, size_t *nfds,
                        seam__gather_fn gather, void *ctx, size_t gather_min,
                        const seam__enc_memfd *mf, uint64_t max_len)
{
    if (v == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    size_t start = out->len;
    encoder e = {out,     fds,   max_fds,    0,
                 gather,  ctx,   gather_min, mf != NULL && mf->min > 0 ? mf : NULL,
                 max_len, start, 0};
    int r = encode_value(&e, v, 0);
    if (r < 0) {
        out->len = start;
        return r;
    }
    if (nfds != NULL) {
        *nfds = e.nfds;
    }
    return 0;
}

int seam_value_encode(const seam_value *v, uint8_t **bytes, size_t *len)
{
    if (v == NULL || bytes == NULL || len == NULL) {
        return SEAM_EINVAL;
    }
    seam__buf b = {0};
    int r = seam__encode(v, &b, NULL, 0, NULL);
    if (r < 0) {
        seam__buf_free(&b);
        return r;
    }
    *bytes = b.data;
    *len = b.len;
    return 0;
}
