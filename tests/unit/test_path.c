/* Unit tests for path: name and relative-path validation (every bad form), go-fastdfs name
 * trimming, basename/extension, dated directories, durable mkdir -p (also concurrent) and
 * confinement of path_open_beneath, with openat2 and with the O_NOFOLLOW walk that is
 * forced by a seccomp filter in a child process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errcode.h"
#include "path.h"
#include "support.h"

struct fixture {
    char dir[512];
    int fd;
};

static int setup_dir(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    support_tmpdir(f->dir, sizeof(f->dir));
    f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->fd < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown_dir(void **state)
{
    struct fixture *f = *state;
    close(f->fd);
    support_rmtree(f->dir);
    free(f);
    return 0;
}

static void fill(char *s, char c, size_t n)
{
    memset(s, c, n);
    s[n] = '\0';
}

/* ---- path_check_name ---- */

static void test_check_name_ok(void **state)
{
    (void)state;
    assert_int_equal(path_check_name("a.txt"), 0);
    assert_int_equal(path_check_name("..."), 0);
    assert_int_equal(path_check_name(".hidden"), 0);
    assert_int_equal(path_check_name("a..b"), 0);
    assert_int_equal(path_check_name("\xe4\xb8\xad\xe6\x96\x87.txt"), 0);
    assert_int_equal(path_check_name("with space"), 0);
}

static void test_check_name_bad(void **state)
{
    (void)state;
    assert_int_equal(path_check_name(""), ERR_BADPATH);
    assert_int_equal(path_check_name(NULL), ERR_BADPATH);
    assert_int_equal(path_check_name("."), ERR_BADPATH);
    assert_int_equal(path_check_name(".."), ERR_BADPATH);
    assert_int_equal(path_check_name("a/b"), ERR_BADPATH);
    assert_int_equal(path_check_name("/"), ERR_BADPATH);
    assert_int_equal(path_check_name("a\\b"), ERR_BADPATH);
    assert_int_equal(path_check_name("a\x01" "b"), ERR_BADPATH);
    assert_int_equal(path_check_name("a\x1f"), ERR_BADPATH);
    assert_int_equal(path_check_name("a\tb"), ERR_BADPATH);
    assert_int_equal(path_check_name("a\nb"), ERR_BADPATH);
    assert_int_equal(path_check_name("a\x7f"), ERR_BADPATH);
}

static void test_check_name_length(void **state)
{
    (void)state;
    char s[PATH_MAX_NAME + 2];
    fill(s, 'x', PATH_MAX_NAME);
    assert_int_equal(path_check_name(s), 0);
    fill(s, 'x', PATH_MAX_NAME + 1);
    assert_int_equal(path_check_name(s), ERR_BADPATH);
}

/* ---- path_normalize_rel ---- */

