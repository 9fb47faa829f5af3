/*
 * tests/bench/gossip_bench.c - gossip benchmark in the simulator.
 *
 * For each cluster size and each parameter set (anysteer's defaults and
 * memberlist's LAN profile expressed in the same core) it measures:
 *  - dissemination: every node's load changes every 10 s (random phase, a
 *    new random load factor); time from the change until every other live
 *    node holds that version (p50/p99), and bytes sent per node per second;
 *  - crash detection: a node is killed; time until every live node marks
 *    it dead (p50/p99); it is then restarted and the cluster reconverges;
 *  - false deaths per 1,000 node-hours with 10 % packet loss, and with one
 *    node in 20 stalled at any time (stalls of 2 s at random).
 * Virtual time; run lengths are chosen to keep the whole run to a few
 * minutes on two cores. Not part of make check.
 *
 * With --load, instead: traffic under a busy, fluctuating CPU (every node
 * samples once a second, as anysteerd does) and under a light one (below
 * the low watermark), per size.
 *
 * --probe MS TIMEOUT_MS overrides anysteer's probe interval and timeout;
 * --crashes K takes K crash-detection samples (default 20, 5 with --quick);
 * --set NAME=VALUE overrides one of a few settings (apply_set) in
 * anysteer's profile, to try defaults;
 * --no-memberlist leaves memberlist's profile out. --node-hours H runs each
 * false-death scenario for H node-hours; --libuv resumes a stalled node
 * with its overdue timers before its queued packets, as a libuv loop
 * does; --busy adds a fifth phase, a busy CPU on every node (short
 * random deschedulings, 1 % loss), and its false deaths. --combined runs
 * the stall phase with 10 % loss as well and skips the loss-only one (its
 * column then reads 0 with no exposure).
 *
 * With --endpoints E (issue 19, records of any size), instead: every node
 * announces E endpoints; the time until every node holds every record
 * whole after the joins; then --settle S seconds (default 0: the join's
 * records, still queued for piggybacking, then count as quiet traffic:
 * at 100 nodes with 20 endpoints each 12 kB/s of the first minute, 0.7
 * kB/s after 120 s); then a quiet minute (bytes per node), then every
 * node changes one endpoint's health every --ep-interval S seconds
 * (default 60, random phase): the time until every other node holds the
 * new record (p50/p99), bytes per node per second, and per change.
 *
 * Usage: gossip_bench [--quick] [--load] [--no-memberlist] [--probe MS TIMEOUT_MS] [-v]
 *                     [--crashes K] [--set NAME=VALUE]...
 *                     [--sizes 22,100,1000] [--seed N] [--endpoints E [--ep-interval S] [--settle S]]
 * (-v explains every false death on stderr)
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/gossip.h"
#include "lib/as.h"
#include "lib/rng.h"
#include "tests/sim/sim.h"

struct sample {
	double *v;
	size_t n, cap;
};

static void sample_add(struct sample *s, double x)
{
	if (AS_GROW(s->v, s->cap, s->n + 1)) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(struct sample *s, double p)
{
	size_t i;
	if (!s->n)
		return NAN;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	i = (size_t)ceil(p * (double)s->n) - 1;
	if (i >= s->n)
		i = s->n - 1;
	return s->v[i];
}

/* Tracking of one update per subject. */
struct track {
	uint64_t version, t0;
	size_t seen;
	uint8_t *bits;		/* observers that have it */
	bool active;
};

struct bench {
	struct sim *sim;
	size_t n;
	struct track *tr;	/* per subject: load update */
	struct track *crash;	/* per subject: death */
	struct sample dissem, detect;
	uint64_t superseded;
	/* false deaths: (subject, incarnation) incidents */
	bool count_false;
	uint64_t false_deaths;
	uint32_t *last_false_inc;
	int crashed;
	uint64_t *paused_at;	/* last stall start per node */
	bool ep_mode;		/* tr tracks ep_version, not version */
};

static bool verbose;
static bool breakdown;	/* --breakdown: where the bytes go (--load) */
static bool testbed_names;	/* --testbed-names: "node<i+1>" */
static uint32_t clock_skew;	/* --skew MS: wall clocks off by up to +-MS */
static uint64_t settle_ms;	/* --settle S: run before the quiet minute */
static bool busy_only;	/* --busy-only: --load without the light CPU */
static double load_secs;	/* --load-secs S: measured time of --load */
static double node_hours;	/* --node-hours: exposure per fault scenario */
static bool libuv_order;	/* --libuv: timers before packets on resume */
static bool busy_cpu;		/* --busy: a fifth phase, CPU contention */
static bool combined;		/* --combined: loss and stalls at once */
static size_t n_crashes;	/* --crashes K: crash-detection samples (0: default) */
static const char *trace;	/* GOSSIP_BENCH_TRACE=name[@ms]: log changes about it */
static uint64_t trace_from;

static size_t node_index(const char *name)
{
	/* "n<i>", or "node<i+1>" with --testbed-names */
	return testbed_names ? (size_t)strtoul(name + 4, NULL, 10) - 1 :
	       (size_t)strtoul(name + 1, NULL, 10);
}

static size_t live_nodes(struct bench *b)
{
	/* at most one node is down at a time: the crashed one */
	return b->n - (b->crashed >= 0 && !sim_is_up(b->sim, (size_t)b->crashed));
}

