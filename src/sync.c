/* Replication, tombstones, fetch-on-miss and repair (see sync.h). Jobs live in LevelDB and
 * workers only keep what they are doing in memory, so a restart of either side resumes
 * where it stopped. Workers never hold a lock across a network call. */
#include "sync.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "content.h"
#include "digest.h"
#include "errcode.h"
#include "fileinfo.h"
#include "http.h"
#include "log.h"
#include "meta.h"
#include "path.h"
#include "peer.h"
#include "server.h"
#include "store.h"
#include "strparse.h"
#include "thumbs.h"
#include "xalloc.h"

#define PEERS_MAX 32
#define PULL_WORKERS_MAX 8
#define SCAN_JOBS_MAX 64        /* jobs looked at per worker round */
#define PUSH_TIMEOUT_MS 10000
#define PEER_BACKOFF_MAX_MS 10000
#define JOB_BACKOFF_MAX_MS 30000
#define MISS_QUEUE_MAX 64
#define MISS_WORKERS 2
#define LIST_BODY_MAX (64 * 1024 * 1024)
#define HASH_CHUNK (256 * 1024)

struct sync;

struct peer_state {
    struct sync *sync;
    char url[256];
    char id[9];
    pthread_t thread;
    bool started;
    /* guarded by sync.mu */
    bool up;
    long long last_ok_ms, last_try_ms;
    char last_error[200];
    int fails;
    bool no_batch; /* the peer answered 404 to syncfile_infos (an older node) */
};

struct miss {
    struct http_req *req;
    char rel[PATH_MAX_REL + 1];
};

struct sync {
    struct server *srv;
    struct peer_client *pc;
    struct peer_state peers[PEERS_MAX];
    size_t npeers;
    pthread_t pullers[PULL_WORKERS_MAX];
    size_t npull;
    pthread_t missers[MISS_WORKERS];
    size_t nmiss;
    pthread_t repairer;
    bool repairer_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* new work or stop */
    pthread_mutex_t repair_mu; /* one repair at a time */
    atomic_bool stop;
    struct miss misses[MISS_QUEUE_MAX];
    size_t miss_head, miss_len;
    atomic_llong pushed, pulled, pull_failures, push_failures;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to ms, waking early on stop or new work. */
static void nap(struct sync *s, long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (ms % 1000) * 1000000LL;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->stop))
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    pthread_mutex_unlock(&s->mu);
}

static void kick(struct sync *s)
{
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static long long backoff_ms(int tries, long long base, long long cap)
{
    long long d = base;
    for (int i = 0; i < tries && d < cap; i++)
        d *= 2;
    return d < cap ? d : cap;
}

/* ---- jobs ---- */

/* Job JSON: {"op":"put"|"del","rec":{...},"tries":n,"next":ms,"src":[urls]} */
static char *job_text(const char *op, const struct file_info *fi, int tries, long long next,
                      const char *src, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "op", json_string(op));
    json_object_set_new(o, "rec", fileinfo_to_json(fi));
    json_object_set_new(o, "tries", json_integer(tries));
    json_object_set_new(o, "next", json_integer(next));
    if (src && *src)
        json_object_set_new(o, "src", json_string(src));
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *len = t ? strlen(t) : 0;
    return t;
}

struct job {
    char key[128];
    char op[8];
    struct file_info fi;
    int tries;
    long long next;
    char src[256];
    uint64_t vhash; /* meta_kv_hash of the value as read; 0 for a new job */
};

static int job_parse(struct job *j, const char *key, const char *v, size_t vl)
{
    memset(j, 0, sizeof *j);
    snprintf(j->key, sizeof j->key, "%s", key);
    j->vhash = meta_kv_hash(v, vl);
    json_t *o = json_loadb(v, vl, 0, NULL);
    if (!o)
        return ERR_CORRUPT;
    const char *op = json_string_value(json_object_get(o, "op"));
    snprintf(j->op, sizeof j->op, "%s", op ? op : "put");
    j->tries = (int)json_integer_value(json_object_get(o, "tries"));
    j->next = json_integer_value(json_object_get(o, "next"));
    const char *src = json_string_value(json_object_get(o, "src"));
    if (src)
        snprintf(j->src, sizeof j->src, "%s", src);
    char *rec = json_dumps(json_object_get(o, "rec"), JSON_COMPACT);
    json_decref(o);
    int rc = rec ? fileinfo_from_text(&j->fi, rec, strlen(rec)) : ERR_CORRUPT;
    free(rec);
    return rc;
}

/* A job read from the index (vhash set) is rewritten only if nobody wrote its key since:
 * a new job under the same key (a delete after a put, a new pull) is never undone by the
 * end of an old one. */
static int job_store(struct sync *s, const struct job *j)
{
    size_t len;
    char *t = job_text(j->op, &j->fi, j->tries, j->next, j->src, &len);
    if (!t)
        return -ENOMEM;
    struct meta_kv kv = {.val = t, .vlen = len, .if_hash = j->vhash};
    snprintf(kv.key, sizeof kv.key, "%s", j->key);
    int rc = meta_write(s->srv->meta, NULL, false, &kv, 1);
    free(t);
    return rc;
}

/* The key that removes job j when written in a batch (see job_store). */
static struct meta_kv job_done(const struct job *j)
{
    struct meta_kv kv = {.val = NULL, .if_hash = j->vhash};
    snprintf(kv.key, sizeof kv.key, "%s", j->key);
    return kv;
}

static int job_remove(struct sync *s, const struct job *j)
{
    struct meta_kv kv = job_done(j);
    return meta_write(s->srv->meta, NULL, false, &kv, 1);
}

/* Reschedules a job after a failure or a "not yet". */
static void job_retry(struct sync *s, struct job *j, long long base, long long cap)
{
    j->tries++;
    j->next = now_ms() + backoff_ms(j->tries, base, cap);
    job_store(s, j);
}

struct collect {
    struct job *jobs;
    size_t n, max;
    long long now, earliest;
    unsigned shard, nshards; /* pull workers split f/ by key hash */
};

static unsigned key_hash(const char *k, size_t kl)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i < kl; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static int collect_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct collect *c = ctx;
    if (c->nshards > 1 && key_hash(k, kl) % c->nshards != c->shard)
        return 0;
    char key[128];
    if (kl >= sizeof key)
        return 0;
    memcpy(key, k, kl);
    key[kl] = '\0';
    struct job j;
    if (job_parse(&j, key, v, vl) < 0) {
        log_warn("sync", "dropping unreadable job %s", key);
        return 0;
    }
    if (j.next > c->now) {
        if (!c->earliest || j.next < c->earliest)
            c->earliest = j.next;
        return 0;
    }
    c->jobs[c->n++] = j;
    return c->n >= c->max ? 1 : 0;
}

/* ---- indexing with jobs and tombstones ---- */

static struct sync *sync_of(struct server *srv)
{
    return srv->sync;
}

