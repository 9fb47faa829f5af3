/*
 * dns/view.h - internal to the DNS module: the layout of a built view and
 * the weighted sampler, shared by view.c (which builds a view), policy.c
 * (the sampler) and query.c (which reads both on the query path).
 *
 * Design. The view is laid out for the query path: services and names in
 * an open-addressing hash table keyed by the lower-case wire name
 * relative to the zone, addresses and cumulative integer weights in flat
 * arrays, static RDATA pre-rendered.
 */
#ifndef ANYSTEER_DNS_VIEW_H
#define ANYSTEER_DNS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns/dns.h"
#include "dns/wire.h"
#include "lib/hash.h"

/* ---- weighted sampling (policy.c) ------------------------------------- */

/* The most endpoints one answer may carry; larger max_answers values in a
 * spec are clamped to it (an AAAA RR is 28 bytes: 64 of them already need
 * TCP). It bounds the sampler's stack array. */
#define DNS_MAX_ANSWERS 64
/* DNS_MAX_ENDPOINTS: dns.h */
/* Load factors become integers in [0, DNS_LF_ONE]. */
#define DNS_LF_ONE 65536u

/* Weighted sampling without replacement: cum[i] is the cumulative integer
 * weight of items 0..i (non-decreasing, cum[n-1] > 0). Writes up to k
 * distinct indices (never one of weight 0) to out and returns how many:
 * min(k, number of items with weight > 0). k <= DNS_MAX_ANSWERS. */
size_t dns_sample(const uint64_t *cum, size_t n, size_t k,
		  struct as_rng *rng, uint32_t *out);

/* The answer policy of one family (docs/dns.md "Answer policy"). Item i
 * stands for mult[i] endpoints with one address; eff[i] is the sum of
 * their effective weights, hcfg[i] of the configured weights of the
 * healthy ones, cfg[i] of all their configured weights. Writes in
 * order[] the items in the order the view stores them and in cum[] their
 * cumulative weights, restarting at each tier:
 *  - the first *n_first items, weighted by eff: drawn first;
 *  - the next *n_fill items (healthy, configured weight > 0, load factor
 *    0), weighted by hcfg: fill an answer the first tier left short;
 *  - the rest (unhealthy, or configured weight 0): never drawn.
 * When no item has eff or hcfg, all n items form the first tier (fail
 * open): by cfg, or, when that is all 0, by mult (NULL: 1 each). */
void dns_policy_tiers(const uint64_t *eff, const uint64_t *hcfg,
		      const uint64_t *cfg, const uint32_t *mult, size_t n,
		      uint32_t *order, uint64_t *cum, uint32_t *n_first,
		      uint32_t *n_fill);

/* ---- intents (intent.c) ------------------------------------------------- */

/* Sampling tiers of a family: an answer draws from each in turn until it
 * has max_answers addresses (balance uses the first two). */
#define DNS_TIERS 4

/* A failure domain of a spread family: its items start at first
 * (relative to the family's first item) and the first n_draw of them
 * are drawn, by cumulative weights restarting at first. */
struct dns_dom {
	uint32_t first, n_draw;
};

/* One service's items of one family, as in dns_policy_tiers, with the
 * zone and node of each as ids (0: none; equal ids, equal names) and
 * the zone the answers are planned for (here; 0: none). */
struct dns_plan_in {
	const uint64_t *eff, *hcfg, *cfg;
	const uint32_t *mult;		/* NULL: 1 each */
	const uint32_t *zone, *node;
	const double *rtt;		/* latency: ms from here, NaN unknown */
	size_t n;
	uint32_t here;
};

/* The plan: the caller gives order, cum, doms and dcum of n entries. */
struct dns_plan {
	uint32_t *order;	/* items in the order the view stores them */
	uint64_t *cum;		/* cumulative weights, restarting per tier
				 * (spread: per domain) */
	uint32_t tier[DNS_TIERS];	/* items per tier, in order; the
					 * rest are never drawn */
	bool spread;		/* resilience: draw by domain instead */
	struct dns_dom *doms;	/* spread: the domains, drawable first */
	uint64_t *dcum;		/* spread: cumulative domain weights,
				 * restarting per domain tier */
	uint32_t n_dom, dom_tier[2];	/* domains; drawn by effective
					 * weight, then by healthy configured */
	double zone_load, spill;	/* locality (dns_service_info) */
	bool locality;		/* tier 0 holds the zone's items first ... */
	uint32_t local0;	/* ... this many */
	bool no_rtt;		/* latency without any estimate: balance */
};

/* Plans one family's answers under intent it (NULL: balance); see
 * intent.c. AS_OK or AS_ENOMEM. */
int dns_plan(const struct dns_intent *it, const struct dns_plan_in *in,
	     struct dns_plan *p);

/* ---- view layout (view.c, read by query.c) ----------------------------- */

