/*
 * tests/unit/test_name_rules.c - the layers that take a service name from
 * outside agree with dns/name.c, the rule's owner.
 *
 * k8s/ may not include dns/ (the include direction is lib <- dns, k8s <-
 * agent), so the Kubernetes annotation filter repeats the label rule to
 * count bad hostnames per Service. This test keeps the copy honest: for
 * every label of a set, the store drops the hostname <label>.<zone>
 * exactly when dns_name_label_problem() refuses the label. The same
 * goes for the intent annotations' words (dns_objective_parse,
 * dns_spread_parse) and for the Node's zone label (k8s/node.c takes a
 * value exactly when dns_topo_zone_problem() accepts it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "k8s/k8s.h"
#include "lib/as.h"

#define ZONE "svc.example.net"

static const char *const labels[] = {
	"web", "Web", "WEB-1", "3d", "a", "0", "my_svc", "_web", "web-",
	"-web", "-", "we b", "caf\xc3\xa9", "a*b", "ns",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

/* Whether the store keeps <label>.ZONE from a Service's annotation. */
static bool k8s_keeps(const char *label)
{
	k8s_store_t *s = NULL;
	struct k8s_event_info info;
	struct k8s_store_stats st;
	char json[1024];
	int n;

	assert_int_equal(k8s_store_new(ZONE, "node-a", &s), AS_OK);
	n = snprintf(json, sizeof(json),
		     "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\","
		     "\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\","
		     "\"namespace\":\"ns1\",\"resourceVersion\":\"1\","
		     "\"annotations\":{\"anysteer.io/hostname\":\"%s." ZONE
		     "\"}},\"spec\":{\"ports\":[{\"protocol\":\"TCP\","
		     "\"port\":80}]}}}", label);
	assert_true(n > 0 && (size_t)n < sizeof(json));
	assert_int_equal(k8s_store_apply_event(s, K8S_SERVICES, json,
					       (size_t)n, &info), AS_OK);
	k8s_store_stats(s, &st);
	k8s_store_free(s);
	assert_true(st.bad_hostnames <= 1);
	return st.bad_hostnames == 0;
}

static void test_k8s_agrees(void **state)
{
	size_t kept = 0;
	(void)state;

	for (size_t i = 0; i < AS_ARRAY_SIZE(labels); i++) {
		bool rule = dns_name_label_problem(labels[i]) == NULL;
		if (k8s_keeps(labels[i]) != rule)
			fail_msg("label \"%s\": dns/ says %s, the k8s "
				 "annotation filter %s", labels[i],
				 rule ? "valid" : "invalid",
				 rule ? "drops it" : "keeps it");
		kept += rule;
	}
	assert_true(kept > 0 && kept < AS_ARRAY_SIZE(labels));
}

/* Applies Service s annotated with hostname web.ZONE and the extra
 * annotations ann (JSON members, leading comma); whether the store took
 * it, and its entry's intent in *e (objective, spread strdup'd). */
static bool k8s_intent(const char *ann, char **objective, char **spread,
		       double *spill)
{
	k8s_store_t *s = NULL;
	struct k8s_event_info info;
	struct k8s_set set = { 0 };
	char json[1024];
	int n, rc;

	*objective = *spread = NULL;
	*spill = -2;
	assert_int_equal(k8s_store_new(ZONE, "node-a", &s), AS_OK);
	n = snprintf(json, sizeof(json),
		     "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\","
		     "\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\","
		     "\"namespace\":\"ns1\",\"resourceVersion\":\"1\","
		     "\"annotations\":{\"anysteer.io/hostname\":\"web." ZONE
		     "\"%s}},\"spec\":{\"ports\":[{\"protocol\":\"TCP\","
		     "\"port\":80}]}}}", ann);
	assert_true(n > 0 && (size_t)n < sizeof(json));
	rc = k8s_store_apply_event(s, K8S_SERVICES, json, (size_t)n, &info);
	assert_int_equal(k8s_store_build(s, &set), AS_OK);
	if (rc == AS_OK) {
		assert_int_equal(set.n_entries, 1);
		const struct k8s_entry *e = &set.entries[0];
		*objective = e->objective ? strdup(e->objective) : NULL;
		*spread = e->spread ? strdup(e->spread) : NULL;
		*spill = e->spill_over;
	} else {
		assert_int_equal(set.n_entries, 0);
	}
	k8s_set_free(&set);
	k8s_store_free(s);
	return rc == AS_OK;
}

