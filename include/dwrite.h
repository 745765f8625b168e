/* Writes a large stream to a file with O_DIRECT, from a writer thread: the receiving thread
 * only copies into aligned buffers, and neither thread pays for the page cache (about a
 * core-second per GiB on ext4, docs/BENCHMARKS.md). A tap (the upload's digest) may read the
 * same buffers on a thread of its own, so every byte is copied once for both. Memory is
 * DWRITE_BUFS x DWRITE_BUF. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define DWRITE_BUF (1024 * 1024)
#define DWRITE_BUFS 4
/* Writers alive at once: each is a thread (two with a tap) and DWRITE_BUFS x DWRITE_BUF. */
#define DWRITE_MAX 4

struct dwrite; /* opaque */

/* Sees every byte of the stream once, in order: the full buffers on the tap's own thread,
 * the last partial one on the thread that calls dwrite_finish. */
typedef void dwrite_tap_fn(void *arg, const void *p, size_t n);

/* Starts writing at offset 0 of the empty file open as fd (without O_DIRECT; the unaligned
 * tail goes through it); tap (NULL: none) with arg sees the bytes. NULL when the filesystem
 * refuses O_DIRECT, DWRITE_MAX writers are busy or a thread cannot start: write to fd (and
 * feed the tap's consumer) instead. */
struct dwrite *dwrite_new(int fd, dwrite_tap_fn *tap, void *arg);
/* Appends n bytes; waits while every buffer is being written. 0, or the error of an
 * earlier write (negative errno), after which the stream is lost. */
int dwrite_append(struct dwrite *w, const void *p, size_t n);
/* Writes the rest, stops the threads and frees w. 0 or the first error; on 0 the file holds
 * every byte appended (still unsynced: the caller syncs as for any write) and the tap has
 * seen them all. */
int dwrite_finish(struct dwrite *w);
/* Stops the threads and frees w without writing or tapping the rest (the file is being
 * discarded). */
void dwrite_abort(struct dwrite *w);
/* Bytes appended so far. */
uint64_t dwrite_size(const struct dwrite *w);
