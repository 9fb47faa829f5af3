/*
 * agent/srv6.c - the SRv6 steering component (issue 17): programs this
 * host's tc egress so that its traffic to services with an intent follows
 * the intent's path through the SR domain, decapsulates what arrives for
 * this host, and probes the domain's links.
 *
 * Design. Decisions are agent/srv6plan.c's (pure): this file reads the
 * answer view and the catalog, keeps the topology file's links with the
 * liveness its probes measure, and writes the plan's differences into the
 * data plane (srv6/: one srv6_prog_steer_set per new or changed entry,
 * which the kernel swaps atomically; srv6_prog_steer_del for stale ones).
 * It replans when the view changes (endpoints, members), on reload
 * (intents, topology file, mode) and when a link goes down or comes back.
 *
 * Without the data plane (built without clang/libbpf/bpftool, no
 * CAP_BPF/CAP_NET_ADMIN, a kernel without what it needs, an interface
 * that is not there) the agent says what is missing once, runs on, and
 * still plans: `anysteerctl paths` shows what it would install.
 *
 * Link liveness: an ICMPv6 echo per link and probe_interval, sent from a
 * raw socket with a type 4 routing header (IPV6_RTHDR) whose segment list
 * reaches the link's near end without using the link and then crosses it
 * (srv6_path_probe); the far end (a router's End SID, or a host whose
 * ingress program removes the header) answers. `fall` rounds without an
 * answer take the link down, `rise` rounds with one bring it back. A
 * link that cannot be probed (its near end unreachable without it) keeps
 * its state; `probe: false` in the file exempts a link. A link with
 * `bird_protocol` takes its state from that BIRD protocol instead (polled
 * every bird.poll_interval over bird.socket): up while it is "up".
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/srv6.h"
#include "agent/srv6plan.h"
#include "lib/as.h"
#include "routing/routing.h"
#include "srv6/srv6.h"

#define MAX_IFS 16
#define MAX_LOCAL_SIDS 64

struct live {
	uint32_t ok, fail;	/* in a row */
	uint32_t sent_round, answered_round;
	bool sent;
};

struct agent_srv6 {
	struct agent_ctx *ctx;
	srv6_prog_t *prog;		/* NULL: no data plane (why says) */
	char why[256];
	srv6_topo_t *topo;		/* the file's, with measured liveness */
	int self;			/* this host's node, -1 without */
	struct in6_addr self_sid;
	enum srv6_mode mode;
	uint16_t mtu;

	struct agent_srv6_entry *plan;	/* last plan, entries with errors too */
	size_t nplan, conflicts;
	struct agent_srv6_entry *inst;	/* what the map holds */
	size_t ninst;
	struct in6_addr sids[MAX_LOCAL_SIDS];
	size_t nsids;
	uint32_t generation;
	uint64_t reprograms, map_errors, last_reprogram_ms;
	struct as_ratelimit log_rl;

	/* probes */
	int fd;
	uv_poll_t poll;
	uv_timer_t timer;
	bool poll_on, timer_on;
	uint32_t round;
	uint16_t ident;
	uint64_t nonce;
	struct live *live;
	size_t nlive;
	uint32_t rise, fall;
	uint64_t probes_sent, probes_answered, probes_lost, probes_unsent;
	uint64_t link_changes;

	/* liveness from BIRD (links with bird_protocol) */
	route_birdctl_t *bird;
	uv_timer_t bird_timer;
	bool bird_timer_on, bird_busy;
	uint64_t bird_polls, bird_errors;
	bool stopped;
};

