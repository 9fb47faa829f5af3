/*
 * agent/control.c - the control component (component.h).
 *
 * Control socket: a UNIX stream socket (mode 0600) speaking one JSON
 * object per line in each direction.
 *
 *   request:  {"version": 1, "command": "status", "args": {...}}
 *   response: {"version": 1, "ok": true, "data": ...}
 *             {"version": 1, "ok": false, "error": "..."}
 *
 * A connection may carry any number of requests; every line, an empty one
 * too, gets exactly one response line, in request order. Dispatch is a
 * lookup in the daemon's command registry (ctx->command: every
 * component's table); the transport knows no command but its own
 * (commands, status, services, reload, load) at the end of this file. A command may answer later (reload parses on a worker thread):
 * the client's further lines then wait in its buffer, and reading stops,
 * until that answer is written, so responses stay in order.
 *
 * Bounds, so a misbehaving client cannot make the daemon buffer without
 * limit: a request line longer than CONTROL_LINE_MAX gets an error and
 * the connection is closed (complete lines are checked as well as an
 * unfinished one); a client that does not read its responses stops being
 * read once CONTROL_WQ_MAX bytes wait for it; at most CONTROL_MAX_CLIENTS
 * connections, past which the oldest idle one is closed (a burst of
 * clients that leave at once would otherwise lock out the next one
 * until their ends were read). A client that goes away before its response is written
 * (EPIPE, ECONNRESET) is just closed: SIGPIPE is ignored process-wide.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/control.h"
#include "agent/report.h"
#include "lib/as.h"
#include "lib/list.h"

#define CONTROL_LINE_MAX (64 * 1024)
#define CONTROL_MAX_CLIENTS 64
/* Response bytes queued for one client before its requests wait. */
#define CONTROL_WQ_MAX (1024 * 1024)

struct control_client {
	uv_pipe_t pipe;
	struct agent_control *ctl;
	char *buf;
	size_t start, len, cap;	/* unhandled input is buf[start..len) */
	size_t scanned;		/* bytes after start known to hold no '\n' */
	struct agent_reply *pending; /* a command that answers later */
	struct as_list link;	/* in ctl->clients, newest first */
	bool closing;
	bool reading;
	bool pumping;		/* in client_pump (no re-entry) */
	bool blocked;		/* too many response bytes queued */
};

/* An answer owed to a client; outlives the client if it goes away. */
struct agent_reply {
	struct control_client *cl;	/* NULL once the client is gone */
	const char *config_path;	/* reload: for the answer */
};

struct agent_control {
	uv_pipe_t server;
	struct agent_ctx *ctx;
	char *path;
	struct as_list clients;	/* of struct control_client */
	size_t n_clients, n_closing;	/* closing: still in the list */
	bool closing;
	struct as_ratelimit full_log;
};

struct write_req {
	uv_write_t req;
	struct control_client *cl;
	char *data;
};

static void client_pump(struct control_client *cl);

static void client_closed(uv_handle_t *h)
{
	struct control_client *cl = h->data;
	struct agent_control *ctl = cl->ctl;

	as_list_remove(&cl->link);
	ctl->n_clients--;
	ctl->n_closing--;
	if (cl->pending)
		cl->pending->cl = NULL;
	free(cl->buf);
	free(cl);
}

static void client_close(struct control_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = true;
	cl->ctl->n_closing++;
	uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

static void write_done(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct control_client *cl = w->cl;

	free(w->data);
	free(w);
	/* Callbacks of writes run before the stream's close callback, so cl
	 * is still there; UV_ECANCELED means it is closing already. */
	if (status < 0) {
		/* EPIPE, ECONNRESET: the client left without reading. */
		client_close(cl);
		return;
	}
	if (cl->blocked && !cl->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) <
		    CONTROL_WQ_MAX / 2) {
		cl->blocked = false;
		client_pump(cl);
	}
}

static void send_json(struct control_client *cl, json_t *msg)
{
	/* 12 digits: a rounded 14.6 stays 14.6, not 14.599999999999999. */
	char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(12));
	if (!text) {
		client_close(cl);
		return;
	}
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		client_close(cl);
		return;
	}
	line[n] = '\n';
	line[n + 1] = 0;
	struct write_req *w = calloc(1, sizeof(*w));
	if (!w) {
		free(line);
		client_close(cl);
		return;
	}
	w->data = line;
	w->cl = cl;
	uv_buf_t b = uv_buf_init(line, (unsigned)(n + 1));
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, write_done)) {
		free(line);
		free(w);
		client_close(cl);
	}
}

