/*
 * tests/unit/test_dns_server.c - the DNS listeners over real loopback
 * sockets: UDP and TCP answers, RFC 7766 framing and pipelining, idle
 * and message timeouts, connection limits and eviction, the open-file
 * limit, backpressure, resets (no SIGPIPE), view
 * publication, malformed input, bind errors, the pause hook and the
 * source address of replies on wildcard sockets. Queries are built
 * and replies parsed with ldns, so the server is checked by an
 * independent DNS implementation. Leaks are caught by ASan at exit.
 *
 * The whole suite runs once per UDP path: recvmmsg, then io_uring where
 * this kernel has it (otherwise that run is skipped, saying why).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "dns/dns.h"
#include "lib/as.h"

#define ZONE "svc.example."
#define WEB "web." ZONE

/* The UDP path of the group being run (see main). */
static enum dns_udp_io udp_io = DNS_UDP_IO_MMSG;

static const char *const set_a[] = { "2001:db8::a1", "2001:db8::a2" };
static const char *const set_b[] = { "2001:db8::b1", "2001:db8::b2",
				     "2001:db8::b3" };

/* ---- helpers ---------------------------------------------------------- */

static dns_view_t *make_view(const char *const *addrs, size_t n)
{
	struct dns_endpoint_spec eps[8];
	int err = 0;

	assert_true(n <= 8);
	memset(eps, 0, sizeof(eps));
	for (size_t i = 0; i < n; i++) {
		eps[i].family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addrs[i], eps[i].addr), 1);
		eps[i].weight = 10;
		eps[i].node = "node1";
		eps[i].load_factor = 1.0;
		eps[i].healthy = true;
	}
	struct dns_service_spec svc = {
		.name = "web",
		.port = 443,
		.proto = "tcp",
		.ttl = 5,
		.max_answers = (uint32_t)n,
		.endpoints = eps,
		.n_endpoints = n,
	};
	struct dns_view_spec spec = {
		.zone = ZONE,
		.node_name = "node1",
		.ttl = 5,
		.max_answers = 2,
		.soa_serial = 1,
		.soa_refresh = 3600,
		.soa_retry = 600,
		.soa_expire = 86400,
		.soa_minimum = 5,
		.apex_ttl = 60,
		.services = &svc,
		.n_services = 1,
	};
	dns_view_t *v = NULL;
	err = dns_view_new(&spec, &v);
	assert_non_null(v);
	assert_int_equal(err, 0);
	return v;
}

/* Starts a server with cfg's TCP settings (listen, workers and udp_io
 * come from the arguments). */
static dns_server_t *start_server_cfg(dns_view_t *view, unsigned workers,
				      const char *const *listen, size_t n,
				      struct dns_server_config cfg)
{
	struct sockaddr_storage ss[4];
	int err = -1;

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(as_parse_sockaddr(listen[i], 0, &ss[i]), 0);
	cfg.listen = ss;
	cfg.n_listen = n;
	cfg.workers = workers;
	cfg.udp_io = udp_io;
	dns_server_t *srv = NULL;
	err = dns_server_new(&cfg, view, &srv);
	assert_non_null(srv);
	assert_int_equal(err, 0);
	assert_int_equal(dns_server_udp_io(srv), udp_io);
	assert_int_equal(dns_server_start(srv), 0);
	return srv;
}

static dns_server_t *start_server(dns_view_t *view, unsigned workers,
				  const char *const *listen, size_t n,
				  uint32_t idle_ms, uint32_t max_clients)
{
	struct dns_server_config cfg = {
		.tcp_idle_timeout_ms = idle_ms,
		.tcp_max_clients = max_clients,
	};
	return start_server_cfg(view, workers, listen, n, cfg);
}

static const char *const lo_both[] = { "[::1]:0", "127.0.0.1:0" };

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wire query for name/type with the given ID. */
static size_t build_query(uint16_t id, const char *name, ldns_rr_type type,
			  uint8_t *buf, size_t cap)
{
	ldns_rdf *dn = ldns_dname_new_frm_str(name);
	assert_non_null(dn);
	ldns_pkt *p = ldns_pkt_query_new(dn, type, LDNS_RR_CLASS_IN, 0);
	assert_non_null(p);
	ldns_pkt_set_id(p, id);
	uint8_t *wire = NULL;
	size_t len = 0;
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(buf, wire, len);
	LDNS_FREE(wire);
	ldns_pkt_free(p);
	return len;
}

static bool in_set(const uint8_t *a16, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b[16];
		inet_pton(AF_INET6, set[i], b);
		if (memcmp(a16, b, 16) == 0)
			return true;
	}
	return false;
}

/* Parses a reply to an AAAA query for WEB. Returns 'A' if every answer
 * is from set_a, 'B' if every answer is from set_b; fails otherwise. */
static int check_aaaa_reply(const uint8_t *buf, size_t len, uint16_t id)
{
	ldns_pkt *p = NULL;
	int which = 0;

	assert_int_equal(ldns_wire2pkt(&p, buf, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), id);
	assert_true(ldns_pkt_qr(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_rr_list *an = ldns_pkt_answer(p);
	assert_true(ldns_rr_list_rr_count(an) >= 1);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_AAAA);
		ldns_rdf *rd = ldns_rr_rdf(rr, 0);
		assert_int_equal(ldns_rdf_size(rd), 16);
		int w = in_set(ldns_rdf_data(rd), set_a, 2)   ? 'A' :
			in_set(ldns_rdf_data(rd), set_b, 3) ? 'B' :
							      '?';
		assert_int_not_equal(w, '?');
		if (which)
			assert_int_equal(w, which);
		which = w;
	}
	ldns_pkt_free(p);
	return which;
}

static int udp_socket_to(const struct sockaddr_storage *ss)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)ss,
				 as_sockaddr_len(ss)), 0);
	return fd;
}

/* Waits up to timeout_ms for fd to become readable. */
static bool wait_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	return poll(&pfd, 1, timeout_ms) == 1;
}

/* One UDP exchange on a connected socket; -1 on timeout. */
static ssize_t udp_ask(int fd, const uint8_t *q, size_t qlen, uint8_t *r,
		       size_t cap, int timeout_ms)
{
	assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
	if (!wait_readable(fd, timeout_ms))
		return -1;
	return recv(fd, r, cap, 0);
}

/* Asks for WEB AAAA over UDP and returns which set answered. */
static int udp_which(const struct sockaddr_storage *ss, uint16_t id)
{
	uint8_t q[512], r[2048];
	size_t qlen = build_query(id, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	int fd = udp_socket_to(ss);
	ssize_t n = udp_ask(fd, q, qlen, r, sizeof(r), 2000);
	close(fd);
	assert_true(n > 0);
	return check_aaaa_reply(r, (size_t)n, id);
}

static int tcp_connect(const struct sockaddr_storage *ss)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)ss,
				 as_sockaddr_len(ss)), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Reads exactly n bytes; returns n, 0 on EOF/reset, -1 on timeout. */
