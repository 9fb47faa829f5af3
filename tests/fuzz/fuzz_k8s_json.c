/*
 * tests/fuzz/fuzz_k8s_json.c - libFuzzer harness for the Kubernetes JSON
 * entry points (agent/k8s_model.c).
 *
 * Each input goes through a store that already holds one annotated
 * Service with a ready local endpoint: as a Service list and as an
 * EndpointSlice list (each a full relist), then line by line as watch
 * events of both kinds, as a watch stream would deliver it. Checked after
 * every step: building the set succeeds, entries are sorted and unique,
 * endpoints are of a known family; and a step the store rejects as
 * malformed leaves the set exactly as it was (the last good state is
 * never dropped). Any violation aborts.
 *
 * The same input then goes to the Ingress and Gateway API tables (one
 * per kind: as a list, then line by line as watch events) and the Lease
 * decoder. Checked: a rejected event leaves the table as it was (same
 * count, same objects), the decisions over whatever was accepted (class
 * selection, Ingress names, Gateway API evaluation, the status patches
 * and Events) succeed and give sorted, unique names inside the zone,
 * and a Lease that decodes encodes back to the same record; and
 * k8s_publish_build() over the base store and those tables gives a sorted,
 * unique set whose entries all name their origin.
 *
 * Last, the same input goes to this node's Node table (the zone label,
 * k8s/node.c): as a list, then line by line as watch events. Checked:
 * the zone is none or a label value, and a step refused as malformed
 * leaves it as it was.
 *
 * Speed (docs/testing.md): the oracle, not the parser, used to dominate.
 * The base state's set is built once; one store per input is put back
 * into the base state by relisting only the kind a list step changed;
 * and the set after one step is the set before the next, so a stream of
 * n lines costs n set builds, not 2n plus three fresh stores.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "k8s/k8s.h"
#include "lib/as.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_k8s_json: %s:%d: %s\n",     \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

/* The base state: one annotated Service and one slice with one ready
 * endpoint on this node, as watch events and as one-item lists. */
#define BASE_SVC_OBJ                                                               \
	"{\"kind\":\"Service\",\"apiVersion\":\"v1\","                                 \
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"5\"," \
	"\"annotations\":{\"anysteer.io/hostname\":\"web.svc.example.net\"}},"          \
	"\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80}]}}"
#define BASE_SLICE_OBJ                                                             \
	"{\"kind\":\"EndpointSlice\",\"apiVersion\":"                                  \
	"\"discovery.k8s.io/v1\",\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"shop\"," \
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv6\","  \
	"\"endpoints\":[{\"addresses\":[\"fd00::1\"],\"conditions\":{\"ready\":true},"     \
	"\"nodeName\":\"node-a\"}],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\","       \
	"\"port\":8080}]}"

static const char *const base_event[K8S_N_KINDS] = {
	[K8S_SERVICES] = "{\"type\":\"ADDED\",\"object\":" BASE_SVC_OBJ "}",
	[K8S_SLICES] = "{\"type\":\"ADDED\",\"object\":" BASE_SLICE_OBJ "}",
};
static const char *const base_list[K8S_N_KINDS] = {
	[K8S_SERVICES] = "{\"kind\":\"ServiceList\",\"metadata\":{},"
			       "\"items\":[" BASE_SVC_OBJ "]}",
	[K8S_SLICES] = "{\"kind\":\"EndpointSliceList\",\"metadata\":{},"
			     "\"items\":[" BASE_SLICE_OBJ "]}",
};

static void check_set(const struct k8s_set *s)
{
	for (size_t i = 0; i < s->n_entries; i++) {
		const struct k8s_entry *e = &s->entries[i];

		CHECK(e->hostname && e->label && e->namespace_ && e->service);
		CHECK(strlen(e->hostname) <= 254);
		if (i)
			CHECK(strcmp(s->entries[i - 1].hostname, e->hostname) < 0);
		for (size_t j = 0; j < e->n_endpoints; j++)
			CHECK(e->endpoints[j].family == AF_INET6 ||
			      e->endpoints[j].family == AF_INET);
		for (size_t j = 0; j < e->n_ports; j++)
			CHECK(e->ports[j].port > 0);
	}
	CHECK(k8s_set_equal(s, s));
}

static void snapshot(k8s_store_t *st, struct k8s_set *out)
{
	CHECK(k8s_store_build(st, out) == AS_OK);
	check_set(out);
}

/* Applies one watch event; a rejected step must not change the set. The
 * caller's *cur is the set before the step and becomes the set after it,
 * so a stream of n lines costs n builds, not 2n. Returns false when the
 * line is not a watch event at all (bad JSON, no type or object): the
 * store rejects that before the kind matters, so the other kind would
 * only repeat the same path. */
