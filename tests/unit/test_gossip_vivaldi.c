/*
 * tests/unit/test_gossip_vivaldi.c - network coordinates (gossip/vivaldi.c):
 * convergence on a small latency matrix, the height never below its
 * floor, bad input refused without changing anything, the latency
 * filter, the wire body (round trip, fewer dimensions, bad values), and
 * two cores exchanging coordinates with their probes.
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
#include "lib/rng.h"

/* Four nodes: a pair 1 ms apart, 20 ms from a third, whose neighbour
 * sits behind a 3 ms longer link. Random updates from exact RTTs: the
 * estimates of the long distances within 5 %, of the 1 ms one within
 * 25 % (the adjustment term, half the mean residual of a node's samples
 * to everyone, is coarse for its shortest distances). */
#define TN 4
static const double rtt4[TN][TN] = {
	{ 0, 1, 20, 23 },
	{ 1, 0, 20, 23 },
	{ 20, 20, 0, 4 },
	{ 23, 23, 4, 0 },
};

static double max_rel_error(const struct gossip_coord_self *s, double min_rtt)
{
	double worst = 0;
	for (int i = 0; i < TN; i++)
		for (int j = 0; j < TN; j++) {
			if (i == j || rtt4[i][j] < min_rtt)
				continue;
			double e = gossip_coord_distance(&s[i].c, &s[j].c);
			worst = fmax(worst, fabs(e - rtt4[i][j]) / rtt4[i][j]);
		}
	return worst;
}

static void test_converges(void **state)
{
	struct gossip_coord_self s[TN];
	uint64_t rng = 5;
	double before;

	(void)state;
	for (int i = 0; i < TN; i++)
		gossip_coord_self_init(&s[i], (uint64_t)i + 1);
	before = max_rel_error(s, 0);
	for (int round = 0; round < 400; round++)
		for (int i = 0; i < TN; i++) {
			int j = (int)(as_splitmix64(&rng) % (TN - 1));
			j += j >= i;
			assert_int_equal(gossip_coord_update(&s[i], &s[j].c, rtt4[i][j]), AS_OK);
			assert_true(s[i].c.height >= GOSSIP_COORD_HEIGHT_MIN);
			assert_true(gossip_coord_valid(&s[i].c));
		}
	print_message("vivaldi: worst relative error %.3f before, %.3f after 400 rounds "
		      "(%.3f over the distances of 4 ms and more)\n",
		      before, max_rel_error(s, 0), max_rel_error(s, 4));
	assert_true(before > 0.9);
	assert_true(max_rel_error(s, 4) < 0.05);
	assert_true(max_rel_error(s, 0) < 0.25);
	/* the error estimates follow: every node is confident now */
	for (int i = 0; i < TN; i++)
		assert_true(s[i].c.error < 0.2);
}

/* Pushed together hard (RTTs far below the distance) the height
 * shrinks to its floor, never below. */
static void test_height_floor(void **state)
{
	struct gossip_coord_self a;
	struct gossip_coord far;

	(void)state;
	gossip_coord_self_init(&a, 1);
	gossip_coord_init(&far);
	far.vec[0] = 50;
	far.height = 40;
	far.error = 0.01;
	a.c.height = 30;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(gossip_coord_update(&a, &far, 0.01), AS_OK);
		assert_true(a.c.height >= GOSSIP_COORD_HEIGHT_MIN);
	}
	assert_true(a.c.height < 1);
}

static void test_bad_input(void **state)
{
	struct gossip_coord_self a, copy;
	struct gossip_coord r;
	static const double bad_rtt[] = { 0, -1, NAN, INFINITY, 1e9 };

	(void)state;
	gossip_coord_self_init(&a, 1);
	gossip_coord_init(&r);
	r.vec[1] = 3;
	for (size_t i = 0; i < sizeof(bad_rtt) / sizeof(bad_rtt[0]); i++)
		assert_int_equal(gossip_coord_update(&a, &r, bad_rtt[i]), AS_EINVAL);
	copy = a;
	r.vec[2] = NAN;
	assert_int_equal(gossip_coord_update(&a, &r, 5), AS_EINVAL);
	r.vec[2] = 1e12;
	assert_int_equal(gossip_coord_update(&a, &r, 5), AS_EINVAL);
	r.vec[2] = 0;
	r.height = -1;
	assert_int_equal(gossip_coord_update(&a, &r, 5), AS_EINVAL);
	r.height = 1;
	r.error = INFINITY;
	assert_int_equal(gossip_coord_update(&a, &r, 5), AS_EINVAL);
	r.error = 0.5;
	r.adjustment = NAN;
	assert_int_equal(gossip_coord_update(&a, &r, 5), AS_EINVAL);
	/* nothing moved */
	assert_memory_equal(&a, &copy, sizeof(a));
	r.adjustment = 0;
	assert_int_equal(gossip_coord_update(&a, &r, 5), AS_OK);
	assert_int_equal(a.updates, 1);
}