static ssize_t read_full(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	size_t got = 0;
	while (got < n) {
		if (!wait_readable(fd, timeout_ms))
			return -1;
		ssize_t r = read(fd, p + got, n - got);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return (ssize_t)n;
}

/* Reads one framed TCP message; returns its length, 0 on EOF. */
static ssize_t tcp_read_msg(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	uint8_t lb[2];
	ssize_t r = read_full(fd, lb, 2, timeout_ms);
	if (r <= 0)
		return r;
	size_t len = ((size_t)lb[0] << 8) | lb[1];
	assert_true(len <= cap);
	r = read_full(fd, buf, len, timeout_ms);
	assert_int_equal(r, (ssize_t)len);
	return r;
}

static size_t frame(uint8_t *out, const uint8_t *q, size_t qlen)
{
	out[0] = (uint8_t)(qlen >> 8);
	out[1] = (uint8_t)qlen;
	memcpy(out + 2, q, qlen);
	return qlen + 2;
}

static int tcp_which(int fd, uint16_t id)
{
	uint8_t q[512], f[514], r[4096];
	size_t qlen = build_query(id, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	write_all(fd, f, frame(f, q, qlen));
	ssize_t n = tcp_read_msg(fd, r, sizeof(r), 2000);
	assert_true(n > 0);
	return check_aaaa_reply(r, (size_t)n, id);
}

/* True when the peer closes fd (EOF or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
	uint8_t b[512];
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= end)
			return false;
		if (!wait_readable(fd, (int)(end - now)))
			return false;
		ssize_t r = read(fd, b, sizeof(b));
		if (r <= 0)
			return true;
	}
}

typedef bool (*stats_pred)(const struct dns_stats *st, uint64_t arg);

/* Polls the counters until pred holds (they are updated by the workers,
 * possibly just after the reply left). */
static bool wait_stats(dns_server_t *srv, stats_pred pred, uint64_t arg,
		       struct dns_stats *st)
{
	uint64_t end = now_ms() + 2000;
	do {
		dns_server_stats(srv, st);
		if (pred(st, arg))
			return true;
		sleep_ms(5);
	} while (now_ms() < end);
	return false;
}

static bool udp_q_ge(const struct dns_stats *st, uint64_t n)
{
	return st->udp_queries >= n;
}

static bool tcp_q_ge(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_queries >= n;
}

static bool timeouts_eq(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_timeouts == n && st->tcp_active == 0;
}

static bool evicted_eq(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_evicted == n;
}

static bool msg_timeouts_eq(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_msg_timeouts == n && st->tcp_active == 0;
}

static bool accept_errors_ge(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_accept_errors >= n;
}

static bool active_eq(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_active == n;
}

static bool accepted_ge(const struct dns_stats *st, uint64_t n)
{
	return st->tcp_accepted >= n;
}

static bool dropped_ge(const struct dns_stats *st, uint64_t n)
{
	return st->dropped >= n;
}

/* Runs fn with stderr captured into buf. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf,
			   size_t cap)
{
	char path[] = "/tmp/test_dns_server.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

/* ---- tests ------------------------------------------------------------ */

static void test_udp_answer(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, lo_both, 2, 0, 0);
	struct dns_stats st;

	assert_int_equal(dns_server_worker_count(srv), 2);
	assert_int_equal(dns_server_listener_count(srv), 2);
	assert_null(dns_server_listener(srv, 2));
	const struct sockaddr_storage *l6 = dns_server_listener(srv, 0);
	const struct sockaddr_storage *l4 = dns_server_listener(srv, 1);
	assert_int_equal(l6->ss_family, AF_INET6);
	assert_int_equal(l4->ss_family, AF_INET);
	assert_int_not_equal(as_sockaddr_port(l6), 0);
	assert_int_not_equal(as_sockaddr_port(l4), 0);

	/* Many source ports spread the queries over both workers. */
	for (uint16_t i = 0; i < 16; i++) {
		assert_int_equal(udp_which(l6, (uint16_t)(0x1000 + i)), 'A');
		assert_int_equal(udp_which(l4, (uint16_t)(0x2000 + i)), 'A');
	}
	assert_true(wait_stats(srv, udp_q_ge, 32, &st));
	assert_int_equal(st.udp_queries, 32);
	assert_int_equal(st.tcp_queries, 0);
	assert_int_equal(st.by_qtype[DNS_QT_AAAA], 32);
	assert_int_equal(st.by_rcode[0], 32);
	uint64_t lat = 0;
	for (int i = 0; i < DNS_LAT_BUCKETS; i++)
		lat += st.latency[i];
	assert_int_equal(lat, 32);

	dns_server_free(srv);
	dns_view_unref(va);
}

/*
 * A backlog of queries far larger than one batch (recvmmsg: 32) or the
 * ring's receive buffers (io_uring: 64, after which the kernel ends the
 * multishot receive with ENOBUFS and the worker re-arms it) is answered
 * in full. The queries wait in the socket before the worker starts, so
 * the first wakeup finds all of them.
 */
#define BURST 600
static void test_udp_burst(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct sockaddr_storage ss;
	int err = -1;
	assert_int_equal(as_parse_sockaddr("[::1]:0", 0, &ss), 0);
	struct dns_server_config cfg = { .listen = &ss, .n_listen = 1,
					 .workers = 1, .udp_io = udp_io };
	dns_server_t *srv = NULL;
	err = dns_server_new(&cfg, va, &srv);
	assert_int_equal(err, AS_OK);
	assert_non_null(srv);
	const struct sockaddr_storage *l6 = dns_server_listener(srv, 0);
	static bool seen[BURST];
	struct dns_stats st;
	uint8_t q[512], r[2048];
	int size = 8 << 20;

	memset(seen, 0, sizeof(seen));
	int fd = udp_socket_to(l6);
	/* Room for every reply: this test is about the server. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
					    sizeof(size)), 0);
	for (uint16_t id = 0; id < BURST; id++) {
		size_t qlen = build_query(id, WEB, LDNS_RR_TYPE_AAAA, q,
					  sizeof(q));
		assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
	}
	assert_int_equal(dns_server_start(srv), 0);
	unsigned got = 0;
	while (got < BURST && wait_readable(fd, 3000)) {
		ssize_t n = recv(fd, r, sizeof(r), 0);
		assert_true(n > 12);
		uint16_t id = (uint16_t)((r[0] << 8) | r[1]);
		assert_true(id < BURST);
		assert_false(seen[id]);
		assert_int_equal(check_aaaa_reply(r, (size_t)n, id), 'A');
		seen[id] = true;
		got++;
	}
	close(fd);
	assert_int_equal(got, BURST);
	assert_true(wait_stats(srv, udp_q_ge, BURST, &st));
	assert_int_equal(st.udp_queries, BURST);
	assert_int_equal(st.by_rcode[0], BURST);
	assert_int_equal(st.dropped, 0);

	dns_server_free(srv);
	dns_view_unref(va);
}

static void test_tcp_pipelined(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, lo_both, 2, 0, 0);
	static const uint16_t ids[3] = { 0xbeef, 0x0001, 0x7777 };
	static const ldns_rr_type types[3] = { LDNS_RR_TYPE_AAAA,
					       LDNS_RR_TYPE_SOA,
					       LDNS_RR_TYPE_AAAA };
	struct dns_stats st;

	for (size_t l = 0; l < 2; l++) {
		uint8_t out[3 * 514], q[512], r[4096];
		size_t off = 0;
		for (int i = 0; i < 3; i++) {
			size_t qlen = build_query(ids[i],
						  types[i] == LDNS_RR_TYPE_SOA ?
							  ZONE :
							  WEB,
						  types[i], q, sizeof(q));
			off += frame(out + off, q, qlen);
		}
		int fd = tcp_connect(dns_server_listener(srv, l));
		write_all(fd, out, off);	/* one write, three queries */
		for (int i = 0; i < 3; i++) {
			ssize_t n = tcp_read_msg(fd, r, sizeof(r), 2000);
			assert_true(n > 0);
			ldns_pkt *p = NULL;
			assert_int_equal(ldns_wire2pkt(&p, r, (size_t)n),
					 LDNS_STATUS_OK);
			assert_int_equal(ldns_pkt_id(p), ids[i]);
			assert_int_equal(ldns_pkt_get_rcode(p),
					 LDNS_RCODE_NOERROR);
			ldns_rr_list *an = ldns_pkt_answer(p);
			assert_true(ldns_rr_list_rr_count(an) >= 1);
			assert_int_equal(
				ldns_rr_get_type(ldns_rr_list_rr(an, 0)),
				types[i]);
			ldns_pkt_free(p);
		}
		close(fd);
	}
	assert_true(wait_stats(srv, tcp_q_ge, 6, &st));
	assert_int_equal(st.tcp_queries, 6);
	assert_int_equal(st.udp_queries, 0);
	assert_int_equal(st.tcp_accepted, 2);
	assert_int_equal(st.by_qtype[DNS_QT_SOA], 2);
	assert_true(wait_stats(srv, active_eq, 0, &st));

	dns_server_free(srv);
	dns_view_unref(va);
}