static bool step_event(k8s_store_t *st, int kind, const char *p,
		       size_t n, struct k8s_set *cur)
{
	struct k8s_set after;
	struct k8s_event_info info;
	int rc;

	rc = k8s_store_apply_event(st, kind, p, n, &info);
	snapshot(st, &after);
	if (rc != AS_OK || !info.changed)
		CHECK(k8s_set_equal(cur, &after));
	k8s_set_free(cur);
	*cur = after;
	return rc == AS_OK || info.type != 0;
}

/* Puts one kind back into the base state, by a relist as the client
 * would do it. */
static void reset_kind(k8s_store_t *st, int kind)
{
	const char *l = base_list[kind];

	k8s_store_relist_begin(st, kind);
	CHECK(k8s_store_apply_list(st, kind, l, strlen(l), NULL, 0, NULL,
					 0) == AS_OK);
	k8s_store_relist_end(st, kind);
}

/* A full relist of one kind on a store in the base state, whose set is
 * *base; the store is in the base state again afterwards. */
static void step_list(k8s_store_t *st, int kind, const char *p, size_t n,
		      const struct k8s_set *base)
{
	struct k8s_set after;
	char rv[64], cont[256];
	int rc;

	k8s_store_relist_begin(st, kind);
	rc = k8s_store_apply_list(st, kind, p, n, rv, sizeof(rv), cont,
					sizeof(cont));
	CHECK(strlen(rv) < sizeof(rv) && strlen(cont) < sizeof(cont));
	if (rc == AS_OK) {
		k8s_store_relist_end(st, kind);
		snapshot(st, &after);
		k8s_set_free(&after);
		reset_kind(st, kind);
	} else {
		k8s_store_relist_abort(st, kind);
		snapshot(st, &after);
		CHECK(k8s_set_equal(base, &after));
		k8s_set_free(&after);
	}
}

static k8s_store_t *base_store(void)
{
	k8s_store_t *st = NULL;
	struct k8s_event_info info;

	CHECK(k8s_store_new("svc.example.net", "node-a", &st) == AS_OK && st);
	for (int kind = 0; kind < K8S_N_KINDS; kind++)
		CHECK(k8s_store_apply_event(st, kind, base_event[kind],
					    strlen(base_event[kind]),
					    &info) == AS_OK);
	return st;
}

/* ---- Ingress, Gateway API, Lease ------------------------------------------ */

#define ZONE "svc.example.net"

static void check_names(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);

		CHECK(l > strlen(ZONE) + 2 && names[i][l - 1] == '.');
		CHECK(!strncmp(names[i] + l - strlen(ZONE) - 2, "." ZONE ".",
			       strlen(ZONE) + 2));
		if (i)
			CHECK(strcmp(names[i - 1], names[i]) < 0);
	}
}

static bool svc_exists(const char *ns, const char *name, void *arg)
{
	(void)arg;
	return strlen(ns) + strlen(name) > 6;
}

