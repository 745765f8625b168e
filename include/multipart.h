/* A streaming multipart/form-data parser (RFC 7578): fed the body in chunks of any size,
 * it reports part headers and part data through callbacks without ever buffering a part's
 * content. Every limit is fixed, so a hostile body costs bounded memory. No I/O. */
#pragma once
#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 */
#define MULTIPART_HEADER_MAX 4096   /* all header lines of one part */
#define MULTIPART_PARTS_MAX 64

struct multipart_part {
    char name[256];      /* form field name (from Content-Disposition) */
    char filename[1024]; /* "" when the part has no filename= ; filename* is decoded too */
    int has_filename;
    char content_type[128];
};

struct multipart_callbacks {
    /* Each returns 0 to go on or a negative code, which stops the parser and is returned
     * by multipart_feed. */
    int (*part_begin)(void *ctx, const struct multipart_part *part);
    int (*part_data)(void *ctx, const char *data, size_t len);
    int (*part_end)(void *ctx);
};

struct multipart; /* opaque */

/* Extracts the boundary from a Content-Type header value ("multipart/form-data;
 * boundary=..." , quoted or not). Returns 0 or ERR_MULTIPART. */
int multipart_boundary(const char *content_type, char *out, size_t outcap);

struct multipart *multipart_new(const char *boundary, const struct multipart_callbacks *cb,
                                void *ctx);
/* Feeds the next len bytes. Returns 0, ERR_MULTIPART on malformed input (then every later
 * call fails too), or a callback's error. */
int multipart_feed(struct multipart *m, const char *data, size_t len);
/* At end of body: 0 if the closing boundary was seen, else ERR_MULTIPART (truncated). */
int multipart_finish(struct multipart *m);
void multipart_free(struct multipart *m);
