/*
 * gossip/core.c - the SWIM + Lifeguard protocol core.
 *
 * Everything here is driven by the caller: each entry point gets `now` (ms
 * on any monotonic scale), updates the member table, and leaves packets in
 * the outbox. Timers are plain absolute deadlines kept in the core; the
 * caller asks for the earliest with gossip_core_next_deadline and calls
 * gossip_core_tick when it has passed. Protocol randomness comes from a
 * seeded splitmix64, so a simulator run is reproducible.
 *
 * Member table: members are heap objects (stable pointers) in an array,
 * with an open-addressing hash on the name for lookups, the ring of live
 * members sorted by name (the coordinated probe schedule and the first
 * peer of every gossip round; rebuilt when liveness changes) and a small
 * array of suspects so the next deadline never scans the whole table.
 *
 * Retransmit queue: one entry per (member, kind) where kind is membership
 * (alive/suspect/dead) or load; a newer message replaces the older one in
 * place of queueing behind it, which is what keeps load chatter bounded.
 * Entries sit in buckets by transmit count and are taken least-sent and
 * newest first until the packet is full; after
 * retransmit_mult * ceil(log10(N + 1)) sends an entry is dropped.
 *
 * Versions: per origin, (incarnation, version) orders the load and
 * (incarnation, ep_version) orders the endpoints, so a load-only message
 * never makes us believe we hold endpoints we missed: push-pull still
 * repairs them.
 *
 * Records too big for one datagram (issue 19: a Kubernetes node serves
 * ~110 endpoints) travel as a HEAD: the record without its endpoints.
 * A member that learns of endpoints newer than it holds asks the node the
 * head came from for the record (a PULL over UDP) and gets it as an ALIVE
 * over the stream transport; until then it keeps what it holds and does
 * not relay the record, so every node only ever relays versions it holds
 * and a puller always asks a node that has what it wants. A pull that
 * gets no answer within PULL_TIMEOUT_MS is repeated to the record's owner,
 * at most PULL_TRIES times. A member keeps at most cfg.max_endpoints
 * endpoints of a record (the rest are counted and left out).
 */
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip.h"
#include "gossip/internal.h"
#include "lib/as.h"
#include "lib/hash.h"
#include "lib/rng.h"

#define MAX_CONFIRM 8		/* distinct suspicion confirmers remembered */
#define REPLAY_WINDOW 256
#define BUCKETS 64
#define HOUSEKEEP_MS 1000
#define REFUTE_DIRECT 8		/* accusers told directly of a refutation */
#define PULL_TIMEOUT_MS 500	/* a pull unanswered this long is repeated */
#define PULL_TRIES 4		/* ... to the owner, at most this often */
/* Network coordinates ride in acks only when the pinger asks: for a
 * member it has none of, then after 1, 2, 4 ... s, at most every
 * COORD_REFRESH_MS (docs/gossip.md has the cost). */
#define COORD_REFRESH_MIN_MS 1000
#define COORD_REFRESH_MS 30000

enum bkind { BK_MEMBERSHIP = 0, BK_LOAD = 1 };

struct member;

struct bcast {
	struct bcast *prev, *next;
	struct member *about;
	uint64_t id;
	uint32_t transmits;
	uint8_t kind, type;
	bool lazy;
	uint32_t inc;		/* membership: the incarnation it is about */		/* rides along only; never the reason for a packet */
	uint16_t len;
	uint8_t data[];
};

struct member {
	struct gossip_record rec;	/* rec.incarnation: liveness */
	uint64_t hash;			/* of rec.name */
	enum gossip_state state;
	uint64_t updated, state_since;
	uint64_t heard;			/* last packet from it; 0 = none */
	uint32_t load_inc, ep_inc;	/* incarnations of load / endpoints */
	uint32_t zone_inc;		/* incarnation of rec.zone */
	/* suspicion */
	uint64_t susp_start, susp_min, susp_max, susp_deadline, susp_extra;
	uint32_t n_confirm;
	bool final_check;		/* last-chance probe sent */
	uint64_t susp_told;		/* when we last told it directly */
	uint32_t final_seq;
	uint64_t confirmers[MAX_CONFIRM];
	/* replay window */
	bool rp_init;
	uint32_t rp_inc;
	uint64_t rp_top, rp_bits[REPLAY_WINDOW / 64];
	struct bcast *bc[2];
	/* endpoint pull in flight: the version asked for (see the top) */
	bool pulling;
	uint32_t pull_inc, pull_tries;
	uint64_t pull_ver, pull_deadline;
	/* its last known network coordinate, when we got it, how often */
	struct gossip_coord coord;
	bool has_coord;
	uint64_t coord_at;
	uint32_t coord_fetches, rtt_n;
	double rtt_win[3];		/* RTT samples to it (median filter) */
};

struct relay {
	uint32_t local_seq, orig_seq;
	struct sockaddr_storage requester;
	uint64_t deadline;
	bool nack;
};

struct probe {
	bool active, acked, indirect;
	struct member *target;
	uint32_t inc;			/* target's incarnation when sent */
	uint32_t seq, expected_nacks, nacks;
	uint64_t ack_deadline, end;
	uint64_t sent_us;		/* for the RTT sample */
	bool sent_fine;			/* sent_us from the fine clock */
};

struct gossip_core {
	struct gossip_config cfg;
	char name[GOSSIP_NAME_MAX + 1];
	char label[GOSSIP_LABEL_MAX + 1];
	struct gossip_keyring *kr;
	uint64_t rng;
	uint64_t seq;			/* envelope sequence */
	uint32_t probe_seq;

	struct member *self;
	struct member **members;
	size_t n_members, cap_members, n_live;
	struct member **hash;
	size_t hash_cap;
	/* The probe schedule: live members, this node included, sorted by
	 * name (rebuilt when liveness changes), and the wall clock's offset
	 * from now (wall = now + wall_off, from seq_base, then
	 * gossip_core_set_wall_ms). */
	struct member **ring;
	size_t n_ring, cap_ring, ring_self;
	bool ring_dirty;
	uint64_t wall_off;
	uint64_t wall_cand;		/* a new offset seen ... */
	uint32_t wall_seen;		/* ... this many calls in a row */
	struct member **suspects;
	size_t n_suspects, cap_suspects;
	struct member **pulls;		/* members with a pull in flight */
	size_t n_pulls, cap_pulls;
	struct pull_batch *batch;	/* pulls to gather into packets */
	size_t pp_rot;			/* where the next push-pull starts */

	struct probe probe;
	struct relay *relays;
	size_t n_relays, cap_relays;

	struct bcast *buckets[BUCKETS];
	size_t n_bcast;
	uint64_t bcast_id;

	struct sockaddr_storage *seeds;
	size_t n_seeds;
	bool left;

	uint64_t next_probe, next_gossip, next_pushpull, next_rejoin, next_housekeep;
	uint64_t last_gossip;		/* when the last gossip round ran */
	uint64_t next_reconnect;
	struct gossip_load pending_load, published_load; /* as given */
	bool load_pending;
	uint64_t load_published_at;
	double gossiped_factor;
	double load_tokens;		/* factor moves we may publish now */
	uint64_t load_tokens_at;
	size_t n_bcast_member;		/* membership entries queued */
	uint32_t lhm;
	/* accusers told directly since our last refutation */
	char accusers[REFUTE_DIRECT][GOSSIP_NAME_MAX + 1];
	uint32_t n_accusers;
	uint64_t last_unknown_pp;
	uint64_t last_now;
	struct gossip_auth_report auth_pending;	/* not logged yet */

	struct gossip_out *out;
	size_t n_out, cap_out;
	struct gossip_packet pkt;
	uint8_t *plain;
	size_t plain_cap;

	gossip_change_cb cb;
	void *cb_arg;
	uint64_t changes;
	struct gossip_metrics m;
	struct gossip_stream_acct streams;	/* stream.c's */
	struct gossip_coord_self coord;		/* ours (vivaldi.c) */
	uint64_t clock_us;			/* gossip_core_set_clock_us */
};

static void clock_check(struct gossip_core *c, uint64_t now);

/* ---- small helpers ---------------------------------------------------- */

/* The protocol's random stream: splitmix64 over one word seeded from
 * cfg->seed, so the simulator's seeded runs stay as recorded. */
static size_t rng_below(struct gossip_core *c, size_t n)
{
	return n ? (size_t)(as_splitmix64(&c->rng) % n) : 0;
}

/* FNV's low bits depend only on the input's low bits: mix them, the
 * table is indexed by them. */
static uint64_t name_hash(const char *s)
{
	return as_hash_mix64(as_fnv1a64(s, strlen(s)));
}

static bool is_live(const struct member *m)
{
	return m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT;
}

/* Lexicographic (incarnation, version) comparison. */
static bool newer(uint32_t inc_a, uint64_t ver_a, uint32_t inc_b, uint64_t ver_b)
{
	return inc_a > inc_b || (inc_a == inc_b && ver_a > ver_b);
}

static uint64_t scaled(const struct gossip_core *c, uint32_t ms)
{
	return (uint64_t)ms * (c->lhm + 1);
}

static void lhm_apply(struct gossip_core *c, int delta)
{
	int v = (int)c->lhm + delta;
	if (v < 0)
		v = 0;
	if (v > (int)c->cfg.lhm_max - 1)
		v = (int)c->cfg.lhm_max - 1;
	c->lhm = (uint32_t)v;
}

/* The largest stream frame a member sends: what its own push-pull cap
 * lets it build, sealed. Here, beside the defaults it derives from, so
 * that stream.c depends on the core and not the other way round. */
size_t gossip_stream_frame_max(const struct gossip_config *cfg)
{
	return (size_t)cfg->pushpull_max_bytes + GOSSIP_CRYPTO_OVERHEAD;
}

void gossip_config_defaults(struct gossip_config *cfg)
{
	cfg->zone = NULL;
	cfg->plaintext = false;
	cfg->seed = 1;
	cfg->incarnation = 1;
	cfg->seq_base = 1;
	cfg->probe_interval_ms = 250;
	cfg->probe_timeout_ms = 40;
	cfg->indirect_checks = 3;
	cfg->suspicion_mult = 4;
	cfg->suspicion_max_mult = 6;
	cfg->suspicion_min_ms = 2200;
	cfg->lhm_max = 8;
	cfg->gossip_interval_ms = 50;
	cfg->gossip_nodes = 3;
	cfg->retransmit_mult = 4;
	cfg->retransmit_min = 12;
	cfg->pushpull_interval_ms = 30000;
	cfg->pushpull_max_bytes = 4u << 20;
	cfg->rejoin_interval_ms = 60000;
	cfg->reconnect_interval_ms = 10000;
	cfg->dead_retention_ms = 3600000;
	cfg->gossip_to_dead_ms = 30000;
	cfg->load_step = 0.05;
	cfg->load_refresh_ms = 30000;
	cfg->load_min_interval_ms = 20000;
	cfg->load_burst = 3;
	cfg->queue_max = 4096;
	cfg->max_endpoints = GOSSIP_ENDPOINTS_DEFAULT;
	cfg->stream_max_conns = 64;
	cfg->stream_max_per_source = 8;
	cfg->stream_source_prefix = 128;
	cfg->stream_hdr_timeout_ms = 1000;
	cfg->stream_timeout_ms = 5000;
}

/* ---- change notification ----------------------------------------------- */

static void member_view(const struct gossip_core *c, const struct member *m,
			uint64_t now, struct gossip_member *out)
{
	out->rec = &m->rec;
	out->state = m->state;
	out->age_ms = now > m->updated ? now - m->updated : 0;
	out->heard_ms = !m->heard ? UINT64_MAX :
			now > m->heard ? now - m->heard : 0;
	out->self = m == c->self;
	out->coord = m == c->self ? (c->coord.updates ? &c->coord.c : NULL) :
		     m->has_coord ? &m->coord : NULL;
}

static void notify(struct gossip_core *c, struct member *m, enum gossip_state old,
		   unsigned what, uint64_t now)
{
	struct gossip_member v;
	m->updated = now;
	if (!what)
		return;
	c->changes++;
	if (!c->cb)
		return;
	member_view(c, m, now, &v);
	c->cb(c->cb_arg, &v, old, what);
}

/* ---- member table ------------------------------------------------------ */

static struct member *find(const struct gossip_core *c, const char *name)
{
	uint64_t h = name_hash(name);
	size_t mask = c->hash_cap - 1, i = h & mask;
	while (c->hash[i]) {
		if (c->hash[i]->hash == h && strcmp(c->hash[i]->rec.name, name) == 0)
			return c->hash[i];
		i = (i + 1) & mask;
	}
	return NULL;
}

static void hash_put(struct member **tab, size_t cap, struct member *m)
{
	size_t i = m->hash & (cap - 1);
	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = m;
}

