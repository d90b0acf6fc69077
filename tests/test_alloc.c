/* SPDX-License-Identifier: MIT */
/* test_alloc.c - what values cost in allocations: the values decoded from
 * one input share one (and references, changes and release behave as they
 * do for values made one by one), and a dictionary kept and updated between
 * sends allocates nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include "internal.h"

/* ---- allocation accounting (the test links with --wrap) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static long long heap_live;
static long long heap_allocs;

static void *heap_add(void *p)
{
    if (p != NULL) {
        heap_live += (long long)malloc_usable_size(p);
        heap_allocs++;
    }
    return p;
}

void *__wrap_malloc(size_t n)
{
    return heap_add(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
    return heap_add(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n)
{
    size_t old = p != NULL ? malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, n);
    if (q != NULL || n == 0) {
        heap_live -= (long long)old;
    }
    return heap_add(q);
}

void __wrap_free(void *p)
{
    if (p != NULL) {
        heap_live -= (long long)malloc_usable_size(p);
    }
    __real_free(p);
}

/* ---- helpers ---- */

/* {"seq": 1000, "kind": "bench", "body": 64 bytes}, the benchmark's message. */
static seam_value *message_new(void)
{
    uint8_t body[64];
    memset(body, 0xAB, sizeof(body));
    seam_value *m = seam_value_new_dict();
    assert_non_null(m);
    assert_int_equal(seam_dict_set_int64(m, "seq", 1000), 0);
    assert_int_equal(seam_dict_set_string(m, "kind", "bench"), 0);
    assert_int_equal(seam_dict_set_data(m, "body", body, sizeof(body)), 0);
    return m;
}

static seam_value *roundtrip(const seam_value *v)
{
    uint8_t *bytes;
    size_t len;
    assert_int_equal(seam_value_encode(v, &bytes, &len), 0);
    seam_value *out = NULL;
    assert_int_equal(seam_value_decode(bytes, len, NULL, &out), 0);
    free(bytes);
    return out;
}

/* ---- tests ---- */

static void test_decoding_a_three_key_dictionary_makes_one_allocation(void **state)
{
    (void)state;
    seam_value *m = message_new();
    uint8_t *bytes;
    size_t len;
    assert_int_equal(seam_value_encode(m, &bytes, &len), 0);
    long long allocs = heap_allocs;
    long long live = heap_live;
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(bytes, len, NULL, &v), 0);
    assert_int_equal(heap_allocs - allocs, 1);
    assert_true(seam_value_equal(m, v));
    seam_value_unref(v);
    assert_int_equal(heap_live, live);
    free(bytes);
    seam_value_unref(m);
}

static void test_a_value_kept_past_its_message_stays_valid_and_is_freed_with_it(void **state)
{
    (void)state;
    seam_value *m = message_new();
    long long live = heap_live;
    seam_value *v = roundtrip(m);
    seam_value *body = seam_value_ref(seam_dict_get(v, "body"));
    seam_value *kind = seam_value_ref(seam_dict_get(v, "kind"));
    seam_value_unref(v);
    size_t len = 0;
    const uint8_t *bytes = seam_value_get_data(body, &len);
    assert_int_equal(len, 64);
    assert_int_equal(bytes[0], 0xAB);
    assert_int_equal(bytes[63], 0xAB);
    assert_string_equal(seam_value_get_string(kind, NULL), "bench");
    seam_value_unref(body);
    assert_true(heap_live > live); /* kind still holds the message */
    seam_value_unref(kind);
    assert_int_equal(heap_live, live);
    seam_value_unref(m);
}

static void test_a_decoded_dictionary_changes_like_any_other(void **state)
{
    (void)state;
    seam_value *m = message_new();
    long long live = heap_live;
    seam_value *v = roundtrip(m);
    /* Past its decoded entries, with keys short and long. */
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), i % 2 ? "k%d" : "a rather long key number %d", i);
        assert_int_equal(seam_dict_set_int64(v, key, i * 1000), 0);
    }
    assert_int_equal(seam_dict_set_string(v, "kind", "replaced"), 0);
    assert_int_equal(seam_dict_remove(v, "seq"), 0);
    assert_int_equal(seam_dict_count(v), 42);
    assert_string_equal(seam_dict_get_string(v, "kind"), "replaced");
    int64_t n = 0;
    assert_true(seam_dict_get_int64(v, "a rather long key number 38", &n));
    assert_int_equal(n, 38000);
    assert_null(seam_dict_get(v, "seq"));
    size_t len = 0;
    assert_non_null(seam_value_get_data(seam_dict_get(v, "body"), &len));
    assert_int_equal(len, 64);
    seam_value_unref(v);
    assert_int_equal(heap_live, live);
    seam_value_unref(m);
}

