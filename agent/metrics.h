/*
 * agent/metrics.h - the metrics component: Prometheus metrics and
 * /healthz over HTTP (see metrics.c). Included by the daemon and the
 * tests.
 */
#ifndef ANYSTEER_AGENT_METRICS_H
#define ANYSTEER_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/component.h"

/* Off without metrics.listen. free stops the HTTP thread, which reads
 * the DNS server's counters: the daemon frees it before the DNS server. */
extern const struct agent_component_ops agent_metrics_ops;

/* A metrics HTTP connection, for the limits (see metrics.c). */
struct agent_http_conn {
	bool used;
	bool started;		/* libmicrohttpd took it (may be shut down) */
	bool closing;		/* shut down, not yet closed */
	bool answering;		/* its request is in: being answered */
	int fd;
	int family;
	uint8_t addr[16];	/* client address; 4 bytes for IPv4 */
	uint64_t since_ms;	/* start of its current request */
};
/* Soft limits of the metrics listener (metrics.c). */
struct agent_http_limits {
	unsigned keep_total, keep_per_ip; /* open connections kept */
	uint64_t min_age_ms;	/* younger ones are not evicted */
};
/* Pure: slot nu has just been taken. When that makes more than
 * keep_per_ip open connections from its address, or more than keep_total
 * overall, returns the slot to shut down: the oldest other open one of
 * that address, or overall, that libmicrohttpd has started, that is not
 * being answered and whose current request started min_age_ms or more
 * before now; else -1. Closing slots do not count. */
int agent_http_pick_victim(const struct agent_http_conn *c, size_t n,
			   size_t nu, const struct agent_http_limits *l,
			   uint64_t now_ms);
/* Renders the Prometheus text exposition into a malloc'd string: the
 * daemon's part from the snapshot and the DNS counters, then, with a
 * context, every component's part (ctx->metrics). */
char *agent_metrics_render(const struct agent_snapshot *snap,
			   const struct dns_stats *st, struct agent_ctx *ctx,
			   size_t *len);

#endif
