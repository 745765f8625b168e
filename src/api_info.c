/* Read-only endpoints over the index and the store: get_file_info, check_file_exist(s),
 * stat, status, list_dir, search and healthz, with go-fastdfs's field names. */
#include "api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "build_info.h"
#include "errcode.h"
#include "filecache.h"
#include "fileinfo.h"
#include "http_reply.h"
#include "http_server.h"
#include "meta.h"
#include "path.h"
#include "server.h"
#include "store.h"
#include "strparse.h"
#include "sync.h"
#include "xalloc.h"

#define SEARCH_MAX 100
#define LIST_MAX 10000
#define CHECK_MANY_MAX 1000

static bool live(struct server *srv, const struct file_info *fi)
{
    char rel[PATH_MAX_REL + 8];
    struct stat st;
    return fileinfo_rel(fi, rel, sizeof rel) == 0 && store_stat(srv->store, rel, &st) == 0 &&
           S_ISREG(st.st_mode);
}

int api_get_file_info(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    struct file_info fi;
    int rc = api_lookup(srv, req, &fi);
    if (rc)
        return rc;
    http_reply_ok(rep, fileinfo_to_json(&fi), "");
    return 0;
}

int api_check_file_exist(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    struct file_info fi;
    int rc = api_lookup(srv, req, &fi);
    if (rc)
        return rc;
    if (!live(srv, &fi))
        return -ENOENT;
    http_reply_json_compact(rep, 200, fileinfo_to_json(&fi));
    return 0;
}

int api_check_files_exist(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *list = http_req_arg(req, "md5s");
    if (!list || !*list) {
        snprintf(req->errmsg, sizeof req->errmsg, "md5s is required");
        return ERR_PARAM;
    }
    json_t *arr = json_array();
    const char *p = list;
    int n = 0;
    while (*p && n < CHECK_MANY_MAX) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char one[DIGEST_HEX_MAX];
        if (l > 0 && l < sizeof one) {
            for (size_t i = 0; i < l; i++)
                one[i] = (char)((p[i] >= 'A' && p[i] <= 'F') ? p[i] + 32 : p[i]);
            one[l] = '\0';
            struct file_info fi;
            if (meta_find_digest(srv->meta, one, &fi, 1) == 1 && live(srv, &fi))
                json_array_append_new(arr, fileinfo_to_json(&fi));
        }
        n++;
        p = comma ? comma + 1 : p + l;
    }
    http_reply_ok(rep, arr, "");
    return 0;
}

struct stat_ctx {
    json_t *rows;
    long long count, bytes;
};

static int stat_day(void *ctx, const char *day, long long count, long long bytes)
{
    struct stat_ctx *s = ctx;
    json_t *row = json_object();
    json_object_set_new(row, "date", json_string(day));
    json_object_set_new(row, "fileCount", json_integer(count));
    json_object_set_new(row, "totalSize", json_integer(bytes));
    json_array_append_new(s->rows, row);
    s->count += count;
    s->bytes += bytes;
    return 0;
}

/* Per-scene statistics walk the records (the day index does not know scenes). */
struct scene_stat {
    const char *scene;
    char days[4096][9];
    long long count[4096], bytes[4096];
    size_t n;
};

static int scene_cb(void *ctx, const struct file_info *fi)
{
    struct scene_stat *s = ctx;
    if (strcmp(fi->scene, s->scene) != 0)
        return 0;
    char d[16];
    path_day((time_t)fi->timestamp, d, sizeof d);
    size_t i;
    for (i = 0; i < s->n && strcmp(s->days[i], d) != 0; i++)
        ;
    if (i == s->n) {
        if (s->n == sizeof s->days / sizeof s->days[0])
            return 0; /* bounded: more than ~11 years of days */
        memcpy(s->days[s->n++], d, 9);
    }
    s->count[i]++;
    s->bytes[i] += fi->size;
    return 0;
}

static int cmp_day(const void *a, const void *b)
{
    return strcmp(a, b);
}

