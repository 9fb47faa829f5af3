/*
 * agent/cluster.h - the cluster component: gossip membership, this
 * node's record (its catalog endpoints with their probe health, its
 * load), the keyring on disk, and the members the answer view is built
 * from (see cluster.c). Included by the daemon only.
 */
#ifndef ANYSTEER_AGENT_CLUSTER_H
#define ANYSTEER_AGENT_CLUSTER_H

#include "agent/component.h"

/* Runs first, so the first view already comes from gossip; its stop is a
 * graceful leave (the sockets close after gossip.leave_timeout). */
extern const struct agent_component_ops agent_cluster_ops;

/* Every member (any state) for the answer view, malloc'd; the records
 * point into the core: use them before the loop runs again. */
int agent_cluster_members(void *self, struct gossip_member **out, size_t *n);
/* A view was built from them; skipped: gossiped endpoints left out. */
void agent_cluster_view_built(void *self, uint64_t skipped);

#endif
