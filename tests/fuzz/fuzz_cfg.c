/* Fuzz target for cfg: any bytes through cfg_defaults + cfg_parse_buf + cfg_validate + cfg_fini.
 * A configuration that parses and validates must also survive its own serialisation: the
 * output of cfg_to_json parses and validates again to the same text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg c;
    char err[1024];
    cfg_defaults(&c);
    int rc = cfg_parse_buf(&c, (const char *)data, size, err, sizeof(err));
    if (rc == 0)
        rc = cfg_validate(&c, err, sizeof(err));
    if (rc == 0) {
        char *j1 = cfg_to_json(&c);
        struct cfg again;
        cfg_defaults(&again);
        if (cfg_parse_buf(&again, j1, strlen(j1), err, sizeof(err)) != 0 ||
            cfg_validate(&again, err, sizeof(err)) != 0)
            abort();
        char *j2 = cfg_to_json(&again);
        if (strcmp(j1, j2) != 0)
            abort();
        free(j1);
        free(j2);
        cfg_fini(&again);
    }
    cfg_fini(&c);
    return 0;
}
