/* Parses the Range request header (RFC 9110 14.1-14.2) into one byte range. Pure and
 * allocation-free: it only reads the string, and every number is capped at 2^62 so the
 * arithmetic on start, end and size cannot overflow. */
#include "http_range.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "strparse.h"

#define RANGE_NUM_MAX ((uint64_t)1 << 62)

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar */
static bool is_tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *skip_ows(const char *p)
{
    while (is_ows(*p))
        p++;
    return p;
}

/* Reads digits at *pp. Returns 0 with *out, 1 when there are no digits, -1 when the number
 * exceeds RANGE_NUM_MAX. */
static int number(const char **pp, uint64_t *out)
{
    const char *s = *pp, *p = s;
    while (is_digit(*p))
        p++;
    if (p == s)
        return 1;
    if (strparse_u64(s, (size_t)(p - s), RANGE_NUM_MAX, out))
        return -1;
    *pp = p;
    return 0;
}

struct spec {
    bool suffix;    /* "-n" */
    bool open;      /* "a-" */
    uint64_t first; /* a, or n for a suffix */
    uint64_t last;  /* b */
};

/* One range-spec; *pp is left after it (and any OWS). Returns false if malformed. */
static bool parse_spec(const char **pp, struct spec *sp)
{
    const char *p = skip_ows(*pp);
    *sp = (struct spec){0};
    if (*p == '-') {
        p = skip_ows(p + 1);
        sp->suffix = true;
        if (number(&p, &sp->first))
            return false;
    } else {
        if (number(&p, &sp->first))
            return false;
        p = skip_ows(p);
        if (*p != '-')
            return false;
        p = skip_ows(p + 1);
        int rc = number(&p, &sp->last);
        if (rc < 0)
            return false;
        sp->open = rc == 1;
        if (!sp->open && sp->first > sp->last)
            return false; /* RFC 9110 14.1.1: invalid, so the header is ignored */
    }
    *pp = skip_ows(p);
    return true;
}

enum http_range_result http_range_parse(const char *header, uint64_t size, uint64_t *start,
                                        uint64_t *len)
{
    if (!header)
        return HTTP_RANGE_NONE;
    const char *p = skip_ows(header);
    const char *unit = p;
    while (is_tchar(*p))
        p++;
    size_t unitlen = (size_t)(p - unit);
    p = skip_ows(p);
    if (unitlen == 0 || *p != '=')
        return HTTP_RANGE_INVALID;
    p++;
    /* Another unit's range-set has its own syntax; we ignore it and send 200. */
    if (unitlen != 5 || strncasecmp(unit, "bytes", 5) != 0)
        return HTTP_RANGE_NONE;

    struct spec first = {0};
    unsigned count = 0;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') { /* RFC 9110 5.6.1: empty list elements are tolerated */
            p++;
            continue;
        }
        if (*p == '\0')
            break;
        struct spec sp;
        if (!parse_spec(&p, &sp))
            return HTTP_RANGE_INVALID;
        if (count++ == 0)
            first = sp;
        if (*p != ',' && *p != '\0')
            return HTTP_RANGE_INVALID;
    }
    if (count == 0)
        return HTTP_RANGE_INVALID;
    /* Only once the whole set is known to be well-formed: several ranges get a 200. */
    if (count > 1)
        return HTTP_RANGE_NONE;

    uint64_t s, n;
    if (first.suffix) {
        if (first.first == 0 || size == 0)
            return HTTP_RANGE_UNSAT;
        n = first.first < size ? first.first : size;
        s = size - n;
    } else {
        if (first.first >= size)
            return HTTP_RANGE_UNSAT;
        uint64_t end = first.open || first.last >= size ? size - 1 : first.last;
        s = first.first;
        n = end - s + 1;
    }
    if (start)
        *start = s;
    if (len)
        *len = n;
    return HTTP_RANGE_OK;
}
