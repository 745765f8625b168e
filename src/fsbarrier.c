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

struct fsbarrier {
    int fs_fd;
    enum fsbarrier_mode mode;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next_ticket; /* tickets handed out */
    uint64_t covered;     /* every ticket < covered is durable */
    bool running;
    int last_rc;
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

int fsbarrier_sync(struct fsbarrier *b, int fd)
{
    if (b->mode == FSBARRIER_NONE)
        return 0;
    if (b->mode == FSBARRIER_FILE) {
        atomic_fetch_add(&b->syncs, 1);
        return fsync(fd) < 0 ? -errno : 0;
    }
    pthread_mutex_lock(&b->mu);
    uint64_t mine = b->next_ticket++;
    int rc = 0;
    for (;;) {
        if (b->covered > mine) {
            rc = b->last_rc;
            break;
        }
        if (!b->running) {
            /* lead: this sync covers every ticket issued so far */
            uint64_t upto = b->next_ticket;
            b->running = true;
            pthread_mutex_unlock(&b->mu);
            atomic_fetch_add(&b->syncs, 1);
            int r = syncfs(b->fs_fd) < 0 ? -errno : 0;
            pthread_mutex_lock(&b->mu);
            b->running = false;
            b->covered = upto;
            b->last_rc = r;
            pthread_cond_broadcast(&b->cv);
            rc = r;
            break;
        }
        pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
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
