/* Signatures on node-to-node calls: one canonical text per request, HMAC-SHA256'd under the
 * cluster secret. Every free-text field is escaped so that no two different requests share
 * a canonical text; the check runs in constant time so a forger learns nothing from timing. */
#include "peersig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "digest.h"
#include "errcode.h"
#include "strparse.h"

#define PEERSIG_CANON_MAX (64 * 1024)
#define PEERSIG_TIME_MAX 20 /* "-9223372036854775808" */

/* Appends s with '%', '\n' and '=' percent-escaped. Escaping '%' too is what makes the
 * escape reversible: otherwise a literal "%3D" and an escaped "=" would read the same. */
static int append_escaped(struct buf *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '%')
            esc = "%25";
        else if (*s == '\n')
            esc = "%0A";
        else if (*s == '=')
            esc = "%3D";
        if (!esc)
            continue;
        if (buf_append(b, run, (size_t)(s - run)) < 0 || buf_append(b, esc, 3) < 0)
            return -EMSGSIZE;
        run = s + 1;
    }
    return buf_append(b, run, (size_t)(s - run)) < 0 ? -EMSGSIZE : 0;
}

static int canonical(struct buf *b, const char *method, const char *path,
                     const struct http_kv *args, size_t nargs, const char *body_sha256,
                     long long t)
{
    if (append_escaped(b, method) < 0 || buf_append(b, "\n", 1) < 0 ||
        append_escaped(b, path) < 0 || buf_append(b, "\n", 1) < 0)
        return -EMSGSIZE;
    for (size_t i = 0; i < nargs; i++) {
        const char *v = args[i].value ? args[i].value : "";
        if (append_escaped(b, args[i].key) < 0 || buf_append(b, "=", 1) < 0 ||
            append_escaped(b, v) < 0 || buf_append(b, "\n", 1) < 0)
            return -EMSGSIZE;
    }
    if (append_escaped(b, body_sha256) < 0 || buf_appendf(b, "\n%lld", t) < 0)
        return -EMSGSIZE;
    return 0;
}

int peersig_sign(const char *secret, const char *method, const char *path,
                 const struct http_kv *args, size_t nargs, const char *body_sha256,
                 long long t, char out[65])
{
    if (!secret || !method || !path || !body_sha256 || !out || (nargs > 0 && !args))
        return -EINVAL;
    for (size_t i = 0; i < nargs; i++)
        if (!args[i].key)
            return -EINVAL;
    struct buf b;
    buf_init(&b, PEERSIG_CANON_MAX);
    int rc = canonical(&b, method, path, args, nargs, body_sha256, t);
    if (rc == 0)
        digest_hmac_sha256_hex(secret, b.data, b.len, out);
    buf_fini(&b);
    return rc;
}

/* Compares n bytes without an early exit, so the time taken does not reveal how long a
 * prefix of a forged signature was right. */
static bool ct_equal(const char *a, const char *b, size_t n)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool is_lower_hex64(const char *s)
{
    size_t n = strnlen(s, 65);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* True when t is within PEERSIG_WINDOW_S of now. The difference is taken in unsigned
 * arithmetic because a hostile t near INT64_MIN would overflow a signed subtraction. */
static bool in_window(int64_t t, long long now)
{
    uint64_t d = t >= now ? (uint64_t)t - (uint64_t)now : (uint64_t)now - (uint64_t)t;
    return d <= PEERSIG_WINDOW_S;
}

static int deny(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return ERR_FORBIDDEN;
}

int peersig_verify(const char *secret, const char *method, const char *path,
                   const struct http_kv *args, size_t nargs, const char *body_sha256,
                   const char *time_hdr, const char *sign_hdr, long long now,
                   const char **why)
{
    if (!secret || !*secret)
        return deny(why, "no cluster secret configured");
    if (!time_hdr || !*time_hdr || !sign_hdr || !*sign_hdr)
        return deny(why, "missing signature");
    size_t tlen = strnlen(time_hdr, PEERSIG_TIME_MAX + 1);
    int64_t t = 0;
    if (tlen > PEERSIG_TIME_MAX || strparse_i64(time_hdr, tlen, &t) < 0)
        return deny(why, "malformed signature time");
    if (!in_window(t, now))
        return deny(why, "stale signature");
    if (!is_lower_hex64(sign_hdr))
        return deny(why, "malformed signature");
    char want[65];
    if (peersig_sign(secret, method, path, args, nargs, body_sha256, t, want) < 0)
        return deny(why, "request cannot be signed");
    if (!ct_equal(want, sign_hdr, 64))
        return deny(why, "bad signature");
    return 0;
}
