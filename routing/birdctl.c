/*
 * routing/birdctl.c - a libuv client for BIRD's control socket.
 *
 * Design. One connection at a time, each in its own heap object (struct
 * conn) so a dead connection can be detached at once and freed later in
 * its close callback while the next one is already being made. BIRD
 * serves a client's commands strictly one after another, so the client
 * keeps a FIFO of commands and writes the next only when the reply to the
 * previous one is complete; a reply therefore always belongs to the head
 * of the queue. A per-command timer bounds the wait; a timeout, a parse
 * error or EOF ends the connection (the stream cannot be resynced) and
 * fails every queued command with that reason. Reconnects back off
 * exponentially. Callbacks may call back into the client (send, free):
 * everything after a user callback rechecks `closing`.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "lib/as.h"
#include "routing/routing.h"

#define CMD_MAX 1024

struct req {
	struct req *next;
	char *line;          /* command + '\n' */
	size_t len;
	bool sent;
	route_birdctl_cb cb;
	void *arg;
};

struct conn {
	uv_pipe_t pipe;
	uv_connect_t creq;
	route_birdctl_t *owner;   /* NULL once detached */
	route_bird_parser_t *parser;
	bool greeted;
	char rbuf[16384];
};

struct wreq {
	uv_write_t w;
	struct conn *conn;
	char data[];
};

struct route_birdctl {
	uv_loop_t *loop;
	char *path;
	uint64_t timeout_ms, backoff_min_ms, backoff_max_ms, backoff_ms;
	size_t queue_max, qlen;
	route_birdctl_state_cb state_cb;
	void *state_arg;

	struct conn *conn;
	bool connected;
	bool down_reported;
	uv_timer_t retry;
	uv_timer_t timeout;
	int open_handles;
	bool closing;

	struct req *head, *tail;
};

static void do_connect(route_birdctl_t *c);
static void send_next(route_birdctl_t *c);

static void req_free(struct req *r)
{
	free(r->line);
	free(r);
}

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *k = h->data;
	route_bird_parser_free(k->parser);
	free(k);
}

/* Detaches and closes the current connection (if any). */
static void conn_drop(route_birdctl_t *c)
{
	struct conn *k = c->conn;
	if (!k)
		return;
	c->conn = NULL;
	k->owner = NULL;
	uv_close((uv_handle_t *)&k->pipe, conn_close_cb);
}

/* Fails every queued command; stops early if a callback freed us. */
static void fail_all(route_birdctl_t *c, int err)
{
	while (c->head) {
		struct req *r = c->head;
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		c->qlen--;
		r->cb(err, NULL, r->arg);
		req_free(r);
	}
}

static void retry_cb(uv_timer_t *t)
{
	route_birdctl_t *c = t->data;
	if (!c->closing)
		do_connect(c);
}

static void schedule_retry(route_birdctl_t *c)
{
	uv_timer_start(&c->retry, retry_cb, c->backoff_ms, 0);
	c->backoff_ms = AS_MIN(c->backoff_ms * 2, c->backoff_max_ms);
}

static void conn_fail(route_birdctl_t *c, int err)
{
	bool was = c->connected;

	conn_drop(c);
	c->connected = false;
	uv_timer_stop(&c->timeout);
	if (was || !c->down_reported) {
		as_warn("routing: BIRD control socket %s: %s", c->path,
			as_strerror(err));
		c->down_reported = true;
		if (c->state_cb)
			c->state_cb(false, err, c->state_arg);
		if (c->closing)
			return;
	}
	fail_all(c, was ? err : -ENOTCONN);
	if (c->closing)
		return;
	schedule_retry(c);
}

static void timeout_cb(uv_timer_t *t)
{
	route_birdctl_t *c = t->data;
	conn_fail(c, AS_ETIMEDOUT);
}

