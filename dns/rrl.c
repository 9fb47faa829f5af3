/*
 * dns/rrl.c - response rate limiting: classify a reply, one token bucket
 * per (prefix, class, name) in a fixed table. Design in dns/rrl.h.
 *
 * Tokens are kept as nanoseconds of credit: a reply costs
 * 1e9 x workers / rate ns and a bucket holds at most window seconds, so
 * the refill is a plain addition of the time passed, exact at any rate
 * and free of rounding that a high query rate could starve.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "dns/rrl.h"
#include "dns/wire.h"
#include "lib/as.h"

#define RRL_PROBE 4		/* slots a key may use from its hash */
#define NS_PER_S 1000000000ull
#define RRL_LARGE 1024		/* a reply above this is its own class */

enum rrl_class {
	CLS_NORMAL = 1, CLS_EMPTY, CLS_LARGE, CLS_ANY, CLS_NXDOMAIN, CLS_ERROR,
};

struct rrl_bucket {
	uint64_t key;		/* 0: never used */
	uint64_t stamp_ns;	/* last refill */
	uint64_t credit_ns;	/* tokens, as time */
	uint64_t limited;	/* replies found without a token */
};

struct dns_rrl {
	uint64_t cost_ns, cap_ns;
	uint32_t slip;
	uint8_t len6, len4;
	size_t size;
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct rrl_bucket *b;
};

const char *dns_rrl_config_problem(const struct dns_rrl_config *cfg)
{
	if (cfg->responses_per_second < 1 ||
	    cfg->responses_per_second > DNS_RRL_RATE_MAX)
		return "responses_per_second must be 1..1000000";
	if (cfg->window_ms < 1 || cfg->window_ms > DNS_RRL_WINDOW_MAX_MS)
		return "window must be 1 ms..1 h";
	if (cfg->slip > DNS_RRL_SLIP_MAX)
		return "slip must be 0..100";
	if (cfg->prefix_v6 > 128 || cfg->prefix_v4 > 32)
		return "prefix length out of range";
	if (cfg->table_size < 1 || cfg->table_size > DNS_RRL_TABLE_MAX)
		return "table_size must be 1..16777216";
	return NULL;
}

int dns_rrl_new(const struct dns_rrl_config *cfg, unsigned n_workers,
		const uint8_t key[16], dns_rrl_t **out)
{
	dns_rrl_t *r;

	*out = NULL;
	if (dns_rrl_config_problem(cfg) || n_workers < 1)
		return AS_EINVAL;
	if (sodium_init() < 0)
		return AS_ELIB;
	if (!(r = calloc(1, sizeof(*r))))
		return AS_ENOMEM;
	r->size = cfg->table_size;
	if (!(r->b = calloc(r->size, sizeof(*r->b)))) {
		free(r);
		return AS_ENOMEM;
	}
	r->cost_ns = NS_PER_S * n_workers / cfg->responses_per_second;
	if (!r->cost_ns)
		r->cost_ns = 1;
	r->cap_ns = (uint64_t)cfg->window_ms * 1000000u;
	/* A burst of at least one reply, whatever the division left. */
	if (r->cap_ns < r->cost_ns)
		r->cap_ns = r->cost_ns;
	r->slip = cfg->slip;
	r->len6 = cfg->prefix_v6;
	r->len4 = cfg->prefix_v4;
	memcpy(r->key, key, sizeof(r->key));
	*out = r;
	return AS_OK;
}

void dns_rrl_free(dns_rrl_t *r)
{
	if (!r)
		return;
	free(r->b);
	free(r);
}

/* Writes family, masked prefix (17 bytes) to k; false for other peers. */
static bool put_prefix(const dns_rrl_t *r, const struct sockaddr_storage *peer,
		       uint8_t *k)
{
	const uint8_t *a;
	unsigned len, bits;

	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a = s6->sin6_addr.s6_addr + 12;
			len = 4;
			bits = r->len4;
		} else {
			a = s6->sin6_addr.s6_addr;
			len = 16;
			bits = r->len6;
		}
	} else if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)peer;
		a = (const uint8_t *)&s4->sin_addr.s_addr;
		len = 4;
		bits = r->len4;
	} else {
		return false;
	}
	memset(k, 0, 17);
	k[0] = (uint8_t)len;
	for (unsigned i = 0; i < len && bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		k[1 + i] = (uint8_t)(a[i] & (0xFF00u >> take));
		bits -= take;
	}
	return true;
}

