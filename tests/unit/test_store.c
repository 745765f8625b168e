/* Unit tests for store: layout creation and temp cleanup at open, the temp writer and its
 * no-replace commit, hard links, unlink, confinement of reads (dot segments, absolute paths,
 * planted symlinks), the info xattr, direct (O_DIRECT) temps and the repair walk. Every store
 * test runs twice: with group commit (syncfs) and with per-file fsync. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "support.h"

struct fixture {
    char base[512]; /* temp dir holding root/ and things outside the store */
    char root[600];
    enum fsbarrier_mode mode;
    struct store *s;
};

static int setup_mode(void **state, enum fsbarrier_mode mode, bool named)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    support_tmpdir(f->base, sizeof(f->base));
    snprintf(f->root, sizeof(f->root), "%s/root", f->base);
    if (mkdir(f->root, 0775) < 0)
        return -1;
    f->mode = mode;
    if (store_open(f->root, mode, &f->s) != 0)
        return -1;
    /* most tests look at the temp by its name; the anonymous ones are tested below */
    if (named)
        store_use_named_tmp(f->s);
    *state = f;
    return 0;
}

static int setup_group(void **state)
{
    return setup_mode(state, FSBARRIER_GROUP, true);
}

static int setup_file(void **state)
{
    return setup_mode(state, FSBARRIER_FILE, true);
}

static int setup_none(void **state)
{
    return setup_mode(state, FSBARRIER_NONE, true);
}

static int setup_anon(void **state)
{
    return setup_mode(state, FSBARRIER_GROUP, false);
}

/* anonymous temps named through /proc/self/fd, as for a process without
 * CAP_DAC_READ_SEARCH; a root test run would take AT_EMPTY_PATH only */
static int setup_anon_proc(void **state)
{
    int rc = setup_mode(state, FSBARRIER_GROUP, false);
    if (rc == 0)
        store_use_proc_link(((struct fixture *)*state)->s);
    return rc;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    support_rmtree(f->base);
    free(f);
    return 0;
}

/* Absolute path of rel below <root>/<sub>. */
static void full(const struct fixture *f, const char *sub, const char *rel, char *out,
                 size_t cap)
{
    snprintf(out, cap, "%s/%s/%s", f->root, sub, rel);
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void assert_file_content(const char *p, const char *want)
{
    char buf[4096];
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void assert_fd_content(int fd, const char *want)
{
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* The file rel below files/ holds want. */
static void assert_stored(const struct fixture *f, const char *rel, const char *want)
{
    char p[1200];
    full(f, "files", rel, p, sizeof(p));
    assert_file_content(p, want);
}

/* The file rel below files/ holds exactly the n bytes of want. */
static void assert_stored_bytes(const struct fixture *f, const char *rel, const char *want,
                                size_t n)
{
    char p[1200], *back = malloc(n + 1);
    assert_non_null(back);
    full(f, "files", rel, p, sizeof(p));
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, back, n + 1, 0), (ssize_t)n);
    close(fd);
    assert_memory_equal(back, want, n);
    free(back);
}

static int commit_bytes(struct store *s, const char *dir, const char *name, const char *data)
{
    struct store_tmp t;
    assert_int_equal(store_tmp_create(s, &t), 0);
    assert_int_equal(store_tmp_write(&t, data, strlen(data)), 0);
    int rc = store_tmp_commit(s, &t, dir, name);
    if (rc != 0)
        store_tmp_discard(s, &t);
    return rc;
}

static size_t count_entries(const char *dir)
{
    size_t n = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    DIR *d = fdopendir(fd);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- open ---- */

static void test_open_creates_layout(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    struct stat st;
    snprintf(p, sizeof(p), "%s/files", f->root);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(p, sizeof(p), "%s/data/tmp", f->root);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    int fd = store_files_fd(f->s);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_open_empties_tmp(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    store_close(f->s);
    f->s = NULL;
    full(f, "data/tmp", "up-leftover", p, sizeof(p));
    support_write_file(p, "partial", 7);
    full(f, "data/tmp", "another", p, sizeof(p));
    support_write_file(p, "x", 1);
    /* a stored file survives the restart */
    full(f, "files", "kept.txt", p, sizeof(p));
    support_write_file(p, "kept", 4);
    assert_int_equal(store_open(f->root, f->mode, &f->s), 0);
    full(f, "data", "tmp", p, sizeof(p));
    assert_int_equal(count_entries(p), 0);
    full(f, "files", "kept.txt", p, sizeof(p));
    assert_file_content(p, "kept");
}

static void test_open_reopen_existing(void **state)
{
    struct fixture *f = *state;
    struct store *s2 = NULL;
    /* a second open of an existing layout works (mkdir EEXIST is fine) */
    assert_int_equal(store_open(f->root, f->mode == FSBARRIER_GROUP ? FSBARRIER_FILE : FSBARRIER_GROUP, &s2), 0);
    store_close(s2);
}

static void test_open_bad_root(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    struct store *s2 = NULL;
    snprintf(p, sizeof(p), "%s/no/such/parent", f->base);
    assert_true(store_open(p, f->mode, &s2) < 0);
    assert_null(s2);
    /* files/ exists as a regular file */
    snprintf(p, sizeof(p), "%s/r2", f->base);
    assert_int_equal(mkdir(p, 0775), 0);
    snprintf(p, sizeof(p), "%s/r2/files", f->base);
    support_write_file(p, "", 0);
    snprintf(p, sizeof(p), "%s/r2", f->base);
    assert_true(store_open(p, f->mode, &s2) < 0);
    assert_null(s2);
}

static void test_close_null(void **state)
{
    (void)state;
    store_close(NULL);
}

/* ---- temp writer and commit ---- */

static void test_commit_places_bytes(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_true(t.fd >= 0);
    assert_true(strlen(t.name) > 0);
    full(f, "data/tmp", t.name, p, sizeof(p));
    assert_true(exists(p));
    assert_int_equal(store_tmp_write(&t, "hello ", 6), 0);
    assert_int_equal(store_tmp_write(&t, "world", 5), 0);
    assert_int_equal(store_tmp_write(&t, "", 0), 0);
    assert_int_equal(t.size, 11);
    assert_int_equal(store_tmp_commit(f->s, &t, "default/20240102/03/04", "a.txt"), 0);
    assert_int_equal(t.fd, -1);
    assert_false(exists(p)); /* the temp was moved, not copied */
    full(f, "files", "default/20240102/03/04/a.txt", p, sizeof(p));
    assert_file_content(p, "hello world");
}

static void test_commit_top_level(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    assert_int_equal(commit_bytes(f->s, "", "top.bin", "T"), 0);
    full(f, "files", "top.bin", p, sizeof(p));
    assert_file_content(p, "T");
}

static void test_commit_existing_dir(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(commit_bytes(f->s, "d1/d2", "a", "1"), 0);
    assert_int_equal(commit_bytes(f->s, "d1/d2", "b", "2"), 0);
    assert_int_equal(commit_bytes(f->s, "d1", "c", "3"), 0);
    assert_stored(f, "d1/d2/b", "2");
    assert_stored(f, "d1/c", "3");
}

static void test_commit_distinct_temps(void **state)
{
    struct fixture *f = *state;
    struct store_tmp a, b;
    assert_int_equal(store_tmp_create(f->s, &a), 0);
    assert_int_equal(store_tmp_create(f->s, &b), 0);
    assert_string_not_equal(a.name, b.name);
    store_tmp_discard(f->s, &a);
    store_tmp_discard(f->s, &b);
}

static void test_commit_existing_name(void **state)
{
    struct fixture *f = *state;
    char p[1024], tp[1024];
    assert_int_equal(commit_bytes(f->s, "x", "same.txt", "old"), 0);
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, "new", 3), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "x", "same.txt"), -EEXIST);
    /* both survive: the old file unchanged, the temp still there and still ours */
    full(f, "files", "x/same.txt", p, sizeof(p));
    assert_file_content(p, "old");
    assert_fd_content(t.fd, "new");
    bool named = t.name[0] != '\0'; /* an anonymous temp has no path to look at */
    full(f, "data/tmp", t.name, tp, sizeof(tp));
    if (named)
        assert_file_content(tp, "new");
    /* the caller can still commit it elsewhere */
    assert_int_equal(store_tmp_commit(f->s, &t, "x", "other.txt"), 0);
    full(f, "files", "x/other.txt", p, sizeof(p));
    assert_file_content(p, "new");
    if (named)
        assert_false(exists(tp));
}

