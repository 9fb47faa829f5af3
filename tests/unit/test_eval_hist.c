/*
 * tests/unit/test_eval_hist.c - the load generator's histogram: index
 * arithmetic, percentiles against a sorted-array reference for several
 * distributions, merge equals the histogram of the union, and the JSON
 * encoding round trip.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the value of rank ceil(ppm * n / 1e6), at least 1. */
static uint64_t reference(const uint64_t *sorted, size_t n, uint32_t ppm)
{
	uint64_t rank = ((uint64_t)ppm * n + 999999) / 1000000;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, BIMODAL, SMALL };

static uint64_t draw(struct as_rng *r, enum dist d)
{
	double u = as_rng_unit(r), v;
	switch (d) {
	case UNIFORM:
		return as_rng_next(r) % 100000;
	case EXPONENTIAL:
		return (uint64_t)(-log(u) * 800.0);
	case LOGNORMAL:
		v = as_rng_unit(r);
		/* Box-Muller: mean log 7 (~1.1 ms), sigma 1.5. */
		return (uint64_t)exp(7.0 + 1.5 * sqrt(-2 * log(u)) * cos(2 * M_PI * v));
	case BIMODAL:
		/* 99 % fast, 1 % a 2-second stall: the p99.9 lives there. */
		return as_rng_next(r) % 100 ? 150 + as_rng_next(r) % 100
					      : 2000000 + as_rng_next(r) % 50000;
	default:
		return as_rng_next(r) % 300;	/* exact region and just above */
	}
}

static void test_index_layout(void **state)
{
	for (unsigned bits = 2; bits <= 12; bits++) {
		size_t S = (size_t)1 << bits;
		/* Small values are exact; the buckets tile the range without
		 * gaps or overlaps; every bucket is narrower than 1/H. */
		for (uint64_t v = 0; v < S; v++)
			assert_int_equal(eval_hist_index(bits, v), v);
		size_t top = eval_hist_index(bits, EVAL_HIST_MAX_US);
		for (size_t i = 0; i < top; i++) {
			uint64_t lo = eval_hist_lowest(bits, i);
			uint64_t hi = eval_hist_highest(bits, i);
			assert_true(lo <= hi);
			assert_int_equal(eval_hist_lowest(bits, i + 1), hi + 1);
			assert_int_equal(eval_hist_index(bits, lo), i);
			assert_int_equal(eval_hist_index(bits, hi), i);
			assert_true((double)(hi - lo) < (double)lo / (double)(S / 2) + 1e-9 ||
				    lo == hi);
		}
	}
	assert_null(eval_hist_new(1));
	assert_null(eval_hist_new(17));
}

static void check_dist(enum dist d, unsigned bits, size_t n, uint64_t seed)
{
	static const uint32_t ppms[] = { 0, 1, 100000, 500000, 900000, 990000,
					 999000, 999999, 1000000 };
	uint64_t *vals = malloc(n * sizeof(*vals));
	eval_hist_t *h = eval_hist_new(bits);
	struct as_rng r;
	double precision = ldexp(1.0, 1 - (int)bits);
	uint64_t sum = 0;

	assert_non_null(vals);
	assert_non_null(h);
	as_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) {
		vals[i] = draw(&r, d);
		if (vals[i] > EVAL_HIST_MAX_US)
			vals[i] = EVAL_HIST_MAX_US;
		sum += vals[i];
		eval_hist_record(h, vals[i]);
	}
	qsort(vals, n, sizeof(*vals), cmp_u64);
	assert_int_equal(eval_hist_count(h), n);
	assert_int_equal(eval_hist_min(h), vals[0]);
	assert_int_equal(eval_hist_max(h), vals[n - 1]);
	assert_true(fabs(eval_hist_mean(h) - (double)sum / (double)n) < 1e-6);
	for (size_t k = 0; k < sizeof(ppms) / sizeof(ppms[0]); k++) {
		uint64_t ref = reference(vals, n, ppms[k]);
		uint64_t got = eval_hist_percentile(h, ppms[k]);
		/* Never below the exact value, above it by less than the
		 * stated precision. */
		if (got < ref || (double)(got - ref) > (double)ref * precision) {
			fail_msg("dist %d bits %u ppm %u: histogram %llu, reference %llu",
				 d, bits, ppms[k], (unsigned long long)got,
				 (unsigned long long)ref);
		}
	}
	eval_hist_free(h);
	free(vals);
}

static void test_percentiles_vs_sorted(void **state)
{
	for (enum dist d = UNIFORM; d <= SMALL; d++) {
		check_dist(d, EVAL_HIST_BITS, 100000, 11 + d);
		check_dist(d, 7, 20000, 101 + d);
		check_dist(d, 4, 5000, 1001 + d);
		check_dist(d, EVAL_HIST_BITS, 1, 7 + d);
		check_dist(d, EVAL_HIST_BITS, 7, 70 + d);
	}
}

