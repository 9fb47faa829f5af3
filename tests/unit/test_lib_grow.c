/* lib/as.h: as_grow / AS_GROW. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/as.h"

struct wide {
	uint64_t a, b, c;
};

static void test_grow_from_empty(void **state)
{
	struct wide *v = NULL;
	size_t n = 0, cap = 0, grows = 0;

	(void)state;
	/* No room asked, none made. */
	assert_int_equal(AS_GROW(v, cap, 0), AS_OK);
	assert_null(v);
	assert_int_equal(cap, 0);
	/* Appending keeps every element (ASan checks the bounds) and grows
	 * geometrically: 1000 appends take a handful of reallocations. */
	for (uint64_t i = 0; i < 1000; i++) {
		size_t before = cap;
		assert_int_equal(AS_GROW(v, cap, n + 1), AS_OK);
		assert_true(cap >= n + 1);
		grows += cap != before;
		v[n++] = (struct wide){ i, i * 2, i * 3 };
	}
	assert_true(grows <= 8);
	for (uint64_t i = 0; i < 1000; i++)
		assert_true(v[i].a == i && v[i].b == 2 * i && v[i].c == 3 * i);
	/* Room that exists: nothing moves. */
	struct wide *same = v;
	size_t oldcap = cap;
	assert_int_equal(AS_GROW(v, cap, cap), AS_OK);
	assert_ptr_equal(v, same);
	assert_int_equal(cap, oldcap);
	/* A jump past double goes straight there. */
	assert_int_equal(AS_GROW(v, cap, 10 * oldcap + 1), AS_OK);
	assert_true(cap >= 10 * oldcap + 1);
	v[10 * oldcap] = (struct wide){ 7, 7, 7 };
	assert_true(v[999].a == 999);
	free(v);
}

static void test_grow_overflow(void **state)
{
	struct wide *v = NULL;
	size_t cap = 0;
	char *bytes = NULL;
	size_t bcap = 0;

	(void)state;
	/* need * elem overflows: refused, untouched. */
	assert_int_equal(AS_GROW(v, cap, SIZE_MAX / 8), AS_ENOMEM);
	assert_null(v);
	assert_int_equal(cap, 0);
	assert_int_equal(AS_GROW(bytes, bcap, SIZE_MAX), AS_ENOMEM);
	assert_int_equal(bcap, 0);
	/* A failure keeps what was there. */
	assert_int_equal(AS_GROW(bytes, bcap, 5), AS_OK);
	memcpy(bytes, "abcd", 5);
	char *keep = bytes;
	size_t kcap = bcap;
	assert_int_equal(AS_GROW(bytes, bcap, SIZE_MAX - 1), AS_ENOMEM);
	assert_ptr_equal(bytes, keep);
	assert_int_equal(bcap, kcap);
	assert_string_equal(bytes, "abcd");
	free(bytes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_from_empty),
		cmocka_unit_test(test_grow_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
