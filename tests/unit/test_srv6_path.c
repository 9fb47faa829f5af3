/*
 * Unit tests for srv6/path.c: the objective's metric picks the path
 * (latency, cost, widest for bandwidth), avoided tags and dead links are
 * not used, ties do not depend on the order of the topology, hosts are
 * not transit, and the strict segment list names every router.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/as.h"
#include "srv6/srv6.h"

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static void router(srv6_topo_t *t, const char *name, const char *sid)
{
	struct in6_addr a = a6(sid);

	assert_true(srv6_topo_add_router(t, name, &a) >= 0);
}

static void host(srv6_topo_t *t, const char *name, const char *sid)
{
	struct in6_addr a = a6(sid);

	assert_true(srv6_topo_add_host(t, name, &a) >= 0);
}

static int link_(srv6_topo_t *t, const char *a, const char *b, uint32_t lat,
		 uint64_t bw, uint32_t cost, const char *tag)
{
	struct srv6_link_attr at = { .latency_us = lat, .bandwidth_kbps = bw,
				     .cost = cost, .tags = { tag } };
	int l = srv6_topo_add_link(t, a, b, &at);

	assert_true(l >= 0);
	return l;
}

/*
 * The testbed's diamond: client - ra - (rb | rc) - rd - server.
 *   via rb: low latency (1 ms + 1 ms), narrow (100 Mbit/s), expensive.
 *   via rc: high latency (5 ms + 5 ms), wide (1 Gbit/s), cheap, tagged
 *           "satellite" on its first link.
 */
static int rb_link;

static srv6_topo_t *diamond(void)
{
	srv6_topo_t *t;

	assert_int_equal(srv6_topo_new(&t), AS_OK);
	host(t, "client", "fd00:1::1");
	router(t, "ra", "fd00:ff::a");
	router(t, "rb", "fd00:ff::b");
	router(t, "rc", "fd00:ff::c");
	router(t, "rd", "fd00:ff::d");
	host(t, "server", "fd00:2::1");
	link_(t, "client", "ra", 10, 10000000, 1, NULL);
	rb_link = link_(t, "ra", "rb", 1000, 100000, 50, NULL);
	link_(t, "rb", "rd", 1000, 100000, 50, NULL);
	link_(t, "ra", "rc", 5000, 1000000, 5, "satellite");
	link_(t, "rc", "rd", 5000, 1000000, 5, NULL);
	link_(t, "rd", "server", 10, 10000000, 1, NULL);
	return t;
}

static void expect_segs(const struct srv6_path *p, const char *const *want,
			size_t n)
{
	char got[INET6_ADDRSTRLEN];

	assert_int_equal(p->nsegs, n);
	for (size_t i = 0; i < n; i++) {
		inet_ntop(AF_INET6, &p->segs[i], got, sizeof(got));
		assert_string_equal(got, want[i]);
	}
}

static void test_metrics(void **state)
{
	srv6_topo_t *t = diamond();
	struct srv6_objective o = { .metric = SRV6_METRIC_LATENCY };
	struct srv6_path p;
	static const char *const via_b[] = { "fd00:ff::a", "fd00:ff::b",
					     "fd00:ff::d", "fd00:2::1" };
	static const char *const via_c[] = { "fd00:ff::a", "fd00:ff::c",
					     "fd00:ff::d", "fd00:2::1" };

	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_OK);
	expect_segs(&p, via_b, 4);
	assert_int_equal(p.nnodes, 5);
	assert_string_equal(srv6_topo_node_name(t, p.nodes[2]), "rb");
	assert_int_equal(p.latency_us, 2020);
	assert_int_equal(p.bandwidth_kbps, 100000);
	assert_int_equal(p.cost, 102);

	o.metric = SRV6_METRIC_BANDWIDTH;
	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_OK);
	expect_segs(&p, via_c, 4);
	assert_int_equal(p.bandwidth_kbps, 1000000);
	assert_int_equal(p.latency_us, 10020);

	o.metric = SRV6_METRIC_COST;
	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_OK);
	expect_segs(&p, via_c, 4);
	assert_int_equal(p.cost, 12);

	/* The reverse direction is computed as well. */
	assert_int_equal(srv6_path_compute(t, "server", "client", &o, &p), AS_OK);
	assert_int_equal(p.nsegs, 4);
	assert_string_equal(srv6_topo_node_name(t, p.nodes[2]), "rc");
	srv6_topo_free(t);
}

