/*
 * dns/fwd_io.c - a worker's forwarder: the sockets and timers around the
 * pure part in forward.c and fcache.c (design in forward.h).
 *
 * Design. Each worker has its own forwarder on its own loop: its own
 * cache (cache_bytes / workers), its own view of the upstreams' RTTs and
 * its own queries in flight, so nothing is shared between threads. Each
 * attempt of a query owns one connected socket, opened for it: the kernel
 * picks a random source port for every upstream query and drops datagrams
 * from any other address, so an off-path attacker has to guess the port,
 * the 16-bit ID and the 0x20 case together. The queries in flight sit on
 * one list in the order of their deadlines (every attempt gets the same
 * timeout), so one timer serves them all. A timeout or an error moves
 * the query to the next upstream (by smoothed RTT), round after round
 * until the total timeout; an answer with TC is asked again over TCP
 * from the same upstream. When no upstream answered in time the client
 * gets a stale answer if serve-stale is on and the cache has one, else
 * SERVFAIL.
 *
 * The in-zone path never comes here: dns_answer() marks only REFUSED
 * answers for names outside the zone as forwardable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns/forward.h"
#include "dns/server_int.h"
#include "dns/wire.h"
#include "lib/list.h"
#include "lib/sockaddr.h"

/* One attempt's socket; outlives its query until libuv closed it. */
struct fwd_sock {
	uv_poll_t poll;
	int fd;
	struct fwd_query *fq;	/* NULL once detached */
	bool tcp;
	uint8_t *tbuf;		/* TCP: the framed query, then the answer */
	size_t tlen, toff;
	bool twritten;
};

struct fwd_query {
	struct as_list link;	/* in f->inflight, by deadline */
	struct dns_fwd_io *f;
	struct dns_fwd_client c;
	struct dns_fwd_sent sent;
	uint8_t key[DNS_FWD_KEY_MAX];
	size_t klen;
	bool tried[DNS_FWD_UPSTREAMS_MAX];
	size_t up;		/* the upstream asked now */
	uint64_t sent_ms, deadline_ms, give_up_ms;
	uint8_t q[DNS_NAME_MAX + 32];	/* the upstream query */
	size_t qlen;
	struct fwd_sock *sock;
	/* Where the reply goes. */
	enum dns_transport t;
	int udp_fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint8_t ctl[PKTINFO_SPACE];
	size_t ctllen;
	uint64_t conn_id;
	void (*tcp_reply)(struct dns_worker *w, uint64_t conn_id,
			  const uint8_t *msg, size_t len);
};

struct dns_fwd_io {
	struct dns_worker *w;
	const struct dns_forward_config *cfg;	/* the server's copy */
	struct dns_fwd_ttl_limits lim;
	dns_fcache_t *cache;
	struct dns_fwd_upstream up[DNS_FWD_UPSTREAMS_MAX];
	struct as_list inflight;
	size_t n_inflight;
	uv_timer_t timer;
	bool timer_open;
	uint8_t reply[DNS_MSG_MAX];	/* scratch for replies */
	uint8_t rbuf[DNS_MSG_MAX];	/* scratch for UDP answers */
};

static struct dns_fwd_stats *fst(struct dns_fwd_io *f)
{
	return &f->w->stats.fwd;
}

static uint64_t now_ms(struct dns_fwd_io *f)
{
	return uv_now(&f->w->loop);
}

/* The cache's size, as gauges among the worker's counters. */
static void cache_gauges(struct dns_fwd_io *f)
{
	struct dns_fcache_stats st;

	dns_fcache_stats(f->cache, &st);
	__atomic_store_n(&fst(f)->cache_entries, st.entries, __ATOMIC_RELAXED);
	__atomic_store_n(&fst(f)->cache_bytes, st.bytes, __ATOMIC_RELAXED);
}

/* ---- the reply ---------------------------------------------------------- */

