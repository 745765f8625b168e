/* Unit tests for fileinfo: the go-fastdfs JSON record (field order, round trip of every
 * field), every form a hostile or broken record can take (types, lengths, names, confined
 * path, digest, sizes, duplicate keys), go-fastdfs's float numbers, path keys computed
 * independently, relative paths and the bounded peer list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "errcode.h"
#include "fileinfo.h"

#define MD5_A "0123456789abcdef0123456789abcdef"
#define SHA_A "0123456789abcdef0123456789abcdef01234567"

static void sample(struct file_info *fi)
{
    fileinfo_init(fi);
    snprintf(fi->name, sizeof(fi->name), "photo (1).jpg");
    snprintf(fi->rename, sizeof(fi->rename), "a1b2c3.jpg");
    snprintf(fi->path, sizeof(fi->path), "files/default/20240101/12/30");
    snprintf(fi->md5, sizeof(fi->md5), MD5_A);
    snprintf(fi->scene, sizeof(fi->scene), "default");
    fi->size = 123456789012LL;
    fi->timestamp = 1704112200;
    fi->offset = -2;
    assert_int_equal(fileinfo_add_peer(fi, "http://10.0.0.1:8080"), 0);
    assert_int_equal(fileinfo_add_peer(fi, "http://10.0.0.2:8080"), 0);
}

static void assert_fi_equal(const struct file_info *a, const struct file_info *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->rename, b->rename);
    assert_string_equal(a->path, b->path);
    assert_string_equal(a->md5, b->md5);
    assert_string_equal(a->scene, b->scene);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->timestamp, b->timestamp);
    assert_int_equal(a->offset, b->offset);
    assert_int_equal(a->npeers, b->npeers);
    for (size_t i = 0; i < a->npeers; i++)
        assert_string_equal(a->peers[i], b->peers[i]);
}

static int parse(struct file_info *fi, const char *text)
{
    return fileinfo_from_text(fi, text, strlen(text));
}

/* Parses text and expects ERR_BADREQ. */
static void reject(const char *text)
{
    struct file_info fi;
    int rc = parse(&fi, text);
    if (rc != ERR_BADREQ)
        fail_msg("accepted (rc %d): %s", rc, text);
}

/* ---- the record saved with the bytes ---- */

static void plain_upload(struct file_info *fi)
{
    sample(fi);
    fi->rename[0] = '\0';
    fi->offset = -1;
    fi->time_ms = 1704112200123LL;
}

static void test_saved_short_form(void **state)
{
    (void)state;
    struct file_info fi, back;
    size_t len;
    plain_upload(&fi);
    char *s = fileinfo_saved_text(&fi, true, &len);
    assert_string_equal(s, "t1704112200123");
    assert_int_equal(len, strlen(s));
    assert_int_equal(fileinfo_from_saved(&back, s, len), 0);
    free(s);
    /* only the time: the rest comes from where the file lies */
    assert_int_equal(back.time_ms, fi.time_ms);
    assert_int_equal(back.timestamp, 1704112200);
    assert_string_equal(back.name, "");
    assert_string_equal(back.scene, "");
    assert_int_equal(back.offset, -1);
    assert_int_equal(back.expire_at, 0);
}

/* Whatever the file's place cannot tell is saved as the whole record. */
static void test_saved_full_form(void **state)
{
    (void)state;
    for (int i = 0; i < 6; i++) {
        struct file_info fi, back;
        size_t len;
        plain_upload(&fi);
        bool layout = true;
        switch (i) {
        case 0: layout = false; break; /* a custom path: the scene is not in it */
        case 1: snprintf(fi.rename, sizeof(fi.rename), "0_x.jpg"); break;
        case 2: fi.expire_at = 1704200000; break;
        case 3: fi.offset = 4096; break;
        case 4: fi.volume = 3; break;
        case 5: fi.time_ms = 0; break;
        }
        char *s = fileinfo_saved_text(&fi, layout, &len);
        assert_int_equal(s[0], '{');
        assert_int_equal(fileinfo_from_saved(&back, s, len), 0);
        assert_fi_equal(&fi, &back);
        assert_int_equal(back.expire_at, fi.expire_at);
        assert_int_equal(back.time_ms, fi.time_ms);
        free(s);
    }
}

