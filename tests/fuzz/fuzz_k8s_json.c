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
	return 0;
}
