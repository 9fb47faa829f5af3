/*
 * The catalog merge (agent/catalog.c): the config's static services and
 * the Kubernetes source's set, a pure function. Configs come from YAML
 * through the real loader; sets are built by hand as the k8s store would
 * deliver them.
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

#include "agent/catalog.h"
#include "dns/dns.h"
#include "lib/as.h"

static const char base[] =
	"node: { name: node1 }\n"
	"dns: { listen: [\"[::1]:5353\"], zone: svc.example., ttl: 5 }\n"
	"services:\n"
	"  - name: web\n"
	"    port: 80\n"
	"    ttl: 30\n"
	"    endpoints:\n"
	"      - { address: \"fd00:10::1\", weight: 50, node: node1 }\n"
	"      - { address: \"fd00:10::2\", node: node2 }\n"
	"  - name: db\n"
	"    port: 5432\n"
	"    endpoints: []\n";

static struct agent_config *load(const char *yaml)
{
	struct agent_config *c = NULL;
	char err[2048] = "";
	int rc = agent_config_parse("test.yaml", yaml, strlen(yaml), &c, err, sizeof(err));
	if (rc)
		fail_msg("config: %s", err);
	return c;
}

/* Entries of a set, with backing storage the test owns. */
struct fake {
	struct k8s_set set;
	struct k8s_entry e[8];
	struct k8s_endpoint ep[8][4];
	struct k8s_port port[8];
	char addr[8][4][48];
};

static struct k8s_entry *entry(struct fake *f, const char *label,
			       const char *proto, uint16_t port, uint16_t target)
{
	size_t i = f->set.n_entries++;
	struct k8s_entry *e = &f->e[i];

	assert_true(i < sizeof(f->e) / sizeof(f->e[0]));
	f->set.entries = f->e;
	*e = (struct k8s_entry){ .label = (char *)label, .weight = 7,
				 .ttl = 9, .max_answers = 4, .endpoints = f->ep[i] };
	if (proto) {
		f->port[i] = (struct k8s_port){ .protocol = (char *)proto,
						.port = port, .target_port = target };
		e->ports = &f->port[i];
		e->n_ports = 1;
	}
	return e;
}

static void endpoint(struct fake *f, struct k8s_entry *e, const char *text)
{
	size_t i = (size_t)(e - f->e), j = e->n_endpoints++;
	struct k8s_endpoint *ep = &f->ep[i][j];

	snprintf(f->addr[i][j], sizeof(f->addr[i][j]), "%s", text);
	ep->address = f->addr[i][j];
	ep->family = strchr(text, ':') ? AF_INET6 : AF_INET;
	ep->weight = e->weight;	/* as k8s/ fills it for a Service */
	assert_int_equal(inet_pton(ep->family, text, ep->addr), 1);
}

static const struct agent_service *find(const struct agent_catalog *cat,
					const char *name)
{
	for (size_t i = 0; i < cat->n_services; i++)
		if (!strcmp(cat->services[i].name, name))
			return &cat->services[i];
	return NULL;
}

/* Without a source the catalog is the config's own array. */
static void test_static_only(void **state)
{
	struct agent_config *c = load(base);
	struct agent_catalog cat;
	struct agent_catalog_skips sk = { 1, 1, 1, 1 };

	(void)state;
	assert_int_equal(agent_catalog_merge(c, NULL, &cat, &sk), AS_OK);
	assert_ptr_equal(cat.services, c->services);
	assert_int_equal(cat.n_services, 2);
	assert_null(cat.own_svcs);
	assert_int_equal(sk.no_port + sk.ns_label + sk.bad_name + sk.bad_intent, 0);
	agent_catalog_free(&cat);
	agent_config_free(c);
}

/* Static first in config order, then the source's entries; a namesake
 * keeps the static attributes and gets both sets of endpoints, without
 * duplicating an address the config already lists. */
