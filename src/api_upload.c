/* POST /<group>/upload: the multipart body streams through the parser; the `file` part goes
 * to a temp file while it is hashed (never re-read), other fields become arguments. At the
 * end the name and directory are decided, duplicates resolved under a per-digest lock, the
 * file committed durably and indexed, and only then is the reply sent.
 * GET /<group>/upload?md5= is go-fastdfs's "instant upload" lookup. */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "content.h"
#include "digest.h"
#include "errcode.h"
#include "fileinfo.h"
#include "hashpipe.h"
#include "http_reply.h"
#include "log.h"
#include "meta.h"
#include "multipart.h"
#include "path.h"
#include "server.h"
#include "store.h"
#include "strjoin.h"
#include "strparse.h"
#include "sync.h"
#include "volume.h"
#include "workq.h"
#include "xalloc.h"

#define FIELD_MAX 4096
#define HASHPIPE_MIN (8 * 1024 * 1024) /* below this a helper thread costs more than it saves */
/* Bodies from this size on are written with O_DIRECT (dwrite.h): the page cache's copy and
 * bookkeeping cost about a core-second per GiB; a file this size is rarely read back soon. */
#define DIRECT_MIN (64 * 1024 * 1024)
#define COLLISION_TRIES 100
#define DUPS_MAX 16

enum part_kind { PART_NONE, PART_FILE, PART_FIELD, PART_SKIP };

struct upload {
    struct server *srv;
    struct http_req *req;
    struct multipart *mp;
    struct digest *dg;
    struct hashpipe *hp; /* large files: hashed on a helper thread instead of dg */
    bool tapped;         /* dg is fed by the O_DIRECT writer's tap (huge files) */
    struct store_tmp tmp;
    enum part_kind cur;
    bool got_file;
    uint64_t max;
    char upname[1024];
    char field[256];
    struct buf fval;
    /* the commit, done by srv->uploadq while the request is parked */
    struct server *commit_srv;
    char digest[DIGEST_HEX_MAX];
    bool committed;
    int commit_rc;
    struct file_info result;
};

static void hash_tap(void *dg, const void *p, size_t n)
{
    digest_update(dg, p, n);
}

static int part_begin(void *ctx, const struct multipart_part *p)
{
    struct upload *u = ctx;
    /* an empty filename is a plain field to Go's parser, and so to go-fastdfs */
    bool is_file = p->has_filename && p->filename[0];
    if (strcmp(p->name, "file") == 0 && is_file && !u->got_file) {
        /* a body that cannot hold a file of 1 MiB is bound for a volume: keep it in memory */
        struct http_req *r = u->req;
        bool small = r->has_length && r->content_length < VOLUME_SMALL_MAX &&
                     content_mergeable(u->srv, 1);
        int rc = small ? store_tmp_create_mem(u->srv->store, &u->tmp, (size_t)r->content_length)
                       : store_tmp_create(u->srv->store, &u->tmp);
        if (rc < 0)
            return rc;
        if (!small && r->has_length && r->content_length >= DIRECT_MIN) {
            /* the writer's buffers are the hash ring too: each byte is copied once for both */
            struct digest *dg = digest_new(u->srv->algo);
            if (dg && store_tmp_direct(&u->tmp, hash_tap, dg)) {
                u->dg = dg;
                u->tapped = true;
            } else if (dg) {
                digest_free(dg);
            }
        }
        if (!u->tapped && r->has_length && r->content_length >= HASHPIPE_MIN)
            u->hp = hashpipe_new(u->srv->algo);
        /* batched: with many uploads in flight, their MD5s share the vector lanes */
        if (!u->hp && !u->dg && !(u->dg = digest_new_batched(
                            u->srv->algo, r->has_length ? (size_t)r->content_length : 0)))
            return -EIO;
        strjoin(u->upname, sizeof u->upname, p->filename);
        u->cur = PART_FILE;
        u->got_file = true;
    } else if (is_file) {
        u->cur = PART_SKIP; /* only the first file part counts, as in go-fastdfs */
    } else {
        strjoin(u->field, sizeof u->field, p->name);
        buf_reset(&u->fval);
        u->cur = PART_FIELD;
    }
    return 0;
}

