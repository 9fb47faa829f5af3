/*
 * dns/udp_uring.c - UDP back end: the worker's own io_uring.
 *
 * Design. Where the kernel allows it, each worker moves UDP through its
 * own io_uring instead of epoll + recvmmsg + sendmmsg: a multishot recvmsg per
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
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <liburing.h>

#include "dns/server_int.h"

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

/* One listener's multishot receive: its template (name and control
 * space it reserves in each buffer) and whether it is armed. */
struct uring_listener {
	struct msghdr rx_tmpl;
	bool recv_armed;
};

struct uring_state {
	struct io_uring ring;
	struct uring_listener *ul;	/* n_listen of them */
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
	free(u->ul);
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
static int uring_init(struct dns_worker *w)
{
	struct uring_state *u = calloc(1, sizeof(*u));
	size_t n = w->srv->n_listen;
	int err;

	if (!u)
		return AS_ENOMEM;
	w->udp_state = u;
	u->rx = malloc((size_t)URING_NBUF * URING_BUFSZ);
	u->tx = calloc(URING_NTX, sizeof(*u->tx));
	u->ul = calloc(n ? n : 1, sizeof(*u->ul));
	if (!u->rx || !u->tx || !u->ul)
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
		struct dns_listener *l = &w->ls[a];
		/* The control data follows the name in the buffer: keep
		 * it aligned for struct cmsghdr. */
		size_t nl = l->family == AF_INET6 ?
			sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		u->ul[a].rx_tmpl.msg_namelen =
			(socklen_t)((nl + 7) & ~(size_t)7);
		u->ul[a].rx_tmpl.msg_controllen =
			l->wildcard ? PKTINFO_SPACE : 0;
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

static void uring_arm_recv(struct dns_worker *w, size_t a)
{
	struct uring_state *u = w->udp_state;
	struct uring_listener *ul = &u->ul[a];
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return;	/* retried after the next round */
	io_uring_prep_recvmsg_multishot(sqe, w->ls[a].udp_fd, &ul->rx_tmpl,
					0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, UD(UD_RECV, a));
	ul->recv_armed = true;
}

static void uring_arm_poll(struct dns_worker *w)
{
	struct uring_state *u = w->udp_state;
	struct io_uring_sqe *sqe = uring_sqe(u);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, uv_backend_fd(&w->loop), POLLIN);
	io_uring_sqe_set_data64(sqe, UD(UD_POLL, 0));
	u->poll_armed = true;
}

/* Hands a query for a name outside the zone to the worker's forwarder,
 * with the peer and the reply's source address it needs for a late
 * reply. */
static void uring_forward(struct dns_worker *w, struct dns_listener *l,
			  struct uring_listener *ul,
			  struct io_uring_recvmsg_out *o, const uint8_t *q,
			  size_t qlen, struct uring_tx *tx,
			  struct dns_result *r)
{
	struct sockaddr_storage peer;
	struct msghdr mh;
	socklen_t plen = (socklen_t)AS_MIN((size_t)o->namelen,
					   (size_t)ul->rx_tmpl.msg_namelen);

	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, io_uring_recvmsg_name(o), AS_MIN((size_t)plen,
						       sizeof(peer)));
	memset(&mh, 0, sizeof(mh));
	if (l->wildcard) {
		for (struct cmsghdr *c =
			     io_uring_recvmsg_cmsg_firsthdr(o, &ul->rx_tmpl);
		     c; c = io_uring_recvmsg_cmsg_nexthdr(o, &ul->rx_tmpl, c))
			if (dns_sock_pktinfo_reply(c, l->family, tx->ctl, &mh))
				break;
	}
	dns_fwd_udp_result(w, l, &peer, plen, tx->ctl, mh.msg_controllen, q,
			   qlen, tx->data, sizeof(tx->data), r);
}

/* Answers one received datagram (or counts it unanswered) and queues the
 * reply; the receive buffer goes back to the ring either way. */
