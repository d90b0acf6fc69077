/* SPDX-License-Identifier: MIT */
/* test_hello.c - the handshake frame: what seam__hello_write() produces
 * reads back through the frame header and seam__hello_read(), and what a
 * peer may not announce is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hello.h"

/* Encodes dict as a hello payload and reads it; consumes dict. */
static int read_dict(seam_value *dict, seam__hello *out)
{
    assert_non_null(dict);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(seam_value_encode(dict, &bytes, &len), 0);
    int r = seam__hello_read(bytes, len, out);
    free(bytes);
    seam_value_unref(dict);
    return r;
}

/* {"seam": version, "max_frame": max_frame, "max_fds": max_fds} */
static seam_value *hello_dict(int64_t version, int64_t max_frame, int64_t max_fds)
{
    seam_value *d = seam_value_new_dict();
    assert_int_equal(seam_dict_set_int64(d, "seam", version), 0);
    assert_int_equal(seam_dict_set_int64(d, "max_frame", max_frame), 0);
    assert_int_equal(seam_dict_set_int64(d, "max_fds", max_fds), 0);
    return d;
}

static int read_hex(const char *text, seam__hello *out)
{
    uint8_t bytes[256];
    size_t n = 0;
    unsigned byte;
    int used;
    while (sscanf(text, " %2x%n", &byte, &used) == 1) {
        assert_true(n < sizeof(bytes));
        bytes[n++] = (uint8_t)byte;
        text += used;
    }
    return seam__hello_read(bytes, n, out);
}

static const seam__hello untouched = {0xAAAA, 0xBBBB, 0xCCCC, 0xDDDD, 0xEEEE};

static void assert_untouched(const seam__hello *h)
{
    assert_memory_equal(h, &untouched, sizeof(*h));
}

