/* Requests for other groups: a download or call under /<other group>/ is redirected to a
 * node of that group, and POST /upload places the file by store_lookup, redirecting (307,
 * so the client re-sends the body) when another group is chosen. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errcode.h"
#include "groups.h"
#include "http_reply.h"
#include "server.h"
#include "strparse.h"

/* node + url + the request's arguments re-encoded */
static int build_location(struct http_req *req, const char *node)
{
    size_t cap = sizeof req->redirect;
    int n = snprintf(req->redirect, cap, "%s%s", node, req->url);
    if (n < 0 || (size_t)n >= cap)
        return ERR_PARAM;
    size_t len = (size_t)n;
    for (size_t i = 0; i < req->nargs; i++) {
        char k[512], v[1024];
        if (strparse_pct_encode(req->args[i].key, false, k, sizeof k) < 0 ||
            strparse_pct_encode(req->args[i].value, false, v, sizeof v) < 0)
            return ERR_PARAM;
        n = snprintf(req->redirect + len, cap - len, "%c%s=%s", i ? '&' : '?', k, v);
        if (n < 0 || (size_t)n >= cap - len)
            return ERR_PARAM;
        len += (size_t)n;
    }
    return 0;
}

int api_other_group(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)rep;
    char g[64];
    const char *u = req->url + 1;
    const char *slash = strchr(u, '/');
    size_t l = slash ? (size_t)(slash - u) : strlen(u);
    if (l == 0 || l >= sizeof g)
        return -ENOENT;
    memcpy(g, u, l);
    g[l] = '\0';
    const char *node = groups_node(srv, g);
    if (!node)
        return -ENOENT;
    int rc = build_location(req, node);
    if (rc)
        return rc;
    snprintf(req->errmsg, sizeof req->errmsg, "group %s is served by %s", g, node);
    return ERR_REDIRECT;
}

static int place_begin(struct http_req *req, struct server *srv)
{
    char g[64];
    groups_pick(srv, g, sizeof g);
    if (strcmp(g, srv->cfg.group) != 0) {
        const char *node = groups_node(srv, g);
        if (node) {
            char url[160];
            snprintf(url, sizeof url, "/%s/upload", g);
            const char *saved = req->url;
            req->url = url;
            int rc = build_location(req, node);
            req->url = saved;
            if (rc)
                return rc;
            snprintf(req->errmsg, sizeof req->errmsg, "upload placed in group %s", g);
            return ERR_REDIRECT;
        }
    }
    return api_upload_stream.begin(req, srv);
}

const struct route_stream api_place_stream = {place_begin, api_upload_data, api_upload_cleanup};