static int part_data(void *ctx, const char *d, size_t n)
{
    struct upload *u = ctx;
    switch (u->cur) {
    case PART_FILE:
        if (u->max && u->tmp.size + n > u->max)
            return ERR_TOOBIG;
        if (u->hp)
            hashpipe_update(u->hp, d, n);
        else if (!u->tapped)
            digest_update(u->dg, d, n);
        return store_tmp_write(&u->tmp, d, n);
    case PART_FIELD:
        if (buf_append(&u->fval, d, n) < 0) {
            snprintf(u->req->errmsg, sizeof u->req->errmsg, "form field '%.200s' too long",
                     u->field);
            return ERR_PARAM;
        }
        return 0;
    default:
        return 0;
    }
}

static int part_end(void *ctx)
{
    struct upload *u = ctx;
    int rc = 0;
    if (u->cur == PART_FILE && (rc = store_tmp_finish(&u->tmp)) < 0)
        return rc;
    if (u->cur == PART_FIELD)
        rc = http_req_add_arg(u->req, u->field, strlen(u->field),
                              u->fval.data ? u->fval.data : "", u->fval.len);
    u->cur = PART_NONE;
    if (rc < 0) {
        snprintf(u->req->errmsg, sizeof u->req->errmsg,
                 "form field '%.200s' rejected (NUL byte or too many fields)", u->field);
        return ERR_PARAM;
    }
    return 0;
}

static const struct multipart_callbacks upload_cb = {part_begin, part_data, part_end};

static int upload_begin(struct http_req *req, struct server *srv)
{
    if (srv->cfg.read_only)
        return ERR_READONLY;
    int arc = auth_upload(srv, req);
    if (arc)
        return arc;
    uint64_t max = srv->cfg.max_upload_size > 0 ? (uint64_t)srv->cfg.max_upload_size : 0;
    if (max && req->has_length && req->content_length > max + 64 * 1024) {
        snprintf(req->errmsg, sizeof req->errmsg, "upload larger than max_upload_size (%llu)",
                 (unsigned long long)max);
        return ERR_TOOBIG;
    }
    const char *ct = http_req_header(req, "Content-Type");
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    if (!ct || multipart_boundary(ct, boundary, sizeof boundary) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg,
                 "upload must be multipart/form-data with a boundary");
        return ERR_MULTIPART;
    }
    struct upload *u = xcalloc(1, sizeof *u);
    u->srv = srv;
    u->req = req;
    store_tmp_init(&u->tmp);
    u->max = max;
    buf_init(&u->fval, FIELD_MAX);
    u->mp = multipart_new(boundary, &upload_cb, u);
    req->state = u;
    return 0;
}

int api_upload_data(struct http_req *req, const char *p, size_t n)
{
    struct upload *u = req->state;
    return multipart_feed(u->mp, p, n);
}

void api_upload_cleanup(struct http_req *req)
{
    struct upload *u = req->state;
    if (!u)
        return;
    store_tmp_discard(u->srv->store, &u->tmp);
    if (u->dg)
        digest_free(u->dg);
    hashpipe_free(u->hp);
    multipart_free(u->mp);
    buf_fini(&u->fval);
    free(u);
    req->state = NULL;
}

const struct route_stream api_upload_stream = {upload_begin, api_upload_data,
                                                api_upload_cleanup};

/* ---- deciding where the file goes ---- */

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

