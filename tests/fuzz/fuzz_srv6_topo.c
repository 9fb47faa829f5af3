/*
 * tests/fuzz/fuzz_srv6_topo.c - libFuzzer harness for the SR topology
 * file (srv6/topofile.c). Success must yield a topology whose links join
 * known nodes and on which every path computation, host lookup and
 * probe path runs to an answer; failure must leave no output and say why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "srv6/srv6.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_srv6_topo: %s:%d: %s\n",    \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	srv6_topo_t *t = (srv6_topo_t *)1;
	char err[1024] = "";
	int rc = srv6_topo_parse("fuzz.yaml", (const char *)data, size, &t,
				 err, sizeof(err));

	if (rc != AS_OK) {
		CHECK(t == NULL);
		CHECK(rc != AS_ECONFIG || err[0]);
		return 0;
	}
	CHECK(t != NULL);
	size_t nn = srv6_topo_node_count(t), nl = srv6_topo_link_count(t);
	CHECK(nn <= SRV6_TOPO_MAX_NODES && nl <= SRV6_TOPO_MAX_LINKS);
	for (size_t i = 0; i < nl; i++) {
		struct srv6_link_info li;
		CHECK(srv6_topo_link(t, (int)i, &li) == AS_OK);
		CHECK(li.a >= 0 && (size_t)li.a < nn && li.b >= 0 &&
		      (size_t)li.b < nn && li.a != li.b);
		CHECK(li.attr.bandwidth_kbps > 0);
	}
	/* Bounded work: the first few hosts against each other. */
	const struct srv6_objective o[] = {
		{ SRV6_METRIC_LATENCY, NULL, 0 },
		{ SRV6_METRIC_BANDWIDTH, NULL, 0 },
		{ SRV6_METRIC_COST, NULL, 0 },
	};
	for (size_t a = 0; a < nn && a < 8; a++) {
		struct in6_addr sid;
		bool host;
		struct srv6_path p;
		CHECK(srv6_topo_node_info(t, (int)a, &sid, &host) == AS_OK);
		CHECK(srv6_topo_host_of(t, &sid) >= AS_ENOTFOUND);
		for (size_t l = 0; host && l < nl && l < 16; l++) {
			rc = srv6_path_probe(t, (int)a, (int)l, &p);
			CHECK(rc != AS_OK || (p.nsegs >= 1 && p.nsegs <= SRV6_SEGS_MAX));
		}
		for (size_t b = 0; host && b < nn && b < 8; b++)
			for (size_t k = 0; k < 3; k++) {
				rc = srv6_path_compute(t, srv6_topo_node_name(t, (int)a),
						       srv6_topo_node_name(t, (int)b),
						       &o[k], &p);
				CHECK(rc != AS_OK || (p.nnodes >= 2 &&
						      p.nsegs == p.nnodes - 1));
			}
	}
	srv6_topo_free(t);
	return 0;
}
