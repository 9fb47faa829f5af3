/*
 * tests/unit/test_k8s_publish.c - k8s_publish_build(): annotated
 * Services, owned Ingresses and attached routes become one set of names,
 * each mapped to the ready endpoints on this node of its backend Service,
 * with its origin, route weights turned into endpoint weights, conflicts
 * resolved by source and the compromises reported against their objects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "tests/unit/k8s_fixture.h"

#define ZONE "svc.example.net"

struct t {
	k8s_store_t *store;
	k8s_objs_t *objs[K8S_N_OKINDS];
	struct k8s_publish pub;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(k8s_store_new(ZONE, "node-a", &t->store), AS_OK);
	for (int k = 0; k < K8S_N_OKINDS; k++)
		assert_int_equal(k8s_objs_new(k, &t->objs[k]), AS_OK);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	k8s_publish_free(&t->pub);
	k8s_store_free(t->store);
	for (int k = 0; k < K8S_N_OKINDS; k++)
		k8s_objs_free(t->objs[k]);
	free(t);
	return 0;
}

/* ---- objects --------------------------------------------------------------- */

static void add_store(struct t *t, int kind, json_t *obj)
{
	char *line = k8s_event("ADDED", obj);
	struct k8s_event_info ev;

	assert_int_equal(k8s_store_apply_event(t->store, kind, line, strlen(line), &ev),
			 AS_OK);
	free(line);
	json_decref(obj);
}

static void add_obj(struct t *t, int okind, json_t *obj)
{
	char *line = k8s_event("ADDED", obj);
	struct k8s_event_info ev;

	assert_int_equal(k8s_objs_apply_event(t->objs[okind], line, strlen(line), &ev),
			 AS_OK);
	free(line);
	json_decref(obj);
}

/* A Service (annotated with hostname when not NULL), port "http" 80. */
static void service(struct t *t, const char *ns, const char *name,
		    const char *hostname)
{
	json_t *s = json_pack("{s:s, s:s, s:{s:s, s:s, s:{}}, s:{s:[{s:s, s:s, s:i}]}}",
			      "kind", "Service", "apiVersion", "v1",
			      "metadata", "namespace", ns, "name", name, "annotations",
			      "spec", "ports", "name", "http", "protocol", "TCP", "port", 80);

	if (hostname)
		k8s_set(s, "metadata.annotations", "anysteer.io/hostname",
			json_string(hostname));
	add_store(t, K8S_SERVICES, s);
}

/* A slice of Service ns/svc: n_local ready endpoints on node-a
 * (fd00:<base>::1, ...) and n_other on node-b; target port 8080. */
static void slice(struct t *t, const char *ns, const char *svc, int base,
		  int n_local, int n_other)
{
	json_t *eps = json_array();
	char name[64], addr[64];

	for (int i = 0; i < n_local + n_other; i++) {
		snprintf(addr, sizeof(addr), "fd00:%d::%d", base, i + 1);
		json_array_append_new(eps, json_pack("{s:[s], s:{s:b}, s:s}",
			"addresses", addr, "conditions", "ready", 1,
			"nodeName", i < n_local ? "node-a" : "node-b"));
	}
	snprintf(name, sizeof(name), "%s-x", svc);
	add_store(t, K8S_SLICES, json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:o, s:[{s:s, s:s, s:i}]}",
		"kind", "EndpointSlice", "apiVersion", "discovery.k8s.io/v1",
		"metadata", "namespace", ns, "name", name, "labels",
		"kubernetes.io/service-name", svc, "addressType", "IPv6",
		"endpoints", eps, "ports", "name", "http", "protocol", "TCP",
		"port", 8080));
}

static void ingress_class(struct t *t, const char *name, const char *controller)
{
	add_obj(t, K8S_O_INGRESSCLASS, json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "kind", "IngressClass",
		"apiVersion", "networking.k8s.io/v1", "metadata", "name", name,
		"uid", name, "spec", "controller", controller));
}

/* An Ingress of class cls; host -> svc on "/", plus "/api" -> api when
 * split. */
static void ingress(struct t *t, const char *name, const char *cls,
		    const char *host, const char *svc, bool split)
{
	json_t *paths = json_pack("[{s:s, s:s, s:{s:{s:s, s:{s:s}}}}]",
		"path", "/", "pathType", "Prefix", "backend", "service",
		"name", svc, "port", "name", "http");

	if (split)
		json_array_append_new(paths, json_pack(
			"{s:s, s:s, s:{s:{s:s, s:{s:i}}}}", "path", "/api",
			"pathType", "Prefix", "backend", "service", "name", "api",
			"port", "number", 8080));
	add_obj(t, K8S_O_INGRESS, json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:[{s:s, s:{s:o}}]}}",
		"kind", "Ingress", "apiVersion", "networking.k8s.io/v1",
		"metadata", "namespace", "shop", "name", name, "uid", name,
		"creationTimestamp", "2026-11-02T09:00:00Z",
		"spec", "ingressClassName", cls, "rules", "host", host, "http",
		"paths", paths));
}

