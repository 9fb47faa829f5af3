/*
 * The DNS view spec (agent/viewspec.c): from the catalog alone, and from
 * the cluster's members with the local catalog. Members and their records
 * are built by hand as gossip_core_member_get() returns them; every spec
 * is also handed to dns_view_new(), which must accept it.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/viewspec.h"
#include "lib/as.h"

static const char base[] =
	"node: { name: node1 }\n"
	"dns: { listen: [\"[::1]:5353\"], zone: svc.example., ns_addresses: [\"fd00:53::1\"] }\n"
	"services:\n"
	"  - name: web\n"
	"    port: 80\n"
	"    ttl: 30\n"
	"    max_answers: 3\n"
	"    endpoints:\n"
	"      - { address: \"fd00:10::1\", weight: 50, node: node1 }\n"
	"      - { address: \"192.0.2.2\", node: node2 }\n"
	"  - name: db\n"
	"    port: 5432\n"
	"    protocol: udp\n"
	"    endpoints: []\n";

static struct agent_config *load(const char *yaml)
{
	struct agent_config *c = NULL;
	char err[2048] = "";
	if (agent_config_parse("test.yaml", yaml, strlen(yaml), &c, err, sizeof(err)))
		fail_msg("config: %s", err);
	return c;
}

static void view_ok(const struct agent_config *c, struct agent_viewspec *vs)
{
	assert_int_equal(agent_viewspec_finish(c, 7, vs), AS_OK);
	assert_int_equal(vs->spec.soa_serial, 7);
	assert_int_equal(vs->spec.n_ns_addresses, 1);
	dns_view_t *v = NULL;
	assert_int_equal(dns_view_new(&vs->spec, &v), AS_OK);
	assert_non_null(v);
	assert_int_equal(dns_view_service_count(v), vs->spec.n_services);
	dns_view_unref(v);
}

static void test_static(void **state)
{
	struct agent_config *c = load(base);
	struct agent_viewspec vs;

	(void)state;
	assert_int_equal(agent_viewspec_services_static(c->services, c->n_services,
							"node1", NULL, 0.25, &vs), AS_OK);
	assert_int_equal(vs.spec.n_services, 2);
	const struct dns_service_spec *w = &vs.spec.services[0];
	assert_string_equal(w->name, "web");
	assert_int_equal(w->port, 80);
	assert_int_equal(w->ttl, 30);
	assert_int_equal(w->max_answers, 3);
	assert_int_equal(w->n_endpoints, 2);
	/* This node's endpoint carries the local factor; others 1. */
	assert_float_equal(w->endpoints[0].load_factor, 0.25, 0);
	assert_int_equal(w->endpoints[0].weight, 50);
	assert_float_equal(w->endpoints[1].load_factor, 1.0, 0);
	assert_int_equal(w->endpoints[1].family, AF_INET);
	assert_true(w->endpoints[1].healthy);
	assert_string_equal(vs.spec.services[1].proto, "udp");
	assert_int_equal(vs.spec.services[1].n_endpoints, 0);
	view_ok(c, &vs);
	agent_viewspec_free(&vs);
	agent_config_free(c);
}

/* Members with their records, as the gossip core hands them out. */
struct cluster {
	struct gossip_member m[4];
	struct gossip_record r[4];
	struct gossip_endpoint ep[4][8];
	size_t n;
};

static struct gossip_record *member(struct cluster *cl, const char *name,
				    enum gossip_state st, bool self, double factor)
{
	size_t i = cl->n++;
	snprintf(cl->r[i].name, sizeof(cl->r[i].name), "%s", name);
	cl->r[i].load.factor = factor;
	cl->r[i].endpoints = cl->ep[i];
	cl->m[i] = (struct gossip_member){ .rec = &cl->r[i], .state = st, .self = self };
	return &cl->r[i];
}

static void gep(struct gossip_record *r, const char *svc, const char *addr,
		uint16_t port, uint16_t weight, bool healthy)
{
	struct gossip_endpoint *g = &r->endpoints[r->n_endpoints++];
	snprintf(g->service, sizeof(g->service), "%s", svc);
	if (strchr(addr, ':')) {
		assert_int_equal(inet_pton(AF_INET6, addr, g->addr), 1);
	} else {
		g->addr[10] = g->addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, addr, g->addr + 12), 1);
	}
	g->port = port;
	g->weight = weight;
	g->healthy = healthy;
}

