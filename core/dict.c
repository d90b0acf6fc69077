/* SPDX-License-Identifier: MIT */
/* dict.c - dictionaries: entries with short keys inline, a keyed hash index
 * for large ones, and the public dictionary functions. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Dictionaries up to this size are searched linearly; larger ones get a hash
 * index so that decoding a huge map stays linear in its size. */
#define DICT_INDEX_MIN 16

static void key_free(const seam_value *dict, seam__dict_entry *e)
{
    if (e->key_len >= SEAM__SHORT_KEY && !seam__arena_holds(dict, e->key)) {
        free(e->key);
    }
}

/* Short keys live in their entries: point them there again after the
 * entries moved (from index from on). */
static void keys_repoint(seam_value *dict, size_t from)
{
    for (size_t i = from; i < dict->as.dict.count; i++) {
        seam__dict_entry *e = &dict->as.dict.entries[i];
        if (e->key_len < SEAM__SHORT_KEY) {
            e->key = e->short_key;
        }
    }
}

/* Keys come from peers, so the index must not let them choose collisions:
 * keys are hashed with SipHash-1-3 under a key chosen at random once per
 * process. That seed is the library's one piece of process-wide state; it
 * is written once (the first big dictionary publishes it atomically) and
 * only read afterwards. */
static _Atomic uint64_t hash_seed;

static uint64_t seed_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9u;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBu;
    return x ^ (x >> 31);
}

static uint64_t seed_get(void)
{
    uint64_t seed = atomic_load_explicit(&hash_seed, memory_order_acquire);
    if (seed != 0) {
        return seed;
    }
    uint64_t fresh = 0;
    if (getentropy(&fresh, sizeof(fresh)) != 0) {
        /* No entropy source: worse than random, still unknown to a peer. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        fresh = seed_mix((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^
                         (uint64_t)(uintptr_t)&ts ^ (uint64_t)getpid() << 48);
    }
    fresh |= 1; /* 0 means "not chosen yet" */
    uint64_t none = 0;
    if (!atomic_compare_exchange_strong_explicit(&hash_seed, &none, fresh, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        return none; /* another thread chose first: everyone uses its seed */
    }
    return fresh;
}

static uint64_t rotl64(uint64_t x, int bits)
{
    return x << bits | x >> (64 - bits);
}

typedef struct sip {
    uint64_t v0, v1, v2, v3;
} sip;

static void sip_round(sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13) ^ s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17) ^ s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static void sip_absorb(sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    s->v0 ^= m;
}

static uint32_t key_hash(const char *key, size_t len)
{
    uint64_t k0 = seed_get();
    uint64_t k1 = seed_mix(k0);
    sip s = {k0 ^ 0x736F6D6570736575u, k1 ^ 0x646F72616E646F6Du, k0 ^ 0x6C7967656E657261u,
             k1 ^ 0x7465646279746573u};
    const uint8_t *p = (const uint8_t *)key;
    size_t left = len;
    for (; left >= 8; left -= 8, p += 8) {
        uint64_t m = 0;
        for (int i = 7; i >= 0; i--) {
            m = m << 8 | p[i];
        }
        sip_absorb(&s, m);
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < left; i++) {
        last |= (uint64_t)p[i] << (8 * i);
    }
    sip_absorb(&s, last);
    s.v2 ^= 0xFF;
    sip_round(&s);
    sip_round(&s);
    sip_round(&s);
    uint64_t h = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
    return (uint32_t)(h ^ h >> 32);
}

static bool entry_is(const seam__dict_entry *e, const char *key, size_t len)
{
    return e->key_len == len && (len == 0 || e->key[0] == key[0]) && memcmp(e->key, key, len) == 0;
}

/* Builds an index of cap slots (a power of two) from the entries' hashes;
 * with rehash, computes those hashes first (entries added while the
 * dictionary had no index have none). */
static int index_rebuild(seam_value *dict, size_t cap, bool rehash)
{
    if (cap > UINT32_MAX / 2 + 1) {
        return SEAM_ENOMEM;
    }
    uint32_t *index = calloc(cap, sizeof(*index));
    if (index == NULL) {
        return SEAM_ENOMEM;
    }
    for (size_t i = 0; i < dict->as.dict.count; i++) {
        seam__dict_entry *e = &dict->as.dict.entries[i];
        if (rehash) {
            e->hash = key_hash(e->key, e->key_len);
        }
        size_t slot = e->hash & (cap - 1);
        while (index[slot] != 0) {
            slot = (slot + 1) & (cap - 1);
        }
        index[slot] = (uint32_t)(i + 1);
    }
    free(dict->as.dict.index);
    dict->as.dict.index = index;
    dict->as.dict.index_cap = (uint32_t)cap;
    return 0;
}

static void index_drop(seam_value *dict)
{
    free(dict->as.dict.index);
    dict->as.dict.index = NULL;
    dict->as.dict.index_cap = 0;
}

/* The index size for n entries: a power of two, at most half full. */
static size_t index_cap_for(size_t n)
{
    size_t cap = 64;
    while (cap < n * 2) {
        cap *= 2;
    }
    return cap;
}

/* Returns the entry's position, or -1. When the dictionary is indexed,
 * *hash (if given) gets the key's hash, for an insertion that follows. */
static ptrdiff_t dict_find(const seam_value *dict, const char *key, size_t len, uint32_t *hash)
{
    const seam__dict_entry *entries = dict->as.dict.entries;
    if (dict->as.dict.index == NULL) {
        for (size_t i = 0; i < dict->as.dict.count; i++) {
            if (entry_is(&entries[i], key, len)) {
                return (ptrdiff_t)i;
            }
        }
        return -1;
    }
    uint32_t h = key_hash(key, len);
    if (hash != NULL) {
        *hash = h;
    }
    size_t mask = dict->as.dict.index_cap - 1;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
        uint32_t at = dict->as.dict.index[slot];
        if (at == 0) {
            return -1;
        }
        if (entries[at - 1].hash == h && entry_is(&entries[at - 1], key, len)) {
            return (ptrdiff_t)at - 1;
        }
    }
}

