/* SPDX-License-Identifier: MIT */
/* internal.h - definitions shared by the core's files; never installed. */
#ifndef SEAM_INTERNAL_H
#define SEAM_INTERNAL_H

#include "seam.h"

#include <stdatomic.h>
#include <stddef.h>

#define SEAM__UNUSED(x) ((void)(x))

/* A small growable byte buffer for building encodings and send queues. */
typedef struct seam__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} seam__buf;

int seam__buf_reserve(seam__buf *b, size_t extra);
/* seam__buf_reserve() with its common case inline: the room is there. */
static inline int seam__buf_room(seam__buf *b, size_t extra)
{
    return extra <= b->cap - b->len ? 0 : seam__buf_reserve(b, extra);
}
int seam__buf_append(seam__buf *b, const void *bytes, size_t len);
void seam__buf_free(seam__buf *b);

/* Whether name is a service name: 1 to 200 letters, digits and "._-",
 * not starting with ".". */
bool seam__name_valid(const char *name);

/* Strict UTF-8 check: no overlong forms, no surrogates, nothing past
 * U+10FFFF. */
bool seam__utf8_valid(const uint8_t *s, size_t len);

/* Keys shorter than this live inside their entry (most do): a dictionary
 * then costs one allocation for its entries, not one per key. */
#define SEAM__SHORT_KEY 16

typedef struct seam__dict_entry {
    char *key; /* short_key when key_len < SEAM__SHORT_KEY, else malloc'd */
    size_t key_len;
    uint32_t hash; /* keyed hash of the key; set only while the dict is indexed */
    seam_value *value;
    char short_key[SEAM__SHORT_KEY];
} seam__dict_entry;

/* A value is 40 bytes: every field that can be narrower is, since a
 * decoded message may hold one value for nearly every byte it had. */
struct seam_value {
    atomic_uint refs;
    unsigned type : 8;   /* a seam_type */
    unsigned arena : 24; /* 1 + its position in its arena (arena.c), 0 if none */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        int fd;
        uint8_t uuid[16];
        struct {
            size_t len;
            uint8_t *bytes; /* string: NUL-terminated */
            size_t cap;     /* bytes there are, made on its own; 0 if it cannot grow */
            /* data only: the sealed memfd whose read-only mapping bytes
             * is (value_memfd.c), NULL for bytes in memory of their own */
            struct seam__memfd_blob *memfd;
        } blob;
        struct {
            seam_value **items;
            size_t count;
            size_t cap;
        } array;
        struct {
            seam__dict_entry *entries;
            uint32_t *index; /* open addressing, slot = entry + 1; NULL when small */
            uint32_t count;  /* the index holds entry numbers in 32 bits anyway */
            uint32_t cap;
            uint32_t index_cap;
        } dict;
    } as;
};

/* Whether v is one of the shared, immutable values (null, false, true, the
 * integers -24 to 23, the empty string and the empty byte string) that
 * constructors return instead of allocating: references to them are not
 * counted and they are never freed. */
bool seam__value_is_shared(const seam_value *v);

/* ---- arenas (arena.c) ----
 *
 * The values decoded from one frame live in one block, the arena, sized
 * before decoding by a walk over the CBOR heads: one allocation per message
 * instead of one per value. Each value still counts its own references and
 * is released as a value made on its own is; the block is freed when the
 * last of its values is (so a value kept past its message keeps the whole
 * block). Containers never free or grow in place what lies in the block. */
#define SEAM__ARENA_MAX_VALUES ((1u << 24) - 2)

typedef struct seam__arena seam__arena;

/* The arena v lives in, or NULL (made on its own, or shared). */
seam__arena *seam__arena_of(const seam_value *v);

/* Bytes a decode of the CBOR in bytes[0..len) needs at most, values and
 * the rest apart; false when the input is not worth an arena (malformed,
 * indefinite, over max_items: the decoder refuses it on its own). */
bool seam__arena_estimate(const uint8_t *bytes, size_t len, uint32_t max_items, size_t *values,
                          size_t *rest);
seam__arena *seam__arena_new(size_t values, size_t rest);
/* A new value of the arena (zeroed, one reference), or NULL when full. */
seam_value *seam__arena_value(seam__arena *a, seam_type type);
/* n bytes (8-aligned) of the arena's free room, or NULL. */
void *seam__arena_alloc(seam__arena *a, size_t n);
/* After decoding: every value handed out is live, and no more room is
 * handed out (values of one arena may be changed on different threads
 * afterwards; what they add goes to the heap). Frees an empty arena. */
void seam__arena_seal(seam__arena *a);
/* Frees an arena whose decode failed (its values were never handed out). */
void seam__arena_discard(seam__arena *a);
/* n of a's values were freed: the last frees the block. */
void seam__arena_values_freed(seam__arena *a, uint32_t n);

/* Whether p lies in the block of container's arena: memory a container
 * must neither free nor grow in place. */
bool seam__arena_holds(const seam_value *container, const void *p);

/* Drops one reference to v; on the last, frees v and what it holds. A value
 * of arena home is only counted in *freed (the caller gives them back to
 * home at once, seam__arena_values_freed()). */
void seam__value_drop(seam_value *v, seam__arena *home, uint32_t *freed);

/* Releases what a container holds (children, entries, keys, index) and
 * leaves it empty, children dropped as seam__value_drop() does. */
void seam__array_clear(seam_value *array, seam__arena *home, uint32_t *freed);
void seam__dict_clear(seam_value *dict, seam__arena *home, uint32_t *freed);

