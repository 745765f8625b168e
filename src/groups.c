/* Other groups and upload placement (see groups.h). The map is parsed once from cfg and
 * never changes, so lookups need no lock; the free-space cache has its own. */
#include "groups.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "errcode.h"
#include "log.h"
#include "peer.h"
#include "server.h"
#include "store.h"
#include "xalloc.h"

#define GROUPS_MAX 32
#define NODES_MAX 16
#define FREE_TTL_S 10

struct group {
    char name[64];
    char nodes[NODES_MAX][256];
    size_t nnodes;
    atomic_uint rr;
    long long free_bytes;
    time_t free_at;
};

struct groups {
    struct group g[GROUPS_MAX];
    size_t n;
    atomic_uint rr;
    struct peer_client *pc;
    pthread_mutex_t mu; /* free-space cache */
};

int groups_start(struct server *srv)
{
    struct groups *gs = xcalloc(1, sizeof *gs);
    pthread_mutex_init(&gs->mu, NULL);
    for (size_t i = 0; i < srv->cfg.group_nodes.n && gs->n < GROUPS_MAX; i++) {
        const char *e = srv->cfg.group_nodes.v[i];
        const char *eq = strchr(e, '=');
        if (!eq || (size_t)(eq - e) >= sizeof gs->g[0].name)
            continue;
        struct group *g = &gs->g[gs->n];
        memcpy(g->name, e, (size_t)(eq - e));
        g->name[eq - e] = '\0';
        const char *p = eq + 1;
        while (*p && g->nnodes < NODES_MAX) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            while (l && p[l - 1] == '/')
                l--;
            if (l > 0 && l < sizeof g->nodes[0]) {
                memcpy(g->nodes[g->nnodes], p, l);
                g->nodes[g->nnodes++][l] = '\0';
            }
            p = comma ? comma + 1 : p + strlen(p);
        }
        if (g->nnodes && strcmp(g->name, srv->cfg.group) != 0)
            gs->n++;
    }
    if (gs->n && peer_client_new(srv->cfg.cluster_secret ? srv->cfg.cluster_secret : "",
                                 srv->cfg.host ? srv->cfg.host : "", &gs->pc) < 0) {
        free(gs);
        return -EIO;
    }
    if (gs->pc)
        peer_client_set_ca(gs->pc, srv->cfg.https_ca_file);
    srv->groups = gs;
    if (gs->n)
        log_info("groups", "%zu other groups known", gs->n);
    return 0;
}

void groups_stop(struct server *srv)
{
    struct groups *gs = srv->groups;
    if (!gs)
        return;
    peer_client_free(gs->pc);
    pthread_mutex_destroy(&gs->mu);
    free(gs);
    srv->groups = NULL;
}

static struct group *find(struct groups *gs, const char *name)
{
    for (size_t i = 0; gs && i < gs->n; i++)
        if (strcmp(gs->g[i].name, name) == 0)
            return &gs->g[i];
    return NULL;
}

const char *groups_node(struct server *srv, const char *name)
{
    struct group *g = find(srv->groups, name);
    if (!g)
        return NULL;
    unsigned k = atomic_fetch_add(&g->rr, 1);
    return g->nodes[k % g->nnodes];
}

/* Free bytes of a group as its first reachable node reports them (cached). */
static long long group_free(struct groups *gs, struct group *g)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&gs->mu);
    if (g->free_at && now - g->free_at < FREE_TTL_S) {
        long long f = g->free_bytes;
        pthread_mutex_unlock(&gs->mu);
        return f;
    }
    pthread_mutex_unlock(&gs->mu);
    long long best = -1;
    char path[96];
    snprintf(path, sizeof path, "/%s/status", g->name);
    for (size_t i = 0; i < g->nnodes && best < 0; i++) {
        struct peer_resp r = {0};
        if (peer_request(gs->pc, "GET", g->nodes[i], path, NULL, 0, NULL, 0, 1000, 256 * 1024,
                         &r) == 0 && r.status == 200) {
            json_t *o = json_loadb(r.body, r.len, 0, NULL);
            json_t *disk = o ? json_object_get(json_object_get(o, "data"), "Sys.DiskInfo") : NULL;
            json_t *f = disk ? json_object_get(disk, "free") : NULL;
            if (f && json_is_integer(f))
                best = json_integer_value(f);
            json_decref(o);
        }
        peer_resp_fini(&r);
    }
    pthread_mutex_lock(&gs->mu);
    g->free_bytes = best;
    g->free_at = now;
    pthread_mutex_unlock(&gs->mu);
    return best;
}

int groups_pick(struct server *srv, char *out, size_t cap)
{
    struct groups *gs = srv->groups;
    const char *own = srv->cfg.group;
    size_t n = gs ? gs->n : 0;
    if (srv->cfg.store_lookup == 1 && srv->cfg.store_group && *srv->cfg.store_group) {
        snprintf(out, cap, "%s", srv->cfg.store_group);
        return 0;
    }
    if (srv->cfg.store_lookup == 2 && n) {
        struct statvfs vf;
        long long mine = fstatvfs(store_files_fd(srv->store), &vf) == 0
                             ? (long long)vf.f_bavail * (long long)vf.f_frsize : 0;
        const char *best = own;
        long long bestf = mine;
        for (size_t i = 0; i < n; i++) {
            long long f = group_free(gs, &gs->g[i]);
            if (f > bestf) {
                bestf = f;
                best = gs->g[i].name;
            }
        }
        snprintf(out, cap, "%s", best);
        return 0;
    }
    unsigned k = gs ? atomic_fetch_add(&gs->rr, 1) : 0;
    size_t pick = k % (n + 1);
    snprintf(out, cap, "%s", pick == 0 ? own : gs->g[pick - 1].name);
    return 0;
}
