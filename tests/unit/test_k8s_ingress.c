/*
 * tests/unit/test_k8s_ingress.c - IngressClass/Ingress decoding, class
 * selection, the names an Ingress asks for, the status patch and the
 * Event JSON, over fixtures shaped like real API-server output.
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

static void *decode_json(int okind, json_t *j)
{
	char *text = k8s_dump(j);
	void *obj = NULL;

	assert_int_equal(k8s_obj_decode(okind, text, strlen(text), &obj), AS_OK);
	assert_non_null(obj);
	free(text);
	return obj;
}

static void *decode(int okind, const char *file)
{
	json_t *j = k8s_fixture(file);
	void *obj = decode_json(okind, j);

	json_decref(j);
	return obj;
}

static k8s_objs_t *table_from_list(int okind, const char *file, const char *want_rv)
{
	k8s_objs_t *t;
	json_t *j = k8s_fixture(file);
	char *text = k8s_dump(j), rv[64], cont[64];

	assert_int_equal(k8s_objs_new(okind, &t), AS_OK);
	k8s_objs_relist_begin(t);
	assert_int_equal(k8s_objs_apply_list(t, text, strlen(text), rv, sizeof(rv),
					     cont, sizeof(cont)), AS_OK);
	k8s_objs_relist_end(t);
	assert_string_equal(rv, want_rv);
	free(text);
	json_decref(j);
	return t;
}

static int apply_event(k8s_objs_t *t, const char *type, json_t *obj,
		       struct k8s_event_info *info)
{
	char *line = k8s_event(type, obj);
	int rc = k8s_objs_apply_event(t, line, strlen(line), info);

	free(line);
	return rc;
}

/* Lists and watch events: sorted table, DELETED removes, a malformed
 * object is counted and the previous record kept, the wrong kind is
 * refused. */
static void test_list_and_events(void **state)
{
	(void)state;
	k8s_objs_t *t = table_from_list(K8S_O_INGRESS, "ingresslist.json", "2200");
	struct k8s_event_info info;
	const struct k8s_ingress *g;
	json_t *j;

	assert_int_equal(k8s_objs_count(t), 3);
	g = k8s_objs_at(t, 0);
	assert_string_equal(g->md.name, "docs");
	g = k8s_objs_get(t, "shop", "web");
	assert_non_null(g);
	assert_string_equal(g->class_name, "anysteer");
	assert_int_equal(g->md.generation, 3);
	assert_int_equal(g->n_rules, 5);
	assert_int_equal(g->n_tls, 1);
	assert_int_equal(g->rules[0].n_paths, 2);
	assert_string_equal(g->rules[0].paths[1].backend.port_name, "http");
	assert_int_equal(g->rules[0].paths[0].backend.port, 8080);

	/* A rule whose pathType is not one of the three: malformed, the
	 * old record stays. */
	j = k8s_fixture("ingress-web.json");
	json_t *p0 = json_array_get(json_object_get(json_object_get(json_array_get(
		json_object_get(json_object_get(j, "spec"), "rules"), 0), "http"),
		"paths"), 0);
	json_object_set_new(p0, "pathType", json_string("Regex"));
	assert_int_equal(apply_event(t, "MODIFIED", j, &info), AS_EMALFORMED);
	assert_int_equal(k8s_objs_malformed(t), 1);
	g = k8s_objs_get(t, "shop", "web");
	assert_non_null(g);
	assert_int_equal(g->rules[0].n_paths, 2);
	json_decref(j);

	/* An object of another kind on this watch is refused. */
	j = k8s_fixture("ingressclass-nginx.json");
	assert_int_equal(apply_event(t, "ADDED", j, &info), AS_EMALFORMED);
	json_decref(j);

	j = k8s_fixture("ingress-web.json");
	assert_int_equal(apply_event(t, "DELETED", j, &info), AS_OK);
	assert_true(info.changed);
	assert_int_equal(info.type, K8S_EV_DELETED);
	assert_string_equal(info.rv, "2101");
	assert_null(k8s_objs_get(t, "shop", "web"));
	assert_int_equal(k8s_objs_count(t), 2);
	json_decref(j);

	/* Relist without "legacy": removed at the end. */
	j = json_pack("{s:s, s:{s:s}, s:[]}", "kind", "IngressList", "metadata",
		      "resourceVersion", "2300", "items");
	json_array_append_new(json_object_get(j, "items"), k8s_fixture("ingress-docs.json"));
	char *text = k8s_dump(j), rv[64];

	k8s_objs_relist_begin(t);
	assert_int_equal(k8s_objs_apply_list(t, text, strlen(text), rv, sizeof(rv),
					     NULL, 0), AS_OK);
	assert_true(k8s_objs_relist_end(t));
	assert_int_equal(k8s_objs_count(t), 1);
	assert_null(k8s_objs_get(t, "shop", "legacy"));
	free(text);
	json_decref(j);
	k8s_objs_free(t);
}

