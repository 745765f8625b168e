/* Unit tests for http_reply: the error envelope and its status for project and errno codes,
 * details (override, empty, escaped, not UTF-8), the ok envelope, the header bound and
 * lookup, body replacement, and ownership of an fd body (closed by fini). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "errcode.h"
#include "http.h"
#include "http_reply.h"

static int setup(void **state)
{
    struct http_reply *r = malloc(sizeof(*r));
    if (!r)
        return -1;
    memset(r, 0x5a, sizeof(*r));
    http_reply_init(r);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct http_reply *r = *state;
    http_reply_fini(r);
    free(r);
    return 0;
}

/* Parses the buffer body as JSON; caller decrefs. */
static json_t *body_json(const struct http_reply *r)
{
    json_error_t err;
    assert_int_equal(r->kind, HTTP_BODY_BUF);
    assert_non_null(r->buf);
    json_t *o = json_loadb(r->buf, r->buflen, JSON_REJECT_DUPLICATES, &err);
    if (!o)
        fail_msg("body is not JSON (%s): %.*s", err.text, (int)r->buflen, r->buf);
    return o;
}

/* Checks a fail envelope: exactly data=null, message=msg, status="fail". */
static void assert_fail_envelope(const struct http_reply *r, const char *msg)
{
    json_t *o = body_json(r);
    assert_true(json_is_object(o));
    assert_int_equal(json_object_size(o), 3);
    assert_true(json_is_null(json_object_get(o, "data")));
    assert_string_equal(json_string_value(json_object_get(o, "status")), "fail");
    json_t *m = json_object_get(o, "message");
    assert_true(json_is_string(m));
    assert_string_equal(json_string_value(m), msg);
    json_decref(o);
    const char *ct = http_reply_get_header(r, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "application/json"));
}

static void test_init(void **state)
{
    struct http_reply *r = *state;
    assert_int_equal(r->fd, -1);
    assert_int_equal(r->kind, HTTP_BODY_NONE);
    assert_int_equal(r->nhdr, 0);
    assert_null(r->buf);
    assert_int_equal(r->buflen, 0);
    assert_null(http_reply_get_header(r, "Content-Type"));
}

/* ---- errors ---- */

static void check_error(int rc)
{
    struct http_reply r;
    http_reply_init(&r);
    http_reply_error(&r, rc, NULL);
    assert_int_equal(r.status, errcode_http_status(rc));
    assert_fail_envelope(&r, errcode_str(rc));
    http_reply_fini(&r);
}

static void test_error_statuses(void **state)
{
    (void)state;
    static const int codes[] = {ERR_BADREQ, ERR_BADPATH, ERR_TOOBIG,  ERR_METHOD, ERR_FORBIDDEN,
                                ERR_RANGE,  ERR_NOTFOUND, ERR_CORRUPT, ERR_UNAVAIL, ERR_CONFLICT,
                                -ENOENT,    -EACCES,     -ENOSPC,     -EINVAL,    -EIO,
                                -EMSGSIZE,  -9999,       0};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        check_error(codes[i]);
}

static void test_error_status_values(void **state)
{
    struct http_reply *r = *state;
    http_reply_error(r, ERR_NOTFOUND, NULL);
    assert_int_equal(r->status, 404);
    http_reply_fini(r);
    http_reply_init(r);
    http_reply_error(r, ERR_TOOBIG, NULL);
    assert_int_equal(r->status, 413);
    http_reply_fini(r);
    http_reply_init(r);
    http_reply_error(r, -ENOENT, NULL);
    assert_int_equal(r->status, 404);
    http_reply_fini(r);
    http_reply_init(r);
    http_reply_error(r, -EIO, NULL);
    assert_int_equal(r->status, 500);
}

static void test_error_exact_text(void **state)
{
    struct http_reply *r = *state;
    /* sorted keys, two-space indent and a final newline, as go-fastdfs prints */
    http_reply_error(r, ERR_NOTFOUND, NULL);
    assert_string_equal(r->buf,
                        "{\n  \"data\": null,\n  \"message\": \"not found\",\n"
                        "  \"status\": \"fail\"\n}\n");
    assert_int_equal(r->buflen, strlen(r->buf));
}

static void test_error_detail(void **state)
{
    struct http_reply *r = *state;
    http_reply_error(r, ERR_PARAM, "md5 is required");
    assert_int_equal(r->status, 400);
    assert_fail_envelope(r, "md5 is required");
}

static void test_error_empty_detail(void **state)
{
    struct http_reply *r = *state;
    http_reply_error(r, ERR_FORBIDDEN, "");
    assert_int_equal(r->status, 403);
    assert_fail_envelope(r, errcode_str(ERR_FORBIDDEN));
}

static void test_error_detail_escaped(void **state)
{
    struct http_reply *r = *state;
    static const char detail[] = "bad \"name\"\n\t<script>\\ \x01 \xe5\x90\x8d";
    http_reply_error(r, ERR_BADREQ, detail);
    assert_fail_envelope(r, detail);
}

