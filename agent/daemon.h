/*
 * agent/daemon.h - internal to agent/: the running daemon and the pieces
 * that hang off it (control socket, metrics, command table). Only the
 * files in agent/ include it; everything public is in agent/agent.h.
 */
#ifndef ANYSTEER_AGENT_DAEMON_H
#define ANYSTEER_AGENT_DAEMON_H

#include <jansson.h>
#include <pthread.h>
#include <uv.h>

#include "agent/agent.h"
#include "k8s/k8s.h"
#include "dns/dns.h"
#include "gossip/gossip.h"

struct agent_control;
struct agent_metrics;
struct agent_anycast;
struct agent_cluster;
struct agent_k8s;

/* Kubernetes source state for the metrics thread (k8s_source.c). */
struct agent_k8s_snap {
	bool enabled;
	struct k8s_client_stats st;
	size_t hostnames, endpoints;
	uint64_t skipped_no_port, skipped_ns_label;
};

/* Gossip state for the metrics thread (cluster.c). */
struct agent_cluster_snap {
	bool enabled;		/* a gossip section is configured */
	bool joined;
	struct gossip_metrics m;
	size_t local_endpoints, local_healthy;
	uint64_t view_builds, view_failures, skipped_endpoints;
	uint64_t keyring_changes;
};

/* Anycast, health gate and BIRD state for the metrics thread (anycast.c). */
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

/* The metrics HTTP listener's own counters (metrics.c). */
struct agent_http_snap {
	bool enabled;
	unsigned max_connections;
	uint64_t active, accepted, refused, deadline, evicted, accept_errors;
};

/* Counters and gauges that the metrics thread reads: copied under a mutex
 * by the loop thread, so the HTTP thread never touches loop state. */
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
	struct agent_http_snap http;	/* filled by metrics.c itself */
};

struct agent {
	uv_loop_t loop;
	char *config_path;
	struct agent_config *cfg;
	int config_loaded_wall;		/* wall time of the active config */

	dns_server_t *dns;
	dns_view_t *view;		/* current, owned reference */
	uint64_t view_builds;

	/* Load sampler state. */
	uv_timer_t load_timer;
	struct agent_cpu_times cpu_prev;
	bool have_cpu_prev;
	struct agent_load_sample load;
	double factor_in_view;		/* local factor the view was built with */

	uv_signal_t sig_hup, sig_term, sig_int;
	struct agent_control *control;
	struct agent_metrics *metrics;

	pthread_mutex_t snap_lock;
	struct agent_snapshot snap;

	uint64_t start_ms;
	uint64_t reloads_ok, reloads_failed;
	int exit_code;
	bool stopping;
	struct agent_anycast *anycast;	/* anycast.c */
	bool anycast_joined_early;	/* set_joined before anycast.c started */
	struct agent_cluster *cluster;	/* cluster.c; NULL without gossip */
	struct agent_k8s *k8s;		/* k8s_source.c; NULL when disabled */
	/* The catalog: the config's services, plus the Kubernetes source's
	 * (agent_catalog_update). Read this, not cfg->services. */
	struct agent_service *services;
	size_t n_services;
	/* Reloads (daemon.c): the one being parsed and the one waiting. */
	struct agent_reload_job *reload, *reload_next;
};

/* daemon.c */
int agent_rebuild_view(struct agent *a);
void agent_snapshot(struct agent *a, struct agent_snapshot *out);
void agent_sample_load(struct agent *a);
/* Reloads the configuration file: parsed and validated on a libuv worker
 * thread, swapped in on the loop. cb (may be NULL) runs on the loop with
 * the result: rc AS_OK, or an error and err (every problem, one per
 * line). A request while a file is being parsed joins the next parse,
 * which starts when the current one is done (at most one waits; further
 * requests share it), so every request sees the file as it was at or
 * after the request. */
typedef void (*agent_reload_cb)(struct agent *a, void *arg, int rc,
				const char *err);
int agent_reload_start(struct agent *a, agent_reload_cb cb, void *arg);
void agent_request_stop(struct agent *a, int exit_code);

