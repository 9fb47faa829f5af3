/*
 * dns/server.c - the DNS listeners: worker threads and their life cycle.
 *
 * Design. Every worker is a thread with its own uv_loop_t and, for every
 * configured address, its own UDP and TCP socket bound with SO_REUSEPORT,
 * so the kernel spreads queries over the workers and no two workers ever
 * share a socket, a buffer or a counter. All sockets are made and bound
 * in dns_server_new() (dns/socket.c), before any thread exists, so a busy
 * or foreign address is reported to the caller instead of killing a
 * thread.
 *
 * UDP is the fast path, on one of two back ends behind struct
 * dns_udp_api (dns/server_int.h), chosen by dns_server_config.udp_io:
 * the worker's own io_uring (dns/udp_uring.c: one system call per
 * wakeup) or recvmmsg/sendmmsg on the worker's loop (dns/udp_mmsg.c). A
 * worker whose ring cannot be set up or enabled falls back to recvmmsg.
 * Either way nothing is allocated and nothing is locked per query. TCP
 * (RFC 7766, with its limits and timeouts) is dns/tcp.c.
 *
 * The view: each worker reads its private pointer without locks. A new
 * view is parked in a per-worker slot under a mutex that only publish and
 * the worker's async callback take; the callback swaps it in and drops
 * the old reference. The same async carries the stop request.
 *
 * Counters: each worker is the only writer of its struct dns_stats;
 * dns_server_stats() reads them with relaxed atomic loads.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "dns/server_int.h"

#define MAX_WORKERS 1024

/* ---- worker life cycle ------------------------------------------------ */

/* Closes every handle of the worker; the loop then ends by itself. Runs
 * on the worker's thread, or on the caller's if the thread never ran. */
static void worker_close_all(struct dns_worker *w)
{
	pthread_mutex_lock(&w->slot_lock);
	w->closed = true;
	pthread_mutex_unlock(&w->slot_lock);

	dns_tcp_close_all(w);
	dns_fwd_io_close(w->fwd);
	if (w->udp && w->udp->close)
		w->udp->close(w);
	if (w->async_inited && !uv_is_closing((uv_handle_t *)&w->async))
		uv_close((uv_handle_t *)&w->async, NULL);
}

static void worker_async(uv_async_t *a)
{
	struct dns_worker *w = a->data;
	dns_view_t *nv = NULL;
	bool set, stop;

	pthread_mutex_lock(&w->slot_lock);
	set = w->slot_set;
	nv = w->slot_view;
	w->slot_set = false;
	w->slot_view = NULL;
	stop = w->stop_req;
	pthread_mutex_unlock(&w->slot_lock);

	if (set) {
		dns_view_t *old = w->view;
		w->view = nv;
		dns_view_unref(old);
	}
	if (stop)
		worker_close_all(w);
}

static void worker_main(void *arg)
{
	struct dns_worker *w = arg;
	char name[16];
	int err;

	snprintf(name, sizeof(name), "dns-w%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	if (w->udp->run && (err = w->udp->run(w)) < 0) {
		as_warn("dns: worker %u: %s: %s; UDP on recvmmsg", w->idx,
			dns_udp_io_name(w->udp->io), strerror(-err));
		w->udp->deinit(w);
		w->udp = &dns_udp_mmsg;
		(void)w->udp->init(w);
	}
	/* Runs the loop, or finishes closing what the stop request closed. */
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

static uint64_t rng_seed(unsigned idx)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == sizeof(s))
		return s;
	return as_now_ns() ^ ((uint64_t)(idx + 1) * 0x9e3779b97f4a7c15ull);
}

/* Sets up the UDP back end the server chose; if io_uring cannot be set
 * up for this worker, recvmmsg instead unless io_uring was asked for. */
