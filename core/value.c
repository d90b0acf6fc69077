/* SPDX-License-Identifier: MIT */
/* value.c - reference-counted typed values: construction, access, arrays and
 * dictionaries, equality and copying. */
#include "internal.h"

#include <assert.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Dictionaries up to this size are searched linearly; larger ones get a hash
 * index so that decoding a huge map stays linear in its size. */
#define DICT_INDEX_MIN 16

/* The values a one-byte CBOR item can hold that never change: shared, so
 * that a message of a million nulls costs a million pointers, not a million
 * allocations. They live in read-only memory; ref and unref leave them be. */
enum {
    SHARED_NULL,
    SHARED_FALSE,
    SHARED_TRUE,
    SHARED_STRING,
    SHARED_DATA,
    SHARED_INT, /* -24 ... 23 from here */
    SHARED_COUNT = SHARED_INT + 48
};
#define SHARED_INT_MIN (-24)
#define SHARED_INT_MAX 23

#define INT_VALUE(n)                                                                               \
    {                                                                                              \
        .type = SEAM_TYPE_INT64, .as.i = (n)                                                       \
    }
#define INT_VALUES8(n)                                                                             \
    INT_VALUE(n), INT_VALUE((n) + 1), INT_VALUE((n) + 2), INT_VALUE((n) + 3), INT_VALUE((n) + 4),  \
        INT_VALUE((n) + 5), INT_VALUE((n) + 6), INT_VALUE((n) + 7)

static const seam_value shared_values[SHARED_COUNT] = {
    [SHARED_NULL] = {.type = SEAM_TYPE_NULL},
    [SHARED_FALSE] = {.type = SEAM_TYPE_BOOL, .as.b = false},
    [SHARED_TRUE] = {.type = SEAM_TYPE_BOOL, .as.b = true},
    [SHARED_STRING] = {.type = SEAM_TYPE_STRING, .as.blob = {0, (uint8_t *)""}},
    [SHARED_DATA] = {.type = SEAM_TYPE_DATA, .as.blob = {0, (uint8_t *)""}},
    INT_VALUES8(-24),
    INT_VALUES8(-16),
    INT_VALUES8(-8),
    INT_VALUES8(0),
    INT_VALUES8(8),
    INT_VALUES8(16),
};

static seam_value *shared(size_t which)
{
    /* Never written through: every writer checks seam__value_is_shared(). */
    return (seam_value *)&shared_values[which];
}

bool seam__value_is_shared(const seam_value *v)
{
    return (uintptr_t)v - (uintptr_t)shared_values < sizeof(shared_values);
}

static seam_value *value_alloc(seam_type type)
{
    seam_value *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->type = type;
    return v;
}

const char *seam_type_name(seam_type type)
{
    switch (type) {
    case SEAM_TYPE_NULL:
        return "null";
    case SEAM_TYPE_BOOL:
        return "bool";
    case SEAM_TYPE_INT64:
        return "int64";
    case SEAM_TYPE_UINT64:
        return "uint64";
    case SEAM_TYPE_DOUBLE:
        return "double";
    case SEAM_TYPE_STRING:
        return "string";
    case SEAM_TYPE_DATA:
        return "data";
    case SEAM_TYPE_DATE:
        return "date";
    case SEAM_TYPE_UUID:
        return "uuid";
    case SEAM_TYPE_ARRAY:
        return "array";
    case SEAM_TYPE_DICT:
        return "dict";
    case SEAM_TYPE_FD:
        return "fd";
    }
    return "invalid";
}

seam_value *seam_value_new_null(void)
{
    return shared(SHARED_NULL);
}

seam_value *seam_value_new_bool(bool b)
{
    return shared(b ? SHARED_TRUE : SHARED_FALSE);
}

seam_value *seam_value_new_int64(int64_t i)
{
    if (i >= SHARED_INT_MIN && i <= SHARED_INT_MAX) {
        return shared((size_t)(SHARED_INT + i - SHARED_INT_MIN));
    }
    seam_value *v = value_alloc(SEAM_TYPE_INT64);
    if (v != NULL) {
        v->as.i = i;
    }
    return v;
}

seam_value *seam_value_new_uint64(uint64_t u)
{
    seam_value *v = value_alloc(SEAM_TYPE_UINT64);
    if (v != NULL) {
        v->as.u = u;
    }
    return v;
}

seam_value *seam_value_new_double(double d)
{
    seam_value *v = value_alloc(SEAM_TYPE_DOUBLE);
    if (v != NULL) {
        v->as.d = d;
    }
    return v;
}

