/* Unit tests for volume: needles appended and read back at their offsets, names that keep the
 * first place across a move, deletes by state byte, roll-over to a new volume, reopening
 * (the newest volume is appended to again, numbers never reused), torn and garbled
 * stretches skipped by the scan, removal rules, go-fastdfs files left alone, name parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "support.h"
#include "volume.h"

struct fixture {
    char base[512];
    char root[600];
    char vdir[700];
    struct store *s;
    struct volumes *v;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    support_tmpdir(f->base, sizeof f->base);
    snprintf(f->root, sizeof f->root, "%s/root", f->base);
    snprintf(f->vdir, sizeof f->vdir, "%s/files/haystack/9", f->root);
    if (mkdir(f->root, 0775) < 0 || store_open(f->root, FSBARRIER_GROUP, &f->s) != 0 ||
        volumes_open(f->s, "9", 65536, &f->v) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    volumes_close(f->v);
    store_close(f->s);
    support_rmtree(f->base);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    volumes_close(f->v);
    f->v = NULL;
    assert_int_equal(volumes_open(f->s, "9", 65536, &f->v), 0);
}

/* the JSON is whatever the caller wants: here it records the place it was named after */
static char *info_fn(void *ctx, uint32_t vol, uint64_t off, size_t *len)
{
    const char *tag = *(const char **)ctx;
    char *s = malloc(128);
    *len = (size_t)snprintf(s, 128, "{\"tag\":\"%s\",\"vol\":%u,\"off\":%llu}", tag, vol,
                            (unsigned long long)off);
    return s;
}

static void put(struct fixture *f, const char *tag, const void *data, size_t n, struct needle *out)
{
    assert_int_equal(volumes_append(f->v, NULL, info_fn, &tag, data, n, true, out), 0);
    volumes_release(f->v, out->vol);
}

static void check_bytes(struct fixture *f, const struct needle *n, const void *data, size_t len)
{
    int fd;
    struct needle got;
    assert_int_equal(volumes_open_read(f->v, n->vol, &fd), 0);
    assert_int_equal(volumes_needle_at(fd, n->vol, n->off, &got), 0);
    assert_int_equal(got.data_len, len);
    assert_int_equal(got.data_off, n->data_off);
    assert_int_equal(got.orig_off, n->orig_off);
    assert_int_equal(got.orig_vol, n->orig_vol);
    char *buf = malloc(len + 1);
    assert_int_equal(pread(fd, buf, len, (off_t)got.data_off), (ssize_t)len);
    assert_memory_equal(buf, data, len);
    free(buf);
    close(fd);
}

struct seen {
    int n, live;
    char tags[64][16];
};

static int scan_cb(void *ctx, const struct needle *n, const char *info)
{
    struct seen *s = ctx;
    const char *t = strstr(info, "\"tag\":\"");
    assert_non_null(t);
    if (s->n < 64)
        sscanf(t + 7, "%15[^\"]", s->tags[s->n]);
    s->n++;
    s->live += n->live;
    return 0;
}

