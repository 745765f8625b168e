/* libmicrohttpd glue, and the only file that includes <microhttpd.h>. Each request becomes a
 * struct conn holding the neutral http_req/http_reply; the router and access check run on
 * the first call, bodies stream to the route, and the reply is queued on the last call
 * (queuing on the first call would make MHD 0.9.75 close every keep-alive connection). */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "errcode.h"
#include "http.h"
#include "http_reply.h"
#include "http_router.h"
#include "log.h"
#include "multipart.h"
#include "server.h"
#include "strjoin.h"
#include "strparse.h"
#include "tlslib.h"
#include "xalloc.h"

#define SMALL_BODY_MAX (64 * 1024)  /* forms and ignored bodies */
#define HEADERS_MAX (16 * 1024)     /* all request header bytes we accept */
#define FORM_FIELD_MAX (8 * 1024)
/* Each connection's libmicrohttpd pool: the request line and headers (HEADERS_MAX, with a
 * URL of the longest path we accept, percent-encoded, and a full query beside them), then
 * the read buffer. Above 32 KiB libmicrohttpd maps it, so that a closed connection gives
 * its pages back; below, it comes from the heap and stays. It zeroes the whole pool after
 * every request, so all of it is resident: 64 KiB cost 1.75 MiB more at 64 connections. */
#define CONN_POOL (36 * 1024)

struct http_server {
    struct MHD_Daemon *d;
    struct server *srv;
    atomic_int inflight;
    atomic_bool closing; /* draining for a stop: new requests get 503, connections close */
    int port;
};

struct conn {
    struct http_req req;
    struct http_reply rep;
    struct http_server *hs;
    struct MHD_Connection *mc;
    int rc;           /* first error; the rest of the body is discarded */
    bool streaming;   /* body goes to the route's stream callbacks */
    bool queued;
    bool suspended;   /* parked by the handler; the next call is the resume */
    bool preflight;   /* a CORS preflight, answered without running any route */
    struct buf body;  /* bounded small body for BODY_FORM / BODY_NONE */
    struct timespec t0;
    uint64_t received; /* body bytes handed to us so far */
    int status;
    /* multipart small-form state */
    char field[256];
    struct buf fval;
};

const char *http_req_header(const struct http_req *req, const char *name)
{
    const struct conn *c = req->conn_;
    if (!c || !c->mc)
        return NULL;
    return MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND, name);
}

void http_req_suspend(struct http_req *req)
{
    struct conn *c = req->conn_;
    c->suspended = true;
    MHD_suspend_connection(c->mc);
}

void http_req_resume(struct http_req *req)
{
    struct conn *c = req->conn_;
    MHD_resume_connection(c->mc);
}

static enum http_method parse_method(const char *m)
{
    static const struct { const char *s; enum http_method m; } tab[] = {
        {"GET", HTTP_GET}, {"HEAD", HTTP_HEAD}, {"POST", HTTP_POST}, {"PUT", HTTP_PUT},
        {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS}, {"PATCH", HTTP_PATCH},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(m, tab[i].s) == 0)
            return tab[i].m;
    return HTTP_OTHER;
}

