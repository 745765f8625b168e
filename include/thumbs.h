/* The on-disk cache of resized images: data/thumbs/<pathkey>/<w>x<h>. A cached image is
 * used only while it is newer than its original, and a path's cache goes with the path. */
#pragma once
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct server;

/* Opens a cached image of rel at w x h made after orig_mtime; -ENOENT when there is none. */
int thumbs_open(struct server *srv, const char *pathkey, int w, int h, time_t orig_mtime,
                int *fd, off_t *size);
/* Stores one atomically (temp + rename; not fsync'd: it is a cache). */
int thumbs_put(struct server *srv, const char *pathkey, int w, int h, const void *p,
               size_t n);
/* Drops every cached size of a path. */
void thumbs_drop(struct server *srv, const char *pathkey);
