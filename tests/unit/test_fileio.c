/* Unit tests for fileio: whole positional writes and reads at offsets (a gap stays a hole of
 * zeros), two pieces written as one run, a read past the end is -ENODATA, and a bad
 * descriptor is its errno. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "support.h"

/* A new empty file in a fresh temp dir (removed by the caller with support_rmtree). */
static int open_scratch(char *dir, size_t cap)
{
    char path[600];
    support_tmpdir(dir, cap);
    snprintf(path, sizeof path, "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    return fd;
}

static void test_write_then_read(void **state)
{
    (void)state;
    char dir[512];
    int fd = open_scratch(dir, sizeof dir);
    unsigned char data[70000], back[70000];
    support_fill(data, sizeof data, 3);
    assert_int_equal(fileio_pwrite_all(fd, data, sizeof data, 100), 0);
    assert_int_equal(fileio_pwrite_all(fd, "", 0, 5), 0);
    assert_int_equal(fileio_pread_all(fd, back, sizeof back, 100), 0);
    assert_memory_equal(back, data, sizeof data);
    char head[100], zeros[100] = {0};
    assert_int_equal(fileio_pread_all(fd, head, sizeof head, 0), 0);
    assert_memory_equal(head, zeros, sizeof head);
    /* one byte past the end */
    assert_int_equal(fileio_pread_all(fd, back, sizeof data + 1, 100), -ENODATA);
    assert_int_equal(fileio_pread_all(fd, back, 1, 100 + sizeof data), -ENODATA);
    close(fd);
    support_rmtree(dir);
}

static void test_two_pieces_one_run(void **state)
{
    (void)state;
    char dir[512];
    int fd = open_scratch(dir, sizeof dir);
    unsigned char data[90000], back[90000];
    support_fill(data, sizeof data, 5);
    assert_int_equal(fileio_pwrite2_all(fd, data, 1000, data + 1000, 39000, 0), 0);
    assert_int_equal(fileio_pwrite2_all(fd, NULL, 0, data + 40000, 30000, 40000), 0);
    assert_int_equal(fileio_pwrite2_all(fd, data + 70000, 20000, NULL, 0, 70000), 0);
    assert_int_equal(fileio_pwrite2_all(fd, NULL, 0, NULL, 0, 5), 0);
    assert_int_equal(fileio_pread_all(fd, back, sizeof back, 0), 0);
    assert_memory_equal(back, data, sizeof data);
    assert_int_equal(fileio_pread_all(fd, back, 1, sizeof data), -ENODATA);
    assert_int_equal(fileio_pwrite2_all(-1, data, 1, data, 1, 0), -EBADF);
    close(fd);
    support_rmtree(dir);
}

static void test_bad_descriptor(void **state)
{
    (void)state;
    char b[4] = "abc";
    assert_int_equal(fileio_pwrite_all(-1, b, sizeof b, 0), -EBADF);
    assert_int_equal(fileio_pread_all(-1, b, sizeof b, 0), -EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_two_pieces_one_run),
        cmocka_unit_test(test_bad_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
