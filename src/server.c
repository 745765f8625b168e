/* The node's life cycle: configuration, store, index and HTTP daemon are created in
 * dependency order and torn down in reverse; also the index rebuild from files/, which
 * needs all of them. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alarm.h"
#include "api.h"
#include "content.h"
#include "errcode.h"
#include "filecache.h"
#include "fileinfo.h"
#include "groups.h"
#include "lifecycle.h"
#include "http_server.h"
#include "log.h"
#include "meta.h"
#include "path.h"
#include "peer.h"
#include "routes.h"
#include "store.h"
#include "strparse.h"
#include "sync.h"
#include "workq.h"
#include "xalloc.h"

#define HASH_CHUNK (256 * 1024)

const long long server_lat_bounds_us[SERVER_LAT_BUCKETS] = {
    1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000, 30000000};

static int mkdir_p(const char *dir)
{
    char p[1200];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0775) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, 0775) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int server_init(struct server *srv, const char *root, const char *cfg_path, char *err,
                size_t errcap)
{
    memset(srv, 0, sizeof *srv);
    snprintf(srv->root, sizeof srv->root, "%s", root && *root ? root : ".");
    if (cfg_path && *cfg_path)
        snprintf(srv->cfg_path, sizeof srv->cfg_path, "%s", cfg_path);
    else
        snprintf(srv->cfg_path, sizeof srv->cfg_path, "%s/conf/cfg.json", srv->root);
    for (int i = 0; i < SERVER_DIGEST_LOCKS; i++)
        pthread_mutex_init(&srv->digest_locks[i], NULL);
    srv->started = time(NULL);

    int rc = mkdir_p(srv->root);
    if (rc < 0) {
        snprintf(err, errcap, "cannot create root %s: %s", srv->root, strerror(-rc));
        return rc;
    }
    char p[1300];
    snprintf(p, sizeof p, "%s/log", srv->root);
    mkdir_p(p);
    rc = cfg_load(&srv->cfg, srv->cfg_path, err, errcap);
    if (rc)
        return rc;
    enum log_level lvl;
    if (log_level_parse(srv->cfg.log_level, &lvl) == 0)
        log_set_level(lvl);
    srv->algo = strcmp(srv->cfg.file_sum_arithmetic, "sha1") == 0 ? DIGEST_SHA1 : DIGEST_MD5;
    srv->fcache = filecache_new((size_t)srv->cfg.download_cache_size);
    http_router_init(&srv->router, routes_table, routes_count, srv->cfg.group,
                     srv->cfg.support_group_manage);

    srv->sync_mode = FSBARRIER_GROUP;
    if (strcmp(srv->cfg.sync_mode, "file") == 0)
        srv->sync_mode = FSBARRIER_FILE;
    if (strcmp(srv->cfg.sync_mode, "none") == 0) {
        srv->sync_mode = FSBARRIER_NONE;
        log_warn("server", "sync_mode none: uploads are acknowledged before they reach the "
                           "disk; a crash or power loss can lose them");
    }
    if ((rc = store_open(srv->root, srv->sync_mode, &srv->store)) < 0) {
        snprintf(err, errcap, "cannot open the store below %s: %s", srv->root,
                 errcode_str(rc));
        return rc;
    }
    snprintf(p, sizeof p, "%s/data/meta", srv->root);
    if ((rc = meta_open(p, &srv->meta)) < 0) {
        snprintf(err, errcap, "cannot open the index %s (is another node using it?)", p);
        return rc;
    }
    if (srv->sync_mode == FSBARRIER_NONE)
        meta_set_lazy(srv->meta);
    struct stat ms, fs;
    srv->index_on_store_fs = stat(p, &ms) == 0 && fstat(store_files_fd(srv->store), &fs) == 0 &&
                             ms.st_dev == fs.st_dev;
    sync_tombstones_init(srv);
    if ((rc = content_open_volumes(srv)) < 0) {
        snprintf(err, errcap, "cannot open the small-file volumes below %s: %s", srv->root,
                 errcode_str(rc));
        return rc;
    }
    return 0;
}

int server_start(struct server *srv)
{
    int rc = sync_start(srv);
    if (rc == 0)
        rc = groups_start(srv);
    if (rc == 0)
        rc = lifecycle_start(srv);
    if (rc == 0)
        rc = alarm_start(srv);
    if (rc == 0) {
        size_t n = srv->cfg.upload_worker > 0 ? (size_t)srv->cfg.upload_worker : 32;
        rc = workq_new(n, 1024, &srv->commitq);
    }
    /* group commit: one thread commits uploads in batches, each sync serving the batch;
     * per-file fsync keeps the pool, so a small file never waits behind a large one's */
    if (rc == 0 && srv->sync_mode == FSBARRIER_GROUP)
        rc = workq_new_batched(UPLOAD_COMMITTERS, 1024, UPLOAD_BATCH_MAX,
                               api_upload_commit_batch, srv, &srv->uploadq);
    /* tus stores uploads that completed before a crash, so replication must be up */
    if (rc == 0)
        rc = api_tus_start(srv);
    if (rc == 0 && srv->cfg.auth_url && *srv->cfg.auth_url) {
        rc = peer_client_new("", srv->cfg.host ? srv->cfg.host : "", &srv->authc);
        if (rc == 0)
            peer_client_set_ca(srv->authc, srv->cfg.https_ca_file);
    }
    if (rc < 0)
        return rc;
    return http_server_start(srv, &srv->http);
}

