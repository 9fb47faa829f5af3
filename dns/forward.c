/*
 * dns/forward.c - forwarding to recursive resolvers, the pure part:
 * client query, upstream query, response check and parse, reply, and the
 * choice of upstream (design in forward.h). The cache is fcache.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/forward.h"
#include "dns/wire.h"
#include "lib/as.h"

#define UDP_PLAIN_MAX 512

static const char *const bad_names[DNS_FWD_BAD_COUNT] = {
	[DNS_FWD_OK] = "ok",
	[DNS_FWD_BAD_MALFORMED] = "malformed",
	[DNS_FWD_BAD_ID] = "id",
	[DNS_FWD_BAD_QUESTION] = "question",
	[DNS_FWD_BAD_NOT_RESPONSE] = "not_response",
};

const char *dns_fwd_bad_name(enum dns_fwd_bad why)
{
	return (unsigned)why < DNS_FWD_BAD_COUNT ? bad_names[why] : "?";
}

/* An uncompressed name at r into buf (wire form); false if it is not one
 * (a pointer, a label over 63, a name over 255, truncated). */
static bool read_plain_name(struct wire_rd *r, uint8_t *buf, uint8_t *len)
{
	size_t n = 0;

	for (;;) {
		uint8_t l = wire_rd_u8(r);
		if (r->err || l > DNS_LABEL_MAX || n + 1 + l > DNS_NAME_MAX)
			return false;
		buf[n++] = l;
		if (!l)
			break;
		if (!wire_rd_need(r, l))
			return false;
		memcpy(buf + n, r->pos, l);
		r->pos += l;
		n += l;
	}
	*len = (uint8_t)n;
	return true;
}

/* Skips a possibly compressed name. A pointer must point backwards, past
 * the header, to a name that is itself well-formed: the names are passed
 * on to clients as they are, so they are checked as a client would. */
static bool skip_name(struct wire_rd *r)
{
	const uint8_t *p = r->pos;
	size_t total = 0, hops = 0;
	bool jumped = false;
	const uint8_t *after = NULL;

	for (;;) {
		if (p >= r->end)
			return false;
		uint8_t l = *p;
		if ((l & 0xC0) == 0xC0) {
			if (p + 1 >= r->end)
				return false;
			size_t off = (size_t)(l & 0x3F) << 8 | p[1];
			if (!jumped)
				after = p + 2;
			jumped = true;
			if (off < DNS_HDR_LEN ||
			    r->base + off >= p || ++hops > 64)
				return false;
			p = r->base + off;
			continue;
		}
		if (l & 0xC0)
			return false;	/* 0x40 / 0x80 label types: obsolete */
		total += 1 + (size_t)l;
		if (total > DNS_NAME_MAX || p + 1 + l > r->end)
			return false;
		if (!l)
			break;
		p += 1 + l;
	}
	r->pos = jumped ? after : p + 1;
	return true;
}

static bool names_equal(const uint8_t *a, const uint8_t *b, size_t n,
			bool case_exact)
{
	if (case_exact)
		return memcmp(a, b, n) == 0;
	for (size_t i = 0; i < n; i++)
		if (wire_lower(a[i]) != wire_lower(b[i]))
			return false;
	return true;
}

int dns_fwd_client_parse(const uint8_t *query, size_t len,
			 struct dns_fwd_client *out)
{
	struct wire_rd r;

	memset(out, 0, sizeof(*out));
	wire_rd_init(&r, query, len);
	out->id = wire_rd_u16(&r);
	uint8_t f1 = wire_rd_u8(&r), f2 = wire_rd_u8(&r);
	uint16_t qd = wire_rd_u16(&r), an = wire_rd_u16(&r);
	uint16_t ns = wire_rd_u16(&r), ar = wire_rd_u16(&r);
	if (r.err || (f1 & 0x80) || (f1 >> 3 & 0x0F) != 0 || qd != 1 ||
	    an || ns)
		return AS_EMALFORMED;
	out->rd = f1 & 0x01;
	out->ad = f2 & 0x20;
	out->cd = f2 & 0x10;
	if (!read_plain_name(&r, out->qname, &out->qname_len))
		return AS_EMALFORMED;
	out->qtype = wire_rd_u16(&r);
	out->qclass = wire_rd_u16(&r);
	out->udp_size = UDP_PLAIN_MAX;
	for (uint16_t i = 0; i < ar && !r.err; i++) {
		if (!skip_name(&r))
			return AS_EMALFORMED;
		uint16_t type = wire_rd_u16(&r), klass = wire_rd_u16(&r);
		uint32_t ttl = wire_rd_u32(&r);
		uint16_t rdlen = wire_rd_u16(&r);
		wire_rd_skip(&r, rdlen);
		if (type == DNS_T_OPT && !out->edns) {
			out->edns = true;
			out->udp_size = AS_MAX(klass, UDP_PLAIN_MAX);
			out->do_bit = ttl & 0x8000;
		}
	}
	return r.err ? AS_EMALFORMED : AS_OK;
}

