/* Writes a large stream to a file with O_DIRECT, from a writer thread: the receiving thread
 * only copies into aligned buffers, and neither thread pays for the page cache (about a
 * core-second per GiB on ext4, docs/BENCHMARKS.md). Memory is DWRITE_BUFS x DWRITE_BUF. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define DWRITE_BUF (1024 * 1024)
#define DWRITE_BUFS 4
#define DWRITE_MAX 4 /* writers (threads, DWRITE_BUFS x DWRITE_BUF each) alive at once */

struct dwrite; /* opaque */

/* Starts writing at offset 0 of the empty file open as fd (without O_DIRECT; the unaligned
 * tail goes through it). NULL when the filesystem refuses O_DIRECT or DWRITE_MAX writers are
 * busy: write to fd instead. */
struct dwrite *dwrite_new(int fd);
/* Appends n bytes; waits while every buffer is being written. 0, or the error of an
 * earlier write (negative errno), after which the stream is lost. */
int dwrite_append(struct dwrite *w, const void *p, size_t n);
/* Writes the rest, stops the thread and frees w. 0 or the first error; on 0 the file holds
 * every byte appended (still unsynced: the caller syncs as for any write). */
int dwrite_finish(struct dwrite *w);
/* Stops the thread and frees w without writing the rest (the file is being discarded). */
void dwrite_abort(struct dwrite *w);
/* Bytes appended so far. */
uint64_t dwrite_size(const struct dwrite *w);
