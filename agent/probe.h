/*
 * agent/probe.h - TCP connect health probes for this node's endpoints
 * (see probe.c): a helper of the cluster component, whose results go
 * into this node's gossip record. Not a component of its own: without
 * gossip nobody would read them.
 */
#ifndef ANYSTEER_AGENT_PROBE_H
#define ANYSTEER_AGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* TCP connect health probes. The pure rise/fall machine: an
 * endpoint starts unknown (counted healthy), the first result settles it,
 * then `fall` failures / `rise` successes in a row flip it. */
enum { AGENT_PROBE_UNKNOWN = 0, AGENT_PROBE_UP = 1, AGENT_PROBE_DOWN = 2 };
struct agent_probe_state {
	int health;
	uint32_t streak;	/* results in a row against the state */
	uint64_t checks_ok, checks_failed, transitions;
};
/* Feeds one result; true when the health (as agent_probe_healthy) flipped. */
bool agent_probe_feed(struct agent_probe_state *s, bool ok, uint32_t rise,
		      uint32_t fall);
bool agent_probe_healthy(const struct agent_probe_state *s);
/* The libuv prober: one timer, a connect attempt per target per interval. */
struct agent_probe_target {
	int family;		/* AF_INET6 or AF_INET */
	uint8_t addr[16];
	uint16_t port;
};
struct agent_prober_config {
	uint64_t interval_ms, timeout_ms;
	uint32_t rise, fall;
};
typedef void (*agent_probe_change_cb)(void *arg, size_t idx, bool healthy);
struct agent_prober;
int agent_prober_new(uv_loop_t *loop, const struct agent_prober_config *cfg,
		     agent_probe_change_cb cb, void *arg,
		     struct agent_prober **out);
/* Replaces the targets; a target that stays (same address and port) keeps
 * its state. Indices in callbacks refer to the newest list. */
int agent_prober_set_targets(struct agent_prober *p,
			     const struct agent_probe_target *t, size_t n);
void agent_prober_set_config(struct agent_prober *p,
			     const struct agent_prober_config *cfg);
size_t agent_prober_count(const struct agent_prober *p);
const struct agent_probe_state *agent_prober_state(const struct agent_prober *p,
						   size_t i);
/* Stops probing; memory goes once attempts in flight have closed. */
void agent_prober_close(struct agent_prober *p);

#endif
