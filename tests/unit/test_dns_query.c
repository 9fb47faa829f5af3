/*
 * tests/unit/test_dns_query.c - dns_answer() end to end on bytes.
 *
 * Queries are built with ldns (ldns_pkt_query_new + ldns_pkt2wire) or by
 * hand for malformed input; replies are parsed back with ldns_wire2pkt and
 * checked section by section, so the wire format is judged by an
 * independent implementation.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/dns.h"
#include "lib/as.h"

/* ---- fixture --------------------------------------------------------- */

static struct dns_endpoint_spec ep(int family, const char *addr,
				   uint32_t weight)
{
	struct dns_endpoint_spec e = {
		.family = family, .weight = weight, .node = "node-1",
		.load_factor = 1.0, .healthy = true,
	};
	assert_int_equal(inet_pton(family, addr, e.addr), 1);
	return e;
}

struct fixture {
	dns_view_t *view;
	struct as_rng rng;
	struct dns_endpoint_spec web[3], api[2], v4only[1], big[40], ns[2];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char buf[64];

	f->web[0] = ep(AF_INET6, "fd00::1", 1);
	f->web[1] = ep(AF_INET6, "fd00::2", 1);
	f->web[2] = ep(AF_INET, "192.0.2.1", 1);
	f->api[0] = ep(AF_INET6, "fd00::a1", 1);
	f->api[1] = ep(AF_INET6, "fd00::a2", 1);
	f->v4only[0] = ep(AF_INET, "192.0.2.80", 1);
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "fd00::b:%x", i);
		f->big[i] = ep(AF_INET6, buf, 1);
	}
	f->ns[0] = ep(AF_INET6, "fd00::53", 0);
	f->ns[1] = ep(AF_INET, "192.0.2.53", 0);
	f->ns[0].node = f->ns[1].node = NULL;
	const struct dns_service_spec svcs[] = {
		{ .name = "web", .port = 443, .proto = "tcp",
		  .endpoints = f->web, .n_endpoints = 3 },
		{ .name = "api", .port = 8053, .proto = "udp", .ttl = 10,
		  .max_answers = 1, .endpoints = f->api, .n_endpoints = 2 },
		{ .name = "v4only", .port = 80, .proto = "tcp",
		  .endpoints = f->v4only, .n_endpoints = 1 },
		{ .name = "big", .port = 80, .proto = "tcp", .max_answers = 40,
		  .endpoints = f->big, .n_endpoints = 40 },
		{ .name = "empty", .port = 80, .proto = "tcp" },
	};
	const struct dns_view_spec spec = {
		.zone = "svc.example", .node_name = "node-1", .ttl = 5,
		.max_answers = 2, .ns_addresses = f->ns, .n_ns_addresses = 2,
		.soa_serial = 42, .soa_refresh = 3600, .soa_retry = 600,
		.soa_expire = 86400, .soa_minimum = 30, .apex_ttl = 3600,
		.services = svcs, .n_services = AS_ARRAY_SIZE(svcs),
	};
	int err = -1;
	err = dns_view_new(&spec, &f->view);
	assert_int_equal(err, AS_OK);
	assert_non_null(f->view);
	as_rng_seed(&f->rng, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_view_unref(f->view);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

struct qopts {
	int edns;		/* 0 none, else the UDP size */
	uint8_t version;
	bool nsid, do_bit, cookie;
	bool tcp;
	uint16_t cls;		/* 0 = IN */
	uint16_t id;
};

static uint8_t *build(const char *name, ldns_rr_type type,
		      const struct qopts *o, size_t *len)
{
	ldns_rdf *qn = ldns_dname_new_frm_str(name);
	assert_non_null(qn);
	ldns_pkt *p = ldns_pkt_query_new(qn, type,
					 o && o->cls ? o->cls : LDNS_RR_CLASS_IN,
					 LDNS_RD);
	uint8_t *wire = NULL;

	assert_non_null(p);
	ldns_pkt_set_id(p, o && o->id ? o->id : 0x1234);
	if (o && o->edns) {
		ldns_pkt_set_edns_udp_size(p, (uint16_t)o->edns);
		ldns_pkt_set_edns_version(p, o->version);
		ldns_pkt_set_edns_do(p, o->do_bit);
		if (o->nsid || o->cookie) {
			ldns_edns_option_list *l = ldns_edns_option_list_new();
			if (o->cookie) {
				static const uint8_t c[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
				ldns_edns_option_list_push(l,
					ldns_edns_new_from_data(10, 8, c));
			}
			if (o->nsid)
				ldns_edns_option_list_push(l,
					ldns_edns_new_from_data(LDNS_EDNS_NSID, 0, NULL));
			ldns_pkt_set_edns_option_list(p, l);
		}
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return wire;
}

struct reply {
	uint8_t out[DNS_MSG_MAX];
	struct dns_result res;
	ldns_pkt *pkt;
};

static void run(struct fixture *f, const uint8_t *q, size_t qlen, bool tcp,
		struct reply *r)
{
	size_t cap = tcp ? DNS_MSG_MAX : DNS_UDP_PAYLOAD_MAX;

	r->pkt = NULL;
	/* Poison the buffer so stale bytes would show. */
	memset(r->out, 0xA5, sizeof(r->out));
	dns_answer(f->view, &f->rng, tcp ? DNS_TRANSPORT_TCP : DNS_TRANSPORT_UDP,
		   q, qlen, r->out, cap, &r->res);
	if (r->res.send) {
		assert_true(r->res.len <= cap);
		assert_int_equal(ldns_wire2pkt(&r->pkt, r->out, r->res.len),
				 LDNS_STATUS_OK);
	}
}

static ldns_pkt *ask(struct fixture *f, const char *name, ldns_rr_type type,
		     const struct qopts *o, struct reply *r)
{
	size_t len;
	uint8_t *q = build(name, type, o, &len);

	run(f, q, len, o && o->tcp, r);
	/* The question is echoed byte for byte (case included). */
	if (r->res.send && ldns_pkt_qdcount(r->pkt) == 1)
		assert_memory_equal(r->out + 12, q + 12, len - 12 -
				    (o && o->edns ? 11 + (o->nsid ? 4 : 0) +
				     (o->cookie ? 12 : 0) : 0));
	free(q);
	assert_true(r->res.send);
	return r->pkt;
}

static void done(struct reply *r)
{
	ldns_pkt_free(r->pkt);
	r->pkt = NULL;
}

static size_t count(ldns_pkt *p, ldns_pkt_section s, ldns_rr_type t)
{
	ldns_rr_list *l = ldns_pkt_rr_list_by_type(p, t, s);
	size_t n = l ? ldns_rr_list_rr_count(l) : 0;
	ldns_rr_list_deep_free(l);
	return n;
}

static char *rdf_str(const ldns_rdf *rdf)
{
	char *s = ldns_rdf2str(rdf);
	assert_non_null(s);
	return s;
}

static void assert_rdf_str(const ldns_rdf *rdf, const char *want)
{
	char *s = rdf_str(rdf);
	assert_string_equal(s, want);
	free(s);
}

static void assert_addr_in(const ldns_rdf *rdf, const char *const *set,
			  size_t n)
{
	char *s = rdf_str(rdf);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(s, set[i]) == 0;
	if (!found)
		fail_msg("unexpected address %s", s);
	free(s);
}

/* Negative answer: the SOA in authority with TTL min(SOA TTL, minimum). */
static void assert_negative(ldns_pkt *p, ldns_pkt_rcode rc)
{
	assert_int_equal(ldns_pkt_get_rcode(p), rc);
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
	assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_ttl(soa), 30);
	assert_rdf_str(ldns_rr_owner(soa), "svc.example.");
}

static size_t header_count(const uint8_t *out, int i)
{
	return (size_t)(out[4 + 2 * i] << 8 | out[5 + 2 * i]);
}

/* ---- positive answers ----------------------------------------------------- */

static void test_aaaa(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	static const char *const want[] = { "fd00::1", "fd00::2" };

	ldns_pkt *p = ask(f, "WeB.Svc.Example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_qr(p));
	assert_true(ldns_pkt_aa(p));
	assert_true(ldns_pkt_rd(p));
	assert_false(ldns_pkt_ra(p));
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_id(p), 0x1234);
	assert_int_equal(ldns_pkt_ancount(p), 2);
	assert_int_equal(ldns_pkt_nscount(p), 0);
	assert_int_equal(ldns_pkt_arcount(p), 0);
	assert_rdf_str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)),
		       "WeB.Svc.Example.");
	ldns_rr *a0 = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	ldns_rr *a1 = ldns_rr_list_rr(ldns_pkt_answer(p), 1);
	assert_int_equal(ldns_rr_get_type(a0), LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_rr_ttl(a0), 5);
	assert_addr_in(ldns_rr_rdf(a0, 0), want, 2);
	assert_addr_in(ldns_rr_rdf(a1, 0), want, 2);
	assert_int_not_equal(ldns_rdf_compare(ldns_rr_rdf(a0, 0),
					      ldns_rr_rdf(a1, 0)), 0);
	/* Owner names are pointers to the question. */
	size_t off = 12 + 17 + 4;
	assert_int_equal(r.out[off], 0xC0);
	assert_int_equal(r.out[off + 1], 0x0C);
	assert_int_equal(r.res.rcode, 0);
	assert_int_equal(r.res.qtype, 28);
	assert_int_equal(r.res.malformed, DNS_MAL_NONE);
	assert_false(r.res.truncated);
	done(&r);

	/* Service override: max_answers 1 and TTL 10. */
	p = ask(f, "api.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 10);
	done(&r);
}

