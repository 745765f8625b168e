/* File lifetimes: uploads with a ttl expire, and admins delete by day or by path prefix.
 * Every removal goes through the same path as a delete (tombstone and replication), so an
 * expired file never comes back from a peer. */
#pragma once
#include <stdbool.h>

struct server;

/* Starts the sweeper (every lifecycle_interval seconds; none when 0). */
int lifecycle_start(struct server *srv);
void lifecycle_stop(struct server *srv);
/* Deletes every record whose expireAt has passed; returns how many (or < 0). */
long long lifecycle_expire_now(struct server *srv);
/* Deletes the records of a day (yyyymmdd) or under a path prefix below files/ (one of
 * them non-NULL), at most max; returns how many (or < 0). */
long long lifecycle_delete_matching(struct server *srv, const char *day, const char *prefix,
                                    long long max);
