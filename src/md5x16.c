/* MD5's block function (RFC 1321) for sixteen messages at once: each 32-bit lane of a 512-bit
 * register is one message's A, B, C or D. The round table is written once, as STEPS, and both
 * versions expand it, so they cannot drift apart. Only whole blocks pass through here; padding
 * and the length are the caller's (digest.c lets OpenSSL finish). */
#include "md5x16.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

/* The boolean functions as vpternlogd truth tables over (b, c, d): F = b ? c : d,
 * G = d ? b : c, H = b ^ c ^ d, I = c ^ (b | ~d). */
#define FF 0xCA
#define GG 0xE4
#define HH 0x96
#define II 0x39

/* S(step, function, constant, rotation, message word) for the 64 steps. */
#define STEPS(S)                                                                            \
    S(0, FF, 0xd76aa478, 7, 0) S(1, FF, 0xe8c7b756, 12, 1) S(2, FF, 0x242070db, 17, 2)      \
    S(3, FF, 0xc1bdceee, 22, 3) S(4, FF, 0xf57c0faf, 7, 4) S(5, FF, 0x4787c62a, 12, 5)      \
    S(6, FF, 0xa8304613, 17, 6) S(7, FF, 0xfd469501, 22, 7) S(8, FF, 0x698098d8, 7, 8)      \
    S(9, FF, 0x8b44f7af, 12, 9) S(10, FF, 0xffff5bb1, 17, 10) S(11, FF, 0x895cd7be, 22, 11) \
    S(12, FF, 0x6b901122, 7, 12) S(13, FF, 0xfd987193, 12, 13)                              \
    S(14, FF, 0xa679438e, 17, 14) S(15, FF, 0x49b40821, 22, 15)                             \
    S(16, GG, 0xf61e2562, 5, 1) S(17, GG, 0xc040b340, 9, 6) S(18, GG, 0x265e5a51, 14, 11)   \
    S(19, GG, 0xe9b6c7aa, 20, 0) S(20, GG, 0xd62f105d, 5, 5) S(21, GG, 0x02441453, 9, 10)   \
    S(22, GG, 0xd8a1e681, 14, 15) S(23, GG, 0xe7d3fbc8, 20, 4) S(24, GG, 0x21e1cde6, 5, 9)  \
    S(25, GG, 0xc33707d6, 9, 14) S(26, GG, 0xf4d50d87, 14, 3) S(27, GG, 0x455a14ed, 20, 8)  \
    S(28, GG, 0xa9e3e905, 5, 13) S(29, GG, 0xfcefa3f8, 9, 2) S(30, GG, 0x676f02d9, 14, 7)   \
    S(31, GG, 0x8d2a4c8a, 20, 12)                                                           \
    S(32, HH, 0xfffa3942, 4, 5) S(33, HH, 0x8771f681, 11, 8) S(34, HH, 0x6d9d6122, 16, 11)  \
    S(35, HH, 0xfde5380c, 23, 14) S(36, HH, 0xa4beea44, 4, 1) S(37, HH, 0x4bdecfa9, 11, 4)  \
    S(38, HH, 0xf6bb4b60, 16, 7) S(39, HH, 0xbebfbc70, 23, 10) S(40, HH, 0x289b7ec6, 4, 13) \
    S(41, HH, 0xeaa127fa, 11, 0) S(42, HH, 0xd4ef3085, 16, 3) S(43, HH, 0x04881d05, 23, 6)  \
    S(44, HH, 0xd9d4d039, 4, 9) S(45, HH, 0xe6db99e5, 11, 12) S(46, HH, 0x1fa27cf8, 16, 15) \
    S(47, HH, 0xc4ac5665, 23, 2)                                                            \
    S(48, II, 0xf4292244, 6, 0) S(49, II, 0x432aff97, 10, 7) S(50, II, 0xab9423a7, 15, 14)  \
    S(51, II, 0xfc93a039, 21, 5) S(52, II, 0x655b59c3, 6, 12) S(53, II, 0x8f0ccc92, 10, 3)  \
    S(54, II, 0xffeff47d, 15, 10) S(55, II, 0x85845dd1, 21, 1) S(56, II, 0x6fa87e4f, 6, 8)  \
    S(57, II, 0xfe2ce6e0, 10, 15) S(58, II, 0xa3014314, 15, 6) S(59, II, 0x4e0811a1, 21, 13) \
    S(60, II, 0xf7537e82, 6, 4) S(61, II, 0xbd3af235, 10, 11) S(62, II, 0x2ad7d2bb, 15, 2)  \
    S(63, II, 0xeb86d391, 21, 9)

/* Step i works on the registers rotated by i: (a, b, c, d), then (d, a, b, c), ... */
#define RA(i) ((64 - (i)) & 3)
#define RB(i) ((65 - (i)) & 3)
#define RC(i) ((66 - (i)) & 3)
#define RD(i) ((67 - (i)) & 3)

void md5x16_init(uint32_t h[4])
{
    h[0] = 0x67452301;
    h[1] = 0xefcdab89;
    h[2] = 0x98badcfe;
    h[3] = 0x10325476;
}

