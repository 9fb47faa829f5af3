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

static int add_store_rc(struct t *t, int kind, json_t *obj)
{
	char *line = k8s_event("ADDED", obj);
	struct k8s_event_info ev;
	int rc = k8s_store_apply_event(t->store, kind, line, strlen(line), &ev);

	free(line);
	json_decref(obj);
	return rc;
}

static void add_store(struct t *t, int kind, json_t *obj)
{
	assert_int_equal(add_store_rc(t, kind, obj), AS_OK);
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

/* Sets the annotations kv (pairs, NULL-terminated; NULL ok) on obj. */
static json_t *annotate(json_t *obj, const char *const *kv)
{
	for (size_t i = 0; kv && kv[i]; i += 2)
		k8s_set(obj, "metadata.annotations", kv[i], json_string(kv[i + 1]));
	return obj;
}

/* A Service (annotated with hostname when not NULL, and kv), port
 * "http" 80. */
static json_t *service_json(const char *ns, const char *name,
			    const char *hostname, const char *const *kv)
{
	json_t *s = json_pack("{s:s, s:s, s:{s:s, s:s, s:{}}, s:{s:[{s:s, s:s, s:i}]}}",
			      "kind", "Service", "apiVersion", "v1",
			      "metadata", "namespace", ns, "name", name, "annotations",
			      "spec", "ports", "name", "http", "protocol", "TCP", "port", 80);

	if (hostname)
		k8s_set(s, "metadata.annotations", "anysteer.io/hostname",
			json_string(hostname));
	return annotate(s, kv);
}

static void service(struct t *t, const char *ns, const char *name,
		    const char *hostname)
{
	add_store(t, K8S_SERVICES, service_json(ns, name, hostname, NULL));
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
static json_t *ingress_json(const char *name, const char *cls,
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
	return json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:[{s:s, s:{s:o}}]}}",
		"kind", "Ingress", "apiVersion", "networking.k8s.io/v1",
		"metadata", "namespace", "shop", "name", name, "uid", name,
		"creationTimestamp", "2026-11-02T09:00:00Z",
		"spec", "ingressClassName", cls, "rules", "host", host, "http",
		"paths", paths);
}

static void ingress(struct t *t, const char *name, const char *cls,
		    const char *host, const char *svc, bool split)
{
	add_obj(t, K8S_O_INGRESS, ingress_json(name, cls, host, svc, split));
}

/* The Gateway public (class anysteer) and the Services of the canary
 * route, annotated v1_kv and v2_kv (NULL ok), with one ready pod each on
 * node-a and v2_other more of checkout-v2 elsewhere. */
static void canary_backends(struct t *t, const char *const *v1_kv,
			    const char *const *v2_kv, int v2_other)
{
	add_obj(t, K8S_O_GATEWAYCLASS, k8s_fixture("gatewayclass-anysteer.json"));
	add_obj(t, K8S_O_GATEWAY, k8s_fixture("gateway-public.json"));
	add_store(t, K8S_SERVICES, service_json("shop", "checkout-v1", NULL, v1_kv));
	add_store(t, K8S_SERVICES, service_json("shop", "checkout-v2", NULL, v2_kv));
	slice(t, "shop", "checkout-v1", 21, 1, 0);
	slice(t, "shop", "checkout-v2", 22, 1, v2_other);
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

	canary_backends(t, NULL, NULL, 1);
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

/* ---- intents ------------------------------------------------------------------- */

#define OBJ "anysteer.io/objective"
#define SPILL "anysteer.io/spill-over"
#define SPREAD "anysteer.io/spread"

static void assert_intent(const struct k8s_entry *e, const char *objective,
			  double spill, const char *spread)
{
	assert_non_null(e);
	if (objective)
		assert_string_equal(e->objective, objective);
	else
		assert_null(e->objective);
	if (spread)
		assert_string_equal(e->spread, spread);
	else
		assert_null(e->spread);
	if (spill < 0)
		assert_true(e->spill_over < 0);
	else
		assert_true(e->spill_over == spill);
}

static size_t count_warnings(struct t *t, const char *reason, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < t->pub.n_warnings; i++)
		n += !strcmp(t->pub.warnings[i].reason, reason) &&
		     t->pub.warnings[i].name && !strcmp(t->pub.warnings[i].name, name);
	return n;
}

/* The intent annotations on an Ingress are its names' intent; without
 * them a name has none (balance; spill-over unset, not 0). */
