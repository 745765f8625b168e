/* A chained hash table of path -> bytes with an LRU list through the entries, under one
 * mutex (lookups copy a few KiB and take well under a microsecond, so the HTTP threads do
 * not queue on it). The budget counts content bytes plus a fixed overhead per entry. A
 * thread frees entries nobody has used for a while, so a burst of downloads does not leave
 * its budget resident for the uploads that follow. */
#include "filecache.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define ENTRY_OVERHEAD 128 /* struct, key and allocator slack, roughly */

struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* LRU: head is the most recent */
    unsigned hash;
    long long born_ms;
    long long used_ms; /* last hit or put: the LRU order */
    time_t mtime;
    size_t len;
    char *data;
    char key[];
};

struct filecache {
    pthread_mutex_t mu;
    struct entry **buckets;
    size_t nbuckets;
    struct entry *head, *tail;
    size_t budget, used, count;
    long long idle_ms;
    pthread_cond_t cv;
    pthread_t sweeper;
    bool sweeping, stop;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned hash_of(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void *sweeper_main(void *arg);

struct filecache *filecache_new(size_t budget)
{
    if (budget == 0)
        return NULL;
    struct filecache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    /* about one bucket per 4 KiB of budget: short chains for small files */
    c->nbuckets = 64;
    while (c->nbuckets < budget / 4096 && c->nbuckets < (1u << 20))
        c->nbuckets *= 2;
    c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
    c->budget = budget;
    c->idle_ms = FILECACHE_IDLE_MS;
    pthread_cond_init(&c->cv, NULL);
    c->sweeping = pthread_create(&c->sweeper, NULL, sweeper_main, c) == 0;
    return c;
}

static void lru_unlink(struct filecache *c, struct entry *e)
{
    if (!e)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct filecache *c, struct entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static struct entry **find_slot(struct filecache *c, const char *key, unsigned h)
{
    struct entry **p = &c->buckets[h & (c->nbuckets - 1)];
    while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
        p = &(*p)->hnext;
    return p;
}

static void remove_entry(struct filecache *c, struct entry **slot)
{
    struct entry *e = *slot;
    if (!e)
        return; /* callers pass found slots; this keeps the optimiser's proofs simple */
    *slot = e->hnext;
    lru_unlink(c, e);
    c->used -= e->len + ENTRY_OVERHEAD;
    c->count--;
    free(e->data);
    free(e);
}

/* Under mu: frees the least recently used entries idle since before now - idle_ms. */
static size_t sweep_locked(struct filecache *c, long long now)
{
    size_t n = 0;
    while (c->tail && now - c->tail->used_ms > c->idle_ms) {
        remove_entry(c, find_slot(c, c->tail->key, c->tail->hash));
        n++;
    }
    return n;
}

#define TRIM_AFTER (1024 * 1024)

size_t filecache_sweep(struct filecache *c, long long now)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    size_t n = sweep_locked(c, now);
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void *sweeper_main(void *arg)
{
    struct filecache *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        long long wait = c->idle_ms < 1000 ? c->idle_ms : 1000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        size_t before = c->used;
        sweep_locked(c, now_ms());
        if (before - c->used >= TRIM_AFTER) {
            /* the freed entries lie scattered among the HTTP threads' arenas, where they
             * would stay resident until reused: hand their pages back */
            pthread_mutex_unlock(&c->mu);
            malloc_trim(0);
            pthread_mutex_lock(&c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void filecache_set_idle_ms(struct filecache *c, long long ms)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->idle_ms = ms > 0 ? ms : 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void filecache_free(struct filecache *c)
{
    if (!c)
        return;
    if (c->sweeping) {
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->sweeper, NULL);
    }
    pthread_cond_destroy(&c->cv);
    while (c->head)
        remove_entry(c, find_slot(c, c->head->key, c->head->hash));
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int filecache_get(struct filecache *c, const char *rel, char **data, size_t *len,
                  time_t *mtime)
{
    if (!c)
        return -ENOENT;
    unsigned h = hash_of(rel);
    pthread_mutex_lock(&c->mu);
    struct entry **slot = find_slot(c, rel, h);
    struct entry *e = *slot;
    int rc = -ENOENT;
    if (e && now_ms() - e->born_ms > FILECACHE_TTL_MS) {
        /* a miss: the caller reads the file again, and its put renews this entry in place
         * when the bytes are the same (the common case) */
    } else if (e) {
        *data = xmalloc(e->len + 1);
        memcpy(*data, e->data, e->len);
        *len = e->len;
        *mtime = e->mtime;
        e->used_ms = now_ms();
        lru_unlink(c, e);
        lru_front(c, e);
        rc = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Renewing in place matters for memory, not just speed: a replacement would be allocated by
 * whichever HTTP thread read the file, so with every entry re-read once a TTL, the cache's
 * bytes would spread over every thread's malloc arena, each keeping what the others freed. */
static bool renew(struct filecache *c, const char *rel, unsigned h, const void *data,
                  size_t len, time_t mtime)
{
    pthread_mutex_lock(&c->mu);
    struct entry *e = *find_slot(c, rel, h);
    bool same = e && e->len == len && e->mtime == mtime && memcmp(e->data, data, len) == 0;
    if (same) {
        e->born_ms = e->used_ms = now_ms();
        lru_unlink(c, e);
        lru_front(c, e);
    }
    pthread_mutex_unlock(&c->mu);
    return same;
}

bool filecache_put(struct filecache *c, const char *rel, const void *data, size_t len,
                   time_t mtime)
{
    size_t kl = strlen(rel);
    if (!c || len > FILECACHE_ENTRY_MAX || len + ENTRY_OVERHEAD > c->budget || kl > 4096)
        return false;
    if (renew(c, rel, hash_of(rel), data, len, mtime))
        return true;
    struct entry *e = xmalloc(sizeof *e + kl + 1);
    memcpy(e->key, rel, kl + 1);
    e->hash = hash_of(rel);
    e->data = xmalloc(len + 1);
    memcpy(e->data, data, len);
    e->len = len;
    e->mtime = mtime;
    e->born_ms = e->used_ms = now_ms();
    e->prev = e->next = e->hnext = NULL;
    pthread_mutex_lock(&c->mu);
    struct entry **slot = find_slot(c, rel, e->hash);
    if (*slot)
        remove_entry(c, slot);
    while (c->tail && c->used + len + ENTRY_OVERHEAD > c->budget)
        remove_entry(c, find_slot(c, c->tail->key, c->tail->hash));
    e->hnext = c->buckets[e->hash & (c->nbuckets - 1)];
    c->buckets[e->hash & (c->nbuckets - 1)] = e;
    lru_front(c, e);
    c->used += len + ENTRY_OVERHEAD;
    c->count++;
    pthread_mutex_unlock(&c->mu);
    return false;
}

void filecache_drop(struct filecache *c, const char *rel)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    struct entry **slot = find_slot(c, rel, hash_of(rel));
    if (*slot)
        remove_entry(c, slot);
    pthread_mutex_unlock(&c->mu);
}

void filecache_stats(struct filecache *c, size_t *entries, size_t *bytes)
{
    *entries = *bytes = 0;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    *entries = c->count;
    *bytes = c->used;
    pthread_mutex_unlock(&c->mu);
}
