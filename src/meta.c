/* The metadata index on LevelDB, and the only file that includes <leveldb/c.h>. Each change
 * is one WriteBatch, so a record and its digest/day index entries appear together, and is
 * durable on return (a sync of the log after it; LevelDB groups concurrent syncs into one
 * log flush). */
#include "meta.h"

#include <errno.h>
#include <leveldb/c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errcode.h"
#include "keyfilter.h"
#include "log.h"
#include "path.h"
#include "strjoin.h"
#include "strparse.h"
#include "xalloc.h"

#define KEY_MAX 160
#define KNOWN_RETIRED_MAX 16
#define KNOWN_QUIET_TRIES 2000 /* waits of 50 us for no probe to look at a replaced filter */
#define KNOWN_MIN_KEYS 65536

struct meta {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_readoptions_t *ropts;
    leveldb_readoptions_t *rscan; /* scans and writes' probes leave the cache to reads */
    leveldb_writeoptions_t *wsync;
    leveldb_writeoptions_t *wlazy; /* bulk loads, made durable by meta_sync at their end */
    bool lazy;                     /* sync_mode none: no write waits for the disk */
    atomic_llong syncs;            /* writes made with wsync: /metrics' index syncs */
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
    /* Changes to the digest index read before they write (which path is a digest's
     * primary): one at a time. LevelDB serializes its writers anyway; synced writes wait
     * for the disk after this lock is released. */
    pthread_mutex_t wlock;
    /* Under wlock: the records' batch, cleared and used again. A new batch grew its buffer
     * through five or six reallocations on every upload. What it keeps is the largest
     * record batch seen: a record, its tombstone and one job per peer. */
    leveldb_writebatch_t *batch;
    /* The digests and path keys in the index, kept in memory so that an upload's two probes
     * (is this content stored? did this path hold a record?), which nearly always find
     * nothing, skip LevelDB. A miss there costs more than its CPU: every lookup that
     * consults two tables charges a "seek" to the first, and LevelDB compacts a table
     * whose seeks run out, so those probes alone drove most of an upload run's compaction.
     * Filled from the index by a thread at open (and again, larger, when it fills up);
     * until then every probe goes to LevelDB. */
    struct keyfilter *_Atomic known; /* answers when set */
    struct keyfilter *building;      /* under wlock: the one a scan is filling */
    atomic_int readers;              /* probes looking at `known` right now */
    struct keyfilter *retired[KNOWN_RETIRED_MAX]; /* replaced while probes kept looking */
    int nretired;
    pthread_t builder;
    bool builder_started;
    atomic_bool builder_done;
    atomic_bool stopping;
};


static int scan_prefix(struct meta *m, const char *prefix, meta_kv_fn cb, void *ctx);

/* The filter's key for a digest or a path key: one filter, two namespaces. */
static size_t known_key(char out[DIGEST_HEX_MAX + 1], char ns, const char *s, size_t n)
{
    if (n >= DIGEST_HEX_MAX)
        n = DIGEST_HEX_MAX - 1;
    out[0] = ns;
    memcpy(out + 1, s, n);
    return n + 1;
}

static void known_add_to(struct keyfilter *f, char ns, const char *s, size_t n)
{
    char k[DIGEST_HEX_MAX + 1];
    if (f && n)
        keyfilter_add(f, k, known_key(k, ns, s, n));
}

/* Under wlock, before the write that makes the key visible in LevelDB. */
static void known_add(struct meta *m, char ns, const char *s)
{
    known_add_to(atomic_load(&m->known), ns, s, strlen(s));
    known_add_to(m->building, ns, s, strlen(s));
}

/* false only when the key is certainly not in the index. */
static bool known_may_hold(struct meta *m, char ns, const char *s)
{
    char k[DIGEST_HEX_MAX + 1];
    size_t kl = known_key(k, ns, s, strlen(s));
    atomic_fetch_add(&m->readers, 1);
    struct keyfilter *f = atomic_load(&m->known);
    bool maybe = !f || keyfilter_may_contain(f, k, kl);
    atomic_fetch_sub(&m->readers, 1);
    return maybe;
}

/* Frees a filter no longer published, once no probe can still be looking at it: one that
 * began before the swap holds `readers` above zero until it is done. */