size_t dns_fwd_key(const struct dns_fwd_client *c,
		   uint8_t key[DNS_FWD_KEY_MAX])
{
	size_t n = c->qname_len;

	for (size_t i = 0; i < n; i++)
		key[i] = wire_lower(c->qname[i]);
	wire_put_u16(key + n, c->qtype);
	wire_put_u16(key + n + 2, c->qclass);
	key[n + 4] = (uint8_t)((c->do_bit ? 1 : 0) | (c->cd ? 2 : 0));
	return n + 5;
}

int dns_fwd_query_build(const struct dns_fwd_client *c, uint16_t id,
			struct as_rng *rng, uint8_t *out, size_t cap,
			size_t *len, struct dns_fwd_sent *sent)
{
	struct wire_wr w;
	uint64_t bits = 0;
	int nbits = 0;

	memset(sent, 0, sizeof(*sent));
	sent->id = id;
	sent->case_exact = rng != NULL;
	sent->qname_len = c->qname_len;
	sent->qtype = c->qtype;
	sent->qclass = c->qclass;
	/* Labels are copied with their length octets as they are. */
	for (size_t i = 0; i < c->qname_len;) {
		uint8_t l = c->qname[i];
		sent->qname[i] = l;
		for (size_t j = i + 1; j <= i + l; j++) {
			uint8_t ch = wire_lower(c->qname[j]);
			if (rng && ch >= 'a' && ch <= 'z') {
				if (!nbits) {
					bits = as_rng_next(rng);
					nbits = 64;
				}
				if (bits & 1)
					ch = (uint8_t)(ch - 32);
				bits >>= 1;
				nbits--;
			}
			sent->qname[j] = ch;
		}
		i += 1 + (size_t)l;
	}

	wire_wr_init(&w, out, cap);
	wire_wr_u16(&w, id);
	wire_wr_u8(&w, 0x01);	/* RD */
	wire_wr_u8(&w, c->cd ? 0x10 : 0x00);
	wire_wr_u16(&w, 1);
	wire_wr_u16(&w, 0);
	wire_wr_u16(&w, 0);
	wire_wr_u16(&w, 1);
	wire_wr_bytes(&w, sent->qname, sent->qname_len);
	wire_wr_u16(&w, c->qtype);
	wire_wr_u16(&w, c->qclass);
	/* OPT: root owner, our buffer, version 0, DO as the client set it. */
	wire_wr_u8(&w, 0);
	wire_wr_u16(&w, DNS_T_OPT);
	wire_wr_u16(&w, DNS_FWD_EDNS_SIZE);
	wire_wr_u32(&w, c->do_bit ? 0x8000 : 0);
	wire_wr_u16(&w, 0);
	if (w.err)
		return AS_ESPACE;
	*len = wire_wr_offset(&w);
	return AS_OK;
}

/* ---- parsing an upstream response ------------------------------------- */

struct rr_scan {
	size_t n_ttl;
	uint32_t min_ttl;	/* over answer and authority */
	bool have_soa;
	uint32_t soa_ttl;
	size_t opt_start, opt_end;	/* offsets in the message; 0 = none */
	uint8_t opt_ercode;	/* extended rcode bits of the OPT */
	size_t n_opt;
};

/* Walks every record after the question; fills s. When m is non-NULL,
 * also records each TTL's offset (relative to rr start) and value. */
static bool scan_records(const uint8_t *resp, size_t len, size_t qlen,
			 const uint16_t count[3], struct rr_scan *s,
			 struct dns_fwd_msg *m)
{
	struct wire_rd r;
	size_t k = 0;

