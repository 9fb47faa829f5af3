/*
 * agent/daemon.c - the daemon: owns the libuv loop on the main thread,
 * the configuration, the catalog, the load sample, the DNS server with its
 * worker threads and the answer view, and wires the components
 * (component.h) to them and to each other.
 *
 * Components. Each is a table of hooks; this file starts them in the
 * order they need (cluster first, so the first view comes from gossip;
 * the Kubernetes source; anycast before the DNS server binds its
 * addresses; control and metrics once the DNS server exists), stops them
 * (metrics, anycast, the source, cluster, control) and frees them
 * (metrics before the DNS server, whose counters its thread reads;
 * anycast after it, so the route goes last). They talk to the daemon
 * only through their context: events come in through on_event(), which
 * turns each into actions:
 *
 *   JOINED           -> anycast's gate input (and ctx->joined for a
 *                       component that starts later)
 *   MEMBERS_CHANGED  -> rebuild the view
 *   LOCAL_CHANGED    -> merge the catalog, tell the cluster (re-announce
 *                       this node's endpoints), rebuild the view
 *   STOP             -> agent_request_stop()
 *
 * Reloads are parsed off the loop (agent/reload.c) and swapped in by
 * reload_apply(), which re-merges the catalog, rebuilds the view and then
 * runs each component's reconfigure hook; a view that cannot be built
 * keeps the running configuration.
 *
 * Data flow: catalog + local load (+ members with gossip) ->
 * agent/viewspec.c -> dns_view_new() -> dns_server_publish(). The view is
 * rebuilt on reload, on those events and when the local load factor
 * moves by more than FACTOR_STEP, never on the query path. Without
 * gossip, endpoints of other nodes in the static catalog have load
 * factor 1 (nothing is known about their load).
 */
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/anycast.h"
#include "agent/catalog.h"
#include "agent/cluster.h"
#include "agent/component.h"
#include "agent/control.h"
#include "agent/k8s_source.h"
#include "agent/metrics.h"
#include "agent/reload.h"
#include "agent/report.h"
#include "agent/srv6.h"
#include "agent/viewspec.h"
#include "lib/as.h"

/* The components, in report order (status, commands, metrics). */
enum { C_CONTROL, C_ANYCAST, C_CLUSTER, C_K8S, C_SRV6, C_METRICS, C_COUNT };
static const struct agent_component_ops *const components[C_COUNT] = {
	[C_CONTROL] = &agent_control_ops,
	[C_ANYCAST] = &agent_anycast_ops,
	[C_CLUSTER] = &agent_cluster_ops,
	[C_K8S] = &agent_k8s_ops,
	[C_SRV6] = &agent_srv6_ops,
	[C_METRICS] = &agent_metrics_ops,
};
static const int stop_order[C_COUNT] = {
	C_METRICS, C_SRV6, C_ANYCAST, C_K8S, C_CLUSTER, C_CONTROL,
};

struct agent {
	uv_loop_t loop;
	struct agent_ctx ctx;		/* what the components see */
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
	double load_override;		/* `load set` (test knob); NAN = none */

	uv_signal_t sig_hup, sig_term, sig_int;
	void *self[C_COUNT];		/* each component's state */

	pthread_mutex_t snap_lock;
	struct agent_snapshot snap;

	uint64_t start_ms;
	uint64_t reloads_ok, reloads_failed;
	int exit_code;
	bool running;			/* agent_start is done */
	bool stopping;
	bool joined;			/* gossip joined (sticky) */
	/* The catalog: the config's services, plus the Kubernetes source's
	 * set (agent/catalog.c). Read this, not cfg->services. */
	struct agent_catalog catalog;
	const struct k8s_set *k8s_set;	/* the source's, NULL without */
	char label_zone[K8S_ZONE_MAX + 1];	/* the Node's zone label, "" */
	struct agent_reloader *reloader;	/* agent/reload.c */
};

static int agent_rebuild_view(struct agent *a);
static void agent_request_stop(struct agent *a, int exit_code);

/* What the components read through their context. */
static void sync_ctx(struct agent *a)
{
	a->ctx.cfg = a->cfg;
	a->ctx.services = a->catalog.services;
	a->ctx.n_services = a->catalog.n_services;
	a->ctx.load = &a->load;
	a->ctx.dns = a->dns;
	a->ctx.view = a->view;
	a->ctx.joined = a->joined;
	/* The configuration wins over the Node's label. */
	a->ctx.node_zone = a->cfg && a->cfg->node.zone ? a->cfg->node.zone :
			   a->label_zone[0] ? a->label_zone : NULL;
}

static struct agent *from_ctx(struct agent_ctx *ctx)
{
	return (struct agent *)((char *)ctx - offsetof(struct agent, ctx));
}

static void notify(struct agent *a, int c, enum agent_event ev)
{
	if (components[c]->notify)
		components[c]->notify(a->self[c], ev);
}

/* Rebuild the view when the local factor moved this much (1 %). */
#define FACTOR_STEP 0.01
/* Weight of a new utilisation reading in the EWMA. */
#define UTIL_ALPHA 0.3

static int read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = 0;
	return AS_OK;
}