static void test_a_decoded_array_grows_past_its_items(void **state)
{
    (void)state;
    seam_value *a = seam_value_new_array();
    assert_int_equal(seam_array_append_take(a, seam_value_new_int64(100)), 0);
    assert_int_equal(seam_array_append_take(a, seam_value_new_string("x")), 0);
    long long live = heap_live;
    seam_value *v = roundtrip(a);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(seam_array_append_take(v, seam_value_new_int64(1000 + i)), 0);
    }
    assert_int_equal(seam_array_count(v), 22);
    int64_t n = 0;
    assert_true(seam_value_get_int64(seam_array_get(v, 0), &n));
    assert_int_equal(n, 100);
    assert_string_equal(seam_value_get_string(seam_array_get(v, 1), NULL), "x");
    assert_true(seam_value_get_int64(seam_array_get(v, 21), &n));
    assert_int_equal(n, 1019);
    seam_value_unref(v);
    assert_int_equal(heap_live, live);
    seam_value_unref(a);
}

/* A value of one message put into another keeps the first alive until the
 * second lets go of it; values moved within their own message, also into a
 * container made on its own, are given back with it. */
static void test_values_moved_between_messages_keep_and_free_theirs(void **state)
{
    (void)state;
    seam_value *m = message_new();
    long long live = heap_live;
    seam_value *a = roundtrip(m);
    seam_value *b = roundtrip(m);
    assert_int_equal(seam_dict_set(a, "other", seam_dict_get(b, "body")), 0);
    seam_value_unref(b);
    size_t len = 0;
    assert_non_null(seam_value_get_data(seam_dict_get(a, "other"), &len));
    assert_int_equal(len, 64);
    assert_int_equal(seam_dict_set(a, "again", seam_dict_get(a, "kind")), 0);
    seam_value *list = seam_value_new_array();
    assert_int_equal(seam_array_append(list, seam_dict_get(a, "body")), 0);
    assert_int_equal(seam_dict_set_take(a, "list", list), 0);
    seam_value_unref(a);
    assert_int_equal(heap_live, live);
    seam_value_unref(m);
}

static void test_a_dictionary_holding_a_decoded_value_keeps_its_message(void **state)
{
    (void)state;
    seam_value *m = message_new();
    long long live = heap_live;
    seam_value *v = roundtrip(m);
    seam_value *keep = seam_value_new_dict();
    assert_int_equal(seam_dict_set(keep, "kind", seam_dict_get(v, "kind")), 0);
    seam_value_unref(v);
    assert_string_equal(seam_dict_get_string(keep, "kind"), "bench");
    seam_value *copy = seam_value_copy(keep);
    seam_value_unref(keep);
    assert_string_equal(seam_dict_get_string(copy, "kind"), "bench");
    seam_value_unref(copy);
    assert_int_equal(heap_live, live);
    seam_value_unref(m);
}

static void test_a_decoded_descriptor_is_closed_with_its_message(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    seam_value *m = message_new();
    assert_int_equal(seam_dict_set_take(m, "fd", seam_value_new_fd(p[0])), 0);
    seam__buf b = {0};
    int fds[4];
    size_t nfds = 0;
    assert_int_equal(seam__encode(m, &b, fds, 4, &nfds), 0);
    assert_int_equal(nfds, 1);
    seam_value *v = NULL;
    assert_int_equal(seam__decode(b.data, b.len, NULL, fds, nfds, &v), 0);
    int fd = seam_value_get_fd(seam_dict_get(v, "fd"));
    assert_true(fd >= 0 && fd != p[0]);
    assert_true(fcntl(fd, F_GETFD) >= 0);
    seam_value_unref(v);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    seam__buf_free(&b);
    seam_value_unref(m);
    close(p[0]);
    close(p[1]);
}

/* A failed decode gives back everything, whatever it had built. */
static void test_a_failed_decode_holds_nothing(void **state)
{
    (void)state;
    static const uint8_t dup_key[] = {0xA2, 0x61, 'a', 0x19, 0x03, 0xE8, 0x61, 'a', 0x01};
    static const uint8_t trailing[] = {0x82, 0x19, 0x03, 0xE8, 0x62, 'h', 'i', 0x00};
    long long live = heap_live;
    seam_value *v = NULL;
    assert_int_equal(seam_value_decode(dup_key, sizeof(dup_key), NULL, &v), SEAM_EDUPKEY);
    assert_int_equal(seam_value_decode(trailing, sizeof(trailing), NULL, &v), SEAM_ETRAILING);
    assert_null(v);
    assert_int_equal(heap_live, live);
}

/* ---- a dictionary kept between sends ---- */

