/*
 * The libuv transport on loopback: three cores exchange real UDP and TCP
 * packets, join through a seed, converge, carry a load update, and a
 * fourth node with the wrong key never gets in. Then one node under
 * hostile TCP connections from several 127.0.0.0/8 sources: the caps
 * reset the excess at accept, an old-style 64 MiB frame and a forged
 * header are cut off after their first bytes, idle connections time out,
 * and an empty datagram is counted. Then a node whose loop stalls right
 * after a probe must read the ack waiting in its socket before it runs
 * its overdue timers (no suspicion). Skips (77) if the loopback ports
 * cannot be bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "gossip/gossip.h"
#include "lib/as.h"

#define NODES 4		/* the last one has the wrong key */

struct ctx {
	uv_loop_t loop;
	uv_timer_t timer;
	struct gossip_uv *u[NODES];
	struct gossip_core *core[NODES];	/* owned by u[i] */
	struct sockaddr_storage addr[NODES];
	int phase, closed;
	uint64_t start, deadline, version;
	bool converged, load_seen;
};

static int setup_node(struct ctx *x, int i, const uint8_t *key, int base_port)
{
	struct gossip_config cfg;
	struct gossip_keyring *kr = gossip_keyring_new();
	char name[16], addr[64];
	int rc;
	snprintf(name, sizeof(name), "uv%d", i);
	snprintf(addr, sizeof(addr), "[::1]:%d", base_port + i);
	assert_int_equal(as_parse_sockaddr(addr, 0, &x->addr[i]), AS_OK);
	gossip_config_defaults(&cfg);
	cfg.name = name;
	cfg.label = "uvtest";
	cfg.addr = x->addr[i];
	cfg.seed = (uint64_t)i + 1;
	cfg.seq_base = as_now_ms() * 1000;
	cfg.incarnation = (uint32_t)as_wall_s();
	gossip_keyring_install(kr, key);
	assert_int_equal(gossip_core_new(&cfg, kr, uv_now(&x->loop), &x->core[i]), AS_OK);
	rc = gossip_uv_new(&x->loop, &x->addr[i], x->core[i], &x->u[i]);
	if (rc != AS_OK) {
		gossip_core_free(x->core[i]);
		x->core[i] = NULL;
	}
	return rc;
}

static bool all_see_all(struct ctx *x)
{
	for (int i = 0; i < NODES - 1; i++) {
		if (gossip_core_live_count(x->core[i]) != NODES - 1)
			return false;
		if (gossip_core_member_count(x->core[i]) != NODES - 1)
			return false;
	}
	return true;
}

static void on_closed(void *arg)
{
	struct ctx *x = arg;
	x->closed++;
}

static void tick(uv_timer_t *t)
{
	struct ctx *x = t->data;
	uint64_t now = uv_now(&x->loop);
	if (x->phase == 0 && all_see_all(x)) {
		struct gossip_load l = { .util = 0.7, .psi = 0.2, .cpus = 4, .factor = 0.3 };
		struct gossip_member m;
		x->converged = true;
		gossip_core_set_load(x->core[2], now, &l);
		gossip_core_member_find(x->core[2], "uv2", now, &m);
		x->version = m.rec->version;
		gossip_uv_kick(x->u[2]);
		x->phase = 1;
	} else if (x->phase == 1) {
		struct gossip_member m;
		if (gossip_core_member_find(x->core[0], "uv2", now, &m) == AS_OK &&
		    m.rec->version == x->version && m.rec->load.factor > 0.29 && m.rec->load.factor < 0.31)
			x->load_seen = true;
		/* keep probing a while so the members stay alive on real UDP */
		if (x->load_seen && now - x->start >= 1500)
			x->phase = 2;
	}
	if (x->phase == 2 || now > x->deadline) {
		uv_timer_stop(t);
		x->phase = 3;
	}
}

