/*
 * dns/tcp.c - DNS over TCP (RFC 7766) for one worker.
 *
 * Design. RFC 7766: 2-byte length framing, every complete message in the
 * buffer is answered in order (pipelining), and backpressure: while
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
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/server_int.h"

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

struct dns_tcp_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;	/* idle or message timeout */
	struct dns_worker *w;
	struct as_list link;	/* in w->conns */
	struct dns_ct_entry ce;	/* limits and eviction order */
	uint8_t *rbuf;
	size_t rlen, rcap;
	size_t queued;		/* bytes handed to uv_write, not yet done */
	int closes_pending;
	bool reading, closing, eof;
	bool msg_timer;		/* the timer runs the message timeout */
	bool had_msg;		/* a whole message came: it can be idle */
	uint64_t id;		/* for the forwarder's late replies */
	struct sockaddr_storage peer;
	socklen_t peerlen;
};

/* A reply the kernel did not take at once, copied for uv_write. */
struct tcp_wreq {
	uv_write_t req;
	struct dns_tcp_conn *c;
	size_t len;
	uint8_t data[];
};

static void tcp_process(struct dns_tcp_conn *c, bool arrived);
static void tcp_late_reply(struct dns_worker *w, uint64_t conn_id,
			   const uint8_t *msg, size_t len);
static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void accept_resume(struct dns_worker *w);

static struct dns_tcp_conn *conn_of(struct dns_ct_entry *e)
{
	return (struct dns_tcp_conn *)(void *)((char *)e -
					   offsetof(struct dns_tcp_conn, ce));
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct dns_tcp_conn *c = h->data;

