/* The client for calls to other nodes, and the only file that knows libcurl. Each call runs
 * on an easy handle taken from a small idle pool: a handle keeps its live connections across
 * curl_easy_reset, so keep-alive is reused, while no two threads ever touch one handle (the
 * libcurl 7.88 we build against does not support sharing a connection cache between
 * concurrent threads). Only the DNS cache is shared, through a locked CURLSH. */
#include "peer.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "digest.h"
#include "dynlib.h"
#include "log.h"
#include "peersig.h"
#include "strparse.h"
#include "xalloc.h"

#define PEER_POOL_MAX 16          /* idle easy handles kept for reuse */
#define PEER_URL_MAX (64 * 1024)  /* a URL with its query string */
#define PEER_CONNECT_MAX_MS 5000L /* peer_request's connect timeout never exceeds this */
#define PEER_DISCARD_MAX (64 * 1024) /* an error body peer_fetch reads before hanging up */
#define PEER_LOW_SPEED 1024L      /* bytes per second below which peer_fetch counts a stall */
#define PEER_METHOD_MAX 16

struct peer_client {
    char *secret;
    char *self;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    CURL *idle[PEER_POOL_MAX];
    size_t nidle;
    char *ca_file; /* NULL: the system's CA store */
};

/* libcurl is opened with dlopen on the first call, not linked: it and what it links (libssl,
 * libcrypto, Kerberos, LDAP, ...) are about 3 MiB of mapped code that a node without peers,
 * auth_url or alarms never needs. Only the functions below are used; the header still gives
 * the types and constants. */
#define PEER_LIBCURL "libcurl.so.4"

#define PEER_CURL_FUNCS(X)                                                                 \
    X(global_init) X(easy_init) X(easy_setopt) X(easy_perform) X(easy_getinfo)             \
    X(easy_reset) X(easy_cleanup) X(easy_strerror) X(share_init) X(share_setopt)           \
    X(share_cleanup) X(slist_append) X(slist_free_all)

/* Each pointer takes its type from the header's declaration (naming a function without
 * calling it references no symbol, so nothing is linked). */
#define PEER_CURL_FIELD(f) __typeof__(&curl_##f) f;
static struct {
    PEER_CURL_FUNCS(PEER_CURL_FIELD)
} lc;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static bool global_ok;

#define PEER_CURL_SYM(f) {"curl_" #f, &lc.f, sizeof(lc.f)},

static void global_init(void)
{
    const struct dynlib_sym syms[] = {PEER_CURL_FUNCS(PEER_CURL_SYM)};
    if (!dynlib_load(PEER_LIBCURL, "peer", syms, sizeof syms / sizeof syms[0]))
        return;
    CURLcode c = lc.global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK) {
        log_error("peer", "curl_global_init: %s", lc.easy_strerror(c));
        return; /* the library stays open: it may hold state from the attempt */
    }
    global_ok = true;
}

/* Loads and sets up libcurl once per process; false (logged once) when it cannot. */
static bool lib_ready(void)
{
    pthread_once(&global_once, global_init);
    return global_ok;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    struct peer_client *pc = ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&pc->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    struct peer_client *pc = ud;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&pc->share_locks[data]);
}

int peer_client_new(const char *secret, const char *self, struct peer_client **out)
{
    if (!out)
        return -EINVAL;
    struct peer_client *pc = xcalloc(1, sizeof(*pc));
    pc->secret = xstrdup(secret ? secret : "");
    pc->self = xstrdup(self ? self : "");
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&pc->share_locks[i], NULL);
    pthread_mutex_init(&pc->pool_lock, NULL);
    *out = pc;
    return 0;
}

/* The shared DNS cache is set up on the first call, with libcurl itself. Called with
 * pool_lock held. */
static bool client_ready(struct peer_client *pc)
{
    if (pc->share)
        return true;
    if (!lib_ready())
        return false;
    CURLSH *sh = lc.share_init();
    if (!sh || lc.share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock) ||
        lc.share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
        lc.share_setopt(sh, CURLSHOPT_USERDATA, pc) ||
        lc.share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS)) {
        log_error("peer", "cannot set up the shared DNS cache");
        if (sh)
            lc.share_cleanup(sh);
        return false;
    }
    pc->share = sh;
    return true;
}

void peer_client_free(struct peer_client *pc)
{
    if (!pc)
        return;
    /* the handles detach from the share first, or curl_share_cleanup refuses */
    for (size_t i = 0; i < pc->nidle; i++)
        lc.easy_cleanup(pc->idle[i]);
    if (pc->share)
        lc.share_cleanup(pc->share);
    pthread_mutex_destroy(&pc->pool_lock);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&pc->share_locks[i]);
    free(pc->secret);
    free(pc->self);
    free(pc->ca_file);
    free(pc);
}

