/* Unit tests for cfg: the table covers struct cfg exactly, defaults, parsing (every error
 * names its key, all errors are reported together), environment overrides, validation,
 * first-start generation, and that cfg.json.example stays complete. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "errcode.h"
#include "support.h"

#define ERRCAP 8192

/* The test's own view of struct cfg: B bool, I int64_t, S char *, L struct cfg_strlist. */
#define CFG_FIELDS(X)                                                                      \
    X(addr, S) X(enable_https, B) X(peer_id, S) X(host, S) X(peers, L) X(group, S)        \
    X(support_group_manage, B) X(enable_merge_small_file, B) X(merge_volume_size, I) X(merge_compact_percent, I) X(merge_compact_interval, I) X(enable_image_resize, B)    \
    X(image_max_width, I) X(image_max_height, I) X(extensions, L) X(refresh_interval, I)  \
    X(enable_trim_file_name_special_char, B) X(rename_file, B) X(enable_web_upload, B)    \
    X(enable_pprof_debug, B) X(enable_custom_path, B) X(download_domain, S) X(scenes, L)  \
    X(default_scene, S) X(show_dir, B) X(alarm_receivers, L) X(alarm_url, S)              \
    X(download_use_token, B) X(download_token_expire, I) X(auto_repair, B)                \
    X(file_sum_arithmetic, S) X(admin_key, S) X(admin_ips, L) X(enable_migrate, B)        \
    X(enable_distinct_file, B) X(enable_cross_origin, B) X(enable_google_auth, B)         \
    X(auth_url, S) X(enable_download_auth, B) X(default_download, B) X(read_only, B)      \
    X(enable_tus, B) X(sync_timeout, I) X(read_timeout, I) X(write_timeout, I)            \
    X(idle_timeout, I) X(read_header_timeout, I) X(sync_worker, I) X(upload_worker, I)    \
    X(retry_count, I) X(sync_delay, I) X(enable_fsnotify, B) X(max_upload_size, I)        \
    X(http_threads, I) X(log_level, S) X(cluster_secret, S) X(sync_mode, S) X(group_nodes, L) X(store_lookup, I) X(store_group, S) X(download_token_secret, S) X(google_auth_window, I) X(cors_origins, L) X(auth_timeout, I) X(https_ca_file, S) X(max_connections_per_ip, I) X(download_cache_size, I) X(lifecycle_interval, I) X(mail_host, S) X(mail_user, S) X(mail_password, S) X(mail_from, S) X(alarm_disk_percent, I) X(alarm_peer_down, I) X(alarm_interval, I) X(auth_cache_seconds, I)

#define T_B bool
#define T_I int64_t
#define T_S char *
#define T_L struct cfg_strlist

struct field {
    const char *name;
    char type;
    size_t off, size, align;
};

