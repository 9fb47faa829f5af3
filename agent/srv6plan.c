/*
 * agent/srv6plan.c - the desired SRv6 steering entries and the writes
 * that install them (pure; see agent/srv6plan.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/srv6plan.h"
#include "lib/as.h"

static const struct agent_service *find(const struct agent_service *s,
					size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].name && !strcmp(s[i].name, name))
			return &s[i];
	return NULL;
}

int agent_srv6_dests(const dns_view_t *view, const struct agent_service *svcs,
		     size_t n_svcs, struct agent_srv6_dest **out, size_t *n)
{
	struct agent_srv6_dest *d = NULL;
	size_t nd = 0, cap = 0;

	*out = NULL;
	*n = 0;
	/* Most catalogs have no intent at all: no walk of the view then. */
	size_t k = 0;
	while (k < n_svcs && !svcs[k].intent.steered)
		k++;
	if (k == n_svcs)
		return AS_OK;
	for (size_t i = 0; view && i < dns_view_service_count(view); i++) {
		struct dns_service_info si;
		const struct agent_service *s;

		if (dns_view_service(view, i, &si) ||
		    !(s = find(svcs, n_svcs, si.name)) || !s->intent.steered)
			continue;
		for (size_t j = 0; j < si.n_endpoints; j++) {
			struct dns_endpoint_info ei;

			if (dns_view_endpoint(view, i, j, &ei) ||
			    ei.family != AF_INET6)
				continue;
			if (nd == cap) {
				size_t nc = cap ? cap * 2 : 16;
				void *p = realloc(d, nc * sizeof(*d));
				if (!p) {
					free(d);
					return AS_ENOMEM;
				}
				d = p;
				cap = nc;
			}
			d[nd] = (struct agent_srv6_dest){
				.service = s->name,
				.proto = si.proto && !strcmp(si.proto, "udp") ?
					 IPPROTO_UDP : IPPROTO_TCP,
				.port = si.port,
				.intent = &s->intent,
			};
			memcpy(&d[nd].addr, ei.addr, 16);
			nd++;
		}
	}
	*out = d;
	*n = nd;
	return AS_OK;
}

int agent_srv6_match_cmp(const struct srv6_match *a, const struct srv6_match *b)
{
	int c = memcmp(&a->prefix, &b->prefix, sizeof(a->prefix));

	if (c)
		return c;
	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}

bool agent_srv6_steer_equal(const struct srv6_steer *a,
			    const struct srv6_steer *b)
{
	return a->mode == b->mode && a->nsegs == b->nsegs &&
	       !memcmp(a->segs, b->segs, a->nsegs * sizeof(a->segs[0])) &&
	       a->last_is_dst == b->last_is_dst && a->has_src == b->has_src &&
	       (!a->has_src || !memcmp(&a->src, &b->src, sizeof(a->src))) &&
	       a->mtu == b->mtu;
}

static int cmp_entry(const void *x, const void *y)
{
	const struct agent_srv6_entry *a = x, *b = y;
	int c = agent_srv6_match_cmp(&a->match, &b->match);

	/* Stable among equal matches: the service name decides. */
	return c ? c : strcmp(a->service, b->service);
}

static void plan_one(const srv6_topo_t *t, int self,
		     const struct agent_srv6_params *p,
		     const struct agent_srv6_dest *d,
		     struct agent_srv6_entry *e)
{
	const char *avoid[64];
	struct srv6_objective o;
	struct srv6_path path;
	int metric = srv6_metric_parse(d->intent->path);
	size_t na = d->intent->n_avoid;

