/* Helpers the handlers share: building the go-fastdfs FileResult and URLs, and finding the
 * record a request names by digest, path key or download path. */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "fileinfo.h"
#include "meta.h"
#include "path.h"
#include "server.h"
#include "strjoin.h"
#include "strparse.h"

int api_url_path(const struct server *srv, const struct file_info *fi, char *out, size_t cap)
{
    char rel[PATH_MAX_REL + 8];
    int rc = fileinfo_rel(fi, rel, sizeof rel);
    if (rc)
        return rc;
    return strjoin(out, cap, server_group_prefix(srv), "/", rel) < 0 ? ERR_BADPATH : 0;
}

/* The Host header only becomes part of a URL when it looks like a host name. */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
            return false;
    }
    return true;
}

static void domain_of(const struct server *srv, const struct http_req *req, char *out,
                      size_t cap)
{
    const char *proto = srv->cfg.enable_https ? "https" : "http";
    const char *dd = srv->cfg.download_domain;
    if (dd && *dd) {
        if (strncmp(dd, "http://", 7) == 0 || strncmp(dd, "https://", 8) == 0)
            strjoin(out, cap, dd);
        else
            strjoin(out, cap, proto, "://", dd);
        return;
    }
    const char *host = req ? http_req_header(req, "Host") : NULL;
    if (host && host_ok(host))
        strjoin(out, cap, proto, "://", host);
    else
        strjoin(out, cap, srv->cfg.host ? srv->cfg.host : "");
    size_t n = strlen(out);
    while (n && out[n - 1] == '/')
        out[--n] = '\0';
}

#define URL_PATH_MAX (PATH_MAX_REL + 100) /* "/<group>/<dir>/<disk name>" */

/* The result's url, and the path (path[URL_PATH_MAX]) and domain it is made of. */
static void file_url(const struct server *srv, const struct http_req *req,
                     const struct file_info *fi, char *domain, size_t dcap,
                     char path[URL_PATH_MAX], char *url, size_t ucap)
{
    char ename[PATH_MAX_NAME * 3 + 1], epath[URL_PATH_MAX * 3];
    domain_of(srv, req, domain, dcap);
    if (api_url_path(srv, fi, path, URL_PATH_MAX) < 0)
        path[0] = '\0';
    if (strparse_pct_encode(path, true, epath, sizeof epath) < 0)
        strjoin(epath, sizeof epath, path);
    if (srv->cfg.default_download) {
        if (strparse_pct_encode(fi->name, false, ename, sizeof ename) < 0)
            ename[0] = '\0';
        strjoin(url, ucap, domain, epath, "?name=", ename, "&download=1");
    } else {
        strjoin(url, ucap, domain, epath);
    }
}

void api_file_url(const struct server *srv, const struct http_req *req,
                  const struct file_info *fi, char *url, size_t cap)
{
    char domain[API_DOMAIN_MAX], path[URL_PATH_MAX];
    file_url(srv, req, fi, domain, sizeof domain, path, url, cap);
}

json_t *api_file_result(const struct server *srv, const struct http_req *req,
                        const struct file_info *fi)
{
    char domain[API_DOMAIN_MAX], path[URL_PATH_MAX], url[API_URL_MAX];
    file_url(srv, req, fi, domain, sizeof domain, path, url, sizeof url);
    json_t *o = json_object();
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "md5", json_string(fi->md5));
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "domain", json_string(domain));
    json_object_set_new(o, "scene", json_string(fi->scene));
    json_object_set_new(o, "size", json_integer(fi->size));
    json_object_set_new(o, "mtime", json_integer(fi->timestamp));
    json_object_set_new(o, "scenes", json_string(fi->scene));
    json_object_set_new(o, "retmsg", json_string(""));
    json_object_set_new(o, "retcode", json_integer(0));
    json_object_set_new(o, "src", json_string(path));
    return o;
}

int api_rel_from_path(const struct server *srv, const char *path, char *out, size_t cap)
{
    /* path is an argument, already decoded once: decoding again would mangle names with %
     * (the upload answer's `path` field is not encoded) */
    const char *p = path;
    const char *g = server_group_prefix(srv);
    size_t gl = strlen(g);
    if (gl && strncmp(p, g, gl) == 0 && p[gl] == '/')
        p += gl;
    else if (strncmp(p, "files/", 6) == 0)
        p += 5;
    return path_normalize_rel(p, false, out, cap);
}

int api_lookup(struct server *srv, struct http_req *req, struct file_info *out)
{
    const char *md5 = http_req_arg(req, "md5");
    const char *path = http_req_arg(req, "path");
    if (md5 && *md5) {
        size_t n = strlen(md5);
        if (!((n == 32 || n == 40) && strparse_is_hex(md5, n))) {
            snprintf(req->errmsg, sizeof req->errmsg, "md5 must be 32 or 40 hex digits");
            return ERR_PARAM;
        }
        char low[DIGEST_HEX_MAX];
        for (size_t i = 0; i <= n; i++)
            low[i] = (char)((md5[i] >= 'A' && md5[i] <= 'F') ? md5[i] + 32 : md5[i]);
        if (meta_find_digest(srv->meta, low, out, 1) == 1)
            return 0;
        if (n == 32 && meta_get_path(srv->meta, low, out) == 0)
            return 0;
        /* a tus upload id names the record its upload became (u/<id> -> path key) */
        char key[64], *pk = NULL;
        size_t pkl;
        snprintf(key, sizeof key, "u/%s", low);
        if (n == 32 && meta_kv_get(srv->meta, key, &pk, &pkl) == 0) {
            int rc = pkl == 32 ? meta_get_path(srv->meta, pk, out) : -ENOENT;
            free(pk);
            return rc;
        }
        return -ENOENT;
    }
    if (path && *path) {
        char rel[PATH_MAX_REL + 1], pk[DIGEST_HEX_MAX];
        if (api_rel_from_path(srv, path, rel, sizeof rel) < 0) {
            snprintf(req->errmsg, sizeof req->errmsg, "path not allowed");
            return ERR_BADPATH;
        }
        fileinfo_path_key_rel(rel, pk);
        return meta_get_path(srv->meta, pk, out);
    }
    snprintf(req->errmsg, sizeof req->errmsg, "md5 or path is required");
    return ERR_PARAM;
}
