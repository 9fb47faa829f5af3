/*
 * dns/server.c - the DNS listeners: worker threads, sockets, framing.
 *
 * Design. Every worker is a thread with its own uv_loop_t and, for every
 * configured address, its own UDP and TCP socket bound with SO_REUSEPORT,
 * so the kernel spreads queries over the workers and no two workers ever
 * share a socket, a buffer or a counter. The sockets are made here with
 * socket(2) (libuv 1.44 cannot set SO_REUSEPORT on UDP) and all of them
 * are bound in dns_server_new(), before any thread exists, so a busy or
 * foreign address is reported to the caller instead of killing a thread.
 * Worker 0 binds before it sets SO_REUSEPORT, so an address held by any
 * other socket, even another server of ours, is busy rather than shared.
 *
 * UDP is the fast path, on one of two paths (dns_server_config.udp_io):
 * io_uring (see "UDP on io_uring" below: one system call per wakeup), or
 * a uv_poll on the socket, recvmmsg() into per-worker preallocated
 * buffers, dns_answer() for each message and one sendmmsg() for the
 * replies. Either way nothing is allocated and nothing is locked per
 * query; the clock is read once when a batch arrives and once after it
 * is answered. On wildcard addresses the destination address of each
 * query comes in IP(V6)_PKTINFO and is used as the source of the reply,
 * which is what makes anycast work when the socket is bound to [::].
 *
 * TCP follows RFC 7766: 2-byte length framing, every complete message in
 * the buffer is answered in order (pipelining), and backpressure: while
 * more than TCP_OUT_HIGH bytes of replies that the kernel did not take
 * wait in our queue, we neither read nor answer. Replies go out with
 * uv_try_write(); only what the kernel does not take is copied to the
 * heap for uv_write(). A message we do not answer (malformed, or while
 * paused) closes the connection. RFC 7766 leaves the defence against
 * clients that hold connections to the server; ours closes slow clients,
 * as Knot and NSD do, and never refuses a new one:
 *
 *  - Two clocks per connection, one timer. Between messages the idle
 *    timeout (default 10 s) runs and restarts on any progress; from the
 *    first byte of a message the message timeout (default 500 ms, Knot's
 *    tcp-io-timeout) runs and further bytes do not restart it, so a
 *    client trickling one byte at a time loses its slot quickly.
 *  - Limits per worker and per client prefix, kept by dns/conntab.c: a
 *    connection over a limit closes the oldest (idle first) connection
 *    that limit counts instead of being refused. The limits are per
 *    worker because every worker has its own SO_REUSEPORT socket and the
 *    kernel spreads a client's connections over them: per-worker
 *    counting needs no shared state on the accept path, and the
 *    guarantee that matters holds on whichever worker a new connection
 *    lands (a prefix never holds more than its share of that worker's
 *    slots); in total a prefix can hold limit x workers.
 *  - We accept ourselves (a uv_poll on the listening socket) rather than
 *    through uv_listen: libuv meets EMFILE with its "emfile trick" (close
 *    a reserved descriptor, accept and drop every pending connection,
 *    reopen it) without telling the application, and with several loops
 *    in one process another thread can take the freed descriptor, after
 *    which libuv 1.44 calls accept() again and again without returning
 *    to the loop (src/unix/stream.c, uv__server_io). At the open-file
 *    limit a worker closes its oldest idle connection to take the new
 *    one; with none idle it counts the failure, logs it at most once per
 *    interval for all workers, and stops accepting on that socket for
 *    TCP_ACCEPT_BACKOFF_MS (or until one of its connections closes);
 *    pending connections wait in the kernel's backlog meanwhile.
 *
 * The workers together keep at most half the open-file limit (Knot's
 * default for tcp-max-clients), so DNS over TCP alone cannot exhaust the
 * process's descriptors.
 *
 * The view: each worker reads its private pointer without locks. A new
 * view is parked in a per-worker slot under a mutex that only publish and
 * the worker's async callback take; the callback swaps it in and drops
 * the old reference. The same async carries the stop request.
 *
 * Counters: each worker is the only writer of its struct dns_stats;
 * dns_server_stats() reads them with relaxed atomic loads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <liburing.h>
#include <uv.h>

#include "dns/conntab.h"
#include "dns/dns.h"
#include "lib/as.h"

#define UDP_BATCH 32			/* messages per recvmmsg/sendmmsg */
#define UDP_BATCHES_PER_WAKEUP 8	/* then yield to the rest of the loop */
#define UDP_RX_MAX 4096			/* larger UDP queries are dropped */
#define TCP_BACKLOG 1024
#define TCP_IDLE_DEFAULT_MS 10000
#define TCP_MSG_DEFAULT_MS 500		/* Knot's tcp-io-timeout */
#define TCP_MAX_CLIENTS_DEFAULT 256
#define TCP_PER_PREFIX_DEFAULT 32
#define TCP_PREFIX_V6_DEFAULT 64
#define TCP_PREFIX_V4_DEFAULT 32
#define TCP_ACCEPTS_PER_WAKEUP 64	/* then let the loop run */
#define TCP_ACCEPT_BACKOFF_MS 100
#define TCP_ACCEPT_LOG_MS 10000		/* one log line per interval */
#define TCP_RBUF_INIT 4096
#define TCP_RBUF_MAX (2 + DNS_MSG_MAX + 4096)
#define TCP_OUT_HIGH (256 * 1024)	/* stop reading above this */
#define MAX_WORKERS 1024
#define PORT0_ATTEMPTS 16

/* Big enough for either IP_PKTINFO or IPV6_PKTINFO. */
#define PKTINFO_SPACE \
	CMSG_SPACE(sizeof(struct in6_pktinfo) > sizeof(struct in_pktinfo) ? \
		   sizeof(struct in6_pktinfo) : sizeof(struct in_pktinfo))

struct worker;

/* One address of one worker: its UDP and TCP socket. */
struct listener {
	struct worker *w;
	int family;
	bool wildcard;
	int udp_fd;		/* ours until closed in udp_closed */
	int tcp_fd;		/* listening; ours until closed in tcp_closed */
	bool udp_inited, tcp_inited, backoff_inited;
	bool accept_paused;	/* backing off after a failed accept */
	uv_poll_t udp;
	uv_poll_t tcp;		/* accept readiness */
	uv_timer_t backoff;
	/* io_uring: the multishot receive's template (name and control
	 * space it reserves in each buffer) and whether it is armed. */
	struct msghdr rx_tmpl;
	bool recv_armed;
};

struct uring_state;

struct tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;	/* idle or message timeout */
	struct worker *w;
	struct tcp_conn *prev, *next;
	struct dns_ct_entry ce;	/* limits and eviction order */
	uint8_t *rbuf;
	size_t rlen, rcap;
	size_t queued;		/* bytes handed to uv_write, not yet done */
	int closes_pending;
	bool reading, closing, eof;
	bool msg_timer;		/* the timer runs the message timeout */
};

/* A reply the kernel did not take at once, copied for uv_write. */
struct tcp_wreq {
	uv_write_t req;
	struct tcp_conn *c;
	size_t len;
	uint8_t data[];
};

struct worker {
	dns_server_t *srv;
	unsigned idx;
	uv_loop_t loop;
	uv_async_t async;
	uv_thread_t thread;
	bool loop_inited, async_inited, thread_started;

	/* The slot: everything below up to `view` is under slot_lock. */
	pthread_mutex_t slot_lock;
	dns_view_t *slot_view;
	bool slot_set;
	bool stop_req;
	bool closed;		/* async closed: publish must not send */

	dns_view_t *view;	/* private to the worker thread */
	struct uring_state *u;	/* UDP on io_uring; NULL: recvmmsg */
	struct dns_rng rng;
	struct dns_stats stats;	/* written by this worker only */

	struct listener *ls;	/* n_listen of them */
	struct tcp_conn *conns;
	size_t n_conns;
	struct dns_conntab ct;
	bool any_paused;	/* some listener is backing off */

