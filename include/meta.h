/* The metadata index in LevelDB (the only file that includes <leveldb/c.h>). It is an
 * index over files/, rebuildable from it. Keys are namespaced:
 *   p/<pathkey>            -> FileInfo JSON   (one per stored path)
 *   d/<digest>/<pathkey>   -> ""              (paths holding some content)
 *   t/<yyyymmdd>/<digest>  -> size            (distinct contents per upload day)
 * Writes are synced batches: a record is durable when the call returns. Thread-safe. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "fileinfo.h"

struct meta; /* opaque */

int meta_open(const char *dir, struct meta **out);
void meta_close(struct meta *m);

/* Stores fi under its path key (and the digest and day indexes). */
int meta_put(struct meta *m, const struct file_info *fi);
/* -ENOENT when absent. */
int meta_get_path(struct meta *m, const char *pathkey, struct file_info *out);
/* Every record holding `digest`, up to max, into out; returns the count (>= 0). */
int meta_find_digest(struct meta *m, const char *digest, struct file_info *out, size_t max);
/* Removes the path record; the day entry goes when no path holds the digest any more. */
int meta_del(struct meta *m, const struct file_info *fi);

/* Calls cb for every record (p/ namespace); stops on non-zero and returns it. */
typedef int (*meta_record_fn)(void *ctx, const struct file_info *fi);
int meta_scan(struct meta *m, meta_record_fn cb, void *ctx);

/* Per day: number of distinct digests and their total size; cb is called in date order. */
typedef int (*meta_day_fn)(void *ctx, const char *day, long long count, long long bytes);
int meta_scan_days(struct meta *m, meta_day_fn cb, void *ctx);

/* Count of records (p/ keys). */
long long meta_count(struct meta *m);
