/* O_DIRECT stream writer (see dwrite.h). Buffer number k (counting from 0) lives in slot
 * k % DWRITE_BUFS and is written at offset k * DWRITE_BUF; buffers [written, full) are the
 * writer's, [tapped, full) the tap's, and a slot is filled again once both are past it.
 * Only whole buffers go through O_DIRECT: they keep its alignment rules; the tail goes
 * through the ordinary descriptor. */
#include "dwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "xalloc.h"

#define DWRITE_ALIGN 4096 /* covers every logical block size O_DIRECT asks for */

struct dwrite {
    int fd, dfd; /* dfd: the same file opened with O_DIRECT */
    char *bufs[DWRITE_BUFS];
    size_t fill;             /* bytes in the buffer being filled (producer only) */
    uint64_t full, written;  /* buffers handed to the writer, and written by it */
    uint64_t tapped;         /* buffers the tap has seen (with a tap) */
    atomic_int err;          /* the first failed write, then every call reports it */
    bool stop, abandon, has_thread, has_tapper;
    bool buffered;           /* the filesystem refused an O_DIRECT write: plain writes */
    dwrite_tap_fn *tap;
    void *tap_arg;
    pthread_mutex_t mu;
    pthread_cond_t work, space; /* work: both consumers wait on it, so it is broadcast */
    pthread_t thread, tapper;
};

static int write_buffer(struct dwrite *w, const char *p, uint64_t off)
{
    size_t done = 0;
    if (!w->buffered) {
        ssize_t n = pwrite(w->dfd, p, DWRITE_BUF, (off_t)off);
        if (n == DWRITE_BUF)
            return 0;
        if (n < 0 && errno == EINVAL)
            w->buffered = true; /* opened, but this filesystem will not write directly */
        else if (n < 0 && errno != EINTR)
            return -errno;
        done = n > 0 ? (size_t)n : 0;
    }
    /* the rest of a short or interrupted write goes the ordinary way: same bytes, same
     * offsets */
    return fileio_pwrite_all(w->fd, p + done, DWRITE_BUF - done, off + done);
}

/* One consumer's loop: buffer after buffer in order, outside the lock, until stopped and
 * drained (or abandoned: the file is being discarded). */
static void consume(struct dwrite *w, uint64_t *done, bool writes)
{
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (*done == w->full && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (*done == w->full || w->abandon)
            break;
        const char *b = w->bufs[*done % DWRITE_BUFS];
        uint64_t off = *done * DWRITE_BUF;
        pthread_mutex_unlock(&w->mu);
        int rc = 0;
        if (!writes)
            w->tap(w->tap_arg, b, DWRITE_BUF);
        else if (!atomic_load(&w->err)) /* after a failure the rest is only drained */
            rc = write_buffer(w, b, off);
        pthread_mutex_lock(&w->mu);
        if (rc < 0 && !atomic_load(&w->err))
            atomic_store(&w->err, rc);
        (*done)++;
        pthread_cond_signal(&w->space);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *writer(void *arg)
{
    struct dwrite *w = arg;
    consume(w, &w->written, true);
    return NULL;
}

static void *tapper(void *arg)
{
    struct dwrite *w = arg;
    consume(w, &w->tapped, false);
    return NULL;
}

/* Buffers every consumer is done with (under mu). */
static uint64_t released(const struct dwrite *w)
{
    return w->tap && w->tapped < w->written ? w->tapped : w->written;
}

static atomic_int alive; /* writers in use, at most DWRITE_MAX */

struct dwrite *dwrite_new(int fd, dwrite_tap_fn *tap, void *arg)
{
    if (atomic_fetch_add(&alive, 1) >= DWRITE_MAX) {
        atomic_fetch_sub(&alive, 1);
        return NULL;
    }
    char path[48];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (dfd < 0) {
        atomic_fetch_sub(&alive, 1);
        return NULL;
    }
    struct dwrite *w = xcalloc(1, sizeof *w);
    w->fd = fd;
    w->dfd = dfd;
    w->tap = tap;
    w->tap_arg = arg;
    for (int i = 0; i < DWRITE_BUFS; i++) {
        void *b = NULL;
        if (posix_memalign(&b, DWRITE_ALIGN, DWRITE_BUF) != 0) {
            while (i-- > 0)
                free(w->bufs[i]);
            close(dfd);
            free(w);
            atomic_fetch_sub(&alive, 1);
            return NULL;
        }
        w->bufs[i] = b;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->space, NULL);
    if (pthread_create(&w->thread, NULL, writer, w) != 0) {
        dwrite_abort(w);
        return NULL;
    }
    w->has_thread = true;
    if (tap) {
        if (pthread_create(&w->tapper, NULL, tapper, w) != 0) {
            dwrite_abort(w);
            return NULL;
        }
        w->has_tapper = true;
    }
    return w;
}

int dwrite_append(struct dwrite *w, const void *p, size_t n)
{
    const char *c = p;
    int e = atomic_load(&w->err);
    if (e)
        return e;
    while (n > 0) {
        size_t take = DWRITE_BUF - w->fill < n ? DWRITE_BUF - w->fill : n;
        memcpy(w->bufs[w->full % DWRITE_BUFS] + w->fill, c, take);
        w->fill += take;
        c += take;
        n -= take;
        if (w->fill < DWRITE_BUF)
            break;
        pthread_mutex_lock(&w->mu);
        w->full++;
        pthread_cond_broadcast(&w->work);
        /* the next buffer's slot must be written out (and tapped) before it is filled again */
        while (w->full - released(w) >= DWRITE_BUFS && !atomic_load(&w->err))
            pthread_cond_wait(&w->space, &w->mu);
        pthread_mutex_unlock(&w->mu);
        w->fill = 0;
        if ((e = atomic_load(&w->err)) != 0)
            return e;
    }
    return 0;
}

uint64_t dwrite_size(const struct dwrite *w)
{
    return w->full * DWRITE_BUF + w->fill;
}

static int release(struct dwrite *w, bool write_tail)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    w->abandon = !write_tail;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->mu);
    if (w->has_thread)
        pthread_join(w->thread, NULL);
    if (w->has_tapper)
        pthread_join(w->tapper, NULL);
    int rc = atomic_load(&w->err);
    if (rc == 0 && write_tail && w->fill) {
        const char *tail = w->bufs[w->full % DWRITE_BUFS];
        rc = fileio_pwrite_all(w->fd, tail, w->fill, w->full * DWRITE_BUF);
        if (rc == 0 && w->tap)
            w->tap(w->tap_arg, tail, w->fill);
    }
    for (int i = 0; i < DWRITE_BUFS; i++)
        free(w->bufs[i]);
    close(w->dfd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->space);
    free(w);
    atomic_fetch_sub(&alive, 1);
    return rc;
}

int dwrite_finish(struct dwrite *w)
{
    return release(w, true);
}

void dwrite_abort(struct dwrite *w)
{
    if (w)
        release(w, false);
}
