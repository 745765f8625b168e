/* GET/HEAD /<group>/<path>: serves stored files. The raw URL is decoded and confined to
 * files/ (no "..", NUL, backslash; symlinks cannot lead out), then answered with ETag and
 * Last-Modified (304), a single Range (206/416), a Content-Type by extension and an RFC 6266
 * Content-Disposition. Small files go out from a buffer, the rest by sendfile. */
#include "api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "content.h"
#include "errcode.h"
#include "filecache.h"
#include "fileinfo.h"
#include "http_range.h"
#include "image.h"
#include "http_reply.h"
#include "meta.h"
#include "path.h"
#include "server.h"
#include "store.h"
#include "strparse.h"
#include "sync.h"
#include "thumbs.h"
#include "web_assets.h"
#include "xalloc.h"

#define SMALL_FILE_MAX (64 * 1024) /* measured faster from a buffer than by sendfile */
#define LISTING_MAX (4 * 1024 * 1024)
#define LISTING_ENTRIES_MAX 10000

static const struct {
    const char *ext;
    const char *type;
} mime_types[] = {
    {".txt", "text/plain; charset=utf-8"}, {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"}, {".json", "application/json"},
    {".xml", "application/xml"}, {".csv", "text/csv; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"}, {".gif", "image/gif"}, {".webp", "image/webp"},
    {".svg", "image/svg+xml"}, {".ico", "image/x-icon"}, {".bmp", "image/bmp"},
    {".pdf", "application/pdf"}, {".zip", "application/zip"}, {".gz", "application/gzip"},
    {".tar", "application/x-tar"}, {".mp4", "video/mp4"}, {".webm", "video/webm"},
    {".mp3", "audio/mpeg"}, {".wav", "audio/wav"}, {".ogg", "audio/ogg"},
    {".woff", "font/woff"}, {".woff2", "font/woff2"}, {".wasm", "application/wasm"},
    {".doc", "application/msword"}, {".xls", "application/vnd.ms-excel"},
    {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
};

static const char *mime_of(const char *name)
{
    char ext[32];
    path_extension(name, ext, sizeof ext);
    for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
        if (strcmp(ext, mime_types[i].ext) == 0)
            return mime_types[i].type;
    return "application/octet-stream";
}

static void http_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Parses an IMF-fixdate; returns -1 when it is not one. */
static time_t parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return (time_t)-1;
    return timegm(&tm);
}

/* Does the If-None-Match list contain our tag (or "*")? */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, el) == 0 && (p[el] == '\0' || p[el] == ',' || p[el] == ' '))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

