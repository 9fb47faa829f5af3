/*
 * dns/udp_mmsg.c - UDP back end: recvmmsg/sendmmsg on the worker's loop.
 *
 * Design. A uv_poll on each UDP socket; when one is readable, recvmmsg()
 * reads up to UDP_BATCH queries into the worker's preallocated buffers,
 * dns_answer() answers each, and one sendmmsg() sends the replies, for
 * at most UDP_BATCHES_PER_WAKEUP batches before the rest of the loop
 * runs. Nothing is allocated and nothing is locked per query; the clock
 * is read once when a batch arrives and once after it is answered. On
 * wildcard addresses the destination address of each query comes in
 * IP(V6)_PKTINFO and is used as the source of the reply, which is what
 * makes anycast work when the socket is bound to [::]. The batch is one
 * function on purpose: it is the hot path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/server_int.h"

#define UDP_BATCH 32			/* messages per recvmmsg/sendmmsg */
#define UDP_BATCHES_PER_WAKEUP 8	/* then yield to the rest of the loop */

/* One listener's watcher. */
struct mmsg_listener {
	uv_poll_t poll;
	struct dns_listener *l;
	bool inited;
};

/* The batch state, preallocated per worker. */
struct mmsg_state {
	struct mmsg_listener *ml;	/* n_listen of them */
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
};

static void udp_reply_pktinfo(struct mmsg_state *m, unsigned i, int family,
			      struct msghdr *sh)
{
	struct msghdr *rh = &m->rmsg[i].msg_hdr;

	sh->msg_control = NULL;
	sh->msg_controllen = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(rh); c; c = CMSG_NXTHDR(rh, c))
		if (dns_sock_pktinfo_reply(c, family, m->sctl[i], sh))
			return;
}