/* A query trickling in byte by byte, then a query followed by a half
 * close: both answered, then the server closes. */
static void test_tcp_split_and_eof(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 1, lo_both, 1, 0, 0);
	uint8_t q[512], f[514], r[4096];
	size_t qlen = build_query(42, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	size_t flen = frame(f, q, qlen);

	int fd = tcp_connect(dns_server_listener(srv, 0));
	for (size_t i = 0; i < flen; i++) {
		write_all(fd, f + i, 1);
		if (i < 4 || i == flen - 2)
			sleep_ms(20);
	}
	ssize_t n = tcp_read_msg(fd, r, sizeof(r), 2000);
	assert_true(n > 0);
	assert_int_equal(check_aaaa_reply(r, (size_t)n, 42), 'A');

	qlen = build_query(43, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	write_all(fd, f, frame(f, q, qlen));
	shutdown(fd, SHUT_WR);
	n = tcp_read_msg(fd, r, sizeof(r), 2000);
	assert_true(n > 0);
	assert_int_equal(check_aaaa_reply(r, (size_t)n, 43), 'A');
	assert_true(closed_within(fd, 2000));
	close(fd);

	dns_server_free(srv);
	dns_view_unref(va);
}

static void test_tcp_idle_timeout(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	/* 500 ms, the queries below 250 ms apart: a loaded machine may
	 * wake this thread late (at 200 and 100 ms, a wake-up 100 ms late
	 * found the connection closed by its idle timeout). */
	dns_server_t *srv = start_server(va, 2, lo_both, 2, 500, 0);
	struct dns_stats st;

	/* Silent: closed after ~500 ms. */
	int fd = tcp_connect(dns_server_listener(srv, 0));
	uint64_t t0 = now_ms();
	assert_true(closed_within(fd, 3000));
	uint64_t el = now_ms() - t0;
	assert_true(el >= 375);
	assert_true(el < 1800);
	close(fd);
	assert_true(wait_stats(srv, timeouts_eq, 1, &st));
	assert_int_equal(st.tcp_accepted, 1);

	/* Active for 1.5 s (3x the timeout): stays open, then times out
	 * once it falls silent, counted from its last answer (from the end
	 * of the sleep after it, a late wake-up left less than the 50 ms
	 * this asserted). */
	fd = tcp_connect(dns_server_listener(srv, 1));
	for (uint16_t i = 0; i < 6; i++) {
		assert_int_equal(tcp_which(fd, i), 'A');
		t0 = now_ms();
		sleep_ms(250);
	}
	assert_true(closed_within(fd, 3000));
	el = now_ms() - t0;
	assert_true(el >= 375);
	close(fd);
	assert_true(wait_stats(srv, timeouts_eq, 2, &st));
	assert_int_equal(st.tcp_queries, 6);

	dns_server_free(srv);
	dns_view_unref(va);
}

/* At the worker limit a new connection is served and the least
 * recently active idle one is closed instead. */
static void test_tcp_max_clients(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 1, lo_both, 1, 0, 2);
	const struct sockaddr_storage *ls = dns_server_listener(srv, 0);
	struct dns_stats st;

	int c1 = tcp_connect(ls);
	assert_int_equal(tcp_which(c1, 1), 'A');
	int c2 = tcp_connect(ls);
	assert_int_equal(tcp_which(c2, 2), 'A');
	int c3 = tcp_connect(ls);
	assert_int_equal(tcp_which(c3, 3), 'A');
	assert_true(closed_within(c1, 2000));
	close(c1);
	assert_true(wait_stats(srv, evicted_eq, 1, &st));
	assert_int_equal(st.tcp_accepted, 3);
	assert_int_equal(st.tcp_active, 2);
	assert_int_equal(st.tcp_rejected, 0);

	/* c2 is now the least recently active unless it speaks: it does,
	 * so the next newcomer closes c3. */
	assert_int_equal(tcp_which(c2, 4), 'A');
	int c4 = tcp_connect(ls);
	assert_int_equal(tcp_which(c4, 5), 'A');
	assert_true(closed_within(c3, 2000));
	close(c3);
	assert_int_equal(tcp_which(c2, 6), 'A');
	assert_true(wait_stats(srv, evicted_eq, 2, &st));
	assert_int_equal(st.tcp_active, 2);
	close(c2);
	close(c4);

	dns_server_free(srv);
	dns_view_unref(va);
}

/* One prefix at its limit only pushes out its own connections: here
 * every IPv6 client is ::1 and the IPv4 client keeps its slot. */
