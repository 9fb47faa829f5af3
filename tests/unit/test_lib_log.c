/* lib/: the log rate limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/as.h"

static void test_ratelimit_window(void **state)
{
	struct as_ratelimit rl = AS_RATELIMIT_INIT(1000, 2);
	uint64_t sup = 99;

	(void)state;
	assert_true(as_ratelimit_allow(&rl, 5000, &sup));
	assert_int_equal(sup, 0);
	assert_true(as_ratelimit_allow(&rl, 5001, &sup));
	for (int i = 0; i < 10; i++)
		assert_false(as_ratelimit_allow(&rl, 5100 + (uint64_t)i, &sup));
	assert_false(as_ratelimit_allow(&rl, 5999, NULL));
	/* The next window reports what the previous one dropped. */
	assert_true(as_ratelimit_allow(&rl, 6000, &sup));
	assert_int_equal(sup, 11);
	assert_true(as_ratelimit_allow(&rl, 6001, &sup));
	assert_int_equal(sup, 0);
	assert_false(as_ratelimit_allow(&rl, 6002, &sup));
}

static void test_ratelimit_defaults(void **state)
{
	struct as_ratelimit rl = { 0 };
	uint64_t sup;

	(void)state;
	/* Zero-initialised: one line per 10 s, also at time 0. */
	assert_true(as_ratelimit_allow(&rl, 0, &sup));
	assert_false(as_ratelimit_allow(&rl, 9999, &sup));
	assert_true(as_ratelimit_allow(&rl, 10001, &sup));
	assert_int_equal(sup, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ratelimit_window),
		cmocka_unit_test(test_ratelimit_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