	memset(s, 0, sizeof(*s));
	s->min_ttl = UINT32_MAX;
	wire_rd_init(&r, resp, len);
	r.pos = resp + qlen;
	for (int sec = 0; sec < 3; sec++) {
		for (uint16_t i = 0; i < count[sec]; i++) {
			size_t start = wire_rd_offset(&r);
			if (!skip_name(&r))
				return false;
			uint16_t type = wire_rd_u16(&r);
			wire_rd_u16(&r);	/* class */
			size_t ttl_at = wire_rd_offset(&r);
			uint32_t ttl = wire_rd_u32(&r);
			uint16_t rdlen = wire_rd_u16(&r);
			size_t rd_at = wire_rd_offset(&r);
			wire_rd_skip(&r, rdlen);
			if (r.err)
				return false;
			if (type == DNS_T_OPT) {
				/* One, in the additional section, last. */
				if (sec != 2 || s->n_opt++ ||
				    i + 1 != count[sec])
					return false;
				s->opt_start = start;
				s->opt_end = wire_rd_offset(&r);
				s->opt_ercode = (uint8_t)(ttl >> 24);
				continue;
			}
			/* RFC 2181 8: a TTL with the top bit set is 0. */
			if (ttl & 0x80000000u)
				ttl = 0;
			if (sec < 2 && ttl < s->min_ttl)
				s->min_ttl = ttl;
			if (sec == 1 && type == DNS_T_SOA) {
				/* MNAME, RNAME, then five 32-bit fields;
				 * MINIMUM is the last. */
				struct wire_rd d = r;
				d.pos = resp + rd_at;
				d.end = resp + rd_at + rdlen;
				if (!skip_name(&d) || !skip_name(&d))
					return false;
				wire_rd_skip(&d, 16);
				uint32_t minimum = wire_rd_u32(&d);
				if (d.err || d.pos != d.end)
					return false;
				s->have_soa = true;
				s->soa_ttl = AS_MIN(ttl, minimum);
			}
			if (m) {
				m->ttl_off[k] = (uint16_t)(ttl_at - qlen);
				m->ttl_val[k] = ttl;
			}
			k++;
		}
	}
	s->n_ttl = k;
	return wire_rd_offset(&r) == len;
}

int dns_fwd_parse(const uint8_t *resp, size_t len,
		  const struct dns_fwd_sent *sent,
		  const struct dns_fwd_ttl_limits *lim,
		  struct dns_fwd_msg **out, enum dns_fwd_bad *why)
{
	struct wire_rd r;
	struct rr_scan s;
	uint16_t count[3];
	struct dns_fwd_msg *m;

	*out = NULL;
	*why = DNS_FWD_BAD_MALFORMED;
	wire_rd_init(&r, resp, len);
	uint16_t id = wire_rd_u16(&r);
	uint8_t f1 = wire_rd_u8(&r), f2 = wire_rd_u8(&r);
	uint16_t qd = wire_rd_u16(&r);
	for (int i = 0; i < 3; i++)
		count[i] = wire_rd_u16(&r);
	if (r.err)
		return AS_EMALFORMED;
	if (!(f1 & 0x80) || (f1 >> 3 & 0x0F) != 0) {
		*why = DNS_FWD_BAD_NOT_RESPONSE;
		return AS_EPROTO;
	}
	if (id != sent->id) {
		*why = DNS_FWD_BAD_ID;
		return AS_EPROTO;
	}
	/* The question, byte for byte as sent (case too under 0x20). */
	if (qd != 1 || !wire_rd_need(&r, (size_t)sent->qname_len + 4) ||
	    !names_equal(r.pos, sent->qname, sent->qname_len,
			 sent->case_exact) ||
	    wire_get_u16(r.pos + sent->qname_len) != sent->qtype ||
	    wire_get_u16(r.pos + sent->qname_len + 2) != sent->qclass) {
		*why = DNS_FWD_BAD_QUESTION;
		return AS_EPROTO;
	}
	size_t qlen = DNS_HDR_LEN + (size_t)sent->qname_len + 4;
	if (!scan_records(resp, len, qlen, count, &s, NULL))
		return AS_EMALFORMED;

	size_t rr_len = (s.opt_start ? s.opt_start : len) - qlen;
	size_t sz = sizeof(*m) + s.n_ttl * (sizeof(uint16_t) +
					    sizeof(uint32_t)) + rr_len;
	m = calloc(1, sz);
	if (!m)
		return AS_ENOMEM;
	m->ttl_val = (uint32_t *)(void *)(m + 1);
	m->ttl_off = (uint16_t *)(void *)(m->ttl_val + s.n_ttl);
	m->rr = (uint8_t *)(m->ttl_off + s.n_ttl);
	scan_records(resp, len, qlen, count, &s, m);
	m->n_ttl = s.n_ttl;
	m->qlen = qlen;
	m->rr_len = rr_len;
	memcpy(m->rr, resp + qlen, rr_len);
	m->count[0] = count[0];
	m->count[1] = count[1];
	m->count[2] = (uint16_t)(count[2] - (s.opt_start ? 1 : 0));
	m->rcode = f2 & 0x0F;
	m->tc = f1 & 0x02;
	m->aa = f1 & 0x04;
	m->ad = f2 & 0x20;
	m->negative = m->rcode == DNS_RC_NXDOMAIN ||
		      (m->rcode == DNS_RC_NOERROR && !count[0]);
	/* What may be cached, and for how long. */
	if (m->tc || s.opt_ercode ||
	    (m->rcode != DNS_RC_NOERROR && m->rcode != DNS_RC_NXDOMAIN))
		m->ttl = 0;
	else if (m->negative)
		m->ttl = s.have_soa ? AS_MIN(s.soa_ttl, lim->neg_max) : 0;
	else
		m->ttl = AS_MIN(s.min_ttl, lim->max);
	if (s.opt_ercode) /* an extended rcode we do not pass on */
		m->rcode = DNS_RC_SERVFAIL;
	*out = m;
	*why = DNS_FWD_OK;
	return AS_OK;
}