static void known_retire(struct meta *m, struct keyfilter *old)
{
    for (int i = 0; i < KNOWN_QUIET_TRIES; i++) {
        if (atomic_load(&m->readers) == 0) {
            keyfilter_free(old);
            return;
        }
        usleep(50);
    }
    pthread_mutex_lock(&m->wlock);
    m->retired[m->nretired++] = old; /* freed at close; known_rebuild keeps room */
    pthread_mutex_unlock(&m->wlock);
}

/* The path key's length in a digest's primary entry, "<pathkey>[+]" (the digest index is
 * described below). */
static size_t primary_pk_len(const char *v, size_t n)
{
    return n > 0 && v[n - 1] == '+' ? n - 1 : n;
}

struct fill_ctx {
    struct meta *m;
    struct keyfilter *f;
    long long n;
};

/* "t/<day>/<pathkey>" -> "<digest> <size>" and the digest index's keys and values: between
 * them every record's path key and digest, also where one of the two is damaged. */
static int fill_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct fill_ctx *c = ctx;
    if ((++c->n & 4095) == 0 && atomic_load(&c->m->stopping))
        return -ECANCELED;
    const char *slash = kl > 2 ? memchr(k + 2, '/', kl - 2) : NULL;
    if (k[0] == 't') {
        if (slash)
            known_add_to(c->f, 'p', slash + 1, kl - (size_t)(slash + 1 - k));
        const char *sp = memchr(v, ' ', vl);
        known_add_to(c->f, 'd', v, sp ? (size_t)(sp - v) : vl);
    } else if (kl > 2) {
        known_add_to(c->f, 'd', k + 2, slash ? (size_t)(slash - k - 2) : kl - 2);
        if (slash)
            known_add_to(c->f, 'p', slash + 1, kl - (size_t)(slash + 1 - k));
        else
            known_add_to(c->f, 'p', v, primary_pk_len(v, vl));
    }
    return 0;
}

static void *known_builder(void *arg)
{
    struct meta *m = arg;
    pthread_mutex_lock(&m->wlock);
    struct fill_ctx c = {m, m->building, 0};
    pthread_mutex_unlock(&m->wlock);
    /* the scans start after the filter was published to writers: what they miss, the
     * writers have added */
    int rc = scan_prefix(m, "t/", fill_cb, &c);
    if (rc == 0)
        rc = scan_prefix(m, "d/", fill_cb, &c);
    struct keyfilter *old = NULL;
    pthread_mutex_lock(&m->wlock);
    if (rc == 0)
        old = atomic_exchange(&m->known, c.f);
    else
        keyfilter_free(c.f);
    m->building = NULL;
    pthread_mutex_unlock(&m->wlock);
    if (old)
        known_retire(m, old);
    atomic_store(&m->builder_done, true);
    return NULL;
}

/* Under wlock (or before any other thread uses m): starts filling a filter for `keys`. */
static void known_rebuild(struct meta *m, size_t keys)
{
    if (m->building || m->nretired >= KNOWN_RETIRED_MAX || atomic_load(&m->stopping))
        return;
    if (m->builder_started) {
        /* building is NULL: the last builder has published its filter, and may still be
         * waiting to free the one before (which can take wlock: no join until it is done) */
        if (!atomic_load(&m->builder_done))
            return;
        pthread_join(m->builder, NULL);
        m->builder_started = false;
    }
    atomic_store(&m->builder_done, false);
    if (!(m->building = keyfilter_new(keys < KNOWN_MIN_KEYS ? KNOWN_MIN_KEYS : keys)))
        return;
    if (pthread_create(&m->builder, NULL, known_builder, m) != 0) {
        keyfilter_free(m->building);
        m->building = NULL;
        return;
    }
    m->builder_started = true;
}

/* The first filter: sized from the day index's size on disk (about 40 bytes per record,
 * two keys each), with room to grow into. */
static void known_start(struct meta *m)
{
    const char *start = "t/", *limit = "t0";
    size_t sl = 2, ll = 2;
    uint64_t bytes = 0;
    leveldb_approximate_sizes(m->db, 1, &start, &sl, &limit, &ll, &bytes);
    known_rebuild(m, (size_t)(bytes / 40 * 2 * 2));
}

/* LevelDB maps up to 1000 table files whole, and every page it touches counts in the node's
 * RSS: most of an upload run's peak. The C API has no switch for it; the C++ one it calls
 * before the default Env exists is in the static library only, hence weak: a build against
 * the shared library keeps the mapping. Without it, tables are read with pread into the
 * bounded block cache. */