static uint32_t fn(unsigned f, uint32_t b, uint32_t c, uint32_t d)
{
    switch (f) {
    case FF:
        return (b & c) | (~b & d);
    case GG:
        return (b & d) | (c & ~d);
    case HH:
        return b ^ c ^ d;
    default:
        return c ^ (b | ~d);
    }
}

struct step {
    unsigned f, s, m;
    uint32_t k;
};

#define TABLE_ROW(i, f, k, s, m) {f, s, m, k},
static const struct step table[64] = {STEPS(TABLE_ROW)};

static void block(uint32_t h[4], const unsigned char *p)
{
    uint32_t m[16], v[4];
    for (int j = 0; j < 16; j++) /* MD5 is little-endian whatever the host */
        m[j] = (uint32_t)p[4 * j] | (uint32_t)p[4 * j + 1] << 8 | (uint32_t)p[4 * j + 2] << 16 |
               (uint32_t)p[4 * j + 3] << 24;
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        const struct step *t = &table[i];
        uint32_t x = v[RA(i)] + fn(t->f, v[RB(i)], v[RC(i)], v[RD(i)]) + t->k + m[t->m];
        v[RA(i)] = v[RB(i)] + (x << t->s | x >> (32 - t->s));
    }
    for (int j = 0; j < 4; j++)
        h[j] += v[j];
}

void md5x16_portable(uint32_t h[4][MD5X16_LANES], const unsigned char *const p[MD5X16_LANES],
                     const size_t n[MD5X16_LANES])
{
    for (int lane = 0; lane < MD5X16_LANES; lane++) {
        uint32_t s[4] = {h[0][lane], h[1][lane], h[2][lane], h[3][lane]};
        for (size_t b = 0; b < n[lane]; b++)
            block(s, p[lane] + b * MD5X16_BLOCK);
        for (int j = 0; j < 4; j++)
            h[j][lane] = s[j];
    }
}

#if HAVE_X86
#define AVX512 __attribute__((target("avx512f")))

/* Rows (one lane's block each) to columns (one message word of every lane each). Three
 * rounds of unpacks interleave within 128-bit quarters; the last two move whole quarters. */
AVX512 static void transpose(__m512i r[16], __m512i w[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4g + k] holds, in quarter q, word 4q + k of lanes 4g .. 4g + 3 */
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int k = 0; k < 4; k++) {
        __m512i lo = _mm512_shuffle_i32x4(u[k], u[4 + k], 0x44);
        __m512i hi = _mm512_shuffle_i32x4(u[k], u[4 + k], 0xEE);
        __m512i lo2 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0x44);
        __m512i hi2 = _mm512_shuffle_i32x4(u[8 + k], u[12 + k], 0xEE);
        w[k] = _mm512_shuffle_i32x4(lo, lo2, 0x88);
        w[4 + k] = _mm512_shuffle_i32x4(lo, lo2, 0xDD);
        w[8 + k] = _mm512_shuffle_i32x4(hi, hi2, 0x88);
        w[12 + k] = _mm512_shuffle_i32x4(hi, hi2, 0xDD);
    }
}

#define VSTEP(i, f, k, s, m)                                                                 \
    {                                                                                        \
        __m512i x = _mm512_add_epi32(v[RA(i)], _mm512_add_epi32(w[m], _mm512_set1_epi32(    \
                                                                          (int)(k))));      \
        x = _mm512_add_epi32(x, _mm512_ternarylogic_epi32(v[RB(i)], v[RC(i)], v[RD(i)], f)); \
        v[RA(i)] = _mm512_add_epi32(v[RB(i)], _mm512_rol_epi32(x, s));                       \
    }

AVX512 static void md5x16_avx512(uint32_t h[4][MD5X16_LANES],
                                 const unsigned char *const p[MD5X16_LANES],
                                 const size_t n[MD5X16_LANES])
{
    static const unsigned char idle[MD5X16_BLOCK]; /* what a finished lane reads */
    size_t most = 0;
    for (int i = 0; i < MD5X16_LANES; i++)
        if (n[i] > most)
            most = n[i];
    __m512i st[4];
    for (int j = 0; j < 4; j++)
        st[j] = _mm512_loadu_si512(h[j]);
    for (size_t b = 0; b < most; b++) {
        __m512i r[16], w[16], v[4];
        __mmask16 live = 0;
        for (int i = 0; i < MD5X16_LANES; i++) {
            const unsigned char *src = idle;
            if (b < n[i]) {
                src = p[i] + b * MD5X16_BLOCK;
                live |= (__mmask16)(1u << i);
            }
            r[i] = _mm512_loadu_si512(src);
        }
        transpose(r, w);
        for (int j = 0; j < 4; j++)
            v[j] = st[j];
        STEPS(VSTEP)
        for (int j = 0; j < 4; j++) /* lanes out of blocks keep their state */
            st[j] = _mm512_mask_add_epi32(st[j], live, st[j], v[j]);
    }
    for (int j = 0; j < 4; j++)
        _mm512_storeu_si512(h[j], st[j]);
}

md5x16_fn *md5x16_fast(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? md5x16_avx512 : NULL;
}
#else
md5x16_fn *md5x16_fast(void)
{
    return NULL;
}
#endif