static void test_saved_bad_forms(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "t", "t0", "tabc", "t-1", "t+1", "t 1", "t12x",
                                      "t1.5", "t99999999999999999999", "t253402300800000",
                                      "T123", "x123", "{", "[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct file_info fi;
        if (fileinfo_from_saved(&fi, bad[i], strlen(bad[i])) != ERR_BADREQ)
            fail_msg("accepted: '%s'", bad[i]);
    }
    struct file_info fi;
    /* the largest time accepted, and a length that stops before trailing bytes */
    assert_int_equal(fileinfo_from_saved(&fi, "t253402300799999", 16), 0);
    assert_int_equal(fileinfo_from_saved(&fi, "t5xyz", 2), 0);
    assert_int_equal(fi.time_ms, 5);
}

/* ---- basics ---- */

static void test_init(void **state)
{
    (void)state;
    struct file_info fi;
    memset(&fi, 0x5a, sizeof(fi));
    fileinfo_init(&fi);
    assert_string_equal(fi.name, "");
    assert_string_equal(fi.rename, "");
    assert_string_equal(fi.path, "");
    assert_string_equal(fi.md5, "");
    assert_string_equal(fi.scene, "");
    assert_int_equal(fi.size, 0);
    assert_int_equal(fi.npeers, 0);
    assert_int_equal(fi.timestamp, 0);
    assert_int_equal(fi.offset, -1);
}

static void test_disk_name(void **state)
{
    (void)state;
    struct file_info fi;
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof(fi.name), "orig.txt");
    assert_string_equal(fileinfo_disk_name(&fi), "orig.txt");
    snprintf(fi.rename, sizeof(fi.rename), "r.txt");
    assert_string_equal(fileinfo_disk_name(&fi), "r.txt");
}

static void test_rel(void **state)
{
    (void)state;
    struct file_info fi;
    char out[128];
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof(fi.name), "a.txt");
    snprintf(fi.path, sizeof(fi.path), "files/default/20240101/12/30");
    assert_int_equal(fileinfo_rel(&fi, out, sizeof(out)), 0);
    assert_string_equal(out, "default/20240101/12/30/a.txt");
    snprintf(fi.rename, sizeof(fi.rename), "renamed.txt");
    assert_int_equal(fileinfo_rel(&fi, out, sizeof(out)), 0);
    assert_string_equal(out, "default/20240101/12/30/renamed.txt");
    /* a file directly below files/ */
    snprintf(fi.path, sizeof(fi.path), "files");
    assert_int_equal(fileinfo_rel(&fi, out, sizeof(out)), 0);
    assert_string_equal(out, "renamed.txt");
}

static void test_rel_small_buffer(void **state)
{
    (void)state;
    struct file_info fi;
    char out[64];
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof(fi.name), "a.txt");
    snprintf(fi.path, sizeof(fi.path), "files/dir");
    /* "dir/a.txt" is 9 bytes: 10 fits, 9 does not */
    assert_int_equal(fileinfo_rel(&fi, out, 10), 0);
    assert_string_equal(out, "dir/a.txt");
    memset(out, 'Z', sizeof(out));
    assert_int_equal(fileinfo_rel(&fi, out, 9), ERR_BADPATH);
    assert_int_equal(out[9], 'Z');
}

static void test_path_key(void **state)
{
    (void)state;
    struct file_info fi;
    char got[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
    static const char full[] = "files/default/20240101/12/30/a.txt";
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof(fi.name), "a.txt");
    snprintf(fi.path, sizeof(fi.path), "files/default/20240101/12/30");
    digest_md5_hex(full, strlen(full), want);
    fileinfo_path_key(&fi, got);
    assert_string_equal(got, want);
    assert_int_equal(strlen(got), 32);
    fileinfo_path_key_rel("default/20240101/12/30/a.txt", got);
    assert_string_equal(got, want);
}

static void test_path_key_rename(void **state)
{
    (void)state;
    struct file_info fi;
    char got[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX], plain[DIGEST_HEX_MAX];
    static const char full[] = "files/s/d/r.bin";
    static const char orig[] = "files/s/d/o.bin";
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof(fi.name), "o.bin");
    snprintf(fi.rename, sizeof(fi.rename), "r.bin");
    snprintf(fi.path, sizeof(fi.path), "files/s/d");
    digest_md5_hex(full, strlen(full), want);
    digest_md5_hex(orig, strlen(orig), plain);
    fileinfo_path_key(&fi, got);
    assert_string_equal(got, want);
    assert_string_not_equal(got, plain);
}

