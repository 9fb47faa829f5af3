/*
 * dns/wire.h - the DNS wire format: bounded cursors and constants;
 * internal to the DNS module (not for other modules).
 *
 * Design. Packet code reads and writes through a bounded cursor with a
 * sticky error, as Knot's wire_ctx does: every access checks the bound,
 * and after the first failure every further access is a no-op that
 * returns zeros, so a parser or a writer checks the error once at the end
 * of a block instead of after every field. The cursors never allocate.
 * Only wire-format code lives here: the view's layout and the sampler
 * are in dns/view.h.
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
#define DNS_EDNS_ECS 8		/* Client Subnet (RFC 7871) */
/* The routing self-check's mark (dns/probe.c), from the local/experimental
 * range (RFC 6891 9): such queries are counted apart from clients'. */
#define DNS_EDNS_SELFCHECK 65001

#endif
