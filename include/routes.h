/* The one route table: every endpoint of the HTTP surface, its methods, access class, body
 * mode and handler. */
#pragma once
#include <stddef.h>
#include "http_router.h"

extern const struct route routes_table[];
extern const size_t routes_count;