static void uring_recv(struct dns_worker *w, size_t a,
		       const struct io_uring_cqe *cqe,
		       const dns_view_t *view, bool paused, uint64_t now)
{
	struct uring_state *u = w->udp_state;
	struct dns_listener *l = &w->ls[a];
	struct uring_listener *ul = &u->ul[a];

	if (!(cqe->flags & IORING_CQE_F_MORE))
		ul->recv_armed = false;	/* re-armed after this round */
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
							 &ul->rx_tmpl) :
			       NULL;

	if (!o || (o->flags & MSG_TRUNC) || !view || paused ||
	    !u->n_free_tx || u->n_res == URING_NBUF) {
		dns_count_unanswered(w, DNS_TRANSPORT_UDP);
		goto recycle;
	}

	unsigned t = u->free_tx[u->n_free_tx - 1];
	struct uring_tx *tx = &u->tx[t];
	struct dns_result *r = &u->res[u->n_res];
	const uint8_t *q = io_uring_recvmsg_payload(o, &ul->rx_tmpl);
	size_t qlen = io_uring_recvmsg_payload_length(o, cqe->res, &ul->rx_tmpl);

	/* The peer before the answer: it may place the client (intents). */
	memset(&tx->peer, 0, sizeof(tx->peer));
	memcpy(&tx->peer, io_uring_recvmsg_name(o),
	       AS_MIN((size_t)o->namelen, (size_t)ul->rx_tmpl.msg_namelen));
	dns_answer_from(view, &w->rng, DNS_TRANSPORT_UDP, &tx->peer, q, qlen,
			tx->data, sizeof(tx->data), r);
	u->n_res++;
	if (r->forwardable && w->fwd)
		uring_forward(w, l, ul, o, q, qlen, tx, r);
	if (!r->send)
		goto recycle;
	if (w->fwd && !r->forwardable)
		dns_fwd_io_mark_ra(w->fwd, &tx->peer, tx->data, r->len);
	if (w->rrl) {
		dns_rrl_udp(w, &tx->peer, tx->data, r, now);
		if (!r->send)
			goto recycle;
	}
	struct io_uring_sqe *sqe = uring_sqe(u);
	if (!sqe) {
		dns_stat_add(&w->stats.dropped, 1);
		goto recycle;
	}
	memset(&tx->mh, 0, sizeof(tx->mh));
	tx->iov.iov_base = tx->data;
	tx->iov.iov_len = r->len;
	tx->mh.msg_name = &tx->peer;
	tx->mh.msg_namelen = AS_MIN(o->namelen, ul->rx_tmpl.msg_namelen);
	tx->mh.msg_iov = &tx->iov;
	tx->mh.msg_iovlen = 1;
	if (l->wildcard) {
		for (struct cmsghdr *c =
			     io_uring_recvmsg_cmsg_firsthdr(o, &ul->rx_tmpl);
		     c; c = io_uring_recvmsg_cmsg_nexthdr(o, &ul->rx_tmpl, c))
			if (dns_sock_pktinfo_reply(c, l->family, tx->ctl, &tx->mh))
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
static void uring_round(struct dns_worker *w)
{
	struct uring_state *u = w->udp_state;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	uint64_t t_recv = 0;
	const dns_view_t *view = w->view;
	bool paused = dns_srv_paused(w->srv);

	u->n_res = 0;
	io_uring_for_each_cqe(&u->ring, head, cqe) {
		seen++;
		switch (UD_KIND(cqe->user_data)) {
		case UD_RECV:
			if (!t_recv)
				t_recv = as_now_ns();
			if (UD_IDX(cqe->user_data) < w->srv->n_listen)
				uring_recv(w, UD_IDX(cqe->user_data), cqe,
					   view, paused, t_recv);
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
		if (!u->ul[a].recv_armed)
			uring_arm_recv(w, a);
}

/* The worker thread's loop when UDP runs on io_uring: wait on the ring
 * (replies submitted in the same call), run libuv when its descriptor
 * is readable or a timer is due, until the stop request closed it. */
static void uring_run(struct dns_worker *w)
{
	struct uring_state *u = w->udp_state;
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

static bool uring_busy(const struct dns_worker *w)
{
	const struct uring_state *u = w->udp_state;

	if (u->poll_armed || u->n_free_tx < URING_NTX)
		return true;
	for (size_t a = 0; a < w->srv->n_listen; a++)
		if (u->ul[a].recv_armed)
			return true;
	return false;
}

/* Cancels every request and reaps their last completions: the kernel
 * tears a ring down asynchronously, and a request that still held a
 * socket would keep its port bound for a while after the server
 * stopped. */
static void uring_quiesce(struct dns_worker *w)
{
	struct uring_state *u = w->udp_state;
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

/* The ring was made on the caller's thread, disabled, so that this
 * thread becomes its single issuer. */
static int uring_thread_run(struct dns_worker *w)
{
	struct uring_state *u = w->udp_state;
	int err;

	if ((err = uring_enable(&u->ring)) < 0)
		return err;
	/* Spares io_uring_enter() a descriptor lookup; the registration is
	 * per thread, so it is made here. */
	(void)io_uring_register_ring_fd(&u->ring);
	uring_run(w);
	uring_quiesce(w);
	/* Nothing is left in flight; the UDP sockets stay open until the
	 * worker is torn down. */
	io_uring_queue_exit(&u->ring);
	u->ring_inited = false;
	return AS_OK;
}

static void uring_deinit(struct dns_worker *w)
{
	uring_state_free(w->udp_state);
	w->udp_state = NULL;
}

const struct dns_udp_api dns_udp_uring = {
	.io = DNS_UDP_IO_URING,
	.init = uring_init,
	.run = uring_thread_run,
	.close = NULL,	/* uring_run ends when the worker is closed */
	.deinit = uring_deinit,
};
