/* Unit tests for tus.c: the header parsers (base64, Upload-Metadata, Upload-Checksum,
 * Upload-Concat) with every bad form, and the state machine on a temporary root with a real
 * index: creation, exact offsets, checksums that refuse a chunk, interrupted bodies,
 * restarts, crash leftovers, termination, expiry with a fake clock, concatenation and the
 * hand-over of a complete upload as a store temp file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "errcode.h"
#include "meta.h"
#include "store.h"
#include "support.h"
#include "tus.h"

static int64_t fake_now = 1700000000;

static int64_t clock_fn(void)
{
    return fake_now;
}

struct fixture {
    char root[512];
    char db[600];
    struct meta *m;
    struct tus *t;
    uint64_t max;
};

static int open_tus(struct fixture *f)
{
    struct tus_cfg c = {.root = f->root, .meta = f->m, .algo = DIGEST_MD5,
                        .max_size = f->max, .expire_s = 100, .now = clock_fn};
    return tus_open(&c, &f->t);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    support_tmpdir(f->root, sizeof f->root);
    snprintf(f->db, sizeof f->db, "%s/meta", f->root);
    fake_now = 1700000000;
    f->max = 1000;
    if (meta_open(f->db, &f->m) != 0 || open_tus(f) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tus_close(f->t);
    meta_close(f->m);
    support_rmtree(f->root);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    tus_close(f->t);
    f->t = NULL;
    assert_int_equal(open_tus(f), 0);
}

static void bin_path(const struct fixture *f, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/data/tus/%s.bin", f->root, id);
}

static long long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Creates an upload and releases it. */
static void create(struct fixture *f, int64_t len, const char *md, enum tus_concat kind,
                   struct tus_info *out)
{
    assert_int_equal(tus_create(f->t, len, md, kind, out), 0);
    tus_release(f->t, out->id);
}

static struct tus_chunk_args args_at(uint64_t off)
{
    struct tus_chunk_args a = {.offset = off, .length = -1};
    return a;
}

/* One whole chunk: acquire, begin, write, commit, end, release. Returns the commit result. */
static int patch(struct fixture *f, const char *id, uint64_t off, const char *data,
                 const struct tus_chunk_args *override, struct tus_info *out)
{
    struct tus_chunk_args a = override ? *override : args_at(off);
    struct tus_chunk *c = NULL;
    struct tus_info dummy;
    int rc = tus_acquire(f->t, id);
    if (rc)
        return rc;
    rc = tus_chunk_begin(f->t, id, &a, &c);
    if (rc == 0)
        rc = tus_chunk_write(c, data, strlen(data));
    if (rc == 0)
        rc = tus_chunk_commit(c, out ? out : &dummy);
    tus_chunk_end(c);
    tus_release(f->t, id);
    return rc;
}

