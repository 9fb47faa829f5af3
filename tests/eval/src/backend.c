/*
 * tests/eval/src/backend.c - as-backend, the evaluation's pod: a small
 * HTTP/1.1 server that says which pod served a request (X-Pod) and spends
 * a configurable amount of CPU per request.
 *
 * Why not nginx: the evaluation needs a service time that is CPU work
 * (so a loaded pod is slower, as a real one is, and the node's load signal
 * sees it), set per run, and a per-pod request counter; nginx can only
 * sleep (echo module) or serve files. This server is single-threaded on
 * libuv: read, parse (tests/eval/src/http.c), burn --service-us of thread
 * CPU time, write prebuilt headers and a shared body. Keep-alive as
 * HTTP/1.1 says, pipelined requests in order, Connection: close honoured
 * (the server closes first, so TIME_WAIT stays on the server side and a
 * load generator without reuse does not run out of ports).
 *
 * Usage: as-backend --listen ADDR:PORT [--listen ...] --pod NAME
 *        [--service-us N] [--size BYTES] [--pidfile F]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "lib/as.h"
#include "lib/list.h"
#include "tests/eval/src/eval.h"

#define MAX_LISTEN 16
#define READ_BUF 65536
#define STOP_GRACE_MS 2000

struct srv;

struct conn {
	uv_tcp_t tcp;
	struct srv *srv;
	struct as_list link;	/* in srv->conns until its close callback */
	struct eval_http_req req;
	unsigned pending_writes;
	bool close_after_write;
	bool closing;
};

struct wreq {
	uv_write_t w;
	struct conn *c;
	char *owned;		/* a dynamic body to free, or NULL */
	size_t nbufs;
	uv_buf_t bufs[2];
	char copy[];		/* bytes a partial try_write left over */
};

struct srv {
	uv_loop_t *loop;
	uv_tcp_t listeners[MAX_LISTEN];
	int nlisten;
	uv_signal_t sig_term, sig_int, sig_usr1, sig_usr2;
	uv_timer_t stop_timer;
	struct as_list conns;
	const char *pod;
	uint64_t service_us;
	size_t size;
	char *body;
	/* Prebuilt heads: [keep-alive][head-only] for the 200 response. */
	char *head200[2];
	size_t head200_len[2];
	bool ready;
	bool stopping;
	uint64_t requests;
	uint64_t bad_requests;	/* malformed: answered 400 and closed */
	uint64_t accept_errors;	/* accept failed or no memory */
	char rbuf[READ_BUF];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: as-backend --listen ADDR:PORT [--listen ...] --pod NAME\n"
		"                  [--service-us N] [--size BYTES] [--pidfile F]\n"
		"  GET /healthz: 200 while ready, 503 after SIGUSR1 (SIGUSR2: ready)\n"
		"  GET /stats:   {\"pod\",\"requests\",\"cpu_us\",\"bad_requests\",\"accept_errors\"}\n"
		"  other GET:    N us of CPU work, then a BYTES-byte body (64)\n");
}

/* Busy work until this thread has used `us` more microseconds of CPU. */
static void burn_cpu(uint64_t us)
{
	struct timespec ts;
	volatile uint64_t x = 1;

	if (us == 0)
		return;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	uint64_t end = (uint64_t)ts.tv_sec * 1000000000ull +
		       (uint64_t)ts.tv_nsec + us * 1000ull;
	for (;;) {
		for (int i = 0; i < 512; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >= end)
			break;
	}
}

static uint64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- connections ----------------------------------------------------- */

