/*
 * agent/srv6plan.h - what the SRv6 steering map of this host should hold
 * (pure): the answer view's endpoints of services with an intent, the SR
 * domain's topology with its link liveness, and this host's place in it
 * give one steering entry per (endpoint address, protocol, port); the
 * difference against what is installed gives the map writes.
 *
 * Design. agent/srv6.c (the component) only adapts: it reads the view and
 * the catalog, keeps the liveness the probes measure on its copy of the
 * topology, calls these functions and writes their result with
 * srv6_prog_steer_set/del. Everything that decides is here and unit
 * tested: which endpoints are steered (a service with an intent; an
 * endpoint whose address is in a host's prefixes and is not this host's),
 * the path (srv6_path_compute with the intent's objective), the entry
 * (match: the endpoint's /128 with the service's protocol and port;
 * steer: the strict segment list, mode, MTU), and which entries changed.
 */
#ifndef ANYSTEER_AGENT_SRV6PLAN_H
#define ANYSTEER_AGENT_SRV6PLAN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "srv6/srv6.h"

/* One endpoint of one steered service. */
struct agent_srv6_dest {
	const char *service;	/* the service's name (points into the view
				 * or the caller's strings) */
	uint8_t proto;		/* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;
	struct in6_addr addr;
	const struct agent_intent *intent;	/* the catalog's */
};

/* One planned entry: installed when err is AS_OK. */
struct agent_srv6_entry {
	struct srv6_match match;
	struct srv6_steer steer;
	char service[64];
	int dst_host;		/* the topology's node; -1 when unknown */
	int err;		/* AS_OK; AS_ENOTFOUND: no host holds the
				 * address; AS_ENOENT: no path; AS_ELIMIT:
				 * too many segments */
	int map_err;		/* the component's: writing it failed */
	enum srv6_metric metric;
	uint64_t latency_us, bandwidth_kbps, cost;
	size_t nnodes;
	int nodes[SRV6_SEGS_MAX + 2];	/* this host .. the endpoint's host */
};

struct agent_srv6_params {
	enum srv6_mode mode;
	uint16_t mtu;
	uint32_t generation;
};

/*
 * The destinations of the view: every IPv6 endpoint of every service
 * whose catalog entry has an intent (services are found by name), with
 * the view's protocol and port. *out is allocated (free()); *n its length.
 * AS_ENOMEM.
 */
int agent_srv6_dests(const dns_view_t *view, const struct agent_service *svcs,
		     size_t n_svcs, struct agent_srv6_dest **out, size_t *n);

/*
 * One entry per distinct match, sorted by match (address, protocol,
 * port); a second destination with the same match (two services on one
 * address and port) is dropped and counted in *conflicts. Endpoints of
 * this host itself are left out (nothing to steer). self is this host's
 * node index in t. *out is allocated (free()).
 */
int agent_srv6_plan(const srv6_topo_t *t, int self,
		    const struct agent_srv6_params *p,
		    const struct agent_srv6_dest *d, size_t nd,
		    struct agent_srv6_entry **out, size_t *nout,
		    size_t *conflicts);

/* Order of entries by match; equal steering apart from the generation. */
int agent_srv6_match_cmp(const struct srv6_match *a, const struct srv6_match *b);
bool agent_srv6_steer_equal(const struct srv6_steer *a,
			    const struct srv6_steer *b);

/*
 * The writes that turn `have` (installed, sorted, all err AS_OK) into the
 * installable entries of `want` (sorted): set[] receives indices into want
 * of entries that are new or changed, del[] indices into have of entries
 * no longer wanted (each array needs room for its input's length).
 */
void agent_srv6_diff(const struct agent_srv6_entry *want, size_t nwant,
		     const struct agent_srv6_entry *have, size_t nhave,
		     size_t *set, size_t *nset, size_t *del, size_t *ndel);

#endif
