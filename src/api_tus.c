/* tus 1.0.0 resumable uploads over HTTP at /<group>/big/upload/: the protocol's headers and
 * statuses mapped onto tus.c. PATCH and creation-with-upload bodies stream straight to the
 * upload's data file; a complete upload is committed through api_upload_commit with the
 * same rules as POST /upload (read_only, max_upload_size, extensions, scenes, custom path). */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "errcode.h"
#include "fileinfo.h"
#include "http_reply.h"
#include "log.h"
#include "meta.h"
#include "path.h"
#include "server.h"
#include "store.h"
#include "strparse.h"
#include "tus.h"
#include "workq.h"
#include "xalloc.h"

#define TUS_VERSION "1.0.0"
#define TUS_EXTENSIONS                                                                   \
    "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration," \
    "concatenation"
#define OFFSET_CT "application/offset+octet-stream"
#define SERVERS_MAX 16
#define STATUS_CHECKSUM 460 /* tus checksum extension: "Checksum Mismatch" */

/* ---- one tus state per server (servers are few: one per process, a few in tests) ---- */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct server *srv;
    struct meta *meta; /* a server freed without api_tus_stop leaves a stale entry */
    struct tus *t;
} reg[SERVERS_MAX];

static int finish(struct server *srv, struct tus *t, const char *id, struct http_req *req,
                  struct file_info *fi);

static int finish_pending(void *ctx, const char *id)
{
    struct server *srv = ((void **)ctx)[0];
    struct tus *t = ((void **)ctx)[1];
    struct http_req *req = xcalloc(1, sizeof *req);
    struct file_info fi;
    if (tus_acquire(t, id) == 0) {
        int rc = finish(srv, t, id, req, &fi);
        tus_release(t, id);
        if (rc < 0)
            log_warn("tus", "complete upload %s not stored: %s", id,
                     req->errmsg[0] ? req->errmsg : errcode_str(rc));
        else
            log_info("tus", "complete upload %s stored as %s/%s", id, fi.path,
                     fileinfo_disk_name(&fi));
    }
    free(req);
    return 0;
}

static struct tus *open_tus(struct server *srv)
{
    struct tus_cfg c = {
        .root = srv->root,
        .meta = srv->meta,
        .algo = srv->algo,
        .max_size = srv->cfg.max_upload_size > 0 ? (uint64_t)srv->cfg.max_upload_size : 0,
        .expire_s = TUS_EXPIRE_DEFAULT,
    };
    struct tus *t = NULL;
    if (tus_open(&c, &t) < 0)
        return NULL;
    /* uploads that were complete when the node stopped become files now */
    void *ctx[2] = {srv, t};
    tus_scan_complete(t, finish_pending, ctx);
    return t;
}

/* The state of srv, opened on first use when api_tus_start was not called (then without
 * the sweeper: expired uploads are still refused, only their bytes linger). */
static struct tus *tus_for(struct server *srv, bool create, bool sweeper)
{
    struct tus *t = NULL;
    if (!srv->cfg.enable_tus || !srv->meta)
        return NULL;
    pthread_mutex_lock(&reg_mu);
    size_t free_slot = SERVERS_MAX;
    for (size_t i = 0; i < SERVERS_MAX && !t; i++) {
        if (reg[i].srv == srv && reg[i].meta != srv->meta) {
            tus_close(reg[i].t); /* touches no index: safe after its meta is gone */
            reg[i].srv = NULL;
            reg[i].t = NULL;
        }
        if (reg[i].srv == srv)
            t = reg[i].t;
        else if (!reg[i].srv && free_slot == SERVERS_MAX)
            free_slot = i;
    }
    if (!t && create && free_slot < SERVERS_MAX && (t = open_tus(srv))) {
        reg[free_slot].srv = srv;
        reg[free_slot].meta = srv->meta;
        reg[free_slot].t = t;
    }
    if (t && sweeper && tus_sweeper_start(t) < 0)
        log_warn("tus", "expiry sweeper not started");
    pthread_mutex_unlock(&reg_mu);
    return t;
}

int api_tus_start(struct server *srv)
{
    if (!srv->cfg.enable_tus)
        return 0;
    return tus_for(srv, true, true) ? 0 : -EIO;
}

