/* The shares `anysteerctl services` shows: what the sampler draws,
 * fallbacks included, in one order on every node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "agent/report.h"
#include "lib/as.h"

static struct dns_endpoint_info ep(int family, uint8_t last, uint32_t weight,
				   double lf, bool healthy)
{
	struct dns_endpoint_info e = { .family = family, .weight = weight,
				       .load_factor = lf, .healthy = healthy,
				       .node = "n" };
	e.addr[15] = last;
	e.effective_weight = healthy ? weight * lf : 0;
	return e;
}

static void test_shares(void **state)
{
	(void)state;
	double share[4];
	struct dns_endpoint_info eps[4];

	/* Weighted: 100 x 1.0, 300 x 0.5, one down. */
	eps[0] = ep(AF_INET6, 1, 100, 1.0, true);
	eps[1] = ep(AF_INET6, 2, 300, 0.5, true);
	eps[2] = ep(AF_INET6, 3, 100, 1.0, false);
	eps[3] = ep(AF_INET, 4, 100, 1.0, true);
	assert_int_equal(agent_answer_shares(eps, 4, AF_INET6, share), AGENT_ANSWER_WEIGHTED);
	assert_float_equal(share[0], 0.4, 1e-9);
	assert_float_equal(share[1], 0.6, 1e-9);
	assert_float_equal(share[2], 0, 1e-9);
	/* The IPv4 endpoint is its family's only one. */
	assert_int_equal(agent_answer_shares(eps, 4, AF_INET, share), AGENT_ANSWER_WEIGHTED);
	assert_float_equal(share[3], 1, 1e-9);

	/* Every healthy IPv6 endpoint at factor 0: those, by configured
	 * weight (dns/policy.c's fill tier); the down ones never. */
	eps[0] = ep(AF_INET6, 1, 100, 0.0, true);
	eps[1] = ep(AF_INET6, 2, 300, 0.0, true);
	eps[2] = ep(AF_INET6, 3, 100, 1.0, false);
	assert_int_equal(agent_answer_shares(eps, 3, AF_INET6, share),
			 AGENT_ANSWER_LOADED);
	assert_float_equal(share[0], 0.25, 1e-9);
	assert_float_equal(share[1], 0.75, 1e-9);
	assert_float_equal(share[2], 0, 1e-9);

	/* None healthy with a weight: fail open, the configured weights. */
	eps[0] = ep(AF_INET6, 1, 100, 0.0, false);
	eps[1] = ep(AF_INET6, 2, 300, 1.0, false);
	eps[2] = ep(AF_INET6, 3, 100, 1.0, false);
	assert_int_equal(agent_answer_shares(eps, 3, AF_INET6, share),
			 AGENT_ANSWER_FALLBACK_CONFIGURED);
	assert_float_equal(share[0], 0.2, 1e-9);
	assert_float_equal(share[1], 0.6, 1e-9);
	assert_float_equal(share[2], 0.2, 1e-9);

	/* And every configured weight 0: all alike. */
	eps[0] = ep(AF_INET6, 1, 0, 1.0, true);
	eps[1] = ep(AF_INET6, 2, 0, 1.0, false);
	assert_int_equal(agent_answer_shares(eps, 2, AF_INET6, share),
			 AGENT_ANSWER_FALLBACK_UNIFORM);
	assert_float_equal(share[0], 0.5, 1e-9);
	assert_float_equal(share[1], 0.5, 1e-9);

	/* A factor the view turns into 0 (below 1/131072) is 0 here too. */
	eps[0] = ep(AF_INET6, 1, 100, 1e-6, true);
	eps[1] = ep(AF_INET6, 2, 100, 0.0, true);
	assert_int_equal(agent_answer_shares(eps, 2, AF_INET6, share),
			 AGENT_ANSWER_LOADED);

	assert_int_equal(agent_answer_shares(eps, 2, AF_INET, share), AGENT_ANSWER_NONE);
	assert_string_equal(agent_answer_mode_name(AGENT_ANSWER_FALLBACK_UNIFORM),
			    "fallback-uniform");
}

/* Services by name, endpoints by node and address, whatever the view's
 * order (a node lists its own endpoints first). */
