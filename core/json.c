/* SPDX-License-Identifier: MIT */
/* json.c - values to JSON text and back (for people and the CLI), through
 * jansson. Types JSON lacks travel as one-key objects named "$type". */
#include "internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const uint8_t *in, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)in[i] << 16;
        if (i + 1 < len) {
            n |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < len) {
            n |= in[i + 2];
        }
        out[o++] = b64[(n >> 18) & 63];
        out[o++] = b64[(n >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(n >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[n & 63] : '=';
    }
    out[o] = 0;
    return out;
}

static int b64_index(char c)
{
    const char *p = c != 0 ? strchr(b64, c) : NULL;
    return p != NULL ? (int)(p - b64) : -1;
}

/* Strict: length a multiple of four, '=' padding only closing the text. */
static seam_value *base64_decode(const char *in, size_t len)
{
    if (len % 4 != 0) {
        return NULL;
    }
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=') {
        pad = in[len - 2] == '=' ? 2 : 1;
    }
    uint8_t *out = malloc(len / 4 * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t n = 0;
        for (size_t k = 0; k < 4; k++) {
            bool padding = i + k >= len - pad;
            int x = padding ? 0 : b64_index(in[i + k]);
            if (x < 0) {
                free(out);
                return NULL;
            }
            n = n << 6 | (uint32_t)x;
        }
        out[o++] = (uint8_t)(n >> 16);
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
    }
    seam_value *v = seam_value_new_data(out, o - pad);
    free(out);
    return v;
}

static void uuid_format(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

static bool uuid_parse(const char *s, uint8_t out[16])
{
    if (strlen(s) != 36) {
        return false;
    }
    size_t o = 0;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-') {
                return false;
            }
            continue;
        }
        unsigned x;
        if (sscanf(s + i, "%2x", &x) != 1 || !strchr("0123456789abcdefABCDEF", s[i]) ||
            !strchr("0123456789abcdefABCDEF", s[i + 1])) {
            return false;
        }
        out[o++] = (uint8_t)x;
        i += 2;
    }
    return true;
}

static const char *const reserved[] = {"$data",   "$date",   "$uuid", "$fd",
                                       "$uint64", "$double", "$dict"};

static bool is_reserved(const char *key)
{
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(key, reserved[i]) == 0) {
            return true;
        }
    }
    return false;
}

static json_t *tagged(const char *key, json_t *inner)
{
    return inner != NULL ? json_pack("{so}", key, inner) : NULL;
}

