/*
 * tests/fuzz/fuzz_k8s_json.c - libFuzzer harness for the Kubernetes JSON
 * entry points (k8s/k8s_model.c).
 *
 * Each input goes through a store that already holds one annotated
 * Service with a ready local endpoint: as a Service list and as an
 * EndpointSlice list (each a full relist), then line by line as watch
 * events of both kinds, as a watch stream would deliver it. Checked after
 * every step: building the set succeeds, entries are sorted and unique,
 * endpoints are of a known family; and a step the store rejects as
 * malformed leaves the set exactly as it was (the last good state is
 * never dropped). Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "k8s/k8s.h"
#include "lib/as.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_k8s_json: %s:%d: %s\n",     \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

static const char base_svc[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"5\","
	"\"annotations\":{\"anysteer.io/hostname\":\"web.svc.example.net\"}},"
	"\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80}]}}}";
static const char base_slice[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
	"\"discovery.k8s.io/v1\",\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"shop\","
	"\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv6\","
	"\"endpoints\":[{\"addresses\":[\"fd00::1\"],\"conditions\":{\"ready\":true},"
	"\"nodeName\":\"node-a\"}],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\","
	"\"port\":8080}]}}";

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

/* Applies one step; a rejected step must not change the set. */
static void step_event(k8s_store_t *st, int kind, const char *p, size_t n)
{
	struct k8s_set before, after;
	struct k8s_event_info info;
	int rc;

	snapshot(st, &before);
	rc = k8s_store_apply_event(st, kind, p, n, &info);
	snapshot(st, &after);
	if (rc != AS_OK)
		CHECK(k8s_set_equal(&before, &after));
	if (!info.changed)
		CHECK(k8s_set_equal(&before, &after));
	k8s_set_free(&before);
	k8s_set_free(&after);
}

static void step_list(k8s_store_t *st, int kind, const char *p, size_t n)
{
	struct k8s_set before, after;
	char rv[64], cont[256];
	int rc;

	snapshot(st, &before);
	k8s_store_relist_begin(st, kind);
	rc = k8s_store_apply_list(st, kind, p, n, rv, sizeof(rv), cont,
				  sizeof(cont));
	if (rc == AS_OK) {
		k8s_store_relist_end(st, kind);
	} else {
		k8s_store_relist_abort(st, kind);
		snapshot(st, &after);
		CHECK(k8s_set_equal(&before, &after));
		k8s_set_free(&after);
	}
	CHECK(strlen(rv) < sizeof(rv) && strlen(cont) < sizeof(cont));
	k8s_set_free(&before);
}

static k8s_store_t *base_store(void)
{
	k8s_store_t *st;
	struct k8s_event_info info;

	CHECK(k8s_store_new("svc.example.net", "node-a", &st) == AS_OK);
	CHECK(k8s_store_apply_event(st, K8S_SERVICES, base_svc,
				    strlen(base_svc), &info) == AS_OK);
	CHECK(k8s_store_apply_event(st, K8S_SLICES, base_slice,
				    strlen(base_slice), &info) == AS_OK);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	k8s_store_t *st;

	as_log_set_level(AS_LOG_ERR);
	for (int kind = 0; kind < K8S_N_KINDS; kind++) {
		st = base_store();
		step_list(st, kind, p, size);
		k8s_store_free(st);
	}
	/* Line by line, each line to both kinds, as a stream would. */
	st = base_store();
	for (size_t off = 0; off < size;) {
		const char *nl = memchr(p + off, '\n', size - off);
		size_t n = nl ? (size_t)(nl - (p + off)) : size - off;

		for (int kind = 0; kind < K8S_N_KINDS; kind++)
			step_event(st, kind, p + off, n);
		off += n + 1;
	}
	k8s_store_free(st);
	return 0;
}