static void test_a_and_nodata(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	ldns_pkt *p = ask(f, "web.svc.example.", LDNS_RR_TYPE_A, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
		       "192.0.2.1");
	done(&r);

	p = ask(f, "api.svc.example.", LDNS_RR_TYPE_A, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
	p = ask(f, "v4only.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
	p = ask(f, "empty.svc.example.", LDNS_RR_TYPE_A, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
	/* A type the name does not have. */
	p = ask(f, "web.svc.example.", LDNS_RR_TYPE_MX, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
	p = ask(f, "web.svc.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
}

static void test_apex(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	ldns_pkt *p = ask(f, "svc.example.", LDNS_RR_TYPE_SOA, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	assert_int_equal(ldns_rr_ttl(soa), 3600);
	assert_rdf_str(ldns_rr_rdf(soa, 0), "ns.svc.example.");
	assert_rdf_str(ldns_rr_rdf(soa, 1), "hostmaster.svc.example.");
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), 42);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 3)), 3600);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 4)), 600);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 5)), 86400);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 6)), 30);
	done(&r);

	p = ask(f, "svc.example.", LDNS_RR_TYPE_NS, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_rr *ns = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_type(ns), LDNS_RR_TYPE_NS);
	assert_int_equal(ldns_rr_ttl(ns), 3600);
	assert_rdf_str(ldns_rr_rdf(ns, 0), "ns.svc.example.");
	/* Glue for the in-zone nameserver. */
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 1);
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
	ldns_rr *glue = ldns_rr_list_rr(ldns_pkt_additional(p), 0);
	assert_rdf_str(ldns_rr_owner(glue), "ns.svc.example.");
	assert_rdf_str(ldns_rr_rdf(glue, 0), "fd00::53");
	done(&r);

	p = ask(f, "NS.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
		       "fd00::53");
	done(&r);
	p = ask(f, "ns.svc.example.", LDNS_RR_TYPE_A, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
		       "192.0.2.53");
	done(&r);
	p = ask(f, "ns.svc.example.", LDNS_RR_TYPE_TXT, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
	/* No address records at the apex itself. */
	p = ask(f, "svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
}

/* Returns the SvcParams of an HTTPS record as raw wire. */
static void https_params(ldns_rr *rr, const uint8_t **data, size_t *len)
{
	assert_int_equal(ldns_rr_rd_count(rr), 3);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)), 1);
	assert_rdf_str(ldns_rr_rdf(rr, 1), ".");
	*data = ldns_rdf_data(ldns_rr_rdf(rr, 2));
	*len = ldns_rdf_size(ldns_rr_rdf(rr, 2));
}

static void test_https(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	const uint8_t *sp;
	size_t splen;

	ldns_pkt *p = ask(f, "web.svc.example.", LDNS_RR_TYPE_HTTPS, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_HTTPS);
	assert_int_equal(ldns_rr_ttl(rr), 5);
	/* ldns renders the SvcParams it parsed. */
	char *text = ldns_rr2str(rr);
	assert_non_null(strstr(text, "port=443"));
	assert_non_null(strstr(text, "ipv4hint=192.0.2.1"));
	assert_non_null(strstr(text, "ipv6hint="));
	free(text);
	https_params(rr, &sp, &splen);
	/* port=443, ipv4hint (1 address), ipv6hint (2 addresses), in order. */
	static const uint8_t head[] = { 0, 3, 0, 2, 0x01, 0xbb, 0, 4, 0, 4,
					192, 0, 2, 1, 0, 6, 0, 32 };
	assert_int_equal(splen, sizeof(head) + 32);
	assert_memory_equal(sp, head, sizeof(head));
	uint8_t a1[16], a2[16];
	inet_pton(AF_INET6, "fd00::1", a1);
	inet_pton(AF_INET6, "fd00::2", a2);
	const uint8_t *h = sp + sizeof(head);
	assert_true((memcmp(h, a1, 16) == 0 && memcmp(h + 16, a2, 16) == 0) ||
		    (memcmp(h, a2, 16) == 0 && memcmp(h + 16, a1, 16) == 0));
	done(&r);

	/* v6 only: no ipv4hint. */
	p = ask(f, "api.svc.example.", LDNS_RR_TYPE_HTTPS, NULL, &r);
	rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	https_params(rr, &sp, &splen);
	static const uint8_t api[] = { 0, 3, 0, 2, 0x1f, 0x75, 0, 6, 0, 16 };
	assert_int_equal(splen, sizeof(api) + 16);
	assert_memory_equal(sp, api, sizeof(api));
	done(&r);
}

/* Two nodes publishing the same addresses, and a nameserver address
 * listed twice: no RRset, HTTPS hint list or glue holds one twice. */
static void test_duplicate_addresses(void **state)
{
	struct dns_endpoint_spec eps[5], ns[3];
	struct reply r;
	const uint8_t *sp;
	size_t splen;
	int err = -1;

	(void)state;
	eps[0] = ep(AF_INET6, "fd00::1", 1);
	eps[1] = ep(AF_INET6, "fd00::1", 2);
	eps[1].node = "node-2";
	eps[2] = ep(AF_INET6, "fd00::2", 1);
	eps[3] = ep(AF_INET, "192.0.2.1", 1);
	eps[4] = ep(AF_INET, "192.0.2.1", 1);
	ns[0] = ep(AF_INET6, "fd00::53", 0);
	ns[1] = ep(AF_INET6, "fd00::53", 0);
	ns[2] = ep(AF_INET, "192.0.2.53", 0);
	ns[0].node = ns[1].node = ns[2].node = NULL;
	const struct dns_service_spec svc = {
		.name = "dup", .port = 443, .proto = "tcp", .max_answers = 8,
		.endpoints = eps, .n_endpoints = 5,
	};
	const struct dns_view_spec spec = {
		.zone = "svc.example", .node_name = "node-1", .ttl = 5,
		.ns_addresses = ns, .n_ns_addresses = 3, .soa_serial = 1,
		.soa_minimum = 30, .apex_ttl = 3600, .services = &svc,
		.n_services = 1,
	};
	struct fixture f = { 0 };
	err = dns_view_new(&spec, &f.view);
	assert_int_equal(err, AS_OK);
	assert_non_null(f.view);
	as_rng_seed(&f.rng, 3);

	for (int i = 0; i < 50; i++) {
		ldns_pkt *p = ask(&f, "dup.svc.example.", LDNS_RR_TYPE_AAAA,
				  NULL, &r);
		assert_int_equal(ldns_pkt_ancount(p), 2);
		assert_int_not_equal(ldns_rdf_compare(
			ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
			ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 1), 0)), 0);
		done(&r);
		p = ask(&f, "dup.svc.example.", LDNS_RR_TYPE_A, NULL, &r);
		assert_int_equal(ldns_pkt_ancount(p), 1);
		done(&r);
		p = ask(&f, "_dup._tcp.svc.example.", LDNS_RR_TYPE_SRV, NULL, &r);
		assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 2);
		assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
		done(&r);
		/* HTTPS: port, ipv4hint with one address, ipv6hint with two
		 * different ones. */
		p = ask(&f, "dup.svc.example.", LDNS_RR_TYPE_HTTPS, NULL, &r);
		https_params(ldns_rr_list_rr(ldns_pkt_answer(p), 0), &sp, &splen);
		static const uint8_t head[] = { 0, 3, 0, 2, 0x01, 0xbb, 0, 4, 0, 4,
						192, 0, 2, 1, 0, 6, 0, 32 };
		assert_int_equal(splen, sizeof(head) + 32);
		assert_memory_equal(sp, head, sizeof(head));
		assert_memory_not_equal(sp + sizeof(head), sp + sizeof(head) + 16, 16);
		done(&r);
	}
	/* Nameserver glue and answers: fd00::53 once. */
	ldns_pkt *p = ask(&f, "ns.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	done(&r);
	p = ask(&f, "svc.example.", LDNS_RR_TYPE_NS, NULL, &r);
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 1);
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
	done(&r);
	dns_view_unref(f.view);
}

