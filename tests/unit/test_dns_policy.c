/*
 * tests/unit/test_dns_policy.c - load factor and weighted sampling.
 *
 * The sampler is driven through the public API (dns_view_new +
 * dns_answer) so what is measured is what clients see: each test builds a
 * view of one service whose IPv6 endpoints are fd00::<index>, asks for
 * AAAA many times and counts which endpoints come back.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/dns.h"
#include "lib/as.h"

#define MAX_EPS 8

struct fixture {
	struct dns_endpoint_spec eps[MAX_EPS];
	size_t n;
	uint32_t max_answers;
};

static void fx_add(struct fixture *f, uint32_t weight, double lf, bool healthy)
{
	struct dns_endpoint_spec *e = &f->eps[f->n];

	memset(e, 0, sizeof(*e));
	e->family = AF_INET6;
	e->addr[0] = 0xfd;
	e->addr[15] = (uint8_t)f->n;
	e->weight = weight;
	e->node = "n";
	e->load_factor = lf;
	e->healthy = healthy;
	f->n++;
}

static dns_view_t *fx_view(const struct fixture *f)
{
	struct dns_service_spec svc = {
		.name = "web", .port = 443, .proto = "tcp", .ttl = 5,
		.max_answers = f->max_answers, .endpoints = f->eps,
		.n_endpoints = f->n,
	};
	struct dns_view_spec spec = {
		.zone = "svc.example.", .node_name = "t", .ttl = 5,
		.max_answers = 2, .soa_serial = 1, .soa_minimum = 5,
		.apex_ttl = 60, .services = &svc, .n_services = 1,
	};
	int err = -1;
	dns_view_t *v = NULL;
	err = dns_view_new(&spec, &v);

	assert_non_null(v);
	assert_int_equal(err, AS_OK);
	return v;
}

/* Wire form of "web.svc.example. AAAA" built with ldns. */
static uint8_t *aaaa_query(size_t *len)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str("web.svc.example."),
					 LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN,
					 LDNS_RD);
	uint8_t *wire = NULL;

	assert_non_null(p);
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

/* Runs `draws` AAAA queries; counts[i] += 1 for each answer holding
 * fd00::i, firsts[i] (if not NULL) when it is the first record; returns
 * the number of answers seen in the last response. */
static size_t draw_pos(dns_view_t *v, uint64_t seed, size_t draws,
		       unsigned *counts, unsigned *firsts, size_t n_eps)
{
	struct as_rng rng;
	uint8_t out[DNS_UDP_PAYLOAD_MAX];
	struct dns_result res;
	size_t qlen, last = 0;
	uint8_t *q = aaaa_query(&qlen);

	as_rng_seed(&rng, seed);
	for (size_t d = 0; d < draws; d++) {
		dns_answer(v, &rng, DNS_TRANSPORT_UDP, q, qlen, out, sizeof(out),
			   &res);
		assert_true(res.send);
		assert_int_equal(res.rcode, 0);
		size_t an = (size_t)(out[6] << 8 | out[7]);
		size_t off = qlen; /* question echoed: same length */
		unsigned seen = 0;
		for (size_t k = 0; k < an; k++) {
			assert_true(off + 12 + 16 <= res.len);
			assert_int_equal(out[off + 3], 28); /* type AAAA */
			assert_int_equal(out[off + 11], 16);
			uint8_t idx = out[off + 12 + 15];
			assert_true(idx < n_eps);
			assert_false(seen & (1u << idx)); /* no duplicates */
			seen |= 1u << idx;
			counts[idx]++;
			if (firsts && k == 0)
				firsts[idx]++;
			off += 12 + 16;
		}
		last = an;
	}
	free(q);
	return last;
}

static size_t draw(dns_view_t *v, uint64_t seed, size_t draws,
		   unsigned *counts, size_t n_eps)
{
	return draw_pos(v, seed, draws, counts, NULL, n_eps);
}