/* Every decision over the tables; nothing may fail but memory. */
static void decide(k8s_objs_t *const *t)
{
	struct k8s_gw_input in = {
		.zone = ZONE, .classes = t[K8S_O_GATEWAYCLASS],
		.gateways = t[K8S_O_GATEWAY], .httproutes = t[K8S_O_HTTPROUTE],
		.grpcroutes = t[K8S_O_GRPCROUTE], .service_exists = svc_exists,
	};
	struct k8s_gw_result gr;
	const char *names[256];
	char *out;

	for (size_t i = 0; i < k8s_objs_count(t[K8S_O_INGRESS]); i++) {
		const struct k8s_ingress *g = k8s_objs_at(t[K8S_O_INGRESS], i);
		struct k8s_ingress_result r;
		int own = k8s_ingress_owner(g, t[K8S_O_INGRESSCLASS], NULL);

		CHECK(own >= K8S_ING_NOT_OURS && own <= K8S_ING_BY_ANNOTATION);
		CHECK(k8s_ingress_names(g, ZONE, &r) == AS_OK);
		for (size_t j = 0; j < r.n_hosts && j < 256; j++) {
			names[j] = r.hosts[j].hostname;
			CHECK(r.hosts[j].service && *r.hosts[j].service);
			CHECK(r.hosts[j].wildcard == !strcmp(r.hosts[j].label, "*"));
		}
		check_names(names, AS_MIN(r.n_hosts, 256));
		for (size_t j = 0; j < r.n_warnings; j++)
			CHECK(*r.warnings[j].reason && strlen(r.warnings[j].message) < 2048);
		CHECK(k8s_ingress_status_patch(g, names, AS_MIN(r.n_hosts, 256),
					       &out) == AS_OK);
		free(out);
		k8s_ingress_result_free(&r);
	}
	CHECK(k8s_gateway_evaluate(&in, &gr) == AS_OK);
	for (size_t j = 0; j < gr.n_names && j < 256; j++) {
		names[j] = gr.names[j].hostname;
		CHECK(gr.names[j].route_kind == K8S_O_HTTPROUTE ||
		      gr.names[j].route_kind == K8S_O_GRPCROUTE);
	}
	check_names(names, AS_MIN(gr.n_names, 256));
	for (size_t j = 0; j < gr.n_status; j++) {
		const struct k8s_obj_status *st = &gr.status[j];
		const void *o = k8s_objs_get(t[st->okind], st->namespace_, st->name);
		const char *now = "2026-12-06T17:00:00Z";
		int rc;

		CHECK(o);
		if (st->okind == K8S_O_GATEWAYCLASS)
			rc = k8s_gateway_class_status_patch(o, st, now, &out);
		else if (st->okind == K8S_O_GATEWAY)
			rc = k8s_gateway_status_patch(o, st, now, &out);
		else
			rc = k8s_route_status_patch(o, st, now, &out);
		CHECK(rc == AS_OK);
		free(out);
		for (size_t c = 0; c < st->n_conds; c++)
			CHECK(st->conds[c].observed_generation == st->generation);
	}
	for (size_t j = 0; j < gr.n_warnings; j++) {
		struct k8s_event_spec ev = {
			.name = "x.1", .okind = K8S_O_HTTPROUTE, .obj_ns = "ns",
			.obj_name = "r", .warning = true,
			.reason = gr.warnings[j].reason,
			.message = gr.warnings[j].message, .now = "2026-12-06T17:00:00Z",
			.count = 1,
		};

		CHECK(k8s_event_json(&ev, &out) == AS_OK);
		free(out);
	}
	k8s_gw_result_free(&gr);
}

/* The published set over the base store and whatever the tables
 * accepted: sorted, unique, every entry with an origin, every warning
 * about a named object. */
static void check_publish(k8s_objs_t *const *t)
{
	k8s_store_t *st = base_store();
	struct k8s_publish_input in = { .zone = ZONE };
	struct k8s_publish pub;

	for (int k = 0; k < K8S_N_OKINDS; k++)
		in.objs[k] = t[k];
	CHECK(k8s_publish_build(st, &in, &pub) == AS_OK);
	check_set(&pub.set);
	for (size_t i = 0; i < pub.set.n_entries; i++) {
		const struct k8s_entry *e = &pub.set.entries[i];

		CHECK(e->origin && (!strncmp(e->origin, "Service ", 8) ||
				    !strncmp(e->origin, "Ingress ", 8) ||
				    !strncmp(e->origin, "HTTPRoute ", 10) ||
				    !strncmp(e->origin, "GRPCRoute ", 10)));
		for (size_t j = 0; j < e->n_endpoints; j++)
			CHECK(e->endpoints[j].weight <= 65535);
	}
	for (size_t i = 0; i < pub.n_warnings; i++)
		CHECK(pub.warnings[i].reason && pub.warnings[i].message &&
		      (!pub.warnings[i].name || pub.warnings[i].namespace_));
	k8s_publish_free(&pub);
	k8s_store_free(st);
}

static void check_lease(const char *p, size_t n)
{
	struct k8s_lease_rec a, b;
	char *enc;
	const int64_t year10k = INT64_C(253402300800000000);

	if (k8s_lease_decode(p, n, &a) != AS_OK) {
		CHECK(!a.exists);
		return;
	}
	if (a.acquire_us < 0 || a.acquire_us >= year10k || a.renew_us < 0 ||
	    a.renew_us >= year10k)
		return;	/* no four-digit year to write it back with */
	CHECK(k8s_lease_encode("ns", "lease", &a, &enc) == AS_OK);
	CHECK(k8s_lease_decode(enc, strlen(enc), &b) == AS_OK);
	CHECK(!memcmp(&a, &b, sizeof(a)));
	free(enc);
}