/* MHD would percent-decode the URL itself; we keep it raw so traversal checks see what the
 * client sent, and decode arguments ourselves with a NUL check. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

struct hdr_sum {
    size_t total;
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct hdr_sum *h = cls;
    h->total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct conn *c = cls;
    char k[256];
    size_t kl, vl = 0;
    if (c->rc)
        return MHD_NO;
    if (strparse_pct_decode(key, strlen(key), false, k, sizeof k, &kl) < 0) {
        c->rc = ERR_PARAM;
        snprintf(c->req.errmsg, sizeof c->req.errmsg, "bad query parameter name");
        return MHD_NO;
    }
    const char *v = value ? value : "";
    char *dv = xmalloc(strlen(v) + 1);
    if (strparse_pct_decode(v, strlen(v), false, dv, strlen(v) + 1, &vl) < 0) {
        free(dv);
        c->rc = ERR_PARAM;
        snprintf(c->req.errmsg, sizeof c->req.errmsg, "bad value for query parameter '%.200s'", k);
        return MHD_NO;
    }
    if (http_req_add_arg(&c->req, k, kl, dv, vl) < 0) {
        c->rc = ERR_PARAM;
        snprintf(c->req.errmsg, sizeof c->req.errmsg, "too many parameters");
    }
    free(dv);
    return c->rc ? MHD_NO : MHD_YES;
}

static void fill_client_ip(struct conn *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    c->req.client_ip[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        strjoin_ipv4(c->req.client_ip, (const unsigned char *)&in->sin_addr);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->req.client_ip, sizeof c->req.client_ip);
    }
}

static void conn_begin(struct conn *c, const char *url, const char *method)
{
    struct server *srv = c->hs->srv;
    struct http_req *req = &c->req;
    req->conn_ = c;
    req->method_str = method;
    req->method = parse_method(method);
    req->url = url;
    fill_client_ip(c);

    const char *cl = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(c->mc, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl) {
        uint64_t n;
        if (strparse_u64(cl, strlen(cl), UINT64_MAX >> 2, &n) == 0) {
            req->content_length = n;
            req->has_length = true;
            req->has_body = n > 0;
        }
    }
    if (te)
        req->has_body = true;

    struct hdr_sum hsum = {0};
    MHD_get_connection_values(c->mc, MHD_HEADER_KIND, sum_header, &hsum);
    if (hsum.total > HEADERS_MAX) {
        c->rc = ERR_HDRTOOBIG;
        return;
    }
    MHD_get_connection_values(c->mc, MHD_GET_ARGUMENT_KIND, collect_arg, c);
    if (c->rc)
        return;
    if (req->method == HTTP_OPTIONS && srv->cfg.enable_cross_origin &&
        http_req_header(req, "Access-Control-Request-Method")) {
        c->preflight = true; /* answered in conn_finish without any route */
        return;
    }

    const struct route *rt = NULL;
    const char *rest = NULL;
    int rc = http_router_match(&srv->router, req->method, url, &rt, &rest);
    if (rc == ERR_METHOD) {
        char allow[96];
        http_router_allow(rt->methods, allow, sizeof allow);
        http_reply_header(&c->rep, "Allow", allow);
    }
    if (rc) {
        c->rc = rc;
        return;
    }
    req->route = rt;
    req->route_rest = rest;
    rc = auth_check(srv, req, rt->access);
    if (rc) {
        c->rc = rc;
        return;
    }
    if (rt->body == BODY_STREAM && (rt->stream_methods & req->method)) {
        c->streaming = true;
        if (rt->stream && rt->stream->begin)
            c->rc = rt->stream->begin(req, srv);
    }
}

/* Small multipart forms (for admin calls posted the way go-fastdfs clients do). */
static int form_part_begin(void *ctx, const struct multipart_part *p)
{
    struct conn *c = ctx;
    snprintf(c->field, sizeof c->field, "%s", p->name);
    buf_reset(&c->fval);
    return 0;
}

static int form_part_data(void *ctx, const char *d, size_t n)
{
    struct conn *c = ctx;
    return buf_append(&c->fval, d, n) < 0 ? ERR_TOOBIG : 0;
}

static int form_part_end(void *ctx)
{
    struct conn *c = ctx;
    return http_req_add_arg(&c->req, c->field, strlen(c->field),
                            c->fval.data ? c->fval.data : "", c->fval.len);
}

