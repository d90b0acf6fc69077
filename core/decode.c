/* SPDX-License-Identifier: MIT */
/* decode.c - CBOR to values, with libcbor's streaming decoder. Decoding is
 * strict and bounded: nothing is allocated for a length before that length
 * is checked against the bytes present. The values of one input go into one
 * arena (arena.c) sized from it before decoding. */
#include "internal.h"

#include <cbor.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_DATE 1u
#define TAG_UUID 37u
#define TAG_FD   0x7365616Du /* the ASCII bytes "seam": an unregistered tag, see protocol.md */

#define DEFAULT_MAX_DEPTH  64u
#define DEFAULT_MAX_ITEMS  (1u << 20)
#define DEFAULT_MAX_STRING (16u << 20)
#define MAX_DEPTH_CEILING  1024u

typedef struct frame {
    seam_value *container;
    uint64_t remaining; /* items (arrays) or keys+values (dicts) still due */
    const char *key;    /* dict: the key waiting for its value (in the input) */
    size_t key_len;
} frame;

/* Frames carry at most 64 descriptors; more are looked after on the heap. */
#define INLINE_FDS 64

typedef struct decoder {
    seam_decode_limits lim;
    const uint8_t *end;  /* end of input */
    const uint8_t *next; /* start of the item being decoded */
    const int *fds;
    size_t nfds;
    /* One value per passed descriptor, made on its first reference and
     * shared by every later one: a value referencing one descriptor a
     * thousand times costs one duplicate. */
    seam_value **fd_values;
    /* Items the open containers still owe (the sum of their remaining
     * counts): each needs a byte of its own, so a new container's count
     * plus these must fit in the bytes left. */
    uint64_t owed;
    frame *stack; /* inline_stack until deeper nesting needs more */
    uint32_t stack_cap;
    uint32_t depth;
    uint64_t items;
    uint64_t tag; /* pending tag, 0 = none (tag 0 itself is refused) */
    bool tagged;
    seam_value *root;
    seam__arena *arena; /* where the values go; NULL: each on its own */
    bool arena_short;   /* the arena ran out of room: decode again without */
    int err;
    /* Last, and not cleared on entry: only what is used is written. */
    frame inline_stack[16];
    seam_value *inline_fd_values[INLINE_FDS];
} decoder;

static void fail(decoder *d, int err)
{
    if (d->err == 0) {
        d->err = err;
    }
}

static bool count_item(decoder *d)
{
    if (++d->items > d->lim.max_items) {
        fail(d, SEAM_ECOUNT);
        return false;
    }
    return true;
}

/* Places a finished value into the innermost container (or as the root),
 * then pops every container that this completes. */
static void emit(decoder *d, seam_value *v)
{
    if (v == NULL) {
        fail(d, SEAM_ENOMEM);
        return;
    }
    if (d->depth == 0) {
        d->root = v;
        return;
    }
    frame *f = &d->stack[d->depth - 1];
    int r = 0;
    if (f->container->type == SEAM_TYPE_ARRAY) {
        /* Room for every item was made when the array opened. */
        f->container->as.array.items[f->container->as.array.count++] = v;
    } else {
        r = seam__dict_add(f->container, f->key, f->key_len, v);
        f->key = NULL;
    }
    if (r < 0) {
        fail(d, r);
        return;
    }
    f->remaining--;
    d->owed--;
    while (d->depth > 0 && d->stack[d->depth - 1].remaining == 0) {
        seam_value *done = d->stack[--d->depth].container;
        if (d->depth == 0) {
            d->root = done;
            return;
        }
        frame *parent = &d->stack[d->depth - 1];
        if (parent->container->type == SEAM_TYPE_ARRAY) {
            parent->container->as.array.items[parent->container->as.array.count++] = done;
        } else {
            r = seam__dict_add(parent->container, parent->key, parent->key_len, done);
            parent->key = NULL;
        }
        if (r < 0) {
            fail(d, r);
            return;
        }
        parent->remaining--;
        d->owed--;
    }
}

