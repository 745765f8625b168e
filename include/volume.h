/* Small-file volumes: files under 1 MiB appended to large files below
 * files/haystack/<peer_id>/<n> as self-describing needles (a header, the record's JSON, the
 * bytes), so millions of small files cost a few inodes and one sync each. A needle is never
 * rewritten except for its state byte (a delete); compaction copies the live ones into the
 * active volume and drops the old file. Knows nothing of the index or of HTTP. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct volumes; /* opaque */

#define VOLUME_SMALL_MAX (1024 * 1024) /* files strictly smaller are merged */
#define VOLUME_HDR 16                  /* magic at the start of every volume of ours */
#define NEEDLE_HDR 40
#define NEEDLE_INFO_MAX 8192           /* a record's JSON is far smaller */

struct needle {
    uint32_t vol;      /* the volume holding it now */
    uint64_t off;      /* its header's offset there */
    uint32_t orig_vol; /* where it was first written: the numbers of its name */
    uint64_t orig_off;
    uint64_t data_off; /* absolute offset of the file's first byte */
    uint64_t data_len;
    uint32_t info_len;
    uint64_t span;     /* header, info, data and padding: the bytes it occupies */
    bool live;
};

/* Opens (creating) files/haystack/<peer_id>/ and finds the volumes already there: files that
 * start with our magic are ours, all sealed (appends go to a new volume numbered above
 * every file there). Numbered files without it (go-fastdfs's haystack files) are left
 * alone. */
int volumes_open(struct store *st, const char *peer_id, uint64_t max_size, struct volumes **out);
void volumes_close(struct volumes *v);
/* "haystack/<peer_id>", relative to files/. */
const char *volumes_dir(const struct volumes *v);

/* Builds the needle's JSON once its place is known (called with the volume lock held, so it
 * must not call back into volumes). Returns malloc'd text or NULL. */
typedef char *(*volume_info_fn)(void *ctx, uint32_t vol, uint64_t off, size_t *len);

/* Appends a needle to the active volume (starting a new one when it is full) and, when
 * sync, makes it durable (else the caller must, before relying on it). orig: the name's
 * place for a needle being moved (NULL: a new file, named after where it lands). On
 * success *out describes it and the volume counts a pending writer until volumes_release:
 * no compaction touches a volume whose needles may still be on their way into the index. */
int volumes_append(struct volumes *v, const struct needle *orig, volume_info_fn fn, void *ctx,
                   const void *data, size_t dlen, bool sync, struct needle *out);
void volumes_release(struct volumes *v, uint32_t vol);

/* A read-only descriptor of volume vol; -ENOENT when it is gone (compacted). */
int volumes_open_read(struct volumes *v, uint32_t vol, int *fd);
/* Reads and checks the needle header at off of the open volume vol. -ENOENT when there is
 * no needle there or it is deleted. */
int volumes_needle_at(int fd, uint32_t vol, uint64_t off, struct needle *out);
/* Marks the needle deleted, durably; idempotent. */
int volumes_mark_deleted(struct volumes *v, uint32_t vol, uint64_t off);

/* Calls cb for every intact needle of vol in order (deleted ones too, live == false), with
 * its JSON NUL-terminated. Torn or garbled stretches (a crash mid-append) are skipped by
 * looking for the next valid header. Stops on a non-zero return and returns it. */
typedef int (*volume_needle_fn)(void *ctx, const struct needle *n, const char *info);
int volumes_scan(struct volumes *v, uint32_t vol, volume_needle_fn cb, void *ctx);
/* Reads a needle's info and data into buf (cap >= info_len + data_len). */
int volumes_read_needle(struct volumes *v, const struct needle *n, char *buf, size_t cap);

/* Our volumes in ascending order: numbers and sizes into out (up to max), the count as
 * return value; *active is the one appended to (0: none yet). */
size_t volumes_list(struct volumes *v, uint32_t *nums, uint64_t *sizes, size_t max,
                    uint32_t *active);
/* Removes a sealed volume nobody is writing; -EBUSY for the active one or while pending. */
int volumes_remove(struct volumes *v, uint32_t vol);

/* Parses a merged-file name "<n>,<offset>,<length>,<ext>" (go-fastdfs's and ours). */
int volumes_parse_name(const char *name, uint32_t *vol, uint64_t *off, uint64_t *len);
/* Does name look like a volume file (digits only)? Such files are never served whole. */
bool volumes_is_volume_name(const char *name);
/* Is the open file one of our volumes (our magic at its start)? */
bool volumes_is_ours(int fd);
