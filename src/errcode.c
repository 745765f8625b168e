/* Turns the project's single error convention (negative errno or ERR_*) into text and into
 * the HTTP status the reply layer sends. The ERR_* table lives in errcode.h as an X-macro so
 * names, values, statuses and texts cannot drift apart. */
#include "errcode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* strerror() is not thread-safe; each thread formats into its own slot. */
static _Thread_local char errno_text[128];

const char *errcode_str(int rc)
{
    if (rc == 0)
        return "success";
    switch (rc) {
#define ERRCODE_TEXT(name, value, status, text) case name: return text;
    ERRCODE_LIST(ERRCODE_TEXT)
#undef ERRCODE_TEXT
    default:
        break;
    }
    if (rc < 0 && rc > -1000) {
        /* GNU strerror_r may return a static string instead of filling the buffer. */
        const char *s = strerror_r(-rc, errno_text, sizeof(errno_text));
        return s ? s : "unknown error";
    }
    snprintf(errno_text, sizeof(errno_text), "unknown error %d", rc);
    return errno_text;
}

int errcode_http_status(int rc)
{
    switch (rc) {
#define ERRCODE_STATUS(name, value, status, text) case name: return status;
    ERRCODE_LIST(ERRCODE_STATUS)
#undef ERRCODE_STATUS
    case -ENOENT:
    case -ENOTDIR:
    case -ELOOP: /* a symlink that would lead out of the store: as if absent */
    case -EXDEV:
        return 404;
    case -EACCES:
    case -EPERM:
        return 403;
    case -ENOSPC:
        return 507;
    case -EMSGSIZE:
    case -EFBIG:
        return 413;
    case -EINVAL:
    case -ENAMETOOLONG:
        return 400;
    default:
        return 500;
    }
}
