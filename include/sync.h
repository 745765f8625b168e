/* Replication between the nodes of a group. Every change to the index that should reach the
 * peers is written together with one durable job per peer (q/<peer>/<pathkey>) in the same
 * LevelDB batch; a worker per peer announces it (syncfile_info) and retries with bounded
 * back-off until the peer holds a digest-verified copy. Received announcements become pull
 * jobs (f/<pathkey>) that workers fetch, verify and commit through the normal store path.
 * Deletes leave tombstones (x/<pathkey>) so no repair brings a deleted file back. Repair
 * compares per-day (pathkey, digest) sets with each peer and re-hashes local files. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct server;
struct file_info;
struct meta_kv;
struct http_req;
struct json_t;

/* Starts the workers for the configured peers (none when the node is alone). */
int sync_start(struct server *srv);
/* Stops and joins every worker (bounded: workers check the stop flag at least every
 * second; a transfer in progress is abandoned). */
void sync_stop(struct server *srv);

/* Indexes fi (put) or removes it (!put), in one synced batch with: a tombstone for a
 * removal (cleared by a put), one job per peer when replicate, and the extra keys. */
int sync_index(struct server *srv, const struct file_info *fi, bool put, bool replicate,
               const struct meta_kv *extra, size_t nextra);

/* Looks once, after the index opens, whether any tombstone exists; until one is written,
 * a put skips clearing its own. */
void sync_tombstones_init(struct server *srv);
/* The time (ms) of the path key's tombstone, 0 when it has none. */
long long sync_tombstone_ms(struct server *srv, const char *pathkey);
/* Was fi's path deleted at or after fi was uploaded (timeMs, else timeStamp)? A re-upload
 * after a delete carries a later time and is not. */
bool sync_deleted_after(struct server *srv, const struct file_info *fi);
/* sync_index(put) not durable until meta_sync: for the index rebuild (no replication) and
 * the upload committer, which syncs once after a batch of records. */
int sync_index_bulk(struct server *srv, const struct file_info *fi, bool replicate);

/* Peer side of syncfile_info: "have", "queued" or "deleted" into *answer (static text). */
int sync_receive(struct server *srv, const struct file_info *fi, const char *from,
                 const char **answer);
/* Peer side of a replicated delete of one path. */
int sync_receive_delete(struct server *srv, const char *pathkey, const char *md5,
                        long long time_ms);

/* A download found nothing locally: park req and let a worker look for the file on the
 * peers; the request is resumed either way. ERR_UNAVAIL when the queue is full, -ENOENT
 * when there is nobody to ask. */
int sync_fetch_missing(struct server *srv, struct http_req *req, const char *rel);

/* "pk md5\n" lines of one day's files on this node, sorted by path key, into out
 * (a struct buf). */
struct buf;
int sync_day_pairs(struct server *srv, const char *day, struct buf *out);
/* Runs one anti-entropy pass against every peer now (scrub: also re-hash local files). */
int sync_repair(struct server *srv, bool scrub, char *report, size_t cap);
/* Queues a push of every record of day (yyyymmdd) to every peer. Returns the count. */
long long sync_push_day(struct server *srv, const char *day);
/* Queues a push of the records holding these digests to one peer (or all when NULL). */
long long sync_push_digests(struct server *srv, const char *list, const char *to);

/* Per-peer state as JSON (reachable, queue depth, oldest job, last error). New ref. */
struct json_t *sync_status_json(struct server *srv);
/* Prometheus lines for the peers into buf (struct buf *). */
void sync_metrics(struct server *srv, void *buf);
