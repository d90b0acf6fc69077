/* SPDX-License-Identifier: MIT */
/* decode.h - what decode.c (the decoder's state and containers) and
 * decode_items.c (what each CBOR item becomes) share. Never installed. */
#ifndef SEAM_DECODE_H
#define SEAM_DECODE_H

#include "internal.h"

#include <cbor.h>

#define TAG_DATE  1u
#define TAG_UUID  37u
#define TAG_FD    0x7365616Du /* the ASCII bytes "seam": an unregistered tag, see protocol.md */
#define TAG_MEMFD 0x7365616Eu /* "sean": data in a sealed memfd, see protocol.md */

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
     * thousand times costs one duplicate. An fd value for the fd tag, a
     * data value for the memfd tag: one descriptor is never both. */
    seam_value **fd_values;
    const seam__dec_memfd *mf; /* NULL: the memfd tag is refused */
    /* Inside the memfd tag's [index, length]: 1 waiting for the index,
     * 2 for the length; 0 outside. */
    uint8_t memfd_part;
    uint64_t memfd_index;
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

/* Records the first error; later ones are ignored. */
void seam__dec_fail(decoder *d, int err);
/* Common entry for every item: refuses non-string keys and items that a
 * pending tag does not accept (tag_accepting names the tag, or 0), and
 * counts the item against max_items. False when the item must be skipped. */
bool seam__dec_begin_item(decoder *d, bool is_text, uint64_t tag_accepting);
void seam__dec_finish_tag(decoder *d);
/* Whether the innermost container is a dictionary waiting for a key. */
bool seam__dec_expecting_key(const decoder *d);
/* Places a finished value into the innermost container (or as the root);
 * NULL fails with SEAM_ENOMEM. */
void seam__dec_emit(decoder *d, seam_value *v);
/* Opens an array of count items or a map of count entries. */
void seam__dec_open_container(decoder *d, seam_type type, uint64_t count);
/* A tag head (also the one-byte tags 6-20 libcbor refuses); ctx is the
 * decoder, as for every libcbor callback. */
void seam__dec_tag(void *ctx, uint64_t tag);
/* A new value for the input: from its arena, NULL when that is full. */
seam_value *seam__dec_make(decoder *d, seam_type type);

extern const struct cbor_callbacks seam__dec_callbacks;

#endif /* SEAM_DECODE_H */
