/* libmicrohttpd reads a connection until its socket is empty, so one upload's bytes arrive
 * in a burst while the others' wait in their sockets: hashing on arrival would rarely find
 * company. Instead each stream keeps its bytes (a copy: libmicrohttpd reuses its buffer) until
 * its message ends or its thread's chunks run out; then the streams holding the most blocks go
 * through the lanes together. The bytes wait in 16 KiB chunks counted per thread, so what is
 * resident for them is bounded by MD5BATCH_THREAD however many uploads are in flight. */
#include "md5batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

#define CHUNK (16 * 1024) /* a multiple of the block: a block never spans two chunks */
#define CHUNKS_MAX (MD5BATCH_THREAD / CHUNK)

struct chunk {
    struct chunk *next;
    unsigned char data[CHUNK];
};

struct md5batch {
    struct md5batch *prev, *next;
    const void *owner; /* the thread state of the thread that made it */
    md5batch_solo_fn *solo;
    uint32_t h[4];
    uint64_t hashed;            /* bytes in h */
    /* waiting bytes: len of them from head->data[at] on, or in part when there is no head */
    struct chunk *head, *tail;
    size_t at, len;
    unsigned char part[MD5X16_BLOCK];
};

/* One per thread: its streams and the chunks they hold together, and chunks emptied while
 * other streams were still open, kept for the next (malloc and free of 16 KiB took a few
 * percent of a 100 KiB upload). Held plus spare never passes the most held at once, so
 * MD5BATCH_THREAD still bounds them; the spares go when the thread's last stream does. */
struct thread_streams {
    struct md5batch *head;
    size_t chunks;
    struct chunk *spare;
};

static _Thread_local struct thread_streams mine;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static md5x16_fn *cpu_fn;
static _Atomic(md5x16_fn *) test_fn;

/* FILESERVER_MD5_LANES=off turns batching off, =portable runs it without AVX-512 (slower
 * than OpenSSL: for tests of the whole server on any CPU). */
static void pick(void)
{
    const char *e = getenv("FILESERVER_MD5_LANES");
    if (e && strcmp(e, "off") == 0)
        cpu_fn = NULL;
    else if (e && strcmp(e, "portable") == 0)
        cpu_fn = md5x16_portable;
    else
        cpu_fn = md5x16_fast();
}

static md5x16_fn *kernel(void)
{
    md5x16_fn *t = atomic_load_explicit(&test_fn, memory_order_relaxed);
    if (t)
        return t;
    pthread_once(&once, pick);
    return cpu_fn;
}

void md5batch_use(md5x16_fn *fn)
{
    atomic_store(&test_fn, fn);
}

struct md5batch *md5batch_new(size_t expect, md5batch_solo_fn *solo)
{
    if ((expect && expect < MD5BATCH_MIN) || !kernel())
        return NULL;
    struct md5batch *s = xcalloc(1, sizeof *s);
    md5x16_init(s->h);
    s->owner = &mine;
    s->solo = solo;
    s->next = mine.head;
    if (mine.head)
        mine.head->prev = s;
    mine.head = s;
    return s;
}

/* Another thread's streams are in another list, written without a lock: touching one from
 * here is a bug that would corrupt memory later, so it stops the process now. */
static void own(const struct md5batch *s)
{
    if (s->owner != &mine) {
        log_error("md5batch", "stream used by a thread that did not make it");
        abort();
    }
}

/* Whole blocks waiting at the head, in one piece (up to the head chunk's end). */
static size_t head_blocks(const struct md5batch *s)
{
    size_t n = s->len < CHUNK - s->at ? s->len : CHUNK - s->at;
    return n / MD5X16_BLOCK;
}

static struct chunk *chunk_get(void)
{
    struct chunk *c = mine.spare;
    if (c)
        mine.spare = c->next;
    else
        c = xmalloc(sizeof *c);
    c->next = NULL;
    mine.chunks++;
    return c;
}

static void chunk_put(struct chunk *c)
{
    c->next = mine.spare;
    mine.spare = c;
    mine.chunks--;
}

/* Drops n hashed blocks from the head, and the chunks they emptied. */
static void consume(struct md5batch *s, size_t n)
{
    size_t done = n * MD5X16_BLOCK;
    s->hashed += done;
    s->len -= done;
    s->at += done;
    if (s->at == CHUNK) {
        struct chunk *c = s->head;
        s->head = c->next;
        if (!s->head)
            s->tail = NULL;
        chunk_put(c);
        s->at = 0;
    }
    /* Less than a block left: it moves into the stream, and the chunk goes back. So every
     * chunk held has a whole block to hash, and a flush always frees one. (`at` is a
     * multiple of the block, so those bytes are all in the head chunk.) */
    if (s->head && s->len < MD5X16_BLOCK) {
        memcpy(s->part, s->head->data + s->at, s->len);
        chunk_put(s->head);
        s->head = s->tail = NULL;
        s->at = 0;
    }
}

/* Hashes q[i] blocks of each lane's stream in the lanes. A round goes as far as each lane's
 * head chunk allows. */
static void lanes(struct md5batch *const lane[], int used, size_t q[])
{
    uint32_t h[4][MD5X16_LANES] = {{0}};
    for (int i = 0; i < used; i++)
        for (int j = 0; j < 4; j++)
            h[j][i] = lane[i]->h[j];
    for (bool more = true; more;) {
        const unsigned char *p[MD5X16_LANES] = {0};
        size_t n[MD5X16_LANES] = {0};
        more = false;
        for (int i = 0; i < used; i++) {
            n[i] = q[i] ? head_blocks(lane[i]) : 0;
            if (n[i] > q[i])
                n[i] = q[i];
            if (n[i]) {
                p[i] = lane[i]->head->data + lane[i]->at;
                more = true;
            }
        }
        if (!more)
            break;
        kernel()(h, p, n);
        for (int i = 0; i < used; i++)
            if (n[i]) {
                consume(lane[i], n[i]);
                q[i] -= n[i];
            }
    }
    for (int i = 0; i < used; i++)
        for (int j = 0; j < 4; j++)
            lane[i]->h[j] = h[j][i];
}