static void test_commit_existing_dir_as_name(void **state)
{
    struct fixture *f = *state;
    char tp[1024];
    assert_int_equal(commit_bytes(f->s, "y/sub", "f", "1"), 0);
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "y", "sub"), -EEXIST);
    full(f, "data/tmp", t.name, tp, sizeof(tp));
    assert_true(exists(tp));
    store_tmp_discard(f->s, &t);
    assert_false(exists(tp));
}

static void test_commit_bad_name(void **state)
{
    struct fixture *f = *state;
    static const char *bad[] = {"", ".", "..", "a/b", "a\\b", "nl\n", "/abs"};
    char tp[1024];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    full(f, "data/tmp", t.name, tp, sizeof(tp));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(store_tmp_commit(f->s, &t, "d", bad[i]) < 0);
        assert_true(exists(tp));
        assert_true(t.fd >= 0);
    }
    store_tmp_discard(f->s, &t);
}

static void test_commit_bad_dir(void **state)
{
    struct fixture *f = *state;
    static const char *bad[] = {"..", "../escape", "a/../../escape", "/abs", "a/./b"};
    char p[1024];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(store_tmp_commit(f->s, &t, bad[i], "n.txt") < 0);
    snprintf(p, sizeof(p), "%s/escape", f->root);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/escape", f->base);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "/abs/n.txt");
    assert_false(exists(p));
    store_tmp_discard(f->s, &t);
}

static void test_commit_symlinked_dir_refused(void **state)
{
    struct fixture *f = *state;
    char p[1200], out[1024];
    snprintf(out, sizeof(out), "%s/outside", f->base);
    assert_int_equal(mkdir(out, 0775), 0);
    full(f, "files", "evil", p, sizeof(p));
    assert_int_equal(symlink(out, p), 0);
    assert_true(commit_bytes(f->s, "evil", "n.txt", "x") < 0);
    assert_true(commit_bytes(f->s, "evil/deeper", "n.txt", "x") < 0);
    snprintf(p, sizeof(p), "%s/n.txt", out);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/deeper", out);
    assert_false(exists(p));
}

/* The directory of the last commit is kept open: one removed since, or replaced by a
 * symlink, must be neither written through nor a reason to fail. */
static void test_commit_after_dir_removed(void **state)
{
    struct fixture *f = *state;
    char p[1200], d[1200], out[1024];
    assert_int_equal(commit_bytes(f->s, "a/b", "one.txt", "1"), 0);
    full(f, "files", "a/b/one.txt", p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    full(f, "files", "a/b", d, sizeof(d));
    assert_int_equal(rmdir(d), 0);
    assert_int_equal(commit_bytes(f->s, "a/b", "two.txt", "2"), 0);
    full(f, "files", "a/b/two.txt", p, sizeof(p));
    assert_file_content(p, "2");
    /* again, and now a symlink to outside takes the directory's place */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(rmdir(d), 0);
    snprintf(out, sizeof(out), "%s/outside", f->base);
    assert_int_equal(mkdir(out, 0775), 0);
    assert_int_equal(symlink(out, d), 0);
    assert_true(commit_bytes(f->s, "a/b", "three.txt", "3") < 0);
    assert_int_equal(count_entries(out), 0);
    /* another directory in between, then back: still the right place */
    assert_int_equal(unlink(d), 0);
    assert_int_equal(commit_bytes(f->s, "a/c", "four.txt", "4"), 0);
    assert_int_equal(commit_bytes(f->s, "a/b", "five.txt", "5"), 0);
    assert_stored(f, "a/c/four.txt", "4");
    assert_stored(f, "a/b/five.txt", "5");
}

static void test_discard(void **state)
{
    struct fixture *f = *state;
    char tp[1024];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, "abc", 3), 0);
    full(f, "data/tmp", t.name, tp, sizeof(tp));
    assert_true(exists(tp));
    store_tmp_discard(f->s, &t);
    assert_false(exists(tp));
    assert_int_equal(t.fd, -1);
    store_tmp_discard(f->s, &t); /* twice is harmless */
}

