/*
 * Unit tests for the health gate: hysteresis, the inputs that act at
 * once, reason priority and the time of the last change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "lib/as.h"
#include "routing/routing.h"

static route_gate_t *gate(unsigned rise, unsigned fall, bool single)
{
	struct route_gate_opts o = { .rise = rise, .fall = fall,
				     .single_node = single };
	route_gate_t *g;
	assert_int_equal(route_gate_new(&o, 1000, &g), AS_OK);
	return g;
}

static void expect(const struct route_decision *d, bool announce,
		   enum route_reason r, uint64_t since, bool changed)
{
	assert_int_equal(d->announce, announce);
	assert_int_equal(d->reason, r);
	assert_int_equal(d->since_ms, since);
	assert_int_equal(d->changed, changed);
}

static void test_initial(void **state)
{
	route_gate_t *g = gate(2, 3, false);
	struct route_decision d;
	route_gate_get(g, &d);
	expect(&d, false, ROUTE_REASON_STARTING, 1000, false);
	route_gate_free(g);
}

static void test_rise(void **state)
{
	route_gate_t *g = gate(3, 2, true);
	struct route_decision d;

	route_gate_selfcheck(g, true, 1100, &d);
	expect(&d, false, ROUTE_REASON_STARTING, 1000, false);
	route_gate_selfcheck(g, true, 1200, &d);
	expect(&d, false, ROUTE_REASON_STARTING, 1000, false);
	/* a failure resets the run of successes */
	route_gate_selfcheck(g, false, 1300, &d);
	expect(&d, false, ROUTE_REASON_STARTING, 1000, false);
	route_gate_selfcheck(g, true, 1400, &d);
	route_gate_selfcheck(g, true, 1500, &d);
	expect(&d, false, ROUTE_REASON_STARTING, 1000, false);
	route_gate_selfcheck(g, true, 1600, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1600, true);
	route_gate_selfcheck(g, true, 1700, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1600, false);
	route_gate_free(g);
}

static void test_fall(void **state)
{
	route_gate_t *g = gate(1, 3, true);
	struct route_decision d;

	route_gate_selfcheck(g, true, 2000, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 2000, true);
	route_gate_selfcheck(g, false, 2100, &d);
	route_gate_selfcheck(g, false, 2200, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 2000, false);
	/* a success in between restarts the count of failures */
	route_gate_selfcheck(g, true, 2300, &d);
	route_gate_selfcheck(g, false, 2400, &d);
	route_gate_selfcheck(g, false, 2500, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 2000, false);
	route_gate_selfcheck(g, false, 2600, &d);
	expect(&d, false, ROUTE_REASON_SELFCHECK, 2600, true);
	/* recovery needs `rise` successes (1 here) */
	route_gate_selfcheck(g, true, 2700, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 2700, true);
	route_gate_free(g);
}

/* Never healthy, but failing persistently: say so rather than STARTING. */
static void test_failing_from_start(void **state)
{
	route_gate_t *g = gate(2, 2, true);
	struct route_decision d;
	route_gate_selfcheck(g, false, 1100, &d);
	expect(&d, false, ROUTE_REASON_STARTING, 1000, false);
	route_gate_selfcheck(g, false, 1200, &d);
	expect(&d, false, ROUTE_REASON_SELFCHECK, 1200, true);
	route_gate_free(g);
}

static void test_joined(void **state)
{
	route_gate_t *g = gate(1, 1, false);
	struct route_decision d;

	route_gate_selfcheck(g, true, 1100, &d);
	/* healthy but alone: the reason changes, the route stays down */
	expect(&d, false, ROUTE_REASON_NOT_JOINED, 1100, true);
	route_gate_set_joined(g, true, 1200, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1200, true);
	route_gate_set_joined(g, false, 1300, &d);
	expect(&d, false, ROUTE_REASON_NOT_JOINED, 1300, true);
	route_gate_free(g);

	/* single-node config ignores membership */
	g = gate(1, 1, true);
	route_gate_selfcheck(g, true, 1100, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1100, true);
	route_gate_set_joined(g, false, 1200, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1100, false);
	route_gate_free(g);
}

static void test_draining_priority(void **state)
{
	route_gate_t *g = gate(1, 1, false);
	struct route_decision d;

	route_gate_set_joined(g, true, 1100, &d);
	route_gate_selfcheck(g, true, 1200, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1200, true);
	route_gate_set_draining(g, true, 1300, &d);
	expect(&d, false, ROUTE_REASON_DRAINING, 1300, true);
	/* other failures while draining keep the draining reason */
	route_gate_selfcheck(g, false, 1400, &d);
	route_gate_set_joined(g, false, 1500, &d);
	expect(&d, false, ROUTE_REASON_DRAINING, 1300, false);
	/* undrain: the next cause in line shows */
	route_gate_set_draining(g, false, 1600, &d);
	expect(&d, false, ROUTE_REASON_NOT_JOINED, 1600, true);
	route_gate_set_joined(g, true, 1700, &d);
	expect(&d, false, ROUTE_REASON_SELFCHECK, 1700, true);
	route_gate_selfcheck(g, true, 1800, &d);
	expect(&d, true, ROUTE_REASON_HEALTHY, 1800, true);
	route_gate_free(g);
}

static void test_stop_is_final(void **state)
{
	route_gate_t *g = gate(1, 1, true);
	struct route_decision d;

	route_gate_selfcheck(g, true, 1100, &d);
	route_gate_stop(g, 1200, &d);
	expect(&d, false, ROUTE_REASON_STOPPED, 1200, true);
	route_gate_set_draining(g, false, 1300, &d);
	route_gate_selfcheck(g, true, 1400, &d);
	expect(&d, false, ROUTE_REASON_STOPPED, 1200, false);
	route_gate_free(g);
}

static void test_defaults_and_names(void **state)
{
	route_gate_t *g;
	struct route_decision d;

	/* NULL opts: rise 2, fall 3, cluster mode */
	assert_int_equal(route_gate_new(NULL, 5, &g), AS_OK);
	route_gate_set_joined(g, true, 6, &d);
	route_gate_selfcheck(g, true, 7, &d);
	assert_false(d.announce);
	route_gate_selfcheck(g, true, 8, &d);
	assert_true(d.announce);
	route_gate_selfcheck(g, false, 9, &d);
	route_gate_selfcheck(g, false, 10, &d);
	assert_true(d.announce);
	route_gate_selfcheck(g, false, 11, &d);
	assert_false(d.announce);
	route_gate_free(g);

	assert_string_equal(route_reason_name(ROUTE_REASON_DRAINING),
			    "draining");
	assert_string_equal(route_reason_name(ROUTE_REASON_HEALTHY), "healthy");
	assert_string_equal(route_reason_name((enum route_reason)99),
			    "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial),
		cmocka_unit_test(test_rise),
		cmocka_unit_test(test_fall),
		cmocka_unit_test(test_failing_from_start),
		cmocka_unit_test(test_joined),
		cmocka_unit_test(test_draining_priority),
		cmocka_unit_test(test_stop_is_final),
		cmocka_unit_test(test_defaults_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