static int resolve_scene(struct server *srv, struct http_req *req, char *out, size_t cap)
{
    const char *scene = http_req_arg(req, "scene");
    if (!scene || !*scene)
        scene = http_req_arg(req, "scenes"); /* accepted by go-fastdfs for compatibility */
    if (!scene || !*scene)
        scene = srv->cfg.default_scene;
    if (path_check_name(scene) < 0 || strlen(scene) >= cap) {
        snprintf(req->errmsg, sizeof req->errmsg, "scene is not a valid name");
        return ERR_SCENE;
    }
    if (srv->cfg.scenes.n) {
        bool ok = false;
        for (size_t i = 0; i < srv->cfg.scenes.n && !ok; i++) {
            const char *s = srv->cfg.scenes.v[i];
            const char *colon = strchr(s, ':');
            size_t l = colon ? (size_t)(colon - s) : strlen(s);
            ok = strlen(scene) == l && strncmp(s, scene, l) == 0;
        }
        if (!ok) {
            snprintf(req->errmsg, sizeof req->errmsg, "not valid scene");
            return ERR_SCENE;
        }
    }
    strjoin(out, cap, scene);
    return 0;
}

/* Directories the server keeps for itself: go-fastdfs's work dirs and the volumes. */
static bool reserved_dir(const char *dir)
{
    return path_is_workdir(dir) || content_in_haystack(dir);
}

/* Fills name/rename/path/scene of fi from the form; digest, size, time already set.
 * *custom tells whether the client chose the directory. */
static int decide_place(struct server *srv, struct http_req *req, const char *upname,
                        struct file_info *fi, char *dir, size_t dircap, bool *custom)
{
    int rc = resolve_scene(srv, req, fi->scene, sizeof fi->scene);
    if (rc)
        return rc;

    char name[1024];
    strjoin(name, sizeof name, path_basename(upname));
    if (srv->cfg.enable_trim_file_name_special_char)
        path_trim_special(name);
    if (name[0] == '\0') {
        /* a name made only of special characters: fall back to the digest */
        char ext[64];
        path_extension(upname, ext, sizeof ext);
        snprintf(name, sizeof name, "%s%s", fi->md5, ext);
    }
    if (strlen(name) > PATH_MAX_NAME || path_check_name(name) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "file name not allowed");
        return ERR_BADPATH;
    }
    if (!ext_allowed(srv, name)) {
        snprintf(req->errmsg, sizeof req->errmsg, "(error)file extension mismatch");
        return ERR_EXTENSION;
    }
    memcpy(fi->name, name, strlen(name) + 1);

    const char *filename = http_req_arg(req, "filename");
    if (filename && *filename) {
        if (path_check_name(filename) < 0) {
            snprintf(req->errmsg, sizeof req->errmsg, "filename not allowed");
            return ERR_BADPATH;
        }
        if (!ext_allowed(srv, filename)) {
            snprintf(req->errmsg, sizeof req->errmsg, "(error)file extension mismatch");
            return ERR_EXTENSION;
        }
        if (strcmp(filename, fi->name) != 0)
            snprintf(fi->rename, sizeof fi->rename, "%s", filename);
    }
    if (srv->cfg.rename_file) {
        unsigned char rnd[16];
        char ext[64];
        if (digest_random(rnd, sizeof rnd) < 0)
            return -EIO;
        char hex[DIGEST_HEX_MAX];
        digest_md5_hex(rnd, sizeof rnd, hex);
        path_extension(fi->name, ext, sizeof ext);
        snprintf(fi->rename, sizeof fi->rename, "%s%s", hex, ext);
    }

    const char *cpath = http_req_arg(req, "path");
    if (srv->cfg.enable_custom_path && cpath && *cpath) {
        if (path_normalize_rel(cpath, false, dir, dircap) < 0 || reserved_dir(dir)) {
            snprintf(req->errmsg, sizeof req->errmsg, "path not allowed");
            return ERR_BADPATH;
        }
        *custom = true;
    } else {
        char dates[32];
        path_date_dirs((time_t)fi->timestamp, dates, sizeof dates);
        if (strjoin(dir, dircap, fi->scene, "/", dates, "/", srv->cfg.peer_id) < 0)
            return ERR_BADPATH;
    }
    return strjoin(fi->path, sizeof fi->path, "files/", dir) < 0 ? ERR_BADPATH : 0;
}

/* Keeps fi with the temp's bytes for an index rebuild (best effort, see STORAGE.md);
 * layout_scene: the file's place tells its scene, so the short form may do. */
