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
/* Download protection for a stored file (rel below files/, md5 its digest or "" when not
 * indexed): auth_url when enable_download_auth, the token when download_use_token, the
 * scene's Google code when enable_google_auth. Peers and admins pass. 0, ERR_UNAUTH or
 * ERR_FORBIDDEN with the reason in req->errmsg. */
int auth_download(struct server *srv, struct http_req *req, const char *rel, const char *md5);
/* Upload protection before the body is read: auth_url (Auth-Token header). */
int auth_upload(struct server *srv, struct http_req *req);
/* The same with a token from elsewhere when the header is absent (tus's auth_token
 * metadata, as go-fastdfs reads it). */
int auth_upload_token(struct server *srv, struct http_req *req, const char *token);
/* The scene's Google code (form field `code`) when enable_google_auth and the scene has a
 * secret in `scenes` ("name:SECRET"). */
int auth_google(struct server *srv, struct http_req *req, const char *scene);
/* True for a caller that may use admin routes (signature, admin key, admin_ips). */
bool auth_is_admin(const struct server *srv, const struct http_req *req);
/* True when ip (text IPv4/IPv6) matches an admin_ips entry (exact or CIDR). */
bool auth_ip_allowed(const struct server *srv, const char *ip);
/* Constant-time string equality. */
bool auth_secret_eq(const char *a, const char *b);
