/* Unit tests for meta: put/get by path key, lookup of every path of a digest (bounded),
 * delete and re-put keeping the digest and per-day indexes exact, scans, counts, extra keys
 * written in the record's batch, persistence across reopen, corrupt records skipped by
 * scans, concurrent writers, and which reads may fill the block cache. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errcode.h"
#include "fileinfo.h"
#include "meta.h"
#include "path.h"
#include "support.h"

#define MD5_A "0123456789abcdef0123456789abcdef"
#define MD5_B "fedcba9876543210fedcba9876543210"
#define SHA_A MD5_A "00112233" /* 40 hex: MD5_A is a prefix of it */

#define TS_DAY1 1704110400LL /* 2024-01-01 12:00 UTC */
#define TS_DAY2 (TS_DAY1 + 86400 * 3)

struct fixture {
    char dir[512];
    char db[600];
    struct meta *m;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    support_tmpdir(f->dir, sizeof(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/meta", f->dir);
    if (meta_open(f->db, &f->m) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    meta_close(f->m);
    support_rmtree(f->dir);
    free(f);
    return 0;
}

static void make_fi(struct file_info *fi, const char *dir, const char *name, const char *md5,
                    int64_t size, int64_t ts)
{
    fileinfo_init(fi);
    snprintf(fi->name, sizeof(fi->name), "%s", name);
    snprintf(fi->path, sizeof(fi->path), "files/%s", dir);
    snprintf(fi->md5, sizeof(fi->md5), "%s", md5);
    snprintf(fi->scene, sizeof(fi->scene), "default");
    fi->size = size;
    fi->timestamp = ts;
}

static void key_of(const struct file_info *fi, char pk[DIGEST_HEX_MAX])
{
    fileinfo_path_key(fi, pk);
}

static void assert_fi_equal(const struct file_info *a, const struct file_info *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->rename, b->rename);
    assert_string_equal(a->path, b->path);
    assert_string_equal(a->md5, b->md5);
    assert_string_equal(a->scene, b->scene);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->timestamp, b->timestamp);
    assert_int_equal(a->offset, b->offset);
    assert_int_equal(a->npeers, b->npeers);
    for (size_t i = 0; i < a->npeers; i++)
        assert_string_equal(a->peers[i], b->peers[i]);
}

/* ---- day index collection ---- */

#define DAYS_MAX 8

struct days {
    char day[DAYS_MAX][16];
    long long count[DAYS_MAX], bytes[DAYS_MAX];
    size_t n;
};

static int days_cb(void *ctx, const char *day, long long count, long long bytes)
{
    struct days *d = ctx;
    assert_true(d->n < DAYS_MAX);
    snprintf(d->day[d->n], sizeof(d->day[0]), "%s", day);
    d->count[d->n] = count;
    d->bytes[d->n] = bytes;
    d->n++;
    return 0;
}

static void get_days(struct meta *m, struct days *d)
{
    memset(d, 0, sizeof(*d));
    assert_int_equal(meta_scan_days(m, days_cb, d), 0);
}

static void day_str(int64_t ts, char out[16])
{
    path_day((time_t)ts, out, 16);
}

/* ---- record scan collection ---- */

struct recs {
    char names[16][PATH_MAX_NAME + 1];
    size_t n;
    int stop_after; /* 0: never */
};

static int recs_cb(void *ctx, const struct file_info *fi)
{
    struct recs *r = ctx;
    assert_true(r->n < 16);
    snprintf(r->names[r->n], sizeof(r->names[0]), "%s", fi->name);
    r->n++;
    if (r->stop_after && (int)r->n >= r->stop_after)
        return 42;
    return 0;
}

/* ---- tests ---- */

static void test_empty(void **state)
{
    struct fixture *f = *state;
    struct days d;
    struct recs r = {0};
    struct file_info out[2];
    assert_int_equal(meta_count(f->m), 0);
    assert_int_equal(meta_scan(f->m, recs_cb, &r), 0);
    assert_int_equal(r.n, 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 0);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 2), 0);
}

static void test_put_get(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, got;
    char pk[DIGEST_HEX_MAX];
    make_fi(&fi, "default/20240101/12/00", "a.txt", MD5_A, 1234, TS_DAY1);
    snprintf(fi.rename, sizeof(fi.rename), "renamed.txt");
    assert_int_equal(fileinfo_add_peer(&fi, "http://10.0.0.1:8080"), 0);
    assert_int_equal(fileinfo_add_peer(&fi, "http://10.0.0.2:8080"), 0);
    fi.offset = -2;
    assert_int_equal(meta_put(f->m, &fi), 0);
    key_of(&fi, pk);
    assert_int_equal(meta_get_path(f->m, pk, &got), 0);
    assert_fi_equal(&fi, &got);
    assert_int_equal(meta_count(f->m), 1);
}

static void test_put_idempotent(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, got;
    struct days d;
    char pk[DIGEST_HEX_MAX];
    make_fi(&fi, "d", "a.txt", MD5_A, 10, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    assert_int_equal(meta_put(f->m, &fi), 0);
    assert_int_equal(meta_count(f->m), 1);
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.count[0], 1);
    assert_int_equal(d.bytes[0], 10);
    /* an update of the same path replaces the record */
    assert_int_equal(fileinfo_add_peer(&fi, "http://p"), 0);
    assert_int_equal(meta_put(f->m, &fi), 0);
    key_of(&fi, pk);
    assert_int_equal(meta_get_path(f->m, pk, &got), 0);
    assert_int_equal(got.npeers, 1);
    assert_int_equal(meta_count(f->m), 1);
}

static void test_get_missing(void **state)
{
    struct fixture *f = *state;
    struct file_info got;
    char longkey[400];
    assert_int_equal(meta_get_path(f->m, MD5_B, &got), -ENOENT);
    assert_int_equal(meta_get_path(f->m, "", &got), -ENOENT);
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    assert_int_equal(meta_get_path(f->m, longkey, &got), -ENOENT);
}