static void send_error(struct control_client *cl, const char *msg)
{
	json_t *r = json_pack("{s:i, s:b, s:s}", "version",
			      AGENT_CONTROL_VERSION, "ok", 0, "error", msg);
	if (r) {
		send_json(cl, r);
		json_decref(r);
	}
}

static void send_ok(struct control_client *cl, json_t *data)
{
	json_t *r = json_pack("{s:i, s:b, s:o}", "version",
			      AGENT_CONTROL_VERSION, "ok", 1, "data", data);
	if (r) {
		send_json(cl, r);
		json_decref(r);
	} else {
		send_error(cl, "out of memory");
	}
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

void agent_reply_done(struct agent_reply *r, json_t *data, const char *err)
{
	struct control_client *cl = r->cl;

	free(r);
	if (!cl) {		/* the client went away meanwhile */
		json_decref(data);
		return;
	}
	cl->pending = NULL;
	if (data)
		send_ok(cl, data);
	else
		send_error(cl, err && *err ? err : "command failed");
	client_pump(cl);	/* its next requests, if any wait */
}

static void handle_line(struct control_client *cl, const char *line, size_t len)
{
	json_error_t jerr;
	char err[512] = "";

	if (blank(line, len)) {
		send_error(cl, "empty request: expected one JSON object per line");
		return;
	}
	json_t *req = json_loadb(line, len, 0, &jerr);

	if (!req || !json_is_object(req)) {
		snprintf(err, sizeof(err), "request is not a JSON object: %s",
			 req ? "wrong type" : jerr.text);
		send_error(cl, err);
		json_decref(req);
		return;
	}
	json_t *ver = json_object_get(req, "version");
	json_t *cmd = json_object_get(req, "command");
	json_t *args = json_object_get(req, "args");
	if (!json_is_integer(ver) || json_integer_value(ver) != AGENT_CONTROL_VERSION) {
		snprintf(err, sizeof(err),
			 "unsupported protocol version (this daemon speaks %d)",
			 AGENT_CONTROL_VERSION);
		send_error(cl, err);
	} else if (!json_is_string(cmd)) {
		send_error(cl, "request has no \"command\" string");
	} else if (args && !json_is_object(args)) {
		send_error(cl, "\"args\" must be an object");
	} else {
		struct agent_command_ref ref;
		const struct agent_command *c = NULL;
		struct agent_ctx *ctx = cl->ctl->ctx;
		if (ctx->command(ctx, json_string_value(cmd), 0, &ref))
			c = ref.cmd;
		if (!c) {
			snprintf(err, sizeof(err), "unknown command '%.64s'",
				 json_string_value(cmd));
			send_error(cl, err);
		} else if (c->afn) {
			struct agent_reply *r = calloc(1, sizeof(*r));
			if (!r) {
				send_error(cl, "out of memory");
			} else {
				r->cl = cl;
				cl->pending = r;
				c->afn(ref.self, args, r);
			}
		} else {
			json_t *data = c->fn(ref.self, args, err, sizeof(err));
			if (!data)
				send_error(cl, err[0] ? err : "command failed");
			else
				send_ok(cl, data);
		}
	}
	json_decref(req);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct control_client *cl = h->data;
	if (cl->cap - cl->len < 4096) {
		size_t cap = cl->cap ? cl->cap * 2 : 8192;
		char *nb = realloc(cl->buf, cap);
		if (!nb) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		cl->buf = nb;
		cl->cap = cap;
	}
	*buf = uv_buf_init(cl->buf + cl->len, (unsigned)(cl->cap - cl->len));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void too_long(struct control_client *cl)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "request too long (at most %d bytes a line)",
		 CONTROL_LINE_MAX);
	send_error(cl, msg);
	client_close(cl);
}

/* Handles the complete lines in the buffer until one has to wait (an
 * answer owed, or too much output queued); reads only while nothing
 * waits. */
