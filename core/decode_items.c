/* SPDX-License-Identifier: MIT */
/* decode_items.c - what each CBOR item becomes while decoding: libcbor's
 * callbacks, the checks on each kind of item (tags, keys, UTF-8, ranges)
 * and the values made for them, from the input's arena while it has room. */
#include "decode.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>

/* A new value for the input: from the arena while it has room. */
seam_value *seam__dec_make(decoder *d, seam_type type)
{
    seam_value *v = seam__arena_value(d->arena, type);
    if (v == NULL) {
        d->arena_short = true;
    }
    return v;
}

static seam_value *make_int64(decoder *d, int64_t i)
{
    if (d->arena == NULL || (i >= -24 && i <= 23)) {
        return seam_value_new_int64(i); /* shared, allocates nothing */
    }
    seam_value *v = seam__dec_make(d, SEAM_TYPE_INT64);
    if (v != NULL) {
        v->as.i = i;
    }
    return v;
}

static seam_value *make_uint64(decoder *d, uint64_t u)
{
    if (d->arena == NULL) {
        return seam_value_new_uint64(u);
    }
    seam_value *v = seam__dec_make(d, SEAM_TYPE_UINT64);
    if (v != NULL) {
        v->as.u = u;
    }
    return v;
}

/* Doubles and dates, finite or not: the caller checked a date's. */
static seam_value *make_double(decoder *d, seam_type type, double x)
{
    if (d->arena == NULL) {
        return type == SEAM_TYPE_DATE ? seam_value_new_date(x) : seam_value_new_double(x);
    }
    seam_value *v = seam__dec_make(d, type);
    if (v != NULL) {
        v->as.d = x;
    }
    return v;
}

static seam_value *make_uuid(decoder *d, const uint8_t *bytes)
{
    if (d->arena == NULL) {
        return seam_value_new_uuid(bytes);
    }
    seam_value *v = seam__dec_make(d, SEAM_TYPE_UUID);
    if (v != NULL) {
        memcpy(v->as.uuid, bytes, 16);
    }
    return v;
}

/* Strings (validated by the caller) and data: their bytes are copied into
 * the arena, NUL-terminated, next to the value. */
static seam_value *make_blob(decoder *d, seam_type type, const uint8_t *bytes, size_t len)
{
    if (d->arena == NULL || len == 0) {
        return type == SEAM_TYPE_STRING ? seam_value_new_string_len((const char *)bytes, len)
                                        : seam_value_new_data(bytes, len);
    }
    uint8_t *copy = seam__arena_alloc(d->arena, len + 1);
    seam_value *v = copy != NULL ? seam__dec_make(d, type) : NULL;
    if (v == NULL) {
        d->arena_short = true;
        return NULL;
    }
    memcpy(copy, bytes, len);
    copy[len] = 0;
    v->as.blob.bytes = copy;
    v->as.blob.len = len;
    return v;
}

/* The memfd tag's [index, length], once both are read: one data value
 * per descriptor, however often the payload names it. */
static void finish_memfd(decoder *d, uint64_t len)
{
    seam_value *have = d->fd_values[d->memfd_index];
    if (have != NULL && have->type != SEAM_TYPE_DATA) {
        seam__dec_fail(d, SEAM_ETAG); /* the fd tag named it already */
        return;
    }
    if (have != NULL) {
        if (have->as.blob.len != len) {
            seam__dec_fail(d, SEAM_EMEMFD);
            return;
        }
        seam__dec_emit(d, seam_value_ref(have));
        return;
    }
    int err = 0;
    have = seam__value_from_memfd(d->fds[d->memfd_index], len, d->mf, &err);
    if (have == NULL) {
        seam__dec_fail(d, err);
        return;
    }
    d->fd_values[d->memfd_index] = have;
    seam__dec_emit(d, seam_value_ref(have));
}

/* An integer inside the memfd tag's array: not an item of its own (the
 * tag and its content are one). */
static void on_memfd_part(decoder *d, uint64_t u, bool negative)
{
    if (d->err != 0) {
        return;
    }
    if (negative) {
        seam__dec_fail(d, SEAM_ETAG);
        return;
    }
    if (d->memfd_part == 1) {
        if (u >= d->nfds) {
            seam__dec_fail(d, SEAM_EFDINDEX);
            return;
        }
        d->memfd_index = u;
        d->memfd_part = 2;
        return;
    }
    d->memfd_part = 0;
    finish_memfd(d, u);
}

