/*
 * tests/unit/test_dns_intent.c - per-service intents: the planner
 * (dns_plan, exact tiers and weights) and the answers a view built with
 * an intent gives (dns_view_new + dns_answer, counted over many draws).
 */
#include <arpa/inet.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/dns.h"
#include "dns/view.h"
#include "lib/as.h"

#define ONE DNS_LF_ONE
#define N 8

/* ---- the planner ------------------------------------------------------------ */

struct pfx {
	uint64_t eff[N], hcfg[N], cfg[N];
	uint32_t zone[N], node[N];
	double rtt[N];
	const double *rtt_in;	/* latency: rtt, once rtt_item set one */
	size_t n;
	uint32_t order[N];
	uint64_t cum[N], dcum[N];
	struct dns_dom doms[N];
	struct dns_plan p;
};

/* An item: configured weight w, load factor lf (healthy unless lf < 0),
 * in zone z on node nd. */
static void item(struct pfx *f, uint64_t w, double lf, uint32_t z, uint32_t nd)
{
	size_t i = f->n++;
	bool healthy = lf >= 0;

	f->cfg[i] = w;
	f->hcfg[i] = healthy ? w : 0;
	f->eff[i] = healthy ? w * (uint64_t)llround(lf * ONE) : 0;
	f->zone[i] = z;
	f->node[i] = nd;
}

static void plan(struct pfx *f, enum dns_objective o, double spill,
		 enum dns_spread sp, uint32_t here)
{
	struct dns_intent it = { .objective = o, .spill_over = spill, .spread = sp };
	struct dns_plan_in in = {
		.eff = f->eff, .hcfg = f->hcfg, .cfg = f->cfg, .zone = f->zone,
		.node = f->node, .rtt = f->rtt_in, .n = f->n, .here = here,
	};

	memset(&f->p, 0, sizeof(f->p));
	f->p.order = f->order;
	f->p.cum = f->cum;
	f->p.doms = f->doms;
	f->p.dcum = f->dcum;
	assert_int_equal(dns_plan(&it, &in, &f->p), AS_OK);
}

static void assert_tiers(const struct pfx *f, uint32_t a, uint32_t b,
			 uint32_t c, uint32_t d)
{
	assert_int_equal(f->p.tier[0], a);
	assert_int_equal(f->p.tier[1], b);
	assert_int_equal(f->p.tier[2], c);
	assert_int_equal(f->p.tier[3], d);
}

static void test_names(void **state)
{
	(void)state;
	for (int o = 0; o < DNS_OBJ__COUNT; o++)
		assert_int_equal(dns_objective_parse(dns_objective_name(o)), o);
	for (int s = 0; s < DNS_SPREAD__COUNT; s++)
		assert_int_equal(dns_spread_parse(dns_spread_name(s)), s);
	assert_int_equal(dns_objective_parse("Locality"), -1);
	assert_int_equal(dns_objective_parse(""), -1);
	assert_int_equal(dns_objective_parse(NULL), -1);
	assert_int_equal(dns_spread_parse("rack"), -1);
	assert_null(dns_topo_zone_problem("eu-west-1a"));
	assert_null(dns_topo_zone_problem("Zone_1.b"));
	assert_null(dns_topo_zone_problem("z"));
	assert_non_null(dns_topo_zone_problem(""));
	assert_non_null(dns_topo_zone_problem(NULL));
	assert_non_null(dns_topo_zone_problem("-a"));
	assert_non_null(dns_topo_zone_problem("a."));
	assert_non_null(dns_topo_zone_problem("a b"));
	assert_non_null(dns_topo_zone_problem("a/b"));
	char long_zone[65];
	memset(long_zone, 'a', 64);
	long_zone[64] = 0;
	assert_non_null(dns_topo_zone_problem(long_zone));
	long_zone[63] = 0;
	assert_null(dns_topo_zone_problem(long_zone));
}

/* Balance (and latency without any RTT estimate) are today's two tiers
 * exactly. */
static void test_balance_is_policy_tiers(void **state)
{
	struct pfx f = { 0 };
	uint32_t order[N] = { 0 }, n_first, n_fill;
	uint64_t cum[N] = { 0 };

	(void)state;
	item(&f, 100, 1, 1, 1);
	item(&f, 50, 0, 1, 2);
	item(&f, 30, -1, 2, 3);
	item(&f, 70, 0.5, 2, 4);
	dns_policy_tiers(f.eff, f.hcfg, f.cfg, NULL, f.n, order, cum, &n_first,
			 &n_fill);
	for (int o = DNS_OBJ_BALANCE; o <= DNS_OBJ_LATENCY; o += DNS_OBJ_LATENCY) {
		plan(&f, (enum dns_objective)o, 0, 0, 1);
		assert_tiers(&f, n_first, n_fill, 0, 0);
		/* the first f.n entries: the rest is nobody's (it was
		 * compared uninitialised and failed under -O2 in distcheck) */
		assert_memory_equal(f.order, order, f.n * sizeof(order[0]));
		assert_memory_equal(f.cum, cum, f.n * sizeof(cum[0]));
		assert_false(f.p.spread);
		assert_int_equal(f.p.no_rtt, o == DNS_OBJ_LATENCY);
	}
}

/* ---- latency ----------------------------------------------------------------- */

/* An item as item() does, with an estimated RTT (NaN: unknown). */
static void rtt_item(struct pfx *f, uint64_t w, double lf, double rtt)
{
	f->rtt[f->n] = rtt;
	f->rtt_in = f->rtt;
	item(f, w, lf, 0, (uint32_t)f->n + 1);
}

static void assert_order(const struct pfx *f, const uint32_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->order[i], want[i]);
}

/* Nearest first: two within the tie band share tier 0 by weight, the
 * next band is tier 1, farther ones tier 2, the loaded healthy one
 * tier 3, the unhealthy one never. */