/* Content-Disposition per RFC 6266: an ASCII fallback and the UTF-8 name in filename*. */
static void set_disposition(struct http_reply *rep, const char *kind, const char *name)
{
    if (!name || !*name) {
        http_reply_header(rep, "Content-Disposition", kind);
        return;
    }
    char ascii[PATH_MAX_NAME + 1], enc[PATH_MAX_NAME * 3 + 1];
    size_t j = 0;
    for (size_t i = 0; name[i] && j < sizeof ascii - 1; i++) {
        unsigned char c = (unsigned char)name[i];
        ascii[j++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '_' : (char)c;
    }
    ascii[j] = '\0';
    if (strparse_pct_encode(name, false, enc, sizeof enc) < 0)
        enc[0] = '\0';
    http_reply_headerf(rep, "Content-Disposition", "%s; filename=\"%s\"; filename*=UTF-8''%s",
                       kind, ascii, enc);
}

/* The name a downloader should see: ?name= (upload answers put the original name there,
 * as go-fastdfs does), else the on-disk name. No index lookup: this runs on every
 * download when default_download is on. */
static void download_name(struct http_req *req, const char *rel, char *out, size_t cap)
{
    const char *q = http_req_arg(req, "name");
    snprintf(out, cap, "%s", path_basename(q && *q ? q : rel));
}

/* HTML-escapes s into out (always NUL-terminated, cut at a character boundary). */
static void html_escape(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (const char *c = s; *c; c++) {
        const char *r = *c == '<' ? "&lt;" : *c == '>' ? "&gt;" : *c == '&' ? "&amp;"
                      : *c == '"' ? "&quot;" : *c == '\'' ? "&#39;" : NULL;
        size_t l = r ? strlen(r) : 1;
        if (j + l + 1 > cap)
            break;
        if (r)
            memcpy(out + j, r, l);
        else
            out[j] = *c;
        j += l;
    }
    out[j] = '\0';
}

static int list_dir(struct server *srv, struct http_req *req, struct http_reply *rep, int fd,
                    const char *rel)
{
    /* volume files are not files of anyone's: no listing of them */
    if (!srv->cfg.show_dir || content_in_haystack(rel)) {
        close(fd);
        snprintf(req->errmsg, sizeof req->errmsg, "list dir deny");
        return ERR_DIRDENY;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct buf b;
    buf_init(&b, LISTING_MAX);
    /* the path is a client's: escape it like every name below, or a directory named with
     * markup would run script in whoever opens the listing */
    char erel[PATH_MAX_REL * 6 + 1];
    html_escape(rel, erel, sizeof erel);
    buf_appendf(&b, "<!doctype html><meta charset=utf-8><title>/%s</title><h1>/%s</h1><ul>\n",
                erel, erel);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < LISTING_ENTRIES_MAX) {
        if (e->d_name[0] == '.')
            continue;
        char enc[PATH_MAX_NAME * 3 + 1], esc[PATH_MAX_NAME * 6 + 1];
        if (strparse_pct_encode(e->d_name, false, enc, sizeof enc) < 0)
            continue;
        html_escape(e->d_name, esc, sizeof esc);
        bool isdir = e->d_type == DT_DIR;
        if (buf_appendf(&b, "<li><a href=\"%s%s\">%s%s</a></li>\n", enc, isdir ? "/" : "", esc,
                        isdir ? "/" : "") < 0)
            break;
        n++;
    }
    closedir(d);
    buf_appends(&b, "</ul>\n");
    size_t len;
    char *body = buf_steal(&b, &len);
    http_reply_body_owned(rep, 200, "text/html; charset=utf-8", body, len);
    return 0;
}

static const char *sniff_image(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG", 4) == 0)
        return "image/png";
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8)
        return "image/jpeg";
    if (n >= 4 && memcmp(b, "GIF8", 4) == 0)
        return "image/gif";
    return "application/octet-stream";
}

/* width/height on an image: a scaled copy, from the cache when it is newer than the file. */
static int serve_resized(struct server *srv, struct http_req *req, struct http_reply *rep,
                         int fd, uint64_t base, const struct stat *st, const char *rel,
                         uint64_t w, uint64_t h)
{
    char pk[DIGEST_HEX_MAX];
    fileinfo_path_key_rel(rel, pk);
    int cfd = -1;
    off_t csize = 0;
    if (thumbs_open(srv, pk, (int)w, (int)h, st->st_mtime, &cfd, &csize) == 0 &&
        csize > 0 && csize <= (off_t)IMAGE_MAX_BYTES) {
        close(fd);
        unsigned char head[8] = {0};
        ssize_t hn = pread(cfd, head, sizeof head, 0);
        http_reply_header(rep, "Content-Type", sniff_image(head, hn > 0 ? (size_t)hn : 0));
        http_reply_fd(rep, 200, cfd, 0, (uint64_t)csize);
        return 0;
    }
    if (st->st_size <= 0 || (uint64_t)st->st_size > IMAGE_MAX_BYTES) {
        close(fd);
        snprintf(req->errmsg, sizeof req->errmsg, "image too large to resize");
        return ERR_BADREQ;
    }
    size_t len = (size_t)st->st_size;
    char *src = xmalloc(len);
    ssize_t r = pread(fd, src, len, (off_t)base);
    close(fd);
    if (r < 0 || (size_t)r != len) {
        free(src);
        return -EIO;
    }
    void *out = NULL;
    size_t olen = 0;
    const char *ctype = NULL;
    int rc = image_resize(src, len, (int)w, (int)h, (int)srv->cfg.image_max_width,
                          (int)srv->cfg.image_max_height, &out, &olen, &ctype);
    free(src);
    if (rc < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "cannot resize: %s",
                 rc == -ENOMEM ? "image too large" : "not a valid JPEG, PNG or GIF");
        return rc == -EINVAL ? ERR_PARAM : rc == -ENOMEM ? ERR_TOOBIG : ERR_BADREQ;
    }
    thumbs_put(srv, pk, (int)w, (int)h, out, olen);
    http_reply_body_owned(rep, 200, ctype, out, olen);
    return 0;
}

