/*
 * dns/query.c - one query in, one response (or a counted drop) out.
 *
 * Design. dns_answer() parses the query with a bounded reader, looks the
 * lower-case QNAME up in the view's hash table and writes the response
 * straight into the caller's buffer with a bounded writer: no heap, no
 * lock, no clock, no socket. Every name we write is either a compression
 * pointer (to the question, which is copied as received so the client's
 * case is echoed, or to a name in an earlier RDATA) or pre-rendered RDATA
 * from the view, so nothing is compressed at query time.
 *
 * Space for the OPT record is reserved before the sections are written.
 * If the answer or authority section does not fit the transport's limit,
 * the writer's sticky error turns the response into TC=1 with empty
 * sections (and the OPT); the additional section is optional and is left
 * out instead when it does not fit.
 *
 * anysteer has no TSIG keys. A query signed with TSIG gets what RFC 8945
 * 5.2.1 prescribes for a key the server does not know: NOTAUTH with an
 * unsigned TSIG record (MAC size 0, error BADKEY; 5.3.2) echoing the
 * key name, algorithm and time signed, as Knot does; a TSIG record that
 * is not the last record, or a second one, is FORMERR (5.2). Bytes after
 * the last record are FORMERR too, as in Knot.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include "dns/view.h"
#include "dns/wire.h"

#define UDP_PLAIN_MAX 512

struct query {
	uint16_t id;
	uint8_t opcode;
	bool rd;
	size_t qname_len;		/* wire length, uncompressed */
	uint8_t lname[DNS_NAME_MAX];	/* lower-case copy of QNAME */
	uint8_t label_off[128];
	size_t n_labels;
	uint16_t qtype, qclass;
	bool edns, nsid, self_check;
	uint16_t edns_size;
	uint8_t edns_version;
	bool tsig;
	bool ecs;			/* the client's prefix is known ... */
	bool ecs_opt;			/* ... from a Client Subnet option
					 * (RFC 7871; echoed), else from the
					 * source address */
	uint8_t ecs_src, ecs_alen;	/* source prefix length, address bytes */
	uint16_t ecs_family;		/* 1 IPv4, 2 IPv6 */
	uint8_t ecs_addr[16];		/* zero past ecs_alen */
	const uint8_t *tsig_owner;	/* in the query; may be compressed */
	const uint8_t *tsig_alg;	/* RDATA start: the algorithm name */
	size_t tsig_alg_len;		/* uncompressed wire length */
};

enum { SEC_AN, SEC_NS, SEC_AR };

struct resp {
	struct wire_wr w;
	uint16_t count[3];
	uint8_t objective;	/* of the service answered, + 1; 0 none */
	bool left_zone;		/* a first address outside this node's zone */
	uint8_t ecs_scope;	/* SCOPE PREFIX-LENGTH to echo */
};

/* ---- parsing ----------------------------------------------------------- */

static enum dns_malformed parse_qname(struct wire_rd *r, struct query *q)
{
	size_t total = 0;

	q->n_labels = 0;
	for (;;) {
		if (!wire_rd_avail(r))
			return DNS_MAL_TRUNCATED;
		uint8_t c = *r->pos;
		if (c & 0xC0)	/* a pointer, or a label longer than 63 */
			return DNS_MAL_NAME;
		if (total + (size_t)c + 1 > DNS_NAME_MAX)
			return DNS_MAL_NAME;
		if (c == 0) {
			q->lname[total++] = 0;
			r->pos++;
			break;
		}
		if (wire_rd_avail(r) < (size_t)c + 1)
			return DNS_MAL_TRUNCATED;
		q->label_off[q->n_labels++] = (uint8_t)total;
		q->lname[total] = c;
		for (size_t i = 1; i <= c; i++)
			q->lname[total + i] = wire_lower(r->pos[i]);
		total += (size_t)c + 1;
		r->pos += (size_t)c + 1;
	}
	q->qname_len = total;
	return DNS_MAL_NONE;
}

/* Validates a possibly compressed name and moves past it. Every pointer
 * must point before the start of the stretch that contains it, so the
 * targets strictly decrease and loops are impossible. */
static enum dns_malformed skip_name(struct wire_rd *r, bool *is_root)
{
	const uint8_t *p = r->pos, *seg = r->pos, *after = NULL;
	size_t total = 0;

	for (;;) {
		if (p >= r->end)
			return DNS_MAL_TRUNCATED;
		uint8_t c = *p;
		if ((c & 0xC0) == 0xC0) {
			if (r->end - p < 2)
				return DNS_MAL_TRUNCATED;
			size_t target = (size_t)(c & 0x3F) << 8 | p[1];
			if (!after)
				after = p + 2;
			if (target < DNS_HDR_LEN || r->base + target >= seg)
				return DNS_MAL_NAME;
			p = seg = r->base + target;
			continue;
		}
		if (c & 0xC0)
			return DNS_MAL_NAME;
		total += (size_t)c + 1;
		if (total > DNS_NAME_MAX)
			return DNS_MAL_NAME;
		if (c == 0) {
			p++;
			break;
		}
		if ((size_t)(r->end - p) < (size_t)c + 1)
			return DNS_MAL_TRUNCATED;
		p += (size_t)c + 1;
	}
	r->pos = after ? after : p;
	*is_root = total == 1;
	return DNS_MAL_NONE;
}

