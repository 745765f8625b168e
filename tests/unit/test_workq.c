/* workq: every submitted job runs once, a full queue refuses at once, free drains; a
 * batched queue hands every job once and in order, within its batch limit, and gathers
 * what queued during a slow batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "workq.h"

static atomic_int ran;

static void bump(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void slow(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&ran, 1);
}

static void test_runs_every_job(void **state)
{
    (void)state;
    struct workq *q;
    atomic_store(&ran, 0);
    assert_int_equal(workq_new(4, 1000, &q), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(workq_submit(q, bump, NULL), 0);
    workq_free(q); /* drains */
    assert_int_equal(atomic_load(&ran), 500);
}

/* Submits 20 jobs (args 1..20) to a queue too small for them; some must be refused, with
 * -EAGAIN and nothing else. Returns how many were taken. */
static size_t submit_past_full(struct workq *q, workq_fn fn)
{
    size_t accepted = 0, refused = 0;
    for (intptr_t i = 0; i < 20; i++) {
        int rc = workq_submit(q, fn, (void *)(i + 1));
        if (rc == 0)
            accepted++;
        else if (rc == -EAGAIN)
            refused++;
    }
    assert_int_equal(accepted + refused, 20);
    assert_true(refused > 0);
    return accepted;
}

static void test_full_queue_refuses(void **state)
{
    (void)state;
    struct workq *q;
    atomic_store(&ran, 0);
    assert_int_equal(workq_new(1, 2, &q), 0);
    size_t accepted = submit_past_full(q, slow);
    workq_free(q);
    assert_int_equal(atomic_load(&ran), accepted);
}

static void test_bad_sizes(void **state)
{
    (void)state;
    struct workq *q = NULL;
    assert_int_equal(workq_new(0, 1, &q), -EINVAL);
    assert_int_equal(workq_new(1, 0, &q), -EINVAL);
    workq_free(NULL);
}

#define ITEMS 400

struct seen {
    pthread_mutex_t mu;
    intptr_t order[ITEMS];
    size_t n, batches, biggest;
    int sleep_ms;
};

static void record(void *ctx, void **items, size_t n)
{
    struct seen *s = ctx;
    if (s->sleep_ms) {
        struct timespec ts = {0, (long)s->sleep_ms * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n && s->n < ITEMS; i++)
        s->order[s->n++] = (intptr_t)items[i];
    s->batches++;
    if (n > s->biggest)
        s->biggest = n;
    pthread_mutex_unlock(&s->mu);
}

static void test_every_item_once_in_order(void **state)
{
    (void)state;
    static struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct workq *q;
    assert_int_equal(workq_new_batched(1, ITEMS, 16, record, &s, &q), 0);
    for (intptr_t i = 0; i < ITEMS; i++)
        assert_int_equal(workq_submit(q, NULL, (void *)(i + 1)), 0);
    workq_free(q); /* drains */
    assert_int_equal(s.n, ITEMS);
    for (size_t i = 0; i < ITEMS; i++)
        assert_int_equal(s.order[i], (intptr_t)i + 1);
    assert_true(s.biggest <= 16);
}

static void test_slow_batch_gathers_the_next(void **state)
{
    (void)state;
    static struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER, .sleep_ms = 30};
    struct workq *q;
    assert_int_equal(workq_new_batched(1, 64, 64, record, &s, &q), 0);
    /* the first item starts a slow batch; the rest queue behind it and go as one or two */
    for (intptr_t i = 0; i < 40; i++)
        assert_int_equal(workq_submit(q, NULL, (void *)(i + 1)), 0);
    workq_free(q);
    assert_int_equal(s.n, 40);
    assert_true(s.batches <= 3);
    assert_true(s.biggest >= 20);
}

static void test_batched_full_queue_refuses(void **state)
{
    (void)state;
    static struct seen s = {.mu = PTHREAD_MUTEX_INITIALIZER, .sleep_ms = 20};
    struct workq *q;
    assert_int_equal(workq_new_batched(1, 2, 1, record, &s, &q), 0);
    size_t accepted = submit_past_full(q, NULL);
    workq_free(q);
    assert_int_equal(s.n, accepted);
}

static void test_batched_bad_sizes(void **state)
{
    (void)state;
    struct workq *q = NULL;
    assert_int_equal(workq_new_batched(1, 0, 1, record, NULL, &q), -EINVAL);
    assert_int_equal(workq_new_batched(1, 1, 0, record, NULL, &q), -EINVAL);
    assert_int_equal(workq_new_batched(1, 1, 1, NULL, NULL, &q), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_every_job),
        cmocka_unit_test(test_full_queue_refuses),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_every_item_once_in_order),
        cmocka_unit_test(test_slow_batch_gathers_the_next),
        cmocka_unit_test(test_batched_full_queue_refuses),
        cmocka_unit_test(test_batched_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
