/*
 * agent/anycast.c - the anycast component (component.h): the TUN device
 * and its addresses, the health gate's inputs, drain, BIRD state, and
 * /healthz.
 *
 * Design. routing/ provides the pieces (route_anycast_t = TUN + gate,
 * route_birdctl_t = bird.ctl client); this file only feeds them from the
 * agent's loop and reports what they decided:
 *
 *  - Start-up order matters. The TUN and its addresses are created in
 *    the start hook, before dns_server_new() binds, because the DNS
 *    listeners include the anycast addresses and bind() needs the address
 *    to exist. route_tun_new() may block up to ~1 s (carrier events are
 *    rate-limited by the kernel), which is fine before the loop runs. The
 *    self-check and BIRD start in the serve hook, once DNS runs. Gossip
 *    may have joined before (ctx->joined); later AGENT_EV_JOINED arrives
 *    through the notify hook.
 *
 *  - The DNS self-check is round based: every check_interval one SOA query
 *    for the zone goes over UDP to every anycast address (each from its own
 *    socket, with a fresh random ID). A round succeeds when every address
 *    sent back a valid answer with the matching ID; a round still open when
 *    the next one starts failed. The round result is the gate input, so the
 *    gate's rise/fall counts rounds, and the timeout is one interval. The
 *    query goes to the anycast address itself, so it tests exactly the
 *    sockets clients reach, whatever the carrier. Without anycast the same
 *    check goes to the first DNS listener (only when /healthz exists, i.e.
 *    metrics are on), through a bare gate, so /healthz means "DNS answers".
 *
 *  - Drain: SIGTERM (with anycast) or `anysteerctl drain` feeds "draining"
 *    to the gate, which turns the carrier off; the addresses stay, so
 *    queries already routed here are answered. On SIGTERM a linger timer
 *    then stops the agent (AGENT_EV_STOP); a second SIGTERM/SIGINT stops
 *    it at once. Both drains are the agent's, not only the route's: they
 *    emit AGENT_EV_DRAIN, which the daemon passes to the Kubernetes
 *    source (it gives up the leader Lease); `drain` without anycast is
 *    then still accepted.
 *
 *  - BIRD is observed, never depended on: a kept-open bird.ctl connection
 *    polls protocol states, BFD sessions and whether each anycast /128 is
 *    exported. When bird.fast_withdraw is on, the direct protocol that
 *    turns the TUN addresses into routes is disabled while the gate
 *    withdraws (sub-ms withdrawal) and enabled while it announces, and
 *    re-synchronised on every (re)connect: an addition to the carrier,
 *    which alone survives the agent's death.
 *
 *  - Readers on other threads (metrics, /healthz) see only a copy made
 *    under the snapshot mutex (struct agent_anycast_snap), refreshed on
 *    every change here.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent/anycast.h"
#include "lib/as.h"
#include "lib/rng.h"
#include "routing/routing.h"

#define PROBE_BUF 1232

struct agent_anycast;

struct probe {
	uv_udp_t udp;
	struct agent_anycast *x;
	bool open;
	struct sockaddr_storage dst;
	uint16_t id;
	bool pending;		/* sent in this round, no valid answer yet */
	uint64_t sent_ns;
	uint8_t buf[PROBE_BUF];
};

struct export_ctx {
	struct agent_anycast *x;
	size_t i;
};

struct agent_anycast {
	struct agent_ctx *ctx;
	bool enabled;		/* anycast addresses configured */
	size_t n;		/* announced here: addresses[base, base+n) */
	size_t base;
	bool announce_one;	/* anycast.announce: one */
	size_t n_others;	/* the others' letters (announce: one) */
	char others[ROUTE_ANYCAST_MAX][INET6_ADDRSTRLEN];
	char text[ROUTE_ANYCAST_MAX][INET6_ADDRSTRLEN];
	struct in6_addr addr[ROUTE_ANYCAST_MAX];
	char ifname[IF_NAMESIZE];
	uint16_t port;
	uint64_t interval_ms, linger_ms, bird_poll_ms;
	bool wait_for_gossip, test_commands;
	char bird_socket[108], bird_protocol[64], bird_export[64];
	bool fast_withdraw;

	route_anycast_t *route;	/* anycast: TUN + gate */
	route_gate_t *gate;	/* no anycast: gate for /healthz only */

	/* Self-check. */
	uv_timer_t check_timer;
	bool check_timer_open;
	struct probe probes[ROUTE_ANYCAST_MAX];
	size_t n_probes;
	uint8_t query[300];
	size_t qlen;
	struct as_rng rng;	/* self-check query IDs */
	bool round_open;
	uint64_t checks_ok, checks_failed, last_rtt_us;
	bool last_ok, have_result;

	/* Gate bookkeeping. */
	bool announce;
	enum route_reason reason;
	uint64_t since_ms;
	uint64_t transitions;
	bool joined, draining, dns_paused;

	/* SIGTERM drain. */
	uv_timer_t linger_timer;
	bool linger_open, exiting;

	/* BIRD. */
	route_birdctl_t *bird;
	uv_timer_t bird_timer;
	bool bird_timer_open;
	bool bird_up;
	int bird_err;
	uint64_t bird_since_ms;
	unsigned polls_pending;
	struct route_bird_proto protos[AGENT_ANYCAST_PROTOS];
	size_t n_protos;
	struct route_bird_bfd bfd[AGENT_ANYCAST_BFD];
	size_t n_bfd;
	bool bfd_valid;
	int exported[ROUTE_ANYCAST_MAX];	/* -1 unknown, 0, 1 */
	struct export_ctx ectx[ROUTE_ANYCAST_MAX];
	int switch_state;	/* -1 unknown, 0 disabled, 1 enabled */
	uint64_t switch_failures;

