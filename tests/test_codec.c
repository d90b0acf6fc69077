/* SPDX-License-Identifier: MIT */
/* test_codec.c - values to CBOR and back: every type round-trips, the
 * encoder writes RFC 8949 bytes, and every malformed or hostile input is
 * refused with its own error code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cbor.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- helpers ---- */

/* Parses "aa bb cc" hex text into a malloc'd buffer; *len gets its size. */
static uint8_t *hex(const char *text, size_t *len)
{
    uint8_t *out = malloc(strlen(text) / 2 + 1);
    assert_non_null(out);
    size_t n = 0;
    unsigned byte;
    int used;
    while (sscanf(text, " %2x%n", &byte, &used) == 1) {
        out[n++] = (uint8_t)byte;
        text += used;
    }
    *len = n;
    return out;
}

static int decode_hex(const char *text, const seam_decode_limits *lim, seam_value **out)
{
    size_t n;
    uint8_t *bytes = hex(text, &n);
    int r = seam_value_decode(bytes, n, lim, out);
    free(bytes);
    return r;
}

#define assert_decode_fails(text, lim, want) check_decode_fails(text, lim, want, __FILE__, __LINE__)

static void check_decode_fails(const char *text, const seam_decode_limits *lim, int want,
                               const char *file, int line)
{
    seam_value *v = NULL;
    int r = decode_hex(text, lim, &v);
    if (r != want) {
        print_error("%s:%d: decoding [%s] gave %s, want %s\n", file, line, text, seam_errname(r),
                    seam_errname(want));
        seam_value_unref(v);
        fail();
    }
    assert_null(v);
}

#define assert_decodes(text, lim) check_decodes(text, lim, __FILE__, __LINE__)

/* Returns the decoded value, which the caller releases. */
static seam_value *check_decodes(const char *text, const seam_decode_limits *lim, const char *file,
                                 int line)
{
    seam_value *v = NULL;
    int r = decode_hex(text, lim, &v);
    if (r != 0) {
        print_error("%s:%d: decoding [%s] gave %s\n", file, line, text, seam_errname(r));
        fail();
    }
    assert_non_null(v);
    return v;
}

#define assert_encodes_to(v, text) check_encodes_to(v, text, __FILE__, __LINE__)

static void check_encodes_to(const seam_value *v, const char *text, const char *file, int line)
{
    size_t want_len;
    uint8_t *want = hex(text, &want_len);
    uint8_t *got = NULL;
    size_t got_len = 0;
    assert_int_equal(seam_value_encode(v, &got, &got_len), 0);
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        print_error("%s:%d: encoding differs from [%s]; got", file, line, text);
        for (size_t i = 0; i < got_len; i++) {
            print_error(" %02x", got[i]);
        }
        print_error("\n");
        fail();
    }
    free(got);
    free(want);
}

/* Encodes and decodes v with the public API, asserts the result equals v,
 * and returns it (the caller releases it). Consumes v. */
static seam_value *round_trip(seam_value *v)
{
    assert_non_null(v);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(seam_value_encode(v, &bytes, &len), 0);
    seam_value *back = NULL;
    assert_int_equal(seam_value_decode(bytes, len, NULL, &back), 0);
    assert_true(seam_value_equal(v, back));
    assert_true(seam_value_equal(back, v));
    free(bytes);
    seam_value_unref(v);
    return back;
}

static void assert_round_trips(seam_value *v)
{
    seam_value_unref(round_trip(v));
}

static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

/* Every test must leave the descriptors as it found them: a decoded fd is a
 * duplicate the value owns and closes. */
static int setup_count_fds(void **state)
{
    *state = (void *)(intptr_t)count_open_fds();
    return 0;
}

static int teardown_check_fds(void **state)
{
    int before = (int)(intptr_t)*state;
    int after = count_open_fds();
    if (after != before) {
        print_error("open descriptors: %d before the test, %d after\n", before, after);
        return -1;
    }
    return 0;
}

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

/* ---- round trips ---- */

static void test_null_and_bools_round_trip(void **state)
{
    (void)state;
    seam_value *v = round_trip(seam_value_new_null());
    assert_int_equal(seam_value_type(v), SEAM_TYPE_NULL);
    seam_value_unref(v);

    bool b = false;
    v = round_trip(seam_value_new_bool(true));
    assert_true(seam_value_get_bool(v, &b));
    assert_true(b);
    seam_value_unref(v);

    v = round_trip(seam_value_new_bool(false));
    assert_true(seam_value_get_bool(v, &b));
    assert_false(b);
    seam_value_unref(v);
}

static void test_int64_values_round_trip_at_every_head_width(void **state)
{
    (void)state;
    static const int64_t cases[] = {
        0,          -1,        1,         23,        24,        -24,           -25,    255,
        256,        -256,      -257,      65535,     65536,     -65536,        -65537, 4294967295,
        4294967296, INT32_MIN, INT32_MAX, INT64_MAX, INT64_MIN, INT64_MIN + 1,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = round_trip(seam_value_new_int64(cases[i]));
        int64_t got = 0;
        assert_int_equal(seam_value_type(v), SEAM_TYPE_INT64);
        assert_true(seam_value_get_int64(v, &got));
        assert_true(got == cases[i]);
        seam_value_unref(v);
    }
}

static void test_uint64_above_int64_max_round_trips_as_uint64(void **state)
{
    (void)state;
    static const uint64_t cases[] = {(uint64_t)INT64_MAX + 1, 0xFEDCBA9876543210u, UINT64_MAX};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = round_trip(seam_value_new_uint64(cases[i]));
        uint64_t got = 0;
        assert_int_equal(seam_value_type(v), SEAM_TYPE_UINT64);
        assert_true(seam_value_get_uint64(v, &got));
        assert_true(got == cases[i]);
        seam_value_unref(v);
    }
}

static void test_small_uint64_arrives_as_int64_of_same_value(void **state)
{
    (void)state;
    seam_value *v = round_trip(seam_value_new_uint64(42));
    int64_t i = 0;
    uint64_t u = 0;
    assert_int_equal(seam_value_type(v), SEAM_TYPE_INT64);
    assert_true(seam_value_get_int64(v, &i));
    assert_true(seam_value_get_uint64(v, &u));
    assert_int_equal(i, 42);
    assert_int_equal(u, 42);
    seam_value_unref(v);
}

static void test_doubles_round_trip_bit_for_bit(void **state)
{
    (void)state;
    const double cases[] = {
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        3.141592653589793,
        1e300,
        -1e-300,
        5e-324, /* smallest subnormal */
        INFINITY,
        -INFINITY,
        NAN,
        -NAN,
        bits_to_double(0x7FF0000000000001u),
        65504.0, /* exactly representable as a half: still written as float64 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = round_trip(seam_value_new_double(cases[i]));
        double got = 0;
        assert_int_equal(seam_value_type(v), SEAM_TYPE_DOUBLE);
        assert_true(seam_value_get_double(v, &got));
        /* equal() treats +0 and -0 alike; the wire must not. */
        assert_true(double_to_bits(got) == double_to_bits(cases[i]));
        seam_value_unref(v);
    }
}

static void test_strings_round_trip_including_empty_multibyte_and_nul(void **state)
{
    (void)state;
    size_t len = 99;
    seam_value *v = round_trip(seam_value_new_string(""));
    assert_string_equal(seam_value_get_string(v, &len), "");
    assert_int_equal(len, 0);
    seam_value_unref(v);

    const char *multi = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e \xe4\xb8\xad\xe6\x96\x87";
    v = round_trip(seam_value_new_string(multi));
    assert_string_equal(seam_value_get_string(v, &len), multi);
    assert_int_equal(len, strlen(multi));
    seam_value_unref(v);

    v = round_trip(seam_value_new_string_len("a\0b", 3));
    assert_memory_equal(seam_value_get_string(v, &len), "a\0b", 4);
    assert_int_equal(len, 3);
    seam_value_unref(v);

    char long_text[70000];
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = 0;
    v = round_trip(seam_value_new_string(long_text));
    assert_int_equal(strlen(seam_value_get_string(v, NULL)), sizeof(long_text) - 1);
    seam_value_unref(v);
}

static void test_data_round_trips_empty_and_binary(void **state)
{
    (void)state;
    size_t len = 99;
    seam_value *v = round_trip(seam_value_new_data(NULL, 0));
    assert_int_equal(seam_value_type(v), SEAM_TYPE_DATA);
    assert_non_null(seam_value_get_data(v, &len));
    assert_int_equal(len, 0);
    seam_value_unref(v);

    uint8_t all[256];
    for (size_t i = 0; i < sizeof(all); i++) {
        all[i] = (uint8_t)(255 - i);
    }
    v = round_trip(seam_value_new_data(all, sizeof(all)));
    assert_memory_equal(seam_value_get_data(v, &len), all, sizeof(all));
    assert_int_equal(len, sizeof(all));
    seam_value_unref(v);
}

