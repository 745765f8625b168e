/* Who may call what, decided before any handler runs. go-fastdfs trusted source IPs with
 * prefix matching and honoured nothing else; we match admin_ips exactly or by CIDR, never
 * look at forwarding headers, and also accept the admin key in the X-Admin-Key header. */
#include "auth.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errcode.h"
#include "digest.h"
#include "http.h"
#include "path.h"
#include "peer.h"
#include "peersig.h"
#include "server.h"
#include "strparse.h"
#include "token.h"

bool auth_secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0 && lb > 0;
}

/* Parses "ip" or "ip/bits" into family, 16 address bytes and a prefix length. */
static bool parse_net(const char *s, int *fam, unsigned char addr[16], unsigned *bits)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof ip)
        return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, ip, addr) == 1) {
        *fam = AF_INET;
        *bits = 32;
    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        *fam = AF_INET6;
        *bits = 128;
    } else {
        return false;
    }
    if (slash) {
        uint64_t b;
        if (strparse_u64(slash + 1, strlen(slash + 1), *bits, &b) < 0)
            return false;
        *bits = (unsigned)b;
    }
    return true;
}

static bool net_contains(const unsigned char net[16], unsigned bits, const unsigned char a[16])
{
    unsigned full = bits / 8, rem = bits % 8;
    if (memcmp(net, a, full) != 0)
        return false;
    if (rem == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rem));
    return (net[full] & mask) == (a[full] & mask);
}

/* An IPv4 address seen through a dual-stack socket arrives as ::ffff:a.b.c.d. */
static void unmap_v4(int *fam, unsigned char a[16], unsigned *bits)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (*fam == AF_INET6 && memcmp(a, v4mapped, 12) == 0 && *bits >= 96) {
        memmove(a, a + 12, 4);
        memset(a + 4, 0, 12);
        *fam = AF_INET;
        *bits -= 96;
    }
}

bool auth_ip_allowed(const struct server *srv, const char *ip)
{
    int fam;
    unsigned char a[16];
    unsigned abits;
    /* a client is one address, never a network */
    if (!ip || !*ip || strchr(ip, '/') || !parse_net(ip, &fam, a, &abits))
        return false;
    unmap_v4(&fam, a, &abits);
    for (size_t i = 0; i < srv->cfg.admin_ips.n; i++) {
        int nf;
        unsigned char net[16];
        unsigned bits;
        if (!parse_net(srv->cfg.admin_ips.v[i], &nf, net, &bits))
            continue;
        unmap_v4(&nf, net, &bits);
        if (nf != fam)
            continue;
        if (net_contains(net, bits, a))
            return true;
    }
    return false;
}

static int check_signature(const struct server *srv, struct http_req *req)
{
    const char *sign = http_req_header(req, PEERSIG_HDR_SIGN);
    if (!sign)
        return 0;
    const char *why = NULL;
    const char *body = http_req_header(req, PEERSIG_HDR_BODY);
    int rc = peersig_verify(srv->cfg.cluster_secret ? srv->cfg.cluster_secret : "",
                            req->method_str, req->url, req->args, req->nargs, body ? body : "",
                            http_req_header(req, PEERSIG_HDR_TIME), sign, (long long)time(NULL),
                            &why);
    if (rc) {
        snprintf(req->errmsg, sizeof req->errmsg, "cluster signature refused: %s",
                 why ? why : "invalid");
        return ERR_FORBIDDEN;
    }
    req->peer_signed = true;
    const char *from = http_req_header(req, PEERSIG_HDR_PEER);
    snprintf(req->peer_from, sizeof req->peer_from, "%s", from ? from : "");
    return 0;
}

int auth_check_body(struct http_req *req, const char *body, size_t len)
{
    const char *want = http_req_header(req, PEERSIG_HDR_BODY);
    char got[65];
    digest_sha256_hex(body, len, got);
    if (!want || !auth_secret_eq(want, got)) {
        snprintf(req->errmsg, sizeof req->errmsg, "cluster signature refused: body changed");
        return ERR_FORBIDDEN;
    }
    return 0;
}

bool auth_is_admin(const struct server *srv, const struct http_req *req)
{
    if (req->peer_signed)
        return true;
    const char *key = http_req_header(req, "X-Admin-Key");
    if (!key)
        key = http_req_arg(req, "admin_key");
    if (key && srv->cfg.admin_key && *srv->cfg.admin_key &&
        auth_secret_eq(key, srv->cfg.admin_key))
        return true;
    return auth_ip_allowed(srv, req->client_ip);
}

