/* Fuzz target for the peer signature check. Input: newline-separated fields: secret, method,
 * path, body sha256, X-Fs-Time value, X-Fs-Sign value, now (decimal; otherwise 1700000000),
 * then up to HTTP_ARGS_MAX lines "key=value" (split at the first '='; no '=' means an empty
 * value). Missing fields are empty. A verify that passes must be for a signature peersig_sign
 * agrees with, and a fresh signature of the same request must always verify. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "http.h"
#include "peersig.h"
#include "strparse.h"
#include "xalloc.h"

#include "fuzz_check.h"

#define NFIELDS 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private NUL-terminated copy that is cut in place at each newline */
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *field[NFIELDS];
    struct http_kv args[HTTP_ARGS_MAX];
    size_t nargs = 0, nf = 0;
    char *p = text, *end = text + strlen(text);
    while (p <= end) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (nf < NFIELDS) {
            field[nf++] = p;
        } else if (nargs < HTTP_ARGS_MAX) {
            char *eq = strchr(p, '=');
            if (eq)
                *eq = '\0';
            args[nargs].key = p;
            args[nargs].value = eq ? eq + 1 : p + strlen(p);
            nargs++;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    for (; nf < NFIELDS; nf++)
        field[nf] = end;
    const char *secret = field[0], *method = field[1], *path = field[2], *sha = field[3];
    const char *time_hdr = field[4], *sign_hdr = field[5];
    int64_t now = 1700000000;
    if (strparse_i64(field[6], strlen(field[6]), &now) < 0)
        now = 1700000000;

    const char *why = NULL;
    int rc = peersig_verify(secret, method, path, args, nargs, sha, time_hdr, sign_hdr, now,
                            &why);
    CHECK(rc == 0 || rc == ERR_FORBIDDEN);
    CHECK(rc == 0 || why != NULL);
    if (rc == 0) {
        int64_t t = 0;
        char again[65];
        CHECK(strparse_i64(time_hdr, strlen(time_hdr), &t) == 0);
        CHECK(peersig_sign(secret, method, path, args, nargs, sha, t, again) == 0);
        CHECK(strcmp(again, sign_hdr) == 0);
        CHECK(secret[0] != '\0');
    }

    char sig[65], tbuf[32];
    int src = peersig_sign(secret, method, path, args, nargs, sha, now, sig);
    CHECK(src == 0 || src == -EMSGSIZE);
    if (src == 0) {
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)now);
        rc = peersig_verify(secret, method, path, args, nargs, sha, tbuf, sig, now, NULL);
        CHECK(rc == (secret[0] ? 0 : ERR_FORBIDDEN));
    }
    free(text);
    return 0;
}
