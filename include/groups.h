/* FastDFS's tracker model without trackers: every node knows the other groups' nodes
 * (cfg group_nodes), so it can send a client to the group that holds a file and choose the
 * group for an upload to /upload (store_lookup: 0 round robin, 1 store_group, 2 the group
 * with the most free space, asked of one node per group and cached for 10 s). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct server;

int groups_start(struct server *srv);
void groups_stop(struct server *srv);
/* A node URL of group g (round robin over its nodes), or NULL when g is unknown. */
const char *groups_node(struct server *srv, const char *g);
/* The group an upload to /upload should go to (may be this node's own group). */
int groups_pick(struct server *srv, char *out, size_t cap);