static void client_pump(struct control_client *cl)
{
	if (cl->pumping)
		return;		/* an answer given inside a command */
	cl->pumping = true;
	while (!cl->closing && !cl->pending) {
		if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) >
		    CONTROL_WQ_MAX) {
			cl->blocked = true;
			break;
		}
		char *from = cl->buf + cl->start;
		size_t avail = cl->len - cl->start;
		char *nl = avail > cl->scanned ?
			   memchr(from + cl->scanned, '\n', avail - cl->scanned) :
			   NULL;
		if (!nl) {
			cl->scanned = avail;
			if (avail > CONTROL_LINE_MAX)
				too_long(cl);
			break;
		}
		size_t n = (size_t)(nl - from);
		if (n > CONTROL_LINE_MAX) {
			too_long(cl);
			break;
		}
		cl->start += n + 1;
		cl->scanned = 0;
		handle_line(cl, from, n);
	}
	if (!cl->closing) {
		if (cl->start) {
			memmove(cl->buf, cl->buf + cl->start, cl->len - cl->start);
			cl->len -= cl->start;
			cl->start = 0;
		}
		bool want = !cl->pending && !cl->blocked;
		if (want && !cl->reading)
			cl->reading = uv_read_start((uv_stream_t *)&cl->pipe,
						    alloc_cb, read_cb) == 0;
		else if (!want && cl->reading)
			cl->reading = uv_read_stop((uv_stream_t *)&cl->pipe) != 0;
	}
	cl->pumping = false;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct control_client *cl = s->data;

	if (nread < 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)nread;
	client_pump(cl);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct agent_control *ctl = server->data;
	struct control_client *cl;

	if (status < 0)
		return;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return;
	cl->ctl = ctl;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	as_list_push_front(&ctl->clients, &cl->link);
	ctl->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe)) {
		client_close(cl);
		return;
	}
	if (ctl->n_clients - ctl->n_closing > CONTROL_MAX_CLIENTS) {
		/* The oldest client with nothing under way goes (one that
		 * left already but was not read yet, an idle session),
		 * else the newcomer. */
		struct control_client *victim = NULL;
		for (struct as_list *n = as_list_next(&ctl->clients, &cl->link);
		     n; n = as_list_next(&ctl->clients, n)) {
			struct control_client *o =
				AS_LIST_ENTRY(n, struct control_client, link);
			if (!o->closing && !o->pending && o->len == 0)
				victim = o;	/* the list is newest first */
		}
		as_log_ratelimited(&ctl->full_log, AS_LOG_WARN,
				   "control socket: more than %d clients, closing %s",
				   CONTROL_MAX_CLIENTS,
				   victim ? "the oldest idle one" : "the new one");
		if (!victim) {
			send_error(cl, "too many control clients");
			client_close(cl);
			return;
		}
		client_close(victim);
	}
	client_pump(cl);	/* starts reading */
}

/* Creates the socket's directory (one level) and refuses to steal the
 * socket of a running daemon. */
static int prepare_path(const char *path)
{
	struct sockaddr_un sun;
	char dir[sizeof(sun.sun_path)];

	if (strlen(path) >= sizeof(sun.sun_path)) {
		as_err("control socket path too long: %s", path);
		return AS_EINVAL;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0750) && errno != EEXIST) {
			int err = -errno;
			as_err("cannot create %s: %s", dir, as_strerror(err));
			return err;
		}
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			as_err("%s exists and is not a socket", path);
			return AS_EEXIST;
		}
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, path, strlen(path));
		int live = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		if (fd >= 0)
			close(fd);
		if (live) {
			as_err("control socket %s is in use: is another anysteerd running?",
			       path);
			return AS_EEXIST;
		}
		unlink(path); /* stale, from a daemon that died */
	}
	return AS_OK;
}

static void close_now(struct agent_control *ctl);

static int control_start(struct agent_ctx *ctx, void **self)
{
	const char *path = ctx->cfg->control.socket;
	struct agent_control *ctl;
	int err = prepare_path(path);

	*self = NULL;
	if (err)
		return err;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		return AS_ENOMEM;
	}
	ctl->ctx = ctx;
	as_list_init(&ctl->clients);
	*self = ctl;
	uv_pipe_init(ctx->loop, &ctl->server, 0);
	ctl->server.data = ctl;
	/* Created 0600 from the start: no window with a wider mode. */
	mode_t old = umask(0177);
	int rc = uv_pipe_bind(&ctl->server, path);
	umask(old);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&ctl->server, 128, on_connection);
	if (rc) {
		as_err("control socket %s: %s", path, uv_strerror(rc));
		close_now(ctl);
		return AS_ELIB;
	}
	return AS_OK;
}

static void server_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_now(struct agent_control *ctl)
{
	ctl->closing = true;
	struct as_list *n, *tmp;

	unlink(ctl->path);
	AS_LIST_FOREACH_SAFE(n, tmp, &ctl->clients)
		client_close(AS_LIST_ENTRY(n, struct control_client, link));
	uv_close((uv_handle_t *)&ctl->server, server_closed);
}

static void control_stop(void *self)
{
	struct agent_control *ctl = self;

	if (ctl && !ctl->closing)
		close_now(ctl);
}

/* After the loop has run: every close callback is done. */
static void control_free(void *self)
{
	struct agent_control *ctl = self;

	if (!ctl)
		return;
	free(ctl->path);
	free(ctl);
}

/* ---- the control component's own commands -------------------------------- */

