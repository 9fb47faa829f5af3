/*
 * tests/sim/sim.c - the deterministic cluster simulator (see sim.h).
 *
 * A binary min-heap of events keyed by (time, insertion number); times
 * are microseconds (the cores see milliseconds, and the microsecond clock
 * through gossip_core_set_clock_us, for their RTT samples). Core
 * timers are lazy: each node remembers the earliest timer event it has in
 * the heap and pushes a new one only when the core's deadline moves
 * earlier; a popped timer that no longer matches is ignored.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "lib/rng.h"
#include "tests/sim/sim.h"

/* The wall clock at virtual time 0, seconds (2025-12-06): incarnations
 * and sequence numbers are as large, and as long on the wire, as
 * anysteerd's. */
#define SIM_WALL_S 1765000000u

enum ev_type { EV_DELIVER, EV_TIMER, EV_RESUME, EV_JOIN };

struct event {
	uint64_t time, order;		/* time: us */
	enum ev_type type;
	size_t node;
	uint32_t gen;			/* node generation at send time */
	enum gossip_transport tr;
	struct sockaddr_storage from;
	uint8_t *data;
	size_t len;
};

struct backlog {
	struct backlog *next;
	struct event ev;
};

struct node {
	struct sim *sim;
	size_t idx;
	char name[24];
	struct sockaddr_storage addr;
	struct gossip_core *core;
	bool up;
	uint32_t gen;
	uint64_t sched;			/* us */
	uint64_t paused_until;		/* ms */
	struct backlog *bl_head, *bl_tail;
	int group;
	uint64_t bytes_out;
	uint8_t key[GOSSIP_KEY_LEN];
	bool alt_addr;
	int64_t skew_ms;		/* its wall clock minus the true one */
};

struct sim {
	struct sim_config cfg;
	struct node *nodes;
	struct event *heap;
	size_t n_heap, cap_heap;
	uint64_t order, now, now_us, rng;	/* now: ms */
	uint32_t *link_us;		/* cfg.link_us, copied */
	uint8_t key[GOSSIP_KEY_LEN];
	sim_change_cb cb;
	void *cb_arg;
	uint64_t delivered, lost;
};

static uint64_t rnd(struct sim *s)
{
	return as_splitmix64(&s->rng);
}

static double rnd_unit(struct sim *s)
{
	return (double)(rnd(s) >> 11) / (double)(1ull << 53);
}

void sim_config_defaults(struct sim_config *cfg, size_t n)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->n = n;
	cfg->seed = 1;
	cfg->latency_ms = 1;
	cfg->jitter_ms = 2;
	cfg->loss = 0;
	cfg->join_spread_ms = n > 100 ? 5000 : 500;
	gossip_config_defaults(&cfg->proto);
	cfg->proto.label = "sim";
}

/* ---- heap ---------------------------------------------------------------- */

static bool ev_less(const struct event *a, const struct event *b)
{
	return a->time < b->time || (a->time == b->time && a->order < b->order);
}

static void heap_push(struct sim *s, struct event *ev)
{
	size_t i;
	if (AS_GROW(s->heap, s->cap_heap, s->n_heap + 1)) {
		free(ev->data);
		return;
	}
	ev->order = s->order++;
	i = s->n_heap++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!ev_less(ev, &s->heap[p]))
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = *ev;
}

static void heap_pop(struct sim *s, struct event *out)
{
	struct event last;
	size_t i = 0;
	*out = s->heap[0];
	last = s->heap[--s->n_heap];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct event *best = &last;
		if (l < s->n_heap && ev_less(&s->heap[l], best))
			m = l, best = &s->heap[l];
		if (r < s->n_heap && ev_less(&s->heap[r], best))
			m = r;
		if (m == i)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (s->n_heap)
		s->heap[i] = last;
}

/* ---- nodes ------------------------------------------------------------------ */

static void node_addr(struct node *n, bool alt)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&n->addr;
	uint32_t id = htonl((uint32_t)n->idx + 1);
	memset(&n->addr, 0, sizeof(n->addr));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(7946);
	a->sin6_addr.s6_addr[0] = 0xfd;
	a->sin6_addr.s6_addr[11] = alt ? 1 : 0;
	memcpy(&a->sin6_addr.s6_addr[12], &id, 4);
}