static int worker_init_udp(dns_server_t *srv, struct dns_worker *w)
{
	int err;

	if (srv->udp_io == DNS_UDP_IO_URING) {
		w->udp = &dns_udp_uring;
		if ((err = w->udp->init(w)) >= 0)
			return AS_OK;
		w->udp->deinit(w);
		w->udp = NULL;
		if (srv->udp_cfg == DNS_UDP_IO_URING)
			return err;
		as_warn("dns: worker %u: UDP on recvmmsg instead of io_uring",
			w->idx);
		srv->udp_io = DNS_UDP_IO_MMSG;
	}
	w->udp = &dns_udp_mmsg;
	return w->udp->init(w);
}

/* Hands the bound sockets to a new loop (and, for io_uring, to a new
 * ring). Both run on the worker thread later; until then only this
 * thread touches them. */
static int worker_init_loop(dns_server_t *srv, struct dns_worker *w)
{
	int err;

	if ((err = uv_loop_init(&w->loop))) {
		as_err("dns: uv_loop_init: %s", uv_strerror(err));
		return AS_ELIB;
	}
	w->loop_inited = true;
	if ((err = uv_async_init(&w->loop, &w->async, worker_async))) {
		as_err("dns: uv_async_init: %s", uv_strerror(err));
		return AS_ELIB;
	}
	w->async.data = w;
	w->async_inited = true;
	if ((err = worker_init_udp(srv, w)))
		return err;
	for (size_t a = 0; a < srv->n_listen; a++)
		if ((err = dns_tcp_listen(w, a)))
			return err;
	if (srv->fwd_on &&
	    (err = dns_fwd_io_new(w, &srv->fwd, srv->n_workers, &w->fwd)))
		return err;
	return AS_OK;
}

/* Tears down a worker whose thread is not running (never started or
 * already joined). */
static void worker_teardown(struct dns_worker *w)
{
	if (w->loop_inited) {
		worker_close_all(w);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		int err = uv_loop_close(&w->loop);
		if (err)
			as_warn("dns: worker %u: loop not closed: %s", w->idx,
				uv_strerror(err));
		w->loop_inited = false;
		w->async_inited = false;
		for (size_t a = 0; a < w->srv->n_listen; a++)
			w->ls[a].tcp_inited = w->ls[a].backoff_inited = false;
	}
	/* The back end's handles are closed: its state can go. */
	if (w->udp)
		w->udp->deinit(w);
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct dns_listener *l = &w->ls[a];
		if (l->udp_fd >= 0)
			close(l->udp_fd);
		if (l->tcp_fd >= 0)
			close(l->tcp_fd);
		l->udp_fd = l->tcp_fd = -1;
	}
}

static void worker_free(struct dns_worker *w)
{
	if (!w)
		return;
	if (w->udp)
		w->udp->deinit(w);
	dns_fwd_io_free(w->fwd);
	dns_rrl_free(w->rrl);
	dns_conntab_fini(&w->ct);
	dns_view_unref(w->view);
	dns_view_unref(w->slot_view);
	pthread_mutex_destroy(&w->slot_lock);
	free(w->ls);
	free(w);
}

/* Allocates worker i into srv->workers[i] (where dns_server_free finds
 * it even half made): its listeners (sockets come later), PRNG, TCP
 * connection table and a reference on view. */
static int worker_new(dns_server_t *srv, unsigned i, dns_view_t *view)
{
	struct dns_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return AS_ENOMEM;
	srv->workers[i] = w;
	w->srv = srv;
	w->idx = i;
	as_list_init(&w->conns);
	pthread_mutex_init(&w->slot_lock, NULL);
	w->ls = calloc(srv->n_listen ? srv->n_listen : 1, sizeof(*w->ls));
	if (!w->ls)
		return AS_ENOMEM;
	for (size_t a = 0; a < srv->n_listen; a++) {
		w->ls[a].w = w;
		w->ls[a].udp_fd = w->ls[a].tcp_fd = -1;
	}
	as_rng_seed(&w->rng, rng_seed(i));
	/* The prefix table's hash key: secret, so that clients cannot
	 * choose addresses that collide. */
	uint8_t key[16];
	if (getrandom(key, sizeof(key), GRND_NONBLOCK) != sizeof(key))
		for (size_t k = 0; k < sizeof(key); k += 8) {
			uint64_t r = rng_seed(i) ^ as_rng_next(&w->rng);
			memcpy(key + k, &r, 8);
		}
	int e = dns_conntab_init(&w->ct, &srv->tcp_lim, key);
	if (e)
		return e;
	/* The RRL table's key: as secret, and not the same. */
	for (size_t k = 0; k < sizeof(key); k++)
		key[k] ^= 0xA5;
	if (srv->rrl_on &&
	    (e = dns_rrl_new(&srv->rrl_cfg, srv->n_workers, key, &w->rrl)))
		return e;
	w->view = view ? dns_view_ref(view) : NULL;
	return AS_OK;
}

