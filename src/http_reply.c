/* Reply builders and the single place where an error code becomes an HTTP status and the
 * go-fastdfs {"data","message","status"} envelope. JSON is printed with sorted keys and a
 * two-space indent, the way go-fastdfs prints it. */
#include "http_reply.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "errcode.h"
#include "log.h"
#include "xalloc.h"

#define CT_JSON "application/json; charset=utf-8"

void http_reply_init(struct http_reply *r)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

static void drop_body(struct http_reply *r)
{
    free(r->buf);
    r->buf = NULL;
    r->buflen = 0;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->kind = HTTP_BODY_NONE;
}

void http_reply_fini(struct http_reply *r)
{
    drop_body(r);
    for (size_t i = 0; i < r->nhdr; i++)
        free(r->hdr[i].value);
    r->nhdr = 0;
}

void http_reply_header(struct http_reply *r, const char *name, const char *value)
{
    if (r->nhdr >= HTTP_REPLY_HEADERS_MAX || strlen(name) >= sizeof r->hdr[0].name) {
        log_warn("http", "reply header %s dropped", name);
        return;
    }
    snprintf(r->hdr[r->nhdr].name, sizeof r->hdr[0].name, "%s", name);
    r->hdr[r->nhdr].value = xstrdup(value);
    r->nhdr++;
}

void http_reply_headerf(struct http_reply *r, const char *name, const char *fmt, ...)
{
    char v[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    http_reply_header(r, name, v);
}

const char *http_reply_get_header(const struct http_reply *r, const char *name)
{
    for (size_t i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hdr[i].name, name) == 0)
            return r->hdr[i].value;
    return NULL;
}

void http_reply_body_owned(struct http_reply *r, int status, const char *ctype, char *p,
                           size_t n)
{
    drop_body(r);
    r->status = status;
    r->kind = HTTP_BODY_BUF;
    r->buf = p;
    r->buflen = n;
    if (!ctype)
        return;
    for (size_t i = 0; i < r->nhdr; i++)
        if (strcasecmp(r->hdr[i].name, "Content-Type") == 0) {
            free(r->hdr[i].value);
            r->hdr[i].value = xstrdup(ctype);
            return;
        }
    http_reply_header(r, "Content-Type", ctype);
}

void http_reply_body(struct http_reply *r, int status, const char *ctype, const void *p,
                     size_t n)
{
    char *copy = xmalloc(n + 1);
    memcpy(copy, p, n);
    copy[n] = '\0';
    http_reply_body_owned(r, status, ctype, copy, n);
}

void http_reply_text(struct http_reply *r, int status, const char *text)
{
    http_reply_body(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void reply_json_flags(struct http_reply *r, int status, json_t *json, size_t flags)
{
    char *s = json_dumps(json, flags | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(json);
    if (!s) {
        http_reply_text(r, 500, "json encoding failed");
        return;
    }
    size_t n = strlen(s);
    char *body = xmalloc(n + 2);
    memcpy(body, s, n);
    body[n] = '\n';
    body[n + 1] = '\0';
    free(s);
    http_reply_body_owned(r, status, CT_JSON, body, n + 1);
}

void http_reply_json(struct http_reply *r, int status, json_t *json)
{
    reply_json_flags(r, status, json, JSON_INDENT(2));
}

void http_reply_json_compact(struct http_reply *r, int status, json_t *json)
{
    reply_json_flags(r, status, json, JSON_COMPACT);
}

void http_reply_ok(struct http_reply *r, json_t *data, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("ok"));
    json_object_set_new(o, "message", json_string(msg ? msg : ""));
    json_object_set_new(o, "data", data ? data : json_null());
    http_reply_json(r, 200, o);
}

void http_reply_error(struct http_reply *r, int rc, const char *detail)
{
    json_t *o = json_object();
    const char *msg = detail && *detail ? detail : errcode_str(rc);
    json_object_set_new(o, "status", json_string("fail"));
    /* a detail may echo client bytes that are not UTF-8; jansson refuses those */
    json_t *m = json_string(msg);
    json_object_set_new(o, "message", m ? m : json_string(errcode_str(rc)));
    json_object_set_new(o, "data", json_null());
    int status = errcode_http_status(rc);
    if (status == 500)
        log_error("http", "internal error: %s", errcode_str(rc));
    http_reply_json(r, status, o);
}

void http_reply_fd(struct http_reply *r, int status, int fd, uint64_t off, uint64_t len)
{
    drop_body(r);
    r->status = status;
    r->kind = HTTP_BODY_FD;
    r->fd = fd;
    r->fd_off = off;
    r->fd_len = len;
}
