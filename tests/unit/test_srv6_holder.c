/*
 * A stand-in for the agent in tests/integration/test_srv6.py: loads the
 * srv6 tc programs and takes commands on stdin, one per line, answering
 * "ok ..." or "err ..." on stdout:
 *
 *   attach IFNAME egress|ingress
 *   steer PREFIX/LEN tcp|udp|any PORT encap|insert MTU SEG[,SEG...]
 *         (path order; a last SEG "dst" means the packet's destination)
 *   unsteer PREFIX/LEN tcp|udp|any PORT
 *   sid ADDRESS                 (this host decapsulates for ADDRESS)
 *   counters PREFIX/LEN tcp|udp|any PORT   -> ok PACKETS BYTES
 *   stats                       -> ok name=value ...
 *   runstats on                 (kernel run-time accounting while we run)
 *   runstats egress|ingress     -> ok RUNS RUN_NS
 *
 * Exits (detaching its filters) at end of input.
 */
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "lib/as.h"
#include "srv6/srv6.h"

static int parse_match(char *pfx, const char *proto, const char *port,
		       struct srv6_match *m)
{
	char *slash = strchr(pfx, '/');

	memset(m, 0, sizeof(*m));
	if (!slash)
		return AS_EINVAL;
	*slash = '\0';
	if (inet_pton(AF_INET6, pfx, &m->prefix) != 1)
		return AS_EINVAL;
	m->plen = (uint8_t)atoi(slash + 1);
	m->proto = !strcmp(proto, "tcp") ? IPPROTO_TCP
		: !strcmp(proto, "udp") ? IPPROTO_UDP : 0;
	m->port = (uint16_t)atoi(port);
	return AS_OK;
}

static int do_line(srv6_prog_t *p, char *line)
{
	char *argv[10];
	int argc = 0;
	struct srv6_match m;
	int err;

	for (char *tok = strtok(line, " \t\n"); tok && argc < 10;
	     tok = strtok(NULL, " \t\n"))
		argv[argc++] = tok;
	if (argc == 0)
		return AS_OK;
	if (!strcmp(argv[0], "attach") && argc == 3) {
		int ifi = (int)if_nametoindex(argv[1]);

		if (!ifi)
			return AS_ENOTFOUND;
		return srv6_prog_attach(p, ifi, strcmp(argv[2], "ingress") ?
					SRV6_EGRESS : SRV6_INGRESS);
	}
	if (!strcmp(argv[0], "steer") && argc == 7) {
		struct srv6_steer s = { .mode = strcmp(argv[4], "insert") ?
					SRV6_MODE_ENCAP : SRV6_MODE_INSERT,
					.mtu = (uint16_t)atoi(argv[5]) };

		if ((err = parse_match(argv[1], argv[2], argv[3], &m)))
			return err;
		for (char *seg = strtok(argv[6], ","); seg; seg = strtok(NULL, ",")) {
			if (s.nsegs == SRV6_SEGS_MAX)
				return AS_ERANGE;
			if (!strcmp(seg, "dst"))
				s.last_is_dst = true;
			else if (inet_pton(AF_INET6, seg, &s.segs[s.nsegs]) != 1)
				return AS_EINVAL;
			s.nsegs++;
		}
		return srv6_prog_steer_set(p, &m, &s);
	}
	if (!strcmp(argv[0], "unsteer") && argc == 4) {
		if ((err = parse_match(argv[1], argv[2], argv[3], &m)))
			return err;
		return srv6_prog_steer_del(p, &m);
	}
	if (!strcmp(argv[0], "sid") && argc == 2) {
		struct in6_addr a;

		if (inet_pton(AF_INET6, argv[1], &a) != 1)
			return AS_EINVAL;
		return srv6_prog_local_sid_add(p, &a);
	}
	if (!strcmp(argv[0], "counters") && argc == 4) {
		uint64_t pk, by;

		if ((err = parse_match(argv[1], argv[2], argv[3], &m)) ||
		    (err = srv6_prog_steer_counters(p, &m, &pk, &by)))
			return err;
		printf("ok %llu %llu\n", (unsigned long long)pk,
		       (unsigned long long)by);
		return 1;
	}
	if (!strcmp(argv[0], "stats") && argc == 1) {
		uint64_t v[SRV6_ST_N];

		if ((err = srv6_prog_stats(p, v)))
			return err;
		printf("ok");
		for (int i = 0; i < SRV6_ST_N; i++)
			printf(" %s=%llu", srv6_stat_name(i), (unsigned long long)v[i]);
		printf("\n");
		return 1;
	}
	if (!strcmp(argv[0], "runstats") && argc == 2) {
		uint64_t runs, ns;

		if (!strcmp(argv[1], "on"))
			return srv6_prog_enable_run_stats(p);
		if ((err = srv6_prog_run_stats(p, strcmp(argv[1], "ingress") ?
					       SRV6_EGRESS : SRV6_INGRESS,
					       &runs, &ns)))
			return err;
		printf("ok %llu %llu\n", (unsigned long long)runs,
		       (unsigned long long)ns);
		return 1;
	}
	return AS_EPARSE;
}

int main(void)
{
	char why[256] = "", line[1024];
	srv6_prog_t *p;
	int err = srv6_prog_open(&p, why, sizeof(why));

	if (err) {
		printf("err %s: %s\n", as_strerror(err), why);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		err = do_line(p, line);
		if (err == 1)
			continue;
		if (err)
			printf("err %s\n", as_strerror(err));
		else
			printf("ok\n");
	}
	srv6_prog_free(p);
	return 0;
}