static void test_discard_never_created(void **state)
{
    struct fixture *f = *state;
    struct store_tmp t;
    memset(&t, 0, sizeof(t));
    t.fd = -1;
    store_tmp_discard(f->s, &t);
    assert_int_equal(t.fd, -1);
}

/* store_tmp_link, as the batch committer uses it: sync the temps, link them all, then sync
 * the directories it handed back. */
static void test_link_many_then_sync(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    struct store_tmp t[3];
    int fds[3], dfds[3];
    const char *data[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_tmp_create_mem(f->s, &t[i], 64), 0);
        assert_int_equal(store_tmp_write(&t[i], data[i], strlen(data[i])), 0);
        assert_int_equal(store_tmp_spill(&t[i]), 0);
        fds[i] = t[i].fd;
    }
    assert_int_equal(store_sync_many(f->s, fds, 3), 0);
    assert_int_equal(commit_bytes(f->s, "b/c", "taken", "old"), 0);
    /* a taken name leaves the temp whole and usable */
    assert_int_equal(store_tmp_link(f->s, &t[0], "b/c", "taken", &dfds[0]), -EEXIST);
    assert_fd_content(t[0].fd, "one");
    assert_int_equal(store_tmp_link(f->s, &t[0], "b/c", "first", &dfds[0]), 0);
    assert_int_equal(store_tmp_link(f->s, &t[1], "b/c", "second", &dfds[1]), 0);
    assert_int_equal(store_tmp_link(f->s, &t[2], "new/dir", "third", &dfds[2]), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t[i].fd, -1);
        assert_true(dfds[i] >= 0);
    }
    assert_int_equal(store_sync_many(f->s, dfds, 3), 0);
    for (int i = 0; i < 3; i++)
        close(dfds[i]);
    full(f, "files", "b/c/first", p, sizeof(p));
    assert_file_content(p, "one");
    full(f, "files", "b/c/second", p, sizeof(p));
    assert_file_content(p, "two");
    full(f, "files", "new/dir/third", p, sizeof(p));
    assert_file_content(p, "three");
    full(f, "files", "b/c/taken", p, sizeof(p));
    assert_file_content(p, "old");
    full(f, "data", "tmp", p, sizeof(p));
    assert_int_equal(count_entries(p), 0); /* named temps were moved, not copied */
    /* nothing to sync is not an error, and a bad name links nothing */
    assert_int_equal(store_sync_many(f->s, NULL, 0), 0);
    struct store_tmp bad;
    assert_int_equal(store_tmp_create(f->s, &bad), 0);
    int dfd = -1;
    assert_int_equal(store_tmp_link(f->s, &bad, "b", "../escape", &dfd), -EINVAL);
    assert_int_equal(dfd, -1);
    store_tmp_discard(f->s, &bad);
}

/* ---- anonymous temps (O_TMPFILE) ---- */

static void tmpdir_of(struct fixture *f, char *out, size_t cap)
{
    full(f, "data", "tmp", out, cap);
}

static void test_anon_commit_places_bytes(void **state)
{
    struct fixture *f = *state;
    char tmpdir[1024], p[1024];
    tmpdir_of(f, tmpdir, sizeof(tmpdir));
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_true(t.fd >= 0);
    assert_string_equal(t.name, ""); /* no name, nothing in data/tmp */
    assert_int_equal(count_entries(tmpdir), 0);
    assert_int_equal(store_tmp_write(&t, "anonymous", 9), 0);
    assert_int_equal(store_tmp_set_info(&t, "t1", 2), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "a/b", "x.txt"), 0);
    assert_int_equal(t.fd, -1);
    full(f, "files", "a/b/x.txt", p, sizeof(p));
    assert_file_content(p, "anonymous");
    char info[16];
    assert_int_equal(store_get_info(f->s, "a/b/x.txt", info, sizeof(info)), 0);
    assert_string_equal(info, "t1");
    assert_int_equal(count_entries(tmpdir), 0);
}

static void test_anon_discard_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    char tmpdir[1024], files[1024];
    tmpdir_of(f, tmpdir, sizeof(tmpdir));
    full(f, "files", "", files, sizeof(files));
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, "gone", 4), 0);
    store_tmp_discard(f->s, &t);
    assert_int_equal(t.fd, -1);
    store_tmp_discard(f->s, &t);
    assert_int_equal(count_entries(tmpdir), 0);
    assert_int_equal(count_entries(files), 0);
}

/* A direct temp (dwrite.h): nothing may link, commit or describe it before
 * store_tmp_finish; afterwards it commits like any temp, every byte in place. Where the
 * filesystem of $TMPDIR refuses O_DIRECT the temp stays ordinary and only the commit is
 * checked (test_dwrite covers the writer itself on the build tree). */
static void test_direct_temp_finish_then_commit(void **state)
{
    struct fixture *f = *state;
    size_t n = 3 * 1024 * 1024 + 5;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 131 + (i >> 12));
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    store_tmp_direct(&t, NULL, NULL);
    for (size_t at = 0; at < n; at += 40000)
        assert_int_equal(store_tmp_write(&t, data + at, n - at < 40000 ? n - at : 40000), 0);
    assert_int_equal(t.size, n);
    if (t.dw) {
        assert_int_equal(store_tmp_link(f->s, &t, "d", "x.bin", NULL), -EBUSY);
        assert_int_equal(store_tmp_commit(f->s, &t, "d", "x.bin"), -EBUSY);
        assert_int_equal(store_tmp_set_info(&t, "i", 1), -EBUSY);
        assert_int_equal(store_tmp_spill(&t), -EBUSY);
    } else {
        print_message("O_DIRECT refused below $TMPDIR: the temp stayed ordinary\n");
    }
    assert_int_equal(store_tmp_finish(&t), 0);
    assert_null(t.dw);
    assert_int_equal(store_tmp_finish(&t), 0); /* a second finish does nothing */
    assert_int_equal(store_tmp_set_info(&t, "i", 1), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "d", "x.bin"), 0);
    assert_stored_bytes(f, "d/x.bin", data, n);
    /* abandoned while still direct: nothing is left anywhere */
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    store_tmp_direct(&t, NULL, NULL);
    assert_int_equal(store_tmp_write(&t, data, n), 0);
    store_tmp_discard(f->s, &t);
    assert_null(t.dw);
    char tmpdir[1024];
    tmpdir_of(f, tmpdir, sizeof(tmpdir));
    assert_int_equal(count_entries(tmpdir), 0);
    free(data);
}

