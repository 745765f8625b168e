/* The neutral request and reply every handler sees. http_server.c fills a struct http_req
 * from libmicrohttpd and turns a struct http_reply into a response, so handlers and the
 * router can be tested without sockets and never include <microhttpd.h>. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum http_method {
    HTTP_GET = 1u << 0,
    HTTP_HEAD = 1u << 1,
    HTTP_POST = 1u << 2,
    HTTP_PUT = 1u << 3,
    HTTP_DELETE = 1u << 4,
    HTTP_OPTIONS = 1u << 5,
    HTTP_PATCH = 1u << 6,
    HTTP_OTHER = 1u << 7,
};

#define HTTP_ARGS_MAX 64
#define HTTP_REPLY_HEADERS_MAX 16
#define HTTP_ERRMSG_MAX 256

struct http_kv {
    const char *key;   /* decoded; owned by the request for req->args */
    const char *value;
};

struct server;
struct route;

struct http_req {
    enum http_method method;
    const char *method_str;
    const char *url;       /* raw path as sent, not percent-decoded, without the query */
    char client_ip[64];
    struct http_kv args[HTTP_ARGS_MAX]; /* query string, then form body fields */
    size_t nargs;
    bool has_body;
    uint64_t content_length; /* valid when has_length */
    bool has_length;
    const struct route *route;
    const char *route_rest; /* for prefix routes: what follows the matched prefix (raw) */
    void *state;            /* a streaming handler's per-request state */
    char errmsg[HTTP_ERRMSG_MAX]; /* optional detail for an error reply */
    bool peer_signed;       /* carries a valid cluster signature (auth.c) */
    char peer_from[256];    /* the signing node's host URL (X-Fs-Peer), when peer_signed */
    int resumed;            /* how many times the request was resumed after a suspend */
    char redirect[1024];    /* Location for an ERR_REDIRECT answer */
    void *conn_;            /* private to http_server.c */
};

enum http_body_kind { HTTP_BODY_NONE = 0, HTTP_BODY_BUF, HTTP_BODY_FD };

struct http_reply {
    int status;
    struct {
        char name[48];
        char *value; /* owned */
    } hdr[HTTP_REPLY_HEADERS_MAX];
    size_t nhdr;
    enum http_body_kind kind;
    char *buf; /* owned, malloc'd, when kind == HTTP_BODY_BUF */
    size_t buflen;
    int fd;    /* owned (closed by the server) when kind == HTTP_BODY_FD */
    uint64_t fd_off, fd_len;
};

/* Header lookup (case-insensitive); NULL when absent. Borrowed until the request ends. */
const char *http_req_header(const struct http_req *req, const char *name);
/* Argument lookup: the first query or form value named `name`; NULL when absent. */
const char *http_req_arg(const struct http_req *req, const char *name);
/* Adds a decoded argument (copies both). Fails -EMSGSIZE past HTTP_ARGS_MAX. */
int http_req_add_arg(struct http_req *req, const char *key, size_t klen, const char *val,
                     size_t vlen);
/* Parses an application/x-www-form-urlencoded string into arguments. */
int http_req_parse_urlencoded(struct http_req *req, const char *s, size_t n);
void http_req_free_args(struct http_req *req);
/* Parks the request: the handler then returns ERR_SUSPENDED and, later, any thread calls
 * http_req_resume, after which the handler runs again (req->resumed counts how often).
 * Must be called from within the handler, before handing req to another thread. */
void http_req_suspend(struct http_req *req);
void http_req_resume(struct http_req *req);