/* The adjustment never makes a distance negative. */
static void test_distance(void **state)
{
	struct gossip_coord a, b;

	(void)state;
	gossip_coord_init(&a);
	gossip_coord_init(&b);
	a.vec[0] = 3;
	b.vec[1] = 4;
	assert_true(fabs(gossip_coord_distance(&a, &b) - (5 + 2 * GOSSIP_COORD_HEIGHT_MIN)) < 1e-9);
	a.adjustment = b.adjustment = 1;
	assert_true(fabs(gossip_coord_distance(&a, &b) - (7 + 2 * GOSSIP_COORD_HEIGHT_MIN)) < 1e-9);
	a.adjustment = b.adjustment = -10;
	assert_true(fabs(gossip_coord_distance(&a, &b) - (5 + 2 * GOSSIP_COORD_HEIGHT_MIN)) < 1e-9);
}

static void test_filter(void **state)
{
	double w[3];
	uint32_t n = 0;

	(void)state;
	assert_true(gossip_coord_filter(w, &n, 10) == 10);
	assert_true(gossip_coord_filter(w, &n, 20) == 15);
	assert_true(gossip_coord_filter(w, &n, 11) == 11);
	assert_true(gossip_coord_filter(w, &n, 500) == 20);	/* one outlier */
	assert_true(gossip_coord_filter(w, &n, 12) == 12);
	assert_int_equal(n, 3);
}

static void test_wire_body(void **state)
{
	struct gossip_coord c, d;
	uint8_t buf[GOSSIP_COORD_WIRE_LEN + 8];

	(void)state;
	gossip_coord_init(&c);
	for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
		c.vec[i] = i * 1.5 - 3;
	c.height = 0.125;
	c.error = 0.25;
	c.adjustment = -0.5;
	assert_int_equal(gossip_coord_encode(&c, buf, GOSSIP_COORD_WIRE_LEN - 1), AS_ESPACE);
	assert_int_equal(gossip_coord_encode(&c, buf, sizeof(buf)), GOSSIP_COORD_WIRE_LEN);
	assert_int_equal(gossip_coord_decode(buf, GOSSIP_COORD_WIRE_LEN, &d), AS_OK);
	assert_memory_equal(&c, &d, sizeof(c));	/* exact in float32 */
	/* fewer dimensions (a peer built with 2): the rest are 0 */
	uint8_t two[4 * 5];
	memcpy(two, buf, 8);
	memcpy(two + 8, buf + 4 * GOSSIP_COORD_DIMS, 12);
	assert_int_equal(gossip_coord_decode(two, sizeof(two), &d), AS_OK);
	assert_true(d.vec[0] == c.vec[0] && d.vec[1] == c.vec[1] && d.vec[2] == 0);
	assert_true(d.height == c.height && d.error == c.error);
	/* lengths: none, not whole floats, too many dimensions */
	assert_int_equal(gossip_coord_decode(buf, 0, &d), AS_EMALFORMED);
	assert_int_equal(gossip_coord_decode(buf, 12, &d), AS_EMALFORMED);
	assert_int_equal(gossip_coord_decode(buf, 17, &d), AS_EMALFORMED);
	assert_int_equal(gossip_coord_decode(buf, GOSSIP_COORD_WIRE_LEN + 4, &d), AS_EMALFORMED);
	/* NaN, infinite, huge, negative error: refused */
	static const uint8_t bad[][4] = {
		{ 0x7f, 0xc0, 0, 0 }, { 0x7f, 0x80, 0, 0 }, { 0x7f, 0x7f, 0xff, 0xff },
	};
	for (size_t k = 0; k < 3; k++) {
		uint8_t b2[GOSSIP_COORD_WIRE_LEN];
		memcpy(b2, buf, sizeof(b2));
		memcpy(b2 + 4, bad[k], 4);
		assert_int_equal(gossip_coord_decode(b2, sizeof(b2), &d), AS_EMALFORMED);
		assert_true(gossip_coord_valid(&d));	/* left at the origin */
	}
	c.error = -0.1;
	gossip_coord_encode(&c, buf, sizeof(buf));
	assert_int_equal(gossip_coord_decode(buf, GOSSIP_COORD_WIRE_LEN, &d), AS_EMALFORMED);
	/* garbage: accepted only as a valid coordinate */
	uint64_t rng = 9;
	for (int t = 0; t < 2000; t++) {
		for (size_t i = 0; i < GOSSIP_COORD_WIRE_LEN; i++)
			buf[i] = (uint8_t)as_splitmix64(&rng);
		if (gossip_coord_decode(buf, GOSSIP_COORD_WIRE_LEN, &d) == AS_OK)
			assert_true(gossip_coord_valid(&d));
	}
}

