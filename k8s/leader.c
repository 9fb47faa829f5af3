/*
 * k8s/leader.c - the one writer: leader election over a Lease, and the
 * leader's status patches and Events, on the client's write path.
 *
 * Design. Every agent runs a k8s_leader; a timer drives rounds at the
 * elector's pace (k8s_elector_next: a retry period after the last, or
 * when an observed lease runs out). A round reads the Lease (GET), lets
 * the pure elector (lease.c) decide,
 * writes what it asks for (POST/PUT, resourceVersion as precondition)
 * and reports the outcome. Only one round is in flight at a time. While
 * this agent leads, each round also brings the API server in line with
 * the client's last publish (k8s_client_publish): status of the owned
 * Ingresses and of the Gateway API objects, built by status.c as merge
 * patches that carry the read resourceVersion (a stale one gets 409 and
 * is redone from the next state), written only when the object says
 * otherwise, one write per object at a time; and a Warning Event per
 * occurrence of a compromise, aggregated as client-go's recorder does
 * (events.c: a repeat patches the count of the Event already there).
 * At stop the leader releases the Lease with a blocking PUT (bounded),
 * as client-go's ReleaseOnCancel, so the next agent takes over at its
 * next round. A
 * drain (anysteerctl drain) releases it without blocking: the elector
 * stands down and the round it makes due at once writes the release.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <uv.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

#define EVENTS_MAX 4096		/* Event keys remembered (client-go's) */

struct k8s_leader {
	uv_loop_t *loop;
	k8s_client_t *client;
	k8s_elector_t *el;
	uv_timer_t timer;
	char *ns, *name, *identity, *component;
	char lease_path[512], coll_path[512];
	uint32_t retry_ms;	/* the wait after a failed round */
	bool round;		/* a Lease read or write is in flight */
	bool was_leader;
	bool stopped;
	struct k8s_lease_rec pending;	/* what the write asked for */
	struct sreq **busy;	/* status writes in flight */
	size_t n_busy, busy_cap;
	k8s_evbook_t *book;	/* Events told, for their counts */
	struct k8s_leader_stats st;
	void (*closed)(void *);
	void *closed_arg;
};

static int64_t wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void on_timer(uv_timer_t *t);

/* The next round when the elector says; at least retry_ms after a round
 * that failed before the elector saw it (API server down), so errors
 * never make a tight loop. */
static void schedule(k8s_leader_t *l, bool failed)
{
	uint64_t now = uv_now(l->loop), next = k8s_elector_next(l->el);
	uint64_t d = next > now ? next - now : 0;

	if (failed && d < l->retry_ms)
		d = l->retry_ms;
	if (!l->stopped)
		uv_timer_start(&l->timer, on_timer, d, 0);
}

/* ---- the leader's writes ------------------------------------------------------ */

/* One status or Event write in flight; at most one per object or Event. */
struct sreq {
	k8s_leader_t *l;
	char key[600];		/* "Kind ns/name"; "Event <id>" */
	size_t ev_id;		/* Event: its key in the book */
	char ev_name[300];	/* Event: the name written */
};

static void busy_del(k8s_leader_t *l, struct sreq *r)
{
	for (size_t i = 0; i < l->n_busy; i++)
		if (l->busy[i] == r) {
			l->busy[i] = l->busy[--l->n_busy];
			return;
		}
}

static void on_status_written(long code, const char *body, size_t len,
			      void *arg)
{
	struct sreq *r = arg;
	k8s_leader_t *l = r->l;

	(void)body;
	(void)len;
	if (code >= 200 && code < 300)
		l->st.status_writes++;
	else if (code == 409)
		l->st.status_conflicts++;	/* redone from the next read */
	else {
		l->st.status_errors++;
		as_warn("k8s: status of %s: HTTP %ld", r->key, code);
	}
	busy_del(l, r);
	free(r);
}