static void test_dates_round_trip(void **state)
{
    (void)state;
    const double cases[] = {0.0, 1e9, 1700000000.123456, -86400.5, -0.0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = round_trip(seam_value_new_date(cases[i]));
        double got = 1;
        assert_int_equal(seam_value_type(v), SEAM_TYPE_DATE);
        assert_true(seam_value_get_date(v, &got));
        assert_true(double_to_bits(got) == double_to_bits(cases[i]));
        seam_value_unref(v);
    }
}

static void test_uuid_round_trips(void **state)
{
    (void)state;
    const uint8_t id[16] = {0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3,
                            0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00};
    uint8_t got[16] = {0};
    seam_value *v = round_trip(seam_value_new_uuid(id));
    assert_int_equal(seam_value_type(v), SEAM_TYPE_UUID);
    assert_true(seam_value_get_uuid(v, got));
    assert_memory_equal(got, id, 16);
    seam_value_unref(v);
}

static void test_arrays_round_trip_empty_and_mixed(void **state)
{
    (void)state;
    seam_value *v = round_trip(seam_value_new_array());
    assert_int_equal(seam_value_type(v), SEAM_TYPE_ARRAY);
    assert_int_equal(seam_array_count(v), 0);
    seam_value_unref(v);

    const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    seam_value *a = seam_value_new_array();
    assert_int_equal(seam_array_append_take(a, seam_value_new_null()), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_bool(true)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_int64(-7)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_uint64(UINT64_MAX)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_double(2.5)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_string("s")), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_data("\x00\x01", 2)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_date(1.5)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_uuid(id)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_array()), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_dict()), 0);
    v = round_trip(a);
    assert_int_equal(seam_array_count(v), 11);
    for (size_t i = 0; i < 11; i++) {
        assert_int_equal(seam_value_type(seam_array_get(v, i)), (seam_type)(SEAM_TYPE_NULL + i));
    }
    seam_value_unref(v);
}

static void test_dicts_round_trip_keeping_insertion_order(void **state)
{
    (void)state;
    seam_value *v = round_trip(seam_value_new_dict());
    assert_int_equal(seam_value_type(v), SEAM_TYPE_DICT);
    assert_int_equal(seam_dict_count(v), 0);
    seam_value_unref(v);

    seam_value *d = seam_value_new_dict();
    assert_int_equal(seam_dict_set_int64(d, "zebra", 1), 0);
    assert_int_equal(seam_dict_set_string(d, "", "empty key"), 0);
    assert_int_equal(seam_dict_set_bool(d, "\xc3\xa4pfel", true), 0);
    assert_int_equal(seam_dict_set_take(d, "nested", seam_value_new_dict()), 0);
    assert_int_equal(seam_dict_set_int64(seam_dict_get(d, "nested"), "x", 5), 0);
    v = round_trip(d);
    const char *key = NULL;
    const char *want[] = {"zebra", "", "\xc3\xa4pfel", "nested"};
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(seam_dict_entry(v, i, &key));
        assert_string_equal(key, want[i]);
    }
    int64_t x = 0;
    assert_true(seam_dict_get_int64(seam_dict_get(v, "nested"), "x", &x));
    assert_int_equal(x, 5);
    seam_value_unref(v);
}

/* Level i is an array [i, child] when i is even, a dict {"i": i, "d": child}
 * when odd; the innermost child is the string "bottom". */
static seam_value *nest(int levels)
{
    seam_value *child = seam_value_new_string("bottom");
    for (int i = levels - 1; i >= 0; i--) {
        seam_value *c;
        if (i % 2 == 0) {
            c = seam_value_new_array();
            assert_int_equal(seam_array_append_take(c, seam_value_new_int64(i)), 0);
            assert_int_equal(seam_array_append_take(c, child), 0);
        } else {
            c = seam_value_new_dict();
            assert_int_equal(seam_dict_set_int64(c, "i", i), 0);
            assert_int_equal(seam_dict_set_take(c, "d", child), 0);
        }
        child = c;
    }
    return child;
}

static void test_sixty_levels_of_arrays_and_dicts_round_trip(void **state)
{
    (void)state;
    seam_value *v = round_trip(nest(60));
    const seam_value *at = v;
    int levels = 0;
    while (seam_value_type(at) == SEAM_TYPE_ARRAY || seam_value_type(at) == SEAM_TYPE_DICT) {
        int64_t i = -1;
        if (seam_value_type(at) == SEAM_TYPE_ARRAY) {
            assert_true(seam_value_get_int64(seam_array_get(at, 0), &i));
            at = seam_array_get(at, 1);
        } else {
            assert_true(seam_dict_get_int64(at, "i", &i));
            at = seam_dict_get(at, "d");
        }
        assert_int_equal(i, levels);
        levels++;
    }
    assert_int_equal(levels, 60);
    assert_string_equal(seam_value_get_string(at, NULL), "bottom");
    seam_value_unref(v);
}

static seam_value *nested_arrays(int levels)
{
    seam_value *v = seam_value_new_int64(0);
    for (int i = 0; i < levels; i++) {
        seam_value *a = seam_value_new_array();
        assert_int_equal(seam_array_append_take(a, v), 0);
        v = a;
    }
    return v;
}

static void test_encoder_writes_64_levels_and_refuses_65_with_edepth(void **state)
{
    (void)state;
    assert_round_trips(nested_arrays(64));

    seam_value *deep = nested_arrays(65);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(seam_value_encode(deep, &bytes, &len), SEAM_EDEPTH);
    assert_null(bytes);
    seam_value_unref(deep);

    deep = seam_value_new_dict();
    assert_int_equal(seam_dict_set_take(deep, "k", nested_arrays(64)), 0);
    assert_int_equal(seam_value_encode(deep, &bytes, &len), SEAM_EDEPTH);
    seam_value_unref(deep);
}

static void test_wide_array_and_dict_round_trip(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_array();
    for (int64_t i = 0; i < 50000; i++) {
        assert_int_equal(seam_array_append_take(a, seam_value_new_int64(i * 1000003)), 0);
    }
    seam_value *v = round_trip(a);
    assert_int_equal(seam_array_count(v), 50000);
    seam_value_unref(v);

    seam_value *d = seam_value_new_dict();
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(seam_dict_set_int64(d, key, i), 0);
    }
    v = round_trip(d);
    assert_int_equal(seam_dict_count(v), 5000);
    int64_t got = 0;
    assert_true(seam_dict_get_int64(v, "key-4321", &got));
    assert_int_equal(got, 4321);
    seam_value_unref(v);
}

/* ---- descriptors ---- */

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void test_fd_decodes_to_a_new_descriptor_for_the_same_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    seam_value *msg = seam_value_new_dict();
    assert_int_equal(seam_dict_set_take(msg, "w", seam_value_new_fd(p[1])), 0);
    int sent_fd = seam_value_get_fd(seam_dict_get(msg, "w"));

    int fds[4] = {-1, -1, -1, -1};
    size_t nfds = 0;
    seam__buf buf = {0};
    assert_int_equal(seam__encode(msg, &buf, fds, 4, &nfds), 0);
    assert_int_equal(nfds, 1);
    assert_int_equal(fds[0], sent_fd);
    size_t want_len;
    uint8_t *want = hex("a1 61 77 da 73 65 61 6d 00", &want_len);
    assert_int_equal(buf.len, want_len);
    assert_memory_equal(buf.data, want, want_len);
    free(want);

    seam_value *back = NULL;
    assert_int_equal(seam__decode(buf.data, buf.len, NULL, fds, nfds, &back), 0);
    assert_true(seam_value_equal(msg, back));
    int got_fd = seam_value_get_fd(seam_dict_get(back, "w"));
    assert_true(got_fd >= 0);
    assert_int_not_equal(got_fd, sent_fd);
    assert_int_not_equal(got_fd, p[1]);
    assert_true(fcntl(got_fd, F_GETFD) & FD_CLOEXEC);

    assert_int_equal(write(got_fd, "ping", 4), 4);
    char in[8] = {0};
    assert_int_equal(read(p[0], in, sizeof(in)), 4);
    assert_memory_equal(in, "ping", 4);

    /* The decoder duplicated: the caller's descriptors stay its own. */
    seam_value_unref(back);
    assert_false(fd_is_open(got_fd));
    assert_true(fd_is_open(sent_fd));
    seam_value_unref(msg);
    seam__buf_free(&buf);
    close(p[0]);
    close(p[1]);
}

