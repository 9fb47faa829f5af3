/*
 * Unit tests for agent/srv6plan.c: intents and link liveness pick the
 * segment list of each steered endpoint, endpoints of this host and of no
 * host are not installed, duplicates collapse, and the diff writes only
 * what changed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "agent/srv6plan.h"
#include "lib/as.h"

static const char DIAMOND[] =
	"routers:\n"
	"  - {name: ra, sid: \"fd00:5a::a\"}\n"
	"  - {name: rb, sid: \"fd00:5a::b\"}\n"
	"  - {name: rc, sid: \"fd00:5a::c\"}\n"
	"  - {name: rd, sid: \"fd00:5a::d\"}\n"
	"hosts:\n"
	"  - {name: client, sid: \"fd00:5b::c\", prefixes: [\"fd00:20::/64\"]}\n"
	"  - {name: node2, sid: \"fd00:5b::2\", prefixes: [\"fd00:10:2::/64\"]}\n"
	"links:\n"
	"  - {between: [client, ra], latency_us: 100, bandwidth_kbps: 1000000}\n"
	"  - {between: [ra, rb], latency_us: 1000, bandwidth_kbps: 100000, cost: 50}\n"
	"  - {between: [ra, rc], latency_us: 5000, bandwidth_kbps: 1000000, cost: 5, tags: [satellite]}\n"
	"  - {between: [rb, rd], latency_us: 1000, bandwidth_kbps: 100000, cost: 50}\n"
	"  - {between: [rc, rd], latency_us: 5000, bandwidth_kbps: 1000000, cost: 5}\n"
	"  - {between: [rd, node2], latency_us: 20, bandwidth_kbps: 1000000}\n";

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static srv6_topo_t *topo(void)
{
	char err[1024];
	srv6_topo_t *t = NULL;

	assert_int_equal(srv6_topo_parse("t", DIAMOND, strlen(DIAMOND), &t, err,
					 sizeof(err)), AS_OK);
	return t;
}

static char *latency_s = "latency", *cost_s = "cost", *bw_s = "bandwidth";
static char *sat[] = { "satellite" };

static struct agent_srv6_dest dest(const char *svc, const char *addr,
				   uint16_t port, const struct agent_intent *in)
{
	return (struct agent_srv6_dest){ .service = svc, .proto = IPPROTO_TCP,
		.port = port, .addr = a6(addr), .intent = in };
}

static void assert_via(const struct agent_srv6_entry *e, const char *mid)
{
	struct in6_addr want;

	assert_int_equal(e->err, AS_OK);
	assert_int_equal(e->steer.nsegs, 4);
	want = a6("fd00:5a::a");
	assert_memory_equal(&e->steer.segs[0], &want, 16);
	want = a6(mid);
	assert_memory_equal(&e->steer.segs[1], &want, 16);
	want = a6("fd00:5a::d");
	assert_memory_equal(&e->steer.segs[2], &want, 16);
	want = a6("fd00:5b::2");
	assert_memory_equal(&e->steer.segs[3], &want, 16);
}

static void test_intents(void **state)
{
	(void)state;
	srv6_topo_t *t = topo();
	int self = srv6_topo_node(t, "client");
	struct agent_intent lat = { .steered = true, .path = latency_s };
	struct agent_intent cost = { .steered = true, .path = cost_s };
	struct agent_intent cost_nosat = { .steered = true, .path = cost_s,
					   .avoid = sat, .n_avoid = 1 };
	struct agent_intent bw = { .steered = true, .path = bw_s };
	struct agent_srv6_dest d[] = {
		dest("web", "fd00:10:2::5", 80, &lat),
		dest("db", "fd00:10:2::6", 5432, &cost),
		dest("bulk", "fd00:10:2::7", 9000, &bw),
		dest("safe", "fd00:10:2::8", 443, &cost_nosat),
		dest("local", "fd00:20::9", 80, &lat),	/* this host's */
		dest("nowhere", "fd00:99::1", 80, &lat),
	};
	struct agent_srv6_params p = { SRV6_MODE_ENCAP, 1500, 7 };
	struct agent_srv6_entry *e;
	size_t n, conflicts;

	assert_int_equal(agent_srv6_plan(t, self, &p, d, AS_ARRAY_SIZE(d), &e,
					 &n, &conflicts), AS_OK);
	assert_int_equal(n, 5);	/* sorted by address */
	assert_int_equal(conflicts, 0);
	assert_via(&e[0], "fd00:5a::b");	/* latency */
	struct in6_addr want = a6("fd00:10:2::5");
	assert_memory_equal(&e[0].match.prefix, &want, 16);
	assert_int_equal(e[0].match.plen, 128);
	assert_int_equal(e[0].match.proto, IPPROTO_TCP);
	assert_int_equal(e[0].match.port, 80);
	assert_string_equal(e[0].service, "web");
	assert_false(e[0].steer.last_is_dst);
	assert_int_equal(e[0].steer.mode, SRV6_MODE_ENCAP);
	assert_int_equal(e[0].steer.mtu, 1500);
	assert_int_equal(e[0].steer.generation, 7);
	assert_int_equal(e[0].latency_us, 2120);
	assert_int_equal(e[0].nnodes, 5);
	assert_int_equal(e[0].dst_host, srv6_topo_node(t, "node2"));
	assert_int_equal(srv6_steer_check(&e[0].steer), AS_OK);
	assert_via(&e[1], "fd00:5a::c");	/* cost */
	assert_via(&e[2], "fd00:5a::c");	/* bandwidth */
	assert_via(&e[3], "fd00:5a::b");	/* cost, avoiding satellite */
	assert_int_equal(e[4].err, AS_ENOTFOUND);
	free(e);

	/* Liveness: rb-rd down moves the latency path to rc; with ra-rc
	 * tagged and avoided, "safe" has no path left. */
	assert_int_equal(srv6_topo_link_set_up(t, 3, false), AS_OK);
	assert_int_equal(agent_srv6_plan(t, self, &p, d, AS_ARRAY_SIZE(d), &e,
					 &n, &conflicts), AS_OK);
	assert_via(&e[0], "fd00:5a::c");
	assert_int_equal(e[3].err, AS_ENOENT);
	free(e);

	/* Insertion: the last segment is the packet's own destination. */
	p.mode = SRV6_MODE_INSERT;
	assert_int_equal(agent_srv6_plan(t, self, &p, d, 1, &e, &n, &conflicts),
			 AS_OK);
	assert_true(e[0].steer.last_is_dst);
	assert_int_equal(e[0].steer.mode, SRV6_MODE_INSERT);
	assert_int_equal(srv6_steer_check(&e[0].steer), AS_OK);
	free(e);
	srv6_topo_free(t);
}