/* PATCHes one object's status when patch is not NULL (taken). */
static void status_write(k8s_leader_t *l, int okind, const char *ns,
			 const char *name, char *patch)
{
	char path[600];
	struct sreq *r;

	if (!patch)
		return;
	r = calloc(1, sizeof(*r));
	if (!r || k8s_status_path(okind, ns, name, path, sizeof(path)) ||
	    AS_GROW(l->busy, l->busy_cap, l->n_busy + 1)) {
		free(r);
		free(patch);
		return;
	}
	r->l = l;
	snprintf(r->key, sizeof(r->key), "%s %s/%s", k8s_okind_name(okind), ns, name);
	if (k8s_client_request(l->client, "PATCH", path, patch, on_status_written,
			       r) == AS_OK) {
		l->busy[l->n_busy++] = r;
	} else {
		l->st.status_errors++;
		free(r);
	}
	free(patch);
}

static bool busy(k8s_leader_t *l, int okind, const char *ns, const char *name)
{
	char key[600];

	snprintf(key, sizeof(key), "%s %s/%s", k8s_okind_name(okind), ns, name);
	for (size_t i = 0; i < l->n_busy; i++)
		if (!strcmp(l->busy[i]->key, key))
			return true;
	return false;
}

static void sync_status(k8s_leader_t *l, const struct k8s_publish *p)
{
	const struct k8s_objs *ings = k8s_client_objs(l->client, K8S_O_INGRESS);
	char now[40];

	k8s_time_format(wall_us(), false, now, sizeof(now));
	for (size_t i = 0; ings && i < p->n_ingresses; i++) {
		const struct k8s_ingress_pub *g = &p->ingresses[i];
		const struct k8s_ingress *cur = k8s_objs_get(ings, g->namespace_, g->name);
		char *patch = NULL;

		if (!cur || busy(l, K8S_O_INGRESS, g->namespace_, g->name))
			continue;
		if (k8s_ingress_status_patch(cur, (const char *const *)g->hostnames,
					     g->n_hostnames, &patch) == AS_OK)
			status_write(l, K8S_O_INGRESS, g->namespace_, g->name, patch);
	}
	/* Ingresses that left our class: take our hostnames back out. */
	for (size_t i = 0; ings && i < p->n_released; i++) {
		const struct k8s_ingress_pub *g = &p->released[i];
		const struct k8s_ingress *cur = k8s_objs_get(ings, g->namespace_, g->name);
		char *patch = NULL;

		if (!cur || busy(l, K8S_O_INGRESS, g->namespace_, g->name))
			continue;
		if (k8s_ingress_status_release_patch(cur, (const char *const *)g->hostnames,
						     g->n_hostnames, &patch) == AS_OK)
			status_write(l, K8S_O_INGRESS, g->namespace_, g->name, patch);
	}
	for (size_t i = 0; i < p->gw.n_status; i++) {
		const struct k8s_obj_status *st = &p->gw.status[i];
		const struct k8s_objs *t = k8s_client_objs(l->client, st->okind);
		const void *cur = k8s_objs_get(t, st->namespace_, st->name);
		char *patch = NULL;
		int rc = AS_OK;

		if (!cur || busy(l, st->okind, st->namespace_, st->name))
			continue;
		if (st->okind == K8S_O_GATEWAYCLASS)
			rc = k8s_gateway_class_status_patch(cur, st, now, &patch);
		else if (st->okind == K8S_O_GATEWAY)
			rc = k8s_gateway_status_patch(cur, st, now, &patch);
		else
			rc = k8s_route_status_patch(cur, st, now, &patch);
		if (rc == AS_OK)
			status_write(l, st->okind, st->namespace_, st->name, patch);
	}
}

static void on_event_written(long code, const char *body, size_t len, void *arg)
{
	struct sreq *r = arg;
	k8s_leader_t *l = r->l;

	(void)body;
	(void)len;
	k8s_evbook_written(l->book, r->ev_id, code, r->ev_name);
	if (code >= 200 && code < 300)
		l->st.events++;
	else
		l->st.event_errors++;
	busy_del(l, r);
	free(r);
}

