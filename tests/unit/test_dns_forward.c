/*
 * Unit tests for dns/forward.c and dns/fcache.c: the forwarder's pure
 * part. Queries and upstream answers are built and read back with ldns,
 * so they are the bytes a real client or resolver would exchange.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/forward.h"
#include "dns/wire.h"
#include "lib/as.h"
#include "lib/rng.h"

static const struct dns_fwd_ttl_limits LIM = { .max = 86400,
					       .neg_max = 3600 };

/* A query as a stub resolver sends it. */
static size_t make_query(const char *name, ldns_rr_type t, uint16_t id,
			 bool edns, uint16_t udp, bool do_bit, uint8_t *out)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, t,
						    LDNS_RR_CLASS_IN,
						    LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, udp);
		ldns_pkt_set_edns_do(p, do_bit);
		/* ldns writes an OPT only with some EDNS data set. */
		ldns_pkt_set_edns_version(p, 0);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= 512);
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

/* An upstream answer to `sent` with the given records ("owner TTL IN
 * TYPE RDATA"), NULL-terminated per section. */
static size_t make_answer(const struct dns_fwd_sent *sent, uint8_t rcode,
			  const char *const *an, const char *const *ns,
			  bool edns, uint8_t *out, size_t cap)
{
	ldns_pkt *p = ldns_pkt_new();
	uint8_t *wire = NULL;
	size_t len = 0;
	ldns_rdf *qn = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
					     sent->qname_len, sent->qname);

	assert_non_null(p);
	assert_non_null(qn);
	ldns_pkt_set_id(p, sent->id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, rcode);
	ldns_rr *q = ldns_rr_new();
	ldns_rr_set_owner(q, qn);
	ldns_rr_set_type(q, sent->qtype);
	ldns_rr_set_class(q, sent->qclass);
	ldns_rr_set_question(q, true);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	for (int s = 0; s < 2; s++) {
		const char *const *v = s ? ns : an;
		for (; v && *v; v++) {
			ldns_rr *rr = NULL;
			assert_int_equal(ldns_rr_new_frm_str(&rr, *v, 0, NULL,
							     NULL),
					 LDNS_STATUS_OK);
			ldns_pkt_push_rr(p, s ? LDNS_SECTION_AUTHORITY :
					 LDNS_SECTION_ANSWER, rr);
		}
	}
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, 1232);
		ldns_pkt_set_edns_version(p, 0);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

static ldns_pkt *read_back(const uint8_t *b, size_t len)
{
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, b, len), LDNS_STATUS_OK);
	return p;
}

static void client_for(const char *name, ldns_rr_type t, bool edns,
		       uint16_t udp, bool do_bit, struct dns_fwd_client *c)
{
	uint8_t q[512];
	size_t n = make_query(name, t, 0x4242, edns, udp, do_bit, q);
	assert_int_equal(dns_fwd_client_parse(q, n, c), AS_OK);
}

static void test_client_parse(void **state)
{
	(void)state;
	struct dns_fwd_client c;
	uint8_t q[512];
	size_t n = make_query("WwW.Example.ORG.", LDNS_RR_TYPE_AAAA, 7, true,
			      4096, true, q);

	assert_int_equal(dns_fwd_client_parse(q, n, &c), AS_OK);
	assert_int_equal(c.id, 7);
	assert_true(c.rd);
	assert_true(c.edns);
	assert_true(c.do_bit);
	assert_int_equal(c.udp_size, 4096);
	assert_int_equal(c.qtype, LDNS_RR_TYPE_AAAA);
	assert_int_equal(c.qclass, 1);
	assert_int_equal(c.qname_len, 17);
	assert_memory_equal(c.qname, "\3WwW\7Example\3ORG\0", 17);

	n = make_query("a.example.", LDNS_RR_TYPE_A, 8, false, 0, false, q);
	assert_int_equal(dns_fwd_client_parse(q, n, &c), AS_OK);
	assert_false(c.edns);
	assert_int_equal(c.udp_size, 512);
	/* A response is not a query; a cut one is not either. */
	q[2] |= 0x80;
	assert_int_equal(dns_fwd_client_parse(q, n, &c), AS_EMALFORMED);
	q[2] &= 0x7F;
	assert_int_equal(dns_fwd_client_parse(q, n - 1, &c), AS_EMALFORMED);
}