void sync_tombstones_init(struct server *srv)
{
    /* an error counts as "some": a needless delete costs little, a stale tombstone a file */
    atomic_store(&srv->tombstones, meta_kv_count(srv->meta, "x/", 1) != 0);
}

/* Called before a tombstone is written, so that a put deciding after it clears it. A put
 * that decided before may leave it, which is the order "delete after put" anyway. */
static void tombstone_coming(struct server *srv)
{
    atomic_store(&srv->tombstones, true);
}

static int index_write(struct server *srv, const struct file_info *fi, bool put, bool replicate,
                       const struct meta_kv *extra, size_t nextra, bool bulk)
{
    struct sync *s = sync_of(srv);
    size_t npeers = (s && replicate) ? s->npeers : 0;
    size_t n = 0;
    struct meta_kv *kv = xcalloc(npeers + nextra + 1, sizeof *kv);
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key(fi, pk);
    char tomb[128];
    /* a removal leaves a tombstone, a put clears it (when any can exist) */
    if (!put)
        tombstone_coming(srv);
    if (!put || atomic_load(&srv->tombstones)) {
        snprintf(kv[n].key, sizeof kv[n].key, "x/%s", pk);
        if (!put) { /* for a put, val stays NULL: a delete */
            int tl = snprintf(tomb, sizeof tomb, "{\"md5\":\"%s\",\"time\":%lld}",
                              fi->md5, now_ms());
            kv[n].val = tomb;
            kv[n].vlen = (size_t)tl;
        }
        n++;
    }
    size_t jobs = n; /* kv[jobs, jobs + npeers) own their values */
    for (size_t i = 0; i < npeers; i++) {
        size_t len;
        char *t = job_text(put ? "put" : "del", fi, 0, 0, NULL, &len);
        if (!t)
            continue;
        snprintf(kv[n].key, sizeof kv[n].key, "q/%s/%s", s->peers[i].id, pk);
        kv[n].val = t;
        kv[n].vlen = len;
        n++;
    }
    for (size_t i = 0; i < nextra; i++)
        kv[n++] = extra[i];
    int rc = bulk ? meta_write_bulk(srv->meta, fi, put, kv, n)
                  : meta_write(srv->meta, fi, put, kv, n);
    for (size_t i = jobs; i < n - nextra; i++)
        free(kv[i].val);
    free(kv);
    if (rc == 0)
        thumbs_drop(srv, pk); /* resized copies of the old bytes are stale either way */
    if (rc == 0 && npeers)
        kick(s);
    return rc;
}

int sync_index(struct server *srv, const struct file_info *fi, bool put, bool replicate,
               const struct meta_kv *extra, size_t nextra)
{
    return index_write(srv, fi, put, replicate, extra, nextra, false);
}

int sync_index_bulk(struct server *srv, const struct file_info *fi, bool replicate)
{
    return index_write(srv, fi, true, replicate, NULL, 0, true);
}

/* Tombstone time (ms) of a path key, or 0. */
long long sync_tombstone_ms(struct server *srv, const char *pk)
{
    char key[128], *v = NULL;
    size_t vl;
    snprintf(key, sizeof key, "x/%s", pk);
    if (meta_kv_get(srv->meta, key, &v, &vl) < 0)
        return 0;
    json_t *o = json_loadb(v, vl, 0, NULL);
    free(v);
    long long t = o ? json_integer_value(json_object_get(o, "time")) : 0;
    json_decref(o);
    return t;
}

bool sync_deleted_after(struct server *srv, const struct file_info *fi)
{
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key(fi, pk);
    long long t = sync_tombstone_ms(srv, pk);
    /* a re-upload after a delete carries a later upload time and wins */
    long long made = fi->time_ms ? fi->time_ms : fi->timestamp * 1000LL;
    return t && t >= made;
}

static bool have_live(struct server *srv, const struct file_info *fi)
{
    char pk[DIGEST_HEX_MAX];
    struct file_info cur;
    fileinfo_path_key(fi, pk);
    return meta_get_path(srv->meta, pk, &cur) == 0 && strcmp(cur.md5, fi->md5) == 0 &&
           content_live(srv, &cur);
}

/* ---- fetching a copy from a peer ---- */

struct fetch_ctx {
    struct store_tmp tmp;
    struct digest *dg;
    uint64_t max;
};

static int fetch_sink(void *ctx, const char *d, size_t n)
{
    struct fetch_ctx *f = ctx;
    if (f->tmp.size + n > f->max)
        return -EMSGSIZE; /* more bytes than the record says: not our file */
    digest_update(f->dg, d, n);
    return store_tmp_write(&f->tmp, d, n);
}

/* Downloads fi from base into a temp file and checks size and digest. */
static int fetch_copy(struct sync *s, const char *base, const struct file_info *fi,
                      struct store_tmp *out)
{
    struct server *srv = s->srv;
    char rel[PATH_MAX_REL + 8], upath[PATH_MAX_REL + 100], epath[sizeof upath * 3];
    struct fetch_ctx f = {.max = (uint64_t)fi->size};
    store_tmp_init(&f.tmp);
    if (fileinfo_rel(fi, rel, sizeof rel) < 0)
        return ERR_BADPATH;
    snprintf(upath, sizeof upath, "%s/%s", server_group_prefix(srv), rel);
    if (strparse_pct_encode(upath, true, epath, sizeof epath) < 0)
        return ERR_BADPATH;
    /* a copy bound for a volume needs no file of its own on the way */
    int rc = content_merged_name(fi) && content_mergeable(srv, fi->size)
                 ? store_tmp_create_mem(srv->store, &f.tmp, (size_t)fi->size)
                 : store_tmp_create(srv->store, &f.tmp);
    if (rc < 0)
        return rc;
    f.dg = digest_new(strlen(fi->md5) == 40 ? DIGEST_SHA1 : DIGEST_MD5);
    long status = 0;
    rc = peer_fetch(s->pc, base, epath, 3000, 15000, fetch_sink, &f, &status);
    char hex[DIGEST_HEX_MAX] = "";
    if (f.dg) {
        digest_final_hex(f.dg, hex);
        digest_free(f.dg);
    }
    if (rc == 0 && (status < 200 || status > 299))
        rc = status == 404 ? -ENOENT : -EIO;
    if (rc == 0 && (f.tmp.size != (uint64_t)fi->size || strcmp(hex, fi->md5) != 0)) {
        log_warn("sync", "copy of %s from %s failed verification", fi->md5, base);
        rc = ERR_CORRUPT;
    }
    if (rc < 0) {
        store_tmp_discard(srv->store, &f.tmp);
        return rc;
    }
    *out = f.tmp;
    return 0;
}