static void md5_b64(const char *data, char *out)
{
    /* base64 of the raw md5, built from the hex so the test needs no encoder library */
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char hex[DIGEST_HEX_MAX];
    unsigned char raw[16];
    digest_md5_hex(data, strlen(data), hex);
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = hex[2 * i + k];
            v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
        }
        raw[i] = (unsigned char)v;
    }
    size_t o = 0;
    for (int i = 0; i < 16; i += 3) {
        unsigned v = (unsigned)raw[i] << 16;
        if (i + 1 < 16)
            v |= (unsigned)raw[i + 1] << 8;
        if (i + 2 < 16)
            v |= raw[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < 16 ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < 16 ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* ---- base64 ---- */

static void test_base64_valid(void **state)
{
    (void)state;
    unsigned char out[16];
    size_t n = 99;
    assert_int_equal(tus_base64_decode("aGVsbG8=", 8, out, sizeof out, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(tus_base64_decode("aGVsbG8", 7, out, sizeof out, &n), 0); /* unpadded */
    assert_int_equal(n, 5);
    assert_int_equal(tus_base64_decode("aGk=", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(tus_base64_decode("YQ==", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'a');
    assert_int_equal(tus_base64_decode("", 0, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(tus_base64_decode("+/+/", 4, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 0xfb);
}

static void test_base64_invalid(void **state)
{
    (void)state;
    unsigned char out[16];
    size_t n;
    assert_int_equal(tus_base64_decode("a", 1, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("aGVsb", 5, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("aG=s", 4, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("aG=V", 4, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("aGk==", 5, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("a-b_", 4, out, sizeof out, &n), -EINVAL); /* url alphabet */
    assert_int_equal(tus_base64_decode("aGk\n", 4, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("a\0b=", 4, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("====", 4, out, sizeof out, &n), -EINVAL);
    assert_int_equal(tus_base64_decode("aGVsbG8=", 8, out, 4, &n), -EMSGSIZE);
}

/* ---- Upload-Metadata ---- */

static int mparse(const char *s, struct tus_meta *m)
{
    return tus_meta_parse(s, strlen(s), m);
}

static void test_meta_empty(void **state)
{
    (void)state;
    struct tus_meta m;
    assert_int_equal(mparse("", &m), 0);
    assert_int_equal(m.npairs, 0);
    assert_false(m.has_filename);
    assert_int_equal(mparse("  \t ", &m), 0);
    assert_int_equal(tus_meta_parse(NULL, 0, &m), 0);
    assert_int_equal(mparse(",,", &m), 0);
}

static void test_meta_known_keys(void **state)
{
    (void)state;
    struct tus_meta m;
    /* filename "a b.txt", scene "pics", path "x/y", auth_token "t0k", ttl "60" */
    assert_int_equal(mparse("filename YSBiLnR4dA==,scene cGljcw==, path eC95 ,auth_token dDBr,"
                            "ttl NjA=", &m), 0);
    assert_int_equal(m.npairs, 5);
    assert_true(m.has_filename && m.has_scene && m.has_path && m.has_auth_token && m.has_ttl);
    assert_string_equal(m.ttl, "60");
    assert_string_equal(m.filename, "a b.txt");
    assert_string_equal(m.scene, "pics");
    assert_string_equal(m.path, "x/y");
    assert_string_equal(m.auth_token, "t0k");
}

static void test_meta_key_without_value(void **state)
{
    (void)state;
    struct tus_meta m;
    assert_int_equal(mparse("is_confidential,filename", &m), 0);
    assert_int_equal(m.npairs, 2);
    assert_true(m.has_filename);
    assert_string_equal(m.filename, "");
}

static void test_meta_unknown_keys_dropped(void **state)
{
    (void)state;
    struct tus_meta m;
    /* an unknown value may hold a NUL byte: it is only checked, never used */
    assert_int_equal(mparse("filetype dGV4dC9wbGFpbg==,blob AAE=", &m), 0);
    assert_int_equal(m.npairs, 2);
    assert_false(m.has_filename);
}

static void test_meta_bad_forms(void **state)
{
    (void)state;
    struct tus_meta m;
    const char *bad[] = {
        "filename YQ==,filename Yg==", /* duplicate key */
        "filename  YQ==",              /* two spaces */
        "filename YQ== extra",         /* three tokens */
        "filename Y",                  /* bad base64 length */
        "filename Y!==",               /* bad base64 character */
        "file\x01name YQ==",           /* control byte in key */
        "f\xc3\xa9 YQ==",              /* non-ASCII key */
        "filename AA==",               /* NUL in a known value */
        "scene YQBi",                  /* NUL inside a known value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&m, 0x55, sizeof m);
        assert_int_equal(mparse(bad[i], &m), ERR_PARAM);
        assert_int_equal(m.npairs, 0); /* zeroed on failure */
        assert_false(m.has_filename);
    }
}

static void test_meta_limits(void **state)
{
    (void)state;
    struct tus_meta m;
    char *s = calloc(1, TUS_META_MAX * 2);
    assert_non_null(s);
    /* 65 pairs */
    size_t o = 0;
    for (int i = 0; i <= TUS_META_PAIRS_MAX; i++)
        o += (size_t)snprintf(s + o, TUS_META_MAX * 2 - o, "%sk%d", i ? "," : "", i);
    assert_int_equal(mparse(s, &m), ERR_PARAM);
    /* 64 pairs are fine */
    char *cut = strrchr(s, ',');
    *cut = '\0';
    assert_int_equal(mparse(s, &m), 0);
    assert_int_equal(m.npairs, TUS_META_PAIRS_MAX);
    /* longer than TUS_META_MAX */
    memset(s, 'k', TUS_META_MAX + 1);
    s[TUS_META_MAX + 1] = '\0';
    assert_int_equal(mparse(s, &m), ERR_PARAM);
    /* a key of 129 bytes */
    memset(s, 'k', TUS_META_KEY_MAX + 1);
    s[TUS_META_KEY_MAX + 1] = '\0';
    assert_int_equal(mparse(s, &m), ERR_PARAM);
    s[TUS_META_KEY_MAX] = '\0';
    assert_int_equal(mparse(s, &m), 0);
    /* a scene of 256 bytes (base64 of 256 'a') does not fit */
    o = (size_t)snprintf(s, TUS_META_MAX, "scene ");
    for (int i = 0; i < 256 / 3; i++)
        o += (size_t)snprintf(s + o, TUS_META_MAX - o, "YWFh");
    snprintf(s + o, TUS_META_MAX - o, "YQ==");
    assert_int_equal(mparse(s, &m), ERR_PARAM);
    free(s);
}

/* ---- Upload-Checksum ---- */

static void test_checksum_parse(void **state)
{
    (void)state;
    enum digest_algo a;
    unsigned char sum[TUS_SUM_MAX];
    size_t n = 0;
    char b64[32];
    md5_b64("hello", b64);
    char hdr[64];
    snprintf(hdr, sizeof hdr, "md5 %s", b64);
    assert_int_equal(tus_checksum_parse(hdr, &a, sum, &n), 0);
    assert_int_equal(a, DIGEST_MD5);
    assert_int_equal(n, 16);
    assert_int_equal(sum[0], 0x5d); /* md5("hello") = 5d41... */
    snprintf(hdr, sizeof hdr, "MD5 %s", b64);
    assert_int_equal(tus_checksum_parse(hdr, &a, sum, &n), 0);
    /* sha1("") = da39a3ee...: base64 2jmj7l5rSw0yVb/vlWAYkK/YBwk= */
    assert_int_equal(tus_checksum_parse("sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", &a, sum, &n), 0);
    assert_int_equal(a, DIGEST_SHA1);
    assert_int_equal(n, 20);
    assert_int_equal(sum[0], 0xda);
}

static void test_checksum_bad(void **state)
{
    (void)state;
    enum digest_algo a;
    unsigned char sum[TUS_SUM_MAX];
    size_t n;
    assert_int_equal(tus_checksum_parse("crc32 AAAAAA==", &a, sum, &n), -ENOTSUP);
    assert_int_equal(tus_checksum_parse("sha256 AAAA", &a, sum, &n), -ENOTSUP);
    assert_int_equal(tus_checksum_parse("md5", &a, sum, &n), ERR_PARAM);
    assert_int_equal(tus_checksum_parse("", &a, sum, &n), ERR_PARAM);
    assert_int_equal(tus_checksum_parse(" AAAA", &a, sum, &n), ERR_PARAM);
    assert_int_equal(tus_checksum_parse("md5 ", &a, sum, &n), ERR_PARAM);
    assert_int_equal(tus_checksum_parse("md5 !!!!", &a, sum, &n), ERR_PARAM);
    /* right encoding, wrong length: a sha1-sized sum named md5 */
    assert_int_equal(tus_checksum_parse("md5 2jmj7l5rSw0yVb/vlWAYkK/YBwk=", &a, sum, &n),
                     ERR_PARAM);
    assert_int_equal(tus_checksum_parse("md\x01 AAAA", &a, sum, &n), ERR_PARAM);
}

/* ---- Upload-Concat ---- */

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

static void test_concat_parse(void **state)
{
    (void)state;
    enum tus_concat k;
    char ids[4][TUS_ID_LEN + 1];
    size_t n = 9;
    assert_int_equal(tus_concat_parse("partial", &k, ids, 4, &n), 0);
    assert_int_equal(k, TUS_CONCAT_PARTIAL);
    assert_int_equal(n, 0);
    assert_int_equal(tus_concat_parse("final;http://h:1/group1/big/upload/" ID_A
                                      " /group1/big/upload/" ID_B, &k, ids, 4, &n), 0);
    assert_int_equal(k, TUS_CONCAT_FINAL);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], ID_A);
    assert_string_equal(ids[1], ID_B);
    assert_int_equal(tus_concat_parse("final; " ID_A "  ", &k, ids, 4, &n), 0);
    assert_int_equal(n, 1);
}

static void test_concat_bad(void **state)
{
    (void)state;
    enum tus_concat k;
    char ids[2][TUS_ID_LEN + 1];
    size_t n;
    const char *bad[] = {
        "", "Partial", "partial;", "final", "final;", "final;   ",
        "final;/big/upload/" ID_A "/",                  /* trailing slash */
        "final;/big/upload/0123456789ABCDEF0123456789abcdef", /* upper case */
        "final;/big/upload/0123",                       /* short */
        "final;" ID_A "0",                              /* long */
        "final;" ID_A " " ID_B " " ID_A,                /* three, max 2 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tus_concat_parse(bad[i], &k, ids, 2, &n), ERR_PARAM);
}

static void test_id_valid(void **state)
{
    (void)state;
    assert_true(tus_id_valid(ID_A));
    assert_false(tus_id_valid(NULL));
    assert_false(tus_id_valid(""));
    assert_false(tus_id_valid(ID_A "0"));
    assert_false(tus_id_valid("0123456789abcdef0123456789abcde"));
    assert_false(tus_id_valid("0123456789abcdef0123456789abcdeg"));
    assert_false(tus_id_valid("0123456789ABCDEF0123456789abcdef"));
    assert_false(tus_id_valid("../../../../../../etc/passwd0000"));
}

/* ---- creation and lookup ---- */

static void test_create_and_get(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, g;
    create(f, 10, "filename YS50eHQ=", TUS_CONCAT_NONE, &i);
    assert_true(tus_id_valid(i.id));
    assert_int_equal(i.length, 10);
    assert_int_equal(i.offset, 0);
    assert_int_equal(i.expires, fake_now + 100);
    assert_int_equal(tus_get(f->t, i.id, &g), 0);
    assert_string_equal(g.metadata, "filename YS50eHQ=");
    assert_int_equal(g.length, 10);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), 0);
    /* two creations never share an id */
    struct tus_info j;
    create(f, 10, NULL, TUS_CONCAT_NONE, &j);
    assert_string_not_equal(i.id, j.id);
}

static void test_create_bad(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    assert_int_equal(tus_create(f->t, 1001, NULL, TUS_CONCAT_NONE, &i), ERR_TOOBIG);
    assert_int_equal(tus_create(f->t, -2, NULL, TUS_CONCAT_NONE, &i), ERR_PARAM);
    assert_int_equal(tus_create(f->t, 5, "filename !", TUS_CONCAT_NONE, &i), ERR_PARAM);
    assert_int_equal(tus_create(f->t, 5, NULL, TUS_CONCAT_FINAL, &i), ERR_PARAM);
    assert_int_equal(tus_create(f->t, 1000, NULL, TUS_CONCAT_NONE, &i), 0);
    tus_release(f->t, i.id);
}

static void test_get_unknown(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    assert_int_equal(tus_get(f->t, ID_A, &i), -ENOENT);
    assert_int_equal(tus_get(f->t, "nope", &i), -ENOENT);
    char pk[DIGEST_HEX_MAX];
    assert_int_equal(tus_done_pathkey(f->t, ID_A, pk), -ENOENT);
}

static void test_acquire_exclusive(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    assert_int_equal(tus_create(f->t, 10, NULL, TUS_CONCAT_NONE, &i), 0);
    assert_int_equal(tus_acquire(f->t, i.id), -EBUSY);
    tus_release(f->t, i.id);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    tus_release(f->t, i.id);
    assert_int_equal(tus_acquire(f->t, "bad"), -ENOENT);
}

/* ---- chunks ---- */

static void test_chunks_advance(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 11, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "hello ", NULL, &o), 0);
    assert_int_equal(o.offset, 6);
    assert_false(tus_info_complete(&o));
    fake_now += 50;
    assert_int_equal(patch(f, i.id, 6, "world", NULL, &o), 0);
    assert_int_equal(o.offset, 11);
    assert_int_equal(o.expires, fake_now + 100); /* progress extends the expiry */
    assert_true(tus_info_complete(&o));
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 11);
}

static void test_chunk_needs_hold(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    struct tus_chunk *c = NULL;
    create(f, 11, NULL, TUS_CONCAT_NONE, &i);
    struct tus_chunk_args a = args_at(0);
    assert_int_equal(tus_chunk_begin(f->t, i.id, &a, &c), -EINVAL);
    assert_null(c);
}

static void test_chunk_wrong_offset(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 11, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 1, "x", NULL, NULL), ERR_CONFLICT);
    assert_int_equal(patch(f, i.id, 0, "abc", NULL, NULL), 0);
    assert_int_equal(patch(f, i.id, 0, "abc", NULL, NULL), ERR_CONFLICT);
    assert_int_equal(patch(f, i.id, 4, "abc", NULL, NULL), ERR_CONFLICT);
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 3);
}

static void test_chunk_past_length(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 4, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "hello", NULL, NULL), ERR_TOOBIG);
    /* the refused piece wrote nothing; the chunk was empty, so nothing is kept */
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 0);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), 0);
    assert_int_equal(patch(f, i.id, 0, "hell", NULL, &o), 0);
    assert_int_equal(o.offset, 4);
}

static void test_chunk_room(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    struct tus_chunk *c;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    struct tus_chunk_args a = args_at(0);
    assert_int_equal(tus_chunk_begin(f->t, i.id, &a, &c), 0);
    assert_int_equal(tus_chunk_room(c), 10);
    assert_int_equal(tus_chunk_write(c, "abc", 3), 0);
    assert_int_equal(tus_chunk_room(c), 7);
    tus_chunk_end(c);
    tus_release(f->t, i.id);
}

static void test_checksum_good(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    struct tus_chunk_args a = args_at(0);
    char b64[32], hdr[64];
    md5_b64("hello", b64);
    snprintf(hdr, sizeof hdr, "md5 %s", b64);
    assert_int_equal(tus_checksum_parse(hdr, &a.sum_algo, a.sum, &a.sumlen), 0);
    a.has_sum = true;
    assert_int_equal(patch(f, i.id, 0, "hello", &a, &o), 0);
    assert_int_equal(o.offset, 5);
}

static void test_checksum_mismatch_discards(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "ab", NULL, NULL), 0);
    struct tus_chunk_args a = args_at(2);
    char b64[32], hdr[64];
    md5_b64("other", b64);
    snprintf(hdr, sizeof hdr, "md5 %s", b64);
    assert_int_equal(tus_checksum_parse(hdr, &a.sum_algo, a.sum, &a.sumlen), 0);
    a.has_sum = true;
    assert_int_equal(patch(f, i.id, 2, "cdefg", &a, NULL), ERR_DIGEST);
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 2);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), 2);
    /* the same offset takes a correct chunk afterwards */
    assert_int_equal(patch(f, i.id, 2, "cdefghij", NULL, &o), 0);
    assert_true(tus_info_complete(&o));
}