/* The intent annotations take exactly the words dns/ knows, and only
 * with the objective that reads them, as the configuration does. */
static void test_k8s_intent_agrees(void **state)
{
	static const char *const words[] = {
		"balance", "locality", "resilience", "latency", "Locality",
		"nearest", "", "locality ", "node", "zone", "rack",
	};
	char ann[256], *o, *sp;
	double spill;

	(void)state;
	for (size_t i = 0; i < AS_ARRAY_SIZE(words); i++) {
		bool rule = dns_objective_parse(words[i]) >= 0;
		snprintf(ann, sizeof(ann), ",\"anysteer.io/objective\":\"%s\"",
			 words[i]);
		if (k8s_intent(ann, &o, &sp, &spill) != rule)
			fail_msg("objective \"%s\": dns/ says %s, k8s/ differs",
				 words[i], rule ? "valid" : "invalid");
		if (rule)
			assert_string_equal(o, words[i]);
		free(o);
		free(sp);
		rule = dns_spread_parse(words[i]) >= 0;
		snprintf(ann, sizeof(ann), ",\"anysteer.io/objective\":"
			 "\"resilience\",\"anysteer.io/spread\":\"%s\"", words[i]);
		if (k8s_intent(ann, &o, &sp, &spill) != rule)
			fail_msg("spread \"%s\": dns/ says %s, k8s/ differs",
				 words[i], rule ? "valid" : "invalid");
		if (rule)
			assert_string_equal(sp, words[i]);
		free(o);
		free(sp);
	}
	assert_true(k8s_intent("", &o, &sp, &spill));
	assert_null(o);
	assert_true(spill < 0);
	assert_true(k8s_intent(",\"anysteer.io/objective\":\"locality\","
			       "\"anysteer.io/spill-over\":\"0.25\"", &o, &sp, &spill));
	assert_true(spill == 0.25);
	free(o);
	/* latency reads a spill-over of its own */
	assert_true(k8s_intent(",\"anysteer.io/objective\":\"latency\","
			       "\"anysteer.io/spill-over\":\"0.5\"", &o, &sp, &spill));
	assert_true(spill == 0.5);
	assert_string_equal(o, "latency");
	free(o);
	/* spill-over out of range, not a number, or without locality or
	 * latency */
	assert_false(k8s_intent(",\"anysteer.io/objective\":\"locality\","
				"\"anysteer.io/spill-over\":\"1.5\"", &o, &sp, &spill));
	assert_false(k8s_intent(",\"anysteer.io/objective\":\"locality\","
				"\"anysteer.io/spill-over\":\"nan\"", &o, &sp, &spill));
	assert_false(k8s_intent(",\"anysteer.io/spill-over\":\"0.5\"", &o,
				&sp, &spill));
	assert_false(k8s_intent(",\"anysteer.io/objective\":\"resilience\","
				"\"anysteer.io/spill-over\":\"0.5\"", &o, &sp, &spill));
	assert_false(k8s_intent(",\"anysteer.io/spread\":\"zone\"", &o, &sp,
				&spill));
}

/* The Node's topology.kubernetes.io/zone label: the same rule as node.zone. */
static void test_k8s_zone_agrees(void **state)
{
	static const char *const zones[] = {
		"a", "eu-west-1a", "Zone_1.b", "a.b", "0", "-a", "a-", "_a",
		"a_", ".a", "a.", "a b", "a/b", "a*b", "caf\xc3\xa9",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char json[512], name[64], zone[K8S_ZONE_MAX + 1];

	(void)state;
	for (size_t i = 0; i < AS_ARRAY_SIZE(zones); i++) {
		int n = snprintf(json, sizeof(json), "{\"kind\":\"Node\",\"metadata\":"
				 "{\"name\":\"n\",\"labels\":{\"" K8S_LABEL_ZONE
				 "\":\"%s\"}}}", zones[i]);
		int rc = k8s_node_zone_parse(json, (size_t)n, name, sizeof(name), zone);

		if ((rc == AS_OK) != (dns_topo_zone_problem(zones[i]) == NULL))
			fail_msg("zone \"%s\": the Node label says %d, node.zone %s",
				 zones[i], rc, dns_topo_zone_problem(zones[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_k8s_agrees),
		cmocka_unit_test(test_k8s_intent_agrees),
		cmocka_unit_test(test_k8s_zone_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