static void test_path_key_top_level(void **state)
{
    (void)state;
    struct file_info fi;
    char got[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
    static const char full[] = "files/top.txt";
    fileinfo_init(&fi);
    snprintf(fi.name, sizeof(fi.name), "top.txt");
    snprintf(fi.path, sizeof(fi.path), "files");
    digest_md5_hex(full, strlen(full), want);
    fileinfo_path_key(&fi, got);
    assert_string_equal(got, want);
}

/* ---- peers ---- */

static void test_add_peer(void **state)
{
    (void)state;
    struct file_info fi;
    fileinfo_init(&fi);
    assert_int_equal(fileinfo_add_peer(&fi, "http://a"), 0);
    assert_int_equal(fileinfo_add_peer(&fi, "http://b"), 0);
    assert_int_equal(fileinfo_add_peer(&fi, "http://a"), 0);
    assert_int_equal(fi.npeers, 2);
    assert_string_equal(fi.peers[0], "http://a");
    assert_string_equal(fi.peers[1], "http://b");
}

static void test_add_peer_bound(void **state)
{
    (void)state;
    struct file_info fi;
    char p[32];
    fileinfo_init(&fi);
    for (int i = 0; i < FILEINFO_PEERS_MAX; i++) {
        snprintf(p, sizeof(p), "http://peer%d", i);
        assert_int_equal(fileinfo_add_peer(&fi, p), 0);
    }
    assert_int_equal(fi.npeers, FILEINFO_PEERS_MAX);
    assert_true(fileinfo_add_peer(&fi, "http://one-too-many") < 0);
    assert_int_equal(fi.npeers, FILEINFO_PEERS_MAX);
    /* a known peer is still fine when full */
    assert_int_equal(fileinfo_add_peer(&fi, "http://peer3"), 0);
    assert_int_equal(fi.npeers, FILEINFO_PEERS_MAX);
}

static void test_add_peer_long(void **state)
{
    (void)state;
    struct file_info fi;
    char p[FILEINFO_URL_MAX + 1];
    fileinfo_init(&fi);
    memset(p, 'x', FILEINFO_URL_MAX);
    p[FILEINFO_URL_MAX] = '\0';
    assert_true(fileinfo_add_peer(&fi, p) < 0);
    assert_int_equal(fi.npeers, 0);
    p[FILEINFO_URL_MAX - 1] = '\0';
    assert_int_equal(fileinfo_add_peer(&fi, p), 0);
    assert_string_equal(fi.peers[0], p);
}

/* ---- JSON out ---- */

static void test_to_text_default_order(void **state)
{
    (void)state;
    struct file_info fi;
    size_t len = 0;
    fileinfo_init(&fi);
    char *s = fileinfo_to_text(&fi, &len);
    assert_non_null(s);
    assert_string_equal(s, "{\"name\":\"\",\"rename\":\"\",\"path\":\"\",\"md5\":\"\",\"size\":0,"
                           "\"peers\":[],\"scene\":\"\",\"timeStamp\":0,\"offset\":-1}");
    assert_int_equal(len, strlen(s));
    free(s);
    /* len may be NULL */
    s = fileinfo_to_text(&fi, NULL);
    assert_non_null(s);
    free(s);
}

/* Appends the UTF-8 form of code point cp to s (which has room). */
static void put_utf8(char *s, uint32_t cp)
{
    unsigned char *o = (unsigned char *)s + strlen(s);
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xc0 | cp >> 6);
        *o++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xe0 | cp >> 12);
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (unsigned char)(0xf0 | cp >> 18);
        *o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *o++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *o = '\0';
}

static void assert_text_matches_ref(const struct file_info *fi)
{
    size_t n1 = 0, n2 = 0;
    char *got = fileinfo_to_text(fi, &n1), *want = fileinfo_to_text_ref(fi, &n2);
    assert_non_null(got);
    assert_non_null(want);
    assert_string_equal(got, want);
    assert_int_equal(n1, n2);
    free(got);
    free(want);
}

