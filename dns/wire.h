/*
 * dns/wire.h - internal helpers of the DNS module (not installed, not for
 * other modules).
 *
 * Design. Packet code reads and writes through a bounded cursor with a
 * sticky error, as Knot's wire_ctx does: every access checks the bound,
 * and after the first failure every further access is a no-op that
 * returns zeros, so a parser or a writer checks the error once at the end
 * of a block instead of after every field. The cursors never allocate.
 *
 * The second half declares what policy.c, view.c and query.c share: the
 * weighted sampler and the layout of a built view. The view is laid out
 * for the query path: services and names in an open-addressing hash table
 * keyed by the lower-case wire name relative to the zone, addresses and
 * cumulative integer weights in flat arrays, static RDATA pre-rendered.
 */
#ifndef ANYSTEER_DNS_WIRE_H
#define ANYSTEER_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns/dns.h"
#include "lib/as.h"

/* ---- bounded cursors ------------------------------------------------- */

struct wire_rd {
	const uint8_t *base;	/* start of the message (for offsets) */
	const uint8_t *pos;
	const uint8_t *end;
	int err;		/* sticky: AS_ETRUNC once a read ran past end */
};

struct wire_wr {
	uint8_t *base;
	uint8_t *pos;
	uint8_t *end;
	int err;		/* sticky: AS_ESPACE once a write did not fit */
};

static inline void wire_rd_init(struct wire_rd *r, const uint8_t *p, size_t n)
{
	r->base = r->pos = p;
	r->end = p + n;
	r->err = AS_OK;
}

static inline size_t wire_rd_avail(const struct wire_rd *r)
{
	return r->err ? 0 : (size_t)(r->end - r->pos);
}

static inline size_t wire_rd_offset(const struct wire_rd *r)
{
	return (size_t)(r->pos - r->base);
}

static inline bool wire_rd_need(struct wire_rd *r, size_t n)
{
	if (r->err)
		return false;
	if ((size_t)(r->end - r->pos) < n) {
		r->err = AS_ETRUNC;
		return false;
	}
	return true;
}

static inline uint8_t wire_rd_u8(struct wire_rd *r)
{
	if (!wire_rd_need(r, 1))
		return 0;
	return *r->pos++;
}

static inline uint16_t wire_rd_u16(struct wire_rd *r)
{
	if (!wire_rd_need(r, 2))
		return 0;
	uint16_t v = (uint16_t)(r->pos[0] << 8 | r->pos[1]);
	r->pos += 2;
	return v;
}

static inline uint32_t wire_rd_u32(struct wire_rd *r)
{
	if (!wire_rd_need(r, 4))
		return 0;
	uint32_t v = (uint32_t)r->pos[0] << 24 | (uint32_t)r->pos[1] << 16 |
		     (uint32_t)r->pos[2] << 8 | r->pos[3];
	r->pos += 4;
	return v;
}

static inline void wire_rd_skip(struct wire_rd *r, size_t n)
{
	if (wire_rd_need(r, n))
		r->pos += n;
}

static inline void wire_wr_init(struct wire_wr *w, uint8_t *p, size_t n)
{
	w->base = w->pos = p;
	w->end = p + n;
	w->err = AS_OK;
}

static inline size_t wire_wr_offset(const struct wire_wr *w)
{
	return (size_t)(w->pos - w->base);
}

static inline bool wire_wr_need(struct wire_wr *w, size_t n)
{
	if (w->err)
		return false;
	if ((size_t)(w->end - w->pos) < n) {
		w->err = AS_ESPACE;
		return false;
	}
	return true;
}

static inline void wire_wr_u8(struct wire_wr *w, uint8_t v)
{
	if (wire_wr_need(w, 1))
		*w->pos++ = v;
}

static inline void wire_wr_u16(struct wire_wr *w, uint16_t v)
{
	if (!wire_wr_need(w, 2))
		return;
	w->pos[0] = (uint8_t)(v >> 8);
	w->pos[1] = (uint8_t)v;
	w->pos += 2;
}

static inline void wire_wr_u32(struct wire_wr *w, uint32_t v)
{
	if (!wire_wr_need(w, 4))
		return;
	w->pos[0] = (uint8_t)(v >> 24);
	w->pos[1] = (uint8_t)(v >> 16);
	w->pos[2] = (uint8_t)(v >> 8);
	w->pos[3] = (uint8_t)v;
	w->pos += 4;
}

static inline void wire_wr_bytes(struct wire_wr *w, const void *p, size_t n)
{
	if (n && wire_wr_need(w, n)) {
		memcpy(w->pos, p, n);
		w->pos += n;
	}
}

/* Stores a big-endian 16-bit value at an absolute offset already written
 * (RDLENGTH and counts are patched after their content). */
static inline void wire_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t wire_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint8_t wire_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* ---- DNS constants used by the module -------------------------------- */

#define DNS_HDR_LEN 12
/* DNS_NAME_MAX, DNS_LABEL_MAX: dns.h */

enum {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_SOA = 6, DNS_T_TXT = 16,
	DNS_T_AAAA = 28, DNS_T_SRV = 33, DNS_T_OPT = 41, DNS_T_HTTPS = 65,
	DNS_T_TSIG = 250, DNS_T_IXFR = 251, DNS_T_AXFR = 252, DNS_T_ANY = 255,
};
enum { DNS_C_IN = 1, DNS_C_CH = 3, DNS_C_ANY = 255 };
enum {
	DNS_RC_NOERROR = 0, DNS_RC_FORMERR = 1, DNS_RC_SERVFAIL = 2,
	DNS_RC_NXDOMAIN = 3, DNS_RC_NOTIMP = 4, DNS_RC_REFUSED = 5,
	DNS_RC_NOTAUTH = 9, DNS_RC_BADVERS = 16,
};
#define DNS_TSIG_BADKEY 17	/* TSIG error field (RFC 8945) */
#define DNS_TSIG_FUDGE 300	/* seconds; what Knot and BIND send */
#define DNS_EDNS_NSID 3