static off_t fd_size(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_size;
}

/* A file temp written in pieces of any size: the file grows by whole aligned pieces while the
 * bytes past the last boundary wait; a small file is written as it comes; finish, spill and
 * commit each write what waits, and every byte lands in order. */
static void test_tmp_writes_whole_pieces(void **state)
{
    struct fixture *f = *state;
    const size_t align = STORE_WRITE_ALIGN, n = 300 * 1024 + 77;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + (i >> 9));
    static const size_t pieces[] = {18279, 1, 100, 16384, 40000, 3, 18124, 70000, 16383, 11160};
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    size_t at = 0;
    for (int k = 0; at < n && k < 1000; k++) {
        size_t want = pieces[k % (sizeof pieces / sizeof pieces[0])];
        size_t len = n - at < want ? n - at : want;
        assert_int_equal(store_tmp_write(&t, data + at, len), 0);
        at += len;
        off_t on_disk = fd_size(t.fd);
        assert_int_equal(t.size, at);
        /* the first piece is short of a boundary and nothing waits: written as it came */
        if (k > 0)
            assert_int_equal(on_disk % (off_t)align, 0);
        assert_true(at - (size_t)on_disk < align);
    }
    assert_int_equal(at, n);
    assert_true(fd_size(t.fd) < (off_t)n); /* the last bytes still wait */
    assert_int_equal(store_tmp_finish(&t), 0);
    assert_int_equal(fd_size(t.fd), (off_t)n);
    assert_int_equal(store_tmp_finish(&t), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "w", "p.bin"), 0);
    assert_stored_bytes(f, "w/p.bin", data, n);

    /* a small file in one piece is on disk at once */
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, data, 5000), 0);
    assert_int_equal(fd_size(t.fd), 5000);
    assert_null(t.carry);
    store_tmp_discard(f->s, &t);

    /* spill is the gate too, and a commit without finish writes what waits */
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, data, 10000), 0);
    assert_int_equal(store_tmp_write(&t, data + 10000, 10000), 0);
    assert_int_equal(fd_size(t.fd), (off_t)(20000 / align * align));
    assert_int_equal(store_tmp_spill(&t), 0);
    assert_int_equal(fd_size(t.fd), 20000);
    assert_int_equal(store_tmp_write(&t, data + 20000, 20000), 0);
    assert_int_equal(fd_size(t.fd), (off_t)(40000 / align * align));
    assert_int_equal(store_tmp_commit(f->s, &t, "w", "q.bin"), 0);
    assert_stored_bytes(f, "w/q.bin", data, 40000);

    /* discarded while bytes wait: nothing is left (and ASan sees no leak) */
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, data, 20000), 0);
    assert_non_null(t.carry);
    store_tmp_discard(f->s, &t);
    assert_null(t.carry);
    free(data);
}

static void test_anon_mem_spill(void **state)
{
    struct fixture *f = *state;
    char tmpdir[1024], p[1024];
    tmpdir_of(f, tmpdir, sizeof(tmpdir));
    struct store_tmp t;
    assert_int_equal(store_tmp_create_mem(f->s, &t, 4), 0);
    assert_int_equal(store_tmp_write(&t, "12345", 5), 0); /* over: spilled, still unnamed */
    assert_true(t.fd >= 0);
    assert_string_equal(t.name, "");
    assert_int_equal(count_entries(tmpdir), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "m", "s.txt"), 0);
    full(f, "files", "m/s.txt", p, sizeof(p));
    assert_file_content(p, "12345");
}

/* ---- memory temps (small uploads bound for a volume) ---- */

static void test_mem_tmp_stays_in_memory(void **state)
{
    struct fixture *f = *state;
    char tmpdir[1024];
    full(f, "data", "tmp", tmpdir, sizeof(tmpdir));
    struct store_tmp t;
    assert_int_equal(store_tmp_create_mem(f->s, &t, 16), 0);
    assert_int_equal(t.fd, -1);
    assert_int_equal(store_tmp_write(&t, "hello ", 6), 0);
    assert_int_equal(store_tmp_write(&t, "world", 5), 0);
    assert_int_equal(t.size, 11);
    assert_memory_equal(t.mem, "hello world", 11);
    assert_int_equal(count_entries(tmpdir), 0); /* no file was created */
    store_tmp_discard(f->s, &t);
    assert_null(t.mem);
    store_tmp_discard(f->s, &t);
}

static void test_mem_tmp_spills_when_full(void **state)
{
    struct fixture *f = *state;
    char tmpdir[1024], p[1024];
    full(f, "data", "tmp", tmpdir, sizeof(tmpdir));
    struct store_tmp t;
    assert_int_equal(store_tmp_create_mem(f->s, &t, 8), 0);
    assert_int_equal(store_tmp_write(&t, "12345678", 8), 0);
    assert_int_equal(t.fd, -1);
    assert_int_equal(store_tmp_write(&t, "9", 1), 0); /* one byte over: a file now */
    assert_null(t.mem);
    assert_true(t.fd >= 0);
    assert_int_equal(t.size, 9);
    assert_int_equal(count_entries(tmpdir), 1);
    assert_fd_content(t.fd, "123456789");
    assert_int_equal(store_tmp_commit(f->s, &t, "d", "n.txt"), 0);
    full(f, "files", "d/n.txt", p, sizeof(p));
    assert_file_content(p, "123456789");
}