/* The direct writer against jansson's text: every ASCII byte, escapes, multi-byte UTF-8,
 * the optional fields, extreme integers, the full peer list, strings that are not UTF-8
 * (jansson leaves them out), and 2000 records of random code points. */
static void test_to_text_matches_jansson(void **state)
{
    (void)state;
    struct file_info fi;
    sample(&fi);
    assert_text_matches_ref(&fi);
    fileinfo_init(&fi);
    assert_text_matches_ref(&fi);
    for (int c = 1; c < 128; c++) {
        char one[2] = {(char)c, 0};
        snprintf(fi.name, sizeof fi.name, "a%sb", one);
        snprintf(fi.scene, sizeof fi.scene, "%s", one);
        assert_text_matches_ref(&fi);
    }
    snprintf(fi.name, sizeof fi.name, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xe2\x80\xa8/x\"y\\z");
    fi.time_ms = 1704112200123LL;
    fi.expire_at = INT64_MAX;
    fi.size = INT64_MIN;
    fi.timestamp = -1;
    fi.volume = 3;
    fi.vol_off = 0;
    for (int i = 0; i < FILEINFO_PEERS_MAX; i++) {
        char p[64];
        snprintf(p, sizeof p, "http://10.0.0.%d:8080/\t\"", i);
        assert_int_equal(fileinfo_add_peer(&fi, p), 0);
    }
    assert_text_matches_ref(&fi);
    fi.volume = -1; /* not written */
    assert_text_matches_ref(&fi);
    const char *bad[] = {"\xff", "a\xc0\xafz", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe4\xb8",
                         "\xc3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(fi.rename, sizeof fi.rename, "%s", bad[i]);
        assert_text_matches_ref(&fi);
        size_t n = 0;
        char *t = fileinfo_to_text(&fi, &n);
        assert_null(strstr(t, "\"rename\"")); /* left out, as jansson does */
        free(t);
    }
    unsigned x = 12345;
    for (int r = 0; r < 2000; r++) {
        fileinfo_init(&fi);
        char *fields[] = {fi.name, fi.rename, fi.scene};
        for (int f = 0; f < 3; f++) {
            int n = (int)((x = x * 1103515245u + 12345u) >> 16) % 40;
            for (int i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                uint32_t cp = (x >> 8) % (r % 2 ? 0x80 : 0x11000);
                if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
                    cp = 'q';
                put_utf8(fields[f], cp);
            }
        }
        fi.size = (int64_t)x * 7919;
        assert_text_matches_ref(&fi);
    }
}

static void test_to_json_fields(void **state)
{
    (void)state;
    struct file_info fi;
    sample(&fi);
    json_t *o = fileinfo_to_json(&fi);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "photo (1).jpg");
    assert_string_equal(json_string_value(json_object_get(o, "rename")), "a1b2c3.jpg");
    assert_string_equal(json_string_value(json_object_get(o, "path")),
                        "files/default/20240101/12/30");
    assert_string_equal(json_string_value(json_object_get(o, "md5")), MD5_A);
    assert_string_equal(json_string_value(json_object_get(o, "scene")), "default");
    assert_int_equal(json_integer_value(json_object_get(o, "size")), 123456789012LL);
    assert_int_equal(json_integer_value(json_object_get(o, "timeStamp")), 1704112200);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), -2);
    json_t *peers = json_object_get(o, "peers");
    assert_true(json_is_array(peers));
    assert_int_equal(json_array_size(peers), 2);
    assert_string_equal(json_string_value(json_array_get(peers, 1)), "http://10.0.0.2:8080");
    assert_int_equal(json_object_size(o), 9);
    json_decref(o);
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct file_info fi, back;
    size_t len;
    sample(&fi);
    char *s = fileinfo_to_text(&fi, &len);
    assert_non_null(s);
    assert_int_equal(fileinfo_from_text(&back, s, len), 0);
    assert_fi_equal(&fi, &back);
    free(s);
}

static void test_roundtrip_utf8_and_max_name(void **state)
{
    (void)state;
    struct file_info fi, back;
    size_t len;
    fileinfo_init(&fi);
    memset(fi.name, 'n', PATH_MAX_NAME);
    fi.name[PATH_MAX_NAME] = '\0';
    snprintf(fi.scene, sizeof(fi.scene), "\xe5\x9c\xba\xe6\x99\xaf"); /* UTF-8 */
    snprintf(fi.path, sizeof(fi.path), "files/\xe7\x9b\xae\xe5\xbd\x95");
    snprintf(fi.md5, sizeof(fi.md5), SHA_A);
    char *s = fileinfo_to_text(&fi, &len);
    assert_non_null(s);
    assert_int_equal(fileinfo_from_text(&back, s, len), 0);
    assert_fi_equal(&fi, &back);
    free(s);
}