void peer_client_set_ca(struct peer_client *pc, const char *ca_file)
{
    free(pc->ca_file);
    pc->ca_file = ca_file && *ca_file ? xstrdup(ca_file) : NULL;
}

void peer_resp_fini(struct peer_resp *r)
{
    if (!r)
        return;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static CURL *handle_get(struct peer_client *pc)
{
    CURL *h = NULL;
    pthread_mutex_lock(&pc->pool_lock);
    bool ready = client_ready(pc);
    if (ready && pc->nidle > 0)
        h = pc->idle[--pc->nidle];
    pthread_mutex_unlock(&pc->pool_lock);
    if (!ready)
        return NULL;
    return h ? h : lc.easy_init();
}

static void handle_put(struct peer_client *pc, CURL *h)
{
    /* drops every pointer into the finished call's stack; live connections stay */
    lc.easy_reset(h);
    pthread_mutex_lock(&pc->pool_lock);
    if (pc->nidle < PEER_POOL_MAX) {
        pc->idle[pc->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pc->pool_lock);
    if (h)
        lc.easy_cleanup(h);
}

static struct curl_slist *hdr_add(struct curl_slist *l, const char *line)
{
    struct curl_slist *n = lc.slist_append(l, line);
    if (!n)
        log_fatal("peer", "out of memory");
    return n;
}

static struct curl_slist *hdr_addf(struct curl_slist *l, const char *name, const char *value)
{
    char *line = xasprintf("%s: %s", name, value);
    l = hdr_add(l, line);
    free(line);
    return l;
}

/* The path part of base ("" for "http://host:port"), its length without a trailing '/', so
 * that base + path is what the peer sees as its URL path and can verify the signature over. */
static int base_prefix(const char *base, const char **prefix, size_t *plen)
{
    const char *p = strstr(base, "://");
    if (!p || p == base || strpbrk(base, "?# \r\n"))
        return -EINVAL;
    const char *slash = strchr(p + 3, '/');
    if (!slash)
        slash = p + 3 + strlen(p + 3);
    size_t n = strlen(slash);
    while (n > 0 && slash[n - 1] == '/')
        n--;
    *prefix = slash;
    *plen = n;
    return 0;
}

static bool method_ok(const char *m)
{
    size_t n = strnlen(m, PEER_METHOD_MAX + 1);
    if (n == 0 || n > PEER_METHOD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

static int append_encoded(struct buf *b, const char *s)
{
    size_t cap = 3 * strlen(s) + 1;
    char *enc = xmalloc(cap);
    int rc = strparse_pct_encode(s, false, enc, cap);
    if (rc == 0)
        rc = buf_appends(b, enc);
    free(enc);
    return rc;
}

/* Builds the URL (base without trailing '/', path, encoded query) and the signed path. */
static int build_url(const char *base, const char *path, const struct http_kv *args,
                     size_t nargs, struct buf *url, char **signed_path)
{
    const char *prefix = NULL;
    size_t plen = 0;
    if (!path || path[0] != '/' || strpbrk(path, "?# \r\n") || (nargs > 0 && !args))
        return -EINVAL;
    int rc = base_prefix(base, &prefix, &plen);
    if (rc < 0)
        return rc;
    size_t blen = (size_t)(prefix - base) + plen;
    if (buf_append(url, base, blen) < 0 || buf_appends(url, path) < 0)
        return -EMSGSIZE;
    for (size_t i = 0; i < nargs; i++) {
        if (!args[i].key)
            return -EINVAL;
        if (buf_append(url, i == 0 ? "?" : "&", 1) < 0 ||
            append_encoded(url, args[i].key) < 0 || buf_append(url, "=", 1) < 0 ||
            append_encoded(url, args[i].value ? args[i].value : "") < 0)
            return -EMSGSIZE;
    }
    *signed_path = xasprintf("%.*s%s", (int)plen, prefix, path);
    return 0;
}

/* The X-Fs-* headers of one call plus the ones every call carries. */
static int sign_headers(const struct peer_client *pc, const char *method,
                        const char *signed_path, const struct http_kv *args, size_t nargs,
                        const char *body, size_t blen, struct curl_slist **out)
{
    char sha[65], sig[65], tbuf[32];
    long long now = (long long)time(NULL);
    digest_sha256_hex(body ? body : "", body ? blen : 0, sha);
    int rc = peersig_sign(pc->secret, method, signed_path, args, nargs, sha, now, sig);
    if (rc < 0)
        return rc;
    snprintf(tbuf, sizeof(tbuf), "%lld", now);
    struct curl_slist *l = NULL;
    l = hdr_addf(l, PEERSIG_HDR_TIME, tbuf);
    l = hdr_addf(l, PEERSIG_HDR_BODY, sha);
    l = hdr_addf(l, PEERSIG_HDR_SIGN, sig);
    if (pc->self[0])
        l = hdr_addf(l, PEERSIG_HDR_PEER, pc->self);
    l = hdr_add(l, "Expect:"); /* no 100-continue round trip */
    *out = l;
    return 0;
}

/* Options every call shares: no signals (worker threads), no proxy from the environment,
 * plain HTTP(S) only, no redirects, the URL path sent exactly as signed. */
static bool common_opts(struct peer_client *pc, CURL *h, const char *url,
                        struct curl_slist *hdrs, char *errbuf)
{
    bool bad = false;
    bad |= lc.easy_setopt(h, CURLOPT_SHARE, pc->share) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
    bad |= lc.easy_setopt(h, CURLOPT_USERAGENT, "fileserver-peer") != CURLE_OK;
    if (pc->ca_file)
        bad |= lc.easy_setopt(h, CURLOPT_CAINFO, pc->ca_file) != CURLE_OK;
    return !bad;
}

static int map_curl(CURLcode c)
{
    switch (c) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    default:
        return -EIO;
    }
}

static void log_failure(const char *url, CURLcode c, const char *errbuf)
{
    log_debug("peer", "%s: %s", url, errbuf[0] ? errbuf : lc.easy_strerror(c));
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;
    return buf_append(b, p, len) < 0 ? 0 : len;
}

static bool method_opts(CURL *h, const char *method, const char *body, size_t blen)
{
    bool bad = false;
    bool is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    if (strcmp(method, "HEAD") == 0 && !body)
        return lc.easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK;
    if (is_get && !body)
        return lc.easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    if (body || is_post) {
        bad |= lc.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(body ? blen : 0)) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "") != CURLE_OK;
    }
    if (!is_post)
        bad |= lc.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK;
    return !bad;
}

int peer_request(struct peer_client *pc, const char *method, const char *base,
                 const char *path, const struct http_kv *args, size_t nargs, const char *body,
                 size_t blen, long timeout_ms, size_t max_body, struct peer_resp *resp)
{
    if (!pc || !method || !base || !resp || timeout_ms <= 0 || !method_ok(method))
        return -EINVAL;
    if (!lib_ready())
        return -EIO;
    struct buf url, rbody;
    char *signed_path = NULL;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = NULL;
    buf_init(&url, PEER_URL_MAX);
    buf_init(&rbody, max_body);
    int rc = build_url(base, path, args, nargs, &url, &signed_path);
    if (rc < 0)
        goto out;
    rc = sign_headers(pc, method, signed_path, args, nargs, body, blen, &hdrs);
    if (rc < 0)
        goto out;
    hdrs = hdr_add(hdrs, body ? "Content-Type: application/x-www-form-urlencoded"
                              : "Content-Type:");
    h = handle_get(pc);
    if (!h) {
        rc = -EIO;
        goto out;
    }
    long connect_ms = timeout_ms < PEER_CONNECT_MAX_MS ? timeout_ms : PEER_CONNECT_MAX_MS;
    if (!common_opts(pc, h, url.data, hdrs, errbuf) || !method_opts(h, method, body, blen) ||
        lc.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
        lc.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
        lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        lc.easy_setopt(h, CURLOPT_WRITEDATA, &rbody) != CURLE_OK) {
        rc = -EIO;
        goto out;
    }
    CURLcode c = lc.easy_perform(h);
    if (c != CURLE_OK) {
        log_failure(url.data, c, errbuf);
        /* the only way on_body fails is the ceiling */
        rc = c == CURLE_WRITE_ERROR ? -EMSGSIZE : map_curl(c);
        goto out;
    }
    long status = 0;
    lc.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->body = buf_steal(&rbody, &resp->len);
    rc = 0;
out:
    if (h)
        handle_put(pc, h);
    lc.slist_free_all(hdrs);
    free(signed_path);
    buf_fini(&url);
    buf_fini(&rbody);
    return rc;
}

struct fetch_ctx {
    CURL *h;
    peer_sink_fn sink;
    void *ctx;
    int sink_rc;      /* the sink's failure, which aborted the transfer */
    int mode;         /* 0 before the first byte, 1 pass to the sink, 2 discard */
    size_t discarded;
    bool discard_full; /* an error body hit PEER_DISCARD_MAX: hung up on purpose */
};

static size_t on_fetch(char *p, size_t size, size_t n, void *ud)
{
    struct fetch_ctx *f = ud;
    size_t len = size * n;
    if (f->mode == 0) {
        long code = 0;
        lc.easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &code);
        f->mode = code >= 200 && code <= 299 ? 1 : 2;
    }
    if (f->mode == 2) {
        f->discarded += len;
        if (f->discarded > PEER_DISCARD_MAX) {
            f->discard_full = true;
            return 0;
        }
        return len;
    }
    int rc = f->sink(f->ctx, p, len);
    if (rc < 0) {
        f->sink_rc = rc;
        return 0;
    }
    return len;
}