extern void meta_leveldb_mmap_limit(int limit)
    __asm__("_ZN7leveldb18EnvPosixTestHelper20SetReadOnlyMMapLimitEi") __attribute__((weak));

static bool map_tables;

static void no_table_mmap(void)
{
    if (meta_leveldb_mmap_limit && !map_tables)
        meta_leveldb_mmap_limit(0);
}

void meta_map_tables(void)
{
    map_tables = true;
}

/* One point read: 0 with *v (leveldb_free it), -ENOENT, or -EIO. */
static int db_get(struct meta *m, const leveldb_readoptions_t *ro, const char *k, size_t kl,
                  char **v, size_t *n)
{
    char *err = NULL;
    *n = 0;
    *v = leveldb_get(m->db, ro, k, kl, n, &err);
    if (err) {
        log_error("meta", "read failed: %s", err);
        leveldb_free(err);
        return -EIO;
    }
    return *v ? 0 : -ENOENT;
}

/* Indexes written before "v/digest-index" held every path as "d/<digest>/<pathkey>": the
 * first path of each digest becomes its primary, once. A crash halfway is resumed, since a
 * digest that has a primary keeps its remaining keys as extras. */
#define DIGEST_INDEX_MARK "v/digest-index"
#define MIGRATE_BATCH 10000

struct migrate {
    struct meta *m;
    leveldb_writebatch_t *b;
    int ops;
    char digest[DIGEST_HEX_MAX], first[DIGEST_HEX_MAX];
    bool has_primary;
    int paths;
    long long moved;
};

static void put_primary(leveldb_writebatch_t *b, const char *digest, const char *pk, bool more);
static void put_extra(leveldb_writebatch_t *b, const char *digest, const char *pk, bool put);
static int write_with(struct meta *m, leveldb_writebatch_t *b, leveldb_writeoptions_t *o);

static void migrate_flush_digest(struct migrate *g)
{
    if (!g->has_primary && g->paths > 0) {
        put_primary(g->b, g->digest, g->first, g->paths > 1);
        put_extra(g->b, g->digest, g->first, false);
        g->ops += 2;
        g->moved++;
    }
    g->digest[0] = '\0';
    g->has_primary = false;
    g->paths = 0;
}

/* A meta_kv_fn over the d/ keys; writes out the batch every MIGRATE_BATCH changes. */
static int migrate_key(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v;
    (void)vl;
    struct migrate *g = ctx;
    if (g->ops >= MIGRATE_BATCH) {
        int rc = write_with(g->m, g->b, g->m->wlazy);
        g->b = leveldb_writebatch_create();
        g->ops = 0;
        if (rc < 0)
            return rc;
    }
    const char *d = k + 2, *end = k + kl;
    const char *slash = memchr(d, '/', (size_t)(end - d));
    size_t dl = (size_t)((slash ? slash : end) - d);
    if (dl == 0 || dl >= DIGEST_HEX_MAX)
        return 0; /* not a digest key of either form: left alone */
    if (strlen(g->digest) != dl || memcmp(g->digest, d, dl) != 0) {
        migrate_flush_digest(g);
        memcpy(g->digest, d, dl);
        g->digest[dl] = '\0';
    }
    if (!slash) {
        g->has_primary = true;
        return 0;
    }
    size_t pl = (size_t)(end - slash - 1);
    if (g->paths++ == 0 && pl < DIGEST_HEX_MAX) {
        memcpy(g->first, slash + 1, pl);
        g->first[pl] = '\0';
    } else if (g->paths == 1) {
        g->paths = 0; /* an unusable path key cannot be the primary */
    }
    return 0;
}

static int migrate_digest_index(struct meta *m)
{
    char *v;
    size_t n;
    int rc = db_get(m, m->ropts, DIGEST_INDEX_MARK, strlen(DIGEST_INDEX_MARK), &v, &n);
    if (rc != -ENOENT) {
        if (rc == 0)
            leveldb_free(v);
        return rc;
    }
    struct migrate g = {.m = m, .b = leveldb_writebatch_create()};
    rc = scan_prefix(m, "d/", migrate_key, &g);
    migrate_flush_digest(&g);
    if (rc < 0) {
        leveldb_writebatch_destroy(g.b);
        return rc;
    }
    leveldb_writebatch_put(g.b, DIGEST_INDEX_MARK, strlen(DIGEST_INDEX_MARK), "1", 1);
    if ((rc = write_with(m, g.b, m->wlazy)) == 0)
        rc = meta_sync(m);
    if (g.moved)
        log_info("meta", "digest index: %lld digests given a primary path", g.moved);
    return rc;
}

