/* Load sampler parsers and arithmetic, over recorded /proc contents. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "lib/as.h"

/* Two readings of a 2-CPU machine, one second apart. */
static const char stat_a[] =
	"cpu  1000 50 300 8000 100 0 20 30 0 0\n"
	"cpu0 500 25 150 4000 50 0 10 15 0 0\n"
	"cpu1 500 25 150 4000 50 0 10 15 0 0\n"
	"intr 12345 0 0\nctxt 999\nbtime 1700000000\nprocesses 42\n";
static const char stat_b[] =
	"cpu  1100 50 350 8040 110 0 20 30 0 0\n"
	"cpu0 550 25 175 4020 55 0 10 15 0 0\n"
	"cpu1 550 25 175 4020 55 0 10 15 0 0\n"
	"intr 12345 0 0\n";

static void test_proc_stat(void **state)
{
	struct agent_cpu_times a, b;
	unsigned ncpu = 0;

	assert_int_equal(agent_parse_proc_stat(stat_a, &a, &ncpu), AS_OK);
	assert_int_equal(ncpu, 2);
	/* total = 1000+50+300+8000+100+0+20+30, idle = 8000+100 */
	assert_int_equal(a.total, 9500);
	assert_int_equal(a.busy, 1400);
	assert_int_equal(agent_parse_proc_stat(stat_b, &b, NULL), AS_OK);
	/* busy grew by 150, total by 200: 75 % */
	assert_float_equal(agent_cpu_util(&a, &b), 0.75, 1e-9);
	/* A reading that went backwards counts as idle, not negative. */
	assert_float_equal(agent_cpu_util(&b, &a), 0.0, 1e-12);
	assert_float_equal(agent_cpu_util(&a, &a), 0.0, 1e-12);
}

static void test_proc_stat_bad(void **state)
{
	struct agent_cpu_times t;
	unsigned n;
	assert_int_equal(agent_parse_proc_stat("", &t, &n), AS_EPARSE);
	assert_int_equal(agent_parse_proc_stat("cpu0 1 2 3 4\n", &t, &n), AS_EPARSE);
	assert_int_equal(agent_parse_proc_stat("cpu  1 2\n", &t, &n), AS_EPARSE);
	assert_int_equal(agent_parse_proc_stat("cpu  x y z w\n", &t, &n), AS_EPARSE);
	/* Only the aggregate line and no per-CPU lines: one CPU assumed. */
	assert_int_equal(agent_parse_proc_stat("cpu  1 2 3 4\n", &t, &n), AS_OK);
	assert_int_equal(n, 1);
}

static void test_loadavg(void **state)
{
	double l = -1;
	assert_int_equal(agent_parse_loadavg("0.52 0.58 0.59 1/123 4567\n", &l), AS_OK);
	assert_float_equal(l, 0.52, 1e-12);
	assert_int_equal(agent_parse_loadavg("", &l), AS_EPARSE);
	assert_int_equal(agent_parse_loadavg("abc", &l), AS_EPARSE);
	assert_int_equal(agent_parse_loadavg("-1 0 0", &l), AS_EPARSE);
}

static void test_psi(void **state)
{
	double v = -1;
	assert_int_equal(agent_parse_psi_cpu(
		"some avg10=12.34 avg60=5.00 avg300=1.00 total=123456\n"
		"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", &v), AS_OK);
	assert_float_equal(v, 12.34, 1e-9);
	assert_int_equal(agent_parse_psi_cpu("full avg10=1.00\n", &v), AS_EPARSE);
	assert_int_equal(agent_parse_psi_cpu("some avg60=1.00\n", &v), AS_EPARSE);
	assert_int_equal(agent_parse_psi_cpu("some avg10=abc\n", &v), AS_EPARSE);
	assert_int_equal(agent_parse_psi_cpu("some avg10=101.0\n", &v), AS_EPARSE);
}

static void test_ewma(void **state)
{
	double e = NAN;
	e = agent_ewma(e, 0.5, 0.3); /* first sample seeds the average */
	assert_float_equal(e, 0.5, 1e-12);
	e = agent_ewma(e, 1.0, 0.5);
	assert_float_equal(e, 0.75, 1e-12);
	/* Converges towards a constant input. */
	for (int i = 0; i < 100; i++)
		e = agent_ewma(e, 0.2, 0.3);
	assert_float_equal(e, 0.2, 1e-9);
}