/* control.c: a line-oriented JSON server on a UNIX socket. A command
 * answers at once (fn: the "data" value, or NULL with a message in err)
 * or later (afn: it must call agent_reply_done exactly once, possibly
 * before it returns; the client's further requests wait until then). */
typedef json_t *(*agent_cmd_fn)(struct agent *a, json_t *args,
				char *err, size_t errlen);
struct agent_reply;
typedef void (*agent_cmd_async_fn)(struct agent *a, json_t *args,
				   struct agent_reply *r);
struct agent_command {
	const char *name;
	agent_cmd_fn fn;
	const char *help;
	agent_cmd_async_fn afn;	/* instead of fn */
};
/* Answers a command started through afn: data (its reference is taken)
 * or, when data is NULL, the error err. Harmless when the client has gone
 * away meanwhile. */
void agent_reply_done(struct agent_reply *r, json_t *data, const char *err);
#define AGENT_CONTROL_VERSION 1
int agent_control_new(struct agent *a, const char *path,
		      struct agent_control **out);
void agent_control_close(struct agent_control *c); /* frees after close cbs */

/* commands.c */
const struct agent_command *agent_command_find(const char *name);
size_t agent_command_count(void);
const struct agent_command *agent_command_at(size_t i);
json_t *agent_status_json(struct agent *a);
json_t *agent_services_json(const dns_view_t *view);

/* anycast.c: the anycast TUN, health gate, drain and BIRD state.
 * agent_anycast_new runs before dns_server_new (it creates the TUN and
 * returns the DNS listeners with the anycast addresses added, malloc'd);
 * _start after dns_server_start; _close from agent_request_stop and
 * agent_free (idempotent); _free after the DNS server is gone. */
int agent_anycast_new(struct agent *a, struct sockaddr_storage **listen,
		      size_t *n_listen);
int agent_anycast_start(struct agent *a);
void agent_anycast_close(struct agent *a);
void agent_anycast_free(struct agent *a);
/* SIGTERM with anycast: starts the drain and linger, returns true (the
 * caller does not stop). false: stop as usual (also the second signal). */
bool agent_anycast_on_signal(struct agent *a, int signum);
/* Gossip joined a cluster (gate input; only matters with
 * anycast.wait_for_gossip). */
void agent_anycast_set_joined(struct agent *a, bool joined);
int agent_anycast_set_draining(struct agent *a, bool draining);
void agent_anycast_snapshot(struct agent *a, struct agent_anycast_snap *s);
void agent_anycast_metrics(FILE *f, const struct agent_anycast_snap *s);
json_t *agent_anycast_status_json(struct agent *a);
json_t *agent_anycast_routes_json(struct agent *a);
json_t *agent_anycast_cmd_routes(struct agent *a, json_t *args, char *err, size_t errlen);
json_t *agent_anycast_cmd_drain(struct agent *a, json_t *args, char *err, size_t errlen);
json_t *agent_anycast_cmd_undrain(struct agent *a, json_t *args, char *err, size_t errlen);
json_t *agent_anycast_cmd_test(struct agent *a, json_t *args, char *err, size_t errlen);
/* Pure parts of the self-check, for tests. */
int agent_anycast_build_query(const char *zone, uint8_t *buf, size_t len, size_t *out);
bool agent_anycast_reply_ok(const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen);

/* cluster.c: gossip membership, the local node record and the answer
 * view from the cluster view. Everything is a no-op without a gossip
 * section (a->cluster stays NULL). _start runs first in agent_start (so
 * the first view already comes from gossip); _close from
 * agent_request_stop and agent_free (idempotent: graceful leave, then the
 * sockets close after gossip.leave_timeout); _free after the loop has
 * run. */
int agent_cluster_start(struct agent *a);
void agent_cluster_close(struct agent *a);
void agent_cluster_free(struct agent *a);
/* After a successful reload: re-announces changed local endpoints. */
void agent_cluster_reload(struct agent *a, const struct agent_config *old);
/* After every load sample: pushes the load into gossip. */
void agent_cluster_on_load(struct agent *a);
/* Every member (any state) for the answer view, malloc'd; the records
 * point into the core: use them before the loop runs again. */
int agent_cluster_members(struct agent *a, struct gossip_member **out,
			  size_t *n);
