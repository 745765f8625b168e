/* Unit tests for fsbarrier: both modes succeed, data written before a barrier reads back
 * after it, bad descriptors fail in per-file mode, and many threads in group mode all get
 * through (no lost wake-up, no deadlock) within a bounded time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsbarrier.h"
#include "support.h"

#define THREADS 8
#define CALLS 50

struct fixture {
    char dir[512];
    int dfd;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    support_tmpdir(f->dir, sizeof(f->dir));
    f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dfd < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->dfd);
    support_rmtree(f->dir);
    free(f);
    return 0;
}

static int open_file(const struct fixture *f, const char *name)
{
    int fd = openat(f->dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    return fd;
}

static void write_sync_read(struct fsbarrier *b, int fd)
{
    char buf[16] = {0};
    assert_int_equal(write(fd, "durable", 7), 7);
    assert_int_equal(fsbarrier_sync(b, fd), 0);
    assert_int_equal(pread(fd, buf, sizeof(buf), 0), 7);
    assert_memory_equal(buf, "durable", 7);
}

static void test_group_mode(void **state)
{
    struct fixture *f = *state;
    struct fsbarrier *b = fsbarrier_new(f->dfd, FSBARRIER_GROUP);
    assert_non_null(b);
    int fd = open_file(f, "g");
    write_sync_read(b, fd);
    /* the directory itself, and repeated calls */
    assert_int_equal(fsbarrier_sync(b, f->dfd), 0);
    assert_int_equal(fsbarrier_sync(b, fd), 0);
    /* one caller at a time: each call leads its own syncfs */
    assert_int_equal(fsbarrier_syncs(b), 3);
    close(fd);
    fsbarrier_free(b);
}

static void test_file_mode(void **state)
{
    struct fixture *f = *state;
    struct fsbarrier *b = fsbarrier_new(f->dfd, FSBARRIER_FILE);
    assert_non_null(b);
    int fd = open_file(f, "p");
    write_sync_read(b, fd);
    assert_int_equal(fsbarrier_sync(b, f->dfd), 0);
    assert_int_equal(fsbarrier_syncs(b), 2);
    close(fd);
    fsbarrier_free(b);
}

static void test_file_mode_bad_fd(void **state)
{
    struct fixture *f = *state;
    struct fsbarrier *b = fsbarrier_new(f->dfd, FSBARRIER_FILE);
    assert_int_equal(fsbarrier_sync(b, -1), -EBADF);
    fsbarrier_free(b);
}

static void test_none_mode(void **state)
{
    struct fixture *f = *state;
    struct fsbarrier *b = fsbarrier_new(f->dfd, FSBARRIER_NONE);
    int fd = open_file(f, "n");
    write_sync_read(b, fd);
    /* no sync is made, so not even a bad descriptor is noticed */
    assert_int_equal(fsbarrier_sync(b, -1), 0);
    assert_int_equal(fsbarrier_syncs(b), 0);
    close(fd);
    fsbarrier_free(b);
}

/* One sync for many descriptors: one syncfs in group mode, each fd in file mode (trying
 * all of them past a bad one), nothing in none mode or for none at all. */
static void test_sync_many(void **state)
{
    struct fixture *f = *state;
    int fd = open_file(f, "m");
    int fds[3] = {fd, f->dfd, fd};
    struct fsbarrier *g = fsbarrier_new(f->dfd, FSBARRIER_GROUP);
    assert_int_equal(fsbarrier_sync_many(g, fds, 3), 0);
    assert_int_equal(fsbarrier_sync_many(g, fds, 0), 0);
    assert_int_equal(fsbarrier_syncs(g), 1);
    fsbarrier_free(g);
    struct fsbarrier *p = fsbarrier_new(f->dfd, FSBARRIER_FILE);
    assert_int_equal(fsbarrier_sync_many(p, fds, 3), 0);
    assert_int_equal(fsbarrier_syncs(p), 3);
    int bad[3] = {fd, -1, f->dfd};
    assert_int_equal(fsbarrier_sync_many(p, bad, 3), -EBADF);
    assert_int_equal(fsbarrier_syncs(p), 6);
    fsbarrier_free(p);
    struct fsbarrier *n = fsbarrier_new(f->dfd, FSBARRIER_NONE);
    assert_int_equal(fsbarrier_sync_many(n, bad, 3), 0);
    assert_int_equal(fsbarrier_syncs(n), 0);
    fsbarrier_free(n);
    close(fd);
}

static void test_free_null(void **state)
{
    (void)state;
    fsbarrier_free(NULL);
}

struct worker {
    struct fsbarrier *b;
    int fd;
    int failures;
    int done;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < CALLS; i++) {
        char c = (char)('a' + i % 26);
        if (pwrite(w->fd, &c, 1, i) != 1 || fsbarrier_sync(w->b, w->fd) != 0)
            w->failures++;
        else
            w->done++;
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* THREADS workers, CALLS syncs each, through b; a lost wake-up would hang: SIGALRM's
 * default action ends the binary with a failure. */
static void run_workers(struct fixture *f, struct fsbarrier *b, struct worker w[THREADS])
{
    pthread_t th[THREADS];
    alarm(60);
    for (int i = 0; i < THREADS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "w%d", i);
        w[i] = (struct worker){b, open_file(f, name), 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    alarm(0);
}

static void run_threads(struct fixture *f, enum fsbarrier_mode mode)
{
    struct fsbarrier *b = fsbarrier_new(f->dfd, mode);
    struct worker w[THREADS];
    double t0 = now_s();
    run_workers(f, b, w);
    double dt = now_s() - t0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].failures, 0);
        assert_int_equal(w[i].done, CALLS);
        char buf[CALLS];
        assert_int_equal(pread(w[i].fd, buf, sizeof(buf), 0), CALLS);
        for (int j = 0; j < CALLS; j++)
            assert_int_equal(buf[j], 'a' + j % 26);
        close(w[i].fd);
    }
    fsbarrier_free(b);
    assert_true(dt < 30.0);
}

static void test_group_threads(void **state)
{
    run_threads(*state, FSBARRIER_GROUP);
}

/* A failed sync fails every waiter it covered: none of them may report its data durable. */
static void test_group_failure_reaches_every_waiter(void **state)
{
    struct fixture *f = *state;
    struct fsbarrier *b = fsbarrier_new(-1, FSBARRIER_GROUP); /* syncfs(-1): EBADF */
    struct worker w[THREADS];
    run_workers(f, b, w);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].failures, CALLS);
        assert_int_equal(w[i].done, 0);
        close(w[i].fd);
    }
    assert_int_equal(fsbarrier_sync(b, f->dfd), -EBADF);
    fsbarrier_free(b);
}

static void test_file_threads(void **state)
{
    run_threads(*state, FSBARRIER_FILE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_mode_bad_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_none_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_many, setup, teardown),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test_setup_teardown(test_group_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_failure_reaches_every_waiter, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
