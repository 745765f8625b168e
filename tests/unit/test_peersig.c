/* Unit tests for peersig: the canonical text is pinned, every signed field matters, the time
 * window is exact at both edges, malformed headers and an empty secret are refused, and the
 * escaping keeps different argument lists from signing alike. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "errcode.h"
#include "peersig.h"

#define SECRET "cluster-secret"
#define T0 1700000000LL
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct http_kv two_args[] = {{"md5", "abc"}, {"path", "files/x y.txt"}};

static void sign_ok(const char *method, const char *path, const struct http_kv *args,
                    size_t nargs, const char *sha, long long t, char out[65])
{
    assert_int_equal(peersig_sign(SECRET, method, path, args, nargs, sha, t, out), 0);
    assert_int_equal(strlen(out), 64);
}

/* Verifies a signature made over the reference request against a changed request. */
static int verify_ref_against(const char *method, const char *path,
                              const struct http_kv *args, size_t nargs, const char *sha,
                              long long t)
{
    char sig[65], tbuf[32];
    sign_ok("POST", "/group1/sync", two_args, 2, SHA_EMPTY, T0, sig);
    snprintf(tbuf, sizeof(tbuf), "%lld", t);
    const char *why = NULL;
    return peersig_verify(SECRET, method, path, args, nargs, sha, tbuf, sig, T0, &why);
}

static void test_canonical_form_pinned(void **state)
{
    (void)state;
    char got[65], want[65];
    static const char text[] = "POST\n/group1/sync\nmd5=abc\npath=files/x y.txt\n" SHA_EMPTY
                               "\n1700000000";
    sign_ok("POST", "/group1/sync", two_args, 2, SHA_EMPTY, T0, got);
    digest_hmac_sha256_hex(SECRET, text, strlen(text), want);
    assert_string_equal(got, want);
}

static void test_canonical_escapes_pinned(void **state)
{
    (void)state;
    struct http_kv a[] = {{"k=1", "v\n%"}};
    char got[65], want[65];
    static const char text[] = "GET\n/p\nk%3D1=v%0A%25\nsha\n-5";
    sign_ok("GET", "/p", a, 1, "sha", -5, got);
    digest_hmac_sha256_hex(SECRET, text, strlen(text), want);
    assert_string_equal(got, want);
}

static void test_round_trip(void **state)
{
    (void)state;
    assert_int_equal(verify_ref_against("POST", "/group1/sync", two_args, 2, SHA_EMPTY, T0), 0);
}

static void test_round_trip_no_args(void **state)
{
    (void)state;
    char sig[65];
    const char *why = "untouched";
    sign_ok("GET", "/", NULL, 0, SHA_EMPTY, T0, sig);
    assert_int_equal(peersig_verify(SECRET, "GET", "/", NULL, 0, SHA_EMPTY, "1700000000", sig,
                                    T0, &why),
                     0);
    assert_string_equal(why, "untouched");
    /* why may be NULL */
    assert_int_equal(
        peersig_verify(SECRET, "GET", "/", NULL, 0, SHA_EMPTY, "1700000000", sig, T0, NULL), 0);
}