static void test_interrupted_chunk_kept(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    struct tus_chunk *c;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    struct tus_chunk_args a = args_at(0);
    assert_int_equal(tus_chunk_begin(f->t, i.id, &a, &c), 0);
    assert_int_equal(tus_chunk_write(c, "abcd", 4), 0);
    tus_chunk_end(c); /* the connection died before the body was complete */
    tus_release(f->t, i.id);
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 4);
}

static void test_interrupted_checksum_chunk_dropped(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    struct tus_chunk *c;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    struct tus_chunk_args a = args_at(0);
    a.has_sum = true;
    a.sum_algo = DIGEST_MD5;
    a.sumlen = 16;
    assert_int_equal(tus_chunk_begin(f->t, i.id, &a, &c), 0);
    assert_int_equal(tus_chunk_write(c, "abcd", 4), 0);
    tus_chunk_end(c);
    tus_release(f->t, i.id);
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 0);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), 0);
}

static void test_deferred_length(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, -1, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "abc", NULL, &o), 0);
    assert_int_equal(o.length, -1);
    assert_false(tus_info_complete(&o));
    struct tus_chunk_args a = args_at(3);
    a.length = 2; /* below the offset */
    assert_int_equal(patch(f, i.id, 3, "", &a, NULL), ERR_PARAM);
    a.length = 1001; /* over max_size */
    assert_int_equal(patch(f, i.id, 3, "", &a, NULL), ERR_TOOBIG);
    a.length = 6;
    assert_int_equal(patch(f, i.id, 3, "def", &a, &o), 0);
    assert_int_equal(o.length, 6);
    assert_true(tus_info_complete(&o));
    /* once set, the length cannot change */
    struct tus_info j;
    create(f, 5, NULL, TUS_CONCAT_NONE, &j);
    a = args_at(0);
    a.length = 6;
    assert_int_equal(patch(f, j.id, 0, "x", &a, NULL), ERR_PARAM);
}