/* The intent annotations: decoded with the Service's checks; a bad
 * value is no malformed object (the rest of the update applies) but the
 * table keeps the last valid intent, across updates and a relist, and
 * the record says why. */
static void test_intent(void **state)
{
	(void)state;
	k8s_objs_t *t = table_from_list(K8S_O_INGRESS, "ingresslist.json", "2200");
	struct k8s_event_info info;
	const struct k8s_ingress *g;
	json_t *j = k8s_fixture("ingress-web.json");

	g = k8s_objs_get(t, "shop", "web");
	assert_null(g->intent.objective);
	assert_true(g->intent.spill_over < 0);
	assert_null(g->intent.error);
	k8s_set(j, "metadata.annotations", "anysteer.io/objective",
		json_string("locality"));
	k8s_set(j, "metadata.annotations", "anysteer.io/spill-over",
		json_string("0.9"));
	assert_int_equal(apply_event(t, "MODIFIED", j, &info), AS_OK);
	g = k8s_objs_get(t, "shop", "web");
	assert_string_equal(g->intent.objective, "locality");
	assert_true(g->intent.spill_over == 0.9);

	/* Bad, with a new rule: the rule applies, the intent stays. */
	k8s_set(j, "metadata.annotations", "anysteer.io/spill-over",
		json_integer(1));
	json_array_append_new(json_object_get(json_object_get(j, "spec"), "rules"),
			      json_pack("{s:s}", "host", "new.svc.example.net"));
	assert_int_equal(apply_event(t, "MODIFIED", j, &info), AS_OK);
	assert_true(info.changed);
	g = k8s_objs_get(t, "shop", "web");
	assert_int_equal(g->n_rules, 6);
	assert_string_equal(g->intent.objective, "locality");
	assert_true(g->intent.spill_over == 0.9);
	assert_string_equal(g->intent.error, "anysteer.io/spill-over: not a "
			    "string (must be a number in 0..1)");
	assert_int_equal(k8s_objs_malformed(t), 0);

	/* A relist of the bad object keeps the last valid intent too. */
	json_t *l = json_pack("{s:s, s:{s:s}, s:[O]}", "kind", "IngressList",
			      "metadata", "resourceVersion", "2300", "items", j);
	char *text = k8s_dump(l), rv[64];

	k8s_objs_relist_begin(t);
	assert_int_equal(k8s_objs_apply_list(t, text, strlen(text), rv, sizeof(rv),
					     NULL, 0), AS_OK);
	k8s_objs_relist_end(t);
	g = k8s_objs_get(t, "shop", "web");
	assert_string_equal(g->intent.objective, "locality");
	assert_non_null(g->intent.error);
	free(text);
	json_decref(l);

	/* Annotations removed: no intent, no error. */
	json_object_del(json_object_get(j, "metadata"), "annotations");
	assert_int_equal(apply_event(t, "MODIFIED", j, &info), AS_OK);
	g = k8s_objs_get(t, "shop", "web");
	assert_null(g->intent.objective);
	assert_true(g->intent.spill_over < 0);
	assert_null(g->intent.error);
	json_decref(j);
	k8s_objs_free(t);
}

