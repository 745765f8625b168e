/* Leader/follower group commit over syncfs(2). A waiter takes a ticket; if no sync is
 * running it leads: it syncs once, and that sync covers every ticket issued before it
 * began. Waiters whose ticket is older than the completed sync's start return at once. */
#include "fsbarrier.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "xalloc.h"

#define FAILS_KEPT 16

struct failed_sync {
    uint64_t from, upto; /* the tickets it covered */
    int rc;
};

struct fsbarrier {
    int fs_fd;
    enum fsbarrier_mode mode;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next_ticket; /* tickets handed out */
    uint64_t covered;     /* every ticket < covered had its sync */
    bool running;
    /* failed syncs, newest last: a ticket covered by one gets its error even when a later
     * sync succeeds before the waiter wakes (syncfs reports a lost write only once) */
    struct failed_sync fails[FAILS_KEPT];
    uint64_t nfails; /* failed syncs ever; fails[i % FAILS_KEPT] holds failure i */
    _Atomic long long syncs; /* fsync/syncfs calls made */
};

struct fsbarrier *fsbarrier_new(int fs_fd, enum fsbarrier_mode mode)
{
    struct fsbarrier *b = xcalloc(1, sizeof *b);
    b->fs_fd = fs_fd;
    b->mode = mode;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    return b;
}

void fsbarrier_free(struct fsbarrier *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

/* The error of the failed sync that covered ticket t, or 0. Only failures after the ticket
 * was taken can cover it; if more happened than are kept, assume the worst. */
static int covering_failure(const struct fsbarrier *b, uint64_t t, uint64_t seen)
{
    if (b->nfails - seen > FAILS_KEPT)
        return -EIO;
    for (uint64_t i = seen; i < b->nfails; i++) {
        const struct failed_sync *f = &b->fails[i % FAILS_KEPT];
        if (t >= f->from && t < f->upto)
            return f->rc;
    }
    return 0;
}

int fsbarrier_sync(struct fsbarrier *b, int fd)
{
    if (b->mode == FSBARRIER_NONE)
        return 0;
    if (b->mode == FSBARRIER_FILE) {
        atomic_fetch_add(&b->syncs, 1);
        return fsync(fd) < 0 ? -errno : 0;
    }
    pthread_mutex_lock(&b->mu);
    uint64_t mine = b->next_ticket++, fails_seen = b->nfails;
    int rc = 0;
    for (;;) {
        if (b->covered > mine) {
            rc = covering_failure(b, mine, fails_seen);
            break;
        }
        if (!b->running) {
            /* lead: this sync covers every ticket issued so far */
            uint64_t from = b->covered, upto = b->next_ticket;
            b->running = true;
            pthread_mutex_unlock(&b->mu);
            int r = fsbarrier_sync_fs(b);
            pthread_mutex_lock(&b->mu);
            b->running = false;
            b->covered = upto;
            if (r < 0) {
                size_t i = (size_t)(b->nfails++ % FAILS_KEPT);
                b->fails[i].from = from;
                b->fails[i].upto = upto;
                b->fails[i].rc = r;
            }
            pthread_cond_broadcast(&b->cv);
            rc = r;
            break;
        }
        pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int fsbarrier_sync_many(struct fsbarrier *b, const int *fds, size_t n)
{
    if (n == 0 || b->mode == FSBARRIER_NONE)
        return 0;
    if (b->mode == FSBARRIER_GROUP)
        return fsbarrier_sync(b, fds[0]); /* one syncfs covers them all */
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int r = fsbarrier_sync(b, fds[i]);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

int fsbarrier_sync_fs(struct fsbarrier *b)
{
    atomic_fetch_add(&b->syncs, 1);
    return syncfs(b->fs_fd) < 0 ? -errno : 0;
}

long long fsbarrier_syncs(struct fsbarrier *b)
{
    return atomic_load(&b->syncs);
}