/* ---- weighted sampling (policy.c) ------------------------------------- */

/* The most endpoints one answer may carry; larger max_answers values in a
 * spec are clamped to it (an AAAA RR is 28 bytes: 64 of them already need
 * TCP). It bounds the sampler's stack array. */
#define DNS_MAX_ANSWERS 64
/* DNS_MAX_ENDPOINTS: dns.h */
/* Load factors become integers in [0, DNS_LF_ONE]. */
#define DNS_LF_ONE 65536u

/* Uniform integer in [0, bound), bound > 0, without modulo bias (Lemire). */
uint64_t dns_rng_below(struct dns_rng *rng, uint64_t bound);

/* Weighted sampling without replacement: cum[i] is the cumulative integer
 * weight of items 0..i (non-decreasing, cum[n-1] > 0). Writes up to k
 * distinct indices (never one of weight 0) to out and returns how many:
 * min(k, number of items with weight > 0). k <= DNS_MAX_ANSWERS. */
size_t dns_sample(const uint64_t *cum, size_t n, size_t k,
		  struct dns_rng *rng, uint32_t *out);

/* Integer weights of one family at the first level that has a non-zero
 * weight: effective, then configured, then uniform (fail open). eff, cfg
 * and mult have n entries (mult NULL: all 1); item i stands for mult[i]
 * endpoints with the same address, eff[i] and cfg[i] being their sums, so
 * the uniform level weighs it mult[i]. Writes the cumulative weights to
 * cum. */
void dns_policy_cumulate(const uint64_t *eff, const uint64_t *cfg,
			 const uint32_t *mult, size_t n, uint64_t *cum);

/* ---- view layout (view.c, read by query.c) ----------------------------- */

struct dns_ep {			/* introspection only: cold */
	const char *node;
	uint32_t weight;
	double load_factor;
	bool healthy;
	int family;
	uint32_t fam_index;	/* index into the service's family arrays */
};

struct dns_family {
	uint32_t first;		/* into view->addr6/cum6 or addr4/cum4 */
	uint32_t n;
};

struct dns_svc {
	const char *name;
	const char *proto;
	uint16_t port;
	uint32_t ttl;		/* resolved: never 0 unless the zone says 0 */
	uint32_t max_answers;	/* resolved and clamped */
	uint32_t ep_first, n_ep;	/* into view->eps, spec order */
	struct dns_family v6, v4;
	uint8_t target[DNS_NAME_MAX];	/* <service>.<zone>. in wire form */
	uint8_t target_len;
};

struct dns_nsh {		/* an in-zone nameserver name */
	struct dns_family v6, v4;	/* ns addresses (cum unused) */
};

/* A name that exists in the zone. svc/srv/nsh are indices or -1; a node
 * with none of them and not the apex is an empty non-terminal. */
struct dns_node {
	uint32_t key_off;	/* into view->keys */
	uint8_t key_len;	/* lower-case wire labels before the zone */
	bool apex;
	int32_t svc, srv, nsh;
};

struct dns_view {
	int refs;			/* atomic */
	char *zone_text;		/* "svc.example." */
	uint8_t zone[DNS_NAME_MAX];	/* lower-case wire form */
	uint8_t zone_len;
	char *node_name;
	uint8_t node_len;		/* NSID and TXT payload length */
	uint32_t ttl, max_answers;
	uint32_t apex_ttl, neg_ttl;

	uint8_t *soa_rdata;		/* pre-rendered with ldns */
	uint16_t soa_rdlen;
	uint8_t *ns_rdata;		/* every NS target, concatenated */
	uint16_t *ns_off, *ns_len;	/* per target */
	int32_t *ns_nsh;		/* in-zone target: nsh index, else -1 */
	size_t n_ns;
	uint8_t *txt_rdata;		/* node name as TXT strings */
	uint16_t txt_rdlen;

	struct dns_svc *svcs;
	size_t n_svcs;
	struct dns_ep *eps;
	uint8_t (*addr6)[16];
	uint8_t (*addr4)[4];
	uint64_t *cum6, *cum4;
	struct dns_nsh *nshs;
	size_t n_nshs;

	struct dns_node *nodes;
	size_t n_nodes;
	uint8_t *keys;
	uint32_t *table;		/* node index + 1, 0 = empty */
	uint32_t table_mask;
	char *strings;			/* names, protos, nodes */
};

/* Hash of a lower-case relative wire name (FNV-1a). */
static inline uint32_t dns_name_hash(const uint8_t *key, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h;
}

/* Finds the node of a lower-case relative wire name, or NULL. */
static inline const struct dns_node *
dns_view_lookup(const struct dns_view *v, const uint8_t *key, size_t len)
{
	uint32_t i = dns_name_hash(key, len) & v->table_mask;
	for (;;) {
		uint32_t slot = v->table[i];
		if (slot == 0)
			return NULL;
		const struct dns_node *nd = &v->nodes[slot - 1];
		if (nd->key_len == len &&
		    memcmp(v->keys + nd->key_off, key, len) == 0)
			return nd;
		i = (i + 1) & v->table_mask;
	}
}

#endif
