/* Access classes decided in one place before any handler runs: public, admin (admin_ips
 * allow-list with CIDR, or the admin key in the X-Admin-Key header) and peer. */
#pragma once
#include <stdbool.h>
#include "http_router.h"

struct server;

/* 0 when the request may use a route of this access class, else ERR_FORBIDDEN (with the
 * reason in req->errmsg). A request carrying a cluster signature is verified whatever the
 * class (a bad one is refused) and then marked req->peer_signed. Peer routes need a valid
 * signature; admin routes take a signature, the X-Admin-Key header or an admin_ips address. */
int auth_check(const struct server *srv, struct http_req *req, enum route_access acc);
/* For a signed request with a body: the body must hash to the signed X-Fs-Body-Sha256. */
int auth_check_body(struct http_req *req, const char *body, size_t len);
/* True when ip (text IPv4/IPv6) matches an admin_ips entry (exact or CIDR). */
bool auth_ip_allowed(const struct server *srv, const char *ip);
/* Constant-time string equality. */
bool auth_secret_eq(const char *a, const char *b);