/* ---- JSON in: accepted forms ---- */

static void test_from_go_fastdfs_record(void **state)
{
    (void)state;
    struct file_info fi;
    /* go-fastdfs numbers have been through float64; extra fields it writes are ignored */
    static const char rec[] =
        "{\"name\":\"a.txt\",\"rename\":\"\",\"path\":\"files/default/20240101/12/30\","
        "\"md5\":\"" MD5_A "\",\"size\":12.0,\"peers\":[\"http://10.0.0.1:8080\"],"
        "\"scene\":\"default\",\"timeStamp\":1704112200.0,\"offset\":-1.0,\"retry\":0,"
        "\"op\":\"\",\"unknown\":{\"nested\":[1,2,{\"x\":null}]}}";
    assert_int_equal(parse(&fi, rec), 0);
    assert_string_equal(fi.name, "a.txt");
    assert_string_equal(fi.path, "files/default/20240101/12/30");
    assert_int_equal(fi.size, 12);
    assert_int_equal(fi.timestamp, 1704112200);
    assert_int_equal(fi.offset, -1);
    assert_int_equal(fi.npeers, 1);
    assert_string_equal(fi.peers[0], "http://10.0.0.1:8080");
}

static void test_from_minimal_and_nulls(void **state)
{
    (void)state;
    struct file_info fi;
    assert_int_equal(parse(&fi, "{}"), 0);
    assert_string_equal(fi.name, "");
    assert_int_equal(fi.offset, -1);
    assert_int_equal(parse(&fi, "{\"name\":null,\"peers\":null,\"size\":null,\"md5\":null}"), 0);
    assert_string_equal(fi.name, "");
    assert_int_equal(fi.size, 0);
    assert_int_equal(fi.npeers, 0);
    /* whitespace around the object */
    assert_int_equal(parse(&fi, "  {\"name\":\"x\"}\n"), 0);
    assert_string_equal(fi.name, "x");
}

static void test_from_path_files_only(void **state)
{
    (void)state;
    struct file_info fi;
    assert_int_equal(parse(&fi, "{\"path\":\"files\",\"name\":\"a\"}"), 0);
    assert_string_equal(fi.path, "files");
    assert_int_equal(parse(&fi, "{\"md5\":\"" SHA_A "\"}"), 0);
}

static void test_from_dedupes_peers(void **state)
{
    (void)state;
    struct file_info fi;
    assert_int_equal(parse(&fi, "{\"peers\":[\"http://a\",\"http://a\",\"http://b\"]}"), 0);
    assert_int_equal(fi.npeers, 2);
}

static void test_from_len_bounded(void **state)
{
    (void)state;
    struct file_info fi;
    static const char text[] = "{\"name\":\"a\"}GARBAGE";
    /* only len bytes are read: the trailing garbage is not part of the input */
    assert_int_equal(fileinfo_from_text(&fi, text, 12), 0);
    assert_string_equal(fi.name, "a");
    /* a cut-off object is invalid */
    assert_int_equal(fileinfo_from_text(&fi, text, 8), ERR_BADREQ);
    assert_int_equal(fileinfo_from_text(&fi, text, 0), ERR_BADREQ);
}

/* ---- JSON in: rejected forms ---- */

static void test_reject_not_object(void **state)
{
    (void)state;
    reject("");
    reject("[]");
    reject("[{\"name\":\"a\"}]");
    reject("\"str\"");
    reject("42");
    reject("null");
    reject("true");
    reject("{");
    reject("{\"name\":}");
    reject("{'name':'a'}");
    reject("{\"name\":\"a\"} {}");
    reject("not json at all");
}