	bool closing;
};

static void publish(struct agent_anycast *x);

/* ---- gate ---------------------------------------------------------------- */

static void current(struct agent_anycast *x, struct route_decision *d)
{
	if (x->route)
		route_anycast_decision(x->route, d);
	else if (x->gate)
		route_gate_get(x->gate, d);
	else
		*d = (struct route_decision){ .announce = false,
					      .reason = ROUTE_REASON_STOPPED };
}

static void bird_sync_switch(struct agent_anycast *x);

/* Called after every gate input: logs and counts changes, publishes. */
static void after_input(struct agent_anycast *x, int rc)
{
	struct route_decision d;

	current(x, &d);
	if (rc)
		as_err("anycast: cannot switch the carrier of %s: %s",
		       x->ifname, as_strerror(rc));
	if (d.announce != x->announce || d.reason != x->reason) {
		if (d.announce != x->announce)
			x->transitions++;
		if (x->enabled)
			as_notice("anycast: %s on %s %s (%s)", x->text[0],
				  x->ifname,
				  d.announce ? "announced" : "withdrawn",
				  route_reason_name(d.reason));
		else
			as_notice("health: DNS self-check %s (%s)",
				  d.announce ? "passing" : "failing",
				  route_reason_name(d.reason));
		x->announce = d.announce;
		x->reason = d.reason;
		x->since_ms = d.since_ms;
		bird_sync_switch(x);
	}
	publish(x);
}

static void feed_selfcheck(struct agent_anycast *x, bool ok)
{
	uint64_t now = as_now_ms();
	int rc = AS_OK;
	struct route_decision d;

	x->have_result = true;
	x->last_ok = ok;
	if (ok)
		x->checks_ok++;
	else
		x->checks_failed++;
	if (x->route)
		rc = route_anycast_selfcheck(x->route, ok, now);
	else if (x->gate)
		route_gate_selfcheck(x->gate, ok, now, &d);
	after_input(x, rc);
}

/* Gossip joined a cluster (gate input; only matters with
 * anycast.wait_for_gossip). */
static void set_joined(struct agent_anycast *x, bool joined)
{
	struct route_decision d;
	int rc = AS_OK;

	if (x->closing || x->joined == joined)
		return;
	x->joined = joined;
	if (x->route)
		rc = route_anycast_set_joined(x->route, joined, as_now_ms());
	else if (x->gate)
		route_gate_set_joined(x->gate, joined, as_now_ms(), &d);
	after_input(x, rc);
}

static int set_draining(struct agent_anycast *x, bool draining)
{
	int rc = AS_OK;

	if (!x || !x->enabled)
		return AS_ESTATE;
	if (!draining && x->exiting)
		return AS_ESTATE;
	x->draining = draining;
	if (x->route && !x->closing)
		rc = route_anycast_set_draining(x->route, draining, as_now_ms());
	after_input(x, rc);
	return rc;
}

/* ---- self-check I/O -------------------------------------------------------- */

static uint16_t next_id(struct agent_anycast *x)
{
	/* IDs only need to be unpredictable enough that a stale answer
	 * from an earlier round never matches. */
	return (uint16_t)as_rng_next(&x->rng);
}

static void probe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct probe *p = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)p->buf, sizeof(p->buf));
}

static void probe_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		       const struct sockaddr *from, unsigned flags)
{
	struct probe *p = h->data;
	struct agent_anycast *x = p->x;

	(void)buf;
	if (nread <= 0 || !from || (flags & UV_UDP_PARTIAL) || x->closing)
		return;
	if (!p->pending)
		return;
	x->query[0] = (uint8_t)(p->id >> 8);
	x->query[1] = (uint8_t)p->id;
	if (!dns_probe_reply_check(x->query, x->qlen, p->buf, (size_t)nread))
		return;
	p->pending = false;
	x->last_rtt_us = (as_now_ns() - p->sent_ns) / 1000;
	for (size_t i = 0; i < x->n_probes; i++)
		if (x->probes[i].pending)
			return;
	x->round_open = false;
	feed_selfcheck(x, true);
}

static void on_check(uv_timer_t *t)
{
	struct agent_anycast *x = t->data;

	if (x->closing)
		return;
	if (x->round_open)
		feed_selfcheck(x, false);
	x->round_open = x->n_probes > 0;
	for (size_t i = 0; i < x->n_probes; i++) {
		struct probe *p = &x->probes[i];
		p->id = next_id(x);
		p->pending = true;
		p->sent_ns = as_now_ns();
		x->query[0] = (uint8_t)(p->id >> 8);
		x->query[1] = (uint8_t)p->id;
		uv_buf_t b = uv_buf_init((char *)x->query, (unsigned)x->qlen);
		int rc = uv_udp_try_send(&p->udp, &b, 1,
					 (const struct sockaddr *)&p->dst);
		if (rc < 0)
			as_debug("anycast: self-query send failed: %s",
				 uv_strerror(rc));
		/* A failed send leaves the probe pending: the round fails. */
	}
}