static void test_tcp_prefix_limit(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct dns_server_config cfg = {
		.tcp_max_clients = 16,
		.tcp_max_clients_per_prefix = 3,
	};
	dns_server_t *srv = start_server_cfg(va, 1, lo_both, 2, cfg);
	const struct sockaddr_storage *l6 = dns_server_listener(srv, 0);
	const struct sockaddr_storage *l4 = dns_server_listener(srv, 1);
	struct dns_stats st;
	int c6[8];

	int c4 = tcp_connect(l4);
	assert_int_equal(tcp_which(c4, 1), 'A');
	for (int i = 0; i < 8; i++) {
		c6[i] = tcp_connect(l6);
		assert_int_equal(tcp_which(c6[i], (uint16_t)(10 + i)), 'A');
	}
	/* The first five of ::1 were closed, oldest first; the last three
	 * and the IPv4 client are open. */
	for (int i = 0; i < 5; i++)
		assert_true(closed_within(c6[i], 2000));
	assert_true(wait_stats(srv, evicted_eq, 5, &st));
	assert_int_equal(st.tcp_active, 4);
	for (int i = 5; i < 8; i++)
		assert_int_equal(tcp_which(c6[i], (uint16_t)(20 + i)), 'A');
	assert_int_equal(tcp_which(c4, 2), 'A');
	for (int i = 0; i < 8; i++)
		close(c6[i]);
	close(c4);

	dns_server_free(srv);
	dns_view_unref(va);
}

/* A message trickling in a byte at a time has message_timeout from its
 * first byte: later bytes do not restart the clock (they used to restart
 * the idle timer, so one byte every few seconds held a slot for ever). */
static void test_tcp_message_timeout(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct dns_server_config cfg = {
		.tcp_idle_timeout_ms = 5000,
		.tcp_message_timeout_ms = 300,
	};
	dns_server_t *srv = start_server_cfg(va, 1, lo_both, 1, cfg);
	const struct sockaddr_storage *ls = dns_server_listener(srv, 0);
	struct dns_stats st;
	uint8_t q[512], f[514];
	size_t qlen = build_query(7, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	size_t flen = frame(f, q, qlen);

	/* An answered query first: between messages the idle timeout (5 s)
	 * applies, so the connection is still open after the 300 ms. */
	int fd = tcp_connect(ls);
	assert_int_equal(tcp_which(fd, 1), 'A');
	sleep_ms(400);
	assert_int_equal(tcp_which(fd, 2), 'A');

	/* Then a byte every 100 ms: closed about 300 ms after the first. */
	uint64_t t0 = now_ms(), closed_at = 0;
	for (size_t i = 0; i < flen && !closed_at; i++) {
		if (send(fd, f + i, 1, MSG_NOSIGNAL) != 1 ||
		    closed_within(fd, 100))
			closed_at = now_ms();
	}
	assert_true(closed_at != 0);
	assert_true(closed_at - t0 >= 250);
	assert_true(closed_at - t0 < 2000);
	close(fd);
	assert_true(wait_stats(srv, msg_timeouts_eq, 1, &st));
	assert_int_equal(st.tcp_timeouts, 0);
	assert_int_equal(st.tcp_active, 0);

	dns_server_free(srv);
	dns_view_unref(va);
}

static void test_publish(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, lo_both, 2, 0, 0);
	dns_view_unref(va);	/* the server holds its own references */
	const struct sockaddr_storage *l6 = dns_server_listener(srv, 0);

	assert_int_equal(udp_which(l6, 1), 'A');
	int fd = tcp_connect(l6);	/* open across the swap */
	assert_int_equal(tcp_which(fd, 2), 'A');

	dns_view_t *vb = make_view(set_b, 3);
	dns_server_publish(srv, vb);
	dns_view_unref(vb);

	/* The swap is asynchronous: wait for the first B answer... */
	uint64_t end = now_ms() + 2000;
	while (udp_which(l6, 3) != 'B')
		assert_true(now_ms() < end);
	/* ...then, once every worker took it, each one (many source
	 * ports) answers from B. */
	end = now_ms() + 5000;
	while (dns_server_publish_pending(srv) != 0) {
		assert_true(now_ms() < end);
		sleep_ms(1);
	}
	for (uint16_t i = 0; i < 24; i++) {
		assert_int_equal(udp_which(dns_server_listener(srv, i & 1),
					   (uint16_t)(100 + i)),
				 'B');
	}
	assert_int_equal(tcp_which(fd, 4), 'B');
	close(fd);

	/* Publishing twice before the worker wakes keeps only the last. */
	dns_view_t *va2 = make_view(set_a, 2);
	vb = make_view(set_b, 3);
	dns_server_publish(srv, vb);
	dns_server_publish(srv, va2);
	dns_view_unref(vb);
	dns_view_unref(va2);
	end = now_ms() + 2000;
	while (udp_which(l6, 5) != 'A')
		assert_true(now_ms() < end);

	dns_server_free(srv);
}

static bool mal_short(const struct dns_stats *st, uint64_t n)
{
	return st->malformed[DNS_MAL_SHORT_HEADER] >= n;
}

static void test_malformed(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, lo_both, 2, 0, 0);
	const struct sockaddr_storage *l6 = dns_server_listener(srv, 0);
	struct dns_stats st;
	uint8_t r[2048];

	/* Five bytes: no header, dropped and counted. */
	int fd = udp_socket_to(l6);
	static const uint8_t junk[5] = { 1, 2, 3, 4, 5 };
	assert_int_equal(udp_ask(fd, junk, sizeof(junk), r, sizeof(r), 300),
			 -1);
	assert_true(wait_stats(srv, mal_short, 1, &st));
	assert_int_equal(st.malformed[DNS_MAL_SHORT_HEADER], 1);
	assert_true(st.dropped >= 1);

	/* A header with QDCOUNT 0 gets FORMERR with the same ID. */
	static const uint8_t noq[12] = { 0xab, 0xcd, 0, 0 };
	ssize_t n = udp_ask(fd, noq, sizeof(noq), r, sizeof(r), 2000);
	assert_true(n >= 12);
	assert_int_equal(r[0], 0xab);
	assert_int_equal(r[1], 0xcd);
	assert_int_equal(r[3] & 0x0f, LDNS_RCODE_FORMERR);
	assert_true(wait_stats(srv, udp_q_ge, 2, &st));
	assert_int_equal(st.malformed[DNS_MAL_QDCOUNT], 1);

	/* Larger than any sane query: dropped by the server, counted. */
	uint64_t dropped = st.dropped;
	static uint8_t big[6000];
	assert_int_equal(udp_ask(fd, big, sizeof(big), r, sizeof(r), 300), -1);
	assert_true(wait_stats(srv, dropped_ge, dropped + 1, &st));
	close(fd);

	/* The server still answers. */
	assert_int_equal(udp_which(l6, 9), 'A');

	/* Over TCP a message we drop closes the connection. */
	fd = tcp_connect(dns_server_listener(srv, 1));
	uint8_t f[16];
	write_all(fd, f, frame(f, junk, sizeof(junk)));
	assert_true(closed_within(fd, 2000));
	close(fd);
	assert_true(wait_stats(srv, mal_short, 2, &st));
	assert_true(wait_stats(srv, active_eq, 0, &st));

	dns_server_free(srv);
	dns_view_unref(va);
}

