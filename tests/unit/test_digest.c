/* Unit tests for digest: known MD5/SHA-1 vectors, streaming updates split at every
 * position give the one-shot result, hex lengths, random bytes, and the RFC vectors of
 * both HMACs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
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

static void bytes_hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* RFC 4231 test cases 1, 2, 6 and 7: a short key, a key shorter than the message, and keys
 * longer than the block (hashed first). */
static void test_hmac_sha256_rfc4231(void **state)
{
    (void)state;
    char out[65];
    char key1[21];
    memset(key1, 0x0b, 20);
    key1[20] = '\0';
    digest_hmac_sha256_hex(key1, "Hi There", 8, out);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    static const char what[] = "what do ya want for nothing?";
    digest_hmac_sha256_hex("Jefe", what, strlen(what), out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    char big[132];
    memset(big, 0xaa, 131);
    big[131] = '\0';
    static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    digest_hmac_sha256_hex(big, m6, strlen(m6), out);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    static const char m7[] =
        "This is a test using a larger than block-size key and a larger than block-size "
        "data. The key needs to be hashed before being used by the HMAC algorithm.";
    digest_hmac_sha256_hex(big, m7, strlen(m7), out);
    assert_string_equal(out, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    /* an empty key is a block of zeros */
    digest_hmac_sha256_hex("", "", 0, out);
    assert_string_equal(out, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* RFC 2202 test cases 1, 2 and 6 for HMAC-SHA1 (TOTP's MAC), including an 80-byte key. */
static void test_hmac_sha1_rfc2202(void **state)
{
    (void)state;
    unsigned char mac[20];
    char hex[41];
    unsigned char key[80];
    memset(key, 0x0b, 20);
    digest_hmac_sha1(key, 20, "Hi There", 8, mac);
    bytes_hex(mac, 20, hex);
    assert_string_equal(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
    static const char what[] = "what do ya want for nothing?";
    digest_hmac_sha1("Jefe", 4, what, strlen(what), mac);
    bytes_hex(mac, 20, hex);
    assert_string_equal(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    memset(key, 0xaa, 80);
    static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    digest_hmac_sha1(key, 80, m6, strlen(m6), mac);
    bytes_hex(mac, 20, hex);
    assert_string_equal(hex, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

/* FIPS 180-2 vectors for the one-shot SHA-256 (auth and peer body hashes). */
static void test_sha256_oneshot(void **state)
{
    (void)state;
    char out[65];
    digest_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
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
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_hmac_sha1_rfc2202),
        cmocka_unit_test(test_sha256_oneshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
