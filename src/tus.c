/* The tus 1.0 state machine (no HTTP): an upload's bytes grow in data/tus/<id>.bin and its
 * offset is advanced in the index (b/<id>) only after the bytes are fsync'd, so what HEAD
 * reports after a crash is always on disk. One request at a time holds an upload; while it
 * does, the content digest is kept running so the finish rarely re-reads the file. */
#include "tus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errcode.h"
#include "fileio.h"
#include "log.h"
#include "meta.h"
#include "store.h"
#include "strparse.h"
#include "xalloc.h"

#define SLOTS_MAX 1024           /* idle uploads whose running digest is kept */
#define IO_BUF (256 * 1024)
#define SWEEP_BATCH 1024         /* records looked at per sweep pass */
#define REC_TEXT_MAX (64 * 1024) /* a b/<id> record; the metadata in it is <= 4 KiB */
#define SWEEP_DEFAULT 60

struct slot {
    struct slot *next;
    char id[TUS_ID_LEN + 1];
    bool busy;
    bool drop;          /* forget once released (finished, terminated, expired) */
    struct digest *dg;  /* content digest of the first `hashed` bytes, or NULL */
    uint64_t hashed;
    uint64_t used;      /* LRU tick */
};

struct tus {
    struct tus_cfg cfg;
    char root[1024];
    int dir_fd;         /* data/tus */
    int tmp_fd;         /* data/tmp (the store's temp directory) */
    pthread_mutex_t mu; /* slots */
    struct slot *slots;
    size_t nslots;
    uint64_t tick;
    pthread_mutex_t sw_mu;
    pthread_cond_t sw_cv;
    pthread_t sw_thread;
    bool sw_running, sw_stop;
};

/* ---- header parsers ---- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int tus_base64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    size_t pad = 0;
    if (n > 0 && s[n - 1] == '=')
        pad = (n > 1 && s[n - 2] == '=') ? 2 : 1;
    if (pad && n % 4 != 0)
        return -EINVAL;
    size_t m = n - pad;
    if (m % 4 == 1)
        return -EINVAL;
    size_t need = m / 4 * 3 + (m % 4 ? m % 4 - 1 : 0);
    if (need > cap)
        return -EMSGSIZE;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < m; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *outlen = o;
    return 0;
}

static bool key_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ',';
}

/* Copies a decoded value into a known field: no NUL byte, must fit with its terminator. */
static int take_value(const unsigned char *v, size_t n, char *dst, size_t cap, bool *has)
{
    if (n >= cap || memchr(v, '\0', n))
        return ERR_PARAM;
    memcpy(dst, v, n);
    dst[n] = '\0';
    *has = true;
    return 0;
}

static int meta_pair(const char *k, size_t kl, const char *v, size_t vl, struct tus_meta *out)
{
    unsigned char buf[TUS_META_MAX];
    size_t dl;
    if (tus_base64_decode(v, vl, buf, sizeof buf, &dl) < 0)
        return ERR_PARAM;
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
    if (KEY_IS("filename"))
        return take_value(buf, dl, out->filename, sizeof out->filename, &out->has_filename);
    if (KEY_IS("scene"))
        return take_value(buf, dl, out->scene, sizeof out->scene, &out->has_scene);
    if (KEY_IS("path"))
        return take_value(buf, dl, out->path, sizeof out->path, &out->has_path);
    if (KEY_IS("auth_token"))
        return take_value(buf, dl, out->auth_token, sizeof out->auth_token,
                          &out->has_auth_token);
    if (KEY_IS("ttl"))
        return take_value(buf, dl, out->ttl, sizeof out->ttl, &out->has_ttl);
#undef KEY_IS
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int meta_parse(const char *s, size_t n, struct tus_meta *out)
{
    size_t kstart[TUS_META_PAIRS_MAX], klen[TUS_META_PAIRS_MAX];
    if (n > TUS_META_MAX)
        return ERR_PARAM;
    size_t i = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && s[e] != ',')
            e++;
        size_t a = i, b = e;
        while (a < b && is_blank(s[a]))
            a++;
        while (b > a && is_blank(s[b - 1]))
            b--;
        if (a < b) {
            size_t sp = a;
            while (sp < b && s[sp] != ' ')
                sp++;
            size_t kl = sp - a;
            const char *v = sp < b ? s + sp + 1 : s + b;
            size_t vl = sp < b ? b - sp - 1 : 0;
            if (kl == 0 || kl > TUS_META_KEY_MAX || out->npairs >= TUS_META_PAIRS_MAX)
                return ERR_PARAM;
            for (size_t j = 0; j < kl; j++)
                if (!key_char_ok((unsigned char)s[a + j]))
                    return ERR_PARAM;
            for (size_t j = 0; j < out->npairs; j++)
                if (klen[j] == kl && memcmp(s + kstart[j], s + a, kl) == 0)
                    return ERR_PARAM;
            kstart[out->npairs] = a;
            klen[out->npairs] = kl;
            out->npairs++;
            int rc = meta_pair(s + a, kl, v, vl, out);
            if (rc)
                return rc;
        }
        i = e + 1;
    }
    return 0;
}