/* EDNS Client Subnet (RFC 7871 6): FAMILY, SOURCE PREFIX-LENGTH, SCOPE
 * PREFIX-LENGTH (0 in a query; ignored), then exactly the address bytes
 * the source length needs, with no bit set past it; once per query.
 * Anything else is FORMERR (7.1.1). Returns nonzero on a bad option. */
static int parse_ecs(struct query *q, const uint8_t *d, size_t len)
{
	if (q->ecs_opt || len < 4)
		return -1;
	uint16_t fam = wire_get_u16(d);
	uint8_t src = d[2];
	size_t alen = ((size_t)src + 7) / 8;

	if ((fam != 1 && fam != 2) || src > (fam == 1 ? 32 : 128) ||
	    len != 4 + alen)
		return -1;
	if (alen && (src % 8) && (d[4 + alen - 1] & (0xFF >> (src % 8))))
		return -1;
	q->ecs = q->ecs_opt = true;
	q->ecs_family = fam;
	q->ecs_src = src;
	q->ecs_alen = (uint8_t)alen;
	memset(q->ecs_addr, 0, sizeof(q->ecs_addr));
	memcpy(q->ecs_addr, d + 4, alen);
	return 0;
}

static enum dns_malformed parse_opt(struct query *q, uint16_t cls,
				    uint32_t ttl, const uint8_t *rd,
				    size_t rdlen)
{
	q->edns = true;
	q->edns_size = cls;
	q->edns_version = (uint8_t)(ttl >> 16);
	while (rdlen >= 4) {
		uint16_t code = wire_get_u16(rd);
		size_t len = wire_get_u16(rd + 2);
		if (len > rdlen - 4)
			return DNS_MAL_EDNS;
		if (code == DNS_EDNS_NSID)
			q->nsid = true;
		else if (code == DNS_EDNS_SELFCHECK)
			q->self_check = true;
		else if (code == DNS_EDNS_ECS && parse_ecs(q, rd + 4, len))
			return DNS_MAL_EDNS;
		rd += 4 + len;
		rdlen -= 4 + len;
	}
	return rdlen ? DNS_MAL_EDNS : DNS_MAL_NONE;
}

/* TSIG RDATA (RFC 8945 4.2): Algorithm Name (uncompressed), Time Signed
 * (6), Fudge (2), MAC Size (2), MAC, Original ID (2), Error (2), Other
 * Len (2), Other Data; the lengths must add up to RDLENGTH. */
static enum dns_malformed parse_tsig(struct query *q, const uint8_t *owner,
				     const uint8_t *rd, size_t rdlen)
{
	size_t off = 0;

	for (;;) {
		if (off >= rdlen)
			return DNS_MAL_TSIG;
		uint8_t c = rd[off];
		if (c & 0xC0)
			return DNS_MAL_TSIG;
		off += (size_t)c + 1;
		if (off > DNS_NAME_MAX)
			return DNS_MAL_TSIG;
		if (c == 0)
			break;
	}
	if (rdlen - off < 10)
		return DNS_MAL_TSIG;
	size_t p = off + 10 + wire_get_u16(rd + off + 8);	/* after MAC */
	if (p > rdlen || rdlen - p < 6 ||
	    rdlen - p - 6 != wire_get_u16(rd + p + 4))
		return DNS_MAL_TSIG;
	q->tsig = true;
	q->tsig_owner = owner;
	q->tsig_alg = rd;
	q->tsig_alg_len = off;
	return DNS_MAL_NONE;
}

static enum dns_malformed parse_additional(struct wire_rd *r, struct query *q,
					   uint16_t arcount)
{
	for (uint16_t i = 0; i < arcount; i++) {
		bool root;
		const uint8_t *owner = r->pos;
		enum dns_malformed m = skip_name(r, &root);
		if (m)
			return m;
		uint16_t type = wire_rd_u16(r);
		uint16_t cls = wire_rd_u16(r);
		uint32_t ttl = wire_rd_u32(r);
		uint16_t rdlen = wire_rd_u16(r);
		const uint8_t *rd = r->pos;
		wire_rd_skip(r, rdlen);
		if (r->err)
			return DNS_MAL_TRUNCATED;
		if (type == DNS_T_TSIG) {
			/* Last and only once (RFC 8945 5.2). */
			if (i + 1 != arcount)
				return DNS_MAL_TSIG;
			return parse_tsig(q, owner, rd, rdlen);
		}
		if (type != DNS_T_OPT)
			continue; /* framing checked; content not ours */
		if (q->edns || !root)
			return DNS_MAL_EDNS;
		m = parse_opt(q, cls, ttl, rd, rdlen);
		if (m)
			return m;
	}
	return DNS_MAL_NONE;
}

/* ---- writing ------------------------------------------------------------- */