int meta_open(const char *dir, struct meta **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char *err = NULL;
    pthread_once(&once, no_table_mmap); /* before leveldb_options_create builds the Env */
    struct meta *m = xcalloc(1, sizeof *m);
    m->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(m->opts, 1);
    leveldb_options_set_compression(m->opts, leveldb_snappy_compression);
    m->cache = leveldb_cache_create_lru(8 << 20);
    leveldb_options_set_cache(m->opts, m->cache);
    m->bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(m->opts, m->bloom);
    leveldb_options_set_max_open_files(m->opts, 256);
    /* Under upload load the memtable and the one being written out are both resident: at
     * LevelDB's 4 MiB they were the largest part of the peak RSS. 2 MiB took 2 MiB off the
     * peak at no CPU cost measurable at 4 KiB uploads (the compactions' share grew little).
     * An offline batch run keeps the 4 MiB: there the extra compactions made a rebuild of
     * 1M records take 80 s instead of 55, and nothing else is resident. */
    leveldb_options_set_write_buffer_size(m->opts, map_tables ? 4u << 20 : 2u << 20);
    m->db = leveldb_open(m->opts, dir, &err);
    if (err) {
        log_error("meta", "cannot open %s: %s", dir, err);
        leveldb_free(err);
        leveldb_options_destroy(m->opts);
        leveldb_cache_destroy(m->cache);
        leveldb_filterpolicy_destroy(m->bloom);
        free(m);
        return -EIO;
    }
    m->ropts = leveldb_readoptions_create();
    /* An upload's dedupe probe seeks a random digest in every table, its write looks for a
     * record at what is nearly always a new path, and a listing walks many blocks once:
     * cached, each would push out the records downloads keep reading, and an upload run
     * would fill the whole cache with blocks of no further use. */
    m->rscan = leveldb_readoptions_create();
    leveldb_readoptions_set_fill_cache(m->rscan, 0);
    m->wsync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(m->wsync, 1);
    m->wlazy = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(m->wlazy, 0);
    pthread_mutex_init(&m->wlock, NULL);
    m->batch = leveldb_writebatch_create();
    int rc = migrate_digest_index(m);
    if (rc < 0) {
        meta_close(m);
        return rc;
    }
    known_start(m);
    *out = m;
    return 0;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    atomic_store(&m->stopping, true);
    if (m->builder_started)
        pthread_join(m->builder, NULL);
    keyfilter_free(atomic_load(&m->known));
    for (int i = 0; i < m->nretired; i++)
        keyfilter_free(m->retired[i]);
    leveldb_close(m->db);
    leveldb_readoptions_destroy(m->ropts);
    leveldb_readoptions_destroy(m->rscan);
    leveldb_writeoptions_destroy(m->wsync);
    leveldb_writeoptions_destroy(m->wlazy);
    leveldb_options_destroy(m->opts);
    leveldb_cache_destroy(m->cache);
    leveldb_filterpolicy_destroy(m->bloom);
    pthread_mutex_destroy(&m->wlock);
    if (m->batch)
        leveldb_writebatch_destroy(m->batch);
    free(m);
}

/* Writes b, which stays the caller's. */
static int write_kept(struct meta *m, leveldb_writebatch_t *b, leveldb_writeoptions_t *o)
{
    char *err = NULL;
    if (o == m->wsync)
        atomic_fetch_add(&m->syncs, 1);
    leveldb_write(m->db, o, b, &err);
    if (err) {
        log_error("meta", "write failed: %s", err);
        leveldb_free(err);
        return -EIO;
    }
    return 0;
}

/* Writes b and destroys it. */
static int write_with(struct meta *m, leveldb_writebatch_t *b, leveldb_writeoptions_t *o)
{
    int rc = write_kept(m, b, o);
    leveldb_writebatch_destroy(b);
    return rc;
}

static int get_path(struct meta *m, const leveldb_readoptions_t *ro, const char *pathkey,
                    struct file_info *out);

static void day_of(const struct file_info *fi, char day[16])
{
    path_day((time_t)fi->timestamp, day, 16);
}

/* The digest index: "d/<digest>" -> "<pathkey>[+]" names one path holding the content (the
 * primary), so that the question every upload asks, "is this content stored?", is a point
 * lookup that LevelDB's bloom filters answer without reading a block. Other paths with the
 * same content are "d/<digest>/<pathkey>" -> "" (extras); "+" says extras may exist. */
