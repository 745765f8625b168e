/* A record's bytes: a plain file below files/, or a needle in this node's small-file volumes.
 * A merged file keeps one name everywhere (files/haystack/<origin peer>/<n>,<off>,<len>,<ext>,
 * go-fastdfs's URL shape); where its bytes sit on this node (volume, needle offset) is a local
 * fact in the record, changed by compaction, never part of the name. */
#include "content.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "filecache.h"
#include "fileinfo.h"
#include "log.h"
#include "meta.h"
#include "path.h"
#include "server.h"
#include "store.h"
#include "sync.h"
#include "volume.h"
#include "xalloc.h"

#define LIST_MAX 65536

static pthread_mutex_t compact_mu = PTHREAD_MUTEX_INITIALIZER;

int content_open_volumes(struct server *srv)
{
    char dir[PATH_MAX_NAME + 16];
    struct stat st;
    snprintf(dir, sizeof dir, "haystack/%s", srv->cfg.peer_id);
    /* a node that never merged gets no haystack directory */
    if (!srv->cfg.enable_merge_small_file && store_stat(srv->store, dir, &st) < 0)
        return 0;
    return volumes_open(srv->store, srv->cfg.peer_id, (uint64_t)srv->cfg.merge_volume_size,
                        &srv->volumes);
}

void content_close_volumes(struct server *srv)
{
    volumes_close(srv->volumes);
    srv->volumes = NULL;
}

bool content_mergeable(const struct server *srv, int64_t size)
{
    return srv->cfg.enable_merge_small_file && srv->volumes && size > 0 &&
           size < VOLUME_SMALL_MAX;
}

bool content_merged_name(const struct file_info *fi)
{
    uint32_t vol;
    uint64_t off, len;
    return fi->offset >= 0 && strncmp(fi->path, "files/haystack/", 15) == 0 &&
           !strchr(fi->path + 15, '/') && volumes_parse_name(fi->rename, &vol, &off, &len) == 0;
}

bool content_in_haystack(const char *rel)
{
    return strncmp(rel, "haystack", 8) == 0 && (rel[8] == '\0' || rel[8] == '/');
}

bool content_is_volume_path(const char *rel)
{
    if (!content_in_haystack(rel) || !rel[8])
        return false;
    const char *slash = strchr(rel + 9, '/');
    return slash && !strchr(slash + 1, '/') && volumes_is_volume_name(slash + 1);
}

