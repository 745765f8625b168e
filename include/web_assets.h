/* The files of web/, embedded at build time by cmake/EmbedFiles.cmake. */
#pragma once
#include <stddef.h>

struct web_asset {
    const char *name;
    const unsigned char *data;
    size_t len;
};

extern const struct web_asset web_assets[]; /* ends with a {0} entry */

/* NULL when there is no asset of that name. */
const struct web_asset *web_asset_find(const char *name);
