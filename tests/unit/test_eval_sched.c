/*
 * tests/unit/test_eval_sched.c - the open-loop schedule and the results
 * it feeds, on simulated time.
 *
 * The central case is coordinated omission: a server (and, worse, the
 * load generator's own loop) stalls for 500 ms. Every request scheduled
 * during the stall must be counted from its scheduled time, so the stall
 * shows in p99 and max; measured from the actual send time it would
 * vanish, which the test shows too.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

#define MS 1000000ull
#define S EVAL_NS_PER_S

static void test_constant(void **state)
{
	eval_sched_t *s = eval_sched_new(EVAL_ARRIVAL_CONSTANT, 1000, 2 * S, 1);
	uint64_t t, seq, n = 0;

	assert_non_null(s);
	assert_int_equal(eval_sched_next(s), 0);
	/* Nothing is due before its time. */
	assert_true(eval_sched_due(s, 0, &t, &seq));
	assert_false(eval_sched_due(s, MS - 1, &t, &seq));
	assert_true(eval_sched_due(s, MS, &t, &seq));
	assert_int_equal(t, MS);
	assert_int_equal(seq, 1);
	n = 2;
	while (eval_sched_due(s, UINT64_MAX - 1, &t, &seq)) {
		assert_int_equal(seq, n);
		assert_int_equal(t, n * MS);
		n++;
	}
	assert_int_equal(n, 2000);	/* [0, 2 s) at 1000/s */
	assert_int_equal(eval_sched_next(s), EVAL_SCHED_END);
	assert_int_equal(eval_sched_issued(s), 2000);
	eval_sched_free(s);

	/* A non-integer period does not drift: request k at k / rate. */
	s = eval_sched_new(EVAL_ARRIVAL_CONSTANT, 3, 10 * S, 1);
	for (n = 0; eval_sched_due(s, UINT64_MAX - 1, &t, &seq); n++)
		assert_true(llabs((long long)t - (long long)(n * S / 3)) <= 1);
	assert_int_equal(n, 30);
	eval_sched_free(s);

	assert_null(eval_sched_new(EVAL_ARRIVAL_CONSTANT, 0, S, 1));
	assert_null(eval_sched_new(EVAL_ARRIVAL_POISSON, -5, S, 1));
	assert_null(eval_sched_new(EVAL_ARRIVAL_POISSON, NAN, S, 1));
}

static void test_poisson(void **state)
{
	const double rate = 5000;
	eval_sched_t *a = eval_sched_new(EVAL_ARRIVAL_POISSON, rate, 20 * S, 7);
	eval_sched_t *b = eval_sched_new(EVAL_ARRIVAL_POISSON, rate, 20 * S, 7);
	eval_sched_t *c = eval_sched_new(EVAL_ARRIVAL_POISSON, rate, 20 * S, 8);
	uint64_t t, tb, tc, seq, prev = 0, n = 0, differ = 0;
	double sum = 0, sumsq = 0;

	while (eval_sched_due(a, UINT64_MAX - 1, &t, &seq)) {
		assert_true(eval_sched_due(b, UINT64_MAX - 1, &tb, &seq));
		assert_int_equal(t, tb);	/* same seed, same run */
		if (eval_sched_due(c, UINT64_MAX - 1, &tc, &seq) && tc != t)
			differ++;
		assert_true(t >= prev);
		double gap = (double)(t - prev) / 1e9;
		sum += gap;
		sumsq += gap * gap;
		prev = t;
		n++;
	}
	/* 100000 expected; Poisson sd is ~316. */
	assert_true(fabs((double)n - 100000) < 2000);
	double mean = sum / (double)n;
	double sd = sqrt(sumsq / (double)n - mean * mean);
	assert_true(fabs(mean * rate - 1) < 0.02);
	/* Exponential gaps: standard deviation equals the mean. */
	assert_true(fabs(sd / mean - 1) < 0.03);
	assert_true(differ > n / 2);
	eval_sched_free(a);
	eval_sched_free(b);
	eval_sched_free(c);
}

