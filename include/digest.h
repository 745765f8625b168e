/* Streaming MD5 / SHA-1 behind one interface (OpenSSL's hash functions are the only
 * backend and are included only by digest.c). Output is lower-case hex. */
#pragma once
#include <stddef.h>

enum digest_algo { DIGEST_MD5 = 0, DIGEST_SHA1 = 1 };

#define DIGEST_HEX_MAX 41 /* sha1: 40 hex + NUL */

struct digest; /* opaque */

/* Never NULL with this backend; callers still check, so another backend may fail. */
struct digest *digest_new(enum digest_algo algo);
/* The same, but an MD5 may wait to be hashed beside other streams of this thread
 * (md5batch.h): faster with many uploads in flight. Only this thread may use or free it. */
struct digest *digest_new_batched(enum digest_algo algo, size_t expect);
void digest_update(struct digest *d, const void *p, size_t n);
/* Writes hex into out (>= DIGEST_HEX_MAX bytes); the digest can then only be freed. */
void digest_final_hex(struct digest *d, char out[DIGEST_HEX_MAX]);
void digest_free(struct digest *d);
/* Hex length of the algorithm's output: 32 or 40. */
size_t digest_hex_len(enum digest_algo algo);
/* One-shot MD5 hex of a buffer (path keys are MD5 of a path string in go-fastdfs). */
void digest_md5_hex(const void *p, size_t n, char out[DIGEST_HEX_MAX]);
/* SHA-256 hex (64 chars + NUL) of a buffer. */
void digest_sha256_hex(const void *p, size_t n, char out[65]);
/* HMAC-SHA256 hex of msg under key. */
void digest_hmac_sha256_hex(const char *key, const void *msg, size_t n, char out[65]);
/* Raw HMAC-SHA1 (20 bytes) of msg under a binary key (TOTP, RFC 6238). */
void digest_hmac_sha1(const void *key, size_t klen, const void *msg, size_t n,
                      unsigned char out[20]);
/* Fills out with n cryptographically random bytes; 0 or -EIO. */
int digest_random(void *out, size_t n);