static void test_error_detail_not_utf8(void **state)
{
    struct http_reply *r = *state;
    static const char *bad[] = {"\xff\xfe", "name \xc3", "\xed\xa0\x80 surrogate",
                                "overlong \xc0\xaf", "\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http_reply_fini(r);
        http_reply_init(r);
        http_reply_error(r, ERR_BADPATH, bad[i]);
        assert_int_equal(r->status, 400);
        /* still a valid envelope; the text falls back to the code's */
        json_t *o = body_json(r);
        assert_string_equal(json_string_value(json_object_get(o, "status")), "fail");
        assert_true(json_is_string(json_object_get(o, "message")));
        assert_true(json_is_null(json_object_get(o, "data")));
        json_decref(o);
    }
}

static void test_error_long_detail(void **state)
{
    struct http_reply *r = *state;
    char *d = malloc(20000);
    assert_non_null(d);
    memset(d, 'd', 19999);
    d[19999] = '\0';
    http_reply_error(r, ERR_BADREQ, d);
    assert_fail_envelope(r, d);
    free(d);
}

/* ---- ok ---- */

static void test_ok_null(void **state)
{
    struct http_reply *r = *state;
    http_reply_ok(r, NULL, NULL);
    assert_int_equal(r->status, 200);
    json_t *o = body_json(r);
    assert_int_equal(json_object_size(o), 3);
    assert_true(json_is_null(json_object_get(o, "data")));
    assert_string_equal(json_string_value(json_object_get(o, "message")), "");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);
}

static void test_ok_data(void **state)
{
    struct http_reply *r = *state;
    json_t *data = json_pack("{s:s, s:I, s:[i,i]}", "url", "http://h/group1/a", "size",
                             (json_int_t)12, "list", 1, 2);
    assert_non_null(data);
    http_reply_ok(r, data, "done"); /* steals data: ASan checks the leak */
    assert_int_equal(r->status, 200);
    json_t *o = body_json(r);
    assert_string_equal(json_string_value(json_object_get(o, "message")), "done");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
    json_t *d = json_object_get(o, "data");
    assert_string_equal(json_string_value(json_object_get(d, "url")), "http://h/group1/a");
    assert_int_equal(json_integer_value(json_object_get(d, "size")), 12);
    json_decref(o);
    /* keys sorted: "data" < "message" < "status" */
    const char *pd = strstr(r->buf, "\"data\"");
    const char *pm = strstr(r->buf, "\"message\"");
    const char *ps = strstr(r->buf, "\"status\"");
    assert_true(pd && pm && ps && pd < pm && pm < ps);
}

static void test_json_compact(void **state)
{
    struct http_reply *r = *state;
    http_reply_json_compact(r, 201, json_pack("{s:i,s:s}", "b", 1, "a", "x"));
    assert_int_equal(r->status, 201);
    assert_string_equal(r->buf, "{\"a\":\"x\",\"b\":1}\n");
}

/* ---- headers ---- */

static void test_headers_bound(void **state)
{
    struct http_reply *r = *state;
    char name[32], value[32];
    for (int i = 0; i < HTTP_REPLY_HEADERS_MAX; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        http_reply_header(r, name, value);
    }
    assert_int_equal(r->nhdr, HTTP_REPLY_HEADERS_MAX);
    http_reply_header(r, "X-Seventeenth", "dropped");
    http_reply_headerf(r, "X-Eighteenth", "%d", 18);
    assert_int_equal(r->nhdr, HTTP_REPLY_HEADERS_MAX);
    assert_null(http_reply_get_header(r, "X-Seventeenth"));
    assert_null(http_reply_get_header(r, "X-Eighteenth"));
    snprintf(name, sizeof(name), "X-H%d", HTTP_REPLY_HEADERS_MAX - 1);
    assert_string_equal(http_reply_get_header(r, name), "v15");
    /* a body on a full reply still works (its Content-Type is what gets dropped) */
    http_reply_error(r, ERR_BADREQ, NULL);
    assert_int_equal(r->status, 400);
    assert_int_equal(r->nhdr, HTTP_REPLY_HEADERS_MAX);
}

static void test_header_lookup(void **state)
{
    struct http_reply *r = *state;
    http_reply_header(r, "ETag", "\"abc\"");
    http_reply_headerf(r, "Content-Length", "%zu", (size_t)42);
    assert_string_equal(http_reply_get_header(r, "etag"), "\"abc\"");
    assert_string_equal(http_reply_get_header(r, "ETAG"), "\"abc\"");
    assert_string_equal(http_reply_get_header(r, "content-length"), "42");
    assert_null(http_reply_get_header(r, "ETa"));
    assert_null(http_reply_get_header(r, "ETagX"));
}

