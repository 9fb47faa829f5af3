/*
 * The configuration loader: the documented example, defaults, one test per
 * error class checking "file:line: key: message", collection of several
 * errors, files, a large generated catalog, truncated input, and that
 * docs/configuration.md carries the current schema table.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "lib/as.h"

#define FILE_NAME "test.yaml"

/* The example from the issue, verbatim (comments included). */
static const char example[] =
	"node:\n"
	"  name: node1              # default gethostname()\n"
	"dns:\n"
	"  listen: [\"[::1]:5353\", \"127.0.0.1:5353\"]   # default [\"[::]:53\"]\n"
	"  zone: svc.example.       # required; valid DNS name\n"
	"  ttl: 5                   # default 5, 0..86400\n"
	"  max_answers: 2           # default 2, 1..64\n"
	"  workers: 1               # default 0 (= one per core), 0..256\n"
	"  nameservers: [ns1.svc.example.]   # default [\"ns.<zone>\"]\n"
	"  ns_addresses: [\"fd00:53::53\"]     # default []\n"
	"  negative_ttl: 5          # default 5, 0..86400 (SOA minimum)\n"
	"  tcp_idle_timeout: 10s    # default 10s\n"
	"  tcp_max_clients: 256     # default 256, 1..65535\n"
	"control:\n"
	"  socket: /run/anysteer/ctl.sock   # default /run/anysteer/ctl.sock\n"
	"metrics:\n"
	"  listen: \"[::1]:9153\"     # default \"[::1]:9153\"; \"\" disables\n"
	"load:\n"
	"  low_watermark: 0.6       # default 0.6, 0..1\n"
	"  high_watermark: 0.95     # default 0.95, 0..1, must be > low_watermark\n"
	"  interval: 1s             # default 1s (interval_ms), 100ms..1h\n"
	"  signal: cpu              # cpu | psi | loadavg, default cpu\n"
	"services:\n"
	"  - name: web              # required, a DNS label\n"
	"    port: 80               # required, 1..65535\n"
	"    protocol: tcp          # tcp | udp, default tcp\n"
	"    ttl: 10                # optional per-service override\n"
	"    max_answers: 3         # optional, 1..64\n"
	"    endpoints:             # list (may be empty)\n"
	"      - { address: \"fd00:10::1\", weight: 100, node: node1 }\n";

static int parse(const char *text, struct agent_config **cfg, char *err,
		 size_t errlen)
{
	return agent_config_parse(FILE_NAME, text, strlen(text), cfg, err,
				  errlen);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * Asserts that errbuf holds a line "test.yaml:LINE: KEY: ..." whose
 * message contains want.
 */
static void assert_has_error(const char *err, unsigned line, const char *key,
			     const char *want)
{
	char prefix[256];
	const char *p = err;

	snprintf(prefix, sizeof(prefix), "%s:%u: %s: ", FILE_NAME, line, key);
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			char msg[512];
			size_t m = AS_MIN(n - strlen(prefix), sizeof(msg) - 1);
			memcpy(msg, p + strlen(prefix), m);
			msg[m] = 0;
			if (strstr(msg, want))
				return;
		}
		p += n + (eol != NULL);
	}
	fail_msg("no error \"%s<...%s...>\" in:\n%s", prefix, want, err);
}

/* Parses text that must fail with exactly n_errors lines, one as given. */
static void expect_error(const char *text, size_t n_errors, unsigned line,
			 const char *key, const char *want)
{
	struct agent_config *cfg = NULL;
	char err[4096];

	int ret = parse(text, &cfg, err, sizeof(err));
	assert_int_equal(ret, AS_ECONFIG);
	assert_null(cfg);
	if (count_lines(err) != n_errors)
		fail_msg("expected %zu error line(s), got:\n%s", n_errors, err);
	assert_has_error(err, line, key, want);
}

static void test_example(void **state)
{
	struct agent_config *cfg = NULL;
	char err[1024], buf[AS_SOCKADDR_STRLEN];
	uint8_t want[16];

	int ret = parse(example, &cfg, err, sizeof(err));
	if (ret)
		fail_msg("parse failed (%d):\n%s", ret, err);
	assert_string_equal(err, "");
	assert_string_equal(cfg->path, FILE_NAME);
	assert_string_equal(cfg->node.name, "node1");

	assert_int_equal(cfg->dns.n_listen, 2);
	assert_string_equal(cfg->dns.listen[0], "[::1]:5353");
	assert_string_equal(cfg->dns.listen[1], "127.0.0.1:5353");
	assert_string_equal(as_format_sockaddr(&cfg->dns.listen_addrs[0], buf,
					       sizeof(buf)), "[::1]:5353");
	assert_string_equal(as_format_sockaddr(&cfg->dns.listen_addrs[1], buf,
					       sizeof(buf)), "127.0.0.1:5353");
	assert_string_equal(cfg->dns.zone, "svc.example.");
	assert_int_equal(cfg->dns.ttl, 5);
	assert_int_equal(cfg->dns.max_answers, 2);
	assert_int_equal(cfg->dns.workers, 1);
	assert_int_equal(cfg->dns.n_nameservers, 1);
	assert_string_equal(cfg->dns.nameservers[0], "ns1.svc.example.");
	assert_int_equal(cfg->dns.n_ns_addresses, 1);
	assert_string_equal(cfg->dns.ns_addresses[0], "fd00:53::53");
	assert_int_equal(cfg->dns.ns_addrs[0].ss_family, AF_INET6);
	inet_pton(AF_INET6, "fd00:53::53", want);
	assert_memory_equal(&((struct sockaddr_in6 *)&cfg->dns.ns_addrs[0])->sin6_addr,
			    want, 16);
	assert_int_equal(cfg->dns.negative_ttl, 5);
	assert_int_equal(cfg->dns.tcp_idle_timeout_ms, 10000);
	assert_int_equal(cfg->dns.tcp_max_clients, 256);

	assert_string_equal(cfg->control.socket, "/run/anysteer/ctl.sock");
	assert_string_equal(cfg->metrics.listen, "[::1]:9153");
	assert_string_equal(as_format_sockaddr(&cfg->metrics.listen_addr, buf,
					       sizeof(buf)), "[::1]:9153");

	assert_true(cfg->load.low_watermark == 0.6);
	assert_true(cfg->load.high_watermark == 0.95);
	assert_int_equal(cfg->load.interval_ms, 1000);
	assert_string_equal(cfg->load.signal, "cpu");

	assert_int_equal(cfg->n_services, 1);
	struct agent_service *s = &cfg->services[0];
	assert_string_equal(s->name, "web");
	assert_int_equal(s->port, 80);
	assert_string_equal(s->protocol, "tcp");
	assert_int_equal(s->ttl, 10);
	assert_int_equal(s->max_answers, 3);
	assert_int_equal(s->n_endpoints, 1);
	assert_string_equal(s->endpoints[0].address, "fd00:10::1");
	assert_int_equal(s->endpoints[0].family, AF_INET6);
	inet_pton(AF_INET6, "fd00:10::1", want);
	assert_memory_equal(s->endpoints[0].addr, want, 16);
	assert_int_equal(s->endpoints[0].weight, 100);
	assert_string_equal(s->endpoints[0].node, "node1");
	agent_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct agent_config *cfg = NULL;
	char err[1024], buf[AS_SOCKADDR_STRLEN], host[256] = "";
	const char *text =
		"dns:\n"
		"  zone: Svc.Example.COM\n"
		"services:\n"
		"  - name: API\n"
		"    port: 443\n"
		"    endpoints:\n"
		"      - address: 192.0.2.7\n"
		"  - name: empty\n"
		"    port: 53\n"
		"    protocol: UDP\n";

	gethostname(host, sizeof(host) - 1);
	int ret = parse(text, &cfg, err, sizeof(err));
	if (ret)
		fail_msg("parse failed (%d):\n%s", ret, err);
	assert_string_equal(cfg->node.name, host);
	assert_int_equal(cfg->dns.n_listen, 1);
	assert_string_equal(cfg->dns.listen[0], "[::]:53");
	assert_string_equal(as_format_sockaddr(&cfg->dns.listen_addrs[0], buf,
					       sizeof(buf)), "[::]:53");
	assert_string_equal(cfg->dns.zone, "svc.example.com.");
	assert_int_equal(cfg->dns.ttl, 5);
	assert_int_equal(cfg->dns.max_answers, 2);
	assert_int_equal(cfg->dns.workers, 0);
	assert_int_equal(cfg->dns.n_nameservers, 1);
	assert_string_equal(cfg->dns.nameservers[0], "ns.svc.example.com.");
	assert_int_equal(cfg->dns.n_ns_addresses, 0);
	assert_null(cfg->dns.ns_addresses);
	assert_int_equal(cfg->dns.negative_ttl, 5);
	assert_int_equal(cfg->dns.tcp_idle_timeout_ms, 10000);
	assert_int_equal(cfg->dns.tcp_message_timeout_ms, 500);
	assert_int_equal(cfg->dns.tcp_max_clients, 256);
	assert_int_equal(cfg->dns.tcp_max_clients_per_prefix, 32);
	assert_int_equal(cfg->dns.tcp_prefix_length_v6, 64);
	assert_int_equal(cfg->dns.tcp_prefix_length_v4, 32);
	assert_string_equal(cfg->control.socket, "/run/anysteer/ctl.sock");
	assert_string_equal(cfg->metrics.listen, "[::1]:9153");
	assert_int_equal(cfg->metrics.listen_addr.ss_family, AF_INET6);
	assert_true(cfg->load.low_watermark == 0.6);
	assert_true(cfg->load.high_watermark == 0.95);
	assert_int_equal(cfg->load.interval_ms, 1000);
	assert_string_equal(cfg->load.signal, "cpu");
	/* Measured, not pinned; the test knob off. */
	assert_string_equal(cfg->load.source, "measured");
	assert_true(cfg->load.value == 0);
	assert_false(cfg->load.override);

	assert_int_equal(cfg->n_services, 2);
	assert_string_equal(cfg->services[0].name, "api");
	assert_string_equal(cfg->services[0].protocol, "tcp");
	assert_int_equal(cfg->services[0].ttl, 0);
	assert_int_equal(cfg->services[0].max_answers, 0);
	assert_int_equal(cfg->services[0].n_endpoints, 1);
	struct agent_endpoint *ep = &cfg->services[0].endpoints[0];
	assert_int_equal(ep->family, AF_INET);
	assert_memory_equal(ep->addr, "\xc0\x00\x02\x07", 4);
	assert_int_equal(ep->weight, 100);
	assert_string_equal(ep->node, host);
	assert_string_equal(cfg->services[1].protocol, "udp");
	assert_int_equal(cfg->services[1].n_endpoints, 0);
	assert_null(cfg->services[1].endpoints);
	agent_config_free(cfg);
}

