/* workq: every submitted job runs once, a full queue refuses at once, free drains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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

static void test_full_queue_refuses(void **state)
{
    (void)state;
    struct workq *q;
    atomic_store(&ran, 0);
    assert_int_equal(workq_new(1, 2, &q), 0);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 20; i++) {
        int rc = workq_submit(q, slow, NULL);
        if (rc == 0)
            accepted++;
        else if (rc == -EAGAIN)
            refused++;
    }
    assert_true(refused > 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_every_job),
        cmocka_unit_test(test_full_queue_refuses),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