static void test_empty_and_clamp(void **state)
{
	eval_hist_t *h = eval_hist_new(EVAL_HIST_BITS);
	assert_int_equal(eval_hist_percentile(h, 990000), 0);
	assert_int_equal(eval_hist_count(h), 0);
	assert_true(eval_hist_mean(h) == 0.0);
	eval_hist_record(h, EVAL_HIST_MAX_US * 10);
	assert_int_equal(eval_hist_max(h), EVAL_HIST_MAX_US);
	assert_int_equal(eval_hist_percentile(h, 500000), EVAL_HIST_MAX_US);
	eval_hist_reset(h);
	assert_int_equal(eval_hist_count(h), 0);
	eval_hist_free(h);
}

static void test_merge_equals_union(void **state)
{
	eval_hist_t *a = eval_hist_new(EVAL_HIST_BITS), *b = eval_hist_new(EVAL_HIST_BITS),
		    *u = eval_hist_new(EVAL_HIST_BITS), *empty = eval_hist_new(EVAL_HIST_BITS);
	eval_hist_t *other = eval_hist_new(7);
	struct as_rng r;

	as_rng_seed(&r, 42);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = draw(&r, (enum dist)(i % 5));
		eval_hist_record(i % 3 ? a : b, v);
		eval_hist_record(u, v);
	}
	assert_false(eval_hist_equal(a, u));
	assert_int_equal(eval_hist_merge(a, b), AS_OK);
	assert_true(eval_hist_equal(a, u));
	/* Merging an empty histogram changes nothing; into an empty one
	 * copies. */
	assert_int_equal(eval_hist_merge(a, empty), AS_OK);
	assert_true(eval_hist_equal(a, u));
	assert_int_equal(eval_hist_merge(empty, u), AS_OK);
	assert_true(eval_hist_equal(empty, u));
	assert_int_equal(eval_hist_percentile(empty, 999000),
			 eval_hist_percentile(u, 999000));
	assert_int_equal(eval_hist_merge(a, other), AS_EINVAL);
	eval_hist_free(a);
	eval_hist_free(b);
	eval_hist_free(u);
	eval_hist_free(empty);
	eval_hist_free(other);
}

static void test_json_round_trip(void **state)
{
	eval_hist_t *h = eval_hist_new(EVAL_HIST_BITS), *back = NULL;
	struct as_rng r;

	as_rng_seed(&r, 3);
	for (int i = 0; i < 10000; i++)
		eval_hist_record(h, draw(&r, LOGNORMAL));
	json_t *j = eval_hist_json(h);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "sub_bucket_bits")),
			 EVAL_HIST_BITS);
	/* Sparse and ascending. */
	json_t *counts = json_object_get(j, "counts");
	json_int_t last = -1, total = 0;
	size_t k;
	json_t *pair;
	json_array_foreach(counts, k, pair) {
		json_int_t idx = json_integer_value(json_array_get(pair, 0));
		json_int_t c = json_integer_value(json_array_get(pair, 1));
		assert_true(idx > last);
		assert_true(c > 0);
		last = idx;
		total += c;
	}
	assert_int_equal(total, 10000);
	char *text = json_dumps(j, 0);
	json_t *parsed = json_loads(text, 0, NULL);
	assert_int_equal(eval_hist_from_json(parsed, &back), AS_OK);
	assert_true(eval_hist_equal(h, back));

	json_t *summary = eval_hist_summary_json(h);
	const char *keys[] = { "count", "min", "mean", "p50", "p90", "p99", "p999", "max" };
	for (size_t i = 0; i < 8; i++)
		assert_non_null(json_object_get(summary, keys[i]));
	assert_int_equal(json_integer_value(json_object_get(summary, "p99")),
			 eval_hist_percentile(h, 990000));

	/* Malformed encodings are refused. */
	json_t *bad = json_loads("{\"sub_bucket_bits\":8,\"counts\":[[999999,1]],"
				 "\"min\":0,\"max\":0,\"sum\":0}", 0, NULL);
	eval_hist_t *none = NULL;
	assert_int_equal(eval_hist_from_json(bad, &none), AS_EPARSE);
	assert_null(none);
	json_decref(bad);
	json_decref(summary);
	json_decref(parsed);
	free(text);
	json_decref(j);
	eval_hist_free(back);
	eval_hist_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_layout),
		cmocka_unit_test(test_percentiles_vs_sorted),
		cmocka_unit_test(test_empty_and_clamp),
		cmocka_unit_test(test_merge_equals_union),
		cmocka_unit_test(test_json_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
