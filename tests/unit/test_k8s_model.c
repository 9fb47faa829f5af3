/*
 * tests/unit/test_k8s_model.c - the pure Service/EndpointSlice translator,
 * fed with fixtures shaped like real API-server output.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "tests/unit/k8s_fixture.h"

#define ZONE "svc.example.net"

static k8s_store_t *new_store(void)
{
	k8s_store_t *s;

	assert_int_equal(k8s_store_new(ZONE ".", "node-a", &s), AS_OK);
	assert_non_null(s);
	return s;
}

/* Applies an event built from obj; returns the store's result. */
static int event(k8s_store_t *s, int kind, const char *type, json_t *obj,
		 struct k8s_event_info *info)
{
	struct k8s_event_info tmp;
	char *line = k8s_event(type, obj);
	int rc = k8s_store_apply_event(s, kind, line, strlen(line),
				       info ? info : &tmp);

	free(line);
	return rc;
}

static int event_text(k8s_store_t *s, int kind, const char *text)
{
	struct k8s_event_info info;

	return k8s_store_apply_event(s, kind, text, strlen(text), &info);
}

static bool has_ep(const struct k8s_entry *e, const char *addr)
{
	for (size_t i = 0; i < e->n_endpoints; i++)
		if (!strcmp(e->endpoints[i].address, addr))
			return true;
	return false;
}

static void build(k8s_store_t *s, struct k8s_set *set)
{
	assert_int_equal(k8s_store_build(s, set), AS_OK);
}

static void apply_list_file(k8s_store_t *s, int kind, const char *file)
{
	json_t *j = k8s_fixture(file);
	char *text = k8s_dump(j), rv[64], cont[64];

	k8s_store_relist_begin(s, kind);
	assert_int_equal(k8s_store_apply_list(s, kind, text, strlen(text), rv,
					      sizeof(rv), cont, sizeof(cont)),
			 AS_OK);
	k8s_store_relist_end(s, kind);
	assert_string_equal(rv, "1024");
	assert_string_equal(cont, "");
	free(text);
	json_decref(j);
}

/* Lists: annotated Service with two names, ready local endpoints of both
 * families, unready/remote/unannotated ones left out. */
static void test_lists(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_set set;
	struct k8s_store_stats st;
	const struct k8s_entry *e;

	apply_list_file(s, K8S_SERVICES, "servicelist.json");
	apply_list_file(s, K8S_SLICES, "endpointslicelist.json");
	build(s, &set);
	assert_int_equal(set.n_entries, 2);
	/* Sorted by hostname. */
	assert_string_equal(set.entries[0].hostname, "web.svc.example.net.");
	assert_string_equal(set.entries[1].hostname, "www.svc.example.net.");
	e = &set.entries[0];
	assert_string_equal(e->label, "web");
	assert_string_equal(e->namespace_, "shop");
	assert_string_equal(e->service, "web");
	assert_int_equal(e->max_answers, 3);
	assert_int_equal(e->ttl, 0);
	assert_int_equal(e->weight, K8S_DEFAULT_WEIGHT);
	assert_int_equal(e->n_ports, 1);
	assert_string_equal(e->ports[0].name, "http");
	assert_string_equal(e->ports[0].protocol, "tcp");
	assert_int_equal(e->ports[0].port, 80);
	assert_int_equal(e->ports[0].target_port, 8080);
	/* IPv6 first, then IPv4 whose "ready" is absent (= true); the
	 * terminating IPv4 one and node-b's are not there. */
	assert_int_equal(e->n_endpoints, 2);
	assert_string_equal(e->endpoints[0].address, "fd00:10:244:1::1a");
	assert_int_equal(e->endpoints[0].family, AF_INET6);
	assert_string_equal(e->endpoints[0].pod, "web-6d8f7c9b5-4mz2q");
	assert_string_equal(e->endpoints[1].address, "10.244.1.26");
	assert_int_equal(e->endpoints[1].family, AF_INET);
	assert_int_equal(e->endpoints[1].addr[0], 10);
	assert_int_equal(e->endpoints[1].addr[3], 26);
	assert_int_equal(set.entries[1].n_endpoints, 2);

	k8s_store_stats(s, &st);
	assert_int_equal(st.services, 1);	/* "kubernetes" is not ours */
	/* Slices with a ready endpoint anywhere: a route's weights need
	 * the ready count of every node. */
	assert_int_equal(st.slices, 3);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.lists, 2);
	k8s_set_free(&set);
	k8s_store_free(s);
}