static long addr_to_node(const struct sim *s, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *a = (const void *)ss;
	uint32_t id;
	size_t i;
	if (ss->ss_family != AF_INET6 || a->sin6_addr.s6_addr[0] != 0xfd)
		return -1;
	memcpy(&id, &a->sin6_addr.s6_addr[12], 4);
	i = ntohl(id);
	if (i == 0 || i > s->cfg.n)
		return -1;
	/* an old address of a moved node reaches nobody */
	if ((a->sin6_addr.s6_addr[11] != 0) != s->nodes[i - 1].alt_addr)
		return -1;
	return (long)i - 1;
}

static void on_change(void *arg, const struct gossip_member *m, enum gossip_state old,
		      unsigned what)
{
	struct node *n = arg;
	if (n->sim->cb)
		n->sim->cb(n->sim->cb_arg, n->idx, m, old, what);
}

static int node_start(struct sim *s, struct node *n, uint32_t incarnation)
{
	struct gossip_config cfg = s->cfg.proto;
	struct gossip_keyring *kr = NULL;
	int rc;
	cfg.name = n->name;
	cfg.addr = n->addr;
	cfg.seed = s->cfg.seed * 1000003u + n->idx * 7919u + n->gen;
	cfg.incarnation = incarnation;
	/* as anysteerd: the wall clock in us (so envelopes are as long) */
	cfg.seq_base = (uint64_t)((int64_t)(SIM_WALL_S * 1000ull + s->now) + n->skew_ms) * 1000 + 1;
	cfg.plaintext = s->cfg.plaintext;
	if (!s->cfg.plaintext) {
		kr = gossip_keyring_new();
		if (!kr)
			return AS_ENOMEM;
		gossip_keyring_install(kr, n->key);
	}
	rc = gossip_core_new(&cfg, kr, s->now, &n->core);
	if (rc) {
		gossip_keyring_free(kr);
		return rc;
	}
	gossip_core_set_change_cb(n->core, on_change, n);
	n->up = true;
	n->sched = UINT64_MAX;
	return AS_OK;
}

int sim_new(const struct sim_config *cfg, struct sim **out)
{
	struct sim *s = calloc(1, sizeof(*s));
	int rc = AS_ENOMEM;
	*out = NULL;
	if (!s)
		return AS_ENOMEM;
	s->cfg = *cfg;
	s->rng = cfg->seed;
	s->cfg.link_us = NULL;
	if (cfg->link_us) {
		s->link_us = malloc(cfg->n * cfg->n * sizeof(*s->link_us));
		if (!s->link_us)
			goto fail;
		memcpy(s->link_us, cfg->link_us, cfg->n * cfg->n * sizeof(*s->link_us));
	}
	s->nodes = calloc(cfg->n, sizeof(*s->nodes));
	if (!s->nodes)
		goto fail;
	for (size_t i = 0; i < GOSSIP_KEY_LEN; i++)
		s->key[i] = (uint8_t)rnd(s);
	for (size_t i = 0; i < cfg->n; i++) {
		struct node *n = &s->nodes[i];
		n->sim = s;
		n->idx = i;
		if (cfg->testbed_names)
			snprintf(n->name, sizeof(n->name), "node%u", (unsigned)(i + 1) % 100000u);
		else
			snprintf(n->name, sizeof(n->name), "n%zu", i);
		node_addr(n, false);
		memcpy(n->key, s->key, GOSSIP_KEY_LEN);
		if (cfg->clock_skew_ms)
			n->skew_ms = (int64_t)(rnd(s) % (2ull * cfg->clock_skew_ms + 1)) -
				     (int64_t)cfg->clock_skew_ms;
		rc = node_start(s, n, SIM_WALL_S);
		if (rc)
			goto fail;
	}
	*out = s;
	return AS_OK;
fail:
	sim_free(s);
	return rc;
}

static void backlog_free(struct node *n)
{
	while (n->bl_head) {
		struct backlog *b = n->bl_head;
		n->bl_head = b->next;
		free(b->ev.data);
		free(b);
	}
	n->bl_tail = NULL;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->nodes && i < s->cfg.n; i++) {
		gossip_core_free(s->nodes[i].core);
		backlog_free(&s->nodes[i]);
	}
	for (size_t i = 0; i < s->n_heap; i++)
		free(s->heap[i].data);
	free(s->heap);
	free(s->nodes);
	free(s->link_us);
	free(s);
}