static void test_key_ignores_case(void **state)
{
	(void)state;
	struct dns_fwd_client a, b, d;
	uint8_t ka[DNS_FWD_KEY_MAX], kb[DNS_FWD_KEY_MAX], kd[DNS_FWD_KEY_MAX];

	client_for("WWW.example.org.", LDNS_RR_TYPE_A, true, 1232, false, &a);
	client_for("www.EXAMPLE.org.", LDNS_RR_TYPE_A, false, 0, false, &b);
	client_for("www.example.org.", LDNS_RR_TYPE_A, true, 1232, true, &d);
	size_t na = dns_fwd_key(&a, ka), nb = dns_fwd_key(&b, kb);
	assert_int_equal(na, nb);
	assert_memory_equal(ka, kb, na);
	/* DO changes what the answer holds (signatures): another key. */
	size_t nd = dns_fwd_key(&d, kd);
	assert_int_equal(nd, na);
	assert_memory_not_equal(ka, kd, na);
}

static void test_query_build_0x20(void **state)
{
	(void)state;
	struct dns_fwd_client c;
	struct dns_fwd_sent s;
	struct as_rng rng;
	uint8_t out[512];
	size_t len;
	int mixed = 0;

	as_rng_seed(&rng, 42);
	client_for("abcdefghijklmnop.example.org.", LDNS_RR_TYPE_A, true, 4096,
		   true, &c);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(dns_fwd_query_build(&c, (uint16_t)(100 + i),
						     &rng, out, sizeof(out),
						     &len, &s), AS_OK);
		ldns_pkt *p = read_back(out, len);
		assert_int_equal(ldns_pkt_id(p), 100 + i);
		assert_true(ldns_pkt_rd(p));
		assert_false(ldns_pkt_qr(p));
		assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
		assert_true(ldns_pkt_edns_do(p));
		assert_true(s.case_exact);
		/* Same name without case; the bytes sent are in s. */
		assert_memory_equal(out + 12, s.qname, s.qname_len);
		bool upper = false;
		for (size_t j = 0; j < s.qname_len; j++) {
			assert_int_equal(wire_lower(s.qname[j]),
					 wire_lower(c.qname[j]));
			upper |= s.qname[j] >= 'A' && s.qname[j] <= 'Z';
		}
		mixed += upper;
		ldns_pkt_free(p);
	}
	/* 24 letters at random case: all lower 20 times is 2^-480. */
	assert_int_equal(mixed, 20);
	/* Without an rng the name goes as the client's, in lower case. */
	assert_int_equal(dns_fwd_query_build(&c, 1, NULL, out, sizeof(out),
					     &len, &s), AS_OK);
	assert_false(s.case_exact);
	assert_memory_equal(s.qname, "\20abcdefghijklmnop", 17);
	assert_int_equal(dns_fwd_query_build(&c, 1, NULL, out, 20, &len, &s),
			 AS_ESPACE);
}

struct fixture {
	struct dns_fwd_client c;
	struct dns_fwd_sent s;
	uint8_t q[512];
	size_t qlen;
};

static void fixture_for(struct fixture *f, const char *name, ldns_rr_type t,
			struct as_rng *rng)
{
	client_for(name, t, true, 1232, false, &f->c);
	assert_int_equal(dns_fwd_query_build(&f->c, 0x1234, rng, f->q,
					     sizeof(f->q), &f->qlen, &f->s),
			 AS_OK);
}

