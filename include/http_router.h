/* Matches a request against a route table it is given; knows nothing about handlers'
 * behaviour. Exact routes win over prefix routes; among prefixes the longest wins. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "http.h"

enum route_access {
    ACCESS_PUBLIC = 0,
    ACCESS_ADMIN,  /* admin_ips or the X-Admin-Key header */
    ACCESS_PEER,   /* cluster members (cluster secret); admins too */
};

enum route_body {
    BODY_NONE = 0, /* a body is read and ignored up to a small bound */
    BODY_FORM,     /* urlencoded or multipart fields become args (bounded) */
    BODY_STREAM,   /* chunks go to the route's stream callbacks */
};

enum route_flags {
    ROUTE_GROUP = 1u << 0,  /* path is below /<group> when group management is on */
    ROUTE_PREFIX = 1u << 1, /* path is a prefix; the rest goes to req->route_rest */
};

typedef int (*route_handler_fn)(struct http_req *req, struct http_reply *rep,
                                struct server *srv);

struct route_stream {
    /* After headers, before any body; an error is replied at once. */
    int (*begin)(struct http_req *req, struct server *srv);
    /* Each body chunk; an error is remembered, the rest of the body is discarded and the
     * error is replied at the end. */
    int (*data)(struct http_req *req, const char *p, size_t n);
    /* Always called once the request is over (success, error or aborted connection). */
    void (*cleanup)(struct http_req *req);
};

struct route {
    const char *path;
    unsigned flags;
    unsigned methods; /* bitmask of enum http_method */
    enum route_access access;
    enum route_body body;
    route_handler_fn handler;
    const struct route_stream *stream; /* BODY_STREAM only */
    /* methods for which the body is streamed (others get BODY_FORM) */
    unsigned stream_methods;
    const char *doc; /* one line, for docs/API.md checks */
};

struct http_router {
    const struct route *routes;
    size_t nroutes;
    char group_prefix[300]; /* "/group1" or "" (a group name is at most 255 bytes) */
    size_t group_len;
};

void http_router_init(struct http_router *r, const struct route *routes, size_t n,
                      const char *group, bool group_manage);
/* Finds the route for a raw URL path. Returns 0 and *out (and *rest for prefix routes),
 * ERR_NOTFOUND when no path matches, ERR_METHOD when the path matches but not the method
 * (then *out is the matched route, for the Allow header). */
int http_router_match(const struct http_router *r, enum http_method m, const char *url,
                      const struct route **out, const char **rest);
/* "GET, HEAD, POST" for a method mask into out. */
void http_router_allow(unsigned methods, char *out, size_t outcap);