void sim_set_change_cb(struct sim *s, sim_change_cb cb, void *arg)
{
	s->cb = cb;
	s->cb_arg = arg;
}

/* Moves the core's outbox onto the network and re-arms its timer. */
static void node_flush(struct sim *s, struct node *n)
{
	size_t cnt;
	const struct gossip_out *out;
	uint64_t d;
	if (!n->up)
		return;
	out = gossip_core_outbox(n->core, &cnt);
	for (size_t i = 0; i < cnt; i++) {
		const struct gossip_out *o = &out[i];
		long dst = addr_to_node(s, &o->to);
		struct event ev;
		n->bytes_out += o->len;
		if (dst < 0 || s->nodes[dst].group != n->group ||
		    (o->transport == GOSSIP_TX_UDP && s->cfg.loss > 0 && rnd_unit(s) < s->cfg.loss)) {
			s->lost++;
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.type = EV_DELIVER;
		ev.node = (size_t)dst;
		ev.gen = s->nodes[dst].gen;
		ev.tr = o->transport;
		ev.from = n->addr;
		if (s->link_us) {
			uint64_t l = s->link_us[n->idx * s->cfg.n + (size_t)dst];
			l += (uint64_t)((double)l * (s->cfg.link_jitter_pct / 100.0) * rnd_unit(s));
			ev.time = s->now_us + l;
			if (o->transport == GOSSIP_TX_STREAM)
				ev.time += 2 * l; /* handshake */
		} else {
			ev.time = s->now_us + 1000 * (s->cfg.latency_ms +
				  (s->cfg.jitter_ms ? rnd(s) % (s->cfg.jitter_ms + 1) : 0));
			if (o->transport == GOSSIP_TX_STREAM)
				ev.time += 1000 * s->cfg.latency_ms * 2; /* handshake */
		}
		ev.data = malloc(o->len);
		if (!ev.data)
			continue;
		memcpy(ev.data, o->data, o->len);
		ev.len = o->len;
		heap_push(s, &ev);
	}
	gossip_core_outbox_clear(n->core);
	d = gossip_core_next_deadline(n->core);
	d = d > UINT64_MAX / 1000 ? UINT64_MAX : d * 1000;
	if (d < s->now_us)
		d = s->now_us;
	if (d < n->sched) {
		struct event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = EV_TIMER;
		ev.node = n->idx;
		ev.gen = n->gen;
		ev.time = d;
		n->sched = d;
		heap_push(s, &ev);
	}
}

void sim_flush(struct sim *s, size_t i)
{
	node_flush(s, &s->nodes[i]);
}

void sim_start(struct sim *s)
{
	for (size_t i = 1; i < s->cfg.n; i++) {
		struct event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = EV_JOIN;
		ev.node = i;
		ev.gen = s->nodes[i].gen;
		ev.time = s->now_us + 1000 * (1 + (s->cfg.join_spread_ms ?
						   rnd(s) % s->cfg.join_spread_ms : 0));
		heap_push(s, &ev);
	}
	node_flush(s, &s->nodes[0]);
}

static void node_join(struct sim *s, struct node *n)
{
	struct sockaddr_storage seed = s->nodes[0].addr;
	if (n->idx == 0) {
		/* node 0 rejoins through node 1 after a restart */
		if (s->cfg.n < 2)
			return;
		seed = s->nodes[1].addr;
	}
	gossip_core_join(n->core, s->now, &seed, 1);
	node_flush(s, n);
}

static void deliver(struct sim *s, struct node *n, struct event *ev)
{
	s->delivered++;
	gossip_core_set_clock_us(n->core, s->now_us);
	gossip_core_recv(n->core, s->now, ev->tr, &ev->from, ev->data, ev->len);
}

void sim_run_until(struct sim *s, uint64_t t)
{
	while (s->n_heap && s->heap[0].time <= t * 1000) {
		struct event ev;
		struct node *n;
		heap_pop(s, &ev);
		s->now_us = ev.time;
		s->now = ev.time / 1000;
		n = &s->nodes[ev.node];
		if (!n->up || ev.gen != n->gen) {
			free(ev.data);
			continue;
		}
		if (n->paused_until > s->now && ev.type != EV_RESUME) {
			if (ev.type == EV_DELIVER || ev.type == EV_JOIN) {
				struct backlog *b = malloc(sizeof(*b));
				if (!b) {
					free(ev.data);
					continue;
				}
				b->next = NULL;
				b->ev = ev;
				if (n->bl_tail)
					n->bl_tail->next = b;
				else
					n->bl_head = b;
				n->bl_tail = b;
			}
			if (ev.type == EV_TIMER && ev.time == n->sched)
				n->sched = UINT64_MAX;
			continue;
		}
		switch (ev.type) {
		case EV_DELIVER:
			deliver(s, n, &ev);
			free(ev.data);
			break;
		case EV_TIMER:
			if (ev.time != n->sched)
				continue;	/* superseded */
			n->sched = UINT64_MAX;
			gossip_core_set_clock_us(n->core, s->now_us);
			gossip_core_tick(n->core, s->now);
			break;
		case EV_JOIN:
			node_join(s, n);
			break;
		case EV_RESUME:
			if (n->paused_until > s->now)
				continue;	/* paused again meanwhile */
			/* the socket buffer first, then the overdue timers;
			 * or the other way round, as libuv does */
			if (s->cfg.timers_first) {
				n->sched = UINT64_MAX;
				gossip_core_set_clock_us(n->core, s->now_us);
				gossip_core_tick(n->core, s->now);
				node_flush(s, n);
			}
			while (n->bl_head) {
				struct backlog *b = n->bl_head;
				n->bl_head = b->next;
				if (b->ev.type == EV_JOIN)
					node_join(s, n);
				else
					deliver(s, n, &b->ev);
				free(b->ev.data);
				free(b);
				if (s->cfg.timers_first)
					node_flush(s, n);
			}
			n->bl_tail = NULL;
			n->sched = UINT64_MAX;
			gossip_core_set_clock_us(n->core, s->now_us);
			gossip_core_tick(n->core, s->now);
			break;
		}
		node_flush(s, n);
	}
	if (t > s->now) {
		s->now = t;
		s->now_us = t * 1000;
	}
}

uint64_t sim_now(const struct sim *s)
{
	return s->now;
}

size_t sim_size(const struct sim *s)
{
	return s->cfg.n;
}

struct gossip_core *sim_core(struct sim *s, size_t i)
{
	return s->nodes[i].core;
}

const char *sim_name(const struct sim *s, size_t i)
{
	return s->nodes[i].name;
}

bool sim_is_up(const struct sim *s, size_t i)
{
	return s->nodes[i].up;
}

void sim_crash(struct sim *s, size_t i)
{
	struct node *n = &s->nodes[i];
	n->up = false;
	n->gen++;
	n->paused_until = 0;
	backlog_free(n);
}

int sim_restart(struct sim *s, size_t i, bool new_addr)
{
	struct node *n = &s->nodes[i];
	struct event ev;
	int rc;
	sim_crash(s, i);
	gossip_core_free(n->core);
	n->core = NULL;
	n->alt_addr = new_addr ? !n->alt_addr : n->alt_addr;
	node_addr(n, n->alt_addr);
	/* anysteerd takes the incarnation from the wall clock */
	rc = node_start(s, n, (uint32_t)(SIM_WALL_S + s->now / 1000 + 1000));
	if (rc)
		return rc;
	memset(&ev, 0, sizeof(ev));
	ev.type = EV_JOIN;
	ev.node = i;
	ev.gen = n->gen;
	ev.time = s->now_us + 1000;
	heap_push(s, &ev);
	return AS_OK;
}

void sim_pause(struct sim *s, size_t i, uint32_t ms)
{
	struct node *n = &s->nodes[i];
	struct event ev;
	if (!n->up)
		return;
	n->paused_until = s->now + ms;
	memset(&ev, 0, sizeof(ev));
	ev.type = EV_RESUME;
	ev.node = i;
	ev.gen = n->gen;
	ev.time = n->paused_until * 1000;
	heap_push(s, &ev);
}

bool sim_is_paused(const struct sim *s, size_t i)
{
	return s->nodes[i].paused_until > s->now;
}

void sim_set_group(struct sim *s, size_t i, int group)
{
	s->nodes[i].group = group;
}

void sim_set_loss(struct sim *s, double loss)
{
	s->cfg.loss = loss;
}

int sim_set_key(struct sim *s, size_t i, const uint8_t key[GOSSIP_KEY_LEN])
{
	struct node *n = &s->nodes[i];
	struct gossip_keyring *kr = gossip_core_keyring(n->core);
	uint8_t old[GOSSIP_KEY_LEN];
	int rc;
	if (!kr)
		return AS_ESTATE;
	memcpy(old, n->key, GOSSIP_KEY_LEN);
	rc = gossip_keyring_install(kr, key);
	if (!rc)
		rc = gossip_keyring_use(kr, key);
	if (!rc)
		rc = gossip_keyring_remove(kr, old);
	if (!rc)
		memcpy(n->key, key, GOSSIP_KEY_LEN);
	return rc;
}

uint64_t sim_bytes_out(const struct sim *s, size_t i)
{
	return s->nodes[i].bytes_out;
}

uint64_t sim_packets_delivered(const struct sim *s)
{
	return s->delivered;
}

uint64_t sim_packets_lost(const struct sim *s)
{
	return s->lost;
}

int sim_state_of(struct sim *s, size_t observer, size_t subject)
{
	struct gossip_member m;
	if (gossip_core_member_find(s->nodes[observer].core, s->nodes[subject].name, s->now, &m))
		return -1;
	return (int)m.state;
}

bool sim_converged(struct sim *s)
{
	size_t up = 0;
	/* cheap necessary condition first: the full check is N^2 lookups */
	for (size_t i = 0; i < s->cfg.n; i++)
		up += s->nodes[i].up;
	for (size_t i = 0; i < s->cfg.n; i++) {
		struct gossip_metrics m;
		if (!s->nodes[i].up)
			continue;
		if (gossip_core_live_count(s->nodes[i].core) != up)
			return false;
		gossip_core_metrics(s->nodes[i].core, &m);
		if (m.members[GOSSIP_ALIVE] != up)
			return false;
	}
	for (size_t i = 0; i < s->cfg.n; i++) {
		if (!s->nodes[i].up)
			continue;
		for (size_t j = 0; j < s->cfg.n; j++) {
			int st;
			if (!s->nodes[j].up)
				continue;
			st = sim_state_of(s, i, j);
			if (st != GOSSIP_ALIVE)
				return false;
		}
	}
	return true;
}

/* ---- network coordinates ------------------------------------------------- */

void sim_zone_matrix(size_t n, uint64_t seed, uint32_t *link_us)
{
	/* one-way, us: half the round trip */
	static const uint32_t between[3][3] = {
		{ 100, 2500, 15000 }, { 2500, 100, 12500 }, { 15000, 12500, 100 },
	};
	uint64_t rng = seed;
	uint32_t *access = calloc(n ? n : 1, sizeof(*access));

	for (size_t i = 0; i < n && access; i++)
		access[i] = (uint32_t)(as_splitmix64(&rng) % 26);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i; j < n; j++) {
			uint32_t b = between[i % 3][j % 3];
			if (i % 3 != j % 3)	/* +-10 % per pair */
				b = (uint32_t)(b * (0.9 + 0.2 * (double)(as_splitmix64(&rng) >> 11) /
							  (double)(1ull << 53)));
			if (access)
				b += access[i] + access[j];
			link_us[i * n + j] = link_us[j * n + i] = i == j ? 0 : b;
		}
	free(access);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double sim_coord_error(struct sim *s, const uint32_t *link_us, double *known)
{
	size_t n = s->cfg.n, m = 0, k = 0;
	double *err = malloc((n * n + 1) * sizeof(*err)), med;

	if (!err)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!s->nodes[i].up)
			continue;
		for (size_t j = 0; j < n; j++) {
			double est, rtt = (link_us[i * n + j] + link_us[j * n + i]) / 1000.0;
			if (i == j || !s->nodes[j].up)
				continue;
			if (gossip_core_rtt_estimate(s->nodes[i].core, s->nodes[j].name, &est) == AS_OK) {
				err[m++] = est > rtt ? (est - rtt) / rtt : (rtt - est) / rtt;
				k++;
			} else {
				err[m++] = 1;
			}
		}
	}
	if (known)
		*known = m ? (double)k / (double)m : 0;
	qsort(err, m, sizeof(*err), cmp_double);
	med = m ? (m % 2 ? err[m / 2] : (err[m / 2 - 1] + err[m / 2]) / 2) : -1;
	free(err);
	return med;
}
