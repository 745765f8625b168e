/* Expiry and bulk deletes (see lifecycle.h). The sweeper collects a bounded batch of
 * victims per pass, then deletes each under its content's lock, like api_delete. */
#include "lifecycle.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "content.h"
#include "fileinfo.h"
#include "log.h"
#include "meta.h"
#include "server.h"
#include "store.h"
#include "sync.h"
#include "xalloc.h"

#define BATCH 256

struct lifecycle {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

struct victims {
    struct file_info *v;
    size_t n, max;
    time_t now;
    const char *day, *prefix;
};

static int expired_cb(void *ctx, const struct file_info *fi)
{
    struct victims *s = ctx;
    if (fi->expire_at && fi->expire_at <= (int64_t)s->now)
        s->v[s->n++] = *fi;
    return s->n >= s->max ? 1 : 0;
}

static int match_cb(void *ctx, const struct file_info *fi)
{
    struct victims *s = ctx;
    bool hit = false;
    if (s->day) {
        char d[16];
        path_day((time_t)fi->timestamp, d, sizeof d);
        hit = strcmp(d, s->day) == 0;
    } else if (s->prefix) {
        char rel[PATH_MAX_REL + 8];
        size_t pl = strlen(s->prefix);
        hit = fileinfo_rel(fi, rel, sizeof rel) == 0 && strncmp(rel, s->prefix, pl) == 0 &&
              (rel[pl] == '/' || rel[pl] == '\0' || s->prefix[pl - 1] == '/');
    }
    if (hit)
        s->v[s->n++] = *fi;
    return s->n >= s->max ? 1 : 0;
}

static long long remove_all(struct server *srv, struct victims *s)
{
    long long done = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct file_info *fi = &s->v[i];
        pthread_mutex_t *lk = server_digest_lock(srv, fi->md5);
        pthread_mutex_lock(lk);
        int rc = sync_index(srv, fi, false, true, NULL, 0);
        if (rc == 0)
            content_remove(srv, fi);
        pthread_mutex_unlock(lk);
        done += rc == 0;
    }
    return done;
}

long long lifecycle_expire_now(struct server *srv)
{
    long long total = 0;
    struct victims s = {xcalloc(BATCH, sizeof *s.v), 0, BATCH, time(NULL), NULL, NULL};
    /* batches until a pass finds nothing, bounded */
    for (int round = 0; round < 10000; round++) {
        s.n = 0;
        meta_scan(srv->meta, expired_cb, &s);
        if (s.n == 0)
            break;
        total += remove_all(srv, &s);
    }
    free(s.v);
    if (total)
        log_info("lifecycle", "%lld expired files deleted", total);
    return total;
}

long long lifecycle_delete_matching(struct server *srv, const char *day, const char *prefix,
                                    long long max)
{
    long long total = 0;
    struct victims s = {xcalloc(BATCH, sizeof *s.v), 0, BATCH, time(NULL), day, prefix};
    while (total < max) {
        s.n = 0;
        s.max = (size_t)(max - total < BATCH ? max - total : BATCH);
        meta_scan(srv->meta, match_cb, &s);
        if (s.n == 0)
            break;
        long long d = remove_all(srv, &s);
        total += d;
        if (d == 0)
            break;
    }
    free(s.v);
    return total;
}

static void *sweeper(void *arg)
{
    struct server *srv = arg;
    struct lifecycle *l = srv->lifecycle;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)srv->cfg.lifecycle_interval;
        pthread_mutex_lock(&l->mu);
        if (!l->stop)
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            break;
        lifecycle_expire_now(srv);
        content_compact_due(srv);
    }
    return NULL;
}

int lifecycle_start(struct server *srv)
{
    if (srv->cfg.lifecycle_interval <= 0)
        return 0;
    struct lifecycle *l = xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    srv->lifecycle = l;
    if (pthread_create(&l->thread, NULL, sweeper, srv) != 0) {
        srv->lifecycle = NULL;
        free(l);
        return -EAGAIN;
    }
    return 0;
}

void lifecycle_stop(struct server *srv)
{
    struct lifecycle *l = srv->lifecycle;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    srv->lifecycle = NULL;
}
