/*
 * agent/metrics.c - the metrics component (component.h):
 * Prometheus metrics and /healthz over HTTP (text exposition format
 * 0.0.4).
 *
 * libmicrohttpd runs its own thread; it reads the DNS counters through
 * dns_server_stats() (relaxed atomic reads) and everything else from the
 * agent snapshot (copied under a mutex by the loop thread), so it never
 * touches loop-owned state. Rendering is a pure function of those two
 * structs, tested without HTTP; each component renders its own part from
 * the snapshot (its metrics hook, through ctx->metrics).
 *
 * Hostile clients. /healthz is the readiness probe, so a client must not
 * be able to hold the listener. The limits, all in force at once:
 *  - libmicrohttpd's idle timeout (HTTP_IDLE_S).
 *  - a request deadline: a request must be complete and answered within
 *    HTTP_DEADLINE_MS of the connection's start (or of the previous
 *    answer on it), however slowly it trickles; a timer on the loop
 *    shuts such connections down (libmicrohttpd's own timeout counts
 *    idleness only).
 *  - per address and overall, a soft limit kept by eviction and a hard
 *    one above it: an arrival that makes more than HTTP_PER_IP open
 *    connections from its address, or more than 3/4 of the limit
 *    overall, shuts down the oldest other connection there (by the start
 *    of its current request) that is not being answered (whose request
 *    has not fully arrived, or an idle keep-alive one) and is at least
 *    HTTP_EVICT_AGE_MS old (a burst of arrivals does not evict a probe
 *    before its request could arrive), or of any age once the address
 *    is at its hard limit; an arrival past
 *    twice HTTP_PER_IP open ones from its address or past the limit,
 *    when nothing can be evicted, or past half again the limit in
 *    descriptors held (evicted connections hold theirs until
 *    libmicrohttpd has closed them, within milliseconds), is closed at
 *    once. libmicrohttpd gets looser limits as a backstop
 *    (MHD_OPTION_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT).
 * So a slow client far away holds at most 8 of the 64 connections and a
 * probe from another address always finds a slot; a probe that shares
 * its address with the attacker (another process on the node, the same
 * NAT) still gets in, and once its request is in it cannot be evicted.
 * Before that (between accept and the end of its request headers, well
 * under a millisecond on a node) a burst of 16 or more connections from
 * the same address evicts it: such an attacker can make single probes
 * fail, which the readiness probe's failureThreshold of 2 absorbs unless
 * the bursts never stop. The choice is
 * agent_http_pick_victim(), a pure function.
 *
 * The daemon accepts connections itself (a uv_poll on its own listening
 * socket, handed over with MHD_add_connection) because libmicrohttpd
 * 0.9.75 (Debian 12) retries a failing accept() at once: at the open-file
 * limit it spun at ~40 % CPU and logged ~150,000 lines a second, and no
 * option changes that. Here EMFILE/ENFILE pause accepting for
 * HTTP_ACCEPT_PAUSE_MS (pending clients wait in the backlog), and every
 * libmicrohttpd message goes through a rate-limited logger. With a low
 * open-file limit the connection limit shrinks, so HTTP cannot take the
 * descriptors DNS over TCP and the control socket need.
 */
#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/metrics.h"
#include "agent/report.h"
#include "lib/as.h"

#define HTTP_MAX_CONNS 64	/* open connections (hard limit) */
/* Descriptors held, counting evicted connections not yet closed: the
 * table's size, half again the limit. */
#define HTTP_SLOTS (HTTP_MAX_CONNS + HTTP_MAX_CONNS / 2)
#define HTTP_PER_IP 8		/* of them kept from one address (soft) */
#define HTTP_PENDING_MS 500	/* handed over but never started: dropped */
#define HTTP_EVICT_AGE_MS 50	/* a request this young is not evicted */
#define HTTP_IDLE_S 3		/* libmicrohttpd: idle connection timeout */
#define HTTP_DEADLINE_MS 5000	/* a request is answered within this */
#define HTTP_SWEEP_MS 500	/* deadline check period */
#define HTTP_ACCEPT_PAUSE_MS 1000 /* after EMFILE and the like */
#define HTTP_ACCEPT_BATCH 64	/* accepts per wakeup */

