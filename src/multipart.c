/* Streaming multipart/form-data parser: a byte-level state machine that finds the
 * "\r\n--boundary" delimiter without buffering part content. A partial delimiter match is
 * kept as a count only (the matched bytes are a prefix of the delimiter we already hold),
 * so the lookback costs nothing and a delimiter split across feeds is still found. */
#include "multipart.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errcode.h"
#include "strparse.h"
#include "xalloc.h"

#define DELIM_MAX (MULTIPART_BOUNDARY_MAX + 4) /* "\r\n--" + boundary */
#define PAD_MAX 256 /* transport padding allowed after a delimiter */

enum state {
    ST_PREAMBLE,  /* before the first delimiter: bytes are discarded */
    ST_AFTER,     /* just after a delimiter: LWSP, then CRLF or LF */
    ST_AFTER_CR,  /* saw the CR of that line end */
    ST_HEADERS,   /* part header lines up to the empty line */
    ST_DATA,      /* part content up to the next delimiter */
    ST_EPILOGUE,  /* after the closing delimiter: bytes are ignored */
    ST_FAILED,    /* sticky: every later call fails */
};

struct multipart {
    enum state st;
    struct multipart_callbacks cb;
    void *ctx;
    char delim[DELIM_MAX + 1];
    size_t dlen;
    /* Delimiter matcher, shared by the preamble and data states. */
    size_t match;   /* bytes of delim matched so far */
    size_t virt;    /* leading bytes of the match that were assumed, never received */
    int dash;       /* one '-' seen after a full delim (could be the closing "--") */
    int held;       /* the match began in an earlier feed (or is virtual) */
    size_t pad;     /* transport padding seen in ST_AFTER */
    int parts;
    /* Header lines of the current part, NUL-separated; raw size bounded by HEADER_MAX. */
    char hdr[MULTIPART_HEADER_MAX];
    size_t hlen;    /* bytes used in hdr */
    size_t hraw;    /* raw header bytes consumed, including line ends */
    size_t line;    /* offset in hdr where the current line starts */
    size_t prev;    /* offset where the last complete line starts */
    int cr;         /* the previous header byte was CR */
    struct multipart_part part;
};

/* ---- tokens and parameters (RFC 9110 5.6, RFC 2045 5.1) ---- */

/* A table, not strchr: every header byte of every part is classified (a strchr call per
 * byte was about 1 % of a 4 KiB upload's user CPU). */
static const unsigned char tspecial[256] = {
    ['('] = 1, [')'] = 1, ['<'] = 1, ['>'] = 1, ['@'] = 1, [','] = 1, [';'] = 1,
    [':'] = 1, ['\\'] = 1, ['"'] = 1, ['/'] = 1, ['['] = 1, [']'] = 1, ['?'] = 1, ['='] = 1,
};

static int is_tspecial(unsigned char c)
{
    return tspecial[c];
}