/* Commits a verified copy at the record's own path, never over different content. */
static int commit_copy(struct sync *s, struct store_tmp *t, const struct file_info *peer_fi,
                       const struct meta_kv *extra, size_t nextra)
{
    struct server *srv = s->srv;
    /* where the sender keeps the bytes means nothing here */
    struct file_info in = *peer_fi;
    in.volume = in.vol_off = 0;
    const struct file_info *fi = &in;
    char dir[PATH_MAX_REL + 8];
    const char *d = fi->path;
    if (strncmp(d, "files/", 6) == 0)
        d += 6;
    else if (strcmp(d, "files") == 0)
        d = "";
    snprintf(dir, sizeof dir, "%.*s", (int)sizeof dir - 1, d);
    pthread_mutex_t *lk = server_digest_lock(srv, fi->md5);
    pthread_mutex_lock(lk);
    int rc;
    if (sync_deleted_after(srv, fi)) {
        rc = ERR_DELETED;
    } else if (have_live(srv, fi)) {
        rc = meta_write(srv->meta, NULL, false, extra, nextra);
    } else if (content_merged_name(fi) && content_mergeable(srv, fi->size)) {
        /* a merged file goes into this node's own volume, under the name it came with */
        struct file_info rec = *fi;
        if (srv->cfg.host)
            fileinfo_add_peer(&rec, srv->cfg.host);
        rc = content_commit_small(srv, t, &rec, false, false, extra, nextra);
    } else {
        size_t tl;
        char *info = fileinfo_to_text(fi, &tl);
        if (info)
            store_tmp_set_info(t, info, tl);
        free(info);
        rc = store_tmp_commit(srv->store, t, dir, fileinfo_disk_name(fi));
        if (rc == -EEXIST) {
            /* the name holds bytes the index does not know: keep them only if they are ours */
            rc = ERR_CONFLICT;
            log_error("sync", "%s/%s exists with other content; not replaced", dir,
                      fileinfo_disk_name(fi));
        }
        if (rc == 0) {
            struct file_info rec = *fi;
            if (srv->cfg.host)
                fileinfo_add_peer(&rec, srv->cfg.host);
            rc = sync_index(srv, &rec, true, false, extra, nextra);
        }
    }
    pthread_mutex_unlock(lk);
    store_tmp_discard(srv->store, t);
    return rc;
}

