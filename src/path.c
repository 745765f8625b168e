/* Names a client controls: segment validation, normalisation of relative paths, the
 * go-fastdfs file-name trimming, dated directory names, durable mkdir -p and opening below a
 * base directory. Opening uses openat2(RESOLVE_BENEATH) when the kernel offers it and
 * otherwise walks segment by segment with O_NOFOLLOW, so no path can ever leave its base. */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errcode.h"

static bool bad_byte(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '/' || c == '\\';
}

/* Validates the segment [s, s+n): the rules of path_check_name without needing a NUL. */
static int check_segment(const char *s, size_t n)
{
    if (n == 0 || n > PATH_MAX_NAME)
        return ERR_BADPATH;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return ERR_BADPATH;
    for (size_t i = 0; i < n; i++) {
        if (bad_byte((unsigned char)s[i]))
            return ERR_BADPATH;
    }
    return 0;
}

int path_check_name(const char *name)
{
    if (!name)
        return ERR_BADPATH;
    size_t n = strnlen(name, PATH_MAX_NAME + 1);
    return check_segment(name, n);
}

int path_normalize_rel(const char *in, bool allow_empty, char *out, size_t outcap)
{
    char tmp[PATH_MAX_REL + 1];
    size_t len = 0;
    const char *p = in ? in : "";
    while (*p) {
        if (*p == '/') {
            p++;
            continue;
        }
        size_t n = strcspn(p, "/");
        int rc = check_segment(p, n);
        if (rc)
            return rc;
        size_t need = n + (len ? 1 : 0);
        if (len + need > PATH_MAX_REL)
            return ERR_BADPATH;
        if (len)
            tmp[len++] = '/';
        memcpy(tmp + len, p, n);
        len += n;
        p += n;
    }
    tmp[len] = '\0';
    if (len == 0 && !allow_empty)
        return ERR_BADPATH;
    if (!out || len + 1 > outcap)
        return -EMSGSIZE;
    memcpy(out, tmp, len + 1);
    return 0;
}

/* The character class of go-fastdfs TrimFileNameSpecialChar; `\s` in Go's RE2 is
 * [\t\n\f\r ] (no \v). Only ASCII bytes are listed, so UTF-8 sequences (all bytes >= 0x80)
 * always survive intact. */
static bool trim_char(unsigned char c)
{
    return c != '\0' && strchr("/\\:*?\"<>|()[]{},;'#@%&$^~=+-!\t\n\f\r ", c) != NULL;
}

/* strings.Replace(s, pat, "", -1): non-overlapping, left to right. */
static size_t remove_all(char *s, size_t len, const char *pat, size_t patlen)
{
    size_t r = 0, w = 0;
    while (r < len) {
        if (len - r >= patlen && memcmp(s + r, pat, patlen) == 0) {
            r += patlen;
            continue;
        }
        s[w++] = s[r++];
    }
    s[w] = '\0';
    return w;
}

size_t path_trim_special(char *name)
{
    if (!name)
        return 0;
    size_t w = 0;
    for (size_t r = 0; name[r]; r++) {
        if (!trim_char((unsigned char)name[r]))
            name[w++] = name[r];
    }
    name[w] = '\0';
    w = remove_all(name, w, "...", 3);
    return remove_all(name, w, "..", 2);
}

bool path_is_workdir(const char *rel)
{
    return (strncmp(rel, "_tmp", 4) == 0 || strncmp(rel, "_big", 4) == 0) &&
           (rel[4] == '\0' || rel[4] == '/');
}

const char *path_basename(const char *p)
{
    if (!p)
        return "";
    const char *base = p;
    for (const char *q = p; *q; q++) {
        if (*q == '/' || *q == '\\')
            base = q + 1;
    }
    return base;
}

void path_extension(const char *name, char *out, size_t outcap)
{
    if (!out || outcap == 0)
        return;
    out[0] = '\0';
    if (!name)
        return;
    /* Go path.Ext: the suffix from the last '.' of the last segment. */
    const char *dot = NULL;
    for (const char *q = name; *q; q++) {
        if (*q == '/')
            dot = NULL;
        else if (*q == '.')
            dot = q;
    }
    if (!dot)
        return;
    size_t n = strlen(dot);
    /* A truncated extension could match a whitelist entry it is not; give "" instead. */
    if (n + 1 > outcap)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = dot[i];
        out[i] = c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
    }
    out[n] = '\0';
}

static char *put2(char *o, int v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* Every upload names its day twice (directory and day index); strftime's format walk cost
 * more than the digits themselves. Years outside 0..9999 keep strftime's own rendering. */
static void format_local(time_t t, bool with_time, char *out, size_t outcap)
{
    if (!out || outcap == 0)
        return;
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        out[0] = '\0';
        return;
    }
    int y = tm.tm_year + 1900;
    if (y < 0 || y > 9999) {
        size_t n = with_time ? strftime(out, outcap, "%Y%m%d/%H/%M", &tm)
                             : strftime(out, outcap, "%Y%m%d", &tm);
        if (n == 0)
            out[0] = '\0';
        return;
    }
    char d[16], *o = put2(put2(put2(put2(d, y / 100), y % 100), tm.tm_mon + 1), tm.tm_mday);
    if (with_time) {
        *o++ = '/';
        o = put2(o, tm.tm_hour);
        *o++ = '/';
        o = put2(o, tm.tm_min);
    }
    size_t n = (size_t)(o - d);
    if (n >= outcap) { /* as strftime: nothing when it does not fit */
        out[0] = '\0';
        return;
    }
    memcpy(out, d, n);
    out[n] = '\0';
}

