/*
 * tests/unit/test_eval_proto.c - the load generator's protocol cores: the
 * DNS stub (queries parsed and answers built by ldns, an independent
 * implementation), the per-identity answer cache, the HTTP/1.1 response
 * and request parsers (every message also fed one byte at a time and
 * split at every offset) and the destination guard.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

/* ---- DNS ----------------------------------------------------------------- */

static void test_dns_query_parsed_by_ldns(void **state)
{
	uint8_t qname[256], buf[EVAL_DNS_QUERY_MAX];
	size_t qlen, len;
	ldns_pkt *pkt = NULL;

	assert_int_equal(eval_dns_name("Web.svc.example.", qname, sizeof(qname), &qlen), AS_OK);
	assert_int_equal(qlen, 17);
	len = eval_dns_query(buf, sizeof(buf), 0xbeef, qname, qlen);
	assert_true(len > 0);
	assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(pkt), 0xbeef);
	assert_true(ldns_pkt_rd(pkt));
	assert_false(ldns_pkt_qr(pkt));
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	assert_int_equal(ldns_rr_get_type(q), LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_rr_get_class(q), LDNS_RR_CLASS_IN);
	char *owner = ldns_rdf2str(ldns_rr_owner(q));
	assert_string_equal(owner, "Web.svc.example.");
	free(owner);
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), 1232);
	ldns_pkt_free(pkt);

	assert_int_equal(eval_dns_query(buf, 20, 1, qname, qlen), 0);
	/* Names: with or without the final dot; bad labels refused. */
	assert_int_equal(eval_dns_name("a.b", qname, sizeof(qname), &qlen), AS_OK);
	assert_int_equal(qlen, 5);
	assert_int_equal(eval_dns_name("a..b", qname, sizeof(qname), &qlen), AS_EINVAL);
	assert_int_equal(eval_dns_name("", qname, sizeof(qname), &qlen), AS_EINVAL);
	char label[70];
	memset(label, 'x', 64);
	label[64] = 0;
	assert_int_equal(eval_dns_name(label, qname, sizeof(qname), &qlen), AS_EINVAL);
	char longname[300];
	for (int i = 0; i < 150; i++)
		memcpy(longname + 2 * i, "a.", 2);
	longname[299] = 0;
	longname[298] = 'a';
	assert_int_equal(eval_dns_name(longname, qname, sizeof(qname), &qlen), AS_EINVAL);
}

