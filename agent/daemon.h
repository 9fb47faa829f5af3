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
#include "dns/dns.h"

struct agent_control;
struct agent_metrics;

/* Counters and gauges that the metrics thread reads: copied under a mutex
 * by the loop thread, so the HTTP thread never touches loop state. */
struct agent_snapshot {
	char node[64];
	uint64_t uptime_s;
	struct agent_load_sample load;
	uint64_t reloads_ok, reloads_failed;
	uint64_t view_builds;
	size_t n_services, n_endpoints;
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
};

/* daemon.c */
int agent_rebuild_view(struct agent *a);
void agent_snapshot(struct agent *a, struct agent_snapshot *out);
void agent_sample_load(struct agent *a);
int agent_reload(struct agent *a, char *err, size_t errlen);
void agent_request_stop(struct agent *a, int exit_code);

/* control.c: a line-oriented JSON server on a UNIX socket. */
typedef json_t *(*agent_cmd_fn)(struct agent *a, json_t *args,
				char *err, size_t errlen);
struct agent_command {
	const char *name;
	agent_cmd_fn fn;
	const char *help;
};
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

/* metrics.c */
int agent_metrics_new(struct agent *a, const char *listen,
		      struct agent_metrics **out);
void agent_metrics_free(struct agent_metrics *m);
/* Renders the Prometheus text exposition into a malloc'd string. */
char *agent_metrics_render(const struct agent_snapshot *snap,
			   const struct dns_stats *st, size_t *len);

#endif
