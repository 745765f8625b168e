/* Fuzz target for image: the input is the whole file (JPEG, PNG, GIF or anything else) and
 * is scaled into a few small boxes. Nothing may crash or leak; a success must be a decodable
 * image of the fitted size in the promised format. Inputs whose header claims more than
 * 2 MP only go through the header checks, which keeps each run fast; the refusal of larger
 * claims is the unit test's job. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#include "fuzz_check.h"

#define MAXD 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size, int bw, int bh, int sw, int sh,
                const char *sct)
{
    void *out = NULL;
    size_t len = 0;
    const char *ct = NULL;
    if (image_resize(data, size, bw, bh, MAXD, MAXD, &out, &len, &ct) != 0)
        return;
    bw = bw ? bw : MAXD; /* a 0 side follows the other within the maximum */
    bh = bh ? bh : MAXD;
    CHECK(out && len > 0 && ct);
    int w = 0, h = 0;
    const char *oct = NULL;
    CHECK(image_info(out, len, &w, &h, &oct) == 0);
    CHECK(strcmp(ct, oct) == 0);
    CHECK(w >= 1 && h >= 1 && w <= sw && h <= sh);
    if (w == sw && h == sh) {
        /* not scaled: the source itself */
        CHECK(len == size && memcmp(out, data, size) == 0 && strcmp(ct, sct) == 0);
    } else {
        CHECK(w <= bw && h <= bh);
        CHECK(strcmp(ct, "image/jpeg") == 0 || strcmp(ct, "image/png") == 0);
        CHECK(w == bw || h == bh);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sw = 0, sh = 0;
    const char *sct = NULL;
    char name[64];
    size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, n);
    name[n] = '\0';
    (void)image_supported(name);
    if (image_info(data, size, &sw, &sh, &sct) != 0) {
        void *out = NULL;
        size_t len = 0;
        const char *ct = NULL;
        CHECK(image_resize(data, size, 8, 8, MAXD, MAXD, &out, &len, &ct) != 0);
        return 0;
    }
    CHECK(sw >= 1 && sh >= 1 && sct);
    if ((long long)sw * sh > 2000000)
        return 0;
    one(data, size, 8, 8, sw, sh, sct);
    one(data, size, 0, 5, sw, sh, sct);
    one(data, size, 33, 0, sw, sh, sct);
    return 0;
}