	/* UDP batch state, preallocated. */
	struct mmsghdr rmsg[UDP_BATCH];
	struct mmsghdr smsg[UDP_BATCH];
	struct iovec riov[UDP_BATCH];
	struct iovec siov[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	struct dns_result res[UDP_BATCH];
	bool counted[UDP_BATCH];	/* counted without dns_answer */
	uint8_t rctl[UDP_BATCH][PKTINFO_SPACE];
	uint8_t sctl[UDP_BATCH][PKTINFO_SPACE];
	uint8_t rbuf[UDP_BATCH][UDP_RX_MAX];
	uint8_t obuf[UDP_BATCH][DNS_UDP_PAYLOAD_MAX];

	/* TCP reply scratch: 2-byte length then the message. */
	uint8_t tcp_out[2 + DNS_MSG_MAX];
};

enum srv_state { SRV_NEW, SRV_RUNNING, SRV_STOPPED };

struct dns_server {
	struct sockaddr_storage *addrs;	/* as bound, port 0 resolved */
	size_t n_listen;
	unsigned n_workers;
	struct worker **workers;
	uint32_t tcp_idle_ms;
	uint32_t tcp_msg_ms;
	struct dns_conntab_limits tcp_lim;	/* per worker */
	struct as_ratelimit accept_log;	/* shared by the workers */
	enum srv_state state;
	enum dns_udp_io udp_cfg;	/* as configured */
	enum dns_udp_io udp_io;		/* in use: URING or MMSG */
	bool paused;		/* atomic: test hook */
};

/* ---- counters --------------------------------------------------------- */

/* The worker is the only writer; relaxed stores keep the monitoring
 * readers' loads well defined without costing anything on x86/arm64. */
static inline void stat_add(uint64_t *p, uint64_t d)
{
	__atomic_store_n(p, *p + d, __ATOMIC_RELAXED);
}

static inline void stat_sub(uint64_t *p, uint64_t d)
{
	__atomic_store_n(p, *p - d, __ATOMIC_RELAXED);
}

/* A message not handed to dns_answer (no view, paused, oversized). */
static void count_unanswered(struct worker *w, enum dns_transport t)
{
	stat_add(&w->stats.queries, 1);
	stat_add(t == DNS_TRANSPORT_UDP ? &w->stats.udp_queries :
		 &w->stats.tcp_queries, 1);
	stat_add(&w->stats.dropped, 1);
}

static bool srv_paused(const dns_server_t *srv)
{
	return __atomic_load_n(&srv->paused, __ATOMIC_RELAXED);
}

/* ---- sockets ---------------------------------------------------------- */

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					   sizeof(struct sockaddr_in);
}

static uint16_t sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static bool sa_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)ss;
		return IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
	}
	return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
	       htonl(INADDR_ANY);
}

static int set_opt(int fd, int level, int name, const char *what,
		   const struct sockaddr_storage *ss, const char *proto)
{
	int one = 1;
	if (setsockopt(fd, level, name, &one, sizeof(one)) == 0)
		return AS_OK;
	int e = errno;
	char buf[AS_SOCKADDR_STRLEN];
	as_err("dns: cannot set %s on %s (%s): %s", what,
	       as_format_sockaddr(ss, buf, sizeof(buf)), proto, strerror(e));
	return -e;
}

/* A worker that is descheduled for a few milliseconds must not lose the
 * queries that arrive meanwhile: the default UDP receive buffer (about
 * 200 KiB) overflowed under dnsperf at 20k qps on a busy 2-core machine.
 * As root, SO_RCVBUFFORCE goes past net.core.rmem_max; otherwise the
 * kernel caps SO_RCVBUF there. Memory is only used while queued. */
#define UDP_RCVBUF (4 * 1024 * 1024)
static void grow_rcvbuf(int s)
{
	int size = UDP_RCVBUF;
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* Creates, configures and binds one socket; *fd = -1 on failure. When
 * quiet_busy, EADDRINUSE is returned without a log line (port 0 retry).
 * An exclusive socket is bound before SO_REUSEPORT is set, so its bind
 * fails if anything else holds the address, even another process of the
 * same user with SO_REUSEPORT (which the kernel would let share it, and
 * even hand out on a port 0 bind); the flag set afterwards lets our
 * other workers join it. */
static int open_socket(const struct sockaddr_storage *ss, bool udp,
		       bool exclusive, bool quiet_busy, int *fd)
{
	const char *proto = udp ? "udp" : "tcp";
	char buf[AS_SOCKADDR_STRLEN];
	int s, err;

	*fd = -1;
	s = socket(ss->ss_family,
		   (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
			   SOCK_CLOEXEC,
		   0);
	if (s < 0) {
		err = -errno;
		as_err("dns: cannot create socket for %s (%s): %s",
		       as_format_sockaddr(ss, buf, sizeof(buf)), proto,
		       strerror(-err));
		return err;
	}
	if (!exclusive && (err = set_opt(s, SOL_SOCKET, SO_REUSEPORT,
					 "SO_REUSEPORT", ss, proto)))
		goto fail;
	if (!udp && (err = set_opt(s, SOL_SOCKET, SO_REUSEADDR,
				   "SO_REUSEADDR", ss, proto)))
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    (err = set_opt(s, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", ss,
			   proto)))
		goto fail;
	if (udp && sa_wildcard(ss)) {
		if (ss->ss_family == AF_INET6)
			err = set_opt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO,
				      "IPV6_RECVPKTINFO", ss, proto);
		else
			err = set_opt(s, IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO",
				      ss, proto);
		if (err)
			goto fail;
	}
	if (udp)
		grow_rcvbuf(s);
	if (bind(s, (const struct sockaddr *)ss, sa_len(ss)) < 0) {
		err = -errno;
		if (!(quiet_busy && err == -EADDRINUSE))
			as_err("dns: cannot bind %s (%s): %s",
			       as_format_sockaddr(ss, buf, sizeof(buf)), proto,
			       strerror(-err));
		goto fail;
	}
	if (exclusive && (err = set_opt(s, SOL_SOCKET, SO_REUSEPORT,
					"SO_REUSEPORT", ss, proto)))
		goto fail;
	*fd = s;
	return AS_OK;
fail:
	close(s);
	return err;
}

static void close_raw_fds(dns_server_t *srv, size_t a)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct listener *l = &srv->workers[i]->ls[a];
		if (l->udp_fd >= 0)
			close(l->udp_fd);
		if (l->tcp_fd >= 0)
			close(l->tcp_fd);
		l->udp_fd = l->tcp_fd = -1;
	}
}

/* Binds the UDP and TCP socket of address a for every worker. Worker 0's
 * sockets are exclusive (see open_socket). With port 0 the first socket
 * picks the port and all others follow it; if that port is taken for
 * TCP we start over with a new one. */
static int bind_address(dns_server_t *srv, size_t a,
			const struct sockaddr_storage *want)
{
	bool port0 = sa_port(want) == 0;
	int err = AS_OK;

	for (int attempt = 0; attempt < (port0 ? PORT0_ATTEMPTS : 1);
	     attempt++) {
		struct sockaddr_storage ss = *want;
		bool retry = false;

		for (unsigned i = 0; i < srv->n_workers && !err; i++) {
			struct listener *l = &srv->workers[i]->ls[a];
			bool first = i == 0;

			l->family = ss.ss_family;
			l->wildcard = sa_wildcard(&ss);
			err = open_socket(&ss, true, first, port0 && !first,
					  &l->udp_fd);
			if (!err && first && port0) {
				socklen_t len = sizeof(ss);
				if (getsockname(l->udp_fd,
						(struct sockaddr *)&ss,
						&len) < 0) {
					err = -errno;
					as_err("dns: getsockname: %s",
					       strerror(errno));
				}
			}
			if (!err)
				err = open_socket(&ss, false, first, port0,
						  &l->tcp_fd);
		}
		if (!err) {
			srv->addrs[a] = ss;
			return AS_OK;
		}
		retry = port0 && err == -EADDRINUSE;
		close_raw_fds(srv, a);
		if (!retry)
			return err;
		err = AS_OK;
	}
	char buf[AS_SOCKADDR_STRLEN];
	as_err("dns: cannot bind %s: no port free for both UDP and TCP",
	       as_format_sockaddr(want, buf, sizeof(buf)));
	return -EADDRINUSE;
}