struct new_args {
	struct sockaddr_storage ss;
	dns_view_t *view;
	int err;
	dns_server_t *srv;
};

static void try_new(void *arg)
{
	struct new_args *a = arg;
	struct dns_server_config cfg = {
		.listen = &a->ss,
		.n_listen = 1,
		.workers = 2,
		.udp_io = udp_io,
	};
	a->err = dns_server_new(&cfg, a->view, &a->srv);
}

/* Binds a plain (no SO_REUSEPORT) socket to an ephemeral port. */
static int plain_bound(int family, int type, struct sockaddr_storage *ss)
{
	const char *any = family == AF_INET6 ? "[::1]:0" : "127.0.0.1:0";
	socklen_t len = sizeof(*ss);
	assert_int_equal(as_parse_sockaddr(any, 0, ss), 0);
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)ss, as_sockaddr_len(ss)),
			 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ss, &len), 0);
	return fd;
}

static void test_busy_address(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct new_args a = { .view = va };
	char log[4096], want[128], addr[AS_SOCKADDR_STRLEN];

	/* UDP port taken. */
	int fd = plain_bound(AF_INET6, SOCK_DGRAM, &a.ss);
	capture_stderr(try_new, &a, log, sizeof(log));
	assert_null(a.srv);
	assert_int_equal(a.err, -EADDRINUSE);
	snprintf(want, sizeof(want), "cannot bind %s (udp): %s",
		 as_format_sockaddr(&a.ss, addr, sizeof(addr)),
		 strerror(EADDRINUSE));
	assert_non_null(strstr(log, want));
	close(fd);

	/* TCP port taken (UDP of the same number is free). */
	fd = plain_bound(AF_INET, SOCK_STREAM, &a.ss);
	capture_stderr(try_new, &a, log, sizeof(log));
	assert_null(a.srv);
	assert_int_equal(a.err, -EADDRINUSE);
	snprintf(want, sizeof(want), "cannot bind %s (tcp)",
		 as_format_sockaddr(&a.ss, addr, sizeof(addr)));
	assert_non_null(strstr(log, want));
	close(fd);

	/* Held by another server (SO_REUSEPORT would let it share). */
	const char *const one6[] = { "[::1]:0" };
	dns_server_t *srv = start_server(va, 1, one6, 1, 0, 0);
	a.ss = *dns_server_listener(srv, 0);
	capture_stderr(try_new, &a, log, sizeof(log));
	assert_null(a.srv);
	assert_int_equal(a.err, -EADDRINUSE);
	snprintf(want, sizeof(want), "cannot bind %s (udp)",
		 as_format_sockaddr(&a.ss, addr, sizeof(addr)));
	assert_non_null(strstr(log, want));
	dns_server_free(srv);

	/* Not an address of this host. */
	assert_int_equal(as_parse_sockaddr("[2001:db8::53]:5353", 0, &a.ss),
			 0);
	capture_stderr(try_new, &a, log, sizeof(log));
	assert_null(a.srv);
	assert_int_equal(a.err, -EADDRNOTAVAIL);
	assert_non_null(strstr(log, "cannot bind [2001:db8::53]:5353 (udp)"));

	/* Unsupported family. */
	memset(&a.ss, 0, sizeof(a.ss));
	a.ss.ss_family = AF_UNIX;
	capture_stderr(try_new, &a, log, sizeof(log));
	assert_null(a.srv);
	assert_int_equal(a.err, AS_EINVAL);

	dns_view_unref(va);
}

static void test_paused(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, lo_both, 2, 0, 0);
	const struct sockaddr_storage *l4 = dns_server_listener(srv, 1);
	struct dns_stats st;
	uint8_t q[512], r[2048];

	assert_int_equal(udp_which(l4, 1), 'A');
	dns_server_set_paused(srv, true);
	size_t qlen = build_query(2, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	int fd = udp_socket_to(l4);
	assert_int_equal(udp_ask(fd, q, qlen, r, sizeof(r), 300), -1);
	assert_true(wait_stats(srv, dropped_ge, 1, &st));
	assert_int_equal(st.udp_queries, 2);

	int tfd = tcp_connect(l4);
	uint8_t f[514];
	write_all(tfd, f, frame(f, q, qlen));
	assert_true(closed_within(tfd, 2000));
	close(tfd);

	dns_server_set_paused(srv, false);
	ssize_t n = udp_ask(fd, q, qlen, r, sizeof(r), 2000);
	assert_true(n > 0);
	assert_int_equal(check_aaaa_reply(r, (size_t)n, 2), 'A');
	close(fd);

	dns_server_free(srv);
	dns_view_unref(va);
}

/* On 0.0.0.0 a query to 127.0.0.2 must be answered from 127.0.0.2: the
 * client's connected socket accepts nothing else, and without PKTINFO
 * the kernel would pick 127.0.0.1. */
static void test_wildcard_source(void **state)
{
	static const char *const any[] = { "0.0.0.0:0", "[::]:0" };
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, any, 2, 0, 0);
	uint8_t q[512], r[2048];

	struct sockaddr_in dst = { .sin_family = AF_INET };
	dst.sin_port = htons(as_sockaddr_port(dns_server_listener(srv, 0)));
	inet_pton(AF_INET, "127.0.0.2", &dst.sin_addr);
	struct sockaddr_in src = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &src.sin_addr);

	for (uint16_t i = 0; i < 8; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)),
				 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&dst,
					 sizeof(dst)),
				 0);
		size_t qlen = build_query(i, WEB, LDNS_RR_TYPE_AAAA, q,
					  sizeof(q));
		ssize_t n = udp_ask(fd, q, qlen, r, sizeof(r), 2000);
		assert_true(n > 0);
		assert_int_equal(check_aaaa_reply(r, (size_t)n, i), 'A');
		close(fd);
	}

	/* [::] answers on ::1 (IPV6_PKTINFO path). */
	struct sockaddr_storage l6 = *dns_server_listener(srv, 1);
	assert_int_equal(inet_pton(AF_INET6, "::1",
				   &((struct sockaddr_in6 *)&l6)->sin6_addr),
			 1);
	assert_int_equal(udp_which(&l6, 77), 'A');
	int fd = tcp_connect(&l6);
	assert_int_equal(tcp_which(fd, 78), 'A');
	close(fd);

	dns_server_free(srv);
	dns_view_unref(va);
}

/* The anycast case on IPv6: in a private network namespace (so the test
 * may add an address), fd00:53::1 on lo stands for the anycast address.
 * A query to it from ::1 must be answered from fd00:53::1 by a server on
 * [::]; without IPV6_PKTINFO the kernel would answer from ::1. */
static int netns_saved = -1;

static int netns_restore(void **state)
{
	if (netns_saved >= 0) {
		if (setns(netns_saved, CLONE_NEWNET) != 0)
			perror("setns");
		close(netns_saved);
		netns_saved = -1;
	}
	return 0;
}