static const struct dns_service_spec *svc(const struct agent_viewspec *vs,
					  const char *name)
{
	for (size_t i = 0; i < vs->spec.n_services; i++)
		if (!strcmp(vs->spec.services[i].name, name))
			return &vs->spec.services[i];
	return NULL;
}

/* RTTs come from the answering member's coordinate: this node's by
 * default, another member's for explain --from (as), none when that
 * member has no coordinate. */
static const struct dns_endpoint_spec *ep_of(const struct dns_service_spec *w,
					     const char *node)
{
	for (size_t i = 0; i < w->n_endpoints; i++)
		if (!strcmp(w->endpoints[i].node, node))
			return &w->endpoints[i];
	fail_msg("no endpoint of %s", node);
	return NULL;
}

static void test_members_rtt_as(void **state)
{
	struct agent_config *c = load(base);
	struct cluster cl = { 0 };
	struct agent_viewspec vs;
	uint64_t skipped;
	struct gossip_coord k[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		gossip_coord_init(&k[i]);
	k[1].vec[0] = 10;	/* node2: 10 ms from node1 */
	k[2].vec[1] = 20;	/* node3: 20 ms from node1, sqrt(500) from node2 */
	gep(member(&cl, "node1", GOSSIP_ALIVE, true, 1), "web", "fd00:10::1", 80, 100, true);
	gep(member(&cl, "node2", GOSSIP_ALIVE, false, 1), "web", "fd00:10::2", 80, 100, true);
	gep(member(&cl, "node3", GOSSIP_ALIVE, false, 1), "web", "fd00:10::3", 80, 100, true);
	for (int i = 0; i < 3; i++)
		cl.m[i].coord = &k[i];
	const char *as[] = { NULL, "node2" };
	double want[2][3] = {
		{ 0, gossip_coord_distance(&k[0], &k[1]), gossip_coord_distance(&k[0], &k[2]) },
		{ gossip_coord_distance(&k[1], &k[0]), 0, gossip_coord_distance(&k[1], &k[2]) },
	};
	assert_true(want[0][1] > 9.9 && want[1][2] > 22);	/* the geometry holds */
	for (int t = 0; t < 2; t++) {
		assert_int_equal(agent_viewspec_services_members(c, NULL, as[t], c->services,
								 c->n_services, cl.m, cl.n, 1,
								 &vs, &skipped), AS_OK);
		const struct dns_service_spec *w = svc(&vs, "web");
		const char *names[] = { "node1", "node2", "node3" };
		for (int i = 0; i < 3; i++) {
			const struct dns_endpoint_spec *e = ep_of(w, names[i]);
			assert_true(e->rtt_known);
			assert_float_equal(e->rtt_ms, want[t][i], 1e-9);
		}
		agent_viewspec_free(&vs);
	}
	/* The answering member has no coordinate yet: no estimates. */
	cl.m[1].coord = NULL;
	assert_int_equal(agent_viewspec_services_members(c, NULL, "node2", c->services,
							 c->n_services, cl.m, cl.n, 1,
							 &vs, &skipped), AS_OK);
	const struct dns_service_spec *w = svc(&vs, "web");
	for (size_t i = 0; i < w->n_endpoints; i++)
		assert_false(w->endpoints[i].rtt_known);
	agent_viewspec_free(&vs);
	agent_config_free(c);
}

static void test_members(void **state)
{
	struct agent_config *c = load(base);
	struct cluster cl = { 0 };
	struct agent_viewspec vs;
	uint64_t skipped = 99;

	(void)state;
	struct gossip_record *me = member(&cl, "node1", GOSSIP_ALIVE, true, 0.9);
	gep(me, "web", "fd00:10::1", 8080, 50, true);
	struct gossip_record *n2 = member(&cl, "node2", GOSSIP_ALIVE, false, 0.5);
	gep(n2, "web", "192.0.2.2", 8080, 100, false);
	gep(n2, "zzz", "fd00:20::1", 9000, 10, true);	/* gossip only */
	gep(n2, "aaa", "fd00:21::1", 9001, 10, true);
	gep(n2, "zzz", "fd00:20::2", 9002, 10, true);
	struct gossip_record *n3 = member(&cl, "node3", GOSSIP_SUSPECT, false, 1);
	gep(n3, "web", "fd00:10::3", 80, 100, true);
	gep(n3, "only3", "fd00:10::4", 80, 100, true);
	struct gossip_record *n4 = member(&cl, "node4", GOSSIP_DEAD, false, 1);
	gep(n4, "web", "fd00:10::5", 80, 100, true);

	assert_int_equal(agent_viewspec_services_members(c, c->node.zone, NULL, c->services, c->n_services,
							 cl.m, cl.n, 0.25, &vs,
							 &skipped), AS_OK);
	assert_int_equal(skipped, 0);
	/* Catalog services first (db even without endpoints), then
	 * gossip-only ones by name; only alive members count. */
	assert_int_equal(vs.spec.n_services, 4);
	assert_string_equal(vs.spec.services[0].name, "web");
	assert_string_equal(vs.spec.services[1].name, "db");
	assert_string_equal(vs.spec.services[2].name, "aaa");
	assert_string_equal(vs.spec.services[3].name, "zzz");
	assert_null(svc(&vs, "only3"));

	const struct dns_service_spec *w = &vs.spec.services[0];
	/* Catalog attributes win over gossip's port. */
	assert_int_equal(w->port, 80);
	assert_int_equal(w->ttl, 30);
	assert_int_equal(w->max_answers, 3);
	assert_int_equal(w->n_endpoints, 2);
	/* Own endpoint: the sampler's factor, not the gossiped 0.9. */
	assert_string_equal(w->endpoints[0].node, "node1");
	assert_float_equal(w->endpoints[0].load_factor, 0.25, 0);
	assert_int_equal(w->endpoints[0].weight, 50);
	/* Another node's: its gossiped factor and health; IPv4 unmapped. */
	assert_string_equal(w->endpoints[1].node, "node2");
	assert_float_equal(w->endpoints[1].load_factor, 0.5, 0);
	assert_false(w->endpoints[1].healthy);
	assert_int_equal(w->endpoints[1].family, AF_INET);
	assert_memory_equal(w->endpoints[1].addr, "\xc0\x00\x02\x02", 4);
	assert_int_equal(vs.spec.services[1].n_endpoints, 0);

	/* Gossip-only: port of the first endpoint, zone defaults. */
	const struct dns_service_spec *z = svc(&vs, "zzz");
	assert_int_equal(z->port, 9000);
	assert_string_equal(z->proto, "tcp");
	assert_int_equal(z->ttl, 0);
	assert_int_equal(z->n_endpoints, 2);
	view_ok(c, &vs);
	agent_viewspec_free(&vs);
	agent_config_free(c);
}

/* Gossiped names the zone cannot serve: skipped and counted, never a
 * failed view. A duplicate name across nodes is one service. */
static void test_members_skips(void **state)
{
	struct agent_config *c = load(base);
	struct cluster cl = { 0 };
	struct agent_viewspec vs;
	uint64_t skipped = 0;

	(void)state;
	struct gossip_record *n2 = member(&cl, "node2", GOSSIP_ALIVE, false, 2.5);
	gep(n2, "Upper", "fd00:1::1", 80, 1, true);
	gep(n2, "-dash", "fd00:1::2", 80, 1, true);
	gep(n2, "ns", "fd00:1::3", 80, 1, true);	/* ns.<zone> */
	gep(n2, "bad_name", "fd00:1::4", 80, 1, true);
	gep(n2, "dup", "fd00:1::5", 80, 1, true);
	struct gossip_record *n3 = member(&cl, "node3", GOSSIP_ALIVE, false, -1);
	gep(n3, "dup", "fd00:1::6", 81, 1, true);
	/* The wildcard service passes as it is; '*' in a label does not. */
	gep(n3, "*", "fd00:1::7", 80, 1, true);
	gep(n3, "*x", "fd00:1::8", 80, 1, true);
	assert_int_equal(agent_viewspec_services_members(c, c->node.zone, NULL, c->services, c->n_services,
							 cl.m, cl.n, 1, &vs,
							 &skipped), AS_OK);
	assert_int_equal(skipped, 5);
	assert_int_equal(vs.spec.n_services, 4);
	assert_non_null(svc(&vs, "*"));
	assert_null(svc(&vs, "*x"));
	const struct dns_service_spec *d = svc(&vs, "dup");
	assert_non_null(d);
	assert_int_equal(d->n_endpoints, 2);
	/* Gossiped factors are clamped to 0..1. */
	assert_float_equal(d->endpoints[0].load_factor, 1, 0);
	assert_float_equal(d->endpoints[1].load_factor, 0, 0);
	view_ok(c, &vs);
	agent_viewspec_free(&vs);
	agent_config_free(c);
}

/* No members at all (gossip is starting): the catalog's services, no
 * endpoints, still a valid view. */
static void test_members_empty(void **state)
{
	struct agent_config *c = load(base);
	struct agent_viewspec vs;
	uint64_t skipped = 5;

	(void)state;
	assert_int_equal(agent_viewspec_services_members(c, c->node.zone, NULL, c->services, c->n_services,
							 NULL, 0, 1, &vs, &skipped), AS_OK);
	assert_int_equal(skipped, 0);
	assert_int_equal(vs.spec.n_services, 2);
	assert_int_equal(vs.spec.services[0].n_endpoints, 0);
	view_ok(c, &vs);
	agent_viewspec_free(&vs);
	agent_config_free(c);
}

/* Intents and zones reach the spec: each catalog service's intent,
 * every endpoint's node zone (this node's from node.zone, not from its
 * own record), the answering node's zone; without gossip only this
 * node's endpoints have a zone. */
static void test_intents_and_zones(void **state)
{
	static const char yaml[] =
		"node: { name: node1, zone: za }\n"
		"dns: { listen: [\"[::1]:5353\"], zone: svc.example., ns_addresses: [\"fd00:53::1\"] }\n"
		"services:\n"
		"  - name: web\n"
		"    port: 80\n"
		"    intent: { objective: locality, spill_over: 0.6 }\n"
		"    endpoints:\n"
		"      - { address: \"fd00:10::1\", node: node1 }\n"
		"      - { address: \"fd00:10::2\", node: node2 }\n"
		"  - name: db\n"
		"    port: 5432\n"
		"    intent: { objective: resilience, spread: zone }\n";
	struct agent_config *c = load(yaml);
	struct agent_viewspec vs;
	struct cluster cl = { 0 };
	uint64_t skipped;

	(void)state;
	assert_int_equal(agent_viewspec_services_static(c->services, c->n_services,
							"node1", c->node.zone, 1, &vs), AS_OK);
	const struct dns_service_spec *w = svc(&vs, "web"), *d = svc(&vs, "db");
	assert_int_equal(w->intent.objective, DNS_OBJ_LOCALITY);
	assert_true(w->intent.spill_over == 0.6);
	assert_int_equal(d->intent.objective, DNS_OBJ_RESILIENCE);
	assert_int_equal(d->intent.spread, DNS_SPREAD_ZONE);
	assert_string_equal(w->endpoints[0].zone, "za");
	assert_null(w->endpoints[1].zone);
	view_ok(c, &vs);
	assert_string_equal(vs.spec.node_zone, "za");
	agent_viewspec_free(&vs);

	struct gossip_record *me = member(&cl, "node1", GOSSIP_ALIVE, true, 1);
	snprintf(me->zone, sizeof(me->zone), "old");	/* fixed at start */
	gep(me, "web", "fd00:10::1", 80, 100, true);
	struct gossip_record *n2 = member(&cl, "node2", GOSSIP_ALIVE, false, 1);
	snprintf(n2->zone, sizeof(n2->zone), "zb");
	gep(n2, "web", "fd00:10::2", 80, 100, true);
	gep(n2, "gossiponly", "fd00:10::3", 80, 100, true);
	struct gossip_record *n3 = member(&cl, "node3", GOSSIP_ALIVE, false, 1);
	gep(n3, "db", "fd00:10::4", 80, 100, true);	/* no zone */
	assert_int_equal(agent_viewspec_services_members(c, c->node.zone, NULL, c->services, c->n_services,
							 cl.m, cl.n, 1, &vs, &skipped), AS_OK);
	w = svc(&vs, "web");
	assert_int_equal(w->intent.objective, DNS_OBJ_LOCALITY);
	assert_string_equal(w->endpoints[0].zone, "za");
	assert_string_equal(w->endpoints[1].zone, "zb");
	assert_null(svc(&vs, "db")->endpoints[0].zone);
	assert_int_equal(svc(&vs, "gossiponly")->intent.objective, DNS_OBJ_BALANCE);
	view_ok(c, &vs);
	agent_viewspec_free(&vs);
	agent_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_members_rtt_as),
		cmocka_unit_test(test_members_skips),
		cmocka_unit_test(test_members_empty),
		cmocka_unit_test(test_intents_and_zones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