struct probe_payload {
	uint64_t nonce;
	uint32_t link, round;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *fmt6(const struct in6_addr *a, char buf[INET6_ADDRSTRLEN])
{
	return inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

static const char *link_name(const srv6_topo_t *t, int link, char *buf,
			     size_t len)
{
	struct srv6_link_info li;

	if (srv6_topo_link(t, link, &li))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s-%s", srv6_topo_node_name(t, li.a),
			 srv6_topo_node_name(t, li.b));
	return buf;
}

/* ---- planning and programming ------------------------------------------- */

/* This host's SID and this node's own IPv6 endpoints: an arriving SRH
 * that ends at one of them is removed by the ingress program (an
 * inserted SRH's last segment is the endpoint's address itself). */
static size_t wanted_sids(const struct agent_srv6 *x, struct in6_addr *out)
{
	const struct agent_ctx *ctx = x->ctx;
	size_t n = 0;

	if (x->self >= 0)
		out[n++] = x->self_sid;
	for (size_t i = 0; i < ctx->n_services; i++)
		for (size_t j = 0; j < ctx->services[i].n_endpoints; j++) {
			const struct agent_endpoint *e = &ctx->services[i].endpoints[j];
			bool dup = false;
			if (e->family != AF_INET6 || !e->node ||
			    strcmp(e->node, ctx->cfg->node.name))
				continue;
			for (size_t k = 0; k < n && !dup; k++)
				dup = !memcmp(&out[k], e->addr, 16);
			if (!dup && n < MAX_LOCAL_SIDS)
				memcpy(&out[n++], e->addr, 16);
		}
	return n;
}

static void sync_sids(struct agent_srv6 *x)
{
	struct in6_addr want[MAX_LOCAL_SIDS];
	size_t nw = wanted_sids(x, want), nk = 0;
	char b[INET6_ADDRSTRLEN];

	if (!x->prog)
		return;
	for (size_t i = 0; i < x->nsids; i++) {
		bool keep = false;
		for (size_t k = 0; k < nw && !keep; k++)
			keep = !memcmp(&want[k], &x->sids[i], 16);
		if (keep)
			x->sids[nk++] = x->sids[i];
		else if (srv6_prog_local_sid_del(x->prog, &x->sids[i]))
			x->map_errors++;
	}
	x->nsids = nk;
	for (size_t k = 0; k < nw; k++) {
		bool have = false;
		for (size_t i = 0; i < x->nsids && !have; i++)
			have = !memcmp(&want[k], &x->sids[i], 16);
		if (have)
			continue;
		int rc = srv6_prog_local_sid_add(x->prog, &want[k]);
		if (rc) {
			x->map_errors++;
			as_log_ratelimited(&x->log_rl, AS_LOG_WARN,
					   "srv6: cannot add local SID %s: %s",
					   fmt6(&want[k], b), as_strerror(rc));
		} else {
			x->sids[x->nsids++] = want[k];
		}
	}
}

static void log_entry(const struct agent_srv6 *x, const struct agent_srv6_entry *e,
		      const char *what)
{
	char addr[INET6_ADDRSTRLEN], via[512] = "";
	size_t off = 0;

	for (size_t i = 1; i + 1 < e->nnodes && off < sizeof(via); i++)
		off += (size_t)snprintf(via + off, sizeof(via) - off, "%s%s",
					i > 1 ? "," : "",
					srv6_topo_node_name(x->topo, e->nodes[i]));
	as_notice("srv6: %s [%s]:%u/%s (%s, %s) via %s to %s", what,
		  fmt6(&e->match.prefix, addr), e->match.port,
		  e->match.proto == IPPROTO_UDP ? "udp" : "tcp", e->service,
		  srv6_metric_name(e->metric), via[0] ? via : "-",
		  e->dst_host >= 0 ? srv6_topo_node_name(x->topo, e->dst_host) : "?");
}

/* The entry for m in a plan or the map (sorted by match), or NULL. */
static const struct agent_srv6_entry *find_entry(const struct agent_srv6_entry *v,
						 size_t n, const struct srv6_match *m)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = agent_srv6_match_cmp(&v[mid].match, m);
		if (!c)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *plan_error(int err)
{
	switch (err) {
	case AS_ENOTFOUND:
		return "no host of the topology holds the address";
	case AS_ENOENT:
		return "no path satisfies the intent";
	case AS_ELIMIT:
		return "the path is longer than 8 segments";
	default:
		return as_strerror(err);
	}
}

/* What a plan has to say: destinations that newly have no path (said
 * once, not on every replan: the view is rebuilt whenever a load factor
 * moves) and more endpoints in two services than before. */
static void warn_plan(struct agent_srv6 *x, const struct agent_srv6_entry *want,
		      size_t nw, size_t conflicts)
{
	char addr[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < nw; i++) {
		const struct agent_srv6_entry *o =
			find_entry(x->plan, x->nplan, &want[i].match);
		if (want[i].err && (!o || o->err != want[i].err))
			as_log_ratelimited(&x->log_rl, AS_LOG_WARN,
					   "srv6: %s [%s]:%u: %s; not steered",
					   want[i].service,
					   fmt6(&want[i].match.prefix, addr),
					   want[i].match.port, plan_error(want[i].err));
	}
	if (conflicts > x->conflicts)
		as_log_ratelimited(&x->log_rl, AS_LOG_WARN,
				   "srv6: %zu endpoints are in two services with "
				   "the same port; the first name is steered", conflicts);
}

/* The plan's differences into the map: new and changed entries (a path
 * moves in one write; a failed write is marked in the entry's map_err),
 * then the stale ones out. */
static void write_map(struct agent_srv6 *x, struct agent_srv6_entry *want,
		      const size_t *set, size_t ns, const size_t *del, size_t ndel)
{
	int rc;

	for (size_t i = 0; i < ns; i++) {
		struct agent_srv6_entry *e = &want[set[i]];
		if ((rc = srv6_prog_steer_set(x->prog, &e->match, &e->steer))) {
			x->map_errors++;
			e->map_err = rc;
			as_log_ratelimited(&x->log_rl, AS_LOG_ERR,
					   "srv6: cannot install %s's entry: %s",
					   e->service, as_strerror(rc));
			continue;
		}
		log_entry(x, e, "steering");
	}
	for (size_t i = 0; i < ndel; i++) {
		rc = srv6_prog_steer_del(x->prog, &x->inst[del[i]].match);
		if (rc && rc != AS_ENOTFOUND)
			x->map_errors++;
		log_entry(x, &x->inst[del[i]], "no longer steering");
	}
}

/* What the map holds now, into inst (room for nw): the installable plan,
 * except where a write failed: there the old entry, if there was one, is
 * still in. Returns the count. */
static size_t map_now(const struct agent_srv6 *x,
		      const struct agent_srv6_entry *want, size_t nw,
		      struct agent_srv6_entry *inst)
{
	size_t ni = 0;