static void test_changed_method(void **state)
{
    (void)state;
    assert_int_equal(verify_ref_against("GET", "/group1/sync", two_args, 2, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("post", "/group1/sync", two_args, 2, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
}

static void test_changed_path(void **state)
{
    (void)state;
    assert_int_equal(verify_ref_against("POST", "/group1/synd", two_args, 2, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("POST", "/group1/sync/", two_args, 2, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("POST", "/group1/%73ync", two_args, 2, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
}

static void test_changed_each_arg(void **state)
{
    (void)state;
    struct http_kv a[2];
    for (size_t i = 0; i < 2; i++) {
        memcpy(a, two_args, sizeof(a));
        a[i].key = "other";
        assert_int_equal(verify_ref_against("POST", "/group1/sync", a, 2, SHA_EMPTY, T0),
                         ERR_FORBIDDEN);
        memcpy(a, two_args, sizeof(a));
        a[i].value = "other";
        assert_int_equal(verify_ref_against("POST", "/group1/sync", a, 2, SHA_EMPTY, T0),
                         ERR_FORBIDDEN);
        memcpy(a, two_args, sizeof(a));
        a[i].value = "";
        assert_int_equal(verify_ref_against("POST", "/group1/sync", a, 2, SHA_EMPTY, T0),
                         ERR_FORBIDDEN);
    }
}

static void test_changed_arg_order_and_count(void **state)
{
    (void)state;
    struct http_kv swapped[] = {two_args[1], two_args[0]};
    struct http_kv more[] = {two_args[0], two_args[1], {"x", "1"}};
    assert_int_equal(verify_ref_against("POST", "/group1/sync", swapped, 2, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("POST", "/group1/sync", two_args, 1, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("POST", "/group1/sync", more, 3, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("POST", "/group1/sync", NULL, 0, SHA_EMPTY, T0),
                     ERR_FORBIDDEN);
}

static void test_changed_body_sha(void **state)
{
    (void)state;
    char sha[65];
    digest_sha256_hex("x", 1, sha);
    assert_int_equal(verify_ref_against("POST", "/group1/sync", two_args, 2, sha, T0),
                     ERR_FORBIDDEN);
}

static void test_changed_time(void **state)
{
    (void)state;
    assert_int_equal(verify_ref_against("POST", "/group1/sync", two_args, 2, SHA_EMPTY, T0 + 1),
                     ERR_FORBIDDEN);
    assert_int_equal(verify_ref_against("POST", "/group1/sync", two_args, 2, SHA_EMPTY, T0 - 1),
                     ERR_FORBIDDEN);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    char sig[65];
    const char *why = NULL;
    sign_ok("GET", "/", NULL, 0, SHA_EMPTY, T0, sig);
    assert_int_equal(peersig_verify("other-secret", "GET", "/", NULL, 0, SHA_EMPTY,
                                    "1700000000", sig, T0, &why),
                     ERR_FORBIDDEN);
    assert_string_equal(why, "bad signature");
}

/* Signs at time t and verifies at time now. */
static int verify_at(long long t, long long now, const char **why)
{
    char sig[65], tbuf[32];
    sign_ok("GET", "/x", NULL, 0, SHA_EMPTY, t, sig);
    snprintf(tbuf, sizeof(tbuf), "%lld", t);
    return peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY, tbuf, sig, now, why);
}

static void test_window_edges(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(verify_at(T0, T0, &why), 0);
    assert_int_equal(verify_at(T0, T0 + PEERSIG_WINDOW_S, &why), 0);
    assert_int_equal(verify_at(T0, T0 - PEERSIG_WINDOW_S, &why), 0);
    assert_int_equal(verify_at(T0, T0 + PEERSIG_WINDOW_S + 1, &why), ERR_FORBIDDEN);
    assert_string_equal(why, "stale signature");
    why = NULL;
    assert_int_equal(verify_at(T0, T0 - PEERSIG_WINDOW_S - 1, &why), ERR_FORBIDDEN);
    assert_string_equal(why, "stale signature");
}

static void test_window_extreme_times(void **state)
{
    (void)state;
    const char *why = NULL;
    char sig[65];
    sign_ok("GET", "/x", NULL, 0, SHA_EMPTY, T0, sig);
    /* differences that overflow a signed subtraction */
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY,
                                    "-9223372036854775808", sig, T0, &why),
                     ERR_FORBIDDEN);
    assert_string_equal(why, "stale signature");
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY,
                                    "9223372036854775807", sig, -T0, &why),
                     ERR_FORBIDDEN);
    assert_string_equal(why, "stale signature");
    assert_int_equal(verify_at(INT64_MIN, INT64_MIN + 60, &why), 0);
    assert_int_equal(verify_at(INT64_MAX, INT64_MAX - 60, &why), 0);
}

static void expect_time_refused(const char *time_hdr)
{
    char sig[65];
    const char *why = NULL;
    sign_ok("GET", "/x", NULL, 0, SHA_EMPTY, T0, sig);
    assert_int_equal(
        peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY, time_hdr, sig, T0, &why),
        ERR_FORBIDDEN);
    assert_non_null(why);
}

static void test_bad_time_headers(void **state)
{
    (void)state;
    expect_time_refused("1700000000x");
    expect_time_refused("x1700000000");
    expect_time_refused(" 1700000000");
    expect_time_refused("1700000000 ");
    expect_time_refused("+1700000000");
    expect_time_refused("-");
    expect_time_refused("1.7e9");
    expect_time_refused("0x6553f100");
    expect_time_refused("99999999999999999999");            /* overflow */
    expect_time_refused("000000000000000000001700000000"); /* overlong */
    expect_time_refused("1700000000\n");
}

static void test_overlong_time_with_leading_zeros(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(verify_at(T0, T0, &why), 0);
    char sig[65];
    sign_ok("GET", "/x", NULL, 0, SHA_EMPTY, T0, sig);
    /* 20 characters parse; the number is still the signed one */
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY,
                                    "00000000001700000000", sig, T0, &why),
                     0);
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY,
                                    "000000000001700000000", sig, T0, &why),
                     ERR_FORBIDDEN);
    assert_string_equal(why, "malformed signature time");
}