static void on_integer(decoder *d, uint64_t u, bool negative)
{
    if (d->memfd_part != 0) {
        on_memfd_part(d, u, negative);
        return;
    }
    /* A date takes any integer, a descriptor index only an unsigned one. */
    uint64_t want = d->tagged ? d->tag : 0;
    if (want != TAG_DATE && (want != TAG_FD || negative)) {
        want = 0;
    }
    if (!seam__dec_begin_item(d, false, want)) {
        return;
    }
    if (d->tagged && d->tag == TAG_DATE) {
        seam__dec_finish_tag(d);
        double s = negative ? -1.0 - (double)u : (double)u;
        seam__dec_emit(d, make_double(d, SEAM_TYPE_DATE, s));
        return;
    }
    if (d->tagged && d->tag == TAG_FD) {
        seam__dec_finish_tag(d);
        if (u >= d->nfds) {
            seam__dec_fail(d, SEAM_EFDINDEX);
            return;
        }
        if (d->fd_values[u] != NULL && d->fd_values[u]->type != SEAM_TYPE_FD) {
            seam__dec_fail(d, SEAM_ETAG); /* the memfd tag named it already */
            return;
        }
        if (d->fd_values[u] == NULL) {
            int fd = fcntl(d->fds[u], F_DUPFD_CLOEXEC, 0);
            if (fd < 0) {
                seam__dec_fail(d, -errno);
                return;
            }
            d->fd_values[u] = seam__value_new_fd_owned(fd);
            if (d->fd_values[u] == NULL) {
                seam__dec_fail(d, SEAM_ENOMEM);
                return;
            }
        }
        seam__dec_emit(d, seam_value_ref(d->fd_values[u]));
        return;
    }
    if (negative) {
        if (u > (uint64_t)INT64_MAX) {
            seam__dec_fail(d, SEAM_ERANGE);
            return;
        }
        seam__dec_emit(d, make_int64(d, -(int64_t)u - 1));
    } else if (u <= (uint64_t)INT64_MAX) {
        seam__dec_emit(d, make_int64(d, (int64_t)u));
    } else {
        seam__dec_emit(d, make_uint64(d, u));
    }
}

static void cb_uint8(void *ctx, uint8_t v)
{
    on_integer(ctx, v, false);
}

static void cb_uint16(void *ctx, uint16_t v)
{
    on_integer(ctx, v, false);
}

static void cb_uint32(void *ctx, uint32_t v)
{
    on_integer(ctx, v, false);
}

static void cb_uint64(void *ctx, uint64_t v)
{
    on_integer(ctx, v, false);
}

static void cb_negint8(void *ctx, uint8_t v)
{
    on_integer(ctx, v, true);
}

static void cb_negint16(void *ctx, uint16_t v)
{
    on_integer(ctx, v, true);
}

static void cb_negint32(void *ctx, uint32_t v)
{
    on_integer(ctx, v, true);
}

static void cb_negint64(void *ctx, uint64_t v)
{
    on_integer(ctx, v, true);
}

static void on_float(decoder *d, double v)
{
    if (!seam__dec_begin_item(d, false, d->tagged && d->tag == TAG_DATE ? TAG_DATE : 0)) {
        return;
    }
    if (d->tagged) {
        seam__dec_finish_tag(d);
        if (!isfinite(v)) {
            seam__dec_fail(d, SEAM_ETAG);
            return;
        }
        seam__dec_emit(d, make_double(d, SEAM_TYPE_DATE, v));
        return;
    }
    seam__dec_emit(d, make_double(d, SEAM_TYPE_DOUBLE, v));
}

static void cb_float2(void *ctx, float v)
{
    on_float(ctx, v);
}

static void cb_float4(void *ctx, float v)
{
    on_float(ctx, v);
}

static void cb_float8(void *ctx, double v)
{
    on_float(ctx, v);
}

static void cb_bytes(void *ctx, cbor_data data, size_t len)
{
    decoder *d = ctx;
    if (!seam__dec_begin_item(d, false, d->tagged && d->tag == TAG_UUID ? TAG_UUID : 0)) {
        return;
    }
    if (len > d->lim.max_string) {
        seam__dec_fail(d, SEAM_ETOOLONG);
        return;
    }
    if (d->tagged) {
        seam__dec_finish_tag(d);
        if (len != 16) {
            seam__dec_fail(d, SEAM_ETAG);
            return;
        }
        seam__dec_emit(d, make_uuid(d, data));
        return;
    }
    seam__dec_emit(d, make_blob(d, SEAM_TYPE_DATA, data, len));
}