static void test_a_kept_dictionary_updated_in_place_allocates_nothing(void **state)
{
    (void)state;
    seam_value *m = message_new();
    assert_int_equal(seam_dict_set_double(m, "load", 0.5), 0);
    assert_int_equal(seam_dict_set_bool(m, "last", false), 0);
    uint8_t body[64];
    long long allocs = heap_allocs;
    for (int i = 0; i < 100; i++) {
        memset(body, i, sizeof(body));
        assert_int_equal(seam_dict_set_int64(m, "seq", 100000 + i), 0);
        assert_int_equal(seam_dict_set_string(m, "kind", i % 2 ? "bench" : "b"), 0);
        assert_int_equal(seam_dict_set_data(m, "body", body, i % 2 ? 64 : 10), 0);
        assert_int_equal(seam_dict_set_double(m, "load", i / 100.0), 0);
        assert_int_equal(seam_dict_set_bool(m, "last", i == 99), 0);
    }
    assert_int_equal(heap_allocs - allocs, 0);
    int64_t seq = 0;
    assert_true(seam_dict_get_int64(m, "seq", &seq));
    assert_int_equal(seq, 100099);
    assert_string_equal(seam_dict_get_string(m, "kind"), "bench");
    size_t len = 0;
    const uint8_t *got = seam_value_get_data(seam_dict_get(m, "body"), &len);
    assert_int_equal(len, 64);
    assert_int_equal(got[63], 99);
    seam_value_unref(m);
}

static void test_a_value_referenced_elsewhere_is_replaced_not_overwritten(void **state)
{
    (void)state;
    seam_value *m = message_new();
    seam_value *seq = seam_value_ref(seam_dict_get(m, "seq"));
    seam_value *kind = seam_value_ref(seam_dict_get(m, "kind"));
    assert_int_equal(seam_dict_set_int64(m, "seq", 2000), 0);
    assert_int_equal(seam_dict_set_string(m, "kind", "other"), 0);
    int64_t n = 0;
    assert_true(seam_value_get_int64(seq, &n));
    assert_int_equal(n, 1000);
    assert_string_equal(seam_value_get_string(kind, NULL), "bench");
    assert_true(seam_dict_get_int64(m, "seq", &n));
    assert_int_equal(n, 2000);
    assert_string_equal(seam_dict_get_string(m, "kind"), "other");
    seam_value_unref(seq);
    seam_value_unref(kind);
    seam_value_unref(m);
}

static void test_a_longer_string_or_another_type_replaces_the_value(void **state)
{
    (void)state;
    seam_value *m = message_new();
    assert_int_equal(seam_dict_set_string(m, "kind", "a longer kind than before"), 0);
    assert_string_equal(seam_dict_get_string(m, "kind"), "a longer kind than before");
    assert_int_equal(seam_dict_set_string(m, "seq", "now a string"), 0);
    assert_string_equal(seam_dict_get_string(m, "seq"), "now a string");
    assert_int_equal(seam_dict_set_string(m, "kind", "\xc3\xa9"), 0);
    assert_int_equal(seam_dict_set_string(m, "kind", "\xc3\x28"), SEAM_EINVAL);
    assert_string_equal(seam_dict_get_string(m, "kind"), "\xc3\xa9");
    seam_value_unref(m);
}

static void test_a_decoded_dictionary_is_updated_by_replacing(void **state)
{
    (void)state;
    seam_value *m = message_new();
    long long live = heap_live;
    seam_value *v = roundtrip(m);
    seam_value *seq = seam_value_ref(seam_dict_get(v, "seq"));
    assert_int_equal(seam_dict_set_int64(v, "seq", 5000), 0);
    assert_int_equal(seam_dict_set_string(v, "kind", "bench"), 0);
    int64_t n = 0;
    assert_true(seam_value_get_int64(seq, &n));
    assert_int_equal(n, 1000);
    assert_true(seam_dict_get_int64(v, "seq", &n));
    assert_int_equal(n, 5000);
    seam_value_unref(v);
    seam_value_unref(seq);
    assert_int_equal(heap_live, live);
    seam_value_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoding_a_three_key_dictionary_makes_one_allocation),
        cmocka_unit_test(test_a_value_kept_past_its_message_stays_valid_and_is_freed_with_it),
        cmocka_unit_test(test_a_decoded_dictionary_changes_like_any_other),
        cmocka_unit_test(test_a_decoded_array_grows_past_its_items),
        cmocka_unit_test(test_values_moved_between_messages_keep_and_free_theirs),
        cmocka_unit_test(test_a_dictionary_holding_a_decoded_value_keeps_its_message),
        cmocka_unit_test(test_a_decoded_descriptor_is_closed_with_its_message),
        cmocka_unit_test(test_a_failed_decode_holds_nothing),
        cmocka_unit_test(test_a_kept_dictionary_updated_in_place_allocates_nothing),
        cmocka_unit_test(test_a_value_referenced_elsewhere_is_replaced_not_overwritten),
        cmocka_unit_test(test_a_longer_string_or_another_type_replaces_the_value),
        cmocka_unit_test(test_a_decoded_dictionary_is_updated_by_replacing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