static void test_ingress_intent(void **state)
{
	struct t *t = *state;
	static const char *const resilient[] = { OBJ, "resilience", SPREAD, "node",
						 NULL };
	static const char *const near[] = { OBJ, "latency", SPILL, "0.5", NULL };

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	service(t, "shop", "web", NULL);
	slice(t, "shop", "web", 10, 2, 0);
	add_obj(t, K8S_O_INGRESS, annotate(ingress_json("front", "anysteer",
		"www.svc.example.net", "web", false), resilient));
	add_obj(t, K8S_O_INGRESS, annotate(ingress_json("near", "anysteer",
		"near.svc.example.net", "web", false), near));
	ingress(t, "plain", "anysteer", "plain.svc.example.net", "web", false);
	build(t);
	assert_int_equal(t->pub.set.n_entries, 3);
	assert_intent(entry(t, "www"), "resilience", -1, "node");
	assert_intent(entry(t, "near"), "latency", 0.5, NULL);
	assert_intent(entry(t, "plain"), NULL, -1, NULL);
	assert_int_equal(entry(t, "www")->n_endpoints, 2);
	assert_int_equal(t->pub.n_warnings, 0);
}

/* Precedence: a name's own object's intent, as a whole; else its
 * backend Service's (annotated with a hostname or not; a route's first
 * backend); a change of the backend's is a change of the set. */
static void test_intent_precedence(void **state)
{
	struct t *t = *state;
	static const char *const local[] = { OBJ, "locality", SPILL, "0.6", NULL };
	static const char *const zones[] = { OBJ, "resilience", SPREAD, "zone", NULL };
	static const char *const bal[] = { OBJ, "balance", NULL };
	static const char *const lat[] = { OBJ, "latency", NULL };
	static const char *const res[] = { OBJ, "resilience", NULL };
	struct k8s_set before = { 0 };
	struct k8s_event_info ev;

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	add_store(t, K8S_SERVICES, service_json("shop", "web", NULL, local));
	add_store(t, K8S_SERVICES, service_json("shop", "api", "api.svc.example.net",
						zones));
	slice(t, "shop", "web", 10, 1, 0);
	slice(t, "shop", "api", 11, 1, 0);
	ingress(t, "front", "anysteer", "www.svc.example.net", "web", false);
	add_obj(t, K8S_O_INGRESS, annotate(ingress_json("mine", "anysteer",
		"mine.svc.example.net", "web", false), bal));
	ingress(t, "toapi", "anysteer", "other.svc.example.net", "api", false);
	/* Route: checkout-v1 is the first backend. */
	canary_backends(t, lat, local, 0);
	add_obj(t, K8S_O_HTTPROUTE, k8s_fixture("httproute-canary.json"));
	build(t);
	assert_intent(entry(t, "www"), "locality", 0.6, NULL);
	/* Its own "balance" wins whole: no spill-over from the Service. */
	assert_intent(entry(t, "mine"), "balance", -1, NULL);
	assert_intent(entry(t, "other"), "resilience", -1, "zone");
	assert_intent(entry(t, "api"), "resilience", -1, "zone");
	assert_intent(entry(t, "checkout"), "latency", -1, NULL);
	/* The route's own annotation wins over its backends'. */
	json_t *r = annotate(k8s_fixture("httproute-canary.json"), res);
	char *line = k8s_event("MODIFIED", r);
	assert_int_equal(k8s_objs_apply_event(t->objs[K8S_O_HTTPROUTE], line,
					      strlen(line), &ev), AS_OK);
	free(line);
	json_decref(r);
	build(t);
	assert_intent(entry(t, "checkout"), "resilience", -1, NULL);
	/* The backend Service's intent changes: so do its Ingress names. */
	before = t->pub.set;
	memset(&t->pub.set, 0, sizeof(t->pub.set));
	add_store(t, K8S_SERVICES, service_json("shop", "web", NULL, lat));
	build(t);
	assert_intent(entry(t, "www"), "latency", -1, NULL);
	assert_intent(entry(t, "mine"), "balance", -1, NULL);
	assert_false(k8s_set_equal(&before, &t->pub.set));
	k8s_set_free(&before);
	assert_int_equal(t->pub.n_warnings, 0);
}

/* Ingress name (class anysteer, host label.ZONE -> web) annotated kv,
 * added or replaced, and the set rebuilt. */
static void web_ingress(struct t *t, const char *name, const char *label,
			const char *const *kv)
{
	char host[128];

	snprintf(host, sizeof(host), "%s." ZONE, label);
	add_obj(t, K8S_O_INGRESS, annotate(ingress_json(name, "anysteer", host,
							"web", false), kv));
	build(t);
}

