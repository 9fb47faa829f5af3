/*
 * tests/eval/src/dns.c - the load generator's DNS stub: AAAA query, answer
 * judgement, the per-identity answer cache, and the destination guard.
 *
 * Own wire code rather than ldns: a stub needs one fixed query and a walk
 * over the answer section, and with a per-connection resolution at several
 * thousand requests per second ldns' per-packet heap objects would cost
 * more than the rest of the request. Every read is bounded; a response
 * that is not the answer to our query (other ID, other question, not a
 * response) is a mismatch the caller drops and counts, as a resolver's
 * stub would. The unit tests build the answers with ldns.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

#define DNS_T_AAAA 28
#define DNS_T_CNAME 5
#define DNS_T_OPT 41
#define DNS_C_IN 1

int eval_dns_name(const char *name, uint8_t *wire, size_t cap, size_t *len)
{
	size_t n = 0;
	const char *p = name;

	if (!name || !*name || cap < 1)
		return AS_EINVAL;
	if (strcmp(name, ".") == 0) {
		wire[0] = 0;
		*len = 1;
		return AS_OK;
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || n + 1 + l + 1 > 255 || n + 1 + l + 1 > cap)
			return AS_EINVAL;
		wire[n++] = (uint8_t)l;
		memcpy(wire + n, p, l);
		n += l;
		p += l;
		if (*p == '.')
			p++;
	}
	wire[n++] = 0;
	*len = n;
	return AS_OK;
}

size_t eval_dns_query(uint8_t *buf, size_t cap, uint16_t id,
		      const uint8_t *qname, size_t qlen)
{
	static const uint8_t opt[11] = { 0, 0, DNS_T_OPT, 0x04, 0xd0, 0, 0, 0,
					 0, 0, 0 };	/* ., OPT, 1232, ttl 0, rdlen 0 */
	size_t n = 12 + qlen + 4 + sizeof(opt);

	if (n > cap)
		return 0;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01;	/* RD */
	buf[5] = 1;	/* QDCOUNT */
	buf[11] = 1;	/* ARCOUNT (OPT) */
	memcpy(buf + 12, qname, qlen);
	uint8_t *q = buf + 12 + qlen;
	q[0] = 0;
	q[1] = DNS_T_AAAA;
	q[2] = 0;
	q[3] = DNS_C_IN;
	memcpy(q + 4, opt, sizeof(opt));
	return n;
}

