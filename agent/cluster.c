/*
 * agent/cluster.c - the cluster component (component.h): the agent's side
 * of gossip: the local node record, the members the answer view is built
 * from, the keyring on disk, and the operator's view of all of it
 * (members, keyring, status, metrics).
 *
 * Design. The gossip module (gossip/gossip.h) is a pure core plus a libuv
 * adapter; this file only feeds it and reads it, on the loop thread.
 *
 * - Local record: the catalog endpoints whose node is this node, each
 *   with the health of its TCP connect probe (agent/probe.c), and the
 *   load from the daemon's sampler, pushed on every sample (the core
 *   decides what is worth gossiping). Endpoints are re-announced only when
 *   they change (a probe flips, a reload edits the catalog).
 * - Answer view: the daemon builds it from agent_cluster_members() and
 *   the catalog (agent/viewspec.c). Only alive members contribute endpoints, so a
 *   suspect, dead or left node leaves answers with the rebuild that
 *   follows the change. Each endpoint carries its node's gossiped load
 *   factor (this node's own from the sampler, which is fresher); service
 *   attributes come from the local catalog, or from the gossiped port and
 *   zone defaults for a service only other nodes know. Gossip change
 *   notifications arm a short timer (gossip.rebuild_delay), which emits
 *   AGENT_EV_MEMBERS_CHANGED, so a burst of changes costs one rebuild and
 *   no query ever waits for one. Joining a cluster emits AGENT_EV_JOINED.
 * - Anything remote is input: a gossiped service name that is not a DNS
 *   label we can serve is skipped and counted, never a failed view.
 * - Keyring: the core owns the keyring; install/use/remove change it and
 *   then persist the file (atomically, mode 0600). A failed write undoes
 *   the change, so memory and disk never disagree.
 * - Shutdown: a graceful leave, then a few more gossip rounds
 *   (gossip.leave_timeout) before the sockets close.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cluster.h"
#include "agent/probe.h"
#include "lib/as.h"
#include "lib/hash.h"

struct agent_cluster {
	struct agent_ctx *ctx;
	struct gossip_uv *uv;
	struct gossip_core *core;	/* owned by uv; NULL once closing */
	char name[GOSSIP_NAME_MAX + 1];
	char zone[GOSSIP_ZONE_MAX + 1];	/* the zone gossiped; "" = none */
	char label[GOSSIP_LABEL_MAX + 1];
	char *keyring_path;		/* NULL: no file (plaintext) */
	struct sockaddr_storage bind, advertise;

	struct agent_prober *prober;
	struct gossip_endpoint *local;	/* parallel to the prober targets */
	size_t n_local;
	bool probing;

	uv_timer_t rebuild_timer, leave_timer, join_timer;
	uint64_t join_backoff_ms;
	uint64_t join_started;		/* now_ms() of the first join */
	uint64_t join_warned;		/* now_ms() of the last warning; 0 = none */
	uint64_t join_attempts;		/* unanswered, while not joined */
	int open_handles;
	bool uv_closed;			/* gossip_uv_close's callback ran */
	bool closing, joined;

	uint64_t view_builds, view_failures, skipped_endpoints;
	uint64_t keyring_changes;
	size_t over_limit;		/* local endpoints left out of the record */
	size_t max_endpoints;		/* the core's limit, fixed at start */
	uint64_t rtt_fp;		/* RTT bands the view was built with */
	uint64_t rtt_checked;		/* now_ms() of the last comparison */
};

static uint64_t now_ms(const struct agent_cluster *cl)
{
	return uv_now(cl->ctx->loop);
}

/* ---- the local record ---------------------------------------------------- */

static void rebuild_soon(struct agent_cluster *cl);

/* This node's catalog endpoints (static and Kubernetes), in catalog
 * order, with their probe targets. A node record carries at most `max`
 * (gossip.max_endpoints_per_node): the rest are left out and counted in
 * *over. Returns the count or a negative code. */
static int local_endpoints(const struct agent_service *svcs, size_t n_svcs,
			   const char *self, size_t max, struct gossip_endpoint **eps_out,
			   struct agent_probe_target **tgt_out, size_t *over)
{
	size_t n = 0, k = 0;

	*eps_out = NULL;
	*tgt_out = NULL;
	*over = 0;
	for (size_t i = 0; i < n_svcs; i++)
		for (size_t j = 0; j < svcs[i].n_endpoints; j++)
			n += strcmp(svcs[i].endpoints[j].node, self) == 0;
	if (n > max) {
		*over = n - max;
		n = max;
	}
	struct gossip_endpoint *eps = calloc(n ? n : 1, sizeof(*eps));
	struct agent_probe_target *tgt = calloc(n ? n : 1, sizeof(*tgt));
	if (!eps || !tgt) {
		free(eps);
		free(tgt);
		return AS_ENOMEM;
	}
	for (size_t i = 0; i < n_svcs && k < n; i++) {
		const struct agent_service *s = &svcs[i];
		for (size_t j = 0; j < s->n_endpoints && k < n; j++) {
			const struct agent_endpoint *e = &s->endpoints[j];
			if (strcmp(e->node, self) != 0)
				continue;
			struct gossip_endpoint *g = &eps[k];
			snprintf(g->service, sizeof(g->service), "%s", s->name);
			if (e->family == AF_INET) {
				/* IPv4 travels IPv4-mapped. */
				g->addr[10] = g->addr[11] = 0xff;
				memcpy(g->addr + 12, e->addr, 4);
			} else {
				memcpy(g->addr, e->addr, 16);
			}
			g->port = s->port;
			g->weight = (uint16_t)AS_MIN(e->weight, 65535u);
			g->healthy = true;
			tgt[k].family = e->family;
			memcpy(tgt[k].addr, e->addr, 16);
			tgt[k].port = s->port;
			k++;
		}
	}
	*eps_out = eps;
	*tgt_out = tgt;
	return (int)n;
}

static bool endpoints_equal(const struct gossip_endpoint *a, size_t na,
			    const struct gossip_endpoint *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].service, b[i].service) != 0 ||
		    memcmp(a[i].addr, b[i].addr, 16) != 0 ||
		    a[i].port != b[i].port || a[i].weight != b[i].weight ||
		    a[i].healthy != b[i].healthy)
			return false;
	return true;
}

/* Copies probe health into the local endpoints and announces them when
 * the record changed (or when forced, on start). */
static void announce_endpoints(struct agent_cluster *cl, bool force)
{
	struct gossip_member self;
	int rc;

	if (!cl->core)
		return;
	for (size_t i = 0; i < cl->n_local; i++) {
		const struct agent_probe_state *st =
			agent_prober_state(cl->prober, i);
		cl->local[i].healthy = !st || agent_probe_healthy(st);
	}
	if (!force &&
	    gossip_core_member_find(cl->core, cl->name, now_ms(cl), &self) == AS_OK &&
	    endpoints_equal(self.rec->endpoints, self.rec->n_endpoints,
			    cl->local, cl->n_local))
		return;
	rc = gossip_core_set_endpoints(cl->core, now_ms(cl), cl->local,
				       cl->n_local);
	if (rc)
		as_err("gossip: cannot announce local endpoints: %s",
		       as_strerror(rc));
	if (cl->uv)
		gossip_uv_kick(cl->uv);
}

static void on_probe_change(void *arg, size_t idx, bool healthy)
{
	struct agent_cluster *cl = arg;
	char addr[INET6_ADDRSTRLEN] = "?";

	if (idx < cl->n_local) {
		as_format_addr16(cl->local[idx].addr, addr, sizeof(addr));
		as_notice("endpoint %s %s port %u is %s", cl->local[idx].service,
			  addr, cl->local[idx].port, healthy ? "healthy" : "unhealthy");
	}
	announce_endpoints(cl, false);
}

