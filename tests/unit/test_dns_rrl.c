/*
 * Unit tests for dns/rrl.c: response rate limiting over reply bytes,
 * source addresses and a clock passed in (no sockets).
 */
#include <arpa/inet.h>
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
#include "dns/rrl.h"
#include "lib/as.h"

#define S 1000000000ull

static const uint8_t key0[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
				  9, 10, 11, 12, 13, 14, 15, 16 };

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *a6 = (void *)&ss;
		a6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &a6->sin6_addr), 1);
	} else {
		struct sockaddr_in *a4 = (void *)&ss;
		a4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &a4->sin_addr), 1);
	}
	return ss;
}

/* A reply for name (one label + "svc.example") with rcode and ancount
 * answers (filler bytes after the question). */
static size_t reply(uint8_t *m, const char *label, uint8_t rcode,
		    uint16_t ancount, uint16_t qtype)
{
	size_t p = 12, l = strlen(label);

	memset(m, 0, 12);
	m[2] = 0x84;
	m[3] = rcode;
	m[5] = 1;
	m[7] = (uint8_t)ancount;
	m[p++] = (uint8_t)l;
	memcpy(m + p, label, l);
	p += l;
	memcpy(m + p, "\3svc\7example\0", 13);
	p += 13;
	m[p++] = (uint8_t)(qtype >> 8);
	m[p++] = (uint8_t)qtype;
	m[p++] = 0;
	m[p++] = 1;
	for (unsigned i = 0; i < ancount * 28u; i++)
		m[p++] = 0xAB;
	return p;
}

static dns_rrl_t *mk(uint32_t rate, uint32_t window, uint32_t slip,
		     uint32_t size, unsigned workers)
{
	struct dns_rrl_config c = {
		.enabled = true, .responses_per_second = rate,
		.window_ms = window * 1000, .slip = slip, .prefix_v6 = 56,
		.prefix_v4 = 24, .table_size = size,
	};
	dns_rrl_t *r;
	assert_int_equal(dns_rrl_new(&c, workers, key0, &r), AS_OK);
	return r;
}

struct tally { unsigned pass, drop, slip; };

static struct tally flood(dns_rrl_t *r, const char *src, const char *label,
			  uint8_t rcode, unsigned n, uint64_t now)
{
	struct sockaddr_storage ss = addr(src);
	uint8_t m[512];
	size_t len = reply(m, label, rcode, rcode ? 0 : 1, 28);
	struct tally t = { 0, 0, 0 };

	for (unsigned i = 0; i < n; i++) {
		switch (dns_rrl_check(r, &ss, m, len, now)) {
		case DNS_RRL_PASS: t.pass++; break;
		case DNS_RRL_DROP: t.drop++; break;
		case DNS_RRL_SLIP: t.slip++; break;
		}
	}
	return t;
}

/* A flood from one prefix gets rate x window, then every 2nd is slipped. */
static void test_flood_limited(void **state)
{
	dns_rrl_t *r = mk(10, 2, 2, 1024, 1);
	(void)state;

	struct tally t = flood(r, "192.0.2.1", "web", 0, 1000, 5 * S);
	assert_int_equal(t.pass, 20);
	assert_int_equal(t.slip, 490);
	assert_int_equal(t.drop, 490);
	/* Same /24, other host: same bucket, no token left. */
	t = flood(r, "192.0.2.200", "web", 0, 10, 5 * S);
	assert_int_equal(t.pass, 0);
	/* Same name, other class of reply (NXDOMAIN): its own bucket. */
	t = flood(r, "192.0.2.1", "web", 3, 100, 5 * S);
	assert_int_equal(t.pass, 20);
	dns_rrl_free(r);
}

/* Another prefix, or another name, is not affected by the flood. */
static void test_other_prefix_unaffected(void **state)
{
	dns_rrl_t *r = mk(5, 1, 2, 1024, 1);
	(void)state;

	assert_int_equal(flood(r, "2001:db8:0:ff::1", "web", 0, 500, S).pass, 5);
	/* Same /56 (fe vs ff in the 8th byte): limited. */
	assert_int_equal(flood(r, "2001:db8:0:fe::9", "web", 0, 5, S).pass, 0);
	/* Another /56: a full bucket. */
	assert_int_equal(flood(r, "2001:db8:0:1ff::1", "web", 0, 5, S).pass, 5);
	assert_int_equal(flood(r, "198.51.100.7", "web", 0, 5, S).pass, 5);
	/* Other names from the flooded prefix: their own buckets. */
	assert_int_equal(flood(r, "2001:db8:0:ff::1", "api", 0, 5, S).pass, 5);
	/* Name in other case: the same bucket as "web". */
	assert_int_equal(flood(r, "2001:db8:0:ff::1", "WeB", 0, 5, S).pass, 0);
	/* NXDOMAIN for random names shares one bucket per prefix. */
	struct tally t = { 0, 0, 0 };
	char lab[16];
	for (unsigned i = 0; i < 50; i++) {
		snprintf(lab, sizeof(lab), "x%u", i);
		t.pass += flood(r, "2001:db8:0:ff::1", lab, 3, 1, S).pass;
	}
	assert_int_equal(t.pass, 5);
	dns_rrl_free(r);
}

