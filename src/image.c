/* Thumbnails (see image.h). JPEG goes through libturbojpeg, whose DCT-scaled decode reads a
 * 12 MP photo at 1/8 size for a fraction of the time and memory; PNG and GIF go through
 * stb_image; stb_image_resize does the exact fit and stb_image_write the PNG. This is the
 * only file that includes the image libraries. stb is compiled in here (header-only) rather
 * than linked from libstb.so so that we choose its configuration: only the PNG and GIF
 * decoders exist, dimensions are capped, no stdio, and the fuzzer instruments its code. */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <turbojpeg.h>

#include "compiler.h"
#include "errcode.h"
#include "xalloc.h"

/* The single stb instance in the program and its configuration. Its functions stay extern
 * (not STB_*_STATIC): stb declares some static prototypes that have no body in this
 * configuration, which gcc reports even from a system header. */
#define STBI_ONLY_PNG
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS IMAGE_MAX_SIDE
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

enum fmt { FMT_NONE, FMT_JPEG, FMT_PNG, FMT_GIF };

/* What the header says, before any pixel is decoded. */
struct head {
    enum fmt fmt;
    int w, h;
    int cs; /* TJCS_* for JPEG */
};

/* Decoded pixels, 8 bits per channel, rows packed; n is 1 (gray), 2 (gray+alpha), 3 (RGB)
 * or 4 (RGBA). */
struct pic {
    unsigned char *px;
    int w, h, n;
};

static const char *fmt_ctype(enum fmt f)
{
    switch (f) {
    case FMT_JPEG:
        return "image/jpeg";
    case FMT_PNG:
        return "image/png";
    case FMT_GIF:
        return "image/gif";
    case FMT_NONE:
        break;
    }
    return "application/octet-stream";
}

static enum fmt sniff(const unsigned char *p, size_t len)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return FMT_JPEG;
    if (len >= sizeof png && memcmp(p, png, sizeof png) == 0)
        return FMT_PNG;
    if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return FMT_GIF;
    return FMT_NONE;
}

/* Fills hd from the header only. tj may be NULL for non-JPEG input. */
static int read_head(tjhandle tj, const unsigned char *p, size_t len, struct head *hd)
{
    int w = 0, h = 0;
    hd->fmt = sniff(p, len);
    hd->cs = TJCS_RGB;
    if (hd->fmt == FMT_JPEG) {
        int subsamp = 0;
        if (!tj || tjDecompressHeader3(tj, p, (unsigned long)len, &w, &h, &subsamp, &hd->cs) != 0)
            return ERR_BADREQ;
    } else if (hd->fmt == FMT_PNG || hd->fmt == FMT_GIF) {
        int n = 0;
        if (!stbi_info_from_memory(p, (int)len, &w, &h, &n))
            return ERR_BADREQ;
    } else {
        return ERR_BADREQ;
    }
    if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return ERR_BADREQ;
    hd->w = w;
    hd->h = h;
    return 0;
}

/* The size that fits sw x sh into bw x bh keeping the aspect ratio, never larger than the
 * source; rounded to nearest, at least 1. */
static void fit(int sw, int sh, int bw, int bh, int *ow, int *oh)
{
    *ow = sw;
    *oh = sh;
    if ((int64_t)bw * sh <= (int64_t)bh * sw) {
        if (bw >= sw)
            return;
        int64_t v = ((int64_t)sh * bw + sw / 2) / sw;
        *ow = bw;
        *oh = v < 1 ? 1 : (int)v;
    } else {
        if (bh >= sh)
            return;
        int64_t v = ((int64_t)sw * bh + sh / 2) / sh;
        *oh = bh;
        *ow = v < 1 ? 1 : (int)v;
    }
}

/* malloc, not xmalloc: the size is chosen by the input, so failing must fail the request
 * and not abort the server. Sizes are already bounded by IMAGE_MAX_PIXELS. */
static unsigned char *pixels(int w, int h, int n)
{
    return malloc((size_t)w * (size_t)h * (size_t)n);
}