static struct agent_prober_config prober_config(const struct agent_config *c)
{
	return (struct agent_prober_config){
		.interval_ms = c->health.interval_ms,
		.timeout_ms = AS_MIN(c->health.timeout_ms, c->health.interval_ms),
		.rise = c->health.rise,
		.fall = c->health.fall,
	};
}

/* Recomputes the local endpoints from the active config and (re)starts
 * probing them. */
static int setup_local(struct agent_cluster *cl, bool force)
{
	const struct agent_config *c = cl->ctx->cfg;
	struct gossip_endpoint *eps;
	struct agent_probe_target *tgt;
	size_t over;
	int n = local_endpoints(cl->ctx->services, cl->ctx->n_services, cl->name,
				cl->max_endpoints, &eps, &tgt, &over);

	if (n < 0)
		return n;
	if (over && over != cl->over_limit)
		as_err("gossip: node %s has %zu endpoints; a node record "
		       "carries at most %zu (gossip.max_endpoints_per_node), "
		       "so %zu are not announced",
		       cl->name, (size_t)n + over, cl->max_endpoints, over);
	cl->over_limit = over;
	free(cl->local);
	cl->local = eps;
	cl->n_local = (size_t)n;
	bool want_probes = c->health.interval_ms > 0;
	if (want_probes && !cl->prober) {
		struct agent_prober_config pc = prober_config(c);
		int rc = agent_prober_new(cl->ctx->loop, &pc, on_probe_change,
					  cl, &cl->prober);
		if (rc) {
			free(tgt);
			return rc;
		}
	} else if (!want_probes && cl->prober) {
		agent_prober_close(cl->prober);
		cl->prober = NULL;
	} else if (cl->prober) {
		struct agent_prober_config pc = prober_config(c);
		agent_prober_set_config(cl->prober, &pc);
	}
	if (cl->prober) {
		int rc = agent_prober_set_targets(cl->prober, tgt, (size_t)n);
		if (rc) {
			free(tgt);
			return rc;
		}
	}
	free(tgt);
	announce_endpoints(cl, force);
	return AS_OK;
}

/* Latency services rank endpoints by estimated RTT, and coordinates move
 * without any gossip change: the view is rebuilt (checked at most every
 * RTT_CHECK_MS, on a load sample) when a member's estimate moved to
 * another RTT_BAND band or became known or unknown. */
#define RTT_CHECK_MS 10000
#define RTT_BAND 1.25

static uint64_t rtt_fingerprint(const struct agent_cluster *cl)
{
	size_t n = gossip_core_member_count(cl->core);
	uint64_t h = 0, now = now_ms(cl);

	for (size_t i = 0; i < n; i++) {
		struct gossip_member m;
		double rtt;
		int64_t band = INT64_MIN;
		if (gossip_core_member_get(cl->core, i, now, &m) != AS_OK)
			continue;
		if (gossip_core_rtt_estimate(cl->core, m.rec->name, &rtt) == AS_OK)
			band = (int64_t)floor(log(AS_MAX(rtt, 0.01)) / log(RTT_BAND));
		/* order-independent: the member table may be reordered */
		h += as_hash_mix64(as_fnv1a64(m.rec->name, strlen(m.rec->name)) ^
				   (uint64_t)band);
	}
	return h;
}

static void rtt_check(struct agent_cluster *cl)
{
	uint64_t now = now_ms(cl);

	if (now - cl->rtt_checked < RTT_CHECK_MS)
		return;
	cl->rtt_checked = now;
	if (rtt_fingerprint(cl) != cl->rtt_fp)
		rebuild_soon(cl);
}

/* After every load sample: the core decides what is worth gossiping. */
static void push_load(struct agent_cluster *cl)
{
	if (!cl || !cl->core || cl->closing)
		return;
	const struct agent_load_sample *s = cl->ctx->load;
	struct gossip_load l = {
		.util = isfinite(s->cpu_util) ? AS_MAX(s->cpu_util, 0.0) : 0,
		.psi = s->have_psi && isfinite(s->psi_some_avg10)
			       ? AS_MAX(s->psi_some_avg10 / 100.0, 0.0) : 0,
		.cpus = s->ncpu,
		.factor = isfinite(s->factor) ? AS_MAX(s->factor, 0.0) : 1,
	};
	int rc = gossip_core_set_load(cl->core, now_ms(cl), &l);
	if (rc)
		as_debug("gossip: load not accepted: %s", as_strerror(rc));
	gossip_uv_kick(cl->uv);
	rtt_check(cl);
}

/* ---- the cluster view ------------------------------------------------------ */

static void set_joined(struct agent_cluster *cl)
{
	if (cl->joined)
		return;
	cl->joined = true;	/* sticky: a lonely node keeps serving */
	uv_timer_stop(&cl->join_timer);
	as_notice("gossip: joined the cluster %s", cl->label);
	cl->ctx->emit(cl->ctx, AGENT_EV_JOINED, NULL);
}

static void on_change(void *arg, const struct gossip_member *m,
		      enum gossip_state old, unsigned what)
{
	struct agent_cluster *cl = arg;
	char buf[AS_SOCKADDR_STRLEN];

	if (!m->self && m->state == GOSSIP_ALIVE)
		set_joined(cl);
	if (!m->self && (what & (GOSSIP_CHANGE_JOIN | GOSSIP_CHANGE_STATE |
				 GOSSIP_CHANGE_REMOVED))) {
		if (what & GOSSIP_CHANGE_JOIN)
			as_notice("gossip: %s (%s) joined", m->rec->name,
				  as_format_sockaddr(&m->rec->addr, buf, sizeof(buf)));
		else if (what & GOSSIP_CHANGE_REMOVED)
			as_info("gossip: %s forgotten", m->rec->name);
		else if (old != m->state)
			as_notice("gossip: %s is %s (was %s)", m->rec->name,
				  gossip_state_name(m->state),
				  gossip_state_name(old));
	}
	/* Our own load is in the view from the sampler already. */
	if (m->self && what == GOSSIP_CHANGE_LOAD)
		return;
	rebuild_soon(cl);
}

static void on_rebuild_timer(uv_timer_t *t)
{
	struct agent_cluster *cl = t->data;
	int rc = cl->ctx->emit(cl->ctx, AGENT_EV_MEMBERS_CHANGED, NULL);

	if (rc) {
		cl->view_failures++;
		as_err("cannot rebuild the answer view: %s", as_strerror(rc));
	}
}

static void rebuild_soon(struct agent_cluster *cl)
{
	if (cl->closing || uv_is_active((uv_handle_t *)&cl->rebuild_timer))
		return;
	uv_timer_start(&cl->rebuild_timer, on_rebuild_timer,
		       cl->ctx->cfg->gossip.rebuild_delay_ms, 0);
}

void agent_cluster_view_built(void *self, uint64_t skipped)
{
	struct agent_cluster *cl = self;

	if (!cl)
		return;
	if (skipped != cl->skipped_endpoints) {
		if (skipped > cl->skipped_endpoints)
			as_warn("gossip: %llu gossiped endpoints skipped (service "
				"name not servable in %s)",
				(unsigned long long)skipped, cl->ctx->cfg->dns.zone);
		cl->skipped_endpoints = skipped;
	}
	cl->view_builds++;
	if (cl->core)
		cl->rtt_fp = rtt_fingerprint(cl);
}