static void test_order(void **state)
{
	(void)state;
	struct dns_endpoint_spec b[3] = {
		{ .family = AF_INET6, .weight = 100, .node = "zeta", .load_factor = 1, .healthy = true },
		{ .family = AF_INET6, .weight = 100, .node = "alpha", .load_factor = 0.123456, .healthy = true },
		{ .family = AF_INET6, .weight = 100, .node = "alpha", .load_factor = 1, .healthy = false },
	};
	b[0].addr[15] = 1;
	b[1].addr[15] = 9;
	b[2].addr[15] = 2;
	struct dns_service_spec svcs[2] = {
		{ .name = "web", .port = 80, .endpoints = b, .n_endpoints = 3 },
		{ .name = "api", .port = 443, .endpoints = b, .n_endpoints = 1 },
	};
	struct dns_view_spec spec = { .zone = "svc.example.", .node_name = "zeta",
				      .services = svcs, .n_services = 2 };
	dns_view_t *v = NULL;
	assert_int_equal(dns_view_new(&spec, &v), AS_OK);
	json_t *cpu = json_pack("{s:f}", "alpha", 0.25);
	json_t *arr = agent_services_json(v, cpu);
	assert_int_equal(json_array_size(arr), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "name")), "api");
	json_t *web = json_array_get(arr, 1), *eps = json_object_get(web, "endpoints");
	const char *want[] = { "::2", "::9", "::1" };
	for (size_t j = 0; j < 3; j++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(eps, j),
								    "address")), want[j]);
	json_t *e = json_array_get(eps, 1);
	/* Rounded: factor to 1/1000, share to 1/10000. */
	assert_float_equal(json_real_value(json_object_get(e, "load_factor")), 0.123, 1e-12);
	assert_float_equal(json_real_value(json_object_get(e, "share")),
			   round(12.3456 / 112.3456 * 1e4) / 1e4, 1e-12);
	assert_float_equal(json_real_value(json_object_get(e, "cpu_utilisation")), 0.25, 1e-12);
	assert_true(json_is_null(json_object_get(json_array_get(eps, 2), "cpu_utilisation")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(web, "answer_mode"),
							      "AAAA")), "weighted");
	assert_string_equal(json_string_value(json_object_get(json_object_get(web, "intent"),
							      "objective")), "balance");
	json_decref(arr);
	json_decref(cpu);
	dns_view_unref(v);
}

/* A service with an intent shows it, and no balance share (the intent,
 * not the weights alone, decides the first answer). */
static void test_intent(void **state)
{
	(void)state;
	struct dns_endpoint_spec b[2] = {
		{ .family = AF_INET6, .weight = 100, .node = "a1", .zone = "a",
		  .load_factor = 0.125, .healthy = true },
		{ .family = AF_INET6, .weight = 100, .node = "b1", .zone = "b",
		  .load_factor = 1, .healthy = true },
	};
	b[0].addr[15] = 1;
	b[1].addr[15] = 2;
	struct dns_service_spec svc = {
		.name = "web", .port = 80, .endpoints = b, .n_endpoints = 2,
		.intent = { DNS_OBJ_LOCALITY, 0.75, 0 },
	};
	struct dns_view_spec spec = { .zone = "svc.example.", .node_name = "a1",
				      .node_zone = "a", .services = &svc,
				      .n_services = 1 };
	dns_view_t *v = NULL;
	assert_int_equal(dns_view_new(&spec, &v), AS_OK);
	json_t *arr = agent_services_json(v, NULL);
	json_t *in = json_object_get(json_array_get(arr, 0), "intent");
	assert_string_equal(json_string_value(json_object_get(in, "objective")), "locality");
	assert_float_equal(json_real_value(json_object_get(in, "zone_load")), 0.875, 1e-9);
	assert_float_equal(json_real_value(json_object_get(in, "spill_over")), 0.75, 1e-9);
	/* s = 0.5: 50 of 62.5 leaves the zone */
	assert_float_equal(json_real_value(json_object_get(in, "spill")), 0.8, 1e-9);
	json_t *eps = json_object_get(json_array_get(arr, 0), "endpoints");
	/* the plan's shares: 12.5 and 50 of 62.5 */
	json_t *a1 = json_array_get(eps, 0), *b1 = json_array_get(eps, 1);
	assert_float_equal(json_real_value(json_object_get(a1, "share")), 0.2, 1e-9);
	assert_float_equal(json_real_value(json_object_get(b1, "share")), 0.8, 1e-9);
	assert_string_equal(json_string_value(json_object_get(b1, "zone")), "b");
	assert_int_equal(json_integer_value(json_object_get(b1, "rank")), 0);
	json_decref(arr);

	/* explain: the same service, with a line that says why */
	json_t *x = agent_explain_json(v, "WEB", "a", NULL, NULL);
	assert_non_null(x);
	const char *why = json_string_value(json_object_get(x, "explanation"));
	assert_non_null(strstr(why, "locality from zone a"));
	assert_non_null(strstr(why, "past spill_over 0.750, so 80.0% of first answers leave it"));
	assert_string_equal(json_string_value(json_object_get(x, "node_zone")), "a");
	assert_int_equal(json_array_size(json_object_get(x, "endpoints")), 2);
	json_decref(x);
	x = agent_explain_json(v, "web", NULL, NULL, NULL);
	assert_non_null(strstr(json_string_value(json_object_get(x, "explanation")),
			       "the answering node has no zone: answered as balance"));
	json_decref(x);
	assert_null(agent_explain_json(v, "nosuch", "a", NULL, NULL));
	dns_view_unref(v);

	/* latency shows its own spill_over (its fitness threshold) */
	svc.intent = (struct dns_intent){ DNS_OBJ_LATENCY, 0.4, 0 };
	v = NULL;
	assert_int_equal(dns_view_new(&spec, &v), AS_OK);
	arr = agent_services_json(v, NULL);
	in = json_object_get(json_array_get(arr, 0), "intent");
	assert_string_equal(json_string_value(json_object_get(in, "objective")), "latency");
	assert_float_equal(json_real_value(json_object_get(in, "spill_over")), 0.4, 1e-9);
	assert_null(json_object_get(in, "zone_load"));
	json_decref(arr);
	dns_view_unref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_intent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