static void test_get_is_by_path_key_only(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, got;
    make_fi(&fi, "d", "a.txt", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    /* the content digest is not a path key */
    assert_int_equal(meta_get_path(f->m, MD5_A, &got), -ENOENT);
}

static void test_find_digest(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, out[8];
    make_fi(&fi, "s1/d", "one.txt", MD5_A, 5, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    make_fi(&fi, "s2/d", "two.txt", MD5_A, 5, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    make_fi(&fi, "s3/d", "three.txt", MD5_A, 5, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    make_fi(&fi, "s1/d", "other.txt", MD5_B, 9, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);

    int n = meta_find_digest(f->m, MD5_A, out, 8);
    assert_int_equal(n, 3);
    bool seen1 = false, seen2 = false, seen3 = false;
    for (int i = 0; i < n; i++) {
        assert_string_equal(out[i].md5, MD5_A);
        seen1 |= strcmp(out[i].name, "one.txt") == 0;
        seen2 |= strcmp(out[i].name, "two.txt") == 0;
        seen3 |= strcmp(out[i].name, "three.txt") == 0;
    }
    assert_true(seen1 && seen2 && seen3);
    assert_int_equal(meta_find_digest(f->m, MD5_B, out, 8), 1);
    assert_string_equal(out[0].name, "other.txt");
}

static void test_find_digest_max(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, out[3];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "f%d", i);
        make_fi(&fi, "d", name, MD5_A, 1, TS_DAY1);
        assert_int_equal(meta_put(f->m, &fi), 0);
    }
    /* out has room for 2 of 3 slots used: the third must stay untouched */
    memset(&out[2], 0x5a, sizeof(out[2]));
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 2), 2);
    assert_int_equal(out[2].name[0], 0x5a);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 1), 1);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 0), 0);
}

static void test_find_digest_unknown_and_prefix(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, out[4];
    make_fi(&fi, "d", "sha.txt", SHA_A, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    /* MD5_A is a prefix of SHA_A: it must not match its records */
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 0);
    assert_int_equal(meta_find_digest(f->m, SHA_A, out, 4), 1);
    assert_int_equal(meta_find_digest(f->m, "", out, 4), 0);
    assert_int_equal(meta_find_digest(f->m, MD5_B, out, 4), 0);
}

static void test_del(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, got, out[2];
    char pk[DIGEST_HEX_MAX];
    make_fi(&fi, "d", "gone.txt", MD5_A, 7, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    assert_int_equal(meta_del(f->m, &fi), 0);
    key_of(&fi, pk);
    assert_int_equal(meta_get_path(f->m, pk, &got), -ENOENT);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 2), 0);
    assert_int_equal(meta_count(f->m), 0);
    struct days d;
    get_days(f->m, &d);
    assert_int_equal(d.n, 0);
    /* deleting what is not there is not an error */
    assert_int_equal(meta_del(f->m, &fi), 0);
}

static void test_del_day_counts_files(void **state)
{
    struct fixture *f = *state;
    struct file_info a, b, c, out[4];
    struct days d;
    char day[16];
    day_str(TS_DAY1, day);
    /* two paths of one content and one other file on the same day */
    make_fi(&a, "s1", "a.txt", MD5_A, 100, TS_DAY1);
    make_fi(&b, "s2", "b.txt", MD5_A, 100, TS_DAY1);
    make_fi(&c, "s1", "c.txt", MD5_B, 5, TS_DAY1);
    assert_int_equal(meta_put(f->m, &a), 0);
    assert_int_equal(meta_put(f->m, &b), 0);
    assert_int_equal(meta_put(f->m, &c), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.day[0], day);
    assert_int_equal(d.count[0], 3); /* files, not distinct contents */
    assert_int_equal(d.bytes[0], 205);

    assert_int_equal(meta_del(f->m, &a), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.count[0], 2);
    assert_int_equal(d.bytes[0], 105);
    /* the other path of the content is still found */
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 1);
    assert_string_equal(out[0].name, "b.txt");

    assert_int_equal(meta_del(f->m, &b), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.count[0], 1);
    assert_int_equal(d.bytes[0], 5);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 0);

    assert_int_equal(meta_del(f->m, &c), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 0);
    assert_int_equal(meta_count(f->m), 0);
}

static void test_put_replaces_indexes(void **state)
{
    struct fixture *f = *state;
    struct file_info old, neu, out[4];
    struct days d;
    char d2[16];
    day_str(TS_DAY2, d2);
    /* the same path re-recorded with other content on another day (a repair re-hash) */
    make_fi(&old, "s", "same.txt", MD5_A, 10, TS_DAY1);
    make_fi(&neu, "s", "same.txt", MD5_B, 20, TS_DAY2);
    assert_int_equal(meta_put(f->m, &old), 0);
    assert_int_equal(meta_put(f->m, &neu), 0);
    assert_int_equal(meta_count(f->m), 1);
    assert_int_equal(meta_find_digest(f->m, MD5_B, out, 4), 1);
    /* the old content's index must not point at a record that holds other content */
    int n = meta_find_digest(f->m, MD5_A, out, 4);
    for (int i = 0; i < n; i++)
        assert_string_equal(out[i].md5, MD5_A);
    assert_int_equal(n, 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.day[0], d2);
    assert_int_equal(d.count[0], 1);
    assert_int_equal(d.bytes[0], 20);
}

