/* Unit tests for errcode: every ERR_* has text and its table status, errno codes map to
 * their documented statuses, and unknown codes still give text and 500. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "errcode.h"

static void test_err_text_from_table(void **state)
{
    (void)state;
    assert_string_equal(errcode_str(ERR_BADREQ), "bad request");
    assert_string_equal(errcode_str(ERR_BADPATH), "path not allowed");
    assert_string_equal(errcode_str(ERR_UNAVAIL), "service unavailable");
}

static void test_every_err_has_text_and_status(void **state)
{
    (void)state;
#define CHECK_ONE(name, value, status, text)                  \
    assert_int_equal(name, value);                            \
    assert_string_equal(errcode_str(name), text);             \
    assert_int_equal(errcode_http_status(name), status);
    ERRCODE_LIST(CHECK_ONE)
#undef CHECK_ONE
}

static void test_errno_text(void **state)
{
    (void)state;
    const char *s = errcode_str(-ENOENT);
    assert_non_null(s);
    assert_string_equal(s, strerror(ENOENT));
    assert_string_equal(errcode_str(-EACCES), strerror(EACCES));
}

static void test_zero_and_unknown(void **state)
{
    (void)state;
    assert_non_null(errcode_str(0));
    assert_true(strlen(errcode_str(0)) > 0);
    assert_non_null(errcode_str(-999));
    assert_non_null(errcode_str(-5000));
    assert_true(strlen(errcode_str(-5000)) > 0);
    assert_non_null(errcode_str(42));
    assert_int_equal(errcode_http_status(-5000), 500);
    assert_int_equal(errcode_http_status(-999), 500);
}

static void test_errno_status(void **state)
{
    (void)state;
    assert_int_equal(errcode_http_status(-ENOENT), 404);
    assert_int_equal(errcode_http_status(-EACCES), 403);
    assert_int_equal(errcode_http_status(-EPERM), 403);
    assert_int_equal(errcode_http_status(-ENOSPC), 507);
    assert_int_equal(errcode_http_status(-EMSGSIZE), 413);
    assert_int_equal(errcode_http_status(-EFBIG), 413);
    assert_int_equal(errcode_http_status(-EINVAL), 400);
    assert_int_equal(errcode_http_status(-EIO), 500);
    assert_int_equal(errcode_http_status(0), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_text_from_table),
        cmocka_unit_test(test_every_err_has_text_and_status),
        cmocka_unit_test(test_errno_text),
        cmocka_unit_test(test_zero_and_unknown),
        cmocka_unit_test(test_errno_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