/* ---- UDP -------------------------------------------------------------- */

/* Makes out the reply's only control message. */
static void put_cmsg(uint8_t *out, int level, int type, const void *data,
		     size_t len, struct msghdr *sh)
{
	struct cmsghdr *o = (struct cmsghdr *)(void *)out;

	o->cmsg_level = level;
	o->cmsg_type = type;
	o->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(o), data, len);
	sh->msg_control = o;
	sh->msg_controllen = CMSG_SPACE(len);
}

/* Turns the query's destination address (an IP(V6)_PKTINFO cmsg c) into
 * the reply's control data in o, so a wildcard socket answers from the
 * address that was asked; false if c is not that cmsg. */
static bool pktinfo_reply(const struct cmsghdr *c, int family, uint8_t *out,
			  struct msghdr *sh)
{
	if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
	    c->cmsg_type == IPV6_PKTINFO &&
	    c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
		struct in6_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		/* Pin the interface only where the address needs it;
		 * otherwise routing picks it (anycast). */
		if (!IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
			pi.ipi6_ifindex = 0;
		put_cmsg(out, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi), sh);
		return true;
	}
	if (family == AF_INET && c->cmsg_level == IPPROTO_IP &&
	    c->cmsg_type == IP_PKTINFO &&
	    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
		struct in_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		/* Source = the address asked; let routing pick the
		 * interface (it may differ for anycast). */
		pi.ipi_spec_dst = pi.ipi_addr;
		pi.ipi_ifindex = 0;
		put_cmsg(out, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi), sh);
		return true;
	}
	return false;
}

static void udp_reply_pktinfo(struct worker *w, unsigned i, int family,
			      struct msghdr *sh)
{
	struct msghdr *rh = &w->rmsg[i].msg_hdr;

	sh->msg_control = NULL;
	sh->msg_controllen = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(rh); c; c = CMSG_NXTHDR(rh, c))
		if (pktinfo_reply(c, family, w->sctl[i], sh))
			return;
}

/* One recvmmsg batch; returns how many messages were read (0: none). */
static int udp_batch(struct listener *l)
{
	struct worker *w = l->w;
	unsigned n_out = 0;
	int n;

	for (unsigned i = 0; i < UDP_BATCH; i++) {
		struct msghdr *h = &w->rmsg[i].msg_hdr;
		h->msg_name = &w->peer[i];
		h->msg_namelen = sizeof(w->peer[i]);
		h->msg_iov = &w->riov[i];
		h->msg_iovlen = 1;
		h->msg_control = l->wildcard ? w->rctl[i] : NULL;
		h->msg_controllen = l->wildcard ? sizeof(w->rctl[i]) : 0;
		h->msg_flags = 0;
		w->rmsg[i].msg_len = 0;
	}
	do
		n = recvmmsg(l->udp_fd, w->rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			as_debug("dns: worker %u: recvmmsg: %s", w->idx,
				 strerror(errno));
		return 0;
	}

	uint64_t t_recv = as_now_ns();
	const dns_view_t *view = w->view;
	bool paused = srv_paused(w->srv);

	for (int i = 0; i < n; i++) {
		struct dns_result *r = &w->res[i];
		r->send = false;
		w->counted[i] = !view || paused ||
				(w->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC);
		if (w->counted[i]) {
			count_unanswered(w, DNS_TRANSPORT_UDP);
			continue;
		}
		dns_answer(view, &w->rng, DNS_TRANSPORT_UDP, w->rbuf[i],
			   w->rmsg[i].msg_len, w->obuf[i],
			   sizeof(w->obuf[i]), r);
		if (!r->send)
			continue;
		struct msghdr *sh = &w->smsg[n_out].msg_hdr;
		w->siov[n_out].iov_base = w->obuf[i];
		w->siov[n_out].iov_len = r->len;
		sh->msg_name = &w->peer[i];
		sh->msg_namelen = w->rmsg[i].msg_hdr.msg_namelen;
		sh->msg_iov = &w->siov[n_out];
		sh->msg_iovlen = 1;
		sh->msg_flags = 0;
		if (l->wildcard)
			udp_reply_pktinfo(w, (unsigned)i, l->family, sh);
		else {
			sh->msg_control = NULL;
			sh->msg_controllen = 0;
		}
		n_out++;
	}

	uint64_t lat = as_now_ns() - t_recv;
	for (int i = 0; i < n; i++) {
		if (!w->counted[i])
			dns_stats_count(&w->stats, DNS_TRANSPORT_UDP,
					&w->res[i], lat);
	}

	for (unsigned off = 0; off < n_out;) {
		int s = sendmmsg(l->udp_fd, w->smsg + off, n_out - off, 0);
		if (s < 0) {
			if (errno == EINTR)
				continue;
			/* One unsendable reply must not lose the rest. */
			as_debug("dns: worker %u: sendmmsg: %s", w->idx,
				 strerror(errno));
			off++;
			continue;
		}
		off += (unsigned)s;
	}
	return n;
}

static void udp_readable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;

	if (status < 0) {
		as_debug("dns: worker %u: udp poll: %s", l->w->idx,
			 uv_strerror(status));
		return;
	}
	for (int b = 0; b < UDP_BATCHES_PER_WAKEUP; b++)
		if (udp_batch(l) < UDP_BATCH)
			break;
}

/* ---- TCP -------------------------------------------------------------- */

static void tcp_process(struct tcp_conn *c, bool arrived);
static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void accept_resume(struct worker *w);

static struct tcp_conn *conn_of(struct dns_ct_entry *e)
{
	return (struct tcp_conn *)(void *)((char *)e -
					   offsetof(struct tcp_conn, ce));
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;

	if (--c->closes_pending > 0)
		return;
	struct worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	free(c->rbuf);
	free(c);
	/* A descriptor is free again: a listener backing off after EMFILE
	 * may get it. */
	if (w->any_paused)
		accept_resume(w);
}

/* Closes c; its slot is free at once (its descriptor too: libuv closes
 * a stream's socket in uv_close). */
static void conn_close(struct tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	dns_conntab_remove(&c->w->ct, &c->ce);
	stat_sub(&c->w->stats.tcp_active, 1);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void conn_timeout(uv_timer_t *t)
{
	struct tcp_conn *c = t->data;

	stat_add(c->msg_timer ? &c->w->stats.tcp_msg_timeouts :
				&c->w->stats.tcp_timeouts, 1);
	conn_close(c);
}

/* After anything happened on c: files it as idle or busy for eviction
 * and runs the right clock. A message half received while we read runs
 * against its deadline from its first byte (new_msg: that byte came
 * now); otherwise the idle timeout restarts. */
static void conn_settle(struct tcp_conn *c, bool new_msg)
{
	const dns_server_t *srv = c->w->srv;
	bool partial = c->reading && c->rlen > 0;

	dns_conntab_update(&c->w->ct, &c->ce, c->rlen == 0 && c->queued == 0);
	if (partial && c->msg_timer && !new_msg)
		return;
	c->msg_timer = partial;
	uv_timer_start(&c->timer, conn_timeout,
		       partial ? srv->tcp_msg_ms : srv->tcp_idle_ms, 0);
}

static void conn_write_done(uv_write_t *req, int status)
{
	struct tcp_wreq *wr = (struct tcp_wreq *)req;
	struct tcp_conn *c = wr->c;

	c->queued -= wr->len;
	free(wr);
	if (c->closing)
		return;
	if (status < 0) {
		as_debug("dns: tcp write: %s", uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->queued <= TCP_OUT_HIGH / 2)
		tcp_process(c, false);
	else
		conn_settle(c, false);
}

/* Sends len bytes of w->tcp_out; false if the connection was closed. */
static bool conn_send(struct tcp_conn *c, size_t len)
{
	uint8_t *p = c->w->tcp_out;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
	int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);

	if (n == UV_EAGAIN)	/* nothing taken, or writes already queued */
		n = 0;
	if (n < 0) {
		as_debug("dns: tcp write: %s", uv_strerror(n));
		conn_close(c);
		return false;
	}
	if ((size_t)n == len)
		return true;

	size_t rest = len - (size_t)n;
	struct tcp_wreq *wr = malloc(sizeof(*wr) + rest);
	if (!wr) {
		as_warn("dns: out of memory queueing a TCP reply");
		conn_close(c);
		return false;
	}
	wr->c = c;
	wr->len = rest;
	memcpy(wr->data, p + n, rest);
	b = uv_buf_init((char *)wr->data, (unsigned)rest);
	int err = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1,
			   conn_write_done);
	if (err) {
		free(wr);
		as_debug("dns: tcp write: %s", uv_strerror(err));
		conn_close(c);
		return false;
	}
	c->queued += rest;
	return true;
}

