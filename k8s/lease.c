/*
 * k8s/lease.c - leader election over a coordination.k8s.io/v1 Lease, as
 * a pure state machine, and the Lease's JSON.
 *
 * Design. client-go's leaderelection, restated without goroutines: each
 * round the owner reads the Lease and gives it to k8s_elector_observe(),
 * which answers what to write (create, take over or renew with the read
 * resourceVersion as precondition) or to wait; the owner reports the
 * write's outcome to k8s_elector_written(). A 409 means someone else
 * wrote in between: nothing is assumed, the next round reads again.
 * Another holder's lease counts as expired only after leaseDurationSeconds
 * on our own monotonic clock since we last saw the record change, so
 * clocks that disagree between nodes cannot make two leaders; and a
 * leader that fails to renew for the renew deadline (shorter than the
 * lease) stops leading before anyone else may take over.
 *
 * Timing. The holder's renewal reaches the API server at S; a candidate
 * first reads it at O >= S and may take over from O + lease. The holder
 * counts its renew deadline from the round that asked for the write
 * (before S), so it has stopped leading by S + deadline < O + lease
 * whatever the latency. A waiting candidate reads again at the next
 * retry period or exactly when the lease it observed runs out, whichever
 * is first, not at the next retry tick after it: since it reads every
 * retry period, O <= S + retry, and a killed holder is replaced within
 * lease + retry (plus one GET and one PUT) of its last renewal, never
 * earlier than lease after it (docs/kubernetes.md).
 *
 * Drain. A drained elector never writes itself in: it releases the
 * Lease when the record names it (read first, so the release carries the
 * current resourceVersion even when a renewal was in flight) and waits
 * otherwise, until it is undrained.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

struct k8s_elector {
	char *identity;
	uint32_t lease_ms, deadline_ms, retry_ms;
	struct k8s_lease_rec observed;
	uint64_t observed_ms;	/* when observed last changed (monotonic) */
	bool leader;
	uint64_t renewed_ms;	/* round of the last successful write as
				 * holder (monotonic, before the write) */
	uint64_t next_ms;
	struct k8s_lease_rec pending;	/* what the last action asked for */
	uint64_t pending_ms;	/* the round that asked for it */
	bool drained;		/* stand down: release, never acquire */
};

/* ---- JSON ------------------------------------------------------------------ */

int k8s_lease_decode(const char *json, size_t len, struct k8s_lease_rec *out)
{
	json_t *root = k8s__load(json, len), *spec, *md;
	const char *k, *holder = NULL, *rv = NULL, *at = NULL, *rt = NULL;
	int64_t dur = 0, tr = 0;
	int rc = AS_EMALFORMED;

	memset(out, 0, sizeof(*out));
	if (!root || k8s__str(root, "kind", &k) || (k && strcmp(k, "Lease")) ||
	    k8s__typed(root, "metadata", JSON_OBJECT, &md) || !md ||
	    k8s__str(md, "resourceVersion", &rv) ||
	    k8s__typed(root, "spec", JSON_OBJECT, &spec) ||
	    (spec && (k8s__str(spec, "holderIdentity", &holder) ||
		      k8s__int(spec, "leaseDurationSeconds", 0, INT32_MAX, &dur) ||
		      k8s__int(spec, "leaseTransitions", 0, INT32_MAX, &tr) ||
		      k8s__str(spec, "acquireTime", &at) ||
		      k8s__str(spec, "renewTime", &rt))))
		goto out;
	if ((holder && strlen(holder) >= sizeof(out->holder)) ||
	    (rv && strlen(rv) >= sizeof(out->rv)) ||
	    (at && k8s_time_parse(at, &out->acquire_us)) ||
	    (rt && k8s_time_parse(rt, &out->renew_us)))
		goto out;
	out->exists = true;
	snprintf(out->holder, sizeof(out->holder), "%s", holder ? holder : "");
	snprintf(out->rv, sizeof(out->rv), "%s", rv ? rv : "");
	out->duration_s = (int32_t)dur;
	out->transitions = (int32_t)tr;
	rc = AS_OK;
out:
	if (rc)
		memset(out, 0, sizeof(*out));
	json_decref(root);
	return rc;
}