static seam_value *blob_new(seam_type type, const void *bytes, size_t len)
{
    if (len == 0) {
        return shared(type == SEAM_TYPE_STRING ? SHARED_STRING : SHARED_DATA);
    }
    if (len > SIZE_MAX - sizeof(seam_value) - 1) {
        return NULL;
    }
    /* Strings and data never change: their bytes share the value's
     * allocation. */
    seam_value *v = malloc(sizeof(seam_value) + len + 1);
    if (v == NULL) {
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    atomic_init(&v->refs, 1);
    v->type = type;
    v->as.blob.bytes = (uint8_t *)(v + 1);
    if (len > 0) {
        memcpy(v->as.blob.bytes, bytes, len);
    }
    v->as.blob.bytes[len] = 0;
    v->as.blob.len = len;
    return v;
}

seam_value *seam_value_new_string(const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    return seam_value_new_string_len(s, strlen(s));
}

seam_value *seam_value_new_string_len(const char *s, size_t len)
{
    if (s == NULL && len > 0) {
        return NULL;
    }
    if (!seam__utf8_valid((const uint8_t *)s, len)) {
        return NULL;
    }
    return blob_new(SEAM_TYPE_STRING, s, len);
}

seam_value *seam_value_new_data(const void *bytes, size_t len)
{
    if (bytes == NULL && len > 0) {
        return NULL;
    }
    return blob_new(SEAM_TYPE_DATA, bytes, len);
}

seam_value *seam_value_new_date(double seconds)
{
    if (!isfinite(seconds)) {
        return NULL;
    }
    seam_value *v = value_alloc(SEAM_TYPE_DATE);
    if (v != NULL) {
        v->as.d = seconds;
    }
    return v;
}

seam_value *seam_value_new_uuid(const uint8_t uuid[16])
{
    if (uuid == NULL) {
        return NULL;
    }
    seam_value *v = value_alloc(SEAM_TYPE_UUID);
    if (v != NULL) {
        memcpy(v->as.uuid, uuid, 16);
    }
    return v;
}

seam_value *seam_value_new_array(void)
{
    return value_alloc(SEAM_TYPE_ARRAY);
}

seam_value *seam_value_new_dict(void)
{
    return value_alloc(SEAM_TYPE_DICT);
}

seam_value *seam__value_new_fd_owned(int fd)
{
    seam_value *v = value_alloc(SEAM_TYPE_FD);
    if (v == NULL) {
        close(fd);
        return NULL;
    }
    v->as.fd = fd;
    return v;
}

seam_value *seam_value_new_fd(int fd)
{
    if (fd < 0) {
        return NULL;
    }
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) {
        return NULL;
    }
    return seam__value_new_fd_owned(dup);
}

seam_value *seam_value_ref(seam_value *v)
{
    if (v != NULL && !seam__value_is_shared(v)) {
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    }
    return v;
}