static int rehash(struct gossip_core *c, size_t cap)
{
	struct member **tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return AS_ENOMEM;
	for (size_t i = 0; i < c->n_members; i++)
		hash_put(tab, cap, c->members[i]);
	free(c->hash);
	c->hash = tab;
	c->hash_cap = cap;
	return AS_OK;
}

static int ring_cmp(const void *a, const void *b)
{
	const struct member *const *x = a, *const *y = b;
	return strcmp((*x)->rec.name, (*y)->rec.name);
}

/* Live members, this node included, by name: every node that holds the
 * same view holds the same ring. */
static void ring_rebuild(struct gossip_core *c)
{
	size_t n = 0;
	if (AS_GROW(c->ring, c->cap_ring, c->n_members)) {
		c->n_ring = 0;	/* no probe, no successor; retried next time */
		return;
	}
	for (size_t i = 0; i < c->n_members; i++)
		if (is_live(c->members[i]))
			c->ring[n++] = c->members[i];
	qsort(c->ring, n, sizeof(*c->ring), ring_cmp);
	c->n_ring = n;
	c->ring_self = 0;
	for (size_t i = 0; i < n; i++)
		if (c->ring[i] == c->self)
			c->ring_self = i;
	c->ring_dirty = false;
}

/* The next alive member after this node on the ring: every round sends
 * to it first, so news that reaches a node reaches its successor too
 * (without loss, the rounds' random peers can miss a node, which then
 * waits for a probe to carry the news: up to a probe interval). */
static struct member *ring_successor(struct gossip_core *c)
{
	if (c->ring_dirty)
		ring_rebuild(c);
	for (size_t i = 1; i < c->n_ring; i++) {
		struct member *m = c->ring[(c->ring_self + i) % c->n_ring];
		if (m != c->self && m->state == GOSSIP_ALIVE)
			return m;
	}
	return NULL;
}

static void pulls_remove(struct gossip_core *c, struct member *m)
{
	if (!m->pulling)
		return;
	m->pulling = false;
	for (size_t i = 0; i < c->n_pulls; i++)
		if (c->pulls[i] == m) {
			c->pulls[i] = c->pulls[--c->n_pulls];
			return;
		}
}

static void suspects_remove(struct gossip_core *c, struct member *m)
{
	for (size_t i = 0; i < c->n_suspects; i++)
		if (c->suspects[i] == m) {
			c->suspects[i] = c->suspects[--c->n_suspects];
			return;
		}
}

static void bcast_unlink(struct gossip_core *c, struct bcast *b)
{
	uint32_t k = AS_MIN(b->transmits, BUCKETS - 1);
	if (b->prev)
		b->prev->next = b->next;
	else
		c->buckets[k] = b->next;
	if (b->next)
		b->next->prev = b->prev;
	if (b->about && b->about->bc[b->kind] == b)
		b->about->bc[b->kind] = NULL;
	c->n_bcast--;
	c->n_bcast_member -= b->kind == BK_MEMBERSHIP;
	free(b);
}

static int set_endpoints(struct gossip_record *rec, const struct gossip_endpoint *eps, uint32_t n)
{
	struct gossip_endpoint *copy = NULL;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return AS_ENOMEM;
		memcpy(copy, eps, n * sizeof(*copy));
	}
	free(rec->endpoints);
	rec->endpoints = copy;
	rec->n_endpoints = n;
	return AS_OK;
}

/* How many of a peer record's endpoints we keep: at most max_endpoints,
 * the excess counted (memory per member stays bounded by the config). */
static uint32_t endpoints_kept(struct gossip_core *c, const struct gossip_record *rec)
{
	if (rec->n_endpoints <= c->cfg.max_endpoints)
		return rec->n_endpoints;
	c->m.records_truncated++;
	c->m.endpoints_dropped += rec->n_endpoints - c->cfg.max_endpoints;
	return c->cfg.max_endpoints;
}

static struct member *member_add(struct gossip_core *c, const struct gossip_record *rec,
				 uint64_t now)
{
	struct member *m;
	if (AS_GROW(c->members, c->cap_members, c->n_members + 1))
		return NULL;
	if ((c->n_members + 1) * 2 > c->hash_cap && rehash(c, c->hash_cap * 2))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->rec = *rec;
	m->hash = name_hash(rec->name);
	m->rec.endpoints = NULL;
	m->rec.n_endpoints = 0;
	if (set_endpoints(&m->rec, rec->endpoints, endpoints_kept(c, rec))) {
		free(m);
		return NULL;
	}
	m->state = GOSSIP_ALIVE;
	m->updated = m->state_since = now;
	m->load_inc = m->ep_inc = m->zone_inc = rec->incarnation;
	c->members[c->n_members++] = m;
	c->n_live++;
	hash_put(c->hash, c->hash_cap, m);
	c->ring_dirty = true;
	return m;
}

static void member_remove(struct gossip_core *c, size_t idx, uint64_t now)
{
	struct member *m = c->members[idx];
	for (int k = 0; k < 2; k++)
		if (m->bc[k])
			bcast_unlink(c, m->bc[k]);
	suspects_remove(c, m);
	pulls_remove(c, m);
	if (c->probe.target == m)
		c->probe.active = false, c->probe.target = NULL;
	c->n_live -= is_live(m);
	c->members[idx] = c->members[--c->n_members];
	rehash(c, c->hash_cap);	/* same size cannot fail to fit */
	c->ring_dirty = true;
	notify(c, m, m->state, GOSSIP_CHANGE_REMOVED, now);
	free(m->rec.endpoints);
	free(m);
}

static void set_state(struct gossip_core *c, struct member *m, enum gossip_state st,
		      uint64_t now)
{
	enum gossip_state old = m->state;
	if (old == st)
		return;
	if (old == GOSSIP_SUSPECT)
		suspects_remove(c, m);
	c->n_live -= is_live(m);
	m->state = st;
	c->n_live += is_live(m);
	m->state_since = now;
	c->ring_dirty = true;
	notify(c, m, old, GOSSIP_CHANGE_STATE, now);
}

/* ---- retransmit queue ------------------------------------------------- */

/* The log10 rule: about l copies reach each node, which misses one with
 * probability near e^-l. */
static uint32_t retransmit_log(const struct gossip_core *c)
{
	size_t n = gossip_core_live_count(c);
	return c->cfg.retransmit_mult * (uint32_t)ceil(log10((double)n + 1));
}

static uint32_t retransmit_limit(const struct gossip_core *c)
{
	uint32_t l = retransmit_log(c);
	/* Small clusters need a floor. */
	return AS_MAX(AS_MIN(AS_MAX(l, c->cfg.retransmit_min), BUCKETS - 1u), 1u);
}

/* A lazy entry (utilisation only) is display data, and the refresh
 * repeats it: half the sends. A factor move is superseded by the next
 * one and repaired by push-pull, so it goes without the floor (8 copies
 * at N = 22 instead of 12; membership keeps it). */
static uint32_t entry_limit(const struct gossip_core *c, const struct bcast *e, uint32_t limit)
{
	if (e->lazy)
		return AS_MAX(limit / 2, 2u);
	if (e->kind == BK_LOAD)
		return AS_MAX(AS_MIN(retransmit_log(c), limit), 2u);
	return limit;
}

static void bucket_push(struct gossip_core *c, struct bcast *b)
{
	uint32_t k = AS_MIN(b->transmits, BUCKETS - 1);
	b->prev = NULL;
	b->next = c->buckets[k];
	if (b->next)
		b->next->prev = b;
	c->buckets[k] = b;
}

static void drop_most_sent(struct gossip_core *c)
{
	for (int k = BUCKETS - 1; k >= 0; k--)
		if (c->buckets[k]) {
			struct bcast *b = c->buckets[k];
			while (b->next)
				b = b->next;	/* oldest of the most sent */
			bcast_unlink(c, b);
			c->m.queue_dropped++;
			return;
		}
}

static bool is_record(int type)
{
	return type == GOSSIP_MSG_ALIVE || type == GOSSIP_MSG_HEAD;
}

/* An ALIVE message's record without its endpoints. */
static void head_of(const struct gossip_msg *alive, struct gossip_msg *head)
{
	*head = *alive;
	head->type = GOSSIP_MSG_HEAD;
	head->ep_count = alive->rec.n_endpoints;
	head->rec.endpoints = NULL;
	head->rec.n_endpoints = 0;
}

static bool queue_urgent(const struct gossip_core *c);

/* Queues an encoded message about m, replacing what it supersedes: a
 * membership message replaces the older membership message, and an alive
 * message (which carries the load) also the pending load message. */
static void enqueue(struct gossip_core *c, struct member *m, enum bkind kind,
		    const struct gossip_msg *msg, bool lazy)
{
	uint8_t buf[GOSSIP_UDP_MAX];
	struct gossip_msg head;
	struct bcast *b;
	bool quiet = !lazy && !queue_urgent(c);	/* the first news queued */
	size_t room = GOSSIP_UDP_MAX - GOSSIP_CRYPTO_OVERHEAD -
		      gossip_envelope_overhead(c->label, c->name);
	int len = gossip_msg_encode(msg, buf, sizeof(buf));
	if (msg->type == GOSSIP_MSG_ALIVE && (len < 0 || (size_t)len > room)) {
		/* too big for a datagram: the head, and pulls fetch the rest */
		head_of(msg, &head);
		msg = &head;
		len = gossip_msg_encode(msg, buf, sizeof(buf));
	}
	if (len < 0 || (size_t)len > room) {
		c->m.queue_dropped++;
		return;
	}
	if (kind == BK_MEMBERSHIP && is_record(msg->type) && m->bc[BK_MEMBERSHIP] &&
	    !is_record(m->bc[BK_MEMBERSHIP]->type) &&
	    msg->rec.incarnation <= m->bc[BK_MEMBERSHIP]->inc)
		return;	/* an accusation it does not refute stays queued (issue 19):
			 * the record change travels with its refutation and by
			 * push-pull */
	for (int k = 0; k < 2; k++) {
		bool replace = k == (int)kind ||
			       (k == BK_LOAD && is_record(msg->type));
		if (m->bc[k] && replace) {
			bcast_unlink(c, m->bc[k]);
			c->m.queue_superseded++;
		}
	}
	b = malloc(sizeof(*b) + (size_t)len);
	if (!b) {
		c->m.queue_dropped++;
		return;
	}
	b->about = m;
	b->id = ++c->bcast_id;
	b->transmits = 0;
	b->kind = (uint8_t)kind;
	b->type = (uint8_t)msg->type;
	b->lazy = lazy;
	b->inc = is_record(msg->type) || msg->type == GOSSIP_MSG_LOAD ?
		 msg->rec.incarnation : msg->incarnation;
	b->len = (uint16_t)len;
	memcpy(b->data, buf, (size_t)len);
	m->bc[kind] = b;
	bucket_push(c, b);
	c->n_bcast++;
	c->n_bcast_member += kind == BK_MEMBERSHIP;
	while (c->n_bcast > c->cfg.queue_max)
		drop_most_sent(c);
	/* News (membership, a factor move) that finds no other news queued
	 * goes out in a gossip round at once, not at the next tick: a hop
	 * then costs the network's latency instead of half a gossip
	 * interval, for the same packets (a round sends only for news). With
	 * news queued already the round is due anyway and batches both, so
	 * a busy large cluster keeps one round per interval. At most 4
	 * rounds per interval. */
	if (quiet)
		c->next_gossip = AS_MIN(c->next_gossip,
					c->last_gossip + AS_MAX(c->cfg.gossip_interval_ms / 4, 1u));
}

static void record_to_msg(const struct member *m, int type, struct gossip_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->type = type;
	msg->rec = m->rec;
	msg->rec.incarnation = type == GOSSIP_MSG_LOAD ? m->load_inc : m->rec.incarnation;
}

static void enqueue_alive(struct gossip_core *c, struct member *m)
{
	struct gossip_msg msg;
	record_to_msg(m, GOSSIP_MSG_ALIVE, &msg);
	enqueue(c, m, BK_MEMBERSHIP, &msg, false);
}

/* lazy: a load record whose factor did not change (utilisation only, a
 * refresh): it rides on packets that go anyway and never makes a gossip
 * round send one. */
static void enqueue_load(struct gossip_core *c, struct member *m, bool lazy)
{
	struct gossip_msg msg;
	record_to_msg(m, GOSSIP_MSG_LOAD, &msg);
	enqueue(c, m, BK_LOAD, &msg, lazy);
}

static void enqueue_accuse(struct gossip_core *c, struct member *m, int type,
			   uint32_t inc, const char *from)
{
	struct gossip_msg msg;
	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	snprintf(msg.target, sizeof(msg.target), "%s", m->rec.name);
	snprintf(msg.from, sizeof(msg.from), "%s", from);
	msg.incarnation = inc;
	enqueue(c, m, BK_MEMBERSHIP, &msg, false);
}