/* A Warning Event for each occurrence of a warning about a known object:
 * a new Event the first time, then a patch of its count (events.c). */
static void send_events(k8s_leader_t *l, const struct k8s_publish *p)
{
	k8s_evbook_begin(l->book);
	for (size_t i = 0; i < p->n_warnings; i++) {
		const struct k8s_warning *w = &p->warnings[i];
		const struct k8s_meta *md;
		const void *obj;
		struct k8s_ev_action act;
		char path[400], now[40];
		char *json = NULL;
		struct sreq *r;

		if (!w->name || w->okind < 0)
			continue;
		obj = k8s_objs_get(k8s_client_objs(l->client, w->okind), w->namespace_,
				   w->name);
		if (!obj)
			continue;
		/* Every object struct starts with its k8s_meta. */
		md = obj;
		if (k8s_evbook_tell(l->book, w, md->uid, md->generation, &act) != AS_OK ||
		    act.op == K8S_EV_NONE)
			continue;
		int64_t t = wall_us();
		const char *ns = *w->namespace_ ? w->namespace_ : "default";

		r = calloc(1, sizeof(*r));
		if (!r || AS_GROW(l->busy, l->busy_cap, l->n_busy + 1)) {
			free(r);
			k8s_evbook_written(l->book, act.id, 0, NULL);
			continue;
		}
		r->l = l;
		r->ev_id = act.id;
		snprintf(r->key, sizeof(r->key), "Event %zu", act.id);
		k8s_time_format(t, false, now, sizeof(now));
		if (act.op == K8S_EV_PATCH)
			snprintf(r->ev_name, sizeof(r->ev_name), "%s", act.name);
		if ((act.op == K8S_EV_CREATE &&
		     k8s_event_name(w->name, t + (int64_t)i, r->ev_name,
				    sizeof(r->ev_name))) ||
		    k8s_event_path(ns, act.op == K8S_EV_PATCH ? r->ev_name : NULL,
				   path, sizeof(path))) {
			k8s_evbook_written(l->book, act.id, 0, NULL);
			free(r);
			continue;
		}
		struct k8s_event_spec ev = {
			.name = r->ev_name, .namespace_ = ns, .okind = w->okind,
			.obj_ns = w->namespace_, .obj_name = w->name,
			.obj_uid = md->uid, .obj_rv = md->resource_version,
			.warning = true, .reason = w->reason, .message = w->message,
			.component = l->component, .instance = l->identity,
			.now = now, .count = act.count,
		};
		if (k8s_event_json(&ev, &json) == AS_OK &&
		    k8s_client_request(l->client, act.op == K8S_EV_CREATE ? "POST" :
				       "PATCH", path, json, on_event_written,
				       r) == AS_OK) {
			l->busy[l->n_busy++] = r;
			l->st.events_sent++;
		} else {
			k8s_evbook_written(l->book, act.id, 0, NULL);
			l->st.event_errors++;
			free(r);
		}
		free(json);
	}
	k8s_evbook_end(l->book);
}

/* ---- the election ------------------------------------------------------------------ */

static void leading(k8s_leader_t *l)
{
	bool lead = k8s_elector_is_leader(l->el, uv_now(l->loop));

	if (lead != l->was_leader) {
		as_notice("k8s: %s leadership of Lease %s/%s (holder %s)",
			  lead ? "took" : "lost", l->ns, l->name,
			  k8s_elector_holder(l->el));
		l->was_leader = lead;
		l->st.transitions++;
		if (!lead)	/* a new leadership counts everything once more */
			k8s_evbook_retell(l->book);
	}
	struct k8s_client_stats cs;

	k8s_client_stats(l->client, &cs);
	if (lead && cs.synced) {
		const struct k8s_publish *p = k8s_client_publish(l->client);

		sync_status(l, p);
		send_events(l, p);
	}
}