static void test_mem_tmp_commit_and_info_spill(void **state)
{
    struct fixture *f = *state;
    char p[1024], info[64];
    struct store_tmp t;
    assert_int_equal(store_tmp_create_mem(f->s, &t, 100), 0);
    assert_int_equal(store_tmp_write(&t, "abc", 3), 0);
    int rc = store_tmp_set_info(&t, "{\"a\":1}", 7);
    assert_true(rc == 0 || rc == -ENOTSUP);
    assert_null(t.mem);
    assert_int_equal(store_tmp_commit(f->s, &t, "", "m.txt"), 0);
    full(f, "files", "m.txt", p, sizeof(p));
    assert_file_content(p, "abc");
    if (rc == 0) {
        assert_int_equal(store_get_info(f->s, "m.txt", info, sizeof(info)), 0);
        assert_string_equal(info, "{\"a\":1}");
    }
    /* a memory temp committed without set_info spills at the commit */
    assert_int_equal(store_tmp_create_mem(f->s, &t, 100), 0);
    assert_int_equal(store_tmp_write(&t, "xyz", 3), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "", "m2.txt"), 0);
    full(f, "files", "m2.txt", p, sizeof(p));
    assert_file_content(p, "xyz");
}

static void test_mem_tmp_budget(void **state)
{
    struct fixture *f = *state;
    struct store_tmp a, b, c;
    size_t big = 40u << 20; /* two of these pass the 64 MiB budget */
    assert_int_equal(store_tmp_create_mem(f->s, &a, big), 0);
    assert_non_null(a.mem);
    assert_int_equal(store_tmp_create_mem(f->s, &b, big), 0);
    assert_null(b.mem); /* over budget: a file temp */
    assert_true(b.fd >= 0);
    assert_int_equal(store_tmp_write(&b, "x", 1), 0);
    store_tmp_discard(f->s, &b);
    store_tmp_discard(f->s, &a); /* gives its share back */
    assert_int_equal(store_tmp_create_mem(f->s, &c, big), 0);
    assert_non_null(c.mem);
    assert_int_equal(store_tmp_write(&c, "y", 1), 0);
    assert_int_equal(store_tmp_spill(&c), 0); /* and so does a spill */
    assert_int_equal(store_tmp_create_mem(f->s, &a, big), 0);
    assert_non_null(a.mem);
    store_tmp_discard(f->s, &a);
    store_tmp_discard(f->s, &c);
}

/* ---- link and unlink ---- */

static void test_link_same_inode(void **state)
{
    struct fixture *f = *state;
    char a[1024], b[1024];
    struct stat sa, sb;
    assert_int_equal(commit_bytes(f->s, "s1/d", "orig.txt", "content"), 0);
    assert_int_equal(store_link(f->s, "s1/d/orig.txt", "s2/new/dir", "copy.txt"), 0);
    full(f, "files", "s1/d/orig.txt", a, sizeof(a));
    full(f, "files", "s2/new/dir/copy.txt", b, sizeof(b));
    assert_int_equal(stat(a, &sa), 0);
    assert_int_equal(stat(b, &sb), 0);
    assert_true(sa.st_ino == sb.st_ino);
    assert_true(sa.st_dev == sb.st_dev);
    assert_int_equal(sb.st_nlink, 2);
    assert_file_content(b, "content");
}

static void test_link_top_level(void **state)
{
    struct fixture *f = *state;
    char b[1024];
    assert_int_equal(commit_bytes(f->s, "", "root.txt", "r"), 0);
    assert_int_equal(store_link(f->s, "root.txt", "", "root2.txt"), 0);
    full(f, "files", "root2.txt", b, sizeof(b));
    assert_file_content(b, "r");
}

static void test_link_refuses_existing(void **state)
{
    struct fixture *f = *state;
    char b[1024];
    assert_int_equal(commit_bytes(f->s, "d", "src", "S"), 0);
    assert_int_equal(commit_bytes(f->s, "d", "dst", "D"), 0);
    assert_int_equal(store_link(f->s, "d/src", "d", "dst"), -EEXIST);
    full(f, "files", "d/dst", b, sizeof(b));
    assert_file_content(b, "D");
    /* linking onto itself is "exists" too */
    assert_int_equal(store_link(f->s, "d/src", "d", "src"), -EEXIST);
}

static void test_link_missing_source(void **state)
{
    struct fixture *f = *state;
    char b[1024];
    assert_int_equal(store_link(f->s, "no/such", "d", "x"), -ENOENT);
    assert_int_equal(commit_bytes(f->s, "d", "present", "p"), 0);
    assert_int_equal(store_link(f->s, "d/absent", "d", "x"), -ENOENT);
    full(f, "files", "d/x", b, sizeof(b));
    assert_false(exists(b));
}

static void test_link_bad_paths(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    snprintf(p, sizeof(p), "%s/outside.txt", f->base);
    support_write_file(p, "secret", 6);
    assert_int_equal(commit_bytes(f->s, "d", "ok", "o"), 0);
    assert_true(store_link(f->s, "../../outside.txt", "d", "x") < 0);
    assert_true(store_link(f->s, "d/../../../outside.txt", "d", "x") < 0);
    assert_true(store_link(f->s, p, "d", "x") < 0); /* absolute source */
    assert_true(store_link(f->s, "d/ok", "..", "x") < 0);
    assert_true(store_link(f->s, "d/ok", "d", "..") < 0);
    assert_true(store_link(f->s, "d/ok", "d", "a/b") < 0);
    assert_true(store_link(f->s, "d/ok", "d", "") < 0);
    full(f, "files", "d/x", p, sizeof(p));
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/x", f->root);
    assert_false(exists(p));
}

static void test_link_via_planted_symlink(void **state)
{
    struct fixture *f = *state;
    char p[1200], out[1024];
    snprintf(out, sizeof(out), "%s/outdir", f->base);
    assert_int_equal(mkdir(out, 0775), 0);
    snprintf(p, sizeof(p), "%s/outdir/secret", f->base);
    support_write_file(p, "secret", 6);
    full(f, "files", "ln", p, sizeof(p));
    assert_int_equal(symlink(out, p), 0);
    /* the source's directory is a symlink out of the store */
    assert_true(store_link(f->s, "ln/secret", "d", "stolen") < 0);
    full(f, "files", "d/stolen", p, sizeof(p));
    assert_false(exists(p));
}