static void test_del_digest_on_two_days(void **state)
{
    struct fixture *f = *state;
    struct file_info a, b;
    struct days d;
    /* one content uploaded on two days under two paths: each day counts it */
    make_fi(&a, "s1", "a.txt", MD5_A, 10, TS_DAY1);
    make_fi(&b, "s2", "b.txt", MD5_A, 10, TS_DAY2);
    assert_int_equal(meta_put(f->m, &a), 0);
    assert_int_equal(meta_put(f->m, &b), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 2);
    /* the later path goes first, then the last one: no day may still count the content */
    assert_int_equal(meta_del(f->m, &b), 0);
    assert_int_equal(meta_del(f->m, &a), 0);
    assert_int_equal(meta_count(f->m), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 0);
}

static void test_scan_days_order(void **state)
{
    struct fixture *f = *state;
    struct file_info fi;
    struct days d;
    char d1[16], d2[16];
    day_str(TS_DAY1, d1);
    day_str(TS_DAY2, d2);
    /* put the later day first: the scan is in date order regardless */
    make_fi(&fi, "x", "late.txt", MD5_B, 30, TS_DAY2);
    assert_int_equal(meta_put(f->m, &fi), 0);
    make_fi(&fi, "x", "early.txt", MD5_A, 20, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    make_fi(&fi, "x", "early2.txt", SHA_A, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    get_days(f->m, &d);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.day[0], d1);
    assert_int_equal(d.count[0], 2);
    assert_int_equal(d.bytes[0], 21);
    assert_string_equal(d.day[1], d2);
    assert_int_equal(d.count[1], 1);
    assert_int_equal(d.bytes[1], 30);
}

static int days_stop_cb(void *ctx, const char *day, long long count, long long bytes)
{
    (void)day;
    (void)count;
    (void)bytes;
    (*(int *)ctx)++;
    return 9;
}

static void test_scan_days_stops(void **state)
{
    struct fixture *f = *state;
    struct file_info fi;
    int calls = 0;
    make_fi(&fi, "x", "a", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    make_fi(&fi, "x", "b", MD5_B, 1, TS_DAY2);
    assert_int_equal(meta_put(f->m, &fi), 0);
    assert_int_equal(meta_scan_days(f->m, days_stop_cb, &calls), 9);
    assert_int_equal(calls, 1);
}

static void test_scan_and_count(void **state)
{
    struct fixture *f = *state;
    struct file_info fi;
    struct recs r = {0};
    static const char *names[] = {"n0", "n1", "n2", "n3", "n4"};
    for (size_t i = 0; i < 5; i++) {
        make_fi(&fi, "sc", names[i], (i % 2) ? MD5_A : MD5_B, 1, TS_DAY1);
        assert_int_equal(meta_put(f->m, &fi), 0);
    }
    assert_int_equal(meta_count(f->m), 5);
    assert_int_equal(meta_scan(f->m, recs_cb, &r), 0);
    assert_int_equal(r.n, 5);
    for (size_t i = 0; i < 5; i++) {
        bool found = false;
        for (size_t j = 0; j < r.n; j++)
            found |= strcmp(r.names[j], names[i]) == 0;
        assert_true(found);
    }
}

static void test_scan_stops(void **state)
{
    struct fixture *f = *state;
    struct file_info fi;
    struct recs r = {.stop_after = 2};
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "s%d", i);
        make_fi(&fi, "st", name, MD5_A, 1, TS_DAY1);
        assert_int_equal(meta_put(f->m, &fi), 0);
    }
    assert_int_equal(meta_scan(f->m, recs_cb, &r), 42);
    assert_int_equal(r.n, 2);
}

static void test_unreadable_record_skipped(void **state)
{
    struct fixture *f = *state;
    struct file_info good, bad, got;
    struct recs r = {0};
    char pk[DIGEST_HEX_MAX];
    make_fi(&good, "d", "good.txt", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &good), 0);
    /* a record whose digest is not hex is refused by the reader */
    make_fi(&bad, "d", "bad.txt", "not-hex!", 1, TS_DAY1);
    if (meta_put(f->m, &bad) == 0) {
        key_of(&bad, pk);
        assert_int_equal(meta_get_path(f->m, pk, &got), ERR_CORRUPT);
    }
    assert_int_equal(meta_scan(f->m, recs_cb, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.names[0], "good.txt");
}

