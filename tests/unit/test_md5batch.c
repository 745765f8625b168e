/* Unit tests for md5batch through digest_new_batched: many streams of one thread, fed in
 * interleaved pieces of every size, finished or abandoned in any order, each end in the MD5
 * of its own bytes, with the portable lanes and (on a CPU with AVX-512) the fast ones, while
 * the buffers they hold stay within the thread's budget; a stream used by another thread
 * stops the process instead of corrupting another list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "md5batch.h"
#include "support.h"

#define STREAMS 40
#define MAXLEN (300 * 1024)
#define CHUNK (16 * 1024) /* md5batch.c's */

struct msg {
    unsigned char *data;
    size_t len, fed;
    struct digest *d;
    bool done;
};

static uint32_t rnd(uint32_t *r)
{
    *r = *r * 1103515245u + 12345u;
    return *r >> 8;
}

/* Finishes d, checks its digest against data's and frees it. */
static void expect_md5(struct digest *d, const unsigned char *data, size_t len)
{
    char want[DIGEST_HEX_MAX], got[DIGEST_HEX_MAX];
    digest_md5_hex(data, len, want);
    digest_final_hex(d, got);
    assert_string_equal(got, want);
    digest_free(d);
}

static void run(unsigned seed)
{
    struct msg m[STREAMS];
    uint32_t r = seed;
    for (int i = 0; i < STREAMS; i++) {
        /* edges of a block and of a buffer among the random lengths */
        static const size_t edge[] = {0, 1, 55, 56, 63, 64, 65, CHUNK - 1, CHUNK, CHUNK + 1};
        m[i].len = i < 10 ? edge[i] : rnd(&r) % MAXLEN;
        m[i].data = malloc(m[i].len + 1);
        support_fill(m[i].data, m[i].len, seed * 100 + (unsigned)i);
        m[i].fed = 0;
        m[i].done = false;
        /* a third say how long they will be: the small ones of those are not batched */
        m[i].d = digest_new_batched(DIGEST_MD5, i % 3 ? 0 : m[i].len);
        assert_non_null(m[i].d);
    }
    int left = STREAMS;
    for (int round = 0; left && round < 100000; round++) {
        struct msg *x = &m[rnd(&r) % STREAMS];
        if (x->done)
            continue;
        size_t k = rnd(&r) % (rnd(&r) % 2 ? 100 : 40000);
        if (k > x->len - x->fed)
            k = x->len - x->fed;
        digest_update(x->d, x->data + x->fed, k);
        x->fed += k;
        assert_true(md5batch_held() + md5batch_spare() <= MD5BATCH_THREAD);
        if (x->fed == x->len && rnd(&r) % 4 == 0) {
            expect_md5(x->d, x->data, x->len);
            x->done = true;
            left--;
        } else if (x == &m[STREAMS - 1] && x->fed > x->len / 2) {
            digest_free(x->d); /* an abandoned upload: its stream leaves the list */
            x->done = true;
            left--;
        }
    }
    assert_int_equal(left, 0);
    assert_int_equal(md5batch_held(), 0);
    assert_int_equal(md5batch_spare(), 0);
    for (int i = 0; i < STREAMS; i++)
        free(m[i].data);
}

/* Chunks a finished stream emptied wait for the next stream while others are open, are
 * taken before any new one, and are freed with the thread's last stream. */
static void test_spare_chunks(void **state)
{
    (void)state;
    md5batch_use(md5x16_portable);
    static unsigned char data[5 * CHUNK];
    support_fill(data, sizeof data, 42);
    struct digest *a = digest_new_batched(DIGEST_MD5, 0), *b = digest_new_batched(DIGEST_MD5, 0);
    digest_update(a, data, 5 * CHUNK);
    digest_update(b, data, 100);
    assert_int_equal(md5batch_held(), 6 * CHUNK);
    expect_md5(a, data, 5 * CHUNK);
    assert_int_equal(md5batch_held(), CHUNK);
    assert_int_equal(md5batch_spare(), 5 * CHUNK);
    struct digest *c = digest_new_batched(DIGEST_MD5, 0);
    digest_update(c, data, 3 * CHUNK);
    assert_int_equal(md5batch_held(), 4 * CHUNK);
    assert_int_equal(md5batch_spare(), 2 * CHUNK);
    expect_md5(c, data, 3 * CHUNK);
    digest_free(b);
    assert_int_equal(md5batch_held(), 0);
    assert_int_equal(md5batch_spare(), 0);
    md5batch_use(NULL);
}

/* A kernel that counts, for tests/: rounds it ran and the fewest lanes live in any of them. */
static size_t rounds_seen, fewest_live;

static void counting_lanes(uint32_t h[4][MD5X16_LANES], const unsigned char *const p[MD5X16_LANES],
                           const size_t n[MD5X16_LANES])
{
    size_t most = 0;
    for (int i = 0; i < MD5X16_LANES; i++)
        most = n[i] > most ? n[i] : most;
    for (size_t b = 0; b < most; b++) {
        size_t live = 0;
        for (int i = 0; i < MD5X16_LANES; i++)
            live += n[i] > b;
        fewest_live = live < fewest_live ? live : fewest_live;
    }
    rounds_seen += most;
    md5x16_portable(h, p, n);
}