static void test_srv(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	ldns_pkt *p = ask(f, "_web._TCP.svc.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_rr *srv = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_type(srv), LDNS_RR_TYPE_SRV);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(srv, 0)), 0);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(srv, 1)), 0);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(srv, 2)), 443);
	assert_rdf_str(ldns_rr_rdf(srv, 3), "web.svc.example.");
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 2);
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
	for (size_t i = 0; i < ldns_pkt_arcount(p); i++)
		assert_rdf_str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_additional(p), i)),
			       "web.svc.example.");
	done(&r);

	p = ask(f, "_api._udp.svc.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	srv = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(srv, 2)), 8053);
	assert_rdf_str(ldns_rr_rdf(srv, 3), "api.svc.example.");
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 1);
	done(&r);

	/* Wrong protocol: the name does not exist. */
	p = ask(f, "_web._udp.svc.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	assert_negative(p, LDNS_RCODE_NXDOMAIN);
	done(&r);
	p = ask(f, "_web._tcp.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
}

static void test_ent_and_nxdomain(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	static const char *const ents[] = { "_tcp.svc.example.", "_UDP.svc.example." };
	static const char *const nx[] = {
		"nope.svc.example.", "x.web.svc.example.", "a.b.svc.example.",
		"x._web._tcp.svc.example.", "_foo._tcp.svc.example.",
		"x.ns.svc.example.",
	};

	for (size_t i = 0; i < AS_ARRAY_SIZE(ents); i++) {
		ldns_pkt *p = ask(f, ents[i], LDNS_RR_TYPE_A, NULL, &r);
		assert_negative(p, LDNS_RCODE_NOERROR);
		assert_int_equal(r.res.rcode, 0);
		done(&r);
	}
	for (size_t i = 0; i < AS_ARRAY_SIZE(nx); i++) {
		ldns_pkt *p = ask(f, nx[i], LDNS_RR_TYPE_AAAA, NULL, &r);
		assert_negative(p, LDNS_RCODE_NXDOMAIN);
		assert_int_equal(r.res.rcode, 3);
		done(&r);
	}
}

/* ---- the wildcard service (RFC 4592) ----------------------------------- */

/* Zone apps.example with a wildcard service "*" (tcp 8443: fd00::w1,
 * fd00::w2, 192.0.2.9), an explicit "web" (tcp 443: fd00::1) and an
 * explicit "dns" (udp 53: fd00::d). */
static int setup_wild(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->big[0] = ep(AF_INET6, "fd00::71", 1);
	f->big[1] = ep(AF_INET6, "fd00::72", 1);
	f->big[2] = ep(AF_INET, "192.0.2.9", 1);
	f->web[0] = ep(AF_INET6, "fd00::1", 1);
	f->api[0] = ep(AF_INET6, "fd00::d", 1);
	const struct dns_service_spec svcs[] = {
		{ .name = "web", .port = 443, .proto = "tcp",
		  .endpoints = f->web, .n_endpoints = 1 },
		{ .name = "*", .port = 8443, .proto = "tcp",
		  .endpoints = f->big, .n_endpoints = 3 },
		{ .name = "dns", .port = 53, .proto = "udp",
		  .endpoints = f->api, .n_endpoints = 1 },
	};
	const struct dns_view_spec spec = {
		.zone = "apps.example", .node_name = "node-1", .ttl = 5,
		.max_answers = 2, .soa_serial = 42, .soa_minimum = 30,
		.apex_ttl = 3600, .services = svcs,
		.n_services = AS_ARRAY_SIZE(svcs),
	};
	assert_int_equal(dns_view_new(&spec, &f->view), AS_OK);
	as_rng_seed(&f->rng, 3);
	*state = f;
	return 0;
}

static void assert_wild_negative(ldns_pkt *p, ldns_pkt_rcode rc)
{
	assert_int_equal(ldns_pkt_get_rcode(p), rc);
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
	assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	assert_rdf_str(ldns_rr_owner(soa), "apps.example.");
}

/* Every answer record is owned by owner, of type t; returns how many. */
static size_t answers_owned(ldns_pkt *p, const char *owner, ldns_rr_type t)
{
	ldns_rr_list *an = ldns_pkt_answer(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		assert_int_equal(ldns_rr_get_type(rr), t);
		assert_rdf_str(ldns_rr_owner(rr), owner);
	}
	return ldns_rr_list_rr_count(an);
}

static void test_wildcard_addresses(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	static const char *const w6[] = { "fd00::71", "fd00::72" };
	/* One label and several labels below the zone, any case: the
	 * owner is the query name (the question's case is echoed; ldns
	 * prints the answer owner from the compression pointer to it). */
	static const char *const names[] = {
		"foo.apps.example.", "FoO.Apps.example.", "a.b.c.apps.example.",
		"_x._sctp.apps.example.", "*.apps.example.",
	};

	for (size_t i = 0; i < AS_ARRAY_SIZE(names); i++) {
		ldns_pkt *p = ask(f, names[i], LDNS_RR_TYPE_AAAA, NULL, &r);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		assert_true(ldns_pkt_aa(p));
		assert_int_equal(answers_owned(p, names[i], LDNS_RR_TYPE_AAAA), 2);
		for (size_t k = 0; k < 2; k++)
			assert_addr_in(ldns_rr_rdf(ldns_rr_list_rr(
				ldns_pkt_answer(p), k), 0), w6, 2);
		assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 5);
		done(&r);
	}
	ldns_pkt *p = ask(f, "x.y.apps.example.", LDNS_RR_TYPE_A, NULL, &r);
	assert_int_equal(answers_owned(p, "x.y.apps.example.", LDNS_RR_TYPE_A), 1);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
		       "192.0.2.9");
	done(&r);
	p = ask(f, "foo.apps.example.", LDNS_RR_TYPE_ANY, NULL, &r);
	assert_int_equal(answers_owned(p, "foo.apps.example.", LDNS_RR_TYPE_AAAA), 2);
	done(&r);
	/* Another type at a wildcard-matched name: NODATA, not NXDOMAIN. */
	p = ask(f, "foo.apps.example.", LDNS_RR_TYPE_TXT, NULL, &r);
	assert_wild_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
	p = ask(f, "foo.apps.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	assert_wild_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
}

static void test_wildcard_https_srv(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	const uint8_t *d;
	size_t len;

	ldns_pkt *p = ask(f, "shop.apps.example.", LDNS_RR_TYPE_HTTPS, NULL, &r);
	assert_int_equal(answers_owned(p, "shop.apps.example.", LDNS_RR_TYPE_HTTPS), 1);
	https_params(ldns_rr_list_rr(ldns_pkt_answer(p), 0), &d, &len);
	assert_true(len >= 6);
	assert_int_equal(d[0] << 8 | d[1], 3);		/* port */
	assert_int_equal(d[4] << 8 | d[5], 8443);
	done(&r);

	/* _<any>._tcp answers from *._tcp: the wildcard's own target. */
	static const char *const srvs[] = { "_shop._tcp.apps.example.",
					    "x._TCP.apps.example." };
	for (size_t i = 0; i < AS_ARRAY_SIZE(srvs); i++) {
		p = ask(f, srvs[i], LDNS_RR_TYPE_SRV, NULL, &r);
		assert_int_equal(answers_owned(p, srvs[i], LDNS_RR_TYPE_SRV), 1);
		ldns_rr *srv = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(srv, 2)), 8443);
		assert_rdf_str(ldns_rr_rdf(srv, 3), "*.apps.example.");
		assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 2);
		assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
		done(&r);
	}
	/* The explicit SRV owner wins. */
	p = ask(f, "_web._tcp.apps.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 3),
		       "web.apps.example.");
	done(&r);
	/* _udp.<zone> exists (dns is udp) and has no wildcard below it. */
	p = ask(f, "_shop._udp.apps.example.", LDNS_RR_TYPE_SRV, NULL, &r);
	assert_wild_negative(p, LDNS_RCODE_NXDOMAIN);
	done(&r);
}

