/*
 * tests/unit/test_k8s_gateway.c - Gateway API evaluation: attachment,
 * hostname intersection, weighted backends, the conditions and reasons
 * the specification defines, and status patches that converge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "tests/unit/k8s_fixture.h"

#define ZONE "svc.example.net"
#define GW_GROUP "gateway.networking.k8s.io"

struct world {
	k8s_objs_t *t[K8S_N_OKINDS];
	const char *missing;	/* a Service that does not exist */
};

static bool svc_exists(const char *ns, const char *name, void *arg)
{
	const struct world *w = arg;

	return !strcmp(ns, "shop") && (!w->missing || strcmp(name, w->missing));
}

static void put(struct world *w, int okind, json_t *obj)
{
	struct k8s_event_info info;
	char *line = k8s_event("ADDED", obj);

	assert_int_equal(k8s_objs_apply_event(w->t[okind], line, strlen(line), &info),
			 AS_OK);
	free(line);
}

static void put_file(struct world *w, int okind, const char *file)
{
	json_t *j = k8s_fixture(file);

	put(w, okind, j);
	json_decref(j);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	for (int k = 0; k < K8S_N_OKINDS; k++)
		assert_int_equal(k8s_objs_new(k, &w->t[k]), AS_OK);
	put_file(w, K8S_O_GATEWAYCLASS, "gatewayclass-anysteer.json");
	put_file(w, K8S_O_GATEWAYCLASS, "gatewayclass-envoy.json");
	put_file(w, K8S_O_GATEWAY, "gateway-public.json");
	put_file(w, K8S_O_HTTPROUTE, "httproute-canary.json");
	put_file(w, K8S_O_HTTPROUTE, "httproute-api.json");
	put_file(w, K8S_O_GRPCROUTE, "grpcroute-orders.json");
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	for (int k = 0; k < K8S_N_OKINDS; k++)
		k8s_objs_free(w->t[k]);
	free(w);
	return 0;
}

static void evaluate(struct world *w, struct k8s_gw_result *r)
{
	struct k8s_gw_input in = {
		.zone = ZONE, .classes = w->t[K8S_O_GATEWAYCLASS],
		.gateways = w->t[K8S_O_GATEWAY], .httproutes = w->t[K8S_O_HTTPROUTE],
		.grpcroutes = w->t[K8S_O_GRPCROUTE], .service_exists = svc_exists,
		.arg = w,
	};

	assert_int_equal(k8s_gateway_evaluate(&in, r), AS_OK);
}

static const struct k8s_obj_status *status_of(const struct k8s_gw_result *r,
					      int okind, const char *name)
{
	for (size_t i = 0; i < r->n_status; i++)
		if (r->status[i].okind == okind && !strcmp(r->status[i].name, name))
			return &r->status[i];
	return NULL;
}

static const struct k8s_condition *cond(const struct k8s_condition *c, size_t n,
					const char *type)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].type, type))
			return &c[i];
	return NULL;
}

/* Asserts condition type has status and reason. */
static void want(const struct k8s_condition *c, size_t n, const char *type,
		 const char *status, const char *reason)
{
	const struct k8s_condition *x = cond(c, n, type);

	if (!x)
		fail_msg("no condition %s", type);
	assert_string_equal(x->status, status);
	assert_string_equal(x->reason, reason);
}

static const struct k8s_route_name *name_of(const struct k8s_gw_result *r,
					    const char *hostname)
{
	for (size_t i = 0; i < r->n_names; i++)
		if (!strcmp(r->names[i].hostname, hostname))
			return &r->names[i];
	return NULL;
}