static void test_parse_checks_the_answer(void **state)
{
	(void)state;
	struct fixture f;
	struct as_rng rng;
	uint8_t r[1500];
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;
	const char *an[] = { "www.example.org. 300 IN A 192.0.2.1", NULL };

	as_rng_seed(&rng, 7);
	fixture_for(&f, "www.example.org.", LDNS_RR_TYPE_A, &rng);
	size_t n = make_answer(&f.s, 0, an, NULL, true, r, sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_int_equal(why, DNS_FWD_OK);
	assert_int_equal(m->count[0], 1);
	assert_int_equal(m->count[2], 0);	/* the OPT is not kept */
	assert_int_equal(m->ttl, 300);
	dns_fwd_msg_free(m);

	/* Another ID: a stray or a guess. */
	struct dns_fwd_sent other = f.s;
	other.id++;
	assert_int_equal(dns_fwd_parse(r, n, &other, &LIM, &m, &why),
			 AS_EPROTO);
	assert_int_equal(why, DNS_FWD_BAD_ID);
	assert_null(m);
	/* The right ID for another question (or the case lost under 0x20). */
	other = f.s;
	for (size_t i = 0; i < other.qname_len; i++)
		other.qname[i] ^= (other.qname[i] >= 'A' && other.qname[i] <=
				   'z') ? 0x20 : 0;
	assert_int_equal(dns_fwd_parse(r, n, &other, &LIM, &m, &why),
			 AS_EPROTO);
	assert_int_equal(why, DNS_FWD_BAD_QUESTION);
	other.case_exact = false;	/* without 0x20 case does not count */
	assert_int_equal(dns_fwd_parse(r, n, &other, &LIM, &m, &why), AS_OK);
	dns_fwd_msg_free(m);
	other = f.s;
	other.qtype = LDNS_RR_TYPE_AAAA;
	assert_int_equal(dns_fwd_parse(r, n, &other, &LIM, &m, &why),
			 AS_EPROTO);
	assert_int_equal(why, DNS_FWD_BAD_QUESTION);
	/* Our own query reflected back. */
	assert_int_equal(dns_fwd_parse(f.q, f.qlen, &f.s, &LIM, &m, &why),
			 AS_EPROTO);
	assert_int_equal(why, DNS_FWD_BAD_NOT_RESPONSE);
	/* Cut anywhere: malformed, never a crash. */
	for (size_t cut = 0; cut < n; cut++) {
		int rc = dns_fwd_parse(r, cut, &f.s, &LIM, &m, &why);
		assert_int_not_equal(rc, AS_OK);
		assert_null(m);
	}
	/* A trailing byte is not an answer either. */
	r[n] = 0;
	assert_int_equal(dns_fwd_parse(r, n + 1, &f.s, &LIM, &m, &why),
			 AS_EMALFORMED);
	assert_int_equal(why, DNS_FWD_BAD_MALFORMED);
}

static void test_parse_rejects_forward_pointer(void **state)
{
	(void)state;
	struct fixture f;
	uint8_t r[1500];
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;
	const char *an[] = { "www.example.org. 300 IN A 192.0.2.1", NULL };

	fixture_for(&f, "www.example.org.", LDNS_RR_TYPE_A, NULL);
	size_t n = make_answer(&f.s, 0, an, NULL, false, r, sizeof(r));
	size_t owner = DNS_HDR_LEN + f.s.qname_len + 4;
	/* ldns compresses the owner to a pointer at the question. */
	assert_int_equal(r[owner], 0xC0);
	assert_int_equal(r[owner + 1], 12);
	r[owner + 1] = (uint8_t)owner;		/* to itself: a loop */
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why),
			 AS_EMALFORMED);
	r[owner + 1] = (uint8_t)(owner + 4);	/* forwards */
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why),
			 AS_EMALFORMED);
	r[owner + 1] = 3;			/* into the header */
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why),
			 AS_EMALFORMED);
	r[owner + 1] = 12;
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	dns_fwd_msg_free(m);
}

