/*
 * Unit tests for dns/conntab.c: the per-worker TCP connection limits and
 * the choice of the connection to close for a new one (no sockets).
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
#include <sys/un.h>

#include <cmocka.h>

#include "dns/conntab.h"
#include "dns/dns.h"
#include "lib/as.h"

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

static void init(struct dns_conntab *t, uint32_t max, uint32_t per,
		 uint8_t len6, uint8_t len4)
{
	struct dns_conntab_limits lim = { max, per, len6, len4 };
	assert_int_equal(dns_conntab_init(t, &lim, key0), AS_OK);
}

static void add(struct dns_conntab *t, struct dns_ct_entry *e, const char *a)
{
	struct sockaddr_storage ss = addr(a);
	assert_null(dns_conntab_victim(t, &ss));
	assert_int_equal(dns_conntab_add(t, e, &ss), AS_OK);
}

static struct dns_ct_entry *victim(struct dns_conntab *t, const char *a)
{
	struct sockaddr_storage ss = addr(a);
	return dns_conntab_victim(t, &ss);
}

static uint32_t count(struct dns_conntab *t, const char *a)
{
	struct sockaddr_storage ss = addr(a);
	return dns_conntab_prefix_count(t, &ss);
}

/* The worker limit: the least recently active idle connection goes. */
static void test_worker_limit_oldest_idle(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry e[4];

	(void)state;
	init(&t, 3, 3, 64, 32);
	add(&t, &e[0], "2001:db8:1::1");
	add(&t, &e[1], "2001:db8:2::1");
	add(&t, &e[2], "192.0.2.1");
	assert_ptr_equal(victim(&t, "2001:db8:3::1"), &e[0]);
	/* Activity on e[0] makes e[1] the least recently active. */
	dns_conntab_update(&t, &e[0], true);
	assert_ptr_equal(victim(&t, "2001:db8:3::1"), &e[1]);
	assert_ptr_equal(dns_conntab_oldest_idle(&t), &e[1]);
	/* Full: add refuses until the victim is removed. */
	struct sockaddr_storage ss = addr("2001:db8:3::1");
	assert_int_equal(dns_conntab_add(&t, &e[3], &ss), AS_ERANGE);
	dns_conntab_remove(&t, &e[1]);
	assert_int_equal(count(&t, "2001:db8:2::1"), 0);
	add(&t, &e[3], "2001:db8:3::1");
	assert_int_equal(t.n, 3);
	dns_conntab_fini(&t);
}

/* Idle connections go before busy ones, whatever their age; among busy
 * ones the one busy for the longest goes. */
static void test_idle_before_busy(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry e[3];

	(void)state;
	init(&t, 3, 3, 64, 32);
	add(&t, &e[0], "2001:db8:1::1");
	add(&t, &e[1], "2001:db8:2::1");
	add(&t, &e[2], "2001:db8:3::1");
	dns_conntab_update(&t, &e[0], false);
	dns_conntab_update(&t, &e[1], false);
	assert_ptr_equal(victim(&t, "2001:db8:9::1"), &e[2]);
	dns_conntab_update(&t, &e[2], false);
	assert_null(dns_conntab_oldest_idle(&t));
	assert_ptr_equal(victim(&t, "2001:db8:9::1"), &e[0]);
	/* More activity while busy does not make e[0] younger. */
	dns_conntab_update(&t, &e[0], false);
	assert_ptr_equal(victim(&t, "2001:db8:9::1"), &e[0]);
	/* Idle again, e[0] is now preferred over the busy ones. */
	dns_conntab_update(&t, &e[0], true);
	assert_ptr_equal(victim(&t, "2001:db8:9::1"), &e[0]);
	dns_conntab_update(&t, &e[0], false);
	assert_ptr_equal(victim(&t, "2001:db8:9::1"), &e[1]);
	dns_conntab_fini(&t);
}

/* A prefix at its limit loses its own oldest connection, even when the
 * worker has room and older connections of others exist. */