/* One recvmmsg batch; returns how many messages were read (0: none). */
static int udp_batch(struct dns_listener *l)
{
	struct dns_worker *w = l->w;
	struct mmsg_state *m = w->udp_state;
	unsigned n_out = 0;
	int n;

	for (unsigned i = 0; i < UDP_BATCH; i++) {
		struct msghdr *h = &m->rmsg[i].msg_hdr;
		h->msg_name = &m->peer[i];
		h->msg_namelen = sizeof(m->peer[i]);
		h->msg_iov = &m->riov[i];
		h->msg_iovlen = 1;
		h->msg_control = l->wildcard ? m->rctl[i] : NULL;
		h->msg_controllen = l->wildcard ? sizeof(m->rctl[i]) : 0;
		h->msg_flags = 0;
		m->rmsg[i].msg_len = 0;
	}
	do
		n = recvmmsg(l->udp_fd, m->rmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			as_debug("dns: worker %u: recvmmsg: %s", w->idx,
				 strerror(errno));
		return 0;
	}

	uint64_t t_recv = as_now_ns();
	const dns_view_t *view = w->view;
	bool paused = dns_srv_paused(w->srv);

	for (int i = 0; i < n; i++) {
		struct dns_result *r = &m->res[i];
		r->send = false;
		m->counted[i] = !view || paused ||
				(m->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC);
		if (m->counted[i]) {
			dns_count_unanswered(w, DNS_TRANSPORT_UDP);
			continue;
		}
		dns_answer_from(view, &w->rng, DNS_TRANSPORT_UDP, &m->peer[i],
				m->rbuf[i], m->rmsg[i].msg_len, m->obuf[i],
				sizeof(m->obuf[i]), r);
		struct msghdr *sh = &m->smsg[n_out].msg_hdr;
		if (r->forwardable && w->fwd) {
			size_t ctllen = 0;
			if (l->wildcard) {
				udp_reply_pktinfo(m, (unsigned)i, l->family, sh);
				ctllen = sh->msg_controllen;
			}
			dns_fwd_udp_result(w, l, &m->peer[i],
					   m->rmsg[i].msg_hdr.msg_namelen,
					   m->sctl[i], ctllen, m->rbuf[i],
					   m->rmsg[i].msg_len, m->obuf[i],
					   sizeof(m->obuf[i]), r);
		} else if (w->fwd && r->send) {
			dns_fwd_io_mark_ra(w->fwd, &m->peer[i], m->obuf[i], r->len);
		}
		if (r->send && w->rrl)
			dns_rrl_udp(w, &m->peer[i], m->obuf[i], r, t_recv);
		if (!r->send)
			continue;
		m->siov[n_out].iov_base = m->obuf[i];
		m->siov[n_out].iov_len = r->len;
		sh->msg_name = &m->peer[i];
		sh->msg_namelen = m->rmsg[i].msg_hdr.msg_namelen;
		sh->msg_iov = &m->siov[n_out];
		sh->msg_iovlen = 1;
		sh->msg_flags = 0;
		if (l->wildcard)
			udp_reply_pktinfo(m, (unsigned)i, l->family, sh);
		else {
			sh->msg_control = NULL;
			sh->msg_controllen = 0;
		}
		n_out++;
	}

	uint64_t lat = as_now_ns() - t_recv;
	for (int i = 0; i < n; i++) {
		if (!m->counted[i])
			dns_stats_count(&w->stats, DNS_TRANSPORT_UDP,
					&m->res[i], lat);
	}

	for (unsigned off = 0; off < n_out;) {
		int s = sendmmsg(l->udp_fd, m->smsg + off, n_out - off, 0);
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
	struct dns_listener *l = ((struct mmsg_listener *)h->data)->l;

	(void)events;
	if (status < 0) {
		as_debug("dns: worker %u: udp poll: %s", l->w->idx,
			 uv_strerror(status));
		return;
	}
	for (int b = 0; b < UDP_BATCHES_PER_WAKEUP; b++)
		if (udp_batch(l) < UDP_BATCH)
			break;
}

static void udp_closed(uv_handle_t *h)
{
	struct dns_listener *l = ((struct mmsg_listener *)h->data)->l;
	close(l->udp_fd);
	l->udp_fd = -1;
}

/* Watches address a's UDP socket with the loop. */
static int udp_poll_start(struct dns_worker *w, size_t a)
{
	struct mmsg_state *m = w->udp_state;
	struct mmsg_listener *ml = &m->ml[a];
	char buf[AS_SOCKADDR_STRLEN];
	int err;

	ml->l = &w->ls[a];
	if ((err = uv_poll_init(&w->loop, &ml->poll, ml->l->udp_fd))) {
		as_err("dns: cannot watch %s (udp): %s",
		       as_format_sockaddr(&w->srv->addrs[a], buf, sizeof(buf)),
		       uv_strerror(err));
		return AS_ELIB;
	}
	ml->poll.data = ml;
	ml->inited = true;
	if ((err = uv_poll_start(&ml->poll, UV_READABLE, udp_readable))) {
		as_err("dns: cannot watch %s (udp): %s",
		       as_format_sockaddr(&w->srv->addrs[a], buf, sizeof(buf)),
		       uv_strerror(err));
		return AS_ELIB;
	}
	return AS_OK;
}

static int mmsg_init(struct dns_worker *w)
{
	size_t n = w->srv->n_listen;
	struct mmsg_state *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return AS_ENOMEM;
	w->udp_state = m;
	m->ml = calloc(n ? n : 1, sizeof(*m->ml));
	if (!m->ml)
		return AS_ENOMEM;
	for (unsigned k = 0; k < UDP_BATCH; k++) {
		m->riov[k].iov_base = m->rbuf[k];
		m->riov[k].iov_len = sizeof(m->rbuf[k]);
	}
	for (size_t a = 0; a < n; a++)
		if ((err = udp_poll_start(w, a)))
			return err;
	return AS_OK;
}

/* The sockets close with their watchers (udp_closed). */
static void mmsg_close(struct dns_worker *w)
{
	struct mmsg_state *m = w->udp_state;

	if (!m || !m->ml)
		return;
	for (size_t a = 0; a < w->srv->n_listen; a++) {
		struct mmsg_listener *ml = &m->ml[a];
		if (ml->inited && !uv_is_closing((uv_handle_t *)&ml->poll))
			uv_close((uv_handle_t *)&ml->poll, udp_closed);
	}
}

static void mmsg_deinit(struct dns_worker *w)
{
	struct mmsg_state *m = w->udp_state;

	if (!m)
		return;
	free(m->ml);
	free(m);
	w->udp_state = NULL;
}

const struct dns_udp_api dns_udp_mmsg = {
	.io = DNS_UDP_IO_MMSG,
	.init = mmsg_init,
	.run = NULL,
	.close = mmsg_close,
	.deinit = mmsg_deinit,
};
