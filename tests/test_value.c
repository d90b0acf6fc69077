/* SPDX-License-Identifier: MIT */
/* test_value.c - values: typed getters, containers, equality, copies, and
 * their JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static void test_getters_refuse_other_types(void **state)
{
    (void)state;
    seam_value *s = seam_value_new_string("x");
    bool b = true;
    int64_t i = 7;
    double d = 1.5;
    size_t len = 9;
    assert_false(seam_value_get_bool(s, &b));
    assert_false(seam_value_get_int64(s, &i));
    assert_false(seam_value_get_double(s, &d));
    assert_null(seam_value_get_data(s, &len));
    assert_int_equal(seam_value_get_fd(s), -1);
    assert_true(b);
    assert_int_equal(i, 7);
    assert_false(seam_value_get_bool(NULL, &b));
    assert_string_equal(seam_value_get_string(s, &len), "x");
    assert_int_equal(len, 1);
    seam_value_unref(s);
}

static void test_integers_cross_accept_only_in_range(void **state)
{
    (void)state;
    seam_value *big = seam_value_new_uint64(UINT64_MAX);
    seam_value *neg = seam_value_new_int64(-1);
    seam_value *five = seam_value_new_uint64(5);
    int64_t i = 0;
    uint64_t u = 0;
    assert_false(seam_value_get_int64(big, &i));
    assert_false(seam_value_get_uint64(neg, &u));
    assert_true(seam_value_get_int64(five, &i));
    assert_int_equal(i, 5);
    seam_value *five_signed = seam_value_new_int64(5);
    assert_true(seam_value_equal(five, five_signed));
    seam_value_unref(five_signed);
    seam_value_unref(big);
    seam_value_unref(neg);
    seam_value_unref(five);
}

static void test_strings_must_be_valid_utf8(void **state)
{
    (void)state;
    assert_null(seam_value_new_string("\xc3\x28"));
    assert_null(seam_value_new_string("\xed\xa0\x80")); /* surrogate */
    assert_null(seam_value_new_date(1.0 / 0.0));
    seam_value *v = seam_value_new_string_len("a\0b", 3);
    size_t len = 0;
    assert_non_null(seam_value_get_string(v, &len));
    assert_int_equal(len, 3);
    seam_value_unref(v);
}

static void test_dict_replaces_removes_and_keeps_order(void **state)
{
    (void)state;
    seam_value *d = seam_value_new_dict();
    char key[16];
    for (int i = 0; i < 100; i++) { /* past 16 entries the hash index is used */
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(seam_dict_set_int64(d, key, i), 0);
    }
    assert_int_equal(seam_dict_set_int64(d, "k50", -50), 0);
    assert_int_equal(seam_dict_count(d), 100);
    int64_t got = 0;
    assert_true(seam_dict_get_int64(d, "k50", &got));
    assert_int_equal(got, -50);
    assert_int_equal(seam_dict_remove(d, "k10"), 0);
    assert_int_equal(seam_dict_remove(d, "k10"), SEAM_EINVAL);
    assert_null(seam_dict_get(d, "k10"));
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(i == 10 || seam_dict_get(d, key) != NULL);
    }
    const char *first = NULL;
    assert_non_null(seam_dict_entry(d, 0, &first));
    assert_string_equal(first, "k0");
    assert_int_not_equal(seam_dict_set_int64(d, "bad\xff", 1), 0);
    seam_value_unref(d);
}

/* Short keys live inside the entries: growing the entry table and removing
 * entries moves them, and every key must still read back. */
static void test_dict_keys_short_and_long_survive_growth_and_removal(void **state)
{
    (void)state;
    seam_value *d = seam_value_new_dict();
    char key[64];
    for (int i = 0; i < 100; i++) {
        /* Alternate short keys and keys longer than any inline storage. */
        snprintf(key, sizeof(key), i % 2 ? "k%d" : "a-rather-long-key-number-%d", i);
        assert_int_equal(seam_dict_set_int64(d, key, i), 0);
    }
    for (int i = 0; i < 100; i += 3) {
        snprintf(key, sizeof(key), i % 2 ? "k%d" : "a-rather-long-key-number-%d", i);
        assert_int_equal(seam_dict_remove(d, key), 0);
    }
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), i % 2 ? "k%d" : "a-rather-long-key-number-%d", i);
        int64_t got = -1;
        bool present = seam_dict_get_int64(d, key, &got);
        assert_int_equal(present, i % 3 != 0);
        if (present) {
            assert_int_equal(got, i);
            const char *k = NULL;
            assert_non_null(seam_dict_entry(d, n++, &k));
            assert_string_equal(k, key);
        }
    }
    assert_int_equal(seam_dict_count(d), n);
    seam_value *copy = seam_value_copy(d);
    assert_true(seam_value_equal(copy, d));
    seam_value_unref(copy);
    seam_value_unref(d);
}