static void test_intersect(void **state)
{
	(void)state;
	char out[256];

	assert_true(k8s_hostname_intersect("a.example.com", "", out, sizeof(out)));
	assert_string_equal(out, "a.example.com");
	assert_true(k8s_hostname_intersect("a.example.com", "*.example.com", out,
					   sizeof(out)));
	assert_string_equal(out, "a.example.com");
	/* A listener wildcard covers more than one label. */
	assert_true(k8s_hostname_intersect("a.b.example.com", "*.example.com", out,
					   sizeof(out)));
	/* ... but not the suffix itself. */
	assert_false(k8s_hostname_intersect("example.com", "*.example.com", NULL, 0));
	/* Route wildcard, listener exact: the listener's name. */
	assert_true(k8s_hostname_intersect("*.example.com", "shop.example.com", out,
					   sizeof(out)));
	assert_string_equal(out, "shop.example.com");
	/* Two wildcards: the narrower. */
	assert_true(k8s_hostname_intersect("*.example.com", "*.b.example.com", out,
					   sizeof(out)));
	assert_string_equal(out, "*.b.example.com");
	assert_true(k8s_hostname_intersect("*.b.example.com", "*.example.com", out,
					   sizeof(out)));
	assert_string_equal(out, "*.b.example.com");
	assert_false(k8s_hostname_intersect("a.example.org", "*.example.com", NULL, 0));
	assert_false(k8s_hostname_intersect("a.example.com", "b.example.com", NULL, 0));
	assert_true(k8s_hostname_intersect("A.Example.com", "a.example.COM", NULL, 0));
	/* "*.example.com" does not cover "ex.ample.com": labels, not text. */
	assert_false(k8s_hostname_intersect("ex.ample.com", "*.example.com", NULL, 0));
}

/* The fixtures: class and Gateway accepted (one listener of three
 * unsupported), the 90/10 canary, a route with one dropped rule, a
 * GRPCRoute with nothing DNS can honour. */
static void test_evaluate(void **state)
{
	struct world *w = *state;
	struct k8s_gw_result r;
	const struct k8s_obj_status *s;
	const struct k8s_route_name *n;

	evaluate(w, &r);
	s = status_of(&r, K8S_O_GATEWAYCLASS, "anysteer");
	assert_non_null(s);
	want(s->conds, s->n_conds, "Accepted", "True", "Accepted");
	assert_null(status_of(&r, K8S_O_GATEWAYCLASS, "envoy"));

	s = status_of(&r, K8S_O_GATEWAY, "public");
	assert_non_null(s);
	assert_int_equal(s->generation, 2);
	want(s->conds, s->n_conds, "Accepted", "True", "ListenersNotValid");
	want(s->conds, s->n_conds, "Programmed", "True", "Programmed");
	assert_int_equal(s->n_listeners, 3);
	assert_string_equal(s->listeners[0].name, "http");
	want(s->listeners[0].conds, s->listeners[0].n_conds, "Accepted", "True", "Accepted");
	assert_int_equal(s->listeners[0].n_supported_kinds, 2);
	/* canary and api attach to "http"; orders is not accepted. */
	assert_int_equal(s->listeners[0].attached_routes, 2);
	/* https-shop admits its own namespace only (infra). */
	assert_int_equal(s->listeners[1].attached_routes, 0);
	want(s->listeners[2].conds, s->listeners[2].n_conds, "Accepted", "False",
	     "UnsupportedProtocol");
	assert_int_equal(s->listeners[2].n_supported_kinds, 0);

	/* 90/10: the weights as written, both backends resolved. */
	n = name_of(&r, "checkout.svc.example.net.");
	assert_non_null(n);
	assert_string_equal(n->label, "checkout");
	assert_int_equal(n->route_kind, K8S_O_HTTPROUTE);
	assert_string_equal(n->route_name, "canary");
	assert_int_equal(n->n_backends, 2);
	assert_string_equal(n->backends[0].service, "checkout-v1");
	assert_int_equal(n->backends[0].weight, 90);
	assert_int_equal(n->backends[0].port, 8080);
	assert_string_equal(n->backends[1].service, "checkout-v2");
	assert_int_equal(n->backends[1].weight, 10);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	assert_non_null(s);
	/* Only our parent: the other Gateway is another controller's. */
	assert_int_equal(s->n_parents, 1);
	assert_string_equal(s->parents[0].ref.section, "http");
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "True", "Accepted");
	want(s->parents[0].conds, s->parents[0].n_conds, "ResolvedRefs", "True",
	     "ResolvedRefs");
	assert_null(cond(s->parents[0].conds, s->parents[0].n_conds, "PartiallyInvalid"));

	/* The header/path rule is dropped, the catch-all rule answers. */
	s = status_of(&r, K8S_O_HTTPROUTE, "api");
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "True", "Accepted");
	want(s->parents[0].conds, s->parents[0].n_conds, "PartiallyInvalid", "True",
	     "UnsupportedValue");
	const struct k8s_condition *pi = cond(s->parents[0].conds, s->parents[0].n_conds,
					      "PartiallyInvalid");

	assert_int_equal(strncmp(pi->message, "Dropped Rule", 12), 0);
	assert_non_null(strstr(pi->message, "header match"));
	assert_non_null(strstr(pi->message, "path match /v2 (PathPrefix)"));
	n = name_of(&r, "api.svc.example.net.");
	assert_non_null(n);
	assert_int_equal(n->n_backends, 1);
	assert_string_equal(n->backends[0].service, "api");
	assert_int_equal(n->backends[0].weight, 1);

	/* Nothing in the GRPCRoute is DNS-shaped: not accepted, no name. */
	s = status_of(&r, K8S_O_GRPCROUTE, "orders");
	assert_non_null(s);
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "False",
	     "UnsupportedValue");
	assert_non_null(strstr(cond(s->parents[0].conds, s->parents[0].n_conds,
				    "Accepted")->message, "gRPC method match"));
	assert_null(name_of(&r, "orders.svc.example.net."));
	assert_int_equal(r.n_names, 2);
	k8s_gw_result_free(&r);
}

