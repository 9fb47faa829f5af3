/*
 * agent/viewspec.c - the DNS view spec (see viewspec.h).
 *
 * Two sources, and a rebuild uses exactly one: the catalog alone without
 * gossip, the cluster's members with it (this node's own endpoints reach
 * the view through its own gossip record, with their probe health).
 * Anything gossiped is input from other machines: a name this zone
 * cannot serve is skipped and counted, never a failed view.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "agent/catalog.h"
#include "agent/viewspec.h"
#include "lib/as.h"

/* Endpoints of one service in a view built from gossip. */
#define SERVICE_ENDPOINTS_MAX 65535

void agent_viewspec_free(struct agent_viewspec *v)
{
	free(v->svcs);
	free(v->eps);
	free(v->nsa);
	free(v->czs);
	memset(v, 0, sizeof(*v));
}

/* The intent of a catalog service as dns/ takes it. The catalog holds
 * names the configuration or agent_catalog_merge() checked; anything
 * else (none at all, say) is balance. */
static struct dns_intent intent_of(const struct agent_service *s)
{
	int o = dns_objective_parse(s->intent.objective);
	int sp = dns_spread_parse(s->intent.spread);
	double so = s->intent.spill_over;

	return (struct dns_intent){
		.objective = o < 0 ? DNS_OBJ_BALANCE : (enum dns_objective)o,
		.spill_over = so >= 0 && so <= 1 ? so : DNS_SPILL_OVER_DEFAULT,
		.spread = sp < 0 ? DNS_SPREAD_NODE : (enum dns_spread)sp,
	};
}

int agent_viewspec_services_static(const struct agent_service *svcs, size_t n,
				   const char *self, const char *self_zone,
				   double self_factor, struct agent_viewspec *out)
{
	size_t n_eps = 0, k = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		n_eps += svcs[i].n_endpoints;
	out->svcs = calloc(n ? n : 1, sizeof(*out->svcs));
	out->eps = calloc(n_eps ? n_eps : 1, sizeof(*out->eps));
	if (!out->svcs || !out->eps) {
		agent_viewspec_free(out);
		return AS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct agent_service *s = &svcs[i];
		out->svcs[i] = (struct dns_service_spec){
			.name = s->name,
			.port = s->port,
			.proto = s->protocol,
			.ttl = s->ttl,
			.max_answers = s->max_answers,
			.endpoints = out->eps + k,
			.n_endpoints = s->n_endpoints,
			.intent = intent_of(s),
		};
		for (size_t j = 0; j < s->n_endpoints; j++, k++) {
			const struct agent_endpoint *e = &s->endpoints[j];
			bool local = strcmp(e->node, self) == 0;
			out->eps[k] = (struct dns_endpoint_spec){
				.family = e->family,
				.weight = e->weight,
				.node = e->node,
				.load_factor = local ? self_factor : 1.0,
				.healthy = true,
				/* other nodes' zones come with gossip only */
				.zone = local ? self_zone : NULL,
			};
			memcpy(out->eps[k].addr, e->addr, sizeof(out->eps[k].addr));
		}
	}
	out->spec.services = out->svcs;
	out->spec.n_services = n;
	return AS_OK;
}

/* ---- from gossip ------------------------------------------------------------ */

/* A gossiped service name we can serve, by dns/'s rule (one lower-case
 * label, not a nameserver's: the catalog stores names lower case, so
 * every honest node sends them so). */
static bool servable_name(const struct agent_config *c, const char *s)
{
	if (strnlen(s, GOSSIP_SERVICE_MAX + 1) > GOSSIP_SERVICE_MAX)
		return false;
	return !dns_name_service_problem(s, c->dns.zone,
					 (const char *const *)c->dns.nameservers,
					 c->dns.n_nameservers);
}