struct dns_ep {			/* introspection only: cold */
	const char *node;
	const char *zone;	/* NULL = none */
	uint32_t weight;
	double load_factor;
	bool healthy;
	bool rtt_known;
	float rtt_ms;
	int family;
	uint32_t fam_index;	/* index into the service's family arrays */
};

struct dns_family {
	uint32_t first;		/* into view->addr6/cum6/doms6/dcum6 or the
				 * same of 4 */
	uint32_t n;
	uint32_t tier[DNS_TIERS];	/* sampling tiers (dns_plan) */
	bool spread;		/* draw distinct domains (dns_plan) */
	bool locality;		/* items outside the zone: local0 .. tier[0]
				 * + tier[1], and tier[3] */
	uint32_t dom_tier[2];
	uint32_t local0;
};

/* A locality service's families planned for one client zone. */
struct dns_vfam {
	struct dns_family v6, v4;
};

/* A client prefix (dns.client_zones) and its plan: v->vfams[svc's
 * var_first + var - 1]. Sorted longest prefix first. */
struct dns_czone {
	struct dns_prefix p;
	uint32_t var;
};

struct dns_svc {
	const char *name;
	const char *proto;
	uint16_t port;
	uint32_t ttl;		/* resolved: never 0 unless the zone says 0 */
	uint32_t max_answers;	/* resolved and clamped */
	uint32_t ep_first, n_ep;	/* into view->eps, spec order */
	struct dns_intent intent;	/* introspection */
	uint32_t var_first, n_var;	/* client-zone plans (locality) */
	float zone_load, spill;		/* introspection (locality) */
	bool latency_fallback;		/* introspection (latency) */
	struct dns_family v6, v4;
	uint8_t target[DNS_NAME_MAX];	/* <service>.<zone>. in wire form */
	uint8_t target_len;
};

struct dns_nsh {		/* an in-zone nameserver name */
	struct dns_family v6, v4;	/* ns addresses (cum unused) */
};

/* A name that exists in the zone. svc/srv/nsh are indices or -1; a node
 * with none of them and not the apex is an empty non-terminal. */
struct dns_node {
	uint32_t key_off;	/* into view->keys */
	uint8_t key_len;	/* lower-case wire labels before the zone */
	bool apex;
	int32_t svc, srv, nsh;
};

struct dns_view {
	int refs;			/* atomic */
	char *zone_text;		/* "svc.example." */
	uint8_t zone[DNS_NAME_MAX];	/* lower-case wire form */
	uint8_t zone_len;
	char *node_name;
	uint8_t node_len;		/* NSID and TXT payload length */
	uint32_t ttl, max_answers;
	uint32_t apex_ttl, neg_ttl;

	uint32_t serial;		/* in soa_rdata */
	uint8_t *soa_rdata;		/* pre-rendered with ldns */
	uint16_t soa_rdlen;
	uint8_t *ns_rdata;		/* every NS target, concatenated */
	uint16_t *ns_off, *ns_len;	/* per target */
	int32_t *ns_nsh;		/* in-zone target: nsh index, else -1 */
	size_t n_ns;
	uint8_t *txt_rdata;		/* node name as TXT strings */
	uint16_t txt_rdlen;

	struct dns_svc *svcs;
	size_t n_svcs;
	struct dns_ep *eps;
	uint8_t (*addr6)[16];
	uint8_t (*addr4)[4];
	uint64_t *cum6, *cum4;
	struct dns_dom *doms6, *doms4;	/* spread families' domains */
	struct dns_vfam *vfams;		/* client-zone plans */
	uint32_t *vinv6, *vinv4;	/* a plan's position of each item, at
					 * the plan's first + the item's base
					 * position (introspection) */
	struct dns_czone *czones;	/* longest prefix first */
	size_t n_czones;
	const char **cz_zones;		/* plan var's zone: cz_zones[var - 1] */
	uint64_t *dcum6, *dcum4;
	struct dns_nsh *nshs;
	size_t n_nshs;

	bool wildcards;			/* a "*" service: look further on a miss */
	struct dns_node *nodes;
	size_t n_nodes;
	uint8_t *keys;
	uint32_t *table;		/* node index + 1, 0 = empty */
	uint32_t table_mask;
	char *strings;			/* names, protos, nodes */
};

/* Finds the node of a lower-case relative wire name, or NULL. */
static inline const struct dns_node *
dns_view_lookup(const struct dns_view *v, const uint8_t *key, size_t len)
{
	uint32_t i = as_fnv1a32(key, len) & v->table_mask;
	for (;;) {
		uint32_t slot = v->table[i];
		if (slot == 0)
			return NULL;
		const struct dns_node *nd = &v->nodes[slot - 1];
		if (nd->key_len == len &&
		    memcmp(v->keys + nd->key_off, key, len) == 0)
			return nd;
		i = (i + 1) & v->table_mask;
	}
}

#endif
