/* Small downloads from memory. The bytes of files up to FILECACHE_ENTRY_MAX are kept by path
 * (least recently used out first, within a byte budget), so a hot small file costs no open,
 * stat, read and close. Stored files never change in place; deletes through the API drop
 * their entry, and an entry is trusted for FILECACHE_TTL_MS only, so a file changed or
 * removed behind the server's back is seen within that time. Thread-safe. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FILECACHE_ENTRY_MAX (64 * 1024)
#define FILECACHE_TTL_MS 1000
/* An entry neither hit nor renewed for this long is freed by the cache's thread. */
#define FILECACHE_IDLE_MS 10000

struct filecache; /* opaque */

/* A cache of at most budget bytes of file content (NULL when budget is 0). */
struct filecache *filecache_new(size_t budget);
void filecache_free(struct filecache *c);

/* On a fresh hit: a malloc'd copy of the bytes, their size and the file's mtime; 0.
 * -ENOENT on a miss (or an entry past its time). */
int filecache_get(struct filecache *c, const char *rel, char **data, size_t *len,
                  time_t *mtime);
/* Remembers the whole content of rel (ignored when larger than FILECACHE_ENTRY_MAX). True
 * when the same bytes and mtime were cached already: that entry is renewed for another
 * FILECACHE_TTL_MS, and nothing is copied. */
bool filecache_put(struct filecache *c, const char *rel, const void *data, size_t len,
                   time_t mtime);
void filecache_drop(struct filecache *c, const char *rel);

/* Frees the entries idle since before now_ms - the idle time (CLOCK_MONOTONIC ms, as the
 * cache's thread does every second); returns how many. For tests. */
size_t filecache_sweep(struct filecache *c, long long now_ms);
/* Another idle time than FILECACHE_IDLE_MS (for tests). */
void filecache_set_idle_ms(struct filecache *c, long long ms);

/* Entries and bytes held, for /metrics and tests. */
void filecache_stats(struct filecache *c, size_t *entries, size_t *bytes);