static void on_close(uv_handle_t *h)
{
	struct conn *c = h->data;
	as_list_remove(&c->link);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_write(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct conn *c = wr->c;

	free(wr->owned);
	free(wr);
	c->pending_writes--;
	if (status < 0 || (c->close_after_write && c->pending_writes == 0))
		conn_close(c);
}

/*
 * Writes bufs (which must stay valid only during this call unless `owned`
 * is set, in which case they point into it): try_write first, the rest
 * through a write request holding a copy.
 */
static void send_bufs(struct conn *c, uv_buf_t *bufs, size_t nbufs,
		      char *owned, bool close_after)
{
	size_t total = 0, done = 0;
	int n = 0;

	for (size_t i = 0; i < nbufs; i++)
		total += bufs[i].len;
	if (c->pending_writes == 0) {
		n = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)nbufs);
		if (n < 0 && n != UV_EAGAIN) {
			free(owned);
			conn_close(c);
			return;
		}
		done = n > 0 ? (size_t)n : 0;
	}
	if (done == total) {
		free(owned);
		if (close_after)
			conn_close(c);
		return;
	}
	/* The rest: copy unless it is the shared body or a buffer we own. */
	struct wreq *wr = malloc(sizeof(*wr) + (total - done));
	if (!wr) {
		free(owned);
		conn_close(c);
		return;
	}
	wr->c = c;
	wr->owned = owned;
	size_t off = done, k = 0;
	char *dst = wr->copy;
	size_t copied = 0;
	for (size_t i = 0; i < nbufs; i++) {
		if (off >= bufs[i].len) {
			off -= bufs[i].len;
			continue;
		}
		char *base = bufs[i].base + off;
		size_t len = bufs[i].len - off;
		off = 0;
		if (base >= c->srv->body && base < c->srv->body + c->srv->size) {
			wr->bufs[k++] = uv_buf_init(base, (unsigned)len);
		} else {
			memcpy(dst + copied, base, len);
			wr->bufs[k++] = uv_buf_init(dst + copied, (unsigned)len);
			copied += len;
		}
	}
	wr->nbufs = k;
	c->pending_writes++;
	c->close_after_write = c->close_after_write || close_after;
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, wr->bufs,
		     (unsigned)wr->nbufs, on_write) < 0) {
		c->pending_writes--;
		free(wr->owned);
		free(wr);
		conn_close(c);
	}
}

static void respond_text(struct conn *c, int status, const char *reason,
			 const char *body, bool keep, bool head)
{
	char *buf = NULL;
	size_t bl = strlen(body);
	int n = asprintf(&buf,
			 "HTTP/1.1 %d %s\r\nX-Pod: %s\r\nContent-Length: %zu\r\n"
			 "Content-Type: text/plain\r\n%s\r\n%s",
			 status, reason, c->srv->pod, bl,
			 keep ? "" : "Connection: close\r\n", head ? "" : body);
	if (n < 0) {
		conn_close(c);
		return;
	}
	uv_buf_t b = uv_buf_init(buf, (unsigned)n);
	send_bufs(c, &b, 1, buf, !keep);
}

