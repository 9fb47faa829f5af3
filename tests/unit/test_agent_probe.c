/*
 * Endpoint health probes (agent/probe.c): the rise/fall state machine,
 * and the libuv prober against real loopback sockets: a listener (up), a
 * closed port (refused: down), a listener whose accept queue is full (SYN
 * dropped: timeout, down), target replacement keeping state, and closing
 * with attempts in flight (no leak under ASan).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/probe.h"
#include "lib/as.h"

/* ---- pure state machine ---- */

static void test_first_result_settles(void **state)
{
	struct agent_probe_state s = { 0 };

	(void)state;
	assert_true(agent_probe_healthy(&s));	/* unknown counts as up */
	assert_false(agent_probe_feed(&s, true, 2, 2));
	assert_int_equal(s.health, AGENT_PROBE_UP);

	struct agent_probe_state d = { 0 };
	assert_true(agent_probe_feed(&d, false, 2, 2));	/* up -> down */
	assert_int_equal(d.health, AGENT_PROBE_DOWN);
	assert_false(agent_probe_healthy(&d));
	assert_int_equal(d.transitions, 1);
}

static void test_rise_fall(void **state)
{
	struct agent_probe_state s = { 0 };

	(void)state;
	agent_probe_feed(&s, true, 2, 3);
	/* fall 3: two failures are not enough, a success resets. */
	assert_false(agent_probe_feed(&s, false, 2, 3));
	assert_false(agent_probe_feed(&s, false, 2, 3));
	assert_false(agent_probe_feed(&s, true, 2, 3));
	assert_false(agent_probe_feed(&s, false, 2, 3));
	assert_false(agent_probe_feed(&s, false, 2, 3));
	assert_true(agent_probe_healthy(&s));
	assert_true(agent_probe_feed(&s, false, 2, 3));
	assert_false(agent_probe_healthy(&s));
	/* rise 2: one success is not enough, a failure resets. */
	assert_false(agent_probe_feed(&s, true, 2, 3));
	assert_false(agent_probe_feed(&s, false, 2, 3));
	assert_false(agent_probe_feed(&s, true, 2, 3));
	assert_true(agent_probe_feed(&s, true, 2, 3));
	assert_true(agent_probe_healthy(&s));
	assert_int_equal(s.transitions, 2);
	assert_int_equal(s.checks_ok, 5);
	assert_int_equal(s.checks_failed, 6);
}

static void test_rise_fall_one(void **state)
{
	struct agent_probe_state s = { .health = AGENT_PROBE_UP };

	(void)state;
	/* 0 behaves as 1: every result decides. */
	assert_true(agent_probe_feed(&s, false, 0, 0));
	assert_true(agent_probe_feed(&s, true, 0, 0));
	assert_true(agent_probe_feed(&s, false, 1, 1));
}

/* ---- libuv prober ---- */

struct run {
	uv_loop_t loop;
	uv_timer_t stop;
	struct agent_prober *p;
	int changes;
	size_t last_idx;
	bool last_healthy;
	int want_changes;
};

static void on_change(void *arg, size_t idx, bool healthy)
{
	struct run *r = arg;
	r->changes++;
	r->last_idx = idx;
	r->last_healthy = healthy;
	if (r->want_changes && r->changes >= r->want_changes)
		uv_stop(&r->loop);
}

static void on_stop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void run_for(struct run *r, uint64_t ms)
{
	uv_timer_start(&r->stop, on_stop, ms, 0);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&r->stop);
}

static void run_init(struct run *r, uint64_t interval, uint64_t timeout)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(uv_loop_init(&r->loop), 0);
	uv_timer_init(&r->loop, &r->stop);
	struct agent_prober_config pc = { interval, timeout, 2, 2 };
	assert_int_equal(agent_prober_new(&r->loop, &pc, on_change, r, &r->p), AS_OK);
}

static void run_done(struct run *r)
{
	agent_prober_close(r->p);
	uv_close((uv_handle_t *)&r->stop, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&r->loop), 0);
}

