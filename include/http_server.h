/* The HTTP daemon (libmicrohttpd, included only by http_server.c): turns connections into
 * neutral requests, routes them, checks access, streams bodies and sends replies. */
#pragma once
#include <stdbool.h>

struct server;
struct http_server;

int http_server_start(struct server *srv, struct http_server **out);
/* Stops accepting new connections; in-flight requests go on. */
void http_server_quiesce(struct http_server *hs);
/* Requests currently being processed. */
int http_server_inflight(struct http_server *hs);
void http_server_stop(struct http_server *hs);
/* Bound port (useful when addr asked for port 0). */
int http_server_port(struct http_server *hs);