/* Class selection: the field, the default class, the deprecated
 * annotation; another controller's class or default is not ours. */
static void test_class_selection(void **state)
{
	(void)state;
	k8s_objs_t *classes = table_from_list(K8S_O_INGRESSCLASS,
					      "ingressclasslist.json", "2048");
	struct k8s_ingress *web = decode(K8S_O_INGRESS, "ingress-web.json");
	struct k8s_ingress *legacy = decode(K8S_O_INGRESS, "ingress-legacy.json");
	const struct k8s_ingress_class *c = k8s_objs_get(classes, "", "anysteer");
	struct k8s_event_info info;
	json_t *j;

	assert_non_null(c);
	assert_string_equal(c->controller, K8S_INGRESS_CONTROLLER);
	assert_false(c->is_default);
	assert_true(((const struct k8s_ingress_class *)
		     k8s_objs_get(classes, "", "nginx"))->is_default);

	assert_int_equal(k8s_ingress_owner(web, classes, NULL), K8S_ING_BY_CLASS);
	assert_int_equal(k8s_ingress_owner(legacy, classes, NULL),
			 K8S_ING_BY_ANNOTATION);

	/* Another controller's class by name. */
	free(web->class_name);
	web->class_name = strdup("nginx");
	assert_int_equal(k8s_ingress_owner(web, classes, NULL), K8S_ING_NOT_OURS);
	/* A class nobody has created. */
	free(web->class_name);
	web->class_name = strdup("missing");
	assert_int_equal(k8s_ingress_owner(web, classes, NULL), K8S_ING_NOT_OURS);
	/* No class: nginx is the default, so not ours. */
	free(web->class_name);
	web->class_name = NULL;
	assert_int_equal(k8s_ingress_owner(web, classes, NULL), K8S_ING_NOT_OURS);

	/* Make anysteer the default too: two defaults, nobody's. */
	j = k8s_fixture("ingressclass-anysteer.json");
	k8s_set(j, "metadata.annotations", K8S_ANN_DEFAULT_CLASS, json_string("true"));
	char *line = k8s_event("MODIFIED", j);

	assert_int_equal(k8s_objs_apply_event(classes, line, strlen(line), &info), AS_OK);
	free(line);
	assert_int_equal(k8s_ingress_owner(web, classes, NULL), K8S_ING_NOT_OURS);
	/* ... and nginx no longer default: the class-less Ingress is ours. */
	json_decref(j);
	j = k8s_fixture("ingressclass-nginx.json");
	k8s_set(j, "metadata.annotations", K8S_ANN_DEFAULT_CLASS, json_string("false"));
	line = k8s_event("MODIFIED", j);
	assert_int_equal(k8s_objs_apply_event(classes, line, strlen(line), &info), AS_OK);
	free(line);
	json_decref(j);
	assert_int_equal(k8s_ingress_owner(web, classes, NULL), K8S_ING_BY_DEFAULT);

	/* The annotation decides alone: "nginx" names nginx's class. */
	free(legacy->class_annotation);
	legacy->class_annotation = strdup("nginx");
	assert_int_equal(k8s_ingress_owner(legacy, classes, NULL), K8S_ING_NOT_OURS);
	/* A value with no IngressClass: ours only if it is our name. */
	free(legacy->class_annotation);
	legacy->class_annotation = strdup("internal");
	assert_int_equal(k8s_ingress_owner(legacy, classes, NULL), K8S_ING_NOT_OURS);
	assert_int_equal(k8s_ingress_owner(legacy, classes, "internal"),
			 K8S_ING_BY_ANNOTATION);
	/* Without any class objects at all, "anysteer" still works. */
	free(legacy->class_annotation);
	legacy->class_annotation = strdup("anysteer");
	assert_int_equal(k8s_ingress_owner(legacy, NULL, NULL), K8S_ING_BY_ANNOTATION);
	assert_int_equal(k8s_ingress_owner(web, NULL, NULL), K8S_ING_NOT_OURS);

	k8s_obj_free(K8S_O_INGRESS, web);
	k8s_obj_free(K8S_O_INGRESS, legacy);
	k8s_objs_free(classes);
}

