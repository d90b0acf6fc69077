/* SPDX-License-Identifier: MIT */
/* test_protocol.c - docs/protocol.md against the code: its worked examples
 * are produced byte for byte, and its error table names the same codes. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "hello.h"

#ifndef SEAM_SOURCE_DIR
#error "SEAM_SOURCE_DIR must name the source tree"
#endif

/* Parses "aa bb cc" hex text (the notation of the document) into bytes. */
static size_t hex(const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned byte;
    int used;
    while (sscanf(text, " %2x%n", &byte, &used) == 1) {
        assert_true(n < cap);
        out[n++] = (uint8_t)byte;
        text += used;
    }
    return n;
}

static void assert_encodes_to(const seam_value *v, const char *want_hex)
{
    uint8_t want[256];
    size_t want_len = hex(want_hex, want, sizeof(want));
    seam__buf out = {0};
    assert_int_equal(seam__encode(v, &out, NULL, 0, NULL), 0);
    assert_int_equal(out.len, want_len);
    assert_memory_equal(out.data, want, want_len);
    seam__buf_free(&out);
}

static void test_hello_example_matches_the_document(void **state)
{
    (void)state;
    uint8_t want[128];
    size_t n = hex("20 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00"
                   "a3 64 73 65 61 6d 01"
                   "69 6d 61 78 5f 66 72 61 6d 65 1a 01 00 00 00"
                   "67 6d 61 78 5f 66 64 73 18 40",
                   want, sizeof(want));
    seam__hello h = {1, 16777216, 64, 0, 0};
    seam__buf out = {0};
    assert_int_equal(seam__hello_write(&h, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    seam__hello back;
    assert_int_equal(seam__hello_read(want + 16, n - 16, &back), 0);
    assert_int_equal(back.max_frame, 16777216);
    seam__buf_free(&out);
}

static void test_request_example_matches_the_document(void **state)
{
    (void)state;
    uint8_t hdr[SEAM__FRAME_HEADER_SIZE];
    uint8_t want[SEAM__FRAME_HEADER_SIZE];
    hex("0b 00 00 00 03 00 00 00 01 00 00 00 00 00 00 00", want, sizeof(want));
    seam__frame_header h = {11, SEAM__KIND_REQUEST, 0, 0, 1};
    seam__frame_header_write(hdr, &h);
    assert_memory_equal(hdr, want, sizeof(want));
    assert_int_equal(seam__frame_header_check(&h, SEAM__FRAME_DEFAULT_MAX), 0);

    seam_value *v = seam_value_new_dict();
    assert_int_equal(seam_dict_set_string(v, "op", "add"), 0);
    assert_int_equal(seam_dict_set_int64(v, "a", 2), 0);
    assert_encodes_to(v, "a2 62 6f 70 63 61 64 64 61 61 02");
    seam_value_unref(v);
}

static void test_error_example_matches_the_document(void **state)
{
    (void)state;
    uint8_t hdr[SEAM__FRAME_HEADER_SIZE];
    uint8_t want[SEAM__FRAME_HEADER_SIZE];
    hex("1b 00 00 00 05 00 00 00 01 00 00 00 00 00 00 00", want, sizeof(want));
    seam__frame_header h = {27, SEAM__KIND_ERROR, 0, 0, 1};
    seam__frame_header_write(hdr, &h);
    assert_memory_equal(hdr, want, sizeof(want));

    seam_value *v = seam_value_new_dict();
    assert_int_equal(seam_dict_set_int64(v, "code", SEAM_ENOTSUP), 0);
    assert_int_equal(seam_dict_set_string(v, "message", "no handler"), 0);
    assert_encodes_to(v, "a2 64 63 6f 64 65 38 5e"
                         "67 6d 65 73 73 61 67 65 6a 6e 6f 20 68 61 6e 64 6c 65 72");
    seam_value_unref(v);
}

static void test_raw_example_header_matches_the_document(void **state)
{
    (void)state;
    uint8_t want[SEAM__FRAME_HEADER_SIZE];
    hex("06 00 00 00 02 01 00 00 00 00 00 00 00 00 00 00", want, sizeof(want));
    seam__frame_header h;
    seam__frame_header_read(want, &h);
    assert_int_equal(h.len, 6);
    assert_int_equal(h.kind, SEAM__KIND_MESSAGE);
    assert_int_equal(h.flags, SEAM__FLAG_RAW);
    assert_int_equal(seam__frame_header_check(&h, SEAM__FRAME_DEFAULT_MAX), 0);
}

static void test_value_examples_match_the_document(void **state)
{
    (void)state;
    seam_value *date = seam_value_new_date(1e9);
    assert_encodes_to(date, "c1 fb 41 cd cd 65 00 00 00 00");
    seam_value_unref(date);

    const uint8_t id[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                            0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    seam_value *uuid = seam_value_new_uuid(id);
    assert_encodes_to(uuid, "d8 25 50 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff");
    seam_value_unref(uuid);

    int fds[1];
    size_t nfds = 0;
    seam_value *fd = seam_value_new_fd(0);
    assert_non_null(fd);
    seam__buf out = {0};
    assert_int_equal(seam__encode(fd, &out, fds, 1, &nfds), 0);
    uint8_t want[8];
    size_t n = hex("da 73 65 61 6d 00", want, sizeof(want));
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    assert_int_equal(nfds, 1);
    seam__buf_free(&out);
    seam_value_unref(fd);
}

static void test_memfd_example_matches_the_document(void **state)
{
    (void)state;
    seam__hello h = {1, 16777216, 64, 0, 262144};
    seam__buf out = {0};
    assert_int_equal(seam__hello_write(&h, &out), 0);
    uint8_t entry[16];
    size_t n = hex("65 6d 65 6d 66 64 1a 00 04 00 00", entry, sizeof(entry));
    assert_non_null(memmem(out.data, out.len, entry, n));
    seam__buf_free(&out);

    int fd = memfd_create("example", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(fallocate(fd, 0, 0, 16777216), 0);
    seam_value *m = seam_value_new_dict();
    seam_dict_set_take(m, "blob", seam_value_new_data_memfd(fd, 16777216));
    int fds[64];
    size_t nfds = 0;
    const seam__enc_memfd mf = {262144, 64};
    assert_int_equal(seam__encode_gather(m, &out, fds, 64, &nfds, NULL, NULL, 0, &mf, 0), 0);
    uint8_t want[32];
    n = hex("a1 64 62 6c 6f 62 da 73 65 61 6e 82 00 1a 01 00 00 00", want, sizeof(want));
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    assert_int_equal(nfds, 1);
    assert_int_equal(fds[0], fd);
    seam__frame_header fh = {(uint32_t)n, SEAM__KIND_MESSAGE, 0, (uint16_t)nfds, 0};
    uint8_t hdr[16];
    seam__frame_header_write(hdr, &fh);
    n = hex("12 00 00 00 02 00 01 00 00 00 00 00 00 00 00 00", want, sizeof(want));
    assert_memory_equal(hdr, want, n);
    seam__buf_free(&out);
    seam_value_unref(m);
}

/* Every row "| −N | `NAME` |" of the error table names the code the library
 * calls SEAM_NAME, and every code the library names is in the table. */
static void test_error_table_matches_the_library(void **state)
{
    (void)state;
    FILE *f = fopen(SEAM_SOURCE_DIR "/docs/protocol.md", "r");
    assert_non_null(f);
    char line[512];
    int rows = 0;
    bool seen[4000] = {false};
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned code;
        char name[32];
        /* The document writes the minus sign as U+2212 (e2 88 92). */
        if (sscanf(line, "| \xe2\x88\x92%u | `%31[A-Z0-9]` |", &code, name) != 2) {
            continue;
        }
        char want[48];
        snprintf(want, sizeof(want), "SEAM_%s", name);
        assert_string_equal(seam_errname(-(int)code), want);
        assert_true(code < 4000);
        seen[code] = true;
        rows++;
    }
    fclose(f);
    for (int c = 1; c < 4000; c++) {
        const char *name = seam_errname(-c);
        /* plain errno names ("ENOENT") are the system's, not seam's codes */
        bool seams = strncmp(name, "SEAM_", 5) == 0 && strcmp(name, "SEAM_EUNKNOWN") != 0;
        if (seams && !seen[c]) {
            fail_msg("%s (%d) is missing from the protocol's error table", name, -c);
        }
    }
    assert_true(rows >= 37);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_example_matches_the_document),
        cmocka_unit_test(test_request_example_matches_the_document),
        cmocka_unit_test(test_error_example_matches_the_document),
        cmocka_unit_test(test_raw_example_header_matches_the_document),
        cmocka_unit_test(test_value_examples_match_the_document),
        cmocka_unit_test(test_memfd_example_matches_the_document),
        cmocka_unit_test(test_error_table_matches_the_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