static void test_loopback_cluster(void **state)
{
	struct ctx *x = calloc(1, sizeof(*x));
	uint8_t key[GOSSIP_KEY_LEN], wrong[GOSSIP_KEY_LEN];
	struct gossip_metrics m0, m3;
	struct gossip_member mem;
	int base = 20000 + (int)(getpid() % 20000), rc = AS_OK;

	gossip_key_generate(key);
	gossip_key_generate(wrong);
	assert_int_equal(uv_loop_init(&x->loop), 0);
	for (int i = 0; i < NODES && rc == AS_OK; i++)
		rc = setup_node(x, i, i == NODES - 1 ? wrong : key, base);
	if (rc != AS_OK) {
		for (int i = 0; i < NODES; i++)
			if (x->u[i])
				gossip_uv_close(x->u[i], on_closed, x);
		uv_run(&x->loop, UV_RUN_DEFAULT);
		uv_loop_close(&x->loop);
		free(x);
		fprintf(stderr, "SKIP: cannot bind [::1] ports near %d: %s\n", base, as_strerror(rc));
		exit(77);
	}
	for (int i = 1; i < NODES; i++) {
		assert_int_equal(gossip_core_join(x->core[i], uv_now(&x->loop), &x->addr[0], 1), AS_OK);
		gossip_uv_kick(x->u[i]);
	}
	uv_timer_init(&x->loop, &x->timer);
	x->timer.data = x;
	x->start = uv_now(&x->loop);
	x->deadline = x->start + 8000;
	uv_timer_start(&x->timer, tick, 50, 50);
	while (x->phase < 3)
		uv_run(&x->loop, UV_RUN_ONCE);
	assert_true(x->converged);
	assert_true(x->load_seen);
	/* the wrong-key node: unknown to the others, alone itself */
	assert_int_equal(gossip_core_member_find(x->core[0], "uv3", 0, &mem), AS_ENOTFOUND);
	assert_int_equal(gossip_core_member_count(x->core[3]), 1);
	gossip_core_metrics(x->core[0], &m0);
	gossip_core_metrics(x->core[3], &m3);
	assert_true(m0.packets_in > 10);
	assert_int_equal(m0.members[GOSSIP_ALIVE], NODES - 1);
	assert_int_equal(m0.suspicions_raised, 0);
	assert_true(m0.stream_in >= 2);		/* push-pull joins over TCP */
	assert_true(m0.auth_failures >= 1);	/* uv3's join attempt */
	assert_int_equal(m0.drops[GOSSIP_DROP_MALFORMED], 0);
	uv_close((uv_handle_t *)&x->timer, NULL);
	for (int i = 0; i < NODES; i++)
		gossip_uv_close(x->u[i], on_closed, x);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	assert_int_equal(x->closed, NODES);
	assert_int_equal(uv_loop_close(&x->loop), 0);
	free(x);
}

/* ---- hostile connections ------------------------------------------------ */

struct hostile {
	uv_loop_t loop;
	uv_timer_t wake;
	struct gossip_uv *u;
	struct gossip_core *core;
	int closed;
};

static void wake_cb(uv_timer_t *t)
{
}

static struct gossip_metrics metrics(struct hostile *h)
{
	struct gossip_metrics m;
	gossip_core_metrics(h->core, &m);
	return m;
}

/* Runs the loop until cond holds (true) or 5 s passed (false). */
static bool run_until(struct hostile *h, bool (*cond)(struct hostile *h, void *arg), void *arg)
{
	uint64_t end = as_now_ms() + 5000;
	while (as_now_ms() < end) {
		uv_run(&h->loop, UV_RUN_ONCE);
		if (cond(h, arg))
			return true;
	}
	return false;
}

static int client(const char *src, const struct sockaddr_in *to)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* loopback: the kernel completes it before anyone accepts */
	assert_int_equal(connect(fd, (const struct sockaddr *)to, sizeof(*to)), 0);
	return fd;
}