static int is_token(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

static int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 2046 bchars: a boundary is 1..70 of these and does not end in a space. */
static int is_bchar(unsigned char c)
{
    static const unsigned char other[256] = {
        ['\''] = 1, ['('] = 1, [')'] = 1, ['+'] = 1, ['_'] = 1, [','] = 1, ['-'] = 1,
        ['.'] = 1, ['/'] = 1, [':'] = 1, ['='] = 1, ['?'] = 1, [' '] = 1,
    };
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           other[c];
}

static int boundary_ok(const char *b, size_t n)
{
    if (n == 0 || n > MULTIPART_BOUNDARY_MAX || b[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_bchar((unsigned char)b[i]))
            return 0;
    }
    return 1;
}

static const char *skip_ows(const char *p)
{
    while (is_ows((unsigned char)*p))
        p++;
    return p;
}

static int ieq_n(const char *a, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

/* Reads a token or a quoted-string at *pp into out (NUL-terminated). A backslash escapes
 * only a tspecial, as Go's mime package does, so MSIE's unescaped "C:\dir\f" survives.
 * Returns 0, or ERR_MULTIPART when malformed or longer than outcap-1. */
static int param_value(const char **pp, char *out, size_t outcap)
{
    const char *p = *pp;
    size_t o = 0;
    if (*p != '"') {
        while (is_token((unsigned char)*p)) {
            if (o + 1 >= outcap)
                return ERR_MULTIPART;
            out[o++] = *p++;
        }
        if (o == 0)
            return ERR_MULTIPART;
    } else {
        for (p++;; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '\0')
                return ERR_MULTIPART; /* unterminated */
            if (c == '"')
                break;
            if (c == '\\' && is_tspecial((unsigned char)p[1]))
                c = (unsigned char)*++p;
            if (o + 1 >= outcap)
                return ERR_MULTIPART;
            out[o++] = (char)c;
        }
        p++;
    }
    out[o] = '\0';
    *pp = p;
    return 0;
}

/* One "; name=value" step of a parameter list. name and namelen point into the input.
 * Returns 1 with a parameter, 0 at the end of the list, ERR_MULTIPART if malformed. */
static int next_param(const char **pp, const char **name, size_t *namelen, char *val,
                      size_t valcap)
{
    const char *p = skip_ows(*pp);
    if (*p == '\0')
        return 0;
    if (*p != ';')
        return ERR_MULTIPART;
    p = skip_ows(p + 1);
    if (*p == '\0') { /* a trailing ';' is common and harmless */
        *pp = p;
        return 0;
    }
    const char *n = p;
    while (is_token((unsigned char)*p))
        p++;
    if (p == n)
        return ERR_MULTIPART;
    *name = n;
    *namelen = (size_t)(p - n);
    p = skip_ows(p);
    if (*p != '=')
        return ERR_MULTIPART;
    p = skip_ows(p + 1);
    if (param_value(&p, val, valcap))
        return ERR_MULTIPART;
    *pp = p;
    return 1;
}

/* Matches the media type or disposition type at *pp case-insensitively. */
static int leading_type(const char **pp, const char *want)
{
    const char *p = skip_ows(*pp);
    const char *s = p;
    while (is_token((unsigned char)*p) || *p == '/')
        p++;
    if (!ieq_n(s, (size_t)(p - s), want))
        return ERR_MULTIPART;
    *pp = p;
    return 0;
}

int multipart_boundary(const char *content_type, char *out, size_t outcap)
{
    char val[1024]; /* other parameters may be long; only the boundary must be short */
    char found[MULTIPART_BOUNDARY_MAX + 1];
    size_t flen = 0;
    const char *p = content_type;
    if (!p || !out || outcap == 0 || leading_type(&p, "multipart/form-data"))
        return ERR_MULTIPART;
    for (;;) {
        const char *name = NULL;
        size_t namelen = 0;
        int rc = next_param(&p, &name, &namelen, val, sizeof(val));
        if (rc < 0)
            return ERR_MULTIPART;
        if (rc == 0)
            break;
        if (!ieq_n(name, namelen, "boundary"))
            continue;
        size_t vlen = strlen(val);
        if (flen || !boundary_ok(val, vlen))
            return ERR_MULTIPART; /* a second boundary is ambiguous */
        memcpy(found, val, vlen + 1);
        flen = vlen;
    }
    if (!flen || flen + 1 > outcap)
        return ERR_MULTIPART;
    memcpy(out, found, flen + 1);
    return 0;
}

/* ---- part headers ---- */

/* filename*=charset'lang'pct-encoded (RFC 5987/8187). Returns 1 when decoded into out,
 * 0 for a charset we do not speak (the parameter is then ignored, per RFC 6266 4.3). */
static int ext_value(const char *v, char *out, size_t outcap)
{
    const char *q1 = strchr(v, '\'');
    const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (!q2)
        return ERR_MULTIPART;
    if (!ieq_n(v, (size_t)(q1 - v), "UTF-8"))
        return 0;
    const char *enc = q2 + 1;
    if (strparse_pct_decode(enc, strlen(enc), false, out, outcap, NULL))
        return ERR_MULTIPART;
    return 1;
}

static int parse_disposition(struct multipart_part *part, const char *v)
{
    char val[sizeof(part->filename) * 3 + 16]; /* room for a pct-encoded filename* */
    int have_name = 0, have_fn = 0, have_fnx = 0;
    const char *p = v;
    if (leading_type(&p, "form-data"))
        return ERR_MULTIPART;
    for (;;) {
        const char *name = NULL;
        size_t namelen = 0;
        int rc = next_param(&p, &name, &namelen, val, sizeof(val));
        if (rc < 0)
            return ERR_MULTIPART;
        if (rc == 0)
            break;
        size_t vlen = strlen(val);
        if (ieq_n(name, namelen, "name")) {
            if (have_name || vlen >= sizeof(part->name))
                return ERR_MULTIPART;
            memcpy(part->name, val, vlen + 1);
            have_name = 1;
        } else if (ieq_n(name, namelen, "filename")) {
            if (have_fn || vlen >= sizeof(part->filename))
                return ERR_MULTIPART;
            have_fn = 1;
            if (!have_fnx) /* filename* wins, whichever comes first */
                memcpy(part->filename, val, vlen + 1);
        } else if (ieq_n(name, namelen, "filename*")) {
            if (have_fnx)
                return ERR_MULTIPART;
            char dec[sizeof(part->filename)];
            rc = ext_value(val, dec, sizeof(dec));
            if (rc < 0)
                return ERR_MULTIPART;
            if (rc == 1) {
                memcpy(part->filename, dec, strlen(dec) + 1);
                have_fnx = 1;
            }
        }
    }
    if (!have_name)
        return ERR_MULTIPART;
    part->has_filename = have_fn || have_fnx;
    return 0;
}

/* Interprets the collected header lines once the empty line arrives. */
static int parse_headers(struct multipart *m)
{
    int have_cd = 0, have_ct = 0;
    size_t off = 0;
    memset(&m->part, 0, sizeof(m->part));
    while (off < m->hlen) {
        char *line = m->hdr + off;
        size_t llen = strlen(line);
        off += llen + 1;
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return ERR_MULTIPART;
        for (const char *c = line; c < colon; c++) {
            if (!is_token((unsigned char)*c))
                return ERR_MULTIPART;
        }
        size_t nlen = (size_t)(colon - line);
        char *val = colon + 1;
        while (is_ows((unsigned char)*val))
            val++;
        size_t vlen = strlen(val);
        while (vlen > 0 && is_ows((unsigned char)val[vlen - 1]))
            val[--vlen] = '\0';
        if (ieq_n(line, nlen, "Content-Disposition")) {
            if (have_cd) /* the first one counts, as with Go's Header.Get */
                continue;
            if (parse_disposition(&m->part, val))
                return ERR_MULTIPART;
            have_cd = 1;
        } else if (ieq_n(line, nlen, "Content-Type")) {
            if (have_ct)
                continue;
            if (vlen >= sizeof(m->part.content_type))
                return ERR_MULTIPART;
            memcpy(m->part.content_type, val, vlen + 1);
            have_ct = 1;
        }
    }
    return have_cd ? 0 : ERR_MULTIPART;
}

/* One header byte. Returns 1 when the headers are complete, 0 to go on, or an error. */
static int header_byte(struct multipart *m, unsigned char c)
{
    if (++m->hraw > MULTIPART_HEADER_MAX)
        return ERR_MULTIPART;
    if (m->cr && c != '\n')
        return ERR_MULTIPART; /* a CR only ends a line */
    if (c == '\r') {
        m->cr = 1;
        return 0;
    }
    m->cr = 0;
    if (c == '\n') {
        if (m->hlen == m->line)
            return 1; /* empty line */
        /* hraw counts this LF, hlen does not, so the NUL always fits. */
        m->hdr[m->hlen++] = '\0';
        m->prev = m->line;
        m->line = m->hlen;
        return 0;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f)
        return ERR_MULTIPART;
    if (m->hlen == m->line && is_ows(c)) {
        /* obsolete line folding: the previous line goes on, joined with a space */
        if (m->line == 0)
            return ERR_MULTIPART;
        m->hdr[m->line - 1] = ' ';
        m->line = m->prev;
    }
    m->hdr[m->hlen++] = (char)c;
    return 0;
}

/* ---- the body state machine ---- */

static int fail(struct multipart *m, int rc)
{
    m->st = ST_FAILED;
    return rc;
}

static int emit(struct multipart *m, const char *p, size_t n)
{
    if (n == 0 || !m->cb.part_data)
        return 0;
    int rc = m->cb.part_data(m->ctx, p, n);
    return rc < 0 ? rc : 0;
}

/* Matching starts as though "\r\n" had just arrived, so the first delimiter may open the
 * body and a part may end right after its headers (Go's reader allows both). */
static void scan_start(struct multipart *m)
{
    m->match = 2;
    m->virt = 2;
    m->dash = 0;
    m->held = 1;
}

static int start_headers(struct multipart *m)
{
    if (m->parts >= MULTIPART_PARTS_MAX)
        return ERR_MULTIPART;
    m->parts++;
    m->hlen = m->hraw = m->line = m->prev = 0;
    m->cr = 0;
    m->st = ST_HEADERS;
    return 0;
}

/* A delimiter was confirmed: deliver the data in front of it and close the part. run and
 * mstart delimit the data of this feed that is still undelivered. */
static int delim_found(struct multipart *m, const char *d, size_t run, size_t mstart)
{
    int rc = 0;
    if (m->st == ST_DATA) {
        if (!m->held)
            rc = emit(m, d + run, mstart - run);
        if (!rc && m->cb.part_end) {
            rc = m->cb.part_end(m->ctx);
            rc = rc < 0 ? rc : 0;
        }
    }
    m->match = 0;
    m->dash = 0;
    m->virt = 0;
    return rc;
}

/* Scans d[*pos, len) for the delimiter in ST_PREAMBLE or ST_DATA (where the bytes are
 * delivered). Consumes the whole feed unless the delimiter is found. */
static int scan(struct multipart *m, const char *d, size_t len, size_t *pos)
{
    const int out = m->st == ST_DATA;
    size_t i = *pos, run = i, mstart = i;
    int rc;
    while (i < len) {
        unsigned char c = (unsigned char)d[i];
        if (m->match == 0) {
            const char *cr = memchr(d + i, '\r', len - i);
            if (!cr) {
                i = len;
                break;
            }
            i = (size_t)(cr - d);
            mstart = i++;
            m->match = 1;
            m->virt = 0;
            m->held = 0;
            continue;
        }
        if (m->match < m->dlen) {
            if (c == (unsigned char)m->delim[m->match]) {
                m->match++;
                i++;
                continue;
            }
        } else if (!m->dash) {
            if (c == '-') {
                m->dash = 1;
                i++;
                continue;
            }
            /* Like Go, "--boundaryX" is data: only these may follow a delimiter. */
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                rc = delim_found(m, d, run, mstart);
                m->st = ST_AFTER;
                m->pad = 0;
                *pos = i;
                return rc;
            }
        } else if (c == '-') {
            rc = delim_found(m, d, run, mstart);
            m->st = ST_EPILOGUE;
            *pos = len;
            return rc;
        }
        /* Mismatch. Bytes matched in earlier feeds were data after all; they equal the
         * delimiter prefix. No '\r' occurs past its first byte, so the match cannot
         * restart inside them, only at c. */
        if (m->held) {
            if (out) {
                rc = emit(m, m->delim + m->virt, m->match - m->virt);
                if (!rc && m->dash)
                    rc = emit(m, "-", 1);
                if (rc)
                    return rc;
            }
            run = i;
        }
        m->match = 0;
        m->dash = 0;
        m->virt = 0;
    }
    if (out) {
        /* A match still open holds back its bytes; if it began in an earlier feed, all
         * of this feed is part of it. */
        size_t end = m->match == 0 ? len : m->held ? run : mstart;
        rc = emit(m, d + run, end - run);
        if (rc)
            return rc;
    }
    if (m->match > 0)
        m->held = 1;
    *pos = len;
    return 0;
}

