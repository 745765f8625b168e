/* Unit tests for filecache: hits return a private copy with the mtime, misses and drops,
 * replacement of a path, the byte budget with least-recently-used eviction, entries too
 * large to keep, expiry after FILECACHE_TTL_MS and renewal in place of unchanged bytes,
 * and a disabled (NULL) cache. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filecache.h"

static void test_hit_miss_drop(void **state)
{
    (void)state;
    struct filecache *c = filecache_new(1 << 20);
    char *d = NULL;
    size_t n = 0;
    time_t mt = 0;
    assert_int_equal(filecache_get(c, "a/b.txt", &d, &n, &mt), -ENOENT);
    filecache_put(c, "a/b.txt", "hello", 5, 1234);
    assert_int_equal(filecache_get(c, "a/b.txt", &d, &n, &mt), 0);
    assert_int_equal(n, 5);
    assert_int_equal(mt, 1234);
    assert_memory_equal(d, "hello", 5);
    d[0] = 'X'; /* a private copy */
    free(d);
    assert_int_equal(filecache_get(c, "a/b.txt", &d, &n, &mt), 0);
    assert_memory_equal(d, "hello", 5);
    free(d);
    assert_int_equal(filecache_get(c, "a/b.tx", &d, &n, &mt), -ENOENT);
    filecache_put(c, "a/b.txt", "bye", 3, 99); /* replaced */
    assert_int_equal(filecache_get(c, "a/b.txt", &d, &n, &mt), 0);
    assert_int_equal(n, 3);
    assert_int_equal(mt, 99);
    free(d);
    size_t entries, bytes;
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 1);
    filecache_drop(c, "a/b.txt");
    filecache_drop(c, "not/there");
    assert_int_equal(filecache_get(c, "a/b.txt", &d, &n, &mt), -ENOENT);
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 0);
    assert_int_equal(bytes, 0);
    /* an empty file is a file too */
    filecache_put(c, "empty", "", 0, 1);
    assert_int_equal(filecache_get(c, "empty", &d, &n, &mt), 0);
    assert_int_equal(n, 0);
    free(d);
    filecache_free(c);
}

static void test_budget_and_lru(void **state)
{
    (void)state;
    /* room for about four 4 KiB entries */
    struct filecache *c = filecache_new(4 * (4096 + 128) + 100);
    char blob[4096], key[16];
    memset(blob, 'b', sizeof blob);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "k%d", i);
        filecache_put(c, key, blob, sizeof blob, 0);
    }
    char *d;
    size_t n, entries, bytes;
    time_t mt;
    /* touch k0 so k1 is the least recently used, then add one more */
    assert_int_equal(filecache_get(c, "k0", &d, &n, &mt), 0);
    free(d);
    filecache_put(c, "k4", blob, sizeof blob, 0);
    assert_int_equal(filecache_get(c, "k1", &d, &n, &mt), -ENOENT);
    assert_int_equal(filecache_get(c, "k0", &d, &n, &mt), 0);
    free(d);
    assert_int_equal(filecache_get(c, "k4", &d, &n, &mt), 0);
    free(d);
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 4);
    assert_true(bytes <= 4 * (4096 + 128) + 100);
    /* too large for an entry: not kept, nothing evicted for it */
    char *big = calloc(1, FILECACHE_ENTRY_MAX + 1);
    filecache_put(c, "big", big, FILECACHE_ENTRY_MAX + 1, 0);
    free(big);
    assert_int_equal(filecache_get(c, "big", &d, &n, &mt), -ENOENT);
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 4);
    filecache_free(c);
}

static void sleep_past_ttl(void)
{
    struct timespec ts = {FILECACHE_TTL_MS / 1000, (FILECACHE_TTL_MS % 1000) * 1000000L + 50000000L};
    nanosleep(&ts, NULL);
}

static void test_entries_expire(void **state)
{
    (void)state;
    struct filecache *c = filecache_new(1 << 20);
    filecache_put(c, "t", "x", 1, 0);
    sleep_past_ttl();
    char *d;
    size_t n;
    time_t mt;
    assert_int_equal(filecache_get(c, "t", &d, &n, &mt), -ENOENT);
    filecache_free(c);
}