/* ---- in the core ------------------------------------------------------------ */

struct cnode {
	struct gossip_core *core;
	struct sockaddr_storage addr;
	char name[8];
	unsigned wants;		/* pings it sent asking for a coordinate */
};

static void cnode_init(struct cnode *n, const char *name, int host)
{
	struct gossip_config cfg;
	char a[32];

	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(a, sizeof(a), "[fd00::%d]:7946", host);
	assert_int_equal(as_parse_sockaddr(a, 7946, &n->addr), AS_OK);
	gossip_config_defaults(&cfg);
	cfg.name = n->name;
	cfg.addr = n->addr;
	cfg.label = "viv";
	cfg.plaintext = true;
	cfg.seed = (uint64_t)host;
	cfg.probe_interval_ms = 100;
	/* probe times 50 ms apart: probe slots are on the wall clock, and
	 * pings sent at the same instant would be answered a delivery round
	 * later than crun's 0.5 ms. Each node probes at its phase into a
	 * slot: its wall clock is set so that this falls at host x 50 ms. */
	cfg.seq_base = 1;
	assert_int_equal(gossip_core_new(&cfg, NULL, 0, &n->core), AS_OK);
	uint64_t ph = gossip_core_probe_phase(n->core);
	gossip_core_free(n->core);
	cfg.seq_base = ((ph + 1000 - (uint64_t)host * 50) % 100 + 100) * 1000;
	assert_int_equal(gossip_core_new(&cfg, NULL, 0, &n->core), AS_OK);
}

/* Counts the pings asking for a coordinate in a plaintext packet. */
static void count_wants(struct cnode *from, const struct gossip_out *o)
{
	static struct gossip_packet pkt;
	enum gossip_drop why;

	memset(&pkt, 0, sizeof(pkt));
	if (o->transport == GOSSIP_TX_UDP &&
	    gossip_envelope_decode(o->data + 2, o->len - 2, &pkt, &why) == AS_OK)
		for (uint32_t i = 0; i < pkt.n_msgs; i++)
			from->wants += pkt.msgs[i].type == GOSSIP_MSG_PING && pkt.msgs[i].want_coord;
	gossip_packet_reset(&pkt);
}

/* Two cores, run in 10 ms steps from..to; each delivery round adds
 * 500 us to the receiver's fine clock, and an ack goes out in the round
 * its ping arrived: a round trip of 0.5 ms. */
static void crun(struct cnode **n, uint64_t from, uint64_t to)
{
	for (uint64_t t = from; t <= to; t += 10) {
		for (int i = 0; i < 2; i++)
			if (gossip_core_next_deadline(n[i]->core) <= t) {
				gossip_core_set_clock_us(n[i]->core, t * 1000);
				gossip_core_tick(n[i]->core, t);
			}
		for (int round = 1; round < 10; round++) {
			bool any = false;
			for (int i = 0; i < 2; i++) {
				size_t cnt;
				const struct gossip_out *out = gossip_core_outbox(n[i]->core, &cnt);
				struct gossip_out *copy = calloc(cnt ? cnt : 1, sizeof(*copy));
				for (size_t k = 0; k < cnt; k++) {
					copy[k] = out[k];
					copy[k].data = malloc(out[k].len);
					memcpy(copy[k].data, out[k].data, out[k].len);
					count_wants(n[i], &out[k]);
				}
				gossip_core_outbox_clear(n[i]->core);
				for (size_t k = 0; k < cnt; k++) {
					struct cnode *to_n = n[1 - i];
					if (memcmp(&copy[k].to, &to_n->addr, sizeof(struct sockaddr_in6)) == 0) {
						gossip_core_set_clock_us(to_n->core, t * 1000 + 500u * round);
						gossip_core_recv(to_n->core, t, copy[k].transport,
								 &n[i]->addr, copy[k].data, copy[k].len);
						any = true;
					}
					free(copy[k].data);
				}
				free(copy);
			}
			if (!any)
				break;
		}
	}
}