static void on_change(void *arg, size_t obs, const struct gossip_member *m,
		      enum gossip_state old, unsigned what)
{
	struct bench *b = arg;
	size_t subj;
	if (trace && !strcmp(m->rec->name, trace) && sim_now(b->sim) >= trace_from)
		fprintf(stderr, "trace: t=%lu n%zu sees %s %s inc %u what %#x%s\n",
			(unsigned long)sim_now(b->sim), obs, m->rec->name, gossip_state_name(m->state),
			m->rec->incarnation, what, sim_is_paused(b->sim, obs) ? " (observer stalled)" : "");
	if (m->self)
		return;
	subj = node_index(m->rec->name);
	if (subj >= b->n)
		return;
	if (b->ep_mode ? (what & (GOSSIP_CHANGE_ENDPOINTS | GOSSIP_CHANGE_JOIN)) != 0 :
	    (what & (GOSSIP_CHANGE_LOAD | GOSSIP_CHANGE_JOIN)) != 0) {
		struct track *t = &b->tr[subj];
		uint64_t v = b->ep_mode ? m->rec->ep_version : m->rec->version;
		if (t->active && v >= t->version && !(t->bits[obs / 8] & (1u << (obs % 8)))) {
			t->bits[obs / 8] |= (uint8_t)(1u << (obs % 8));
			if (++t->seen >= live_nodes(b) - 1) {
				sample_add(&b->dissem, (double)(sim_now(b->sim) - t->t0));
				t->active = false;
			}
		}
	}
	if ((what & GOSSIP_CHANGE_STATE) && m->state == GOSSIP_DEAD) {
		if ((int)subj == b->crashed) {
			struct track *t = &b->crash[subj];
			if (t->active && !(t->bits[obs / 8] & (1u << (obs % 8)))) {
				t->bits[obs / 8] |= (uint8_t)(1u << (obs % 8));
				if (++t->seen >= live_nodes(b)) {
					sample_add(&b->detect, (double)(sim_now(b->sim) - t->t0));
					t->active = false;
				}
			}
		} else if (b->count_false && sim_is_up(b->sim, subj) &&
			   b->last_false_inc[subj] != m->rec->incarnation + 1) {
			b->last_false_inc[subj] = m->rec->incarnation + 1;
			b->false_deaths++;
			if (verbose)
				fprintf(stderr, "false death: t=%lu observer n%zu marks n%zu (inc %u) dead; "
					"observer stalled: %d; subject's last stall began at %lu\n",
					(unsigned long)sim_now(b->sim), obs, subj, m->rec->incarnation,
					sim_is_paused(b->sim, obs), (unsigned long)b->paused_at[subj]);
		}
	}
}

static void track_start(struct bench *b, struct track *t, uint64_t version)
{
	t->version = version;
	t->t0 = sim_now(b->sim);
	t->seen = 0;
	memset(t->bits, 0, (b->n + 7) / 8);
	t->active = true;
}

static void set_load(struct bench *b, size_t i, const struct gossip_load *lp)
{
	struct gossip_core *c = sim_core(b->sim, i);
	struct gossip_member m;
	struct gossip_load l = *lp;
	uint64_t v0;
	gossip_core_member_find(c, sim_name(b->sim, i), sim_now(b->sim), &m);
	v0 = m.rec->version;
	gossip_core_set_load(c, sim_now(b->sim), &l);
	sim_flush(b->sim, i);
	gossip_core_member_find(c, sim_name(b->sim, i), sim_now(b->sim), &m);
	if (m.rec->version == v0)
		return;		/* a small step: waits for the refresh */
	if (b->tr[i].active)
		b->superseded++;
	track_start(b, &b->tr[i], m.rec->version);
}

static void change_load(struct bench *b, size_t i, struct as_rng *rng)
{
	struct gossip_load l;
	l.factor = (double)as_rng_below(rng, 1001) / 1000.0;
	l.util = 1.0 - l.factor;
	l.psi = l.util / 4;
	l.cpus = 8;
	set_load(b, i, &l);
}

static bool wait_converged(struct bench *b, uint64_t max_ms);
static uint64_t total_bytes(struct bench *b);

/* Every node's counters added up (the fields the breakdown reads). */
static void metrics_sum(struct bench *b, struct gossip_metrics *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < b->n; i++) {
		struct gossip_metrics m;
		gossip_core_metrics(sim_core(b->sim, i), &m);
		out->packets_out += m.packets_out;
		out->bytes_out += m.bytes_out;
		out->stream_out += m.stream_out;
		out->stream_bytes_out += m.stream_bytes_out;
		out->coord_bytes_out += m.coord_bytes_out;
		for (int k = 0; k < GOSSIP_MSG_TYPE_COUNT; k++) {
			out->msgs_out[k] += m.msgs_out[k];
			out->msg_bytes_out[k] += m.msg_bytes_out[k];
			out->lead_packets[k] += m.lead_packets[k];
			out->lead_bytes[k] += m.lead_bytes[k];
		}
	}
}

/* Where the bytes go between two sums, per node per second (--breakdown):
 * sealing (header, nonce, tag), the envelope, every message type, and
 * UDP packets by the message that leads them (what they were sent for). */
static void print_breakdown(const struct gossip_metrics *a, const struct gossip_metrics *z,
			    size_t n, double secs)
{
	double per = (double)n * secs, msgs = 0, seal, env;
	double pk = (double)(z->packets_out - a->packets_out);
	double udp = (double)(z->bytes_out - a->bytes_out);

	for (int k = 1; k < GOSSIP_MSG_TYPE_COUNT; k++)
		if (k != GOSSIP_MSG_PUSHPULL)
			msgs += (double)(z->msg_bytes_out[k] - a->msg_bytes_out[k]);
	seal = pk * GOSSIP_CRYPTO_OVERHEAD;
	env = udp - seal - msgs;
	printf("  breakdown per node: UDP %.1f packets/s %.0f B/s = sealing %.0f + envelope %.0f "
	       "(%.1f B/packet) + messages %.0f; stream %.2f frames/s %.0f B/s\n",
	       pk / per, udp / per, seal / per, env / per, pk ? env / pk : 0, msgs / per,
	       (double)(z->stream_out - a->stream_out) / per,
	       (double)(z->stream_bytes_out - a->stream_bytes_out) / per);
	printf("  messages (msgs/s, B/s, B each):");
	for (int k = 1; k < GOSSIP_MSG_TYPE_COUNT; k++) {
		double c = (double)(z->msgs_out[k] - a->msgs_out[k]);
		double by = (double)(z->msg_bytes_out[k] - a->msg_bytes_out[k]);
		if (c)
			printf(" %s %.2f %.0f %.1f;", gossip_msg_type_name(k), c / per, by / per, by / c);
	}
	printf(" of which coordinates %.0f B/s\n",
	       (double)(z->coord_bytes_out - a->coord_bytes_out) / per);
	printf("  UDP packets by lead message (packets/s, B/s):");
	for (int k = 1; k < GOSSIP_MSG_TYPE_COUNT; k++) {
		double c = (double)(z->lead_packets[k] - a->lead_packets[k]);
		if (c)
			printf(" %s %.2f %.0f;", gossip_msg_type_name(k), c / per,
			       (double)(z->lead_bytes[k] - a->lead_bytes[k]) / per);
	}
	printf("\n");
}