int api_stat(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *scene = http_req_arg(req, "scene");
    if (scene && *scene) {
        struct scene_stat *ss = xcalloc(1, sizeof *ss);
        ss->scene = scene;
        int rc = meta_scan(srv->meta, scene_cb, ss);
        if (rc < 0) {
            free(ss);
            return rc;
        }
        /* sort the days, carrying their counters along */
        struct scene_stat *sorted = xcalloc(1, sizeof *sorted);
        memcpy(sorted->days, ss->days, sizeof ss->days);
        qsort(sorted->days, ss->n ? ss->n : 1, sizeof sorted->days[0], cmp_day);
        struct stat_ctx s = {json_array(), 0, 0};
        for (size_t i = 0; i < ss->n; i++)
            for (size_t k = 0; k < ss->n; k++)
                if (strcmp(sorted->days[i], ss->days[k]) == 0)
                    stat_day(&s, ss->days[k], ss->count[k], ss->bytes[k]);
        free(sorted);
        free(ss);
        json_t *all = json_object();
        json_object_set_new(all, "date", json_string("all"));
        json_object_set_new(all, "fileCount", json_integer(s.count));
        json_object_set_new(all, "totalSize", json_integer(s.bytes));
        json_array_append_new(s.rows, all);
        http_reply_ok(rep, s.rows, scene);
        return 0;
    }
    struct stat_ctx s = {json_array(), 0, 0};
    int rc = meta_scan_days(srv->meta, stat_day, &s);
    if (rc < 0) {
        json_decref(s.rows);
        return rc;
    }
    json_t *all = json_object();
    json_object_set_new(all, "date", json_string("all"));
    json_object_set_new(all, "fileCount", json_integer(s.count));
    json_object_set_new(all, "totalSize", json_integer(s.bytes));
    json_array_append_new(s.rows, all);
    http_reply_ok(rep, s.rows, "");
    return 0;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long pages = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

int api_status(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    json_t *d = json_object();
    json_object_set_new(d, "Fs.Local", json_string(srv->cfg.host ? srv->cfg.host : ""));
    json_t *peers = json_array();
    for (size_t i = 0; i < srv->cfg.peers.n; i++)
        json_array_append_new(peers, json_string(srv->cfg.peers.v[i]));
    json_object_set_new(d, "Fs.Peers", peers);
    json_object_set_new(d, "Fs.Group", json_string(srv->cfg.group));
    json_object_set_new(d, "Fs.ShowDir", json_boolean(srv->cfg.show_dir));
    json_object_set_new(d, "Fs.AutoRepair", json_boolean(srv->cfg.auto_repair));
    json_object_set_new(d, "Fs.RefreshInterval", json_integer(srv->cfg.refresh_interval));
    json_object_set_new(d, "Fs.Version", json_string(FS_VERSION));
    json_object_set_new(d, "Fs.Uptime", json_integer((json_int_t)(time(NULL) - srv->started)));
    json_object_set_new(d, "Fs.Uploads", json_integer(atomic_load(&srv->uploads)));
    json_object_set_new(d, "Fs.Downloads", json_integer(atomic_load(&srv->downloads)));
    json_object_set_new(d, "Fs.Errors", json_integer(atomic_load(&srv->errors)));
    json_object_set_new(d, "Fs.InFlight", json_integer(http_server_inflight(srv->http)));
    json_object_set_new(d, "Fs.PeerStatus", sync_status_json(srv));
    json_object_set_new(d, "Sys.NumCpu", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(d, "Sys.RssKiB", json_integer(rss_kib()));
    struct statvfs vf;
    if (fstatvfs(store_files_fd(srv->store), &vf) == 0) {
        json_t *disk = json_object();
        unsigned long long total = (unsigned long long)vf.f_blocks * vf.f_frsize;
        unsigned long long avail = (unsigned long long)vf.f_bavail * vf.f_frsize;
        json_object_set_new(disk, "total", json_integer((json_int_t)total));
        json_object_set_new(disk, "free", json_integer((json_int_t)avail));
        json_object_set_new(disk, "used", json_integer((json_int_t)(total - avail)));
        json_object_set_new(d, "Sys.DiskInfo", disk);
    }
    http_reply_ok(rep, d, "");
    return 0;
}

int api_healthz(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    (void)srv;
    http_reply_ok(rep, NULL, "ok");
    return 0;
}

int api_list_dir(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *dir = http_req_arg(req, "dir");
    char rel[PATH_MAX_REL + 1];
    if (path_normalize_rel(dir ? dir : "", true, rel, sizeof rel) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "dir not allowed");
        return ERR_BADPATH;
    }
    int fd = -1;
    struct stat st;
    int rc = store_open_read(srv->store, rel, &fd, &st);
    if (rc < 0)
        return rc == -ELOOP ? -ENOENT : rc;
    if (!S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(req->errmsg, sizeof req->errmsg, "not a directory");
        return ERR_PARAM;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    /* pagination: offset and limit over the directory's entries in readdir order */
    uint64_t off = 0, lim = LIST_MAX;
    const char *os = http_req_arg(req, "offset"), *ls = http_req_arg(req, "limit");
    if ((os && strparse_u64(os, strlen(os), UINT32_MAX, &off) < 0) ||
        (ls && strparse_u64(ls, strlen(ls), LIST_MAX, &lim) < 0)) {
        closedir(d);
        snprintf(req->errmsg, sizeof req->errmsg, "offset and limit must be numbers (limit <= %d)",
                 LIST_MAX);
        return ERR_PARAM;
    }
    json_t *arr = json_array();
    struct dirent *e;
    int n = 0;
    uint64_t seen = 0;
    while ((e = readdir(d)) && (uint64_t)n < lim) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!*rel && path_is_workdir(e->d_name))
            continue;
        if (seen++ < off)
            continue;
        struct stat es;
        if (fstatat(dirfd(d), e->d_name, &es, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        char child[PATH_MAX_REL + PATH_MAX_NAME + 16], key[DIGEST_HEX_MAX];
        snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        fileinfo_path_key_rel(child, key);
        json_t *o = json_object();
        json_t *name = json_string(e->d_name);
        json_object_set_new(o, "name", name ? name : json_string("?"));
        json_object_set_new(o, "md5", json_string(key));
        json_object_set_new(o, "path", json_string(rel));
        json_object_set_new(o, "size", json_integer(es.st_size));
        json_object_set_new(o, "mtime", json_integer(es.st_mtime));
        json_object_set_new(o, "is_dir", json_boolean(S_ISDIR(es.st_mode)));
        json_array_append_new(arr, o);
        n++;
    }
    closedir(d);
    http_reply_ok(rep, arr, "");
    return 0;
}

struct search_ctx {
    const char *kw;
    json_t *arr;
    int n;
};

static int search_cb(void *ctx, const struct file_info *fi)
{
    struct search_ctx *s = ctx;
    if (*s->kw && !strstr(fi->name, s->kw))
        return 0;
    json_array_append_new(s->arr, fileinfo_to_json(fi));
    return ++s->n >= SEARCH_MAX ? 1 : 0;
}

int api_search(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *kw = http_req_arg(req, "kw");
    struct search_ctx s = {kw ? kw : "", json_array(), 0};
    int rc = meta_scan(srv->meta, search_cb, &s);
    if (rc < 0) {
        json_decref(s.arr);
        return rc;
    }
    http_reply_ok(rep, s.arr, "");
    return 0;
}

int api_metrics(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    struct buf b;
    buf_init(&b, 1024 * 1024);
    buf_appendf(&b,
                "# TYPE fileserver_uploads_total counter\nfileserver_uploads_total %lld\n"
                "# TYPE fileserver_downloads_total counter\nfileserver_downloads_total %lld\n"
                "# TYPE fileserver_errors_total counter\nfileserver_errors_total %lld\n"
                "# TYPE fileserver_inflight_requests gauge\nfileserver_inflight_requests %d\n"
                "# TYPE fileserver_files gauge\nfileserver_files %lld\n"
                "# TYPE fileserver_resident_bytes gauge\nfileserver_resident_bytes %ld\n"
                "# TYPE fileserver_requests_total counter\n",
                (long long)atomic_load(&srv->uploads), (long long)atomic_load(&srv->downloads),
                (long long)atomic_load(&srv->errors), http_server_inflight(srv->http),
                meta_count(srv->meta), rss_kib() * 1024);
    for (int c = 1; c < 6; c++)
        buf_appendf(&b, "fileserver_requests_total{code=\"%dxx\"} %lld\n", c,
                    (long long)atomic_load(&srv->req_by_class[c]));
    buf_appends(&b, "# TYPE fileserver_request_duration_seconds histogram\n");
    long long cum = 0;
    for (int i = 0; i <= SERVER_LAT_BUCKETS; i++) {
        cum += atomic_load(&srv->lat_bucket[i]);
        if (i < SERVER_LAT_BUCKETS)
            buf_appendf(&b, "fileserver_request_duration_seconds_bucket{le=\"%g\"} %lld\n",
                        (double)server_lat_bounds_us[i] / 1e6, cum);
        else
            buf_appendf(&b, "fileserver_request_duration_seconds_bucket{le=\"+Inf\"} %lld\n",
                        cum);
    }
    buf_appendf(&b,
                "fileserver_request_duration_seconds_sum %.6f\n"
                "fileserver_request_duration_seconds_count %lld\n",
                (double)atomic_load(&srv->lat_sum_us) / 1e6, cum);
    size_t ce, cb;
    filecache_stats(srv->fcache, &ce, &cb);
    buf_appendf(&b,
                "# TYPE fileserver_download_cache_entries gauge\n"
                "fileserver_download_cache_entries %zu\n"
                "# TYPE fileserver_download_cache_bytes gauge\n"
                "fileserver_download_cache_bytes %zu\n"
                "# TYPE fileserver_disk_syncs_total counter\n"
                "fileserver_disk_syncs_total %lld\n"
                "# TYPE fileserver_index_syncs_total counter\n"
                "fileserver_index_syncs_total %lld\n"
                "# TYPE fileserver_commit_batches_total counter\n"
                "fileserver_commit_batches_total %lld\n"
                "# TYPE fileserver_commit_batch_max gauge\n"
                "fileserver_commit_batch_max %lld\n",
                ce, cb, store_syncs(srv->store), meta_syncs(srv->meta),
                (long long)atomic_load(&srv->commit_batches),
                (long long)atomic_load(&srv->commit_batch_max));
    sync_metrics(srv, &b);
    size_t len;
    char *body = buf_steal(&b, &len);
    http_reply_body_owned(rep, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
    return 0;
}
