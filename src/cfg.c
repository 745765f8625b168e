/* cfg.json: one declarative table (key, type, field, default, range, doc) drives the defaults,
 * the JSON parser, the FILESERVER_* environment overrides, validation and serialisation.
 * Errors are collected, never fatal on the first one, and every line names its key. The
 * first start generates the file (identity and secrets) atomically with mode 0600. */
#include "cfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "compiler.h"
#include "errcode.h"
#include "log.h"
#include "xalloc.h"

#define CFG_FILE_MAX (1024 * 1024) /* a cfg.json is a few KiB; refuse anything absurd */
#define CFG_STR_MAX 4096           /* longest string value or list entry */
#define CFG_PATH_MAX 4096
#define YEAR_S 31536000

enum ktype { KT_BOOL, KT_INT, KT_STR, KT_LIST };
enum knorm { KN_NONE, KN_URL, KN_EXT };

struct key {
    const char *name;
    enum ktype type;
    enum knorm norm;
    size_t off;
    bool def_bool;
    int64_t def_int;
    const char *def_str; /* KT_LIST: comma-separated entries */
    int64_t min, max;
    const char *doc;
};

/* offsetof plus a compile-time check that the field has the C type the entry claims. */
#define FIELD(k, T) (offsetof(struct cfg, k) + 0 * sizeof(_Generic(((struct cfg *)0)->k, T: 1)))
#define KB(k, d, doc_) { #k, KT_BOOL, KN_NONE, FIELD(k, bool), .def_bool = (d), .doc = (doc_) }
#define KI(k, d, lo, hi, doc_) \
    { #k, KT_INT, KN_NONE, FIELD(k, int64_t), .def_int = (d), .min = (lo), .max = (hi), .doc = (doc_) }
#define KS(k, d, n, doc_) { #k, KT_STR, (n), FIELD(k, char *), .def_str = (d), .doc = (doc_) }
#define KL(k, d, n, doc_) \
    { #k, KT_LIST, (n), FIELD(k, struct cfg_strlist), .def_str = (d), .doc = (doc_) }

static const struct key keys[] = {
    KS(addr, ":8080", KN_NONE, "listen address, [host]:port"),
    KB(enable_https, false, "serve TLS with conf/server.crt and conf/server.key"),
    KS(peer_id, "", KN_NONE, "unique node id, a path component of stored files; generated"),
    KS(host, "", KN_URL, "this node's URL as its peers know it; generated from addr's port"),
    KL(peers, "", KN_URL, "URLs of the nodes of this group, this node included"),
    KS(group, "group1", KN_NONE, "group name, the URL prefix when support_group_manage"),
    KB(support_group_manage, true, "prefix every route and URL with /<group>"),
    KB(enable_merge_small_file, false, "store files under 1 MiB in haystack files"),
    KI(merge_volume_size, 1073741824, 65536, 1LL << 40,
       "bytes after which a small-file volume is sealed and a new one started"),
    KI(merge_compact_percent, 50, 1, 100,
       "deleted share of a sealed volume (percent) that makes compaction rewrite it"),
    KI(merge_compact_interval, 3600, 0, YEAR_S,
       "seconds between automatic compactions of small-file volumes (0: only G/compact)"),
    KB(enable_image_resize, true, "honour width/height on image downloads"),
    KI(image_max_width, 2000, 1, 100000, "cap for the width download parameter"),
    KI(image_max_height, 1000, 1, 100000, "cap for the height download parameter"),
    KL(extensions, "", KN_EXT, "allowed upload extensions (empty: all); stored as .ext"),
    KI(refresh_interval, 1800, 1, YEAR_S, "seconds between re-pushes of failed syncs"),
    KB(enable_trim_file_name_special_char, true, "strip special characters from file names"),
    KB(rename_file, false, "store uploads under a random name plus the extension"),
    KB(enable_web_upload, true, "serve the upload page"),
    KB(enable_pprof_debug, false, "go-fastdfs's Go profiler switch, kept for compatibility"),
    KB(enable_custom_path, true, "honour the path upload parameter"),
    KS(download_domain, "", KN_NONE, "URL prefix of download links in upload answers"),
    KL(scenes, "", KN_NONE, "allowed scenes, \"name\" or \"name:google_secret\" (empty: all)"),
    KS(default_scene, "default", KN_NONE, "scene used when an upload names none"),
    KB(show_dir, true, "list directories on the download path"),
    KL(alarm_receivers, "", KN_NONE, "alarm mail recipients"),
    KS(alarm_url, "", KN_NONE, "URL that receives alarms (POST subject, message)"),
    KB(download_use_token, false, "downloads need token and timestamp parameters"),
    KI(download_token_expire, 600, 1, YEAR_S, "seconds a download token stays valid"),
    KB(auto_repair, true, "hourly comparison and repair against peers"),
    KS(file_sum_arithmetic, "md5", KN_NONE, "content digest: md5 or sha1"),
    KS(admin_key, "", KN_NONE, "key of the reload endpoint; generated"),
    KL(admin_ips, "127.0.0.1", KN_NONE, "IPs or CIDRs allowed to call admin endpoints"),
    KB(enable_migrate, false, "index files found on disk at start-up"),
    KB(enable_distinct_file, true, "store identical content once"),
    KB(enable_cross_origin, true, "send CORS headers"),
    KB(enable_google_auth, false, "require a TOTP code on uploads and downloads"),
    KS(auth_url, "", KN_NONE, "external authorisation URL (auth_token)"),
    KB(enable_download_auth, false, "apply auth_url to downloads too"),
    KB(default_download, true, "serve files as attachments by default"),
    KB(read_only, false, "refuse uploads and replication into this node"),
    KB(enable_tus, true, "resumable uploads under /big/upload/"),
    KI(sync_timeout, 0, 0, YEAR_S, "seconds for one replication pull (0: by size)"),
    KI(read_timeout, 600, 0, YEAR_S, "seconds a request may send nothing (idle, 0: none)"),
    KI(write_timeout, 600, 0, YEAR_S, "seconds a response may make no progress (idle, 0: none)"),
    KI(idle_timeout, 0, 0, YEAR_S, "seconds an idle keep-alive connection is kept (0: default)"),
    KI(read_header_timeout, 0, 0, YEAR_S, "seconds to receive the request headers (0: default)"),
    KI(sync_worker, 8, 1, 1024, "replication workers (push and pull each)"),
    KI(upload_worker, 0, 0, 1024, "threads that commit tus uploads, and all uploads in sync_mode file (0: 32)"),
    KI(retry_count, 3, 0, 100, "replication attempts per file and peer"),
    KI(sync_delay, 60, 0, YEAR_S, "seconds a new file must be stable before fsnotify adds it"),
    KB(enable_fsnotify, false, "index files added to files/ by other programs"),
    KI(max_upload_size, 0, 0, INT64_MAX, "largest upload in bytes (0: unlimited)"),
    KI(http_threads, 0, 0, 1024, "HTTP threads (0: one per core)"),
    KS(log_level, "info", KN_NONE, "debug, info, warn, error or off"),
    KS(cluster_secret, "", KN_NONE, "shared secret that authenticates peer calls; generated"),
    KS(sync_mode, "group", KN_NONE, "durability: group (batched syncfs), file (fsync each), none (unsafe)"),
    KL(group_nodes, "", KN_NONE, "other groups' nodes, \"group2=http://a:8080,http://b:8080\""),
    KI(store_lookup, 0, 0, 2, "where /upload places files: 0 round robin, 1 store_group, 2 most free"),
    KS(store_group, "", KN_NONE, "the group used when store_lookup is 1"),
    KS(download_token_secret, "", KN_NONE,
       "key of download tokens (empty: go-fastdfs md5 tokens anyone can mint); generated"),
    KI(google_auth_window, 1, 0, 10, "TOTP codes accepted this many 30 s steps either side"),
    KL(cors_origins, "", KN_NONE, "origins allowed by CORS (empty: any origin, no credentials)"),
    KI(auth_timeout, 5, 1, 60, "seconds to wait for auth_url"),
    KS(https_ca_file, "", KN_NONE, "CA bundle to verify peers' HTTPS certificates (empty: system)"),
    KI(max_connections_per_ip, 0, 0, 100000, "connections one client address may hold (0: no limit)"),
    KI(download_cache_size, 8388608, 0, 1LL << 30,
       "bytes of small files (up to 64 KiB each) kept in memory for downloads (0: none); "
       "entries unused for 10 s are freed"),
    KI(lifecycle_interval, 60, 0, YEAR_S, "seconds between sweeps deleting expired files (0: none)"),
    KS(mail_host, "", KN_NONE, "SMTP server for alarm mail, smtp://host:port or smtps://"),
    KS(mail_user, "", KN_NONE, "SMTP user (empty: no login)"),
    KS(mail_password, "", KN_NONE, "SMTP password"),
    KS(mail_from, "", KN_NONE, "sender of alarm mail (empty: fileserver@localhost)"),
    KI(alarm_disk_percent, 90, 1, 100, "disk use of files/ (percent) that raises an alarm"),
    KI(alarm_peer_down, 300, 1, YEAR_S, "seconds a peer may be unreachable or behind before an alarm"),
    KI(alarm_interval, 30, 0, 86400, "seconds between alarm checks (0: no alarms)"),
    KI(auth_cache_seconds, 0, 0, 3600, "seconds an auth_url acceptance is cached per token (0: off)"),
};

/* go-fastdfs keys we accept and ignore so its cfg.json loads unchanged: "PeerID" is an ASCII
 * comment key of its template, the rest are settings with no effect here. */
static const char *const ignored_keys[] = {
    "PeerID", "mail", "proxies", "queue_size", "enable_disk_cache", "connect_timeout",
    "upload_queue_size", "watch_chan_size",
};

struct errs {
    char *buf;
    size_t cap, len;
    unsigned n;
};

static void errs_init(struct errs *e, char *buf, size_t cap)
{
    e->buf = cap ? buf : NULL;
    e->cap = cap;
    e->len = 0;
    e->n = 0;
    if (e->buf)
        e->buf[0] = '\0';
}

static PRINTF_LIKE(2, 3) void errs_add(struct errs *e, const char *fmt, ...)
{
    e->n++;
    if (!e->buf || e->len + 1 >= e->cap)
        return;
    if (e->len > 0)
        e->buf[e->len++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
    va_end(ap);
    if (w < 0) {
        e->buf[e->len] = '\0';
        return;
    }
    e->len += (size_t)w;
    if (e->len >= e->cap)
        e->len = e->cap - 1;
}

#define AT(c, k, T) ((T *)(void *)((char *)(c) + (k)->off))
#define CAT(c, k, T) ((T const *)(const void *)((const char *)(c) + (k)->off))

static const struct key *key_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool is_ignored(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(ignored_keys); i++)
        if (strcmp(ignored_keys[i], name) == 0)
            return true;
    return false;
}

static bool has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

static void list_clear(struct cfg_strlist *l)
{
    for (size_t i = 0; i < l->n && i < CFG_LIST_MAX; i++) {
        free(l->v[i]);
        l->v[i] = NULL;
    }
    l->n = 0;
}

/* Returns a new string: the value rewritten into its canonical form for this key. */
static char *normalise(enum knorm norm, const char *s)
{
    size_t n = strlen(s);
    if (norm == KN_EXT) {
        char *out = xmalloc(n + 2);
        size_t o = 0;
        if (s[0] != '.')
            out[o++] = '.';
        for (size_t i = 0; i < n; i++)
            out[o++] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
        out[o] = '\0';
        return out;
    }
    if (norm == KN_URL && n > 0) {
        while (n > 0 && s[n - 1] == '/')
            n--;
        /* Peers are matched by exact string, so every spelling must converge. */
        if (strstr(s, "://") == NULL)
            return xasprintf("http://%.*s", (int)n, s);
        return xstrndup(s, n);
    }
    return xstrdup(s);
}

static void set_str(struct cfg *c, const struct key *k, const char *s)
{
    char **f = AT(c, k, char *);
    char *v = normalise(k->norm, s);
    free(*f);
    *f = v;
}

/* Replaces the list with entries (already checked for count and length). */
static void set_list(struct cfg *c, const struct key *k, const char *const *v, size_t n)
{
    struct cfg_strlist *l = AT(c, k, struct cfg_strlist);
    list_clear(l);
    for (size_t i = 0; i < n; i++)
        l->v[i] = normalise(k->norm, v[i]);
    l->n = n;
}

static const char *type_word(enum ktype t)
{
    switch (t) {
    case KT_BOOL:
        return "boolean";
    case KT_INT:
        return "integer";
    case KT_STR:
        return "string";
    case KT_LIST:
        return "array of strings";
    }
    return "?";
}

static void apply_default(struct cfg *c, const struct key *k)
{
    switch (k->type) {
    case KT_BOOL:
        *AT(c, k, bool) = k->def_bool;
        break;
    case KT_INT:
        *AT(c, k, int64_t) = k->def_int;
        break;
    case KT_STR:
        set_str(c, k, k->def_str);
        break;
    case KT_LIST: {
        struct cfg_strlist *l = AT(c, k, struct cfg_strlist);
        list_clear(l);
        const char *p = k->def_str;
        while (*p && l->n < CFG_LIST_MAX) {
            size_t len = strcspn(p, ",");
            l->v[l->n++] = xstrndup(p, len);
            p += len + (p[len] == ',');
        }
        break;
    }
    }
}

void cfg_defaults(struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        apply_default(c, &keys[i]);
}

void cfg_fini(struct cfg *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (k->type == KT_STR)
            free(*AT(c, k, char *));
        else if (k->type == KT_LIST)
            list_clear(AT(c, k, struct cfg_strlist));
    }
    memset(c, 0, sizeof(*c));
}

size_t cfg_key_count(void)
{
    return ARRAY_SIZE(keys);
}

const char *cfg_key_name(size_t i)
{
    return i < ARRAY_SIZE(keys) ? keys[i].name : NULL;
}

void cfg_print_keys(FILE *out)
{
    static const char *tname[] = {"bool", "int", "string", "list"};
    fprintf(out, "# cfg.json keys\n\n"
                 "Generated by `fileserver --config-keys`; `tools/check.sh` fails when this file\n"
                 "and the binary disagree. Each key can also be set by the environment variable\n"
                 "`FILESERVER_<KEY>` (upper case); lists take a JSON array or a comma-separated\n"
                 "string. Keys marked *generated* get a fresh value when cfg.json is created.\n"
                 "Keys of features that are still open work are accepted and validated but have\n"
                 "no effect yet; docs/COMPATIBILITY.md lists them.\n\n"
                 "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        char def[128];
        switch (k->type) {
        case KT_BOOL: snprintf(def, sizeof def, "%s", k->def_bool ? "true" : "false"); break;
        case KT_INT: snprintf(def, sizeof def, "%lld", (long long)k->def_int); break;
        case KT_STR: snprintf(def, sizeof def, "\"%s\"", k->def_str ? k->def_str : ""); break;
        default: snprintf(def, sizeof def, "[%s]", k->def_str ? k->def_str : ""); break;
        }
        if (strstr(k->doc, "generated"))
            snprintf(def, sizeof def, "*generated*");
        fprintf(out, "| `%s` | %s | %s | %s |\n", k->name, tname[k->type], def, k->doc);
    }
}

/* ---- JSON ---------------------------------------------------------------------------- */

static void parse_value(struct cfg *c, const struct key *k, json_t *v, struct errs *e)
{
    switch (k->type) {
    case KT_BOOL:
        if (!json_is_boolean(v))
            goto badtype;
        *AT(c, k, bool) = json_is_true(v);
        return;
    case KT_INT: {
        if (!json_is_integer(v))
            goto badtype;
        json_int_t n = json_integer_value(v);
        if (n < k->min || n > k->max) {
            errs_add(e, "%s: %lld is out of range [%lld, %lld]", k->name, (long long)n,
                     (long long)k->min, (long long)k->max);
            return;
        }
        *AT(c, k, int64_t) = n;
        return;
    }
    case KT_STR:
        if (!json_is_string(v))
            goto badtype;
        if (json_string_length(v) > CFG_STR_MAX) {
            errs_add(e, "%s: longer than %d bytes", k->name, CFG_STR_MAX);
            return;
        }
        set_str(c, k, json_string_value(v));
        return;
    case KT_LIST: {
        if (!json_is_array(v))
            goto badtype;
        size_t n = json_array_size(v);
        if (n > CFG_LIST_MAX) {
            errs_add(e, "%s: more than %d entries", k->name, CFG_LIST_MAX);
            return;
        }
        const char *items[CFG_LIST_MAX];
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_array_get(v, i);
            if (!json_is_string(it))
                goto badtype;
            if (json_string_length(it) == 0 || json_string_length(it) > CFG_STR_MAX) {
                errs_add(e, "%s: entry %zu is empty or longer than %d bytes", k->name, i,
                         CFG_STR_MAX);
                return;
            }
            items[i] = json_string_value(it);
        }
        set_list(c, k, items, n);
        return;
    }
    }
    return;
badtype:
    errs_add(e, "%s: expected %s", k->name, type_word(k->type));
}