static void test_written_hello_reads_back_through_header_and_payload(void **state)
{
    (void)state;
    const seam__hello cases[] = {
        {1, 16777216, 64, 0, 0},
        {1, SEAM__HELLO_MIN_FRAME, 0, 0, SEAM__HELLO_MIN_MEMFD},
        {7, (uint64_t)1 << 40, 3, 1u << 16, 1u << 18},
        {UINT64_MAX, UINT64_MAX, UINT64_MAX, 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam__buf out = {0};
        assert_int_equal(seam__hello_write(&cases[i], &out), 0);
        assert_true(out.len > SEAM__FRAME_HEADER_SIZE);

        seam__frame_header h;
        seam__frame_header_read(out.data, &h);
        assert_int_equal(h.kind, SEAM__KIND_HELLO);
        assert_int_equal(h.flags, 0);
        assert_int_equal(h.nfds, 0);
        assert_true(h.id == 0);
        assert_int_equal(h.len, out.len - SEAM__FRAME_HEADER_SIZE);
        assert_int_equal(seam__frame_header_check(&h, SEAM__HELLO_MIN_FRAME), 0);

        seam__hello back = untouched;
        assert_int_equal(seam__hello_read(out.data + SEAM__FRAME_HEADER_SIZE, h.len, &back), 0);
        assert_true(back.version == cases[i].version);
        assert_true(back.max_frame == cases[i].max_frame);
        assert_true(back.max_fds == (cases[i].max_fds < 64 ? cases[i].max_fds : 64));
        assert_true(back.memfd == cases[i].memfd);
        seam__buf_free(&out);
    }
}

static void test_written_hello_passes_through_the_frame_parser(void **state)
{
    (void)state;
    const seam__hello hello = {1, 1u << 20, 16, 0, 0};
    seam__buf out = {0};
    assert_int_equal(seam__hello_write(&hello, &out), 0);
    seam__frame_parser p;
    seam__frame_parser_init(&p, SEAM__HELLO_MIN_FRAME);
    const uint8_t *in = out.data;
    size_t left = out.len;
    seam__frame f;
    assert_int_equal(seam__frame_parser_next(&p, &in, &left, &f), 1);
    assert_int_equal(left, 0);
    seam__hello back;
    assert_int_equal(seam__hello_read(f.payload, f.h.len, &back), 0);
    assert_memory_equal(&back, &hello, sizeof(hello));
    seam__frame_parser_free(&p);
    seam__buf_free(&out);
}

static void test_hello_write_appends_after_what_the_buffer_holds(void **state)
{
    (void)state;
    seam__buf out = {0};
    assert_int_equal(seam__buf_append(&out, "xyz", 3), 0);
    const seam__hello hello = {1, 4096, 1, 0, 0};
    assert_int_equal(seam__hello_write(&hello, &out), 0);
    assert_memory_equal(out.data, "xyz", 3);
    seam__frame_header h;
    seam__frame_header_read(out.data + 3, &h);
    assert_int_equal(h.kind, SEAM__KIND_HELLO);
    assert_int_equal(3 + SEAM__FRAME_HEADER_SIZE + h.len, out.len);
    seam__hello back;
    assert_int_equal(seam__hello_read(out.data + 3 + SEAM__FRAME_HEADER_SIZE, h.len, &back), 0);
    assert_true(back.max_fds == 1);
    seam__buf_free(&out);
}

static void test_unknown_keys_are_ignored(void **state)
{
    (void)state;
    seam_value *d = seam_value_new_dict();
    assert_int_equal(seam_dict_set_string(d, "future", "feature"), 0);
    assert_int_equal(seam_dict_set_int64(d, "max_fds", 8), 0);
    seam_value *list = seam_value_new_array();
    assert_int_equal(seam_array_append_take(list, seam_value_new_double(1.5)), 0);
    assert_int_equal(seam_array_append_take(list, seam_value_new_null()), 0);
    assert_int_equal(seam_dict_set_take(d, "extensions", list), 0);
    assert_int_equal(seam_dict_set_int64(d, "max_frame", 65536), 0);
    assert_int_equal(seam_dict_set_take(d, "nested", seam_value_new_dict()), 0);
    assert_int_equal(seam_dict_set_int64(d, "seam", 2), 0);
    assert_int_equal(seam_dict_set_data(d, "blob", "\x00\x01", 2), 0);
    seam__hello h = untouched;
    assert_int_equal(read_dict(d, &h), 0);
    assert_true(h.version == 2);
    assert_true(h.max_frame == 65536);
    assert_true(h.max_fds == 8);
}

static void test_missing_required_key_is_ehandshake(void **state)
{
    (void)state;
    const char *keys[] = {"seam", "max_frame", "max_fds"};
    for (size_t i = 0; i < 3; i++) {
        seam_value *d = hello_dict(1, 4096, 4);
        assert_int_equal(seam_dict_remove(d, keys[i]), 0);
        seam__hello h = untouched;
        assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
        assert_untouched(&h);
    }
    seam__hello h = untouched;
    assert_int_equal(read_dict(seam_value_new_dict(), &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
}

static void test_version_zero_is_ehandshake(void **state)
{
    (void)state;
    seam__hello h = untouched;
    assert_int_equal(read_dict(hello_dict(0, 4096, 4), &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
    assert_int_equal(read_dict(hello_dict(1, 4096, 4), &h), 0);
    assert_true(h.version == 1);
}

static void test_max_frame_below_4096_is_ehandshake(void **state)
{
    (void)state;
    seam__hello h = untouched;
    assert_int_equal(read_dict(hello_dict(1, 4095, 4), &h), SEAM_EHANDSHAKE);
    assert_int_equal(read_dict(hello_dict(1, 0, 4), &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
    assert_int_equal(read_dict(hello_dict(1, 4096, 4), &h), 0);
    assert_true(h.max_frame == 4096);
}

static void test_key_of_the_wrong_type_is_ehandshake(void **state)
{
    (void)state;
    seam__hello h = untouched;
    seam_value *d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_string(d, "seam", "1"), 0);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    d = hello_dict(-1, 4096, 4);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_double(d, "max_frame", 65536.0), 0);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    d = hello_dict(1, 4096, -1);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_bool(d, "max_fds", true), 0);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
}

static void test_payload_that_is_not_a_map_is_ehandshake(void **state)
{
    (void)state;
    seam__hello h = untouched;
    seam_value *a = seam_value_new_array();
    assert_int_equal(seam_array_append_take(a, hello_dict(1, 4096, 4)), 0);
    assert_int_equal(read_dict(a, &h), SEAM_EHANDSHAKE);
    assert_int_equal(read_hex("01", &h), SEAM_EHANDSHAKE);
    assert_int_equal(read_hex("f6", &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
}

static void test_undecodable_payload_returns_the_codec_error(void **state)
{
    (void)state;
    seam__hello h = untouched;
    assert_int_equal(seam__hello_read(NULL, 0, &h), SEAM_ETRUNCATED);
    assert_int_equal(read_hex("ff", &h), SEAM_EMALFORMED);
    assert_int_equal(read_hex("a3 64 73 65 61 6d", &h), SEAM_ETRUNCATED);
    assert_int_equal(read_hex("a1 64 73 65 61 6d 01 00", &h), SEAM_ETRAILING);
    assert_int_equal(read_hex("a2 64 73 65 61 6d 01 64 73 65 61 6d 02", &h), SEAM_EDUPKEY);
    assert_int_equal(read_hex("a1 01 01", &h), SEAM_EKEY);
    assert_int_equal(read_hex("bf ff", &h), SEAM_EINDEF);
    assert_int_equal(read_hex("a1 64 73 65 61 ff 01", &h), SEAM_EUTF8);
    assert_untouched(&h);
}

/* docs/protocol.md, "Handshake": any map of unknown keys fits as long as
 * the payload stays within 4096 bytes. */
static void test_hello_takes_any_unknown_entries_within_4096_bytes(void **state)
{
    (void)state;
    seam__hello h = untouched;
    /* 256 unknown entries, and more */
    seam_value *d = hello_dict(1, 4096, 4);
    for (int i = 0; i < 300; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%03d", i);
        assert_int_equal(seam_dict_set_take(d, key, seam_value_new_null()), 0);
    }
    assert_int_equal(read_dict(d, &h), 0);
    assert_true(h.version == 1);

    /* an unknown key of 1100 bytes, an unknown text value of 1100 */
    char text[1101];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = 0;
    d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_take(d, text, seam_value_new_null()), 0);
    assert_int_equal(seam_dict_set_string(d, "x", text), 0);
    h = untouched;
    assert_int_equal(read_dict(d, &h), 0);
    assert_true(h.max_fds == 4);

    /* an unknown array of 1000 items */
    d = hello_dict(1, 4096, 4);
    seam_value *wide = seam_value_new_array();
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(seam_array_append_take(wide, seam_value_new_int64(i % 24)), 0);
    }
    assert_int_equal(seam_dict_set_take(d, "x", wide), 0);
    h = untouched;
    assert_int_equal(read_dict(d, &h), 0);
    assert_true(h.max_frame == 4096);

    /* nesting to the default depth of 64 (the map is level 1) */
    d = hello_dict(1, 4096, 4);
    seam_value *deep = seam_value_new_int64(0);
    for (int i = 0; i < 63; i++) {
        seam_value *a = seam_value_new_array();
        assert_int_equal(seam_array_append_take(a, deep), 0);
        deep = a;
    }
    assert_int_equal(seam_dict_set_take(d, "x", deep), 0);
    h = untouched;
    assert_int_equal(read_dict(d, &h), 0);
}

static void test_hello_beyond_4096_bytes_or_64_levels_is_refused(void **state)
{
    (void)state;
    seam__hello h = untouched;
    /* {"seam": 1, "max_frame": 4096, "max_fds": 4, "x": 64 nested arrays}:
     * 65 levels with the map, which no seam encoder writes */
    uint8_t deep[128];
    size_t n = 0;
    static const uint8_t head[] = {0xa4, 0x64, 's', 'e', 'a', 'm', 0x01, 0x69, 'm',  'a',  'x',
                                   '_',  'f',  'r', 'a', 'm', 'e', 0x19, 0x10, 0x00, 0x67, 'm',
                                   'a',  'x',  '_', 'f', 'd', 's', 0x04, 0x61, 'x'};
    memcpy(deep, head, sizeof(head));
    n = sizeof(head);
    memset(deep + n, 0x81, 64);
    n += 64;
    deep[n++] = 0x00;
    assert_int_equal(seam__hello_read(deep, n, &h), SEAM_EDEPTH);
    deep[sizeof(head)] = 0x00; /* one level less: 64 with the map */
    assert_int_equal(seam__hello_read(deep, sizeof(head) + 1, &h), 0);
    assert_true(h.max_fds == 4);
    h = untouched;

    char text[4097];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = 0;
    seam_value *d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_string(d, "x", text), 0);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
}

/* docs/protocol.md, "Handshake": no frame carries more than 64
 * descriptors, so a larger max_fds is read as 64 rather than refused. */
static void test_max_fds_above_64_is_read_as_64(void **state)
{
    (void)state;
    seam__hello h = untouched;
    assert_int_equal(read_dict(hello_dict(1, 4096, 65), &h), 0);
    assert_true(h.max_fds == 64);
    h = untouched;
    assert_int_equal(read_dict(hello_dict(1, 4096, 1000000), &h), 0);
    assert_true(h.max_fds == 64);
    h = untouched;
    assert_int_equal(read_dict(hello_dict(1, 4096, 64), &h), 0);
    assert_true(h.max_fds == 64);
    assert_int_equal(read_dict(hello_dict(1, 4096, 0), &h), 0);
    assert_true(h.max_fds == 0);
}

static void test_memfd_threshold_reads_back_and_is_zero_when_absent(void **state)
{
    (void)state;
    seam__hello h = untouched;
    assert_int_equal(read_dict(hello_dict(1, 4096, 4), &h), 0);
    assert_true(h.memfd == 0);
    seam_value *d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_int64(d, "memfd", 4096), 0);
    assert_int_equal(read_dict(d, &h), 0);
    assert_true(h.memfd == 4096);
}

static void test_memfd_threshold_below_4096_or_not_unsigned_is_ehandshake(void **state)
{
    (void)state;
    seam__hello h = untouched;
    const int64_t bad[] = {4095, 0, -1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        seam_value *d = hello_dict(1, 4096, 4);
        assert_int_equal(seam_dict_set_int64(d, "memfd", bad[i]), 0);
        assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    }
    seam_value *d = hello_dict(1, 4096, 4);
    assert_int_equal(seam_dict_set_string(d, "memfd", "65536"), 0);
    assert_int_equal(read_dict(d, &h), SEAM_EHANDSHAKE);
    assert_untouched(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_written_hello_reads_back_through_header_and_payload),
        cmocka_unit_test(test_written_hello_passes_through_the_frame_parser),
        cmocka_unit_test(test_hello_write_appends_after_what_the_buffer_holds),
        cmocka_unit_test(test_unknown_keys_are_ignored),
        cmocka_unit_test(test_missing_required_key_is_ehandshake),
        cmocka_unit_test(test_version_zero_is_ehandshake),
        cmocka_unit_test(test_max_frame_below_4096_is_ehandshake),
        cmocka_unit_test(test_key_of_the_wrong_type_is_ehandshake),
        cmocka_unit_test(test_payload_that_is_not_a_map_is_ehandshake),
        cmocka_unit_test(test_undecodable_payload_returns_the_codec_error),
        cmocka_unit_test(test_hello_takes_any_unknown_entries_within_4096_bytes),
        cmocka_unit_test(test_hello_beyond_4096_bytes_or_64_levels_is_refused),
        cmocka_unit_test(test_max_fds_above_64_is_read_as_64),
        cmocka_unit_test(test_memfd_threshold_reads_back_and_is_zero_when_absent),
        cmocka_unit_test(test_memfd_threshold_below_4096_or_not_unsigned_is_ehandshake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
