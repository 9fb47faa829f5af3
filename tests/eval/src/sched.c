/*
 * tests/eval/src/sched.c - the open-loop arrival schedule.
 *
 * The schedule is a pure sequence of send times fixed before the run: a
 * constant rate puts request k at k / rate (computed from k, so rounding
 * does not drift), Poisson arrivals add exponential gaps drawn from a
 * seeded PRNG (the same seed gives the same run). Nothing here sees a
 * response: the caller asks which requests are due at the current time,
 * and one that woke late (a stalled loop, a busy core) gets every missed
 * request with its original time. Latency is then counted from that time,
 * so a stall shows up in the figures instead of being hidden by sending
 * later (no coordinated omission).
 */
#include <math.h>
#include <stdlib.h>

#include "tests/eval/src/eval.h"

struct eval_sched {
	enum eval_arrival kind;
	double rate;		/* per second */
	uint64_t duration;	/* ns */
	uint64_t issued;	/* requests handed out */
	double next_exact;	/* Poisson: next time in ns, unrounded */
	uint64_t next;		/* next time, or EVAL_SCHED_END */
	struct as_rng rng;
};

static void advance(eval_sched_t *s)
{
	double t;

	if (s->kind == EVAL_ARRIVAL_CONSTANT) {
		t = (double)s->issued * 1e9 / s->rate;
	} else {
		/* The first arrival also waits a gap, as a Poisson process
		 * started at 0 does. */
		s->next_exact += -log(as_rng_unit(&s->rng)) * 1e9 / s->rate;
		t = s->next_exact;
	}
	s->next = t < (double)s->duration ? (uint64_t)t : EVAL_SCHED_END;
}

eval_sched_t *eval_sched_new(enum eval_arrival kind, double rate,
			     uint64_t duration_ns, uint64_t seed)
{
	if (!(rate > 0) || !isfinite(rate))
		return NULL;
	eval_sched_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->kind = kind;
	s->rate = rate;
	s->duration = duration_ns;
	as_rng_seed(&s->rng, seed);
	advance(s);
	return s;
}

void eval_sched_free(eval_sched_t *s)
{
	free(s);
}

uint64_t eval_sched_next(const eval_sched_t *s)
{
	return s->next;
}

bool eval_sched_due(eval_sched_t *s, uint64_t now_ns, uint64_t *t_ns,
		    uint64_t *seq)
{
	if (s->next == EVAL_SCHED_END || s->next > now_ns)
		return false;
	*t_ns = s->next;
	*seq = s->issued++;
	advance(s);
	return true;
}

uint64_t eval_sched_issued(const eval_sched_t *s)
{
	return s->issued;
}