static void test_reject_wrong_types(void **state)
{
    (void)state;
    reject("{\"name\":1}");
    reject("{\"name\":[\"a\"]}");
    reject("{\"rename\":true}");
    reject("{\"path\":{}}");
    reject("{\"md5\":123}");
    reject("{\"scene\":false}");
    reject("{\"size\":\"12\"}");
    reject("{\"size\":true}");
    reject("{\"size\":[12]}");
    reject("{\"timeStamp\":\"1704112200\"}");
    reject("{\"offset\":{}}");
    reject("{\"peers\":[1]}");
    reject("{\"peers\":[null]}");
    reject("{\"peers\":[[\"http://a\"]]}");
}

static void test_reject_peers_not_array(void **state)
{
    (void)state;
    /* the header promises wrong types fail: a peers value that is not a list is one */
    reject("{\"peers\":\"http://a\"}");
    reject("{\"peers\":5}");
    reject("{\"peers\":{\"0\":\"http://a\"}}");
}

static void test_reject_too_many_peers(void **state)
{
    (void)state;
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof(text), "{\"peers\":[");
    for (int i = 0; i <= FILEINFO_PEERS_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"http://p%d\"", i ? "," : "", i);
    snprintf(text + n, sizeof(text) - n, "]}");
    reject(text);
}

static void test_reject_long_peer(void **state)
{
    (void)state;
    char text[FILEINFO_URL_MAX + 64];
    char url[FILEINFO_URL_MAX + 1];
    memset(url, 'u', FILEINFO_URL_MAX);
    url[FILEINFO_URL_MAX] = '\0';
    snprintf(text, sizeof(text), "{\"peers\":[\"%s\"]}", url);
    reject(text);
}

static void test_reject_long_strings(void **state)
{
    (void)state;
    char text[2400];
    char s[PATH_MAX_NAME + 2];
    struct file_info fi;
    memset(s, 'n', PATH_MAX_NAME + 1);
    s[PATH_MAX_NAME + 1] = '\0';
    snprintf(text, sizeof(text), "{\"name\":\"%s\"}", s);
    reject(text);
    snprintf(text, sizeof(text), "{\"rename\":\"%s\"}", s);
    reject(text);
    snprintf(text, sizeof(text), "{\"scene\":\"%s\"}", s);
    reject(text);
    /* exactly PATH_MAX_NAME is fine */
    s[PATH_MAX_NAME] = '\0';
    snprintf(text, sizeof(text), "{\"name\":\"%s\"}", s);
    assert_int_equal(parse(&fi, text), 0);
    assert_int_equal(strlen(fi.name), PATH_MAX_NAME);
    /* an md5 field longer than any digest */
    reject("{\"md5\":\"" SHA_A "00\"}");
    /* a path longer than the field */
    char longpath[PATH_MAX_REL + 32];
    memcpy(longpath, "files/", 6);
    for (size_t i = 6; i < sizeof(longpath) - 1; i++)
        longpath[i] = (i % 100 == 0) ? '/' : 'p';
    longpath[sizeof(longpath) - 1] = '\0';
    snprintf(text, sizeof(text), "{\"path\":\"%s\"}", longpath);
    reject(text);
}

static void test_reject_bad_names(void **state)
{
    (void)state;
    reject("{\"name\":\"a/b\"}");
    reject("{\"name\":\"/etc\"}");
    reject("{\"name\":\"..\"}");
    reject("{\"name\":\".\"}");
    reject("{\"name\":\"a\\\\b\"}");
    reject("{\"name\":\"tab\\there\"}");
    reject("{\"name\":\"nl\\n\"}");
    reject("{\"name\":\"nul\\u0000byte\"}");
    reject("{\"rename\":\"x/y\"}");
    reject("{\"rename\":\"..\"}");
    reject("{\"rename\":\"r\\u0001\"}");
}

static void test_reject_bad_paths(void **state)
{
    (void)state;
    reject("{\"path\":\"other/x\"}");
    reject("{\"path\":\"filesx/a\"}");
    reject("{\"path\":\"/files/a\"}");
    reject("{\"path\":\"files/../x\"}");
    reject("{\"path\":\"files/a/../../x\"}");
    reject("{\"path\":\"files/..\"}");
    reject("{\"path\":\"files/./a\"}");
    reject("{\"path\":\"../files\"}");
    reject("{\"path\":\"files/a\\\\..\\\\b\"}");
    reject("{\"path\":\"files/a\\u0000/b\"}");
    reject("{\"path\":\"Files/a\"}");
}

