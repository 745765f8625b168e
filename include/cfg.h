/* The node's configuration: go-fastdfs cfg.json keys, parsed through one declarative table
 * in cfg.c (jansson is included only there). Unknown or ill-typed keys fail with messages
 * naming the key; every key can be overridden by the environment variable
 * FILESERVER_<KEY IN UPPER CASE>. A struct cfg is immutable once loaded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CFG_LIST_MAX 64

struct cfg_strlist {
    char *v[CFG_LIST_MAX]; /* owned */
    size_t n;
};

struct cfg {
    /* go-fastdfs keys (reference section 11), field names equal the JSON keys */
    char *addr;                       /* ":8080" */
    bool enable_https;
    char *peer_id;
    char *host;                       /* "http://ip:port" */
    struct cfg_strlist peers;
    char *group;                      /* "group1" */
    bool support_group_manage;
    bool enable_merge_small_file;
    int64_t merge_volume_size;      /* bytes after which a volume is sealed */
    int64_t merge_compact_percent;  /* deleted share that makes a sealed volume compacted */
    int64_t merge_compact_interval; /* seconds between automatic compactions (0: none) */
    bool enable_image_resize;
    int64_t image_max_width, image_max_height;
    struct cfg_strlist extensions;    /* normalised to ".ext", lower case */
    int64_t refresh_interval;
    bool enable_trim_file_name_special_char;
    bool rename_file;
    bool enable_web_upload;
    bool enable_pprof_debug;
    bool enable_custom_path;
    char *download_domain;
    struct cfg_strlist scenes;        /* "name" or "name:googlesecret" */
    char *default_scene;
    bool show_dir;
    struct cfg_strlist alarm_receivers;
    char *alarm_url;
    bool download_use_token;
    int64_t download_token_expire;
    bool auto_repair;
    char *file_sum_arithmetic;        /* "md5" | "sha1" */
    char *admin_key;
    struct cfg_strlist admin_ips;
    bool enable_migrate;
    bool enable_distinct_file;
    bool enable_cross_origin;
    bool enable_google_auth;
    char *auth_url;
    bool enable_download_auth;
    bool default_download;
    bool read_only;
    bool enable_tus;
    int64_t sync_timeout;
    int64_t read_timeout, write_timeout, idle_timeout, read_header_timeout;
    int64_t sync_worker, upload_worker, retry_count, sync_delay;
    bool enable_fsnotify;
    /* our additions */
    int64_t max_upload_size;          /* bytes, 0 = unlimited; default 0 */
    int64_t http_threads;             /* 0 = one per core */
    char *log_level;                  /* "info" */
    char *cluster_secret;             /* generated; authenticates peer calls */
    char *sync_mode;                  /* "group" (one syncfs per batch) | "file" (fsync) */
    struct cfg_strlist group_nodes;   /* "group2=http://a:8080,http://b:8080" per other group */
    int64_t store_lookup;             /* /upload placement: 0 round robin, 1 store_group, 2 free */
    char *store_group;                /* the group for store_lookup 1 */
    char *download_token_secret;      /* keyed download tokens; generated */
    int64_t google_auth_window;       /* TOTP steps accepted either side of now */
    struct cfg_strlist cors_origins;  /* allowed origins (empty: any, no credentials) */
    int64_t auth_timeout;             /* seconds for auth_url */
    int64_t auth_cache_seconds;       /* cache accepted auth_url tokens (0: off) */
    char *https_ca_file;              /* CA for peers' HTTPS */
    int64_t max_connections_per_ip;   /* 0: no per-address limit */
    int64_t download_cache_size;    /* bytes of small files cached for downloads (0: none) */
    int64_t lifecycle_interval;       /* seconds between expiry sweeps (0: none) */
    char *mail_host;                  /* smtp://host:port for alarm mail */
    char *mail_user, *mail_password, *mail_from;
    int64_t alarm_disk_percent;       /* disk use that raises an alarm */
    int64_t alarm_peer_down;          /* seconds a peer may be unreachable or behind */
    int64_t alarm_interval;           /* seconds between checks */
};

/* Fills c with defaults (the values a generated cfg.json has), allocating strings. */
void cfg_defaults(struct cfg *c);

/* Parses JSON text over the current contents of c (call cfg_defaults first). Collects
 * every problem as "key: reason" lines into err (NUL-terminated, truncated to errcap).
 * Returns 0 or ERR_CONFIG. Keys containing a non-ASCII byte are go-fastdfs's comment
 * keys and are ignored. */
int cfg_parse_buf(struct cfg *c, const char *json, size_t len, char *err, size_t errcap);

/* Applies FILESERVER_<KEY> environment overrides (and GO_FASTDFS_IP/PEER_ID/PEERS) to c;
 * values are parsed by the key's type (lists: JSON array or comma-separated). */
int cfg_apply_env(struct cfg *c, char *err, size_t errcap);

/* Loads path; if it does not exist, generates it (peer id, host from addr's port and the
 * first non-loopback IPv4 or GO_FASTDFS_IP, admin key, cluster secret) with mode 0600
 * and loads that. Then applies the environment and validates. On success *c is
 * overwritten (its old contents are not freed: pass a zeroed struct); on failure it is
 * left untouched. */
int cfg_load(struct cfg *c, const char *path, char *err, size_t errcap);

/* Cross-key validation (addr parses, file_sum_arithmetic known, sizes >= 0, ...). */
int cfg_validate(const struct cfg *c, char *err, size_t errcap);

/* Writes c to path atomically (temp, fsync, rename, fsync dir; mode 0600). */
int cfg_save(const struct cfg *c, const char *path);
/* Applies to live the keys of next that differ and can change while running (scalars read
 * per request); lists the applied and the restart-only changed keys (comma-separated). */
int cfg_reload_apply(struct cfg *live, const struct cfg *next, char *applied, size_t acap,
                     char *restart, size_t rcap);

/* Serialises c as pretty JSON (every key, sorted as in the table); caller frees. */
char *cfg_to_json(const struct cfg *c);

/* Port number from addr (":8080", "0.0.0.0:8080", "[::1]:8080"), or -1. */
int cfg_addr_port(const struct cfg *c);

void cfg_fini(struct cfg *c);

/* Number of keys in the table and the i-th key's name (for docs and tests). */
size_t cfg_key_count(void);
const char *cfg_key_name(size_t i);
/* Markdown table of every key (type, default, meaning): docs/CONFIG.md is this output. */
void cfg_print_keys(FILE *out);