static void parse_into(struct cfg *c, const char *json, size_t len, struct errs *e)
{
    if (len > CFG_FILE_MAX) {
        errs_add(e, "json: larger than %d bytes", CFG_FILE_MAX);
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        errs_add(e, "json: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return;
    }
    if (!json_is_object(root)) {
        errs_add(e, "json: the top level must be an object");
        json_decref(root);
        return;
    }
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        const struct key *k = key_find(name);
        if (k)
            parse_value(c, k, v, e);
        else if (is_ignored(name))
            log_debug("cfg", "ignoring go-fastdfs key %s", name);
        else if (!has_non_ascii(name))
            errs_add(e, "%.64s: unknown key", name);
    }
    json_decref(root);
}

int cfg_parse_buf(struct cfg *c, const char *json, size_t len, char *err, size_t errcap)
{
    struct errs e;
    errs_init(&e, err, errcap);
    parse_into(c, json, len, &e);
    return e.n ? ERR_CONFIG : 0;
}

static json_t *json_str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (!j) /* only invalid UTF-8, which parsing and apply_env never let in */
        j = json_string("");
    return j;
}

char *cfg_to_json(const struct cfg *c)
{
    json_t *root = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        json_t *v = NULL;
        switch (k->type) {
        case KT_BOOL:
            v = json_boolean(*CAT(c, k, bool));
            break;
        case KT_INT:
            v = json_integer(*CAT(c, k, int64_t));
            break;
        case KT_STR:
            v = json_str(*CAT(c, k, char *));
            break;
        case KT_LIST: {
            const struct cfg_strlist *l = CAT(c, k, struct cfg_strlist);
            v = json_array();
            for (size_t j = 0; j < l->n && j < CFG_LIST_MAX; j++)
                json_array_append_new(v, json_str(l->v[j]));
            break;
        }
        }
        json_object_set_new(root, k->name, v);
    }
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        log_fatal("cfg", "out of memory serialising the configuration");
    return s;
}

