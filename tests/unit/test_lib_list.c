/* lib/list.h: order, moves, unlinking twice, removal while iterating. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/list.h"

struct item {
	int v;
	struct as_list a;	/* in list A */
	struct as_list b;	/* in list B at the same time */
};

/* The values in list head (through link a or b) into out; the count. */
static size_t values(const struct as_list *head, bool in_b, int *out, size_t max)
{
	const struct as_list *n;
	size_t k = 0;

	AS_LIST_FOREACH(n, head) {
		const struct item *it = in_b ? AS_LIST_ENTRY(n, struct item, b)
					     : AS_LIST_ENTRY(n, struct item, a);
		assert_true(k < max);
		out[k++] = it->v;
	}
	return k;
}

static void test_empty(void **state)
{
	struct as_list h;
	struct as_list *n;
	int visits = 0;

	(void)state;
	as_list_init(&h);
	assert_true(as_list_empty(&h));
	assert_null(as_list_first(&h));
	assert_null(as_list_last(&h));
	AS_LIST_FOREACH(n, &h)
		visits++;
	assert_int_equal(visits, 0);

	/* A zeroed link is unlinked; removing it is harmless. */
	struct item it = { 0 };
	assert_false(as_list_linked(&it.a));
	as_list_remove(&it.a);
	assert_false(as_list_linked(&it.a));
	assert_true(as_list_empty(&h));
}

static void test_order_and_moves(void **state)
{
	struct item it[4] = { { .v = 0 }, { .v = 1 }, { .v = 2 }, { .v = 3 } };
	struct as_list h, g, bl;
	int out[8];

	(void)state;
	as_list_init(&h);
	as_list_init(&g);
	as_list_init(&bl);
	as_list_push_back(&h, &it[1].a);
	as_list_push_back(&h, &it[2].a);
	as_list_push_front(&h, &it[0].a);
	assert_int_equal(values(&h, false, out, 8), 3);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 1);
	assert_int_equal(out[2], 2);
	assert_ptr_equal(as_list_first(&h), &it[0].a);
	assert_ptr_equal(as_list_last(&h), &it[2].a);
	assert_ptr_equal(as_list_next(&h, &it[0].a), &it[1].a);
	assert_null(as_list_next(&h, &it[2].a));

	/* Pushing a linked element moves it (LRU touch). */
	as_list_push_back(&h, &it[0].a);
	assert_int_equal(values(&h, false, out, 8), 3);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[2], 0);
	/* ... also into another list. */
	as_list_push_back(&g, &it[1].a);
	assert_int_equal(values(&h, false, out, 8), 2);
	assert_int_equal(out[0], 2);
	assert_int_equal(values(&g, false, out, 8), 1);
	assert_int_equal(out[0], 1);

	/* One element in two lists through two links. */
	as_list_push_back(&bl, &it[3].b);
	as_list_push_back(&h, &it[3].a);
	as_list_remove(&it[3].a);
	assert_true(as_list_linked(&it[3].b));
	assert_int_equal(values(&h, false, out, 8), 2);
	assert_int_equal(values(&bl, true, out, 8), 1);
	assert_int_equal(out[0], 3);

	/* Removing twice: the second is a no-op even after the list has
	 * changed around the removed element's old place. */
	as_list_remove(&it[2].a);
	assert_false(as_list_linked(&it[2].a));
	assert_int_equal(values(&h, false, out, 8), 1);
	assert_int_equal(out[0], 0);
	as_list_remove(&it[0].a);
	as_list_remove(&it[2].a);
	assert_true(as_list_empty(&h));
	assert_null(as_list_first(&h));
	assert_ptr_equal(h.prev, &h);
}

/* Removing (and freeing) the current element while iterating, as the
 * teardown and expiry loops do: under ASan a use after free fails. */
static void test_remove_during_iteration(void **state)
{
	struct as_list h, *n, *tmp;
	int out[16], kept = 0;

	(void)state;
	as_list_init(&h);
	for (int i = 0; i < 10; i++) {
		struct item *it = calloc(1, sizeof(*it));
		assert_non_null(it);
		it->v = i;
		as_list_push_back(&h, &it->a);
	}
	AS_LIST_FOREACH_SAFE(n, tmp, &h) {
		struct item *it = AS_LIST_ENTRY(n, struct item, a);
		if (it->v % 3 == 0) {
			as_list_remove(n);
			free(it);
		}
	}
	assert_int_equal(values(&h, false, out, 16), 6);
	for (int i = 0; i < 6; i++)
		assert_true(out[i] % 3 != 0 && (i == 0 || out[i] > out[i - 1]));
	AS_LIST_FOREACH_SAFE(n, tmp, &h) {
		as_list_remove(n);
		free(AS_LIST_ENTRY(n, struct item, a));
		kept++;
	}
	assert_int_equal(kept, 6);
	assert_true(as_list_empty(&h));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_order_and_moves),
		cmocka_unit_test(test_remove_during_iteration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
