/* The metadata index in LevelDB (the only file that includes <leveldb/c.h>). It is an
 * index over files/, rebuildable from it. Keys are namespaced:
 *   p/<pathkey>            -> FileInfo JSON      (one per stored path)
 *   d/<digest>             -> <pathkey>[+]       (a content's primary path; + : extras)
 *   d/<digest>/<pathkey>   -> ""                 (the extras: other paths, same content)
 *   t/<yyyymmdd>/<pathkey> -> "<digest> <size>"  (files per upload day, for stat and repair)
 *   q/<peer>/<pathkey>     -> job JSON           (replication to one peer; sync.c)
 *   f/<pathkey>            -> job JSON           (a copy to pull from peers; sync.c)
 *   u/<tus id>             -> pathkey            (the record a tus upload became)
 *   x/<pathkey>            -> tombstone JSON     (a deleted path; sync.c)
 *   v/digest-index         -> "1"                (the d/ keys have the form above)
 * Writes are synced batches: a record is durable when the call returns (unless
 * meta_set_lazy). Thread-safe. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fileinfo.h"

struct meta; /* opaque */

int meta_open(const char *dir, struct meta **out);
/* Before the first meta_open, in an offline run (--rebuild-meta, --restore-meta): table
 * files are mapped as LevelDB does by default. A node reads them with pread, so that they do
 * not count in its resident memory; mapped, a rebuild of 1M records takes 39 s instead of
 * 94, and nothing but the batch runs in that process. */
void meta_map_tables(void);
void meta_close(struct meta *m);

/* One extra key to write (val != NULL) or delete (val == NULL) in the same batch. With
 * if_hash set, only if the key still holds a value of that meta_kv_hash, checked under the
 * writers' lock: a job finished or rescheduled from an old read must not undo one written
 * since (a delete queued while its put was on the wire). 0: unconditional. */
struct meta_kv {
    char key[128];
    char *val; /* borrowed */
    size_t vlen;
    uint64_t if_hash;
};

/* Never 0, so that 0 can mean "no condition". */
uint64_t meta_kv_hash(const char *val, size_t vlen);

/* Stores fi under its path key (and the digest and day indexes). */
int meta_put(struct meta *m, const struct file_info *fi);
/* Stores (put) or removes (!put) fi together with the extra keys, in one synced batch. */
int meta_write(struct meta *m, const struct file_info *fi, bool put, const struct meta_kv *kv,
               size_t nkv);
/* The same batch without waiting for the disk, for bulk loads (the index rebuild): nothing
 * written this way is durable until meta_sync returns. */
int meta_write_bulk(struct meta *m, const struct file_info *fi, bool put,
                    const struct meta_kv *kv, size_t nkv);
int meta_sync(struct meta *m);
/* sync_mode none: from now on no write waits for the disk (meta_sync still does). */
void meta_set_lazy(struct meta *m);
/* Raw access to the job and tombstone namespaces. *val is malloc'd (caller frees). */
int meta_kv_get(struct meta *m, const char *key, char **val, size_t *vlen);
typedef int (*meta_kv_fn)(void *ctx, const char *key, size_t klen, const char *val,
                          size_t vlen);
/* Keys with the prefix in order; stops when cb returns non-zero (and returns that). */
int meta_kv_scan(struct meta *m, const char *prefix, meta_kv_fn cb, void *ctx);
/* The path key of a day-index key ("t/yyyymmdd/<pathkey>", as meta_kv_scan of "t/<day>/"
 * passes it) into out; -EINVAL when the key is not one. */
int meta_day_key_pathkey(const char *key, size_t klen, char out[DIGEST_HEX_MAX]);
/* Keys starting with prefix (bounded by max). */
long long meta_kv_count(struct meta *m, const char *prefix, long long max);
/* -ENOENT when absent. */
int meta_get_path(struct meta *m, const char *pathkey, struct file_info *out);
/* Every record holding `digest`, up to max, into out; returns the count (>= 0). */
int meta_find_digest(struct meta *m, const char *digest, struct file_info *out, size_t max);
/* Removes the path record and its index entries. */
int meta_del(struct meta *m, const struct file_info *fi);

/* Calls cb for every record (p/ namespace); stops on non-zero and returns it. */
typedef int (*meta_record_fn)(void *ctx, const struct file_info *fi);
int meta_scan(struct meta *m, meta_record_fn cb, void *ctx);

/* Per day: number of files and their total size; cb is called in date order. */
typedef int (*meta_day_fn)(void *ctx, const char *day, long long count, long long bytes);
int meta_scan_days(struct meta *m, meta_day_fn cb, void *ctx);

/* Whether the in-memory filter of the index's digests and path keys answers yet: a thread
 * fills it from the index after meta_open, and again, larger, when it fills up. Until then
 * every probe reads LevelDB. For tests and statistics. */
bool meta_known_ready(struct meta *m);

/* LevelDB's estimate of the memory it holds: block cache charge plus memtables. */
long long meta_mem_bytes(struct meta *m);

/* Count of records (p/ keys). */
long long meta_count(struct meta *m);
/* Synced writes (each one a sync of LevelDB's log) since the index was opened. */
long long meta_syncs(struct meta *m);
