/*
 * Unit tests of the pure parts of agent/anycast.c: the self-query and
 * the check of its answer, the anycast/bird/drain configuration rows and
 * the metrics lines rendered from a snapshot. The live parts (TUN, BIRD,
 * drain) are covered by tests/integration/test_anycast*.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/anycast.h"
#include "lib/as.h"

static struct agent_config *parse(const char *text, int want)
{
	struct agent_config *cfg = NULL;
	char err[4096] = "";
	int rc = agent_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
	if (rc != want)
		fail_msg("parse: %d, want %d: %s", rc, want, err);
	return cfg;
}

static void test_config(void **state)
{
	(void)state;
	struct agent_config *c = parse("dns: {zone: x.}\n", AS_OK);
	assert_int_equal(c->anycast.n_addresses, 0);
	assert_string_equal(c->anycast.interface, "anysteer0");
	assert_int_equal(c->anycast.port, 53);
	assert_int_equal(c->anycast.check_interval_ms, 250);
	assert_int_equal(c->anycast.rise, 2);
	assert_int_equal(c->anycast.fall, 2);
	assert_false(c->anycast.wait_for_gossip);
	assert_string_equal(c->bird.socket, "/run/bird/bird.ctl");
	assert_string_equal(c->bird.protocol, "anysteer");
	assert_string_equal(c->bird.export_protocol, "upstream");
	assert_true(c->bird.fast_withdraw);
	assert_int_equal(c->drain.linger_ms, 5000);
	assert_false(c->control.test_commands);
	agent_config_free(c);

	c = parse("dns: {zone: x.}\n"
		  "anycast: {addresses: [\"fd00:53::53\", \"fd00:53::54\"], interface: any1,\n"
		  "          port: 5353, check_interval: 100ms, rise: 3, fall: 1,\n"
		  "          wait_for_gossip: true}\n"
		  "bird: {socket: \"\", export_protocol: \"\", fast_withdraw: false}\n"
		  "drain: {linger: 0s}\n"
		  "control: {test_commands: true}\n", AS_OK);
	assert_int_equal(c->anycast.n_addresses, 2);
	assert_string_equal(c->anycast.addresses[1], "fd00:53::54");
	assert_int_equal(c->anycast.addrs[0].ss_family, AF_INET6);
	assert_string_equal(c->anycast.interface, "any1");
	assert_int_equal(c->anycast.port, 5353);
	assert_int_equal(c->anycast.check_interval_ms, 100);
	assert_int_equal(c->anycast.rise, 3);
	assert_int_equal(c->anycast.fall, 1);
	assert_true(c->anycast.wait_for_gossip);
	assert_string_equal(c->bird.socket, "");
	assert_string_equal(c->bird.export_protocol, "");
	assert_false(c->bird.fast_withdraw);
	assert_int_equal(c->drain.linger_ms, 0);
	assert_true(c->control.test_commands);
	agent_config_free(c);

	/* Each of these is rejected with a message, without leaks. */
	static const char *const bad[] = {
		"anycast: {addresses: [\"192.0.2.1\"]}\n",
		"anycast: {addresses: [\"::1\"]}\n",
		"anycast: {addresses: [\"ff02::1\"]}\n",
		"anycast: {addresses: [\"fd00::1\", \"fd00::1\"]}\n",
		"anycast: {addresses: [\"fd00::1/128\"]}\n",
		"anycast: {interface: \"0123456789abcdef\"}\n",
		"anycast: {interface: \"a/b\"}\n",
		"anycast: {port: 0}\n",
		"anycast: {check_interval: 1ms}\n",
		"anycast: {rise: 0}\n",
		"bird: {protocol: \"\"}\n",
		"bird: {protocol: \"a b\"}\n",
		"bird: {export_protocol: \"x;y\"}\n",
		"drain: {linger: soon}\n",
		"control: {test_commands: maybe}\n",
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++) {
		char text[512];
		snprintf(text, sizeof(text), "dns: {zone: x.}\n%s", bad[i]);
		struct agent_config *cfg = NULL;
		char err[4096] = "";
		int rc = agent_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
		if (rc != AS_ECONFIG)
			fail_msg("accepted: %s", bad[i]);
		assert_null(cfg);
		assert_non_null(strstr(err, "t.yaml:"));
	}
}

static void test_metrics(void **state)
{
	struct agent_anycast_snap s;
	char *buf = NULL;
	size_t len = 0;
	(void)state;

	memset(&s, 0, sizeof(s));
	s.healthy = true;
	s.checks_ok = 7;
	FILE *f = open_memstream(&buf, &len);
	agent_anycast_metrics(f, &s);
	fclose(f);
	assert_non_null(strstr(buf, "anysteer_health_ok 1\n"));
	assert_non_null(strstr(buf, "anysteer_selfcheck_total{result=\"ok\"} 7\n"));
	assert_null(strstr(buf, "anysteer_anycast_announced"));
	free(buf);

	s.configured = true;
	s.healthy = false;
	s.n = 1;
	snprintf(s.addr[0].address, sizeof(s.addr[0].address), "fd00:53::53");
	s.addr[0].exported = -1;
	s.transitions = 3;
	s.bird_configured = true;
	s.bird_up = true;
	s.n_protos = 1;
	snprintf(s.protos[0].name, sizeof(s.protos[0].name), "upstream");
	snprintf(s.protos[0].proto, sizeof(s.protos[0].proto), "BGP");
	snprintf(s.protos[0].state, sizeof(s.protos[0].state), "up");
	snprintf(s.protos[0].info, sizeof(s.protos[0].info), "Esta\"blished");
	s.n_bfd = 1;
	snprintf(s.bfd[0].address, sizeof(s.bfd[0].address), "fd00:1::1");
	snprintf(s.bfd[0].state, sizeof(s.bfd[0].state), "Down");
	f = open_memstream(&buf, &len);
	agent_anycast_metrics(f, &s);
	fclose(f);
	assert_non_null(strstr(buf, "anysteer_health_ok 0\n"));
	assert_non_null(strstr(buf, "anysteer_anycast_announced{address=\"fd00:53::53\"} 0\n"));
	assert_null(strstr(buf, "anysteer_anycast_exported{"));	/* unknown */
	assert_non_null(strstr(buf, "anysteer_anycast_gate_transitions_total 3\n"));
	assert_non_null(strstr(buf, "anysteer_bird_up 1\n"));
	assert_non_null(strstr(buf, "anysteer_bird_protocol_up{name=\"upstream\",proto=\"BGP\","
				    "info=\"Esta\\\"blished\"} 1\n"));
	assert_non_null(strstr(buf, "anysteer_bird_bfd_session_up{address=\"fd00:1::1\"} 0\n"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