static void test_latency_nearest_first(void **state)
{
	struct pfx f = { 0 };
	static const uint32_t want[] = { 0, 1, 2, 3, 4, 5 };

	(void)state;
	rtt_item(&f, 100, 1, 0.3);
	rtt_item(&f, 50, 1, 0.5);	/* a tie with 0.3: within 2 ms */
	rtt_item(&f, 100, 1, 10);
	rtt_item(&f, 100, 1, 25);	/* past 10's band (12.5) */
	rtt_item(&f, 100, 0, 0.1);	/* nearest, but loaded to 0 */
	rtt_item(&f, 100, -1, 0.1);	/* unhealthy */
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_false(f.p.no_rtt);
	assert_tiers(&f, 2, 1, 1, 1);
	assert_order(&f, want, 6);
	assert_int_equal(f.cum[0], 100 * (uint64_t)ONE);
	assert_int_equal(f.cum[1], 150 * (uint64_t)ONE);	/* by weight */
	assert_int_equal(f.cum[2], 100 * (uint64_t)ONE);	/* restarts */
	assert_int_equal(f.cum[4], 100);	/* by configured weight */
}

/* Ties: the band is max(2 ms, 25 %) of the nearest; an item just past
 * it is ranked after. Equal RTTs keep their order. */
static void test_latency_ties(void **state)
{
	struct pfx f = { 0 };
	static const uint32_t want[] = { 0, 1, 3, 2 };

	(void)state;
	rtt_item(&f, 100, 1, 20);
	rtt_item(&f, 100, 1, 24.9);	/* 20 + 25 % = 25 */
	rtt_item(&f, 100, 1, 25.2);
	rtt_item(&f, 100, 1, 20);
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_tiers(&f, 3, 1, 0, 0);
	assert_order(&f, want, 4);
}

/* The nearest endpoint is loaded past spill_over (factor below 0.2):
 * it is not an answer's first address while a fit one exists; it is
 * drawn only after the fit ones (tier 2, by its effective weight). */
static void test_latency_nearest_overloaded(void **state)
{
	struct pfx f = { 0 };
	static const uint32_t want[] = { 1, 2, 0 };

	(void)state;
	rtt_item(&f, 100, 0.1, 0.2);
	rtt_item(&f, 100, 1, 10);
	rtt_item(&f, 100, 0.5, 30);
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_tiers(&f, 1, 1, 1, 0);
	assert_order(&f, want, 3);
	/* exactly at the threshold (0.2) it is fit again, and first */
	f.eff[0] = 100 * (uint64_t)llround(0.2 * ONE) + 100;
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_int_equal(f.order[0], 0);
	assert_int_equal(f.p.tier[0], 1);
}

/* latency with a spill_over of its own: an endpoint is fit while its
 * load (1 - factor) is at most spill_over. A near endpoint at factor 0.5
 * (load 0.5, exact in 16 bits) is first by the default 0.8, passed over
 * by 0.4, fit again exactly at the threshold; 0 keeps only unloaded
 * endpoints fit, 1 every one with a weight. */
static void test_latency_spill_over(void **state)
{
	struct pfx f = { 0 };
	static const uint32_t near_first[] = { 0, 1 }, far_first[] = { 1, 0 };

	(void)state;
	rtt_item(&f, 100, 0.5, 0.2);
	rtt_item(&f, 100, 1, 10);
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_tiers(&f, 1, 1, 0, 0);
	assert_order(&f, near_first, 2);
	plan(&f, DNS_OBJ_LATENCY, 0.4, 0, 0);
	assert_tiers(&f, 1, 0, 1, 0);
	assert_order(&f, far_first, 2);
	assert_int_equal(f.cum[1], f.eff[0]);	/* tier 2: by effective weight */
	plan(&f, DNS_OBJ_LATENCY, 0.5, 0, 0);	/* load 0.5, not past 0.5 */
	assert_tiers(&f, 1, 1, 0, 0);
	assert_order(&f, near_first, 2);
	/* 0: the slightest load passes the near one over */
	f.eff[0] = 100 * (uint64_t)ONE - 1;
	plan(&f, DNS_OBJ_LATENCY, 0, 0, 0);
	assert_tiers(&f, 1, 0, 1, 0);
	assert_order(&f, far_first, 2);
	f.eff[0] = 100 * (uint64_t)ONE;		/* unloaded: fit */
	plan(&f, DNS_OBJ_LATENCY, 0, 0, 0);
	assert_order(&f, near_first, 2);
	/* 1: fit down to the last bit of weight */
	f.eff[0] = 1;
	plan(&f, DNS_OBJ_LATENCY, 1, 0, 0);
	assert_tiers(&f, 1, 1, 0, 0);
	assert_order(&f, near_first, 2);
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_order(&f, far_first, 2);
}

/* Everything loaded: nothing is fit, the answer is balance's (tier 2 by
 * effective weight, then the factor-0 ones by configured weight). */
static void test_latency_all_overloaded(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	rtt_item(&f, 100, 0.1, 0.2);
	rtt_item(&f, 100, 0.05, 10);
	rtt_item(&f, 100, 0, 5);
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_tiers(&f, 0, 0, 2, 1);
	assert_int_equal(f.cum[1], (uint64_t)llround(0.1 * ONE) * 100 +
				   (uint64_t)llround(0.05 * ONE) * 100);
	/* all at factor 0: the loaded healthy tier only */
	f.eff[0] = f.eff[1] = 0;
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_tiers(&f, 0, 0, 0, 3);
}

/* No coordinates yet: no estimate at all is balance (and says so); one
 * estimate ranks that item first, the unknown ones after the fit ones. */