/* What the wildcard does not answer. */
static void test_wildcard_precedence(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	/* An explicit name wins. */
	ldns_pkt *p = ask(f, "WEB.apps.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(answers_owned(p, "WEB.apps.example.", LDNS_RR_TYPE_AAAA), 1);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
		       "fd00::1");
	done(&r);
	/* Nor the apex, nor an empty non-terminal, nor the nameserver. */
	static const char *const nodata[] = { "apps.example.",
					      "_tcp.apps.example.",
					      "ns.apps.example." };
	for (size_t i = 0; i < AS_ARRAY_SIZE(nodata); i++) {
		p = ask(f, nodata[i], LDNS_RR_TYPE_AAAA, NULL, &r);
		assert_wild_negative(p, LDNS_RCODE_NOERROR);
		done(&r);
	}
	/* Below an existing name the closest encloser is that name, which
	 * has no wildcard: NXDOMAIN (RFC 4592 2.2.1). */
	static const char *const nx[] = { "x.web.apps.example.",
					  "a.b.web.apps.example.",
					  "x._web._tcp.apps.example.",
					  "x.ns.apps.example.",
					  "x.*.apps.example." };
	for (size_t i = 0; i < AS_ARRAY_SIZE(nx); i++) {
		p = ask(f, nx[i], LDNS_RR_TYPE_AAAA, NULL, &r);
		assert_wild_negative(p, LDNS_RCODE_NXDOMAIN);
		done(&r);
	}
	/* Outside the zone it is REFUSED as ever. */
	p = ask(f, "foo.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	done(&r);
}

/* A wildcard at the longest possible query name: the closest-encloser
 * walk stays inside its buffers (ASan watches). */
static void test_wildcard_long_names(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char name[300];
	size_t n = 0;

	/* 61 labels "a." + "bb." ... up to 253 characters with the zone. */
	while (n + 2 + strlen("apps.example.") <= 253) {
		memcpy(name + n, "a.", 2);
		n += 2;
	}
	snprintf(name + n, sizeof(name) - n, "apps.example.");
	ldns_pkt *p = ask(f, name, LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 2);
	done(&r);
	/* Two wildcard services cannot share the name. */
	struct dns_endpoint_spec e = ep(AF_INET6, "fd00::1", 1);
	const struct dns_service_spec two[] = {
		{ .name = "*", .port = 1, .endpoints = &e, .n_endpoints = 1 },
		{ .name = "*", .port = 2, .endpoints = &e, .n_endpoints = 1 },
	};
	const struct dns_view_spec spec = {
		.zone = "apps.example", .services = two, .n_services = 2,
	};
	dns_view_t *v = NULL;
	assert_int_equal(dns_view_new(&spec, &v), AS_EINVAL);
	assert_null(v);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	static const char *const out[] = {
		"example.com.", "example.", ".", "xsvc.example.", "svc.example.com.",
		"a\\003svc.example.", /* suffix bytes match, not at a label */
	};

	for (size_t i = 0; i < AS_ARRAY_SIZE(out); i++) {
		ldns_pkt *p = ask(f, out[i], LDNS_RR_TYPE_A, NULL, &r);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
		assert_false(ldns_pkt_aa(p));
		assert_int_equal(ldns_pkt_ancount(p), 0);
		assert_int_equal(ldns_pkt_nscount(p), 0);
		assert_int_equal(ldns_pkt_qdcount(p), 1);
		done(&r);
	}
	ldns_pkt *p = ask(f, "svc.example.", LDNS_RR_TYPE_AXFR, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	done(&r);
	p = ask(f, "svc.example.", LDNS_RR_TYPE_IXFR, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	done(&r);
	/* Classes other than IN and CH. */
	struct qopts o = { .cls = LDNS_RR_CLASS_HS };
	p = ask(f, "web.svc.example.", LDNS_RR_TYPE_A, &o, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	done(&r);
	o.cls = LDNS_RR_CLASS_ANY;
	p = ask(f, "web.svc.example.", LDNS_RR_TYPE_A, &o, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_int_equal(r.res.rcode, 5);
	done(&r);
}

static void test_notimp(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	size_t len;
	uint8_t *q = build("web.svc.example.", LDNS_RR_TYPE_A, NULL, &len);

	for (uint8_t op = 1; op < 16; op++) {
		q[2] = (uint8_t)(op << 3 | 1);
		run(f, q, len, false, &r);
		assert_true(r.res.send);
		assert_int_equal(ldns_pkt_get_rcode(r.pkt), LDNS_RCODE_NOTIMPL);
		assert_int_equal((r.out[2] >> 3) & 15, op);
		assert_true(ldns_pkt_qr(r.pkt));
		assert_int_equal(ldns_pkt_id(r.pkt), 0x1234);
		assert_int_equal(r.res.rcode, 4);
		done(&r);
	}
	free(q);
}

static void test_chaos(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	struct qopts o = { .cls = LDNS_RR_CLASS_CH };
	static const char *const ids[] = { "id.server.", "HOSTNAME.BIND." };

	for (size_t i = 0; i < AS_ARRAY_SIZE(ids); i++) {
		ldns_pkt *p = ask(f, ids[i], LDNS_RR_TYPE_TXT, &o, &r);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		assert_int_equal(ldns_pkt_ancount(p), 1);
		ldns_rr *txt = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
		assert_int_equal(ldns_rr_get_type(txt), LDNS_RR_TYPE_TXT);
		assert_int_equal(ldns_rr_get_class(txt), LDNS_RR_CLASS_CH);
		assert_rdf_str(ldns_rr_rdf(txt, 0), "\"node-1\"");
		done(&r);
	}
	ldns_pkt *p = ask(f, "version.bind.", LDNS_RR_TYPE_TXT, &o, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	done(&r);
	p = ask(f, "id.server.", LDNS_RR_TYPE_A, &o, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	done(&r);
	/* id.server in class IN is an ordinary out-of-zone name. */
	p = ask(f, "id.server.", LDNS_RR_TYPE_TXT, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	done(&r);
}

static void test_any(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	ldns_pkt *p = ask(f, "web.svc.example.", LDNS_RR_TYPE_ANY, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 2);
	assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_AAAA), 2);
	assert_int_equal(r.res.qtype, 255);
	done(&r);
	p = ask(f, "v4only.svc.example.", LDNS_RR_TYPE_ANY, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_A), 1);
	done(&r);
	p = ask(f, "svc.example.", LDNS_RR_TYPE_ANY, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SOA), 1);
	done(&r);
	p = ask(f, "_web._tcp.svc.example.", LDNS_RR_TYPE_ANY, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(count(p, LDNS_SECTION_ANSWER, LDNS_RR_TYPE_SRV), 1);
	done(&r);
	p = ask(f, "_tcp.svc.example.", LDNS_RR_TYPE_ANY, NULL, &r);
	assert_negative(p, LDNS_RCODE_NOERROR);
	done(&r);
}

/* ---- EDNS ------------------------------------------------------------------- */

static const ldns_edns_option *find_option(ldns_pkt *p, uint16_t code)
{
	ldns_edns_option_list *l = ldns_pkt_edns_get_option_list(p);
	for (size_t i = 0; l && i < ldns_edns_option_list_get_count(l); i++) {
		ldns_edns_option *o = ldns_edns_option_list_get_option(l, i);
		if (ldns_edns_get_code(o) == code)
			return o;
	}
	return NULL;
}

static void test_edns(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	struct qopts o = { .edns = 4096, .do_bit = true, .cookie = true };

	/* Without OPT in the query, none in the reply. */
	ldns_pkt *p = ask(f, "web.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_false(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_arcount(p), 0);
	done(&r);

	p = ask(f, "web.svc.example.", LDNS_RR_TYPE_AAAA, &o, &r);
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(header_count(r.out, 3), 1); /* ldns hides the OPT */
	assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
	assert_int_equal(ldns_pkt_edns_version(p), 0);
	assert_false(ldns_pkt_edns_do(p));
	assert_null(find_option(p, LDNS_EDNS_NSID));	/* not asked */
	assert_null(find_option(p, 10));		/* cookie ignored */
	assert_int_equal(ldns_pkt_ancount(p), 2);
	done(&r);

	o.nsid = true;
	p = ask(f, "web.svc.example.", LDNS_RR_TYPE_AAAA, &o, &r);
	const ldns_edns_option *nsid = find_option(p, LDNS_EDNS_NSID);
	assert_non_null(nsid);
	assert_int_equal(ldns_edns_get_size(nsid), 6);
	assert_memory_equal(ldns_edns_get_data(nsid), "node-1", 6);
	done(&r);

	/* NSID comes with errors too. */
	p = ask(f, "example.com.", LDNS_RR_TYPE_A, &o, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_non_null(find_option(p, LDNS_EDNS_NSID));
	done(&r);
}

static void test_badvers(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	struct qopts o = { .edns = 1232, .version = 1 };

	ldns_pkt *p = ask(f, "web.svc.example.", LDNS_RR_TYPE_AAAA, &o, &r);
	assert_int_equal(r.res.rcode, 16);
	assert_int_equal(ldns_pkt_get_rcode(p), 0);
	assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);
	assert_int_equal(ldns_pkt_edns_version(p), 0);
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(header_count(r.out, 3), 1); /* ldns hides the OPT */
	done(&r);
}

static void test_truncation(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	struct qopts o = { 0 };

	/* 40 AAAA = 1120 bytes: over 512 without EDNS. */
	ldns_pkt *p = ask(f, "big.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_true(ldns_pkt_tc(p));
	assert_true(r.res.truncated);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_nscount(p), 0);
	assert_int_equal(ldns_pkt_arcount(p), 0);
	assert_true(r.res.len <= 512);
	done(&r);

	/* Client sizes below 512 count as 512; 600 is still too small. */
	const int small[] = { 1, 100, 511, 512, 600, 1100 };
	for (size_t i = 0; i < AS_ARRAY_SIZE(small); i++) {
		o.edns = small[i];
		o.nsid = true;
		p = ask(f, "big.svc.example.", LDNS_RR_TYPE_AAAA, &o, &r);
		assert_true(ldns_pkt_tc(p));
		assert_int_equal(ldns_pkt_ancount(p), 0);
		assert_int_equal(header_count(r.out, 3), 1); /* ldns hides the OPT */
		assert_true(ldns_pkt_edns(p));
		assert_non_null(find_option(p, LDNS_EDNS_NSID));
		assert_true(r.res.len <= (size_t)AS_MAX(512, small[i]));
		done(&r);
	}

	/* Large enough client buffers: the whole answer. */
	const int large[] = { 1232, 4096, 65535 };
	for (size_t i = 0; i < AS_ARRAY_SIZE(large); i++) {
		o.edns = large[i];
		o.nsid = false;
		p = ask(f, "big.svc.example.", LDNS_RR_TYPE_AAAA, &o, &r);
		assert_false(ldns_pkt_tc(p));
		assert_int_equal(ldns_pkt_ancount(p), 40);
		assert_true(r.res.len <= 1232);
		done(&r);
	}

	/* The same question over TCP gets everything. */
	o.edns = 0;
	o.tcp = true;
	p = ask(f, "big.svc.example.", LDNS_RR_TYPE_AAAA, &o, &r);
	assert_false(ldns_pkt_tc(p));
	assert_false(r.res.truncated);
	assert_int_equal(ldns_pkt_ancount(p), 40);
	assert_true(r.res.len > 512);
	done(&r);

	/* SRV whose additional section does not fit: left out, no TC. */
	o.tcp = false;
	p = ask(f, "_big._tcp.svc.example.", LDNS_RR_TYPE_SRV, &o, &r);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(header_count(r.out, 3), 0);
	done(&r);
	o.tcp = true;
	p = ask(f, "_big._tcp.svc.example.", LDNS_RR_TYPE_SRV, &o, &r);
	assert_int_equal(ldns_pkt_arcount(p), 40);
	done(&r);
}

/* ---- malformed input ---------------------------------------------------------- */

static void expect_formerr(struct fixture *f, const uint8_t *q, size_t len,
			   enum dns_malformed why)
{
	struct reply r;

	run(f, q, len, false, &r);
	if (r.res.malformed != why)
		fail_msg("malformed %s, expected %s",
			 dns_malformed_name(r.res.malformed),
			 dns_malformed_name(why));
	assert_true(r.res.send);
	assert_int_equal(r.res.rcode, 1);
	assert_int_equal(ldns_pkt_get_rcode(r.pkt), LDNS_RCODE_FORMERR);
	assert_true(ldns_pkt_qr(r.pkt));
	assert_int_equal(ldns_pkt_id(r.pkt), (q[0] << 8) | q[1]);
	assert_int_equal(r.out[2] & 0x78, q[2] & 0x78); /* opcode echoed */
	done(&r);
}

static void expect_drop(struct fixture *f, const uint8_t *q, size_t len,
			enum dns_malformed why)
{
	struct reply r;

	run(f, q, len, false, &r);
	assert_false(r.res.send);
	assert_int_equal(r.res.malformed, why);
}

/* Header with id 0xbeef, RD, and the given counts. */
static size_t hdr(uint8_t *b, int qd, int an, int ns, int ar)
{
	const uint8_t h[12] = { 0xbe, 0xef, 0x01, 0x00, 0, (uint8_t)qd, 0,
				(uint8_t)an, 0, (uint8_t)ns, 0, (uint8_t)ar };
	memcpy(b, h, 12);
	return 12;
}

static size_t put(uint8_t *b, size_t off, const void *p, size_t n)
{
	memcpy(b + off, p, n);
	return off + n;
}

#define QNAME "\x03web\x03svc\x07" "example"	/* 1+3+1+3+1+7+1 = 17 bytes w/ root */
#define QTAIL "\x00\x00\x1c\x00\x01"		/* root, AAAA, IN */

static void test_malformed_header(void **state)
{
	struct fixture *f = *state;
	uint8_t b[600];
	size_t n;

	n = hdr(b, 1, 0, 0, 0);
	n = put(b, n, QNAME QTAIL, 16 + 5);
	for (size_t len = 0; len < 12; len++)
		expect_drop(f, b, len, DNS_MAL_SHORT_HEADER);
	b[2] |= 0x80; /* a response */
	expect_drop(f, b, n, DNS_MAL_RESPONSE);
	b[2] &= 0x7f;

	b[5] = 0;
	expect_formerr(f, b, n, DNS_MAL_QDCOUNT);
	b[5] = 2;
	expect_formerr(f, b, n, DNS_MAL_QDCOUNT);
	b[4] = 1;
	b[5] = 1;
	expect_formerr(f, b, n, DNS_MAL_QDCOUNT);
	b[4] = 0;
	b[7] = 1;
	expect_formerr(f, b, n, DNS_MAL_SECTIONS);
	b[7] = 0;
	b[9] = 1;
	expect_formerr(f, b, n, DNS_MAL_SECTIONS);
	b[9] = 0;

	/* Header only, or the question cut anywhere. */
	for (size_t len = 12; len < n; len++)
		expect_formerr(f, b, len, DNS_MAL_TRUNCATED);
	/* The intact query is fine. */
	struct reply r;
	run(f, b, n, false, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_NONE);
	assert_int_equal(r.res.rcode, 0);
	assert_int_equal(ldns_pkt_ancount(r.pkt), 2);
	done(&r);
}

static void test_malformed_names(void **state)
{
	struct fixture *f = *state;
	uint8_t b[600];
	size_t n;

	/* A label of 64 bytes (length byte 0x40). */
	n = hdr(b, 1, 0, 0, 0);
	b[n++] = 64;
	memset(b + n, 'a', 64);
	n += 64;
	n = put(b, n, QTAIL, 5);
	expect_formerr(f, b, n, DNS_MAL_NAME);
	/* Reserved label types 0x80. */
	b[12] = 0x81;
	expect_formerr(f, b, n, DNS_MAL_NAME);

	/* Five labels of 63: 321 bytes > 255. */
	n = hdr(b, 1, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		b[n++] = 63;
		memset(b + n, 'b', 63);
		n += 63;
	}
	n = put(b, n, QTAIL, 5);
	expect_formerr(f, b, n, DNS_MAL_NAME);
	/* Exactly 255 is fine: 3 x 63 + 1 x 61 + root. */
	n = hdr(b, 1, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		int l = i < 3 ? 63 : 61;
		b[n++] = (uint8_t)l;
		memset(b + n, 'c', (size_t)l);
		n += (size_t)l;
	}
	n = put(b, n, QTAIL, 5);
	assert_int_equal(n, 12 + 255 + 4);
	struct reply r;
	run(f, b, n, false, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_NONE);
	assert_int_equal(r.res.rcode, 5);
	done(&r);

	/* A compression pointer in the QNAME. */
	n = hdr(b, 1, 0, 0, 0);
	n = put(b, n, "\x03web\xc0\x0c\x00\x1c\x00\x01", 10);
	expect_formerr(f, b, n, DNS_MAL_NAME);
}

/* A query for web.svc.example. AAAA with `ar` additional records appended
 * from rec (n bytes). */
static size_t with_additional(uint8_t *b, int ar, const void *rec, size_t n)
{
	size_t off = hdr(b, 1, 0, 0, ar);
	off = put(b, off, QNAME QTAIL, 16 + 5);
	return put(b, off, rec, n);
}

static void test_malformed_additional(void **state)
{
	struct fixture *f = *state;
	uint8_t b[600];
	size_t n;
	struct reply r;

	/* An OPT record, then a second one. */
	static const uint8_t opt[] = { 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0 };
	uint8_t two[sizeof(opt) * 2];
	memcpy(two, opt, sizeof(opt));
	memcpy(two + sizeof(opt), opt, sizeof(opt));
	n = with_additional(b, 2, two, sizeof(two));
	expect_formerr(f, b, n, DNS_MAL_EDNS);
	n = with_additional(b, 1, opt, sizeof(opt));
	run(f, b, n, false, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_NONE);
	assert_true(ldns_pkt_edns(r.pkt));
	done(&r);

	/* OPT with a non-root owner (pointer to the question). */
	static const uint8_t opt_owner[] = { 0xc0, 0x0c, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0 };
	n = with_additional(b, 1, opt_owner, sizeof(opt_owner));
	expect_formerr(f, b, n, DNS_MAL_EDNS);
	/* OPT whose option runs past its RDATA. */
	static const uint8_t opt_bad[] = { 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 6,
					   0, 3, 0, 9, 1, 2 };
	n = with_additional(b, 1, opt_bad, sizeof(opt_bad));
	expect_formerr(f, b, n, DNS_MAL_EDNS);
	/* Trailing bytes inside the OPT RDATA that are no option. */
	static const uint8_t opt_tail[] = { 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 2, 0, 3 };
	n = with_additional(b, 1, opt_tail, sizeof(opt_tail));
	expect_formerr(f, b, n, DNS_MAL_EDNS);

	/* A record whose RDATA runs past the end. */
	static const uint8_t past[] = { 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 10, 1, 2 };
	n = with_additional(b, 1, past, sizeof(past));
	expect_formerr(f, b, n, DNS_MAL_TRUNCATED);
	/* ARCOUNT larger than what is there. */
	n = with_additional(b, 3, opt, sizeof(opt));
	expect_formerr(f, b, n, DNS_MAL_TRUNCATED);

	/* Pointer loops: to itself, and a label followed by a pointer back
	 * to that label; a pointer forward; a pointer into the header. */
	size_t at = 12 + 21;
	uint8_t self[] = { 0xc0, (uint8_t)at, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 };
	n = with_additional(b, 1, self, sizeof(self));
	expect_formerr(f, b, n, DNS_MAL_NAME);
	uint8_t loop[] = { 1, 'a', 0xc0, (uint8_t)at, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 };
	n = with_additional(b, 1, loop, sizeof(loop));
	expect_formerr(f, b, n, DNS_MAL_NAME);
	uint8_t fwd[] = { 0xc0, (uint8_t)(at + 20), 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 };
	n = with_additional(b, 1, fwd, sizeof(fwd));
	expect_formerr(f, b, n, DNS_MAL_NAME);
	uint8_t intohdr[] = { 0xc0, 2, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 };
	n = with_additional(b, 1, intohdr, sizeof(intohdr));
	expect_formerr(f, b, n, DNS_MAL_NAME);
	/* Two records: the second points into the first, which points back
	 * into the second (a two-step loop). */
	uint8_t two_step[] = { 1, 'x', 0xc0, (uint8_t)(at + 14), 0, 16, 0, 1, 0, 0, 0, 0, 0, 0,
			       1, 'y', 0xc0, (uint8_t)at, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0 };
	n = with_additional(b, 2, two_step, sizeof(two_step));
	expect_formerr(f, b, n, DNS_MAL_NAME);

	/* A well-framed non-OPT record with a valid pointer is skipped. */
	static const uint8_t txt[] = { 0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1, 'z' };
	n = with_additional(b, 1, txt, sizeof(txt));
	run(f, b, n, false, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_NONE);
	assert_int_equal(r.res.rcode, 0);
	assert_int_equal(ldns_pkt_ancount(r.pkt), 2);
	assert_int_equal(ldns_pkt_arcount(r.pkt), 0);
	done(&r);
}

/* ---- TSIG and trailing bytes ---------------------------------------------- */

static const uint8_t hmac_sha256[] = "\x0bhmac-sha256";	/* with root */

/* A TSIG record (the given owner and algorithm name, a 32-byte MAC) into
 * b; returns its length. */
static size_t tsig_rr_alg(uint8_t *b, const uint8_t *owner, size_t owner_len,
			  const uint8_t *alg, size_t alg_len)
{
	static const uint8_t time_signed[6] = { 0, 0, 0x65, 0x43, 0x21, 0x0f };
	uint8_t rd[512];
	size_t r = 0, n = 0;

	memcpy(rd, alg, alg_len);
	r = alg_len;
	memcpy(rd + r, time_signed, 6);
	r += 6;
	rd[r++] = 0x01, rd[r++] = 0x2c;		/* fudge 300 */
	rd[r++] = 0, rd[r++] = 32;		/* MAC size */
	memset(rd + r, 0x5a, 32);
	r += 32;
	rd[r++] = 0xbe, rd[r++] = 0xef;		/* original ID */
	rd[r++] = 0, rd[r++] = 0;		/* error */
	rd[r++] = 0, rd[r++] = 0;		/* other len */
	memcpy(b, owner, owner_len);
	n = owner_len;
	const uint8_t fixed[] = { 0, 250, 0, 255, 0, 0, 0, 0 };
	memcpy(b + n, fixed, sizeof(fixed));
	n += sizeof(fixed);
	b[n++] = (uint8_t)(r >> 8);
	b[n++] = (uint8_t)r;
	memcpy(b + n, rd, r);
	return n + r;
}

static size_t tsig_rr(uint8_t *b, const uint8_t *owner, size_t owner_len)
{
	return tsig_rr_alg(b, owner, owner_len, hmac_sha256,
			   sizeof(hmac_sha256));
}

/* TSIG's 48-bit Time Signed. */
static uint64_t tsig_time(const ldns_rr *t)
{
	const ldns_rdf *rd = ldns_rr_rdf(t, 1);
	const uint8_t *d = ldns_rdf_data(rd);
	uint64_t v = 0;

	assert_int_equal(ldns_rdf_size(rd), 6);
	for (int i = 0; i < 6; i++)
		v = v << 8 | d[i];
	return v;
}

/* Checks a NOTAUTH/BADKEY reply to the TSIG query q (RFC 8945 5.2.1):
 * the question, no answer, and last an unsigned TSIG echoing the key
 * name, algorithm and time signed. */
static void assert_badkey(const struct reply *r, const char *key_name,
			  const char *alg, uint64_t time_signed, uint16_t id)
{
	ldns_pkt *p = r->pkt;

	assert_true(r->res.send);
	assert_int_equal(r->res.malformed, DNS_MAL_NONE);
	assert_int_equal(r->res.rcode, 9);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTAUTH);
	assert_true(ldns_pkt_qr(p));
	assert_false(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_id(p), id);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_nscount(p), 0);
	ldns_rr *t = ldns_pkt_tsig(p);
	assert_non_null(t);
	assert_int_equal(ldns_rr_get_class(t), LDNS_RR_CLASS_ANY);
	assert_int_equal(ldns_rr_ttl(t), 0);
	assert_rdf_str(ldns_rr_owner(t), key_name);
	assert_rdf_str(ldns_rr_rdf(t, 0), alg);
	/* ldns: algorithm, time, fudge, MAC (length + data), original
	 * ID, error, other data (length + data). */
	assert_int_equal(ldns_rr_rd_count(t), 7);
	assert_true(tsig_time(t) == time_signed);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 2)), 300);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(t, 3)), 2);	/* MAC size 0 */
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 3)), 0);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 4)), id);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 5)), 17);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(t, 6)), 2);	/* no other data */
	/* The OPT (if any) and the TSIG are the additional section, the
	 * TSIG last on the wire: it ends with error 17, other len 0. */
	assert_int_equal(header_count(r->out, 3), (ldns_pkt_edns(p) ? 1 : 0) + 1);
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_additional(p)), 0);
	const uint8_t *end = r->out + r->res.len;
	assert_memory_equal(end - 4, "\x00\x11\x00\x00", 4);
}