/* Watch events: add, update, a pod becoming unready, deletes. */
static void test_events(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_set set;
	struct k8s_event_info info;
	const struct k8s_entry *e;
	json_t *svc = k8s_fixture("service-web.json");
	json_t *sl = k8s_fixture("endpointslice-web.json");

	assert_int_equal(event(s, K8S_SLICES, "ADDED", sl, &info), AS_OK);
	assert_true(info.changed);
	assert_string_equal(info.rv, "1010");
	/* A slice alone makes no entry: its Service is not known yet. */
	build(s, &set);
	assert_int_equal(set.n_entries, 0);
	k8s_set_free(&set);

	assert_int_equal(event(s, K8S_SERVICES, "ADDED", svc, &info), AS_OK);
	assert_int_equal(info.type, K8S_EV_ADDED);
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	e = &set.entries[0];
	assert_string_equal(e->hostname, "web.svc.example.net.");
	assert_int_equal(e->ttl, 10);
	assert_int_equal(e->weight, 50);
	assert_int_equal(e->max_answers, 0);
	assert_int_equal(e->n_ports, 2);
	assert_int_equal(e->ports[1].port, 443);
	assert_int_equal(e->ports[1].target_port, 8443);
	assert_int_equal(e->n_endpoints, 2);
	assert_true(has_ep(e, "fd00:10:244:1::1a"));
	assert_true(has_ep(e, "fd00:10:244:1::1b"));
	assert_false(has_ep(e, "fd00:10:244:1::1c"));	/* not ready */
	assert_false(has_ep(e, "fd00:10:244:2::31"));	/* node-b */
	k8s_set_free(&set);

	/* Service update: TTL changes. */
	k8s_set(svc, "metadata.annotations", "anysteer.io/ttl", json_string("30"));
	assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", svc, &info), AS_OK);
	build(s, &set);
	assert_int_equal(set.entries[0].ttl, 30);
	assert_null(set.entries[0].path);
	assert_int_equal(set.entries[0].n_path_avoid, 0);
	k8s_set_free(&set);

	/* The intent annotations (issue 17), carried as written; a change
	 * of them is a change of the set. */
	struct k8s_set before;
	build(s, &before);
	k8s_set(svc, "metadata.annotations", "anysteer.io/path", json_string("cost"));
	k8s_set(svc, "metadata.annotations", "anysteer.io/path-avoid",
		json_string(" satellite, wan ,,"));
	assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", svc, &info), AS_OK);
	build(s, &set);
	assert_string_equal(set.entries[0].path, "cost");
	assert_int_equal(set.entries[0].n_path_avoid, 2);
	assert_string_equal(set.entries[0].path_avoid[0], "satellite");
	assert_string_equal(set.entries[0].path_avoid[1], "wan");
	assert_false(k8s_set_equal(&before, &set));
	k8s_set_free(&before);
	k8s_set_free(&set);

	/* Pod web-...-9kq7w becomes unready. */
	json_t *ep1 = json_array_get(json_object_get(sl, "endpoints"), 1);

	k8s_set(ep1, "conditions", "ready", json_false());
	assert_int_equal(event(s, K8S_SLICES, "MODIFIED", sl, &info), AS_OK);
	build(s, &set);
	assert_int_equal(set.entries[0].n_endpoints, 1);
	assert_true(has_ep(&set.entries[0], "fd00:10:244:1::1a"));
	k8s_set_free(&set);

	/* Slice deleted: the name stays (the Service does), no endpoints. */
	assert_int_equal(event(s, K8S_SLICES, "DELETED", sl, &info), AS_OK);
	assert_true(info.changed);
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	assert_int_equal(set.entries[0].n_endpoints, 0);
	assert_int_equal(set.entries[0].ports[0].target_port, 0);
	k8s_set_free(&set);

	/* Annotation removed: the Service is no longer ours. */
	json_object_del(json_object_get(json_object_get(svc, "metadata"), "annotations"),
			"anysteer.io/hostname");
	assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", svc, &info), AS_OK);
	assert_true(info.changed);
	build(s, &set);
	assert_int_equal(set.n_entries, 0);
	k8s_set_free(&set);

	/* Still held, as a possible Ingress or route backend; deleting
	 * it changes the store, deleting it again does not. */
	assert_int_equal(event(s, K8S_SERVICES, "DELETED", svc, &info), AS_OK);
	assert_true(info.changed);
	assert_int_equal(event(s, K8S_SERVICES, "DELETED", svc, &info), AS_OK);
	assert_false(info.changed);

	json_decref(svc);
	json_decref(sl);
	k8s_store_free(s);
}