/* slip 1: every limited reply truncated; slip 0: none; slip 3. */
static void test_slip_ratio(void **state)
{
	(void)state;
	dns_rrl_t *r = mk(1, 1, 1, 64, 1);
	struct tally t = flood(r, "192.0.2.1", "web", 0, 100, S);
	assert_int_equal(t.pass, 1);
	assert_int_equal(t.slip, 99);
	dns_rrl_free(r);
	r = mk(1, 1, 0, 64, 1);
	t = flood(r, "192.0.2.1", "web", 0, 100, S);
	assert_int_equal(t.slip, 0);
	assert_int_equal(t.drop, 99);
	dns_rrl_free(r);
	r = mk(1, 1, 3, 64, 1);
	t = flood(r, "192.0.2.1", "web", 0, 100, S);
	assert_int_equal(t.slip, 33);
	assert_int_equal(t.drop, 66);
	dns_rrl_free(r);
}

/* Time refills the tokens at the rate, up to rate x window. */
static void test_refill(void **state)
{
	dns_rrl_t *r = mk(10, 3, 2, 1024, 1);
	(void)state;

	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 100, S).pass, 30);
	/* 0.5 s later: 5 tokens. */
	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 100, S + S / 2).pass, 5);
	/* One query every 10 ms (100 qps) for 10 s: about 10/s pass. */
	unsigned pass = 0;
	for (unsigned i = 1; i <= 1000; i++)
		pass += flood(r, "192.0.2.1", "web", 0, 1,
			      S + S / 2 + i * (S / 100)).pass;
	assert_in_range(pass, 99, 101);
	/* Long idle: full again, but never more than rate x window. */
	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 100, 1000 * S).pass, 30);
	dns_rrl_free(r);
}

/* With n workers, each gets rate / n (the rate is for them together). */
static void test_workers_share_rate(void **state)
{
	dns_rrl_t *r = mk(20, 1, 2, 1024, 4);
	(void)state;

	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 100, S).pass, 5);
	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 100, 2 * S).pass, 5);
	dns_rrl_free(r);
}

/* A full table: floods from many prefixes share slots and never reset a
 * limited bucket; idle buckets are reused after a window. */
static void test_table_overflow(void **state)
{
	dns_rrl_t *r = mk(2, 1, 0, 8, 1);
	char src[32];
	unsigned pass = 0;
	(void)state;

	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 50, S).pass, 2);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(src, sizeof(src), "10.%u.%u.1", i / 256, i % 256);
		pass += flood(r, src, "web", 0, 3, S).pass;
	}
	/* 8 slots of 2 tokens: at most 16 replies in that instant. */
	assert_in_range(pass, 1, 16);
	assert_int_equal(flood(r, "192.0.2.1", "web", 0, 50, S).pass, 0);
	/* A window later every bucket is idle: a new prefix gets a full one. */
	assert_int_equal(flood(r, "203.0.113.5", "web", 0, 50, 3 * S).pass, 2);
	dns_rrl_free(r);
}

static void test_slip_message(void **state)
{
	uint8_t m[512];
	size_t len = reply(m, "web", 0, 3, 28), q = 12 + 4 + 13 + 4;
	(void)state;

	assert_true(len > q);
	assert_int_equal(dns_rrl_slip(m, len), q);
	assert_true(m[2] & 0x02);
	assert_int_equal(m[5], 1);
	assert_int_equal(m[7] | m[9] | m[11], 0);
	/* A compressed question: the header alone. */
	m[12] = 0xC0;
	m[13] = 12;
	assert_int_equal(dns_rrl_slip(m, q), 12);
	assert_int_equal(m[5], 0);
	/* Short: untouched, and passes the check. */
	struct sockaddr_storage ss = addr("192.0.2.1");
	dns_rrl_t *r = mk(1, 1, 1, 8, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(dns_rrl_check(r, &ss, m, 11, S), DNS_RRL_PASS);
	dns_rrl_free(r);
}

static void test_config_problem(void **state)
{
	struct dns_rrl_config c = {
		.enabled = true, .responses_per_second = 200, .window_ms = 1000,
		.slip = 2, .prefix_v6 = 56, .prefix_v4 = 24,
		.table_size = 65536,
	};
	dns_rrl_t *r;
	(void)state;

	assert_null(dns_rrl_config_problem(&c));
	c.responses_per_second = 0;
	assert_non_null(dns_rrl_config_problem(&c));
	assert_int_equal(dns_rrl_new(&c, 1, key0, &r), AS_EINVAL);
	assert_null(r);
	c.responses_per_second = 200;
	c.prefix_v4 = 33;
	assert_non_null(dns_rrl_config_problem(&c));
	c.prefix_v4 = 24;
	c.table_size = 0;
	assert_non_null(dns_rrl_config_problem(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_limited),
		cmocka_unit_test(test_other_prefix_unaffected),
		cmocka_unit_test(test_slip_ratio),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_workers_share_rate),
		cmocka_unit_test(test_table_overflow),
		cmocka_unit_test(test_slip_message),
		cmocka_unit_test(test_config_problem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