void api_tus_stop(struct server *srv)
{
    struct tus *t = NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < SERVERS_MAX; i++)
        if (reg[i].srv == srv) {
            t = reg[i].t;
            reg[i].srv = NULL;
            reg[i].t = NULL;
        }
    pthread_mutex_unlock(&reg_mu);
    tus_close(t);
}

/* ---- finishing: a complete upload becomes a stored file ---- */

static void add_arg(struct http_req *req, const char *k, const char *v)
{
    if (http_req_add_arg(req, k, strlen(k), v, strlen(v)) < 0)
        log_warn("tus", "argument %s dropped", k);
}

/* Commits a complete upload (held) the way POST /upload would, with scene and path taken
 * from its metadata and the filename as the uploaded name. Errors land in req->errmsg. */
static int finish(struct server *srv, struct tus *t, const char *id, struct http_req *req,
                  struct file_info *fi)
{
    struct tus_info info;
    struct tus_meta m;
    int rc = tus_get(t, id, &info);
    if (rc)
        return rc;
    if (tus_meta_parse(info.metadata, strlen(info.metadata), &m) < 0)
        return ERR_CORRUPT;
    /* only the metadata places the file: query arguments of the tus URL do not */
    struct http_req *args = xcalloc(1, sizeof *args);
    if (m.has_scene)
        add_arg(args, "scene", m.scene);
    if (m.has_path)
        add_arg(args, "path", m.path);
    if (m.has_ttl)
        add_arg(args, "ttl", m.ttl);
    /* access was checked at creation; a TOTP code would be stale by now */
    args->peer_signed = true;
    struct store_tmp tmp;
    char digest[DIGEST_HEX_MAX];
    rc = tus_finish_prepare(t, id, &tmp, digest);
    if (rc == 0)
        rc = api_upload_commit(srv, args, &tmp, digest, m.has_filename ? m.filename : "", fi);
    store_tmp_discard(srv->store, &tmp);
    if (rc < 0 && args->errmsg[0])
        snprintf(req->errmsg, sizeof req->errmsg, "%s", args->errmsg);
    http_req_free_args(args);
    free(args);
    if (rc < 0)
        return rc;
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key(fi, pk);
    return tus_finish_done(t, id, pk);
}

/* ---- reply helpers ---- */

static void reply_empty(struct http_reply *rep, int status)
{
    http_reply_body(rep, status, NULL, "", 0);
    http_reply_header(rep, "Tus-Resumable", TUS_VERSION);
}

/* A {"status":"fail"} answer with a status the error table does not have (412, 415, 423,
 * 460) or with tus headers an error reply would lose. */
static int reply_fail(struct http_reply *rep, int status, const char *msg)
{
    http_reply_error(rep, ERR_BADREQ, msg);
    rep->status = status;
    http_reply_header(rep, "Tus-Resumable", TUS_VERSION);
    if (status == 412)
        http_reply_header(rep, "Tus-Version", TUS_VERSION);
    return 0;
}

static void header_u64(struct http_reply *rep, const char *name, uint64_t v)
{
    http_reply_headerf(rep, name, "%llu", (unsigned long long)v);
}

static void header_expires(struct http_reply *rep, int64_t when)
{
    char buf[64];
    struct tm tm;
    time_t tt = (time_t)when;
    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        http_reply_header(rep, "Upload-Expires", buf);
}

/* The stored file's URL (and its record) for the client that finished the upload. */
static void header_file(struct server *srv, struct http_req *req, struct http_reply *rep,
                        const struct file_info *fi)
{
    json_t *res = api_file_result(srv, req, fi);
    const char *url = json_string_value(json_object_get(res, "url"));
    if (url)
        http_reply_header(rep, "X-Fileserver-Url", url);
    char *txt = json_dumps(res, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS);
    if (txt)
        http_reply_header(rep, "X-Fileserver-Record", txt);
    free(txt);
    json_decref(res);
}