static void agent_sample_load(struct agent *a)
{
	char buf[8192];
	struct agent_load_sample *s = &a->load;
	struct agent_cpu_times cur;
	unsigned ncpu = 1;

	if (read_small_file("/proc/stat", buf, sizeof(buf)) == AS_OK &&
	    agent_parse_proc_stat(buf, &cur, &ncpu) == AS_OK) {
		if (a->have_cpu_prev)
			s->cpu_util = agent_ewma(s->cpu_util,
						 agent_cpu_util(&a->cpu_prev, &cur),
						 UTIL_ALPHA);
		a->cpu_prev = cur;
		a->have_cpu_prev = true;
		s->ncpu = ncpu;
	}
	if (read_small_file("/proc/loadavg", buf, sizeof(buf)) == AS_OK)
		agent_parse_loadavg(buf, &s->loadavg1);
	s->have_psi = read_small_file("/proc/pressure/cpu", buf, sizeof(buf)) == AS_OK &&
		      agent_parse_psi_cpu(buf, &s->psi_some_avg10) == AS_OK;

	agent_load_settle(s, a->cfg, a->load_override);
}

/* The services of the view: from gossip when it runs, else from the
 * catalog; only the one that is used is built. published: the view is
 * the one answers come from (counted), not explain's. */
/* as: plan RTTs from member `as` (explain --from), NULL from here. */
static int view_services(struct agent *a, const char *as, struct agent_viewspec *vs,
			 bool published)
{
	const struct agent_config *c = a->cfg;
	struct gossip_member *mem = NULL;
	size_t n_mem = 0;
	uint64_t skipped = 0;
	int err;

	if (!a->self[C_CLUSTER])
		return agent_viewspec_services_static(a->catalog.services,
						      a->catalog.n_services,
						      c->node.name, a->ctx.node_zone,
						      a->load.factor, vs);
	if ((err = agent_cluster_members(a->self[C_CLUSTER], &mem, &n_mem)))
		return err;
	err = agent_viewspec_services_members(c, a->ctx.node_zone, as,
					      a->catalog.services,
					      a->catalog.n_services, mem, n_mem,
					      a->load.factor, vs, &skipped);
	free(mem);
	if (!err && published)
		agent_cluster_view_built(a->self[C_CLUSTER], skipped);
	return err;
}

/* The zone of member node (alive or suspect): AS_OK, AS_ENOTFOUND,
 * AS_ESTATE (dead or left) or an error. */
static int member_zone(struct agent *a, const char *node, char *zone, size_t zlen)
{
	struct gossip_member *mem = NULL;
	size_t n_mem = 0;
	int err = AS_ENOTFOUND;

	if (!a->self[C_CLUSTER])
		return strcmp(node, a->cfg->node.name) ? AS_ENOTFOUND : AS_OK;
	if ((err = agent_cluster_members(a->self[C_CLUSTER], &mem, &n_mem)))
		return err;
	err = AS_ENOTFOUND;
	for (size_t i = 0; i < n_mem && err == AS_ENOTFOUND; i++) {
		if (strcmp(mem[i].rec->name, node))
			continue;
		err = mem[i].state == GOSSIP_ALIVE || mem[i].state == GOSSIP_SUSPECT ?
		      AS_OK : AS_ESTATE;
		/* Ours as it is now, as the view has it (gossip follows). */
		if (!err && !mem[i].self)
			snprintf(zone, zlen, "%s", mem[i].rec->zone);
	}
	free(mem);
	return err;
}

/* explain --from: the view as `node` builds it (component.h). */
static int ctx_view_as(struct agent_ctx *ctx, const char *node, dns_view_t **out,
		       char *zone, size_t zlen)
{
	struct agent *a = from_ctx(ctx);
	struct agent_viewspec vs;
	int err;

	*out = NULL;
	snprintf(zone, zlen, "%s", a->ctx.node_zone ? a->ctx.node_zone : "");
	if ((err = member_zone(a, node, zone, zlen)) ||
	    (err = view_services(a, node, &vs, false)))
		return err;
	err = agent_viewspec_finish(a->cfg, 0, &vs);
	/* Only the answering node differs: its name and its zone. */
	vs.spec.node_name = node;
	vs.spec.node_zone = *zone ? zone : NULL;
	if (!err)
		err = dns_view_new(&vs.spec, out);
	agent_viewspec_free(&vs);
	return err;
}

/* Builds the view from the active config, catalog and load, publishes it. */
static int agent_rebuild_view(struct agent *a)
{
	struct agent_viewspec vs;
	int err = view_services(a, NULL, &vs, true);

	if (err)
		return err;
	/* Serial 0: dns/ derives it from the published content, so it is
	 * the same on every node with the same catalog and across restarts
	 * (docs/dns.md, "SOA serial"). */
	err = agent_viewspec_finish(a->cfg, 0, &vs);
	/* The zone answers are planned for: node.zone or the Node's label. */
	vs.spec.node_zone = a->ctx.node_zone;
	dns_view_t *v = NULL;
	if (!err)
		err = dns_view_new(&vs.spec, &v);
	agent_viewspec_free(&vs);
	if (!v)
		return err;
	if (a->dns)
		dns_server_publish(a->dns, v);
	dns_view_unref(a->view);
	a->view = v;
	a->view_builds++;
	a->factor_in_view = a->load.factor;
	sync_ctx(a);
	/* Endpoints or members moved: the SRv6 paths follow. */
	notify(a, C_SRV6, AGENT_EV_VIEW_CHANGED);
	return AS_OK;
}