struct agent_metrics {
	struct MHD_Daemon *mhd;
	struct agent_ctx *ctx;
	int lfd;			/* listening socket, ours */
	uv_poll_t poll;
	uv_timer_t sweep, pause;
	bool closed;
	unsigned max_conns, per_ip;	/* hard: refused above */
	unsigned max_held;		/* descriptors, closing ones too */
	struct agent_http_limits keep;	/* soft: eviction above */
	/* Connections libmicrohttpd has (its notify callbacks, from its
	 * thread or the one adding), the sweep timer and eviction. */
	pthread_mutex_t lock;
	struct agent_http_conn conns[HTTP_SLOTS];
	/* Counters for /metrics, written by both threads. */
	_Atomic uint64_t accepted, refused, deadline, evicted, accept_errors;
	_Atomic uint64_t active;
	struct as_ratelimit mhd_log, accept_log;
};

static void render_dns(FILE *f, const struct dns_stats *st);
static void render_dns_latency(FILE *f, const struct dns_stats *st);
static void render_forward(FILE *f, const struct dns_stats *st,
			   const struct agent_snapshot *s);
static void render_load(FILE *f, const struct agent_load_sample *l);
static void render_daemon(FILE *f, const struct agent_snapshot *s);
static void render_http(FILE *f, const struct agent_http_snap *h);

char *agent_metrics_render(const struct agent_snapshot *s,
			   const struct dns_stats *st, struct agent_ctx *ctx,
			   size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;

	agent_metric_head(f, "anysteer_build_info", "Version and node name.", "gauge");
	fprintf(f, "anysteer_build_info{version=\"%s\",node=\"%s\"} 1\n",
		PACKAGE_VERSION, s->node);
	agent_metric_head(f, "anysteer_uptime_seconds", "Seconds since the daemon started.", "gauge");
	fprintf(f, "anysteer_uptime_seconds %llu\n", (unsigned long long)s->uptime_s);
	agent_metric_head(f, "anysteer_dns_udp_io_info", "The UDP path the DNS workers use.", "gauge");
	fprintf(f, "anysteer_dns_udp_io_info{mode=\"%s\"} 1\n", s->udp_io ? s->udp_io : "none");
	render_dns(f, st);
	render_dns_latency(f, st);
	if (s->n_upstreams)
		render_forward(f, st, s);
	render_load(f, &s->load);
	render_daemon(f, s);
	if (s->http.enabled)
		render_http(f, &s->http);
	if (ctx)
		ctx->metrics(ctx, f, s);	/* every component's part */
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* The DNS workers' counters. */
static void render_dns(FILE *f, const struct dns_stats *st)
{
	agent_metric_head(f, "anysteer_dns_queries_total", "DNS messages received, by transport.", "counter");
	fprintf(f, "anysteer_dns_queries_total{transport=\"udp\"} %llu\n",
		(unsigned long long)st->udp_queries);
	fprintf(f, "anysteer_dns_queries_total{transport=\"tcp\"} %llu\n",
		(unsigned long long)st->tcp_queries);
	agent_metric_head(f, "anysteer_dns_self_check_queries_total", "The routing self-check's queries (not in the client counters).", "counter");
	fprintf(f, "anysteer_dns_self_check_queries_total %llu\n",
		(unsigned long long)st->self_checks);
	agent_metric_head(f, "anysteer_dns_queries_by_qtype_total", "DNS queries by query type.", "counter");
	for (unsigned i = 0; i < DNS_QT__COUNT; i++)
		fprintf(f, "anysteer_dns_queries_by_qtype_total{qtype=\"%s\"} %llu\n",
			dns_qtype_bucket_name(i), (unsigned long long)st->by_qtype[i]);
	agent_metric_head(f, "anysteer_dns_responses_total", "DNS responses sent, by RCODE.", "counter");
	for (unsigned i = 0; i < AS_ARRAY_SIZE(st->by_rcode); i++)
		if (i <= 5 || st->by_rcode[i])
			fprintf(f, "anysteer_dns_responses_total{rcode=\"%s\"} %llu\n",
				agent_rcode_name(i), (unsigned long long)st->by_rcode[i]);
	agent_metric_head(f, "anysteer_dns_malformed_total", "Malformed DNS messages, by reason.", "counter");
	for (unsigned i = 1; i < DNS_MAL__COUNT; i++)
		fprintf(f, "anysteer_dns_malformed_total{reason=\"%s\"} %llu\n",
			dns_malformed_name(i), (unsigned long long)st->malformed[i]);
	agent_metric_head(f, "anysteer_dns_dropped_total", "DNS messages dropped without a response.", "counter");
	fprintf(f, "anysteer_dns_dropped_total %llu\n", (unsigned long long)st->dropped);
	agent_metric_head(f, "anysteer_dns_truncated_total", "UDP responses sent with TC=1.", "counter");
	fprintf(f, "anysteer_dns_truncated_total %llu\n", (unsigned long long)st->truncated);
	agent_metric_head(f, "anysteer_dns_tcp_connections_total", "TCP connections, by outcome.", "counter");
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"accepted\"} %llu\n",
		(unsigned long long)st->tcp_accepted);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"rejected\"} %llu\n",
		(unsigned long long)st->tcp_rejected);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"idle_timeout\"} %llu\n",
		(unsigned long long)st->tcp_timeouts);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"message_timeout\"} %llu\n",
		(unsigned long long)st->tcp_msg_timeouts);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"evicted\"} %llu\n",
		(unsigned long long)st->tcp_evicted);
	agent_metric_head(f, "anysteer_dns_rrl_dropped_total",
			  "UDP replies not sent by response rate limiting.",
			  "counter");
	fprintf(f, "anysteer_dns_rrl_dropped_total %llu\n",
		(unsigned long long)st->rrl_dropped);
	agent_metric_head(f, "anysteer_dns_answers_by_objective_total",
			  "Answers for a service, by its intent's objective "
			  "(docs/intents.md).", "counter");
	for (unsigned i = 0; i < DNS_OBJ__COUNT; i++)
		fprintf(f, "anysteer_dns_answers_by_objective_total{objective=\"%s\"} %llu\n",
			dns_objective_name(i), (unsigned long long)st->by_objective[i]);
	agent_metric_head(f, "anysteer_dns_spill_overs_total",
			  "Locality answers whose first address is outside "
			  "the zone they were planned for.", "counter");
	fprintf(f, "anysteer_dns_spill_overs_total %llu\n",
		(unsigned long long)st->spill_overs);
	agent_metric_head(f, "anysteer_dns_ecs_queries_total",
			  "Answered queries with an EDNS Client Subnet option.",
			  "counter");
	fprintf(f, "anysteer_dns_ecs_queries_total %llu\n",
		(unsigned long long)st->ecs_queries);
	agent_metric_head(f, "anysteer_dns_rrl_slipped_total",
			  "UDP replies sent truncated (TC=1, no records) by "
			  "response rate limiting instead of dropped.",
			  "counter");
	fprintf(f, "anysteer_dns_rrl_slipped_total %llu\n",
		(unsigned long long)st->rrl_slipped);
	agent_metric_head(f, "anysteer_dns_tcp_accept_errors_total",
		     "Failed accept() calls on DNS TCP listeners (e.g. at the open-file limit).", "counter");
	fprintf(f, "anysteer_dns_tcp_accept_errors_total %llu\n",
		(unsigned long long)st->tcp_accept_errors);
	agent_metric_head(f, "anysteer_dns_tcp_active_connections", "Open TCP connections.", "gauge");
	fprintf(f, "anysteer_dns_tcp_active_connections %llu\n", (unsigned long long)st->tcp_active);
}

