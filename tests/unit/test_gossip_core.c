/*
 * Tests for the protocol core driven by hand: two or three cores and
 * crafted packets, no simulator. Covers configuration checks, probing,
 * replay and authentication drops, compound packet sizes, the load step
 * and retransmit-queue superseding, the buddy system, refutation, leave,
 * address change, version ordering and the change notifications, and
 * the inbound stream reader: header authentication, the frame bound,
 * buffer growth, the buffer budget, connection caps and deadlines.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "gossip/gossip.h"
#include "lib/as.h"

static uint8_t key[GOSSIP_KEY_LEN];

struct node {
	struct gossip_core *core;
	struct sockaddr_storage addr;
	char name[16];
	unsigned changes_seen, addr_changes;
};

static void on_change(void *arg, const struct gossip_member *m, enum gossip_state old,
		      unsigned what)
{
	struct node *n = arg;
	n->changes_seen++;
	if (what & GOSSIP_CHANGE_ADDR)
		n->addr_changes++;
}

static void node_init(struct node *n, const char *name, int host, const char *label,
		      struct gossip_config *over)
{
	struct gossip_config cfg;
	struct gossip_keyring *kr = gossip_keyring_new();
	char addr[64];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(addr, sizeof(addr), "[fd00::%d]:7946", host);
	assert_int_equal(as_parse_sockaddr(addr, 7946, &n->addr), AS_OK);
	if (over)
		cfg = *over;
	else
		gossip_config_defaults(&cfg);
	cfg.name = n->name;
	cfg.addr = n->addr;
	cfg.label = label;
	cfg.seed = (uint64_t)host;
	assert_int_equal(gossip_keyring_install(kr, key), AS_OK);
	assert_int_equal(gossip_core_new(&cfg, kr, 0, &n->core), AS_OK);
	gossip_core_set_change_cb(n->core, on_change, n);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

/* What a test does to one packet on its way: deliver it whole, drop it,
 * or cut it to half its length. */
enum fate { DELIVER, DROP, CUT };
typedef enum fate (*filter_fn)(void *arg, const struct node *from, const struct node *to,
			       const struct gossip_out *o);
static filter_fn pump_filter;
static void *pump_filter_arg;

/* Delivers every queued packet between the nodes until quiet. Packets to
 * a node listed in `mute` are dropped, and pump_filter (if set) decides
 * about the others. Returns packets delivered. */
static int pump(struct node **nodes, size_t n, uint64_t now, struct node *mute)
{
	int delivered = 0;
	for (int round = 0; round < 20; round++) {
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			size_t cnt;
			const struct gossip_out *out = gossip_core_outbox(nodes[i]->core, &cnt);
			/* copy: delivering may queue more on the same core */
			struct gossip_out *copy = calloc(cnt ? cnt : 1, sizeof(*copy));
			for (size_t k = 0; k < cnt; k++) {
				copy[k] = out[k];
				copy[k].data = malloc(out[k].len);
				memcpy(copy[k].data, out[k].data, out[k].len);
				if (out[k].transport == GOSSIP_TX_UDP)
					assert_true(out[k].len <= GOSSIP_UDP_MAX);
			}
			gossip_core_outbox_clear(nodes[i]->core);
			for (size_t k = 0; k < cnt; k++) {
				for (size_t j = 0; j < n; j++)
					if (nodes[j] != mute && same_addr(&copy[k].to, &nodes[j]->addr)) {
						enum fate f = pump_filter ?
							pump_filter(pump_filter_arg, nodes[i], nodes[j], &copy[k]) :
							DELIVER;
						if (f == DROP)
							continue;
						gossip_core_recv(nodes[j]->core, now, copy[k].transport,
								 &nodes[i]->addr, copy[k].data,
								 f == CUT ? copy[k].len / 2 : copy[k].len);
						delivered++;
						any = true;
					}
				free(copy[k].data);
			}
			free(copy);
		}
		if (!any)
			break;
	}
	return delivered;
}

/* Runs all cores' timers from `from` to `to` in 10 ms steps. */
static void run(struct node **nodes, size_t n, uint64_t from, uint64_t to, struct node *mute)
{
	for (uint64_t t = from; t <= to; t += 10) {
		for (size_t i = 0; i < n; i++)
			if (nodes[i] != mute && gossip_core_next_deadline(nodes[i]->core) <= t)
				gossip_core_tick(nodes[i]->core, t);
		pump(nodes, n, t, mute);
	}
}

static void join_pair(struct node *a, struct node *b)
{
	struct node *all[2] = { a, b };
	assert_int_equal(gossip_core_join(b->core, 1, &a->addr, 1), AS_OK);
	pump(all, 2, 1, NULL);
	assert_int_equal(gossip_core_member_count(a->core), 2);
	assert_int_equal(gossip_core_member_count(b->core), 2);
}

/* A sealed packet from `sender` carrying msgs. */
static int craft(const char *label, const char *sender, uint32_t seq, const struct gossip_msg *msgs,
		 size_t n, uint8_t *out, size_t outlen, const uint8_t *k)
{
	uint8_t bufs[4][2048], plain[4096];
	const uint8_t *ptr[4];
	size_t lens[4];
	struct gossip_keyring *kr = gossip_keyring_new();
	int len;
	for (size_t i = 0; i < n; i++) {
		len = gossip_msg_encode(&msgs[i], bufs[i], sizeof(bufs[i]));
		assert_true(len > 0);
		ptr[i] = bufs[i];
		lens[i] = (size_t)len;
	}
	len = gossip_envelope_encode(label, sender, 1, seq, ptr, lens, n, plain, sizeof(plain));
	assert_true(len > 0);
	gossip_keyring_install(kr, k ? k : key);
	len = gossip_seal(kr, label, plain, (size_t)len, out, outlen);
	gossip_keyring_free(kr);
	return len;
}

/* Decodes a packet sent by a core (sealed with `key`). */
static void open_packet(const uint8_t *data, size_t len, struct gossip_packet *pkt)
{
	struct gossip_keyring *kr = gossip_keyring_new();
	uint8_t plain[GOSSIP_UDP_MAX];
	enum gossip_drop why;
	int n;
	gossip_keyring_install(kr, key);
	n = gossip_open(kr, false, "test", data, len, plain, sizeof(plain), &why);
	assert_true(n > 0);
	memset(pkt, 0, sizeof(*pkt));
	assert_int_equal(gossip_envelope_decode(plain, (size_t)n, pkt, &why), AS_OK);
	gossip_keyring_free(kr);
}

static void test_config_checks(void **state)
{
	struct gossip_config cfg;
	struct gossip_core *c = NULL;
	struct gossip_keyring *empty = gossip_keyring_new();
	gossip_config_defaults(&cfg);
	cfg.name = "a";
	cfg.label = "test";
	assert_int_equal(as_parse_sockaddr("[fd00::1]:7946", 0, &cfg.addr), AS_OK);
	/* no keys and plaintext not asked for */
	assert_int_equal(gossip_core_new(&cfg, NULL, 0, &c), AS_ECONFIG);
	assert_int_equal(gossip_core_new(&cfg, empty, 0, &c), AS_ECONFIG);
	cfg.plaintext = true;
	cfg.name = "";
	assert_int_equal(gossip_core_new(&cfg, NULL, 0, &c), AS_ECONFIG);
	cfg.name = "a";
	assert_int_equal(gossip_core_new(&cfg, NULL, 0, &c), AS_OK);
	gossip_core_free(c);
	gossip_keyring_free(empty);
}

static void test_probe_ack_and_counters(void **state)
{
	struct node a, b;
	struct node *all[2] = { &a, &b };
	struct gossip_metrics ma, mb;
	struct gossip_member m;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	run(all, 2, 10, 3000, NULL);
	gossip_core_metrics(a.core, &ma);
	gossip_core_metrics(b.core, &mb);
	assert_true(ma.msgs_out[GOSSIP_MSG_PING] >= 10);	/* 4 probes a second */
	assert_true(mb.msgs_in[GOSSIP_MSG_PING] >= 10);
	assert_true(ma.msgs_in[GOSSIP_MSG_ACK] >= 10);
	/* a ping is type, seq and target name: a handful of bytes each */
	assert_true(ma.msg_bytes_out[GOSSIP_MSG_PING] >= 5 * ma.msgs_out[GOSSIP_MSG_PING]);
	assert_int_equal(mb.msg_bytes_in[GOSSIP_MSG_PING] * ma.msgs_out[GOSSIP_MSG_PING],
			 ma.msg_bytes_out[GOSSIP_MSG_PING] * mb.msgs_in[GOSSIP_MSG_PING]);
	assert_int_equal(ma.suspicions_raised, 0);
	assert_int_equal(ma.members[GOSSIP_ALIVE], 2);
	assert_true(ma.bytes_out > 0 && ma.packets_out == mb.packets_in);
	assert_int_equal(gossip_core_member_find(a.core, "b", 3000, &m), AS_OK);
	assert_int_equal(m.state, GOSSIP_ALIVE);
	assert_false(m.self);
	/* b answers a's probes (about every 100 ms): heard from lately. */
	assert_true(m.heard_ms < 1000);
	assert_int_equal(gossip_core_member_find(a.core, "a", 3000, &m), AS_OK);
	assert_int_equal(m.heard_ms, UINT64_MAX);	/* never from itself */
	assert_true(a.changes_seen > 0);
	assert_int_equal(gossip_core_change_counter(a.core), a.changes_seen);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* a and b joined, and an ack for crafted packets from b. */
static void pair_and_ack(struct node *a, struct node *b, struct gossip_msg *ack)
{
	node_init(a, "a", 1, "test", NULL);
	node_init(b, "b", 2, "test", NULL);
	join_pair(a, b);
	memset(ack, 0, sizeof(*ack));
	ack->type = GOSSIP_MSG_ACK;
	ack->seq = 999;
}

/* Envelopes carry the low 32 bits of the sender's packet counter; the
 * window places them next to its top, so the counter goes on across a
 * multiple of 2^32 and what was seen before it stays a replay. */
static void test_replay_window_across_the_wrap(void **state)
{
	struct node a, b;
	struct gossip_msg ack;
	struct gossip_metrics m;
	uint8_t pkt[2048], old[2048];
	int len, old_len;
	pair_and_ack(&a, &b, &ack);
	/* forward in steps under 2^31 to just below the wrap */
	len = craft("test", "b", 0x7ffffff0u, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_OK);
	old_len = craft("test", "b", 0xffffff80u, &ack, 1, old, sizeof(old), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, old, (size_t)old_len), AS_OK);
	/* across it: 0x100000005 */
	len = craft("test", "b", 5, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_OK);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_ESTALE);
	/* before the wrap and seen: a replay; not seen and in the window: new */
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, old, (size_t)old_len), AS_ESTALE);
	len = craft("test", "b", 0xfffffff0u, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_OK);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_ESTALE);
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_REPLAY], 3);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