/* A query signed by ldns with a key we do not have: NOTAUTH with an
 * unsigned BADKEY TSIG (it used to be answered NOERROR), over UDP and
 * TCP, with and without EDNS (OPT stays before the TSIG). */
static void test_tsig_badkey(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	for (int edns = 0; edns < 2; edns++) {
		ldns_rdf *qn = ldns_dname_new_frm_str("web.svc.example.");
		ldns_pkt *p = ldns_pkt_query_new(qn, LDNS_RR_TYPE_AAAA,
						 LDNS_RR_CLASS_IN, LDNS_RD);
		uint8_t *wire = NULL;
		size_t len = 0;
		assert_non_null(p);
		ldns_pkt_set_id(p, 0x4242);
		if (edns)
			ldns_pkt_set_edns_udp_size(p, 1232);
		assert_int_equal(ldns_pkt_tsig_sign(p, "transfer.key.", "c2VjcmV0c2VjcmV0c2VjcmV0",
						    300, "hmac-sha256.", NULL),
				 LDNS_STATUS_OK);
		uint64_t ts = tsig_time(ldns_pkt_tsig(p));
		assert_true(ts > 1600000000);
		assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
		ldns_pkt_free(p);
		for (int tcp = 0; tcp < 2; tcp++) {
			run(f, wire, len, tcp, &r);
			assert_badkey(&r, "transfer.key.", "hmac-sha256.", ts,
				      0x4242);
			assert_int_equal(ldns_pkt_edns(r.pkt), edns);
			done(&r);
		}
		free(wire);
	}
}