/* docs/dns.md's load factor (dns_load_factor), with the default
 * watermarks. */
static double load_factor(double x)
{
	const double low = 0.6, high = 0.95;
	return x <= low ? 1.0 : x >= high ? 0.0 : 1.0 - (x - low) / (high - low);
}

/* The daemon's sampler on a busy machine: every second a CPU reading
 * uniform in [lo, hi], smoothed as agent/daemon.c does (EWMA, 0.3), and
 * its factor; the same on every node, out of phase. Reports bytes and
 * load messages sent per node per second, load records published per
 * node per second, and the spread time of each published change. */
static void run_load(size_t n, const struct gossip_config *proto, uint64_t seed, double lo,
		     double hi, uint64_t dur)
{
	struct sim_config cfg;
	struct bench b;
	struct as_rng rng;
	uint64_t t, next_at, bytes0 = 0, bytes1, loads0 = 0, loads1 = 0, pub0 = 0, pub1 = 0;
	uint64_t *next;
	double *ewma;
	struct gossip_metrics ma, mz;
	clock_t c0 = clock();

	memset(&b, 0, sizeof(b));
	as_rng_seed(&rng, seed * 977 + n);
	sim_config_defaults(&cfg, n);
	cfg.seed = seed;
	cfg.proto = *proto;
	cfg.clock_skew_ms = clock_skew;
	cfg.testbed_names = testbed_names;
	cfg.proto.label = "bench";
	if (sim_new(&cfg, &b.sim)) {
		fprintf(stderr, "sim_new failed\n");
		exit(1);
	}
	b.n = n;
	b.crashed = -1;
	b.tr = calloc(n, sizeof(*b.tr));
	b.crash = calloc(n, sizeof(*b.crash));
	b.last_false_inc = calloc(n, sizeof(uint32_t));
	b.paused_at = calloc(n, sizeof(uint64_t));
	next = calloc(n, sizeof(uint64_t));
	ewma = calloc(n, sizeof(double));
	for (size_t i = 0; i < n; i++) {
		b.tr[i].bits = calloc((n + 7) / 8, 1);
		b.crash[i].bits = calloc((n + 7) / 8, 1);
		ewma[i] = (lo + hi) / 2;
	}
	sim_set_change_cb(b.sim, on_change, &b);
	sim_start(b.sim);
	if (!wait_converged(&b, 120000))
		fprintf(stderr, "N=%zu: no convergence after join\n", n);
	t = sim_now(b.sim);
	for (size_t i = 0; i < n; i++)
		next[i] = t + as_rng_below(&rng, 1000);
	/* 30 s to settle (the first samples publish), then measure */
	for (int phase = 0; phase < 2; phase++) {
		uint64_t end = sim_now(b.sim) + (phase ? dur : 30000);
		if (phase) {
			bytes0 = total_bytes(&b);
			metrics_sum(&b, &ma);
			for (size_t i = 0; i < n; i++) {
				struct gossip_metrics m;
				struct gossip_member me;
				gossip_core_metrics(sim_core(b.sim, i), &m);
				loads0 += m.msgs_out[GOSSIP_MSG_LOAD];
				gossip_core_member_find(sim_core(b.sim, i), sim_name(b.sim, i),
							sim_now(b.sim), &me);
				pub0 += me.rec->version;
			}
			b.dissem.n = 0;
		}
		for (next_at = sim_now(b.sim); sim_now(b.sim) < end;) {
			next_at += 50;
			sim_run_until(b.sim, next_at);
			for (size_t i = 0; i < n; i++) {
				struct gossip_load l;
				double x;
				if (next[i] > sim_now(b.sim))
					continue;
				next[i] += 1000;
				x = lo + (hi - lo) * (double)as_rng_below(&rng, 1001) / 1000.0;
				ewma[i] += 0.3 * (x - ewma[i]);
				l.util = ewma[i];
				l.psi = ewma[i] / 4;
				l.cpus = 8;
				l.factor = load_factor(ewma[i]);
				set_load(&b, i, &l);
			}
		}
	}
	metrics_sum(&b, &mz);
	bytes1 = total_bytes(&b);	/* the measured phase only */
	for (size_t i = 0; i < n; i++) {
		struct gossip_metrics m;
		struct gossip_member me;
		gossip_core_metrics(sim_core(b.sim, i), &m);
		loads1 += m.msgs_out[GOSSIP_MSG_LOAD];
		gossip_core_member_find(sim_core(b.sim, i), sim_name(b.sim, i), sim_now(b.sim), &me);
		pub1 += me.rec->version;
	}
	if (verbose) {
		/* where the bytes go, whole run, node 1 */
		struct gossip_metrics m;
		double secs = (double)sim_now(b.sim) / 1000.0;
		gossip_core_metrics(sim_core(b.sim, 1), &m);
		fprintf(stderr, "n1 over %.0f s: %.1f UDP packets/s, %.0f B/s UDP, %.0f B/s stream;",
			secs, (double)m.packets_out / secs, (double)m.bytes_out / secs,
			(double)m.stream_bytes_out / secs);
		for (int k = 1; k < GOSSIP_MSG_TYPE_COUNT; k++)
			fprintf(stderr, " %s %.1f/s %.0f B/s", gossip_msg_type_name(k),
				(double)m.msgs_out[k] / secs, (double)m.msg_bytes_out[k] / secs);
		fprintf(stderr, "\n");
	}
	sim_run_until(b.sim, sim_now(b.sim) + 5000);
	printf("%-6zu load %.2f-%.2f | %9.0f B/s/node | %6.2f load msgs/s/node | "
	       "%5.3f publications/s/node | spread p50/p99 %4.0f / %4.0f ms (%zu; p90 %.0f, max %.0f) | %.0f s\n",
	       n, lo, hi, (double)(bytes1 - bytes0) / (double)n / ((double)dur / 1000.0),
	       (double)(loads1 - loads0) / (double)n / ((double)dur / 1000.0),
	       (double)(pub1 - pub0) / (double)n / ((double)dur / 1000.0),
	       pct(&b.dissem, 0.5), pct(&b.dissem, 0.99), b.dissem.n, pct(&b.dissem, 0.9),
	       pct(&b.dissem, 1.0), (double)(clock() - c0) / CLOCKS_PER_SEC);
	if (breakdown)
		print_breakdown(&ma, &mz, n, (double)dur / 1000.0);
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		free(b.tr[i].bits);
		free(b.crash[i].bits);
	}
	free(b.tr);
	free(b.crash);
	free(b.last_false_inc);
	free(b.paused_at);
	free(next);
	free(ewma);
	free(b.dissem.v);
	free(b.detect.v);
	sim_free(b.sim);
}

