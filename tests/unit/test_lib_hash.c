/* lib/hash.h: FNV-1a against its published vectors, and the mixer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/hash.h"

static void test_fnv1a_vectors(void **state)
{
	(void)state;
	assert_int_equal(as_fnv1a32("", 0), 0x811c9dc5u);
	assert_int_equal(as_fnv1a32("a", 1), 0xe40c292cu);
	assert_int_equal(as_fnv1a32("foobar", 6), 0xbf9cf968u);
	assert_int_equal(as_fnv1a64("", 0), 0xcbf29ce484222325ull);
	assert_int_equal(as_fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
	assert_int_equal(as_fnv1a64("foobar", 6), 0x85944171f73967e8ull);
	/* Bytes above 0x7f are not sign-extended. */
	const uint8_t hi[1] = { 0xff };
	assert_int_equal(as_fnv1a32(hi, 1), (0x811c9dc5u ^ 0xffu) * 16777619u);
}

/* FNV's low bits depend only on the input's low bits, so names that
 * differ only in high bits share a slot of a power-of-two table; after
 * the mixer they spread. */
static void test_mix_spreads_low_bits(void **state)
{
	bool used_raw[16] = { false }, used_mixed[16] = { false };
	int raw = 0, mixed = 0;

	(void)state;
	for (unsigned i = 0; i < 64; i++) {
		uint8_t b = (uint8_t)(i << 2);	/* low two bits always 0 */
		uint64_t h = as_fnv1a64(&b, 1);
		if (!used_raw[h & 15]) {
			used_raw[h & 15] = true;
			raw++;
		}
		h = as_hash_mix64(h);
		if (!used_mixed[h & 15]) {
			used_mixed[h & 15] = true;
			mixed++;
		}
	}
	assert_true(raw <= 4);
	assert_true(mixed >= 14);
	assert_int_equal(as_hash_mix64(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv1a_vectors),
		cmocka_unit_test(test_mix_spreads_low_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