static void save_record(struct store_tmp *tmp, const struct file_info *fi, bool layout_scene)
{
    size_t tl;
    char *info = fileinfo_saved_text(fi, layout_scene, &tl);
    if (info)
        store_tmp_set_info(tmp, info, tl);
    free(info);
}

/* Moves the temp file (or a hard link to an existing copy) to dir/<name>; on a name taken
 * by other content tries "<i>_<name>" like go-fastdfs, never replacing anything. With dfd
 * the temp is only linked, already durable, and the caller syncs the directory in *dfd. */
static int place_file(struct server *srv, struct store_tmp *tmp, struct file_info *fi,
                      const char *dir, const char *link_src, int *dfd)
{
    char base[PATH_MAX_NAME + 1], cand[PATH_MAX_NAME + 1];
    strjoin(base, sizeof base, fileinfo_disk_name(fi));
    strjoin(cand, sizeof cand, base);
    for (int i = 0; i <= COLLISION_TRIES; i++) {
        int rc = link_src ? store_link(srv->store, link_src, dir, cand)
                 : dfd    ? store_tmp_link(srv->store, tmp, dir, cand, dfd)
                          : store_tmp_commit(srv->store, tmp, dir, cand);
        if (rc == 0) {
            if (strcmp(cand, fi->name) != 0)
                snprintf(fi->rename, sizeof fi->rename, "%s", cand);
            return 0;
        }
        if (rc != -EEXIST)
            return rc;
        /* a short saved record names the file by its disk name: keep the name given (and
         * durable before the name appears, when the caller synced the temp already) */
        if (i == 0 && !link_src) {
            save_record(tmp, fi, false);
            if (dfd && (rc = store_sync(srv->store, tmp->fd)) < 0)
                return rc;
        }
        /* the name is taken: if it holds a record of the same content, that is our file */
        struct file_info other;
        char rel[PATH_MAX_REL + 8], pk[DIGEST_HEX_MAX];
        snprintf(rel, sizeof rel, "%s/%s", dir, cand);
        fileinfo_path_key_rel(rel, pk);
        if (meta_get_path(srv->meta, pk, &other) == 0 && strcmp(other.md5, fi->md5) == 0 &&
            content_live(srv, &other)) {
            *fi = other;
            return 1;
        }
        int n = snprintf(cand, sizeof cand, "%d_%s", i, base);
        if (n < 0 || (size_t)n >= sizeof cand)
            return ERR_CONFLICT;
    }
    return ERR_CONFLICT;
}

static void place_failed(struct http_req *req, const struct file_info *fi, int rc)
{
    if (rc == ERR_CONFLICT)
        snprintf(req->errmsg, sizeof req->errmsg, "too many files named '%.200s' here",
                 fi->name);
}

/* What is stored already decides the commit: 1 when a record of this content in this scene
 * answers the upload (fi becomes it); else 0, with *link_src set when another scene holds
 * the bytes. Under the digest's lock. */
static int find_copies(struct server *srv, struct file_info *fi, char *src_rel, size_t cap,
                       const char **link_src)
{
    struct file_info dups[DUPS_MAX];
    int ndup = 0;
    *link_src = NULL;
    if (srv->cfg.enable_distinct_file) {
        ndup = meta_find_digest(srv->meta, fi->md5, dups, DUPS_MAX);
        if (ndup < 0)
            return ndup;
    }
    for (int i = 0; i < ndup; i++) {
        if (!content_live(srv, &dups[i])) {
            /* an index entry whose bytes are gone must not swallow this upload */
            log_warn("upload", "dropping stale record %s/%s", dups[i].path,
                     fileinfo_disk_name(&dups[i]));
            meta_del(srv->meta, &dups[i]);
            continue;
        }
        if (strcmp(dups[i].scene, fi->scene) == 0) {
            *fi = dups[i];
            return 1; /* same content, same scene: go-fastdfs answers with the first record */
        }
        if (!*link_src && dups[i].volume <= 0 && fileinfo_rel(&dups[i], src_rel, cap) == 0)
            *link_src = src_rel; /* other scene: its own path, but one copy of the bytes */
    }
    return 0;
}