/* Tries every known holder of fi: the job's source, then the record's peers. */
static int pull_from_any(struct sync *s, const struct file_info *fi, const char *src,
                         const struct meta_kv *extra, size_t nextra)
{
    const char *cands[FILEINFO_PEERS_MAX + PEERS_MAX + 1];
    size_t nc = 0;
    if (src && *src)
        cands[nc++] = src;
    for (size_t i = 0; i < fi->npeers; i++)
        cands[nc++] = fi->peers[i];
    for (size_t i = 0; i < s->npeers; i++)
        cands[nc++] = s->peers[i].url;
    int rc = -ENOENT;
    for (size_t i = 0; i < nc && !atomic_load(&s->stop); i++) {
        if (s->srv->cfg.host && strcmp(cands[i], s->srv->cfg.host) == 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup = dup || strcmp(cands[k], cands[i]) == 0;
        if (dup)
            continue;
        struct store_tmp t;
        rc = fetch_copy(s, cands[i], fi, &t);
        if (rc == 0)
            return commit_copy(s, &t, fi, extra, nextra);
    }
    return rc;
}

/* ---- pull workers ---- */

struct pull_arg {
    struct sync *s;
    unsigned shard;
};

static void *pull_main(void *arg)
{
    struct pull_arg *pa = arg;
    struct sync *s = pa->s;
    struct job *jobs = xcalloc(SCAN_JOBS_MAX, sizeof *jobs);
    while (!atomic_load(&s->stop)) {
        struct collect c = {jobs, 0, SCAN_JOBS_MAX, now_ms(), 0, pa->shard, (unsigned)s->npull};
        meta_kv_scan(s->srv->meta, "f/", collect_cb, &c);
        for (size_t i = 0; i < c.n && !atomic_load(&s->stop); i++) {
            struct job *j = &jobs[i];
            struct meta_kv done = job_done(j);
            int rc = pull_from_any(s, &j->fi, j->src, &done, 1);
            if (rc == 0) {
                atomic_fetch_add(&s->pulled, 1);
            } else if (rc == ERR_DELETED || rc == ERR_CONFLICT) {
                job_remove(s, j);
            } else {
                atomic_fetch_add(&s->pull_failures, 1);
                job_retry(s, j, 1000, JOB_BACKOFF_MAX_MS);
            }
        }
        if (c.n == 0) {
            long long wait = c.earliest ? c.earliest - now_ms() : 1000;
            nap(s, wait < 50 ? 50 : wait > 1000 ? 1000 : wait);
        }
    }
    free(jobs);
    free(pa);
    return NULL;
}

/* ---- push workers ---- */

static void peer_note(struct sync *s, struct peer_state *p, int rc, const char *what)
{
    pthread_mutex_lock(&s->mu);
    p->last_try_ms = now_ms();
    if (rc == 0) {
        p->up = true;
        p->fails = 0;
        p->last_ok_ms = p->last_try_ms;
    } else {
        p->up = false;
        p->fails++;
        snprintf(p->last_error, sizeof p->last_error, "%s: %s", what, errcode_str(rc));
    }
    pthread_mutex_unlock(&s->mu);
}

/* Answer of a peer endpoint: the "data" string of a {"status":"ok"} envelope. */
static int envelope_data(const struct peer_resp *r, char *out, size_t cap)
{
    if (r->status != 200)
        return r->status == 403 ? ERR_FORBIDDEN : r->status == 404 ? -ENOENT : -EIO;
    json_t *o = json_loadb(r->body, r->len, 0, NULL);
    const char *d = o ? json_string_value(json_object_get(o, "data")) : NULL;
    snprintf(out, cap, "%s", d ? d : "");
    json_decref(o);
    return d ? 0 : -EIO;
}

/* What the origin does with a peer's answer to an announcement. */
static void apply_answer(struct sync *s, struct peer_state *p, struct job *j, const char *pk,
                         const char *answer)
{
    struct server *srv = s->srv;
    if (strcmp(answer, "have") == 0) {
        /* only now is the peer counted as holding the file; under the content's lock, so
         * two peers' answers cannot overwrite each other and a delete in between wins */
        pthread_mutex_t *lk = server_digest_lock(srv, j->fi.md5);
        pthread_mutex_lock(lk);
        struct file_info cur;
        if (meta_get_path(srv->meta, pk, &cur) == 0 && strcmp(cur.md5, j->fi.md5) == 0 &&
            fileinfo_add_peer(&cur, p->url) == 0) {
            struct meta_kv done = job_done(j);
            meta_write(srv->meta, &cur, true, &done, 1);
        } else {
            job_remove(s, j);
        }
        pthread_mutex_unlock(lk);
        atomic_fetch_add(&s->pushed, 1);
    } else if (strcmp(answer, "deleted") == 0) {
        /* the peer deleted this path after the copy we announced was made: follow it,
         * unless the path holds a newer upload by now (its own job announces it) */
        pthread_mutex_t *lk = server_digest_lock(srv, j->fi.md5);
        pthread_mutex_lock(lk);
        struct file_info cur;
        if (meta_get_path(srv->meta, pk, &cur) == 0 && strcmp(cur.md5, j->fi.md5) == 0 &&
            cur.time_ms == j->fi.time_ms && cur.timestamp == j->fi.timestamp) {
            struct meta_kv done = job_done(j);
            if (sync_index(srv, &cur, false, false, &done, 1) == 0)
                content_remove(srv, &cur);
        } else {
            job_remove(s, j);
        }
        pthread_mutex_unlock(lk);
    } else if (strcmp(answer, "invalid") == 0) {
        log_error("sync", "%s refused record %s as invalid; not retried", p->url, pk);
        job_remove(s, j);
    } else {
        job_retry(s, j, 100, PEER_BACKOFF_MAX_MS); /* queued: ask again soon */
    }
}

static int push_one(struct sync *s, struct peer_state *p, struct job *j)
{
    struct server *srv = s->srv;
    char path[160], pk[DIGEST_HEX_MAX], answer[32];
    struct peer_resp r = {0};
    int rc;
    fileinfo_path_key(&j->fi, pk);
    if (strcmp(j->op, "del") == 0) {
        char t[32];
        snprintf(t, sizeof t, "%lld", sync_tombstone_ms(srv, pk));
        struct http_kv args[] = {{"pk", pk}, {"md5", j->fi.md5}, {"time", t}};
        snprintf(path, sizeof path, "%s/sync_delete", server_group_prefix(srv));
        rc = peer_request(s->pc, "POST", p->url, path, args, 3, NULL, 0, PUSH_TIMEOUT_MS, 4096,
                          &r);
        if (rc == 0)
            rc = envelope_data(&r, answer, sizeof answer);
        peer_resp_fini(&r);
        if (rc == 0)
            job_remove(s, j);
        return rc;
    }
    char *rec = fileinfo_to_text(&j->fi, NULL);
    if (!rec)
        return -ENOMEM;
    struct http_kv args[] = {{"fileInfo", rec}};
    snprintf(path, sizeof path, "%s/syncfile_info", server_group_prefix(srv));
    rc = peer_request(s->pc, "POST", p->url, path, args, 1, NULL, 0, PUSH_TIMEOUT_MS, 4096, &r);
    free(rec);
    if (rc == 0)
        rc = envelope_data(&r, answer, sizeof answer);
    peer_resp_fini(&r);
    if (rc < 0)
        return rc;
    apply_answer(s, p, j, pk, answer);
    return 0;
}

#define BATCH_MAX 32 /* records per syncfile_infos call: ~15 KiB of JSON */

/* Announces the put jobs among jobs[0..n) in one call; del jobs go one by one. Returns
 * < 0 on a transport failure (the caller backs off), -ENOENT when the peer does not know
 * the batch endpoint (the caller falls back to single announcements). */
static int push_batch(struct sync *s, struct peer_state *p, struct job *jobs, size_t n)
{
    struct server *srv = s->srv;
    json_t *arr = json_array();
    size_t idx[BATCH_MAX], k = 0;
    for (size_t i = 0; i < n && k < BATCH_MAX; i++)
        if (strcmp(jobs[i].op, "del") != 0) {
            json_array_append_new(arr, fileinfo_to_json(&jobs[i].fi));
            idx[k++] = i;
        }
    int rc = 0;
    if (k) {
        char *text = json_dumps(arr, JSON_COMPACT);
        struct buf body;
        buf_init(&body, 256 * 1024);
        size_t tl = text ? strlen(text) : 0;
        char *enc = xmalloc(tl * 3 + 1);
        rc = text && strparse_pct_encode(text, false, enc, tl * 3 + 1) == 0 ? 0 : -ENOMEM;
        if (rc == 0)
            rc = buf_appendf(&body, "fileInfos=%s", enc);
        free(enc);
        free(text);
        char path[160];
        snprintf(path, sizeof path, "%s/syncfile_infos", server_group_prefix(srv));
        struct peer_resp r = {0};
        if (rc == 0)
            rc = peer_request(s->pc, "POST", p->url, path, NULL, 0, body.data, body.len,
                              PUSH_TIMEOUT_MS, 64 * 1024, &r);
        buf_fini(&body);
        if (rc == 0 && r.status == 404)
            rc = -ENOENT;
        else if (rc == 0 && r.status != 200)
            rc = r.status == 403 ? ERR_FORBIDDEN : -EIO;
        json_t *o = rc == 0 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
        json_t *answers = o ? json_object_get(o, "data") : NULL;
        if (rc == 0 && (!json_is_array(answers) || json_array_size(answers) != k))
            rc = -EIO;
        for (size_t a = 0; rc == 0 && a < k; a++) {
            const char *ans = json_string_value(json_array_get(answers, a));
            char pk[DIGEST_HEX_MAX];
            fileinfo_path_key(&jobs[idx[a]].fi, pk);
            apply_answer(s, p, &jobs[idx[a]], pk, ans ? ans : "");
        }
        json_decref(o);
        peer_resp_fini(&r);
    }
    json_decref(arr);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcmp(jobs[i].op, "del") == 0)
            rc = push_one(s, p, &jobs[i]);
    return rc;
}

static void *push_main(void *arg)
{
    struct peer_state *p = arg;
    struct sync *s = p->sync;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "q/%s/", p->id);
    struct job *jobs = xcalloc(SCAN_JOBS_MAX, sizeof *jobs);
    while (!atomic_load(&s->stop)) {
        struct collect c = {jobs, 0, SCAN_JOBS_MAX, now_ms(), 0, 0, 1};
        meta_kv_scan(s->srv->meta, prefix, collect_cb, &c);
        int rc = 0;
        /* batches of announcements; a peer without the batch endpoint gets them singly */
        for (size_t i = 0; i < c.n && !atomic_load(&s->stop) && rc == 0; i += BATCH_MAX) {
            size_t m = c.n - i < BATCH_MAX ? c.n - i : BATCH_MAX;
            rc = p->no_batch ? -ENOENT : push_batch(s, p, jobs + i, m);
            if (rc == -ENOENT) {
                p->no_batch = true;
                rc = 0;
                for (size_t k = i; k < i + m && rc == 0; k++)
                    rc = push_one(s, p, &jobs[k]);
            }
        }
        if (rc < 0)
            atomic_fetch_add(&s->push_failures, 1);
        if (c.n)
            peer_note(s, p, rc, "push");
        if (rc < 0) {
            nap(s, backoff_ms(p->fails, 250, PEER_BACKOFF_MAX_MS));
        } else if (c.n == 0) {
            long long wait = c.earliest ? c.earliest - now_ms() : 2000;
            nap(s, wait < 20 ? 20 : wait > 2000 ? 2000 : wait);
        }
    }
    free(jobs);
    return NULL;
}

/* ---- the receiving side ---- */