static void test_deferred_limited_by_max(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    struct tus_chunk *c;
    create(f, -1, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    struct tus_chunk_args a = args_at(0);
    assert_int_equal(tus_chunk_begin(f->t, i.id, &a, &c), 0);
    assert_int_equal(tus_chunk_room(c), 1000);
    char big[1001];
    memset(big, 'x', sizeof big);
    assert_int_equal(tus_chunk_write(c, big, sizeof big), ERR_TOOBIG);
    tus_chunk_end(c);
    tus_release(f->t, i.id);
}

/* ---- durability ---- */

static void test_restart_resumes(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 10, "filename eC5iaW4=", TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "01234", NULL, NULL), 0);
    tus_close(f->t);
    meta_close(f->m);
    f->t = NULL;
    assert_int_equal(meta_open(f->db, &f->m), 0);
    assert_int_equal(open_tus(f), 0);
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 5);
    assert_string_equal(o.metadata, "filename eC5iaW4=");
    assert_int_equal(patch(f, i.id, 5, "56789", NULL, &o), 0);
    assert_true(tus_info_complete(&o));
    /* no running digest survived the restart: the finish reads the bytes again */
    struct store *st;
    assert_int_equal(store_open(f->root, FSBARRIER_FILE, &st), 0);
    struct store_tmp tmp;
    char dg[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    assert_int_equal(tus_finish_prepare(f->t, i.id, &tmp, dg), 0);
    digest_md5_hex("0123456789", 10, want);
    assert_string_equal(dg, want);
    assert_int_equal(tmp.size, 10);
    store_tmp_discard(st, &tmp);
    tus_release(f->t, i.id);
    store_close(st);
}