/* Forms that are accepted on purpose: the row, not YAML, types a value. */
static void test_lenient_forms(void **state)
{
	struct agent_config *cfg = NULL;
	char err[1024];
	const char *text =
		"node: { name: Edge-1.dc_2 }\n"
		"dns:\n"
		"  zone: .\n"
		"  listen: \"[fd00::1]\"\n"	/* one scalar = list of one */
		"  ttl: \"30\"\n"		/* quoted number */
		"  workers: ~\n"		/* null = default */
		"  tcp_idle_timeout: 250ms\n"
		"metrics:\n"
		"  listen: \"\"\n"		/* disabled */
		"load:\n"
		"  interval: 2\n"		/* bare seconds */
		"  signal: PSI\n"
		"  low_watermark: 0\n"
		"  high_watermark: 1\n"
		"services:\n";			/* null = no services */

	int ret = parse(text, &cfg, err, sizeof(err));
	if (ret)
		fail_msg("parse failed (%d):\n%s", ret, err);
	assert_string_equal(cfg->node.name, "Edge-1.dc_2");
	assert_string_equal(cfg->dns.zone, ".");
	assert_string_equal(cfg->dns.nameservers[0], "ns.");
	assert_int_equal(cfg->dns.n_listen, 1);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&cfg->dns.listen_addrs[0])->sin6_port), 53);
	assert_int_equal(cfg->dns.ttl, 30);
	assert_int_equal(cfg->dns.workers, 0);
	assert_int_equal(cfg->dns.tcp_idle_timeout_ms, 250);
	assert_string_equal(cfg->metrics.listen, "");
	assert_int_equal(cfg->metrics.listen_addr.ss_family, AF_UNSPEC);
	assert_int_equal(cfg->load.interval_ms, 2000);
	assert_string_equal(cfg->load.signal, "psi");
	assert_int_equal(cfg->n_services, 0);
	agent_config_free(cfg);
}

#define ZONE "dns:\n  zone: example.com\n"

static void test_err_syntax(void **state)
{
	expect_error(ZONE "   ttl: 5\n", 1, 3, "(yaml)",
		     "mapping values are not allowed");
	expect_error(ZONE "  ttl: [1, 2\n", 1, 4, "(yaml)", "flow sequence");
	/* Invalid UTF-8 is a reader error with a byte offset. */
	expect_error(ZONE "  ttl: \"\xff\"\n", 1, 3, "(yaml)", "byte");
}

/* Nesting past what any configuration needs is one clear error, found
 * before libyaml has scanned far (issue 11: 200,000 nested '[' ran for
 * over a minute); a value nested under a valid key is refused the same. */
static void test_err_too_deep(void **state)
{
	enum { N = 200000 };
	char *text = malloc(N + 64);

	(void)state;
	assert_non_null(text);
	memset(text, '[', N);
	strcpy(text + N, "\n");
	expect_error(text, 1, 1, "(yaml)", "document nested deeper than 64 levels");
	size_t len = (size_t)sprintf(text, "%s  ttl: ", ZONE);
	memset(text + len, '{', 100);
	strcpy(text + len + 100, "\n");
	expect_error(text, 1, 3, "(yaml)", "nested deeper than 64 levels");
	free(text);
}

/* Reloads parse on libuv worker threads: loads running at once, good and
 * bad, give each its own result (under the sanitizers, a shared buffer
 * would show). No cmocka assertions off the main thread: each thread
 * counts what it got. */
struct load_job {
	int ok, bad;
};

