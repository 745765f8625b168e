/* Unit tests for http_router over a small table of its own: group prefix on and off, exact
 * routes beating prefixes, the longest prefix winning, 404 and 405 (with the route for the
 * Allow header), the rest of a prefix route, and the Allow header text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "errcode.h"
#include "http_router.h"

#define GET_ (HTTP_GET | HTTP_HEAD)

/* Handlers are compared by route, never called. */
static const struct route table[] = {
    {"/upload", ROUTE_GROUP, GET_ | HTTP_POST, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "up"},
    {"/upload.html", ROUTE_GROUP, GET_, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "page"},
    {"/admin", ROUTE_GROUP, HTTP_POST, ACCESS_ADMIN, BODY_FORM, NULL, NULL, 0, "admin"},
    {"/static/", ROUTE_PREFIX, GET_, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "static"},
    {"/static/img/", ROUTE_PREFIX, GET_, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "img"},
    {"/static/img/logo.png", 0, HTTP_POST, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "logo"},
    {"/", ROUTE_GROUP | ROUTE_PREFIX, GET_, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "dl"},
    {"/", 0, GET_, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "root"},
    {"/healthz", 0, GET_, ACCESS_PUBLIC, BODY_NONE, NULL, NULL, 0, "health"},
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

enum { R_UPLOAD, R_PAGE, R_ADMIN, R_STATIC, R_IMG, R_LOGO, R_DL, R_ROOT, R_HEALTH };

static void init(struct http_router *r, bool manage)
{
    memset(r, 0x5a, sizeof(*r));
    http_router_init(r, table, NROUTES, "group1", manage);
}

/* Expects a match of url to route index want; checks rest when want_rest is non-NULL. */
static void expect(const struct http_router *r, enum http_method m, const char *url, int want,
                   const char *want_rest)
{
    const struct route *rt = NULL;
    const char *rest = NULL;
    int rc = http_router_match(r, m, url, &rt, &rest);
    if (rc != 0)
        fail_msg("%s: rc %d, wanted route %d", url, rc, want);
    assert_ptr_equal(rt, &table[want]);
    if (want_rest) {
        assert_non_null(rest);
        assert_string_equal(rest, want_rest);
    }
}

static void expect_rc(const struct http_router *r, enum http_method m, const char *url, int rc,
                      int route)
{
    const struct route *rt = NULL;
    const char *rest = NULL;
    int got = http_router_match(r, m, url, &rt, &rest);
    if (got != rc)
        fail_msg("%s: rc %d, wanted %d", url, got, rc);
    if (route >= 0)
        assert_ptr_equal(rt, &table[route]);
}

static void test_init_prefix(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    assert_string_equal(r.group_prefix, "/group1");
    assert_ptr_equal(r.routes, table);
    assert_int_equal(r.nroutes, NROUTES);
    init(&r, false);
    assert_string_equal(r.group_prefix, "");
    http_router_init(&r, table, NROUTES, "", true);
    assert_string_equal(r.group_prefix, "");
    http_router_init(&r, table, NROUTES, NULL, true);
    assert_string_equal(r.group_prefix, "");
}

static void test_group_on_exact(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    expect(&r, HTTP_POST, "/group1/upload", R_UPLOAD, NULL);
    expect(&r, HTTP_GET, "/group1/upload", R_UPLOAD, NULL);
    expect(&r, HTTP_GET, "/group1/upload.html", R_PAGE, NULL);
    expect(&r, HTTP_POST, "/group1/admin", R_ADMIN, NULL);
    expect(&r, HTTP_GET, "/healthz", R_HEALTH, NULL);
    expect(&r, HTTP_HEAD, "/", R_ROOT, NULL);
}

static void test_group_on_prefix(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    expect(&r, HTTP_GET, "/group1/default/20240101/a.txt", R_DL, "default/20240101/a.txt");
    expect(&r, HTTP_HEAD, "/group1/x", R_DL, "x");
    expect(&r, HTTP_GET, "/group1/", R_DL, "");
    /* a name that only starts like an exact route is a download */
    expect(&r, HTTP_GET, "/group1/uploadx", R_DL, "uploadx");
    expect(&r, HTTP_GET, "/group1/upload/", R_DL, "upload/");
}

static void test_group_on_not_found(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    /* group routes are only reachable below the group */
    expect_rc(&r, HTTP_POST, "/upload", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/default/a.txt", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/group2/upload", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/group1", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/group1upload", ERR_NOTFOUND, -1);
    /* the group name is a whole segment: "/group10" is another group */
    expect_rc(&r, HTTP_GET, "/group10/upload", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/group10/a.txt", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/healthzz", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "healthz", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "/GROUP1/upload", ERR_NOTFOUND, -1);
}

static void test_group_off(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, false);
    expect(&r, HTTP_POST, "/upload", R_UPLOAD, NULL);
    expect(&r, HTTP_GET, "/upload.html", R_PAGE, NULL);
    expect(&r, HTTP_POST, "/admin", R_ADMIN, NULL);
    expect(&r, HTTP_GET, "/healthz", R_HEALTH, NULL);
    /* exact "/" beats the group download prefix "/" */
    expect(&r, HTTP_GET, "/", R_ROOT, NULL);
    expect(&r, HTTP_GET, "/default/a.txt", R_DL, "default/a.txt");
    /* the group name is just a directory now */
    expect(&r, HTTP_GET, "/group1/upload", R_DL, "group1/upload");
    expect(&r, HTTP_GET, "/healthzz", R_DL, "healthzz");
    expect_rc(&r, HTTP_GET, "", ERR_NOTFOUND, -1);
    expect_rc(&r, HTTP_GET, "nolead", ERR_NOTFOUND, -1);
}

