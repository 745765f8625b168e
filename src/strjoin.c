/* strjoin: string building for hot paths, with snprintf's truncation contract and none of
 * its format parsing. */
#include "strjoin.h"

#include <stdarg.h>
#include <string.h>

int strjoin_(char *out, size_t cap, ...)
{
    va_list ap;
    size_t len = 0;
    int rc = 0;
    va_start(ap, cap);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        size_t n = strlen(s);
        if (n >= cap - len) { /* cap - len >= 1 unless cap is 0 */
            if (cap > len) {
                memcpy(out + len, s, cap - len - 1);
                len = cap - 1;
            }
            rc = -1;
            break;
        }
        memcpy(out + len, s, n);
        len += n;
    }
    va_end(ap);
    if (cap > 0)
        out[len] = '\0';
    return rc < 0 ? -1 : (int)len;
}

size_t strjoin_i64(char out[STRJOIN_I64_MAX], int64_t v)
{
    char tmp[STRJOIN_I64_MAX];
    size_t n = 0;
    /* in unsigned arithmetic, so INT64_MIN's magnitude is representable */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

size_t strjoin_ipv4(char out[STRJOIN_IPV4_MAX], const unsigned char a[4])
{
    char *o = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *o++ = (char)('0' + v / 100);
        if (v >= 10)
            *o++ = (char)('0' + v / 10 % 10);
        *o++ = (char)('0' + v % 10);
        *o++ = '.';
    }
    *--o = '\0';
    return (size_t)(o - out);
}