int tus_meta_parse(const char *s, size_t n, struct tus_meta *out)
{
    memset(out, 0, sizeof *out);
    int rc = meta_parse(s ? s : "", s ? n : 0, out);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int tus_checksum_parse(const char *hdr, enum digest_algo *algo, unsigned char sum[TUS_SUM_MAX],
                       size_t *sumlen)
{
    const char *sp = strchr(hdr, ' ');
    if (!sp || sp == hdr)
        return ERR_PARAM;
    size_t al = (size_t)(sp - hdr);
    size_t want;
    if (al == 3 && strncasecmp(hdr, "md5", 3) == 0) {
        *algo = DIGEST_MD5;
        want = 16;
    } else if (al == 4 && strncasecmp(hdr, "sha1", 4) == 0) {
        *algo = DIGEST_SHA1;
        want = 20;
    } else {
        for (size_t i = 0; i < al; i++)
            if (!key_char_ok((unsigned char)hdr[i]))
                return ERR_PARAM;
        return -ENOTSUP;
    }
    unsigned char buf[64];
    size_t dl;
    const char *b = sp + 1;
    size_t bl = strlen(b);
    if (bl > 88 || tus_base64_decode(b, bl, buf, sizeof buf, &dl) < 0 || dl != want)
        return ERR_PARAM;
    memcpy(sum, buf, dl);
    *sumlen = dl;
    return 0;
}

int tus_concat_parse(const char *hdr, enum tus_concat *kind, char (*ids)[TUS_ID_LEN + 1],
                     size_t max, size_t *nids)
{
    *nids = 0;
    if (strcmp(hdr, "partial") == 0) {
        *kind = TUS_CONCAT_PARTIAL;
        return 0;
    }
    if (strncmp(hdr, "final;", 6) != 0)
        return ERR_PARAM;
    const char *p = hdr + 6;
    size_t n = 0;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        const char *last = e;
        while (last > p && last[-1] != '/')
            last--;
        size_t il = (size_t)(e - last);
        if (n >= max || il != TUS_ID_LEN)
            return ERR_PARAM;
        memcpy(ids[n], last, il);
        ids[n][il] = '\0';
        if (!tus_id_valid(ids[n]))
            return ERR_PARAM;
        n++;
        p = e;
    }
    if (n == 0)
        return ERR_PARAM;
    *kind = TUS_CONCAT_FINAL;
    *nids = n;
    return 0;
}

bool tus_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i] && i <= TUS_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == TUS_ID_LEN;
}

/* ---- records (b/<id>) ---- */

static int64_t now_of(const struct tus *t)
{
    return t->cfg.now ? t->cfg.now() : (int64_t)time(NULL);
}

static void rec_key(const char *id, char out[48])
{
    snprintf(out, 48, "b/%s", id);
}

static void bin_name(const char *id, char out[48])
{
    snprintf(out, 48, "%s.bin", id);
}

static char *rec_text(const struct tus_info *i, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "len", json_integer(i->length));
    json_object_set_new(o, "off", json_integer((json_int_t)i->offset));
    json_object_set_new(o, "created", json_integer(i->created));
    json_object_set_new(o, "expires", json_integer(i->expires));
    json_object_set_new(o, "concat", json_integer((json_int_t)i->concat));
    json_object_set_new(o, "gone", json_boolean(i->gone));
    json_object_set_new(o, "meta", json_string(i->metadata));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return NULL;
    *len = strlen(s);
    return s;
}

static int rec_parse(const char *id, const char *v, size_t vl, struct tus_info *out)
{
    memset(out, 0, sizeof *out);
    if (vl > REC_TEXT_MAX)
        return ERR_CORRUPT;
    json_t *o = json_loadb(v, vl, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return ERR_CORRUPT;
    }
    json_t *len = json_object_get(o, "len"), *off = json_object_get(o, "off");
    json_t *cr = json_object_get(o, "created"), *ex = json_object_get(o, "expires");
    json_t *cc = json_object_get(o, "concat"), *gone = json_object_get(o, "gone");
    json_t *meta = json_object_get(o, "meta");
    int rc = 0;
    if (!json_is_integer(len) || !json_is_integer(off) || !json_is_integer(cr) ||
        !json_is_integer(ex) || !json_is_integer(cc) || !json_is_boolean(gone) ||
        !json_is_string(meta) || json_string_length(meta) > TUS_META_MAX ||
        json_integer_value(len) < -1 || json_integer_value(off) < 0 ||
        json_integer_value(cc) < TUS_CONCAT_NONE || json_integer_value(cc) > TUS_CONCAT_FINAL ||
        (json_integer_value(len) >= 0 && json_integer_value(off) > json_integer_value(len))) {
        rc = ERR_CORRUPT;
    } else {
        snprintf(out->id, sizeof out->id, "%s", id);
        out->length = json_integer_value(len);
        out->offset = (uint64_t)json_integer_value(off);
        out->created = json_integer_value(cr);
        out->expires = json_integer_value(ex);
        out->concat = (enum tus_concat)json_integer_value(cc);
        out->gone = json_is_true(gone);
        memcpy(out->metadata, json_string_value(meta), json_string_length(meta) + 1);
    }
    json_decref(o);
    return rc;
}