static void test_append_read_scan(void **state)
{
    struct fixture *f = *state;
    struct needle a, b, c;
    put(f, "a", "hello", 5, &a);
    put(f, "b", "", 0, &b);
    char big[3000];
    memset(big, 'x', sizeof big);
    put(f, "c", big, sizeof big, &c);
    assert_int_equal(a.vol, b.vol);
    assert_int_equal(a.off, VOLUME_HDR);
    assert_true(b.off > a.off && c.off > b.off);
    assert_int_equal(a.off % 8, 0);
    assert_int_equal(c.off % 8, 0);
    assert_int_equal(a.orig_off, a.off);
    check_bytes(f, &a, "hello", 5);
    check_bytes(f, &c, big, sizeof big);
    struct seen s = {0};
    assert_int_equal(volumes_scan(f->v, a.vol, scan_cb, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.live, 3);
    assert_string_equal(s.tags[2], "c");
    /* reading a needle whole: its JSON, then its bytes */
    char buf[4096];
    assert_int_equal(volumes_read_needle(f->v, &c, buf, sizeof buf), 0);
    assert_memory_equal(buf + c.info_len, big, sizeof big);
    assert_int_equal(volumes_read_needle(f->v, &c, buf, 10), -ENOBUFS);
}

/* An append left unsynced (the batch committer syncs the filesystem once for many) makes no
 * sync of its own, reads back the same, and still holds its volume until released. */
static void test_unsynced_append(void **state)
{
    struct fixture *f = *state;
    const char *tag = "u";
    struct needle a, b;
    put(f, "first", "x", 1, &a); /* starting a volume syncs it: not counted below */
    long long before = store_syncs(f->s);
    assert_int_equal(volumes_append(f->v, NULL, info_fn, &tag, "lazy", 4, false, &a), 0);
    assert_int_equal(store_syncs(f->s), before);
    check_bytes(f, &a, "lazy", 4);
    assert_int_equal(store_sync_fs(f->s), 0);
    volumes_release(f->v, a.vol);
    assert_int_equal(volumes_append(f->v, NULL, info_fn, &tag, "eager", 5, true, &b), 0);
    assert_int_equal(store_syncs(f->s), before + 2);
    volumes_release(f->v, b.vol);
    assert_int_equal(a.vol, b.vol);
    struct seen s = {0};
    assert_int_equal(volumes_scan(f->v, a.vol, scan_cb, &s), 0);
    assert_int_equal(s.live, 3);
}

static void test_too_big_is_refused(void **state)
{
    struct fixture *f = *state;
    struct needle n;
    char *data = calloc(1, VOLUME_SMALL_MAX);
    const char *tag = "x";
    assert_int_equal(
        volumes_append(f->v, NULL, info_fn, &tag, data, VOLUME_SMALL_MAX, true, &n), -EFBIG);
    free(data);
}

static void test_delete_marks_and_is_idempotent(void **state)
{
    struct fixture *f = *state;
    struct needle a, b;
    put(f, "a", "one", 3, &a);
    put(f, "b", "two", 3, &b);
    assert_int_equal(volumes_mark_deleted(f->v, a.vol, a.off), 0);
    assert_int_equal(volumes_mark_deleted(f->v, a.vol, a.off), 0);
    int fd;
    struct needle got;
    assert_int_equal(volumes_open_read(f->v, a.vol, &fd), 0);
    assert_int_equal(volumes_needle_at(fd, a.vol, a.off, &got), -ENOENT);
    assert_int_equal(volumes_needle_at(fd, b.vol, b.off, &got), 0);
    /* offsets that are not a needle's start are not needles */
    assert_int_equal(volumes_needle_at(fd, b.vol, b.off + 8, &got), -ENOENT);
    assert_int_equal(volumes_needle_at(fd, b.vol, b.off + 1, &got), -ENOENT);
    assert_int_equal(volumes_needle_at(fd, b.vol, 0, &got), -ENOENT);
    assert_int_equal(volumes_needle_at(fd, b.vol, 1ULL << 40, &got), -ENOENT);
    close(fd);
    struct seen s = {0};
    volumes_scan(f->v, a.vol, scan_cb, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.live, 1);
    /* a volume that is gone: nothing to mark */
    assert_int_equal(volumes_mark_deleted(f->v, 999, 16), 0);
}

static void test_rollover_and_reopen(void **state)
{
    struct fixture *f = *state;
    char kb[1024];
    memset(kb, 'k', sizeof kb);
    struct needle n, first;
    put(f, "first", kb, sizeof kb, &first);
    for (int i = 0; i < 150; i++)
        put(f, "k", kb, sizeof kb, &n);
    uint32_t nums[16], active = 0;
    uint64_t sizes[16];
    size_t nv = volumes_list(f->v, nums, sizes, 16, &active);
    assert_true(nv >= 3);
    assert_int_equal(active, nums[nv - 1]);
    assert_int_equal(n.vol, active);
    for (size_t i = 0; i + 1 < nv; i++)
        assert_true(sizes[i] <= 65536);
    /* after a restart every volume is sealed: appends start a new one */
    reopen(f);
    assert_int_equal(volumes_list(f->v, nums, sizes, 16, &active), nv);
    assert_int_equal(active, 0);
    struct needle m;
    put(f, "after", "z", 1, &m);
    assert_int_equal(m.vol, n.vol + 1);
    assert_int_equal(m.off, VOLUME_HDR);
    check_bytes(f, &first, kb, sizeof kb);
    check_bytes(f, &n, kb, sizeof kb);
    assert_int_equal(volumes_remove(f->v, n.vol), 0); /* sealed, nobody writing */
}

static void test_moved_needle_keeps_its_name(void **state)
{
    struct fixture *f = *state;
    struct needle a, moved;
    put(f, "a", "payload", 7, &a);
    char kb[1024] = {0};
    struct needle n;
    for (int i = 0; i < 80; i++) /* seal a's volume */
        put(f, "k", kb, sizeof kb, &n);
    assert_int_not_equal(n.vol, a.vol);
    const char *tag = "a2";
    assert_int_equal(volumes_append(f->v, &a, info_fn, &tag, "payload", 7, true, &moved), 0);
    assert_int_equal(moved.orig_vol, a.vol);
    assert_int_equal(moved.orig_off, a.off);
    assert_int_not_equal(moved.vol, a.vol);
    /* pending: the volume moved into is not removable; the sealed one is */
    assert_int_equal(volumes_remove(f->v, moved.vol), -EBUSY);
    volumes_release(f->v, moved.vol);
    assert_int_equal(volumes_remove(f->v, moved.vol), -EBUSY); /* the active one */
    assert_int_equal(volumes_remove(f->v, a.vol), 0);
    int fd;
    assert_int_equal(volumes_open_read(f->v, a.vol, &fd), -ENOENT);
    assert_int_equal(volumes_remove(f->v, a.vol), -ENOENT);
    check_bytes(f, &moved, "payload", 7);
    /* numbers are never reused, even when the highest was removed before a restart */
    reopen(f);
    struct needle z;
    put(f, "z", "z", 1, &z);
    assert_true(z.vol >= moved.vol);
    assert_int_not_equal(z.vol, a.vol);
}

static void test_torn_tail_and_garbage_are_skipped(void **state)
{
    struct fixture *f = *state;
    struct needle a, b, c, t;
    put(f, "a", "aaaa", 4, &a);
    put(f, "b", "bbbbbbbb", 8, &b);
    char half[500];
    memset(half, 'h', sizeof half);
    put(f, "t", half, sizeof half, &t);
    volumes_close(f->v);
    f->v = NULL;
    /* a crash mid-append: an intact header whose bytes were cut short, then half a header
     * and some bytes */
    char path[800];
    snprintf(path, sizeof path, "%s/%u", f->vdir, a.vol);
    assert_int_equal(truncate(path, (off_t)(t.data_off + 10)), 0);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "FSN1L\0\0\0\x10\0\0\0garbagegarbage", 26), 26);
    close(fd);
    assert_int_equal(volumes_open(f->s, "9", 65536, &f->v), 0);
    put(f, "c", "cc", 2, &c);
    assert_int_equal(c.vol, a.vol + 1); /* never after a torn tail */
    /* and a needle in the middle whose JSON was overwritten */
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "XXXX", 4, (off_t)(a.off + NEEDLE_HDR + 2)), 4);
    close(fd);
    struct seen s = {0};
    assert_int_equal(volumes_scan(f->v, a.vol, scan_cb, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.tags[0], "b");
    check_bytes(f, &c, "cc", 2);
    check_bytes(f, &b, "bbbbbbbb", 8);
}