#define FIELD_ROW(k, t) \
    { #k, #t[0], offsetof(struct cfg, k), sizeof(T_##t), alignof(T_##t) },
static const struct field fields[] = { CFG_FIELDS(FIELD_ROW) };
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* ---- helpers --------------------------------------------------------------------------- */

static const char *const env_vars[] = {
    "FILESERVER_ADDR", "FILESERVER_SUPPORT_GROUP_MANAGE", "FILESERVER_SYNC_WORKER",
    "FILESERVER_PEERS", "FILESERVER_PEER_ID", "FILESERVER_EXTENSIONS", "FILESERVER_HOST",
    "FILESERVER_LOG_LEVEL", "FILESERVER_MAX_UPLOAD_SIZE", "FILESERVER_ENABLE_TUS",
    "FILESERVER_ADMIN_KEY", "FILESERVER_GROUP", "GO_FASTDFS_PEER_ID", "GO_FASTDFS_PEERS",
    "GO_FASTDFS_IP",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
    for (size_t i = 0; i < cfg_key_count(); i++) {
        char var[128] = "FILESERVER_";
        size_t o = strlen(var);
        for (const char *p = cfg_key_name(i); *p && o + 1 < sizeof(var); p++)
            var[o++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
        var[o] = '\0';
        unsetenv(var);
    }
}

static int teardown_env(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

static unsigned count_lines(const char *s)
{
    if (!*s)
        return 0;
    unsigned n = 1;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int parse(struct cfg *c, const char *json, char *err)
{
    cfg_defaults(c);
    return cfg_parse_buf(c, json, strlen(json), err, ERRCAP);
}

/* Parses json over defaults, expects failure and an error line starting with want. */
static void expect_parse_error(const char *json, const char *want)
{
    struct cfg c;
    char err[ERRCAP];
    assert_int_equal(parse(&c, json, err), ERR_CONFIG);
    if (!strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\" for %s", err, want, json);
    cfg_fini(&c);
}

static void source_dir_file(const char *rel, char *out, size_t cap)
{
    /* The binary's working directory is unknown; the sources sit next to this file. */
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    int dirlen = slash ? (int)(slash - f) : 1;
    snprintf(out, cap, "%.*s/%s", dirlen, slash ? f : ".", rel);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void load_fixture(struct cfg *c, const char *rel, char *err)
{
    char path[4096];
    size_t len;
    source_dir_file(rel, path, sizeof(path));
    char *text = slurp(path, &len);
    cfg_defaults(c);
    int rc = cfg_parse_buf(c, text, len, err, ERRCAP);
    if (rc != 0)
        fail_msg("%s: %s", rel, err);
    free(text);
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == '\0';
}

/* ---- the table ------------------------------------------------------------------------- */

static void test_table_names_match_struct(void **state)
{
    (void)state;
    assert_int_equal(cfg_key_count(), NFIELDS);
    for (size_t i = 0; i < NFIELDS; i++)
        assert_string_equal(cfg_key_name(i), fields[i].name);
    assert_null(cfg_key_name(NFIELDS));
}

static void test_fields_cover_struct(void **state)
{
    (void)state;
    /* The fields listed here leave no gap but padding: nothing in struct cfg is missed. */
    size_t order[NFIELDS];
    for (size_t i = 0; i < NFIELDS; i++)
        order[i] = i;
    for (size_t i = 1; i < NFIELDS; i++)
        for (size_t j = i; j > 0 && fields[order[j]].off < fields[order[j - 1]].off; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t end = 0;
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[order[i]];
        size_t expect = (end + f->align - 1) / f->align * f->align;
        if (f->off != expect)
            fail_msg("a field of struct cfg between offset %zu and %s is not in the test", end,
                     f->name);
        end = f->off + f->size;
    }
    size_t al = alignof(struct cfg);
    assert_int_equal((end + al - 1) / al * al, sizeof(struct cfg));
}

static void test_each_key_sets_its_field_only(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        struct cfg c;
        char err[ERRCAP], json[256];
        unsigned char before[sizeof(struct cfg)];
        cfg_defaults(&c);
        memcpy(before, &c, sizeof(c));
        const char *base = (const char *)&c;
        switch (f->type) {
        case 'B':
            snprintf(json, sizeof(json), "{\"%s\": %s}", f->name,
                     *(const bool *)(const void *)(base + f->off) ? "false" : "true");
            break;
        case 'I':
            snprintf(json, sizeof(json), "{\"%s\": %lld}", f->name,
                     (long long)*(const int64_t *)(const void *)(base + f->off) + 1);
            break;
        case 'S':
            snprintf(json, sizeof(json), "{\"%s\": \"zz\"}", f->name);
            break;
        default:
            snprintf(json, sizeof(json), "{\"%s\": [\"zz\", \"yy\"]}", f->name);
            break;
        }
        if (cfg_parse_buf(&c, json, strlen(json), err, sizeof(err)) != 0)
            fail_msg("%s: %s", json, err);
        const unsigned char *after = (const unsigned char *)&c;
        assert_memory_equal(before, after, f->off);
        assert_memory_equal(before + f->off + f->size, after + f->off + f->size,
                            sizeof(c) - f->off - f->size);
        if (memcmp(before + f->off, after + f->off, f->size) == 0)
            fail_msg("%s did not change its field", f->name);
        cfg_fini(&c);
    }
}

/* ---- defaults -------------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct cfg c;
    cfg_defaults(&c);
    assert_string_equal(c.addr, ":8080");
    assert_string_equal(c.group, "group1");
    assert_true(c.support_group_manage);
    assert_string_equal(c.default_scene, "default");
    assert_true(c.enable_distinct_file && c.enable_custom_path);
    assert_true(c.enable_trim_file_name_special_char && c.show_dir && c.default_download);
    assert_true(c.enable_cross_origin && c.enable_web_upload && c.enable_tus && c.auto_repair);
    assert_true(c.enable_image_resize);
    assert_string_equal(c.file_sum_arithmetic, "md5");
    assert_int_equal(c.download_token_expire, 600);
    assert_int_equal(c.refresh_interval, 1800);
    assert_int_equal(c.image_max_width, 2000);
    assert_int_equal(c.image_max_height, 1000);
    assert_int_equal(c.admin_ips.n, 1);
    assert_string_equal(c.admin_ips.v[0], "127.0.0.1");
    assert_int_equal(c.read_timeout, 600);
    assert_int_equal(c.write_timeout, 600);
    assert_int_equal(c.sync_worker, 8);
    assert_int_equal(c.upload_worker, 0);
    assert_int_equal(c.retry_count, 3);
    assert_int_equal(c.sync_delay, 60);
    assert_int_equal(c.max_upload_size, 0);
    assert_int_equal(c.http_threads, 0);
    assert_string_equal(c.log_level, "info");
    assert_false(c.enable_https || c.enable_merge_small_file || c.rename_file);
    assert_false(c.enable_pprof_debug || c.download_use_token || c.enable_migrate);
    assert_false(c.enable_google_auth || c.enable_download_auth || c.read_only);
    assert_false(c.enable_fsnotify);
    assert_string_equal(c.peer_id, "");
    assert_string_equal(c.host, "");
    assert_string_equal(c.admin_key, "");
    assert_string_equal(c.cluster_secret, "");
    assert_string_equal(c.download_domain, "");
    assert_string_equal(c.alarm_url, "");
    assert_string_equal(c.auth_url, "");
    assert_int_equal(c.peers.n + c.extensions.n + c.scenes.n + c.alarm_receivers.n, 0);
    assert_int_equal(c.sync_timeout + c.idle_timeout + c.read_header_timeout, 0);
    cfg_fini(&c);
}

static void test_defaults_only_lack_peer_id(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    cfg_defaults(&c);
    assert_int_equal(cfg_validate(&c, err, sizeof(err)), ERR_CONFIG);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "peer_id: "));
    cfg_fini(&c);
}

/* ---- parsing --------------------------------------------------------------------------- */

static void test_full_file(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    load_fixture(&c, "data/cfg/full.json", err);
    assert_int_equal(cfg_validate(&c, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_string_equal(c.addr, "0.0.0.0:9090");
    assert_true(c.enable_https);
    assert_string_equal(c.peer_id, "node_7");
    assert_string_equal(c.host, "http://10.0.0.7:9090");
    assert_int_equal(c.peers.n, 2);
    assert_string_equal(c.peers.v[0], "http://10.0.0.7:9090");
    assert_string_equal(c.peers.v[1], "https://10.0.0.8:9090");
    assert_string_equal(c.group, "g2");
    assert_false(c.support_group_manage);
    assert_int_equal(c.extensions.n, 3);
    assert_string_equal(c.extensions.v[0], ".jpg");
    assert_string_equal(c.extensions.v[1], ".png");
    assert_string_equal(c.extensions.v[2], ".tar.gz");
    assert_int_equal(c.scenes.n, 2);
    assert_string_equal(c.scenes.v[1], "secure:N7IET373HB2C5M6D");
    assert_string_equal(c.default_scene, "secure");
    assert_string_equal(c.file_sum_arithmetic, "sha1");
    assert_int_equal(c.admin_ips.n, 4);
    assert_string_equal(c.admin_ips.v[3], "fd00::/8");
    assert_int_equal(c.image_max_width, 4000);
    assert_int_equal(c.read_timeout, 0);
    assert_int_equal(c.write_timeout, 1200);
    assert_int_equal(c.sync_worker, 16);
    assert_int_equal(c.max_upload_size, 1073741824);
    assert_int_equal(c.http_threads, 12);
    assert_string_equal(c.log_level, "debug");
    assert_string_equal(c.sync_mode, "file");
    assert_true(c.enable_fsnotify && c.read_only && c.enable_google_auth);
    assert_false(c.enable_tus || c.enable_distinct_file || c.show_dir);
    assert_int_equal(cfg_addr_port(&c), 9090);
    cfg_fini(&c);
}

static void test_gofastdfs_generated_file(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    /* Chinese comment keys, "PeerID", "mail" and "proxies" must all be accepted. */
    load_fixture(&c, "data/cfg/gofastdfs.json", err);
    assert_int_equal(cfg_validate(&c, err, sizeof(err)), 0);
    assert_string_equal(c.peer_id, "3");
    assert_string_equal(c.host, "http://10.0.0.5:8080");
    assert_int_equal(c.peers.n, 2);
    assert_string_equal(c.admin_key, "4b6c0e0a-1d2f-3a4b-5c6d-7e8f9a0b1c2d");
    /* keys the template lacks keep our defaults */
    assert_int_equal(c.sync_worker, 8);
    assert_int_equal(c.read_timeout, 600);
    cfg_fini(&c);
}

static void test_comment_keys_ignored(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    assert_int_equal(parse(&c, "{\"绑定端号\": \"端口\", \"x\\u00e9\": 5, \"addr\": \":81\"}", err), 0);
    assert_string_equal(c.addr, ":81");
    cfg_fini(&c);
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_parse_error("{\"adr\": \":8080\"}", "adr: unknown key");
    expect_parse_error("{\"Addr\": \":8080\"}", "Addr: unknown key");
    expect_parse_error("{\"\": 1}", ": unknown key");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_parse_error("{\"enable_tus\": \"true\"}", "enable_tus: expected boolean");
    expect_parse_error("{\"enable_tus\": 1}", "enable_tus: expected boolean");
    expect_parse_error("{\"sync_worker\": \"8\"}", "sync_worker: expected integer");
    expect_parse_error("{\"sync_worker\": 8.0}", "sync_worker: expected integer");
    expect_parse_error("{\"sync_worker\": true}", "sync_worker: expected integer");
    expect_parse_error("{\"addr\": 8080}", "addr: expected string");
    expect_parse_error("{\"addr\": [\":8080\"]}", "addr: expected string");
    expect_parse_error("{\"peers\": \"http://a:1\"}", "peers: expected array of strings");
    expect_parse_error("{\"peers\": [\"http://a:1\", 2]}", "peers: expected array of strings");
    expect_parse_error("{\"peers\": {}}", "peers: expected array of strings");
    expect_parse_error("{\"scenes\": [[\"a\"]]}", "scenes: expected array of strings");
}

static void test_null_fails(void **state)
{
    (void)state;
    expect_parse_error("{\"enable_tus\": null}", "enable_tus: expected boolean");
    expect_parse_error("{\"sync_worker\": null}", "sync_worker: expected integer");
    expect_parse_error("{\"host\": null}", "host: expected string");
    expect_parse_error("{\"peers\": null}", "peers: expected array of strings");
    expect_parse_error("{\"peers\": [null]}", "peers: expected array of strings");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_parse_error("{\"sync_worker\": 0}", "sync_worker: 0 is out of range [1, 1024]");
    expect_parse_error("{\"sync_worker\": 100000}", "sync_worker: ");
    expect_parse_error("{\"read_timeout\": -1}", "read_timeout: -1 is out of range");
    expect_parse_error("{\"image_max_width\": 0}", "image_max_width: ");
    expect_parse_error("{\"max_upload_size\": -5}", "max_upload_size: ");
    expect_parse_error("{\"refresh_interval\": 0}", "refresh_interval: ");
    expect_parse_error("{\"retry_count\": 9223372036854775807}", "retry_count: ");
}

static void test_out_of_range_keeps_default(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    assert_int_equal(parse(&c, "{\"sync_worker\": 0}", err), ERR_CONFIG);
    assert_int_equal(c.sync_worker, 8); /* never silently zero */
    cfg_fini(&c);
}

static void test_list_limits(void **state)
{
    (void)state;
    char json[2048] = "{\"peers\": [";
    for (int i = 0; i <= CFG_LIST_MAX; i++) {
        size_t o = strlen(json);
        snprintf(json + o, sizeof(json) - o, "%s\"http://h%d\"", i ? "," : "", i);
    }
    size_t o = strlen(json);
    snprintf(json + o, sizeof(json) - o, "]}");
    expect_parse_error(json, "peers: more than 64 entries");
    expect_parse_error("{\"extensions\": [\"\"]}", "extensions: entry 0 is empty");
}

static void test_long_string(void **state)
{
    (void)state;
    size_t n = 5000;
    char *json = malloc(n + 32);
    assert_non_null(json);
    memcpy(json, "{\"admin_key\": \"", 15);
    memset(json + 15, 'a', n);
    memcpy(json + 15 + n, "\"}", 3);
    expect_parse_error(json, "admin_key: longer than 4096 bytes");
    free(json);
}

static void test_several_errors_reported(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    const char *json = "{\"nope\": 1, \"enable_tus\": \"x\", \"sync_worker\": -3, "
                       "\"peers\": 5, \"addr\": \":9000\", \"also_nope\": []}";
    assert_int_equal(parse(&c, json, err), ERR_CONFIG);
    assert_int_equal(count_lines(err), 5);
    assert_non_null(strstr(err, "nope: unknown key"));
    assert_non_null(strstr(err, "enable_tus: "));
    assert_non_null(strstr(err, "sync_worker: "));
    assert_non_null(strstr(err, "peers: "));
    assert_non_null(strstr(err, "also_nope: unknown key"));
    assert_string_equal(c.addr, ":9000"); /* good keys still apply */
    cfg_fini(&c);
}

static void test_error_buffer_truncates(void **state)
{
    (void)state;
    struct cfg c;
    char err[16];
    memset(err, 'x', sizeof(err));
    cfg_defaults(&c);
    const char *json = "{\"a_very_long_unknown_key\": 1, \"another\": 2}";
    assert_int_equal(cfg_parse_buf(&c, json, strlen(json), err, sizeof(err)), ERR_CONFIG);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(cfg_parse_buf(&c, json, strlen(json), NULL, 0), ERR_CONFIG);
    cfg_fini(&c);
}

static void test_bad_json(void **state)
{
    (void)state;
    expect_parse_error("", "json: ");
    expect_parse_error("{", "json: ");
    expect_parse_error("{\"addr\": \":1\",}", "json: ");
    expect_parse_error("[]", "json: the top level must be an object");
    expect_parse_error("\"addr\"", "json: ");
    expect_parse_error("{\"addr\": \":1\", \"addr\": \":2\"}", "json: ");
    expect_parse_error("{\"addr\": \"a\\u0000b\"}", "json: ");
    expect_parse_error("{\"sync_worker\": 99999999999999999999999}", "json: ");
}

static void test_normalisation(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    assert_int_equal(parse(&c,
                           "{\"extensions\": [\"JPG\", \".PnG\", \"..x\"], "
                           "\"peers\": [\"a:1/\", \"https://b:2//\", \"http://c:3\"], "
                           "\"host\": \"d:4/\"}",
                           err),
                     0);
    assert_string_equal(c.extensions.v[0], ".jpg");
    assert_string_equal(c.extensions.v[1], ".png");
    assert_string_equal(c.extensions.v[2], "..x");
    assert_string_equal(c.peers.v[0], "http://a:1");
    assert_string_equal(c.peers.v[1], "https://b:2");
    assert_string_equal(c.peers.v[2], "http://c:3");
    assert_string_equal(c.host, "http://d:4");
    cfg_fini(&c);
    assert_int_equal(parse(&c, "{\"host\": \"\", \"peers\": []}", err), 0);
    assert_string_equal(c.host, "");
    assert_int_equal(c.peers.n, 0);
    cfg_fini(&c);
}

static void test_list_replaced_not_appended(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    assert_int_equal(parse(&c, "{\"admin_ips\": [\"10.0.0.1\", \"10.0.0.2\"]}", err), 0);
    assert_int_equal(c.admin_ips.n, 2);
    assert_string_equal(c.admin_ips.v[0], "10.0.0.1");
    const char *again = "{\"admin_ips\": []}";
    assert_int_equal(cfg_parse_buf(&c, again, strlen(again), err, sizeof(err)), 0);
    assert_int_equal(c.admin_ips.n, 0);
    cfg_fini(&c);
}

static void test_to_json_roundtrip(void **state)
{
    (void)state;
    struct cfg a, b;
    char err[ERRCAP];
    load_fixture(&a, "data/cfg/full.json", err);
    char *j1 = cfg_to_json(&a);
    assert_int_equal(parse(&b, j1, err), 0);
    char *j2 = cfg_to_json(&b);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\n  \"addr\": \"0.0.0.0:9090\",\n")); /* 2-space indent */
    for (size_t i = 0; i < cfg_key_count(); i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "\n  \"%s\": ", cfg_key_name(i));
        assert_non_null(strstr(j1, needle));
    }
    free(j1);
    free(j2);
    cfg_fini(&a);
    cfg_fini(&b);
}

static void test_fini_twice_and_zeroed(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    load_fixture(&c, "data/cfg/full.json", err);
    cfg_fini(&c);
    cfg_fini(&c);
    assert_null(c.addr);
    assert_int_equal(c.peers.n, 0);
    struct cfg z;
    memset(&z, 0, sizeof(z));
    char *j = cfg_to_json(&z); /* a zeroed struct serialises (NULL strings as "") */
    assert_non_null(strstr(j, "\"addr\": \"\""));
    free(j);
    assert_int_equal(cfg_validate(&z, err, sizeof(err)), ERR_CONFIG);
    cfg_fini(&z);
}

/* ---- environment ----------------------------------------------------------------------- */

static void test_env_each_type(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    cfg_defaults(&c);
    setenv("FILESERVER_ADDR", ":9001", 1);
    setenv("FILESERVER_SUPPORT_GROUP_MANAGE", "false", 1);
    setenv("FILESERVER_ENABLE_TUS", "0", 1);
    setenv("FILESERVER_ENABLE_HTTPS", "TRUE", 1);
    setenv("FILESERVER_READ_ONLY", "1", 1);
    setenv("FILESERVER_SYNC_WORKER", "16", 1);
    setenv("FILESERVER_MAX_UPLOAD_SIZE", "1048576", 1);
    setenv("FILESERVER_PEERS", "[\"http://a:1\",\"http://b:2/\"]", 1);
    setenv("FILESERVER_EXTENSIONS", "JPG, png ,", 1);
    setenv("FILESERVER_HOST", "h:9001", 1);
    assert_int_equal(cfg_apply_env(&c, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_string_equal(c.addr, ":9001");
    assert_false(c.support_group_manage);
    assert_false(c.enable_tus);
    assert_true(c.enable_https);
    assert_true(c.read_only);
    assert_int_equal(c.sync_worker, 16);
    assert_int_equal(c.max_upload_size, 1048576);
    assert_int_equal(c.peers.n, 2);
    assert_string_equal(c.peers.v[1], "http://b:2");
    assert_int_equal(c.extensions.n, 2);
    assert_string_equal(c.extensions.v[0], ".jpg");
    assert_string_equal(c.extensions.v[1], ".png");
    assert_string_equal(c.host, "http://h:9001");
    cfg_fini(&c);
}

static void test_env_comma_list_and_empty(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    cfg_defaults(&c);
    setenv("FILESERVER_PEERS", "http://a:1,http://b:2", 1);
    setenv("FILESERVER_ADMIN_IPS", "", 1);
    assert_int_equal(cfg_apply_env(&c, err, sizeof(err)), 0);
    assert_int_equal(c.peers.n, 2);
    assert_string_equal(c.peers.v[0], "http://a:1");
    assert_string_equal(c.peers.v[1], "http://b:2");
    assert_int_equal(c.admin_ips.n, 0);
    cfg_fini(&c);
}

static void test_env_bad_values(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    cfg_defaults(&c);
    setenv("FILESERVER_SUPPORT_GROUP_MANAGE", "yes", 1);
    setenv("FILESERVER_SYNC_WORKER", "12x", 1);
    setenv("FILESERVER_RETRY_COUNT", "-1", 1);
    setenv("FILESERVER_UPLOAD_WORKER", "", 1);
    setenv("FILESERVER_PEERS", "[1, 2]", 1);
    setenv("FILESERVER_SCENES", "[\"a\"", 1);
    setenv("FILESERVER_ADMIN_KEY", "\xff\xfe", 1);
    assert_int_equal(cfg_apply_env(&c, err, sizeof(err)), ERR_CONFIG);
    assert_int_equal(count_lines(err), 7);
    assert_non_null(strstr(err, "FILESERVER_SUPPORT_GROUP_MANAGE: "));
    assert_non_null(strstr(err, "FILESERVER_SYNC_WORKER: "));
    assert_non_null(strstr(err, "FILESERVER_RETRY_COUNT: "));
    assert_non_null(strstr(err, "FILESERVER_UPLOAD_WORKER: "));
    assert_non_null(strstr(err, "FILESERVER_PEERS: "));
    assert_non_null(strstr(err, "FILESERVER_SCENES: "));
    assert_non_null(strstr(err, "FILESERVER_ADMIN_KEY: "));
    assert_true(c.support_group_manage);
    assert_int_equal(c.sync_worker, 8);
    cfg_fini(&c);
}

static void test_env_gofastdfs_vars(void **state)
{
    (void)state;
    struct cfg c;
    char err[ERRCAP];
    cfg_defaults(&c);
    setenv("GO_FASTDFS_PEER_ID", "5", 1);
    setenv("GO_FASTDFS_PEERS", "http://a:8080\",\"http://b:8080", 1);
    assert_int_equal(cfg_apply_env(&c, err, sizeof(err)), 0);
    assert_string_equal(c.peer_id, "5");
    assert_int_equal(c.peers.n, 2);
    assert_string_equal(c.peers.v[0], "http://a:8080");
    assert_string_equal(c.peers.v[1], "http://b:8080");
    /* our own spelling wins */
    setenv("FILESERVER_PEER_ID", "42", 1);
    assert_int_equal(cfg_apply_env(&c, err, sizeof(err)), 0);
    assert_string_equal(c.peer_id, "42");
    cfg_fini(&c);
}

/* ---- validation ------------------------------------------------------------------------ */

static struct cfg valid_cfg(void)
{
    struct cfg c;
    cfg_defaults(&c);
    free(c.peer_id);
    c.peer_id = strdup("10001");
    return c;
}

/* Parses json over a valid config, expects validation to fail naming want. */
static void expect_invalid(const char *json, const char *want)
{
    struct cfg c = valid_cfg();
    char err[ERRCAP];
    if (cfg_parse_buf(&c, json, strlen(json), err, sizeof(err)) != 0)
        fail_msg("%s: %s", json, err);
    assert_int_equal(cfg_validate(&c, err, sizeof(err)), ERR_CONFIG);
    if (!strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\" for %s", err, want, json);
    cfg_fini(&c);
}

static void expect_valid(const char *json)
{
    struct cfg c = valid_cfg();
    char err[ERRCAP];
    if (cfg_parse_buf(&c, json, strlen(json), err, sizeof(err)) != 0 ||
        cfg_validate(&c, err, sizeof(err)) != 0)
        fail_msg("%s: %s", json, err);
    cfg_fini(&c);
}

static void test_validate_addr(void **state)
{
    (void)state;
    expect_valid("{\"addr\": \":8080\"}");
    expect_valid("{\"addr\": \"127.0.0.1:8080\"}");
    expect_valid("{\"addr\": \"0.0.0.0:1\"}");
    expect_valid("{\"addr\": \"[::1]:65535\"}");
    expect_valid("{\"addr\": \"localhost:80\"}");
    const char *bad[] = { "", ":0", ":65536", "8080", ":", ":80a", "a:b:1", "[::1]8080",
                          "[::1:80", "[zz]:80", "::1:80", ":-1", ":+80", ":123456", "h st:80" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"addr\": \"%s\"}", bad[i]);
        expect_invalid(json, "addr: ");
    }
}

static void test_validate_enums(void **state)
{
    (void)state;
    expect_valid("{\"file_sum_arithmetic\": \"sha1\"}");
    expect_invalid("{\"file_sum_arithmetic\": \"crc32\"}", "file_sum_arithmetic: ");
    expect_invalid("{\"file_sum_arithmetic\": \"MD5\"}", "file_sum_arithmetic: ");
    expect_valid("{\"log_level\": \"off\"}");
    expect_valid("{\"log_level\": \"warn\"}");
    expect_invalid("{\"log_level\": \"verbose\"}", "log_level: ");
    expect_valid("{\"sync_mode\": \"file\"}");
    expect_valid("{\"sync_mode\": \"none\"}");
    expect_invalid("{\"sync_mode\": \"off\"}", "sync_mode: ");
    expect_invalid("{\"sync_mode\": \"\"}", "sync_mode: ");
}

static void test_validate_names(void **state)
{
    (void)state;
    expect_invalid("{\"group\": \"\"}", "group: ");
    expect_valid("{\"group\": \"\", \"support_group_manage\": false}");
    expect_invalid("{\"group\": \"a/b\"}", "group: ");
    expect_invalid("{\"group\": \"..\"}", "group: ");
    expect_invalid("{\"group\": \"a b\", \"support_group_manage\": false}", "group: ");
    expect_valid("{\"group\": \"Group_1.x-y\"}");
    expect_invalid("{\"default_scene\": \"\"}", "default_scene: ");
    expect_invalid("{\"default_scene\": \".\"}", "default_scene: ");
    expect_invalid("{\"default_scene\": \"a/b\"}", "default_scene: ");
    expect_invalid("{\"peer_id\": \"\"}", "peer_id: ");
    expect_invalid("{\"peer_id\": \"a b\"}", "peer_id: ");
    expect_invalid("{\"peer_id\": \"a.b\"}", "peer_id: ");
    expect_valid("{\"peer_id\": \"node-1_a\"}");
    expect_invalid("{\"scenes\": [\"a/b\"]}", "scenes: ");
    expect_invalid("{\"scenes\": [\"a:\"]}", "scenes: ");
    expect_valid("{\"scenes\": [\"a\", \"b:N7IET373HB2C5M6D\"]}");
}

static void test_validate_urls(void **state)
{
    (void)state;
    expect_invalid("{\"host\": \"ftp://x\"}", "host: ");
    expect_invalid("{\"peers\": [\"ftp://x\"]}", "peers: ");
    expect_invalid("{\"alarm_url\": \"x://y\"}", "alarm_url: ");
    expect_invalid("{\"auth_url\": \"mailto://y\"}", "auth_url: ");
    expect_valid("{\"auth_url\": \"https://auth\", \"alarm_url\": \"http://al\"}");
    expect_invalid("{\"extensions\": [\"a/b\"]}", "extensions: ");
}

static void test_validate_admin_ips(void **state)
{
    (void)state;
    expect_valid("{\"admin_ips\": [\"0.0.0.0\", \"10.0.0.0/8\", \"192.168.1.1/32\", \"::1\", "
                 "\"fe80::/10\", \"::/0\"]}");
    const char *bad[] = { "foo", "1.2.3.4/33", "1.2.3.4/", "::1/129", "/8", "1.2.3", "1.2.3.4/a",
                          "1.2.3.4/8/8", "10.0.0.256" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"admin_ips\": [\"%s\"]}", bad[i]);
        expect_invalid(json, "admin_ips: ");
    }
}

static void test_validate_ranges_and_many_errors(void **state)
{
    (void)state;
    struct cfg c = valid_cfg();
    char err[ERRCAP];
    c.read_timeout = -1;
    c.sync_worker = 0;
    free(c.addr);
    c.addr = strdup("nope");
    free(c.log_level);
    c.log_level = strdup("loud");
    assert_int_equal(cfg_validate(&c, err, sizeof(err)), ERR_CONFIG);
    assert_int_equal(count_lines(err), 4);
    assert_non_null(strstr(err, "read_timeout: "));
    assert_non_null(strstr(err, "sync_worker: "));
    assert_non_null(strstr(err, "addr: "));
    assert_non_null(strstr(err, "log_level: "));
    cfg_fini(&c);
}

static void test_addr_port_forms(void **state)
{
    (void)state;
    struct cfg c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(cfg_addr_port(&c), -1);
    const struct {
        const char *addr;
        int port;
    } cases[] = {
        { ":8080", 8080 },        { "127.0.0.1:8080", 8080 }, { "0.0.0.0:8080", 8080 },
        { "[::1]:8080", 8080 },   { "[::]:1", 1 },            { "host.example:65535", 65535 },
        { ":0", -1 },             { ":65536", -1 },           { "8080", -1 },
        { "", -1 },               { "[::1]", -1 },            { "::1:8080", -1 },
        { ":08080", 8080 },       { ":", -1 },                { "a:80 ", -1 },
    };
    char buf[64];
    c.addr = buf;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i].addr);
        if (cfg_addr_port(&c) != cases[i].port)
            fail_msg("%s: got %d want %d", cases[i].addr, cfg_addr_port(&c), cases[i].port);
    }
}

