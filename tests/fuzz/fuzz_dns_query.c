/*
 * tests/fuzz/fuzz_dns_query.c - libFuzzer harness for dns_answer().
 *
 * Builds one fixed view on the first call (the inputs are queries, not
 * configurations) and answers each input over UDP and over TCP. Whatever
 * is sent must parse with ldns, carry the query's ID with QR set, and fit
 * the transport: 512 bytes without EDNS (the reply has an OPT exactly when
 * the query had one), 1232 with it, 65535 over TCP. A drop must be one of
 * the two drop reasons. Any violation aborts, which libFuzzer reports.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "dns/dns.h"
#include "lib/as.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_dns_query: %s:%d: %s\n",    \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

static struct dns_endpoint_spec mk(int family, const char *addr, uint32_t w,
				   double lf, bool healthy)
{
	struct dns_endpoint_spec e = { .family = family, .weight = w,
				       .node = "node-1", .load_factor = lf,
				       .healthy = healthy };
	CHECK(inet_pton(family, addr, e.addr) == 1);
	return e;
}

/* wild: with the wildcard service "*" too, so that names that do not
 * exist take the closest-encloser walk. */
static dns_view_t *build_view(bool wild)
{
	static struct dns_endpoint_spec web[4], api[2], big[40], ns[2], loc[5];
	static struct dns_client_zone cz[3];
	char buf[64];

	web[0] = mk(AF_INET6, "fd00::1", 3, 1.0, true);
	web[1] = mk(AF_INET6, "fd00::2", 1, 0.5, true);
	web[2] = mk(AF_INET6, "fd00::3", 5, 1.0, false);
	web[3] = mk(AF_INET, "192.0.2.1", 1, 1.0, true);
	api[0] = mk(AF_INET6, "fd00::a1", 0, 1.0, true);
	api[1] = mk(AF_INET6, "fd00::a2", 0, 0.0, false);
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "fd00::b:%x", i);
		big[i] = mk(AF_INET6, buf, 1, 1.0, true);
	}
	ns[0] = mk(AF_INET6, "fd00::53", 0, 1.0, true);
	ns[1] = mk(AF_INET, "192.0.2.53", 0, 1.0, true);
	ns[0].node = ns[1].node = NULL;
	/* Intents (docs/intents.md): zones a and b, a loaded node, clients
	 * placed by a Client Subnet. */
	loc[0] = mk(AF_INET6, "fd00::c1", 1, 1.0, true);
	loc[1] = mk(AF_INET6, "fd00::c2", 1, 0.0, true);
	loc[2] = mk(AF_INET6, "fd00::c3", 1, 1.0, true);
	loc[3] = mk(AF_INET, "192.0.2.3", 1, 1.0, true);
	loc[4] = mk(AF_INET6, "fd00::c5", 1, 1.0, false);
	loc[0].zone = loc[1].zone = loc[3].zone = "a";
	loc[2].zone = loc[4].zone = "b";
	loc[1].node = "node-2";
	loc[2].node = "node-3";
	CHECK(!dns_prefix_parse("fd00:b::/48", &cz[0].prefix));
	CHECK(!dns_prefix_parse("fd00:b:1::/64", &cz[1].prefix));
	CHECK(!dns_prefix_parse("10.2.0.0/16", &cz[2].prefix));
	cz[0].zone = cz[2].zone = "b";
	cz[1].zone = "a";
	static const struct dns_service_spec svcs[] = {
		{ .name = "web", .port = 443, .proto = "tcp", .endpoints = web,
		  .n_endpoints = 4 },
		{ .name = "api", .port = 8053, .proto = "udp", .ttl = 10,
		  .max_answers = 1, .endpoints = api, .n_endpoints = 2 },
		{ .name = "big", .port = 80, .proto = "tcp", .max_answers = 40,
		  .endpoints = big, .n_endpoints = 40 },
		{ .name = "empty", .port = 80, .proto = "tcp" },
		{ .name = "near", .port = 80, .proto = "tcp", .endpoints = loc,
		  .n_endpoints = 5,
		  .intent = { DNS_OBJ_LOCALITY, 0.5, DNS_SPREAD_NODE } },
		{ .name = "spread", .port = 80, .proto = "tcp", .max_answers = 4,
		  .endpoints = loc, .n_endpoints = 5,
		  .intent = { DNS_OBJ_RESILIENCE, 0.8, DNS_SPREAD_ZONE } },
		{ .name = "*", .port = 8443, .proto = "tcp", .endpoints = web,
		  .n_endpoints = 4 },
	};
	static const char *const nss[] = { "ns", "ns2.other.example." };
	const struct dns_view_spec spec = {
		.zone = "svc.example.", .node_name = "fuzz-node", .ttl = 5,
		.node_zone = "a", .client_zones = cz, .n_client_zones = 3,
		.max_answers = 2, .nameservers = nss, .n_nameservers = 2,
		.ns_addresses = ns, .n_ns_addresses = 2, .soa_serial = 1,
		.soa_refresh = 3600, .soa_retry = 600, .soa_expire = 86400,
		.soa_minimum = 30, .apex_ttl = 3600, .services = svcs,
		.n_services = AS_ARRAY_SIZE(svcs) - (wild ? 0 : 1),
	};
	dns_view_t *v = NULL;
	CHECK(dns_view_new(&spec, &v) == AS_OK && v != NULL);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dns_view_t *views[2];
	static struct as_rng rng;
	static uint8_t out[DNS_MSG_MAX];

	if (!views[0]) {
		views[0] = build_view(false);
		views[1] = build_view(true);
		as_rng_seed(&rng, 1);
	}
	for (int t = 0; t < 4; t++) {
		dns_view_t *view = views[t / 2];
		enum dns_transport tr = t % 2 ? DNS_TRANSPORT_TCP : DNS_TRANSPORT_UDP;
		size_t cap = t % 2 ? DNS_MSG_MAX : DNS_UDP_PAYLOAD_MAX;
		struct dns_result res;

		dns_answer(view, &rng, tr, data, size, out, cap, &res);
		if (!res.send) {
			CHECK(res.malformed == DNS_MAL_SHORT_HEADER ||
			      res.malformed == DNS_MAL_RESPONSE);
			continue;
		}
		CHECK(res.len >= 12 && res.len <= cap);
		CHECK(out[0] == data[0] && out[1] == data[1]);
		CHECK(out[2] & 0x80);
		CHECK((res.rcode == 1) == (res.malformed != DNS_MAL_NONE));
		ldns_pkt *pkt = NULL;
		if (ldns_wire2pkt(&pkt, out, res.len) != LDNS_STATUS_OK) {
			fprintf(stderr, "fuzz_dns_query: reply does not parse\n");
			abort();
		}
		if (t % 2 == 0 && !ldns_pkt_edns(pkt))
			CHECK(res.len <= 512);
		CHECK(ldns_pkt_tc(pkt) == res.truncated);
		ldns_pkt_free(pkt);
	}
	return 0;
}