/* ---- environment --------------------------------------------------------------------- */

static bool parse_bool(const char *s, bool *out)
{
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = true;
    else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = false;
    else
        return false;
    return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (!*s || strlen(s) > 20)
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    *out = v;
    return true;
}

/* Splits a list value: a JSON array of strings, or comma-separated entries (blank ones
 * skipped; surrounding blanks and quotes trimmed, which also accepts go-fastdfs's
 * GO_FASTDFS_PEERS form `a","b`). Returns false with a reason on failure. */
static bool env_list(const char *s, char **items, size_t *n, const char **why)
{
    *n = 0;
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        json_error_t jerr;
        json_t *a = json_loads(s, 0, &jerr);
        bool ok = json_is_array(a) && json_array_size(a) <= CFG_LIST_MAX;
        for (size_t i = 0; ok && i < json_array_size(a); i++) {
            json_t *it = json_array_get(a, i);
            ok = json_is_string(it) && json_string_length(it) > 0 &&
                 json_string_length(it) <= CFG_STR_MAX;
            if (ok)
                items[(*n)++] = xstrdup(json_string_value(it));
        }
        json_decref(a);
        if (!ok)
            *why = "expected a JSON array of at most 64 non-empty strings";
        return ok;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *b = p, *end = p + len;
        while (b < end && (*b == ' ' || *b == '\t' || *b == '"'))
            b++;
        while (end > b && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '"'))
            end--;
        if (end > b) {
            if (*n == CFG_LIST_MAX || (size_t)(end - b) > CFG_STR_MAX) {
                *why = "more than 64 entries or an entry too long";
                return false;
            }
            items[(*n)++] = xstrndup(b, (size_t)(end - b));
        }
        p += len + (p[len] == ',');
    }
    return true;
}