static void rr_head(struct resp *rp, int sec, uint16_t owner_off,
		    uint16_t type, uint16_t cls, uint32_t ttl, uint16_t rdlen)
{
	struct wire_wr *w = &rp->w;

	wire_wr_u16(w, (uint16_t)(0xC000 | owner_off));
	wire_wr_u16(w, type);
	wire_wr_u16(w, cls);
	wire_wr_u32(w, ttl);
	wire_wr_u16(w, rdlen);
	if (!w->err)
		rp->count[sec]++;
}

static void rr_put(struct resp *rp, int sec, uint16_t owner_off,
		   uint16_t type, uint16_t cls, uint32_t ttl,
		   const uint8_t *rdata, uint16_t rdlen)
{
	rr_head(rp, sec, owner_off, type, cls, ttl, rdlen);
	wire_wr_bytes(&rp->w, rdata, rdlen);
}

/* Address records of one family: n entries of addrs picked by idx (or all
 * of them in order when idx is NULL). */
static void put_addrs(struct resp *rp, int sec, uint16_t owner_off,
		      bool v6, const struct dns_view *v, uint32_t first,
		      const uint32_t *idx, size_t n, uint32_t ttl)
{
	for (size_t k = 0; k < n; k++) {
		uint32_t i = first + (idx ? idx[k] : (uint32_t)k);
		if (v6)
			rr_put(rp, sec, owner_off, DNS_T_AAAA, DNS_C_IN, ttl,
			       v->addr6[i], 16);
		else
			rr_put(rp, sec, owner_off, DNS_T_A, DNS_C_IN, ttl,
			       v->addr4[i], 4);
	}
}

/* Resilience: distinct failure domains by their weight (those drawn by
 * effective weight first), then one item in each. */
static size_t sample_spread(const struct dns_view *v, const struct dns_svc *s,
			    const struct dns_family *f, bool v6,
			    const uint64_t *cum, struct as_rng *rng,
			    uint32_t *idx)
{
	const struct dns_dom *dm = (v6 ? v->doms6 : v->doms4) + f->first;
	const uint64_t *dc = (v6 ? v->dcum6 : v->dcum4) + f->first;
	uint32_t k = s->max_answers, one;
	size_t got = dns_sample(dc, f->dom_tier[0], k, rng, idx), more = 0;

	if (got < k && f->dom_tier[1]) {
		more = dns_sample(dc + f->dom_tier[0], f->dom_tier[1], k - got,
				  rng, idx + got);
		for (size_t j = got; j < got + more; j++)
			idx[j] += f->dom_tier[0];
	}
	got += more;
	for (size_t j = 0; j < got; j++) {
		const struct dns_dom *d = &dm[idx[j]];
		one = 0;
		dns_sample(cum + d->first, d->n_draw, 1, rng, &one);
		idx[j] = d->first + one;
	}
	return got;
}

/* The family of s to draw from: a client zone's plan (vf), else the
 * one for this node's zone. */
static const struct dns_family *fam(const struct dns_svc *s,
				    const struct dns_vfam *vf, bool v6)
{
	if (vf)
		return v6 ? &vf->v6 : &vf->v4;
	return v6 ? &s->v6 : &s->v4;
}

static size_t sample(const struct dns_view *v, const struct dns_svc *s,
		     const struct dns_family *f, bool v6, struct as_rng *rng,
		     uint32_t *idx)
{
	const uint64_t *cum = (v6 ? v->cum6 : v->cum4) + f->first;
	size_t got = 0, off = 0;

	if (!f->n)
		return 0;
	if (f->spread)
		return sample_spread(v, s, f, v6, cum, rng, idx);
	/* Tier by tier until the answer is full: a short answer is filled
	 * from the next tier (for balance, the loaded healthy endpoints),
	 * so every answer leaves the client a fallback. */
	for (unsigned t = 0; t < DNS_TIERS && got < s->max_answers; t++) {
		size_t n = f->tier[t], more;
		if (n) {
			more = dns_sample(cum + off, n, s->max_answers - got,
					  rng, idx + got);
			for (size_t j = got; j < got + more; j++)
				idx[j] += (uint32_t)off;
			got += more;
		}
		off += n;
	}
	return got;
}

/* Locality: whether the first address drawn is outside the zone (tier 0
 * holds the zone's items first, then the others'; tiers 1 and 3 are
 * other zones'). Counted, never steering. */
static void note_left(struct resp *rp, const struct dns_family *f,
		      const uint32_t *idx, size_t n)
{
	uint32_t t01 = f->tier[0] + f->tier[1], t2 = t01 + f->tier[2];

	if (f->locality && n &&
	    ((idx[0] >= f->local0 && idx[0] < t01) ||
	     (idx[0] >= t2 && idx[0] < t2 + f->tier[3])))
		rp->left_zone = true;
}

static void put_sampled(struct resp *rp, int sec, uint16_t owner_off,
			const struct dns_view *v, const struct dns_svc *s,
			const struct dns_vfam *vf, bool v6, struct as_rng *rng)
{
	uint32_t idx[DNS_MAX_ANSWERS];
	const struct dns_family *f = fam(s, vf, v6);
	size_t n = sample(v, s, f, v6, rng, idx);

	note_left(rp, f, idx, n);
	put_addrs(rp, sec, owner_off, v6, v, f->first, idx, n, s->ttl);
}

