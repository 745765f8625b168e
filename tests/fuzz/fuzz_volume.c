/* Fuzz target for small-file volumes. The first byte picks what the rest is:
 *   even: a merged-file name from a URL ("<n>,<off>,<len>,<ext>"): a parse that succeeds
 *         gives a volume number in range and an extension without '/';
 *   odd:  the body of a volume file (our magic is put in front) that is then scanned and
 *         appended to: every needle reported lies inside the file, reads back within it,
 *         and an append after any garbage is found again by a second scan.
 * Each volume input runs in a fresh store below $TMPDIR. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "volume.h"
#include "xalloc.h"

#include "fuzz_check.h"

#define BODY_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char magic[VOLUME_HDR] = "FSVOLUME1\n\0\0\0\0\0";

struct scan {
    uint64_t file_size;
    int n;
    int found_marker;
};

static int scan_cb(void *ctx, const struct needle *n, const char *info)
{
    struct scan *s = ctx;
    CHECK(n->off >= VOLUME_HDR && n->off % 8 == 0);
    CHECK(n->data_off == n->off + NEEDLE_HDR + n->info_len);
    CHECK(n->data_off + n->data_len <= s->file_size);
    CHECK(strlen(info) <= n->info_len);
    if (strcmp(info, "{\"fuzz\":\"marker\"}") == 0)
        s->found_marker++;
    s->n++;
    return 0;
}

static char *marker_info(void *ctx, uint32_t vol, uint64_t off, size_t *len)
{
    (void)ctx;
    (void)vol;
    (void)off;
    *len = strlen("{\"fuzz\":\"marker\"}");
    return xstrdup("{\"fuzz\":\"marker\"}");
}

static void rmrf(const char *root)
{
    char p[600];
    const char *parts[] = {"files/haystack/1/1", "files/haystack/1", "files/haystack",
                           "files", "data/tmp", "data", ""};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, parts[i]);
        if (remove(p) < 0 && errno == ENOTEMPTY) {
            /* a volume this run created beyond number 1 */
            for (int k = 2; k < 64; k++) {
                char q[700];
                snprintf(q, sizeof q, "%s/files/haystack/1/%d", root, k);
                remove(q);
            }
            remove(p);
        }
    }
}

static void fuzz_volume(const uint8_t *body, size_t n)
{
    char root[512];
    const char *base = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fuzzvol.XXXXXX", base && *base ? base : "/tmp");
    CHECK(mkdtemp(root));
    struct store *st = NULL;
    CHECK(store_open(root, FSBARRIER_FILE, &st) == 0);
    char dir[600], vpath[700];
    snprintf(dir, sizeof dir, "%s/files/haystack/1", root);
    char mk[600];
    snprintf(mk, sizeof mk, "%s/files/haystack", root);
    mkdir(mk, 0775);
    mkdir(dir, 0775);
    snprintf(vpath, sizeof vpath, "%s/1", dir);
    int fd = open(vpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, magic, sizeof magic) == (ssize_t)sizeof magic);
    CHECK(n == 0 || write(fd, body, n) == (ssize_t)n);
    close(fd);

    struct volumes *v = NULL;
    CHECK(volumes_open(st, "1", 1 << 20, &v) == 0);
    struct scan s = {sizeof magic + n, 0, 0};
    CHECK(volumes_scan(v, 1, scan_cb, &s) == 0);
    /* whatever the garbage, an append lands after it and is found again */
    struct needle got;
    int rc = volumes_append(v, NULL, marker_info, NULL, "xyz", 3, true, &got);
    CHECK(rc == 0);
    volumes_release(v, got.vol);
    struct stat sb;
    char gpath[700];
    snprintf(gpath, sizeof gpath, "%s/%u", dir, got.vol);
    CHECK(stat(gpath, &sb) == 0);
    struct scan s2 = {(uint64_t)sb.st_size, 0, 0};
    CHECK(volumes_scan(v, got.vol, scan_cb, &s2) == 0);
    CHECK(s2.found_marker >= 1);
    int rfd;
    CHECK(volumes_open_read(v, got.vol, &rfd) == 0);
    struct needle again;
    CHECK(volumes_needle_at(rfd, got.vol, got.off, &again) == 0);
    CHECK(again.data_len == 3);
    close(rfd);
    volumes_close(v);
    store_close(st);
    rmrf(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0) {
        char *name = xmalloc(size);
        memcpy(name, data + 1, size - 1);
        name[size - 1] = '\0';
        uint32_t vol;
        uint64_t off, len;
        if (volumes_parse_name(name, &vol, &off, &len) == 0) {
            CHECK(vol >= 1 && vol <= 999999999u);
            const char *ext = name;
            for (int i = 0; i < 3; i++)
                ext = strchr(ext, ',') + 1;
            CHECK(!strchr(ext, '/'));
        }
        free(name);
        return 0;
    }
    fuzz_volume(data + 1, size - 1 > BODY_MAX ? BODY_MAX : size - 1);
    return 0;
}