static void test_unlink(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    assert_int_equal(commit_bytes(f->s, "u/v", "gone.txt", "g"), 0);
    assert_int_equal(commit_bytes(f->s, "", "top.txt", "t"), 0);
    assert_int_equal(store_unlink(f->s, "u/v/gone.txt"), 0);
    full(f, "files", "u/v/gone.txt", p, sizeof(p));
    assert_false(exists(p));
    full(f, "files", "u/v", p, sizeof(p));
    assert_true(exists(p)); /* the directory stays */
    assert_int_equal(store_unlink(f->s, "u/v/gone.txt"), -ENOENT);
    assert_int_equal(store_unlink(f->s, "top.txt"), 0);
    assert_int_equal(store_unlink(f->s, "top.txt"), -ENOENT);
    assert_true(store_unlink(f->s, "no/such/dir/f") < 0);
}

static void test_unlink_directory_refused(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    assert_int_equal(commit_bytes(f->s, "dd/ee", "f", "1"), 0);
    assert_true(store_unlink(f->s, "dd/ee") < 0);
    assert_true(store_unlink(f->s, "dd") < 0);
    full(f, "files", "dd/ee/f", p, sizeof(p));
    assert_true(exists(p));
}

static void test_unlink_one_link_keeps_other(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    assert_int_equal(commit_bytes(f->s, "a", "one", "shared"), 0);
    assert_int_equal(store_link(f->s, "a/one", "b", "two"), 0);
    assert_int_equal(store_unlink(f->s, "a/one"), 0);
    full(f, "files", "b/two", p, sizeof(p));
    assert_file_content(p, "shared");
}

static void test_unlink_bad_paths(void **state)
{
    struct fixture *f = *state;
    char p[1200], out[1024];
    snprintf(out, sizeof(out), "%s/victim.txt", f->base);
    support_write_file(out, "v", 1);
    assert_true(store_unlink(f->s, "../../victim.txt") < 0);
    assert_true(store_unlink(f->s, "a/../../../victim.txt") < 0);
    assert_true(store_unlink(f->s, out) < 0);
    assert_true(exists(out));
    /* through a planted directory symlink */
    full(f, "files", "lnk", p, sizeof(p));
    assert_int_equal(symlink(f->base, p), 0);
    assert_true(store_unlink(f->s, "lnk/victim.txt") < 0);
    assert_true(exists(out));
}

/* ---- reads ---- */

static void test_open_read(void **state)
{
    struct fixture *f = *state;
    int fd = -1;
    struct stat st;
    assert_int_equal(commit_bytes(f->s, "r/d", "f.txt", "readable"), 0);
    assert_int_equal(store_open_read(f->s, "r/d/f.txt", &fd, &st), 0);
    assert_true(fd >= 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 8);
    assert_fd_content(fd, "readable");
    close(fd);
    /* a directory opens too */
    fd = -1;
    assert_int_equal(store_open_read(f->s, "r/d", &fd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    close(fd);
    assert_int_equal(store_stat(f->s, "r/d/f.txt", &st), 0);
    assert_int_equal(st.st_size, 8);
}

static void test_open_read_missing(void **state)
{
    struct fixture *f = *state;
    int fd = -1;
    struct stat st;
    assert_int_equal(store_open_read(f->s, "nope.txt", &fd, &st), -ENOENT);
    assert_int_equal(fd, -1);
    assert_int_equal(store_stat(f->s, "no/pe.txt", &st), -ENOENT);
}

static void test_open_read_dotdot(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    int fd = -1;
    struct stat st;
    snprintf(p, sizeof(p), "%s/outside.txt", f->base);
    support_write_file(p, "secret", 6);
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    char rel[256];
    snprintf(rel, sizeof(rel), "../data/tmp/%s", t.name);
    static const char *bad[] = {"..", "../outside.txt", "../../outside.txt", "a/../../x",
                                "./x", "a/./b", "../files"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(store_open_read(f->s, bad[i], &fd, &st) < 0);
        assert_int_equal(fd, -1);
    }
    /* the upload in flight is never reachable through files/ */
    assert_true(store_open_read(f->s, rel, &fd, &st) < 0);
    assert_int_equal(fd, -1);
    store_tmp_discard(f->s, &t);
}

static void test_open_read_absolute(void **state)
{
    struct fixture *f = *state;
    char p[1024];
    int fd = -1;
    struct stat st;
    snprintf(p, sizeof(p), "%s/outside.txt", f->base);
    support_write_file(p, "secret", 6);
    assert_true(store_open_read(f->s, p, &fd, &st) < 0);
    assert_true(store_open_read(f->s, "/etc/passwd", &fd, &st) < 0);
    assert_true(store_open_read(f->s, "/", &fd, &st) < 0);
    assert_int_equal(fd, -1);
}

static void test_open_read_planted_symlink(void **state)
{
    struct fixture *f = *state;
    char target[1024], link[1024];
    int fd = -1;
    struct stat st;
    /* a file in the temp dir, outside the root */
    snprintf(target, sizeof(target), "%s/outside.txt", f->base);
    support_write_file(target, "secret", 6);
    full(f, "files", "leak.txt", link, sizeof(link));
    assert_int_equal(symlink(target, link), 0);
    assert_true(store_open_read(f->s, "leak.txt", &fd, &st) < 0);
    assert_int_equal(fd, -1);
    assert_true(store_stat(f->s, "leak.txt", &st) < 0);
    /* relative symlink planted one level down */
    assert_int_equal(commit_bytes(f->s, "sub", "real", "r"), 0);
    full(f, "files", "sub/rel.txt", link, sizeof(link));
    assert_int_equal(symlink("../../../outside.txt", link), 0);
    assert_true(store_open_read(f->s, "sub/rel.txt", &fd, &st) < 0);
    assert_int_equal(fd, -1);
    /* symlink as a directory component */
    full(f, "files", "dirlink", link, sizeof(link));
    assert_int_equal(symlink(f->base, link), 0);
    assert_true(store_open_read(f->s, "dirlink/outside.txt", &fd, &st) < 0);
    assert_int_equal(fd, -1);
    assert_true(store_get_info(f->s, "dirlink/outside.txt", target, sizeof(target)) < 0);
}

/* ---- info xattr ---- */

static void test_info_roundtrip(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"name\":\"a.txt\",\"scene\":\"default\"}";
    char out[256];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_write(&t, "abc", 3), 0);
    assert_int_equal(store_tmp_set_info(&t, json, strlen(json)), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "i/j", "a.txt"), 0);
    memset(out, 'Z', sizeof(out));
    assert_int_equal(store_get_info(f->s, "i/j/a.txt", out, sizeof(out)), 0);
    assert_string_equal(out, json);
    /* an exact-fit buffer (len + NUL) works */
    assert_int_equal(store_get_info(f->s, "i/j/a.txt", out, strlen(json) + 1), 0);
    assert_string_equal(out, json);
    /* a hard link shares the inode, hence the record */
    assert_int_equal(store_link(f->s, "i/j/a.txt", "k", "b.txt"), 0);
    assert_int_equal(store_get_info(f->s, "k/b.txt", out, sizeof(out)), 0);
    assert_string_equal(out, json);
}