static json_t *to_json(const seam_value *v)
{
    char text[40];
    switch (v->type) {
    case SEAM_TYPE_NULL:
        return json_null();
    case SEAM_TYPE_BOOL:
        return json_boolean(v->as.b);
    case SEAM_TYPE_INT64:
        return json_integer(v->as.i);
    case SEAM_TYPE_UINT64:
        if (v->as.u <= (uint64_t)INT64_MAX) {
            return json_integer((json_int_t)v->as.u);
        }
        snprintf(text, sizeof(text), "%" PRIu64, v->as.u);
        return tagged("$uint64", json_string(text));
    case SEAM_TYPE_DOUBLE:
        if (isnan(v->as.d)) {
            return tagged("$double", json_string("nan"));
        }
        if (isinf(v->as.d)) {
            return tagged("$double", json_string(v->as.d > 0 ? "inf" : "-inf"));
        }
        return json_real(v->as.d);
    case SEAM_TYPE_DATE:
        return tagged("$date", json_real(v->as.d));
    case SEAM_TYPE_STRING:
        return json_stringn((const char *)v->as.blob.bytes, v->as.blob.len);
    case SEAM_TYPE_DATA: {
        char *s = base64_encode(v->as.blob.bytes, v->as.blob.len);
        json_t *j = s != NULL ? tagged("$data", json_string(s)) : NULL;
        free(s);
        return j;
    }
    case SEAM_TYPE_UUID:
        uuid_format(v->as.uuid, text);
        return tagged("$uuid", json_string(text));
    case SEAM_TYPE_FD:
        return tagged("$fd", json_integer(v->as.fd));
    case SEAM_TYPE_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < v->as.array.count; i++) {
            if (json_array_append_new(a, to_json(v->as.array.items[i])) != 0) {
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    case SEAM_TYPE_DICT: {
        json_t *o = json_object();
        for (size_t i = 0; o != NULL && i < v->as.dict.count; i++) {
            const seam__dict_entry *e = &v->as.dict.entries[i];
            if (json_object_set_new(o, e->key, to_json(e->value)) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        if (o != NULL && v->as.dict.count == 1 && is_reserved(v->as.dict.entries[0].key)) {
            o = tagged("$dict", o);
        }
        return o;
    }
    }
    return NULL;
}

char *seam_value_to_json(const seam_value *v, unsigned flags)
{
    if (v == NULL) {
        return NULL;
    }
    json_t *j = to_json(v);
    if (j == NULL) {
        return NULL;
    }
    size_t jflags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
    jflags |= (flags & SEAM_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
    char *s = json_dumps(j, jflags);
    json_decref(j);
    return s;
}

static int from_json(json_t *j, seam_value **out);

/* A JSON object read as a plain dictionary, reserved keys or not. */
static int dict_from_json(json_t *j, seam_value **out)
{
    seam_value *v = seam_value_new_dict();
    const char *key;
    json_t *item;
    json_object_foreach (j, key, item) {
        seam_value *c = NULL;
        int r = v != NULL ? from_json(item, &c) : SEAM_ENOMEM;
        if (r == 0) {
            r = seam_dict_set_take(v, key, c);
            r = r == SEAM_EINVAL ? SEAM_EJSON : r;
        }
        if (r < 0) {
            seam_value_unref(v);
            return r;
        }
    }
    if (v == NULL) {
        return SEAM_ENOMEM;
    }
    *out = v;
    return 0;
}

static int special_from_json(const char *key, json_t *inner, seam_value **out)
{
    const char *s = json_string_value(inner);
    seam_value *v = NULL;
    if (strcmp(key, "$dict") == 0) {
        return json_is_object(inner) ? dict_from_json(inner, out) : SEAM_EJSON;
    }
    if (strcmp(key, "$fd") == 0) {
        return SEAM_EFD;
    }
    if (strcmp(key, "$date") == 0) {
        if (!json_is_number(inner)) {
            return SEAM_EJSON;
        }
        v = seam_value_new_date(json_number_value(inner));
    } else if (s == NULL) {
        return SEAM_EJSON;
    } else if (strcmp(key, "$data") == 0) {
        v = base64_decode(s, json_string_length(inner));
    } else if (strcmp(key, "$uuid") == 0) {
        uint8_t u[16];
        v = uuid_parse(s, u) ? seam_value_new_uuid(u) : NULL;
    } else if (strcmp(key, "$uint64") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(s, &end, 10);
        bool ok = s[0] >= '0' && s[0] <= '9' && *end == 0 && errno == 0;
        v = ok ? seam_value_new_uint64(u) : NULL;
    } else if (strcmp(key, "$double") == 0) {
        double d = strcmp(s, "nan") == 0    ? NAN
                   : strcmp(s, "inf") == 0  ? INFINITY
                   : strcmp(s, "-inf") == 0 ? -INFINITY
                                            : 0.0;
        v = d != 0.0 ? seam_value_new_double(d) : NULL;
    }
    if (v == NULL) {
        return SEAM_EJSON;
    }
    *out = v;
    return 0;
}

static int from_json(json_t *j, seam_value **out)
{
    seam_value *v = NULL;
    switch (json_typeof(j)) {
    case JSON_NULL:
        v = seam_value_new_null();
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v = seam_value_new_bool(json_is_true(j));
        break;
    case JSON_INTEGER:
        v = seam_value_new_int64(json_integer_value(j));
        break;
    case JSON_REAL:
        v = seam_value_new_double(json_real_value(j));
        break;
    case JSON_STRING:
        v = seam_value_new_string_len(json_string_value(j), json_string_length(j));
        break;
    case JSON_ARRAY: {
        v = seam_value_new_array();
        size_t i;
        json_t *item;
        json_array_foreach (j, i, item) {
            seam_value *c = NULL;
            int r = v != NULL ? from_json(item, &c) : SEAM_ENOMEM;
            if (r == 0) {
                r = seam_array_append_take(v, c);
            }
            if (r < 0) {
                seam_value_unref(v);
                return r;
            }
        }
        break;
    }
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        if (json_object_size(j) == 1) {
            json_object_foreach (j, key, item) {
                if (is_reserved(key)) {
                    return special_from_json(key, item, out);
                }
            }
        }
        return dict_from_json(j, out);
    }
    }
    if (v == NULL) {
        return json_is_string(j) ? SEAM_EJSON : SEAM_ENOMEM;
    }
    *out = v;
    return 0;
}

int seam_value_from_json(const char *text, seam_value **out)
{
    if (text == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    json_error_t error;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
    if (j == NULL) {
        return SEAM_EJSON;
    }
    int r = from_json(j, out);
    json_decref(j);
    return r;
}