/* ---- the snapshot, status and commands ----------------------------------- */

static void ctx_snapshot(struct agent_ctx *ctx, struct agent_snapshot *out)
{
	struct agent *a = from_ctx(ctx);
	pthread_mutex_lock(&a->snap_lock);
	*out = a->snap;
	pthread_mutex_unlock(&a->snap_lock);
}

static void ctx_publish(struct agent_ctx *ctx, const void *self)
{
	struct agent *a = from_ctx(ctx);

	for (int c = 0; c < C_COUNT; c++)
		if (a->self[c] == self && self && components[c]->snapshot) {
			pthread_mutex_lock(&a->snap_lock);
			components[c]->snapshot(self, &a->snap);
			pthread_mutex_unlock(&a->snap_lock);
		}
}

/* HTTP thread: reads only the static table. */
static void ctx_metrics(struct agent_ctx *ctx, FILE *f,
			const struct agent_snapshot *s)
{
	(void)ctx;
	for (int c = 0; c < C_COUNT; c++)
		if (components[c]->metrics)
			components[c]->metrics(f, s);
}

static bool ctx_command(struct agent_ctx *ctx, const char *name, size_t i,
			struct agent_command_ref *out)
{
	struct agent *a = from_ctx(ctx);

	for (int c = 0; c < C_COUNT; c++)
		for (size_t j = 0; j < components[c]->n_commands; j++, i--) {
			const struct agent_command *cmd = &components[c]->commands[j];
			if (name ? strcmp(cmd->name, name) == 0 : i == 0) {
				*out = (struct agent_command_ref){ cmd, a->self[c] };
				return true;
			}
		}
	return false;
}

/* The forwarder (dns.forward): null when off, else its counters and
 * every upstream with its smoothed RTT. */
static json_t *forward_json(struct agent *a, const struct dns_stats *st)
{
	struct dns_upstream_status up[DNS_FWD_UPSTREAMS_MAX];
	size_t n = dns_server_upstreams(a->dns, up, DNS_FWD_UPSTREAMS_MAX);
	char buf[AS_SOCKADDR_STRLEN];
	const struct dns_fwd_stats *f = &st->fwd;

	if (!n)
		return json_null();
	json_t *o = json_object(), *ups = json_array(), *bad = json_object();
	for (size_t i = 0; i < n; i++) {
		json_t *u = json_object();
		json_object_set_new(u, "address", json_string(as_format_sockaddr(
			&up[i].addr, buf, sizeof(buf))));
		json_object_set_new(u, "srtt_ms", up[i].srtt_us ?
				    json_real((double)(up[i].srtt_us / 10) / 100) :
				    json_null());
		json_object_set_new(u, "queries", json_integer((json_int_t)up[i].queries));
		json_object_set_new(u, "answers", json_integer((json_int_t)up[i].answers));
		json_object_set_new(u, "timeouts", json_integer((json_int_t)up[i].timeouts));
		json_array_append_new(ups, u);
	}
	for (unsigned i = 0; i < DNS_FWD_BAD_REASONS; i++)
		json_object_set_new(bad, dns_fwd_bad_reason_name(i),
				    json_integer((json_int_t)f->bad_responses[i]));
	json_object_set_new(o, "upstreams", ups);
	json_object_set_new(o, "queries", json_integer((json_int_t)f->queries));
	json_object_set_new(o, "refused", json_integer((json_int_t)f->refused));
	json_object_set_new(o, "cache_hits", json_integer((json_int_t)f->cache_hits));
	json_object_set_new(o, "cache_misses", json_integer((json_int_t)f->cache_misses));
	json_object_set_new(o, "cache_entries", json_integer((json_int_t)f->cache_entries));
	json_object_set_new(o, "cache_bytes", json_integer((json_int_t)f->cache_bytes));
	json_object_set_new(o, "stale_answers", json_integer((json_int_t)f->stale_answers));
	json_object_set_new(o, "servfail", json_integer((json_int_t)f->servfail));
	json_object_set_new(o, "tcp_retries", json_integer((json_int_t)f->tcp_retries));
	json_object_set_new(o, "overflow", json_integer((json_int_t)f->overflow));
	json_object_set_new(o, "bad_responses", bad);
	return o;
}

