/* Prometheus rendering: a pure function of the snapshot and DNS counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/metrics.h"

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
	st.by_objective[DNS_OBJ_BALANCE] = 21;
	st.by_objective[DNS_OBJ_LOCALITY] = 22;
	st.by_objective[DNS_OBJ_RESILIENCE] = 23;
	st.by_objective[DNS_OBJ_LATENCY] = 24;
	st.spill_overs = 25;
	st.ecs_queries = 26;

	char *t = agent_metrics_render(&s, &st, NULL, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "anysteer_build_info{version=\"" PACKAGE_VERSION "\",node=\"node7\"} 1\n"));
	assert_float_equal(sample(t, "anysteer_uptime_seconds"), 42, 0);
	assert_float_equal(sample(t, "anysteer_dns_queries_total{transport=\"udp\"}"), 10, 0);
	assert_float_equal(sample(t, "anysteer_dns_queries_total{transport=\"tcp\"}"), 2, 0);
	assert_float_equal(sample(t, "anysteer_dns_tcp_connections_total{result=\"evicted\"}"), 11, 0);
	assert_float_equal(sample(t, "anysteer_dns_tcp_connections_total{result=\"message_timeout\"}"), 12, 0);
	assert_float_equal(sample(t, "anysteer_dns_tcp_accept_errors_total"), 13, 0);
	/* issue 16: answers per objective, spill-overs, ECS queries */
	assert_float_equal(sample(t, "anysteer_dns_answers_by_objective_total{objective=\"balance\"}"), 21, 0);
	assert_float_equal(sample(t, "anysteer_dns_answers_by_objective_total{objective=\"locality\"}"), 22, 0);
	assert_float_equal(sample(t, "anysteer_dns_answers_by_objective_total{objective=\"resilience\"}"), 23, 0);
	assert_float_equal(sample(t, "anysteer_dns_answers_by_objective_total{objective=\"latency\"}"), 24, 0);
	assert_float_equal(sample(t, "anysteer_dns_spill_overs_total"), 25, 0);
	assert_float_equal(sample(t, "anysteer_dns_ecs_queries_total"), 26, 0);
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
	t = agent_metrics_render(&s, &st, NULL, &len);
	assert_null(strstr(t, "anysteer_load_psi_cpu_some_avg10 "));
	assert_null(strstr(t, "anysteer_http_"));	/* no listener */
	free(t);

	/* The HTTP listener's own counters, when it runs. */
	s.http = (struct agent_http_snap){ .enabled = true, .max_connections = 64,
					   .active = 3, .accepted = 100, .refused = 9, .deadline = 7,
					   .evicted = 5, .accept_errors = 2 };
	t = agent_metrics_render(&s, &st, NULL, &len);
	assert_float_equal(sample(t, "anysteer_http_connections_total{result=\"accepted\"}"), 100, 0);
	assert_float_equal(sample(t, "anysteer_http_connections_total{result=\"refused\"}"), 9, 0);
	assert_float_equal(sample(t, "anysteer_http_connections_total{result=\"deadline\"}"), 7, 0);
	assert_float_equal(sample(t, "anysteer_http_connections_total{result=\"evicted\"}"), 5, 0);
	assert_float_equal(sample(t, "anysteer_http_accept_errors_total"), 2, 0);
	assert_float_equal(sample(t, "anysteer_http_active_connections"), 3, 0);
	assert_float_equal(sample(t, "anysteer_http_max_connections"), 64, 0);
	assert_non_null(strstr(t, "# TYPE anysteer_http_connections_total counter\n"));
	free(t);
}

/* Slot i from address 10.0.0.a, its current request started at since. */
static void conn(struct agent_http_conn *c, size_t i, uint8_t a, uint64_t since)
{
	c[i] = (struct agent_http_conn){ .used = true, .started = true, .family = AF_INET,
					 .fd = (int)i + 100, .since_ms = since };
	c[i].addr[0] = 10;
	c[i].addr[3] = a;
}

