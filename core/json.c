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

static const char *const reserved[] = {"$data",  "$date",   "$uuid",   "$fd",
                                       "$int64", "$uint64", "$double", "$dict"};

/* The largest integer a double holds exactly, and so the largest a reader
 * that keeps every number as a double (JavaScript, jq 1.6) reads back. */
#define JSON_SAFE_INT 9007199254740991LL

/* Every double of magnitude 2^53 or more is integral; below, casting tells. */
static bool double_is_integral(double d)
{
    return d >= 9007199254740992.0 || d <= -9007199254740992.0 || d == (double)(int64_t)d;
}

/* The shortest decimal text that reads back as d, with a point or an
 * exponent so that it is never taken for an integer. */
static void double_text(double d, char out[40])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, d);
        if (strtod(out, NULL) == d) {
            break;
        }
    }
    if (strpbrk(out, ".eEn") == NULL) {
        strcat(out, ".0");
    }
}

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

static json_t *to_json(const seam_value *v, unsigned flags)
{
    char text[40];
    bool portable = (flags & SEAM_JSON_PORTABLE) != 0;
    switch (v->type) {
    case SEAM_TYPE_NULL:
        return json_null();
    case SEAM_TYPE_BOOL:
        return json_boolean(v->as.b);
    case SEAM_TYPE_INT64:
        if (portable && (v->as.i > JSON_SAFE_INT || v->as.i < -JSON_SAFE_INT)) {
            snprintf(text, sizeof(text), "%" PRId64, v->as.i);
            return tagged("$int64", json_string(text));
        }
        return json_integer(v->as.i);
    case SEAM_TYPE_UINT64:
        if (v->as.u <= (uint64_t)(portable ? JSON_SAFE_INT : INT64_MAX)) {
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
        if (portable && double_is_integral(v->as.d)) {
            /* 1.0 would come back from a double-only reader as 1, an int */
            double_text(v->as.d, text);
            return tagged("$double", json_string(text));
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
            if (json_array_append_new(a, to_json(v->as.array.items[i], flags)) != 0) {
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
            if (json_object_set_new(o, e->key, to_json(e->value, flags)) != 0) {
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
    json_t *j = to_json(v, flags);
    if (j == NULL) {
        return NULL;
    }
    size_t jflags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
    jflags |= (flags & SEAM_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
    char *s = json_dumps(j, jflags);
    json_decref(j);
    return s;
}

/* Reading keeps the path to the value being converted (member or element
 * index at each depth), so that a value jansson accepted but seam cannot
 * represent can be located in the text afterwards. */
#define JSON_PATH_MAX 2048 /* jansson's own nesting limit */

typedef struct json_reader {
    size_t path[JSON_PATH_MAX];
    size_t depth;
    size_t fail_depth; /* the path's length at the failing value */
    const char *reason;
} json_reader;

static int reader_fail(json_reader *rd, int code, const char *reason)
{
    rd->fail_depth = rd->depth;
    rd->reason = reason;
    return code;
}

static int from_json(json_reader *rd, json_t *j, seam_value **out);

/* Converts the child at index i of the current value. */
static int child_from_json(json_reader *rd, size_t i, json_t *j, seam_value **out)
{
    if (rd->depth >= JSON_PATH_MAX) {
        return reader_fail(rd, SEAM_EJSON, "nested too deeply");
    }
    rd->path[rd->depth++] = i;
    int r = from_json(rd, j, out);
    rd->depth--;
    return r;
}

/* A JSON object read as a plain dictionary, reserved keys or not. */
static int dict_from_json(json_reader *rd, json_t *j, seam_value **out)
{
    seam_value *v = seam_value_new_dict();
    const char *key;
    json_t *item;
    size_t i = 0;
    json_object_foreach (j, key, item) {
        seam_value *c = NULL;
        int r = v != NULL ? child_from_json(rd, i, item, &c) : SEAM_ENOMEM;
        if (r == 0) {
            r = seam_dict_set_take(v, key, c);
            if (r == SEAM_EINVAL) {
                rd->path[rd->depth] = i;
                rd->depth++;
                r = reader_fail(rd, SEAM_EJSON, "an object key holds a NUL character");
                rd->depth--;
            }
        }
        if (r < 0) {
            seam_value_unref(v);
            return r;
        }
        i++;
    }
    if (v == NULL) {
        return SEAM_ENOMEM;
    }
    *out = v;
    return 0;
}

static int special_from_json(json_reader *rd, const char *key, json_t *inner, seam_value **out)
{
    const char *s = json_string_value(inner);
    seam_value *v = NULL;
    const char *why = NULL;
    int r = SEAM_EJSON;
    if (rd->depth >= JSON_PATH_MAX) {
        return reader_fail(rd, SEAM_EJSON, "nested too deeply");
    }
    rd->path[rd->depth++] = 0; /* errors point at the inner value */
    if (strcmp(key, "$dict") == 0) {
        if (json_is_object(inner)) {
            r = dict_from_json(rd, inner, out);
            rd->depth--;
            return r;
        }
        why = "$dict holds an object";
    } else if (strcmp(key, "$fd") == 0) {
        r = SEAM_EFD;
        why = "$fd cannot be read from text: a number names no descriptor here";
    } else if (strcmp(key, "$date") == 0) {
        v = json_is_number(inner) ? seam_value_new_date(json_number_value(inner)) : NULL;
        why = "$date holds a finite number of seconds since the epoch";
    } else if (s == NULL) {
        why = strcmp(key, "$data") == 0     ? "$data holds a base64 string"
              : strcmp(key, "$uuid") == 0   ? "$uuid holds a string"
              : strcmp(key, "$uint64") == 0 ? "$uint64 holds a string of decimal digits"
              : strcmp(key, "$int64") == 0  ? "$int64 holds a string of decimal digits"
                                            : "$double holds a string: a number, \"nan\", \"inf\" "
                                              "or \"-inf\"";
    } else if (strcmp(key, "$data") == 0) {
        v = base64_decode(s, json_string_length(inner));
        why = "$data is not base64 (RFC 4648: A-Z a-z 0-9 + /, padded with = to a "
              "multiple of 4)";
    } else if (strcmp(key, "$uuid") == 0) {
        uint8_t u[16];
        v = uuid_parse(s, u) ? seam_value_new_uuid(u) : NULL;
        why = "$uuid is not 8-4-4-4-12 hexadecimal digits";
    } else if (strcmp(key, "$uint64") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(s, &end, 10);
        bool ok = s[0] >= '0' && s[0] <= '9' && *end == 0 && errno == 0;
        v = ok ? seam_value_new_uint64(u) : NULL;
        why = "$uint64 is not decimal digits from 0 to 18446744073709551615";
    } else if (strcmp(key, "$int64") == 0) {
        char *end = NULL;
        errno = 0;
        long long i = strtoll(s, &end, 10);
        bool digit = (s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9');
        v = digit && *end == 0 && errno == 0 ? seam_value_new_int64(i) : NULL;
        why = "$int64 is not decimal digits from -9223372036854775808 to 9223372036854775807";
    } else if (strcmp(key, "$double") == 0) {
        v = strcmp(s, "nan") == 0    ? seam_value_new_double(NAN)
            : strcmp(s, "inf") == 0  ? seam_value_new_double(INFINITY)
            : strcmp(s, "-inf") == 0 ? seam_value_new_double(-INFINITY)
                                     : NULL;
        /* A finite number as text: the form that survives readers that
         * would turn the number 1.0 into the integer 1. */
        json_error_t jerr;
        bool numeric = s[0] == '-' || (s[0] >= '0' && s[0] <= '9');
        size_t n_len = strlen(s);
        numeric = numeric && n_len > 0 && s[n_len - 1] >= '0' && s[n_len - 1] <= '9';
        json_t *n = v == NULL && numeric ? json_loads(s, JSON_DECODE_ANY, &jerr) : NULL;
        if (n != NULL && json_is_number(n)) {
            double d = json_number_value(n);
            v = json_is_integer(n) ? seam_value_new_double(strtod(s, NULL))
                                   : seam_value_new_double(d);
        }
        json_decref(n);
        why = "$double is a JSON number as a string, \"nan\", \"inf\" or \"-inf\"";
    }
    if (v == NULL) {
        r = reader_fail(rd, r, why);
        rd->depth--;
        return r;
    }
    rd->depth--;
    *out = v;
    return 0;
}

static int from_json(json_reader *rd, json_t *j, seam_value **out)
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
        if (v == NULL) {
            return reader_fail(rd, SEAM_EJSON, "the string is not valid UTF-8");
        }
        break;
    case JSON_ARRAY: {
        v = seam_value_new_array();
        size_t i;
        json_t *item;
        json_array_foreach (j, i, item) {
            seam_value *c = NULL;
            int r = v != NULL ? child_from_json(rd, i, item, &c) : SEAM_ENOMEM;
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
                    return special_from_json(rd, key, item, out);
                }
            }
        }
        return dict_from_json(rd, j, out);
    }
    }
    if (v == NULL) {
        return SEAM_ENOMEM;
    }
    *out = v;
    return 0;
}

/* ---- locating a value in text jansson has accepted ---- */

static size_t skip_space(const char *t, size_t i)
{
    while (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r') {
        i++;
    }
    return i;
}

/* Past one JSON value starting at i (the text is known to be valid). */
static size_t skip_value(const char *t, size_t i)
{
    if (t[i] == '"') {
        for (i++; t[i] != '"'; i++) {
            if (t[i] == '\\') {
                i++;
            }
        }
        return i + 1;
    }
    if (t[i] == '[' || t[i] == '{') {
        size_t depth = 0;
        for (;; i++) {
            if (t[i] == '"') {
                i = skip_value(t, i) - 1;
            } else if (t[i] == '[' || t[i] == '{') {
                depth++;
            } else if ((t[i] == ']' || t[i] == '}') && --depth == 0) {
                return i + 1;
            }
        }
    }
    while (t[i] != 0 && t[i] != ',' && t[i] != ']' && t[i] != '}' && t[i] != ' ' && t[i] != '\t' &&
           t[i] != '\n' && t[i] != '\r') {
        i++;
    }
    return i;
}

/* The offset of the value at path (member or element indices). Objects
 * keep their members in text order (jansson preserves insertion order and
 * duplicates were refused), so an index is a position in the text. */
static size_t locate(const char *t, const size_t *path, size_t depth)
{
    size_t i = skip_space(t, 0);
    for (size_t d = 0; d < depth; d++) {
        bool object = t[i] == '{';
        i = skip_space(t, i + 1);
        for (size_t k = 0;; k++) {
            if (object) {
                i = skip_space(t, skip_value(t, i)); /* the key */
                i = skip_space(t, i + 1);            /* past ':' */
            }
            if (k == path[d]) {
                break;
            }
            i = skip_space(t, skip_value(t, i));
            i = skip_space(t, i + 1); /* past ',' */
        }
    }
    return i;
}

static void set_error(seam_json_error *err, const char *text, size_t offset, const char *reason)
{
    err->offset = offset;
    err->line = 1;
    err->column = 1;
    for (size_t i = 0; i < offset && text[i] != 0; i++) {
        if (text[i] == '\n') {
            err->line++;
            err->column = 1;
        } else {
            err->column++;
        }
    }
    snprintf(err->reason, sizeof(err->reason), "%s", reason);
}

int seam_value_from_json_ex(const char *text, seam_value **out, seam_json_error *error)
{
    if (text == NULL || out == NULL) {
        return SEAM_EINVAL;
    }
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        if (error != NULL) {
            char reason[sizeof(error->reason)];
            const char *hint = strncmp(jerr.text, "too big integer", 15) == 0
                                   ? " (integers beyond int64 are written {\"$uint64\": \"...\"})"
                               : strncmp(jerr.text, "real number overflow", 20) == 0
                                   ? " (a double beyond its range; infinity is written "
                                     "{\"$double\": \"inf\"})"
                                   : "";
            snprintf(reason, sizeof(reason), "%s%s", jerr.text, hint);
            size_t pos = jerr.position > 0 ? (size_t)jerr.position : 0;
            size_t len = strlen(text);
            set_error(error, text, pos < len ? pos : len, reason);
        }
        return SEAM_EJSON;
    }
    json_reader *rd = calloc(1, sizeof(*rd));
    if (rd == NULL) {
        json_decref(j);
        return SEAM_ENOMEM;
    }
    int r = from_json(rd, j, out);
    json_decref(j);
    if (r < 0 && error != NULL) {
        size_t at = rd->reason != NULL ? locate(text, rd->path, rd->fail_depth) : 0;
        set_error(error, text, at, rd->reason != NULL ? rd->reason : seam_strerror(r));
    }
    free(rd);
    return r;
}

int seam_value_from_json(const char *text, seam_value **out)
{
    return seam_value_from_json_ex(text, out, NULL);
}
