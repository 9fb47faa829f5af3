/*
 * agent/probe.c - TCP connect health probes for this node's endpoints.
 *
 * Design. Two layers. The pure part, agent_probe_feed(), is the rise/fall
 * state machine: it takes one probe result and says whether the health
 * changed. An endpoint starts "unknown", which counts as healthy so that a
 * restarting agent does not blip every endpoint to down; the first result
 * settles it at once, and after that `fall` failures in a row take it
 * down and `rise` successes in a row bring it back.
 *
 * The thin libuv part (struct agent_prober) runs one timer for all
 * targets: every interval it starts a connect attempt for each target
 * that has none in flight. An attempt owns its TCP handle and a timeout
 * timer and is freed in the close callback of the last of them, so a
 * prober can be closed or given new targets while attempts are still in
 * flight: attempts carry the generation of the target list they were
 * started for, and results for an older generation are dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/probe.h"
#include "lib/as.h"
#include "lib/list.h"

bool agent_probe_feed(struct agent_probe_state *s, bool ok, uint32_t rise,
		      uint32_t fall)
{
	if (ok)
		s->checks_ok++;
	else
		s->checks_failed++;
	if (s->health == AGENT_PROBE_UNKNOWN) {
		s->health = ok ? AGENT_PROBE_UP : AGENT_PROBE_DOWN;
		s->streak = 0;
		/* Unknown already counted as healthy. */
		if (!ok)
			s->transitions++;
		return !ok;
	}
	bool up = s->health == AGENT_PROBE_UP;
	if (ok == up) {
		s->streak = 0;	/* agrees with the current state */
		return false;
	}
	s->streak++;
	if (s->streak < (up ? AS_MAX(fall, 1u) : AS_MAX(rise, 1u)))
		return false;
	s->health = up ? AGENT_PROBE_DOWN : AGENT_PROBE_UP;
	s->streak = 0;
	s->transitions++;
	return true;
}

bool agent_probe_healthy(const struct agent_probe_state *s)
{
	return s->health != AGENT_PROBE_DOWN;
}

/* ---- libuv ------------------------------------------------------------- */

struct target {
	struct agent_probe_target t;
	struct agent_probe_state st;
	bool in_flight;
};

struct attempt {
	struct as_list link;	/* in p->attempts */
	struct agent_prober *p;
	uint64_t gen;
	size_t idx;
	uv_tcp_t tcp;
	uv_connect_t req;
	uv_timer_t timer;
	int handles;
	bool done;
};

struct agent_prober {
	uv_loop_t *loop;
	uv_timer_t timer;
	bool timer_open;
	struct agent_prober_config cfg;
	agent_probe_change_cb cb;
	void *arg;
	struct target *targets;
	size_t n_targets;
	uint64_t gen;
	struct as_list attempts;	/* of struct attempt, newest first */
	bool closing;
};

static void maybe_free(struct agent_prober *p)
{
	if (p->closing && !p->timer_open && as_list_empty(&p->attempts)) {
		free(p->targets);
		free(p);
	}
}

static void attempt_closed(uv_handle_t *h)
{
	struct attempt *at = h->data;
	struct agent_prober *p = at->p;

	if (--at->handles > 0)
		return;
	as_list_remove(&at->link);
	free(at);
	maybe_free(p);
}

/* Records the result once and closes the attempt's handles. */
static void attempt_finish(struct attempt *at, bool ok)
{
	struct agent_prober *p = at->p;

	if (at->done)
		return;
	at->done = true;
	uv_timer_stop(&at->timer);
	uv_close((uv_handle_t *)&at->tcp, attempt_closed);
	uv_close((uv_handle_t *)&at->timer, attempt_closed);
	if (p->closing || at->gen != p->gen || at->idx >= p->n_targets)
		return;
	struct target *t = &p->targets[at->idx];
	t->in_flight = false;
	if (agent_probe_feed(&t->st, ok, p->cfg.rise, p->cfg.fall) && p->cb)
		p->cb(p->arg, at->idx, agent_probe_healthy(&t->st));
}

static void on_connect(uv_connect_t *req, int status)
{
	attempt_finish(req->data, status == 0);
}

static void on_attempt_timeout(uv_timer_t *h)
{
	attempt_finish(h->data, false);
}

