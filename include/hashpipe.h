/* Hashing beside the receiving thread. A large upload's bytes are copied into a bounded ring
 * that a helper thread digests, so MD5 (about one core's worth of work at its speed) runs in
 * parallel with the socket reads and page-cache writes instead of after each of them. */
#pragma once
#include <stddef.h>
#include "digest.h"

#define HASHPIPE_RING (4 * 1024 * 1024) /* bytes waiting to be hashed, at most */
#define HASHPIPE_MAX 4                  /* pipes (helper threads) alive at once */

struct hashpipe; /* opaque */

/* A new pipe with its thread; NULL when HASHPIPE_MAX are busy or no thread could start
 * (the caller then hashes inline with digest.h). */
struct hashpipe *hashpipe_new(enum digest_algo algo);
/* Copies the bytes in, waiting while the ring is full. */
void hashpipe_update(struct hashpipe *p, const void *data, size_t n);
/* Waits for everything to be hashed, writes the hex digest and frees the pipe. */
void hashpipe_final_hex(struct hashpipe *p, char out[DIGEST_HEX_MAX]);
/* Abandons the pipe (an upload that failed): stops and frees it. NULL is fine. */
void hashpipe_free(struct hashpipe *p);