static const struct k8s_warning *warning(const struct k8s_ingress_result *r,
					 const char *reason, const char *needle)
{
	for (size_t i = 0; i < r->n_warnings; i++)
		if (!strcmp(r->warnings[i].reason, reason) &&
		    (!needle || strstr(r->warnings[i].message, needle)))
			return &r->warnings[i];
	return NULL;
}

/* Path split -> the "/" backend and a warning; wildcard; out of zone;
 * a rule without host. */
static void test_names(void **state)
{
	(void)state;
	struct k8s_ingress *web = decode(K8S_O_INGRESS, "ingress-web.json");
	struct k8s_ingress_result r;
	const struct k8s_warning *w;

	assert_int_equal(k8s_ingress_names(web, ZONE ".", &r), AS_OK);
	assert_int_equal(r.n_hosts, 3);
	/* Sorted: "*" sorts before letters. */
	assert_string_equal(r.hosts[0].hostname, "*.svc.example.net.");
	assert_true(r.hosts[0].wildcard);
	assert_string_equal(r.hosts[0].label, "*");
	assert_string_equal(r.hosts[0].service, "catchall");
	assert_string_equal(r.hosts[1].hostname, "shop.svc.example.net.");
	assert_false(r.hosts[1].wildcard);
	assert_string_equal(r.hosts[1].service, "web");
	assert_int_equal(r.hosts[1].port, 80);
	/* web: "/api" comes first but "/" decides. */
	assert_string_equal(r.hosts[2].hostname, "web.svc.example.net.");
	assert_string_equal(r.hosts[2].label, "web");
	assert_string_equal(r.hosts[2].service, "web");
	assert_string_equal(r.hosts[2].port_name, "http");
	assert_int_equal(r.hosts[2].port, 0);

	w = warning(&r, "PathRoutingUnsupported", "web.svc.example.net");
	assert_non_null(w);
	assert_non_null(strstr(w->message, "/api (Prefix) -> api:8080"));
	assert_non_null(strstr(w->message, "Service web:http"));
	/* Only the split host is reported. */
	assert_null(warning(&r, "PathRoutingUnsupported", "shop.svc"));
	assert_non_null(warning(&r, "HostOutsideZone", "www.example.org"));
	assert_non_null(warning(&r, "NoHostIgnored", "1 rule"));
	assert_int_equal(r.n_warnings, 3);
	k8s_ingress_result_free(&r);

	/* Another zone: everything is outside. */
	assert_int_equal(k8s_ingress_names(web, "other.example.net", &r), AS_OK);
	assert_int_equal(r.n_hosts, 0);
	assert_non_null(warning(&r, "HostOutsideZone", "web.svc.example.net"));
	k8s_ingress_result_free(&r);
	/* A name two labels below the zone is not answered either. */
	free(web->rules[1].host);
	web->rules[1].host = strdup("a.shop.svc.example.net");
	assert_int_equal(k8s_ingress_names(web, ZONE, &r), AS_OK);
	assert_int_equal(r.n_hosts, 2);
	assert_non_null(warning(&r, "HostOutsideZone", "more than one label"));
	k8s_ingress_result_free(&r);
	k8s_obj_free(K8S_O_INGRESS, web);
}

/* No "/" path: the first path's backend, saying so; a host without
 * paths takes the defaultBackend; same host spelled twice is one name. */
