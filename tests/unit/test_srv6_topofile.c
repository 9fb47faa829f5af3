/*
 * Unit tests for srv6/topofile.c: the topology file of
 * docs/srv6.md parses into a topology whose paths, prefixes and links are
 * the file's; every mistake is reported with file:line and the key; the
 * probe paths cross the link they test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/as.h"
#include "srv6/srv6.h"

static const char DIAMOND[] =
	"# SR domain topology (issue 17)\n"
	"routers:\n"
	"  - name: ra\n"
	"    sid: \"fd00:5a::a\"\n"
	"  - {name: rb, sid: \"fd00:5a::b\"}\n"
	"  - {name: rc, sid: \"fd00:5a::c\"}\n"
	"  - {name: rd, sid: \"fd00:5a::d\"}\n"
	"hosts:\n"
	"  - name: client\n"
	"    sid: \"fd00:5b::c\"\n"
	"    prefixes: []\n"
	"  - name: node1\n"
	"    sid: \"fd00:5b::1\"\n"
	"    prefixes: [\"fd00:10:1::/64\", \"fd00:10::/32\"]\n"
	"  - name: node2\n"
	"    sid: \"fd00:5b::2\"\n"
	"    prefixes: [\"fd00:10:2::/64\"]\n"
	"links:\n"
	"  - between: [client, ra]\n"
	"    latency_us: 100\n"
	"    bandwidth_kbps: 1000000\n"
	"  - {between: [ra, rb], latency_us: 1000, bandwidth_kbps: 100000, cost: 50, bird_protocol: bfd_ra_rb}\n"
	"  - {between: [ra, rc], latency_us: 5000, bandwidth_kbps: 1000000, cost: 5, tags: [satellite]}\n"
	"  - {between: [rb, rd], latency_us: 1000, bandwidth_kbps: 100000, cost: 50}\n"
	"  - {between: [rc, rd], latency_us: 5000, bandwidth_kbps: 1000000, cost: 5}\n"
	"  - {between: [rd, node1], latency_us: 20, bandwidth_kbps: 1000000, probe: false}\n"
	"  - {between: [rd, node2], latency_us: 20, bandwidth_kbps: 1000000}\n";

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static srv6_topo_t *parse_ok(const char *text)
{
	char err[2048];
	srv6_topo_t *t = NULL;
	int rc = srv6_topo_parse("topo.yaml", text, strlen(text), &t, err,
				 sizeof(err));

	if (rc)
		fprintf(stderr, "%s", err);
	assert_int_equal(rc, AS_OK);
	assert_non_null(t);
	return t;
}

/* Parses text expecting failure; err must contain every want. */
static void parse_bad(const char *text, const char *const *want)
{
	char err[4096];
	srv6_topo_t *t = (srv6_topo_t *)1;
	int rc = srv6_topo_parse("topo.yaml", text, strlen(text), &t, err,
				 sizeof(err));

	assert_int_equal(rc, AS_ECONFIG);
	assert_null(t);
	for (size_t i = 0; want[i]; i++) {
		if (!strstr(err, want[i]))
			fprintf(stderr, "missing \"%s\" in:\n%s", want[i], err);
		assert_non_null(strstr(err, want[i]));
	}
}

