/* Fuzz target for the tus header parsers. Input: an Upload-Metadata value (raw bytes, NULs
 * included). The same bytes, cut at the first NUL, also go through the Upload-Checksum and
 * Upload-Concat parsers. A metadata success must leave every known field NUL-terminated
 * inside its array and must survive a round trip (fields re-encoded parse back equal); a
 * failure must leave the output zeroed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "tus.h"
#include "xalloc.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t b64(const char *s, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    return o;
}

static void field_ok(const char *f, size_t cap, bool has)
{
    CHECK(memchr(f, '\0', cap) != NULL);
    if (!has)
        CHECK(f[0] == '\0');
}

static void add(char *hdr, size_t *len, const char *key, const char *val, bool has)
{
    if (!has)
        return;
    if (*len)
        hdr[(*len)++] = ',';
    size_t kl = strlen(key);
    memcpy(hdr + *len, key, kl);
    *len += kl;
    hdr[(*len)++] = ' ';
    *len += b64(val, strlen(val), hdr + *len);
}

static void check_meta(const uint8_t *data, size_t size)
{
    struct tus_meta m, m2, zero;
    memset(&zero, 0, sizeof zero);
    int rc = tus_meta_parse((const char *)data, size, &m);
    CHECK(rc == 0 || rc == ERR_PARAM);
    if (rc) {
        CHECK(memcmp(&m, &zero, sizeof m) == 0);
        return;
    }
    CHECK(size <= TUS_META_MAX);
    CHECK(m.npairs <= TUS_META_PAIRS_MAX);
    field_ok(m.filename, sizeof m.filename, m.has_filename);
    field_ok(m.scene, sizeof m.scene, m.has_scene);
    field_ok(m.path, sizeof m.path, m.has_path);
    field_ok(m.auth_token, sizeof m.auth_token, m.has_auth_token);
    field_ok(m.ttl, sizeof m.ttl, m.has_ttl);
    /* the known fields alone, re-encoded, parse back to the same values */
    char *hdr = xmalloc(2 * TUS_META_MAX + 64);
    size_t len = 0;
    add(hdr, &len, "filename", m.filename, m.has_filename);
    add(hdr, &len, "scene", m.scene, m.has_scene);
    add(hdr, &len, "path", m.path, m.has_path);
    add(hdr, &len, "auth_token", m.auth_token, m.has_auth_token);
    add(hdr, &len, "ttl", m.ttl, m.has_ttl);
    if (len <= TUS_META_MAX) {
        CHECK(tus_meta_parse(hdr, len, &m2) == 0);
        CHECK(m2.has_filename == m.has_filename && strcmp(m2.filename, m.filename) == 0);
        CHECK(m2.has_scene == m.has_scene && strcmp(m2.scene, m.scene) == 0);
        CHECK(m2.has_path == m.has_path && strcmp(m2.path, m.path) == 0);
        CHECK(m2.has_auth_token == m.has_auth_token &&
              strcmp(m2.auth_token, m.auth_token) == 0);
        CHECK(m2.has_ttl == m.has_ttl && strcmp(m2.ttl, m.ttl) == 0);
    }
    free(hdr);
}

static void check_others(const char *s)
{
    enum digest_algo algo;
    unsigned char sum[TUS_SUM_MAX];
    size_t sl = 0;
    int rc = tus_checksum_parse(s, &algo, sum, &sl);
    CHECK(rc == 0 || rc == ERR_PARAM || rc == -ENOTSUP);
    if (rc == 0)
        CHECK((algo == DIGEST_MD5 && sl == 16) || (algo == DIGEST_SHA1 && sl == 20));

    enum tus_concat kind;
    char ids[4][TUS_ID_LEN + 1];
    size_t n = 99;
    rc = tus_concat_parse(s, &kind, ids, 4, &n);
    CHECK(rc == 0 || rc == ERR_PARAM);
    if (rc == 0) {
        CHECK(kind == TUS_CONCAT_PARTIAL || kind == TUS_CONCAT_FINAL);
        CHECK(kind == TUS_CONCAT_PARTIAL ? n == 0 : (n >= 1 && n <= 4));
        for (size_t i = 0; i < n; i++)
            CHECK(tus_id_valid(ids[i]));
    }
    (void)tus_id_valid(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_meta(data, size);
    char *s = xmalloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_others(s);
    free(s);
    return 0;
}
