/*
 * gossip/uv.c - the libuv transport adapter: UDP for probes and gossip,
 * TCP for push-pull, one timer for the core's deadlines.
 *
 * It only moves bytes. Every callback reads the clock, feeds the core,
 * sends whatever the core left in its outbox and re-arms the timer at the
 * core's next deadline. A stream message is one TCP connection carrying
 * one frame (the core builds it: a header with the authenticated length,
 * then the packet); the connection is closed after it, and a push-pull
 * reply travels on a connection of its own to the peer's advertised
 * address, so no connection state reaches the protocol.
 *
 * Incoming connections are admitted, bounded and timed by the core's
 * gossip_stream_* (stream.c): this file hands them the bytes as they
 * arrive and closes when told. Every connection is accepted, also over
 * the caps (libuv stops watching a listener whose connection was not
 * taken), and a refused or failed one is reset, so it leaves no
 * TIME_WAIT behind.
 *
 * Packets that fail authentication are logged here, after the core has
 * counted them, at most once per AUTH_LOG_MS: "N packets from HOST failed
 * authentication (wrong key?)", N being every failure since the last
 * line, so a node with the wrong key is named without flooding the log.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "gossip/gossip.h"
#include "lib/as.h"

#define SEND_TIMEOUT_MS 5000	/* outbound: connect and write */
#define AUTH_LOG_MS 10000	/* authentication failures: one line per */

struct conn {
	struct conn *prev, *next;
	struct gossip_uv *u;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect;
	uv_write_t write;
	uint8_t *buf;		/* outbound: the frame */
	size_t len;
	struct gossip_stream *in; /* inbound */
	int handles;		/* open handles left to close */
	bool closing;
};

struct gossip_uv {
	uv_loop_t *loop;
	struct gossip_core *core;
	uv_udp_t udp;
	uv_tcp_t listener;
	uv_timer_t timer;
	struct conn *conns;
	int handles;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
	struct as_ratelimit auth_log;
	uint64_t drained;	/* datagrams read ahead of the timers */
	uint8_t rbuf[65536];
};

static void flush(struct gossip_uv *u);

/* What a failure of this kind most likely means. */
static const char *auth_hint(enum gossip_drop why)
{
	switch (why) {
	case GOSSIP_DROP_PLAINTEXT:
		return "plaintext, and this node requires encryption: "
		       "gossip.plaintext on one side only?";
	case GOSSIP_DROP_ENCRYPTED:
		return "encrypted, and this node has no key";
	default:
		return "wrong key?";
	}
}

/* Logs the failures the core counted since the last line, if the rate
 * allows; the rest wait for the next call (every flush). */
static void report_auth(struct gossip_uv *u)
{
	struct gossip_auth_report r;
	uint8_t key[16];
	char host[AS_SOCKADDR_STRLEN] = "?";

	if (!u->core || !gossip_core_auth_pending(u->core) ||
	    !as_ratelimit_allow(&u->auth_log, uv_now(u->loop), NULL) ||
	    !gossip_core_auth_report(u->core, &r))
		return;
	if (as_sockaddr_key(&r.from, key))
		as_format_addr16(key, host, sizeof(host));
	as_warn("gossip: %llu packet%s from %s%s failed authentication (%s)",
		(unsigned long long)r.n, r.n == 1 ? "" : "s", host,
		r.others ? " and other hosts" : "", auth_hint(r.why));
}

static void maybe_done(struct gossip_uv *u)
{
	if (u->closing && u->handles == 0 && !u->conns) {
		void (*cb)(void *) = u->close_cb;
		void *arg = u->close_arg;
		gossip_core_free(u->core);
		free(u);
		if (cb)
			cb(arg);
	}
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct gossip_uv *u = c->u;
	if (--c->handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		u->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->buf);
	free(c);
	maybe_done(u);
}

/* reset: abort with an RST (refused, dropped or timed out inbound). */
static void conn_close(struct conn *c, bool reset)
{
	if (c->closing)
		return;
	c->closing = true;
	gossip_stream_close(c->in);
	c->in = NULL;
	if (!reset || uv_tcp_close_reset(&c->tcp, conn_closed) < 0)
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void conn_timeout(uv_timer_t *t);

/* Inbound: the timer follows the stream's deadline. */
static void conn_arm(struct conn *c)
{
	uint64_t now = uv_now(c->u->loop), d = gossip_stream_deadline(c->in);
	uv_timer_start(&c->timer, conn_timeout, d > now ? d - now : 0, 0);
}

static void conn_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->in && !gossip_stream_expired(c->in, uv_now(c->u->loop))) {
		conn_arm(c);
		return;
	}
	conn_close(c, c->in != NULL);
}