static void apply_env_value(struct cfg *c, const struct key *k, const char *var,
                            const char *s, struct errs *e)
{
    if (strlen(s) > CFG_STR_MAX * 4) {
        errs_add(e, "%s: value too long", var);
        return;
    }
    json_t *utf8 = json_string(s);
    if (!utf8) {
        errs_add(e, "%s: not valid UTF-8", var);
        return;
    }
    json_decref(utf8);
    switch (k->type) {
    case KT_BOOL: {
        bool b;
        if (!parse_bool(s, &b)) {
            errs_add(e, "%s: expected true, false, 1 or 0", var);
            return;
        }
        *AT(c, k, bool) = b;
        return;
    }
    case KT_INT: {
        int64_t v;
        if (!parse_i64(s, &v) || v < k->min || v > k->max) {
            errs_add(e, "%s: expected an integer in [%lld, %lld]", var, (long long)k->min,
                     (long long)k->max);
            return;
        }
        *AT(c, k, int64_t) = v;
        return;
    }
    case KT_STR:
        if (strlen(s) > CFG_STR_MAX) {
            errs_add(e, "%s: longer than %d bytes", var, CFG_STR_MAX);
            return;
        }
        set_str(c, k, s);
        return;
    case KT_LIST: {
        char *items[CFG_LIST_MAX];
        size_t n = 0;
        const char *why = NULL;
        if (env_list(s, items, &n, &why))
            set_list(c, k, (const char *const *)items, n);
        else
            errs_add(e, "%s: %s", var, why);
        for (size_t i = 0; i < n; i++)
            free(items[i]);
        return;
    }
    }
}

