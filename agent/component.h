/*
 * agent/component.h - the interface between the daemon (agent/daemon.c)
 * and its components, in the manner of BIRD's struct protocol: a
 * component is a table of hooks (struct agent_component_ops) and gets a
 * context (struct agent_ctx). This is the one agent header every
 * component includes; a component never includes another component's
 * header or the daemon's.
 *
 * Design. The daemon owns the loop, the configuration, the catalog (the
 * config's services merged with the Kubernetes source's), the load sample,
 * the DNS server and the answer view. A component reads them through its
 * context, and tells the daemon what happened by emitting an event; the
 * daemon alone turns events into actions (a gossip join opens the anycast
 * gate, a changed source set re-merges the catalog, re-announces the
 * local endpoints and rebuilds the view, ...), and tells components what
 * concerns them through their notify hook. So no component calls another,
 * and the order in which they start is the daemon's business: state such
 * as "gossip has joined" is the daemon's and is read at start.
 *
 * Threads: everything runs on the loop thread, except the metrics hooks
 * (struct agent_component_ops.metrics), which the HTTP thread calls with
 * a copy of the snapshot, and ctx->snapshot(), which takes the copy.
 */
#ifndef ANYSTEER_AGENT_COMPONENT_H
#define ANYSTEER_AGENT_COMPONENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "gossip/gossip.h"
#include "k8s/k8s.h"

/* ---- events ------------------------------------------------------------- */

enum agent_event {
	/* Emitted by components (ctx->emit). */
	AGENT_EV_JOINED = 1,	/* gossip joined a cluster (sticky) */
	AGENT_EV_MEMBERS_CHANGED, /* the cluster view changed: rebuild
				   * the answers; emit returns the result */
	AGENT_EV_LOCAL_CHANGED,	/* a local source has a new set: arg is
				 * the const struct k8s_set *, valid until
				 * the next one; NULL = the source is gone */
	AGENT_EV_STOP,		/* stop the daemon (exit code 0) */
	AGENT_EV_DRAIN,		/* drain (SIGTERM, anysteerctl drain) or
				 * undrain: arg is the const bool *;
				 * AS_ESTATE when nothing but anycast
				 * drains (no Kubernetes source) */
	AGENT_EV_NODE_ZONE,	/* the Node's zone label: arg is the const
				 * char * (NULL = none); node.zone wins */
	/* Delivered to components (ops->notify). */
	AGENT_EV_LOAD,		/* a new sample is in ctx->load */
	AGENT_EV_CATALOG_CHANGED, /* ctx->services changed (a source) */
	AGENT_EV_DRAINED,	/* the agent drains: give up the Lease */
	AGENT_EV_UNDRAINED,	/* ... and stands again */
	AGENT_EV_VIEW_CHANGED,	/* a new answer view is in ctx->view */
	AGENT_EV_ZONE_CHANGED,	/* ctx->node_zone changed */
};

/* ---- snapshot ------------------------------------------------------------ */

/*
 * Counters and gauges for the metrics thread and /healthz: copied under
 * a mutex by the loop thread, so the HTTP thread never touches loop
 * state. The daemon fills the first part; each component fills its own
 * part in its snapshot hook.
 */
struct agent_k8s_snap {
	bool enabled;
	struct k8s_client_stats st;
	size_t hostnames, endpoints;
	uint64_t skipped_no_port, skipped_ns_label, skipped_bad_name;
	bool election, leading;	/* leader election runs; this agent leads */
	bool node_zone;		/* the Node's zone label is watched */
	size_t warnings;	/* compromises reported now */
};

struct agent_cluster_snap {
	bool enabled;		/* a gossip section is configured */
	bool joined;
	struct gossip_metrics m;
	size_t local_endpoints, local_healthy;
	uint64_t view_builds, view_failures, skipped_endpoints;
	uint64_t local_over_limit;	/* local endpoints not announced */
	uint64_t keyring_changes;
};

