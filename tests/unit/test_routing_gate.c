/*
 * Unit tests for the health gate: hysteresis, the inputs that act at
 * once, reason priority and the time of the last change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
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

/* ---- route_anycast_pick: one address per node ------------------------------- */

static void letters(struct in6_addr *a, size_t n)
{
	char text[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "fd00:53::%zx", i + 0x53);
		assert_int_equal(inet_pton(AF_INET6, text, &a[i]), 1);
	}
}

static void test_pick_split(void **state)
{
	struct in6_addr a[4];
	size_t count[4] = { 0 };
	char node[32];

	(void)state;
	letters(a, 4);
	assert_int_equal(route_anycast_pick("node1", a, 0), 0);
	assert_int_equal(route_anycast_pick("node1", a, 1), 0);
	/* 2 letters over 22 nodes named as the testbed names them: both
	 * sets are used, neither holds more than 16 of them. */
	for (int i = 1; i <= 22; i++) {
		snprintf(node, sizeof(node), "node%d", i);
		size_t k = route_anycast_pick(node, a, 2);
		assert_true(k < 2);
		count[k]++;
		/* The same node picks the same letter every time. */
		assert_int_equal(route_anycast_pick(node, a, 2), k);
	}
	assert_true(count[0] >= 6 && count[1] >= 6);
	/* 1000 nodes over 4 letters: each within 20 % of a quarter. */
	memset(count, 0, sizeof(count));
	for (int i = 0; i < 1000; i++) {
		snprintf(node, sizeof(node), "worker-%d.example", i);
		count[route_anycast_pick(node, a, 4)]++;
	}
	for (int k = 0; k < 4; k++)
		assert_true(count[k] >= 200 && count[k] <= 300);
}

static void test_pick_stable(void **state)
{
	struct in6_addr a[3];
	char node[32];
	int moved = 0;

	(void)state;
	letters(a, 3);
	/* Adding a third letter moves a node only onto the new one. */
	for (int i = 0; i < 300; i++) {
		snprintf(node, sizeof(node), "n%d", i);
		size_t before = route_anycast_pick(node, a, 2);
		size_t after = route_anycast_pick(node, a, 3);
		if (after != before) {
			assert_int_equal(after, 2);
			moved++;
		}
	}
	assert_true(moved > 50 && moved < 150);	/* about a third */
	/* The order of the list does not matter, only the addresses. */
	struct in6_addr r[3] = { a[2], a[0], a[1] };
	for (int i = 0; i < 50; i++) {
		snprintf(node, sizeof(node), "n%d", i);
		size_t k = route_anycast_pick(node, a, 3);
		size_t j = route_anycast_pick(node, r, 3);
		assert_memory_equal(&a[k], &r[j], sizeof(a[k]));
	}
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
		cmocka_unit_test(test_pick_split),
		cmocka_unit_test(test_pick_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