static int probe_open(struct agent_anycast *x, const struct sockaddr_storage *dst)
{
	struct probe *p = &x->probes[x->n_probes];
	int rc;

	p->dst = *dst;
	rc = uv_udp_init(x->ctx->loop, &p->udp);
	if (rc)
		return AS_ELIB;
	p->udp.data = p;
	p->x = x;
	p->open = true;
	x->n_probes++;
	if (dst->ss_family == AF_INET6) {
		struct sockaddr_in6 any = { .sin6_family = AF_INET6 };
		rc = uv_udp_bind(&p->udp, (const struct sockaddr *)&any, 0);
	} else {
		struct sockaddr_in any = { .sin_family = AF_INET };
		rc = uv_udp_bind(&p->udp, (const struct sockaddr *)&any, 0);
	}
	if (!rc)
		rc = uv_udp_recv_start(&p->udp, probe_alloc, probe_recv);
	if (rc) {
		as_err("anycast: self-check socket: %s", uv_strerror(rc));
		return AS_ELIB;
	}
	return AS_OK;
}

/* ---- BIRD ------------------------------------------------------------------ */

static void on_switch(int status, bool changed, void *arg)
{
	struct agent_anycast *x = arg;

	if (status != AS_OK) {
		if (status != -ECANCELED) {
			x->switch_failures++;
			x->switch_state = -1;
			as_warn("anycast: BIRD could not switch protocol %s: %s",
				x->bird_protocol, as_strerror(status));
		}
		return;
	}
	(void)changed;
}

/* The direct protocol follows the gate (see the design note). */
static void bird_sync_switch(struct agent_anycast *x)
{
	if (!x->bird || !x->fast_withdraw || !x->enabled || x->closing ||
	    !route_birdctl_connected(x->bird))
		return;
	int want = x->announce ? 1 : 0;
	if (x->switch_state == want)
		return;
	int rc = route_birdctl_switch(x->bird, x->bird_protocol, x->announce,
				      on_switch, x);
	if (rc) {
		x->switch_failures++;
		x->switch_state = -1;
		as_warn("anycast: cannot ask BIRD to %s %s: %s",
			x->announce ? "enable" : "disable", x->bird_protocol,
			as_strerror(rc));
		return;
	}
	x->switch_state = want;
}

static void on_protocols(int status, const struct route_bird_proto *p,
			 size_t n, void *arg)
{
	struct agent_anycast *x = arg;

	x->polls_pending--;
	if (status != AS_OK) {
		if (status != -ECANCELED)
			x->n_protos = 0;
		return;
	}
	x->n_protos = AS_MIN(n, AS_ARRAY_SIZE(x->protos));
	if (x->n_protos)
		memcpy(x->protos, p, x->n_protos * sizeof(*p));
	publish(x);
}

static void on_bfd(int status, const struct route_bird_bfd *s, size_t n,
		   void *arg)
{
	struct agent_anycast *x = arg;

	x->polls_pending--;
	if (status != AS_OK) {
		/* BIRD without a BFD protocol answers with an error. */
		if (status != -ECANCELED) {
			x->n_bfd = 0;
			x->bfd_valid = false;
		}
		return;
	}
	x->bfd_valid = true;
	x->n_bfd = AS_MIN(n, AS_ARRAY_SIZE(x->bfd));
	if (x->n_bfd)
		memcpy(x->bfd, s, x->n_bfd * sizeof(*s));
	publish(x);
}

static void on_exported(int status, bool value, void *arg)
{
	struct export_ctx *e = arg;
	struct agent_anycast *x = e->x;

	x->polls_pending--;
	if (status == -ECANCELED)
		return;
	x->exported[e->i] = status == AS_OK ? (int)value : -1;
	publish(x);
}

static void bird_poll(struct agent_anycast *x)
{
	if (!x->bird || x->closing || !route_birdctl_connected(x->bird) ||
	    x->polls_pending)
		return;
	if (route_birdctl_protocols(x->bird, on_protocols, x) == AS_OK)
		x->polls_pending++;
	if (route_birdctl_bfd_sessions(x->bird, on_bfd, x) == AS_OK)
		x->polls_pending++;
	for (size_t i = 0; x->enabled && x->bird_export[0] && i < x->n; i++)
		if (route_birdctl_exported(x->bird, &x->addr[i], 128,
					   x->bird_export, on_exported,
					   &x->ectx[i]) == AS_OK)
			x->polls_pending++;
}

static void on_bird_timer(uv_timer_t *t)
{
	bird_poll(t->data);
}

static void on_bird_state(bool connected, int err, void *arg)
{
	struct agent_anycast *x = arg;

	if (x->closing)
		return;
	if (connected != x->bird_up)
		x->bird_since_ms = as_now_ms();
	if (connected && !x->bird_up)
		as_notice("anycast: connected to BIRD at %s", x->bird_socket);
	else if (!connected && (x->bird_up || x->bird_err != err))
		as_warn("anycast: BIRD at %s unreachable: %s (DNS keeps "
			"serving; retrying)", x->bird_socket, as_strerror(err));
	x->bird_up = connected;
	x->bird_err = connected ? 0 : err;
	if (!connected) {
		x->n_protos = 0;
		x->n_bfd = 0;
		x->bfd_valid = false;
		for (size_t i = 0; i < x->n; i++)
			x->exported[i] = -1;
		x->switch_state = -1;
	} else {
		/* A restarted BIRD or a previous agent may have left the
		 * protocol in either state: say what we want. */
		x->switch_state = -1;
		bird_sync_switch(x);
		bird_poll(x);
	}
	publish(x);
}