static void test_parse_ttls(void **state)
{
	(void)state;
	struct fixture f;
	uint8_t r[1500];
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;
	const char *an[] = { "www.example.org. 300 IN CNAME w.example.org.",
			     "w.example.org. 60 IN A 192.0.2.1", NULL };
	const char *soa[] = { "example.org. 3600 IN SOA ns.example.org. "
			      "h.example.org. 1 7200 900 1209600 120", NULL };
	const char *soa_low[] = { "example.org. 30 IN SOA ns.example.org. "
				  "h.example.org. 1 7200 900 1209600 120",
				  NULL };
	struct dns_fwd_ttl_limits lim = { .max = 86400, .neg_max = 100 };

	fixture_for(&f, "www.example.org.", LDNS_RR_TYPE_A, NULL);
	/* Positive: the lowest TTL of the answer. */
	size_t n = make_answer(&f.s, 0, an, NULL, true, r, sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_int_equal(m->ttl, 60);
	assert_false(m->negative);
	dns_fwd_msg_free(m);
	/* NXDOMAIN: min(SOA TTL, MINIMUM) (RFC 2308 5) ... */
	n = make_answer(&f.s, LDNS_RCODE_NXDOMAIN, NULL, soa, true, r,
			sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_true(m->negative);
	assert_int_equal(m->ttl, 120);
	dns_fwd_msg_free(m);
	n = make_answer(&f.s, LDNS_RCODE_NXDOMAIN, NULL, soa_low, true, r,
			sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_int_equal(m->ttl, 30);
	dns_fwd_msg_free(m);
	/* ... capped by neg_max; NODATA the same. */
	n = make_answer(&f.s, 0, NULL, soa, true, r, sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &lim, &m, &why), AS_OK);
	assert_true(m->negative);
	assert_int_equal(m->ttl, 100);
	dns_fwd_msg_free(m);
	/* Negative without a SOA: not cached. */
	n = make_answer(&f.s, LDNS_RCODE_NXDOMAIN, NULL, NULL, true, r,
			sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_int_equal(m->ttl, 0);
	dns_fwd_msg_free(m);
	/* SERVFAIL, and anything truncated: not cached. */
	n = make_answer(&f.s, LDNS_RCODE_SERVFAIL, NULL, NULL, true, r,
			sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_int_equal(m->ttl, 0);
	dns_fwd_msg_free(m);
	n = make_answer(&f.s, 0, an, NULL, true, r, sizeof(r));
	r[2] |= 0x02;
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_true(m->tc);
	assert_int_equal(m->ttl, 0);
	dns_fwd_msg_free(m);
}

static void test_reply(void **state)
{
	(void)state;
	struct fixture f;
	struct dns_fwd_client c;
	uint8_t r[1500], out[1500];
	size_t n, len;
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;
	struct as_rng rng;
	const char *an[] = { "www.example.org. 300 IN CNAME w.example.org.",
			     "w.example.org. 60 IN A 192.0.2.1", NULL };

	as_rng_seed(&rng, 9);
	fixture_for(&f, "www.example.org.", LDNS_RR_TYPE_A, &rng);
	n = make_answer(&f.s, 0, an, NULL, true, r, sizeof(r));
	r[3] |= 0x20;	/* AD */
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);

	/* Another client asks the same in its own case, without EDNS, 10 s
	 * later: its ID and case, TTLs 10 s lower, RA, no OPT, no AD. */
	client_for("WWW.example.ORG.", LDNS_RR_TYPE_A, false, 0, false, &c);
	c.id = 0xBEEF;
	assert_int_equal(dns_fwd_reply(m, &c, 10, false, false, out,
				       sizeof(out), &len), AS_OK);
	ldns_pkt *p = read_back(out, len);
	assert_int_equal(ldns_pkt_id(p), 0xBEEF);
	assert_true(ldns_pkt_qr(p));
	assert_true(ldns_pkt_ra(p));
	assert_true(ldns_pkt_rd(p));
	assert_false(ldns_pkt_aa(p));
	assert_false(ldns_pkt_tc(p));
	assert_false(ldns_pkt_ad(p));
	assert_int_equal(ldns_pkt_edns(p), 0);
	assert_memory_equal(out + 12, "\3WWW\7example\3ORG", 16);
	ldns_rr_list *rrs = ldns_pkt_answer(p);
	assert_int_equal(ldns_rr_list_rr_count(rrs), 2);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(rrs, 0)), 290);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(rrs, 1)), 50);
	ldns_pkt_free(p);
	/* Past the TTL: 0, never wrapped; stale: 30 s (RFC 8767). */
	assert_int_equal(dns_fwd_reply(m, &c, 100, false, false, out,
				       sizeof(out), &len), AS_OK);
	p = read_back(out, len);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 1)),
			 0);
	ldns_pkt_free(p);
	assert_int_equal(dns_fwd_reply(m, &c, 1000, true, false, out,
				       sizeof(out), &len), AS_OK);
	p = read_back(out, len);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)),
			 30);
	ldns_pkt_free(p);
	/* With DO: AD passes, the OPT carries DO and our buffer. */
	client_for("www.example.org.", LDNS_RR_TYPE_A, true, 4096, true, &c);
	assert_int_equal(dns_fwd_reply(m, &c, 0, false, false, out,
				       sizeof(out), &len), AS_OK);
	p = read_back(out, len);
	assert_true(ldns_pkt_ad(p));
	assert_true(ldns_pkt_edns_do(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), DNS_UDP_PAYLOAD_MAX);
	ldns_pkt_free(p);
	dns_fwd_msg_free(m);
}