static void put_https(struct resp *rp, const struct dns_view *v,
		      const struct dns_svc *s, const struct dns_vfam *vf,
		      struct as_rng *rng)
{
	uint32_t i6[DNS_MAX_ANSWERS], i4[DNS_MAX_ANSWERS];
	const struct dns_family *f6 = fam(s, vf, true), *f4 = fam(s, vf, false);
	size_t n6 = sample(v, s, f6, true, rng, i6);
	size_t n4 = sample(v, s, f4, false, rng, i4);
	note_left(rp, f6, i6, n6);
	note_left(rp, f4, i4, n4);
	size_t rdlen = 2 + 1 + 6 + (n4 ? 4 + 4 * n4 : 0) +
		       (n6 ? 4 + 16 * n6 : 0);
	struct wire_wr *w = &rp->w;

	rr_head(rp, SEC_AN, DNS_HDR_LEN, DNS_T_HTTPS, DNS_C_IN, s->ttl,
		(uint16_t)rdlen);
	wire_wr_u16(w, 1);		/* SvcPriority: service mode */
	wire_wr_u8(w, 0);		/* TargetName "." = owner */
	wire_wr_u16(w, 3);		/* port */
	wire_wr_u16(w, 2);
	wire_wr_u16(w, s->port);
	if (n4) {			/* keys in ascending order */
		wire_wr_u16(w, 4);
		wire_wr_u16(w, (uint16_t)(4 * n4));
		for (size_t k = 0; k < n4; k++)
			wire_wr_bytes(w, v->addr4[f4->first + i4[k]], 4);
	}
	if (n6) {
		wire_wr_u16(w, 6);
		wire_wr_u16(w, (uint16_t)(16 * n6));
		for (size_t k = 0; k < n6; k++)
			wire_wr_bytes(w, v->addr6[f6->first + i6[k]], 16);
	}
}

/* Writes as much of the additional section as fits; never truncates. */
#define SOFT_BEGIN(rp) \
	uint8_t *soft_pos_ = (rp)->w.pos; uint16_t soft_ar_ = (rp)->count[SEC_AR]
#define SOFT_END(rp) \
	do { if ((rp)->w.err) { (rp)->w.pos = soft_pos_; (rp)->w.err = 0; \
	     (rp)->count[SEC_AR] = soft_ar_; } } while (0)

static void put_srv(struct resp *rp, const struct dns_view *v,
		    const struct dns_svc *s, const struct dns_vfam *vf,
		    struct as_rng *rng, bool additional)
{
	struct wire_wr *w = &rp->w;

	rr_head(rp, SEC_AN, DNS_HDR_LEN, DNS_T_SRV, DNS_C_IN, s->ttl,
		(uint16_t)(6 + s->target_len));
	wire_wr_u16(w, 0);
	wire_wr_u16(w, 0);
	wire_wr_u16(w, s->port);
	size_t target_off = wire_wr_offset(w);
	wire_wr_bytes(w, s->target, s->target_len);
	if (!additional || w->err || target_off > 0x3FFF)
		return;
	SOFT_BEGIN(rp);
	put_sampled(rp, SEC_AR, (uint16_t)target_off, v, s, vf, true, rng);
	put_sampled(rp, SEC_AR, (uint16_t)target_off, v, s, vf, false, rng);
	SOFT_END(rp);
}

static void put_ns(struct resp *rp, const struct dns_view *v,
		   uint16_t zone_off)
{
	uint16_t rd_off[256];

	for (size_t i = 0; i < v->n_ns; i++) {
		rr_head(rp, SEC_AN, zone_off, DNS_T_NS, DNS_C_IN, v->apex_ttl,
			v->ns_len[i]);
		size_t off = wire_wr_offset(&rp->w);
		rd_off[i] = off > 0x3FFF ? 0 : (uint16_t)off;
		wire_wr_bytes(&rp->w, v->ns_rdata + v->ns_off[i], v->ns_len[i]);
	}
	if (rp->w.err)
		return;
	/* Glue for in-zone nameservers, owner pointing into the NS RDATA. */
	SOFT_BEGIN(rp);
	for (size_t i = 0; i < v->n_ns; i++) {
		if (v->ns_nsh[i] < 0 || !rd_off[i])
			continue;
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= v->ns_nsh[j] == v->ns_nsh[i];
		if (dup)
			continue;
		const struct dns_nsh *h = &v->nshs[v->ns_nsh[i]];
		put_addrs(rp, SEC_AR, rd_off[i], true, v, h->v6.first, NULL,
			  h->v6.n, v->apex_ttl);
		put_addrs(rp, SEC_AR, rd_off[i], false, v, h->v4.first, NULL,
			  h->v4.n, v->apex_ttl);
	}
	SOFT_END(rp);
}