static void test_merge(void **state)
{
	struct agent_config *c = load(base);
	struct fake f = { 0 };
	struct agent_catalog cat;
	struct agent_catalog_skips sk;

	(void)state;
	struct k8s_entry *api = entry(&f, "api", "tcp", 443, 8443);
	endpoint(&f, api, "fd00:20::1");
	endpoint(&f, api, "192.0.2.7");
	/* A route's backends weigh their endpoints differently. */
	f.ep[0][1].weight = 9000;
	api->origin = "HTTPRoute shop/api";
	api->objective = (char *)"locality";
	api->spill_over = -1;	/* not annotated: the default */
	struct k8s_entry *web = entry(&f, "web", "udp", 53, 0);
	endpoint(&f, web, "fd00:10::1");	/* already static */
	endpoint(&f, web, "fd00:10::3");

	assert_int_equal(agent_catalog_merge(c, &f.set, &cat, &sk), AS_OK);
	assert_int_equal(cat.n_services, 3);
	assert_string_equal(cat.services[0].name, "web");
	assert_string_equal(cat.services[1].name, "db");
	assert_string_equal(cat.services[2].name, "api");

	const struct agent_service *w = &cat.services[0];
	assert_int_equal(w->port, 80);		/* static attributes */
	assert_int_equal(w->ttl, 30);
	assert_string_equal(w->protocol, "tcp");
	assert_int_equal(w->n_endpoints, 3);	/* 2 static + 1 new */
	assert_int_equal(w->endpoints[0].weight, 50);
	assert_string_equal(w->endpoints[1].node, "node2");
	assert_string_equal(w->endpoints[2].address, "fd00:10::3");
	assert_int_equal(w->endpoints[2].weight, 7);	/* the endpoint's */
	assert_string_equal(w->endpoints[2].node, "node1");	/* this node */

	const struct agent_service *a = find(&cat, "api");
	assert_int_equal(a->port, 8443);	/* the pods' port */
	assert_int_equal(a->ttl, 9);
	assert_int_equal(a->max_answers, 4);
	assert_int_equal(a->n_endpoints, 2);
	assert_int_equal(a->endpoints[1].family, AF_INET);
	assert_int_equal(a->endpoints[0].weight, 7);
	assert_int_equal(a->endpoints[1].weight, 9000);
	assert_string_equal(a->origin, "HTTPRoute shop/api");
	assert_string_equal(a->intent.objective, "locality");
	assert_true(a->intent.spill_over == DNS_SPILL_OVER_DEFAULT);
	assert_null(a->intent.spread);
	assert_string_equal(w->intent.objective, "balance");	/* static */
	assert_null(cat.services[1].origin);	/* static */
	assert_int_equal(cat.services[1].n_endpoints, 0);
	assert_int_equal(sk.no_port + sk.ns_label + sk.bad_name + sk.bad_intent, 0);
	/* The config is not touched. */
	assert_int_equal(c->services[0].n_endpoints, 2);
	agent_catalog_free(&cat);
	assert_null(cat.services);
	agent_config_free(c);
}

/* Entries without a TCP/UDP port, and entries named like one of the
 * zone's nameservers (ns.<zone> by default), are left out and counted:
 * served as a service, ns.<zone> would make every view build fail. */