/* The forwarder (dns.forward), when it is on. */
static void render_forward(FILE *f, const struct dns_stats *st,
			   const struct agent_snapshot *s)
{
	const struct dns_fwd_stats *w = &st->fwd;
	char buf[AS_SOCKADDR_STRLEN];

	agent_metric_head(f, "anysteer_dns_forward_queries_total",
		     "Queries for names outside the zone, by outcome of the client check.", "counter");
	fprintf(f, "anysteer_dns_forward_queries_total{client=\"allowed\"} %llu\n",
		(unsigned long long)w->queries);
	fprintf(f, "anysteer_dns_forward_queries_total{client=\"refused\"} %llu\n",
		(unsigned long long)w->refused);
	agent_metric_head(f, "anysteer_dns_forward_cache_total", "Forwarder cache lookups.", "counter");
	fprintf(f, "anysteer_dns_forward_cache_total{result=\"hit\"} %llu\n",
		(unsigned long long)w->cache_hits);
	fprintf(f, "anysteer_dns_forward_cache_total{result=\"miss\"} %llu\n",
		(unsigned long long)w->cache_misses);
	agent_metric_head(f, "anysteer_dns_forward_cache_entries", "Answers in the forwarder cache.", "gauge");
	fprintf(f, "anysteer_dns_forward_cache_entries %llu\n", (unsigned long long)w->cache_entries);
	agent_metric_head(f, "anysteer_dns_forward_cache_bytes", "Memory held by the forwarder cache.", "gauge");
	fprintf(f, "anysteer_dns_forward_cache_bytes %llu\n", (unsigned long long)w->cache_bytes);
	agent_metric_head(f, "anysteer_dns_forward_answers_total",
		     "Replies to forwarded queries not from an upstream answer.", "counter");
	fprintf(f, "anysteer_dns_forward_answers_total{kind=\"stale\"} %llu\n",
		(unsigned long long)w->stale_answers);
	fprintf(f, "anysteer_dns_forward_answers_total{kind=\"servfail\"} %llu\n",
		(unsigned long long)w->servfail);
	agent_metric_head(f, "anysteer_dns_forward_dropped_total",
		     "Forwarded queries dropped: too many in flight.", "counter");
	fprintf(f, "anysteer_dns_forward_dropped_total %llu\n", (unsigned long long)w->overflow);
	agent_metric_head(f, "anysteer_dns_forward_tcp_retries_total",
		     "Upstream answers with TC asked again over TCP.", "counter");
	fprintf(f, "anysteer_dns_forward_tcp_retries_total %llu\n", (unsigned long long)w->tcp_retries);
	agent_metric_head(f, "anysteer_dns_forward_bad_responses_total",
		     "Upstream datagrams dropped (spoofed, stray, malformed), by reason.", "counter");
	for (unsigned i = 0; i < DNS_FWD_BAD_REASONS; i++)
		fprintf(f, "anysteer_dns_forward_bad_responses_total{reason=\"%s\"} %llu\n",
			dns_fwd_bad_reason_name(i), (unsigned long long)w->bad_responses[i]);
	agent_metric_head(f, "anysteer_dns_forward_upstream_queries_total", "Queries sent to each upstream.", "counter");
	for (size_t i = 0; i < s->n_upstreams; i++)
		fprintf(f, "anysteer_dns_forward_upstream_queries_total{upstream=\"%s\"} %llu\n",
			as_format_sockaddr(&s->upstreams[i].addr, buf, sizeof(buf)),
			(unsigned long long)s->upstreams[i].queries);
	agent_metric_head(f, "anysteer_dns_forward_upstream_timeouts_total",
		     "Upstream attempts that timed out or failed.", "counter");
	for (size_t i = 0; i < s->n_upstreams; i++)
		fprintf(f, "anysteer_dns_forward_upstream_timeouts_total{upstream=\"%s\"} %llu\n",
			as_format_sockaddr(&s->upstreams[i].addr, buf, sizeof(buf)),
			(unsigned long long)s->upstreams[i].timeouts);
	agent_metric_head(f, "anysteer_dns_forward_upstream_srtt_seconds",
		     "Smoothed round-trip time of each upstream (best worker).", "gauge");
	for (size_t i = 0; i < s->n_upstreams; i++)
		fprintf(f, "anysteer_dns_forward_upstream_srtt_seconds{upstream=\"%s\"} %.6f\n",
			as_format_sockaddr(&s->upstreams[i].addr, buf, sizeof(buf)),
			(double)s->upstreams[i].srtt_us / 1e6);
}

