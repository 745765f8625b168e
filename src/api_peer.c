/* Endpoints between nodes (signed with the cluster secret: syncfile_info, sync_delete,
 * get_md5s_by_date, receive_md5s) and the admin controls of replication (sync, repair,
 * repair_stat) plus /metrics. */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errcode.h"
#include "fileinfo.h"
#include "http_reply.h"
#include "meta.h"
#include "server.h"
#include "strparse.h"
#include "sync.h"

#define LIST_MAX (64 * 1024 * 1024)

/* "yyyymmdd" (go-fastdfs also strips dots: "2024.01.02") into out. */
static int get_day(struct http_req *req, char out[9])
{
    const char *d = http_req_arg(req, "date");
    size_t n = 0;
    for (const char *p = d ? d : ""; *p && n < 9; p++)
        if (*p != '.' && *p != '-')
            out[n++] = *p;
    if (n != 8) {
        snprintf(req->errmsg, sizeof req->errmsg, "date must be yyyymmdd");
        return ERR_PARAM;
    }
    out[8] = '\0';
    for (int i = 0; i < 8; i++)
        if (out[i] < '0' || out[i] > '9') {
            snprintf(req->errmsg, sizeof req->errmsg, "date must be yyyymmdd");
            return ERR_PARAM;
        }
    return 0;
}

int api_syncfile_info(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *text = http_req_arg(req, "fileInfo");
    struct file_info fi;
    if (!text || fileinfo_from_text(&fi, text, strlen(text)) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "fileInfo is missing or not a valid record");
        return ERR_PARAM;
    }
    const char *answer = NULL;
    int rc = sync_receive(srv, &fi, req->peer_from[0] ? req->peer_from : NULL, &answer);
    if (rc)
        return rc;
    http_reply_ok(rep, json_string(answer), "");
    return 0;
}

#define BATCH_RECORDS_MAX 64

int api_syncfile_infos(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *text = http_req_arg(req, "fileInfos");
    json_t *arr = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_array(arr) || json_array_size(arr) > BATCH_RECORDS_MAX) {
        json_decref(arr);
        snprintf(req->errmsg, sizeof req->errmsg,
                 "fileInfos must be a JSON array of at most %d records", BATCH_RECORDS_MAX);
        return ERR_PARAM;
    }
    json_t *answers = json_array();
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec) {
        char *one = json_dumps(rec, JSON_COMPACT);
        struct file_info fi;
        const char *answer = "invalid";
        /* one bad record answers "invalid" without spoiling the others */
        if (one && fileinfo_from_text(&fi, one, strlen(one)) == 0 &&
            sync_receive(srv, &fi, req->peer_from[0] ? req->peer_from : NULL, &answer) < 0)
            answer = "error";
        free(one);
        json_array_append_new(answers, json_string(answer));
    }
    json_decref(arr);
    http_reply_ok(rep, answers, "");
    return 0;
}

int api_sync_delete(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *pk = http_req_arg(req, "pk");
    const char *md5 = http_req_arg(req, "md5");
    const char *t = http_req_arg(req, "time");
    int64_t tm = 0;
    if (!pk || !strparse_is_hex(pk, 32) || !md5 ||
        (!strparse_is_hex(md5, 32) && !strparse_is_hex(md5, 40)) ||
        (t && strparse_i64(t, strlen(t), &tm) < 0)) {
        snprintf(req->errmsg, sizeof req->errmsg, "pk and md5 must be hex digests");
        return ERR_PARAM;
    }
    int rc = sync_receive_delete(srv, pk, md5, tm);
    if (rc)
        return rc;
    http_reply_ok(rep, json_string("ok"), "");
    return 0;
}

struct digests_ctx {
    struct buf *b;
    int n;
};

static int digest_line_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    struct digests_ctx *d = ctx;
    const char *sp = memchr(v, ' ', vl);
    size_t ml = sp ? (size_t)(sp - v) : vl;
    int rc = buf_appendf(d->b, "%s%.*s", d->n++ ? "," : "", (int)ml, v);
    return rc < 0 ? rc : 0;
}

int api_get_md5s_by_date(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    char day[9];
    int rc = get_day(req, day);
    if (rc)
        return rc;
    struct buf b;
    buf_init(&b, LIST_MAX);
    const char *format = http_req_arg(req, "format");
    if (format && strcmp(format, "pairs") == 0) {
        rc = sync_day_pairs(srv, day, &b);
    } else {
        /* go-fastdfs: the day's digests joined by commas */
        char prefix[32];
        snprintf(prefix, sizeof prefix, "t/%s/", day);
        struct digests_ctx d = {&b, 0};
        rc = meta_kv_scan(srv->meta, prefix, digest_line_cb, &d);
    }
    if (rc < 0) {
        buf_fini(&b);
        return rc;
    }
    size_t len;
    char *body = buf_steal(&b, &len);
    http_reply_body_owned(rep, 200, "text/plain; charset=utf-8", body, len);
    return 0;
}

int api_receive_md5s(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *list = http_req_arg(req, "md5s");
    if (!list) {
        snprintf(req->errmsg, sizeof req->errmsg, "md5s is required");
        return ERR_PARAM;
    }
    long long n = sync_push_digests(srv, list, req->peer_from[0] ? req->peer_from : NULL);
    json_t *d = json_object();
    json_object_set_new(d, "queued", json_integer(n));
    http_reply_ok(rep, d, "");
    return 0;
}

int api_sync(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    char day[9];
    int rc = get_day(req, day);
    if (rc)
        return rc;
    long long n = sync_push_day(srv, day);
    json_t *d = json_object();
    json_object_set_new(d, "queued", json_integer(n));
    http_reply_ok(rep, d, "job is running");
    return 0;
}

int api_repair(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *force = http_req_arg(req, "force");
    char report[256];
    /* runs in this request: an admin call that waits for the network on purpose, so an
     * operator (or a test) knows when the pass is over */
    int rc = sync_repair(srv, force && strcmp(force, "1") == 0, report, sizeof report);
    if (rc)
        return rc;
    http_reply_ok(rep, NULL, report);
    return 0;
}

struct day_ctx {
    const char *day;
    json_t *row;
};

static int repair_stat_cb(void *ctx, const char *day, long long count, long long bytes)
{
    struct day_ctx *d = ctx;
    if (strcmp(day, d->day) == 0) {
        json_object_set_new(d->row, "fileCount", json_integer(count));
        json_object_set_new(d->row, "totalSize", json_integer(bytes));
        return 1;
    }
    return 0;
}

int api_repair_stat(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    char day[9];
    int rc = get_day(req, day);
    if (rc)
        return rc;
    /* our per-day counts are derived from the index on every call, so "repairing" one is
     * recounting it */
    json_t *row = json_object();
    json_object_set_new(row, "date", json_string(day));
    json_object_set_new(row, "fileCount", json_integer(0));
    json_object_set_new(row, "totalSize", json_integer(0));
    struct day_ctx d = {day, row};
    rc = meta_scan_days(srv->meta, repair_stat_cb, &d);
    if (rc < 0) {
        json_decref(row);
        return rc;
    }
    http_reply_ok(rep, row, "");
    return 0;
}
