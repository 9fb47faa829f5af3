/*
 * agent/reload.c - configuration reloads off the loop.
 *
 * Reloads run in two steps so the loop never waits for a parse (a large
 * or hostile file takes as long as it takes; gossip, DNS view updates and
 * the control socket go on meanwhile): reload_work reads, parses and
 * validates the file on a libuv worker thread (agent_config_load touches
 * nothing but its arguments), reload_after hands the result to the
 * daemon's apply function on the loop. One job is parsed at a time;
 * requests meanwhile share one waiting job, which starts when the running
 * one is done.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/reload.h"
#include "lib/as.h"

struct reload_waiter {
	agent_reload_cb cb;
	void *arg;
	struct reload_waiter *next;
};

struct reload_job {
	uv_work_t work;
	struct agent_reloader *r;
	char *path;
	struct agent_config *cfg;	/* the parse's result */
	int rc;
	char err[16384];
	struct reload_waiter *waiters;
};

struct agent_reloader {
	uv_loop_t *loop;
	char *path;
	agent_reload_apply_fn apply;
	void *arg;
	struct reload_job *running, *next;
	bool stopped;
};

static void reload_work(uv_work_t *w)
{
	struct reload_job *j = w->data;
	j->rc = agent_config_load(j->path, &j->cfg, j->err, sizeof(j->err));
}

/* Tells every waiter of j the result and frees j. */
static void reload_finish(struct reload_job *j, int rc, const char *err,
			  size_t n_services)
{
	struct reload_waiter *w = j->waiters, *next;

	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, rc, err, n_services);
		free(w);
	}
	agent_config_free(j->cfg);
	free(j->path);
	free(j);
}

static void reload_after(uv_work_t *w, int status);

static void reload_queue(struct agent_reloader *r, struct reload_job *j)
{
	int rc = uv_queue_work(r->loop, &j->work, reload_work, reload_after);
	if (rc) {
		as_err("reload: cannot start a worker: %s", uv_strerror(rc));
		reload_finish(j, AS_ELIB, "cannot start a worker thread", 0);
		return;
	}
	r->running = j;
}

static void reload_after(uv_work_t *w, int status)
{
	struct reload_job *j = w->data, *next;
	struct agent_reloader *r = j->r;
	size_t n_services = 0;
	int rc;

	r->running = NULL;
	/* The waiting job starts now: it reads the file as it is now. */
	if ((next = r->next)) {
		r->next = NULL;
		if (r->stopped)
			reload_finish(next, AS_ESTATE, "the daemon is shutting down", 0);
		else
			reload_queue(r, next);
	}
	if (status || r->stopped) {
		reload_finish(j, AS_ESTATE, "the daemon is shutting down", 0);
		return;
	}
	rc = r->apply(r->arg, j->cfg, j->rc, j->err, sizeof(j->err), &n_services);
	j->cfg = NULL;		/* taken, also on failure */
	reload_finish(j, rc, j->err, n_services);
}

int agent_reloader_request(struct agent_reloader *r, agent_reload_cb cb,
			   void *arg)
{
	struct reload_job *j = r->next;
	struct reload_waiter *wt = NULL;
	bool fresh = false;

	if (r->stopped)
		return AS_ESTATE;
	if (cb && !(wt = calloc(1, sizeof(*wt))))
		return AS_ENOMEM;
	if (!j) {
		j = calloc(1, sizeof(*j));
		if (!j || !(j->path = strdup(r->path))) {
			free(j);
			free(wt);
			return AS_ENOMEM;
		}
		j->r = r;
		j->work.data = j;
		fresh = true;
	}
	if (wt) {
		*wt = (struct reload_waiter){ cb, arg, j->waiters };
		j->waiters = wt;
	}
	if (!fresh)
		return AS_OK;	/* joins the waiting job */
	if (r->running) {
		r->next = j;	/* after the running one */
		as_info("reload: %s is being parsed; the next parse starts "
			"when it is done", r->path);
		return AS_OK;
	}
	reload_queue(r, j);
	return AS_OK;
}

bool agent_reloader_busy(const struct agent_reloader *r)
{
	return r->running != NULL;
}

void agent_reloader_stop(struct agent_reloader *r)
{
	r->stopped = true;
	if (r->running)
		uv_cancel((uv_req_t *)&r->running->work);
}

int agent_reloader_new(uv_loop_t *loop, const char *path,
		       agent_reload_apply_fn apply, void *arg,
		       struct agent_reloader **out)
{
	struct agent_reloader *r = calloc(1, sizeof(*r));

	if (!r || !(r->path = strdup(path))) {
		free(r);
		return AS_ENOMEM;
	}
	r->loop = loop;
	r->apply = apply;
	r->arg = arg;
	*out = r;
	return AS_OK;
}

void agent_reloader_free(struct agent_reloader *r)
{
	if (!r)
		return;
	free(r->path);
	free(r);
}