static void render_dns_latency(FILE *f, const struct dns_stats *st)
{
	agent_metric_head(f, "anysteer_dns_answer_duration_seconds",
		     "Time from receiving a query to having its answer ready.", "histogram");
	uint64_t cum = 0;
	for (unsigned i = 0; i < DNS_LAT_BUCKETS; i++) {
		cum += st->latency[i];
		if (i + 1 < DNS_LAT_BUCKETS)
			fprintf(f, "anysteer_dns_answer_duration_seconds_bucket{le=\"%g\"} %llu\n",
				(double)dns_latency_bounds_ns[i] / 1e9, (unsigned long long)cum);
		else
			fprintf(f, "anysteer_dns_answer_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cum);
	}
	fprintf(f, "anysteer_dns_answer_duration_seconds_sum %.9f\n",
		(double)st->latency_sum_ns / 1e9);
	fprintf(f, "anysteer_dns_answer_duration_seconds_count %llu\n", (unsigned long long)cum);
}

/* The local load sample. */
static void render_load(FILE *f, const struct agent_load_sample *l)
{
	agent_metric_head(f, "anysteer_load_cpu_utilisation", "EWMA of CPU utilisation, 0..1.", "gauge");
	fprintf(f, "anysteer_load_cpu_utilisation %.6f\n", l->cpu_util);
	agent_metric_head(f, "anysteer_load_loadavg1", "One-minute load average.", "gauge");
	fprintf(f, "anysteer_load_loadavg1 %.6f\n", l->loadavg1);
	agent_metric_head(f, "anysteer_load_cpus", "Online CPUs.", "gauge");
	fprintf(f, "anysteer_load_cpus %u\n", l->ncpu);
	if (l->have_psi) {
		agent_metric_head(f, "anysteer_load_psi_cpu_some_avg10",
			     "CPU pressure, some avg10 (percent).", "gauge");
		fprintf(f, "anysteer_load_psi_cpu_some_avg10 %.6f\n", l->psi_some_avg10);
	}
	agent_metric_head(f, "anysteer_load_signal", "The configured load signal, 0..1.", "gauge");
	fprintf(f, "anysteer_load_signal %.6f\n", l->signal);
	agent_metric_head(f, "anysteer_load_factor", "This node's load factor applied to its endpoints, 0..1.", "gauge");
	fprintf(f, "anysteer_load_factor %.6f\n", l->factor);
}

/* Reloads, view builds, the catalog. */
static void render_daemon(FILE *f, const struct agent_snapshot *s)
{
	agent_metric_head(f, "anysteer_config_reloads_total", "Configuration reloads, by result.", "counter");
	fprintf(f, "anysteer_config_reloads_total{result=\"ok\"} %llu\n",
		(unsigned long long)s->reloads_ok);
	fprintf(f, "anysteer_config_reloads_total{result=\"failed\"} %llu\n",
		(unsigned long long)s->reloads_failed);
	agent_metric_head(f, "anysteer_view_builds_total", "Answer views built.", "counter");
	fprintf(f, "anysteer_view_builds_total %llu\n", (unsigned long long)s->view_builds);
	agent_metric_head(f, "anysteer_catalog_services", "Services in the catalog.", "gauge");
	fprintf(f, "anysteer_catalog_services %zu\n", s->n_services);
	agent_metric_head(f, "anysteer_catalog_endpoints", "Endpoints in the catalog.", "gauge");
	fprintf(f, "anysteer_catalog_endpoints %zu\n", s->n_endpoints);
}

/* The metrics listener's own counters. */
static void render_http(FILE *f, const struct agent_http_snap *h)
{
		agent_metric_head(f, "anysteer_http_connections_total",
				  "Metrics/healthz HTTP connections: accepted, refused "
				  "over the limits, closed at the request deadline or "
				  "to make room.",
				  "counter");
		fprintf(f, "anysteer_http_connections_total{result=\"accepted\"} %llu\n",
			(unsigned long long)h->accepted);
		fprintf(f, "anysteer_http_connections_total{result=\"refused\"} %llu\n",
			(unsigned long long)h->refused);
		fprintf(f, "anysteer_http_connections_total{result=\"deadline\"} %llu\n",
			(unsigned long long)h->deadline);
		fprintf(f, "anysteer_http_connections_total{result=\"evicted\"} %llu\n",
			(unsigned long long)h->evicted);
		agent_metric_head(f, "anysteer_http_accept_errors_total",
				  "Failed accepts on the metrics listener (e.g. the "
				  "open-file limit); each pauses accepting for 1 s.",
				  "counter");
		fprintf(f, "anysteer_http_accept_errors_total %llu\n",
			(unsigned long long)h->accept_errors);
		agent_metric_head(f, "anysteer_http_active_connections",
				  "Open metrics/healthz HTTP connections.", "gauge");
		fprintf(f, "anysteer_http_active_connections %llu\n",
			(unsigned long long)h->active);
		agent_metric_head(f, "anysteer_http_max_connections",
				  "The metrics listener's connection limit.", "gauge");
		fprintf(f, "anysteer_http_max_connections %u\n", h->max_connections);
}

/* ---- connection limits ----------------------------------------------------- */

static bool same_addr(const struct agent_http_conn *a,
		      const struct agent_http_conn *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

int agent_http_pick_victim(const struct agent_http_conn *c, size_t n,
			   size_t nu, const struct agent_http_limits *l,
			   uint64_t now_ms)
{
	size_t total = 0, same = 0;
	int victim = -1;

	for (size_t i = 0; i < n; i++) {
		if (!c[i].used || c[i].closing)
			continue;
		total++;
		same += same_addr(&c[i], &c[nu]);
	}
	bool by_addr = l->keep_per_ip && same > l->keep_per_ip;
	if (!by_addr && total <= l->keep_total)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i == nu || !c[i].used || !c[i].started || c[i].closing ||
		    c[i].answering || now_ms - c[i].since_ms < l->min_age_ms ||
		    (by_addr && !same_addr(&c[i], &c[nu])))
			continue;
		if (victim < 0 || c[i].since_ms < c[(size_t)victim].since_ms)
			victim = (int)i;
	}
	return victim;
}