/* RFC 4592 4.3.3 for a name that does not exist: the closest encloser
 * is the longest existing ancestor (the apex at worst; an empty
 * non-terminal counts), and the answer comes from the wildcard directly
 * below it, if there is one. So a wildcard answers any depth below its
 * parent as long as no name on the way exists. */
static const struct dns_node *wildcard_lookup(const struct dns_view *v,
					      const struct query *q, size_t rel)
{
	uint8_t key[DNS_NAME_MAX];
	size_t off = rel;

	for (size_t i = 1; i < q->n_labels && q->label_off[i] < rel; i++) {
		if (dns_view_lookup(v, q->lname + q->label_off[i],
				    rel - q->label_off[i])) {
			off = q->label_off[i];
			break;
		}
	}
	key[0] = 1;
	key[1] = '*';
	memcpy(key + 2, q->lname + off, rel - off);
	return dns_view_lookup(v, key, 2 + rel - off);
}

static bool prefix_has(const struct dns_prefix *p, const uint8_t *a)
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, a, full) != 0)
		return false;
	return !rest || ((p->addr[full] ^ a[full]) & (0xFF << (8 - rest))) == 0;
}

/*
 * The plan for the client a Client Subnet option places (RFC 7871), or
 * NULL for this node's own, and the scope to echo: 0 when s answers
 * every client alike; else the length of the client prefix that chose
 * the plan (the longest of dns.client_zones that holds the client's
 * source prefix), or the source length when none does, raised to the
 * longest more specific client prefix inside the source prefix (the
 * answer then holds only for that much; RFC 7871 7.2.1 lets the scope
 * exceed the source). Linear in dns.client_zones, only for a locality
 * service asked with the option.
 */
static const struct dns_vfam *client_plan(struct resp *rp,
					  const struct dns_view *v,
					  const struct dns_svc *s,
					  const struct query *q)
{
	int af = q->ecs_family == 1 ? AF_INET : AF_INET6;
	uint32_t var = 0;
	uint8_t scope = 0, inner = 0;

	if (!q->ecs || !s->n_var)
		return NULL;
	for (size_t i = 0; i < v->n_czones; i++) {
		const struct dns_czone *cz = &v->czones[i];
		if (cz->p.family != af)
			continue;
		if (cz->p.len > q->ecs_src) {
			/* inside the client's prefix: the answer narrows */
			struct dns_prefix src = { .family = af, .len = q->ecs_src };
			memcpy(src.addr, cz->p.addr, sizeof(src.addr));
			if (prefix_has(&src, q->ecs_addr) && cz->p.len > inner)
				inner = cz->p.len;
		} else if (!var && prefix_has(&cz->p, q->ecs_addr)) {
			var = cz->var;	/* longest first: the best match */
			scope = cz->p.len;
		}
	}
	if (!var)
		scope = q->ecs_src;
	rp->ecs_scope = inner > scope ? inner : scope;
	return var ? &v->vfams[s->var_first + var - 1] : NULL;
}

/* Answers a query for a name in the zone; returns the RCODE. Records
 * from a wildcard are owned by the query name like every answer. */
static uint8_t answer_zone(struct resp *rp, const struct dns_view *v,
			   const struct query *q, size_t rel,
			   struct as_rng *rng)
{
	const struct dns_node *nd = dns_view_lookup(v, q->lname, rel);
	uint16_t zone_off = (uint16_t)(DNS_HDR_LEN + rel);
	uint16_t t = q->qtype;

	if (!nd && v->wildcards)	/* only on a miss: exact names stay fast */
		nd = wildcard_lookup(v, q, rel);

	if (!nd) {
		rr_put(rp, SEC_NS, zone_off, DNS_T_SOA, DNS_C_IN, v->neg_ttl,
		       v->soa_rdata, v->soa_rdlen);
		return DNS_RC_NXDOMAIN;
	}
	if (nd->svc >= 0) {
		const struct dns_svc *s = &v->svcs[nd->svc];
		const struct dns_vfam *vf = client_plan(rp, v, s, q);
		rp->objective = (uint8_t)(s->intent.objective + 1);
		if (t == DNS_T_ANY)
			t = s->v6.n ? DNS_T_AAAA : DNS_T_A;
		if (t == DNS_T_AAAA)
			put_sampled(rp, SEC_AN, DNS_HDR_LEN, v, s, vf, true, rng);
		else if (t == DNS_T_A)
			put_sampled(rp, SEC_AN, DNS_HDR_LEN, v, s, vf, false, rng);
		else if (t == DNS_T_HTTPS)
			put_https(rp, v, s, vf, rng);
	} else if (nd->srv >= 0) {
		if (t == DNS_T_SRV || t == DNS_T_ANY) {
			const struct dns_svc *s = &v->svcs[nd->srv];
			rp->objective = (uint8_t)(s->intent.objective + 1);
			put_srv(rp, v, s, client_plan(rp, v, s, q), rng,
				t == DNS_T_SRV);
		}
	} else {
		if (nd->apex && (t == DNS_T_SOA || t == DNS_T_ANY))
			rr_put(rp, SEC_AN, zone_off, DNS_T_SOA, DNS_C_IN,
			       v->apex_ttl, v->soa_rdata, v->soa_rdlen);
		else if (nd->apex && t == DNS_T_NS)
			put_ns(rp, v, zone_off);
		else if (nd->nsh >= 0) {
			const struct dns_nsh *h = &v->nshs[nd->nsh];
			if (t == DNS_T_ANY)
				t = h->v6.n ? DNS_T_AAAA : DNS_T_A;
			if (t == DNS_T_AAAA)
				put_addrs(rp, SEC_AN, DNS_HDR_LEN, true, v,
					  h->v6.first, NULL, h->v6.n,
					  v->apex_ttl);
			else if (t == DNS_T_A)
				put_addrs(rp, SEC_AN, DNS_HDR_LEN, false, v,
					  h->v4.first, NULL, h->v4.n,
					  v->apex_ttl);
		}
	}
	if (!rp->count[SEC_AN] && !rp->w.err)	/* NODATA */
		rr_put(rp, SEC_NS, zone_off, DNS_T_SOA, DNS_C_IN, v->neg_ttl,
		       v->soa_rdata, v->soa_rdlen);
	return DNS_RC_NOERROR;
}