bool eval_dns_id(const uint8_t *msg, size_t len, uint16_t *id)
{
	if (len < 12)
		return false;
	*id = (uint16_t)(msg[0] << 8 | msg[1]);
	return true;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Skips a possibly compressed name at *off; false if it runs past len. */
static bool skip_name(const uint8_t *m, size_t len, size_t *off)
{
	size_t o = *off;

	for (int labels = 0; labels < 128; labels++) {
		if (o >= len)
			return false;
		uint8_t l = m[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return false;
			*off = o + 2;
			return true;
		}
		if (l & 0xc0)
			return false;
		o += 1 + (size_t)l;
		if (l == 0) {
			*off = o;
			return true;
		}
	}
	return false;
}

static inline uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

enum eval_dns_status eval_dns_parse(const uint8_t *m, size_t len, uint16_t id,
				    const uint8_t *qname, size_t qlen,
				    struct eval_dns_answer *out)
{
	size_t off = 12;

	memset(out, 0, sizeof(*out));
	out->ttl = UINT32_MAX;
	if (len < 12)
		return EVAL_DNS_MALFORMED;
	if (!(m[2] & 0x80))		/* a query, not a response */
		return EVAL_DNS_MISMATCH;
	if (rd16(m) != id || ((m[2] >> 3) & 0xf) != 0 || rd16(m + 4) != 1)
		return EVAL_DNS_MISMATCH;
	/* The question must be ours, byte for byte up to letter case (an
	 * uncompressed name, as every resolver echoes it). */
	if (len < off + qlen + 4)
		return EVAL_DNS_MALFORMED;
	for (size_t i = 0; i < qlen; i++)
		if (lower(m[off + i]) != lower(qname[i]))
			return EVAL_DNS_MISMATCH;
	if (rd16(m + off + qlen) != DNS_T_AAAA ||
	    rd16(m + off + qlen + 2) != DNS_C_IN)
		return EVAL_DNS_MISMATCH;
	off += qlen + 4;

	out->rcode = m[3] & 0xf;
	if (m[2] & 0x02)		/* TC: we do not retry over TCP */
		return EVAL_DNS_OTHER;
	if (out->rcode == 3)
		return EVAL_DNS_NXDOMAIN;
	if (out->rcode == 2)
		return EVAL_DNS_SERVFAIL;
	if (out->rcode != 0)
		return EVAL_DNS_OTHER;

	unsigned an = rd16(m + 6);
	for (unsigned i = 0; i < an; i++) {
		if (!skip_name(m, len, &off) || off + 10 > len)
			return EVAL_DNS_MALFORMED;
		uint16_t type = rd16(m + off), klass = rd16(m + off + 2);
		uint32_t ttl = rd32(m + off + 4);
		uint16_t rdlen = rd16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			return EVAL_DNS_MALFORMED;
		if (klass == DNS_C_IN && (type == DNS_T_AAAA || type == DNS_T_CNAME)) {
			if (ttl > 0x7fffffff)	/* RFC 2181: treat as 0 */
				ttl = 0;
			if (ttl < out->ttl)
				out->ttl = ttl;
		}
		if (klass == DNS_C_IN && type == DNS_T_AAAA && rdlen == 16 &&
		    out->naddr < EVAL_DNS_MAX_ADDRS)
			memcpy(out->addr[out->naddr++], m + off, 16);
		off += rdlen;
	}
	if (out->naddr == 0) {
		out->ttl = 0;
		return EVAL_DNS_NOANSWER;
	}
	return EVAL_DNS_OK;
}

/* ---- cache ------------------------------------------------------------- */

struct cache_entry {
	struct eval_addrs addrs;
	uint64_t expires;	/* ns; 0 = empty */
	void *pending;
};

struct eval_dnscache {
	uint32_t idents, names;
	struct cache_entry e[];
};

eval_dnscache_t *eval_dnscache_new(uint32_t idents, uint32_t names)
{
	if (idents == 0 || names == 0 ||
	    (size_t)idents * names > SIZE_MAX / sizeof(struct cache_entry) / 2)
		return NULL;
	eval_dnscache_t *c = calloc(1, sizeof(*c) + (size_t)idents * names *
				    sizeof(struct cache_entry));
	if (!c)
		return NULL;
	c->idents = idents;
	c->names = names;
	return c;
}

void eval_dnscache_free(eval_dnscache_t *c)
{
	free(c);
}

static struct cache_entry *entry(const eval_dnscache_t *c, uint32_t i,
				 uint32_t n)
{
	if (i >= c->idents || n >= c->names)
		return NULL;
	return (struct cache_entry *)&c->e[(size_t)i * c->names + n];
}

const struct eval_addrs *eval_dnscache_get(const eval_dnscache_t *c,
					   uint32_t i, uint32_t n,
					   uint64_t now)
{
	struct cache_entry *e = entry(c, i, n);
	if (!e || e->addrs.n == 0 || now >= e->expires)
		return NULL;
	return &e->addrs;
}

void eval_dnscache_put(eval_dnscache_t *c, uint32_t i, uint32_t n,
		       const struct eval_dns_answer *a, uint64_t now)
{
	struct cache_entry *e = entry(c, i, n);
	if (!e)
		return;
	if (a->naddr == 0 || a->ttl == 0) {
		e->addrs.n = 0;
		e->expires = 0;
		return;
	}
	e->addrs.n = a->naddr;
	memcpy(e->addrs.a, a->addr, sizeof(e->addrs.a));
	e->expires = now + (uint64_t)a->ttl * EVAL_NS_PER_S;
}

void *eval_dnscache_pending(const eval_dnscache_t *c, uint32_t i, uint32_t n)
{
	struct cache_entry *e = entry(c, i, n);
	return e ? e->pending : NULL;
}

void eval_dnscache_set_pending(eval_dnscache_t *c, uint32_t i, uint32_t n,
			       void *pending)
{
	struct cache_entry *e = entry(c, i, n);
	if (e)
		e->pending = pending;
}

/* ---- destination guard ------------------------------------------------- */

bool eval_addr4_allowed(const uint8_t a[4])
{
	return a[0] == 127 || a[0] == 10 ||
	       (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168) ||
	       (a[0] == 198 && (a[1] & 0xfe) == 18);
}

bool eval_addr6_allowed(const uint8_t a[16])
{
	static const uint8_t loopback[16] = { [15] = 1 };

	if (memcmp(a, loopback, 16) == 0)
		return true;
	if ((a[0] & 0xfe) == 0xfc)			/* ULA fc00::/7 */
		return true;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)	/* fe80::/10 */
		return true;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return true;				/* 2001:db8::/32 */
	if (as_addr16_is_v4mapped(a))
		return eval_addr4_allowed(a + 12);
	return false;
}
