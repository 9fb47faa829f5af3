/*
 * dns/intent.c - per-service intents: the names, the topology zone rule
 * and the planner that turns an intent into the view's sampling layout.
 *
 * Design. dns_plan() is a pure function of the intent, the items of one
 * service and family (an item is one distinct address: its effective,
 * healthy-configured and configured weights, its node's zone and node
 * as small integer ids) and the zone the answers are planned for (the
 * answering node's). It runs when the view is built; what it returns is
 * what the query path reads, so a query costs O(answers) whatever the
 * objective:
 *
 *  - balance: dns_policy_tiers, today's two tiers (effective weight,
 *    then the loaded healthy endpoints by configured weight).
 *  - locality: four tiers. First the zone's endpoints by effective
 *    weight, then the other zones' (so an answer the zone cannot fill is
 *    filled from elsewhere), then the loaded healthy endpoints, the
 *    zone's before the others'. The zone's load is 1 - (its effective
 *    weight / its healthy configured weight), the weighted mean of
 *    (1 - load factor) over its healthy endpoints (1 with none); past
 *    spill_over the other zones join the first tier with their effective
 *    weight scaled by s = (load - spill_over) / (1 - spill_over), so the
 *    traffic that leaves the zone grows continuously from 0 at the
 *    threshold (no flapping step) to plain balance at full load.
 *  - resilience: the items are grouped by failure domain (node or zone);
 *    an answer draws distinct domains by their summed weight and one
 *    item in each, so no two addresses of an answer share a domain. A
 *    domain is drawn by the effective weights of its items if it has
 *    any, else (after every such domain) by the configured weights of
 *    its healthy ones. Endpoints without a zone share one domain.
 *  - latency: four tiers by the estimated RTT from the answering node to
 *    each item's node (network coordinates, gossip.h). An item is fit
 *    when its load (1 - its load factor) is at most spill_over (the
 *    service's own, 0.8 by default: factor 0.2 or more) and its RTT is
 *    known; spill_over 0 keeps only unloaded items fit, 1 every item
 *    with an effective weight. Tier 0: the fit
 *    items within a tie band of the lowest fit RTT (max(2 ms, 25 %):
 *    coordinates are estimates, and equally near endpoints should share
 *    the load by weight); tier 1: the fit items within the band of the
 *    next lowest; tier 2: every other item with an effective weight
 *    (farther, loaded, or without an estimate), by it; tier 3: the
 *    loaded healthy ones by configured weight. So a loaded near
 *    endpoint is never an answer's first address while a fit one
 *    exists, and with every endpoint loaded the answer is balance's.
 *    Without a single estimate (no coordinates yet) it is balance, and
 *    says so (no_rtt).
 *
 * Nothing here needs the clock: the spill ramp is a function of the
 * gossiped load, which already moves in load_step steps at a bounded
 * rate (gossip.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dns/view.h"
#include "lib/as.h"

const char *const dns_objective_values[DNS_OBJ__COUNT + 1] = {
	[DNS_OBJ_BALANCE] = "balance",
	[DNS_OBJ_LOCALITY] = "locality",
	[DNS_OBJ_RESILIENCE] = "resilience",
	[DNS_OBJ_LATENCY] = "latency",
};

const char *const dns_spread_values[DNS_SPREAD__COUNT + 1] = {
	[DNS_SPREAD_NODE] = "node",
	[DNS_SPREAD_ZONE] = "zone",
};

const char *dns_objective_name(enum dns_objective o)
{
	return (unsigned)o < DNS_OBJ__COUNT ? dns_objective_values[o] : "?";
}

int dns_objective_parse(const char *s)
{
	for (int i = 0; s && i < DNS_OBJ__COUNT; i++)
		if (strcmp(s, dns_objective_values[i]) == 0)
			return i;
	return -1;
}

const char *dns_spread_name(enum dns_spread s)
{
	return (unsigned)s < DNS_SPREAD__COUNT ? dns_spread_values[s] : "?";
}

int dns_spread_parse(const char *s)
{
	for (int i = 0; s && i < DNS_SPREAD__COUNT; i++)
		if (strcmp(s, dns_spread_values[i]) == 0)
			return i;
	return -1;
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

const char *dns_topo_zone_problem(const char *z)
{
	size_t n = z ? strlen(z) : 0;

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "longer than 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!alnum(z[i]) && z[i] != '-' && z[i] != '_' && z[i] != '.')
			return "invalid character (use letters, digits, '-', "
			       "'_' and '.')";
	if (!alnum(z[0]) || !alnum(z[n - 1]))
		return "must begin and end with a letter or digit";
	return NULL;
}

/* ---- the planner ----------------------------------------------------------- */

static void plan_balance(const struct dns_plan_in *in, struct dns_plan *p)
{
	dns_policy_tiers(in->eff, in->hcfg, in->cfg, in->mult, in->n,
			 p->order, p->cum, &p->tier[0], &p->tier[1]);
}