/* Adobe applications write CMYK JPEGs inverted (255 = no ink), and libjpeg hands the values
 * through untouched, so a naive conversion of the stored values is simply c * k. */
static void cmyk_to_rgb(unsigned char *px, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        const unsigned char *s = px + 4 * i;
        unsigned char *d = px + 3 * i;
        unsigned k = s[3];
        unsigned c = s[0], m = s[1], y = s[2];
        d[0] = (unsigned char)((c * k + 127) / 255);
        d[1] = (unsigned char)((m * k + 127) / 255);
        d[2] = (unsigned char)((y * k + 127) / 255);
    }
}

/* Decodes at the smallest DCT scale whose size is still >= ow x oh. */
static int jpeg_decode(tjhandle tj, const unsigned char *p, size_t len, const struct head *hd,
                       int ow, int oh, struct pic *pic)
{
    int dw = hd->w, dh = hd->h, nsf = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&nsf);
    for (int i = 0; sf && i < nsf; i++) {
        if (sf[i].num > sf[i].denom)
            continue;
        int sw = TJSCALED(hd->w, sf[i]), sh = TJSCALED(hd->h, sf[i]);
        if (sw >= ow && sh >= oh && sw <= dw && sh <= dh) {
            dw = sw;
            dh = sh;
        }
    }
    int pf = TJPF_RGB, n = 3;
    if (hd->cs == TJCS_GRAY) {
        pf = TJPF_GRAY;
        n = 1;
    } else if (hd->cs == TJCS_CMYK || hd->cs == TJCS_YCCK) {
        pf = TJPF_CMYK;
        n = 4;
    }
    unsigned char *px = pixels(dw, dh, n);
    if (!px)
        return -ENOMEM;
    /* Any warning (a truncated file is only a warning to libjpeg) fails the decode, and
     * LIMITSCANS stops progressive files built to burn CPU with thousands of scans. */
    int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompress2(tj, p, (unsigned long)len, px, dw, dw * n, dh, pf, flags) != 0) {
        free(px);
        return ERR_BADREQ;
    }
    if (pf == TJPF_CMYK) {
        cmyk_to_rgb(px, (size_t)dw * (size_t)dh);
        n = 3;
    }
    *pic = (struct pic){.px = px, .w = dw, .h = dh, .n = n};
    return 0;
}

/* A GIF frame always comes back as RGBA; drop the alpha when nothing is transparent so the
 * PNG is smaller. */
static void drop_opaque_alpha(struct pic *pic)
{
    size_t npix = (size_t)pic->w * (size_t)pic->h;
    for (size_t i = 0; i < npix; i++)
        if (pic->px[4 * i + 3] != 0xff)
            return;
    for (size_t i = 0; i < npix; i++)
        memmove(pic->px + 3 * i, pic->px + 4 * i, 3);
    pic->n = 3;
}

static int stb_decode(const unsigned char *p, size_t len, const struct head *hd,
                      struct pic *pic)
{
    int w = 0, h = 0, n = 0;
    int want = hd->fmt == FMT_GIF ? 4 : 0;
    unsigned char *px = stbi_load_from_memory(p, (int)len, &w, &h, &n, want);
    if (!px) {
        const char *why = stbi_failure_reason(); /* thread-local in stb */
        return why && strcmp(why, "outofmem") == 0 ? -ENOMEM : ERR_BADREQ;
    }
    if (want)
        n = want;
    /* The decoder must agree with the header the limits were checked against. */
    if (w != hd->w || h != hd->h || n < 1 || n > 4) {
        stbi_image_free(px);
        return ERR_BADREQ;
    }
    *pic = (struct pic){.px = px, .w = w, .h = h, .n = n};
    if (hd->fmt == FMT_GIF)
        drop_opaque_alpha(pic);
    return 0;
}

/* Averages one fx x fy block (clipped at the image edge) into d. Colour is weighted by alpha
 * so that the invisible colour of transparent pixels does not bleed into visible ones. */