static void test_avoid_and_link_down(void **state)
{
	srv6_topo_t *t = diamond();
	const char *const avoid[] = { "satellite" };
	struct srv6_objective o = { .metric = SRV6_METRIC_COST,
				    .avoid = avoid, .navoid = 1 };
	struct srv6_path p;

	/* Cheapest is via rc, but its link is a satellite. */
	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_OK);
	assert_string_equal(srv6_topo_node_name(t, p.nodes[2]), "rb");
	/* Also avoiding the other path leaves nothing. */
	assert_int_equal(srv6_topo_link_set_up(t, rb_link, false), AS_OK);
	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_ENOENT);
	assert_int_equal(p.nsegs, 0);
	/* Latency moves to the slow path while rb's link is down... */
	o.navoid = 0;
	o.metric = SRV6_METRIC_LATENCY;
	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_OK);
	assert_string_equal(srv6_topo_node_name(t, p.nodes[2]), "rc");
	/* ...and back when it comes up. */
	assert_int_equal(srv6_topo_link_set_up(t, rb_link, true), AS_OK);
	assert_int_equal(srv6_path_compute(t, "client", "server", &o, &p), AS_OK);
	assert_string_equal(srv6_topo_node_name(t, p.nodes[2]), "rb");
	assert_int_equal(srv6_topo_link_set_up(t, 99, false), AS_ENOTFOUND);
	srv6_topo_free(t);
}

/* Two equal paths: the same one wins whichever order they were added in. */
static void build_tie(srv6_topo_t **out, bool reversed)
{
	srv6_topo_t *t;
	const char *first = reversed ? "rz" : "ry", *second = reversed ? "ry" : "rz";

	assert_int_equal(srv6_topo_new(&t), AS_OK);
	host(t, "h1", "fd00:1::1");
	router(t, first, reversed ? "fd00:ff::26" : "fd00:ff::25");
	router(t, second, reversed ? "fd00:ff::25" : "fd00:ff::26");
	host(t, "h2", "fd00:2::1");
	link_(t, "h1", first, 100, 1000, 1, NULL);
	link_(t, "h1", second, 100, 1000, 1, NULL);
	link_(t, first, "h2", 100, 1000, 1, NULL);
	link_(t, second, "h2", 100, 1000, 1, NULL);
	*out = t;
}

static void test_ties(void **state)
{
	for (int m = SRV6_METRIC_LATENCY; m <= SRV6_METRIC_COST; m++) {
		struct srv6_objective o = { .metric = m };
		struct srv6_path p1, p2;
		srv6_topo_t *t1, *t2;

		build_tie(&t1, false);
		build_tie(&t2, true);
		assert_int_equal(srv6_path_compute(t1, "h1", "h2", &o, &p1), AS_OK);
		assert_int_equal(srv6_path_compute(t2, "h1", "h2", &o, &p2), AS_OK);
		/* "ry" sorts first; its SID is fd00:ff::25 in both. */
		assert_string_equal(srv6_topo_node_name(t1, p1.nodes[1]), "ry");
		assert_string_equal(srv6_topo_node_name(t2, p2.nodes[1]), "ry");
		assert_memory_equal(&p1.segs[0], &p2.segs[0], 16);
		srv6_topo_free(t1);
		srv6_topo_free(t2);
	}
}

/* Fewer hops win a tie on the metric. */
static void test_tie_hops(void **state)
{
	srv6_topo_t *t;
	struct srv6_objective o = { .metric = SRV6_METRIC_COST };
	struct srv6_path p;

	assert_int_equal(srv6_topo_new(&t), AS_OK);
	host(t, "h1", "fd00:1::1");
	router(t, "a", "fd00:ff::1");
	router(t, "b", "fd00:ff::2");
	router(t, "c", "fd00:ff::3");
	host(t, "h2", "fd00:2::1");
	link_(t, "h1", "a", 0, 1000, 1, NULL);
	link_(t, "a", "b", 0, 1000, 1, NULL);	/* a-b-c: cost 2 */
	link_(t, "b", "c", 0, 1000, 1, NULL);
	link_(t, "a", "c", 0, 1000, 2, NULL);	/* a-c: cost 2, one hop */
	link_(t, "c", "h2", 0, 1000, 1, NULL);
	assert_int_equal(srv6_path_compute(t, "h1", "h2", &o, &p), AS_OK);
	assert_int_equal(p.nnodes, 4);
	assert_int_equal(p.cost, 4);
	srv6_topo_free(t);
}

/* A host in the middle never forwards; unknown names and routers as
 * ends are refused. */
