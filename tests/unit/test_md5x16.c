/* Unit tests for md5x16: every lane of the portable and (on a CPU with AVX-512) the fast
 * version ends in the MD5 of its own message, whatever the other lanes hold and however many
 * blocks each takes, and a lane given no blocks keeps its state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "md5x16.h"
#include "support.h"

#define MAXLEN (64 * 40)

/* msg padded by hand (0x80, zeros, the bit length) into whole blocks; returns their count */
static size_t pad(const unsigned char *msg, size_t len, unsigned char *out)
{
    memcpy(out, msg, len);
    size_t total = (len + 8) / 64 * 64 + 64;
    memset(out + len, 0, total - len);
    out[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        out[total - 8 + i] = (unsigned char)(bits >> (8 * i));
    return total / 64;
}

static void hex_of(const uint32_t h[4][MD5X16_LANES], int lane, char out[33])
{
    for (int j = 0; j < 4; j++)
        for (int b = 0; b < 4; b++)
            snprintf(out + 8 * j + 2 * b, 3, "%02x", (unsigned)(h[j][lane] >> (8 * b)) & 0xff);
}

static void check_fn(md5x16_fn *fn, unsigned seed)
{
    static unsigned char msg[MD5X16_LANES][MAXLEN], padded[MD5X16_LANES][MAXLEN + 128];
    size_t len[MD5X16_LANES], n[MD5X16_LANES];
    const unsigned char *p[MD5X16_LANES];
    uint32_t h[4][MD5X16_LANES];
    uint32_t r = seed;
    for (int i = 0; i < MD5X16_LANES; i++) {
        r = r * 1103515245u + 12345u;
        len[i] = (r >> 8) % MAXLEN;
        if (i == 3)
            len[i] = 0; /* one block of padding only */
        if (i == 5)
            len[i] = 56; /* the length no longer fits the first block */
        support_fill(msg[i], len[i], seed * 31 + (unsigned)i);
        n[i] = pad(msg[i], len[i], padded[i]);
        p[i] = padded[i];
        uint32_t init[4];
        md5x16_init(init);
        for (int j = 0; j < 4; j++)
            h[j][i] = init[j];
    }
    /* lane 7 sits this run out: no blocks, and a state that must come back as it went in */
    n[7] = 0;
    p[7] = NULL;
    for (int j = 0; j < 4; j++)
        h[j][7] = 0x01020304u * (uint32_t)(j + 1);
    fn(h, p, n);
    for (int i = 0; i < MD5X16_LANES; i++) {
        char want[DIGEST_HEX_MAX], got[33];
        if (i == 7) {
            for (int j = 0; j < 4; j++)
                assert_int_equal(h[j][7], 0x01020304u * (uint32_t)(j + 1));
            continue;
        }
        digest_md5_hex(msg[i], len[i], want);
        hex_of(h, i, got);
        assert_string_equal(got, want);
    }
}

static void test_portable(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 8; seed++)
        check_fn(md5x16_portable, seed);
}

static void test_fast(void **state)
{
    (void)state;
    md5x16_fn *fn = md5x16_fast();
    if (!fn) {
        print_message("no AVX-512 on this CPU: only the portable version is tested\n");
        skip();
    }
    for (unsigned seed = 1; seed <= 32; seed++)
        check_fn(fn, seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