/* Drops whichever source a reply did not use. */
static void release(int fd, char *mem)
{
    if (fd >= 0)
        close(fd);
    free(mem);
}

/* The file's bytes are mem (owned, from the cache) when mem is set, else [base, base +
 * st_size) of fd: base is 0 but for merged small files. */
static int serve_file(struct server *srv, struct http_req *req, struct http_reply *rep, int fd,
                      uint64_t base, char *mem, const struct stat *st, const char *rel)
{
    const char *ws = http_req_arg(req, "width"), *hs = http_req_arg(req, "height");
    if ((ws || hs) && srv->cfg.enable_image_resize && image_supported(rel)) {
        uint64_t w = 0, h = 0;
        if ((ws && *ws && strparse_u64(ws, strlen(ws), (uint64_t)srv->cfg.image_max_width, &w) < 0) ||
            (hs && *hs && strparse_u64(hs, strlen(hs), (uint64_t)srv->cfg.image_max_height, &h) < 0)) {
            close(fd);
            snprintf(req->errmsg, sizeof req->errmsg,
                     "width and height must be numbers up to %lld x %lld",
                     (long long)srv->cfg.image_max_width, (long long)srv->cfg.image_max_height);
            return ERR_PARAM;
        }
        if ((w || h) && !mem)
            return serve_resized(srv, req, rep, fd, base, st, rel, w, h);
    }
    char etag[64], lm[64];
    uint64_t size = (uint64_t)st->st_size;
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st->st_mtime,
             (unsigned long long)size);
    http_date(st->st_mtime, lm, sizeof lm);
    http_reply_header(rep, "ETag", etag);
    http_reply_header(rep, "Last-Modified", lm);
    http_reply_header(rep, "Accept-Ranges", "bytes");
    http_reply_header(rep, "X-Content-Type-Options", "nosniff");

    const char *inm = http_req_header(req, "If-None-Match");
    const char *ims = http_req_header(req, "If-Modified-Since");
    bool not_modified = false;
    if (inm)
        not_modified = etag_matches(inm, etag);
    else if (ims) {
        time_t t = parse_http_date(ims);
        not_modified = t != (time_t)-1 && st->st_mtime <= t;
    }
    if (not_modified) {
        release(fd, mem);
        rep->status = 304;
        return 0;
    }

    const char *dl = http_req_arg(req, "download");
    bool attach = dl && *dl ? strcmp(dl, "0") != 0 : srv->cfg.default_download;
    char name[PATH_MAX_NAME * 2 + 1];
    if (attach || http_req_arg(req, "name")) {
        download_name(req, rel, name, sizeof name);
        set_disposition(rep, attach ? "attachment" : "inline", name);
    }
    http_reply_header(rep, "Content-Type", mime_of(rel));

    uint64_t start = 0, len = size;
    int status = 200;
    const char *range = http_req_header(req, "Range");
    const char *if_range = http_req_header(req, "If-Range");
    if (range && (!if_range || strcmp(if_range, etag) == 0 || strcmp(if_range, lm) == 0)) {
        switch (http_range_parse(range, size, &start, &len)) {
        case HTTP_RANGE_OK:
            status = 206;
            http_reply_headerf(rep, "Content-Range", "bytes %llu-%llu/%llu",
                               (unsigned long long)start,
                               (unsigned long long)(start + len - 1),
                               (unsigned long long)size);
            break;
        case HTTP_RANGE_UNSAT:
            release(fd, mem);
            http_reply_headerf(rep, "Content-Range", "bytes */%llu", (unsigned long long)size);
            return ERR_RANGE;
        default:
            start = 0;
            len = size;
            break;
        }
    }
    atomic_fetch_add(&srv->downloads, 1);
    if (mem) {
        if (start > 0 || len < size)
            memmove(mem, mem + start, len);
        http_reply_body_owned(rep, status, NULL, mem, len);
        return 0;
    }
    if (len <= SMALL_FILE_MAX && req->method != HTTP_HEAD) {
        char *b = xmalloc(len + 1);
        ssize_t r = len ? pread(fd, b, len, (off_t)(base + start)) : 0;
        close(fd);
        if (r < 0 || (uint64_t)r != len) {
            free(b);
            return -EIO;
        }
        if (start == 0 && len == size)
            filecache_put(srv->fcache, rel, b, len, st->st_mtime);
        http_reply_body_owned(rep, status, NULL, b, len);
        return 0;
    }
    http_reply_fd(rep, status, fd, base + start, len);
    return 0;
}

