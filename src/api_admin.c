/* Admin endpoints that act on the node as a whole: index repair, configuration reload,
 * empty-directory clean-up, metadata backup and the Google secret helpers. */
#include "api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "content.h"
#include "errcode.h"
#include "fileinfo.h"
#include "lifecycle.h"
#include "meta.h"
#include "path.h"
#include "store.h"
#include "strparse.h"
#include "token.h"
#include "xalloc.h"

#include "http_reply.h"
#include "server.h"

/* {"data":{key:n}} for the endpoints that report how many things they did (n < 0: the
 * error to reply). */
static int reply_count(struct http_reply *rep, long long n, const char *key, const char *msg)
{
    if (n < 0)
        return (int)n;
    json_t *d = json_object();
    json_object_set_new(d, key, json_integer(n));
    http_reply_ok(rep, d, msg);
    return 0;
}

int api_repair_fileinfo(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    return reply_count(rep, server_rebuild_meta(srv), "files", "repair finished");
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

/* ---- reload: go-fastdfs's get / set / reload of cfg.json ---- */

#define REDACTED "***"
static const char *const secret_keys[] = {"admin_key", "cluster_secret",
                                          "download_token_secret", "mail_password"};

/* A cfg posted back from action=get carries "***" for the secrets: keep the live values. */
static void keep_redacted(struct cfg *c, const struct cfg *live)
{
    char **fields[] = {&c->admin_key, &c->cluster_secret, &c->download_token_secret,
                       &c->mail_password};
    char *const livev[] = {live->admin_key, live->cluster_secret, live->download_token_secret,
                           live->mail_password};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (*fields[i] && strcmp(*fields[i], REDACTED) == 0) {
            free(*fields[i]);
            *fields[i] = xstrdup(livev[i] ? livev[i] : "");
        }
    for (size_t i = 0; i < c->scenes.n; i++) {
        const char *colon = strchr(c->scenes.v[i], ':');
        if (!colon || strcmp(colon + 1, REDACTED) != 0)
            continue;
        size_t nl = (size_t)(colon - c->scenes.v[i]);
        for (size_t k = 0; k < live->scenes.n; k++)
            if (strncmp(live->scenes.v[k], c->scenes.v[i], nl + 1) == 0) {
                free(c->scenes.v[i]);
                c->scenes.v[i] = xstrdup(live->scenes.v[k]);
                break;
            }
    }
}

static json_t *redacted_cfg(const struct cfg *c)
{
    char *text = cfg_to_json(c);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!o)
        return json_null();
    /* secrets never leave the node, even to an admin (they are in the file) */
    for (size_t i = 0; i < sizeof secret_keys / sizeof secret_keys[0]; i++)
        if (json_string_length(json_object_get(o, secret_keys[i])))
            json_object_set_new(o, secret_keys[i], json_string(REDACTED));
    json_t *scenes = json_object_get(o, "scenes"), *sc;
    size_t k;
    json_array_foreach(scenes, k, sc) {
        const char *v = json_string_value(sc);
        const char *colon = v ? strchr(v, ':') : NULL;
        if (colon) {
            char name[300];
            snprintf(name, sizeof name, "%.*s:%s", (int)(colon - v), v, REDACTED);
            json_array_set_new(scenes, k, json_string(name));
        }
    }
    return o;
}

int api_reload(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *action = http_req_arg(req, "action");
    char err[2048] = "";
    if (!action || !*action) {
        snprintf(req->errmsg, sizeof req->errmsg, "action must be get, set or reload");
        return ERR_PARAM;
    }
    if (strcmp(action, "get") == 0) {
        http_reply_ok(rep, redacted_cfg(&srv->cfg), "");
        return 0;
    }
    if (strcmp(action, "set") == 0) {
        const char *text = http_req_arg(req, "cfg");
        struct cfg c;
        if (!text) {
            snprintf(req->errmsg, sizeof req->errmsg, "cfg (the new cfg.json) is required");
            return ERR_PARAM;
        }
        cfg_defaults(&c);
        int rc = cfg_parse_buf(&c, text, strlen(text), err, sizeof err);
        if (rc == 0)
            keep_redacted(&c, &srv->cfg);
        if (rc == 0)
            rc = cfg_validate(&c, err, sizeof err);
        if (rc == 0)
            rc = cfg_save(&c, srv->cfg_path) < 0 ? -EIO : 0;
        cfg_fini(&c);
        if (rc) {
            snprintf(req->errmsg, sizeof req->errmsg, "%.250s", err[0] ? err : "cannot save");
            return rc == -EIO ? -EIO : ERR_PARAM;
        }
        http_reply_ok(rep, NULL, "saved; call action=reload to apply");
        return 0;
    }
    if (strcmp(action, "reload") == 0) {
        struct cfg next;
        memset(&next, 0, sizeof next);
        if (cfg_load(&next, srv->cfg_path, err, sizeof err) < 0) {
            snprintf(req->errmsg, sizeof req->errmsg, "%.250s", err);
            return ERR_PARAM;
        }
        char applied[1024], restart[1024];
        cfg_reload_apply(&srv->cfg, &next, applied, sizeof applied, restart, sizeof restart);
        cfg_fini(&next);
        json_t *d = json_object();
        json_object_set_new(d, "applied", json_string(applied));
        json_object_set_new(d, "needs_restart", json_string(restart));
        http_reply_ok(rep, d, restart[0] ? "some changes need a restart" : "reloaded");
        return 0;
    }
    snprintf(req->errmsg, sizeof req->errmsg, "action must be get, set or reload");
    return ERR_PARAM;
}