static int enqueue_pull(struct sync *s, const struct file_info *fi, const char *src)
{
    struct job j;
    memset(&j, 0, sizeof j);
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key(fi, pk);
    snprintf(j.key, sizeof j.key, "f/%s", pk);
    snprintf(j.op, sizeof j.op, "pull");
    j.fi = *fi;
    j.fi.volume = j.fi.vol_off = 0;
    if (src)
        snprintf(j.src, sizeof j.src, "%s", src);
    int rc = job_store(s, &j);
    if (rc == 0)
        kick(s);
    return rc;
}

int sync_receive(struct server *srv, const struct file_info *fi, const char *from,
                 const char **answer)
{
    struct sync *s = sync_of(srv);
    if (srv->cfg.read_only)
        return ERR_READONLY;
    if (!fi->md5[0] || !fi->path[0] || !fi->name[0] || fi->size <= 0)
        return ERR_PARAM;
    if (sync_deleted_after(srv, fi)) {
        *answer = "deleted";
        return 0;
    }
    if (have_live(srv, fi)) {
        *answer = "have";
        return 0;
    }
    if (!s)
        return ERR_UNAVAIL;
    int rc = enqueue_pull(s, fi, from);
    if (rc == 0)
        *answer = "queued";
    return rc;
}

int sync_receive_delete(struct server *srv, const char *pathkey, const char *md5,
                        long long time_ms)
{
    /* the tombstone carries the deleting node's time, so every receiver orders a later
     * re-upload against the same instant whatever its own clock says */
    long long t = time_ms > 0 ? time_ms : now_ms();
    char tomb[128];
    struct meta_kv kv[2];
    memset(kv, 0, sizeof kv);
    snprintf(kv[0].key, sizeof kv[0].key, "f/%s", pathkey); /* a pending pull is moot */
    kv[0].val = NULL;
    kv[0].vlen = 0;
    snprintf(kv[1].key, sizeof kv[1].key, "x/%s", pathkey);
    tombstone_coming(srv);
    int tl = snprintf(tomb, sizeof tomb, "{\"md5\":\"%s\",\"time\":%lld}", md5, t);
    kv[1].val = tomb;
    kv[1].vlen = (size_t)tl;
    /* under the content's lock in every case: a pull of this file that is committing now
     * either finishes first (and is deleted here) or sees the tombstone and stops */
    pthread_mutex_t *lk = server_digest_lock(srv, md5);
    pthread_mutex_lock(lk);
    struct file_info cur;
    int rc = meta_get_path(srv->meta, pathkey, &cur);
    if (rc == 0 && strcmp(cur.md5, md5) == 0) {
        if (cur.time_ms > t) { /* our copy is a newer upload than that delete: keep it */
            rc = meta_write(srv->meta, NULL, false, kv, 1);
        } else {
            rc = sync_index(srv, &cur, false, false, kv, 2);
            if (rc == 0)
                rc = content_remove(srv, &cur);
        }
    } else {
        /* never had it (or a different content): remember the delete all the same */
        rc = meta_write(srv->meta, NULL, false, kv, 2);
    }
    pthread_mutex_unlock(lk);
    return rc;
}

/* ---- fetch on a download miss ---- */

/* Asks each peer for the record of rel (signed, so peers never forward it further). */
static int find_on_peers(struct sync *s, const char *rel, struct file_info *fi,
                         const char **holder)
{
    char path[160], gpath[PATH_MAX_REL + 100];
    snprintf(path, sizeof path, "%s/get_file_info", server_group_prefix(s->srv));
    snprintf(gpath, sizeof gpath, "%s/%s", server_group_prefix(s->srv), rel);
    struct http_kv args[] = {{"path", gpath}};
    for (size_t i = 0; i < s->npeers && !atomic_load(&s->stop); i++) {
        struct peer_resp r = {0};
        int rc = peer_request(s->pc, "GET", s->peers[i].url, path, args, 1, NULL, 0, 3000,
                              64 * 1024, &r);
        if (rc == 0 && r.status == 200) {
            json_t *o = json_loadb(r.body, r.len, 0, NULL);
            char *rec = o ? json_dumps(json_object_get(o, "data"), JSON_COMPACT) : NULL;
            json_decref(o);
            rc = rec ? fileinfo_from_text(fi, rec, strlen(rec)) : -EIO;
            free(rec);
            if (rc == 0) {
                peer_resp_fini(&r);
                *holder = s->peers[i].url;
                return 0;
            }
        }
        peer_resp_fini(&r);
    }
    return -ENOENT;
}

static void *miss_main(void *arg)
{
    struct sync *s = arg;
    while (!atomic_load(&s->stop)) {
        pthread_mutex_lock(&s->mu);
        while (!atomic_load(&s->stop) && s->miss_len == 0)
            pthread_cond_wait(&s->cv, &s->mu);
        if (atomic_load(&s->stop) && s->miss_len == 0) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        struct miss m = s->misses[s->miss_head];
        s->miss_head = (s->miss_head + 1) % MISS_QUEUE_MAX;
        s->miss_len--;
        pthread_mutex_unlock(&s->mu);

        struct file_info fi;
        const char *holder = NULL;
        if (find_on_peers(s, m.rel, &fi, &holder) == 0) {
            char rel[PATH_MAX_REL + 8];
            /* only what was asked for: a record for another path is not an answer; nor is
             * a copy that a delete here outdates (the commit would refuse it, after the
             * download) */
            if (fileinfo_rel(&fi, rel, sizeof rel) == 0 && strcmp(rel, m.rel) == 0 &&
                !sync_deleted_after(s->srv, &fi) && pull_from_any(s, &fi, holder, NULL, 0) == 0)
                atomic_fetch_add(&s->pulled, 1);
        }
        http_req_resume(m.req);
    }
    /* resume whatever is still parked so the daemon can finish those requests */
    pthread_mutex_lock(&s->mu);
    while (s->miss_len) {
        http_req_resume(s->misses[s->miss_head].req);
        s->miss_head = (s->miss_head + 1) % MISS_QUEUE_MAX;
        s->miss_len--;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int sync_fetch_missing(struct server *srv, struct http_req *req, const char *rel)
{
    struct sync *s = sync_of(srv);
    if (!s || s->npeers == 0)
        return -ENOENT;
    pthread_mutex_lock(&s->mu);
    if (s->miss_len >= MISS_QUEUE_MAX || atomic_load(&s->stop)) {
        pthread_mutex_unlock(&s->mu);
        return ERR_UNAVAIL;
    }
    http_req_suspend(req);
    struct miss *m = &s->misses[(s->miss_head + s->miss_len) % MISS_QUEUE_MAX];
    m->req = req;
    snprintf(m->rel, sizeof m->rel, "%s", rel);
    s->miss_len++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return ERR_SUSPENDED;
}

/* ---- repair ---- */

struct pair {
    char pk[DIGEST_HEX_MAX];
    char md5[DIGEST_HEX_MAX];
};

struct pairs {
    struct pair *v;
    size_t n, cap;
};

static void pairs_add(struct pairs *p, const char *pk, size_t pkl, const char *md5, size_t ml)
{
    if (pkl >= DIGEST_HEX_MAX || ml >= DIGEST_HEX_MAX)
        return;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->v = xrealloc(p->v, p->cap * sizeof *p->v);
    }
    memcpy(p->v[p->n].pk, pk, pkl);
    p->v[p->n].pk[pkl] = '\0';
    memcpy(p->v[p->n].md5, md5, ml);
    p->v[p->n].md5[ml] = '\0';
    p->n++;
}

static int local_pair_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    /* t/yyyymmdd/<pk> -> "<md5> <size>" */
    if (kl < 12)
        return 0;
    const char *sp = memchr(v, ' ', vl);
    pairs_add(ctx, k + 11, kl - 11, v, sp ? (size_t)(sp - v) : vl);
    return 0;
}

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->pk, ((const struct pair *)b)->pk);
}

