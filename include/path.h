/* Everything about names a client controls: validation of path segments, confinement of
 * relative paths to the store, the go-fastdfs name sanitising, dated directory names and
 * durable directory creation. No function here ever lets a path leave its base. */
#pragma once
#include <stddef.h>
#include <stdbool.h>
#include <time.h>

#define PATH_MAX_REL 1024  /* longest relative path we accept */
#define PATH_MAX_NAME 255  /* longest single segment */

/* A single file name is acceptable if non-empty, <= PATH_MAX_NAME bytes, not "." or "..",
 * and has no '/', '\\', NUL or control byte (< 0x20, 0x7f). Returns 0 or ERR_BADPATH. */
int path_check_name(const char *name);

/* Normalises a relative path a client gave (e.g. custom `path`, `scene`, URL rest) into
 * out: strips leading/trailing '/', collapses "//", rejects (ERR_BADPATH) any "." or ".."
 * segment, '\\', NUL/control bytes, segments > PATH_MAX_NAME, total > PATH_MAX_REL.
 * An empty result is allowed only when allow_empty. */
int path_normalize_rel(const char *in, bool allow_empty, char *out, size_t outcap);

/* go-fastdfs enable_trim_file_name_special_char: removes every character of
 * / \ : * ? " < > | ( ) [ ] { } , ; ' # @ % & $ ^ ~ = + - ! and ASCII whitespace, then
 * every "..." and "..". In place; returns the new length. */
size_t path_trim_special(char *name);

/* Is the first segment of rel (relative to files/) go-fastdfs's work directory "_tmp" or
 * "_big"? They hold uploads in flight there: never served, listed, adopted or written. */
bool path_is_workdir(const char *rel);

/* Last segment after '/' or '\\' (browsers on Windows send full paths). Borrowed. */
const char *path_basename(const char *p);

/* Lower-cased extension including the dot ("" if none), into out. */
void path_extension(const char *name, char *out, size_t outcap);

/* "yyyymmdd/HH/MM" of t in local time into out (>= 16 bytes). */
void path_date_dirs(time_t t, char *out, size_t outcap);
/* "yyyymmdd" of t in local time into out (>= 9 bytes). */
void path_day(time_t t, char *out, size_t outcap);

/* mkdir -p of rel below the directory fd base (mode 0775); each directory it creates is
 * made durable by fsync of its parent. rel must already be normalised. */
int path_mkdirs_at(int base, const char *rel);

/* Opens rel (normalised) below base without ever resolving outside it: uses openat2
 * RESOLVE_BENEATH where the kernel has it, else walks the segments with O_NOFOLLOW.
 * flags are open(2) flags (O_CLOEXEC is added). Returns an fd or a negative errno. */
int path_open_beneath(int base, const char *rel, int flags);

/* fsync of the directory containing rel below base (or base itself when rel has no '/'). */
int path_fsync_parent(int base, const char *rel);
