/* SPDX-License-Identifier: MIT */
/* regress_json_portable.c - JSON output that survives readers holding every
 * number as a double (JavaScript, jq 1.6), simulated with jansson's
 * JSON_DECODE_INT_AS_REAL: types and values come back unchanged. */
#include <seam.h>

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The text after a double-only reader parsed and re-wrote it. */
static char *through_double_reader(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &e);
    assert_non_null(j);
    /* a double-only reader writes integral values without a point, as
     * jq 1.6 and JavaScript's JSON.stringify do */
    char *out = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(j);
    assert_non_null(out);
    for (char *p = strstr(out, ".0"); p != NULL; p = strstr(p, ".0")) {
        bool end = p[2] < '0' || p[2] > '9';
        if (end) {
            memmove(p, p + 2, strlen(p + 2) + 1);
        } else {
            p += 2;
        }
    }
    return out;
}

static seam_value *sample(void)
{
    seam_value *v = seam_value_new_dict();
    seam_dict_set_double(v, "whole", 1.0);
    seam_dict_set_double(v, "minus_zero", -0.0);
    seam_dict_set_double(v, "big", 1e300);
    seam_dict_set_double(v, "half", 0.5);
    seam_dict_set_int64(v, "int", 42);
    seam_dict_set_take(v, "past_2_53", seam_value_new_int64(9007199254740993LL));
    seam_dict_set_take(v, "below_minus_2_53", seam_value_new_int64(-9007199254740993LL));
    seam_dict_set_take(v, "u64", seam_value_new_uint64(UINT64_MAX));
    seam_dict_set_take(v, "date", seam_value_new_date(1767225600.0));
    return v;
}

static void test_portable_json_keeps_types_through_a_double_only_reader(void **state)
{
    (void)state;
    seam_value *v = sample();
    char *text = seam_value_to_json(v, SEAM_JSON_PORTABLE);
    assert_non_null(text);
    char *after = through_double_reader(text);
    seam_value *back = NULL;
    assert_int_equal(seam_value_from_json(after, &back), 0);
    if (!seam_value_equal(v, back)) {
        fail_msg("%s became %s", text, after);
    }
    assert_int_equal(seam_value_type(seam_dict_get(back, "whole")), SEAM_TYPE_DOUBLE);
    assert_int_equal(seam_value_type(seam_dict_get(back, "past_2_53")), SEAM_TYPE_INT64);
    double d = 1;
    assert_true(seam_dict_get_double(back, "minus_zero", &d));
    assert_true(d == 0 && signbit(d));
    seam_value_unref(back);
    free(after);
    free(text);
    seam_value_unref(v);
}

static void test_plain_json_does_not_survive_a_double_only_reader(void **state)
{
    (void)state;
    /* why the portable form exists: 1.0 comes back an integer and 2^53+1
     * comes back rounded */
    seam_value *v = sample();
    char *text = seam_value_to_json(v, 0);
    char *after = through_double_reader(text);
    seam_value *back = NULL;
    assert_int_equal(seam_value_from_json(after, &back), 0);
    assert_false(seam_value_equal(v, back));
    seam_value_unref(back);
    free(after);
    free(text);
    seam_value_unref(v);
}

static void test_portable_forms_are_read_back(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        seam_type type;
    } cases[] = {
        {"{\"$double\":\"1.0\"}", SEAM_TYPE_DOUBLE},
        {"{\"$double\":\"1\"}", SEAM_TYPE_DOUBLE},
        {"{\"$double\":\"-2.5e3\"}", SEAM_TYPE_DOUBLE},
        {"{\"$int64\":\"-9223372036854775808\"}", SEAM_TYPE_INT64},
        {"{\"$int64\":\"12\"}", SEAM_TYPE_INT64},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seam_value *v = NULL;
        assert_int_equal(seam_value_from_json(cases[i].text, &v), 0);
        assert_int_equal(seam_value_type(v), cases[i].type);
        seam_value_unref(v);
    }
    static const char *const bad[] = {
        "{\"$double\":\" 1\"}",
        "{\"$double\":\"1e999\"}",
        "{\"$double\":\"0x10\"}",
        "{\"$int64\":\"1.5\"}",
        "{\"$int64\":\"9223372036854775808\"}",
        "{\"$int64\":\"\"}",
        "{\"$int64\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        seam_value *v = NULL;
        if (seam_value_from_json(bad[i], &v) != SEAM_EJSON) {
            fail_msg("%s was accepted", bad[i]);
        }
    }
    /* a dictionary whose one key is "$int64" is wrapped like the others */
    seam_value *d = seam_value_new_dict();
    seam_dict_set_int64(d, "$int64", 1);
    char *text = seam_value_to_json(d, 0);
    assert_string_equal(text, "{\"$dict\":{\"$int64\":1}}");
    free(text);
    seam_value_unref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable_json_keeps_types_through_a_double_only_reader),
        cmocka_unit_test(test_plain_json_does_not_survive_a_double_only_reader),
        cmocka_unit_test(test_portable_forms_are_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