static int step(struct multipart *m, const char *d, size_t len, size_t *pos)
{
    unsigned char c = (unsigned char)d[*pos];
    int rc;
    switch (m->st) {
    case ST_PREAMBLE:
    case ST_DATA:
        return scan(m, d, len, pos);
    case ST_AFTER:
        (*pos)++;
        if (c == ' ' || c == '\t')
            return ++m->pad > PAD_MAX ? ERR_MULTIPART : 0;
        if (c == '\r') {
            m->st = ST_AFTER_CR;
            return 0;
        }
        return c == '\n' ? start_headers(m) : ERR_MULTIPART;
    case ST_AFTER_CR:
        (*pos)++;
        return c == '\n' ? start_headers(m) : ERR_MULTIPART;
    case ST_HEADERS:
        (*pos)++;
        rc = header_byte(m, c);
        if (rc <= 0)
            return rc;
        if (parse_headers(m))
            return ERR_MULTIPART;
        m->st = ST_DATA;
        scan_start(m);
        if (m->cb.part_begin) {
            rc = m->cb.part_begin(m->ctx, &m->part);
            return rc < 0 ? rc : 0;
        }
        return 0;
    case ST_EPILOGUE:
        *pos = len;
        return 0;
    case ST_FAILED:
        break;
    }
    return ERR_MULTIPART;
}