static void handle_request(struct conn *c)
{
	struct srv *s = c->srv;
	struct eval_http_req *q = &c->req;
	bool head = strcmp(q->method, "HEAD") == 0;
	bool keep = q->keep_alive && !s->stopping;
	char body[320];

	if (!head && strcmp(q->method, "GET") != 0) {
		respond_text(c, 405, "Method Not Allowed", "method not allowed\n",
			     keep, false);
		return;
	}
	if (strcmp(q->path, "/healthz") == 0) {
		if (s->ready)
			respond_text(c, 200, "OK", "ok", keep, head);
		else
			respond_text(c, 503, "Service Unavailable", "not ready",
				     keep, head);
		return;
	}
	if (strcmp(q->path, "/stats") == 0) {
		snprintf(body, sizeof(body),
			 "{\"pod\":\"%s\",\"requests\":%llu,\"cpu_us\":%llu,"
			 "\"bad_requests\":%llu,\"accept_errors\":%llu}",
			 s->pod, (unsigned long long)s->requests,
			 (unsigned long long)cpu_us(),
			 (unsigned long long)s->bad_requests,
			 (unsigned long long)s->accept_errors);
		respond_text(c, 200, "OK", body, keep, head);
		return;
	}
	s->requests++;
	burn_cpu(s->service_us);
	uv_buf_t b[2] = {
		uv_buf_init(s->head200[keep ? 1 : 0], (unsigned)s->head200_len[keep ? 1 : 0]),
		uv_buf_init(s->body, (unsigned)s->size),
	};
	send_bufs(c, b, head || s->size == 0 ? 1 : 2, NULL, !keep);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	/* One read buffer for the whole server: every read is parsed before
	 * the callback returns. */
	buf->base = c->srv->rbuf;
	buf->len = sizeof(c->srv->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	size_t off = 0;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	while (off < (size_t)nread && !c->closing) {
		size_t used = 0;
		enum eval_http_rc rc = eval_http_req_feed(&c->req, buf->base + off,
							  (size_t)nread - off, &used);
		off += used;
		if (rc == EVAL_HTTP_MORE)
			break;
		if (rc == EVAL_HTTP_ERROR) {
			c->srv->bad_requests++;
			respond_text(c, 400, "Bad Request", "bad request\n", false, false);
			if (!c->closing)
				uv_read_stop(st);
			return;
		}
		bool keep = c->req.keep_alive && !c->srv->stopping;
		handle_request(c);
		if (!keep) {
			if (!c->closing)
				uv_read_stop(st);
			return;
		}
		eval_http_req_init(&c->req);
	}
}

static void on_connection(uv_stream_t *l, int status)
{
	struct srv *s = l->data;
	struct conn *c;

	if (status < 0) {
		s->accept_errors++;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		s->accept_errors++;
		return;
	}
	c->srv = s;
	eval_http_req_init(&c->req);
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	as_list_push_front(&s->conns, &c->link);
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
		s->accept_errors++;
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- signals and shutdown ---------------------------------------------- */

static void close_all(struct srv *s, bool force)
{
	struct as_list *n, *tmp;

	AS_LIST_FOREACH_SAFE(n, tmp, &s->conns) {
		struct conn *c = AS_LIST_ENTRY(n, struct conn, link);
		if (force || c->pending_writes == 0)
			conn_close(c);
		else
			c->close_after_write = true;
	}
}

static void on_stop_timer(uv_timer_t *t)
{
	struct srv *s = t->data;
	close_all(s, true);
	uv_close((uv_handle_t *)t, NULL);
}

static void stop(struct srv *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	for (int i = 0; i < s->nlisten; i++)
		uv_close((uv_handle_t *)&s->listeners[i], NULL);
	uv_close((uv_handle_t *)&s->sig_term, NULL);
	uv_close((uv_handle_t *)&s->sig_int, NULL);
	uv_close((uv_handle_t *)&s->sig_usr1, NULL);
	uv_close((uv_handle_t *)&s->sig_usr2, NULL);
	close_all(s, false);
	/* Connections with writes in flight get a bounded grace. */
	uv_timer_init(s->loop, &s->stop_timer);
	s->stop_timer.data = s;
	uv_timer_start(&s->stop_timer, on_stop_timer, STOP_GRACE_MS, 0);
	uv_unref((uv_handle_t *)&s->stop_timer);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct srv *s = h->data;

	if (signum == SIGUSR1)
		s->ready = false;
	else if (signum == SIGUSR2)
		s->ready = true;
	else
		stop(s);
}

/* ---- main -------------------------------------------------------------- */

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x > max)
		return -1;
	*out = x;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "pod", required_argument, NULL, 'p' },
		{ "service-us", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'b' },
		{ "pidfile", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct srv *s = calloc(1, sizeof(*s));
	const char *listen[MAX_LISTEN], *pidfile = NULL;
	int nlisten = 0, opt, rc = 1;
	uint64_t v;

	if (!s)
		return 1;
	as_list_init(&s->conns);
	s->size = 64;
	s->ready = true;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (nlisten == MAX_LISTEN) {
				fprintf(stderr, "as-backend: at most %d --listen\n", MAX_LISTEN);
				goto usage;
			}
			listen[nlisten++] = optarg;
			break;
		case 'p':
			s->pod = optarg;
			break;
		case 's':
			if (parse_u64(optarg, 10000000, &s->service_us))
				goto usage;
			break;
		case 'b':
			if (parse_u64(optarg, 1ull << 30, &v))
				goto usage;
			s->size = (size_t)v;
			break;
		case 'f':
			pidfile = optarg;
			break;
		case 'h':
			usage(stdout);
			free(s);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc || nlisten == 0 || !s->pod || !*s->pod ||
	    strlen(s->pod) >= EVAL_POD_MAX || strpbrk(s->pod, "\r\n\"\\")) {
		fprintf(stderr, "as-backend: need --listen and --pod (printable, < %d bytes)\n",
			EVAL_POD_MAX);
		goto usage;
	}

	s->body = malloc(s->size ? s->size : 1);
	if (!s->body)
		goto out;
	memset(s->body, 'x', s->size);
	for (int k = 0; k < 2; k++) {
		int n = asprintf(&s->head200[k],
				 "HTTP/1.1 200 OK\r\nX-Pod: %s\r\nContent-Length: %zu\r\n"
				 "Content-Type: text/plain\r\n%s\r\n",
				 s->pod, s->size, k ? "" : "Connection: close\r\n");
		if (n < 0) {
			s->head200[k] = NULL;
			goto out;
		}
		s->head200_len[k] = (size_t)n;
	}

	signal(SIGPIPE, SIG_IGN);
	s->loop = uv_default_loop();
	for (int i = 0; i < nlisten; i++) {
		struct sockaddr_storage ss;
		int err;
		if (as_parse_sockaddr(listen[i], 80, &ss)) {
			fprintf(stderr, "as-backend: bad address %s\n", listen[i]);
			goto out_loop;
		}
		uv_tcp_init(s->loop, &s->listeners[i]);
		s->listeners[i].data = s;
		s->nlisten++;
		if ((err = uv_tcp_bind(&s->listeners[i], (struct sockaddr *)&ss,
				       ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) ||
		    (err = uv_listen((uv_stream_t *)&s->listeners[i], 4096,
				     on_connection))) {
			fprintf(stderr, "as-backend: listen %s: %s\n", listen[i],
				uv_strerror(err));
			goto out_loop;
		}
	}
	uv_signal_t *sigs[] = { &s->sig_term, &s->sig_int, &s->sig_usr1, &s->sig_usr2 };
	int signums[] = { SIGTERM, SIGINT, SIGUSR1, SIGUSR2 };
	for (int i = 0; i < 4; i++) {
		uv_signal_init(s->loop, sigs[i]);
		sigs[i]->data = s;
		uv_signal_start(sigs[i], on_signal, signums[i]);
	}
	rc = 0;
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
			fprintf(stderr, "as-backend: pid file %s: %s\n", pidfile,
				strerror(errno));
			pidfile = NULL;
			rc = 1;
			stop(s);
		}
	}
	/* Runs until stop(); the grace timer is the last handle left. */
	uv_run(s->loop, UV_RUN_DEFAULT);
	if (!uv_is_closing((uv_handle_t *)&s->stop_timer))
		uv_close((uv_handle_t *)&s->stop_timer, NULL);
	uv_run(s->loop, UV_RUN_DEFAULT);
	if (pidfile)
		unlink(pidfile);
	uv_loop_close(s->loop);
	goto out;
out_loop:
	for (int i = 0; i < s->nlisten; i++)
		uv_close((uv_handle_t *)&s->listeners[i], NULL);
	uv_run(s->loop, UV_RUN_DEFAULT);
	uv_loop_close(s->loop);
out:
	free(s->body);
	free(s->head200[0]);
	free(s->head200[1]);
	free(s);
	return rc;
usage:
	usage(stderr);
	free(s);
	return 2;
}
