/*
 * dns/policy.c - load factor and weighted sampling (the per-worker PRNG is
 * lib/rng.h's).
 *
 * Design. Everything here is exact integer arithmetic on weights prepared
 * when the view is built: a family's weights are turned into a cumulative
 * array once, so an answer costs one bounded random number (Lemire's
 * multiply-and-reject, no modulo bias) and one binary search per sampled
 * endpoint. Sampling without replacement does not copy or rewrite the
 * array: the intervals of the items already drawn are kept sorted, a draw
 * in the remaining mass is shifted past them, and the result is mapped
 * back through the original cumulative array. That is O(k^2 + k log n)
 * with k <= DNS_MAX_ANSWERS and no heap.
 */
#include <math.h>

#include "dns/view.h"

double dns_load_factor(double load, double low, double high)
{
	/* Clamp to [0, inf); NaN counts as 0 so a broken sensor does not
	 * steer traffic away. */
	if (!(load > 0))
		load = 0;
	if (!(low > 0))
		low = 0;
	if (!(high > 0))
		high = 0;
	if (low >= high)
		return load <= high ? 1.0 : 0.0;
	if (load <= low)
		return 1.0;
	if (load >= high)
		return 0.0;
	double f = 1.0 - (load - low) / (high - low);
	return f < 0 ? 0 : (f > 1 ? 1 : f);
}

size_t dns_sample(const uint64_t *cum, size_t n, size_t k,
		  struct as_rng *rng, uint32_t *out)
{
	struct {
		uint64_t start, w;
	} gone[DNS_MAX_ANSWERS];
	uint64_t total = n ? cum[n - 1] : 0;
	size_t got = 0;

	if (k > DNS_MAX_ANSWERS)
		k = DNS_MAX_ANSWERS;
	while (got < k && total > 0) {
		uint64_t r = as_rng_below(rng, total);

		/* Shift r past the drawn intervals that lie below it. */
		for (size_t g = 0; g < got && r >= gone[g].start; g++)
			r += gone[g].w;
		size_t lo = 0, hi = n - 1;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (cum[mid] > r)
				hi = mid;
			else
				lo = mid + 1;
		}
		uint64_t start = lo ? cum[lo - 1] : 0;
		uint64_t w = cum[lo] - start;
		size_t p = got;
		while (p > 0 && gone[p - 1].start > start) {
			gone[p] = gone[p - 1];
			p--;
		}
		gone[p].start = start;
		gone[p].w = w;
		out[got++] = (uint32_t)lo;
		total -= w;
	}
	return got;
}

/* The tier of an item: 0 drawn first (effective weight), 1 fills the
 * answer (healthy, configured weight, load factor 0), 2 never drawn
 * (unhealthy, or configured weight 0). */
static unsigned tier_of(uint64_t eff, uint64_t hcfg)
{
	return eff ? 0 : hcfg ? 1 : 2;
}

void dns_policy_tiers(const uint64_t *eff, const uint64_t *hcfg,
		      const uint64_t *cfg, const uint32_t *mult, size_t n,
		      uint32_t *order, uint64_t *cum, uint32_t *n_first,
		      uint32_t *n_fill)
{
	uint64_t any = 0, any_cfg = 0, sum = 0;
	size_t m = 0, count[3] = { 0 };

	for (size_t i = 0; i < n; i++) {
		any |= eff[i] | hcfg[i];
		any_cfg |= cfg[i];
	}
	if (!any) {
		/* Nothing healthy with a weight: fail open, every item by its
		 * configured weight, or uniformly (per endpoint). */
		for (size_t i = 0; i < n; i++) {
			sum += any_cfg ? cfg[i] : mult ? mult[i] : 1;
			order[i] = (uint32_t)i;
			cum[i] = sum;
		}
		*n_first = (uint32_t)n;
		*n_fill = 0;
		return;
	}
	/* Stable partition by tier; cumulative weights restart per tier. */
	for (unsigned t = 0; t < 3; t++, sum = 0) {
		for (size_t i = 0; i < n; i++) {
			if (tier_of(eff[i], hcfg[i]) != t)
				continue;
			sum += t == 0 ? eff[i] : t == 1 ? hcfg[i] : 0;
			order[m] = (uint32_t)i;
			cum[m++] = sum;
			count[t]++;
		}
	}
	*n_first = (uint32_t)count[0];
	*n_fill = (uint32_t)count[1];
}