/* An answer built by ldns from zone-file lines. */
static size_t answer(uint8_t *out, size_t cap, uint16_t id, const char *qname,
		     ldns_pkt_rcode rcode, bool tc, const char **rrs)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *q = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	ldns_pkt_set_id(p, id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, true);
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_tc(p, tc);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	char qtext[300];
	snprintf(qtext, sizeof(qtext), "%s IN AAAA", qname);
	assert_int_equal(ldns_rr_new_question_frm_str(&q, qtext, NULL, NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q);
	for (int i = 0; rrs && rrs[i]; i++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL),
				 LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

static void test_dns_answers(void **state)
{
	uint8_t qn[256], m[4096], want[16];
	size_t qlen, n;
	struct eval_dns_answer a;

	assert_int_equal(eval_dns_name("web.svc.example", qn, sizeof(qn), &qlen), AS_OK);

	/* Two AAAA (ldns compresses the owners), in answer order; TTL is
	 * the smallest, over a CNAME too. */
	const char *two[] = {
		"web.svc.example. 30 IN CNAME pods.svc.example.",
		"pods.svc.example. 10 IN AAAA fd00:10::2",
		"pods.svc.example. 20 IN AAAA fd00:10::1",
		"pods.svc.example. 5 IN A 192.0.2.1",
		NULL,
	};
	n = answer(m, sizeof(m), 77, "WEB.svc.example.", LDNS_RCODE_NOERROR, false, two);
	assert_int_equal(eval_dns_parse(m, n, 77, qn, qlen, &a), EVAL_DNS_OK);
	assert_int_equal(a.naddr, 2);
	inet_pton(AF_INET6, "fd00:10::2", want);
	assert_memory_equal(a.addr[0], want, 16);
	inet_pton(AF_INET6, "fd00:10::1", want);
	assert_memory_equal(a.addr[1], want, 16);
	assert_int_equal(a.ttl, 10);

	/* Not ours: other ID, other name, a query, another type. */
	assert_int_equal(eval_dns_parse(m, n, 78, qn, qlen, &a), EVAL_DNS_MISMATCH);
	uint8_t other[256];
	size_t olen;
	eval_dns_name("api.svc.example", other, sizeof(other), &olen);
	assert_int_equal(eval_dns_parse(m, n, 77, other, olen, &a), EVAL_DNS_MISMATCH);
	uint8_t copy[4096];
	memcpy(copy, m, n);
	copy[2] &= 0x7f;	/* QR = 0 */
	assert_int_equal(eval_dns_parse(copy, n, 77, qn, qlen, &a), EVAL_DNS_MISMATCH);
	memcpy(copy, m, n);
	copy[12 + qlen + 1] = 1;	/* QTYPE A */
	assert_int_equal(eval_dns_parse(copy, n, 77, qn, qlen, &a), EVAL_DNS_MISMATCH);

	/* Truncated anywhere: malformed (or mismatch before the question),
	 * never a crash or a read past the end (ASan watches). */
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);
		memcpy(t, m, cut);
		enum eval_dns_status st = eval_dns_parse(t, cut, 77, qn, qlen, &a);
		assert_true(st == EVAL_DNS_MALFORMED || st == EVAL_DNS_MISMATCH);
		free(t);
	}

	/* RCODEs and TC. */
	n = answer(m, sizeof(m), 5, "web.svc.example.", LDNS_RCODE_NXDOMAIN, false, NULL);
	assert_int_equal(eval_dns_parse(m, n, 5, qn, qlen, &a), EVAL_DNS_NXDOMAIN);
	n = answer(m, sizeof(m), 5, "web.svc.example.", LDNS_RCODE_SERVFAIL, false, NULL);
	assert_int_equal(eval_dns_parse(m, n, 5, qn, qlen, &a), EVAL_DNS_SERVFAIL);
	n = answer(m, sizeof(m), 5, "web.svc.example.", LDNS_RCODE_REFUSED, false, NULL);
	assert_int_equal(eval_dns_parse(m, n, 5, qn, qlen, &a), EVAL_DNS_OTHER);
	n = answer(m, sizeof(m), 5, "web.svc.example.", LDNS_RCODE_NOERROR, true, two);
	assert_int_equal(eval_dns_parse(m, n, 5, qn, qlen, &a), EVAL_DNS_OTHER);
	const char *v4only[] = { "web.svc.example. 5 IN A 192.0.2.1", NULL };
	n = answer(m, sizeof(m), 5, "web.svc.example.", LDNS_RCODE_NOERROR, false, v4only);
	assert_int_equal(eval_dns_parse(m, n, 5, qn, qlen, &a), EVAL_DNS_NOANSWER);

	/* More AAAA than we keep: the first EVAL_DNS_MAX_ADDRS. */
	const char *many[12];
	char texts[11][80];
	for (int i = 0; i < 11; i++) {
		snprintf(texts[i], sizeof(texts[i]), "web.svc.example. 60 IN AAAA fd00::%x", i + 1);
		many[i] = texts[i];
	}
	many[11] = NULL;
	n = answer(m, sizeof(m), 9, "web.svc.example.", LDNS_RCODE_NOERROR, false, many);
	assert_int_equal(eval_dns_parse(m, n, 9, qn, qlen, &a), EVAL_DNS_OK);
	assert_int_equal(a.naddr, EVAL_DNS_MAX_ADDRS);
	assert_int_equal(a.ttl, 60);

	/* A compression pointer loop is malformed, not a hang. */
	uint8_t loop[64] = { 0, 9, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0 };
	memcpy(loop + 12, qn, qlen);
	size_t o = 12 + qlen;
	loop[o + 1] = 28;
	loop[o + 3] = 1;
	o += 4;
	loop[o] = 0xc0;
	loop[o + 1] = (uint8_t)o;	/* points at itself: one pointer ends a name */
	loop[o + 2] = 0;	/* then the fixed part is cut short */
	assert_int_equal(eval_dns_parse(loop, o + 3, 9, qn, qlen, &a), EVAL_DNS_MALFORMED);
	uint16_t id;
	assert_false(eval_dns_id(loop, 11, &id));
	assert_true(eval_dns_id(loop, 12, &id));
	assert_int_equal(id, 9);
}