static bool goes_to_volume(struct server *srv, const struct file_info *fi, bool custom)
{
    /* merged unless the client chose the place: a chosen path is kept */
    return !custom && content_mergeable(srv, fi->size);
}

/* Stores a new upload on its own, with its own syncs (0, 1 when the name held the same
 * content already, or an error). */
static int store_upload(struct server *srv, struct http_req *req, struct store_tmp *tmp,
                        struct file_info *fi, const char *dir, bool custom,
                        const char *link_src)
{
    /* a small file goes into a volume (a needle is not hard-linked: it is small) */
    if (goes_to_volume(srv, fi, custom))
        return content_commit_small(srv, tmp, fi, true, true, NULL, 0);
    if (!link_src)
        save_record(tmp, fi, !custom);
    int rc = place_file(srv, tmp, fi, dir, link_src, NULL);
    if (rc == 1)
        return 1;
    if (rc < 0) {
        place_failed(req, fi, rc);
        return rc;
    }
    /* the record and one replication job per peer become durable together */
    return sync_index(srv, fi, true, true, NULL, 0);
}

int api_upload_output(struct http_req *req, const char **output)
{
    const char *o = http_req_arg(req, "output");
    if (!o || !*o)
        o = "text";
    if (strcmp(o, "text") && strcmp(o, "json") && strcmp(o, "json2")) {
        snprintf(req->errmsg, sizeof req->errmsg, "output just support json or text or json2");
        return ERR_PARAM;
    }
    *output = o;
    return 0;
}

int api_upload_reply(struct server *srv, struct http_req *req, struct http_reply *rep,
                     const struct file_info *fi, const char *output)
{
    if (strcmp(output, "json") == 0) {
        http_reply_json(rep, 200, api_file_result(srv, req, fi));
    } else if (strcmp(output, "json2") == 0) {
        http_reply_ok(rep, api_file_result(srv, req, fi), "");
    } else { /* the default: no need to build the whole result */
        char url[API_URL_MAX];
        api_file_url(srv, req, fi, url, sizeof url);
        http_reply_text(rep, 200, url);
    }
    return 0;
}

/* GET ?md5=: the record's URL when the content is already stored. */
static int instant_upload(struct server *srv, struct http_req *req, struct http_reply *rep)
{
    const char *output;
    int rc = api_upload_output(req, &output);
    if (rc)
        return rc;
    const char *md5 = http_req_arg(req, "md5");
    if (!md5 || !*md5) {
        snprintf(req->errmsg, sizeof req->errmsg,
                 "md5 is required for an instant upload; upload files with POST");
        return ERR_PARAM;
    }
    struct file_info fi;
    rc = api_lookup(srv, req, &fi);
    if (rc == 0 && !content_live(srv, &fi))
        rc = -ENOENT;
    if (rc)
        return rc;
    return api_upload_reply(srv, req, rep, &fi, output);
}

/* The record of an upload before anything is stored: its place, name, times and checks. */
static int prepare_commit(struct server *srv, struct http_req *req, struct store_tmp *tmp,
                          const char *digest, const char *upname, struct file_info *fi,
                          char *dir, size_t dircap, bool *custom)
{
    fileinfo_init(fi);
    strjoin(fi->md5, sizeof fi->md5, digest);
    fi->size = (int64_t)tmp->size;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fi->timestamp = (int64_t)now.tv_sec;
    fi->time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (fi->size == 0)
        return ERR_EMPTY;
    const char *want = http_req_arg(req, "md5");
    if (want && *want && !strparse_ieq(want, fi->md5)) {
        snprintf(req->errmsg, sizeof req->errmsg, "md5 mismatch: content is %s", fi->md5);
        return ERR_DIGEST;
    }
    if (srv->cfg.host && fileinfo_add_peer(fi, srv->cfg.host) < 0)
        log_warn("upload", "host too long to record as a peer");
    const char *ttl = http_req_arg(req, "ttl");
    if (ttl && *ttl) {
        uint64_t secs;
        if (strparse_u64(ttl, strlen(ttl), 100ULL * 365 * 86400, &secs) < 0 || secs == 0) {
            snprintf(req->errmsg, sizeof req->errmsg, "ttl must be a number of seconds > 0");
            return ERR_PARAM;
        }
        fi->expire_at = fi->timestamp + (int64_t)secs;
    }
    *custom = false;
    int rc = decide_place(srv, req, upname, fi, dir, dircap, custom);
    if (rc)
        return rc;
    return auth_google(srv, req, fi->scene);
}

