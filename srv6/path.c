/*
 * srv6/path.c - the SR domain's topology and path computation (pure).
 *
 * Latency and cost: Dijkstra on the summed metric. Bandwidth: the widest
 * path (largest bottleneck), then, among links at least that wide, the
 * least latency: two passes, because "widest, then shortest" is not
 * isotone and one Dijkstra over the pair can miss the best path.
 *
 * Ties are broken by hop count, then by the name of the predecessor, so
 * the result is a function of the topology, not of the order its lines
 * were written in. Hosts end paths but never carry them.
 *
 * Segment lists are strict: every router on the path contributes its End
 * SID, then the destination host its SID. A compressed list (waypoints
 * only where the chosen path leaves the underlay's own shortest path)
 * would save 16 bytes per skipped router, but it is only right when we
 * know the underlay's routing exactly (its metric and its ECMP choices);
 * the topology file describes links, not the routers' routing tables, so a
 * strict list is the one that pins the path whatever the underlay does.
 * It assumes each router reaches its neighbour's SID over their link
 * (SIDs on the link, or the link being the IGP's shortest path).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "srv6/srv6.h"

struct node {
	char name[SRV6_NAME_MAX];
	struct in6_addr sid;
	bool host;
};

struct link {
	int a, b;
	uint32_t latency_us;
	uint64_t bandwidth_kbps;
	uint32_t cost;
	bool up;
	bool unprobed;		/* the file's probe: false */
	char bird[SRV6_NAME_MAX];	/* the file's bird_protocol, "" = none */
	char tags[SRV6_TAGS_MAX][SRV6_NAME_MAX];
	size_t ntags;
};

struct pfx {
	struct in6_addr addr;	/* host bits cleared */
	uint8_t plen;
	int node;
};

struct srv6_topo {
	struct node nodes[SRV6_TOPO_MAX_NODES];
	size_t nnodes;
	struct link *links;	/* SRV6_TOPO_MAX_LINKS */
	size_t nlinks;
	struct pfx *pfx;	/* SRV6_TOPO_MAX_PREFIXES */
	size_t npfx;
};

static const char *const metric_names[] = {
	[SRV6_METRIC_LATENCY] = "latency",
	[SRV6_METRIC_BANDWIDTH] = "bandwidth",
	[SRV6_METRIC_COST] = "cost",
};

int srv6_metric_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(metric_names) / sizeof(*metric_names); i++)
		if (!strcmp(s, metric_names[i]))
			return (int)i;
	return -1;
}

const char *srv6_metric_name(enum srv6_metric m)
{
	if ((unsigned)m >= sizeof(metric_names) / sizeof(*metric_names))
		return "unknown";
	return metric_names[m];
}

int srv6_topo_new(srv6_topo_t **out)
{
	struct srv6_topo *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return AS_ENOMEM;
	t->links = calloc(SRV6_TOPO_MAX_LINKS, sizeof(*t->links));
	t->pfx = calloc(SRV6_TOPO_MAX_PREFIXES, sizeof(*t->pfx));
	if (!t->links || !t->pfx) {
		free(t->links);
		free(t->pfx);
		free(t);
		return AS_ENOMEM;
	}
	*out = t;
	return AS_OK;
}

void srv6_topo_free(srv6_topo_t *t)
{
	if (!t)
		return;
	free(t->links);
	free(t->pfx);
	free(t);
}

int srv6_topo_clone(const srv6_topo_t *t, srv6_topo_t **out)
{
	srv6_topo_t *c;
	int err = srv6_topo_new(&c);

	*out = NULL;
	if (err)
		return err;
	memcpy(c->nodes, t->nodes, sizeof(t->nodes));
	c->nnodes = t->nnodes;
	memcpy(c->links, t->links, t->nlinks * sizeof(*t->links));
	c->nlinks = t->nlinks;
	memcpy(c->pfx, t->pfx, t->npfx * sizeof(*t->pfx));
	c->npfx = t->npfx;
	*out = c;
	return AS_OK;
}

static void mask6(struct in6_addr *a, unsigned plen)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;
		a->s6_addr[i] &= (uint8_t)(0xff00u >> keep);
	}
}

int srv6_topo_add_prefix(srv6_topo_t *t, const char *host,
			 const struct in6_addr *prefix, unsigned plen)
{
	int n = srv6_topo_node(t, host);
	struct pfx p;

	if (n < 0)
		return AS_ENOTFOUND;
	if (!t->nodes[n].host || !prefix || plen > 128)
		return AS_EINVAL;
	p.addr = *prefix;
	p.plen = (uint8_t)plen;
	p.node = n;
	mask6(&p.addr, plen);
	for (size_t i = 0; i < t->npfx; i++)
		if (t->pfx[i].plen == p.plen &&
		    !memcmp(&t->pfx[i].addr, &p.addr, sizeof(p.addr)))
			return AS_EEXIST;
	if (t->npfx == SRV6_TOPO_MAX_PREFIXES)
		return AS_ELIMIT;
	t->pfx[t->npfx++] = p;
	return AS_OK;
}

