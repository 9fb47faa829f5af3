/*
 * tests/unit/test_dns_probe.c - the routing self-check's query and the
 * check of its reply (dns/probe.c): exact bytes of the query, every way
 * a reply can fail the check, and a real answer from dns_answer() that
 * passes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "lib/as.h"

static void test_build(void **state)
{
	uint8_t buf[300];
	size_t n = 0;
	static const uint8_t want[] = {
		0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1,
		3, 's', 'v', 'c', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
		0, 6, 0, 1,
		/* OPT: root, 512, version 0, option 65001 (self-check), empty */
		0, 0, 41, 0x02, 0x00, 0, 0, 0, 0, 0, 4, 0xfd, 0xe9, 0, 0,
	};
	(void)state;
	assert_int_equal(dns_probe_query_build("svc.example.", 0x1234, buf,
					       sizeof(buf), &n), AS_OK);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* Without the trailing dot: the same name. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(dns_probe_query_build("svc.example", 0x1234, buf,
					       sizeof(buf), &n), AS_OK);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* Exactly enough room. */
	assert_int_equal(dns_probe_query_build("svc.example.", 0x1234, buf,
					       sizeof(want), &n), AS_OK);

	assert_int_equal(dns_probe_query_build(".", 0, buf, sizeof(buf), &n),
			 AS_OK);
	assert_int_equal(n, 12 + 1 + 4 + 15);
	assert_int_equal(buf[12], 0);
	assert_int_equal(buf[14], 6);
}

static void test_build_bad(void **state)
{
	uint8_t buf[600];
	size_t n = 0;
	char label[80], longname[300];
	(void)state;

	memset(label, 'a', 64);
	strcpy(label + 64, ".x.");
	assert_int_equal(dns_probe_query_build(label, 0, buf, sizeof(buf), &n),
			 AS_EINVAL);
	label[63] = 0;	/* 63 is the longest label */
	assert_int_equal(dns_probe_query_build(label, 0, buf, sizeof(buf), &n),
			 AS_OK);
	assert_int_equal(dns_probe_query_build("a..b.", 0, buf, sizeof(buf),
					       &n), AS_EINVAL);
	assert_int_equal(dns_probe_query_build(".a.", 0, buf, sizeof(buf), &n),
			 AS_EINVAL);
	/* 4 x 63-byte labels: 257 bytes of wire name, over 255. */
	for (int i = 0; i < 4; i++) {
		memset(longname + i * 64, 'b', 63);
		longname[i * 64 + 63] = '.';
	}
	longname[256] = 0;
	assert_int_equal(dns_probe_query_build(longname, 0, buf, sizeof(buf),
					       &n), AS_EINVAL);
	longname[3 * 64] = 0;	/* 3 labels: fits */
	assert_int_equal(dns_probe_query_build(longname, 0, buf, sizeof(buf),
					       &n), AS_OK);
	assert_int_equal(n, 12 + 3 * 64 + 1 + 4 + 15);

	assert_int_equal(dns_probe_query_build("svc.example.", 0, buf, 43, &n),
			 AS_ESPACE);
	assert_int_equal(dns_probe_query_build("svc.example.", 0, buf, 28, &n),
			 AS_ESPACE);
	assert_int_equal(dns_probe_query_build("svc.example.", 0, buf, 20, &n),
			 AS_ESPACE);
	assert_int_equal(dns_probe_query_build("svc.example.", 0, buf, 10, &n),
			 AS_ESPACE);
	assert_int_equal(dns_probe_query_build(NULL, 0, buf, sizeof(buf), &n),
			 AS_EINVAL);
}

/* A response to q: header flags QR|AA, NOERROR, ANCOUNT 1, then the
 * question, a fake answer record and q's OPT (its last 15 bytes). */
static size_t make_reply(const uint8_t *q, size_t qlen, uint8_t *r)
{
	size_t qend = qlen - 15;
	memcpy(r, q, qend);
	r[2] = 0x84;
	r[3] = 0x00;
	r[7] = 1;
	static const uint8_t rr[] = { 0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 5, 0, 0 };
	memcpy(r + qend, rr, sizeof(rr));
	memcpy(r + qend + sizeof(rr), q + qend, 15);
	return qlen + sizeof(rr);
}

