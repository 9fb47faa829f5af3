/* lib/sockaddr.h: parse and print round trips, ports, families, and the
 * two notions of equality (socket vs host; v4 vs v4-mapped). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "lib/as.h"

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(as_parse_sockaddr(s, 53, &ss), AS_OK);
	return ss;
}

static void test_parse_format(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "[fd00::1]:5353", "[fd00::1]:5353" },
		{ "fd00::1", "[fd00::1]:53" },
		{ "[::]:0", "[::]:0" },
		{ "192.0.2.1:65535", "192.0.2.1:65535" },
		{ "192.0.2.1", "192.0.2.1:53" },
		{ "[::ffff:192.0.2.1]:80", "[::ffff:192.0.2.1]:80" },
	};
	static const char *const bad[] = {
		"", "[fd00::1", "[fd00::1]x", "[fd00::1]:", "1.2.3.4:65536",
		"1.2.3.4:-1", "1.2.3.4:8a", "example.org:53", "1.2.3:53",
		"[1.2.3.4]:53", "fd00::1::2",
	};
	char buf[AS_SOCKADDR_STRLEN];
	struct sockaddr_storage ss;

	(void)state;
	for (size_t i = 0; i < AS_ARRAY_SIZE(ok); i++) {
		ss = sa(ok[i].in);
		assert_string_equal(as_format_sockaddr(&ss, buf, sizeof(buf)),
				    ok[i].out);
	}
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++)
		assert_int_equal(as_parse_sockaddr(bad[i], 53, &ss), AS_EPARSE);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	as_format_sockaddr(&ss, buf, sizeof(buf));
	assert_non_null(strstr(buf, "unknown family"));
	/* A short buffer is cut, not overrun (ASan would see it). */
	ss = sa("[fd00:1:2:3:4:5:6:7]:65535");
	assert_string_equal(as_format_sockaddr(&ss, buf, 8), "[fd00:1");
}

static void test_len_port_family(void **state)
{
	struct sockaddr_storage v6 = sa("[fd00::1]:7946"), v4 = sa("10.0.0.1:8053");
	struct sockaddr_storage un = { .ss_family = AF_UNIX }, zero = { 0 };

	(void)state;
	assert_int_equal(as_sockaddr_len(&v6), sizeof(struct sockaddr_in6));
	assert_int_equal(as_sockaddr_len(&v4), sizeof(struct sockaddr_in));
	assert_int_equal(as_sockaddr_len(&un), 0);
	assert_int_equal(as_sockaddr_len(&zero), 0);
	assert_true(as_sockaddr_valid(&v6) && as_sockaddr_valid(&v4));
	assert_false(as_sockaddr_valid(&un) || as_sockaddr_valid(&zero));

	assert_int_equal(as_sockaddr_port(&v6), 7946);
	assert_int_equal(as_sockaddr_port(&v4), 8053);
	assert_int_equal(as_sockaddr_port(&un), 0);
	as_sockaddr_set_port(&v6, 65535);
	as_sockaddr_set_port(&v4, 1);
	assert_int_equal(as_sockaddr_port(&v6), 65535);
	assert_int_equal(as_sockaddr_port(&v4), 1);
	/* Network byte order in the struct. */
	assert_int_equal(((struct sockaddr_in *)&v4)->sin_port, htons(1));
	struct sockaddr_storage before = un;
	as_sockaddr_set_port(&un, 53);
	assert_memory_equal(&un, &before, sizeof(un));
}

static void test_is_any(void **state)
{
	struct sockaddr_storage un = { .ss_family = AF_UNIX }, zero = { 0 };
	struct sockaddr_storage a = sa("[::]:53"), b = sa("0.0.0.0:53");
	struct sockaddr_storage c = sa("[::1]:53"), d = sa("127.0.0.1:53");
	struct sockaddr_storage e = sa("[::ffff:0.0.0.0]:53");

	(void)state;
	assert_true(as_sockaddr_is_any(&a));
	assert_true(as_sockaddr_is_any(&b));
	assert_false(as_sockaddr_is_any(&c));
	assert_false(as_sockaddr_is_any(&d));
	assert_false(as_sockaddr_is_any(&e));	/* not a wildcard to bind() */
	/* A zeroed address is not "0.0.0.0". */
	assert_false(as_sockaddr_is_any(&zero));
	assert_false(as_sockaddr_is_any(&un));
}