/* If QNAME is at or below the zone, stores the length of the labels
 * before the zone. */
static bool qname_in_zone(const struct dns_view *v, const struct query *q,
			  size_t *rel)
{
	if (q->qname_len < v->zone_len)
		return false;
	size_t off = q->qname_len - v->zone_len;
	if (memcmp(q->lname + off, v->zone, v->zone_len) != 0)
		return false;
	if (off == 0) {
		*rel = 0;
		return true;
	}
	for (size_t i = 0; i < q->n_labels; i++) {
		if (q->label_off[i] == off) {
			*rel = off;
			return true;
		}
	}
	return false;
}

static bool is_chaos_id(const struct query *q)
{
	static const uint8_t id_server[] = "\002id\006server";
	static const uint8_t hostname_bind[] = "\010hostname\004bind";

	return (q->qname_len == sizeof(id_server) &&
		memcmp(q->lname, id_server, sizeof(id_server)) == 0) ||
	       (q->qname_len == sizeof(hostname_bind) &&
		memcmp(q->lname, hostname_bind, sizeof(hostname_bind)) == 0);
}

/* Copies a name of the query, validated by skip_name() (pointers only
 * backwards, at most 255 bytes), uncompressed to out; returns its length. */
static size_t name_expand(const uint8_t *msg, const uint8_t *p, uint8_t *out)
{
	size_t n = 0;

	for (;;) {
		uint8_t c = *p;
		if ((c & 0xC0) == 0xC0) {
			p = msg + (((size_t)(c & 0x3F) << 8) | p[1]);
			continue;
		}
		memcpy(out + n, p, (size_t)c + 1);
		n += (size_t)c + 1;
		if (c == 0)
			return n;
		p += (size_t)c + 1;
	}
}

/* ---- entry point ---------------------------------------------------------- */

static void header_only(const struct query *q, uint8_t rcode, uint8_t *out,
			size_t out_cap, struct dns_result *res)
{
	if (out_cap < DNS_HDR_LEN) {
		res->send = false;
		return;
	}
	memset(out, 0, DNS_HDR_LEN);
	wire_put_u16(out, q->id);
	out[2] = (uint8_t)(0x80 | q->opcode << 3 | (q->rd ? 1 : 0));
	out[3] = rcode;
	res->send = true;
	res->rcode = rcode;
	res->len = DNS_HDR_LEN;
}

/* ecs: the query's Client Subnet to echo with scope (RFC 7871 7.2.1),
 * or NULL. */
static void put_opt(struct wire_wr *w, const struct dns_view *v,
		    uint8_t rcode, bool nsid, const struct query *ecs,
		    uint8_t scope)
{
	size_t rdlen = (nsid ? 4 + (size_t)v->node_len : 0) +
		       (ecs ? 8 + (size_t)ecs->ecs_alen : 0);

	wire_wr_u8(w, 0);
	wire_wr_u16(w, DNS_T_OPT);
	wire_wr_u16(w, DNS_UDP_PAYLOAD_MAX);
	wire_wr_u32(w, (uint32_t)(rcode >> 4) << 24); /* version 0, DO 0 */
	wire_wr_u16(w, (uint16_t)rdlen);
	if (nsid) {
		wire_wr_u16(w, DNS_EDNS_NSID);
		wire_wr_u16(w, v->node_len);
		wire_wr_bytes(w, v->node_name, v->node_len);
	}
	if (ecs) {
		wire_wr_u16(w, DNS_EDNS_ECS);
		wire_wr_u16(w, (uint16_t)(4 + ecs->ecs_alen));
		wire_wr_u16(w, ecs->ecs_family);
		wire_wr_u8(w, ecs->ecs_src);
		wire_wr_u8(w, scope);
		wire_wr_bytes(w, ecs->ecs_addr, ecs->ecs_alen);
	}
}

/* NOTAUTH for a TSIG-signed query: question, OPT if the query had one,
 * and an unsigned TSIG record with error BADKEY (RFC 8945 5.2.1, 5.3.2).
 * If that does not fit (UDP), TC=1 without the TSIG record. */