static void test_skips(void **state)
{
	struct agent_config *c = load(base);
	struct fake f = { 0 };
	struct agent_catalog cat;
	struct agent_catalog_skips sk;

	(void)state;
	endpoint(&f, entry(&f, "ns", "tcp", 80, 0), "fd00:30::1");
	endpoint(&f, entry(&f, "sctp", "sctp", 9, 0), "fd00:30::2");
	endpoint(&f, entry(&f, "noport", NULL, 0, 0), "fd00:30::3");
	endpoint(&f, entry(&f, "nsx", "tcp", 80, 0), "fd00:30::4");
	/* dns/'s rule decides the rest: a view with it would not build. */
	endpoint(&f, entry(&f, "my_svc", "tcp", 80, 0), "fd00:30::5");
	endpoint(&f, entry(&f, "Web", "tcp", 80, 0), "fd00:30::6");
	/* An Ingress host *.<zone> (label "*") is the wildcard service. */
	endpoint(&f, entry(&f, "*", "tcp", 80, 0), "fd00:30::7");
	endpoint(&f, entry(&f, "*x", "tcp", 80, 0), "fd00:30::8");
	assert_int_equal(agent_catalog_merge(c, &f.set, &cat, &sk), AS_OK);
	assert_int_equal(sk.ns_label, 1);
	assert_int_equal(sk.no_port, 2);
	assert_int_equal(sk.bad_name, 3);
	assert_null(find(&cat, "my_svc"));
	assert_non_null(find(&cat, "*"));
	assert_int_equal(cat.n_services, 4);
	assert_null(find(&cat, "ns"));
	assert_non_null(find(&cat, "nsx"));	/* only the exact label */
	agent_catalog_free(&cat);
	agent_config_free(c);

	/* Configured nameservers, not only the default. */
	c = load("node: { name: node1 }\n"
		 "dns: { listen: [\"[::1]:5353\"], zone: svc.example.,\n"
		 "       nameservers: [a.svc.example., ns.other.example.] }\n");
	assert_true(agent_catalog_is_ns_label(c, "a"));
	assert_true(agent_catalog_is_ns_label(c, "A"));
	assert_false(agent_catalog_is_ns_label(c, "ns"));
	memset(&f, 0, sizeof(f));
	endpoint(&f, entry(&f, "a", "tcp", 80, 0), "fd00:30::1");
	endpoint(&f, entry(&f, "ns", "tcp", 80, 0), "fd00:30::2");
	assert_int_equal(agent_catalog_merge(c, &f.set, &cat, &sk), AS_OK);
	assert_int_equal(sk.ns_label, 1);
	assert_int_equal(cat.n_services, 1);
	assert_string_equal(cat.services[0].name, "ns");
	agent_catalog_free(&cat);
	agent_config_free(c);
}

/* anysteer.io/path and path-avoid become the intent of a source's
 * service when srv6/ accepts the words; a static namesake keeps its own. */
static void test_intents(void **state)
{
	struct agent_config *c = load(
		"node: { name: node1 }\n"
		"dns: { listen: [\"[::1]:5353\"], zone: svc.example. }\n"
		"services:\n"
		"  - { name: web, port: 80, intent: { path: bandwidth } }\n");
	struct fake f = { 0 };
	struct agent_catalog cat;
	struct agent_catalog_skips sk;
	char *avoid[] = { "satellite", "wan" }, *bad[] = { "Not_A_Tag" };
	struct k8s_entry *e;

	(void)state;
	e = entry(&f, "web", "tcp", 80, 0);	/* the static one's */
	e->path = "cost";
	e = entry(&f, "db", "tcp", 5432, 0);
	e->path = "cost";
	e->path_avoid = avoid;
	e->n_path_avoid = 2;
	e = entry(&f, "bulk", "tcp", 9000, 0);
	e->path_avoid = avoid;			/* path: latency by default */
	e->n_path_avoid = 1;
	e = entry(&f, "odd", "tcp", 1, 0);
	e->path = "fastest";
	e = entry(&f, "odd2", "tcp", 2, 0);
	e->path_avoid = bad;
	e->n_path_avoid = 1;
	entry(&f, "plain", "tcp", 3, 0);
	assert_int_equal(agent_catalog_merge(c, &f.set, &cat, &sk), AS_OK);
	assert_int_equal(sk.bad_intent, 2);
	assert_string_equal(find(&cat, "web")->intent.path, "bandwidth");
	const struct agent_intent *in = &find(&cat, "db")->intent;
	assert_true(in->steered);
	assert_string_equal(in->path, "cost");
	assert_int_equal(in->n_avoid, 2);
	assert_string_equal(in->avoid[1], "wan");
	in = &find(&cat, "bulk")->intent;
	assert_true(in->steered);
	assert_string_equal(in->path, "latency");
	assert_false(find(&cat, "odd")->intent.steered);	/* answered, not steered */
	assert_false(find(&cat, "odd2")->intent.steered);
	assert_false(find(&cat, "plain")->intent.steered);
	agent_catalog_free(&cat);
	agent_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_only),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_skips),
		cmocka_unit_test(test_intents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