/* external-dns annotation; names outside the zone are counted and skipped. */
static void test_extdns_and_names(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_set set;
	struct k8s_store_stats st;
	json_t *api = k8s_fixture("service-api-extdns.json");
	json_t *sl = k8s_fixture("endpointslice-api.json");

	assert_int_equal(event(s, K8S_SERVICES, "ADDED", api, NULL), AS_OK);
	assert_int_equal(event(s, K8S_SLICES, "ADDED", sl, NULL), AS_OK);
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	assert_string_equal(set.entries[0].hostname, "api.svc.example.net.");
	assert_int_equal(set.entries[0].n_endpoints, 1);
	assert_int_equal(set.entries[0].ports[0].target_port, 9000);
	k8s_set_free(&set);
	k8s_store_stats(s, &st);
	assert_int_equal(st.bad_hostnames, 1);	/* api.example.org */

	/* anysteer.io/hostname wins over external-dns; case and trailing
	 * dots are normalised; apex, deeper names and junk are skipped. */
	k8s_set(api, "metadata.annotations", "anysteer.io/hostname",
		json_string(" API2.Svc.Example.NET. ,svc.example.net,a.b.svc.example.net,"
			    "-x.svc.example.net,x_y.svc.example.net,,api2.svc.example.net"));
	assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", api, NULL), AS_OK);
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	assert_string_equal(set.entries[0].hostname, "api2.svc.example.net.");
	assert_string_equal(set.entries[0].label, "api2");
	k8s_set_free(&set);
	k8s_store_stats(s, &st);
	assert_int_equal(st.bad_hostnames, 1 + 4);

	/* Only names of other zones: not ours any more. */
	k8s_set(api, "metadata.annotations", "anysteer.io/hostname",
		json_string("api.example.org"));
	assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", api, NULL), AS_OK);
	build(s, &set);
	assert_int_equal(set.n_entries, 0);
	k8s_set_free(&set);

	json_decref(api);
	json_decref(sl);
	k8s_store_free(s);
}