/* The position of key in dict, or -1. */
ptrdiff_t seam__dict_find(const seam_value *dict, const char *key, size_t len);

/* Adds key -> item without checking for NUL or validating UTF-8 (the caller
 * has), taking ownership of item's reference. With must_be_new, an existing
 * key fails with SEAM_EDUPKEY and item is released. */
int seam__dict_put(seam_value *dict, const char *key, size_t key_len, seam_value *item,
                   bool must_be_new);

/* Whether dict has key. */
bool seam__dict_has(const seam_value *dict, const char *key, size_t key_len);

/* Adds key -> item like seam__dict_put() for a key the caller knows is not
 * in dict yet (it asked seam__dict_has()). */
int seam__dict_add(seam_value *dict, const char *key, size_t key_len, seam_value *item);

/* Room for n more entries, so that adding them allocates nothing more
 * (the decoder knows how many a map announced). */
int seam__dict_reserve(seam_value *dict, size_t n);

/* The index probes it takes to find every key of dict once (a key found
 * in its home slot costs one; a small dictionary searched in order costs
 * its position): the work a hostile choice of keys can force. */
size_t seam__dict_probes(const seam_value *dict);

/* A new value of type with one reference (zeroed), or NULL. */
seam_value *seam__value_alloc(seam_type type);
/* A string or data value holding a copy of bytes (not validated). */
seam_value *seam__blob_new(seam_type type, const void *bytes, size_t len);

/* Takes ownership of fd (no duplication). Returns NULL without memory, in
 * which case fd has been closed. */
seam_value *seam__value_new_fd_owned(int fd);

/* ---- data in sealed memfds (value_memfd.c) ---- */

/* What a connection counts of the mappings its peer made it hold: shared
 * by the values (which may be released on any thread) and the connection,
 * freed with the last of them. */
typedef struct seam__memfd_account seam__memfd_account;

seam__memfd_account *seam__memfd_account_new(void);
void seam__memfd_account_unref(seam__memfd_account *a);
/* Bytes of mappings from this account still alive (pages counted whole). */
uint64_t seam__memfd_account_live(const seam__memfd_account *a);

/* What a decoder accepts of the memfd tag: NULL (the tag is SEAM_ETAG)
 * when our hello did not announce "memfd". */
typedef struct seam__dec_memfd {
    uint64_t min;      /* our announced threshold: shorter ones are SEAM_EMEMFD */
    uint64_t max_live; /* mapped bytes the account may hold: past it SEAM_ENOBUFS */
    seam__memfd_account *account;
} seam__dec_memfd;

/* A data value over fd, a memfd a peer sent: checks its seals and size
 * against len, within mf's bounds, then maps it read-only. fd is
 * borrowed (the value keeps a duplicate). NULL with *err set: SEAM_EMEMFD
 * (not a memfd sealed as required, of another size, shorter than mf->min),
 * SEAM_ENOBUFS (over mf->max_live), another code. */
seam_value *seam__value_from_memfd(int fd, uint64_t len, const seam__dec_memfd *mf, int *err);

/* The memfd a data value lives in (borrowed), or -1. */
int seam__value_memfd(const seam_value *v);

/* Releases a memfd data value's mapping, descriptor and account share
 * (the value's memory itself is the caller's to free). */
void seam__value_memfd_drop(seam_value *v);

/* What an encoder does with memfd data: NULL (or min 0) copies their
 * bytes like any other. Else a memfd data value of at least min bytes
 * goes as the memfd tag and a descriptor, while the frame has fewer than
 * max_fds descriptors; the others are copied. */
typedef struct seam__enc_memfd {
    uint64_t min;
    size_t max_fds;
} seam__enc_memfd;

/* Encodes v, appending to out. With fds non-NULL, fd values are appended to
 * fds (borrowed, up to max_fds) and encoded as indices; without, they fail
 * with SEAM_EFD. */
int seam__encode(const seam_value *v, seam__buf *out, int *fds, size_t max_fds, size_t *nfds);

/* Takes over a data value's bytes instead of the encoder copying them:
 * called right after their head is in out, it makes them follow there
 * (a send queue references v). 0 or a negative code. */
typedef int (*seam__gather_fn)(void *ctx, const seam_value *v);

/* seam__encode() that hands data values of at least gather_min bytes to
 * gather instead of copying them into out, and memfd data as mf says;
 * SEAM_EMSGSIZE as soon as the encoding (gathered bytes included) would
 * pass max_len (0: no limit), before the bytes past it are copied: one
 * value a tree references many times (a memfd named by many tags) would
 * otherwise be copied out as often. */
int seam__encode_gather(const seam_value *v, seam__buf *out, int *fds, size_t max_fds, size_t *nfds,
                        seam__gather_fn gather, void *ctx, size_t gather_min,
                        const seam__enc_memfd *mf, uint64_t max_len);

/* Decodes one item spanning len bytes; fd values refer to fds[0..nfds) and
 * get their own duplicates, so the caller still closes what it passed. */
int seam__decode(const uint8_t *bytes, size_t len, const seam_decode_limits *limits, const int *fds,
                 size_t nfds, seam_value **out);
/* seam__decode() that also takes the memfd tag as mf says (NULL: it is
 * SEAM_ETAG, as in seam__decode()). */
int seam__decode_memfd(const uint8_t *bytes, size_t len, const seam_decode_limits *limits,
                       const int *fds, size_t nfds, const seam__dec_memfd *mf, seam_value **out);

#endif /* SEAM_INTERNAL_H */
