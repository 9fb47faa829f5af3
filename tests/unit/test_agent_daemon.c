/*
 * The daemon in-process (agent_new, agent_start, agent_free) with gossip
 * on and a large static catalog whose endpoints are all on another node.
 * With gossip the answer view comes from the members alone, so a rebuild
 * must not build the static view spec on the side: that spec was once
 * built and thrown away on every rebuild (O(catalog) per gossip change).
 * The test counts the allocations of the daemon's code (linked with
 * -Wl,--wrap=calloc): no array of catalog-many endpoint specs may be
 * allocated while the daemon starts and builds its first view.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "lib/as.h"

#define N_EPS 20000

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static bool counting;
static size_t big_spec_arrays;	/* calloc(>= N_EPS, endpoint spec) */

void *__wrap_calloc(size_t n, size_t size)
{
	if (counting && size == sizeof(struct dns_endpoint_spec) && n >= N_EPS)
		big_spec_arrays++;
	return __real_calloc(n, size);
}

/* A port free for both UDP and TCP on [::1] (the gossip socket wants
 * both), below the kernel's ephemeral range: a port the kernel handed
 * out (bind to 0) and this test released could go to another process's
 * socket (a connect, a sendto) while the 20000-endpoint configuration is
 * parsed, before the daemon binds it; the kernel picks none below the
 * range by itself (as tests/integration/anysteer_test.py's free_port). */
static int free_port(void)
{
	unsigned lo = 32768, top;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%u", &lo) != 1)
			lo = 32768;
		fclose(f);
	}
	top = (lo < 32768 ? lo : 32768) - 1;
	assert_true(top > 10000);
	for (int tries = 0; tries < 200; tries++) {
		uint32_t r = 0;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint32_t)getpid() * 2654435761u + (uint32_t)tries;
		int port = 10000 + (int)(r % (top - 10000));
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT,
					  .sin6_port = htons((uint16_t)port) };
		int t = socket(AF_INET6, SOCK_STREAM, 0);
		int u = socket(AF_INET6, SOCK_DGRAM, 0);
		bool ok = t >= 0 && u >= 0 &&
			  bind(t, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			  bind(u, (struct sockaddr *)&a, sizeof(a)) == 0;

		close(t);
		close(u);
		if (ok)
			return port;
	}
	fail_msg("no free port");
	return -1;
}

static void test_gossip_view_skips_static_spec(void **state)
{
	char dir[] = "/tmp/anysteer-daemon-test.XXXXXX";
	char err[4096] = "";
	struct agent_config *cfg = NULL;
	struct agent *a = NULL;
	size_t cap = 64 * N_EPS + 4096, len = 0;
	char *y = malloc(cap);
	int dns_port = free_port(), gossip_port;

	(void)state;
	do
		gossip_port = free_port();
	while (gossip_port == dns_port);
	assert_non_null(mkdtemp(dir));
	len += (size_t)snprintf(y + len, cap - len,
		"node: { name: self }\n"
		"dns: { listen: [\"[::1]:%d\"], zone: svc.example., workers: 1 }\n"
		"control: { socket: %s/ctl.sock }\n"
		"metrics: { listen: \"\" }\n"
		"gossip: { bind: \"[::1]:%d\", cluster: t, keyring: \"\", plaintext: true }\n"
		"services:\n  - name: web\n    port: 80\n    endpoints:\n",
		dns_port, dir, gossip_port);
	for (int i = 0; i < N_EPS; i++)
		len += (size_t)snprintf(y + len, cap - len,
					"      - { address: \"fd00:1::%x:%x\", node: other }\n",
					i >> 16, i & 0xffff);
	int rc = agent_config_parse("t.yaml", y, len, &cfg, err, sizeof(err));
	free(y);
	if (rc)
		fail_msg("config: %s", err);
	assert_int_equal(agent_new("t.yaml", cfg, &a), AS_OK);
	counting = true;
	rc = agent_start(a);
	counting = false;
	assert_int_equal(rc, AS_OK);
	assert_int_equal(big_spec_arrays, 0);
	agent_free(a);
	char path[64];
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gossip_view_skips_static_spec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