struct multipart *multipart_new(const char *boundary, const struct multipart_callbacks *cb,
                                void *ctx)
{
    struct multipart *m = xcalloc(1, sizeof(*m));
    if (cb)
        m->cb = *cb;
    m->ctx = ctx;
    size_t blen = boundary ? strlen(boundary) : 0;
    if (!boundary_ok(boundary ? boundary : "", blen)) {
        m->st = ST_FAILED; /* every call fails, so callers need no NULL check */
        return m;
    }
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, blen + 1);
    m->dlen = blen + 4;
    m->st = ST_PREAMBLE;
    scan_start(m);
    return m;
}

int multipart_feed(struct multipart *m, const char *data, size_t len)
{
    if (!m)
        return ERR_MULTIPART;
    if (m->st == ST_FAILED)
        return ERR_MULTIPART;
    if (!data && len)
        return fail(m, ERR_MULTIPART);
    size_t pos = 0;
    while (pos < len) {
        int rc = step(m, data, len, &pos);
        if (rc)
            return fail(m, rc);
    }
    return 0;
}

int multipart_finish(struct multipart *m)
{
    if (!m)
        return ERR_MULTIPART;
    if (m->st == ST_EPILOGUE)
        return 0;
    return fail(m, ERR_MULTIPART);
}

void multipart_free(struct multipart *m)
{
    free(m);
}