static struct conn *conn_new(struct gossip_uv *u)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->u = u;
	if (uv_tcp_init(u->loop, &c->tcp) < 0) {
		free(c);
		return NULL;
	}
	uv_timer_init(u->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	c->next = u->conns;
	if (c->next)
		c->next->prev = c;
	u->conns = c;
	return c;
}

/* Datagrams already waiting in the socket go to the core before its
 * timers run. A libuv loop runs due timers before it polls for input, so
 * a process that was descheduled past a deadline (a busy CPU) would
 * otherwise conclude "no ack" (suspect, or dead after the last-chance
 * probe) with the ack unread in its socket buffer (issue 19). Bounded:
 * the rest is read by the loop as usual. */
#define DRAIN_MAX 256

static void drain_udp(struct gossip_uv *u)
{
	uv_os_fd_t fd;
	if (uv_fileno((const uv_handle_t *)&u->udp, &fd) < 0)
		return;
	for (int i = 0; i < DRAIN_MAX && !u->closing; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n;
		memset(&ss, 0, sizeof(ss));
		n = recvfrom(fd, u->rbuf, sizeof(u->rbuf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;	/* EAGAIN: nothing more; errors: the loop sees them */
		u->drained++;
		gossip_core_set_clock_us(u->core, uv_hrtime() / 1000);	/* RTT samples */
		gossip_core_recv(u->core, uv_now(u->loop), GOSSIP_TX_UDP, &ss, u->rbuf,
				 (size_t)AS_MIN((size_t)n, sizeof(u->rbuf)));
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct gossip_uv *u = t->data;
	struct timespec ts;
	uint64_t now;
	uv_update_time(u->loop);
	now = uv_now(u->loop);
	/* the probe slots follow the wall clock: a step of it (NTP) after
	 * the start realigns them */
	clock_gettime(CLOCK_REALTIME, &ts);
	drain_udp(u);
	gossip_core_set_wall_ms(u->core, now,
				(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	gossip_core_set_clock_us(u->core, uv_hrtime() / 1000);
	gossip_core_tick(u->core, uv_now(u->loop));
	flush(u);
}

static void rearm(struct gossip_uv *u)
{
	uint64_t now = uv_now(u->loop), d = gossip_core_next_deadline(u->core);
	if (u->closing)
		return;
	uv_timer_start(&u->timer, timer_cb, d > now ? d - now : 0, 0);
}

static void write_done(uv_write_t *w, int status)
{
	conn_close(w->data, false);
}

static void connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	uv_buf_t b = uv_buf_init((char *)c->buf, (unsigned)c->len);
	if (status < 0 || c->closing) {
		as_debug("gossip: push-pull connect failed: %s", uv_strerror(status));
		conn_close(c, false);
		return;
	}
	c->write.data = c;
	if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0)
		conn_close(c, false);
}

static void send_stream(struct gossip_uv *u, const struct gossip_out *o)
{
	struct conn *c = conn_new(u);
	if (!c)
		return;
	uv_timer_start(&c->timer, conn_timeout, SEND_TIMEOUT_MS, 0);
	c->buf = malloc(o->len);
	if (!c->buf) {
		conn_close(c, false);
		return;
	}
	memcpy(c->buf, o->data, o->len);
	c->len = o->len;
	c->connect.data = c;
	if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&o->to, connected) < 0)
		conn_close(c, false);
}

struct udp_req {
	uv_udp_send_t req;
	uint8_t data[];
};

static void udp_sent(uv_udp_send_t *req, int status)
{
	free(req);
}

static void flush(struct gossip_uv *u)
{
	size_t n;
	const struct gossip_out *out = gossip_core_outbox(u->core, &n);
	for (size_t i = 0; i < n && !u->closing; i++) {
		const struct gossip_out *o = &out[i];
		if (o->transport == GOSSIP_TX_STREAM) {
			send_stream(u, o);
			continue;
		}
		uv_buf_t b = uv_buf_init((char *)o->data, (unsigned)o->len);
		int rc = uv_udp_try_send(&u->udp, &b, 1, (const struct sockaddr *)&o->to);
		if (rc == UV_EAGAIN || rc == UV_ENOSYS) {
			struct udp_req *r = malloc(sizeof(*r) + o->len);
			if (!r)
				continue;
			memcpy(r->data, o->data, o->len);
			b = uv_buf_init((char *)r->data, (unsigned)o->len);
			if (uv_udp_send(&r->req, &u->udp, &b, 1, (const struct sockaddr *)&o->to,
					udp_sent) < 0)
				free(r);
		} else if (rc < 0) {
			as_debug("gossip: udp send: %s", uv_strerror(rc));
		}
	}
	gossip_core_outbox_clear(u->core);
	report_auth(u);
	rearm(u);
}

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct gossip_uv *u = h->data;
	*buf = uv_buf_init((char *)u->rbuf, sizeof(u->rbuf));
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		     const struct sockaddr *addr, unsigned flags)
{
	struct gossip_uv *u = h->data;
	struct sockaddr_storage ss;
	/* nread 0 without an address: nothing to read. An empty datagram (0
	 * with an address) or a truncated one goes to the core, which counts
	 * it as short or too big. */
	if (nread < 0 || !addr)
		return;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in));
	gossip_core_set_clock_us(u->core, uv_hrtime() / 1000);
	gossip_core_recv(u->core, uv_now(u->loop), GOSSIP_TX_UDP, &ss, (const uint8_t *)buf->base,
			 (size_t)nread);
	flush(u);
}