/* ---- snapshot for metrics and /healthz -------------------------------------- */

static void anycast_snapshot(const void *self, struct agent_snapshot *snap)
{
	const struct agent_anycast *x = self;
	struct agent_anycast_snap *s = &snap->anycast;

	memset(s, 0, sizeof(*s));
	if (!x) {
		s->healthy = true;
		snprintf(s->health_reason, sizeof(s->health_reason), "no check");
		return;
	}
	s->configured = x->enabled;
	s->checking = x->n_probes > 0;
	s->healthy = x->n_probes == 0 || x->announce;
	snprintf(s->health_reason, sizeof(s->health_reason), "%s",
		 x->n_probes ? route_reason_name(x->reason) : "no check");
	s->announce = x->announce;
	s->transitions = x->transitions;
	s->checks_ok = x->checks_ok;
	s->checks_failed = x->checks_failed;
	s->draining = x->draining;
	s->bird_configured = x->bird != NULL;
	s->bird_up = x->bird_up;
	if (x->route) {
		struct route_anycast_status st[ROUTE_ANYCAST_MAX];
		size_t n = route_anycast_status(x->route, st, ROUTE_ANYCAST_MAX);
		s->n = n;
		for (size_t i = 0; i < n; i++) {
			snprintf(s->addr[i].address, sizeof(s->addr[i].address),
				 "%s", st[i].text);
			s->addr[i].announced = st[i].announced;
			s->addr[i].exported = x->exported[i];
		}
	}
	s->n_protos = x->n_protos;
	for (size_t i = 0; i < x->n_protos; i++) {
		snprintf(s->protos[i].name, sizeof(s->protos[i].name), "%s", x->protos[i].name);
		snprintf(s->protos[i].proto, sizeof(s->protos[i].proto), "%s", x->protos[i].proto);
		snprintf(s->protos[i].state, sizeof(s->protos[i].state), "%s", x->protos[i].state);
		snprintf(s->protos[i].info, sizeof(s->protos[i].info), "%s", x->protos[i].info);
	}
	s->n_bfd = x->n_bfd;
	for (size_t i = 0; i < x->n_bfd; i++) {
		snprintf(s->bfd[i].address, sizeof(s->bfd[i].address), "%s", x->bfd[i].address);
		snprintf(s->bfd[i].state, sizeof(s->bfd[i].state), "%s", x->bfd[i].state);
	}
}

static void publish(struct agent_anycast *x)
{
	x->ctx->publish(x->ctx, x);
}

static void esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void agent_anycast_metrics(FILE *f, const struct agent_anycast_snap *s)
{
	fprintf(f, "# HELP anysteer_health_ok 1 while /healthz answers 200.\n"
		   "# TYPE anysteer_health_ok gauge\nanysteer_health_ok %d\n",
		s->healthy ? 1 : 0);
	fprintf(f, "# HELP anysteer_selfcheck_total DNS self-check rounds, by result.\n"
		   "# TYPE anysteer_selfcheck_total counter\n"
		   "anysteer_selfcheck_total{result=\"ok\"} %llu\n"
		   "anysteer_selfcheck_total{result=\"failed\"} %llu\n",
		(unsigned long long)s->checks_ok,
		(unsigned long long)s->checks_failed);
	if (!s->configured)
		return;
	fprintf(f, "# HELP anysteer_anycast_announced 1 while the anycast address is announced.\n"
		   "# TYPE anysteer_anycast_announced gauge\n");
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "anysteer_anycast_announced{address=\"%s\"} %d\n",
			s->addr[i].address, s->addr[i].announced ? 1 : 0);
	fprintf(f, "# HELP anysteer_anycast_exported 1 if BIRD exports the address to its upstream, 0 if not (absent: unknown).\n"
		   "# TYPE anysteer_anycast_exported gauge\n");
	for (size_t i = 0; i < s->n; i++)
		if (s->addr[i].exported >= 0)
			fprintf(f, "anysteer_anycast_exported{address=\"%s\"} %d\n",
				s->addr[i].address, s->addr[i].exported);
	fprintf(f, "# HELP anysteer_anycast_gate_transitions_total Announce/withdraw changes of the health gate.\n"
		   "# TYPE anysteer_anycast_gate_transitions_total counter\n"
		   "anysteer_anycast_gate_transitions_total %llu\n",
		(unsigned long long)s->transitions);
	fprintf(f, "# HELP anysteer_anycast_draining 1 while draining.\n"
		   "# TYPE anysteer_anycast_draining gauge\nanysteer_anycast_draining %d\n",
		s->draining ? 1 : 0);
	if (!s->bird_configured)
		return;
	fprintf(f, "# HELP anysteer_bird_up 1 while the bird.ctl connection is up.\n"
		   "# TYPE anysteer_bird_up gauge\nanysteer_bird_up %d\n",
		s->bird_up ? 1 : 0);
	fprintf(f, "# HELP anysteer_bird_protocol_up 1 for a BIRD protocol in state up.\n"
		   "# TYPE anysteer_bird_protocol_up gauge\n");
	for (size_t i = 0; i < s->n_protos; i++) {
		fputs("anysteer_bird_protocol_up{name=\"", f);
		esc(f, s->protos[i].name);
		fputs("\",proto=\"", f);
		esc(f, s->protos[i].proto);
		fputs("\",info=\"", f);
		esc(f, s->protos[i].info);
		fprintf(f, "\"} %d\n", strcmp(s->protos[i].state, "up") == 0);
	}
	fprintf(f, "# HELP anysteer_bird_bfd_session_up 1 for a BFD session in state Up.\n"
		   "# TYPE anysteer_bird_bfd_session_up gauge\n");
	for (size_t i = 0; i < s->n_bfd; i++) {
		fputs("anysteer_bird_bfd_session_up{address=\"", f);
		esc(f, s->bfd[i].address);
		fprintf(f, "\"} %d\n", strcmp(s->bfd[i].state, "Up") == 0);
	}
}