/* auth_url: the request's headers (with Auth-Token) are POSTed to the auth server; only
 * "ok" or {"data":"ok"} lets the request through, and any failure refuses it. */
/* Optional cache of tokens the auth server accepted (auth_cache_seconds > 0): a fixed
 * table keyed by a hash of the token, so its memory is bounded whatever clients send.
 * Only successes are cached; a refusal always asks again. */
#define AUTH_CACHE_SLOTS 1024
static struct {
    char tok_sha[65];
    time_t until;
} auth_cache[AUTH_CACHE_SLOTS];
static pthread_mutex_t auth_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t cache_slot(const char *sha)
{
    size_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 16 + (size_t)(sha[i] <= '9' ? sha[i] - '0' : sha[i] - 'a' + 10);
    return h % AUTH_CACHE_SLOTS;
}

static bool cache_hit(const struct server *srv, const char *tok)
{
    if (srv->cfg.auth_cache_seconds <= 0)
        return false;
    char sha[65];
    digest_sha256_hex(tok, strlen(tok), sha);
    size_t k = cache_slot(sha);
    pthread_mutex_lock(&auth_cache_mu);
    bool hit = strcmp(auth_cache[k].tok_sha, sha) == 0 && auth_cache[k].until > time(NULL);
    pthread_mutex_unlock(&auth_cache_mu);
    return hit;
}

static void cache_put(const struct server *srv, const char *tok)
{
    if (srv->cfg.auth_cache_seconds <= 0)
        return;
    char sha[65];
    digest_sha256_hex(tok, strlen(tok), sha);
    size_t k = cache_slot(sha);
    pthread_mutex_lock(&auth_cache_mu);
    memcpy(auth_cache[k].tok_sha, sha, sizeof sha);
    auth_cache[k].until = time(NULL) + (time_t)srv->cfg.auth_cache_seconds;
    pthread_mutex_unlock(&auth_cache_mu);
}

static int external_auth_token(struct server *srv, struct http_req *req, const char *tok)
{
    if (!tok || !*tok) {
        snprintf(req->errmsg, sizeof req->errmsg, "auth fail: Auth-Token header is required");
        return ERR_UNAUTH;
    }
    if (cache_hit(srv, tok))
        return 0;
    if (!srv->authc) {
        snprintf(req->errmsg, sizeof req->errmsg, "auth fail: auth client unavailable");
        return ERR_UNAUTH;
    }
    /* the original's body headers would describe a body this call does not carry */
    static const char *fwd[] = {"Auth-Token", "User-Agent", "Origin", "Referer", "Cookie",
                                "Authorization", "X-Forwarded-For", "X-Real-Ip"};
    struct http_kv h[sizeof fwd / sizeof fwd[0] + 1];
    size_t nh = 0;
    for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) {
        /* the token checked is the one sent, wherever the client put it */
        const char *v = i == 0 ? tok : http_req_header(req, fwd[i]);
        if (v) {
            h[nh].key = fwd[i];
            h[nh++].value = v;
        }
    }
    struct http_kv form[] = {{"auth_token", tok}, {"path", req->url},
                             {"method", req->method_str}, {"ip", req->client_ip}};
    struct peer_resp r = {0};
    int rc = peer_post_plain(srv->authc, srv->cfg.auth_url, h, nh, form, 4,
                             (long)srv->cfg.auth_timeout * 1000, 64 * 1024, &r);
    bool ok = false;
    char reason[160] = "";
    if (rc == 0 && r.status == 200) {
        size_t n = r.len;
        const char *b = r.body;
        while (n && (b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == ' '))
            n--;
        while (n && (*b == ' ' || *b == '\n')) {
            b++;
            n--;
        }
        ok = n == 2 && memcmp(b, "ok", 2) == 0;
        if (!ok) {
            json_t *o = json_loadb(r.body, r.len, 0, NULL);
            const char *d = o ? json_string_value(json_object_get(o, "data")) : NULL;
            const char *m = o ? json_string_value(json_object_get(o, "message")) : NULL;
            ok = d && strcmp(d, "ok") == 0;
            snprintf(reason, sizeof reason, "%s", m ? m : "");
            json_decref(o);
        }
    } else if (rc == 0) {
        snprintf(reason, sizeof reason, "auth server answered %ld", r.status);
    } else {
        snprintf(reason, sizeof reason, "auth server unreachable");
    }
    peer_resp_fini(&r);
    if (ok) {
        cache_put(srv, tok);
        return 0;
    }
    snprintf(req->errmsg, sizeof req->errmsg, "auth fail%s%s", reason[0] ? ": " : "", reason);
    return ERR_UNAUTH;
}