static void test_latency_no_coordinates(void **state)
{
	struct pfx f = { 0 };
	uint32_t order[N], n_first, n_fill;
	uint64_t cum[N];

	(void)state;
	rtt_item(&f, 100, 1, NAN);
	rtt_item(&f, 50, 0.5, NAN);
	rtt_item(&f, 70, 0, NAN);
	dns_policy_tiers(f.eff, f.hcfg, f.cfg, NULL, f.n, order, cum, &n_first,
			 &n_fill);
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_true(f.p.no_rtt);
	assert_tiers(&f, n_first, n_fill, 0, 0);
	assert_memory_equal(f.order, order, f.n * sizeof(order[0]));
	assert_memory_equal(f.cum, cum, f.n * sizeof(cum[0]));
	f.rtt[1] = 12;
	plan(&f, DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0, 0);
	assert_false(f.p.no_rtt);
	assert_tiers(&f, 1, 0, 1, 1);
	assert_int_equal(f.order[0], 1);
	assert_int_equal(f.order[1], 0);
}

/* Below the threshold only the zone's endpoints are drawn first; the
 * other zones fill a short answer, ties keep their order. */
static void test_locality_local_first(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 100, 1, 2, 1);		/* remote */
	item(&f, 100, 1, 1, 2);		/* local */
	item(&f, 100, 1, 2, 3);		/* remote */
	item(&f, 100, 1, 1, 4);		/* local, tie with 1 */
	plan(&f, DNS_OBJ_LOCALITY, 0.8, 0, 1);
	assert_tiers(&f, 2, 2, 0, 0);
	assert_int_equal(f.order[0], 1);
	assert_int_equal(f.order[1], 3);
	assert_int_equal(f.cum[0], 100 * ONE);
	assert_int_equal(f.cum[1], 200 * ONE);
	assert_int_equal(f.order[2], 0);
	assert_int_equal(f.order[3], 2);
	assert_int_equal(f.cum[3], 200 * ONE);
	assert_true(f.p.zone_load == 0);
	assert_true(f.p.spill == 0);
}

/* The zone's load is 1 - effective / healthy configured weight; at the
 * threshold nothing spills, past it the other zones join the first tier
 * with their weight scaled by (load - t) / (1 - t). */
static void test_locality_spill_threshold(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 100, 0.25, 1, 1);	/* local, load 0.75 */
	item(&f, 100, 1, 2, 2);		/* remote */
	plan(&f, DNS_OBJ_LOCALITY, 0.75, 0, 1);
	assert_true(f.p.zone_load == 0.75);
	assert_tiers(&f, 1, 1, 0, 0);	/* exactly at it: no spill */
	assert_true(f.p.spill == 0);

	memset(&f, 0, sizeof(f));
	item(&f, 100, 0.125, 1, 1);	/* local, load 0.875 */
	item(&f, 100, 1, 2, 2);
	plan(&f, DNS_OBJ_LOCALITY, 0.75, 0, 1);
	assert_true(f.p.zone_load == 0.875);
	assert_tiers(&f, 2, 0, 0, 0);
	uint64_t le = 100 * (uint64_t)(ONE / 8);
	uint64_t re = (100 * (uint64_t)ONE) / 2;	/* s = 0.5 */
	assert_int_equal(f.order[0], 0);
	assert_int_equal(f.cum[0], le);
	assert_int_equal(f.cum[1], le + re);
	assert_true(fabs(f.p.spill - (double)re / (double)(le + re)) < 1e-9);

	/* spill_over 1: never by load, only to fill. */
	plan(&f, DNS_OBJ_LOCALITY, 1, 0, 1);
	assert_tiers(&f, 1, 1, 0, 0);
	/* spill_over 0: any load spills, proportionally. */
	plan(&f, DNS_OBJ_LOCALITY, 0, 0, 1);
	assert_tiers(&f, 2, 0, 0, 0);
}

/* Every endpoint overloaded (load factor 0): no first tiers; the zone's
 * loaded endpoints fill before the other zones'. */
static void test_locality_all_overloaded(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 10, 0, 2, 1);
	item(&f, 20, 0, 1, 2);
	item(&f, 30, -1, 1, 3);		/* unhealthy: never */
	plan(&f, DNS_OBJ_LOCALITY, 0.8, 0, 1);
	assert_true(f.p.zone_load == 1);
	assert_tiers(&f, 0, 0, 1, 1);
	assert_int_equal(f.order[0], 1);
	assert_int_equal(f.cum[0], 20);
	assert_int_equal(f.order[1], 0);
	assert_int_equal(f.cum[1], 10);
	assert_int_equal(f.order[2], 2);
	assert_true(f.p.spill == 0);
}

/* No endpoint in the answering zone (here matches none): everything is
 * elsewhere, by effective weight. No zone at all: balance. */
static void test_locality_zone_empty(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 100, 1, 2, 1);
	item(&f, 50, 0.5, 3, 2);
	plan(&f, DNS_OBJ_LOCALITY, 0.8, 0, UINT32_MAX);
	assert_true(f.p.zone_load == 1);
	assert_tiers(&f, 2, 0, 0, 0);
	assert_int_equal(f.cum[1], 100 * ONE + 50 * (uint64_t)(ONE / 2));
	assert_true(f.p.spill == 1);
	plan(&f, DNS_OBJ_LOCALITY, 0.8, 0, 0);
	assert_tiers(&f, 2, 0, 0, 0);
	assert_true(f.p.spill == 0);
	assert_true(f.p.zone_load == 0);
}

/* Nothing healthy: fail open exactly as balance does. */
static void test_locality_fail_open(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 100, -1, 1, 1);
	item(&f, 50, -1, 2, 2);
	plan(&f, DNS_OBJ_LOCALITY, 0.8, 0, 1);
	assert_tiers(&f, 2, 0, 0, 0);
	assert_int_equal(f.cum[1], 150);
}

/* Resilience over nodes: one domain per node, drawable items first, a
 * domain with only loaded endpoints after the others, one with nothing
 * drawable last. */