/* ---- JSON for the control socket --------------------------------------------- */

static json_t *when_json(uint64_t since_ms)
{
	uint64_t now = as_now_ms();
	double ago = now >= since_ms ? (double)(now - since_ms) / 1000.0 : 0;
	time_t wall = (time_t)as_wall_s() - (time_t)ago;
	struct tm tm;
	char buf[32];
	gmtime_r(&wall, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Tenths: the clock's noise is no information. */
	return json_pack("{s:s, s:f}", "time", buf, "seconds_ago",
			 (double)(long long)(ago * 10 + 0.5) / 10);
}

static json_t *anycast_status(void *self)
{
	struct agent_anycast *x = self;
	json_t *o = json_object();

	json_object_set_new(o, "configured", json_boolean(x && x->enabled));
	if (!x)
		return o;
	json_object_set_new(o, "healthy", json_boolean(x->n_probes == 0 || x->announce));
	json_object_set_new(o, "announced", json_boolean(x->enabled && x->announce));
	json_object_set_new(o, "reason", json_string(route_reason_name(x->reason)));
	json_object_set_new(o, "draining", json_boolean(x->draining));
	json_object_set_new(o, "bird_connected", json_boolean(x->bird_up));
	return o;
}

/* Each anycast address: its state in the route holder and BIRD's export. */
static json_t *addresses_json(struct agent_anycast *x)
{
	json_t *addrs = json_array();

	if (x->route) {
		struct route_anycast_status st[ROUTE_ANYCAST_MAX];
		size_t n = route_anycast_status(x->route, st, ROUTE_ANYCAST_MAX);
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_object();
			json_object_set_new(e, "address", json_string(st[i].text));
			json_object_set_new(e, "state", json_string(st[i].announced ?
					    "announced" : "withdrawn"));
			json_object_set_new(e, "reason", json_string(route_reason_name(st[i].reason)));
			json_object_set_new(e, "since", when_json(st[i].since_ms));
			json_object_set_new(e, "bird_exported", x->exported[i] < 0 ?
					    json_null() : json_boolean(x->exported[i]));
			json_array_append_new(addrs, e);
		}
	}
	return addrs;
}

/* The health gate: its decision, the self-check behind it and what
 * else holds it (gossip, drain, exit). */
static json_t *gate_json(struct agent_anycast *x)
{
	json_t *g = json_object();

	json_object_set_new(g, "announce", json_boolean(x->announce));
	json_object_set_new(g, "reason", json_string(route_reason_name(x->reason)));
	json_object_set_new(g, "since", when_json(x->since_ms));
	json_object_set_new(g, "transitions", json_integer((json_int_t)x->transitions));
	json_t *sc = json_object();
	json_object_set_new(sc, "targets", json_integer((json_int_t)x->n_probes));
	json_object_set_new(sc, "last", x->have_result ? json_boolean(x->last_ok) : json_null());
	json_object_set_new(sc, "ok_total", json_integer((json_int_t)x->checks_ok));
	json_object_set_new(sc, "failed_total", json_integer((json_int_t)x->checks_failed));
	json_object_set_new(sc, "last_rtt_us", json_integer((json_int_t)x->last_rtt_us));
	json_object_set_new(sc, "interval_ms", json_integer((json_int_t)x->interval_ms));
	json_object_set_new(sc, "dns_paused", json_boolean(x->dns_paused));
	json_object_set_new(g, "selfcheck", sc);
	json_object_set_new(g, "joined", json_boolean(x->joined));
	json_object_set_new(g, "wait_for_gossip", json_boolean(x->wait_for_gossip));
	json_object_set_new(g, "draining", json_boolean(x->draining));
	json_object_set_new(g, "exiting", json_boolean(x->exiting));
	return g;
}

/* The bird.ctl connection, its protocols and BFD sessions. */
static json_t *bird_json(struct agent_anycast *x)
{
	json_t *b = json_object();

	json_object_set_new(b, "configured", json_boolean(x->bird != NULL));
	if (!x->bird)
		return b;
	json_object_set_new(b, "socket", json_string(x->bird_socket));
	json_object_set_new(b, "connected", json_boolean(x->bird_up));
	json_object_set_new(b, "error", x->bird_up || !x->bird_err ? json_null() :
			    json_string(as_strerror(x->bird_err)));
	json_object_set_new(b, "since", when_json(x->bird_since_ms));
	json_object_set_new(b, "protocol", json_string(x->bird_protocol));
	json_object_set_new(b, "export_protocol", json_string(x->bird_export));
	json_object_set_new(b, "fast_withdraw", json_boolean(x->fast_withdraw));
	json_t *ps = json_array();
	for (size_t i = 0; i < x->n_protos; i++)
		json_array_append_new(ps, json_pack("{s:s, s:s, s:s, s:s, s:s}",
			"name", x->protos[i].name, "proto", x->protos[i].proto,
			"state", x->protos[i].state, "since", x->protos[i].since,
			"info", x->protos[i].info));
	json_object_set_new(b, "protocols", ps);
	json_t *bs = json_array();
	for (size_t i = 0; i < x->n_bfd; i++)
		json_array_append_new(bs, json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}",
			"address", x->bfd[i].address, "interface", x->bfd[i].iface,
			"state", x->bfd[i].state, "since", x->bfd[i].since,
			"interval_ms", (int)x->bfd[i].interval_ms,
			"timeout_ms", (int)x->bfd[i].timeout_ms));
	json_object_set_new(b, "bfd_sessions", x->bfd_valid ? bs : (json_decref(bs), json_null()));
	return b;
}