/* A bad intent annotation on an Ingress: the rest of the update applies
 * (its new host is answered), the last valid intent stays, and the
 * Ingress is told (InvalidIntent, for the leader's Event) until it is
 * fixed. First seen bad, the name is answered as if not annotated. On a
 * backend Service, as on any Service: the update is refused. */
static void test_intent_invalid_ingress(void **state)
{
	struct t *t = *state;
	static const char *const good[] = { OBJ, "locality", SPILL, "0.5", NULL };
	static const char *const over[] = { OBJ, "locality", SPILL, "1.5", NULL };
	static const char *const fixed[] = { OBJ, "locality", SPILL, "0.3", NULL };
	static const char *const word[] = { OBJ, "nearest", NULL };
	static const char *const spread[] = { OBJ, "locality", SPREAD, "zone",
					      NULL };
	static const char *const res[] = { OBJ, "resilience", NULL };
	const struct k8s_warning *w;

	ingress_class(t, "anysteer", K8S_INGRESS_CONTROLLER);
	add_store(t, K8S_SERVICES, service_json("shop", "web", NULL, res));
	slice(t, "shop", "web", 10, 1, 0);
	web_ingress(t, "front", "www", good);
	assert_intent(entry(t, "www"), "locality", 0.5, NULL);
	assert_null(warning(t, "InvalidIntent"));

	web_ingress(t, "front", "www2", over);
	assert_null(entry(t, "www"));
	assert_intent(entry(t, "www2"), "locality", 0.5, NULL);
	assert_int_equal(entry(t, "www2")->n_endpoints, 1);
	w = warning(t, "InvalidIntent");
	assert_non_null(w);
	assert_int_equal(w->okind, K8S_O_INGRESS);
	assert_string_equal(w->namespace_, "shop");
	assert_string_equal(w->name, "front");
	assert_string_equal(w->message, "anysteer.io/spill-over \"1.5\": must be "
			    "a number in 0..1; the last valid intent stays "
			    "(objective locality)");
	assert_int_equal(k8s_objs_malformed(t->objs[K8S_O_INGRESS]), 0);
	/* Still bad after another change: still the last valid one. */
	web_ingress(t, "front", "www2", spread);
	assert_intent(entry(t, "www2"), "locality", 0.5, NULL);
	assert_non_null(strstr(warning(t, "InvalidIntent")->message,
			       "anysteer.io/spread applies to objective resilience "
			       "only (objective is locality)"));
	web_ingress(t, "front", "www2", fixed);
	assert_intent(entry(t, "www2"), "locality", 0.3, NULL);
	assert_null(warning(t, "InvalidIntent"));

	/* New and bad: the backend's intent, and said so. */
	web_ingress(t, "fresh", "fresh", word);
	assert_intent(entry(t, "fresh"), "resilience", -1, NULL);
	w = warning(t, "InvalidIntent");
	assert_non_null(w);
	assert_string_equal(w->name, "fresh");
	assert_string_equal(w->message, "anysteer.io/objective \"nearest\": must "
			    "be balance, locality, resilience or latency; "
			    "answered as if not annotated (the backend "
			    "Service's intent, else balance)");

	/* A bad value on the backend Service: refused, its last state kept. */
	assert_int_equal(add_store_rc(t, K8S_SERVICES,
				      service_json("shop", "web", NULL, word)),
			 AS_EMALFORMED);
	build(t);
	assert_intent(entry(t, "fresh"), "resilience", -1, NULL);
}

/* On a route: the same, told once per route however many names it has. */
static void test_intent_invalid_route(void **state)
{
	struct t *t = *state;
	static const char *const good[] = { OBJ, "latency", SPILL, "0.7", NULL };
	static const char *const bad[] = { OBJ, "latency", SPREAD, "zone", NULL };
	json_t *r;

	canary_backends(t, NULL, NULL, 0);
	r = annotate(k8s_fixture("httproute-canary.json"), good);
	json_array_append_new(json_object_get(json_object_get(r, "spec"), "hostnames"),
			      json_string("pay.svc.example.net"));
	add_obj(t, K8S_O_HTTPROUTE, json_incref(r));
	build(t);
	assert_intent(entry(t, "checkout"), "latency", 0.7, NULL);
	assert_intent(entry(t, "pay"), "latency", 0.7, NULL);
	annotate(r, bad);
	add_obj(t, K8S_O_HTTPROUTE, r);
	build(t);
	assert_intent(entry(t, "checkout"), "latency", 0.7, NULL);
	assert_intent(entry(t, "pay"), "latency", 0.7, NULL);
	assert_int_equal(count_warnings(t, "InvalidIntent", "canary"), 1);
	assert_int_equal(warning(t, "InvalidIntent")->okind, K8S_O_HTTPROUTE);
	assert_non_null(strstr(warning(t, "InvalidIntent")->message,
			       "anysteer.io/spread applies to objective "
			       "resilience only (objective is latency)"));
}

