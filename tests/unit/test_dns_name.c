/*
 * tests/unit/test_dns_name.c - the one rule for names in the zone
 * (dns/name.c), and that the view builder follows it exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dns/dns.h"
#include "lib/as.h"

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

static void test_label(void **state)
{
	static const char *const good[] = {
		"web", "a", "3d", "0", "web-1", "a-b-c", "Web", "WEB",
	};
	static const struct { const char *s, *why; } bad[] = {
		{ "", "empty label" },
		{ "my_svc", "invalid character" },
		{ "_web", "invalid character" },
		{ "a.b", "invalid character" },
		{ "we b", "invalid character" },
		{ "caf\xc3\xa9", "invalid character" },
		{ "-web", "may not begin or end with '-'" },
		{ "web-", "may not begin or end with '-'" },
		{ "-", "may not begin or end with '-'" },
	};
	char *l63 = repeat('a', 63), *l64 = repeat('a', 64);
	(void)state;

	for (size_t i = 0; i < AS_ARRAY_SIZE(good); i++)
		assert_null(dns_name_label_problem(good[i]));
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++) {
		const char *why = dns_name_label_problem(bad[i].s);
		assert_non_null(why);
		assert_non_null(strstr(why, bad[i].why));
	}
	assert_null(dns_name_label_problem(l63));
	assert_non_null(strstr(dns_name_label_problem(l64), "longer than 63"));
	assert_non_null(dns_name_label_problem(NULL));
	free(l63);
	free(l64);
}

static void test_name(void **state)
{
	static const char *const good[] = {
		".", "example.com", "example.com.", "SVC.Example.NET.",
		"a.b.c.d", "1.2.3.in-addr.arpa",
	};
	static const struct { const char *s, *why; } bad[] = {
		{ "", "empty name" },
		{ "a..b", "empty label" },
		{ ".a", "empty label" },
		{ "a.b..", "empty label" },
		{ "exa mple.com", "invalid character" },
		{ "_dmarc.example.com", "invalid character" },
		{ "a-.example.com", "may not begin or end" },
		{ "example.-com", "may not begin or end" },
		{ "a\\.b.example.com", "invalid character" },
	};
	(void)state;

	for (size_t i = 0; i < AS_ARRAY_SIZE(good); i++)
		assert_null(dns_name_problem(good[i]));
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++) {
		const char *why = dns_name_problem(bad[i].s);
		assert_non_null(why);
		assert_non_null(strstr(why, bad[i].why));
	}

	/* 253 characters (255 octets on the wire) is the most. */
	char name[300];
	size_t n = 0;
	while (n + 50 <= 253) {
		memset(name + n, 'a', 49);
		name[n + 49] = '.';
		n += 50;
	}
	memset(name + n, 'b', 253 - n);
	name[253] = 0;
	assert_int_equal(strlen(name), 253);
	assert_null(dns_name_problem(name));
	name[253] = '.';
	name[254] = 0;		/* a trailing dot does not count */
	assert_null(dns_name_problem(name));
	name[253] = 'b';
	assert_non_null(strstr(dns_name_problem(name), "longer than 253"));
}

static void test_service(void **state)
{
	const char *const ns2[] = { "ns1.svc.example.", "dns" };
	(void)state;

	assert_null(dns_name_service_problem("web", "svc.example", NULL, 0));
	assert_null(dns_name_service_problem("web", NULL, NULL, 0));
	/* Case is decided once: names are kept in lower case. */
	assert_non_null(strstr(dns_name_service_problem("Web", NULL, NULL, 0),
			       "upper-case"));
	assert_non_null(dns_name_service_problem("my_svc", "svc.example", NULL, 0));
	/* The nameserver label: "ns" by default, else the configured ones,
	 * absolute or relative, in any case. */
	assert_non_null(strstr(dns_name_service_problem("ns", "svc.example.",
							NULL, 0),
			       "nameservers"));
	assert_non_null(dns_name_service_problem("ns", ".", NULL, 0));
	assert_null(dns_name_service_problem("ns", "svc.example.", ns2, 2));
	assert_non_null(dns_name_service_problem("ns1", "svc.example", ns2, 2));
	assert_non_null(dns_name_service_problem("ns1", "SVC.example.", ns2, 2));
	assert_non_null(dns_name_service_problem("dns", "svc.example.", ns2, 2));
	/* Deeper or foreign nameserver names reserve nothing. */
	const char *const deep[] = { "a.ns.svc.example.", "ns.other.example.",
				     "ns.svc.example.org." };
	assert_null(dns_name_service_problem("ns", "svc.example.", deep, 3));
	assert_null(dns_name_service_problem("a", "svc.example.", deep, 3));
}