static void test_load_factor(void **state)
{
	(void)state;
	assert_true(dns_load_factor(0.1, 0.5, 0.9) == 1.0);
	assert_true(dns_load_factor(0.5, 0.5, 0.9) == 1.0);
	assert_true(fabs(dns_load_factor(0.7, 0.5, 0.9) - 0.5) < 1e-12);
	assert_true(fabs(dns_load_factor(0.6, 0.5, 0.9) - 0.75) < 1e-12);
	assert_true(dns_load_factor(0.9, 0.5, 0.9) == 0.0);
	assert_true(dns_load_factor(5.0, 0.5, 0.9) == 0.0);
	assert_true(dns_load_factor(INFINITY, 0.5, 0.9) == 0.0);
	/* NaN and negative loads count as 0. */
	assert_true(dns_load_factor(NAN, 0.5, 0.9) == 1.0);
	assert_true(dns_load_factor(-3.0, 0.5, 0.9) == 1.0);
	assert_true(dns_load_factor(NAN, 0.0, 0.9) == 1.0);
	/* low >= high: a step at high. */
	assert_true(dns_load_factor(0.7, 0.8, 0.8) == 1.0);
	assert_true(dns_load_factor(0.8, 0.8, 0.8) == 1.0);
	assert_true(dns_load_factor(0.81, 0.8, 0.8) == 0.0);
	assert_true(dns_load_factor(0.6, 0.9, 0.5) == 0.0);
	assert_true(dns_load_factor(0.4, 0.9, 0.5) == 1.0);
	/* Negative and NaN thresholds clamp to 0. */
	assert_true(dns_load_factor(0.5, -1.0, 1.0) == 0.5);
	assert_true(dns_load_factor(0.0, NAN, NAN) == 1.0);
	assert_true(dns_load_factor(0.1, NAN, NAN) == 0.0);
	for (double l = -1; l < 2; l += 0.01) {
		double f = dns_load_factor(l, 0.3, 0.8);
		assert_true(f >= 0.0 && f <= 1.0);
	}
}

/* max_answers = 1: each endpoint's share of 100,000 answers is its weight
 * share within one percentage point. */
static void test_share_single(void **state)
{
	struct fixture f = { .max_answers = 1 };
	const uint32_t w[] = { 1, 2, 3, 4, 10 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 100000;
	(void)state;

	for (size_t i = 0; i < AS_ARRAY_SIZE(w); i++)
		fx_add(&f, w[i], 1.0, true);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 1, draws, counts, f.n), 1);
	for (size_t i = 0; i < f.n; i++) {
		double share = (double)counts[i] / draws;
		print_message("weight %u: share %.4f expected %.4f\n", w[i],
			      share, w[i] / 20.0);
		assert_true(fabs(share - w[i] / 20.0) < 0.01);
	}
	dns_view_unref(v);
}

/* max_answers = 2: inclusion probability of i under successive weighted
 * draws is p_i + sum_{j != i} p_j * w_i / (W - w_j). */
static void test_inclusion_pairs(void **state)
{
	struct fixture f = { .max_answers = 2 };
	const uint32_t w[] = { 1, 2, 3, 4, 10 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 100000;
	double W = 20.0;
	(void)state;

	for (size_t i = 0; i < AS_ARRAY_SIZE(w); i++)
		fx_add(&f, w[i], 1.0, true);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 7, draws, counts, f.n), 2);
	size_t total = 0;
	for (size_t i = 0; i < f.n; i++) {
		double p = w[i] / W;
		for (size_t j = 0; j < f.n; j++)
			if (j != i)
				p += (w[j] / W) * (w[i] / (W - w[j]));
		double got = (double)counts[i] / draws;
		print_message("weight %u: inclusion %.4f expected %.4f\n",
			      w[i], got, p);
		assert_true(fabs(got - p) < 0.01);
		total += counts[i];
	}
	assert_int_equal(total, 2 * draws);
	dns_view_unref(v);
}

static void test_zero_weight_never(void **state)
{
	struct fixture f = { .max_answers = 4 };
	unsigned counts[MAX_EPS] = { 0 };
	(void)state;

	fx_add(&f, 0, 1.0, true);
	fx_add(&f, 5, 1.0, true);
	fx_add(&f, 0, 1.0, true);
	fx_add(&f, 1, 1.0, true);
	dns_view_t *v = fx_view(&f);
	/* Only two endpoints are eligible although four are asked for. */
	assert_int_equal(draw(v, 3, 20000, counts, f.n), 2);
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[2], 0);
	assert_int_equal(counts[1], 20000);
	assert_int_equal(counts[3], 20000);
	dns_view_unref(v);
}

