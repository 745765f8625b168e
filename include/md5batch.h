/* MD5 of many uploads at once. Each stream keeps its unhashed bytes; when a stream ends or
 * its thread's streams hold MD5BATCH_THREAD, the fullest streams of that thread are hashed
 * together in the lanes of md5x16. Streams belong to the thread that made them (an HTTP
 * worker and its connections), so nothing here takes a lock. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "md5x16.h"

#define MD5BATCH_THREAD (1024 * 1024) /* chunked bytes a thread's streams hold, at most */
#define MD5BATCH_MIN (16 * 1024)      /* smaller messages are not worth a wait */

struct md5batch; /* opaque */

/* Hashes whole blocks into h without the lanes: what a stream with no company uses (the
 * caller's own MD5, OpenSSL's, which is faster than one lane). */
typedef void md5batch_solo_fn(uint32_t h[4], const unsigned char *p, size_t blocks);

/* A stream for a message of about `expect` bytes (0: unknown), on this thread; NULL when this
 * CPU has no lanes to share or the message is below MD5BATCH_MIN. */
struct md5batch *md5batch_new(size_t expect, md5batch_solo_fn *solo);
void md5batch_update(struct md5batch *s, const void *p, size_t n);
/* Hashes every whole block and gives the state, the bytes hashed so far and the bytes left
 * over (fewer than 64, valid until md5batch_free), for the caller to pad and finish. */
void md5batch_finish(struct md5batch *s, uint32_t h[4], uint64_t *hashed,
                     const unsigned char **rest, size_t *rest_len);
void md5batch_free(struct md5batch *s);

/* Bytes of buffer this thread's streams hold now (whole chunks). */
size_t md5batch_held(void);
/* Bytes of emptied chunks this thread keeps for its next streams: held + spare stays within
 * MD5BATCH_THREAD, and both are 0 once the thread's last stream is freed. */
size_t md5batch_spare(void);

/* Tests: run streams through fn from now on, even on a CPU without AVX-512 (NULL: back to
 * the CPU's own choice). */
void md5batch_use(md5x16_fn *fn);