/* Hashes blocks of `first` (if it has any) and of the fullest other streams, up to sixteen.
 * With `upto_first`, every block of first is hashed and no lane takes more blocks than first
 * has: a message that ends does not wait for longer companions. Without it (the chunks ran
 * out), at least one stream is hashed whole, which frees its chunks. */
static void flush(struct md5batch *first, bool upto_first)
{
    struct md5batch *lane[MD5X16_LANES];
    int used = 0, fixed = 0;
    if (first->len >= MD5X16_BLOCK) {
        lane[used++] = first;
        fixed = 1;
    }
    for (struct md5batch *s = mine.head; s; s = s->next) {
        if (s == first || s->len < MD5X16_BLOCK)
            continue;
        /* lane[fixed..] stays ordered fullest first; a new one goes in if it beats the last */
        int pos = used;
        if (used == MD5X16_LANES) {
            if (s->len <= lane[MD5X16_LANES - 1]->len)
                continue;
            pos = MD5X16_LANES - 1;
        } else {
            used++;
        }
        while (pos > fixed && lane[pos - 1]->len < s->len) {
            lane[pos] = lane[pos - 1];
            pos--;
        }
        lane[pos] = s;
    }
    if (!used)
        return;
    size_t quota[MD5X16_LANES], most = lane[0]->len / MD5X16_BLOCK, top[3] = {0, 0, 0};
    for (int i = 0; i < used; i++) {
        quota[i] = lane[i]->len / MD5X16_BLOCK;
        if (!upto_first && quota[i] > most)
            most = quota[i];
        if (quota[i] > most)
            quota[i] = most;
        for (int t = 0; t < 3; t++) /* the three largest quotas, largest first */
            if (quota[i] > top[t]) {
                memmove(top + t + 1, top + t, (size_t)(2 - t) * sizeof *top);
                top[t] = quota[i];
                break;
            }
    }
    /* A round of the lanes costs about what OpenSSL takes for two blocks alone, whatever
     * number of lanes are live in it. So the lanes go only as deep as three of them stay
     * live (the third largest quota); past that the blocks still needed are hashed alone:
     * those of the stream that ends, or, when the thread's chunks ran out, those of the
     * stream holding the most, whose chunks that frees. */
    size_t depth = top[2];
    if (depth) {
        size_t lq[MD5X16_LANES];
        for (int i = 0; i < used; i++) {
            lq[i] = quota[i] < depth ? quota[i] : depth;
            quota[i] -= lq[i];
        }
        lanes(lane, used, lq);
    }
    struct md5batch *s = lane[0];
    size_t left = quota[0];
    for (int i = 1; i < used && !upto_first; i++)
        if (quota[i] > left) {
            s = lane[i];
            left = quota[i];
        }
    while (left) {
        size_t n = head_blocks(s) < left ? head_blocks(s) : left;
        s->solo(s->h, s->head->data + s->at, n);
        consume(s, n);
        left -= n;
    }
}

void md5batch_update(struct md5batch *s, const void *p, size_t n)
{
    const unsigned char *src = p;
    own(s);
    while (n) {
        if (!s->head && s->len + n < MD5X16_BLOCK) { /* still short of a block */
            memcpy(s->part + s->len, src, n);
            s->len += n;
            return;
        }
        size_t end = (s->at + s->len) % CHUNK; /* where the tail chunk is filled to */
        if (!s->head || end == 0) {
            if (mine.chunks >= CHUNKS_MAX) {
                size_t before = mine.chunks;
                flush(s, false); /* it may have hashed s too: look again */
                if (mine.chunks < before)
                    continue;
            }
            struct chunk *c = chunk_get();
            end = 0;
            if (s->tail) {
                s->tail->next = c;
            } else { /* the bytes short of a block come first */
                s->head = c;
                memcpy(c->data, s->part, s->len);
                end = s->len;
            }
            s->tail = c;
        }
        size_t k = CHUNK - end < n ? CHUNK - end : n;
        memcpy(s->tail->data + end, src, k);
        s->len += k;
        src += k;
        n -= k;
    }
}

void md5batch_finish(struct md5batch *s, uint32_t h[4], uint64_t *hashed,
                     const unsigned char **rest, size_t *rest_len)
{
    own(s);
    while (s->len >= MD5X16_BLOCK)
        flush(s, true);
    memcpy(h, s->h, sizeof s->h);
    *hashed = s->hashed;
    *rest = s->head ? s->head->data + s->at : s->part;
    *rest_len = s->len;
}

size_t md5batch_held(void)
{
    return mine.chunks * CHUNK;
}

size_t md5batch_spare(void)
{
    size_t n = 0;
    for (const struct chunk *c = mine.spare; c; c = c->next)
        n += CHUNK;
    return n;
}

void md5batch_free(struct md5batch *s)
{
    if (!s)
        return;
    own(s);
    while (s->head) {
        struct chunk *c = s->head;
        s->head = c->next;
        chunk_put(c);
    }
    if (s->prev)
        s->prev->next = s->next;
    else
        mine.head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    while (!mine.head && mine.spare) {
        struct chunk *c = mine.spare;
        mine.spare = c->next;
        free(c);
    }
}
