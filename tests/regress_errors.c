/* SPDX-License-Identifier: MIT */
/* regress_errors.c - errors that explain themselves: names of plain errno
 * values, one meaning per code, and JSON errors with a reason and a
 * position. */
#include <seam.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_errname_of_a_plain_errno_is_its_c_name(void **state)
{
    (void)state;
    assert_string_equal(seam_errname(-ENOENT), "ENOENT");
    assert_string_equal(seam_errname(-ENOTDIR), "ENOTDIR");
    assert_string_equal(seam_errname(-ECONNREFUSED), "ECONNREFUSED");
    assert_string_equal(seam_strerror(-ENOENT), strerror(ENOENT));
    /* seam's own names win where a code has one */
    assert_string_equal(seam_errname(SEAM_EACCES), "SEAM_EACCES");
    assert_string_equal(seam_errname(-2999), "SEAM_EUNKNOWN");
    assert_string_equal(seam_errname(-99999), "SEAM_EUNKNOWN");
}

static void test_cancel_of_an_ended_call_has_a_code_of_its_own(void **state)
{
    (void)state;
    assert_int_not_equal(SEAM_ENOCALL, SEAM_ENOTFOUND);
    assert_string_equal(seam_errname(SEAM_ENOCALL), "SEAM_ENOCALL");
    assert_null(strstr(seam_strerror(SEAM_ENOCALL), "server"));
    assert_non_null(strstr(seam_strerror(SEAM_ENOCALL), "call"));
}

/* Parses text, wants code and the error at offset (line, column) with
 * reason containing the given words. */
static void expect_json_error(const char *text, int code, size_t offset, int line, int column,
                              const char *reason)
{
    seam_value *v = NULL;
    seam_json_error e;
    memset(&e, 0xff, sizeof(e));
    assert_int_equal(seam_value_from_json_ex(text, &v, &e), code);
    assert_null(v);
    if (strstr(e.reason, reason) == NULL || e.offset != offset || e.line != line ||
        e.column != column) {
        print_error("%s: got %zu %d:%d '%s', wanted %zu %d:%d '%s'\n", text, e.offset, e.line,
                    e.column, e.reason, offset, line, column, reason);
        fail();
    }
}

static void test_json_syntax_errors_say_why_and_where(void **state)
{
    (void)state;
    expect_json_error("{\"a\":", SEAM_EJSON, 5, 1, 6, "end of file");
    expect_json_error("[1, 2,, 3]", SEAM_EJSON, 7, 1, 8, "unexpected token");
    expect_json_error("{\"a\":1,\"a\":2}", SEAM_EJSON, 10, 1, 11, "duplicate object key");
    expect_json_error("[1, 18446744073709551616]", SEAM_EJSON, 24, 1, 25, "$uint64");
    expect_json_error("1e999", SEAM_EJSON, 5, 1, 6, "real number overflow");
    expect_json_error("[1,\n 2,\n x]", SEAM_EJSON, 10, 3, 3, "invalid token");
}

static void test_json_values_seam_cannot_hold_are_located(void **state)
{
    (void)state;
    expect_json_error("{\"b\":{\"$data\":\"AA=\"}}", SEAM_EJSON, 14, 1, 15, "not base64");
    expect_json_error("[0, {\"$uint64\": \"18446744073709551616\"}]", SEAM_EJSON, 16, 1, 17,
                      "0 to 18446744073709551615");
    expect_json_error("{\"x\": 1,\n \"y\": [true, {\"$uuid\": \"nope\"}]}", SEAM_EJSON, 32, 2, 24,
                      "8-4-4-4-12");
    expect_json_error("{\"$double\": \"1.5x\"}", SEAM_EJSON, 12, 1, 13, "\"nan\"");
    expect_json_error("{\"$date\": \"now\"}", SEAM_EJSON, 10, 1, 11, "finite number");
    expect_json_error("[[{\"$fd\": 0}]]", SEAM_EFD, 10, 1, 11, "descriptor");
    expect_json_error("{\"a\\u0000b\": 1}", SEAM_EJSON, 11, 1, 12, "NUL byte");
    /* keys with escapes and strings with brackets do not confuse the search */
    expect_json_error("{\"k\\\"]}\": \"[{\", \"z\": {\"$data\": \"!\"}}", SEAM_EJSON, 31, 1, 32,
                      "base64");
}

static void test_json_error_report_is_optional(void **state)
{
    (void)state;
    seam_value *v = NULL;
    assert_int_equal(seam_value_from_json_ex("{", &v, NULL), SEAM_EJSON);
    assert_int_equal(seam_value_from_json_ex("{\"$data\":\"?\"}", &v, NULL), SEAM_EJSON);
    assert_int_equal(seam_value_from_json_ex("[1]", &v, NULL), 0);
    assert_int_equal(seam_array_count(v), 1);
    seam_value_unref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errname_of_a_plain_errno_is_its_c_name),
        cmocka_unit_test(test_cancel_of_an_ended_call_has_a_code_of_its_own),
        cmocka_unit_test(test_json_syntax_errors_say_why_and_where),
        cmocka_unit_test(test_json_values_seam_cannot_hold_are_located),
        cmocka_unit_test(test_json_error_report_is_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