#define DPRIMARY_MAX (DIGEST_HEX_MAX + 2)

static bool is_pathkey(const char *v, size_t n)
{
    char t[DIGEST_HEX_MAX];
    if (n != 32 && n != 40)
        return false;
    memcpy(t, v, n);
    t[n] = '\0';
    return strparse_is_hex(t, n);
}

/* "d/<digest>" into k; its length, or -1 when it does not fit. */
static int primary_key(char k[KEY_MAX], const char *digest)
{
    return strjoin(k, KEY_MAX, "d/", digest);
}

/* "d/<digest>/", the prefix of the digest's extras, into k; its length, or -1. */
static int extras_prefix(char k[KEY_MAX], const char *digest)
{
    return strjoin(k, KEY_MAX, "d/", digest, "/");
}

/* 0 and the primary's path key (and whether extras may exist), -ENOENT, or -EIO. */
static int get_primary(struct meta *m, const char *digest, char pk[DIGEST_HEX_MAX], bool *more)
{
    char k[KEY_MAX], *v;
    size_t n;
    int kl = primary_key(k, digest);
    if (kl < 0 || !known_may_hold(m, 'd', digest))
        return -ENOENT;
    int rc = db_get(m, m->rscan, k, (size_t)kl, &v, &n);
    if (rc < 0)
        return rc;
    size_t pl = primary_pk_len(v, n);
    *more = pl < n;
    rc = is_pathkey(v, pl) ? 0 : -ENOENT;
    if (rc == 0) {
        memcpy(pk, v, pl);
        pk[pl] = '\0';
    } else {
        log_warn("meta", "digest %s: unreadable primary entry, looking at its extras", digest);
        *more = true;
    }
    leveldb_free(v);
    return rc;
}

static void put_primary(leveldb_writebatch_t *b, const char *digest, const char *pk, bool more)
{
    char k[KEY_MAX], v[DPRIMARY_MAX];
    int kl = primary_key(k, digest);
    int vl = strjoin(v, sizeof v, pk, more ? "+" : "");
    leveldb_writebatch_put(b, k, (size_t)kl, v, (size_t)vl);
}

static void put_extra(leveldb_writebatch_t *b, const char *digest, const char *pk, bool put)
{
    char k[KEY_MAX];
    int kl = strjoin(k, sizeof k, "d/", digest, "/", pk);
    if (put)
        leveldb_writebatch_put(b, k, (size_t)kl, "", 0);
    else
        leveldb_writebatch_delete(b, k, (size_t)kl);
}


struct extras_ctx {
    const char *skip; /* a path key not to report (the one being removed) */
    char first[DIGEST_HEX_MAX];
    int n;
    size_t prefix_len;
};

/* Finds the first extra other than skip, and whether a second follows (the scan stops
 * there: two tell all the caller needs). */
static int extras_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v;
    (void)vl;
    struct extras_ctx *e = ctx;
    size_t n = kl - e->prefix_len;
    if (!is_pathkey(k + e->prefix_len, n) ||
        (strlen(e->skip) == n && memcmp(e->skip, k + e->prefix_len, n) == 0))
        return 0;
    if (e->n++ == 0) {
        memcpy(e->first, k + e->prefix_len, n);
        e->first[n] = '\0';
    }
    return e->n >= 2;
}

/* Adds pk to the digest's paths. Under wlock. */
static int index_add(struct meta *m, leveldb_writebatch_t *b, const char *digest, const char *pk)
{
    char prim[DIGEST_HEX_MAX];
    bool more = false;
    int rc = get_primary(m, digest, prim, &more);
    if (rc == -ENOENT && !more) {
        put_primary(b, digest, pk, false);
        return 0;
    }
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0 && strcmp(prim, pk) == 0)
        return 0;
    if (rc == 0 && !more)
        put_primary(b, digest, prim, true);
    put_extra(b, digest, pk, true);
    return 0;
}

/* Removes pk from the digest's paths; the first extra becomes the primary when pk was it.
 * Under wlock. */