/* The needle behind a record, checked against it, in an open volume. */
static int open_needle(struct server *srv, const struct file_info *fi, int *fd,
                       struct needle *n)
{
    if (!srv->volumes)
        return -ENOENT;
    int f = -1;
    int rc = volumes_open_read(srv->volumes, (uint32_t)fi->volume, &f);
    if (rc < 0)
        return rc;
    rc = volumes_needle_at(f, (uint32_t)fi->volume, (uint64_t)fi->vol_off, n);
    if (rc == 0 && (n->data_len != (uint64_t)fi->size || n->orig_off != (uint64_t)fi->offset))
        rc = -ENOENT; /* not the needle the record describes */
    if (rc < 0) {
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

bool content_live(struct server *srv, const struct file_info *fi)
{
    if (fi->volume > 0) {
        int fd;
        struct needle n;
        if (open_needle(srv, fi, &fd, &n) < 0)
            return false;
        close(fd);
        return true;
    }
    char rel[PATH_MAX_REL + 8];
    struct stat st;
    if (fileinfo_rel(fi, rel, sizeof rel) < 0 || store_stat(srv->store, rel, &st) < 0)
        return false;
    return S_ISREG(st.st_mode) && st.st_size == fi->size;
}

int content_open(struct server *srv, const struct file_info *fi, int *fd, uint64_t *base,
                 struct stat *st)
{
    if (fi->volume <= 0) {
        char rel[PATH_MAX_REL + 8];
        int rc = fileinfo_rel(fi, rel, sizeof rel);
        if (rc == 0)
            rc = store_open_read(srv->store, rel, fd, st);
        if (rc == 0 && !S_ISREG(st->st_mode)) {
            close(*fd);
            rc = -ENOENT;
        }
        *base = 0;
        return rc;
    }
    struct file_info cur; /* read only when the needle moved */
    struct needle n;
    int rc = open_needle(srv, fi, fd, &n);
    if (rc == -ENOENT) {
        /* compaction may have moved it since the record was read: read it again, once */
        char pk[DIGEST_HEX_MAX];
        fileinfo_path_key(fi, pk);
        if (meta_get_path(srv->meta, pk, &cur) == 0 && cur.volume > 0 &&
            (rc = open_needle(srv, &cur, fd, &n)) == 0)
            fi = &cur;
    }
    if (rc < 0)
        return rc;
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0644;
    st->st_size = (off_t)n.data_len;
    st->st_mtime = (time_t)fi->timestamp;
    *base = n.data_off;
    return 0;
}

/* go-fastdfs's merged files: the URL names the haystack file, the offset of a '1' flag byte
 * and the length including it; there is no record to check against. */
static int open_legacy(struct server *srv, const char *rel, int *fd, uint64_t *base,
                       struct stat *st)
{
    const char *name = strrchr(rel, '/') + 1;
    uint32_t vol;
    uint64_t off, len;
    if (volumes_parse_name(name, &vol, &off, &len) < 0 || len < 2 || len > VOLUME_SMALL_MAX + 1)
        return -ENOENT;
    char vrel[PATH_MAX_REL + 1];
    int n = snprintf(vrel, sizeof vrel, "%.*s%u", (int)(name - rel), rel, vol);
    if (n < 0 || (size_t)n >= sizeof vrel)
        return -ENOENT;
    int f = -1;
    int rc = store_open_read(srv->store, vrel, &f, st);
    if (rc < 0)
        return rc;
    char flag = 0;
    /* our own volumes are read through the index only: a hand-made offset must not reach
     * into a deleted needle */
    if (!S_ISREG(st->st_mode) || volumes_is_ours(f) || off + len > (uint64_t)st->st_size ||
        pread(f, &flag, 1, (off_t)off) != 1 || flag != '1') {
        close(f);
        return -ENOENT;
    }
    st->st_size = (off_t)(len - 1);
    *base = off + 1;
    *fd = f;
    return 0;
}

int content_open_haystack(struct server *srv, const char *rel, int *fd, uint64_t *base,
                          struct stat *st)
{
    const char *slash = strrchr(rel, '/');
    if (!content_in_haystack(rel) || !slash || slash < rel + 9 || strchr(rel + 9, '/') != slash)
        return -ENOENT;
    char pk[DIGEST_HEX_MAX];
    struct file_info fi;
    fileinfo_path_key_rel(rel, pk);
    if (meta_get_path(srv->meta, pk, &fi) == 0)
        return fi.volume > 0 ? content_open(srv, &fi, fd, base, st) : -ENOENT;
    return open_legacy(srv, rel, fd, base, st);
}

int content_remove(struct server *srv, const struct file_info *fi)
{
    char rel[PATH_MAX_REL + 8];
    if (fileinfo_rel(fi, rel, sizeof rel) == 0)
        filecache_drop(srv->fcache, rel);
    if (fi->volume > 0)
        return srv->volumes ? volumes_mark_deleted(srv->volumes, (uint32_t)fi->volume,
                                                   (uint64_t)fi->vol_off)
                            : 0;
    int rc = fileinfo_rel(fi, rel, sizeof rel);
    if (rc == 0)
        rc = store_unlink(srv->store, rel);
    if (rc == -ENOENT)
        rc = 0;
    if (rc)
        log_error("content", "cannot remove %s: %d", rel, rc);
    return rc;
}

/* ---- storing ---- */

struct namer {
    struct file_info *fi;
    const char *dir;
    bool name_it;
};

static char *needle_info(void *ctx, uint32_t vol, uint64_t off, size_t *len)
{
    struct namer *nm = ctx;
    struct file_info *fi = nm->fi;
    if (nm->name_it) {
        char ext[64];
        path_extension(fi->name, ext, sizeof ext);
        if (strchr(ext, ','))
            ext[0] = '\0';
        snprintf(fi->path, sizeof fi->path, "files/%s", nm->dir);
        snprintf(fi->rename, sizeof fi->rename, "%u,%llu,%lld,%s", vol, (unsigned long long)off,
                 (long long)fi->size, ext);
        fi->offset = (int64_t)off;
    }
    /* the needle keeps the record as it travels, without this node's placement: cleared for
     * the JSON and put back, rather than copying a 5 KiB record under the volume lock */
    int64_t vol_was = fi->volume, off_was = fi->vol_off;
    fi->volume = fi->vol_off = 0;
    char *text = fileinfo_to_text(fi, len);
    fi->volume = vol_was;
    fi->vol_off = off_was;
    return text;
}

/* Appends the needle (synced unless !sync) and fills fi's placement; on success the volume
 * counts a pending writer until content_small_done. */
static int append_needle(struct server *srv, struct file_info *fi, const char *data,
                         size_t len, bool name_it, bool sync)
{
    struct needle orig = {0}, n;
    if (!name_it) {
        uint64_t l;
        if (volumes_parse_name(fi->rename, &orig.orig_vol, &orig.orig_off, &l) < 0 ||
            (int64_t)orig.orig_off != fi->offset)
            return -EINVAL;
    }
    struct namer nm = {fi, volumes_dir(srv->volumes), name_it};
    int rc = volumes_append(srv->volumes, name_it ? NULL : &orig, needle_info, &nm, data, len,
                            sync, &n);
    if (rc < 0)
        return rc;
    fi->volume = n.vol;
    fi->vol_off = (int64_t)n.off;
    return 0;
}

void content_small_done(struct server *srv, const struct file_info *fi, bool indexed)
{
    uint32_t vol = (uint32_t)fi->volume;
    if (!indexed) /* never indexed: make sure a rebuild does not bring it back */
        volumes_mark_deleted(srv->volumes, vol, (uint64_t)fi->vol_off);
    volumes_release(srv->volumes, vol);
}

int content_append_small(struct server *srv, struct store_tmp *tmp, struct file_info *fi,
                         bool name_it, bool sync)
{
    if (!srv->volumes || tmp->size >= VOLUME_SMALL_MAX || (int64_t)tmp->size != fi->size)
        return -EINVAL;
    size_t len = (size_t)tmp->size;
    if (tmp->mem)
        return append_needle(srv, fi, tmp->mem, len, name_it, sync);
    int rc = store_tmp_spill(tmp); /* the gate: the file then holds every byte */
    if (rc < 0)
        return rc;
    char *data = xmalloc(len + 1);
    /* just written: this comes from the page cache */
    ssize_t r = pread(tmp->fd, data, len, 0);
    rc = (r < 0 || (size_t)r != len) ? -EIO : 0;
    if (rc == 0)
        rc = append_needle(srv, fi, data, len, name_it, sync);
    free(data);
    return rc;
}

int content_commit_small(struct server *srv, struct store_tmp *tmp, struct file_info *fi,
                         bool name_it, bool replicate, const struct meta_kv *extra,
                         size_t nextra)
{
    int rc = content_append_small(srv, tmp, fi, name_it, true);
    if (rc < 0)
        return rc;
    rc = sync_index(srv, fi, true, replicate, extra, nextra);
    content_small_done(srv, fi, rc == 0);
    return rc;
}

/* ---- compaction ---- */

struct live_ctx {
    struct server *srv;
    uint64_t live_bytes;
    long long moved, failed;
    char *buf;
    bool move;
};

/* The index record a needle's JSON names, when it still points at this needle. */
static bool needle_indexed(struct server *srv, const struct needle *n, const char *info,
                           struct file_info *rec)
{
    struct file_info fi;
    char pk[DIGEST_HEX_MAX];
    if (!n->live || fileinfo_from_text(&fi, info, strlen(info)) < 0)
        return false;
    fileinfo_path_key(&fi, pk);
    return meta_get_path(srv->meta, pk, rec) == 0 && rec->volume == (int64_t)n->vol &&
           rec->vol_off == (int64_t)n->off && strcmp(rec->md5, fi.md5) == 0;
}

static int move_cb(void *ctx, const struct needle *n, const char *info)
{
    struct live_ctx *c = ctx;
    struct server *srv = c->srv;
    struct file_info rec;
    if (!needle_indexed(srv, n, info, &rec))
        return 0;
    if (!c->move) {
        c->live_bytes += n->span;
        return 0;
    }
    pthread_mutex_t *lk = server_digest_lock(srv, rec.md5);
    pthread_mutex_lock(lk);
    int rc = -EAGAIN;
    /* under the content's lock a delete cannot slip between the check and the move */
    if (needle_indexed(srv, n, info, &rec) &&
        (rc = volumes_read_needle(srv->volumes, n, c->buf, NEEDLE_INFO_MAX + VOLUME_SMALL_MAX)) == 0) {
        struct needle orig = *n, moved;
        struct namer nm = {&rec, volumes_dir(srv->volumes), false};
        rc = volumes_append(srv->volumes, &orig, needle_info, &nm, c->buf + n->info_len,
                            (size_t)n->data_len, true, &moved);
        if (rc == 0) {
            rec.volume = moved.vol;
            rec.vol_off = (int64_t)moved.off;
            rc = meta_put(srv->meta, &rec);
            if (rc < 0)
                volumes_mark_deleted(srv->volumes, moved.vol, moved.off);
            volumes_release(srv->volumes, moved.vol);
        }
    }
    pthread_mutex_unlock(lk);
    if (rc == 0)
        c->moved++;
    else if (rc != -EAGAIN)
        c->failed++;
    return 0;
}

json_t *content_compact(struct server *srv, int percent)
{
    json_t *out = json_object();
    if (!srv->volumes) {
        json_object_set_new(out, "volumes", json_integer(0));
        return out;
    }
    pthread_mutex_lock(&compact_mu);
    uint32_t *nums = xcalloc(LIST_MAX, sizeof *nums);
    uint64_t *sizes = xcalloc(LIST_MAX, sizeof *sizes);
    uint32_t active = 0;
    size_t nv = volumes_list(srv->volumes, nums, sizes, LIST_MAX, &active);
    long long compacted = 0, moved = 0, failed = 0;
    uint64_t reclaimed = 0, live_total = 0, garbage_total = 0;
    struct live_ctx c = {srv, 0, 0, 0, xmalloc(NEEDLE_INFO_MAX + VOLUME_SMALL_MAX), false};
    for (size_t i = 0; i < nv; i++) {
        if (nums[i] == active)
            continue;
        c.live_bytes = 0;
        c.move = false;
        if (volumes_scan(srv->volumes, nums[i], move_cb, &c) < 0)
            continue;
        uint64_t used = sizes[i] > VOLUME_HDR ? sizes[i] - VOLUME_HDR : 0;
        uint64_t garbage = used > c.live_bytes ? used - c.live_bytes : 0;
        live_total += c.live_bytes;
        garbage_total += garbage;
        if (used && garbage * 100 < used * (uint64_t)percent)
            continue;
        c.move = true;
        c.moved = c.failed = 0;
        volumes_scan(srv->volumes, nums[i], move_cb, &c);
        moved += c.moved;
        failed += c.failed;
        /* a needle that could not move keeps its volume; with sync_mode none the moved
         * needles and their records are synced here, since the volume they leave may hold
         * files that were durable long before */
        if (c.failed == 0 && (srv->sync_mode != FSBARRIER_NONE || server_sync_all(srv) == 0) &&
            volumes_remove(srv->volumes, nums[i]) == 0) {
            compacted++;
            reclaimed += garbage + VOLUME_HDR;
            log_info("content", "compacted volume %u: %lld files moved, %llu bytes freed",
                     nums[i], c.moved, (unsigned long long)(garbage + VOLUME_HDR));
        }
    }
    free(c.buf);
    free(nums);
    free(sizes);
    pthread_mutex_unlock(&compact_mu);
    json_object_set_new(out, "volumes", json_integer((json_int_t)nv));
    json_object_set_new(out, "compacted", json_integer(compacted));
    json_object_set_new(out, "moved", json_integer(moved));
    json_object_set_new(out, "failed", json_integer(failed));
    json_object_set_new(out, "reclaimed", json_integer((json_int_t)reclaimed));
    json_object_set_new(out, "sealedLiveBytes", json_integer((json_int_t)live_total));
    json_object_set_new(out, "sealedGarbageBytes", json_integer((json_int_t)garbage_total));
    return out;
}

void content_compact_due(struct server *srv)
{
    static time_t last;
    time_t now = time(NULL);
    if (!srv->volumes || srv->cfg.merge_compact_interval <= 0)
        return;
    if (last == 0)
        last = now; /* not at start-up: the first run waits a full interval */
    if (now - last < (time_t)srv->cfg.merge_compact_interval)
        return;
    last = now;
    json_decref(content_compact(srv, (int)srv->cfg.merge_compact_percent));
}

/* ---- index rebuild ---- */

struct rebuild_ctx {
    struct server *srv;
    long long n;
    char *buf;
};

/* Do the needle's bytes hash to the digest its record names? (An append cut short by a
 * crash can leave an intact header over bytes that never arrived.) */
static bool needle_intact(struct rebuild_ctx *c, const struct needle *n, const char *md5)
{
    if (volumes_read_needle(c->srv->volumes, n, c->buf, NEEDLE_INFO_MAX + VOLUME_SMALL_MAX) < 0)
        return false;
    struct digest *d = digest_new(strlen(md5) == 40 ? DIGEST_SHA1 : DIGEST_MD5);
    if (!d)
        return false;
    char hex[DIGEST_HEX_MAX];
    digest_update(d, c->buf + n->info_len, (size_t)n->data_len);
    digest_final_hex(d, hex);
    digest_free(d);
    return strcmp(hex, md5) == 0;
}

static int rebuild_cb(void *ctx, const struct needle *n, const char *info)
{
    struct rebuild_ctx *c = ctx;
    struct server *srv = c->srv;
    struct file_info fi, cur;
    char pk[DIGEST_HEX_MAX];
    if (!n->live || fileinfo_from_text(&fi, info, strlen(info)) < 0 || !content_merged_name(&fi))
        return 0;
    if (sync_deleted_after(srv, &fi)) { /* deleted while the node crashed between index and mark */
        volumes_mark_deleted(srv->volumes, n->vol, n->off);
        return 0;
    }
    fileinfo_path_key(&fi, pk);
    /* a needle copied by a compaction that did not finish: the record's copy is as good */
    if (meta_get_path(srv->meta, pk, &cur) == 0 && strcmp(cur.md5, fi.md5) == 0 &&
        content_live(srv, &cur))
        return 0;
    fi.volume = n->vol;
    fi.vol_off = (int64_t)n->off;
    if (fi.size != (int64_t)n->data_len || !needle_intact(c, n, fi.md5))
        return 0;
    if (sync_index_bulk(srv, &fi, false) == 0)
        c->n++;
    return 0;
}

long long content_rebuild_volumes(struct server *srv)
{
    if (!srv->volumes)
        return 0;
    uint32_t *nums = xcalloc(LIST_MAX, sizeof *nums);
    size_t nv = volumes_list(srv->volumes, nums, NULL, LIST_MAX, NULL);
    struct rebuild_ctx c = {srv, 0, xmalloc(NEEDLE_INFO_MAX + VOLUME_SMALL_MAX)};
    for (size_t i = 0; i < nv; i++)
        volumes_scan(srv->volumes, nums[i], rebuild_cb, &c);
    free(c.buf);
    free(nums);
    return c.n;
}