int sync_day_pairs(struct server *srv, const char *day, struct buf *out)
{
    struct pairs p = {0};
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t/%.8s/", day);
    int rc = meta_kv_scan(srv->meta, prefix, local_pair_cb, &p);
    for (size_t i = 0; rc == 0 && i < p.n; i++)
        rc = buf_appendf(out, "%s %s\n", p.v[i].pk, p.v[i].md5);
    free(p.v);
    return rc;
}

static void parse_remote_pairs(const char *body, size_t len, struct pairs *p)
{
    const char *e = body + len;
    for (const char *l = body; l < e;) {
        const char *nl = memchr(l, '\n', (size_t)(e - l));
        const char *end = nl ? nl : e;
        const char *sp = memchr(l, ' ', (size_t)(end - l));
        if (sp) {
            const char *sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
            const char *m_end = sp2 ? sp2 : end;
            pairs_add(p, l, (size_t)(sp - l), sp + 1, (size_t)(m_end - sp - 1));
        }
        l = nl ? nl + 1 : e;
    }
    if (p->n > 1) /* qsort(NULL, 0) is undefined */
        qsort(p->v, p->n, sizeof *p->v, cmp_pair);
}

static int queue_push(struct sync *s, struct peer_state *p, const struct file_info *fi,
                      const char *op)
{
    struct job j;
    memset(&j, 0, sizeof j);
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key(fi, pk);
    snprintf(j.key, sizeof j.key, "q/%s/%s", p->id, pk);
    snprintf(j.op, sizeof j.op, "%s", op);
    j.fi = *fi;
    return job_store(s, &j);
}

static int remote_record(struct sync *s, struct peer_state *p, const char *pk,
                         struct file_info *fi)
{
    char path[160];
    snprintf(path, sizeof path, "%s/get_file_info", server_group_prefix(s->srv));
    struct http_kv args[] = {{"md5", pk}};
    struct peer_resp r = {0};
    int rc = peer_request(s->pc, "GET", p->url, path, args, 1, NULL, 0, 5000, 64 * 1024, &r);
    if (rc == 0 && r.status != 200)
        rc = -ENOENT;
    if (rc == 0) {
        json_t *o = json_loadb(r.body, r.len, 0, NULL);
        char *rec = o ? json_dumps(json_object_get(o, "data"), JSON_COMPACT) : NULL;
        json_decref(o);
        rc = rec ? fileinfo_from_text(fi, rec, strlen(rec)) : -EIO;
        free(rec);
    }
    peer_resp_fini(&r);
    return rc;
}

struct repair_stats {
    long long pulls, pushes, deletes, corrupt, days;
};

static int repair_day(struct sync *s, struct peer_state *p, const char *day,
                      struct repair_stats *st)
{
    struct server *srv = s->srv;
    char path[160];
    snprintf(path, sizeof path, "%s/get_md5s_by_date", server_group_prefix(srv));
    struct http_kv args[] = {{"date", day}, {"format", "pairs"}};
    struct peer_resp r = {0};
    int rc = peer_request(s->pc, "GET", p->url, path, args, 2, NULL, 0, 30000, LIST_BODY_MAX, &r);
    if (rc == 0 && r.status != 200)
        rc = -EIO;
    if (rc < 0) {
        peer_resp_fini(&r);
        return rc;
    }
    struct pairs rem = {0}, loc = {0};
    parse_remote_pairs(r.body, r.len, &rem);
    peer_resp_fini(&r);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t/%.8s/", day);
    meta_kv_scan(srv->meta, prefix, local_pair_cb, &loc);
    size_t i = 0, k = 0;
    while ((i < loc.n || k < rem.n) && !atomic_load(&s->stop)) {
        int c = i >= loc.n ? 1 : k >= rem.n ? -1 : strcmp(loc.v[i].pk, rem.v[k].pk);
        if (c < 0) { /* only here: make sure the peer gets it */
            struct file_info fi, cur;
            if (meta_get_path(srv->meta, loc.v[i].pk, &fi) == 0) {
                /* read again under the content's lock, which deletes hold: a delete before
                 * leaves no record to announce, one after replaces this job with its own */
                pthread_mutex_t *lk = server_digest_lock(srv, fi.md5);
                pthread_mutex_lock(lk);
                if (meta_get_path(srv->meta, loc.v[i].pk, &cur) == 0 &&
                    strcmp(cur.md5, fi.md5) == 0 && queue_push(s, p, &cur, "put") == 0)
                    st->pushes++;
                pthread_mutex_unlock(lk);
            }
            i++;
        } else if (c > 0) { /* only there: fetch it, unless we deleted it */
            struct file_info fi;
            if (remote_record(s, p, rem.v[k].pk, &fi) == 0) {
                if (sync_tombstone_ms(srv, rem.v[k].pk)) {
                    if (queue_push(s, p, &fi, "del") == 0)
                        st->deletes++;
                } else if (enqueue_pull(s, &fi, p->url) == 0) {
                    st->pulls++;
                }
            }
            k++;
        } else {
            if (strcmp(loc.v[i].md5, rem.v[k].md5) != 0)
                log_warn("sync", "%s differs from %s for path key %s", srv->cfg.host, p->url,
                         loc.v[i].pk);
            i++;
            k++;
        }
    }
    free(rem.v);
    free(loc.v);
    st->days++;
    kick(s);
    return 0;
}

static int day_cb(void *ctx, const char *day, long long count, long long bytes)
{
    (void)count;
    (void)bytes;
    struct buf *b = ctx;
    return buf_appendf(b, "%s,", day);
}