static void build(struct t *t)
{
	struct k8s_publish_input in = { .zone = ZONE };

	for (int k = 0; k < K8S_N_OKINDS; k++)
		in.objs[k] = t->objs[k];
	k8s_publish_free(&t->pub);
	assert_int_equal(k8s_publish_build(t->store, &in, &t->pub), AS_OK);
}

static const struct k8s_entry *entry(struct t *t, const char *label)
{
	for (size_t i = 0; i < t->pub.set.n_entries; i++)
		if (!strcmp(t->pub.set.entries[i].label, label))
			return &t->pub.set.entries[i];
	return NULL;
}

static const struct k8s_warning *warning(struct t *t, const char *reason)
{
	for (size_t i = 0; i < t->pub.n_warnings; i++)
		if (!strcmp(t->pub.warnings[i].reason, reason))
			return &t->pub.warnings[i];
	return NULL;
}

/* ---- tests ------------------------------------------------------------------- */

/* An Ingress of our class: its host answers with the local ready
 * endpoints of its backend, a Service nobody annotated, at the target
 * port; the path split is one backend and a warning on the Ingress. */
static void test_ingress_of_our_class(void **state)
{
	struct t *t = *state;
	const struct k8s_entry *e;
	const struct k8s_warning *w;
	struct k8s_store_stats st;

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	service(t, "shop", "web", NULL);
	service(t, "shop", "api", NULL);
	slice(t, "shop", "web", 10, 2, 1);
	slice(t, "shop", "api", 11, 1, 0);
	ingress(t, "front", "anysteer", "www.svc.example.net", "web", true);
	build(t);

	assert_int_equal(t->pub.set.n_entries, 1);
	e = entry(t, "www");
	assert_non_null(e);
	assert_string_equal(e->hostname, "www.svc.example.net.");
	assert_string_equal(e->origin, "Ingress shop/front");
	assert_string_equal(e->service, "web");
	assert_int_equal(e->n_endpoints, 2);
	assert_string_equal(e->endpoints[0].address, "fd00:10::1");
	assert_string_equal(e->endpoints[1].address, "fd00:10::2");
	assert_int_equal(e->endpoints[0].weight, K8S_DEFAULT_WEIGHT);
	assert_int_equal(e->ports[0].target_port, 8080);
	w = warning(t, "PathRoutingUnsupported");
	assert_non_null(w);
	assert_int_equal(w->okind, K8S_O_INGRESS);
	assert_string_equal(w->namespace_, "shop");
	assert_string_equal(w->name, "front");
	assert_non_null(strstr(w->message, "/api"));
	/* The leader's status list: the name it won. */
	assert_int_equal(t->pub.n_ingresses, 1);
	assert_int_equal(t->pub.ingresses[0].n_hostnames, 1);
	assert_string_equal(t->pub.ingresses[0].hostnames[0], "www.svc.example.net.");
	/* Unannotated Services are kept for backends, not counted as ours. */
	k8s_store_stats(t->store, &st);
	assert_int_equal(st.services, 0);
}

/* Another controller's class: nothing, not even a warning. */
static void test_ingress_of_another_class(void **state)
{
	struct t *t = *state;

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	ingress_class(t, "nginx", "k8s.io/ingress-nginx");
	service(t, "shop", "web", NULL);
	slice(t, "shop", "web", 10, 1, 0);
	ingress(t, "front", "nginx", "www.svc.example.net", "web", true);
	build(t);
	assert_int_equal(t->pub.set.n_entries, 0);
	assert_int_equal(t->pub.n_warnings, 0);
	assert_int_equal(t->pub.n_ingresses, 0);
}

/* An Ingress that left our class with our hostnames still in its status
 * (we wrote them while it was ours): released, with the zone's names
 * only; one that never had any is not. */
static void test_ingress_left_our_class(void **state)
{
	struct t *t = *state;
	json_t *j = json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s, s:[{s:s}]},"
		" s:{s:{s:[{s:s}, {s:s}, {s:s}]}}}",
		"kind", "Ingress", "apiVersion", "networking.k8s.io/v1",
		"metadata", "namespace", "shop", "name", "front", "uid", "front",
		"spec", "ingressClassName", "nginx", "rules", "host",
		"www.svc.example.net", "status", "loadBalancer", "ingress",
		"ip", "fd00:99::1", "hostname", "www.svc.example.net",
		"hostname", "lb.example.org");

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	ingress_class(t, "nginx", "k8s.io/ingress-nginx");
	add_obj(t, K8S_O_INGRESS, j);
	ingress(t, "plain", "nginx", "api.svc.example.net", "web", false);
	build(t);
	assert_int_equal(t->pub.n_ingresses, 0);
	assert_int_equal(t->pub.n_released, 1);
	assert_string_equal(t->pub.released[0].name, "front");
	assert_int_equal(t->pub.released[0].n_hostnames, 1);
	assert_string_equal(t->pub.released[0].hostnames[0], "www.svc.example.net");
	/* Back in our class: owned again, not released. */
	ingress(t, "front", "anysteer", "www.svc.example.net", "web", false);
	build(t);
	assert_int_equal(t->pub.n_ingresses, 1);
	assert_int_equal(t->pub.n_released, 0);
}