static void answer_tsig(const struct query *q, const dns_view_t *view,
			const uint8_t *query, size_t base_len, size_t limit,
			uint8_t *out, struct dns_result *res)
{
	uint8_t owner[DNS_NAME_MAX];
	size_t olen = name_expand(query, q->tsig_owner, owner);
	size_t rdlen = q->tsig_alg_len + 16;
	size_t opt_len = q->edns ? 11 : 0;
	bool tc = base_len + opt_len + olen + 10 + rdlen > limit;
	struct wire_wr w;

	wire_wr_init(&w, out, limit);
	wire_wr_bytes(&w, query, base_len);
	if (q->edns)
		put_opt(&w, view, DNS_RC_NOTAUTH, false, NULL, 0);
	if (!tc) {
		wire_wr_bytes(&w, owner, olen);
		wire_wr_u16(&w, DNS_T_TSIG);
		wire_wr_u16(&w, DNS_C_ANY);
		wire_wr_u32(&w, 0);
		wire_wr_u16(&w, (uint16_t)rdlen);
		wire_wr_bytes(&w, q->tsig_alg, q->tsig_alg_len);
		wire_wr_bytes(&w, q->tsig_alg + q->tsig_alg_len, 6); /* time */
		wire_wr_u16(&w, DNS_TSIG_FUDGE);
		wire_wr_u16(&w, 0);		/* MAC size: unsigned */
		wire_wr_u16(&w, q->id);		/* original ID */
		wire_wr_u16(&w, DNS_TSIG_BADKEY);
		wire_wr_u16(&w, 0);		/* other len */
	}
	out[2] = (uint8_t)(0x80 | (tc ? 0x02 : 0) | (q->rd ? 1 : 0));
	out[3] = DNS_RC_NOTAUTH;
	wire_put_u16(out + 4, 1);
	wire_put_u16(out + 6, 0);
	wire_put_u16(out + 8, 0);
	wire_put_u16(out + 10, (uint16_t)(q->edns + !tc));
	res->send = true;
	res->rcode = DNS_RC_NOTAUTH;
	res->truncated = tc;
	res->len = wire_wr_offset(&w);
}

/* A query without a Client Subnet option: its source address, as a
 * full-length prefix (IPv4-mapped IPv6 as IPv4), places the client. */
static void client_from_source(struct query *q,
			       const struct sockaddr_storage *src)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					    0xFF, 0xFF };
	const uint8_t *a;

	if (src->ss_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)(const void *)src)->sin6_addr.s6_addr;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			q->ecs_family = 1;
			q->ecs_src = 32;
			memcpy(q->ecs_addr, a + 12, 4);
		} else {
			q->ecs_family = 2;
			q->ecs_src = 128;
			memcpy(q->ecs_addr, a, 16);
		}
	} else if (src->ss_family == AF_INET) {
		q->ecs_family = 1;
		q->ecs_src = 32;
		memcpy(q->ecs_addr,
		       &((const struct sockaddr_in *)(const void *)src)->sin_addr, 4);
	} else {
		return;
	}
	q->ecs = true;
}

void dns_answer(const dns_view_t *view, struct as_rng *rng,
		enum dns_transport transport, const uint8_t *query,
		size_t qlen, uint8_t *out, size_t out_cap,
		struct dns_result *res)
{
	dns_answer_from(view, rng, transport, NULL, query, qlen, out, out_cap,
			res);
}

void dns_answer_from(const dns_view_t *view, struct as_rng *rng,
		     enum dns_transport transport,
		     const struct sockaddr_storage *src, const uint8_t *query,
		     size_t qlen, uint8_t *out, size_t out_cap,
		     struct dns_result *res)
{
	struct query q;
	struct wire_rd r;
	struct resp rp;
	enum dns_malformed m;
	size_t limit, opt_len = 0, rel = 0;
	uint8_t rcode = DNS_RC_NOERROR;
	bool aa = false, nsid;

	memset(res, 0, sizeof(*res));
	if (qlen < DNS_HDR_LEN) {
		res->malformed = DNS_MAL_SHORT_HEADER;
		return;
	}
	if (query[2] & 0x80) {
		res->malformed = DNS_MAL_RESPONSE;
		return;
	}
	memset(&q, 0, offsetof(struct query, lname));
	q.id = wire_get_u16(query);
	q.opcode = (query[2] >> 3) & 0x0F;
	q.rd = query[2] & 1;
	q.edns = q.nsid = q.self_check = q.tsig = q.ecs = q.ecs_opt = false;
	q.qtype = q.qclass = 0;
	if (q.opcode != 0) {
		header_only(&q, DNS_RC_NOTIMP, out, out_cap, res);
		return;
	}

