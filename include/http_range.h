/* Parses an HTTP Range header (RFC 9110 14.2) against a known size. Pure, fuzzed. Only a
 * single range is honoured; a multi-range request is served whole (200), as RFC allows. */
#pragma once
#include <stdint.h>

enum http_range_result {
    HTTP_RANGE_NONE = 0,     /* no header, a non-bytes unit, or multiple ranges: send 200 */
    HTTP_RANGE_OK = 1,       /* send 206 with [*start, *start + *len) */
    HTTP_RANGE_UNSAT = 2,    /* send 416 with Content-Range: bytes star/size */
    HTTP_RANGE_INVALID = 3,  /* syntactically bad: ignore the header and send 200 */
};

/* header may be NULL. Forms: "bytes=a-b", "bytes=a-", "bytes=-n"; whitespace around
 * tokens tolerated; numbers bounded to 2^62. */
enum http_range_result http_range_parse(const char *header, uint64_t size, uint64_t *start,
                                        uint64_t *len);