/* The Google secret of a scene ("name:SECRET" in scenes), or NULL. */
static const char *scene_secret(const struct server *srv, const char *scene)
{
    size_t sl = strlen(scene);
    for (size_t i = 0; i < srv->cfg.scenes.n; i++) {
        const char *e = srv->cfg.scenes.v[i];
        const char *colon = strchr(e, ':');
        if (colon && (size_t)(colon - e) == sl && strncmp(e, scene, sl) == 0 && colon[1])
            return colon + 1;
    }
    return NULL;
}

static int external_auth(struct server *srv, struct http_req *req)
{
    return external_auth_token(srv, req, http_req_header(req, "Auth-Token"));
}

int auth_upload_token(struct server *srv, struct http_req *req, const char *token)
{
    if (!srv->cfg.auth_url || !*srv->cfg.auth_url || req->peer_signed)
        return 0;
    const char *hdr = http_req_header(req, "Auth-Token");
    return external_auth_token(srv, req, hdr && *hdr ? hdr : token);
}

int auth_google(struct server *srv, struct http_req *req, const char *scene)
{
    if (!srv->cfg.enable_google_auth || req->peer_signed)
        return 0;
    const char *secret = scene_secret(srv, scene);
    if (!secret)
        return 0;
    const char *code = http_req_arg(req, "code");
    if (!code || !token_totp_verify(secret, code, time(NULL), (int)srv->cfg.google_auth_window)) {
        snprintf(req->errmsg, sizeof req->errmsg, "invalid request,error google code");
        return ERR_UNAUTH;
    }
    return 0;
}

int auth_upload(struct server *srv, struct http_req *req)
{
    if (srv->cfg.auth_url && *srv->cfg.auth_url && !req->peer_signed)
        return external_auth(srv, req);
    return 0;
}

int auth_download(struct server *srv, struct http_req *req, const char *rel, const char *md5)
{
    if (auth_is_admin(srv, req))
        return 0;
    int rc;
    if (srv->cfg.enable_download_auth && srv->cfg.auth_url && *srv->cfg.auth_url &&
        (rc = external_auth(srv, req)))
        return rc;
    if (srv->cfg.download_use_token) {
        const char *why = NULL;
        if (!md5 || !*md5) {
            snprintf(req->errmsg, sizeof req->errmsg, "token: file is not indexed");
            return ERR_UNAUTH;
        }
        rc = token_check(srv->cfg.download_token_secret, md5, http_req_arg(req, "token"),
                         http_req_arg(req, "timestamp"), srv->cfg.download_token_expire,
                         time(NULL), &why);
        if (rc) {
            snprintf(req->errmsg, sizeof req->errmsg, "token: %s", why ? why : "invalid");
            return rc;
        }
    }
    if (srv->cfg.enable_google_auth) {
        char scene[PATH_MAX_NAME + 1];
        const char *slash = strchr(rel, '/');
        size_t l = slash ? (size_t)(slash - rel) : strlen(rel);
        if (l < sizeof scene) {
            memcpy(scene, rel, l);
            scene[l] = '\0';
            if ((rc = auth_google(srv, req, scene)))
                return rc;
        }
    }
    return 0;
}

int auth_check(const struct server *srv, struct http_req *req, enum route_access acc)
{
    int rc = check_signature(srv, req);
    if (rc)
        return rc;
    if (acc == ACCESS_PUBLIC || req->peer_signed)
        return 0;
    if (acc == ACCESS_PEER) {
        snprintf(req->errmsg, sizeof req->errmsg, "only cluster peers may call this");
        return ERR_FORBIDDEN;
    }
    if (auth_is_admin(srv, req))
        return 0;
    snprintf(req->errmsg, sizeof req->errmsg,
             "admin only: send the admin key in X-Admin-Key or call from admin_ips");
    return ERR_FORBIDDEN;
}