static void test_tsig_malformed(void **state)
{
	struct fixture *f = *state;
	uint8_t b[600], rec[300];
	static const uint8_t opt[] = { 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0 };
	size_t n, k;
	struct reply r;

	/* Owner compressed (pointer to the question): fine, and the reply
	 * carries it expanded. */
	k = tsig_rr(rec, (const uint8_t *)"\xc0\x0c", 2);
	n = with_additional(b, 1, rec, k);
	run(f, b, n, false, &r);
	assert_badkey(&r, "web.svc.example.", "hmac-sha256.", 0x6543210f,
		      0xbeef);
	done(&r);

	/* After an OPT: fine. Before it, or twice: FORMERR (RFC 8945 5.2). */
	memcpy(rec, opt, sizeof(opt));
	k = sizeof(opt) + tsig_rr(rec + sizeof(opt), (const uint8_t *)"\x03key", 5);
	n = with_additional(b, 2, rec, k);
	run(f, b, n, true, &r);
	assert_badkey(&r, "key.", "hmac-sha256.", 0x6543210f, 0xbeef);
	assert_true(ldns_pkt_edns(r.pkt));
	done(&r);
	k = tsig_rr(rec, (const uint8_t *)"\x03key", 5);
	memcpy(rec + k, opt, sizeof(opt));
	n = with_additional(b, 2, rec, k + sizeof(opt));
	expect_formerr(f, b, n, DNS_MAL_TSIG);
	k = tsig_rr(rec, (const uint8_t *)"\x03key", 5);
	k += tsig_rr(rec + k, (const uint8_t *)"\x03key", 5);
	n = with_additional(b, 2, rec, k);
	expect_formerr(f, b, n, DNS_MAL_TSIG);

	/* RDATA whose fields do not add up to RDLENGTH (one byte more or
	 * less, the record framing itself intact). */
	for (int d = -1; d <= 1; d += 2) {
		k = tsig_rr(rec, (const uint8_t *)"\x03key", 5);
		uint8_t fixed[300];
		memcpy(fixed, rec, k);
		size_t rdlen = (size_t)(fixed[13] << 8 | fixed[14]);
		rdlen = (size_t)((int)rdlen + d);
		fixed[13] = (uint8_t)(rdlen >> 8);
		fixed[14] = (uint8_t)rdlen;
		size_t fk = d < 0 ? k - 1 : k;
		if (d > 0)
			fixed[fk++] = 0;	/* one stray byte inside the RDATA */
		n = with_additional(b, 1, fixed, fk);
		expect_formerr(f, b, n, DNS_MAL_TSIG);
	}
	/* A compressed algorithm name; an RDATA cut inside the name. */
	k = tsig_rr(rec, (const uint8_t *)"\x03key", 5);
	rec[15] = 0xc0;
	rec[16] = 0x0c;
	n = with_additional(b, 1, rec, k);
	expect_formerr(f, b, n, DNS_MAL_TSIG);
	static const uint8_t cut[] = { 3, 'k', 'e', 'y', 0, 0, 250, 0, 255,
				       0, 0, 0, 0, 0, 3, 9, 'h', 'm' };
	n = with_additional(b, 1, cut, sizeof(cut));
	expect_formerr(f, b, n, DNS_MAL_TSIG);
}

/* Over UDP without EDNS a BADKEY reply that does not fit 512 bytes is
 * sent with TC=1 and without the TSIG, so the client retries over TCP. */
static void test_tsig_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t b[800], owner[256], rec[600];
	struct reply r;
	size_t o = 0;

	for (int i = 0; i < 4; i++) {
		size_t l = i < 3 ? 63 : 61;
		owner[o++] = (uint8_t)l;
		memset(owner + o, 'k', l);
		o += l;
	}
	owner[o++] = 0;
	/* 255-byte key and algorithm names: 580 bytes of reply. */
	size_t k = tsig_rr_alg(rec, owner, o, owner, o);
	size_t n = with_additional(b, 1, rec, k);
	run(f, b, n, false, &r);
	assert_true(r.res.send);
	assert_true(r.res.truncated);
	assert_int_equal(r.res.rcode, 9);
	assert_true(r.res.len <= 512);
	assert_null(ldns_pkt_tsig(r.pkt));
	done(&r);
	run(f, b, n, true, &r);
	assert_false(r.res.truncated);
	assert_non_null(ldns_pkt_tsig(r.pkt));
	done(&r);
}

/* Bytes after the last record are FORMERR (as Knot does), with or
 * without additional records, over both transports. */
static void test_trailing_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t b[600];
	static const uint8_t opt[] = { 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0 };
	size_t n;
	struct reply r;

	n = with_additional(b, 0, "\x00", 1);
	expect_formerr(f, b, n, DNS_MAL_TRAILING);
	n = with_additional(b, 0, "\x00\x01\x02\x03", 4);
	run(f, b, n, true, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_TRAILING);
	assert_int_equal(r.res.rcode, 1);
	done(&r);
	uint8_t rec[sizeof(opt) + 1];
	memcpy(rec, opt, sizeof(opt));
	rec[sizeof(opt)] = 0xff;
	n = with_additional(b, 1, rec, sizeof(rec));
	expect_formerr(f, b, n, DNS_MAL_TRAILING);
	/* Without the stray byte the same query is answered. */
	n = with_additional(b, 1, opt, sizeof(opt));
	run(f, b, n, false, &r);
	assert_int_equal(r.res.malformed, DNS_MAL_NONE);
	assert_int_equal(r.res.rcode, 0);
	done(&r);
}

/* Random bytes: never a crash, and every outcome is one of the defined
 * ones (checked by ldns when something is sent). */