static void test_dns_cache_ttl(void **state)
{
	eval_dnscache_t *c = eval_dnscache_new(3, 2);
	struct eval_dns_answer a = { .naddr = 2, .ttl = 5 };
	const uint64_t s = EVAL_NS_PER_S;
	int token;

	a.addr[0][0] = 0xfd;
	a.addr[1][0] = 0xfe;
	assert_null(eval_dnscache_get(c, 1, 1, 0));
	eval_dnscache_put(c, 1, 1, &a, 10 * s);
	const struct eval_addrs *got = eval_dnscache_get(c, 1, 1, 10 * s);
	assert_non_null(got);
	assert_int_equal(got->n, 2);
	assert_int_equal(got->a[1][0], 0xfe);
	assert_non_null(eval_dnscache_get(c, 1, 1, 15 * s - 1));
	assert_null(eval_dnscache_get(c, 1, 1, 15 * s));	/* expired */
	/* Other identities and names have their own entries. */
	assert_null(eval_dnscache_get(c, 0, 1, 10 * s));
	assert_null(eval_dnscache_get(c, 1, 0, 10 * s));
	/* TTL 0: not kept; a failure replaces nothing. */
	a.ttl = 0;
	eval_dnscache_put(c, 2, 0, &a, 0);
	assert_null(eval_dnscache_get(c, 2, 0, 0));
	/* Out of range is ignored, not a write past the table. */
	eval_dnscache_put(c, 3, 0, &a, 0);
	assert_null(eval_dnscache_get(c, 0, 2, 0));
	assert_null(eval_dnscache_pending(c, 0, 0));
	eval_dnscache_set_pending(c, 0, 0, &token);
	assert_ptr_equal(eval_dnscache_pending(c, 0, 0), &token);
	assert_null(eval_dnscache_pending(c, 0, 1));
	eval_dnscache_set_pending(c, 0, 0, NULL);
	assert_null(eval_dnscache_pending(c, 0, 0));
	eval_dnscache_free(c);
	assert_null(eval_dnscache_new(0, 1));
}

/* ---- HTTP responses ---------------------------------------------------------- */

struct resp_case {
	const char *text;
	bool head;
	enum eval_http_rc rc;	/* after feeding everything (and EOF if eof) */
	bool eof;
	int status;
	const char *pod;
	bool keep_alive;
	uint64_t body;
	size_t trailing;	/* bytes after the response (next message) */
};

static const struct resp_case resp_cases[] = {
	{ "HTTP/1.1 200 OK\r\nX-Pod: pod-a\r\nContent-Length: 5\r\n\r\nhello",
	  false, EVAL_HTTP_DONE, false, 200, "pod-a", true, 5, 0 },
	{ "HTTP/1.1 200 OK\r\nx-pod:   pod-b  \r\nContent-Length: 2\r\n\r\nhiHTTP/1.1",
	  false, EVAL_HTTP_DONE, false, 200, "pod-b", true, 2, 8 },
	{ "HTTP/1.1 200 OK\nContent-Length: 0\nConnection: close\n\n",
	  false, EVAL_HTTP_DONE, false, 200, "", false, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Pod: c\r\n\r\n"
	  "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
	  false, EVAL_HTTP_DONE, false, 200, "c", true, 15, 0 },
	{ "HTTP/1.0 200 OK\r\nX-Pod: old\r\n\r\nuntil close",
	  false, EVAL_HTTP_DONE, true, 200, "old", false, 11, 0 },
	{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
	  false, EVAL_HTTP_DONE, false, 200, "", true, 1, 0 },
	{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nX-Pod: d\r\nContent-Length: 3\r\n\r\nbad",
	  false, EVAL_HTTP_DONE, false, 503, "d", true, 3, 0 },
	{ "HTTP/1.1 200 OK\r\nX-Pod: \"a\\\xff\x01" "b\r\nContent-Length: 0\r\n\r\n",
	  false, EVAL_HTTP_DONE, false, 200, "?a???b", true, 0, 0 },
	{ "HTTP/1.1 204 No Content\r\nX-Pod: e\r\n\r\n",
	  false, EVAL_HTTP_DONE, false, 204, "e", true, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	  true, EVAL_HTTP_DONE, false, 200, "", true, 0, 0 },
	/* Cut short: the body is incomplete at EOF. */
	{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	  false, EVAL_HTTP_ERROR, true, 200, "", true, 5, 0 },
	/* Protocol errors. */
	{ "HTTP/2 200 OK\r\n\r\n", false, EVAL_HTTP_ERROR, false, 0, "", false, 0, 0 },
	{ "HTTP/1.1 2x0 OK\r\n\r\n", false, EVAL_HTTP_ERROR, false, 0, "", false, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	  false, EVAL_HTTP_ERROR, false, 200, "", true, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	  false, EVAL_HTTP_ERROR, false, 200, "", true, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nBroken header\r\n\r\n",
	  false, EVAL_HTTP_ERROR, false, 200, "", true, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	  false, EVAL_HTTP_ERROR, false, 200, "", true, 0, 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n",
	  false, EVAL_HTTP_ERROR, false, 200, "", true, 2, 0 },
};

