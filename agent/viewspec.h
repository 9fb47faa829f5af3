/*
 * agent/viewspec.h - the DNS view spec from the catalog and, with gossip,
 * from the cluster's members. Pure: no loop, no logging; the daemon calls
 * it on every rebuild and hands the result to dns_view_new().
 */
#ifndef ANYSTEER_AGENT_VIEWSPEC_H
#define ANYSTEER_AGENT_VIEWSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "gossip/gossip.h"

/* The arrays of a spec. Names point into the catalog, the config and the
 * members' records: use the spec before any of them changes. */
struct agent_viewspec {
	struct dns_view_spec spec;
	struct dns_service_spec *svcs;
	struct dns_endpoint_spec *eps, *nsa;
	struct dns_client_zone *czs;
};

/* Without gossip: the catalog as it is. Endpoints of this node (self)
 * carry self_factor and self_zone (NULL: none), others 1 and no zone
 * (nothing is known about their load or zone); all are healthy. Each
 * service carries its intent. */
int agent_viewspec_services_static(const struct agent_service *svcs, size_t n,
				   const char *self, const char *self_zone,
				   double self_factor, struct agent_viewspec *out);

/*
 * With gossip: every alive member's endpoints, grouped by service:
 * catalog services first (in catalog order, even with no endpoints,
 * attributes from the catalog), then services only gossip knows, by name
 * (port from the first endpoint, zone defaults otherwise). Each endpoint
 * carries its node's gossiped load factor (this node's, m.self, is
 * self_factor, which is fresher), gossiped health and its node's zone
 * (this node's is self_zone, the zone as it is now: node.zone or the
 * Kubernetes Node's label; NULL none). A gossiped name
 * that is not a lower-case DNS label or that is one of the zone's
 * nameserver names, and endpoints past 65535 for one service, are left
 * out and counted in *skipped. Each endpoint's RTT is estimated from
 * the coordinate of member `as` (NULL: this node; `explain --from`
 * plans as another member answers). O(E log S).
 */
int agent_viewspec_services_members(const struct agent_config *c,
				    const char *self_zone, const char *as,
				    const struct agent_service *svcs, size_t n,
				    const struct gossip_member *mem, size_t n_mem,
				    double self_factor, struct agent_viewspec *out,
				    uint64_t *skipped);

/* Fills out->spec around the services: zone, SOA (serial given), NS
 * names and their addresses from the config. After one of the above. */
int agent_viewspec_finish(const struct agent_config *c, uint32_t serial,
			  struct agent_viewspec *out);

void agent_viewspec_free(struct agent_viewspec *v);

#endif