/* Answers one framed message; false if the connection was closed. */
static bool tcp_answer(struct tcp_conn *c, const uint8_t *q, size_t qlen,
		       uint64_t t_recv)
{
	struct worker *w = c->w;
	struct dns_result res;

	if (!w->view || srv_paused(w->srv)) {
		count_unanswered(w, DNS_TRANSPORT_TCP);
		conn_close(c);
		return false;
	}
	dns_answer(w->view, &w->rng, DNS_TRANSPORT_TCP, q, qlen,
		   w->tcp_out + 2, DNS_MSG_MAX, &res);
	dns_stats_count(&w->stats, DNS_TRANSPORT_TCP, &res,
			as_now_ns() - t_recv);
	if (!res.send || res.len > DNS_MSG_MAX) {
		/* RFC 7766 6.2.4 lets us close on a message we will not
		 * answer; staying open would desynchronise nothing, but a
		 * peer sending garbage is not worth a slot. */
		conn_close(c);
		return false;
	}
	w->tcp_out[0] = (uint8_t)(res.len >> 8);
	w->tcp_out[1] = (uint8_t)res.len;
	return conn_send(c, 2 + res.len);
}

/* Answers every complete message in the buffer unless too much output is
 * queued, then starts or stops reading to match and settles the timer.
 * arrived: bytes were just read. */
static void tcp_process(struct tcp_conn *c, bool arrived)
{
	uint64_t t_recv = as_now_ns();
	bool was_partial = c->msg_timer;
	size_t off = 0;

	while (!c->closing && c->queued < TCP_OUT_HIGH && c->rlen - off >= 2) {
		size_t mlen = ((size_t)c->rbuf[off] << 8) | c->rbuf[off + 1];
		if (c->rlen - off < 2 + mlen)
			break;
		if (!tcp_answer(c, c->rbuf + off + 2, mlen, t_recv))
			return;
		off += 2 + mlen;
	}
	if (c->closing)
		return;
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	if (c->eof) {
		bool complete = c->rlen >= 2 &&
				c->rlen >= 2 + (((size_t)c->rbuf[0] << 8) |
						c->rbuf[1]);
		if (c->queued == 0 && !complete) {
			conn_close(c);
			return;
		}
	} else if (c->queued >= TCP_OUT_HIGH && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	} else if (c->queued < TCP_OUT_HIGH && !c->reading) {
		c->reading = true;
		uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
	}
	/* What is left starts a new message if a message was taken out
	 * (its first bytes came with this read) or none was pending. */
	conn_settle(c, arrived && (off > 0 || !was_partial));
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;

	if (c->rcap - c->rlen < 512 && c->rcap < TCP_RBUF_MAX) {
		size_t ncap = AS_MIN(c->rcap * 2, (size_t)TCP_RBUF_MAX);
		uint8_t *nb = realloc(c->rbuf, ncap);
		if (nb) {
			c->rbuf = nb;
			c->rcap = ncap;
		}
	}
	/* Zero length makes libuv report UV_ENOBUFS: we close then. */
	*buf = uv_buf_init((char *)c->rbuf + c->rlen,
			   (unsigned)(c->rcap - c->rlen));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_conn *c = s->data;

	if (c->closing)
		return;
	if (nread == 0)
		return;
	if (nread == UV_EOF) {
		uv_read_stop(s);
		c->reading = false;
		c->eof = true;
		tcp_process(c, false);
		return;
	}
	if (nread < 0) {
		as_debug("dns: tcp read: %s", uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	c->rlen += (size_t)nread;
	tcp_process(c, true);
}

/* Takes an accepted socket: makes room under the limits (closing the
 * connection they name), then serves it. */
static void tcp_admit(struct worker *w, int fd,
		      const struct sockaddr_storage *peer)
{
	struct dns_ct_entry *victim = dns_conntab_victim(&w->ct, peer);
	struct tcp_conn *c;

	if (victim) {
		conn_close(conn_of(victim));
		stat_add(&w->stats.tcp_evicted, 1);
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->rbuf = malloc(TCP_RBUF_INIT))) {
		free(c);
		as_warn("dns: out of memory accepting a TCP connection");
		close(fd);
		stat_add(&w->stats.tcp_rejected, 1);
		return;
	}
	c->w = w;
	c->rcap = TCP_RBUF_INIT;
	c->tcp.data = c->timer.data = c;
	uv_tcp_init(&w->loop, &c->tcp);
	uv_timer_init(&w->loop, &c->timer);
	c->closes_pending = 2;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	stat_add(&w->stats.tcp_active, 1);
	int err = uv_tcp_open(&c->tcp, fd);
	if (err || dns_conntab_add(&w->ct, &c->ce, peer)) {
		if (err) {
			as_debug("dns: tcp open: %s", uv_strerror(err));
			close(fd);
		}
		stat_add(&w->stats.tcp_rejected, 1);
		conn_close(c);
		return;
	}
	stat_add(&w->stats.tcp_accepted, 1);
	uv_tcp_nodelay(&c->tcp, 1);
	c->reading = true;
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
	conn_settle(c, false);
}

static void tcp_acceptable(uv_poll_t *h, int status, int events);

static void accept_backoff_done(uv_timer_t *t)
{
	accept_resume(((struct listener *)t->data)->w);
}

/* Watches every listener that backs off again. */
static void accept_resume(struct worker *w)
{
	w->any_paused = false;
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct listener *l = &w->ls[a];
		if (!l->accept_paused || uv_is_closing((uv_handle_t *)&l->tcp))
			continue;
		l->accept_paused = false;
		uv_timer_stop(&l->backoff);
		uv_poll_start(&l->tcp, UV_READABLE, tcp_acceptable);
	}
}

/* accept() failed for want of a resource (descriptors, memory): count
 * it and say so at most once per interval for the whole server. Unless
 * a connection was closed to make room (evicted), stop asking until the
 * backoff passes or a connection of ours closes, so the worker neither
 * spins on a listener that stays readable nor floods the log. */
static void accept_failed(struct listener *l, int e, bool evicted)
{
	struct worker *w = l->w;
	struct rlimit rl = { 0 };

	stat_add(&w->stats.tcp_accept_errors, 1);
	getrlimit(RLIMIT_NOFILE, &rl);
	as_log_ratelimited(&w->srv->accept_log, AS_LOG_WARN,
			   "dns: worker %u: cannot accept TCP connections: "
			   "%s (open-file limit %llu, %zu TCP connections "
			   "in this worker); %s",
			   w->idx, strerror(e), (unsigned long long)rl.rlim_cur,
			   w->n_conns,
			   evicted ? "closing the least recently active idle "
				     "ones to make room" :
				     "backing off");
	if (evicted)
		return;
	uv_poll_stop(&l->tcp);
	l->accept_paused = true;
	w->any_paused = true;
	uv_timer_start(&l->backoff, accept_backoff_done, TCP_ACCEPT_BACKOFF_MS,
		       0);
}