/* ---- packet building ------------------------------------------------- */

struct builder {
	uint8_t buf[GOSSIP_UDP_MAX];
	size_t used, budget;
	const uint8_t *ptr[GOSSIP_MSGS_MAX];
	size_t len[GOSSIP_MSGS_MAX];
	uint8_t type[GOSSIP_MSGS_MAX];
	struct bcast *taken[GOSSIP_MSGS_MAX];
	size_t n, n_taken;
};

static void builder_init(const struct gossip_core *c, struct builder *b)
{
	size_t over = (c->kr && gossip_keyring_count(c->kr) ? GOSSIP_CRYPTO_OVERHEAD : GOSSIP_HDR_LEN) +
		      gossip_envelope_overhead(c->label, c->name);
	b->used = 0;
	b->n = b->n_taken = 0;
	b->budget = GOSSIP_UDP_MAX - over;
}

static bool builder_add(struct builder *b, const struct gossip_msg *msg)
{
	int len;
	if (b->n >= GOSSIP_MSGS_MAX)
		return false;
	len = gossip_msg_encode(msg, b->buf + b->used, b->budget - b->used);
	if (len < 0)
		return false;
	b->ptr[b->n] = b->buf + b->used;
	b->len[b->n] = (size_t)len;
	b->type[b->n++] = (uint8_t)msg->type;
	b->used += (size_t)len;
	return true;
}

/* Fills the rest of the packet from the retransmit queue. */
static void builder_fill(struct gossip_core *c, struct builder *b)
{
	uint32_t limit = retransmit_limit(c);
	int misses = 0;
	for (int k = 0; k < BUCKETS && misses < 8; k++) {
		for (struct bcast *e = c->buckets[k]; e && misses < 8; e = e->next) {
			if (b->n >= GOSSIP_MSGS_MAX || b->budget - b->used < 12)
				goto done;
			if (e->transmits >= entry_limit(c, e, limit))
				continue;
			if (e->len > b->budget - b->used) {
				misses++;
				continue;
			}
			b->ptr[b->n] = e->data;
			b->len[b->n] = e->len;
			b->type[b->n++] = e->type;
			b->used += e->len;
			b->taken[b->n_taken++] = e;
		}
	}
done:;
}

static int outbox_push(struct gossip_core *c, enum gossip_transport tr,
		       const struct sockaddr_storage *to, uint8_t *data, size_t len)
{
	struct gossip_out *o;
	if (AS_GROW(c->out, c->cap_out, c->n_out + 1)) {
		free(data);
		return AS_ENOMEM;
	}
	o = &c->out[c->n_out++];
	o->transport = tr;
	o->to = *to;
	o->data = data;
	o->len = len;
	if (tr == GOSSIP_TX_UDP) {
		c->m.packets_out++;
		c->m.bytes_out += len;
	} else {
		c->m.stream_out++;
		c->m.stream_bytes_out += len;
	}
	return AS_OK;
}

/* The label an envelope carries: none when sealed, for the additional
 * data authenticates it (gossip/crypto.c), which saves its bytes in every
 * packet; plaintext packets need it for the receiver's check. */
static const char *env_label(const struct gossip_core *c)
{
	return gossip_keyring_count(c->kr) ? "" : c->label;
}

/* Wraps the builder's messages in an envelope, seals and queues them;
 * afterwards advances or retires the queue entries that rode along. */
static void builder_send(struct gossip_core *c, struct builder *b,
			 const struct sockaddr_storage *to)
{
	uint8_t plain[GOSSIP_UDP_MAX];
	uint8_t *out = NULL;
	uint32_t limit = retransmit_limit(c);
	int plen, len;

	if (b->n == 0)
		return;
	plen = gossip_envelope_encode(env_label(c), c->name, c->self->rec.incarnation, (uint32_t)c->seq++,
				      b->ptr, b->len, b->n,
				      plain, sizeof(plain));
	if (plen < 0)
		goto cleanup;
	out = malloc(GOSSIP_UDP_MAX);
	if (!out)
		goto cleanup;
	len = gossip_seal(c->kr, c->label, plain, (size_t)plen, out, GOSSIP_UDP_MAX);
	if (len < 0) {
		free(out);
		goto cleanup;
	}
	for (size_t i = 0; i < b->n; i++) {
		int t = b->type[i] < GOSSIP_MSG_TYPE_COUNT ? b->type[i] : 0;
		c->m.msgs_out[t]++;
		c->m.msg_bytes_out[t] += b->len[i];
	}
	c->m.lead_packets[b->type[0] < GOSSIP_MSG_TYPE_COUNT ? b->type[0] : 0]++;
	c->m.lead_bytes[b->type[0] < GOSSIP_MSG_TYPE_COUNT ? b->type[0] : 0] += (size_t)len;
	outbox_push(c, GOSSIP_TX_UDP, to, out, (size_t)len);
cleanup:
	for (size_t i = 0; i < b->n_taken; i++) {
		struct bcast *e = b->taken[i];
		struct bcast *nb = e;
		/* unlink from its bucket without freeing, then re-push */
		uint32_t k = AS_MIN(e->transmits, BUCKETS - 1);
		if (e->prev)
			e->prev->next = e->next;
		else
			c->buckets[k] = e->next;
		if (e->next)
			e->next->prev = e->prev;
		nb->transmits++;
		if (nb->transmits >= entry_limit(c, nb, limit)) {
			if (nb->about && nb->about->bc[nb->kind] == nb)
				nb->about->bc[nb->kind] = NULL;
			c->n_bcast--;
			c->n_bcast_member -= nb->kind == BK_MEMBERSHIP;
			free(nb);
		} else {
			bucket_push(c, nb);
		}
	}
	b->n = b->n_taken = 0;
}

static void send_one(struct gossip_core *c, const struct sockaddr_storage *to,
		     const struct gossip_msg *msg, const struct gossip_msg *extra)
{
	struct builder b;
	builder_init(c, &b);
	if (!builder_add(&b, msg))
		return;
	if (extra)
		builder_add(&b, extra);
	builder_fill(c, &b);
	builder_send(c, &b, to);
}

/* Wraps n encoded messages of one type (cap bytes together, at most) in
 * an envelope, seals it and queues it as a stream frame. */
static void stream_send_n(struct gossip_core *c, const struct sockaddr_storage *to, int type,
			  const uint8_t *const *mp, const size_t *ml, size_t n, size_t cap)
{
	/* The frame header goes in front of the packet. */
	size_t hl = gossip_keyring_count(c->kr) ? GOSSIP_STREAM_HDR_MAX : GOSSIP_STREAM_HDR_PLAIN;
	size_t room = cap + 256 + GOSSIP_CRYPTO_OVERHEAD, len = 0;
	uint8_t *plain = malloc(room), *out = malloc(hl + room);
	int plen, slen;

	for (size_t i = 0; i < n; i++)
		len += ml[i];
	if (!plain || !out)
		goto cleanup;
	plen = gossip_envelope_encode(env_label(c), c->name, c->self->rec.incarnation, (uint32_t)c->seq++,
				      mp, ml, n, plain, room);
	if (plen < 0)
		goto cleanup;
	slen = gossip_seal(c->kr, c->label, plain, (size_t)plen, out + hl, room);
	if (slen < 0 || gossip_stream_hdr_seal(c->kr, c->label, (uint32_t)slen, out, hl) != (int)hl)
		goto cleanup;
	c->m.msgs_out[type] += n;
	c->m.msg_bytes_out[type] += len;
	outbox_push(c, GOSSIP_TX_STREAM, to, out, hl + (size_t)slen);
	out = NULL;
cleanup:
	free(plain);
	free(out);
}

static void stream_send(struct gossip_core *c, const struct sockaddr_storage *to,
			int type, const uint8_t *msg, size_t len, size_t cap)
{
	stream_send_n(c, to, type, &msg, &len, 1, cap);
}

/* A generous estimate of a record's encoded size. */
static size_t record_size_est(const struct gossip_record *r)
{
	return 160 + 96 * (size_t)r->n_endpoints;
}

/* Push-pull: our whole table, capped: self first, then live members,
 * then the others, from a start that moves on whenever a push-pull had
 * to leave members out, so a table over the cap is covered over
 * successive push-pulls instead of always sending the same part.
 * Only a join and its answer carry whole records (full); every other
 * push-pull is a digest, records without their endpoints, and the
 * receiver pulls the endpoints it finds newer (issue 19: a table of 1,000
 * records of 110 endpoints is 4 MB, its digest 60 KB). */
static void send_pushpull(struct gossip_core *c, const struct sockaddr_storage *to,
			  bool reply, bool join, bool full, uint64_t now)
{
	struct gossip_msg msg;
	struct gossip_record *recs = NULL;
	uint8_t *states = NULL, *plain = NULL;
	size_t n = 0, cap = 1024, all;
	int len;

	for (size_t i = 0; i < c->n_members; i++)
		cap += full ? record_size_est(&c->members[i]->rec) : 160;
	cap = AS_MIN(cap, (size_t)c->cfg.pushpull_max_bytes);
	recs = calloc(c->n_members, sizeof(*recs));
	states = calloc(c->n_members, 1);
	plain = malloc(cap);
	if (!recs || !states || !plain)
		goto cleanup;
	recs[n] = c->self->rec;
	states[n++] = (uint8_t)c->self->state;
	for (int pass = 0; pass < 2; pass++)
		for (size_t j = 0; j < c->n_members; j++) {
			struct member *m = c->members[(c->pp_rot + j) % c->n_members];
			if (m == c->self || (pass == 0) != is_live(m))
				continue;
			recs[n] = m->rec;
			states[n++] = (uint8_t)m->state;
		}
	all = n;
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_PUSHPULL;
	msg.pp_reply = reply;
	msg.pp_join = join;
	msg.pp_digest = !full;
	msg.pp_recs = recs;
	msg.pp_states = states;
	for (;;) {
		msg.pp_count = (uint32_t)n;
		len = gossip_msg_encode(&msg, plain, cap - 256);
		if (len >= 0)
			break;
		if (n == 0)
			goto cleanup;
		n = n * 3 / 4;	/* over the cap: send what fits */
	}
	if (n < all && c->n_members)
		c->pp_rot = (c->pp_rot + n) % c->n_members;
	stream_send(c, to, GOSSIP_MSG_PUSHPULL, plain, (size_t)len, cap);
	(void)now;
cleanup:
	free(recs);
	free(states);
	free(plain);
}

/* Answers the pulls of one packet: the whole records as ALIVE messages,
 * as few stream frames as the push-pull cap allows (one connection
 * instead of one per record, so a burst of pulls after a digest does not
 * run into the receiver's connection caps). */
static void send_records(struct gossip_core *c, struct member *const *ms, size_t n,
			 const struct sockaddr_storage *to)
{
	uint8_t *bufs[GOSSIP_MSGS_MAX];
	size_t lens[GOSSIP_MSGS_MAX], k = 0, total = 0;

	for (size_t i = 0; i <= n; i++) {
		struct gossip_msg msg;
		size_t cap;
		int len;
		if (k && (i == n || total + record_size_est(&ms[i]->rec) >
					    (size_t)c->cfg.pushpull_max_bytes - 1024)) {
			stream_send_n(c, to, GOSSIP_MSG_ALIVE, (const uint8_t *const *)bufs, lens, k,
				      total);
			c->m.pulls_answered += k;
			while (k)
				free(bufs[--k]);
			total = 0;
		}
		if (i == n)
			break;
		cap = record_size_est(&ms[i]->rec);
		bufs[k] = malloc(cap);
		if (!bufs[k])
			continue;
		memset(&msg, 0, sizeof(msg));
		msg.type = GOSSIP_MSG_ALIVE;
		msg.rec = ms[i]->rec;
		len = gossip_msg_encode(&msg, bufs[k], cap);
		if (len < 0) {
			free(bufs[k]);
			continue;
		}
		lens[k++] = (size_t)len;
		total += (size_t)len;
	}
}

/* ---- suspicion ---------------------------------------------------------- */

static uint64_t susp_timeout(const struct gossip_core *c, const struct member *m)
{
	uint32_t k = c->cfg.suspicion_mult > 2 ? c->cfg.suspicion_mult - 2 : 0;
	double frac, t;
	if (k == 0 || m->n_confirm == 0)
		return m->n_confirm >= k ? m->susp_min : m->susp_max;
	frac = log((double)m->n_confirm + 1) / log((double)k + 1);
	t = (double)m->susp_max - frac * (double)(m->susp_max - m->susp_min);
	return (uint64_t)AS_MAX(t, (double)m->susp_min);
}

