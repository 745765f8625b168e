/* Unit tests for strparse: whole-input decimal parsing with overflow and limits, hex
 * checks, percent decoding (every bad escape form) and encoding, ASCII case folding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "strparse.h"

static int u64(const char *s, uint64_t max, uint64_t *out)
{
    return strparse_u64(s, strlen(s), max, out);
}

static int i64(const char *s, int64_t *out)
{
    return strparse_i64(s, strlen(s), out);
}

static void test_u64_ok(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(u64("0", UINT64_MAX, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(u64("12345", UINT64_MAX, &v), 0);
    assert_int_equal(v, 12345);
    assert_int_equal(u64("007", UINT64_MAX, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_u64_length_bounded(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(strparse_u64("123abc", 3, UINT64_MAX, &v), 0);
    assert_int_equal(v, 123);
}

static void test_u64_overflow(void **state)
{
    (void)state;
    uint64_t v = 77;
    assert_int_equal(u64("18446744073709551616", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(u64("99999999999999999999999999", UINT64_MAX, &v), -ERANGE);
    assert_int_equal(v, 77);
}

static void test_u64_over_max(void **state)
{
    (void)state;
    uint64_t v = 77;
    assert_int_equal(u64("101", 100, &v), -ERANGE);
    assert_int_equal(v, 77);
    assert_int_equal(u64("100", 100, &v), 0);
    assert_int_equal(v, 100);
}

static void test_u64_bad_forms(void **state)
{
    (void)state;
    uint64_t v = 77;
    assert_int_equal(u64("", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(strparse_u64(NULL, 0, UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64("-1", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64("+1", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64(" 1", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64("1 ", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64("12a", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64("0x10", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(u64("1.5", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(strparse_u64("1\0" "2", 3, UINT64_MAX, &v), -EINVAL);
    assert_int_equal(v, 77);
}

static void test_u64_overflow_then_junk(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(u64("18446744073709551616x", UINT64_MAX, &v), -EINVAL);
}

static void test_i64_ok(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(i64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(i64("-0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(i64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(i64("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
}

static void test_i64_range(void **state)
{
    (void)state;
    int64_t v = 5;
    assert_int_equal(i64("9223372036854775808", &v), -ERANGE);
    assert_int_equal(i64("-9223372036854775809", &v), -ERANGE);
    assert_int_equal(i64("18446744073709551616", &v), -ERANGE);
    assert_int_equal(v, 5);
}

static void test_i64_bad_forms(void **state)
{
    (void)state;
    int64_t v = 5;
    assert_int_equal(i64("", &v), -EINVAL);
    assert_int_equal(i64("-", &v), -EINVAL);
    assert_int_equal(i64("--1", &v), -EINVAL);
    assert_int_equal(i64("+1", &v), -EINVAL);
    assert_int_equal(i64("1-", &v), -EINVAL);
    assert_int_equal(i64(" -1", &v), -EINVAL);
    assert_int_equal(strparse_i64(NULL, 0, &v), -EINVAL);
    assert_int_equal(v, 5);
}

static void test_is_hex(void **state)
{
    (void)state;
    assert_true(strparse_is_hex("0123456789abcdefABCDEF", 22));
    assert_true(strparse_is_hex("900150983cd24fb0d6963f7d28e17f72", 32));
    assert_true(strparse_is_hex("", 0));
    assert_false(strparse_is_hex("abc", 2));
    assert_false(strparse_is_hex("abc", 4));
    assert_false(strparse_is_hex("abg", 3));
    assert_false(strparse_is_hex("ab c", 4));
    assert_false(strparse_is_hex("0x12", 4));
    assert_false(strparse_is_hex("", 1));
    assert_false(strparse_is_hex(NULL, 0));
}

static int dec(const char *s, bool plus, char *out, size_t cap, size_t *len)
{
    return strparse_pct_decode(s, strlen(s), plus, out, cap, len);
}

static void test_pct_decode_ok(void **state)
{
    (void)state;
    char out[64];
    size_t len = 0;
    assert_int_equal(dec("a%20b%2Fc%2fd", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "a b/c/d");
    assert_int_equal(len, 7);
    assert_int_equal(dec("%E4%B8%AD", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "\xe4\xb8\xad");
    assert_int_equal(len, 3);
    assert_int_equal(dec("plain", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "plain");
}

static void test_pct_decode_plus(void **state)
{
    (void)state;
    char out[16];
    size_t len = 0;
    assert_int_equal(dec("a+b", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "a+b");
    assert_int_equal(dec("a+b", true, out, sizeof(out), &len), 0);
    assert_string_equal(out, "a b");
    assert_int_equal(dec("a%2Bb", true, out, sizeof(out), &len), 0);
    assert_string_equal(out, "a+b");
}

static void test_pct_decode_empty(void **state)
{
    (void)state;
    char out[4] = "xyz";
    size_t len = 9;
    assert_int_equal(dec("", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
}

static void test_pct_decode_bad_escapes(void **state)
{
    (void)state;
    char out[32];
    size_t len = 0;
    assert_int_equal(dec("%zz", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("%4", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("%", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("abc%", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("abc%4", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("%4g", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("%g4", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("% 41", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("%-1", false, out, sizeof(out), &len), -EINVAL);
}

static void test_pct_decode_nul_rejected(void **state)
{
    (void)state;
    char out[32];
    size_t len = 0;
    assert_int_equal(dec("%00", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(dec("a%00b", false, out, sizeof(out), &len), -EINVAL);
    assert_int_equal(strparse_pct_decode("a\0b", 3, false, out, sizeof(out), &len), -EINVAL);
}

static void test_pct_decode_capacity(void **state)
{
    (void)state;
    char out[4];
    size_t len = 0;
    assert_int_equal(dec("abc", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(dec("abcd", false, out, sizeof(out), &len), -EMSGSIZE);
    assert_int_equal(dec("%41%42%43", false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "ABC");
    assert_int_equal(dec("%41%42%43%44", false, out, sizeof(out), &len), -EMSGSIZE);
    assert_int_equal(strparse_pct_decode("", 0, false, out, 0, &len), -EINVAL);
}

static void test_pct_decode_length_bounded(void **state)
{
    (void)state;
    char out[16];
    size_t len = 0;
    assert_int_equal(strparse_pct_decode("ab%41zz", 5, false, out, sizeof(out), &len), 0);
    assert_string_equal(out, "abA");
    assert_int_equal(strparse_pct_decode("ab%41", 4, false, out, sizeof(out), &len), -EINVAL);
}

static void test_pct_encode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(strparse_pct_encode("a b/c", false, out, sizeof(out)), 0);
    assert_string_equal(out, "a%20b%2Fc");
    assert_int_equal(strparse_pct_encode("a b/c", true, out, sizeof(out)), 0);
    assert_string_equal(out, "a%20b/c");
    assert_int_equal(strparse_pct_encode("AZaz09-._~", false, out, sizeof(out)), 0);
    assert_string_equal(out, "AZaz09-._~");
    assert_int_equal(strparse_pct_encode("\xe4\xb8\xad+%", false, out, sizeof(out)), 0);
    assert_string_equal(out, "%E4%B8%AD%2B%25");
    assert_int_equal(strparse_pct_encode("", false, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_pct_encode_capacity(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(strparse_pct_encode("abc", false, out, sizeof(out)), 0);
    assert_int_equal(strparse_pct_encode("abcd", false, out, sizeof(out)), -EMSGSIZE);
    assert_int_equal(strparse_pct_encode(" ", false, out, sizeof(out)), 0);
    assert_string_equal(out, "%20");
    assert_int_equal(strparse_pct_encode("a ", false, out, sizeof(out)), -EMSGSIZE);
    assert_int_equal(strparse_pct_encode("a", false, out, 0), -EINVAL);
}

static void test_pct_roundtrip(void **state)
{
    (void)state;
    char in[256];
    for (int i = 1; i < 256; i++)
        in[i - 1] = (char)i;
    in[255] = '\0';
    char enc[800], back[256];
    size_t len = 0;
    assert_int_equal(strparse_pct_encode(in, false, enc, sizeof(enc)), 0);
    assert_int_equal(dec(enc, false, back, sizeof(back), &len), 0);
    assert_int_equal(len, 255);
    assert_memory_equal(back, in, 256);
}

static void test_ieq(void **state)
{
    (void)state;
    assert_true(strparse_ieq("Content-Type", "content-type"));
    assert_true(strparse_ieq("", ""));
    assert_true(strparse_ieq("ABC", "abc"));
    assert_false(strparse_ieq("abc", "abcd"));
    assert_false(strparse_ieq("abcd", "abc"));
    assert_false(strparse_ieq("abc", "abd"));
    assert_false(strparse_ieq("\xc4", "\xe4")); /* no locale folding beyond ASCII */
    assert_false(strparse_ieq("[", "{"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64_ok),
        cmocka_unit_test(test_u64_length_bounded),
        cmocka_unit_test(test_u64_overflow),
        cmocka_unit_test(test_u64_over_max),
        cmocka_unit_test(test_u64_bad_forms),
        cmocka_unit_test(test_u64_overflow_then_junk),
        cmocka_unit_test(test_i64_ok),
        cmocka_unit_test(test_i64_range),
        cmocka_unit_test(test_i64_bad_forms),
        cmocka_unit_test(test_is_hex),
        cmocka_unit_test(test_pct_decode_ok),
        cmocka_unit_test(test_pct_decode_plus),
        cmocka_unit_test(test_pct_decode_empty),
        cmocka_unit_test(test_pct_decode_bad_escapes),
        cmocka_unit_test(test_pct_decode_nul_rejected),
        cmocka_unit_test(test_pct_decode_capacity),
        cmocka_unit_test(test_pct_decode_length_bounded),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_pct_encode_capacity),
        cmocka_unit_test(test_pct_roundtrip),
        cmocka_unit_test(test_ieq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