static json_t *routes_json(struct agent_anycast *x)
{
	json_t *o = json_object();

	json_object_set_new(o, "configured", json_boolean(x && x->enabled));
	json_object_set_new(o, "draining", json_boolean(x && x->draining));
	if (!x)
		return o;
	json_object_set_new(o, "interface", json_string(x->ifname));
	json_object_set_new(o, "addresses", addresses_json(x));
	json_object_set_new(o, "announce", json_string(x->announce_one ? "one" : "all"));
	json_t *others = json_array();
	for (size_t i = 0; i < x->n_others; i++)
		json_array_append_new(others, json_string(x->others[i]));
	json_object_set_new(o, "other_nodes_announce", others);
	json_object_set_new(o, "gate", gate_json(x));
	json_object_set_new(o, "bird", bird_json(x));
	return o;
}

static json_t *cmd_routes(void *self, json_t *args, char *err, size_t errlen)
{
	(void)args; (void)err; (void)errlen;
	return routes_json(self);
}

static json_t *drain_cmd(struct agent_anycast *x, bool on, char *err, size_t errlen)
{
	if (x && !on && x->exiting) {
		snprintf(err, errlen, "the agent is shutting down (SIGTERM); cannot undrain");
		return NULL;
	}
	/* The daemon tells the Kubernetes source too (it gives up its
	 * Lease); AS_ESTATE: there is none. */
	int krc = x ? x->ctx->emit(x->ctx, AGENT_EV_DRAIN, &on) : AS_ESTATE;
	if (!x || !x->enabled) {
		if (krc) {
			snprintf(err, errlen, "anycast is not configured (anycast.addresses)");
			return NULL;
		}
		x->draining = on;
		as_notice("%s requested over the control socket (no anycast)",
			  on ? "drain" : "undrain");
		return routes_json(x);
	}
	as_notice("anycast: %s requested over the control socket", on ? "drain" : "undrain");
	int rc = set_draining(x, on);
	if (rc) {
		snprintf(err, errlen, "carrier switch failed: %s", as_strerror(rc));
		return NULL;
	}
	return routes_json(x);
}

static json_t *cmd_drain(void *self, json_t *args, char *err, size_t errlen)
{
	(void)args;
	return drain_cmd(self, true, err, errlen);
}

static json_t *cmd_undrain(void *self, json_t *args, char *err, size_t errlen)
{
	(void)args;
	return drain_cmd(self, false, err, errlen);
}

static json_t *cmd_test(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_anycast *x = self;
	json_t *av = json_object_get(args, "argv");
	const char *what = json_string_value(json_array_get(av, 0));

	if (!x || !x->test_commands) {
		snprintf(err, errlen, "test commands are disabled (control.test_commands)");
		return NULL;
	}
	if (!what || (strcmp(what, "pause-dns") && strcmp(what, "resume-dns"))) {
		snprintf(err, errlen, "usage: test pause-dns|resume-dns");
		return NULL;
	}
	x->dns_paused = strcmp(what, "pause-dns") == 0;
	dns_server_set_paused(x->ctx->dns, x->dns_paused);
	as_warn("test: DNS workers %s", x->dns_paused ? "paused" : "resumed");
	return json_pack("{s:b}", "dns_paused", x->dns_paused);
}

/* ---- life cycle -------------------------------------------------------------- */

/* Adds the anycast addresses to the configured listeners unless an IPv6
 * wildcard on the same port already covers them. */
int agent_anycast_listeners(void *self, const struct agent_config *c,
			    struct sockaddr_storage **out, size_t *nout)
{
	struct agent_anycast *x = self;
	size_t n = c->dns.n_listen;

	*out = NULL;
	*nout = 0;
	if (!x)
		return AS_ESTATE;
	struct sockaddr_storage *l = calloc(n + x->n, sizeof(*l));
	if (!l)
		return AS_ENOMEM;
	memcpy(l, c->dns.listen_addrs, n * sizeof(*l));
	for (size_t i = 0; i < x->n; i++) {
		bool covered = false;
		for (size_t j = 0; j < c->dns.n_listen && !covered; j++) {
			const struct sockaddr_in6 *s = (const void *)&c->dns.listen_addrs[j];
			if (s->sin6_family != AF_INET6 || ntohs(s->sin6_port) != x->port)
				continue;
			covered = IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr) ||
				  memcmp(&s->sin6_addr, &x->addr[i], 16) == 0;
		}
		if (covered)
			continue;
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&l[n++];
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(x->port);
		s->sin6_addr = x->addr[i];
	}
	*out = l;
	*nout = n;
	return AS_OK;
}