/* ---- loading and generation ------------------------------------------------------------ */

static void test_generate_fresh(void **state)
{
    (void)state;
    char dir[512], path[600], err[ERRCAP];
    support_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/conf/sub/cfg.json", dir);
    setenv("FILESERVER_ADDR", ":9000", 1);
    setenv("GO_FASTDFS_IP", "10.1.2.3", 1);
    struct cfg c;
    if (cfg_load(&c, path, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_string_equal(c.addr, ":9000");
    assert_string_equal(c.host, "http://10.1.2.3:9000");
    assert_int_equal(c.peers.n, 1);
    assert_string_equal(c.peers.v[0], "http://10.1.2.3:9000");
    assert_int_equal(strlen(c.peer_id), 5);
    long id = strtol(c.peer_id, NULL, 10);
    assert_in_range(id, 10000, 99999);
    const char *k = c.admin_key;
    assert_int_equal(strlen(k), 36);
    assert_true(k[8] == '-' && k[13] == '-' && k[18] == '-' && k[23] == '-');
    char hexonly[33];
    snprintf(hexonly, sizeof(hexonly), "%.8s%.4s%.4s%.4s%.12s", k, k + 9, k + 14, k + 19, k + 24);
    assert_true(is_lower_hex(hexonly, 32));
    assert_true(is_lower_hex(c.cluster_secret, 32));
    assert_string_equal(c.group, "group1");

    /* The file holds every key and reloads to the same configuration. */
    size_t len;
    char *text = slurp(path, &len);
    for (size_t i = 0; i < cfg_key_count(); i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "\n  \"%s\": ", cfg_key_name(i));
        assert_non_null(strstr(text, needle));
    }
    clear_env();
    struct cfg again;
    if (cfg_load(&again, path, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    char *j1 = cfg_to_json(&c), *j2 = cfg_to_json(&again);
    assert_string_equal(j1, j2);
    size_t len2;
    char *text2 = slurp(path, &len2);
    assert_string_equal(text, text2); /* not regenerated */
    free(j1);
    free(j2);
    free(text);
    free(text2);
    cfg_fini(&c);
    cfg_fini(&again);
    support_rmtree(dir);
}

static void test_generate_default_port_and_gofastdfs_peers(void **state)
{
    (void)state;
    char dir[512], path[600], err[ERRCAP];
    support_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/cfg.json", dir);
    setenv("GO_FASTDFS_PEERS", "http://a:8080\",\"http://b:8080", 1);
    setenv("GO_FASTDFS_PEER_ID", "7", 1);
    struct cfg c;
    if (cfg_load(&c, path, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(strncmp(c.host, "http://", 7) == 0);
    size_t hl = strlen(c.host);
    assert_true(hl > 5 && strcmp(c.host + hl - 5, ":8080") == 0);
    assert_string_equal(c.peer_id, "7");
    assert_int_equal(c.peers.n, 2);
    assert_string_equal(c.peers.v[1], "http://b:8080");
    cfg_fini(&c);
    support_rmtree(dir);
}

static void test_generate_refuses_bad_env(void **state)
{
    (void)state;
    char dir[512], path[600], err[ERRCAP];
    support_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/cfg.json", dir);
    struct cfg c;
    memset(&c, 0, sizeof(c));
    setenv("FILESERVER_ADDR", "nope", 1);
    assert_int_equal(cfg_load(&c, path, err, sizeof(err)), ERR_CONFIG);
    assert_non_null(strstr(err, "addr: "));
    setenv("FILESERVER_ADDR", ":8080", 1);
    setenv("FILESERVER_LOG_LEVEL", "loud", 1);
    assert_int_equal(cfg_load(&c, path, err, sizeof(err)), ERR_CONFIG);
    assert_non_null(strstr(err, "log_level: "));
    setenv("FILESERVER_LOG_LEVEL", "info", 1);
    setenv("FILESERVER_SYNC_WORKER", "x", 1);
    assert_int_equal(cfg_load(&c, path, err, sizeof(err)), ERR_CONFIG);
    assert_non_null(strstr(err, "FILESERVER_SYNC_WORKER: "));
    assert_int_equal(access(path, F_OK), -1); /* nothing written */
    assert_null(c.addr);                      /* out-parameter untouched on failure */
    support_rmtree(dir);
}

static void test_broken_file_not_overwritten(void **state)
{
    (void)state;
    char dir[512], path[600], err[ERRCAP];
    const char *bodies[] = { "{", "", "{\"addr\": 5}", "{\"unknown\": true}", "[]",
                             "{\"peer_id\": \"1\", \"addr\": \"x\"}" };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        support_tmpdir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/cfg.json", dir);
        support_write_file(path, bodies[i], strlen(bodies[i]));
        struct cfg c;
        assert_int_equal(cfg_load(&c, path, err, sizeof(err)), ERR_CONFIG);
        assert_true(err[0] != '\0');
        size_t len;
        char *text = slurp(path, &len);
        assert_string_equal(text, bodies[i]);
        free(text);
        support_rmtree(dir);
    }
}

static void test_load_existing_applies_env_and_derives_host(void **state)
{
    (void)state;
    char dir[512], path[600], err[ERRCAP];
    support_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/cfg.json", dir);
    const char *body = "{\"peer_id\": \"1\", \"addr\": \":7000\"}";
    support_write_file(path, body, strlen(body));
    setenv("FILESERVER_SYNC_WORKER", "3", 1);
    setenv("GO_FASTDFS_IP", "192.0.2.9", 1);
    struct cfg c;
    if (cfg_load(&c, path, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(c.sync_worker, 3);
    assert_string_equal(c.host, "http://192.0.2.9:7000");
    assert_string_equal(c.admin_key, ""); /* an existing file is never completed behind us */
    cfg_fini(&c);
    support_rmtree(dir);
}

static void test_load_unreadable_paths(void **state)
{
    (void)state;
    char dir[512], path[600], err[ERRCAP];
    struct cfg c;
    support_tmpdir(dir, sizeof(dir));
    /* a directory where the file should be */
    assert_int_equal(cfg_load(&c, dir, err, sizeof(err)), ERR_CONFIG);
    assert_non_null(strstr(err, dir));
    /* parent is a regular file: cannot create */
    snprintf(path, sizeof(path), "%s/f", dir);
    support_write_file(path, "x", 1);
    snprintf(path, sizeof(path), "%s/f/cfg.json", dir);
    assert_int_equal(cfg_load(&c, path, err, sizeof(err)), ERR_CONFIG);
    support_rmtree(dir);
}

/* ---- cfg.json.example ------------------------------------------------------------------ */

static void test_example_file(void **state)
{
    (void)state;
    char path[4096], err[ERRCAP];
    size_t len;
    source_dir_file("../../cfg.json.example", path, sizeof(path));
    char *text = slurp(path, &len);
    struct cfg c;
    cfg_defaults(&c);
    if (cfg_parse_buf(&c, text, len, err, sizeof(err)) != 0 ||
        cfg_validate(&c, err, sizeof(err)) != 0)
        fail_msg("cfg.json.example: %s", err);
    /* No comment keys (they would be ignored silently) and one line per table key. */
    unsigned members = 0;
    for (size_t i = 0; i < len; i++) {
        assert_true((unsigned char)text[i] < 0x80);
        if (text[i] == '\n' && strncmp(text + i + 1, "  \"", 3) == 0)
            members++;
    }
    assert_int_equal(members, cfg_key_count());
    for (size_t i = 0; i < cfg_key_count(); i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "\n  \"%s\": ", cfg_key_name(i));
        if (!strstr(text, needle))
            fail_msg("cfg.json.example lacks %s", cfg_key_name(i));
    }
    free(text);
    cfg_fini(&c);
}

int main(void)
{
    clear_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_names_match_struct),
        cmocka_unit_test(test_fields_cover_struct),
        cmocka_unit_test(test_each_key_sets_its_field_only),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_defaults_only_lack_peer_id),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_gofastdfs_generated_file),
        cmocka_unit_test(test_comment_keys_ignored),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_null_fails),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_out_of_range_keeps_default),
        cmocka_unit_test(test_list_limits),
        cmocka_unit_test(test_long_string),
        cmocka_unit_test(test_several_errors_reported),
        cmocka_unit_test(test_error_buffer_truncates),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_list_replaced_not_appended),
        cmocka_unit_test(test_to_json_roundtrip),
        cmocka_unit_test(test_fini_twice_and_zeroed),
        cmocka_unit_test_teardown(test_env_each_type, teardown_env),
        cmocka_unit_test_teardown(test_env_comma_list_and_empty, teardown_env),
        cmocka_unit_test_teardown(test_env_bad_values, teardown_env),
        cmocka_unit_test_teardown(test_env_gofastdfs_vars, teardown_env),
        cmocka_unit_test(test_validate_addr),
        cmocka_unit_test(test_validate_enums),
        cmocka_unit_test(test_validate_names),
        cmocka_unit_test(test_validate_urls),
        cmocka_unit_test(test_validate_admin_ips),
        cmocka_unit_test(test_validate_ranges_and_many_errors),
        cmocka_unit_test(test_addr_port_forms),
        cmocka_unit_test_teardown(test_generate_fresh, teardown_env),
        cmocka_unit_test_teardown(test_generate_default_port_and_gofastdfs_peers, teardown_env),
        cmocka_unit_test_teardown(test_generate_refuses_bad_env, teardown_env),
        cmocka_unit_test_teardown(test_broken_file_not_overwritten, teardown_env),
        cmocka_unit_test_teardown(test_load_existing_applies_env_and_derives_host, teardown_env),
        cmocka_unit_test(test_load_unreadable_paths),
        cmocka_unit_test(test_example_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
