/*
 * tests/unit/test_name_rules.c - the layers that take a service name from
 * outside agree with dns/name.c, the rule's owner.
 *
 * k8s/ may not include dns/ (the include direction is lib <- dns, k8s <-
 * agent), so the Kubernetes annotation filter repeats the label rule to
 * count bad hostnames per Service. This test keeps the copy honest: for
 * every label of a set, the store drops the hostname <label>.<zone>
 * exactly when dns_name_label_problem() refuses the label.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_k8s_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