static int rec_load(struct tus *t, const char *id, struct tus_info *out)
{
    char k[48], *v = NULL;
    size_t vl;
    rec_key(id, k);
    int rc = meta_kv_get(t->cfg.meta, k, &v, &vl);
    if (rc)
        return rc;
    rc = rec_parse(id, v, vl, out);
    free(v);
    if (rc)
        log_warn("tus", "record of upload %s is corrupt", id);
    return rc;
}

static int rec_store(struct tus *t, const struct tus_info *i)
{
    struct meta_kv kv = {.val = NULL};
    rec_key(i->id, kv.key);
    kv.val = rec_text(i, &kv.vlen);
    if (!kv.val)
        return -ENOMEM;
    int rc = meta_write(t->cfg.meta, NULL, false, &kv, 1);
    free(kv.val);
    return rc;
}

int tus_get(struct tus *t, const char *id, struct tus_info *out)
{
    if (!tus_id_valid(id))
        return -ENOENT;
    int rc = rec_load(t, id, out);
    if (rc)
        return rc;
    if (out->gone || now_of(t) > out->expires)
        return ERR_DELETED;
    return 0;
}

int tus_done_pathkey(struct tus *t, const char *id, char pathkey[DIGEST_HEX_MAX])
{
    if (!tus_id_valid(id))
        return -ENOENT;
    char k[48], *v = NULL;
    size_t vl;
    snprintf(k, sizeof k, "u/%s", id);
    int rc = meta_kv_get(t->cfg.meta, k, &v, &vl);
    if (rc)
        return rc;
    if (vl != 32) {
        free(v);
        return ERR_CORRUPT;
    }
    memcpy(pathkey, v, vl);
    pathkey[vl] = '\0';
    free(v);
    return strparse_is_hex(pathkey, 32) ? 0 : ERR_CORRUPT;
}

bool tus_info_complete(const struct tus_info *info)
{
    return !info->gone && info->concat != TUS_CONCAT_PARTIAL && info->length >= 0 &&
           info->offset == (uint64_t)info->length;
}

/* ---- slots: who holds an upload, and its running digest ---- */