static int index_drop(struct meta *m, leveldb_writebatch_t *b, const char *digest,
                      const char *pk)
{
    char prim[DIGEST_HEX_MAX];
    bool more = false;
    int rc = get_primary(m, digest, prim, &more);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0 && strcmp(prim, pk) != 0) {
        put_extra(b, digest, pk, false);
        return 0;
    }
    if (rc == -ENOENT && !more)
        return 0; /* not indexed */
    put_extra(b, digest, pk, false); /* an unreadable primary: pk may be an extra */
    struct extras_ctx e = {.skip = pk};
    char prefix[KEY_MAX];
    e.prefix_len = (size_t)extras_prefix(prefix, digest);
    if (more && (rc = scan_prefix(m, prefix, extras_cb, &e)) < 0)
        return rc;
    if (e.n == 0) {
        char k[KEY_MAX];
        leveldb_writebatch_delete(b, k, (size_t)primary_key(k, digest));
        return 0;
    }
    put_primary(b, digest, e.first, e.n > 1);
    put_extra(b, digest, e.first, false);
    return 0;
}

uint64_t meta_kv_hash(const char *val, size_t vlen)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < vlen; i++)
        h = (h ^ (unsigned char)val[i]) * 1099511628211ull;
    return h ? h : 1;
}

/* Whether key holds a value of hash h now (the caller holds wlock). */
static bool kv_holds(struct meta *m, const char *key, uint64_t h)
{
    char *v;
    size_t n;
    if (db_get(m, m->rscan, key, strlen(key), &v, &n) < 0)
        return false;
    bool same = meta_kv_hash(v, n) == h;
    leveldb_free(v);
    return same;
}

static int write_record(struct meta *m, const struct file_info *fi, bool put,
                        const struct meta_kv *kv, size_t nkv, bool sync)
{
    char pk[DIGEST_HEX_MAX], k[KEY_MAX], day[16], dv[80];
    int rc = 0;
    pthread_mutex_lock(&m->wlock);
    leveldb_writebatch_t *b = m->batch;
    leveldb_writebatch_clear(b);
    if (fi) {
        fileinfo_path_key(fi, pk);
        day_of(fi, day);
        struct file_info old;
        /* a new path is the common case; its probe is not worth a cache slot either */
        if (put && known_may_hold(m, 'p', pk) && get_path(m, m->rscan, pk, &old) == 0) {
            /* the path held other content or another day: drop its index entries */
            char oday[16];
            day_of(&old, oday);
            if (strcmp(old.md5, fi->md5) != 0 && old.md5[0])
                rc = index_drop(m, b, old.md5, pk);
            if (strcmp(oday, day) != 0) {
                int ko = strjoin(k, sizeof k, "t/", oday, "/", pk);
                leveldb_writebatch_delete(b, k, (size_t)ko);
            }
        }
        int kp = strjoin(k, sizeof k, "p/", pk);
        if (put) {
            size_t vlen;
            char *val = fileinfo_to_text(fi, &vlen);
            if (!val) {
                pthread_mutex_unlock(&m->wlock);
                return -ENOMEM;
            }
            leveldb_writebatch_put(b, k, (size_t)kp, val, vlen);
            free(val);
        } else {
            leveldb_writebatch_delete(b, k, (size_t)kp);
        }
        if (rc == 0 && fi->md5[0])
            rc = put ? index_add(m, b, fi->md5, pk) : index_drop(m, b, fi->md5, pk);
        if (put) {
            known_add(m, 'p', pk);
            if (fi->md5[0])
                known_add(m, 'd', fi->md5);
            struct keyfilter *kf = atomic_load(&m->known);
            if (kf && keyfilter_count(kf) > keyfilter_capacity(kf))
                known_rebuild(m, keyfilter_count(kf) * 2);
        }
        kp = strjoin(k, sizeof k, "t/", day, "/", pk);
        char size[STRJOIN_I64_MAX];
        strjoin_i64(size, fi->size);
        int dl = strjoin(dv, sizeof dv, fi->md5, " ", size);
        if (put)
            leveldb_writebatch_put(b, k, (size_t)kp, dv, (size_t)dl);
        else
            leveldb_writebatch_delete(b, k, (size_t)kp);
    }
    for (size_t i = 0; i < nkv && rc == 0; i++) {
        if (kv[i].if_hash && !kv_holds(m, kv[i].key, kv[i].if_hash))
            continue;
        if (kv[i].val)
            leveldb_writebatch_put(b, kv[i].key, strlen(kv[i].key), kv[i].val, kv[i].vlen);
        else
            leveldb_writebatch_delete(b, kv[i].key, strlen(kv[i].key));
    }
    if (rc == 0)
        rc = write_kept(m, b, m->wlazy);
    pthread_mutex_unlock(&m->wlock);
    /* durable on return: the log holds this batch before any later one */
    if (rc == 0 && sync && !m->lazy)
        rc = meta_sync(m);
    return rc;
}

