/* The tus 1.0 state machine without HTTP: uploads being created, appended to at an exact
 * offset, verified, concatenated, terminated and expired. Bytes live in <root>/data/tus/<id>.bin
 * (never below files/, so never served); offset, length and metadata live in the index under
 * b/<id>, advanced only after the bytes are fsync'd. A finished upload is handed over as a
 * store temp file and then leaves u/<id> -> path key behind. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "path.h"

#define TUS_ID_LEN 32              /* 128 random bits, lower-case hex */
#define TUS_META_MAX 4096          /* raw Upload-Metadata header */
#define TUS_META_PAIRS_MAX 64
#define TUS_META_KEY_MAX 128
#define TUS_TOKEN_MAX 512
#define TUS_PARTS_MAX 64           /* partial uploads in one final concatenation */
#define TUS_EXPIRE_DEFAULT 86400   /* seconds an unfinished upload lives without progress */
#define TUS_SUM_MAX 20             /* raw bytes of the largest checksum (sha1) */

struct meta;
struct store_tmp;
struct tus; /* opaque */

enum tus_concat { TUS_CONCAT_NONE = 0, TUS_CONCAT_PARTIAL, TUS_CONCAT_FINAL };

/* The Upload-Metadata keys the server uses, decoded; other keys are checked and dropped. */
struct tus_meta {
    char filename[PATH_MAX_REL + 1];
    char scene[PATH_MAX_NAME + 1];
    char path[PATH_MAX_REL + 1];
    char auth_token[TUS_TOKEN_MAX + 1];
    char ttl[32];           /* seconds the stored file lives, as POST /upload's ttl */
    bool has_filename, has_scene, has_path, has_auth_token, has_ttl;
    size_t npairs;
};

/* Parses an Upload-Metadata value ("key b64,key b64,key"): at most TUS_META_MAX bytes and
 * TUS_META_PAIRS_MAX pairs, keys printable ASCII without space or comma and unique, values
 * strict base64 (padding optional); known values must not decode to a NUL byte or exceed
 * their field. Empty or blank input is valid. Returns 0 or ERR_PARAM (*out zeroed). */
int tus_meta_parse(const char *s, size_t n, struct tus_meta *out);

/* Base64 (standard alphabet, '=' padding optional) of [s, s+n) into out; -EINVAL on a bad
 * character or length, -EMSGSIZE when it does not fit. */
int tus_base64_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen);

/* Upload-Checksum "md5 <b64>" or "sha1 <b64>": 0, ERR_PARAM when malformed, -ENOTSUP for
 * another algorithm. */
int tus_checksum_parse(const char *hdr, enum digest_algo *algo, unsigned char sum[TUS_SUM_MAX],
                       size_t *sumlen);

/* Upload-Concat: "partial", or "final;<url> <url>..." whose URLs end in upload ids (into
 * ids, at most max). 0 or ERR_PARAM. */
int tus_concat_parse(const char *hdr, enum tus_concat *kind, char (*ids)[TUS_ID_LEN + 1],
                     size_t max, size_t *nids);

/* Exactly TUS_ID_LEN lower-case hex digits. */
bool tus_id_valid(const char *s);

struct tus_cfg {
    const char *root;       /* the server root ("" = current directory) */
    struct meta *meta;
    enum digest_algo algo;  /* content digest of finished uploads */
    uint64_t max_size;      /* 0 = unlimited */
    int64_t expire_s;       /* 0 = TUS_EXPIRE_DEFAULT */
    int64_t sweep_s;        /* sweeper period; 0 = 60 */
    int64_t (*now)(void);   /* clock (tests); NULL = time(NULL) */
};

struct tus_info {
    char id[TUS_ID_LEN + 1];
    int64_t length;          /* -1 while deferred (Upload-Defer-Length) */
    uint64_t offset;         /* bytes durable on disk */
    int64_t created, expires;
    enum tus_concat concat;
    bool gone;               /* terminated or expired (kept a while to answer 410) */
    char metadata[TUS_META_MAX + 1];
};