static void start_suspicion(struct gossip_core *c, struct member *m, const char *from,
			    uint64_t now)
{
	size_t n = AS_MAX(gossip_core_live_count(c), (size_t)1);
	double base = (double)c->cfg.suspicion_mult * AS_MAX(1.0, log10((double)n)) *
		      c->cfg.probe_interval_ms;
	if (base < c->cfg.suspicion_min_ms)
		base = c->cfg.suspicion_min_ms;
	m->susp_start = now;
	m->susp_min = (uint64_t)base;
	m->susp_max = (uint64_t)(base * AS_MAX(c->cfg.suspicion_max_mult, 1u));
	m->n_confirm = 0;
	m->susp_extra = 0;
	m->final_check = false;
	m->susp_told = 0;
	m->confirmers[0] = name_hash(from);
	m->susp_deadline = now + susp_timeout(c, m);
	if (!AS_GROW(c->suspects, c->cap_suspects, c->n_suspects + 1))
		c->suspects[c->n_suspects++] = m;
}

/* Returns true if from is a new, independent confirmation. */
static bool confirm_suspicion(struct gossip_core *c, struct member *m, const char *from)
{
	uint64_t h = name_hash(from);
	uint32_t k = c->cfg.suspicion_mult > 2 ? c->cfg.suspicion_mult - 2 : 0;
	for (uint32_t i = 0; i <= m->n_confirm && i < MAX_CONFIRM; i++)
		if (m->confirmers[i] == h)
			return false;
	if (m->n_confirm >= k || m->n_confirm + 1 >= MAX_CONFIRM)
		return false;
	m->confirmers[++m->n_confirm] = h;
	if (!m->final_check)
		m->susp_deadline = m->susp_start + m->susp_extra + susp_timeout(c, m);
	return true;
}

/* ---- applying messages ------------------------------------------------- */

/* A suspect that we hear from is alive but may not know it is suspected
 * (the gossip about it can be lost or superseded): tell it directly, at
 * most every SUSP_TELL_MS, so that it refutes (issue 19). */
#define SUSP_TELL_MS 500

static void tell_suspect(struct gossip_core *c, struct member *m, uint64_t now)
{
	struct gossip_msg msg;
	m->susp_told = now ? now : 1;
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_SUSPECT;
	snprintf(msg.target, sizeof(msg.target), "%s", m->rec.name);
	snprintf(msg.from, sizeof(msg.from), "%s", c->name);
	msg.incarnation = m->rec.incarnation;
	send_one(c, &m->rec.addr, &msg, NULL);
}

/* Sends our record straight to a node that accuses us: accusers hold the
 * earliest suspicion deadlines, and gossip alone might reach them late.
 * At most REFUTE_DIRECT accusers per incarnation. */
static void tell_accuser(struct gossip_core *c, const char *accuser)
{
	struct member *s = c->self, *a;
	struct gossip_msg msg;
	struct builder b;
	if (!accuser || c->left || !strcmp(accuser, c->name) || c->n_accusers >= REFUTE_DIRECT)
		return;
	for (uint32_t i = 0; i < c->n_accusers; i++)
		if (!strcmp(c->accusers[i], accuser))
			return;
	snprintf(c->accusers[c->n_accusers++], GOSSIP_NAME_MAX + 1, "%s", accuser);
	a = find(c, accuser);
	if (!a || !is_live(a))
		return;
	record_to_msg(s, GOSSIP_MSG_ALIVE, &msg);
	builder_init(c, &b);
	if (!builder_add(&b, &msg)) {
		struct gossip_msg head;
		head_of(&msg, &head);
		if (!builder_add(&b, &head))
			return;
	}
	builder_send(c, &b, &a->rec.addr);
}

static void refute(struct gossip_core *c, uint32_t accused_inc, const char *accuser,
		   uint64_t now)
{
	struct member *s = c->self;
	if (c->left)
		return;
	s->rec.incarnation = AS_MAX(s->rec.incarnation + 1, accused_inc + 1);
	s->load_inc = s->ep_inc = s->rec.incarnation;
	c->n_accusers = 0;
	c->m.self_refutes++;
	lhm_apply(c, 1);
	enqueue_alive(c, s);
	notify(c, s, s->state, 0, now);
	tell_accuser(c, accuser);
}

static void apply_suspect(struct gossip_core *c, const char *name, uint32_t inc,
			  const char *from, uint64_t now)
{
	struct member *m = find(c, name);
	if (!m)
		return;
	if (m == c->self) {
		if (inc >= m->rec.incarnation)
			refute(c, inc, from, now);
		else
			tell_accuser(c, from);
		return;
	}
	if (inc < m->rec.incarnation || !is_live(m))
		return;
	if (m->state == GOSSIP_SUSPECT && inc == m->rec.incarnation) {
		if (confirm_suspicion(c, m, from))
			enqueue_accuse(c, m, GOSSIP_MSG_SUSPECT, inc, from);
		return;
	}
	if (m->state == GOSSIP_SUSPECT) {
		/* It refuted the old suspicion: this is a new one, with a new
		 * timer, not a confirmation of the old. */
		m->rec.incarnation = inc;
		suspects_remove(c, m);	/* start_suspicion adds it back */
		start_suspicion(c, m, from, now);
		c->m.suspicions_raised++;
		notify(c, m, GOSSIP_SUSPECT, GOSSIP_CHANGE_STATE, now);
		enqueue_accuse(c, m, GOSSIP_MSG_SUSPECT, inc, from);
		return;
	}
	m->rec.incarnation = inc;
	start_suspicion(c, m, from, now);
	c->m.suspicions_raised++;
	set_state(c, m, GOSSIP_SUSPECT, now);
	enqueue_accuse(c, m, GOSSIP_MSG_SUSPECT, inc, from);
}

static void apply_dead(struct gossip_core *c, const char *name, uint32_t inc,
		       const char *from, uint64_t now)
{
	struct member *m = find(c, name);
	bool leave = strcmp(name, from) == 0;
	if (!m)
		return;
	if (m == c->self) {
		if (!leave && inc >= m->rec.incarnation)
			refute(c, inc, from, now);
		return;
	}
	if (inc < m->rec.incarnation || !is_live(m))
		return;
	m->rec.incarnation = inc;
	set_state(c, m, leave ? GOSSIP_LEFT : GOSSIP_DEAD, now);
	enqueue_accuse(c, m, GOSSIP_MSG_DEAD, inc, from);
}

/* Pulls to one node gathered into as few packets as they fit (a digest
 * push-pull can find many records newer at once). */
struct pull_batch {
	struct builder b;
	struct sockaddr_storage to;
};

static void batch_flush(struct gossip_core *c, struct pull_batch *pb)
{
	builder_send(c, &pb->b, &pb->to);
	builder_init(c, &pb->b);
}

/* Asks `to` for m's record when (inc, ver) is newer than the endpoints we
 * hold and newer than what a pull in flight asked for; a pull that times
 * out is repeated to m itself by the tick. */
static void want_pull(struct gossip_core *c, struct member *m, uint32_t inc, uint64_t ver,
		      const struct sockaddr_storage *to, uint64_t now)
{
	struct gossip_msg msg;
	struct pull_batch *pb = c->batch;
	if (m == c->self || c->left || !newer(inc, ver, m->ep_inc, m->rec.ep_version))
		return;
	if (m->pulling && !newer(inc, ver, m->pull_inc, m->pull_ver))
		return;
	if (!m->pulling) {
		if (AS_GROW(c->pulls, c->cap_pulls, c->n_pulls + 1))
			return;
		c->pulls[c->n_pulls++] = m;
		m->pulling = true;
	}
	m->pull_inc = inc;
	m->pull_ver = ver;
	m->pull_tries = 0;
	m->pull_deadline = now + PULL_TIMEOUT_MS;
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_PULL;
	snprintf(msg.rec.name, sizeof(msg.rec.name), "%s", m->rec.name);
	msg.rec.incarnation = inc;
	msg.rec.ep_version = ver;
	c->m.pulls_sent++;
	if (pb && as_sockaddr_equal(to, &pb->to)) {
		if (builder_add(&pb->b, &msg))
			return;
		batch_flush(c, pb);
		if (builder_add(&pb->b, &msg))
			return;
	}
	send_one(c, to, &msg, NULL);
}

/* Pulls that ran out: ask the record's owner, which holds its newest
 * version, up to PULL_TRIES times; then wait for news (a newer head or
 * the next push-pull). */
static void pulls_expire(struct gossip_core *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_pulls;) {
		struct member *m = c->pulls[i];
		struct gossip_msg msg;
		if (!newer(m->pull_inc, m->pull_ver, m->ep_inc, m->rec.ep_version) ||
		    !is_live(m) || c->left) {
			pulls_remove(c, m);	/* swaps another into i */
			continue;
		}
		if (m->pull_deadline > now) {
			i++;
			continue;
		}
		c->m.pulls_timed_out++;
		if (m->pull_tries >= PULL_TRIES) {
			pulls_remove(c, m);
			continue;
		}
		m->pull_tries++;
		m->pull_deadline = now + PULL_TIMEOUT_MS * (m->pull_tries + 1);
		memset(&msg, 0, sizeof(msg));
		msg.type = GOSSIP_MSG_PULL;
		snprintf(msg.rec.name, sizeof(msg.rec.name), "%s", m->rec.name);
		msg.rec.incarnation = m->pull_inc;
		msg.rec.ep_version = m->pull_ver;
		send_one(c, &m->rec.addr, &msg, NULL);
		c->m.pulls_sent++;
		i++;
	}
}

/* A pull: the member named, if we hold the endpoints asked for (or
 * newer), joins the answer to the packet (at most one per member). */
static void answer_pull(struct gossip_core *c, const struct gossip_msg *msg,
			struct member **ans, size_t *n)
{
	struct member *m = find(c, msg->rec.name);
	if (!m || newer(msg->rec.incarnation, msg->rec.ep_version, m->ep_inc, m->rec.ep_version))
		return;	/* we do not hold it (any more): the puller asks the owner */
	for (size_t i = 0; i < *n; i++)
		if (ans[i] == m)
			return;
	if (*n < GOSSIP_MSGS_MAX)
		ans[(*n)++] = m;
}

/* apply_alive for a member we do not know: it joins, holding no
 * endpoints yet when the claim is a head (they are pulled). */
static unsigned alive_join(struct gossip_core *c, const struct gossip_record *rec,
			   uint64_t now, bool rebroadcast,
			   const struct sockaddr_storage *head_from)
{
	struct gossip_record r = *rec;
	struct member *m;
	if (head_from) {
		r.ep_version = 0;	/* none held yet */
		r.endpoints = NULL;
		r.n_endpoints = 0;
	}
	m = member_add(c, &r, now);
	if (!m)
		return 0;
	notify(c, m, GOSSIP_ALIVE, GOSSIP_CHANGE_JOIN, now);
	if (head_from)
		want_pull(c, m, rec->incarnation, rec->ep_version, head_from, now);
	else if (rebroadcast)
		enqueue_alive(c, m);
	return GOSSIP_CHANGE_JOIN;
}

/* A newer incarnation of a known member: it is alive (a suspicion is
 * refuted), maybe at a new address. Returns the change flags. */
static unsigned alive_new_incarnation(struct gossip_core *c, struct member *m,
				      const struct gossip_record *rec, uint64_t now)
{
	enum gossip_state old = m->state;
	unsigned what = GOSSIP_CHANGE_STATE;
	if (!as_sockaddr_equal(&rec->addr, &m->rec.addr)) {
		m->rec.addr = rec->addr;
		m->rp_init = false;	/* a new process: new sequence space */
		what |= GOSSIP_CHANGE_ADDR;
	}
	m->rec.incarnation = rec->incarnation;
	if (old == GOSSIP_SUSPECT)
		c->m.suspicions_refuted++;
	if (old != GOSSIP_ALIVE) {
		set_state(c, m, GOSSIP_ALIVE, now);
	}
	return what;
}

/* The zone of a full record (a head, or a digest entry, carries none:
 * the whole record pulled after it does). The zone is fixed per
 * incarnation; a record relayed by a peer that predates it carries none,
 * which does not clear what we know. Returns the change flags. */
static unsigned alive_zone(struct member *m, const struct gossip_record *rec)
{
	unsigned what = 0;
	if ((rec->incarnation > m->zone_inc ||
	     (rec->incarnation == m->zone_inc && rec->zone[0])) &&
	    strcmp(rec->zone, m->rec.zone) != 0) {
		memcpy(m->rec.zone, rec->zone, sizeof(m->rec.zone));
		what |= GOSSIP_CHANGE_ENDPOINTS;	/* answers depend on it */
	}
	if (rec->incarnation > m->zone_inc)
		m->zone_inc = rec->incarnation;
	return what;
}

/* An alive claim with a record: a full one, or with head_from set a head
 * (no endpoints; newer endpoints are pulled from head_from and the record
 * is relayed only once we hold them). Returns the change flags. */