int agent_cluster_members(void *self, struct gossip_member **out,
			  size_t *n_out)
{
	struct agent_cluster *cl = self;
	size_t n = 0;

	*out = NULL;
	*n_out = 0;
	if (!cl || !cl->core)
		return AS_ESTATE;
	uint64_t now = now_ms(cl);
	size_t total = gossip_core_member_count(cl->core);
	struct gossip_member *mem = calloc(total ? total : 1, sizeof(*mem));
	if (!mem)
		return AS_ENOMEM;
	for (size_t i = 0; i < total; i++)
		if (gossip_core_member_get(cl->core, i, now, &mem[n]) == AS_OK)
			n++;
	*out = mem;
	*n_out = n;
	return AS_OK;
}

static double sane_factor(double f)
{
	if (!isfinite(f))
		return 1;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

/* ---- life cycle -------------------------------------------------------------- */

/*
 * Until another member answers, try the seeds again: every
 * JOIN_FAST_MS for the first JOIN_FAST_FOR_MS (nodes start in any order,
 * and a seed that is not listening yet refuses the connection at no
 * cost, so the join follows within JOIN_FAST_MS of it coming up), then
 * with a backoff doubling to 30 s. Without this a seed that was not up
 * yet would be retried only at the core's periodic rejoin.
 */
#define JOIN_FAST_MS 200
#define JOIN_FAST_FOR_MS 10000
#define JOIN_WARN_AFTER_MS 2000		/* a seed may take this long to start */
#define JOIN_WARN_EVERY_MS 30000

static uint64_t join_next_delay(const struct agent_cluster *cl, uint64_t now)
{
	if (now - cl->join_started < JOIN_FAST_FOR_MS)
		return JOIN_FAST_MS;
	return AS_MIN(AS_MAX(cl->join_backoff_ms * 2, 1000u), 30000u);
}

static void on_join_timer(uv_timer_t *t)
{
	struct agent_cluster *cl = t->data;
	const struct agent_config *c = cl->ctx->cfg;
	uint64_t now = now_ms(cl);

	if (cl->joined || cl->closing || !cl->core)
		return;
	/* The seeds cannot answer a node whose packets they cannot open,
	 * and only they can tell: say where to look (not at every fast
	 * retry: once it is overdue, then every JOIN_WARN_EVERY_MS). */
	if (++cl->join_attempts == 1)
		as_info("gossip: no member answered yet; trying the seeds again");
	else if (now - cl->join_started >= JOIN_WARN_AFTER_MS &&
		 (!cl->join_warned || now - cl->join_warned >= JOIN_WARN_EVERY_MS)) {
		cl->join_warned = now;
		as_warn("gossip: not joined: no seed answered %llu join attempts "
			"(seeds down or unreachable, or another gossip key or "
			"cluster label: the seeds then log failed authentication)",
			(unsigned long long)cl->join_attempts);
	}
	if (gossip_core_join(cl->core, now, c->gossip.seed_addrs,
			     c->gossip.n_seeds) == AS_OK)
		gossip_uv_kick(cl->uv);
	cl->join_backoff_ms = join_next_delay(cl, now);
	uv_timer_start(&cl->join_timer, on_join_timer, cl->join_backoff_ms, 0);
}

static void handle_closed(uv_handle_t *h)
{
	struct agent_cluster *cl = h->data;
	cl->open_handles--;
}

static void uv_closed(void *arg)
{
	struct agent_cluster *cl = arg;
	cl->uv_closed = true;
}

static void close_transport(struct agent_cluster *cl)
{
	if (cl->uv) {
		gossip_uv_close(cl->uv, uv_closed, cl);
		cl->uv = NULL;
	} else {
		cl->uv_closed = true;
	}
	cl->core = NULL;	/* freed with the adapter */
}

static void on_leave_timer(uv_timer_t *t)
{
	struct agent_cluster *cl = t->data;
	uv_close((uv_handle_t *)&cl->leave_timer, handle_closed);
	close_transport(cl);
}

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int load_keyring(struct agent_cluster *cl, const struct agent_config *c,
			struct gossip_keyring **kr)
{
	char err[256] = "";
	int rc;

	*kr = NULL;
	if (!c->gossip.keyring || !*c->gossip.keyring)
		return AS_OK;	/* plaintext only (checked by the config) */
	rc = gossip_keyring_load(c->gossip.keyring, kr, err, sizeof(err));
	if (rc == -ENOENT && c->gossip.plaintext) {
		as_notice("gossip: no keyring at %s; plaintext only",
			  c->gossip.keyring);
		rc = AS_OK;
		*kr = NULL;
	} else if (rc) {
		as_err("gossip.keyring %s: %s%s%s (create one with "
		       "`umask 077; anysteerd --generate-key > %s`)",
		       c->gossip.keyring, as_strerror(rc), *err ? ": " : "",
		       err, c->gossip.keyring);
		return rc;
	} else if (gossip_keyring_count(*kr) == 0 && !c->gossip.plaintext) {
		as_err("gossip.keyring %s holds no key (add one from "
		       "`anysteerd --generate-key`)", c->gossip.keyring);
		gossip_keyring_free(*kr);
		*kr = NULL;
		return AS_ECONFIG;
	}
	if (!(cl->keyring_path = strdup(c->gossip.keyring))) {
		gossip_keyring_free(*kr);
		*kr = NULL;
		return AS_ENOMEM;
	}
	return AS_OK;
}

/*
 * With a wildcard bind and no gossip.advertise (a DaemonSet shares one
 * config between nodes), advertise the address the kernel would use as
 * the source toward a seed: connecting a UDP socket sends nothing, it
 * only asks the routing table. Without a usable seed, the host's first
 * global address. The port is the bind port.
 */
static int pick_advertise(const struct agent_config *c,
			  struct sockaddr_storage *out)
{
	uint16_t port = as_sockaddr_port(&c->gossip.bind_addr);

	for (size_t i = 0; i < c->gossip.n_seeds; i++) {
		const struct sockaddr_storage *seed = &c->gossip.seed_addrs[i];
		struct sockaddr_storage me;
		socklen_t len = sizeof(me);
		int fd = socket(seed->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int ok = connect(fd, (const struct sockaddr *)seed,
				 as_sockaddr_len(seed)) == 0 &&
			 getsockname(fd, (struct sockaddr *)&me, &len) == 0;
		close(fd);
		if (ok && as_sockaddr_valid(&me) && !as_sockaddr_is_any(&me)) {
			*out = me;
			as_sockaddr_set_port(out, port);
			return AS_OK;
		}
	}
	struct ifaddrs *ifa = NULL, *best = NULL;
	if (getifaddrs(&ifa) != 0)
		return -errno;
	for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
		if (!p->ifa_addr || (p->ifa_flags & IFF_LOOPBACK) ||
		    !(p->ifa_flags & IFF_UP))
			continue;
		if (p->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *x =
				&((const struct sockaddr_in6 *)p->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(x))
				continue;
			best = p;
			break;	/* IPv6 first */
		}
		if (p->ifa_addr->sa_family == AF_INET && !best)
			best = p;
	}
	int rc = AS_ENOENT;
	if (best) {
		memset(out, 0, sizeof(*out));
		memcpy(out, best->ifa_addr, best->ifa_addr->sa_family == AF_INET6
			? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		as_sockaddr_set_port(out, port);
		rc = AS_OK;
	}
	freeifaddrs(ifa);
	return rc;
}

/* The protocol's settings from the config; 0 = the module's default. */
static void gossip_settings(const struct agent_cluster *cl,
			    const struct agent_config *c, struct gossip_config *gc)
{
	gossip_config_defaults(gc);
	gc->name = cl->name;
	gc->addr = cl->advertise;
	gc->label = cl->label;
	gc->zone = cl->zone;
	gc->plaintext = c->gossip.plaintext;
	gc->seed = as_now_ns() ^ ((uint64_t)getpid() << 32) ^ wall_us();
	/* A restart must outrank what the cluster remembers of us. */
	gc->incarnation = (uint32_t)as_wall_s();
	gc->seq_base = wall_us();
	if (c->gossip.probe_interval_ms)
		gc->probe_interval_ms = (uint32_t)c->gossip.probe_interval_ms;
	if (c->gossip.probe_timeout_ms)
		gc->probe_timeout_ms = (uint32_t)c->gossip.probe_timeout_ms;
	if (gc->probe_timeout_ms >= gc->probe_interval_ms)
		gc->probe_timeout_ms = gc->probe_interval_ms / 2 ? gc->probe_interval_ms / 2 : 1;
	if (c->gossip.gossip_interval_ms)
		gc->gossip_interval_ms = (uint32_t)c->gossip.gossip_interval_ms;
	if (c->gossip.pushpull_interval_ms)
		gc->pushpull_interval_ms = (uint32_t)c->gossip.pushpull_interval_ms;
	if (c->gossip.suspicion_mult)
		gc->suspicion_mult = c->gossip.suspicion_mult;
	if (c->gossip.load_step > 0)
		gc->load_step = c->gossip.load_step;
	gc->stream_max_conns = c->gossip.tcp_max_conns;
	gc->stream_max_per_source = c->gossip.tcp_max_per_source;
	gc->stream_source_prefix = c->gossip.tcp_source_prefix;
	gc->max_endpoints = c->gossip.max_endpoints_per_node;
}

/* Identity and addresses; NULL (with *rc) when no address to advertise
 * can be found. */
static struct agent_cluster *cluster_new(struct agent_ctx *ctx, int *rc)
{
	const struct agent_config *c = ctx->cfg;
	struct agent_cluster *cl = calloc(1, sizeof(*cl));

	*rc = AS_ENOMEM;
	if (!cl)
		return NULL;
	cl->ctx = ctx;
	snprintf(cl->name, sizeof(cl->name), "%s", c->node.name);
	snprintf(cl->zone, sizeof(cl->zone), "%s", ctx->node_zone ? ctx->node_zone : "");
	snprintf(cl->label, sizeof(cl->label), "%s", c->gossip.cluster);
	cl->bind = c->gossip.bind_addr;
	cl->advertise = c->gossip.advertise && *c->gossip.advertise
				? c->gossip.advertise_addr : c->gossip.bind_addr;
	/* No advertise and no bind address (AF_UNSPEC) counts as a wildcard. */
	if ((!as_sockaddr_valid(&cl->advertise) ||
	     as_sockaddr_is_any(&cl->advertise)) &&
	    (*rc = pick_advertise(c, &cl->advertise))) {
		as_err("gossip: bind %s is a wildcard and no address to "
		       "advertise was found (%s); set gossip.advertise",
		       c->gossip.bind, as_strerror(*rc));
		free(cl);
		return NULL;
	}
	uv_timer_init(ctx->loop, &cl->rebuild_timer);
	uv_timer_init(ctx->loop, &cl->leave_timer);
	uv_timer_init(ctx->loop, &cl->join_timer);
	cl->rebuild_timer.data = cl->leave_timer.data = cl->join_timer.data = cl;
	cl->open_handles = 3;
	cl->uv_closed = true;	/* nothing to wait for until uv exists */
	cl->max_endpoints = c->gossip.max_endpoints_per_node;
	*rc = AS_OK;
	return cl;
}

/* The protocol core and its sockets. */
static int open_transport(struct agent_cluster *cl, struct gossip_keyring *kr)
{
	struct gossip_config gc;
	char buf[AS_SOCKADDR_STRLEN];
	int rc;

	gossip_settings(cl, cl->ctx->cfg, &gc);
	uv_update_time(cl->ctx->loop);
	rc = gossip_core_new(&gc, kr, now_ms(cl), &cl->core);
	if (rc) {
		gossip_keyring_free(kr);
		as_err("gossip: cannot start the protocol: %s", as_strerror(rc));
		return rc;
	}
	gossip_core_set_change_cb(cl->core, on_change, cl);
	rc = gossip_uv_new(cl->ctx->loop, &cl->bind, cl->core, &cl->uv);
	if (rc) {
		as_err("gossip: cannot listen on %s: %s",
		       as_format_sockaddr(&cl->bind, buf, sizeof(buf)),
		       as_strerror(rc));
		gossip_core_free(cl->core);	/* the adapter leaves it to us */
		cl->core = NULL;
		return rc;
	}
	cl->uv_closed = false;
	return AS_OK;
}

/* Joins through every seed that is not us; none = the first node, which
 * has joined at once. Returns the number of such seeds, or an error. */
static int join(struct agent_cluster *cl)
{
	const struct agent_config *c = cl->ctx->cfg;
	size_t n_seeds = 0;
	int rc;

	for (size_t i = 0; i < c->gossip.n_seeds; i++) {
		char s1[AS_SOCKADDR_STRLEN], s2[AS_SOCKADDR_STRLEN];
		if (strcmp(as_format_sockaddr(&c->gossip.seed_addrs[i], s1, sizeof(s1)),
			   as_format_sockaddr(&cl->advertise, s2, sizeof(s2))) != 0)
			n_seeds++;
	}
	rc = gossip_core_join(cl->core, now_ms(cl), c->gossip.seed_addrs,
			      c->gossip.n_seeds);
	if (rc) {
		as_err("gossip: cannot join: %s", as_strerror(rc));
		return rc;
	}
	gossip_uv_kick(cl->uv);
	if (n_seeds == 0) {
		set_joined(cl);
	} else if (!cl->joined) {
		cl->join_started = now_ms(cl);
		cl->join_backoff_ms = JOIN_FAST_MS;
		uv_timer_start(&cl->join_timer, on_join_timer, cl->join_backoff_ms, 0);
	}
	return (int)n_seeds;
}

/* Runs first: with gossip, the first view already comes from it. */
static int cluster_start(struct agent_ctx *ctx, void **self)
{
	struct agent_cluster *cl;
	struct gossip_keyring *kr = NULL;
	char buf[AS_SOCKADDR_STRLEN], buf2[AS_SOCKADDR_STRLEN];
	int rc;

	*self = NULL;
	if (!ctx->cfg->gossip.enabled)
		return AS_OK;
	if (!(cl = cluster_new(ctx, &rc)))
		return rc;
	*self = cl;	/* from here stop and free clean up */
	if ((rc = load_keyring(cl, ctx->cfg, &kr)))
		return rc;
	if ((rc = open_transport(cl, kr)))
		return rc;
	if ((rc = setup_local(cl, true)))
		return rc;
	push_load(cl);
	if ((rc = join(cl)) < 0)
		return rc;
	as_notice("gossip: node %s on %s (advertised %s), cluster %s, %s, "
		  "%d seeds, %zu local endpoints", cl->name,
		  as_format_sockaddr(&cl->bind, buf, sizeof(buf)),
		  as_format_sockaddr(&cl->advertise, buf2, sizeof(buf2)),
		  cl->label, kr ? "encrypted" : "PLAINTEXT", rc, cl->n_local);
	return AS_OK;
}

static void cluster_stop(void *self)
{
	struct agent_cluster *cl = self;

	if (!cl || cl->closing)
		return;
	cl->closing = true;
	uv_timer_stop(&cl->rebuild_timer);
	uv_close((uv_handle_t *)&cl->rebuild_timer, handle_closed);
	uv_close((uv_handle_t *)&cl->join_timer, handle_closed);
	if (cl->prober) {
		agent_prober_close(cl->prober);
		cl->prober = NULL;
	}
	uint64_t linger = cl->ctx->cfg->gossip.leave_timeout_ms;
	if (cl->core && cl->uv && linger) {
		if (gossip_core_leave(cl->core, now_ms(cl)) == AS_OK)
			as_notice("gossip: leaving the cluster");
		gossip_uv_kick(cl->uv);
		/* A few more rounds carry the leave to everyone. */
		uv_timer_start(&cl->leave_timer, on_leave_timer, linger, 0);
		return;
	}
	if (cl->core && cl->uv) {
		gossip_core_leave(cl->core, now_ms(cl));
		gossip_uv_kick(cl->uv);
	}
	uv_close((uv_handle_t *)&cl->leave_timer, handle_closed);
	close_transport(cl);
}

/* After the loop has run. */
static void cluster_free(void *self)
{
	struct agent_cluster *cl = self;

	if (!cl)
		return;
	if (cl->open_handles || !cl->uv_closed) {
		/* The loop did not finish closing: leaking beats a
		 * use-after-free in a callback that still may run. */
		as_warn("gossip: freed with handles still open");
		return;
	}
	free(cl->local);
	free(cl->keyring_path);
	free(cl);
}

/* Re-announces changed local endpoints; says what needs a restart. */
static void cluster_reconfigure(struct agent_ctx *ctx, void *self,
				const struct agent_config *old)
{
	struct agent_cluster *cl = self;
	const struct agent_config *c = ctx->cfg;

	if (old->gossip.enabled != c->gossip.enabled) {
		as_warn("reload: the gossip section was %s; takes effect after "
			"a restart", c->gossip.enabled ? "added" : "removed");
		return;
	}
	if (!cl || cl->closing)
		return;
	bool seeds_changed = old->gossip.n_seeds != c->gossip.n_seeds;
	for (size_t i = 0; !seeds_changed && i < c->gossip.n_seeds; i++)
		seeds_changed = strcmp(old->gossip.seeds[i], c->gossip.seeds[i]) != 0;
	if (strcmp(old->gossip.bind, c->gossip.bind) != 0 ||
	    strcmp(old->gossip.advertise ? old->gossip.advertise : "",
		   c->gossip.advertise ? c->gossip.advertise : "") != 0 ||
	    strcmp(old->gossip.cluster, c->gossip.cluster) != 0 ||
	    strcmp(old->gossip.keyring, c->gossip.keyring) != 0 ||
	    old->gossip.plaintext != c->gossip.plaintext || seeds_changed ||
	    old->gossip.tcp_max_conns != c->gossip.tcp_max_conns ||
	    old->gossip.tcp_max_per_source != c->gossip.tcp_max_per_source ||
	    old->gossip.tcp_source_prefix != c->gossip.tcp_source_prefix ||
	    old->gossip.max_endpoints_per_node != c->gossip.max_endpoints_per_node)
		as_warn("reload: gossip bind, advertise, seeds, cluster, "
			"keyring, plaintext, tcp_* or max_endpoints_per_node "
			"changed; takes effect after "
			"a restart (use `anysteerctl keyring` to rotate keys)");
	if (setup_local(cl, false))
		as_warn("reload: local endpoints not re-announced");
}

/* This node's zone changed (node.zone, the Node's label): gossip it. */
static void announce_zone(struct agent_cluster *cl)
{
	const char *z = cl->ctx->node_zone ? cl->ctx->node_zone : "";
	int rc;

	if (!strcmp(z, cl->zone))
		return;
	rc = gossip_core_set_zone(cl->core, now_ms(cl), z);
	if (rc) {
		as_err("gossip: cannot announce zone %s: %s", z, as_strerror(rc));
		return;
	}
	as_notice("gossip: announcing zone %s", *z ? z : "(none)");
	snprintf(cl->zone, sizeof(cl->zone), "%s", z);
	if (cl->uv)
		gossip_uv_kick(cl->uv);
}

/* The catalog changed (a source): recompute and re-announce the local
 * endpoints; a new load sample: gossip it; a new zone: announce it. */
static void cluster_notify(void *self, enum agent_event ev)
{
	struct agent_cluster *cl = self;

	if (ev == AGENT_EV_LOAD) {
		push_load(cl);
		return;
	}
	if (ev == AGENT_EV_ZONE_CHANGED) {
		if (cl && !cl->closing && cl->core)
			announce_zone(cl);
		return;
	}
	if (ev != AGENT_EV_CATALOG_CHANGED || !cl || cl->closing || !cl->core)
		return;
	int rc = setup_local(cl, false);
	if (rc)
		as_err("gossip: cannot announce local endpoints: %s",
		       as_strerror(rc));
}

/* ---- snapshot, metrics, status ------------------------------------------------ */

static void count_local(const struct agent_cluster *cl, size_t *total,
			size_t *healthy)
{
	*total = cl->n_local;
	*healthy = 0;
	for (size_t i = 0; i < cl->n_local; i++)
		*healthy += cl->local[i].healthy;
}

static void cluster_snapshot(const void *self, struct agent_snapshot *snap)
{
	const struct agent_cluster *cl = self;
	struct agent_cluster_snap *s = &snap->cluster;

	memset(s, 0, sizeof(*s));
	if (!cl)
		return;
	s->enabled = true;
	s->joined = cl->joined;
	if (cl->core)
		gossip_core_metrics(cl->core, &s->m);
	count_local(cl, &s->local_endpoints, &s->local_healthy);
	s->view_builds = cl->view_builds;
	s->view_failures = cl->view_failures;
	s->skipped_endpoints = cl->skipped_endpoints;
	s->local_over_limit = cl->over_limit;
	s->keyring_changes = cl->keyring_changes;
}

/* On the wire: messages, packets and bytes, what fails authentication
 * and what is dropped. */
static void wire_metrics(FILE *f, const struct gossip_metrics *m)
{
	agent_metric_head(f, "anysteer_gossip_messages_total", "Gossip messages, by direction and type.", "counter");
	for (int t = 1; t < GOSSIP_MSG_TYPE_COUNT; t++) {
		fprintf(f, "anysteer_gossip_messages_total{direction=\"in\",type=\"%s\"} %llu\n",
			gossip_msg_type_name(t), (unsigned long long)m->msgs_in[t]);
		fprintf(f, "anysteer_gossip_messages_total{direction=\"out\",type=\"%s\"} %llu\n",
			gossip_msg_type_name(t), (unsigned long long)m->msgs_out[t]);
	}
	agent_metric_head(f, "anysteer_gossip_packets_total", "Gossip packets (UDP) and stream messages (TCP push-pull), by direction.", "counter");
	fprintf(f, "anysteer_gossip_packets_total{direction=\"in\",transport=\"udp\"} %llu\n",
		(unsigned long long)m->packets_in);
	fprintf(f, "anysteer_gossip_packets_total{direction=\"out\",transport=\"udp\"} %llu\n",
		(unsigned long long)m->packets_out);
	fprintf(f, "anysteer_gossip_packets_total{direction=\"in\",transport=\"tcp\"} %llu\n",
		(unsigned long long)m->stream_in);
	fprintf(f, "anysteer_gossip_packets_total{direction=\"out\",transport=\"tcp\"} %llu\n",
		(unsigned long long)m->stream_out);
	agent_metric_head(f, "anysteer_gossip_bytes_total", "Gossip bytes, by direction and transport.", "counter");
	fprintf(f, "anysteer_gossip_bytes_total{direction=\"in\",transport=\"udp\"} %llu\n",
		(unsigned long long)m->bytes_in);
	fprintf(f, "anysteer_gossip_bytes_total{direction=\"out\",transport=\"udp\"} %llu\n",
		(unsigned long long)m->bytes_out);
	fprintf(f, "anysteer_gossip_bytes_total{direction=\"in\",transport=\"tcp\"} %llu\n",
		(unsigned long long)m->stream_bytes_in);
	fprintf(f, "anysteer_gossip_bytes_total{direction=\"out\",transport=\"tcp\"} %llu\n",
		(unsigned long long)m->stream_bytes_out);
	agent_metric_head(f, "anysteer_gossip_auth_failures_total", "Packets no installed key opens.", "counter");
	fprintf(f, "anysteer_gossip_auth_failures_total %llu\n",
		(unsigned long long)m->auth_failures);
	agent_metric_head(f, "anysteer_gossip_dropped_total", "Packets or messages dropped, by reason.", "counter");
	for (int d = 0; d < GOSSIP_DROP_COUNT; d++)
		fprintf(f, "anysteer_gossip_dropped_total{reason=\"%s\"} %llu\n",
			gossip_drop_name(d), (unsigned long long)m->drops[d]);
}

/* Failure detection (SWIM with Lifeguard): suspicions, refutations,
 * deaths, stalls, the broadcast queue and the local health multiplier. */
static void detector_metrics(FILE *f, const struct gossip_metrics *m)
{
	agent_metric_head(f, "anysteer_gossip_suspicions_total", "Suspicions this node raised or saw refuted, or cleared by its last-chance probe.", "counter");
	fprintf(f, "anysteer_gossip_suspicions_total{event=\"raised\"} %llu\n",
		(unsigned long long)m->suspicions_raised);
	fprintf(f, "anysteer_gossip_suspicions_total{event=\"refuted\"} %llu\n",
		(unsigned long long)m->suspicions_refuted);
	fprintf(f, "anysteer_gossip_suspicions_total{event=\"cleared\"} %llu\n",
		(unsigned long long)m->suspicions_cleared);
	agent_metric_head(f, "anysteer_gossip_self_refutes_total", "Times this node refuted a suspicion about itself.", "counter");
	fprintf(f, "anysteer_gossip_self_refutes_total %llu\n", (unsigned long long)m->self_refutes);
	agent_metric_head(f, "anysteer_gossip_deaths_declared_total", "Members this node declared dead.", "counter");
	fprintf(f, "anysteer_gossip_deaths_declared_total %llu\n",
		(unsigned long long)m->deaths_declared);
	agent_metric_head(f, "anysteer_gossip_stalls_total", "Wake-ups long past a deadline (a stalled process).", "counter");
	fprintf(f, "anysteer_gossip_stalls_total %llu\n", (unsigned long long)m->stalls_detected);
	agent_metric_head(f, "anysteer_gossip_queue_total", "Broadcasts superseded by newer ones or dropped from a full queue.", "counter");
	fprintf(f, "anysteer_gossip_queue_total{event=\"superseded\"} %llu\n",
		(unsigned long long)m->queue_superseded);
	fprintf(f, "anysteer_gossip_queue_total{event=\"dropped\"} %llu\n",
		(unsigned long long)m->queue_dropped);
	agent_metric_head(f, "anysteer_gossip_local_health_multiplier", "Lifeguard local health multiplier (0 = healthy).", "gauge");
	fprintf(f, "anysteer_gossip_local_health_multiplier %u\n", m->lhm);
}

/* Endpoints in the records: this node's by health and over the limit,
 * members' left out of the view or dropped. */
static void endpoint_metrics(FILE *f, const struct agent_cluster_snap *s,
			     const struct gossip_metrics *m)
{
	unsigned long long v;

	agent_metric_head(f, "anysteer_gossip_local_endpoints", "This node's endpoints in its record, by probe health.", "gauge");
	v = (unsigned long long)s->local_healthy;
	fprintf(f, "anysteer_gossip_local_endpoints{health=\"up\"} %llu\n", v);
	fprintf(f, "anysteer_gossip_local_endpoints{health=\"down\"} %llu\n",
		(unsigned long long)(s->local_endpoints - s->local_healthy));
	agent_metric_head(f, "anysteer_gossip_skipped_endpoints", "Gossiped endpoints left out of the view (service name not servable).", "gauge");
	fprintf(f, "anysteer_gossip_skipped_endpoints %llu\n",
		(unsigned long long)s->skipped_endpoints);
	agent_metric_head(f, "anysteer_gossip_local_endpoints_over_limit", "This node's catalog endpoints not announced: over gossip.max_endpoints_per_node.", "gauge");
	fprintf(f, "anysteer_gossip_local_endpoints_over_limit %llu\n",
		(unsigned long long)s->local_over_limit);
	agent_metric_head(f, "anysteer_gossip_endpoints_dropped_total", "Endpoints of members' records left out: over gossip.max_endpoints_per_node.", "counter");
	fprintf(f, "anysteer_gossip_endpoints_dropped_total %llu\n",
		(unsigned long long)m->endpoints_dropped);
}

static void cluster_metrics(FILE *f, const struct agent_snapshot *snap)
{
	const struct agent_cluster_snap *s = &snap->cluster;
	const struct gossip_metrics *m = &s->m;

	agent_metric_head(f, "anysteer_gossip_enabled", "1 when gossip is configured.", "gauge");
	fprintf(f, "anysteer_gossip_enabled %d\n", s->enabled);
	if (!s->enabled)
		return;
	agent_metric_head(f, "anysteer_gossip_joined", "1 once this node has joined a cluster.", "gauge");
	fprintf(f, "anysteer_gossip_joined %d\n", s->joined);
	agent_metric_head(f, "anysteer_gossip_members", "Members known to this node, by state (itself included).", "gauge");
	for (int st = 0; st < GOSSIP_STATE_COUNT; st++)
		fprintf(f, "anysteer_gossip_members{state=\"%s\"} %llu\n",
			gossip_state_name(st), (unsigned long long)m->members[st]);
	wire_metrics(f, m);
	detector_metrics(f, m);
	endpoint_metrics(f, s, m);
	agent_metric_head(f, "anysteer_gossip_pulls_total", "Records too big for UDP fetched by stream: pulls sent, answered for others, timed out, completed.", "counter");
	fprintf(f, "anysteer_gossip_pulls_total{event=\"sent\"} %llu\n",
		(unsigned long long)m->pulls_sent);
	fprintf(f, "anysteer_gossip_pulls_total{event=\"answered\"} %llu\n",
		(unsigned long long)m->pulls_answered);
	fprintf(f, "anysteer_gossip_pulls_total{event=\"timeout\"} %llu\n",
		(unsigned long long)m->pulls_timed_out);
	fprintf(f, "anysteer_gossip_pulls_total{event=\"done\"} %llu\n",
		(unsigned long long)m->pulls_done);
	agent_metric_head(f, "anysteer_gossip_rtt_samples_total", "Round trip times measured by direct probes, fed to this node's network coordinate.", "counter");
	fprintf(f, "anysteer_gossip_rtt_samples_total %llu\n",
		(unsigned long long)m->rtt_samples);
	agent_metric_head(f, "anysteer_gossip_coordinates_rejected_total", "Network coordinates received and dropped as invalid (NaN, infinite, out of range, bad length).", "counter");
	fprintf(f, "anysteer_gossip_coordinates_rejected_total %llu\n",
		(unsigned long long)m->coords_rejected);
	agent_metric_head(f, "anysteer_gossip_keyring_changes_total", "Keyring installs, uses and removals.", "counter");
	fprintf(f, "anysteer_gossip_keyring_changes_total %llu\n",
		(unsigned long long)s->keyring_changes);
}

static json_t *cluster_status(void *self)
{
	struct agent_cluster *cl = self;
	struct gossip_metrics m;
	char buf[AS_SOCKADDR_STRLEN];
	uint8_t key[16];
	json_t *o = json_object(), *st;
	size_t total, healthy;

	json_object_set_new(o, "enabled", json_boolean(cl != NULL));
	if (!cl)
		return o;
	json_object_set_new(o, "node", json_string(cl->name));
	json_object_set_new(o, "cluster", json_string(cl->label));
	json_object_set_new(o, "bind", json_string(as_format_sockaddr(&cl->bind, buf, sizeof(buf))));
	json_object_set_new(o, "advertise",
			    json_string(as_format_sockaddr(&cl->advertise, buf, sizeof(buf))));
	json_object_set_new(o, "joined", json_boolean(cl->joined));
	json_object_set_new(o, "leaving", json_boolean(cl->closing));
	if (!cl->core)
		return o;
	struct gossip_keyring *kr = gossip_core_keyring(cl->core);
	json_object_set_new(o, "encrypted", json_boolean(kr && gossip_keyring_count(kr) > 0));
	json_object_set_new(o, "plaintext_allowed", json_boolean(cl->ctx->cfg->gossip.plaintext));
	json_object_set_new(o, "keys", json_integer(kr ? (json_int_t)gossip_keyring_count(kr) : 0));
	gossip_core_metrics(cl->core, &m);
	st = json_object();
	for (int s = 0; s < GOSSIP_STATE_COUNT; s++)
		json_object_set_new(st, gossip_state_name(s), json_integer((json_int_t)m.members[s]));
	json_object_set_new(o, "members", st);
	count_local(cl, &total, &healthy);
	json_object_set_new(o, "local_endpoints", json_integer((json_int_t)total));
	json_object_set_new(o, "local_endpoints_healthy", json_integer((json_int_t)healthy));
	json_object_set_new(o, "local_health_multiplier", json_integer(m.lhm));
	json_object_set_new(o, "auth_failures", json_integer((json_int_t)m.auth_failures));
	/* Whom the last one came from: a node with the wrong key, say. */
	json_t *af = json_null();
	if (m.auth_failures && as_sockaddr_key(&m.auth_last_from, key)) {
		uint64_t now = now_ms(cl);	/* the core runs on the loop clock */
		af = json_object();
		json_object_set_new(af, "host", json_string(as_format_addr16(key, buf, sizeof(buf))));
		json_object_set_new(af, "seconds_ago", json_real(
			round((now > m.auth_last_ms ? now - m.auth_last_ms : 0) / 100.0) / 10.0));
		json_object_set_new(af, "reason", json_string(gossip_drop_name(m.auth_last_why)));
	}
	json_object_set_new(o, "last_auth_failure", af);
	json_object_set_new(o, "join_attempts", json_integer((json_int_t)cl->join_attempts));
	json_object_set_new(o, "suspicions_raised", json_integer((json_int_t)m.suspicions_raised));
	json_object_set_new(o, "suspicions_refuted", json_integer((json_int_t)m.suspicions_refuted));
	json_object_set_new(o, "self_refutes", json_integer((json_int_t)m.self_refutes));
	json_object_set_new(o, "deaths_declared", json_integer((json_int_t)m.deaths_declared));
	json_t *drops = json_object();
	for (int d = 0; d < GOSSIP_DROP_COUNT; d++)
		json_object_set_new(drops, gossip_drop_name(d), json_integer((json_int_t)m.drops[d]));
	json_object_set_new(o, "drops", drops);
	json_object_set_new(o, "view_builds", json_integer((json_int_t)cl->view_builds));
	json_object_set_new(o, "skipped_endpoints", json_integer((json_int_t)cl->skipped_endpoints));
	/* Records of any size (issue 19) and what gossip costs. */
	json_object_set_new(o, "max_endpoints_per_node", json_integer((json_int_t)cl->max_endpoints));
	json_object_set_new(o, "local_endpoints_over_limit", json_integer((json_int_t)cl->over_limit));
	json_object_set_new(o, "endpoints_dropped", json_integer((json_int_t)m.endpoints_dropped));
	json_object_set_new(o, "pulls", json_pack("{s:I, s:I, s:I, s:I}",
		"sent", (json_int_t)m.pulls_sent, "answered", (json_int_t)m.pulls_answered,
		"timed_out", (json_int_t)m.pulls_timed_out, "done", (json_int_t)m.pulls_done));
	json_object_set_new(o, "bytes", json_pack("{s:I, s:I, s:I, s:I}",
		"udp_in", (json_int_t)m.bytes_in, "udp_out", (json_int_t)m.bytes_out,
		"tcp_in", (json_int_t)m.stream_bytes_in, "tcp_out", (json_int_t)m.stream_bytes_out));
	return o;
}

/* ---- commands ------------------------------------------------------------------ */

static struct agent_cluster *need_cluster(struct agent_cluster *cl, char *err,
					 size_t errlen)
{
	if (!cl || !cl->core) {
		snprintf(err, errlen, cl ? "gossip is shutting down"
					 : "gossip is not configured (no gossip section)");
		return NULL;
	}
	return cl;
}

static json_t *endpoint_json(const struct gossip_endpoint *g)
{
	char addr[INET6_ADDRSTRLEN];

	as_format_addr16(g->addr, addr, sizeof(addr));
	return json_pack("{s:s, s:s, s:i, s:i, s:b}", "service", g->service,
			 "address", addr, "port", g->port, "weight", g->weight,
			 "healthy", g->healthy);
}

static json_t *cmd_members(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_cluster *cl = need_cluster(self, err, errlen);
	char buf[AS_SOCKADDR_STRLEN];

	(void)args;
	if (!cl)
		return NULL;
	uint64_t now = now_ms(cl);
	json_t *arr = json_array();
	size_t n = gossip_core_member_count(cl->core);
	for (size_t i = 0; i < n; i++) {
		struct gossip_member m;
		if (gossip_core_member_get(cl->core, i, now, &m) != AS_OK)
			continue;
		const struct gossip_record *r = m.rec;
		json_t *eps = json_array();
		size_t healthy = 0;
		for (uint32_t j = 0; j < r->n_endpoints; j++) {
			healthy += r->endpoints[j].healthy;
			json_array_append_new(eps, endpoint_json(&r->endpoints[j]));
		}
		double factor = m.self ? cl->ctx->load->factor : r->load.factor;
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(r->name));
		json_object_set_new(o, "address",
				    json_string(as_format_sockaddr(&r->addr, buf, sizeof(buf))));
		json_object_set_new(o, "state", json_string(gossip_state_name(m.state)));
		/* Gossiped bytes: json_string() refuses what is not UTF-8. */
		json_object_set_new(o, "zone", r->zone[0] ? json_string(r->zone) : json_null());
		json_object_set_new(o, "incarnation", json_integer(r->incarnation));
		json_object_set_new(o, "version", json_integer((json_int_t)r->version));
		json_object_set_new(o, "load_factor", json_real(sane_factor(factor)));
		json_object_set_new(o, "utilisation", json_real(isfinite(r->load.util) ? r->load.util : 0));
		json_object_set_new(o, "psi", json_real(isfinite(r->load.psi) ? r->load.psi : 0));
		json_object_set_new(o, "cpus", json_integer(r->load.cpus));
		json_object_set_new(o, "endpoints", json_integer(r->n_endpoints));
		json_object_set_new(o, "endpoints_healthy", json_integer((json_int_t)healthy));
		json_object_set_new(o, "endpoint_list", eps);
		json_object_set_new(o, "age_ms", json_integer((json_int_t)m.age_ms));
		/* Last packet received from it: null for this node and for a
		 * member only heard of through others. */
		json_object_set_new(o, "heard_ms", m.self || m.heard_ms == UINT64_MAX ?
				    json_null() : json_integer((json_int_t)m.heard_ms));
		json_object_set_new(o, "self", json_boolean(m.self));
		/* Network coordinates: the member's error estimate (as it
		 * last sent it; ours for this node) and the estimated RTT
		 * from here, null while unknown. */
		double rtt;
		json_object_set_new(o, "coord_error", m.coord ?
				    json_real(m.coord->error) : json_null());
		json_object_set_new(o, "rtt_ms",
				    gossip_core_rtt_estimate(cl->core, r->name, &rtt) == AS_OK &&
				    (m.coord || !m.self) ? json_real(rtt) : json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}

static const char *arg_word(json_t *args, size_t i)
{
	json_t *v = json_array_get(json_object_get(args, "argv"), i);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *keyring_list(struct gossip_keyring *kr, const char *path)
{
	json_t *keys = json_array();
	for (size_t i = 0; kr && i < gossip_keyring_count(kr); i++) {
		uint8_t k[GOSSIP_KEY_LEN];
		char b64[GOSSIP_KEY_B64_LEN];
		bool primary = false;
		if (gossip_keyring_get(kr, i, k, &primary) != AS_OK)
			continue;
		gossip_key_format(k, b64);
		memset(k, 0, sizeof(k));
		json_array_append_new(keys, json_pack("{s:s, s:b}", "key", b64,
						      "primary", primary));
	}
	return json_pack("{s:s?, s:o}", "file", path, "keys", keys);
}

/* The primary key, to restore it when a change must be undone. */
static bool primary_key(struct gossip_keyring *kr, uint8_t out[GOSSIP_KEY_LEN])
{
	for (size_t i = 0; i < gossip_keyring_count(kr); i++) {
		bool primary = false;
		if (gossip_keyring_get(kr, i, out, &primary) == AS_OK && primary)
			return true;
	}
	return false;
}

enum keyring_op { KEYRING_INSTALL, KEYRING_USE, KEYRING_REMOVE };

static int keyring_apply(struct gossip_keyring *kr, enum keyring_op op,
			 const uint8_t key[GOSSIP_KEY_LEN])
{
	switch (op) {
	case KEYRING_INSTALL:
		return gossip_keyring_install(kr, key);
	case KEYRING_USE:
		return gossip_keyring_use(kr, key);
	default:
		return gossip_keyring_remove(kr, key);
	}
}

/* Undoes op after the file could not be written, so memory and file
 * agree. */
static void keyring_undo(struct gossip_keyring *kr, enum keyring_op op,
			 const uint8_t key[GOSSIP_KEY_LEN], bool had_primary,
			 const uint8_t old_primary[GOSSIP_KEY_LEN])
{
	if (op == KEYRING_INSTALL)
		gossip_keyring_remove(kr, key);
	else if (op == KEYRING_USE && had_primary)
		gossip_keyring_use(kr, old_primary);
	else if (op == KEYRING_REMOVE) {
		gossip_keyring_install(kr, key);
		if (had_primary)
			gossip_keyring_use(kr, old_primary);
	}
}

static const char *keyring_why(int rc)
{
	return rc == AS_EEXIST ? "the key is already installed"
		: rc == AS_ENOTFOUND ? "the key is not installed"
		: rc == AS_ESTATE ? "the primary key cannot be removed (use another key first)"
		: rc == AS_ELIMIT ? "the keyring is full"
		: as_strerror(rc);
}

/* install/use/remove KEY: changes the core's keyring, then the file. */
static json_t *keyring_change(struct agent_cluster *cl, const char *verb,
			      enum keyring_op op, const uint8_t key[GOSSIP_KEY_LEN],
			      char *err, size_t errlen)
{
	struct gossip_keyring *kr = gossip_core_keyring(cl->core);
	uint8_t old_primary[GOSSIP_KEY_LEN];
	int rc;

	if (!kr || !cl->keyring_path) {
		snprintf(err, errlen, "keyring %s: no keyring file configured "
			 "(gossip.keyring); this node runs plaintext", verb);
		return NULL;
	}
	bool had_primary = primary_key(kr, old_primary);
	rc = keyring_apply(kr, op, key);
	if (!rc && (rc = gossip_keyring_save(kr, cl->keyring_path))) {
		keyring_undo(kr, op, key, had_primary, old_primary);
		snprintf(err, errlen, "keyring %s: cannot write %s: %s; nothing "
			 "changed", verb, cl->keyring_path, as_strerror(rc));
	} else if (rc) {
		snprintf(err, errlen, "keyring %s: %s", verb, keyring_why(rc));
	}
	memset(old_primary, 0, sizeof(old_primary));
	if (rc)
		return NULL;
	cl->keyring_changes++;
	as_notice("gossip: keyring %s done; %zu keys in %s", verb,
		  gossip_keyring_count(kr), cl->keyring_path);
	return keyring_list(kr, cl->keyring_path);
}

static json_t *cmd_keyring(void *self, json_t *args, char *err, size_t errlen)
{
	const char *verb = arg_word(args, 0), *word = arg_word(args, 1);
	uint8_t key[GOSSIP_KEY_LEN];
	char b64[GOSSIP_KEY_B64_LEN];
	enum keyring_op op;

	if (!verb)
		verb = "list";
	if (strcmp(verb, "generate") == 0) {
		/* A fresh key for the operator to install everywhere. */
		gossip_key_generate(key);
		gossip_key_format(key, b64);
		memset(key, 0, sizeof(key));
		return json_pack("{s:s}", "key", b64);
	}
	struct agent_cluster *cl = need_cluster(self, err, errlen);
	if (!cl)
		return NULL;
	if (strcmp(verb, "list") == 0)
		return keyring_list(gossip_core_keyring(cl->core), cl->keyring_path);
	if (strcmp(verb, "install") == 0)
		op = KEYRING_INSTALL;
	else if (strcmp(verb, "use") == 0)
		op = KEYRING_USE;
	else if (strcmp(verb, "remove") == 0)
		op = KEYRING_REMOVE;
	else {
		snprintf(err, errlen, "usage: keyring list|install KEY|use KEY|remove KEY|generate");
		return NULL;
	}
	if (!word || gossip_key_parse(word, key) != AS_OK) {
		snprintf(err, errlen, "keyring %s: expected a base64 key of %d bytes "
			 "(from `anysteerctl keyring generate`)", verb, GOSSIP_KEY_LEN);
		return NULL;
	}
	json_t *r = keyring_change(cl, verb, op, key, err, errlen);
	memset(key, 0, sizeof(key));
	return r;
}

static const struct agent_command cluster_commands[] = {
	{ "members", cmd_members, "gossip members: address, state, incarnation, load, endpoints, age", NULL },
	{ "keyring", cmd_keyring, "gossip keys: list|install KEY|use KEY|remove KEY|generate", NULL },
};

const struct agent_component_ops agent_cluster_ops = {
	.name = "cluster",
	.status_key = "gossip",
	.start = cluster_start,
	.reconfigure = cluster_reconfigure,
	.notify = cluster_notify,
	.stop = cluster_stop,
	.free = cluster_free,
	.snapshot = cluster_snapshot,
	.status = cluster_status,
	.metrics = cluster_metrics,
	.commands = cluster_commands,
	.n_commands = AS_ARRAY_SIZE(cluster_commands),
};