static void test_replay_label_and_auth_drops(void **state)
{
	struct node a, b;
	struct gossip_msg ack;
	struct gossip_metrics m;
	uint8_t pkt[2048], other[GOSSIP_KEY_LEN];
	int len;
	pair_and_ack(&a, &b, &ack);
	len = craft("test", "b", 1000000, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_OK);
	/* the same packet again, and an older one outside the window */
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_ESTALE);
	len = craft("test", "b", 1000000 - 300, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_ESTALE);
	/* inside the window but not seen yet: accepted once */
	len = craft("test", "b", 1000000 - 10, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_OK);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_ESTALE);
	/* another cluster's label: the AEAD additional data differs */
	len = craft("prod", "b", 1000001, &ack, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_EAUTH);
	/* wrong key */
	gossip_key_generate(other);
	len = craft("test", "b", 1000002, &ack, 1, pkt, sizeof(pkt), other);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_EAUTH);
	/* plaintext at an encrypted node */
	pkt[0] = GOSSIP_PROTO_VERSION;
	pkt[1] = 0;
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, 30), AS_EAUTH);
	/* authenticated but not msgpack */
	{
		struct gossip_keyring *kr = gossip_keyring_new();
		uint8_t junk[40];
		memset(junk, 0xc1, sizeof(junk));
		gossip_keyring_install(kr, key);
		len = gossip_seal(kr, "test", junk, sizeof(junk), pkt, sizeof(pkt));
		gossip_keyring_free(kr);
	}
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_EMALFORMED);
	/* too big for UDP */
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt, GOSSIP_UDP_MAX + 1), AS_ELIMIT);
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_REPLAY], 3);
	assert_int_equal(m.drops[GOSSIP_DROP_AUTH], 2);
	assert_int_equal(m.drops[GOSSIP_DROP_PLAINTEXT], 1);
	assert_int_equal(m.drops[GOSSIP_DROP_MALFORMED], 1);
	assert_int_equal(m.drops[GOSSIP_DROP_TOO_BIG], 1);
	assert_int_equal(m.auth_failures, 3);
	/* The last failure's source and reason, for status... */
	assert_true(as_sockaddr_equal(&m.auth_last_from, &b.addr));
	assert_int_equal(m.auth_last_why, GOSSIP_DROP_PLAINTEXT);
	/* ...and what is not logged yet, for the log line; taken once. */
	{
		struct gossip_auth_report r;
		struct sockaddr_storage elsewhere;
		assert_true(gossip_core_auth_pending(a.core));
		assert_true(gossip_core_auth_report(a.core, &r));
		assert_int_equal(r.n, 3);
		assert_true(as_sockaddr_equal(&r.from, &b.addr));
		assert_false(r.others);
		assert_int_equal(r.why, GOSSIP_DROP_PLAINTEXT);
		assert_false(gossip_core_auth_pending(a.core));
		assert_false(gossip_core_auth_report(a.core, &r));
		/* Only authentication failures count; another port of the
		 * same host is the same source, another host is not. */
		assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_UDP, &b.addr, pkt,
						  GOSSIP_UDP_MAX + 1), AS_ELIMIT);
		assert_false(gossip_core_auth_pending(a.core));
		len = craft("test", "b", 1000003, &ack, 1, pkt, sizeof(pkt), other);
		elsewhere = b.addr;
		as_sockaddr_set_port(&elsewhere, (uint16_t)(as_sockaddr_port(&b.addr) + 1));
		assert_int_equal(gossip_core_recv(a.core, 6, GOSSIP_TX_UDP, &elsewhere, pkt, (size_t)len), AS_EAUTH);
		assert_true(gossip_core_auth_report(a.core, &r));
		assert_int_equal(r.n, 1);
		assert_false(r.others);
		assert_int_equal(r.why, GOSSIP_DROP_AUTH);
		assert_int_equal(as_parse_sockaddr("[fd00::99]:7946", 0, &elsewhere), AS_OK);
		assert_int_equal(gossip_core_recv(a.core, 7, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)len), AS_EAUTH);
		assert_int_equal(gossip_core_recv(a.core, 7, GOSSIP_TX_UDP, &elsewhere, pkt, (size_t)len), AS_EAUTH);
		assert_true(gossip_core_auth_report(a.core, &r));
		assert_int_equal(r.n, 2);
		assert_true(as_sockaddr_equal(&r.from, &b.addr));
		assert_true(r.others);
		gossip_core_metrics(a.core, &m);
		assert_int_equal(m.auth_failures, 6);
		assert_true(as_sockaddr_equal(&m.auth_last_from, &elsewhere));
		assert_int_equal(m.auth_last_ms, 7);
	}
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

static void test_compound_packets_fit(void **state)
{
	struct node a;
	struct gossip_msg msg;
	struct gossip_endpoint ep;
	uint8_t pkt[2048];
	size_t cnt, multi = 0;
	const struct gossip_out *out;
	int len;
	node_init(&a, "a", 1, "test", NULL);
	memset(&ep, 0, sizeof(ep));
	snprintf(ep.service, sizeof(ep.service), "service-with-a-long-name");
	ep.addr[0] = 0xfd;
	ep.port = 443;
	ep.weight = 10;
	ep.healthy = true;
	/* 150 members announce themselves with an endpoint each */
	for (int i = 0; i < 150; i++) {
		memset(&msg, 0, sizeof(msg));
		msg.type = GOSSIP_MSG_ALIVE;
		snprintf(msg.rec.name, sizeof(msg.rec.name), "member-%03d", i);
		char s[64];
		snprintf(s, sizeof(s), "[fd00::1:%x]:7946", i + 1);
		as_parse_sockaddr(s, 0, &msg.rec.addr);
		msg.rec.incarnation = 1;
		msg.rec.version = 1;
		msg.rec.ep_version = 1;
		msg.rec.endpoints = &ep;
		msg.rec.n_endpoints = 1;
		len = craft("test", msg.rec.name, 1, &msg, 1, pkt, sizeof(pkt), NULL);
		assert_int_equal(gossip_core_recv(a.core, 1, GOSSIP_TX_UDP, &a.addr, pkt, (size_t)len), AS_OK);
	}
	assert_int_equal(gossip_core_member_count(a.core), 151);
	gossip_core_outbox_clear(a.core);	/* push-pulls to unknown senders */
	gossip_core_tick(a.core, gossip_core_next_deadline(a.core));
	for (int i = 0; i < 10; i++)
		gossip_core_tick(a.core, 100 + (uint64_t)i * 50);
	out = gossip_core_outbox(a.core, &cnt);
	assert_true(cnt > 0);
	for (size_t i = 0; i < cnt; i++) {
		struct gossip_packet *p = calloc(1, sizeof(*p));
		if (out[i].transport != GOSSIP_TX_UDP) {
			free(p);
			continue;
		}
		assert_true(out[i].len <= GOSSIP_UDP_MAX);
		open_packet(out[i].data, out[i].len, p);
		if (p->n_msgs > 5)
			multi++;
		gossip_packet_reset(p);
		free(p);
	}
	assert_true(multi > 0);	/* many updates share a datagram */
	gossip_core_free(a.core);
}

static uint64_t self_version(struct node *n)
{
	struct gossip_member m;
	assert_int_equal(gossip_core_member_find(n->core, n->name, 0, &m), AS_OK);
	return m.rec->version;
}

static void test_load_step_and_supersede(void **state)
{
	struct node a, b;
	struct gossip_load l = { .util = 0.3, .psi = 0.0, .cpus = 4, .factor = 0.50 };
	struct gossip_metrics m;
	struct gossip_packet *p = calloc(1, sizeof(*p));
	size_t cnt, loads = 0;
	const struct gossip_out *out;
	uint64_t v0;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	v0 = self_version(&a);
	assert_int_equal(gossip_core_set_load(a.core, 10, &l), AS_OK);
	assert_int_equal(self_version(&a), v0 + 1);
	l.factor = 0.52;		/* below the 0.05 step: waits */
	assert_int_equal(gossip_core_set_load(a.core, 20, &l), AS_OK);
	assert_int_equal(self_version(&a), v0 + 1);
	l.factor = 0.60;		/* a real change: at once */
	assert_int_equal(gossip_core_set_load(a.core, 30, &l), AS_OK);
	assert_int_equal(self_version(&a), v0 + 2);
	l.factor = 0.61;
	assert_int_equal(gossip_core_set_load(a.core, 40, &l), AS_OK);
	assert_int_equal(self_version(&a), v0 + 2);
	/* the refresh publishes the drift */
	gossip_core_outbox_clear(a.core);
	gossip_core_tick(a.core, 40 + 30000 + 1000);
	assert_int_equal(self_version(&a), v0 + 3);
	l.util = -1;
	assert_int_equal(gossip_core_set_load(a.core, 50, &l), AS_EINVAL);
	gossip_core_metrics(a.core, &m);
	assert_true(m.queue_superseded >= 2);	/* older loads replaced in place */
	/* at most one load message about "a" in any packet, the newest */
	gossip_core_outbox_clear(a.core);
	gossip_core_tick(a.core, 31100);
	gossip_core_tick(a.core, 31200);
	out = gossip_core_outbox(a.core, &cnt);
	for (size_t i = 0; i < cnt; i++) {
		size_t here = 0;
		if (out[i].transport != GOSSIP_TX_UDP)
			continue;
		open_packet(out[i].data, out[i].len, p);
		for (uint32_t k = 0; k < p->n_msgs; k++)
			if (p->msgs[k].type == GOSSIP_MSG_LOAD && !strcmp(p->msgs[k].rec.name, "a")) {
				here++;
				assert_int_equal(p->msgs[k].rec.version, v0 + 3);
			}
		assert_true(here <= 1);
		loads += here;
		gossip_packet_reset(p);
	}
	assert_true(loads > 0);
	free(p);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

static uint64_t load_msgs_out(struct node **nodes, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		struct gossip_metrics m;
		gossip_core_metrics(nodes[i]->core, &m);
		sum += m.msgs_out[GOSSIP_MSG_LOAD];
	}
	return sum;
}

static double factor_of(struct node *observer, const char *name, uint64_t now)
{
	struct gossip_member m;
	assert_int_equal(gossip_core_member_find(observer->core, name, now, &m), AS_OK);
	return m.rec->load.factor;
}

/* Issue 19: only load changes that change answers are gossiped. Below
 * the low watermark the factor stays 1 whatever the CPU does: nothing
 * goes out (until the refresh). A crossing goes out at once and reaches
 * the others; factors sit on the load_step grid (0.98 is 1); and a busy
 * CPU whose factor moves every second publishes at most the burst plus
 * one move per load_min_interval. */
