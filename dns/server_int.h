/*
 * dns/server_int.h - what the listener files of the DNS module share
 * (server.c, socket.c, udp_mmsg.c, udp_uring.c, tcp.c); not for other
 * modules.
 *
 * Design. A worker is one thread with its own libuv loop and, for every
 * configured address, a struct dns_listener: its own UDP and TCP socket.
 * server.c owns the worker life cycle (create, start, publish a view,
 * stop, free) and the public API; socket.c makes and binds the sockets;
 * tcp.c serves TCP (RFC 7766). UDP goes through one of two back ends
 * behind struct dns_udp_api, as Knot's udp_api_t swaps recvmsg and
 * recvmmsg: recvmmsg/sendmmsg on the worker's libuv loop (udp_mmsg.c) or
 * the worker's own io_uring (udp_uring.c). Each back end keeps its state
 * behind dns_worker.udp_state; nothing outside its file looks into it.
 */
#ifndef ANYSTEER_DNS_SERVER_INT_H
#define ANYSTEER_DNS_SERVER_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "dns/conntab.h"
#include "dns/dns.h"
#include "dns/forward.h"
#include "dns/rrl.h"
#include "lib/as.h"
#include "lib/list.h"

#define UDP_RX_MAX 4096			/* larger UDP queries are dropped */

/* Big enough for either IP_PKTINFO or IPV6_PKTINFO. */
#define PKTINFO_SPACE \
	CMSG_SPACE(sizeof(struct in6_pktinfo) > sizeof(struct in_pktinfo) ? \
		   sizeof(struct in6_pktinfo) : sizeof(struct in_pktinfo))

struct dns_worker;
struct dns_tcp_conn;

/* One address of one worker: its UDP and TCP socket. */
struct dns_listener {
	struct dns_worker *w;
	int family;
	bool wildcard;
	int udp_fd;		/* ours until a back end or teardown closes it */
	int tcp_fd;		/* listening; ours until closed in tcp_closed */
	bool tcp_inited, backoff_inited;
	bool accept_paused;	/* backing off after a failed accept */
	uv_poll_t tcp;		/* accept readiness */
	uv_timer_t backoff;
};

/* A UDP back end. Every hook but run takes a worker whose thread is not
 * running (the caller's thread, before start or after the join), except
 * close, which runs where the worker's loop runs. */
struct dns_udp_api {
	enum dns_udp_io io;
	/* Allocates the state and hooks the UDP sockets to the worker
	 * (the loop exists). On error what was set up stays for close
	 * and deinit. */
	int (*init)(struct dns_worker *w);
	/* On the worker thread before its libuv loop runs; NULL when the
	 * loop alone drives the back end. Runs until the stop request
	 * closed the worker; a negative return means it could not start
	 * here and nothing ran (the worker falls back to recvmmsg). */
	int (*run)(struct dns_worker *w);
	/* The stop request: closes the back end's loop handles (the loop
	 * runs their callbacks). NULL: nothing to close. */
	void (*close)(struct dns_worker *w);
	/* Frees the state; idempotent. */
	void (*deinit)(struct dns_worker *w);
};

extern const struct dns_udp_api dns_udp_mmsg;	/* udp_mmsg.c */
extern const struct dns_udp_api dns_udp_uring;	/* udp_uring.c */

struct dns_worker {
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
	const struct dns_udp_api *udp;	/* NULL until the loop is set up */
	void *udp_state;		/* the back end's */
	struct as_rng rng;
	struct dns_stats stats;	/* written by this worker only */

	struct dns_listener *ls;	/* n_listen of them */
	struct as_list conns;		/* of struct dns_tcp_conn */
	size_t n_conns;
	struct dns_conntab ct;
	bool any_paused;	/* some listener is backing off */
	uint64_t next_conn_id;	/* names a TCP connection for late replies */
	struct dns_fwd_io *fwd;	/* NULL: forwarding off */
	dns_rrl_t *rrl;		/* NULL: rate limiting off */

	/* TCP reply scratch: 2-byte length then the message. */
	uint8_t tcp_out[2 + DNS_MSG_MAX];
};

enum dns_srv_state { SRV_NEW, SRV_RUNNING, SRV_STOPPED };

struct dns_server {
	struct sockaddr_storage *addrs;	/* as bound, port 0 resolved */
	size_t n_listen;
	unsigned n_workers;
	struct dns_worker **workers;
	uint32_t tcp_idle_ms;
	uint32_t tcp_msg_ms;
	struct dns_conntab_limits tcp_lim;	/* per worker */
	struct as_ratelimit accept_log;	/* shared by the workers */
	enum dns_srv_state state;
	enum dns_udp_io udp_cfg;	/* as configured */
	enum dns_udp_io udp_io;		/* in use: URING or MMSG */
	bool paused;		/* atomic: test hook */
	/* The forwarding configuration, copied; fwd_on false: off. */
	bool fwd_on;
	struct dns_forward_config fwd;
	struct sockaddr_storage fwd_up[DNS_FWD_UPSTREAMS_MAX];
	struct dns_prefix *fwd_allow;
	bool rrl_on;
	struct dns_rrl_config rrl_cfg;
};

/* ---- counters --------------------------------------------------------- */

/* The worker is the only writer; relaxed stores keep the monitoring
 * readers' loads well defined without costing anything on x86/arm64. */
static inline void dns_stat_add(uint64_t *p, uint64_t d)
{
	__atomic_store_n(p, *p + d, __ATOMIC_RELAXED);
}