/* The wildcard service "*" (RFC 4592): the label "*" alone, nothing
 * else with a '*'; it stays no host-name label. */
static void test_service_wildcard(void **state)
{
	static const char *const bad[] = { "**", "*a", "a*", "*.web", "-*",
					   "*-", "" };
	(void)state;

	assert_null(dns_name_service_problem("*", "svc.example.", NULL, 0));
	assert_null(dns_name_service_problem("*", NULL, NULL, 0));
	assert_null(dns_name_service_problem("*", ".", NULL, 0));
	assert_null(dns_name_service_label_problem("*"));
	assert_null(dns_name_service_label_problem("Web"));
	assert_non_null(dns_name_service_label_problem(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_non_null(dns_name_service_problem(bad[i], "svc.example.",
							 NULL, 0));
		assert_non_null(dns_name_service_label_problem(bad[i]));
	}
	assert_non_null(dns_name_label_problem("*"));
	assert_non_null(dns_name_problem("*.svc.example"));
	/* A nameserver named "*" would take the name, as any other. */
	const char *const star[] = { "*" };
	assert_non_null(dns_name_service_problem("*", "svc.example.", star, 1));
}

/* A zone of zl characters: labels of 49 'z' and a shorter last one. */
static void make_zone(char *z, size_t zl)
{
	size_t n = 0;

	while (zl - n > 50) {
		memset(z + n, 'z', 49);
		z[n + 49] = '.';
		n += 50;
	}
	memset(z + n, 'y', zl - n);
	z[zl] = 0;
}

/* The view accepts a service name exactly when the rule does. */
static bool view_accepts(const char *name, const char *zone,
			 const char *const *ns, size_t n_ns)
{
	struct dns_service_spec s = { .name = name, .proto = "tcp" };
	struct dns_view_spec spec = { .zone = zone, .nameservers = ns,
				      .n_nameservers = n_ns, .services = &s,
				      .n_services = 1 };
	dns_view_t *v = NULL;
	int err = dns_view_new(&spec, &v);

	if (!v) {
		assert_int_equal(err, AS_EINVAL);
		return false;
	}
	dns_view_unref(v);
	return true;
}

static void test_view_agrees(void **state)
{
	static const char *const names[] = {
		"web", "ns", "ns1", "dns", "a", "3d", "x-y", "my_svc", "Web",
		"web-", "-web", "", "a.b", "_web",
	};
	const char *const ns2[] = { "ns1.svc.example.", "dns" };
	char *l63 = repeat('l', 63), *l64 = repeat('l', 64);
	char zone[260];
	(void)state;

	for (size_t i = 0; i < AS_ARRAY_SIZE(names); i++) {
		for (int k = 0; k < 2; k++) {
			const char *const *ns = k ? ns2 : NULL;
			size_t n = k ? 2 : 0;
			bool rule = !dns_name_service_problem(names[i],
					"svc.example.", ns, n);
			assert_int_equal(view_accepts(names[i], "svc.example.",
						      ns, n), rule);
		}
	}
	assert_true(view_accepts(l63, "svc.example.", NULL, 0));
	assert_false(view_accepts(l64, "svc.example.", NULL, 0));

	/* The length limit, at the octet: _<63>._tcp.<zone> is 70 octets
	 * plus the zone's zl + 2, so zl = 183 fits in 255 and 184 does not. */
	make_zone(zone, 183);
	assert_null(dns_name_service_problem(l63, zone, NULL, 0));
	assert_true(view_accepts(l63, zone, NULL, 0));
	make_zone(zone, 184);
	assert_non_null(strstr(dns_name_service_problem(l63, zone, NULL, 0),
			       "too long for the zone"));
	assert_false(view_accepts(l63, zone, NULL, 0));
	free(l63);
	free(l64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_service),
		cmocka_unit_test(test_service_wildcard),
		cmocka_unit_test(test_view_agrees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
