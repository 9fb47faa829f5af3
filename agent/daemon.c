/*
 * The daemon: owns the libuv loop on the main thread and everything that
 * runs on it (load timer, signals, control socket), the DNS server with
 * its worker threads, and the metrics HTTP thread.
 *
 * Data flow: config + local load -> dns_view_spec -> dns_view_new() ->
 * dns_server_publish(). The view is rebuilt on reload and when the local
 * load factor moves by more than FACTOR_STEP, never on the query path.
 * Until gossip arrives, endpoints of other nodes in the static catalog
 * have load factor 1 (nothing is known about their load).
 */
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/daemon.h"
#include "lib/as.h"

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

void agent_sample_load(struct agent *a)
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

	const char *sig = a->cfg->load.signal;
	if (strcmp(sig, "psi") == 0 && s->have_psi)
		s->signal = s->psi_some_avg10 / 100.0;
	else if (strcmp(sig, "loadavg") == 0)
		s->signal = s->ncpu ? s->loadavg1 / s->ncpu : s->loadavg1;
	else
		s->signal = s->cpu_util;
	if (!isfinite(s->signal) || s->signal < 0)
		s->signal = 0;
	if (s->signal > 1)
		s->signal = 1;
	s->factor = dns_load_factor(s->signal, a->cfg->load.low_watermark,
				    a->cfg->load.high_watermark);
}