static void expect_norm(const char *in, const char *want)
{
    char out[PATH_MAX_REL + 1];
    assert_int_equal(path_normalize_rel(in, true, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void expect_norm_bad(const char *in)
{
    char out[PATH_MAX_REL + 1] = "unchanged";
    assert_int_equal(path_normalize_rel(in, true, out, sizeof(out)), ERR_BADPATH);
    assert_string_equal(out, "unchanged");
}

static void test_norm_ok(void **state)
{
    (void)state;
    expect_norm("a", "a");
    expect_norm("a/b/c.txt", "a/b/c.txt");
    expect_norm("/a/b", "a/b");
    expect_norm("a/b/", "a/b");
    expect_norm("//a//b///c//", "a/b/c");
    expect_norm("files/default/20250102", "files/default/20250102");
    expect_norm("a/.../b", "a/.../b");
    expect_norm("a/..b/c..", "a/..b/c..");
    expect_norm("\xe4\xb8\xad/\xe6\x96\x87", "\xe4\xb8\xad/\xe6\x96\x87");
}

static void test_norm_empty(void **state)
{
    (void)state;
    char out[16] = "x";
    assert_int_equal(path_normalize_rel("", true, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(path_normalize_rel("///", true, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(path_normalize_rel(NULL, true, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    memcpy(out, "x", 2);
    assert_int_equal(path_normalize_rel("", false, out, sizeof(out)), ERR_BADPATH);
    assert_int_equal(path_normalize_rel("/", false, out, sizeof(out)), ERR_BADPATH);
    assert_int_equal(path_normalize_rel("//", false, out, sizeof(out)), ERR_BADPATH);
    assert_string_equal(out, "x");
}

static void test_norm_dot_segments(void **state)
{
    (void)state;
    expect_norm_bad("..");
    expect_norm_bad("../a");
    expect_norm_bad("a/..");
    expect_norm_bad("a/../b");
    expect_norm_bad("/..");
    expect_norm_bad("/../etc/passwd");
    expect_norm_bad(".");
    expect_norm_bad("./a");
    expect_norm_bad("a/./b");
    expect_norm_bad("a/.");
}

static void test_norm_bad_bytes(void **state)
{
    (void)state;
    expect_norm_bad("a\\b");
    expect_norm_bad("..\\..\\etc");
    expect_norm_bad("\\");
    expect_norm_bad("a/b\x01");
    expect_norm_bad("a\nb");
    expect_norm_bad("a\rb");
    expect_norm_bad("a/\x7f/b");
    expect_norm_bad("\x1b[31m");
}

static void test_norm_percent_not_decoded(void **state)
{
    (void)state;
    /* callers decode first; an already-decoded '%' is just a byte */
    expect_norm("a%2e%2e/b", "a%2e%2e/b");
}

static void test_norm_long_segment(void **state)
{
    (void)state;
    char in[PATH_MAX_NAME + 8];
    in[0] = 'a';
    in[1] = '/';
    fill(in + 2, 'x', PATH_MAX_NAME);
    char out[PATH_MAX_REL + 1];
    assert_int_equal(path_normalize_rel(in, false, out, sizeof(out)), 0);
    fill(in + 2, 'x', PATH_MAX_NAME + 1);
    assert_int_equal(path_normalize_rel(in, false, out, sizeof(out)), ERR_BADPATH);
}

static void test_norm_long_total(void **state)
{
    (void)state;
    /* 100-byte segments: 9 of them + separators = 908; add one of 116 -> 1024 exactly */
    char in[2 * PATH_MAX_REL];
    char out[PATH_MAX_REL + 1];
    size_t len = 0;
    for (int i = 0; i < 9; i++) {
        if (len)
            in[len++] = '/';
        memset(in + len, 'a' + i, 100);
        len += 100;
    }
    in[len++] = '/';
    memset(in + len, 'z', PATH_MAX_REL - len);
    len = PATH_MAX_REL;
    in[len] = '\0';
    assert_int_equal(path_normalize_rel(in, false, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), PATH_MAX_REL);
    in[len++] = 'z';
    in[len] = '\0';
    assert_int_equal(path_normalize_rel(in, false, out, sizeof(out)), ERR_BADPATH);
    /* redundant slashes do not count against the limit */
    char in2[2 * PATH_MAX_REL];
    in2[0] = '/';
    in2[1] = '/';
    memcpy(in2 + 2, in, PATH_MAX_REL);
    in2[PATH_MAX_REL + 2] = '\0';
    assert_int_equal(path_normalize_rel(in2, false, out, sizeof(out)), 0);
}

static void test_norm_small_out(void **state)
{
    (void)state;
    char out[4] = "xyz";
    assert_int_equal(path_normalize_rel("abc", false, out, sizeof(out)), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(path_normalize_rel("abcd", false, out, sizeof(out)), -EMSGSIZE);
    assert_string_equal(out, "abc");
    assert_int_equal(path_normalize_rel("a/b/c", false, out, 0), -EMSGSIZE);
}

static void test_norm_in_place(void **state)
{
    (void)state;
    char s[32] = "//a//b/";
    assert_int_equal(path_normalize_rel(s, false, s, sizeof(s)), 0);
    assert_string_equal(s, "a/b");
}

/* ---- path_trim_special ---- */

static void expect_trim(const char *in, const char *want)
{
    char s[512];
    snprintf(s, sizeof(s), "%s", in);
    size_t n = path_trim_special(s);
    assert_string_equal(s, want);
    assert_int_equal(n, strlen(want));
}

static void test_trim_specials(void **state)
{
    (void)state;
    expect_trim("a b(1).jpg", "ab1.jpg");
    expect_trim("/\\:*?\"<>|()[]{},;'#@%&$^~=+-!", "");
    expect_trim("a_b.c", "a_b.c");
    expect_trim("report-2024 (final)!.xls", "report2024final.xls");
    expect_trim("tab\tnl\ncr\rff\fsp x", "tabnlcrffspx");
    expect_trim("keep\vvt", "keep\vvt"); /* Go's \s has no \v */
    expect_trim("", "");
    expect_trim("plain.txt", "plain.txt");
}

static void test_trim_dots(void **state)
{
    (void)state;
    expect_trim("..", "");
    expect_trim("...", "");
    expect_trim("....", ".");
    expect_trim(".....", "");
    expect_trim("a..b", "ab");
    expect_trim("a...b", "ab");
    expect_trim("a....b", "a.b");
    expect_trim("../../etc/passwd", ".etcpasswd"); /* "....etc" -> ".etc", as in Go */
    expect_trim(". . .", "");   /* spaces go first, then "..." */
    expect_trim(".hidden", ".hidden");
    expect_trim("a.b.c", "a.b.c");
}

static void test_trim_utf8_intact(void **state)
{
    (void)state;
    expect_trim("\xe4\xb8\xad\xe6\x96\x87 \xe6\x96\x87\xe4\xbb\xb6.txt",
                "\xe4\xb8\xad\xe6\x96\x87\xe6\x96\x87\xe4\xbb\xb6.txt");
    expect_trim("\xf0\x9f\x98\x80(x).png", "\xf0\x9f\x98\x80x.png");
    /* bytes that are continuation bytes of specials' code points do not exist: every
     * special is ASCII; invalid UTF-8 survives as in Go's regexp */
    expect_trim("\xff\xfe-a", "\xff\xfe" "a");
    /* U+00A0 (no-break space) is not in Go's \s */
    expect_trim("a\xc2\xa0" "b", "a\xc2\xa0" "b");
}

static void test_trim_null(void **state)
{
    (void)state;
    assert_int_equal(path_trim_special(NULL), 0);
}

/* ---- basename / extension ---- */

static void test_is_workdir(void **state)
{
    (void)state;
    assert_true(path_is_workdir("_tmp"));
    assert_true(path_is_workdir("_big"));
    assert_true(path_is_workdir("_tmp/20240101/x"));
    assert_true(path_is_workdir("_big/7/abc.bin"));
    assert_false(path_is_workdir(""));
    assert_false(path_is_workdir("_tmpx"));
    assert_false(path_is_workdir("_bi"));
    assert_false(path_is_workdir("a/_tmp"));
    assert_false(path_is_workdir("default/_big"));
}

static void test_basename(void **state)
{
    (void)state;
    assert_string_equal(path_basename("a/b/c.txt"), "c.txt");
    assert_string_equal(path_basename("C:\\Users\\me\\a.txt"), "a.txt");
    assert_string_equal(path_basename("mixed\\dir/x"), "x");
    assert_string_equal(path_basename("plain"), "plain");
    assert_string_equal(path_basename("dir/"), "");
    assert_string_equal(path_basename(""), "");
    assert_string_equal(path_basename(NULL), "");
}

static void expect_ext(const char *name, const char *want)
{
    char out[32] = "junk";
    path_extension(name, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_extension(void **state)
{
    (void)state;
    expect_ext("a.jpg", ".jpg");
    expect_ext("A.JPG", ".jpg");
    expect_ext("a.tar.GZ", ".gz");
    expect_ext("noext", "");
    expect_ext("dir.d/file", "");
    expect_ext("dir.d/file.Txt", ".txt");
    expect_ext(".bashrc", ".bashrc");
    expect_ext("a.", ".");
    expect_ext("", "");
    expect_ext(NULL, "");
}

static void test_extension_too_long(void **state)
{
    (void)state;
    char out[5];
    path_extension("a.jpg", out, sizeof(out));
    assert_string_equal(out, ".jpg");
    /* a truncated ".jpgx" would read ".jpg" and pass a whitelist: give "" */
    path_extension("a.jpgx", out, sizeof(out));
    assert_string_equal(out, "");
    path_extension("a.jpg", out, 0);
}

/* ---- dates ---- */

/* Switches TZ; returns the old value for tz_restore (NULL: it was unset). */
static char *tz_use(const char *tz)
{
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    return old;
}

static void tz_restore(char *old)
{
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

/* The hand-written digits agree with strftime's over four centuries and beyond
 * (years past 9999 and before 0 take strftime's own path). */
static void test_date_matches_strftime(void **state)
{
    (void)state;
    char *old = tz_use("UTC");
    srand(5);
    const time_t fixed[] = {0, -1, 86399, 951782400 /* 2000-02-29 */, 253402300799 /* 9999 */,
                            253402300800 /* 10000 */, -62167219201 /* year -1 */};
    for (int i = 0; i < 20000; i++) {
        time_t t = i < 7 ? fixed[i]
                         : (time_t)(((int64_t)rand() << 16 ^ rand()) % 15000000000LL -
                                    2500000000LL);
        struct tm tm;
        assert_non_null(localtime_r(&t, &tm));
        char want[64], got[64];
        strftime(want, sizeof want, "%Y%m%d/%H/%M", &tm);
        path_date_dirs(t, got, sizeof got);
        assert_string_equal(got, want);
        strftime(want, sizeof want, "%Y%m%d", &tm);
        path_day(t, got, sizeof got);
        assert_string_equal(got, want);
    }
    tz_restore(old);
}

static void test_date_dirs(void **state)
{
    (void)state;
    char *old = tz_use("UTC");
    char out[32];
    path_date_dirs(1735814940, out, sizeof(out)); /* 2025-01-02 10:49:00 UTC */
    assert_string_equal(out, "20250102/10/49");
    path_day(1735814940, out, sizeof(out));
    assert_string_equal(out, "20250102");
    path_date_dirs(1735814940, out, 16);
    assert_string_equal(out, "20250102/10/49");
    path_day(1735814940, out, 9);
    assert_string_equal(out, "20250102");
    path_date_dirs(1735814940, out, 8);
    assert_string_equal(out, "");
    path_day(1735814940, out, 8);
    assert_string_equal(out, "");
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    path_date_dirs(1735814940, out, sizeof(out));
    if (strcmp(out, "20250102/10/49") != 0) /* tzdata may be missing */
        assert_string_equal(out, "20250102/18/49");
    tz_restore(old);
}

/* ---- path_mkdirs_at ---- */

static bool is_dir_at(int base, const char *rel)
{
    struct stat st;
    return fstatat(base, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static void test_mkdirs_creates(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(0);
    assert_int_equal(path_mkdirs_at(f->fd, "files/default/20250102/10/49"), 0);
    umask(old);
    assert_true(is_dir_at(f->fd, "files/default/20250102/10/49"));
    struct stat st;
    assert_int_equal(fstatat(f->fd, "files/default", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0775);
    /* idempotent, and partial trees are completed */
    assert_int_equal(path_mkdirs_at(f->fd, "files/default/20250102/10/49"), 0);
    assert_int_equal(path_mkdirs_at(f->fd, "files/default/x/y"), 0);
    assert_true(is_dir_at(f->fd, "files/default/x/y"));
}

static void test_mkdirs_empty_and_slashes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(path_mkdirs_at(f->fd, ""), 0);
    assert_int_equal(path_mkdirs_at(f->fd, "a//b/"), 0);
    assert_true(is_dir_at(f->fd, "a/b"));
}

static void test_mkdirs_rejects_bad(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(path_mkdirs_at(f->fd, "a/../b"), ERR_BADPATH);
    assert_int_equal(path_mkdirs_at(f->fd, ".."), ERR_BADPATH);
    assert_int_equal(path_mkdirs_at(f->fd, "a/./b"), ERR_BADPATH);
    assert_int_equal(path_mkdirs_at(f->fd, "a\\b"), ERR_BADPATH);
    assert_int_equal(path_mkdirs_at(f->fd, "a\x01"), ERR_BADPATH);
    assert_false(is_dir_at(f->fd, "b"));
}

static void test_mkdirs_file_in_way(void **state)
{
    struct fixture *f = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/plain", f->dir);
    support_write_file(p, "x", 1);
    assert_int_equal(path_mkdirs_at(f->fd, "plain/sub"), -ENOTDIR);
    assert_int_equal(path_mkdirs_at(f->fd, "plain"), -ENOTDIR);
}

static void test_mkdirs_symlink_not_followed(void **state)
{
    struct fixture *f = *state;
    char outside[512], link[600], probe[700];
    support_tmpdir(outside, sizeof(outside));
    snprintf(link, sizeof(link), "%s/lnk", f->dir);
    assert_int_equal(symlink(outside, link), 0);
    assert_true(path_mkdirs_at(f->fd, "lnk/escaped") < 0);
    snprintf(probe, sizeof(probe), "%s/escaped", outside);
    struct stat st;
    assert_int_equal(stat(probe, &st), -1);
    support_rmtree(outside);
}

struct mk_arg {
    int fd;
    int rc[50];
};

static void *mk_thread(void *p)
{
    struct mk_arg *a = p;
    for (int i = 0; i < 50; i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "c/%d/x/y/z", i);
        a->rc[i] = path_mkdirs_at(a->fd, rel);
    }
    return NULL;
}

static void test_mkdirs_concurrent(void **state)
{
    struct fixture *f = *state;
    struct mk_arg a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i].fd = f->fd;
        assert_int_equal(pthread_create(&t[i], NULL, mk_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 50; j++)
            assert_int_equal(a[i].rc[j], 0);
    assert_true(is_dir_at(f->fd, "c/49/x/y/z"));
}

/* ---- path_open_beneath ---- */

static bool kernel_has_openat2(void)
{
#ifdef SYS_openat2
    struct {
        unsigned long long flags, mode, resolve;
    } how = { O_RDONLY | O_CLOEXEC, 0, 0 };
    long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (fd >= 0) {
        close((int)fd);
        return true;
    }
#endif
    return false;
}

static void make_tree(struct fixture *f)
{
    char p[700];
    assert_int_equal(path_mkdirs_at(f->fd, "d/e"), 0);
    snprintf(p, sizeof(p), "%s/d/e/f.txt", f->dir);
    support_write_file(p, "hello", 5);
    snprintf(p, sizeof(p), "%s/top.txt", f->dir);
    support_write_file(p, "top", 3);
    snprintf(p, sizeof(p), "%s/etc_link", f->dir);
    assert_int_equal(symlink("/etc", p), 0);
    snprintf(p, sizeof(p), "%s/passwd_link", f->dir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/d/up_link", f->dir);
    assert_int_equal(symlink("../../../../../../../../etc", p), 0);
    snprintf(p, sizeof(p), "%s/inner_link", f->dir);
    assert_int_equal(symlink("top.txt", p), 0);
    snprintf(p, sizeof(p), "%s/proc_link", f->dir);
    assert_int_equal(symlink("/proc/self/root", p), 0);
}

/* Checks that hold for both strategies; returns a bitmask of failures so it can also run
 * in a forked child where cmocka asserts are unusable. */
static unsigned common_checks(int base)
{
    unsigned bad = 0;
    char buf[8] = { 0 };
    int fd = path_open_beneath(base, "d/e/f.txt", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof(buf)) != 5 || memcmp(buf, "hello", 5) != 0)
        bad |= 1u << 0;
    if (fd >= 0) {
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            bad |= 1u << 1;
        close(fd);
    }
    fd = path_open_beneath(base, "d//e/f.txt", O_RDONLY);
    if (fd < 0)
        bad |= 1u << 2;
    else
        close(fd);
    fd = path_open_beneath(base, "d/e/new.bin", O_WRONLY | O_CREAT | O_EXCL);
    if (fd < 0 || write(fd, "x", 1) != 1)
        bad |= 1u << 3;
    if (fd >= 0)
        close(fd);
    if (path_open_beneath(base, "d/e/missing", O_RDONLY) != -ENOENT)
        bad |= 1u << 4;
    if (path_open_beneath(base, "etc_link/passwd", O_RDONLY) >= 0)
        bad |= 1u << 5;
    if (path_open_beneath(base, "passwd_link", O_RDONLY) >= 0)
        bad |= 1u << 6;
    if (path_open_beneath(base, "d/up_link/passwd", O_RDONLY) >= 0)
        bad |= 1u << 7;
    if (path_open_beneath(base, "etc_link", O_RDONLY | O_DIRECTORY) >= 0)
        bad |= 1u << 8;
    if (path_open_beneath(base, "proc_link/etc/passwd", O_RDONLY) >= 0)
        bad |= 1u << 9;
    if (path_open_beneath(base, "passwd_link", O_WRONLY | O_CREAT) >= 0)
        bad |= 1u << 10;
    if (path_open_beneath(base, "/etc/passwd", O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 11;
    if (path_open_beneath(base, "../etc/passwd", O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 12;
    if (path_open_beneath(base, "d/../top.txt", O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 13;
    if (path_open_beneath(base, "", O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 14;
    if (path_open_beneath(base, NULL, O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 15;
    if (path_open_beneath(base, "d\\e", O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 16;
    if (path_open_beneath(base, "d/./e/f.txt", O_RDONLY) != ERR_BADPATH)
        bad |= 1u << 17;
    if (path_open_beneath(base, "top.txt/x", O_RDONLY) != -ENOTDIR)
        bad |= 1u << 18;
    fd = path_open_beneath(base, "d/e", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        bad |= 1u << 19;
    else
        close(fd);
    if (path_fsync_parent(base, "d/e/f.txt") != 0 || path_fsync_parent(base, "top.txt") != 0)
        bad |= 1u << 20;
    if (path_fsync_parent(base, "nope/f.txt") != -ENOENT)
        bad |= 1u << 21;
    if (path_fsync_parent(base, "../x/f.txt") != ERR_BADPATH)
        bad |= 1u << 22;
    return bad;
}

static void test_open_beneath(void **state)
{
    struct fixture *f = *state;
    make_tree(f);
    assert_int_equal(common_checks(f->fd), 0);
}

static void test_open_beneath_long_rel(void **state)
{
    struct fixture *f = *state;
    char rel[PATH_MAX_REL + 8];
    fill(rel, 'a', PATH_MAX_NAME + 1);
    assert_int_equal(path_open_beneath(f->fd, rel, O_RDONLY), ERR_BADPATH);
    size_t len = 0;
    while (len < PATH_MAX_REL + 1) {
        rel[len++] = 'a';
        rel[len++] = '/';
    }
    rel[len] = '\0';
    assert_int_equal(path_open_beneath(f->fd, rel, O_RDONLY), ERR_BADPATH);
}

static void test_open_beneath_inner_symlink_openat2(void **state)
{
    struct fixture *f = *state;
    if (!kernel_has_openat2())
        skip();
    make_tree(f);
    /* openat2 follows a symlink that stays inside base; the walk would refuse it */
    int fd = path_open_beneath(f->fd, "inner_link", O_RDONLY);
    assert_true(fd >= 0);
    char buf[4] = { 0 };
    assert_int_equal(read(fd, buf, 3), 3);
    assert_memory_equal(buf, "top", 3);
    close(fd);
}

static int install_openat2_filter(int err)
{
#ifdef SYS_openat2
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = (unsigned short)(sizeof(code) / sizeof(code[0])), .filter = code };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return -1;
    return 0;
#else
    (void)err;
    return -1;
#endif
}

/* Runs the checks in a child where openat2 fails with err, forcing the segment walk. */
static void run_walk_child(struct fixture *f, int err)
{
    make_tree(f);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (install_openat2_filter(err) != 0)
            _exit(100);
        errno = 0;
        if (syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0) != -1 || errno != err)
            _exit(101);
        unsigned bad = common_checks(f->fd);
        int fd = path_open_beneath(f->fd, "inner_link", O_RDONLY);
        if (fd >= 0) /* the walk refuses every symlink, also harmless ones */
            bad |= 1u << 30;
        if (bad)
            fprintf(stderr, "walk child (errno %d) failures: 0x%x\n", err, bad);
        _exit(bad ? 1 : 0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 100)
        skip(); /* seccomp not available here */
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_open_walk_enosys(void **state)
{
    run_walk_child(*state, ENOSYS);
}

static void test_open_walk_eperm(void **state)
{
    run_walk_child(*state, EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_name_ok),
        cmocka_unit_test(test_check_name_bad),
        cmocka_unit_test(test_check_name_length),
        cmocka_unit_test(test_norm_ok),
        cmocka_unit_test(test_norm_empty),
        cmocka_unit_test(test_norm_dot_segments),
        cmocka_unit_test(test_norm_bad_bytes),
        cmocka_unit_test(test_norm_percent_not_decoded),
        cmocka_unit_test(test_norm_long_segment),
        cmocka_unit_test(test_norm_long_total),
        cmocka_unit_test(test_norm_small_out),
        cmocka_unit_test(test_norm_in_place),
        cmocka_unit_test(test_trim_specials),
        cmocka_unit_test(test_trim_dots),
        cmocka_unit_test(test_trim_utf8_intact),
        cmocka_unit_test(test_trim_null),
        cmocka_unit_test(test_is_workdir),
        cmocka_unit_test(test_basename),
        cmocka_unit_test(test_extension),
        cmocka_unit_test(test_extension_too_long),
        cmocka_unit_test(test_date_dirs),
        cmocka_unit_test(test_date_matches_strftime),
        cmocka_unit_test_setup_teardown(test_mkdirs_creates, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs_empty_and_slashes, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs_rejects_bad, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs_file_in_way, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs_symlink_not_followed, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mkdirs_concurrent, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_beneath, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_beneath_long_rel, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_beneath_inner_symlink_openat2, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_walk_enosys, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_walk_eperm, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