static void test_equal_ignores_dict_order_and_signed_zero(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_dict();
    seam_value *b = seam_value_new_dict();
    seam_dict_set_int64(a, "x", 1);
    seam_dict_set_double(a, "y", 0.0);
    seam_dict_set_double(b, "y", -0.0);
    seam_dict_set_int64(b, "x", 1);
    assert_true(seam_value_equal(a, b));
    seam_dict_set_string(b, "z", "more");
    assert_false(seam_value_equal(a, b));
    seam_value *nan1 = seam_value_new_double(0.0 / 0.0);
    assert_true(seam_value_equal(nan1, nan1));
    seam_value_unref(nan1);
    seam_value_unref(a);
    seam_value_unref(b);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_array();
    seam_value *inner = seam_value_new_dict();
    seam_dict_set_string(inner, "k", "v");
    seam_array_append_take(a, inner);
    seam_value *c = seam_value_copy(a);
    assert_true(seam_value_equal(a, c));
    seam_dict_set_string(seam_array_get(c, 0), "k", "changed");
    assert_string_equal(seam_dict_get_string(seam_array_get(a, 0), "k"), "v");
    assert_null(seam_array_get(a, 1));
    seam_value_unref(a);
    seam_value_unref(c);
}

static void test_fd_values_own_a_duplicate(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    seam_value *v = seam_value_new_fd(p[1]);
    assert_non_null(v);
    int held = seam_value_get_fd(v);
    assert_true(held >= 0 && held != p[1]);
    close(p[1]);
    assert_int_equal(write(held, "z", 1), 1);
    char c = 0;
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(c, 'z');
    seam_value_unref(v);
    assert_int_equal(read(p[0], &c, 1), 0); /* every writer closed */
    close(p[0]);
    assert_null(seam_value_new_fd(-1));
}

static void test_json_round_trips_special_forms(void **state)
{
    (void)state;
    const char *text = "{\"d\":{\"$data\":\"aGk=\"},\"t\":{\"$date\":1.5},"
                       "\"u\":{\"$uuid\":\"00112233-4455-6677-8899-aabbccddeeff\"},"
                       "\"big\":{\"$uint64\":\"18446744073709551615\"},"
                       "\"inf\":{\"$double\":\"-inf\"},\"w\":{\"$dict\":{\"$data\":1}}}";
    seam_value *v = NULL;
    assert_int_equal(seam_value_from_json(text, &v), 0);
    assert_int_equal(seam_value_type(seam_dict_get(v, "d")), SEAM_TYPE_DATA);
    assert_int_equal(seam_value_type(seam_dict_get(v, "t")), SEAM_TYPE_DATE);
    assert_int_equal(seam_value_type(seam_dict_get(v, "u")), SEAM_TYPE_UUID);
    assert_int_equal(seam_value_type(seam_dict_get(v, "big")), SEAM_TYPE_UINT64);
    assert_int_equal(seam_value_type(seam_dict_get(v, "w")), SEAM_TYPE_DICT);
    char *out = seam_value_to_json(v, 0);
    assert_string_equal(out, text);
    free(out);
    seam_value_unref(v);
}

static void test_json_refuses_what_it_cannot_represent(void **state)
{
    (void)state;
    seam_value *v = NULL;
    assert_int_equal(seam_value_from_json("{\"a\":", &v), SEAM_EJSON);
    assert_int_equal(seam_value_from_json("{\"$fd\":0}", &v), SEAM_EFD);
    assert_int_equal(seam_value_from_json("{\"$data\":\"a\"}", &v), SEAM_EJSON);
    assert_int_equal(seam_value_from_json("{\"$uuid\":\"nope\"}", &v), SEAM_EJSON);
    assert_int_equal(seam_value_from_json("{\"$double\":\"big\"}", &v), SEAM_EJSON);
    assert_int_equal(seam_value_from_json("{\"a\":1,\"a\":2}", &v), SEAM_EJSON);
    assert_null(v);
}

static void test_every_error_code_has_a_name_and_text(void **state)
{
    (void)state;
    const int codes[] = {SEAM_EINVAL, SEAM_EAGAIN, SEAM_EBUSY, SEAM_ETRUNCATED, SEAM_EREMOTE};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        assert_string_not_equal(seam_errname(codes[i]), "SEAM_EUNKNOWN");
        assert_string_not_equal(seam_strerror(codes[i]), "unknown error");
    }
    assert_string_equal(seam_errname(-2999999), "SEAM_EUNKNOWN");
    assert_string_equal(seam_version(), "0.1.0");
}

/* Null, booleans, small integers and empty strings may be shared,
 * immutable values: whoever holds one sees a value like any other, however
 * often it is referenced and released. */