int peer_fetch(struct peer_client *pc, const char *base, const char *path, long connect_ms,
               long stall_ms, peer_sink_fn sink, void *ctx, long *status)
{
    if (!pc || !base || !sink || !status || connect_ms <= 0 || stall_ms <= 0)
        return -EINVAL;
    if (!lib_ready())
        return -EIO;
    struct buf url;
    char *signed_path = NULL;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct fetch_ctx f = {.sink = sink, .ctx = ctx};
    buf_init(&url, PEER_URL_MAX);
    int rc = build_url(base, path, NULL, 0, &url, &signed_path);
    if (rc < 0)
        goto out;
    rc = sign_headers(pc, "GET", signed_path, NULL, 0, NULL, 0, &hdrs);
    if (rc < 0)
        goto out;
    f.h = handle_get(pc);
    if (!f.h) {
        rc = -EIO;
        goto out;
    }
    long stall_s = stall_ms / 1000 > 0 ? stall_ms / 1000 : 1;
    if (!common_opts(pc, f.h, url.data, hdrs, errbuf) ||
        lc.easy_setopt(f.h, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
        lc.easy_setopt(f.h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
        lc.easy_setopt(f.h, CURLOPT_LOW_SPEED_LIMIT, PEER_LOW_SPEED) != CURLE_OK ||
        lc.easy_setopt(f.h, CURLOPT_LOW_SPEED_TIME, stall_s) != CURLE_OK ||
        lc.easy_setopt(f.h, CURLOPT_WRITEFUNCTION, on_fetch) != CURLE_OK ||
        lc.easy_setopt(f.h, CURLOPT_WRITEDATA, &f) != CURLE_OK) {
        rc = -EIO;
        goto out;
    }
    CURLcode c = lc.easy_perform(f.h);
    if (f.sink_rc < 0) {
        rc = f.sink_rc;
        goto out;
    }
    if (c != CURLE_OK && !(c == CURLE_WRITE_ERROR && f.discard_full)) {
        log_failure(url.data, c, errbuf);
        rc = map_curl(c);
        goto out;
    }
    long code = 0;
    lc.easy_getinfo(f.h, CURLINFO_RESPONSE_CODE, &code);
    *status = code;
    rc = 0;
out:
    if (f.h)
        handle_put(pc, f.h);
    lc.slist_free_all(hdrs);
    free(signed_path);
    buf_fini(&url);
    return rc;
}

int peer_post_plain(struct peer_client *pc, const char *url, const struct http_kv *headers,
                    size_t nheaders, const struct http_kv *form, size_t nform, long timeout_ms,
                    size_t max_body, struct peer_resp *resp)
{
    if (!pc || !url || !resp || timeout_ms <= 0 || strncmp(url, "http", 4) != 0)
        return -EINVAL;
    if (!lib_ready())
        return -EIO;
    struct buf body, rbody;
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = NULL;
    int rc = 0;
    buf_init(&body, 64 * 1024);
    buf_init(&rbody, max_body);
    for (size_t i = 0; i < nform && rc == 0; i++) {
        rc = buf_appends(&body, i ? "&" : "");
        if (rc == 0)
            rc = append_encoded(&body, form[i].key);
        if (rc == 0)
            rc = buf_appends(&body, "=");
        if (rc == 0)
            rc = append_encoded(&body, form[i].value);
    }
    for (size_t i = 0; i < nheaders && rc == 0; i++) {
        /* header values come from a client: no line breaks may reach the wire */
        if (strpbrk(headers[i].key, "\r\n:") || strpbrk(headers[i].value, "\r\n"))
            continue;
        hdrs = hdr_addf(hdrs, headers[i].key, headers[i].value);
    }
    hdrs = hdr_add(hdrs, "Content-Type: application/x-www-form-urlencoded");
    hdrs = hdr_add(hdrs, "Expect:");
    if (rc < 0)
        goto out;
    h = handle_get(pc);
    if (!h) {
        rc = -EIO;
        goto out;
    }
    long connect_ms = timeout_ms < PEER_CONNECT_MAX_MS ? timeout_ms : PEER_CONNECT_MAX_MS;
    const char *b = body.data ? body.data : "";
    if (!common_opts(pc, h, url, hdrs, errbuf) || !method_opts(h, "POST", b, body.len) ||
        lc.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
        lc.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
        lc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        lc.easy_setopt(h, CURLOPT_WRITEDATA, &rbody) != CURLE_OK) {
        rc = -EIO;
        goto out;
    }
    CURLcode c = lc.easy_perform(h);
    if (c != CURLE_OK) {
        log_failure(url, c, errbuf);
        rc = c == CURLE_WRITE_ERROR ? -EMSGSIZE : map_curl(c);
        goto out;
    }
    long status = 0;
    lc.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->body = buf_steal(&rbody, &resp->len);
out:
    if (h)
        handle_put(pc, h);
    lc.slist_free_all(hdrs);
    buf_fini(&body);
    buf_fini(&rbody);
    return rc;
}

struct mail_src {
    const char *p;
    size_t left;
};

static size_t mail_read(char *buf, size_t size, size_t n, void *ud)
{
    struct mail_src *m = ud;
    size_t cap = size * n, k = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, k);
    m->p += k;
    m->left -= k;
    return k;
}

int peer_send_mail(struct peer_client *pc, const char *smtp_url, const char *user,
                   const char *password, const char *from, const char *rcpts,
                   const char *subject, const char *body, long timeout_ms)
{
    if (!pc || !smtp_url || !from || !rcpts || !subject || !body || timeout_ms <= 0 ||
        (strncmp(smtp_url, "smtp://", 7) != 0 && strncmp(smtp_url, "smtps://", 8) != 0) ||
        strpbrk(subject, "\r\n") || strpbrk(from, "\r\n<>"))
        return -EINVAL;
    if (!lib_ready())
        return -EIO;
    struct curl_slist *to = NULL;
    struct buf msg;
    buf_init(&msg, 256 * 1024);
    char one[256];
    const char *p = rcpts;
    while (*p) {
        size_t l = strcspn(p, ",;");
        while (l && (*p == ' '))
            p++, l--;
        if (l > 0 && l < sizeof one && !memchr(p, '\r', l) && !memchr(p, '\n', l)) {
            snprintf(one, sizeof one, "<%.*s>", (int)l, p);
            to = lc.slist_append(to, one);
        }
        p += l;
        if (*p)
            p++;
    }
    int rc = to ? 0 : -EINVAL;
    if (rc == 0)
        rc = buf_appendf(&msg, "From: <%s>\r\nTo: %s\r\nSubject: %s\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
                         from, rcpts, subject, body);
    CURL *h = rc == 0 ? lc.easy_init() : NULL;
    if (rc == 0 && !h)
        rc = -EIO;
    if (rc == 0) {
        char mfrom[300];
        snprintf(mfrom, sizeof mfrom, "<%s>", from);
        struct mail_src src = {msg.data, msg.len};
        char errbuf[CURL_ERROR_SIZE] = "";
        bool bad = false;
        bad |= lc.easy_setopt(h, CURLOPT_URL, smtp_url) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_MAIL_FROM, mfrom) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_MAIL_RCPT, to) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_READFUNCTION, mail_read) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_READDATA, &src) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_UPLOAD, 1L) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
        bad |= lc.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
        if (pc->ca_file)
            bad |= lc.easy_setopt(h, CURLOPT_CAINFO, pc->ca_file) != CURLE_OK;
        if (user && *user) {
            bad |= lc.easy_setopt(h, CURLOPT_USERNAME, user) != CURLE_OK;
            bad |= lc.easy_setopt(h, CURLOPT_PASSWORD, password ? password : "") != CURLE_OK;
            bad |= lc.easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY) != CURLE_OK;
        }
        if (bad) {
            rc = -EIO;
        } else {
            CURLcode c = lc.easy_perform(h);
            if (c != CURLE_OK) {
                log_failure(smtp_url, c, errbuf);
                rc = map_curl(c);
            }
        }
        lc.easy_cleanup(h);
    }
    lc.slist_free_all(to);
    buf_fini(&msg);
    return rc;
}
