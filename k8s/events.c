/*
 * k8s/events.c - which Events the leader writes: client-go's EventRecorder
 * aggregation, as a pure book over the rounds' warnings.
 *
 * Design. client-go keys an Event by its source, involved object (uid
 * included), type, reason and message; a repeat of a key it has told is a
 * PATCH of the existing Event's count and lastTimestamp, not a new Event,
 * so `kubectl describe` shows one line "x3 over 5m". Our warnings are a
 * state, recomputed on every publish, not a stream of calls, so the book
 * decides what an occurrence is: a warning that appears (first time, or
 * again after it had gone away), or that still holds after its object's
 * metadata.generation changed (the user edited the spec and the
 * compromise is still there). A warning that merely stays is not told
 * again. The leader brackets each round with begin/end, asks tell() for
 * each warning and reports each write with written(); at most one write
 * per Event is in flight, and an occurrence seen meanwhile waits for the
 * next round. A failed write is retried at the next round; a PATCH that
 * finds the Event gone (404: Events expire after an hour) makes the next
 * occurrence a new Event. The book holds at most max keys (client-go's
 * LRU holds 4096); beyond that tell() says AS_ELIMIT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

struct evkey {
	char *key;		/* okind/ns/name/uid/reason/message */
	char *name;		/* the Event's, NULL until created */
	uint32_t count;		/* as the API server has it */
	uint32_t want;		/* the count being written */
	int64_t generation;	/* of the object when last counted */
	bool present;		/* counted, and still seen */
	bool seen;		/* seen in this round */
	bool busy;		/* a write in flight */
	bool creating;		/* ... a POST */
};

struct k8s_evbook {
	struct evkey *v;
	size_t n, cap, max;
};

int k8s_evbook_new(size_t max, k8s_evbook_t **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return AS_ENOMEM;
	(*out)->max = max ? max : 4096;
	return AS_OK;
}

void k8s_evbook_free(k8s_evbook_t *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].key);
		free(b->v[i].name);
	}
	free(b->v);
	free(b);
}

void k8s_evbook_begin(k8s_evbook_t *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->v[i].seen = false;
}

void k8s_evbook_end(k8s_evbook_t *b)
{
	/* Gone from the warnings: its return is a new occurrence. */
	for (size_t i = 0; i < b->n; i++)
		if (!b->v[i].seen)
			b->v[i].present = false;
}

void k8s_evbook_retell(k8s_evbook_t *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->v[i].present = false;
}

int k8s_evbook_tell(k8s_evbook_t *b, const struct k8s_warning *w,
		    const char *uid, int64_t generation,
		    struct k8s_ev_action *out)
{
	struct evkey *e = NULL;
	char *key;
	int n;

	memset(out, 0, sizeof(*out));
	if (!w->reason || !w->message || !w->name || !w->namespace_)
		return AS_EINVAL;
	n = snprintf(NULL, 0, "%d/%s/%s/%s/%s/%s", w->okind, w->namespace_,
		     w->name, uid ? uid : "", w->reason, w->message);
	key = n < 0 ? NULL : malloc((size_t)n + 1);
	if (!key)
		return AS_ENOMEM;
	snprintf(key, (size_t)n + 1, "%d/%s/%s/%s/%s/%s", w->okind, w->namespace_,
		 w->name, uid ? uid : "", w->reason, w->message);
	for (size_t i = 0; i < b->n && !e; i++)
		if (!strcmp(b->v[i].key, key))
			e = &b->v[i];
	if (e) {
		free(key);
	} else {
		if (b->n >= b->max) {
			free(key);
			return AS_ELIMIT;
		}
		if (AS_GROW(b->v, b->cap, b->n + 1)) {
			free(key);
			return AS_ENOMEM;
		}
		e = &b->v[b->n++];
		memset(e, 0, sizeof(*e));
		e->key = key;
		e->generation = generation;
	}
	out->id = (size_t)(e - b->v);
	e->seen = true;
	if (e->busy || (e->present && e->generation == generation))
		return AS_OK;	/* K8S_EV_NONE */
	e->present = true;
	e->generation = generation;
	e->busy = true;
	e->creating = !e->name;
	e->want = e->name ? e->count + 1 : 1;
	out->op = e->name ? K8S_EV_PATCH : K8S_EV_CREATE;
	out->count = e->want;
	out->name = e->name;
	return AS_OK;
}

void k8s_evbook_written(k8s_evbook_t *b, size_t id, long code,
			const char *name)
{
	struct evkey *e;

	if (id >= b->n || !b->v[id].busy)
		return;
	e = &b->v[id];
	e->busy = false;
	if (code >= 200 && code < 300) {
		if (e->creating) {
			free(e->name);
			e->name = name ? strdup(name) : NULL;
			if (!e->name) {
				/* Cannot patch it later: the next one is new. */
				e->present = false;
				return;
			}
		}
		e->count = e->want;
		return;
	}
	/* Not written: told again at the next round; a 404 on PATCH means
	 * the Event expired, so that is a new one. */
	e->present = false;
	if (!e->creating && code == 404) {
		free(e->name);
		e->name = NULL;
		e->count = 0;
	}
}

uint32_t k8s_evbook_count(const k8s_evbook_t *b, size_t id)
{
	return id < b->n ? b->v[id].count : 0;
}

size_t k8s_evbook_size(const k8s_evbook_t *b)
{
	return b->n;
}