static void test_info_absent(void **state)
{
    struct fixture *f = *state;
    char out[64];
    assert_int_equal(commit_bytes(f->s, "", "plain", "p"), 0);
    assert_int_equal(store_get_info(f->s, "plain", out, sizeof(out)), -ENODATA);
    assert_int_equal(store_get_info(f->s, "missing", out, sizeof(out)), -ENOENT);
    assert_true(store_get_info(f->s, "../x", out, sizeof(out)) < 0);
}

static void test_info_small_buffer(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"name\":\"longer than eight\"}";
    char out[8];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_set_info(&t, json, strlen(json)), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "", "small"), 0);
    assert_true(store_get_info(f->s, "small", out, sizeof(out)) < 0);
    /* exactly one byte short of the NUL */
    char out2[sizeof(json) - 1];
    assert_true(store_get_info(f->s, "small", out2, sizeof(out2)) < 0);
}

static void test_info_one_byte_buffer(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"name\":\"x\"}";
    char out[64];
    struct store_tmp t;
    assert_int_equal(store_tmp_create(f->s, &t), 0);
    assert_int_equal(store_tmp_set_info(&t, json, strlen(json)), 0);
    assert_int_equal(store_tmp_commit(f->s, &t, "", "tiny"), 0);
    /* room for the NUL only: the value does not fit, and nothing past out[0] is written */
    memset(out, 'Z', sizeof(out));
    assert_true(store_get_info(f->s, "tiny", out, 1) < 0);
    for (size_t i = 1; i < sizeof(out); i++)
        assert_int_equal(out[i], 'Z');
}

/* ---- walk ---- */

#define WALK_MAX 32

struct walk_log {
    char seen[WALK_MAX][300];
    long long size[WALK_MAX];
    size_t n;
};

