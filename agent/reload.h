/*
 * agent/reload.h - configuration reloads off the loop (see reload.c): a
 * helper of the daemon, which passes the function that swaps a parsed
 * configuration in.
 */
#ifndef ANYSTEER_AGENT_RELOAD_H
#define ANYSTEER_AGENT_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/component.h"

/* On the loop, with a parse's result: takes cfg (also on failure; NULL
 * when rc is set), returns the reload's result and, on success, the
 * services now served in *n_services; err (errlen bytes) holds the
 * parse's problems and takes the apply's. */
typedef int (*agent_reload_apply_fn)(void *arg, struct agent_config *cfg,
				     int rc, char *err, size_t errlen,
				     size_t *n_services);

struct agent_reloader;
int agent_reloader_new(uv_loop_t *loop, const char *path,
		       agent_reload_apply_fn apply, void *arg,
		       struct agent_reloader **out);
/* Asks for a reload; cb (may be NULL) runs on the loop with the result.
 * A request while the file is being parsed joins the next parse, which
 * starts when the current one is done (at most one waits; further
 * requests share it), so every request sees the file as it was at or
 * after the request. AS_ESTATE once stopped. */
int agent_reloader_request(struct agent_reloader *r, agent_reload_cb cb,
			   void *arg);
/* A file is being parsed. */
bool agent_reloader_busy(const struct agent_reloader *r);
/* No more reloads: a parse not yet started is dropped, a running one
 * ends first (its waiters hear that the daemon is shutting down). */
void agent_reloader_stop(struct agent_reloader *r);
/* After the loop has run. */
void agent_reloader_free(struct agent_reloader *r);

#endif
