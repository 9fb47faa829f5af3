/*
 * tests/eval/src/loadgen.c - as-loadgen, the evaluation's open-loop HTTP
 * load generator with a population of DNS-resolving client identities.
 *
 * Open loop: send times come from the schedule (sched.c), never from
 * responses. A timerfd (absolute, 1 ns slack) wakes the loop at the next
 * send time; each wake issues every request that is due, with its
 * scheduled time, and latency is counted from that time. If the loop or
 * the server stalls, the requests of the stall are sent late but measured
 * from when they should have gone (no coordinated omission); the send lag
 * itself is reported ("loadgen.send_lag_us").
 *
 * Identities: request k belongs to identity k mod --clients. An identity
 * keeps its DNS answer for the record's TTL (--client-cache ttl, as a
 * browser does; concurrent requests of one identity wait for one query)
 * or resolves for every new connection (none, as glibc without nscd
 * does); with --reuse on it keeps idle keep-alive connections per name.
 * One UDP socket, connected to the resolver, carries all queries; answers
 * are matched by ID and question (dns.c) and anything else is dropped and
 * counted.
 *
 * Why our own HTTP/1.1 client and not libcurl's multi interface:
 * - Timing: we need the scheduled time, connect completion, the write and
 *   the first response byte of every request, on one clock. curl reports
 *   its own phases relative to its own start and resolves names itself.
 * - Identities: curl's connection cache and DNS cache belong to a multi
 *   (or share) handle; 1000 identities with separate connection pools and
 *   TTL-bound answers would need 1000 share objects and CURLOPT_RESOLVE
 *   juggling, and "resolve per new connection" cannot be expressed.
 * - Cost: one easy handle per request and curl's generality cost several
 *   times the CPU of a fixed GET and a Content-Length/chunked parser, on a
 *   2-core machine whose cores the measured system needs.
 * The client is small because it only speaks what the evaluation needs:
 * GET, HTTP/1.1, no TLS, no pipelining, responses by Content-Length,
 * chunked or close (http.c, unit-tested).
 *
 * Timeouts: --timeout-ms bounds connect and, separately, the response
 * (from the write to the last byte); --dns-timeout-ms each query of a
 * resolution, --dns-attempts the queries per resolution. Connections that
 * end with "Connection: close" are closed after the server's FIN (or the
 * timeout), so TIME_WAIT lands on the server and a run without reuse does
 * not exhaust the client's ports. The run ends when every request has
 * finished or at a hard deadline after the last send; it writes the JSON
 * (and the CSV series) and exits 0. Destinations outside loopback and the
 * private ranges are refused (eval_addr6_allowed).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "lib/as.h"
#include "lib/list.h"
#include "tests/eval/src/eval.h"

#define MAX_NAMES 64
/* Timeouts and the end of the run are checked on a 10 ms tick: precise
 * enough for timeouts of a second or more, and cheap beside the requests
 * (a wake-up costs tens of microseconds on the evaluation VM). */
#define TICK_MS 10
#define ISSUE_BATCH 64		/* requests sent per wake-up at most */
#define DNS_BATCH 32		/* answers per recvmmsg */
#define DNS_READ_MAX 4096	/* answers read per wake-up at most */
#define READ_BUF 65536

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

/* ---- configuration ------------------------------------------------------ */

enum onoff { OFF = 0, ON = 1 };

struct cfg {
	const char *resolver;
	struct sockaddr_storage resolver_sa;
	const char *names[MAX_NAMES];
	unsigned nnames;
	double rate;
	double duration_s;
	enum eval_arrival arrival;
	uint32_t clients;
	bool cache_ttl;
	bool reuse;
	bool try_next;
	uint16_t port;
	const char *path;
	uint64_t timeout_ms;
	uint64_t dns_timeout_ms;
	unsigned dns_attempts;
	uint64_t max_inflight;
	uint64_t seed;
	double warmup_s;
	const char *out;
	const char *series;
	const char *events;
};

/* ---- deadline lists ----------------------------------------------------- */

/*
 * Every timeout of one kind has the same length and starts "now", so
 * appending keeps a list sorted by deadline: expiring is a look at the
 * head, cancelling an unlink. No timer per request.
 */
struct dl {
	struct as_list link;
	uint64_t deadline;
};

static void dl_init(struct dl *head)
{
	as_list_init(&head->link);
}

static void dl_remove(struct dl *n)
{
	as_list_remove(&n->link);
}

static void dl_append(struct dl *head, struct dl *n, uint64_t deadline)
{
	n->deadline = deadline;
	as_list_push_back(&head->link, &n->link);
}

static struct dl *dl_expired(struct dl *head, uint64_t now)
{
	struct as_list *f = as_list_first(&head->link);
	struct dl *n = f ? AS_LIST_ENTRY(f, struct dl, link) : NULL;
	return n && n->deadline <= now ? n : NULL;
}

/* ---- state -------------------------------------------------------------- */

enum phase { P_DNS, P_CONNECT, P_HTTP };
enum cstate { C_CONNECTING, C_ACTIVE, C_IDLE, C_DRAIN, C_CLOSING };

struct conn;

struct req {
	struct dl dl;		/* in lg->ops while connecting or waiting */
	struct req *wnext;	/* waiters of one resolution */
	struct conn *conn;
	uint64_t t_sched, t_conn, t_write, t_first;
	uint32_t ident, name;
	uint8_t phase;
	uint8_t addr_idx;
	struct eval_addrs addrs;
};

struct dnsq {
	struct dl dl;		/* in lg->dnsl */
	struct req *waiters, *wtail;
	uint64_t t_start, t_sched;
	uint32_t ident, name;
	uint16_t id;
	uint8_t attempts;
	bool cached;		/* the pending resolution of a cache entry */
};