static void test_crash_leftover_bytes_cut(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "abc", NULL, NULL), 0);
    /* a crash after the write but before the offset moved leaves bytes beyond it */
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    int fd = open(p, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "GARBAGE", 7), 7);
    close(fd);
    reopen(f);
    assert_int_equal(tus_get(f->t, i.id, &o), 0);
    assert_int_equal(o.offset, 3); /* never reports bytes it did not make durable */
    assert_int_equal(patch(f, i.id, 3, "defghij", NULL, &o), 0);
    assert_int_equal(file_size(p), 10);
    struct store *st;
    assert_int_equal(store_open(f->root, FSBARRIER_FILE, &st), 0);
    struct store_tmp tmp;
    char dg[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    assert_int_equal(tus_finish_prepare(f->t, i.id, &tmp, dg), 0);
    digest_md5_hex("abcdefghij", 10, want);
    assert_string_equal(dg, want);
    store_tmp_discard(st, &tmp);
    tus_release(f->t, i.id);
    store_close(st);
}

static void test_orphans_removed_at_open(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    char p[700], q[700];
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    bin_path(f, ID_A, p, sizeof p);
    support_write_file(p, "x", 1);
    snprintf(q, sizeof q, "%s/data/tus/notes.txt", f->root);
    support_write_file(q, "x", 1);
    reopen(f);
    assert_int_equal(file_size(p), -1);
    assert_int_equal(file_size(q), 1); /* not ours: left alone */
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), 0);
}