/* Copies what the component keeps of the config. */
static void take_config(struct agent_anycast *x, const struct agent_config *c)
{
	struct in6_addr all[ROUTE_ANYCAST_MAX];
	size_t n_all = AS_MIN(c->anycast.n_addresses, (size_t)ROUTE_ANYCAST_MAX);

	x->enabled = n_all > 0;
	x->n = n_all;
	x->base = 0;
	x->n_others = 0;
	x->announce_one = x->enabled && c->anycast.announce &&
			  strcmp(c->anycast.announce, "one") == 0;
	for (size_t i = 0; i < n_all; i++)
		all[i] = ((const struct sockaddr_in6 *)&c->anycast.addrs[i])->sin6_addr;
	if (x->announce_one) {
		x->base = route_anycast_pick(c->node.name, all, n_all);
		x->n = 1;
		for (size_t i = 0; i < n_all; i++)
			if (i != x->base)
				inet_ntop(AF_INET6, &all[i], x->others[x->n_others++],
					  INET6_ADDRSTRLEN);
	}
	x->port = (uint16_t)c->anycast.port;
	x->interval_ms = c->anycast.check_interval_ms;
	x->linger_ms = c->drain.linger_ms;
	x->wait_for_gossip = c->anycast.wait_for_gossip;
	x->test_commands = c->control.test_commands;
	x->bird_poll_ms = c->bird.poll_interval_ms;
	x->fast_withdraw = c->bird.fast_withdraw;
	snprintf(x->ifname, sizeof(x->ifname), "%s", c->anycast.interface);
	snprintf(x->bird_socket, sizeof(x->bird_socket), "%s",
		 c->bird.socket ? c->bird.socket : "");
	snprintf(x->bird_protocol, sizeof(x->bird_protocol), "%s", c->bird.protocol);
	snprintf(x->bird_export, sizeof(x->bird_export), "%s",
		 c->bird.export_protocol ? c->bird.export_protocol : "");
	for (size_t i = 0; i < x->n; i++) {
		x->addr[i] = all[x->base + i];
		inet_ntop(AF_INET6, &x->addr[i], x->text[i], sizeof(x->text[i]));
		x->exported[i] = -1;
		x->ectx[i] = (struct export_ctx){ x, i };
	}
}

/* The TUN with its addresses and the gate, or (no anycast, metrics on)
 * the bare gate behind /healthz. */
static int make_gate(struct agent_anycast *x, const struct agent_config *c)
{
	struct route_gate_opts go = {
		.rise = c->anycast.rise,
		.fall = c->anycast.fall,
		.single_node = !x->wait_for_gossip,
	};
	int rc;

	if (x->enabled) {
		struct route_anycast_opts o = {
			.ifname = x->ifname,
			.addresses = (const char *const *)c->anycast.addresses + x->base,
			.naddresses = x->n,
			.gate = go,
		};
		rc = route_anycast_new(&o, as_now_ms(), &x->route);
		if (rc) {
			as_err("anycast: cannot create %s with %s%s: %s%s", x->ifname,
			       x->text[0], x->n > 1 ? " ..." : "", as_strerror(rc),
			       rc == AS_EEXIST ? " (another agent owns it?)" :
			       rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
			return rc;
		}
		as_notice("anycast: %s on %s, withdrawn until the DNS self-check passes",
			  x->text[0], x->ifname);
		if (x->announce_one)
			as_notice("anycast: announce one: this node's name picks %s "
				  "of %zu addresses; other nodes announce the rest",
				  x->text[0], x->n_others + 1);
	} else if (c->metrics.listen && *c->metrics.listen) {
		rc = route_gate_new(&go, as_now_ms(), &x->gate);
		if (rc)
			return rc;
	}
	return AS_OK;
}

/* Runs before the DNS server binds: the TUN and its addresses must exist
 * for the listeners on them (agent_anycast_listeners). */
static int anycast_start(struct agent_ctx *ctx, void **self)
{
	const struct agent_config *c = ctx->cfg;
	struct agent_anycast *x = calloc(1, sizeof(*x));
	int rc;

	*self = x;
	if (!x)
		return AS_ENOMEM;
	x->ctx = ctx;
	x->switch_state = -1;
	x->reason = ROUTE_REASON_STARTING;
	x->since_ms = as_now_ms();
	take_config(x, c);
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = as_now_ns();
	as_rng_seed(&x->rng, seed);
	rc = dns_probe_query_build(c->dns.zone, 0, x->query, sizeof(x->query),
				   &x->qlen);
	if (rc)
		return rc;
	if ((rc = make_gate(x, c)))
		return rc;
	/* Gossip may have joined during its own start, before us. */
	if (ctx->joined) {
		struct route_decision d;
		x->joined = true;
		if (x->route)
			route_anycast_set_joined(x->route, true, as_now_ms());
		else if (x->gate)
			route_gate_set_joined(x->gate, true, as_now_ms(), &d);
	}
	return AS_OK;
}

/* The self-check's sockets: every anycast address, or the first DNS
 * listener behind the bare gate. */
static int open_probes(struct agent_anycast *x)
{
	dns_server_t *dns = x->ctx->dns;
	int rc;

	if (x->route) {
		for (size_t i = 0; i < x->n; i++) {
			struct sockaddr_in6 d = { .sin6_family = AF_INET6,
						  .sin6_port = htons(x->port),
						  .sin6_addr = x->addr[i] };
			struct sockaddr_storage ss = { 0 };
			memcpy(&ss, &d, sizeof(d));
			if ((rc = probe_open(x, &ss)))
				return rc;
		}
	} else if (x->gate && dns_server_listener_count(dns) > 0) {
		struct sockaddr_storage ss = *dns_server_listener(dns, 0);
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s = (void *)&ss;
			if (IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr))
				s->sin6_addr = in6addr_loopback;
		} else {
			struct sockaddr_in *s = (void *)&ss;
			if (s->sin_addr.s_addr == htonl(INADDR_ANY))
				s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		}
		if ((rc = probe_open(x, &ss)))
			return rc;
	}
	return AS_OK;
}