/* A round of the lanes costs about two blocks hashed alone, so no round runs with fewer than
 * three lanes live: a stream that ends with more blocks than its companions has the excess
 * hashed alone, and the companions keep theirs beyond the third largest for later company. */
static void test_lanes_stay_three_deep(void **state)
{
    (void)state;
    enum { B = 64 };
    static unsigned char data[4][1000 * B];
    for (unsigned i = 0; i < 4; i++)
        support_fill(data[i], sizeof data[i], 900 + i);
    md5batch_use(counting_lanes);
    /* 1000 blocks ending, with three companions of 400: 400 rounds with four lanes live */
    rounds_seen = 0;
    fewest_live = MD5X16_LANES;
    struct digest *d[4];
    for (int i = 0; i < 4; i++) {
        d[i] = digest_new_batched(DIGEST_MD5, 0);
        digest_update(d[i], data[i], i ? 400 * B : 1000 * B);
    }
    expect_md5(d[0], data[0], 1000 * B);
    assert_int_equal(rounds_seen, 400);
    assert_int_equal(fewest_live, 4);
    assert_int_equal(md5batch_held(), 0); /* the companions' blocks are all hashed */
    for (int i = 1; i < 4; i++)
        expect_md5(d[i], data[i], 400 * B);
    /* 1000 ending, companions of 700 and 400: as deep as the third (400); the 700 keeps
     * its last 300 blocks, in the chunks they fill (256 blocks to a chunk) */
    rounds_seen = 0;
    fewest_live = MD5X16_LANES;
    static const size_t len[3] = {1000 * B, 700 * B, 400 * B};
    for (int i = 0; i < 3; i++) {
        d[i] = digest_new_batched(DIGEST_MD5, 0);
        digest_update(d[i], data[i], len[i]);
    }
    expect_md5(d[0], data[0], len[0]);
    assert_int_equal(rounds_seen, 400);
    assert_int_equal(fewest_live, 3);
    assert_int_equal(md5batch_held(), 2 * CHUNK);
    /* two streams: no company worth the lanes, each is hashed alone */
    rounds_seen = 0;
    expect_md5(d[1], data[1], len[1]);
    expect_md5(d[2], data[2], len[2]);
    assert_int_equal(rounds_seen, 0);
    assert_int_equal(md5batch_held(), 0);
    md5batch_use(NULL);
}

static void test_portable_lanes(void **state)
{
    (void)state;
    md5batch_use(md5x16_portable);
    for (unsigned seed = 1; seed <= 6; seed++)
        run(seed);
    md5batch_use(NULL);
}

static void test_fast_lanes(void **state)
{
    (void)state;
    md5x16_fn *fn = md5x16_fast();
    if (!fn) {
        print_message("no AVX-512 on this CPU: batching is off, and tested with portable lanes\n");
        skip();
    }
    md5batch_use(fn);
    for (unsigned seed = 1; seed <= 6; seed++)
        run(seed);
    md5batch_use(NULL);
}

/* Uploads that trickle in (one at a time, a few bytes each, as a slow client sends) must not
 * each pin a chunk: bytes short of a block wait in the stream, and a chunk holds at least a
 * block, so the budget holds for any number of streams. */
static void test_many_short_streams(void **state)
{
    (void)state;
    md5batch_use(md5x16_portable);
    enum { N = 300 };
    static unsigned char data[N][200];
    struct digest *d[N];
    for (int i = 0; i < N; i++) {
        support_fill(data[i], sizeof data[i], 7000 + (unsigned)i);
        d[i] = digest_new_batched(DIGEST_MD5, 0);
        digest_update(d[i], data[i], 10);
    }
    assert_int_equal(md5batch_held(), 0);
    for (int i = 0; i < N; i++) { /* a block and a half each: 300 chunks if each kept one */
        digest_update(d[i], data[i] + 10, 90);
        assert_true(md5batch_held() + md5batch_spare() <= MD5BATCH_THREAD);
    }
    for (int i = 0; i < N; i++) {
        digest_update(d[i], data[i] + 100, 100);
        expect_md5(d[i], data[i], sizeof data[i]);
    }
    assert_int_equal(md5batch_held(), 0);
    md5batch_use(NULL);
}

static void *update_elsewhere(void *arg)
{
    digest_update(arg, "x", 1);
    return NULL;
}

static void test_other_thread_stops(void **state)
{
    (void)state;
    md5batch_use(md5x16_portable);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct digest *d = digest_new_batched(DIGEST_MD5, 0);
        pthread_t t;
        pthread_create(&t, NULL, update_elsewhere, d);
        pthread_join(t, NULL);
        _exit(0); /* not reached */
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    md5batch_use(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable_lanes),
        cmocka_unit_test(test_fast_lanes),
        cmocka_unit_test(test_many_short_streams),
        cmocka_unit_test(test_spare_chunks),
        cmocka_unit_test(test_lanes_stay_three_deep),
        cmocka_unit_test(test_other_thread_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
