/* The one error convention: functions return 0 on success or a negative code, either a
 * negative errno or one of the project codes below (from -1000 down). http_reply.c is the
 * only place that turns a code into an HTTP status. */
#pragma once

/* X(name, value, http_status, text) */
#define ERRCODE_LIST(X)                                                      \
    X(ERR_BADREQ, -1000, 400, "bad request")                                 \
    X(ERR_BADPATH, -1001, 400, "path not allowed")                           \
    X(ERR_MULTIPART, -1002, 400, "malformed multipart body")                 \
    X(ERR_NOFILE, -1003, 400, "missing multipart field 'file'")              \
    X(ERR_TOOBIG, -1004, 413, "request body too large")                      \
    X(ERR_HDRTOOBIG, -1005, 431, "request headers too large")                \
    X(ERR_METHOD, -1006, 405, "method not allowed")                          \
    X(ERR_FORBIDDEN, -1007, 403, "forbidden")                                \
    X(ERR_UNAUTH, -1008, 401, "unauthorized")                                \
    X(ERR_RANGE, -1009, 416, "range not satisfiable")                        \
    X(ERR_DIGEST, -1010, 400, "content digest does not match 'md5'")         \
    X(ERR_EXTENSION, -1011, 400, "file extension not allowed")               \
    X(ERR_READONLY, -1012, 403, "node is read-only")                         \
    X(ERR_CONFLICT, -1013, 409, "name already taken by other content")       \
    X(ERR_SCENE, -1014, 400, "scene not allowed")                            \
    X(ERR_CONFIG, -1015, 500, "bad configuration")                           \
    X(ERR_EMPTY, -1016, 400, "empty file")                                   \
    X(ERR_PARAM, -1017, 400, "bad parameter")                                \
    X(ERR_NOTFOUND, -1018, 404, "not found")                                 \
    X(ERR_DIRDENY, -1019, 403, "directory listing disabled")                 \
    X(ERR_CORRUPT, -1020, 500, "stored data is corrupt")                     \
    X(ERR_UNAVAIL, -1021, 503, "service unavailable")                      \
    X(ERR_SUSPENDED, -1022, 500, "request suspended")                        \
    X(ERR_DELETED, -1023, 410, "deleted")                                    \
    X(ERR_REDIRECT, -1024, 307, "served by another group: follow Location")

enum errcode {
#define ERRCODE_ENUM(name, value, status, text) name = value,
    ERRCODE_LIST(ERRCODE_ENUM)
#undef ERRCODE_ENUM
};

/* Human text for any code (negative errno or ERR_*); never NULL, static storage. */
const char *errcode_str(int rc);

/* HTTP status for a code: ERR_* per the table, -ENOENT 404, -EACCES/-EPERM 403,
 * -ENOTDIR/-ELOOP/-EXDEV 404, -ENOSPC 507, -EMSGSIZE/-EFBIG 413, -EINVAL 400, anything else 500. */
int errcode_http_status(int rc);