/* Days this node or the peer has, as "d1,d2,...," into days. */
static int repair_days(struct sync *s, struct peer_state *p, struct buf *days)
{
    struct server *srv = s->srv;
    int rc = meta_scan_days(srv->meta, day_cb, days);
    if (rc < 0)
        return rc;
    char path[160];
    snprintf(path, sizeof path, "%s/stat", server_group_prefix(srv));
    struct peer_resp r = {0};
    rc = peer_request(s->pc, "GET", p->url, path, NULL, 0, NULL, 0, 10000, 4 * 1024 * 1024, &r);
    if (rc == 0 && r.status != 200)
        rc = -EIO;
    if (rc == 0) {
        json_t *o = json_loadb(r.body, r.len, 0, NULL);
        json_t *rows = o ? json_object_get(o, "data") : NULL;
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            const char *d = json_string_value(json_object_get(row, "date"));
            if (d && strlen(d) == 8 && strparse_is_hex(d, 8) && !strstr(days->data ? days->data : "", d))
                buf_appendf(days, "%s,", d);
        }
        json_decref(o);
    }
    peer_resp_fini(&r);
    return rc;
}

struct scrub_ctx {
    struct sync *s;
    char *chunk;
    long long corrupt;
};

static int scrub_cb(void *ctx, const struct file_info *fi)
{
    struct scrub_ctx *c = ctx;
    struct server *srv = c->s->srv;
    char rel[PATH_MAX_REL + 8];
    if (fi->offset == -2 || fileinfo_rel(fi, rel, sizeof rel) < 0)
        return 0; /* adopted files have no digest of their bytes to check against */
    int fd = -1;
    struct stat st;
    uint64_t base = 0;
    bool bad = false;
    if (content_open(srv, fi, &fd, &base, &st) < 0) {
        bad = true;
    } else {
        struct digest *d = digest_new(strlen(fi->md5) == 40 ? DIGEST_SHA1 : DIGEST_MD5);
        ssize_t n;
        uint64_t left = (uint64_t)st.st_size, at = base;
        while (d && left > 0 &&
               (n = pread(fd, c->chunk, left < HASH_CHUNK ? (size_t)left : HASH_CHUNK,
                          (off_t)at)) > 0) {
            digest_update(d, c->chunk, (size_t)n);
            left -= (uint64_t)n;
            at += (uint64_t)n;
        }
        close(fd);
        char hex[DIGEST_HEX_MAX] = "";
        if (d) {
            digest_final_hex(d, hex);
            digest_free(d);
        }
        bad = st.st_size != fi->size || strcmp(hex, fi->md5) != 0;
    }
    if (!bad)
        return 0;
    if (c->s->npeers == 0) {
        /* nobody to fetch a good copy from: keep it, and say so */
        log_error("sync", "scrub: %s does not match its digest and no peer can replace it", rel);
        c->corrupt++;
        return 0;
    }
    /* a damaged or missing copy: forget it (no tombstone) and fetch it again */
    log_warn("sync", "scrub: %s does not match its digest; fetching it again", rel);
    pthread_mutex_t *lk = server_digest_lock(srv, fi->md5);
    pthread_mutex_lock(lk);
    meta_del(srv->meta, fi);
    content_remove(srv, fi);
    pthread_mutex_unlock(lk);
    enqueue_pull(c->s, fi, NULL);
    c->corrupt++;
    return 0;
}

int sync_repair(struct server *srv, bool scrub, char *report, size_t cap)
{
    struct sync *s = sync_of(srv);
    if (!s)
        return ERR_UNAVAIL;
    pthread_mutex_lock(&s->repair_mu);
    struct repair_stats st = {0};
    if (scrub) {
        struct scrub_ctx c = {s, xmalloc(HASH_CHUNK), 0};
        meta_scan(srv->meta, scrub_cb, &c);
        free(c.chunk);
        st.corrupt = c.corrupt;
    }
    int failed = 0;
    for (size_t i = 0; i < s->npeers && !atomic_load(&s->stop); i++) {
        struct peer_state *p = &s->peers[i];
        struct buf days;
        buf_init(&days, 1024 * 1024);
        int rc = repair_days(s, p, &days);
        for (char *d = days.data; rc == 0 && d && *d;) {
            char *comma = strchr(d, ',');
            if (!comma)
                break;
            *comma = '\0';
            rc = repair_day(s, p, d, &st);
            d = comma + 1;
        }
        buf_fini(&days);
        peer_note(s, p, rc, "repair");
        if (rc < 0)
            failed++;
    }
    pthread_mutex_unlock(&s->repair_mu);
    snprintf(report, cap,
             "repair: %lld days compared, %lld to fetch, %lld to push, %lld deletes, "
             "%lld corrupt copies, %d peers unreachable",
             st.days, st.pulls, st.pushes, st.deletes, st.corrupt, failed);
    log_info("sync", "%s", report);
    return 0;
}

struct push_all {
    struct sync *s;
    const char *to;
    long long n;
};

static int push_all_cb(void *ctx, const struct file_info *fi)
{
    struct push_all *pa = ctx;
    for (size_t i = 0; i < pa->s->npeers; i++) {
        if (pa->to && strcmp(pa->to, pa->s->peers[i].url) != 0)
            continue;
        if (queue_push(pa->s, &pa->s->peers[i], fi, "put") == 0)
            pa->n++;
    }
    return 0;
}

static int day_rec_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v;
    (void)vl;
    struct push_all *pa = ctx;
    struct file_info fi;
    char pk[DIGEST_HEX_MAX];
    if (meta_day_key_pathkey(k, kl, pk) < 0)
        return 0;
    if (meta_get_path(pa->s->srv->meta, pk, &fi) == 0)
        push_all_cb(pa, &fi);
    return 0;
}

long long sync_push_day(struct server *srv, const char *day)
{
    struct sync *s = sync_of(srv);
    if (!s)
        return 0;
    struct push_all pa = {s, NULL, 0};
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t/%.8s/", day);
    meta_kv_scan(srv->meta, prefix, day_rec_cb, &pa);
    kick(s);
    return pa.n;
}

long long sync_push_digests(struct server *srv, const char *list, const char *to)
{
    struct sync *s = sync_of(srv);
    if (!s)
        return 0;
    struct push_all pa = {s, to, 0};
    const char *p = list;
    for (int n = 0; *p && n < 100000; n++) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char one[DIGEST_HEX_MAX];
        if (l > 0 && l < sizeof one) {
            memcpy(one, p, l);
            one[l] = '\0';
            struct file_info fis[8];
            int k = meta_find_digest(srv->meta, one, fis, 8);
            for (int i = 0; i < k; i++)
                push_all_cb(&pa, &fis[i]);
        }
        p = comma ? comma + 1 : p + l;
    }
    kick(s);
    return pa.n;
}

/* ---- visibility ---- */

struct oldest {
    long long n, oldest;
};

static int oldest_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    struct oldest *o = ctx;
    o->n++;
    json_t *j = json_loadb(v, vl, 0, NULL);
    json_t *rec = j ? json_object_get(j, "rec") : NULL;
    long long ts = rec ? json_integer_value(json_object_get(rec, "timeStamp")) : 0;
    if (ts && (!o->oldest || ts < o->oldest))
        o->oldest = ts;
    json_decref(j);
    return o->n >= 100000 ? 1 : 0;
}

