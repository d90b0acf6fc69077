/* SPDX-License-Identifier: MIT */
/* arena.c - one block for the values decoded from one frame: sizing it from
 * the CBOR before decoding, handing out its values and room, and freeing it
 * when the last of its values goes. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct seam__arena {
    atomic_uint live; /* values not freed yet, once sealed */
    uint32_t count;   /* values handed out */
    uint32_t cap;     /* values there is room for */
    uint8_t *next;    /* free room (after the values), NULL once sealed */
    uint8_t *end;     /* end of the block */
    seam_value values[];
};

/* Positions must fit a value's 24 bits; arenas larger than these are not
 * worth one block anyway (the decoder then allocates per value). */
#define ARENA_MAX_VALUES SEAM__ARENA_MAX_VALUES
#define ARENA_MAX_BYTES  ((size_t)1 << 30)

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

seam__arena *seam__arena_of(const seam_value *v)
{
    if (v == NULL || v->arena == 0) {
        return NULL;
    }
    const seam_value *first = v - (v->arena - 1);
    return (seam__arena *)((uintptr_t)first - offsetof(seam__arena, values));
}

/* Reads the argument of the head at p (info < 28), or returns false when
 * it runs past end. */
static bool head_read(const uint8_t *p, const uint8_t *end, uint64_t *arg, size_t *size)
{
    uint8_t info = *p & 0x1F;
    if (info < 24) {
        *arg = info;
        *size = 1;
        return true;
    }
    size_t n = (size_t)1 << (info - 24);
    if ((size_t)(end - p) <= n) {
        return false;
    }
    uint64_t a = 0;
    for (size_t i = 1; i <= n; i++) {
        a = a << 8 | p[i];
    }
    *arg = a;
    *size = 1 + n;
    return true;
}

/* One pass over the heads, without nesting: every head but a tag may be a
 * value of its own, except the shared ones (small integers, simple values,
 * empty strings); every string's bytes may need a copy, every array and map
 * its slots. Keys are counted as strings too: the estimate is an upper
 * bound, cheap to make and a little generous. Input whose containers
 * announce more slots than it has items is left to the decoder to refuse:
 * an estimate from announced counts alone would be the input's size times
 * its depth. */
bool seam__arena_estimate(const uint8_t *bytes, size_t len, uint32_t max_items, size_t *values,
                          size_t *rest)
{
    const uint8_t *p = bytes;
    const uint8_t *end = bytes + len;
    uint64_t items = 0;   /* heads but tags */
    uint64_t slots = 0;   /* items the containers announce */
    uint64_t nvalues = 0; /* items that are not shared values */
    uint64_t room = 0;
    while (p < end) {
        uint8_t major = *p >> 5;
        uint8_t info = *p & 0x1F;
        uint64_t arg = 0;
        size_t size = 0;
        if (info >= 28 || !head_read(p, end, &arg, &size)) {
            return false; /* indefinite, reserved or cut short */
        }
        uint64_t left = (uint64_t)(end - p) - size;
        p += size;
        if (major == 6) {
            continue;
        }
        items++;
        switch (major) {
        case 0:
        case 1:
            nvalues += arg > 23;
            break;
        case 2:
        case 3:
            if (arg > left) {
                return false;
            }
            p += arg;
            if (arg > 0) {
                room += round8(arg + 1);
                nvalues++;
            }
            break;
        case 4:
        case 5:
            if (arg > left || (major == 5 && 2 * arg > left)) {
                return false; /* each slot takes a byte of its own */
            }
            slots += major == 4 ? arg : 2 * arg;
            if (slots >= (uint64_t)len) {
                return false;
            }
            room += major == 4 ? arg * sizeof(seam_value *) : arg * sizeof(seam__dict_entry);
            nvalues++;
            break;
        default:
            nvalues += info < 20 || info > 22; /* false, true and null are shared */
            break;
        }
    }
    if (slots >= items || items > (uint64_t)max_items * 2 + 1 || nvalues > ARENA_MAX_VALUES ||
        room > ARENA_MAX_BYTES) {
        return false;
    }
    *values = (size_t)nvalues;
    *rest = (size_t)room;
    return true;
}

seam__arena *seam__arena_new(size_t values, size_t rest)
{
    if (values > ARENA_MAX_VALUES || rest > ARENA_MAX_BYTES) {
        return NULL;
    }
    size_t head = sizeof(seam__arena) + values * sizeof(seam_value);
    seam__arena *a = malloc(round8(head) + rest);
    if (a == NULL) {
        return NULL;
    }
    atomic_init(&a->live, 0);
    a->count = 0;
    a->cap = (uint32_t)values;
    a->next = (uint8_t *)a + round8(head);
    a->end = a->next + rest;
    return a;
}

seam_value *seam__arena_value(seam__arena *a, seam_type type)
{
    if (a->count == a->cap) {
        return NULL;
    }
    seam_value *v = &a->values[a->count];
    memset(v, 0, sizeof(*v));
    atomic_init(&v->refs, 1);
    v->type = type;
    a->count++;
    v->arena = a->count;
    return v;
}

void *seam__arena_alloc(seam__arena *a, size_t n)
{
    /* The estimate rounds every piece up to 8 bytes too: room is a
     * multiple of 8, so is every piece handed out. */
    if (a->next == NULL || n > (size_t)(a->end - a->next) ||
        round8(n) > (size_t)(a->end - a->next)) {
        return NULL;
    }
    void *p = a->next;
    a->next += round8(n);
    return p;
}

void seam__arena_seal(seam__arena *a)
{
    a->next = NULL;
    if (a->count == 0) {
        free(a);
        return;
    }
    atomic_store_explicit(&a->live, a->count, memory_order_release);
}

/* Nothing outside holds a value of a failed decode, and what they hold of
 * the same arena is only its memory: what goes back is what lies outside
 * (descriptors, an index, growth there never was). */
static void discard_child(seam__arena *a, seam_value *child)
{
    if (seam__arena_of(child) != a) {
        seam_value_unref(child);
    }
}

void seam__arena_discard(seam__arena *a)
{
    for (uint32_t i = 0; i < a->count; i++) {
        seam_value *v = &a->values[i];
        if (v->type == SEAM_TYPE_ARRAY) {
            for (size_t k = 0; k < v->as.array.count; k++) {
                discard_child(a, v->as.array.items[k]);
            }
            if (!seam__arena_holds(v, v->as.array.items)) {
                free(v->as.array.items);
            }
        } else if (v->type == SEAM_TYPE_DICT) {
            for (size_t k = 0; k < v->as.dict.count; k++) {
                discard_child(a, v->as.dict.entries[k].value);
            }
            v->as.dict.count = 0;
            seam__dict_clear(v, a, NULL);
        }
    }
    free(a);
}

void seam__arena_values_freed(seam__arena *a, uint32_t n)
{
    if (n > 0 && atomic_fetch_sub_explicit(&a->live, n, memory_order_acq_rel) == n) {
        free(a);
    }
}

bool seam__arena_holds(const seam_value *container, const void *p)
{
    const seam__arena *a = seam__arena_of(container);
    return a != NULL && (const uint8_t *)p >= (const uint8_t *)a && (const uint8_t *)p < a->end;
}