static int entries_grow(seam_value *dict, size_t cap)
{
    if (cap > UINT32_MAX / 2) {
        return SEAM_ENOMEM;
    }
    seam__dict_entry *entries;
    if (seam__arena_holds(dict, dict->as.dict.entries)) {
        /* Decoded entries stay where they are: the new ones go to the heap. */
        entries = malloc(cap * sizeof(*entries));
        if (entries != NULL) {
            memcpy(entries, dict->as.dict.entries, dict->as.dict.count * sizeof(*entries));
        }
    } else {
        entries = realloc(dict->as.dict.entries, cap * sizeof(*entries));
    }
    if (entries == NULL) {
        return SEAM_ENOMEM;
    }
    dict->as.dict.entries = entries;
    dict->as.dict.cap = (uint32_t)cap;
    keys_repoint(dict, 0);
    return 0;
}

/* Appends a key known to be absent; hash is its hash if the caller has it
 * (dict_find() on an indexed dictionary), else NULL. */
static int dict_insert(seam_value *dict, const char *key, size_t key_len, seam_value *item,
                       const uint32_t *hash)
{
    if (dict->as.dict.count == dict->as.dict.cap) {
        int r = entries_grow(dict, dict->as.dict.cap ? (size_t)dict->as.dict.cap * 2 : 4);
        if (r < 0) {
            seam_value_unref(item);
            return r;
        }
    }
    size_t n = dict->as.dict.count;
    seam__dict_entry *e = &dict->as.dict.entries[n];
    *e = (seam__dict_entry){NULL, key_len, 0, item, {0}};
    if (key_len < SEAM__SHORT_KEY) {
        e->key = e->short_key;
    } else {
        seam__arena *a = seam__arena_of(dict);
        e->key = a != NULL ? seam__arena_alloc(a, key_len + 1) : NULL;
        if (e->key == NULL) {
            e->key = malloc(key_len + 1);
        }
    }
    if (e->key == NULL) {
        seam_value_unref(item);
        return SEAM_ENOMEM;
    }
    memcpy(e->key, key, key_len);
    e->key[key_len] = 0;
    dict->as.dict.count = (uint32_t)(n + 1);
    size_t count = n + 1;
    /* Keep the index at most half full; a failed rebuild only costs speed. */
    if (dict->as.dict.index == NULL) {
        if (count > DICT_INDEX_MIN && index_rebuild(dict, index_cap_for(count), true) < 0) {
            index_drop(dict);
        }
        return 0;
    }
    e->hash = hash != NULL ? *hash : key_hash(key, key_len);
    if (count * 2 > dict->as.dict.index_cap) {
        if (index_rebuild(dict, index_cap_for(count), false) < 0) {
            index_drop(dict);
        }
        return 0;
    }
    size_t mask = dict->as.dict.index_cap - 1;
    size_t slot = e->hash & mask;
    while (dict->as.dict.index[slot] != 0) {
        slot = (slot + 1) & mask;
    }
    dict->as.dict.index[slot] = (uint32_t)(n + 1);
    return 0;
}