static int parse_form_body(struct conn *c)
{
    const char *ct = http_req_header(&c->req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct || c->body.len == 0)
        return 0;
    if (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
        return http_req_parse_urlencoded(&c->req, c->body.data, c->body.len);
    if (strncasecmp(ct, "multipart/form-data", 19) == 0) {
        char boundary[MULTIPART_BOUNDARY_MAX + 1];
        int rc = multipart_boundary(ct, boundary, sizeof boundary);
        if (rc)
            return rc;
        static const struct multipart_callbacks cb = {form_part_begin, form_part_data,
                                                      form_part_end};
        buf_init(&c->fval, FORM_FIELD_MAX);
        struct multipart *mp = multipart_new(boundary, &cb, c);
        rc = multipart_feed(mp, c->body.data, c->body.len);
        if (rc == 0)
            rc = multipart_finish(mp);
        multipart_free(mp);
        buf_fini(&c->fval);
        return rc;
    }
    return 0;
}

static void conn_finish(struct conn *c)
{
    struct server *srv = c->hs->srv;
    if (c->preflight) {
        c->rep.status = 204;
        return;
    }
    if (c->rc == 0 && c->req.peer_signed && !c->streaming && !c->req.resumed)
        c->rc = auth_check_body(&c->req, c->body.data ? c->body.data : "", c->body.len);
    if (c->rc == 0 && !c->streaming && !c->req.resumed && c->req.route &&
        c->req.route->body == BODY_FORM)
        c->rc = parse_form_body(c);
    if (c->rc == 0) {
        int rc = c->req.route->handler(&c->req, &c->rep, srv);
        if (rc == ERR_SUSPENDED)
            return; /* parked: the handler runs again once resumed */
        if (rc < 0)
            c->rc = rc;
    }
    if (c->rc < 0) {
        /* drop what a failed handler half-built, but keep the headers that belong to an
         * error answer (Allow for 405, Content-Range for 416) */
        static const char *keep_names[] = {"Allow", "Content-Range"};
        char keep[2][96] = {"", ""};
        for (size_t i = 0; i < 2; i++) {
            const char *v = http_reply_get_header(&c->rep, keep_names[i]);
            if (v)
                snprintf(keep[i], sizeof keep[i], "%s", v);
        }
        http_reply_fini(&c->rep);
        http_reply_init(&c->rep);
        for (size_t i = 0; i < 2; i++)
            if (keep[i][0])
                http_reply_header(&c->rep, keep_names[i], keep[i]);
        if (c->rc == ERR_REDIRECT && c->req.redirect[0])
            http_reply_header(&c->rep, "Location", c->req.redirect);
        else
            atomic_fetch_add(&srv->errors, 1);
        http_reply_error(&c->rep, c->rc, c->req.errmsg);
    }
}

#define CORS_ALLOW_HEADERS                                                                  \
    "Authorization, Content-Type, Auth-Token, X-Admin-Key, X-Requested-With, Tus-Resumable, " \
    "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Checksum, Upload-Concat, "         \
    "Upload-Defer-Length, X-HTTP-Method-Override, Range, If-None-Match, If-Modified-Since"
#define CORS_EXPOSE_HEADERS                                                                 \
    "Location, Upload-Offset, Upload-Length, Upload-Expires, Tus-Resumable, Tus-Version, "   \
    "Tus-Extension, Tus-Max-Size, X-Fileserver-Url, X-Fileserver-Record, Upload-Metadata, "  \
    "Upload-Defer-Length, Upload-Concat, Content-Range, Content-Disposition, ETag"

/* CORS per enable_cross_origin and cors_origins: any origin without credentials when the
 * list is empty, else only listed origins, echoed, with credentials. */
static void add_cors(struct conn *c, struct MHD_Response *resp)
{
    const struct cfg *cfg = &c->hs->srv->cfg;
    const char *origin = http_req_header(&c->req, "Origin");
    if (!cfg->enable_cross_origin || !origin)
        return;
    if (cfg->cors_origins.n == 0) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    } else {
        bool ok = false;
        for (size_t i = 0; i < cfg->cors_origins.n && !ok; i++)
            ok = strcmp(cfg->cors_origins.v[i], origin) == 0;
        if (!ok)
            return;
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    if (c->preflight) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                                "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
}

static enum MHD_Result queue_reply(struct conn *c)
{
    struct http_reply *r = &c->rep;
    struct MHD_Response *resp = NULL;
    switch (r->kind) {
    case HTTP_BODY_BUF:
        resp = MHD_create_response_from_buffer(r->buflen, r->buf, MHD_RESPMEM_MUST_FREE);
        if (resp)
            r->buf = NULL;
        break;
    case HTTP_BODY_FD:
        resp = MHD_create_response_from_fd_at_offset64(r->fd_len, r->fd, r->fd_off);
        if (resp)
            r->fd = -1;
        break;
    case HTTP_BODY_NONE:
    default:
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "",
                                               MHD_RESPMEM_PERSISTENT);
        break;
    }
    if (!resp)
        return MHD_NO;
    for (size_t i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr[i].name, r->hdr[i].value);
    add_cors(c, resp);
    if (atomic_load(&c->hs->closing)) /* clients move on instead of reusing the connection */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    c->status = r->status ? r->status : 200;
    enum MHD_Result ok = MHD_queue_response(c->mc, (unsigned)c->status, resp);
    MHD_destroy_response(resp);
    c->queued = true;
    return ok;
}

