/* The FileInfo record and its JSON, field for field as go-fastdfs stores it, so records can
 * travel between our nodes and be read by its clients. Parsing validates every field a
 * peer or an old index could have filled with something hostile. */
#include "fileinfo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "strjoin.h"
#include "strparse.h"
#include "xalloc.h"

void fileinfo_init(struct file_info *fi)
{
    memset(fi, 0, sizeof *fi);
    fi->offset = -1;
}

const char *fileinfo_disk_name(const struct file_info *fi)
{
    return fi->rename[0] ? fi->rename : fi->name;
}

int fileinfo_rel(const struct file_info *fi, char *out, size_t outcap)
{
    const char *dir = fi->path;
    if (strncmp(dir, "files/", 6) == 0)
        dir += 6;
    else if (strcmp(dir, "files") == 0)
        dir = "";
    return strjoin(out, outcap, dir, *dir ? "/" : "", fileinfo_disk_name(fi)) < 0 ? ERR_BADPATH : 0;
}

void fileinfo_path_key_rel(const char *rel, char out[DIGEST_HEX_MAX])
{
    char full[PATH_MAX_REL + 16];
    int n = strjoin(full, sizeof full, "files/", rel);
    digest_md5_hex(full, n < 0 ? sizeof full - 1 : (size_t)n, out);
}

void fileinfo_path_key(const struct file_info *fi, char out[DIGEST_HEX_MAX])
{
    char rel[PATH_MAX_REL + 8];
    if (fileinfo_rel(fi, rel, sizeof rel) < 0)
        rel[0] = '\0';
    fileinfo_path_key_rel(rel, out);
}

int fileinfo_add_peer(struct file_info *fi, const char *peer)
{
    for (size_t i = 0; i < fi->npeers; i++)
        if (strcmp(fi->peers[i], peer) == 0)
            return 0;
    if (fi->npeers >= FILEINFO_PEERS_MAX || strlen(peer) >= FILEINFO_URL_MAX)
        return ERR_PARAM;
    strjoin(fi->peers[fi->npeers++], FILEINFO_URL_MAX, peer);
    return 0;
}

json_t *fileinfo_to_json(const struct file_info *fi)
{
    json_t *o = json_object();
    json_t *peers = json_array();
    for (size_t i = 0; i < fi->npeers; i++)
        json_array_append_new(peers, json_string(fi->peers[i]));
    json_object_set_new(o, "name", json_string(fi->name));
    json_object_set_new(o, "rename", json_string(fi->rename));
    json_object_set_new(o, "path", json_string(fi->path));
    json_object_set_new(o, "md5", json_string(fi->md5));
    json_object_set_new(o, "size", json_integer(fi->size));
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "scene", json_string(fi->scene));
    json_object_set_new(o, "timeStamp", json_integer(fi->timestamp));
    json_object_set_new(o, "offset", json_integer(fi->offset));
    if (fi->time_ms)
        json_object_set_new(o, "timeMs", json_integer(fi->time_ms));
    if (fi->expire_at)
        json_object_set_new(o, "expireAt", json_integer(fi->expire_at));
    if (fi->volume > 0) {
        json_object_set_new(o, "volume", json_integer(fi->volume));
        json_object_set_new(o, "volumeOffset", json_integer(fi->vol_off));
    }
    return o;
}

char *fileinfo_to_text_ref(const struct file_info *fi, size_t *len)
{
    json_t *o = fileinfo_to_json(fi);
    /* JSON_PRESERVE_ORDER keeps go-fastdfs's struct field order */
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* Whether s is well-formed UTF-8 (what json_string accepts): no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static bool utf8_ok(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n = (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0 || *s == 0xc0 || *s == 0xc1 || *s > 0xf4)
            return false;
        uint32_t cp = *s & (0x3f >> n);
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += n + 1;
    }
    return true;
}

/* A JSON string as jansson writes it without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH. */
static char *put_str(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    *o++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    return o;
}

/* ,"key": (the caller sized the buffer for every key and integer) */
static char *put_key(char *o, const char *key)
{
    size_t n = strlen(key);
    *o++ = ',';
    *o++ = '"';
    memcpy(o, key, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    return o;
}

static char *put_field_str(char *o, const char *key, const char *s)
{
    return put_str(put_key(o, key), s);
}

static char *put_field_int(char *o, const char *key, int64_t v)
{
    o = put_key(o, key);
    return o + strjoin_i64(o, v);
}

/* The same text as fileinfo_to_text_ref, written directly: this runs on every upload, and
 * building jansson's objects cost some 25 allocations there. */
char *fileinfo_to_text(const struct file_info *fi, size_t *len)
{
    const char *strs[] = {fi->name, fi->rename, fi->path, fi->md5, fi->scene};
    size_t cap = 320; /* keys, punctuation and seven integers: about 280 */
    bool ok = true;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        ok = ok && utf8_ok((const unsigned char *)strs[i]);
        cap += 6 * strlen(strs[i]) + 2;
    }
    for (size_t i = 0; i < fi->npeers; i++) {
        ok = ok && utf8_ok((const unsigned char *)fi->peers[i]);
        cap += 6 * strlen(fi->peers[i]) + 3;
    }
    if (!ok) /* jansson leaves such a field out: so does the record */
        return fileinfo_to_text_ref(fi, len);
    char *out = xmalloc(cap), *o = out;
    memcpy(o, "{\"name\":", 8);
    o = put_str(o + 8, fi->name);
    o = put_field_str(o, "rename", fi->rename);
    o = put_field_str(o, "path", fi->path);
    o = put_field_str(o, "md5", fi->md5);
    o = put_field_int(o, "size", fi->size);
    o = put_key(o, "peers");
    *o++ = '[';
    for (size_t i = 0; i < fi->npeers; i++) {
        if (i)
            *o++ = ',';
        o = put_str(o, fi->peers[i]);
    }
    *o++ = ']';
    o = put_field_str(o, "scene", fi->scene);
    o = put_field_int(o, "timeStamp", fi->timestamp);
    o = put_field_int(o, "offset", fi->offset);
    if (fi->time_ms)
        o = put_field_int(o, "timeMs", fi->time_ms);
    if (fi->expire_at)
        o = put_field_int(o, "expireAt", fi->expire_at);
    if (fi->volume > 0) {
        o = put_field_int(o, "volume", fi->volume);
        o = put_field_int(o, "volumeOffset", fi->vol_off);
    }
    *o++ = '}';
    *o = '\0';
    if ((size_t)(o - out) >= cap)
        abort(); /* the sizing above is wrong: memory is already corrupt */
    if (len)
        *len = (size_t)(o - out);
    return out;
}