static void tcp_acceptable(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;
	struct worker *w = l->w;

	(void)events;
	if (status < 0) {
		as_debug("dns: worker %u: tcp poll: %s", w->idx,
			 uv_strerror(status));
		return;
	}
	bool evicted = false;	/* for EMFILE, since the last accept */

	for (int i = 0; i < TCP_ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(l->tcp_fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			evicted = false;
			tcp_admit(w, fd, &peer);
			continue;
		}
		int e = errno;
		switch (e) {
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EINTR:
		case ECONNABORTED:	/* reset while queued */
		case EPROTO:
		case EPERM:		/* a firewall rule (Linux) */
			continue;
		case EMFILE:
		case ENFILE: {
			/* Linux takes the descriptor before it looks at the
			 * queue, so this may just mean "nothing pending". */
			struct pollfd pfd = { .fd = l->tcp_fd, .events = POLLIN };
			if (poll(&pfd, 1, 0) == 0)
				return;
			/* Closing our least recently active idle connection
			 * frees a descriptor for the new one, unless another
			 * thread takes it first: then we back off. */
			struct dns_ct_entry *idle =
				evicted ? NULL : dns_conntab_oldest_idle(&w->ct);
			if (idle) {
				evicted = true;
				conn_close(conn_of(idle));
				stat_add(&w->stats.tcp_evicted, 1);
				accept_failed(l, e, true);
				continue;
			}
		}
			/* fall through */
		default:
			accept_failed(l, e, false);
			return;
		}
	}
}

/* ---- UDP on io_uring -------------------------------------------------- */

/*
 * Where the kernel allows it, each worker moves UDP through its own
 * io_uring instead of epoll + recvmmsg + sendmmsg: a multishot recvmsg per
 * socket fills buffers from a provided-buffer ring, replies go out as
 * sendmsg requests, and one io_uring_enter() both submits the replies and
 * waits for the next queries. A wakeup then costs one system call instead
 * of three, which is most of what a DNS server does besides the network
 * stack's own work. The ring is set up with DEFER_TASKRUN (Linux 6.1), so
 * completions are only posted inside that call: no interrupts while we
 * answer.
 *
 * libuv keeps TCP, timers and the async: its epoll descriptor is itself
 * watched by a one-shot poll request on the ring, and when that fires (or
 * a libuv timer is due) the loop runs once with UV_RUN_NOWAIT.
 */
#define URING_ENTRIES 256
#define URING_NBUF 64		/* receive buffers; a power of two */
#define URING_NTX 128		/* reply slots, each held until sent */
#define URING_BGID 0
#define URING_FLAGS (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)

/* Receive buffer: the kernel's header, the peer's name, the control data
 * (PKTINFO on wildcard sockets), then the query. */
#define URING_BUFSZ \
	((sizeof(struct io_uring_recvmsg_out) + sizeof(struct sockaddr_in6) + \
	  8 + PKTINFO_SPACE + UDP_RX_MAX + 63) & ~(size_t)63)

enum { UD_RECV = 1, UD_SEND, UD_POLL, UD_CANCEL };
#define UD(kind, idx) (((uint64_t)(kind) << 32) | (uint32_t)(idx))
#define UD_KIND(ud) ((unsigned)((ud) >> 32))
#define UD_IDX(ud) ((uint32_t)(ud))

struct uring_tx {
	struct msghdr mh;
	struct iovec iov;
	struct sockaddr_storage peer;
	uint8_t ctl[PKTINFO_SPACE];
	uint8_t data[DNS_UDP_PAYLOAD_MAX];
};

struct uring_state {
	struct io_uring ring;
	bool ring_inited;
	struct io_uring_buf_ring *br;	/* URING_NBUF entries, page aligned */
	uint8_t *rx;			/* URING_NBUF x URING_BUFSZ */
	unsigned n_recycled;		/* buffers added, not yet advanced */
	struct uring_tx *tx;		/* URING_NTX */
	uint16_t free_tx[URING_NTX];
	unsigned n_free_tx;
	unsigned n_send_queued;		/* send SQEs not yet submitted */
	bool poll_armed;		/* on libuv's epoll descriptor */
	bool uv_due;			/* run the libuv loop once */
	bool stopping;			/* no more re-arming */
	/* Results of one round, counted when it is answered. */
	struct dns_result res[URING_NBUF];
	unsigned n_res;
};

static void uring_state_free(struct uring_state *u)
{
	if (!u)
		return;
	if (u->ring_inited)
		io_uring_queue_exit(&u->ring);
	free(u->br);
	free(u->rx);
	free(u->tx);
	free(u);
}

static int uring_setup_ring(struct io_uring *ring, unsigned entries,
			    unsigned extra_flags)
{
	struct io_uring_params p = { .flags = URING_FLAGS | extra_flags };
	return io_uring_queue_init_params(entries, ring, &p);
}

static int uring_register_bufs(struct io_uring *ring,
			       struct io_uring_buf_ring **out, unsigned n)
{
	size_t len = n * sizeof(struct io_uring_buf);
	void *mem = NULL;
	int err;

	if (posix_memalign(&mem, (size_t)sysconf(_SC_PAGESIZE), len))
		return AS_ENOMEM;
	memset(mem, 0, len);
	struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)mem,
					.ring_entries = n,
					.bgid = URING_BGID };
	if ((err = io_uring_register_buf_ring(ring, &reg, 0)) < 0) {
		free(mem);
		return err;
	}
	*out = mem;
	io_uring_buf_ring_init(*out);
	return AS_OK;
}

