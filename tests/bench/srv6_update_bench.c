/*
 * tests/bench/srv6_update_bench.c - how long one steering update takes:
 * srv6_prog_steer_set() (the loader's own key table, then one
 * bpf_map_update_elem() into the LPM trie, which swaps the node under
 * RCU) for a new entry and for a path change of an installed one, and
 * srv6_prog_steer_del(). Each call is timed on its own (CLOCK_MONOTONIC);
 * the programs are loaded but attached nowhere, so no packet competes.
 * Root (CAP_BPF); exits 77 with the reason without the data plane.
 *
 *   srv6_update_bench [ENTRIES [UPDATES]]     (default 1000 20000)
 *
 * Prints one line per operation: count, median, p90, p99, max in us.
 * Used by tests/bench/srv6-bench.sh; numbers in docs/srv6.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "lib/as.h"
#include "srv6/srv6.h"

#define MAX_ENTRIES 4000	/* below the map's 4096 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("%-8s n=%zu median=%.2f p90=%.2f p99=%.2f max=%.2f us\n", what, n,
	       ns[n / 2] / 1e3, ns[n * 90 / 100] / 1e3, ns[n * 99 / 100] / 1e3,
	       ns[n - 1] / 1e3);
}

/* Entry i: TCP port 443 to fd00:10:0:(i / 256)::(i % 256 + 1)/128. */
static void match_of(size_t i, struct srv6_match *m)
{
	memset(m, 0, sizeof(*m));
	m->prefix.s6_addr[0] = 0xfd;
	m->prefix.s6_addr[3] = 0x10;
	m->prefix.s6_addr[6] = (uint8_t)(i >> 8);
	m->prefix.s6_addr[7] = (uint8_t)i;
	m->prefix.s6_addr[15] = 1;
	m->plen = 128;
	m->proto = IPPROTO_TCP;
	m->port = 443;
}

/* Two 4-segment paths (the SR testbed's rb and rc paths to a node). */
static void steer_of(int path, uint32_t gen, struct srv6_steer *s)
{
	static const char *const segs[2][4] = {
		{ "fd00:5a::a", "fd00:5a::b", "fd00:5a::1", "fd00:5b::1:1" },
		{ "fd00:5a::a", "fd00:5a::c", "fd00:5a::1", "fd00:5b::1:1" },
	};

	memset(s, 0, sizeof(*s));
	s->mode = SRV6_MODE_ENCAP;
	s->nsegs = 4;
	for (int k = 0; k < 4; k++)
		inet_pton(AF_INET6, segs[path][k], &s->segs[k]);
	s->mtu = 1500;
	s->generation = gen;
}

int main(int argc, char **argv)
{
	size_t entries = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	size_t updates = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
	char why[256] = "";
	srv6_prog_t *p = NULL;
	uint64_t *ns = NULL;
	uint64_t rnd = 0x9e3779b97f4a7c15u;
	struct srv6_match m;
	struct srv6_steer s;
	int err, rc = 1;

	if (entries < 1 || entries > MAX_ENTRIES || updates < 1) {
		fprintf(stderr, "usage: %s [ENTRIES 1..%d [UPDATES]]\n", argv[0], MAX_ENTRIES);
		return 2;
	}
	if ((err = srv6_prog_open(&p, why, sizeof(why)))) {
		printf("SKIP: no SRv6 data plane: %s: %s\n", as_strerror(err), why);
		return 77;
	}
	ns = calloc(entries > updates ? entries : updates, sizeof(*ns));
	if (!ns)
		goto out;
	for (size_t i = 0; i < entries; i++) {
		uint64_t t0;

		match_of(i, &m);
		steer_of(0, 1, &s);
		t0 = now_ns();
		err = srv6_prog_steer_set(p, &m, &s);
		ns[i] = now_ns() - t0;
		if (err) {
			fprintf(stderr, "add %zu: %s\n", i, as_strerror(err));
			goto out;
		}
	}
	report("add", ns, entries);
	for (size_t u = 0; u < updates; u++) {
		uint64_t t0;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		match_of(rnd % entries, &m);
		steer_of((int)(u & 1), (uint32_t)u + 2, &s);
		t0 = now_ns();
		err = srv6_prog_steer_set(p, &m, &s);
		ns[u] = now_ns() - t0;
		if (err) {
			fprintf(stderr, "replace %zu: %s\n", u, as_strerror(err));
			goto out;
		}
	}
	report("replace", ns, updates);
	for (size_t i = 0; i < entries; i++) {
		uint64_t t0;

		match_of(i, &m);
		t0 = now_ns();
		err = srv6_prog_steer_del(p, &m);
		ns[i] = now_ns() - t0;
		if (err) {
			fprintf(stderr, "del %zu: %s\n", i, as_strerror(err));
			goto out;
		}
	}
	report("del", ns, entries);
	rc = 0;
out:
	free(ns);
	srv6_prog_free(p);
	return rc;
}
