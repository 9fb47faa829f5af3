/*
 * agent/anycast.h - the anycast component: the TUN device and its
 * addresses, the health gate with its DNS self-check, drain, BIRD state
 * and /healthz (see anycast.c). Included by the daemon and the tests.
 */
#ifndef ANYSTEER_AGENT_ANYCAST_H
#define ANYSTEER_AGENT_ANYCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "agent/component.h"

/* start runs before the DNS server is created, serve once it runs. */
extern const struct agent_component_ops agent_anycast_ops;

/* The DNS listeners: the configured ones plus the anycast addresses
 * (unless an IPv6 wildcard on the same port covers them); malloc'd. */
int agent_anycast_listeners(void *self, const struct agent_config *c,
			    struct sockaddr_storage **out, size_t *n);
/* SIGTERM with anycast: starts the drain and linger (then emits
 * AGENT_EV_STOP) and returns true. false: stop as usual (also the
 * second signal). */
bool agent_anycast_on_signal(void *self, int signum);

/* Pure, for tests: the metrics lines from a snapshot. (The self-query
 * and the check of its answer are dns/'s: dns_probe_query_build,
 * dns_probe_reply_check.) */
void agent_anycast_metrics(FILE *f, const struct agent_anycast_snap *s);

#endif