/* ---- finishing ---- */

static void test_finish_flow(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    struct store *st;
    assert_int_equal(store_open(f->root, FSBARRIER_FILE, &st), 0);
    create(f, 11, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "hello ", NULL, NULL), 0);
    assert_int_equal(patch(f, i.id, 6, "world", NULL, &o), 0);
    assert_true(tus_info_complete(&o));
    struct store_tmp tmp;
    char dg[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
    /* not held: refused */
    assert_int_equal(tus_finish_prepare(f->t, i.id, &tmp, dg), -EINVAL);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    assert_int_equal(tus_finish_prepare(f->t, i.id, &tmp, dg), 0);
    digest_md5_hex("hello world", 11, want);
    assert_string_equal(dg, want);
    assert_true(tmp.fd >= 0);
    assert_int_equal(tmp.size, 11);
    char tp[700];
    snprintf(tp, sizeof tp, "%s/data/tmp/%s", f->root, tmp.name);
    assert_int_equal(file_size(tp), 11);
    assert_int_equal(store_tmp_commit(st, &tmp, "d", "hello.txt"), 0);
    assert_int_equal(tus_finish_done(f->t, i.id, ID_B), 0);
    tus_release(f->t, i.id);
    assert_int_equal(tus_get(f->t, i.id, &o), -ENOENT);
    char pk[DIGEST_HEX_MAX];
    assert_int_equal(tus_done_pathkey(f->t, i.id, pk), 0);
    assert_string_equal(pk, ID_B);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), -1);
    snprintf(p, sizeof p, "%s/files/d/hello.txt", f->root);
    assert_int_equal(file_size(p), 11);
    store_close(st);
}

static void test_finish_refuses_incomplete(void **state)
{
    struct fixture *f = *state;
    struct tus_info i;
    struct store_tmp tmp;
    char dg[DIGEST_HEX_MAX];
    create(f, 11, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    assert_int_equal(tus_finish_prepare(f->t, i.id, &tmp, dg), ERR_PARAM);
    assert_int_equal(tmp.fd, -1);
    assert_int_equal(tus_finish_done(f->t, i.id, "short"), -EINVAL);
    tus_release(f->t, i.id);
    /* a complete partial upload is not a file */
    create(f, 2, NULL, TUS_CONCAT_PARTIAL, &i);
    struct tus_info o;
    assert_int_equal(patch(f, i.id, 0, "ab", NULL, &o), 0);
    assert_false(tus_info_complete(&o));
}

static int collect_cb(void *ctx, const char *id)
{
    char *out = ctx;
    size_t l = strlen(out);
    snprintf(out + l, 256 - l, "%s;", id);
    return 0;
}

static void test_scan_complete(void **state)
{
    struct fixture *f = *state;
    struct tus_info a, b, c;
    create(f, 2, NULL, TUS_CONCAT_NONE, &a);
    create(f, 2, NULL, TUS_CONCAT_NONE, &b);
    create(f, 2, NULL, TUS_CONCAT_PARTIAL, &c);
    assert_int_equal(patch(f, a.id, 0, "ab", NULL, NULL), 0);
    assert_int_equal(patch(f, b.id, 0, "a", NULL, NULL), 0);
    assert_int_equal(patch(f, c.id, 0, "ab", NULL, NULL), 0);
    char got[256] = "";
    assert_int_equal(tus_scan_complete(f->t, collect_cb, got), 0);
    char want[64];
    snprintf(want, sizeof want, "%s;", a.id);
    assert_string_equal(got, want);
}

/* ---- termination and expiry ---- */

static void test_terminate(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    assert_int_equal(patch(f, i.id, 0, "abc", NULL, NULL), 0);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    assert_int_equal(tus_terminate(f->t, i.id), 0);
    tus_release(f->t, i.id);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), -1);
    assert_int_equal(tus_get(f->t, i.id, &o), ERR_DELETED);
    assert_true(o.gone);
    assert_int_equal(patch(f, i.id, 3, "d", NULL, NULL), ERR_DELETED);
    assert_int_equal(tus_acquire(f->t, i.id), 0);
    assert_int_equal(tus_terminate(f->t, i.id), ERR_DELETED);
    assert_int_equal(tus_terminate(f->t, ID_A), -ENOENT);
    assert_int_equal(tus_terminate(f->t, "x"), -ENOENT);
    tus_release(f->t, i.id);
}