static void test_corrupt_value_skipped(void **state)
{
    struct fixture *f = *state;
    struct file_info good, got;
    struct recs r = {0};
    static char garbage[] = "{\"name\":\"trunc";
    static char notobj[] = "[1,2,3]";
    struct meta_kv kv[2];
    memset(kv, 0, sizeof(kv));
    snprintf(kv[0].key, sizeof(kv[0].key), "p/%s", MD5_B);
    kv[0].val = garbage;
    kv[0].vlen = strlen(garbage);
    snprintf(kv[1].key, sizeof(kv[1].key), "p/%s", "ffffffffffffffffffffffffffffffff");
    kv[1].val = notobj;
    kv[1].vlen = strlen(notobj);
    make_fi(&good, "d", "good.txt", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_write(f->m, &good, true, kv, 2), 0);
    assert_int_equal(meta_get_path(f->m, MD5_B, &got), ERR_CORRUPT);
    assert_int_equal(meta_scan(f->m, recs_cb, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.names[0], "good.txt");
}

/* ---- raw key/value namespaces ---- */

struct kvlog {
    char keys[8][128];
    char vals[8][64];
    size_t n;
    size_t stop_after;
};

static int kvlog_cb(void *ctx, const char *key, size_t klen, const char *val, size_t vlen)
{
    struct kvlog *l = ctx;
    assert_true(l->n < 8);
    snprintf(l->keys[l->n], sizeof(l->keys[0]), "%.*s", (int)klen, key);
    snprintf(l->vals[l->n], sizeof(l->vals[0]), "%.*s", (int)vlen, val);
    l->n++;
    return (l->stop_after && l->n >= l->stop_after) ? 5 : 0;
}

static void set_kv(struct meta_kv *kv, const char *key, char *val)
{
    memset(kv, 0, sizeof(*kv));
    snprintf(kv->key, sizeof(kv->key), "%s", key);
    kv->val = val;
    kv->vlen = val ? strlen(val) : 0;
}

static void test_write_with_extra_keys(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, got;
    struct meta_kv kv[2];
    char pk[DIGEST_HEX_MAX];
    char *val = NULL;
    size_t vlen = 0;
    static char job[] = "{\"job\":1}";
    make_fi(&fi, "w", "w.txt", MD5_A, 3, TS_DAY1);
    key_of(&fi, pk);
    char qkey[128];
    snprintf(qkey, sizeof(qkey), "q/http://peer:8080/%s", pk);
    set_kv(&kv[0], qkey, job);
    assert_int_equal(meta_write(f->m, &fi, true, kv, 1), 0);
    assert_int_equal(meta_get_path(f->m, pk, &got), 0);
    assert_int_equal(meta_kv_get(f->m, qkey, &val, &vlen), 0);
    assert_int_equal(vlen, strlen(job));
    assert_string_equal(val, job);
    free(val);
    val = NULL;
    /* remove the record and the job in one batch, and add a tombstone */
    static char tomb[] = "{\"deleted\":true}";
    char xkey[128];
    snprintf(xkey, sizeof(xkey), "x/%s", pk);
    set_kv(&kv[0], qkey, NULL);
    set_kv(&kv[1], xkey, tomb);
    assert_int_equal(meta_write(f->m, &fi, false, kv, 2), 0);
    assert_int_equal(meta_get_path(f->m, pk, &got), -ENOENT);
    assert_int_equal(meta_kv_get(f->m, qkey, &val, &vlen), -ENOENT);
    assert_int_equal(meta_kv_get(f->m, xkey, &val, &vlen), 0);
    assert_string_equal(val, tomb);
    free(val);
    assert_int_equal(meta_count(f->m), 0);
}

static void test_kv_get_missing_and_empty(void **state)
{
    struct fixture *f = *state;
    struct meta_kv kv;
    struct file_info fi;
    char *val = NULL;
    size_t vlen = 99;
    static char empty[] = "";
    assert_int_equal(meta_kv_get(f->m, "f/none", &val, &vlen), -ENOENT);
    assert_null(val);
    set_kv(&kv, "f/empty", empty);
    make_fi(&fi, "e", "e.txt", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_write(f->m, &fi, true, &kv, 1), 0);
    assert_int_equal(meta_kv_get(f->m, "f/empty", &val, &vlen), 0);
    assert_non_null(val);
    assert_int_equal(vlen, 0);
    assert_string_equal(val, "");
    free(val);
}

static void test_kv_scan_and_count(void **state)
{
    struct fixture *f = *state;
    struct meta_kv kv[5];
    struct file_info fi;
    struct kvlog l;
    static char v1[] = "1", v2[] = "2", v3[] = "3", v4[] = "4", v5[] = "5";
    set_kv(&kv[0], "q/b/2", v2);
    set_kv(&kv[1], "q/a/1", v1);
    set_kv(&kv[2], "q/b/3", v3);
    set_kv(&kv[3], "qq/x", v4); /* shares "q" but not "q/" */
    set_kv(&kv[4], "r/q/", v5);
    make_fi(&fi, "k", "k.txt", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_write(f->m, &fi, true, kv, 5), 0);

    memset(&l, 0, sizeof(l));
    assert_int_equal(meta_kv_scan(f->m, "q/", kvlog_cb, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.keys[0], "q/a/1"); /* key order */
    assert_string_equal(l.vals[0], "1");
    assert_string_equal(l.keys[1], "q/b/2");
    assert_string_equal(l.keys[2], "q/b/3");

    memset(&l, 0, sizeof(l));
    assert_int_equal(meta_kv_scan(f->m, "q/b/", kvlog_cb, &l), 0);
    assert_int_equal(l.n, 2);

    memset(&l, 0, sizeof(l));
    l.stop_after = 2;
    assert_int_equal(meta_kv_scan(f->m, "q/", kvlog_cb, &l), 5);
    assert_int_equal(l.n, 2);

    memset(&l, 0, sizeof(l));
    assert_int_equal(meta_kv_scan(f->m, "z/", kvlog_cb, &l), 0);
    assert_int_equal(l.n, 0);

    assert_int_equal(meta_kv_count(f->m, "q/", 100), 3);
    assert_int_equal(meta_kv_count(f->m, "q/", 2), 2);
    assert_int_equal(meta_kv_count(f->m, "q/", 1), 1);
    assert_int_equal(meta_kv_count(f->m, "z/", 100), 0);
    assert_int_equal(meta_kv_count(f->m, "p/", 100), 1);
    /* "bounded by max": never more than max */
    assert_int_equal(meta_kv_count(f->m, "q/", 0), 0);
}

/* A conditional key is written only while the key still holds the value it was read as:
 * the end of an old replication job must not undo a job queued under the same key since. */
static void test_conditional_keys(void **state)
{
    struct fixture *f = *state;
    struct meta_kv kv[2];
    struct file_info fi;
    char *val = NULL;
    size_t vlen = 0;
    static char put[] = "{\"op\":\"put\"}", del[] = "{\"op\":\"del\"}",
                retry[] = "{\"op\":\"put\",\"tries\":1}";
    uint64_t hput = meta_kv_hash(put, strlen(put));
    assert_int_not_equal(hput, 0);
    assert_int_not_equal(hput, meta_kv_hash(del, strlen(del)));
    assert_int_not_equal(meta_kv_hash("", 0), 0);

    set_kv(&kv[0], "q/a/1", put);
    assert_int_equal(meta_write(f->m, NULL, false, kv, 1), 0);
    /* a delete overwrites the put while the put is on the wire */
    set_kv(&kv[0], "q/a/1", del);
    assert_int_equal(meta_write(f->m, NULL, false, kv, 1), 0);
    /* the put's end (remove, or reschedule) leaves the delete alone */
    set_kv(&kv[0], "q/a/1", NULL);
    kv[0].if_hash = hput;
    assert_int_equal(meta_write(f->m, NULL, false, kv, 1), 0);
    set_kv(&kv[1], "q/a/1", retry);
    kv[1].if_hash = hput;
    assert_int_equal(meta_write(f->m, NULL, false, &kv[1], 1), 0);
    assert_int_equal(meta_kv_get(f->m, "q/a/1", &val, &vlen), 0);
    assert_string_equal(val, del);
    free(val);
    val = NULL;
    /* the delete's own end removes it, in a batch with a record too */
    set_kv(&kv[0], "q/a/1", NULL);
    kv[0].if_hash = meta_kv_hash(del, strlen(del));
    make_fi(&fi, "c", "c.txt", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_write(f->m, &fi, true, kv, 1), 0);
    assert_int_equal(meta_kv_get(f->m, "q/a/1", &val, &vlen), -ENOENT);
    /* a job removed meanwhile (a pull made moot by a delete) is not written back */
    set_kv(&kv[0], "q/a/1", retry);
    kv[0].if_hash = hput;
    assert_int_equal(meta_write(f->m, NULL, false, kv, 1), 0);
    assert_int_equal(meta_kv_get(f->m, "q/a/1", &val, &vlen), -ENOENT);
    /* unconditional keys in the same batch are written regardless */
    set_kv(&kv[1], "q/a/2", put);
    assert_int_equal(meta_write(f->m, NULL, false, kv, 2), 0);
    assert_int_equal(meta_kv_get(f->m, "q/a/1", &val, &vlen), -ENOENT);
    assert_int_equal(meta_kv_get(f->m, "q/a/2", &val, &vlen), 0);
    free(val);
}

/* Bytes of LevelDB's write-ahead logs (*.log) in dir. */
static long long log_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    long long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t l = strlen(e->d_name);
        struct stat st;
        if (l > 4 && strcmp(e->d_name + l - 4, ".log") == 0 &&
            fstatat(dirfd(d), e->d_name, &st, 0) == 0)
            n += st.st_size;
    }
    closedir(d);
    return n;
}