/* Builds the view spec from the active config and current load. */
int agent_rebuild_view(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	struct dns_service_spec *svcs = NULL;
	struct dns_endpoint_spec *eps = NULL, *nsa = NULL;
	size_t n_eps = 0, k = 0;
	int err = AS_ENOMEM;
	/* With gossip, services come from the cluster view (cluster.c). */
	struct agent_cluster_view cv = { 0 };
	if (a->cluster && (err = agent_cluster_view_services(a, &cv)))
		return err;
	err = AS_ENOMEM;

	for (size_t i = 0; i < a->n_services; i++)
		n_eps += a->services[i].n_endpoints;
	svcs = calloc(a->n_services ? a->n_services : 1, sizeof(*svcs));
	eps = calloc(n_eps ? n_eps : 1, sizeof(*eps));
	nsa = calloc(c->dns.n_ns_addresses ? c->dns.n_ns_addresses : 1, sizeof(*nsa));
	if (!svcs || !eps || !nsa)
		goto out;

	for (size_t i = 0; i < a->n_services; i++) {
		const struct agent_service *s = &a->services[i];
		svcs[i] = (struct dns_service_spec){
			.name = s->name,
			.port = s->port,
			.proto = s->protocol,
			.ttl = s->ttl,
			.max_answers = s->max_answers,
			.endpoints = eps + k,
			.n_endpoints = s->n_endpoints,
		};
		for (size_t j = 0; j < s->n_endpoints; j++, k++) {
			const struct agent_endpoint *e = &s->endpoints[j];
			bool local = strcmp(e->node, c->node.name) == 0;
			eps[k] = (struct dns_endpoint_spec){
				.family = e->family,
				.weight = e->weight,
				.node = e->node,
				.load_factor = local ? a->load.factor : 1.0,
				.healthy = true,
			};
			memcpy(eps[k].addr, e->addr, sizeof(eps[k].addr));
		}
	}
	/* Every in-zone nameserver name answers with every ns_address. */
	for (size_t i = 0; i < c->dns.n_ns_addresses; i++) {
		const struct sockaddr_storage *ss = &c->dns.ns_addrs[i];
		nsa[i].family = ss->ss_family;
		if (ss->ss_family == AF_INET6)
			memcpy(nsa[i].addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		else
			memcpy(nsa[i].addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}

	struct dns_view_spec spec = {
		.zone = c->dns.zone,
		.node_name = c->node.name,
		.ttl = c->dns.ttl,
		.max_answers = c->dns.max_answers,
		.nameservers = (const char *const *)c->dns.nameservers,
		.n_nameservers = c->dns.n_nameservers,
		.ns_addresses = nsa,
		.n_ns_addresses = c->dns.n_ns_addresses,
		/* The serial only has to grow when the data changes; the
		 * active config's load time does that across reloads. */
		.soa_serial = (uint32_t)a->config_loaded_wall,
		.soa_refresh = 3600,
		.soa_retry = 600,
		.soa_expire = 86400,
		.soa_minimum = c->dns.negative_ttl,
		.apex_ttl = 3600,
		.services = a->cluster ? cv.svcs : svcs,
		.n_services = a->cluster ? cv.n_svcs : a->n_services,
	};
	dns_view_t *v;
	err = dns_view_new(&spec, &v);
	if (!v)
		goto out;
	if (a->dns)
		dns_server_publish(a->dns, v);
	dns_view_unref(a->view);
	a->view = v;
	a->view_builds++;
	a->factor_in_view = a->load.factor;
	err = AS_OK;
out:
	agent_cluster_view_free(&cv);
	free(svcs);
	free(eps);
	free(nsa);
	return err;
}

void agent_snapshot(struct agent *a, struct agent_snapshot *out)
{
	pthread_mutex_lock(&a->snap_lock);
	*out = a->snap;
	pthread_mutex_unlock(&a->snap_lock);
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
	s.n_services = a->n_services;
	for (size_t i = 0; i < a->n_services; i++)
		s.n_endpoints += a->services[i].n_endpoints;
	agent_anycast_snapshot(a, &s.anycast);
	agent_cluster_snapshot(a, &s.cluster);
	agent_k8s_snapshot(a, &s.k8s);
	pthread_mutex_lock(&a->snap_lock);
	a->snap = s;
	pthread_mutex_unlock(&a->snap_lock);
}

static void on_load_timer(uv_timer_t *t)
{
	struct agent *a = t->data;
	agent_sample_load(a);
	agent_cluster_on_load(a);
	if (fabs(a->load.factor - a->factor_in_view) >= FACTOR_STEP ||
	    (a->load.factor == 0) != (a->factor_in_view == 0)) {
		int err = agent_rebuild_view(a);
		if (err)
			as_err("cannot rebuild answer view: %s", as_strerror(err));
	}
	update_snapshot(a);
}

/* Settings bound at start: a reload that changes them only warns. */
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

/* Swaps in a configuration parsed by reload_work (rc, err: its result);
 * takes cfg. */
static int reload_apply(struct agent *a, struct agent_config *cfg, int rc,
			char *err, size_t errlen)
{
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
	agent_sample_load(a);
	rc = agent_catalog_update(a);
	if (!rc)
		rc = agent_rebuild_view(a);
	if (rc) {
		snprintf(err, errlen, "cannot build answer view: %s", as_strerror(rc));
		as_err("reload of %s rejected: %s", a->config_path, err);
		a->cfg = old;
		a->config_loaded_wall = old_wall;
		if (agent_catalog_update(a)) {
			/* Cannot fail without Kubernetes; with it, the
			 * static catalog alone beats none. */
			a->services = old->services;
			a->n_services = old->n_services;
		}
		agent_config_free(cfg);
		a->reloads_failed++;
		update_snapshot(a);
		return rc;
	}
	agent_k8s_reload(a, old);
	agent_cluster_reload(a, old);
	agent_config_free(old);
	/* Parsing a large catalog leaves freed heap behind; give it back. */
	malloc_trim(0);
	a->reloads_ok++;
	as_notice("reloaded %s: %zu services", a->config_path, a->n_services);
	update_snapshot(a);
	return AS_OK;
}

/*
 * Reloads run in two steps so the loop never waits for a parse (a large
 * or hostile file takes as long as it takes; gossip, DNS view updates and
 * the control socket go on meanwhile): reload_work reads, parses and
 * validates the file on a libuv worker thread (agent_config_load touches
 * nothing but its arguments), reload_after swaps the result in on the
 * loop. One job is parsed at a time; requests meanwhile share one waiting
 * job, which starts when the running one is done.
 */
struct reload_waiter {
	agent_reload_cb cb;
	void *arg;
	struct reload_waiter *next;
};

struct agent_reload_job {
	uv_work_t work;
	struct agent *a;
	char *path;
	struct agent_config *cfg;	/* the parse's result */
	int rc;
	char err[16384];
	struct reload_waiter *waiters;
};

static void reload_work(uv_work_t *w)
{
	struct agent_reload_job *j = w->data;
	j->rc = agent_config_load(j->path, &j->cfg, j->err, sizeof(j->err));
}

/* Tells every waiter of j the result and frees j. */
static void reload_finish(struct agent *a, struct agent_reload_job *j, int rc,
			  const char *err)
{
	struct reload_waiter *w = j->waiters, *next;

	for (; w; w = next) {
		next = w->next;
		w->cb(a, w->arg, rc, err);
		free(w);
	}
	agent_config_free(j->cfg);
	free(j->path);
	free(j);
}

static void reload_after(uv_work_t *w, int status);

static void reload_queue(struct agent *a, struct agent_reload_job *j)
{
	int rc = uv_queue_work(&a->loop, &j->work, reload_work, reload_after);
	if (rc) {
		as_err("reload: cannot start a worker: %s", uv_strerror(rc));
		reload_finish(a, j, AS_ELIB, "cannot start a worker thread");
		return;
	}
	a->reload = j;
}

static void reload_after(uv_work_t *w, int status)
{
	struct agent_reload_job *j = w->data, *next;
	struct agent *a = j->a;
	int rc;

	a->reload = NULL;
	/* The waiting job starts now: it reads the file as it is now. */
	if ((next = a->reload_next)) {
		a->reload_next = NULL;
		if (a->stopping)
			reload_finish(a, next, AS_ESTATE, "the daemon is shutting down");
		else
			reload_queue(a, next);
	}
	if (status || a->stopping) {
		reload_finish(a, j, AS_ESTATE, "the daemon is shutting down");
		return;
	}
	rc = reload_apply(a, j->cfg, j->rc, j->err, sizeof(j->err));
	j->cfg = NULL;		/* taken, also on failure */
	reload_finish(a, j, rc, j->err);
}

int agent_reload_start(struct agent *a, agent_reload_cb cb, void *arg)
{
	struct agent_reload_job *j = a->reload_next;
	struct reload_waiter *wt = NULL;
	bool fresh = false;

	if (a->stopping)
		return AS_ESTATE;
	if (cb && !(wt = calloc(1, sizeof(*wt))))
		return AS_ENOMEM;
	if (!j) {
		j = calloc(1, sizeof(*j));
		if (!j || !(j->path = strdup(a->config_path))) {
			free(j);
			free(wt);
			return AS_ENOMEM;
		}
		j->a = a;
		j->work.data = j;
		fresh = true;
	}
	if (wt) {
		*wt = (struct reload_waiter){ cb, arg, j->waiters };
		j->waiters = wt;
	}
	if (!fresh)
		return AS_OK;	/* joins the waiting job */
	if (a->reload) {
		a->reload_next = j;	/* after the running one */
		as_info("reload: %s is being parsed; the next parse starts "
			"when it is done", a->config_path);
		return AS_OK;
	}
	reload_queue(a, j);
	return AS_OK;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (signum == SIGHUP) {
		as_notice("SIGHUP: reloading %s", a->config_path);
		int rc = agent_reload_start(a, NULL, NULL);
		if (rc)
			as_err("SIGHUP: cannot reload: %s", as_strerror(rc));
		return;
	}
	if (agent_anycast_on_signal(a, signum))
		return;	/* draining first; see agent/anycast.c */
	as_notice("%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	agent_request_stop(a, 0);
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

void agent_request_stop(struct agent *a, int exit_code)
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
	if (a->reload)
		uv_cancel((uv_req_t *)&a->reload->work);
	agent_metrics_close(a->metrics);
	agent_anycast_close(a);
	agent_k8s_close(a);
	agent_cluster_close(a);	/* graceful leave */
	if (a->control) {
		agent_control_close(a->control);
		a->control = NULL;
	}
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
	a->services = cfg->services;
	a->n_services = cfg->n_services;
	a->config_loaded_wall = (int)as_wall_s();
	a->start_ms = as_now_ms();
	a->load.cpu_util = NAN; /* the first EWMA sample seeds it */
	a->load.factor = 1.0;
	pthread_mutex_init(&a->snap_lock, NULL);
	err = uv_loop_init(&a->loop);
	if (err) {
		as_err("uv_loop_init: %s", uv_strerror(err));
		pthread_mutex_destroy(&a->snap_lock);
		free(a->config_path);
		free(a);
		return AS_ELIB;
	}
	*out = a;
	return AS_OK;
}

/* Starts everything; on failure the caller runs agent_free(). */
int agent_start(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	int err;

	agent_sample_load(a);
	if (!isfinite(a->load.cpu_util))
		a->load.cpu_util = 0;
	/* Gossip first: with it, the first view is built from the cluster
	 * view, never from other nodes' catalog entries. */
	err = agent_cluster_start(a);
	if (err)
		return err;
	/* After gossip: its updates re-announce this node's endpoints. */
	err = agent_k8s_start(a);
	if (err)
		return err;
	err = agent_rebuild_view(a);
	if (err) {
		as_err("cannot build the answer view: %s", as_strerror(err));
		return err;
	}
	/* The anycast TUN and its addresses must exist before the DNS
	 * server binds them. */
	struct sockaddr_storage *listen = NULL;
	size_t n_listen = 0;
	err = agent_anycast_new(a, &listen, &n_listen);
	if (err) {
		free(listen);
		return err;
	}
	struct dns_server_config sc = {
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
	err = dns_server_new(&sc, a->view, &a->dns);
	free(listen);
	if (!a->dns)
		return err;
	err = agent_control_new(a, c->control.socket, &a->control);
	if (err)
		return err;
	if (c->metrics.listen && *c->metrics.listen) {
		err = agent_metrics_new(a, c->metrics.listen, &a->metrics);
		if (err)
			return err;
	}

	uv_timer_init(&a->loop, &a->load_timer);
	a->load_timer.data = a;
	uv_timer_start(&a->load_timer, on_load_timer, c->load.interval_ms,
		       c->load.interval_ms);
	uv_signal_t *sigs[] = { &a->sig_hup, &a->sig_term, &a->sig_int };
	int nums[] = { SIGHUP, SIGTERM, SIGINT };
	for (size_t i = 0; i < AS_ARRAY_SIZE(sigs); i++) {
		uv_signal_init(&a->loop, sigs[i]);
		sigs[i]->data = a;
		uv_signal_start(sigs[i], on_signal, nums[i]);
	}
	update_snapshot(a);
	/* The YAML document of a large catalog is freed by now: return that
	 * heap to the kernel so RSS reflects what the daemon keeps. */
	malloc_trim(0);

	err = dns_server_start(a->dns);
	if (err)
		return err;
	err = agent_anycast_start(a);
	if (err)
		return err;
	char buf[AS_SOCKADDR_STRLEN];
	for (size_t i = 0; i < dns_server_listener_count(a->dns); i++)
		as_notice("serving %s on %s (udp, tcp), %u workers, UDP on %s",
			  c->dns.zone,
			  as_format_sockaddr(dns_server_listener(a->dns, i), buf,
					     sizeof(buf)),
			  dns_server_worker_count(a->dns),
			  dns_udp_io_name(dns_server_udp_io(a->dns)));
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
	else if (a->control) {
		agent_control_close(a->control);
		a->control = NULL;
	}
	agent_metrics_close(a->metrics);
	agent_anycast_close(a);
	agent_k8s_close(a);
	agent_cluster_close(a);
	/* Let close callbacks run; then nothing may be left open. */
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (a->metrics)
		agent_metrics_free(a->metrics);
	if (a->dns) {
		dns_server_stop(a->dns);
		dns_server_free(a->dns);
	}
	agent_anycast_free(a);	/* closes the TUN: the route goes */
	agent_cluster_free(a);
	agent_k8s_free(a);
	if (uv_loop_close(&a->loop) == UV_EBUSY)
		as_warn("event loop closed with handles still open");
	dns_view_unref(a->view);
	agent_config_free(a->cfg);
	pthread_mutex_destroy(&a->snap_lock);
	free(a->config_path);
	free(a);
}