static void test_late_wake_gets_every_missed_request(void **state)
{
	eval_sched_t *s = eval_sched_new(EVAL_ARRIVAL_CONSTANT, 100, 10 * S, 1);
	uint64_t t, seq, n = 0;

	/* The caller sleeps through 1 s: it gets the 100 missed requests,
	 * each with its own time, in order. */
	while (eval_sched_due(s, S - 1, &t, &seq)) {
		assert_int_equal(t, n * 10 * MS);
		n++;
	}
	assert_int_equal(n, 100);
	assert_int_equal(eval_sched_next(s), S);
	eval_sched_free(s);
}

/*
 * Simulated run: 1000 requests/s for 3 s against one FIFO server with
 * 100 us service time that stalls during [1.0 s, 1.5 s). The load
 * generator's loop wakes every millisecond, except that in the second
 * variant it is stalled too (no wake-ups during the stall) and catches up
 * at 1.5 s, the worst case for a generator that sends late.
 */
static void simulate(bool loop_stalls, eval_results_t *r, eval_hist_t *co,
		     uint64_t *over_250ms)
{
	const uint64_t stall_start = S, stall_end = S + 500 * MS;
	const uint64_t service = 100000;	/* 100 us */
	eval_sched_t *s = eval_sched_new(EVAL_ARRIVAL_CONSTANT, 1000, 3 * S, 1);
	uint64_t server_free = 0, t, seq;

	*over_250ms = 0;
	for (uint64_t now = 0; now < 4 * S; now += MS) {
		if (loop_stalls && now >= stall_start && now < stall_end)
			continue;
		while (eval_sched_due(s, now, &t, &seq)) {
			uint64_t send = now;	/* sent when the loop ran */
			uint64_t start = send > server_free ? send : server_free;
			if (start >= stall_start && start < stall_end)
				start = stall_end;
			uint64_t done = start + service;
			server_free = done;
			eval_results_scheduled(r, t);
			eval_results_sent(r, t);
			struct eval_outcome o = {
				.t_sched = t, .t_write = send,
				.t_first = done - 10000, .t_done = done,
				.pod = "pod-a", .addr = (const uint8_t *)"0123456789abcdef",
			};
			eval_results_ok(r, &o);
			/* What a closed-loop / send-time measurement sees. */
			eval_hist_record(co, (done - send) / 1000);
			if (done - t >= 250 * MS)
				(*over_250ms)++;
		}
	}
	eval_sched_free(s);
}

static void check_stall(bool loop_stalls)
{
	eval_results_t *r = eval_results_new(3 * S, 0);
	eval_hist_t *co = eval_hist_new(EVAL_HIST_BITS);
	uint64_t over;

	simulate(loop_stalls, r, co, &over);
	const eval_hist_t *total = eval_results_hist(r, EVAL_H_TOTAL);
	assert_int_equal(eval_hist_count(total), 3000);
	assert_int_equal(eval_results_count(r, EVAL_C_OK), 3000);
	/* Every request scheduled in [1.0, 1.25) waited at least 250 ms, and
	 * a few more behind them in the server's backlog (278 exactly). */
	assert_in_range(over, 250, 300);
	/* The first request of the stall waited its full 500 ms; 100
	 * requests (3.3 %) waited over 400 ms, so p99 is there too. */
	assert_true(eval_hist_max(total) >= 500000);
	assert_true(eval_hist_percentile(total, 990000) >= 400000);
	assert_true(eval_hist_percentile(total, 900000) >= 100000);
	/* Outside the stall the median stays at the service time. */
	assert_true(eval_hist_percentile(total, 500000) < 1000);
	if (loop_stalls) {
		/* Measured from the actual send time, the stall disappears:
		 * the backlog drains in 50 ms. That is the error the
		 * scheduled-time measurement avoids. */
		assert_true(eval_hist_max(co) < 60000);
		assert_true(eval_hist_percentile(co, 990000) < 60000);
	}

	/* The per-second series shows the stall in second 1 only. */
	char path[] = "/tmp/test_eval_sched.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(eval_results_write_series(r, path), AS_OK);
	FILE *f = fopen(path, "r");
	char line[256];
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "t,scheduled,ok,errors,p50_us,p99_us,max_us\n");
	for (int sec = 0; sec < 3; sec++) {
		unsigned long long t, sch, ok, err, p50, p99, max;
		assert_non_null(fgets(line, sizeof(line), f));
		assert_int_equal(sscanf(line, "%llu,%llu,%llu,%llu,%llu,%llu,%llu",
					&t, &sch, &ok, &err, &p50, &p99, &max), 7);
		assert_int_equal(t, sec);
		assert_int_equal(sch, 1000);
		assert_int_equal(ok, 1000);
		assert_int_equal(err, 0);
		if (sec == 1)
			assert_true(max >= 500000 && p99 >= 400000);
		else
			assert_true(max < 60000);
	}
	assert_null(fgets(line, sizeof(line), f));
	fclose(f);
	unlink(path);
	eval_hist_free(co);
	eval_results_free(r);
}