/* Waits until addr (IPv6, on lo) takes local traffic: a datagram from
 * it to itself arrives. The kernel adds an address at once but its
 * local route only from a worker thread a little later (addrconf's DAD
 * work, even with nodad); a query sent before that is not delivered. */
static bool wait_local6(const char *addr, int timeout_ms)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(a);
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	bool ok = false;
	char b;

	assert_int_equal(inet_pton(AF_INET6, addr, &a.sin6_addr), 1);
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	while (!ok && now_ms() < end) {
		if (sendto(fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) == 1)
			ok = wait_readable(fd, 20) && recv(fd, &b, 1, 0) == 1;
		else
			sleep_ms(20);
	}
	close(fd);
	return ok;
}

static void test_wildcard_source_v6(void **state)
{
	static const char *const any6[] = { "[::]:0" };
	uint8_t q[512], r[2048];

	netns_saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(netns_saved >= 0);
	if (unshare(CLONE_NEWNET) != 0) {
		print_message("skip: unshare(CLONE_NEWNET): %s\n",
			      strerror(errno));
		skip();
	}
	if (system("ip link set lo up && "
		   "ip -6 addr add fd00:53::1/128 dev lo nodad") != 0) {
		print_message("skip: cannot set up lo in the namespace\n");
		skip();
	}
	assert_true(wait_local6("fd00:53::1", 10000));

	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 2, any6, 1, 0, 0);
	struct sockaddr_in6 dst = *(const struct sockaddr_in6 *)
					  dns_server_listener(srv, 0);
	assert_int_equal(inet_pton(AF_INET6, "fd00:53::1", &dst.sin6_addr),
			 1);
	struct sockaddr_in6 src = { .sin6_family = AF_INET6,
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	for (uint16_t i = 0; i < 8; i++) {
		int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)),
				 0);
		size_t qlen = build_query(i, WEB, LDNS_RR_TYPE_AAAA, q,
					  sizeof(q));
		assert_int_equal(sendto(fd, q, qlen, 0,
					(struct sockaddr *)&dst, sizeof(dst)),
				 (ssize_t)qlen);
		assert_true(wait_readable(fd, 2000));
		struct sockaddr_in6 from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, r, sizeof(r), 0,
				     (struct sockaddr *)&from, &flen);
		assert_true(n > 0);
		char fs[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &from.sin6_addr, fs, sizeof(fs));
		assert_string_equal(fs, "fd00:53::1");
		assert_int_equal(ntohs(from.sin6_port), ntohs(dst.sin6_port));
		assert_int_equal(check_aaaa_reply(r, (size_t)n, i), 'A');
		close(fd);
	}

	dns_server_free(srv);
	dns_view_unref(va);
}

/* Tens of thousands of pipelined queries from a client that does not
 * read at first: the server must stop reading once its output backs up
 * (so the client's writes stall before everything is sent), and after
 * the client starts reading every reply still arrives, in order. */
static void test_tcp_backpressure(void **state)
{
	enum { N = 80000 };	/* ~7 MB of replies: more than the kernel buffers */
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 1, lo_both, 1, 0, 0);
	uint8_t q[512];
	size_t qlen = build_query(0, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	size_t flen = qlen + 2, total = N * flen;
	uint8_t *out = malloc(total);
	struct dns_stats st;

	assert_non_null(out);
	for (unsigned i = 0; i < N; i++) {
		q[0] = (uint8_t)(i >> 8);
		q[1] = (uint8_t)i;
		frame(out + i * flen, q, qlen);
	}
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sz = 16384;	/* small buffers so the backlog sits server-side */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	const struct sockaddr_storage *ls = dns_server_listener(srv, 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)ls,
				 as_sockaddr_len(ls)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);

	/* Phase 1: write without reading until no progress for 300 ms. */
	size_t sent = 0;
	uint64_t last = now_ms();
	while (sent < total && now_ms() - last < 300) {
		ssize_t w = write(fd, out + sent, total - sent);
		if (w > 0) {
			sent += (size_t)w;
			last = now_ms();
		} else {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, 50);
		}
	}
	assert_true(sent < total);

	/* Phase 2: read everything while writing the rest. */
	size_t rlen = 0;
	unsigned got = 0;
	static uint8_t in[1 << 17];
	uint64_t end = now_ms() + 20000;
	while (got < N) {
		assert_true(now_ms() < end);
		struct pollfd pfd = {
			.fd = fd,
			.events = POLLIN | (sent < total ? POLLOUT : 0),
		};
		assert_int_equal(poll(&pfd, 1, 2000), 1);
		if ((pfd.revents & POLLOUT) && sent < total) {
			ssize_t w = write(fd, out + sent, total - sent);
			if (w > 0)
				sent += (size_t)w;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = read(fd, in + rlen, sizeof(in) - rlen);
		assert_true(n > 0);
		rlen += (size_t)n;
		size_t off = 0;
		while (rlen - off >= 2) {
			size_t ml = ((size_t)in[off] << 8) | in[off + 1];
			if (rlen - off < 2 + ml)
				break;
			/* Full parse of a sample; the ID of every reply. */
			if (got % 997 == 0)
				assert_int_equal(check_aaaa_reply(in + off + 2,
								  ml,
								  (uint16_t)got),
						 'A');
			assert_true(ml >= 12);
			assert_int_equal(((unsigned)in[off + 2] << 8) |
						 in[off + 3],
					 got & 0xffff);
			got++;
			off += 2 + ml;
		}
		memmove(in, in + off, rlen - off);
		rlen -= off;
	}
	close(fd);
	free(out);
	assert_true(wait_stats(srv, tcp_q_ge, N, &st));
	assert_int_equal(st.tcp_queries, N);
	assert_true(wait_stats(srv, active_eq, 0, &st));

	dns_server_free(srv);
	dns_view_unref(va);
}

/* Writes n pipelined AAAA queries without reading any reply; returns
 * once the server stopped taking them (or all were taken). */
static void flood_unread(int fd, unsigned n)
{
	uint8_t q[512];
	size_t qlen = build_query(0, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	size_t flen = qlen + 2, total = n * flen, sent = 0;
	uint8_t *out = malloc(total);

	assert_non_null(out);
	for (unsigned i = 0; i < n; i++)
		frame(out + i * flen, q, qlen);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	uint64_t last = now_ms();
	while (sent < total && now_ms() - last < 200) {
		ssize_t w = write(fd, out + sent, total - sent);
		if (w > 0) {
			sent += (size_t)w;
			last = now_ms();
		} else {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, 50);
		}
	}
	free(out);
}

/* ---- the open-file limit ------------------------------------------------ */

static struct rlimit saved_nofile;

static int nofile_restore(void **state)
{
	(void)state;
	setrlimit(RLIMIT_NOFILE, &saved_nofile);
	return 0;
}

/* Lowers RLIMIT_NOFILE so that exactly k descriptor numbers are free
 * below it. */