static void *load_many(void *arg)
{
	struct load_job *j = arg;
	static const char bad[] = ZONE "  ttl: -1\n";

	for (int i = 0; i < 40; i++) {
		struct agent_config *cfg = NULL;
		char err[1024];
		const char *text = i % 2 ? bad : example;
		int ret = agent_config_parse(FILE_NAME, text, strlen(text), &cfg,
					     err, sizeof(err));
		if (i % 2)
			j->bad += ret == AS_ECONFIG && !cfg &&
				  strstr(err, "test.yaml:3: dns.ttl:") != NULL;
		else
			j->ok += ret == AS_OK && cfg && strcmp(cfg->node.name, "node1") == 0;
		agent_config_free(cfg);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	struct load_job j[4] = { { 0 } };

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, load_many, &j[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(j[i].ok, 20);
		assert_int_equal(j[i].bad, 20);
	}
}

static void test_err_unknown_key(void **state)
{
	expect_error(ZONE "  max_answer: 3\n", 1, 3, "dns.max_answer",
		     "unknown key; did you mean 'max_answers'?");
	expect_error("dsn:\n  zone: a.\n" ZONE, 1, 1, "dsn",
		     "did you mean 'dns'?");
	expect_error(ZONE "frobnicate: 1\n", 1, 3, "frobnicate", "unknown key");
	/* Nothing close: no suggestion. */
	struct agent_config *cfg = NULL;
	char err[512];
	assert_int_equal(parse(ZONE "frobnicate: 1\n", &cfg, err, sizeof(err)),
			 AS_ECONFIG);
	assert_null(strstr(err, "did you mean"));
	/* Unknown keys deeper down carry the full path. */
	expect_error(ZONE "services:\n  - name: a\n    port: 1\n"
		     "    endpoints:\n      - address: ::1\n        wieght: 5\n",
		     1, 8, "services[0].endpoints[0].wieght",
		     "did you mean 'weight'?");
}

static void test_err_wrong_type(void **state)
{
	expect_error(ZONE "  ttl: {a: 1}\n", 1, 3, "dns.ttl",
		     "expected an unsigned integer, got a map");
	expect_error(ZONE "  ttl: five\n", 1, 3, "dns.ttl",
		     "expected an unsigned integer, got five");
	expect_error(ZONE "  max_answers: \"1.5\"\n", 1, 3, "dns.max_answers",
		     "expected an unsigned integer, got 1.5");
	expect_error("dns:\n  zone: [a.]\n", 1, 2, "dns.zone",
		     "expected a DNS name, got a list");
	expect_error(ZONE "load:\n  low_watermark: half\n", 1, 4,
		     "load.low_watermark", "expected a number, got half");
	expect_error(ZONE "load:\n  interval: soon\n", 1, 4, "load.interval",
		     "expected a duration");
	expect_error(ZONE "control: /tmp/x\n", 1, 3, "control",
		     "expected a map, got a scalar");
	expect_error(ZONE "services:\n  name: web\n", 1, 4, "services",
		     "expected a list of maps, got a map");
	expect_error(ZONE "services:\n  - web\n", 1, 4, "services[0]",
		     "expected a map, got a scalar");
	expect_error(ZONE "  listen: {a: b}\n", 1, 3, "dns.listen",
		     "expected a list, got a map");
	expect_error(ZONE "  listen: [[\"[::1]:53\"]]\n", 1, 3, "dns.listen[0]",
		     "got a list");
	expect_error(ZONE "  listen: [\"[::1]:53\", ]\n  nameservers: [a., ~]\n",
		     1, 4, "dns.nameservers[1]", "empty list item");
}

/* node.zone and services[].intent (issue 16): values, defaults, and an
 * error per bad key that names it. */
static void test_intent(void **state)
{
	struct agent_config *cfg = NULL;
	char err[2048];
	const char *text =
		"node:\n  name: n1\n  zone: eu-west-1a\n"
		ZONE
		"services:\n"
		"  - name: api\n    port: 443\n"
		"    intent:\n      objective: Locality\n      spill_over: 0.5\n"
		"  - name: db\n    port: 5432\n"
		"    intent: { objective: resilience, spread: zone }\n"
		"  - name: web\n    port: 80\n"
		"  - name: lat\n    port: 80\n    intent: { objective: latency }\n"
		"  - name: near\n    port: 80\n"
		"    intent: { objective: latency, spill_over: 0.5 }\n";

	(void)state;
	if (parse(text, &cfg, err, sizeof(err)))
		fail_msg("parse failed:\n%s", err);
	assert_string_equal(cfg->node.zone, "eu-west-1a");
	assert_string_equal(cfg->services[0].intent.objective, "locality");
	assert_true(cfg->services[0].intent.spill_over == 0.5);
	assert_string_equal(cfg->services[1].intent.objective, "resilience");
	assert_string_equal(cfg->services[1].intent.spread, "zone");
	assert_true(cfg->services[1].intent.spill_over == 0.8);
	assert_string_equal(cfg->services[2].intent.objective, "balance");
	assert_string_equal(cfg->services[2].intent.spread, "node");
	assert_string_equal(cfg->services[3].intent.objective, "latency");
	assert_true(cfg->services[3].intent.spill_over == 0.8);
	/* latency reads a spill_over of its own */
	assert_string_equal(cfg->services[4].intent.objective, "latency");
	assert_true(cfg->services[4].intent.spill_over == 0.5);
	agent_config_free(cfg);

	assert_int_equal(parse(ZONE, &cfg, err, sizeof(err)), AS_OK);
	assert_null(cfg->node.zone);
	agent_config_free(cfg);

	/* dns.client_zones */
	assert_int_equal(parse("dns:\n  zone: example.com\n  client_zones:\n"
			       "    - { prefix: \"fd00:b::/48\", zone: b }\n"
			       "    - { prefix: 10.2.0.0/16, zone: eu-west-1b }\n",
			       &cfg, err, sizeof(err)), AS_OK);
	assert_int_equal(cfg->dns.n_client_zones, 2);
	assert_string_equal(cfg->dns.client_zones[1].prefix, "10.2.0.0/16");
	assert_string_equal(cfg->dns.client_zones[1].zone, "eu-west-1b");
	agent_config_free(cfg);
	expect_error(ZONE "  client_zones:\n    - { prefix: \"fd00:b::1/48\", zone: b }\n",
		     1, 4, "dns.client_zones[0].prefix", "");
	expect_error(ZONE "  client_zones:\n    - { prefix: \"fd00:b::/48\", zone: \"b c\" }\n",
		     1, 4, "dns.client_zones[0].zone", "invalid character");
	expect_error(ZONE "  client_zones:\n    - { zone: b }\n", 1, 4,
		     "dns.client_zones[0].prefix", "");
	expect_error(ZONE "  client_zones:\n    - { prefix: \"fd00:b::/48\", zone: b }\n"
		     "    - { prefix: \"FD00:B::/48\", zone: c }\n", 1, 5,
		     "dns.client_zones[1].prefix", "duplicate prefix");
#define SVC ZONE "services:\n  - name: api\n    port: 443\n"
	expect_error("node:\n  zone: eu west\n" ZONE, 1, 2, "node.zone",
		     "invalid character");
	expect_error("node:\n  zone: \"-a\"\n" ZONE, 1, 2, "node.zone",
		     "must begin and end with a letter or digit");
	expect_error(SVC "    intent: { objective: nearest }\n", 1, 6,
		     "services[0].intent.objective",
		     "balance, locality, resilience, latency");
	expect_error(SVC "    intent:\n      objective: locality\n"
		     "      spill_over: 1.5\n", 1, 8,
		     "services[0].intent.spill_over", "must be between 0 and 1");
	expect_error(SVC "    intent:\n      spill_over: 0.5\n", 1, 7,
		     "services[0].intent.spill_over",
		     "applies to objectives locality and latency only "
		     "(objective is balance)");
	expect_error(SVC "    intent:\n      objective: resilience\n"
		     "      spill_over: 0.5\n", 1, 8,
		     "services[0].intent.spill_over",
		     "applies to objectives locality and latency only "
		     "(objective is resilience)");
	expect_error(SVC "    intent:\n      objective: locality\n"
		     "      spread: zone\n", 1, 8, "services[0].intent.spread",
		     "applies to objective resilience only");
	expect_error(SVC "    intent:\n      objective: resilience\n"
		     "      spread: rack\n", 1, 8, "services[0].intent.spread",
		     "node, zone");
	expect_error(SVC "    intent:\n      goal: locality\n", 1, 7,
		     "services[0].intent.goal", "unknown key");
#undef SVC
}

static void test_err_range(void **state)
{
	expect_error(ZONE "  ttl: 86401\n", 1, 3, "dns.ttl",
		     "must be between 0 and 86400, got 86401");
	expect_error(ZONE "  ttl: -1\n", 1, 3, "dns.ttl",
		     "must be between 0 and 86400, got -1");
	expect_error(ZONE "  max_answers: 0\n", 1, 3, "dns.max_answers",
		     "must be between 1 and 64");
	expect_error(ZONE "  workers: 99999999999999999999999\n", 1, 3,
		     "dns.workers", "must be between 0 and 256");
	expect_error(ZONE "load:\n  high_watermark: 1.5\n", 1, 4,
		     "load.high_watermark", "must be between 0 and 1, got 1.5");
	expect_error(ZONE "load:\n  interval: 50ms\n", 1, 4, "load.interval",
		     "must be between 100ms and 1h, got 50ms");
	expect_error(ZONE "  tcp_idle_timeout: 2h\n", 1, 3,
		     "dns.tcp_idle_timeout", "must be between 100ms and 1h");
	expect_error(ZONE "  tcp_message_timeout: 10ms\n", 1, 3,
		     "dns.tcp_message_timeout", "must be between 50ms and 1m");
	expect_error(ZONE "  tcp_max_clients_per_prefix: 0\n", 1, 3,
		     "dns.tcp_max_clients_per_prefix",
		     "must be between 1 and 65535, got 0");
	expect_error(ZONE "  tcp_prefix_length_v6: 129\n", 1, 3,
		     "dns.tcp_prefix_length_v6", "must be between 1 and 128");
	expect_error(ZONE "  tcp_prefix_length_v4: 33\n", 1, 3,
		     "dns.tcp_prefix_length_v4", "must be between 1 and 32");
	/* The key path named in the issue. */
	expect_error(ZONE "services:\n"
		     "  - name: a\n    port: 1\n"
		     "  - name: b\n    port: 2\n    endpoints:\n"
		     "      - address: fd00::1\n        weight: 70000\n",
		     1, 10, "services[1].endpoints[0].weight",
		     "must be between 0 and 65535, got 70000");
	expect_error(ZONE "services:\n  - name: a\n    port: 0\n", 1, 5,
		     "services[0].port", "must be between 1 and 65535");
}

static void test_err_invalid_values(void **state)
{
	expect_error(ZONE "  listen: [\"[::1]:53\", \"[::1]:99999\"]\n", 1, 3,
		     "dns.listen[1]", "invalid address [::1]:99999");
	expect_error(ZONE "  listen: \"localhost:53\"\n", 1, 3, "dns.listen",
		     "invalid address");
	expect_error(ZONE "metrics:\n  listen: \"[::1\"\n", 1, 4,
		     "metrics.listen", "invalid address");
	expect_error(ZONE "  ns_addresses: [fd00::53, 10.0.0.300]\n", 1, 3,
		     "dns.ns_addresses[1]", "invalid IP address 10.0.0.300");
	expect_error(ZONE "services:\n  - name: a\n    port: 1\n    endpoints:\n"
		     "      - address: \"[fd00::1]:80\"\n", 1, 7,
		     "services[0].endpoints[0].address", "invalid IP address");
	expect_error("dns:\n  zone: exa mple.com\n", 1, 2, "dns.zone",
		     "invalid DNS name exa mple.com: invalid character");
	expect_error("dns:\n  zone: a..b\n", 1, 2, "dns.zone", "empty label");
	expect_error("dns:\n  zone: "
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com\n",
		     1, 2, "dns.zone", "label longer than 63");
	expect_error(ZONE "  nameservers: [\"ns1.example.com\", \"-bad_.x!\"]\n",
		     1, 3, "dns.nameservers[1]", "invalid DNS name");
	expect_error(ZONE "services:\n  - name: web.api\n    port: 80\n", 1, 4,
		     "services[0].name", "invalid DNS label web.api");
	expect_error(ZONE "services:\n  - name: -web\n    port: 80\n", 1, 4,
		     "services[0].name", "may not begin or end with '-'");
	expect_error("node:\n  name: bad name!\n" ZONE, 1, 2, "node.name",
		     "invalid character");
	expect_error(ZONE "services:\n  - name: a\n    port: 1\n    endpoints:\n"
		     "      - { address: \"::1\", node: \"x y\" }\n", 1, 7,
		     "services[0].endpoints[0].node", "invalid character");
	expect_error(ZONE "services:\n  - name: a\n    port: 1\n    protocol: sctp\n",
		     1, 6, "services[0].protocol",
		     "must be one of tcp, udp, got sctp");
	expect_error(ZONE "load:\n  signal: memory\n", 1, 4, "load.signal",
		     "must be one of cpu, psi, loadavg");
	char longpath[300];
	snprintf(longpath, sizeof(longpath), ZONE "control:\n  socket: /%0150d\n", 0);
	expect_error(longpath, 1, 4, "control.socket", "UNIX socket path");
	/* A NUL inside a quoted scalar is refused, not cut short. */
	static const char nul[] = "dns:\n  zone: \"exa\\0mple.com\"\n";
	expect_error(nul, 1, 2, "dns.zone", "NUL");
	static const char nulkey[] = ZONE "  \"ttl\\0x\": 5\n";
	expect_error(nulkey, 1, 3, "dns.ttl?x", "unknown key");
}

static void test_err_missing(void **state)
{
	expect_error("node:\n  name: a\n", 1, 1, "dns.zone",
		     "required key is missing");
	/* A key missing from a section is blamed on the section's key. */
	expect_error("dns:\n  ttl: 5\n", 1, 1, "dns.zone",
		     "required key is missing");
	expect_error("dns:\n  zone:\n", 1, 2, "dns.zone", "needs a value");
	expect_error(ZONE "services:\n  - port: 80\n", 1, 4, "services[0].name",
		     "required key is missing");
	expect_error(ZONE "services:\n  - name: a\n    endpoints:\n"
		     "      - weight: 5\n", 2, 6,
		     "services[0].endpoints[0].address", "required key is missing");
}

static void test_err_duplicates(void **state)
{
	expect_error("dns:\n  zone: example.com\n  ttl: 5\n  ttl: 6\n", 1, 4,
		     "dns.ttl", "duplicate key (first at line 3)");
	expect_error(ZONE "dns:\n  ttl: 1\n", 1, 3, "dns",
		     "duplicate key (first at line 1)");
	expect_error(ZONE "services:\n"
		     "  - name: web\n    port: 80\n"
		     "  - name: db\n    port: 5432\n"
		     "  - name: WEB\n    port: 81\n",
		     1, 8, "services[2].name",
		     "duplicate service name web (first at line 4)");
	expect_error(ZONE "services:\n  - name: a\n    port: 1\n    endpoints:\n"
		     "      - address: fd00::1\n"
		     "      - address: 192.0.2.1\n"
		     "      - address: \"fd00:0::1\"\n", 1, 9,
		     "services[0].endpoints[2].address",
		     "duplicate endpoint address fd00:0::1 (first at line 7)");
}

/* The static load source and the override knob (issue 18). */
static void test_load_source(void **state)
{
	struct agent_config *cfg = NULL;
	char err[4096];
	(void)state;

	assert_int_equal(parse(ZONE "load:\n  source: static\n  value: 0.9\n"
			       "  override: true\n", &cfg, err, sizeof(err)), AS_OK);
	assert_string_equal(cfg->load.source, "static");
	assert_true(cfg->load.value == 0.9);
	assert_true(cfg->load.override);
	agent_config_free(cfg);
	/* Static without a value: 0, an idle node. */
	assert_int_equal(parse(ZONE "load:\n  source: static\n", &cfg, err,
			       sizeof(err)), AS_OK);
	assert_true(cfg->load.value == 0);
	agent_config_free(cfg);
	expect_error(ZONE "load:\n  source: fixed\n", 1, 4, "load.source",
		     "measured, static");
	expect_error(ZONE "load:\n  source: static\n  value: 1.5\n", 1, 5,
		     "load.value", "");
	expect_error(ZONE "load:\n  source: static\n  value: -0.1\n", 1, 5,
		     "load.value", "");
	expect_error(ZONE "load:\n  override: maybe\n", 1, 4, "load.override", "");
}

static void test_err_cross_checks(void **state)
{
	expect_error(ZONE "load:\n  low_watermark: 0.9\n  high_watermark: 0.8\n",
		     1, 5, "load.high_watermark",
		     "must be greater than load.low_watermark");
	/* Equal is not enough; the default high (0.95) counts too. */
	expect_error(ZONE "load:\n  low_watermark: 0.95\n", 1, 3,
		     "load.high_watermark", "must be greater");
	/* A value the measured source would ignore is an error. */
	expect_error(ZONE "load:\n  value: 0.3\n", 1, 4, "load.value",
		     "only with load.source: static");
	expect_error(ZONE "load:\n  source: measured\n  value: 0.3\n", 1, 5,
		     "load.value", "only with load.source: static");
	expect_error(ZONE "  listen: []\n", 1, 3, "dns.listen",
		     "must not be empty");
	expect_error(ZONE "  nameservers: []\n", 1, 3, "dns.nameservers",
		     "must not be empty");
}

/*
 * Issue 13: `my_svc` passed --check-config and the daemon then refused the
 * view ("dns: bad service name"). Names are now judged by dns/name.c in
 * both places: every name the loader accepts, the view accepts.
 */
static const char *const svc_names[] = {
	"web", "Web", "WEB-1", "3d", "a", "my_svc", "_web", "web-", "-web",
	"web.api", "ns", "ns1", "dns",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

/* The view the daemon builds from cfg's zone, nameservers and names. */
static bool view_accepts(const struct agent_config *cfg)
{
	struct dns_service_spec svcs[4];
	struct dns_view_spec spec = {
		.zone = cfg->dns.zone,
		.nameservers = (const char *const *)cfg->dns.nameservers,
		.n_nameservers = cfg->dns.n_nameservers,
		.services = svcs,
		.n_services = cfg->n_services,
	};
	int err = 0;

	assert_true(cfg->n_services <= AS_ARRAY_SIZE(svcs));
	for (size_t i = 0; i < cfg->n_services; i++)
		svcs[i] = (struct dns_service_spec){
			.name = cfg->services[i].name,
			.proto = cfg->services[i].protocol,
			.port = cfg->services[i].port,
		};
	dns_view_t *v = NULL;
	err = dns_view_new(&spec, &v);
	dns_view_unref(v);
	return err == AS_OK && v != NULL;
}

static void test_names_agree_with_view(void **state)
{
	static const char *const zones[] = {
		"example.com",
		/* 183 characters: a 63-character name just fits. */
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
		/* 184: it does not. */
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
	};
	static const char *const ns_lines[] = {
		"", "  nameservers: [ns1.example.net, dns]\n",
	};
	size_t accepted = 0, rejected = 0;
	(void)state;

	for (size_t z = 0; z < AS_ARRAY_SIZE(zones); z++)
	for (size_t k = 0; k < AS_ARRAY_SIZE(ns_lines); k++)
	for (size_t i = 0; i < AS_ARRAY_SIZE(svc_names); i++) {
		char text[1024], err[2048];
		struct agent_config *cfg = NULL;
		snprintf(text, sizeof(text),
			 "dns:\n  zone: %s\n%sservices:\n  - name: %s\n"
			 "    port: 80\n", zones[z], ns_lines[k], svc_names[i]);
		int rc = parse(text, &cfg, err, sizeof(err));
		if (rc == AS_OK) {
			if (!view_accepts(cfg))
				fail_msg("the config accepts the service name "
					 "%s (zone %s) but the view does not",
					 svc_names[i], zones[z]);
			accepted++;
		} else {
			assert_int_equal(rc, AS_ECONFIG);
			assert_has_error(err, 4 + (k ? 1 : 0),
					 "services[0].name", svc_names[i][0] ?
					 "" : "");
			rejected++;
		}
		agent_config_free(cfg);
	}
	/* Both verdicts occur; the exact ones are asserted below. */
	assert_true(accepted > 0 && rejected > 0);
}

static void test_err_service_names(void **state)
{
	(void)state;
	expect_error(ZONE "services:\n  - name: my_svc\n    port: 80\n", 1, 4,
		     "services[0].name",
		     "invalid DNS label my_svc: invalid character");
	expect_error(ZONE "services:\n  - name: web-\n    port: 80\n", 1, 4,
		     "services[0].name", "may not begin or end with '-'");
	expect_error(ZONE "services:\n  - name: "
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "\n    port: 80\n", 1, 4, "services[0].name",
		     "longer than 63");
	/* The nameserver label is decided by dns.nameservers: "ns" by
	 * default, and only in the zone itself. */
	expect_error(ZONE "services:\n  - name: ns\n    port: 53\n", 1, 4,
		     "services[0].name",
		     "service name ns is the name of one of the zone's "
		     "nameservers");
	expect_error(ZONE "  nameservers: [ns1.example.com, ns.example.net]\n"
		     "services:\n  - name: NS1\n    port: 53\n", 1, 5,
		     "services[0].name", "nameservers");
	expect_error("dns:\n  zone: "
		     "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		     "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		     "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz."
		     "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n"
		     "services:\n  - name: a-service-name-of-fifty-characters-"
		     "which-is-too-long\n"
		     "    port: 80\n", 1, 4, "services[0].name",
		     "too long for the zone");
	/* Host names follow the same rule: no '_', no '-' at a label's end. */
	expect_error("dns:\n  zone: a-.example.com\n", 1, 2, "dns.zone",
		     "may not begin or end with '-'");
	expect_error(ZONE "  nameservers: [ns_1.example.com]\n", 1, 3,
		     "dns.nameservers[0]", "invalid character");
	/* BIRD names: routing/'s rule and reasons. */
	expect_error(ZONE "bird:\n  protocol: any-steer\n", 1, 4,
		     "bird.protocol", "invalid character (a BIRD protocol");
	expect_error(ZONE "bird:\n  export_protocol: 9up\n", 1, 4,
		     "bird.export_protocol", "must start with a letter");

	/* Case: one name, kept in lower case. */
	struct agent_config *cfg = NULL;
	char err[1024];
	assert_int_equal(parse(ZONE "  nameservers: [ns1.example.com]\n"
			       "services:\n  - name: Web\n    port: 80\n"
			       "  - name: ns\n    port: 53\n",
			       &cfg, err, sizeof(err)), AS_OK);
	assert_string_equal(cfg->services[0].name, "web");
	assert_string_equal(cfg->services[1].name, "ns");
	agent_config_free(cfg);
}

static void test_err_view_limits(void **state)
{
	char *text = malloc(64 * 1024);
	size_t n;
	(void)state;

	assert_non_null(text);
	n = (size_t)sprintf(text, ZONE "  nameservers:\n");
	for (int i = 0; i <= DNS_MAX_NAMESERVERS; i++)
		n += (size_t)sprintf(text + n, "    - ns%d.example.net\n", i);
	expect_error(text, 1, 4, "dns.nameservers", "at most 255 names, got 256");
	free(text);
}

/* The sections of the later issues: gossip, anycast, kubernetes. */
static void test_cluster_sections(void **state)
{
	struct agent_config *cfg = NULL;
	char err[4096];

	(void)state;
	expect_error(ZONE "gossip:\n  bind: \"[::1]:7946\"\n  keyring: \"\"\n",
		     1, 5, "gossip.keyring", "required unless gossip.plaintext");
	expect_error(ZONE "gossip:\n  bind: \"[::1]:7946\"\n"
		     "  keyring: /k\n  advertise: \"[::]:7946\"\n", 1, 6,
		     "gossip.advertise", "not a wildcard");
	expect_error(ZONE "gossip:\n  keyring: /k\n  probe_interval: 100ms\n"
		     "  probe_timeout: 200ms\n", 1, 6, "gossip.probe_timeout",
		     "must be shorter than gossip.probe_interval");
	expect_error(ZONE "gossip:\n  keyring: /k\n  cluster: \"a b\"\n", 1, 5,
		     "gossip.cluster", "invalid character");
	expect_error(ZONE "kubernetes:\n  enabled: yes\n  kubeconfig: kc\n", 1, 5,
		     "kubernetes.kubeconfig", "must be an absolute path");
	expect_error(ZONE "kubernetes:\n  node_name: Node_A\n", 1, 4,
		     "kubernetes.node_name", "invalid character");
	expect_error(ZONE "kubernetes:\n  enable: true\n", 1, 4,
		     "kubernetes.enable", "unknown key");
	expect_error(ZONE "anycast:\n  addresses: [fd00:53::53]\n  rise: 0\n",
		     1, 5, "anycast.rise", "must be between 1 and 100");

	/* A wildcard bind is fine: the address to advertise is found at
	 * start (agent/cluster.c). */
	assert_int_equal(parse(ZONE "gossip:\n  bind: \"[::]:7946\"\n"
			       "  keyring: /k\n", &cfg, err, sizeof(err)), AS_OK);
	assert_true(cfg->gossip.enabled);
	assert_null(cfg->gossip.advertise);
	agent_config_free(cfg);

	/* kubernetes.node_name: NODE_NAME (the DaemonSet's spec.nodeName),
	 * else node.name; an explicit value wins over both. */
	unsetenv("NODE_NAME");
	assert_int_equal(parse("node:\n  name: n1\n" ZONE "kubernetes:\n"
			       "  enabled: true\n", &cfg, err, sizeof(err)), AS_OK);
	assert_true(cfg->kubernetes.enabled);
	assert_string_equal(cfg->kubernetes.node_name, "n1");
	assert_string_equal(cfg->kubernetes.kubeconfig, "");
	agent_config_free(cfg);
	setenv("NODE_NAME", "worker-7.example", 1);
	assert_int_equal(parse("node:\n  name: n1\n" ZONE "kubernetes:\n"
			       "  enabled: true\n", &cfg, err, sizeof(err)), AS_OK);
	assert_string_equal(cfg->kubernetes.node_name, "worker-7.example");
	agent_config_free(cfg);
	assert_int_equal(parse("node:\n  name: n1\n" ZONE "kubernetes:\n"
			       "  node_name: w2\n", &cfg, err, sizeof(err)), AS_OK);
	assert_string_equal(cfg->kubernetes.node_name, "w2");
	assert_false(cfg->kubernetes.enabled);
	agent_config_free(cfg);
	unsetenv("NODE_NAME");
}

static void test_err_document(void **state)
{
	expect_error("- a\n- b\n", 1, 1, "(document)",
		     "expected a map of sections at the top level, got a list");
	expect_error("just words\n", 1, 1, "(document)", "got a scalar");
	expect_error("", 1, 1, "(document)", "the configuration is empty");
	expect_error("# only a comment\n\n", 1, 1, "(document)", "empty");
	expect_error("---\n", 1, 1, "(document)", "empty");
	expect_error(ZONE "---\ndns:\n  zone: b.\n", 1, 4, "(document)",
		     "more than one YAML document");
	expect_error("? [a, b]\n: 1\n" ZONE, 1, 1, "(document)",
		     "a key must be a plain word");
	/* An alias may not make the walk revisit a list: blamed on the
	 * anchored list (line 4), under the path of its second use. */
	expect_error(ZONE "services:\n"
		     "  - &s { name: a, port: 1, endpoints: &e [ {address: \"::1\"} ] }\n"
		     "  - { name: b, port: 1, endpoints: *e }\n", 1, 4,
		     "services[1].endpoints", "alias");
}

/* Anchors and aliases as the YAML tree resolves them: a scalar alias is
 * the anchored text, a container may be walked once, and an unknown or
 * repeated anchor is a syntax error on its line. */
static void test_anchors(void **state)
{
	struct agent_config *cfg = NULL;
	char err[1024];

	(void)state;
	assert_int_equal(parse("dns:\n  zone: &z a.example.\n"
			       "  nameservers: [*z, *z]\n", &cfg, err,
			       sizeof(err)), AS_OK);
	assert_int_equal(cfg->dns.n_nameservers, 2);
	assert_string_equal(cfg->dns.nameservers[0], "a.example.");
	assert_string_equal(cfg->dns.nameservers[1], "a.example.");
	agent_config_free(cfg);
	expect_error(ZONE "  ttl: 5\n  max_answers: *nope\n", 1, 4, "(yaml)",
		     "found undefined alias");
	expect_error("dns: &a\n  zone: &a example.com\n", 1, 2, "(yaml)",
		     "second occurrence (found duplicate anchor; first "
		     "occurrence at line 1)");
	/* A list that holds itself is walked once, not forever; its item
	 * is the list, which starts at its anchor (line 3). */
	expect_error(ZONE "services: &r\n  - *r\n", 1, 3, "services[0]",
		     "expected a map, got a list");
	/* A syntax error in a second document is reported, on its line. */
	expect_error(ZONE "---\ndns: [a\n", 1, 5, "(yaml)",
		     "while parsing a flow sequence at line 4");
}

/* Several problems in one file are all reported, in document order. */
static void test_multiple_errors(void **state)
{
	struct agent_config *cfg = NULL;
	char err[4096];
	const char *text =
		"dns:\n"			/* 1 */
		"  ttl: 100000\n"		/* 2 */
		"  lisen: [\"[::1]:53\"]\n"	/* 3 */
		"load:\n"			/* 4 */
		"  signal: mem\n"		/* 5 */
		"services:\n"			/* 6 */
		"  - name: a\n"			/* 7 */
		"    port: http\n"		/* 8 */
		"    endpoints:\n"		/* 9 */
		"      - address: nope\n";	/* 10 */

	assert_int_equal(parse(text, &cfg, err, sizeof(err)), AS_ECONFIG);
	assert_null(cfg);
	if (count_lines(err) != 6)
		fail_msg("expected 6 errors, got:\n%s", err);
	assert_has_error(err, 1, "dns.zone", "required key is missing");
	assert_has_error(err, 2, "dns.ttl", "must be between");
	assert_has_error(err, 3, "dns.lisen", "did you mean 'listen'?");
	assert_has_error(err, 5, "load.signal", "must be one of");
	assert_has_error(err, 8, "services[0].port", "expected an unsigned integer");
	assert_has_error(err, 10, "services[0].endpoints[0].address",
			 "invalid IP address nope");
	/* In file order, whatever order the checks ran in. */
	unsigned prev = 0;
	for (const char *p = err; *p; p = strchr(p, '\n') + 1) {
		unsigned line = (unsigned)atoi(p + strlen(FILE_NAME ":"));
		assert_true(line > prev);
		prev = line;
	}
}

/* Every prefix of the example parses or fails with well-formed lines. */
static void test_truncated_input(void **state)
{
	char err[4096], want[64];
	size_t n = strlen(example), ok = 0, bad = 0;

	for (size_t len = 0; len <= n; len++) {
		struct agent_config *cfg = NULL;
		int ret = agent_config_parse(FILE_NAME, example, len, &cfg, err,
					     sizeof(err));
		if (ret == AS_OK) {
			ok++;
			agent_config_free(cfg);
			continue;
		}
		assert_int_equal(ret, AS_ECONFIG);
		assert_null(cfg);
		bad++;
		assert_true(count_lines(err) >= 1);
		for (const char *p = err; *p; p = strchr(p, '\n') + 1) {
			snprintf(want, sizeof(want), "%s:", FILE_NAME);
			assert_memory_equal(p, want, strlen(want));
			unsigned line = (unsigned)atoi(p + strlen(want));
			assert_true(line >= 1 && line <= 31);
		}
	}
	/* Cut short before dns.zone fails; after the last service key, ok. */
	assert_true(ok > 0 && bad > 0);
}

static void test_errbuf_limits(void **state)
{
	struct agent_config *cfg = NULL;
	char small[48];
	const char *text = ZONE "  ttl: x\n  workers: y\n";

	memset(small, 'Z', sizeof(small));
	assert_int_equal(parse(text, &cfg, small, sizeof(small)), AS_ECONFIG);
	assert_null(cfg);
	/* Whole lines only: the first line is longer than the buffer. */
	assert_true(strlen(small) < sizeof(small));
	assert_true(small[0] == 0 || small[strlen(small) - 1] == '\n');
	assert_int_equal(parse(text, &cfg, NULL, 0), AS_ECONFIG);
	assert_int_equal(parse(example, &cfg, NULL, 0), AS_OK);
	agent_config_free(cfg);
	agent_config_free(NULL);
}

static void test_load_file(void **state)
{
	struct agent_config *cfg = NULL;
	char path[] = "/tmp/anysteer-cfg-XXXXXX", err[1024];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, example, strlen(example)), (ssize_t)strlen(example));
	close(fd);
	int ret = agent_config_load(path, &cfg, err, sizeof(err));
	if (ret)
		fail_msg("load failed (%d):\n%s", ret, err);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->services[0].endpoints[0].node, "node1");
	agent_config_free(cfg);

	/* Errors name the file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "dns:\n  zone: a.\n  tll: 3\n", 25), 25);
	close(fd);
	cfg = NULL;
	assert_int_equal(agent_config_load(path, &cfg, err, sizeof(err)),
			 AS_ECONFIG);
	assert_null(cfg);
	char want[128];
	snprintf(want, sizeof(want), "%s:3: dns.tll: unknown key; did you mean 'ttl'?\n",
		 path);
	assert_string_equal(err, want);
	unlink(path);

	assert_int_equal(agent_config_load(path, &cfg, err, sizeof(err)),
			 -ENOENT);
	assert_null(cfg);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(agent_config_load("/tmp", &cfg, err, sizeof(err)),
			 -EISDIR);
	assert_non_null(strstr(err, "/tmp: cannot read"));
}


/* issue 17: srv6, services[].intent and node.role. The topology file is
 * checked by the same parser the agent reads it with. */
