/* The bytes on disk: files/<...> is the truth, data/tmp/ holds uploads in flight. Commits
 * are durable (fsync file, rename without replacing, fsync directory) before they return.
 * Knows nothing of HTTP or the index. Paths given here are relative to files/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dwrite.h"
#include "fsbarrier.h"

struct store; /* opaque */

/* A file temp grows by whole pieces of this size, aligned, once a write reaches a boundary
 * (store.c says why); what is past the last one waits in the temp's carry. */
#define STORE_WRITE_ALIGN (8 * 1024)

struct store_tmp {
    int fd;
    char name[40];
    uint64_t size;
    /* a small upload bound for a volume stays in memory: a temp file created and unlinked
     * for each one makes ext4's inode allocator crawl past every recently freed inode */
    char *mem;
    size_t memcap;
    struct store *owner;
    uint64_t flushed; /* bytes handed to writeback so far (large files) */
    struct dwrite *dw; /* writes go through O_DIRECT until store_tmp_finish (dwrite.h) */
    /* the last bytes of a file temp, past its last STORE_WRITE_ALIGN boundary: they wait
     * for the next write to reach the next one, or for store_tmp_finish (size counts them) */
    char *carry;
    size_t carried;
};

/* An empty temp (nothing created): safe to discard. */
void store_tmp_init(struct store_tmp *t);
/* A temp held in memory up to cap bytes; a write beyond cap, a commit or set_info turns it
 * into a file (store_tmp_spill). When all memory temps together would pass their budget
 * (64 MiB) this creates a file temp instead. store_tmp_spill is also the gate every use of
 * the finished file passes: -EBUSY for a temp still written directly (store_tmp_direct). */
int store_tmp_create_mem(struct store *s, struct store_tmp *t, size_t cap);
int store_tmp_spill(struct store_tmp *t);

/* Opens (creating) <root>/files and <root>/data/tmp and empties data/tmp (leftovers of a
 * crash are never served and never committed). mode picks how durability is reached:
 * group commit (syncfs), fsync per file, or none, see fsbarrier.h. */
int store_open(const char *root, enum fsbarrier_mode mode, struct store **out);
void store_close(struct store *s);
int store_files_fd(const struct store *s);
/* syncfs of the store's filesystem, whatever the sync mode (fsbarrier_sync_fs). */
int store_sync_fs(struct store *s);
/* Disk syncs made by commits so far (fsbarrier_syncs). */
long long store_syncs(const struct store *s);

/* A new temp: anonymous (O_TMPFILE, name "") where the filesystem and /proc allow it, else
 * a named file data/tmp/up-<random>. */
int store_tmp_create(struct store *s, struct store_tmp *t);
/* From now on temps are named files, as on filesystems without O_TMPFILE (for tests). */
void store_use_named_tmp(struct store *s);
/* From now on anonymous temps are named through /proc/self/fd, as for a process without
 * CAP_DAC_READ_SEARCH (for tests). */
void store_use_proc_link(struct store *s);
/* Writes to the file, or to memory for a memory temp (spilling to a file when full). */
int store_tmp_write(struct store_tmp *t, const void *p, size_t n);
/* For a large stream into a new, empty file temp: the writes that follow go through
 * O_DIRECT on a writer thread, and tap (NULL: none) sees their bytes (dwrite.h). true if so;
 * false where that is refused (memory temp, filesystem), and tap then sees nothing. */
bool store_tmp_direct(struct store_tmp *t, dwrite_tap_fn *tap, void *arg);
/* Ends direct writing and writes what is carried: the file then holds every byte written.
 * Must come before anything else reads, links, syncs or describes the temp (spill does it
 * too); 0 or the first write error. */
int store_tmp_finish(struct store_tmp *t);
/* Closes and unlinks (frees the memory of a memory temp); safe on an empty tmp. */
void store_tmp_discard(struct store *s, struct store_tmp *t);
/* Makes the temp file durable and moves it to <dir>/<name> (creating dir), never replacing
 * an existing file: returns -EEXIST then, leaving the temp in place. On success the temp
 * is consumed (fd closed). */
int store_tmp_commit(struct store *s, struct store_tmp *t, const char *dir, const char *name);
/* The move of store_tmp_commit without its syncs, for a committer that syncs many uploads
 * at once: the caller must have made the temp durable (store_sync_many of its fd) first,
 * and must sync the directory left open in *dfd (and close it) before relying on the name.
 * -EEXIST leaves the temp in place; on success the temp's fd is closed. */
int store_tmp_link(struct store *s, struct store_tmp *t, const char *dir, const char *name,
                   int *dfd);
/* Hard-links an existing stored file to <dir>/<name> durably (dedupe across scenes);
 * -EEXIST when the target exists. */
int store_link(struct store *s, const char *src_rel, const char *dir, const char *name);
int store_unlink(struct store *s, const char *rel);
/* Makes what was written to fd durable through the store's group commit (see fsbarrier.h),
 * for files the store does not manage itself (small-file volumes). */
int store_sync(struct store *s, int fd);
/* The same for n descriptors at once (fsbarrier_sync_many). */
int store_sync_many(struct store *s, const int *fds, size_t n);
/* Opens a stored regular file or directory for reading; fills st. */
int store_open_read(struct store *s, const char *rel, int *fd, struct stat *st);
int store_stat(struct store *s, const char *rel, struct stat *st);

/* What the bytes cannot tell (original name, scene, upload time) is kept with them as an
 * extended attribute holding the record's JSON, so an index rebuild recovers it. Set on the
 * temp file before the commit, so its fsync covers it. Best effort: -ENOTSUP on
 * filesystems without user xattrs. */
int store_tmp_set_info(struct store_tmp *t, const char *json, size_t len);
/* Reads it back for a stored file into out (NUL-terminated); -ENODATA when absent. */
int store_get_info(struct store *s, const char *rel, char *out, size_t outcap);

/* Calls cb for every regular file below files/ (not following symlinks, skipping the
 * go-fastdfs work dirs _tmp and _big); dir is relative to files/. Stops on a non-zero
 * return and returns it. Depth-bounded. */
typedef int (*store_walk_fn)(void *ctx, const char *dir, const char *name,
                             const struct stat *st);
int store_walk(struct store *s, store_walk_fn cb, void *ctx);