/* Issue 19: an endpoint whose load factor is 0 is never first, but it
 * fills an answer the others leave short (a second address beats none);
 * an unhealthy endpoint never does. */
static void test_loaded_fill_last(void **state)
{
	struct fixture f = { .max_answers = 3 };
	unsigned counts[MAX_EPS] = { 0 }, firsts[MAX_EPS] = { 0 };
	(void)state;

	fx_add(&f, 10, 1.0, false);	/* unhealthy */
	fx_add(&f, 10, 0.0, true);	/* load factor 0 */
	fx_add(&f, 1, 0.2, true);
	fx_add(&f, 10, NAN, true);	/* a broken load factor counts as 0 */
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw_pos(v, 5, 5000, counts, firsts, f.n), 3);
	assert_int_equal(counts[0], 0);
	assert_int_equal(firsts[2], 5000);
	assert_int_equal(counts[2], 5000);
	assert_int_equal(counts[1], 5000);
	assert_int_equal(counts[3], 5000);
	dns_view_unref(v);
}

/* The case issue 19 observed: max_answers 2, one endpoint loaded to
 * factor 0. Every answer still holds two addresses, the loaded one
 * second; with enough unloaded endpoints it is not needed at all. */
static void test_one_zero_weight(void **state)
{
	struct fixture f = { .max_answers = 2 };
	unsigned counts[MAX_EPS] = { 0 }, firsts[MAX_EPS] = { 0 };
	(void)state;

	fx_add(&f, 1, 1.0, true);
	fx_add(&f, 1, 0.0, true);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw_pos(v, 7, 2000, counts, firsts, f.n), 2);
	assert_int_equal(firsts[0], 2000);
	assert_int_equal(firsts[1], 0);
	assert_int_equal(counts[1], 2000);
	dns_view_unref(v);

	memset(counts, 0, sizeof(counts));
	fx_add(&f, 1, 0.5, true);
	v = fx_view(&f);
	assert_int_equal(draw(v, 9, 2000, counts, f.n), 2);
	assert_int_equal(counts[1], 0);
	assert_int_equal(counts[0], 2000);
	assert_int_equal(counts[2], 2000);
	dns_view_unref(v);
}

/* Loaded endpoints fill in proportion to their configured weights. */
static void test_fill_by_configured_weight(void **state)
{
	struct fixture f = { .max_answers = 2 };
	unsigned counts[MAX_EPS] = { 0 }, firsts[MAX_EPS] = { 0 };
	const size_t draws = 40000;
	(void)state;

	fx_add(&f, 1, 1.0, true);
	fx_add(&f, 1, 0.0, true);
	fx_add(&f, 3, 0.0, true);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw_pos(v, 21, draws, counts, firsts, f.n), 2);
	assert_int_equal(firsts[0], draws);
	assert_true(fabs((double)counts[1] / draws - 0.25) < 0.015);
	assert_true(fabs((double)counts[2] / draws - 0.75) < 0.015);
	dns_view_unref(v);
}

/* One healthy endpoint, the rest down: an answer of one (a down
 * endpoint is no fallback). */
static void test_one_healthy(void **state)
{
	struct fixture f = { .max_answers = 2 };
	unsigned counts[MAX_EPS] = { 0 };
	(void)state;

	fx_add(&f, 5, 1.0, false);
	fx_add(&f, 5, 0.5, true);
	fx_add(&f, 5, 1.0, false);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 23, 2000, counts, f.n), 1);
	assert_int_equal(counts[1], 2000);
	assert_int_equal(counts[0] + counts[2], 0);
	dns_view_unref(v);
}

/* Every healthy endpoint loaded to 0: they are drawn by configured
 * weight, and a down endpoint never joins them although its configured
 * weight is the largest. */
static void test_all_loaded(void **state)
{
	struct fixture f = { .max_answers = 1 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 100000;
	(void)state;

	fx_add(&f, 1, 0.0, true);
	fx_add(&f, 3, 0.0, true);
	fx_add(&f, 10, 1.0, false);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 25, draws, counts, f.n), 1);
	assert_true(fabs((double)counts[0] / draws - 0.25) < 0.01);
	assert_true(fabs((double)counts[1] / draws - 0.75) < 0.01);
	assert_int_equal(counts[2], 0);
	dns_view_unref(v);

	memset(counts, 0, sizeof(counts));
	f.max_answers = 3;
	v = fx_view(&f);
	assert_int_equal(draw(v, 27, 1000, counts, f.n), 2);
	assert_int_equal(counts[0], 1000);
	assert_int_equal(counts[1], 1000);
	assert_int_equal(counts[2], 0);
	dns_view_unref(v);
}

