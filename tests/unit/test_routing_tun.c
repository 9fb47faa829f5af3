/*
 * The agent-owned TUN device, against the real kernel. Every test moves
 * the test process into a fresh network namespace first (unshare), so
 * nothing touches the host's interfaces and everything the test made
 * disappears with the namespace. Needs root (CAP_NET_ADMIN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/as.h"
#include "routing/routing.h"

#define IFNAME "anysteer0"
#define ANY1 "fd00:53::53"
#define ANY2 "fd00:53::54"

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/* A fresh namespace per test; the previous one dies with its last user. */
static int new_netns(void **state)
{
	if (unshare(CLONE_NEWNET) != 0) {
		perror("unshare(CLONE_NEWNET)");
		return -1;
	}
	write_file("/proc/sys/net/ipv6/conf/all/accept_dad", "0");
	write_file("/proc/sys/net/ipv6/conf/default/accept_dad", "0");
	lo_up();
	return 0;
}

static struct in6_addr addr(const char *s)
{
	struct in6_addr a;
	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static void test_create_and_carrier(void **state)
{
	route_tun_t *t;
	struct route_link_state ls;

	assert_int_equal(route_tun_new(IFNAME, &t), AS_OK);
	assert_string_equal(route_tun_name(t), IFNAME);
	assert_int_equal(route_tun_ifindex(t), if_nametoindex(IFNAME));
	assert_true(route_tun_fd(t) >= 0);

	/* up, but carrier off until told otherwise */
	assert_int_equal(route_tun_link_state(t, &ls), AS_OK);
	assert_int_equal(ls.ifindex, route_tun_ifindex(t));
	assert_true(ls.up);
	assert_false(ls.carrier);
	assert_false(ls.lower_up);

	assert_int_equal(route_tun_set_carrier(t, true), AS_OK);
	assert_int_equal(route_tun_link_state(t, &ls), AS_OK);
	assert_true(ls.carrier);
	assert_true(ls.lower_up);
	assert_true(ls.up);

	assert_int_equal(route_tun_set_carrier(t, false), AS_OK);
	assert_int_equal(route_tun_link_state(t, &ls), AS_OK);
	assert_false(ls.carrier);
	assert_false(ls.lower_up);
	assert_true(ls.up);

	route_tun_free(t);
	/* non-persistent: closing the descriptor removed the device */
	assert_int_equal(if_nametoindex(IFNAME), 0);
}

static void test_names(void **state)
{
	route_tun_t *t, *u;

	assert_int_equal(route_tun_new("", &t), AS_EINVAL);
	assert_int_equal(route_tun_new(NULL, &t), AS_EINVAL);
	assert_int_equal(route_tun_new("a-name-longer-than-15", &t), AS_EINVAL);
	assert_int_equal(route_tun_new("bad name", &t), AS_EINVAL);
	assert_int_equal(route_tun_new("any%d", &t), AS_EINVAL);
	assert_int_equal(route_tun_new("a/b", &t), AS_EINVAL);
	/* existing devices are never taken over */
	assert_int_equal(route_tun_new("lo", &t), AS_EEXIST);
	assert_int_equal(route_tun_new(IFNAME, &t), AS_OK);
	assert_int_equal(route_tun_new(IFNAME, &u), AS_EEXIST);
	route_tun_free(t);
	assert_int_equal(route_tun_new(IFNAME, &u), AS_OK);
	route_tun_free(u);
	route_tun_free(NULL);
}

static void test_addresses(void **state)
{
	route_tun_t *t;
	struct in6_addr a1 = addr(ANY1), a2 = addr(ANY2);
	bool present;

	assert_int_equal(route_tun_new(IFNAME, &t), AS_OK);
	assert_int_equal(route_tun_has_address(t, &a1, &present), AS_OK);
	assert_false(present);
	assert_int_equal(route_tun_add_address(t, &a1), AS_OK);
	assert_int_equal(route_tun_add_address(t, &a1), AS_OK); /* again */
	assert_int_equal(route_tun_add_address(t, &a2), AS_OK);
	assert_int_equal(route_tun_has_address(t, &a1, &present), AS_OK);
	assert_true(present);
	assert_int_equal(route_tun_has_address(t, &a2, &present), AS_OK);
	assert_true(present);

	/* NODAD: usable at once, not tentative (bind would fail) */
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = a1,
				   .sin6_port = htons(5300) };
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);

	assert_int_equal(route_tun_del_address(t, &a2), AS_OK);
	assert_int_equal(route_tun_has_address(t, &a2, &present), AS_OK);
	assert_false(present);
	assert_int_equal(route_tun_del_address(t, &a2), AS_ENOENT);
	assert_int_equal(route_tun_has_address(t, &a1, &present), AS_OK);
	assert_true(present);
	route_tun_free(t);
}

