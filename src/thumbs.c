/* Resized-image cache (see thumbs.h). Plain files below data/thumbs, one directory per
 * path key, so dropping a path is one directory walk and nothing here is ever served by
 * name from a client: names are built from a hex key and two integers. */
#include "thumbs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "strparse.h"

enum { THUMBS_UNKNOWN, THUMBS_SOME, THUMBS_NONE };

/* ROOT/data/thumbs, where every cached size lives */
static void thumbs_root(const struct server *srv, char out[1300])
{
    snprintf(out, 1300, "%s/data/thumbs", srv->root);
}

static int dir_of(const struct server *srv, const char *pk, char *out, size_t cap)
{
    if (!strparse_is_hex(pk, 32))
        return -EINVAL;
    char root[1300];
    thumbs_root(srv, root);
    int n = snprintf(out, cap, "%s/%s", root, pk);
    return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

int thumbs_open(struct server *srv, const char *pathkey, int w, int h, time_t orig_mtime,
                int *fd, off_t *size)
{
    char dir[1400], p[1500];
    int rc = dir_of(srv, pathkey, dir, sizeof dir);
    if (rc)
        return rc;
    snprintf(p, sizeof p, "%s/%dx%d", dir, w, h);
    int f = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0)
        return -errno;
    struct stat st;
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode) || st.st_mtime < orig_mtime) {
        close(f);
        return -ENOENT; /* stale: the original changed after this was made */
    }
    *fd = f;
    *size = st.st_size;
    return 0;
}

int thumbs_put(struct server *srv, const char *pathkey, int w, int h, const void *p, size_t n)
{
    char dir[1400], path[1500], tmp[1520];
    int rc = dir_of(srv, pathkey, dir, sizeof dir);
    if (rc)
        return rc;
    char parent[1300];
    thumbs_root(srv, parent);
    if (mkdir(parent, 0775) < 0 && errno != EEXIST)
        return -errno;
    atomic_store(&srv->thumbs_state, THUMBS_SOME);
    if (mkdir(dir, 0775) < 0 && errno != EEXIST)
        return -errno;
    snprintf(path, sizeof path, "%s/%dx%d", dir, w, h);
    /* two threads may make the same size at once: each writes its own temp file */
    snprintf(tmp, sizeof tmp, "%s.%lx.tmp", path, (unsigned long)pthread_self());
    int f = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (f < 0)
        return -errno;
    const char *c = p;
    size_t left = n;
    while (left) {
        ssize_t k = write(f, c, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = -errno;
            break;
        }
        c += k;
        left -= (size_t)k;
    }
    close(f);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

/* Whether data/thumbs may hold anything: most nodes never resize an image, and every
 * index write drops the path's cache. Looked at once; thumbs_put sets it. */
static bool thumbs_any(struct server *srv)
{
    int st = atomic_load(&srv->thumbs_state);
    if (st == THUMBS_UNKNOWN) {
        char parent[1300];
        struct stat sb;
        thumbs_root(srv, parent);
        int seen = stat(parent, &sb) == 0 ? THUMBS_SOME : THUMBS_NONE;
        /* a thumbs_put meanwhile has stored THUMBS_SOME, which stays */
        if (atomic_compare_exchange_strong(&srv->thumbs_state, &st, seen))
            st = seen;
    }
    return st == THUMBS_SOME;
}

void thumbs_drop(struct server *srv, const char *pathkey)
{
    char dir[1400];
    if (!thumbs_any(srv) || dir_of(srv, pathkey, dir, sizeof dir))
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    rmdir(dir);
}
