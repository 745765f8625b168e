/* A record's bytes, wherever they live: a plain file below files/, or a needle in one of this
 * node's small-file volumes (volume.h). Whatever checks, reads, stores or removes the bytes
 * of a record goes through here, so the two layouts stay interchangeable to the rest. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct server;
struct file_info;
struct store_tmp;
struct meta_kv;
struct json_t;

/* Opens this node's volumes (when merging is on or volumes exist already). */
int content_open_volumes(struct server *srv);
void content_close_volumes(struct server *srv);

/* Should an upload of this size, placed by the server (no custom path), be merged? */
bool content_mergeable(const struct server *srv, int64_t size);
/* Is the record's name a merged-file name (files/haystack/<peer>/<n>,<off>,<len>,<ext>)? */
bool content_merged_name(const struct file_info *fi);

/* Are the record's bytes here, with its size? (Local records only.) */
bool content_live(struct server *srv, const struct file_info *fi);
/* Opens the record's bytes for reading: *base is the offset of the first byte in *fd,
 * st->st_size the file's size and st_mtime its time. -ENOENT when they are not here. */
int content_open(struct server *srv, const struct file_info *fi, int *fd, uint64_t *base,
                 struct stat *st);
/* The same for a download path below haystack/: the indexed needle, else a go-fastdfs
 * haystack file read by the offsets its URL carries. */
int content_open_haystack(struct server *srv, const char *rel, int *fd, uint64_t *base,
                          struct stat *st);
/* Removes the record's bytes (a plain file's name, or a needle marked deleted). Call after
 * the record left the index, under the content's lock. */
int content_remove(struct server *srv, const struct file_info *fi);

/* Stores the temp file's bytes as a needle and indexes the record (one synced batch with
 * the extra keys, and replication jobs when replicate). A new upload (name_it) gets the
 * merged-file name of where it lands; a replica keeps the name it came with. Call under the
 * content's lock. The temp file is left for the caller to discard. */
int content_commit_small(struct server *srv, struct store_tmp *tmp, struct file_info *fi,
                         bool name_it, bool replicate, const struct meta_kv *extra,
                         size_t nextra);
/* content_commit_small in two halves, for a committer that syncs many uploads at once: the
 * needle without the index (its sync left to the caller when !sync: in group mode a sync of
 * the store's filesystem covers it), then, once the caller indexed it or gave up,
 * content_small_done (a needle left unindexed is marked deleted). */
int content_append_small(struct server *srv, struct store_tmp *tmp, struct file_info *fi,
                         bool name_it, bool sync);
void content_small_done(struct server *srv, const struct file_info *fi, bool indexed);

/* Rewrites sealed volumes whose deleted share is at least percent: live needles move to the
 * active volume, the index follows, the old file goes. Crash-safe at every step (a record
 * always names a durable copy). The figures as a JSON object (new reference). */
struct json_t *content_compact(struct server *srv, int percent);
/* Runs content_compact when merge_compact_interval has passed since the last run. */
void content_compact_due(struct server *srv);

/* Indexes every live needle of this node's volumes that the index lacks (index rebuild,
 * written in bulk: durable after meta_sync); returns the number of records written. */
long long content_rebuild_volumes(struct server *srv);
/* Is rel (relative to files/) the haystack directory or below it? */
bool content_in_haystack(const char *rel);
/* Is rel (relative to files/) one of the volume files themselves? They are never served,
 * listed for download or adopted as files. */
bool content_is_volume_path(const char *rel);