/* A Service annotation and an Ingress claim one name: the Service wins
 * on every node, the Ingress is told. */
static void test_conflict_service_first(void **state)
{
	struct t *t = *state;
	const struct k8s_warning *w;

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	service(t, "shop", "web", "www.svc.example.net");
	service(t, "shop", "other", NULL);
	slice(t, "shop", "web", 10, 1, 0);
	slice(t, "shop", "other", 12, 1, 0);
	ingress(t, "front", "anysteer", "www.svc.example.net", "other", false);
	build(t);
	assert_int_equal(t->pub.set.n_entries, 1);
	assert_string_equal(entry(t, "www")->origin, "Service shop/web");
	assert_string_equal(entry(t, "www")->endpoints[0].address, "fd00:10::1");
	assert_int_equal(t->pub.conflicts, 1);
	w = warning(t, "HostnameConflict");
	assert_non_null(w);
	assert_string_equal(w->name, "front");
	assert_int_equal(t->pub.ingresses[0].n_hostnames, 0);
}

/* HTTPRoute 90/10 over Services of 1 and 2 ready pods: each endpoint's
 * weight is its backend's share divided by the backend's ready count. */
static void test_route_weights(void **state)
{
	struct t *t = *state;
	const struct k8s_entry *e;

	add_obj(t, K8S_O_GATEWAYCLASS, k8s_fixture("gatewayclass-anysteer.json"));
	add_obj(t, K8S_O_GATEWAY, k8s_fixture("gateway-public.json"));
	service(t, "shop", "checkout-v1", NULL);
	service(t, "shop", "checkout-v2", NULL);
	slice(t, "shop", "checkout-v1", 21, 1, 0);
	slice(t, "shop", "checkout-v2", 22, 1, 1);
	add_obj(t, K8S_O_HTTPROUTE, k8s_fixture("httproute-canary.json"));
	build(t);
	e = entry(t, "checkout");
	assert_non_null(e);
	assert_string_equal(e->origin, "HTTPRoute shop/canary");
	assert_int_equal(e->n_endpoints, 2);
	for (size_t i = 0; i < e->n_endpoints; i++) {
		if (!strcmp(e->endpoints[i].address, "fd00:21::1"))
			assert_int_equal(e->endpoints[i].weight, 9000);
		else if (!strcmp(e->endpoints[i].address, "fd00:22::1"))
			assert_int_equal(e->endpoints[i].weight, 500);
		else
			fail_msg("unexpected endpoint %s", e->endpoints[i].address);
	}
	/* The Gateway's status is there for the leader. */
	assert_true(t->pub.gw.n_status > 0);

	/* Weight 0 for v2: its endpoints stay, at weight 0. */
	json_t *r = k8s_fixture("httproute-canary.json");
	json_t *b = json_array_get(json_object_get(json_array_get(
		json_object_get(json_object_get(r, "spec"), "rules"), 0),
		"backendRefs"), 1);
	json_object_set_new(b, "weight", json_integer(0));
	char *line = k8s_event("MODIFIED", r);
	struct k8s_event_info ev;

	assert_int_equal(k8s_objs_apply_event(t->objs[K8S_O_HTTPROUTE], line,
					      strlen(line), &ev), AS_OK);
	free(line);
	json_decref(r);
	build(t);
	e = entry(t, "checkout");
	for (size_t i = 0; i < e->n_endpoints; i++)
		assert_int_equal(e->endpoints[i].weight,
				 !strcmp(e->endpoints[i].address, "fd00:21::1") ? 10000 : 0);
}

/* A wildcard host is published as the "*" label of the zone. */
static void test_wildcard_host(void **state)
{
	struct t *t = *state;
	const struct k8s_entry *e;

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	service(t, "shop", "web", NULL);
	slice(t, "shop", "web", 10, 1, 0);
	ingress(t, "front", "anysteer", "*.svc.example.net", "web", false);
	build(t);
	e = entry(t, "*");
	assert_non_null(e);
	assert_string_equal(e->hostname, "*.svc.example.net.");
	/* Not a host name for status.loadBalancer. */
	assert_int_equal(t->pub.ingresses[0].n_hostnames, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ingress_of_our_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingress_of_another_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingress_left_our_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_service_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_weights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_host, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