/* What `services` lists: services and endpoints of the answer view. */
static json_t *view_counts(const dns_view_t *view)
{
	size_t n = dns_view_service_count(view), eps = 0;
	for (size_t i = 0; i < n; i++) {
		struct dns_service_info si;
		if (dns_view_service(view, i, &si) == AS_OK)
			eps += si.n_endpoints;
	}
	return json_pack("{s:I, s:I}", "services", (json_int_t)n,
			 "endpoints", (json_int_t)eps);
}

static json_t *cmd_status(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_control *ctl = self;
	(void)args; (void)err; (void)errlen;
	json_t *o = ctl->ctx->status(ctl->ctx);
	if (o)
		json_object_set_new(o, "view", view_counts(ctl->ctx->view));
	return o;
}

/* Node name -> CPU utilisation. With gossip, every node's as its record
 * carries it (this node's too), so all nodes show the same numbers;
 * without, this node's sample. */
static json_t *node_cpu(struct agent_ctx *ctx)
{
	struct agent_command_ref ref;
	char err[128];
	json_t *o = json_object(), *m, *mem = NULL;
	size_t i;

	if (ctx->command(ctx, "members", 0, &ref) && ref.cmd->fn)
		mem = ref.cmd->fn(ref.self, NULL, err, sizeof(err));
	json_array_foreach(mem, i, m) {
		const char *state = json_string_value(json_object_get(m, "state"));
		const char *name = json_string_value(json_object_get(m, "name"));
		json_t *u = json_object_get(m, "utilisation");
		/* A dead member's last load is stale: not shown. */
		if (name && json_is_number(u) && state &&
		    (!strcmp(state, "alive") || !strcmp(state, "suspect")))
			json_object_set(o, name, u);
	}
	if (!json_is_array(mem)) {
		double u = ctx->load->cpu_util;
		json_object_set_new(o, ctx->cfg->node.name, json_real(isfinite(u) ? u : 0));
	}
	json_decref(mem);
	return o;
}

static json_t *cmd_services(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_control *ctl = self;
	json_t *o = json_object(), *cpu = node_cpu(ctl->ctx);
	(void)args; (void)err; (void)errlen;
	json_object_set_new(o, "zone", json_string(dns_view_zone(ctl->ctx->view)));
	json_object_set_new(o, "node", json_string(ctl->ctx->cfg->node.name));
	json_t *svcs = agent_services_json(ctl->ctx->view, cpu), *s;
	size_t i;

	json_decref(cpu);
	/* Where each name comes from: the catalog knows, the view does not. */
	json_array_foreach(svcs, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *origin = "static";

		for (size_t j = 0; name && j < ctl->ctx->n_services; j++)
			if (!strcmp(ctl->ctx->services[j].name, name) &&
			    ctl->ctx->services[j].origin)
				origin = ctl->ctx->services[j].origin;
		json_object_set_new(s, "origin", json_string(origin));
	}
	json_object_set_new(o, "services", svcs);
	return o;
}

static void reload_done(void *arg, int rc, const char *err, size_t n_services)
{
	struct agent_reply *r = arg;

	if (rc != AS_OK)
		agent_reply_done(r, NULL, err);
	else
		agent_reply_done(r, json_pack("{s:s, s:i}", "config",
					      r->config_path, "services",
					      (int)n_services), NULL);
}

/* Answers once the file is parsed off the loop and swapped in. */
static void cmd_reload(void *self, json_t *args, struct agent_reply *r)
{
	struct agent_control *ctl = self;
	(void)args;
	r->config_path = ctl->ctx->config_path;
	int rc = ctl->ctx->reload(ctl->ctx, reload_done, r);
	if (rc != AS_OK)
		agent_reply_done(r, NULL, rc == AS_ESTATE ?
				 "the daemon is shutting down" : as_strerror(rc));
}

/* `load`, `load set VALUE`, `load clear`: the local load, and the test
 * knob that pins it (load.override). */
static json_t *cmd_load(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_control *ctl = self;
	json_t *av = json_object_get(args, "argv");
	const char *verb = json_string_value(json_array_get(av, 0));
	const char *arg = json_string_value(json_array_get(av, 1));
	size_t n = json_array_size(av);
	double v = NAN;
	int rc;

	if (verb && strcmp(verb, "set") == 0 && n == 2 && arg) {
		char *end;
		v = strtod(arg, &end);
		if (end == arg || *end || !(v >= 0 && v <= 1)) {
			snprintf(err, errlen, "load set: the value must be a number 0..1, got '%s'", arg);
			return NULL;
		}
	} else if (!(verb && strcmp(verb, "clear") == 0 && n == 1) && n != 0) {
		snprintf(err, errlen, "usage: load [set VALUE|clear] (VALUE 0..1)");
		return NULL;
	}
	if (n) {
		rc = ctl->ctx->load_override(ctl->ctx, v);
		if (rc == AS_ESTATE) {
			snprintf(err, errlen, "load overrides are disabled (set load.override: true; a test knob)");
			return NULL;
		}
		if (rc) {
			snprintf(err, errlen, "load: %s", as_strerror(rc));
			return NULL;
		}
	}
	return agent_load_json(ctl->ctx->load, ctl->ctx->cfg);
}