/* Under m->lock. shutdown() makes libmicrohttpd see the end of the
 * stream and close the connection itself; the descriptor is still its
 * connection's until the CLOSED notification, which takes the same lock
 * (only started slots are ever shut down). */
static void conn_shutdown(struct agent_http_conn *c)
{
	c->closing = true;
	shutdown(c->fd, SHUT_RDWR);
}

static void sweep_locked(struct agent_metrics *m, uint64_t now)
{
	for (size_t i = 0; i < HTTP_SLOTS; i++) {
		struct agent_http_conn *c = &m->conns[i];
		if (!c->used || c->closing)
			continue;
		if (!c->started) {
			/* libmicrohttpd refused it without a word. */
			if (now - c->since_ms > HTTP_PENDING_MS)
				c->used = false;
		} else if (now - c->since_ms > HTTP_DEADLINE_MS) {
			conn_shutdown(c);
			atomic_fetch_add(&m->deadline, 1);
		}
	}
}

static void on_sweep(uv_timer_t *t)
{
	struct agent_metrics *m = t->data;
	pthread_mutex_lock(&m->lock);
	sweep_locked(m, as_now_ms());
	pthread_mutex_unlock(&m->lock);
}

static void set_addr(struct agent_http_conn *c, const struct sockaddr *sa)
{
	c->family = sa->sa_family;
	if (sa->sa_family == AF_INET6)
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else if (sa->sa_family == AF_INET)
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
}