static json_t *ctx_status(struct agent_ctx *ctx)
{
	struct agent *a = from_ctx(ctx);
	struct dns_stats st;
	char buf[AS_SOCKADDR_STRLEN];
	json_t *o = json_object();
	json_t *listeners = json_array();

	dns_server_stats(a->dns, &st);
	for (size_t i = 0; i < dns_server_listener_count(a->dns); i++)
		json_array_append_new(listeners, json_string(as_format_sockaddr(
			dns_server_listener(a->dns, i), buf, sizeof(buf))));
	json_object_set_new(o, "node", json_string(a->cfg->node.name));
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "uptime_s",
			    json_integer((json_int_t)((as_now_ms() - a->start_ms) / 1000)));
	json_object_set_new(o, "zone", json_string(a->cfg->dns.zone));
	/* This node's topology zone and where it comes from. */
	json_object_set_new(o, "node_zone", a->ctx.node_zone ?
			    json_string(a->ctx.node_zone) : json_null());
	json_object_set_new(o, "node_zone_from", !a->ctx.node_zone ? json_null() :
			    json_string(a->cfg->node.zone ? "config" : "kubernetes"));
	json_object_set_new(o, "listeners", listeners);
	json_object_set_new(o, "workers", json_integer(dns_server_worker_count(a->dns)));
	json_object_set_new(o, "udp_io", json_string(dns_udp_io_name(dns_server_udp_io(a->dns))));
	json_object_set_new(o, "tcp_max_clients_per_worker",
			    json_integer(dns_server_tcp_max_clients(a->dns)));
	json_object_set_new(o, "load", agent_load_json(&a->load, a->cfg));
	json_object_set_new(o, "queries", agent_dns_stats_json(&st));
	json_object_set_new(o, "forward", forward_json(a, &st));
	json_t *cfg = json_object();
	json_object_set_new(cfg, "path", json_string(a->config_path));
	json_object_set_new(cfg, "services", json_integer((json_int_t)a->catalog.n_services));
	json_object_set_new(cfg, "reloads", json_integer((json_int_t)a->reloads_ok));
	json_object_set_new(cfg, "reload_failures", json_integer((json_int_t)a->reloads_failed));
	/* A file is being parsed (reloads run off the loop). */
	json_object_set_new(cfg, "reloading", json_boolean(agent_reloader_busy(a->reloader)));
	json_object_set_new(cfg, "view_builds", json_integer((json_int_t)a->view_builds));
	json_object_set_new(o, "config", cfg);
	for (int c = 0; c < C_COUNT; c++)
		if (components[c]->status_key)
			json_object_set_new(o, components[c]->status_key,
					    components[c]->status(a->self[c]));
	return o;
}

static void update_snapshot(struct agent *a)
{
	struct agent_snapshot s = { 0 };
	snprintf(s.node, sizeof(s.node), "%s", a->cfg->node.name);
	s.uptime_s = (as_now_ms() - a->start_ms) / 1000;
	s.udp_io = dns_udp_io_name(dns_server_udp_io(a->dns));
	s.load = a->load;
	s.reloads_ok = a->reloads_ok;
	s.reloads_failed = a->reloads_failed;
	s.view_builds = a->view_builds;
	s.n_services = a->catalog.n_services;
	s.n_upstreams = dns_server_upstreams(a->dns, s.upstreams,
					     DNS_FWD_UPSTREAMS_MAX);
	for (size_t i = 0; i < a->catalog.n_services; i++)
		s.n_endpoints += a->catalog.services[i].n_endpoints;
	for (int c = 0; c < C_COUNT; c++)
		if (components[c]->snapshot)
			components[c]->snapshot(a->self[c], &s);
	pthread_mutex_lock(&a->snap_lock);
	a->snap = s;
	pthread_mutex_unlock(&a->snap_lock);
}

/* A new local sample: the cluster gossips it, the view follows a move
 * of the factor. */
static void load_changed(struct agent *a)
{
	notify(a, C_CLUSTER, AGENT_EV_LOAD);
	if (fabs(a->load.factor - a->factor_in_view) >= FACTOR_STEP ||
	    (a->load.factor == 0) != (a->factor_in_view == 0)) {
		int err = agent_rebuild_view(a);
		if (err)
			as_err("cannot rebuild answer view: %s", as_strerror(err));
	}
	update_snapshot(a);
}

static void on_load_timer(uv_timer_t *t)
{
	struct agent *a = t->data;
	agent_sample_load(a);
	load_changed(a);
}

/* `anysteerctl load set|clear` (control.c): a test knob, refused unless
 * load.override allows it. */
static int ctx_load_override(struct agent_ctx *ctx, double value)
{
	struct agent *a = from_ctx(ctx);

	if (!a->cfg->load.override)
		return AS_ESTATE;
	if (!isnan(value) && !(value >= 0 && value <= 1))
		return AS_ERANGE;
	if (isnan(value))
		as_notice("load: override cleared");
	else
		as_notice("load: signal overridden to %.3f (test knob)", value);
	a->load_override = value;
	agent_load_settle(&a->load, a->cfg, a->load_override);
	load_changed(a);
	return AS_OK;
}

/* Settings bound at start: a reload that changes them only warns. */