/* With epoll (edge-triggered), MHD 0.9.75 misses an end of stream that arrived together
 * with a body's last bytes: it takes a short read for an empty socket and waits for an
 * event that never comes, holding the request (and its temp file) until read_timeout. So
 * after each piece of a body, a peek tells whether the client has already closed its side.
 * A body of known length that is not complete then can never be: true, and the request is
 * aborted. A chunked body's terminator may still sit in MHD's buffer (a client may close
 * its side after sending it), so that connection only gets a short idle timeout: a
 * complete request still goes through, a cut one is dropped within seconds. (Over TLS the
 * rest of a body may sit decrypted in GnuTLS while the socket has ended; the client has
 * then closed for good, as TLS clients do not half-close, and cannot read a reply.) */
#define HALF_CLOSED_TIMEOUT_S 2

static bool body_cut_short(struct conn *c)
{
    if (c->req.has_length && c->received >= c->req.content_length)
        return false;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    char b;
    if (!ci || recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
        return false;
    if (c->req.has_length)
        return true;
    MHD_set_connection_option(c->mc, MHD_CONNECTION_OPTION_TIMEOUT, HALF_CLOSED_TIMEOUT_S);
    return false;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)version;
    struct http_server *hs = cls;
    struct conn *c = *con_cls;
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->hs = hs;
        c->mc = mc;
        http_reply_init(&c->rep);
        buf_init(&c->body, SMALL_BODY_MAX);
        clock_gettime(CLOCK_MONOTONIC, &c->t0);
        *con_cls = c;
        atomic_fetch_add(&hs->inflight, 1);
        conn_begin(c, url, method);
        if (!c->rc && atomic_load(&hs->closing)) {
            c->rc = ERR_UNAVAIL;
            c->preflight = false;
            snprintf(c->req.errmsg, sizeof c->req.errmsg, "the server is stopping");
        }
        if (c->rc && c->req.has_body) {
            /* refuse before reading a body we do not want; MHD closes the connection */
            conn_finish(c);
            return queue_reply(c);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        c->received += n;
        if (body_cut_short(c))
            return MHD_NO; /* MHD closes the connection and reports the request aborted */
        if (c->rc || c->queued)
            return MHD_YES;
        if (c->streaming) {
            int rc = c->req.route->stream->data(&c->req, upload_data, n);
            if (rc < 0)
                c->rc = rc;
        } else if (buf_append(&c->body, upload_data, n) < 0) {
            c->rc = ERR_TOOBIG;
        }
        return MHD_YES;
    }
    if (c->queued)
        return MHD_YES;
    if (c->suspended) {
        c->suspended = false;
        c->req.resumed++;
    }
    conn_finish(c);
    if (c->suspended)
        return MHD_YES;
    return queue_reply(c);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)mc;
    struct http_server *hs = cls;
    struct conn *c = *con_cls;
    if (!c)
        return;
    *con_cls = NULL;
    if (c->req.route && c->req.route->stream && c->req.route->stream->cleanup && c->streaming)
        c->req.route->stream->cleanup(&c->req);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (t1.tv_sec - c->t0.tv_sec) * 1000000L + (t1.tv_nsec - c->t0.tv_nsec) / 1000;
    struct server *srv = hs->srv;
    int klass = c->queued ? c->status / 100 : 0;
    atomic_fetch_add(&srv->req_by_class[klass >= 0 && klass < 6 ? klass : 0], 1);
    int b = 0;
    while (b < SERVER_LAT_BUCKETS && us > server_lat_bounds_us[b])
        b++;
    atomic_fetch_add(&srv->lat_bucket[b], 1);
    atomic_fetch_add(&srv->lat_sum_us, us);
    if (log_min_level <= LOG_INFO) {
        log_info("access", "%s %s %s %d %ldus%s", c->req.client_ip, c->req.method_str,
                 c->req.url, c->queued ? c->status : 0, us,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    }
    http_req_free_args(&c->req);
    http_reply_fini(&c->rep);
    buf_fini(&c->body);
    free(c);
    atomic_fetch_sub(&hs->inflight, 1);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt,
                                                         va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_warn("mhd", "%s", line);
}