/* The peer closed or reset the connection (after the loop ran). */
static bool cut_off(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[4096];
	ssize_t n;
	while (poll(&p, 1, 0) == 1) {
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
	return false;
}

struct want {
	enum gossip_drop drop;
	uint64_t count;
	uint32_t open;
};

static bool drops_reach(struct hostile *h, void *arg)
{
	const struct want *w = arg;
	struct gossip_metrics m = metrics(h);
	return m.drops[w->drop] >= w->count && m.streams_open == w->open;
}

static void on_hostile_closed(void *arg)
{
	((struct hostile *)arg)->closed = 1;
}

static void test_hostile_connections(void **state)
{
	struct hostile *h = calloc(1, sizeof(*h));
	struct gossip_config cfg;
	struct gossip_keyring *kr = gossip_keyring_new();
	struct sockaddr_storage bind_addr;
	struct sockaddr_in to;
	struct gossip_metrics m0, m;
	struct want w;
	uint8_t k[GOSSIP_KEY_LEN], forged[GOSSIP_STREAM_HDR_MAX];
	static uint8_t stream_data[1 << 20];
	const uint8_t v1[4] = { 0x04, 0x00, 0x00, 0x00 };	/* 64 MiB, bare */
	char addr[64];
	int port = 20000 + (int)(getpid() % 20000) + NODES, fd[8], udp, rc;

	assert_int_equal(uv_loop_init(&h->loop), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(as_parse_sockaddr(addr, 0, &bind_addr), AS_OK);
	gossip_config_defaults(&cfg);
	cfg.name = "target";
	cfg.label = "uvtest";
	cfg.addr = bind_addr;
	cfg.stream_max_conns = 4;
	cfg.stream_max_per_source = 2;
	/* Every step up to the forged header must run before the first
	 * idle connection's deadline (at 300 ms, a loaded machine's stall
	 * let fd[0] and fd[1] time out before fd[5] came, so no conn-limit
	 * drop; or left 0 open, not 2, at the forged header's drop). */
	cfg.stream_hdr_timeout_ms = 2000;
	gossip_key_generate(k);
	gossip_keyring_install(kr, k);
	assert_int_equal(gossip_core_new(&cfg, kr, uv_now(&h->loop), &h->core), AS_OK);
	rc = gossip_uv_new(&h->loop, &bind_addr, h->core, &h->u);
	if (rc != AS_OK) {
		gossip_core_free(h->core);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		uv_loop_close(&h->loop);
		free(h);
		fprintf(stderr, "SKIP: cannot bind %s: %s\n", addr, as_strerror(rc));
		exit(77);
	}
	uv_timer_init(&h->loop, &h->wake);
	uv_timer_start(&h->wake, wake_cb, 10, 10);
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m0 = metrics(h);

	/* Three from one source: the third is reset at accept. */
	for (int i = 0; i < 3; i++)
		fd[i] = client("127.0.0.2", &to);
	w = (struct want){ GOSSIP_DROP_SOURCE_LIMIT, 1, 2 };
	assert_true(run_until(h, drops_reach, &w));
	assert_true(cut_off(fd[2]));
	assert_false(cut_off(fd[0]) || cut_off(fd[1]));
	/* Two more sources fill the four slots; a fifth source is reset. */
	fd[3] = client("127.0.0.3", &to);
	fd[4] = client("127.0.0.4", &to);
	fd[5] = client("127.0.0.5", &to);
	w = (struct want){ GOSSIP_DROP_CONN_LIMIT, 1, 4 };
	assert_true(run_until(h, drops_reach, &w));
	assert_true(cut_off(fd[5]));

	/* The attack of issue 11 on fd[0], a forged header on fd[3]: both cut
	 * off after their first bytes, nothing reserved or buffered. */
	assert_int_equal(send(fd[0], v1, sizeof(v1), MSG_NOSIGNAL), (ssize_t)sizeof(v1));
	send(fd[0], stream_data, sizeof(stream_data), MSG_NOSIGNAL | MSG_DONTWAIT);
	gossip_key_generate(forged);
	forged[0] = GOSSIP_STREAM_VERSION;
	forged[1] = 1;
	assert_int_equal(send(fd[3], forged, sizeof(forged), MSG_NOSIGNAL), (ssize_t)sizeof(forged));
	w = (struct want){ GOSSIP_DROP_AUTH, 1, 2 };
	assert_true(run_until(h, drops_reach, &w));
	m = metrics(h);
	assert_int_equal(m.drops[GOSSIP_DROP_VERSION], 1);
	assert_int_equal(m.streams_reserved, 0);
	assert_true(cut_off(fd[0]) && cut_off(fd[3]));

	/* The two idle ones (fd[1], fd[4]) time out at the header deadline. */
	w = (struct want){ GOSSIP_DROP_TIMEOUT, 2, 0 };
	assert_true(run_until(h, drops_reach, &w));
	assert_true(cut_off(fd[1]) && cut_off(fd[4]));
	m = metrics(h);
	assert_int_equal(m.auth_failures, m0.auth_failures + 1);
	assert_int_equal(m.drops[GOSSIP_DROP_SHORT], m0.drops[GOSSIP_DROP_SHORT]);
	assert_int_equal(m.stream_in, m0.stream_in + 1);	/* one whole header */

	/* An empty datagram is a counted drop, not nothing. */
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(sendto(udp, "", 0, 0, (struct sockaddr *)&to, sizeof(to)), 0);
	w = (struct want){ GOSSIP_DROP_SHORT, m0.drops[GOSSIP_DROP_SHORT] + 1, 0 };
	assert_true(run_until(h, drops_reach, &w));
	assert_int_equal(metrics(h).packets_in, m0.packets_in + 1);
	close(udp);
	for (int i = 0; i < 6; i++)
		close(fd[i]);

	uv_close((uv_handle_t *)&h->wake, NULL);
	gossip_uv_close(h->u, on_hostile_closed, h);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	assert_int_equal(h->closed, 1);
	assert_int_equal(uv_loop_close(&h->loop), 0);
	free(h);
}

/* ---- a stalled process reads its acks before its timers (issue 19) --- */

struct side {
	uv_loop_t loop;
	uv_async_t stop;
	struct gossip_uv *u;
	struct gossip_core *core;
	struct sockaddr_storage addr;
	bool closed;
};

static void side_closed(void *arg)
{
	((struct side *)arg)->closed = true;
}

static void side_stop(uv_async_t *a)
{
	struct side *sd = a->data;
	gossip_uv_close(sd->u, side_closed, sd);
	uv_close((uv_handle_t *)a, NULL);
}

static void *side_thread(void *arg)
{
	struct side *sd = arg;
	uv_run(&sd->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int side_init(struct side *sd, const char *name, int port, uint64_t seed)
{
	struct gossip_config cfg;
	struct gossip_keyring *kr = gossip_keyring_new();
	char addr[64];
	int rc;
	uint8_t k[GOSSIP_KEY_LEN];
	memset(k, 7, sizeof(k));
	memset(sd, 0, sizeof(*sd));
	uv_loop_init(&sd->loop);
	snprintf(addr, sizeof(addr), "[::1]:%d", port);
	assert_int_equal(as_parse_sockaddr(addr, 0, &sd->addr), AS_OK);
	gossip_config_defaults(&cfg);
	cfg.name = name;
	cfg.label = "stall";
	cfg.addr = sd->addr;
	cfg.seed = seed;
	cfg.seq_base = as_now_ms() * 1000;
	cfg.incarnation = (uint32_t)as_wall_s();
	gossip_keyring_install(kr, k);
	assert_int_equal(gossip_core_new(&cfg, kr, uv_now(&sd->loop), &sd->core), AS_OK);
	rc = gossip_uv_new(&sd->loop, &sd->addr, sd->core, &sd->u);
	if (rc != AS_OK) {
		gossip_core_free(sd->core);
		uv_loop_close(&sd->loop);
	}
	return rc;
}

static struct gossip_metrics side_metrics(struct side *sd)
{
	struct gossip_metrics m;
	gossip_core_metrics(sd->core, &m);
	return m;
}

/* Node a runs on this thread, node b on its own. a is stalled (its loop
 * not run) for 1 s right after it sent a probe; b acks at once, so the
 * ack waits in a's socket. When a's loop runs again its probe deadlines
 * have all passed: a libuv loop runs timers before it polls, so without
 * reading the socket first a concludes "no ack" and suspects b. */
static void test_stalled_reads_acks_first(void **state)
{
	struct side *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	pthread_t th;
	int base = 20000 + (int)(getpid() % 20000), stalls = 0;
	uint64_t t0;
	struct gossip_member m;

	if (side_init(b, "b", base + 1, 2) != AS_OK) {
		free(a);
		free(b);
		skip();
	}
	if (side_init(a, "a", base, 1) != AS_OK) {
		gossip_uv_close(b->u, NULL, NULL);
		uv_run(&b->loop, UV_RUN_DEFAULT);
		uv_loop_close(&b->loop);
		free(a);
		free(b);
		skip();
	}
	uv_async_init(&b->loop, &b->stop, side_stop);
	b->stop.data = b;
	assert_int_equal(gossip_core_join(a->core, uv_now(&a->loop), &b->addr, 1), AS_OK);
	gossip_uv_kick(a->u);
	assert_int_equal(pthread_create(&th, NULL, side_thread, b), 0);

	/* joined: a knows b and has had acks from it */
	t0 = as_now_ms();
	while (as_now_ms() - t0 < 20000 &&
	       !(gossip_core_live_count(a->core) == 2 && side_metrics(a).msgs_in[GOSSIP_MSG_ACK] >= 3))
		uv_run(&a->loop, UV_RUN_ONCE);
	assert_int_equal(gossip_core_live_count(a->core), 2);

	/* three stalls, each right after a ping whose ack a has not read */
	t0 = as_now_ms();
	while (stalls < 3 && as_now_ms() - t0 < 60000) {
		struct gossip_metrics before = side_metrics(a), after;
		uv_run(&a->loop, UV_RUN_NOWAIT);
		after = side_metrics(a);
		if (after.msgs_out[GOSSIP_MSG_PING] == before.msgs_out[GOSSIP_MSG_PING] ||
		    after.msgs_in[GOSSIP_MSG_ACK] != before.msgs_in[GOSSIP_MSG_ACK]) {
			usleep(1000);
			continue;
		}
		usleep(1000 * 1000);	/* the stall: b acks meanwhile */
		stalls++;
		uv_run(&a->loop, UV_RUN_NOWAIT);
		/* let a's lhm settle back before the next stall */
		for (uint64_t t1 = as_now_ms(); as_now_ms() - t1 < 1500;)
			uv_run(&a->loop, UV_RUN_NOWAIT), usleep(1000);
	}
	assert_int_equal(stalls, 3);
	assert_true(side_metrics(a).stalls_detected >= 3);
	assert_int_equal(side_metrics(a).suspicions_raised, 0);
	assert_int_equal(gossip_core_member_find(a->core, "b", uv_now(&a->loop), &m), AS_OK);
	assert_int_equal(m.state, GOSSIP_ALIVE);

	uv_async_send(&b->stop);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(b->closed);
	assert_int_equal(uv_loop_close(&b->loop), 0);
	gossip_uv_close(a->u, side_closed, a);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	assert_true(a->closed);
	assert_int_equal(uv_loop_close(&a->loop), 0);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_cluster),
		cmocka_unit_test(test_hostile_connections),
		cmocka_unit_test(test_stalled_reads_acks_first),
	};
	/* As in anysteerd: a peer's reset is an error code, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
