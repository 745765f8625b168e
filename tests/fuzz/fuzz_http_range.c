/* Fuzz target for the Range header parser. Input: the header value, a newline, then the
 * representation size in decimal (or, if that is not a number, up to 8 raw bytes of it).
 * Without a newline the whole input is the header and the size is 1000; an empty input
 * stands for "no header". An OK result must be a non-empty range inside the size and must
 * parse back to itself; any other result must leave the outputs alone. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_range.h"
#include "strparse.h"
#include "xalloc.h"

#include "fuzz_check.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t size_from(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    if (strparse_u64((const char *)p, n, UINT64_MAX, &v) == 0)
        return v;
    v = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t start = SENTINEL, len = SENTINEL;
    if (size == 0) {
        CHECK(http_range_parse(NULL, 1000, &start, &len) == HTTP_RANGE_NONE);
        CHECK(start == SENTINEL && len == SENTINEL);
        return 0;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    uint64_t total = nl ? size_from(nl + 1, size - hlen - 1) : 1000;
    char *hdr = xmalloc(hlen + 1);
    memcpy(hdr, data, hlen);
    hdr[hlen] = '\0';

    enum http_range_result r = http_range_parse(hdr, total, &start, &len);
    CHECK(r == HTTP_RANGE_NONE || r == HTTP_RANGE_OK || r == HTTP_RANGE_UNSAT ||
          r == HTTP_RANGE_INVALID);
    if (r == HTTP_RANGE_OK) {
        CHECK(len > 0);
        CHECK(start < total);
        CHECK(len <= total - start);
        char again[64];
        uint64_t s2 = 0, l2 = 0;
        snprintf(again, sizeof(again), "bytes=%" PRIu64 "-%" PRIu64, start, start + len - 1);
        enum http_range_result r2 = http_range_parse(again, total, &s2, &l2);
        /* the end may exceed 2^62 only when the size does; then it is out of syntax */
        CHECK(r2 == HTTP_RANGE_OK || start + len - 1 > ((uint64_t)1 << 62));
        if (r2 == HTTP_RANGE_OK)
            CHECK(s2 == start && l2 == len);
    } else {
        CHECK(start == SENTINEL && len == SENTINEL);
    }
    free(hdr);
    return 0;
}
