/* /<group>/delete by `path` (that one stored path) or `md5` (every path holding that
 * content). Paths are removed one at a time under the content's lock, so a hard-linked
 * copy in another scene keeps its bytes until its own path is deleted. Each removal leaves
 * a tombstone and a delete job for every peer, in the same batch. */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "content.h"
#include "errcode.h"
#include "fileinfo.h"
#include "http_reply.h"
#include "log.h"
#include "meta.h"
#include "server.h"
#include "store.h"
#include "sync.h"

#define DELETE_BATCH 16

static int delete_one(struct server *srv, const struct file_info *fi, bool replicate)
{
    /* index first: a crash in between leaves an unindexed file (repairable), never an
     * index entry that points at nothing */
    int rc = sync_index(srv, fi, false, replicate, NULL, 0);
    return rc ? rc : content_remove(srv, fi);
}

static int delete_all(struct server *srv, const char *digest, bool replicate)
{
    struct file_info all[DELETE_BATCH];
    /* bounded rounds: each removes up to DELETE_BATCH paths of the content */
    for (int round = 0; round < 1000; round++) {
        int n = meta_find_digest(srv->meta, digest, all, DELETE_BATCH);
        if (n <= 0)
            return n;
        for (int i = 0; i < n; i++) {
            int rc = delete_one(srv, &all[i], replicate);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int api_delete(struct http_req *req, struct http_reply *rep, struct server *srv)
{
    struct file_info fi;
    int rc = api_lookup(srv, req, &fi);
    if (rc)
        return rc;
    const char *md5 = http_req_arg(req, "md5");
    /* md5= naming the content removes every path of it; a path key or path= removes one */
    bool whole = md5 && *md5 && strcasecmp(md5, fi.md5) == 0;
    pthread_mutex_t *lk = server_digest_lock(srv, fi.md5);
    pthread_mutex_lock(lk);
    /* a delete a peer relays to us is not relayed again */
    bool replicate = !req->peer_signed;
    rc = whole ? delete_all(srv, fi.md5, replicate) : delete_one(srv, &fi, replicate);
    pthread_mutex_unlock(lk);
    if (rc)
        return rc;
    http_reply_ok(rep, NULL, "remove success");
    return 0;
}