static int log_cb(void *ctx, const char *dir, const char *name, const struct stat *st)
{
    struct walk_log *w = ctx;
    assert_true(w->n < WALK_MAX);
    assert_true(S_ISREG(st->st_mode));
    snprintf(w->seen[w->n], sizeof(w->seen[0]), "%s|%s", dir, name);
    w->size[w->n] = (long long)st->st_size;
    w->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void walk_sorted(struct store *s, struct walk_log *w)
{
    memset(w, 0, sizeof(*w));
    assert_int_equal(store_walk(s, log_cb, w), 0);
    /* sizes are checked by name below, so only the names are sorted */
    qsort(w->seen, w->n, sizeof(w->seen[0]), cmp_str);
}

static void populate(struct fixture *f)
{
    char p[1200], out[1024];
    assert_int_equal(commit_bytes(f->s, "", "top.txt", "1"), 0);
    assert_int_equal(commit_bytes(f->s, "default/20240101/10/20", "a.txt", "22"), 0);
    assert_int_equal(commit_bytes(f->s, "default/20240101/10/20", "b.txt", "333"), 0);
    assert_int_equal(commit_bytes(f->s, "scene2/x", "c.bin", "4444"), 0);
    /* nested _tmp/_big below the top level are ordinary directories */
    assert_int_equal(commit_bytes(f->s, "scene2/_tmp", "d.txt", "55555"), 0);
    /* go-fastdfs work dirs at the top level are skipped */
    assert_int_equal(commit_bytes(f->s, "_tmp/20240101", "skip1", "x"), 0);
    assert_int_equal(commit_bytes(f->s, "_big/abc", "skip2", "x"), 0);
    assert_int_equal(commit_bytes(f->s, "", "_tmpfile", "666666"), 0);
    /* symlinks are not followed: one to a file, one to a directory, both outside */
    snprintf(out, sizeof(out), "%s/outdir", f->base);
    assert_int_equal(mkdir(out, 0775), 0);
    snprintf(p, sizeof(p), "%s/outdir/hidden", f->base);
    support_write_file(p, "h", 1);
    full(f, "files", "scene2/to_dir", p, sizeof(p));
    assert_int_equal(symlink(out, p), 0);
    full(f, "files", "scene2/to_file", p, sizeof(p));
    snprintf(out, sizeof(out), "%s/outdir/hidden", f->base);
    assert_int_equal(symlink(out, p), 0);
    /* an empty directory contributes nothing */
    full(f, "files", "empty", p, sizeof(p));
    assert_int_equal(mkdir(p, 0775), 0);
}

/* in strcmp order ('|' sorts after letters) */
static const char *const walk_expect[] = {
    "default/20240101/10/20|a.txt",
    "default/20240101/10/20|b.txt",
    "scene2/_tmp|d.txt",
    "scene2/x|c.bin",
    "|_tmpfile",
    "|top.txt",
};

static void check_walk(const struct walk_log *w)
{
    size_t n = sizeof(walk_expect) / sizeof(walk_expect[0]);
    assert_int_equal(w->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(w->seen[i], walk_expect[i]);
}

static void test_walk_visits_all(void **state)
{
    struct fixture *f = *state;
    struct walk_log w;
    populate(f);
    memset(&w, 0, sizeof(w));
    assert_int_equal(store_walk(f->s, log_cb, &w), 0);
    /* sizes before sorting: each name maps to the length of its content */
    for (size_t i = 0; i < w.n; i++) {
        const char *bar = strchr(w.seen[i], '|');
        assert_non_null(bar);
        long long want = 0;
        if (strcmp(bar + 1, "top.txt") == 0)
            want = 1;
        else if (strcmp(bar + 1, "a.txt") == 0)
            want = 2;
        else if (strcmp(bar + 1, "b.txt") == 0)
            want = 3;
        else if (strcmp(bar + 1, "c.bin") == 0)
            want = 4;
        else if (strcmp(bar + 1, "d.txt") == 0)
            want = 5;
        else if (strcmp(bar + 1, "_tmpfile") == 0)
            want = 6;
        assert_int_equal(w.size[i], want);
    }
    qsort(w.seen, w.n, sizeof(w.seen[0]), cmp_str);
    check_walk(&w);
}

static void test_walk_twice(void **state)
{
    struct fixture *f = *state;
    struct walk_log w;
    populate(f);
    walk_sorted(f->s, &w);
    check_walk(&w);
    walk_sorted(f->s, &w);
    check_walk(&w);
    /* a read of the root directory through the store in between must not disturb it */
    int fd = -1;
    struct stat st;
    assert_int_equal(store_open_read(f->s, "", &fd, &st), 0);
    DIR *d = fdopendir(fd);
    assert_non_null(d);
    while (readdir(d))
        ;
    closedir(d);
    walk_sorted(f->s, &w);
    check_walk(&w);
}

static void test_walk_empty(void **state)
{
    struct fixture *f = *state;
    struct walk_log w;
    walk_sorted(f->s, &w);
    assert_int_equal(w.n, 0);
}

struct stop_ctx {
    int calls;
};

static int stop_cb(void *ctx, const char *dir, const char *name, const struct stat *st)
{
    (void)dir;
    (void)name;
    (void)st;
    struct stop_ctx *c = ctx;
    c->calls++;
    return 7;
}

static void test_walk_stops(void **state)
{
    struct fixture *f = *state;
    struct stop_ctx c = {0};
    populate(f);
    assert_int_equal(store_walk(f->s, stop_cb, &c), 7);
    assert_int_equal(c.calls, 1);
    /* and a full walk afterwards still sees everything */
    struct walk_log w;
    walk_sorted(f->s, &w);
    check_walk(&w);
}

static void test_walk_sees_committed_after(void **state)
{
    struct fixture *f = *state;
    struct walk_log w;
    walk_sorted(f->s, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(commit_bytes(f->s, "late", "l.txt", "l"), 0);
    walk_sorted(f->s, &w);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.seen[0], "late|l.txt");
}

#define EACH_MODE(fn)                                                                         \
    cmocka_unit_test_setup_teardown(fn, setup_group, teardown),                          \
        cmocka_unit_test_setup_teardown(fn, setup_file, teardown),                       \
        cmocka_unit_test_setup_teardown(fn, setup_none, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        EACH_MODE(test_open_creates_layout),
        EACH_MODE(test_open_empties_tmp),
        EACH_MODE(test_open_reopen_existing),
        EACH_MODE(test_open_bad_root),
        cmocka_unit_test(test_close_null),
        cmocka_unit_test_setup_teardown(test_anon_commit_places_bytes, setup_anon, teardown),
        cmocka_unit_test_setup_teardown(test_anon_commit_places_bytes, setup_anon_proc,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_after_dir_removed, setup_anon, teardown),
        cmocka_unit_test_setup_teardown(test_commit_after_dir_removed, setup_anon_proc,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_existing_name, setup_anon, teardown),
        cmocka_unit_test_setup_teardown(test_commit_bad_name, setup_anon, teardown),
        cmocka_unit_test_setup_teardown(test_anon_discard_leaves_nothing, setup_anon, teardown),
        cmocka_unit_test_setup_teardown(test_direct_temp_finish_then_commit, setup_anon,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_direct_temp_finish_then_commit, setup_group,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_anon_mem_spill, setup_anon, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_writes_whole_pieces, setup_anon, teardown),
        EACH_MODE(test_tmp_writes_whole_pieces),
        EACH_MODE(test_commit_places_bytes),
        EACH_MODE(test_link_many_then_sync),
        cmocka_unit_test_setup_teardown(test_link_many_then_sync, setup_anon, teardown),
        EACH_MODE(test_commit_top_level),
        EACH_MODE(test_commit_existing_dir),
        EACH_MODE(test_commit_distinct_temps),
        EACH_MODE(test_commit_existing_name),
        EACH_MODE(test_commit_existing_dir_as_name),
        EACH_MODE(test_commit_bad_name),
        EACH_MODE(test_commit_bad_dir),
        EACH_MODE(test_commit_symlinked_dir_refused),
        EACH_MODE(test_commit_after_dir_removed),
        EACH_MODE(test_discard),
        EACH_MODE(test_discard_never_created),
        EACH_MODE(test_mem_tmp_stays_in_memory),
        EACH_MODE(test_mem_tmp_spills_when_full),
        EACH_MODE(test_mem_tmp_commit_and_info_spill),
        EACH_MODE(test_mem_tmp_budget),
        EACH_MODE(test_link_same_inode),
        EACH_MODE(test_link_top_level),
        EACH_MODE(test_link_refuses_existing),
        EACH_MODE(test_link_missing_source),
        EACH_MODE(test_link_bad_paths),
        EACH_MODE(test_link_via_planted_symlink),
        EACH_MODE(test_unlink),
        EACH_MODE(test_unlink_directory_refused),
        EACH_MODE(test_unlink_one_link_keeps_other),
        EACH_MODE(test_unlink_bad_paths),
        EACH_MODE(test_open_read),
        EACH_MODE(test_open_read_missing),
        EACH_MODE(test_open_read_dotdot),
        EACH_MODE(test_open_read_absolute),
        EACH_MODE(test_open_read_planted_symlink),
        EACH_MODE(test_info_roundtrip),
        EACH_MODE(test_info_absent),
        EACH_MODE(test_info_small_buffer),
        EACH_MODE(test_info_one_byte_buffer),
        EACH_MODE(test_walk_visits_all),
        EACH_MODE(test_walk_twice),
        EACH_MODE(test_walk_empty),
        EACH_MODE(test_walk_stops),
        EACH_MODE(test_walk_sees_committed_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