/* The records' batch is used again (meta.c): each write logs its own entries only. Left
 * uncleared, 300 writes would log every earlier one again, about 300 * 300 / 2 entries. */
static void test_each_write_logs_only_itself(void **state)
{
    struct fixture *f = *state;
    long long before = log_bytes(f->db);
    for (int i = 0; i < 300; i++) {
        struct file_info fi;
        char name[32], md5[33];
        snprintf(name, sizeof name, "f%d.txt", i);
        snprintf(md5, sizeof md5, "%032x", i + 1);
        make_fi(&fi, "d", name, md5, i, TS_DAY1);
        assert_int_equal(meta_put(f->m, &fi), 0);
    }
    long long grew = log_bytes(f->db) - before;
    assert_true(grew > 300 * 100);  /* a record's three entries are over 100 bytes */
    assert_true(grew < 300 * 1000); /* and far under 1,000 */
}

static void test_reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    struct file_info fi, got, out[2];
    struct days d;
    char pk[DIGEST_HEX_MAX];
    make_fi(&fi, "persist/d", "p.txt", MD5_A, 77, TS_DAY1);
    assert_int_equal(fileinfo_add_peer(&fi, "http://peer:1"), 0);
    assert_int_equal(meta_put(f->m, &fi), 0);
    meta_close(f->m);
    f->m = NULL;
    assert_int_equal(meta_open(f->db, &f->m), 0);
    key_of(&fi, pk);
    assert_int_equal(meta_get_path(f->m, pk, &got), 0);
    assert_fi_equal(&fi, &got);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 2), 1);
    assert_int_equal(meta_count(f->m), 1);
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.bytes[0], 77);
}

/* Scans (an upload's dedupe probe, listings) read blocks without caching them, point reads
 * cache theirs: a run of uploads must not fill the block cache with random digests. */
#define CACHE_FILES 3000
static void cache_md5(int i, char md5[33])
{
    snprintf(md5, 33, "%08x%024d", (unsigned)i * 2654435761u, i);
}

/* Record i: "<prefix><i>.bin" in cache/d with cache_md5(i), size `size + i`. */
static void cache_fi(struct file_info *fi, const char *prefix, int i, int size)
{
    char md5[33], name[32];
    cache_md5(i, md5);
    snprintf(name, sizeof name, "%s%d.bin", prefix, i);
    make_fi(fi, "cache/d", name, md5, size + i, TS_DAY1);
}

/* CACHE_FILES records, then a reopen, which moves them all into table files. */
static void cache_fill(struct fixture *f)
{
    struct file_info fi;
    for (int i = 0; i < CACHE_FILES; i++) {
        cache_fi(&fi, "c", i, 0);
        assert_int_equal(meta_write_bulk(f->m, &fi, true, NULL, 0), 0);
    }
    meta_close(f->m);
    f->m = NULL;
    assert_int_equal(meta_open(f->db, &f->m), 0);
}

