/* On-the-fly thumbnails for downloads with width/height: JPEG, PNG and GIF (first frame)
 * scaled down to fit a box and re-encoded. Every input is treated as hostile: the header is
 * checked against the limits below before any pixel memory exists. Thread-safe: no state is
 * shared between calls, so download threads may call it concurrently. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Largest width x height a header may claim (40 megapixels). Peak memory of one call is a
 * small multiple of this: about 9 bytes per pixel of the source for GIF, 4-8 for PNG, up to
 * 3 (output) + 6 (progressive coefficients) for JPEG, which DCT scaling usually shrinks. */
#define IMAGE_MAX_PIXELS (40LL * 1000 * 1000)
/* Largest side any format may claim; JPEG stops at 65500 anyway. */
#define IMAGE_MAX_SIDE 65535
/* Largest encoded input accepted (stb_image takes an int length). */
#define IMAGE_MAX_BYTES ((size_t)128 << 20)
/* Quality of re-encoded JPEGs. */
#define IMAGE_JPEG_QUALITY 85

/* Scales the image in src[0..len) down to fit width x height, keeping its aspect ratio; a 0
 * dimension follows the other, within its maximum (the result never exceeds max_w x max_h:
 * width 100 on a 100x5000 strip gives 20x1000 when max_h is 1000). Never upscales: when the
 * fit is the source size (the box is at least as large as the image) the source bytes are
 * returned unchanged after the header checks (so an animated GIF stays animated, and the
 * body is not decoded). Otherwise the result is in the source's format, except GIF -> PNG.
 * JPEG is decoded at the smallest DCT scale still >= the fit, then resized exactly.
 * The format comes from the bytes (magic), never from a file name.
 * Returns 0 with *out a malloc'd buffer (the caller frees it with free()), *out_len its
 * length and *ctype a static "image/jpeg", "image/png" or "image/gif"; out-parameters are
 * written only on success. Errors:
 *   -EINVAL     NULL argument, max_w/max_h < 1, width or height < 0 or above max_w/max_h,
 *               or both 0;
 *   ERR_BADREQ  not a JPEG/PNG/GIF, corrupt or truncated, len 0 or > IMAGE_MAX_BYTES, a side
 *               over IMAGE_MAX_SIDE or more than IMAGE_MAX_PIXELS claimed (refused after
 *               reading the header only, before decoding anything);
 *   -ENOMEM     a pixel buffer or codec handle could not be allocated (not fatal: the size
 *               is dictated by the input, so it fails the request rather than aborting);
 *   -EIO        the encoder failed. */
int image_resize(const void *src, size_t len, int width, int height, int max_w, int max_h,
                 void **out, size_t *out_len, const char **ctype);

/* Reads only the header of src[0..len): the image's width and height and its content type
 * (as image_resize would name the source). No pixel limit is applied here, but a side over
 * IMAGE_MAX_SIDE is refused. Returns 0, -EINVAL (NULL argument), ERR_BADREQ (not a
 * JPEG/PNG/GIF, a corrupt header, len 0 or > IMAGE_MAX_BYTES) or -ENOMEM (no JPEG decoder
 * handle). Out-parameters are written only on success. */
int image_info(const void *src, size_t len, int *width, int *height, const char **ctype);

/* True if the file name (or path) ends in .jpg, .jpeg, .png or .gif, in any case: the files
 * on which width/height are honoured. NULL is false. */
bool image_supported(const char *name);