static void apply_env(struct cfg *c, struct errs *e)
{
    /* go-fastdfs's variables first, so our FILESERVER_* spelling wins when both are set. */
    const char *s = getenv("GO_FASTDFS_PEER_ID");
    if (s && *s)
        apply_env_value(c, key_find("peer_id"), "GO_FASTDFS_PEER_ID", s, e);
    s = getenv("GO_FASTDFS_PEERS");
    if (s && *s)
        apply_env_value(c, key_find("peers"), "GO_FASTDFS_PEERS", s, e);

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        char var[96];
        size_t o = (size_t)snprintf(var, sizeof(var), "FILESERVER_");
        for (const char *p = keys[i].name; *p && o + 1 < sizeof(var); p++)
            var[o++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        var[o] = '\0';
        s = getenv(var);
        if (s)
            apply_env_value(c, &keys[i], var, s, e);
    }
}

int cfg_apply_env(struct cfg *c, char *err, size_t errcap)
{
    struct errs e;
    errs_init(&e, err, errcap);
    apply_env(c, &e);
    return e.n ? ERR_CONFIG : 0;
}

/* ---- validation ---------------------------------------------------------------------- */

static bool all_chars(const char *s, const char *extra)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && !strchr(extra, ch))
            return false;
    }
    return true;
}

/* One path segment a URL and a directory can both carry unchanged. */
static bool is_segment(const char *s)
{
    return s && *s && strlen(s) <= 255 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           all_chars(s, "_.-");
}

