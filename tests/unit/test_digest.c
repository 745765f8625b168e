/* Unit tests for digest: known MD5/SHA-1 vectors, streaming updates split at every
 * position give the one-shot result, hex lengths, and random bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "digest.h"

static void hex_of(enum digest_algo algo, const void *p, size_t n, char out[DIGEST_HEX_MAX])
{
    struct digest *d = digest_new(algo);
    assert_non_null(d);
    digest_update(d, p, n);
    digest_final_hex(d, out);
    digest_free(d);
}

static void test_md5_abc(void **state)
{
    (void)state;
    char out[DIGEST_HEX_MAX];
    hex_of(DIGEST_MD5, "abc", 3, out);
    assert_string_equal(out, "900150983cd24fb0d6963f7d28e17f72");
}

static void test_sha1_abc(void **state)
{
    (void)state;
    char out[DIGEST_HEX_MAX];
    hex_of(DIGEST_SHA1, "abc", 3, out);
    assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static void test_empty_input(void **state)
{
    (void)state;
    char out[DIGEST_HEX_MAX];
    hex_of(DIGEST_MD5, "", 0, out);
    assert_string_equal(out, "d41d8cd98f00b204e9800998ecf8427e");
    hex_of(DIGEST_SHA1, NULL, 0, out);
    assert_string_equal(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    digest_md5_hex("", 0, out);
    assert_string_equal(out, "d41d8cd98f00b204e9800998ecf8427e");
}

static void test_longer_vectors(void **state)
{
    (void)state;
    static const char msg[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char out[DIGEST_HEX_MAX];
    hex_of(DIGEST_SHA1, msg, strlen(msg), out);
    assert_string_equal(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    static const char fox[] = "The quick brown fox jumps over the lazy dog";
    hex_of(DIGEST_MD5, fox, strlen(fox), out);
    assert_string_equal(out, "9e107d9d372bb6826bd81d3542a419d6");
}

static void test_million_a(void **state)
{
    (void)state;
    char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    struct digest *m = digest_new(DIGEST_MD5);
    struct digest *s = digest_new(DIGEST_SHA1);
    assert_non_null(m);
    assert_non_null(s);
    for (int i = 0; i < 1000; i++) {
        digest_update(m, chunk, sizeof(chunk));
        digest_update(s, chunk, sizeof(chunk));
    }
    char out[DIGEST_HEX_MAX];
    digest_final_hex(m, out);
    assert_string_equal(out, "7707d6ae4e027c70eea2a935c2296f21");
    digest_final_hex(s, out);
    assert_string_equal(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    digest_free(m);
    digest_free(s);
}

static void split_everywhere(enum digest_algo algo)
{
    static const char msg[] =
        "go-fastdfs stores files by content digest; this text crosses a 64-byte block "
        "boundary more than once so every split position is exercised.";
    size_t n = strlen(msg);
    char whole[DIGEST_HEX_MAX];
    hex_of(algo, msg, n, whole);
    for (size_t cut = 0; cut <= n; cut++) {
        struct digest *d = digest_new(algo);
        assert_non_null(d);
        digest_update(d, msg, cut);
        digest_update(d, msg + cut, n - cut);
        char out[DIGEST_HEX_MAX];
        digest_final_hex(d, out);
        digest_free(d);
        assert_string_equal(out, whole);
    }
}

static void test_md5_split_every_position(void **state)
{
    (void)state;
    split_everywhere(DIGEST_MD5);
}

static void test_sha1_split_every_position(void **state)
{
    (void)state;
    split_everywhere(DIGEST_SHA1);
}

static void test_byte_at_a_time(void **state)
{
    (void)state;
    struct digest *d = digest_new(DIGEST_MD5);
    assert_non_null(d);
    digest_update(d, "a", 1);
    digest_update(d, "", 0);
    digest_update(d, "b", 1);
    digest_update(d, "c", 1);
    char out[DIGEST_HEX_MAX];
    digest_final_hex(d, out);
    digest_free(d);
    assert_string_equal(out, "900150983cd24fb0d6963f7d28e17f72");
}

static void test_md5_hex_oneshot(void **state)
{
    (void)state;
    char out[DIGEST_HEX_MAX];
    digest_md5_hex("abc", 3, out);
    assert_string_equal(out, "900150983cd24fb0d6963f7d28e17f72");
    assert_int_equal(strlen(out), 32);
}

static void test_hex_len(void **state)
{
    (void)state;
    assert_int_equal(digest_hex_len(DIGEST_MD5), 32);
    assert_int_equal(digest_hex_len(DIGEST_SHA1), 40);
    char out[DIGEST_HEX_MAX];
    hex_of(DIGEST_SHA1, "x", 1, out);
    assert_int_equal(strlen(out), digest_hex_len(DIGEST_SHA1));
    hex_of(DIGEST_MD5, "x", 1, out);
    assert_int_equal(strlen(out), digest_hex_len(DIGEST_MD5));
}

static void test_free_null(void **state)
{
    (void)state;
    digest_free(NULL);
}

static void test_random(void **state)
{
    (void)state;
    unsigned char a[32], b[32], zero[32];
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    memset(zero, 0, sizeof(zero));
    assert_int_equal(digest_random(a, sizeof(a)), 0);
    assert_int_equal(digest_random(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(digest_random(a, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_abc),
        cmocka_unit_test(test_sha1_abc),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_longer_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_md5_split_every_position),
        cmocka_unit_test(test_sha1_split_every_position),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_md5_hex_oneshot),
        cmocka_unit_test(test_hex_len),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