static void on_lease_written(long code, const char *body, size_t len, void *arg)
{
	k8s_leader_t *l = arg;
	struct k8s_lease_rec stored;
	int res = code >= 200 && code < 300 ? K8S_LEASE_OK :
		code == 409 || code == 422 ? K8S_LEASE_CONFLICT : K8S_LEASE_FAILED;

	l->round = false;
	if (res == K8S_LEASE_OK &&
	    k8s_lease_decode(body, len, &stored) == AS_OK)
		k8s_elector_written(l->el, uv_now(l->loop), res, &stored);
	else
		k8s_elector_written(l->el, uv_now(l->loop), res, NULL);
	if (res == K8S_LEASE_FAILED) {
		l->st.lease_errors++;
		as_warn("k8s: Lease %s/%s: write answered HTTP %ld", l->ns, l->name, code);
	}
	leading(l);
	schedule(l, false);
}

static void on_lease_read(long code, const char *body, size_t len, void *arg)
{
	k8s_leader_t *l = arg;
	struct k8s_lease_rec rec = { 0 };
	struct k8s_lease_action act;
	char *json = NULL;
	bool failed = true;

	l->round = false;
	if (code == 200) {
		if (k8s_lease_decode(body, len, &rec) != AS_OK) {
			l->st.lease_errors++;
			as_warn("k8s: Lease %s/%s: malformed", l->ns, l->name);
			goto out;
		}
	} else if (code != 404) {
		l->st.lease_errors++;
		as_warn("k8s: Lease %s/%s: read answered HTTP %ld", l->ns, l->name, code);
		goto out;
	}
	k8s_elector_observe(l->el, uv_now(l->loop), wall_us(), &rec, &act);
	failed = false;
	if (act.op == K8S_LEASE_WAIT)
		goto out;
	if (k8s_lease_encode(l->ns, l->name, &act.rec, &json) != AS_OK) {
		l->st.lease_errors++;
		goto out;
	}
	if (k8s_client_request(l->client, act.op == K8S_LEASE_CREATE ? "POST" : "PUT",
			       act.op == K8S_LEASE_CREATE ? l->coll_path : l->lease_path,
			       json, on_lease_written, l) == AS_OK) {
		l->round = true;
		free(json);
		return;
	}
	free(json);
	k8s_elector_written(l->el, uv_now(l->loop), K8S_LEASE_FAILED, NULL);
out:
	leading(l);
	schedule(l, failed);
}

static void on_timer(uv_timer_t *t)
{
	k8s_leader_t *l = t->data;

	if (l->round || l->stopped)
		return;
	/* Expire leadership on time even when a read hangs. */
	leading(l);
	if (k8s_client_request(l->client, "GET", l->lease_path, NULL, on_lease_read,
			       l) == AS_OK)
		l->round = true;
	else
		schedule(l, true);
}

/* ---- life cycle ------------------------------------------------------------------------ */

int k8s_leader_new(struct uv_loop_s *loop, k8s_client_t *client,
		   const struct k8s_leader_opts *o, k8s_leader_t **out)
{
	struct k8s_elector_opts eo = {
		.identity = o->identity, .lease_ms = o->lease_ms,
		.renew_deadline_ms = o->renew_deadline_ms, .retry_ms = o->retry_ms,
	};
	k8s_leader_t *l;
	int rc;

	*out = NULL;
	if (!o->namespace_ || !*o->namespace_ || !o->name || !*o->name)
		return AS_EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return AS_ENOMEM;
	l->loop = loop;
	l->client = client;
	l->retry_ms = o->retry_ms ? o->retry_ms : K8S_LEASE_RETRY_MS;
	rc = k8s_elector_new(&eo, &l->el);
	if (!rc)
		rc = k8s_evbook_new(EVENTS_MAX, &l->book);
	if (rc)
		goto fail;
	rc = AS_ENOMEM;
	l->ns = strdup(o->namespace_);
	l->name = strdup(o->name);
	l->identity = strdup(o->identity);
	l->component = strdup(o->component ? o->component : "anysteer");
	if (!l->ns || !l->name || !l->identity || !l->component)
		goto fail;
	rc = AS_EINVAL;
	if (k8s_lease_path(l->ns, l->name, l->lease_path, sizeof(l->lease_path)) ||
	    k8s_lease_path(l->ns, NULL, l->coll_path, sizeof(l->coll_path)))
		goto fail;
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	*out = l;
	return AS_OK;
fail:
	k8s_elector_free(l->el);
	k8s_evbook_free(l->book);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l->component);
	free(l);
	return rc;
}