/* The load factor scales the weight: 1.0 vs 0.5 at equal weights gives
 * 2/3 vs 1/3. */
static void test_load_factor_scales(void **state)
{
	struct fixture f = { .max_answers = 1 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 100000;
	(void)state;

	fx_add(&f, 3, 1.0, true);
	fx_add(&f, 3, 0.5, true);
	dns_view_t *v = fx_view(&f);
	draw(v, 11, draws, counts, f.n);
	assert_true(fabs((double)counts[0] / draws - 2.0 / 3) < 0.01);
	assert_true(fabs((double)counts[1] / draws - 1.0 / 3) < 0.01);
	dns_view_unref(v);
}

/* Everything unhealthy: fall back to the configured weights. */
static void test_fallback_configured(void **state)
{
	struct fixture f = { .max_answers = 1 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 100000;
	(void)state;

	fx_add(&f, 1, 1.0, false);
	fx_add(&f, 3, 0.0, false);
	fx_add(&f, 0, 1.0, false);	/* weight 0 stays out at this level */
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 13, draws, counts, f.n), 1);
	assert_true(fabs((double)counts[0] / draws - 0.25) < 0.01);
	assert_true(fabs((double)counts[1] / draws - 0.75) < 0.01);
	assert_int_equal(counts[2], 0);
	dns_view_unref(v);
}

/* Every configured weight 0 too: uniform over all endpoints. */
static void test_fallback_uniform(void **state)
{
	struct fixture f = { .max_answers = 1 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 90000;
	(void)state;

	fx_add(&f, 0, 1.0, true);
	fx_add(&f, 0, 0.0, false);
	fx_add(&f, 0, 0.5, true);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 17, draws, counts, f.n), 1);
	for (size_t i = 0; i < f.n; i++)
		assert_true(fabs((double)counts[i] / draws - 1.0 / 3) < 0.01);
	dns_view_unref(v);

	/* With max_answers >= n every endpoint is in every answer. */
	memset(counts, 0, sizeof(counts));
	f.max_answers = 5;
	v = fx_view(&f);
	assert_int_equal(draw(v, 19, 100, counts, f.n), 3);
	for (size_t i = 0; i < f.n; i++)
		assert_int_equal(counts[i], 100);
	dns_view_unref(v);
}

/* Like fx_add, but the endpoint's address is fd00::<last> (so two
 * endpoints can share one, as when two nodes publish it). */
static void fx_add_at(struct fixture *f, uint8_t last, uint32_t weight,
		      double lf, bool healthy)
{
	fx_add(f, weight, lf, healthy);
	f->eps[f->n - 1].addr[15] = last;
}

/* An address listed by several endpoints is one record (RFC 2181 5),
 * drawn as often as those endpoints together would be: here fd00::0
 * has 1 + 3 of 10, fd00::1 2 of 10, fd00::2 4 of 10. */