static unsigned apply_alive(struct gossip_core *c, const struct gossip_record *rec,
			    uint64_t now, bool rebroadcast,
			    const struct sockaddr_storage *head_from)
{
	struct member *m = find(c, rec->name);
	enum gossip_state old;
	unsigned what = 0;
	bool pull = false;

	if (!as_sockaddr_valid(&rec->addr))
		return 0;
	if (m == c->self) {
		if (rec->incarnation > m->rec.incarnation ||
		    (rec->incarnation == m->rec.incarnation && !as_sockaddr_equal(&rec->addr, &m->rec.addr)))
			refute(c, rec->incarnation, NULL, now);
		return 0;
	}
	if (!m)
		return alive_join(c, rec, now, rebroadcast, head_from);
	old = m->state;
	if (rec->incarnation < m->rec.incarnation)
		return 0;
	if (rec->incarnation == m->rec.incarnation && !is_live(m))
		return 0;
	if (rec->incarnation > m->rec.incarnation)
		what |= alive_new_incarnation(c, m, rec, now);
	if (!head_from)
		what |= alive_zone(m, rec);
	if (newer(rec->incarnation, rec->version, m->load_inc, m->rec.version)) {
		m->load_inc = rec->incarnation;
		m->rec.version = rec->version;
		m->rec.load = rec->load;
		what |= GOSSIP_CHANGE_LOAD;
	}
	if (newer(rec->incarnation, rec->ep_version, m->ep_inc, m->rec.ep_version)) {
		if (head_from) {
			pull = true;
			want_pull(c, m, rec->incarnation, rec->ep_version, head_from, now);
		} else if (set_endpoints(&m->rec, rec->endpoints, endpoints_kept(c, rec)) == AS_OK) {
			m->ep_inc = rec->incarnation;
			m->rec.ep_version = rec->ep_version;
			what |= GOSSIP_CHANGE_ENDPOINTS;
			if (m->pulling && !newer(m->pull_inc, m->pull_ver, m->ep_inc,
						 m->rec.ep_version)) {
				c->m.pulls_done++;
				pulls_remove(c, m);
			}
		}
	}
	if (what) {
		notify(c, m, old, what & ~(unsigned)GOSSIP_CHANGE_STATE, now);
		if (rebroadcast && !pull)
			enqueue_alive(c, m);
	}
	return what;
}

static void apply_load(struct gossip_core *c, const struct gossip_record *rec, uint64_t now)
{
	struct member *m = find(c, rec->name);
	enum gossip_state old;
	if (!m || m == c->self || !is_live(m))
		return;
	if (!newer(rec->incarnation, rec->version, m->load_inc, m->rec.version))
		return;
	old = m->state;
	if (rec->incarnation > m->rec.incarnation) {
		/* Only the node itself raises its incarnation: proof of life. */
		m->rec.incarnation = rec->incarnation;
		if (old == GOSSIP_SUSPECT) {
			c->m.suspicions_refuted++;
			set_state(c, m, GOSSIP_ALIVE, now);
		}
	}
	bool moved = rec->load.factor != m->rec.load.factor || rec->load.cpus != m->rec.load.cpus;
	m->load_inc = rec->incarnation;
	m->rec.version = rec->version;
	m->rec.load = rec->load;
	notify(c, m, old, GOSSIP_CHANGE_LOAD, now);
	enqueue_load(c, m, !moved);
}

static void merge_pushpull(struct gossip_core *c, const struct gossip_msg *msg,
			   const char *sender, uint64_t now)
{
	struct pull_batch *pb = NULL;
	if (msg->pp_digest && (pb = malloc(sizeof(*pb))) != NULL) {
		builder_init(c, &pb->b);
		memset(&pb->to, 0, sizeof(pb->to));
		c->batch = pb;
	}
	for (uint32_t i = 0; i < msg->pp_count; i++) {
		const struct gossip_record *r = &msg->pp_recs[i];
		struct member *m = find(c, r->name), *s;
		/* A digest's records are heads: newer endpoints are pulled from
		 * the sender (its own record comes first, so it is known by
		 * now), else from their owner. */
		const struct sockaddr_storage *hf = NULL;
		if (msg->pp_digest)
			hf = (s = find(c, sender)) != NULL && s != c->self ? &s->rec.addr : &r->addr;
		if (pb && hf && !pb->b.n)
			pb->to = *hf;	/* the sender, as soon as it is known */
		switch (msg->pp_states[i]) {
		case GOSSIP_ALIVE:
			/* tell others about members new to us, as a join would */
			apply_alive(c, r, now, m == NULL, hf);
			break;
		case GOSSIP_LEFT:
			if (m && m != c->self) {
				apply_alive(c, r, now, false, hf);
				apply_dead(c, r->name, r->incarnation, r->name, now);
			}
			break;
		default:
			/* Remote suspicion or death is only a suspicion here. */
			if (m && m != c->self)
				apply_alive(c, r, now, false, hf);
			apply_suspect(c, r->name, r->incarnation, sender, now);
			break;
		}
	}
	if (pb) {
		if (pb->b.n)
			builder_send(c, &pb->b, &pb->to);
		c->batch = NULL;
		free(pb);
	}
}

/* ---- probing ------------------------------------------------------------ */

static size_t pick_random(struct gossip_core *c, struct member **out, size_t k,
			  const struct member *exclude, uint64_t now, bool with_dead)
{
	size_t n = 0;
	if (c->n_members <= 1)
		return 0;
	for (size_t tries = 0; tries < 3 * k + 8 && n < k; tries++) {
		struct member *m = c->members[rng_below(c, c->n_members)];
		bool ok = m != c->self && m != exclude;
		if (ok && !is_live(m))
			ok = with_dead && m->state == GOSSIP_DEAD &&
			     now - m->state_since < c->cfg.gossip_to_dead_ms;
		for (size_t j = 0; ok && j < n; j++)
			if (out[j] == m)
				ok = false;
		if (ok)
			out[n++] = m;
	}
	return n;
}

static void probe_finish(struct gossip_core *c, uint64_t now)
{
	struct probe *p = &c->probe;
	struct member *t = p->target;
	if (!p->active)
		return;
	p->active = false;
	if (p->acked || !t)
		return;
	if (p->expected_nacks > 0) {
		if (p->nacks < p->expected_nacks)
			lhm_apply(c, (int)(p->expected_nacks - p->nacks));
	} else {
		lhm_apply(c, 1);
	}
	if (t->rec.incarnation != p->inc)
		return;	/* it refuted meanwhile: alive after our probe was sent */
	if (t->state == GOSSIP_ALIVE)
		apply_suspect(c, t->rec.name, t->rec.incarnation, c->name, now);
	else if (t->state == GOSSIP_SUSPECT && confirm_suspicion(c, t, c->name))
		enqueue_accuse(c, t, GOSSIP_MSG_SUSPECT, t->rec.incarnation, c->name);
}

/* The fine clock is used only when it was set for about this now. */
static bool clock_fine(const struct gossip_core *c, uint64_t now)
{
	uint64_t ms = c->clock_us / 1000;
	return c->clock_us && ms + 100 >= now && ms <= now + 100;
}

static bool coord_wanted(const struct member *t, uint64_t now)
{
	uint64_t every = COORD_REFRESH_MIN_MS << AS_MIN(t->coord_fetches, 6u);

	if (!t->has_coord)
		return true;
	return now - t->coord_at >= AS_MIN(every, (uint64_t)COORD_REFRESH_MS);
}

/* A direct ack to our probe (from the target itself, not relayed): one
 * RTT sample, and the target's coordinate when it sent one. */
static void coord_sample(struct gossip_core *c, const struct gossip_msg *m,
			 const char *sender, uint64_t now)
{
	struct probe *p = &c->probe;
	struct member *t = p->target;
	bool fine = clock_fine(c, now);
	uint64_t at = fine ? c->clock_us : now * 1000;
	double rtt;

	if (m->coord_bad)
		c->m.coords_rejected++;
	if (!p->active || p->seq != m->seq || p->acked || !t ||
	    strcmp(t->rec.name, sender) != 0 || fine != p->sent_fine || at < p->sent_us)
		return;
	if (m->has_coord) {
		t->coord = m->coord;
		t->has_coord = true;
		t->coord_at = now;
		t->coord_fetches++;
	}
	if (!t->has_coord)
		return;
	/* Without the fine clock an ack within the same millisecond
	 * took half of one, on average. */
	rtt = at > p->sent_us ? (double)(at - p->sent_us) / 1000.0 : 0.5;
	rtt = gossip_coord_filter(t->rtt_win, &t->rtt_n, rtt);
	if (gossip_coord_update(&c->coord, &t->coord, rtt) == AS_OK)
		c->m.rtt_samples++;
}

/* Where in its slot this node probes: a fixed offset from the name's
 * hash, in the slot's first half. With every node at the slot's start,
 * a cluster's pings and acks all left in the same millisecond: on one
 * shared machine (the 22-node soak) 455 suspicions in 10 minutes, every
 * one refuted. The slot a probe belongs to does not change. */
static uint64_t slot_phase(const struct gossip_core *c)
{
	uint64_t half = c->cfg.probe_interval_ms / 2;
	return half ? as_hash_mix64(c->self->hash) % half : 0;
}

uint64_t gossip_core_probe_phase(const struct gossip_core *c)
{
	return slot_phase(c);
}

/* This node's probe time in the next slot whose probe time is at or
 * after now. */
static uint64_t slot_next(const struct gossip_core *c, uint64_t now)
{
	uint64_t T = c->cfg.probe_interval_ms, ph = slot_phase(c);
	uint64_t into = (now + c->wall_off) % T;	/* of this slot */
	return into <= ph ? now + (ph - into) : now + (T - into) + ph;
}

/* Coordinated probing: slots of probe_interval_ms on the wall clock
 * (from seq_base), the same on every node. In slot k the node at ring
 * position p probes position p + 1 + (k mod (L - 1)): a shift, so every
 * live member is probed by exactly one node in every slot (when the
 * views and clocks agree) and each node still probes every other member
 * once per L - 1 slots. A crashed member is then probed in the next slot,
 * not after the exponential wait of independent random schedules (p99
 * 4.6 intervals), which is what lets the interval grow without crash
 * detection passing 3 s. Views or clocks that disagree only make the
 * schedule as random as independent ones. */
static void probe_start(struct gossip_core *c, uint64_t now)
{
	uint64_t T = c->cfg.probe_interval_ms, slot;
	struct member *t;
	struct gossip_msg ping, buddy;

	probe_finish(c, now);
	/* A node less healthy (Lifeguard) skips lhm slots. */
	c->next_probe = now - (now + c->wall_off) % T + scaled(c, c->cfg.probe_interval_ms) +
			slot_phase(c);
	if (c->left)
		return;
	if (c->ring_dirty)
		ring_rebuild(c);
	if (c->n_ring < 2)
		return;
	slot = (now + c->wall_off) / T;
	t = c->ring[(c->ring_self + 1 + slot % (c->n_ring - 1)) % c->n_ring];
	if (t == c->self)
		return;
	memset(&c->probe, 0, sizeof(c->probe));
	c->probe.active = true;
	c->probe.target = t;
	c->probe.inc = t->rec.incarnation;
	c->probe.seq = ++c->probe_seq;
	c->probe.ack_deadline = now + scaled(c, c->cfg.probe_timeout_ms);
	c->probe.end = c->next_probe;
	c->probe.sent_fine = clock_fine(c, now);
	c->probe.sent_us = c->probe.sent_fine ? c->clock_us : now * 1000;
	memset(&ping, 0, sizeof(ping));
	ping.type = GOSSIP_MSG_PING;
	ping.seq = c->probe.seq;
	ping.want_coord = coord_wanted(t, now);
	c->m.coord_bytes_out += ping.want_coord;	/* the flags field */
	snprintf(ping.target, sizeof(ping.target), "%s", t->rec.name);
	if (t->state == GOSSIP_SUSPECT) {
		/* Buddy system: the suspect learns it at once and can refute. */
		memset(&buddy, 0, sizeof(buddy));
		buddy.type = GOSSIP_MSG_SUSPECT;
		snprintf(buddy.target, sizeof(buddy.target), "%s", t->rec.name);
		snprintf(buddy.from, sizeof(buddy.from), "%s", c->name);
		buddy.incarnation = t->rec.incarnation;
		send_one(c, &t->rec.addr, &ping, &buddy);
	} else {
		send_one(c, &t->rec.addr, &ping, NULL);
	}
}

