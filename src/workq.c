/* A fixed thread pool over a ring of jobs (see workq.h). One mutex and one condition
 * variable; jobs run outside the lock. A batched queue's thread empties the ring (up to its
 * batch limit) in one critical section. */
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
    /* batched: one thread hands up to max_batch args to batch_fn */
    workq_batch_fn batch_fn;
    void *batch_ctx;
    size_t max_batch;
};

/* Waits for jobs and takes up to max of them into out; 0 only when stopping and drained. */
static size_t take(struct workq *q, struct job *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    while (q->len == 0 && !q->stop)
        pthread_cond_wait(&q->more, &q->mu);
    size_t n = 0;
    while (q->len > 0 && n < max) {
        out[n++] = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void *worker(void *arg)
{
    struct workq *q = arg;
    struct job j;
    while (take(q, &j, 1) > 0)
        j.fn(j.arg);
    return NULL;
}

static void *batch_worker(void *arg)
{
    struct workq *q = arg;
    struct job *jobs = xcalloc(q->max_batch, sizeof *jobs);
    void **args = xcalloc(q->max_batch, sizeof *args);
    size_t n;
    while ((n = take(q, jobs, q->max_batch)) > 0) {
        for (size_t i = 0; i < n; i++)
            args[i] = jobs[i].arg;
        q->batch_fn(q->batch_ctx, args, n);
    }
    free(jobs);
    free(args);
    return NULL;
}

static struct workq *create(size_t threads, size_t max_queue)
{
    struct workq *q = xcalloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->more, NULL);
    q->cap = max_queue;
    q->ring = xcalloc(max_queue, sizeof *q->ring);
    q->threads = xcalloc(threads, sizeof *q->threads);
    return q;
}

static int start(struct workq *q, size_t threads, void *(*fn)(void *), struct workq **out)
{
    for (size_t i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, fn, q) != 0)
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

int workq_new(size_t threads, size_t max_queue, struct workq **out)
{
    if (threads == 0 || max_queue == 0)
        return -EINVAL;
    return start(create(threads, max_queue), threads, worker, out);
}

int workq_new_batched(size_t threads, size_t max_queue, size_t max_batch, workq_batch_fn fn,
                      void *ctx, struct workq **out)
{
    if (threads == 0 || max_queue == 0 || max_batch == 0 || !fn)
        return -EINVAL;
    struct workq *q = create(threads, max_queue);
    q->batch_fn = fn;
    q->batch_ctx = ctx;
    q->max_batch = max_batch;
    return start(q, threads, batch_worker, out);
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
