/*
 * The bird.ctl client against a real BIRD 2 started by the test, in its
 * own network namespace (so its kernel and BFD protocols touch nothing
 * outside), with the control socket in a temporary directory. Covers
 * connecting late (BIRD down at first), the high-level queries, command
 * ordering, a BIRD that stops answering (SIGSTOP: timeout), a BIRD that
 * dies (SIGKILL: reset, then reconnect), a peer that is not BIRD, and
 * freeing with commands pending. Needs root (unshare) and bird.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/as.h"
#include "routing/routing.h"

#define BIRD_BIN "/usr/sbin/bird"

static const char CONF[] =
	"router id 10.0.0.1;\n"
	"protocol device {}\n"
	"protocol static st6 { ipv6; route fd00:53::53/128 unreachable;\n"
	"  route fd00:99::/64 unreachable; }\n"
	"protocol kernel k6 { ipv6 { import none;\n"
	"  export where net = fd00:53::53/128; }; }\n"
	"protocol bfd bfd1 { neighbor ::1 local ::1 multihop; }\n"
	"protocol bgp upstream { local as 65001; neighbor fd00:1::1 as 65000;\n"
	"  ipv6 { import none; export none; }; }\n";

struct fx {
	uv_loop_t loop;
	uv_timer_t tick;
	char dir[64];
	char conf[96];
	char sock[96];
	pid_t bird;
	route_birdctl_t *c;
	int ups, downs, last_err;
	bool connected;
};

#define RUN_UNTIL(f, cond, ms)                                          \
	do {                                                            \
		uint64_t deadline_ = as_now_ms() + (ms);                \
		while (!(cond) && as_now_ms() < deadline_)              \
			uv_run(&(f)->loop, UV_RUN_ONCE);                \
	} while (0)

static void tick_cb(uv_timer_t *t)
{
}

static void state_cb(bool connected, int err, void *arg)
{
	struct fx *f = arg;
	f->connected = connected;
	if (connected)
		f->ups++;
	else
		f->downs++;
	f->last_err = err;
}

static void bird_start(struct fx *f)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (unshare(CLONE_NEWNET) != 0)
			_exit(126);
		execl(BIRD_BIN, "bird", "-f", "-c", f->conf, "-s", f->sock,
		      (char *)NULL);
		_exit(127);
	}
	f->bird = pid;
}

static void bird_kill(struct fx *f)
{
	if (f->bird > 0) {
		kill(f->bird, SIGKILL);
		waitpid(f->bird, NULL, 0);
		f->bird = 0;
	}
	unlink(f->sock);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/anysteer-birdctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf, sizeof(f->conf), "%s/bird.conf", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/bird.ctl", f->dir);
	fp = fopen(f->conf, "w");
	assert_non_null(fp);
	fputs(CONF, fp);
	fclose(fp);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, tick_cb, 5, 5);
	*state = f;
	return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->c)
		route_birdctl_free(f->c);
	bird_kill(f);
	uv_walk(&f->loop, close_walk, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	unlink(f->conf);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void client_new(struct fx *f, uint64_t timeout_ms)
{
	struct route_birdctl_opts o = {
		.path = f->sock,
		.timeout_ms = timeout_ms,
		.backoff_min_ms = 20,
		.backoff_max_ms = 100,
		.state_cb = state_cb,
		.state_arg = f,
	};
	assert_int_equal(route_birdctl_new(&f->loop, &o, &f->c), AS_OK);
}

/* ---- callbacks that record results ------------------------------------ */

struct res {
	int calls;
	int status;
	int code;
	bool flag;
	size_t n;
	struct route_bird_proto protos[16];
	struct route_bird_bfd bfd[4];
};

static void raw_cb(int status, const struct route_bird_reply *r, void *arg)
{
	struct res *x = arg;
	x->calls++;
	x->status = status;
	x->code = r ? r->code : -1;
}