static void test_hosts_and_errors(void **state)
{
	srv6_topo_t *t;
	struct srv6_objective o = { .metric = SRV6_METRIC_LATENCY };
	struct srv6_path p;
	struct in6_addr x = a6("fd00::9");
	struct srv6_link_attr zero_bw = { .latency_us = 1 };

	assert_int_equal(srv6_topo_new(&t), AS_OK);
	host(t, "h1", "fd00:1::1");
	host(t, "mid", "fd00:3::1");
	host(t, "h2", "fd00:2::1");
	router(t, "r", "fd00:ff::1");
	link_(t, "h1", "mid", 1, 1000, 1, NULL);
	link_(t, "mid", "h2", 1, 1000, 1, NULL);
	assert_int_equal(srv6_path_compute(t, "h1", "h2", &o, &p), AS_ENOENT);
	link_(t, "h1", "r", 50, 1000, 1, NULL);
	link_(t, "r", "h2", 50, 1000, 1, NULL);
	assert_int_equal(srv6_path_compute(t, "h1", "h2", &o, &p), AS_OK);
	assert_int_equal(p.nsegs, 2);
	assert_int_equal(p.latency_us, 100);

	assert_int_equal(srv6_path_compute(t, "h1", "nope", &o, &p), AS_ENOTFOUND);
	assert_int_equal(srv6_path_compute(t, "h1", "r", &o, &p), AS_ENOTFOUND);
	assert_int_equal(srv6_path_compute(t, "h1", "h1", &o, &p), AS_EINVAL);
	assert_int_equal(srv6_topo_add_router(t, "r", &x), AS_EEXIST);
	assert_int_equal(srv6_topo_add_link(t, "r", "zz", &zero_bw), AS_ENOTFOUND);
	assert_int_equal(srv6_topo_add_link(t, "r", "h1", &zero_bw), AS_EINVAL);
	assert_int_equal(srv6_topo_add_link(t, "r", "r", &zero_bw), AS_EINVAL);
	srv6_topo_free(t);
}

/* A chain of more routers than a segment list holds. */
static void test_too_long(void **state)
{
	srv6_topo_t *t;
	struct srv6_objective o = { .metric = SRV6_METRIC_LATENCY };
	struct srv6_path p;
	char name[16], prev[16] = "h1", sid[32];

	assert_int_equal(srv6_topo_new(&t), AS_OK);
	host(t, "h1", "fd00:1::1");
	host(t, "h2", "fd00:2::1");
	for (int i = 0; i < SRV6_SEGS_MAX; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		snprintf(sid, sizeof(sid), "fd00:ff::%x", i + 1);
		router(t, name, sid);
		link_(t, prev, name, 1, 1000, 1, NULL);
		strcpy(prev, name);
	}
	link_(t, prev, "h2", 1, 1000, 1, NULL);
	assert_int_equal(srv6_path_compute(t, "h1", "h2", &o, &p), AS_ELIMIT);
	srv6_topo_free(t);
}

static void test_metric_names(void **state)
{
	assert_int_equal(srv6_metric_parse("latency"), SRV6_METRIC_LATENCY);
	assert_int_equal(srv6_metric_parse("bandwidth"), SRV6_METRIC_BANDWIDTH);
	assert_int_equal(srv6_metric_parse("cost"), SRV6_METRIC_COST);
	assert_int_equal(srv6_metric_parse("fast"), -1);
	assert_int_equal(srv6_metric_parse(NULL), -1);
	assert_string_equal(srv6_metric_name(SRV6_METRIC_BANDWIDTH), "bandwidth");
}

/* The IPV6_RTHDR option of a probe: SRH order, the counts, the sizes. */
static void test_rthdr(void **state)
{
	struct in6_addr segs[3] = { a6("fd00::a"), a6("fd00::b"), a6("fd00::d") };
	struct in6_addr many[SRV6_SEGS_MAX + 1];
	uint8_t b[8 + 16 * (SRV6_SEGS_MAX + 1)];

	(void)state;
	assert_int_equal(srv6_rthdr_build(segs, 3, b, sizeof(b)), 56);
	assert_int_equal(b[0], 0);	/* next header: the kernel's */
	assert_int_equal(b[1], 6);	/* (56 - 8) / 8 */
	assert_int_equal(b[2], 4);
	assert_int_equal(b[3], 2);	/* segments left */
	assert_int_equal(b[4], 2);	/* last entry */
	assert_memory_equal(b + 8, &segs[2], 16);	/* the destination */
	assert_memory_equal(b + 24, &segs[1], 16);
	assert_memory_equal(b + 40, &segs[0], 16);	/* the first hop */
	assert_int_equal(srv6_rthdr_build(segs, 1, b, sizeof(b)), 0);
	assert_int_equal(srv6_rthdr_build(segs, 3, b, 55), 0);
	memset(many, 0, sizeof(many));
	assert_int_equal(srv6_rthdr_build(many, SRV6_SEGS_MAX + 1, b, sizeof(b)), 0);
	assert_int_equal(srv6_rthdr_build(many, SRV6_SEGS_MAX, b, sizeof(b)),
			 8 + 16 * SRV6_SEGS_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_avoid_and_link_down),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_tie_hops),
		cmocka_unit_test(test_hosts_and_errors),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_metric_names),
		cmocka_unit_test(test_rthdr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