static int get_str(json_t *o, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(o, key);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return ERR_BADREQ;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    if (strlen(out) != json_string_length(v))
        return ERR_BADREQ; /* embedded NUL */
    return 0;
}

static int get_int(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_real(v)) { /* go-fastdfs round-trips numbers through float64 */
        double d = json_real_value(v);
        if (!(d > -4611686018427387904.0 && d < 4611686018427387904.0))
            return ERR_BADREQ; /* out of range (or NaN): the cast would be undefined */
        *out = (int64_t)d;
    } else
        return ERR_BADREQ;
    return 0;
}

int fileinfo_from_text(struct file_info *fi, const char *text, size_t len)
{
    fileinfo_init(fi);
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return ERR_BADREQ;
    }
    int rc = 0;
    rc = rc ? rc : get_str(o, "name", fi->name, sizeof fi->name);
    rc = rc ? rc : get_str(o, "rename", fi->rename, sizeof fi->rename);
    rc = rc ? rc : get_str(o, "path", fi->path, sizeof fi->path);
    rc = rc ? rc : get_str(o, "md5", fi->md5, sizeof fi->md5);
    rc = rc ? rc : get_str(o, "scene", fi->scene, sizeof fi->scene);
    rc = rc ? rc : get_int(o, "size", &fi->size);
    rc = rc ? rc : get_int(o, "timeStamp", &fi->timestamp);
    rc = rc ? rc : get_int(o, "offset", &fi->offset);
    rc = rc ? rc : get_int(o, "timeMs", &fi->time_ms);
    rc = rc ? rc : get_int(o, "expireAt", &fi->expire_at);
    rc = rc ? rc : get_int(o, "volume", &fi->volume);
    rc = rc ? rc : get_int(o, "volumeOffset", &fi->vol_off);
    json_t *peers = json_object_get(o, "peers");
    if (rc == 0 && peers && !json_is_null(peers) && !json_is_array(peers))
        rc = ERR_BADREQ;
    if (rc == 0 && peers && json_is_array(peers)) {
        size_t i;
        json_t *p;
        json_array_foreach(peers, i, p) {
            if (!json_is_string(p) || fileinfo_add_peer(fi, json_string_value(p)) < 0) {
                rc = ERR_BADREQ;
                break;
            }
        }
    }
    json_decref(o);
    if (rc)
        return rc;
    /* a record decides where bytes are written: confine it */
    if (fi->size < 0 || fi->volume < 0 || fi->volume > 999999999 || fi->vol_off < 0 ||
        (fi->name[0] && path_check_name(fi->name) < 0) ||
        (fi->rename[0] && path_check_name(fi->rename) < 0))
        return ERR_BADREQ;
    if (fi->path[0]) {
        char norm[PATH_MAX_REL + 8];
        if (strncmp(fi->path, "files", 5) != 0 || (fi->path[5] != '/' && fi->path[5] != '\0') ||
            path_normalize_rel(fi->path, false, norm, sizeof norm) < 0)
            return ERR_BADREQ;
    }
    if (fi->md5[0] && !strparse_is_hex(fi->md5, 32) && !strparse_is_hex(fi->md5, 40))
        return ERR_BADREQ;
    return 0;
}

char *fileinfo_saved_text(const struct file_info *fi, bool layout_scene, size_t *len)
{
    if (!layout_scene || fi->rename[0] || fi->expire_at || fi->offset != -1 || fi->volume ||
        fi->time_ms <= 0)
        return fileinfo_to_text(fi, len);
    char t[32];
    t[0] = 't';
    *len = 1 + strjoin_i64(t + 1, fi->time_ms);
    return xstrdup(t);
}

int fileinfo_from_saved(struct file_info *fi, const char *text, size_t len)
{
    if (len == 0 || text[0] != 't')
        return fileinfo_from_text(fi, text, len);
    fileinfo_init(fi);
    uint64_t ms;
    /* up to the year 9999 in ms */
    if (strparse_u64(text + 1, len - 1, 253402300799999ULL, &ms) < 0 || ms == 0)
        return ERR_BADREQ;
    fi->time_ms = (int64_t)ms;
    fi->timestamp = (int64_t)(ms / 1000);
    return 0;
}
