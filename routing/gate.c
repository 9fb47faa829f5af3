/*
 * routing/gate.c - the health gate: announce or withdraw, and why.
 *
 * Design. A pure state machine; inputs carry the caller's monotonic time
 * and the gate never reads a clock, so tests drive it step by step. Only
 * the DNS self-query gets hysteresis (`rise` successes in a row to become
 * healthy, `fall` failures in a row to become unhealthy): one lost probe
 * must not flap a BGP route across the upstream's ECMP group, which would
 * reshuffle every client flow. Gossip membership and draining are already
 * deliberate, debounced states and act at once. When several causes hold,
 * the reason shown is the one an operator must clear first: stopped, then
 * draining, then not joined, then the self-check.
 */
#include <stdlib.h>

#include "lib/as.h"
#include "routing/routing.h"

struct route_gate {
	struct route_gate_opts o;
	unsigned succ, fails;
	bool healthy;
	bool was_healthy;
	bool joined;
	bool draining;
	bool stopped;
	struct route_decision d;
};

const char *route_reason_name(enum route_reason r)
{
	switch (r) {
	case ROUTE_REASON_STARTING: return "starting";
	case ROUTE_REASON_HEALTHY: return "healthy";
	case ROUTE_REASON_SELFCHECK: return "self-check failing";
	case ROUTE_REASON_NOT_JOINED: return "not joined";
	case ROUTE_REASON_DRAINING: return "draining";
	case ROUTE_REASON_STOPPED: return "stopped";
	case ROUTE_REASON_ERROR: return "error";
	}
	return "unknown";
}

int route_gate_new(const struct route_gate_opts *opts, uint64_t now_ms,
		   route_gate_t **out)
{
	route_gate_t *g = calloc(1, sizeof(*g));
	if (!g)
		return AS_ENOMEM;
	if (opts)
		g->o = *opts;
	if (!g->o.rise)
		g->o.rise = 2;
	if (!g->o.fall)
		g->o.fall = 3;
	g->d.announce = false;
	g->d.reason = ROUTE_REASON_STARTING;
	g->d.since_ms = now_ms;
	*out = g;
	return AS_OK;
}

void route_gate_free(route_gate_t *g)
{
	free(g);
}

static void evaluate(route_gate_t *g, uint64_t now_ms,
		     struct route_decision *out)
{
	enum route_reason r;
	bool announce = false;

	if (g->stopped)
		r = ROUTE_REASON_STOPPED;
	else if (g->draining)
		r = ROUTE_REASON_DRAINING;
	else if (!g->joined && !g->o.single_node)
		r = ROUTE_REASON_NOT_JOINED;
	else if (!g->healthy)
		r = g->was_healthy || g->fails >= g->o.fall ?
			    ROUTE_REASON_SELFCHECK : ROUTE_REASON_STARTING;
	else {
		r = ROUTE_REASON_HEALTHY;
		announce = true;
	}
	g->d.changed = announce != g->d.announce || r != g->d.reason;
	if (g->d.changed) {
		g->d.announce = announce;
		g->d.reason = r;
		g->d.since_ms = now_ms;
	}
	if (out)
		*out = g->d;
}

void route_gate_selfcheck(route_gate_t *g, bool ok, uint64_t now_ms,
			  struct route_decision *out)
{
	if (ok) {
		g->fails = 0;
		if (g->succ < g->o.rise)
			g->succ++;
		if (!g->healthy && g->succ >= g->o.rise) {
			g->healthy = true;
			g->was_healthy = true;
		}
	} else {
		g->succ = 0;
		if (g->fails < g->o.fall)
			g->fails++;
		if (g->healthy && g->fails >= g->o.fall)
			g->healthy = false;
	}
	evaluate(g, now_ms, out);
}

void route_gate_set_joined(route_gate_t *g, bool joined, uint64_t now_ms,
			   struct route_decision *out)
{
	g->joined = joined;
	evaluate(g, now_ms, out);
}

void route_gate_set_draining(route_gate_t *g, bool draining, uint64_t now_ms,
			     struct route_decision *out)
{
	g->draining = draining;
	evaluate(g, now_ms, out);
}

void route_gate_stop(route_gate_t *g, uint64_t now_ms,
		     struct route_decision *out)
{
	g->stopped = true;
	evaluate(g, now_ms, out);
}

void route_gate_get(const route_gate_t *g, struct route_decision *out)
{
	*out = g->d;
	out->changed = false;
}
