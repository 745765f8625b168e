/* CHECK(c) for the fuzz targets: a property that does not hold aborts with its text and
 * place, which libFuzzer reports as a crash and the corpus replay as a failed test. */
#pragma once
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);        \
            abort();                                                                     \
        }                                                                                \
    } while (0)