/* The UDP path for every worker: io_uring where the kernel runs it
 * (unless recvmmsg was asked for), else recvmmsg unless io_uring was
 * required. */
static int choose_udp_io(dns_server_t *srv, const struct dns_server_config *cfg)
{
	char why[160];

	srv->udp_cfg = cfg->udp_io;
	srv->udp_io = DNS_UDP_IO_MMSG;
	if (cfg->udp_io == DNS_UDP_IO_MMSG)
		return AS_OK;
	if (dns_udp_uring_supported(why, sizeof(why))) {
		srv->udp_io = DNS_UDP_IO_URING;
	} else if (cfg->udp_io == DNS_UDP_IO_URING) {
		as_err("dns: udp_io io_uring: not available here: %s", why);
		return -EOPNOTSUPP;
	} else {
		as_notice("dns: UDP on recvmmsg: io_uring not available (%s)",
			  why);
	}
	return AS_OK;
}

/* Copies the forwarding configuration (defaults for zeros). */
static int forward_configure(dns_server_t *srv,
			     const struct dns_forward_config *in)
{
	struct dns_forward_config *f = &srv->fwd;

	if (!in->n_upstreams || in->n_upstreams > DNS_FWD_UPSTREAMS_MAX ||
	    !in->upstreams || (in->n_allow && !in->allow)) {
		as_err("dns: forward: 1 to %d upstreams needed",
		       DNS_FWD_UPSTREAMS_MAX);
		return AS_EINVAL;
	}
	*f = *in;
	for (size_t i = 0; i < in->n_upstreams; i++) {
		int fam = in->upstreams[i].ss_family;
		if (fam != AF_INET && fam != AF_INET6)
			return AS_EINVAL;
		srv->fwd_up[i] = in->upstreams[i];
	}
	f->upstreams = srv->fwd_up;
	srv->fwd_allow = calloc(in->n_allow ? in->n_allow : 1,
				sizeof(*srv->fwd_allow));
	if (!srv->fwd_allow)
		return AS_ENOMEM;
	if (in->n_allow)
		memcpy(srv->fwd_allow, in->allow,
		       in->n_allow * sizeof(*in->allow));
	f->allow = srv->fwd_allow;
	if (!f->timeout_ms)
		f->timeout_ms = 1000;
	if (!f->total_timeout_ms)
		f->total_timeout_ms = 3000;
	if (f->total_timeout_ms < f->timeout_ms)
		f->total_timeout_ms = f->timeout_ms;
	if (!f->cache_bytes)
		f->cache_bytes = 16u << 20;
	if (!f->max_ttl)
		f->max_ttl = 86400;
	if (!f->neg_max_ttl)
		f->neg_max_ttl = 3600;
	if (!f->max_pending)
		f->max_pending = 1000;
	srv->fwd_on = true;
	return AS_OK;
}

/* ---- public API ------------------------------------------------------- */

