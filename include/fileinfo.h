/* The go-fastdfs FileInfo record: what the index keeps for every stored path, its JSON
 * form (field names and order as go-fastdfs writes them) and the keys derived from it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "digest.h"
#include "path.h"

#define FILEINFO_PEERS_MAX 16
#define FILEINFO_URL_MAX 256

struct json_t;

struct file_info {
    char name[PATH_MAX_NAME + 1];   /* original (sanitised) upload name */
    char rename[PATH_MAX_NAME + 1]; /* on-disk name when it differs from name, else "" */
    char path[PATH_MAX_REL + 8];    /* "files/<dir>" (never with the root) */
    char md5[DIGEST_HEX_MAX];       /* content digest, md5 or sha1 hex */
    int64_t size;
    char peers[FILEINFO_PEERS_MAX][FILEINFO_URL_MAX];
    size_t npeers;
    char scene[PATH_MAX_NAME + 1];
    int64_t timestamp;              /* unix seconds */
    int64_t offset;                 /* -1 normal file, -2 adopted (migrated) file, >= 0 a
                                     * small file merged into a volume: its name's offset */
    int64_t time_ms;                /* upload time in ms ("timeMs", ours): orders a
                                     * re-upload after a delete within the same second */
    int64_t expire_at;              /* unix seconds after which the file is deleted, 0 never
                                     * ("expireAt", ours; set by the upload's ttl) */
    int64_t volume;                 /* this node's volume holding a merged small file, 0
                                     * for a plain file ("volume", ours; node-local) */
    int64_t vol_off;                /* its needle's offset there ("volumeOffset") */
};

void fileinfo_init(struct file_info *fi);
/* The on-disk name: rename if set, else name. */
const char *fileinfo_disk_name(const struct file_info *fi);
/* Path of the file relative to files/ ("<dir>/<disk name>") into out. */
int fileinfo_rel(const struct file_info *fi, char *out, size_t outcap);
/* go-fastdfs path key: md5 hex of "files/<dir>/<disk name>". */
void fileinfo_path_key(const struct file_info *fi, char out[DIGEST_HEX_MAX]);
/* Path key of a relative path below files/ ("default/2024.../a.txt"). */
void fileinfo_path_key_rel(const char *rel, char out[DIGEST_HEX_MAX]);
int fileinfo_add_peer(struct file_info *fi, const char *peer);

/* New JSON object (caller owns the reference) with go-fastdfs's fields. */
struct json_t *fileinfo_to_json(const struct file_info *fi);
/* Compact JSON text, malloc'd. */
char *fileinfo_to_text(const struct file_info *fi, size_t *len);
/* The same text through jansson's objects: the reference fileinfo_to_text must match
 * byte for byte (tests), and what it falls back to for a string that is not UTF-8. */
char *fileinfo_to_text_ref(const struct file_info *fi, size_t *len);
/* Parses JSON text into fi; unknown fields are ignored; wrong types or overlong strings
 * fail with ERR_BADREQ. Field values are validated (path confined, names checked). */
int fileinfo_from_text(struct file_info *fi, const char *text, size_t len);

/* The record kept with a file's bytes (an xattr) for an index rebuild, malloc'd. When the
 * rebuild can derive all of it but the upload time from where the file lies (layout_scene:
 * its scene is the first directory of a dated layout; no rename, ttl or volume) it is just
 * "t<time ms>", which ext4 keeps inside the inode; the full JSON costs it a block per file. */
char *fileinfo_saved_text(const struct file_info *fi, bool layout_scene, size_t *len);
/* Parses either form; the short one leaves name, scene and path empty. */
int fileinfo_from_saved(struct file_info *fi, const char *text, size_t len);