static void leave_free_fds(unsigned k)
{
	enum { MAXFD = 4096 };
	static bool open_fd[MAXFD];
	unsigned free_seen = 0;

	memset(open_fd, 0, sizeof(open_fd));
	for (int fd = 0; fd < MAXFD; fd++)
		open_fd[fd] = fcntl(fd, F_GETFD) >= 0;
	for (unsigned n = 0; n < MAXFD; n++) {
		if (open_fd[n])
			continue;
		if (++free_seen == k) {
			struct rlimit rl = saved_nofile;
			rl.rlim_cur = n + 1;
			assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
			return;
		}
	}
	fail_msg("no %u free descriptors below %d", k, MAXFD);
}

static uint64_t cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A client socket with small buffers, so that replies it does not read
 * back up into the server's queue quickly. */
static int tcp_socket_for(const struct sockaddr_storage *ss)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sz = 16384;
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

static void tcp_connect_fd(int fd, const struct sockaddr_storage *ss)
{
	assert_int_equal(connect(fd, (const struct sockaddr *)ss,
				 as_sockaddr_len(ss)), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct fd_limit_run {
	dns_server_t *srv;
	uint64_t cpu_used_ms, window_ms, retries;
};

enum { FDL_BUSY = 3, FDL_NEW = 2 };

static void fd_limit_phases(void *arg)
{
	struct fd_limit_run *run = arg;
	dns_server_t *srv = run->srv;
	const struct sockaddr_storage *ls = dns_server_listener(srv, 0);
	struct dns_stats st;
	int busy[FDL_BUSY], idle, newc[FDL_NEW];

	/* libuv reserves a descriptor per loop with its first stream (for
	 * its EMFILE trick, which we do not use): let it happen now. */
	int warm = tcp_connect(ls);
	assert_int_equal(tcp_which(warm, 9), 'A');
	close(warm);
	assert_true(wait_stats(srv, active_eq, 0, &st));

	/* Every client socket exists before the limit drops; then the
	 * server has room for exactly FDL_BUSY + 1 more connections. */
	for (int i = 0; i < FDL_BUSY; i++)
		busy[i] = tcp_socket_for(ls);
	idle = tcp_socket_for(ls);
	for (int i = 0; i < FDL_NEW; i++)
		newc[i] = tcp_socket_for(ls);
	leave_free_fds(FDL_BUSY + 1);

	/* Busy connections: a message begun (its deadline is long here).
	 * Each is accepted, and so its byte read, before `idle` is. */
	for (int i = 0; i < FDL_BUSY; i++) {
		tcp_connect_fd(busy[i], ls);
		write_all(busy[i], (const uint8_t *)"\0", 1);
		assert_true(wait_stats(srv, accepted_ge, (uint64_t)i + 2, &st));
	}
	tcp_connect_fd(idle, ls);
	assert_int_equal(tcp_which(idle, 1), 'A');
	assert_true(wait_stats(srv, accepted_ge, FDL_BUSY + 2, &st));
	assert_int_equal(st.tcp_accept_errors, 0);

	/* Phase A, at the limit with an idle connection: the newcomer is
	 * served and the idle one closed. */
	tcp_connect_fd(newc[0], ls);
	assert_int_equal(tcp_which(newc[0], 2), 'A');
	assert_true(closed_within(idle, 2000));
	dns_server_stats(srv, &st);
	assert_int_equal(st.tcp_accept_errors, 1);
	assert_int_equal(st.tcp_evicted, 1);

	/* Phase B, nothing idle: the server backs off. The pending query
	 * is not answered, the worker does not spin, and it retries about
	 * every 100 ms. */
	flood_unread(newc[0], 80000);	/* busy: its replies back up */
	uint8_t q[512], f[514], r[4096];
	size_t qlen = build_query(3, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	tcp_connect_fd(newc[1], ls);
	write_all(newc[1], f, frame(f, q, qlen));
	assert_true(wait_stats(srv, accept_errors_ge, 2, &st));
	uint64_t errs0 = st.tcp_accept_errors;
	uint64_t c0 = cpu_ms(), t0 = now_ms();
	assert_false(wait_readable(newc[1], 600));
	run->cpu_used_ms = cpu_ms() - c0;
	run->window_ms = now_ms() - t0;
	dns_server_stats(srv, &st);
	run->retries = st.tcp_accept_errors - errs0;

	/* A connection of the server's closes (the client resets it): the
	 * pending one is taken and answered. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(busy[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(busy[0]);
	ssize_t n = tcp_read_msg(newc[1], r, sizeof(r), 3000);
	assert_true(n > 0);
	assert_int_equal(check_aaaa_reply(r, (size_t)n, 3), 'A');

	setrlimit(RLIMIT_NOFILE, &saved_nofile);
	for (int i = 1; i < FDL_BUSY; i++)
		close(busy[i]);
	close(idle);
	for (int i = 0; i < FDL_NEW; i++)
		close(newc[i]);
}

/* At the open-file limit (EMFILE on accept) the server closes its
 * least recently active idle connection for the new one, or else backs
 * off: counted, logged once per interval, no busy loop, and it serves
 * the backlog once descriptors are free again. */
static void test_tcp_fd_limit(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct dns_server_config cfg = {
		.tcp_max_clients = 64,
		.tcp_max_clients_per_prefix = 64,
		.tcp_idle_timeout_ms = 30000,
		.tcp_message_timeout_ms = 30000,
	};
	dns_server_t *srv = start_server_cfg(va, 1, lo_both, 1, cfg);
	struct fd_limit_run run = { .srv = srv };
	char log[8192];

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved_nofile), 0);
	capture_stderr(fd_limit_phases, &run, log, sizeof(log));
	setrlimit(RLIMIT_NOFILE, &saved_nofile);
	print_message("at the limit: %llu ms CPU in %llu ms, %llu retries\n",
		      (unsigned long long)run.cpu_used_ms,
		      (unsigned long long)run.window_ms,
		      (unsigned long long)run.retries);
	assert_true(run.cpu_used_ms * 4 < run.window_ms);
	assert_true(run.retries >= 1);
	assert_true(run.retries <= run.window_ms / 100 + 3);
	/* One line per 10 s for the whole server, whatever the count. */
	unsigned lines = 0;
	for (const char *p = log; (p = strstr(p, "cannot accept TCP")); p++)
		lines++;
	assert_true(lines >= 1 && lines <= 2);

	dns_server_free(srv);
	dns_view_unref(va);
}

/* A client that resets a connection with replies queued, and a server
 * stopped with connections open and replies queued: no crash, no leak,
 * counters consistent. */
static void test_tcp_abort_and_stop(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	dns_server_t *srv = start_server(va, 1, lo_both, 1, 0, 0);
	const struct sockaddr_storage *ls = dns_server_listener(srv, 0);
	struct dns_stats st;

	int fd = tcp_connect(ls);
	flood_unread(fd, 80000);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);	/* RST */
	/* Not accepted yet also means no active connection: wait for the
	 * accept first. */
	assert_true(wait_stats(srv, accepted_ge, 1, &st));
	assert_true(wait_stats(srv, active_eq, 0, &st));
	assert_int_equal(st.tcp_accepted, 1);
	assert_true(st.tcp_queries > 0);

	/* Half close, then reset, while replies are queued: the FIN puts
	 * the server's socket in CLOSE_WAIT, so after the reset its next
	 * write fails with EPIPE, which must not raise SIGPIPE. The queries
	 * fit in the server's receive buffer; a small MSS keeps the server's
	 * send buffer small, so part of the replies waits in its queue. */
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sz = 4096, mss = 536;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
	assert_int_equal(connect(fd, (const struct sockaddr *)ls,
				 as_sockaddr_len(ls)), 0);
	flood_unread(fd, 2000);
	shutdown(fd, SHUT_WR);
	sleep_ms(100);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	assert_true(wait_stats(srv, accepted_ge, 2, &st));
	assert_true(wait_stats(srv, active_eq, 0, &st));
	assert_int_equal(st.tcp_accepted, 2);

	/* The server still serves. */
	fd = tcp_connect(ls);
	assert_int_equal(tcp_which(fd, 1), 'A');
	flood_unread(fd, 80000);
	int fd2 = tcp_connect(ls);
	assert_int_equal(tcp_which(fd2, 2), 'A');
	dns_server_free(srv);	/* with both open, one backed up */
	assert_true(closed_within(fd2, 2000));
	close(fd);
	close(fd2);
	dns_view_unref(va);
}

static void test_lifecycle(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct sockaddr_storage ss;
	struct dns_stats st;
	int err = -1;

	assert_int_equal(as_parse_sockaddr("[::1]:0", 0, &ss), 0);
	struct dns_server_config cfg = { .listen = &ss, .n_listen = 1,
					 .udp_io = udp_io };

	/* Never started: free closes everything. workers 0 = CPUs. */
	dns_server_t *srv = NULL;
	err = dns_server_new(&cfg, va, &srv);
	assert_non_null(srv);
	assert_int_equal(err, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(dns_server_worker_count(srv), (unsigned)ncpu);
	dns_server_publish(srv, va);	/* before start: parked */
	assert_int_equal(dns_server_publish_pending(srv), (unsigned)ncpu);
	dns_server_free(srv);

	/* Started, stopped twice, used after stop, then freed. */
	err = dns_server_new(&cfg, va, &srv);
	assert_non_null(srv);
	assert_int_equal(dns_server_start(srv), 0);
	assert_int_equal(dns_server_start(srv), AS_ESTATE);
	struct sockaddr_storage l = *dns_server_listener(srv, 0);
	assert_int_equal(udp_which(&l, 1), 'A');
	dns_server_stop(srv);
	dns_server_stop(srv);
	assert_int_equal(dns_server_start(srv), AS_ESTATE);
	dns_server_publish(srv, va);
	dns_server_stats(srv, &st);
	assert_int_equal(st.udp_queries, 1);
	/* The port is free again: a plain socket can take it. */
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&l, as_sockaddr_len(&l)),
			 0);
	close(fd);
	dns_server_free(srv);
	dns_server_free(NULL);

	/* No view yet: queries are dropped and counted until one comes. */
	cfg.workers = 1;
	err = dns_server_new(&cfg, NULL, &srv);
	assert_non_null(srv);
	assert_int_equal(dns_server_start(srv), 0);
	l = *dns_server_listener(srv, 0);
	uint8_t q[512], r[2048];
	size_t qlen = build_query(5, WEB, LDNS_RR_TYPE_AAAA, q, sizeof(q));
	fd = udp_socket_to(&l);
	assert_int_equal(udp_ask(fd, q, qlen, r, sizeof(r), 200), -1);
	close(fd);
	assert_true(wait_stats(srv, dropped_ge, 1, &st));
	dns_server_publish(srv, va);
	uint64_t end = now_ms() + 2000;
	for (;;) {
		fd = udp_socket_to(&l);
		ssize_t n = udp_ask(fd, q, qlen, r, sizeof(r), 100);
		close(fd);
		if (n > 0) {
			assert_int_equal(check_aaaa_reply(r, (size_t)n, 5),
					 'A');
			break;
		}
		assert_true(now_ms() < end);
	}
	dns_server_free(srv);

	dns_view_unref(va);
}