/* A new value for the input: from the arena while it has room. */
static seam_value *make(decoder *d, seam_type type)
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
    seam_value *v = make(d, SEAM_TYPE_INT64);
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
    seam_value *v = make(d, SEAM_TYPE_UINT64);
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
    seam_value *v = make(d, type);
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
    seam_value *v = make(d, SEAM_TYPE_UUID);
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
    seam_value *v = copy != NULL ? make(d, type) : NULL;
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

static bool expecting_key(const decoder *d)
{
    const frame *f = d->depth > 0 ? &d->stack[d->depth - 1] : NULL;
    return f != NULL && f->container->type == SEAM_TYPE_DICT && f->key == NULL;
}

/* Common entry for every item: refuses non-string keys and items that a
 * pending tag does not accept. allowed_under_tag names the tag (or 0). */
static bool begin_item(decoder *d, bool is_text, uint64_t tag_accepting)
{
    if (d->err != 0) {
        return false;
    }
    if (expecting_key(d) && !is_text) {
        fail(d, SEAM_EKEY);
        return false;
    }
    if (d->tagged && d->tag != tag_accepting) {
        fail(d, SEAM_ETAG);
        return false;
    }
    return count_item(d);
}

static void finish_tag(decoder *d)
{
    d->tagged = false;
    d->tag = 0;
}

