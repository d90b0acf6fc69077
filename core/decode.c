/* SPDX-License-Identifier: MIT */
/* decode.c - CBOR to values, with libcbor's streaming decoder: the decoder's
 * state, its limits, the open containers and the run over the input. What
 * each item becomes is decode_items.c. Decoding is strict and bounded:
 * nothing is allocated for a length before that length is checked against
 * the bytes present. The values of one input go into one arena (arena.c)
 * sized from it before decoding. */
#include "decode.h"

#include <stdlib.h>
#include <string.h>

void seam__dec_fail(decoder *d, int err)
{
    if (d->err == 0) {
        d->err = err;
    }
}

static bool count_item(decoder *d)
{
    if (++d->items > d->lim.max_items) {
        seam__dec_fail(d, SEAM_ECOUNT);
        return false;
    }
    return true;
}

/* Places a finished value into the innermost container (or as the root),
 * then pops every container that this completes. */
void seam__dec_emit(decoder *d, seam_value *v)
{
    if (v == NULL) {
        seam__dec_fail(d, SEAM_ENOMEM);
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
        seam__dec_fail(d, r);
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
            seam__dec_fail(d, r);
            return;
        }
        parent->remaining--;
        d->owed--;
    }
}

bool seam__dec_expecting_key(const decoder *d)
{
    const frame *f = d->depth > 0 ? &d->stack[d->depth - 1] : NULL;
    return f != NULL && f->container->type == SEAM_TYPE_DICT && f->key == NULL;
}

/* Common entry for every item: refuses non-string keys and items that a
 * pending tag does not accept. allowed_under_tag names the tag (or 0). */
bool seam__dec_begin_item(decoder *d, bool is_text, uint64_t tag_accepting)
{
    if (d->err != 0) {
        return false;
    }
    if (d->memfd_part != 0) {
        seam__dec_fail(d, SEAM_ETAG); /* the memfd tag's array holds two integers */
        return false;
    }
    if (seam__dec_expecting_key(d) && !is_text) {
        seam__dec_fail(d, SEAM_EKEY);
        return false;
    }
    if (d->tagged && d->tag != tag_accepting) {
        seam__dec_fail(d, SEAM_ETAG);
        return false;
    }
    return count_item(d);
}

void seam__dec_finish_tag(decoder *d)
{
    d->tagged = false;
    d->tag = 0;
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
void seam__dec_open_container(decoder *d, seam_type type, uint64_t count)
{
    if (d->depth >= d->lim.max_depth) {
        seam__dec_fail(d, SEAM_EDEPTH);
        return;
    }
    bool dict = type == SEAM_TYPE_DICT;
    uint64_t left = (uint64_t)(d->end - d->next) - head_size(*d->next);
    /* Each open container has one item under way (this one, or the one
     * holding it): those are not owed by bytes still to come. */
    uint64_t owed = d->owed - d->depth;
    if ((dict && count > UINT64_MAX / 2) || (dict ? count * 2 : count) > left ||
        owed > left - (dict ? count * 2 : count)) {
        seam__dec_fail(d, SEAM_ETRUNCATED);
        return;
    }
    if (count > d->lim.max_items - d->items) {
        seam__dec_fail(d, SEAM_ECOUNT);
        return;
    }
    seam_value *c = d->arena != NULL ? seam__dec_make(d, type)
                    : dict           ? seam_value_new_dict()
                                     : seam_value_new_array();
    if (c == NULL) {
        seam__dec_fail(d, SEAM_ENOMEM);
        return;
    }
    if (count == 0) {
        seam__dec_emit(d, c);
        return;
    }
    /* An arena's value goes with its arena, whatever happens to it. */
    seam_value *own = d->arena != NULL ? NULL : c;
    if (d->depth == d->stack_cap && !stack_grow(d)) {
        seam_value_unref(own);
        seam__dec_fail(d, SEAM_ENOMEM);
        return;
    }
    void *room = NULL;
    if (d->arena != NULL) {
        room = seam__arena_alloc(
            d->arena, (size_t)count * (dict ? sizeof(seam__dict_entry) : sizeof(seam_value *)));
        if (room == NULL) {
            d->arena_short = true;
            seam__dec_fail(d, SEAM_ENOMEM);
            return;
        }
    }
    if (dict) {
        c->as.dict.entries = room;
        c->as.dict.cap = room != NULL ? (uint32_t)count : 0;
        if (seam__dict_reserve(c, (size_t)count) < 0) {
            seam_value_unref(own);
            seam__dec_fail(d, SEAM_ENOMEM);
            return;
        }
        count *= 2; /* a key and a value each */
    } else {
        c->as.array.items = room != NULL ? room : malloc((size_t)count * sizeof(seam_value *));
        if (c->as.array.items == NULL) {
            seam_value_unref(own);
            seam__dec_fail(d, SEAM_ENOMEM);
            return;
        }
        c->as.array.cap = (size_t)count;
    }
    d->stack[d->depth++] = (frame){c, count, NULL, 0};
    d->owed += count;
}

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
            seam__dec_fail(d, SEAM_ETRUNCATED);
            break;
        }
        d->next = bytes + off;
        struct cbor_decoder_result res =
            cbor_stream_decode(bytes + off, len - off, &seam__dec_callbacks, d);
        if (d->err != 0) {
            break;
        }
        if (res.status == CBOR_DECODER_NEDATA) {
            seam__dec_fail(d, SEAM_ETRUNCATED);
        } else if (res.status != CBOR_DECODER_FINISHED && bytes[off] >= 0xC6 &&
                   bytes[off] <= 0xD4) {
            /* libcbor refuses tags 6-20 in their one-byte form as errors, but
             * they are well-formed: refuse them like any other unknown tag. */
            seam__dec_tag(d, bytes[off] - 0xC0u);
        } else if (res.status != CBOR_DECODER_FINISHED) {
            seam__dec_fail(d, classify_error(bytes[off]));
        } else {
            off += res.read;
        }
    }
    if (d->err == 0 && off != len) {
        seam__dec_fail(d, SEAM_ETRAILING);
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

static void decoder_init(decoder *d, const seam_decode_limits *limits, const int *fds, size_t nfds,
                         const seam__dec_memfd *mf)
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
    d->mf = mf;
}

int seam__decode(const uint8_t *bytes, size_t len, const seam_decode_limits *limits, const int *fds,
                 size_t nfds, seam_value **out)
{
    return seam__decode_memfd(bytes, len, limits, fds, nfds, NULL, out);
}

int seam__decode_memfd(const uint8_t *bytes, size_t len, const seam_decode_limits *limits,
                       const int *fds, size_t nfds, const seam__dec_memfd *mf, seam_value **out)
{
    if ((bytes == NULL && len > 0) || out == NULL) {
        return SEAM_EINVAL;
    }
    decoder d;
    decoder_init(&d, limits, fds, nfds, mf);
    size_t values = 0;
    size_t rest = 0;
    if (seam__arena_estimate(bytes, len, d.lim.max_items, &values, &rest)) {
        d.arena = seam__arena_new(values, rest);
    }
    int r = decode_run(&d, bytes, len, out);
    if (r < 0 && d.arena_short) {
        /* The estimate is an upper bound, so this is only a safety net:
         * values on their own never run short. */
        decoder_init(&d, limits, fds, nfds, mf);
        r = decode_run(&d, bytes, len, out);
    }
    return r;
}

int seam_value_decode(const uint8_t *bytes, size_t len, const seam_decode_limits *limits,
                      seam_value **out)
{
    return seam__decode(bytes, len, limits, NULL, 0, out);
}