/* A new connection (loop thread): true to hand it to libmicrohttpd,
 * false to close it. Eviction runs first, so an arrival over the soft
 * limits makes room (for itself, or for the next one while the evicted
 * connection still holds its descriptor). */
static bool admit(struct agent_metrics *m, int fd, const struct sockaddr *sa)
{
	struct agent_http_conn probe = { 0 };
	size_t held = 0, open = 0, same = 0, nu = HTTP_SLOTS;
	uint64_t now = as_now_ms();
	bool ok = false;

	set_addr(&probe, sa);
	pthread_mutex_lock(&m->lock);
	sweep_locked(m, now);
	for (size_t i = 0; i < HTTP_SLOTS; i++) {
		struct agent_http_conn *c = &m->conns[i];
		if (c->used && !c->started && c->fd == fd)
			c->used = false; /* that descriptor was closed since */
		if (!c->used) {
			if (nu == HTTP_SLOTS)
				nu = i;
			continue;
		}
		held++;		/* closing ones still hold a descriptor */
		if (c->closing)
			continue;
		open++;
		same += c->family == probe.family &&
			memcmp(c->addr, probe.addr, 16) == 0;
	}
	if (nu < HTTP_SLOTS && held < m->max_held) {
		probe.used = true;
		probe.fd = fd;
		probe.since_ms = now;
		m->conns[nu] = probe;
		int v = agent_http_pick_victim(m->conns, HTTP_SLOTS, nu,
					       &m->keep, now);
		if (v < 0 && (same >= m->per_ip || open >= m->max_conns)) {
			/* At a hard limit with only young ones: the oldest
			 * of them goes rather than the newcomer. */
			struct agent_http_limits hard = { m->max_conns - 1,
							  m->per_ip - 1, 0 };
			v = agent_http_pick_victim(m->conns, HTTP_SLOTS, nu,
						   &hard, now);
		}
		if (v >= 0) {
			struct agent_http_conn *c = &m->conns[v];
			conn_shutdown(c);
			atomic_fetch_add(&m->evicted, 1);
			open--;
			same -= c->family == probe.family &&
				memcmp(c->addr, probe.addr, 16) == 0;
		}
		ok = open < m->max_conns && same < m->per_ip;
		if (!ok)
			m->conns[nu].used = false;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

/* libmicrohttpd refused fd (and closed it) before starting it. */
static void forget(struct agent_metrics *m, int fd)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < HTTP_SLOTS; i++)
		if (m->conns[i].used && !m->conns[i].started &&
		    m->conns[i].fd == fd)
			m->conns[i].used = false;
	pthread_mutex_unlock(&m->lock);
}

static void on_connection_notify(void *cls, struct MHD_Connection *conn,
				 void **socket_context,
				 enum MHD_ConnectionNotificationCode code)
{
	struct agent_metrics *m = cls;

