/* A bounded job queue served by threads: work that would block an HTTP thread (an upload's
 * durable commit) runs here while the request is parked. Either a pool that runs each job
 * on its own, or one thread that takes everything queued at once, for work whose cost is
 * mostly a wait that many jobs can share (a disk sync). Submitting to a full queue fails at
 * once rather than waiting. */
#pragma once
#include <stddef.h>

struct workq; /* opaque */
typedef void (*workq_fn)(void *arg);
/* Handles args[0..n) in submission order; n is at most the batch limit. */
typedef void (*workq_batch_fn)(void *ctx, void **args, size_t n);

int workq_new(size_t threads, size_t max_queue, struct workq **out);
/* Threads that each hand fn up to max_batch queued jobs at a time (their fn is not called):
 * with two, one batch can be prepared while the other waits for the disk. */
int workq_new_batched(size_t threads, size_t max_queue, size_t max_batch, workq_batch_fn fn,
                      void *ctx, struct workq **out);
/* 0, or -EAGAIN when the queue is full or stopping (the job did not run). */
int workq_submit(struct workq *q, workq_fn fn, void *arg);
/* Runs every job already queued, then stops and joins the threads. */
void workq_free(struct workq *q);
