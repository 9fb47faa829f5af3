/*
 * agent/catalog.h - the catalog the agent serves from: the config's
 * static services followed by one service per hostname of the Kubernetes
 * source. Pure: structs in, structs out, no loop, no logging; the daemon
 * owns the result and hands it to the components through their context.
 */
#ifndef ANYSTEER_AGENT_CATALOG_H
#define ANYSTEER_AGENT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "k8s/k8s.h"

/* A merged catalog. services points either at the config's own array
 * (no source) or at the arrays below, which point into the config and
 * into the source's set: valid while both are. */
struct agent_catalog {
	const struct agent_service *services;
	size_t n_services;
	struct agent_service *own_svcs;		/* allocated, or NULL */
	struct agent_endpoint *own_eps;
};

/* Source entries left out of the catalog, by reason (the current set). */
struct agent_catalog_skips {
	uint64_t no_port;	/* no TCP or UDP port */
	uint64_t ns_label;	/* the label is one of the zone's nameservers */
	uint64_t bad_name;	/* else not a service name of the zone
				 * (dns_name_service_problem) */
	uint64_t bad_intent;	/* answered, but anysteer.io/path or
				 * path-avoid is not valid: not steered */
};

/*
 * Static services first, in config order, then the source's entries in
 * set order. A name in both keeps the static attributes and gets both
 * sets of endpoints (an address already there is not added twice).
 * Entries without a TCP/UDP port and entries whose name is one of the
 * zone's own nameserver names (ns.<zone> and the like: answering it as a
 * service would clash with the NS glue) are left out and counted in
 * *skips. An entry's anysteer.io/path and path-avoid become its intent
 * when srv6/ accepts the words (the config's own rule), else it has none
 * (counted). set NULL: the config's catalog, nothing allocated. On failure
 * (AS_ENOMEM) *out is untouched.
 */
int agent_catalog_merge(const struct agent_config *c, const struct k8s_set *set,
			struct agent_catalog *out, struct agent_catalog_skips *skips);
void agent_catalog_free(struct agent_catalog *cat);

/* True when <label>.<zone> is one of the zone's nameserver names (the
 * rule is dns/'s: dns_name_is_nameserver). */
bool agent_catalog_is_ns_label(const struct agent_config *c, const char *label);

#endif
