/* SPDX-License-Identifier: MIT */
/* idmap.h - a map from 64-bit ids to items, iterated in the order the
 * items were put in: a dense array of entries (with holes where items
 * were removed) and an open-addressing index over it. Lookups, insertion
 * and removal take constant time on average; removing never moves an
 * entry, so an iteration may remove the item it stands on (or any other).
 * Knows nothing of what the items are. */
#ifndef SEAM_IDMAP_H
#define SEAM_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct seam__idmap_entry {
    uint64_t id;
    void *item; /* NULL: a hole left by a removal */
} seam__idmap_entry;

typedef struct seam__idmap {
    seam__idmap_entry *entries;
    size_t len; /* entries in use, holes included */
    size_t cap;
    size_t count;     /* items */
    uint32_t *index;  /* slot = entry number + 1, 0 = empty */
    size_t index_cap; /* a power of two, or 0 */
} seam__idmap;

#define SEAM__IDMAP_INIT                                                                           \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, 0                                                                     \
    }

void seam__idmap_free(seam__idmap *m);

/* Adds id -> item (item non-NULL, id not in m). Returns 0 or SEAM_ENOMEM
 * (m unchanged). May compact the entries: not during an iteration. */
int seam__idmap_put(seam__idmap *m, uint64_t id, void *item);

/* The item of id, or NULL. */
void *seam__idmap_get(const seam__idmap *m, uint64_t id);

/* Removes id and returns its item, or NULL if it was not there. */
void *seam__idmap_remove(seam__idmap *m, uint64_t id);

static inline size_t seam__idmap_count(const seam__idmap *m)
{
    return m->count;
}

/* Iterates in insertion order: start with *pos = 0; each call returns the
 * next item (and its id if id is non-NULL), or NULL at the end. */
void *seam__idmap_next(const seam__idmap *m, size_t *pos, uint64_t *id);

/* Moves every item of m to *out (which it overwrites), leaving m empty:
 * for ending everything at once while new items may be put into m. */
void seam__idmap_take(seam__idmap *m, seam__idmap *out);

#endif /* SEAM_IDMAP_H */