static void start_attempt(struct agent_prober *p, size_t idx)
{
	struct target *t = &p->targets[idx];
	struct attempt *at = calloc(1, sizeof(*at));
	struct sockaddr_storage ss;
	int rc;

	if (!at)
		return;
	at->p = p;
	at->gen = p->gen;
	at->idx = idx;
	if (uv_tcp_init(p->loop, &at->tcp) < 0) {
		free(at);
		return;
	}
	uv_timer_init(p->loop, &at->timer);
	at->tcp.data = at->timer.data = at->req.data = at;
	at->handles = 2;
	as_list_push_front(&p->attempts, &at->link);
	t->in_flight = true;

	memset(&ss, 0, sizeof(ss));
	if (t->t.family == AF_INET) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(t->t.port);
		memcpy(&a4->sin_addr, t->t.addr, 4);
	} else {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(t->t.port);
		memcpy(&a6->sin6_addr, t->t.addr, 16);
	}
	uv_timer_start(&at->timer, on_attempt_timeout, p->cfg.timeout_ms, 0);
	rc = uv_tcp_connect(&at->req, &at->tcp, (const struct sockaddr *)&ss,
			    on_connect);
	if (rc < 0) {
		/* No route, no address: a failed check, not a bug. */
		as_debug("probe: connect to port %u: %s", t->t.port,
			 uv_strerror(rc));
		attempt_finish(at, false);
	}
}

static void on_tick(uv_timer_t *h)
{
	struct agent_prober *p = h->data;

	for (size_t i = 0; i < p->n_targets && !p->closing; i++)
		if (!p->targets[i].in_flight)
			start_attempt(p, i);
}

int agent_prober_new(uv_loop_t *loop, const struct agent_prober_config *cfg,
		     agent_probe_change_cb cb, void *arg,
		     struct agent_prober **out)
{
	struct agent_prober *p;

	*out = NULL;
	if (!cfg->interval_ms || !cfg->timeout_ms)
		return AS_EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return AS_ENOMEM;
	p->loop = loop;
	p->cfg = *cfg;
	p->cb = cb;
	p->arg = arg;
	as_list_init(&p->attempts);
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	p->timer_open = true;
	/* The first round right away: health is known within a timeout. */
	uv_timer_start(&p->timer, on_tick, 0, cfg->interval_ms);
	*out = p;
	return AS_OK;
}

static bool same_target(const struct agent_probe_target *a,
			const struct agent_probe_target *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, 16) == 0;
}

int agent_prober_set_targets(struct agent_prober *p,
			     const struct agent_probe_target *t, size_t n)
{
	struct target *nt = calloc(n ? n : 1, sizeof(*nt));

	if (!nt)
		return AS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		nt[i].t = t[i];
		/* A target that stays keeps its history. */
		for (size_t j = 0; j < p->n_targets; j++) {
			if (same_target(&t[i], &p->targets[j].t)) {
				nt[i].st = p->targets[j].st;
				break;
			}
		}
	}
	free(p->targets);
	p->targets = nt;
	p->n_targets = n;
	p->gen++;	/* results of attempts in flight are dropped */
	return AS_OK;
}

void agent_prober_set_config(struct agent_prober *p,
			     const struct agent_prober_config *cfg)
{
	if (!cfg->interval_ms || !cfg->timeout_ms)
		return;
	bool restart = cfg->interval_ms != p->cfg.interval_ms;
	p->cfg = *cfg;
	if (restart && !p->closing)
		uv_timer_start(&p->timer, on_tick, cfg->interval_ms,
			       cfg->interval_ms);
}

size_t agent_prober_count(const struct agent_prober *p)
{
	return p ? p->n_targets : 0;
}

const struct agent_probe_state *agent_prober_state(const struct agent_prober *p,
						   size_t i)
{
	return p && i < p->n_targets ? &p->targets[i].st : NULL;
}

static void timer_closed(uv_handle_t *h)
{
	struct agent_prober *p = h->data;
	p->timer_open = false;
	maybe_free(p);
}

void agent_prober_close(struct agent_prober *p)
{
	struct as_list *n, *tmp;

	if (!p || p->closing)
		return;
	p->closing = true;
	uv_close((uv_handle_t *)&p->timer, timer_closed);
	AS_LIST_FOREACH_SAFE(n, tmp, &p->attempts)
		attempt_finish(AS_LIST_ENTRY(n, struct attempt, link), false);
}