bool dns_udp_uring_supported(char *why, size_t len)
{
	struct io_uring ring;
	struct io_uring_buf_ring *br = NULL;
	struct io_uring_cqe *cqe;
	struct msghdr tmpl = { 0 };
	uint8_t buf[256];
	int sv[2] = { -1, -1 };
	bool ring_ok = false, ok = false;
	int err;

	if (why && len)
		why[0] = 0;
	/* The test runs on a ring of its own, on this thread: a single
	 * issuer ring belongs to the thread that first submits. */
	if ((err = uring_setup_ring(&ring, 4, 0)) < 0) {
		if (why)
			snprintf(why, len, "io_uring_setup with DEFER_TASKRUN "
				 "(Linux 6.1): %s", strerror(-err));
		return false;
	}
	ring_ok = true;
	if ((err = uring_register_bufs(&ring, &br, 1)) < 0) {
		if (why)
			snprintf(why, len, "provided buffer ring: %s",
				 as_strerror(err));
		goto out;
	}
	io_uring_buf_ring_add(br, buf, sizeof(buf), 0,
			      io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(br, 1);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0) {
		if (why)
			snprintf(why, len, "socketpair: %s", strerror(errno));
		goto out;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recvmsg_multishot(sqe, sv[0], &tmpl, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	if (write(sv[1], "?", 1) != 1) {
		if (why)
			snprintf(why, len, "socketpair write: %s",
				 strerror(errno));
		goto out;
	}
	struct __kernel_timespec ts = { .tv_sec = 1 };
	err = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
	if (err < 0) {
		if (why)
			snprintf(why, len, "io_uring_enter: %s",
				 strerror(-err));
		goto out;
	}
	/* A kernel without multishot recvmsg (before 6.0) says EINVAL. */
	ok = cqe->res > 0 && (cqe->flags & IORING_CQE_F_MORE) &&
	     (cqe->flags & IORING_CQE_F_BUFFER);
	if (!ok && why)
		snprintf(why, len, "multishot recvmsg: %s",
			 cqe->res < 0 ? strerror(-cqe->res) :
					"no buffer or not multishot");
	io_uring_cqe_seen(&ring, cqe);
out:
	/* Exiting the ring cancels the receive before the socket goes. */
	if (ring_ok)
		io_uring_queue_exit(&ring);
	free(br);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ok;
}

/* io_uring_enable_rings() is declared by liburing 2.3 but not exported
 * by its shared library (Debian 12), so the register call is made here. */
static int uring_enable(struct io_uring *ring)
{
	if (syscall(__NR_io_uring_register, ring->ring_fd,
		    IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* Sets up the worker's ring, disabled until its thread enables it (the
 * ring belongs to the thread that submits), and its buffers. */
static int uring_worker_init(struct worker *w)
{
	struct uring_state *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return AS_ENOMEM;
	w->u = u;
	u->rx = malloc((size_t)URING_NBUF * URING_BUFSZ);
	u->tx = calloc(URING_NTX, sizeof(*u->tx));
	if (!u->rx || !u->tx)
		return AS_ENOMEM;
	if ((err = uring_setup_ring(&u->ring, URING_ENTRIES,
				    IORING_SETUP_R_DISABLED)) < 0) {
		as_err("dns: worker %u: io_uring_setup: %s", w->idx,
		       strerror(-err));
		return err;
	}
	u->ring_inited = true;
	if ((err = uring_register_bufs(&u->ring, &u->br, URING_NBUF)) < 0) {
		as_err("dns: worker %u: io_uring buffer ring: %s", w->idx,
		       as_strerror(err));
		return err;
	}
	for (unsigned i = 0; i < URING_NBUF; i++)
		io_uring_buf_ring_add(u->br, u->rx + (size_t)i * URING_BUFSZ,
				      URING_BUFSZ, (unsigned short)i,
				      io_uring_buf_ring_mask(URING_NBUF),
				      (int)i);
	io_uring_buf_ring_advance(u->br, URING_NBUF);
	for (unsigned i = 0; i < URING_NTX; i++)
		u->free_tx[i] = (uint16_t)(URING_NTX - 1 - i);
	u->n_free_tx = URING_NTX;
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct listener *l = &w->ls[a];
		/* The control data follows the name in the buffer: keep
		 * it aligned for struct cmsghdr. */
		size_t nl = l->family == AF_INET6 ?
			sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		l->rx_tmpl.msg_namelen = (socklen_t)((nl + 7) & ~(size_t)7);
		l->rx_tmpl.msg_controllen = l->wildcard ? PKTINFO_SPACE : 0;
	}
	return AS_OK;
}

/* An SQE; a full submission queue is flushed first (it holds 256 and a
 * round queues at most one per buffer plus the re-arms). */
static struct io_uring_sqe *uring_sqe(struct uring_state *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		io_uring_submit(&u->ring);
		u->n_send_queued = 0;
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void uring_arm_recv(struct worker *w, size_t a)
{
	struct listener *l = &w->ls[a];
	struct io_uring_sqe *sqe = uring_sqe(w->u);

	if (!sqe)
		return;	/* retried after the next round */
	io_uring_prep_recvmsg_multishot(sqe, l->udp_fd, &l->rx_tmpl, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, UD(UD_RECV, a));
	l->recv_armed = true;
}

static void uring_arm_poll(struct worker *w)
{
	struct io_uring_sqe *sqe = uring_sqe(w->u);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, uv_backend_fd(&w->loop), POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_POLL, 0));
	w->u->poll_armed = true;
}

/* Answers one received datagram (or counts it unanswered) and queues the
 * reply; the receive buffer goes back to the ring either way. */
static void uring_recv(struct worker *w, size_t a,
		       const struct io_uring_cqe *cqe,
		       const dns_view_t *view, bool paused)
{
	struct uring_state *u = w->u;
	struct listener *l = &w->ls[a];

	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->recv_armed = false;	/* re-armed after this round */
	if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
		/* ENOBUFS: every buffer is in this round; ECANCELED: stop. */
		if (cqe->res < 0 && cqe->res != -ENOBUFS &&
		    cqe->res != -ECANCELED)
			as_debug("dns: worker %u: io_uring recvmsg: %s",
				 w->idx, strerror(-cqe->res));
		return;
	}
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	uint8_t *buf = u->rx + (size_t)bid * URING_BUFSZ;
	struct io_uring_recvmsg_out *o =
		cqe->res > 0 ? io_uring_recvmsg_validate(buf, cqe->res,
							 &l->rx_tmpl) :
			       NULL;

	if (!o || (o->flags & MSG_TRUNC) || !view || paused ||
	    !u->n_free_tx || u->n_res == URING_NBUF) {
		count_unanswered(w, DNS_TRANSPORT_UDP);
		goto recycle;
	}

	unsigned t = u->free_tx[u->n_free_tx - 1];
	struct uring_tx *tx = &u->tx[t];
	struct dns_result *r = &u->res[u->n_res];
	const uint8_t *q = io_uring_recvmsg_payload(o, &l->rx_tmpl);
	size_t qlen = io_uring_recvmsg_payload_length(o, cqe->res, &l->rx_tmpl);

	dns_answer(view, &w->rng, DNS_TRANSPORT_UDP, q, qlen, tx->data,
		   sizeof(tx->data), r);
	u->n_res++;
	if (!r->send)
		goto recycle;
	struct io_uring_sqe *sqe = uring_sqe(u);
	if (!sqe) {
		stat_add(&w->stats.dropped, 1);
		goto recycle;
	}
	memset(&tx->mh, 0, sizeof(tx->mh));
	memcpy(&tx->peer, io_uring_recvmsg_name(o),
	       AS_MIN((size_t)o->namelen, (size_t)l->rx_tmpl.msg_namelen));
	tx->iov.iov_base = tx->data;
	tx->iov.iov_len = r->len;
	tx->mh.msg_name = &tx->peer;
	tx->mh.msg_namelen = AS_MIN(o->namelen, l->rx_tmpl.msg_namelen);
	tx->mh.msg_iov = &tx->iov;
	tx->mh.msg_iovlen = 1;
	if (l->wildcard) {
		for (struct cmsghdr *c =
			     io_uring_recvmsg_cmsg_firsthdr(o, &l->rx_tmpl);
		     c; c = io_uring_recvmsg_cmsg_nexthdr(o, &l->rx_tmpl, c))
			if (pktinfo_reply(c, l->family, tx->ctl, &tx->mh))
				break;
	}
	io_uring_prep_sendmsg(sqe, l->udp_fd, &tx->mh, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, t));
	u->n_free_tx--;
	u->n_send_queued++;
recycle:
	io_uring_buf_ring_add(u->br, buf, URING_BUFSZ, (unsigned short)bid,
			      io_uring_buf_ring_mask(URING_NBUF),
			      (int)u->n_recycled++);
}

/* Handles every completion posted so far: one round. */
static void uring_round(struct worker *w)
{
	struct uring_state *u = w->u;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	uint64_t t_recv = 0;
	const dns_view_t *view = w->view;
	bool paused = srv_paused(w->srv);

	u->n_res = 0;
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		seen++;
		switch (UD_KIND(cqe->user_data)) {
		case UD_RECV:
			if (!t_recv)
				t_recv = as_now_ns();
			if (UD_IDX(cqe->user_data) < w->srv->n_listen)
				uring_recv(w, UD_IDX(cqe->user_data), cqe,
					   view, paused);
			break;
		case UD_SEND:
			if (cqe->res < 0)
				as_debug("dns: worker %u: io_uring sendmsg: %s",
					 w->idx, strerror(-cqe->res));
			if (UD_IDX(cqe->user_data) < URING_NTX &&
			    u->n_free_tx < URING_NTX)
				u->free_tx[u->n_free_tx++] =
					(uint16_t)UD_IDX(cqe->user_data);
			break;
		case UD_POLL:
			u->poll_armed = false;
			u->uv_due = true;
			break;
		}
	}
	io_uring_cq_advance(&u->ring, seen);
	if (u->n_recycled) {
		io_uring_buf_ring_advance(u->br, (int)u->n_recycled);
		u->n_recycled = 0;
	}
	if (u->stopping)
		return;
	if (u->n_res) {
		uint64_t lat = as_now_ns() - t_recv;
		for (unsigned i = 0; i < u->n_res; i++)
			dns_stats_count(&w->stats, DNS_TRANSPORT_UDP,
					&u->res[i], lat);
	}
	for (size_t a = 0; a < w->srv->n_listen; a++)
		if (!w->ls[a].recv_armed)
			uring_arm_recv(w, a);
}