static void test_resilience_nodes(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 100, 1, 0, 7);		/* 0: node 7 */
	item(&f, 40, 0, 0, 5);		/* 1: node 5, loaded */
	item(&f, 100, 0.5, 0, 7);	/* 2: node 7 */
	item(&f, 10, -1, 0, 9);		/* 3: node 9, unhealthy */
	item(&f, 20, 0, 0, 7);		/* 4: node 7, loaded: not drawn */
	plan(&f, DNS_OBJ_RESILIENCE, 0, DNS_SPREAD_NODE, 0);
	assert_true(f.p.spread);
	assert_int_equal(f.p.n_dom, 3);
	assert_int_equal(f.p.dom_tier[0], 1);
	assert_int_equal(f.p.dom_tier[1], 1);
	/* node 7: items 0, 2 drawable, 4 after them */
	assert_int_equal(f.doms[0].first, 0);
	assert_int_equal(f.doms[0].n_draw, 2);
	assert_int_equal(f.order[0], 0);
	assert_int_equal(f.order[1], 2);
	assert_int_equal(f.order[2], 4);
	assert_int_equal(f.cum[1], 100 * ONE + 100 * (uint64_t)(ONE / 2));
	assert_int_equal(f.dcum[0], f.cum[1]);
	/* node 5: by configured weight */
	assert_int_equal(f.doms[1].first, 3);
	assert_int_equal(f.doms[1].n_draw, 1);
	assert_int_equal(f.order[3], 1);
	assert_int_equal(f.dcum[1], 40);
	/* node 9: never */
	assert_int_equal(f.doms[2].n_draw, 0);
	assert_int_equal(f.order[4], 3);
}

/* Resilience over zones: endpoints without a zone share one domain. */
static void test_resilience_zones(void **state)
{
	struct pfx f = { 0 };

	(void)state;
	item(&f, 1, 1, 3, 1);
	item(&f, 1, 1, 0, 2);
	item(&f, 1, 1, 3, 3);
	item(&f, 1, 1, 0, 4);
	item(&f, 1, 1, 1, 5);
	plan(&f, DNS_OBJ_RESILIENCE, 0, DNS_SPREAD_ZONE, 0);
	assert_int_equal(f.p.n_dom, 3);
	assert_int_equal(f.p.dom_tier[0], 3);
	assert_int_equal(f.doms[0].n_draw, 2);	/* zone 0 (none): 1, 3 */
	assert_int_equal(f.order[0], 1);
	assert_int_equal(f.order[1], 3);
	assert_int_equal(f.doms[1].n_draw, 1);	/* zone 1 */
	assert_int_equal(f.order[2], 4);
	assert_int_equal(f.doms[2].n_draw, 2);	/* zone 3 */
	assert_int_equal(f.dcum[2], 5 * (uint64_t)ONE);
}

/* ---- answers ----------------------------------------------------------------- */

struct vfx {
	struct dns_endpoint_spec eps[N];
	size_t n;
};

static void ep(struct vfx *f, const char *zone, const char *node, double lf)
{
	struct dns_endpoint_spec *e = &f->eps[f->n];

	memset(e, 0, sizeof(*e));
	e->family = AF_INET6;
	e->addr[0] = 0xfd;
	e->addr[15] = (uint8_t)f->n;
	e->weight = 100;
	e->node = node;
	e->zone = zone;
	e->load_factor = lf;
	e->healthy = true;
	f->n++;
}

static dns_view_t *view(const struct vfx *f, const struct dns_intent *it,
			uint32_t max_answers, const char *here)
{
	struct dns_service_spec svc = {
		.name = "web", .port = 443, .proto = "tcp", .ttl = 5,
		.max_answers = max_answers, .endpoints = f->eps,
		.n_endpoints = f->n, .intent = *it,
	};
	struct dns_view_spec spec = {
		.zone = "svc.example.", .node_name = "t", .node_zone = here,
		.ttl = 5, .max_answers = 2, .soa_serial = 1, .soa_minimum = 5,
		.apex_ttl = 60, .services = &svc, .n_services = 1,
	};
	dns_view_t *v = NULL;

	assert_int_equal(dns_view_new(&spec, &v), AS_OK);
	assert_non_null(v);
	return v;
}

/* Runs draws AAAA queries; for each answer calls back with the indexes
 * (last address byte) of its addresses in order. */
static void answers(dns_view_t *v, size_t draws,
		    void (*cb)(const uint8_t *idx, size_t n,
			       const struct dns_result *res, void *arg),
		    void *arg)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("web.svc.example."),
					 LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, 0);
	uint8_t *q = NULL, out[DNS_UDP_PAYLOAD_MAX], idx[DNS_MAX_ANSWERS];
	size_t qlen;
	struct dns_result res;
	struct as_rng rng;

	assert_int_equal(ldns_pkt2wire(&q, p, &qlen), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	as_rng_seed(&rng, 42);
	for (size_t d = 0; d < draws; d++) {
		dns_answer(v, &rng, DNS_TRANSPORT_UDP, q, qlen, out, sizeof(out), &res);
		assert_true(res.send);
		size_t an = (size_t)(out[6] << 8 | out[7]), off = qlen;
		for (size_t k = 0; k < an; k++, off += 12 + 16) {
			assert_true(off + 28 <= res.len);
			idx[k] = out[off + 27];
		}
		cb(idx, an, &res, arg);
	}
	free(q);
}

struct tally {
	const struct vfx *f;
	int objective;		/* expected in every result */
	bool zoneless;		/* the answering node has no zone */
	unsigned n_ans[DNS_MAX_ANSWERS + 1];
	unsigned first_remote, remote, shared;
	const char *here;
	bool by_zone;
};