static void bool_cb(int status, bool v, void *arg)
{
	struct res *x = arg;
	x->calls++;
	x->status = status;
	x->flag = v;
}

static void protos_cb(int status, const struct route_bird_proto *p, size_t n,
		      void *arg)
{
	struct res *x = arg;
	x->calls++;
	x->status = status;
	x->n = n;
	for (size_t i = 0; i < n && i < 16; i++)
		x->protos[i] = p[i];
}

static void bfd_cb(int status, const struct route_bird_bfd *s, size_t n,
		   void *arg)
{
	struct res *x = arg;
	x->calls++;
	x->status = status;
	x->n = n;
	for (size_t i = 0; i < n && i < 4; i++)
		x->bfd[i] = s[i];
}

static const struct route_bird_proto *find(const struct res *x,
					   const char *name)
{
	for (size_t i = 0; i < x->n && i < 16; i++)
		if (strcmp(x->protos[i].name, name) == 0)
			return &x->protos[i];
	return NULL;
}

static bool exported(struct fx *f, const char *pfx, unsigned plen,
		     const char *proto)
{
	struct in6_addr a;
	struct res x = { 0 };
	assert_int_equal(inet_pton(AF_INET6, pfx, &a), 1);
	assert_int_equal(route_birdctl_exported(f->c, &a, plen, proto, bool_cb,
						&x), AS_OK);
	RUN_UNTIL(f, x.calls, 2000);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.status, AS_OK);
	return x.flag;
}

static bool switch_proto(struct fx *f, const char *proto, bool enable)
{
	struct res x = { 0 };
	assert_int_equal(route_birdctl_switch(f->c, proto, enable, bool_cb, &x),
			 AS_OK);
	RUN_UNTIL(f, x.calls, 2000);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.status, AS_OK);
	return x.flag;
}

/* ---- tests ------------------------------------------------------------ */

static void test_queries(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 };

	/* BIRD is not running yet: reported once, never fatal */
	client_new(f, 1000);
	RUN_UNTIL(f, f->downs > 0, 1000);
	assert_int_equal(f->downs, 1);
	assert_false(route_birdctl_connected(f->c));
	assert_int_equal(route_birdctl_send(f->c, "show status", raw_cb, &x),
			 -ENOTCONN);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->downs, 1); /* retries are not reported again */

	bird_start(f);
	RUN_UNTIL(f, f->connected, 5000);
	assert_true(f->connected);
	assert_int_equal(f->ups, 1);

	assert_int_equal(route_birdctl_protocols(f->c, protos_cb, &x), AS_OK);
	RUN_UNTIL(f, x.calls, 2000);
	assert_int_equal(x.status, AS_OK);
	assert_int_equal(x.n, 5);
	const struct route_bird_proto *p = find(&x, "st6");
	assert_non_null(p);
	assert_string_equal(p->proto, "Static");
	assert_string_equal(p->state, "up");
	p = find(&x, "upstream");
	assert_non_null(p);
	assert_string_equal(p->proto, "BGP");
	assert_string_equal(p->state, "start");
	assert_true(strlen(p->info) > 0);
	p = find(&x, "bfd1");
	assert_non_null(p);
	assert_string_equal(p->proto, "BFD");

	/* export: passes the filter / filtered / absent / channel down */
	RUN_UNTIL(f, exported(f, "fd00:53::53", 128, "k6"), 2000);
	assert_true(exported(f, "fd00:53::53", 128, "k6"));
	assert_false(exported(f, "fd00:99::", 64, "k6"));
	assert_false(exported(f, "fd00:77::", 64, "k6"));
	assert_false(exported(f, "fd00:53::53", 128, "upstream"));

	/* enable/disable, and what that does to the export */
	assert_true(switch_proto(f, "k6", false));
	assert_false(switch_proto(f, "k6", false));
	assert_false(exported(f, "fd00:53::53", 128, "k6"));
	assert_true(switch_proto(f, "k6", true));
	assert_false(switch_proto(f, "k6", true));
	RUN_UNTIL(f, exported(f, "fd00:53::53", 128, "k6"), 2000);
	assert_true(exported(f, "fd00:53::53", 128, "k6"));

	/* an unknown protocol is BIRD's error, not ours */
	struct res y = { 0 };
	assert_int_equal(route_birdctl_switch(f->c, "nosuch", false, bool_cb,
					      &y), AS_OK);
	RUN_UNTIL(f, y.calls, 2000);
	assert_int_equal(y.status, AS_EREMOTE);
	struct res z = { 0 };
	assert_int_equal(route_birdctl_send(f->c, "bogus command", raw_cb, &z),
			 AS_OK);
	RUN_UNTIL(f, z.calls, 2000);
	assert_int_equal(z.status, AS_OK);
	assert_int_equal(route_bird_class(z.code), ROUTE_BIRD_SYNTAX);
	/* a command with a newline could smuggle a second command */
	assert_int_equal(route_birdctl_send(f->c, "show status\ndown", raw_cb,
					    &z), AS_EINVAL);

	struct res b = { 0 };
	assert_int_equal(route_birdctl_bfd_sessions(f->c, bfd_cb, &b), AS_OK);
	RUN_UNTIL(f, b.calls, 2000);
	assert_int_equal(b.status, AS_OK);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.bfd[0].bfd_proto, "bfd1");
	assert_string_equal(b.bfd[0].address, "::1");
	assert_string_equal(b.bfd[0].iface, "---");
	/* loopback is down in BIRD's namespace: the session cannot be up */
	assert_string_equal(b.bfd[0].state, "Down");
	assert_int_equal(b.bfd[0].interval_ms, 1000);
}

