/* Bounded string building without printf, for the keys, paths and numbers every request
 * assembles: an upload made some thirty snprintf calls, and parsing their formats cost
 * about 3 us of its 30 us of user CPU. Pieces are joined into a fixed buffer; what does
 * not fit is reported, never written past the end. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define STRJOIN_I64_MAX 21 /* "-9223372036854775808" and its NUL */

/* Joins the strings up to the NULL the macro adds into out (cap bytes, NUL included).
 * Returns the length written, or -1 when it does not fit: out then holds as much as fits
 * (a NUL-terminated prefix, as snprintf leaves), nothing at all when cap is 0. */
int strjoin_(char *out, size_t cap, ...) __attribute__((sentinel));
#define strjoin(out, cap, ...) strjoin_((out), (cap), __VA_ARGS__, (const char *)NULL)

/* v in decimal into out, NUL-terminated; its length. */
size_t strjoin_i64(char out[STRJOIN_I64_MAX], int64_t v);

#define STRJOIN_IPV4_MAX 16 /* "255.255.255.255" and its NUL */

/* The IPv4 address a (network order) in dotted decimal, as inet_ntop writes it; its length.
 * Every request names its client, and glibc's inet_ntop formats with sprintf. */
size_t strjoin_ipv4(char out[STRJOIN_IPV4_MAX], const unsigned char a[4]);
