/* Lookup over the generated table of embedded web assets. */
#include "web_assets.h"

#include <string.h>

const struct web_asset *web_asset_find(const char *name)
{
    for (const struct web_asset *a = web_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}