static int port_of(const char *a)
{
    if (!a)
        return -1;
    const char *colon;
    if (a[0] == '[') {
        const char *rb = strchr(a, ']');
        char ip[INET6_ADDRSTRLEN];
        struct in6_addr in6;
        if (!rb || rb[1] != ':' || (size_t)(rb - a - 1) >= sizeof(ip))
            return -1;
        memcpy(ip, a + 1, (size_t)(rb - a - 1));
        ip[rb - a - 1] = '\0';
        if (inet_pton(AF_INET6, ip, &in6) != 1)
            return -1;
        colon = rb + 1;
    } else {
        colon = strchr(a, ':');
        if (!colon || strchr(colon + 1, ':'))
            return -1;
        for (const char *p = a; p < colon; p++)
            if (!all_chars((char[]){ *p, '\0' }, ".-"))
                return -1;
    }
    const char *d = colon + 1;
    size_t n = strlen(d);
    if (n == 0 || n > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        port = port * 10 + (d[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

int cfg_addr_port(const struct cfg *c)
{
    return port_of(c->addr);
}

static bool is_ip_or_cidr(const char *s)
{
    char ip[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(ip))
        return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    int maxbits;
    if (inet_pton(AF_INET, ip, bin) == 1)
        maxbits = 32;
    else if (inet_pton(AF_INET6, ip, bin) == 1)
        maxbits = 128;
    else
        return false;
    if (!slash)
        return true;
    const char *d = slash + 1;
    size_t dn = strlen(d);
    if (dn == 0 || dn > 3)
        return false;
    int bits = 0;
    for (size_t i = 0; i < dn; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
        bits = bits * 10 + (d[i] - '0');
    }
    return bits <= maxbits;
}

static bool is_http_url(const char *s)
{
    return (strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]);
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static void addr_error(struct errs *e, const char *addr)
{
    errs_add(e, "addr: expected [host]:port with a port in 1..65535, got \"%.64s\"",
             str_or_empty(addr));
}

static void validate(const struct cfg *c, struct errs *e)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (k->type != KT_INT)
            continue;
        int64_t v = *CAT(c, k, int64_t);
        if (v < k->min || v > k->max)
            errs_add(e, "%s: %lld is out of range [%lld, %lld]", k->name, (long long)v,
                     (long long)k->min, (long long)k->max);
    }
    if (port_of(c->addr) < 0)
        addr_error(e, c->addr);
    const char *fsa = str_or_empty(c->file_sum_arithmetic);
    if (strcmp(fsa, "md5") != 0 && strcmp(fsa, "sha1") != 0)
        errs_add(e, "file_sum_arithmetic: expected md5 or sha1");
    enum log_level lvl;
    if (log_level_parse(str_or_empty(c->log_level), &lvl) != 0)
        errs_add(e, "log_level: expected debug, info, warn, error or off");
    for (size_t i = 0; i < c->group_nodes.n; i++) {
        const char *g = c->group_nodes.v[i];
        const char *eq = strchr(g, '=');
        if (!eq || eq == g || strncmp(eq + 1, "http", 4) != 0)
            errs_add(e, "group_nodes: entry %zu must look like group2=http://host:port[,http://...]", i);
    }
    if (c->store_lookup == 1 && !*str_or_empty(c->store_group))
        errs_add(e, "store_group: required when store_lookup is 1");
    if (strcmp(str_or_empty(c->sync_mode), "group") != 0 &&
        strcmp(str_or_empty(c->sync_mode), "file") != 0 &&
        strcmp(str_or_empty(c->sync_mode), "none") != 0)
        errs_add(e, "sync_mode: expected group, file or none");
    const char *group = str_or_empty(c->group);
    if (c->support_group_manage && !*group)
        errs_add(e, "group: must not be empty when support_group_manage is true");
    else if (*group && !is_segment(group))
        errs_add(e, "group: must be one path segment of [A-Za-z0-9_.-]");
    if (!is_segment(c->default_scene))
        errs_add(e, "default_scene: must be one path segment of [A-Za-z0-9_.-]");
    const char *pid = str_or_empty(c->peer_id);
    if (!*pid || strlen(pid) > 64 || !all_chars(pid, "_-"))
        errs_add(e, "peer_id: must be 1 to 64 characters of [A-Za-z0-9_-]");
    const char *host = str_or_empty(c->host);
    if (*host && !is_http_url(host))
        errs_add(e, "host: must be an http:// or https:// URL");
    const char *urls[] = { c->alarm_url, c->auth_url };
    const char *url_keys[] = { "alarm_url", "auth_url" };
    for (size_t i = 0; i < ARRAY_SIZE(urls); i++)
        if (*str_or_empty(urls[i]) && !is_http_url(urls[i]))
            errs_add(e, "%s: must be empty or an http:// or https:// URL", url_keys[i]);
    for (size_t i = 0; i < c->peers.n && i < CFG_LIST_MAX; i++)
        if (!is_http_url(str_or_empty(c->peers.v[i])))
            errs_add(e, "peers: entry %zu is not an http:// or https:// URL", i);
    for (size_t i = 0; i < c->extensions.n && i < CFG_LIST_MAX; i++) {
        const char *x = str_or_empty(c->extensions.v[i]);
        if (x[0] != '.' || !x[1] || strchr(x, '/') || strchr(x, '\\'))
            errs_add(e, "extensions: entry %zu is not an extension like .jpg", i);
    }
    for (size_t i = 0; i < c->scenes.n && i < CFG_LIST_MAX; i++) {
        const char *s = str_or_empty(c->scenes.v[i]);
        const char *colon = strchr(s, ':');
        char name[256];
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        bool ok = n < sizeof(name);
        if (ok) {
            memcpy(name, s, n);
            name[n] = '\0';
            ok = is_segment(name) && (!colon || (colon[1] && all_chars(colon + 1, "=")));
        }
        if (!ok)
            errs_add(e, "scenes: entry %zu must be \"name\" or \"name:secret\"", i);
    }
    for (size_t i = 0; i < c->admin_ips.n && i < CFG_LIST_MAX; i++)
        if (!is_ip_or_cidr(str_or_empty(c->admin_ips.v[i])))
            errs_add(e, "admin_ips: entry %zu (\"%.64s\") is not an IP address or CIDR", i,
                     str_or_empty(c->admin_ips.v[i]));
}

int cfg_validate(const struct cfg *c, char *err, size_t errcap)
{
    struct errs e;
    errs_init(&e, err, errcap);
    validate(c, &e);
    return e.n ? ERR_CONFIG : 0;
}

/* ---- first start: generation ----------------------------------------------------------- */

static int rand_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The address peers should use: GO_FASTDFS_IP, else the first non-loopback IPv4. */
static void local_ip(char *out, size_t cap)
{
    const char *env = getenv("GO_FASTDFS_IP");
    if (env && *env && strlen(env) < 256) {
        bool v6 = strchr(env, ':') && env[0] != '[';
        snprintf(out, cap, v6 ? "[%s]" : "%s", env);
        return;
    }
    snprintf(out, cap, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
            continue;
        char buf[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf))) {
            snprintf(out, cap, "%s", buf);
            break;
        }
    }
    freeifaddrs(ifs);
}