static void test_names_no_root(void **state)
{
	(void)state;
	struct k8s_ingress *docs = decode(K8S_O_INGRESS, "ingress-docs.json");
	struct k8s_ingress_result r;
	const struct k8s_warning *w;

	assert_int_equal(k8s_ingress_names(docs, ZONE, &r), AS_OK);
	assert_int_equal(r.n_hosts, 2);
	assert_string_equal(r.hosts[0].hostname, "docs.svc.example.net.");
	assert_string_equal(r.hosts[0].service, "docs-v1");
	assert_string_equal(r.hosts[1].hostname, "help.svc.example.net.");
	assert_string_equal(r.hosts[1].service, "docs");
	w = warning(&r, "PathRoutingUnsupported", "docs.svc.example.net");
	assert_non_null(w);
	assert_non_null(strstr(w->message, "no \"/\" path"));
	assert_non_null(strstr(w->message, "/v1 (Prefix) -> docs-v1:80 (same Service)"));
	assert_non_null(strstr(w->message, "/v2 (Exact) -> docs-v2:80"));
	assert_int_equal(r.n_warnings, 1);
	k8s_ingress_result_free(&r);

	/* Without a defaultBackend the path-less host has no backend. */
	docs->has_default_backend = false;
	assert_int_equal(k8s_ingress_names(docs, ZONE, &r), AS_OK);
	assert_int_equal(r.n_hosts, 1);
	assert_non_null(warning(&r, "NoBackend", "help.svc.example.net"));
	k8s_ingress_result_free(&r);

	/* "HELP.svc.example.net." and "help.svc.example.net": one name. */
	free(docs->rules[0].host);
	docs->rules[0].host = strdup("HELP.svc.example.net.");
	docs->has_default_backend = true;
	assert_int_equal(k8s_ingress_names(docs, ZONE, &r), AS_OK);
	assert_int_equal(r.n_hosts, 1);
	assert_string_equal(r.hosts[0].hostname, "help.svc.example.net.");
	assert_string_equal(r.hosts[0].service, "docs-v1");
	k8s_ingress_result_free(&r);
	k8s_obj_free(K8S_O_INGRESS, docs);
}

/* status.loadBalancer: one hostname per answered name (no wildcard), the
 * resourceVersion precondition, and no patch when it already says so. */
static void test_status_patch(void **state)
{
	(void)state;
	struct k8s_ingress *web = decode(K8S_O_INGRESS, "ingress-web.json");
	struct k8s_ingress *docs = decode(K8S_O_INGRESS, "ingress-docs.json");
	const char *names[] = { "*.svc.example.net.", "shop.svc.example.net.",
				"web.svc.example.net." };
	const char *docs_names[] = { "docs.svc.example.net.", "help.svc.example.net." };
	char *patch;
	json_t *j, *ing;

	assert_int_equal(k8s_ingress_status_patch(web, names, 3, &patch), AS_OK);
	assert_non_null(patch);
	j = json_loads(patch, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		j, "metadata"), "resourceVersion")), "2101");
	ing = json_object_get(json_object_get(json_object_get(j, "status"),
					      "loadBalancer"), "ingress");
	assert_int_equal(json_array_size(ing), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ing, 0),
							      "hostname")),
			    "shop.svc.example.net");
	assert_null(json_object_get(json_array_get(ing, 0), "ip"));
	json_decref(j);
	free(patch);

	assert_int_equal(k8s_ingress_status_patch(docs, docs_names, 2, &patch), AS_OK);
	assert_null(patch);
	/* One name gone: a patch that lists the other only. */
	assert_int_equal(k8s_ingress_status_patch(docs, docs_names, 1, &patch), AS_OK);
	assert_non_null(patch);
	assert_null(strstr(patch, "help"));
	free(patch);
	/* Nothing answered: an empty list, not a stale one. */
	assert_int_equal(k8s_ingress_status_patch(docs, NULL, 0, &patch), AS_OK);
	assert_non_null(strstr(patch, "\"ingress\":[]"));
	free(patch);
	k8s_obj_free(K8S_O_INGRESS, web);
	k8s_obj_free(K8S_O_INGRESS, docs);
}