int srv6_topo_host_of(const srv6_topo_t *t, const struct in6_addr *addr)
{
	int best = AS_ENOTFOUND, best_len = -1;

	for (size_t i = 0; i < t->npfx; i++) {
		struct in6_addr a = *addr;

		mask6(&a, t->pfx[i].plen);
		if ((int)t->pfx[i].plen > best_len &&
		    !memcmp(&a, &t->pfx[i].addr, sizeof(a))) {
			best = t->pfx[i].node;
			best_len = t->pfx[i].plen;
		}
	}
	return best;
}

size_t srv6_topo_node_count(const srv6_topo_t *t)
{
	return t->nnodes;
}

int srv6_topo_node_info(const srv6_topo_t *t, int node, struct in6_addr *sid,
			bool *host)
{
	if (node < 0 || (size_t)node >= t->nnodes)
		return AS_ENOTFOUND;
	if (sid)
		*sid = t->nodes[node].sid;
	if (host)
		*host = t->nodes[node].host;
	return AS_OK;
}

size_t srv6_topo_link_count(const srv6_topo_t *t)
{
	return t->nlinks;
}

int srv6_topo_link(const srv6_topo_t *t, int link, struct srv6_link_info *out)
{
	const struct link *l;

	if (link < 0 || (size_t)link >= t->nlinks)
		return AS_ENOTFOUND;
	l = &t->links[link];
	memset(out, 0, sizeof(*out));
	out->a = l->a;
	out->b = l->b;
	out->up = l->up;
	out->attr.latency_us = l->latency_us;
	out->attr.bandwidth_kbps = l->bandwidth_kbps;
	out->attr.cost = l->cost;
	for (size_t i = 0; i < l->ntags; i++)
		out->attr.tags[i] = l->tags[i];
	return AS_OK;
}

int srv6_topo_node(const srv6_topo_t *t, const char *name)
{
	for (size_t i = 0; name && i < t->nnodes; i++)
		if (!strcmp(t->nodes[i].name, name))
			return (int)i;
	return AS_ENOTFOUND;
}

const char *srv6_topo_node_name(const srv6_topo_t *t, int node)
{
	if (node < 0 || (size_t)node >= t->nnodes)
		return NULL;
	return t->nodes[node].name;
}

static int add_node(srv6_topo_t *t, const char *name,
		    const struct in6_addr *sid, bool host)
{
	struct node *n;

	if (!name || !*name || strlen(name) >= SRV6_NAME_MAX || !sid)
		return AS_EINVAL;
	if (srv6_topo_node(t, name) >= 0)
		return AS_EEXIST;
	if (t->nnodes == SRV6_TOPO_MAX_NODES)
		return AS_ELIMIT;
	n = &t->nodes[t->nnodes];
	memset(n, 0, sizeof(*n));
	strcpy(n->name, name);
	n->sid = *sid;
	n->host = host;
	return (int)t->nnodes++;
}

int srv6_topo_add_router(srv6_topo_t *t, const char *name,
			 const struct in6_addr *sid)
{
	return add_node(t, name, sid, false);
}

int srv6_topo_add_host(srv6_topo_t *t, const char *name,
		       const struct in6_addr *sid)
{
	return add_node(t, name, sid, true);
}

int srv6_topo_add_link(srv6_topo_t *t, const char *a, const char *b,
		       const struct srv6_link_attr *attr)
{
	int ia = srv6_topo_node(t, a), ib = srv6_topo_node(t, b);
	struct link *l;

	if (ia < 0 || ib < 0)
		return AS_ENOTFOUND;
	if (ia == ib || !attr || !attr->bandwidth_kbps)
		return AS_EINVAL;
	if (t->nlinks == SRV6_TOPO_MAX_LINKS)
		return AS_ELIMIT;
	l = &t->links[t->nlinks];
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < SRV6_TAGS_MAX && attr->tags[i]; i++) {
		if (!*attr->tags[i] || strlen(attr->tags[i]) >= SRV6_NAME_MAX)
			return AS_EINVAL;
		strcpy(l->tags[l->ntags++], attr->tags[i]);
	}
	l->a = ia;
	l->b = ib;
	l->latency_us = attr->latency_us;
	l->bandwidth_kbps = attr->bandwidth_kbps;
	l->cost = attr->cost;
	l->up = true;
	return (int)t->nlinks++;
}

int srv6_topo_link_set_up(srv6_topo_t *t, int link, bool up)
{
	if (link < 0 || (size_t)link >= t->nlinks)
		return AS_ENOTFOUND;
	t->links[link].up = up;
	return AS_OK;
}