static void expect_sign_refused(const char *sign_hdr, const char *reason)
{
    const char *why = NULL;
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY, "1700000000",
                                    sign_hdr, T0, &why),
                     ERR_FORBIDDEN);
    assert_string_equal(why, reason);
}

static void test_bad_sign_headers(void **state)
{
    (void)state;
    char sig[65], tmp[80];
    sign_ok("GET", "/x", NULL, 0, SHA_EMPTY, T0, sig);
    expect_sign_refused("", "missing signature");
    memcpy(tmp, sig, 63);
    tmp[63] = '\0';
    expect_sign_refused(tmp, "malformed signature"); /* 63 chars */
    snprintf(tmp, sizeof(tmp), "%s0", sig);
    expect_sign_refused(tmp, "malformed signature"); /* 65 chars */
    snprintf(tmp, sizeof(tmp), "%s", sig);
    for (size_t i = 0; i < 64; i++)
        if (tmp[i] >= 'a' && tmp[i] <= 'f')
            tmp[i] = (char)(tmp[i] - 'a' + 'A');
    expect_sign_refused(tmp, "malformed signature"); /* upper case */
    snprintf(tmp, sizeof(tmp), "%s", sig);
    tmp[10] = 'g';
    expect_sign_refused(tmp, "malformed signature");
    snprintf(tmp, sizeof(tmp), "%s", sig);
    tmp[0] = ' ';
    expect_sign_refused(tmp, "malformed signature");
    snprintf(tmp, sizeof(tmp), "%s", sig);
    tmp[63] = tmp[63] == '0' ? '1' : '0';
    expect_sign_refused(tmp, "bad signature"); /* last digit wrong */
}

static void test_missing_headers(void **state)
{
    (void)state;
    char sig[65];
    const char *why = NULL;
    sign_ok("GET", "/x", NULL, 0, SHA_EMPTY, T0, sig);
    assert_int_equal(
        peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY, NULL, sig, T0, &why),
        ERR_FORBIDDEN);
    assert_string_equal(why, "missing signature");
    assert_int_equal(
        peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY, "", sig, T0, &why),
        ERR_FORBIDDEN);
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", NULL, 0, SHA_EMPTY, "1700000000",
                                    NULL, T0, &why),
                     ERR_FORBIDDEN);
    assert_string_equal(why, "missing signature");
}

static void test_empty_secret_always_fails(void **state)
{
    (void)state;
    char sig[65];
    const char *why = NULL;
    /* a signature made under the empty key is well formed, yet never accepted */
    assert_int_equal(peersig_sign("", "GET", "/x", NULL, 0, SHA_EMPTY, T0, sig), 0);
    assert_int_equal(
        peersig_verify("", "GET", "/x", NULL, 0, SHA_EMPTY, "1700000000", sig, T0, &why),
        ERR_FORBIDDEN);
    assert_non_null(why);
    assert_int_equal(
        peersig_verify(NULL, "GET", "/x", NULL, 0, SHA_EMPTY, "1700000000", sig, T0, &why),
        ERR_FORBIDDEN);
}

static void assert_sign_differ(const struct http_kv *a, size_t na, const struct http_kv *b,
                               size_t nb)
{
    char s1[65], s2[65];
    sign_ok("GET", "/x", a, na, SHA_EMPTY, T0, s1);
    sign_ok("GET", "/x", b, nb, SHA_EMPTY, T0, s2);
    assert_string_not_equal(s1, s2);
}

static void test_escaping_equals(void **state)
{
    (void)state;
    struct http_kv a[] = {{"a=b", "c"}};
    struct http_kv b[] = {{"a", "b=c"}};
    assert_sign_differ(a, 1, b, 1);
}

static void test_escaping_newline(void **state)
{
    (void)state;
    struct http_kv a[] = {{"a", "b\nc=d"}};
    struct http_kv b[] = {{"a", "b"}, {"c", "d"}};
    assert_sign_differ(a, 1, b, 2);
    /* an argument line must not pass for the body digest line either */
    char s1[65], s2[65];
    struct http_kv c[] = {{"k", "v\n" SHA_EMPTY}};
    sign_ok("GET", "/x", c, 1, "t", T0, s1);
    struct http_kv d[] = {{"k", "v"}};
    sign_ok("GET", "/x", d, 1, SHA_EMPTY "\nt", T0, s2);
    assert_string_not_equal(s1, s2);
}