/* The Ingress left our class: only our entries ({"hostname": h} for the
 * zone's names) go; an entry another controller wrote (an ip, a port
 * list, a hostname outside) stays as it was; nothing of ours: no patch. */
static void test_status_release_patch(void **state)
{
	(void)state;
	json_t *j = k8s_fixture("ingress-docs.json"), *ing, *p;
	const char *ours[] = { "docs.svc.example.net.", "help.svc.example.net." };
	struct k8s_ingress *docs;
	char *patch;

	docs = decode_json(K8S_O_INGRESS, j);
	assert_int_equal(k8s_ingress_status_release_patch(docs, ours, 2, &patch), AS_OK);
	assert_non_null(patch);
	p = json_loads(patch, 0, NULL);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		p, "metadata"), "resourceVersion")), docs->md.resource_version);
	/* Nothing left: null, which removes the list. */
	ing = json_object_get(json_object_get(json_object_get(p, "status"),
					      "loadBalancer"), "ingress");
	assert_true(json_is_null(ing));
	json_decref(p);
	free(patch);
	k8s_obj_free(K8S_O_INGRESS, docs);

	/* Another controller's entries around ours. */
	ing = json_object_get(json_object_get(json_object_get(j, "status"),
					      "loadBalancer"), "ingress");
	json_array_insert_new(ing, 0, json_pack("{s:s, s:[{s:i, s:s}]}", "ip",
						"fd00:99::1", "ports", "port", 443,
						"protocol", "TCP"));
	json_array_append_new(ing, json_pack("{s:s}", "hostname", "lb.example.org"));
	json_array_append_new(ing, json_pack("{s:s, s:s}", "hostname",
					     "docs.svc.example.net", "ip", "fd00:99::2"));
	docs = decode_json(K8S_O_INGRESS, j);
	assert_int_equal(k8s_ingress_status_release_patch(docs, ours, 1, &patch), AS_OK);
	assert_non_null(patch);
	p = json_loads(patch, 0, NULL);
	ing = json_object_get(json_object_get(json_object_get(p, "status"),
					      "loadBalancer"), "ingress");
	assert_int_equal(json_array_size(ing), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ing, 0),
							      "ip")), "fd00:99::1");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(
		json_array_get(ing, 0), "ports"), 0), "port")), 443);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ing, 1),
							      "hostname")),
			    "help.svc.example.net");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ing, 2),
							      "hostname")), "lb.example.org");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ing, 3),
							      "ip")), "fd00:99::2");
	json_decref(p);
	free(patch);
	/* None of ours in it: no write. */
	const char *none[] = { "www.svc.example.net" };

	assert_int_equal(k8s_ingress_status_release_patch(docs, none, 1, &patch), AS_OK);
	assert_null(patch);
	k8s_obj_free(K8S_O_INGRESS, docs);
	json_decref(j);
}

