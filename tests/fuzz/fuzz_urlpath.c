/* Fuzz target for the path a download URL names: percent-decoding then confinement. Whatever
 * the input, an accepted path has no "." or ".." segment, no backslash, no NUL or control
 * byte, no leading or trailing slash, and normalising it again changes nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "strparse.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char raw[4096], dec[4096], rel[PATH_MAX_REL + 1], again[PATH_MAX_REL + 1];
    size_t dl;
    if (size >= sizeof raw)
        return 0;
    memcpy(raw, data, size);
    raw[size] = '\0';
    if (strparse_pct_decode(raw, strlen(raw), false, dec, sizeof dec, &dl) < 0)
        return 0;
    CHECK(strlen(dec) == dl);
    if (path_normalize_rel(dec, true, rel, sizeof rel) < 0)
        return 0;
    size_t n = strlen(rel);
    CHECK(n <= PATH_MAX_REL);
    CHECK(n == 0 || (rel[0] != '/' && rel[n - 1] != '/'));
    CHECK(!strchr(rel, '\\'));
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)rel[i] >= 0x20 && rel[i] != 0x7f);
    /* no "." or ".." segment anywhere */
    const char *seg = rel;
    while (*seg) {
        const char *end = strchr(seg, '/');
        size_t l = end ? (size_t)(end - seg) : strlen(seg);
        CHECK(l > 0);
        CHECK(!(l == 1 && seg[0] == '.'));
        CHECK(!(l == 2 && seg[0] == '.' && seg[1] == '.'));
        seg = end ? end + 1 : seg + l;
    }
    CHECK(path_normalize_rel(rel, true, again, sizeof again) == 0);
    CHECK(strcmp(rel, again) == 0);
    return 0;
}