static inline void dns_stat_sub(uint64_t *p, uint64_t d)
{
	__atomic_store_n(p, *p - d, __ATOMIC_RELAXED);
}

/* A message not handed to dns_answer (no view, paused, oversized). */
static inline void dns_count_unanswered(struct dns_worker *w,
					enum dns_transport t)
{
	dns_stat_add(&w->stats.queries, 1);
	dns_stat_add(t == DNS_TRANSPORT_UDP ? &w->stats.udp_queries :
		     &w->stats.tcp_queries, 1);
	dns_stat_add(&w->stats.dropped, 1);
}

/* Response rate limiting of a UDP reply (r->len bytes in out) to peer,
 * when w->rrl is set: keeps it, drops it (send false) or cuts it down to
 * a truncated one; rate_limited marks the last two for the counters. */
static inline void dns_rrl_udp(struct dns_worker *w,
			       const struct sockaddr_storage *peer,
			       uint8_t *out, struct dns_result *r, uint64_t now)
{
	switch (dns_rrl_check(w->rrl, peer, out, r->len, now)) {
	case DNS_RRL_PASS:
		return;
	case DNS_RRL_DROP:
		r->send = false;
		r->rate_limited = true;
		return;
	case DNS_RRL_SLIP:
		r->len = dns_rrl_slip(out, r->len);
		r->truncated = true;
		r->rate_limited = true;
		return;
	}
}

static inline bool dns_srv_paused(const dns_server_t *srv)
{
	return __atomic_load_n(&srv->paused, __ATOMIC_RELAXED);
}

/* ---- socket.c ----------------------------------------------------------- */

/* Binds the UDP and TCP socket of address a for every worker and stores
 * the address as bound in srv->addrs[a]. */
int dns_sock_bind_address(dns_server_t *srv, size_t a,
			  const struct sockaddr_storage *want);
/* Turns the query's destination address (an IP(V6)_PKTINFO cmsg c) into
 * the reply's control data in out (PKTINFO_SPACE bytes) and points sh at
 * it, so a wildcard socket answers from the address that was asked;
 * false if c is not that cmsg. */
bool dns_sock_pktinfo_reply(const struct cmsghdr *c, int family,
			    uint8_t *out, struct msghdr *sh);

/* ---- fwd_io.c (design there) ------------------------------------------- */

struct dns_fwd_io;

enum dns_fwd_verdict {
	DNS_FWD_KEEP,		/* send dns_answer's REFUSED as it is */
	DNS_FWD_REPLACED,	/* out holds the reply (cache, SERVFAIL) */
	DNS_FWD_PENDING,	/* the reply goes later, from the forwarder */
	DNS_FWD_DROP,		/* no reply (counted) */
};

/* Where a forwarded query came from, and where its reply goes. */
struct dns_fwd_origin {
	enum dns_transport t;
	const struct sockaddr_storage *peer;
	socklen_t peerlen;
	int udp_fd;		/* UDP: the listener's socket */
	const uint8_t *ctl;	/* UDP: the reply's control data (PKTINFO) */
	size_t ctllen;
	uint64_t conn_id;	/* TCP: the connection */
	/* TCP: sends a late reply on connection conn_id if it is still
	 * open (tcp.c's; a hook, so the forwarder knows no transport). */
	void (*tcp_reply)(struct dns_worker *w, uint64_t conn_id,
			  const uint8_t *msg, size_t len);
};

/* On the creating thread, with the worker's loop initialised. */
int dns_fwd_io_new(struct dns_worker *w, const struct dns_forward_config *cfg,
		   unsigned n_workers, struct dns_fwd_io **out);
/* At stop, on the loop's thread: drops the queries in flight and closes
 * the handles (the loop runs their callbacks). */
void dns_fwd_io_close(struct dns_fwd_io *f);
void dns_fwd_io_free(struct dns_fwd_io *f);	/* NULL ok; after the loop */
/* For a dns_answer result with forwardable set (out/cap as given to it). */
enum dns_fwd_verdict dns_fwd_io_query(struct dns_fwd_io *f,
				      const struct dns_fwd_origin *o,
				      const uint8_t *query, size_t qlen,
				      uint8_t *out, size_t cap, size_t *len);
/* A client that may ask for other names is served recursion: set RA in
 * the reply msg (len bytes) the zone gave it, for such a client only. */
void dns_fwd_io_mark_ra(const struct dns_fwd_io *f,
			const struct sockaddr_storage *peer, uint8_t *msg,
			size_t len);
/* Relaxed copies of the worker's upstream records (n_upstreams). */
void dns_fwd_io_upstreams(const struct dns_fwd_io *f,
			  struct dns_fwd_upstream *out);
/* Takes a UDP back end's result r for query q: keeps it, replaces the
 * reply in out, or marks it forwarded (no reply now). */
void dns_fwd_udp_result(struct dns_worker *w, struct dns_listener *l,
			const struct sockaddr_storage *peer, socklen_t peerlen,
			const uint8_t *ctl, size_t ctllen, const uint8_t *q,
			size_t qlen, uint8_t *out, size_t cap,
			struct dns_result *r);

/* ---- tcp.c -------------------------------------------------------------- */

/* Timeouts and per-worker limits from cfg (defaults for zeros). */
void dns_tcp_configure(dns_server_t *srv, const struct dns_server_config *cfg);
/* Listens on address a's TCP socket and watches it with the loop. */
int dns_tcp_listen(struct dns_worker *w, size_t a);
/* Closes every connection and listener handle of the worker. */
void dns_tcp_close_all(struct dns_worker *w);

#endif