static bool wait_converged(struct bench *b, uint64_t max_ms)
{
	uint64_t end = sim_now(b->sim) + max_ms;
	while (sim_now(b->sim) < end) {
		sim_run_until(b->sim, sim_now(b->sim) + 500);
		if (sim_converged(b->sim))
			return true;
	}
	return false;
}

static uint64_t total_bytes(struct bench *b)
{
	uint64_t s = 0;
	for (size_t i = 0; i < b->n; i++)
		s += sim_bytes_out(b->sim, i);
	return s;
}

struct result {
	double dis_p50, dis_p99, det_p50, det_p99, fd_loss, fd_stall, bps;
	size_t dis_n, det_n, dis_incomplete;
	double nh_loss, nh_stall, fd_busy, nh_busy;
	double real_s;
};

static void run_profile(size_t n, const struct gossip_config *proto, uint64_t seed, bool quick,
			struct result *r)
{
	struct sim_config cfg;
	struct bench b;
	struct as_rng rng;
	uint64_t t, dur, next_change_at;
	uint64_t *next_change;
	uint64_t bytes0;
	clock_t c0 = clock();
	size_t crashes;

	memset(&b, 0, sizeof(b));
	memset(r, 0, sizeof(*r));
	as_rng_seed(&rng, seed * 977 + n);
	sim_config_defaults(&cfg, n);
	cfg.seed = seed;
	cfg.proto = *proto;
	cfg.clock_skew_ms = clock_skew;
	cfg.testbed_names = testbed_names;
	cfg.proto.label = "bench";
	cfg.timers_first = libuv_order;
	if (sim_new(&cfg, &b.sim)) {
		fprintf(stderr, "sim_new failed\n");
		exit(1);
	}
	b.n = n;
	b.crashed = -1;
	b.tr = calloc(n, sizeof(*b.tr));
	b.crash = calloc(n, sizeof(*b.crash));
	b.last_false_inc = calloc(n, sizeof(uint32_t));
	b.paused_at = calloc(n, sizeof(uint64_t));
	next_change = calloc(n, sizeof(uint64_t));
	for (size_t i = 0; i < n; i++) {
		b.tr[i].bits = calloc((n + 7) / 8, 1);
		b.crash[i].bits = calloc((n + 7) / 8, 1);
	}
	sim_set_change_cb(b.sim, on_change, &b);
	sim_start(b.sim);
	if (!wait_converged(&b, 120000))
		fprintf(stderr, "N=%zu: no convergence after join\n", n);

	/* 1. dissemination under a load change per node every 10 s */
	dur = quick ? 20000 : (n >= 1000 ? 20000 : 60000);
	t = sim_now(b.sim);
	for (size_t i = 0; i < n; i++) {
		next_change[i] = t + as_rng_below(&rng, 10000);
	}
	bytes0 = total_bytes(&b);
	next_change_at = t;
	while (sim_now(b.sim) < t + dur) {
		next_change_at += 50;
		sim_run_until(b.sim, next_change_at);
		for (size_t i = 0; i < n; i++)
			if (next_change[i] <= sim_now(b.sim)) {
				change_load(&b, i, &rng);
				next_change[i] += 10000;
			}
	}
	r->bps = (double)(total_bytes(&b) - bytes0) / (double)n / ((double)dur / 1000.0);
	sim_run_until(b.sim, sim_now(b.sim) + 5000);	/* let the tail finish */
	for (size_t i = 0; i < n; i++)
		if (b.tr[i].active) {
			r->dis_incomplete++;
			b.tr[i].active = false;
		}
	r->dis_n = b.dissem.n;
	r->dis_p50 = pct(&b.dissem, 0.5);
	r->dis_p99 = pct(&b.dissem, 0.99);

	/* 2. crash detection */
	crashes = n_crashes ? n_crashes : quick ? 5 : (n >= 1000 ? 5 : 20);
	for (size_t k = 0; k < crashes; k++) {
		size_t victim;
		victim = 1 + (size_t)as_rng_below(&rng, n - 1);
		/* at a random ms: the probe slots are on a grid that the
		 * 500 ms steps of wait_converged would hit */
		sim_run_until(b.sim, sim_now(b.sim) + 1 + as_rng_below(&rng, 1000));
		b.crashed = (int)victim;
		sim_crash(b.sim, victim);
		track_start(&b, &b.crash[victim], 0);
		t = sim_now(b.sim);
		while (b.crash[victim].active && sim_now(b.sim) < t + 60000)
			sim_run_until(b.sim, sim_now(b.sim) + 10);
		if (b.crash[victim].active)
			fprintf(stderr, "N=%zu: crash of n%zu not detected everywhere in 60 s\n", n, victim);
		b.crash[victim].active = false;
		b.crashed = -1;
		sim_restart(b.sim, victim, false);
		if (!wait_converged(&b, 60000))
			fprintf(stderr, "N=%zu: no reconvergence after restart of n%zu\n", n, victim);
	}
	r->det_n = b.detect.n;
	r->det_p50 = pct(&b.detect, 0.5);
	r->det_p99 = pct(&b.detect, 0.99);