int api_upload_commit(struct server *srv, struct http_req *req, struct store_tmp *tmp,
                      const char *digest, const char *upname, struct file_info *out)
{
    struct file_info fi;
    char dir[PATH_MAX_REL + 1], src_rel[PATH_MAX_REL + 8];
    bool custom;
    int rc = prepare_commit(srv, req, tmp, digest, upname, &fi, dir, sizeof dir, &custom);
    if (rc)
        return rc;
    pthread_mutex_t *lk = server_digest_lock(srv, fi.md5);
    pthread_mutex_lock(lk);
    const char *link_src;
    rc = find_copies(srv, &fi, src_rel, sizeof src_rel, &link_src);
    if (rc == 0)
        rc = store_upload(srv, req, tmp, &fi, dir, custom, link_src);
    pthread_mutex_unlock(lk);
    if (rc < 0)
        return rc;
    atomic_fetch_add(&srv->uploads, 1);
    *out = fi;
    return rc;
}

static void commit_job(void *arg)
{
    struct upload *u = arg;
    u->commit_rc = api_upload_commit(u->commit_srv, u->req, &u->tmp, u->digest, u->upname,
                                     &u->result);
    u->committed = true;
    http_req_resume(u->req);
}

/* ---- the batch committer: many durable uploads, one sync of each kind ---- */

enum slot_state { SLOT_DONE, SLOT_READY, SLOT_SYNCING, SLOT_PLACED };

struct slot {
    struct upload *u;
    char dir[PATH_MAX_REL + 1];
    bool custom;
    bool needle; /* appended to a volume: no name to place, and released at the end */
    enum slot_state st;
    int dfd;     /* the placed file's directory, to sync; -1 for a needle */
};

static void slot_done(struct server *srv, struct slot *s, int rc)
{
    s->st = SLOT_DONE;
    s->u->commit_rc = rc;
    if (rc >= 0)
        atomic_fetch_add(&srv->uploads, 1);
}

/* Takes the ready slots whose contents differ (an upload of content already in the round
 * waits for the next one, where it finds the first one's record) and locks their digests.
 * A digest lock held elsewhere (a replica being committed) only defers its upload to a later
 * round, so one busy lock never holds up the whole batch; when every one is busy the round
 * waits for the first, holding no other lock then, so no two holders wait on each other.
 * Returns the count (at least 1 while a slot is ready). */
static size_t pick_round(struct server *srv, struct slot *sl, size_t n, size_t *pick,
                         pthread_mutex_t **locks, size_t *nlocks)
{
    size_t np = 0, nl = 0, first = n;
    for (size_t i = 0; i < n; i++) {
        if (sl[i].st != SLOT_READY)
            continue;
        if (first == n)
            first = i;
        bool seen = false;
        for (size_t j = 0; j < np && !seen; j++)
            seen = strcmp(sl[pick[j]].u->result.md5, sl[i].u->result.md5) == 0;
        if (seen)
            continue;
        pthread_mutex_t *lk = server_digest_lock(srv, sl[i].u->result.md5);
        bool held = false;
        for (size_t j = 0; j < nl && !held; j++)
            held = locks[j] == lk;
        if (!held) {
            if (pthread_mutex_trylock(lk) != 0)
                continue;
            locks[nl++] = lk;
        }
        pick[np++] = i;
    }
    if (np == 0 && first < n) {
        pthread_mutex_t *lk = server_digest_lock(srv, sl[first].u->result.md5);
        pthread_mutex_lock(lk);
        locks[nl++] = lk;
        pick[np++] = first;
    }
    *nlocks = nl;
    return np;
}

