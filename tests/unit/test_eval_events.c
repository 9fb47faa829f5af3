/*
 * tests/unit/test_eval_events.c - as-loadgen's per-request event log
 * (--events, read by the failover experiment): the header carries the
 * run clock's origin, a line carries times in us, the result's name, the
 * pod with commas and control bytes replaced, both addresses, and a
 * buffer too small yields 0 instead of a cut line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

static void test_header(void **state)
{
	char buf[256];
	size_t n = eval_event_header(buf, sizeof(buf), 123456789012345ull);

	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "# as-loadgen events t0_monotonic_ns=123456789012345\n"
			    "t_sched_us,t_end_us,result,pod,addr,first\n");
	assert_int_equal(eval_event_header(buf, 20, 1), 0);
}

static void test_lines(void **state)
{
	uint8_t a[16], b[16];
	char buf[256];

	inet_pton(AF_INET6, "fd00:10:0:1::2", a);
	inet_pton(AF_INET6, "fd00:10:0:2::1", b);
	struct eval_event ok = { .t_sched = 1500000, .t_end = 2750999,
				 .result = -1, .pod = "n1p2", .addr = b, .first = a };
	size_t n = eval_event_line(buf, sizeof(buf), &ok);
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "1500,2750,ok,n1p2,fd00:10:0:2::1,fd00:10:0:1::2\n");

	/* A failure before any connection: no pod, no address. */
	struct eval_event dns = { .t_sched = 3000000000ull, .t_end = 5000000000ull,
				  .result = EVAL_E_DNS_TIMEOUT };
	eval_event_line(buf, sizeof(buf), &dns);
	assert_string_equal(buf, "3000000,5000000,dns_timeout,,,\n");

	struct eval_event refused = { .t_sched = 1000, .t_end = 2000,
				      .result = EVAL_E_CONNECT_REFUSED,
				      .pod = "", .addr = a, .first = a };
	eval_event_line(buf, sizeof(buf), &refused);
	assert_string_equal(buf, "1,2,connect_refused,,fd00:10:0:1::2,fd00:10:0:1::2\n");

	/* The CSV stays parseable whatever the server put in X-Pod. */
	struct eval_event odd = { .result = -1, .pod = "a,b\tc" };
	eval_event_line(buf, sizeof(buf), &odd);
	assert_string_equal(buf, "0,0,ok,a_b_c,,\n");

	assert_int_equal(eval_event_line(buf, 10, &ok), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
