/* Download tokens and Google Authenticator codes. A go-fastdfs token is md5(file md5 +
 * timestamp), which anyone who knows the file's digest can mint; when a token secret is
 * configured the token is an HMAC under it instead. TOTP is RFC 6238 (HMAC-SHA1, 30 s,
 * 6 digits) over a base32 secret, checked within a window of steps. Pure functions. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define TOKEN_HEX 32

/* The token for a file digest and a timestamp (decimal text): with a non-empty secret,
 * the first 32 hex digits of HMAC-SHA256(secret, md5 + timestamp); else md5(md5 + ts). */
void token_make(const char *secret, const char *file_md5, const char *timestamp,
                char out[TOKEN_HEX + 1]);
/* Checks token and timestamp for a file at time now: timestamp a decimal integer within
 * expire seconds of now (either side), token 32 hex digits matching (constant time).
 * Returns 0, or ERR_UNAUTH with the reason in *why (static text). */
int token_check(const char *secret, const char *file_md5, const char *token,
                const char *timestamp, long long expire, time_t now, const char **why);

/* Base32 (RFC 4648, case-insensitive, '=' padding and spaces ignored) to bytes; returns
 * the length or -EINVAL. */
int token_base32_decode(const char *in, unsigned char *out, size_t cap);
/* The 6-digit code of a base32 secret at time t. 0 or -EINVAL. */
int token_totp(const char *b32secret, time_t t, char out[7]);
/* True if code is the secret's code for a step within `window` steps of now. */
bool token_totp_verify(const char *b32secret, const char *code, time_t now, int window);
/* A new random 16-character base32 secret. 0 or -EIO. */
int token_totp_secret(char out[17]);