static void on_integer(decoder *d, uint64_t u, bool negative)
{
    /* A date takes any integer, a descriptor index only an unsigned one. */
    uint64_t want = d->tagged ? d->tag : 0;
    if (want != TAG_DATE && (want != TAG_FD || negative)) {
        want = 0;
    }
    if (!begin_item(d, false, want)) {
        return;
    }
    if (d->tagged && d->tag == TAG_DATE) {
        finish_tag(d);
        double s = negative ? -1.0 - (double)u : (double)u;
        emit(d, make_double(d, SEAM_TYPE_DATE, s));
        return;
    }
    if (d->tagged && d->tag == TAG_FD) {
        finish_tag(d);
        if (u >= d->nfds) {
            fail(d, SEAM_EFDINDEX);
            return;
        }
        if (d->fd_values[u] == NULL) {
            int fd = fcntl(d->fds[u], F_DUPFD_CLOEXEC, 0);
            if (fd < 0) {
                fail(d, -errno);
                return;
            }
            d->fd_values[u] = seam__value_new_fd_owned(fd);
            if (d->fd_values[u] == NULL) {
                fail(d, SEAM_ENOMEM);
                return;
            }
        }
        emit(d, seam_value_ref(d->fd_values[u]));
        return;
    }
    if (negative) {
        if (u > (uint64_t)INT64_MAX) {
            fail(d, SEAM_ERANGE);
            return;
        }
        emit(d, make_int64(d, -(int64_t)u - 1));
    } else if (u <= (uint64_t)INT64_MAX) {
        emit(d, make_int64(d, (int64_t)u));
    } else {
        emit(d, make_uint64(d, u));
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
    if (!begin_item(d, false, d->tagged && d->tag == TAG_DATE ? TAG_DATE : 0)) {
        return;
    }
    if (d->tagged) {
        finish_tag(d);
        if (!isfinite(v)) {
            fail(d, SEAM_ETAG);
            return;
        }
        emit(d, make_double(d, SEAM_TYPE_DATE, v));
        return;
    }
    emit(d, make_double(d, SEAM_TYPE_DOUBLE, v));
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
    if (!begin_item(d, false, d->tagged && d->tag == TAG_UUID ? TAG_UUID : 0)) {
        return;
    }
    if (len > d->lim.max_string) {
        fail(d, SEAM_ETOOLONG);
        return;
    }
    if (d->tagged) {
        finish_tag(d);
        if (len != 16) {
            fail(d, SEAM_ETAG);
            return;
        }
        emit(d, make_uuid(d, data));
        return;
    }
    emit(d, make_blob(d, SEAM_TYPE_DATA, data, len));
}

static void cb_string(void *ctx, cbor_data data, size_t len)
{
    decoder *d = ctx;
    if (!begin_item(d, true, 0)) {
        return;
    }
    if (len > d->lim.max_string) {
        fail(d, SEAM_ETOOLONG);
        return;
    }
    bool key = expecting_key(d);
    if (key && len < SEAM__SHORT_KEY) {
        /* Short ASCII keys, the common case, in one pass for both checks. */
        uint8_t any = 0;
        bool nul = false;
        for (size_t i = 0; i < len; i++) {
            any |= data[i];
            nul |= data[i] == 0;
        }
        if (any >= 0x80 && !seam__utf8_valid(data, len)) {
            fail(d, SEAM_EUTF8);
            return;
        }
        if (nul) {
            fail(d, SEAM_EKEY);
            return;
        }
    } else if (!seam__utf8_valid(data, len)) {
        fail(d, SEAM_EUTF8);
        return;
    } else if (key && memchr(data, 0, len) != NULL) {
        fail(d, SEAM_EKEY);
        return;
    }
    if (key) {
        /* The input outlives the decode: the dictionary copies the key
         * when its value arrives. */
        frame *f = &d->stack[d->depth - 1];
        if (seam__dict_has(f->container, (const char *)data, len)) {
            fail(d, SEAM_EDUPKEY);
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
    emit(d, make_blob(d, SEAM_TYPE_STRING, data, len));
}

/* Most values nest a few levels: the stack starts inline and moves to the
 * heap only for deeper ones, up to the depth limit. */
static bool stack_grow(decoder *d)
{
    uint32_t cap = d->stack_cap * 2 < d->lim.max_depth ? d->stack_cap * 2 : d->lim.max_depth;
    frame *bigger = d->stack == d->inline_stack ? malloc(cap * sizeof(frame))
                                                : realloc(d->stack, cap * sizeof(frame));
    if (bigger == NULL) {
        return false;
    }
    if (d->stack == d->inline_stack) {
        memcpy(bigger, d->inline_stack, d->depth * sizeof(frame));
    }
    d->stack = bigger;
    d->stack_cap = cap;
    return true;
}

/* Bytes a head takes, from its initial byte (lengths only: 24-27). */
static uint64_t head_size(uint8_t initial)
{
    uint8_t info = initial & 0x1F;
    return info < 24 ? 1 : 1 + ((uint64_t)1 << (info - 24));
}

/* Opens an array of count items or a map of count entries. In this order:
 * the depth limit; the count against the bytes left (every item owed
 * takes at least one); the count against the item limit. Only then is
 * room reserved, for exactly the count: what the open containers reserve
 * never exceeds the input's size. */
static void open_container(decoder *d, seam_type type, uint64_t count)
{
    if (d->depth >= d->lim.max_depth) {
        fail(d, SEAM_EDEPTH);
        return;
    }
    bool dict = type == SEAM_TYPE_DICT;
    uint64_t left = (uint64_t)(d->end - d->next) - head_size(*d->next);
    /* Each open container has one item under way (this one, or the one
     * holding it): those are not owed by bytes still to come. */
    uint64_t owed = d->owed - d->depth;
    if ((dict && count > UINT64_MAX / 2) || (dict ? count * 2 : count) > left ||
        owed > left - (dict ? count * 2 : count)) {
        fail(d, SEAM_ETRUNCATED);
        return;
    }
    if (count > d->lim.max_items - d->items) {
        fail(d, SEAM_ECOUNT);
        return;
    }
    seam_value *c = d->arena != NULL ? make(d, type)
                    : dict           ? seam_value_new_dict()
                                     : seam_value_new_array();
    if (c == NULL) {
        fail(d, SEAM_ENOMEM);
        return;
    }
    if (count == 0) {
        emit(d, c);
        return;
    }
    /* An arena's value goes with its arena, whatever happens to it. */
    seam_value *own = d->arena != NULL ? NULL : c;
    if (d->depth == d->stack_cap && !stack_grow(d)) {
        seam_value_unref(own);
        fail(d, SEAM_ENOMEM);
        return;
    }
    void *room = NULL;
    if (d->arena != NULL) {
        room = seam__arena_alloc(
            d->arena, (size_t)count * (dict ? sizeof(seam__dict_entry) : sizeof(seam_value *)));
        if (room == NULL) {
            d->arena_short = true;
            fail(d, SEAM_ENOMEM);
            return;
        }
    }
    if (dict) {
        c->as.dict.entries = room;
        c->as.dict.cap = room != NULL ? (uint32_t)count : 0;
        if (seam__dict_reserve(c, (size_t)count) < 0) {
            seam_value_unref(own);
            fail(d, SEAM_ENOMEM);
            return;
        }
        count *= 2; /* a key and a value each */
    } else {
        c->as.array.items = room != NULL ? room : malloc((size_t)count * sizeof(seam_value *));
        if (c->as.array.items == NULL) {
            seam_value_unref(own);
            fail(d, SEAM_ENOMEM);
            return;
        }
        c->as.array.cap = (size_t)count;
    }
    d->stack[d->depth++] = (frame){c, count, NULL, 0};
    d->owed += count;
}

static void cb_array_start(void *ctx, size_t size)
{
    decoder *d = ctx;
    if (begin_item(d, false, 0)) {
        open_container(d, SEAM_TYPE_ARRAY, size);
    }
}

static void cb_map_start(void *ctx, size_t size)
{
    decoder *d = ctx;
    if (begin_item(d, false, 0)) {
        open_container(d, SEAM_TYPE_DICT, size);
    }
}

static void cb_tag(void *ctx, uint64_t tag)
{
    decoder *d = ctx;
    if (d->err != 0) {
        return;
    }
    if (expecting_key(d)) {
        fail(d, SEAM_EKEY);
        return;
    }
    if (d->tagged || (tag != TAG_DATE && tag != TAG_UUID && tag != TAG_FD)) {
        fail(d, SEAM_ETAG);
        return;
    }
    d->tagged = true;
    d->tag = tag;
}

static void cb_indef(void *ctx)
{
    fail(ctx, SEAM_EINDEF);
}

/* Every indefinite item is refused at its start, so a break is stray. */
static void cb_break(void *ctx)
{
    fail(ctx, SEAM_EMALFORMED);
}

static void cb_null(void *ctx)
{
    decoder *d = ctx;
    if (begin_item(d, false, 0)) {
        emit(d, seam_value_new_null());
    }
}

static void cb_bool(void *ctx, bool b)
{
    decoder *d = ctx;
    if (begin_item(d, false, 0)) {
        emit(d, seam_value_new_bool(b));
    }
}

static void cb_undefined(void *ctx)
{
    fail(ctx, SEAM_ESIMPLE);
}

static const struct cbor_callbacks callbacks = {
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
    .tag = cb_tag,
    .float2 = cb_float2,
    .float4 = cb_float4,
    .float8 = cb_float8,
    .undefined = cb_undefined,
    .null = cb_null,
    .boolean = cb_bool,
    .indef_break = cb_break,
};

static void decoder_cleanup(decoder *d)
{
    for (uint32_t i = d->depth; d->arena == NULL && i > 0; i--) {
        seam_value_unref(d->stack[i - 1].container);
    }
    d->depth = 0;
    if (d->stack != d->inline_stack) {
        free(d->stack);
    }
    for (size_t i = 0; d->fd_values != NULL && i < d->nfds; i++) {
        seam_value_unref(d->fd_values[i]);
    }
    if (d->fd_values != d->inline_fd_values) {
        free(d->fd_values);
    }
}

/* libcbor reports simple values it has no callback for (0xE0-0xF3, 0xF8)
 * as errors; tell them apart from other malformed input for a clear code. */
static int classify_error(uint8_t initial)
{
    if ((initial >= 0xE0 && initial <= 0xF3) || initial == 0xF8) {
        return SEAM_ESIMPLE;
    }
    return SEAM_EMALFORMED;
}

/* One decode of the input, into d->arena if there is one. Returns 0 and
 * the root, or the error; either way the decoder holds nothing after. */
static int decode_run(decoder *d, const uint8_t *bytes, size_t len, seam_value **out)
{
    d->end = bytes + len;
    d->stack = d->inline_stack;
    d->stack_cap = sizeof(d->inline_stack) / sizeof(d->inline_stack[0]);
    d->fd_values = d->inline_fd_values;
    if (d->nfds > INLINE_FDS) {
        d->fd_values = calloc(d->nfds, sizeof(seam_value *));
        if (d->fd_values == NULL) {
            return SEAM_ENOMEM;
        }
    } else {
        memset(d->inline_fd_values, 0, d->nfds * sizeof(seam_value *));
    }
    size_t off = 0;
    while (d->err == 0 && d->root == NULL) {
        if (off == len) {
            fail(d, SEAM_ETRUNCATED);
            break;
        }
        d->next = bytes + off;
        struct cbor_decoder_result res = cbor_stream_decode(bytes + off, len - off, &callbacks, d);
        if (d->err != 0) {
            break;
        }
        if (res.status == CBOR_DECODER_NEDATA) {
            fail(d, SEAM_ETRUNCATED);
        } else if (res.status != CBOR_DECODER_FINISHED && bytes[off] >= 0xC6 &&
                   bytes[off] <= 0xD4) {
            /* libcbor refuses tags 6-20 in their one-byte form as errors, but
             * they are well-formed: refuse them like any other unknown tag. */
            cb_tag(d, bytes[off] - 0xC0u);
        } else if (res.status != CBOR_DECODER_FINISHED) {
            fail(d, classify_error(bytes[off]));
        } else {
            off += res.read;
        }
    }
    if (d->err == 0 && off != len) {
        fail(d, SEAM_ETRAILING);
    }
    decoder_cleanup(d);
    bool in_arena = d->arena != NULL && seam__arena_of(d->root) == d->arena;
    if (d->err != 0) {
        if (!in_arena) {
            seam_value_unref(d->root);
        }
        if (d->arena != NULL) {
            seam__arena_discard(d->arena);
        }
        return d->err;
    }
    if (in_arena) {
        seam__arena_seal(d->arena); /* the root's reference is the arena's first */
    } else if (d->arena != NULL) {
        seam__arena_discard(d->arena); /* a shared value or a descriptor: nothing in it */
    }
    *out = d->root;
    return 0;
}

static void decoder_init(decoder *d, const seam_decode_limits *limits, const int *fds, size_t nfds)
{
    memset(d, 0, offsetof(decoder, inline_stack));
    if (limits != NULL) {
        d->lim = *limits;
    }
    if (d->lim.max_depth == 0) {
        d->lim.max_depth = DEFAULT_MAX_DEPTH;
    } else if (d->lim.max_depth > MAX_DEPTH_CEILING) {
        d->lim.max_depth = MAX_DEPTH_CEILING;
    }
    if (d->lim.max_items == 0) {
        d->lim.max_items = DEFAULT_MAX_ITEMS;
    }
    if (d->lim.max_string == 0) {
        d->lim.max_string = DEFAULT_MAX_STRING;
    }
    d->fds = fds;
    d->nfds = fds != NULL ? nfds : 0;
}

int seam__decode(const uint8_t *bytes, size_t len, const seam_decode_limits *limits, const int *fds,
                 size_t nfds, seam_value **out)
{
    if ((bytes == NULL && len > 0) || out == NULL) {
        return SEAM_EINVAL;
    }
    decoder d;
    decoder_init(&d, limits, fds, nfds);
    size_t values = 0;
    size_t rest = 0;
    if (seam__arena_estimate(bytes, len, d.lim.max_items, &values, &rest)) {
        d.arena = seam__arena_new(values, rest);
    }
    int r = decode_run(&d, bytes, len, out);
    if (r < 0 && d.arena_short) {
        /* The estimate is an upper bound, so this is only a safety net:
         * values on their own never run short. */
        decoder_init(&d, limits, fds, nfds);
        r = decode_run(&d, bytes, len, out);
    }
    return r;
}

int seam_value_decode(const uint8_t *bytes, size_t len, const seam_decode_limits *limits,
                      seam_value **out)
{
    return seam__decode(bytes, len, limits, NULL, 0, out);
}
