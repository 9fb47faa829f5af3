/*
 * tests/sim/sim.h - a deterministic cluster simulator for the gossip core.
 *
 * N protocol cores run over a virtual network in virtual time: one event
 * heap orders packet deliveries, core timers and resumptions, ties broken
 * by insertion order, and all randomness (latency jitter, loss, join
 * times, core seeds) comes from the simulation seed, so a run is a pure
 * function of its configuration. Faults: per-packet loss on UDP, network
 * partitions (groups that cannot reach each other, streams included),
 * crashes (a node stops; packets to it vanish), restarts (a new process
 * with the same name, a higher incarnation and optionally a new address),
 * pauses (a CPU stall: the node processes nothing, packets queue as in a
 * socket buffer and are handled, followed by its timers, when it resumes)
 * and per-node keyrings (a node with the wrong key).
 *
 * Node i is named "n<i>" (or "node<i+1>") and lives at [fd00::<i+1>]:7946 (a restart with a
 * new address moves it to fd00::1:<i+1>).
 */
#ifndef ANYSTEER_TESTS_SIM_SIM_H
#define ANYSTEER_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/gossip.h"

struct sim_config {
	size_t n;
	uint64_t seed;
	uint32_t latency_ms;		/* one way, base */
	uint32_t jitter_ms;		/* uniform extra 0..jitter */
	double loss;			/* UDP loss probability */
	bool plaintext;			/* no keys at all */
	uint32_t join_spread_ms;	/* joins spread over this time */
	/* On resuming from a pause, run the overdue timers before reading
	 * the packets that queued meanwhile, as a libuv loop does (timers
	 * come first in an iteration); false: packets first. */
	bool timers_first;
	/* Per link latency instead of latency_ms and jitter_ms: n x n one
	 * way latencies in microseconds, [from * n + to] (copied), each
	 * packet delayed by that plus a uniform 0..link_jitter_pct % of it. */
	const uint32_t *link_us;
	uint32_t link_jitter_pct;
	/* Each node's wall clock (its seq_base, which the probe slots
	 * follow) is off by a fixed uniform -skew..+skew ms. */
	uint32_t clock_skew_ms;
	/* Names as deploy/testbed gives its agents, "node<i+1>", instead of
	 * "n<i>" (3 bytes more in every envelope). */
	bool testbed_names;
	struct gossip_config proto;	/* name, addr, label, seed: filled per node */
};

void sim_config_defaults(struct sim_config *cfg, size_t n);

/* Called for every change any core reports. */
typedef void (*sim_change_cb)(void *arg, size_t observer, const struct gossip_member *m,
			      enum gossip_state old, unsigned what);

struct sim;

int sim_new(const struct sim_config *cfg, struct sim **out);
void sim_free(struct sim *s);
void sim_set_change_cb(struct sim *s, sim_change_cb cb, void *arg);

/* Schedules every node's join through node 0, spread over join_spread_ms. */
void sim_start(struct sim *s);
/* Processes every event up to and including time t. */
void sim_run_until(struct sim *s, uint64_t t);
uint64_t sim_now(const struct sim *s);

size_t sim_size(const struct sim *s);
struct gossip_core *sim_core(struct sim *s, size_t i);
const char *sim_name(const struct sim *s, size_t i);
bool sim_is_up(const struct sim *s, size_t i);
/* Call after changing a core directly (set_load, leave, ...). */
void sim_flush(struct sim *s, size_t i);

void sim_crash(struct sim *s, size_t i);
int sim_restart(struct sim *s, size_t i, bool new_addr);
void sim_pause(struct sim *s, size_t i, uint32_t ms);
bool sim_is_paused(const struct sim *s, size_t i);
void sim_set_group(struct sim *s, size_t i, int group);
void sim_set_loss(struct sim *s, double loss);
/* Replaces node i's keys by this one (before sim_start for a wrong-key node). */
int sim_set_key(struct sim *s, size_t i, const uint8_t key[GOSSIP_KEY_LEN]);

/* Bytes node i sent (UDP and stream), and totals. */
uint64_t sim_bytes_out(const struct sim *s, size_t i);
uint64_t sim_packets_delivered(const struct sim *s);
uint64_t sim_packets_lost(const struct sim *s);

/* How node `observer` sees node `subject`: state, or -1 if unknown. */
int sim_state_of(struct sim *s, size_t observer, size_t subject);
/* True if every up node sees every up node alive and no up node as dead. */
bool sim_converged(struct sim *s);

/* Network coordinates. A synthetic latency matrix for link_us: three
 * zones (node i in zone i % 3), 0.2 ms round trips inside a zone plus a
 * per-node access delay of up to 0.05 ms, 5, 25 and 30 ms between the
 * zones (A-B, B-C, A-C) varied by up to +-10 % per node pair; symmetric.
 * link_us holds n * n entries. */
void sim_zone_matrix(size_t n, uint64_t seed, uint32_t *link_us);
/* The median over ordered pairs (i, j) of up nodes of
 * |estimated RTT - true RTT| / true RTT, the estimate being node i's
 * (gossip_core_rtt_estimate); the true RTT is the matrix's without
 * jitter. Pairs without an estimate count as error 1 (*known, if not
 * NULL, gets the share that has one). */
double sim_coord_error(struct sim *s, const uint32_t *link_us, double *known);

#endif