/* The worker thread's loop when UDP runs on io_uring: wait on the ring
 * (replies submitted in the same call), run libuv when its descriptor
 * is readable or a timer is due, until the stop request closed it. */
static void uring_run(struct worker *w)
{
	struct uring_state *u = w->u;
	int err;

	for (size_t a = 0; a < w->srv->n_listen; a++)
		uring_arm_recv(w, a);
	u->uv_due = true;	/* anything queued before we started */
	while (!w->closed) {
		uv_update_time(&w->loop);
		int tmo = uv_backend_timeout(&w->loop);
		if (u->uv_due || tmo == 0) {
			u->uv_due = false;
			uv_run(&w->loop, UV_RUN_NOWAIT);
			continue;
		}
		if (!u->poll_armed)
			uring_arm_poll(w);
		struct __kernel_timespec ts = {
			.tv_sec = tmo / 1000,
			.tv_nsec = (long long)(tmo % 1000) * 1000000,
		};
		/* The kernel stops waiting at wait_nr completions in the
		 * queue, and replies sent inline post theirs before the
		 * wait: count them, or each wakeup would cost a second
		 * call that only reaps send completions. Replies still in
		 * flight from earlier rounds (a full socket buffer) may
		 * complete late, so then any completion ends the wait. */
		unsigned older = URING_NTX - u->n_free_tx - u->n_send_queued;
		unsigned wait_nr = 1 + (older ? 0 : u->n_send_queued);
		struct io_uring_cqe *cqe;
		err = io_uring_submit_and_wait_timeout(&u->ring, &cqe, wait_nr,
						       tmo > 0 ? &ts : NULL,
						       NULL);
		u->n_send_queued = 0;
		if (err == -ETIME)
			u->uv_due = true;	/* a libuv timer is due */
		else if (err < 0 && err != -EINTR && err != -EAGAIN &&
			 err != -EBUSY)
			as_warn("dns: worker %u: io_uring_enter: %s", w->idx,
				strerror(-err));
		uring_round(w);
	}
}

static bool uring_busy(const struct worker *w)
{
	if (w->u->poll_armed || w->u->n_free_tx < URING_NTX)
		return true;
	for (size_t a = 0; a < w->srv->n_listen; a++)
		if (w->ls[a].recv_armed)
			return true;
	return false;
}

/* Cancels every request and reaps their last completions: the kernel
 * tears a ring down asynchronously, and a request that still held a
 * socket would keep its port bound for a while after the server
 * stopped. */
static void uring_quiesce(struct worker *w)
{
	struct uring_state *u = w->u;
	struct io_uring_sqe *sqe;

	u->stopping = true;
	if ((sqe = uring_sqe(u))) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
		io_uring_sqe_set_data64(sqe, UD(UD_CANCEL, 0));
	}
	for (int i = 0; i < 100 && uring_busy(w); i++) {
		struct __kernel_timespec ts = { .tv_nsec = 10 * 1000000 };
		struct io_uring_cqe *cqe;
		(void)io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts,
						       NULL);
		uring_round(w);
	}
	if (uring_busy(w))
		as_warn("dns: worker %u: io_uring requests outlived the stop",
			w->idx);
}

/* ---- worker life cycle ------------------------------------------------ */

static void udp_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	close(l->udp_fd);
	l->udp_fd = -1;
}

static void tcp_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	close(l->tcp_fd);
	l->tcp_fd = -1;
}

/* Closes every handle of the worker; the loop then ends by itself. Runs
 * on the worker's thread, or on the caller's if the thread never ran. */
static void worker_close_all(struct worker *w)
{
	pthread_mutex_lock(&w->slot_lock);
	w->closed = true;
	pthread_mutex_unlock(&w->slot_lock);

	for (struct tcp_conn *c = w->conns; c; c = c->next)
		conn_close(c);
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct listener *l = &w->ls[a];
		if (l->udp_inited && !uv_is_closing((uv_handle_t *)&l->udp))
			uv_close((uv_handle_t *)&l->udp, udp_closed);
		if (l->tcp_inited && !uv_is_closing((uv_handle_t *)&l->tcp))
			uv_close((uv_handle_t *)&l->tcp, tcp_closed);
		if (l->backoff_inited &&
		    !uv_is_closing((uv_handle_t *)&l->backoff))
			uv_close((uv_handle_t *)&l->backoff, NULL);
	}
	if (w->async_inited && !uv_is_closing((uv_handle_t *)&w->async))
		uv_close((uv_handle_t *)&w->async, NULL);
}

static void worker_async(uv_async_t *a)
{
	struct worker *w = a->data;
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

static int udp_poll_start(struct worker *w, size_t a);

static void worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	int err;

	snprintf(name, sizeof(name), "dns-w%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	if (w->u) {
		/* The ring was made on the caller's thread, disabled, so
		 * that this thread becomes its single issuer. */
		if ((err = uring_enable(&w->u->ring)) < 0) {
			as_warn("dns: worker %u: io_uring: %s; UDP on recvmmsg",
				w->idx, strerror(-err));
			uring_state_free(w->u);
			w->u = NULL;
			for (size_t a = 0; a < w->srv->n_listen; a++)
				if (udp_poll_start(w, a))
					break;
		} else {
			/* Spares io_uring_enter() a descriptor lookup; the
			 * registration is per thread, so it is made here. */
			(void)io_uring_register_ring_fd(&w->u->ring);
			uring_run(w);
			uring_quiesce(w);
		}
	}
	/* Runs the loop, or finishes closing what the stop request closed. */
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (w->u && w->u->ring_inited) {
		/* Cancels the receives while the sockets are still ours. */
		io_uring_queue_exit(&w->u->ring);
		w->u->ring_inited = false;
	}
}

static uint64_t rng_seed(unsigned idx)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == sizeof(s))
		return s;
	return as_now_ns() ^ ((uint64_t)(idx + 1) * 0x9e3779b97f4a7c15ull);
}

/* Watches address a's UDP socket with the loop (the recvmmsg path). */
static int udp_poll_start(struct worker *w, size_t a)
{
	struct listener *l = &w->ls[a];
	char buf[AS_SOCKADDR_STRLEN];
	int err;

	if ((err = uv_poll_init(&w->loop, &l->udp, l->udp_fd))) {
		as_err("dns: cannot watch %s (udp): %s",
		       as_format_sockaddr(&w->srv->addrs[a], buf, sizeof(buf)),
		       uv_strerror(err));
		return AS_ELIB;
	}
	l->udp.data = l;
	l->udp_inited = true;
	if ((err = uv_poll_start(&l->udp, UV_READABLE, udp_readable))) {
		as_err("dns: cannot watch %s (udp): %s",
		       as_format_sockaddr(&w->srv->addrs[a], buf, sizeof(buf)),
		       uv_strerror(err));
		return AS_ELIB;
	}
	return AS_OK;
}

/* Hands the bound sockets to a new loop (and, for io_uring, to a new
 * ring). Both run on the worker thread later; until then only this
 * thread touches them. */
