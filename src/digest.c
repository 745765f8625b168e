/* Streaming MD5 / SHA-1 over OpenSSL EVP, the only file that sees OpenSSL headers, so the
 * backend can change without touching callers. Output is always lower-case hex. */
#include "digest.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "xalloc.h"

struct digest {
    EVP_MD_CTX *ctx;
    enum digest_algo algo;
    bool failed; /* an update failed: final reports the failure instead of a wrong digest */
};

static const EVP_MD *algo_md(enum digest_algo algo)
{
    return algo == DIGEST_SHA1 ? EVP_sha1() : EVP_md5();
}

static void log_ssl(const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[256];
    ERR_error_string_n(e, msg, sizeof(msg));
    log_error("digest", "%s: %s", what, msg);
}

struct digest *digest_new(enum digest_algo algo)
{
    struct digest *d = xcalloc(1, sizeof(*d));
    d->algo = algo == DIGEST_SHA1 ? DIGEST_SHA1 : DIGEST_MD5;
    d->ctx = EVP_MD_CTX_new();
    if (!d->ctx || EVP_DigestInit_ex(d->ctx, algo_md(d->algo), NULL) != 1) {
        log_ssl("digest init");
        EVP_MD_CTX_free(d->ctx);
        free(d);
        return NULL;
    }
    return d;
}

void digest_update(struct digest *d, const void *p, size_t n)
{
    if (!n || d->failed)
        return;
    if (EVP_DigestUpdate(d->ctx, p, n) != 1) {
        log_ssl("digest update");
        d->failed = true;
    }
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
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (d->failed || EVP_DigestFinal_ex(d->ctx, md, &len) != 1 || len * 2 >= DIGEST_HEX_MAX) {
        if (!d->failed)
            log_ssl("digest final");
        /* An empty string never matches a real digest, so a failure cannot pass a check. */
        out[0] = '\0';
        d->failed = true;
        return;
    }
    to_hex(md, len, out);
}

void digest_free(struct digest *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

size_t digest_hex_len(enum digest_algo algo)
{
    return algo == DIGEST_SHA1 ? 40 : 32;
}

void digest_md5_hex(const void *p, size_t n, char out[DIGEST_HEX_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_Digest(p, n, md, &len, EVP_md5(), NULL) != 1 || len * 2 >= DIGEST_HEX_MAX) {
        log_ssl("md5");
        out[0] = '\0';
        return;
    }
    to_hex(md, len, out);
}

void digest_sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32) {
        log_ssl("sha256");
        out[0] = '\0';
        return;
    }
    to_hex(md, len, out);
}

void digest_hmac_sha256_hex(const char *key, const void *msg, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    size_t kl = strlen(key);
    if (kl > INT_MAX || !HMAC(EVP_sha256(), key, (int)kl, msg, n, md, &len) || len != 32) {
        log_ssl("hmac");
        out[0] = '\0';
        return;
    }
    to_hex(md, len, out);
}

void digest_hmac_sha1(const void *key, size_t klen, const void *msg, size_t n,
                      unsigned char out[20])
{
    unsigned len = 0;
    if (klen > INT_MAX || !HMAC(EVP_sha1(), key, (int)klen, msg, n, out, &len) || len != 20) {
        log_ssl("hmac-sha1");
        memset(out, 0, 20);
    }
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
