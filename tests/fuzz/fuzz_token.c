/* Fuzz target for download tokens and TOTP inputs. The input is split on newlines into a
 * token, a timestamp, a base32 secret and a code; nothing may crash, a token accepted must
 * be exactly the one token_make gives, and base32 decoding stays within its buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "token.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *field(char **p)
{
    char *s = *p;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[1024];
    if (size >= sizeof buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf;
    const char *tok = field(&p), *ts = field(&p), *secret = field(&p), *code = field(&p);
    const char *md5 = "0123456789abcdef0123456789abcdef";
    const char *why = NULL;
    time_t now = 1700000000;
    for (int keyed = 0; keyed < 2; keyed++) {
        const char *key = keyed ? "k" : "";
        if (token_check(key, md5, tok, ts, 600, now, &why) == 0) {
            char want[TOKEN_HEX + 1];
            token_make(key, md5, ts, want);
            CHECK(strlen(tok) == TOKEN_HEX);
            for (size_t i = 0; i < TOKEN_HEX; i++) {
                char c = tok[i] >= 'A' && tok[i] <= 'F' ? (char)(tok[i] + 32) : tok[i];
                CHECK(c == want[i]);
            }
        } else {
            CHECK(why != NULL);
        }
    }
    unsigned char out[8];
    int n = token_base32_decode(secret, out, sizeof out);
    CHECK(n <= (int)sizeof out);
    char c6[7];
    if (token_totp(secret, now, c6) == 0)
        CHECK(strlen(c6) == 6 && token_totp_verify(secret, c6, now, 0));
    (void)token_totp_verify(secret, code, now, 1);
    return 0;
}