static void box_average(const struct pic *pic, int x0, int y0, int fx, int fy, unsigned char *d)
{
    int n = pic->n, ai = n == 4 ? 3 : n == 2 ? 1 : -1;
    int x1 = x0 + fx < pic->w ? x0 + fx : pic->w, y1 = y0 + fy < pic->h ? y0 + fy : pic->h;
    uint64_t sum[4] = {0, 0, 0, 0}, cnt = (uint64_t)(x1 - x0) * (uint64_t)(y1 - y0);
    for (int y = y0; y < y1; y++) {
        const unsigned char *s = pic->px + ((size_t)y * (size_t)pic->w + (size_t)x0) * (size_t)n;
        for (int x = x0; x < x1; x++, s += n) {
            unsigned a = ai >= 0 ? s[ai] : 1;
            for (int c = 0; c < n; c++)
                sum[c] += c == ai ? s[c] : (uint64_t)s[c] * a;
        }
    }
    uint64_t wsum = ai >= 0 ? sum[ai] : cnt; /* total colour weight */
    for (int c = 0; c < n; c++) {
        uint64_t div = c == ai ? cnt : wsum;
        d[c] = div ? (unsigned char)((sum[c] + div / 2) / div) : 0;
    }
}

/* stb_image_resize's cost grows with the reduction ratio (its filter margins are scaled by
 * it: a 36 MP image to 8x8 takes seconds), so a cheap integer box filter first brings the
 * image to at least twice the target, like the DCT scaling of JPEG, and stbir does the
 * exact last step. */
static int box_shrink(struct pic *pic, int ow, int oh)
{
    int fx = pic->w / (2 * ow), fy = pic->h / (2 * oh);
    if (fx < 1)
        fx = 1;
    if (fy < 1)
        fy = 1;
    if (fx == 1 && fy == 1)
        return 0;
    int nw = (pic->w + fx - 1) / fx, nh = (pic->h + fy - 1) / fy;
    unsigned char *dst = pixels(nw, nh, pic->n);
    if (!dst)
        return -ENOMEM;
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++)
            box_average(pic, x * fx, y * fy, fx, fy,
                        dst + ((size_t)y * (size_t)nw + (size_t)x) * (size_t)pic->n);
    free(pic->px);
    *pic = (struct pic){.px = dst, .w = nw, .h = nh, .n = pic->n};
    return 0;
}

/* Replaces pic's pixels by a resampled ow x oh copy; filtering in linear light (sRGB
 * variant) keeps thin dark lines from fading, and alpha is premultiplied by stbir. */
static int resample(struct pic *pic, int ow, int oh)
{
    if (pic->w == ow && pic->h == oh)
        return 0;
    int rc = box_shrink(pic, ow, oh);
    if (rc != 0)
        return rc;
    unsigned char *dst = pixels(ow, oh, pic->n);
    if (!dst)
        return -ENOMEM;
    int alpha = pic->n == 4 ? 3 : pic->n == 2 ? 1 : STBIR_ALPHA_CHANNEL_NONE;
    if (!stbir_resize_uint8_srgb(pic->px, pic->w, pic->h, 0, dst, ow, oh, 0, pic->n, alpha,
                                 0)) {
        free(dst);
        return -ENOMEM;
    }
    free(pic->px);
    *pic = (struct pic){.px = dst, .w = ow, .h = oh, .n = pic->n};
    return 0;
}

static int jpeg_encode(const struct pic *pic, void **out, size_t *out_len)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return -ENOMEM;
    unsigned char *jbuf = NULL;
    unsigned long jlen = 0;
    int gray = pic->n == 1;
    int rc = tjCompress2(tj, pic->px, pic->w, pic->w * pic->n, pic->h,
                         gray ? TJPF_GRAY : TJPF_RGB, &jbuf, &jlen,
                         gray ? TJSAMP_GRAY : TJSAMP_420, IMAGE_JPEG_QUALITY, 0);
    tjDestroy(tj);
    if (rc != 0 || !jbuf || jlen == 0) {
        tjFree(jbuf);
        return -EIO;
    }
    /* Copied so the caller frees with free(), not tjFree(). */
    void *copy = xmalloc(jlen);
    memcpy(copy, jbuf, jlen);
    tjFree(jbuf);
    *out = copy;
    *out_len = jlen;
    return 0;
}