	/* 3. false deaths with 10 % loss (--combined: skipped; phase 4 has
	 * the loss too) */
	dur = quick ? 60000 : (n >= 1000 ? 30000 : (n >= 100 ? 600000 : 1800000));
	if (node_hours > 0)
		dur = (uint64_t)(node_hours * 3600000.0 / (double)n);
	b.count_false = true;
	b.false_deaths = 0;
	sim_set_loss(b.sim, 0.10);
	if (!combined)
		sim_run_until(b.sim, sim_now(b.sim) + dur);
	sim_set_loss(b.sim, 0);
	r->nh_loss = (double)n * (double)dur / 3600000.0;
	r->fd_loss = (double)b.false_deaths / r->nh_loss * 1000.0;
	wait_converged(&b, 60000);

	/* 4. false deaths with 1 node in 20 stalling 2 s at random */
	b.false_deaths = 0;
	if (combined)
		sim_set_loss(b.sim, 0.10);
	t = sim_now(b.sim);
	for (uint64_t now = t; now < t + dur; now += 100) {
		sim_run_until(b.sim, now);
		for (size_t i = 0; i < n; i++) {
			/* a stall starts with probability 100 ms / 40 s per node:
			 * 2 s stalls, so 1 in 20 nodes stalled on average */
			/* not back to back: that would be one 4 s stall */
			if (as_rng_below(&rng, 400) == 0 && !sim_is_paused(b.sim, i) &&
			    (b.paused_at[i] == 0 || now >= b.paused_at[i] + 3000)) {
				if (trace && !strcmp(sim_name(b.sim, i), trace) && now >= trace_from)
					fprintf(stderr, "trace: t=%lu %s stalls for 2 s\n",
						(unsigned long)now, trace);
				sim_pause(b.sim, i, 2000);
				b.paused_at[i] = now;
			}
		}
	}
	sim_set_loss(b.sim, 0);
	sim_run_until(b.sim, sim_now(b.sim) + 5000);
	r->nh_stall = (double)n * (double)dur / 3600000.0;
	r->fd_stall = (double)b.false_deaths / r->nh_stall * 1000.0;

	/* 5. a busy CPU everywhere: in every 100 ms a node is descheduled
	 * with probability 1/10 for 10 ms plus an exponential 40 ms mean,
	 * capped at 1 s, and 1 % of packets are lost */
	if (busy_cpu) {
		wait_converged(&b, 60000);
		b.false_deaths = 0;
		sim_set_loss(b.sim, 0.01);
		t = sim_now(b.sim);
		for (uint64_t now = t; now < t + dur; now += 100) {
			sim_run_until(b.sim, now);
			for (size_t i = 0; i < n; i++) {
				double u;
				uint32_t ms;
				if (sim_is_paused(b.sim, i) || as_rng_below(&rng, 10) != 0)
					continue;
				u = ((double)as_rng_below(&rng, 1000000) + 0.5) / 1e6;
				ms = (uint32_t)AS_MIN(10.0 - 40.0 * log(u), 1000.0);
				sim_pause(b.sim, i, ms);
				b.paused_at[i] = now;
			}
		}
		sim_set_loss(b.sim, 0);
		sim_run_until(b.sim, sim_now(b.sim) + 5000);
		r->nh_busy = (double)n * (double)dur / 3600000.0;
		r->fd_busy = (double)b.false_deaths / r->nh_busy * 1000.0;
	}
	r->real_s = (double)(clock() - c0) / CLOCKS_PER_SEC;

	for (size_t i = 0; i < n; i++) {
		free(b.tr[i].bits);
		free(b.crash[i].bits);
	}
	free(b.tr);
	free(b.crash);
	free(b.last_false_inc);
	free(b.paused_at);
	free(next_change);
	free(b.dissem.v);
	free(b.detect.v);
	sim_free(b.sim);
}

static void memberlist_lan(struct gossip_config *c)
{
	gossip_config_defaults(c);
	c->probe_interval_ms = 1000;
	c->probe_timeout_ms = 500;
	c->suspicion_mult = 4;
	c->suspicion_max_mult = 6;
	c->suspicion_min_ms = 0;
	c->gossip_interval_ms = 200;
	c->gossip_nodes = 3;
	c->retransmit_mult = 4;
	c->retransmit_min = 0;
	c->pushpull_interval_ms = 30000;
	c->load_step = 0;
}

/* ---- records of any size (--endpoints) ------------------------------- */

static struct gossip_endpoint *bench_eps(size_t node, uint32_t n)
{
	struct gossip_endpoint *e = calloc(n ? n : 1, sizeof(*e));
	if (!e) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (uint32_t k = 0; k < n; k++) {
		/* a Kubernetes node: pods of a dozen services */
		snprintf(e[k].service, sizeof(e[k].service), "service-%02u", k % 12);
		e[k].addr[0] = 0xfd;
		e[k].addr[1] = 0x0e;
		e[k].addr[12] = (uint8_t)(node >> 8);
		e[k].addr[13] = (uint8_t)node;
		e[k].addr[14] = (uint8_t)(k >> 8);
		e[k].addr[15] = (uint8_t)k;
		e[k].port = 8080;
		e[k].weight = 100;
		e[k].healthy = true;
	}
	return e;
}

/* Whether every up node holds every other node's current record whole. */
static bool records_complete(struct bench *b, uint32_t n_eps)
{
	uint64_t now = sim_now(b->sim);
	for (size_t j = 0; j < b->n; j++) {
		struct gossip_member own;
		if (gossip_core_member_find(sim_core(b->sim, j), sim_name(b->sim, j), now, &own))
			return false;
		for (size_t i = 0; i < b->n; i++) {
			struct gossip_member m;
			if (i == j)
				continue;
			if (gossip_core_member_find(sim_core(b->sim, i), sim_name(b->sim, j), now, &m) ||
			    m.rec->ep_version != own.rec->ep_version || m.rec->n_endpoints != n_eps)
				return false;
		}
	}
	return true;
}

