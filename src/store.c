/* The bytes on disk. Uploads are written to data/tmp/ (same filesystem as files/, never
 * served), then made durable: fsync the file, rename it into its dated directory without
 * replacing anything (renameat2 RENAME_NOREPLACE), fsync the directory. So a file visible in
 * files/ is always complete, and a crash leaves at most temp files, removed at start. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "digest.h"
#include "dwrite.h"
#include "fileio.h"
#include "fsbarrier.h"
#include "log.h"
#include "path.h"
#include "xalloc.h"

#define INFO_XATTR "user.fileserver.info"
/* memory temps of all uploads together: beyond this, small uploads use temp files, so a
 * thousand slow clients each announcing a body just under 1 MiB cannot pin a GiB */
#define MEM_TMP_BUDGET (64 * 1024 * 1024)
#define WALK_DEPTH_MAX 32

/* A new descriptor for the same directory with its own read position: a dup() would share
 * one, so two listings (or a listing after a walk) would see nothing. */
static int reopen_dir(int fd)
{
    int f = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return f < 0 ? -errno : f;
}

struct store {
    int files_fd;
    int tmp_fd;
    bool anon_tmp;   /* temps are O_TMPFILE files, named by linkat */
    bool link_empty; /* ... with AT_EMPTY_PATH (CAP_DAC_READ_SEARCH), else via /proc */
    /* The directory of the last link: every upload of a minute goes to the same one, and
     * its resolution beneath files/ is a path walk per upload. Owned here, handed out as
     * dups; a directory removed meanwhile refuses links (ENOENT) and is opened anew. */
    pthread_mutex_t dir_lock;
    int dir_fd;
    char dir_rel[PATH_MAX_REL + 1];
    struct fsbarrier *barrier;
    atomic_size_t mem_used; /* bytes reserved by memory temps */
};