static json_t *cmd_commands(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_control *ctl = self;
	struct agent_command_ref ref;
	json_t *arr = json_array();
	(void)args; (void)err; (void)errlen;
	for (size_t i = 0; ctl->ctx->command(ctl->ctx, NULL, i, &ref); i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name", ref.cmd->name,
						     "help", ref.cmd->help));
	return arr;
}

/* explain NAME [--client ADDR] [--from NODE] (docs/intents.md). */
static json_t *cmd_explain(void *self, json_t *args, char *err, size_t errlen)
{
	struct agent_control *ctl = self;
	json_t *av = json_object_get(args, "argv");
	const char *name = NULL, *client = NULL, *from = NULL, *why;
	struct dns_prefix cp;
	size_t n = json_array_size(av), opts = 0;
	char q[80];

	for (size_t i = 0; i < n; i++) {
		const char *a = json_string_value(json_array_get(av, i));
		if (a && !strcmp(a, "--client") && i + 1 < n && !client) {
			client = json_string_value(json_array_get(av, ++i));
			opts += 2;
			continue;
		}
		if (a && !strcmp(a, "--from") && i + 1 < n && !from) {
			from = json_string_value(json_array_get(av, ++i));
			opts += 2;
			continue;
		}
		if (!a || name) {
			name = NULL;
			break;
		}
		name = a;
	}
	if (!name || n != opts + 1) {
		snprintf(err, errlen, "usage: explain NAME [--client ADDR[/LEN]] "
			 "[--from NODE]");
		return NULL;
	}
	if (client && (why = dns_prefix_parse(client, &cp))) {
		snprintf(q, sizeof(q), "%.60s", client);
		snprintf(err, errlen, "explain --client %s: %s", q, why);
		return NULL;
	}
	/* --from: the plans NODE makes, from this node's cluster view. */
	const dns_view_t *view = ctl->ctx->view;
	dns_view_t *as = NULL;
	const char *zone = ctl->ctx->node_zone;
	char fz[GOSSIP_ZONE_MAX + 1];

	if (from) {
		int rc = ctl->ctx->view_as(ctl->ctx, from, &as, fz, sizeof(fz));
		snprintf(q, sizeof(q), "%.60s", from);
		if (rc) {
			snprintf(err, errlen, "explain --from %s: %s", q,
				 rc == AS_ENOTFOUND ? "no such node in the cluster "
				 "view (see anysteerctl members)" : rc == AS_ESTATE ?
				 "the node is dead or has left: it answers nothing" :
				 as_strerror(rc));
			return NULL;
		}
		view = as;
		zone = *fz ? fz : NULL;
	}
	json_t *cpu = node_cpu(ctl->ctx);
	json_t *o = agent_explain_json(view, name, zone, client ? &cp : NULL, cpu);
	json_decref(cpu);
	dns_view_unref(as);
	if (o)
		json_object_set_new(o, "from", from ? json_string(from) : json_null());
	if (!o) {
		snprintf(q, sizeof(q), "%.60s", name);
		snprintf(err, errlen, "explain: no service %s in the answers", q);
	}
	return o;
}

static const struct agent_command control_commands[] = {
	{ "commands", cmd_commands, "list the commands this daemon understands", NULL },
	{ "status", cmd_status, "node, version, uptime, load, listeners, query counters", NULL },
	{ "services", cmd_services, "services with their endpoints and effective weights", NULL },
	{ "explain", cmd_explain, "how a service's intent plans this node's answers (or another member's, --from): explain NAME [--client ADDR[/LEN]] [--from NODE]", NULL },
	{ "reload", NULL, "reload the configuration file (like SIGHUP)", cmd_reload },
	{ "load", cmd_load, "the local load; test knob (load.override): load set VALUE|clear", NULL },
};

const struct agent_component_ops agent_control_ops = {
	.name = "control",
	.start = control_start,
	.stop = control_stop,
	.free = control_free,
	.commands = control_commands,
	.n_commands = AS_ARRAY_SIZE(control_commands),
};