static void count(const uint8_t *idx, size_t n, const struct dns_result *res,
		  void *arg)
{
	struct tally *t = arg;

	t->n_ans[n]++;
	assert_int_equal(res->objective, t->objective + 1);
	/* the spill counter's flag is exactly "the first address is
	 * outside the zone" (only locality sets it) */
	assert_int_equal(res->left_zone, t->objective == DNS_OBJ_LOCALITY &&
			 !t->zoneless &&
			 t->here && *t->here && n &&
			 strcmp(t->f->eps[idx[0]].zone, t->here) != 0);
	for (size_t k = 0; k < n; k++) {
		const struct dns_endpoint_spec *e = &t->f->eps[idx[k]];
		bool remote = strcmp(e->zone, t->here) != 0;
		t->remote += remote;
		t->first_remote += k == 0 && remote;
		for (size_t j = 0; j < k; j++) {
			const struct dns_endpoint_spec *o = &t->f->eps[idx[j]];
			t->shared += t->by_zone ? strcmp(o->zone, e->zone) == 0 :
						  strcmp(o->node, e->node) == 0;
		}
	}
}

/* A query at a zone-a node gets zone-a endpoints; past the threshold the
 * share of first answers outside the zone is the planned spill. */
static void test_answers_locality(void **state)
{
	struct vfx f = { 0 };
	struct dns_intent it = { DNS_OBJ_LOCALITY, 0.8, 0 };
	struct dns_service_info si;
	struct tally t = { .f = &f, .here = "a", .objective = DNS_OBJ_LOCALITY };
	dns_view_t *v;

	(void)state;
	ep(&f, "a", "n1", 1);
	ep(&f, "b", "n2", 1);
	ep(&f, "a", "n3", 1);
	ep(&f, "b", "n4", 1);
	v = view(&f, &it, 2, "a");
	answers(v, 2000, count, &t);
	assert_int_equal(t.n_ans[2], 2000);
	assert_int_equal(t.remote, 0);
	assert_int_equal(dns_view_service(v, 0, &si), AS_OK);
	assert_int_equal(si.intent.objective, DNS_OBJ_LOCALITY);
	assert_true(si.zone_load == 0 && si.spill == 0);
	dns_view_unref(v);

	/* max_answers 3: the third comes from the other zone */
	memset(&t, 0, sizeof(t));
	t.f = &f;
	t.here = "a";
	t.objective = DNS_OBJ_LOCALITY;
	v = view(&f, &it, 3, "a");
	answers(v, 500, count, &t);
	assert_int_equal(t.remote, 500);
	assert_int_equal(t.first_remote, 0);
	dns_view_unref(v);

	/* zone a at load 0.9: s = 0.5, remote first share 100/120 */
	f.eps[0].load_factor = f.eps[2].load_factor = 0.1;
	memset(&t, 0, sizeof(t));
	t.f = &f;
	t.here = "a";
	t.objective = DNS_OBJ_LOCALITY;
	v = view(&f, &it, 2, "a");
	assert_int_equal(dns_view_service(v, 0, &si), AS_OK);
	assert_true(fabs(si.zone_load - 0.9) < 1e-3);
	assert_true(fabs(si.spill - 100.0 / 120) < 1e-3);
	answers(v, 20000, count, &t);
	assert_true(fabs(t.first_remote / 20000.0 - 100.0 / 120) < 0.02);
	/* the plan as introspection reports it */
	struct dns_endpoint_info ei;
	double sum = 0;
	for (size_t j = 0; j < 4; j++) {
		assert_int_equal(dns_view_endpoint(v, 0, j, &ei), AS_OK);
		assert_string_equal(ei.zone, f.eps[j].zone);
		assert_int_equal(ei.rank, 0);
		assert_true(fabs(ei.first_share -
				 (j % 2 ? 50.0 / 120 : 10.0 / 120)) < 1e-3);
		sum += ei.first_share;
	}
	assert_true(fabs(sum - 1) < 1e-9);
	dns_view_unref(v);

	/* a node without a zone answers as balance */
	memset(&t, 0, sizeof(t));
	t.f = &f;
	t.here = "a";
	t.objective = DNS_OBJ_LOCALITY;
	t.zoneless = true;
	v = view(&f, &it, 1, NULL);
	answers(v, 20000, count, &t);
	assert_true(fabs(t.first_remote / 20000.0 - 200.0 / 220) < 0.02);
	dns_view_unref(v);
}

/* Latency on a built view: every first address is the nearest fit
 * endpoint, the second the next band's; introspection shows the RTT and
 * whether the objective fell back; with no estimate the view says so. */
struct first_tally {
	unsigned first[N], second[N];
};

static void count_first(const uint8_t *idx, size_t n, const struct dns_result *res,
			void *arg)
{
	struct first_tally *t = arg;

	assert_int_equal(res->objective, DNS_OBJ_LATENCY + 1);
	assert_false(res->left_zone);
	if (n > 0)
		t->first[idx[0]]++;
	if (n > 1)
		t->second[idx[1]]++;
}