static int worker_init_loop(dns_server_t *srv, struct worker *w)
{
	char buf[AS_SOCKADDR_STRLEN];
	int err;

	if (srv->udp_io == DNS_UDP_IO_URING &&
	    (err = uring_worker_init(w)) < 0) {
		uring_state_free(w->u);
		w->u = NULL;
		if (srv->udp_cfg == DNS_UDP_IO_URING)
			return err;
		as_warn("dns: worker %u: UDP on recvmmsg instead of io_uring",
			w->idx);
		srv->udp_io = DNS_UDP_IO_MMSG;
	}

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

	for (size_t a = 0; a < srv->n_listen; a++) {
		struct listener *l = &w->ls[a];
		const struct sockaddr_storage *ss = &srv->addrs[a];

		if (!w->u && (err = udp_poll_start(w, a)))
			return err;

		if (listen(l->tcp_fd, TCP_BACKLOG) < 0) {
			err = -errno;
			as_err("dns: cannot listen on %s (tcp): %s",
			       as_format_sockaddr(ss, buf, sizeof(buf)),
			       strerror(-err));
			return err;
		}
		uv_timer_init(&w->loop, &l->backoff);
		l->backoff.data = l;
		l->backoff_inited = true;
		if ((err = uv_poll_init(&w->loop, &l->tcp, l->tcp_fd))) {
			as_err("dns: cannot watch %s (tcp): %s",
			       as_format_sockaddr(ss, buf, sizeof(buf)),
			       uv_strerror(err));
			return AS_ELIB;
		}
		l->tcp.data = l;
		l->tcp_inited = true;
		if ((err = uv_poll_start(&l->tcp, UV_READABLE,
					 tcp_acceptable))) {
			as_err("dns: cannot watch %s (tcp): %s",
			       as_format_sockaddr(ss, buf, sizeof(buf)),
			       uv_strerror(err));
			return AS_ELIB;
		}
	}
	return AS_OK;
}

/* Tears down a worker whose thread is not running (never started or
 * already joined). */
static void worker_teardown(struct worker *w)
{
	/* The ring first: it holds references to the UDP sockets. */
	uring_state_free(w->u);
	w->u = NULL;
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
			w->ls[a].udp_inited = w->ls[a].tcp_inited =
				w->ls[a].backoff_inited = false;
	}
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct listener *l = &w->ls[a];
		if (l->udp_fd >= 0)
			close(l->udp_fd);
		if (l->tcp_fd >= 0)
			close(l->tcp_fd);
		l->udp_fd = l->tcp_fd = -1;
	}
}

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	uring_state_free(w->u);
	dns_conntab_fini(&w->ct);
	dns_view_unref(w->view);
	dns_view_unref(w->slot_view);
	pthread_mutex_destroy(&w->slot_lock);
	free(w->ls);
	free(w);
}

/* ---- public API ------------------------------------------------------- */

/* Per-worker TCP limits. The workers together keep at most half the
 * open-file limit (Knot's default for tcp-max-clients), so clients
 * cannot take the descriptors the rest of the daemon needs. */
static void tcp_limits(dns_server_t *srv, const struct dns_server_config *cfg)
{
	struct dns_conntab_limits *lim = &srv->tcp_lim;
	struct rlimit rl;
	uint64_t per = UINT32_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		per = AS_MAX(1, (uint64_t)rl.rlim_cur / 2 / srv->n_workers);
	lim->max = cfg->tcp_max_clients ? cfg->tcp_max_clients :
					  TCP_MAX_CLIENTS_DEFAULT;
	if (lim->max > per) {
		as_warn("dns: tcp_max_clients %u per worker would let TCP "
			"clients hold more than half the open-file limit "
			"(%llu) with %u workers; using %llu (raise the limit, "
			"e.g. LimitNOFILE=, for more)", lim->max,
			(unsigned long long)rl.rlim_cur, srv->n_workers,
			(unsigned long long)per);
		lim->max = (uint32_t)per;
	}
	lim->max_per_prefix = cfg->tcp_max_clients_per_prefix ?
				      cfg->tcp_max_clients_per_prefix :
				      TCP_PER_PREFIX_DEFAULT;
	lim->len6 = cfg->tcp_prefix_v6 ? cfg->tcp_prefix_v6 :
					 TCP_PREFIX_V6_DEFAULT;
	lim->len4 = cfg->tcp_prefix_v4 ? cfg->tcp_prefix_v4 :
					 TCP_PREFIX_V4_DEFAULT;
	if (lim->len6 > 128)
		lim->len6 = 128;
	if (lim->len4 > 32)
		lim->len4 = 32;
}

dns_server_t *dns_server_new(const struct dns_server_config *cfg,
			     dns_view_t *view, int *err)
{
	dns_server_t *srv = NULL;
	int e = AS_OK;

	if (!cfg || (cfg->n_listen && !cfg->listen)) {
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
	srv->tcp_idle_ms = cfg->tcp_idle_timeout_ms ? cfg->tcp_idle_timeout_ms :
						      TCP_IDLE_DEFAULT_MS;
	srv->tcp_msg_ms = cfg->tcp_message_timeout_ms ?
				  cfg->tcp_message_timeout_ms :
				  TCP_MSG_DEFAULT_MS;
	srv->accept_log.interval_ms = TCP_ACCEPT_LOG_MS;
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
	tcp_limits(srv, cfg);
	srv->addrs = calloc(srv->n_listen ? srv->n_listen : 1,
			    sizeof(*srv->addrs));
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	if (!srv->addrs || !srv->workers) {
		e = AS_ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		if (!w) {
			e = AS_ENOMEM;
			goto fail;
		}
		srv->workers[i] = w;
		w->srv = srv;
		w->idx = i;
		pthread_mutex_init(&w->slot_lock, NULL);
		w->ls = calloc(srv->n_listen ? srv->n_listen : 1,
			       sizeof(*w->ls));
		if (!w->ls) {
			e = AS_ENOMEM;
			goto fail;
		}
		for (size_t a = 0; a < srv->n_listen; a++) {
			w->ls[a].w = w;
			w->ls[a].udp_fd = w->ls[a].tcp_fd = -1;
		}
		for (unsigned k = 0; k < UDP_BATCH; k++) {
			w->riov[k].iov_base = w->rbuf[k];
			w->riov[k].iov_len = sizeof(w->rbuf[k]);
		}
		dns_rng_seed(&w->rng, rng_seed(i));
		/* The prefix table's hash key: secret, so that clients
		 * cannot choose addresses that collide. */
		uint8_t key[16];
		if (getrandom(key, sizeof(key), GRND_NONBLOCK) != sizeof(key))
			for (size_t k = 0; k < sizeof(key); k += 8) {
				uint64_t r = rng_seed(i) ^ dns_rng_next(&w->rng);
				memcpy(key + k, &r, 8);
			}
		if ((e = dns_conntab_init(&w->ct, &srv->tcp_lim, key)))
			goto fail;
		w->view = view ? dns_view_ref(view) : NULL;
	}
	srv->udp_cfg = cfg->udp_io;
	srv->udp_io = DNS_UDP_IO_MMSG;
	if (cfg->udp_io != DNS_UDP_IO_MMSG) {
		char why[160];
		if (dns_udp_uring_supported(why, sizeof(why))) {
			srv->udp_io = DNS_UDP_IO_URING;
		} else if (cfg->udp_io == DNS_UDP_IO_URING) {
			as_err("dns: udp_io io_uring: not available here: %s",
			       why);
			e = -EOPNOTSUPP;
			goto fail;
		} else {
			as_notice("dns: UDP on recvmmsg: io_uring not "
				  "available (%s)", why);
		}
	}
	for (size_t a = 0; a < srv->n_listen; a++)
		if ((e = bind_address(srv, a, &cfg->listen[a])))
			goto fail;
	for (unsigned i = 0; i < srv->n_workers; i++)
		if ((e = worker_init_loop(srv, srv->workers[i])))
			goto fail;
	if (err)
		*err = AS_OK;
	return srv;
fail:
	dns_server_free(srv);
	if (err)
		*err = e;
	return NULL;
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
		struct worker *w = srv->workers[i];
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
		struct worker *w = srv->workers[i];
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
		struct worker *w = srv->workers[i];
		if (!w || !w->thread_started)
			continue;
		pthread_mutex_lock(&w->slot_lock);
		w->stop_req = true;
		if (!w->closed)
			uv_async_send(&w->async);
		pthread_mutex_unlock(&w->slot_lock);
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker *w = srv->workers[i];
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
	free(srv);
}