struct conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	struct dl dl;		/* in lg->drain */
	struct lg *lg;
	struct req *req;
	struct as_list pool;	/* in its idle pool while C_IDLE */
	struct as_list all;	/* in lg->all until its close callback */
	uint32_t ident, name;
	uint8_t addr[16];
	uint8_t state;
	bool writing;
	struct eval_http_resp parser;
};

struct name {
	const char *host;
	uint8_t qname[256];
	size_t qlen;
	char *get[2];		/* request bytes: [0] close, [1] keep-alive */
	size_t get_len[2];
};

struct lg {
	uv_loop_t *loop;
	struct cfg cfg;
	eval_sched_t *sched;
	eval_results_t *res;
	eval_dnscache_t *cache;
	eval_hist_t *lag;	/* send time - scheduled time, us */
	struct as_rng rng;
	uint64_t t0;		/* CLOCK_MONOTONIC ns at the start */
	uint64_t hard_stop;
	int tfd;
	uv_poll_t tpoll;
	uv_timer_t tick;
	int dns_fd;		/* UDP socket connected to the resolver */
	uv_poll_t dpoll;
	uv_signal_t sig_int, sig_term;
	struct dnsq **byid;	/* 65536 slots */
	uint32_t nq;		/* resolutions in flight */
	struct dl ops, dnsl, drain;
	struct as_list *idle;	/* clients x names pool heads */
	struct as_list all;
	struct name names[MAX_NAMES];
	uint64_t inflight, inflight_max, sent_all;
	uint64_t dns_dropped, dns_send_errors, refused_dest, unfinished;
	uint64_t never_sent;	/* still in the schedule at the hard stop */
	long long dns_socket_drops;
	int dns_rcvbuf;		/* bytes, as the kernel reports it */
	bool sched_done, finished, interrupted;
	FILE *events;		/* --events: one line per finished request */
	bool events_failed;
	char rbuf[READ_BUF];
	uint8_t dnsbuf[DNS_BATCH][1500];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * EVAL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(struct lg *lg)
{
	return mono_ns() - lg->t0;
}

static void finish(struct lg *lg);
static long long udp_socket_drops(struct lg *lg);

/* ---- requests ----------------------------------------------------------- */

static void req_end(struct lg *lg, struct req *r)
{
	dl_remove(&r->dl);
	if (r->conn)
		r->conn->req = NULL;
	lg->inflight--;
	free(r);
}

/* --events: the request's outcome (result -1: ok) with the addresses it
 * went to. */
static void log_event(struct lg *lg, const struct req *r, int result,
		      const char *pod)
{
	char line[256];
	const uint8_t *addr = NULL, *first = NULL;

	if (!lg->events)
		return;
	if (r->conn)
		addr = r->conn->addr;
	else if (r->addrs.n && r->phase != P_DNS)
		addr = r->addrs.a[r->addr_idx];
	first = r->addrs.n ? r->addrs.a[0] : addr;
	struct eval_event e = { .t_sched = r->t_sched, .t_end = now_ns(lg),
				.result = result, .pod = pod, .addr = addr,
				.first = first };
	size_t n = eval_event_line(line, sizeof(line), &e);
	if (!n || fwrite(line, 1, n, lg->events) != n)
		lg->events_failed = true;
}

static void req_fail(struct lg *lg, struct req *r, enum eval_error e)
{
	log_event(lg, r, (int)e, NULL);
	eval_results_error(lg->res, r->t_sched, e);
	req_end(lg, r);
}

static enum eval_error connect_error(int uverr)
{
	switch (uverr) {
	case UV_ECONNREFUSED:
		return EVAL_E_CONNECT_REFUSED;
	case UV_ETIMEDOUT:
		return EVAL_E_CONNECT_TIMEOUT;
	default:
		return EVAL_E_CONNECT_OTHER;
	}
}

/* ---- connections --------------------------------------------------------- */

static void pool_remove(struct lg *lg, struct conn *c)
{
	as_list_remove(&c->pool);
}

static void pool_push(struct lg *lg, struct conn *c)
{
	c->state = C_IDLE;
	as_list_push_front(&lg->idle[(size_t)c->ident * lg->cfg.nnames + c->name],
			   &c->pool);
}

static struct conn *pool_pop(struct lg *lg, uint32_t ident, uint32_t name)
{
	struct as_list *n = as_list_first(&lg->idle[(size_t)ident * lg->cfg.nnames + name]);
	struct conn *c = n ? AS_LIST_ENTRY(n, struct conn, pool) : NULL;
	if (c)
		pool_remove(lg, c);
	return c;
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	as_list_remove(&c->all);
	free(c);
}

static void conn_close(struct lg *lg, struct conn *c)
{
	if (c->state == C_CLOSING)
		return;
	if (c->state == C_IDLE)
		pool_remove(lg, c);
	dl_remove(&c->dl);
	if (c->req) {
		c->req->conn = NULL;
		c->req = NULL;
	}
	c->state = C_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_write(uv_write_t *w, int status)
{
	struct conn *c = container_of(w, struct conn, wreq);
	struct lg *lg = c->lg;

	c->writing = false;
	if (status < 0 && c->state != C_CLOSING) {
		if (c->req)
			req_fail(lg, c->req, EVAL_E_RESET);
		conn_close(lg, c);
	}
}

static void conn_send(struct lg *lg, struct conn *c, struct req *r)
{
	struct name *n = &lg->names[r->name];
	int k = lg->cfg.reuse ? 1 : 0;
	uv_buf_t b = uv_buf_init(n->get[k], (unsigned)n->get_len[k]);
	uint64_t now = now_ns(lg);

	c->req = r;
	r->conn = c;
	r->phase = P_HTTP;
	r->t_write = now;
	r->t_first = 0;
	c->state = C_ACTIVE;
	eval_http_resp_init(&c->parser, false);
	dl_append(&lg->ops, &r->dl, now + lg->cfg.timeout_ms * 1000000ull);

	int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (w == (int)b.len)
		return;
	if (w < 0 && w != UV_EAGAIN) {
		req_fail(lg, r, EVAL_E_RESET);
		conn_close(lg, c);
		return;
	}
	if (w > 0) {
		b.base += w;
		b.len -= (size_t)w;
	}
	/* The request bytes are the name's, alive for the whole run. */
	c->writing = true;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
		c->writing = false;
		req_fail(lg, r, EVAL_E_RESET);
		conn_close(lg, c);
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	/* One buffer for every read: each read is parsed in its callback. */
	buf->base = c->lg->rbuf;
	buf->len = sizeof(c->lg->rbuf);
}

/* A response is complete: record it, then keep, drain or close the
 * connection. */
static void complete(struct lg *lg, struct conn *c, struct req *r,
		     uint64_t now, bool extra_bytes)
{
	int st = c->parser.status;

	if (st >= 200 && st < 300) {
		struct eval_outcome o = {
			.t_sched = r->t_sched, .t_write = r->t_write,
			.t_first = r->t_first, .t_done = now,
			.pod = c->parser.pod, .addr = c->addr,
		};
		eval_results_ok(lg->res, &o);
		log_event(lg, r, -1, c->parser.pod);
		req_end(lg, r);
	} else {
		req_fail(lg, r, EVAL_E_HTTP_STATUS);
	}
	if (extra_bytes || c->writing) {
		conn_close(lg, c);
	} else if (c->parser.keep_alive) {
		if (lg->cfg.reuse && !lg->finished)
			pool_push(lg, c);
		else
			conn_close(lg, c);
	} else {
		/* Wait for the server's FIN so TIME_WAIT stays there. */
		c->state = C_DRAIN;
		dl_append(&lg->drain, &c->dl, now + lg->cfg.timeout_ms * 1000000ull);
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct lg *lg = c->lg;
	struct req *r = c->req;
	uint64_t now;

	if (nread == 0 || c->state == C_CLOSING)
		return;
	if (nread < 0) {
		if (r) {
			if (nread == UV_EOF && r->t_first &&
			    eval_http_resp_eof(&c->parser) == EVAL_HTTP_DONE) {
				complete(lg, c, r, now_ns(lg), true);
				return;
			}
			req_fail(lg, r, EVAL_E_RESET);
		}
		conn_close(lg, c);
		return;
	}
	if (!r) {
		/* Bytes nobody asked for: a broken keep-alive peer. Draining
		 * connections just wait for the FIN. */
		if (c->state != C_DRAIN)
			conn_close(lg, c);
		return;
	}
	now = now_ns(lg);
	if (!r->t_first)
		r->t_first = now;
	size_t used = 0;
	enum eval_http_rc rc = eval_http_resp_feed(&c->parser, buf->base,
						   (size_t)nread, &used);
	if (rc == EVAL_HTTP_MORE)
		return;
	if (rc == EVAL_HTTP_ERROR) {
		req_fail(lg, r, EVAL_E_HTTP_PARSE);
		conn_close(lg, c);
		return;
	}
	complete(lg, c, r, now, used < (size_t)nread);
}

static void req_connect(struct lg *lg, struct req *r, unsigned idx);

/* A connection attempt failed: next address or an error. */
static void connect_failed(struct lg *lg, struct req *r, enum eval_error e)
{
	struct conn *c = r->conn;
	if (c)
		conn_close(lg, c);
	if (lg->cfg.try_next && r->addr_idx + 1u < r->addrs.n)
		req_connect(lg, r, r->addr_idx + 1u);
	else
		req_fail(lg, r, e);
}

static void on_connect(uv_connect_t *cr, int status)
{
	struct conn *c = container_of(cr, struct conn, creq);
	struct lg *lg = c->lg;
	struct req *r = c->req;

	if (c->state == C_CLOSING || !r)
		return;
	if (status < 0) {
		connect_failed(lg, r, connect_error(status));
		return;
	}
	uint64_t now = now_ns(lg);
	eval_results_connected(lg->res, r->t_sched, now - r->t_conn);
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
		connect_failed(lg, r, EVAL_E_CONNECT_OTHER);
		return;
	}
	conn_send(lg, c, r);
}

static void req_connect(struct lg *lg, struct req *r, unsigned idx)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	struct conn *c;
	int err;

	r->addr_idx = (uint8_t)idx;
	if (!eval_addr6_allowed(r->addrs.a[idx])) {
		lg->refused_dest++;
		connect_failed(lg, r, EVAL_E_CONNECT_OTHER);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		req_fail(lg, r, EVAL_E_CONNECT_OTHER);
		return;
	}
	c->lg = lg;
	c->ident = r->ident;
	c->name = r->name;
	memcpy(c->addr, r->addrs.a[idx], 16);
	c->state = C_CONNECTING;
	uv_tcp_init(lg->loop, &c->tcp);
	c->tcp.data = c;
	as_list_push_front(&lg->all, &c->all);

	c->req = r;
	r->conn = c;
	r->phase = P_CONNECT;
	r->t_conn = now_ns(lg);
	dl_append(&lg->ops, &r->dl, r->t_conn + lg->cfg.timeout_ms * 1000000ull);
	memcpy(&sa.sin6_addr, c->addr, 16);
	sa.sin6_port = htons(lg->cfg.port);
	err = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&sa, on_connect);
	if (err < 0)
		connect_failed(lg, r, connect_error(err));
}