static long vm_hwm_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static void run_endpoints(size_t n, const struct gossip_config *proto, uint64_t seed,
			  uint32_t n_eps, uint64_t interval_ms, uint64_t dur)
{
	struct sim_config cfg;
	struct bench b;
	struct as_rng rng;
	struct gossip_endpoint **eps;
	uint64_t *next, t0, t_complete = 0, quiet = 60000, changes = 0;
	uint64_t bytes0, bytes1, bytes2, stream0 = 0, stream2 = 0, pulls0 = 0, pulls2 = 0;
	uint64_t rec0 = 0, rec2 = 0;	/* head, pull and alive message bytes */
	clock_t c0 = clock();
	bool complete = false;

	memset(&b, 0, sizeof(b));
	as_rng_seed(&rng, seed * 977 + n);
	sim_config_defaults(&cfg, n);
	cfg.seed = seed;
	cfg.proto = *proto;
	cfg.clock_skew_ms = clock_skew;
	cfg.testbed_names = testbed_names;
	cfg.proto.label = "bench";
	if (sim_new(&cfg, &b.sim)) {
		fprintf(stderr, "sim_new failed\n");
		exit(1);
	}
	b.n = n;
	b.crashed = -1;
	b.ep_mode = true;
	b.tr = calloc(n, sizeof(*b.tr));
	b.crash = calloc(n, sizeof(*b.crash));
	b.last_false_inc = calloc(n, sizeof(uint32_t));
	b.paused_at = calloc(n, sizeof(uint64_t));
	eps = calloc(n, sizeof(*eps));
	next = calloc(n, sizeof(uint64_t));
	for (size_t i = 0; i < n; i++) {
		b.tr[i].bits = calloc((n + 7) / 8, 1);
		b.crash[i].bits = calloc((n + 7) / 8, 1);
		eps[i] = bench_eps(i, n_eps);
		if (gossip_core_set_endpoints(sim_core(b.sim, i), 0, eps[i], n_eps)) {
			fprintf(stderr, "set_endpoints failed (over max_endpoints?)\n");
			exit(1);
		}
	}
	sim_set_change_cb(b.sim, on_change, &b);
	t0 = sim_now(b.sim);
	sim_start(b.sim);
	if (!wait_converged(&b, 300000))
		fprintf(stderr, "N=%zu: no membership convergence after join\n", n);
	while (sim_now(b.sim) < t0 + 600000) {
		if (records_complete(&b, n_eps)) {
			complete = true;
			t_complete = sim_now(b.sim) - t0;
			break;
		}
		sim_run_until(b.sim, sim_now(b.sim) + 1000);
	}
	sim_run_until(b.sim, sim_now(b.sim) + settle_ms);
	/* a quiet minute: probes and push-pulls only */
	bytes0 = total_bytes(&b);
	sim_run_until(b.sim, sim_now(b.sim) + quiet);
	bytes1 = total_bytes(&b);
	for (size_t i = 0; i < n; i++) {
		struct gossip_metrics m;
		gossip_core_metrics(sim_core(b.sim, i), &m);
		stream0 += m.stream_bytes_out;
		pulls0 += m.pulls_sent;
		rec0 += m.msg_bytes_out[GOSSIP_MSG_ALIVE] + m.msg_bytes_out[GOSSIP_MSG_HEAD] +
			m.msg_bytes_out[GOSSIP_MSG_PULL];
		next[i] = sim_now(b.sim) + as_rng_below(&rng, interval_ms);
	}
	b.dissem.n = 0;
	for (uint64_t end = sim_now(b.sim) + dur, at = sim_now(b.sim); sim_now(b.sim) < end;) {
		at += 50;
		sim_run_until(b.sim, at);
		for (size_t i = 0; i < n; i++) {
			struct gossip_member me;
			uint32_t k;
			if (next[i] > sim_now(b.sim) || !n_eps)
				continue;
			next[i] += interval_ms;
			k = (uint32_t)as_rng_below(&rng, n_eps);
			eps[i][k].healthy = !eps[i][k].healthy;
			gossip_core_set_endpoints(sim_core(b.sim, i), sim_now(b.sim), eps[i], n_eps);
			sim_flush(b.sim, i);
			gossip_core_member_find(sim_core(b.sim, i), sim_name(b.sim, i), sim_now(b.sim), &me);
			if (b.tr[i].active)
				b.superseded++;
			track_start(&b, &b.tr[i], me.rec->ep_version);
			changes++;
		}
	}
	bytes2 = total_bytes(&b);
	for (size_t i = 0; i < n; i++) {
		struct gossip_metrics m;
		gossip_core_metrics(sim_core(b.sim, i), &m);
		stream2 += m.stream_bytes_out;
		pulls2 += m.pulls_sent;
		rec2 += m.msg_bytes_out[GOSSIP_MSG_ALIVE] + m.msg_bytes_out[GOSSIP_MSG_HEAD] +
			m.msg_bytes_out[GOSSIP_MSG_PULL];
	}
	{
		size_t incomplete = 0;
		double qs = (double)quiet / 1000.0, ds = (double)dur / 1000.0;
		double quiet_bps = (double)(bytes1 - bytes0) / (double)n / qs;
		double bps = (double)(bytes2 - bytes1) / (double)n / ds;
		for (size_t i = 0; i < n; i++)
			incomplete += b.tr[i].active;
		printf("%-6zu %4u eps | all records whole %s%.1f s after start | quiet %8.0f B/s/node | "
		       "changing %8.0f B/s/node (stream %.0f %%), record msgs %.0f B/node/change, %.2f pulls/s/node | "
		       "dissem p50/p99 %4.0f / %4.0f ms (%zu, %zu incomplete, %llu superseded) | "
		       "VmHWM %ld MB | %.0f s\n",
		       n, n_eps, complete ? "" : "NOT ", (double)t_complete / 1000.0, quiet_bps, bps,
		       100.0 * (double)(stream2 - stream0) / (double)AS_MAX(bytes2 - bytes1, 1),
		       changes ? (double)(rec2 - rec0) / (double)changes / (double)n : 0.0,
		       (double)(pulls2 - pulls0) / (double)n / ds,
		       pct(&b.dissem, 0.5), pct(&b.dissem, 0.99), b.dissem.n, incomplete,
		       (unsigned long long)b.superseded, vm_hwm_kb() / 1024,
		       (double)(clock() - c0) / CLOCKS_PER_SEC);
	}
	fflush(stdout);
	for (size_t i = 0; i < n; i++) {
		free(b.tr[i].bits);
		free(b.crash[i].bits);
		free(eps[i]);
	}
	free(eps);
	free(next);
	free(b.tr);
	free(b.crash);
	free(b.last_false_inc);
	free(b.paused_at);
	free(b.dissem.v);
	free(b.detect.v);
	sim_free(b.sim);
}

