/* Small-file volumes. A volume starts with a 16-byte magic; then needles, each 8-aligned:
 *   "FSN1" state('L'|'D') pad[3] info_len:u32 check:u32 data_len:u64 orig_off:u64
 *   orig_vol:u32 pad:u32, the record's JSON, the bytes
 * (little-endian). `check` covers the header's lengths and the JSON, so a scan after a crash
 * tells a torn append from a needle. Appends reserve their place under one lock and write
 * outside it; durability is the store's group commit, one sync per append. */
#include "volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "path.h"
#include "store.h"
#include "xalloc.h"

#define VOLUMES_MAX 65536
#define VOL_NUM_MAX 999999999u
static const char vol_magic[VOLUME_HDR] = "FSVOLUME1\n\0\0\0\0\0";

struct vol {
    uint32_t num;
    uint64_t end;     /* where the next needle goes (8-aligned) */
    int wfd;          /* open for appends while active or pending, else -1 */
    unsigned pending; /* appended, not yet released */
    bool sealed;
};

struct volumes {
    struct store *st;
    int dirfd;
    char dir[PATH_MAX_NAME + 16];
    uint64_t max_size;
    pthread_mutex_t mu;
    struct vol *v; /* ascending by num */
    size_t n, cap;
    struct vol *active;
    uint32_t next;
};

static uint64_t align8(uint64_t x)
{
    return (x + 7) & ~(uint64_t)7;
}