int dns_server_new(const struct dns_server_config *cfg, dns_view_t *view,
		   dns_server_t **out)
{
	dns_server_t *srv = NULL;
	int e = AS_OK;

	if (out)
		*out = NULL;
	if (!out || !cfg || (cfg->n_listen && !cfg->listen)) {
		e = AS_EINVAL;
		goto fail;
	}
	for (size_t a = 0; a < cfg->n_listen; a++) {
		int f = cfg->listen[a].ss_family;
		if (f != AF_INET && f != AF_INET6) {
			as_err("dns: listen address %zu: unsupported family %d",
			       a, f);
			e = AS_EINVAL;
			goto fail;
		}
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		e = AS_ENOMEM;
		goto fail;
	}
	srv->state = SRV_NEW;
	srv->n_listen = cfg->n_listen;
	srv->n_workers = cfg->workers;
	if (!srv->n_workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		srv->n_workers = n > 0 ? (unsigned)n : 1;
	}
	if (srv->n_workers > MAX_WORKERS) {
		as_err("dns: %u workers is more than %u", srv->n_workers,
		       MAX_WORKERS);
		e = AS_EINVAL;
		goto fail;
	}
	dns_tcp_configure(srv, cfg);
	if (cfg->rrl && cfg->rrl->enabled) {
		const char *why = dns_rrl_config_problem(cfg->rrl);
		if (why) {
			as_err("dns: rrl: %s", why);
			e = AS_EINVAL;
			goto fail;
		}
		srv->rrl_cfg = *cfg->rrl;
		srv->rrl_on = true;
	}
	if (cfg->forward && (e = forward_configure(srv, cfg->forward)))
		goto fail;
	srv->addrs = calloc(srv->n_listen ? srv->n_listen : 1,
			    sizeof(*srv->addrs));
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	if (!srv->addrs || !srv->workers) {
		e = AS_ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < srv->n_workers; i++)
		if ((e = worker_new(srv, i, view)))
			goto fail;
	if ((e = choose_udp_io(srv, cfg)))
		goto fail;
	for (size_t a = 0; a < srv->n_listen; a++)
		if ((e = dns_sock_bind_address(srv, a, &cfg->listen[a])))
			goto fail;
	for (unsigned i = 0; i < srv->n_workers; i++)
		if ((e = worker_init_loop(srv, srv->workers[i])))
			goto fail;
	*out = srv;
	return AS_OK;
fail:
	dns_server_free(srv);
	return e;
}

int dns_server_start(dns_server_t *srv)
{
	sigset_t block, old;
	int ret = AS_OK;

	if (!srv || srv->state != SRV_NEW)
		return AS_ESTATE;
	srv->state = SRV_RUNNING;

	/* Workers inherit a mask with every asynchronous signal blocked:
	 * process signals go to the application's threads, and a write to
	 * a reset connection returns EPIPE instead of killing the process
	 * with SIGPIPE (libuv offers no MSG_NOSIGNAL). Faults stay
	 * deliverable so crashes are still reported. */
	sigfillset(&block);
	static const int sync_sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL,
					 SIGTRAP, SIGABRT, SIGSYS };
	for (size_t k = 0; k < AS_ARRAY_SIZE(sync_sigs); k++)
		sigdelset(&block, sync_sigs[k]);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dns_worker *w = srv->workers[i];
		int err = uv_thread_create(&w->thread, worker_main, w);
		if (err) {
			as_err("dns: cannot start worker %u: %s", i,
			       uv_strerror(err));
			ret = err == UV_ENOMEM ? AS_ENOMEM : AS_ELIB;
			break;
		}
		w->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		dns_server_stop(srv);
	return ret;
}

void dns_server_publish(dns_server_t *srv, dns_view_t *view)
{
	if (!srv)
		return;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dns_worker *w = srv->workers[i];
		dns_view_t *old;

		pthread_mutex_lock(&w->slot_lock);
		old = w->slot_view;
		w->slot_view = view ? dns_view_ref(view) : NULL;
		w->slot_set = true;
		if (!w->closed)
			uv_async_send(&w->async);
		pthread_mutex_unlock(&w->slot_lock);
		dns_view_unref(old);
	}
}

unsigned dns_server_publish_pending(dns_server_t *srv)
{
	unsigned n = 0;

	if (!srv)
		return 0;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dns_worker *w = srv->workers[i];
		pthread_mutex_lock(&w->slot_lock);
		n += w->slot_set;
		pthread_mutex_unlock(&w->slot_lock);
	}
	return n;
}

void dns_server_set_paused(dns_server_t *srv, bool paused)
{
	if (srv)
		__atomic_store_n(&srv->paused, paused, __ATOMIC_RELAXED);
}