/* ---- remove_empty_dir ---- */

#define EMPTY_DIR_AGE_S 120 /* a directory this young may be about to receive an upload */

static int prune(int dfd, int depth, time_t now, long long *removed)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        entries++;
        struct stat st;
        if (depth > 32 || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        int left = prune(sub, depth + 1, now, removed);
        if (left == 0 && now - st.st_mtime >= EMPTY_DIR_AGE_S &&
            unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0) {
            (*removed)++;
            entries--;
        }
    }
    closedir(d);
    return entries;
}

int api_remove_empty_dir(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    long long removed = 0;
    /* its own descriptor: a dup would share the read position with other listings */
    int fd = openat(store_files_fd(srv->store), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    prune(fd, 0, time(NULL), &removed);
    return reply_count(rep, removed, "removed", "");
}

/* ---- compact: reclaim the space of deleted small files ---- */

int api_compact(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    uint64_t pct = (uint64_t)srv->cfg.merge_compact_percent;
    const char *p = http_req_arg(req, "percent");
    if (p && *p && (strparse_u64(p, strlen(p), 100, &pct) < 0 || pct == 0)) {
        snprintf(req->errmsg, sizeof req->errmsg, "percent must be a number from 1 to 100");
        return ERR_PARAM;
    }
    http_reply_ok(rep, content_compact(srv, (int)pct), "");
    return 0;
}

/* ---- backup: one day's records as JSON lines in data/backup/<date>.jsonl ---- */

struct backup_ctx {
    struct server *srv;
    FILE *f;
    long long n;
};

static int backup_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v;
    (void)vl;
    struct backup_ctx *b = ctx;
    char pk[DIGEST_HEX_MAX];
    if (meta_day_key_pathkey(k, kl, pk) < 0)
        return 0;
    struct file_info fi;
    if (meta_get_path(b->srv->meta, pk, &fi) < 0)
        return 0;
    size_t len;
    char *t = fileinfo_to_text(&fi, &len);
    if (t) {
        fprintf(b->f, "%s\n", t);
        b->n++;
    }
    free(t);
    return 0;
}

int api_backup(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *date = http_req_arg(req, "date");
    char day[9];
    if (!date || !*date) {
        path_day(time(NULL), day, sizeof day);
    } else {
        if (strlen(date) != 8 || strspn(date, "0123456789") != 8) {
            snprintf(req->errmsg, sizeof req->errmsg, "date must be yyyymmdd");
            return ERR_PARAM;
        }
        memcpy(day, date, 9);
    }
    char dir[1300], path[1400], tmp[1420], prefix[32];
    snprintf(dir, sizeof dir, "%s/data/backup", srv->root);
    if (mkdir(dir, 0775) < 0 && errno != EEXIST)
        return -errno;
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, day);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct backup_ctx b = {srv, fopen(tmp, "we"), 0};
    if (!b.f)
        return -errno;
    snprintf(prefix, sizeof prefix, "t/%s/", day);
    int rc = meta_kv_scan(srv->meta, prefix, backup_cb, &b);
    if (fflush(b.f) != 0 || fsync(fileno(b.f)) != 0)
        rc = rc ? rc : -EIO;
    fclose(b.f);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    json_t *d = json_object();
    char relp[64];
    snprintf(relp, sizeof relp, "data/backup/%s.jsonl", day);
    json_object_set_new(d, "file", json_string(relp));
    json_object_set_new(d, "records", json_integer(b.n));
    http_reply_ok(rep, d, "backup written");
    return 0;
}

/* ---- lifecycle: expire now, delete by day or prefix ---- */

int api_expire(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    return reply_count(rep, lifecycle_expire_now(srv), "deleted", "");
}

int api_delete_many(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *date = http_req_arg(req, "date");
    const char *prefix = http_req_arg(req, "prefix");
    const char *max = http_req_arg(req, "max");
    uint64_t limit = 100000;
    char rel[PATH_MAX_REL + 1];
    if ((!date || !*date) == (!prefix || !*prefix)) {
        snprintf(req->errmsg, sizeof req->errmsg, "give exactly one of date or prefix");
        return ERR_PARAM;
    }
    if (date && *date && (strlen(date) != 8 || strspn(date, "0123456789") != 8)) {
        snprintf(req->errmsg, sizeof req->errmsg, "date must be yyyymmdd");
        return ERR_PARAM;
    }
    /* a prefix is a path below files/, confined like any other */
    if (prefix && *prefix && path_normalize_rel(prefix, false, rel, sizeof rel) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "prefix not allowed");
        return ERR_BADPATH;
    }
    if (max && strparse_u64(max, strlen(max), 10000000, &limit) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "max must be a number");
        return ERR_PARAM;
    }
    return reply_count(rep,
                       lifecycle_delete_matching(srv, date && *date ? date : NULL,
                                                 prefix && *prefix ? rel : NULL,
                                                 (long long)limit),
                       "deleted", "");
}