/* Many commands queued at once are answered one by one, in order. */
struct order {
	int next;
	int bad;
};

struct slot {
	struct order *o;
	int i;
};

static void order_cb(int status, const struct route_bird_reply *r, void *arg)
{
	struct slot *s = arg;
	struct order *o = s->o;
	if (status != AS_OK || s->i != o->next ||
	    r->code != (s->i % 2 ? 13 : 0))
		o->bad++;
	o->next++;
}

static void test_ordering(void **state)
{
	struct fx *f = *state;
	struct order o = { 0 };
	struct slot slots[20];

	bird_start(f);
	client_new(f, 1000);
	RUN_UNTIL(f, f->connected, 5000);
	assert_true(f->connected);
	for (int i = 0; i < 20; i++) {
		slots[i] = (struct slot){ &o, i };
		/* odd: show status (final code 0013), even: show protocols */
		assert_int_equal(route_birdctl_send(f->c,
						    i % 2 ? "show status"
							  : "show protocols",
						    order_cb, &slots[i]),
				 AS_OK);
	}
	RUN_UNTIL(f, o.next == 20, 3000);
	assert_int_equal(o.next, 20);
	assert_int_equal(o.bad, 0);
}

static void test_timeout_and_death(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 };

	bird_start(f);
	client_new(f, 200);
	RUN_UNTIL(f, f->connected, 5000);
	assert_true(f->connected);

	/* BIRD stops answering: the command times out, the link is reset */
	kill(f->bird, SIGSTOP);
	/* The timeout starts from the loop's cached time: fresh, or a
	 * preemption since the loop last ran shortens it (below 190 ms). */
	uv_update_time(&f->loop);
	uint64_t t0 = as_now_ms();
	assert_int_equal(route_birdctl_send(f->c, "show status", raw_cb, &x),
			 AS_OK);
	RUN_UNTIL(f, x.calls, 2000);
	assert_int_equal(x.status, AS_ETIMEDOUT);
	assert_true(as_now_ms() - t0 >= 190);
	assert_false(f->connected);
	assert_int_equal(f->last_err, AS_ETIMEDOUT);
	kill(f->bird, SIGCONT);
	RUN_UNTIL(f, f->connected, 3000);
	assert_true(f->connected);
	assert_int_equal(f->ups, 2);

	/* BIRD dies with a command pending, comes back, we reconnect */
	struct res y = { 0 };
	assert_int_equal(route_birdctl_send(f->c, "show protocols all", raw_cb,
					    &y), AS_OK);
	kill(f->bird, SIGKILL);
	waitpid(f->bird, NULL, 0);
	f->bird = 0;
	RUN_UNTIL(f, !f->connected, 2000);
	assert_false(f->connected);
	/* the reply may have beaten the kill; if not, it failed */
	RUN_UNTIL(f, y.calls, 1000);
	assert_int_equal(y.calls, 1);
	if (y.status != AS_OK)
		assert_int_equal(y.status, -ECONNRESET);
	unlink(f->sock);
	bird_start(f);
	RUN_UNTIL(f, f->connected, 5000);
	assert_true(f->connected);
	assert_int_equal(f->ups, 3);
	struct res z = { 0 };
	assert_int_equal(route_birdctl_protocols(f->c, protos_cb, &z), AS_OK);
	RUN_UNTIL(f, z.calls, 2000);
	assert_int_equal(z.status, AS_OK);
	assert_int_equal(z.n, 5);
}

