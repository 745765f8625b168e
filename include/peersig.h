/* Signatures on calls between nodes: HMAC-SHA256 under the cluster secret over the method,
 * the raw URL path, the decoded query arguments in order, the body's SHA-256 and the time.
 * Pure functions, shared by the client (peer.c) and the server's access check (auth.c). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "http.h"

#define PEERSIG_WINDOW_S 60 /* a signature is accepted this long either side of now */
#define PEERSIG_HDR_TIME "X-Fs-Time"
#define PEERSIG_HDR_SIGN "X-Fs-Sign"
#define PEERSIG_HDR_BODY "X-Fs-Body-Sha256"
#define PEERSIG_HDR_PEER "X-Fs-Peer"

/* Canonical text: METHOD "\n" PATH "\n" (KEY "=" VALUE "\n")* BODYSHA "\n" TIME, where keys
 * and values are the decoded arguments, and every field (method, path, keys, values, body
 * digest) has "%", "\n" and "=" escaped as %25 / %0A / %3D, so no two requests share a
 * text. The signature is the lower-hex HMAC-SHA256 of it. Returns 0, or -EMSGSIZE when the canonical
 * text would exceed 64 KiB. */
int peersig_sign(const char *secret, const char *method, const char *path,
                 const struct http_kv *args, size_t nargs, const char *body_sha256,
                 long long t, char out[65]);

/* Checks a presented signature: time within PEERSIG_WINDOW_S of now, 64 hex digits, and a
 * constant-time match. Returns 0 or ERR_FORBIDDEN (with a reason in why, if non-NULL). */
int peersig_verify(const char *secret, const char *method, const char *path,
                   const struct http_kv *args, size_t nargs, const char *body_sha256,
                   const char *time_hdr, const char *sign_hdr, long long now,
                   const char **why);