int seam__dict_put(seam_value *dict, const char *key, size_t key_len, seam_value *item,
                   bool must_be_new)
{
    uint32_t hash = 0;
    ptrdiff_t at = dict_find(dict, key, key_len, &hash);
    if (at >= 0) {
        if (must_be_new) {
            seam_value_unref(item);
            return SEAM_EDUPKEY;
        }
        seam_value_unref(dict->as.dict.entries[at].value);
        dict->as.dict.entries[at].value = item;
        return 0;
    }
    return dict_insert(dict, key, key_len, item, dict->as.dict.index != NULL ? &hash : NULL);
}

ptrdiff_t seam__dict_find(const seam_value *dict, const char *key, size_t len)
{
    return dict_find(dict, key, len, NULL);
}

void seam__dict_clear(seam_value *dict, seam__arena *home, uint32_t *freed)
{
    for (size_t i = 0; i < dict->as.dict.count; i++) {
        key_free(dict, &dict->as.dict.entries[i]);
        seam__value_drop(dict->as.dict.entries[i].value, home, freed);
    }
    if (!seam__arena_holds(dict, dict->as.dict.entries)) {
        free(dict->as.dict.entries);
    }
    dict->as.dict.entries = NULL;
    dict->as.dict.count = 0;
    dict->as.dict.cap = 0;
    index_drop(dict);
}

bool seam__dict_has(const seam_value *dict, const char *key, size_t key_len)
{
    return dict_find(dict, key, key_len, NULL) >= 0;
}

int seam__dict_add(seam_value *dict, const char *key, size_t key_len, seam_value *item)
{
    return dict_insert(dict, key, key_len, item, NULL);
}

int seam__dict_reserve(seam_value *dict, size_t n)
{
    size_t want = dict->as.dict.count + n;
    if (want > dict->as.dict.cap) {
        int r = entries_grow(dict, want);
        if (r < 0) {
            return r;
        }
    }
    /* Size the index for all of them at once: no rebuild while they come. */
    if (want > DICT_INDEX_MIN && index_cap_for(want) > dict->as.dict.index_cap &&
        index_rebuild(dict, index_cap_for(want), dict->as.dict.index == NULL) < 0) {
        index_drop(dict);
    }
    return 0;
}

size_t seam__dict_probes(const seam_value *dict)
{
    size_t probes = 0;
    size_t n = dict->as.dict.count;
    if (dict->as.dict.index == NULL) {
        return n * (n + 1) / 2;
    }
    size_t mask = dict->as.dict.index_cap - 1;
    for (size_t i = 0; i < n; i++) {
        const seam__dict_entry *e = &dict->as.dict.entries[i];
        for (size_t slot = e->hash & mask;; slot = (slot + 1) & mask) {
            probes++;
            if (dict->as.dict.index[slot] == i + 1) {
                break;
            }
        }
    }
    return probes;
}

static bool key_ok(const char *key)
{
    return key != NULL && seam__utf8_valid((const uint8_t *)key, strlen(key));
}

size_t seam_dict_count(const seam_value *dict)
{
    if (dict == NULL || dict->type != SEAM_TYPE_DICT) {
        return 0;
    }
    return dict->as.dict.count;
}

seam_value *seam_dict_get(const seam_value *dict, const char *key)
{
    if (dict == NULL || dict->type != SEAM_TYPE_DICT || key == NULL) {
        return NULL;
    }
    ptrdiff_t at = dict_find(dict, key, strlen(key), NULL);
    return at >= 0 ? dict->as.dict.entries[at].value : NULL;
}

int seam_dict_set_take(seam_value *dict, const char *key, seam_value *item)
{
    if (dict == NULL || dict->type != SEAM_TYPE_DICT || item == NULL || item == dict ||
        !key_ok(key)) {
        seam_value_unref(item);
        return SEAM_EINVAL;
    }
    return seam__dict_put(dict, key, strlen(key), item, false);
}

int seam_dict_set(seam_value *dict, const char *key, seam_value *item)
{
    if (item == NULL) {
        return SEAM_EINVAL;
    }
    return seam_dict_set_take(dict, key, seam_value_ref(item));
}