int meta_write(struct meta *m, const struct file_info *fi, bool put, const struct meta_kv *kv,
               size_t nkv)
{
    return write_record(m, fi, put, kv, nkv, true);
}

int meta_write_bulk(struct meta *m, const struct file_info *fi, bool put,
                    const struct meta_kv *kv, size_t nkv)
{
    return write_record(m, fi, put, kv, nkv, false);
}

void meta_set_lazy(struct meta *m)
{
    m->lazy = true;
}

int meta_sync(struct meta *m)
{
    /* a synced write of nothing syncs LevelDB's log, and with it every earlier write; it
     * syncs even when lazy, so a clean stop leaves a lazy index durable */
    return write_with(m, leveldb_writebatch_create(), m->wsync);
}

int meta_put(struct meta *m, const struct file_info *fi)
{
    return meta_write(m, fi, true, NULL, 0);
}

int meta_del(struct meta *m, const struct file_info *fi)
{
    return meta_write(m, fi, false, NULL, 0);
}

int meta_kv_get(struct meta *m, const char *key, char **val, size_t *vlen)
{
    char *v;
    size_t n;
    int rc = db_get(m, m->ropts, key, strlen(key), &v, &n);
    if (rc < 0)
        return rc;
    *val = xmalloc(n + 1);
    memcpy(*val, v, n);
    (*val)[n] = '\0';
    *vlen = n;
    leveldb_free(v);
    return 0;
}

static int get_raw(struct meta *m, const leveldb_readoptions_t *ro, const char *key,
                   size_t klen, struct file_info *out)
{
    char *v;
    size_t vlen;
    int rc = db_get(m, ro, key, klen, &v, &vlen);
    if (rc < 0)
        return rc;
    rc = fileinfo_from_text(out, v, vlen);
    leveldb_free(v);
    return rc < 0 ? ERR_CORRUPT : 0;
}

static int get_path(struct meta *m, const leveldb_readoptions_t *ro, const char *pathkey,
                    struct file_info *out)
{
    char k[KEY_MAX];
    int kl = strjoin(k, sizeof k, "p/", pathkey);
    if (kl < 0)
        return -ENOENT;
    return get_raw(m, ro, k, (size_t)kl, out);
}

int meta_get_path(struct meta *m, const char *pathkey, struct file_info *out)
{
    return get_path(m, m->ropts, pathkey, out);
}

static int scan_prefix(struct meta *m, const char *prefix, meta_kv_fn cb, void *ctx)
{
    size_t pl = strlen(prefix);
    leveldb_iterator_t *it = leveldb_create_iterator(m->db, m->rscan);
    int rc = 0;
    for (leveldb_iter_seek(it, prefix, pl); rc == 0 && leveldb_iter_valid(it);
         leveldb_iter_next(it)) {
        size_t kl, vl;
        const char *k = leveldb_iter_key(it, &kl);
        if (kl < pl || memcmp(k, prefix, pl) != 0)
            break;
        const char *v = leveldb_iter_value(it, &vl);
        rc = cb(ctx, k, kl, v, vl);
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    if (err) {
        log_error("meta", "scan failed: %s", err);
        leveldb_free(err);
        rc = rc ? rc : -EIO;
    }
    leveldb_iter_destroy(it);
    return rc;
}

bool meta_known_ready(struct meta *m)
{
    return atomic_load(&m->known) != NULL;
}

long long meta_mem_bytes(struct meta *m)
{
    char *v = leveldb_property_value(m->db, "leveldb.approximate-memory-usage");
    long long n = v ? atoll(v) : -1;
    leveldb_free(v);
    return n;
}

/* The record at pk into out, if it still holds digest: an index entry the record no
 * longer agrees with is not an answer. The read may take a cache slot, since a download
 * reads that record next. */
static bool read_holder(struct meta *m, const char *pk, const char *digest,
                        struct file_info *out)
{
    return get_path(m, m->ropts, pk, out) == 0 && strcmp(out->md5, digest) == 0;
}

struct find_ctx {
    struct meta *m;
    const char *digest;
    struct file_info *out;
    size_t max, n;
    size_t prefix_len;
};

static int find_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v;
    (void)vl;
    struct find_ctx *f = ctx;
    if (f->n >= f->max)
        return 1;
    char pk[KEY_MAX];
    size_t n = kl - f->prefix_len;
    if (n >= sizeof pk)
        return 0;
    memcpy(pk, k + f->prefix_len, n);
    pk[n] = '\0';
    if (read_holder(f->m, pk, f->digest, &f->out[f->n]))
        f->n++;
    return 0;
}