/* ---- DNS ------------------------------------------------------------------ */

static void dnsq_send(struct lg *lg, struct dnsq *q)
{
	uint8_t buf[EVAL_DNS_QUERY_MAX];
	struct name *n = &lg->names[q->name];
	size_t len = eval_dns_query(buf, sizeof(buf), q->id, n->qname, n->qlen);

	q->attempts++;
	if (send(lg->dns_fd, buf, len, 0) < 0)
		lg->dns_send_errors++;	/* the retry timer tries again */
	dl_append(&lg->dnsl, &q->dl,
		  now_ns(lg) + lg->cfg.dns_timeout_ms * 1000000ull);
}

static enum eval_error dns_error(enum eval_dns_status st)
{
	switch (st) {
	case EVAL_DNS_NOANSWER:
		return EVAL_E_DNS_NOANSWER;
	case EVAL_DNS_NXDOMAIN:
		return EVAL_E_DNS_NXDOMAIN;
	case EVAL_DNS_SERVFAIL:
		return EVAL_E_DNS_SERVFAIL;
	default:
		return EVAL_E_DNS_OTHER;
	}
}

/* A resolution ended: answer (ans != NULL) or timeout. */
static void dnsq_finish(struct lg *lg, struct dnsq *q, enum eval_dns_status st,
			const struct eval_dns_answer *ans)
{
	uint64_t now = now_ns(lg);
	struct req *w, *next;

	dl_remove(&q->dl);
	lg->byid[q->id] = NULL;
	lg->nq--;
	eval_results_resolution(lg->res, q->t_sched, q->attempts, ans != NULL,
				now - q->t_start,
				ans && st == EVAL_DNS_OK ? ans->addr[0] : NULL);
	if (q->cached) {
		eval_dnscache_set_pending(lg->cache, q->ident, q->name, NULL);
		if (ans && st == EVAL_DNS_OK)
			eval_dnscache_put(lg->cache, q->ident, q->name, ans, now);
	}
	for (w = q->waiters; w; w = next) {
		next = w->wnext;
		w->wnext = NULL;
		if (!ans) {
			req_fail(lg, w, EVAL_E_DNS_TIMEOUT);
		} else if (st != EVAL_DNS_OK) {
			req_fail(lg, w, dns_error(st));
		} else {
			w->addrs.n = ans->naddr;
			memcpy(w->addrs.a, ans->addr, sizeof(w->addrs.a));
			req_connect(lg, w, 0);
		}
	}
	free(q);
}