	pthread_mutex_lock(&m->lock);
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct agent_http_conn *c = *socket_context;
		if (c) {
			c->used = false;
			atomic_fetch_sub(&m->active, 1);
		}
		*socket_context = NULL;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	const union MHD_ConnectionInfo *fd =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	for (size_t i = 0; fd && i < HTTP_SLOTS; i++) {
		struct agent_http_conn *c = &m->conns[i];
		if (c->used && !c->started && c->fd == fd->connect_fd) {
			c->started = true;
			*socket_context = c;
			atomic_fetch_add(&m->active, 1);
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* A request was answered: the deadline starts again for the next one. */
static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct agent_metrics *m = cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)con_cls;
	(void)toe;
	pthread_mutex_lock(&m->lock);
	if (ci && ci->socket_context) {
		struct agent_http_conn *c = ci->socket_context;
		if (c->used && !c->closing)
			c->since_ms = as_now_ms();
		c->answering = false;
	}
	pthread_mutex_unlock(&m->lock);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct agent_metrics *m = cls;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	as_log_ratelimited(&m->mhd_log, AS_LOG_WARN, "metrics: libmicrohttpd: %s", msg);
}

/* ---- requests ------------------------------------------------------------------ */

static void http_snapshot(struct agent_metrics *m, struct agent_http_snap *h)
{
	h->enabled = true;
	h->max_connections = m->max_conns;
	h->active = atomic_load(&m->active);
	h->accepted = atomic_load(&m->accepted);
	h->refused = atomic_load(&m->refused);
	h->deadline = atomic_load(&m->deadline);
	h->evicted = atomic_load(&m->evicted);
	h->accept_errors = atomic_load(&m->accept_errors);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct agent_metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned code = MHD_HTTP_OK;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	/* The request is in: no longer a candidate for eviction. */
	if (ci && ci->socket_context) {
		pthread_mutex_lock(&m->lock);
		((struct agent_http_conn *)ci->socket_context)->answering = true;
		pthread_mutex_unlock(&m->lock);
	}

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "method not allowed\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/healthz") == 0) {
		/* Kubernetes readiness: 200 while the gate announces (or,
		 * without anycast, while DNS answers its self-check). */
		struct agent_snapshot snap;
		char msg[96];
		m->ctx->snapshot(m->ctx, &snap);
		int n = snprintf(msg, sizeof(msg), "%s: %s\n",
				 snap.anycast.healthy ? "ok" : "unhealthy",
				 snap.anycast.health_reason);
		resp = MHD_create_response_from_buffer((size_t)n, msg,
						       MHD_RESPMEM_MUST_COPY);
		code = snap.anycast.healthy ? MHD_HTTP_OK :
					      MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "not found: metrics are at /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		code = MHD_HTTP_NOT_FOUND;
	} else {
		struct agent_snapshot snap;
		struct dns_stats st;
		size_t len = 0;
		m->ctx->snapshot(m->ctx, &snap);
		snap.uptime_s = (as_now_ms() - m->ctx->start_ms) / 1000;
		http_snapshot(m, &snap.http);
		dns_server_stats(m->ctx->dns, &st);
		char *text = agent_metrics_render(&snap, &st, m->ctx, &len);
		if (!text)
			return MHD_NO;
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(resp, "Content-Type",
					"text/plain; version=0.0.4; charset=utf-8");
	}
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- accepting ------------------------------------------------------------------ */

static void on_accept(uv_poll_t *p, int status, int events);

static void on_pause_end(uv_timer_t *t)
{
	struct agent_metrics *m = t->data;
	if (!m->closed)
		uv_poll_start(&m->poll, UV_READABLE, on_accept);
}

static void on_accept(uv_poll_t *p, int status, int events)
{
	struct agent_metrics *m = p->data;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(m->lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == EINTR || e == ECONNABORTED)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			atomic_fetch_add(&m->accept_errors, 1);
			/* Out of descriptors or memory: retrying at once
			 * would spin; the pending clients wait in the
			 * backlog meanwhile. */
			as_log_ratelimited(&m->accept_log, AS_LOG_WARN,
					   "metrics: cannot accept a connection: %s; "
					   "pausing accepts for %d ms",
					   as_strerror(-e), HTTP_ACCEPT_PAUSE_MS);
			uv_poll_stop(&m->poll);
			uv_timer_start(&m->pause, on_pause_end, HTTP_ACCEPT_PAUSE_MS, 0);
			return;
		}
		if (!admit(m, fd, (struct sockaddr *)&ss)) {
			atomic_fetch_add(&m->refused, 1);
			close(fd);
			continue;
		}
		atomic_fetch_add(&m->accepted, 1);
		/* libmicrohttpd owns fd now and closes it on failure too. */
		if (MHD_add_connection(m->mhd, fd, (struct sockaddr *)&ss, sl) !=
		    MHD_YES)
			forget(m, fd);
	}
}

static int listen_socket(const struct sockaddr_storage *ss)
{
	int one = 1;
	socklen_t len = as_sockaddr_len(ss);
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 128) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* With a low open-file limit, HTTP gets at most a quarter of what is
 * left at start, so it cannot starve DNS over TCP and the control
 * socket. */