static char *derive_host(const struct cfg *c)
{
    char ip[300];
    local_ip(ip, sizeof(ip));
    return xasprintf("%s://%s:%d", c->enable_https ? "https" : "http", ip, cfg_addr_port(c));
}

/* Fills identity and secrets that are still empty. */
static int fill_generated(struct cfg *c)
{
    unsigned char b[16];
    char hx[33];
    int rc;
    if (!*str_or_empty(c->peer_id)) {
        uint32_t r;
        do { /* rejection sampling keeps [10000, 99999] uniform */
            if ((rc = rand_bytes(&r, sizeof(r))) != 0)
                return rc;
        } while (r >= UINT32_MAX - UINT32_MAX % 90000);
        free(c->peer_id);
        c->peer_id = xasprintf("%u", 10000 + r % 90000);
    }
    if (!*str_or_empty(c->host)) {
        free(c->host);
        c->host = derive_host(c);
    }
    if (c->peers.n == 0) {
        c->peers.v[0] = xstrdup(c->host);
        c->peers.n = 1;
    }
    if (!*str_or_empty(c->admin_key)) {
        if ((rc = rand_bytes(b, sizeof(b))) != 0)
            return rc;
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* shaped like a v4 UUID */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        hex(b, sizeof(b), hx);
        free(c->admin_key);
        c->admin_key = xasprintf("%.8s-%.4s-%.4s-%.4s-%.12s", hx, hx + 8, hx + 12, hx + 16, hx + 20);
    }
    if (!*str_or_empty(c->cluster_secret)) {
        if ((rc = rand_bytes(b, sizeof(b))) != 0)
            return rc;
        hex(b, sizeof(b), hx);
        free(c->cluster_secret);
        c->cluster_secret = xstrdup(hx);
    }
    if (!*str_or_empty(c->download_token_secret)) {
        if ((rc = rand_bytes(b, sizeof(b))) != 0)
            return rc;
        hex(b, sizeof(b), hx);
        free(c->download_token_secret);
        c->download_token_secret = xstrdup(hx);
    }
    return 0;
}

