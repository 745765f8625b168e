/* Streaming MD5 / SHA-1, one-shot SHA-256 and HMAC over OpenSSL's hash functions; the only
 * file that sees OpenSSL headers, so the backend can change without touching callers.
 * Output is always lower-case hex. */
#include "digest.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* The one-call-per-algorithm functions, not EVP: they run the same assembly, but a binary
 * linked with them pulls in a few kilobytes of libcrypto instead of its provider machinery
 * (about a megabyte mapped at start). They are deprecated in OpenSSL 3, not removed. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "log.h"
#include "md5batch.h"
#include "xalloc.h"

struct digest {
    enum digest_algo algo;
    struct md5batch *mb; /* MD5 shared with other streams; finished in c.md5 */
    union {
        MD5_CTX md5;
        SHA_CTX sha1;
    } c;
};

struct digest *digest_new(enum digest_algo algo)
{
    struct digest *d = xcalloc(1, sizeof(*d));
    d->algo = algo == DIGEST_SHA1 ? DIGEST_SHA1 : DIGEST_MD5;
    if (d->algo == DIGEST_SHA1)
        SHA1_Init(&d->c.sha1);
    else
        MD5_Init(&d->c.md5);
    return d;
}

/* An MD5 context that goes on from state h after `hashed` bytes (the lanes' work). */
static void md5_resume(MD5_CTX *c, const uint32_t h[4], uint64_t hashed)
{
    MD5_Init(c);
    c->A = h[0];
    c->B = h[1];
    c->C = h[2];
    c->D = h[3];
    c->Nl = (MD5_LONG)(hashed << 3); /* the length in bits, split in halves */
    c->Nh = (MD5_LONG)(hashed >> 29);
}

static void md5_solo(uint32_t h[4], const unsigned char *p, size_t blocks)
{
    MD5_CTX c;
    md5_resume(&c, h, 0); /* the length matters only to padding, which is not done here */
    MD5_Update(&c, p, blocks * 64); /* whole blocks: all of them are hashed, none kept */
    h[0] = c.A;
    h[1] = c.B;
    h[2] = c.C;
    h[3] = c.D;
}

struct digest *digest_new_batched(enum digest_algo algo, size_t expect)
{
    struct digest *d = digest_new(algo);
    if (d->algo == DIGEST_MD5)
        d->mb = md5batch_new(expect, md5_solo);
    return d;
}

void digest_update(struct digest *d, const void *p, size_t n)
{
    if (!n)
        return;
    if (d->mb)
        md5batch_update(d->mb, p, n);
    else if (d->algo == DIGEST_SHA1)
        SHA1_Update(&d->c.sha1, p, n);
    else
        MD5_Update(&d->c.md5, p, n);
}

static void to_hex(const unsigned char *md, unsigned len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * len] = '\0';
}

void digest_final_hex(struct digest *d, char out[DIGEST_HEX_MAX])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    if (d->algo == DIGEST_SHA1) {
        SHA1_Final(md, &d->c.sha1);
        to_hex(md, SHA_DIGEST_LENGTH, out);
    } else {
        if (d->mb) { /* OpenSSL takes over where the lanes stopped, and pads */
            uint32_t h[4];
            uint64_t hashed;
            const unsigned char *rest;
            size_t rest_len;
            md5batch_finish(d->mb, h, &hashed, &rest, &rest_len);
            md5_resume(&d->c.md5, h, hashed);
            MD5_Update(&d->c.md5, rest, rest_len);
        }
        MD5_Final(md, &d->c.md5);
        to_hex(md, MD5_DIGEST_LENGTH, out);
    }
}

void digest_free(struct digest *d)
{
    if (d)
        md5batch_free(d->mb);
    free(d);
}

size_t digest_hex_len(enum digest_algo algo)
{
    return algo == DIGEST_SHA1 ? 40 : 32;
}

void digest_md5_hex(const void *p, size_t n, char out[DIGEST_HEX_MAX])
{
    unsigned char md[MD5_DIGEST_LENGTH];
    MD5_CTX c; /* not MD5(): OpenSSL 3 routes the one-shot calls through EVP */
    MD5_Init(&c);
    MD5_Update(&c, p, n);
    MD5_Final(md, &c);
    to_hex(md, MD5_DIGEST_LENGTH, out);
}

void digest_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, p, n);
    SHA256_Final(md, &c);
    to_hex(md, SHA256_DIGEST_LENGTH, out);
}

/* HMAC (RFC 2104) over the two hashes that need it, both with 64-byte blocks. A hash in
 * this table runs init, update and final on a context it owns. */
struct hmac_hash {
    size_t len;
    void (*init)(void *ctx);
    void (*update)(void *ctx, const void *p, size_t n);
    void (*final)(unsigned char *md, void *ctx);
};

static void sha1_init(void *c) { SHA1_Init(c); }
static void sha1_update(void *c, const void *p, size_t n) { SHA1_Update(c, p, n); }
static void sha1_final(unsigned char *md, void *c) { SHA1_Final(md, c); }
static void sha256_init(void *c) { SHA256_Init(c); }
static void sha256_update(void *c, const void *p, size_t n) { SHA256_Update(c, p, n); }
static void sha256_final(unsigned char *md, void *c) { SHA256_Final(md, c); }

static const struct hmac_hash HMAC_SHA1 = {SHA_DIGEST_LENGTH, sha1_init, sha1_update,
                                           sha1_final};
static const struct hmac_hash HMAC_SHA256 = {SHA256_DIGEST_LENGTH, sha256_init, sha256_update,
                                             sha256_final};

#define HMAC_BLOCK 64

static void hmac(const struct hmac_hash *h, const void *key, size_t klen, const void *msg,
                 size_t n, unsigned char *out)
{
    union {
        SHA_CTX sha1;
        SHA256_CTX sha256;
    } ctx;
    unsigned char k[HMAC_BLOCK] = {0}, pad[HMAC_BLOCK], inner[SHA256_DIGEST_LENGTH];
    if (klen > HMAC_BLOCK) { /* a long key is replaced by its hash */
        h->init(&ctx);
        h->update(&ctx, key, klen);
        h->final(k, &ctx);
    } else if (klen) {
        memcpy(k, key, klen);
    }
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    h->init(&ctx);
    h->update(&ctx, pad, HMAC_BLOCK);
    h->update(&ctx, msg, n);
    h->final(inner, &ctx);
    for (size_t i = 0; i < HMAC_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    h->init(&ctx);
    h->update(&ctx, pad, HMAC_BLOCK);
    h->update(&ctx, inner, h->len);
    h->final(out, &ctx);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}

void digest_hmac_sha256_hex(const char *key, const void *msg, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    hmac(&HMAC_SHA256, key, strlen(key), msg, n, md);
    to_hex(md, SHA256_DIGEST_LENGTH, out);
}

void digest_hmac_sha1(const void *key, size_t klen, const void *msg, size_t n,
                      unsigned char out[20])
{
    hmac(&HMAC_SHA1, key, klen, msg, n, out);
}

int digest_random(void *out, size_t n)
{
    /* the kernel's generator: OpenSSL's would map a megabyte or two of libcrypto into every
     * process on its first use (at start, for a generated peer_id) for the same quality */
    unsigned char *p = out;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            log_error("digest", "getrandom: %s", strerror(errno));
            return -EIO;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}
