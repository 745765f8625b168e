/* Fuzz target for the streaming multipart parser. Input: byte 0 picks a feed size, the
 * first line is the boundary (or, if it starts "multipart/", a Content-Type to take it
 * from), the rest is the body. The body is parsed whole and in chunks: the callbacks check
 * the event order, and both runs must agree on every event, every data byte and the
 * result, which is what makes delimiters split across feeds safe. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "multipart.h"

#include "fuzz_check.h"

/* A part named "stop" makes part_begin fail, to exercise error propagation. */
#define STOP_RC (-4242)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    size_t body_len;
    int in_part;
    int begins, ends;
    size_t data_bytes;
    uint64_t hash; /* FNV-1a over the event stream, blind to how data was split */
};

static void mix(struct run *r, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        r->hash ^= b[i];
        r->hash *= 1099511628211ULL;
    }
}

static void mix_field(struct run *r, const char *field, size_t cap)
{
    const char *nul = memchr(field, '\0', cap);
    CHECK(nul != NULL);
    mix(r, field, (size_t)(nul - field) + 1);
}

static int on_begin(void *ctx, const struct multipart_part *part)
{
    struct run *r = ctx;
    CHECK(!r->in_part);
    CHECK(r->begins < MULTIPART_PARTS_MAX);
    CHECK(part->has_filename == 0 || part->has_filename == 1);
    CHECK(part->has_filename || part->filename[0] == '\0');
    r->in_part = 1;
    r->begins++;
    mix(r, "B", 1);
    mix_field(r, part->name, sizeof(part->name));
    mix_field(r, part->filename, sizeof(part->filename));
    mix_field(r, part->content_type, sizeof(part->content_type));
    return strcmp(part->name, "stop") == 0 ? STOP_RC : 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    struct run *r = ctx;
    CHECK(r->in_part);
    CHECK(data != NULL && len > 0);
    r->data_bytes += len;
    CHECK(r->data_bytes <= r->body_len);
    mix(r, data, len);
    return 0;
}

static int on_end(void *ctx)
{
    struct run *r = ctx;
    CHECK(r->in_part);
    r->in_part = 0;
    r->ends++;
    mix(r, "E", 1);
    return 0;
}

static int parse(const char *boundary, const char *body, size_t len, size_t chunk,
                 struct run *r)
{
    static const struct multipart_callbacks cb = {on_begin, on_data, on_end};
    memset(r, 0, sizeof(*r));
    r->body_len = len;
    r->hash = 14695981039346656037ULL;
    struct multipart *m = multipart_new(boundary, &cb, r);
    CHECK(m != NULL);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = multipart_feed(m, body + off, len - off < chunk ? len - off : chunk);
    if (rc == 0)
        rc = multipart_finish(m);
    if (rc == 0) {
        CHECK(!r->in_part);
        CHECK(r->begins == r->ends);
        CHECK(multipart_finish(m) == 0);
    } else {
        CHECK(rc == ERR_MULTIPART || rc == STOP_RC);
        /* errors are sticky */
        CHECK(multipart_feed(m, "--", 2) == ERR_MULTIPART);
        CHECK(multipart_finish(m) == ERR_MULTIPART);
    }
    multipart_free(m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[] = {1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 16, 31, 64, 77, 256, 4096};
    char line[256];
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    if (size < 2)
        return 0;
    size_t chunk = chunks[data[0] % (sizeof(chunks) / sizeof(chunks[0]))];
    const uint8_t *nl = memchr(data + 1, '\n', size - 1);
    if (!nl || (size_t)(nl - data - 1) >= sizeof(line))
        return 0;
    size_t llen = (size_t)(nl - data - 1);
    memcpy(line, data + 1, llen);
    line[llen] = '\0';
    if (strncmp(line, "multipart/", 10) == 0) {
        if (multipart_boundary(line, boundary, sizeof(boundary)) != 0)
            return 0;
        size_t blen = strlen(boundary);
        CHECK(blen >= 1 && blen <= MULTIPART_BOUNDARY_MAX);
    } else {
        if (llen >= sizeof(boundary))
            return 0;
        memcpy(boundary, line, llen + 1);
    }

    const char *body = (const char *)nl + 1;
    size_t len = size - (size_t)(nl - data) - 1;
    struct run whole, split;
    int rc1 = parse(boundary, body, len, len ? len : 1, &whole);
    int rc2 = parse(boundary, body, len, chunk, &split);
    CHECK(rc1 == rc2);
    CHECK(whole.hash == split.hash);
    CHECK(whole.begins == split.begins && whole.ends == split.ends);
    CHECK(whole.data_bytes == split.data_bytes);
    return 0;
}