int k8s_leader_start(k8s_leader_t *l)
{
	as_info("k8s: leader election: Lease %s/%s as %s", l->ns, l->name, l->identity);
	uv_timer_start(&l->timer, on_timer, 0, 0);
	return AS_OK;
}

void k8s_leader_stop(k8s_leader_t *l)
{
	struct k8s_lease_action act;
	char *json = NULL;

	if (!l || l->stopped)
		return;
	l->stopped = true;
	uv_timer_stop(&l->timer);
	k8s_client_cancel(l->client, l);
	for (size_t i = 0; i < l->n_busy; i++) {
		k8s_client_cancel(l->client, l->busy[i]);
		free(l->busy[i]);
	}
	l->n_busy = 0;
	k8s_elector_release(l->el, wall_us(), &act);
	/* A renewal cancelled above may have landed: on 409 read the Lease
	 * once more and release over it while it still names us. */
	for (int i = 0; act.op == K8S_LEASE_UPDATE && i < 2; i++) {
		struct k8s_lease_rec cur;
		char *body = NULL;
		long code;

		if (k8s_lease_encode(l->ns, l->name, &act.rec, &json) != AS_OK)
			break;
		code = k8s_client_request_sync(l->client, "PUT", l->lease_path, json,
					       2000, NULL);
		free(json);
		json = NULL;
		if (code != 409) {
			as_notice("k8s: released Lease %s/%s (HTTP %ld)", l->ns, l->name,
				  code);
			break;
		}
		code = k8s_client_request_sync(l->client, "GET", l->lease_path, NULL,
					       2000, &body);
		if (code != 200 || k8s_lease_decode(body, strlen(body), &cur) ||
		    strcmp(cur.holder, l->identity)) {
			free(body);
			break;
		}
		free(body);
		snprintf(act.rec.rv, sizeof(act.rec.rv), "%s", cur.rv);
		act.rec.transitions = cur.transitions;
	}
	l->was_leader = false;
}

static void on_closed(uv_handle_t *h)
{
	k8s_leader_t *l = h->data;

	k8s_elector_free(l->el);
	free(l->busy);
	k8s_evbook_free(l->book);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l->component);
	free(l);
}

void k8s_leader_free(k8s_leader_t *l)
{
	if (!l)
		return;
	k8s_leader_stop(l);
	uv_close((uv_handle_t *)&l->timer, on_closed);
}

void k8s_leader_set_drained(k8s_leader_t *l, bool drained)
{
	if (!l || l->stopped || k8s_elector_drained(l->el) == drained)
		return;
	as_notice("k8s: %s Lease %s/%s", drained ?
		  "drained: releasing and not standing for" :
		  "undrained: standing again for", l->ns, l->name);
	k8s_elector_set_drained(l->el, drained, uv_now(l->loop));
	leading(l);
	/* A round in flight schedules the next when it ends. */
	if (!l->round)
		schedule(l, false);
}

bool k8s_leader_drained(const k8s_leader_t *l)
{
	return l && k8s_elector_drained(l->el);
}

bool k8s_leader_is_leader(const k8s_leader_t *l)
{
	return l && !l->stopped && k8s_elector_is_leader(l->el, uv_now(l->loop));
}

const char *k8s_leader_holder(const k8s_leader_t *l)
{
	return l ? k8s_elector_holder(l->el) : "";
}

void k8s_leader_stats(const k8s_leader_t *l, struct k8s_leader_stats *out)
{
	*out = l->st;
}