/* Once the DNS server runs: the self-check and BIRD. */
static int anycast_serve(void *self)
{
	struct agent_anycast *x = self;
	uv_loop_t *loop = x->ctx->loop;
	int rc;

	if ((rc = open_probes(x)))
		return rc;
	if (x->n_probes) {
		uv_timer_init(loop, &x->check_timer);
		x->check_timer.data = x;
		x->check_timer_open = true;
		uv_timer_start(&x->check_timer, on_check, 0, x->interval_ms);
	}
	if (x->enabled && x->bird_socket[0]) {
		struct route_birdctl_opts bo = {
			.path = x->bird_socket,
			.timeout_ms = 2000,
			.backoff_min_ms = 100,
			.backoff_max_ms = 2000,
			.state_cb = on_bird_state,
			.state_arg = x,
		};
		rc = route_birdctl_new(loop, &bo, &x->bird);
		if (rc) {
			as_err("anycast: BIRD client: %s", as_strerror(rc));
			return rc;
		}
		x->bird_since_ms = as_now_ms();
		uv_timer_init(loop, &x->bird_timer);
		x->bird_timer.data = x;
		x->bird_timer_open = true;
		uv_timer_start(&x->bird_timer, on_bird_timer, x->bird_poll_ms,
			       x->bird_poll_ms);
	}
	publish(x);
	return AS_OK;
}

static void on_linger(uv_timer_t *t)
{
	struct agent_anycast *x = t->data;
	as_notice("anycast: drain linger of %llu ms over, exiting",
		  (unsigned long long)x->linger_ms);
	x->ctx->emit(x->ctx, AGENT_EV_STOP, NULL);
}

bool agent_anycast_on_signal(void *self, int signum)
{
	struct agent_anycast *x = self;

	if (!x || !x->enabled || !x->route || x->closing)
		return false;
	if (x->exiting) {
		as_notice("second signal while draining: exiting now");
		return false;
	}
	if (signum != SIGTERM)
		return false;
	as_notice("SIGTERM: draining (route withdrawn), answering for %llu ms "
		  "more; send SIGTERM again to exit at once",
		  (unsigned long long)x->linger_ms);
	x->exiting = true;
	bool on = true;
	x->ctx->emit(x->ctx, AGENT_EV_DRAIN, &on);
	set_draining(x, true);
	uv_timer_init(x->ctx->loop, &x->linger_timer);
	x->linger_timer.data = x;
	x->linger_open = true;
	uv_timer_start(&x->linger_timer, on_linger, x->linger_ms, 0);
	return true;
}

static void anycast_notify(void *self, enum agent_event ev)
{
	if (self && ev == AGENT_EV_JOINED)
		set_joined(self, true);
}

static void nop_close(uv_handle_t *h)
{
	(void)h;
}

static void anycast_stop(void *self)
{
	struct agent_anycast *x = self;

	if (!x || x->closing)
		return;
	x->closing = true;
	if (x->check_timer_open)
		uv_close((uv_handle_t *)&x->check_timer, nop_close);
	if (x->linger_open)
		uv_close((uv_handle_t *)&x->linger_timer, nop_close);
	if (x->bird_timer_open)
		uv_close((uv_handle_t *)&x->bird_timer, nop_close);
	for (size_t i = 0; i < x->n_probes; i++)
		if (x->probes[i].open)
			uv_close((uv_handle_t *)&x->probes[i].udp, nop_close);
	if (x->bird) {
		route_birdctl_free(x->bird);
		x->bird = NULL;
	}
}

/* After the DNS server is gone: closing the TUN withdraws the route (and
 * removes the addresses). */
static void anycast_free(void *self)
{
	struct agent_anycast *x = self;

	if (!x)
		return;
	if (x->route) {
		route_anycast_stop(x->route, as_now_ms());
		route_anycast_free(x->route);
	}
	route_gate_free(x->gate);
	free(x);
}

static void anycast_metrics(FILE *f, const struct agent_snapshot *s)
{
	agent_anycast_metrics(f, &s->anycast);
}

static const struct agent_command anycast_commands[] = {
	{ "routes", cmd_routes, "anycast addresses (announced/withdrawn, why, since), health gate, BIRD sessions", NULL },
	{ "drain", cmd_drain, "withdraw the anycast route, keep answering; give up Kubernetes leadership", NULL },
	{ "undrain", cmd_undrain, "announce again (if the health gate agrees); stand for leadership again", NULL },
	{ "test", cmd_test, "test only (control.test_commands): pause-dns|resume-dns", NULL },
};

const struct agent_component_ops agent_anycast_ops = {
	.name = "anycast",
	.status_key = "anycast",
	.start = anycast_start,
	.serve = anycast_serve,
	.notify = anycast_notify,
	.stop = anycast_stop,
	.free = anycast_free,
	.snapshot = anycast_snapshot,
	.status = anycast_status,
	.metrics = anycast_metrics,
	.commands = anycast_commands,
	.n_commands = AS_ARRAY_SIZE(anycast_commands),
};
