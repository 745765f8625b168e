/* A growable byte buffer with a hard ceiling: appends past `max` fail with -EMSGSIZE and
 * leave the buffer unchanged. The content is always NUL-terminated (not counted in len). */
#pragma once
#include <stddef.h>
#include "compiler.h"

struct buf {
    char *data;  /* NULL until the first append; owned */
    size_t len;
    size_t cap;
    size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);               /* frees; the buf may be re-initialised */
void buf_reset(struct buf *b);              /* len = 0, keeps memory */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appends(struct buf *b, const char *s);
int buf_appendf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Detaches the content (caller frees, never NULL: "" when empty) and resets the buf. */
char *buf_steal(struct buf *b, size_t *len);