/* Malformed payloads are counted and skipped; the last good state stays. */
static void test_malformed_keeps_state(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_set before, after;
	struct k8s_store_stats st;
	json_t *svc = k8s_fixture("service-web.json");
	json_t *sl = k8s_fixture("endpointslice-web.json");
	json_t *bad;
	char *text;

	assert_int_equal(event(s, K8S_SERVICES, "ADDED", svc, NULL), AS_OK);
	assert_int_equal(event(s, K8S_SLICES, "ADDED", sl, NULL), AS_OK);
	build(s, &before);
	assert_int_equal(before.entries[0].n_endpoints, 2);

	static const char *const junk[] = {
		"", "{", "[]", "null", "42", "\"ADDED\"",
		"{\"type\":\"ADDED\"}",
		"{\"type\":\"ADDED\",\"object\":[]}",
		"{\"type\":\"WHATEVER\",\"object\":{}}",
		"{\"type\":7,\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\"}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"}}}",
		"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"shop\"}}}",
		"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\"}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"shop\",\"name\":\"web\",\"annotations\":[]}}}",
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\"},\"type\":\"DELETED\"}",
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(junk); i++)
		assert_int_equal(event_text(s, K8S_SERVICES, junk[i]), AS_EMALFORMED);

	/* Bad annotation values on a Service we hold. */
	static const char *const bad_ann[][2] = {
		{ "anysteer.io/ttl", "abc" }, { "anysteer.io/ttl", "0" },
		{ "anysteer.io/ttl", "99999999999999999999" },
		{ "anysteer.io/weight", "-1" }, { "anysteer.io/max-answers", "65" },
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad_ann); i++) {
		bad = json_deep_copy(svc);
		k8s_set(bad, "metadata.annotations", bad_ann[i][0],
			json_string(bad_ann[i][1]));
		assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", bad, NULL),
				 AS_EMALFORMED);
		json_decref(bad);
	}
	/* Bad ports on the Service. */
	bad = json_deep_copy(svc);
	k8s_set(json_array_get(json_object_get(json_object_get(bad, "spec"), "ports"), 0),
		"", "port", json_integer(70000));
	assert_int_equal(event(s, K8S_SERVICES, "MODIFIED", bad, NULL), AS_EMALFORMED);
	json_decref(bad);

	/* Slice with an address that is not one, a ready that is a string,
	 * addresses that are not an array. */
	json_t *ep0 = json_array_get(json_object_get(sl, "endpoints"), 0);

	bad = json_deep_copy(sl);
	ep0 = json_array_get(json_object_get(bad, "endpoints"), 0);
	json_array_set_new(json_object_get(ep0, "addresses"), 0, json_string("not-an-ip"));
	assert_int_equal(event(s, K8S_SLICES, "MODIFIED", bad, NULL), AS_EMALFORMED);
	json_decref(bad);
	bad = json_deep_copy(sl);
	ep0 = json_array_get(json_object_get(bad, "endpoints"), 0);
	json_array_set_new(json_object_get(ep0, "addresses"), 0, json_string("10.0.0.1"));
	assert_int_equal(event(s, K8S_SLICES, "MODIFIED", bad, NULL), AS_EMALFORMED);
	json_decref(bad);
	bad = json_deep_copy(sl);
	ep0 = json_array_get(json_object_get(bad, "endpoints"), 0);
	k8s_set(ep0, "conditions", "ready", json_string("yes"));
	assert_int_equal(event(s, K8S_SLICES, "MODIFIED", bad, NULL), AS_EMALFORMED);
	json_decref(bad);
	bad = json_deep_copy(sl);
	ep0 = json_array_get(json_object_get(bad, "endpoints"), 0);
	k8s_set(ep0, "", "addresses", json_string("fd00::1"));
	assert_int_equal(event(s, K8S_SLICES, "MODIFIED", bad, NULL), AS_EMALFORMED);
	json_decref(bad);
	/* An event carrying an object of the other kind. */
	text = k8s_event("MODIFIED", svc);
	assert_int_equal(event_text(s, K8S_SLICES, text), AS_EMALFORMED);
	free(text);

	/* A list response that is not one changes nothing. */
	char rv[64], cont[64];
	static const char *const bad_lists[] = {
		"{\"kind\":\"ServiceList\",\"items\":{}}",
		"{\"kind\":\"EndpointSliceList\",\"items\":[]}",
		"{\"kind\":\"ServiceList\",\"metadata\":{\"continue\":5},\"items\":[]}",
		"garbage",
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad_lists); i++) {
		k8s_store_relist_begin(s, K8S_SERVICES);
		assert_int_equal(k8s_store_apply_list(s, K8S_SERVICES,
			bad_lists[i], strlen(bad_lists[i]), rv, sizeof(rv), cont,
			sizeof(cont)), AS_EMALFORMED);
		k8s_store_relist_abort(s, K8S_SERVICES);
	}
	/* A list whose one bad item is skipped keeps that item's old record. */
	bad = json_deep_copy(svc);
	k8s_set(bad, "metadata.annotations", "anysteer.io/ttl", json_string("x"));
	json_t *list = json_pack("{s:s, s:{s:s}, s:[O]}", "kind", "ServiceList",
				 "metadata", "resourceVersion", "2000", "items", bad);

	text = k8s_dump(list);
	k8s_store_relist_begin(s, K8S_SERVICES);
	assert_int_equal(k8s_store_apply_list(s, K8S_SERVICES, text,
		strlen(text), rv, sizeof(rv), cont, sizeof(cont)), AS_OK);
	k8s_store_relist_end(s, K8S_SERVICES);
	assert_string_equal(rv, "2000");
	free(text);
	json_decref(list);
	json_decref(bad);

	build(s, &after);
	assert_true(k8s_set_equal(&before, &after));
	assert_int_equal(after.entries[0].ttl, 10);
	k8s_store_stats(s, &st);
	assert_int_equal(st.malformed, AS_ARRAY_SIZE(junk) + AS_ARRAY_SIZE(bad_ann) +
			 1 + 4 + 1 + AS_ARRAY_SIZE(bad_lists) + 1);
	k8s_set_free(&before);
	k8s_set_free(&after);
	json_decref(svc);
	json_decref(sl);
	k8s_store_free(s);
}