/* Ends a slot that holds a needle or a placed file, releasing the needle's volume. */
static void slot_fail(struct server *srv, struct slot *s, int rc)
{
    if (s->needle)
        content_small_done(srv, &s->u->result, false);
    slot_done(srv, s, rc);
}

/* One round, in the order a single commit follows: the new files' bytes durable, then their
 * names, then their records; each step once for the whole round. A new file's slot goes
 * READY -> SYNCING (temp or needle written) -> PLACED (named) -> DONE. */
static void commit_round(struct server *srv, struct slot *sl, size_t n)
{
    size_t pick[UPLOAD_BATCH_MAX], nl;
    pthread_mutex_t *locks[UPLOAD_BATCH_MAX];
    int fds[UPLOAD_BATCH_MAX + 1];
    size_t np = pick_round(srv, sl, n, pick, locks, &nl), nf = 0;
    bool needles = false;
    for (size_t i = 0; i < np; i++) {
        struct slot *s = &sl[pick[i]];
        struct upload *u = s->u;
        char src_rel[PATH_MAX_REL + 8];
        const char *link_src;
        int rc = find_copies(srv, &u->result, src_rel, sizeof src_rel, &link_src);
        if (rc == 0 && link_src) {
            /* rare: a hard link to the copy of another scene, with its own syncs */
            rc = store_upload(srv, u->req, &u->tmp, &u->result, s->dir, s->custom, link_src);
        } else if (rc == 0 && goes_to_volume(srv, &u->result, s->custom)) {
            if ((rc = content_append_small(srv, &u->tmp, &u->result, true, false)) == 0) {
                s->st = SLOT_SYNCING;
                s->needle = needles = true;
                s->dfd = -1;
                continue;
            }
        } else if (rc == 0) {
            save_record(&u->tmp, &u->result, !s->custom);
            if ((rc = store_tmp_spill(&u->tmp)) == 0) {
                s->st = SLOT_SYNCING;
                fds[nf++] = u->tmp.fd;
                continue;
            }
        }
        slot_done(srv, s, rc);
    }
    /* the volumes are below files/: in group mode (the committer's) its sync covers them */
    if (needles)
        fds[nf++] = store_files_fd(srv->store);
    int rc = store_sync_many(srv->store, fds, nf);
    nf = 0;
    for (size_t i = 0; i < np; i++) {
        struct slot *s = &sl[pick[i]];
        if (s->st != SLOT_SYNCING)
            continue;
        int r = rc;
        if (r == 0 && !s->needle)
            r = place_file(srv, &s->u->tmp, &s->u->result, s->dir, NULL, &s->dfd);
        if (r != 0) {
            place_failed(s->u->req, &s->u->result, r);
            slot_fail(srv, s, r);
            continue;
        }
        s->st = SLOT_PLACED;
        if (!s->needle)
            fds[nf++] = s->dfd;
    }
    /* The records and their replication jobs. When the index is on the same filesystem, they
     * are written before the names' syncfs and made durable by it: one flush of the disk per
     * round fewer. A crash during that sync may then keep a record and lose its name; that
     * upload was not acknowledged; a download of it answers 404, and the next upload of the
     * content drops it (find_copies). Otherwise they follow the names, with a sync of their
     * own. */
    bool ride = srv->sync_mode == FSBARRIER_GROUP && srv->index_on_store_fs;
    size_t ndirs = nf; /* fds[0..ndirs) are the placed files' directories, closed at the end */
    if (!ride)
        rc = store_sync_many(srv->store, fds, nf);
    bool wrote = false;
    for (size_t i = 0; i < np; i++) {
        struct slot *s = &sl[pick[i]];
        if (s->st != SLOT_PLACED)
            continue;
        int r = rc < 0 ? rc : sync_index_bulk(srv, &s->u->result, true);
        if (r < 0)
            slot_fail(srv, s, r);
        else
            wrote = true;
    }
    int mrc = 0;
    if (ride) {
        fds[nf++] = store_files_fd(srv->store); /* syncs even when every slot was a needle */
        mrc = store_sync_many(srv->store, fds, nf);
    } else if (wrote) {
        mrc = meta_sync(srv->meta);
    }
    for (size_t i = 0; i < ndirs; i++)
        close(fds[i]);
    for (size_t i = 0; i < np; i++) {
        struct slot *s = &sl[pick[i]];
        if (s->st != SLOT_PLACED)
            continue;
        if (s->needle)
            content_small_done(srv, &s->u->result, mrc == 0);
        slot_done(srv, s, mrc);
    }
    for (size_t i = 0; i < nl; i++)
        pthread_mutex_unlock(locks[i]);
}