static void cb_string(void *ctx, cbor_data data, size_t len)
{
    decoder *d = ctx;
    if (!seam__dec_begin_item(d, true, 0)) {
        return;
    }
    if (len > d->lim.max_string) {
        seam__dec_fail(d, SEAM_ETOOLONG);
        return;
    }
    bool key = seam__dec_expecting_key(d);
    if (key && len < SEAM__SHORT_KEY) {
        /* Short ASCII keys, the common case, in one pass for both checks. */
        uint8_t any = 0;
        bool nul = false;
        for (size_t i = 0; i < len; i++) {
            any |= data[i];
            nul |= data[i] == 0;
        }
        if (any >= 0x80 && !seam__utf8_valid(data, len)) {
            seam__dec_fail(d, SEAM_EUTF8);
            return;
        }
        if (nul) {
            seam__dec_fail(d, SEAM_EKEY);
            return;
        }
    } else if (!seam__utf8_valid(data, len)) {
        seam__dec_fail(d, SEAM_EUTF8);
        return;
    } else if (key && memchr(data, 0, len) != NULL) {
        seam__dec_fail(d, SEAM_EKEY);
        return;
    }
    if (key) {
        /* The input outlives the decode: the dictionary copies the key
         * when its value arrives. */
        frame *f = &d->stack[d->depth - 1];
        if (seam__dict_has(f->container, (const char *)data, len)) {
            seam__dec_fail(d, SEAM_EDUPKEY);
            return;
        }
        f->key = (const char *)data;
        f->key_len = len;
        /* A key is not a value of its own: undo its count. */
        d->items--;
        f->remaining--;
        d->owed--;
        return;
    }
    seam__dec_emit(d, make_blob(d, SEAM_TYPE_STRING, data, len));
}

static void cb_array_start(void *ctx, size_t size)
{
    decoder *d = ctx;
    if (d->tagged && d->tag == TAG_MEMFD && d->memfd_part == 0) {
        if (seam__dec_begin_item(d, false, TAG_MEMFD)) {
            seam__dec_finish_tag(d);
            if (size != 2) {
                seam__dec_fail(d, SEAM_ETAG);
                return;
            }
            d->memfd_part = 1;
        }
        return;
    }
    if (seam__dec_begin_item(d, false, 0)) {
        seam__dec_open_container(d, SEAM_TYPE_ARRAY, size);
    }
}

static void cb_map_start(void *ctx, size_t size)
{
    decoder *d = ctx;
    if (seam__dec_begin_item(d, false, 0)) {
        seam__dec_open_container(d, SEAM_TYPE_DICT, size);
    }
}

void seam__dec_tag(void *ctx, uint64_t tag)
{
    decoder *d = ctx;
    if (d->err != 0) {
        return;
    }
    if (seam__dec_expecting_key(d)) {
        seam__dec_fail(d, SEAM_EKEY);
        return;
    }
    if (d->tagged || d->memfd_part != 0 ||
        (tag != TAG_DATE && tag != TAG_UUID && tag != TAG_FD &&
         (tag != TAG_MEMFD || d->mf == NULL))) {
        seam__dec_fail(d, SEAM_ETAG);
        return;
    }
    d->tagged = true;
    d->tag = tag;
}

static void cb_indef(void *ctx)
{
    seam__dec_fail(ctx, SEAM_EINDEF);
}

/* Every indefinite item is refused at its start, so a break is stray. */
static void cb_break(void *ctx)
{
    seam__dec_fail(ctx, SEAM_EMALFORMED);
}

static void cb_null(void *ctx)
{
    decoder *d = ctx;
    if (seam__dec_begin_item(d, false, 0)) {
        seam__dec_emit(d, seam_value_new_null());
    }
}

static void cb_bool(void *ctx, bool b)
{
    decoder *d = ctx;
    if (seam__dec_begin_item(d, false, 0)) {
        seam__dec_emit(d, seam_value_new_bool(b));
    }
}

static void cb_undefined(void *ctx)
{
    seam__dec_fail(ctx, SEAM_ESIMPLE);
}

const struct cbor_callbacks seam__dec_callbacks = {
    .uint8 = cb_uint8,
    .uint16 = cb_uint16,
    .uint32 = cb_uint32,
    .uint64 = cb_uint64,
    .negint8 = cb_negint8,
    .negint16 = cb_negint16,
    .negint32 = cb_negint32,
    .negint64 = cb_negint64,
    .byte_string_start = cb_indef,
    .byte_string = cb_bytes,
    .string = cb_string,
    .string_start = cb_indef,
    .indef_array_start = cb_indef,
    .array_start = cb_array_start,
    .indef_map_start = cb_indef,
    .map_start = cb_map_start,
    .tag = seam__dec_tag,
    .float2 = cb_float2,
    .float4 = cb_float4,
    .float8 = cb_float8,
    .undefined = cb_undefined,
    .null = cb_null,
    .boolean = cb_bool,
    .indef_break = cb_break,
};