static void test_scans_leave_the_block_cache_alone(void **state)
{
    struct fixture *f = *state;
    struct file_info out[1];
    char md5[33];
    cache_fill(f);
    long long m0 = meta_mem_bytes(f->m);
    assert_true(m0 >= 0);
    for (int i = 0; i < CACHE_FILES; i++) {
        /* a new upload's probe: a digest found nowhere, next to the stored ones */
        snprintf(md5, sizeof md5, "%08x%024d", (unsigned)i * 2654435761u + 1, i);
        assert_int_equal(meta_find_digest(f->m, md5, out, 1), 0);
    }
    assert_int_equal(meta_count(f->m), CACHE_FILES);
    long long m1 = meta_mem_bytes(f->m);
    assert_true(m1 - m0 < 4096);
    for (int i = 0; i < CACHE_FILES; i += 10) {
        cache_md5(i, md5);
        assert_int_equal(meta_find_digest(f->m, md5, out, 1), 1); /* reads its record */
    }
    assert_true(meta_mem_bytes(f->m) - m1 > 32 * 1024);
}

/* A write looks for the record at its path first (to drop the old index entries); that
 * probe does not cache either. Growth by writing new paths (memtable only) is the yardstick
 * for growth by rewriting stored ones, whose probes find blocks in the tables. */
#define REWRITES 600
static void test_write_probes_leave_the_block_cache_alone(void **state)
{
    struct fixture *f = *state;
    struct file_info fi;
    cache_fill(f);
    long long m0 = meta_mem_bytes(f->m);
    for (int i = 0; i < REWRITES; i++) {
        cache_fi(&fi, "n", i, 0); /* new paths */
        assert_int_equal(meta_write_bulk(f->m, &fi, true, NULL, 0), 0);
    }
    long long m1 = meta_mem_bytes(f->m);
    for (int i = 0; i < CACHE_FILES; i += CACHE_FILES / REWRITES) {
        cache_fi(&fi, "c", i, 1); /* stored paths, another size */
        assert_int_equal(meta_write_bulk(f->m, &fi, true, NULL, 0), 0);
    }
    long long m2 = meta_mem_bytes(f->m);
    print_message("new paths: +%lld, rewrites: +%lld\n", m1 - m0, m2 - m1);
    assert_true(m2 - m1 < 2 * (m1 - m0));
}

static void test_open_bad_dir(void **state)
{
    struct fixture *f = *state;
    char p[700];
    struct meta *m = NULL;
    /* a regular file where the database directory should be */
    snprintf(p, sizeof(p), "%s/plainfile", f->dir);
    support_write_file(p, "x", 1);
    assert_true(meta_open(p, &m) < 0);
    assert_null(m);
    /* the same database cannot be opened twice (LevelDB lock) */
    assert_true(meta_open(f->db, &m) < 0);
    assert_null(m);
}

static void test_close_null(void **state)
{
    (void)state;
    meta_close(NULL);
}

#define WRITERS 4
#define PER_WRITER 20

struct writer {
    struct meta *m;
    int id;
    int failures;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        struct file_info fi;
        char name[32];
        snprintf(name, sizeof(name), "w%d-%d", w->id, i);
        make_fi(&fi, "conc", name, (i % 2) ? MD5_A : MD5_B, 1, TS_DAY1);
        if (meta_put(w->m, &fi) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_puts(void **state)
{
    struct fixture *f = *state;
    pthread_t th[WRITERS];
    struct writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){f->m, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(meta_count(f->m), WRITERS * PER_WRITER);
    struct days d;
    get_days(f->m, &d);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.count[0], WRITERS * PER_WRITER);
    assert_int_equal(d.bytes[0], WRITERS * PER_WRITER);
    /* every path of both digests is indexed: no writer lost another's primary */
    static struct file_info out[WRITERS * PER_WRITER];
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, WRITERS * PER_WRITER),
                     WRITERS * PER_WRITER / 2);
    assert_int_equal(meta_find_digest(f->m, MD5_B, out, WRITERS * PER_WRITER),
                     WRITERS * PER_WRITER / 2);
}

/* ---- the digest index: a primary path per digest, the others as extras ---- */

static void put_n(struct meta *m, const char *md5, int n)
{
    struct file_info fi;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        make_fi(&fi, "dig", name, md5, 1, TS_DAY1);
        assert_int_equal(meta_put(m, &fi), 0);
    }
}

static void del_name(struct meta *m, const char *md5, const char *name)
{
    struct file_info fi;
    make_fi(&fi, "dig", name, md5, 1, TS_DAY1);
    assert_int_equal(meta_del(m, &fi), 0);
}

static bool found_name(struct meta *m, const char *md5, const char *name, int want_n)
{
    struct file_info out[8];
    int n = meta_find_digest(m, md5, out, 8);
    assert_int_equal(n, want_n);
    for (int i = 0; i < n; i++)
        if (strcmp(out[i].name, name) == 0)
            return true;
    return false;
}

static void test_digest_primary_promoted(void **state)
{
    struct fixture *f = *state;
    put_n(f->m, MD5_A, 3);
    assert_true(found_name(f->m, MD5_A, "n0", 3));
    assert_int_equal(meta_kv_count(f->m, "d/", 100), 3); /* primary + 2 extras */
    del_name(f->m, MD5_A, "n0"); /* the primary: an extra takes its place */
    assert_false(found_name(f->m, MD5_A, "n0", 2));
    assert_true(found_name(f->m, MD5_A, "n1", 2) && found_name(f->m, MD5_A, "n2", 2));
    assert_int_equal(meta_kv_count(f->m, "d/", 100), 2);
    del_name(f->m, MD5_A, "n2");
    assert_true(found_name(f->m, MD5_A, "n1", 1));
    del_name(f->m, MD5_A, "n1");
    assert_int_equal(meta_kv_count(f->m, "d/", 100), 0); /* nothing left behind */
    struct file_info out[1];
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 1), 0);
    put_n(f->m, MD5_A, 1); /* and a digest can come back */
    assert_true(found_name(f->m, MD5_A, "n0", 1));
}

