/* Alarms: a node that loses a peer, fills its disk past a threshold, or cannot replicate
 * tells someone, by POST to alarm_url (form subject, message) and by mail to
 * alarm_receivers. Each condition alarms once when it starts and again when it clears. */
#pragma once

struct server;

int alarm_start(struct server *srv);
void alarm_stop(struct server *srv);
