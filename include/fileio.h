/* Positional reads and writes that finish what they start: every caller that writes or reads
 * a file at an offset needs the same loop over EINTR and short counts. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Writes all n bytes at off; 0, or a negative errno (-EIO when the file takes nothing). */
int fileio_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* The same for a then b as one run at off, in one call where the kernel takes it all (a
 * writer that holds bytes back to align its writes sends them with the next ones). */
int fileio_pwrite2_all(int fd, const void *a, size_t an, const void *b, size_t bn, uint64_t off);
/* Reads exactly n bytes at off; 0, a negative errno, or -ENODATA when the file ends first. */
int fileio_pread_all(int fd, void *p, size_t n, uint64_t off);