static void probe_indirect(struct gossip_core *c, uint64_t now)
{
	struct member *peers[16];
	struct gossip_msg req;
	struct probe *p = &c->probe;
	size_t n = pick_random(c, peers, AS_MIN(c->cfg.indirect_checks, 16u), p->target, now, false);
	p->indirect = true;
	memset(&req, 0, sizeof(req));
	req.type = GOSSIP_MSG_PING_REQ;
	req.seq = p->seq;
	snprintf(req.target, sizeof(req.target), "%s", p->target->rec.name);
	req.addr = p->target->rec.addr;
	req.nack = true;
	for (size_t i = 0; i < n; i++) {
		if (peers[i]->state != GOSSIP_ALIVE)
			continue;
		send_one(c, &peers[i]->rec.addr, &req, NULL);
		p->expected_nacks++;
	}
}

/* Before declaring a suspect dead we probe it once more, directly and
 * through k peers at once. Gossip may have lost its refutation on the way
 * to us (it stalled and came back); an ack then clears our suspicion
 * locally, and a crashed node costs us two probe timeouts more. */
static void final_check(struct gossip_core *c, struct member *m, uint64_t now)
{
	struct member *peers[16];
	struct gossip_msg ping, req;
	size_t n;
	m->final_check = true;
	m->final_seq = ++c->probe_seq;
	m->susp_deadline = now + 2 * scaled(c, c->cfg.probe_timeout_ms);
	memset(&ping, 0, sizeof(ping));
	ping.type = GOSSIP_MSG_PING;
	ping.seq = m->final_seq;
	snprintf(ping.target, sizeof(ping.target), "%s", m->rec.name);
	send_one(c, &m->rec.addr, &ping, NULL);
	memset(&req, 0, sizeof(req));
	req.type = GOSSIP_MSG_PING_REQ;
	req.seq = m->final_seq;
	snprintf(req.target, sizeof(req.target), "%s", m->rec.name);
	req.addr = m->rec.addr;
	n = pick_random(c, peers, AS_MIN(c->cfg.indirect_checks, 16u), m, now, false);
	for (size_t i = 0; i < n; i++)
		if (peers[i]->state == GOSSIP_ALIVE)
			send_one(c, &peers[i]->rec.addr, &req, NULL);
}

static void handle_ack(struct gossip_core *c, uint32_t seq, bool nack, uint64_t now)
{
	struct probe *p = &c->probe;
	for (size_t i = 0; i < c->n_suspects && !nack; i++) {
		struct member *m = c->suspects[i];
		if (m->final_check && m->final_seq == seq) {
			c->m.suspicions_cleared++;
			set_state(c, m, GOSSIP_ALIVE, now);
			return;
		}
	}
	if (p->active && p->seq == seq) {
		if (nack) {
			p->nacks++;
		} else if (!p->acked) {
			p->acked = true;
			lhm_apply(c, -1);
		}
		return;
	}
	for (size_t i = 0; i < c->n_relays; i++) {
		struct relay *r = &c->relays[i];
		if (r->local_seq != seq || nack)
			continue;
		struct gossip_msg ack;
		memset(&ack, 0, sizeof(ack));
		ack.type = GOSSIP_MSG_ACK;
		ack.seq = r->orig_seq;
		send_one(c, &r->requester, &ack, NULL);
		c->relays[i] = c->relays[--c->n_relays];
		return;
	}
}

static void handle_ping_req(struct gossip_core *c, const struct gossip_msg *m,
			    const struct sockaddr_storage *from, uint64_t now)
{
	struct gossip_msg ping;
	struct relay *r;
	if (!as_sockaddr_valid(&m->addr) || c->n_relays >= 1024)
		return;
	if (AS_GROW(c->relays, c->cap_relays, c->n_relays + 1))
		return;
	r = &c->relays[c->n_relays++];
	r->local_seq = ++c->probe_seq;
	r->orig_seq = m->seq;
	r->requester = *from;
	r->deadline = now + c->cfg.probe_timeout_ms;
	r->nack = m->nack;
	memset(&ping, 0, sizeof(ping));
	ping.type = GOSSIP_MSG_PING;
	ping.seq = r->local_seq;
	snprintf(ping.target, sizeof(ping.target), "%s", m->target);
	send_one(c, &m->addr, &ping, NULL);
}

/* ---- replay window -------------------------------------------------------- */

/* seq32 is the low 32 bits of the sender's counter (4 bytes a packet
 * fewer than the whole): it is placed in the 64-bit space of the window
 * as the value nearest the window's top (serial number arithmetic, RFC
 * 1982), so a counter that crosses a multiple of 2^32 goes on, and a
 * packet recorded more than 2^31 packets of its sender ago would pass as
 * new (years at the probe rate). */
static bool replay_ok(struct member *m, uint32_t inc, uint64_t seq32)
{
	uint64_t d, seq = (uint32_t)seq32;
	if (m->rp_init)
		seq = m->rp_top + (uint64_t)(int64_t)(int32_t)((uint32_t)seq32 - (uint32_t)m->rp_top);
	if (m->rp_init && inc > m->rp_inc && seq <= m->rp_top)
		m->rp_init = false;	/* a new process: its sequence restarted */
	if (m->rp_init && inc < m->rp_inc && seq > m->rp_top)
		return false;		/* an old process may not move us forward */
	if (inc > m->rp_inc || !m->rp_init)
		m->rp_inc = inc;
	if (!m->rp_init) {
		m->rp_init = true;
		m->rp_top = seq;
		memset(m->rp_bits, 0, sizeof(m->rp_bits));
		m->rp_bits[0] = 1;
		return true;
	}
	if (seq > m->rp_top) {
		d = seq - m->rp_top;
		if (d >= REPLAY_WINDOW) {
			memset(m->rp_bits, 0, sizeof(m->rp_bits));
		} else {
			/* shift the bitmap left by d: bit i means top - i seen */
			for (int w = REPLAY_WINDOW / 64 - 1; w >= 0; w--) {
				uint64_t v = 0;
				int src = w - (int)(d / 64);
				unsigned sh = (unsigned)(d % 64);
				if (src >= 0) {
					v = m->rp_bits[src] << sh;
					if (sh && src > 0)
						v |= m->rp_bits[src - 1] >> (64 - sh);
				}
				m->rp_bits[w] = v;
			}
		}
		m->rp_top = seq;
		m->rp_bits[0] |= 1;
		return true;
	}
	d = m->rp_top - seq;
	if (d >= REPLAY_WINDOW)
		return false;
	if (m->rp_bits[d / 64] & (1ull << (d % 64)))
		return false;
	m->rp_bits[d / 64] |= 1ull << (d % 64);
	return true;
}

/* ---- public entry points -------------------------------------------------- */

int gossip_core_new(const struct gossip_config *cfg, struct gossip_keyring *kr,
		    uint64_t now, struct gossip_core **out)
{
	struct gossip_core *c;
	struct gossip_record self;
	int rc = AS_ENOMEM;

	*out = NULL;
	if (!cfg->name || !*cfg->name || strlen(cfg->name) > GOSSIP_NAME_MAX ||
	    !cfg->label || strlen(cfg->label) > GOSSIP_LABEL_MAX || !as_sockaddr_valid(&cfg->addr) ||
	    cfg->probe_interval_ms == 0 || cfg->gossip_interval_ms == 0 || cfg->lhm_max == 0 ||
	    cfg->reconnect_interval_ms == 0 ||
	    cfg->pushpull_max_bytes < 4096 || cfg->pushpull_max_bytes > (256u << 20) ||
	    cfg->queue_max == 0 || cfg->stream_max_conns == 0 ||
	    cfg->max_endpoints == 0 || cfg->max_endpoints > GOSSIP_ENDPOINTS_WIRE_MAX ||
	    cfg->stream_max_per_source == 0 || cfg->stream_source_prefix > 128 ||
	    cfg->stream_hdr_timeout_ms == 0 || cfg->stream_timeout_ms == 0)
		return AS_ECONFIG;
	if ((!kr || gossip_keyring_count(kr) == 0) && !cfg->plaintext)
		return AS_ECONFIG;	/* plaintext only when asked for */
	c = calloc(1, sizeof(*c));
	if (!c)
		return AS_ENOMEM;
	c->cfg = *cfg;
	snprintf(c->name, sizeof(c->name), "%s", cfg->name);
	snprintf(c->label, sizeof(c->label), "%s", cfg->label);
	c->cfg.name = c->name;
	c->cfg.label = c->label;
	c->cfg.zone = NULL;	/* the caller's; self's record holds a copy */
	c->rng = cfg->seed;
	gossip_coord_self_init(&c->coord, cfg->seed ^ 0x766976616c6469ull);
	c->seq = cfg->seq_base;
	c->hash_cap = 64;
	c->hash = calloc(c->hash_cap, sizeof(*c->hash));
	c->plain_cap = GOSSIP_UDP_MAX;
	c->plain = malloc(c->plain_cap);
	if (!c->hash || !c->plain)
		goto fail;
	memset(&self, 0, sizeof(self));
	snprintf(self.name, sizeof(self.name), "%s", cfg->name);
	snprintf(self.zone, sizeof(self.zone), "%s", cfg->zone ? cfg->zone : "");
	self.addr = cfg->addr;
	self.incarnation = cfg->incarnation;
	self.version = 1;
	self.ep_version = 1;
	c->self = member_add(c, &self, now);
	if (!c->self)
		goto fail;
	c->cfg.zone = c->self->rec.zone;
	c->kr = kr;
	/* anysteerd's seq_base is the wall clock in us (the sim's, its
	 * clock): the probe slots' common time. */
	c->wall_off = cfg->seq_base / 1000 - now;
	c->next_probe = slot_next(c, now);
	c->next_gossip = now + rng_below(c, cfg->gossip_interval_ms);
	c->next_pushpull = now + cfg->pushpull_interval_ms / 2 + rng_below(c, cfg->pushpull_interval_ms);
	c->next_rejoin = now + cfg->rejoin_interval_ms;
	c->next_reconnect = now + cfg->reconnect_interval_ms;
	c->next_housekeep = now + HOUSEKEEP_MS;
	c->gossiped_factor = -1;
	c->load_tokens = cfg->load_burst;
	c->load_tokens_at = now;
	*out = c;
	return AS_OK;
fail:
	c->kr = NULL;
	gossip_core_free(c);
	return rc;
}

void gossip_core_free(struct gossip_core *c)
{
	if (!c)
		return;
	gossip_core_outbox_clear(c);
	for (int k = 0; k < BUCKETS; k++)
		while (c->buckets[k])
			bcast_unlink(c, c->buckets[k]);
	for (size_t i = 0; i < c->n_members; i++) {
		free(c->members[i]->rec.endpoints);
		free(c->members[i]);
	}
	gossip_packet_reset(&c->pkt);
	free(c->members);
	free(c->hash);
	free(c->ring);
	free(c->suspects);
	free(c->pulls);
	free(c->relays);
	free(c->seeds);
	free(c->out);
	free(c->plain);
	gossip_keyring_free(c->kr);
	free(c);
}

struct gossip_keyring *gossip_core_keyring(struct gossip_core *c)
{
	return c->kr;
}

void gossip_core_set_change_cb(struct gossip_core *c, gossip_change_cb cb, void *arg)
{
	c->cb = cb;
	c->cb_arg = arg;
}

int gossip_core_join(struct gossip_core *c, uint64_t now,
		     const struct sockaddr_storage *seeds, size_t n)
{
	struct sockaddr_storage *copy = NULL;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return AS_ENOMEM;
		memcpy(copy, seeds, n * sizeof(*copy));
	}
	free(c->seeds);
	c->seeds = copy;
	c->n_seeds = n;
	/* Announce ourselves: the seed merges us, gossip tells the rest. */
	enqueue_alive(c, c->self);
	for (size_t i = 0; i < n; i++)
		if (!as_sockaddr_equal(&seeds[i], &c->self->rec.addr))
			send_pushpull(c, &seeds[i], false, true, true, now);
	return AS_OK;
}

int gossip_core_leave(struct gossip_core *c, uint64_t now)
{
	struct member *s = c->self;
	struct member *peers[8];
	struct gossip_msg msg;
	size_t n;
	if (c->left)
		return AS_ESTATE;
	c->left = true;
	enqueue_accuse(c, s, GOSSIP_MSG_DEAD, s->rec.incarnation, c->name);
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_DEAD;
	snprintf(msg.target, sizeof(msg.target), "%s", c->name);
	snprintf(msg.from, sizeof(msg.from), "%s", c->name);
	msg.incarnation = s->rec.incarnation;
	n = pick_random(c, peers, AS_MIN(c->cfg.gossip_nodes, 8u), NULL, now, false);
	for (size_t i = 0; i < n; i++)
		send_one(c, &peers[i]->rec.addr, &msg, NULL);
	set_state(c, s, GOSSIP_LEFT, now);
	return AS_OK;
}

static bool load_equal(const struct gossip_load *a, const struct gossip_load *b)
{
	return a->util == b->util && a->psi == b->psi && a->cpus == b->cpus &&
	       a->factor == b->factor;
}

/* The factor as gossiped: on the load_step grid, so that 0 and 1 are
 * exact and a reading that wobbles inside a step changes nothing. */