static bool host_ok(const char *h, size_t n)
{
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

/* Absolute URL of an upload from the Host the client used (or X-Forwarded-Host/-Proto from
 * a proxy), else the configured host. */
static void upload_url(struct server *srv, struct http_req *req, const char *id, char *out,
                       size_t cap)
{
    const char *proto = srv->cfg.enable_https ? "https" : "http";
    const char *fp = http_req_header(req, "X-Forwarded-Proto");
    if (fp && (strcasecmp(fp, "http") == 0 || strcasecmp(fp, "https") == 0))
        proto = strcasecmp(fp, "https") == 0 ? "https" : "http";
    const char *h = http_req_header(req, "X-Forwarded-Host");
    size_t hl = h ? strcspn(h, ", ") : 0;
    if (!h || !host_ok(h, hl)) {
        h = http_req_header(req, "Host");
        hl = h ? strlen(h) : 0;
    }
    const char *g = server_group_prefix(srv);
    if (h && host_ok(h, hl)) {
        snprintf(out, cap, "%s://%.*s%s/big/upload/%s", proto, (int)hl, h, g, id);
    } else {
        const char *base = srv->cfg.host ? srv->cfg.host : "";
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        snprintf(out, cap, "%.*s%s/big/upload/%s", (int)bl, base, g, id);
    }
}

/* ---- request checks shared by the methods ---- */

static bool resumable_ok(struct http_req *req)
{
    const char *v = http_req_header(req, "Tus-Resumable");
    return v && strcmp(v, TUS_VERSION) == 0;
}

static bool offset_ct(struct http_req *req)
{
    const char *ct = http_req_header(req, "Content-Type");
    size_t n = strlen(OFFSET_CT);
    return ct && strncasecmp(ct, OFFSET_CT, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int header_num(struct http_req *req, const char *name, int64_t *out)
{
    const char *v = http_req_header(req, name);
    uint64_t n;
    if (!v)
        return -ENOENT;
    if (strparse_u64(v, strlen(v), (uint64_t)INT64_MAX, &n) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "%s must be a non-negative integer", name);
        return ERR_PARAM;
    }
    *out = (int64_t)n;
    return 0;
}

static bool ext_allowed(const struct server *srv, const char *name)
{
    if (srv->cfg.extensions.n == 0)
        return true;
    char ext[64];
    path_extension(name, ext, sizeof ext);
    for (size_t i = 0; i < srv->cfg.extensions.n; i++)
        if (strcmp(srv->cfg.extensions.v[i], ext) == 0)
            return true;
    return false;
}

static bool scene_allowed(const struct server *srv, const char *scene)
{
    if (srv->cfg.scenes.n == 0)
        return true;
    for (size_t i = 0; i < srv->cfg.scenes.n; i++) {
        const char *s = srv->cfg.scenes.v[i];
        const char *colon = strchr(s, ':');
        size_t l = colon ? (size_t)(colon - s) : strlen(s);
        if (strlen(scene) == l && strncmp(s, scene, l) == 0)
            return true;
    }
    return false;
}

/* The upload rules of POST /upload, applied at creation so a client learns early. */
static int check_metadata(struct server *srv, struct http_req *req, const struct tus_meta *m)
{
    if (m->has_filename && m->filename[0]) {
        char name[PATH_MAX_REL + 1];
        snprintf(name, sizeof name, "%s", path_basename(m->filename));
        if (srv->cfg.enable_trim_file_name_special_char)
            path_trim_special(name);
        if (name[0] && (strlen(name) > PATH_MAX_NAME || path_check_name(name) < 0)) {
            snprintf(req->errmsg, sizeof req->errmsg, "file name not allowed");
            return ERR_BADPATH;
        }
        if (!ext_allowed(srv, name[0] ? name : m->filename)) {
            snprintf(req->errmsg, sizeof req->errmsg, "(error)file extension mismatch");
            return ERR_FORBIDDEN;
        }
    } else if (srv->cfg.extensions.n) {
        /* the file would be named by its digest, without an extension to allow */
        snprintf(req->errmsg, sizeof req->errmsg,
                 "filename metadata is required: extensions are restricted");
        return ERR_FORBIDDEN;
    }
    const char *scene = m->has_scene && m->scene[0] ? m->scene : srv->cfg.default_scene;
    if (!scene || path_check_name(scene) < 0 || !scene_allowed(srv, scene)) {
        snprintf(req->errmsg, sizeof req->errmsg, "not valid scene");
        return ERR_SCENE;
    }
    uint64_t secs;
    if (m->has_ttl && (strparse_u64(m->ttl, strlen(m->ttl), 100ULL * 365 * 86400, &secs) < 0 ||
                       secs == 0)) {
        snprintf(req->errmsg, sizeof req->errmsg, "ttl must be a number of seconds > 0");
        return ERR_PARAM;
    }
    int rc = auth_google(srv, req, scene);
    if (rc)
        return rc;
    if (m->has_path && m->path[0] && srv->cfg.enable_custom_path) {
        char rel[PATH_MAX_REL + 1];
        if (path_normalize_rel(m->path, false, rel, sizeof rel) < 0) {
            snprintf(req->errmsg, sizeof req->errmsg, "path not allowed");
            return ERR_BADPATH;
        }
    }
    return 0;
}

/* ---- per-request state of POST and PATCH ---- */

struct treq {
    struct server *srv;
    struct tus *t;
    int status;               /* an answer decided before the body, sent by the handler */
    char msg[128];
    char id[TUS_ID_LEN + 1];
    bool held;
    struct tus_chunk *chunk;
    struct tus_info info;
    bool final;               /* POST Upload-Concat: final */
    char (*parts)[TUS_ID_LEN + 1];
    size_t nparts;
    char metadata[TUS_META_MAX + 1];
    bool finished;            /* PATCH on an upload that is already a file */
    bool finishing;           /* committed on a commit thread; the handler runs again */
    int finish_rc;
    struct http_req *req;
    struct file_info fi;      /* the stored file */
};

/* Ends the chunk (keeping what arrived when it was cut short) and lets the upload go. Done
 * before any answer is queued: a client that got its answer may send the next PATCH at
 * once, on another connection, before this request's cleanup has run. */
static void settle(struct treq *r)
{
    tus_chunk_end(r->chunk);
    r->chunk = NULL;
    if (r->held)
        tus_release(r->t, r->id);
    r->held = false;
}

static void defer(struct treq *r, int status, const char *msg)
{
    r->status = status;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static int begin_common(struct http_req *req, struct server *srv, struct treq **out)
{
    struct tus *t = tus_for(srv, true, false);
    if (!t)
        return ERR_NOTFOUND;
    struct treq *r = xcalloc(1, sizeof *r);
    r->srv = srv;
    r->t = t;
    req->state = r;
    *out = r;
    if (!resumable_ok(req)) {
        defer(r, 412, "Tus-Resumable: " TUS_VERSION " is required");
        return 1;
    }
    if (srv->cfg.read_only)
        return ERR_READONLY;
    /* auth_url guards creation (the Auth-Token header as for POST /upload, or go-fastdfs's
     * auth_token metadata); the upload's unguessable URL is the capability after that */
    if (req->method != HTTP_POST)
        return 0;
    struct tus_meta m;
    const char *md = http_req_header(req, "Upload-Metadata");
    memset(&m, 0, sizeof m);
    if (md && strlen(md) <= TUS_META_MAX)
        (void)tus_meta_parse(md, strlen(md), &m); /* a bad header is refused later */
    return auth_upload_token(srv, req, m.has_auth_token ? m.auth_token : NULL);
}

/* A PATCH to an upload that already became a file: done when the offsets agree. */
static int patch_finished(struct treq *r, struct http_req *req, int64_t offset)
{
    char pk[DIGEST_HEX_MAX];
    if (tus_done_pathkey(r->t, r->id, pk) < 0 || meta_get_path(r->srv->meta, pk, &r->fi) < 0)
        return -ENOENT;
    if (offset != r->fi.size) {
        snprintf(req->errmsg, sizeof req->errmsg, "upload is complete at offset %lld",
                 (long long)r->fi.size);
        return ERR_CONFLICT;
    }
    r->finished = true;
    defer(r, 204, "");
    return 0;
}

/* The chunk of a held upload; a PATCH to a finished one is answered from its record. */
static int patch_chunk(struct treq *r, struct http_req *req, const struct tus_chunk_args *a,
                       int64_t off)
{
    int rc = tus_chunk_begin(r->t, r->id, a, &r->chunk);
    if (rc == -ENOENT)
        return patch_finished(r, req, off);
    if (rc == ERR_CONFLICT)
        snprintf(req->errmsg, sizeof req->errmsg, "Upload-Offset %lld is not the upload's offset",
                 (long long)off);
    else if (rc == ERR_DELETED)
        snprintf(req->errmsg, sizeof req->errmsg, "upload expired or terminated");
    else if (rc == ERR_FORBIDDEN)
        snprintf(req->errmsg, sizeof req->errmsg, "a final upload cannot be patched");
    if (rc < 0)
        return rc;
    if (req->has_length && req->content_length > tus_chunk_room(r->chunk)) {
        snprintf(req->errmsg, sizeof req->errmsg, "chunk goes past the upload's length");
        return ERR_TOOBIG;
    }
    return 0;
}

static int patch_begin(struct http_req *req, struct server *srv)
{
    struct treq *r;
    int rc = begin_common(req, srv, &r);
    if (rc)
        return rc < 0 ? rc : 0;
    if (!tus_id_valid(req->route_rest))
        return ERR_NOTFOUND;
    memcpy(r->id, req->route_rest, TUS_ID_LEN + 1);
    if (!offset_ct(req)) {
        defer(r, 415, "Content-Type must be " OFFSET_CT);
        return 0;
    }
    struct tus_chunk_args a = {.length = -1};
    int64_t off;
    if ((rc = header_num(req, "Upload-Offset", &off)) < 0) {
        if (rc == -ENOENT)
            snprintf(req->errmsg, sizeof req->errmsg, "Upload-Offset is required");
        return ERR_PARAM;
    }
    a.offset = (uint64_t)off;
    if ((rc = header_num(req, "Upload-Length", &a.length)) < 0 && rc != -ENOENT)
        return rc;
    const char *sum = http_req_header(req, "Upload-Checksum");
    if (sum) {
        rc = tus_checksum_parse(sum, &a.sum_algo, a.sum, &a.sumlen);
        if (rc < 0) {
            snprintf(req->errmsg, sizeof req->errmsg,
                     rc == -ENOTSUP ? "checksum algorithm not supported (md5, sha1)"
                                    : "Upload-Checksum must be '<md5|sha1> <base64>'");
            return ERR_PARAM;
        }
        a.has_sum = true;
    }
    rc = tus_acquire(r->t, r->id);
    if (rc == -EBUSY) {
        defer(r, 423, "another request is writing to this upload");
        return 0;
    }
    if (rc < 0)
        return rc;
    r->held = true;
    rc = patch_chunk(r, req, &a, off);
    if (rc < 0)
        settle(r);
    return rc;
}

/* Upload-Length / Upload-Defer-Length of a creation (final uploads have neither). */
static int creation_length(struct http_req *req, int64_t *len)
{
    const char *defer_len = http_req_header(req, "Upload-Defer-Length");
    int rc = header_num(req, "Upload-Length", len);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (defer_len) {
        if (rc == 0 || strcmp(defer_len, "1") != 0) {
            snprintf(req->errmsg, sizeof req->errmsg,
                     "Upload-Defer-Length must be 1 and comes without Upload-Length");
            return ERR_PARAM;
        }
        *len = -1;
        return 0;
    }
    if (rc == -ENOENT) {
        snprintf(req->errmsg, sizeof req->errmsg,
                 "Upload-Length or Upload-Defer-Length: 1 is required");
        return ERR_PARAM;
    }
    return 0;
}

static int post_begin(struct http_req *req, struct server *srv)
{
    struct treq *r;
    int rc = begin_common(req, srv, &r);
    if (rc)
        return rc < 0 ? rc : 0;
    if (req->route_rest[0])
        return ERR_NOTFOUND; /* uploads are created at the base URL */
    const char *md = http_req_header(req, "Upload-Metadata");
    struct tus_meta m;
    if (md && strlen(md) > TUS_META_MAX) {
        snprintf(req->errmsg, sizeof req->errmsg, "Upload-Metadata over %d bytes",
                 TUS_META_MAX);
        return ERR_PARAM;
    }
    if (tus_meta_parse(md, md ? strlen(md) : 0, &m) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg,
                 "Upload-Metadata must be 'key base64' pairs separated by commas");
        return ERR_PARAM;
    }
    snprintf(r->metadata, sizeof r->metadata, "%s", md ? md : "");
    enum tus_concat kind = TUS_CONCAT_NONE;
    const char *concat = http_req_header(req, "Upload-Concat");
    if (concat) {
        r->parts = xcalloc(TUS_PARTS_MAX, sizeof *r->parts);
        if (tus_concat_parse(concat, &kind, r->parts, TUS_PARTS_MAX, &r->nparts) < 0) {
            snprintf(req->errmsg, sizeof req->errmsg,
                     "Upload-Concat must be 'partial' or 'final;<url> <url>...' (at most %d)",
                     TUS_PARTS_MAX);
            return ERR_PARAM;
        }
    }
    if (kind != TUS_CONCAT_PARTIAL && (rc = check_metadata(srv, req, &m)) < 0)
        return rc;
    if (kind == TUS_CONCAT_FINAL) {
        r->final = true; /* joined by the handler: the request has no body to wait for */
        return 0;
    }
    int64_t len;
    if ((rc = creation_length(req, &len)) < 0)
        return rc;
    uint64_t max = srv->cfg.max_upload_size > 0 ? (uint64_t)srv->cfg.max_upload_size : 0;
    if (max && len > 0 && (uint64_t)len > max) {
        snprintf(req->errmsg, sizeof req->errmsg, "upload larger than max_upload_size (%llu)",
                 (unsigned long long)max);
        return ERR_TOOBIG;
    }
    if (len == 0 && kind == TUS_CONCAT_NONE)
        return ERR_EMPTY;
    bool with_body = req->has_body && offset_ct(req);
    if (with_body && len >= 0 && req->has_length && req->content_length > (uint64_t)len) {
        snprintf(req->errmsg, sizeof req->errmsg, "body longer than Upload-Length");
        return ERR_TOOBIG;
    }
    if ((rc = tus_create(r->t, len, r->metadata, kind, &r->info)) < 0)
        return rc;
    memcpy(r->id, r->info.id, sizeof r->id);
    r->held = true;
    if (with_body) {
        struct tus_chunk_args a = {.offset = 0, .length = -1};
        const char *sum = http_req_header(req, "Upload-Checksum");
        if (sum && tus_checksum_parse(sum, &a.sum_algo, a.sum, &a.sumlen) == 0)
            a.has_sum = true;
        if ((rc = tus_chunk_begin(r->t, r->id, &a, &r->chunk)) < 0) {
            settle(r);
            return rc;
        }
    }
    return 0;
}

static int tus_begin(struct http_req *req, struct server *srv)
{
    return req->method == HTTP_PATCH ? patch_begin(req, srv) : post_begin(req, srv);
}

static int tus_data(struct http_req *req, const char *p, size_t n)
{
    struct treq *r = req->state;
    if (!r || r->status || !r->chunk)
        return 0; /* a decided answer or a body we do not keep: drained */
    int rc = tus_chunk_write(r->chunk, p, n);
    if (rc == ERR_TOOBIG)
        snprintf(req->errmsg, sizeof req->errmsg, "chunk goes past the upload's length");
    if (rc < 0)
        settle(r); /* the error is answered once the body is drained */
    return rc;
}

static void tus_cleanup(struct http_req *req)
{
    struct treq *r = req->state;
    if (!r)
        return;
    settle(r); /* an interrupted body keeps what arrived */
    free(r->parts);
    free(r);
    req->state = NULL;
}

const struct route_stream api_tus_stream = {tus_begin, tus_data, tus_cleanup};

/* ---- handlers ---- */

/* A whole upload is committed on a commit thread while the request is parked (as POST
 * /upload does): durable commits share their syncs and the HTTP thread goes on serving.
 * The upload stays held until the answer is built. */
static void finish_job(void *arg)
{
    struct treq *r = arg;
    r->finish_rc = finish(r->srv, r->t, r->id, r->req, &r->fi);
    http_req_resume(r->req);
}

static int start_finish(struct treq *r, struct http_req *req)
{
    r->finishing = true;
    r->req = req;
    http_req_suspend(req);
    if (!r->srv->commitq || workq_submit(r->srv->commitq, finish_job, r) < 0)
        finish_job(r); /* no queue or a full one: here (it resumes the parked request) */
    return ERR_SUSPENDED;
}

static void upload_headers(struct http_reply *rep, const struct tus_info *info)
{
    header_u64(rep, "Upload-Offset", info->offset);
    if (!tus_info_complete(info))
        header_expires(rep, info->expires);
}

static int patch_end(struct treq *r, struct http_req *req, struct http_reply *rep)
{
    if (r->status == 204 && r->finished) {
        reply_empty(rep, 204);
        header_u64(rep, "Upload-Offset", (uint64_t)r->fi.size);
        header_file(r->srv, req, rep, &r->fi);
        return 0;
    }
    if (!r->finishing) {
        int rc = tus_chunk_commit(r->chunk, &r->info);
        if (rc == ERR_DIGEST)
            return reply_fail(rep, STATUS_CHECKSUM, "Upload-Checksum does not match the chunk");
        if (rc < 0)
            return rc;
        if (tus_info_complete(&r->info))
            return start_finish(r, req);
    } else if (r->finish_rc < 0) {
        return r->finish_rc;
    }
    reply_empty(rep, 204);
    upload_headers(rep, &r->info);
    if (r->finishing)
        header_file(r->srv, req, rep, &r->fi);
    return 0;
}

/* Joins the partial uploads of an Upload-Concat: final creation. */
static int concat_final(struct treq *r, struct http_req *req, struct http_reply *rep)
{
    int rc = tus_concat_final(r->t, r->parts, r->nparts, r->metadata, &r->info);
    if (rc == -EBUSY)
        return reply_fail(rep, 423, "a partial upload is in use");
    if (rc == ERR_PARAM)
        snprintf(req->errmsg, sizeof req->errmsg,
                 "every part must be a complete partial upload, listed once");
    else if (rc == -ENOENT)
        snprintf(req->errmsg, sizeof req->errmsg, "unknown partial upload");
    else if (rc == ERR_DELETED)
        snprintf(req->errmsg, sizeof req->errmsg, "a partial upload expired or was terminated");
    if (rc < 0)
        return rc;
    memcpy(r->id, r->info.id, sizeof r->id);
    r->held = true;
    return 0;
}

static int post_end(struct treq *r, struct http_req *req, struct http_reply *rep)
{
    char url[1024];
    int rc;
    upload_url(r->srv, req, r->id, url, sizeof url);
    if (!r->finishing) {
        if (r->final) {
            if ((rc = concat_final(r, req, rep)) != 0 || rep->status)
                return rc;
            upload_url(r->srv, req, r->id, url, sizeof url);
        } else if (r->chunk && (rc = tus_chunk_commit(r->chunk, &r->info)) < 0) {
            if (rc != ERR_DIGEST)
                return rc;
            reply_fail(rep, STATUS_CHECKSUM, "Upload-Checksum does not match the body");
            http_reply_header(rep, "Location", url);
            return 0;
        }
        if (tus_info_complete(&r->info))
            return start_finish(r, req);
    } else if (r->finish_rc < 0) {
        return r->finish_rc;
    }
    reply_empty(rep, 201);
    http_reply_header(rep, "Location", url);
    upload_headers(rep, &r->info);
    if (r->finishing)
        header_file(r->srv, req, rep, &r->fi);
    return 0;
}

static int do_options(struct server *srv, struct http_reply *rep)
{
    reply_empty(rep, 204);
    http_reply_header(rep, "Tus-Version", TUS_VERSION);
    http_reply_header(rep, "Tus-Extension", TUS_EXTENSIONS);
    http_reply_header(rep, "Tus-Checksum-Algorithm", "md5,sha1");
    if (srv->cfg.max_upload_size > 0)
        header_u64(rep, "Tus-Max-Size", (uint64_t)srv->cfg.max_upload_size);
    return 0;
}

/* The record a finished upload became, if any. */
static int done_record(struct server *srv, struct tus *t, const char *id, struct file_info *fi)
{
    char pk[DIGEST_HEX_MAX];
    int rc = tus_done_pathkey(t, id, pk);
    return rc ? rc : meta_get_path(srv->meta, pk, fi);
}

static int do_head(struct server *srv, struct tus *t, struct http_req *req,
                   struct http_reply *rep)
{
    const char *id = req->route_rest;
    struct tus_info info;
    struct file_info fi;
    int rc = tus_get(t, id, &info);
    if (rc == 0 && tus_info_complete(&info) && tus_acquire(t, id) == 0) {
        /* complete but not stored (a failed commit or a crash): try again now */
        rc = finish(srv, t, id, req, &fi);
        tus_release(t, id);
        if (rc < 0)
            log_warn("tus", "complete upload %s not stored: %s", id,
                     req->errmsg[0] ? req->errmsg : errcode_str(rc));
        rc = tus_get(t, id, &info);
    }
    if (rc == -ENOENT && done_record(srv, t, id, &fi) == 0) {
        reply_empty(rep, 200);
        header_u64(rep, "Upload-Offset", (uint64_t)fi.size);
        header_u64(rep, "Upload-Length", (uint64_t)fi.size);
        http_reply_header(rep, "Cache-Control", "no-store");
        header_file(srv, req, rep, &fi);
        return 0;
    }
    if (rc == -ENOENT || rc == ERR_DELETED) {
        reply_empty(rep, rc == -ENOENT ? 404 : 410);
        http_reply_header(rep, "Cache-Control", "no-store");
        return 0;
    }
    if (rc < 0)
        return rc;
    reply_empty(rep, 200);
    http_reply_header(rep, "Cache-Control", "no-store");
    header_u64(rep, "Upload-Offset", info.offset);
    if (info.length >= 0)
        header_u64(rep, "Upload-Length", (uint64_t)info.length);
    else
        http_reply_header(rep, "Upload-Defer-Length", "1");
    if (info.metadata[0])
        http_reply_header(rep, "Upload-Metadata", info.metadata);
    if (info.concat != TUS_CONCAT_NONE)
        http_reply_header(rep, "Upload-Concat",
                          info.concat == TUS_CONCAT_PARTIAL ? "partial" : "final");
    header_expires(rep, info.expires);
    return 0;
}

static int do_delete(struct server *srv, struct tus *t, struct http_req *req,
                     struct http_reply *rep)
{
    const char *id = req->route_rest;
    struct file_info fi;
    int rc = tus_acquire(t, id);
    if (rc == -EBUSY)
        return reply_fail(rep, 423, "another request is writing to this upload");
    if (rc < 0)
        return rc;
    rc = tus_terminate(t, id);
    tus_release(t, id);
    if (rc == 0) {
        reply_empty(rep, 204);
        return 0;
    }
    if (rc == -ENOENT && done_record(srv, t, id, &fi) == 0)
        return reply_fail(rep, 410, "upload finished: its file is removed with /delete");
    if (rc == ERR_DELETED)
        return reply_fail(rep, 410, "upload expired or terminated");
    return rc;
}

/* Not part of tus: a finished upload's URL redirects to its file (download rules apply
 * there); an unfinished one is never served. */
static int do_get(struct server *srv, struct tus *t, struct http_req *req,
                  struct http_reply *rep)
{
    struct file_info fi;
    if (done_record(srv, t, req->route_rest, &fi) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "no finished upload with this id");
        return ERR_NOTFOUND;
    }
    json_t *res = api_file_result(srv, req, &fi);
    const char *url = json_string_value(json_object_get(res, "url"));
    http_reply_text(rep, 307, url ? url : "");
    if (url)
        http_reply_header(rep, "Location", url);
    json_decref(res);
    return 0;
}

int api_tus(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    struct treq *r = req->state;
    if (req->method == HTTP_PATCH || req->method == HTTP_POST) {
        if (!r)
            return ERR_NOTFOUND;
        int rc;
        if (r->status && !r->finished)
            rc = reply_fail(rep, r->status, r->msg);
        else
            rc = req->method == HTTP_PATCH ? patch_end(r, req, rep) : post_end(r, req, rep);
        if (rc != ERR_SUSPENDED)
            settle(r);
        return rc;
    }
    struct tus *t = tus_for(srv, true, false);
    if (!t)
        return ERR_NOTFOUND;
    if (req->method == HTTP_OPTIONS)
        return do_options(srv, rep);
    if (req->method != HTTP_GET && !resumable_ok(req))
        return reply_fail(rep, 412, "Tus-Resumable: " TUS_VERSION " is required");
    if (!tus_id_valid(req->route_rest)) {
        if (req->method == HTTP_HEAD) {
            reply_empty(rep, 404);
            return 0;
        }
        return ERR_NOTFOUND;
    }
    switch (req->method) {
    case HTTP_HEAD:
        return do_head(srv, t, req, rep);
    case HTTP_DELETE:
        return do_delete(srv, t, req, rep);
    default:
        return do_get(srv, t, req, rep);
    }
}