	wire_rd_init(&r, query, qlen);
	wire_rd_skip(&r, 4);
	uint16_t qdcount = wire_rd_u16(&r);
	uint16_t ancount = wire_rd_u16(&r);
	uint16_t nscount = wire_rd_u16(&r);
	uint16_t arcount = wire_rd_u16(&r);
	if (qdcount != 1)
		m = DNS_MAL_QDCOUNT;
	else if (ancount || nscount)
		m = DNS_MAL_SECTIONS;
	else if ((m = parse_qname(&r, &q)) == DNS_MAL_NONE) {
		q.qtype = wire_rd_u16(&r);
		q.qclass = wire_rd_u16(&r);
		if (r.err)
			m = DNS_MAL_TRUNCATED;
		else
			m = parse_additional(&r, &q, arcount);
		if (!m && wire_rd_avail(&r))
			m = DNS_MAL_TRAILING;
	}
	if (m) {
		res->malformed = m;
		header_only(&q, DNS_RC_FORMERR, out, out_cap, res);
		return;
	}
	res->qtype = q.qtype;
	res->self_check = q.self_check;
	if (!view) {	/* no view published yet */
		header_only(&q, DNS_RC_SERVFAIL, out, out_cap, res);
		return;
	}

	/* Size limit of this response (RFC 6891 section 6.2.5). */
	if (transport == DNS_TRANSPORT_TCP)
		limit = DNS_MSG_MAX;
	else if (!q.edns)
		limit = UDP_PLAIN_MAX;
	else
		limit = AS_MAX(UDP_PLAIN_MAX,
			       AS_MIN(q.edns_size, DNS_UDP_PAYLOAD_MAX));
	limit = AS_MIN(limit, out_cap);
	size_t base_len = DNS_HDR_LEN + q.qname_len + 4;
	nsid = q.nsid;
	if (q.edns) {
		size_t ecs_len = q.ecs_opt ? 8 + (size_t)q.ecs_alen : 0;
		opt_len = 11 + ecs_len + (nsid ? 4 + (size_t)view->node_len : 0);
		if (base_len + opt_len > limit) {
			nsid = false;
			opt_len = 11 + ecs_len;
		}
		if (base_len + opt_len > limit) {
			q.ecs = q.ecs_opt = false; /* a tiny caller buffer */
			opt_len = 11;
		}
	}
	res->ecs = q.ecs_opt;
	if (!q.ecs && src && view->n_czones)
		client_from_source(&q, src);
	if (base_len + opt_len > limit) {
		/* Only with a caller's buffer below the protocol minimum. */
		header_only(&q, DNS_RC_SERVFAIL, out, out_cap, res);
		if (res->send)
			out[2] |= 0x02, res->truncated = true;
		return;
	}
	if (q.tsig) {
		answer_tsig(&q, view, query, base_len, limit, out, res);
		return;
	}

	wire_wr_init(&rp.w, out, limit - opt_len);
	memset(rp.count, 0, sizeof(rp.count));
	rp.objective = 0;
	rp.left_zone = false;
	rp.ecs_scope = 0;
	wire_wr_bytes(&rp.w, query, base_len); /* header fixed up below */

	if (q.edns && q.edns_version > 0) {
		rcode = DNS_RC_BADVERS;
	} else if (q.qclass == DNS_C_CH) {
		if (q.qtype == DNS_T_TXT && is_chaos_id(&q)) {
			aa = true;
			rr_put(&rp, SEC_AN, DNS_HDR_LEN, DNS_T_TXT, DNS_C_CH, 0,
			       view->txt_rdata, view->txt_rdlen);
		} else {
			rcode = DNS_RC_REFUSED;
		}
	} else if (q.qclass != DNS_C_IN || q.qtype == DNS_T_AXFR ||
		   q.qtype == DNS_T_IXFR) {
		rcode = DNS_RC_REFUSED;
	} else if (!qname_in_zone(view, &q, &rel)) {
		rcode = DNS_RC_REFUSED;
		/* A plain QUERY without TSIG (both handled above): the worker's
		 * forwarder may take it. */
		res->forwardable = true;
	} else {
		aa = true;
		rcode = answer_zone(&rp, view, &q, rel, rng);
	}

	res->objective = rp.objective;
	res->left_zone = rp.left_zone;
	if (rp.w.err) {
		/* Did not fit: keep the question (and the OPT), drop the rest. */
		rp.w.err = 0;
		rp.w.pos = out + base_len;
		memset(rp.count, 0, sizeof(rp.count));
		res->truncated = true;
	}
	rp.w.end = out + limit;
	if (q.edns) {
		put_opt(&rp.w, view, rcode, nsid, q.ecs_opt ? &q : NULL,
			rp.ecs_scope);
		rp.count[SEC_AR]++;
	}
	/* Header. */
	out[2] = (uint8_t)(0x80 | (aa ? 0x04 : 0) |
			   (res->truncated ? 0x02 : 0) | (q.rd ? 1 : 0));
	out[3] = rcode & 0x0F;
	wire_put_u16(out + 4, 1);
	wire_put_u16(out + 6, rp.count[SEC_AN]);
	wire_put_u16(out + 8, rp.count[SEC_NS]);
	wire_put_u16(out + 10, rp.count[SEC_AR]);

	res->send = true;
	res->rcode = rcode;
	res->len = wire_wr_offset(&rp.w);
}