static void test_reply_truncates_to_client_size(void **state)
{
	(void)state;
	struct fixture f;
	struct dns_fwd_client c;
	uint8_t r[1500], out[1500];
	size_t n, len;
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;
	char rrs[40][80];
	const char *an[41];

	for (int i = 0; i < 40; i++) {
		snprintf(rrs[i], sizeof(rrs[i]),
			 "big.example.org. 300 IN AAAA 2001:db8::%x", i + 1);
		an[i] = rrs[i];
	}
	an[40] = NULL;
	fixture_for(&f, "big.example.org.", LDNS_RR_TYPE_AAAA, NULL);
	n = make_answer(&f.s, 0, an, NULL, true, r, sizeof(r));
	assert_true(n > 512);
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	assert_int_equal(m->ttl, 300);
	/* A client without EDNS gets TC and no records, so it asks again
	 * over TCP; over TCP it gets all 40. */
	client_for("big.example.org.", LDNS_RR_TYPE_AAAA, false, 0, false, &c);
	assert_int_equal(dns_fwd_reply(m, &c, 0, false, false, out,
				       sizeof(out), &len), AS_OK);
	assert_true(len <= 512);
	ldns_pkt *p = read_back(out, len);
	assert_true(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	assert_int_equal(dns_fwd_reply(m, &c, 0, false, true, out,
				       sizeof(out), &len), AS_OK);
	p = read_back(out, len);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 40);
	ldns_pkt_free(p);
	/* With a 1232-byte buffer it fits over UDP. */
	client_for("big.example.org.", LDNS_RR_TYPE_AAAA, true, 1232, false,
		   &c);
	assert_int_equal(dns_fwd_reply(m, &c, 0, false, false, out,
				       sizeof(out), &len), AS_OK);
	p = read_back(out, len);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 40);
	ldns_pkt_free(p);
	dns_fwd_msg_free(m);
}

static void test_error_reply(void **state)
{
	(void)state;
	struct dns_fwd_client c;
	uint8_t out[512];
	size_t len;

	client_for("x.example.org.", LDNS_RR_TYPE_A, true, 1232, false, &c);
	assert_int_equal(dns_fwd_error_reply(&c, DNS_RC_SERVFAIL, true, out,
					     sizeof(out), &len), AS_OK);
	ldns_pkt *p = read_back(out, len);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	assert_true(ldns_pkt_ra(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), DNS_UDP_PAYLOAD_MAX);
	ldns_pkt_free(p);
	assert_int_equal(dns_fwd_error_reply(&c, DNS_RC_REFUSED, false, out,
					     sizeof(out), &len), AS_OK);
	p = read_back(out, len);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_false(ldns_pkt_ra(p));
	ldns_pkt_free(p);
}