static void dns_answer(struct lg *lg, const uint8_t *m, size_t len)
{
	struct eval_dns_answer ans;
	struct dnsq *q;
	uint16_t id;

	if (!eval_dns_id(m, len, &id) || !(q = lg->byid[id])) {
		lg->dns_dropped++;
		return;
	}
	struct name *n = &lg->names[q->name];
	enum eval_dns_status st = eval_dns_parse(m, len, id, n->qname, n->qlen,
						 &ans);
	if (st == EVAL_DNS_MISMATCH || st == EVAL_DNS_MALFORMED) {
		lg->dns_dropped++;
		return;
	}
	dnsq_finish(lg, q, st, &ans);
}

/*
 * Reads answers with recvmmsg until the socket is empty (at most
 * DNS_READ_MAX per wake-up). Not uv_udp: libuv reads 32 datagrams per
 * loop iteration, fewer than a busy iteration sends queries, so under
 * load the answers would pile up in the socket and be dropped.
 */
static void on_dns_readable(uv_poll_t *p, int status, int events)
{
	struct lg *lg = p->data;
	struct mmsghdr msgs[DNS_BATCH];
	struct iovec iov[DNS_BATCH];

	for (int total = 0; total < DNS_READ_MAX && !lg->finished;) {
		for (int i = 0; i < DNS_BATCH; i++) {
			iov[i].iov_base = lg->dnsbuf[i];
			iov[i].iov_len = sizeof(lg->dnsbuf[i]);
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(lg->dns_fd, msgs, DNS_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;	/* EAGAIN, or an ICMP error: the timeout handles it */
		for (int i = 0; i < n && !lg->finished; i++) {
			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				lg->dns_dropped++;
			else
				dns_answer(lg, lg->dnsbuf[i], msgs[i].msg_len);
		}
		total += n;
		if (n < DNS_BATCH)
			break;
	}
}

static struct dnsq *dnsq_new(struct lg *lg, struct req *r)
{
	struct dnsq *q;
	uint16_t id = (uint16_t)as_rng_next(&lg->rng);

	if (lg->nq >= 65536)
		return NULL;
	while (lg->byid[id])
		id++;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->id = id;
	q->ident = r->ident;
	q->name = r->name;
	q->t_sched = r->t_sched;
	q->t_start = now_ns(lg);
	lg->byid[id] = q;
	lg->nq++;
	return q;
}

static void dnsq_wait(struct dnsq *q, struct req *r)
{
	r->phase = P_DNS;
	r->wnext = NULL;
	if (q->wtail)
		q->wtail->wnext = r;
	else
		q->waiters = r;
	q->wtail = r;
}

static void req_resolve(struct lg *lg, struct req *r)
{
	struct dnsq *q;

	if (lg->cfg.cache_ttl) {
		const struct eval_addrs *a = eval_dnscache_get(lg->cache, r->ident,
							       r->name, now_ns(lg));
		if (a) {
			eval_results_cache_hit(lg->res, r->t_sched);
			r->addrs = *a;
			req_connect(lg, r, 0);
			return;
		}
		q = eval_dnscache_pending(lg->cache, r->ident, r->name);
		if (q) {
			dnsq_wait(q, r);
			return;
		}
	}
	q = dnsq_new(lg, r);
	if (!q) {
		req_fail(lg, r, EVAL_E_DNS_OTHER);
		return;
	}
	if (lg->cfg.cache_ttl) {
		q->cached = true;
		eval_dnscache_set_pending(lg->cache, r->ident, r->name, q);
	}
	dnsq_wait(q, r);
	dnsq_send(lg, q);
}

/* ---- schedule --------------------------------------------------------------- */

static void issue(struct lg *lg, uint64_t t, uint64_t seq, uint64_t now)
{
	struct req *r;
	struct conn *c;

	eval_results_scheduled(lg->res, t);
	if (!eval_results_warm(lg->res, t))
		eval_hist_record(lg->lag, (now - t) / EVAL_NS_PER_US);
	if (lg->inflight >= lg->cfg.max_inflight ||
	    !(r = calloc(1, sizeof(*r)))) {
		eval_results_error(lg->res, t, EVAL_E_CLIENT_OVERLOAD);
		return;
	}
	r->t_sched = t;
	r->ident = (uint32_t)(seq % lg->cfg.clients);
	/* Shifted by one per pass over the identities, so every identity
	 * visits every name. */
	r->name = (uint32_t)((seq + seq / lg->cfg.clients) % lg->cfg.nnames);
	lg->inflight++;
	lg->sent_all++;
	if (lg->inflight > lg->inflight_max)
		lg->inflight_max = lg->inflight;
	eval_results_sent(lg->res, t);
	if (lg->cfg.reuse && (c = pool_pop(lg, r->ident, r->name))) {
		eval_results_reused(lg->res, t);
		conn_send(lg, c, r);
		return;
	}
	req_resolve(lg, r);
}

static void arm(struct lg *lg)
{
	uint64_t next = eval_sched_next(lg->sched);
	struct itimerspec its = { 0 };

	if (next == EVAL_SCHED_END) {
		lg->sched_done = true;
		uv_poll_stop(&lg->tpoll);
		timerfd_settime(lg->tfd, 0, &its, NULL);
		return;
	}
	uint64_t abs = lg->t0 + next;
	its.it_value.tv_sec = (time_t)(abs / EVAL_NS_PER_S);
	its.it_value.tv_nsec = (long)(abs % EVAL_NS_PER_S);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(lg->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_timerfd(uv_poll_t *p, int status, int events)
{
	struct lg *lg = p->data;
	uint64_t expirations, t, seq;

	if (read(lg->tfd, &expirations, sizeof(expirations)) < 0 &&
	    errno != EAGAIN)
		return;
	/* A loop that fell behind catches up in batches: the timerfd is set
	 * in the past and fires again at once, after the loop has handled
	 * the answers and responses that came meanwhile. Sending everything
	 * in one callback would starve them (answers dropped from the full
	 * socket, timeouts) and make a short stall a collapse. Latency still
	 * counts from the scheduled times. */
	uint64_t now = now_ns(lg);
	for (int n = 0; n < ISSUE_BATCH && !lg->finished &&
			eval_sched_due(lg->sched, now, &t, &seq); n++)
		issue(lg, t, seq, now);
	if (!lg->finished)
		arm(lg);
}

/* ---- timeouts and the end ----------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
	struct lg *lg = t->data;
	uint64_t now = now_ns(lg);
	struct dl *n;

	while ((n = dl_expired(&lg->dnsl, now))) {
		struct dnsq *q = container_of(n, struct dnsq, dl);
		if (q->attempts < lg->cfg.dns_attempts)
			dnsq_send(lg, q);
		else
			dnsq_finish(lg, q, EVAL_DNS_OTHER, NULL);
	}
	while ((n = dl_expired(&lg->ops, now))) {
		struct req *r = container_of(n, struct req, dl);
		if (r->phase == P_CONNECT) {
			connect_failed(lg, r, EVAL_E_CONNECT_TIMEOUT);
		} else {
			struct conn *c = r->conn;
			req_fail(lg, r, EVAL_E_HTTP_TIMEOUT);
			if (c)
				conn_close(lg, c);
		}
	}
	while ((n = dl_expired(&lg->drain, now)))
		conn_close(lg, container_of(n, struct conn, dl));
	/* A reader (the failover harness) follows the log while it grows. */
	if (lg->events && fflush(lg->events) != 0)
		lg->events_failed = true;
	if ((lg->sched_done && lg->inflight == 0) || now >= lg->hard_stop)
		finish(lg);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct lg *lg = s->data;
	lg->interrupted = true;
	finish(lg);
}

/* Stops everything; requests still in flight count as unfinished. */
static void finish(struct lg *lg)
{
	struct dl *n;

	if (lg->finished)
		return;
	lg->finished = true;
	lg->unfinished = lg->inflight;
	/* At the hard stop a generator that fell far behind has requests it
	 * never sent: they count as scheduled and as client_overload, so
	 * overload cannot shrink the denominator. */
	if (!lg->interrupted) {
		uint64_t t, seq;
		while (lg->never_sent < 100000000 &&
		       eval_sched_due(lg->sched, UINT64_MAX - 1, &t, &seq)) {
			eval_results_scheduled(lg->res, t);
			eval_results_error(lg->res, t, EVAL_E_CLIENT_OVERLOAD);
			lg->never_sent++;
		}
	}
	lg->dns_socket_drops = udp_socket_drops(lg);
	while ((n = dl_expired(&lg->dnsl, UINT64_MAX))) {
		struct dnsq *q = container_of(n, struct dnsq, dl);
		struct req *w, *next;
		for (w = q->waiters; w; w = next) {
			next = w->wnext;
			req_end(lg, w);
		}
		dl_remove(&q->dl);
		lg->byid[q->id] = NULL;
		free(q);
	}
	while ((n = dl_expired(&lg->ops, UINT64_MAX)))
		req_end(lg, container_of(n, struct req, dl));
	/* Closing handles stay in the list until their close callback. */
	struct as_list *it, *tmp;
	AS_LIST_FOREACH_SAFE(it, tmp, &lg->all)
		conn_close(lg, AS_LIST_ENTRY(it, struct conn, all));
	uv_close((uv_handle_t *)&lg->tpoll, NULL);
	uv_close((uv_handle_t *)&lg->tick, NULL);
	uv_close((uv_handle_t *)&lg->dpoll, NULL);
	uv_close((uv_handle_t *)&lg->sig_int, NULL);
	uv_close((uv_handle_t *)&lg->sig_term, NULL);
}

/* ---- output ------------------------------------------------------------------- */

static json_t *config_json(const struct cfg *c)
{
	json_t *names = json_array();
	for (unsigned i = 0; names && i < c->nnames; i++)
		json_array_append_new(names, json_string(c->names[i]));
	return json_pack("{s:s,s:o,s:f,s:f,s:s,s:I,s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:s,s:s?,s:s?}",
		"resolver", c->resolver, "names", names, "rate", c->rate,
		"duration", c->duration_s,
		"arrival", c->arrival == EVAL_ARRIVAL_POISSON ? "poisson" : "constant",
		"clients", (json_int_t)c->clients,
		"client_cache", c->cache_ttl ? "ttl" : "none",
		"reuse", c->reuse ? "on" : "off",
		"try_next", c->try_next ? "on" : "off",
		"port", (int)c->port, "path", c->path,
		"timeout_ms", (json_int_t)c->timeout_ms,
		"dns_timeout_ms", (json_int_t)c->dns_timeout_ms,
		"dns_attempts", (json_int_t)c->dns_attempts,
		"max_inflight", (json_int_t)c->max_inflight,
		"seed", (json_int_t)c->seed,
		"warmup", c->warmup_s, "out", c->out, "series", c->series,
		"events", c->events);
}

/* Datagrams the kernel dropped on our DNS socket (receive buffer full),
 * from the "drops" column of /proc/net/udp[6]; -1 if unknown. */
static long long udp_socket_drops(struct lg *lg)
{
	struct stat st;
	char line[512];
	long long drops = -1;

	if (fstat(lg->dns_fd, &st))
		return -1;
	FILE *f = fopen(lg->cfg.resolver_sa.ss_family == AF_INET6
				? "/proc/self/net/udp6" : "/proc/self/net/udp", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long inode, d;
		/* sl local rem st tx:rx tr:when retr uid timeout inode ref ptr drops */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %*s %*s %llu",
			   &inode, &d) == 2 && inode == (unsigned long long)st.st_ino) {
			drops = (long long)d;
			break;
		}
	}
	fclose(f);
	return drops;
}

static json_t *loadgen_json(struct lg *lg, double wall_s)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return json_pack("{s:f,s:f,s:f,s:f,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b}",
		"wall_s", wall_s, "cpu_user_s", user, "cpu_sys_s", sys,
		"cpu_us_per_request",
		lg->sent_all ? (user + sys) * 1e6 / (double)lg->sent_all : 0.0,
		"requests_sent_all", (json_int_t)lg->sent_all,
		"send_lag_us", eval_hist_summary_json(lg->lag),
		"max_inflight_seen", (json_int_t)lg->inflight_max,
		"unfinished", (json_int_t)lg->unfinished,
		"never_sent", (json_int_t)lg->never_sent,
		"dns_dropped", (json_int_t)lg->dns_dropped,
		"dns_send_errors", (json_int_t)lg->dns_send_errors,
		"dns_socket_drops", (json_int_t)lg->dns_socket_drops,
		"dns_rcvbuf", (json_int_t)lg->dns_rcvbuf,
		"refused_destinations", (json_int_t)lg->refused_dest,
		"interrupted", lg->interrupted);
}