#define AGENT_ANYCAST_ADDRS 16	/* = ROUTE_ANYCAST_MAX */
#define AGENT_ANYCAST_PROTOS 32
#define AGENT_ANYCAST_BFD 32
struct agent_anycast_snap {
	bool configured;	/* anycast.addresses given */
	bool checking;		/* a DNS self-check runs */
	bool healthy;		/* /healthz: 200 */
	char health_reason[32];
	bool announce, draining;
	uint64_t transitions, checks_ok, checks_failed;
	size_t n;
	struct {
		char address[48];
		bool announced;
		int exported;	/* -1 unknown */
	} addr[AGENT_ANYCAST_ADDRS];
	bool bird_configured, bird_up;
	size_t n_protos, n_bfd;
	struct {
		char name[64], proto[16], state[16], info[64];
	} protos[AGENT_ANYCAST_PROTOS];
	struct {
		char address[48], state[16];
	} bfd[AGENT_ANYCAST_BFD];
};

#define AGENT_SRV6_LINKS 32
struct agent_srv6_snap {
	bool enabled;		/* srv6.enabled */
	bool dataplane;		/* the tc programs run */
	size_t planned, installed, no_path, conflicts;
	uint64_t reprograms, map_errors;
	uint64_t last_reprogram_ms;	/* wall clock; 0 = never */
	uint64_t probes_sent, probes_answered, probes_lost, probes_unsent;
	uint64_t link_changes;
	uint64_t stats[16];	/* srv6_prog_stats, SRV6_ST_N of them */
	size_t n_stats;
	size_t n_links;
	struct {
		char name[2 * 64 + 2];	/* "ra-rb" */
		bool up;
	} links[AGENT_SRV6_LINKS];
};

struct agent_http_snap {
	bool enabled;
	unsigned max_connections;
	uint64_t active, accepted, refused, deadline, evicted, accept_errors;
};

struct agent_snapshot {
	char node[64];
	uint64_t uptime_s;
	const char *udp_io;		/* static string: "io_uring", ... */
	struct agent_load_sample load;
	uint64_t reloads_ok, reloads_failed;
	uint64_t view_builds;
	size_t n_services, n_endpoints;
	struct agent_anycast_snap anycast;
	struct agent_cluster_snap cluster;
	struct agent_k8s_snap k8s;
	struct agent_srv6_snap srv6;
	struct agent_http_snap http;	/* filled by the metrics component */
	/* The DNS forwarder's upstreams (dns.forward; 0 when off). */
	struct dns_upstream_status upstreams[DNS_FWD_UPSTREAMS_MAX];
	size_t n_upstreams;
};

/* "# HELP" and "# TYPE" lines of one metric family. */
void agent_metric_head(FILE *f, const char *name, const char *help,
		       const char *type);

/* ---- control commands ------------------------------------------------------ */

/*
 * A command answers at once (fn: the "data" value, or NULL with a
 * message in err) or later (afn: it must call agent_reply_done exactly
 * once, possibly before it returns). self is the component's, NULL when
 * it does not run (the command then says why).
 */
typedef json_t *(*agent_cmd_fn)(void *self, json_t *args, char *err,
				size_t errlen);
struct agent_reply;	/* an answer owed (control.h) */
typedef void (*agent_cmd_async_fn)(void *self, json_t *args,
				   struct agent_reply *r);
struct agent_command {
	const char *name;
	agent_cmd_fn fn;
	const char *help;
	agent_cmd_async_fn afn;	/* instead of fn */
};

/* A command with the component state it runs on. */
struct agent_command_ref {
	const struct agent_command *cmd;
	void *self;
};

/* The result of a reload (ctx->reload): rc AS_OK, or an error with every
 * problem in err, one per line. */
typedef void (*agent_reload_cb)(void *arg, int rc, const char *err,
				size_t n_services);

/* ---- context ----------------------------------------------------------------- */