/* --coords: network coordinates over the three-zone matrix of
 * sim_zone_matrix (0.2 ms inside a zone, 5-30 ms between, 10 % jitter):
 * the median relative RTT error after each probe round (every node has
 * probed each member once), then what coordinates add to the traffic
 * per member in the steady state. */
/* Bytes coordinates added, and all bytes sent, by every node so far. */
static void coord_totals(struct sim *s, size_t n, uint64_t *coord, uint64_t *all)
{
	*coord = *all = 0;
	for (size_t i = 0; i < n; i++) {
		struct gossip_metrics m;
		gossip_core_metrics(sim_core(s, i), &m);
		*coord += m.coord_bytes_out;
		*all += sim_bytes_out(s, i);
	}
}

static void run_coords(size_t n, const struct gossip_config *proto, uint64_t seed,
		       uint64_t steady_ms)
{
	struct sim_config cfg;
	struct sim *s;
	uint32_t *link = calloc(n * n, sizeof(*link));
	uint64_t round_ms, t0, cb0, cb1, b0, b1;
	double known;

	if (!link)
		return;
	sim_zone_matrix(n, seed, link);
	sim_config_defaults(&cfg, n);
	cfg.proto = *proto;
	cfg.clock_skew_ms = clock_skew;
	cfg.testbed_names = testbed_names;
	cfg.proto.label = "sim";
	cfg.seed = seed;
	cfg.link_us = link;
	cfg.link_jitter_pct = 10;
	if (sim_new(&cfg, &s)) {
		free(link);
		return;
	}
	sim_start(s);
	round_ms = (uint64_t)(n - 1) * proto->probe_interval_ms;
	t0 = sim_now(s);
	printf("N = %zu, three zones, probe round = %llu ms\nround  time_s  median_rel_error  pairs_estimated\n",
	       n, (unsigned long long)round_ms);
	for (int r = 1; r <= 20; r++) {
		sim_run_until(s, t0 + (uint64_t)r * round_ms);
		double e = sim_coord_error(s, link, &known);
		printf("%5d  %6.1f  %15.1f%%  %14.0f%%\n", r, (double)(r * round_ms) / 1000.0,
		       100 * e, 100 * known);
	}
	coord_totals(s, n, &cb0, &b0);
	sim_run_until(s, sim_now(s) + steady_ms);
	coord_totals(s, n, &cb1, &b1);
	printf("steady state (%llu s): median error %.1f%%; coordinates add %.1f B/s per member "
	       "of %.0f B/s sent\n", (unsigned long long)(steady_ms / 1000),
	       100 * sim_coord_error(s, link, NULL),
	       (double)(cb1 - cb0) / (double)n / ((double)steady_ms / 1000),
	       (double)(b1 - b0) / (double)n / ((double)steady_ms / 1000));
	sim_free(s);
	free(link);
}

/* --set NAME=VALUE: a few of anysteer's settings, for trying defaults. */
#define SETS_MAX 8
static const char *sets[SETS_MAX];
static size_t n_sets;

static int apply_set(struct gossip_config *c, const char *kv)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "load_min_interval_ms", offsetof(struct gossip_config, load_min_interval_ms) },
		{ "load_refresh_ms", offsetof(struct gossip_config, load_refresh_ms) },
		{ "load_burst", offsetof(struct gossip_config, load_burst) },
		{ "retransmit_min", offsetof(struct gossip_config, retransmit_min) },
		{ "retransmit_mult", offsetof(struct gossip_config, retransmit_mult) },
		{ "suspicion_min_ms", offsetof(struct gossip_config, suspicion_min_ms) },
		{ "gossip_interval_ms", offsetof(struct gossip_config, gossip_interval_ms) },
		{ "gossip_nodes", offsetof(struct gossip_config, gossip_nodes) },
	};
	const char *eq = strchr(kv, '=');
	for (size_t i = 0; eq && i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == (size_t)(eq - kv) &&
		    !strncmp(kv, fields[i].name, (size_t)(eq - kv))) {
			*(uint32_t *)((char *)c + fields[i].off) = (uint32_t)strtoul(eq + 1, NULL, 10);
			return 0;
		}
	fprintf(stderr, "--set %s: unknown setting\n", kv);
	return -1;
}

/* anysteer's profile: the defaults, --probe and --set. */
static void ours(struct gossip_config *proto, uint32_t probe_ms, uint32_t timeout_ms)
{
	gossip_config_defaults(proto);
	if (probe_ms)
		proto->probe_interval_ms = probe_ms, proto->probe_timeout_ms = timeout_ms;
	for (size_t i = 0; i < n_sets; i++)
		if (apply_set(proto, sets[i]))
			exit(2);
}