static void test_load_only_answer_changes(void **state)
{
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	struct gossip_load l = { .util = 0.2, .psi = 0.0, .cpus = 4, .factor = 1.0 };
	struct gossip_config dc;
	uint64_t t, v0, msgs0;
	size_t pubs = 0, per;

	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	node_init(&c, "c", 3, "test", NULL);
	join_pair(&a, &b);
	assert_int_equal(gossip_core_join(c.core, 2, &a.addr, 1), AS_OK);
	assert_int_equal(gossip_core_set_load(a.core, 2, &l), AS_OK);
	run(all, 3, 2, 3000, NULL);
	assert_int_equal(gossip_core_member_count(c.core), 3);
	assert_true(factor_of(&b, "a", 3000) == 1.0);

	/* 25 s of a fluctuating CPU under the low watermark: factor 1 */
	v0 = self_version(&a);
	msgs0 = load_msgs_out(all, 3);
	for (t = 3000; t < 28000; t += 1000) {
		l.util = 0.05 + 0.5 * (double)((t / 1000) % 7) / 7.0;
		l.psi = l.util / 3;
		assert_int_equal(gossip_core_set_load(a.core, t, &l), AS_OK);
		run(all, 3, t, t + 990, NULL);
	}
	assert_int_equal(self_version(&a), v0);
	assert_int_equal(load_msgs_out(all, 3), msgs0);

	/* a crossing: out at once, everywhere within 300 ms */
	l.util = 0.7;
	l.factor = 0.71;	/* published on the grid: 0.70 */
	assert_int_equal(gossip_core_set_load(a.core, t, &l), AS_OK);
	assert_int_equal(self_version(&a), v0 + 1);
	run(all, 3, t, t + 300, NULL);
	assert_true(load_msgs_out(all, 3) > msgs0);
	assert_true(fabs(factor_of(&b, "a", t + 300) - 0.70) < 1e-9);
	assert_true(fabs(factor_of(&c, "a", t + 300) - 0.70) < 1e-9);

	/* back near 1: the grid makes it exactly 1 */
	t += 1000;
	l.util = 0.6;
	l.factor = 0.98;
	assert_int_equal(gossip_core_set_load(a.core, t, &l), AS_OK);
	run(all, 3, t, t + 300, NULL);
	assert_true(factor_of(&b, "a", t + 300) == 1.0);

	/* a busy CPU: the factor moves by 0.2 every second for 60 s */
	v0 = self_version(&a);
	for (int i = 0; i < 60; i++) {
		t += 1000;
		l.util = i % 2 ? 0.9 : 0.8;
		l.factor = i % 2 ? 0.2 : 0.4;
		assert_int_equal(gossip_core_set_load(a.core, t, &l), AS_OK);
		run(all, 3, t, t + 990, NULL);
	}
	pubs = (size_t)(self_version(&a) - v0);
	/* tokens: up to 3 saved up, then one per load_min_interval (and
	 * nothing else: the refresh is due only 30 s after the last
	 * publication) */
	gossip_config_defaults(&dc);
	per = dc.load_min_interval_ms / 1000;
	assert_true(per >= 1 && per <= 20);
	assert_true(pubs >= 60 / per + 1 && pubs <= dc.load_burst + 60 / per + 1);
	/* and what b holds is one of the values a had */
	assert_true(fabs(factor_of(&b, "a", t) - 0.2) < 1e-9 ||
		    fabs(factor_of(&b, "a", t) - 0.4) < 1e-9);
	for (size_t i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

static void test_buddy_and_refute(void **state)
{
	struct node a, b;
	struct node *all[2] = { &a, &b };
	struct gossip_member m;
	struct gossip_metrics mb;
	bool buddy = false;
	uint32_t inc0;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	gossip_core_member_find(a.core, "b", 0, &m);
	inc0 = m.rec->incarnation;
	/* b hears nothing for a while: a suspects it */
	run(all, 2, 10, 400, &b);
	gossip_core_member_find(a.core, "b", 400, &m);
	assert_int_equal(m.state, GOSSIP_SUSPECT);
	/* a's next probe of b carries the suspicion (buddy system) */
	for (uint64_t t = 410; t < 1000 && !buddy; t += 10) {
		size_t cnt;
		const struct gossip_out *out;
		gossip_core_tick(a.core, t);
		out = gossip_core_outbox(a.core, &cnt);
		for (size_t i = 0; i < cnt && !buddy; i++) {
			struct gossip_packet *p = calloc(1, sizeof(*p));
			bool ping = false, susp = false;
			if (out[i].transport == GOSSIP_TX_UDP) {
				open_packet(out[i].data, out[i].len, p);
				for (uint32_t k = 0; k < p->n_msgs; k++) {
					ping |= p->msgs[k].type == GOSSIP_MSG_PING && !strcmp(p->msgs[k].target, "b");
					susp |= p->msgs[k].type == GOSSIP_MSG_SUSPECT && !strcmp(p->msgs[k].target, "b");
				}
				gossip_packet_reset(p);
			}
			free(p);
			buddy = ping && susp;
		}
		if (!buddy)
			gossip_core_outbox_clear(a.core);
	}
	assert_true(buddy);
	/* b gets it, refutes with a higher incarnation, a believes it */
	run(all, 2, 1000, 1200, NULL);
	gossip_core_member_find(a.core, "b", 1200, &m);
	assert_int_equal(m.state, GOSSIP_ALIVE);
	assert_true(m.rec->incarnation > inc0);
	gossip_core_metrics(b.core, &mb);
	assert_true(mb.self_refutes >= 1);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* Whether a UDP packet in n's outbox, to `to` (NULL: to anyone but
 * `not_to`), carries a message of `type` about `target`. */
static bool outbox_has(struct node *n, const struct sockaddr_storage *to,
		       const struct sockaddr_storage *not_to, int type, const char *target)
{
	size_t cnt;
	const struct gossip_out *out = gossip_core_outbox(n->core, &cnt);
	bool found = false;
	for (size_t i = 0; i < cnt && !found; i++) {
		struct gossip_packet *p;
		if (out[i].transport != GOSSIP_TX_UDP || (to && !same_addr(&out[i].to, to)) ||
		    (not_to && same_addr(&out[i].to, not_to)))
			continue;
		p = calloc(1, sizeof(*p));
		open_packet(out[i].data, out[i].len, p);
		for (uint32_t k = 0; k < p->n_msgs; k++)
			found |= p->msgs[k].type == type && !strcmp(p->msgs[k].target, target);
		gossip_packet_reset(p);
		free(p);
	}
	return found;
}

/* Issue 19: a suspicion must reach the suspect. An alive record about it
 * at the same incarnation (its endpoints changed) does not refute the
 * suspicion, so it must not push the suspicion out of the retransmit
 * queue; and a suspect we hear from directly is told at once. */
static void test_suspicion_reaches_the_suspect(void **state)
{
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	struct gossip_member m;
	struct gossip_endpoint ep = { .service = "web", .port = 80, .weight = 1, .healthy = true };
	bool told = false, gossiped = false;
	uint64_t t;

	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	node_init(&c, "c", 3, "test", NULL);
	join_pair(&a, &b);
	assert_int_equal(gossip_core_join(c.core, 2, &a.addr, 1), AS_OK);
	run(all, 3, 2, 1000, NULL);
	/* b hears nothing until a suspects it; b does not know */
	for (t = 1010; t < 3000; t += 10) {
		run(all, 3, t, t, &b);
		assert_int_equal(gossip_core_member_find(a.core, "b", t, &m), AS_OK);
		if (m.state == GOSSIP_SUSPECT)
			break;
	}
	assert_int_equal(m.state, GOSSIP_SUSPECT);
	gossip_core_outbox_clear(b.core);
	/* b's endpoints change: its alive record (same incarnation) reaches a */
	ep.addr[15] = 2;
	assert_int_equal(gossip_core_set_endpoints(b.core, t, &ep, 1), AS_OK);
	gossip_core_outbox_clear(a.core);
	for (uint64_t t0 = t; t < t0 + 600 && !told; t += 10) {
		size_t cnt;
		const struct gossip_out *out;
		gossip_core_tick(b.core, t);
		out = gossip_core_outbox(b.core, &cnt);
		for (size_t i = 0; i < cnt; i++)
			if (same_addr(&out[i].to, &a.addr))
				gossip_core_recv(a.core, t, out[i].transport, &b.addr,
						 out[i].data, out[i].len);
		gossip_core_outbox_clear(b.core);
		/* a answers b's packet with the suspicion, straight away */
		told = outbox_has(&a, &b.addr, NULL, GOSSIP_MSG_SUSPECT, "b");
		gossip_core_outbox_clear(a.core);
	}
	assert_true(told);
	assert_int_equal(gossip_core_member_find(a.core, "b", t, &m), AS_OK);
	assert_int_equal(m.state, GOSSIP_SUSPECT);
	assert_int_equal(m.rec->n_endpoints, 1);	/* the record was taken */
	/* and a's gossip to others still carries the suspicion */
	for (uint64_t u = t; u < t + 500 && !gossiped; u += 10) {
		gossip_core_tick(a.core, u);
		gossiped = outbox_has(&a, NULL, &b.addr, GOSSIP_MSG_SUSPECT, "b");
		gossip_core_outbox_clear(a.core);
	}
	assert_true(gossiped);
	for (size_t i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

static void test_leave_and_new_address(void **state)
{
	struct node a, b, b2;
	struct node *all[2] = { &a, &b };
	struct node *all2[2] = { &a, &b2 };
	struct gossip_config cfg;
	struct gossip_member m;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	assert_int_equal(gossip_core_leave(b.core, 100), AS_OK);
	assert_int_equal(gossip_core_leave(b.core, 100), AS_ESTATE);
	pump(all, 2, 100, NULL);
	gossip_core_member_find(a.core, "b", 100, &m);
	assert_int_equal(m.state, GOSSIP_LEFT);
	gossip_core_free(b.core);

	/* "b" comes back on another address with a higher incarnation */
	gossip_config_defaults(&cfg);
	cfg.incarnation = 50;
	node_init(&b2, "b", 3, "test", &cfg);
	assert_int_equal(gossip_core_join(b2.core, 200, &a.addr, 1), AS_OK);
	pump(all2, 2, 200, NULL);
	gossip_core_member_find(a.core, "b", 200, &m);
	assert_int_equal(m.state, GOSSIP_ALIVE);
	assert_true(same_addr(&m.rec->addr, &b2.addr));
	assert_int_equal(m.rec->incarnation, 50);
	assert_int_equal(a.addr_changes, 1);
	gossip_core_free(a.core);
	gossip_core_free(b2.core);
}

static void test_version_ordering(void **state)
{
	struct node a;
	struct gossip_msg msg;
	struct gossip_endpoint ep[2];
	struct gossip_member m;
	uint8_t pkt[2048];
	uint64_t seq = 10;
	int len;
	node_init(&a, "a", 1, "test", NULL);
	memset(ep, 0, sizeof(ep));
	snprintf(ep[0].service, sizeof(ep[0].service), "api");
	snprintf(ep[1].service, sizeof(ep[1].service), "web");
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_ALIVE;
	snprintf(msg.rec.name, sizeof(msg.rec.name), "x");
	as_parse_sockaddr("[fd00::9]:7946", 0, &msg.rec.addr);
	msg.rec.incarnation = 5;
	msg.rec.version = 10;
	msg.rec.ep_version = 8;
	msg.rec.load.factor = 0.5;
	msg.rec.endpoints = ep;
	msg.rec.n_endpoints = 2;
#define SEND(m) do { \
		len = craft("test", "x", seq++, (m), 1, pkt, sizeof(pkt), NULL); \
		assert_int_equal(gossip_core_recv(a.core, 1, GOSSIP_TX_UDP, &a.addr, pkt, (size_t)len), AS_OK); \
	} while (0)
	SEND(&msg);
	/* x's record came in a packet of x's own: heard from at time 1 */
	gossip_core_member_find(a.core, "x", 501, &m);
	assert_int_equal(m.heard_ms, 500);
	/* an older record changes nothing */
	msg.rec.version = 9;
	msg.rec.load.factor = 0.1;
	msg.rec.n_endpoints = 1;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_int_equal(m.rec->version, 10);
	assert_int_equal(m.rec->n_endpoints, 2);
	/* a newer load: load changes, endpoints stay */
	msg.type = GOSSIP_MSG_LOAD;
	msg.rec.version = 11;
	msg.rec.load.factor = 0.25;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_int_equal(m.rec->version, 11);
	assert_true(m.rec->load.factor > 0.24 && m.rec->load.factor < 0.26);
	assert_int_equal(m.rec->n_endpoints, 2);
	/* a full record with newer endpoints */
	msg.type = GOSSIP_MSG_ALIVE;
	msg.rec.version = 12;
	msg.rec.ep_version = 12;
	msg.rec.n_endpoints = 1;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_int_equal(m.rec->n_endpoints, 1);
	assert_int_equal(m.rec->ep_version, 12);
	/* a suspicion with an old incarnation is ignored, a current one taken */
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_SUSPECT;
	snprintf(msg.target, sizeof(msg.target), "x");
	snprintf(msg.from, sizeof(msg.from), "y");
	msg.incarnation = 4;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_int_equal(m.state, GOSSIP_ALIVE);
	msg.incarnation = 5;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_int_equal(m.state, GOSSIP_SUSPECT);
	/* a suspicion about ourselves is refuted */
	snprintf(msg.target, sizeof(msg.target), "a");
	msg.incarnation = 1;
	SEND(&msg);
	gossip_core_member_find(a.core, "a", 1, &m);
	assert_int_equal(m.rec->incarnation, 2);
	assert_int_equal(m.state, GOSSIP_ALIVE);
#undef SEND
	gossip_core_free(a.core);
}

/* The zone: learnt with the record; a relayed record without it (from a
 * peer that predates it) does not clear it; a restart (higher
 * incarnation) may change or clear it; our own comes from the config. */
static void test_record_zone(void **state)
{
	struct node a;
	struct gossip_msg msg;
	struct gossip_member m;
	struct gossip_config cfg;
	uint8_t pkt[2048];
	uint64_t seq = 10;
	int len;

	(void)state;
	gossip_config_defaults(&cfg);
	cfg.zone = "zone-a";
	node_init(&a, "a", 1, "test", &cfg);
	gossip_core_member_find(a.core, "a", 1, &m);
	assert_string_equal(m.rec->zone, "zone-a");
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_ALIVE;
	snprintf(msg.rec.name, sizeof(msg.rec.name), "x");
	as_parse_sockaddr("[fd00::9]:7946", 0, &msg.rec.addr);
	msg.rec.incarnation = 5;
	msg.rec.version = msg.rec.ep_version = 10;
	snprintf(msg.rec.zone, sizeof(msg.rec.zone), "zone-b");
#define SEND(m) do { \
		len = craft("test", "y", seq++, (m), 1, pkt, sizeof(pkt), NULL); \
		assert_int_equal(gossip_core_recv(a.core, 1, GOSSIP_TX_UDP, &a.addr, pkt, (size_t)len), AS_OK); \
	} while (0)
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_string_equal(m.rec->zone, "zone-b");
	/* relayed by an older peer: same incarnation, no zone */
	msg.rec.zone[0] = 0;
	msg.rec.version = 11;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_string_equal(m.rec->zone, "zone-b");
	/* a claim of another zone at the same incarnation wins only when
	 * it carries one (the zone is fixed per incarnation anyway) */
	snprintf(msg.rec.zone, sizeof(msg.rec.zone), "zone-c");
	msg.rec.version = 12;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_string_equal(m.rec->zone, "zone-c");
	/* restarted without a zone */
	msg.rec.zone[0] = 0;
	msg.rec.incarnation = 6;
	msg.rec.version = 1;
	msg.rec.ep_version = 1;
	SEND(&msg);
	gossip_core_member_find(a.core, "x", 1, &m);
	assert_string_equal(m.rec->zone, "");
#undef SEND
	gossip_core_free(a.core);
}

/* A zone set at run time (the Kubernetes Node label) reaches the peers:
 * the record goes out under a new incarnation, as the zone is fixed per
 * incarnation; clearing it clears it there; the same zone again is no
 * change. */
static void test_set_zone_disseminates(void **state)
{
	struct node a, b;
	struct node *all[2] = { &a, &b };
	struct gossip_member m;
	uint32_t inc;

	(void)state;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	assert_int_equal(gossip_core_member_find(b.core, "a", 1, &m), AS_OK);
	assert_string_equal(m.rec->zone, "");
	inc = m.rec->incarnation;
	assert_int_equal(gossip_core_set_zone(a.core, 10, "eu-1a"), AS_OK);
	gossip_core_member_find(a.core, "a", 10, &m);
	assert_string_equal(m.rec->zone, "eu-1a");
	assert_int_equal(m.rec->incarnation, inc + 1);
	run(all, 2, 10, 500, NULL);
	gossip_core_member_find(b.core, "a", 500, &m);
	assert_string_equal(m.rec->zone, "eu-1a");
	assert_int_equal(m.state, GOSSIP_ALIVE);
	/* the same zone: nothing to tell */
	assert_int_equal(gossip_core_set_zone(a.core, 510, "eu-1a"), AS_OK);
	gossip_core_member_find(a.core, "a", 510, &m);
	assert_int_equal(m.rec->incarnation, inc + 1);
	/* cleared */
	assert_int_equal(gossip_core_set_zone(a.core, 520, NULL), AS_OK);
	run(all, 2, 520, 1000, NULL);
	gossip_core_member_find(b.core, "a", 1000, &m);
	assert_string_equal(m.rec->zone, "");
	assert_int_equal(m.rec->incarnation, inc + 2);
	/* too long for the record */
	assert_int_equal(gossip_core_set_zone(a.core, 1000,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		AS_EINVAL);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* ---- inbound streams ------------------------------------------------- */

/* b's join push-pull to a: a whole frame off b's outbox. */
static uint8_t *join_frame(struct node *b, const struct node *a, size_t *len)
{
	const struct gossip_out *o;
	uint8_t *copy = NULL;
	size_t n;
	assert_int_equal(gossip_core_join(b->core, 1, &a->addr, 1), AS_OK);
	o = gossip_core_outbox(b->core, &n);
	for (size_t i = 0; i < n && !copy; i++)
		if (o[i].transport == GOSSIP_TX_STREAM) {
			copy = malloc(o[i].len);
			memcpy(copy, o[i].data, o[i].len);
			*len = o[i].len;
		}
	gossip_core_outbox_clear(b->core);
	assert_non_null(copy);
	return copy;
}

/* Feeds len bytes in pieces of at most step, the way the adapter does
 * (into the buffer the stream hands out), checking after each piece that
 * the buffer never runs ahead of the data: at most twice what arrived, or
 * the first 16 KiB. before: bytes this stream got in earlier calls.
 * Returns the last result; *used gets the bytes taken. */
static int feed_more(struct gossip_stream *s, size_t before, const uint8_t *data, size_t len,
		     size_t step, size_t *used)
{
	size_t off = 0;
	int rc = AS_OK;
	while (off < len && rc == AS_OK) {
		uint8_t *p;
		size_t room, n;
		assert_int_equal(gossip_stream_buf(s, &p, &room), AS_OK);
		assert_true(room > 0);
		n = AS_MIN(AS_MIN(room, step), len - off);
		memcpy(p, data + off, n);
		off += n;
		rc = gossip_stream_feed(s, 10, n);
		if (rc == AS_OK)
			assert_true(gossip_stream_buffered(s) <=
				    AS_MAX((size_t)16384, 2 * (before + off)));
	}
	if (used)
		*used = off;
	return rc;
}

static int feed(struct gossip_stream *s, const uint8_t *data, size_t len, size_t step,
		size_t *used)
{
	return feed_more(s, 0, data, len, step, used);
}

static void plain_core(struct gossip_core **c, const struct gossip_config *over)
{
	struct gossip_config cfg;
	if (over)
		cfg = *over;
	else
		gossip_config_defaults(&cfg);
	cfg.name = "p";
	cfg.label = "test";
	cfg.plaintext = true;
	assert_int_equal(as_parse_sockaddr("[fd00::9]:7946", 0, &cfg.addr), AS_OK);
	assert_int_equal(gossip_core_new(&cfg, NULL, 0, c), AS_OK);
}

/* A real push-pull frame read in small pieces joins the sender, exactly as
 * when it is handed over whole. */
static void test_stream_frame_in_pieces(void **state)
{
	struct node a, b;
	struct gossip_stream *s;
	struct gossip_metrics m;
	size_t len, used, n;
	uint8_t *frame;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	frame = join_frame(&b, &a, &len);
	assert_int_equal(frame[0], GOSSIP_STREAM_VERSION);
	assert_int_equal(gossip_stream_open(a.core, 10, &b.addr, &s), AS_OK);
	assert_int_equal(feed(s, frame, len, 7, &used), GOSSIP_STREAM_DONE);
	assert_int_equal(used, len);
	assert_int_equal(gossip_stream_buffered(s), 0);	/* freed at once */
	gossip_stream_close(s);
	assert_int_equal(gossip_core_member_count(a.core), 2);
	gossip_core_outbox(a.core, &n);
	assert_true(n >= 1);				/* the reply */
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.stream_in, 1);
	assert_int_equal(m.stream_bytes_in, len);
	assert_int_equal(m.streams_open, 0);
	assert_int_equal(m.streams_reserved, 0);
	for (int d = 0; d < GOSSIP_DROP_COUNT; d++)
		assert_int_equal(m.drops[d], 0);
	free(frame);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* Without a key nothing gets past the header: a forged one, the old bare
 * length, a plaintext one; none reserves or buffers anything. */
static void test_stream_unauthenticated(void **state)
{
	struct node a;
	struct gossip_stream *s;
	struct gossip_metrics m;
	uint8_t forged[GOSSIP_STREAM_HDR_MAX], junk[4096];
	const uint8_t v1[] = { 0x04, 0x00, 0x00, 0x00 };	/* 64 MiB, bare */
	const uint8_t plain[] = { GOSSIP_STREAM_VERSION, 0, 0x04, 0, 0, 0 };
	size_t used;
	node_init(&a, "a", 1, "test", NULL);
	gossip_key_generate(forged);
	forged[0] = GOSSIP_STREAM_VERSION;
	forged[1] = 1;
	memset(junk, 0x5a, sizeof(junk));

	assert_int_equal(gossip_stream_open(a.core, 10, &a.addr, &s), AS_OK);
	assert_int_equal(feed(s, forged, sizeof(forged), 1000, &used), AS_EAUTH);
	assert_int_equal(used, GOSSIP_STREAM_HDR_MAX);	/* read no further */
	assert_int_equal(gossip_stream_buffered(s), 0);
	gossip_stream_close(s);
	assert_int_equal(gossip_stream_open(a.core, 10, &a.addr, &s), AS_OK);
	assert_int_equal(feed(s, v1, sizeof(v1), 1000, &used), AS_EVERSION);
	assert_int_equal(used, 2);
	gossip_stream_close(s);
	assert_int_equal(gossip_stream_open(a.core, 10, &a.addr, &s), AS_OK);
	assert_int_equal(feed(s, plain, sizeof(plain), 1000, &used), AS_EAUTH);
	assert_int_equal(used, 2);
	gossip_stream_close(s);
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_AUTH], 1);
	assert_int_equal(m.drops[GOSSIP_DROP_VERSION], 1);
	assert_int_equal(m.drops[GOSSIP_DROP_PLAINTEXT], 1);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 0);	/* not twice */
	assert_int_equal(m.auth_failures, 2);
	assert_int_equal(m.streams_open, 0);
	assert_int_equal(m.streams_reserved, 0);

	/* The same as whole frames (simulator, tests, fuzzing). */
	memcpy(junk, v1, sizeof(v1));
	assert_int_equal(gossip_core_recv(a.core, 10, GOSSIP_TX_STREAM, &a.addr, junk, sizeof(junk)),
			 AS_EVERSION);
	assert_int_equal(gossip_core_recv(a.core, 10, GOSSIP_TX_STREAM, &a.addr, junk, 1), AS_ETRUNC);
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_VERSION], 2);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 1);
	gossip_core_free(a.core);
}

