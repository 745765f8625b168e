/* Route matching over a table handed in by server.c: exact paths first, then the longest
 * prefix. Group routes get the "/<group>" prefix when group management is on. */
#include "http_router.h"

#include <stdio.h>
#include <string.h>

#include "errcode.h"

void http_router_init(struct http_router *r, const struct route *routes, size_t n,
                      const char *group, bool group_manage)
{
    r->routes = routes;
    r->nroutes = n;
    r->group_prefix[0] = '\0';
    if (group_manage && group && *group)
        snprintf(r->group_prefix, sizeof r->group_prefix, "/%s", group);
    r->group_len = strlen(r->group_prefix);
}

/* Does url match the route's full path? For prefix routes *rest gets the remainder. */
static bool path_matches(const struct http_router *r, const struct route *rt, const char *url,
                         const char **rest, size_t *mlen)
{
    const char *u = url;
    if (rt->flags & ROUTE_GROUP) {
        if (strncmp(u, r->group_prefix, r->group_len) != 0)
            return false;
        u += r->group_len;
    }
    /* Every request looks at every route: the first two bytes ("/" and the name's first
     * letter) turn most away before the lengths and the full comparison. */
    if (rt->path[0] && rt->path[1] && (u[0] != rt->path[0] || u[1] != rt->path[1]))
        return false;
    size_t pl = strlen(rt->path);
    if (rt->flags & ROUTE_PREFIX) {
        if (strncmp(u, rt->path, pl) != 0)
            return false;
        *rest = u + pl;
        *mlen = (size_t)(u - url) + pl;
        return true;
    }
    *mlen = (size_t)(u - url) + pl;
    return strcmp(u, rt->path) == 0;
}

int http_router_match(const struct http_router *r, enum http_method m, const char *url,
                      const struct route **out, const char **rest)
{
    const struct route *best = NULL;
    const char *best_rest = NULL;
    size_t best_len = 0;
    bool best_exact = false;
    for (size_t i = 0; i < r->nroutes; i++) {
        const struct route *rt = &r->routes[i];
        const char *rs = NULL;
        size_t ml = 0;
        if (!path_matches(r, rt, url, &rs, &ml))
            continue;
        bool exact = !(rt->flags & ROUTE_PREFIX);
        if (!best || (exact && !best_exact) || (exact == best_exact && ml > best_len)) {
            best = rt;
            best_rest = rs;
            best_len = ml;
            best_exact = exact;
        }
    }
    if (!best)
        return ERR_NOTFOUND;
    *out = best;
    *rest = best_rest;
    return (best->methods & m) ? 0 : ERR_METHOD;
}

void http_router_allow(unsigned methods, char *out, size_t outcap)
{
    static const char *names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(methods & (1u << i)))
            continue;
        size_t need = (len ? 2 : 0) + strlen(names[i]);
        if (len + need >= outcap)
            break; /* never half a method name */
        snprintf(out + len, outcap - len, "%s%s", len ? ", " : "", names[i]);
        len += need;
    }
}