void server_stop(struct server *srv, int drain_ms)
{
    if (!srv->http)
        return;
    http_server_quiesce(srv->http);
    struct timespec ts = {0, 10 * 1000 * 1000};
    for (int waited = 0; waited < drain_ms && http_server_inflight(srv->http) > 0; waited += 10)
        nanosleep(&ts, NULL);
    if (http_server_inflight(srv->http) > 0)
        log_warn("server", "%d requests still running at shutdown",
                 http_server_inflight(srv->http));
    /* workers resume any request still parked on them, while the daemon can finish it */
    workq_free(srv->uploadq);
    srv->uploadq = NULL;
    workq_free(srv->commitq);
    srv->commitq = NULL;
    alarm_stop(srv);
    lifecycle_stop(srv);
    sync_stop(srv);
    http_server_stop(srv->http);
    srv->http = NULL;
    api_tus_stop(srv); /* its sweeper reads the index: before the index closes */
}

void server_fini(struct server *srv)
{
    server_stop(srv, 0);
    api_tus_stop(srv); /* idempotent; covers a start that failed before listening */
    sync_stop(srv);
    groups_stop(srv);
    peer_client_free(srv->authc);
    srv->authc = NULL;
    content_close_volumes(srv);
    filecache_free(srv->fcache);
    srv->fcache = NULL;
    /* what was acknowledged without a sync reaches the disk on a clean stop */
    if (srv->sync_mode == FSBARRIER_NONE && srv->store && srv->meta && server_sync_all(srv) < 0)
        log_error("server", "the final sync failed");
    meta_close(srv->meta);
    srv->meta = NULL;
    store_close(srv->store);
    srv->store = NULL;
    cfg_fini(&srv->cfg);
    for (int i = 0; i < SERVER_DIGEST_LOCKS; i++)
        pthread_mutex_destroy(&srv->digest_locks[i]);
}

int server_sync_all(struct server *srv)
{
    int rc = store_sync_fs(srv->store);
    int mrc = meta_sync(srv->meta);
    return rc < 0 ? rc : mrc;
}