/* An authenticated length (here: plaintext allowed) is still bounded by
 * the frame bound, and the buffer grows with the data, not the claim. */
static void test_stream_bound_and_growth(void **state)
{
	struct gossip_core *c;
	struct gossip_config cfg;
	struct gossip_stream *s;
	struct gossip_metrics m;
	struct sockaddr_storage from;
	uint8_t hdr[GOSSIP_STREAM_HDR_MAX], *body;
	size_t fmax, used;
	const size_t big = 1u << 20;
	int hl;

	plain_core(&c, NULL);
	gossip_config_defaults(&cfg);
	fmax = gossip_stream_frame_max(&cfg);
	assert_int_equal(as_parse_sockaddr("[fd00::1]:1", 0, &from), AS_OK);
	/* one byte over the bound: refused at the header */
	hl = gossip_stream_hdr_seal(NULL, "test", (uint32_t)fmax + 1, hdr, sizeof(hdr));
	assert_int_equal(gossip_stream_open(c, 10, &from, &s), AS_OK);
	assert_int_equal(feed(s, hdr, (size_t)hl, 1000, NULL), AS_ELIMIT);
	assert_int_equal(gossip_stream_buffered(s), 0);
	gossip_stream_close(s);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_TOO_BIG], 1);
	/* an empty packet */
	hl = gossip_stream_hdr_seal(NULL, "test", 0, hdr, sizeof(hdr));
	assert_int_equal(gossip_stream_open(c, 10, &from, &s), AS_OK);
	assert_int_equal(feed(s, hdr, (size_t)hl, 1000, NULL), AS_ETRUNC);
	gossip_stream_close(s);

	/* 1 MiB announced and sent in 1000-byte pieces: the buffer follows
	 * (checked in feed), and nothing is allocated before the first byte */
	hl = gossip_stream_hdr_seal(NULL, "test", (uint32_t)big, hdr, sizeof(hdr));
	assert_int_equal(gossip_stream_open(c, 10, &from, &s), AS_OK);
	assert_int_equal(feed(s, hdr, (size_t)hl, 1000, NULL), AS_OK);
	assert_int_equal(gossip_stream_buffered(s), 0);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.streams_reserved, big);
	body = calloc(1, big);
	body[0] = GOSSIP_PROTO_VERSION;		/* a plaintext packet of junk */
	assert_int_equal(feed_more(s, (size_t)hl, body, big / 2, 1000, &used), AS_OK);
	assert_true(gossip_stream_buffered(s) <= big && gossip_stream_buffered(s) >= big / 2);
	assert_int_equal(feed_more(s, (size_t)hl + used, body + used, big - used, 1000, NULL),
			 GOSSIP_STREAM_DONE);
	gossip_stream_close(s);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_MALFORMED], 1);	/* the junk, decoded */
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 1);	/* the empty one */
	assert_int_equal(m.streams_reserved, 0);
	free(body);
	gossip_core_free(c);
}