static void test_prefix_limit_evicts_own(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry other, e[3];

	(void)state;
	init(&t, 10, 2, 64, 32);
	add(&t, &other, "2001:db8:ffff::1");
	add(&t, &e[0], "2001:db8:0:1::a");
	add(&t, &e[1], "2001:db8:0:1:ffff::b");	/* same /64 */
	assert_int_equal(count(&t, "2001:db8:0:1::"), 2);
	assert_ptr_equal(victim(&t, "2001:db8:0:1::c"), &e[0]);
	/* Another /64 of the same /48 has room. */
	assert_null(victim(&t, "2001:db8:0:2::1"));
	/* e[0] busy, e[1] idle: the prefix's idle one goes first. */
	dns_conntab_update(&t, &e[0], false);
	assert_ptr_equal(victim(&t, "2001:db8:0:1::c"), &e[1]);
	dns_conntab_remove(&t, &e[1]);
	add(&t, &e[2], "2001:db8:0:1::c");
	assert_int_equal(count(&t, "2001:db8:0:1::"), 2);
	assert_int_equal(t.n, 3);
	dns_conntab_fini(&t);
}

/* Prefix lengths: IPv6 and IPv4 bits, odd lengths, v4-mapped peers. */
static void test_prefix_lengths(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry e[6];

	(void)state;
	init(&t, 16, 16, 56, 24);
	add(&t, &e[0], "2001:db8:0:1200::1");
	add(&t, &e[1], "2001:db8:0:12ff::1");	/* same /56 */
	add(&t, &e[2], "2001:db8:0:1300::1");	/* next /56 */
	assert_int_equal(count(&t, "2001:db8:0:1234::5"), 2);
	assert_int_equal(count(&t, "2001:db8:0:1300::"), 1);
	add(&t, &e[3], "198.51.100.7");
	add(&t, &e[4], "198.51.100.200");	/* same /24 */
	add(&t, &e[5], "::ffff:198.51.100.9");	/* v4-mapped: the same /24 */
	assert_int_equal(count(&t, "198.51.100.1"), 3);
	assert_int_equal(count(&t, "198.51.101.1"), 0);
	dns_conntab_fini(&t);

	/* /0 puts everyone in one prefix; /128 and /32 every address
	 * alone; an odd length cuts inside a byte. */
	init(&t, 16, 16, 0, 32);
	add(&t, &e[0], "2001:db8::1");
	add(&t, &e[1], "fd00::1");
	assert_int_equal(count(&t, "::1"), 2);
	dns_conntab_fini(&t);
	init(&t, 16, 16, 128, 31);
	add(&t, &e[0], "2001:db8::1");
	add(&t, &e[1], "2001:db8::2");
	add(&t, &e[2], "192.0.2.2");
	add(&t, &e[3], "192.0.2.3");	/* same /31 */
	assert_int_equal(count(&t, "2001:db8::1"), 1);
	assert_int_equal(count(&t, "192.0.2.2"), 2);
	assert_int_equal(count(&t, "192.0.2.4"), 0);
	dns_conntab_fini(&t);
}

static void test_bad_input(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry e;
	struct dns_conntab_limits zero = { 0, 1, 64, 32 };
	struct dns_conntab_limits len = { 1, 1, 129, 32 };
	struct sockaddr_storage un;

	(void)state;
	assert_int_equal(dns_conntab_init(&t, &zero, key0), AS_EINVAL);
	assert_int_equal(dns_conntab_init(&t, &len, key0), AS_EINVAL);
	init(&t, 2, 5, 64, 32);	/* per prefix above max: capped */
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	assert_int_equal(dns_conntab_add(&t, &e, &un), AS_EINVAL);
	assert_null(dns_conntab_victim(&t, &un));
	add(&t, &e, "::1");
	dns_conntab_remove(&t, &e);
	dns_conntab_remove(&t, &e);	/* twice: no-op */
	dns_conntab_update(&t, &e, true);	/* not in the table: no-op */
	assert_int_equal(t.n, 0);
	dns_conntab_fini(&t);
}

/* A reference model: every connection with its prefix, state and the
 * time it entered that state; the victim rule written out directly. */
struct model {
	bool live, idle;
	unsigned prefix;
	uint64_t since;
};

enum { M_MAX = 12, M_PER = 3, M_PREFIXES = 7, M_SLOTS = 40 };

static const char *model_addr(unsigned prefix, unsigned host)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), "2001:db8:%x:%x::%x", prefix / 2,
		 prefix, host + 1);
	return buf;
}