static void test_pick(void **state)
{
	(void)state;
	struct dns_fwd_upstream u[3];
	bool tried[3] = { false, false, false };
	struct as_rng rng;
	size_t counts[3] = { 0, 0, 0 };

	memset(u, 0, sizeof(u));
	as_rng_seed(&rng, 1);
	dns_fwd_rtt(&u[0], 30000);
	dns_fwd_rtt(&u[1], 2000);
	dns_fwd_rtt(&u[2], 9000);
	/* Without randomness: the fastest; then the next one untried. */
	assert_int_equal(dns_fwd_pick(u, 3, tried, NULL), 1);
	tried[1] = true;
	assert_int_equal(dns_fwd_pick(u, 3, tried, NULL), 2);
	tried[2] = true;
	assert_int_equal(dns_fwd_pick(u, 3, tried, NULL), 0);
	tried[0] = true;
	assert_int_equal(dns_fwd_pick(u, 3, tried, NULL), 3);
	/* With it: mostly the fastest, the others now and then. */
	memset(u, 0, sizeof(u));
	for (int i = 0; i < 1000; i++) {
		size_t k = dns_fwd_pick(u, 3, NULL, &rng);
		counts[k]++;
		dns_fwd_rtt(&u[k], k == 1 ? 2000 : 30000);
	}
	assert_true(counts[1] > 850);
	assert_true(counts[0] > 5 && counts[2] > 5);
	/* The fastest stops answering: after a few timeouts the next. */
	memset(u, 0, sizeof(u));
	dns_fwd_rtt(&u[0], 1000);
	dns_fwd_rtt(&u[1], 5000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dns_fwd_pick(u, 2, NULL, NULL), 0);
		dns_fwd_timeout(&u[0], 1000);
		if (u[0].srtt_us > u[1].srtt_us)
			break;
	}
	assert_int_equal(dns_fwd_pick(u, 2, NULL, NULL), 1);
	assert_int_equal(u[0].timeouts, u[0].queries);
	/* The decay brings a penalised one back after a while. */
	dns_fwd_timeout(&u[0], 1000000);
	int k = 0;
	while (dns_fwd_pick(u, 2, NULL, NULL) == 1 && k < 10000) {
		dns_fwd_rtt(&u[1], 5000);
		k++;
	}
	assert_true(k > 10 && k < 10000);
}

/* ---- cache ---------------------------------------------------------- */

static struct dns_fwd_msg *answer_msg(const char *name, uint32_t ttl,
				      struct dns_fwd_client *c, uint8_t *key,
				      size_t *klen)
{
	struct fixture f;
	uint8_t r[1500];
	char rr[200];
	const char *an[] = { rr, NULL };
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;

	snprintf(rr, sizeof(rr), "%s %u IN A 192.0.2.7", name, ttl);
	fixture_for(&f, name, LDNS_RR_TYPE_A, NULL);
	size_t n = make_answer(&f.s, 0, an, NULL, true, r, sizeof(r));
	assert_int_equal(dns_fwd_parse(r, n, &f.s, &LIM, &m, &why), AS_OK);
	*c = f.c;
	*klen = dns_fwd_key(c, key);
	return m;
}

