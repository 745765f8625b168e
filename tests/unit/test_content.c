/* Unit tests for content: a small file whose bytes went to a temp file (a replication fetch
 * once the memory budget is spent) is appended to a volume whole, the bytes the temp still
 * holds back in its carry included, and reads back equal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content.h"
#include "digest.h"
#include "fileinfo.h"
#include "server.h"
#include "store.h"
#include "support.h"

struct fixture {
    char base[512];
    struct server srv;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char conf[600], cfg[700], err[256];
    support_tmpdir(f->base, sizeof f->base);
    snprintf(conf, sizeof conf, "%s/conf", f->base);
    snprintf(cfg, sizeof cfg, "%s/cfg.json", conf);
    static const char text[] =
        "{\"peer_id\": \"7\", \"enable_merge_small_file\": true, \"sync_mode\": \"none\", "
        "\"log_level\": \"error\"}";
    if (mkdir(conf, 0775) < 0) {
        free(f);
        return -1;
    }
    support_write_file(cfg, text, strlen(text));
    if (server_init(&f->srv, f->base, NULL, err, sizeof err) != 0) {
        print_error("server_init: %s\n", err);
        server_fini(&f->srv);
        support_rmtree(f->base);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    server_fini(&f->srv);
    support_rmtree(f->base);
    free(f);
    return 0;
}

/* Pieces that leave bytes in the temp's carry (they do not end on its alignment): the
 * append reads the temp back, so it must first pass the gate that writes them out. */
static void test_append_small_from_file_temp(void **state)
{
    struct fixture *f = *state;
    enum { LEN = 5000 + 7000 + 3001 };
    static unsigned char data[LEN];
    support_fill(data, LEN, 77);
    struct store_tmp tmp;
    assert_int_equal(store_tmp_create(f->srv.store, &tmp), 0);
    assert_null(tmp.mem);
    assert_int_equal(store_tmp_write(&tmp, data, 5000), 0);
    assert_int_equal(store_tmp_write(&tmp, data + 5000, 7000), 0);
    assert_int_equal(store_tmp_write(&tmp, data + 12000, 3001), 0);
    assert_true(tmp.carried > 0); /* what the gate is for */

    struct file_info fi;
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof fi.name, "small.bin");
    snprintf(fi.path, sizeof fi.path, "files/default/20260101/00/00/7");
    snprintf(fi.scene, sizeof fi.scene, "default");
    digest_md5_hex(data, LEN, fi.md5);
    fi.size = LEN;
    fi.timestamp = 1767225600;
    assert_int_equal(content_append_small(&f->srv, &tmp, &fi, true, false), 0);
    assert_true(fi.volume > 0);

    int fd = -1;
    uint64_t base = 0;
    struct stat st;
    assert_int_equal(content_open(&f->srv, &fi, &fd, &base, &st), 0);
    static unsigned char back[LEN];
    assert_int_equal(pread(fd, back, LEN, (off_t)base), LEN);
    assert_memory_equal(back, data, LEN);
    close(fd);
    content_small_done(&f->srv, &fi, false);
    store_tmp_discard(f->srv.store, &tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_small_from_file_temp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
