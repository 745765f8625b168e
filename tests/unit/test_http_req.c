/* Unit tests for http_req arguments: urlencoded parsing (empty names and values, '+', percent
 * escapes, every bad escape, NUL bytes raw or escaped, length-bounded input), first-match
 * lookup, the HTTP_ARGS_MAX bound and freeing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "http.h"

static int setup(void **state)
{
    struct http_req *req = calloc(1, sizeof(*req));
    if (!req)
        return -1;
    *state = req;
    return 0;
}

static int teardown(void **state)
{
    struct http_req *req = *state;
    http_req_free_args(req);
    free(req);
    return 0;
}

static int parse(struct http_req *req, const char *s)
{
    return http_req_parse_urlencoded(req, s, strlen(s));
}

static void assert_arg(const struct http_req *req, size_t i, const char *k, const char *v)
{
    assert_true(i < req->nargs);
    assert_string_equal(req->args[i].key, k);
    assert_string_equal(req->args[i].value, v);
}

static void test_brief_example(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "a=1&b=%20x+y&c&=d&e="), 0);
    /* "=d" has no name and is dropped; "c" has no '=' and gets an empty value */
    assert_int_equal(req->nargs, 4);
    assert_arg(req, 0, "a", "1");
    assert_arg(req, 1, "b", " x y");
    assert_arg(req, 2, "c", "");
    assert_arg(req, 3, "e", "");
    assert_string_equal(http_req_arg(req, "b"), " x y");
    assert_string_equal(http_req_arg(req, "c"), "");
    assert_null(http_req_arg(req, ""));
    assert_null(http_req_arg(req, "d"));
}

static void test_empty_inputs(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, ""), 0);
    assert_int_equal(req->nargs, 0);
    assert_int_equal(parse(req, "&&&"), 0);
    assert_int_equal(req->nargs, 0);
    assert_int_equal(parse(req, "="), 0);
    assert_int_equal(parse(req, "=&=x&"), 0);
    assert_int_equal(req->nargs, 0);
    assert_int_equal(http_req_parse_urlencoded(req, NULL, 0), 0);
    assert_int_equal(req->nargs, 0);
}

static void test_plus_and_escapes(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "a+b=c+d&k%3D=v%26w&u=%E4%B8%AD&h=%2f%2F&p=%2B"), 0);
    assert_int_equal(req->nargs, 5);
    assert_arg(req, 0, "a b", "c d");
    assert_arg(req, 1, "k=", "v&w");
    assert_arg(req, 2, "u", "\xe4\xb8\xad");
    assert_arg(req, 3, "h", "//");
    assert_arg(req, 4, "p", "+");
}

static void test_value_with_equals(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "a==b&t=x=y=z"), 0);
    assert_arg(req, 0, "a", "=b");
    assert_arg(req, 1, "t", "x=y=z");
}

static void test_trailing_and_repeated_separators(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "&a=1&&b=2&"), 0);
    assert_int_equal(req->nargs, 2);
    assert_arg(req, 0, "a", "1");
    assert_arg(req, 1, "b", "2");
}

static void test_first_match(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "md5=first&x=1&md5=second"), 0);
    assert_string_equal(http_req_arg(req, "md5"), "first");
    assert_null(http_req_arg(req, "MD5")); /* names are case-sensitive */
    assert_null(http_req_arg(req, "md"));
    assert_null(http_req_arg(req, "md5x"));
    /* query first, then form fields: the query wins */
    assert_int_equal(http_req_add_arg(req, "x", 1, "form", 4), 0);
    assert_string_equal(http_req_arg(req, "x"), "1");
}

static void test_bad_escapes(void **state)
{
    struct http_req *req = *state;
    static const char *bad[] = {"a=%zz", "a=%2",  "a=%",     "a=%%20", "%g0=1", "k%=v",
                                "a=%2g", "a=%-1", "a=% 20", "a=1&b=%x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(req, bad[i]);
        if (rc != ERR_PARAM)
            fail_msg("%s: rc %d", bad[i], rc);
        http_req_free_args(req);
    }
}

static void test_nul_refused(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "a=%00"), ERR_PARAM);
    http_req_free_args(req);
    assert_int_equal(parse(req, "a%00b=1"), ERR_PARAM);
    http_req_free_args(req);
    assert_int_equal(parse(req, "a=x%00y"), ERR_PARAM);
    http_req_free_args(req);
    /* a raw NUL byte inside the given length */
    assert_int_equal(http_req_parse_urlencoded(req, "a=x\0y", 5), ERR_PARAM);
    http_req_free_args(req);
    assert_int_equal(http_req_parse_urlencoded(req, "a\0=1", 4), ERR_PARAM);
    http_req_free_args(req);
    /* add_arg itself refuses NUL inside the lengths */
    assert_int_equal(http_req_add_arg(req, "k\0x", 3, "v", 1), -EINVAL);
    assert_int_equal(http_req_add_arg(req, "k", 1, "v\0x", 3), -EINVAL);
    assert_int_equal(req->nargs, 0);
}

