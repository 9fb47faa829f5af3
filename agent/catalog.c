/*
 * agent/catalog.c - the catalog merge (see catalog.h).
 *
 * The merged arrays only point into the config and into the source's
 * current set, both of which stay put until the next merge (the daemon
 * merges after every config swap and every set the source delivers), so
 * a merge allocates two arrays and no strings. Each static service gets
 * room for its Kubernetes namesake's endpoints right behind its own.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "agent/catalog.h"
#include "dns/dns.h"
#include "lib/as.h"
#include "srv6/srv6.h"

bool agent_catalog_is_ns_label(const struct agent_config *c, const char *label)
{
	return dns_name_is_nameserver(label, c->dns.zone,
				      (const char *const *)c->dns.nameservers,
				      c->dns.n_nameservers);
}

/* The port clients use: pods are reached directly, so the port the pods
 * listen on (from the EndpointSlices) rather than the Service port that
 * kube-proxy would translate. The first TCP or UDP port of the Service. */
static const struct k8s_port *pick_port(const struct k8s_entry *e)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (!strcmp(e->ports[i].protocol, "tcp") ||
		    !strcmp(e->ports[i].protocol, "udp"))
			return &e->ports[i];
	return NULL;
}

static int find_service(const struct agent_service *s, size_t n,
			const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return (int)i;
	return -1;
}

static bool has_address(const struct agent_service *s,
			const struct k8s_endpoint *ep)
{
	for (size_t i = 0; i < s->n_endpoints; i++)
		if (s->endpoints[i].family == ep->family &&
		    !memcmp(s->endpoints[i].addr, ep->addr,
			    ep->family == AF_INET ? 4 : 16))
			return true;
	return false;
}

/* Copies the static services, each followed by room for the endpoints
 * of its source namesake; returns the endpoints used. */
static size_t place_static(const struct agent_config *c, const struct k8s_set *set,
			   struct agent_service *svcs, struct agent_endpoint *eps)
{
	size_t ne = 0;

	for (size_t i = 0; i < c->n_services; i++) {
		svcs[i] = c->services[i];
		svcs[i].endpoints = eps + ne;
		if (c->services[i].n_endpoints)	/* NULL when empty */
			memcpy(eps + ne, c->services[i].endpoints,
			       c->services[i].n_endpoints * sizeof(*eps));
		ne += c->services[i].n_endpoints;
		for (size_t j = 0; j < set->n_entries; j++)
			if (!strcmp(set->entries[j].label, c->services[i].name))
				ne += set->entries[j].n_endpoints;
	}
	return ne;
}

/* Appends e's endpoints to s (this node's, with e's weight). */
static void add_endpoints(const struct agent_config *c, const struct k8s_entry *e,
			  struct agent_service *s)
{
	for (size_t i = 0; i < e->n_endpoints; i++) {
		if (has_address(s, &e->endpoints[i]))
			continue;
		struct agent_endpoint *d = &s->endpoints[s->n_endpoints++];
		d->address = e->endpoints[i].address;
		d->family = e->endpoints[i].family;
		memcpy(d->addr, e->endpoints[i].addr, sizeof(d->addr));
		d->weight = e->endpoints[i].weight;
		d->node = c->node.name;
	}
}

/* The entry's path annotations into the intent (not steered when
 * absent; the answer objective keys are set by the caller); false when
 * they are there but not valid. */
static bool intent_of(const struct k8s_entry *e, struct agent_intent *in)
{
	in->steered = false;
	in->path = NULL;
	in->avoid = NULL;
	in->n_avoid = 0;
	if (!e->path && !e->n_path_avoid)
		return true;
	if (e->path && srv6_metric_parse(e->path) < 0)
		return false;
	if (e->n_path_avoid > SRV6_TAGS_MAX)
		return false;
	for (size_t i = 0; i < e->n_path_avoid; i++)
		if (srv6_name_problem(e->path_avoid[i]))
			return false;
	in->steered = true;
	in->path = e->path ? e->path : (char *)"latency";
	in->avoid = e->path_avoid;
	in->n_avoid = e->n_path_avoid;
	return true;
}

int agent_catalog_merge(const struct agent_config *c, const struct k8s_set *set,
			struct agent_catalog *out, struct agent_catalog_skips *skips)
{
	struct agent_catalog_skips sk = { 0 };

	if (!set) {
		*out = (struct agent_catalog){ c->services, c->n_services, NULL, NULL };
		*skips = sk;
		return AS_OK;
	}
	size_t n_svc = c->n_services + set->n_entries, n_eps = 0;
	for (size_t i = 0; i < c->n_services; i++)
		n_eps += c->services[i].n_endpoints;
	for (size_t i = 0; i < set->n_entries; i++)
		n_eps += set->entries[i].n_endpoints;
	struct agent_service *svcs = calloc(n_svc ? n_svc : 1, sizeof(*svcs));
	struct agent_endpoint *eps = calloc(n_eps ? n_eps : 1, sizeof(*eps));
	if (!svcs || !eps) {
		free(svcs);
		free(eps);
		return AS_ENOMEM;
	}
	size_t ns = c->n_services, ne = place_static(c, set, svcs, eps);
	for (size_t j = 0; j < set->n_entries; j++) {
		const struct k8s_entry *e = &set->entries[j];
		int at = find_service(svcs, c->n_services, e->label);
		struct agent_service *s;
		if (at >= 0) {
			s = &svcs[at];
		} else {
			/* dns_view_new() refuses a view with a name its rule
			 * refuses (ns.<zone> would clash with the NS glue):
			 * one bad annotation must not freeze the answers. */
			if (dns_name_service_problem(e->label, c->dns.zone,
					(const char *const *)c->dns.nameservers,
					c->dns.n_nameservers)) {
				if (agent_catalog_is_ns_label(c, e->label))
					sk.ns_label++;
				else
					sk.bad_name++;
				continue;
			}
			const struct k8s_port *p = pick_port(e);
			if (!p) {
				sk.no_port++;
				continue;
			}
			s = &svcs[ns++];
			*s = (struct agent_service){
				.name = e->label,
				.port = p->target_port ? p->target_port : p->port,
				.protocol = p->protocol,
				.ttl = e->ttl,
				.max_answers = e->max_answers,
				.endpoints = eps + ne,
				.origin = e->origin,
				/* names checked by k8s/ as the configuration
				 * does; viewspec reads them with dns/'s
				 * parsers (anything else is balance) */
				.intent = {
					.objective = e->objective,
					.spill_over = e->spill_over >= 0 ?
						e->spill_over : DNS_SPILL_OVER_DEFAULT,
					.spread = e->spread,
				},
			};
			if (!intent_of(e, &s->intent))
				sk.bad_intent++;
			ne += e->n_endpoints;
		}
		add_endpoints(c, e, s);
	}
	*out = (struct agent_catalog){ svcs, ns, svcs, eps };
	*skips = sk;
	return AS_OK;
}

void agent_catalog_free(struct agent_catalog *cat)
{
	free(cat->own_svcs);
	free(cat->own_eps);
	memset(cat, 0, sizeof(*cat));
}