int api_index(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    if (!srv->cfg.enable_web_upload) {
        http_reply_text(rep, 403, "web upload deny");
        return 0;
    }
    const struct web_asset *a = web_asset_find("index.html");
    if (!a)
        return -ENOENT;
    http_reply_body(rep, 200, "text/html; charset=utf-8", a->data, a->len);
    return 0;
}

int api_download(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *raw = req->route_rest ? req->route_rest : "";
    if (*raw == '\0')
        return api_index(req, rep, srv);
    char dec[PATH_MAX_REL * 3 + 1], rel[PATH_MAX_REL + 1];
    size_t dl;
    if (strparse_pct_decode(raw, strlen(raw), false, dec, sizeof dec, &dl) < 0 ||
        path_normalize_rel(dec, true, rel, sizeof rel) < 0) {
        snprintf(req->errmsg, sizeof req->errmsg, "path not allowed");
        return ERR_BADPATH;
    }
    /* go-fastdfs kept in-flight uploads and tus state below files/; never serve those */
    if (path_is_workdir(rel))
        return -ENOENT;
    /* a volume file whole would hand out every needle in it, deleted ones too */
    if (content_is_volume_path(rel))
        return -ENOENT;
    int fd = -1;
    struct stat st;
    uint64_t base = 0;
    char *mem = NULL;
    size_t mlen = 0;
    time_t mtime = 0;
    int rc;
    /* a hot small file comes from memory (a resize needs the original's descriptor) */
    if (!http_req_arg(req, "width") && !http_req_arg(req, "height") &&
        filecache_get(srv->fcache, rel, &mem, &mlen, &mtime) == 0) {
        memset(&st, 0, sizeof st);
        st.st_mode = S_IFREG | 0644;
        st.st_size = (off_t)mlen;
        st.st_mtime = mtime;
        rc = 0;
    } else {
        rc = store_open_read(srv->store, rel, &fd, &st);
        if (rc == -ENOENT && content_in_haystack(rel))
            rc = content_open_haystack(srv, rel, &fd, &base, &st);
    }
    if (rc == -ELOOP || rc == -EXDEV || rc == -ENOTDIR)
        rc = -ENOENT;
    if (srv->cfg.download_use_token || srv->cfg.enable_google_auth ||
        (srv->cfg.enable_download_auth && srv->cfg.auth_url && *srv->cfg.auth_url)) {
        /* a missing file may still be fetched from a peer; it is checked once it is here */
        struct file_info fi;
        char pk[DIGEST_HEX_MAX];
        fileinfo_path_key_rel(rel, pk);
        bool indexed = meta_get_path(srv->meta, pk, &fi) == 0;
        if (rc == 0 || indexed || req->resumed || req->peer_signed) {
            int arc = auth_download(srv, req, rel, indexed ? fi.md5 : "");
            if (arc) {
                release(fd, mem);
                return arc;
            }
        }
    }
    /* not here (yet): look on the peers, unless a peer is asking (no loops) or this is
     * already the second pass */
    if (rc == -ENOENT && !req->peer_signed && req->resumed == 0) {
        int mrc = sync_fetch_missing(srv, req, rel);
        if (mrc == ERR_SUSPENDED || mrc == ERR_UNAVAIL)
            return mrc;
    }
    if (rc < 0)
        return rc;
    if (S_ISDIR(st.st_mode)) {
        size_t ul = strlen(req->url);
        if (srv->cfg.show_dir && ul && req->url[ul - 1] != '/') {
            /* relative links in the listing need the trailing slash */
            close(fd);
            http_reply_headerf(rep, "Location", "%s/", req->url);
            http_reply_text(rep, 301, "");
            return 0;
        }
        return list_dir(srv, req, rep, fd, rel);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -ENOENT;
    }
    return serve_file(srv, req, rep, fd, base, mem, &st, rel);
}

int api_root(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    const char *g = server_group_prefix(srv);
    if (!*g)
        return api_index(req, rep, srv);
    http_reply_headerf(rep, "Location", "%s/", g);
    http_reply_text(rep, 302, "");
    return 0;
}
