/*
 * tests/fuzz/fuzz_dns_forward.c - libFuzzer harness for the forwarder's
 * untrusted input: upstream answers (dns_fwd_parse) and, on the same
 * bytes, client queries (dns_fwd_client_parse).
 *
 * The input is taken as the answer to the question it carries with the ID
 * it carries (so mutations reach past the ID and question checks). Whatever
 * parses must keep its promises: records inside the input, TTLs within the
 * limits, and every reply built from it within the client's size limit
 * with the client's ID and question, the record counts it says (or TC and
 * none). It then goes through a small cache. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/forward.h"
#include "dns/wire.h"
#include "lib/as.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_dns_forward: %s:%d: %s\n",  \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

static const struct dns_fwd_ttl_limits LIM = { .max = 86400,
					       .neg_max = 3600 };

static void check_reply(const struct dns_fwd_msg *m,
			const struct dns_fwd_client *c, bool tcp)
{
	static uint8_t out[DNS_MSG_MAX];
	size_t len = 0;
	size_t limit = tcp ? DNS_MSG_MAX : !c->edns ? 512 : DNS_UDP_PAYLOAD_MAX;

	if (dns_fwd_reply(m, c, 5, false, tcp, out, sizeof(out), &len) != AS_OK)
		return;
	CHECK(len <= limit);
	CHECK(wire_get_u16(out) == c->id);
	CHECK(out[2] & 0x80);
	CHECK(memcmp(out + 12, c->qname, c->qname_len) == 0);
	uint16_t ar = wire_get_u16(out + 10);
	if (out[2] & 0x02) {
		CHECK(wire_get_u16(out + 6) == 0);
		CHECK(ar == (c->edns ? 1 : 0));
	} else {
		CHECK(wire_get_u16(out + 6) == m->count[0]);
		CHECK(ar == m->count[2] + (c->edns ? 1 : 0));
		CHECK(len == m->qlen + m->rr_len + (c->edns ? 11 : 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_fwd_client c;
	struct dns_fwd_sent sent;
	struct dns_fwd_msg *m = NULL;
	enum dns_fwd_bad why;
	struct wire_rd r;

	/* As a client's query. */
	if (dns_fwd_client_parse(data, size, &c) == AS_OK) {
		CHECK(c.qname_len >= 1 && c.qname_len <= DNS_NAME_MAX);
		CHECK(c.udp_size >= 512);
	}

	/* As an upstream answer to its own question. */
	memset(&sent, 0, sizeof(sent));
	wire_rd_init(&r, data, size);
	sent.id = wire_rd_u16(&r);
	wire_rd_skip(&r, 10);
	size_t n = 0;
	for (;;) {
		uint8_t l = wire_rd_u8(&r);
		if (r.err || l > 63 || n + 1 + l > DNS_NAME_MAX)
			return 0;
		sent.qname[n++] = l;
		if (!l)
			break;
		if (!wire_rd_need(&r, l))
			return 0;
		memcpy(sent.qname + n, r.pos, l);
		r.pos += l;
		n += l;
	}
	sent.qname_len = (uint8_t)n;
	sent.qtype = wire_rd_u16(&r);
	sent.qclass = wire_rd_u16(&r);
	sent.case_exact = size & 1;
	if (r.err)
		return 0;

	int rc = dns_fwd_parse(data, size, &sent, &LIM, &m, &why);
	if (rc != AS_OK) {
		CHECK(m == NULL);
		CHECK(why != DNS_FWD_OK);
		return 0;
	}
	CHECK(m && why == DNS_FWD_OK);
	CHECK(m->qlen + m->rr_len <= size);
	CHECK(m->ttl <= LIM.max);
	CHECK(!m->negative || m->ttl <= LIM.neg_max);
	for (size_t i = 0; i < m->n_ttl; i++)
		CHECK((size_t)m->ttl_off[i] + 4 <= m->rr_len);

	/* Clients that asked the same question in three ways. */
	memset(&c, 0, sizeof(c));
	c.id = 0x5151;
	c.rd = true;
	memcpy(c.qname, sent.qname, sent.qname_len);
	c.qname_len = sent.qname_len;
	c.qtype = sent.qtype;
	c.qclass = sent.qclass;
	c.udp_size = 512;
	check_reply(m, &c, false);
	check_reply(m, &c, true);
	c.edns = true;
	c.do_bit = true;
	c.udp_size = 4096;
	check_reply(m, &c, false);

	/* And through a small cache. */
	dns_fcache_t *fc;
	uint8_t key[DNS_FWD_KEY_MAX];
	uint32_t age;
	bool stale;
	CHECK(dns_fcache_new(4096, &fc) == AS_OK);
	size_t klen = dns_fwd_key(&c, key);
	uint32_t ttl = m->ttl;
	dns_fcache_put(fc, key, klen, m, 1000);
	const struct dns_fwd_msg *hit = dns_fcache_get(fc, key, klen, 1000,
						       false, 0, &age, &stale);
	if (hit) {
		CHECK(ttl > 0);
		check_reply(hit, &c, false);
	}
	dns_fcache_free(fc);
	return 0;
}