struct agent_ctx {
	uv_loop_t *loop;
	/* The active configuration: replaced on reload, after which each
	 * component's reconfigure hook runs. */
	const struct agent_config *cfg;
	/* What the daemon owns, always current (loop thread). */
	const struct agent_service *services;	/* the catalog */
	size_t n_services;
	const struct agent_load_sample *load;
	dns_server_t *dns;		/* NULL until the components started */
	const dns_view_t *view;		/* the published answer view */
	bool joined;			/* AGENT_EV_JOINED was emitted */
	/* This node's zone: node.zone, else the Kubernetes Node's label
	 * (AGENT_EV_NODE_ZONE); NULL = none. */
	const char *node_zone;
	uint64_t start_ms;

	/* Tells the daemon; returns the result of what it did. */
	int (*emit)(struct agent_ctx *ctx, enum agent_event ev, const void *arg);
	/* Refreshes this component's part of the shared snapshot. */
	void (*publish)(struct agent_ctx *ctx, const void *self);
	/* A copy of the snapshot (any thread). */
	void (*snapshot)(struct agent_ctx *ctx, struct agent_snapshot *out);
	/* The metrics text of every component, for a snapshot (any thread). */
	void (*metrics)(struct agent_ctx *ctx, FILE *f,
			const struct agent_snapshot *s);
	/* The command registry: by name, or the i-th when name is NULL;
	 * false when there is none. */
	bool (*command)(struct agent_ctx *ctx, const char *name, size_t i,
			struct agent_command_ref *out);
	/* The daemon's status (every component's part). */
	json_t *(*status)(struct agent_ctx *ctx);
	/* Reloads the configuration file (see daemon.c); cb on the loop. */
	int (*reload)(struct agent_ctx *ctx, agent_reload_cb cb, void *arg);
	/* Pins the local load signal to value (0..1; NAN clears), a test
	 * knob: AS_ESTATE unless load.override, AS_ERANGE out of 0..1. */
	int (*load_override)(struct agent_ctx *ctx, double value);
	const char *config_path;
	/* The answer view as member node would build it from what this
	 * node knows (explain --from): the same services, endpoints, health
	 * and loads, planned for node's zone (copied to zone, "" = none).
	 * AS_OK (unref *out), AS_ENOTFOUND (no such member), AS_ESTATE (it
	 * is dead or has left), AS_ENOMEM. */
	int (*view_as)(struct agent_ctx *ctx, const char *node, dns_view_t **out,
		       char *zone, size_t zlen);
};

/* ---- the component table -------------------------------------------------------- */

struct agent_component_ops {
	const char *name;
	/* Key of its part in the status JSON; NULL: none. */
	const char *status_key;
	/* Creates and starts it; *self NULL (and AS_OK) when the config
	 * does not ask for it. On failure the daemon still calls stop and
	 * free with what was set in *self. */
	int (*start)(struct agent_ctx *ctx, void **self);
	/* Once the DNS server runs (optional). */
	int (*serve)(void *self);
	/* After a reload was swapped in (ctx->cfg is the new one); also
	 * when it does not run (self NULL), to say what needs a restart. */
	void (*reconfigure)(struct agent_ctx *ctx, void *self,
			    const struct agent_config *old);
	/* An event from the daemon (optional). */
	void (*notify)(void *self, enum agent_event ev);
	/* Stops: handles close on the loop (idempotent; self may be NULL). */
	void (*stop)(void *self);
	/* After the loop has run: frees (self may be NULL). */
	void (*free)(void *self);
	/* Its part of the snapshot; its status JSON; its metrics text from a
	 * snapshot (pure, any thread). self may be NULL (not running). */
	void (*snapshot)(const void *self, struct agent_snapshot *s);
	json_t *(*status)(void *self);
	void (*metrics)(FILE *f, const struct agent_snapshot *s);
	const struct agent_command *commands;
	size_t n_commands;
};

#endif