static double factor_grid(const struct gossip_core *c, double f)
{
	double step = c->cfg.load_step;
	if (!(step > 0))
		return f;
	f = round(f / step) * step;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

static void publish_load(struct gossip_core *c, uint64_t now, bool moved)
{
	struct member *s = c->self;
	s->rec.load = c->published_load = c->pending_load;
	s->rec.load.factor = factor_grid(c, c->pending_load.factor);
	s->rec.version++;
	c->load_pending = false;
	c->load_published_at = now;
	c->gossiped_factor = s->rec.load.factor;
	enqueue_load(c, s, !moved);
	notify(c, s, s->state, GOSSIP_CHANGE_LOAD, now);
}

/* Token bucket of factor moves: load_burst at once, then one per
 * load_min_interval_ms. */
static bool load_token(struct gossip_core *c, uint64_t now, bool take)
{
	if (c->cfg.load_min_interval_ms == 0)
		return true;
	if (now > c->load_tokens_at) {
		c->load_tokens += (double)(now - c->load_tokens_at) / c->cfg.load_min_interval_ms;
		if (c->load_tokens > c->cfg.load_burst)
			c->load_tokens = c->cfg.load_burst;
		c->load_tokens_at = now;
	}
	if (c->load_tokens < 1)
		return false;
	if (take)
		c->load_tokens -= 1;
	return true;
}

/* Whether the pending load moves the answers: a factor a whole step away
 * from the gossiped one (0 and 1 are grid points, so reaching either
 * always counts), or another CPU count. Utilisation alone never does. */
static bool load_moves(const struct gossip_core *c)
{
	const struct gossip_load *l = &c->pending_load;
	return c->gossiped_factor < 0 || l->cpus != c->self->rec.load.cpus ||
	       fabs(factor_grid(c, l->factor) - c->gossiped_factor) >=
		       c->cfg.load_step - 1e-9;
}

/* A pending load goes out when it moves the answers and the bucket has a
 * token, or with the refresh load_refresh_ms after the last publication
 * (so members and status show a recent utilisation). */
static void load_maybe_publish(struct gossip_core *c, uint64_t now)
{
	bool moves;
	if (!c->load_pending)
		return;
	moves = load_moves(c);
	if (moves && load_token(c, now, true))
		publish_load(c, now, true);
	else if (now - c->load_published_at >= c->cfg.load_refresh_ms)
		publish_load(c, now, moves && factor_grid(c, c->pending_load.factor) !=
					      c->gossiped_factor);
}

int gossip_core_set_load(struct gossip_core *c, uint64_t now, const struct gossip_load *load)
{
	if (!(load->util >= 0) || !(load->psi >= 0) || !(load->factor >= 0) ||
	    load->util > 1e6 || load->psi > 1e6 || load->factor > 1e6)
		return AS_EINVAL;
	if (load_equal(load, &c->published_load) && !c->load_pending)
		return AS_OK;
	c->pending_load = *load;
	c->load_pending = true;
	load_maybe_publish(c, now);
	return AS_OK;
}

int gossip_core_set_endpoints(struct gossip_core *c, uint64_t now,
			      const struct gossip_endpoint *eps, size_t n)
{
	struct member *s = c->self;
	int rc;
	if (n > c->cfg.max_endpoints)
		return AS_ELIMIT;
	for (size_t i = 0; i < n; i++)
		if (!eps[i].service[0] || memchr(eps[i].service, 0, sizeof(eps[i].service)) == NULL)
			return AS_EINVAL;
	rc = set_endpoints(&s->rec, eps, (uint32_t)n);
	if (rc)
		return rc;
	if (c->load_pending) {
		/* the alive record carries it: as if published */
		s->rec.load = c->published_load = c->pending_load;
		s->rec.load.factor = c->gossiped_factor = factor_grid(c, c->pending_load.factor);
		c->load_pending = false;
		c->load_published_at = now;
	}
	s->rec.version++;
	s->rec.ep_version = s->rec.version;
	enqueue_alive(c, s);
	notify(c, s, s->state, GOSSIP_CHANGE_ENDPOINTS, now);
	return AS_OK;
}

int gossip_core_set_zone(struct gossip_core *c, uint64_t now, const char *zone)
{
	struct member *s = c->self;

	if (!zone)
		zone = "";
	if (strlen(zone) > GOSSIP_ZONE_MAX)
		return AS_EINVAL;
	if (!strcmp(zone, s->rec.zone))
		return AS_OK;
	snprintf(s->rec.zone, sizeof(s->rec.zone), "%s", zone);
	if (c->left)
		return AS_OK;
	/* Peers take a zone only with a newer incarnation (apply_alive). */
	s->rec.incarnation++;
	s->load_inc = s->ep_inc = s->zone_inc = s->rec.incarnation;
	enqueue_alive(c, s);
	notify(c, s, s->state, GOSSIP_CHANGE_ENDPOINTS, now);
	return AS_OK;
}

void gossip_core_count_drop(struct gossip_core *c, enum gossip_drop why,
			    const struct sockaddr_storage *from)
{
	if (why == GOSSIP_DROP_AUTH || why == GOSSIP_DROP_PLAINTEXT ||
	    why == GOSSIP_DROP_ENCRYPTED) {
		struct gossip_auth_report *r = &c->auth_pending;
		c->m.auth_failures++;
		c->m.auth_last_why = why;
		c->m.auth_last_ms = c->last_now;
		if (from)
			c->m.auth_last_from = *from;
		else
			memset(&c->m.auth_last_from, 0, sizeof(c->m.auth_last_from));
		if (r->n++ == 0)
			r->from = c->m.auth_last_from;
		else if (!as_sockaddr_same_host(&r->from, &c->m.auth_last_from))
			r->others = true;
		r->why = why;
	}
	c->m.drops[why]++;
}

bool gossip_core_auth_pending(const struct gossip_core *c)
{
	return c->auth_pending.n > 0;
}

bool gossip_core_auth_report(struct gossip_core *c, struct gossip_auth_report *out)
{
	if (!c->auth_pending.n)
		return false;
	*out = c->auth_pending;
	memset(&c->auth_pending, 0, sizeof(c->auth_pending));
	return true;
}

void gossip_core_count_stream(struct gossip_core *c, uint64_t frames, uint64_t bytes)
{
	c->m.stream_in += frames;
	c->m.stream_bytes_in += bytes;
}

struct gossip_stream_acct *gossip_core_stream_acct(struct gossip_core *c)
{
	return &c->streams;
}

const struct gossip_config *gossip_core_config(const struct gossip_core *c)
{
	return &c->cfg;
}

/* Authenticates and decodes one packet into c->pkt: size, decryption,
 * envelope, cluster label, not our own. On failure c->pkt is reset and
 * *why names the drop counter. */
static int open_packet(struct gossip_core *c, enum gossip_transport tr,
		       const uint8_t *data, size_t len, enum gossip_drop *why)
{
	struct gossip_packet *pkt = &c->pkt;
	size_t max = tr == GOSSIP_TX_UDP ? GOSSIP_UDP_MAX : gossip_stream_frame_max(&c->cfg);
	int rc, plen;

	if (len > max) {
		*why = GOSSIP_DROP_TOO_BIG;
		return AS_ELIMIT;
	}
	if (len > c->plain_cap) {
		uint8_t *p = realloc(c->plain, len);
		if (!p) {
			*why = GOSSIP_DROP_TOO_BIG;
			return AS_ENOMEM;
		}
		c->plain = p;
		c->plain_cap = len;
	}
	plen = gossip_open(c->kr, c->cfg.plaintext, c->label, data, len, c->plain,
			   c->plain_cap, why);
	if (plen < 0)
		return plen;
	gossip_packet_reset(pkt);
	rc = gossip_envelope_decode(c->plain, (size_t)plen, pkt, why);
	if (rc < 0)
		goto reset;
	/* a sealed packet's label was checked as additional data */
	if (strcmp(pkt->label, c->label) != 0 &&
	    !(pkt->label[0] == '\0' && (data[1] & GOSSIP_FLAG_ENCRYPTED))) {
		*why = GOSSIP_DROP_LABEL;
		rc = AS_EAUTH;
		goto reset;
	}
	if (strcmp(pkt->sender, c->name) == 0) {
		*why = GOSSIP_DROP_SELF;
		rc = AS_EPROTO;
		goto reset;
	}
	return AS_OK;
reset:
	gossip_packet_reset(pkt);
	return rc;
}

/* Acts on every message of an accepted packet (c->pkt) from `from`. */
static void handle_msgs(struct gossip_core *c, const struct sockaddr_storage *from,
			uint64_t now)
{
	const struct gossip_packet *pkt = &c->pkt;
	struct member *ans[GOSSIP_MSGS_MAX];
	size_t n_ans = 0;

	for (uint32_t i = 0; i < pkt->n_msgs; i++) {
		const struct gossip_msg *m = &pkt->msgs[i];
		c->m.msgs_in[m->type]++;
		c->m.msg_bytes_in[m->type] += m->wire_len;
		switch (m->type) {
		case GOSSIP_MSG_PING:
			if (strcmp(m->target, c->name) == 0 && !c->left) {
				struct gossip_msg ack;
				memset(&ack, 0, sizeof(ack));
				ack.type = GOSSIP_MSG_ACK;
				ack.seq = m->seq;
				if (m->want_coord) {
					ack.has_coord = true;
					ack.coord = c->coord.c;
					c->m.coord_bytes_out += 2 + GOSSIP_COORD_WIRE_LEN;
				}
				send_one(c, from, &ack, NULL);
			}
			break;
		case GOSSIP_MSG_PING_REQ:
			handle_ping_req(c, m, from, now);
			break;
		case GOSSIP_MSG_ACK:
		case GOSSIP_MSG_NACK:
			coord_sample(c, m, pkt->sender, now);
			handle_ack(c, m->seq, m->type == GOSSIP_MSG_NACK, now);
			break;
		case GOSSIP_MSG_ALIVE:
			apply_alive(c, &m->rec, now, true, NULL);
			break;
		case GOSSIP_MSG_HEAD:
			apply_alive(c, &m->rec, now, true, from);
			break;
		case GOSSIP_MSG_PULL:
			if (!c->left)
				answer_pull(c, m, ans, &n_ans);
			break;
		case GOSSIP_MSG_LOAD:
			apply_load(c, &m->rec, now);
			break;
		case GOSSIP_MSG_SUSPECT:
			apply_suspect(c, m->target, m->incarnation, m->from, now);
			break;
		case GOSSIP_MSG_DEAD:
			apply_dead(c, m->target, m->incarnation, m->from, now);
			break;
		case GOSSIP_MSG_PUSHPULL:
			merge_pushpull(c, m, pkt->sender, now);
			if (!m->pp_reply) {
				struct member *s = find(c, pkt->sender);
				if (s && !c->left)
					send_pushpull(c, &s->rec.addr, true, false, m->pp_join, now);
			}
			break;
		default:
			break;
		}
	}
	if (n_ans) {
		struct member *r = find(c, pkt->sender);
		send_records(c, ans, n_ans, r ? &r->rec.addr : from);
	}
}

/* One packet, after its transport's framing. */
static int recv_packet(struct gossip_core *c, uint64_t now, enum gossip_transport tr,
		       const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	enum gossip_drop why = GOSSIP_DROP_MALFORMED;
	struct gossip_packet *pkt = &c->pkt;
	struct member *sender;
	int rc;

	clock_check(c, now);
	rc = open_packet(c, tr, data, len, &why);
	if (rc < 0)
		goto drop;
	sender = find(c, pkt->sender);
	if (!sender && !c->left && tr == GOSSIP_TX_UDP &&
	    (c->last_unknown_pp == 0 || now - c->last_unknown_pp >= 1000)) {
		/* An authenticated member we do not know: exchange state. */
		c->last_unknown_pp = now ? now : 1;
		send_pushpull(c, from, false, false, false, now);
	}
	if (sender && !replay_ok(sender, pkt->incarnation, pkt->seq)) {
		why = GOSSIP_DROP_REPLAY;
		rc = AS_ESTALE;
		gossip_packet_reset(pkt);
		goto drop;
	}
	c->m.drops[GOSSIP_DROP_UNKNOWN_TYPE] += pkt->n_unknown;
	handle_msgs(c, from, now);
	if (!sender && (sender = find(c, pkt->sender)) != NULL)
		replay_ok(sender, pkt->incarnation, pkt->seq);	/* start its window */
	if (sender)	/* an authenticated packet of its own: it lives */
		sender->heard = now ? now : 1;
	if (sender && sender->state == GOSSIP_SUSPECT && !c->left &&
	    (!sender->susp_told || now - sender->susp_told >= SUSP_TELL_MS))
		tell_suspect(c, sender, now);
	gossip_packet_reset(pkt);
	return AS_OK;
drop:
	gossip_core_count_drop(c, why, from);
	return rc;
}

int gossip_core_recv_body(struct gossip_core *c, uint64_t now,
			  const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	return recv_packet(c, now, GOSSIP_TX_STREAM, from, data, len);
}

/* A whole stream frame at once (the simulator, tests): the same header
 * checks as gossip_stream_feed, then the packet. */
static int recv_frame(struct gossip_core *c, uint64_t now,
		      const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	enum gossip_drop why = GOSSIP_DROP_SHORT;
	uint32_t body_len = 0;
	int rc = AS_ETRUNC, hl = AS_ETRUNC;

	if (len >= GOSSIP_HDR_LEN)
		hl = gossip_stream_hdr_len(c->kr, c->cfg.plaintext, data, &why);
	if (hl < 0) {
		rc = hl;
		goto drop;
	}
	if (len < (size_t)hl) {
		why = GOSSIP_DROP_SHORT;
		goto drop;
	}
	rc = gossip_stream_hdr_open(c->kr, c->cfg.plaintext, c->label, data, (size_t)hl,
				    &body_len, &why);
	if (rc < 0)
		goto drop;
	if (body_len > gossip_stream_frame_max(&c->cfg)) {
		why = GOSSIP_DROP_TOO_BIG;
		rc = AS_ELIMIT;
		goto drop;
	}
	if (body_len != len - (size_t)hl) {
		why = body_len > len - (size_t)hl ? GOSSIP_DROP_SHORT : GOSSIP_DROP_MALFORMED;
		rc = body_len > len - (size_t)hl ? AS_ETRUNC : AS_EMALFORMED;
		goto drop;
	}
	return recv_packet(c, now, GOSSIP_TX_STREAM, from, data + hl, body_len);
drop:
	clock_check(c, now);
	gossip_core_count_drop(c, why, from);
	return rc;
}

int gossip_core_recv(struct gossip_core *c, uint64_t now, enum gossip_transport tr,
		     const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	if (tr == GOSSIP_TX_UDP) {
		c->m.packets_in++;
		c->m.bytes_in += len;
		return recv_packet(c, now, tr, from, data, len);
	}
	c->m.stream_in++;
	c->m.stream_bytes_in += len;
	return recv_frame(c, now, from, data, len);
}

/* Whether a gossip round has a reason to send packets of its own:
 * membership news, or a load record that moved a factor and has not had
 * its first gossip_nodes sends yet. The rest waits for probes and acks,
 * which go anyway, and fills whatever packet goes. */
static bool queue_urgent(const struct gossip_core *c)
{
	if (c->n_bcast_member)
		return true;
	for (uint32_t k = 0; k < AS_MIN(c->cfg.gossip_nodes, (uint32_t)BUCKETS); k++)
		for (const struct bcast *e = c->buckets[k]; e; e = e->next)
			if (!e->lazy)
				return true;
	return false;
}

static void gossip_round(struct gossip_core *c, uint64_t now)
{
	struct member *peers[16];
	size_t n;
	struct member *succ;
	if (c->n_bcast == 0 || !queue_urgent(c))
		return;
	succ = ring_successor(c);
	n = 0;
	if (succ)
		peers[n++] = succ;
	n += pick_random(c, peers + n, AS_MIN(c->cfg.gossip_nodes, 16u) - n, succ, now, true);
	for (size_t i = 0; i < n && c->n_bcast; i++) {
		struct builder b;
		builder_init(c, &b);
		builder_fill(c, &b);
		builder_send(c, &b, &peers[i]->rec.addr);
	}
}

static void housekeep(struct gossip_core *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_members;) {
		struct member *m = c->members[i];
		if (!is_live(m) && m != c->self && now - m->state_since >= c->cfg.dead_retention_ms)
			member_remove(c, i, now);
		else
			i++;
	}
	load_maybe_publish(c, now);
}

