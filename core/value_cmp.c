/* SPDX-License-Identifier: MIT */
/* value_cmp.c - deep equality and deep copies of values. */
#include "internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

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
            ptrdiff_t at = seam__dict_find(b, e->key, e->key_len);
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
        return seam__blob_new(v->type, v->as.blob.bytes, v->as.blob.len);
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
        seam_value *c = seam__value_alloc(v->type);
        if (c != NULL) {
            c->as = v->as;
        }
        return c;
    }
    }
}
