/*
 * dns/probe.c - the routing self-check's query and the check of its
 * reply.
 *
 * Design. Before an anycast address is announced, the agent asks the DNS
 * server behind it for the zone's SOA and announces only while the
 * answers come back right. The query and the check are pure functions
 * over bytes here, written and read with the same bounded cursors
 * (dns/wire.h) as the query path, so the agent never handles DNS
 * offsets itself.
 */
#include <string.h>

#include "dns/wire.h"

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_OPCODE 0x7800
#define DNS_FLAG_RCODE 0x000f

int dns_probe_query_build(const char *zone, uint16_t id, uint8_t *buf,
			  size_t cap, size_t *len)
{
	struct wire_wr w;
	size_t name_len = 1;

	if (!zone || !buf || !len)
		return AS_EINVAL;
	/* Check the whole name first: a bad name is AS_EINVAL whatever the
	 * room. */
	for (const char *p = zone; *p && strcmp(p, ".") != 0;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > DNS_LABEL_MAX)
			return AS_EINVAL;
		name_len += 1 + l;
		p += l + (dot ? 1 : 0);
	}
	if (name_len > DNS_NAME_MAX)
		return AS_EINVAL;

	wire_wr_init(&w, buf, cap);
	wire_wr_u16(&w, id);
	wire_wr_u16(&w, 0);	/* QUERY, RD off: we ask the authority */
	wire_wr_u16(&w, 1);	/* QDCOUNT */
	wire_wr_u16(&w, 0);
	wire_wr_u16(&w, 0);
	wire_wr_u16(&w, 1);	/* ARCOUNT: the OPT with our mark */
	while (*zone && strcmp(zone, ".") != 0) {
		const char *dot = strchr(zone, '.');
		size_t l = dot ? (size_t)(dot - zone) : strlen(zone);
		wire_wr_u8(&w, (uint8_t)l);
		wire_wr_bytes(&w, zone, l);
		zone += l + (dot ? 1 : 0);
	}
	wire_wr_u8(&w, 0);
	wire_wr_u16(&w, DNS_T_SOA);
	wire_wr_u16(&w, DNS_C_IN);
	/* OPT: root owner, 512-byte payload, version 0, one empty option
	 * that tells the server's counters this is the self-check. */
	wire_wr_u8(&w, 0);
	wire_wr_u16(&w, DNS_T_OPT);
	wire_wr_u16(&w, 512);
	wire_wr_u16(&w, 0);
	wire_wr_u16(&w, 0);
	wire_wr_u16(&w, 4);
	wire_wr_u16(&w, DNS_EDNS_SELFCHECK);
	wire_wr_u16(&w, 0);
	if (w.err)
		return w.err;
	*len = wire_wr_offset(&w);
	return AS_OK;
}

bool dns_probe_reply_check(const uint8_t *query, size_t qlen,
			   const uint8_t *reply, size_t rlen)
{
	struct wire_rd q, r;

	if (!query || !reply)
		return false;
	wire_rd_init(&q, query, qlen);
	wire_rd_init(&r, reply, rlen);
	uint16_t qid = wire_rd_u16(&q);
	wire_rd_skip(&q, DNS_HDR_LEN - 2);
	uint16_t id = wire_rd_u16(&r);
	uint16_t flags = wire_rd_u16(&r);
	uint16_t qdcount = wire_rd_u16(&r);
	uint16_t ancount = wire_rd_u16(&r);
	wire_rd_skip(&r, 4);	/* NSCOUNT, ARCOUNT */
	if (q.err || r.err || id != qid || !(flags & DNS_FLAG_QR) ||
	    (flags & DNS_FLAG_OPCODE) || (flags & DNS_FLAG_RCODE) ||
	    qdcount != 1 || ancount == 0)
		return false;

	/* Our question, the name in any case (0x20 randomisation): label
	 * by label; a compression pointer has no place here. */
	for (;;) {
		uint8_t ql = wire_rd_u8(&q), rl = wire_rd_u8(&r);
		if (q.err || r.err || ql != rl || ql > DNS_LABEL_MAX)
			return false;
		if (ql == 0)
			break;
		for (uint8_t i = 0; i < ql; i++)
			if (wire_lower(wire_rd_u8(&q)) !=
			    wire_lower(wire_rd_u8(&r)))
				return false;
	}
	uint16_t qtype = wire_rd_u16(&q), qclass = wire_rd_u16(&q);
	uint16_t rtype = wire_rd_u16(&r), rclass = wire_rd_u16(&r);
	return !q.err && !r.err && qtype == rtype && qclass == rclass;
}