	for (size_t i = 0; i < nw; i++) {
		const struct agent_srv6_entry *o;
		if (want[i].err)
			continue;
		if (!want[i].map_err)
			inst[ni++] = want[i];
		else if ((o = find_entry(x->inst, x->ninst, &want[i].match)))
			inst[ni++] = *o;
	}
	return ni;
}

static void reprogram(struct agent_srv6 *x, const char *reason)
{
	struct agent_srv6_dest *d = NULL;
	struct agent_srv6_entry *want = NULL, *inst = NULL;
	size_t nd = 0, nw = 0, ns = 0, ndel = 0, ni, conflicts = 0;
	size_t *set = NULL, *del = NULL;
	struct agent_srv6_params p = { x->mode, x->mtu, x->generation + 1 };
	int rc;

	if (!x->topo || x->self < 0)
		return;
	sync_sids(x);
	if ((rc = agent_srv6_dests(x->ctx->view, x->ctx->services,
				   x->ctx->n_services, &d, &nd)) ||
	    (rc = agent_srv6_plan(x->topo, x->self, &p, d, nd, &want, &nw,
				  &conflicts))) {
		as_err("srv6: cannot plan the paths: %s", as_strerror(rc));
		goto out;
	}
	set = calloc(nw + 1, sizeof(*set));
	del = calloc(x->ninst + 1, sizeof(*del));
	inst = calloc(nw + 1, sizeof(*inst));
	if (!set || !del || !inst) {
		as_err("srv6: cannot plan the paths: %s", as_strerror(AS_ENOMEM));
		goto out;
	}
	warn_plan(x, want, nw, conflicts);
	agent_srv6_diff(want, nw, x->inst, x->ninst, set, &ns, del, &ndel);
	if (!x->prog)
		goto keep;	/* planned, nothing to write (paths shows it) */
	write_map(x, want, set, ns, del, ndel);
	ni = map_now(x, want, nw, inst);
	if (ns || ndel) {
		x->generation++;
		x->reprograms++;
		x->last_reprogram_ms = wall_ms();
		as_info("srv6: reprogrammed (%s): %zu set, %zu removed", reason,
			ns, ndel);
	}
	free(x->inst);
	x->inst = inst;
	x->ninst = ni;
	inst = NULL;
keep:
	free(x->plan);
	x->plan = want;
	x->nplan = nw;
	want = NULL;
	x->conflicts = conflicts;
	x->ctx->publish(x->ctx, x);
out:
	free(d);
	free(want);
	free(inst);
	free(set);
	free(del);
}

/* ---- link probes ------------------------------------------------------------- */

/* The previous round's answers move the links' states. */
static bool probe_evaluate(struct agent_srv6 *x)
{
	bool changed = false;
	char name[160];

	for (size_t i = 0; i < x->nlive; i++) {
		struct live *l = &x->live[i];
		struct srv6_link_info li;

		if (!l->sent || srv6_topo_link(x->topo, (int)i, &li))
			continue;
		l->sent = false;
		if (l->answered_round == l->sent_round) {
			l->ok++;
			l->fail = 0;
		} else {
			x->probes_lost++;
			l->fail++;
			l->ok = 0;
		}
		if (li.up && l->fail >= x->fall) {
			srv6_topo_link_set_up(x->topo, (int)i, false);
			as_warn("srv6: link %s down (%u probes lost)",
				link_name(x->topo, (int)i, name, sizeof(name)), l->fail);
			changed = true;
		} else if (!li.up && l->ok >= x->rise) {
			srv6_topo_link_set_up(x->topo, (int)i, true);
			as_notice("srv6: link %s up again",
				  link_name(x->topo, (int)i, name, sizeof(name)));
			changed = true;
		}
	}
	if (changed)
		x->link_changes++;
	return changed;
}

static void probe_send(struct agent_srv6 *x, int link)
{
	struct srv6_path p;
	uint8_t srh[8 + 16 * SRV6_SEGS_MAX];
	uint8_t pkt[sizeof(struct icmp6_hdr) + sizeof(struct probe_payload)];
	struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;
	struct probe_payload pl = { x->nonce, (uint32_t)link, x->round };
	struct sockaddr_in6 to = { .sin6_family = AF_INET6 };
	size_t n;
	int rc;

	if (srv6_path_probe(x->topo, x->self, link, &p) || p.nsegs == 0) {
		x->probes_unsent++;
		return;	/* cannot be probed now: keeps its state */
	}
	n = p.nsegs;
	to.sin6_addr = p.segs[n - 1];
	if (n > 1) {
		size_t hl = srv6_rthdr_build(p.segs, n, srh, sizeof(srh));
		rc = hl ? setsockopt(x->fd, IPPROTO_IPV6, IPV6_RTHDR, srh,
				     (socklen_t)hl) : -1;
		if (!hl)
			errno = EINVAL;
	} else {
		rc = setsockopt(x->fd, IPPROTO_IPV6, IPV6_RTHDR, NULL, 0);
	}
	memset(pkt, 0, sizeof(pkt));
	h->icmp6_type = ICMP6_ECHO_REQUEST;
	h->icmp6_id = htons(x->ident);
	h->icmp6_seq = htons((uint16_t)x->round);
	memcpy(pkt + sizeof(*h), &pl, sizeof(pl));
	if (rc == 0)
		rc = (int)sendto(x->fd, pkt, sizeof(pkt), 0,
				 (struct sockaddr *)&to, sizeof(to));
	if (rc < 0) {
		x->probes_unsent++;
		as_log_ratelimited(&x->log_rl, AS_LOG_WARN,
				   "srv6: probe of a link not sent: %s",
				   strerror(errno));
		/* Counts as lost: a link we cannot send across is not usable. */
	}
	x->live[link].sent = true;
	x->live[link].sent_round = x->round;
	x->probes_sent++;
}

static void on_probe_timer(uv_timer_t *t)
{
	struct agent_srv6 *x = t->data;

	if (x->round && probe_evaluate(x))
		reprogram(x, "link liveness");
	x->round++;
	for (size_t i = 0; i < x->nlive; i++)
		if (srv6_topo_link_probed(x->topo, (int)i) &&
		    !srv6_topo_link_bird(x->topo, (int)i))
			probe_send(x, (int)i);
}

/* ---- link liveness from BIRD -------------------------------------------------- */

/* A link with bird_protocol is up while that protocol's state is "up"
 * (a BFD-backed BGP session, say); a protocol BIRD does not know, or no
 * answer, leaves the link as it was. */
static void on_bird_protocols(int status, const struct route_bird_proto *p,
			      size_t n, void *arg)
{
	struct agent_srv6 *x = arg;
	bool changed = false;
	char name[160];

	x->bird_busy = false;
	if (x->stopped)
		return;
	if (status) {
		x->bird_errors++;
		return;
	}
	x->bird_polls++;
	for (size_t i = 0; i < x->nlive; i++) {
		const char *bp = srv6_topo_link_bird(x->topo, (int)i);
		struct srv6_link_info li;
		size_t k;

		if (!bp || srv6_topo_link(x->topo, (int)i, &li))
			continue;
		for (k = 0; k < n && strcmp(p[k].name, bp); k++)
			;
		if (k == n) {
			as_log_ratelimited(&x->log_rl, AS_LOG_WARN,
					   "srv6: BIRD has no protocol %s (link %s); "
					   "the link keeps its state", bp,
					   link_name(x->topo, (int)i, name, sizeof(name)));
			continue;
		}
		bool up = !strcmp(p[k].state, "up");
		if (up == li.up)
			continue;
		srv6_topo_link_set_up(x->topo, (int)i, up);
		as_log(up ? AS_LOG_NOTICE : AS_LOG_WARN,
		       "srv6: link %s %s (BIRD protocol %s: %s%s%s)",
		       link_name(x->topo, (int)i, name, sizeof(name)),
		       up ? "up again" : "down", bp, p[k].state,
		       p[k].info[0] ? ", " : "", p[k].info);
		changed = true;
	}
	if (changed) {
		x->link_changes++;
		reprogram(x, "BIRD");
	}
}

static void on_bird_timer(uv_timer_t *t)
{
	struct agent_srv6 *x = t->data;

	if (x->bird_busy || !route_birdctl_connected(x->bird))
		return;
	if (route_birdctl_protocols(x->bird, on_bird_protocols, x) == AS_OK)
		x->bird_busy = true;
}

static int bird_start(struct agent_srv6 *x)
{
	const struct agent_config *c = x->ctx->cfg;
	bool any = false;
	int rc;

	for (size_t i = 0; x->topo && i < x->nlive && !any; i++)
		any = srv6_topo_link_bird(x->topo, (int)i) != NULL;
	if (!any || !c->bird.socket || !*c->bird.socket)
		return AS_OK;
	struct route_birdctl_opts o = { .path = c->bird.socket };
	if ((rc = route_birdctl_new(x->ctx->loop, &o, &x->bird)))
		return rc;
	uv_timer_init(x->ctx->loop, &x->bird_timer);
	x->bird_timer.data = x;
	x->bird_timer_on = true;
	uv_timer_start(&x->bird_timer, on_bird_timer, 0, c->bird.poll_interval_ms);
	as_notice("srv6: links with bird_protocol take their liveness from %s",
		  c->bird.socket);
	return AS_OK;
}

static void on_probe_read(uv_poll_t *h, int status, int events)
{
	struct agent_srv6 *x = h->data;
	uint8_t buf[512];

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < 64; i++) {	/* bounded per wakeup */
		struct probe_payload pl;
		struct icmp6_hdr hd;
		ssize_t n = recv(x->fd, buf, sizeof(buf), 0);

		if (n < 0)
			return;
		if ((size_t)n < sizeof(hd) + sizeof(pl))
			continue;
		memcpy(&hd, buf, sizeof(hd));
		memcpy(&pl, buf + sizeof(hd), sizeof(pl));
		if (hd.icmp6_type != ICMP6_ECHO_REPLY ||
		    ntohs(hd.icmp6_id) != x->ident || pl.nonce != x->nonce ||
		    pl.link >= x->nlive || pl.round != x->round)
			continue;	/* someone else's, or late */
		if (x->live[pl.link].answered_round != pl.round)
			x->probes_answered++;
		x->live[pl.link].answered_round = pl.round;
	}
}