	memset(e, 0, sizeof(*e));
	e->match.prefix = d->addr;
	e->match.plen = 128;
	e->match.proto = d->proto;
	e->match.port = d->port;
	snprintf(e->service, sizeof(e->service), "%s", d->service);
	e->metric = metric < 0 ? SRV6_METRIC_LATENCY : (enum srv6_metric)metric;
	e->dst_host = srv6_topo_host_of(t, &d->addr);
	if (e->dst_host < 0) {
		e->err = AS_ENOTFOUND;
		e->dst_host = -1;
		return;
	}
	if (na > AS_ARRAY_SIZE(avoid))
		na = AS_ARRAY_SIZE(avoid);
	for (size_t i = 0; i < na; i++)
		avoid[i] = d->intent->avoid[i];
	o = (struct srv6_objective){ e->metric, avoid, na };
	e->err = srv6_path_compute(t, srv6_topo_node_name(t, self),
				   srv6_topo_node_name(t, e->dst_host), &o, &path);
	if (e->err)
		return;
	if (path.nnodes > AS_ARRAY_SIZE(e->nodes)) {
		e->err = AS_ELIMIT;
		return;
	}
	e->latency_us = path.latency_us;
	e->bandwidth_kbps = path.bandwidth_kbps;
	e->cost = path.cost;
	e->nnodes = path.nnodes;
	memcpy(e->nodes, path.nodes, path.nnodes * sizeof(path.nodes[0]));
	e->steer.mode = p->mode;
	e->steer.mtu = p->mtu;
	e->steer.generation = p->generation;
	e->steer.nsegs = (uint8_t)path.nsegs;
	memcpy(e->steer.segs, path.segs, path.nsegs * sizeof(path.segs[0]));
	/* Encapsulation ends at the host's SID, which decapsulates and
	 * delivers the inner packet to the endpoint. An inserted SRH has no
	 * outer header: its last segment is the packet's own destination,
	 * which that host's ingress must know as a local SID. */
	e->steer.last_is_dst = p->mode == SRV6_MODE_INSERT;
}

int agent_srv6_plan(const srv6_topo_t *t, int self,
		    const struct agent_srv6_params *p,
		    const struct agent_srv6_dest *d, size_t nd,
		    struct agent_srv6_entry **out, size_t *nout,
		    size_t *conflicts)
{
	struct agent_srv6_entry *e;
	size_t n = 0, k = 0;

	*out = NULL;
	*nout = 0;
	*conflicts = 0;
	if (!t || !p || srv6_topo_node_name(t, self) == NULL)
		return AS_EINVAL;
	e = calloc(nd ? nd : 1, sizeof(*e));
	if (!e)
		return AS_ENOMEM;
	for (size_t i = 0; i < nd; i++) {
		if (srv6_topo_host_of(t, &d[i].addr) == self)
			continue;	/* served here: nothing to steer */
		plan_one(t, self, p, &d[i], &e[n++]);
	}
	qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		if (k && !agent_srv6_match_cmp(&e[k - 1].match, &e[i].match)) {
			/* The same endpoint in the same service (gossiped by
			 * two nodes) is one entry; another service on the
			 * same address and port is a conflict. */
			if (strcmp(e[i - 1].service, e[i].service))
				(*conflicts)++;
			continue;
		}
		e[k++] = e[i];
	}
	*out = e;
	*nout = k;
	return AS_OK;
}

void agent_srv6_diff(const struct agent_srv6_entry *want, size_t nwant,
		     const struct agent_srv6_entry *have, size_t nhave,
		     size_t *set, size_t *nset, size_t *del, size_t *ndel)
{
	size_t i = 0, j = 0;

	*nset = *ndel = 0;
	/* Both sorted by match: one merge. */
	while (i < nwant || j < nhave) {
		int c;

		if (i < nwant && want[i].err) {
			i++;	/* not installable: as if absent */
			continue;
		}
		if (i == nwant)
			c = 1;
		else if (j == nhave)
			c = -1;
		else
			c = agent_srv6_match_cmp(&want[i].match, &have[j].match);
		if (c < 0) {
			set[(*nset)++] = i++;
		} else if (c > 0) {
			del[(*ndel)++] = j++;
		} else {
			if (!agent_srv6_steer_equal(&want[i].steer, &have[j].steer))
				set[(*nset)++] = i;
			i++;
			j++;
		}
	}
}
