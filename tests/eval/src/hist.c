/*
 * tests/eval/src/hist.c - log-linear latency histogram (HdrHistogram's
 * layout, see eval.h).
 *
 * Debian has no C package of HdrHistogram, and the part we need is small:
 * a flat array of counts indexed by a shift of the value, exact min, max
 * and sum beside it, merge by adding arrays, and a sparse JSON encoding the
 * harness can merge and query in Python with the same index arithmetic.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

struct eval_hist {
	unsigned bits;
	size_t len;		/* number of counts */
	uint64_t total;
	uint64_t min, max, sum;
	uint64_t counts[];
};

/* ---- index arithmetic -------------------------------------------------- */

size_t eval_hist_index(unsigned bits, uint64_t v)
{
	uint64_t S = 1ull << bits;
	if (v < S)
		return (size_t)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned e = msb - (bits - 1);
	return ((size_t)e << (bits - 1)) + (size_t)(v >> e);
}

uint64_t eval_hist_lowest(unsigned bits, size_t i)
{
	size_t S = (size_t)1 << bits, H = S / 2;
	if (i < S)
		return i;
	size_t e = i / H - 1;
	return (uint64_t)(i - e * H) << e;
}

uint64_t eval_hist_highest(unsigned bits, size_t i)
{
	size_t S = (size_t)1 << bits, H = S / 2;
	if (i < S)
		return i;
	size_t e = i / H - 1;
	return eval_hist_lowest(bits, i) + (1ull << e) - 1;
}

/* ---- histogram --------------------------------------------------------- */

eval_hist_t *eval_hist_new(unsigned bits)
{
	if (bits < 2 || bits > 16)
		return NULL;
	size_t len = eval_hist_index(bits, EVAL_HIST_MAX_US) + 1;
	eval_hist_t *h = calloc(1, sizeof(*h) + len * sizeof(uint64_t));
	if (!h)
		return NULL;
	h->bits = bits;
	h->len = len;
	return h;
}

void eval_hist_free(eval_hist_t *h)
{
	free(h);
}

void eval_hist_reset(eval_hist_t *h)
{
	memset(h->counts, 0, h->len * sizeof(uint64_t));
	h->total = h->min = h->max = h->sum = 0;
}

void eval_hist_record(eval_hist_t *h, uint64_t v)
{
	if (v > EVAL_HIST_MAX_US)
		v = EVAL_HIST_MAX_US;
	h->counts[eval_hist_index(h->bits, v)]++;
	if (h->total == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->total++;
	h->sum += v;
}

int eval_hist_merge(eval_hist_t *dst, const eval_hist_t *src)
{
	if (dst->bits != src->bits)
		return AS_EINVAL;
	if (src->total == 0)
		return AS_OK;
	for (size_t i = 0; i < dst->len; i++)
		dst->counts[i] += src->counts[i];
	if (dst->total == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->total += src->total;
	dst->sum += src->sum;
	return AS_OK;
}

bool eval_hist_equal(const eval_hist_t *a, const eval_hist_t *b)
{
	return a->bits == b->bits && a->total == b->total &&
	       a->min == b->min && a->max == b->max && a->sum == b->sum &&
	       memcmp(a->counts, b->counts, a->len * sizeof(uint64_t)) == 0;
}

unsigned eval_hist_bits(const eval_hist_t *h)
{
	return h->bits;
}

uint64_t eval_hist_count(const eval_hist_t *h)
{
	return h->total;
}

uint64_t eval_hist_min(const eval_hist_t *h)
{
	return h->min;
}

uint64_t eval_hist_max(const eval_hist_t *h)
{
	return h->max;
}

double eval_hist_mean(const eval_hist_t *h)
{
	return h->total ? (double)h->sum / (double)h->total : 0.0;
}

uint64_t eval_hist_percentile(const eval_hist_t *h, uint32_t ppm)
{
	if (h->total == 0)
		return 0;
	if (ppm > 1000000)
		ppm = 1000000;
	uint64_t rank = ((uint64_t)ppm * h->total + 999999) / 1000000;
	if (rank == 0)
		return h->min;
	uint64_t seen = 0;
	for (size_t i = 0; i < h->len; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = eval_hist_highest(h->bits, i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

json_t *eval_hist_summary_json(const eval_hist_t *h)
{
	return json_pack("{s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I}",
			 "count", (json_int_t)h->total,
			 "min", (json_int_t)h->min,
			 "mean", eval_hist_mean(h),
			 "p50", (json_int_t)eval_hist_percentile(h, 500000),
			 "p90", (json_int_t)eval_hist_percentile(h, 900000),
			 "p99", (json_int_t)eval_hist_percentile(h, 990000),
			 "p999", (json_int_t)eval_hist_percentile(h, 999000),
			 "max", (json_int_t)h->max);
}

json_t *eval_hist_json(const eval_hist_t *h)
{
	json_t *counts = json_array();
	if (!counts)
		return NULL;
	for (size_t i = 0; i < h->len; i++) {
		if (h->counts[i] &&
		    json_array_append_new(counts, json_pack("[I,I]", (json_int_t)i,
							    (json_int_t)h->counts[i]))) {
			json_decref(counts);
			return NULL;
		}
	}
	return json_pack("{s:i,s:o,s:I,s:I,s:I}", "sub_bucket_bits", (int)h->bits,
			 "counts", counts, "min", (json_int_t)h->min,
			 "max", (json_int_t)h->max, "sum", (json_int_t)h->sum);
}

int eval_hist_from_json(const json_t *j, eval_hist_t **out)
{
	json_int_t bits, min, max, sum;
	json_t *counts;
	eval_hist_t *h;

	*out = NULL;
	if (json_unpack((json_t *)j, "{s:I,s:o,s:I,s:I,s:I}", "sub_bucket_bits",
			&bits, "counts", &counts, "min", &min, "max", &max,
			"sum", &sum) || !json_is_array(counts) || bits < 2 ||
	    bits > 16 || min < 0 || max < min || sum < 0)
		return AS_EPARSE;
	h = eval_hist_new((unsigned)bits);
	if (!h)
		return AS_ENOMEM;
	size_t k;
	json_t *pair;
	json_array_foreach(counts, k, pair) {
		json_int_t i, c;
		if (json_unpack(pair, "[I,I]", &i, &c) || i < 0 ||
		    (size_t)i >= h->len || c <= 0) {
			eval_hist_free(h);
			return AS_EPARSE;
		}
		h->counts[i] += (uint64_t)c;
		h->total += (uint64_t)c;
	}
	h->min = (uint64_t)min;
	h->max = (uint64_t)max;
	h->sum = (uint64_t)sum;
	*out = h;
	return AS_OK;
}