static void test_reply_check(void **state)
{
	uint8_t q[300], r[400], bad[400];
	size_t qlen, rlen;
	(void)state;

	assert_int_equal(dns_probe_query_build("svc.example.", 0x1234, q,
					       sizeof(q), &qlen), AS_OK);
	rlen = make_reply(q, qlen, r);
	assert_true(dns_probe_reply_check(q, qlen, r, rlen));

	/* Names compare case-insensitively (0x20 randomisation). */
	r[13] = 'S';
	assert_true(dns_probe_reply_check(q, qlen, r, rlen));

#define BAD(stmt)                                                    \
	do {                                                         \
		memcpy(bad, r, rlen);                                \
		stmt;                                                \
		assert_false(dns_probe_reply_check(q, qlen, bad, rlen)); \
	} while (0)
	BAD(bad[1] ^= 1);		/* other ID */
	BAD(bad[2] &= 0x7f);		/* not a response */
	BAD(bad[3] = 0x02);		/* SERVFAIL */
	BAD(bad[3] = 0x05);		/* REFUSED */
	BAD(bad[3] = 0x03);		/* NXDOMAIN */
	BAD(bad[7] = 0);		/* no answer */
	BAD(bad[5] = 2);		/* two questions */
	BAD(bad[qlen - 15 - 3] = 28);	/* answers AAAA */
	BAD(bad[qlen - 15 - 1] = 3);	/* class CH */
	BAD(bad[14] = 'x');		/* other name */
	BAD(bad[16] = 6);		/* other label lengths */
	BAD(bad[12] = 0xc0);		/* a pointer for the name */
	BAD(bad[2] |= 0x28);		/* opcode 5 */
#undef BAD
	/* Truncated anywhere before the end of the question. */
	for (size_t n = 0; n < qlen - 15; n++)
		assert_false(dns_probe_reply_check(q, qlen, r, n));
	assert_false(dns_probe_reply_check(q, 5, r, rlen));
	assert_false(dns_probe_reply_check(NULL, qlen, r, rlen));
}

/* The query answered by the real query path passes the check; the same
 * query for a zone we are not authoritative for does not. */
static void test_answered(void **state)
{
	struct dns_view_spec spec = {
		.zone = "svc.example.",
		.node_name = "node1",
		.ttl = 5,
		.soa_serial = 1,
		.soa_refresh = 3600,
		.soa_retry = 600,
		.soa_expire = 86400,
		.soa_minimum = 5,
		.apex_ttl = 60,
	};
	struct as_rng rng;
	struct dns_result res;
	uint8_t q[300], out[DNS_MSG_MAX];
	size_t qlen;
	int err = -1;
	(void)state;

	dns_view_t *v = NULL;
	err = dns_view_new(&spec, &v);
	assert_non_null(v);
	assert_int_equal(err, AS_OK);
	as_rng_seed(&rng, 1);

	assert_int_equal(dns_probe_query_build("SVC.Example.", 0xbeef, q,
					       sizeof(q), &qlen), AS_OK);
	dns_answer(v, &rng, DNS_TRANSPORT_UDP, q, qlen, out,
		   DNS_UDP_PAYLOAD_MAX, &res);
	assert_true(res.send);
	assert_int_equal(res.rcode, 0);
	assert_true(res.self_check);	/* the server sees the mark */
	assert_true(dns_probe_reply_check(q, qlen, out, res.len));
	/* ...and counts it apart from client queries. */
	{
		struct dns_stats st;
		memset(&st, 0, sizeof(st));
		dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1000);
		assert_int_equal(st.self_checks, 1);
		assert_int_equal(st.queries, 0);
		assert_int_equal(st.udp_queries, 0);
		assert_int_equal(st.by_qtype[DNS_QT_SOA], 0);
		assert_int_equal(st.by_rcode[0], 0);
		res.self_check = false;	/* the same answer to a client */
		dns_stats_count(&st, DNS_TRANSPORT_UDP, &res, 1000);
		assert_int_equal(st.self_checks, 1);
		assert_int_equal(st.queries, 1);
		assert_int_equal(st.by_qtype[DNS_QT_SOA], 1);
	}

	assert_int_equal(dns_probe_query_build("other.example.", 0xbeef, q,
					       sizeof(q), &qlen), AS_OK);
	dns_answer(v, &rng, DNS_TRANSPORT_UDP, q, qlen, out,
		   DNS_UDP_PAYLOAD_MAX, &res);
	assert_true(res.send);
	assert_false(dns_probe_reply_check(q, qlen, out, res.len));

	/* A name in the zone without a SOA: NOERROR, no answer record. */
	assert_int_equal(dns_probe_query_build("nothing.svc.example.", 1, q,
					       sizeof(q), &qlen), AS_OK);
	dns_answer(v, &rng, DNS_TRANSPORT_UDP, q, qlen, out,
		   DNS_UDP_PAYLOAD_MAX, &res);
	assert_true(res.send);
	assert_false(dns_probe_reply_check(q, qlen, out, res.len));

	dns_view_unref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_bad),
		cmocka_unit_test(test_reply_check),
		cmocka_unit_test(test_answered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
