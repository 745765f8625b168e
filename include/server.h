/* The node: owns the configuration, the store, the index and the HTTP daemon, creates
 * them in dependency order and tears them down in reverse. The context every handler gets. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include "cfg.h"
#include "digest.h"
#include "fsbarrier.h"
#include "http_router.h"

#define SERVER_DIGEST_LOCKS 64
#define SERVER_LAT_BUCKETS 9
/* upper bounds of the latency buckets, in microseconds */
extern const long long server_lat_bounds_us[SERVER_LAT_BUCKETS];

struct store;
struct meta;
struct http_server;
struct sync;
struct groups;
struct lifecycle;
struct alarm;
struct workq;
struct peer_client;
struct volumes;
struct filecache;

struct server {
    struct cfg cfg;
    char root[1024];          /* "" means the current directory */
    char cfg_path[1200];
    enum digest_algo algo;
    struct store *store;
    struct meta *meta;
    struct volumes *volumes;  /* small-file volumes; NULL on a node that never merged */
    struct filecache *fcache; /* small downloads from memory; NULL when off */
    struct http_router router;
    struct http_server *http;
    struct sync *sync;        /* replication; NULL until sync_start */
    struct groups *groups;    /* other groups; NULL until groups_start */
    struct peer_client *authc; /* client for auth_url; NULL when unset */
    struct lifecycle *lifecycle; /* expiry sweeper; NULL when off */
    struct alarm *alarm;      /* alarm monitor; NULL when nobody is to be told */
    struct workq *uploadq;    /* POST /upload commits in sync_mode group, in batches off
                               * the HTTP threads (one sync serves many); else NULL */
    struct workq *commitq;    /* other commits (tus; POST /upload in sync_mode file), off
                               * the HTTP threads; NULL before server_start */
    enum fsbarrier_mode sync_mode; /* from cfg.sync_mode; with none, commits never wait
                               * for the disk, so they run on the HTTP thread */
    bool index_on_store_fs;   /* data/meta is on the filesystem of files/: in group mode
                               * the store's syncfs makes index writes durable too */
    atomic_bool tombstones;   /* an x/ key may exist: a put must clear its own (sync.c);
                               * false spares uploads a LevelDB delete of nothing */
    atomic_int thumbs_state;  /* data/thumbs: 0 not looked at yet, 1 exists, 2 absent
                               * (thumbs.c; spares each index write a failing opendir) */
    /* one lock per digest stripe: dedupe check and commit of one content are serialised */
    pthread_mutex_t digest_locks[SERVER_DIGEST_LOCKS];
    time_t started;
    atomic_llong uploads, downloads, errors;
    atomic_llong commit_batches, commit_batch_max; /* of uploadq: uploads per batch */
    /* request counters for /metrics: by status class (index = status / 100) and latency */
    atomic_llong req_by_class[6];
    atomic_llong lat_bucket[SERVER_LAT_BUCKETS + 1]; /* last one is +Inf */
    atomic_llong lat_sum_us;
};

/* Loads cfg (generating it on first start), opens store and index. Does not listen. */
int server_init(struct server *srv, const char *root, const char *cfg_path, char *err,
                size_t errcap);
/* Starts listening; returns once the daemon runs. */
int server_start(struct server *srv);
/* Stops accepting, lets in-flight requests finish (up to drain_ms), stops the daemon. */
void server_stop(struct server *srv, int drain_ms);
void server_fini(struct server *srv);

/* Makes everything written so far durable, files and index, whatever sync_mode says. */
int server_sync_all(struct server *srv);

/* Rebuilds the index from files/: returns the number of records written, or < 0. */
long long server_rebuild_meta(struct server *srv);
/* Reads a backup (data/backup/<day>.jsonl) back into the index, for records whose bytes
 * are in files/ with the recorded size. Returns the number restored, or < 0. */
long long server_restore_meta(struct server *srv, const char *path);

pthread_mutex_t *server_digest_lock(struct server *srv, const char *digest);
/* "/group1" when group management is on, else "". */
const char *server_group_prefix(const struct server *srv);
