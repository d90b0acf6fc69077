/* SPDX-License-Identifier: MIT */
/* idmap.c - ids to items, in insertion order (see idmap.h). */
#include "idmap.h"

#include "seam.h"

#include <stdlib.h>
#include <string.h>

#define MIN_INDEX 16

static size_t home_slot(const seam__idmap *m, uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15ull) & (m->index_cap - 1);
}

/* The index slot that holds id's entry, or the empty slot where it would
 * go. */
static size_t find_slot(const seam__idmap *m, uint64_t id)
{
    size_t mask = m->index_cap - 1;
    size_t s = home_slot(m, id);
    while (m->index[s] != 0 && m->entries[m->index[s] - 1].id != id) {
        s = (s + 1) & mask;
    }
    return s;
}

void seam__idmap_free(seam__idmap *m)
{
    free(m->entries);
    free(m->index);
    *m = (seam__idmap)SEAM__IDMAP_INIT;
}

/* Rebuilds the index at cap slots over the entries, dropping holes. */
static int rebuild(seam__idmap *m, size_t cap)
{
    uint32_t *index = calloc(cap, sizeof(*index));
    if (index == NULL) {
        return SEAM_ENOMEM;
    }
    size_t w = 0;
    for (size_t i = 0; i < m->len; i++) {
        if (m->entries[i].item != NULL) {
            m->entries[w++] = m->entries[i];
        }
    }
    m->len = w;
    free(m->index);
    m->index = index;
    m->index_cap = cap;
    for (size_t i = 0; i < m->len; i++) {
        m->index[find_slot(m, m->entries[i].id)] = (uint32_t)(i + 1);
    }
    return 0;
}

int seam__idmap_put(seam__idmap *m, uint64_t id, void *item)
{
    if (m->count >= UINT32_MAX - 1) {
        return SEAM_ENOMEM;
    }
    /* The index stays at most three quarters full of items; holes in the
     * entries go when they are as many as the items. */
    if ((m->count + 1) * 4 > m->index_cap * 3) {
        size_t cap = m->index_cap != 0 ? m->index_cap * 2 : MIN_INDEX;
        if (rebuild(m, cap) < 0) {
            return SEAM_ENOMEM;
        }
    } else if (m->len == m->cap && m->len - m->count >= m->count) {
        if (rebuild(m, m->index_cap) < 0) {
            return SEAM_ENOMEM;
        }
    }
    if (m->len == m->cap) {
        size_t cap = m->cap != 0 ? m->cap * 2 : MIN_INDEX;
        seam__idmap_entry *e = realloc(m->entries, cap * sizeof(*e));
        if (e == NULL) {
            return SEAM_ENOMEM;
        }
        m->entries = e;
        m->cap = cap;
    }
    m->entries[m->len] = (seam__idmap_entry){id, item};
    m->index[find_slot(m, id)] = (uint32_t)(m->len + 1);
    m->len++;
    m->count++;
    return 0;
}

void *seam__idmap_get(const seam__idmap *m, uint64_t id)
{
    if (m->index_cap == 0) {
        return NULL;
    }
    uint32_t e = m->index[find_slot(m, id)];
    return e != 0 ? m->entries[e - 1].item : NULL;
}

void *seam__idmap_remove(seam__idmap *m, uint64_t id)
{
    if (m->index_cap == 0) {
        return NULL;
    }
    size_t mask = m->index_cap - 1;
    size_t i = find_slot(m, id);
    if (m->index[i] == 0) {
        return NULL;
    }
    seam__idmap_entry *e = &m->entries[m->index[i] - 1];
    void *item = e->item;
    e->item = NULL; /* a hole: the entry's place in the order is kept */
    m->count--;
    m->index[i] = 0;
    /* Pull later members of the cluster back so lookups never stop early. */
    for (size_t j = (i + 1) & mask; m->index[j] != 0; j = (j + 1) & mask) {
        size_t home = home_slot(m, m->entries[m->index[j] - 1].id);
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            m->index[i] = m->index[j];
            m->index[j] = 0;
            i = j;
        }
    }
    if (m->count == 0) {
        m->len = 0; /* nothing to keep in order: start over at the front */
    }
    return item;
}

void *seam__idmap_next(const seam__idmap *m, size_t *pos, uint64_t *id)
{
    while (*pos < m->len) {
        const seam__idmap_entry *e = &m->entries[(*pos)++];
        if (e->item != NULL) {
            if (id != NULL) {
                *id = e->id;
            }
            return e->item;
        }
    }
    return NULL;
}

void seam__idmap_take(seam__idmap *m, seam__idmap *out)
{
    *out = *m;
    *m = (seam__idmap)SEAM__IDMAP_INIT;
}