static void test_foreign_files_are_left_alone(void **state)
{
    struct fixture *f = *state;
    volumes_close(f->v);
    f->v = NULL;
    char path[800];
    /* a go-fastdfs haystack file, an empty leftover and a file that is not a volume */
    snprintf(path, sizeof path, "%s/250", f->vdir);
    support_write_file(path, "1hello1world", 12);
    snprintf(path, sizeof path, "%s/260", f->vdir);
    support_write_file(path, "", 0);
    snprintf(path, sizeof path, "%s/notes.txt", f->vdir);
    support_write_file(path, "x", 1);
    assert_int_equal(volumes_open(f->s, "9", 65536, &f->v), 0);
    uint32_t nums[4], active = 1;
    assert_int_equal(volumes_list(f->v, nums, NULL, 4, &active), 0);
    assert_int_equal(active, 0);
    snprintf(path, sizeof path, "%s/260", f->vdir);
    assert_int_equal(access(path, F_OK), -1); /* the empty leftover went */
    struct needle n;
    put(f, "a", "a", 1, &n);
    assert_true(n.vol > 260);
    snprintf(path, sizeof path, "%s/250", f->vdir);
    int fd = open(path, O_RDONLY);
    assert_false(volumes_is_ours(fd));
    close(fd);
    assert_int_equal(volumes_scan(f->v, 250, scan_cb, &(struct seen){0}), -EINVAL);
    assert_int_equal(volumes_open_read(f->v, n.vol, &fd), 0);
    assert_true(volumes_is_ours(fd));
    close(fd);
}

static void test_parse_name(void **state)
{
    (void)state;
    uint32_t v;
    uint64_t off, len;
    assert_int_equal(volumes_parse_name("123,0,27345,.jpg", &v, &off, &len), 0);
    assert_int_equal(v, 123);
    assert_int_equal(off, 0);
    assert_int_equal(len, 27345);
    assert_int_equal(volumes_parse_name("7,16,5,", &v, &off, &len), 0);
    assert_int_equal(volumes_parse_name("7,16,5,.a,b", &v, &off, &len), 0);
    const char *bad[] = {"", "x", "1", "1,2", "1,2,3", "0,1,2,", "-1,2,3,", "1,-2,3,",
                         "1,2,-3,", " 1,2,3,", "1 ,2,3,", "1,2,3,/x", "1000000000,1,1,",
                         "1,99999999999999999999,1,", "1,,1,", "a,1,1,", "1,1,1a,",
                         "+1,1,1,", "1,0x10,1,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(volumes_parse_name(bad[i], &v, &off, &len), -EINVAL);
    assert_true(volumes_is_volume_name("123"));
    assert_false(volumes_is_volume_name(""));
    assert_false(volumes_is_volume_name("12a"));
    assert_false(volumes_is_volume_name("1234567890"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsynced_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_marks_and_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollover_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_needle_keeps_its_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_and_garbage_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_files_are_left_alone, setup, teardown),
        cmocka_unit_test(test_parse_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