static void test_factor_from_watermarks(void **state)
{
	/* The node's load factor: 1 below low, linear to 0 at high. */
	assert_float_equal(dns_load_factor(0.3, 0.6, 0.95), 1.0, 1e-12);
	assert_float_equal(dns_load_factor(0.6, 0.6, 0.95), 1.0, 1e-12);
	assert_float_equal(dns_load_factor(0.775, 0.6, 0.95), 0.5, 1e-9);
	assert_float_equal(dns_load_factor(0.95, 0.6, 0.95), 0.0, 1e-12);
	assert_float_equal(dns_load_factor(1.0, 0.6, 0.95), 0.0, 1e-12);
}

/* Which signal steers: an override, then a static source, else the
 * measured signal; always clamped to 0..1. */
static void test_settle(void **state)
{
	struct agent_config c = { 0 };
	struct agent_load_sample s = {
		.cpu_util = 0.8, .loadavg1 = 3.0, .ncpu = 4,
		.have_psi = true, .psi_some_avg10 = 50,
	};
	(void)state;
	c.load.low_watermark = 0.6;
	c.load.high_watermark = 0.95;
	c.load.signal = "cpu";
	c.load.source = "measured";
	c.load.value = 0.3;

	agent_load_settle(&s, &c, NAN);
	assert_string_equal(s.source, "cpu");
	assert_float_equal(s.signal, 0.8, 1e-12);
	assert_float_equal(s.factor, 1 - 0.2 / 0.35, 1e-9);
	c.load.signal = "loadavg";
	agent_load_settle(&s, &c, NAN);
	assert_string_equal(s.source, "loadavg");
	assert_float_equal(s.signal, 0.75, 1e-12);
	c.load.signal = "psi";
	agent_load_settle(&s, &c, NAN);
	assert_string_equal(s.source, "psi");
	assert_float_equal(s.signal, 0.5, 1e-12);
	assert_float_equal(s.factor, 1.0, 1e-12);
	s.have_psi = false;	/* no pressure file: CPU utilisation */
	agent_load_settle(&s, &c, NAN);
	assert_string_equal(s.source, "cpu");

	/* Static: the value, whatever the machine does. */
	c.load.source = "static";
	agent_load_settle(&s, &c, NAN);
	assert_string_equal(s.source, "static");
	assert_float_equal(s.signal, 0.3, 1e-12);
	assert_float_equal(s.factor, 1.0, 1e-12);
	c.load.value = 0.775;
	agent_load_settle(&s, &c, NAN);
	assert_float_equal(s.factor, 0.5, 1e-9);

	/* The override wins over both sources, and clears back. */
	agent_load_settle(&s, &c, 0.9);
	assert_string_equal(s.source, "override");
	assert_float_equal(s.signal, 0.9, 1e-12);
	assert_float_equal(s.factor, 1 - 0.3 / 0.35, 1e-9);
	c.load.source = "measured";
	c.load.signal = "cpu";
	agent_load_settle(&s, &c, 1.0);
	assert_float_equal(s.factor, 0.0, 1e-12);
	agent_load_settle(&s, &c, NAN);
	assert_string_equal(s.source, "cpu");

	/* Clamped: a broken reading is idle, over 1 is 1. */
	s.cpu_util = NAN;
	agent_load_settle(&s, &c, NAN);
	assert_float_equal(s.signal, 0.0, 1e-12);
	s.cpu_util = 1.7;
	agent_load_settle(&s, &c, NAN);
	assert_float_equal(s.signal, 1.0, 1e-12);
	s.cpu_util = -0.5;
	agent_load_settle(&s, &c, NAN);
	assert_float_equal(s.signal, 0.0, 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_stat),
		cmocka_unit_test(test_proc_stat_bad),
		cmocka_unit_test(test_loadavg),
		cmocka_unit_test(test_psi),
		cmocka_unit_test(test_ewma),
		cmocka_unit_test(test_factor_from_watermarks),
		cmocka_unit_test(test_settle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