/* Feeds text split at `split` (or byte by byte when split == 0). */
static void run_resp(const struct resp_case *c, size_t split)
{
	struct eval_http_resp p;
	size_t n = strlen(c->text), off = 0, used = 0;
	enum eval_http_rc rc = EVAL_HTTP_MORE;

	eval_http_resp_init(&p, c->head);
	while (off < n) {
		size_t chunk = split ? (off < split ? split - off : n - off) : 1;
		rc = eval_http_resp_feed(&p, c->text + off, chunk, &used);
		assert_true(used <= chunk);
		off += used;
		if (rc != EVAL_HTTP_MORE)
			break;
	}
	if (rc == EVAL_HTTP_MORE && c->eof)
		rc = eval_http_resp_eof(&p);
	if (rc != c->rc)
		fail_msg("case \"%.40s\" split %zu: rc %d, want %d", c->text, split, rc, c->rc);
	if (rc == EVAL_HTTP_ERROR)
		return;
	assert_int_equal(p.status, c->status);
	assert_string_equal(p.pod, c->pod);
	assert_int_equal(p.keep_alive, c->keep_alive);
	assert_int_equal(p.body_bytes, c->body);
	assert_int_equal(n - off, c->trailing);
}

static void test_http_response(void **state)
{
	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		size_t n = strlen(resp_cases[i].text);
		run_resp(&resp_cases[i], 0);
		for (size_t split = 1; split <= n; split++)
			run_resp(&resp_cases[i], split);
	}
}

static void test_http_response_limits(void **state)
{
	struct eval_http_resp p;
	size_t used;
	char *big = malloc(EVAL_HTTP_HEAD_MAX + 100);

	/* A long X-Pod is cut to fit; a long unrelated header is fine. */
	eval_http_resp_init(&p, false);
	const char *start = "HTTP/1.1 200 OK\r\nX-Pod: ";
	assert_int_equal(eval_http_resp_feed(&p, start, strlen(start), &used), EVAL_HTTP_MORE);
	memset(big, 'p', 3000);
	assert_int_equal(eval_http_resp_feed(&p, big, 3000, &used), EVAL_HTTP_MORE);
	const char *end = "\r\nX-Long: ";
	assert_int_equal(eval_http_resp_feed(&p, end, strlen(end), &used), EVAL_HTTP_MORE);
	assert_int_equal(eval_http_resp_feed(&p, big, 3000, &used), EVAL_HTTP_MORE);
	const char *fin = "\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(eval_http_resp_feed(&p, fin, strlen(fin), &used), EVAL_HTTP_DONE);
	assert_int_equal(strlen(p.pod), EVAL_POD_MAX - 1);

	/* Headers that never end: an error once over the cap. */
	eval_http_resp_init(&p, false);
	assert_int_equal(eval_http_resp_feed(&p, start, strlen(start), &used), EVAL_HTTP_MORE);
	memset(big, 'h', EVAL_HTTP_HEAD_MAX + 100);
	assert_int_equal(eval_http_resp_feed(&p, big, EVAL_HTTP_HEAD_MAX + 100, &used),
			 EVAL_HTTP_ERROR);
	/* An overlong Content-Length line is refused, not misread. */
	eval_http_resp_init(&p, false);
	const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: ";
	eval_http_resp_feed(&p, cl, strlen(cl), &used);
	memset(big, '1', 2000);
	eval_http_resp_feed(&p, big, 2000, &used);
	assert_int_equal(eval_http_resp_feed(&p, "\r\n\r\n", 4, &used), EVAL_HTTP_ERROR);
	free(big);
}

