/*
 * agent/k8s_source.h - the Kubernetes source component: runs the k8s/
 * client and hands each new endpoint set to the daemon
 * (AGENT_EV_LOCAL_CHANGED), which merges it into the catalog (see
 * k8s_source.c). Included by the daemon only.
 */
#ifndef ANYSTEER_AGENT_K8S_SOURCE_H
#define ANYSTEER_AGENT_K8S_SOURCE_H

#include "agent/catalog.h"
#include "agent/component.h"

extern const struct agent_component_ops agent_k8s_ops;

/* What the daemon's last merge left out of its set: counted in the
 * metrics, logged (rate-limited) when it grows. */
void agent_k8s_catalog_skips(void *self, const struct agent_catalog_skips *sk);

#endif
