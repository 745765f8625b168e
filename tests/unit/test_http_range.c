/* Unit tests for http_range: each single-range form against sizes at the edges, the
 * unsatisfiable and invalid forms, multi-range and foreign units, whitespace, and numbers
 * too big for 64 bits. Outputs must stay untouched unless the result is OK. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_range.h"

#define UNTOUCHED 0xdeadbeefULL

/* Expects OK with [start, start+len). */
static void ok(const char *h, uint64_t size, uint64_t start, uint64_t len)
{
    uint64_t s = UNTOUCHED, n = UNTOUCHED;
    enum http_range_result r = http_range_parse(h, size, &s, &n);
    if (r != HTTP_RANGE_OK || s != start || n != len) {
        print_error("'%s' size %llu: got %d [%llu,+%llu), want OK [%llu,+%llu)\n", h,
                    (unsigned long long)size, (int)r, (unsigned long long)s,
                    (unsigned long long)n, (unsigned long long)start, (unsigned long long)len);
        fail();
    }
}

/* Expects a non-OK result and untouched outputs. */
static void res(const char *h, uint64_t size, enum http_range_result want)
{
    uint64_t s = UNTOUCHED, n = UNTOUCHED;
    enum http_range_result r = http_range_parse(h, size, &s, &n);
    if (r != want || s != UNTOUCHED || n != UNTOUCHED) {
        print_error("'%s' size %llu: got %d, want %d\n", h ? h : "(null)",
                    (unsigned long long)size, (int)r, (int)want);
        fail();
    }
}

static void test_first_byte(void **state)
{
    (void)state;
    ok("bytes=0-0", 10, 0, 1);
    ok("bytes=0-0", 1, 0, 1);
}

static void test_closed_range(void **state)
{
    (void)state;
    ok("bytes=2-5", 10, 2, 4);
    ok("bytes=9-9", 10, 9, 1);
    ok("bytes=0-9", 10, 0, 10);
}

static void test_open_range(void **state)
{
    (void)state;
    ok("bytes=0-", 10, 0, 10);
    ok("bytes=7-", 10, 7, 3);
    ok("bytes=9-", 10, 9, 1);
}

static void test_suffix(void **state)
{
    (void)state;
    ok("bytes=-1", 10, 9, 1);
    ok("bytes=-3", 10, 7, 3);
    ok("bytes=-10", 10, 0, 10);
    ok("bytes=-11", 10, 0, 10); /* longer than the file: the whole file */
    ok("bytes=-1", 1, 0, 1);
}

static void test_suffix_zero_unsat(void **state)
{
    (void)state;
    res("bytes=-0", 10, HTTP_RANGE_UNSAT);
    res("bytes=-000", 10, HTTP_RANGE_UNSAT);
}

static void test_end_clamped(void **state)
{
    (void)state;
    ok("bytes=5-100", 10, 5, 5);
    ok("bytes=0-4611686018427387904", 10, 0, 10);
}

static void test_start_beyond_size_unsat(void **state)
{
    (void)state;
    res("bytes=10-", 10, HTTP_RANGE_UNSAT);
    res("bytes=10-20", 10, HTTP_RANGE_UNSAT);
    res("bytes=11-11", 10, HTTP_RANGE_UNSAT);
    res("bytes=4611686018427387904-", 10, HTTP_RANGE_UNSAT);
}

static void test_reversed_invalid(void **state)
{
    (void)state;
    res("bytes=5-2", 10, HTTP_RANGE_INVALID);
    res("bytes=5-4", 0, HTTP_RANGE_INVALID);
}

static void test_size_zero(void **state)
{
    (void)state;
    res("bytes=0-0", 0, HTTP_RANGE_UNSAT);
    res("bytes=0-", 0, HTTP_RANGE_UNSAT);
    res("bytes=-1", 0, HTTP_RANGE_UNSAT);
    res("bytes=-0", 0, HTTP_RANGE_UNSAT);
    res("bytes=x", 0, HTTP_RANGE_INVALID);
    res("bytes=0-1,2-3", 0, HTTP_RANGE_NONE);
}

static void test_multi_range_none(void **state)
{
    (void)state;
    res("bytes=0-1,3-4", 10, HTTP_RANGE_NONE);
    res("bytes=0-1, -2", 10, HTTP_RANGE_NONE);
    res("bytes=0-0,0-0,0-0", 10, HTTP_RANGE_NONE);
    res("bytes=0-1,5-2", 10, HTTP_RANGE_INVALID); /* a bad member spoils the set */
    res("bytes=0-1,x", 10, HTTP_RANGE_INVALID);
}

static void test_empty_list_elements(void **state)
{
    (void)state;
    ok("bytes=,0-1", 10, 0, 2);
    ok("bytes=0-1,", 10, 0, 2);
    ok("bytes= , 2-3 ,, ", 10, 2, 2);
    res("bytes=,", 10, HTTP_RANGE_INVALID);
    res("bytes=", 10, HTTP_RANGE_INVALID);
}

