/* Admin endpoints that change the node's state as a whole (index repair). */
#include "api.h"

#include <jansson.h>

#include "http_reply.h"
#include "server.h"

int api_repair_fileinfo(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    (void)req;
    long long n = server_rebuild_meta(srv);
    if (n < 0)
        return (int)n;
    json_t *d = json_object();
    json_object_set_new(d, "files", json_integer(n));
    http_reply_ok(rep, d, "repair finished");
    return 0;
}