bool srv6_topo_link_probed(const srv6_topo_t *t, int link)
{
	return link >= 0 && (size_t)link < t->nlinks && !t->links[link].unprobed;
}

const char *srv6_topo_link_bird(const srv6_topo_t *t, int link)
{
	if (link < 0 || (size_t)link >= t->nlinks || !t->links[link].bird[0])
		return NULL;
	return t->links[link].bird;
}

int srv6_topo_link_set_bird(srv6_topo_t *t, int link, const char *proto)
{
	if (link < 0 || (size_t)link >= t->nlinks)
		return AS_ENOTFOUND;
	if (proto && strlen(proto) >= SRV6_NAME_MAX)
		return AS_EINVAL;
	snprintf(t->links[link].bird, SRV6_NAME_MAX, "%s", proto ? proto : "");
	return AS_OK;
}

int srv6_topo_link_set_probed(srv6_topo_t *t, int link, bool probed)
{
	if (link < 0 || (size_t)link >= t->nlinks)
		return AS_ENOTFOUND;
	t->links[link].unprobed = !probed;
	return AS_OK;
}

static bool usable(const srv6_topo_t *t, const struct link *l,
		   const struct srv6_objective *o, uint64_t min_bw, int skip)
{
	if (!l->up || l->bandwidth_kbps < min_bw || l - t->links == skip)
		return false;
	for (size_t i = 0; i < o->navoid; i++)
		for (size_t j = 0; j < l->ntags; j++)
			if (o->avoid[i] && !strcmp(o->avoid[i], l->tags[j]))
				return false;
	return true;
}

/* Per-node state of one Dijkstra run. */
struct label {
	uint64_t dist;		/* summed metric, or the bottleneck (widest) */
	uint32_t hops;
	int prev;
	bool done;
	bool seen;
};

/* Is (d, h, via) a better label than l's? For the widest pass a larger
 * dist is better. */
static bool better(const srv6_topo_t *t, const struct label *l, uint64_t d,
		   uint32_t h, int via, bool widest)
{
	if (!l->seen)
		return true;
	if (d != l->dist)
		return widest ? d > l->dist : d < l->dist;
	if (h != l->hops)
		return h < l->hops;
	return strcmp(t->nodes[via].name, t->nodes[l->prev].name) < 0;
}

static uint64_t link_metric(const struct link *l, enum srv6_metric m)
{
	return m == SRV6_METRIC_COST ? l->cost : l->latency_us;
}

/* One Dijkstra from src. widest: maximise the bottleneck bandwidth;
 * else minimise the sum of `metric` over links at least min_bw wide. */
static void dijkstra(const srv6_topo_t *t, int src,
		     const struct srv6_objective *o, enum srv6_metric metric,
		     bool widest, uint64_t min_bw, int skip, struct label *lab)
{
	memset(lab, 0, t->nnodes * sizeof(*lab));
	for (size_t i = 0; i < t->nnodes; i++)
		lab[i].prev = -1;
	lab[src].seen = true;
	lab[src].dist = widest ? UINT64_MAX : 0;
	for (;;) {
		int u = -1;

		for (size_t i = 0; i < t->nnodes; i++) {
			if (!lab[i].seen || lab[i].done)
				continue;
			if (u < 0 || (widest ? lab[i].dist > lab[u].dist
				      : lab[i].dist < lab[u].dist) ||
			    (lab[i].dist == lab[u].dist && lab[i].hops < lab[u].hops))
				u = (int)i;
		}
		if (u < 0)
			return;
		lab[u].done = true;
		if (u != src && t->nodes[u].host)
			continue;	/* hosts are not transit */
		for (size_t k = 0; k < t->nlinks; k++) {
			const struct link *l = &t->links[k];
			int v;
			uint64_t d;

			if (l->a != u && l->b != u)
				continue;
			if (!usable(t, l, o, min_bw, skip))
				continue;
			v = l->a == u ? l->b : l->a;
			if (lab[v].done)
				continue;
			if (widest)
				d = lab[u].dist < l->bandwidth_kbps ? lab[u].dist
					: l->bandwidth_kbps;
			else
				d = lab[u].dist + link_metric(l, metric);
			if (better(t, &lab[v], d, lab[u].hops + 1, u, widest)) {
				lab[v].seen = true;
				lab[v].dist = d;
				lab[v].hops = lab[u].hops + 1;
				lab[v].prev = u;
			}
		}
	}
}

/* The best usable link between a and b for the objective (parallel
 * links): the one the search could have used. */