/* A peer that is not BIRD: the greeting is rejected as a protocol error. */
static void fake_close_cb(uv_handle_t *h)
{
	free(h);
}

static void fake_written(uv_write_t *w, int status)
{
	uv_close((uv_handle_t *)w->handle, fake_close_cb);
	free(w);
}

static void fake_conn_cb(uv_stream_t *server, int status)
{
	static char msg[] = "HTTP/1.0 400 Bad Request\r\n\r\n";
	uv_pipe_t *cl = malloc(sizeof(*cl));
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);

	assert_non_null(cl);
	assert_non_null(w);
	uv_pipe_init(server->loop, cl, 0);
	assert_int_equal(uv_accept(server, (uv_stream_t *)cl), 0);
	assert_int_equal(uv_write(w, (uv_stream_t *)cl, &b, 1, fake_written), 0);
}

static void test_not_bird(void **state)
{
	struct fx *f = *state;
	uv_pipe_t srv;

	assert_int_equal(uv_pipe_init(&f->loop, &srv, 0), 0);
	assert_int_equal(uv_pipe_bind(&srv, f->sock), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&srv, 4, fake_conn_cb), 0);
	client_new(f, 1000);
	RUN_UNTIL(f, f->downs > 0, 2000);
	assert_int_equal(f->downs, 1);
	assert_int_equal(f->last_err, AS_EPROTO);
	assert_false(route_birdctl_connected(f->c));
	uv_close((uv_handle_t *)&srv, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	unlink(f->sock);
}

static void test_free_pending(void **state)
{
	struct fx *f = *state;
	struct res x = { 0 }, y = { 0 };

	bird_start(f);
	client_new(f, 1000);
	RUN_UNTIL(f, f->connected, 5000);
	assert_true(f->connected);
	kill(f->bird, SIGSTOP); /* keep both commands pending */
	assert_int_equal(route_birdctl_send(f->c, "show status", raw_cb, &x),
			 AS_OK);
	assert_int_equal(route_birdctl_protocols(f->c, protos_cb, &y), AS_OK);
	route_birdctl_free(f->c);
	f->c = NULL;
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.status, -ECANCELED);
	assert_int_equal(y.calls, 1);
	assert_int_equal(y.status, -ECANCELED);
	kill(f->bird, SIGCONT);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP: needs root to start BIRD in a network namespace\n");
		return 77;
	}
	if (access(BIRD_BIN, X_OK) != 0) {
		printf("SKIP: %s not installed\n", BIRD_BIN);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_death, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_bird, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