static void put32(unsigned char *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static void put64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t x = 0;
    for (int i = 3; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

static uint32_t fnv1a(uint32_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 16777619u;
    return h;
}

static uint32_t needle_check(const unsigned char *hdr, const char *info, size_t ilen)
{
    uint32_t h = fnv1a(2166136261u, hdr + 8, 4); /* info_len */
    h = fnv1a(h, hdr + 16, NEEDLE_HDR - 16);      /* data_len, orig_off, orig_vol */
    return fnv1a(h, info, ilen);
}

bool volumes_is_volume_name(const char *name)
{
    if (!*name || strlen(name) > 9)
        return false;
    for (const char *c = name; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

bool volumes_is_ours(int fd)
{
    char m[VOLUME_HDR];
    return fileio_pread_all(fd, m, sizeof m, 0) == 0 && memcmp(m, vol_magic, sizeof m) == 0;
}

static struct vol *find_vol(struct volumes *v, uint32_t num)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->v[mid].num == num)
            return &v->v[mid];
        if (v->v[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Adds a volume to the table (numbers only grow, so appending keeps it sorted, except while
 * loading, which sorts afterwards). */
static struct vol *add_vol(struct volumes *v, uint32_t num, uint64_t end)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 16;
        struct vol *old = v->v;
        v->v = xrealloc(v->v, nc * sizeof *v->v);
        v->cap = nc;
        if (v->active)
            v->active = v->v + (v->active - old);
    }
    struct vol *x = &v->v[v->n++];
    *x = (struct vol){num, end, -1, 0, true};
    return x;
}

static int cmp_vol(const void *a, const void *b)
{
    const struct vol *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

static int load(struct volumes *v)
{
    int fd = openat(v->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    uint32_t maxnum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!volumes_is_volume_name(e->d_name))
            continue;
        uint32_t num = (uint32_t)strtoul(e->d_name, NULL, 10);
        int f = openat(v->dirfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
            if (f >= 0)
                close(f);
            continue;
        }
        if (num > maxnum)
            maxnum = num;
        bool ours = volumes_is_ours(f);
        close(f);
        if (!ours && st.st_size == 0) {
            /* a crash between creating a volume and writing its magic */
            unlinkat(v->dirfd, e->d_name, 0);
            continue;
        }
        if (ours && v->n < VOLUMES_MAX)
            add_vol(v, num, align8((uint64_t)st.st_size));
    }
    closedir(d);
    if (v->n > 1)
        qsort(v->v, v->n, sizeof *v->v, cmp_vol);
    /* every volume found is sealed: a crash may have left a needle whose header is intact
     * but whose bytes are not, and an append after it would land inside the span that
     * header claims, where a scan would never look for it */
    v->next = maxnum + 1;
    return 0;
}

int volumes_open(struct store *st, const char *peer_id, uint64_t max_size, struct volumes **out)
{
    struct volumes *v = xcalloc(1, sizeof *v);
    v->st = st;
    v->max_size = max_size < 65536 ? 65536 : max_size;
    v->dirfd = -1;
    pthread_mutex_init(&v->mu, NULL);
    snprintf(v->dir, sizeof v->dir, "haystack/%s", peer_id && *peer_id ? peer_id : "0");
    int rc = path_mkdirs_at(store_files_fd(st), v->dir);
    if (rc == 0) {
        v->dirfd = path_open_beneath(store_files_fd(st), v->dir, O_RDONLY | O_DIRECTORY);
        rc = v->dirfd < 0 ? v->dirfd : load(v);
    }
    if (rc < 0) {
        log_error("volume", "cannot open %s: %s", v->dir, strerror(-rc));
        volumes_close(v);
        return rc;
    }
    *out = v;
    return 0;
}

void volumes_close(struct volumes *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i].wfd >= 0)
            close(v->v[i].wfd);
    if (v->dirfd >= 0)
        close(v->dirfd);
    pthread_mutex_destroy(&v->mu);
    free(v->v);
    free(v);
}

const char *volumes_dir(const struct volumes *v)
{
    return v->dir;
}

static void seal(struct vol *x)
{
    x->sealed = true;
    if (x->pending == 0 && x->wfd >= 0) {
        close(x->wfd);
        x->wfd = -1;
    }
}

/* A new, empty active volume; its magic and its name are durable before anything lands. */
static int start_volume(struct volumes *v)
{
    if (v->n >= VOLUMES_MAX || v->next > VOL_NUM_MAX)
        return -ENOSPC;
    char name[16];
    int fd = -1;
    for (int tries = 0; tries < 16 && fd < 0; tries++) {
        snprintf(name, sizeof name, "%u", v->next++);
        fd = openat(v->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return -errno;
    }
    if (fd < 0)
        return -EEXIST;
    int rc = fileio_pwrite_all(fd, vol_magic, sizeof vol_magic, 0);
    if (rc == 0)
        rc = store_sync(v->st, fd);
    if (rc == 0)
        rc = store_sync(v->st, v->dirfd);
    if (rc < 0) {
        close(fd);
        unlinkat(v->dirfd, name, 0);
        return rc;
    }
    if (v->active)
        seal(v->active);
    struct vol *x = add_vol(v, (uint32_t)(v->next - 1), VOLUME_HDR);
    x->wfd = fd;
    x->sealed = false;
    v->active = x;
    log_info("volume", "started small-file volume %s/%s", v->dir, name);
    return 0;
}

int volumes_append(struct volumes *v, const struct needle *orig, volume_info_fn fn, void *ctx,
                   const void *data, size_t dlen, bool sync, struct needle *out)
{
    if (dlen >= VOLUME_SMALL_MAX)
        return -EFBIG;
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    char *info = NULL;
    size_t ilen = 0;
    uint64_t span = 0;
    for (int round = 0; round < 2; round++) {
        if (!v->active && (rc = start_volume(v)) < 0)
            break;
        struct vol *a = v->active;
        free(info);
        info = fn(ctx, orig ? orig->orig_vol : a->num, orig ? orig->orig_off : a->end, &ilen);
        if (!info || ilen > NEEDLE_INFO_MAX) {
            rc = -EINVAL;
            break;
        }
        span = align8(NEEDLE_HDR + ilen + dlen);
        /* an empty volume takes any needle, so a tiny merge_volume_size cannot loop */
        if (a->end + span <= v->max_size || a->end == VOLUME_HDR || round == 1)
            break;
        seal(a);
        v->active = NULL;
    }
    struct vol *a = v->active;
    if (rc == 0 && !a)
        rc = -EIO;
    if (rc < 0) {
        pthread_mutex_unlock(&v->mu);
        free(info);
        return rc;
    }
    out->vol = a->num;
    out->off = a->end;
    out->orig_vol = orig ? orig->orig_vol : a->num;
    out->orig_off = orig ? orig->orig_off : a->end;
    out->info_len = (uint32_t)ilen;
    out->data_len = dlen;
    out->data_off = a->end + NEEDLE_HDR + ilen;
    out->span = span;
    out->live = true;
    a->end += span;
    a->pending++;
    int fd = a->wfd;
    if (a->end >= v->max_size) {
        seal(a); /* keeps wfd open: this append is pending */
        v->active = NULL;
    }
    pthread_mutex_unlock(&v->mu);

    /* one write for the whole needle, then one (group) sync */
    unsigned char *b = xmalloc(span);
    memset(b, 0, NEEDLE_HDR);
    memcpy(b, "FSN1", 4);
    b[4] = 'L';
    put32(b + 8, (uint32_t)ilen);
    put64(b + 16, dlen);
    put64(b + 24, out->orig_off);
    put32(b + 32, out->orig_vol);
    put32(b + 12, needle_check(b, info, ilen));
    memcpy(b + NEEDLE_HDR, info, ilen);
    if (dlen)
        memcpy(b + NEEDLE_HDR + ilen, data, dlen);
    memset(b + NEEDLE_HDR + ilen + dlen, 0, span - (NEEDLE_HDR + ilen + dlen));
    free(info);
    rc = fileio_pwrite_all(fd, b, span, out->off);
    free(b);
    if (rc == 0 && sync)
        rc = store_sync(v->st, fd);
    if (rc < 0) {
        /* the space stays unused: garbage a compaction reclaims */
        log_error("volume", "append to %s/%u failed: %s", v->dir, out->vol, strerror(-rc));
        volumes_release(v, out->vol);
    }
    return rc;
}

void volumes_release(struct volumes *v, uint32_t vol)
{
    pthread_mutex_lock(&v->mu);
    struct vol *x = find_vol(v, vol);
    if (x && x->pending > 0 && --x->pending == 0 && x->sealed && x->wfd >= 0) {
        close(x->wfd);
        x->wfd = -1;
    }
    pthread_mutex_unlock(&v->mu);
}

int volumes_open_read(struct volumes *v, uint32_t vol, int *fd)
{
    char name[16];
    snprintf(name, sizeof name, "%u", vol);
    int f = openat(v->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0)
        return -errno;
    *fd = f;
    return 0;
}

static int decode(const unsigned char *b, uint32_t vol, uint64_t off, struct needle *out)
{
    if (memcmp(b, "FSN1", 4) != 0 || (b[4] != 'L' && b[4] != 'D'))
        return -ENOENT;
    out->vol = vol;
    out->off = off;
    out->info_len = get32(b + 8);
    out->data_len = get64(b + 16);
    out->orig_off = get64(b + 24);
    out->orig_vol = get32(b + 32);
    if (out->info_len > NEEDLE_INFO_MAX || out->data_len >= VOLUME_SMALL_MAX)
        return -ENOENT;
    out->data_off = off + NEEDLE_HDR + out->info_len;
    out->span = align8(NEEDLE_HDR + out->info_len + out->data_len);
    out->live = b[4] == 'L';
    return 0;
}

int volumes_needle_at(int fd, uint32_t vol, uint64_t off, struct needle *out)
{
    unsigned char b[NEEDLE_HDR];
    if (off < VOLUME_HDR || (off & 7) || fileio_pread_all(fd, b, sizeof b, off) < 0)
        return -ENOENT;
    int rc = decode(b, vol, off, out);
    if (rc == 0 && !out->live)
        rc = -ENOENT;
    return rc;
}

int volumes_mark_deleted(struct volumes *v, uint32_t vol, uint64_t off)
{
    char name[16];
    snprintf(name, sizeof name, "%u", vol);
    int fd = openat(v->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* compacted away: nothing to mark */
    struct needle n;
    int rc = 0;
    unsigned char b[NEEDLE_HDR];
    if (off >= VOLUME_HDR && !(off & 7) && fileio_pread_all(fd, b, sizeof b, off) == 0 &&
        decode(b, vol, off, &n) == 0 && n.live) {
        rc = fileio_pwrite_all(fd, "D", 1, off + 4);
        if (rc == 0)
            rc = store_sync(v->st, fd);
    }
    close(fd);
    return rc;
}

int volumes_read_needle(struct volumes *v, const struct needle *n, char *buf, size_t cap)
{
    if (cap < (size_t)n->info_len + n->data_len)
        return -ENOBUFS;
    int fd = -1;
    int rc = volumes_open_read(v, n->vol, &fd);
    if (rc < 0)
        return rc;
    rc = fileio_pread_all(fd, buf, n->info_len + n->data_len, n->off + NEEDLE_HDR);
    close(fd);
    return rc;
}

int volumes_scan(struct volumes *v, uint32_t vol, volume_needle_fn cb, void *ctx)
{
    int fd = -1;
    int rc = volumes_open_read(v, vol, &fd);
    if (rc < 0)
        return rc;
    struct stat st;
    if (fstat(fd, &st) < 0 || !volumes_is_ours(fd)) {
        close(fd);
        return -EINVAL;
    }
    uint64_t size = (uint64_t)st.st_size, off = VOLUME_HDR;
    char *info = xmalloc(NEEDLE_INFO_MAX + 1);
    long long skipped = 0;
    rc = 0;
    while (rc == 0 && off + NEEDLE_HDR <= size) {
        unsigned char b[NEEDLE_HDR];
        struct needle n;
        bool ok = fileio_pread_all(fd, b, sizeof b, off) == 0 && decode(b, vol, off, &n) == 0 &&
                  n.off + NEEDLE_HDR + n.info_len + n.data_len <= size &&
                  fileio_pread_all(fd, info, n.info_len, off + NEEDLE_HDR) == 0 &&
                  needle_check(b, info, n.info_len) == get32(b + 12);
        if (!ok) {
            off += 8; /* look for the next intact header */
            skipped += 8;
            continue;
        }
        info[n.info_len] = '\0';
        rc = cb(ctx, &n, info);
        off += n.span;
    }
    free(info);
    close(fd);
    if (skipped)
        log_warn("volume", "%s/%u: skipped %lld bytes that hold no intact needle", v->dir, vol,
                 skipped);
    return rc;
}

size_t volumes_list(struct volumes *v, uint32_t *nums, uint64_t *sizes, size_t max,
                    uint32_t *active)
{
    pthread_mutex_lock(&v->mu);
    size_t k = 0;
    for (size_t i = 0; i < v->n && k < max; i++, k++) {
        nums[k] = v->v[i].num;
        if (sizes)
            sizes[k] = v->v[i].end;
    }
    if (active)
        *active = v->active ? v->active->num : 0;
    pthread_mutex_unlock(&v->mu);
    return k;
}

int volumes_remove(struct volumes *v, uint32_t vol)
{
    pthread_mutex_lock(&v->mu);
    struct vol *x = find_vol(v, vol);
    int rc = 0;
    if (!x)
        rc = -ENOENT;
    else if (x == v->active || x->pending)
        rc = -EBUSY;
    if (rc == 0) {
        char name[16];
        snprintf(name, sizeof name, "%u", vol);
        if (unlinkat(v->dirfd, name, 0) < 0 && errno != ENOENT)
            rc = -errno;
    }
    if (rc == 0) {
        if (x->wfd >= 0)
            close(x->wfd);
        size_t i = (size_t)(x - v->v);
        struct vol *act = v->active;
        memmove(x, x + 1, (v->n - i - 1) * sizeof *x);
        v->n--;
        if (act && act > x)
            v->active = act - 1;
        rc = store_sync(v->st, v->dirfd);
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int volumes_parse_name(const char *name, uint32_t *vol, uint64_t *off, uint64_t *len)
{
    unsigned long long f[3];
    const char *p = name;
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        char *end;
        errno = 0;
        f[i] = strtoull(p, &end, 10);
        if (errno || *end != ',' || end - p > 19)
            return -EINVAL;
        p = end + 1;
    }
    if (f[0] == 0 || f[0] > VOL_NUM_MAX || strchr(p, '/'))
        return -EINVAL;
    *vol = (uint32_t)f[0];
    *off = f[1];
    *len = f[2];
    return 0;
}