static void test_shared_scalars_behave_like_fresh_values(void **state)
{
    (void)state;
    seam_value *made[] = {
        seam_value_new_null(),      seam_value_new_bool(true),
        seam_value_new_bool(false), seam_value_new_int64(0),
        seam_value_new_int64(23),   seam_value_new_int64(-24),
        seam_value_new_string(""),  seam_value_new_data(NULL, 0),
        seam_value_new_uint64(7),   seam_value_new_string_len("", 0),
    };
    const char *json[] = {"null", "true", "false", "0", "23", "-24", "\"\"", "{\"$data\":\"\"}",
                          "7",    "\"\""};
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        seam_value *v = made[i];
        assert_non_null(v);
        /* references come and go like on any value */
        for (int k = 0; k < 3; k++) {
            assert_ptr_equal(seam_value_ref(v), v);
        }
        for (int k = 0; k < 3; k++) {
            seam_value_unref(v);
        }
        char *text = seam_value_to_json(v, 0);
        assert_string_equal(text, json[i]);
        free(text);
        seam_value *c = seam_value_copy(v);
        assert_true(seam_value_equal(v, c));
        assert_int_equal(seam_value_type(c), seam_value_type(v));
        uint8_t *bytes = NULL;
        size_t len = 0;
        assert_int_equal(seam_value_encode(v, &bytes, &len), 0);
        seam_value *back = NULL;
        assert_int_equal(seam_value_decode(bytes, len, NULL, &back), 0);
        assert_true(seam_value_equal(back, v));
        free(bytes);
        /* held by containers, released with them */
        seam_value *a = seam_value_new_array();
        assert_int_equal(seam_array_append(a, v), 0);
        assert_int_equal(seam_array_append_take(a, c), 0);
        seam_value *d = seam_value_new_dict();
        assert_int_equal(seam_dict_set(d, "v", v), 0);
        assert_int_equal(seam_dict_set_take(d, "back", back), 0);
        seam_value_unref(a);
        seam_value_unref(d);
        seam_value_unref(v);
    }
    /* the getters read them as they were made */
    bool b = false;
    seam_value *t = seam_value_new_bool(true);
    assert_true(seam_value_get_bool(t, &b) && b);
    seam_value_unref(t);
    int64_t n = 0;
    seam_value *m = seam_value_new_int64(-24);
    assert_true(seam_value_get_int64(m, &n) && n == -24);
    seam_value_unref(m);
    size_t len = 99;
    seam_value *e = seam_value_new_string("");
    assert_string_equal(seam_value_get_string(e, &len), "");
    assert_int_equal(len, 0);
    seam_value_unref(e);
}

/* Big dictionaries are indexed: equality, lookups and removal hold
 * whatever order their keys came in. */
static void test_big_dicts_equal_and_find_keys_whatever_their_order(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_dict();
    seam_value *b = seam_value_new_dict();
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(seam_dict_set_int64(a, key, i), 0);
        snprintf(key, sizeof(key), "key-%d", N - 1 - i);
        assert_int_equal(seam_dict_set_int64(b, key, N - 1 - i), 0);
    }
    assert_true(seam_value_equal(a, b));
    assert_true(seam__dict_probes(a) < 4 * N);
    for (int i = 0; i < N; i += 2) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(seam_dict_remove(a, key), 0);
    }
    assert_int_equal(seam_dict_count(a), N / 2);
    assert_false(seam_value_equal(a, b));
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", i);
        int64_t got = -1;
        assert_int_equal(seam_dict_get_int64(a, key, &got), i % 2 == 1);
        if (i % 2 == 1) {
            assert_int_equal(got, i);
        }
    }
    seam_value *c = seam_value_copy(a);
    assert_true(seam_value_equal(a, c));
    seam_value_unref(a);
    seam_value_unref(b);
    seam_value_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_getters_refuse_other_types),
        cmocka_unit_test(test_integers_cross_accept_only_in_range),
        cmocka_unit_test(test_strings_must_be_valid_utf8),
        cmocka_unit_test(test_dict_replaces_removes_and_keeps_order),
        cmocka_unit_test(test_dict_keys_short_and_long_survive_growth_and_removal),
        cmocka_unit_test(test_equal_ignores_dict_order_and_signed_zero),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_fd_values_own_a_duplicate),
        cmocka_unit_test(test_json_round_trips_special_forms),
        cmocka_unit_test(test_json_refuses_what_it_cannot_represent),
        cmocka_unit_test(test_every_error_code_has_a_name_and_text),
        cmocka_unit_test(test_shared_scalars_behave_like_fresh_values),
        cmocka_unit_test(test_big_dicts_equal_and_find_keys_whatever_their_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