/* Whether two dns.forward sections configure the same forwarding. */
static bool forward_same(const __typeof__(((struct agent_config *)0)->dns.forward) *a,
			 const __typeof__(((struct agent_config *)0)->dns.forward) *b)
{
	if (a->n_upstreams != b->n_upstreams || a->n_allow != b->n_allow ||
	    a->open != b->open || a->timeout_ms != b->timeout_ms ||
	    a->total_timeout_ms != b->total_timeout_ms ||
	    a->cache_size_mb != b->cache_size_mb ||
	    a->max_ttl_ms != b->max_ttl_ms ||
	    a->negative_max_ttl_ms != b->negative_max_ttl_ms ||
	    a->serve_stale_ms != b->serve_stale_ms ||
	    a->max_pending != b->max_pending ||
	    a->case_randomization != b->case_randomization)
		return false;
	for (size_t i = 0; i < a->n_upstreams; i++)
		if (strcmp(a->upstreams[i], b->upstreams[i]) != 0)
			return false;
	for (size_t i = 0; i < a->n_allow; i++)
		if (strcmp(a->allow[i], b->allow[i]) != 0)
			return false;
	return true;
}

static void warn_restart_only(const struct agent_config *old,
			      const struct agent_config *cur)
{
	bool listen_changed = old->dns.n_listen != cur->dns.n_listen;
	for (size_t i = 0; !listen_changed && i < cur->dns.n_listen; i++)
		listen_changed = strcmp(old->dns.listen[i], cur->dns.listen[i]) != 0;
	if (listen_changed)
		as_warn("reload: dns.listen changed; takes effect after a restart");
	if (old->dns.workers != cur->dns.workers)
		as_warn("reload: dns.workers changed; takes effect after a restart");
	if (strcmp(old->dns.udp_io, cur->dns.udp_io) != 0)
		as_warn("reload: dns.udp_io changed; takes effect after a restart");
	if (!forward_same(&old->dns.forward, &cur->dns.forward))
		as_warn("reload: dns.forward changed; takes effect after a "
			"restart");
	const __typeof__(cur->dns.rrl) *ro = &old->dns.rrl, *rn = &cur->dns.rrl;
	if (ro->enabled != rn->enabled ||
	    ro->responses_per_second != rn->responses_per_second ||
	    ro->slip != rn->slip || ro->window_ms != rn->window_ms ||
	    ro->ipv6_prefix_length != rn->ipv6_prefix_length ||
	    ro->ipv4_prefix_length != rn->ipv4_prefix_length ||
	    ro->table_size != rn->table_size)
		as_warn("reload: dns.rrl changed; takes effect after a restart");
	if (strcmp(old->control.socket, cur->control.socket) != 0)
		as_warn("reload: control.socket changed; takes effect after a restart");
	const char *om = old->metrics.listen ? old->metrics.listen : "";
	const char *nm = cur->metrics.listen ? cur->metrics.listen : "";
	if (strcmp(om, nm) != 0)
		as_warn("reload: metrics.listen changed; takes effect after a restart");
	if (strcmp(old->node.name, cur->node.name) != 0)
		as_warn("reload: node.name changed; the NSID changes now, "
			"gossip identity after a restart");
}

/* Recomputes the catalog from the active config and the source's set;
 * on failure the old catalog stays. */
static int catalog_update(struct agent *a)
{
	struct agent_catalog cat;
	struct agent_catalog_skips sk;
	int rc = agent_catalog_merge(a->cfg, a->k8s_set, &cat, &sk);

	if (rc)
		return rc;
	agent_catalog_free(&a->catalog);
	a->catalog = cat;
	if (a->k8s_set)
		agent_k8s_catalog_skips(a->self[C_K8S], &sk);
	sync_ctx(a);
	return AS_OK;
}

/* The config's catalog alone (allocates nothing, cannot fail). */
static void catalog_static(struct agent *a)
{
	struct agent_catalog_skips sk;

	agent_catalog_free(&a->catalog);
	agent_catalog_merge(a->cfg, NULL, &a->catalog, &sk);
	sync_ctx(a);
}

/* Takes the new config back out after the view could not be built. */
static void reload_undo(struct agent *a, struct agent_config *old, int old_wall)
{
	a->cfg = old;
	a->config_loaded_wall = old_wall;
	sync_ctx(a);
	notify(a, C_CLUSTER, AGENT_EV_ZONE_CHANGED);
	/* Cannot fail without Kubernetes; with it, the static catalog
	 * alone beats none. */
	if (catalog_update(a))
		catalog_static(a);
}

/* Swaps in a configuration parsed off the loop (rc, err: the parse's
 * result; agent/reload.c); takes cfg. */