pthread_mutex_t *server_digest_lock(struct server *srv, const char *digest)
{
    unsigned h = 2166136261u;
    for (const char *c = digest; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return &srv->digest_locks[h % SERVER_DIGEST_LOCKS];
}

const char *server_group_prefix(const struct server *srv)
{
    return srv->router.group_prefix;
}

/* ---- index rebuild ---- */

/* The walk hands files to a few threads that read and hash them (cold files are read much
 * faster several at a time) and index them without waiting for the disk; one sync at the
 * end makes the whole rebuild durable. */
#define REBUILD_THREADS 8
#define REBUILD_QUEUE 512

struct rebuild_item {
    char dir[PATH_MAX_REL + 1];
    char name[PATH_MAX_NAME + 1];
    struct stat st;
};

struct rebuild {
    struct server *srv;
    atomic_llong n;
    pthread_mutex_t mu;
    pthread_cond_t items, room;
    struct rebuild_item *q;
    size_t head, tail; /* items queued and taken, in total */
    bool done;
};

static int hash_file(struct server *srv, const char *rel, char *chunk, char out[DIGEST_HEX_MAX])
{
    int fd = -1;
    struct stat st;
    int rc = store_open_read(srv->store, rel, &fd, &st);
    if (rc < 0)
        return rc;
    struct digest *d = digest_new(srv->algo);
    if (!d) {
        close(fd);
        return -EIO;
    }
    ssize_t r;
    while ((r = read(fd, chunk, HASH_CHUNK)) > 0)
        digest_update(d, chunk, (size_t)r);
    rc = r < 0 ? -errno : 0;
    close(fd);
    digest_final_hex(d, out);
    digest_free(d);
    return rc;
}

/* go-fastdfs's default layout: <scene>/<yyyymmdd>/<HH>/<MM>/... */
static bool dated_layout(const char *dir, char *scene, size_t cap)
{
    const char *s1 = strchr(dir, '/');
    if (!s1 || (size_t)(s1 - dir) >= cap)
        return false;
    const char *d = s1 + 1;
    if (strlen(d) < 14 || !(d[8] == '/' && d[11] == '/'))
        return false;
    for (int i = 0; i < 8; i++)
        if (d[i] < '0' || d[i] > '9')
            return false;
    memcpy(scene, dir, (size_t)(s1 - dir));
    scene[s1 - dir] = '\0';
    return true;
}

static void rebuild_one(struct rebuild *rb, char *chunk, const char *dir, const char *name,
                        const struct stat *st)
{
    struct server *srv = rb->srv;
    char rel[PATH_MAX_REL + PATH_MAX_NAME + 2];
    if (st->st_size == 0 || path_check_name(name) < 0)
        return;
    int n = snprintf(rel, sizeof rel, "%s%s%s", dir, *dir ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof rel || content_is_volume_path(rel))
        return; /* volumes are read needle by needle, go-fastdfs's by their URLs */
    /* a file deleted while the node crashed between index and unlink: finish the delete */
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key_rel(rel, pk);
    long long tms = sync_tombstone_ms(srv, pk);
    if (tms && tms >= (long long)st->st_mtime * 1000LL) {
        log_info("server", "rebuild: %s was deleted; removing it", rel);
        store_unlink(srv->store, rel);
        return;
    }
    struct file_info fi, saved;
    fileinfo_init(&fi);
    if (hash_file(srv, rel, chunk, fi.md5) < 0)
        return;
    snprintf(fi.path, sizeof fi.path, "files%s%s", *dir ? "/" : "", dir);
    snprintf(fi.name, sizeof fi.name, "%s", name);
    fi.size = st->st_size;
    fi.timestamp = st->st_mtime;
    char info[4096];
    bool have = store_get_info(srv->store, rel, info, sizeof info) == 0 &&
                fileinfo_from_saved(&saved, info, strlen(info)) == 0;
    if (have) {
        /* the saved record describes these bytes when the digest agrees, even if a name
         * collision gave the file another on-disk name */
        if ((strcmp(fileinfo_disk_name(&saved), name) == 0 || strcmp(saved.md5, fi.md5) == 0) &&
            saved.name[0]) {
            snprintf(fi.name, sizeof fi.name, "%s", saved.name);
            if (strcmp(saved.name, name) != 0)
                snprintf(fi.rename, sizeof fi.rename, "%s", name);
        }
        if (saved.timestamp > 0)
            fi.timestamp = saved.timestamp;
        if (saved.offset >= 0 && content_in_haystack(dir))
            fi.offset = saved.offset; /* a merged file kept as a plain file here */
        fi.time_ms = saved.time_ms;
        fi.expire_at = saved.expire_at; /* a ttl survives a rebuild */
    } else {
        fi.offset = -2; /* adopted: no upload record, as go-fastdfs marks migrated files */
    }
    char scene[PATH_MAX_NAME + 1];
    if (dated_layout(dir, scene, sizeof scene))
        snprintf(fi.scene, sizeof fi.scene, "%s", scene);
    else if (have && saved.scene[0])
        snprintf(fi.scene, sizeof fi.scene, "%s", saved.scene);
    else
        snprintf(fi.scene, sizeof fi.scene, "%s", srv->cfg.default_scene);
    if (srv->cfg.host)
        fileinfo_add_peer(&fi, srv->cfg.host);
    if (sync_index_bulk(srv, &fi, false) == 0)
        atomic_fetch_add(&rb->n, 1);
}

static void *rebuild_worker(void *arg)
{
    struct rebuild *rb = arg;
    char *chunk = xmalloc(HASH_CHUNK);
    struct rebuild_item it;
    pthread_mutex_lock(&rb->mu);
    for (;;) {
        while (rb->head == rb->tail && !rb->done)
            pthread_cond_wait(&rb->items, &rb->mu);
        if (rb->head == rb->tail)
            break;
        it = rb->q[rb->tail++ % REBUILD_QUEUE];
        pthread_cond_signal(&rb->room);
        pthread_mutex_unlock(&rb->mu);
        rebuild_one(rb, chunk, it.dir, it.name, &it.st);
        pthread_mutex_lock(&rb->mu);
    }
    pthread_mutex_unlock(&rb->mu);
    free(chunk);
    return NULL;
}

static int rebuild_enqueue(void *ctx, const char *dir, const char *name, const struct stat *st)
{
    struct rebuild *rb = ctx;
    pthread_mutex_lock(&rb->mu);
    while (rb->head - rb->tail == REBUILD_QUEUE)
        pthread_cond_wait(&rb->room, &rb->mu);
    struct rebuild_item *it = &rb->q[rb->head++ % REBUILD_QUEUE];
    snprintf(it->dir, sizeof it->dir, "%s", dir);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->st = *st;
    pthread_cond_signal(&rb->items);
    pthread_mutex_unlock(&rb->mu);
    return 0;
}

static int drop_dead(void *ctx, const struct file_info *fi)
{
    struct server *srv = ctx;
    if (!content_live(srv, fi))
        meta_del(srv->meta, fi);
    return 0;
}

long long server_rebuild_meta(struct server *srv)
{
    struct rebuild rb;
    memset(&rb, 0, sizeof rb);
    rb.srv = srv;
    rb.q = xcalloc(REBUILD_QUEUE, sizeof *rb.q);
    pthread_mutex_init(&rb.mu, NULL);
    pthread_cond_init(&rb.items, NULL);
    pthread_cond_init(&rb.room, NULL);
    log_info("server", "rebuilding the index from files/");
    pthread_t th[REBUILD_THREADS];
    int nth = 0;
    while (nth < REBUILD_THREADS && pthread_create(&th[nth], NULL, rebuild_worker, &rb) == 0)
        nth++;
    int rc = 0;
    if (nth == 0) {
        rc = -EAGAIN;
    } else {
        rc = store_walk(srv->store, rebuild_enqueue, &rb);
        pthread_mutex_lock(&rb.mu);
        rb.done = true;
        pthread_cond_broadcast(&rb.items);
        pthread_mutex_unlock(&rb.mu);
    }
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    free(rb.q);
    pthread_mutex_destroy(&rb.mu);
    pthread_cond_destroy(&rb.items);
    pthread_cond_destroy(&rb.room);
    long long n = atomic_load(&rb.n);
    if (rc == 0)
        n += content_rebuild_volumes(srv);
    /* everything above was written without waiting for the disk: one sync covers it */
    int src = meta_sync(srv->meta);
    if (rc < 0)
        return rc;
    if (src < 0)
        return src;
    rc = meta_scan(srv->meta, drop_dead, srv);
    if (rc < 0)
        return rc;
    log_info("server", "index rebuilt: %lld files", n);
    return n;
}

long long server_restore_meta(struct server *srv, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long restored = 0, skipped = 0;
    /* bounded: a backup line is one record, far below 64 KiB */
    while ((n = getline(&line, &cap, f)) > 0 && n < 65536) {
        struct file_info fi;
        if (fileinfo_from_text(&fi, line, (size_t)n) < 0 || !content_live(srv, &fi)) {
            skipped++; /* an index entry only for bytes that are really there */
            continue;
        }
        if (sync_index(srv, &fi, true, false, NULL, 0) == 0)
            restored++;
    }
    free(line);
    fclose(f);
    log_info("server", "restore: %lld records restored, %lld skipped", restored, skipped);
    return restored;
}