static void test_answers_latency(void **state)
{
	struct vfx f = { 0 };
	struct dns_intent it = { DNS_OBJ_LATENCY, DNS_SPILL_OVER_DEFAULT, 0 };
	struct first_tally t = { 0 };
	struct dns_service_info si;
	struct dns_endpoint_info ei;
	static const double rtt[] = { 0, 0.4, 12, 30 };
	dns_view_t *v;

	(void)state;
	ep(&f, "a", "n1", 0.1);		/* this node, loaded past 0.8 */
	ep(&f, "a", "n2", 1);
	ep(&f, "b", "n3", 1);
	ep(&f, "c", "n4", 1);
	for (size_t i = 0; i < 4; i++) {
		f.eps[i].rtt_known = true;
		f.eps[i].rtt_ms = rtt[i];
	}
	v = view(&f, &it, 2, "a");
	assert_int_equal(dns_view_service(v, 0, &si), AS_OK);
	assert_false(si.latency_fallback);
	answers(v, 2000, count_first, &t);
	assert_int_equal(t.first[1], 2000);	/* n1 is loaded: n2 */
	assert_int_equal(t.second[2], 2000);	/* then the next band */
	assert_int_equal(dns_view_endpoint(v, 0, 2, &ei), AS_OK);
	assert_true(ei.rtt_known && fabs(ei.rtt_ms - 12) < 1e-6);
	assert_int_equal(ei.rank, 1);
	assert_int_equal(dns_view_endpoint(v, 0, 0, &ei), AS_OK);
	assert_int_equal(ei.rank, 2);
	dns_view_unref(v);

	/* The service's own spill_over: n2 at factor 0.6 is first by the
	 * default, passed over for n3 by 0.3 (its load 0.4 is past it). */
	f.eps[1].load_factor = 0.6;
	memset(&t, 0, sizeof(t));
	v = view(&f, &it, 1, "a");
	answers(v, 500, count_first, &t);
	assert_int_equal(t.first[1], 500);
	dns_view_unref(v);
	it.spill_over = 0.3;
	memset(&t, 0, sizeof(t));
	v = view(&f, &it, 1, "a");
	assert_int_equal(dns_view_service(v, 0, &si), AS_OK);
	assert_true(si.intent.spill_over == 0.3);
	answers(v, 500, count_first, &t);
	assert_int_equal(t.first[2], 500);
	dns_view_unref(v);
	it.spill_over = DNS_SPILL_OVER_DEFAULT;
	f.eps[1].load_factor = 1;

	/* no estimates: balance, flagged for explain */
	for (size_t i = 0; i < 4; i++)
		f.eps[i].rtt_known = false;
	memset(&t, 0, sizeof(t));
	v = view(&f, &it, 1, "a");
	assert_int_equal(dns_view_service(v, 0, &si), AS_OK);
	assert_true(si.latency_fallback);
	answers(v, 20000, count_first, &t);
	for (size_t i = 1; i < 4; i++)	/* by effective weight: 100 each */
		assert_true(fabs(t.first[i] / 20000.0 - 100.0 / 310) < 0.02);
	dns_view_unref(v);
}

/* Resilience: no two addresses of an answer share a zone (or a node);
 * an answer has as many addresses as there are domains, at most. */
static void test_answers_resilience(void **state)
{
	struct vfx f = { 0 };
	struct dns_intent it = { DNS_OBJ_RESILIENCE, 0, DNS_SPREAD_ZONE };
	struct tally t = { .f = &f, .here = "", .by_zone = true,
			   .objective = DNS_OBJ_RESILIENCE };
	dns_view_t *v;

	(void)state;
	ep(&f, "a", "n1", 1);
	ep(&f, "a", "n2", 1);
	ep(&f, "b", "n3", 0.5);
	ep(&f, "b", "n3", 0);	/* loaded: fills only */
	ep(&f, "c", "n4", 0);	/* a loaded zone: after the others */
	v = view(&f, &it, 2, "a");
	answers(v, 3000, count, &t);
	assert_int_equal(t.n_ans[2], 3000);
	assert_int_equal(t.shared, 0);
	/* first address: zone a (weight 200) or b (50), then by endpoint;
	 * n3's loaded endpoint and zone c never come first */
	static const double share[5] = { 0.4, 0.4, 0.2, 0, 0 };
	static const int rank[5] = { 0, 0, 0, -1, 1 };
	for (size_t j = 0; j < 5; j++) {
		struct dns_endpoint_info ei;
		assert_int_equal(dns_view_endpoint(v, 0, j, &ei), AS_OK);
		assert_int_equal(ei.rank, rank[j]);
		assert_true(fabs(ei.first_share - share[j]) < 1e-9);
	}
	dns_view_unref(v);

	memset(&t, 0, sizeof(t));
	t.f = &f;
	t.here = "";
	t.objective = DNS_OBJ_RESILIENCE;
	t.by_zone = true;
	v = view(&f, &it, 8, "a");
	answers(v, 1000, count, &t);
	assert_int_equal(t.n_ans[3], 1000);	/* three zones */
	assert_int_equal(t.shared, 0);
	dns_view_unref(v);

	it.spread = DNS_SPREAD_NODE;
	memset(&t, 0, sizeof(t));
	t.f = &f;
	t.here = "";
	t.objective = DNS_OBJ_RESILIENCE;
	v = view(&f, &it, 8, NULL);
	answers(v, 1000, count, &t);
	assert_int_equal(t.n_ans[4], 1000);	/* four nodes */
	assert_int_equal(t.shared, 0);
	dns_view_unref(v);
}

/* ---- client zones (EDNS Client Subnet, RFC 7871) ---------------------------- */

/* Wire query for name AAAA (or A) with an OPT record holding opts. */
static size_t ecs_wire(uint8_t *q, const char *name, uint16_t qtype,
		       const uint8_t *opts, size_t olen)
{
	size_t n = 0;
	static const uint8_t hdr[12] = { 0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 1 };

	memcpy(q, hdr, 12);
	n = 12;
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = (uint8_t)qtype, q[n++] = 0, q[n++] = 1;
	/* OPT: root, type 41, size 1232, ttl 0, rdlen */
	q[n++] = 0, q[n++] = 0, q[n++] = 41, q[n++] = 0x04, q[n++] = 0xd0;
	q[n++] = 0, q[n++] = 0, q[n++] = 0, q[n++] = 0;
	q[n++] = (uint8_t)(olen >> 8), q[n++] = (uint8_t)olen;
	if (olen)
		memcpy(q + n, opts, olen);
	return n + olen;
}

static size_t ecs_opt(uint8_t *o, uint16_t fam, uint8_t src, const uint8_t *a,
		      size_t alen)
{
	o[0] = 0, o[1] = 8, o[2] = 0, o[3] = (uint8_t)(4 + alen);
	o[4] = 0, o[5] = (uint8_t)fam, o[6] = src, o[7] = 0;
	memcpy(o + 8, a, alen);
	return 8 + alen;
}

struct ecs_reply {
	struct dns_result res;
	unsigned zone_b;	/* addresses from zone b seen */
	unsigned total;
	int scope;		/* -1: no ECS option in the reply */
	int src;
};

