/* A fixed thread pool over a ring of jobs (see workq.h). One mutex and two condition
 * variables; jobs run outside the lock. */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "xalloc.h"

struct job {
    workq_fn fn;
    void *arg;
};

struct workq {
    pthread_mutex_t mu;
    pthread_cond_t more;
    struct job *ring;
    size_t cap, head, len;
    bool stop;
    pthread_t *threads;
    size_t nthreads;
};

static void *worker(void *arg)
{
    struct workq *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->len == 0 && !q->stop)
            pthread_cond_wait(&q->more, &q->mu);
        if (q->len == 0) { /* stopping and drained */
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        struct job j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_mutex_unlock(&q->mu);
        j.fn(j.arg);
    }
}

int workq_new(size_t threads, size_t max_queue, struct workq **out)
{
    if (threads == 0 || max_queue == 0)
        return -EINVAL;
    struct workq *q = xcalloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->more, NULL);
    q->cap = max_queue;
    q->ring = xcalloc(max_queue, sizeof *q->ring);
    q->threads = xcalloc(threads, sizeof *q->threads);
    for (size_t i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
            break;
        q->nthreads++;
    }
    if (q->nthreads == 0) {
        workq_free(q);
        return -EAGAIN;
    }
    *out = q;
    return 0;
}

int workq_submit(struct workq *q, workq_fn fn, void *arg)
{
    pthread_mutex_lock(&q->mu);
    if (q->stop || q->len == q->cap) {
        pthread_mutex_unlock(&q->mu);
        return -EAGAIN;
    }
    q->ring[(q->head + q->len) % q->cap] = (struct job){fn, arg};
    q->len++;
    pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void workq_free(struct workq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->more);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->more);
    free(q->ring);
    free(q->threads);
    free(q);
}