/* Creates <root>/data/tus, removes its files that no live upload owns. */
int tus_open(const struct tus_cfg *cfg, struct tus **out);
/* Stops the sweeper if running and frees; uploads stay on disk. */
void tus_close(struct tus *t);
/* Background removal of expired uploads every sweep_s seconds. */
int tus_sweeper_start(struct tus *t);
void tus_sweeper_stop(struct tus *t);
/* One sweep now: expired uploads lose their bytes and become tombstones, tombstones older
 * than the expiry are forgotten. Returns how many records changed, or < 0. */
int tus_sweep(struct tus *t);

/* One request at a time per upload: every call that changes an upload needs its id held.
 * -EBUSY when another request holds it. */
int tus_acquire(struct tus *t, const char *id);
void tus_release(struct tus *t, const char *id);

/* A new upload (length -1 = deferred); returns with its id held. ERR_TOOBIG over max_size,
 * ERR_PARAM for bad metadata or length. */
int tus_create(struct tus *t, int64_t length, const char *metadata, enum tus_concat kind,
               struct tus_info *out);
/* -ENOENT unknown, ERR_DELETED terminated or expired (out still filled), else 0. */
int tus_get(struct tus *t, const char *id, struct tus_info *out);
/* The path key of the record a finished upload became; -ENOENT when none. */
int tus_done_pathkey(struct tus *t, const char *id, char pathkey[DIGEST_HEX_MAX]);
/* Termination (id held): the bytes go, a tombstone stays. -ENOENT, ERR_DELETED. */
int tus_terminate(struct tus *t, const char *id);

/* Joins complete partial uploads (all released by the caller) in order into a new upload
 * that is complete at once, held on return; the partials are removed. -ENOENT for an
 * unknown part, ERR_DELETED, ERR_PARAM (not partial, unfinished, repeated), ERR_TOOBIG,
 * ERR_EMPTY, -EBUSY. */
int tus_concat_final(struct tus *t, char (*ids)[TUS_ID_LEN + 1], size_t n,
                     const char *metadata, struct tus_info *out);

/* One PATCH (or creation-with-upload) body. The id must be held. */
struct tus_chunk;
struct tus_chunk_args {
    uint64_t offset;        /* Upload-Offset the client claims */
    int64_t length;         /* Upload-Length sent with it (deferred length), or -1 */
    bool has_sum;           /* Upload-Checksum given */
    enum digest_algo sum_algo;
    unsigned char sum[TUS_SUM_MAX];
    size_t sumlen;
};
/* -ENOENT, ERR_DELETED, ERR_CONFLICT (offset differs), ERR_PARAM (length change refused),
 * ERR_TOOBIG (length over max_size). */
int tus_chunk_begin(struct tus *t, const char *id, const struct tus_chunk_args *a,
                    struct tus_chunk **out);
/* Writes at the current position; ERR_TOOBIG past the length (or max_size when deferred),
 * writing nothing of that piece. */
int tus_chunk_write(struct tus_chunk *c, const void *p, size_t n);
/* Bytes the chunk may still take (up to the length, or max_size while deferred). */
uint64_t tus_chunk_room(const struct tus_chunk *c);
/* The body is complete: fsync, verify the checksum, then advance the durable offset (into
 * *out). ERR_DIGEST on a checksum mismatch: the bytes are discarded, the offset unchanged. */
int tus_chunk_commit(struct tus_chunk *c, struct tus_info *out);
/* Ends the chunk: an uncommitted chunk without checksum keeps what arrived (the body was cut
 * short), one with a checksum is discarded. Frees c. */
void tus_chunk_end(struct tus_chunk *c);

/* Is the upload complete and meant to become a file (not a partial)? */
bool tus_info_complete(const struct tus_info *info);
/* For a complete upload (id held): links its bytes into <root>/data/tmp as tmp (discard it
 * with store_tmp_discard whatever happens) and computes the content digest, from the hash
 * kept while streaming or by reading the bytes again. */
int tus_finish_prepare(struct tus *t, const char *id, struct store_tmp *tmp,
                       char digest[DIGEST_HEX_MAX]);
/* After the commit (id held): u/<id> -> pathkey and the removal of b/<id> in one batch, then
 * the bytes are unlinked. */
int tus_finish_done(struct tus *t, const char *id, const char *pathkey);
/* Calls cb for every complete, non-partial upload not yet finished (recovery after a crash
 * between the last PATCH and the commit). Stops on a non-zero return. */
int tus_scan_complete(struct tus *t, int (*cb)(void *ctx, const char *id), void *ctx);