static int reload_apply(void *arg, struct agent_config *cfg, int rc,
			char *err, size_t errlen, size_t *n_services)
{
	struct agent *a = arg;

	if (rc) {
		a->reloads_failed++;
		as_err("reload of %s rejected, keeping the running configuration:\n%s",
		       a->config_path, err);
		update_snapshot(a);
		return rc;
	}
	struct agent_config *old = a->cfg;
	int old_wall = a->config_loaded_wall;
	warn_restart_only(old, cfg);
	a->cfg = cfg;
	a->config_loaded_wall = (int)as_wall_s();
	if (a->config_loaded_wall <= old_wall)
		a->config_loaded_wall = old_wall + 1; /* serial must grow */
	sync_ctx(a);
	/* node.zone set, changed or removed: gossiped before the view. */
	notify(a, C_CLUSTER, AGENT_EV_ZONE_CHANGED);
	if (!cfg->load.override && !isnan(a->load_override)) {
		as_notice("reload: load.override is off; the load override is cleared");
		a->load_override = NAN;
	}
	agent_sample_load(a);
	rc = catalog_update(a);
	if (!rc)
		rc = agent_rebuild_view(a);
	if (rc) {
		snprintf(err, errlen, "cannot build answer view: %s", as_strerror(rc));
		as_err("reload of %s rejected: %s", a->config_path, err);
		reload_undo(a, old, old_wall);
		agent_config_free(cfg);
		a->reloads_failed++;
		update_snapshot(a);
		return rc;
	}
	for (int c = 0; c < C_COUNT; c++)
		if (components[c]->reconfigure)
			components[c]->reconfigure(&a->ctx, a->self[c], old);
	agent_config_free(old);
	/* Parsing a large catalog leaves freed heap behind; give it back. */
	malloc_trim(0);
	a->reloads_ok++;
	as_notice("reloaded %s: %zu services", a->config_path, a->catalog.n_services);
	update_snapshot(a);
	*n_services = a->catalog.n_services;
	return AS_OK;
}

static int ctx_reload(struct agent_ctx *ctx, agent_reload_cb cb, void *arg)
{
	return agent_reloader_request(from_ctx(ctx)->reloader, cb, arg);
}

/* ---- events ------------------------------------------------------------------ */

/* A source's new set (NULL: it is gone): into the catalog; once running,
 * this node's record and the view follow. */
static int local_changed(struct agent *a, const struct k8s_set *set)
{
	int rc;

	a->k8s_set = set;
	if ((rc = catalog_update(a))) {
		/* The old merged array points into the set the source just
		 * replaced: fall back to the static catalog until the next
		 * update rather than keep dangling pointers. */
		as_err("kubernetes: cannot merge the catalog: %s", as_strerror(rc));
		catalog_static(a);
	}
	if (!a->running || a->stopping)
		return rc;	/* agent_start builds the first view */
	notify(a, C_CLUSTER, AGENT_EV_CATALOG_CHANGED);
	int vrc = agent_rebuild_view(a);
	if (vrc)
		as_err("kubernetes: cannot rebuild the answer view: %s",
		       as_strerror(vrc));
	return rc;
}

/* The Node's zone label (NULL: none); node.zone, when set, wins. */
static int node_zone_changed(struct agent *a, const char *zone)
{
	const char *before = a->ctx.node_zone;
	char old[K8S_ZONE_MAX + 1];

	snprintf(old, sizeof(old), "%s", before ? before : "");
	snprintf(a->label_zone, sizeof(a->label_zone), "%s", zone ? zone : "");
	sync_ctx(a);
	if (a->cfg->node.zone && zone && strcmp(zone, a->cfg->node.zone))
		as_notice("kubernetes: the Node's zone label is %s; node.zone "
			  "%s is configured and wins", zone, a->cfg->node.zone);
	if (!strcmp(old, a->ctx.node_zone ? a->ctx.node_zone : ""))
		return AS_OK;
	as_notice("zone of this node: %s (the Node's label)",
		  a->ctx.node_zone ? a->ctx.node_zone : "none");
	notify(a, C_CLUSTER, AGENT_EV_ZONE_CHANGED);
	if (!a->running || a->stopping)
		return AS_OK;	/* agent_start builds the first view */
	return agent_rebuild_view(a);
}