static int probe_start(struct agent_srv6 *x)
{
	const struct agent_config *c = x->ctx->cfg;
	struct icmp6_filter f;
	uint64_t r[2];

	if (!c->srv6.probe_interval_ms || !x->topo)
		return AS_OK;
	x->fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       IPPROTO_ICMPV6);
	if (x->fd < 0)
		return -errno;
	ICMP6_FILTER_SETBLOCKALL(&f);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
	if (setsockopt(x->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)))
		return -errno;
	/* Tells our replies from other pings on this host. */
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r[0] = r[1] = as_now_ms() ^ (uint64_t)getpid();
	x->ident = (uint16_t)r[0];
	x->nonce = r[1];
	if (uv_poll_init(x->ctx->loop, &x->poll, x->fd))
		return AS_ELIB;
	x->poll.data = x;
	x->poll_on = true;
	uv_poll_start(&x->poll, UV_READABLE, on_probe_read);
	uv_timer_init(x->ctx->loop, &x->timer);
	x->timer.data = x;
	x->timer_on = true;
	uv_timer_start(&x->timer, on_probe_timer, c->srv6.probe_interval_ms,
		       c->srv6.probe_interval_ms);
	return AS_OK;
}

/* ---- the topology ---------------------------------------------------------------- */

/* Reads the file (the config checked it); a link of the old topology
 * with the same ends keeps its measured state. */