int main(int argc, char **argv)
{
	bool coords = false;
	size_t sizes[8] = { 22, 100, 1000 }, n_sizes = 3;
	uint64_t seed = 1;
	bool quick = false, load_only = false, only_ours = false;
	uint32_t n_eps = 0;
	uint64_t ep_interval_ms = 60000;
	uint32_t probe_ms = 0, timeout_ms = 0;

	trace = getenv("GOSSIP_BENCH_TRACE");
	if (trace && strchr(trace, '@')) {
		static char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(strchr(trace, '@') - trace), trace);
		trace_from = strtoull(strchr(trace, '@') + 1, NULL, 10);
		trace = name;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--probe") && i + 2 < argc) {
			probe_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
			timeout_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--node-hours") && i + 1 < argc) {
			node_hours = strtod(argv[++i], NULL);
		} else if (!strcmp(argv[i], "--libuv")) {
			libuv_order = true;
		} else if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < SETS_MAX) {
			sets[n_sets++] = argv[++i];
		} else if (!strcmp(argv[i], "--crashes") && i + 1 < argc) {
			n_crashes = (size_t)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--combined")) {
			combined = true;
		} else if (!strcmp(argv[i], "--busy")) {
			busy_cpu = true;
		} else if (!strcmp(argv[i], "--no-memberlist")) {
			only_ours = true;
		} else if (!strcmp(argv[i], "--endpoints") && i + 1 < argc) {
			n_eps = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--ep-interval") && i + 1 < argc) {
			ep_interval_ms = (uint64_t)(strtod(argv[++i], NULL) * 1000);
		} else if (!strcmp(argv[i], "--settle") && i + 1 < argc) {
			char *end;
			double v = strtod(argv[++i], &end);
			if (*end || !(v >= 0 && v <= 86400)) {
				fprintf(stderr, "--settle: seconds from 0 to 86400, not '%s'\n", argv[i]);
				return 2;
			}
			settle_ms = (uint64_t)(v * 1000);
		} else if (!strcmp(argv[i], "--load")) {
			load_only = true;
		} else if (!strcmp(argv[i], "--coords")) {
			coords = true;
		} else if (!strcmp(argv[i], "--load-secs") && i + 1 < argc) {
			load_secs = strtod(argv[++i], NULL);
		} else if (!strcmp(argv[i], "--skew") && i + 1 < argc) {
			clock_skew = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--testbed-names")) {
			testbed_names = true;
		} else if (!strcmp(argv[i], "--busy-only")) {
			busy_only = true;
		} else if (!strcmp(argv[i], "--breakdown")) {
			breakdown = true;
		} else if (!strcmp(argv[i], "-v")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			char *s = argv[++i], *end;
			n_sizes = 0;
			while (*s && n_sizes < 8) {
				sizes[n_sizes++] = strtoul(s, &end, 10);
				s = *end ? end + 1 : end;
			}
		} else {
			fprintf(stderr, "usage: %s [--quick] [--load [--breakdown] [--busy-only] [--load-secs S]] [--coords] [--skew MS] [--testbed-names] [--no-memberlist] [--node-hours H] [--libuv] [--busy] [--combined] [--probe MS TIMEOUT_MS] [--crashes K] [--set NAME=VALUE] [-v] [--sizes 22,100,1000] [--seed N] [--endpoints E [--ep-interval S] [--settle S]]\n", argv[0]);
			return 2;
		}
	}
	if (coords) {
		for (size_t k = 0; k < n_sizes; k++) {
			struct gossip_config proto;
			ours(&proto, probe_ms, timeout_ms);
			run_coords(sizes[k], &proto, seed, quick ? 60000 : 300000);
		}
		return 0;
	}
	if (n_eps) {
		for (size_t k = 0; k < n_sizes; k++) {
			struct gossip_config proto;
			ours(&proto, probe_ms, timeout_ms);
			proto.max_endpoints = AS_MAX(proto.max_endpoints, n_eps);
			run_endpoints(sizes[k], &proto, seed, n_eps, AS_MAX(ep_interval_ms, 1u),
				      quick ? 60000 : 180000);
		}
		return 0;
	}
	if (load_only) {
		/* issue 19: a busy, fluctuating CPU; and one below the low
		 * watermark, where every reading gives factor 1 */
		uint64_t load_ms = load_secs > 0 ? (uint64_t)(load_secs * 1000) :
				   quick ? 30000 : 120000;
		for (size_t k = 0; k < n_sizes; k++) {
			struct gossip_config proto;
			ours(&proto, probe_ms, timeout_ms);
			run_load(sizes[k], &proto, seed, 0.55, 1.0, load_ms);
			if (!busy_only)
				run_load(sizes[k], &proto, seed, 0.05, 0.55, load_ms);
		}
		return 0;
	}
	printf("%-6s %-10s | %-17s | %-17s | %-14s | %-14s | %-9s | %s\n", "N", "profile",
	       "dissem p50/p99 ms", "detect p50/p99 ms", "FD/1000nh loss", "FD/1000nh stall",
	       "B/s/node", "samples (dissem, incomplete, crashes; node-hours) real s");
	for (size_t k = 0; k < n_sizes; k++) {
		for (int p = 0; p < 2; p++) {
			struct gossip_config proto;
			struct result r;
			if (p == 0) {
				ours(&proto, probe_ms, timeout_ms);
			} else if (only_ours) {
				continue;
			}
			else
				memberlist_lan(&proto);
			run_profile(sizes[k], &proto, seed, quick, &r);
			printf("%-6zu %-10s | %7.0f / %7.0f | %7.0f / %7.0f | %14.2f | %14.2f | %9.0f | "
			       "%zu, %zu, %zu; %.1f nh; %.0f s",
			       sizes[k], p == 0 ? "anysteer" : "memberlist", r.dis_p50, r.dis_p99,
			       r.det_p50, r.det_p99, r.fd_loss, r.fd_stall, r.bps, r.dis_n,
			       r.dis_incomplete, r.det_n, r.nh_loss, r.real_s);
			if (busy_cpu)
				printf(" | busy CPU: %.2f FD/1000nh in %.1f nh", r.fd_busy, r.nh_busy);
			printf("\n");
			fflush(stdout);
		}
	}
	return 0;
}