static int write_json(const char *path, json_t *j)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (json_dump_file(j, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) < 0)
		return -1;
	return rename(tmp, path);
}

/* ---- command line ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: as-loadgen --resolver ADDR[:PORT] --name HOST [--name HOST ...]\n"
"                  --rate R --duration SEC [--arrival constant|poisson]\n"
"                  [--clients N] [--client-cache ttl|none] [--reuse on|off]\n"
"                  [--try-next on|off] [--port 80] [--path /]\n"
"                  [--timeout-ms 2000] [--dns-timeout-ms 1000]\n"
"                  [--dns-attempts 2] [--max-inflight 20000] [--seed S]\n"
"                  [--warmup SEC] --out FILE.json [--series FILE.csv]\n"
"                  [--events FILE.csv]  (one line per finished request)\n"
"defaults: --arrival constant --clients 1000 --client-cache ttl --reuse on\n"
"          --try-next off --seed 1 --warmup 0\n");
}

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int parse_double(const char *v, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(x) || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int parse_onoff(const char *v, const char *on, const char *off, bool *out)
{
	if (strcmp(v, on) == 0)
		*out = true;
	else if (strcmp(v, off) == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* Returns 0, or 2 with a message on a usage error. */
static int parse_args(int argc, char **argv, struct cfg *c)
{
	static const struct option opts[] = {
		{ "resolver", required_argument, NULL, 'R' },
		{ "name", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "arrival", required_argument, NULL, 'a' },
		{ "clients", required_argument, NULL, 'c' },
		{ "client-cache", required_argument, NULL, 'C' },
		{ "reuse", required_argument, NULL, 'u' },
		{ "try-next", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "dns-timeout-ms", required_argument, NULL, 'T' },
		{ "dns-attempts", required_argument, NULL, 'A' },
		{ "max-inflight", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "out", required_argument, NULL, 'o' },
		{ "series", required_argument, NULL, 'S' },
		{ "events", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int opt;

	*c = (struct cfg){
		.arrival = EVAL_ARRIVAL_CONSTANT, .clients = 1000,
		.cache_ttl = true, .reuse = true, .try_next = false, .port = 80,
		.path = "/", .timeout_ms = 2000, .dns_timeout_ms = 1000,
		.dns_attempts = 2, .max_inflight = 20000, .seed = 1,
		.rate = -1, .duration_s = -1,
	};
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *bad = NULL;
		switch (opt) {
		case 'R':
			c->resolver = optarg;
			if (as_parse_sockaddr(optarg, 53, &c->resolver_sa))
				bad = "--resolver";
			break;
		case 'n':
			if (c->nnames == MAX_NAMES)
				bad = "--name (too many)";
			else
				c->names[c->nnames++] = optarg;
			break;
		case 'r':
			if (parse_double(optarg, 1e-3, 1e6, &c->rate))
				bad = "--rate";
			break;
		case 'd':
			if (parse_double(optarg, 1e-3, 86400, &c->duration_s))
				bad = "--duration";
			break;
		case 'a':
			if (strcmp(optarg, "constant") == 0)
				c->arrival = EVAL_ARRIVAL_CONSTANT;
			else if (strcmp(optarg, "poisson") == 0)
				c->arrival = EVAL_ARRIVAL_POISSON;
			else
				bad = "--arrival";
			break;
		case 'c':
			if (parse_u64(optarg, 1, 1000000, &v))
				bad = "--clients";
			c->clients = (uint32_t)v;
			break;
		case 'C':
			if (parse_onoff(optarg, "ttl", "none", &c->cache_ttl))
				bad = "--client-cache";
			break;
		case 'u':
			if (parse_onoff(optarg, "on", "off", &c->reuse))
				bad = "--reuse";
			break;
		case 'N':
			if (parse_onoff(optarg, "on", "off", &c->try_next))
				bad = "--try-next";
			break;
		case 'p':
			if (parse_u64(optarg, 1, 65535, &v))
				bad = "--port";
			c->port = (uint16_t)v;
			break;
		case 'P':
			c->path = optarg;
			if (optarg[0] != '/' || strpbrk(optarg, " \r\n") ||
			    strlen(optarg) > 1024)
				bad = "--path";
			break;
		case 't':
			if (parse_u64(optarg, 1, 600000, &c->timeout_ms))
				bad = "--timeout-ms";
			break;
		case 'T':
			if (parse_u64(optarg, 1, 60000, &c->dns_timeout_ms))
				bad = "--dns-timeout-ms";
			break;
		case 'A':
			if (parse_u64(optarg, 1, 10, &v))
				bad = "--dns-attempts";
			c->dns_attempts = (unsigned)v;
			break;
		case 'm':
			if (parse_u64(optarg, 1, 10000000, &c->max_inflight))
				bad = "--max-inflight";
			break;
		case 's':
			if (parse_u64(optarg, 0, INT64_MAX, &c->seed))
				bad = "--seed";
			break;
		case 'w':
			if (parse_double(optarg, 0, 86400, &c->warmup_s))
				bad = "--warmup";
			break;
		case 'o':
			c->out = optarg;
			break;
		case 'S':
			c->series = optarg;
			break;
		case 'E':
			c->events = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return 2;
		}
		if (bad) {
			fprintf(stderr, "as-loadgen: bad value for %s: %s\n", bad, optarg);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "as-loadgen: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!c->resolver || !c->nnames || c->rate < 0 || c->duration_s < 0 || !c->out) {
		fprintf(stderr, "as-loadgen: --resolver, --name, --rate, --duration and --out are required\n");
		return 2;
	}
	if (c->warmup_s >= c->duration_s) {
		fprintf(stderr, "as-loadgen: --warmup must be shorter than --duration\n");
		return 2;
	}
	if ((uint64_t)c->clients * c->nnames > 16000000) {
		fprintf(stderr, "as-loadgen: --clients x names too large\n");
		return 2;
	}
	const struct sockaddr_storage *ss = &c->resolver_sa;
	bool allowed = ss->ss_family == AF_INET6
		? eval_addr6_allowed(((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr)
		: eval_addr4_allowed((const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
	if (!allowed) {
		fprintf(stderr, "as-loadgen: resolver %s is not a loopback or private address\n",
			c->resolver);
		return 2;
	}
	return 0;
}

/* ---- main ---------------------------------------------------------------- */

static int setup(struct lg *lg)
{
	struct cfg *c = &lg->cfg;
	uint64_t dur = (uint64_t)llround(c->duration_s * 1e9);
	uint64_t warm = (uint64_t)llround(c->warmup_s * 1e9);

	for (unsigned i = 0; i < c->nnames; i++) {
		struct name *n = &lg->names[i];
		n->host = c->names[i];
		if (eval_dns_name(n->host, n->qname, sizeof(n->qname), &n->qlen)) {
			fprintf(stderr, "as-loadgen: bad name %s\n", n->host);
			return 2;
		}
		/* Host header without a trailing dot. */
		int hl = (int)strlen(n->host);
		if (hl > 1 && n->host[hl - 1] == '.')
			hl--;
		for (int k = 0; k < 2; k++) {
			int len = asprintf(&n->get[k],
				"GET %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: as-loadgen\r\n%s\r\n",
				c->path, hl, n->host, k ? "" : "Connection: close\r\n");
			if (len < 0) {
				n->get[k] = NULL;
				return 1;
			}
			n->get_len[k] = (size_t)len;
		}
	}
	lg->sched = eval_sched_new(c->arrival, c->rate, dur, c->seed);
	lg->res = eval_results_new(dur, warm);
	lg->lag = eval_hist_new(EVAL_HIST_BITS);
	lg->byid = calloc(65536, sizeof(*lg->byid));
	lg->idle = calloc((size_t)c->clients * c->nnames, sizeof(*lg->idle));
	if (c->cache_ttl)
		lg->cache = eval_dnscache_new(c->clients, c->nnames);
	if (!lg->sched || !lg->res || !lg->lag || !lg->byid || !lg->idle ||
	    (c->cache_ttl && !lg->cache))
		return 1;
	as_rng_seed(&lg->rng, c->seed ^ 0x5eed5eed5eedull);
	for (size_t i = 0; i < (size_t)c->clients * c->nnames; i++)
		as_list_init(&lg->idle[i]);
	as_list_init(&lg->all);
	dl_init(&lg->ops);
	dl_init(&lg->dnsl);
	dl_init(&lg->drain);
	lg->hard_stop = dur + c->dns_timeout_ms * c->dns_attempts * 1000000ull +
			c->timeout_ms * 1000000ull *
				(c->try_next ? EVAL_DNS_MAX_ADDRS + 1 : 2) +
			EVAL_NS_PER_S;

	/* The schedule wants sub-millisecond wake-ups. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	lg->loop = uv_default_loop();
	lg->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lg->tfd < 0) {
		perror("as-loadgen: timerfd_create");
		return 1;
	}
	lg->dns_fd = socket(c->resolver_sa.ss_family,
			    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lg->dns_fd < 0 ||
	    connect(lg->dns_fd, (struct sockaddr *)&c->resolver_sa,
		    c->resolver_sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							 : sizeof(struct sockaddr_in)) < 0) {
		fprintf(stderr, "as-loadgen: resolver socket: %s\n", strerror(errno));
		return 1;
	}
	/* Answers that arrive while the loop is busy wait in the socket;
	 * a drop there would show up as a DNS timeout that the resolver did
	 * not cause. As root, pass net.core.rmem_max (SO_RCVBUFFORCE); the
	 * drops that remain are reported (dns_socket_drops). */
	int rcvbuf = 8 << 20;
	socklen_t sl = sizeof(rcvbuf);
	if (setsockopt(lg->dns_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(lg->dns_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (getsockopt(lg->dns_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &sl) == 0)
		lg->dns_rcvbuf = rcvbuf;
	uv_poll_init(lg->loop, &lg->dpoll, lg->dns_fd);
	lg->dpoll.data = lg;
	uv_poll_init(lg->loop, &lg->tpoll, lg->tfd);
	lg->tpoll.data = lg;
	uv_timer_init(lg->loop, &lg->tick);
	lg->tick.data = lg;
	uv_signal_init(lg->loop, &lg->sig_int);
	uv_signal_init(lg->loop, &lg->sig_term);
	lg->sig_int.data = lg->sig_term.data = lg;
	return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void teardown(struct lg *lg)
{
	if (lg->loop) {
		uv_run(lg->loop, UV_RUN_DEFAULT);
		uv_loop_close(lg->loop);
	}
	if (lg->tfd >= 0)
		close(lg->tfd);
	if (lg->dns_fd >= 0)
		close(lg->dns_fd);
	for (unsigned i = 0; i < MAX_NAMES; i++) {
		free(lg->names[i].get[0]);
		free(lg->names[i].get[1]);
	}
	eval_sched_free(lg->sched);
	eval_results_free(lg->res);
	eval_hist_free(lg->lag);
	eval_dnscache_free(lg->cache);
	free(lg->byid);
	free(lg->idle);
	free(lg);
}

int main(int argc, char **argv)
{
	struct lg *lg = calloc(1, sizeof(*lg));
	int rc;

	if (!lg)
		return 1;
	lg->tfd = -1;
	lg->dns_fd = -1;
	rc = parse_args(argc, argv, &lg->cfg);
	if (rc) {
		if (rc == 2)
			usage(stderr);
		free(lg);
		return rc == 1 ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = setup(lg);
	if (rc) {
		if (lg->loop)	/* close whatever setup opened */
			uv_walk(lg->loop, close_walk, NULL);
		if (rc == 2)
			usage(stderr);
		teardown(lg);
		return rc;
	}

	lg->t0 = mono_ns();
	if (lg->cfg.events) {
		char head[256];
		size_t n = eval_event_header(head, sizeof(head), lg->t0);
		lg->events = fopen(lg->cfg.events, "w");
		if (!lg->events || fwrite(head, 1, n, lg->events) != n ||
		    fflush(lg->events) != 0) {
			fprintf(stderr, "as-loadgen: cannot write %s\n", lg->cfg.events);
			if (lg->events)
				fclose(lg->events);
			uv_walk(lg->loop, close_walk, NULL);
			teardown(lg);
			return 1;
		}
	}
	uv_poll_start(&lg->dpoll, UV_READABLE, on_dns_readable);
	uv_poll_start(&lg->tpoll, UV_READABLE, on_timerfd);
	uv_timer_start(&lg->tick, on_tick, TICK_MS, TICK_MS);
	uv_signal_start(&lg->sig_int, on_signal, SIGINT);
	uv_signal_start(&lg->sig_term, on_signal, SIGTERM);
	arm(lg);
	uv_run(lg->loop, UV_RUN_DEFAULT);
	double wall = (double)now_ns(lg) / 1e9;

	rc = 0;
	json_t *j = eval_results_json(lg->res, config_json(&lg->cfg),
				      loadgen_json(lg, wall));
	if (!j || write_json(lg->cfg.out, j) != 0) {
		fprintf(stderr, "as-loadgen: cannot write %s\n", lg->cfg.out);
		rc = 1;
	}
	json_decref(j);
	if (lg->cfg.series && eval_results_write_series(lg->res, lg->cfg.series)) {
		fprintf(stderr, "as-loadgen: cannot write %s\n", lg->cfg.series);
		rc = 1;
	}
	if (lg->events && (fclose(lg->events) != 0 || lg->events_failed)) {
		fprintf(stderr, "as-loadgen: cannot write %s\n", lg->cfg.events);
		rc = 1;
	}
	teardown(lg);
	return rc;
}