static void test_escaping_percent(void **state)
{
    (void)state;
    struct http_kv a[] = {{"a%3Db", "c"}};
    struct http_kv b[] = {{"a=b", "c"}};
    assert_sign_differ(a, 1, b, 1);
    struct http_kv c[] = {{"a", "%0A"}};
    struct http_kv d[] = {{"a", "\n"}};
    assert_sign_differ(c, 1, d, 1);
}

static void test_escaping_method_and_path(void **state)
{
    (void)state;
    char s1[65], s2[65];
    sign_ok("GET\n/a", "/b", NULL, 0, SHA_EMPTY, T0, s1);
    sign_ok("GET", "/a\n/b", NULL, 0, SHA_EMPTY, T0, s2);
    assert_string_not_equal(s1, s2);
}

static void test_null_value_is_empty(void **state)
{
    (void)state;
    char s1[65], s2[65];
    struct http_kv a[] = {{"k", NULL}};
    struct http_kv b[] = {{"k", ""}};
    sign_ok("GET", "/x", a, 1, SHA_EMPTY, T0, s1);
    sign_ok("GET", "/x", b, 1, SHA_EMPTY, T0, s2);
    assert_string_equal(s1, s2);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char sig[65];
    struct http_kv nokey[] = {{NULL, "v"}};
    assert_int_equal(peersig_sign(NULL, "GET", "/", NULL, 0, SHA_EMPTY, T0, sig), -EINVAL);
    assert_int_equal(peersig_sign(SECRET, NULL, "/", NULL, 0, SHA_EMPTY, T0, sig), -EINVAL);
    assert_int_equal(peersig_sign(SECRET, "GET", NULL, NULL, 0, SHA_EMPTY, T0, sig), -EINVAL);
    assert_int_equal(peersig_sign(SECRET, "GET", "/", NULL, 1, SHA_EMPTY, T0, sig), -EINVAL);
    assert_int_equal(peersig_sign(SECRET, "GET", "/", nokey, 1, SHA_EMPTY, T0, sig), -EINVAL);
    assert_int_equal(peersig_sign(SECRET, "GET", "/", NULL, 0, NULL, T0, sig), -EINVAL);
    const char *why = NULL;
    assert_int_equal(peersig_verify(SECRET, "GET", "/", nokey, 1, SHA_EMPTY, "1700000000",
                                    SHA_EMPTY, T0, &why),
                     ERR_FORBIDDEN);
}

static void test_canonical_bound(void **state)
{
    (void)state;
    char sig[65];
    size_t n = 64 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'v', n);
    big[n] = '\0';
    struct http_kv a[] = {{"k", big}};
    assert_int_equal(peersig_sign(SECRET, "GET", "/x", a, 1, SHA_EMPTY, T0, sig), -EMSGSIZE);
    const char *why = NULL;
    assert_int_equal(peersig_verify(SECRET, "GET", "/x", a, 1, SHA_EMPTY, "1700000000",
                                    SHA_EMPTY, T0, &why),
                     ERR_FORBIDDEN);
    /* escaping triples the size: 22 000 '=' no longer fit */
    memset(big, '=', 22000);
    big[22000] = '\0';
    assert_int_equal(peersig_sign(SECRET, "GET", "/x", a, 1, SHA_EMPTY, T0, sig), -EMSGSIZE);
    /* well under the bound signs */
    memset(big, 'v', 60000);
    big[60000] = '\0';
    assert_int_equal(peersig_sign(SECRET, "GET", "/x", a, 1, SHA_EMPTY, T0, sig), 0);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_form_pinned),
        cmocka_unit_test(test_canonical_escapes_pinned),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_no_args),
        cmocka_unit_test(test_changed_method),
        cmocka_unit_test(test_changed_path),
        cmocka_unit_test(test_changed_each_arg),
        cmocka_unit_test(test_changed_arg_order_and_count),
        cmocka_unit_test(test_changed_body_sha),
        cmocka_unit_test(test_changed_time),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_window_extreme_times),
        cmocka_unit_test(test_bad_time_headers),
        cmocka_unit_test(test_overlong_time_with_leading_zeros),
        cmocka_unit_test(test_bad_sign_headers),
        cmocka_unit_test(test_missing_headers),
        cmocka_unit_test(test_empty_secret_always_fails),
        cmocka_unit_test(test_escaping_equals),
        cmocka_unit_test(test_escaping_newline),
        cmocka_unit_test(test_escaping_percent),
        cmocka_unit_test(test_escaping_method_and_path),
        cmocka_unit_test(test_null_value_is_empty),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_canonical_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