static int png_encode(const struct pic *pic, void **out, size_t *out_len)
{
    int n = 0;
    unsigned char *png = stbi_write_png_to_mem(pic->px, pic->w * pic->n, pic->w, pic->h,
                                               pic->n, &n);
    if (!png || n <= 0) {
        free(png);
        return -EIO;
    }
    *out = png; /* STBIW_MALLOC is malloc */
    *out_len = (size_t)n;
    return 0;
}

static bool params_ok(const void *src, int width, int height, int max_w, int max_h,
                      void **out, size_t *out_len, const char **ctype)
{
    if (!src || !out || !out_len || !ctype || max_w < 1 || max_h < 1)
        return false;
    if (width < 0 || height < 0 || width > max_w || height > max_h)
        return false;
    return width > 0 || height > 0;
}

int image_resize(const void *src, size_t len, int width, int height, int max_w, int max_h,
                 void **out, size_t *out_len, const char **ctype)
{
    if (!params_ok(src, width, height, max_w, max_h, out, out_len, ctype))
        return -EINVAL;
    if (len == 0 || len > IMAGE_MAX_BYTES)
        return ERR_BADREQ;
    const unsigned char *p = src;
    struct pic pic = {0};
    struct head hd;
    tjhandle tj = NULL;
    int rc;
    if (sniff(p, len) == FMT_JPEG && !(tj = tjInitDecompress()))
        return -ENOMEM;
    if ((rc = read_head(tj, p, len, &hd)) != 0)
        goto out;
    if ((int64_t)hd.w * hd.h > IMAGE_MAX_PIXELS) {
        rc = ERR_BADREQ;
        goto out;
    }
    /* A 0 dimension follows the other but stays within its maximum: a 60x65535 strip asked
     * for width 33 would otherwise become 33x36044, and stbir's cost grows with the square
     * of an output side. */
    int ow, oh;
    fit(hd.w, hd.h, width ? width : max_w, height ? height : max_h, &ow, &oh);
    if (ow == hd.w && oh == hd.h) {
        void *copy = xmalloc(len);
        memcpy(copy, src, len);
        *out = copy;
        *out_len = len;
        *ctype = fmt_ctype(hd.fmt);
        goto out;
    }
    if (hd.fmt == FMT_JPEG)
        rc = jpeg_decode(tj, p, len, &hd, ow, oh, &pic);
    else
        rc = stb_decode(p, len, &hd, &pic);
    if (rc == 0)
        rc = resample(&pic, ow, oh);
    if (rc == 0 && hd.fmt == FMT_JPEG)
        rc = jpeg_encode(&pic, out, out_len);
    else if (rc == 0)
        rc = png_encode(&pic, out, out_len);
    if (rc == 0)
        *ctype = fmt_ctype(hd.fmt == FMT_JPEG ? FMT_JPEG : FMT_PNG);
out:
    free(pic.px); /* stbi_image_free is free() too */
    if (tj)
        tjDestroy(tj);
    return rc;
}

int image_info(const void *src, size_t len, int *width, int *height, const char **ctype)
{
    if (!src || !width || !height || !ctype)
        return -EINVAL;
    if (len == 0 || len > IMAGE_MAX_BYTES)
        return ERR_BADREQ;
    struct head hd;
    tjhandle tj = NULL;
    if (sniff(src, len) == FMT_JPEG && !(tj = tjInitDecompress()))
        return -ENOMEM;
    int rc = read_head(tj, src, len, &hd);
    if (tj)
        tjDestroy(tj);
    if (rc != 0)
        return rc;
    *width = hd.w;
    *height = hd.h;
    *ctype = fmt_ctype(hd.fmt);
    return 0;
}

bool image_supported(const char *name)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".gif"};
    if (!name)
        return false;
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash + 1 : name, '.');
    if (!dot)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(exts); i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return true;
    return false;
}