static void test_same_fd_index_twice_gives_one_shared_value(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    seam_value *v = NULL;
    size_t n;
    uint8_t *bytes = hex("82 da 73 65 61 6d 00 da 73 65 61 6d 00", &n);
    assert_int_equal(seam__decode(bytes, n, NULL, &p[1], 1, &v), 0);
    int a = seam_value_get_fd(seam_array_get(v, 0));
    int b = seam_value_get_fd(seam_array_get(v, 1));
    assert_true(a >= 0);
    assert_int_equal(a, b);
    assert_int_not_equal(a, p[1]);
    assert_true(seam_value_equal(seam_array_get(v, 0), seam_array_get(v, 1)));
    seam_value_unref(v);
    assert_false(fd_is_open(a));
    free(bytes);
    close(p[0]);
    close(p[1]);
}

static void test_fd_without_fd_array_is_refused_with_efd(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_array();
    assert_int_equal(seam_array_append_take(a, seam_value_new_int64(1)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_fd(STDERR_FILENO)), 0);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(seam_value_encode(a, &bytes, &len), SEAM_EFD);
    assert_null(bytes);

    seam__buf buf = {0};
    assert_int_equal(seam__encode(a, &buf, NULL, 0, NULL), SEAM_EFD);
    assert_int_equal(buf.len, 0);
    seam__buf_free(&buf);
    seam_value_unref(a);
}

static void test_more_fds_than_the_fd_array_holds_is_eframefds(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_array();
    assert_int_equal(seam_array_append_take(a, seam_value_new_fd(STDERR_FILENO)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_fd(STDERR_FILENO)), 0);
    int fds[1];
    size_t nfds = 99;
    seam__buf buf = {0};
    assert_int_equal(seam__encode(a, &buf, fds, 1, &nfds), SEAM_EFRAMEFDS);
    assert_int_equal(nfds, 99);
    assert_int_equal(buf.len, 0);

    int two[2];
    assert_int_equal(seam__encode(a, &buf, two, 2, &nfds), 0);
    assert_int_equal(nfds, 2);
    seam__buf_free(&buf);
    seam_value_unref(a);
}

static void test_failed_encode_leaves_the_buffer_as_it_was(void **state)
{
    (void)state;
    seam__buf buf = {0};
    seam_value *one = seam_value_new_int64(1);
    assert_int_equal(seam__encode(one, &buf, NULL, 0, NULL), 0);
    seam_value *deep = nested_arrays(70);
    assert_int_equal(seam__encode(deep, &buf, NULL, 0, NULL), SEAM_EDEPTH);
    assert_int_equal(buf.len, 1);
    assert_int_equal(buf.data[0], 0x01);
    seam_value_unref(deep);
    seam_value_unref(one);
    seam__buf_free(&buf);
}

static void test_fd_index_of_a_closed_descriptor_is_ebadf(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    size_t n;
    uint8_t *bytes = hex("da 73 65 61 6d 00", &n);
    seam_value *v = NULL;
    assert_int_equal(seam__decode(bytes, n, NULL, &p[1], 1, &v), SEAM_EBADF);
    assert_null(v);
    free(bytes);
}

/* ---- exact bytes (RFC 8949 Appendix A where it has the example) ---- */

