/* Unit tests for the route table: every entry is complete and consistent (handler, doc,
 * unique path and flags, stream callbacks for streamed bodies), and the real table routes
 * go-fastdfs's URL forms to the expected handlers with group management on and off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api.h"
#include "errcode.h"
#include "http_router.h"
#include "routes.h"

#define ALL_METHODS                                                                      \
    (HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_OPTIONS | HTTP_PATCH)

static void test_entries_complete(void **state)
{
    (void)state;
    assert_true(routes_count > 0);
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *r = &routes_table[i];
        assert_non_null(r->path);
        assert_int_equal(r->path[0], '/');
        assert_non_null(r->handler);
        assert_non_null(r->doc);
        assert_true(strlen(r->doc) > 0);
        assert_null(strchr(r->doc, '\n')); /* one line */
        assert_true(r->methods != 0);
        assert_int_equal(r->methods & ~(unsigned)ALL_METHODS, 0);
        assert_int_equal(r->flags & ~(unsigned)(ROUTE_GROUP | ROUTE_PREFIX), 0);
        assert_true(r->access == ACCESS_PUBLIC || r->access == ACCESS_ADMIN ||
                    r->access == ACCESS_PEER);
        assert_true(r->body == BODY_NONE || r->body == BODY_FORM || r->body == BODY_STREAM);
    }
}

static void test_unique_path_flags(void **state)
{
    (void)state;
    for (size_t i = 0; i < routes_count; i++)
        for (size_t j = i + 1; j < routes_count; j++) {
            const struct route *a = &routes_table[i], *b = &routes_table[j];
            if (strcmp(a->path, b->path) == 0 && a->flags == b->flags)
                fail_msg("duplicate route %s (flags %u) at %zu and %zu", a->path, a->flags, i,
                         j);
        }
}

static void test_stream_entries(void **state)
{
    (void)state;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *r = &routes_table[i];
        if (r->body != BODY_STREAM) {
            /* a stream without BODY_STREAM would never be called: a table mistake */
            assert_null(r->stream);
            assert_int_equal(r->stream_methods, 0);
            continue;
        }
        assert_non_null(r->stream);
        assert_non_null(r->stream->begin);
        assert_non_null(r->stream->data);
        assert_non_null(r->stream->cleanup);
        assert_true(r->stream_methods != 0);
        /* only methods the route allows can be streamed */
        assert_int_equal(r->stream_methods & ~r->methods, 0);
    }
}

static const struct route *route_for(bool manage, enum http_method m, const char *url,
                                     const char **rest)
{
    struct http_router r;
    const struct route *rt = NULL;
    const char *dummy = NULL;
    http_router_init(&r, routes_table, routes_count, "group1", manage);
    int rc = http_router_match(&r, m, url, &rt, rest ? rest : &dummy);
    if (rc != 0)
        fail_msg("%s: rc %d", url, rc);
    return rt;
}

static void test_group_on(void **state)
{
    (void)state;
    const char *rest = NULL;
    const struct route *rt = route_for(true, HTTP_POST, "/group1/upload", NULL);
    assert_ptr_equal(rt->handler, api_upload);
    assert_int_equal(rt->body, BODY_STREAM);
    assert_ptr_equal(rt->stream, &api_upload_stream);
    assert_true(rt->stream_methods & HTTP_POST);
    rt = route_for(true, HTTP_GET, "/group1/default/x.txt", &rest);
    assert_ptr_equal(rt->handler, api_download);
    assert_string_equal(rest, "default/x.txt");
    rt = route_for(true, HTTP_HEAD, "/group1/default/20240101/12/30/y.bin", &rest);
    assert_ptr_equal(rt->handler, api_download);
    assert_string_equal(rest, "default/20240101/12/30/y.bin");
    rt = route_for(true, HTTP_GET, "/healthz", NULL);
    assert_ptr_equal(rt->handler, api_healthz);
    rt = route_for(true, HTTP_GET, "/", NULL);
    assert_ptr_equal(rt->handler, api_root);
    rt = route_for(true, HTTP_GET, "/group1/upload.html", NULL);
    assert_ptr_equal(rt->handler, api_index);
    rt = route_for(true, HTTP_POST, "/group1/delete", NULL);
    assert_ptr_equal(rt->handler, api_delete);
    assert_int_equal(rt->access, ACCESS_ADMIN);
    rt = route_for(true, HTTP_GET, "/group1/stat", NULL);
    assert_ptr_equal(rt->handler, api_stat);
    rt = route_for(true, HTTP_POST, "/group1/check_file_exist", NULL);
    assert_ptr_equal(rt->handler, api_check_file_exist);
    assert_int_equal(rt->access, ACCESS_PUBLIC);
}

static void test_group_on_misses(void **state)
{
    (void)state;
    struct http_router r;
    const struct route *rt = NULL;
    const char *rest = NULL;
    http_router_init(&r, routes_table, routes_count, "group1", true);
    /* without the group prefix: placement by store_lookup, and other groups' URLs */
    assert_int_equal(http_router_match(&r, HTTP_POST, "/upload", &rt, &rest), 0);
    assert_ptr_equal(rt->stream, &api_place_stream);
    assert_int_equal(http_router_match(&r, HTTP_GET, "/default/x.txt", &rt, &rest), 0);
    assert_ptr_equal(rt->handler, api_other_group);
    assert_int_equal(http_router_match(&r, HTTP_POST, "/healthz", &rt, &rest), ERR_METHOD);
    assert_ptr_equal(rt->handler, api_healthz);
    assert_int_equal(http_router_match(&r, HTTP_DELETE, "/group1/default/x.txt", &rt, &rest),
                     ERR_METHOD);
    assert_ptr_equal(rt->handler, api_download);
}

static void test_group_off(void **state)
{
    (void)state;
    const char *rest = NULL;
    const struct route *rt = route_for(false, HTTP_POST, "/upload", NULL);
    assert_ptr_equal(rt->handler, api_upload);
    rt = route_for(false, HTTP_GET, "/default/x.txt", &rest);
    assert_ptr_equal(rt->handler, api_download);
    assert_string_equal(rest, "default/x.txt");
    rt = route_for(false, HTTP_GET, "/healthz", NULL);
    assert_ptr_equal(rt->handler, api_healthz);
    rt = route_for(false, HTTP_GET, "/", NULL);
    assert_ptr_equal(rt->handler, api_root);
    rt = route_for(false, HTTP_GET, "/status", NULL);
    assert_ptr_equal(rt->handler, api_status);
}

static void test_admin_routes_not_public(void **state)
{
    (void)state;
    /* the calls that change or reveal the store are never public */
    static const char *admin[] = {"/delete", "/repair_fileinfo", "/list_dir", "/get_file_info"};
    for (size_t a = 0; a < sizeof(admin) / sizeof(admin[0]); a++) {
        bool found = false;
        for (size_t i = 0; i < routes_count; i++) {
            if (strcmp(routes_table[i].path, admin[a]) != 0)
                continue;
            found = true;
            assert_int_not_equal(routes_table[i].access, ACCESS_PUBLIC);
        }
        assert_true(found);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries_complete),
        cmocka_unit_test(test_unique_path_flags),
        cmocka_unit_test(test_stream_entries),
        cmocka_unit_test(test_group_on),
        cmocka_unit_test(test_group_on_misses),
        cmocka_unit_test(test_group_off),
        cmocka_unit_test(test_admin_routes_not_public),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