static void test_duplicates(void **state)
{
	(void)state;
	srv6_topo_t *t = topo();
	struct agent_intent lat = { .steered = true, .path = latency_s };
	struct agent_intent cost = { .steered = true, .path = cost_s };
	struct agent_srv6_dest d[] = {
		dest("web", "fd00:10:2::5", 80, &lat),
		dest("web", "fd00:10:2::5", 80, &lat),	/* two nodes gossip it */
		dest("alt", "fd00:10:2::5", 80, &cost),	/* a conflict */
		dest("alt", "fd00:10:2::5", 81, &cost),
	};
	struct agent_srv6_params p = { SRV6_MODE_ENCAP, 1500, 1 };
	struct agent_srv6_entry *e;
	size_t n, conflicts;

	assert_int_equal(agent_srv6_plan(t, srv6_topo_node(t, "client"), &p, d,
					 AS_ARRAY_SIZE(d), &e, &n, &conflicts),
			 AS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(conflicts, 1);
	/* The name that sorts first keeps the port ("alt" < "web"). */
	assert_string_equal(e[0].service, "alt");
	assert_int_equal(e[1].match.port, 81);
	free(e);
	assert_int_equal(agent_srv6_plan(t, 99, &p, d, 1, &e, &n, &conflicts),
			 AS_EINVAL);
	srv6_topo_free(t);
}

static void test_diff(void **state)
{
	(void)state;
	srv6_topo_t *t = topo();
	int self = srv6_topo_node(t, "client");
	struct agent_intent lat = { .steered = true, .path = latency_s };
	struct agent_intent cost = { .steered = true, .path = cost_s };
	struct agent_srv6_dest before[] = {
		dest("a", "fd00:10:2::1", 80, &lat),	/* stays */
		dest("b", "fd00:10:2::2", 80, &lat),	/* changes path */
		dest("c", "fd00:10:2::3", 80, &lat),	/* goes */
	};
	struct agent_srv6_dest after[] = {
		dest("a", "fd00:10:2::1", 80, &lat),
		dest("b", "fd00:10:2::2", 80, &cost),
		dest("d", "fd00:10:2::4", 80, &lat),	/* new */
		dest("e", "fd00:99::4", 80, &lat),	/* no host: not set */
	};
	struct agent_srv6_params p1 = { SRV6_MODE_ENCAP, 1500, 1 };
	struct agent_srv6_params p2 = { SRV6_MODE_ENCAP, 1500, 2 };
	struct agent_srv6_entry *have, *want;
	size_t nh, nw, c, set[8], del[8], ns, ndel;

	assert_int_equal(agent_srv6_plan(t, self, &p1, before, 3, &have, &nh, &c),
			 AS_OK);
	assert_int_equal(agent_srv6_plan(t, self, &p2, after, 4, &want, &nw, &c),
			 AS_OK);
	agent_srv6_diff(want, nw, have, nh, set, &ns, del, &ndel);
	/* a: same path, only the generation differs: no write. */
	assert_int_equal(ns, 2);
	assert_string_equal(want[set[0]].service, "b");
	assert_string_equal(want[set[1]].service, "d");
	assert_int_equal(ndel, 1);
	assert_string_equal(have[del[0]].service, "c");
	/* Nothing installed: every installable entry is set. */
	agent_srv6_diff(want, nw, NULL, 0, set, &ns, del, &ndel);
	assert_int_equal(ns, 3);
	assert_int_equal(ndel, 0);
	/* Nothing wanted: everything goes. */
	agent_srv6_diff(NULL, 0, have, nh, set, &ns, del, &ndel);
	assert_int_equal(ns, 0);
	assert_int_equal(ndel, 3);
	free(have);
	free(want);
	srv6_topo_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intents),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