static bool nothing_drawable(const struct dns_plan_in *in)
{
	uint64_t any = 0;

	for (size_t i = 0; i < in->n; i++)
		any |= in->eff[i] | in->hcfg[i];
	return !any;
}

static void plan_locality(const struct dns_intent *it,
			  const struct dns_plan_in *in, struct dns_plan *p)
{
	uint64_t le = 0, lh = 0, sum[DNS_TIERS] = { 0 }, remote0 = 0;
	double load, s = 0, so = it->spill_over;
	size_t m = 0;

	if (in->here == 0 || nothing_drawable(in)) {
		plan_balance(in, p);	/* no zone of ours; or fail open */
		return;
	}
	for (size_t i = 0; i < in->n; i++)
		if (in->zone[i] == in->here) {
			le += in->eff[i];
			lh += in->hcfg[i];
		}
	load = lh ? 1.0 - (double)le / ((double)lh * DNS_LF_ONE) : 1.0;
	load = load < 0 ? 0 : load > 1 ? 1 : load;
	if (!(so >= 0))
		so = 0;
	if (load > so)
		s = so >= 1 ? 1 : (load - so) / (1 - so);
	uint64_t sq = (uint64_t)llround(s * DNS_LF_ONE);
	p->zone_load = load;

	/* Tier of each item and its weight in it; 4 = never drawn. Tier 0
	 * holds the zone's items first, so the query path knows an answer
	 * that leaves the zone by the index it drew (the spill counter). */
	p->locality = true;
	for (unsigned pass = 0; pass <= DNS_TIERS + 1; pass++) {
		unsigned t = pass ? pass - 1 : 0;
		for (size_t i = 0; i < in->n; i++) {
			bool local = in->zone[i] == in->here;
			if (t == 0 && local != (pass == 0))
				continue;
			uint64_t e = in->eff[i], h = in->hcfg[i], w = 0;
			uint64_t scaled = local ? e : (e * sq) >> 16;
			unsigned ti;
			if (e && scaled)
				ti = 0, w = scaled;
			else if (e)
				ti = 1, w = e;	/* remote, not spilled to */
			else if (h)
				ti = local ? 2 : 3, w = h;
			else
				ti = DNS_TIERS;
			if (ti != t)
				continue;
			if (t < DNS_TIERS) {
				sum[t] += w;
				p->tier[t]++;
				if (t == 0 && !local)
					remote0 += w;
			}
			p->order[m] = (uint32_t)i;
			p->cum[m++] = t < DNS_TIERS ? sum[t] : 0;
		}
		if (pass == 0)
			p->local0 = p->tier[0];
	}
	/* The chance that an answer's first address leaves the zone. */
	if (sum[0])
		p->spill = (double)remote0 / (double)sum[0];
	else
		p->spill = sum[1] ? 1 : sum[2] ? 0 : sum[3] ? 1 : 0;
}

/* At most spill_over loaded: factor >= 1 - spill_over (so 0 keeps an
 * unloaded item, factor exactly 1, fit). */
static bool fit(const struct dns_plan_in *in, size_t i, double min_factor)
{
	return in->eff[i] && in->hcfg[i] && !isnan(in->rtt[i]) &&
	       (double)in->eff[i] / ((double)in->hcfg[i] * DNS_LF_ONE) >= min_factor;
}

static double tie_band(double best)
{
	return best + AS_MAX(DNS_LATENCY_TIE_MS, DNS_LATENCY_TIE_FRAC * best);
}

static void plan_latency(const struct dns_intent *it,
			 const struct dns_plan_in *in, struct dns_plan *p)
{
	double so = it->spill_over, min_factor, best[2] = { INFINITY, INFINITY };
	uint64_t sum[DNS_TIERS] = { 0 };
	bool known = false;
	size_t m = 0;

	for (size_t i = 0; in->rtt && i < in->n; i++)
		known |= !isnan(in->rtt[i]);
	if (!known || nothing_drawable(in)) {
		p->no_rtt = !known;
		plan_balance(in, p);	/* no estimate yet; or fail open */
		return;
	}
	if (!(so >= 0 && so <= 1))
		so = DNS_SPILL_OVER_DEFAULT;
	min_factor = 1 - so;
	/* The two nearest bands of fit items. */
	for (size_t i = 0; i < in->n; i++)
		if (fit(in, i, min_factor) && in->rtt[i] < best[0])
			best[0] = in->rtt[i];
	for (size_t i = 0; i < in->n; i++)
		if (fit(in, i, min_factor) && in->rtt[i] > tie_band(best[0]) &&
		    in->rtt[i] < best[1])
			best[1] = in->rtt[i];
	for (unsigned t = 0; t <= DNS_TIERS; t++) {
		for (size_t i = 0; i < in->n; i++) {
			uint64_t w;
			unsigned ti;
			if (fit(in, i, min_factor) && in->rtt[i] <= tie_band(best[0]))
				ti = 0, w = in->eff[i];
			else if (fit(in, i, min_factor) && in->rtt[i] <= tie_band(best[1]))
				ti = 1, w = in->eff[i];
			else if (in->eff[i])
				ti = 2, w = in->eff[i];
			else if (in->hcfg[i])
				ti = 3, w = in->hcfg[i];
			else
				ti = DNS_TIERS, w = 0;
			if (ti != t)
				continue;
			if (t < DNS_TIERS) {
				sum[t] += w;
				p->tier[t]++;
			}
			p->order[m] = (uint32_t)i;
			p->cum[m++] = t < DNS_TIERS ? sum[t] : 0;
		}
	}
}