/* Exactly the bytes the stream wants next: it grows its buffer with what
 * has arrived and never reads past its frame. */
static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	uint8_t *p;
	size_t len;
	if (!c->in || gossip_stream_buf(c->in, &p, &len) < 0) {
		*buf = uv_buf_init(NULL, 0);	/* read_cb gets UV_ENOBUFS */
		return;
	}
	*buf = uv_buf_init((char *)p, (unsigned)len);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct gossip_uv *u = c->u;
	int rc;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		conn_close(c, nread != UV_EOF);	/* the stream counts it if early */
		return;
	}
	rc = gossip_stream_feed(c->in, uv_now(u->loop), (size_t)nread);
	if (rc == GOSSIP_STREAM_DONE) {
		conn_close(c, false);
		flush(u);
	} else if (rc < 0) {
		conn_close(c, true);
		report_auth(u);
	} else {
		conn_arm(c);
	}
}

static void on_accept(uv_stream_t *server, int status)
{
	struct gossip_uv *u = server->data;
	struct sockaddr_storage peer;
	struct conn *c;
	int len = sizeof(peer);
	if (status < 0 || u->closing)
		return;
	c = conn_new(u);
	if (!c)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c, false);
		return;
	}
	memset(&peer, 0, sizeof(peer));
	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len);
	/* Over the caps: counted by the core, reset here. */
	if (gossip_stream_open(u->core, uv_now(u->loop), &peer, &c->in) < 0) {
		conn_close(c, true);
		return;
	}
	conn_arm(c);
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0)
		conn_close(c, true);
}

static void handle_closed(uv_handle_t *h)
{
	struct gossip_uv *u = h->data;
	u->handles--;
	maybe_done(u);
}

int gossip_uv_new(uv_loop_t *loop, const struct sockaddr_storage *bind_addr,
		  struct gossip_core *core, struct gossip_uv **out)
{
	struct gossip_uv *u = calloc(1, sizeof(*u));
	const struct sockaddr *sa = (const struct sockaddr *)bind_addr;
	int rc;

	*out = NULL;
	if (!u)
		return AS_ENOMEM;
	u->loop = loop;
	u->core = core;
	u->auth_log.interval_ms = AUTH_LOG_MS;
	u->auth_log.burst = 1;
	uv_udp_init(loop, &u->udp);
	uv_tcp_init(loop, &u->listener);
	uv_timer_init(loop, &u->timer);
	u->udp.data = u->listener.data = u->timer.data = u;
	u->handles = 3;
	rc = uv_udp_bind(&u->udp, sa, bind_addr->ss_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
	if (rc == 0)
		rc = uv_tcp_bind(&u->listener, sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&u->listener, 64, on_accept);
	if (rc == 0)
		rc = uv_udp_recv_start(&u->udp, udp_alloc, udp_recv);
	if (rc < 0) {
		as_err("gossip: cannot bind: %s", uv_strerror(rc));
		u->core = NULL;	/* the caller keeps the core on failure */
		gossip_uv_close(u, NULL, NULL);
		return rc;	/* libuv codes are negated errno values */
	}
	*out = u;
	rearm(u);
	return AS_OK;
}

struct gossip_core *gossip_uv_core(struct gossip_uv *u)
{
	return u->core;
}

void gossip_uv_kick(struct gossip_uv *u)
{
	flush(u);
}

void gossip_uv_close(struct gossip_uv *u, void (*cb)(void *arg), void *arg)
{
	if (u->closing)
		return;
	u->closing = true;
	u->close_cb = cb;
	u->close_arg = arg;
	uv_close((uv_handle_t *)&u->udp, handle_closed);
	uv_close((uv_handle_t *)&u->listener, handle_closed);
	uv_close((uv_handle_t *)&u->timer, handle_closed);
	for (struct conn *c = u->conns; c; c = c->next)
		conn_close(c, false);
}
