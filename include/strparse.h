/* Bounded parsers for text a client or a config file controls. No sscanf/atoi: every
 * function checks the whole input and overflow, and returns 0 or -EINVAL/-ERANGE. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Decimal unsigned, the whole string [s, s+n) must be digits, at least one, value <= max. */
int strparse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* Decimal signed (optional leading '-'), whole string. */
int strparse_i64(const char *s, size_t n, int64_t *out);
/* True if s (NUL-terminated) is exactly `len` lower- or upper-case hex digits. */
bool strparse_is_hex(const char *s, size_t len);
/* Percent-decodes [s, s+n) into out (capacity outcap, NUL-terminated). '+' stays '+'
 * unless plus_is_space. Fails -EINVAL on a bad escape or a decoded NUL byte,
 * -EMSGSIZE if it does not fit. *outlen gets the decoded length. */
int strparse_pct_decode(const char *s, size_t n, bool plus_is_space, char *out, size_t outcap,
                        size_t *outlen);
/* Percent-encodes every byte outside RFC 3986 unreserved (keeps '/' when keep_slash). */
int strparse_pct_encode(const char *s, bool keep_slash, char *out, size_t outcap);
/* Case-insensitive ASCII compare of NUL-terminated strings. */
bool strparse_ieq(const char *a, const char *b);