/* Relist removes what the list no longer has; pages accumulate. */
static void test_relist_pages(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_set set;
	json_t *svc = k8s_fixture("service-web.json");
	json_t *api = k8s_fixture("service-api-extdns.json");
	char rv[64], cont[64], *text;
	json_t *page;

	assert_int_equal(event(s, K8S_SERVICES, "ADDED", svc, NULL), AS_OK);
	assert_int_equal(event(s, K8S_SERVICES, "ADDED", api, NULL), AS_OK);

	/* Page 1 has nothing of ours, page 2 has api: web goes at the end. */
	k8s_store_relist_begin(s, K8S_SERVICES);
	page = json_pack("{s:s, s:{s:s, s:s}, s:[]}", "kind", "ServiceList", "metadata",
			 "resourceVersion", "3000", "continue", "tok1", "items");
	text = k8s_dump(page);
	assert_int_equal(k8s_store_apply_list(s, K8S_SERVICES, text,
		strlen(text), rv, sizeof(rv), cont, sizeof(cont)), AS_OK);
	assert_string_equal(cont, "tok1");
	free(text);
	json_decref(page);
	page = json_pack("{s:s, s:{s:s}, s:[O]}", "kind", "ServiceList", "metadata",
			 "resourceVersion", "3000", "items", api);
	text = k8s_dump(page);
	assert_int_equal(k8s_store_apply_list(s, K8S_SERVICES, text,
		strlen(text), rv, sizeof(rv), cont, sizeof(cont)), AS_OK);
	assert_string_equal(cont, "");
	free(text);
	json_decref(page);
	/* Not ended yet: web is still there. */
	build(s, &set);
	assert_int_equal(set.n_entries, 2);
	k8s_set_free(&set);
	assert_true(k8s_store_relist_end(s, K8S_SERVICES));
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	assert_string_equal(set.entries[0].service, "api");
	k8s_set_free(&set);

	/* An aborted relist removes nothing. */
	k8s_store_relist_begin(s, K8S_SERVICES);
	k8s_store_relist_abort(s, K8S_SERVICES);
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	k8s_set_free(&set);

	json_decref(svc);
	json_decref(api);
	k8s_store_free(s);
}