/* A hit on key with exactly these bytes and mtime. */
static void expect_hit(struct filecache *c, const char *key, const char *bytes, time_t mtime)
{
    char *d;
    size_t n;
    time_t mt;
    assert_int_equal(filecache_get(c, key, &d, &n, &mt), 0);
    assert_int_equal(n, strlen(bytes));
    assert_memory_equal(d, bytes, n);
    assert_int_equal(mt, mtime);
    free(d);
}

/* An expired entry is not served, but a put of the same bytes and mtime (the re-read after
 * that miss) renews it in place; changed bytes or mtime replace it. */
static void test_expired_entry_renewed_in_place(void **state)
{
    (void)state;
    struct filecache *c = filecache_new(1 << 20);
    char *d;
    size_t n, entries, bytes;
    time_t mt;
    assert_false(filecache_put(c, "r", "same", 4, 7));
    assert_true(filecache_put(c, "r", "same", 4, 7)); /* fresh and equal: renewed too */
    sleep_past_ttl();
    assert_int_equal(filecache_get(c, "r", &d, &n, &mt), -ENOENT);
    assert_true(filecache_put(c, "r", "same", 4, 7));
    expect_hit(c, "r", "same", 7);
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 1);
    size_t one = bytes;
    assert_false(filecache_put(c, "r", "diff", 4, 7)); /* other bytes */
    assert_false(filecache_put(c, "r", "diff", 4, 8)); /* other mtime */
    assert_false(filecache_put(c, "r", "longer", 6, 8)); /* other length */
    expect_hit(c, "r", "longer", 8);
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 1);
    assert_int_equal(bytes, one + 2);
    filecache_free(c);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Entries idle past FILECACHE_IDLE_MS go; until then they stay, hit or not. */
static void test_idle_entries_swept(void **state)
{
    (void)state;
    struct filecache *c = filecache_new(1 << 20);
    size_t entries, bytes;
    filecache_put(c, "a", "1", 1, 0);
    filecache_put(c, "b", "2", 1, 0);
    long long t0 = mono_ms();
    assert_int_equal(filecache_sweep(c, t0), 0);
    assert_int_equal(filecache_sweep(c, t0 + FILECACHE_IDLE_MS / 2), 0);
    expect_hit(c, "a", "1", 0);
    assert_int_equal(filecache_sweep(c, mono_ms() + FILECACHE_IDLE_MS + 1), 2);
    filecache_stats(c, &entries, &bytes);
    assert_int_equal(entries, 0);
    assert_int_equal(bytes, 0);
    filecache_put(c, "a", "1", 1, 0); /* and the cache works on */
    expect_hit(c, "a", "1", 0);
    filecache_free(c);
}

/* The cache's own thread frees what stays unused, without any further call. */
static void test_idle_entries_freed_by_thread(void **state)
{
    (void)state;
    struct filecache *c = filecache_new(1 << 20);
    filecache_set_idle_ms(c, 50);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        filecache_put(c, k, "bytes", 5, 0);
    }
    size_t entries = 1, bytes;
    for (int i = 0; i < 300 && entries; i++) { /* up to 3 s */
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        filecache_stats(c, &entries, &bytes);
    }
    assert_int_equal(entries, 0);
    filecache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    assert_null(filecache_new(0));
    char *d;
    size_t n, e, b;
    time_t mt;
    filecache_put(NULL, "a", "b", 1, 0);
    assert_int_equal(filecache_get(NULL, "a", &d, &n, &mt), -ENOENT);
    filecache_drop(NULL, "a");
    filecache_stats(NULL, &e, &b);
    assert_int_equal(e, 0);
    filecache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss_drop),
        cmocka_unit_test(test_budget_and_lru),
        cmocka_unit_test(test_idle_entries_swept),
        cmocka_unit_test(test_idle_entries_freed_by_thread),
        cmocka_unit_test(test_entries_expire),
        cmocka_unit_test(test_expired_entry_renewed_in_place),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