static int mkdir_parents(const char *path)
{
    char dir[CFG_PATH_MAX];
    if (strlen(path) >= sizeof(dir))
        return -ENAMETOOLONG;
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int fsync_parent(const char *path)
{
    char dir[CFG_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* temp + fsync + rename + fsync(dir); without replace, a no-replace rename that returns
 * -EEXIST if another process won. */
static int write_file(const char *path, const char *text, bool replace)
{
    char tmp[CFG_PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    int rc = mkdir_parents(path);
    if (rc != 0)
        return rc;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text), off = 0;
    if (fchmod(fd, 0600) != 0)
        rc = -errno;
    while (rc == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = -errno;
        else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && replace && rename(tmp, path) != 0)
        rc = -errno;
    else if (rc == 0 && !replace &&
             renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        rc = -errno;
        if (rc == -EINVAL || rc == -ENOSYS) /* file system without RENAME_NOREPLACE */
            rc = rename(tmp, path) == 0 ? 0 : -errno;
    }
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return fsync_parent(path);
}

static int write_file_new(const char *path, const char *text)
{
    return write_file(path, text, false);
}

int cfg_save(const struct cfg *c, const char *path)
{
    char *text = cfg_to_json(c);
    if (!text)
        return -ENOMEM;
    int rc = write_file(path, text, true);
    free(text);
    return rc;
}

/* Keys whose new value a running node can take at once: scalars read per request. The
 * others (addresses, threads, workers, peers, strings and lists other code keeps pointers
 * into) need a restart. */
static const char *const reloadable[] = {
    "read_only", "show_dir", "default_download", "enable_distinct_file", "enable_custom_path",
    "enable_trim_file_name_special_char", "rename_file", "enable_web_upload",
    "download_use_token", "download_token_expire", "enable_google_auth", "google_auth_window",
    "enable_download_auth", "enable_cross_origin", "max_upload_size", "auth_timeout",
    "image_max_width", "image_max_height", "enable_image_resize", "retry_count",
    "merge_compact_percent", "merge_compact_interval",
};

static bool field_equal(const struct key *k, const struct cfg *a, const struct cfg *b)
{
    const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
    switch (k->type) {
    case KT_BOOL: return *(const bool *)(const void *)pa == *(const bool *)(const void *)pb;
    case KT_INT: return *(const int64_t *)(const void *)pa == *(const int64_t *)(const void *)pb;
    case KT_STR: {
        const char *sa = *(char *const *)(const void *)pa, *sb = *(char *const *)(const void *)pb;
        return strcmp(sa ? sa : "", sb ? sb : "") == 0;
    }
    default: {
        const struct cfg_strlist *la = (const void *)pa, *lb = (const void *)pb;
        if (la->n != lb->n)
            return false;
        for (size_t i = 0; i < la->n; i++)
            if (strcmp(la->v[i], lb->v[i]) != 0)
                return false;
        return true;
    }
    }
}

int cfg_reload_apply(struct cfg *live, const struct cfg *next, char *applied, size_t acap,
                     char *restart, size_t rcap)
{
    size_t al = 0, rl = 0;
    applied[0] = restart[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        if (field_equal(k, live, next))
            continue;
        bool hot = false;
        for (size_t j = 0; j < ARRAY_SIZE(reloadable) && !hot; j++)
            hot = strcmp(reloadable[j], k->name) == 0;
        if (hot && (k->type == KT_BOOL || k->type == KT_INT)) {
            /* one aligned word: readers see the old or the new value, never a mix */
            char *dst = (char *)live + k->off;
            const char *src = (const char *)next + k->off;
            if (k->type == KT_BOOL)
                __atomic_store_n((bool *)(void *)dst, *(const bool *)(const void *)src,
                                 __ATOMIC_RELAXED);
            else
                __atomic_store_n((int64_t *)(void *)dst, *(const int64_t *)(const void *)src,
                                 __ATOMIC_RELAXED);
            int n = snprintf(applied + al, acap - al, "%s%s", al ? "," : "", k->name);
            if (n > 0 && (size_t)n < acap - al)
                al += (size_t)n;
        } else {
            int n = snprintf(restart + rl, rcap - rl, "%s%s", rl ? "," : "", k->name);
            if (n > 0 && (size_t)n < rcap - rl)
                rl += (size_t)n;
        }
    }
    return 0;
}

static int generate(const char *path, struct errs *e)
{
    struct cfg g;
    cfg_defaults(&g);
    char *text = NULL;
    int rc = 0;
    apply_env(&g, e); /* so FILESERVER_ADDR decides the port in host, and so on */
    if (e->n)
        goto out;
    if (port_of(g.addr) < 0) {
        addr_error(e, g.addr);
        goto out;
    }
    if ((rc = fill_generated(&g)) != 0) {
        errs_add(e, "%s: cannot get random bytes: %s", path, strerror(-rc));
        goto out;
    }
    validate(&g, e); /* never write a file that would then fail to load */
    if (e->n)
        goto out;
    char *json = cfg_to_json(&g);
    text = xasprintf("%s\n", json);
    free(json);
    rc = write_file_new(path, text);
    if (rc == -EEXIST) {
        rc = 0;
    } else if (rc != 0) {
        errs_add(e, "%s: cannot create: %s", path, strerror(-rc));
    } else {
        log_info("cfg", "generated %s (peer_id %s, host %s)", path, g.peer_id, g.host);
    }
out:
    free(text);
    cfg_fini(&g);
    return e->n ? ERR_CONFIG : 0;
}

/* ---- loading ------------------------------------------------------------------------- */

static int read_file(const char *path, char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if (st.st_size > CFG_FILE_MAX) {
        rc = -EFBIG;
        goto out;
    }
    buf = xmalloc(CFG_FILE_MAX + 1);
    for (;;) {
        ssize_t r = read(fd, buf + len, CFG_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CFG_FILE_MAX) {
            rc = -EFBIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int cfg_load(struct cfg *out, const char *path, char *err, size_t errcap)
{
    struct errs e;
    errs_init(&e, err, errcap);
    struct cfg c;
    cfg_defaults(&c);
    char *text = NULL;
    size_t len = 0;
    struct stat st;

    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            errs_add(&e, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (generate(path, &e) != 0)
            goto out;
    }
    int rc = read_file(path, &text, &len);
    if (rc != 0) {
        errs_add(&e, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    parse_into(&c, text, len, &e);
    apply_env(&c, &e);
    if (e.n)
        goto out;
    if (!*str_or_empty(c.host) && port_of(c.addr) > 0) {
        /* go-fastdfs derives a missing host the same way on every start */
        free(c.host);
        c.host = derive_host(&c);
    }
    validate(&c, &e);
out:
    free(text);
    if (e.n) {
        cfg_fini(&c);
        return ERR_CONFIG;
    }
    *out = c;
    return 0;
}
