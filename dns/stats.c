/*
 * dns/stats.c - names of the counted categories and per-worker counters.
 *
 * Design. Each worker owns one struct dns_stats and is its only writer;
 * the metrics thread reads it concurrently. Counters are therefore
 * updated with relaxed atomic load + store (plain moves on x86-64, no
 * locked read-modify-write): a reader sees each counter whole, maybe a
 * moment old, which is all monitoring needs.
 */
#include "dns/wire.h"

const uint64_t dns_latency_bounds_ns[DNS_LAT_BUCKETS - 1] = {
	1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
	1000000, 10000000,
};

const char *dns_malformed_name(enum dns_malformed m)
{
	static const char *const names[DNS_MAL__COUNT] = {
		[DNS_MAL_NONE] = "none",
		[DNS_MAL_SHORT_HEADER] = "short_header",
		[DNS_MAL_RESPONSE] = "response",
		[DNS_MAL_QDCOUNT] = "qdcount",
		[DNS_MAL_NAME] = "name",
		[DNS_MAL_TRUNCATED] = "truncated",
		[DNS_MAL_EDNS] = "edns",
		[DNS_MAL_SECTIONS] = "sections",
		[DNS_MAL_TRAILING] = "trailing",
		[DNS_MAL_TSIG] = "tsig",
	};
	if ((unsigned)m >= DNS_MAL__COUNT)
		return "unknown";
	return names[m];
}

const char *dns_qtype_bucket_name(enum dns_qtype_bucket b)
{
	static const char *const names[DNS_QT__COUNT] = {
		[DNS_QT_A] = "A", [DNS_QT_NS] = "NS", [DNS_QT_SOA] = "SOA",
		[DNS_QT_TXT] = "TXT", [DNS_QT_AAAA] = "AAAA",
		[DNS_QT_SRV] = "SRV", [DNS_QT_HTTPS] = "HTTPS",
		[DNS_QT_ANY] = "ANY", [DNS_QT_OTHER] = "other",
	};
	if ((unsigned)b >= DNS_QT__COUNT)
		return "unknown";
	return names[b];
}

enum dns_qtype_bucket dns_qtype_bucket(uint16_t qtype)
{
	switch (qtype) {
	case DNS_T_A: return DNS_QT_A;
	case DNS_T_NS: return DNS_QT_NS;
	case DNS_T_SOA: return DNS_QT_SOA;
	case DNS_T_TXT: return DNS_QT_TXT;
	case DNS_T_AAAA: return DNS_QT_AAAA;
	case DNS_T_SRV: return DNS_QT_SRV;
	case DNS_T_HTTPS: return DNS_QT_HTTPS;
	case DNS_T_ANY: return DNS_QT_ANY;
	default: return DNS_QT_OTHER;
	}
}

static inline void bump(uint64_t *x, uint64_t n)
{
	__atomic_store_n(x, __atomic_load_n(x, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

void dns_stats_count(struct dns_stats *st, enum dns_transport t,
		     const struct dns_result *res, uint64_t latency_ns)
{
	size_t b = 0;

	/* The self-check is not a client: only counted as what it is. */
	if (res->self_check) {
		bump(&st->self_checks, 1);
		return;
	}
	bump(&st->queries, 1);
	bump(t == DNS_TRANSPORT_TCP ? &st->tcp_queries : &st->udp_queries, 1);
	if (res->malformed != DNS_MAL_NONE &&
	    (unsigned)res->malformed < DNS_MAL__COUNT)
		bump(&st->malformed[res->malformed], 1);
	if (!res->send) {
		/* A forwarded query's reply comes later (fwd counters). */
		if (res->rate_limited)
			bump(&st->rrl_dropped, 1);
		else if (!res->forwarded)
			bump(&st->dropped, 1);
	} else {
		/* A malformed query has no trustworthy qtype. */
		if (res->malformed == DNS_MAL_NONE)
			bump(&st->by_qtype[dns_qtype_bucket(res->qtype)], 1);
		if (res->rcode < AS_ARRAY_SIZE(st->by_rcode))
			bump(&st->by_rcode[res->rcode], 1);
		if (res->truncated)
			bump(&st->truncated, 1);
		if (res->rate_limited)
			bump(&st->rrl_slipped, 1);
		if (res->objective && res->objective <= DNS_OBJ__COUNT)
			bump(&st->by_objective[res->objective - 1], 1);
		if (res->left_zone)
			bump(&st->spill_overs, 1);
		if (res->ecs)
			bump(&st->ecs_queries, 1);
	}
	while (b < DNS_LAT_BUCKETS - 1 && latency_ns > dns_latency_bounds_ns[b])
		b++;
	bump(&st->latency[b], 1);
	bump(&st->latency_sum_ns, latency_ns);
}