json_t *sync_status_json(struct server *srv)
{
    struct sync *s = sync_of(srv);
    json_t *arr = json_array();
    if (!s)
        return arr;
    for (size_t i = 0; i < s->npeers; i++) {
        struct peer_state *p = &s->peers[i];
        char prefix[16];
        snprintf(prefix, sizeof prefix, "q/%s/", p->id);
        struct oldest o = {0, 0};
        meta_kv_scan(srv->meta, prefix, oldest_cb, &o);
        json_t *e = json_object();
        pthread_mutex_lock(&s->mu);
        json_object_set_new(e, "peer", json_string(p->url));
        json_object_set_new(e, "reachable", json_boolean(p->up || (p->last_try_ms == 0)));
        json_object_set_new(e, "contacted", json_boolean(p->last_try_ms != 0));
        json_object_set_new(e, "last_ok_ms", json_integer(p->last_ok_ms));
        json_object_set_new(e, "last_error", json_string(p->last_error));
        pthread_mutex_unlock(&s->mu);
        json_object_set_new(e, "queue", json_integer(o.n));
        json_object_set_new(e, "oldest_pending", json_integer(o.oldest));
        json_array_append_new(arr, e);
    }
    return arr;
}

void sync_metrics(struct server *srv, void *bufp)
{
    struct buf *b = bufp;
    struct sync *s = sync_of(srv);
    long long pulls = meta_kv_count(srv->meta, "f/", 1000000);
    buf_appendf(b, "# TYPE fileserver_pull_queue gauge\nfileserver_pull_queue %lld\n", pulls);
    if (!s)
        return;
    buf_appendf(b,
                "# TYPE fileserver_replicated_out_total counter\n"
                "fileserver_replicated_out_total %lld\n"
                "# TYPE fileserver_replicated_in_total counter\n"
                "fileserver_replicated_in_total %lld\n"
                "# TYPE fileserver_push_failures_total counter\n"
                "fileserver_push_failures_total %lld\n"
                "# TYPE fileserver_pull_failures_total counter\n"
                "fileserver_pull_failures_total %lld\n"
                "# TYPE fileserver_peer_up gauge\n",
                (long long)atomic_load(&s->pushed), (long long)atomic_load(&s->pulled),
                (long long)atomic_load(&s->push_failures),
                (long long)atomic_load(&s->pull_failures));
    for (size_t i = 0; i < s->npeers; i++) {
        pthread_mutex_lock(&s->mu);
        int up = s->peers[i].up || s->peers[i].last_try_ms == 0;
        pthread_mutex_unlock(&s->mu);
        buf_appendf(b, "fileserver_peer_up{peer=\"%s\"} %d\n", s->peers[i].url, up);
    }
    buf_appends(b, "# TYPE fileserver_peer_queue gauge\n");
    for (size_t i = 0; i < s->npeers; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "q/%s/", s->peers[i].id);
        buf_appendf(b, "fileserver_peer_queue{peer=\"%s\"} %lld\n", s->peers[i].url,
                    meta_kv_count(srv->meta, prefix, 1000000));
    }
}

/* ---- life cycle ---- */

static void *repair_main(void *arg)
{
    struct sync *s = arg;
    /* go-fastdfs waits 3 minutes, then repairs hourly */
    long long next = now_ms() + 3 * 60 * 1000;
    while (!atomic_load(&s->stop)) {
        if (now_ms() >= next) {
            char report[256];
            sync_repair(s->srv, false, report, sizeof report);
            next = now_ms() + 60 * 60 * 1000;
        }
        nap(s, 1000);
    }
    return NULL;
}

static bool same_node(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

int sync_start(struct server *srv)
{
    struct sync *s = xcalloc(1, sizeof *s);
    s->srv = srv;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->repair_mu, NULL);
    for (size_t i = 0; i < srv->cfg.peers.n && s->npeers < PEERS_MAX; i++) {
        const char *u = srv->cfg.peers.v[i];
        if ((srv->cfg.host && same_node(u, srv->cfg.host)) || strlen(u) >= sizeof s->peers[0].url)
            continue;
        struct peer_state *p = &s->peers[s->npeers++];
        p->sync = s;
        snprintf(p->url, sizeof p->url, "%s", u);
        size_t ul = strlen(p->url);
        while (ul && p->url[ul - 1] == '/')
            p->url[--ul] = '\0';
        char h[DIGEST_HEX_MAX];
        digest_md5_hex(p->url, strlen(p->url), h);
        memcpy(p->id, h, 8);
        p->id[8] = '\0';
    }
    srv->sync = s;
    bool secret = srv->cfg.cluster_secret && *srv->cfg.cluster_secret;
    /* pullers run whenever another node could announce files to us, even if we announce
     * to nobody: a peer's "queued" must lead to a copy */
    if (s->npeers == 0 && !secret)
        return 0;
    if (!secret)
        log_warn("sync", "cluster_secret is empty: peers will refuse this node's calls");
    int rc = peer_client_new(srv->cfg.cluster_secret ? srv->cfg.cluster_secret : "",
                             srv->cfg.host ? srv->cfg.host : "", &s->pc);
    if (rc < 0)
        return rc;
    peer_client_set_ca(s->pc, srv->cfg.https_ca_file);
    for (size_t i = 0; i < s->npeers; i++)
        if (pthread_create(&s->peers[i].thread, NULL, push_main, &s->peers[i]) == 0)
            s->peers[i].started = true;
    long long nw = srv->cfg.sync_worker > 0 ? srv->cfg.sync_worker : 1;
    s->npull = (size_t)(nw < 4 ? nw : 4);
    for (size_t i = 0; i < s->npull; i++) {
        struct pull_arg *pa = xmalloc(sizeof *pa);
        pa->s = s;
        pa->shard = (unsigned)i;
        if (pthread_create(&s->pullers[i], NULL, pull_main, pa) != 0) {
            free(pa);
            s->npull = i;
            break;
        }
    }
    if (s->npeers == 0)
        return 0;
    for (size_t i = 0; i < MISS_WORKERS; i++)
        s->nmiss += pthread_create(&s->missers[s->nmiss], NULL, miss_main, s) == 0;
    if (srv->cfg.auto_repair)
        s->repairer_started = pthread_create(&s->repairer, NULL, repair_main, s) == 0;
    log_info("sync", "replicating to %zu peers", s->npeers);
    return 0;
}

void sync_stop(struct server *srv)
{
    struct sync *s = sync_of(srv);
    if (!s)
        return;
    atomic_store(&s->stop, true);
    kick(s);
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].started)
            pthread_join(s->peers[i].thread, NULL);
    for (size_t i = 0; i < s->npull; i++)
        pthread_join(s->pullers[i], NULL);
    for (size_t i = 0; i < s->nmiss; i++)
        pthread_join(s->missers[i], NULL);
    if (s->repairer_started)
        pthread_join(s->repairer, NULL);
    peer_client_free(s->pc);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->repair_mu);
    free(s);
    srv->sync = NULL;
}
