/* Every handler entry point, named by routes.c. Each takes the neutral request and reply and
 * returns 0 (reply filled) or a negative code (http_server replies the error). */
#pragma once
#include "http_router.h"

struct server;

/* api_upload.c */
int api_upload(struct http_req *req, struct http_reply *rep, struct server *srv);
extern const struct route_stream api_upload_stream;
int api_upload_data(struct http_req *req, const char *p, size_t n);
void api_upload_cleanup(struct http_req *req);
struct store_tmp;
struct file_info;
/* The one commit path of every upload (multipart and tus): tmp holds the complete bytes
 * (tmp->size) whose digest is `digest`; upname is the client's file name; the form
 * arguments of req (scene, path, filename, md5) decide the place. Dedupes, commits durably,
 * indexes with one replication job per peer, and fills *out. Returns 0 (stored), 1 (the
 * same content was already stored: *out is that record; tmp left for the caller to
 * discard) or a negative code. Only call it with the upload's rules (read_only, size) checked. */
int api_upload_commit(struct server *srv, struct http_req *req, struct store_tmp *tmp,
                      const char *digest, const char *upname, struct file_info *out);
/* The batch committer of POST /upload (srv->uploadq): commits up to UPLOAD_BATCH_MAX
 * parked uploads with one sync of their bytes, one of their names and one of their records,
 * then resumes them. */
#define UPLOAD_BATCH_MAX 64
/* committer threads: a second one, preparing a batch while the other waits for the disk,
 * measured no faster (7.8-8.4k against 8.2-9.3k durable 4 KiB uploads/s) */
#define UPLOAD_COMMITTERS 1
void api_upload_commit_batch(void *ctx, void **items, size_t n);
/* Validates the `output` argument (text, json, json2; default text). */
int api_upload_output(struct http_req *req, const char **output);
/* The go-fastdfs upload answer for a record in the requested output form. */
int api_upload_reply(struct server *srv, struct http_req *req, struct http_reply *rep,
                     const struct file_info *fi, const char *output);
/* api_download.c */
int api_download(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_index(struct http_req *req, struct http_reply *rep, struct server *srv);
/* "/": the upload page, or a redirect to "/<group>/" so relative links work */
int api_root(struct http_req *req, struct http_reply *rep, struct server *srv);
/* api_info.c */
int api_get_file_info(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_check_file_exist(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_check_files_exist(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_stat(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_status(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_list_dir(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_search(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_healthz(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_metrics(struct http_req *req, struct http_reply *rep, struct server *srv);
/* api_peer.c */
int api_syncfile_info(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_sync_delete(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_syncfile_infos(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_get_md5s_by_date(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_receive_md5s(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_sync(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_repair(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_repair_stat(struct http_req *req, struct http_reply *rep, struct server *srv);
/* api_groups.c */
int api_other_group(struct http_req *req, struct http_reply *rep, struct server *srv);
extern const struct route_stream api_place_stream;
/* api_delete.c */
int api_delete(struct http_req *req, struct http_reply *rep, struct server *srv);
/* api_admin.c */
int api_repair_fileinfo(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_gen_google_secret(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_gen_google_code(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_reload(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_remove_empty_dir(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_compact(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_backup(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_expire(struct http_req *req, struct http_reply *rep, struct server *srv);
int api_delete_many(struct http_req *req, struct http_reply *rep, struct server *srv);

/* api_tus.c: tus 1.0.0 resumable uploads below /<group>/big/upload/ */
int api_tus(struct http_req *req, struct http_reply *rep, struct server *srv);
extern const struct route_stream api_tus_stream;
/* Opens the tus state (storing uploads that were complete when the node stopped) and starts
 * the expiry sweeper: call before serving. api_tus_stop once the HTTP daemon has stopped. */
int api_tus_start(struct server *srv);
void api_tus_stop(struct server *srv);

/* api_common.c: helpers the handlers share. */
struct file_info;
struct json_t;
/* URL path of a record: "/<group>/<dir>/<disk name>" (no group without group management). */
int api_url_path(const struct server *srv, const struct file_info *fi, char *out, size_t cap);
#define API_DOMAIN_MAX 300
#define API_URL_MAX (PATH_MAX_REL * 4 + 400)
/* go-fastdfs FileResult for an upload reply (url, md5, path, domain, scene, size, ...). */
struct json_t *api_file_result(const struct server *srv, const struct http_req *req,
                               const struct file_info *fi);
/* Just the FileResult's url (what the text answer is), into url[API_URL_MAX]. */
void api_file_url(const struct server *srv, const struct http_req *req,
                  const struct file_info *fi, char *url, size_t cap);
/* Finds the record a request names by `md5` (content digest or path key) or `path` (a
 * download path "/group1/..." or "files/..."). -ENOENT when unknown, ERR_PARAM when bad. */
int api_lookup(struct server *srv, struct http_req *req, struct file_info *out);
/* Relative path below files/ from a download-style path; validates it. */
int api_rel_from_path(const struct server *srv, const char *path, char *out, size_t cap);