static unsigned connection_budget(void)
{
	struct rlimit rl;
	unsigned open_fds = 0;
	DIR *d;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    !(d = opendir("/proc/self/fd")))
		return HTTP_MAX_CONNS;
	for (struct dirent *e; (e = readdir(d));)
		open_fds += e->d_name[0] != '.';
	closedir(d);
	if (rl.rlim_cur <= open_fds + 16)
		return 4;
	uint64_t budget = (rl.rlim_cur - open_fds) / 4;
	return budget < 4 ? 4 : budget > HTTP_MAX_CONNS ? HTTP_MAX_CONNS : (unsigned)budget;
}

/* Off when metrics.listen is empty. */
static int metrics_start(struct agent_ctx *ctx, void **self)
{
	const char *listen = ctx->cfg->metrics.listen;
	struct sockaddr_storage ss;
	struct agent_metrics *m;
	char buf[AS_SOCKADDR_STRLEN];

	*self = NULL;
	if (!listen || !*listen)
		return AS_OK;

	if (as_parse_sockaddr(listen, 9153, &ss) != AS_OK) {
		as_err("metrics.listen: cannot parse '%s'", listen);
		return AS_EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return AS_ENOMEM;
	m->ctx = ctx;
	m->mhd_log.interval_ms = 10000;
	m->mhd_log.burst = 5;
	m->accept_log.interval_ms = 10000;
	m->accept_log.burst = 1;
	m->max_conns = connection_budget();
	/* Room between soft and hard for arrivals while evicted
	 * connections are being closed. */
	m->keep.keep_total = m->max_conns - AS_MAX(2u, m->max_conns / 4);
	m->keep.keep_per_ip = AS_MAX(1u, AS_MIN(HTTP_PER_IP, m->keep.keep_total / 2));
	m->keep.min_age_ms = HTTP_EVICT_AGE_MS;
	m->per_ip = AS_MIN(2 * m->keep.keep_per_ip, m->max_conns);
	m->max_held = m->max_conns + m->max_conns / 2;
	/* libmicrohttpd's limits are backstops above ours: it counts a
	 * connection until its cleanup, after our accounting let it go, and
	 * one it refuses would sit in ours as started-never. */
	unsigned mhd_limit = m->max_held + 8;
	unsigned mhd_per_ip = AS_MAX(2 * m->per_ip, m->max_held / 2);
	if (m->max_conns < HTTP_MAX_CONNS)
		as_warn("metrics: the open-file limit is low: at most %u HTTP "
			"connections, %u per address", m->max_conns, m->per_ip);
	pthread_mutex_init(&m->lock, NULL);
	m->lfd = listen_socket(&ss);
	if (m->lfd < 0) {
		as_err("metrics: cannot listen on %s: %s",
		       as_format_sockaddr(&ss, buf, sizeof(buf)), as_strerror(m->lfd));
		pthread_mutex_destroy(&m->lock);
		free(m);
		return AS_ELIB;
	}
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
			 MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, m,
				  MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, mhd_per_ip,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection_notify, m,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
				  MHD_OPTION_END);
	if (!m->mhd) {
		as_err("metrics: cannot start libmicrohttpd");
		close(m->lfd);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return AS_ELIB;
	}
	uv_poll_init(ctx->loop, &m->poll, m->lfd);
	uv_timer_init(ctx->loop, &m->sweep);
	uv_timer_init(ctx->loop, &m->pause);
	m->poll.data = m->sweep.data = m->pause.data = m;
	uv_poll_start(&m->poll, UV_READABLE, on_accept);
	uv_timer_start(&m->sweep, on_sweep, HTTP_SWEEP_MS, HTTP_SWEEP_MS);
	as_notice("metrics on http://%s/metrics", listen);
	*self = m;
	return AS_OK;
}

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

/* Stops accepting; the handles close on the loop. */
static void metrics_stop(void *self)
{
	struct agent_metrics *m = self;

	if (!m || m->closed)
		return;
	m->closed = true;
	uv_close((uv_handle_t *)&m->poll, handle_closed);
	uv_close((uv_handle_t *)&m->sweep, handle_closed);
	uv_close((uv_handle_t *)&m->pause, handle_closed);
}

/* After stop and a loop run (the handles are closed); stops the HTTP
 * thread, which reads the DNS server's counters: before the DNS server
 * goes. */
static void metrics_free(void *self)
{
	struct agent_metrics *m = self;

	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	close(m->lfd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

const struct agent_component_ops agent_metrics_ops = {
	.name = "metrics",
	.start = metrics_start,
	.stop = metrics_stop,
	.free = metrics_free,
};
