/* Unit tests for image: every format scaled to the right size (each output decoded again and
 * its pixels looked at), aspect ratio, a 0 dimension, no upscaling, decompression bombs
 * refused from the header alone, truncated and garbage input, bad parameters, file names.
 * The inputs are the small files in data/images/ (hostile ones included). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Outputs are checked with the decoders themselves (stb lives in fscore's image.c). */
#include <stb_image.h>
#include <turbojpeg.h>

#include "errcode.h"
#include "image.h"

#define MAXW 2000
#define MAXH 2000

struct blob {
    unsigned char *p;
    size_t n;
};

/* The binary's working directory is unknown; the data sits next to this file. */
static struct blob load(const char *name)
{
    char path[4096];
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    int dirlen = slash ? (int)(slash - f) : 1;
    snprintf(path, sizeof path, "%.*s/data/images/%s", dirlen, slash ? f : ".", name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    struct blob b = {.p = malloc(1 << 16), .n = 0};
    assert_non_null(b.p);
    b.n = fread(b.p, 1, 1 << 16, fp);
    assert_true(b.n > 0 && b.n < (1 << 16));
    fclose(fp);
    return b;
}

/* What a resize produced, decoded again. */
struct result {
    void *out;
    size_t len;
    const char *ctype;
    int w, h, n;       /* n: channels as decoded (JPEG: 1 gray or 3) */
    unsigned char *px; /* packed rows of n channels */
};

static void decode_jpeg(struct result *r)
{
    tjhandle tj = tjInitDecompress();
    int ss = 0, cs = 0;
    assert_non_null(tj);
    assert_int_equal(
        tjDecompressHeader3(tj, r->out, (unsigned long)r->len, &r->w, &r->h, &ss, &cs), 0);
    r->n = cs == TJCS_GRAY ? 1 : 3;
    r->px = malloc((size_t)r->w * (size_t)r->h * (size_t)r->n);
    assert_non_null(r->px);
    assert_int_equal(tjDecompress2(tj, r->out, (unsigned long)r->len, r->px, r->w, 0, r->h,
                                   r->n == 1 ? TJPF_GRAY : TJPF_RGB, 0),
                     0);
    tjDestroy(tj);
}

static void decode(struct result *r)
{
    if (strcmp(r->ctype, "image/jpeg") == 0) {
        decode_jpeg(r);
        return;
    }
    assert_string_equal(r->ctype, "image/png");
    r->px = stbi_load_from_memory(r->out, (int)r->len, &r->w, &r->h, &r->n, 0);
    assert_non_null(r->px);
}

/* Resizes data/images/name into a box and decodes the output. */
static struct result resize(const char *name, int w, int h)
{
    struct blob b = load(name);
    struct result r = {0};
    int rc = image_resize(b.p, b.n, w, h, MAXW, MAXH, &r.out, &r.len, &r.ctype);
    if (rc != 0)
        fail_msg("%s %dx%d: %s", name, w, h, errcode_str(rc));
    assert_true(r.len > 0);
    decode(&r);
    free(b.p);
    return r;
}

static void result_free(struct result *r)
{
    free(r->out);
    free(r->px);
}

static const unsigned char *px_at(const struct result *r, int x, int y)
{
    return r->px + ((size_t)y * (size_t)r->w + (size_t)x) * (size_t)r->n;
}

/* The sample images are red on the left half and blue on the right. */
static void assert_red_blue(const struct result *r)
{
    const unsigned char *l = px_at(r, 0, r->h / 2), *rt = px_at(r, r->w - 1, r->h / 2);
    assert_true(l[0] > 180 && l[2] < 80);
    assert_true(rt[2] > 180 && rt[0] < 80);
}

static int rc_of(const char *name, int w, int h)
{
    struct blob b = load(name);
    void *out = (void *)1;
    size_t len = 7;
    const char *ct = "untouched";
    int rc = image_resize(b.p, b.n, w, h, MAXW, MAXH, &out, &len, &ct);
    if (rc != 0) {
        /* out-parameters are written only on success */
        assert_ptr_equal(out, (void *)1);
        assert_int_equal(len, 7);
        assert_string_equal(ct, "untouched");
    } else {
        free(out);
    }
    free(b.p);
    return rc;
}

static void test_jpeg_width_only(void **state)
{
    (void)state;
    struct result r = resize("photo_64x48.jpg", 32, 0);
    assert_string_equal(r.ctype, "image/jpeg");
    assert_int_equal(r.w, 32);
    assert_int_equal(r.h, 24);
    assert_int_equal(r.n, 3);
    assert_red_blue(&r);
    result_free(&r);
}

static void test_jpeg_box_limited_by_height(void **state)
{
    (void)state;
    /* 40/64 > 20/48, so the height decides: 64 * 20 / 48 = 26.7 -> 27 */
    struct result r = resize("photo_64x48.jpg", 40, 20);
    assert_int_equal(r.w, 27);
    assert_int_equal(r.h, 20);
    assert_red_blue(&r);
    result_free(&r);
}

static void test_jpeg_dct_scale_then_exact_fit(void **state)
{
    (void)state;
    /* 300x200 decodes at 1/8 (38x25), then stb resizes it to 37x25 */
    struct result r = resize("photo_300x200.jpg", 37, 0);
    assert_int_equal(r.w, 37);
    assert_int_equal(r.h, 25);
    assert_red_blue(&r);
    result_free(&r);
    /* exactly 1/8: no resampling left to do */
    r = resize("photo_300x200.jpg", 0, 25);
    assert_int_equal(r.w, 38);
    assert_int_equal(r.h, 25);
    assert_red_blue(&r);
    result_free(&r);
}

static void test_jpeg_gray_stays_gray(void **state)
{
    (void)state;
    struct result r = resize("gray_40x30.jpg", 20, 0);
    assert_string_equal(r.ctype, "image/jpeg");
    assert_int_equal(r.w, 20);
    assert_int_equal(r.h, 15);
    assert_int_equal(r.n, 1);
    assert_true(px_at(&r, 0, 7)[0] < 80);
    assert_true(px_at(&r, 19, 7)[0] > 180);
    result_free(&r);
}

static void test_jpeg_cmyk_becomes_rgb(void **state)
{
    (void)state;
    /* stored (Adobe, inverted) C=M=Y=255 K=128: no ink but half black -> mid gray */
    struct result r = resize("cmyk_16x16.jpg", 8, 8);
    assert_int_equal(r.w, 8);
    assert_int_equal(r.h, 8);
    assert_int_equal(r.n, 3);
    for (int c = 0; c < 3; c++) {
        int v = px_at(&r, 4, 4)[c];
        assert_true(v > 110 && v < 146);
    }
    result_free(&r);
}

static void test_png_rgba_keeps_alpha(void **state)
{
    (void)state;
    struct result r = resize("rgba_50x40.png", 25, 0);
    assert_string_equal(r.ctype, "image/png");
    assert_int_equal(r.w, 25);
    assert_int_equal(r.h, 20);
    assert_int_equal(r.n, 4);
    assert_int_equal(px_at(&r, 0, 0)[3], 255);  /* top half opaque */
    assert_int_equal(px_at(&r, 0, 19)[3], 0);   /* bottom half transparent */
    assert_true(px_at(&r, 0, 0)[0] > 180);      /* red */
    assert_true(px_at(&r, 24, 0)[2] > 180);     /* blue */
    result_free(&r);
}

static void test_png_palette_with_trns(void **state)
{
    (void)state;
    /* height only: 33 * 7 / 21 = 11 */
    struct result r = resize("palette_33x21.png", 0, 7);
    assert_int_equal(r.w, 11);
    assert_int_equal(r.h, 7);
    assert_int_equal(r.n, 4);
    assert_int_equal(px_at(&r, 0, 3)[3], 255);
    assert_true(px_at(&r, 10, 3)[3] > 100 && px_at(&r, 10, 3)[3] < 156);
    assert_red_blue(&r);
    result_free(&r);
}

static void test_png_16bit_gray_alpha(void **state)
{
    (void)state;
    struct result r = resize("graya16_33x21.png", 10, 0);
    assert_int_equal(r.w, 10);
    assert_int_equal(r.h, 6); /* 21 * 10 / 33 = 6.4 */
    assert_int_equal(r.n, 2);
    assert_int_equal(px_at(&r, 5, 3)[1], 255);
    result_free(&r);
}

static void test_gif_first_frame_as_png(void **state)
{
    (void)state;
    struct result r = resize("anim_30x20.gif", 15, 0);
    assert_string_equal(r.ctype, "image/png");
    assert_int_equal(r.w, 15);
    assert_int_equal(r.h, 10);
    assert_int_equal(r.n, 3); /* nothing transparent: alpha dropped */
    assert_red_blue(&r);      /* the second frame is all green */
    result_free(&r);
}

static void test_gif_transparency_kept(void **state)
{
    (void)state;
    struct result r = resize("trans_30x20.gif", 10, 10);
    assert_int_equal(r.w, 10);
    assert_int_equal(r.h, 7); /* 20 * 10 / 30 = 6.7 */
    assert_int_equal(r.n, 4);
    assert_int_equal(px_at(&r, 9, 6)[3], 255);
    result_free(&r);
}

static void test_aspect_ratio_kept(void **state)
{
    (void)state;
    struct result r = resize("photo_300x200.jpg", 100, 100);
    assert_int_equal(r.w, 100);
    assert_int_equal(r.h, 67);
    result_free(&r);
    r = resize("photo_300x200.jpg", 1000, 50);
    assert_int_equal(r.w, 75);
    assert_int_equal(r.h, 50);
    result_free(&r);
}

static void test_zero_dimension_stays_within_max(void **state)
{
    (void)state;
    struct blob b = load("photo_300x200.jpg");
    void *out = NULL;
    size_t len = 0;
    const char *ct = NULL;
    int w = 0, h = 0;
    /* height 0 follows the width (120x80) ... */
    assert_int_equal(image_resize(b.p, b.n, 120, 0, 150, 100, &out, &len, &ct), 0);
    assert_int_equal(image_info(out, len, &w, &h, &ct), 0);
    assert_int_equal(w, 120);
    assert_int_equal(h, 80);
    free(out);
    /* ... but not past max_h: 150x100 would need 150 wide, so 60 high -> 90x60 */
    assert_int_equal(image_resize(b.p, b.n, 150, 0, 150, 60, &out, &len, &ct), 0);
    assert_int_equal(image_info(out, len, &w, &h, &ct), 0);
    assert_int_equal(w, 90);
    assert_int_equal(h, 60);
    free(out);
    assert_int_equal(image_resize(b.p, b.n, 0, 100, 30, 100, &out, &len, &ct), 0);
    assert_int_equal(image_info(out, len, &w, &h, &ct), 0);
    assert_int_equal(w, 30);
    assert_int_equal(h, 20);
    free(out);
    free(b.p);
}

static void test_tiny_target_is_at_least_one_pixel(void **state)
{
    (void)state;
    struct result r = resize("photo_300x200.jpg", 1, 0);
    assert_int_equal(r.w, 1);
    assert_int_equal(r.h, 1);
    result_free(&r);
    r = resize("rgba_50x40.png", 0, 1);
    assert_int_equal(r.w, 1);
    assert_int_equal(r.h, 1);
    result_free(&r);
}

/* A box at least as large as the image gives the source back, byte for byte. */
static void assert_passthrough(const char *name, int w, int h, const char *ctype)
{
    struct blob b = load(name);
    void *out = NULL;
    size_t len = 0;
    const char *ct = NULL;
    assert_int_equal(image_resize(b.p, b.n, w, h, MAXW, MAXH, &out, &len, &ct), 0);
    assert_string_equal(ct, ctype);
    assert_int_equal(len, b.n);
    assert_memory_equal(out, b.p, b.n);
    free(out);
    free(b.p);
}

static void test_no_upscaling(void **state)
{
    (void)state;
    assert_passthrough("photo_64x48.jpg", 500, 500, "image/jpeg");
    assert_passthrough("photo_64x48.jpg", 2000, 0, "image/jpeg");
    assert_passthrough("photo_64x48.jpg", 0, 48, "image/jpeg");
    assert_passthrough("photo_64x48.jpg", 64, 48, "image/jpeg");
    assert_passthrough("rgba_50x40.png", 0, 1000, "image/png");
    assert_passthrough("anim_30x20.gif", 31, 0, "image/gif");
    /* one side larger, the other smaller: scales down by the smaller */
    struct result r = resize("photo_64x48.jpg", 1000, 24);
    assert_int_equal(r.w, 32);
    assert_int_equal(r.h, 24);
    result_free(&r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Caps the address space at what is mapped now plus 64 MiB, so that even a lazily touched
 * allocation for the claimed size fails (and would show as -ENOMEM). Not under ASan, whose
 * shadow memory and allocator do not live with RLIMIT_AS. Returns the old limit. */
static struct rlimit cap_address_space(void)
{
    struct rlimit old = {0};
    getrlimit(RLIMIT_AS, &old);
#ifndef UNDER_ASAN
    FILE *f = fopen("/proc/self/statm", "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    unsigned long pages = strtoul(line, NULL, 10); /* first field: total program size */
    if (pages > 0) {
        struct rlimit cap = old;
        cap.rlim_cur = (rlim_t)pages * 4096 + ((rlim_t)64 << 20);
        if (old.rlim_max == RLIM_INFINITY || cap.rlim_cur < old.rlim_max)
            assert_int_equal(setrlimit(RLIMIT_AS, &cap), 0);
    }
#endif
    return old;
}

/* Refused from the header: fast, the peak RSS does not move and the address space stays
 * small (decoding any of these would need 40 MB to many GB). */
static void assert_bomb_refused(const char *name, int claim_w, int claim_h)
{
    struct blob b = load(name);
    int w = 0, h = 0;
    const char *ct = NULL;
    /* the header is readable, so it is the pixel limit that refuses */
    if (claim_w <= IMAGE_MAX_SIDE) {
        assert_int_equal(image_info(b.p, b.n, &w, &h, &ct), 0);
        assert_int_equal(w, claim_w);
        assert_int_equal(h, claim_h);
    }
    long rss0 = max_rss_kib();
    struct rlimit old = cap_address_space();
    double t0 = now_s();
    int unexpected = ERR_BADREQ; /* asserted after the limit is lifted again */
    for (int i = 0; i < 20; i++) {
        void *out = NULL;
        size_t len = 0;
        int rc = image_resize(b.p, b.n, 100, 100, MAXW, MAXH, &out, &len, &ct);
        if (rc != ERR_BADREQ)
            unexpected = rc;
        rc = image_resize(b.p, b.n, MAXW, MAXH, MAXW, MAXH, &out, &len, &ct);
        if (rc != ERR_BADREQ)
            unexpected = rc;
    }
    double took = now_s() - t0;
    setrlimit(RLIMIT_AS, &old);
    assert_int_equal(unexpected, ERR_BADREQ);
    assert_true(took < 1.0);
    assert_true(max_rss_kib() - rss0 < 16 * 1024);
    free(b.p);
}

static void test_bomb_png_huge_header(void **state)
{
    (void)state;
    assert_bomb_refused("bomb_100000x100000.png", 100000, 100000);
}

static void test_bomb_png_over_pixel_limit(void **state)
{
    (void)state;
    assert_bomb_refused("bomb_6500x6500.png", 6500, 6500);
}

static void test_bomb_jpeg(void **state)
{
    (void)state;
    assert_bomb_refused("bomb_65000x65000.jpg", 65000, 65000);
}

static void test_bomb_gif(void **state)
{
    (void)state;
    assert_bomb_refused("bomb_65535x65535.gif", 65535, 65535);
    assert_bomb_refused("bomb_6500x6500.gif", 6500, 6500);
}

static void test_truncated_refused(void **state)
{
    (void)state;
    assert_int_equal(rc_of("truncated.jpg", 16, 0), ERR_BADREQ);
    assert_int_equal(rc_of("truncated.png", 16, 0), ERR_BADREQ);
}

static int rc_bytes(const void *p, size_t n)
{
    void *out = NULL;
    size_t len = 0;
    const char *ct = NULL;
    return image_resize(p, n, 8, 8, MAXW, MAXH, &out, &len, &ct);
}

static void test_garbage_refused(void **state)
{
    (void)state;
    static const unsigned char junk[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    static const unsigned char jpeg_magic[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F'};
    static const unsigned char png_magic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                              0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    assert_int_equal(rc_bytes(junk, sizeof junk), ERR_BADREQ);
    assert_int_equal(rc_bytes("hello world", 11), ERR_BADREQ);
    assert_int_equal(rc_bytes("<svg></svg>", 11), ERR_BADREQ);
    assert_int_equal(rc_bytes("BM\x00\x00\x00\x00\x00\x00", 8), ERR_BADREQ); /* BMP: not ours */
    assert_int_equal(rc_bytes(jpeg_magic, sizeof jpeg_magic), ERR_BADREQ);
    assert_int_equal(rc_bytes(jpeg_magic, 3), ERR_BADREQ);
    assert_int_equal(rc_bytes(png_magic, sizeof png_magic), ERR_BADREQ);
    assert_int_equal(rc_bytes(png_magic, 8), ERR_BADREQ);
    assert_int_equal(rc_bytes("GIF89a", 6), ERR_BADREQ);
    assert_int_equal(rc_bytes("GIF89a\x10\x00\x10\x00\x00\x00\x00", 13), ERR_BADREQ);
    assert_int_equal(rc_bytes("x", 0), ERR_BADREQ);
}

static void test_garbage_after_valid_header(void **state)
{
    (void)state;
    struct blob b = load("photo_64x48.jpg");
    /* keep the headers, scribble over the entropy-coded data and the end marker */
    unsigned char *sos = memmem(b.p, b.n, "\xff\xda", 2);
    assert_non_null(sos);
    size_t at = (size_t)(sos - b.p) + 2 + (size_t)(sos[2] << 8 | sos[3]);
    assert_true(at < b.n);
    memset(b.p + at, 0xff, b.n - at);
    assert_int_equal(rc_bytes(b.p, b.n), ERR_BADREQ);
    free(b.p);
    b = load("rgba_50x40.png");
    memset(b.p + 41, 0x5a, b.n - 41 - 12); /* IDAT payload */
    assert_int_equal(rc_bytes(b.p, b.n), ERR_BADREQ);
    free(b.p);
}

static void test_input_over_byte_limit(void **state)
{
    (void)state;
    /* the length alone refuses it: nothing past the first bytes is read */
    struct blob b = load("photo_64x48.jpg");
    assert_int_equal(rc_bytes(b.p, IMAGE_MAX_BYTES + 1), ERR_BADREQ);
    free(b.p);
}

static void test_bad_dimensions_refused(void **state)
{
    (void)state;
    static const int bad[][2] = {{-1, 10}, {10, -1}, {-1, 0}, {0, 0},
                                 {MAXW + 1, 0}, {0, MAXH + 1}, {MAXW + 1, MAXH + 1},
                                 {-2147483647 - 1, 5}, {5, 2147483647}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rc_of("photo_64x48.jpg", bad[i][0], bad[i][1]), -EINVAL);
    /* the limits themselves are allowed */
    assert_int_equal(rc_of("photo_64x48.jpg", MAXW, MAXH), 0);
}

static void test_bad_arguments_refused(void **state)
{
    (void)state;
    struct blob b = load("photo_64x48.jpg");
    void *out = NULL;
    size_t len = 0;
    const char *ct = NULL;
    assert_int_equal(image_resize(NULL, b.n, 8, 8, 10, 10, &out, &len, &ct), -EINVAL);
    assert_int_equal(image_resize(b.p, b.n, 8, 8, 10, 10, NULL, &len, &ct), -EINVAL);
    assert_int_equal(image_resize(b.p, b.n, 8, 8, 10, 10, &out, NULL, &ct), -EINVAL);
    assert_int_equal(image_resize(b.p, b.n, 8, 8, 10, 10, &out, &len, NULL), -EINVAL);
    assert_int_equal(image_resize(b.p, b.n, 8, 8, 0, 10, &out, &len, &ct), -EINVAL);
    assert_int_equal(image_resize(b.p, b.n, 8, 8, 10, -1, &out, &len, &ct), -EINVAL);
    assert_int_equal(image_resize(b.p, b.n, 11, 8, 10, 10, &out, &len, &ct), -EINVAL);
    assert_null(out);
    free(b.p);
}

static void test_info(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int w, h;
        const char *ct;
    } cases[] = {
        {"photo_64x48.jpg", 64, 48, "image/jpeg"}, {"cmyk_16x16.jpg", 16, 16, "image/jpeg"},
        {"rgba_50x40.png", 50, 40, "image/png"},   {"palette_33x21.png", 33, 21, "image/png"},
        {"anim_30x20.gif", 30, 20, "image/gif"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct blob b = load(cases[i].name);
        int w = 0, h = 0;
        const char *ct = NULL;
        assert_int_equal(image_info(b.p, b.n, &w, &h, &ct), 0);
        assert_int_equal(w, cases[i].w);
        assert_int_equal(h, cases[i].h);
        assert_string_equal(ct, cases[i].ct);
        free(b.p);
    }
}

static void test_info_refusals(void **state)
{
    (void)state;
    int w = 0, h = 0;
    const char *ct = NULL;
    assert_int_equal(image_info("hello", 5, &w, &h, &ct), ERR_BADREQ);
    assert_int_equal(image_info("hello", 0, &w, &h, &ct), ERR_BADREQ);
    assert_int_equal(image_info(NULL, 5, &w, &h, &ct), -EINVAL);
    assert_int_equal(image_info("hello", 5, NULL, &h, &ct), -EINVAL);
    struct blob b = load("bomb_100000x100000.png"); /* a side over IMAGE_MAX_SIDE */
    assert_int_equal(image_info(b.p, b.n, &w, &h, &ct), ERR_BADREQ);
    free(b.p);
    assert_int_equal(w, 0);
}

static void test_supported_names(void **state)
{
    (void)state;
    assert_true(image_supported("a.jpg"));
    assert_true(image_supported("A.JPEG"));
    assert_true(image_supported("dir/x.png"));
    assert_true(image_supported("/g/2024/z.GiF"));
    assert_true(image_supported("a.b.jpeg"));
    assert_false(image_supported("a.webp"));
    assert_false(image_supported("a.jpg.txt"));
    assert_false(image_supported("jpg"));
    assert_false(image_supported("dir.jpg/file"));
    assert_false(image_supported("a.jp"));
    assert_false(image_supported("a.jpgx"));
    assert_false(image_supported(""));
    assert_false(image_supported(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_width_only),
        cmocka_unit_test(test_jpeg_box_limited_by_height),
        cmocka_unit_test(test_jpeg_dct_scale_then_exact_fit),
        cmocka_unit_test(test_jpeg_gray_stays_gray),
        cmocka_unit_test(test_jpeg_cmyk_becomes_rgb),
        cmocka_unit_test(test_png_rgba_keeps_alpha),
        cmocka_unit_test(test_png_palette_with_trns),
        cmocka_unit_test(test_png_16bit_gray_alpha),
        cmocka_unit_test(test_gif_first_frame_as_png),
        cmocka_unit_test(test_gif_transparency_kept),
        cmocka_unit_test(test_aspect_ratio_kept),
        cmocka_unit_test(test_zero_dimension_stays_within_max),
        cmocka_unit_test(test_tiny_target_is_at_least_one_pixel),
        cmocka_unit_test(test_no_upscaling),
        cmocka_unit_test(test_bomb_png_huge_header),
        cmocka_unit_test(test_bomb_png_over_pixel_limit),
        cmocka_unit_test(test_bomb_jpeg),
        cmocka_unit_test(test_bomb_gif),
        cmocka_unit_test(test_truncated_refused),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_garbage_after_valid_header),
        cmocka_unit_test(test_input_over_byte_limit),
        cmocka_unit_test(test_bad_dimensions_refused),
        cmocka_unit_test(test_bad_arguments_refused),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_info_refusals),
        cmocka_unit_test(test_supported_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