static void test_expiry_and_sweep(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, j, o;
    create(f, 10, NULL, TUS_CONCAT_NONE, &i);
    create(f, 10, NULL, TUS_CONCAT_NONE, &j);
    assert_int_equal(patch(f, i.id, 0, "abc", NULL, NULL), 0);
    fake_now += 60;
    assert_int_equal(patch(f, j.id, 0, "abc", NULL, NULL), 0); /* j stays alive longer */
    fake_now += 41; /* i: 101 s idle */
    assert_int_equal(tus_get(f->t, i.id, &o), ERR_DELETED);
    assert_int_equal(patch(f, i.id, 3, "d", NULL, NULL), ERR_DELETED);
    assert_int_equal(tus_get(f->t, j.id, &o), 0);
    /* the sweep removes the bytes and leaves a tombstone */
    assert_int_equal(tus_sweep(f->t), 1);
    char p[700];
    bin_path(f, i.id, p, sizeof p);
    assert_int_equal(file_size(p), -1);
    assert_int_equal(tus_get(f->t, i.id, &o), ERR_DELETED);
    assert_int_equal(tus_sweep(f->t), 0);
    /* the tombstone is forgotten one expiry later; j expired meanwhile */
    fake_now += 101;
    assert_int_equal(tus_sweep(f->t), 2);
    assert_int_equal(tus_get(f->t, i.id, &o), -ENOENT);
    assert_int_equal(tus_get(f->t, j.id, &o), ERR_DELETED);
}

static void test_sweep_skips_busy(void **state)
{
    struct fixture *f = *state;
    struct tus_info i, o;
    assert_int_equal(tus_create(f->t, 10, NULL, TUS_CONCAT_NONE, &i), 0); /* held */
    fake_now += 200;
    assert_int_equal(tus_sweep(f->t), 0);
    tus_release(f->t, i.id);
    assert_int_equal(tus_sweep(f->t), 1);
    assert_int_equal(tus_get(f->t, i.id, &o), ERR_DELETED);
}

static void test_sweeper_thread_starts_and_stops(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(tus_sweeper_start(f->t), 0);
    assert_int_equal(tus_sweeper_start(f->t), 0);
    tus_sweeper_stop(f->t);
    tus_sweeper_stop(f->t);
    assert_int_equal(tus_sweeper_start(f->t), 0);
    /* tus_close stops it */
}

/* ---- concatenation ---- */

static void make_partial(struct fixture *f, const char *data, struct tus_info *out)
{
    create(f, (int64_t)strlen(data), NULL, TUS_CONCAT_PARTIAL, out);
    if (*data)
        assert_int_equal(patch(f, out->id, 0, data, NULL, NULL), 0);
}