static void test_random_bytes(void **state)
{
	struct fixture *f = *state;
	struct as_rng gen;
	uint8_t b[300];
	unsigned sent = 0, dropped = 0;

	as_rng_seed(&gen, 99);
	for (int i = 0; i < 20000; i++) {
		size_t len = as_rng_next(&gen) % sizeof(b);
		for (size_t k = 0; k < len; k++)
			b[k] = (uint8_t)as_rng_next(&gen);
		/* Half of them with a plausible header, to get deeper. */
		if (i % 2 && len >= 12) {
			b[2] &= 0x01;
			b[4] = 0;
			b[5] = 1;
			b[6] = b[7] = b[8] = b[9] = b[10] = 0;
			b[11] &= 1;
		}
		struct reply r;
		run(f, b, len, i % 3 == 0, &r);
		if (len < 12) {
			assert_int_equal(r.res.malformed, DNS_MAL_SHORT_HEADER);
		} else if (b[2] & 0x80) {
			assert_int_equal(r.res.malformed, DNS_MAL_RESPONSE);
		} else {
			assert_true(r.res.send);
			if (r.res.malformed != DNS_MAL_NONE)
				assert_int_equal(r.res.rcode, 1);
		}
		if (r.res.send) {
			sent++;
			assert_int_equal(ldns_pkt_id(r.pkt), b[0] << 8 | b[1]);
			assert_true(r.res.len <= (i % 3 == 0 ? 65535u : 1232u));
		} else {
			dropped++;
		}
		done(&r);
	}
	assert_true(sent > 0 && dropped > 0);
}

/* ---- view building and stats ------------------------------------------------- */

static void test_view_spec_errors(void **state)
{
	struct dns_endpoint_spec e = ep(AF_INET6, "fd00::1", 1);
	struct dns_service_spec s = { .name = "web", .proto = "tcp",
				      .endpoints = &e, .n_endpoints = 1 };
	struct dns_service_spec two[2] = { s, s };
	struct dns_view_spec spec = { .zone = "svc.example.", .services = &s,
				      .n_services = 1 };
	int err = 0;
	(void)state;

	dns_view_t *v = NULL;
	err = dns_view_new(&spec, &v);
	assert_non_null(v);
	assert_string_equal(dns_view_zone(v), "svc.example.");
	assert_int_equal(dns_view_service_count(v), 1);
	struct dns_service_info si;
	assert_int_equal(dns_view_service(v, 0, &si), AS_OK);
	assert_string_equal(si.name, "web");
	assert_string_equal(si.proto, "tcp");
	assert_int_equal(si.max_answers, 2);
	assert_int_equal(si.n_endpoints, 1);
	assert_int_equal(dns_view_service(v, 1, &si), AS_ENOENT);
	struct dns_endpoint_info ei;
	assert_int_equal(dns_view_endpoint(v, 0, 0, &ei), AS_OK);
	assert_string_equal(ei.node, "node-1");
	assert_memory_equal(ei.addr, e.addr, 16);
	/* References: the view survives until the last unref. */
	assert_ptr_equal(dns_view_ref(v), v);
	dns_view_unref(v);
	assert_string_equal(dns_view_zone(v), "svc.example.");
	dns_view_unref(v);
	dns_view_unref(NULL);

	const char *bad_names[] = { "", "a.b", "we b", "_web",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad_names); i++) {
		s.name = bad_names[i];
		err = 0;
		err = dns_view_new(&spec, &v);
		assert_null(v);
		assert_int_equal(err, AS_EINVAL);
	}
	s.name = "web";
	s.proto = "sctp";
	err = dns_view_new(&spec, &v);
	assert_null(v);
	assert_int_equal(err, AS_EINVAL);
	s.proto = "tcp";
	e.family = AF_UNIX;
	err = dns_view_new(&spec, &v);
	assert_null(v);
	assert_int_equal(err, AS_EINVAL);
	e.family = AF_INET6;
	spec.services = two;
	spec.n_services = 2;
	err = dns_view_new(&spec, &v);	/* duplicate name */
	assert_null(v);
	assert_int_equal(err, AS_EINVAL);
	spec.services = &s;
	spec.n_services = 1;
	spec.zone = "bad..zone";
	err = dns_view_new(&spec, &v);
	assert_null(v);
	assert_int_equal(err, AS_EINVAL);
	spec.zone = NULL;
	err = dns_view_new(&spec, &v);
	assert_null(v);
	assert_int_equal(err, AS_EINVAL);
	/* A service named like the in-zone nameserver. */
	spec.zone = "svc.example.";
	s.name = "ns";
	err = dns_view_new(&spec, &v);
	assert_null(v);
	assert_int_equal(err, AS_EINVAL);
	/* ... which is fine once the nameserver is elsewhere. */
	const char *const nss[] = { "ns1.other.example.", "ns2" };
	spec.nameservers = nss;
	spec.n_nameservers = 2;
	err = dns_view_new(&spec, &v);
	assert_non_null(v);
	dns_view_unref(v);
}

/* Several nameservers, an explicit rname, addresses per nameserver. */
static void test_nameservers(void **state)
{
	struct fixture fx = { 0 };
	struct dns_endpoint_spec nsa[3] = {
		ep(AF_INET6, "fd00::1:1", 0), ep(AF_INET6, "fd00::2:2", 0),
		ep(AF_INET, "192.0.2.22", 0),
	};
	nsa[0].node = "a.ns";
	nsa[1].node = "b.ns.svc.example.";
	nsa[2].node = "b.ns";
	const char *const nss[] = { "a.ns", "b.ns.svc.example.", "ns.other." };
	struct dns_view_spec spec = {
		.zone = "SVC.example.", .node_name = "n", .nameservers = nss,
		.n_nameservers = 3, .ns_addresses = nsa, .n_ns_addresses = 3,
		.soa_rname = "ops.example.org.", .soa_minimum = 100,
		.apex_ttl = 50,
	};
	struct reply r;
	int err;
	(void)state;

	err = dns_view_new(&spec, &fx.view);
	assert_int_equal(err, AS_OK);
	assert_non_null(fx.view);
	as_rng_seed(&fx.rng, 2);
	ldns_pkt *p = ask(&fx, "svc.example.", LDNS_RR_TYPE_SOA, NULL, &r);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_rdf_str(ldns_rr_rdf(soa, 0), "a.ns.svc.example.");
	assert_rdf_str(ldns_rr_rdf(soa, 1), "ops.example.org.");
	assert_int_equal(ldns_rr_ttl(soa), 50);
	done(&r);
	p = ask(&fx, "svc.example.", LDNS_RR_TYPE_NS, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 3);
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_AAAA), 2);
	assert_int_equal(count(p, LDNS_SECTION_ADDITIONAL, LDNS_RR_TYPE_A), 1);
	done(&r);
	p = ask(&fx, "b.ns.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_rdf_str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0),
		       "fd00::2:2");
	done(&r);
	/* ns.svc.example. is the empty non-terminal above a.ns and b.ns. */
	p = ask(&fx, "ns.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &r);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), 50);
	done(&r);
	dns_view_unref(fx.view);
}

/* Issue 18: the SOA's mname and rname are written in canonical (lower)
 * case and uncompressed, whatever the case of the query (0x20), the zone
 * or the configured names. */
static void test_soa_canonical_case(void **state)
{
	struct fixture fx = { 0 };
	const char *const nss[] = { "NS1.SvC.Example." };
	const struct dns_view_spec spec = {
		.zone = "SvC.ExAmple", .node_name = "n", .nameservers = nss,
		.n_nameservers = 1, .soa_rname = "HostMaster",
		.soa_minimum = 30, .apex_ttl = 60,
	};
	static const uint8_t mname[] = "\3ns1\3svc\7example";
	static const uint8_t rname[] = "\12hostmaster\3svc\7example";
	static const char *const q[] = { "sVc.eXaMpLe.", "SVC.EXAMPLE.",
					 "NoPe.sVc.ExAmPlE." };
	struct reply r;
	(void)state;

	assert_int_equal(dns_view_new(&spec, &fx.view), AS_OK);
	as_rng_seed(&fx.rng, 4);
	for (size_t i = 0; i < AS_ARRAY_SIZE(q); i++) {
		ldns_pkt *p = ask(&fx, q[i], LDNS_RR_TYPE_SOA, NULL, &r);
		ldns_rr_list *l = i < 2 ? ldns_pkt_answer(p) : ldns_pkt_authority(p);
		ldns_rr *soa = ldns_rr_list_rr(l, 0);
		assert_non_null(soa);
		assert_rdf_str(ldns_rr_rdf(soa, 0), "ns1.svc.example.");
		assert_rdf_str(ldns_rr_rdf(soa, 1), "hostmaster.svc.example.");
		/* In the bytes: both names whole, back to back (no pointer
		 * into the question, which holds the client's case). */
		uint8_t both[sizeof(mname) + sizeof(rname)];
		memcpy(both, mname, sizeof(mname));
		memcpy(both + sizeof(mname), rname, sizeof(rname));
		assert_non_null(memmem(r.out, r.res.len, both, sizeof(both)));
		done(&r);
	}
	dns_view_unref(fx.view);
}

static uint32_t soa_serial_of(dns_view_t *v)
{
	struct fixture fx = { .view = v };
	struct reply r;

	as_rng_seed(&fx.rng, 5);
	ldns_pkt *p = ask(&fx, "svc.example.", LDNS_RR_TYPE_SOA, NULL, &r);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	uint32_t serial = ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
	done(&r);
	return serial;
}

/* Issue 18: with no serial given the SOA serial is a fingerprint of the
 * published content: the same for the same catalog in any order, on
 * any node, at any load or health; different when the content changes. */