static const struct link *link_between(const srv6_topo_t *t, int a, int b,
				       const struct srv6_objective *o,
				       enum srv6_metric metric, uint64_t min_bw,
				       int skip)
{
	const struct link *best = NULL;

	for (size_t k = 0; k < t->nlinks; k++) {
		const struct link *l = &t->links[k];

		if (!((l->a == a && l->b == b) || (l->a == b && l->b == a)))
			continue;
		if (!usable(t, l, o, min_bw, skip))
			continue;
		if (!best || link_metric(l, metric) < link_metric(best, metric))
			best = l;
	}
	return best;
}

static int compute(const srv6_topo_t *t, int src, int dst,
		   const struct srv6_objective *o, int skip,
		   struct srv6_path *out)
{
	enum srv6_metric metric;
	uint64_t min_bw = 0;
	struct label *lab;
	int rev[SRV6_TOPO_MAX_NODES];
	size_t n = 0;
	int err = AS_OK;

	if (src == dst || !o || (unsigned)o->metric > SRV6_METRIC_COST)
		return AS_EINVAL;
	lab = calloc(t->nnodes, sizeof(*lab));
	if (!lab)
		return AS_ENOMEM;
	metric = o->metric;
	if (metric == SRV6_METRIC_BANDWIDTH) {
		dijkstra(t, src, o, metric, true, 0, skip, lab);
		if (!lab[dst].seen) {
			err = AS_ENOENT;
			goto out;
		}
		min_bw = lab[dst].dist;
		metric = SRV6_METRIC_LATENCY;
	}
	dijkstra(t, src, o, metric, false, min_bw, skip, lab);
	if (!lab[dst].seen) {
		err = AS_ENOENT;
		goto out;
	}
	for (int v = dst; v >= 0; v = lab[v].prev)
		rev[n++] = v;
	out->nnodes = n;
	out->bandwidth_kbps = UINT64_MAX;
	for (size_t i = 0; i < n; i++)
		out->nodes[i] = rev[n - 1 - i];
	for (size_t i = 0; i + 1 < n; i++) {
		const struct link *l = link_between(t, out->nodes[i],
						    out->nodes[i + 1], o,
						    metric, min_bw, skip);

		out->latency_us += l->latency_us;
		out->cost += l->cost;
		if (l->bandwidth_kbps < out->bandwidth_kbps)
			out->bandwidth_kbps = l->bandwidth_kbps;
	}
	/* Strict: every router, then the destination host. */
	for (size_t i = 1; i < n; i++) {
		if (out->nsegs == SRV6_SEGS_MAX) {
			err = AS_ELIMIT;
			goto out;
		}
		out->segs[out->nsegs++] = t->nodes[out->nodes[i]].sid;
	}
out:
	free(lab);
	return err;
}

int srv6_path_compute(const srv6_topo_t *t, const char *from, const char *to,
		      const struct srv6_objective *o, struct srv6_path *out)
{
	int src = srv6_topo_node(t, from), dst = srv6_topo_node(t, to);

	memset(out, 0, sizeof(*out));
	if (src < 0 || dst < 0 || !t->nodes[src].host || !t->nodes[dst].host)
		return AS_ENOTFOUND;
	return compute(t, src, dst, o, -1, out);
}

int srv6_path_probe(const srv6_topo_t *t, int from, int link,
		    struct srv6_path *out)
{
	static const struct srv6_objective lat = { SRV6_METRIC_LATENCY, NULL, 0 };
	const struct link *l;
	int near, far, err;

	memset(out, 0, sizeof(*out));
	if (from < 0 || (size_t)from >= t->nnodes || !t->nodes[from].host ||
	    link < 0 || (size_t)link >= t->nlinks)
		return AS_ENOTFOUND;
	l = &t->links[link];
	if (l->a == from || l->b == from) {
		/* Our own link: its far end directly. */
		far = l->a == from ? l->b : l->a;
		out->nnodes = 2;
		out->nodes[0] = from;
		out->nodes[1] = far;
		out->latency_us = l->latency_us;
		out->bandwidth_kbps = l->bandwidth_kbps;
		out->cost = l->cost;
		out->nsegs = 1;
		out->segs[0] = t->nodes[far].sid;
		return AS_OK;
	}
	/* Reach the end that is a router (hosts are not transit), then
	 * cross the link. */
	near = t->nodes[l->a].host ? l->b : l->a;
	far = near == l->a ? l->b : l->a;
	if (t->nodes[near].host)
		return AS_ENOENT;	/* host to host: no one to send it */
	if ((err = compute(t, from, near, &lat, link, out)))
		return err;
	if (out->nsegs == SRV6_SEGS_MAX)
		return AS_ELIMIT;
	out->nodes[out->nnodes++] = far;
	out->segs[out->nsegs++] = t->nodes[far].sid;
	out->latency_us += l->latency_us;
	out->cost += l->cost;
	if (l->bandwidth_kbps < out->bandwidth_kbps)
		out->bandwidth_kbps = l->bandwidth_kbps;
	return AS_OK;
}