static int load_topology(struct agent_srv6 *x)
{
	const struct agent_config *c = x->ctx->cfg;
	srv6_topo_t *t = NULL;
	struct live *live = NULL;
	char err[2048];
	int rc = srv6_topo_load(c->srv6.topology, &t, err, sizeof(err));

	if (rc) {
		as_err("srv6: topology: %s", err);
		return rc;
	}
	size_t nl = srv6_topo_link_count(t);
	if (!(live = calloc(nl + 1, sizeof(*live)))) {
		srv6_topo_free(t);
		return AS_ENOMEM;
	}
	for (size_t i = 0; x->topo && i < nl; i++) {
		char a[160], b[160];
		link_name(t, (int)i, a, sizeof(a));
		for (size_t j = 0; j < x->nlive; j++) {
			struct srv6_link_info li;
			if (strcmp(a, link_name(x->topo, (int)j, b, sizeof(b))) ||
			    srv6_topo_link(x->topo, (int)j, &li))
				continue;
			srv6_topo_link_set_up(t, (int)i, li.up);
			live[i] = x->live[j];
			live[i].sent = false;
			break;
		}
	}
	srv6_topo_free(x->topo);
	free(x->live);
	x->topo = t;
	x->live = live;
	x->nlive = nl;
	x->self = srv6_topo_node(t, c->srv6.host);
	if (x->self < 0 ||
	    srv6_topo_node_info(t, x->self, &x->self_sid, NULL)) {
		as_err("srv6: %s is not a host of %s", c->srv6.host,
		       c->srv6.topology);
		x->self = -1;
		return AS_ENOTFOUND;
	}
	return AS_OK;
}

static void settings(struct agent_srv6 *x)
{
	const struct agent_config *c = x->ctx->cfg;

	x->mode = strcmp(c->srv6.mode, "insert") ? SRV6_MODE_ENCAP : SRV6_MODE_INSERT;
	x->mtu = (uint16_t)c->srv6.mtu;
	x->rise = c->srv6.rise;
	x->fall = c->srv6.fall;
}

/* ---- life cycle ------------------------------------------------------------------ */

static int srv6_start(struct agent_ctx *ctx, void **self)
{
	const struct agent_config *c = ctx->cfg;
	struct agent_srv6 *x;
	int rc;

	*self = NULL;
	if (!c->srv6.enabled)
		return AS_OK;
	if (!(x = calloc(1, sizeof(*x))))
		return AS_ENOMEM;
	x->ctx = ctx;
	x->fd = -1;
	x->self = -1;
	x->log_rl.interval_ms = 10000;
	x->log_rl.burst = 5;
	*self = x;
	settings(x);
	if ((rc = load_topology(x)))
		snprintf(x->why, sizeof(x->why), "topology %s: %s",
			 c->srv6.topology, as_strerror(rc));
	/* The data plane; without it the agent plans and runs on. */
	if (!x->why[0] && srv6_prog_open(&x->prog, x->why, sizeof(x->why)))
		x->prog = NULL;
	for (size_t i = 0; x->prog && i < c->srv6.n_interfaces; i++) {
		unsigned idx = if_nametoindex(c->srv6.interfaces[i]);
		if (!idx) {
			rc = -errno;
		} else if (!(rc = srv6_prog_attach(x->prog, (int)idx, SRV6_EGRESS))) {
			rc = srv6_prog_attach(x->prog, (int)idx, SRV6_INGRESS);
		}
		if (rc) {
			snprintf(x->why, sizeof(x->why),
				 "cannot attach to interface %s: %s",
				 c->srv6.interfaces[i], as_strerror(rc));
			srv6_prog_free(x->prog);
			x->prog = NULL;
		}
	}
	if (!x->prog) {
		as_err("srv6: path steering is off: %s; the agent runs on "
		       "without it", x->why[0] ? x->why : "unknown reason");
	} else {
		as_notice("srv6: steering %s's traffic (%s, MTU %u) on %zu "
			  "interfaces", c->srv6.host,
			  x->mode == SRV6_MODE_ENCAP ? "encap" : "insert", x->mtu,
			  c->srv6.n_interfaces);
	}
	if (x->topo && (rc = probe_start(x)))
		as_warn("srv6: link probes are off (links count as up): %s",
			as_strerror(rc));
	if ((rc = bird_start(x)))
		as_warn("srv6: no link liveness from BIRD: %s", as_strerror(rc));
	reprogram(x, "start");
	return AS_OK;
}