static void test_soa_serial_fingerprint(void **state)
{
	struct dns_endpoint_spec web[3] = {
		ep(AF_INET6, "fd00::1", 10), ep(AF_INET6, "fd00::2", 20),
		ep(AF_INET, "192.0.2.1", 5),
	};
	struct dns_endpoint_spec web_r[3] = { web[2], web[1], web[0] };
	struct dns_endpoint_spec api[1] = { ep(AF_INET6, "fd00::a", 1) };
	struct dns_service_spec svcs[2] = {
		{ .name = "web", .port = 443, .endpoints = web, .n_endpoints = 3 },
		{ .name = "api", .port = 80, .endpoints = api, .n_endpoints = 1 },
	};
	struct dns_service_spec svcs_r[2] = { svcs[1], svcs[0] };
	struct dns_view_spec spec = {
		.zone = "svc.example", .node_name = "node-a", .ttl = 5,
		.soa_refresh = 3600, .soa_minimum = 30, .apex_ttl = 60,
		.services = svcs, .n_services = 2,
	};
	dns_view_t *a = NULL, *b = NULL;
	(void)state;

	assert_int_equal(dns_view_new(&spec, &a), AS_OK);
	uint32_t serial = dns_view_serial(a);
	assert_int_equal(soa_serial_of(a), serial);
	dns_view_unref(a);

	/* Another node, other order, other loads and health: the same. */
	svcs_r[1].endpoints = web_r;
	web_r[0].load_factor = 0.1;
	web_r[1].healthy = false;
	spec.services = svcs_r;
	spec.node_name = "node-b";
	assert_int_equal(dns_view_new(&spec, &b), AS_OK);
	assert_int_equal(dns_view_serial(b), serial);
	assert_int_equal(soa_serial_of(b), serial);
	dns_view_unref(b);

	/* Every change of content gives another serial. */
	struct { const char *what; uint32_t *field; uint32_t to; } changes[] = {
		{ "weight", &web[1].weight, 21 },
		{ "port", NULL, 0 },
		{ "ttl", &svcs[0].ttl, 6 },
		{ "max_answers", &svcs[1].max_answers, 3 },
		{ "negative ttl", &spec.soa_minimum, 31 },
	};
	spec.services = svcs;
	for (size_t i = 0; i < AS_ARRAY_SIZE(changes); i++) {
		uint32_t old = 0;
		uint16_t old_port = svcs[0].port;
		if (changes[i].field) {
			old = *changes[i].field;
			*changes[i].field = changes[i].to;
		} else {
			svcs[0].port = 444;
		}
		assert_int_equal(dns_view_new(&spec, &b), AS_OK);
		if (dns_view_serial(b) == serial)
			fail_msg("serial unchanged after a change of %s",
				 changes[i].what);
		dns_view_unref(b);
		if (changes[i].field)
			*changes[i].field = old;
		svcs[0].port = old_port;
	}
	web[0].addr[15] = 9;
	assert_int_equal(dns_view_new(&spec, &b), AS_OK);
	assert_int_not_equal(dns_view_serial(b), serial);
	dns_view_unref(b);
	web[0].addr[15] = 1;
	spec.n_services = 1;
	assert_int_equal(dns_view_new(&spec, &b), AS_OK);
	assert_int_not_equal(dns_view_serial(b), serial);
	dns_view_unref(b);

	/* A serial the spec gives is used as it is. */
	spec.n_services = 2;
	spec.soa_serial = 42;
	assert_int_equal(dns_view_new(&spec, &b), AS_OK);
	assert_int_equal(dns_view_serial(b), 42);
	assert_int_equal(soa_serial_of(b), 42);
	dns_view_unref(b);
}

static void test_stats(void **state)
{
	struct dns_stats st;
	struct dns_result res = { .send = true, .qtype = 28, .rcode = 0 };
	(void)state;

	memset(&st, 0, sizeof(st));
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 999);
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1000);
	dns_stats_count(&st, DNS_TRANSPORT_TCP, &res, 1001);
	res.rcode = 16;
	res.qtype = 65;
	res.truncated = true;
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 20000000);
	res = (struct dns_result){ .send = false,
				   .malformed = DNS_MAL_SHORT_HEADER };
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 50000);
	res = (struct dns_result){ .send = true, .rcode = 1,
				   .malformed = DNS_MAL_NAME };
	dns_stats_count(&st, DNS_TRANSPORT_TCP, &res, 5000);

	assert_int_equal(st.queries, 6);
	assert_int_equal(st.udp_queries, 4);
	assert_int_equal(st.tcp_queries, 2);
	assert_int_equal(st.by_qtype[DNS_QT_AAAA], 3);
	assert_int_equal(st.by_qtype[DNS_QT_HTTPS], 1);
	assert_int_equal(st.by_qtype[DNS_QT_OTHER], 0);
	assert_int_equal(st.by_rcode[0], 3);
	assert_int_equal(st.by_rcode[1], 1);
	assert_int_equal(st.by_rcode[DNS_RCODE_BADVERS], 1);
	assert_int_equal(st.malformed[DNS_MAL_SHORT_HEADER], 1);
	assert_int_equal(st.malformed[DNS_MAL_NAME], 1);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.truncated, 1);
	assert_int_equal(st.latency[0], 2);	/* <= 1 us */
	assert_int_equal(st.latency[1], 1);	/* <= 2 us */
	assert_int_equal(st.latency[2], 1);	/* <= 5 us */
	assert_int_equal(st.latency[5], 1);	/* <= 50 us */
	assert_int_equal(st.latency[DNS_LAT_BUCKETS - 1], 1); /* +Inf */
	assert_int_equal(st.latency_sum_ns, 999 + 1000 + 1001 + 20000000 + 50000 + 5000);
	assert_int_equal(dns_latency_bounds_ns[0], 1000);
	assert_int_equal(dns_latency_bounds_ns[9], 1000000);
	assert_int_equal(dns_latency_bounds_ns[DNS_LAT_BUCKETS - 2], 10000000);

	/* Issue 16's counters: answers by objective (a service answer only),
	 * spill-overs and Client Subnet queries, for replies sent; a reply
	 * not sent counts none of them. */
	memset(&st, 0, sizeof(st));
	res = (struct dns_result){ .send = true, .qtype = 1,
				   .objective = DNS_OBJ_LOCALITY + 1,
				   .left_zone = true, .ecs = true };
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1);
	res.left_zone = false;
	dns_stats_count(&st, DNS_TRANSPORT_TCP, &res, 1);
	res = (struct dns_result){ .send = true, .qtype = 1,
				   .objective = DNS_OBJ_RESILIENCE + 1 };
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1);
	res = (struct dns_result){ .send = true, .qtype = 6, .ecs = true };
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1);	/* SOA: no service */
	res = (struct dns_result){ .send = false, .rate_limited = true,
				   .objective = DNS_OBJ_LOCALITY + 1,
				   .left_zone = true, .ecs = true };
	dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1);
	assert_int_equal(st.by_objective[DNS_OBJ_LOCALITY], 2);
	assert_int_equal(st.by_objective[DNS_OBJ_RESILIENCE], 1);
	assert_int_equal(st.by_objective[DNS_OBJ_BALANCE], 0);
	assert_int_equal(st.by_objective[DNS_OBJ_LATENCY], 0);
	assert_int_equal(st.spill_overs, 1);
	assert_int_equal(st.ecs_queries, 3);

	assert_string_equal(dns_malformed_name(DNS_MAL_NAME), "name");
	assert_string_equal(dns_malformed_name(DNS_MAL__COUNT), "unknown");
	for (int m = 0; m < DNS_MAL__COUNT; m++)
		assert_string_not_equal(dns_malformed_name(m), "unknown");
	assert_int_equal(dns_qtype_bucket(1), DNS_QT_A);
	assert_int_equal(dns_qtype_bucket(65), DNS_QT_HTTPS);
	assert_int_equal(dns_qtype_bucket(33), DNS_QT_SRV);
	assert_int_equal(dns_qtype_bucket(255), DNS_QT_ANY);
	assert_int_equal(dns_qtype_bucket(15), DNS_QT_OTHER);
	assert_string_equal(dns_qtype_bucket_name(DNS_QT_AAAA), "AAAA");
	for (int b = 0; b < DNS_QT__COUNT; b++)
		assert_string_not_equal(dns_qtype_bucket_name(b), "unknown");
}

/* No view yet, or a caller buffer below the protocol minimum. */
static void test_no_view_small_buffer(void **state)
{
	struct fixture *f = *state;
	struct dns_result res;
	uint8_t out[600];
	size_t len;
	uint8_t *q = build("web.svc.example.", LDNS_RR_TYPE_AAAA, NULL, &len);

	dns_answer(NULL, &f->rng, DNS_TRANSPORT_UDP, q, len, out, sizeof(out), &res);
	assert_true(res.send);
	assert_int_equal(res.rcode, 2);
	assert_int_equal(res.len, 12);
	assert_int_equal(out[3] & 15, 2);
	dns_answer(f->view, &f->rng, DNS_TRANSPORT_UDP, q, len, out, 11, &res);
	assert_false(res.send);
	/* Room for the question but not for one AAAA: TC. */
	dns_answer(f->view, &f->rng, DNS_TRANSPORT_TCP, q, len, out, len + 20, &res);
	assert_true(res.send);
	assert_true(res.truncated);
	assert_int_equal(res.len, len);
	assert_true(out[2] & 0x02);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_and_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_https, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srv, setup, teardown),
		cmocka_unit_test(test_duplicate_addresses),
		cmocka_unit_test_setup_teardown(test_ent_and_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_addresses, setup_wild, teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_https_srv, setup_wild, teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_precedence, setup_wild, teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_long_names, setup_wild, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notimp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chaos, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_badvers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_additional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tsig_badkey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tsig_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tsig_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_view_small_buffer, setup, teardown),
		cmocka_unit_test(test_view_spec_errors),
		cmocka_unit_test(test_nameservers),
		cmocka_unit_test(test_soa_canonical_case),
		cmocka_unit_test(test_soa_serial_fingerprint),
		cmocka_unit_test(test_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
