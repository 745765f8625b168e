/* Unit tests for dwrite: streams of every awkward size (empty, below a block, around one
 * buffer, more than all buffers together) and any chunking reach the file byte for byte,
 * and a tap (fast or slow) sees the same bytes in order while no slot is refilled under it;
 * an abandoned stream stops; a write error (RLIMIT_FSIZE) is reported; at most DWRITE_MAX
 * writers live at once; a descriptor that cannot be reopened with O_DIRECT gives NULL. The files live below the working directory
 * (the build tree), not $TMPDIR, which may be a tmpfs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dwrite.h"
#include "support.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "dwrite-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    support_rmtree(dir);
    return 0;
}

/* What a tap saw: bytes appended in the order they came, on which threads. */
struct seen {
    unsigned char *data;
    size_t len, cap;
    int calls_off_producer, calls;
    pthread_t producer;
    unsigned delay_us; /* a slow consumer: the producer must wait for it, not overwrite */
};

static void tap(void *arg, const void *p, size_t n)
{
    struct seen *s = arg;
    assert_true(s->len + n <= s->cap);
    if (s->delay_us)
        usleep(s->delay_us);
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->calls++;
    if (!pthread_equal(pthread_self(), s->producer))
        s->calls_off_producer++;
}

static int open_new(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    return fd;
}

/* Streams total bytes in chunks of 1..maxchunk (fixed when fixed) and checks the file, and
 * what a tap saw (none when tap_delay_us < 0). */
static void stream(size_t total, size_t maxchunk, int fixed, unsigned seed, int tap_delay_us)
{
    unsigned char *data = malloc(total + 1), *back = malloc(total + 1);
    assert_non_null(data);
    assert_non_null(back);
    support_fill(data, total, seed);
    struct seen sn = {.data = malloc(total + 1), .cap = total, .producer = pthread_self(),
                      .delay_us = tap_delay_us > 0 ? (unsigned)tap_delay_us : 0};
    assert_non_null(sn.data);
    int fd = open_new("s.bin");
    struct dwrite *w = dwrite_new(fd, tap_delay_us < 0 ? NULL : tap, &sn);
    assert_non_null(w); /* the build tree's filesystem takes O_DIRECT */
    size_t at = 0;
    uint32_t r = seed | 1;
    for (int guard = 0; at < total && guard < 10000000; guard++) {
        r = r * 1103515245u + 12345u;
        size_t n = fixed ? maxchunk : 1 + (r >> 8) % maxchunk;
        if (n > total - at)
            n = total - at;
        assert_int_equal(dwrite_append(w, data + at, n), 0);
        at += n;
    }
    assert_int_equal(at, total);
    assert_int_equal(dwrite_size(w), total);
    assert_int_equal(dwrite_finish(w), 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, total);
    assert_int_equal(pread(fd, back, total, 0), (ssize_t)total);
    assert_memory_equal(back, data, total);
    if (tap_delay_us >= 0) {
        assert_int_equal(sn.len, total);
        assert_memory_equal(sn.data, data, total);
        /* whole buffers are seen on the tap's thread, only the tail on the producer's */
        assert_int_equal(sn.calls_off_producer, total / DWRITE_BUF);
        assert_int_equal(sn.calls, total / DWRITE_BUF + (total % DWRITE_BUF != 0));
    } else {
        assert_int_equal(sn.calls, 0);
    }
    close(fd);
    free(data);
    free(back);
    free(sn.data);
}