/* One parser: a Service, an Ingress, an HTTPRoute and a GRPCRoute take
 * or refuse the same annotations alike, and read them alike. */
static void test_intent_one_parser(void **state)
{
	static const char *const cases[][7] = {
		{ NULL },
		{ OBJ, "balance", NULL },
		{ OBJ, "locality", SPILL, "0.25", NULL },
		{ OBJ, "latency", SPILL, " 1 ", NULL },
		{ OBJ, "latency", SPILL, "0", NULL },
		{ OBJ, "resilience", SPREAD, "zone", NULL },
		{ OBJ, "Locality", NULL },
		{ OBJ, "", NULL },
		{ OBJ, "locality", SPILL, "1.5", NULL },
		{ OBJ, "locality", SPILL, "nan", NULL },
		{ OBJ, "locality", SPILL, "-0", NULL },
		{ OBJ, "locality", SPILL, "0.5x", NULL },
		{ SPILL, "0.5", NULL },
		{ OBJ, "resilience", SPILL, "0.5", NULL },
		{ SPREAD, "zone", NULL },
		{ OBJ, "resilience", SPREAD, "rack", NULL },
		{ OBJ, "latency", SPREAD, "node", NULL },
	};
	static const char *const files[] = { "ingress-web.json",
					     "httproute-canary.json",
					     "grpcroute-orders.json" };
	static const int kinds[] = { K8S_O_INGRESS, K8S_O_HTTPROUTE,
				     K8S_O_GRPCROUTE };

	(void)state;
	for (size_t c = 0; c < AS_ARRAY_SIZE(cases); c++) {
		k8s_store_t *store;
		struct k8s_set set = { 0 };
		json_t *svc = service_json("shop", "web", "web.svc.example.net",
					   cases[c]);
		char *line = k8s_event("ADDED", svc);
		struct k8s_event_info ev;
		int rc;

		assert_int_equal(k8s_store_new(ZONE, "node-a", &store), AS_OK);
		rc = k8s_store_apply_event(store, K8S_SERVICES, line, strlen(line), &ev);
		free(line);
		json_decref(svc);
		assert_int_equal(k8s_store_build(store, &set), AS_OK);
		assert_int_equal(set.n_entries, rc == AS_OK);
		for (size_t k = 0; k < AS_ARRAY_SIZE(files); k++) {
			json_t *j = annotate(k8s_fixture(files[k]), cases[c]);
			char *text = k8s_dump(j);
			void *obj = NULL;
			const struct k8s_intent *in;

			assert_int_equal(k8s_obj_decode(kinds[k], text, strlen(text),
							&obj), AS_OK);
			in = kinds[k] == K8S_O_INGRESS ?
				&((struct k8s_ingress *)obj)->intent :
				&((struct k8s_route *)obj)->intent;
			if ((rc == AS_OK) != (in->error == NULL))
				fail_msg("case %zu: the Service says %d, %s says %s", c,
					 rc, files[k], in->error ? in->error : "valid");
			if (rc == AS_OK) {
				assert_true(in->spill_over == set.entries[0].spill_over);
				assert_true((in->objective == NULL) ==
					    (set.entries[0].objective == NULL));
				if (in->objective)
					assert_string_equal(in->objective,
							    set.entries[0].objective);
				assert_true((in->spread == NULL) ==
					    (set.entries[0].spread == NULL));
			} else {
				assert_null(in->objective);
				assert_null(in->spread);
				assert_true(in->spill_over < 0);
			}
			k8s_obj_free(kinds[k], obj);
			free(text);
			json_decref(j);
		}
		k8s_set_free(&set);
		k8s_store_free(store);
	}
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
		cmocka_unit_test_setup_teardown(test_ingress_intent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intent_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intent_invalid_ingress, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_intent_invalid_route, setup,
						teardown),
		cmocka_unit_test(test_intent_one_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
