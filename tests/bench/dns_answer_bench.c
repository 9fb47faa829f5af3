/*
 * tests/bench/dns_answer_bench.c - CPU time of dns_answer() alone.
 *
 * Usage: tests/bench/dns_answer_bench [--wildcard] [--iterations N]
 *
 * Design. The DNS benchmark (dns-bench.sh) measures the whole server, where
 * the kernel's UDP path is most of the cost and a loaded machine moves the
 * numbers by tens of percent. This one times the pure function on the same
 * catalog and mix (100 services x 2 IPv6 endpoints, max_answers 2; AAAA,
 * A, SRV, HTTPS and SOA of existing names) and, apart, AAAA of names that
 * do not exist, in thread CPU time, so that a change of the lookup shows up
 * in nanoseconds. --wildcard adds the service "*": the missing names are
 * then answered from it, and the existing ones must cost what they did.
 * Not part of `make check`; build with `make tests/bench/dns_answer_bench`
 * in a build without sanitizers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/dns.h"
#include "lib/as.h"

#define N_SVC 100
#define N_EP 2
#define N_Q 4096	/* a power of two */

struct qset {
	uint8_t q[N_Q][64];
	size_t len[N_Q];
};

/* Wire query for the dotted name, type t, class IN. */
static size_t make_query(uint8_t *b, const char *name, uint16_t t)
{
	size_t n = 12;

	memset(b, 0, 12);
	b[0] = 0x12;
	b[1] = 0x34;
	b[5] = 1;	/* QDCOUNT */
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		b[n++] = (uint8_t)l;
		memcpy(b + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	b[n++] = 0;
	b[n++] = (uint8_t)(t >> 8);
	b[n++] = (uint8_t)t;
	b[n++] = 0;
	b[n++] = 1;
	return n;
}

/* The mix of dns-bench.sh without its NXDOMAIN share (weights 70 AAAA,
 * 8 A, 6 SRV, 6 HTTPS, 2 SOA), and the NXDOMAIN share alone in nx. */
static void make_queries(struct qset *ex, struct qset *nx)
{
	char name[64];

	srand(1);
	for (size_t k = 0; k < N_Q; k++) {
		int s = rand() % N_SVC, r = rand() % 92;
		uint16_t t = r < 70 ? 28 : r < 78 ? 1 : r < 84 ? 33 : r < 90 ? 65 : 6;
		if (t == 33)
			snprintf(name, sizeof(name), "_s%04d._tcp.svc.example", s);
		else if (t == 6)
			snprintf(name, sizeof(name), "svc.example");
		else
			snprintf(name, sizeof(name), "s%04d.svc.example", s);
		ex->len[k] = make_query(ex->q[k], name, t);
		snprintf(name, sizeof(name), "nx%06d.svc.example",
			 rand() % 1000000);
		nx->len[k] = make_query(nx->q[k], name, 28);
	}
}

static double run(dns_view_t *v, const struct qset *qs, long iters)
{
	static uint8_t out[DNS_UDP_PAYLOAD_MAX];
	struct dns_result res;
	struct as_rng rng;
	struct timespec a, b;
	size_t bytes = 0;

	as_rng_seed(&rng, 1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (long i = 0; i < iters; i++) {
		size_t k = (size_t)i & (N_Q - 1);
		dns_answer(v, &rng, DNS_TRANSPORT_UDP, qs->q[k], qs->len[k],
			   out, sizeof(out), &res);
		bytes += res.len;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	if (!bytes)
		return -1;
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 +
		(double)(b.tv_nsec - a.tv_nsec)) / (double)iters;
}

int main(int argc, char **argv)
{
	static struct dns_endpoint_spec eps[N_SVC + 1][N_EP];
	static struct dns_service_spec svcs[N_SVC + 1];
	static char names[N_SVC][8];
	static struct qset ex, nx;
	bool wild = false;
	long iters = 2000000;
	dns_view_t *v = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wildcard"))
			wild = true;
		else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
			iters = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--wildcard] [--iterations N]\n",
				argv[0]);
			return 2;
		}
	}
	for (int i = 0; i <= N_SVC; i++) {
		for (int e = 0; e < N_EP; e++) {
			struct dns_endpoint_spec *x = &eps[i][e];
			x->family = AF_INET6;
			x->addr[0] = 0xfd;
			x->addr[13] = (uint8_t)i;
			x->addr[15] = (uint8_t)(e + 1);
			x->weight = 100 * (1 + e % 3);
			x->node = "bench1";
			x->load_factor = 1;
			x->healthy = true;
		}
		if (i < N_SVC)
			snprintf(names[i], sizeof(names[i]), "s%04d", i);
		svcs[i] = (struct dns_service_spec){
			.name = i < N_SVC ? names[i] : "*", .port = 80,
			.proto = "tcp", .endpoints = eps[i], .n_endpoints = N_EP,
		};
	}
	const struct dns_view_spec spec = {
		.zone = "svc.example.", .node_name = "bench1", .ttl = 5,
		.max_answers = 2, .soa_serial = 1, .soa_minimum = 5,
		.apex_ttl = 3600, .services = svcs,
		.n_services = N_SVC + (wild ? 1 : 0),
	};
	if (dns_view_new(&spec, &v) != AS_OK) {
		fprintf(stderr, "dns_answer_bench: view refused\n");
		return 1;
	}
	make_queries(&ex, &nx);
	run(v, &ex, iters / 10);	/* warm up */
	printf("existing names: %.1f ns/query\n", run(v, &ex, iters));
	printf("missing names (%s): %.1f ns/query\n",
	       wild ? "wildcard answers" : "NXDOMAIN", run(v, &nx, iters));
	dns_view_unref(v);
	return 0;
}
