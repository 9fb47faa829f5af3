/* Prometheus rendering: a pure function of the snapshot and DNS counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/daemon.h"

/* Value of the sample line that starts with `series ` (exact series). */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	fail_msg("series %s not found", series);
	return -1;
}

static void test_render(void **state)
{
	struct agent_snapshot s = { .uptime_s = 42, .reloads_ok = 3, .reloads_failed = 1,
				    .n_services = 2, .n_endpoints = 5 };
	struct dns_stats st = { 0 };
	size_t len = 0;

	strcpy(s.node, "node7");
	s.load.cpu_util = 0.25;
	s.load.factor = 0.5;
	s.load.ncpu = 4;
	s.load.have_psi = true;
	s.load.psi_some_avg10 = 3.5;
	st.udp_queries = 10;
	st.tcp_queries = 2;
	st.tcp_evicted = 11;
	st.tcp_msg_timeouts = 12;
	st.tcp_accept_errors = 13;
	st.by_qtype[DNS_QT_AAAA] = 9;
	st.by_rcode[3] = 4;
	st.by_rcode[DNS_RCODE_BADVERS] = 2;
	st.malformed[DNS_MAL_NAME] = 6;
	st.latency[0] = 5;
	st.latency[3] = 2;
	st.latency[DNS_LAT_BUCKETS - 1] = 1;
	st.latency_sum_ns = 1500000000ull;

	char *t = agent_metrics_render(&s, &st, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "anysteer_build_info{version=\"" PACKAGE_VERSION "\",node=\"node7\"} 1\n"));
	assert_float_equal(sample(t, "anysteer_uptime_seconds"), 42, 0);
	assert_float_equal(sample(t, "anysteer_dns_queries_total{transport=\"udp\"}"), 10, 0);
	assert_float_equal(sample(t, "anysteer_dns_queries_total{transport=\"tcp\"}"), 2, 0);
	assert_float_equal(sample(t, "anysteer_dns_tcp_connections_total{result=\"evicted\"}"), 11, 0);
	assert_float_equal(sample(t, "anysteer_dns_tcp_connections_total{result=\"message_timeout\"}"), 12, 0);
	assert_float_equal(sample(t, "anysteer_dns_tcp_accept_errors_total"), 13, 0);
	assert_float_equal(sample(t, "anysteer_dns_queries_by_qtype_total{qtype=\"AAAA\"}"), 9, 0);
	assert_float_equal(sample(t, "anysteer_dns_responses_total{rcode=\"NXDOMAIN\"}"), 4, 0);
	assert_float_equal(sample(t, "anysteer_dns_malformed_total{reason=\"name\"}"), 6, 0);
	assert_float_equal(sample(t, "anysteer_dns_responses_total{rcode=\"BADVERS\"}"), 2, 0);
	/* Histogram buckets are cumulative and end in +Inf == _count. */
	assert_float_equal(sample(t, "anysteer_dns_answer_duration_seconds_bucket{le=\"1e-06\"}"), 5, 0);
	assert_float_equal(sample(t, "anysteer_dns_answer_duration_seconds_bucket{le=\"+Inf\"}"), 8, 0);
	assert_float_equal(sample(t, "anysteer_dns_answer_duration_seconds_count"), 8, 0);
	assert_float_equal(sample(t, "anysteer_dns_answer_duration_seconds_sum"), 1.5, 1e-9);
	assert_float_equal(sample(t, "anysteer_load_factor"), 0.5, 1e-9);
	assert_float_equal(sample(t, "anysteer_load_psi_cpu_some_avg10"), 3.5, 1e-9);
	assert_float_equal(sample(t, "anysteer_config_reloads_total{result=\"failed\"}"), 1, 0);
	/* Every sample's metric has HELP and TYPE lines before it. */
	for (const char *p = t; *p; p = strchr(p, '\n') + 1) {
		if (*p != '#') {
			char name[128];
			size_t n = strcspn(p, "{ ");
			assert_true(n < sizeof(name));
			memcpy(name, p, n);
			name[n] = 0;
			char *suffix = strstr(name, "_bucket");
			if (!suffix) suffix = strstr(name, "_sum");
			if (!suffix) suffix = strstr(name, "_count");
			if (suffix && strstr(name, "duration"))
				*suffix = 0;
			char want[200];
			snprintf(want, sizeof(want), "# TYPE %s ", name);
			assert_non_null(strstr(t, want));
		}
		if (!strchr(p, '\n'))
			break;
	}
	free(t);

	/* Without PSI the PSI gauge is absent rather than a fake 0. */
	s.load.have_psi = false;
	t = agent_metrics_render(&s, &st, &len);
	assert_null(strstr(t, "anysteer_load_psi_cpu_some_avg10 "));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