static void test_equal_v4_v6_mapped(void **state)
{
	struct sockaddr_storage v4 = sa("192.0.2.1:53"), v4b = sa("192.0.2.1:53");
	struct sockaddr_storage v4p = sa("192.0.2.1:54"), v4o = sa("192.0.2.2:53");
	struct sockaddr_storage m = sa("[::ffff:192.0.2.1]:53");
	struct sockaddr_storage v6 = sa("[fd00::1]:53"), v6p = sa("[fd00::1]:54");
	struct sockaddr_storage un = { .ss_family = AF_UNIX }, un2 = un;

	(void)state;
	assert_true(as_sockaddr_equal(&v4, &v4b));
	assert_false(as_sockaddr_equal(&v4, &v4p));
	assert_false(as_sockaddr_equal(&v4, &v4o));
	assert_false(as_sockaddr_equal(&v6, &v6p));
	/* The socket: IPv4 and its mapped form are different sockets. */
	assert_false(as_sockaddr_equal(&v4, &m));
	assert_false(as_sockaddr_equal(&m, &v4));
	assert_false(as_sockaddr_equal(&un, &un2));
	/* The scope id does not count (it never travels). */
	struct sockaddr_storage s1 = v6;
	((struct sockaddr_in6 *)&s1)->sin6_scope_id = 3;
	assert_true(as_sockaddr_equal(&v6, &s1));
	/* Garbage in the padding does not count either. */
	struct sockaddr_storage g = v4;
	memset((char *)&g + sizeof(struct sockaddr_in), 0xa5,
	       sizeof(g) - sizeof(struct sockaddr_in));
	assert_true(as_sockaddr_equal(&v4, &g));

	/* The host: IPv4 and mapped are the same, ports ignored. */
	assert_true(as_sockaddr_same_host(&v4, &m));
	assert_true(as_sockaddr_same_host(&m, &v4p));
	assert_false(as_sockaddr_same_host(&v4, &v4o));
	assert_false(as_sockaddr_same_host(&v4, &v6));
	assert_false(as_sockaddr_same_host(&un, &un2));

	uint8_t k[16], km[16];
	assert_true(as_sockaddr_key(&v4, k));
	assert_true(as_sockaddr_key(&m, km));
	assert_memory_equal(k, km, 16);
	assert_true(as_addr16_is_v4mapped(k));
	assert_true(as_sockaddr_key(&v6, k));
	assert_false(as_addr16_is_v4mapped(k));
	memset(k, 0x55, sizeof(k));
	assert_false(as_sockaddr_key(&un, k));
	static const uint8_t zeros[16];
	assert_memory_equal(k, zeros, 16);
}

static void test_format_addr16(void **state)
{
	struct sockaddr_storage v4 = sa("192.0.2.1:53"), v6 = sa("[fd00::1]:53");
	char buf[INET6_ADDRSTRLEN];
	uint8_t k[16];

	(void)state;
	as_sockaddr_key(&v4, k);
	assert_string_equal(as_format_addr16(k, buf, sizeof(buf)), "192.0.2.1");
	as_sockaddr_key(&v6, k);
	assert_string_equal(as_format_addr16(k, buf, sizeof(buf)), "fd00::1");
	/* ::ffff:0:0/96 only: ::1.2.3.4 (compatible, deprecated) stays IPv6. */
	uint8_t compat[16] = { [12] = 1, [13] = 2, [14] = 3, [15] = 4 };
	assert_false(as_addr16_is_v4mapped(compat));
	assert_string_equal(as_format_addr16(compat, buf, sizeof(buf)), "::1.2.3.4");
	/* Too small a buffer: a marker, not an overrun. */
	assert_string_equal(as_format_addr16(k, buf, 4), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_len_port_family),
		cmocka_unit_test(test_is_any),
		cmocka_unit_test(test_equal_v4_v6_mapped),
		cmocka_unit_test(test_format_addr16),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