int k8s_lease_encode(const char *ns, const char *name,
		     const struct k8s_lease_rec *rec, char **out)
{
	char at[40], rt[40];
	json_t *j, *spec;

	*out = NULL;
	if (!ns || !*ns || !name || !*name)
		return AS_EINVAL;
	spec = json_pack("{s:s, s:i, s:i}", "holderIdentity", rec->holder,
			 "leaseDurationSeconds", (int)rec->duration_s,
			 "leaseTransitions", (int)rec->transitions);
	if (spec && rec->acquire_us &&
	    (k8s_time_format(rec->acquire_us, true, at, sizeof(at)) ||
	     json_object_set_new(spec, "acquireTime", json_string(at))))
		goto bad;
	if (spec && rec->renew_us &&
	    (k8s_time_format(rec->renew_us, true, rt, sizeof(rt)) ||
	     json_object_set_new(spec, "renewTime", json_string(rt))))
		goto bad;
	j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o*}", "apiVersion",
		      "coordination.k8s.io/v1", "kind", "Lease", "metadata",
		      "name", name, "namespace", ns, "spec", spec);
	if (j && *rec->rv)
		json_object_set_new(json_object_get(j, "metadata"),
				    "resourceVersion", json_string(rec->rv));
	*out = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	return *out ? AS_OK : AS_ENOMEM;
bad:
	json_decref(spec);
	return AS_ENOMEM;
}

/* ---- the state machine ----------------------------------------------------------- */

int k8s_elector_new(const struct k8s_elector_opts *o, k8s_elector_t **out)
{
	k8s_elector_t *e;

	*out = NULL;
	if (!o->identity || !*o->identity ||
	    strlen(o->identity) >= sizeof(e->observed.holder))
		return AS_EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return AS_ENOMEM;
	e->lease_ms = o->lease_ms ? o->lease_ms : K8S_LEASE_DURATION_MS;
	e->deadline_ms = o->renew_deadline_ms ? o->renew_deadline_ms :
			 K8S_LEASE_RENEW_DEADLINE_MS;
	e->retry_ms = o->retry_ms ? o->retry_ms : K8S_LEASE_RETRY_MS;
	/* client-go's own checks: the leader must give up before others
	 * may take over, and retry several times within the deadline. */
	if (e->deadline_ms >= e->lease_ms || e->retry_ms >= e->deadline_ms ||
	    e->lease_ms < 1000 || !(e->identity = strdup(o->identity))) {
		free(e);
		return AS_EINVAL;
	}
	*out = e;
	return AS_OK;
}

void k8s_elector_free(k8s_elector_t *e)
{
	if (!e)
		return;
	free(e->identity);
	free(e);
}

static bool rec_same(const struct k8s_lease_rec *a, const struct k8s_lease_rec *b)
{
	return a->exists == b->exists && !strcmp(a->holder, b->holder) &&
	       !strcmp(a->rv, b->rv) && a->renew_us == b->renew_us &&
	       a->acquire_us == b->acquire_us && a->duration_s == b->duration_s &&
	       a->transitions == b->transitions;
}

/* client-go's release record: no holder, a 1 s lease, the transitions
 * count kept, over rv. */
static void release_rec(const struct k8s_lease_rec *from, int64_t wall_us,
			struct k8s_lease_rec *w)
{
	memset(w, 0, sizeof(*w));
	w->exists = true;
	w->duration_s = 1;
	w->acquire_us = wall_us;
	w->renew_us = wall_us;
	w->transitions = from->transitions;
	snprintf(w->rv, sizeof(w->rv), "%s", from->rv);
}

void k8s_elector_observe(k8s_elector_t *e, uint64_t now_ms, int64_t wall_us,
			 const struct k8s_lease_rec *read,
			 struct k8s_lease_action *act)
{
	struct k8s_lease_rec *w = &act->rec;

	memset(act, 0, sizeof(*act));
	e->next_ms = now_ms + e->retry_ms;
	act->next_ms = e->next_ms;
	e->pending_ms = now_ms;
	if (read->exists && !rec_same(&e->observed, read)) {
		e->observed = *read;
		e->observed_ms = now_ms;
	}
	bool mine = read->exists && !strcmp(read->holder, e->identity);