#define NOW 100000

/* agent_http_pick_victim at NOW, without a minimum age. */
static int pick(const struct agent_http_conn *c, size_t nu, unsigned total,
		unsigned per_ip)
{
	struct agent_http_limits l = { total, per_ip, 0 };
	return agent_http_pick_victim(c, 8, nu, &l, NOW);
}

/* Who is shut down to keep within the soft limits (agent_http_pick_victim). */
static void test_pick_victim(void **state)
{
	struct agent_http_conn c[8];

	(void)state;
	memset(c, 0, sizeof(c));
	/* Within the limits, per address and overall: nobody. */
	conn(c, 0, 1, 100);
	conn(c, 1, 1, 50);
	conn(c, 2, 2, 10);
	assert_int_equal(pick(c, 1, 8, 2), -1);
	/* A third from address 1, one more than it may keep: the oldest
	 * other of address 1 goes (slot 1), not the older one of address 2. */
	conn(c, 3, 1, 200);
	assert_int_equal(pick(c, 3, 8, 2), 1);
	/* A closing connection neither counts nor is picked again. */
	c[1].closing = true;
	assert_int_equal(pick(c, 3, 8, 2), -1);
	/* One not yet started by libmicrohttpd counts but is not picked. */
	c[2].started = false;
	conn(c, 5, 1, 300);
	assert_int_equal(pick(c, 5, 8, 2), 0);
	c[2].started = true;
	c[5].used = false;
	/* One more than the total: the oldest of any address (slot 2),
	 * never the newcomer, even when it is the oldest by the clock. */
	conn(c, 4, 3, 5);
	assert_int_equal(pick(c, 4, 3, 8), 2);
	c[4].since_ms = 1;
	assert_int_equal(pick(c, 4, 3, 8), 2);
	/* The same bytes in another family are another address. */
	memset(c, 0, sizeof(c));
	conn(c, 0, 1, 10);
	conn(c, 1, 1, 20);
	c[1].family = AF_INET6;
	assert_int_equal(pick(c, 1, 8, 1), -1);
	/* A probe that shares the attacker's address: the attacker's
	 * oldest goes, and the probe (newest) survives the next arrivals
	 * until all older ones have gone. */
	memset(c, 0, sizeof(c));
	for (size_t i = 0; i < 4; i++)
		conn(c, i, 9, 1000 + i);	/* attacker */
	assert_int_equal(pick(c, 3, 64, 3), 0);
	c[0].closing = true;
	conn(c, 4, 9, 2000);			/* the probe */
	assert_int_equal(pick(c, 4, 64, 3), 1);
	c[1].closing = true;
	conn(c, 5, 9, 2001);			/* attacker again */
	assert_int_equal(pick(c, 5, 64, 3), 2);
	/* One whose request is in is not evicted: the next oldest goes. */
	c[2].closing = true;
	c[3].answering = true;
	conn(c, 6, 9, 2002);
	assert_int_equal(pick(c, 6, 64, 3), 4);
	/* Younger than the minimum age: not picked, the next older is. */
	memset(c, 0, sizeof(c));
	conn(c, 0, 1, NOW - 100);
	conn(c, 1, 1, NOW - 20);
	conn(c, 2, 1, NOW);
	struct agent_http_limits l = { 8, 1, 50 };
	assert_int_equal(agent_http_pick_victim(c, 8, 2, &l, NOW), 0);
	c[0].closing = true;
	assert_int_equal(agent_http_pick_victim(c, 8, 2, &l, NOW), -1);
	assert_int_equal(agent_http_pick_victim(c, 8, 2, &l, NOW + 30), 1);
	/* Nothing else open: nothing to pick. */
	memset(c, 0, sizeof(c));
	conn(c, 0, 1, 10);
	assert_int_equal(pick(c, 0, 0, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_pick_victim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
