/* Download tokens and TOTP codes (see token.h). Everything here is a pure function of its
 * inputs, so the tests can pin RFC vectors and the fuzzer can hammer the parsers. */
#include "token.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "errcode.h"
#include "strparse.h"

void token_make(const char *secret, const char *file_md5, const char *timestamp,
                char out[TOKEN_HEX + 1])
{
    char msg[128];
    int n = snprintf(msg, sizeof msg, "%s%s", file_md5, timestamp);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = (int)sizeof msg - 1;
    if (secret && *secret) {
        char h[65];
        digest_hmac_sha256_hex(secret, msg, (size_t)n, h);
        memcpy(out, h, TOKEN_HEX);
        out[TOKEN_HEX] = '\0';
    } else {
        char h[DIGEST_HEX_MAX];
        digest_md5_hex(msg, (size_t)n, h);
        memcpy(out, h, TOKEN_HEX);
        out[TOKEN_HEX] = '\0';
    }
}

int token_check(const char *secret, const char *file_md5, const char *token,
                const char *timestamp, long long expire, time_t now, const char **why)
{
    int64_t ts;
    *why = NULL;
    if (!token || !*token || !timestamp || !*timestamp) {
        *why = "token and timestamp are required";
        return ERR_UNAUTH;
    }
    if (strlen(timestamp) > 20 || strparse_i64(timestamp, strlen(timestamp), &ts) < 0) {
        *why = "timestamp must be a unix time in seconds";
        return ERR_UNAUTH;
    }
    long long d = (long long)now - (long long)ts;
    if (d > expire) {
        *why = "token expired";
        return ERR_UNAUTH;
    }
    if (-d > expire) {
        *why = "timestamp is in the future";
        return ERR_UNAUTH;
    }
    if (strlen(token) != TOKEN_HEX || !strparse_is_hex(token, TOKEN_HEX)) {
        *why = "token must be 32 hex digits";
        return ERR_UNAUTH;
    }
    char want[TOKEN_HEX + 1];
    token_make(secret, file_md5, timestamp, want);
    unsigned char diff = 0;
    for (size_t i = 0; i < TOKEN_HEX; i++) {
        char c = token[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c + 32);
        diff |= (unsigned char)(c ^ want[i]);
    }
    if (diff) {
        *why = "token does not match";
        return ERR_UNAUTH;
    }
    return 0;
}

int token_base32_decode(const char *in, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        int v;
        if (c == '=' || c == ' ' || c == '-')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= '2' && c <= '7')
            v = c - '2' + 26;
        else
            return -EINVAL;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            if (n >= cap)
                return -EINVAL;
            out[n++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
            acc &= (1u << bits) - 1;
        }
    }
    return (int)n;
}

static int totp_at(const unsigned char *key, size_t klen, long long step, char out[7])
{
    unsigned char msg[8], mac[20];
    for (int i = 7; i >= 0; i--) {
        msg[i] = (unsigned char)(step & 0xff);
        step >>= 8;
    }
    digest_hmac_sha1(key, klen, msg, sizeof msg, mac);
    int off = mac[19] & 0x0f;
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | (uint32_t)mac[off + 3];
    snprintf(out, 7, "%06u", (unsigned)(bin % 1000000u));
    return 0;
}

int token_totp(const char *b32secret, time_t t, char out[7])
{
    unsigned char key[64];
    int kl = token_base32_decode(b32secret, key, sizeof key);
    if (kl <= 0)
        return -EINVAL;
    return totp_at(key, (size_t)kl, (long long)t / 30, out);
}

bool token_totp_verify(const char *b32secret, const char *code, time_t now, int window)
{
    unsigned char key[64];
    int kl = token_base32_decode(b32secret, key, sizeof key);
    if (kl <= 0 || !code || strlen(code) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (code[i] < '0' || code[i] > '9')
            return false;
    if (window < 0)
        window = 0;
    if (window > 10)
        window = 10;
    bool ok = false;
    long long step = (long long)now / 30;
    for (long long s = step - window; s <= step + window; s++) {
        char c[7];
        totp_at(key, (size_t)kl, s, c);
        ok |= memcmp(c, code, 6) == 0;
    }
    return ok;
}

int token_totp_secret(char out[17])
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char r[16];
    if (digest_random(r, sizeof r) < 0)
        return -EIO;
    for (int i = 0; i < 16; i++)
        out[i] = alpha[r[i] & 31];
    out[16] = '\0';
    return 0;
}