static void test_stalled_server_counts_from_schedule(void **state)
{
	check_stall(false);
}

static void test_stalled_loop_counts_from_schedule(void **state)
{
	check_stall(true);
}

static void test_results_accounting(void **state)
{
	eval_results_t *r = eval_results_new(3 * S, S);	/* 1 s warm-up */
	uint8_t a1[16] = { 0xfd, [15] = 1 }, a2[16] = { 0xfd, [15] = 2 };
	struct eval_outcome o = { .pod = "p1", .addr = a1 };

	/* Warm-up: counted only as such. */
	for (int i = 0; i < 5; i++) {
		uint64_t t = (uint64_t)i * 100 * MS;
		eval_results_scheduled(r, t);
		eval_results_sent(r, t);
		eval_results_resolution(r, t, 1, true, 500000, a1);
		eval_results_error(r, t, EVAL_E_RESET);
		o.t_sched = o.t_write = t;
		o.t_first = o.t_done = t + MS;
		eval_results_ok(r, &o);
	}
	assert_int_equal(eval_results_count(r, EVAL_C_WARMUP), 5);
	assert_int_equal(eval_results_count(r, EVAL_C_SCHEDULED), 0);
	assert_int_equal(eval_results_count(r, EVAL_C_OK), 0);
	assert_int_equal(eval_results_count(r, EVAL_C_RESOLUTIONS), 0);
	assert_int_equal(eval_results_errors(r, EVAL_E_RESET), 0);

	/* After warm-up: 10 requests, 7 ok (5 p1 from a1, 2 p2 from a2), 2
	 * refused, 1 overload (scheduled, not sent, not completed). */
	for (int i = 0; i < 10; i++) {
		uint64_t t = S + (uint64_t)i * 100 * MS;
		eval_results_scheduled(r, t);
		if (i == 9) {
			eval_results_error(r, t, EVAL_E_CLIENT_OVERLOAD);
			continue;
		}
		eval_results_sent(r, t);
		if (i >= 7) {
			eval_results_error(r, t, EVAL_E_CONNECT_REFUSED);
			continue;
		}
		o.t_sched = t;
		o.t_write = t + 2 * MS;
		o.t_first = t + 5 * MS;
		o.t_done = t + 6 * MS;
		o.pod = i < 5 ? "p1" : "p2";
		o.addr = i < 5 ? a1 : a2;
		eval_results_ok(r, &o);
		eval_results_connected(r, t, MS);
		eval_results_resolution(r, t, 2, true, 1500000, i < 5 ? a1 : a2);
	}
	eval_results_cache_hit(r, 2 * S);
	eval_results_reused(r, 2 * S);
	eval_results_resolution(r, 2 * S, 2, false, 0, NULL);

	assert_int_equal(eval_results_count(r, EVAL_C_SCHEDULED), 10);
	assert_int_equal(eval_results_count(r, EVAL_C_SENT), 9);
	assert_int_equal(eval_results_count(r, EVAL_C_COMPLETED), 9);
	assert_int_equal(eval_results_count(r, EVAL_C_OK), 7);
	assert_int_equal(eval_results_pod(r, "p1"), 5);
	assert_int_equal(eval_results_pod(r, "p2"), 2);
	const eval_hist_t *total = eval_results_hist(r, EVAL_H_TOTAL);
	const eval_hist_t *ttfb = eval_results_hist(r, EVAL_H_TTFB);
	assert_int_equal(eval_hist_min(total), 6000);	/* from the schedule */
	assert_int_equal(eval_hist_max(ttfb), 3000);	/* from the write */
	assert_int_equal(eval_hist_count(eval_results_hist(r, EVAL_H_DNS)), 7);

	json_t *j = eval_results_json(r, json_pack("{s:i}", "rate", 10),
				      json_pack("{s:i}", "x", 1));
	assert_non_null(j);
	static const char *const top[] = {
		"config", "duration_s", "scheduled", "sent", "completed", "ok",
		"achieved_rps", "warmup_requests", "errors", "latency_us", "dns",
		"connections", "per_pod", "per_address", "histogram", "loadgen",
	};
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		if (!json_object_get(j, top[i]))
			fail_msg("missing %s", top[i]);
	json_t *errors = json_object_get(j, "errors");
	assert_int_equal(json_object_size(errors), EVAL_E_COUNT);
	for (int e = 0; e < EVAL_E_COUNT; e++)
		assert_non_null(json_object_get(errors, eval_error_name(e)));
	assert_int_equal(json_integer_value(json_object_get(errors, "client_overload")), 1);
	assert_int_equal(json_integer_value(json_object_get(errors, "connect_refused")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "warmup_requests")), 5);
	assert_true(fabs(json_real_value(json_object_get(j, "duration_s")) - 2.0) < 1e-9);
	assert_true(fabs(json_real_value(json_object_get(j, "achieved_rps")) - 3.5) < 1e-9);

	json_t *pods = json_object_get(j, "per_pod"), *v;
	const char *k;
	json_int_t sum = 0;
	json_object_foreach(pods, k, v)
		sum += json_integer_value(v);
	assert_int_equal(sum, 7);
	json_t *pa = json_object_get(j, "per_address");
	assert_int_equal(json_integer_value(json_object_get(pa, "fd00::1")), 5);
	assert_int_equal(json_integer_value(json_object_get(pa, "fd00::2")), 2);
	json_t *dns = json_object_get(j, "dns");
	assert_int_equal(json_integer_value(json_object_get(dns, "resolutions")), 8);
	assert_int_equal(json_integer_value(json_object_get(dns, "queries_sent")), 16);
	assert_int_equal(json_integer_value(json_object_get(dns, "cache_hits")), 1);
	json_t *aba = json_object_get(dns, "answers_by_address");
	assert_int_equal(json_integer_value(json_object_get(aba, "fd00::1")), 5);
	json_t *lat = json_object_get(json_object_get(j, "latency_us"), "connect");
	assert_int_equal(json_integer_value(json_object_get(lat, "count")), 7);
	assert_int_equal(json_integer_value(json_object_get(lat, "p50")), 1000);
	json_t *hist = json_object_get(json_object_get(j, "histogram"), "total");
	eval_hist_t *back = NULL;
	assert_int_equal(eval_hist_from_json(hist, &back), AS_OK);
	assert_true(eval_hist_equal(back, total));
	eval_hist_free(back);
	json_decref(j);
	eval_results_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_late_wake_gets_every_missed_request),
		cmocka_unit_test(test_stalled_server_counts_from_schedule),
		cmocka_unit_test(test_stalled_loop_counts_from_schedule),
		cmocka_unit_test(test_results_accounting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