	if (--c->closes_pending > 0)
		return;
	struct dns_worker *w = c->w;
	as_list_remove(&c->link);
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
static void conn_close(struct dns_tcp_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	dns_conntab_remove(&c->w->ct, &c->ce);
	dns_stat_sub(&c->w->stats.tcp_active, 1);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void conn_timeout(uv_timer_t *t)
{
	struct dns_tcp_conn *c = t->data;

	dns_stat_add(c->msg_timer ? &c->w->stats.tcp_msg_timeouts :
				&c->w->stats.tcp_timeouts, 1);
	conn_close(c);
}

/* After anything happened on c: files it as idle or busy for eviction
 * and runs the right clock. A message half received while we read runs
 * against its deadline from its first byte (new_msg: that byte came
 * now); otherwise the idle timeout restarts. */
static void conn_settle(struct dns_tcp_conn *c, bool new_msg)
{
	const dns_server_t *srv = c->w->srv;
	bool partial = c->reading && c->rlen > 0;

	/* Until its first message a new connection is busy, not idle: its
	 * query is on the way (the client connects, then writes), and an
	 * idle connection is the first to be closed for a newcomer. */
	dns_conntab_update(&c->w->ct, &c->ce,
			   c->had_msg && c->rlen == 0 && c->queued == 0);
	if (partial && c->msg_timer && !new_msg)
		return;
	c->msg_timer = partial;
	uv_timer_start(&c->timer, conn_timeout,
		       partial ? srv->tcp_msg_ms : srv->tcp_idle_ms, 0);
}

static void conn_write_done(uv_write_t *req, int status)
{
	struct tcp_wreq *wr = (struct tcp_wreq *)req;
	struct dns_tcp_conn *c = wr->c;

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
static bool conn_send(struct dns_tcp_conn *c, size_t len)
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
static bool tcp_answer(struct dns_tcp_conn *c, const uint8_t *q, size_t qlen,
		       uint64_t t_recv)
{
	struct dns_worker *w = c->w;
	struct dns_result res;

	if (!w->view || dns_srv_paused(w->srv)) {
		dns_count_unanswered(w, DNS_TRANSPORT_TCP);
		conn_close(c);
		return false;
	}
	dns_answer_from(w->view, &w->rng, DNS_TRANSPORT_TCP, &c->peer, q, qlen,
			w->tcp_out + 2, DNS_MSG_MAX, &res);
	if (res.forwardable && w->fwd) {
		struct dns_fwd_origin o = {
			.t = DNS_TRANSPORT_TCP, .peer = &c->peer,
			.peerlen = c->peerlen, .udp_fd = -1, .conn_id = c->id,
			.tcp_reply = tcp_late_reply,
		};
		size_t len = 0;
		switch (dns_fwd_io_query(w->fwd, &o, q, qlen, w->tcp_out + 2,
					 DNS_MSG_MAX, &len)) {
		case DNS_FWD_KEEP:
			break;
		case DNS_FWD_REPLACED:
			res.len = len;
			res.rcode = w->tcp_out[5] & 0x0F;
			res.forwarded = true;
			break;
		case DNS_FWD_PENDING:
			res.send = false;
			res.forwarded = true;
			dns_stats_count(&w->stats, DNS_TRANSPORT_TCP, &res,
					as_now_ns() - t_recv);
			return true;	/* the reply comes later */
		case DNS_FWD_DROP:
			res.send = false;
			break;
		}
	} else if (w->fwd && res.send) {
		dns_fwd_io_mark_ra(w->fwd, &c->peer, w->tcp_out + 2, res.len);
	}
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

/* A late reply (the forwarder's) on connection conn_id, if it is still
 * open: the hook of struct dns_fwd_origin. */
static void tcp_late_reply(struct dns_worker *w, uint64_t conn_id,
			   const uint8_t *msg, size_t len)
{
	struct as_list *n;

	if (len > DNS_MSG_MAX)
		return;
	AS_LIST_FOREACH(n, &w->conns) {
		struct dns_tcp_conn *c = AS_LIST_ENTRY(n, struct dns_tcp_conn,
						       link);
		if (c->id != conn_id)
			continue;
		if (c->closing)
			return;
		memmove(w->tcp_out + 2, msg, len);
		w->tcp_out[0] = (uint8_t)(len >> 8);
		w->tcp_out[1] = (uint8_t)len;
		conn_send(c, 2 + len);
		return;
	}
}

/* Answers every complete message in the buffer unless too much output is
 * queued, then starts or stops reading to match and settles the timer.
 * arrived: bytes were just read. */
static void tcp_process(struct dns_tcp_conn *c, bool arrived)
{
	uint64_t t_recv = as_now_ns();
	bool was_partial = c->msg_timer;
	size_t off = 0;

	while (!c->closing && c->queued < TCP_OUT_HIGH && c->rlen - off >= 2) {
		size_t mlen = ((size_t)c->rbuf[off] << 8) | c->rbuf[off + 1];
		if (c->rlen - off < 2 + mlen)
			break;
		c->had_msg = true;
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
	struct dns_tcp_conn *c = h->data;

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
	struct dns_tcp_conn *c = s->data;

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

/* True if the kernel holds bytes of c that the loop has not read yet: a
 * connection accepted in this same batch, say, whose query is waiting. */
static bool conn_unread(struct dns_tcp_conn *c)
{
	uv_os_fd_t fd;
	int n = 0;

	return uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 &&
	       ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* The table's choice, except that an "idle" connection with unread bytes
 * is busy: it becomes so in the table and the choice is made again. Each
 * connection moves at most once, so this ends. Without it a client whose
 * query came in the same accept batch as an attacker's connections was
 * the only idle one, and so the first to be closed. */
static struct dns_ct_entry *tcp_victim(struct dns_worker *w,
				       const struct sockaddr_storage *peer)
{
	struct dns_ct_entry *v;

	while ((v = dns_conntab_victim(&w->ct, peer)) && v->idle &&
	       conn_unread(conn_of(v)))
		dns_conntab_update(&w->ct, v, false);
	return v;
}

/* Takes an accepted socket: makes room under the limits (closing the
 * connection they name), then serves it. */
static void tcp_admit(struct dns_worker *w, int fd,
		      const struct sockaddr_storage *peer)
{
	struct dns_ct_entry *victim = tcp_victim(w, peer);
	struct dns_tcp_conn *c;

	if (victim) {
		conn_close(conn_of(victim));
		dns_stat_add(&w->stats.tcp_evicted, 1);
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->rbuf = malloc(TCP_RBUF_INIT))) {
		free(c);
		as_warn("dns: out of memory accepting a TCP connection");
		close(fd);
		dns_stat_add(&w->stats.tcp_rejected, 1);
		return;
	}
	c->w = w;
	c->rcap = TCP_RBUF_INIT;
	c->id = ++w->next_conn_id;
	c->peer = *peer;
	c->peerlen = sizeof(*peer);
	c->tcp.data = c->timer.data = c;
	uv_tcp_init(&w->loop, &c->tcp);
	uv_timer_init(&w->loop, &c->timer);
	c->closes_pending = 2;
	as_list_push_front(&w->conns, &c->link);
	w->n_conns++;
	dns_stat_add(&w->stats.tcp_active, 1);
	int err = uv_tcp_open(&c->tcp, fd);
	if (err || dns_conntab_add(&w->ct, &c->ce, peer)) {
		if (err) {
			as_debug("dns: tcp open: %s", uv_strerror(err));
			close(fd);
		}
		dns_stat_add(&w->stats.tcp_rejected, 1);
		conn_close(c);
		return;
	}
	dns_stat_add(&w->stats.tcp_accepted, 1);
	uv_tcp_nodelay(&c->tcp, 1);
	c->reading = true;
	uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
	conn_settle(c, false);
}

static void tcp_acceptable(uv_poll_t *h, int status, int events);

static void accept_backoff_done(uv_timer_t *t)
{
	accept_resume(((struct dns_listener *)t->data)->w);
}

/* Watches every listener that backs off again. */
static void accept_resume(struct dns_worker *w)
{
	w->any_paused = false;
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct dns_listener *l = &w->ls[a];
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
static void accept_failed(struct dns_listener *l, int e, bool evicted)
{
	struct dns_worker *w = l->w;
	struct rlimit rl = { 0 };

	dns_stat_add(&w->stats.tcp_accept_errors, 1);
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
	struct dns_listener *l = h->data;
	struct dns_worker *w = l->w;

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
			struct dns_ct_entry *idle = NULL;
			while (!evicted &&
			       (idle = dns_conntab_oldest_idle(&w->ct)) &&
			       conn_unread(conn_of(idle)))
				dns_conntab_update(&w->ct, idle, false);
			if (idle) {
				evicted = true;
				conn_close(conn_of(idle));
				dns_stat_add(&w->stats.tcp_evicted, 1);
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

static void tcp_closed(uv_handle_t *h)
{
	struct dns_listener *l = h->data;
	close(l->tcp_fd);
	l->tcp_fd = -1;
}

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

void dns_tcp_configure(dns_server_t *srv, const struct dns_server_config *cfg)
{
	srv->tcp_idle_ms = cfg->tcp_idle_timeout_ms ? cfg->tcp_idle_timeout_ms :
						      TCP_IDLE_DEFAULT_MS;
	srv->tcp_msg_ms = cfg->tcp_message_timeout_ms ?
				  cfg->tcp_message_timeout_ms :
				  TCP_MSG_DEFAULT_MS;
	srv->accept_log.interval_ms = TCP_ACCEPT_LOG_MS;
	tcp_limits(srv, cfg);
}

int dns_tcp_listen(struct dns_worker *w, size_t a)
{
	struct dns_listener *l = &w->ls[a];
	const struct sockaddr_storage *ss = &w->srv->addrs[a];
	char buf[AS_SOCKADDR_STRLEN];
	int err;

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
	if ((err = uv_poll_start(&l->tcp, UV_READABLE, tcp_acceptable))) {
		as_err("dns: cannot watch %s (tcp): %s",
		       as_format_sockaddr(ss, buf, sizeof(buf)),
		       uv_strerror(err));
		return AS_ELIB;
	}
	return AS_OK;
}

void dns_tcp_close_all(struct dns_worker *w)
{
	struct as_list *n, *tmp;

	AS_LIST_FOREACH_SAFE(n, tmp, &w->conns)
		conn_close(AS_LIST_ENTRY(n, struct dns_tcp_conn, link));
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct dns_listener *l = &w->ls[a];
		if (l->tcp_inited && !uv_is_closing((uv_handle_t *)&l->tcp))
			uv_close((uv_handle_t *)&l->tcp, tcp_closed);
		if (l->backoff_inited &&
		    !uv_is_closing((uv_handle_t *)&l->backoff))
			uv_close((uv_handle_t *)&l->backoff, NULL);
	}
}