static struct slot *slot_find(struct tus *t, const char *id)
{
    for (struct slot *s = t->slots; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static void slot_unlink(struct tus *t, struct slot *s)
{
    for (struct slot **pp = &t->slots; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            t->nslots--;
            break;
        }
    if (s->dg)
        digest_free(s->dg);
    free(s);
}

static void slot_evict(struct tus *t)
{
    struct slot *victim = NULL;
    for (struct slot *s = t->slots; s; s = s->next)
        if (!s->busy && (!victim || s->used < victim->used))
            victim = s;
    if (victim)
        slot_unlink(t, victim);
}

int tus_acquire(struct tus *t, const char *id)
{
    if (!tus_id_valid(id))
        return -ENOENT;
    pthread_mutex_lock(&t->mu);
    struct slot *s = slot_find(t, id);
    int rc = 0;
    if (s && s->busy) {
        rc = -EBUSY;
    } else {
        if (!s) {
            if (t->nslots >= SLOTS_MAX)
                slot_evict(t);
            s = xcalloc(1, sizeof *s);
            memcpy(s->id, id, TUS_ID_LEN + 1);
            s->next = t->slots;
            t->slots = s;
            t->nslots++;
        }
        s->busy = true;
        s->drop = false;
        s->used = ++t->tick;
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void tus_release(struct tus *t, const char *id)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = slot_find(t, id);
    if (s) {
        s->busy = false;
        if (s->drop)
            slot_unlink(t, s);
    }
    pthread_mutex_unlock(&t->mu);
}

/* The slot of a held upload: only its holder touches dg/hashed, so no lock is needed. */
static struct slot *held(struct tus *t, const char *id)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = slot_find(t, id);
    pthread_mutex_unlock(&t->mu);
    return (s && s->busy) ? s : NULL;
}

static void slot_forget_digest(struct slot *s)
{
    if (s && s->dg) {
        digest_free(s->dg);
        s->dg = NULL;
    }
}

/* ---- creation ---- */

static int fsync_fd(int fd)
{
    return fsync(fd) < 0 ? -errno : 0;
}

/* A fresh id with an empty, durably named data file; returns its fd. */
static int new_bin(struct tus *t, char id[TUS_ID_LEN + 1], int *fd)
{
    for (int tries = 0; tries < 8; tries++) {
        unsigned char rnd[16];
        if (digest_random(rnd, sizeof rnd) < 0)
            return -EIO;
        for (size_t i = 0; i < sizeof rnd; i++)
            snprintf(id + 2 * i, 3, "%02x", rnd[i]);
        char name[48], k[48], *v = NULL;
        size_t vl;
        rec_key(id, k);
        if (meta_kv_get(t->cfg.meta, k, &v, &vl) == 0) {
            free(v); /* a tombstone may still carry this id */
            continue;
        }
        snprintf(k, sizeof k, "u/%s", id);
        if (meta_kv_get(t->cfg.meta, k, &v, &vl) == 0) {
            free(v); /* and a finished upload keeps its id for good */
            continue;
        }
        bin_name(id, name);
        int f = openat(t->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (f < 0) {
            if (errno == EEXIST)
                continue;
            return -errno;
        }
        int rc = fsync_fd(t->dir_fd);
        if (rc < 0) {
            close(f);
            unlinkat(t->dir_fd, name, 0);
            return rc;
        }
        *fd = f;
        return 0;
    }
    return -EEXIST;
}

static int check_new(struct tus *t, int64_t length, const char *metadata)
{
    struct tus_meta m;
    if (length < -1)
        return ERR_PARAM;
    if (length >= 0 && t->cfg.max_size && (uint64_t)length > t->cfg.max_size)
        return ERR_TOOBIG;
    if (!metadata)
        return 0;
    return tus_meta_parse(metadata, strlen(metadata), &m);
}

static void info_init(struct tus *t, struct tus_info *i, const char *id, int64_t length,
                      const char *metadata, enum tus_concat kind)
{
    memset(i, 0, sizeof *i);
    memcpy(i->id, id, TUS_ID_LEN + 1);
    i->length = length;
    i->created = now_of(t);
    i->expires = i->created + t->cfg.expire_s;
    i->concat = kind;
    snprintf(i->metadata, sizeof i->metadata, "%s", metadata ? metadata : "");
}

int tus_create(struct tus *t, int64_t length, const char *metadata, enum tus_concat kind,
               struct tus_info *out)
{
    int rc = check_new(t, length, metadata);
    if (rc)
        return rc;
    if (kind == TUS_CONCAT_FINAL)
        return ERR_PARAM; /* finals are made by tus_concat_final */
    char id[TUS_ID_LEN + 1], name[48];
    int fd;
    if ((rc = new_bin(t, id, &fd)) < 0)
        return rc;
    close(fd);
    bin_name(id, name);
    if ((rc = tus_acquire(t, id)) < 0) {
        unlinkat(t->dir_fd, name, 0);
        return rc;
    }
    info_init(t, out, id, length, metadata, kind);
    if ((rc = rec_store(t, out)) < 0) {
        unlinkat(t->dir_fd, name, 0);
        tus_release(t, id);
        return rc;
    }
    struct slot *s = held(t, id);
    if (s) {
        s->dg = digest_new(t->cfg.algo);
        s->hashed = 0;
    }
    return 0;
}

/* ---- termination and expiry ---- */

/* The bytes go, a tombstone answering 410 stays for one more expiry period. */
static int bury(struct tus *t, struct tus_info *i)
{
    char name[48];
    i->gone = true;
    i->expires = now_of(t) + t->cfg.expire_s;
    int rc = rec_store(t, i);
    if (rc)
        return rc;
    bin_name(i->id, name);
    if (unlinkat(t->dir_fd, name, 0) < 0 && errno != ENOENT)
        log_warn("tus", "cannot remove data of upload %s: %s", i->id, strerror(errno));
    return 0;
}

static void mark_drop(struct tus *t, const char *id)
{
    pthread_mutex_lock(&t->mu);
    struct slot *s = slot_find(t, id);
    if (s)
        s->drop = true;
    pthread_mutex_unlock(&t->mu);
}

int tus_terminate(struct tus *t, const char *id)
{
    struct tus_info i;
    if (!tus_id_valid(id))
        return -ENOENT;
    int rc = rec_load(t, id, &i);
    if (rc)
        return rc;
    if (i.gone)
        return ERR_DELETED;
    bool expired = now_of(t) > i.expires;
    if ((rc = bury(t, &i)) < 0)
        return rc;
    mark_drop(t, id);
    return expired ? ERR_DELETED : 0;
}

struct sweep_ctx {
    char (*ids)[TUS_ID_LEN + 1];
    size_t n;
    int64_t now;
};

static int sweep_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct sweep_ctx *c = ctx;
    struct tus_info i;
    char id[TUS_ID_LEN + 1];
    if (kl != 2 + TUS_ID_LEN)
        return 0;
    memcpy(id, k + 2, TUS_ID_LEN);
    id[TUS_ID_LEN] = '\0';
    if (rec_parse(id, v, vl, &i) == 0 && c->now > i.expires)
        memcpy(c->ids[c->n++], id, sizeof id);
    return c->n >= SWEEP_BATCH ? 1 : 0;
}

int tus_sweep(struct tus *t)
{
    struct sweep_ctx c = {xcalloc(SWEEP_BATCH, sizeof *c.ids), 0, now_of(t)};
    int rc = meta_kv_scan(t->cfg.meta, "b/", sweep_cb, &c);
    int changed = 0;
    for (size_t j = 0; rc >= 0 && j < c.n; j++) {
        struct tus_info i;
        const char *id = c.ids[j];
        if (tus_acquire(t, id) < 0)
            continue; /* in use: not idle after all */
        if (rec_load(t, id, &i) == 0 && now_of(t) > i.expires) {
            if (i.gone) {
                struct meta_kv kv = {.val = NULL};
                rec_key(id, kv.key);
                if (meta_write(t->cfg.meta, NULL, false, &kv, 1) == 0)
                    changed++;
            } else if (bury(t, &i) == 0) {
                log_info("tus", "upload %s expired at offset %llu", id,
                         (unsigned long long)i.offset);
                changed++;
            }
            mark_drop(t, id);
        }
        tus_release(t, id);
    }
    free(c.ids);
    return rc < 0 ? rc : changed;
}

static void *sweeper_main(void *arg)
{
    struct tus *t = arg;
    pthread_mutex_lock(&t->sw_mu);
    while (!t->sw_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += t->cfg.sweep_s;
        pthread_cond_timedwait(&t->sw_cv, &t->sw_mu, &ts);
        if (t->sw_stop)
            break;
        pthread_mutex_unlock(&t->sw_mu);
        int rc = tus_sweep(t);
        if (rc < 0)
            log_warn("tus", "sweep failed: %s", errcode_str(rc));
        pthread_mutex_lock(&t->sw_mu);
    }
    pthread_mutex_unlock(&t->sw_mu);
    return NULL;
}

int tus_sweeper_start(struct tus *t)
{
    if (t->sw_running)
        return 0;
    t->sw_stop = false;
    int e = pthread_create(&t->sw_thread, NULL, sweeper_main, t);
    if (e)
        return -e;
    t->sw_running = true;
    return 0;
}

void tus_sweeper_stop(struct tus *t)
{
    if (!t->sw_running)
        return;
    pthread_mutex_lock(&t->sw_mu);
    t->sw_stop = true;
    pthread_cond_broadcast(&t->sw_cv);
    pthread_mutex_unlock(&t->sw_mu);
    pthread_join(t->sw_thread, NULL);
    t->sw_running = false;
}

/* ---- chunks ---- */

struct tus_chunk {
    struct tus *t;
    struct slot *s;
    struct tus_info info;
    struct tus_chunk_args a;
    int fd;
    uint64_t start, pos, limit;
    struct digest *sumdg;
    bool hash_live; /* the running content digest follows this chunk */
    bool failed, committed;
};

int tus_chunk_begin(struct tus *t, const char *id, const struct tus_chunk_args *a,
                    struct tus_chunk **out)
{
    struct slot *s = held(t, id);
    if (!s)
        return -EINVAL;
    struct tus_info i;
    int rc = tus_get(t, id, &i);
    if (rc)
        return rc;
    if (i.concat == TUS_CONCAT_FINAL)
        return ERR_FORBIDDEN; /* a final upload is complete at creation */
    if (a->offset != i.offset)
        return ERR_CONFLICT;
    if (a->length >= 0) {
        if ((i.length >= 0 && a->length != i.length) || (uint64_t)a->length < i.offset)
            return ERR_PARAM;
        if (t->cfg.max_size && (uint64_t)a->length > t->cfg.max_size)
            return ERR_TOOBIG;
        i.length = a->length;
    }
    char name[48];
    bin_name(id, name);
    int fd = openat(t->dir_fd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        log_error("tus", "data of upload %s is missing: %s", id, strerror(errno));
        return ERR_CORRUPT;
    }
    /* bytes past the durable offset are what a crash or a refused chunk left behind */
    if (ftruncate(fd, (off_t)i.offset) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    struct tus_chunk *c = xcalloc(1, sizeof *c);
    c->t = t;
    c->s = s;
    c->info = i;
    c->a = *a;
    c->fd = fd;
    c->start = c->pos = i.offset;
    c->limit = i.length >= 0 ? (uint64_t)i.length
                             : (t->cfg.max_size ? t->cfg.max_size : UINT64_MAX);
    if (a->has_sum && !(c->sumdg = digest_new(a->sum_algo))) {
        close(fd);
        free(c);
        return -EIO;
    }
    if (!s->dg && i.offset == 0) {
        s->dg = digest_new(t->cfg.algo);
        s->hashed = 0;
    }
    if (s->dg && s->hashed != i.offset)
        slot_forget_digest(s);
    c->hash_live = !a->has_sum && s->dg;
    *out = c;
    return 0;
}

int tus_chunk_write(struct tus_chunk *c, const void *p, size_t n)
{
    if (c->failed || c->committed)
        return -EINVAL;
    if (n > c->limit - c->pos)
        return ERR_TOOBIG;
    int rc = fileio_pwrite_all(c->fd, p, n, c->pos);
    if (rc < 0) {
        c->failed = true;
        if (c->hash_live)
            slot_forget_digest(c->s);
        return rc;
    }
    if (c->sumdg)
        digest_update(c->sumdg, p, n);
    if (c->hash_live) {
        digest_update(c->s->dg, p, n);
        c->s->hashed += n;
    }
    c->pos += n;
    return 0;
}

uint64_t tus_chunk_room(const struct tus_chunk *c)
{
    return c->limit - c->pos;
}

/* Feeds [from, to) of the data file into the running digest (after a verified chunk). */
static int hash_range(int fd, struct digest *dg, uint64_t from, uint64_t to)
{
    char *buf = xmalloc(IO_BUF);
    int rc = 0;
    while (from < to) {
        size_t want = (to - from) < IO_BUF ? (size_t)(to - from) : IO_BUF;
        ssize_t r = pread(fd, buf, want, (off_t)from);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            break;
        }
        digest_update(dg, buf, (size_t)r);
        from += (uint64_t)r;
    }
    free(buf);
    return rc;
}

static void discard(struct tus_chunk *c)
{
    if (c->pos > c->start && ftruncate(c->fd, (off_t)c->start) < 0)
        log_warn("tus", "cannot cut refused bytes of %s: %s", c->info.id, strerror(errno));
    if (c->hash_live && c->pos > c->start)
        slot_forget_digest(c->s);
}

/* Makes [start, pos) durable, then the offset that covers it. */
static int advance(struct tus_chunk *c)
{
    if (fdatasync(c->fd) < 0)
        return -errno;
    struct tus_info i = c->info;
    i.offset = c->pos;
    i.expires = now_of(c->t) + c->t->cfg.expire_s;
    int rc = rec_store(c->t, &i);
    if (rc)
        return rc;
    c->info = i;
    return 0;
}

int tus_chunk_commit(struct tus_chunk *c, struct tus_info *out)
{
    if (c->failed || c->committed)
        return -EINVAL;
    int rc;
    if (c->sumdg) {
        char got[DIGEST_HEX_MAX], want[DIGEST_HEX_MAX];
        digest_final_hex(c->sumdg, got);
        digest_free(c->sumdg);
        c->sumdg = NULL;
        for (size_t k = 0; k < c->a.sumlen; k++)
            snprintf(want + 2 * k, 3, "%02x", c->a.sum[k]);
        if (strcmp(got, want) != 0) {
            discard(c);
            c->failed = true;
            return ERR_DIGEST;
        }
    }
    if ((rc = advance(c)) < 0) {
        discard(c);
        c->failed = true;
        return rc;
    }
    c->committed = true;
    /* a verified chunk joins the running digest now (it was kept out until verified) */
    struct slot *s = c->s;
    if (c->a.has_sum && s->dg && s->hashed == c->start) {
        if (hash_range(c->fd, s->dg, c->start, c->pos) == 0)
            s->hashed = c->pos;
        else
            slot_forget_digest(s);
    }
    *out = c->info;
    return 0;
}

void tus_chunk_end(struct tus_chunk *c)
{
    if (!c)
        return;
    if (!c->committed && !c->failed) {
        /* the body was cut short: keep what arrived unless it cannot be verified */
        if (c->a.has_sum || c->pos == c->start) {
            discard(c);
        } else if (advance(c) < 0) {
            discard(c);
        } else {
            log_info("tus", "upload %s: kept %llu bytes of an interrupted chunk", c->info.id,
                     (unsigned long long)(c->pos - c->start));
        }
    }
    if (c->sumdg)
        digest_free(c->sumdg);
    close(c->fd);
    free(c);
}

/* ---- concatenation ---- */

static int copy_part(struct tus *t, const char *id, int dst, uint64_t *at, uint64_t len,
                     struct digest *dg, char *buf)
{
    char name[48];
    bin_name(id, name);
    int fd = openat(t->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ERR_CORRUPT;
    uint64_t done = 0;
    int rc = 0;
    while (done < len) {
        size_t want = (len - done) < IO_BUF ? (size_t)(len - done) : IO_BUF;
        ssize_t r = pread(fd, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : ERR_CORRUPT;
            break;
        }
        if ((rc = fileio_pwrite_all(dst, buf, (size_t)r, *at)) < 0)
            break;
        *at += (uint64_t)r;
        if (dg)
            digest_update(dg, buf, (size_t)r);
        done += (uint64_t)r;
    }
    close(fd);
    return rc;
}

static void release_all(struct tus *t, char (*ids)[TUS_ID_LEN + 1], size_t n)
{
    for (size_t j = 0; j < n; j++)
        tus_release(t, ids[j]);
}

/* Checks every (held) part and sums their lengths. */
static int check_parts(struct tus *t, char (*ids)[TUS_ID_LEN + 1], size_t n, uint64_t *total)
{
    *total = 0;
    for (size_t j = 0; j < n; j++) {
        struct tus_info i;
        int rc = tus_get(t, ids[j], &i);
        if (rc)
            return rc;
        if (i.concat != TUS_CONCAT_PARTIAL || i.length < 0 || i.offset != (uint64_t)i.length)
            return ERR_PARAM;
        if ((uint64_t)i.length > UINT64_MAX / 2 - *total)
            return ERR_TOOBIG;
        *total += (uint64_t)i.length;
    }
    if (*total > (uint64_t)INT64_MAX || (t->cfg.max_size && *total > t->cfg.max_size))
        return ERR_TOOBIG;
    return *total == 0 ? ERR_EMPTY : 0;
}

int tus_concat_final(struct tus *t, char (*ids)[TUS_ID_LEN + 1], size_t n,
                     const char *metadata, struct tus_info *out)
{
    if (n == 0 || n > TUS_PARTS_MAX)
        return ERR_PARAM;
    for (size_t j = 0; j < n; j++) {
        if (!tus_id_valid(ids[j]))
            return -ENOENT;
        for (size_t k = 0; k < j; k++)
            if (strcmp(ids[j], ids[k]) == 0)
                return ERR_PARAM;
    }
    int rc = check_new(t, 0, metadata);
    if (rc)
        return rc;
    for (size_t j = 0; j < n; j++)
        if ((rc = tus_acquire(t, ids[j])) < 0) {
            release_all(t, ids, j);
            return rc;
        }
    uint64_t total = 0;
    char id[TUS_ID_LEN + 1], name[48];
    int fd = -1;
    struct digest *dg = NULL;
    struct meta_kv *kv = NULL;
    char *buf = NULL;
    if ((rc = check_parts(t, ids, n, &total)) < 0 || (rc = new_bin(t, id, &fd)) < 0)
        goto fail;
    bin_name(id, name);
    dg = digest_new(t->cfg.algo);
    buf = xmalloc(IO_BUF);
    uint64_t at = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        struct tus_info i;
        if ((rc = tus_get(t, ids[j], &i)) == 0)
            rc = copy_part(t, ids[j], fd, &at, (uint64_t)i.length, dg, buf);
    }
    if (rc == 0 && at != total)
        rc = ERR_CORRUPT;
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    if (rc < 0)
        goto fail_bin;
    info_init(t, out, id, (int64_t)total, metadata, TUS_CONCAT_FINAL);
    out->offset = total;
    /* the final record and the removal of its parts become durable together */
    kv = xcalloc(n + 1, sizeof *kv);
    rec_key(id, kv[0].key);
    kv[0].val = rec_text(out, &kv[0].vlen);
    for (size_t j = 0; j < n; j++)
        rec_key(ids[j], kv[j + 1].key);
    rc = kv[0].val ? meta_write(t->cfg.meta, NULL, false, kv, n + 1) : -ENOMEM;
    free(kv[0].val);
    free(kv);
    if (rc < 0)
        goto fail_bin;
    for (size_t j = 0; j < n; j++) {
        char pn[48];
        bin_name(ids[j], pn);
        unlinkat(t->dir_fd, pn, 0);
        mark_drop(t, ids[j]);
    }
    release_all(t, ids, n);
    close(fd);
    free(buf);
    if ((rc = tus_acquire(t, id)) < 0) {
        digest_free(dg);
        return rc;
    }
    struct slot *s = held(t, id);
    if (s && dg) {
        s->dg = dg;
        s->hashed = total;
    } else if (dg) {
        digest_free(dg);
    }
    return 0;
fail_bin:
    close(fd);
    unlinkat(t->dir_fd, name, 0);
fail:
    if (dg)
        digest_free(dg);
    free(buf);
    release_all(t, ids, n);
    return rc;
}

/* ---- finishing ---- */

int tus_finish_prepare(struct tus *t, const char *id, struct store_tmp *tmp,
                       char digest[DIGEST_HEX_MAX])
{
    struct slot *s = held(t, id);
    store_tmp_init(tmp);
    if (!s)
        return -EINVAL;
    struct tus_info i;
    int rc = tus_get(t, id, &i);
    if (rc)
        return rc;
    if (!tus_info_complete(&i))
        return ERR_PARAM;
    char name[48], tname[sizeof tmp->name];
    bin_name(id, name);
    snprintf(tname, sizeof tname, "tus-%s", id);
    /* a hard link: the upload keeps its bytes until its record says it is finished */
    if (unlinkat(t->tmp_fd, tname, 0) < 0 && errno != ENOENT)
        return -errno;
    if (linkat(t->dir_fd, name, t->tmp_fd, tname, 0) < 0)
        return errno == ENOENT ? ERR_CORRUPT : -errno;
    int fd = openat(t->tmp_fd, tname, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != (uint64_t)i.length) {
        rc = fd < 0 ? -errno : ERR_CORRUPT;
        if (fd >= 0)
            close(fd);
        unlinkat(t->tmp_fd, tname, 0);
        return rc;
    }
    tmp->fd = fd;
    memcpy(tmp->name, tname, sizeof tname);
    tmp->size = (uint64_t)i.length;
    if (s->dg && s->hashed == (uint64_t)i.length) {
        digest_final_hex(s->dg, digest);
        digest_free(s->dg);
        s->dg = NULL;
        return 0;
    }
    /* no running digest (restart, eviction): read the bytes once more */
    slot_forget_digest(s);
    struct digest *dg = digest_new(t->cfg.algo);
    if (!dg)
        return -EIO;
    rc = hash_range(fd, dg, 0, (uint64_t)i.length);
    if (rc == 0)
        digest_final_hex(dg, digest);
    digest_free(dg);
    return rc;
}

int tus_finish_done(struct tus *t, const char *id, const char *pathkey)
{
    if (!held(t, id) || strlen(pathkey) != 32)
        return -EINVAL;
    struct meta_kv kv[2];
    memset(kv, 0, sizeof kv);
    snprintf(kv[0].key, sizeof kv[0].key, "u/%s", id);
    kv[0].val = (char *)(uintptr_t)pathkey;
    kv[0].vlen = 32;
    rec_key(id, kv[1].key);
    int rc = meta_write(t->cfg.meta, NULL, false, kv, 2);
    if (rc)
        return rc;
    char name[48];
    bin_name(id, name);
    unlinkat(t->dir_fd, name, 0);
    mark_drop(t, id);
    return 0;
}

struct scan_ctx {
    char (*ids)[TUS_ID_LEN + 1];
    size_t n, cap;
};

static int complete_cb(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    struct scan_ctx *c = ctx;
    struct tus_info i;
    char id[TUS_ID_LEN + 1];
    if (kl != 2 + TUS_ID_LEN)
        return 0;
    memcpy(id, k + 2, TUS_ID_LEN);
    id[TUS_ID_LEN] = '\0';
    if (rec_parse(id, v, vl, &i) != 0 || !tus_info_complete(&i))
        return 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->ids = xrealloc(c->ids, c->cap * sizeof *c->ids);
    }
    memcpy(c->ids[c->n++], id, sizeof id);
    return 0;
}

int tus_scan_complete(struct tus *t, int (*cb)(void *ctx, const char *id), void *ctx)
{
    struct scan_ctx c = {NULL, 0, 0};
    int rc = meta_kv_scan(t->cfg.meta, "b/", complete_cb, &c);
    for (size_t j = 0; rc >= 0 && j < c.n; j++)
        rc = cb(ctx, c.ids[j]);
    free(c.ids);
    return rc;
}

/* ---- life cycle ---- */

static int open_dir(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Data files no live upload owns: a crash between writing and recording, or between the
 * record's removal and the unlink. Only safe before any request runs. */
static void remove_orphans(struct tus *t)
{
    int dfd = dup(t->dir_fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    rewinddir(d);
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(d))) {
        char id[TUS_ID_LEN + 1];
        struct tus_info i;
        size_t l = strlen(e->d_name);
        if (l != TUS_ID_LEN + 4 || strcmp(e->d_name + TUS_ID_LEN, ".bin") != 0)
            continue;
        memcpy(id, e->d_name, TUS_ID_LEN);
        id[TUS_ID_LEN] = '\0';
        if (!tus_id_valid(id))
            continue;
        int rc = rec_load(t, id, &i);
        if ((rc == -ENOENT || (rc == 0 && i.gone)) && unlinkat(t->dir_fd, e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    if (removed)
        log_info("tus", "removed %d data files of finished or abandoned uploads", removed);
}

int tus_open(const struct tus_cfg *cfg, struct tus **out)
{
    char p[1200];
    const char *r = (cfg->root && *cfg->root) ? cfg->root : ".";
    if (!cfg->meta || strlen(r) >= sizeof ((struct tus *)0)->root)
        return -EINVAL;
    struct tus *t = xcalloc(1, sizeof *t);
    t->cfg = *cfg;
    snprintf(t->root, sizeof t->root, "%s", r);
    t->cfg.root = t->root;
    if (t->cfg.expire_s <= 0)
        t->cfg.expire_s = TUS_EXPIRE_DEFAULT;
    if (t->cfg.sweep_s <= 0)
        t->cfg.sweep_s = SWEEP_DEFAULT;
    t->dir_fd = t->tmp_fd = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->sw_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->sw_cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc;
    snprintf(p, sizeof p, "%s/data", r);
    if (mkdir(p, 0775) < 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    snprintf(p, sizeof p, "%s/data/tus", r);
    if ((rc = open_dir(p)) < 0)
        goto fail;
    t->dir_fd = rc;
    snprintf(p, sizeof p, "%s/data/tmp", r);
    if ((rc = open_dir(p)) < 0)
        goto fail;
    t->tmp_fd = rc;
    remove_orphans(t);
    *out = t;
    return 0;
fail:
    log_error("tus", "cannot open %s: %s", p, strerror(-rc));
    tus_close(t);
    return rc;
}

void tus_close(struct tus *t)
{
    if (!t)
        return;
    tus_sweeper_stop(t);
    while (t->slots)
        slot_unlink(t, t->slots);
    if (t->dir_fd >= 0)
        close(t->dir_fd);
    if (t->tmp_fd >= 0)
        close(t->tmp_fd);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->sw_mu);
    pthread_cond_destroy(&t->sw_cv);
    free(t);
}