static void commit_batch(struct server *srv, void **items, size_t n)
{
    atomic_fetch_add(&srv->commit_batches, 1);
    long long seen = atomic_load(&srv->commit_batch_max);
    while ((long long)n > seen &&
           !atomic_compare_exchange_weak(&srv->commit_batch_max, &seen, (long long)n))
        ;
    struct slot *sl = xcalloc(n, sizeof *sl);
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &sl[i];
        struct upload *u = items[i];
        s->u = u;
        s->st = SLOT_READY;
        int rc = prepare_commit(srv, u->req, &u->tmp, u->digest, u->upname, &u->result, s->dir,
                                sizeof s->dir, &s->custom);
        if (rc)
            slot_done(srv, s, rc);
    }
    /* each round finishes at least its first ready slot */
    for (size_t round = 0; round < n; round++) {
        bool ready = false;
        for (size_t i = 0; i < n && !ready; i++)
            ready = sl[i].st == SLOT_READY;
        if (!ready)
            break;
        commit_round(srv, sl, n);
    }
    for (size_t i = 0; i < n; i++) {
        sl[i].u->committed = true;
        http_req_resume(sl[i].u->req);
    }
    free(sl);
}

void api_upload_commit_batch(void *ctx, void **items, size_t n)
{
    /* the queue hands over at most UPLOAD_BATCH_MAX; more would still all be committed */
    for (size_t off = 0; off < n; off += UPLOAD_BATCH_MAX)
        commit_batch(ctx, items + off, n - off < UPLOAD_BATCH_MAX ? n - off : UPLOAD_BATCH_MAX);
}

int api_upload(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    if (req->method == HTTP_GET || req->method == HTTP_HEAD)
        return instant_upload(srv, req, rep);
    struct upload *u = req->state;
    if (!u)
        return ERR_MULTIPART;
    int rc = u->committed ? 0 : multipart_finish(u->mp);
    if (rc) {
        snprintf(req->errmsg, sizeof req->errmsg, "multipart body is incomplete or malformed");
        return rc;
    }
    if (!u->got_file)
        return ERR_NOFILE;
    const char *output;
    if ((rc = api_upload_output(req, &output)))
        return rc;
    if (!u->committed) {
        if ((rc = store_tmp_finish(&u->tmp)) < 0) /* done at the part's end; this is cheap */
            return rc;
        if (u->hp) {
            hashpipe_final_hex(u->hp, u->digest);
            u->hp = NULL;
        } else {
            digest_final_hex(u->dg, u->digest);
            digest_free(u->dg);
            u->dg = NULL;
        }
        if (srv->sync_mode != FSBARRIER_NONE) {
            u->commit_srv = srv;
            /* park the request while a commit thread makes it durable: the HTTP thread goes
             * on serving, and concurrent commits share their syncs */
            http_req_suspend(req);
            if (srv->uploadq ? workq_submit(srv->uploadq, NULL, u) == 0
                             : srv->commitq && workq_submit(srv->commitq, commit_job, u) == 0)
                return ERR_SUSPENDED;
            commit_job(u); /* queue full: commit here (it resumes the parked request) */
            return ERR_SUSPENDED;
        }
        /* nothing waits for the disk: a hand-off would cost more than the commit */
        u->commit_rc = api_upload_commit(srv, req, &u->tmp, u->digest, u->upname, &u->result);
        u->committed = true;
    }
    if (u->commit_rc < 0)
        return u->commit_rc;
    return api_upload_reply(srv, req, rep, &u->result, output);
}
