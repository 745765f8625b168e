/* Bounded parsers for text a client or config file controls. Every function looks at the
 * whole input, checks overflow and capacity, and reports -EINVAL/-ERANGE/-EMSGSIZE instead
 * of guessing; none depends on the locale. */
#include "strparse.h"

#include <errno.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int strparse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (!s || n == 0)
        return -EINVAL;
    uint64_t v = 0;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < '0' || c > '9')
            return -EINVAL;
        unsigned d = c - '0';
        /* keep scanning after overflow so a later non-digit still gives -EINVAL */
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (overflow || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int strparse_i64(const char *s, size_t n, int64_t *out)
{
    if (!s || n == 0)
        return -EINVAL;
    bool neg = s[0] == '-';
    if (neg) {
        s++;
        n--;
        if (n == 0)
            return -EINVAL;
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v;
    int rc = strparse_u64(s, n, limit, &v);
    if (rc)
        return rc;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

bool strparse_is_hex(const char *s, size_t len)
{
    if (!s)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (hexval((unsigned char)s[i]) < 0)
            return false; /* also stops at the NUL of a short string */
    }
    return s[len] == '\0';
}

int strparse_pct_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t outcap,
                        size_t *outlen)
{
    if ((!s && n) || !out || outcap == 0)
        return -EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3)
                return -EINVAL;
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0')
            return -EINVAL; /* a NUL would silently truncate the name downstream */
        if (o + 1 >= outcap)
            return -EMSGSIZE;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int strparse_pct_encode(const char *s, bool keep_slash, char *out, size_t outcap)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s || !out || outcap == 0)
        return -EINVAL;
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (o + 1 >= outcap)
                return -EMSGSIZE;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outcap)
                return -EMSGSIZE;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

bool strparse_ieq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    for (;; a++, b++) {
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return false;
        if (!*a)
            return true;
    }
}