/* The point of withdrawing by carrier: the address keeps receiving. */
static bool udp_roundtrip(const struct in6_addr *a, uint16_t port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = *a,
				   .sin6_port = htons(port) };
	int r = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char buf[16];
	bool ok = false;

	assert_true(r >= 0 && s >= 0);
	assert_int_equal(bind(r, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (sendto(s, "ping", 4, 0, (struct sockaddr *)&sa, sizeof(sa)) == 4) {
		struct pollfd p = { .fd = r, .events = POLLIN };
		if (poll(&p, 1, 1000) == 1 && recv(r, buf, sizeof(buf), 0) == 4)
			ok = memcmp(buf, "ping", 4) == 0;
		else
			printf("# no datagram\n");
	} else {
		printf("# sendto: %s\n", strerror(errno));
	}
	close(r);
	close(s);
	return ok;
}

static void test_carrier_off_keeps_delivery(void **state)
{
	route_tun_t *t;
	struct in6_addr a1 = addr(ANY1);
	bool present;

	assert_int_equal(route_tun_new(IFNAME, &t), AS_OK);
	assert_int_equal(route_tun_add_address(t, &a1), AS_OK);
	/* before the first announcement (the health gate's self-query) */
	assert_true(udp_roundtrip(&a1, 5300));
	assert_int_equal(route_tun_set_carrier(t, true), AS_OK);
	assert_true(udp_roundtrip(&a1, 5301));
	assert_int_equal(route_tun_set_carrier(t, false), AS_OK);
	assert_int_equal(route_tun_has_address(t, &a1, &present), AS_OK);
	assert_true(present);
	assert_true(udp_roundtrip(&a1, 5302));
	route_tun_free(t);
	/* and with the device gone, the address is gone */
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = a1,
				   .sin6_port = htons(5303) };
	assert_int_not_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
}

/* SIGKILL of the owner removes the device and the address. */
static void test_process_death(void **state)
{
	int p[2];
	char c;

	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		route_tun_t *t;
		struct in6_addr a1 = addr(ANY1);
		close(p[0]);
		if (route_tun_new(IFNAME, &t) || route_tun_add_address(t, &a1) ||
		    route_tun_set_carrier(t, true))
			_exit(1);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_not_equal(if_nametoindex(IFNAME), 0);

	uint64_t t0 = as_now_ns();
	kill(pid, SIGKILL);
	while (if_nametoindex(IFNAME) != 0 && as_now_ns() - t0 < 2000000000ull)
		usleep(100);
	uint64_t dt = as_now_ns() - t0;
	assert_int_equal(if_nametoindex(IFNAME), 0);
	waitpid(pid, NULL, 0);
	printf("# device gone %.2f ms after SIGKILL\n", (double)dt / 1e6);
}

/* ---- route life cycle: gate + carrier --------------------------------- */

static route_anycast_t *anycast(bool single)
{
	static const char *const addrs[] = { ANY1, ANY2 };
	struct route_anycast_opts o = {
		.ifname = IFNAME,
		.addresses = addrs,
		.naddresses = 2,
		.gate = { .rise = 2, .fall = 2, .single_node = single },
	};
	route_anycast_t *a;
	assert_int_equal(route_anycast_new(&o, 100, &a), AS_OK);
	return a;
}

static bool carrier(route_anycast_t *a)
{
	struct route_link_state ls;
	assert_int_equal(route_tun_link_state(route_anycast_tun(a), &ls), AS_OK);
	return ls.carrier;
}

static void expect_all(route_anycast_t *a, bool announced,
		       enum route_reason r, uint64_t since)
{
	struct route_anycast_status st[4];
	size_t n = route_anycast_status(a, st, 4);
	assert_int_equal(n, 2);
	assert_string_equal(st[0].text, ANY1);
	assert_string_equal(st[1].text, ANY2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(st[i].announced, announced);
		assert_int_equal(st[i].reason, r);
		assert_int_equal(st[i].since_ms, since);
	}
	assert_int_equal(carrier(a), announced);
}