static void test_length_bounded(void **state)
{
    struct http_req *req = *state;
    /* only n bytes are read; nothing past them (no NUL terminator needed) */
    char buf[8];
    memcpy(buf, "a=12b=3x", 8);
    assert_int_equal(http_req_parse_urlencoded(req, buf, 4), 0);
    assert_int_equal(req->nargs, 1);
    assert_arg(req, 0, "a", "12");
    http_req_free_args(req);
    /* an escape cut by the length is bad, not read past */
    memcpy(buf, "a=%41%42", 8);
    assert_int_equal(http_req_parse_urlencoded(req, buf, 7), ERR_PARAM);
    http_req_free_args(req);
    assert_int_equal(http_req_parse_urlencoded(req, buf, 8), 0);
    assert_arg(req, 0, "a", "AB");
}

static void test_add_arg_copies(void **state)
{
    struct http_req *req = *state;
    char k[8] = "key", v[8] = "value";
    assert_int_equal(http_req_add_arg(req, k, 3, v, 5), 0);
    k[0] = 'X';
    v[0] = 'X';
    assert_string_equal(http_req_arg(req, "key"), "value");
    /* lengths, not NULs, bound the copy */
    assert_int_equal(http_req_add_arg(req, "abcdef", 2, "uvwxyz", 3), 0);
    assert_string_equal(http_req_arg(req, "ab"), "uvw");
    assert_int_equal(http_req_add_arg(req, "e", 1, "", 0), 0);
    assert_string_equal(http_req_arg(req, "e"), "");
}

static void test_args_max_add(void **state)
{
    struct http_req *req = *state;
    char k[16];
    for (int i = 0; i < HTTP_ARGS_MAX; i++) {
        int n = snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(http_req_add_arg(req, k, (size_t)n, "v", 1), 0);
    }
    assert_int_equal(req->nargs, HTTP_ARGS_MAX);
    assert_int_equal(http_req_add_arg(req, "over", 4, "v", 1), -EMSGSIZE);
    assert_int_equal(req->nargs, HTTP_ARGS_MAX);
    assert_null(http_req_arg(req, "over"));
    assert_string_equal(http_req_arg(req, "k63"), "v");
}

static void test_args_max_parse(void **state)
{
    struct http_req *req = *state;
    char s[2048];
    size_t n = 0;
    for (int i = 0; i < HTTP_ARGS_MAX; i++)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "%sk%d=%d", i ? "&" : "", i, i);
    assert_int_equal(http_req_parse_urlencoded(req, s, n), 0);
    assert_int_equal(req->nargs, HTTP_ARGS_MAX);
    http_req_free_args(req);
    snprintf(s + n, sizeof(s) - n, "&one=more");
    assert_int_equal(parse(req, s), ERR_PARAM);
    assert_true(req->nargs <= HTTP_ARGS_MAX);
    assert_null(http_req_arg(req, "one"));
}

static void test_free_args(void **state)
{
    struct http_req *req = *state;
    assert_int_equal(parse(req, "a=1&b=2"), 0);
    http_req_free_args(req);
    assert_int_equal(req->nargs, 0);
    assert_null(http_req_arg(req, "a"));
    http_req_free_args(req); /* twice is harmless */
    assert_int_equal(parse(req, "c=3"), 0);
    assert_arg(req, 0, "c", "3");
}

static void test_long_value(void **state)
{
    struct http_req *req = *state;
    size_t n = 100000;
    char *s = malloc(n + 3);
    assert_non_null(s);
    memcpy(s, "v=", 2);
    memset(s + 2, '+', n);
    s[n + 2] = '\0';
    assert_int_equal(http_req_parse_urlencoded(req, s, n + 2), 0);
    assert_int_equal(strlen(http_req_arg(req, "v")), n);
    free(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_brief_example),
        T(test_empty_inputs),
        T(test_plus_and_escapes),
        T(test_value_with_equals),
        T(test_trailing_and_repeated_separators),
        T(test_first_match),
        T(test_bad_escapes),
        T(test_nul_refused),
        T(test_length_bounded),
        T(test_add_arg_copies),
        T(test_args_max_add),
        T(test_args_max_parse),
        T(test_free_args),
        T(test_long_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
