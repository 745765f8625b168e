/* The alarm monitor (see alarm.h): one thread that looks at the disk and at the peers'
 * state every alarm_interval seconds and sends on transitions only, so a node that stays
 * down produces one alarm, not one per check. */
#include "alarm.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log.h"
#include "peer.h"
#include "server.h"
#include "store.h"
#include "sync.h"
#include "xalloc.h"

#define CONDITIONS_MAX 40

struct alarm {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct peer_client *pc;
    char raised[CONDITIONS_MAX][160]; /* names of conditions currently raised */
    size_t nraised;
};

static void send_alarm(struct server *srv, struct alarm *a, const char *subject,
                       const char *message)
{
    log_warn("alarm", "%s: %s", subject, message);
    if (srv->cfg.alarm_url && *srv->cfg.alarm_url) {
        struct http_kv form[] = {{"subject", subject}, {"message", message},
                                 {"node", srv->cfg.host ? srv->cfg.host : ""}};
        struct peer_resp r = {0};
        if (peer_post_plain(a->pc, srv->cfg.alarm_url, NULL, 0, form, 3, 5000, 4096, &r) < 0)
            log_error("alarm", "alarm_url unreachable");
        peer_resp_fini(&r);
    }
    if (srv->cfg.alarm_receivers.n && srv->cfg.mail_host && *srv->cfg.mail_host) {
        char rcpts[2048] = "";
        size_t l = 0;
        for (size_t i = 0; i < srv->cfg.alarm_receivers.n; i++) {
            int n = snprintf(rcpts + l, sizeof rcpts - l, "%s%s", l ? "," : "",
                             srv->cfg.alarm_receivers.v[i]);
            if (n < 0 || (size_t)n >= sizeof rcpts - l)
                break;
            l += (size_t)n;
        }
        char subj[256];
        snprintf(subj, sizeof subj, "fileserver %s: %s", srv->cfg.host ? srv->cfg.host : "",
                 subject);
        const char *from = srv->cfg.mail_from && *srv->cfg.mail_from ? srv->cfg.mail_from
                                                                      : "fileserver@localhost";
        if (peer_send_mail(a->pc, srv->cfg.mail_host, srv->cfg.mail_user,
                           srv->cfg.mail_password, from, rcpts, subj, message, 10000) < 0)
            log_error("alarm", "mail to %s failed", rcpts);
    }
}

/* Raises or clears a condition; sends only when its state changes. */
static void condition(struct server *srv, struct alarm *a, const char *name, bool on,
                      const char *message)
{
    size_t i;
    for (i = 0; i < a->nraised; i++)
        if (strcmp(a->raised[i], name) == 0)
            break;
    bool was = i < a->nraised;
    if (on == was)
        return;
    char subject[200];
    if (on) {
        if (a->nraised < CONDITIONS_MAX)
            snprintf(a->raised[a->nraised++], sizeof a->raised[0], "%s", name);
        snprintf(subject, sizeof subject, "%s", name);
    } else {
        memmove(a->raised[i], a->raised[i + 1], (a->nraised - i - 1) * sizeof a->raised[0]);
        a->nraised--;
        snprintf(subject, sizeof subject, "resolved: %s", name);
    }
    send_alarm(srv, a, subject, message);
}

static void check(struct server *srv, struct alarm *a)
{
    char msg[512], name[160];
    struct statvfs vf;
    if (fstatvfs(store_files_fd(srv->store), &vf) == 0 && vf.f_blocks) {
        double used = 100.0 * (double)(vf.f_blocks - vf.f_bavail) / (double)vf.f_blocks;
        snprintf(msg, sizeof msg, "disk of files/ is %.1f%% used (threshold %lld%%)", used,
                 (long long)srv->cfg.alarm_disk_percent);
        condition(srv, a, "disk almost full", used >= (double)srv->cfg.alarm_disk_percent, msg);
    }
    json_t *peers = sync_status_json(srv);
    long long now_ms = (long long)time(NULL) * 1000;
    long long limit = srv->cfg.alarm_peer_down * 1000;
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p) {
        const char *url = json_string_value(json_object_get(p, "peer"));
        bool contacted = json_is_true(json_object_get(p, "contacted"));
        bool reachable = json_is_true(json_object_get(p, "reachable"));
        long long ok = json_integer_value(json_object_get(p, "last_ok_ms"));
        long long since = ok ? ok : (long long)srv->started * 1000;
        bool down = contacted && !reachable && now_ms - since >= limit;
        snprintf(name, sizeof name, "peer %s unreachable", url ? url : "?");
        snprintf(msg, sizeof msg, "peer %s unreachable for %lld s; last error: %s",
                 url ? url : "?", (now_ms - since) / 1000,
                 json_string_value(json_object_get(p, "last_error")));
        condition(srv, a, name, down, msg);
        long long oldest = json_integer_value(json_object_get(p, "oldest_pending"));
        bool lag = oldest && now_ms / 1000 - oldest >= srv->cfg.alarm_peer_down;
        snprintf(name, sizeof name, "replication to %s lagging", url ? url : "?");
        snprintf(msg, sizeof msg, "%lld files wait for %s, the oldest since %lld s",
                 (long long)json_integer_value(json_object_get(p, "queue")), url ? url : "?",
                 oldest ? now_ms / 1000 - oldest : 0);
        condition(srv, a, name, lag, msg);
    }
    json_decref(peers);
}

static void *monitor(void *arg)
{
    struct server *srv = arg;
    struct alarm *a = srv->alarm;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)srv->cfg.alarm_interval;
        pthread_mutex_lock(&a->mu);
        if (!a->stop)
            pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        bool stop = a->stop;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
        check(srv, a);
    }
    return NULL;
}

int alarm_start(struct server *srv)
{
    bool any = (srv->cfg.alarm_url && *srv->cfg.alarm_url) ||
               (srv->cfg.alarm_receivers.n && srv->cfg.mail_host && *srv->cfg.mail_host);
    if (!any || srv->cfg.alarm_interval <= 0)
        return 0;
    struct alarm *a = xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (peer_client_new("", srv->cfg.host ? srv->cfg.host : "", &a->pc) < 0) {
        free(a);
        return -EIO;
    }
    peer_client_set_ca(a->pc, srv->cfg.https_ca_file);
    srv->alarm = a;
    if (pthread_create(&a->thread, NULL, monitor, srv) != 0) {
        peer_client_free(a->pc);
        free(a);
        srv->alarm = NULL;
        return -EAGAIN;
    }
    return 0;
}

void alarm_stop(struct server *srv)
{
    struct alarm *a = srv->alarm;
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    peer_client_free(a->pc);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
    srv->alarm = NULL;
}