/* auto picks io_uring exactly where the self-test says it works. */
static void test_udp_io_auto(void **state)
{
	dns_view_t *va = make_view(set_a, 2);
	struct sockaddr_storage ss;
	char why[160];
	int err = -1;

	assert_int_equal(as_parse_sockaddr("[::1]:0", 0, &ss), 0);
	struct dns_server_config cfg = { .listen = &ss, .n_listen = 1,
					 .workers = 1,
					 .udp_io = DNS_UDP_IO_AUTO };
	dns_server_t *srv = NULL;
	err = dns_server_new(&cfg, va, &srv);
	assert_int_equal(err, AS_OK);
	assert_non_null(srv);
	bool ok = dns_udp_uring_supported(why, sizeof(why));
	assert_int_equal(dns_server_udp_io(srv),
			 ok ? DNS_UDP_IO_URING : DNS_UDP_IO_MMSG);
	assert_true(ok || why[0]);
	assert_string_equal(dns_udp_io_name(dns_server_udp_io(srv)),
			    ok ? "io_uring" : "recvmmsg");
	assert_int_equal(dns_server_start(srv), 0);
	assert_int_equal(udp_which(dns_server_listener(srv, 0), 7), 'A');
	dns_server_free(srv);
	dns_view_unref(va);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_answer),
		cmocka_unit_test(test_udp_burst),
		cmocka_unit_test(test_udp_io_auto),
		cmocka_unit_test(test_tcp_pipelined),
		cmocka_unit_test(test_tcp_split_and_eof),
		cmocka_unit_test(test_tcp_idle_timeout),
		cmocka_unit_test(test_tcp_max_clients),
		cmocka_unit_test(test_tcp_prefix_limit),
		cmocka_unit_test(test_tcp_message_timeout),
		cmocka_unit_test_teardown(test_tcp_fd_limit, nofile_restore),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_busy_address),
		cmocka_unit_test(test_paused),
		cmocka_unit_test(test_wildcard_source),
		cmocka_unit_test_teardown(test_wildcard_source_v6,
					  netns_restore),
		cmocka_unit_test(test_tcp_backpressure),
		cmocka_unit_test(test_tcp_abort_and_stop),
		cmocka_unit_test(test_lifecycle),
	};
	char why[160];
	int failed;

	udp_io = DNS_UDP_IO_MMSG;
	failed = cmocka_run_group_tests_name("udp_io=recvmmsg", tests, NULL,
					     NULL);
	if (!dns_udp_uring_supported(why, sizeof(why))) {
		printf("SKIP udp_io=io_uring group: this kernel cannot run it "
		       "(%s)\n", why);
		return failed;
	}
	udp_io = DNS_UDP_IO_URING;
	failed += cmocka_run_group_tests_name("udp_io=io_uring", tests, NULL,
					      NULL);
	return failed;
}
