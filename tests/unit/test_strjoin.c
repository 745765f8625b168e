/* Unit tests for strjoin: joins agree with snprintf's output, overflow at every boundary
 * leaves snprintf's prefix and returns -1, and integers agree with "%lld" including the
 * extremes; IPv4 addresses agree with inet_ntop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strjoin.h"

static void test_join_pieces(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(strjoin(out, sizeof out, "p/", "abc"), 5);
    assert_string_equal(out, "p/abc");
    assert_int_equal(strjoin(out, sizeof out, "t/", "20261206", "/", "ff"), 13);
    assert_string_equal(out, "t/20261206/ff");
    assert_int_equal(strjoin(out, sizeof out, ""), 0);
    assert_string_equal(out, "");
    assert_int_equal(strjoin(out, sizeof out, "", "x", ""), 1);
    assert_string_equal(out, "x");
}

/* Every capacity from 0 to past the length: fits exactly when snprintf would. */
static void test_every_capacity(void **state)
{
    (void)state;
    const char *a = "files/default", *b = "/20261206/15/", *c = "name.txt";
    char want[64];
    int wl = snprintf(want, sizeof want, "%s%s%s", a, b, c);
    for (size_t cap = 0; cap <= (size_t)wl + 3; cap++) {
        char got[64], ref[64];
        memset(got, 'Z', sizeof got);
        memset(ref, 'Z', sizeof ref);
        int rc = strjoin(got, cap, a, b, c);
        snprintf(ref, cap, "%s%s%s", a, b, c);
        assert_memory_equal(got, ref, sizeof got); /* same bytes, nothing past cap */
        if (cap > (size_t)wl)
            assert_int_equal(rc, wl);
        else
            assert_int_equal(rc, -1);
    }
}

static void test_random_against_snprintf(void **state)
{
    (void)state;
    srand(7);
    for (int t = 0; t < 5000; t++) {
        char p[3][40];
        for (int i = 0; i < 3; i++) {
            int n = rand() % 39;
            for (int j = 0; j < n; j++)
                p[i][j] = (char)(1 + rand() % 255);
            p[i][n] = '\0';
        }
        size_t cap = (size_t)(rand() % 130);
        char got[130], ref[130];
        memset(got, 0x55, sizeof got);
        memset(ref, 0x55, sizeof ref);
        int rc = strjoin(got, cap, p[0], p[1], p[2]);
        int want = snprintf(ref, cap, "%s%s%s", p[0], p[1], p[2]);
        assert_memory_equal(got, ref, sizeof got);
        assert_int_equal(rc, (size_t)want < cap ? want : -1);
    }
}

static void test_i64(void **state)
{
    (void)state;
    const int64_t cases[] = {0, 1, -1, 9, 10, -10, 99, 100, 4096, -4096, 1765000000000,
                             INT64_MAX, INT64_MIN, INT64_MIN + 1, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[STRJOIN_I64_MAX], ref[32];
        size_t n = strjoin_i64(got, cases[i]);
        int rn = snprintf(ref, sizeof ref, "%lld", (long long)cases[i]);
        assert_string_equal(got, ref);
        assert_int_equal(n, rn);
    }
    srand(11);
    for (int t = 0; t < 10000; t++) {
        int64_t v = (int64_t)(((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand());
        v >>= rand() % 63;
        if (rand() & 1)
            v = -v;
        char got[STRJOIN_I64_MAX], ref[32];
        size_t n = strjoin_i64(got, v);
        int rn = snprintf(ref, sizeof ref, "%lld", (long long)v);
        assert_string_equal(got, ref);
        assert_int_equal(n, rn);
    }
}

/* Every octet value in every position, against inet_ntop. */
static void test_ipv4(void **state)
{
    (void)state;
    for (int pos = 0; pos < 4; pos++) {
        for (int v = 0; v < 256; v++) {
            unsigned char a[4] = {127, 0, 0, 1};
            a[pos] = (unsigned char)v;
            char got[STRJOIN_IPV4_MAX], ref[INET_ADDRSTRLEN];
            size_t n = strjoin_ipv4(got, a);
            assert_non_null(inet_ntop(AF_INET, a, ref, sizeof ref));
            assert_string_equal(got, ref);
            assert_int_equal(n, strlen(ref));
        }
    }
    const unsigned char max[4] = {255, 255, 255, 255};
    char got[STRJOIN_IPV4_MAX];
    assert_int_equal(strjoin_ipv4(got, max), STRJOIN_IPV4_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_pieces),
        cmocka_unit_test(test_every_capacity),
        cmocka_unit_test(test_random_against_snprintf),
        cmocka_unit_test(test_i64),
        cmocka_unit_test(test_ipv4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