static int clean_tmp(int tmp_fd)
{
    int fd = reopen_dir(tmp_fd);
    if (fd < 0)
        return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    rewinddir(d); /* the fd is a dup: its offset is shared */
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (unlinkat(tmp_fd, e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    if (removed)
        log_info("store", "removed %d unfinished temp files", removed);
    return 0;
}

/* Names an anonymous (O_TMPFILE) file: a plain linkat of it needs AT_EMPTY_PATH and with it
 * CAP_DAC_READ_SEARCH, its /proc/self/fd link does not but costs a walk through procfs. */
static int link_anon(int fd, int dfd, const char *name, bool empty_path)
{
    if (empty_path)
        return linkat(fd, "", dfd, name, AT_EMPTY_PATH) < 0 ? -errno : 0;
    char p[48];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, p, dfd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

/* An anonymous temp has no directory entry to create and remove, and no cross-directory
 * rename to lock: cheaper per upload, and nothing left behind by a crash. It needs a
 * filesystem with O_TMPFILE and a mounted /proc; without them temps are named files. */
static int open_anon(int tmp_fd)
{
    int fd = openat(tmp_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

/* Whether anonymous temps can be named here, and how: with AT_EMPTY_PATH when the process
 * may, else through /proc/self/fd. */
static bool anon_tmp_works(int tmp_fd, bool empty_path)
{
    int fd = open_anon(tmp_fd);
    if (fd < 0)
        return false;
    /* data/tmp was just emptied and only this process names files there; no random name:
     * the first use of the random generator maps a megabyte or two of libcrypto */
    char name[32];
    snprintf(name, sizeof name, "probe-%ld", (long)getpid());
    bool ok = link_anon(fd, tmp_fd, name, empty_path) == 0;
    if (ok)
        unlinkat(tmp_fd, name, 0);
    close(fd);
    return ok;
}

static int open_dir_created(const char *path)
{
    if (mkdir(path, 0775) < 0 && errno != EEXIST)
        return -errno;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int store_open(const char *root, enum fsbarrier_mode mode, struct store **out)
{
    char p[1200];
    int rc;
    const char *r = (root && *root) ? root : ".";
    struct store *s = xcalloc(1, sizeof *s);
    s->files_fd = s->tmp_fd = s->dir_fd = -1;
    pthread_mutex_init(&s->dir_lock, NULL);
    snprintf(p, sizeof p, "%s/files", r);
    if ((rc = open_dir_created(p)) < 0)
        goto fail;
    s->files_fd = rc;
    snprintf(p, sizeof p, "%s/data", r);
    if (mkdir(p, 0775) < 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    snprintf(p, sizeof p, "%s/data/tmp", r);
    if ((rc = open_dir_created(p)) < 0)
        goto fail;
    s->tmp_fd = rc;
    clean_tmp(s->tmp_fd);
    s->link_empty = anon_tmp_works(s->tmp_fd, true);
    s->anon_tmp = s->link_empty || anon_tmp_works(s->tmp_fd, false);
    s->barrier = fsbarrier_new(s->files_fd, mode);
    *out = s;
    return 0;
fail:
    log_error("store", "cannot open %s: %s", p, strerror(-rc));
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->files_fd >= 0)
        close(s->files_fd);
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    pthread_mutex_destroy(&s->dir_lock);
    fsbarrier_free(s->barrier);
    free(s);
}

int store_files_fd(const struct store *s)
{
    return s->files_fd;
}

void store_use_named_tmp(struct store *s)
{
    s->anon_tmp = false;
}

void store_use_proc_link(struct store *s)
{
    s->link_empty = false;
}

int store_sync_fs(struct store *s)
{
    return fsbarrier_sync_fs(s->barrier);
}

long long store_syncs(const struct store *s)
{
    return fsbarrier_syncs(s->barrier);
}

void store_tmp_init(struct store_tmp *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

int store_tmp_create_mem(struct store *s, struct store_tmp *t, size_t cap)
{
    store_tmp_init(t);
    if (atomic_fetch_add(&s->mem_used, cap) + cap > MEM_TMP_BUDGET) {
        atomic_fetch_sub(&s->mem_used, cap);
        return store_tmp_create(s, t);
    }
    t->owner = s;
    t->memcap = cap;
    t->mem = xmalloc(cap ? cap : 1);
    return 0;
}

static void mem_release(struct store_tmp *t)
{
    if (!t->mem)
        return;
    free(t->mem);
    t->mem = NULL;
    atomic_fetch_sub(&t->owner->mem_used, t->memcap);
}

static int tmp_write_fd(struct store_tmp *t, const char *a, size_t an, const char *b, size_t bn);
static int carry_flush(struct store_tmp *t);

int store_tmp_spill(struct store_tmp *t)
{
    if (t->dw)
        return -EBUSY; /* store_tmp_finish first: bytes may still be in flight */
    if (!t->mem)
        return carry_flush(t);
    struct store_tmp m = *t;
    t->mem = NULL;
    int rc = store_tmp_create(m.owner, t);
    if (rc == 0 && (rc = tmp_write_fd(t, NULL, 0, m.mem, (size_t)m.size)) == 0)
        t->size = m.size;
    mem_release(&m);
    return rc;
}

int store_tmp_create(struct store *s, struct store_tmp *t)
{
    unsigned char rnd[12];
    t->fd = -1;
    t->size = 0;
    t->flushed = 0;
    t->mem = NULL;
    t->dw = NULL;
    t->carry = NULL;
    t->carried = 0;
    t->owner = s;
    t->name[0] = '\0';
    if (s->anon_tmp) {
        int fd = open_anon(s->tmp_fd);
        if (fd < 0)
            return fd;
        t->fd = fd;
        return 0;
    }
    for (int tries = 0; tries < 8; tries++) {
        if (digest_random(rnd, sizeof rnd) < 0)
            return -EIO;
        int n = snprintf(t->name, sizeof t->name, "up-");
        for (size_t i = 0; i < sizeof rnd; i++)
            n += snprintf(t->name + n, sizeof t->name - (size_t)n, "%02x", rnd[i]);
        int fd = openat(s->tmp_fd, t->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            t->fd = fd;
            return 0;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

bool store_tmp_direct(struct store_tmp *t, dwrite_tap_fn *tap, void *arg)
{
    if (t->fd < 0 || t->mem || t->dw || t->size)
        return false;
    t->dw = dwrite_new(t->fd, tap, arg);
    return t->dw != NULL;
}

int store_tmp_finish(struct store_tmp *t)
{
    if (!t->dw)
        return carry_flush(t);
    int rc = dwrite_finish(t->dw);
    t->dw = NULL;
    return rc;
}

/* The page cache takes writes that cover its folios whole best. A write that stops inside a
 * new folio makes ext4 zero the rest of it, and the next write fills it again. libmicrohttpd
 * hands over pieces of about 18 KiB at any offset; written 8 KiB-aligned, a 100 KiB upload
 * cost about 15 µs less system CPU here (16 KiB gained no more and holds twice the memory). */
int store_tmp_write(struct store_tmp *t, const void *p, size_t n)
{
    if (t->dw) {
        int rc = dwrite_append(t->dw, p, n);
        if (rc == 0)
            t->size += n;
        return rc;
    }
    if (t->mem) {
        if (t->size + n <= t->memcap) {
            memcpy(t->mem + t->size, p, n);
            t->size += n;
            return 0;
        }
        int rc = store_tmp_spill(t);
        if (rc < 0)
            return rc;
    }
    uint64_t off = t->size - t->carried; /* what the file holds */
    uint64_t upto = (t->size + n) / STORE_WRITE_ALIGN * STORE_WRITE_ALIGN;
    int rc = 0;
    if (upto <= off && !t->carried) {
        rc = tmp_write_fd(t, NULL, 0, p, n); /* nothing waits: a small file, written as is */
    } else if (upto <= off) {
        /* off is a boundary whenever bytes wait, so they and p stay short of the next one */
        memcpy(t->carry + t->carried, p, n);
        t->carried += n;
    } else {
        size_t rest = (size_t)(t->size + n - upto); /* < n: the carry goes out whole */
        if ((rc = tmp_write_fd(t, t->carry, t->carried, p, n - rest)) < 0)
            return rc;
        if (rest) {
            if (!t->carry)
                t->carry = xmalloc(STORE_WRITE_ALIGN);
            memcpy(t->carry, (const char *)p + (n - rest), rest);
        }
        t->carried = rest;
    }
    if (rc == 0)
        t->size += n;
    return rc;
}

#define WRITEBACK_STEP (16 * 1024 * 1024)

/* Writes a then b after what the file holds (size less what is carried). */
static int tmp_write_fd(struct store_tmp *t, const char *a, size_t an, const char *b, size_t bn)
{
    /* start writing a large file back while it still arrives, so the sync at its commit
     * does not have to write all of it at once (asynchronous; errors surface at the sync) */
    if (t->size - t->flushed >= WRITEBACK_STEP) {
        sync_file_range(t->fd, (off_t)t->flushed, (off_t)(t->size - t->flushed),
                        SYNC_FILE_RANGE_WRITE);
        t->flushed = t->size;
    }
    return fileio_pwrite2_all(t->fd, a, an, b, bn, t->size - t->carried);
}

/* Writes what waits and gives its buffer back; on an error both stay, for discard. */
static int carry_flush(struct store_tmp *t)
{
    int rc = t->carried ? tmp_write_fd(t, t->carry, t->carried, NULL, 0) : 0;
    if (rc < 0)
        return rc;
    t->carried = 0;
    free(t->carry);
    t->carry = NULL;
    return rc;
}

void store_tmp_discard(struct store *s, struct store_tmp *t)
{
    dwrite_abort(t->dw);
    t->dw = NULL;
    free(t->carry);
    t->carry = NULL;
    t->carried = 0;
    mem_release(t);
    if (t->fd < 0)
        return;
    close(t->fd);
    t->fd = -1;
    if (t->name[0])
        unlinkat(s->tmp_fd, t->name, 0);
}

/* Splits rel into its directory fd (opened beneath files/) and the last segment. */
static int open_dir_of(struct store *s, const char *dir, int *dfd);

/* Opens dir below files/, creating it when missing: most uploads land in a directory
 * that exists, and trying the mkdir of every level first costs a syscall per level. */
static int open_dir_created_at(struct store *s, const char *dir, int *dfd)
{
    int rc = open_dir_of(s, dir, dfd);
    if (rc != -ENOENT)
        return rc;
    if ((rc = path_mkdirs_at(s->files_fd, dir)) < 0)
        return rc;
    return open_dir_of(s, dir, dfd);
}

static void dir_forget(struct store *s)
{
    pthread_mutex_lock(&s->dir_lock);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    s->dir_fd = -1;
    s->dir_rel[0] = '\0';
    pthread_mutex_unlock(&s->dir_lock);
}

/* open_dir_created_at through the one-entry cache; *cached tells the caller that a refusal
 * (ENOENT: the directory was removed since) deserves one retry after dir_forget. */
static int open_dir_cached(struct store *s, const char *dir, int *dfd, bool *cached)
{
    *cached = false;
    pthread_mutex_lock(&s->dir_lock);
    if (s->dir_fd >= 0 && strcmp(s->dir_rel, dir) == 0) {
        int fd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 0);
        pthread_mutex_unlock(&s->dir_lock);
        if (fd < 0)
            return -errno;
        *dfd = fd;
        *cached = true;
        return 0;
    }
    pthread_mutex_unlock(&s->dir_lock);
    int rc = open_dir_created_at(s, dir, dfd);
    if (rc < 0 || strlen(dir) >= sizeof s->dir_rel)
        return rc;
    int keep = fcntl(*dfd, F_DUPFD_CLOEXEC, 0);
    if (keep < 0)
        return 0; /* only the cache goes without */
    pthread_mutex_lock(&s->dir_lock);
    int old = s->dir_fd;
    s->dir_fd = keep;
    snprintf(s->dir_rel, sizeof s->dir_rel, "%s", dir);
    pthread_mutex_unlock(&s->dir_lock);
    if (old >= 0)
        close(old);
    return 0;
}

static int open_dir_of(struct store *s, const char *dir, int *dfd)
{
    if (!*dir) {
        *dfd = dup(s->files_fd);
        return *dfd < 0 ? -errno : 0;
    }
    int fd = path_open_beneath(s->files_fd, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return fd;
    *dfd = fd;
    return 0;
}

/* Gives the temp its name in dfd, never replacing one. */
static int name_tmp(struct store *s, struct store_tmp *t, int dfd, const char *name)
{
    if (!t->name[0]) /* like RENAME_NOREPLACE, linkat never replaces a name */
        return link_anon(t->fd, dfd, name, s->link_empty);
    if (renameat2(s->tmp_fd, t->name, dfd, name, RENAME_NOREPLACE) == 0)
        return 0;
    int rc = -errno;
    /* filesystems without RENAME_NOREPLACE: link refuses to replace as well */
    if (rc == -EINVAL || rc == -ENOSYS) {
        rc = linkat(s->tmp_fd, t->name, dfd, name, 0) < 0 ? -errno : 0;
        if (rc == 0)
            unlinkat(s->tmp_fd, t->name, 0);
    }
    return rc;
}

int store_tmp_link(struct store *s, struct store_tmp *t, const char *dir, const char *name,
                   int *dfd_out)
{
    int rc, dfd = -1;
    bool cached;
    if (path_check_name(name) < 0)
        return -EINVAL;
    if ((rc = store_tmp_spill(t)) < 0)
        return rc;
    if ((rc = open_dir_cached(s, dir, &dfd, &cached)) < 0)
        return rc;
    rc = name_tmp(s, t, dfd, name);
    if (rc == -ENOENT && cached) { /* the directory was removed since it was cached */
        close(dfd);
        dir_forget(s);
        if ((rc = open_dir_cached(s, dir, &dfd, &cached)) < 0)
            return rc;
        rc = name_tmp(s, t, dfd, name);
    }
    if (rc < 0) {
        close(dfd);
        return rc;
    }
    close(t->fd);
    t->fd = -1;
    *dfd_out = dfd;
    return 0;
}

int store_tmp_commit(struct store *s, struct store_tmp *t, const char *dir, const char *name)
{
    int rc, dfd;
    if ((rc = store_tmp_spill(t)) < 0)
        return rc;
    /* the bytes must be durable before the name appears, or a crash could expose a
     * partial file under its final name */
    if ((rc = fsbarrier_sync(s->barrier, t->fd)) < 0)
        return rc;
    if ((rc = store_tmp_link(s, t, dir, name, &dfd)) < 0)
        return rc;
    rc = fsbarrier_sync(s->barrier, dfd);
    close(dfd);
    return rc;
}

int store_link(struct store *s, const char *src_rel, const char *dir, const char *name)
{
    int rc, dfd = -1;
    char src_dir[PATH_MAX_REL + 1];
    const char *slash = strrchr(src_rel, '/');
    if (path_check_name(name) < 0)
        return -EINVAL;
    if ((rc = open_dir_created_at(s, dir, &dfd)) < 0)
        return rc;
    /* resolve the source's directory beneath files/ too, so a planted link cannot escape */
    int sfd;
    if (slash) {
        size_t n = (size_t)(slash - src_rel);
        if (n >= sizeof src_dir) {
            close(dfd);
            return -ENAMETOOLONG;
        }
        memcpy(src_dir, src_rel, n);
        src_dir[n] = '\0';
        sfd = path_open_beneath(s->files_fd, src_dir, O_RDONLY | O_DIRECTORY);
    } else {
        sfd = dup(s->files_fd);
    }
    if (sfd < 0) {
        close(dfd);
        return sfd;
    }
    rc = linkat(sfd, slash ? slash + 1 : src_rel, dfd, name, 0) < 0 ? -errno : 0;
    close(sfd);
    if (rc == 0)
        rc = fsbarrier_sync(s->barrier, dfd);
    close(dfd);
    return rc;
}

int store_unlink(struct store *s, const char *rel)
{
    char dir[PATH_MAX_REL + 1];
    const char *slash = strrchr(rel, '/');
    int dfd;
    if (slash) {
        size_t n = (size_t)(slash - rel);
        if (n >= sizeof dir)
            return -ENAMETOOLONG;
        memcpy(dir, rel, n);
        dir[n] = '\0';
        dfd = path_open_beneath(s->files_fd, dir, O_RDONLY | O_DIRECTORY);
    } else {
        dfd = dup(s->files_fd);
    }
    if (dfd < 0)
        return dfd;
    int rc = unlinkat(dfd, slash ? slash + 1 : rel, 0) < 0 ? -errno : 0;
    if (rc == 0)
        rc = fsbarrier_sync(s->barrier, dfd);
    close(dfd);
    return rc;
}

int store_sync(struct store *s, int fd)
{
    return fsbarrier_sync(s->barrier, fd);
}

int store_sync_many(struct store *s, const int *fds, size_t n)
{
    return fsbarrier_sync_many(s->barrier, fds, n);
}

int store_open_read(struct store *s, const char *rel, int *fd, struct stat *st)
{
    int f = *rel ? path_open_beneath(s->files_fd, rel, O_RDONLY) : reopen_dir(s->files_fd);
    if (f < 0)
        return f;
    if (fstat(f, st) < 0) {
        int rc = -errno;
        close(f);
        return rc;
    }
    *fd = f;
    return 0;
}

int store_stat(struct store *s, const char *rel, struct stat *st)
{
    int fd = -1;
    int rc = store_open_read(s, rel, &fd, st);
    if (rc == 0)
        close(fd);
    return rc;
}

int store_tmp_set_info(struct store_tmp *t, const char *json, size_t len)
{
    int rc = store_tmp_spill(t);
    if (rc < 0)
        return rc;
    return fsetxattr(t->fd, INFO_XATTR, json, len, 0) < 0 ? -errno : 0;
}

int store_get_info(struct store *s, const char *rel, char *out, size_t outcap)
{
    /* a zero size would turn fgetxattr into a size query that writes nothing */
    if (outcap < 2)
        return -ERANGE;
    int fd = path_open_beneath(s->files_fd, rel, O_RDONLY);
    if (fd < 0)
        return fd;
    ssize_t n = fgetxattr(fd, INFO_XATTR, out, outcap - 1);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc == 0)
        out[n] = '\0';
    return rc;
}

static int walk_dir(int dfd, char *rel, size_t rellen, size_t cap, int depth, store_walk_fn cb,
                    void *ctx)
{
    if (depth > WALK_DEPTH_MAX)
        return 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    rewinddir(d);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (depth == 0 && path_is_workdir(e->d_name))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            rel[rellen] = '\0';
            rc = cb(ctx, rel, e->d_name, &st);
        } else if (S_ISDIR(st.st_mode)) {
            size_t nl = strlen(e->d_name);
            if (rellen + nl + 2 >= cap)
                continue;
            size_t newlen = rellen;
            if (rellen)
                rel[newlen++] = '/';
            memcpy(rel + newlen, e->d_name, nl + 1);
            newlen += nl;
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                rc = walk_dir(sub, rel, newlen, cap, depth + 1, cb, ctx);
            rel[rellen] = '\0';
        }
    }
    closedir(d);
    return rc;
}

int store_walk(struct store *s, store_walk_fn cb, void *ctx)
{
    char rel[PATH_MAX_REL + 1] = "";
    int fd = reopen_dir(s->files_fd);
    if (fd < 0)
        return fd;
    return walk_dir(fd, rel, 0, sizeof rel, 0, cb, ctx);
}