static void test_sizes_and_chunkings(void **state)
{
    (void)state;
    const size_t sizes[] = {0,          1,
                            4095,       4096,
                            DWRITE_BUF - 1, DWRITE_BUF,
                            DWRITE_BUF + 1, 3 * (size_t)DWRITE_BUF,
                            (DWRITE_BUFS + 5) * (size_t)DWRITE_BUF + 12345};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        stream(sizes[i], 100 * 1024, 0, (unsigned)i + 1, -1);
        stream(sizes[i], 7, 1, (unsigned)i + 11, -1);
        stream(sizes[i], 100 * 1024, 0, (unsigned)i + 31, 0);
    }
    /* one append of a buffer exactly, and of several buffers at once */
    stream(5 * (size_t)DWRITE_BUF + 3, DWRITE_BUF, 1, 21, -1);
    stream((DWRITE_BUFS + 3) * (size_t)DWRITE_BUF + 99, 3 * DWRITE_BUF + 5, 1, 22, -1);
    stream((DWRITE_BUFS + 3) * (size_t)DWRITE_BUF + 99, 3 * DWRITE_BUF + 5, 1, 23, 0);
}

/* A tap slower than the producer: a slot must wait for it as well as for the writer, or the
 * bytes it reads would already be the next buffer's. */
static void test_slow_tap_is_waited_for(void **state)
{
    (void)state;
    stream((2 * DWRITE_BUFS + 1) * (size_t)DWRITE_BUF + 777, 64 * 1024, 0, 41, 20000);
}

static void test_abort_midway(void **state)
{
    (void)state;
    size_t n = 5 * (size_t)DWRITE_BUF / 2;
    unsigned char *data = malloc(n);
    assert_non_null(data);
    support_fill(data, n, 5);
    int fd = open_new("a.bin");
    struct seen sn = {.data = malloc(n), .cap = n, .producer = pthread_self()};
    assert_non_null(sn.data);
    struct dwrite *w = dwrite_new(fd, tap, &sn);
    assert_non_null(w);
    assert_int_equal(dwrite_append(w, data, n), 0);
    dwrite_abort(w);
    dwrite_abort(NULL);
    assert_true(sn.len <= 2 * (size_t)DWRITE_BUF); /* the tail is never tapped */
    assert_memory_equal(sn.data, data, sn.len);
    free(sn.data);
    close(fd);
    free(data);
}

static void test_write_error_is_reported(void **state)
{
    (void)state;
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 2 * DWRITE_BUF; /* the third buffer fails with EFBIG */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    size_t n = 8 * (size_t)DWRITE_BUF + 10;
    unsigned char *data = calloc(1, n);
    assert_non_null(data);
    int fd = open_new("e.bin");
    struct dwrite *w = dwrite_new(fd, NULL, NULL);
    assert_non_null(w);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += 64 * 1024)
        rc = dwrite_append(w, data + at, n - at < 64 * 1024 ? n - at : 64 * 1024);
    int frc = dwrite_finish(w);
    assert_true(rc == -EFBIG || (rc == 0 && frc == -EFBIG));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    close(fd);
    free(data);
}

static void test_at_most_max_writers(void **state)
{
    (void)state;
    int fds[DWRITE_MAX + 1];
    struct dwrite *w[DWRITE_MAX + 1];
    for (int i = 0; i <= DWRITE_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        fds[i] = open_new(name);
        w[i] = dwrite_new(fds[i], NULL, NULL);
    }
    for (int i = 0; i < DWRITE_MAX; i++)
        assert_non_null(w[i]);
    assert_null(w[DWRITE_MAX]); /* the caller writes the ordinary way */
    dwrite_abort(w[0]);
    struct dwrite *again = dwrite_new(fds[DWRITE_MAX], NULL, NULL); /* a freed slot is usable */
    assert_non_null(again);
    assert_int_equal(dwrite_append(again, "x", 1), 0);
    assert_int_equal(dwrite_finish(again), 0);
    for (int i = 1; i < DWRITE_MAX; i++)
        assert_int_equal(dwrite_finish(w[i]), 0);
    for (int i = 0; i <= DWRITE_MAX; i++)
        close(fds[i]);
}

static void test_no_direct_gives_null(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_null(dwrite_new(sv[0], NULL, NULL)); /* a socket cannot be reopened through /proc */
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sizes_and_chunkings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_tap_is_waited_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_midway, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_at_most_max_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_direct_gives_null, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