/* Asks draws times; tallies zone-b addresses (last byte 2 or 3) and
 * reads the reply's ECS option with ldns. */
static void ecs_ask_from(dns_view_t *v, const struct sockaddr_storage *src,
			 const uint8_t *q, size_t qlen, size_t draws,
			 struct ecs_reply *r)
{
	uint8_t out[DNS_UDP_PAYLOAD_MAX];
	struct as_rng rng;

	memset(r, 0, sizeof(*r));
	r->scope = r->src = -1;
	as_rng_seed(&rng, 7);
	for (size_t d = 0; d < draws; d++) {
		ldns_pkt *p = NULL;
		dns_answer_from(v, &rng, DNS_TRANSPORT_UDP, src, q, qlen, out,
				sizeof(out), &r->res);
		assert_true(r->res.send);
		if (r->res.rcode)
			return;
		assert_int_equal(ldns_wire2pkt(&p, out, r->res.len), LDNS_STATUS_OK);
		ldns_rr_list *an = ldns_pkt_answer(p);
		for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
			ldns_rdf *rd = ldns_rr_rdf(ldns_rr_list_rr(an, i), 0);
			uint8_t last = ldns_rdf_data(rd)[ldns_rdf_size(rd) - 1];
			r->zone_b += last == 2 || last == 3;
			r->total++;
		}
		ldns_edns_option_list *l = ldns_pkt_edns_get_option_list(p);
		for (size_t i = 0; l && i < ldns_edns_option_list_get_count(l); i++) {
			ldns_edns_option *o = ldns_edns_option_list_get_option(l, i);
			if (ldns_edns_get_code(o) != 8)
				continue;
			const uint8_t *d8 = ldns_edns_get_data(o);
			r->src = d8[2];
			r->scope = d8[3];
		}
		ldns_pkt_free(p);
	}
}

static void ecs_ask(dns_view_t *v, const uint8_t *q, size_t qlen, size_t draws,
		    struct ecs_reply *r)
{
	ecs_ask_from(v, NULL, q, qlen, draws, r);
}

/* Zone a answers by default; a Client Subnet inside a prefix of zone b
 * gets zone b's endpoints, with the scope of that prefix echoed; a more
 * specific prefix inside the client's narrows the scope; malformed
 * options are FORMERR. */
