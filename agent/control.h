/*
 * agent/control.h - the control component: a line-oriented JSON server
 * on a UNIX socket (see control.c), dispatching through the daemon's
 * command registry, with the commands commands, status, services and
 * reload. Included by the daemon only.
 */
#ifndef ANYSTEER_AGENT_CONTROL_H
#define ANYSTEER_AGENT_CONTROL_H

#include "agent/component.h"

#define AGENT_CONTROL_VERSION 1

extern const struct agent_component_ops agent_control_ops;

/* Answers a command started through afn: data (its reference is taken)
 * or, when data is NULL, the error err. Harmless when the client has gone
 * away meanwhile. */
void agent_reply_done(struct agent_reply *r, json_t *data, const char *err);

#endif