int seam_dict_remove(seam_value *dict, const char *key)
{
    if (dict == NULL || dict->type != SEAM_TYPE_DICT || key == NULL) {
        return SEAM_EINVAL;
    }
    ptrdiff_t at = dict_find(dict, key, strlen(key), NULL);
    if (at < 0) {
        return SEAM_EINVAL;
    }
    seam__dict_entry *e = dict->as.dict.entries;
    key_free(dict, &e[at]);
    seam_value_unref(e[at].value);
    memmove(&e[at], &e[at + 1], (dict->as.dict.count - (size_t)at - 1) * sizeof(*e));
    dict->as.dict.count--;
    keys_repoint(dict, (size_t)at);
    if (dict->as.dict.index != NULL && index_rebuild(dict, dict->as.dict.index_cap, false) < 0) {
        index_drop(dict);
    }
    return 0;
}

seam_value *seam_dict_entry(const seam_value *dict, size_t index, const char **key)
{
    if (dict == NULL || dict->type != SEAM_TYPE_DICT || index >= dict->as.dict.count) {
        return NULL;
    }
    if (key != NULL) {
        *key = dict->as.dict.entries[index].key;
    }
    return dict->as.dict.entries[index].value;
}

/* The value under key that a setter may overwrite in place, or NULL: one
 * of the setter's type, made on its own (neither shared nor decoded) and
 * held by dict alone. Overwriting it is what makes a dictionary kept and
 * updated between sends allocate nothing. */
static seam_value *dict_reusable(const seam_value *dict, const char *key, seam_type type)
{
    if (dict == NULL || dict->type != SEAM_TYPE_DICT || key == NULL) {
        return NULL;
    }
    ptrdiff_t at = dict_find(dict, key, strlen(key), NULL);
    if (at < 0) {
        return NULL;
    }
    seam_value *v = dict->as.dict.entries[at].value;
    if (v->type != type || seam__value_is_shared(v) || v->arena != 0 ||
        atomic_load_explicit(&v->refs, memory_order_acquire) != 1) {
        return NULL;
    }
    return v;
}

/* Strings and data are overwritten in place while they fit the bytes of
 * the one they replace. */
static bool blob_overwrite(seam_value *dict, const char *key, seam_type type, const void *bytes,
                           size_t len)
{
    seam_value *v = dict_reusable(dict, key, type);
    /* A memfd's mapping is read-only, and its cap 0 still takes len 0. */
    if (v == NULL || len > v->as.blob.cap || v->as.blob.memfd != NULL) {
        return false;
    }
    if (len > 0) {
        memmove(v->as.blob.bytes, bytes, len);
    }
    v->as.blob.bytes[len] = 0;
    v->as.blob.len = len;
    return true;
}

int seam_dict_set_string(seam_value *dict, const char *key, const char *s)
{
    if (s != NULL && seam__utf8_valid((const uint8_t *)s, strlen(s)) &&
        blob_overwrite(dict, key, SEAM_TYPE_STRING, s, strlen(s))) {
        return 0;
    }
    seam_value *v = seam_value_new_string(s);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_EINVAL;
}

int seam_dict_set_int64(seam_value *dict, const char *key, int64_t i)
{
    seam_value *old = dict_reusable(dict, key, SEAM_TYPE_INT64);
    if (old != NULL) {
        old->as.i = i;
        return 0;
    }
    seam_value *v = seam_value_new_int64(i);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_ENOMEM;
}

int seam_dict_set_bool(seam_value *dict, const char *key, bool b)
{
    seam_value *v = seam_value_new_bool(b);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_ENOMEM;
}

int seam_dict_set_double(seam_value *dict, const char *key, double d)
{
    seam_value *old = dict_reusable(dict, key, SEAM_TYPE_DOUBLE);
    if (old != NULL) {
        old->as.d = d;
        return 0;
    }
    seam_value *v = seam_value_new_double(d);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_ENOMEM;
}

int seam_dict_set_data(seam_value *dict, const char *key, const void *bytes, size_t len)
{
    if ((bytes != NULL || len == 0) && blob_overwrite(dict, key, SEAM_TYPE_DATA, bytes, len)) {
        return 0;
    }
    seam_value *v = seam_value_new_data(bytes, len);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_EINVAL;
}

const char *seam_dict_get_string(const seam_value *dict, const char *key)
{
    return seam_value_get_string(seam_dict_get(dict, key), NULL);
}

bool seam_dict_get_int64(const seam_value *dict, const char *key, int64_t *out)
{
    return seam_value_get_int64(seam_dict_get(dict, key), out);
}

bool seam_dict_get_bool(const seam_value *dict, const char *key, bool *out)
{
    return seam_value_get_bool(seam_dict_get(dict, key), out);
}

bool seam_dict_get_double(const seam_value *dict, const char *key, double *out)
{
    return seam_value_get_double(seam_dict_get(dict, key), out);
}