static void test_concat_final(void **state)
{
    struct fixture *f = *state;
    struct tus_info a, b, fin, o;
    make_partial(f, "hello ", &a);
    make_partial(f, "world", &b);
    char ids[2][TUS_ID_LEN + 1];
    memcpy(ids[0], a.id, sizeof ids[0]);
    memcpy(ids[1], b.id, sizeof ids[1]);
    assert_int_equal(tus_concat_final(f->t, ids, 2, "filename aGkudHh0", &fin), 0);
    assert_int_equal(fin.length, 11);
    assert_int_equal(fin.offset, 11);
    assert_int_equal(fin.concat, TUS_CONCAT_FINAL);
    assert_true(tus_info_complete(&fin));
    assert_int_equal(tus_acquire(f->t, fin.id), -EBUSY); /* returned held */
    /* the parts are gone */
    assert_int_equal(tus_get(f->t, a.id, &o), -ENOENT);
    assert_int_equal(tus_get(f->t, b.id, &o), -ENOENT);
    char p[700];
    bin_path(f, a.id, p, sizeof p);
    assert_int_equal(file_size(p), -1);
    /* a final cannot be patched */
    struct tus_chunk *c = NULL;
    struct tus_chunk_args args = args_at(11);
    assert_int_equal(tus_chunk_begin(f->t, fin.id, &args, &c), ERR_FORBIDDEN);
    struct store *st;
    assert_int_equal(store_open(f->root, FSBARRIER_FILE, &st), 0);
    struct store_tmp tmp;
    char dg[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
    assert_int_equal(tus_finish_prepare(f->t, fin.id, &tmp, dg), 0);
    digest_md5_hex("hello world", 11, want);
    assert_string_equal(dg, want);
    store_tmp_discard(st, &tmp);
    store_close(st);
    tus_release(f->t, fin.id);
}

static void test_concat_final_bad(void **state)
{
    struct fixture *f = *state;
    struct tus_info a, b, n, e, fin;
    char ids[3][TUS_ID_LEN + 1];
    make_partial(f, "abc", &a);
    create(f, 5, NULL, TUS_CONCAT_PARTIAL, &b); /* unfinished */
    create(f, 3, NULL, TUS_CONCAT_NONE, &n);
    assert_int_equal(patch(f, n.id, 0, "abc", NULL, NULL), 0);
    make_partial(f, "", &e);

    memcpy(ids[0], a.id, sizeof ids[0]);
    memcpy(ids[1], b.id, sizeof ids[1]);
    assert_int_equal(tus_concat_final(f->t, ids, 2, NULL, &fin), ERR_PARAM);
    memcpy(ids[1], n.id, sizeof ids[1]);
    assert_int_equal(tus_concat_final(f->t, ids, 2, NULL, &fin), ERR_PARAM);
    memcpy(ids[1], a.id, sizeof ids[1]);
    assert_int_equal(tus_concat_final(f->t, ids, 2, NULL, &fin), ERR_PARAM); /* repeated */
    memcpy(ids[1], ID_A, sizeof ids[1]);
    assert_int_equal(tus_concat_final(f->t, ids, 2, NULL, &fin), -ENOENT);
    assert_int_equal(tus_concat_final(f->t, ids, 0, NULL, &fin), ERR_PARAM);
    memcpy(ids[0], e.id, sizeof ids[0]);
    assert_int_equal(tus_concat_final(f->t, ids, 1, NULL, &fin), ERR_EMPTY);
    memcpy(ids[0], a.id, sizeof ids[0]);
    assert_int_equal(tus_concat_final(f->t, ids, 1, "bad meta !", &fin), ERR_PARAM);
    /* a part in use */
    assert_int_equal(tus_acquire(f->t, a.id), 0);
    assert_int_equal(tus_concat_final(f->t, ids, 1, NULL, &fin), -EBUSY);
    tus_release(f->t, a.id);
    /* nothing was consumed by the failures, nothing is left held */
    struct tus_info o;
    assert_int_equal(tus_get(f->t, a.id, &o), 0);
    assert_int_equal(tus_acquire(f->t, a.id), 0);
    tus_release(f->t, a.id);
    assert_int_equal(tus_concat_final(f->t, ids, 1, NULL, &fin), 0);
    tus_release(f->t, fin.id);
}

static void test_concat_final_over_max(void **state)
{
    struct fixture *f = *state;
    struct tus_info a, b, fin;
    char big[601];
    memset(big, 'z', 600);
    big[600] = '\0';
    make_partial(f, big, &a);
    make_partial(f, big, &b);
    char ids[2][TUS_ID_LEN + 1];
    memcpy(ids[0], a.id, sizeof ids[0]);
    memcpy(ids[1], b.id, sizeof ids[1]);
    assert_int_equal(tus_concat_final(f->t, ids, 2, NULL, &fin), ERR_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_valid),
        cmocka_unit_test(test_base64_invalid),
        cmocka_unit_test(test_meta_empty),
        cmocka_unit_test(test_meta_known_keys),
        cmocka_unit_test(test_meta_key_without_value),
        cmocka_unit_test(test_meta_unknown_keys_dropped),
        cmocka_unit_test(test_meta_bad_forms),
        cmocka_unit_test(test_meta_limits),
        cmocka_unit_test(test_checksum_parse),
        cmocka_unit_test(test_checksum_bad),
        cmocka_unit_test(test_concat_parse),
        cmocka_unit_test(test_concat_bad),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test_setup_teardown(test_create_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunks_advance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_needs_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_wrong_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_past_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_mismatch_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_chunk_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_checksum_chunk_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deferred_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_limited_by_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_leftover_bytes_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_removed_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_refuses_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_skips_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweeper_thread_starts_and_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concat_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concat_final_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concat_final_over_max, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