/* All streams together reserve at most gossip_stream_budget. */
static void test_stream_budget(void **state)
{
	struct gossip_core *c;
	struct gossip_config cfg;
	struct gossip_stream *s[6];
	struct gossip_metrics m;
	struct sockaddr_storage from;
	uint8_t hdr[GOSSIP_STREAM_HDR_MAX];
	size_t fmax;
	int hl;

	gossip_config_defaults(&cfg);
	cfg.pushpull_max_bytes = 4096;
	cfg.stream_max_per_source = 16;
	plain_core(&c, &cfg);
	fmax = gossip_stream_frame_max(&cfg);
	assert_int_equal(gossip_stream_budget(&cfg), 4 * fmax);
	assert_int_equal(as_parse_sockaddr("[fd00::1]:1", 0, &from), AS_OK);
	hl = gossip_stream_hdr_seal(NULL, "test", (uint32_t)fmax, hdr, sizeof(hdr));
	for (int i = 0; i < 5; i++) {
		assert_int_equal(gossip_stream_open(c, 10, &from, &s[i]), AS_OK);
		assert_int_equal(feed(s[i], hdr, (size_t)hl, 1000, NULL), i < 4 ? AS_OK : AS_ELIMIT);
	}
	gossip_core_metrics(c, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_MEMORY], 1);
	assert_int_equal(m.streams_reserved, 4 * fmax);
	assert_int_equal(m.streams_open, 5);
	/* one ends early (counted as short): its reservation is free again */
	gossip_stream_close(s[0]);
	gossip_stream_close(s[4]);
	assert_int_equal(gossip_stream_open(c, 10, &from, &s[5]), AS_OK);
	assert_int_equal(feed(s[5], hdr, (size_t)hl, 1000, NULL), AS_OK);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 1);
	assert_int_equal(m.streams_reserved, 4 * fmax);
	for (int i = 1; i < 6; i++)
		if (i != 4)
			gossip_stream_close(s[i]);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.streams_reserved, 0);
	assert_int_equal(m.streams_open, 0);
	gossip_core_free(c);
}

/* Connections are capped in total and per source prefix (IPv4, also
 * v4-mapped, per address). */
static void test_stream_caps(void **state)
{
	struct gossip_core *c;
	struct gossip_config cfg;
	struct gossip_stream *s[6], *x;
	struct gossip_metrics m;
	struct sockaddr_storage a1, a2, b1, v4, v4m;

	gossip_config_defaults(&cfg);
	cfg.stream_max_conns = 6;
	cfg.stream_max_per_source = 2;
	cfg.stream_source_prefix = 64;
	plain_core(&c, &cfg);
	assert_int_equal(as_parse_sockaddr("[fd00:0:0:1::1]:1000", 0, &a1), AS_OK);
	assert_int_equal(as_parse_sockaddr("[fd00:0:0:1:ffff::2]:1001", 0, &a2), AS_OK);
	assert_int_equal(as_parse_sockaddr("[fd00:0:0:2::1]:1000", 0, &b1), AS_OK);
	assert_int_equal(as_parse_sockaddr("192.0.2.1:1000", 0, &v4), AS_OK);
	assert_int_equal(as_parse_sockaddr("[::ffff:192.0.2.1]:1002", 0, &v4m), AS_OK);

	assert_int_equal(gossip_stream_open(c, 10, &a1, &s[0]), AS_OK);
	assert_int_equal(gossip_stream_open(c, 10, &a2, &s[1]), AS_OK);
	assert_int_equal(gossip_stream_open(c, 10, &a1, &x), AS_ELIMIT);	/* same /64 */
	assert_null(x);
	assert_int_equal(gossip_stream_open(c, 10, &b1, &s[2]), AS_OK);
	assert_int_equal(gossip_stream_open(c, 10, &v4, &s[3]), AS_OK);
	assert_int_equal(gossip_stream_open(c, 10, &v4m, &s[4]), AS_OK);
	assert_int_equal(gossip_stream_open(c, 10, &v4, &x), AS_ELIMIT);	/* same address */
	assert_int_equal(gossip_stream_open(c, 10, &b1, &s[5]), AS_OK);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.streams_open, 6);
	assert_int_equal(gossip_stream_open(c, 10, &b1, &x), AS_ELIMIT);	/* total */
	gossip_core_metrics(c, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_SOURCE_LIMIT], 2);
	assert_int_equal(m.drops[GOSSIP_DROP_CONN_LIMIT], 1);
	/* a closed one frees its slot, also for its source */
	gossip_stream_close(s[4]);
	assert_int_equal(gossip_stream_open(c, 10, &v4, &s[4]), AS_OK);
	for (int i = 0; i < 6; i++)
		gossip_stream_close(s[i]);
	gossip_core_metrics(c, &m);
	assert_int_equal(m.streams_open, 0);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 7);	/* none sent a byte */
	gossip_core_free(c);
}

/* The header must be authenticated within stream_hdr_timeout_ms, the
 * frame done within stream_timeout_ms; a late wake-up gets one grace. */
static void test_stream_deadlines(void **state)
{
	struct node a, b;
	struct gossip_stream *s, *t;
	struct gossip_metrics m;
	size_t len;
	uint8_t *frame;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	frame = join_frame(&b, &a, &len);

	assert_int_equal(gossip_stream_open(a.core, 1000, &b.addr, &s), AS_OK);
	assert_int_equal(gossip_stream_deadline(s), 2000);
	assert_false(gossip_stream_expired(s, 1999));
	assert_true(gossip_stream_expired(s, 2100));
	gossip_stream_close(s);		/* counted once, as a timeout */

	/* a stall: woken 3 s late, the stream gets 250 ms more, once */
	assert_int_equal(gossip_stream_open(a.core, 1000, &b.addr, &s), AS_OK);
	assert_false(gossip_stream_expired(s, 5000));
	assert_int_equal(gossip_stream_deadline(s), 5250);
	assert_true(gossip_stream_expired(s, 5250));
	gossip_stream_close(s);

	/* after an authenticated header the frame deadline counts */
	assert_int_equal(gossip_stream_open(a.core, 1000, &b.addr, &t), AS_OK);
	assert_int_equal(feed(t, frame, GOSSIP_STREAM_HDR_MAX, 1000, NULL), AS_OK);
	assert_int_equal(gossip_stream_deadline(t), 6000);
	assert_false(gossip_stream_expired(t, 5999));
	assert_int_equal(feed(t, frame + GOSSIP_STREAM_HDR_MAX, len - GOSSIP_STREAM_HDR_MAX, 1000,
			      NULL), GOSSIP_STREAM_DONE);
	gossip_stream_close(t);
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_TIMEOUT], 2);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 0);
	assert_int_equal(gossip_core_member_count(a.core), 2);
	free(frame);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* Whole frames at gossip_core_recv: the packet must fill the frame. */
static void test_stream_whole_frames(void **state)
{
	struct node a, b;
	struct gossip_metrics m;
	size_t len;
	uint8_t *frame, *longer;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	frame = join_frame(&b, &a, &len);
	longer = calloc(1, len + 1);
	memcpy(longer, frame, len);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_STREAM, &b.addr, frame, len - 1),
			 AS_ETRUNC);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_STREAM, &b.addr, longer, len + 1),
			 AS_EMALFORMED);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_STREAM, &b.addr, frame, 30),
			 AS_ETRUNC);
	frame[GOSSIP_STREAM_HDR_MAX - 1] ^= 1;	/* the header's tag */
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_STREAM, &b.addr, frame, len),
			 AS_EAUTH);
	frame[GOSSIP_STREAM_HDR_MAX - 1] ^= 1;
	assert_int_equal(gossip_core_member_count(a.core), 1);
	assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_STREAM, &b.addr, frame, len), AS_OK);
	assert_int_equal(gossip_core_member_count(a.core), 2);
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], 2);
	assert_int_equal(m.drops[GOSSIP_DROP_MALFORMED], 1);
	assert_int_equal(m.drops[GOSSIP_DROP_AUTH], 1);
	assert_int_equal(m.stream_in, 5);
	free(frame);
	free(longer);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* ---- records of any size (issue 19) ----------------------------------- */

static struct gossip_endpoint *make_eps(size_t n, const char *svc)
{
	struct gossip_endpoint *e = calloc(n, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		snprintf(e[i].service, sizeof(e[i].service), "%s-%zu", svc, i % 5);
		e[i].addr[0] = 0xfd;
		e[i].addr[14] = (uint8_t)(i >> 8);
		e[i].addr[15] = (uint8_t)i;
		e[i].port = 443;
		e[i].weight = 100;
		e[i].healthy = true;
	}
	return e;
}