void path_date_dirs(time_t t, char *out, size_t outcap)
{
    format_local(t, true, out, outcap);
}

void path_day(time_t t, char *out, size_t outcap)
{
    format_local(t, false, out, outcap);
}

/* Copies the next segment of *p into seg (skipping empty ones) and validates it.
 * Returns 1 with a segment, 0 at the end, ERR_BADPATH on a bad one. */
static int next_segment(const char **p, char seg[PATH_MAX_NAME + 1], bool *last)
{
    while (**p == '/')
        (*p)++;
    if (!**p)
        return 0;
    size_t n = strcspn(*p, "/");
    int rc = check_segment(*p, n);
    if (rc)
        return rc;
    memcpy(seg, *p, n);
    seg[n] = '\0';
    *p += n;
    const char *q = *p;
    while (*q == '/')
        q++;
    *last = *q == '\0';
    return 1;
}

int path_mkdirs_at(int base, const char *rel)
{
    char seg[PATH_MAX_NAME + 1];
    const char *p = rel ? rel : "";
    int cur = base;
    int rc = 0;
    bool last = false;
    int more;
    while ((more = next_segment(&p, seg, &last)) == 1) {
        bool created = mkdirat(cur, seg, 0775) == 0;
        if (!created && errno != EEXIST) {
            rc = -errno;
            goto out;
        }
        /* Descend by fd with O_NOFOLLOW: a symlink planted in the store cannot redirect the
         * creation elsewhere, and a concurrent creator's EEXIST is harmless. */
        int next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            rc = -errno;
            goto out;
        }
        if (created && fsync(cur) < 0) {
            rc = -errno;
            close(next);
            goto out;
        }
        if (cur != base)
            close(cur);
        cur = next;
    }
    if (more < 0)
        rc = more;
out:
    if (cur != base)
        close(cur);
    return rc;
}

/* Rejects anything that is not a plain relative path of valid segments before it reaches
 * the kernel, so both resolution strategies see the same inputs. */
static int check_rel(const char *rel)
{
    if (!rel || !*rel || *rel == '/')
        return ERR_BADPATH;
    size_t total = 0;
    const char *p = rel;
    while (*p) {
        if (*p == '/') {
            p++;
            total++;
            continue;
        }
        size_t n = strcspn(p, "/");
        int rc = check_segment(p, n);
        if (rc)
            return rc;
        p += n;
        total += n;
        if (total > PATH_MAX_REL)
            return ERR_BADPATH;
    }
    return 0;
}

static mode_t create_mode(int flags)
{
    /* Like Go's os.Create: 0666 before the umask. openat2 rejects a mode without O_CREAT. */
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        return 0666;
    return 0;
}

static int open_walk(int base, const char *rel, int flags)
{
    char seg[PATH_MAX_NAME + 1];
    const char *p = rel;
    int cur = base;
    bool last = false;
    int more;
    int rc = ERR_BADPATH;
    while ((more = next_segment(&p, seg, &last)) == 1) {
        int fd;
        if (last)
            fd = openat(cur, seg, flags | O_NOFOLLOW | O_CLOEXEC, create_mode(flags));
        else
            fd = openat(cur, seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        if (cur != base)
            close(cur);
        cur = fd;
        if (last) {
            return fd;
        }
    }
    if (more < 0)
        rc = more;
    if (cur != base)
        close(cur);
    return rc;
}

#ifdef SYS_openat2
/* Cleared once the kernel says openat2 does not exist, to skip the doomed syscall. */
static atomic_bool openat2_usable = true;
#endif

int path_open_beneath(int base, const char *rel, int flags)
{
    int rc = check_rel(rel);
    if (rc)
        return rc;
#ifdef SYS_openat2
    if (atomic_load_explicit(&openat2_usable, memory_order_relaxed)) {
        struct open_how how;
        memset(&how, 0, sizeof(how));
        how.flags = (unsigned long long)(unsigned)(flags | O_CLOEXEC);
        how.mode = create_mode(flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        long fd;
        int tries = 0;
        /* EAGAIN: RESOLVE_BENEATH saw a concurrent rename while resolving; retry a little. */
        do
            fd = syscall(SYS_openat2, base, rel, &how, sizeof(how));
        while (fd < 0 && errno == EAGAIN && ++tries < 3);
        if (fd >= 0)
            return (int)fd;
        int e = errno;
        if (e == ENOSYS || e == E2BIG)
            atomic_store_explicit(&openat2_usable, false, memory_order_relaxed);
        /* EPERM: a seccomp filter (containers) may block openat2 on every call; the walk
         * then also reports a genuine EPERM correctly. */
        if (e != ENOSYS && e != EPERM && e != E2BIG)
            return -e;
    }
#endif
    return open_walk(base, rel, flags);
}

int path_fsync_parent(int base, const char *rel)
{
    const char *slash = rel ? strrchr(rel, '/') : NULL;
    if (!slash) {
        if (fsync(base) < 0)
            return -errno;
        return 0;
    }
    size_t n = (size_t)(slash - rel);
    if (n > PATH_MAX_REL)
        return ERR_BADPATH;
    char dir[PATH_MAX_REL + 1];
    memcpy(dir, rel, n);
    dir[n] = '\0';
    int fd = path_open_beneath(base, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return fd;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}