static int model_oldest(const struct model *m, int prefix)
{
	int best = -1;
	for (int pass = 0; pass < 2 && best < 0; pass++) {
		for (int i = 0; i < M_SLOTS; i++) {
			if (!m[i].live || m[i].idle != (pass == 0) ||
			    (prefix >= 0 && m[i].prefix != (unsigned)prefix))
				continue;
			if (best < 0 || m[i].since < m[best].since)
				best = i;
		}
	}
	return best;
}

static int model_victim(const struct model *m, unsigned prefix)
{
	unsigned n = 0, np = 0;
	for (int i = 0; i < M_SLOTS; i++) {
		n += m[i].live;
		np += m[i].live && m[i].prefix == prefix;
	}
	if (np >= M_PER)
		return model_oldest(m, (int)prefix);
	if (n >= M_MAX)
		return model_oldest(m, -1);
	return -1;
}

/* Random adds (with eviction as the server does it), removals and
 * activity; after every step the table's victim for every prefix and its
 * counts match the model. */
static void test_against_model(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry e[M_SLOTS];
	struct model m[M_SLOTS];
	struct as_rng rng;
	uint64_t clock = 1;

	(void)state;
	memset(m, 0, sizeof(m));
	memset(e, 0, sizeof(e));
	as_rng_seed(&rng, 42);
	init(&t, M_MAX, M_PER, 64, 32);
	for (int step = 0; step < 20000; step++) {
		unsigned op = (unsigned)(as_rng_next(&rng) % 4);
		int i = (int)(as_rng_next(&rng) % M_SLOTS);
		clock++;
		if (op == 0 && !m[i].live) {
			unsigned p = (unsigned)(as_rng_next(&rng) % M_PREFIXES);
			struct sockaddr_storage ss = addr(model_addr(p, (unsigned)i));
			struct dns_ct_entry *v = dns_conntab_victim(&t, &ss);
			int mv = model_victim(m, p);
			assert_ptr_equal(v, mv < 0 ? NULL : &e[mv]);
			if (v) {
				dns_conntab_remove(&t, v);
				m[mv].live = false;
			}
			assert_int_equal(dns_conntab_add(&t, &e[i], &ss), AS_OK);
			m[i] = (struct model){ true, true, p, clock };
		} else if (op == 1 && m[i].live) {
			dns_conntab_remove(&t, &e[i]);
			m[i].live = false;
		} else if (m[i].live) {
			bool idle = op == 2;
			dns_conntab_update(&t, &e[i], idle);
			if (idle || m[i].idle)
				m[i].since = clock;
			m[i].idle = idle;
		}
		unsigned n = 0;
		for (int k = 0; k < M_SLOTS; k++)
			n += m[k].live;
		assert_int_equal(t.n, n);
		for (unsigned p = 0; p < M_PREFIXES; p++) {
			int mv = model_victim(m, p);
			assert_ptr_equal(victim(&t, model_addr(p, 99)),
					 mv < 0 ? NULL : &e[mv]);
		}
		int oi = model_oldest(m, -1);
		if (oi >= 0 && !m[oi].idle)
			oi = -1;
		assert_ptr_equal(dns_conntab_oldest_idle(&t),
				 oi < 0 ? NULL : &e[oi]);
	}
	dns_conntab_fini(&t);
}

/* Many distinct prefixes over time reuse the entries (no growth). */
static void test_prefix_churn(void **state)
{
	struct dns_conntab t;
	struct dns_ct_entry e[4];
	char a[64];

	(void)state;
	init(&t, 4, 1, 64, 32);
	for (unsigned i = 0; i < 10000; i++) {
		snprintf(a, sizeof(a), "2001:db8:%x:%x::1", i >> 16, i & 0xffff);
		struct sockaddr_storage ss = addr(a);
		struct dns_ct_entry *v = dns_conntab_victim(&t, &ss);
		if (v)
			dns_conntab_remove(&t, v);
		assert_int_equal(dns_conntab_add(&t, &e[i % 4], &ss), AS_OK);
		assert_int_equal(t.n, i < 4 ? i + 1 : 4);
	}
	dns_conntab_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_limit_oldest_idle),
		cmocka_unit_test(test_idle_before_busy),
		cmocka_unit_test(test_prefix_limit_evicts_own),
		cmocka_unit_test(test_prefix_lengths),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_prefix_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