static void srv6_reconfigure(struct agent_ctx *ctx, void *self,
			     const struct agent_config *old)
{
	struct agent_srv6 *x = self;
	const struct agent_config *c = ctx->cfg;
	bool ifs_same = old->srv6.n_interfaces == c->srv6.n_interfaces;

	for (size_t i = 0; ifs_same && i < c->srv6.n_interfaces; i++)
		ifs_same = !strcmp(old->srv6.interfaces[i], c->srv6.interfaces[i]);
	if (old->srv6.enabled != c->srv6.enabled || !ifs_same ||
	    old->srv6.probe_interval_ms != c->srv6.probe_interval_ms)
		as_warn("reload: srv6.enabled, srv6.interfaces and "
			"srv6.probe_interval take effect after a restart");
	if (!x)
		return;
	settings(x);
	if (x->topo && load_topology(x))
		as_err("srv6: reload: keeping the paths planned so far");
	reprogram(x, "reload");
}

static void srv6_notify(void *self, enum agent_event ev)
{
	struct agent_srv6 *x = self;

	if (x && !x->stopped && ev == AGENT_EV_VIEW_CHANGED)
		reprogram(x, "view");
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void srv6_stop(void *self)
{
	struct agent_srv6 *x = self;

	if (!x || x->stopped)
		return;
	x->stopped = true;
	if (x->timer_on)
		uv_close((uv_handle_t *)&x->timer, close_cb);
	if (x->poll_on)
		uv_close((uv_handle_t *)&x->poll, close_cb);
	if (x->bird_timer_on)
		uv_close((uv_handle_t *)&x->bird_timer, close_cb);
	/* Cancels a pending query (its callback sees stopped). */
	route_birdctl_free(x->bird);
	x->bird = NULL;
}

static void srv6_free(void *self)
{
	struct agent_srv6 *x = self;

	if (!x)
		return;
	/* Detaching the programs ends the steering: nothing is left
	 * behind in the kernel but the clsact qdiscs. */
	srv6_prog_free(x->prog);
	if (x->fd >= 0)
		close(x->fd);
	srv6_topo_free(x->topo);
	free(x->live);
	free(x->plan);
	free(x->inst);
	free(x);
}

/* ---- snapshot, metrics, status, paths --------------------------------------------- */

static void srv6_snapshot(const void *self, struct agent_snapshot *snap)
{
	const struct agent_srv6 *x = self;
	struct agent_srv6_snap *s = &snap->srv6;

	memset(s, 0, sizeof(*s));
	if (!x)
		return;
	s->enabled = true;
	s->dataplane = x->prog != NULL;
	s->planned = x->nplan;
	s->installed = x->ninst;
	for (size_t i = 0; i < x->nplan; i++)
		s->no_path += x->plan[i].err != AS_OK;
	s->conflicts = x->conflicts;
	s->reprograms = x->reprograms;
	s->map_errors = x->map_errors;
	s->last_reprogram_ms = x->last_reprogram_ms;
	s->probes_sent = x->probes_sent;
	s->probes_answered = x->probes_answered;
	s->probes_lost = x->probes_lost;
	s->probes_unsent = x->probes_unsent;
	s->link_changes = x->link_changes;
	if (x->prog && SRV6_ST_N <= AS_ARRAY_SIZE(s->stats) &&
	    !srv6_prog_stats(x->prog, s->stats))
		s->n_stats = SRV6_ST_N;
	for (size_t i = 0; x->topo && i < x->nlive && i < AGENT_SRV6_LINKS; i++) {
		struct srv6_link_info li;
		srv6_topo_link(x->topo, (int)i, &li);
		link_name(x->topo, (int)i, s->links[i].name, sizeof(s->links[i].name));
		s->links[i].up = li.up;
		s->n_links++;
	}
}

static void srv6_metrics(FILE *f, const struct agent_snapshot *snap)
{
	const struct agent_srv6_snap *s = &snap->srv6;

	agent_metric_head(f, "anysteer_srv6_enabled",
			  "1 when srv6.enabled; dataplane: 1 when the tc programs run.",
			  "gauge");
	fprintf(f, "anysteer_srv6_enabled{dataplane=\"%d\"} %d\n", s->dataplane,
		s->enabled);
	if (!s->enabled)
		return;
	agent_metric_head(f, "anysteer_srv6_entries",
			  "Steered destinations: planned, installed in the map, "
			  "without a path (or host), in conflict.", "gauge");
	fprintf(f, "anysteer_srv6_entries{state=\"planned\"} %zu\n", s->planned);
	fprintf(f, "anysteer_srv6_entries{state=\"installed\"} %zu\n", s->installed);
	fprintf(f, "anysteer_srv6_entries{state=\"no_path\"} %zu\n", s->no_path);
	fprintf(f, "anysteer_srv6_entries{state=\"conflict\"} %zu\n", s->conflicts);
	agent_metric_head(f, "anysteer_srv6_reprograms_total",
			  "Replans that changed the steering map.", "counter");
	fprintf(f, "anysteer_srv6_reprograms_total %llu\n",
		(unsigned long long)s->reprograms);
	agent_metric_head(f, "anysteer_srv6_map_errors_total",
			  "Steering map or local SID writes that failed.", "counter");
	fprintf(f, "anysteer_srv6_map_errors_total %llu\n",
		(unsigned long long)s->map_errors);
	agent_metric_head(f, "anysteer_srv6_last_reprogram_timestamp_seconds",
			  "Wall time of the last change of the steering map; 0 = never.",
			  "gauge");
	fprintf(f, "anysteer_srv6_last_reprogram_timestamp_seconds %.3f\n",
		(double)s->last_reprogram_ms / 1000);
	agent_metric_head(f, "anysteer_srv6_probes_total",
			  "Link probes by result.", "counter");
	fprintf(f, "anysteer_srv6_probes_total{result=\"sent\"} %llu\n",
		(unsigned long long)s->probes_sent);
	fprintf(f, "anysteer_srv6_probes_total{result=\"answered\"} %llu\n",
		(unsigned long long)s->probes_answered);
	fprintf(f, "anysteer_srv6_probes_total{result=\"lost\"} %llu\n",
		(unsigned long long)s->probes_lost);
	fprintf(f, "anysteer_srv6_probes_total{result=\"unsent\"} %llu\n",
		(unsigned long long)s->probes_unsent);
	agent_metric_head(f, "anysteer_srv6_link_changes_total",
			  "Probe rounds that took a link down or up.", "counter");
	fprintf(f, "anysteer_srv6_link_changes_total %llu\n",
		(unsigned long long)s->link_changes);
	agent_metric_head(f, "anysteer_srv6_link_up",
			  "1 when a link of the topology is up (the first 32).", "gauge");
	for (size_t i = 0; i < s->n_links; i++)
		fprintf(f, "anysteer_srv6_link_up{link=\"%s\"} %d\n", s->links[i].name,
			s->links[i].up);
	if (!s->n_stats)
		return;
	agent_metric_head(f, "anysteer_srv6_packets_total",
			  "Packets seen by the tc programs, by outcome (docs/srv6.md).",
			  "counter");
	for (size_t i = 0; i < s->n_stats; i++)
		fprintf(f, "anysteer_srv6_packets_total{outcome=\"%s\"} %llu\n",
			srv6_stat_name((enum srv6_stat)i),
			(unsigned long long)s->stats[i]);
}

static json_t *strings(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *links_json(const struct agent_srv6 *x)
{
	json_t *a = json_array();

	for (size_t i = 0; x->topo && i < srv6_topo_link_count(x->topo); i++) {
		struct srv6_link_info li;
		json_t *o = json_object(), *tags = json_array();
		srv6_topo_link(x->topo, (int)i, &li);
		json_object_set_new(o, "between", json_pack("[ss]",
			srv6_topo_node_name(x->topo, li.a),
			srv6_topo_node_name(x->topo, li.b)));
		json_object_set_new(o, "up", json_boolean(li.up));
		const char *bp = srv6_topo_link_bird(x->topo, (int)i);
		json_object_set_new(o, "probed",
				    json_boolean(x->fd >= 0 && !bp &&
						 srv6_topo_link_probed(x->topo, (int)i)));
		json_object_set_new(o, "bird_protocol", bp ? json_string(bp) : json_null());
		json_object_set_new(o, "latency_us", json_integer(li.attr.latency_us));
		json_object_set_new(o, "bandwidth_kbps",
				    json_integer((json_int_t)li.attr.bandwidth_kbps));
		json_object_set_new(o, "cost", json_integer(li.attr.cost));
		for (size_t k = 0; k < SRV6_TAGS_MAX && li.attr.tags[k]; k++)
			json_array_append_new(tags, json_string(li.attr.tags[k]));
		json_object_set_new(o, "tags", tags);
		json_array_append_new(a, o);
	}
	return a;
}

static const struct agent_intent *intent_of(const struct agent_srv6 *x,
					    const char *svc)
{
	for (size_t i = 0; i < x->ctx->n_services; i++)
		if (!strcmp(x->ctx->services[i].name, svc))
			return &x->ctx->services[i].intent;
	return NULL;
}

static bool installed(const struct agent_srv6 *x, const struct srv6_match *m)
{
	for (size_t i = 0; i < x->ninst; i++)
		if (!agent_srv6_match_cmp(&x->inst[i].match, m))
			return true;
	return false;
}

static json_t *srv6_status(void *self)
{
	struct agent_srv6 *x = self;
	json_t *o = json_object();
	struct agent_snapshot s;

	json_object_set_new(o, "enabled", json_boolean(x != NULL));
	if (!x)
		return o;
	srv6_snapshot(x, &s);
	json_object_set_new(o, "dataplane", json_boolean(x->prog != NULL));
	json_object_set_new(o, "reason", x->prog ? json_null() : json_string(x->why));
	json_object_set_new(o, "host", json_string(x->ctx->cfg->srv6.host));
	json_object_set_new(o, "mode", json_string(x->ctx->cfg->srv6.mode));
	json_object_set_new(o, "planned", json_integer((json_int_t)s.srv6.planned));
	json_object_set_new(o, "installed", json_integer((json_int_t)s.srv6.installed));
	json_object_set_new(o, "no_path", json_integer((json_int_t)s.srv6.no_path));
	json_object_set_new(o, "reprograms", json_integer((json_int_t)x->reprograms));
	size_t down = 0;
	for (size_t i = 0; i < s.srv6.n_links; i++)
		down += !s.srv6.links[i].up;
	json_object_set_new(o, "links_down", json_integer((json_int_t)down));
	return o;
}

/* `anysteerctl paths`: every steered destination with its intent, path,
 * segment list and map entry (counters), the links, the last change. */
static json_t *cmd_paths(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_srv6 *x = self;
	json_t *o, *dests;
	char b[INET6_ADDRSTRLEN];

	(void)args;
	if (!x) {
		snprintf(err, errlen, "srv6 is not enabled (srv6.enabled)");
		return NULL;
	}
	o = srv6_status(x);
	json_object_set_new(o, "interfaces",
			    strings(x->ctx->cfg->srv6.interfaces,
				    x->ctx->cfg->srv6.n_interfaces));
	json_object_set_new(o, "topology", json_string(x->ctx->cfg->srv6.topology));
	json_object_set_new(o, "generation", json_integer(x->generation));
	json_object_set_new(o, "map_errors", json_integer((json_int_t)x->map_errors));
	json_object_set_new(o, "last_reprogram_ms",
			    json_integer((json_int_t)x->last_reprogram_ms));
	json_object_set_new(o, "now_ms", json_integer((json_int_t)wall_ms()));
	json_object_set_new(o, "links", links_json(x));
	dests = json_array();
	for (size_t i = 0; i < x->nplan; i++) {
		const struct agent_srv6_entry *e = &x->plan[i];
		const struct agent_intent *in = intent_of(x, e->service);
		json_t *d = json_object(), *path = json_array(), *segs = json_array();
		uint64_t pk = 0, by = 0;
		bool inst = installed(x, &e->match);

		json_object_set_new(d, "service", json_string(e->service));
		json_object_set_new(d, "intent", json_pack("{s:s,s:o}",
			"path", srv6_metric_name(e->metric), "avoid",
			in ? strings(in->avoid, in->n_avoid) : json_array()));
		json_object_set_new(d, "address", json_string(fmt6(&e->match.prefix, b)));
		json_object_set_new(d, "protocol", json_string(
			e->match.proto == IPPROTO_UDP ? "udp" : "tcp"));
		json_object_set_new(d, "port", json_integer(e->match.port));
		json_object_set_new(d, "host", e->dst_host >= 0 ?
			json_string(srv6_topo_node_name(x->topo, e->dst_host)) :
			json_null());
		json_object_set_new(d, "error", e->err ? json_string(plan_error(e->err)) :
				    e->map_err ? json_string(as_strerror(e->map_err)) :
				    json_null());
		for (size_t k = 0; k < e->nnodes; k++)
			json_array_append_new(path, json_string(
				srv6_topo_node_name(x->topo, e->nodes[k])));
		for (size_t k = 0; !e->err && k < e->steer.nsegs; k++)
			json_array_append_new(segs, json_string(
				k + 1 == e->steer.nsegs && e->steer.last_is_dst ?
				"(destination)" : fmt6(&e->steer.segs[k], b)));
		json_object_set_new(d, "path", path);
		json_object_set_new(d, "segments", segs);
		json_object_set_new(d, "latency_us", json_integer((json_int_t)e->latency_us));
		json_object_set_new(d, "bandwidth_kbps",
				    json_integer((json_int_t)e->bandwidth_kbps));
		json_object_set_new(d, "cost", json_integer((json_int_t)e->cost));
		json_object_set_new(d, "installed", json_boolean(inst));
		if (inst && x->prog &&
		    !srv6_prog_steer_counters(x->prog, &e->match, &pk, &by)) {
			json_object_set_new(d, "packets", json_integer((json_int_t)pk));
			json_object_set_new(d, "bytes", json_integer((json_int_t)by));
		} else {
			json_object_set_new(d, "packets", json_null());
			json_object_set_new(d, "bytes", json_null());
		}
		json_array_append_new(dests, d);
	}
	json_object_set_new(o, "destinations", dests);
	return o;
}

static const struct agent_command srv6_commands[] = {
	{ "paths", cmd_paths,
	  "SRv6 steering: each steered destination's intent, path, segments and "
	  "map counters; the links and their liveness", NULL },
};

const struct agent_component_ops agent_srv6_ops = {
	.name = "srv6",
	.status_key = "srv6",
	.start = srv6_start,
	.reconfigure = srv6_reconfigure,
	.notify = srv6_notify,
	.stop = srv6_stop,
	.free = srv6_free,
	.snapshot = srv6_snapshot,
	.status = srv6_status,
	.metrics = srv6_metrics,
	.commands = srv6_commands,
	.n_commands = AS_ARRAY_SIZE(srv6_commands),
};
