/* Fuzz target for query strings and urlencoded form bodies: never more than HTTP_ARGS_MAX
 * arguments, every decoded key and value NUL-free, and the arguments freed cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_req req;
    memset(&req, 0, sizeof req);
    if (size > 65536)
        return 0;
    (void)http_req_parse_urlencoded(&req, (const char *)data, size);
    CHECK(req.nargs <= HTTP_ARGS_MAX);
    for (size_t i = 0; i < req.nargs; i++) {
        CHECK(req.args[i].key && req.args[i].value);
        CHECK(strlen(req.args[i].key) <= size && strlen(req.args[i].value) <= size);
    }
    if (req.nargs)
        CHECK(http_req_arg(&req, req.args[0].key) == req.args[0].value);
    http_req_free_args(&req);
    return 0;
}
