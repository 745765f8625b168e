/* Access classes decided in one place before any handler runs: public, admin (admin_ips
 * allow-list with CIDR, or the admin key in the X-Admin-Key header) and peer. */
#pragma once
#include <stdbool.h>
#include "http_router.h"

struct server;

/* 0 when the request may use a route of this access class, else ERR_FORBIDDEN. */
int auth_check(const struct server *srv, const struct http_req *req, enum route_access acc);
/* True when ip (text IPv4/IPv6) matches an admin_ips entry (exact or CIDR). */
bool auth_ip_allowed(const struct server *srv, const char *ip);
/* Constant-time string equality. */
bool auth_secret_eq(const char *a, const char *b);