static void test_integers_encode_in_shortest_form(void **state)
{
    (void)state;
    static const struct {
        int64_t i;
        const char *hex;
    } cases[] = {
        {0, "00"},
        {1, "01"},
        {10, "0a"},
        {23, "17"},
        {24, "18 18"},
        {100, "18 64"},
        {255, "18 ff"},
        {256, "19 01 00"},
        {1000, "19 03 e8"},
        {65535, "19 ff ff"},
        {65536, "1a 00 01 00 00"},
        {1000000, "1a 00 0f 42 40"},
        {1000000000000, "1b 00 00 00 e8 d4 a5 10 00"},
        {INT64_MAX, "1b 7f ff ff ff ff ff ff ff"},
        {-1, "20"},
        {-10, "29"},
        {-24, "37"},
        {-25, "38 18"},
        {-100, "38 63"},
        {-1000, "39 03 e7"},
        {INT64_MIN, "3b 7f ff ff ff ff ff ff ff"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = seam_value_new_int64(cases[i].i);
        assert_encodes_to(v, cases[i].hex);
        seam_value_unref(v);
    }
    seam_value *u = seam_value_new_uint64(18446744073709551615u);
    assert_encodes_to(u, "1b ff ff ff ff ff ff ff ff");
    seam_value_unref(u);
    u = seam_value_new_uint64(5);
    assert_encodes_to(u, "05");
    seam_value_unref(u);
}

static void test_doubles_always_encode_as_float64(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *hex;
    } cases[] = {
        {0.0, "fb 00 00 00 00 00 00 00 00"},       {-0.0, "fb 80 00 00 00 00 00 00 00"},
        {1.0, "fb 3f f0 00 00 00 00 00 00"},       {1.1, "fb 3f f1 99 99 99 99 99 9a"},
        {1.5, "fb 3f f8 00 00 00 00 00 00"},       {-4.1, "fb c0 10 66 66 66 66 66 66"},
        {1.0e300, "fb 7e 37 e4 3c 88 00 75 9c"},   {INFINITY, "fb 7f f0 00 00 00 00 00 00"},
        {-INFINITY, "fb ff f0 00 00 00 00 00 00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = seam_value_new_double(cases[i].d);
        assert_encodes_to(v, cases[i].hex);
        seam_value_unref(v);
    }
    seam_value *nan = seam_value_new_double(bits_to_double(0x7FF8000000000000u));
    assert_encodes_to(nan, "fb 7f f8 00 00 00 00 00 00");
    seam_value_unref(nan);
}

static void test_simple_values_strings_and_containers_encode_per_rfc(void **state)
{
    (void)state;
    seam_value *v = seam_value_new_null();
    assert_encodes_to(v, "f6");
    seam_value_unref(v);
    v = seam_value_new_bool(false);
    assert_encodes_to(v, "f4");
    seam_value_unref(v);
    v = seam_value_new_bool(true);
    assert_encodes_to(v, "f5");
    seam_value_unref(v);
    v = seam_value_new_string("");
    assert_encodes_to(v, "60");
    seam_value_unref(v);
    v = seam_value_new_string("IETF");
    assert_encodes_to(v, "64 49 45 54 46");
    seam_value_unref(v);
    v = seam_value_new_string("\xc3\xbc");
    assert_encodes_to(v, "62 c3 bc");
    seam_value_unref(v);
    v = seam_value_new_string("\xe6\xb0\xb4");
    assert_encodes_to(v, "63 e6 b0 b4");
    seam_value_unref(v);
    v = seam_value_new_data(NULL, 0);
    assert_encodes_to(v, "40");
    seam_value_unref(v);
    v = seam_value_new_data("\x01\x02\x03\x04", 4);
    assert_encodes_to(v, "44 01 02 03 04");
    seam_value_unref(v);

    /* [1, [2, 3], [4, 5]] */
    v = seam_value_new_array();
    assert_int_equal(seam_array_append_take(v, seam_value_new_int64(1)), 0);
    for (int i = 2; i <= 4; i += 2) {
        seam_value *inner = seam_value_new_array();
        assert_int_equal(seam_array_append_take(inner, seam_value_new_int64(i)), 0);
        assert_int_equal(seam_array_append_take(inner, seam_value_new_int64(i + 1)), 0);
        assert_int_equal(seam_array_append_take(v, inner), 0);
    }
    assert_encodes_to(v, "83 01 82 02 03 82 04 05");
    seam_value_unref(v);

    /* 25 items need a one-byte count */
    v = seam_value_new_array();
    for (int i = 1; i <= 25; i++) {
        assert_int_equal(seam_array_append_take(v, seam_value_new_int64(i)), 0);
    }
    assert_encodes_to(v, "98 19 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 "
                         "16 17 18 18 18 19");
    seam_value_unref(v);

    /* {"a": 1, "b": [2, 3]} */
    v = seam_value_new_dict();
    assert_int_equal(seam_dict_set_int64(v, "a", 1), 0);
    seam_value *b = seam_value_new_array();
    assert_int_equal(seam_array_append_take(b, seam_value_new_int64(2)), 0);
    assert_int_equal(seam_array_append_take(b, seam_value_new_int64(3)), 0);
    assert_int_equal(seam_dict_set_take(v, "b", b), 0);
    assert_encodes_to(v, "a2 61 61 01 61 62 82 02 03");
    seam_value_unref(v);
}

static void test_date_uuid_and_fd_encode_with_their_tags(void **state)
{
    (void)state;
    seam_value *v = seam_value_new_date(1e9);
    assert_encodes_to(v, "c1 fb 41 cd cd 65 00 00 00 00");
    seam_value_unref(v);
    v = seam_value_new_date(0);
    assert_encodes_to(v, "c1 fb 00 00 00 00 00 00 00 00");
    seam_value_unref(v);

    const uint8_t id[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    v = seam_value_new_uuid(id);
    assert_encodes_to(v, "d8 25 50 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff");
    seam_value_unref(v);

    v = seam_value_new_fd(STDERR_FILENO);
    int fd = -1;
    size_t nfds = 0;
    seam__buf buf = {0};
    assert_int_equal(seam__encode(v, &buf, &fd, 1, &nfds), 0);
    assert_int_equal(nfds, 1);
    assert_int_equal(buf.len, 6);
    assert_memory_equal(buf.data, "\xda\x73\x65\x61\x6d\x00", 6);
    seam__buf_free(&buf);
    seam_value_unref(v);
}

/* ---- what the decoder accepts beyond what the encoder writes ---- */

static void test_decoder_accepts_any_head_width_and_float_size(void **state)
{
    (void)state;
    int64_t i = 0;
    double d = 0;
    const char *five[] = {"05", "18 05", "19 00 05", "1a 00 00 00 05",
                          "1b 00 00 00 00 00 00 00 05"};
    for (size_t k = 0; k < 5; k++) {
        seam_value *v = assert_decodes(five[k], NULL);
        assert_true(seam_value_get_int64(v, &i));
        assert_int_equal(i, 5);
        seam_value_unref(v);
    }
    seam_value *v = assert_decodes("39 ff ff", NULL);
    assert_true(seam_value_get_int64(v, &i));
    assert_int_equal(i, -65536);
    seam_value_unref(v);

    v = assert_decodes("f9 3c 00", NULL); /* half 1.0 */
    assert_true(seam_value_get_double(v, &d));
    assert_true(d == 1.0);
    seam_value_unref(v);
    v = assert_decodes("f9 7c 00", NULL); /* half +inf */
    assert_true(seam_value_get_double(v, &d));
    assert_true(isinf(d) && d > 0);
    seam_value_unref(v);
    v = assert_decodes("fa 47 c3 50 00", NULL); /* single 100000.0 */
    assert_true(seam_value_get_double(v, &d));
    assert_true(d == 100000.0);
    seam_value_unref(v);

    v = assert_decodes("98 01 5a 00 00 00 01 61", NULL); /* [h'61'] with long heads */
    assert_int_equal(seam_array_count(v), 1);
    assert_int_equal(seam_value_type(seam_array_get(v, 0)), SEAM_TYPE_DATA);
    seam_value_unref(v);
}

static void test_date_may_be_an_integer_or_a_short_float(void **state)
{
    (void)state;
    double d = 0;
    seam_value *v = assert_decodes("c1 1a 3b 9a ca 00", NULL);
    assert_true(seam_value_get_date(v, &d));
    assert_true(d == 1e9);
    seam_value_unref(v);
    v = assert_decodes("c1 20", NULL);
    assert_true(seam_value_get_date(v, &d));
    assert_true(d == -1.0);
    seam_value_unref(v);
    v = assert_decodes("c1 f9 3e 00", NULL);
    assert_true(seam_value_get_date(v, &d));
    assert_true(d == 1.5);
    seam_value_unref(v);
}

static void test_int64_min_decodes_and_one_below_is_erange(void **state)
{
    (void)state;
    int64_t i = 0;
    seam_value *v = assert_decodes("3b 7f ff ff ff ff ff ff ff", NULL);
    assert_true(seam_value_get_int64(v, &i));
    assert_true(i == INT64_MIN);
    seam_value_unref(v);
    assert_decode_fails("3b 80 00 00 00 00 00 00 00", NULL, SEAM_ERANGE);
    assert_decode_fails("3b ff ff ff ff ff ff ff ff", NULL, SEAM_ERANGE);
}

/* ---- decode errors, one minimal input each ---- */

static void test_input_ending_inside_an_item_is_etruncated(void **state)
{
    (void)state;
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(NULL, 0, NULL, &v), SEAM_ETRUNCATED);
    assert_null(v);
    assert_decode_fails("18", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("1b 00 00 00", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("62 61", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("44 01 02 03", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("fb 3f f0", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("82 01", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("81", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("a1 61 61", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("c1", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("d8", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("d8 25", NULL, SEAM_ETRUNCATED);
}

static void test_stray_break_and_reserved_info_are_emalformed(void **state)
{
    (void)state;
    assert_decode_fails("ff", NULL, SEAM_EMALFORMED);
    assert_decode_fails("81 ff", NULL, SEAM_EMALFORMED);
    assert_decode_fails("1c", NULL, SEAM_EMALFORMED);
    assert_decode_fails("1d", NULL, SEAM_EMALFORMED);
    assert_decode_fails("1e", NULL, SEAM_EMALFORMED);
    assert_decode_fails("1f", NULL, SEAM_EMALFORMED); /* no indefinite integers */
    assert_decode_fails("3c", NULL, SEAM_EMALFORMED);
    assert_decode_fails("5d", NULL, SEAM_EMALFORMED);
    assert_decode_fails("7e", NULL, SEAM_EMALFORMED);
    assert_decode_fails("9c", NULL, SEAM_EMALFORMED);
    assert_decode_fails("bd", NULL, SEAM_EMALFORMED);
    assert_decode_fails("dc 00", NULL, SEAM_EMALFORMED);
    assert_decode_fails("fc", NULL, SEAM_EMALFORMED);
    assert_decode_fails("fe", NULL, SEAM_EMALFORMED);
}

static void test_bytes_after_the_item_are_etrailing(void **state)
{
    (void)state;
    assert_decode_fails("00 00", NULL, SEAM_ETRAILING);
    assert_decode_fails("f6 ff", NULL, SEAM_ETRAILING);
    assert_decode_fails("80 01", NULL, SEAM_ETRAILING);
    assert_decode_fails("a0 a0", NULL, SEAM_ETRAILING);
}

static void test_nesting_beyond_max_depth_is_edepth(void **state)
{
    (void)state;
    seam_decode_limits lim = {.max_depth = 2};
    seam_value_unref(assert_decodes("81 81 00", &lim));
    seam_value_unref(assert_decodes("a1 61 61 81 00", &lim));
    assert_decode_fails("81 81 81 00", &lim, SEAM_EDEPTH);
    assert_decode_fails("a1 61 61 a1 61 62 80", &lim, SEAM_EDEPTH);
    assert_decode_fails("81 81 80", &lim, SEAM_EDEPTH); /* even when empty */
    lim.max_depth = 1;
    assert_decode_fails("81 a0", &lim, SEAM_EDEPTH);
}

/* n nested one-item arrays around 0, as bytes. */
static uint8_t *nested_array_bytes(size_t n, size_t *len)
{
    uint8_t *b = malloc(n + 1);
    assert_non_null(b);
    memset(b, 0x81, n);
    b[n] = 0x00;
    *len = n + 1;
    return b;
}

static void test_default_depth_is_64_and_limit_is_capped_at_1024(void **state)
{
    (void)state;
    size_t len;
    seam_value *v = NULL;
    uint8_t *b = nested_array_bytes(64, &len);
    assert_int_equal(seam_value_decode(b, len, NULL, &v), 0);
    seam_value_unref(v);
    free(b);
    b = nested_array_bytes(65, &len);
    assert_int_equal(seam_value_decode(b, len, NULL, &v), SEAM_EDEPTH);
    free(b);

    seam_decode_limits lim = {.max_depth = UINT32_MAX};
    b = nested_array_bytes(1024, &len);
    assert_int_equal(seam_value_decode(b, len, &lim, &v), 0);
    seam_value_unref(v);
    free(b);
    b = nested_array_bytes(1025, &len);
    v = NULL;
    assert_int_equal(seam_value_decode(b, len, &lim, &v), SEAM_EDEPTH);
    assert_null(v);
    free(b);
}

static void test_more_items_than_max_items_is_ecount(void **state)
{
    (void)state;
    seam_decode_limits lim = {.max_items = 3};
    seam_value_unref(assert_decodes("82 01 02", &lim));
    assert_decode_fails("83 01 02 03", &lim, SEAM_ECOUNT);
    assert_decode_fails("81 81 81 00", &lim, SEAM_ECOUNT);
    assert_decode_fails("82 81 00 81 00", &lim, SEAM_ECOUNT);
    /* keys are not items of their own */
    seam_value_unref(assert_decodes("a2 61 61 01 61 62 02", &lim));
    assert_decode_fails("a3 61 61 01 61 62 02 61 63 03", &lim, SEAM_ECOUNT);
    lim.max_items = 1;
    seam_value_unref(assert_decodes("80", &lim));
    assert_decode_fails("81 00", &lim, SEAM_ECOUNT);
}

static void test_string_longer_than_max_string_is_etoolong(void **state)
{
    (void)state;
    seam_decode_limits lim = {.max_string = 3};
    seam_value_unref(assert_decodes("63 61 62 63", &lim));
    seam_value_unref(assert_decodes("43 01 02 03", &lim));
    assert_decode_fails("64 61 62 63 64", &lim, SEAM_ETOOLONG);
    assert_decode_fails("44 01 02 03 04", &lim, SEAM_ETOOLONG);
    assert_decode_fails("a1 64 61 62 63 64 00", &lim, SEAM_ETOOLONG);
}

static void test_key_not_a_nul_free_text_string_is_ekey(void **state)
{
    (void)state;
    assert_decode_fails("a1 01 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 20 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 41 61 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 f6 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 80 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 a0 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 fb 00 00 00 00 00 00 00 00 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 c1 61 61 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 62 61 00 01", NULL, SEAM_EKEY);
    assert_decode_fails("a1 61 00 01", NULL, SEAM_EKEY);
    /* a NUL is fine in a string value */
    seam_value_unref(assert_decodes("a1 61 61 62 00 61", NULL));
}

static void test_same_key_twice_is_edupkey(void **state)
{
    (void)state;
    assert_decode_fails("a2 61 61 01 61 61 02", NULL, SEAM_EDUPKEY);
    assert_decode_fails("a2 61 61 a0 61 61 80", NULL, SEAM_EDUPKEY);
    assert_decode_fails("81 a2 60 01 60 02", NULL, SEAM_EDUPKEY);
    /* equal keys in different maps are fine */
    seam_value_unref(assert_decodes("a2 61 61 a1 61 61 01 61 62 02", NULL));

    /* also once the dictionary has a hash index (more than 16 keys) */
    char unique[400] = "b8 19";
    char dup[400] = "b8 1a";
    for (int i = 0; i < 25; i++) {
        char entry[16];
        snprintf(entry, sizeof(entry), " 62 6b %02x 00", 0x41 + i);
        strcat(unique, entry);
        strcat(dup, entry);
    }
    strcat(dup, " 62 6b 4d 00"); /* "kM" again */
    seam_value_unref(assert_decodes(unique, NULL));
    assert_decode_fails(dup, NULL, SEAM_EDUPKEY);
}

static void test_invalid_utf8_in_a_string_or_key_is_eutf8(void **state)
{
    (void)state;
    assert_decode_fails("61 ff", NULL, SEAM_EUTF8);
    assert_decode_fails("61 80", NULL, SEAM_EUTF8);          /* lone continuation */
    assert_decode_fails("62 c3 28", NULL, SEAM_EUTF8);       /* bad continuation */
    assert_decode_fails("62 e2 82", NULL, SEAM_EUTF8);       /* cut short */
    assert_decode_fails("62 c0 80", NULL, SEAM_EUTF8);       /* overlong NUL */
    assert_decode_fails("62 c1 bf", NULL, SEAM_EUTF8);       /* overlong U+007F */
    assert_decode_fails("63 e0 80 af", NULL, SEAM_EUTF8);    /* overlong '/' */
    assert_decode_fails("64 f0 8f bf bf", NULL, SEAM_EUTF8); /* overlong U+FFFF */
    assert_decode_fails("63 ed a0 80", NULL, SEAM_EUTF8);    /* surrogate U+D800 */
    assert_decode_fails("63 ed bf bf", NULL, SEAM_EUTF8);    /* surrogate U+DFFF */
    assert_decode_fails("64 f4 90 80 80", NULL, SEAM_EUTF8); /* U+110000 */
    assert_decode_fails("64 f8 88 80 80", NULL, SEAM_EUTF8);
    assert_decode_fails("a1 61 ff 01", NULL, SEAM_EUTF8);
    /* the edges that are valid */
    seam_value_unref(assert_decodes("63 ed 9f bf", NULL));    /* U+D7FF */
    seam_value_unref(assert_decodes("63 ee 80 80", NULL));    /* U+E000 */
    seam_value_unref(assert_decodes("64 f4 8f bf bf", NULL)); /* U+10FFFF */
    /* byte strings are not text */
    seam_value_unref(assert_decodes("41 ff", NULL));
}

static void test_indefinite_lengths_are_eindef(void **state)
{
    (void)state;
    assert_decode_fails("5f 41 00 ff", NULL, SEAM_EINDEF);
    assert_decode_fails("7f 61 61 ff", NULL, SEAM_EINDEF);
    assert_decode_fails("9f ff", NULL, SEAM_EINDEF);
    assert_decode_fails("9f 01 02 ff", NULL, SEAM_EINDEF);
    assert_decode_fails("bf ff", NULL, SEAM_EINDEF);
    assert_decode_fails("bf 61 61 01 ff", NULL, SEAM_EINDEF);
    assert_decode_fails("81 9f ff", NULL, SEAM_EINDEF);
    assert_decode_fails("a1 7f ff 01", NULL, SEAM_EINDEF);
}

static void test_unknown_tags_and_tags_on_the_wrong_item_are_etag(void **state)
{
    (void)state;
    assert_decode_fails("c0 60", NULL, SEAM_ETAG);       /* tag 0 */
    assert_decode_fails("c2 41 01", NULL, SEAM_ETAG);    /* bignum */
    assert_decode_fails("d8 20 60", NULL, SEAM_ETAG);    /* tag 32 */
    assert_decode_fails("d9 d9 f7 00", NULL, SEAM_ETAG); /* self-describe */
    assert_decode_fails("db 00 00 00 01 00 00 00 00 00", NULL, SEAM_ETAG);
    assert_decode_fails("da 73 65 61 6e 00", NULL, SEAM_ETAG);             /* fd tag + 1 */
    assert_decode_fails("c1 60", NULL, SEAM_ETAG);                         /* date on text */
    assert_decode_fails("c1 40", NULL, SEAM_ETAG);                         /* date on bytes */
    assert_decode_fails("c1 80", NULL, SEAM_ETAG);                         /* date on array */
    assert_decode_fails("c1 f6", NULL, SEAM_ETAG);                         /* date on null */
    assert_decode_fails("c1 f5", NULL, SEAM_ETAG);                         /* date on bool */
    assert_decode_fails("c1 fb 7f f8 00 00 00 00 00 00", NULL, SEAM_ETAG); /* NaN date */
    assert_decode_fails("c1 f9 fc 00", NULL, SEAM_ETAG);                   /* -inf date */
    assert_decode_fails("c1 c1 00", NULL, SEAM_ETAG);                      /* nested tags */
    assert_decode_fails("d8 25 4f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e", NULL,
                        SEAM_ETAG); /* 15-byte uuid */
    assert_decode_fails("d8 25 51 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10", NULL,
                        SEAM_ETAG); /* 17-byte uuid */
    assert_decode_fails("d8 25 70 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", NULL,
                        SEAM_ETAG);                               /* uuid as text */
    assert_decode_fails("d8 25 01", NULL, SEAM_ETAG);             /* uuid on integer */
    assert_decode_fails("da 73 65 61 6d 61 30", NULL, SEAM_ETAG); /* fd tag on text */
    assert_decode_fails("da 73 65 61 6d f9 00 00", NULL, SEAM_ETAG);
    assert_decode_fails("81 d8 20 00", NULL, SEAM_ETAG);
}

/* libcbor reports tags 6-20 written in their one-byte form as errors of its
 * own; they are well-formed CBOR and must give ETAG like the same tags in a
 * longer form (this used to be EMALFORMED). */
static void test_one_byte_tags_6_to_20_are_etag_like_other_unknown_tags(void **state)
{
    (void)state;
    assert_decode_fails("c6 00", NULL, SEAM_ETAG);
    assert_decode_fails("d8 06 00", NULL, SEAM_ETAG);
    assert_decode_fails("d4 00", NULL, SEAM_ETAG);
    assert_decode_fails("d5 00", NULL, SEAM_ETAG);
    assert_decode_fails("81 cc 00", NULL, SEAM_ETAG);
    assert_decode_fails("a1 c6 00 00", NULL, SEAM_EKEY); /* as a key, like "a1 c1 ..." */
}

static void test_undefined_and_unassigned_simple_values_are_esimple(void **state)
{
    (void)state;
    assert_decode_fails("f7", NULL, SEAM_ESIMPLE);
    assert_decode_fails("e0", NULL, SEAM_ESIMPLE);
    assert_decode_fails("f3", NULL, SEAM_ESIMPLE);
    assert_decode_fails("f8 20", NULL, SEAM_ESIMPLE);
    assert_decode_fails("f8 ff", NULL, SEAM_ESIMPLE);
    assert_decode_fails("81 f7", NULL, SEAM_ESIMPLE);
    assert_decode_fails("a1 61 61 f7", NULL, SEAM_ESIMPLE);
}

static void test_fd_index_not_below_nfds_is_efdindex(void **state)
{
    (void)state;
    assert_decode_fails("da 73 65 61 6d 00", NULL, SEAM_EFDINDEX); /* no fds at all */
    int p[2];
    assert_int_equal(pipe(p), 0);
    seam_value *v = NULL;
    size_t n;
    uint8_t *bytes = hex("da 73 65 61 6d 02", &n);
    assert_int_equal(seam__decode(bytes, n, NULL, p, 2, &v), SEAM_EFDINDEX);
    free(bytes);
    bytes = hex("da 73 65 61 6d 1b ff ff ff ff ff ff ff ff", &n);
    assert_int_equal(seam__decode(bytes, n, NULL, p, 2, &v), SEAM_EFDINDEX);
    free(bytes);
    bytes = hex("da 73 65 61 6d 01", &n);
    assert_int_equal(seam__decode(bytes, n, NULL, NULL, 2, &v), SEAM_EFDINDEX);
    assert_null(v);
    assert_int_equal(seam__decode(bytes, n, NULL, p, 2, &v), 0);
    assert_true(seam_value_get_fd(v) >= 0);
    seam_value_unref(v);
    free(bytes);
    close(p[0]);
    close(p[1]);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Under ASan an attempt to reserve room for 2^32 items would abort the test
 * (allocation-size-too-big); without it, it would at least be slow. */
static void test_huge_counts_in_tiny_inputs_fail_without_allocating(void **state)
{
    (void)state;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_decode_fails("9a ff ff ff ff", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("9b 00 00 00 01 00 00 00 00", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("9b ff ff ff ff ff ff ff ff", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("ba ff ff ff ff", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("bb 80 00 00 00 00 00 00 00", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("bb ff ff ff ff ff ff ff ff", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("81 9a ff ff ff ff", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("5a ff ff ff ff", NULL, SEAM_ETRUNCATED);
    assert_decode_fails("7b ff ff ff ff ff ff ff ff", NULL, SEAM_ETRUNCATED);
    /* a count the bytes could hold but the item limit cannot */
    seam_decode_limits lim = {.max_items = 4};
    assert_decode_fails("88 00 00 00 00 00 00 00 00", &lim, SEAM_ECOUNT);
    assert_true(seconds_since(&start) < 1.0);
}

static void test_decode_rejects_null_arguments_with_einval(void **state)
{
    (void)state;
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(NULL, 1, NULL, &v), SEAM_EINVAL);
    assert_int_equal(seam_value_decode((const uint8_t *)"\x00", 1, NULL, NULL), SEAM_EINVAL);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(seam_value_encode(NULL, &bytes, &len), SEAM_EINVAL);
    seam__buf buf = {0};
    assert_int_equal(seam__encode(NULL, &buf, NULL, 0, NULL), SEAM_EINVAL);
}

/* ---- what decoding costs (allocation accounting) ---- */

/* The library's allocations reach these wrappers (the test links with
 * --wrap for malloc, calloc, realloc and free), so a test can see how much
 * a decode holds and the most it held at once. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static long long heap_live;
static long long heap_peak;

static void heap_add(void *p)
{
    if (p != NULL) {
        heap_live += (long long)malloc_usable_size(p);
        if (heap_live > heap_peak) {
            heap_peak = heap_live;
        }
    }
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    heap_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = __real_calloc(n, size);
    heap_add(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    size_t old = p != NULL ? malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, n);
    if (q != NULL || n == 0) {
        heap_live -= (long long)old;
    }
    heap_add(q);
    return q;
}

void __wrap_free(void *p)
{
    if (p != NULL) {
        heap_live -= (long long)malloc_usable_size(p);
    }
    __real_free(p);
}

typedef struct heap_cost {
    int status;
    long long held; /* bytes the decoded value holds */
    long long peak; /* most bytes held at once while decoding */
    long long left; /* bytes still held after the value was released */
} heap_cost;

static heap_cost decode_cost(const uint8_t *bytes, size_t len, const seam_decode_limits *lim,
                             const int *fds, size_t nfds)
{
    heap_cost c;
    seam_value *v = NULL;
    long long base = heap_live;
    heap_peak = heap_live;
    c.status = seam__decode(bytes, len, lim, fds, nfds, &v);
    c.held = heap_live - base;
    c.peak = heap_peak - base;
    seam_value_unref(v);
    c.left = heap_live - base;
    return c;
}

/* An array of n items, each the same item bytes, as one CBOR buffer. */
static uint8_t *array_of(size_t n, const char *item_hex, size_t *len)
{
    size_t item_len;
    uint8_t *item = hex(item_hex, &item_len);
    uint8_t *b = malloc(9 + n * item_len);
    assert_non_null(b);
    size_t head = cbor_encode_array_start(n, b, 9);
    for (size_t i = 0; i < n; i++) {
        memcpy(b + head + i * item_len, item, item_len);
    }
    *len = head + n * item_len;
    free(item);
    return b;
}

/* Each container head announces as many items as there are bytes after it:
 * a decoder that reserved room for announced counts would reserve the input
 * size once per level (64 levels: 512 MiB for 1 MiB of input). */
static void test_nested_counts_reserve_memory_only_for_bytes_present(void **state)
{
    (void)state;
    size_t len = 256 * 1024;
    uint8_t *b = malloc(len);
    assert_non_null(b);
    memset(b, 0xF6, len);
    for (size_t level = 0, off = 0; level < 63; level++, off += 5) {
        uint32_t count = (uint32_t)(len - off - 5);
        b[off] = 0x9A;
        b[off + 1] = (uint8_t)(count >> 24);
        b[off + 2] = (uint8_t)(count >> 16);
        b[off + 3] = (uint8_t)(count >> 8);
        b[off + 4] = (uint8_t)count;
    }
    heap_cost c = decode_cost(b, len, NULL, NULL, 0);
    assert_int_equal(c.status, SEAM_ETRUNCATED);
    if (c.peak > 64 * (long long)len) {
        print_error("decoding %zu bytes held up to %lld bytes at once\n", len, c.peak);
        fail();
    }
    assert_int_equal(c.left, 0);
    free(b);
}

/* One-byte scalars are shared, immutable values: a message of a million
 * nulls holds one slot per null and gives all of it back when released. */
static void test_a_million_nulls_cost_one_slot_each_and_all_come_back(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = array_of(1000000, "f6", &len);
    heap_cost c = decode_cost(b, len, NULL, NULL, 0);
    assert_int_equal(c.status, 0);
    if (c.held > 9 * (long long)len || c.peak > 9 * (long long)len) {
        print_error("a million nulls (%zu bytes) held %lld bytes, %lld at most\n", len, c.held,
                    c.peak);
        fail();
    }
    assert_int_equal(c.left, 0);
    free(b);
}

/* docs/protocol.md, "Limits": decoding allocates at most 64 bytes per byte
 * of payload, whatever the payload is made of. */
static void test_decoding_holds_at_most_64_bytes_per_payload_byte(void **state)
{
    (void)state;
    static const char *items[] = {
        "f6",
        "f5",
        "00",
        "37",
        "60",
        "40", /* shared scalars */
        "80",
        "a0", /* empty containers */
        "18 18",
        "38 18",
        "61 61",
        "41 00",
        "f9 3c 00", /* two or three bytes */
        "c1 00",
        "d8 25 50 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
        "81 80",
        "81 f6",
        "a1 60 80",
        "a1 60 f6",
        "a1 60 a1 60 a0",
        "82 80 80",
        "fb 40 09 21 fb 54 44 2d 18",
    };
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        size_t len;
        uint8_t *b = array_of(100000, items[i], &len);
        heap_cost c = decode_cost(b, len, NULL, NULL, 0);
        assert_int_equal(c.status, 0);
        if (c.peak > 64 * (long long)len || c.left != 0) {
            print_error("100000 x [%s] (%zu bytes): held %lld, at most %lld, %lld left after\n",
                        items[i], len, c.held, c.peak, c.left);
            fail();
        }
        free(b);
    }
    /* one map of many entries */
    size_t n = 50000;
    size_t len = 5 + n * 7;
    uint8_t *b = malloc(len);
    assert_non_null(b);
    size_t off = cbor_encode_map_start(n, b, 9);
    for (size_t i = 0; i < n; i++) {
        off += (size_t)sprintf((char *)b + off, "%c%05zu", 0x65, i);
        b[off++] = 0xF6;
    }
    heap_cost c = decode_cost(b, off, NULL, NULL, 0);
    assert_int_equal(c.status, 0);
    if (c.peak > 64 * (long long)off || c.left != 0) {
        print_error("map of %zu entries (%zu bytes): held %lld, at most %lld, %lld left\n", n, off,
                    c.held, c.peak, c.left);
        fail();
    }
    free(b);
}

/* ---- descriptors referenced more than once ---- */

/* A value may name one passed descriptor any number of times; the decoder
 * makes one duplicate per passed descriptor, not one per reference. */
static void test_every_reference_to_one_descriptor_shares_one_duplicate(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    size_t len;
    uint8_t *b = array_of(5000, "da 73 65 61 6d 00", &len);
    int before = count_open_fds();
    seam_value *v = NULL;
    int r = seam__decode(b, len, NULL, &p[1], 1, &v);
    int during = count_open_fds();
    if (r != 0 || during != before + 1) {
        print_error("5000 references to one descriptor: %s, %d descriptors more\n", seam_errname(r),
                    during - before);
        seam_value_unref(v);
        fail();
    }
    int fd = seam_value_get_fd(seam_array_get(v, 0));
    assert_true(fd >= 0 && fd != p[1]);
    for (size_t i = 0; i < 5000; i++) {
        assert_int_equal(seam_value_get_fd(seam_array_get(v, i)), fd);
    }
    seam_value_unref(v);
    assert_int_equal(count_open_fds(), before);
    free(b);
    close(p[0]);
    close(p[1]);
}

/* ---- hash flooding ---- */

/* FNV-1a, the hash dictionaries used to index keys with. */
static uint32_t fnv1a(const uint8_t *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    return h;
}

#define FLOOD_KEYS    16384
#define FLOOD_KEY_LEN 7
#define FLOOD_TARGET  0x5EA3u /* the low 16 bits every key hashes to */

/* Builds FLOOD_KEYS distinct printable keys whose FNV-1a hashes agree in
 * their low 16 bits, so they share one home slot in any index of up to
 * 65536 slots. Each key is five distinct characters and two chosen ones:
 * an FNV-1a step can be run backwards, so the last two bytes are solved
 * for (the last one tried, the one before it computed). */
static uint8_t (*fnv_colliding_keys(void))[FLOOD_KEY_LEN]
{
    uint8_t(*keys)[FLOOD_KEY_LEN] = malloc(FLOOD_KEYS * sizeof(*keys));
    assert_non_null(keys);
    uint32_t inv = 16777619u; /* the prime's inverse modulo 2^32, by Newton's method */
    for (int i = 0; i < 5; i++) {
        inv *= 2u - 16777619u * inv;
    }
    size_t n = 0;
    for (uint32_t prefix = 0; n < FLOOD_KEYS; prefix++) {
        uint8_t *k = keys[n];
        uint32_t x = prefix;
        for (int i = 0; i < 5; i++) {
            k[i] = (uint8_t)(0x21 + x % 94);
            x /= 94;
        }
        uint32_t state = fnv1a(k, 5) & 0xFFFF;
        for (uint32_t last = 0x21; last < 0x7F; last++) {
            uint32_t before_last = ((FLOOD_TARGET * inv) & 0xFFFF) ^ last;
            uint32_t c = ((before_last * inv) & 0xFFFF) ^ state;
            if (c >= 0x21 && c < 0x7F) {
                k[5] = (uint8_t)c;
                k[6] = (uint8_t)last;
                n++;
                break;
            }
        }
    }
    return keys;
}

/* A map of FLOOD_KEYS keys -> null: the colliding keys, or (flood false)
 * keys of the same length made from a simple generator. */
static uint8_t *flood_map(bool flood, size_t *len)
{
    uint8_t(*keys)[FLOOD_KEY_LEN] = fnv_colliding_keys();
    uint8_t *b = malloc(9 + FLOOD_KEYS * (2 + FLOOD_KEY_LEN));
    assert_non_null(b);
    size_t off = cbor_encode_map_start(FLOOD_KEYS, b, 9);
    for (size_t i = 0; i < FLOOD_KEYS; i++) {
        off += cbor_encode_string_start(FLOOD_KEY_LEN, b + off, 9);
        if (flood) {
            memcpy(b + off, keys[i], FLOOD_KEY_LEN);
        } else {
            snprintf((char *)b + off, 8, "r%06zu", i);
        }
        off += FLOOD_KEY_LEN;
        b[off++] = 0xF6;
    }
    free(keys);
    *len = off;
    return b;
}

static void test_map_of_keys_colliding_under_fnv1a_decodes_in_linear_work(void **state)
{
    (void)state;
    /* the keys do collide under the old hash */
    uint8_t(*keys)[FLOOD_KEY_LEN] = fnv_colliding_keys();
    for (size_t i = 0; i < FLOOD_KEYS; i++) {
        assert_int_equal(fnv1a(keys[i], FLOOD_KEY_LEN) & 0xFFFF, FLOOD_TARGET);
    }
    free(keys);
    for (int flood = 0; flood <= 1; flood++) {
        size_t len;
        uint8_t *b = flood_map(flood, &len);
        seam_value *v = NULL;
        assert_int_equal(seam_value_decode(b, len, NULL, &v), 0);
        assert_int_equal(seam_dict_count(v), FLOOD_KEYS);
        /* finding every key takes few index probes on average */
        size_t probes = seam__dict_probes(v);
        if (probes > 4 * FLOOD_KEYS) {
            print_error("%s keys: %zu probes to find %d keys\n", flood ? "colliding" : "other",
                        probes, FLOOD_KEYS);
            seam_value_unref(v);
            fail();
        }
        seam_value_unref(v);
        free(b);
    }
}

/* ---- the order of decode errors (docs/protocol.md, "Values") ---- */

static void test_fd_tag_on_a_negative_integer_is_etag(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    static const char *inputs[] = {"da 73 65 61 6d 20", "da 73 65 61 6d 3b 00 00 00 00 00 00 00 05",
                                   "81 da 73 65 61 6d 38 63"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        size_t n;
        uint8_t *bytes = hex(inputs[i], &n);
        seam_value *v = NULL;
        int r = seam__decode(bytes, n, NULL, p, 2, &v);
        if (r != SEAM_ETAG) {
            print_error("[%s] gave %s, want ETAG\n", inputs[i], seam_errname(r));
            fail();
        }
        assert_null(v);
        free(bytes);
    }
    close(p[0]);
    close(p[1]);
}

/* Where an input breaks two rules, the one the text lists first wins. */
static void test_decode_errors_come_in_the_documented_order(void **state)
{
    (void)state;
    seam_decode_limits lim2 = {.max_depth = 2, .max_items = 3, .max_string = 4};
    /* a duplicate key is found when the key is read, before its value */
    assert_decode_fails("a2 61 61 00 61 61 f7", NULL, SEAM_EDUPKEY);
    assert_decode_fails("a2 61 61 00 61 61 61 ff", NULL, SEAM_EDUPKEY);
    assert_decode_fails("a2 61 61 00 61 61", NULL, SEAM_EDUPKEY);
    /* a head's own well-formedness comes before where it stands */
    assert_decode_fails("a1 f7 00", NULL, SEAM_ESIMPLE);
    assert_decode_fails("a1 7f ff 00", NULL, SEAM_EINDEF);
    /* a key position refuses a tag before the tag is looked at */
    assert_decode_fails("a1 c6 00 00", NULL, SEAM_EKEY);
    assert_decode_fails("a1 d9 ff ff 00 00", NULL, SEAM_EKEY);
    /* a tag's rule before the content of the item under it */
    assert_decode_fails("d8 25 43 ff ff ff", NULL, SEAM_ETAG);
    assert_decode_fails("c1 78 01 ff", NULL, SEAM_ETAG);
    /* string content: length, then UTF-8, then what a key may hold */
    assert_decode_fails("65 ff ff ff ff ff", &lim2, SEAM_ETOOLONG);
    assert_decode_fails("a1 62 ff 00 00", NULL, SEAM_EUTF8);
    assert_decode_fails("a2 62 61 00 00 62 61 00 00", NULL, SEAM_EKEY);
    /* a container head: depth, then its count against the bytes, then
     * against the item limit */
    assert_decode_fails("81 81 9b ff ff ff ff ff ff ff ff", &lim2, SEAM_EDEPTH);
    assert_decode_fails("81 81 bb ff ff ff ff ff ff ff ff", &lim2, SEAM_EDEPTH);
    assert_decode_fails("81 bb ff ff ff ff ff ff ff ff", &lim2, SEAM_ETRUNCATED);
    assert_decode_fails("84 00 00 00 00", &lim2, SEAM_ECOUNT);
    assert_decode_fails("84 00 00 00", &lim2, SEAM_ETRUNCATED);
    /* integers: the fd index after the tag's type rule */
    assert_decode_fails("da 73 65 61 6d 20", NULL, SEAM_ETAG);
    assert_decode_fails("da 73 65 61 6d 00", NULL, SEAM_EFDINDEX);
    /* the first broken item wins over later ones */
    assert_decode_fails("82 f7 ff", NULL, SEAM_ESIMPLE);
    assert_decode_fails("82 ff f7", NULL, SEAM_EMALFORMED);
    /* trailing bytes only once the item is complete and valid */
    assert_decode_fails("81 f7 00", NULL, SEAM_ESIMPLE);
}

/* ---- what counts toward the limits (docs/protocol.md, "Limits") ---- */

static void test_containers_count_as_items_and_keys_do_not(void **state)
{
    (void)state;
    seam_decode_limits lim = {.max_items = 2};
    seam_value_unref(assert_decodes("81 80", &lim));       /* two containers */
    assert_decode_fails("81 81 80", &lim, SEAM_ECOUNT);    /* three */
    seam_value_unref(assert_decodes("a1 61 6b 00", &lim)); /* a map and a value */
    assert_decode_fails("a1 61 6b a1 61 6b 00", &lim, SEAM_ECOUNT);
}

static void test_scalars_add_no_depth(void **state)
{
    (void)state;
    seam_decode_limits lim = {.max_depth = 1};
    seam_value_unref(assert_decodes("00", &lim));
    seam_value_unref(assert_decodes("c1 00", &lim));
    seam_value_unref(assert_decodes("83 00 61 61 c1 00", &lim));
    seam_value_unref(assert_decodes("a1 61 6b 00", &lim));
    assert_decode_fails("81 80", &lim, SEAM_EDEPTH);
}

#define fd_checked_test(f) cmocka_unit_test_setup_teardown(f, setup_count_fds, teardown_check_fds)

/* One large data value referenced many times (as a peer's memfd named by
 * many tags decodes): an encoding limited to max_len fails with
 * SEAM_EMSGSIZE before copying past it, instead of copying the value out
 * once per reference (4000 x 256 KiB took an echo server to 840 MB). */
static void test_limited_encode_of_a_value_referenced_many_times_stops_at_the_limit(void **state)
{
    (void)state;
    size_t big = 256u << 10;
    uint8_t *bytes = calloc(1, big);
    assert_non_null(bytes);
    seam_value *d = seam_value_new_data(bytes, big);
    free(bytes);
    seam_value *a = seam_value_new_array();
    for (int i = 0; i < 4000; i++) {
        assert_int_equal(seam_array_append(a, d), 0);
    }
    seam__buf out = {0};
    assert_int_equal(seam__buf_append(&out, (const uint8_t *)"hdr", 3), 0);
    size_t nfds = 0;
    assert_int_equal(seam__encode_gather(a, &out, NULL, 0, &nfds, NULL, NULL, 0, NULL, 16u << 20),
                     SEAM_EMSGSIZE);
    assert_int_equal(out.len, 3);        /* left as it was */
    assert_true(out.cap <= (33u << 20)); /* never grown far past the limit */
    /* Within the limit it is the plain encoding. */
    seam__buf_free(&out);
    seam_value *small = seam_value_new_array();
    assert_int_equal(seam_array_append(small, d), 0);
    assert_int_equal(seam_array_append(small, d), 0);
    assert_int_equal(
        seam__encode_gather(small, &out, NULL, 0, &nfds, NULL, NULL, 0, NULL, 16u << 20), 0);
    assert_true(out.len > 2 * big);
    seam__buf_free(&out);
    seam_value_unref(small);
    seam_value_unref(a);
    seam_value_unref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        fd_checked_test(test_null_and_bools_round_trip),
        fd_checked_test(test_int64_values_round_trip_at_every_head_width),
        fd_checked_test(test_uint64_above_int64_max_round_trips_as_uint64),
        fd_checked_test(test_small_uint64_arrives_as_int64_of_same_value),
        fd_checked_test(test_doubles_round_trip_bit_for_bit),
        fd_checked_test(test_strings_round_trip_including_empty_multibyte_and_nul),
        fd_checked_test(test_data_round_trips_empty_and_binary),
        fd_checked_test(test_dates_round_trip),
        fd_checked_test(test_uuid_round_trips),
        fd_checked_test(test_arrays_round_trip_empty_and_mixed),
        fd_checked_test(test_dicts_round_trip_keeping_insertion_order),
        fd_checked_test(test_sixty_levels_of_arrays_and_dicts_round_trip),
        fd_checked_test(test_encoder_writes_64_levels_and_refuses_65_with_edepth),
        fd_checked_test(test_wide_array_and_dict_round_trip),
        fd_checked_test(test_fd_decodes_to_a_new_descriptor_for_the_same_pipe),
        fd_checked_test(test_same_fd_index_twice_gives_one_shared_value),
        fd_checked_test(test_fd_without_fd_array_is_refused_with_efd),
        fd_checked_test(test_more_fds_than_the_fd_array_holds_is_eframefds),
        fd_checked_test(test_failed_encode_leaves_the_buffer_as_it_was),
        fd_checked_test(test_limited_encode_of_a_value_referenced_many_times_stops_at_the_limit),
        fd_checked_test(test_fd_index_of_a_closed_descriptor_is_ebadf),
        fd_checked_test(test_integers_encode_in_shortest_form),
        fd_checked_test(test_doubles_always_encode_as_float64),
        fd_checked_test(test_simple_values_strings_and_containers_encode_per_rfc),
        fd_checked_test(test_date_uuid_and_fd_encode_with_their_tags),
        fd_checked_test(test_decoder_accepts_any_head_width_and_float_size),
        fd_checked_test(test_date_may_be_an_integer_or_a_short_float),
        fd_checked_test(test_int64_min_decodes_and_one_below_is_erange),
        fd_checked_test(test_input_ending_inside_an_item_is_etruncated),
        fd_checked_test(test_stray_break_and_reserved_info_are_emalformed),
        fd_checked_test(test_bytes_after_the_item_are_etrailing),
        fd_checked_test(test_nesting_beyond_max_depth_is_edepth),
        fd_checked_test(test_default_depth_is_64_and_limit_is_capped_at_1024),
        fd_checked_test(test_more_items_than_max_items_is_ecount),
        fd_checked_test(test_string_longer_than_max_string_is_etoolong),
        fd_checked_test(test_key_not_a_nul_free_text_string_is_ekey),
        fd_checked_test(test_same_key_twice_is_edupkey),
        fd_checked_test(test_invalid_utf8_in_a_string_or_key_is_eutf8),
        fd_checked_test(test_indefinite_lengths_are_eindef),
        fd_checked_test(test_unknown_tags_and_tags_on_the_wrong_item_are_etag),
        fd_checked_test(test_one_byte_tags_6_to_20_are_etag_like_other_unknown_tags),
        fd_checked_test(test_undefined_and_unassigned_simple_values_are_esimple),
        fd_checked_test(test_fd_index_not_below_nfds_is_efdindex),
        fd_checked_test(test_huge_counts_in_tiny_inputs_fail_without_allocating),
        fd_checked_test(test_decode_rejects_null_arguments_with_einval),
        fd_checked_test(test_nested_counts_reserve_memory_only_for_bytes_present),
        fd_checked_test(test_a_million_nulls_cost_one_slot_each_and_all_come_back),
        fd_checked_test(test_decoding_holds_at_most_64_bytes_per_payload_byte),
        fd_checked_test(test_every_reference_to_one_descriptor_shares_one_duplicate),
        fd_checked_test(test_map_of_keys_colliding_under_fnv1a_decodes_in_linear_work),
        fd_checked_test(test_fd_tag_on_a_negative_integer_is_etag),
        fd_checked_test(test_decode_errors_come_in_the_documented_order),
        fd_checked_test(test_containers_count_as_items_and_keys_do_not),
        fd_checked_test(test_scalars_add_no_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