static void test_other_unit_none(void **state)
{
    (void)state;
    res("items=0-1", 10, HTTP_RANGE_NONE);
    res("none=whatever", 10, HTTP_RANGE_NONE);
    res("bytesx=0-1", 10, HTTP_RANGE_NONE);
    res("byte=0-1", 10, HTTP_RANGE_NONE);
}

static void test_unit_case_insensitive(void **state)
{
    (void)state;
    ok("Bytes=0-0", 10, 0, 1);
    ok("BYTES=1-2", 10, 1, 2);
}

static void test_no_header(void **state)
{
    (void)state;
    res(NULL, 10, HTTP_RANGE_NONE);
}

static void test_null_outputs(void **state)
{
    (void)state;
    assert_int_equal(http_range_parse("bytes=0-0", 10, NULL, NULL), HTTP_RANGE_OK);
}

static void test_huge_numbers(void **state)
{
    (void)state;
    res("bytes=99999999999999999999-", 10, HTTP_RANGE_INVALID);
    res("bytes=99999999999999999999-", UINT64_MAX, HTTP_RANGE_INVALID);
    res("bytes=0-99999999999999999999", 10, HTTP_RANGE_INVALID);
    res("bytes=-99999999999999999999", 10, HTTP_RANGE_INVALID);
    res("bytes=18446744073709551615-18446744073709551615", UINT64_MAX, HTTP_RANGE_INVALID);
    res("bytes=4611686018427387905-", UINT64_MAX, HTTP_RANGE_INVALID);
    /* 2^62 is the largest accepted number */
    ok("bytes=4611686018427387904-", UINT64_MAX, 4611686018427387904ULL,
       UINT64_MAX - 4611686018427387904ULL);
    ok("bytes=-4611686018427387904", UINT64_MAX, UINT64_MAX - 4611686018427387904ULL,
       4611686018427387904ULL);
    ok("bytes=0-4611686018427387904", UINT64_MAX, 0, 4611686018427387905ULL);
}

static void test_whitespace(void **state)
{
    (void)state;
    ok(" bytes=0-1", 10, 0, 2);
    ok("bytes=0-1 ", 10, 0, 2);
    ok("bytes = 0 - 1", 10, 0, 2);
    ok("\tbytes=\t-2\t", 10, 8, 2);
    ok("bytes= 3 -", 10, 3, 7);
    res("bytes=0 1-2", 10, HTTP_RANGE_INVALID);
    res("by tes=0-1", 10, HTTP_RANGE_INVALID);
    res("bytes=0-1\r\n", 10, HTTP_RANGE_INVALID);
}

static void test_missing_equals(void **state)
{
    (void)state;
    res("bytes", 10, HTTP_RANGE_INVALID);
    res("bytes 0-1", 10, HTTP_RANGE_INVALID);
    res("bytes:0-1", 10, HTTP_RANGE_INVALID);
    res("=0-1", 10, HTTP_RANGE_INVALID);
    res("", 10, HTTP_RANGE_INVALID);
    res("   ", 10, HTTP_RANGE_INVALID);
}

static void test_letters_and_junk(void **state)
{
    (void)state;
    static const char *bad[] = {
        "bytes=a-b", "bytes=1-b", "bytes=a-1", "bytes=0x1-2", "bytes=1-2x", "bytes=-",
        "bytes=--1", "bytes=1--2", "bytes=+1-2", "bytes=-+1", "bytes=1-2-3", "bytes=1",
        "bytes=-1-", "bytes=1.5-2", "bytes==0-1", "bytes=0-1;x", "bytes=-1e3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        res(bad[i], 10, HTTP_RANGE_INVALID);
}

static void test_leading_zeros(void **state)
{
    (void)state;
    ok("bytes=0002-0004", 10, 2, 3);
    ok("bytes=-0002", 10, 8, 2);
    ok("bytes=00000000000000000000000000000001-", 10, 1, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_byte),
        cmocka_unit_test(test_closed_range),
        cmocka_unit_test(test_open_range),
        cmocka_unit_test(test_suffix),
        cmocka_unit_test(test_suffix_zero_unsat),
        cmocka_unit_test(test_end_clamped),
        cmocka_unit_test(test_start_beyond_size_unsat),
        cmocka_unit_test(test_reversed_invalid),
        cmocka_unit_test(test_size_zero),
        cmocka_unit_test(test_multi_range_none),
        cmocka_unit_test(test_empty_list_elements),
        cmocka_unit_test(test_other_unit_none),
        cmocka_unit_test(test_unit_case_insensitive),
        cmocka_unit_test(test_no_header),
        cmocka_unit_test(test_null_outputs),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_missing_equals),
        cmocka_unit_test(test_letters_and_junk),
        cmocka_unit_test(test_leading_zeros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
