/* Who may call what, decided before any handler runs. go-fastdfs trusted source IPs with
 * prefix matching and honoured nothing else; we match admin_ips exactly or by CIDR, never
 * look at forwarding headers, and also accept the admin key in the X-Admin-Key header. */
#include "auth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errcode.h"
#include "digest.h"
#include "http.h"
#include "peersig.h"
#include "server.h"
#include "strparse.h"

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
    const char *key = http_req_header(req, "X-Admin-Key");
    if (key && srv->cfg.admin_key && *srv->cfg.admin_key &&
        auth_secret_eq(key, srv->cfg.admin_key))
        return 0;
    if (auth_ip_allowed(srv, req->client_ip))
        return 0;
    return ERR_FORBIDDEN;
}