static void test_exact_beats_prefix(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    /* "/static/img/logo.png" is exact (POST only) and also under two prefixes (GET) */
    expect(&r, HTTP_POST, "/static/img/logo.png", R_LOGO, NULL);
    expect_rc(&r, HTTP_GET, "/static/img/logo.png", ERR_METHOD, R_LOGO);
}

static void test_longest_prefix(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    expect(&r, HTTP_GET, "/static/img/a.png", R_IMG, "a.png");
    expect(&r, HTTP_GET, "/static/img/", R_IMG, "");
    expect(&r, HTTP_GET, "/static/css/a.css", R_STATIC, "css/a.css");
    expect(&r, HTTP_GET, "/static/img", R_STATIC, "img");
    expect(&r, HTTP_GET, "/static/", R_STATIC, "");
    expect_rc(&r, HTTP_GET, "/static", ERR_NOTFOUND, -1);
    /* longest wins whatever the table order: the same with the table reversed */
    struct route rev[NROUTES];
    for (size_t i = 0; i < NROUTES; i++)
        rev[i] = table[NROUTES - 1 - i];
    struct http_router rr;
    http_router_init(&rr, rev, NROUTES, "group1", true);
    const struct route *rt = NULL;
    const char *rest = NULL;
    assert_int_equal(http_router_match(&rr, HTTP_GET, "/static/img/a.png", &rt, &rest), 0);
    assert_string_equal(rt->doc, "img");
    assert_string_equal(rest, "a.png");
    assert_int_equal(http_router_match(&rr, HTTP_GET, "/static/img/logo.png", &rt, &rest),
                     ERR_METHOD);
    assert_string_equal(rt->doc, "logo");
    assert_int_equal(http_router_match(&rr, HTTP_GET, "/", &rt, &rest), 0);
    assert_string_equal(rt->doc, "root");
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    struct http_router r;
    init(&r, true);
    expect_rc(&r, HTTP_GET, "/group1/admin", ERR_METHOD, R_ADMIN);
    expect_rc(&r, HTTP_PUT, "/group1/upload", ERR_METHOD, R_UPLOAD);
    expect_rc(&r, HTTP_POST, "/group1/upload.html", ERR_METHOD, R_PAGE);
    expect_rc(&r, HTTP_DELETE, "/group1/a/b.txt", ERR_METHOD, R_DL);
    expect_rc(&r, HTTP_POST, "/healthz", ERR_METHOD, R_HEALTH);
    expect_rc(&r, HTTP_OTHER, "/healthz", ERR_METHOD, R_HEALTH);
    expect_rc(&r, HTTP_OPTIONS, "/", ERR_METHOD, R_ROOT);
}

static void test_empty_table(void **state)
{
    (void)state;
    struct http_router r;
    const struct route *rt = NULL;
    const char *rest = NULL;
    http_router_init(&r, NULL, 0, "group1", true);
    assert_int_equal(http_router_match(&r, HTTP_GET, "/", &rt, &rest), ERR_NOTFOUND);
    assert_null(rt);
}

static void test_long_group_name(void **state)
{
    (void)state;
    /* cfg accepts a group of up to 255 [A-Za-z0-9_.-]; the router must not cut it short */
    char group[201], url[300], cut[300];
    memset(group, 'g', sizeof(group) - 1);
    group[sizeof(group) - 1] = '\0';
    struct http_router r;
    http_router_init(&r, table, NROUTES, group, true);
    snprintf(url, sizeof(url), "/%s/upload", group);
    expect(&r, HTTP_POST, url, R_UPLOAD, NULL);
    /* and a shortened group is not the group */
    snprintf(cut, sizeof(cut), "/%.78s/upload", group);
    expect_rc(&r, HTTP_POST, cut, ERR_NOTFOUND, -1);
}

/* ---- Allow ---- */

static void test_allow(void **state)
{
    (void)state;
    char out[96];
    http_router_allow(HTTP_GET | HTTP_HEAD | HTTP_POST, out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, POST");
    http_router_allow(HTTP_POST, out, sizeof(out));
    assert_string_equal(out, "POST");
    http_router_allow(HTTP_PATCH | HTTP_GET, out, sizeof(out));
    assert_string_equal(out, "GET, PATCH");
    http_router_allow(0, out, sizeof(out));
    assert_string_equal(out, "");
    http_router_allow(HTTP_OTHER, out, sizeof(out));
    assert_string_equal(out, "");
    http_router_allow(HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_OPTIONS |
                          HTTP_PATCH | HTTP_OTHER,
                      out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
}

static void test_allow_small_buffer(void **state)
{
    (void)state;
    char out[32];
    memset(out, 'Z', sizeof(out));
    /* "GET, HEAD" needs 10 bytes */
    http_router_allow(HTTP_GET | HTTP_HEAD | HTTP_POST, out, 10);
    assert_string_equal(out, "GET, HEAD");
    assert_int_equal(out[10], 'Z');
    http_router_allow(HTTP_GET, out, 1);
    assert_string_equal(out, "");
    /* a cut never leaves half a method name in the header */
    memset(out, 'Z', sizeof(out));
    http_router_allow(HTTP_GET | HTTP_HEAD | HTTP_POST, out, 8);
    assert_string_equal(out, "GET");
    assert_int_equal(out[8], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_prefix),
        cmocka_unit_test(test_group_on_exact),
        cmocka_unit_test(test_group_on_prefix),
        cmocka_unit_test(test_group_on_not_found),
        cmocka_unit_test(test_group_off),
        cmocka_unit_test(test_exact_beats_prefix),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_long_group_name),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_allow_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