/* Probes give RTT samples and fetch the peer's coordinate, asking for it
 * ever more rarely (1, 2, 4 ... s, at most every 30 s); an ack with a
 * bad coordinate is counted and changes nothing. */
static void test_core_exchange(void **state)
{
	struct cnode a, b, *n[2] = { &a, &b };
	struct gossip_member m;
	struct gossip_metrics ma, mb;
	double rtt;

	(void)state;
	cnode_init(&a, "a", 1);
	cnode_init(&b, "b", 2);
	assert_int_equal(gossip_core_rtt_estimate(a.core, "b", &rtt), AS_ENOTFOUND);
	assert_int_equal(gossip_core_join(a.core, 0, &b.addr, 1), AS_OK);
	crun(n, 0, 3000);
	assert_int_equal(gossip_core_member_find(a.core, "b", 3000, &m), AS_OK);
	assert_non_null(m.coord);
	assert_int_equal(gossip_core_rtt_estimate(a.core, "b", &rtt), AS_OK);
	assert_int_equal(gossip_core_rtt_estimate(a.core, "a", &rtt), AS_OK);
	assert_true(rtt == 0);
	/* 60 s of probing every 100 ms: a few coordinates, not 600 */
	unsigned early = a.wants;
	a.wants = 0;
	crun(n, 3010, 63000);
	gossip_core_metrics(a.core, &ma);
	gossip_core_metrics(b.core, &mb);
	assert_int_equal(gossip_core_rtt_estimate(a.core, "b", &rtt), AS_OK);
	print_message("coordinates: %u asked for in 60 s, %llu RTT samples, estimate %.3f ms "
		      "(0.5 ms true)\n", a.wants, (unsigned long long)ma.rtt_samples, rtt);
	assert_true(a.wants >= 2 && a.wants <= 5);
	assert_true(ma.rtt_samples > 500);
	assert_true(fabs(rtt - 0.5) < 0.05);
	assert_int_equal(ma.coords_rejected, 0);
	/* what b added: a coordinate in every ack a asked, a flag in its
	 * own pings that asked */
	assert_int_equal(mb.coord_bytes_out,
			 (2 + GOSSIP_COORD_WIRE_LEN) * (early + a.wants) + b.wants);

	/* from b: an ack whose coordinate holds a NaN */
	struct gossip_msg ack;
	uint8_t mbuf[128], env[256], pkt[300];
	memset(&ack, 0, sizeof(ack));
	ack.type = GOSSIP_MSG_ACK;
	ack.seq = 77;
	ack.has_coord = true;
	gossip_coord_init(&ack.coord);
	ack.coord.vec[3] = NAN;
	int ml = gossip_msg_encode(&ack, mbuf, sizeof(mbuf));
	assert_true(ml > 0);
	const uint8_t *mp[1] = { mbuf };
	size_t mlen[1] = { (size_t)ml };
	int el = gossip_envelope_encode("viv", "b", 1, 1u << 30, mp, mlen, 1, env, sizeof(env));
	int pl = gossip_seal(NULL, "viv", env, (size_t)el, pkt, sizeof(pkt));
	assert_true(pl > 0);
	assert_int_equal(gossip_core_recv(a.core, 63010, GOSSIP_TX_UDP, &b.addr, pkt, (size_t)pl),
			 AS_OK);
	gossip_core_metrics(a.core, &ma);
	assert_int_equal(ma.coords_rejected, 1);
	assert_int_equal(gossip_core_member_find(a.core, "b", 63010, &m), AS_OK);
	assert_true(gossip_coord_valid(m.coord));
	gossip_core_free(a.core);
	gossip_core_free(b.core);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converges),
		cmocka_unit_test(test_height_floor),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_wire_body),
		cmocka_unit_test(test_core_exchange),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
