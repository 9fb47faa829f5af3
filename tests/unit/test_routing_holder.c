/*
 * A stand-in for anysteerd in the routing integration tests: owns the
 * anycast TUN device through route_anycast_t (single-node gate, announced
 * after one good self-check) and turns the carrier off on SIGUSR1 (drain)
 * and on again on SIGUSR2 (undrain). SIGTERM/SIGINT exit cleanly; SIGKILL
 * is what the tests use to show the kernel cleans up by itself.
 *
 *   test_routing_holder IFNAME ADDRESS...
 *
 * Prints "ready" once the addresses are up and announced.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "routing/routing.h"

int main(int argc, char **argv)
{
	route_anycast_t *a = NULL;
	sigset_t set;
	int rc, sig;

	if (argc < 3) {
		fprintf(stderr, "usage: %s IFNAME ADDRESS...\n", argv[0]);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	struct route_anycast_opts o = {
		.ifname = argv[1],
		.addresses = (const char *const *)&argv[2],
		.naddresses = (size_t)(argc - 2),
		.gate = { .rise = 1, .fall = 1, .single_node = true },
	};
	rc = route_anycast_new(&o, as_now_ms(), &a);
	if (rc) {
		fprintf(stderr, "route_anycast_new: %s\n", as_strerror(rc));
		return 1;
	}
	rc = route_anycast_selfcheck(a, true, as_now_ms());
	if (rc) {
		fprintf(stderr, "announce: %s\n", as_strerror(rc));
		route_anycast_free(a);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		rc = route_anycast_set_draining(a, sig == SIGUSR1, as_now_ms());
		struct route_anycast_status st;
		route_anycast_status(a, &st, 1);
		printf("%s %s (%s)\n", st.text,
		       st.announced ? "announced" : "withdrawn",
		       route_reason_name(st.reason));
		fflush(stdout);
		if (rc)
			fprintf(stderr, "carrier: %s\n", as_strerror(rc));
	}
	route_anycast_stop(a, as_now_ms());
	route_anycast_free(a);
	return 0;
}
