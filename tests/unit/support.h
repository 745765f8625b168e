/* Shared helpers for the unit tests: a fresh temporary directory per test and its removal,
 * file writes and reproducible pseudo-random bytes. */
#pragma once
#include <stddef.h>

/* Creates a fresh directory under $TMPDIR (or /tmp); writes its path into out. */
void support_tmpdir(char *out, size_t outcap);
/* rm -rf of dir; bounded depth. */
void support_rmtree(const char *dir);
/* Writes len bytes to path (creating/truncating); aborts the test on failure. */
void support_write_file(const char *path, const void *data, size_t len);
/* Fills b with n pseudo-random bytes, the same for the same seed (xorshift32). */
void support_fill(unsigned char *b, size_t n, unsigned seed);
