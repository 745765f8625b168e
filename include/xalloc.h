/* Allocation wrappers that log and abort on out-of-memory, so callers never test for NULL. */
#pragma once
#include <stddef.h>
#include "compiler.h"

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formatted allocation; the caller frees. */
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