static void test_bookmark_and_error(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_event_info info;
	json_t *st = k8s_fixture("status-expired.json");
	const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\","
		"\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":"
		"\"12746\",\"creationTimestamp\":null}}}";

	assert_int_equal(k8s_store_apply_event(s, K8S_SLICES, bm,
					       strlen(bm), &info), AS_OK);
	assert_int_equal(info.type, K8S_EV_BOOKMARK);
	assert_string_equal(info.rv, "12746");
	assert_false(info.changed);

	assert_int_equal(event(s, K8S_SERVICES, "ERROR", st, &info), AS_OK);
	assert_int_equal(info.type, K8S_EV_ERROR);
	assert_int_equal(info.code, 410);
	assert_string_equal(info.rv, "");
	json_decref(st);
	k8s_store_free(s);
}

/* Two Services claim one name: the first by namespace/name wins. */
static void test_conflict(void **state)
{
	k8s_store_t *s = new_store();
	struct k8s_set set;
	struct k8s_store_stats st;
	json_t *a = k8s_fixture("service-web.json");
	json_t *b = json_deep_copy(a);

	k8s_set(b, "metadata", "namespace", json_string("aaa"));
	k8s_set(b, "metadata.annotations", "anysteer.io/ttl", json_string("99"));
	assert_int_equal(event(s, K8S_SERVICES, "ADDED", a, NULL), AS_OK);
	assert_int_equal(event(s, K8S_SERVICES, "ADDED", b, NULL), AS_OK);
	build(s, &set);
	assert_int_equal(set.n_entries, 1);
	assert_string_equal(set.entries[0].namespace_, "aaa");
	assert_int_equal(set.entries[0].ttl, 99);
	k8s_store_stats(s, &st);
	assert_int_equal(st.conflicts, 1);
	k8s_set_free(&set);
	json_decref(a);
	json_decref(b);
	k8s_store_free(s);
}

static void test_store_args(void **state)
{
	k8s_store_t *s = (void *)1;

	assert_int_equal(k8s_store_new("", "n", &s), AS_EINVAL);
	assert_null(s);
	assert_int_not_equal(k8s_store_new(".", "n", &s), AS_OK);
	assert_null(s);
	assert_int_not_equal(k8s_store_new("z", "", &s), AS_OK);
	assert_null(s);
	assert_int_not_equal(k8s_store_new(NULL, "n", &s), AS_OK);
	assert_null(s);
}

/* A bad address in an EndpointSlice update is logged with the object and
 * the field (issue 18), not only as "malformed object". */
static void test_bad_address_named(void **state)
{
	k8s_store_t *s = new_store();
	json_t *sl = k8s_fixture("endpointslice-web.json");
	json_t *ep = json_array_get(json_object_get(sl, "endpoints"), 1);
	char path[] = "/tmp/k8smodelXXXXXX", buf[4096];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	json_array_set_new(json_object_get(ep, "addresses"), 0,
			   json_string("fd00:10:244:1::zz"));
	as_log_set_level(AS_LOG_WARN);
	fflush(stderr);
	dup2(fd, 2);
	assert_int_equal(event(s, K8S_SLICES, "MODIFIED", sl, NULL), AS_EMALFORMED);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	as_log_set_level(AS_LOG_ERR);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "EndpointSlice shop/web-7xk2p"));
	assert_non_null(strstr(buf, "endpoints[1].addresses[0] \"fd00:10:244:1::zz\" "
			       "is not an IPv6 address"));
	json_decref(sl);
	k8s_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_address_named),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_extdns_and_names),
		cmocka_unit_test(test_malformed_keeps_state),
		cmocka_unit_test(test_relist_pages),
		cmocka_unit_test(test_bookmark_and_error),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_store_args),
	};

	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