/* How many of `subject`'s endpoints `observer` holds, and their version. */
static uint32_t held(struct node *observer, const char *subject, uint64_t *ep_version)
{
	struct gossip_member m;
	if (gossip_core_member_find(observer->core, subject, 0, &m) != AS_OK)
		return UINT32_MAX;
	if (ep_version)
		*ep_version = m.rec->ep_version;
	return m.rec->n_endpoints;
}

static void join_three(struct node *a, struct node *b, struct node *c)
{
	struct node *all[3] = { a, b, c };
	assert_int_equal(gossip_core_join(b->core, 1, &a->addr, 1), AS_OK);
	assert_int_equal(gossip_core_join(c->core, 1, &a->addr, 1), AS_OK);
	run(all, 3, 1, 500, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(gossip_core_member_count(all[i]->core), 3);
}

/* A 110-endpoint record reaches every member within a second (the
 * periodic push-pull is 15 s away at the earliest), every datagram stays
 * within GOSSIP_UDP_MAX (pump checks), and a change of one endpoint's
 * health travels the same way. */
static void test_large_record_disseminates(void **state)
{
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	struct gossip_endpoint *eps = make_eps(110, "svc");
	struct gossip_metrics ma, mb, mc;
	uint64_t va = 0, v = 0;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	node_init(&c, "c", 3, "test", NULL);
	join_three(&a, &b, &c);
	assert_int_equal(gossip_core_set_endpoints(a.core, 1000, eps, 110), AS_OK);
	run(all, 3, 1000, 2000, NULL);
	assert_int_equal(held(&a, "a", &va), 110);
	assert_int_equal(held(&b, "a", &v), 110);
	assert_int_equal(v, va);
	assert_int_equal(held(&c, "a", &v), 110);
	assert_int_equal(v, va);
	gossip_core_metrics(a.core, &ma);
	gossip_core_metrics(b.core, &mb);
	gossip_core_metrics(c.core, &mc);
	assert_true(ma.msgs_out[GOSSIP_MSG_HEAD] > 0);
	assert_true(mb.pulls_done + mc.pulls_done == 2);
	assert_true(ma.pulls_answered + mb.pulls_answered + mc.pulls_answered >= 2);
	assert_int_equal(mb.pulls_timed_out + mc.pulls_timed_out, 0);
	/* one endpoint goes down: the new version arrives, not at push-pull */
	eps[57].healthy = false;
	assert_int_equal(gossip_core_set_endpoints(a.core, 3000, eps, 110), AS_OK);
	run(all, 3, 3000, 3500, NULL);
	held(&a, "a", &va);
	for (int i = 1; i < 3; i++) {
		struct gossip_member m;
		assert_int_equal(gossip_core_member_find(all[i]->core, "a", 0, &m), AS_OK);
		assert_int_equal(m.rec->ep_version, va);
		assert_int_equal(m.rec->n_endpoints, 110);
		assert_false(m.rec->endpoints[57].healthy);
		assert_true(m.rec->endpoints[56].healthy);
	}
	free(eps);
	for (int i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

/* Pull answers (stream frames to b) cut short or lost: each drop is
 * counted, b keeps the endpoints it held, and its pull is repeated to the
 * record's owner until the record arrives. */
struct cut_ctx {
	const struct node *victim;
	int cut, dropped, budget;
};

static enum fate cut_streams(void *arg, const struct node *from, const struct node *to,
			     const struct gossip_out *o)
{
	struct cut_ctx *x = arg;
	(void)from;
	if (to != x->victim || o->transport != GOSSIP_TX_STREAM || x->budget <= 0)
		return DELIVER;
	x->budget--;
	if (x->cut <= x->dropped) {
		x->cut++;
		return CUT;
	}
	x->dropped++;
	return DROP;
}

static void test_large_record_bad_streams(void **state)
{
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	struct gossip_endpoint *eps = make_eps(110, "svc");
	struct gossip_metrics mb;
	struct cut_ctx x = { .victim = &b, .budget = 3 };
	uint64_t va = 0, v = 0, v_before = 0;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	node_init(&c, "c", 3, "test", NULL);
	join_three(&a, &b, &c);
	assert_int_equal(gossip_core_set_endpoints(a.core, 1000, eps, 40), AS_OK);
	run(all, 3, 1000, 2000, NULL);
	assert_int_equal(held(&b, "a", &v_before), 40);
	/* the record grows to 110: b's first three answers are cut or lost */
	pump_filter = cut_streams;
	pump_filter_arg = &x;
	assert_int_equal(gossip_core_set_endpoints(a.core, 3000, eps, 110), AS_OK);
	run(all, 3, 3000, 3300, NULL);
	gossip_core_metrics(b.core, &mb);
	if (x.budget > 0) {
		/* the answers are still to come: b holds the old record */
		assert_int_equal(held(&b, "a", &v), 40);
		assert_int_equal(v, v_before);
	}
	assert_true(mb.drops[GOSSIP_DROP_SHORT] >= 1);
	run(all, 3, 3300, 9000, NULL);
	pump_filter = NULL;
	assert_int_equal(x.budget, 0);
	assert_int_equal(x.cut, 2);
	assert_int_equal(x.dropped, 1);
	gossip_core_metrics(b.core, &mb);
	assert_int_equal(mb.drops[GOSSIP_DROP_SHORT], 2);	/* the cut ones */
	assert_true(mb.pulls_timed_out >= 1);			/* lost or cut */
	held(&a, "a", &va);
	assert_int_equal(held(&b, "a", &v), 110);
	assert_int_equal(v, va);
	assert_int_equal(held(&c, "a", NULL), 110);
	free(eps);
	for (int i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

/* Out of order and unfounded: an older full record after a newer one
 * changes nothing; a head naming a version nobody holds makes b pull from
 * the sender, then from the owner, at most 1 + 4 times in all, and b
 * keeps the record it holds. */
static void test_large_record_order_and_unfounded_head(void **state)
{
	struct node a, b;
	struct gossip_msg msg;
	struct gossip_endpoint *eps = make_eps(110, "svc");
	struct gossip_metrics mb;
	uint8_t pkt[2048];
	static uint8_t big[16384];
	uint64_t seq = 100;
	int len;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	/* x is known to a with 3 endpoints at ep_version 8 */
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_ALIVE;
	snprintf(msg.rec.name, sizeof(msg.rec.name), "x");
	as_parse_sockaddr("[fd00::9]:7946", 0, &msg.rec.addr);
	msg.rec.incarnation = 5;
	msg.rec.version = 8;
	msg.rec.ep_version = 8;
	msg.rec.endpoints = eps;
	msg.rec.n_endpoints = 3;
	len = craft("test", "x", seq++, &msg, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(a.core, 10, GOSSIP_TX_UDP, &a.addr, pkt, (size_t)len), AS_OK);
	assert_int_equal(held(&a, "x", NULL), 3);
	/* an older record of 110 endpoints (a stream frame, as a pull answer
	 * would come) is ignored */
	{
		struct gossip_keyring *kr = gossip_keyring_new();
		uint8_t body[16384], plain[16384];
		const uint8_t *ptr[1] = { body };
		size_t lens[1];
		int hl, blen;
		msg.rec.version = 7;
		msg.rec.ep_version = 7;
		msg.rec.n_endpoints = 110;
		blen = gossip_msg_encode(&msg, body, sizeof(body));
		assert_true(blen > GOSSIP_UDP_MAX);
		lens[0] = (size_t)blen;
		blen = gossip_envelope_encode("test", "x", 5, seq++, ptr, lens, 1, plain, sizeof(plain));
		gossip_keyring_install(kr, key);
		blen = gossip_seal(kr, "test", plain, (size_t)blen, body, sizeof(body));
		hl = gossip_stream_hdr_seal(kr, "test", (uint32_t)blen, big, sizeof(big));
		memcpy(big + hl, body, (size_t)blen);
		assert_int_equal(gossip_core_recv(a.core, 11, GOSSIP_TX_STREAM, &a.addr, big,
						  (size_t)(hl + blen)), AS_OK);
		assert_int_equal(held(&a, "x", NULL), 3);
		gossip_keyring_free(kr);
	}
	gossip_core_outbox_clear(a.core);
	/* b hears a head of x's record at ep_version 50, which nobody holds
	 * (x is not reachable here, so it answers nothing either) */
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_HEAD;
	snprintf(msg.rec.name, sizeof(msg.rec.name), "x");
	as_parse_sockaddr("[fd00::9]:7946", 0, &msg.rec.addr);
	msg.rec.incarnation = 5;
	msg.rec.version = 50;
	msg.rec.ep_version = 50;
	msg.ep_count = 110;
	len = craft("test", "x", 1000, &msg, 1, pkt, sizeof(pkt), NULL);
	{
		struct sockaddr_storage xa;
		as_parse_sockaddr("[fd00::9]:7946", 0, &xa);
		assert_int_equal(gossip_core_recv(b.core, 20, GOSSIP_TX_UDP, &xa, pkt, (size_t)len),
				 AS_OK);
	}
	{
		struct node *all[2] = { &a, &b };
		run(all, 2, 20, 20000, NULL);
	}
	/* x never answers probes either: b stops pulling when its tries run
	 * out or when x is declared dead, whichever comes first */
	gossip_core_metrics(b.core, &mb);
	assert_true(mb.pulls_sent >= 2 && mb.pulls_sent <= 1 + 4);
	assert_true(mb.pulls_timed_out >= 1 && mb.pulls_timed_out <= mb.pulls_sent);
	assert_int_equal(mb.pulls_done, 0);
	assert_int_equal(held(&b, "x", NULL), 3);	/* what a relayed: kept */
	{
		struct node *all[2] = { &a, &b };
		uint64_t sent = mb.pulls_sent;
		run(all, 2, 20000, 40000, NULL);
		gossip_core_metrics(b.core, &mb);
		assert_int_equal(mb.pulls_sent, sent);
	}
	free(eps);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* Push-pulls other than a join are digests (records without endpoints):
 * b holds an old record of a; the digest a sends makes b pull the new one,
 * and a push-pull of a 110-endpoint table stays small. */
static void test_digest_pushpull_pulls(void **state)
{
	struct node a, b;
	struct node *all[2] = { &a, &b };
	struct gossip_endpoint *eps = make_eps(110, "svc");
	struct gossip_msg msg;
	struct gossip_metrics ma, mb;
	uint8_t pkt[2048];
	uint64_t va = 0, v = 0;
	int len;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	assert_int_equal(gossip_core_set_endpoints(a.core, 0, eps, 110), AS_OK);
	gossip_core_outbox_clear(a.core);
	/* b knows a's first record (3 endpoints), a does not know b */
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_ALIVE;
	snprintf(msg.rec.name, sizeof(msg.rec.name), "a");
	msg.rec.addr = a.addr;
	msg.rec.incarnation = 1;
	msg.rec.version = 1;
	msg.rec.ep_version = 1;
	msg.rec.endpoints = eps;
	msg.rec.n_endpoints = 3;
	len = craft("test", "a", 1, &msg, 1, pkt, sizeof(pkt), NULL);
	assert_int_equal(gossip_core_recv(b.core, 1, GOSSIP_TX_UDP, &a.addr, pkt, (size_t)len), AS_OK);
	gossip_core_outbox_clear(b.core);
	assert_int_equal(held(&b, "a", NULL), 3);
	/* b probes a; a exchanges state with the member it does not know */
	run(all, 2, 10, 3000, NULL);
	held(&a, "a", &va);
	assert_int_equal(held(&b, "a", &v), 110);
	assert_int_equal(v, va);
	gossip_core_metrics(a.core, &ma);
	gossip_core_metrics(b.core, &mb);
	assert_true(ma.msgs_out[GOSSIP_MSG_PUSHPULL] >= 1);
	/* digests: two members' heads, not 110 endpoints (~4 KB) */
	assert_true(ma.msg_bytes_out[GOSSIP_MSG_PUSHPULL] / ma.msgs_out[GOSSIP_MSG_PUSHPULL] < 300);
	assert_true(mb.pulls_done >= 1);
	assert_true(ma.pulls_answered >= 1);
	free(eps);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* A stream frame from `sender` carrying one message of any size. */
static size_t craft_frame(const char *sender, uint64_t seq, const struct gossip_msg *msg,
			  uint8_t *out, size_t outlen)
{
	static uint8_t body[65536], plain[65536];
	struct gossip_keyring *kr = gossip_keyring_new();
	const uint8_t *ptr[1] = { body };
	size_t lens[1];
	int len, hl;
	len = gossip_msg_encode(msg, body, sizeof(body));
	assert_true(len > 0);
	lens[0] = (size_t)len;
	len = gossip_envelope_encode("test", sender, 1, seq, ptr, lens, 1, plain, sizeof(plain));
	assert_true(len > 0);
	gossip_keyring_install(kr, key);
	len = gossip_seal(kr, "test", plain, (size_t)len, body, sizeof(body));
	assert_true(len > 0);
	hl = gossip_stream_hdr_seal(kr, "test", (uint32_t)len, out, outlen);
	assert_true(hl > 0 && (size_t)(hl + len) <= outlen);
	memcpy(out + hl, body, (size_t)len);
	gossip_keyring_free(kr);
	return (size_t)(hl + len);
}

/* A digest naming 20 records newer than b holds: b asks for all 20 in one
 * datagram and a answers in one stream frame (one connection, not 20). */
static void test_digest_pulls_batched(void **state)
{
	struct node a, b;
	struct node *all[2] = { &a, &b };
	struct gossip_endpoint *eps = make_eps(40, "svc");
	struct gossip_record recs[21];
	uint8_t states[21];
	struct gossip_msg msg;
	struct gossip_metrics ma0, ma1, mb0, mb1;
	static uint8_t frame[65536];
	size_t len;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	/* a learns 20 members with 40 endpoints each (too big for UDP) */
	memset(recs, 0, sizeof(recs));
	for (int i = 1; i <= 20; i++) {
		struct gossip_record *r = &recs[i];
		char addr[64];
		snprintf(r->name, sizeof(r->name), "x%d", i);
		snprintf(addr, sizeof(addr), "[fd00::1:%x]:7946", i);
		as_parse_sockaddr(addr, 0, &r->addr);
		r->incarnation = 1;
		r->version = r->ep_version = 5;
		r->endpoints = eps;
		r->n_endpoints = 40;
		memset(&msg, 0, sizeof(msg));
		msg.type = GOSSIP_MSG_ALIVE;
		msg.rec = *r;
		len = craft_frame(r->name, 1, &msg, frame, sizeof(frame));
		assert_int_equal(gossip_core_recv(a.core, 5, GOSSIP_TX_STREAM, &r->addr, frame, len),
				 AS_OK);
		assert_int_equal(held(&a, r->name, NULL), 40);
		states[i] = GOSSIP_ALIVE;
	}
	gossip_core_outbox_clear(a.core);
	/* b gets a digest of them from z, a member at a's address */
	snprintf(recs[0].name, sizeof(recs[0].name), "z");
	recs[0].addr = a.addr;
	recs[0].incarnation = 1;
	states[0] = GOSSIP_ALIVE;
	memset(&msg, 0, sizeof(msg));
	msg.type = GOSSIP_MSG_PUSHPULL;
	msg.pp_reply = true;
	msg.pp_digest = true;
	msg.pp_count = 21;
	msg.pp_recs = recs;
	msg.pp_states = states;
	len = craft_frame("z", 1, &msg, frame, sizeof(frame));
	assert_true(len < 2500);	/* 21 heads */
	gossip_core_metrics(a.core, &ma0);
	gossip_core_metrics(b.core, &mb0);
	assert_int_equal(gossip_core_recv(b.core, 10, GOSSIP_TX_STREAM, &a.addr, frame, len), AS_OK);
	pump(all, 2, 10, NULL);
	gossip_core_metrics(a.core, &ma1);
	gossip_core_metrics(b.core, &mb1);
	for (int i = 1; i <= 20; i++)
		assert_int_equal(held(&b, recs[i].name, NULL), 40);
	assert_int_equal(mb1.pulls_sent - mb0.pulls_sent, 20);
	assert_int_equal(mb1.pulls_done - mb0.pulls_done, 20);
	assert_int_equal(mb1.packets_out - mb0.packets_out, 1);	/* 20 pulls, one datagram */
	assert_int_equal(ma1.pulls_answered - ma0.pulls_answered, 20);
	assert_int_equal(ma1.stream_out - ma0.stream_out, 1);	/* one frame */
	free(eps);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* The limit: b keeps at most its max_endpoints of a peer record and
 * counts the rest; a node cannot announce more than its own limit. */
static void test_endpoint_limit(void **state)
{
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	struct gossip_config small;
	struct gossip_endpoint *eps = make_eps(300, "svc");
	struct gossip_metrics mb;
	struct gossip_member m;
	gossip_config_defaults(&small);
	small.max_endpoints = 50;
	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", &small);
	node_init(&c, "c", 3, "test", NULL);
	join_three(&a, &b, &c);
	assert_int_equal(gossip_core_set_endpoints(a.core, 1000, eps, 300), AS_ELIMIT);
	assert_int_equal(held(&a, "a", NULL), 0);	/* unchanged */
	assert_int_equal(gossip_core_set_endpoints(a.core, 1000, eps, 256), AS_OK);
	run(all, 3, 1000, 2000, NULL);
	assert_int_equal(held(&c, "a", NULL), 256);
	assert_int_equal(held(&b, "a", NULL), 50);
	gossip_core_member_find(b.core, "a", 0, &m);
	assert_memory_equal(m.rec->endpoints, eps, 50 * sizeof(*eps)); /* the first 50 */
	gossip_core_metrics(b.core, &mb);
	assert_true(mb.records_truncated >= 1);
	assert_int_equal(mb.endpoints_dropped, mb.records_truncated * (256 - 50));
	/* b relays what it holds: a 50-endpoint record is still a's newest
	 * version, so c keeps its 256 */
	run(all, 3, 2000, 4000, NULL);
	assert_int_equal(held(&c, "a", NULL), 256);
	/* config bounds */
	small.max_endpoints = 0;
	small.name = "d";
	small.label = "test";
	small.addr = a.addr;
	small.plaintext = true;
	{
		struct gossip_core *d = NULL;
		assert_int_equal(gossip_core_new(&small, NULL, 0, &d), AS_ECONFIG);
		small.max_endpoints = GOSSIP_ENDPOINTS_WIRE_MAX + 1;
		assert_int_equal(gossip_core_new(&small, NULL, 0, &d), AS_ECONFIG);
		small.max_endpoints = GOSSIP_ENDPOINTS_WIRE_MAX;
		assert_int_equal(gossip_core_new(&small, NULL, 0, &d), AS_OK);
		gossip_core_free(d);
	}
	free(eps);
	for (int i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

/* ---- issue 19: less traffic, same detection ------------------------------ */

/* Sealed packets carry an empty label (the AEAD additional data holds
 * it); one that names another cluster inside a packet sealed under ours
 * is still dropped as label, and plaintext packets keep the label. */
static void test_sealed_envelope_label(void **state)
{
	struct node a, b;
	struct node *all[2] = { &a, &b };
	struct gossip_msg ack;
	struct gossip_metrics m;
	struct gossip_keyring *kr = gossip_keyring_new();
	uint8_t buf[64], plain[256], pkt[512];
	const uint8_t *ptr[1] = { buf };
	size_t lens[1];
	size_t cnt;
	const struct gossip_out *out;
	struct gossip_packet p;
	int len;

	node_init(&a, "a", 1, "test", NULL);
	node_init(&b, "b", 2, "test", NULL);
	join_pair(&a, &b);
	run(all, 2, 2, 400, NULL);
	for (int i = 0; i < 100; i++) {
		gossip_core_tick(a.core, gossip_core_next_deadline(a.core));
		out = gossip_core_outbox(a.core, &cnt);
		if (cnt > 0 && out[0].transport == GOSSIP_TX_UDP)
			break;
		gossip_core_outbox_clear(a.core);
	}
	assert_true(cnt > 0);
	open_packet(out[0].data, out[0].len, &p);
	assert_string_equal(p.label, "");
	gossip_packet_reset(&p);

	memset(&ack, 0, sizeof(ack));
	ack.type = GOSSIP_MSG_ACK;
	ack.seq = 4242;
	lens[0] = (size_t)gossip_msg_encode(&ack, buf, sizeof(buf));
	gossip_keyring_install(kr, key);
	for (int i = 0; i < 2; i++) {
		const char *env = i ? "prod" : "";
		len = gossip_envelope_encode(env, "b", 1, 5000000 + (uint64_t)i, ptr, lens, 1,
					     plain, sizeof(plain));
		len = gossip_seal(kr, "test", plain, (size_t)len, pkt, sizeof(pkt));
		assert_int_equal(gossip_core_recv(a.core, 500, GOSSIP_TX_UDP, &b.addr, pkt,
						  (size_t)len), i ? AS_EAUTH : AS_OK);
	}
	gossip_core_metrics(a.core, &m);
	assert_int_equal(m.drops[GOSSIP_DROP_LABEL], 1);
	gossip_keyring_free(kr);
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* Who a node pinged, in order (direct pings only: from `watch`). */
static struct node *ping_watch;
static char ping_seq_log[64][16];
static uint64_t ping_time_log[64];
static size_t n_ping_log;
static uint64_t first_ping_to_b, test_now;
static bool drop_b;
/* Direct pings per probe slot and target (nodes "a".."f"). */
enum { SLOTS = 40, SLOT_NODES = 6 };
static bool slot_log;
static uint64_t slot_t0, slot_ms;
static unsigned slot_pings[SLOTS][SLOT_NODES];

static enum fate log_pings(void *arg, const struct node *from, const struct node *to,
			   const struct gossip_out *o)
{
	struct gossip_packet p;
	if (o->transport != GOSSIP_TX_UDP)
		return drop_b && (!strcmp(to->name, "b") || !strcmp(from->name, "b")) ? DROP : DELIVER;
	open_packet(o->data, o->len, &p);
	for (uint32_t i = 0; i < p.n_msgs; i++) {
		if (p.msgs[i].type != GOSSIP_MSG_PING || strcmp(p.msgs[i].target, to->name))
			continue;
		if (from == ping_watch && n_ping_log < 64) {
			ping_time_log[n_ping_log] = test_now;
			snprintf(ping_seq_log[n_ping_log++], 16, "%s", to->name);
		}
		if (slot_log && test_now >= slot_t0 && (test_now - slot_t0) / slot_ms < SLOTS &&
		    to->name[0] >= 'a' && to->name[0] < 'a' + SLOT_NODES)
			slot_pings[(test_now - slot_t0) / slot_ms][to->name[0] - 'a']++;
		if (drop_b && !strcmp(to->name, "b") && !first_ping_to_b)
			first_ping_to_b = test_now;
	}
	gossip_packet_reset(&p);
	return drop_b && (!strcmp(to->name, "b") || !strcmp(from->name, "b")) ? DROP : DELIVER;
}

/* Coordinated probing: in every probe slot every member is probed by
 * exactly one node (independent random schedules probe a member 0, 1, 2
 * ... times a slot, which left a crashed member unprobed for several
 * intervals), and each node probes every other member once per N - 1
 * slots. Crash detection at a 250 ms interval relies on it. */
static void test_probe_rounds_cover_everyone(void **state)
{
	enum { N = SLOT_NODES };
	struct gossip_config cfg;
	struct node nodes[N], *all[N];
	char names[N][4];
	size_t start;
	bool ok = false;

	gossip_config_defaults(&cfg);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "%c", 'a' + i);
		/* wall clocks within 2 ms of each other (seq_base is in us) */
		cfg.seq_base = 1000000000000ull + (uint64_t)i * 400;
		node_init(&nodes[i], names[i], i + 1, "test", &cfg);
		all[i] = &nodes[i];
	}
	for (int i = 1; i < N; i++)
		assert_int_equal(gossip_core_join(nodes[i].core, 1, &nodes[0].addr, 1), AS_OK);
	run(all, N, 1, 3000, NULL);
	for (int i = 0; i < N; i++)
		assert_int_equal(gossip_core_live_count(nodes[i].core), N);
	ping_watch = &nodes[0];
	n_ping_log = 0;
	memset(slot_pings, 0, sizeof(slot_pings));
	slot_ms = cfg.probe_interval_ms;
	slot_t0 = 3000;	/* a slot boundary: the wall clock is 10^9 ms + now */
	slot_log = true;
	pump_filter = log_pings;
	for (test_now = 3000; test_now < slot_t0 + SLOTS * slot_ms; test_now += 10)
		run(all, N, test_now, test_now, NULL);
	pump_filter = NULL;
	slot_log = false;
	for (int k = 0; k < SLOTS; k++)
		for (int i = 0; i < N; i++)
			assert_int_equal(slot_pings[k][i], 1);
	assert_true(n_ping_log >= 6 * (N - 1));
	/* some offset cuts the sequence into rounds of N - 1 distinct targets */
	for (start = 0; start < N - 1 && !ok; start++) {
		ok = true;
		for (size_t r = start; r + (N - 1) <= n_ping_log && ok; r += N - 1)
			for (size_t i = r; i < r + (N - 1); i++)
				for (size_t j = i + 1; j < r + (N - 1); j++)
					if (!strcmp(ping_seq_log[i], ping_seq_log[j]))
						ok = false;
	}
	assert_true(ok);
	for (int i = 0; i < N; i++)
		gossip_core_free(nodes[i].core);
}

/* b's pings from..to (10 ms steps), its wall clock wall0 + now + step
 * passed before every step as the libuv adapter does: how many, and in
 * *late how many came more than a step after b's probe time in a slot
 * (its phase after the slot's start) of the clock wall0 + now + phase. */
static size_t pings_off_phase(struct node **all, uint64_t from, uint64_t to, uint64_t wall0,
			      uint64_t step, uint64_t phase, size_t *late)
{
	*late = 0;
	n_ping_log = 0;
	pump_filter = log_pings;
	for (test_now = from; test_now <= to; test_now += 10) {
		gossip_core_set_wall_ms(all[1]->core, test_now, wall0 + test_now + step);
		run(all, 2, test_now, test_now, NULL);
	}
	pump_filter = NULL;
	uint64_t own = gossip_core_probe_phase(all[1]->core);	/* b's place in a slot */
	for (size_t i = 0; i < n_ping_log; i++)
		*late += (wall0 + ping_time_log[i] + phase + 250 - own) % 250 >= 10;
	return n_ping_log;
}

/* The probe slots follow the wall clock: a step of it after the start
 * (NTP) realigns them once three readings agree; jitter under a quarter
 * of a slot, or one odd reading, changes nothing. */
static void test_probe_slots_follow_a_stepped_clock(void **state)
{
	struct gossip_config cfg;
	struct node a, b;
	struct node *all[2] = { &a, &b };
	const uint64_t wall0 = 1000000000ull;	/* ms at now 0, a slot boundary */
	size_t late;

	gossip_config_defaults(&cfg);
	assert_int_equal(cfg.probe_interval_ms, 250);
	cfg.seq_base = wall0 * 1000;
	node_init(&a, "a", 1, "test", &cfg);
	node_init(&b, "b", 2, "test", &cfg);
	join_pair(&a, &b);
	ping_watch = &b;
	run(all, 2, 1, 991, NULL);	/* steps 1, 11, ... 991 */
	assert_true(pings_off_phase(all, 1000, 2990, wall0, 0, 0, &late) >= 7);
	assert_int_equal(late, 0);
	/* 30 ms of jitter: the same slots */
	assert_true(pings_off_phase(all, 3000, 4990, wall0, 30, 0, &late) >= 7);
	assert_int_equal(late, 0);
	/* one odd reading (a stalled loop) changes nothing */
	gossip_core_set_wall_ms(b.core, 4995, wall0 + 4995 + 125);
	assert_true(pings_off_phase(all, 5000, 6990, wall0, 0, 0, &late) >= 7);
	assert_int_equal(late, 0);
	/* stepped by half a slot: realigned after the first readings (a
	 * ping of the old schedule goes out only if b's phase comes before
	 * the third reading, 20 ms in) */
	assert_true(pings_off_phase(all, 7000, 8990, wall0, 125, 125, &late) >= 7);
	assert_true(late <= (gossip_core_probe_phase(b.core) <= 20 ? 1u : 0u));
	assert_true(pings_off_phase(all, 9000, 10990, wall0, 125, 125, &late) >= 7);
	assert_int_equal(late, 0);
	ping_watch = NULL;
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

/* The first death comes the suspicion floor plus the final check (two ack
 * timeouts) after the end of the probe period of the first ping that b
 * left unanswered: never sooner (a 2 s stall must pass, and a suspicion
 * timed from the ping itself gave the suspect too little time to refute
 * before a stall: 1 false death per 30 node-hours of 10 % loss and stalls
 * in the simulator), and no later. */
static void test_suspicion_after_the_probe(void **state)
{
	struct gossip_config cfg;
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	uint64_t dead_at = 0;

	gossip_config_defaults(&cfg);
	cfg.suspicion_max_mult = 1;	/* the floor, with or without confirmations */
	node_init(&a, "a", 1, "test", &cfg);
	node_init(&b, "b", 2, "test", &cfg);
	node_init(&c, "c", 3, "test", &cfg);
	join_three(&a, &b, &c);
	run(all, 3, 510, 2000, NULL);
	/* b dies at 2000 */
	drop_b = true;
	first_ping_to_b = 0;
	ping_watch = NULL;
	pump_filter = log_pings;
	for (test_now = 2001; test_now < 12000 && !dead_at; test_now++) {
		struct gossip_member m;
		for (int i = 0; i < 3; i++)
			if (all[i] != &b && gossip_core_next_deadline(all[i]->core) <= test_now)
				gossip_core_tick(all[i]->core, test_now);
		pump(all, 3, test_now, NULL);	/* log_pings drops b's traffic */
		for (int i = 0; i < 3; i++)
			if (all[i] != &b && gossip_core_member_find(all[i]->core, "b", test_now, &m) == AS_OK &&
			    m.state == GOSSIP_DEAD)
				dead_at = test_now;
	}
	pump_filter = NULL;
	drop_b = false;
	assert_true(first_ping_to_b > 2000);
	assert_true(dead_at > 0);
	assert_true(dead_at - first_ping_to_b >= cfg.suspicion_min_ms + cfg.probe_interval_ms);
	assert_true(dead_at - first_ping_to_b <= cfg.suspicion_min_ms + cfg.probe_interval_ms +
						 2 * cfg.probe_timeout_ms + 5);
	for (size_t i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

/* News goes out at once: a factor move is gossiped within a quarter of
 * the gossip interval, not at the next round. A factor move is
 * sent retransmit_mult * ceil(log10(N + 1)) times (4 at N = 3), without
 * the floor that membership news keeps (12). */
static void test_news_at_once(void **state)
{
	struct gossip_config cfg;
	struct node a, b, c;
	struct node *all[3] = { &a, &b, &c };
	struct gossip_load l = { .util = 0.2, .psi = 0.0, .cpus = 4, .factor = 1.0 };
	struct gossip_metrics m0, m1;
	uint64_t t = 5010;

	gossip_config_defaults(&cfg);
	node_init(&a, "a", 1, "test", &cfg);
	node_init(&b, "b", 2, "test", &cfg);
	node_init(&c, "c", 3, "test", &cfg);
	join_three(&a, &b, &c);
	assert_int_equal(gossip_core_set_load(a.core, 510, &l), AS_OK);
	run(all, 3, 510, t, NULL);
	/* a factor move: a round within a quarter interval of the last one */
	gossip_core_metrics(a.core, &m0);
	gossip_core_tick(a.core, t);
	l.util = 0.9;
	l.factor = 0.3;
	assert_int_equal(gossip_core_set_load(a.core, t, &l), AS_OK);
	assert_true(gossip_core_next_deadline(a.core) <= t + cfg.gossip_interval_ms / 4);
	run(all, 3, t, t + 10000, NULL);
	gossip_core_metrics(a.core, &m1);
	assert_int_equal(m1.msgs_out[GOSSIP_MSG_LOAD] - m0.msgs_out[GOSSIP_MSG_LOAD],
			 cfg.retransmit_mult * 1);
	assert_true(fabs(factor_of(&b, "a", t + 10000) - 0.3) < 1e-9);
	for (size_t i = 0; i < 3; i++)
		gossip_core_free(all[i]->core);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_checks),
		cmocka_unit_test(test_probe_ack_and_counters),
		cmocka_unit_test(test_replay_label_and_auth_drops),
		cmocka_unit_test(test_replay_window_across_the_wrap),
		cmocka_unit_test(test_compound_packets_fit),
		cmocka_unit_test(test_load_step_and_supersede),
		cmocka_unit_test(test_load_only_answer_changes),
		cmocka_unit_test(test_buddy_and_refute),
		cmocka_unit_test(test_suspicion_reaches_the_suspect),
		cmocka_unit_test(test_leave_and_new_address),
		cmocka_unit_test(test_version_ordering),
		cmocka_unit_test(test_record_zone),
		cmocka_unit_test(test_set_zone_disseminates),
		cmocka_unit_test(test_stream_frame_in_pieces),
		cmocka_unit_test(test_stream_unauthenticated),
		cmocka_unit_test(test_stream_bound_and_growth),
		cmocka_unit_test(test_stream_budget),
		cmocka_unit_test(test_stream_caps),
		cmocka_unit_test(test_stream_deadlines),
		cmocka_unit_test(test_stream_whole_frames),
		cmocka_unit_test(test_large_record_disseminates),
		cmocka_unit_test(test_large_record_bad_streams),
		cmocka_unit_test(test_large_record_order_and_unfounded_head),
		cmocka_unit_test(test_endpoint_limit),
		cmocka_unit_test(test_sealed_envelope_label),
		cmocka_unit_test(test_probe_rounds_cover_everyone),
		cmocka_unit_test(test_probe_slots_follow_a_stepped_clock),
		cmocka_unit_test(test_suspicion_after_the_probe),
		cmocka_unit_test(test_news_at_once),
		cmocka_unit_test(test_digest_pushpull_pulls),
		cmocka_unit_test(test_digest_pulls_batched),
	};
	gossip_key_generate(key);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
