/* Sixteen MD5 computations side by side. One MD5 is a chain of dependent steps that a core
 * cannot run faster than about 700 MB/s, but sixteen independent ones fit the 32-bit lanes of
 * an AVX-512 register and run in about the time of one. md5batch.c feeds it the uploads that
 * are in flight together; the portable version gives the same results, for tests. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD5X16_LANES 16
#define MD5X16_BLOCK 64

/* Lane i's state is h[0][i]..h[3][i] (MD5's A, B, C, D). Each lane takes n[i] whole 64-byte
 * blocks from p[i] (p[i] may be NULL when n[i] is 0) and leaves other lanes' state alone. */
typedef void md5x16_fn(uint32_t h[4][MD5X16_LANES], const unsigned char *const p[MD5X16_LANES],
                       const size_t n[MD5X16_LANES]);

/* The AVX-512 version when this CPU has it, otherwise NULL. */
md5x16_fn *md5x16_fast(void);
/* Plain C, one lane after the other: the reference the fast one is tested against. */
md5x16_fn md5x16_portable;
/* MD5's initial state, for a new lane. */
void md5x16_init(uint32_t h[4]);