static void test_cache_hit_expiry_stale(void **state)
{
	(void)state;
	dns_fcache_t *fc;
	struct dns_fwd_client c;
	uint8_t key[DNS_FWD_KEY_MAX];
	size_t klen;
	uint32_t age;
	bool stale;
	struct dns_fcache_stats st;

	assert_int_equal(dns_fcache_new(1 << 20, &fc), AS_OK);
	struct dns_fwd_msg *m = answer_msg("a.example.org.", 60, &c, key,
					   &klen);
	assert_null(dns_fcache_get(fc, key, klen, 1000, false, 0, &age,
				   &stale));
	dns_fcache_put(fc, key, klen, m, 1000);
	assert_ptr_equal(dns_fcache_get(fc, key, klen, 31000, false, 0, &age,
					&stale), m);
	assert_int_equal(age, 30);
	assert_false(stale);
	/* Expired: a miss, but kept for serve-stale within the window. */
	assert_null(dns_fcache_get(fc, key, klen, 62000, false, 3600, &age,
				   &stale));
	assert_ptr_equal(dns_fcache_get(fc, key, klen, 62000, true, 3600,
					&age, &stale), m);
	assert_true(stale);
	/* Beyond the window: gone. */
	assert_null(dns_fcache_get(fc, key, klen, 61000 + 3600 * 1000, true,
				   3600, &age, &stale));
	dns_fcache_stats(fc, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.stale_hits, 1);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	/* Not cacheable (TTL 0): not stored. */
	m = answer_msg("z.example.org.", 0, &c, key, &klen);
	dns_fcache_put(fc, key, klen, m, 1000);
	dns_fcache_stats(fc, &st);
	assert_int_equal(st.entries, 0);
	dns_fcache_free(fc);
}

static void test_cache_lru_bound(void **state)
{
	(void)state;
	dns_fcache_t *fc;
	struct dns_fwd_client c;
	uint8_t key[DNS_FWD_KEY_MAX], key0[DNS_FWD_KEY_MAX];
	size_t klen, klen0;
	uint32_t age;
	bool stale;
	struct dns_fcache_stats st;
	char name[64];

	assert_int_equal(dns_fcache_new(16 * 1024, &fc), AS_OK);
	struct dns_fwd_msg *m = answer_msg("n0.example.org.", 600, &c, key0,
					   &klen0);
	dns_fcache_put(fc, key0, klen0, m, 0);
	for (int i = 1; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d.example.org.", i);
		m = answer_msg(name, 600, &c, key, &klen);
		dns_fcache_put(fc, key, klen, m, (uint64_t)i);
		/* n0 stays hot, so it is never the one pushed out. */
		assert_non_null(dns_fcache_get(fc, key0, klen0, (uint64_t)i,
					       false, 0, &age, &stale));
		dns_fcache_stats(fc, &st);
		assert_true(st.bytes <= 16 * 1024);
	}
	dns_fcache_stats(fc, &st);
	assert_true(st.evictions > 0);
	assert_true(st.entries > 10);
	assert_int_equal(st.inserts, 1000);
	/* n1 was the coldest long ago: gone; the newest is there. */
	m = answer_msg("n1.example.org.", 600, &c, key, &klen);
	assert_null(dns_fcache_get(fc, key, klen, 2000, false, 0, &age,
				   &stale));
	dns_fwd_msg_free(m);
	m = answer_msg("n999.example.org.", 600, &c, key, &klen);
	assert_non_null(dns_fcache_get(fc, key, klen, 2000, false, 0, &age,
				       &stale));
	/* The same key again replaces, not duplicates. */
	size_t before = (dns_fcache_stats(fc, &st), st.entries);
	dns_fcache_put(fc, key, klen, m, 3000);
	dns_fcache_stats(fc, &st);
	assert_int_equal(st.entries, before);
	assert_int_equal(dns_fcache_get(fc, key, klen, 3000, false, 0, &age,
					&stale)->ttl, 600);
	assert_int_equal(age, 0);
	dns_fcache_free(fc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_parse),
		cmocka_unit_test(test_key_ignores_case),
		cmocka_unit_test(test_query_build_0x20),
		cmocka_unit_test(test_parse_checks_the_answer),
		cmocka_unit_test(test_parse_rejects_forward_pointer),
		cmocka_unit_test(test_parse_ttls),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_reply_truncates_to_client_size),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_cache_hit_expiry_stale),
		cmocka_unit_test(test_cache_lru_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
