/* A single-producer, single-consumer ring: the receiving thread copies chunks in, the pipe's
 * thread digests up to a megabyte at a time outside the lock. Memory is bounded by the ring;
 * a producer that outruns the hash waits, which is the back-pressure the socket needs. */
#include "hashpipe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define STEP (1024 * 1024) /* most bytes hashed per lock round */

struct hashpipe {
    struct digest *dg;
    char *ring;
    size_t head, tail; /* total bytes written and hashed (positions modulo the ring) */
    bool closing, stop;
    pthread_mutex_t mu;
    pthread_cond_t more, room;
    pthread_t thread;
};

static atomic_int alive;

static void *run(void *arg)
{
    struct hashpipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == p->tail && !p->closing && !p->stop)
            pthread_cond_wait(&p->more, &p->mu);
        if (p->stop || p->head == p->tail)
            break; /* stopped, or closing with nothing left */
        size_t at = p->tail % HASHPIPE_RING;
        size_t n = p->head - p->tail;
        if (n > HASHPIPE_RING - at)
            n = HASHPIPE_RING - at; /* up to the ring's end; the rest next round */
        if (n > STEP)
            n = STEP;
        pthread_mutex_unlock(&p->mu);
        digest_update(p->dg, p->ring + at, n);
        pthread_mutex_lock(&p->mu);
        p->tail += n;
        pthread_cond_signal(&p->room);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Frees a pipe whose thread is not running (any part may be missing). */
static void destroy(struct hashpipe *p)
{
    if (p->dg)
        digest_free(p->dg);
    free(p->ring);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->more);
    pthread_cond_destroy(&p->room);
    free(p);
    atomic_fetch_sub(&alive, 1);
}

struct hashpipe *hashpipe_new(enum digest_algo algo)
{
    if (atomic_fetch_add(&alive, 1) >= HASHPIPE_MAX) {
        atomic_fetch_sub(&alive, 1);
        return NULL;
    }
    struct hashpipe *p = xcalloc(1, sizeof *p);
    p->dg = digest_new(algo);
    p->ring = malloc(HASHPIPE_RING);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->more, NULL);
    pthread_cond_init(&p->room, NULL);
    if (!p->dg || !p->ring || pthread_create(&p->thread, NULL, run, p) != 0) {
        destroy(p);
        return NULL;
    }
    return p;
}

void hashpipe_update(struct hashpipe *p, const void *data, size_t n)
{
    const char *c = data;
    pthread_mutex_lock(&p->mu);
    while (n > 0) {
        while (p->head - p->tail == HASHPIPE_RING)
            pthread_cond_wait(&p->room, &p->mu);
        size_t at = p->head % HASHPIPE_RING;
        size_t k = HASHPIPE_RING - (p->head - p->tail); /* free space */
        if (k > HASHPIPE_RING - at)
            k = HASHPIPE_RING - at;
        if (k > n)
            k = n;
        /* under the lock: an HTTP chunk is tens of KiB, a few microseconds to copy */
        memcpy(p->ring + at, c, k);
        p->head += k;
        c += k;
        n -= k;
        pthread_cond_signal(&p->more);
    }
    pthread_mutex_unlock(&p->mu);
}

static void finish(struct hashpipe *p, bool stop)
{
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    p->stop = stop;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
}

void hashpipe_final_hex(struct hashpipe *p, char out[DIGEST_HEX_MAX])
{
    finish(p, false);
    digest_final_hex(p->dg, out);
    destroy(p);
}

void hashpipe_free(struct hashpipe *p)
{
    if (!p)
        return;
    finish(p, true);
    destroy(p);
}