static void test_digest_primary_overwritten(void **state)
{
    struct fixture *f = *state;
    struct file_info fi;
    put_n(f->m, MD5_A, 2); /* n0 primary, n1 extra */
    make_fi(&fi, "dig", "n0", MD5_B, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0); /* the primary's path gets other content */
    assert_true(found_name(f->m, MD5_A, "n1", 1));
    assert_true(found_name(f->m, MD5_B, "n0", 1));
    make_fi(&fi, "dig", "n1", MD5_B, 1, TS_DAY1);
    assert_int_equal(meta_put(f->m, &fi), 0);
    struct file_info out[2];
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 2), 0);
    assert_int_equal(meta_find_digest(f->m, MD5_B, out, 2), 2);
    assert_int_equal(meta_kv_count(f->m, "d/", 100), 2);
}

static void put_raw(struct meta *m, const char *key, const char *val)
{
    char copy[256];
    struct meta_kv kv = {.val = NULL};
    if (val) {
        snprintf(copy, sizeof(copy), "%s", val);
        kv.val = copy;
        kv.vlen = strlen(copy);
    }
    snprintf(kv.key, sizeof(kv.key), "%s", key);
    assert_int_equal(meta_write(m, NULL, true, &kv, 1), 0);
}

/* A record as an index written before the primary keys held it. */
static void put_old_format(struct meta *m, const char *name, const char *md5)
{
    struct file_info fi;
    char pk[DIGEST_HEX_MAX], key[128];
    make_fi(&fi, "old", name, md5, 1, TS_DAY1);
    key_of(&fi, pk);
    size_t len;
    char *text = fileinfo_to_text(&fi, &len);
    assert_non_null(text);
    snprintf(key, sizeof(key), "p/%s", pk);
    put_raw(m, key, text);
    free(text);
    snprintf(key, sizeof(key), "d/%s/%s", md5, pk);
    put_raw(m, key, "");
}

static void test_digest_index_migrated(void **state)
{
    struct fixture *f = *state;
    put_raw(f->m, "v/digest-index", NULL);
    put_old_format(f->m, "a1", MD5_A);
    put_old_format(f->m, "a2", MD5_A);
    put_old_format(f->m, "a3", MD5_A);
    put_old_format(f->m, "b1", MD5_B);
    put_old_format(f->m, "s1", SHA_A);
    put_raw(f->m, "d/", "");       /* keys of neither form stay as they are */
    put_raw(f->m, "d//x", "");
    for (int round = 0; round < 2; round++) { /* the second open finds nothing to do */
        meta_close(f->m);
        f->m = NULL;
        assert_int_equal(meta_open(f->db, &f->m), 0);
        struct file_info out[4];
        assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 3);
        assert_int_equal(meta_find_digest(f->m, MD5_B, out, 4), 1);
        assert_string_equal(out[0].name, "b1");
        assert_int_equal(meta_find_digest(f->m, SHA_A, out, 4), 1);
        assert_string_equal(out[0].name, "s1");
        /* primaries for A, B and SHA_A, two extras for A, and the two odd keys */
        assert_int_equal(meta_kv_count(f->m, "d/", 100), 7);
        char *v;
        size_t vl;
        assert_int_equal(meta_kv_get(f->m, "d/" MD5_B, &v, &vl), 0);
        assert_int_equal(vl, 32);
        free(v);
    }
    /* the migrated index keeps working: the primary goes, an extra takes over */
    struct file_info fi;
    make_fi(&fi, "old", "a1", MD5_A, 1, TS_DAY1);
    assert_int_equal(meta_del(f->m, &fi), 0);
    struct file_info out[4];
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 2);
}

/* More digests than one conversion batch holds (10,000 changes, two per digest here): every
 * batch is written, and each digest ends with its primary and without its old key. */
#define MANY_OLD 25000
static void test_digest_index_migrated_in_batches(void **state)
{
    struct fixture *f = *state;
    put_raw(f->m, "v/digest-index", NULL);
    struct meta_kv *kv = calloc(1000, sizeof(*kv));
    assert_non_null(kv);
    static char empty[] = "";
    for (int i = 0; i < MANY_OLD; i += 1000) {
        for (int k = 0; k < 1000; k++) {
            snprintf(kv[k].key, sizeof(kv[k].key), "d/%032x/%032x", i + k, 1000000 + i + k);
            kv[k].val = empty;
            kv[k].vlen = 0;
        }
        assert_int_equal(meta_write_bulk(f->m, NULL, false, kv, 1000), 0);
    }
    free(kv);
    assert_int_equal(meta_sync(f->m), 0);
    meta_close(f->m);
    f->m = NULL;
    assert_int_equal(meta_open(f->db, &f->m), 0);
    assert_int_equal(meta_kv_count(f->m, "d/", 2 * MANY_OLD), MANY_OLD);
    for (int i = 0; i < MANY_OLD; i += 4999) {
        char key[80], want[40], *v = NULL;
        size_t vl = 0;
        snprintf(key, sizeof(key), "d/%032x", i);
        snprintf(want, sizeof(want), "%032x", 1000000 + i);
        assert_int_equal(meta_kv_get(f->m, key, &v, &vl), 0);
        assert_string_equal(v, want);
        free(v);
    }
    char *v = NULL;
    size_t vl;
    assert_int_equal(meta_kv_get(f->m, "v/digest-index", &v, &vl), 0);
    free(v);
}

#define RACERS 4
#define RACES 200

struct racer {
    struct meta *m;
    pthread_barrier_t *start;
    int id;
    int failures;
};

static void race_md5(int race, char md5[33])
{
    snprintf(md5, 33, "%032x", race + 1);
}

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < RACES; i++) {
        struct file_info fi;
        char name[32], md5[33];
        snprintf(name, sizeof(name), "r%d-%d", r->id, i);
        race_md5(i, md5);
        make_fi(&fi, "race", name, md5, 1, TS_DAY1);
        pthread_barrier_wait(r->start); /* all writers of a new digest at once */
        /* unsynced, so that nothing but the index's own lock keeps the writers apart */
        if (meta_write_bulk(r->m, &fi, true, NULL, 0) != 0)
            r->failures++;
    }
    return NULL;
}