static void test_diamond(void **state)
{
	(void)state;
	srv6_topo_t *t = parse_ok(DIAMOND);
	struct srv6_objective lat = { SRV6_METRIC_LATENCY, NULL, 0 };
	struct srv6_objective cost = { SRV6_METRIC_COST, NULL, 0 };
	const char *sat[] = { "satellite" };
	struct srv6_objective cost_avoid = { SRV6_METRIC_COST, sat, 1 };
	struct srv6_path p;
	struct srv6_link_info li;
	struct in6_addr sid, want;
	bool host;

	assert_int_equal(srv6_topo_node_count(t), 7);
	assert_int_equal(srv6_topo_link_count(t), 7);
	/* The file's values, not defaults. */
	assert_int_equal(srv6_topo_link(t, 2, &li), AS_OK);
	assert_string_equal(srv6_topo_node_name(t, li.a), "ra");
	assert_string_equal(srv6_topo_node_name(t, li.b), "rc");
	assert_int_equal(li.attr.latency_us, 5000);
	assert_int_equal(li.attr.bandwidth_kbps, 1000000);
	assert_int_equal(li.attr.cost, 5);
	assert_string_equal(li.attr.tags[0], "satellite");
	assert_null(li.attr.tags[1]);
	assert_true(li.up);
	assert_int_equal(srv6_topo_link(t, 0, &li), AS_OK);
	assert_int_equal(li.attr.cost, 1);	/* default */
	assert_false(srv6_topo_link_probed(t, 5));
	assert_string_equal(srv6_topo_link_bird(t, 1), "bfd_ra_rb");
	assert_null(srv6_topo_link_bird(t, 2));
	assert_true(srv6_topo_link_probed(t, 6));
	assert_int_equal(srv6_topo_node_info(t, srv6_topo_node(t, "rb"), &sid,
					     &host), AS_OK);
	want = a6("fd00:5a::b");
	assert_memory_equal(&sid, &want, 16);
	assert_false(host);

	/* Longest prefix wins; no prefix, no host. */
	struct in6_addr d = a6("fd00:10:1::5");
	assert_int_equal(srv6_topo_host_of(t, &d), srv6_topo_node(t, "node1"));
	d = a6("fd00:10:7::5");
	assert_int_equal(srv6_topo_host_of(t, &d), srv6_topo_node(t, "node1"));
	d = a6("fd00:10:2::1");
	assert_int_equal(srv6_topo_host_of(t, &d), srv6_topo_node(t, "node2"));
	d = a6("fd00:11::1");
	assert_int_equal(srv6_topo_host_of(t, &d), AS_ENOTFOUND);

	assert_int_equal(srv6_path_compute(t, "client", "node2", &lat, &p), AS_OK);
	assert_int_equal(p.nsegs, 4);
	want = a6("fd00:5a::b");
	assert_memory_equal(&p.segs[1], &want, 16);
	assert_int_equal(p.latency_us, 100 + 1000 + 1000 + 20);
	assert_int_equal(srv6_path_compute(t, "client", "node2", &cost, &p), AS_OK);
	want = a6("fd00:5a::c");
	assert_memory_equal(&p.segs[1], &want, 16);
	assert_int_equal(srv6_path_compute(t, "client", "node2", &cost_avoid, &p),
			 AS_OK);
	want = a6("fd00:5a::b");
	assert_memory_equal(&p.segs[1], &want, 16);
	srv6_topo_free(t);
}

/* A probe of a link crosses it last, and reaches its near end without
 * it; a link of the sender goes straight to the far end. */
static void test_probe_paths(void **state)
{
	(void)state;
	srv6_topo_t *t = parse_ok(DIAMOND);
	int client = srv6_topo_node(t, "client");
	struct srv6_path p;
	struct in6_addr want;

	assert_int_equal(srv6_path_probe(t, client, 0, &p), AS_OK);
	assert_int_equal(p.nsegs, 1);
	want = a6("fd00:5a::a");
	assert_memory_equal(&p.segs[0], &want, 16);
	/* rb-rd: ra, rb, then rd. */
	assert_int_equal(srv6_path_probe(t, client, 3, &p), AS_OK);
	assert_int_equal(p.nsegs, 3);
	want = a6("fd00:5a::d");
	assert_memory_equal(&p.segs[2], &want, 16);
	want = a6("fd00:5a::b");
	assert_memory_equal(&p.segs[1], &want, 16);
	/* rd-node2: to rd (via rb, least latency), then node2. */
	assert_int_equal(srv6_path_probe(t, client, 6, &p), AS_OK);
	assert_int_equal(p.nsegs, 4);
	want = a6("fd00:5b::2");
	assert_memory_equal(&p.segs[3], &want, 16);
	/* ra-rb down: rb-rd is probed over rc and rd? No: rb is then only
	 * reachable over rb-rd itself, so it cannot be probed. */
	assert_int_equal(srv6_topo_link_set_up(t, 1, false), AS_OK);
	assert_int_equal(srv6_path_probe(t, client, 3, &p), AS_ENOENT);
	/* ... while the down link itself is still probed across. */
	assert_int_equal(srv6_path_probe(t, client, 1, &p), AS_OK);
	want = a6("fd00:5a::b");
	assert_memory_equal(&p.segs[p.nsegs - 1], &want, 16);

	/* A clone is independent. */
	srv6_topo_t *c = NULL;
	struct srv6_link_info li;
	assert_int_equal(srv6_topo_clone(t, &c), AS_OK);
	assert_int_equal(srv6_topo_link_set_up(c, 1, true), AS_OK);
	assert_int_equal(srv6_topo_link(t, 1, &li), AS_OK);
	assert_false(li.up);
	assert_int_equal(srv6_topo_link(c, 1, &li), AS_OK);
	assert_true(li.up);
	srv6_topo_free(c);
	srv6_topo_free(t);
}

