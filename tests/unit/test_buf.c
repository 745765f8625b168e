/* Unit tests for buf: growth, NUL termination, the hard ceiling (a failing append leaves
 * the buffer unchanged), appendf growth and steal/reset/fini life-cycle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_init_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100);
    buf_fini(&b);
}

static void test_append_and_nul(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1000);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_int_equal(buf_appends(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(b.data[b.len], '\0');
    buf_fini(&b);
}

static void test_append_zero_bytes(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, NULL, 0), 0);
    assert_int_equal(buf_appends(&b, ""), 0);
    assert_int_equal(b.len, 0);
    buf_fini(&b);
}

static void test_append_exactly_max(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345678", 8), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(buf_append(&b, "x", 1), -EMSGSIZE);
    buf_fini(&b);
}

static void test_append_past_max_unchanged(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_appends(&b, "hello"), 0);
    char *before = b.data;
    size_t cap = b.cap;
    assert_int_equal(buf_appends(&b, "worlds"), -EMSGSIZE);
    assert_int_equal(b.len, 5);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "hello");
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), -EMSGSIZE);
    assert_int_equal(b.len, 5);
    buf_fini(&b);
}

static void test_max_zero(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "a", 1), -EMSGSIZE);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 0);
    buf_fini(&b);
}

static void test_growth_large(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= b.len + 1);
    assert_true(b.cap <= (1 << 20) + 1);
    assert_memory_equal(b.data + 99990, "0123456789", 10);
    buf_fini(&b);
}

static void test_appendf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1000);
    assert_int_equal(buf_appendf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(buf_appendf(&b, "|%05u", 7u), 0);
    assert_string_equal(b.data, "42-x|00007");
    assert_int_equal(b.len, strlen("42-x|00007"));
    buf_fini(&b);
}

static void test_appendf_growth(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100000);
    char big[5000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(buf_appendf(&b, "%s", "start"), 0);
    assert_int_equal(buf_appendf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 5 + 2 + 4999);
    assert_int_equal(b.data[5], '[');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    buf_fini(&b);
}

static void test_appendf_past_max_unchanged(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_appendf(&b, "%s", "abc"), 0);
    assert_int_equal(buf_appendf(&b, "%s", "12345678"), -EMSGSIZE);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    assert_int_equal(buf_appendf(&b, "%d", 1234567), 0);
    assert_string_equal(b.data, "abc1234567");
    buf_fini(&b);
}

static void test_reset_keeps_memory(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_appends(&b, "something"), 0);
    char *p = b.data;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, p);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_appends(&b, "x"), 0);
    assert_string_equal(b.data, "x");
    buf_fini(&b);
}

static void test_reset_never_used(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    buf_reset(&b);
    assert_null(b.data);
    buf_fini(&b);
}

static void test_steal(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_appends(&b, "payload"), 0);
    size_t len = 0;
    char *s = buf_steal(&b, &len);
    assert_string_equal(s, "payload");
    assert_int_equal(len, 7);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
    assert_int_equal(buf_appends(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    buf_fini(&b);
}

static void test_steal_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    size_t len = 99;
    char *s = buf_steal(&b, &len);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);
    s = buf_steal(&b, NULL);
    assert_string_equal(s, "");
    free(s);
    buf_fini(&b);
}

static void test_fini_then_reinit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_appends(&b, "abc"), 0);
    buf_fini(&b);
    buf_fini(&b);
    buf_init(&b, 4);
    assert_int_equal(buf_appends(&b, "abcd"), 0);
    assert_string_equal(b.data, "abcd");
    buf_fini(&b);
}

static void test_binary_content(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_empty),
        cmocka_unit_test(test_append_and_nul),
        cmocka_unit_test(test_append_zero_bytes),
        cmocka_unit_test(test_append_exactly_max),
        cmocka_unit_test(test_append_past_max_unchanged),
        cmocka_unit_test(test_max_zero),
        cmocka_unit_test(test_growth_large),
        cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_appendf_growth),
        cmocka_unit_test(test_appendf_past_max_unchanged),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_reset_never_used),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_steal_empty),
        cmocka_unit_test(test_fini_then_reinit),
        cmocka_unit_test(test_binary_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