/* Called first by every entry point. Time that jumped far past both our
 * last call and our earliest deadline means we were stalled (CPU, VM
 * pause) and could hear no refutation meanwhile: running suspicions get
 * that time back before they may expire, and we count ourselves less
 * healthy. */
static void clock_check(struct gossip_core *c, uint64_t now)
{
	uint64_t due, since, lag, prev = c->last_now;
	if (now <= prev)
		return;
	due = gossip_core_next_deadline(c);
	since = AS_MAX(prev, due);
	lag = now > since ? now - since : 0;
	c->last_now = now;
	if (prev == 0 || lag < c->cfg.probe_interval_ms * 3u)
		return;
	for (size_t i = 0; i < c->n_suspects; i++) {
		struct member *m = c->suspects[i];
		m->susp_extra += lag;
		m->susp_deadline += lag;
	}
	lhm_apply(c, 1);
	c->m.stalls_detected++;
}

static uint64_t pushpull_interval(const struct gossip_core *c)
{
	size_t n = gossip_core_live_count(c);
	uint64_t mult = 1;
	if (n > 32)
		mult = (uint64_t)ceil(log2((double)n) - log2(32.0)) + 1;
	return c->cfg.pushpull_interval_ms * mult;
}

/* Suspicions that ran out: a final check first, then declared dead. */
static void suspicions_expire(struct gossip_core *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_suspects;) {
		struct member *m = c->suspects[i];
		if (m->susp_deadline <= now && !m->final_check) {
			final_check(c, m, now);
			i++;
		} else if (m->susp_deadline <= now) {
			set_state(c, m, GOSSIP_DEAD, now); /* removes from suspects */
			c->m.deaths_declared++;
			enqueue_accuse(c, m, GOSSIP_MSG_DEAD, m->rec.incarnation, c->name);
		} else {
			i++;
		}
	}
}

/* Relayed pings that got no ack: a NACK to the requester if it asked. */
static void relays_expire(struct gossip_core *c, uint64_t now)
{
	for (size_t i = 0; i < c->n_relays;) {
		struct relay *r = &c->relays[i];
		if (r->deadline <= now) {
			if (r->nack) {
				struct gossip_msg nack;
				memset(&nack, 0, sizeof(nack));
				nack.type = GOSSIP_MSG_NACK;
				nack.seq = r->orig_seq;
				send_one(c, &r->requester, &nack, NULL);
			}
			c->relays[i] = c->relays[--c->n_relays];
		} else {
			i++;
		}
	}
}

/* The remembered dead, one at a time: a healed partition is noticed
 * within reconnect_interval_ms by every node holding dead members (a
 * crashed node only refuses a connection). A push-pull to one picked at
 * random. */
static void reconnect_dead(struct gossip_core *c, uint64_t now)
{
	size_t n_dead = 0, pick;
	for (size_t i = 0; i < c->n_members; i++)
		n_dead += c->members[i]->state == GOSSIP_DEAD;
	if (!n_dead)
		return;
	pick = rng_below(c, n_dead);
	for (size_t i = 0; i < c->n_members; i++)
		if (c->members[i]->state == GOSSIP_DEAD && pick-- == 0) {
			send_pushpull(c, &c->members[i]->rec.addr, false, false, false, now);
			break;
		}
}

void gossip_core_tick(struct gossip_core *c, uint64_t now)
{
	clock_check(c, now);
	suspicions_expire(c, now);
	relays_expire(c, now);
	if (c->probe.active && !c->probe.acked && !c->probe.indirect &&
	    c->probe.ack_deadline <= now)
		probe_indirect(c, now);
	pulls_expire(c, now);
	if (c->probe.active && c->probe.acked)
		probe_finish(c, now);
	if (c->next_probe <= now)
		probe_start(c, now);
	if (c->next_gossip <= now) {
		gossip_round(c, now);
		c->last_gossip = now;
		c->next_gossip = now + c->cfg.gossip_interval_ms;
	}
	if (c->next_pushpull <= now) {
		struct member *p[1];
		if (!c->left && pick_random(c, p, 1, NULL, now, false) == 1)
			send_pushpull(c, &p[0]->rec.addr, false, false, false, now);
		c->next_pushpull = now + pushpull_interval(c);
	}
	if (c->next_rejoin <= now) {
		/* Seeds and the remembered dead: how a partition heals. */
		if (!c->left && c->n_seeds) {
			const struct sockaddr_storage *s = &c->seeds[rng_below(c, c->n_seeds)];
			if (!as_sockaddr_equal(s, &c->self->rec.addr))
				send_pushpull(c, s, false, false, false, now);
		}
		c->next_rejoin = now + c->cfg.rejoin_interval_ms;
	}
	if (c->next_reconnect <= now) {
		if (!c->left)
			reconnect_dead(c, now);
		c->next_reconnect = now + c->cfg.reconnect_interval_ms / 2 +
				    rng_below(c, c->cfg.reconnect_interval_ms + 1);
	}
	if (c->next_housekeep <= now) {
		housekeep(c, now);
		c->next_housekeep = now + HOUSEKEEP_MS;
	}
}

uint64_t gossip_core_next_deadline(const struct gossip_core *c)
{
	uint64_t d = c->next_probe;
	d = AS_MIN(d, c->next_gossip);
	d = AS_MIN(d, c->next_pushpull);
	d = AS_MIN(d, c->next_rejoin);
	d = AS_MIN(d, c->next_reconnect);
	d = AS_MIN(d, c->next_housekeep);
	if (c->probe.active && !c->probe.indirect && !c->probe.acked)
		d = AS_MIN(d, c->probe.ack_deadline);
	for (size_t i = 0; i < c->n_suspects; i++)
		d = AS_MIN(d, c->suspects[i]->susp_deadline);
	for (size_t i = 0; i < c->n_relays; i++)
		d = AS_MIN(d, c->relays[i].deadline);
	for (size_t i = 0; i < c->n_pulls; i++)
		d = AS_MIN(d, c->pulls[i]->pull_deadline);
	return d;
}

const struct gossip_out *gossip_core_outbox(const struct gossip_core *c, size_t *n)
{
	*n = c->n_out;
	return c->out;
}

void gossip_core_outbox_clear(struct gossip_core *c)
{
	for (size_t i = 0; i < c->n_out; i++)
		free(c->out[i].data);
	c->n_out = 0;
}

size_t gossip_core_member_count(const struct gossip_core *c)
{
	return c->n_members;
}

int gossip_core_member_get(const struct gossip_core *c, size_t i, uint64_t now,
			   struct gossip_member *out)
{
	if (i >= c->n_members)
		return AS_ENOTFOUND;
	member_view(c, c->members[i], now, out);
	return AS_OK;
}

int gossip_core_member_find(const struct gossip_core *c, const char *name, uint64_t now,
			    struct gossip_member *out)
{
	struct member *m = find(c, name);
	if (!m)
		return AS_ENOTFOUND;
	member_view(c, m, now, out);
	return AS_OK;
}

void gossip_core_set_clock_us(struct gossip_core *c, uint64_t now_us)
{
	c->clock_us = now_us;
}

static uint64_t off_dist(uint64_t a, uint64_t b)
{
	return a - b < b - a ? a - b : b - a;	/* offsets wrap: unsigned */
}

void gossip_core_set_wall_ms(struct gossip_core *c, uint64_t now, uint64_t wall_ms)
{
	uint64_t off = wall_ms - now, T = c->cfg.probe_interval_ms;
	if (off_dist(off, c->wall_off) <= T / 4) {
		c->wall_seen = 0;
		return;
	}
	if (c->wall_seen && off_dist(off, c->wall_cand) <= T / 8) {
		if (++c->wall_seen < 3)
			return;
	} else {
		c->wall_cand = off;
		c->wall_seen = 1;
		return;
	}
	c->wall_off = off;
	c->wall_seen = 0;
	c->next_probe = slot_next(c, now);
}

const struct gossip_coord_self *gossip_core_coord(const struct gossip_core *c)
{
	return &c->coord;
}

int gossip_core_rtt_estimate(const struct gossip_core *c, const char *name, double *rtt_ms)
{
	const struct member *m = find(c, name);

	if (!m)
		return AS_ENOTFOUND;
	if (m == c->self) {
		*rtt_ms = 0;
		return AS_OK;
	}
	if (!m->has_coord || !c->coord.updates)
		return AS_EAGAIN;
	*rtt_ms = gossip_coord_distance(&c->coord.c, &m->coord);
	return AS_OK;
}

uint64_t gossip_core_change_counter(const struct gossip_core *c)
{
	return c->changes;
}

size_t gossip_core_live_count(const struct gossip_core *c)
{
	return c->n_live;
}

void gossip_core_metrics(const struct gossip_core *c, struct gossip_metrics *out)
{
	*out = c->m;
	out->streams_open = c->streams.n;
	out->streams_reserved = c->streams.reserved;
	memset(out->members, 0, sizeof(out->members));
	for (size_t i = 0; i < c->n_members; i++)
		out->members[c->members[i]->state]++;
	out->lhm = c->lhm;
}
