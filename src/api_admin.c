/* Admin endpoints that change the node's state as a whole (index repair). */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "errcode.h"
#include "token.h"

#include "http_reply.h"
#include "server.h"

int api_repair_fileinfo(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    long long n = server_rebuild_meta(srv);
    if (n < 0)
        return (int)n;
    json_t *d = json_object();
    json_object_set_new(d, "files", json_integer(n));
    http_reply_ok(rep, d, "repair finished");
    return 0;
}

int api_gen_google_secret(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    (void)srv;
    char secret[17];
    if (token_totp_secret(secret) < 0)
        return -EIO;
    http_reply_ok(rep, json_string(secret), "");
    return 0;
}

int api_gen_google_code(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)srv;
    const char *secret = http_req_arg(req, "secret");
    char code[7];
    if (!secret || token_totp(secret, time(NULL), code) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "secret must be base32");
        return ERR_PARAM;
    }
    http_reply_ok(rep, json_string(code), "");
    return 0;
}