static void test_srv6_and_intents(void **state)
{
	(void)state;
	char topo[] = "/tmp/anysteer-topo-XXXXXX", text[2048], err[4096];
	const char *tp = "routers: [{name: ra, sid: \"fd00:5a::a\"}]\n"
			 "hosts:\n"
			 "  - {name: n1, sid: \"fd00:5b::1\", prefixes: [\"fd00:10::/64\"]}\n"
			 "links: [{between: [n1, ra], latency_us: 5, bandwidth_kbps: 9}]\n";
	struct agent_config *cfg = NULL;
	int fd = mkstemp(topo);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, tp, strlen(tp)), (ssize_t)strlen(tp));
	close(fd);
	snprintf(text, sizeof(text),
		 "node: {name: n1}\n"
		 "dns: {zone: a.}\n"
		 "srv6: {enabled: true, topology: %s, interfaces: [eth0]}\n"
		 "services:\n"
		 "  - name: web\n"
		 "    port: 80\n"
		 "    intent: {path: cost, avoid: [satellite, wan]}\n"
		 "  - {name: db, port: 5432}\n"
		 "  - {name: bulk, port: 9000, intent: {avoid: [wan]}}\n"
		 "  - {name: other, port: 9001, intent: {}}\n", topo);
	if (parse(text, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(cfg->srv6.enabled);
	assert_string_equal(cfg->srv6.host, "n1");	/* node.name */
	assert_string_equal(cfg->srv6.mode, "encap");
	assert_int_equal(cfg->srv6.mtu, 1500);
	assert_int_equal(cfg->srv6.probe_interval_ms, 1000);
	assert_int_equal(cfg->srv6.fall, 3);
	assert_true(cfg->services[0].intent.steered);
	assert_string_equal(cfg->services[0].intent.path, "cost");
	assert_int_equal(cfg->services[0].intent.n_avoid, 2);
	assert_string_equal(cfg->services[0].intent.avoid[1], "wan");
	assert_false(cfg->services[1].intent.steered);
	/* avoid alone: the least latency path without those links. */
	assert_true(cfg->services[2].intent.steered);
	assert_string_equal(cfg->services[2].intent.path, "latency");
	/* An intent without path or avoid (issue 16's keys) does not steer. */
	assert_false(cfg->services[3].intent.steered);
	assert_null(cfg->services[3].intent.path);
	assert_string_equal(cfg->node.role, "node");
	assert_false(cfg->node.end_host);
	agent_config_free(cfg);

	/* Off by default; no topology needed then. */
	cfg = NULL;
	assert_int_equal(parse("dns: {zone: a.}\n", &cfg, err, sizeof(err)), AS_OK);
	assert_false(cfg->srv6.enabled);
	agent_config_free(cfg);

	/* The file's own errors, with its file:line, under srv6.topology. */
	snprintf(text, sizeof(text),
		 "node: {name: n2}\ndns: {zone: a.}\n"
		 "srv6: {enabled: true, topology: %s, interfaces: [eth0]}\n", topo);
	expect_error(text, 1, 3, "srv6.host", "n2 is not a host of");
	expect_error("dns: {zone: a.}\nsrv6:\n  enabled: true\n"
		     "  topology: /nonexistent/topo.yaml\n  interfaces: [eth0]\n",
		     1, 4, "srv6.topology", "/nonexistent/topo.yaml: cannot read");
	expect_error("dns: {zone: a.}\nsrv6: {enabled: true, interfaces: [e0]}\n",
		     1, 2, "srv6.topology", "required with srv6.enabled");
	expect_error("dns: {zone: a.}\nservices:\n  - name: web\n    port: 80\n"
		     "    intent: {path: fastest}\n", 1, 5,
		     "services[0].intent.path", "must be latency, bandwidth or cost");
	expect_error("dns: {zone: a.}\nservices:\n  - name: web\n    port: 80\n"
		     "    intent: {avoid: [Bad_Tag]}\n", 1, 5,
		     "services[0].intent.avoid[0]", "must be 1 to 63");
	expect_error("dns: {zone: a.}\nsrv6: {mode: tunnel}\n", 1, 2,
		     "srv6.mode", "must be one of encap, insert");
	unlink(topo);
	snprintf(text, sizeof(text),
		 "dns: {zone: a.}\nsrv6:\n  enabled: true\n  topology: %s\n"
		 "  interfaces: [eth0]\n", topo);
	fd = open(topo, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "links: [{between: [a, b]}]\n", 27), 27);
	close(fd);
	cfg = NULL;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), AS_ECONFIG);
	char want[256];
	snprintf(want, sizeof(want), "%s:1: links[0]: between: \"a\" is no router", topo);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "test.yaml:4: srv6.topology: "));
	unlink(topo);

	/* bird_protocol: BIRD's name rule (routing/'s), and a BIRD to ask. */
	fd = open(topo, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	const char *bt = "routers: [{name: ra, sid: \"fd00:5a::a\"}]\n"
			 "hosts: [{name: n1, sid: \"fd00:5b::1\"}]\n"
			 "links: [{between: [n1, ra], latency_us: 5, "
			 "bandwidth_kbps: 9, bird_protocol: 9lives}]\n";
	assert_int_equal(write(fd, bt, strlen(bt)), (ssize_t)strlen(bt));
	close(fd);
	snprintf(text, sizeof(text),
		 "node: {name: n1}\ndns: {zone: a.}\n"
		 "srv6: {enabled: true, topology: %s, interfaces: [eth0]}\n", topo);
	expect_error(text, 1, 3, "srv6.topology", "link n1-ra: bird_protocol 9lives:");
	fd = open(topo, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	bt = "routers: [{name: ra, sid: \"fd00:5a::a\"}]\n"
	     "hosts: [{name: n1, sid: \"fd00:5b::1\"}]\n"
	     "links: [{between: [n1, ra], latency_us: 5, "
	     "bandwidth_kbps: 9, bird_protocol: bfd_ok}]\n";
	assert_int_equal(write(fd, bt, strlen(bt)), (ssize_t)strlen(bt));
	close(fd);
	snprintf(text, sizeof(text),
		 "node: {name: n1}\ndns: {zone: a.}\nbird: {socket: \"\"}\n"
		 "srv6: {enabled: true, topology: %s, interfaces: [eth0]}\n", topo);
	expect_error(text, 1, 4, "srv6.topology", "bird_protocol needs bird.socket");
	snprintf(text, sizeof(text),
		 "node: {name: n1}\ndns: {zone: a.}\n"
		 "srv6: {enabled: true, topology: %s, interfaces: [eth0]}\n", topo);
	cfg = NULL;
	if (parse(text, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	agent_config_free(cfg);
	unlink(topo);

	/* An end host serves nothing. */
	cfg = NULL;
	assert_int_equal(parse("node: {name: c, role: end-host}\ndns: {zone: a.}\n"
			       "services:\n  - name: web\n    port: 80\n"
			       "    intent: {path: latency}\n"
			       "    endpoints: [{address: \"fd00::1\", node: s1}]\n",
			       &cfg, err, sizeof(err)), AS_OK);
	assert_true(cfg->node.end_host);
	agent_config_free(cfg);
	expect_error("node: {name: c, role: end-host}\ndns: {zone: a.}\n"
		     "services:\n  - name: web\n    port: 80\n"
		     "    endpoints: [{address: \"fd00::1\"}]\n", 1, 6,
		     "services[0].endpoints[0].node", "has no endpoints of its own");
	expect_error("node: {name: c, role: end-host}\ndns: {zone: a.}\n"
		     "anycast: {addresses: [\"fd00::53\"]}\n", 1, 3,
		     "anycast.addresses", "announces no anycast address");
}

/* 1,000 services x 10 endpoints: parse time and every value in place. */
static void test_large_catalog(void **state)
{
	size_t cap = 2u << 20, len = 0;
	char *text = malloc(cap), err[1024];
	struct agent_config *cfg = NULL;

	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len,
				"node: {name: n0}\ndns:\n  zone: big.example.\nservices:\n");
	for (int s = 0; s < 1000; s++) {
		len += (size_t)snprintf(text + len, cap - len,
					"  - name: svc%d\n    port: %d\n    endpoints:\n",
					s, 1000 + s);
		for (int e = 0; e < 10; e++)
			len += (size_t)snprintf(text + len, cap - len,
						"      - address: \"fd00:%x::%x\"\n"
						"        weight: %d\n        node: n%d\n",
						s, e + 1, s + e, e);
		assert_true(len < cap - 512);
	}
	uint64_t t0 = as_now_ns();
	int ret = agent_config_parse("big.yaml", text, len, &cfg, err, sizeof(err));
	uint64_t t1 = as_now_ns();
	if (ret)
		fail_msg("parse failed (%d):\n%s", ret, err);
	print_message("1000x10 catalog: %zu bytes parsed in %.1f ms\n", len,
		      (double)(t1 - t0) / 1e6);
	assert_int_equal(cfg->n_services, 1000);
	for (size_t s = 0; s < 1000; s += 333) {
		char name[16];
		snprintf(name, sizeof(name), "svc%zu", s);
		assert_string_equal(cfg->services[s].name, name);
		assert_int_equal(cfg->services[s].port, 1000 + s);
		assert_int_equal(cfg->services[s].n_endpoints, 10);
		struct agent_endpoint *ep = &cfg->services[s].endpoints[9];
		assert_int_equal(ep->weight, s + 9);
		assert_string_equal(ep->node, "n9");
		assert_int_equal(ep->addr[15], 10);
	}
	/* Generous for a 2-core machine under ASan; measured figure above. */
	assert_true(t1 - t0 < 5000000000ull);
	agent_config_free(cfg);
	free(text);
}

static char *schema_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	agent_config_print_schema(f);
	fclose(f);
	return buf;
}

/* A line of the schema holding the key and its default (`literal`). */
static void assert_schema_row(const char *schema, const char *key,
			      const char *def)
{
	char k[128], d[128];
	snprintf(k, sizeof(k), "| `%s` ", key);
	snprintf(d, sizeof(d), "| %s ", def);
	const char *p = strstr(schema, k);
	if (!p)
		fail_msg("schema has no row for %s", key);
	const char *eol = strchr(p, '\n');
	const char *q = strstr(p, d);
	if (!q || q > eol)
		fail_msg("schema row for %s lacks default %s", key, def);
}

static void test_schema(void **state)
{
	char *s = schema_text();

	assert_non_null(strstr(s, "| Key "));
	assert_schema_row(s, "node.name", "host name");
	assert_schema_row(s, "dns.listen", "`[\"[::]:53\"]`");
	assert_schema_row(s, "dns.zone", "required");
	assert_schema_row(s, "dns.ttl", "`5`");
	assert_schema_row(s, "dns.max_answers", "`2`");
	assert_schema_row(s, "dns.workers", "`0`");
	assert_schema_row(s, "dns.nameservers", "[\"ns.\" + dns.zone]");
	assert_schema_row(s, "dns.ns_addresses", "`[]`");
	assert_schema_row(s, "dns.negative_ttl", "`5`");
	assert_schema_row(s, "dns.tcp_idle_timeout", "`10s`");
	assert_schema_row(s, "dns.tcp_max_clients", "`256`");
	assert_schema_row(s, "dns.tcp_message_timeout", "`500ms`");
	assert_schema_row(s, "dns.tcp_max_clients_per_prefix", "`32`");
	assert_schema_row(s, "dns.tcp_prefix_length_v6", "`64`");
	assert_schema_row(s, "dns.tcp_prefix_length_v4", "`32`");
	assert_schema_row(s, "control.socket", "`/run/anysteer/ctl.sock`");
	assert_schema_row(s, "metrics.listen", "`[::1]:9153`");
	assert_schema_row(s, "load.low_watermark", "`0.6`");
	assert_schema_row(s, "load.high_watermark", "`0.95`");
	assert_schema_row(s, "load.interval", "`1s`");
	assert_schema_row(s, "load.signal", "`cpu`");
	assert_schema_row(s, "services", "`[]`");
	assert_schema_row(s, "services[].name", "required");
	assert_schema_row(s, "services[].port", "required");
	assert_schema_row(s, "services[].protocol", "`tcp`");
	assert_schema_row(s, "services[].endpoints[].address", "required");
	assert_schema_row(s, "services[].endpoints[].weight", "`100`");
	assert_schema_row(s, "services[].endpoints[].node", "node.name");
	/* Every row has four cells. */
	for (const char *p = s; *p; p = strchr(p, '\n') + 1) {
		int bars = 0;
		for (const char *c = p; *c != '\n'; c++)
			bars += *c == '|';
		assert_int_equal(bars, 5);
	}
	free(s);
}

/* docs/configuration.md embeds the schema table; keep it current. */
static void test_docs_current(void **state)
{
	const char *top = getenv("top_srcdir");
	char path[1024];

	if (top) {
		snprintf(path, sizeof(path), "%s/docs/configuration.md", top);
	} else if (__FILE__[0] == '/') {
		snprintf(path, sizeof(path), "%s", __FILE__);
		char *t = strstr(path, "/tests/unit/");
		assert_non_null(t);
		snprintf(t, sizeof(path) - (size_t)(t - path),
			 "/docs/configuration.md");
	} else {
		print_message("skip: top_srcdir unset, cannot find docs/\n");
		skip();
	}
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	char *doc = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&doc, &cap, 0, f);
	fclose(f);
	assert_true(n > 0);
	char *s = schema_text();
	if (!strstr(doc, s))
		fail_msg("%s does not contain the current schema table; "
			 "regenerate it from agent_config_print_schema()", path);
	free(s);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_lenient_forms),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_too_deep),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_wrong_type),
		cmocka_unit_test(test_err_range),
		cmocka_unit_test(test_intent),
		cmocka_unit_test(test_err_invalid_values),
		cmocka_unit_test(test_err_missing),
		cmocka_unit_test(test_err_duplicates),
		cmocka_unit_test(test_err_cross_checks),
		cmocka_unit_test(test_load_source),
		cmocka_unit_test(test_names_agree_with_view),
		cmocka_unit_test(test_err_service_names),
		cmocka_unit_test(test_err_view_limits),
		cmocka_unit_test(test_err_document),
		cmocka_unit_test(test_anchors),
		cmocka_unit_test(test_cluster_sections),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_truncated_input),
		cmocka_unit_test(test_errbuf_limits),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_srv6_and_intents),
		cmocka_unit_test(test_large_catalog),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_docs_current),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