int meta_find_digest(struct meta *m, const char *digest, struct file_info *out, size_t max)
{
    char prefix[KEY_MAX], prim[DIGEST_HEX_MAX];
    int pl = extras_prefix(prefix, digest);
    if (pl < 0 || max == 0 || !*digest)
        return 0;
    bool more = false;
    struct find_ctx f = {m, digest, out, max, 0, (size_t)pl};
    int rc = get_primary(m, digest, prim, &more);
    if (rc == -EIO)
        return rc;
    if (rc == 0 && read_holder(m, prim, digest, &out[0]))
        f.n = 1;
    if (!more || f.n >= max)
        return (int)f.n;
    rc = scan_prefix(m, prefix, find_cb, &f);
    return rc < 0 ? rc : (int)f.n;
}

struct scan_ctx {
    meta_record_fn cb;
    void *ctx;
};

static int scan_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    struct scan_ctx *s = ctx;
    struct file_info fi;
    if (fileinfo_from_text(&fi, v, vl) < 0)
        return 0; /* a corrupt record is skipped, a rebuild fixes it */
    return s->cb(s->ctx, &fi);
}

int meta_scan(struct meta *m, meta_record_fn cb, void *ctx)
{
    struct scan_ctx s = {cb, ctx};
    return scan_prefix(m, "p/", scan_cb, &s);
}

struct days_ctx {
    meta_day_fn cb;
    void *ctx;
    char day[16];
    long long count, bytes;
};

static int days_flush(struct days_ctx *d)
{
    int rc = 0;
    if (d->day[0] && d->count)
        rc = d->cb(d->ctx, d->day, d->count, d->bytes);
    d->count = d->bytes = 0;
    return rc;
}

static int days_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct days_ctx *d = ctx;
    /* "t/yyyymmdd/<digest>" */
    if (kl < 12 || k[10] != '/')
        return 0;
    if (memcmp(d->day, k + 2, 8) != 0 || d->day[0] == '\0') {
        int rc = days_flush(d);
        if (rc)
            return rc;
        memcpy(d->day, k + 2, 8);
        d->day[8] = '\0';
    }
    char val[96];
    size_t n = vl < sizeof val - 1 ? vl : sizeof val - 1;
    memcpy(val, v, n);
    val[n] = '\0';
    const char *sp = strchr(val, ' ');
    d->count++;
    d->bytes += sp ? strtoll(sp + 1, NULL, 10) : 0;
    return 0;
}

int meta_scan_days(struct meta *m, meta_day_fn cb, void *ctx)
{
    struct days_ctx d = {.cb = cb, .ctx = ctx};
    int rc = scan_prefix(m, "t/", days_cb, &d);
    if (rc == 0)
        rc = days_flush(&d);
    return rc;
}

static int count_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(long long *)ctx)++;
    return 0;
}

long long meta_syncs(struct meta *m)
{
    return atomic_load(&m->syncs);
}

long long meta_count(struct meta *m)
{
    long long n = 0;
    scan_prefix(m, "p/", count_cb, &n);
    return n;
}

int meta_kv_scan(struct meta *m, const char *prefix, meta_kv_fn cb, void *ctx)
{
    return scan_prefix(m, prefix, cb, ctx);
}

struct bounded_count {
    long long n, max;
};

static int bounded_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    struct bounded_count *b = ctx;
    return ++b->n >= b->max ? 1 : 0;
}

long long meta_kv_count(struct meta *m, const char *prefix, long long max)
{
    if (max <= 0)
        return 0;
    struct bounded_count b = {0, max};
    scan_prefix(m, prefix, bounded_cb, &b);
    return b.n;
}

int meta_day_key_pathkey(const char *key, size_t klen, char out[DIGEST_HEX_MAX])
{
    /* "t/" + 8 digits + "/" */
    if (klen < 12 || klen - 11 >= DIGEST_HEX_MAX || key[0] != 't' || key[10] != '/')
        return -EINVAL;
    memcpy(out, key + 11, klen - 11);
    out[klen - 11] = '\0';
    return 0;
}