/* ":8080", "1.2.3.4:8080", "[::1]:8080" into a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *v6)
{
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -EINVAL;
    uint64_t port;
    if (strparse_u64(colon + 1, strlen(colon + 1), 65535, &port) < 0)
        return -EINVAL;
    char host[64];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 2 || host[l - 1] != ']')
            return -EINVAL;
        host[l - 1] = '\0';
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            return -EINVAL;
        *v6 = true;
        return 0;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
        in->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
        return -EINVAL;
    *v6 = false;
    return 0;
}

/* A PEM file, NUL-terminated, at most 1 MiB; NULL on any failure. */
static char *read_small(const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (!f)
        return NULL;
    char *b = xmalloc(1024 * 1024 + 1);
    size_t n = fread(b, 1, 1024 * 1024 + 1, f);
    fclose(f);
    if (n == 0 || n > 1024 * 1024) {
        free(b);
        return NULL;
    }
    b[n] = '\0';
    return b;
}

int http_server_start(struct server *srv, struct http_server **out)
{
    struct sockaddr_storage ss;
    bool v6 = false;
    if (parse_addr(srv->cfg.addr, &ss, &v6) < 0) {
        log_error("http", "addr: cannot parse '%s'", srv->cfg.addr);
        return ERR_CONFIG;
    }
    struct http_server *hs = xcalloc(1, sizeof *hs);
    hs->srv = srv;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = srv->cfg.http_threads > 0 ? (unsigned)srv->cfg.http_threads
                                                 : (unsigned)(ncpu > 0 ? ncpu : 2);
    if (threads > 64)
        threads = 64;
    /* keep connections well below the descriptor limit: each may hold a file open too */
    struct rlimit rl;
    unsigned conn_limit = 1000;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 3 < conn_limit)
        conn_limit = (unsigned)(rl.rlim_cur / 3);
    unsigned timeout = (unsigned)srv->cfg.read_timeout; /* 0: none, as documented */
    /* epoll: a poll of every connection after each 128 KiB sendfile cost a large download
     * twice nginx's CPU at 64 connections (see body_cut_short for what epoll costs) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* TLS (go-fastdfs's conf/server.crt and conf/server.key) is added through an option
     * array so the plain and TLS daemons share one call */
    char *cert = NULL, *key = NULL;
    struct MHD_OptionItem tls[4];
    size_t nt = 0;
    if (srv->cfg.enable_https) {
        char p[1300];
        snprintf(p, sizeof p, "%s/conf/server.crt", srv->root);
        cert = read_small(p);
        snprintf(p, sizeof p, "%s/conf/server.key", srv->root);
        key = read_small(p);
        const char *why = NULL;
        if (!cert || !key)
            why = "cannot read conf/server.crt and conf/server.key";
        else if (tlslib_load() < 0)
            why = "GnuTLS (libgnutls30) cannot be loaded";
        if (why) {
            log_error("http", "enable_https: %s", why);
            free(cert);
            free(key);
            free(hs);
            return ERR_CONFIG;
        }
        flags |= MHD_USE_TLS;
        tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        tls[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
    }
    tls[nt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    unsigned per_ip = srv->cfg.max_connections_per_ip > 0
                          ? (unsigned)srv->cfg.max_connections_per_ip : 0;
    hs->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, hs,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, hs,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    /* MHD copies the key material when it sets TLS up */
    free(cert);
    free(key);
    if (!hs->d) {
        log_error("http", "cannot listen on %s", srv->cfg.addr);
        free(hs);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(hs->d, MHD_DAEMON_INFO_BIND_PORT);
    hs->port = di ? di->port : 0;
    log_info("http", "listening on %s (port %d, %u threads)", srv->cfg.addr, hs->port, threads);
    *out = hs;
    return 0;
}

void http_server_quiesce(struct http_server *hs)
{
    if (!hs || !hs->d)
        return;
    /* Not MHD_quiesce_daemon: with epoll worker threads (libmicrohttpd 0.9.75) it races a
     * worker removing the listening socket from its epoll set, and the loser's epoll_ctl
     * ENOENT aborts the process ("Failed to remove listen FD from epoll set", seen once in
     * the test suite). New requests are answered 503 until MHD_stop_daemon instead. */
    atomic_store(&hs->closing, true);
}

int http_server_inflight(struct http_server *hs)
{
    return hs ? atomic_load(&hs->inflight) : 0;
}

int http_server_port(struct http_server *hs)
{
    return hs ? hs->port : 0;
}

void http_server_stop(struct http_server *hs)
{
    if (!hs)
        return;
    if (hs->d)
        MHD_stop_daemon(hs->d);
    free(hs);
}