/* One parentRef per failure the specification names. */
static void test_route_reasons(void **state)
{
	struct world *w = *state;
	struct k8s_gw_result r;
	const struct k8s_obj_status *s;
	json_t *j;

	/* A missing Service: BackendNotFound, its share gets no answers. */
	w->missing = "checkout-v2";
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "True", "Accepted");
	want(s->parents[0].conds, s->parents[0].n_conds, "ResolvedRefs", "False",
	     "BackendNotFound");
	assert_int_equal(name_of(&r, "checkout.svc.example.net.")->n_backends, 1);
	k8s_gw_result_free(&r);
	w->missing = NULL;

	/* Not a Service: InvalidKind. Another namespace: RefNotPermitted. */
	j = k8s_fixture("httproute-canary.json");
	json_t *b = json_array_get(json_object_get(json_array_get(json_object_get(
		json_object_get(j, "spec"), "rules"), 0), "backendRefs"), 1);
	json_object_set_new(b, "kind", json_string("ConfigMap"));
	put(w, K8S_O_HTTPROUTE, j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	want(s->parents[0].conds, s->parents[0].n_conds, "ResolvedRefs", "False",
	     "InvalidKind");
	k8s_gw_result_free(&r);
	json_object_set_new(b, "kind", json_string("Service"));
	json_object_set_new(b, "namespace", json_string("other"));
	put(w, K8S_O_HTTPROUTE, j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	want(s->parents[0].conds, s->parents[0].n_conds, "ResolvedRefs", "False",
	     "RefNotPermitted");
	k8s_gw_result_free(&r);
	json_object_del(b, "namespace");

	/* The HTTPS listener admits routes of namespace infra only. */
	json_t *pr = json_array_get(json_object_get(json_object_get(j, "spec"),
						    "parentRefs"), 0);
	json_object_set_new(pr, "sectionName", json_string("https-shop"));
	put(w, K8S_O_HTTPROUTE, j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "False",
	     "NotAllowedByListeners");
	assert_null(name_of(&r, "checkout.svc.example.net."));
	k8s_gw_result_free(&r);

	/* A listener that does not exist. */
	json_object_set_new(pr, "sectionName", json_string("nope"));
	put(w, K8S_O_HTTPROUTE, j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "False",
	     "NoMatchingParent");
	k8s_gw_result_free(&r);

	/* Hostnames outside the listener's "*.svc.example.net". */
	json_object_set_new(pr, "sectionName", json_string("http"));
	json_object_set_new(json_object_get(j, "spec"), "hostnames",
			    json_pack("[s]", "www.example.org"));
	put(w, K8S_O_HTTPROUTE, j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	want(s->parents[0].conds, s->parents[0].n_conds, "Accepted", "False",
	     "NoMatchingListenerHostname");
	k8s_gw_result_free(&r);

	/* A route without hostnames takes the listener's: the wildcard. */
	json_object_del(json_object_get(j, "spec"), "hostnames");
	put(w, K8S_O_HTTPROUTE, j);
	evaluate(w, &r);
	const struct k8s_route_name *n = name_of(&r, "*.svc.example.net.");

	assert_non_null(n);
	assert_true(n->wildcard);
	assert_string_equal(n->route_name, "canary");
	k8s_gw_result_free(&r);
	json_decref(j);
}

/* Two routes, one name: the older wins everywhere, the other is told. */
static void test_conflict(void **state)
{
	struct world *w = *state;
	struct k8s_gw_result r;
	json_t *j = k8s_fixture("httproute-canary.json");

	k8s_set(j, "metadata", "name", json_string("aaa-newer"));
	k8s_set(j, "metadata", "creationTimestamp", json_string("2026-11-20T00:00:00Z"));
	put(w, K8S_O_HTTPROUTE, j);
	json_decref(j);
	evaluate(w, &r);
	assert_string_equal(name_of(&r, "checkout.svc.example.net.")->route_name,
			    "canary");
	bool told = false;

	for (size_t i = 0; i < r.n_warnings; i++)
		told |= !strcmp(r.warnings[i].reason, "HostnameConflict") &&
			strstr(r.warnings[i].message, "aaa-newer") != NULL;
	assert_true(told);
	k8s_gw_result_free(&r);
}

/* Writes the patch's status into the object and decodes it again, as
 * the watch would bring it back. */
static void apply_patch(struct world *w, int okind, const char *file,
			const char *patch)
{
	json_t *j = k8s_fixture(file), *p = json_loads(patch, 0, NULL);

	assert_non_null(p);
	json_object_set(j, "status", json_object_get(p, "status"));
	put(w, okind, j);
	json_decref(p);
	json_decref(j);
}

/* Patches: the first write says everything; written back, the same
 * evaluation writes nothing; lastTransitionTime moves only on a change;
 * another controller's parent entry survives. */
static void test_status_converges(void **state)
{
	struct world *w = *state;
	struct k8s_gw_result r;
	const struct k8s_gateway *g;
	const struct k8s_route *rt;
	char *patch;

	evaluate(w, &r);
	g = k8s_objs_get(w->t[K8S_O_GATEWAY], "infra", "public");
	assert_int_equal(k8s_gateway_status_patch(g, status_of(&r, K8S_O_GATEWAY, "public"),
						  "2026-12-06T17:00:00Z", &patch), AS_OK);
	assert_non_null(patch);
	assert_non_null(strstr(patch, "\"resourceVersion\":\"3101\""));
	assert_non_null(strstr(patch, "\"attachedRoutes\":2"));
	apply_patch(w, K8S_O_GATEWAY, "gateway-public.json", patch);
	free(patch);
	g = k8s_objs_get(w->t[K8S_O_GATEWAY], "infra", "public");
	assert_int_equal(k8s_gateway_status_patch(g, status_of(&r, K8S_O_GATEWAY, "public"),
						  "2026-12-06T17:00:09Z", &patch), AS_OK);
	assert_null(patch);

	const struct k8s_gateway_class *gc =
		k8s_objs_get(w->t[K8S_O_GATEWAYCLASS], "", "anysteer");

	assert_int_equal(k8s_gateway_class_status_patch(
		gc, status_of(&r, K8S_O_GATEWAYCLASS, "anysteer"),
		"2026-12-06T17:00:00Z", &patch), AS_OK);
	assert_non_null(strstr(patch, "\"status\":\"True\""));
	free(patch);

	rt = k8s_objs_get(w->t[K8S_O_HTTPROUTE], "shop", "canary");
	assert_int_equal(k8s_route_status_patch(rt, status_of(&r, K8S_O_HTTPROUTE, "canary"),
						"2026-12-06T17:00:00Z", &patch), AS_OK);
	assert_non_null(patch);
	assert_non_null(strstr(patch, "example.com/other"));
	assert_non_null(strstr(patch, K8S_GATEWAY_CONTROLLER));
	assert_non_null(strstr(patch, "\"observedGeneration\":4"));
	apply_patch(w, K8S_O_HTTPROUTE, "httproute-canary.json", patch);
	free(patch);
	k8s_gw_result_free(&r);

	/* Same state: nothing to write. */
	evaluate(w, &r);
	rt = k8s_objs_get(w->t[K8S_O_HTTPROUTE], "shop", "canary");
	assert_int_equal(k8s_route_status_patch(rt, status_of(&r, K8S_O_HTTPROUTE, "canary"),
						"2026-12-06T17:00:05Z", &patch), AS_OK);
	assert_null(patch);
	k8s_gw_result_free(&r);

	/* checkout-v2 disappears: ResolvedRefs flips (new time), Accepted
	 * keeps its time. */
	w->missing = "checkout-v2";
	evaluate(w, &r);
	assert_int_equal(k8s_route_status_patch(rt, status_of(&r, K8S_O_HTTPROUTE, "canary"),
						"2026-12-06T17:01:00Z", &patch), AS_OK);
	assert_non_null(patch);
	json_t *p = json_loads(patch, 0, NULL), *parents;

	parents = json_object_get(json_object_get(p, "status"), "parents");
	assert_int_equal(json_array_size(parents), 2);
	json_t *ours = json_array_get(parents, 1), *cs = json_object_get(ours, "conditions");
	int checked = 0;

	for (size_t i = 0; i < json_array_size(cs); i++) {
		json_t *c = json_array_get(cs, i);
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *ltt = json_string_value(json_object_get(c, "lastTransitionTime"));

		if (!strcmp(type, "Accepted")) {
			assert_string_equal(ltt, "2026-12-06T17:00:00Z");
			checked++;
		} else if (!strcmp(type, "ResolvedRefs")) {
			assert_string_equal(ltt, "2026-12-06T17:01:00Z");
			checked++;
		}
	}
	assert_int_equal(checked, 2);
	json_decref(p);
	free(patch);
	k8s_gw_result_free(&r);
	w->missing = NULL;

	/* The route leaves our Gateway: our entry goes, the other
	 * controller's stays. */
	const struct k8s_obj_status *s;
	json_t *j = k8s_fixture("httproute-canary.json");

	rt = k8s_objs_get(w->t[K8S_O_HTTPROUTE], "shop", "canary");
	assert_int_equal(rt->n_status, 2);
	json_array_remove(json_object_get(json_object_get(j, "spec"), "parentRefs"), 0);
	/* The status as the patch above left it: the other's and ours. */
	json_t *cur_status = json_pack(
		"{s:[{s:{s:s, s:s, s:s, s:s}, s:s, s:[]}, "
		"{s:{s:s, s:s, s:s, s:s, s:s}, s:s, s:[]}]}",
		"parents", "parentRef", "group", GW_GROUP, "kind", "Gateway",
		"namespace", "infra", "name", "other-controller", "controllerName",
		"example.com/other", "conditions", "parentRef", "group", GW_GROUP,
		"kind", "Gateway", "namespace", "infra", "name", "public",
		"sectionName", "http", "controllerName", K8S_GATEWAY_CONTROLLER,
		"conditions");

	assert_non_null(cur_status);
	json_object_set_new(j, "status", cur_status);
	put(w, K8S_O_HTTPROUTE, j);
	json_decref(j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_HTTPROUTE, "canary");
	assert_non_null(s);
	assert_int_equal(s->n_parents, 0);
	rt = k8s_objs_get(w->t[K8S_O_HTTPROUTE], "shop", "canary");
	assert_int_equal(k8s_route_status_patch(rt, s, "2026-12-06T17:02:00Z", &patch), AS_OK);
	assert_non_null(patch);
	assert_non_null(strstr(patch, "example.com/other"));
	assert_null(strstr(patch, K8S_GATEWAY_CONTROLLER));
	free(patch);
	k8s_gw_result_free(&r);
}

/* A Gateway of another class is none of our business; spec.addresses
 * cannot be honoured. */
static void test_gateway_other_class_and_addresses(void **state)
{
	struct world *w = *state;
	struct k8s_gw_result r;
	const struct k8s_obj_status *s;
	json_t *j = k8s_fixture("gateway-public.json");

	k8s_set(j, "spec", "gatewayClassName", json_string("envoy"));
	put(w, K8S_O_GATEWAY, j);
	evaluate(w, &r);
	assert_null(status_of(&r, K8S_O_GATEWAY, "public"));
	assert_null(status_of(&r, K8S_O_HTTPROUTE, "canary"));
	assert_int_equal(r.n_names, 0);
	k8s_gw_result_free(&r);

	k8s_set(j, "spec", "gatewayClassName", json_string("anysteer"));
	k8s_set(j, "spec", "addresses",
		json_pack("[{s:s, s:s}]", "type", "IPAddress", "value", "fd00::10"));
	put(w, K8S_O_GATEWAY, j);
	evaluate(w, &r);
	s = status_of(&r, K8S_O_GATEWAY, "public");
	want(s->conds, s->n_conds, "Accepted", "False", "UnsupportedAddress");
	k8s_gw_result_free(&r);
	json_decref(j);
}

/* A route's intent annotations: decoded as a Service's (GRPCRoute
 * here); a bad value leaves the route attached and its names given
 * (the evaluation does not read the intent), with the last valid intent
 * and the reason on the record. */
static void test_route_intent(void **state)
{
	struct world *w = *state;
	struct k8s_gw_result r = { 0 };
	const struct k8s_route *rt;
	json_t *j = k8s_fixture("grpcroute-orders.json");

	put_file(w, K8S_O_GATEWAYCLASS, "gatewayclass-anysteer.json");
	put_file(w, K8S_O_GATEWAY, "gateway-public.json");
	/* No method match: a rule DNS can honour. */
	json_object_del(json_array_get(json_object_get(json_object_get(j, "spec"),
						       "rules"), 0), "matches");
	k8s_set(j, "metadata.annotations", "anysteer.io/objective",
		json_string("resilience"));
	k8s_set(j, "metadata.annotations", "anysteer.io/spread",
		json_string("zone"));
	put(w, K8S_O_GRPCROUTE, j);
	rt = k8s_objs_get(w->t[K8S_O_GRPCROUTE], "shop", "orders");
	assert_string_equal(rt->intent.objective, "resilience");
	assert_string_equal(rt->intent.spread, "zone");
	assert_null(rt->intent.error);

	k8s_set(j, "metadata.annotations", "anysteer.io/spread",
		json_string("rack"));
	put(w, K8S_O_GRPCROUTE, j);
	rt = k8s_objs_get(w->t[K8S_O_GRPCROUTE], "shop", "orders");
	assert_string_equal(rt->intent.spread, "zone");
	assert_string_equal(rt->intent.error, "anysteer.io/spread \"rack\": "
			    "must be node or zone");
	evaluate(w, &r);
	assert_non_null(name_of(&r, "orders.svc.example.net."));
	k8s_gw_result_free(&r);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intersect),
		cmocka_unit_test_setup_teardown(test_evaluate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_converges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_intent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gateway_other_class_and_addresses,
						setup, teardown),
	};

	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
