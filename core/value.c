/* SPDX-License-Identifier: MIT */
/* value.c - reference-counted typed values: construction, references and
 * release, access, arrays. Dictionaries are dict.c, equality and copies
 * value_cmp.c. */
#include "internal.h"

#include <assert.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    [SHARED_STRING] = {.type = SEAM_TYPE_STRING, .as.blob = {0, (uint8_t *)"", 0}},
    [SHARED_DATA] = {.type = SEAM_TYPE_DATA, .as.blob = {0, (uint8_t *)"", 0}},
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

seam_value *seam__value_alloc(seam_type type)
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
    seam_value *v = seam__value_alloc(SEAM_TYPE_INT64);
    if (v != NULL) {
        v->as.i = i;
    }
    return v;
}

seam_value *seam_value_new_uint64(uint64_t u)
{
    seam_value *v = seam__value_alloc(SEAM_TYPE_UINT64);
    if (v != NULL) {
        v->as.u = u;
    }
    return v;
}

seam_value *seam_value_new_double(double d)
{
    seam_value *v = seam__value_alloc(SEAM_TYPE_DOUBLE);
    if (v != NULL) {
        v->as.d = d;
    }
    return v;
}

seam_value *seam__blob_new(seam_type type, const void *bytes, size_t len)
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
    v->as.blob.cap = len;
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
    return seam__blob_new(SEAM_TYPE_STRING, s, len);
}

seam_value *seam_value_new_data(const void *bytes, size_t len)
{
    if (bytes == NULL && len > 0) {
        return NULL;
    }
    return seam__blob_new(SEAM_TYPE_DATA, bytes, len);
}

seam_value *seam_value_new_date(double seconds)
{
    if (!isfinite(seconds)) {
        return NULL;
    }
    seam_value *v = seam__value_alloc(SEAM_TYPE_DATE);
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
    seam_value *v = seam__value_alloc(SEAM_TYPE_UUID);
    if (v != NULL) {
        memcpy(v->as.uuid, uuid, 16);
    }
    return v;
}

seam_value *seam_value_new_array(void)
{
    return seam__value_alloc(SEAM_TYPE_ARRAY);
}

seam_value *seam_value_new_dict(void)
{
    return seam__value_alloc(SEAM_TYPE_DICT);
}

seam_value *seam__value_new_fd_owned(int fd)
{
    seam_value *v = seam__value_alloc(SEAM_TYPE_FD);
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

void seam__array_clear(seam_value *array, seam__arena *home, uint32_t *freed)
{
    for (size_t i = 0; i < array->as.array.count; i++) {
        seam__value_drop(array->as.array.items[i], home, freed);
    }
    if (!seam__arena_holds(array, array->as.array.items)) {
        free(array->as.array.items);
    }
    array->as.array.items = NULL;
    array->as.array.count = 0;
    array->as.array.cap = 0;
}

/* Whether the caller's reference to v was the last. One that sees the
 * count at 1 needs no atomic update: no other thread holds v to change
 * it. */
static bool last_reference(seam_value *v)
{
    return atomic_load_explicit(&v->refs, memory_order_acquire) == 1 ||
           atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1;
}

void seam__value_drop(seam_value *v, seam__arena *home, uint32_t *freed)
{
    if (v == NULL || seam__value_is_shared(v) || !last_reference(v)) {
        return;
    }
    seam__arena *a = seam__arena_of(v);
    uint32_t own = 0;
    if (a != home) {
        /* Not the caller's arena: freed, and given back, on its own. */
        freed = &own;
    }
    switch (v->type) {
    case SEAM_TYPE_ARRAY:
        seam__array_clear(v, a, freed);
        break;
    case SEAM_TYPE_DICT:
        seam__dict_clear(v, a, freed);
        break;
    case SEAM_TYPE_FD:
        close(v->as.fd);
        break;
    case SEAM_TYPE_DATA:
        if (v->as.blob.memfd != NULL) {
            seam__value_memfd_drop(v);
        }
        break;
    default:
        break;
    }
    if (a == NULL) {
        free(v);
        return;
    }
    (*freed)++;
    if (a != home) {
        seam__arena_values_freed(a, own);
    }
}

seam_value *seam_value_ref(seam_value *v)
{
    if (v != NULL && !seam__value_is_shared(v)) {
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    }
    return v;
}

void seam_value_unref(seam_value *v)
{
    seam__value_drop(v, NULL, NULL);
}

seam_type seam_value_type(const seam_value *v)
{
    return v != NULL ? (seam_type)v->type : (seam_type)0;
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
        seam_value **items;
        if (seam__arena_holds(array, array->as.array.items)) {
            /* Decoded items stay where they are: the new ones go to the heap. */
            items = malloc(cap * sizeof(*items));
            if (items != NULL) {
                memcpy(items, array->as.array.items, array->as.array.count * sizeof(*items));
            }
        } else {
            items = realloc(array->as.array.items, cap * sizeof(*items));
        }
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