/* Writers of a new digest race for its primary: each path ends up indexed exactly once. */
static void test_digest_index_racing_writers(void **state)
{
    struct fixture *f = *state;
    pthread_t th[RACERS];
    struct racer r[RACERS];
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct racer){f->m, &start, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].failures, 0);
    }
    pthread_barrier_destroy(&start);
    /* one primary and RACERS - 1 extras per digest */
    assert_int_equal(meta_kv_count(f->m, "d/", RACES * RACERS * 2), RACES * RACERS);
    for (int i = 0; i < RACES; i++) {
        char md5[33];
        struct file_info out[RACERS];
        race_md5(i, md5);
        assert_int_equal(meta_find_digest(f->m, md5, out, RACERS), RACERS);
    }
}

static void put_one(struct meta *m, const char *name, const char *md5, int64_t ts)
{
    struct file_info fi;
    make_fi(&fi, "k", name, md5, 1, ts);
    assert_int_equal(meta_put(m, &fi), 0);
}

static void wait_known(struct meta *m)
{
    for (int i = 0; i < 1000 && !meta_known_ready(m); i++)
        usleep(5000);
    assert_true(meta_known_ready(m));
}

/* The filter filled from an existing index lets no stored digest or path pass for new. */
static void test_known_filter_after_reopen(void **state)
{
    struct fixture *f = *state;
    struct file_info out[4];
    put_one(f->m, "one", MD5_A, TS_DAY1);
    put_one(f->m, "two", MD5_B, TS_DAY2);
    meta_close(f->m);
    f->m = NULL;
    assert_int_equal(meta_open(f->db, &f->m), 0);
    wait_known(f->m);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 1);
    assert_int_equal(meta_find_digest(f->m, SHA_A, out, 4), 0);
    /* a stored path with new content: its old digest entry must go */
    put_one(f->m, "one", MD5_B, TS_DAY1);
    assert_int_equal(meta_find_digest(f->m, MD5_A, out, 4), 0);
    assert_int_equal(meta_find_digest(f->m, MD5_B, out, 4), 2);
    struct days d;
    get_days(f->m, &d);
    assert_int_equal(d.n, 2);
}

#define GROW_FILES 40000

static void grow_md5(int i, char md5[33])
{
    snprintf(md5, 33, "%08x%024x", (unsigned)i * 2654435761u, i);
}

/* More keys than the first filter holds: it is replaced by a larger one while writes go
 * on, and neither the keys written meanwhile nor the older ones pass for new. */
static void test_known_filter_grows(void **state)
{
    struct fixture *f = *state;
    wait_known(f->m);
    struct file_info fi, out[2];
    char md5[33], name[32];
    for (int i = 0; i < GROW_FILES; i++) {
        grow_md5(i, md5);
        snprintf(name, sizeof(name), "g%d", i);
        make_fi(&fi, "grow", name, md5, 1, TS_DAY1);
        assert_int_equal(meta_write_bulk(f->m, &fi, true, NULL, 0), 0);
    }
    for (int i = 0; i < GROW_FILES; i += 97) {
        grow_md5(i, md5);
        assert_int_equal(meta_find_digest(f->m, md5, out, 2), 1);
        /* and rewriting the path drops the old digest */
        snprintf(name, sizeof(name), "g%d", i);
        make_fi(&fi, "grow", name, MD5_A, 1, TS_DAY1);
        assert_int_equal(meta_write_bulk(f->m, &fi, true, NULL, 0), 0);
        assert_int_equal(meta_find_digest(f->m, md5, out, 2), 0);
    }
    assert_int_equal(meta_count(f->m), GROW_FILES);
}

/* A primary entry that is not a path key (damage) does not hide the extras. */
static void test_digest_primary_unreadable(void **state)
{
    struct fixture *f = *state;
    put_n(f->m, MD5_A, 2);
    put_raw(f->m, "d/" MD5_A, "not a path key");
    assert_true(found_name(f->m, MD5_A, "n1", 1));
    del_name(f->m, MD5_A, "n1"); /* the last extra: the damaged entry goes with it */
    assert_int_equal(meta_kv_count(f->m, "d/", 100), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty),
        T(test_put_get),
        T(test_put_idempotent),
        T(test_get_missing),
        T(test_get_is_by_path_key_only),
        T(test_find_digest),
        T(test_find_digest_max),
        T(test_find_digest_unknown_and_prefix),
        T(test_del),
        T(test_del_day_counts_files),
        T(test_put_replaces_indexes),
        T(test_del_digest_on_two_days),
        T(test_scan_days_order),
        T(test_scan_days_stops),
        T(test_scan_and_count),
        T(test_scan_stops),
        T(test_unreadable_record_skipped),
        T(test_corrupt_value_skipped),
        T(test_write_with_extra_keys),
        T(test_kv_get_missing_and_empty),
        T(test_kv_scan_and_count),
        T(test_conditional_keys),
        T(test_each_write_logs_only_itself),
        T(test_reopen_keeps_data),
        T(test_scans_leave_the_block_cache_alone),
        T(test_write_probes_leave_the_block_cache_alone),
        T(test_open_bad_dir),
        cmocka_unit_test(test_close_null),
        T(test_concurrent_puts),
        T(test_digest_primary_promoted),
        T(test_digest_primary_overwritten),
        T(test_digest_index_migrated),
        T(test_digest_index_migrated_in_batches),
        T(test_digest_primary_unreadable),
        T(test_digest_index_racing_writers),
        T(test_known_filter_after_reopen),
        T(test_known_filter_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
