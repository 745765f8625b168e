/* Unit tests for hashpipe: the digest equals digest.h's over the same bytes for any chunking,
 * across ring wrap-around and back-pressure (more bytes than the ring holds), with MD5 and
 * SHA-1; an abandoned pipe stops; at most HASHPIPE_MAX pipes live at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "hashpipe.h"
#include "support.h"

static void check(enum digest_algo algo, size_t total, size_t maxchunk, unsigned seed)
{
    unsigned char *data = malloc(total + 1);
    support_fill(data, total, seed);
    char want[DIGEST_HEX_MAX], got[DIGEST_HEX_MAX];
    struct digest *d = digest_new(algo);
    digest_update(d, data, total);
    digest_final_hex(d, want);
    digest_free(d);

    struct hashpipe *p = hashpipe_new(algo);
    assert_non_null(p);
    size_t at = 0;
    uint32_t r = seed;
    while (at < total) {
        r = r * 1103515245u + 12345u;
        size_t k = 1 + (r >> 8) % maxchunk;
        if (k > total - at)
            k = total - at;
        hashpipe_update(p, data + at, k);
        at += k;
    }
    hashpipe_final_hex(p, got);
    assert_string_equal(got, want);
    free(data);
}

static void test_small_and_empty(void **state)
{
    (void)state;
    check(DIGEST_MD5, 0, 1, 1);
    check(DIGEST_MD5, 1, 1, 2);
    check(DIGEST_MD5, 1000, 7, 3);
    check(DIGEST_SHA1, 1000, 100, 4);
}

static void test_more_than_the_ring(void **state)
{
    (void)state;
    /* 2.5 rings in chunks up to 200 KiB: wraps around and waits for room */
    check(DIGEST_MD5, HASHPIPE_RING * 5 / 2 + 12345, 200 * 1024, 5);
    check(DIGEST_SHA1, HASHPIPE_RING + 1, HASHPIPE_RING, 6);
}

static void test_abandon(void **state)
{
    (void)state;
    unsigned char *data = malloc(HASHPIPE_RING);
    support_fill(data, HASHPIPE_RING, 7);
    struct hashpipe *p = hashpipe_new(DIGEST_MD5);
    assert_non_null(p);
    hashpipe_update(p, data, HASHPIPE_RING); /* a full ring, then give up */
    hashpipe_free(p);
    hashpipe_free(NULL);
    free(data);
}

static void test_bounded_count(void **state)
{
    (void)state;
    struct hashpipe *p[HASHPIPE_MAX];
    for (int i = 0; i < HASHPIPE_MAX; i++) {
        p[i] = hashpipe_new(DIGEST_MD5);
        assert_non_null(p[i]);
    }
    assert_null(hashpipe_new(DIGEST_MD5));
    hashpipe_free(p[0]);
    p[0] = hashpipe_new(DIGEST_MD5);
    assert_non_null(p[0]);
    for (int i = 0; i < HASHPIPE_MAX; i++)
        hashpipe_free(p[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_and_empty),
        cmocka_unit_test(test_more_than_the_ring),
        cmocka_unit_test(test_abandon),
        cmocka_unit_test(test_bounded_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
