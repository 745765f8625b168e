/* Reply builders: JSON envelopes, plain text, files, and the single mapping from an error
 * code to an HTTP status and a {"status":"fail","message":...,"data":null} body. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "http.h"

struct json_t;

void http_reply_init(struct http_reply *r);
void http_reply_fini(struct http_reply *r);
/* Adds a header (value copied). Silently drops headers past the array bound and logs. */
void http_reply_header(struct http_reply *r, const char *name, const char *value);
void http_reply_headerf(struct http_reply *r, const char *name, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
const char *http_reply_get_header(const struct http_reply *r, const char *name);
/* Body from a buffer (copied). */
void http_reply_body(struct http_reply *r, int status, const char *ctype, const void *p,
                     size_t n);
/* Body that takes ownership of a malloc'd buffer. */
void http_reply_body_owned(struct http_reply *r, int status, const char *ctype, char *p,
                           size_t n);
void http_reply_text(struct http_reply *r, int status, const char *text);
/* Serialises and steals `json` (pretty, sorted keys, the way go-fastdfs prints). */
void http_reply_json(struct http_reply *r, int status, struct json_t *json);
/* Compact variant (go-fastdfs check_file_exist is compact). */
void http_reply_json_compact(struct http_reply *r, int status, struct json_t *json);
/* {"data":data,"message":msg,"status":"ok"}; steals data (may be NULL -> null). */
void http_reply_ok(struct http_reply *r, struct json_t *data, const char *msg);
/* The one error path: status from errcode_http_status(rc), message = detail when non-NULL
 * and non-empty, else errcode_str(rc). */
void http_reply_error(struct http_reply *r, int rc, const char *detail);
/* File body: fd is owned by the reply from here on. */
void http_reply_fd(struct http_reply *r, int status, int fd, uint64_t off, uint64_t len);