void dns_fwd_msg_free(struct dns_fwd_msg *m)
{
	free(m);
}

/* ---- replies to clients ------------------------------------------------- */

static size_t client_limit(const struct dns_fwd_client *c, bool tcp,
			   size_t cap)
{
	size_t limit = tcp ? DNS_MSG_MAX :
		       !c->edns ? UDP_PLAIN_MAX :
		       AS_MAX(UDP_PLAIN_MAX,
			      AS_MIN(c->udp_size, DNS_UDP_PAYLOAD_MAX));
	return AS_MIN(limit, cap);
}

static void put_header_question(struct wire_wr *w,
				const struct dns_fwd_client *c, uint8_t f1,
				uint8_t f2)
{
	wire_wr_u16(w, c->id);
	wire_wr_u8(w, f1);
	wire_wr_u8(w, f2);
	wire_wr_u16(w, 1);
	wire_wr_u16(w, 0);
	wire_wr_u16(w, 0);
	wire_wr_u16(w, 0);
	wire_wr_bytes(w, c->qname, c->qname_len);
	wire_wr_u16(w, c->qtype);
	wire_wr_u16(w, c->qclass);
}

static void put_opt(struct wire_wr *w, const struct dns_fwd_client *c)
{
	wire_wr_u8(w, 0);
	wire_wr_u16(w, DNS_T_OPT);
	wire_wr_u16(w, DNS_UDP_PAYLOAD_MAX);
	wire_wr_u32(w, c->do_bit ? 0x8000 : 0);
	wire_wr_u16(w, 0);
}

int dns_fwd_error_reply(const struct dns_fwd_client *c, uint8_t rcode,
			bool ra, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_wr w;
	size_t limit = client_limit(c, false, cap);

	wire_wr_init(&w, out, limit);
	put_header_question(&w, c, (uint8_t)(0x80 | (c->rd ? 1 : 0)),
			    (uint8_t)((ra ? 0x80 : 0) | (c->cd ? 0x10 : 0) |
				      (rcode & 0x0F)));
	if (c->edns) {
		put_opt(&w, c);
		wire_put_u16(out + 10, 1);
	}
	if (w.err)
		return AS_ESPACE;
	*len = wire_wr_offset(&w);
	return AS_OK;
}

int dns_fwd_reply(const struct dns_fwd_msg *m, const struct dns_fwd_client *c,
		  uint32_t age_s, bool stale, bool tcp, uint8_t *out,
		  size_t cap, size_t *len)
{
	struct wire_wr w;
	size_t limit = client_limit(c, tcp, cap);
	size_t opt_len = c->edns ? 11 : 0;
	size_t qlen = DNS_HDR_LEN + (size_t)c->qname_len + 4;
	bool fits = qlen == m->qlen && qlen + m->rr_len + opt_len <= limit;
	/* AD only to a client that asked for DNSSEC data (RFC 6840 5.8). */
	bool ad = m->ad && (c->do_bit || c->ad);

	wire_wr_init(&w, out, limit);
	put_header_question(&w, c,
			    (uint8_t)(0x80 | (fits ? 0 : 0x02) |
				      (c->rd ? 1 : 0)),
			    (uint8_t)(0x80 | (ad ? 0x20 : 0) |
				      (c->cd ? 0x10 : 0) | m->rcode));
	if (w.err)
		return AS_ESPACE;
	if (fits) {
		uint8_t *rr = w.pos;
		wire_wr_bytes(&w, m->rr, m->rr_len);
		for (size_t i = 0; i < m->n_ttl; i++) {
			uint32_t t = m->ttl_val[i];
			t = stale ? DNS_FWD_STALE_TTL :
			    t > age_s ? t - age_s : 0;
			uint8_t *p = rr + m->ttl_off[i];
			p[0] = (uint8_t)(t >> 24);
			p[1] = (uint8_t)(t >> 16);
			p[2] = (uint8_t)(t >> 8);
			p[3] = (uint8_t)t;
		}
		wire_put_u16(out + 6, m->count[0]);
		wire_put_u16(out + 8, m->count[1]);
		wire_put_u16(out + 10, m->count[2]);
	}
	if (c->edns) {
		put_opt(&w, c);
		wire_put_u16(out + 10, (uint16_t)(wire_get_u16(out + 10) + 1));
	}
	if (w.err)
		return AS_ESPACE;
	*len = wire_wr_offset(&w);
	return AS_OK;
}