void dns_server_stats(dns_server_t *srv, struct dns_stats *out)
{
	/* struct dns_stats is a flat run of uint64_t counters. */
	_Static_assert(sizeof(struct dns_stats) % sizeof(uint64_t) == 0,
		       "dns_stats must hold only uint64_t");
	enum { N = sizeof(struct dns_stats) / sizeof(uint64_t) };
	uint64_t *o = (uint64_t *)out;

	memset(out, 0, sizeof(*out));
	if (!srv)
		return;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		const uint64_t *s = (const uint64_t *)&srv->workers[i]->stats;
		for (size_t k = 0; k < N; k++)
			o[k] += __atomic_load_n(&s[k], __ATOMIC_RELAXED);
	}
}

size_t dns_server_upstreams(dns_server_t *srv, struct dns_upstream_status *out,
			    size_t n)
{
	struct dns_fwd_upstream u[DNS_FWD_UPSTREAMS_MAX];

	if (!srv || !srv->fwd_on)
		return 0;
	for (size_t i = 0; i < srv->fwd.n_upstreams && i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].addr = srv->fwd_up[i];
	}
	for (unsigned k = 0; k < srv->n_workers; k++) {
		if (!srv->workers[k]->fwd)
			continue;
		dns_fwd_io_upstreams(srv->workers[k]->fwd, u);
		for (size_t i = 0; i < srv->fwd.n_upstreams && i < n; i++) {
			out[i].queries += u[i].queries;
			out[i].answers += u[i].answers;
			out[i].timeouts += u[i].timeouts;
			if (u[i].srtt_us && (!out[i].srtt_us ||
					     u[i].srtt_us < out[i].srtt_us))
				out[i].srtt_us = u[i].srtt_us;
		}
	}
	return srv->fwd.n_upstreams;
}

size_t dns_server_listener_count(const dns_server_t *srv)
{
	return srv ? srv->n_listen : 0;
}

const struct sockaddr_storage *dns_server_listener(const dns_server_t *srv,
						   size_t i)
{
	if (!srv || i >= srv->n_listen)
		return NULL;
	return &srv->addrs[i];
}

unsigned dns_server_worker_count(const dns_server_t *srv)
{
	return srv ? srv->n_workers : 0;
}

uint32_t dns_server_tcp_max_clients(const dns_server_t *srv)
{
	return srv ? srv->tcp_lim.max : 0;
}

enum dns_udp_io dns_server_udp_io(const dns_server_t *srv)
{
	return srv ? srv->udp_io : DNS_UDP_IO_MMSG;
}

const char *dns_udp_io_name(enum dns_udp_io io)
{
	switch (io) {
	case DNS_UDP_IO_AUTO:
		return "auto";
	case DNS_UDP_IO_URING:
		return "io_uring";
	case DNS_UDP_IO_MMSG:
		return "recvmmsg";
	}
	return "?";
}

void dns_server_stop(dns_server_t *srv)
{
	if (!srv || srv->state == SRV_STOPPED)
		return;
	if (!srv->workers) {
		srv->state = SRV_STOPPED;
		return;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dns_worker *w = srv->workers[i];
		if (!w || !w->thread_started)
			continue;
		pthread_mutex_lock(&w->slot_lock);
		w->stop_req = true;
		if (!w->closed)
			uv_async_send(&w->async);
		pthread_mutex_unlock(&w->slot_lock);
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dns_worker *w = srv->workers[i];
		if (!w)
			continue;
		if (w->thread_started) {
			uv_thread_join(&w->thread);
			w->thread_started = false;
		}
		/* Closes what a never-started worker still holds and runs
		 * the close callbacks; a joined loop has nothing left. */
		worker_teardown(w);
	}
	srv->state = SRV_STOPPED;
}

void dns_server_free(dns_server_t *srv)
{
	if (!srv)
		return;
	dns_server_stop(srv);
	if (srv->workers)
		for (unsigned i = 0; i < srv->n_workers; i++)
			worker_free(srv->workers[i]);
	free(srv->workers);
	free(srv->addrs);
	free(srv->fwd_allow);
	free(srv);
}