static void on_reply(const struct route_bird_reply *reply, void *arg)
{
	struct conn *k = arg;
	route_birdctl_t *c = k->owner;

	if (!c || c->closing)
		return; /* a previous callback dropped this connection */
	if (!k->greeted) {
		if (reply->code != 1) {
			conn_fail(c, AS_EPROTO);
			return;
		}
		k->greeted = true;
		c->connected = true;
		c->down_reported = false;
		c->backoff_ms = c->backoff_min_ms;
		uv_timer_stop(&c->timeout);
		as_info("routing: connected to BIRD at %s", c->path);
		if (c->state_cb)
			c->state_cb(true, 0, c->state_arg);
		if (!c->closing)
			send_next(c);
		return;
	}
	struct req *r = c->head;
	if (!r || !r->sent) {
		conn_fail(c, AS_EPROTO); /* a reply nobody asked for */
		return;
	}
	c->head = r->next;
	if (!c->head)
		c->tail = NULL;
	c->qlen--;
	uv_timer_stop(&c->timeout);
	r->cb(AS_OK, reply, r->arg);
	req_free(r);
	if (!c->closing && c->conn == k)
		send_next(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *k = h->data;
	*buf = uv_buf_init(k->rbuf, sizeof(k->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *k = s->data;
	route_birdctl_t *c = k->owner;

	if (!c)
		return;
	if (nread < 0) {
		conn_fail(c, nread == UV_EOF ? -ECONNRESET : (int)nread);
		return;
	}
	int rc = route_bird_parser_feed(k->parser, buf->base, (size_t)nread,
					on_reply, k);
	if (rc && k->owner == c && !c->closing)
		conn_fail(c, rc);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *k = req->data;
	route_birdctl_t *c = k->owner;

	if (!c)
		return; /* detached while connecting; close is under way */
	if (status < 0) {
		conn_fail(c, status);
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&k->pipe, alloc_cb, read_cb);
	if (rc) {
		conn_fail(c, rc);
		return;
	}
	/* the greeting must arrive within the command timeout */
	uv_timer_start(&c->timeout, timeout_cb, c->timeout_ms, 0);
}

static void do_connect(route_birdctl_t *c)
{
	struct conn *k = calloc(1, sizeof(*k));
	int rc;

	if (!k || route_bird_parser_new(&k->parser)) {
		free(k);
		conn_fail(c, AS_ENOMEM);
		return;
	}
	rc = uv_pipe_init(c->loop, &k->pipe, 0);
	if (rc) {
		route_bird_parser_free(k->parser);
		free(k);
		conn_fail(c, rc);
		return;
	}
	k->pipe.data = k;
	k->creq.data = k;
	k->owner = c;
	c->conn = k;
	uv_pipe_connect(&k->creq, &k->pipe, c->path, connect_cb);
}

static void write_cb(uv_write_t *w, int status)
{
	struct wreq *wr = w->data;
	struct conn *k = wr->conn;
	free(wr);
	if (status < 0 && k->owner && !k->owner->closing)
		conn_fail(k->owner, status);
}

static void send_next(route_birdctl_t *c)
{
	struct req *r = c->head;

	if (!c->connected || !r || r->sent)
		return;
	struct wreq *wr = malloc(sizeof(*wr) + r->len);
	if (!wr) {
		conn_fail(c, AS_ENOMEM);
		return;
	}
	memcpy(wr->data, r->line, r->len);
	wr->conn = c->conn;
	wr->w.data = wr;
	uv_buf_t b = uv_buf_init(wr->data, (unsigned)r->len);
	int rc = uv_write(&wr->w, (uv_stream_t *)&c->conn->pipe, &b, 1,
			  write_cb);
	if (rc) {
		free(wr);
		conn_fail(c, rc);
		return;
	}
	r->sent = true;
	uv_timer_start(&c->timeout, timeout_cb, c->timeout_ms, 0);
}

static void handle_close_cb(uv_handle_t *h)
{
	route_birdctl_t *c = h->data;
	if (--c->open_handles == 0) {
		free(c->path);
		free(c);
	}
}

int route_birdctl_new(uv_loop_t *loop, const struct route_birdctl_opts *o,
		      route_birdctl_t **out)
{
	route_birdctl_t *c;

	if (!loop || !o || !o->path || !*o->path ||
	    strlen(o->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return AS_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return AS_ENOMEM;
	c->path = strdup(o->path);
	if (!c->path) {
		free(c);
		return AS_ENOMEM;
	}
	c->loop = loop;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 2000;
	c->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : 100;
	c->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : 5000;
	if (c->backoff_max_ms < c->backoff_min_ms)
		c->backoff_max_ms = c->backoff_min_ms;
	c->backoff_ms = c->backoff_min_ms;
	c->queue_max = o->queue_max ? o->queue_max : 64;
	c->state_cb = o->state_cb;
	c->state_arg = o->state_arg;
	uv_timer_init(loop, &c->retry);
	uv_timer_init(loop, &c->timeout);
	c->retry.data = c;
	c->timeout.data = c;
	c->open_handles = 2;
	do_connect(c);
	*out = c;
	return AS_OK;
}

void route_birdctl_free(route_birdctl_t *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	conn_drop(c);
	c->connected = false;
	fail_all(c, -ECANCELED);
	uv_close((uv_handle_t *)&c->retry, handle_close_cb);
	uv_close((uv_handle_t *)&c->timeout, handle_close_cb);
}

bool route_birdctl_connected(const route_birdctl_t *c)
{
	return c->connected;
}

int route_birdctl_send(route_birdctl_t *c, const char *cmd,
		       route_birdctl_cb cb, void *arg)
{
	size_t len;
	struct req *r;

	if (!cmd || !cb)
		return AS_EINVAL;
	len = strlen(cmd);
	if (len == 0 || len > CMD_MAX)
		return AS_EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)cmd[i] < 0x20 || cmd[i] == 0x7f)
			return AS_EINVAL;
	if (c->closing)
		return AS_ESTATE;
	if (!c->connected)
		return -ENOTCONN;
	if (c->qlen >= c->queue_max)
		return AS_ELIMIT;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->line = malloc(len + 1))) {
		free(r);
		return AS_ENOMEM;
	}
	memcpy(r->line, cmd, len);
	r->line[len] = '\n';
	r->len = len + 1;
	r->cb = cb;
	r->arg = arg;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->qlen++;
	send_next(c);
	return AS_OK;
}

/* ---- high-level queries ---------------------------------------------- */

enum hl_kind { HL_PROTOCOLS, HL_BFD, HL_EXPORTED, HL_SWITCH };

struct hl {
	enum hl_kind kind;
	union {
		route_birdctl_protocols_cb protocols;
		route_birdctl_bfd_cb bfd;
		route_birdctl_bool_cb flag;
	} cb;
	void *arg;
	struct in6_addr prefix;
	unsigned plen;
};

static void hl_protocols(struct hl *h, int status,
			 const struct route_bird_reply *reply)
{
	struct route_bird_proto *p = NULL;
	size_t n = 0;

	if (status == AS_OK)
		status = route_bird_parse_protocols(reply, NULL, 0, &n);
	if (status == AS_OK && n) {
		p = calloc(n, sizeof(*p));
		if (!p)
			status = AS_ENOMEM;
		else
			status = route_bird_parse_protocols(reply, p, n, &n);
	}
	h->cb.protocols(status, status ? NULL : p, status ? 0 : n, h->arg);
	free(p);
}

static void hl_bfd(struct hl *h, int status,
		   const struct route_bird_reply *reply)
{
	struct route_bird_bfd *s = NULL;
	size_t n = 0;

	if (status == AS_OK)
		status = route_bird_parse_bfd(reply, NULL, 0, &n);
	if (status == AS_OK && n) {
		s = calloc(n, sizeof(*s));
		if (!s)
			status = AS_ENOMEM;
		else
			status = route_bird_parse_bfd(reply, s, n, &n);
	}
	h->cb.bfd(status, status ? NULL : s, status ? 0 : n, h->arg);
	free(s);
}

static void hl_cb(int status, const struct route_bird_reply *reply,
		  void *arg)
{
	struct hl *h = arg;
	bool v = false;

	switch (h->kind) {
	case HL_PROTOCOLS:
		hl_protocols(h, status, reply);
		break;
	case HL_BFD:
		hl_bfd(h, status, reply);
		break;
	case HL_EXPORTED:
		if (status == AS_OK)
			status = route_bird_parse_exported(reply, &h->prefix,
							   h->plen, &v);
		h->cb.flag(status, v, h->arg);
		break;
	case HL_SWITCH:
		if (status == AS_OK)
			status = route_bird_parse_switch(reply, &v);
		h->cb.flag(status, v, h->arg);
		break;
	}
	free(h);
}

static int hl_send(route_birdctl_t *c, const char *cmd, struct hl *h)
{
	int rc = route_birdctl_send(c, cmd, hl_cb, h);
	if (rc)
		free(h);
	return rc;
}

int route_birdctl_protocols(route_birdctl_t *c,
			    route_birdctl_protocols_cb cb, void *arg)
{
	struct hl *h;
	if (!cb)
		return AS_EINVAL;
	if (!(h = calloc(1, sizeof(*h))))
		return AS_ENOMEM;
	h->kind = HL_PROTOCOLS;
	h->cb.protocols = cb;
	h->arg = arg;
	return hl_send(c, "show protocols", h);
}

int route_birdctl_bfd_sessions(route_birdctl_t *c, route_birdctl_bfd_cb cb,
			       void *arg)
{
	struct hl *h;
	if (!cb)
		return AS_EINVAL;
	if (!(h = calloc(1, sizeof(*h))))
		return AS_ENOMEM;
	h->kind = HL_BFD;
	h->cb.bfd = cb;
	h->arg = arg;
	return hl_send(c, "show bfd sessions", h);
}

int route_birdctl_exported(route_birdctl_t *c, const struct in6_addr *prefix,
			   unsigned prefix_len, const char *proto,
			   route_birdctl_bool_cb cb, void *arg)
{
	char cmd[256];
	struct hl *h;
	int rc;

	if (!cb || !prefix)
		return AS_EINVAL;
	rc = route_bird_cmd_exported(cmd, sizeof(cmd), prefix, prefix_len,
				     proto);
	if (rc)
		return rc;
	if (!(h = calloc(1, sizeof(*h))))
		return AS_ENOMEM;
	h->kind = HL_EXPORTED;
	h->cb.flag = cb;
	h->arg = arg;
	h->prefix = *prefix;
	h->plen = prefix_len;
	return hl_send(c, cmd, h);
}

int route_birdctl_switch(route_birdctl_t *c, const char *proto, bool enable,
			 route_birdctl_bool_cb cb, void *arg)
{
	char cmd[128];
	struct hl *h;
	int rc;

	if (!cb)
		return AS_EINVAL;
	rc = route_bird_cmd_switch(cmd, sizeof(cmd), proto, enable);
	if (rc)
		return rc;
	if (!(h = calloc(1, sizeof(*h))))
		return AS_ENOMEM;
	h->kind = HL_SWITCH;
	h->cb.flag = cb;
	h->arg = arg;
	return hl_send(c, cmd, h);
}