static int on_event(struct agent_ctx *ctx, enum agent_event ev, const void *arg)
{
	struct agent *a = from_ctx(ctx);

	switch (ev) {
	case AGENT_EV_JOINED:
		if (a->joined)
			return AS_OK;
		a->joined = true;	/* read by anycast if it starts later */
		sync_ctx(a);
		notify(a, C_ANYCAST, AGENT_EV_JOINED);
		return AS_OK;
	case AGENT_EV_MEMBERS_CHANGED:
		return agent_rebuild_view(a);
	case AGENT_EV_LOCAL_CHANGED:
		return local_changed(a, arg);
	case AGENT_EV_NODE_ZONE:
		return node_zone_changed(a, arg);
	case AGENT_EV_STOP:
		agent_request_stop(a, 0);
		return AS_OK;
	case AGENT_EV_DRAIN:
		/* Drain is the agent's, not only the route's: the Kubernetes
		 * source gives up its Lease until undrained. */
		notify(a, C_K8S, *(const bool *)arg ? AGENT_EV_DRAINED :
		       AGENT_EV_UNDRAINED);
		return a->self[C_K8S] ? AS_OK : AS_ESTATE;
	default:
		return AS_EINVAL;
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (signum == SIGHUP) {
		as_notice("SIGHUP: reloading %s", a->config_path);
		int rc = agent_reloader_request(a->reloader, NULL, NULL);
		if (rc)
			as_err("SIGHUP: cannot reload: %s", as_strerror(rc));
		return;
	}
	if (agent_anycast_on_signal(a->self[C_ANYCAST], signum))
		return;	/* draining first; see agent/anycast.c */
	as_notice("%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	agent_request_stop(a, 0);
}

/* ---- life cycle ------------------------------------------------------------------ */

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void stop_components(struct agent *a)
{
	for (int i = 0; i < C_COUNT; i++) {
		int c = stop_order[i];
		components[c]->stop(a->self[c]);
	}
}

static void agent_request_stop(struct agent *a, int exit_code)
{
	if (a->stopping)
		return;
	a->stopping = true;
	a->exit_code = exit_code;
	uv_timer_stop(&a->load_timer);
	uv_close((uv_handle_t *)&a->load_timer, close_cb);
	uv_close((uv_handle_t *)&a->sig_hup, close_cb);
	uv_close((uv_handle_t *)&a->sig_term, close_cb);
	uv_close((uv_handle_t *)&a->sig_int, close_cb);
	/* A parse not yet started is dropped; one running ends first (the
	 * loop runs until its after-callback has answered its waiters). */
	agent_reloader_stop(a->reloader);
	stop_components(a);	/* the cluster's is a graceful leave */
}

int agent_new(const char *config_path, struct agent_config *cfg,
	      struct agent **out)
{
	struct agent *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return AS_ENOMEM;
	a->config_path = strdup(config_path);
	if (!a->config_path) {
		free(a);
		return AS_ENOMEM;
	}
	a->cfg = cfg;
	catalog_static(a);
	a->config_loaded_wall = (int)as_wall_s();
	a->start_ms = as_now_ms();
	a->load.cpu_util = NAN; /* the first EWMA sample seeds it */
	a->load.factor = 1.0;
	a->load_override = NAN;
	pthread_mutex_init(&a->snap_lock, NULL);
	err = uv_loop_init(&a->loop);
	if (err) {
		as_err("uv_loop_init: %s", uv_strerror(err));
		pthread_mutex_destroy(&a->snap_lock);
		free(a->config_path);
		free(a);
		return AS_ELIB;
	}
	err = agent_reloader_new(&a->loop, config_path, reload_apply, a,
				 &a->reloader);
	if (err) {
		uv_loop_close(&a->loop);
		pthread_mutex_destroy(&a->snap_lock);
		free(a->config_path);
		free(a);
		return err;
	}
	a->ctx = (struct agent_ctx){
		.loop = &a->loop,
		.start_ms = a->start_ms,
		.emit = on_event,
		.publish = ctx_publish,
		.snapshot = ctx_snapshot,
		.metrics = ctx_metrics,
		.command = ctx_command,
		.status = ctx_status,
		.reload = ctx_reload,
		.load_override = ctx_load_override,
		.config_path = a->config_path,
		.view_as = ctx_view_as,
	};
	sync_ctx(a);
	*out = a;
	return AS_OK;
}

static int start_component(struct agent *a, int c)
{
	return components[c]->start(&a->ctx, &a->self[c]);
}

/* The DNS server on the configured listeners and the anycast addresses
 * (whose TUN exists by now), serving the first view. */
static int dns_new(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	struct sockaddr_storage *listen = NULL;
	size_t n_listen = 0;
	int err = agent_anycast_listeners(a->self[C_ANYCAST], c, &listen, &n_listen);

	if (err) {
		free(listen);
		return err;
	}
	const __typeof__(c->dns.forward) *fc = &c->dns.forward;
	struct dns_prefix allow[DNS_FWD_ALLOW_MAX];
	struct dns_forward_config fwd = {
		.upstreams = fc->upstream_addrs,
		.n_upstreams = fc->n_upstreams,
		.allow = allow,
		.n_allow = 0,
		.timeout_ms = fc->timeout_ms,
		.total_timeout_ms = fc->total_timeout_ms,
		.cache_bytes = (size_t)fc->cache_size_mb << 20,
		.max_ttl = fc->max_ttl_ms / 1000,
		.neg_max_ttl = fc->negative_max_ttl_ms / 1000,
		.serve_stale_s = fc->serve_stale_ms / 1000,
		.max_pending = fc->max_pending,
		.no_0x20 = !fc->case_randomization,
	};
	/* The config checked every prefix (dns_prefix_parse). */
	for (size_t i = 0; i < fc->n_allow && i < AS_ARRAY_SIZE(allow); i++)
		if (!dns_prefix_parse(fc->allow[i], &allow[fwd.n_allow]))
			fwd.n_allow++;
	struct dns_rrl_config rrl = {
		.enabled = c->dns.rrl.enabled,
		.responses_per_second = c->dns.rrl.responses_per_second,
		.slip = c->dns.rrl.slip,
		.window_ms = c->dns.rrl.window_ms,
		.prefix_v6 = (uint8_t)c->dns.rrl.ipv6_prefix_length,
		.prefix_v4 = (uint8_t)c->dns.rrl.ipv4_prefix_length,
		.table_size = c->dns.rrl.table_size,
	};
	struct dns_server_config sc = {
		.forward = fc->n_upstreams ? &fwd : NULL,
		.rrl = &rrl,
		.listen = listen,
		.n_listen = n_listen,
		.workers = c->dns.workers,
		.tcp_idle_timeout_ms = c->dns.tcp_idle_timeout_ms,
		.tcp_message_timeout_ms = c->dns.tcp_message_timeout_ms,
		.tcp_max_clients = c->dns.tcp_max_clients,
		.tcp_max_clients_per_prefix = c->dns.tcp_max_clients_per_prefix,
		.tcp_prefix_v6 = (uint8_t)c->dns.tcp_prefix_length_v6,
		.tcp_prefix_v4 = (uint8_t)c->dns.tcp_prefix_length_v4,
		.udp_io = strcmp(c->dns.udp_io, "io_uring") == 0 ?
				  DNS_UDP_IO_URING :
			  strcmp(c->dns.udp_io, "recvmmsg") == 0 ?
				  DNS_UDP_IO_MMSG :
				  DNS_UDP_IO_AUTO,
	};
	if (c->node.end_host) {
		/* An end host answers nobody: a server without listeners
		 * keeps the status and metrics code paths one. */
		sc.n_listen = 0;
		sc.workers = 1;
		as_notice("end host (node.role: end-host): no DNS listener");
	}
	err = dns_server_new(&sc, a->view, &a->dns);
	free(listen);
	sync_ctx(a);
	return a->dns ? AS_OK : err;
}

/* The load timer and the signals. */
static void start_timers(struct agent *a)
{
	uint64_t every = a->cfg->load.interval_ms;

	uv_timer_init(&a->loop, &a->load_timer);
	a->load_timer.data = a;
	uv_timer_start(&a->load_timer, on_load_timer, every, every);
	uv_signal_t *sigs[] = { &a->sig_hup, &a->sig_term, &a->sig_int };
	int nums[] = { SIGHUP, SIGTERM, SIGINT };
	for (size_t i = 0; i < AS_ARRAY_SIZE(sigs); i++) {
		uv_signal_init(&a->loop, sigs[i]);
		sigs[i]->data = a;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
}

static void log_listeners(struct agent *a)
{
	char buf[AS_SOCKADDR_STRLEN];

	for (size_t i = 0; i < dns_server_listener_count(a->dns); i++)
		as_notice("serving %s on %s (udp, tcp), %u workers, UDP on %s",
			  a->cfg->dns.zone,
			  as_format_sockaddr(dns_server_listener(a->dns, i), buf,
					     sizeof(buf)),
			  dns_server_worker_count(a->dns),
			  dns_udp_io_name(dns_server_udp_io(a->dns)));
}

/* Starts everything; on failure the caller runs agent_free(). */
int agent_start(struct agent *a)
{
	int err;

	agent_sample_load(a);
	if (!isfinite(a->load.cpu_util))
		a->load.cpu_util = 0;
	/* Gossip first: with it, the first view is built from the cluster
	 * view, never from other nodes' catalog entries. Then the source:
	 * its sets re-announce this node's endpoints. */
	if ((err = start_component(a, C_CLUSTER)) ||
	    (err = start_component(a, C_K8S)))
		return err;
	if ((err = agent_rebuild_view(a))) {
		as_err("cannot build the answer view: %s", as_strerror(err));
		return err;
	}
	/* The anycast TUN and its addresses must exist before the DNS
	 * server binds them. */
	if ((err = start_component(a, C_ANYCAST)) || (err = dns_new(a)) ||
	    (err = start_component(a, C_CONTROL)) ||
	    (err = start_component(a, C_SRV6)) ||
	    (err = start_component(a, C_METRICS)))
		return err;
	start_timers(a);
	a->running = true;
	update_snapshot(a);
	/* The YAML document of a large catalog is freed by now: return that
	 * heap to the kernel so RSS reflects what the daemon keeps. */
	malloc_trim(0);
	if ((err = dns_server_start(a->dns)))
		return err;
	for (int c = 0; c < C_COUNT; c++)
		if (components[c]->serve && a->self[c] &&
		    (err = components[c]->serve(a->self[c])))
			return err;
	log_listeners(a);
	return AS_OK;
}

int agent_run(struct agent *a)
{
	uv_run(&a->loop, UV_RUN_DEFAULT);
	return a->exit_code;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	if (!a->stopping && uv_is_active((uv_handle_t *)&a->load_timer))
		agent_request_stop(a, 0);
	stop_components(a);	/* idempotent */
	/* Let close callbacks run; then nothing may be left open. */
	uv_run(&a->loop, UV_RUN_DEFAULT);
	/* Metrics first: its HTTP thread reads the DNS counters. */
	components[C_METRICS]->free(a->self[C_METRICS]);
	if (a->dns) {
		dns_server_stop(a->dns);
		dns_server_free(a->dns);
	}
	/* Closing the TUN withdraws the route: after the DNS server. */
	components[C_ANYCAST]->free(a->self[C_ANYCAST]);
	components[C_CLUSTER]->free(a->self[C_CLUSTER]);
	components[C_K8S]->free(a->self[C_K8S]);
	components[C_SRV6]->free(a->self[C_SRV6]);
	components[C_CONTROL]->free(a->self[C_CONTROL]);
	if (uv_loop_close(&a->loop) == UV_EBUSY)
		as_warn("event loop closed with handles still open");
	agent_reloader_free(a->reloader);
	dns_view_unref(a->view);
	agent_catalog_free(&a->catalog);
	agent_config_free(a->cfg);
	pthread_mutex_destroy(&a->snap_lock);
	free(a->config_path);
	free(a);
}