static void test_errors(void **state)
{
	(void)state;
	parse_bad("routers:\n"
		  "  - name: ra\n"		/* 2 */
		  "    sid: \"fd00::a\"\n"
		  "  - name: Rb\n"		/* 4 */
		  "    sid: \"not-an-address\"\n"
		  "  - name: rc\n"		/* 6 */
		  "    sid: \"fd00::a\"\n"
		  "    latency: 5\n"		/* 8 */
		  "hosts:\n"
		  "  - name: rc\n"		/* 10 */
		  "    sid: \"fd00::9\"\n"
		  "    prefixes: [\"fd00::/200\"]\n"	/* 12 */
		  "links:\n"
		  "  - between: [rc, nowhere]\n"	/* 14 */
		  "    latency_us: 5\n"
		  "    bandwidth_kbps: 0\n"	/* 16 */
		  "  - between: [rc]\n"		/* 17 */
		  "    latency_us: -1\n"	/* 18 */
		  "    bandwidth_kbps: 10\n"
		  "    tags: [ok, Not-OK]\n"	/* 20 */
		  "    bird_protocol: \"\"\n"	/* 21 */
		  "  - latency_us: 1\n",	/* 22 */
		  (const char *const[]){
			  "topo.yaml:4: routers[1]: name must be 1 to 63",
			  "topo.yaml:5: routers[1]: sid must be an IPv6 address",
			  "topo.yaml:7: routers[2]: sid is also",
			  "topo.yaml:8: routers[2]: unknown key \"latency\"",
			  "topo.yaml:10: hosts[0]: name \"rc\" is used twice",
			  "topo.yaml:14: links[0]: between: \"nowhere\" is no router",
			  "topo.yaml:16: links[0]: bandwidth_kbps must be 1 to",
			  "topo.yaml:17: links[1]: between must list two names",
			  "topo.yaml:18: links[1]: latency_us must be an integer",
			  "topo.yaml:20: links[1]: tags[1] must be",
			  "topo.yaml:21: links[1]: bird_protocol must be a BIRD",
			  "topo.yaml:22: links[2]: between must list two names",
			  "topo.yaml:22: links[2]: bandwidth_kbps is missing",
			  NULL });
	parse_bad("hosts:\n  - name: h\n    sid: \"fd00::1\"\n"
		  "    prefixes: [\"fd00::/200\"]\n",
		  (const char *const[]){
			  "topo.yaml:4: hosts[0]: prefixes[0] must be an IPv6 prefix",
			  NULL });
	parse_bad("[1, 2]\n", (const char *const[]){
			  "topo.yaml:1: (document): expected a map", NULL });
	parse_bad("routers: [\n", (const char *const[]){ "topo.yaml:", "(yaml)",
							 NULL });
	parse_bad("routers:\n  - {name: ra, sid: \"::1\"}\nextra: 1\n",
		  (const char *const[]){
			  "topo.yaml:2: routers[0]: sid must be a global",
			  "topo.yaml:3: (document): unknown key \"extra\"", NULL });
	parse_bad("hosts:\n  - {name: a, sid: \"fd00::1\", prefixes: [\"fd00:1::/64\"]}\n"
		  "  - {name: b, sid: \"fd00::2\", prefixes: [\"fd00:1::5/64\"]}\n",
		  (const char *const[]){
			  "topo.yaml:3: hosts[1]: prefixes[0] is given twice", NULL });
}

static void test_load(void **state)
{
	(void)state;
	char path[] = "/tmp/test_srv6_topofile.XXXXXX", err[512];
	srv6_topo_t *t = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, DIAMOND, strlen(DIAMOND)), (ssize_t)strlen(DIAMOND));
	close(fd);
	assert_int_equal(srv6_topo_load(path, &t, err, sizeof(err)), AS_OK);
	assert_int_equal(srv6_topo_link_count(t), 7);
	srv6_topo_free(t);
	unlink(path);
	assert_true(srv6_topo_load(path, &t, err, sizeof(err)) < 0);
	assert_null(t);
	assert_non_null(strstr(err, "cannot read"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diamond),
		cmocka_unit_test(test_probe_paths),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