static void test_duplicates_merged(void **state)
{
	struct fixture f = { .max_answers = 1 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 100000;
	(void)state;

	fx_add_at(&f, 0, 1, 1.0, true);
	fx_add_at(&f, 1, 2, 1.0, true);
	fx_add_at(&f, 0, 3, 1.0, true);
	fx_add_at(&f, 2, 4, 1.0, true);
	dns_view_t *v = fx_view(&f);
	assert_int_equal(draw(v, 23, draws, counts, 3), 1);
	assert_true(fabs((double)counts[0] / draws - 0.4) < 0.01);
	assert_true(fabs((double)counts[1] / draws - 0.2) < 0.01);
	assert_true(fabs((double)counts[2] / draws - 0.4) < 0.01);
	dns_view_unref(v);

	/* Asking for more than there are distinct addresses: each once
	 * (draw() fails on a repeated record). */
	memset(counts, 0, sizeof(counts));
	f.max_answers = 4;
	v = fx_view(&f);
	assert_int_equal(draw(v, 29, 1000, counts, 3), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(counts[i], 1000);
	/* Introspection still lists every endpoint with its own weights. */
	struct dns_endpoint_info ei;
	assert_int_equal(dns_view_endpoint(v, 0, 2, &ei), AS_OK);
	assert_int_equal(ei.addr[15], 0);
	assert_int_equal(ei.weight, 3);
	assert_int_equal(dns_view_endpoint(v, 0, 3, &ei), AS_OK);
	assert_int_equal(ei.addr[15], 2);
	assert_int_equal(ei.weight, 4);
	dns_view_unref(v);
}

/* The all-down fallback where duplicates were first seen: every endpoint
 * unhealthy, so configured weights apply, summed per address; with all
 * configured weights 0 too, an address counts once per endpoint. */
static void test_duplicates_fallback(void **state)
{
	struct fixture f = { .max_answers = 1 };
	unsigned counts[MAX_EPS] = { 0 };
	const size_t draws = 90000;
	(void)state;

	fx_add_at(&f, 0, 1, 1.0, false);	/* node A */
	fx_add_at(&f, 0, 1, 1.0, false);	/* node B, same address */
	fx_add_at(&f, 1, 2, 1.0, false);
	dns_view_t *v = fx_view(&f);
	draw(v, 31, draws, counts, 2);
	assert_true(fabs((double)counts[0] / draws - 0.5) < 0.01);
	assert_true(fabs((double)counts[1] / draws - 0.5) < 0.01);
	dns_view_unref(v);
	memset(counts, 0, sizeof(counts));
	f.max_answers = 2;
	v = fx_view(&f);
	assert_int_equal(draw(v, 37, 1000, counts, 2), 2);
	assert_int_equal(counts[0], 1000);
	assert_int_equal(counts[1], 1000);
	dns_view_unref(v);

	for (size_t i = 0; i < f.n; i++)
		f.eps[i].weight = 0;
	memset(counts, 0, sizeof(counts));
	f.max_answers = 1;
	v = fx_view(&f);
	draw(v, 41, draws, counts, 2);
	assert_true(fabs((double)counts[0] / draws - 2.0 / 3) < 0.01);
	assert_true(fabs((double)counts[1] / draws - 1.0 / 3) < 0.01);
	dns_view_unref(v);
}

/* Introspection reports configured and effective weights. */
static void test_effective_weights(void **state)
{
	struct fixture f = { .max_answers = 1 };
	struct dns_endpoint_info ei;
	(void)state;

	fx_add(&f, 10, 0.25, true);
	fx_add(&f, 10, 1.0, false);
	fx_add(&f, 7, 3.0, true);	/* clamped to 1 */
	dns_view_t *v = fx_view(&f);
	assert_int_equal(dns_view_endpoint(v, 0, 0, &ei), AS_OK);
	assert_true(fabs(ei.effective_weight - 2.5) < 1e-9);
	assert_int_equal(ei.weight, 10);
	assert_int_equal(dns_view_endpoint(v, 0, 1, &ei), AS_OK);
	assert_true(ei.effective_weight == 0.0);
	assert_false(ei.healthy);
	assert_int_equal(dns_view_endpoint(v, 0, 2, &ei), AS_OK);
	assert_true(fabs(ei.effective_weight - 7.0) < 1e-9);
	assert_int_equal(ei.addr[15], 2);
	assert_int_equal(dns_view_endpoint(v, 0, 3, &ei), AS_ENOENT);
	assert_int_equal(dns_view_endpoint(v, 1, 0, &ei), AS_ENOENT);
	dns_view_unref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_factor),
		cmocka_unit_test(test_share_single),
		cmocka_unit_test(test_inclusion_pairs),
		cmocka_unit_test(test_zero_weight_never),
		cmocka_unit_test(test_loaded_fill_last),
		cmocka_unit_test(test_one_zero_weight),
		cmocka_unit_test(test_fill_by_configured_weight),
		cmocka_unit_test(test_one_healthy),
		cmocka_unit_test(test_all_loaded),
		cmocka_unit_test(test_load_factor_scales),
		cmocka_unit_test(test_fallback_configured),
		cmocka_unit_test(test_fallback_uniform),
		cmocka_unit_test(test_effective_weights),
		cmocka_unit_test(test_duplicates_merged),
		cmocka_unit_test(test_duplicates_fallback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