/* A view was built from them; skipped: endpoints left out. */
void agent_cluster_view_built(struct agent *a, uint64_t skipped);
void agent_cluster_snapshot(struct agent *a, struct agent_cluster_snap *s);
void agent_cluster_metrics(FILE *f, const struct agent_cluster_snap *s);
json_t *agent_cluster_status_json(struct agent *a);
json_t *agent_cluster_cmd_members(struct agent *a, json_t *args, char *err, size_t errlen);
json_t *agent_cluster_cmd_keyring(struct agent *a, json_t *args, char *err, size_t errlen);

/* Local endpoints changed (Kubernetes): recompute and re-announce. */
void agent_cluster_local_changed(struct agent *a);

/* k8s_source.c: the Kubernetes source in the daemon. _start after
 * agent_cluster_start (its updates re-announce local endpoints); _close
 * from agent_request_stop and agent_free; _free after the loop ran.
 * agent_catalog_update recomputes a->services from the config and the
 * source's current set: after every config swap and every update. */
int agent_catalog_update(struct agent *a);
int agent_k8s_start(struct agent *a);
void agent_k8s_close(struct agent *a);
void agent_k8s_free(struct agent *a);
void agent_k8s_reload(struct agent *a, const struct agent_config *old);
void agent_k8s_snapshot(struct agent *a, struct agent_k8s_snap *s);
void agent_k8s_metrics(FILE *f, const struct agent_k8s_snap *s);
json_t *agent_k8s_status_json(struct agent *a);

/* probe.c: TCP connect health probes. The pure rise/fall machine: an
 * endpoint starts unknown (counted healthy), the first result settles it,
 * then `fall` failures / `rise` successes in a row flip it. */
enum { AGENT_PROBE_UNKNOWN = 0, AGENT_PROBE_UP = 1, AGENT_PROBE_DOWN = 2 };
struct agent_probe_state {
	int health;
	uint32_t streak;	/* results in a row against the state */
	uint64_t checks_ok, checks_failed, transitions;
};
/* Feeds one result; true when the health (as agent_probe_healthy) flipped. */
bool agent_probe_feed(struct agent_probe_state *s, bool ok, uint32_t rise,
		      uint32_t fall);
bool agent_probe_healthy(const struct agent_probe_state *s);
/* The libuv prober: one timer, a connect attempt per target per interval. */
struct agent_probe_target {
	int family;		/* AF_INET6 or AF_INET */
	uint8_t addr[16];
	uint16_t port;
};
struct agent_prober_config {
	uint64_t interval_ms, timeout_ms;
	uint32_t rise, fall;
};
typedef void (*agent_probe_change_cb)(void *arg, size_t idx, bool healthy);
struct agent_prober;
int agent_prober_new(uv_loop_t *loop, const struct agent_prober_config *cfg,
		     agent_probe_change_cb cb, void *arg,
		     struct agent_prober **out);
/* Replaces the targets; a target that stays (same address and port) keeps
 * its state. Indices in callbacks refer to the newest list. */
int agent_prober_set_targets(struct agent_prober *p,
			     const struct agent_probe_target *t, size_t n);
void agent_prober_set_config(struct agent_prober *p,
			     const struct agent_prober_config *cfg);
size_t agent_prober_count(const struct agent_prober *p);
const struct agent_probe_state *agent_prober_state(const struct agent_prober *p,
						   size_t i);
/* Stops probing; memory goes once attempts in flight have closed. */
void agent_prober_close(struct agent_prober *p);

/* metrics.c. _close stops accepting (from agent_request_stop; its
 * handles close on the loop); _free after the loop ran stops the HTTP
 * thread. */
int agent_metrics_new(struct agent *a, const char *listen,
		      struct agent_metrics **out);
void agent_metrics_close(struct agent_metrics *m);
void agent_metrics_free(struct agent_metrics *m);
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
/* "# HELP" and "# TYPE" lines of one metric family. */
void agent_metric_head(FILE *f, const char *name, const char *help,
		       const char *type);
/* Renders the Prometheus text exposition into a malloc'd string. */
char *agent_metrics_render(const struct agent_snapshot *snap,
			   const struct dns_stats *st, size_t *len);

#endif