/* ---- HTTP requests ----------------------------------------------------------- */

static void test_http_request(void **state)
{
	const char *pipelined =
		"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n"
		"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
		"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"
		"GET / HTTP/1.0\r\n\r\n"
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	static const struct { const char *method, *path; bool keep; } want[] = {
		{ "GET", "/a", true }, { "POST", "/b", true },
		{ "GET", "/healthz", false }, { "GET", "/", false },
		{ "GET", "/", true },
	};

	for (size_t step = 1; step <= 7; step += 6) {	/* byte by byte, and 7 */
		struct eval_http_req q;
		size_t n = strlen(pipelined), off = 0, got = 0, used;
		eval_http_req_init(&q);
		while (off < n) {
			size_t chunk = AS_MIN(step, n - off);
			size_t pos = 0;
			while (pos < chunk) {
				enum eval_http_rc rc = eval_http_req_feed(&q, pipelined + off + pos,
									  chunk - pos, &used);
				pos += used;
				assert_int_not_equal(rc, EVAL_HTTP_ERROR);
				if (rc == EVAL_HTTP_DONE) {
					assert_true(got < 5);
					assert_string_equal(q.method, want[got].method);
					assert_string_equal(q.path, want[got].path);
					assert_int_equal(q.keep_alive, want[got].keep);
					got++;
					eval_http_req_init(&q);
				}
			}
			off += chunk;
		}
		assert_int_equal(got, 5);
	}

	static const char *const bad[] = {
		"GET /\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET  HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
		"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
		"AVERYLONGMETHODNAME / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct eval_http_req q;
		size_t used;
		eval_http_req_init(&q);
		if (eval_http_req_feed(&q, bad[i], strlen(bad[i]), &used) != EVAL_HTTP_ERROR)
			fail_msg("accepted: %s", bad[i]);
	}
}

/* ---- destinations -------------------------------------------------------------- */

static void test_addr_guard(void **state)
{
	static const struct { const char *a; bool ok; } cases[] = {
		{ "::1", true }, { "fd00:10::1", true }, { "fc00::1", true },
		{ "fe80::1", true }, { "2001:db8::5", true },
		{ "::ffff:127.0.0.1", true }, { "::ffff:10.1.2.3", true },
		{ "::ffff:8.8.8.8", false }, { "2001:4860::8888", false },
		{ "::", false }, { "ff02::1", false }, { "2a00::1", false },
	};
	uint8_t a[16], b4[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(inet_pton(AF_INET6, cases[i].a, a), 1);
		if (eval_addr6_allowed(a) != cases[i].ok)
			fail_msg("%s: want %d", cases[i].a, cases[i].ok);
	}
	inet_pton(AF_INET, "172.20.0.1", b4);
	assert_true(eval_addr4_allowed(b4));
	inet_pton(AF_INET, "172.32.0.1", b4);
	assert_false(eval_addr4_allowed(b4));
	inet_pton(AF_INET, "198.19.255.1", b4);
	assert_true(eval_addr4_allowed(b4));
	inet_pton(AF_INET, "1.1.1.1", b4);
	assert_false(eval_addr4_allowed(b4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_query_parsed_by_ldns),
		cmocka_unit_test(test_dns_answers),
		cmocka_unit_test(test_dns_cache_ttl),
		cmocka_unit_test(test_http_response),
		cmocka_unit_test(test_http_response_limits),
		cmocka_unit_test(test_http_request),
		cmocka_unit_test(test_addr_guard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
