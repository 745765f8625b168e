/* A bounded job queue served by a fixed pool of threads: work that would block an HTTP
 * thread (an upload's durable commit) runs here while the request is parked. Submitting to
 * a full queue fails at once rather than waiting. */
#pragma once
#include <stddef.h>

struct workq; /* opaque */
typedef void (*workq_fn)(void *arg);

int workq_new(size_t threads, size_t max_queue, struct workq **out);
/* 0, or -EAGAIN when the queue is full or stopping (the job did not run). */
int workq_submit(struct workq *q, workq_fn fn, void *arg);
/* Runs every job already queued, then stops and joins the threads. */
void workq_free(struct workq *q);
