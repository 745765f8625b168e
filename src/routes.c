/* The whole HTTP surface on one screen. Paths of ROUTE_GROUP entries live below "/<group>"
 * when support_group_manage is on (go-fastdfs's URL forms); access is checked by the
 * router's caller before any handler runs. */
#include "routes.h"

#include "api.h"
#include "http.h"

#define GET_ (HTTP_GET | HTTP_HEAD)
#define ANY_ (HTTP_GET | HTTP_HEAD | HTTP_POST)
/* routes that change state: no HEAD, which clients and proxies treat as safe */
#define MUT_ (HTTP_GET | HTTP_POST)

const struct route routes_table[] = {
    /* path               flags                     methods  access        body         handler */
    {"/upload", ROUTE_GROUP, ANY_, ACCESS_PUBLIC, BODY_STREAM, api_upload, &api_upload_stream,
     HTTP_POST, "upload a file (POST multipart) or look one up by md5 (GET)"},
    {"/check_file_exist", ROUTE_GROUP, ANY_, ACCESS_PUBLIC, BODY_FORM, api_check_file_exist,
     0, 0, "record of a stored file by md5 or path"},
    {"/check_files_exist", ROUTE_GROUP, ANY_, ACCESS_PUBLIC, BODY_FORM, api_check_files_exist,
     0, 0, "records of several digests (md5s=a,b,c)"},
    {"/status", ROUTE_GROUP, ANY_, ACCESS_PUBLIC, BODY_FORM, api_status, 0, 0,
     "node status and counters"},
    {"/get_file_info", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_get_file_info, 0, 0,
     "record by md5 or path"},
    {"/delete", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_delete, 0, 0,
     "delete by md5 (all paths of the content) or path"},
    {"/stat", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_stat, 0, 0,
     "per-day file counts and sizes"},
    {"/list_dir", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_list_dir, 0, 0,
     "list a directory below files/"},
    {"/search", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_search, 0, 0,
     "records whose name contains kw"},
    {"/repair_fileinfo", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_repair_fileinfo, 0, 0,
     "rebuild the index from files/"},
    {"/syncfile_info", ROUTE_GROUP, MUT_, ACCESS_PEER, BODY_FORM, api_syncfile_info, 0, 0,
     "peer: announce a record; answers have, queued or deleted"},
    {"/syncfile_infos", ROUTE_GROUP, MUT_, ACCESS_PEER, BODY_FORM, api_syncfile_infos, 0, 0,
     "peer: announce up to 64 records at once (fileInfos=[...]); an answer per record"},
    {"/sync_delete", ROUTE_GROUP, MUT_, ACCESS_PEER, BODY_FORM, api_sync_delete, 0, 0,
     "peer: replicate the delete of one path (pk, md5)"},
    {"/get_md5s_by_date", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_get_md5s_by_date, 0,
     0, "digests of a day (format=pairs: path key and digest per line)"},
    {"/receive_md5s", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_receive_md5s, 0, 0,
     "push the records of these digests (md5s=a,b) to the caller or all peers"},
    {"/sync", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_sync, 0, 0,
     "push every record of a day (date=yyyymmdd) to all peers"},
    {"/repair", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_repair, 0, 0,
     "anti-entropy pass against every peer now (force=1 also re-hashes local files)"},
    {"/repair_stat", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_repair_stat, 0, 0,
     "recount one day (date=yyyymmdd)"},
    {"/gen_google_secret", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_gen_google_secret, 0,
     0, "a new base32 TOTP secret"},
    {"/gen_google_code", ROUTE_GROUP, ANY_, ACCESS_ADMIN, BODY_FORM, api_gen_google_code, 0, 0,
     "the current TOTP code of a secret"},
    {"/reload", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_reload, 0, 0,
     "configuration: action=get (secrets redacted), set (cfg=<json>, saved), reload (apply)"},
    {"/remove_empty_dir", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_remove_empty_dir, 0,
     0, "remove empty directories below files/ older than two minutes"},
    {"/compact", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_compact, 0, 0,
     "rewrite small-file volumes with at least percent= (default merge_compact_percent) deleted"},
    {"/backup", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_backup, 0, 0,
     "write a day's records (date=yyyymmdd) to data/backup/<date>.jsonl"},
    {"/expire", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_expire, 0, 0,
     "delete every file whose ttl has passed, now"},
    {"/delete_many", ROUTE_GROUP, MUT_, ACCESS_ADMIN, BODY_FORM, api_delete_many, 0, 0,
     "delete the files of a day (date=yyyymmdd) or under a path (prefix=), max=N"},
    {"/metrics", 0, GET_, ACCESS_ADMIN, BODY_NONE, api_metrics, 0, 0,
     "Prometheus metrics"},
    {"/upload.html", ROUTE_GROUP, GET_, ACCESS_PUBLIC, BODY_NONE, api_index, 0, 0,
     "the upload page"},
    {"/big/upload/", ROUTE_GROUP | ROUTE_PREFIX,
     GET_ | HTTP_OPTIONS | HTTP_POST | HTTP_PATCH | HTTP_DELETE, ACCESS_PUBLIC, BODY_STREAM,
     api_tus, &api_tus_stream, HTTP_POST | HTTP_PATCH,
     "tus 1.0.0 resumable uploads (GET redirects a finished upload to its file)"},
    {"/", ROUTE_GROUP | ROUTE_PREFIX, GET_, ACCESS_PUBLIC, BODY_NONE, api_download, 0, 0,
     "download a stored file (Range, conditional, disposition)"},
    {"/", 0, GET_, ACCESS_PUBLIC, BODY_NONE, api_root, 0, 0, "the upload page"},
    {"/healthz", 0, GET_, ACCESS_PUBLIC, BODY_NONE, api_healthz, 0, 0, "liveness"},
    /* without the group prefix: placement by store_lookup, and other groups' URLs */
    {"/upload", 0, ANY_, ACCESS_PUBLIC, BODY_STREAM, api_upload, &api_place_stream, HTTP_POST,
     "upload placed in a group by store_lookup (307 to another group's node)"},
    {"/", ROUTE_PREFIX, ANY_, ACCESS_PUBLIC, BODY_NONE, api_other_group, 0, 0,
     "a URL of another group: redirect to one of its nodes"},
};

const size_t routes_count = sizeof routes_table / sizeof routes_table[0];
