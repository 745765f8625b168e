/* Arguments of a request: query string and form fields, decoded once into owned strings
 * so handlers look them up by name without caring where they came from. */
#include "http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "strparse.h"
#include "xalloc.h"

const char *http_req_arg(const struct http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, name) == 0)
            return req->args[i].value;
    return NULL;
}

int http_req_add_arg(struct http_req *req, const char *key, size_t klen, const char *val,
                     size_t vlen)
{
    if (req->nargs >= HTTP_ARGS_MAX)
        return -EMSGSIZE;
    /* a NUL would silently cut the value short (and a name with it) */
    if (memchr(key, '\0', klen) || memchr(val, '\0', vlen))
        return -EINVAL;
    req->args[req->nargs].key = xstrndup(key, klen);
    req->args[req->nargs].value = xstrndup(val, vlen);
    req->nargs++;
    return 0;
}

int http_req_parse_urlencoded(struct http_req *req, const char *s, size_t n)
{
    size_t i = 0;
    int rc = 0;
    char *k = xmalloc(n + 1), *v = xmalloc(n + 1);
    while (i < n && rc == 0) {
        size_t j = i;
        while (j < n && s[j] != '&')
            j++;
        const char *eq = memchr(s + i, '=', j - i);
        size_t kl, vl = 0;
        size_t kraw = eq ? (size_t)(eq - (s + i)) : j - i;
        if (kraw > 0) {
            rc = strparse_pct_decode(s + i, kraw, true, k, n + 1, &kl);
            if (rc == 0 && eq)
                rc = strparse_pct_decode(eq + 1, (size_t)(s + j - eq - 1), true, v, n + 1, &vl);
            if (rc == 0)
                rc = http_req_add_arg(req, k, kl, eq ? v : "", eq ? vl : 0);
        }
        i = j + 1;
    }
    free(k);
    free(v);
    return rc < 0 ? ERR_PARAM : 0;
}

void http_req_free_args(struct http_req *req)
{
    for (size_t i = 0; i < req->nargs; i++) {
        free((void *)(uintptr_t)req->args[i].key);
        free((void *)(uintptr_t)req->args[i].value);
    }
    req->nargs = 0;
}