struct dom_key {
	uint32_t key, i;
};

static int cmp_dom_key(const void *a, const void *b)
{
	const struct dom_key *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static int plan_resilience(const struct dns_intent *it,
			   const struct dns_plan_in *in, struct dns_plan *p)
{
	const uint32_t *key = it->spread == DNS_SPREAD_ZONE ? in->zone : in->node;
	bool open = nothing_drawable(in);
	uint64_t any_cfg = 0;
	struct dom_key *dk = calloc(in->n ? in->n : 1, sizeof(*dk));
	uint32_t *run = calloc(in->n + 1, sizeof(*run));	/* run starts */
	uint8_t *cls = calloc(in->n ? in->n : 1, 1);	/* per item */
	uint8_t *dcls = calloc(in->n ? in->n : 1, 1);	/* per run */
	size_t n_runs = 0, m = 0, d = 0;

	if (!dk || !run || !cls || !dcls) {
		free(dk);
		free(run);
		free(cls);
		free(dcls);
		return AS_ENOMEM;
	}
	p->spread = true;
	for (size_t i = 0; i < in->n; i++)
		any_cfg |= in->cfg[i];
	/* Class of each item: 0 by effective weight, 1 by healthy
	 * configured weight, 2 never; failing open, all 0. */
	for (size_t i = 0; i < in->n; i++) {
		cls[i] = open ? 0 : in->eff[i] ? 0 : in->hcfg[i] ? 1 : 2;
		dk[i] = (struct dom_key){ key[i], (uint32_t)i };
	}
	qsort(dk, in->n, sizeof(*dk), cmp_dom_key);
	for (size_t j = 0; j < in->n; j++) {
		if (j == 0 || dk[j].key != dk[j - 1].key) {
			run[n_runs] = (uint32_t)j;
			dcls[n_runs++] = 2;
		}
		uint8_t c = cls[dk[j].i];
		if (c < dcls[n_runs - 1])
			dcls[n_runs - 1] = c;
	}
	run[n_runs] = (uint32_t)in->n;
	/* Domains by class; in each, its drawable items first. */
	for (uint8_t c = 0; c <= 2; c++) {
		uint64_t dsum = 0;
		for (size_t r = 0; r < n_runs; r++) {
			uint64_t isum = 0;
			if (dcls[r] != c)
				continue;
			p->doms[d].first = (uint32_t)m;
			for (int pass = 0; pass < 2; pass++)
				for (uint32_t j = run[r]; j < run[r + 1]; j++) {
					uint32_t i = dk[j].i;
					bool draw = c < 2 && cls[i] == c;
					if (draw != (pass == 0))
						continue;
					if (draw) {
						isum += open ? (any_cfg ? in->cfg[i] :
							in->mult ? in->mult[i] : 1) :
							c == 0 ? in->eff[i] : in->hcfg[i];
						p->doms[d].n_draw++;
					}
					p->order[m] = i;
					p->cum[m++] = isum;
				}
			dsum += c < 2 ? isum : 0;
			p->dcum[d++] = dsum;
			if (c < 2)
				p->dom_tier[c]++;
		}
	}
	p->n_dom = (uint32_t)d;
	free(dk);
	free(run);
	free(cls);
	free(dcls);
	return AS_OK;
}

int dns_plan(const struct dns_intent *it, const struct dns_plan_in *in,
	     struct dns_plan *p)
{
	memset(p->tier, 0, sizeof(p->tier));
	memset(p->dom_tier, 0, sizeof(p->dom_tier));
	p->n_dom = 0;
	p->spread = p->locality = p->no_rtt = false;
	p->local0 = 0;
	p->zone_load = p->spill = 0;
	if (p->doms)
		memset(p->doms, 0, in->n * sizeof(*p->doms));
	switch (it ? it->objective : DNS_OBJ_BALANCE) {
	case DNS_OBJ_LOCALITY:
		plan_locality(it, in, p);
		return AS_OK;
	case DNS_OBJ_RESILIENCE:
		return plan_resilience(it, in, p);
	case DNS_OBJ_LATENCY:
		plan_latency(it, in, p);
		return AS_OK;
	default:
		plan_balance(in, p);
		return AS_OK;
	}
}