static void test_anycast_lifecycle(void **state)
{
	route_anycast_t *a = anycast(false);
	struct in6_addr a1 = addr(ANY1), a2 = addr(ANY2);
	bool present;

	assert_int_equal(route_anycast_count(a), 2);
	assert_int_equal(route_tun_has_address(route_anycast_tun(a), &a1,
					       &present), AS_OK);
	assert_true(present);
	assert_int_equal(route_tun_has_address(route_anycast_tun(a), &a2,
					       &present), AS_OK);
	assert_true(present);
	expect_all(a, false, ROUTE_REASON_STARTING, 100);

	assert_int_equal(route_anycast_selfcheck(a, true, 200), AS_OK);
	assert_int_equal(route_anycast_selfcheck(a, true, 300), AS_OK);
	/* not joined outranks the self-check that is still rising */
	expect_all(a, false, ROUTE_REASON_NOT_JOINED, 200);
	assert_int_equal(route_anycast_set_joined(a, true, 400), AS_OK);
	expect_all(a, true, ROUTE_REASON_HEALTHY, 400);

	/* one failed self-query is absorbed, two withdraw */
	assert_int_equal(route_anycast_selfcheck(a, false, 500), AS_OK);
	expect_all(a, true, ROUTE_REASON_HEALTHY, 400);
	assert_int_equal(route_anycast_selfcheck(a, false, 600), AS_OK);
	expect_all(a, false, ROUTE_REASON_SELFCHECK, 600);
	/* withdrawn, yet the addresses stay for in-flight queries */
	assert_int_equal(route_tun_has_address(route_anycast_tun(a), &a1,
					       &present), AS_OK);
	assert_true(present);
	assert_true(udp_roundtrip(&a1, 5310));

	assert_int_equal(route_anycast_selfcheck(a, true, 700), AS_OK);
	assert_int_equal(route_anycast_selfcheck(a, true, 800), AS_OK);
	expect_all(a, true, ROUTE_REASON_HEALTHY, 800);

	assert_int_equal(route_anycast_set_draining(a, true, 900), AS_OK);
	expect_all(a, false, ROUTE_REASON_DRAINING, 900);
	assert_true(udp_roundtrip(&a2, 5311));
	assert_int_equal(route_anycast_set_draining(a, false, 1000), AS_OK);
	expect_all(a, true, ROUTE_REASON_HEALTHY, 1000);

	struct route_decision d;
	route_anycast_decision(a, &d);
	assert_true(d.announce);
	assert_int_equal(d.since_ms, 1000);

	assert_int_equal(route_anycast_stop(a, 1100), AS_OK);
	expect_all(a, false, ROUTE_REASON_STOPPED, 1100);
	assert_int_equal(route_anycast_selfcheck(a, true, 1200), AS_OK);
	expect_all(a, false, ROUTE_REASON_STOPPED, 1100);

	route_anycast_free(a);
	assert_int_equal(if_nametoindex(IFNAME), 0);
}

static void test_anycast_bad_config(void **state)
{
	route_anycast_t *a;
	const char *bad[][2] = {
		{ "fd00:53::53", "not-an-address" },
		{ "fd00:53::53", "fd00:53::53" },   /* duplicate */
		{ "fd00:53::53", "::1" },
		{ "fd00:53::53", "ff02::1" },
		{ "fd00:53::53", "fe80::1" },
		{ "fd00:53::53", "192.0.2.1" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct route_anycast_opts o = { .ifname = IFNAME,
						.addresses = bad[i],
						.naddresses = 2 };
		assert_int_equal(route_anycast_new(&o, 0, &a), AS_ECONFIG);
		/* nothing left behind */
		assert_int_equal(if_nametoindex(IFNAME), 0);
	}
	struct route_anycast_opts o = { .ifname = IFNAME, .addresses = bad[0],
					.naddresses = 0 };
	assert_int_equal(route_anycast_new(&o, 0, &a), AS_EINVAL);
	o.naddresses = ROUTE_ANYCAST_MAX + 1;
	assert_int_equal(route_anycast_new(&o, 0, &a), AS_ELIMIT);
	static const char *const one[] = { ANY1 };
	o.addresses = one;
	o.naddresses = 1;
	o.ifname = "lo";
	assert_int_equal(route_anycast_new(&o, 0, &a), AS_EEXIST);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root (network namespaces, TUN)\n");
		return 77;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("SKIP: /dev/net/tun not available\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_create_and_carrier, new_netns),
		cmocka_unit_test_setup(test_names, new_netns),
		cmocka_unit_test_setup(test_addresses, new_netns),
		cmocka_unit_test_setup(test_carrier_off_keeps_delivery,
				       new_netns),
		cmocka_unit_test_setup(test_process_death, new_netns),
		cmocka_unit_test_setup(test_anycast_lifecycle, new_netns),
		cmocka_unit_test_setup(test_anycast_bad_config, new_netns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