static void test_header_long_name(void **state)
{
    struct http_reply *r = *state;
    char name[100];
    memset(name, 'N', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    http_reply_header(r, name, "v");
    assert_int_equal(r->nhdr, 0);
    /* 47 bytes is the longest that fits */
    name[47] = '\0';
    http_reply_header(r, name, "v");
    assert_int_equal(r->nhdr, 1);
    assert_string_equal(http_reply_get_header(r, name), "v");
}

static void test_header_value_copied(void **state)
{
    struct http_reply *r = *state;
    char v[16] = "original";
    http_reply_header(r, "X-Copy", v);
    v[0] = 'X';
    assert_string_equal(http_reply_get_header(r, "X-Copy"), "original");
    /* a long formatted value is bounded, not overflowed */
    char big[3000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    http_reply_headerf(r, "X-Big", "%s", big);
    const char *got = http_reply_get_header(r, "X-Big");
    assert_non_null(got);
    assert_true(strlen(got) < sizeof(big) - 1);
}

/* ---- bodies ---- */

static void test_body_copy(void **state)
{
    struct http_reply *r = *state;
    char src[8] = "abc\0def";
    http_reply_body(r, 200, "application/octet-stream", src, 7);
    src[0] = 'X';
    assert_int_equal(r->kind, HTTP_BODY_BUF);
    assert_int_equal(r->buflen, 7);
    assert_memory_equal(r->buf, "abc\0def", 7);
    assert_int_equal(r->buf[7], '\0');
    assert_string_equal(http_reply_get_header(r, "Content-Type"), "application/octet-stream");
    http_reply_body(r, 204, NULL, "", 0);
    assert_int_equal(r->status, 204);
    assert_int_equal(r->buflen, 0);
}

static void test_text(void **state)
{
    struct http_reply *r = *state;
    http_reply_text(r, 202, "hello");
    assert_int_equal(r->status, 202);
    assert_string_equal(r->buf, "hello");
    assert_int_equal(r->buflen, 5);
    assert_non_null(strstr(http_reply_get_header(r, "Content-Type"), "text/plain"));
}

static void test_body_replaced_content_type(void **state)
{
    struct http_reply *r = *state;
    /* a second body replaces the first one, its type included: one Content-Type only */
    http_reply_text(r, 200, "first");
    http_reply_error(r, ERR_NOTFOUND, NULL);
    assert_int_equal(r->status, 404);
    size_t n = 0;
    for (size_t i = 0; i < r->nhdr; i++)
        n += strcasecmp(r->hdr[i].name, "Content-Type") == 0;
    assert_int_equal(n, 1);
    assert_non_null(strstr(http_reply_get_header(r, "Content-Type"), "application/json"));
}

/* ---- fd bodies ---- */

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void test_fd_closed_by_fini(void **state)
{
    struct http_reply *r = *state;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    http_reply_fd(r, 200, fd, 5, 10);
    assert_int_equal(r->kind, HTTP_BODY_FD);
    assert_int_equal(r->fd, fd);
    assert_int_equal(r->fd_off, 5);
    assert_int_equal(r->fd_len, 10);
    assert_int_equal(r->status, 200);
    assert_true(fd_open(fd));
    http_reply_fini(r);
    assert_false(fd_open(fd));
    assert_int_equal(errno, EBADF);
    assert_int_equal(r->fd, -1);
    http_reply_fini(r); /* twice is harmless */
}

static void test_fd_replaced_by_buffer(void **state)
{
    struct http_reply *r = *state;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    http_reply_fd(r, 200, fd, 0, 0);
    /* an error after the file was opened: the fd must not leak */
    http_reply_error(r, -EIO, NULL);
    assert_false(fd_open(fd));
    assert_int_equal(r->kind, HTTP_BODY_BUF);
    assert_int_equal(r->fd, -1);
}

static void test_fd_replaced_by_fd(void **state)
{
    struct http_reply *r = *state;
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int b = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    assert_true(a >= 0 && b >= 0);
    http_reply_fd(r, 200, a, 0, 1);
    http_reply_fd(r, 206, b, 1, 1);
    assert_false(fd_open(a));
    assert_true(fd_open(b));
    assert_int_equal(r->status, 206);
    http_reply_fini(r);
    assert_false(fd_open(b));
}

static void test_buffer_replaced_by_fd(void **state)
{
    struct http_reply *r = *state;
    http_reply_text(r, 200, "buffer");
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    http_reply_fd(r, 200, fd, 0, 0);
    assert_null(r->buf); /* freed: ASan checks the leak */
    assert_int_equal(r->buflen, 0);
    assert_int_equal(r->kind, HTTP_BODY_FD);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_init),
        cmocka_unit_test(test_error_statuses),
        T(test_error_status_values),
        T(test_error_exact_text),
        T(test_error_detail),
        T(test_error_empty_detail),
        T(test_error_detail_escaped),
        T(test_error_detail_not_utf8),
        T(test_error_long_detail),
        T(test_ok_null),
        T(test_ok_data),
        T(test_json_compact),
        T(test_headers_bound),
        T(test_header_lookup),
        T(test_header_long_name),
        T(test_header_value_copied),
        T(test_body_copy),
        T(test_text),
        T(test_body_replaced_content_type),
        T(test_fd_closed_by_fini),
        T(test_fd_replaced_by_buffer),
        T(test_fd_replaced_by_fd),
        T(test_buffer_replaced_by_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