/* A TCP listener on 127.0.0.1 with the given backlog; returns fd, port. */
static int listener(int backlog, uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static struct agent_probe_target v4_target(uint16_t port)
{
	struct agent_probe_target t = { .family = AF_INET, .port = port };
	uint32_t lo = htonl(INADDR_LOOPBACK);
	memcpy(t.addr, &lo, 4);
	return t;
}

static void test_prober_up_and_refused(void **state)
{
	struct run r;
	uint16_t up_port, down_port;
	int up = listener(16, &up_port);
	int closed = listener(1, &down_port);

	(void)state;
	close(closed);	/* nothing listens there now: refused */
	run_init(&r, 50, 200);
	struct agent_probe_target t[2] = { v4_target(up_port), v4_target(down_port) };
	assert_int_equal(agent_prober_set_targets(r.p, t, 2), AS_OK);
	r.want_changes = 1;
	run_for(&r, 2000);
	/* Only the refused one changes (unknown counts as healthy). */
	assert_int_equal(r.changes, 1);
	assert_int_equal(r.last_idx, 1);
	assert_false(r.last_healthy);
	/* Several more rounds: until each target has three results (300 ms
	 * of loop time made six, unless a stall of this process ate half
	 * of them). */
	const struct agent_probe_state *s0 = agent_prober_state(r.p, 0);
	const struct agent_probe_state *s1 = agent_prober_state(r.p, 1);
	for (int i = 0; i < 100 && (s0->checks_ok < 3 || s1->checks_failed < 3); i++)
		run_for(&r, 50);
	assert_int_equal(r.changes, 1);
	assert_int_equal(s0->health, AGENT_PROBE_UP);
	assert_true(s0->checks_ok >= 3);
	assert_int_equal(s0->checks_failed, 0);
	assert_int_equal(s1->health, AGENT_PROBE_DOWN);
	assert_true(s1->checks_failed >= 3);

	/* The up endpoint goes away: down after `fall` (2) failures. */
	close(up);
	r.want_changes = 2;
	uint64_t t0 = uv_now(&r.loop);
	run_for(&r, 2000);
	assert_int_equal(r.changes, 2);
	assert_int_equal(r.last_idx, 0);
	assert_false(r.last_healthy);
	assert_true(uv_now(&r.loop) - t0 >= 50);	/* not on the first failure */
	assert_true(s0->checks_failed >= 2);
	run_done(&r);
}

static void test_prober_timeout(void **state)
{
	struct run r;
	uint16_t port;
	/* Backlog 0 takes one connection; with it unaccepted the queue is
	 * full and the kernel drops further SYNs: the probe times out. */
	int fd = listener(0, &port);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(filler, (struct sockaddr *)&sin, sizeof(sin)), 0);
	run_init(&r, 300, 100);
	struct agent_probe_target t = v4_target(port);
	assert_int_equal(agent_prober_set_targets(r.p, &t, 1), AS_OK);
	r.want_changes = 1;
	uint64_t t0 = uv_now(&r.loop);
	run_for(&r, 3000);
	assert_int_equal(r.changes, 1);
	assert_false(r.last_healthy);
	/* It failed by the timeout, not at once. */
	assert_true(uv_now(&r.loop) - t0 >= 90);
	run_done(&r);
	close(filler);
	close(fd);
}

static void test_prober_retarget_and_close_in_flight(void **state)
{
	struct run r;
	uint16_t up_port, down_port;
	int up = listener(16, &up_port);
	int closed = listener(1, &down_port);

	(void)state;
	close(closed);
	run_init(&r, 50, 200);
	struct agent_probe_target t[2] = { v4_target(down_port), v4_target(up_port) };
	assert_int_equal(agent_prober_set_targets(r.p, t, 2), AS_OK);
	r.want_changes = 1;
	run_for(&r, 2000);
	assert_int_equal(r.changes, 1);
	assert_int_equal(agent_prober_state(r.p, 0)->health, AGENT_PROBE_DOWN);

	/* Reordered and one added: the known ones keep their state. */
	struct agent_probe_target t2[3] = { v4_target(up_port), v4_target(9),
					    v4_target(down_port) };
	assert_int_equal(agent_prober_set_targets(r.p, t2, 3), AS_OK);
	assert_int_equal(agent_prober_count(r.p), 3);
	assert_int_equal(agent_prober_state(r.p, 0)->health, AGENT_PROBE_UP);
	assert_int_equal(agent_prober_state(r.p, 1)->health, AGENT_PROBE_UNKNOWN);
	assert_int_equal(agent_prober_state(r.p, 2)->health, AGENT_PROBE_DOWN);
	assert_null(agent_prober_state(r.p, 3));
	/* Close with attempts just started: everything is freed. */
	run_for(&r, 1);
	run_done(&r);
	close(up);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_result_settles),
		cmocka_unit_test(test_rise_fall),
		cmocka_unit_test(test_rise_fall_one),
		cmocka_unit_test(test_prober_up_and_refused),
		cmocka_unit_test(test_prober_timeout),
		cmocka_unit_test(test_prober_retarget_and_close_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