/* ---- upstream choice ---------------------------------------------------- */

/* A timeout counts as this many microseconds on top of the timeout, and
 * no SRTT goes above the cap, so a dead upstream is tried again soon
 * after the others slow down (BIND's and unbound's ideas, simplified). */
#define SRTT_CAP_US 5000000u
#define EXPLORE_ONE_IN 20

size_t dns_fwd_pick(struct dns_fwd_upstream *u, size_t n, const bool *tried,
		    struct as_rng *rng)
{
	size_t best = n, untried = 0;

	for (size_t i = 0; i < n; i++) {
		if (tried && tried[i])
			continue;
		untried++;
		if (best == n || u[i].srtt_us < u[best].srtt_us)
			best = i;
	}
	if (best == n)
		return n;
	/* Now and then another one, so a recovered upstream is noticed. */
	if (untried > 1 && rng && as_rng_next(rng) % EXPLORE_ONE_IN == 0) {
		size_t k = (size_t)(as_rng_next(rng) % (untried - 1));
		for (size_t i = 0; i < n; i++) {
			if ((tried && tried[i]) || i == best)
				continue;
			if (!k--) {
				best = i;
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (i != best)
			u[i].srtt_us -= u[i].srtt_us / 50; /* 2 % decay */
	u[best].queries++;
	return best;
}

void dns_fwd_rtt(struct dns_fwd_upstream *u, uint32_t rtt_us)
{
	u->answers++;
	if (!u->srtt_us)
		u->srtt_us = rtt_us;
	else	/* 7/10 old, 3/10 new, as BIND does */
		u->srtt_us = (uint32_t)(((uint64_t)u->srtt_us * 7 +
					 (uint64_t)rtt_us * 3) / 10);
	if (u->srtt_us > SRTT_CAP_US)
		u->srtt_us = SRTT_CAP_US;
}

void dns_fwd_timeout(struct dns_fwd_upstream *u, uint32_t timeout_us)
{
	uint64_t s = (uint64_t)u->srtt_us * 2 + timeout_us;

	u->timeouts++;
	u->srtt_us = (uint32_t)AS_MIN(s, (uint64_t)SRTT_CAP_US);
}

const char *dns_fwd_bad_reason_name(unsigned i)
{
	return i < DNS_FWD_BAD_REASONS ? bad_names[i + 1] : "?";
}

/* ---- client prefixes ---------------------------------------------------- */

const char *dns_prefix_parse(const char *text, struct dns_prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long bits;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(buf))
		return "not an address/length prefix";
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else
		return "not an IPv6 or IPv4 address";
	unsigned max = out->family == AF_INET6 ? 128 : 32;
	if (slash) {
		char *end;
		if (!slash[1] || slash[1] < '0' || slash[1] > '9')
			return "prefix length is not a number";
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || bits > max)
			return out->family == AF_INET6 ?
			       "prefix length must be 0..128" :
			       "prefix length must be 0..32";
	} else {
		bits = max;
	}
	out->len = (uint8_t)bits;
	for (unsigned b = out->len; b < max; b++)
		if (out->addr[b / 8] & (0x80 >> (b % 8)))
			return "address has bits set past the prefix length";
	return NULL;
}

static bool prefix_has(const struct dns_prefix *p, const uint8_t *a)
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, a, full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (p->addr[full] & mask) == (a[full] & mask);
}

bool dns_prefix_match(const struct dns_prefix *p, size_t n,
		      const struct sockaddr_storage *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xFF, 0xFF };
	const uint8_t *a;
	int family = sa->ss_family;

	if (family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)(const void *)sa)
			    ->sin6_addr.s6_addr;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			family = AF_INET;
			a += 12;
		}
	} else if (family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)
					       (const void *)sa)->sin_addr;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i].family == family && prefix_has(&p[i], a))
			return true;
	return false;
}