static void test_client_zones(void **state)
{
	struct vfx f = { 0 };
	struct dns_client_zone cz[3];
	struct dns_intent loc = { DNS_OBJ_LOCALITY, 0.8, 0 };
	struct dns_service_spec svc[2] = {
		{ .name = "web", .port = 443, .max_answers = 2, .intent = loc },
		{ .name = "bal", .port = 443, .max_answers = 2 },
	};
	struct dns_view_spec spec = {
		.zone = "svc.example.", .node_name = "t", .node_zone = "a",
		.ttl = 5, .soa_serial = 1, .apex_ttl = 60, .services = svc,
		.n_services = 2, .client_zones = cz, .n_client_zones = 3,
	};
	uint8_t q[512], o[64];
	size_t ql;
	struct ecs_reply r;
	dns_view_t *v = NULL;

	(void)state;
	ep(&f, "a", "n1", 1);		/* ::0 */
	ep(&f, "a", "n2", 1);		/* ::1 */
	ep(&f, "b", "n3", 1);		/* ::2 */
	ep(&f, "b", "n4", 1);		/* ::3 */
	svc[0].endpoints = svc[1].endpoints = f.eps;
	svc[0].n_endpoints = svc[1].n_endpoints = f.n;
	assert_null(dns_prefix_parse("fd00:b::/48", &cz[0].prefix));
	assert_null(dns_prefix_parse("fd00:b:1::/64", &cz[1].prefix));
	assert_null(dns_prefix_parse("10.2.0.0/16", &cz[2].prefix));
	cz[0].zone = cz[2].zone = "b";
	cz[1].zone = "a";
	assert_int_equal(dns_view_new(&spec, &v), AS_OK);

	/* no option: zone a, no ECS in the reply */
	ql = ecs_wire(q, "web.svc.example", 28, NULL, 0);
	ecs_ask(v, q, ql, 200, &r);
	assert_int_equal(r.total, 400);
	assert_int_equal(r.zone_b, 0);
	assert_int_equal(r.scope, -1);
	assert_false(r.res.ecs);
	/* fd00:b::/56: zone b by the /48, scope 48 */
	static const uint8_t b56[7] = { 0xfd, 0, 0, 0x0b, 0, 0, 0 };
	ql = ecs_wire(q, "web.svc.example", 28, o, ecs_opt(o, 2, 56, b56, 7));
	ecs_ask(v, q, ql, 200, &r);
	assert_int_equal(r.zone_b, 400);
	assert_int_equal(r.src, 56);
	assert_int_equal(r.scope, 48);
	assert_true(r.res.ecs);
	/* the same over the balance service: echoed with scope 0 */
	ql = ecs_wire(q, "bal.svc.example", 28, o, ecs_opt(o, 2, 56, b56, 7));
	ecs_ask(v, q, ql, 50, &r);
	assert_int_equal(r.scope, 0);
	/* fd00:b::/40: no prefix holds it (this node's plan), but both lie
	 * inside it: scope 64 */
	ql = ecs_wire(q, "web.svc.example", 28, o, ecs_opt(o, 2, 40, b56, 5));
	ecs_ask(v, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 0);
	assert_int_equal(r.scope, 64);
	/* fd00:b:1::/64: the longest, zone a */
	static const uint8_t b1[8] = { 0xfd, 0, 0, 0x0b, 0, 1, 0, 0 };
	ql = ecs_wire(q, "web.svc.example", 28, o, ecs_opt(o, 2, 64, b1, 8));
	ecs_ask(v, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 0);
	assert_int_equal(r.scope, 64);
	/* an IPv4 client in 10.2.0.0/16: zone b (asking AAAA is fine) */
	static const uint8_t v4[3] = { 10, 2, 3 };
	ql = ecs_wire(q, "web.svc.example", 28, o, ecs_opt(o, 1, 24, v4, 3));
	ecs_ask(v, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 200);
	assert_int_equal(r.scope, 16);
	/* outside every prefix: this node's zone, scope = source */
	static const uint8_t c[3] = { 10, 9, 3 };
	ql = ecs_wire(q, "web.svc.example", 28, o, ecs_opt(o, 1, 24, c, 3));
	ecs_ask(v, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 0);
	assert_int_equal(r.scope, 24);

	/* no option: the source address places the client, nothing echoed */
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "fd00:b::7",
				   &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
	ql = ecs_wire(q, "web.svc.example", 28, NULL, 0);
	ecs_ask_from(v, &ss, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 200);
	assert_int_equal(r.scope, -1);
	assert_false(r.res.ecs);
	/* an IPv4-mapped source counts as IPv4: 10.2.0.9 is zone b */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.2.0.9",
				   &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
	ecs_ask_from(v, &ss, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 200);
	/* the option wins over the source: fd00:b:1::/64 is zone a */
	ql = ecs_wire(q, "web.svc.example", 28, o, ecs_opt(o, 2, 64, b1, 8));
	ecs_ask_from(v, &ss, q, ql, 100, &r);
	assert_int_equal(r.zone_b, 0);
	assert_int_equal(r.scope, 64);

	/* introspection as a client would be answered: fd00:b::9 is in
	 * zone b (its plan: b's endpoints first, half each), fd00:c::9 is
	 * nowhere (this node's plan) */
	struct dns_prefix cl;
	struct dns_endpoint_info ei;
	const char *pz = "x";
	assert_null(dns_prefix_parse("fd00:b::9", &cl));
	for (size_t j = 0; j < 4; j++) {
		assert_int_equal(dns_view_endpoint_for(v, 0, j, &cl, &ei, &pz), AS_OK);
		assert_string_equal(pz, "b");
		assert_int_equal(ei.rank, j < 2 ? 1 : 0);
		assert_true(fabs(ei.first_share - (j < 2 ? 0 : 0.5)) < 1e-9);
	}
	assert_null(dns_prefix_parse("fd00:c::9", &cl));
	assert_int_equal(dns_view_endpoint_for(v, 0, 2, &cl, &ei, &pz), AS_OK);
	assert_null(pz);
	assert_int_equal(ei.rank, 1);
	assert_int_equal(dns_view_endpoint_for(v, 1, 2, &cl, &ei, &pz), AS_OK);
	assert_null(pz);	/* balance: no client plans */

	/* malformed: FORMERR */
	static const uint8_t past[3] = { 10, 2, 0x0f };
	struct { uint16_t fam; uint8_t src; const uint8_t *a; size_t alen; } bad[] = {
		{ 3, 8, v4, 1 },	/* family */
		{ 1, 33, b1, 5 },	/* source too long */
		{ 2, 56, b56, 6 },	/* address too short */
		{ 2, 56, b1, 8 },	/* too long */
		{ 1, 20, past, 3 },	/* bits past the source */
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++) {
		ql = ecs_wire(q, "web.svc.example", 28, o,
			      ecs_opt(o, bad[i].fam, bad[i].src, bad[i].a, bad[i].alen));
		ecs_ask(v, q, ql, 1, &r);
		assert_int_equal(r.res.rcode, 1);
		assert_int_equal(r.res.malformed, DNS_MAL_EDNS);
	}
	size_t ol = ecs_opt(o, 1, 24, v4, 3);
	memcpy(o + ol, o, ol);	/* twice */
	ql = ecs_wire(q, "web.svc.example", 28, o, 2 * ol);
	ecs_ask(v, q, ql, 1, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_EDNS);
	dns_view_unref(v);
}

/* A spec with an intent out of range is refused. */
static void test_bad_intent(void **state)
{
	struct vfx f = { 0 };
	struct dns_intent it = { DNS_OBJ_LOCALITY, NAN, 0 };
	struct dns_service_spec svc = {
		.name = "web", .port = 443, .endpoints = f.eps, .intent = it,
	};
	struct dns_view_spec spec = {
		.zone = "svc.example.", .services = &svc, .n_services = 1,
	};
	dns_view_t *v = NULL;

	(void)state;
	assert_int_equal(dns_view_new(&spec, &v), AS_EINVAL);
	svc.intent.spill_over = 1.5;
	assert_int_equal(dns_view_new(&spec, &v), AS_EINVAL);
	svc.intent.spill_over = 0.5;
	svc.intent.objective = DNS_OBJ__COUNT;
	assert_int_equal(dns_view_new(&spec, &v), AS_EINVAL);
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_balance_is_policy_tiers),
		cmocka_unit_test(test_latency_nearest_first),
		cmocka_unit_test(test_latency_ties),
		cmocka_unit_test(test_latency_nearest_overloaded),
		cmocka_unit_test(test_latency_spill_over),
		cmocka_unit_test(test_latency_all_overloaded),
		cmocka_unit_test(test_latency_no_coordinates),
		cmocka_unit_test(test_answers_latency),
		cmocka_unit_test(test_locality_local_first),
		cmocka_unit_test(test_locality_spill_threshold),
		cmocka_unit_test(test_locality_all_overloaded),
		cmocka_unit_test(test_locality_zone_empty),
		cmocka_unit_test(test_locality_fail_open),
		cmocka_unit_test(test_resilience_nodes),
		cmocka_unit_test(test_resilience_zones),
		cmocka_unit_test(test_answers_locality),
		cmocka_unit_test(test_answers_resilience),
		cmocka_unit_test(test_client_zones),
		cmocka_unit_test(test_bad_intent),
	};
	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
