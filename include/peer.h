/* The HTTP client for calls to other nodes (libcurl, included only by peer.c). Every call
 * is signed (peersig.h), has a connect timeout and a total or low-speed timeout, and
 * bounds what it reads. Thread-safe: one client is shared by all workers. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "http.h"

struct peer_client; /* opaque */

struct peer_resp {
    long status;  /* HTTP status */
    char *body;   /* malloc'd, NUL-terminated; caller frees (peer_resp_fini) */
    size_t len;
};

/* secret: the cluster secret; self: this node's host URL (sent as X-Fs-Peer). */
int peer_client_new(const char *secret, const char *self, struct peer_client **out);
void peer_client_free(struct peer_client *pc);
void peer_resp_fini(struct peer_resp *r);
/* Verify HTTPS peers against this CA bundle instead of the system store. */
void peer_client_set_ca(struct peer_client *pc, const char *ca_file);

/* An unsigned POST of an urlencoded form to a full URL with extra headers (for auth_url,
 * which is not a peer). Header names or values with line breaks are dropped. Same
 * timeouts and limits as peer_request. */
int peer_post_plain(struct peer_client *pc, const char *url, const struct http_kv *headers,
                    size_t nheaders, const struct http_kv *form, size_t nform, long timeout_ms,
                    size_t max_body, struct peer_resp *resp);

/* A signed request to base + path, with args appended as a query string (encoded here)
 * and an optional body (Content-Type application/x-www-form-urlencoded when body is given).
 * Waits at most timeout_ms in all; a body longer than max_body fails with -EMSGSIZE.
 * Returns 0 whatever the HTTP status (see resp->status), or a negative errno on transport
 * failure (-ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EIO). */
int peer_request(struct peer_client *pc, const char *method, const char *base,
                 const char *path, const struct http_kv *args, size_t nargs, const char *body,
                 size_t blen, long timeout_ms, size_t max_body, struct peer_resp *resp);

/* A signed GET of base + path (path already percent-encoded) streamed to sink. The call
 * fails with -ETIMEDOUT when fewer than 1 KiB/s arrive for stall_ms, so a large file may
 * take as long as it needs but a stalled peer is abandoned. A non-2xx status is returned in
 * *status with nothing passed to sink. sink returning < 0 aborts with that code. */
typedef int (*peer_sink_fn)(void *ctx, const char *data, size_t len);
int peer_fetch(struct peer_client *pc, const char *base, const char *path, long connect_ms,
               long stall_ms, peer_sink_fn sink, void *ctx, long *status);

/* Sends a plain-text mail through an SMTP server (smtp:// or smtps:// URL; STARTTLS is tried
 * when a user is given). rcpts is a list separated by ',' or ';'. Header injection is
 * refused (-EINVAL). 0 or a negative errno. */
int peer_send_mail(struct peer_client *pc, const char *smtp_url, const char *user,
                   const char *password, const char *from, const char *rcpts,
                   const char *subject, const char *body, long timeout_ms);