static void test_reject_bad_md5(void **state)
{
    (void)state;
    reject("{\"md5\":\"xyz\"}");
    reject("{\"md5\":\"0123456789abcdef0123456789abcdeg\"}");  /* 'g' */
    reject("{\"md5\":\"0123456789abcdef0123456789abcde\"}");   /* 31 */
    reject("{\"md5\":\"0123456789abcdef0123456789abcdef0\"}"); /* 33 */
    reject("{\"md5\":\"../../../../etc/passwd\"}");
    reject("{\"md5\":\"0123456789abcdef 123456789abcdef\"}");
}

static void test_reject_negative_size(void **state)
{
    (void)state;
    reject("{\"size\":-1}");
    reject("{\"size\":-1.0}");
    reject("{\"size\":-9223372036854775807}");
}

/* volume and volumeOffset: where a merged file sits on this node; written only when set */
static void test_volume_fields(void **state)
{
    (void)state;
    struct file_info fi, back;
    fileinfo_init(&fi);
    char *s = fileinfo_to_text(&fi, NULL);
    assert_null(strstr(s, "volume"));
    free(s);
    fi.offset = 16;
    fi.volume = 3;
    fi.vol_off = 4096;
    size_t len;
    s = fileinfo_to_text(&fi, &len);
    assert_non_null(strstr(s, "\"volume\":3,\"volumeOffset\":4096"));
    assert_int_equal(fileinfo_from_text(&back, s, len), 0);
    assert_int_equal(back.volume, 3);
    assert_int_equal(back.vol_off, 4096);
    assert_int_equal(back.offset, 16);
    free(s);
    reject("{\"volume\":-1}");
    reject("{\"volume\":1000000000}");
    reject("{\"volume\":\"3\"}");
    reject("{\"volumeOffset\":-8}");
    reject("{\"volumeOffset\":[1]}");
}

static void test_reject_out_of_range_numbers(void **state)
{
    (void)state;
    /* beyond int64: jansson refuses the integer; the float must not be cast blindly */
    reject("{\"size\":99999999999999999999}");
    reject("{\"size\":1e300}");
    reject("{\"size\":9.3e18}");
    reject("{\"timeStamp\":-1e300}");
}

static void test_reject_duplicate_keys(void **state)
{
    (void)state;
    reject("{\"name\":\"a\",\"name\":\"b\"}");
    reject("{\"path\":\"files/ok\",\"path\":\"files/../x\"}");
    reject("{\"size\":1,\"size\":2}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_saved_short_form),
        cmocka_unit_test(test_saved_full_form),
        cmocka_unit_test(test_saved_bad_forms),
        cmocka_unit_test(test_disk_name),
        cmocka_unit_test(test_rel),
        cmocka_unit_test(test_rel_small_buffer),
        cmocka_unit_test(test_path_key),
        cmocka_unit_test(test_path_key_rename),
        cmocka_unit_test(test_path_key_top_level),
        cmocka_unit_test(test_add_peer),
        cmocka_unit_test(test_add_peer_bound),
        cmocka_unit_test(test_add_peer_long),
        cmocka_unit_test(test_to_text_default_order),
        cmocka_unit_test(test_to_text_matches_jansson),
        cmocka_unit_test(test_to_json_fields),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_roundtrip_utf8_and_max_name),
        cmocka_unit_test(test_from_go_fastdfs_record),
        cmocka_unit_test(test_from_minimal_and_nulls),
        cmocka_unit_test(test_from_path_files_only),
        cmocka_unit_test(test_from_dedupes_peers),
        cmocka_unit_test(test_from_len_bounded),
        cmocka_unit_test(test_reject_not_object),
        cmocka_unit_test(test_reject_wrong_types),
        cmocka_unit_test(test_reject_peers_not_array),
        cmocka_unit_test(test_reject_too_many_peers),
        cmocka_unit_test(test_reject_long_peer),
        cmocka_unit_test(test_reject_long_strings),
        cmocka_unit_test(test_reject_bad_names),
        cmocka_unit_test(test_reject_bad_paths),
        cmocka_unit_test(test_reject_bad_md5),
        cmocka_unit_test(test_reject_negative_size),
        cmocka_unit_test(test_volume_fields),
        cmocka_unit_test(test_reject_out_of_range_numbers),
        cmocka_unit_test(test_reject_duplicate_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