/* The question name's end (offset after its root label) or 0 when it
 * cannot be read (compressed, over-long, cut short). */
static size_t qname_end(const uint8_t *m, size_t len)
{
	size_t p = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN || wire_get_u16(m + 4) != 1)
		return 0;
	while (p < len && p - DNS_HDR_LEN < DNS_NAME_MAX) {
		uint8_t l = m[p];
		if (!l)
			return p + 1;
		if (l > DNS_LABEL_MAX)
			return 0;
		p += 1 + (size_t)l;
	}
	return 0;
}

enum dns_rrl_action dns_rrl_check(dns_rrl_t *r,
				  const struct sockaddr_storage *peer,
				  const uint8_t *m, size_t len,
				  uint64_t now_ns)
{
	uint8_t k[17 + 1 + DNS_NAME_MAX];
	uint8_t h[crypto_shorthash_BYTES];
	size_t klen = 18, qend;
	uint64_t key;

	if (len < DNS_HDR_LEN || !put_prefix(r, peer, k))
		return DNS_RRL_PASS;
	qend = qname_end(m, len);
	uint8_t rcode = m[3] & 0x0F;
	enum rrl_class cls;
	if (rcode == DNS_RC_NXDOMAIN)
		cls = CLS_NXDOMAIN;
	else if (rcode != DNS_RC_NOERROR || !qend)
		cls = CLS_ERROR;
	else if (!wire_get_u16(m + 6))
		cls = CLS_EMPTY;
	else if (qend + 4 <= len && wire_get_u16(m + qend) == DNS_T_ANY)
		cls = CLS_ANY;
	else if (len > RRL_LARGE)
		cls = CLS_LARGE;
	else
		cls = CLS_NORMAL;
	k[17] = (uint8_t)cls;
	/* NXDOMAIN and errors: one bucket per prefix, whatever the name. */
	if (cls != CLS_NXDOMAIN && cls != CLS_ERROR) {
		for (size_t i = DNS_HDR_LEN; i < qend; i++) {
			uint8_t c = m[i];
			k[klen++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
		}
	}
	crypto_shorthash(h, k, klen, r->key);
	memcpy(&key, h, sizeof(key));
	key |= 1;	/* 0 marks an unused bucket */

	/* Find the key, else a free or idle slot, else the least recent. */
	size_t at = (size_t)(key % r->size), use = at;
	size_t probe = AS_MIN((size_t)RRL_PROBE, r->size);
	struct rrl_bucket *b = NULL;
	for (size_t i = 0; i < probe; i++) {
		struct rrl_bucket *c = &r->b[(at + i) % r->size];
		if (c->key == key) {
			b = c;
			break;
		}
		if (c->stamp_ns < r->b[use].stamp_ns || !c->key)
			use = (at + i) % r->size;
		if (!c->key)
			break;
	}
	if (!b) {
		b = &r->b[use];
		if (!b->key || now_ns - b->stamp_ns >= r->cap_ns ||
		    now_ns < b->stamp_ns) {
			b->key = key;
			b->stamp_ns = now_ns;
			b->credit_ns = r->cap_ns;
			b->limited = 0;
		}
		/* else shared with its owner (design in rrl.h) */
	}
	if (now_ns > b->stamp_ns) {
		uint64_t d = now_ns - b->stamp_ns;
		b->credit_ns = d >= r->cap_ns - b->credit_ns ?
			       r->cap_ns : b->credit_ns + d;
		b->stamp_ns = now_ns;
	}
	if (b->credit_ns >= r->cost_ns) {
		b->credit_ns -= r->cost_ns;
		return DNS_RRL_PASS;
	}
	b->limited++;
	if (r->slip && b->limited % r->slip == 0)
		return DNS_RRL_SLIP;
	return DNS_RRL_DROP;
}

size_t dns_rrl_slip(uint8_t *m, size_t len)
{
	size_t qend;

	if (len < DNS_HDR_LEN)
		return len;
	qend = qname_end(m, len);
	if (qend && qend + 4 <= len) {
		len = qend + 4;
	} else {
		len = DNS_HDR_LEN;
		wire_put_u16(m + 4, 0);
	}
	m[2] |= 0x02;			/* TC */
	wire_put_u16(m + 6, 0);
	wire_put_u16(m + 8, 0);
	wire_put_u16(m + 10, 0);
	return len;
}
