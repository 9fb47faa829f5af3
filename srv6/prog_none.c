/*
 * srv6/prog_none.c - srv6_prog_* in a build without clang, libbpf or
 * bpftool: every call says what is missing, so the agent can run on.
 */
#include <stdio.h>

#include "lib/as.h"
#include "srv6/srv6.h"

int srv6_prog_open(srv6_prog_t **out, char *why, size_t whylen)
{
	*out = NULL;
	if (why && whylen)
		snprintf(why, whylen, "anysteer was built without SRv6 eBPF "
			 "support (configure found no clang, libbpf or bpftool)");
	return AS_ESTATE;
}

void srv6_prog_free(srv6_prog_t *p) { (void)p; }

int srv6_prog_attach(srv6_prog_t *p, int ifindex, enum srv6_hook hook)
{
	return AS_ESTATE;
}

int srv6_prog_steer_set(srv6_prog_t *p, const struct srv6_match *m,
			const struct srv6_steer *s)
{
	return AS_ESTATE;
}

int srv6_prog_steer_del(srv6_prog_t *p, const struct srv6_match *m)
{
	return AS_ESTATE;
}

int srv6_prog_steer_counters(srv6_prog_t *p, const struct srv6_match *m,
			     uint64_t *packets, uint64_t *bytes)
{
	return AS_ESTATE;
}

int srv6_prog_local_sid_add(srv6_prog_t *p, const struct in6_addr *sid)
{
	return AS_ESTATE;
}

int srv6_prog_local_sid_del(srv6_prog_t *p, const struct in6_addr *sid)
{
	return AS_ESTATE;
}

int srv6_prog_stats(srv6_prog_t *p, uint64_t out[SRV6_ST_N])
{
	return AS_ESTATE;
}

int srv6_prog_test_run(srv6_prog_t *p, enum srv6_hook hook, const void *in,
		       size_t inlen, void *out, size_t *outlen, int *verdict)
{
	return AS_ESTATE;
}

int srv6_prog_enable_run_stats(srv6_prog_t *p)
{
	return AS_ESTATE;
}

int srv6_prog_run_stats(srv6_prog_t *p, enum srv6_hook hook, uint64_t *runs,
			uint64_t *run_ns)
{
	return AS_ESTATE;
}