	if (e->drained) {
		e->leader = false;
		if (!read->exists)
			memset(&e->observed, 0, sizeof(e->observed));
		if (!mine)
			return;	/* WAIT: not ours to take */
		release_rec(read, wall_us, w);
		act->op = K8S_LEASE_UPDATE;
		e->pending = *w;
		return;
	}
	snprintf(w->holder, sizeof(w->holder), "%s", e->identity);
	w->exists = true;
	w->duration_s = (int32_t)((e->lease_ms + 999) / 1000);
	w->renew_us = wall_us;
	if (!read->exists) {
		memset(&e->observed, 0, sizeof(e->observed));
		w->acquire_us = wall_us;
		act->op = K8S_LEASE_CREATE;
		e->pending = *w;
		return;
	}
	if (*read->holder && !mine) {
		uint64_t dur = read->duration_s > 0 ?
			(uint64_t)read->duration_s * 1000 : e->lease_ms;
		uint64_t expiry = e->observed_ms + dur;

		e->leader = false;
		if (expiry > now_ms) {
			/* Held and not expired: look again at the next retry
			 * period, or right when it runs out if that is sooner. */
			act->op = K8S_LEASE_WAIT;
			if (expiry < e->next_ms)
				e->next_ms = act->next_ms = expiry;
			return;
		}
	}
	/* Free, expired, or ours: write ourselves in over what we read. */
	snprintf(w->rv, sizeof(w->rv), "%s", read->rv);
	if (mine) {
		w->acquire_us = read->acquire_us ? read->acquire_us : wall_us;
		w->transitions = read->transitions;
	} else {
		w->acquire_us = wall_us;
		w->transitions = read->transitions + 1;
	}
	act->op = K8S_LEASE_UPDATE;
	e->pending = *w;
}

void k8s_elector_written(k8s_elector_t *e, uint64_t now_ms, int result,
			 const struct k8s_lease_rec *stored)
{
	if (result != K8S_LEASE_OK || !e->pending.exists)
		return;	/* the next round reads again */
	if (stored && stored->exists) {
		e->observed = *stored;
	} else {
		e->observed = e->pending;
		e->observed.rv[0] = '\0';
	}
	e->observed_ms = now_ms;
	if (!strcmp(e->pending.holder, e->identity)) {
		if (e->drained) {
			/* A renewal that was in flight when we were drained
			 * landed: read again at once and release it. */
			e->next_ms = now_ms;
		} else {
			e->leader = true;
			/* From before the write reached the server, so we
			 * stop leading before any candidate may take over. */
			e->renewed_ms = e->pending_ms;
		}
	}
	memset(&e->pending, 0, sizeof(e->pending));
}

bool k8s_elector_is_leader(const k8s_elector_t *e, uint64_t now_ms)
{
	return e->leader && !e->drained && now_ms < e->renewed_ms + e->deadline_ms;
}

void k8s_elector_set_drained(k8s_elector_t *e, bool drained, uint64_t now_ms)
{
	if (e->drained == drained)
		return;
	e->drained = drained;
	if (drained)
		e->leader = false;
	/* The next round now: release at once, or stand again. */
	e->next_ms = now_ms;
}

bool k8s_elector_drained(const k8s_elector_t *e)
{
	return e->drained;
}

uint64_t k8s_elector_next(const k8s_elector_t *e)
{
	return e->next_ms;
}

const char *k8s_elector_holder(const k8s_elector_t *e)
{
	return e->observed.exists ? e->observed.holder : "";
}

void k8s_elector_release(k8s_elector_t *e, int64_t wall_us,
			 struct k8s_lease_action *act)
{
	memset(act, 0, sizeof(*act));
	act->op = K8S_LEASE_WAIT;
	/* Drained: a release may not have landed yet; the record says. */
	if ((!e->leader && !e->drained) || strcmp(e->observed.holder, e->identity))
		goto out;
	/* The next candidate takes it at its next round. */
	act->op = K8S_LEASE_UPDATE;
	release_rec(&e->observed, wall_us, &act->rec);
	e->pending = act->rec;
out:
	e->leader = false;
}