/* msg is the worker's scratch (f->reply), so RRL may cut it down. */
static void deliver(struct fwd_query *fq, uint8_t *msg, size_t len)
{
	struct dns_worker *w = fq->f->w;

	if (fq->t == DNS_TRANSPORT_TCP) {
		if (fq->tcp_reply)
			fq->tcp_reply(w, fq->conn_id, msg, len);
		return;
	}
	/* A late UDP reply is an amplification vector like any other. */
	if (w->rrl) {
		struct dns_result r = { .send = true, .len = len };
		dns_rrl_udp(w, &fq->peer, msg, &r, as_now_ns());
		if (r.rate_limited)
			dns_stat_add(r.send ? &w->stats.rrl_slipped :
				     &w->stats.rrl_dropped, 1);
		if (!r.send)
			return;
		len = r.len;
	}
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = {
		.msg_name = &fq->peer, .msg_namelen = fq->peerlen,
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = fq->ctllen ? fq->ctl : NULL,
		.msg_controllen = fq->ctllen,
	};
	ssize_t n;
	do
		n = sendmsg(fq->udp_fd, &mh, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		as_debug("dns: forward: reply: %s", strerror(errno));
}

static void reply_from(struct fwd_query *fq, const struct dns_fwd_msg *m,
		       uint32_t age, bool stale)
{
	struct dns_fwd_io *f = fq->f;
	size_t len;

	if (dns_fwd_reply(m, &fq->c, age, stale, fq->t == DNS_TRANSPORT_TCP,
			  f->reply, sizeof(f->reply), &len) == AS_OK)
		deliver(fq, f->reply, len);
}

/* ---- sockets ------------------------------------------------------------ */

static void sock_closed(uv_handle_t *h)
{
	struct fwd_sock *s = h->data;

	close(s->fd);
	free(s->tbuf);
	free(s);
}

/* Ends fq's attempt: its socket closes on its own. */
static void sock_detach(struct fwd_query *fq)
{
	struct fwd_sock *s = fq->sock;

	if (!s)
		return;
	fq->sock = NULL;
	s->fq = NULL;
	uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_event(uv_poll_t *h, int status, int events);

/* A connected, non-blocking socket to fq's upstream, watched for events;
 * NULL on failure. */
static struct fwd_sock *sock_open(struct fwd_query *fq, bool tcp, int events)
{
	struct dns_fwd_io *f = fq->f;
	const struct sockaddr_storage *to = &f->cfg->upstreams[fq->up];
	struct fwd_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = socket(to->ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) |
					      SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	if (connect(s->fd, (const struct sockaddr *)to,
		    as_sockaddr_len(to)) < 0 && errno != EINPROGRESS)
		goto fail;
	if (uv_poll_init(&f->w->loop, &s->poll, s->fd) != 0)
		goto fail;
	s->poll.data = s;
	s->fq = fq;
	s->tcp = tcp;
	uv_poll_start(&s->poll, events, on_event);
	return s;
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return NULL;
}

/* ---- queries in flight -------------------------------------------------- */

static void query_done(struct fwd_query *fq)
{
	sock_detach(fq);
	as_list_remove(&fq->link);
	fq->f->n_inflight--;
	free(fq);
}

static void timer_settle(struct dns_fwd_io *f);

/* No upstream answered in time: stale, or SERVFAIL. */
static void give_up(struct fwd_query *fq)
{
	struct dns_fwd_io *f = fq->f;
	const struct dns_fwd_msg *m = NULL;
	uint32_t age = 0;
	bool stale = false;
	size_t len;

	if (f->cfg->serve_stale_s)
		m = dns_fcache_get(f->cache, fq->key, fq->klen, now_ms(f),
				   true, f->cfg->serve_stale_s, &age, &stale);
	if (m) {
		dns_stat_add(&fst(f)->stale_answers, 1);
		reply_from(fq, m, age, stale);
	} else {
		dns_stat_add(&fst(f)->servfail, 1);
		if (dns_fwd_error_reply(&fq->c, DNS_RC_SERVFAIL, true,
					f->reply, sizeof(f->reply),
					&len) == AS_OK)
			deliver(fq, f->reply, len);
	}
	query_done(fq);
}

/* Asks the next upstream over UDP; false when none can be asked before
 * the total timeout. */
static bool attempt(struct fwd_query *fq)
{
	struct dns_fwd_io *f = fq->f;
	size_t n = f->cfg->n_upstreams;
	bool round = false;

	sock_detach(fq);
	while (now_ms(f) < fq->give_up_ms) {
		fq->up = dns_fwd_pick(f->up, n, fq->tried, &f->w->rng);
		if (fq->up >= n) {
			if (round)
				return false;	/* none could be opened */
			round = true;		/* all asked: again */
			memset(fq->tried, 0, sizeof(fq->tried));
			continue;
		}
		fq->tried[fq->up] = true;
		uint16_t id = (uint16_t)as_rng_next(&f->w->rng);
		if (dns_fwd_query_build(&fq->c, id,
					f->cfg->no_0x20 ? NULL : &f->w->rng,
					fq->q, sizeof(fq->q), &fq->qlen,
					&fq->sent) != AS_OK)
			return false;
		fq->sock = sock_open(fq, false, UV_READABLE);
		if (!fq->sock)
			continue;
		ssize_t sent = send(fq->sock->fd, fq->q, fq->qlen,
				    MSG_DONTWAIT);
		if (sent != (ssize_t)fq->qlen) {
			sock_detach(fq);
			continue;
		}
		dns_stat_add(&fst(f)->upstream_queries, 1);
		fq->sent_ms = now_ms(f);
		fq->deadline_ms = AS_MIN(fq->sent_ms + f->cfg->timeout_ms,
					 fq->give_up_ms);
		as_list_remove(&fq->link);
		as_list_push_back(&f->inflight, &fq->link);
		return true;
	}
	return false;
}

/* The attempt failed (timeout or error): penalise, try the next. */
static void attempt_failed(struct fwd_query *fq)
{
	struct dns_fwd_io *f = fq->f;

	dns_stat_add(&fst(f)->upstream_timeouts, 1);
	dns_fwd_timeout(&f->up[fq->up], f->cfg->timeout_ms * 1000);
	if (!attempt(fq))
		give_up(fq);
	timer_settle(f);
}

/* TC from UDP: the same question over TCP to the same upstream. */
static void retry_tcp(struct fwd_query *fq)
{
	struct dns_fwd_io *f = fq->f;

	sock_detach(fq);
	dns_stat_add(&fst(f)->tcp_retries, 1);
	fq->sock = sock_open(fq, true, UV_WRITABLE);
	if (fq->sock) {
		fq->sock->tbuf = malloc(2 + fq->qlen);
		if (fq->sock->tbuf) {
			fq->sock->tbuf[0] = (uint8_t)(fq->qlen >> 8);
			fq->sock->tbuf[1] = (uint8_t)fq->qlen;
			memcpy(fq->sock->tbuf + 2, fq->q, fq->qlen);
			fq->sock->tlen = 2 + fq->qlen;
			fq->deadline_ms = AS_MIN(now_ms(f) + f->cfg->timeout_ms,
						 fq->give_up_ms);
			as_list_remove(&fq->link);
			as_list_push_back(&f->inflight, &fq->link);
			timer_settle(f);
			return;
		}
	}
	attempt_failed(fq);
}

/* A response arrived: checked, parsed, replied, cached. false: not an
 * answer to us (dropped and counted), keep waiting. */
static bool take_answer(struct fwd_query *fq, const uint8_t *b, size_t len)
{
	struct dns_fwd_io *f = fq->f;
	struct dns_fwd_msg *m;
	enum dns_fwd_bad why;

	if (dns_fwd_parse(b, len, &fq->sent, &f->lim, &m, &why) != AS_OK) {
		if (why > DNS_FWD_OK && why <= DNS_FWD_BAD_REASONS)
			dns_stat_add(&fst(f)->bad_responses[why - 1], 1);
		return false;
	}
	if (m->tc && !fq->sock->tcp) {
		dns_fwd_msg_free(m);
		retry_tcp(fq);
		return true;
	}
	uint64_t rtt = (now_ms(f) - fq->sent_ms) * 1000;
	dns_fwd_rtt(&f->up[fq->up], (uint32_t)AS_MIN(rtt, (uint64_t)UINT32_MAX));
	reply_from(fq, m, 0, false);
	dns_fcache_put(f->cache, fq->key, fq->klen, m, now_ms(f));
	cache_gauges(f);
	query_done(fq);
	timer_settle(f);
	return true;
}

static void udp_readable(struct fwd_query *fq)
{
	struct dns_fwd_io *f = fq->f;
	int fd = fq->sock->fd;

	for (;;) {
		ssize_t n = recv(fd, f->rbuf, sizeof(f->rbuf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				attempt_failed(fq);	/* e.g. ICMP refused */
			return;
		}
		if (take_answer(fq, f->rbuf, (size_t)n))
			return;
	}
}

static void tcp_event(struct fwd_query *fq, int events)
{
	struct fwd_sock *s = fq->sock;

	if (!s->twritten && (events & UV_WRITABLE)) {
		ssize_t n = send(s->fd, s->tbuf + s->toff, s->tlen - s->toff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			attempt_failed(fq);
			return;
		}
		if (n > 0)
			s->toff += (size_t)n;
		if (s->toff == s->tlen) {
			s->twritten = true;
			s->toff = s->tlen = 0;
			uv_poll_start(&s->poll, UV_READABLE, on_event);
		}
		return;
	}
	if (!(events & UV_READABLE))
		return;
	if (s->tlen == 0) {	/* room for the length and one message */
		uint8_t *nb = realloc(s->tbuf, 2 + DNS_MSG_MAX);
		if (!nb) {
			attempt_failed(fq);
			return;
		}
		s->tbuf = nb;
		s->tlen = 2 + DNS_MSG_MAX;
	}
	ssize_t n = recv(s->fd, s->tbuf + s->toff, s->tlen - s->toff,
			 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {	/* closed or failed before the whole answer */
		attempt_failed(fq);
		return;
	}
	s->toff += (size_t)n;
	if (s->toff < 2)
		return;
	size_t mlen = (size_t)s->tbuf[0] << 8 | s->tbuf[1];
	if (s->toff < 2 + mlen)
		return;
	if (!take_answer(fq, s->tbuf + 2, mlen))
		attempt_failed(fq);	/* one message per connection */
}

static void on_event(uv_poll_t *h, int status, int events)
{
	struct fwd_sock *s = h->data;
	struct fwd_query *fq = s->fq;

	if (!fq)
		return;
	if (status < 0) {
		attempt_failed(fq);
		return;
	}
	if (s->tcp)
		tcp_event(fq, events);
	else
		udp_readable(fq);
}

static void on_timer(uv_timer_t *t)
{
	struct dns_fwd_io *f = t->data;
	uint64_t now = now_ms(f);
	struct as_list *n;

	/* Attempts that fail re-enter at the tail with a later deadline,
	 * so this ends. */
	while ((n = as_list_first(&f->inflight))) {
		struct fwd_query *fq = AS_LIST_ENTRY(n, struct fwd_query, link);
		if (fq->deadline_ms > now)
			break;
		dns_stat_add(&fst(f)->upstream_timeouts, 1);
		dns_fwd_timeout(&f->up[fq->up], f->cfg->timeout_ms * 1000);
		if (!attempt(fq))
			give_up(fq);
	}
	timer_settle(f);
}

static void timer_settle(struct dns_fwd_io *f)
{
	struct as_list *n = as_list_first(&f->inflight);

	if (!f->timer_open)
		return;
	if (!n) {
		uv_timer_stop(&f->timer);
		return;
	}
	struct fwd_query *fq = AS_LIST_ENTRY(n, struct fwd_query, link);
	uint64_t now = now_ms(f);
	uv_timer_start(&f->timer, on_timer,
		       fq->deadline_ms > now ? fq->deadline_ms - now : 0, 0);
}

/* ---- the worker's side -------------------------------------------------- */

int dns_fwd_io_new(struct dns_worker *w, const struct dns_forward_config *cfg,
		   unsigned n_workers, struct dns_fwd_io **out)
{
	struct dns_fwd_io *f = calloc(1, sizeof(*f));
	int err;

	*out = NULL;
	if (!f)
		return AS_ENOMEM;
	f->w = w;
	f->cfg = cfg;
	f->lim.max = cfg->max_ttl;
	f->lim.neg_max = cfg->neg_max_ttl;
	as_list_init(&f->inflight);
	err = dns_fcache_new(cfg->cache_bytes / (n_workers ? n_workers : 1),
			     &f->cache);
	if (err)
		goto fail;
	if (uv_timer_init(&w->loop, &f->timer) != 0) {
		err = AS_ELIB;
		goto fail;
	}
	f->timer.data = f;
	f->timer_open = true;
	*out = f;
	return AS_OK;
fail:
	dns_fcache_free(f->cache);
	free(f);
	return err;
}

void dns_fwd_io_close(struct dns_fwd_io *f)
{
	struct as_list *n;

	if (!f)
		return;
	while ((n = as_list_first(&f->inflight)))
		query_done(AS_LIST_ENTRY(n, struct fwd_query, link));
	if (f->timer_open) {
		f->timer_open = false;
		uv_close((uv_handle_t *)&f->timer, NULL);
	}
}

void dns_fwd_io_free(struct dns_fwd_io *f)
{
	if (!f)
		return;
	dns_fcache_free(f->cache);
	free(f);
}

void dns_fwd_io_upstreams(const struct dns_fwd_io *f,
			  struct dns_fwd_upstream *out)
{
	for (size_t i = 0; i < f->cfg->n_upstreams; i++) {
		out[i].srtt_us = __atomic_load_n(&f->up[i].srtt_us,
						 __ATOMIC_RELAXED);
		out[i].queries = __atomic_load_n(&f->up[i].queries,
						 __ATOMIC_RELAXED);
		out[i].answers = __atomic_load_n(&f->up[i].answers,
						 __ATOMIC_RELAXED);
		out[i].timeouts = __atomic_load_n(&f->up[i].timeouts,
						  __ATOMIC_RELAXED);
	}
}

void dns_fwd_io_mark_ra(const struct dns_fwd_io *f,
			const struct sockaddr_storage *peer, uint8_t *msg,
			size_t len)
{
	if (len >= 4 && dns_prefix_match(f->cfg->allow, f->cfg->n_allow, peer))
		msg[3] |= 0x80;
}

enum dns_fwd_verdict dns_fwd_io_query(struct dns_fwd_io *f,
				      const struct dns_fwd_origin *o,
				      const uint8_t *query, size_t qlen,
				      uint8_t *out, size_t cap, size_t *len)
{
	struct dns_fwd_client c;
	uint8_t key[DNS_FWD_KEY_MAX];
	uint32_t age;
	bool stale;

	if (!dns_prefix_match(f->cfg->allow, f->cfg->n_allow, o->peer)) {
		dns_stat_add(&fst(f)->refused, 1);
		return DNS_FWD_KEEP;
	}
	if (dns_fwd_client_parse(query, qlen, &c) != AS_OK)
		return DNS_FWD_KEEP;
	dns_stat_add(&fst(f)->queries, 1);
	size_t klen = dns_fwd_key(&c, key);
	const struct dns_fwd_msg *m = dns_fcache_get(f->cache, key, klen,
						     now_ms(f), false, 0,
						     &age, &stale);
	if (m) {
		dns_stat_add(&fst(f)->cache_hits, 1);
		if (dns_fwd_reply(m, &c, age, false,
				  o->t == DNS_TRANSPORT_TCP, out, cap,
				  len) == AS_OK)
			return DNS_FWD_REPLACED;
		return DNS_FWD_DROP;
	}
	dns_stat_add(&fst(f)->cache_misses, 1);
	cache_gauges(f);	/* the lookup may have dropped an old entry */
	if (f->n_inflight >= f->cfg->max_pending) {
		dns_stat_add(&fst(f)->overflow, 1);
		return DNS_FWD_DROP;
	}
	struct fwd_query *fq = calloc(1, sizeof(*fq));
	if (!fq) {
		dns_stat_add(&fst(f)->overflow, 1);
		return DNS_FWD_DROP;
	}
	fq->f = f;
	fq->c = c;
	memcpy(fq->key, key, klen);
	fq->klen = klen;
	fq->t = o->t;
	fq->udp_fd = o->udp_fd;
	fq->conn_id = o->conn_id;
	fq->tcp_reply = o->tcp_reply;
	if (o->t == DNS_TRANSPORT_UDP) {
		memcpy(&fq->peer, o->peer, AS_MIN((size_t)o->peerlen,
						  sizeof(fq->peer)));
		fq->peerlen = o->peerlen;
		if (o->ctllen && o->ctllen <= sizeof(fq->ctl)) {
			memcpy(fq->ctl, o->ctl, o->ctllen);
			fq->ctllen = o->ctllen;
		}
	}
	fq->give_up_ms = now_ms(f) + f->cfg->total_timeout_ms;
	as_list_push_back(&f->inflight, &fq->link);
	f->n_inflight++;
	if (!attempt(fq)) {
		query_done(fq);
		dns_stat_add(&fst(f)->servfail, 1);
		if (dns_fwd_error_reply(&c, DNS_RC_SERVFAIL, true, out, cap,
					len) == AS_OK)
			return DNS_FWD_REPLACED;
		return DNS_FWD_DROP;
	}
	timer_settle(f);
	return DNS_FWD_PENDING;
}

void dns_fwd_udp_result(struct dns_worker *w, struct dns_listener *l,
			const struct sockaddr_storage *peer, socklen_t peerlen,
			const uint8_t *ctl, size_t ctllen, const uint8_t *q,
			size_t qlen, uint8_t *out, size_t cap,
			struct dns_result *r)
{
	struct dns_fwd_origin o = {
		.t = DNS_TRANSPORT_UDP, .peer = peer, .peerlen = peerlen,
		.udp_fd = l->udp_fd, .ctl = ctl, .ctllen = ctllen,
	};
	size_t len = 0;

	switch (dns_fwd_io_query(w->fwd, &o, q, qlen, out, cap, &len)) {
	case DNS_FWD_KEEP:
		break;
	case DNS_FWD_REPLACED:
		r->len = len;
		r->rcode = out[3] & 0x0F;
		r->truncated = out[2] & 0x02;
		r->forwarded = true;
		break;
	case DNS_FWD_PENDING:
		r->send = false;
		r->forwarded = true;
		break;
	case DNS_FWD_DROP:
		r->send = false;
		break;
	}
}