static void test_event_json(void **state)
{
	(void)state;
	struct k8s_event_spec ev = {
		.name = "web.187e4f2a9c3b5d10", .okind = K8S_O_INGRESS,
		.obj_ns = "shop", .obj_name = "web", .obj_uid = "u-1",
		.obj_rv = "2101", .warning = true,
		.reason = "PathRoutingUnsupported", .message = "host web: ...",
		.component = "anysteer", .instance = "node-a",
		.now = "2026-12-06T17:30:00Z", .count = 1,
	};
	char *s;
	json_t *j, *io;

	assert_int_equal(k8s_event_json(&ev, &s), AS_OK);
	j = json_loads(s, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "apiVersion")), "v1");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "Warning");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		j, "metadata"), "namespace")), "shop");
	io = json_object_get(j, "involvedObject");
	assert_string_equal(json_string_value(json_object_get(io, "kind")), "Ingress");
	assert_string_equal(json_string_value(json_object_get(io, "apiVersion")),
			    "networking.k8s.io/v1");
	assert_string_equal(json_string_value(json_object_get(io, "uid")), "u-1");
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 1);
	assert_string_equal(json_string_value(json_object_get(j, "firstTimestamp")),
			    "2026-12-06T17:30:00Z");
	json_decref(j);
	free(s);

	/* A cluster-scoped object's Event lives in "default". */
	ev.okind = K8S_O_GATEWAYCLASS;
	ev.obj_ns = "";
	ev.warning = false;
	assert_int_equal(k8s_event_json(&ev, &s), AS_OK);
	assert_non_null(strstr(s, "\"namespace\":\"default\""));
	assert_non_null(strstr(s, "\"type\":\"Normal\""));
	free(s);

	/* A repeat is a patch of count and lastTimestamp. */
	ev.count = 4;
	ev.now = "2026-12-06T17:35:00Z";
	assert_int_equal(k8s_event_json(&ev, &s), AS_OK);
	j = json_loads(s, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 4);
	assert_null(json_object_get(j, "firstTimestamp"));
	assert_string_equal(json_string_value(json_object_get(j, "lastTimestamp")),
			    "2026-12-06T17:35:00Z");
	json_decref(j);
	free(s);
	ev.reason = NULL;
	assert_int_equal(k8s_event_json(&ev, &s), AS_EINVAL);
	assert_null(s);
}

/* The paths match what the API server (and tests/k8s/apiserver.py)
 * serves; a name that is not a DNS name is refused, not escaped. */
static void test_paths(void **state)
{
	(void)state;
	char buf[256];

	assert_int_equal(k8s_status_path(K8S_O_INGRESS, "shop", "web", buf,
					 sizeof(buf)), AS_OK);
	assert_string_equal(buf, "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web/status");
	assert_int_equal(k8s_status_path(K8S_O_GATEWAYCLASS, NULL, "anysteer", buf,
					 sizeof(buf)), AS_OK);
	assert_string_equal(buf, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/anysteer/status");
	assert_int_equal(k8s_status_path(K8S_O_HTTPROUTE, "shop", "canary", buf,
					 sizeof(buf)), AS_OK);
	assert_string_equal(buf, "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/canary/status");
	assert_int_equal(k8s_status_path(K8S_O_GRPCROUTE, "shop", "../x", buf,
					 sizeof(buf)), AS_EINVAL);
	assert_int_equal(k8s_status_path(K8S_O_GATEWAY, "", "public", buf,
					 sizeof(buf)), AS_EINVAL);
	assert_int_equal(k8s_status_path(K8S_O_GATEWAY, "infra", "public", buf, 20),
			 AS_ESPACE);
	assert_int_equal(k8s_event_path("shop", NULL, buf, sizeof(buf)), AS_OK);
	assert_string_equal(buf, "/api/v1/namespaces/shop/events");
	assert_int_equal(k8s_event_path("shop", "web.1", buf, sizeof(buf)), AS_OK);
	assert_string_equal(buf, "/api/v1/namespaces/shop/events/web.1");
	assert_int_equal(k8s_lease_path("anysteer", "anysteer-leader", buf,
					sizeof(buf)), AS_OK);
	assert_string_equal(buf, "/apis/coordination.k8s.io/v1/namespaces/anysteer/leases/anysteer-leader");
	assert_int_equal(k8s_lease_path("Anysteer", NULL, buf, sizeof(buf)), AS_EINVAL);
	assert_int_equal(k8s_event_name("web", 1000, buf, sizeof(buf)), AS_OK);
	assert_string_equal(buf, "web.f4240");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_and_events),
		cmocka_unit_test(test_intent),
		cmocka_unit_test(test_class_selection),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_names_no_root),
		cmocka_unit_test(test_status_patch),
		cmocka_unit_test(test_status_release_patch),
		cmocka_unit_test(test_event_json),
		cmocka_unit_test(test_paths),
	};

	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