static double sane_factor(double f)
{
	if (!isfinite(f))
		return 1;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

struct svc_key {
	const char *name;
	size_t idx;
};

static int cmp_svc_key(const void *x, const void *y)
{
	return strcmp(((const struct svc_key *)x)->name,
		      ((const struct svc_key *)y)->name);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The service index of every name: catalog names (sorted keys), then the
 * names only gossip brings (sorted, unique). */
struct svc_index {
	struct svc_key *keys;
	size_t n_keys;
	const char **extra;
	size_t n_extra;
};

static size_t svc_of(const struct svc_index *ix, const char *name)
{
	struct svc_key k = { name, 0 };
	const struct svc_key *f = bsearch(&k, ix->keys, ix->n_keys,
					  sizeof(*ix->keys), cmp_svc_key);
	const char *const *x;

	if (f)
		return f->idx;
	x = bsearch(&k.name, ix->extra, ix->n_extra, sizeof(*ix->extra), cmp_str);
	return x ? ix->n_keys + (size_t)(x - ix->extra) : SIZE_MAX;
}

static void svc_index_free(struct svc_index *ix)
{
	free(ix->keys);
	free(ix->extra);
}

/* Indexes the catalog and collects the servable names gossip adds. */
static int svc_index_build(const struct agent_config *c,
			   const struct agent_service *svcs, size_t n,
			   const struct gossip_member *mem, size_t n_mem,
			   size_t n_eps, struct svc_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->keys = calloc(n + 1, sizeof(*ix->keys));
	ix->extra = calloc(n_eps ? n_eps : 1, sizeof(*ix->extra));
	if (!ix->keys || !ix->extra) {
		svc_index_free(ix);
		return AS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ix->keys[i] = (struct svc_key){ svcs[i].name, i };
	qsort(ix->keys, n, sizeof(*ix->keys), cmp_svc_key);
	ix->n_keys = n;
	for (size_t i = 0; i < n_mem; i++) {
		for (uint32_t j = 0; j < mem[i].rec->n_endpoints; j++) {
			const char *name = mem[i].rec->endpoints[j].service;
			struct svc_key k = { name, 0 };
			if (bsearch(&k, ix->keys, n, sizeof(*ix->keys), cmp_svc_key))
				continue;
			if (servable_name(c, name))
				ix->extra[ix->n_extra++] = name;
		}
	}
	qsort(ix->extra, ix->n_extra, sizeof(*ix->extra), cmp_str);
	size_t u = 0;
	for (size_t i = 0; i < ix->n_extra; i++)
		if (u == 0 || strcmp(ix->extra[u - 1], ix->extra[i]) != 0)
			ix->extra[u++] = ix->extra[i];
	ix->n_extra = u;
	return AS_OK;
}

/* Service attributes and each service's slice of the endpoint array,
 * from the per-service counts. */
static void lay_out(const struct agent_service *svcs, size_t n,
		    const struct svc_index *ix, const size_t *count,
		    struct agent_viewspec *out)
{
	size_t off = 0;

	for (size_t s = 0; s < n + ix->n_extra; s++) {
		struct dns_service_spec *sp = &out->svcs[s];
		if (s < n)
			*sp = (struct dns_service_spec){
				.name = svcs[s].name, .port = svcs[s].port,
				.proto = svcs[s].protocol, .ttl = svcs[s].ttl,
				.max_answers = svcs[s].max_answers,
				.intent = intent_of(&svcs[s]),
			};
		else
			*sp = (struct dns_service_spec){
				.name = ix->extra[s - n], .proto = "tcp",
			};
		sp->endpoints = out->eps + off;
		off += count[s];
	}
}

/* The estimated RTT from the answering member (ref, with coordinate
 * ref_coord: this node, or explain --from's) to member m: unknown until
 * ref has a coordinate (so latency answers as balance until then, ref's
 * endpoints included), then 0 to itself, and unknown for a member
 * without a coordinate. */
static bool member_rtt(const struct gossip_member *m, const struct gossip_member *ref,
		       const struct gossip_coord *ref_coord, double *rtt)
{
	*rtt = 0;
	if (!ref_coord)
		return false;
	if (m == ref)
		return true;
	if (!m->coord)
		return false;
	*rtt = gossip_coord_distance(ref_coord, m->coord);
	return isfinite(*rtt);
}

static void put_endpoint(struct dns_endpoint_spec *e, const struct gossip_endpoint *g,
			 const char *node, const char *zone, double factor,
			 bool rtt_known, double rtt)
{
	if (as_addr16_is_v4mapped(g->addr)) {
		e->family = AF_INET;
		memcpy(e->addr, g->addr + 12, 4);
	} else {
		e->family = AF_INET6;
		memcpy(e->addr, g->addr, 16);
	}
	e->weight = g->weight;
	e->node = node;
	e->load_factor = sane_factor(factor);
	e->healthy = g->healthy;
	e->zone = zone && *zone ? zone : NULL;
	e->rtt_known = rtt_known;
	e->rtt_ms = rtt;
}

/* The alive members of all (suspect, dead and left ones leave answers)
 * into a new array of *n_mem; *n_eps: their endpoints. NULL: no memory. */
static struct gossip_member *alive_members(const struct gossip_member *all,
					   size_t n_all, size_t *n_mem,
					   size_t *n_eps)
{
	struct gossip_member *alive = calloc(n_all ? n_all : 1, sizeof(*alive));

	*n_mem = *n_eps = 0;
	if (!alive)
		return NULL;
	for (size_t i = 0; i < n_all; i++)
		if (all[i].state == GOSSIP_ALIVE) {
			alive[(*n_mem)++] = all[i];
			*n_eps += all[i].rec->n_endpoints;
		}
	return alive;
}

/* Pass 1: count each service's endpoints, up to the cap. */
static void count_endpoints(const struct svc_index *ix,
			    const struct gossip_member *alive, size_t n_mem,
			    size_t *count, uint64_t *skipped)
{
	for (size_t i = 0; i < n_mem; i++)
		for (uint32_t j = 0; j < alive[i].rec->n_endpoints; j++) {
			size_t s = svc_of(ix, alive[i].rec->endpoints[j].service);
			if (s == SIZE_MAX || count[s] >= SERVICE_ENDPOINTS_MAX)
				(*skipped)++;
			else
				count[s]++;
		}
}

/* Pass 2: place the endpoints in the slices lay_out() made, with RTTs
 * from the answering member (as, or this node) and this node's zone and
 * load factor as they are now. n: catalog services (before gossip's). */
static void place_endpoints(const struct svc_index *ix, size_t n,
			    const struct gossip_member *alive, size_t n_mem,
			    const char *as, const char *self_zone,
			    double self_factor, const size_t *count,
			    struct agent_viewspec *out)
{
	const struct gossip_member *ref = NULL;
	for (size_t i = 0; i < n_mem && !ref; i++)
		if (as ? !strcmp(alive[i].rec->name, as) : alive[i].self)
			ref = &alive[i];
	const struct gossip_coord *ref_coord = ref ? ref->coord : NULL;
	for (size_t i = 0; i < n_mem; i++) {
		const struct gossip_record *r = alive[i].rec;
		double rtt;
		bool rtt_known = member_rtt(&alive[i], ref, ref_coord, &rtt);
		double lf = alive[i].self ? self_factor : r->load.factor;
		/* This node's zone as it is now (the gossiped one follows
		 * through the cluster component). */
		const char *zone = alive[i].self ? self_zone : r->zone;
		for (uint32_t j = 0; j < r->n_endpoints; j++) {
			const struct gossip_endpoint *g = &r->endpoints[j];
			size_t s = svc_of(ix, g->service);
			if (s == SIZE_MAX)
				continue;
			struct dns_service_spec *sp = &out->svcs[s];
			if (sp->n_endpoints >= count[s])
				continue;	/* over the per-service cap */
			if (s >= n && sp->port == 0)
				sp->port = g->port;	/* gossip-only service */
			put_endpoint((struct dns_endpoint_spec *)&sp->endpoints[sp->n_endpoints++],
				     g, r->name, zone, lf, rtt_known, rtt);
		}
	}
}

int agent_viewspec_services_members(const struct agent_config *c,
				    const char *self_zone, const char *as,
				    const struct agent_service *svcs, size_t n,
				    const struct gossip_member *all, size_t n_all,
				    double self_factor, struct agent_viewspec *out,
				    uint64_t *skipped)
{
	struct svc_index ix = { 0 };
	size_t *count = NULL, n_mem, n_eps, n_svcs;
	int err = AS_ENOMEM;

	memset(out, 0, sizeof(*out));
	*skipped = 0;
	struct gossip_member *alive = alive_members(all, n_all, &n_mem, &n_eps);
	if (!alive)
		return AS_ENOMEM;
	if ((err = svc_index_build(c, svcs, n, alive, n_mem, n_eps, &ix)))
		goto out;
	err = AS_ENOMEM;
	n_svcs = n + ix.n_extra;
	out->svcs = calloc(n_svcs ? n_svcs : 1, sizeof(*out->svcs));
	out->eps = calloc(n_eps ? n_eps : 1, sizeof(*out->eps));
	count = calloc(n_svcs + 1, sizeof(*count));
	if (!out->svcs || !out->eps || !count)
		goto out;
	count_endpoints(&ix, alive, n_mem, count, skipped);
	lay_out(svcs, n, &ix, count, out);
	place_endpoints(&ix, n, alive, n_mem, as, self_zone, self_factor,
			count, out);
	out->spec.services = out->svcs;
	out->spec.n_services = n_svcs;
	err = AS_OK;
out:
	if (err)
		agent_viewspec_free(out);
	svc_index_free(&ix);
	free(alive);
	free(count);
	return err;
}

int agent_viewspec_finish(const struct agent_config *c, uint32_t serial,
			  struct agent_viewspec *out)
{
	size_t n = c->dns.n_ns_addresses;

	out->nsa = calloc(n ? n : 1, sizeof(*out->nsa));
	out->czs = calloc(c->dns.n_client_zones + 1, sizeof(*out->czs));
	if (!out->nsa || !out->czs)
		return AS_ENOMEM;
	/* The configuration checked the prefixes with the same parser. */
	for (size_t i = 0; i < c->dns.n_client_zones; i++) {
		const struct agent_client_zone *cz = &c->dns.client_zones[i];
		if (dns_prefix_parse(cz->prefix, &out->czs[i].prefix))
			return AS_EINVAL;
		out->czs[i].zone = cz->zone;
	}
	/* Every in-zone nameserver name answers with every ns_address. */
	for (size_t i = 0; i < n; i++) {
		const struct sockaddr_storage *ss = &c->dns.ns_addrs[i];
		out->nsa[i].family = ss->ss_family;
		if (ss->ss_family == AF_INET6)
			memcpy(out->nsa[i].addr,
			       &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		else
			memcpy(out->nsa[i].addr,
			       &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
	const struct dns_service_spec *svcs = out->spec.services;
	size_t n_svcs = out->spec.n_services;
	out->spec = (struct dns_view_spec){
		.zone = c->dns.zone,
		.node_name = c->node.name,
		.node_zone = c->node.zone,
		.client_zones = out->czs,
		.n_client_zones = c->dns.n_client_zones,
		.ttl = c->dns.ttl,
		.max_answers = c->dns.max_answers,
		.nameservers = (const char *const *)c->dns.nameservers,
		.n_nameservers = c->dns.n_nameservers,
		.ns_addresses = out->nsa,
		.n_ns_addresses = n,
		.soa_serial = serial,
		.soa_refresh = 3600,
		.soa_retry = 600,
		.soa_expire = 86400,
		.soa_minimum = c->dns.negative_ttl,
		.apex_ttl = 3600,
		.services = svcs,
		.n_services = n_svcs,
	};
	return AS_OK;
}