static void key_free(seam__dict_entry *e)
{
    if (e->key_len >= SEAM__SHORT_KEY) {
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

static void value_free(seam_value *v)
{
    switch (v->type) {
    case SEAM_TYPE_ARRAY:
        for (size_t i = 0; i < v->as.array.count; i++) {
            seam_value_unref(v->as.array.items[i]);
        }
        free(v->as.array.items);
        break;
    case SEAM_TYPE_DICT:
        for (size_t i = 0; i < v->as.dict.count; i++) {
            key_free(&v->as.dict.entries[i]);
            seam_value_unref(v->as.dict.entries[i].value);
        }
        free(v->as.dict.entries);
        free(v->as.dict.index);
        break;
    case SEAM_TYPE_FD:
        close(v->as.fd);
        break;
    default:
        break;
    }
    free(v);
}

void seam_value_unref(seam_value *v)
{
    if (v == NULL || seam__value_is_shared(v)) {
        return;
    }
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
        value_free(v);
    }
}

seam_type seam_value_type(const seam_value *v)
{
    return v != NULL ? v->type : (seam_type)0;
}

bool seam_value_get_bool(const seam_value *v, bool *out)
{
    if (v == NULL || v->type != SEAM_TYPE_BOOL) {
        return false;
    }
    *out = v->as.b;
    return true;
}

bool seam_value_get_int64(const seam_value *v, int64_t *out)
{
    if (v == NULL) {
        return false;
    }
    if (v->type == SEAM_TYPE_INT64) {
        *out = v->as.i;
        return true;
    }
    if (v->type == SEAM_TYPE_UINT64 && v->as.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->as.u;
        return true;
    }
    return false;
}

bool seam_value_get_uint64(const seam_value *v, uint64_t *out)
{
    if (v == NULL) {
        return false;
    }
    if (v->type == SEAM_TYPE_UINT64) {
        *out = v->as.u;
        return true;
    }
    if (v->type == SEAM_TYPE_INT64 && v->as.i >= 0) {
        *out = (uint64_t)v->as.i;
        return true;
    }
    return false;
}

bool seam_value_get_double(const seam_value *v, double *out)
{
    if (v == NULL || v->type != SEAM_TYPE_DOUBLE) {
        return false;
    }
    *out = v->as.d;
    return true;
}

bool seam_value_get_date(const seam_value *v, double *out)
{
    if (v == NULL || v->type != SEAM_TYPE_DATE) {
        return false;
    }
    *out = v->as.d;
    return true;
}

bool seam_value_get_uuid(const seam_value *v, uint8_t out[16])
{
    if (v == NULL || v->type != SEAM_TYPE_UUID) {
        return false;
    }
    memcpy(out, v->as.uuid, 16);
    return true;
}

const char *seam_value_get_string(const seam_value *v, size_t *len)
{
    if (v == NULL || v->type != SEAM_TYPE_STRING) {
        return NULL;
    }
    if (len != NULL) {
        *len = v->as.blob.len;
    }
    return (const char *)v->as.blob.bytes;
}

const void *seam_value_get_data(const seam_value *v, size_t *len)
{
    if (v == NULL || v->type != SEAM_TYPE_DATA) {
        return NULL;
    }
    if (len != NULL) {
        *len = v->as.blob.len;
    }
    return v->as.blob.bytes;
}

int seam_value_get_fd(const seam_value *v)
{
    if (v == NULL || v->type != SEAM_TYPE_FD) {
        return -1;
    }
    return v->as.fd;
}

int seam_value_dup_fd(const seam_value *v)
{
    if (v == NULL || v->type != SEAM_TYPE_FD) {
        return SEAM_EINVAL;
    }
    int fd = fcntl(v->as.fd, F_DUPFD_CLOEXEC, 0);
    return fd >= 0 ? fd : -errno;
}

/* ---- arrays ---- */

size_t seam_array_count(const seam_value *array)
{
    if (array == NULL || array->type != SEAM_TYPE_ARRAY) {
        return 0;
    }
    return array->as.array.count;
}

seam_value *seam_array_get(const seam_value *array, size_t index)
{
    if (array == NULL || array->type != SEAM_TYPE_ARRAY || index >= array->as.array.count) {
        return NULL;
    }
    return array->as.array.items[index];
}

int seam_array_append_take(seam_value *array, seam_value *item)
{
    if (array == NULL || array->type != SEAM_TYPE_ARRAY || item == NULL || item == array) {
        seam_value_unref(item);
        return SEAM_EINVAL;
    }
    if (array->as.array.count == array->as.array.cap) {
        size_t cap = array->as.array.cap ? array->as.array.cap * 2 : 4;
        seam_value **items = realloc(array->as.array.items, cap * sizeof(*items));
        if (items == NULL) {
            seam_value_unref(item);
            return SEAM_ENOMEM;
        }
        array->as.array.items = items;
        array->as.array.cap = cap;
    }
    array->as.array.items[array->as.array.count++] = item;
    return 0;
}

int seam_array_append(seam_value *array, seam_value *item)
{
    if (item == NULL) {
        return SEAM_EINVAL;
    }
    return seam_array_append_take(array, seam_value_ref(item));
}

/* ---- dictionaries ---- */

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
    return e->key_len == len && memcmp(e->key, key, len) == 0;
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
    seam__dict_entry *entries = realloc(dict->as.dict.entries, cap * sizeof(*entries));
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
    e->key = key_len < SEAM__SHORT_KEY ? e->short_key : malloc(key_len + 1);
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
    key_free(&e[at]);
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

int seam_dict_set_string(seam_value *dict, const char *key, const char *s)
{
    seam_value *v = seam_value_new_string(s);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_EINVAL;
}

int seam_dict_set_int64(seam_value *dict, const char *key, int64_t i)
{
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
    seam_value *v = seam_value_new_double(d);
    return v != NULL ? seam_dict_set_take(dict, key, v) : SEAM_ENOMEM;
}

int seam_dict_set_data(seam_value *dict, const char *key, const void *bytes, size_t len)
{
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

/* ---- equality and copy ---- */

static bool is_integer(const seam_value *v)
{
    return v->type == SEAM_TYPE_INT64 || v->type == SEAM_TYPE_UINT64;
}

static bool integers_equal(const seam_value *a, const seam_value *b)
{
    if (a->type == b->type) {
        return a->type == SEAM_TYPE_INT64 ? a->as.i == b->as.i : a->as.u == b->as.u;
    }
    const seam_value *s = a->type == SEAM_TYPE_INT64 ? a : b;
    const seam_value *u = a->type == SEAM_TYPE_INT64 ? b : a;
    return s->as.i >= 0 && (uint64_t)s->as.i == u->as.u;
}

static bool doubles_equal(double x, double y)
{
    if (x == 0.0 && y == 0.0) {
        return true;
    }
    return memcmp(&x, &y, sizeof(x)) == 0;
}

static bool same_file(int x, int y)
{
    struct stat sx;
    struct stat sy;
    if (fstat(x, &sx) != 0 || fstat(y, &sy) != 0) {
        return false;
    }
    if (sx.st_dev != sy.st_dev || sx.st_ino != sy.st_ino) {
        return false;
    }
#ifdef F_GETFL
    return fcntl(x, F_GETFL) == fcntl(y, F_GETFL);
#else
    return true;
#endif
}

bool seam_value_equal(const seam_value *a, const seam_value *b)
{
    if (a == b) {
        return true;
    }
    if (a == NULL || b == NULL) {
        return false;
    }
    if (is_integer(a) && is_integer(b)) {
        return integers_equal(a, b);
    }
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case SEAM_TYPE_NULL:
        return true;
    case SEAM_TYPE_BOOL:
        return a->as.b == b->as.b;
    case SEAM_TYPE_DOUBLE:
    case SEAM_TYPE_DATE:
        return doubles_equal(a->as.d, b->as.d);
    case SEAM_TYPE_STRING:
    case SEAM_TYPE_DATA:
        return a->as.blob.len == b->as.blob.len &&
               memcmp(a->as.blob.bytes, b->as.blob.bytes, a->as.blob.len) == 0;
    case SEAM_TYPE_UUID:
        return memcmp(a->as.uuid, b->as.uuid, 16) == 0;
    case SEAM_TYPE_FD:
        return same_file(a->as.fd, b->as.fd);
    case SEAM_TYPE_ARRAY:
        if (a->as.array.count != b->as.array.count) {
            return false;
        }
        for (size_t i = 0; i < a->as.array.count; i++) {
            if (!seam_value_equal(a->as.array.items[i], b->as.array.items[i])) {
                return false;
            }
        }
        return true;
    case SEAM_TYPE_DICT:
        if (a->as.dict.count != b->as.dict.count) {
            return false;
        }
        for (size_t i = 0; i < a->as.dict.count; i++) {
            const seam__dict_entry *e = &a->as.dict.entries[i];
            ptrdiff_t at = dict_find(b, e->key, e->key_len, NULL);
            if (at < 0 || !seam_value_equal(e->value, b->as.dict.entries[at].value)) {
                return false;
            }
        }
        return true;
    default:
        return false;
    }
}

seam_value *seam_value_copy(const seam_value *v)
{
    if (v == NULL) {
        return NULL;
    }
    if (seam__value_is_shared(v)) {
        return (seam_value *)v; /* immutable: a copy could not differ */
    }
    switch (v->type) {
    case SEAM_TYPE_STRING:
    case SEAM_TYPE_DATA:
        return blob_new(v->type, v->as.blob.bytes, v->as.blob.len);
    case SEAM_TYPE_FD:
        return seam_value_new_fd(v->as.fd);
    case SEAM_TYPE_ARRAY: {
        seam_value *c = seam_value_new_array();
        for (size_t i = 0; c != NULL && i < v->as.array.count; i++) {
            seam_value *item = seam_value_copy(v->as.array.items[i]);
            if (item == NULL || seam_array_append_take(c, item) < 0) {
                seam_value_unref(c);
                c = NULL;
            }
        }
        return c;
    }
    case SEAM_TYPE_DICT: {
        seam_value *c = seam_value_new_dict();
        for (size_t i = 0; c != NULL && i < v->as.dict.count; i++) {
            const seam__dict_entry *e = &v->as.dict.entries[i];
            seam_value *item = seam_value_copy(e->value);
            if (item == NULL || seam__dict_put(c, e->key, e->key_len, item, true) < 0) {
                seam_value_unref(c);
                c = NULL;
            }
        }
        return c;
    }
    default: {
        seam_value *c = value_alloc(v->type);
        if (c != NULL) {
            c->as = v->as;
        }
        return c;
    }
    }
}