static void objs_steps(const char *p, size_t size)
{
	k8s_objs_t *t[K8S_N_OKINDS];
	struct k8s_event_info info;

	for (int k = 0; k < K8S_N_OKINDS; k++) {
		CHECK(k8s_objs_new(k, &t[k]) == AS_OK);
		k8s_objs_relist_begin(t[k]);
		if (k8s_objs_apply_list(t[k], p, size, NULL, 0, NULL, 0) == AS_OK) {
			k8s_objs_relist_end(t[k]);
		} else {
			k8s_objs_relist_abort(t[k]);
			CHECK(k8s_objs_count(t[k]) == 0);
		}
	}
	check_lease(p, size);
	for (size_t off = 0; off < size;) {
		const char *nl = memchr(p + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (p + off)) : size - off;

		for (int k = 0; n && k < K8S_N_OKINDS; k++) {
			size_t before = k8s_objs_count(t[k]);
			const void *first = k8s_objs_at(t[k], 0);
			int rc = k8s_objs_apply_event(t[k], p + off, n, &info);

			if (rc != AS_OK) {
				CHECK(k8s_objs_count(t[k]) == before);
				CHECK(k8s_objs_at(t[k], 0) == first);
			}
			if (info.type == 0)
				break;
		}
		if (n)
			check_lease(p + off, n);
		off += n + 1;
	}
	decide(t);
	check_publish(t);
	for (int k = 0; k < K8S_N_OKINDS; k++)
		k8s_objs_free(t[k]);
}

/* The base state's set never changes: built once, before the inputs. */
static struct k8s_set base;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	k8s_store_t *st;

	/* Malformed input is logged at warning level: keep quiet. */
	as_log_set_level(AS_LOG_ERR);
	st = base_store();
	snapshot(st, &base);
	CHECK(base.n_entries == 1 && base.entries[0].n_endpoints == 1);
	k8s_store_free(st);
	return 0;
}

/* A zone the table holds: none, or 1..63 of [A-Za-z0-9-_.]. */
static void check_zone(const char *z)
{
	if (!z)
		return;
	CHECK(*z && strlen(z) <= K8S_ZONE_MAX);
	CHECK(strspn(z, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		     "0123456789-_.") == strlen(z));
}

/* The Node table, from a base Node in zone eu-1a. */
static void node_steps(const char *p, size_t size)
{
	static const char node_list[] = "{\"kind\":\"NodeList\",\"metadata\":{},"
		"\"items\":[{\"metadata\":{\"name\":\"node-a\",\"labels\":"
		"{\"topology.kubernetes.io/zone\":\"eu-1a\"}}}]}";
	char rv[64], cont[2048], before[K8S_ZONE_MAX + 1], name[254];
	char zone[K8S_ZONE_MAX + 1];
	struct k8s_event_info info;
	k8s_node_t *t;

	CHECK(k8s_node_new("node-a", &t) == AS_OK);
	k8s_node_relist_begin(t);
	CHECK(k8s_node_apply_list(t, node_list, strlen(node_list), rv, sizeof(rv), cont,
				  sizeof(cont)) == AS_OK);
	k8s_node_relist_end(t);
	CHECK(!strcmp(k8s_node_zone(t), "eu-1a"));
	k8s_node_relist_begin(t);
	if (k8s_node_apply_list(t, p, size, rv, sizeof(rv), cont,
				sizeof(cont)) == AS_OK)
		k8s_node_relist_end(t);
	else
		k8s_node_relist_abort(t);
	check_zone(k8s_node_zone(t));
	for (size_t off = 0; off < size;) {
		const char *nl = memchr(p + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (p + off)) : size - off;
		const char *z = k8s_node_zone(t);

		snprintf(before, sizeof(before), "%s", z ? z : "");
		if (n && k8s_node_apply_event(t, p + off, n, &info) != AS_OK) {
			z = k8s_node_zone(t);
			CHECK(!strcmp(before, z ? z : ""));
		}
		check_zone(k8s_node_zone(t));
		off += n + 1;
	}
	k8s_node_free(t);
	if (k8s_node_zone_parse(p, size, name, sizeof(name), zone) == AS_OK)
		check_zone(*zone ? zone : NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct k8s_set cur;
	k8s_store_t *st = base_store();

	for (int kind = 0; kind < K8S_N_KINDS; kind++)
		step_list(st, kind, p, size, &base);
	/* Line by line, each line to both kinds, as a stream would; the
	 * client skips empty lines (agent/k8s_client.c, watch_lines). */
	snapshot(st, &cur);
	CHECK(k8s_set_equal(&base, &cur));
	for (size_t off = 0; off < size;) {
		const char *nl = memchr(p + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (p + off)) : size - off;

		if (n && !(n == 1 && p[off] == '\r'))
			for (int kind = 0; kind < K8S_N_KINDS; kind++)
				if (!step_event(st, kind, p + off, n, &cur))
					break;
		off += n + 1;
	}
	k8s_set_free(&cur);
	k8s_store_free(st);
	objs_steps(p, size);
	node_steps(p, size);
	return 0;
}
