/*
 * k8s/k8s_client.c - list + watch of Services and EndpointSlices with
 * libcurl's multi interface on the caller's libuv loop.
 *
 * Design. libcurl owns the HTTP (TLS, chunked decoding, HTTP/2, connection
 * reuse); libuv owns the waiting. curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> one uv_poll per socket) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> one uv_timer); both call
 * curl_multi_socket_action() and then collect finished transfers. All
 * decisions about the protocol are in one place, transfer_done() and the
 * handler of each outcome it picks.
 *
 * Each kind has a watcher, a small state machine as in client-go's
 * reflector: LIST (paginated with limit/continue, applied to the store as
 * one relist) -> WATCH from the list's resourceVersion with
 * allowWatchBookmarks -> WATCH again from the last resourceVersion seen
 * when the server ends the stream. 410 Gone, as an HTTP status or as a
 * watch ERROR event, means our resourceVersion was compacted away: relist
 * at once. Anything else that fails (transport error, dropped stream,
 * 401, 5xx) waits an exponential backoff with jitter and resumes the
 * watch from the last resourceVersion, or relists if there is none.
 *
 * Watch events are applied to the store as they arrive; the owner is told
 * from a zero-delay timer, so a burst of events costs one rebuild and the
 * owner's callback never runs inside a curl callback. Nothing is reported
 * before both kinds have been listed once, so a Service never shows up
 * without its endpoints during startup.
 *
 * With opts.node_zone one more watcher follows this node's own Node
 * (fieldSelector=metadata.name=NODE, same protocol) for its zone label
 * (k8s/node.c); it is outside the sync above, so a Node that cannot be
 * read (no RBAC on nodes) holds back nothing, and node_cb is told the
 * zone from the same zero-delay timer.
 *
 * The bearer token is re-read before each request when the file's inode,
 * size or mtime changed (kubelet rotates projected tokens by swapping a
 * symlink), and unconditionally after a 401.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "lib/list.h"
#include "lib/rng.h"

#define TOKEN_MAX (64 << 10)
#define ERRBODY_MAX 4096

enum wstate { W_IDLE = 0, W_LIST, W_WATCH, W_BACKOFF };

/* Watchers: the store's two kinds, the object tables' (okind + 2), then
 * this node's Node (its zone label). */
#define W_NODE (K8S_N_KINDS + K8S_N_OKINDS)
#define N_WATCH (W_NODE + 1)
#define OKIND(k) ((k) - K8S_N_KINDS)
/* client-go's reflector backoff: 800 ms doubling to 30 s, full jitter on
 * top (factor 1.0), back to the start after 2 min without a failure. */
#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define BACKOFF_RESET_MS 120000
/* How often to look again for absent Gateway API CRDs. */
#define ABSENT_RETRY_MS 60000

struct watcher {
	k8s_client_t *c;
	int kind;		/* < K8S_N_KINDS: the store's; else okind + 2 */
	const char *path;
	char pathbuf[96];	/* the object kinds' path */
	char *selector;		/* "&fieldSelector=..." or NULL */
	const char *what;	/* for logs */
	bool on;		/* watched (Ingress / Gateway API switches) */
	bool optional;		/* a CRD: 404 means not installed */
	bool absent;		/* ... and it was */
	enum wstate state;
	CURL *easy;
	struct curl_slist *hdrs;
	char rv[64];		/* last resourceVersion seen */
	char cont[2048];	/* continue token of a paginated list */
	bool relisting;		/* store relist_begin done */
	bool synced;		/* listed at least once */
	char *buf;		/* list body, or partial watch line */
	size_t len, cap;
	bool too_big;
	bool gone;		/* watch ERROR 410 seen */
	bool stream_error;	/* watch ERROR other than 410 */
	uint64_t started_ms;
	uint64_t events;	/* events in this watch */
	uint32_t backoff_ms;	/* next delay */
	uint64_t last_backoff_ms;	/* when the last one started */
	uv_timer_t timer;	/* backoff */
};

/* One write (status, Event, Lease) on the same multi as the watches. */
struct wreq {
	struct as_list link;	/* in c->wq (waiting) or c->wrun (running) */
	k8s_client_t *c;
	CURL *easy;
	struct curl_slist *hdrs;
	char *method, *path, *body;
	char *resp;
	size_t resp_len;
	k8s_req_cb cb;
	void *arg;
};
#define WQ_MAX 64		/* waiting writes; more are refused, counted */
#define WQ_RUNNING 4		/* at once */
#define WRESP_MAX (1u << 20)

struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	k8s_client_t *c;
	struct as_list link;	/* in c->socks: open polls, closed at free */
};

struct k8s_client {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t curl_timer;
	uv_timer_t notify_timer;
	struct k8s_conn conn;
	struct k8s_client_opts o;
	char *zone, *node;
	k8s_store_t *store;
	k8s_objs_t *objs[K8S_N_OKINDS];
	k8s_node_t *nodet;	/* this node's Node (opts.node_zone) */
	char node_told[K8S_ZONE_MAX + 1];	/* the zone node_cb last got */
	bool node_notified;	/* node_cb called once */
	struct watcher w[N_WATCH];
	struct k8s_publish pub;	/* pub.set is what the owner gets */
	char *annotation_class;
	bool absent_logged;	/* "Gateway API CRDs not installed" said */
	bool notified;		/* first callback done */
	char *token;		/* current bearer token */
	struct stat token_st;
	bool have_token_st;
	struct k8s_client_stats st;
	struct as_rng rng;	/* retry jitter */
	struct as_list socks;	/* polls curl asked for */
	struct as_list wq, wrun;	/* writes waiting, running */
	size_t n_wq, n_wrun;
	unsigned open_handles;	/* uv handles not yet closed */
	bool freeing;
};

static void transfer_done(struct watcher *w, CURLcode res);
static void write_done(struct wreq *r, CURLcode res);
static void start_list(struct watcher *w);
static void start_watch(struct watcher *w);

/* ---- small helpers ------------------------------------------------------------ */

static void destroy(k8s_client_t *c)
{
	k8s_publish_free(&c->pub);
	k8s_store_free(c->store);
	k8s_node_free(c->nodet);
	for (int k = 0; k < K8S_N_OKINDS; k++)
		k8s_objs_free(c->objs[k]);
	free(c->annotation_class);
	free(c->conn.server);
	free(c->conn.ca_file);
	free(c->conn.ca_data);
	free(c->conn.token);
	free(c->conn.token_file);
	free(c->conn.cert_file);
	free(c->conn.key_file);
	free(c->conn.cert_data);
	free(c->conn.key_data);
	free(c->token);
	free(c->zone);
	free(c->node);
	for (int k = 0; k < N_WATCH; k++) {
		free(c->w[k].buf);
		free(c->w[k].selector);
	}
	free(c);
}

static void handle_closed(k8s_client_t *c)
{
	if (--c->open_handles == 0 && c->freeing)
		destroy(c);
}

/* Close callbacks, one per kind of handle data. */
static void on_close(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void on_close_watcher(uv_handle_t *h)
{
	struct watcher *w = h->data;

	handle_closed(w->c);
}

static void on_close_sock(uv_handle_t *h)
{
	struct sock_ctx *s = (struct sock_ctx *)h;
	k8s_client_t *c = s->c;

	free(s);
	handle_closed(c);
}

static void sock_close(struct sock_ctx *s)
{
	as_list_remove(&s->link);
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_close_sock);
}

static int dup_bytes(const uint8_t *src, size_t len, uint8_t **dst)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = malloc(len ? len : 1);
	if (!*dst)
		return -1;
	memcpy(*dst, src, len);
	return 0;
}

static int dup_str(const char *src, char **dst)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

/* ---- token -------------------------------------------------------------------- */

static void refresh_token(k8s_client_t *c, bool force)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;

	if (!c->conn.token_file)
		return;
	if (stat(c->conn.token_file, &st) != 0) {
		as_warn("k8s: token file %s: %s%s", c->conn.token_file,
			as_strerror(-errno), c->token ? "; keeping the old token" : "");
		return;
	}
	if (!force && c->token && c->have_token_st &&
	    st.st_ino == c->token_st.st_ino && st.st_dev == c->token_st.st_dev &&
	    st.st_size == c->token_st.st_size &&
	    st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
		return;
	fd = open(c->conn.token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !(buf = malloc(TOKEN_MAX + 1))) {
		as_warn("k8s: token file %s: cannot read", c->conn.token_file);
		goto out;
	}
	n = read(fd, buf, TOKEN_MAX + 1);
	if (n < 0 || n > TOKEN_MAX) {
		as_warn("k8s: token file %s: unreadable or too large", c->conn.token_file);
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	if (!n || strpbrk(buf, "\r\n")) {
		as_warn("k8s: token file %s: empty or not one line", c->conn.token_file);
		goto out;
	}
	free(c->token);
	c->token = buf;
	buf = NULL;
	c->token_st = st;
	c->have_token_st = true;
	c->st.token_reads++;
	as_debug("k8s: token read from %s", c->conn.token_file);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
}

/* ---- curl <-> libuv ---------------------------------------------------------------- */

static void check_done(k8s_client_t *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode res = m->data.result;
		bool watch = false;

		for (int k = 0; k < N_WATCH && !watch; k++)
			if (c->w[k].easy == easy) {
				watch = true;
				transfer_done(&c->w[k], res);
			}
		if (!watch) {
			struct wreq *r = NULL;

			curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
			if (r)
				write_done(r, res);
		}
	}
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct sock_ctx *s = (struct sock_ctx *)h;
	k8s_client_t *c = s->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	check_done(c);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp,
		     void *socketp)
{
	k8s_client_t *c = userp;
	struct sock_ctx *s = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(c->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		s->c = c;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->poll.data = c;
		c->open_handles++;
		as_list_push_front(&c->socks, &s->link);
		curl_multi_assign(c->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
	k8s_client_t *c = t->data;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	k8s_client_t *c = userp;

	if (timeout_ms < 0)
		uv_timer_stop(&c->curl_timer);
	else
		uv_timer_start(&c->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- owner notification ---------------------------------------------------------------- */

/* The Node's zone, to node_cb when it changed (or first known). */
static void node_notify(k8s_client_t *c)
{
	const char *z = k8s_node_zone(c->nodet);

	if (!c->w[W_NODE].synced ||
	    (c->node_notified && !strcmp(c->node_told, z ? z : "")))
		return;
	snprintf(c->node_told, sizeof(c->node_told), "%s", z ? z : "");
	c->node_notified = true;
	if (c->o.node_cb)
		c->o.node_cb(z, c->o.cb_arg);
}

/* Each compromise is logged once, when it first appears. */
static void log_new_warnings(const struct k8s_publish *old,
			     const struct k8s_publish *now)
{
	for (size_t i = 0; i < now->n_warnings; i++) {
		const struct k8s_warning *w = &now->warnings[i];
		bool seen = false;

		for (size_t j = 0; j < old->n_warnings && !seen; j++)
			seen = !strcmp(old->warnings[j].reason, w->reason) &&
				!strcmp(old->warnings[j].message, w->message);
		if (!seen)
			as_warn("k8s: %s %s/%s: %s: %s",
				w->name ? k8s_okind_name(w->okind) : "object",
				w->namespace_ ? w->namespace_ : "",
				w->name ? w->name : "", w->reason, w->message);
	}
}

static void on_notify(uv_timer_t *t)
{
	k8s_client_t *c = t->data;
	struct k8s_publish pub;
	struct k8s_publish_input in = {
		.zone = c->zone,
		.annotation_class = c->annotation_class,
	};
	bool same;

	node_notify(c);
	if (!c->st.synced)
		return;
	for (int k = 0; k < K8S_N_OKINDS; k++)
		in.objs[k] = c->w[K8S_N_KINDS + k].on ? c->objs[k] : NULL;
	if (k8s_publish_build(c->store, &in, &pub) != AS_OK) {
		as_err("k8s: out of memory building the endpoint set");
		/* Try again shortly; the old set stays. */
		uv_timer_start(&c->notify_timer, on_notify, 1000, 0);
		return;
	}
	same = c->notified && k8s_set_equal(&pub.set, &c->pub.set);
	c->st.publishes++;
	log_new_warnings(&c->pub, &pub);
	if (same) {
		/* The owner points into the set it has: keep that one, take
		 * the rest (statuses and warnings may change alone). */
		struct k8s_set keep = c->pub.set;

		c->pub.set = (struct k8s_set){ 0 };
		k8s_publish_free(&c->pub);
		k8s_set_free(&pub.set);
		pub.set = keep;
		c->pub = pub;
		return;
	}
	k8s_publish_free(&c->pub);
	c->pub = pub;
	c->notified = true;
	c->st.updates++;
	as_info("k8s: endpoint set changed: %zu names", pub.set.n_entries);
	if (c->o.cb)
		c->o.cb(&c->pub.set, c->o.cb_arg);
}

static void mark_dirty(k8s_client_t *c)
{
	bool synced = true;

	/* The Node is not part of the set: it never holds the set back. */
	for (int k = 0; k < W_NODE; k++)
		synced &= !c->w[k].on || c->w[k].synced;
	c->st.synced = synced;
	c->st.node_synced = c->w[W_NODE].synced;
	if ((c->st.synced || c->st.node_synced) &&
	    !uv_is_active((uv_handle_t *)&c->notify_timer))
		uv_timer_start(&c->notify_timer, on_notify, 0, 0);
}

/* ---- the watcher's table: the store or an object table ---------------------- */

static void tab_relist_begin(struct watcher *w)
{
	if (w->kind == W_NODE)
		k8s_node_relist_begin(w->c->nodet);
	else if (w->kind < K8S_N_KINDS)
		k8s_store_relist_begin(w->c->store, w->kind);
	else
		k8s_objs_relist_begin(w->c->objs[OKIND(w->kind)]);
}

static int tab_apply_list(struct watcher *w, char *rv, size_t rv_len)
{
	if (w->kind == W_NODE)
		return k8s_node_apply_list(w->c->nodet, w->buf, w->len, rv, rv_len,
					   w->cont, sizeof(w->cont));
	if (w->kind < K8S_N_KINDS)
		return k8s_store_apply_list(w->c->store, w->kind, w->buf, w->len, rv,
					    rv_len, w->cont, sizeof(w->cont));
	return k8s_objs_apply_list(w->c->objs[OKIND(w->kind)], w->buf, w->len, rv,
				   rv_len, w->cont, sizeof(w->cont));
}

static bool tab_relist_end(struct watcher *w)
{
	if (w->kind == W_NODE)
		return k8s_node_relist_end(w->c->nodet);
	if (w->kind < K8S_N_KINDS)
		return k8s_store_relist_end(w->c->store, w->kind);
	return k8s_objs_relist_end(w->c->objs[OKIND(w->kind)]);
}

static void tab_relist_abort(struct watcher *w)
{
	if (w->kind == W_NODE)
		k8s_node_relist_abort(w->c->nodet);
	else if (w->kind < K8S_N_KINDS)
		k8s_store_relist_abort(w->c->store, w->kind);
	else
		k8s_objs_relist_abort(w->c->objs[OKIND(w->kind)]);
}

static int tab_apply_event(struct watcher *w, const char *line, size_t n,
			   struct k8s_event_info *ev)
{
	if (w->kind == W_NODE)
		return k8s_node_apply_event(w->c->nodet, line, n, ev);
	if (w->kind < K8S_N_KINDS)
		return k8s_store_apply_event(w->c->store, w->kind, line, n, ev);
	return k8s_objs_apply_event(w->c->objs[OKIND(w->kind)], line, n, ev);
}

/* ---- requests ------------------------------------------------------------------------ */

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg);

static void backoff(struct watcher *w, const char *why);

/* Appends to the watcher's buffer, bounded by max_body. */
static int buf_add(struct watcher *w, const char *p, size_t n, size_t limit)
{
	if (w->len + n > limit) {
		w->too_big = true;
		return -1;
	}
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 16384;
		char *b;

		while (cap < w->len + n + 1)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b)
			return -1;
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return 0;
}

static void buf_reset(struct watcher *w)
{
	w->len = 0;
	w->too_big = false;
	/* Do not keep a huge list body around between requests. */
	if (w->cap > (1u << 20)) {
		free(w->buf);
		w->buf = NULL;
		w->cap = 0;
	}
}

/* Accept and, with a token, Authorization; NULL on memory. */
static struct curl_slist *request_headers(const k8s_client_t *c)
{
	const char *token = c->token ? c->token : c->conn.token;
	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	struct curl_slist *h;
	char *auth;

	if (!hdrs || !token)
		return hdrs;
	if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
		curl_slist_free_all(hdrs);
		return NULL;
	}
	h = curl_slist_append(hdrs, auth);
	free(auth);
	if (!h)
		curl_slist_free_all(hdrs);
	return h;
}

/* How to trust the server and who we are to it. */
static void set_tls(CURL *e, const struct k8s_conn *cn)
{
	if (cn->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, cn->ca_file);
	if (cn->ca_data) {
		struct curl_blob b = { cn->ca_data, cn->ca_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (cn->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (cn->cert_file)
		curl_easy_setopt(e, CURLOPT_SSLCERT, cn->cert_file);
	if (cn->cert_data) {
		struct curl_blob b = { cn->cert_data, cn->cert_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
	}
	if (cn->key_file)
		curl_easy_setopt(e, CURLOPT_SSLKEY, cn->key_file);
	if (cn->key_data) {
		struct curl_blob b = { cn->key_data, cn->key_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
	}
}

static int start_request(struct watcher *w, const char *query, long timeout_ms)
{
	k8s_client_t *c = w->c;
	const struct k8s_conn *cn = &c->conn;
	char *url = NULL;
	CURL *e;

	refresh_token(c, false);
	buf_reset(w);
	w->gone = w->stream_error = false;
	w->events = 0;
	w->started_ms = as_now_ms();
	e = curl_easy_init();
	if (!e || asprintf(&url, "%s%s?%s", cn->server, w->path, query) < 0) {
		url = NULL;
		goto fail;
	}
	w->hdrs = request_headers(c);
	if (!w->hdrs)
		goto fail;
	curl_easy_setopt(e, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "anysteerd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(e, CURLOPT_PRIVATE, w);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	set_tls(e, cn);
	/* A watch ends after timeoutSeconds on the server; the client-side
	 * limit is only a safety net against a silent, half-open stream. */
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	w->easy = e;
	as_debug("k8s: GET %s", url);
	free(url);
	return 0;
fail:
	as_err("k8s: %s: cannot start a request", w->what);
	if (e)
		curl_easy_cleanup(e);
	curl_slist_free_all(w->hdrs);
	w->hdrs = NULL;
	free(url);
	return -1;
}

static void start_list(struct watcher *w)
{
	k8s_client_t *c = w->c;
	/* Room for the continue token escaped (3 bytes per byte at most). */
	char query[3 * sizeof(w->cont) + 64];

	w->state = W_LIST;
	if (!w->cont[0]) {
		/* A fresh relist: records not in it go at the end. */
		if (w->relisting)
			tab_relist_abort(w);
		tab_relist_begin(w);
		w->relisting = true;
		snprintf(query, sizeof(query), "limit=%u%s", c->o.list_limit,
			 w->selector ? w->selector : "");
	} else {
		char *esc = curl_easy_escape(NULL, w->cont, 0);

		if (!esc) {
			backoff(w, "out of memory");
			return;
		}
		snprintf(query, sizeof(query), "limit=%u&continue=%s%s",
			 c->o.list_limit, esc, w->selector ? w->selector : "");
		curl_free(esc);
	}
	c->st.lists++;
	if (start_request(w, query, 120000L))
		backoff(w, "request failed");
}

static void start_watch(struct watcher *w)
{
	k8s_client_t *c = w->c;
	char query[1024];
	uint32_t t = c->o.watch_timeout_s;

	if (!w->rv[0]) {
		start_list(w);
		return;
	}
	if (!t)
		t = 300 + (uint32_t)as_rng_below(&c->rng, 301);
	w->state = W_WATCH;
	snprintf(query, sizeof(query),
		 "watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s",
		 w->rv, t, w->selector ? w->selector : "");
	c->st.watches++;
	if (start_request(w, query, ((long)t + 60) * 1000))
		backoff(w, "request failed");
}

static void on_backoff(uv_timer_t *t)
{
	struct watcher *w = t->data;

	start_watch(w);	/* lists when there is no resourceVersion */
}

static void backoff(struct watcher *w, const char *why)
{
	k8s_client_t *c = w->c;
	uint64_t now = as_now_ms();
	uint32_t d;

	/* client-go's reflector: the delay doubles from backoff_min to
	 * backoff_max and starts again after 2 min without a failure; the
	 * jitter (factor 1.0) adds up to the delay again, so watchers of
	 * many nodes spread out after an API server restart. Success does
	 * not reset it, so a server that keeps failing right after a good
	 * list (410 on every watch) is not hammered. */
	if (w->last_backoff_ms && now - w->last_backoff_ms > BACKOFF_RESET_MS)
		w->backoff_ms = c->o.backoff_min_ms;
	w->last_backoff_ms = now;
	d = w->backoff_ms;
	d += (uint32_t)as_rng_below(&c->rng, (uint64_t)d + 1);
	w->backoff_ms = (uint32_t)AS_MIN((uint64_t)w->backoff_ms * 2,
					 (uint64_t)c->o.backoff_max_ms);
	c->st.backoffs++;
	c->st.last_backoff_ms = d;
	w->state = W_BACKOFF;
	as_warn("k8s: %s: %s; retrying in %u ms", w->what, why, d);
	uv_timer_start(&w->timer, on_backoff, d, 0);
}

/* Processes complete lines of a watch stream. Returns -1 to stop it. */
static int watch_lines(struct watcher *w)
{
	k8s_client_t *c = w->c;
	size_t off = 0;
	bool dirty = false;
	int rc = 0;

	for (;;) {
		char *nl = memchr(w->buf + off, '\n', w->len - off);
		struct k8s_event_info ev;

		if (!nl)
			break;
		size_t n = (size_t)(nl - (w->buf + off));

		if (n && !(n == 1 && w->buf[off] == '\r')) {
			w->events++;
			if (tab_apply_event(w, w->buf + off, n, &ev) == AS_OK) {
				if (ev.rv[0])
					memcpy(w->rv, ev.rv, sizeof(w->rv));
				dirty |= ev.changed;
				if (ev.type == K8S_EV_ERROR) {
					if (ev.code == 410)
						w->gone = true;
					else
						w->stream_error = true;
					rc = -1;
					off = (size_t)(nl - w->buf) + 1;
					break;
				}
			}
		}
		off = (size_t)(nl - w->buf) + 1;
	}
	memmove(w->buf, w->buf + off, w->len - off);
	w->len -= off;
	if (dirty)
		mark_dirty(c);
	return rc;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watcher *w = arg;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		/* Keep the start of an error body (a Status) for the log. */
		if (w->len < ERRBODY_MAX)
			buf_add(w, data, AS_MIN(n, ERRBODY_MAX - w->len), ERRBODY_MAX);
		return n;
	}
	if (buf_add(w, data, n, w->c->o.max_body))
		return 0;	/* aborts the transfer */
	if (w->state == W_WATCH && watch_lines(w))
		return 0;
	return n;
}

/* ---- the protocol decisions ---------------------------------------------------------------- */

static void list_page_done(struct watcher *w)
{
	k8s_client_t *c = w->c;
	char rv[sizeof(w->rv)];

	if (tab_apply_list(w, rv, sizeof(rv)) != AS_OK) {
		tab_relist_abort(w);
		w->relisting = false;
		w->cont[0] = '\0';
		backoff(w, "malformed list response");
		return;
	}
	if (w->cont[0]) {
		start_list(w);
		return;
	}
	tab_relist_end(w);
	w->relisting = false;
	memcpy(w->rv, rv, sizeof(w->rv));
	w->synced = true;
	if (w->absent) {
		w->absent = false;
		as_notice("k8s: %s: the Gateway API CRD is installed now; watching it",
			  w->what);
	}
	as_debug("k8s: %s listed at resourceVersion %s", w->what, w->rv);
	mark_dirty(c);
	if (!w->rv[0]) {
		backoff(w, "list without resourceVersion");
		return;
	}
	start_watch(w);
}

/* Why a request failed, for the log: the transport error, the size
 * limit, or the HTTP status with the Status message if the body has one. */
static void failure_reason(const struct watcher *w, CURLcode res, long code,
			   char *why, size_t len)
{
	const char *m;
	int ml = 0;

	if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && w->too_big)) {
		snprintf(why, len, "%s", curl_easy_strerror(res));
		return;
	}
	if (w->too_big) {
		snprintf(why, len, "response larger than %zu bytes", w->c->o.max_body);
		return;
	}
	m = w->buf ? strstr(w->buf, "\"message\":\"") : NULL;
	if (m) {
		m += 11;
		ml = (int)strcspn(m, "\"");
	}
	snprintf(why, len, "HTTP %ld%s%.*s", code, m ? ": " : "",
		 AS_MIN(ml, 100), m ? m : "");
}

/* The transfer is over: free its curl handle and request headers. */
static void transfer_release(struct watcher *w)
{
	curl_multi_remove_handle(w->c->multi, w->easy);
	curl_easy_cleanup(w->easy);
	w->easy = NULL;
	curl_slist_free_all(w->hdrs);
	w->hdrs = NULL;
}

/* A watch that ended on an ERROR event: 410 relists, anything else backs
 * off. False when the stream had none. */
static bool watch_error_event(struct watcher *w)
{
	k8s_client_t *c = w->c;

	if (w->state != W_WATCH)
		return false;
	if (w->gone) {
		/* Our resourceVersion was compacted: start over. */
		c->st.relists_gone++;
		as_info("k8s: %s: resourceVersion %s expired, relisting", w->what, w->rv);
		w->rv[0] = '\0';
		w->cont[0] = '\0';
		backoff(w, "410 Gone (watch ERROR event)");	/* then lists */
		return true;
	}
	if (w->stream_error) {
		c->st.errors++;
		backoff(w, "watch ERROR event");
		return true;
	}
	return false;
}

/* HTTP 200: a list page is in, or the server ended the watch. */
static void transfer_ok(struct watcher *w)
{
	if (w->state == W_LIST) {
		list_page_done(w);
		return;
	}
	/* The server ended the watch (timeoutSeconds). A watch that
	 * ends at once without events is not progress. */
	if (w->events == 0 && as_now_ms() - w->started_ms < 1000) {
		backoff(w, "watch ended at once");
		return;
	}
	w->backoff_ms = w->c->o.backoff_min_ms;
	start_watch(w);
}

/* HTTP 410 Gone: our resourceVersion was compacted away; relist. */
static void transfer_gone(struct watcher *w)
{
	w->c->st.relists_gone++;
	as_info("k8s: %s: 410 Gone, relisting", w->what);
	if (w->state == W_LIST && w->relisting) {
		tab_relist_abort(w);
		w->relisting = false;
	}
	w->rv[0] = '\0';
	w->cont[0] = '\0';
	backoff(w, "410 Gone");	/* then lists */
}

/* HTTP 404 on an optional kind's list: the CRD is not installed. An empty
 * table, synced, and a quiet look again now and then (it may be installed
 * later). */
static void crd_absent(struct watcher *w)
{
	k8s_client_t *c = w->c;

	if (w->relisting) {
		tab_relist_abort(w);
		w->relisting = false;
	}
	tab_relist_begin(w);
	tab_relist_end(w);
	w->cont[0] = '\0';
	w->rv[0] = '\0';
	if (!c->absent_logged)
		as_notice("k8s: Gateway API CRDs not installed (404 on %s); "
			  "carrying on with Services and Ingresses, looking "
			  "again every %u s", w->what, ABSENT_RETRY_MS / 1000);
	c->absent_logged = true;
	c->st.gateway_api_absent = true;
	w->absent = true;
	w->synced = true;
	w->state = W_BACKOFF;
	mark_dirty(c);
	uv_timer_start(&w->timer, on_backoff, ABSENT_RETRY_MS, 0);
}

/* Any other failure: keep what we had, refresh the token after 401/403,
 * back off. */
static void transfer_failed(struct watcher *w, CURLcode res, long code)
{
	k8s_client_t *c = w->c;
	char why[160];

	c->st.errors++;
	if (w->state == W_LIST) {
		/* Keep what we had; a relist starts from the first page. */
		tab_relist_abort(w);
		w->relisting = false;
		w->cont[0] = '\0';
	}
	if (res == CURLE_OK && (code == 401 || code == 403)) {
		c->st.unauthorized++;
		refresh_token(c, true);
	}
	failure_reason(w, res, code, why, sizeof(why));
	backoff(w, why);
}

static void transfer_done(struct watcher *w, CURLcode res)
{
	long code = 0;

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	transfer_release(w);
	if (watch_error_event(w))
		return;
	if (res == CURLE_OK && code == 200)
		transfer_ok(w);
	else if (res == CURLE_OK && code == 410)
		transfer_gone(w);
	else if (res == CURLE_OK && code == 404 && w->optional && w->state == W_LIST)
		crd_absent(w);
	else
		transfer_failed(w, res, code);
}

/* ---- writes ------------------------------------------------------------------------------ */

static size_t on_wdata(char *data, size_t size, size_t nmemb, void *arg)
{
	struct wreq *r = arg;
	size_t n = size * nmemb;
	char *b;

	if (r->resp_len + n > WRESP_MAX)
		return 0;
	b = realloc(r->resp, r->resp_len + n + 1);
	if (!b)
		return 0;
	memcpy(b + r->resp_len, data, n);
	r->resp = b;
	r->resp_len += n;
	b[r->resp_len] = '\0';
	return n;
}

static void wreq_free(struct wreq *r)
{
	if (r->easy) {
		if (r->c->multi)
			curl_multi_remove_handle(r->c->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->hdrs);
	free(r->method);
	free(r->path);
	free(r->body);
	free(r->resp);
	free(r);
}

/* The easy handle of a write: method, JSON body (merge patch for PATCH),
 * the client's TLS and token. NULL on failure. */
static CURL *write_easy(k8s_client_t *c, struct wreq *r)
{
	CURL *e = curl_easy_init();
	char *url = NULL;

	refresh_token(c, false);
	r->hdrs = request_headers(c);
	if (!e || !r->hdrs || asprintf(&url, "%s%s", c->conn.server, r->path) < 0)
		goto fail;
	struct curl_slist *h = curl_slist_append(r->hdrs, !strcmp(r->method, "PATCH") ?
			"Content-Type: application/merge-patch+json" :
			"Content-Type: application/json");
	if (!h)
		goto fail;
	r->hdrs = h;
	curl_easy_setopt(e, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "anysteerd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_wdata);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	set_tls(e, &c->conn);
	free(url);
	return e;
fail:
	free(url);
	if (e)
		curl_easy_cleanup(e);
	return NULL;
}

/* Starts waiting writes while there is room. */
static void write_pump(k8s_client_t *c)
{
	struct as_list *n;

	while (c->n_wrun < WQ_RUNNING && (n = as_list_first(&c->wq))) {
		struct wreq *r = AS_LIST_ENTRY(n, struct wreq, link);

		as_list_remove(&r->link);
		c->n_wq--;
		r->easy = write_easy(c, r);
		if (!r->easy || curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
			c->st.write_errors++;
			as_warn("k8s: %s %s: cannot start the request", r->method, r->path);
			if (r->cb)
				r->cb(0, NULL, 0, r->arg);
			wreq_free(r);
			continue;
		}
		as_list_push_back(&c->wrun, &r->link);
		c->n_wrun++;
	}
}

static void write_done(struct wreq *r, CURLcode res)
{
	k8s_client_t *c = r->c;
	long code = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	as_list_remove(&r->link);
	c->n_wrun--;
	if (res != CURLE_OK) {
		as_warn("k8s: %s %s: %s", r->method, r->path, curl_easy_strerror(res));
		code = 0;
	}
	if (code < 200 || code > 299)
		c->st.write_errors++;
	else
		c->st.writes++;
	if (code == 401 || code == 403) {
		c->st.unauthorized++;
		refresh_token(c, true);
	}
	as_debug("k8s: %s %s: HTTP %ld", r->method, r->path, code);
	if (r->cb)
		r->cb(code, r->resp ? r->resp : "", r->resp_len, r->arg);
	wreq_free(r);
	write_pump(c);
}

int k8s_client_request(k8s_client_t *c, const char *method, const char *path,
		       const char *body, k8s_req_cb cb, void *arg)
{
	struct wreq *r;

	if (c->freeing || !method || !path || *path != '/')
		return AS_EINVAL;
	if (c->n_wq >= WQ_MAX) {
		c->st.write_dropped++;
		return AS_ELIMIT;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return AS_ENOMEM;
	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->method = strdup(method);
	r->path = strdup(path);
	r->body = body ? strdup(body) : NULL;
	if (!r->method || !r->path || (body && !r->body)) {
		wreq_free(r);
		return AS_ENOMEM;
	}
	as_list_push_back(&c->wq, &r->link);
	c->n_wq++;
	write_pump(c);
	return AS_OK;
}

void k8s_client_cancel(k8s_client_t *c, void *arg)
{
	struct as_list *heads[2] = { &c->wq, &c->wrun };

	for (int i = 0; i < 2; i++)
		for (struct as_list *n = as_list_first(heads[i]), *nx; n; n = nx) {
			struct wreq *r = AS_LIST_ENTRY(n, struct wreq, link);

			nx = as_list_next(heads[i], n);
			if (r->arg != arg)
				continue;
			as_list_remove(&r->link);
			if (i)
				c->n_wrun--;
			else
				c->n_wq--;
			wreq_free(r);
		}
	write_pump(c);
}

long k8s_client_request_sync(k8s_client_t *c, const char *method,
			     const char *path, const char *body,
			     long timeout_ms, char **resp)
{
	if (resp)
		*resp = NULL;
	struct wreq *r = calloc(1, sizeof(*r));
	long code = 0;
	CURL *e;

	if (!r)
		return 0;
	r->c = c;
	r->method = strdup(method);
	r->path = strdup(path);
	r->body = body ? strdup(body) : NULL;
	if (r->method && r->path && (!body || r->body) && (e = write_easy(c, r))) {
		r->easy = e;
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
		if (curl_easy_perform(e) == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(e);
		r->easy = NULL;
	}
	if (code >= 200 && code <= 299)
		c->st.writes++;
	else
		c->st.write_errors++;
	if (resp && code) {
		*resp = r->resp ? r->resp : strdup("");
		r->resp = NULL;
	}
	wreq_free(r);
	return code;
}

/* ---- life cycle ------------------------------------------------------------------------------- */

/* 0 in the options means the default. */
static void opts_defaults(struct k8s_client_opts *o)
{
	if (!o->backoff_min_ms)
		o->backoff_min_ms = BACKOFF_MIN_MS;
	if (!o->backoff_max_ms)
		o->backoff_max_ms = BACKOFF_MAX_MS;
	if (o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms;
	if (!o->connect_timeout_ms)
		o->connect_timeout_ms = 10000;
	if (!o->max_body)
		o->max_body = 64u << 20;
	if (!o->list_limit)
		o->list_limit = 500;
}

/* A deep copy of the caller's connection; -1 on memory (what was
 * copied is freed by destroy()). */
static int conn_copy(struct k8s_conn *d, const struct k8s_conn *s)
{
	if (dup_str(s->server, &d->server) ||
	    dup_str(s->ca_file, &d->ca_file) ||
	    dup_bytes(s->ca_data, s->ca_len, &d->ca_data) ||
	    dup_str(s->token, &d->token) ||
	    dup_str(s->token_file, &d->token_file) ||
	    dup_str(s->cert_file, &d->cert_file) ||
	    dup_str(s->key_file, &d->key_file) ||
	    dup_bytes(s->cert_data, s->cert_len, &d->cert_data) ||
	    dup_bytes(s->key_data, s->key_len, &d->key_data))
		return -1;
	d->ca_len = s->ca_len;
	d->cert_len = s->cert_len;
	d->key_len = s->key_len;
	d->insecure = s->insecure;
	return 0;
}

/* One watcher per kind, each with its backoff timer. */
static void watchers_init(k8s_client_t *c)
{
	static const char *const whats[K8S_N_KINDS] = {
		"services", "endpointslices",
	};

	for (int k = 0; k < N_WATCH; k++) {
		struct watcher *w = &c->w[k];

		w->c = c;
		w->kind = k;
		if (k == W_NODE) {
			w->path = "/api/v1/nodes";
			w->what = "node";
			w->on = c->o.node_zone;
		} else if (k < K8S_N_KINDS) {
			w->path = k ? "/apis/discovery.k8s.io/v1/endpointslices" :
				"/api/v1/services";
			w->what = whats[k];
			w->on = true;
		} else {
			int ok = OKIND(k);
			const char *av = k8s_okind_api_version(ok);

			snprintf(w->pathbuf, sizeof(w->pathbuf), "/apis/%s/%s", av,
				 k8s_okind_resource(ok));
			w->path = w->pathbuf;
			w->what = k8s_okind_resource(ok);
			w->optional = strncmp(av, "gateway.", 8) == 0;
			w->on = w->optional ? c->o.gateway_api : c->o.ingress;
		}
		w->backoff_ms = c->o.backoff_min_ms;
		uv_timer_init(c->loop, &w->timer);
		w->timer.data = w;
		c->open_handles++;
	}
}

/* The Node table and the watcher's selector: only our Node, by a field
 * selector on its name. */
static int node_watch_init(k8s_client_t *c)
{
	char *esc = curl_easy_escape(NULL, c->node, 0);
	int err;

	err = esc ? k8s_node_new(c->node, &c->nodet) : AS_ENOMEM;
	if (!err && asprintf(&c->w[W_NODE].selector,
			     "&fieldSelector=metadata.name%%3D%s", esc) < 0) {
		c->w[W_NODE].selector = NULL;
		err = AS_ENOMEM;
	}
	curl_free(esc);
	return err;
}

/* The multi handle, its sockets and timer driven by our loop; NULL when
 * libcurl cannot make one. */
static CURLM *multi_new(k8s_client_t *c)
{
	CURLM *m = curl_multi_init();

	if (!m)
		return NULL;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, c);
	return m;
}

int k8s_client_new(uv_loop_t *loop, const struct k8s_conn *conn,
		   const struct k8s_client_opts *opts,
		   k8s_client_t **out)
{
	k8s_client_t *c;
	int err;

	*out = NULL;
	if (!loop || !conn || !conn->server || !opts || !opts->zone ||
	    !opts->node_name)
		return AS_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return AS_ENOMEM;
	c->loop = loop;
	c->o = *opts;
	opts_defaults(&c->o);
	as_list_init(&c->socks);
	as_list_init(&c->wq);
	as_list_init(&c->wrun);
	/* Jitter only, not security: spread clients started together. */
	as_rng_seed(&c->rng, uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)c);
	if (conn_copy(&c->conn, conn) || dup_str(opts->zone, &c->zone) ||
	    dup_str(opts->node_name, &c->node)) {
		err = AS_ENOMEM;
		goto fail;
	}
	c->o.zone = c->zone;
	c->o.node_name = c->node;
	err = k8s_store_new(c->zone, c->node, &c->store);
	if (err)
		goto fail;
	for (int k = 0; k < K8S_N_OKINDS; k++) {
		err = k8s_objs_new(k, &c->objs[k]);
		if (err)
			goto fail;
	}
	if (opts->annotation_class &&
	    dup_str(opts->annotation_class, &c->annotation_class)) {
		err = AS_ENOMEM;
		goto fail;
	}
	c->o.annotation_class = c->annotation_class;
	if (opts->node_zone) {
		err = node_watch_init(c);
		if (err)
			goto fail;
	}
	c->multi = multi_new(c);
	if (!c->multi) {
		err = AS_ELIB;
		goto fail;
	}
	uv_timer_init(loop, &c->curl_timer);
	uv_timer_init(loop, &c->notify_timer);
	c->curl_timer.data = c->notify_timer.data = c;
	c->open_handles = 2;
	watchers_init(c);
	*out = c;
	return AS_OK;
fail:
	if (c->multi)
		curl_multi_cleanup(c->multi);
	/* No handle is initialised yet: free directly. */
	destroy(c);
	return err;
}

int k8s_client_start(k8s_client_t *c)
{
	if (c->w[0].state != W_IDLE)
		return AS_ESTATE;
	as_info("k8s: watching %s as node %s, zone %s", c->conn.server, c->node,
		c->zone);
	for (int k = 0; k < N_WATCH; k++)
		if (c->w[k].on)
			start_list(&c->w[k]);
	return AS_OK;
}

void k8s_client_free(k8s_client_t *c)
{
	if (!c)
		return;
	c->freeing = true;
	/* Writes still waiting or running are dropped, callbacks not made. */
	for (struct as_list *n; (n = as_list_first(&c->wq));) {
		as_list_remove(n);
		wreq_free(AS_LIST_ENTRY(n, struct wreq, link));
	}
	for (struct as_list *n; (n = as_list_first(&c->wrun));) {
		as_list_remove(n);
		wreq_free(AS_LIST_ENTRY(n, struct wreq, link));
	}
	for (int k = 0; k < N_WATCH; k++) {
		struct watcher *w = &c->w[k];

		if (w->easy) {
			curl_multi_remove_handle(c->multi, w->easy);
			curl_easy_cleanup(w->easy);
			w->easy = NULL;
		}
		curl_slist_free_all(w->hdrs);
		w->hdrs = NULL;
		uv_close((uv_handle_t *)&w->timer, on_close_watcher);
	}
	/* Closes cached connections; their sockets come back through
	 * socket_cb as CURL_POLL_REMOVE and close their polls. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	for (struct as_list *n; (n = as_list_first(&c->socks));)
		sock_close(AS_LIST_ENTRY(n, struct sock_ctx, link));
	uv_close((uv_handle_t *)&c->curl_timer, on_close);
	uv_close((uv_handle_t *)&c->notify_timer, on_close);
}

void k8s_client_stats(const k8s_client_t *c,
		      struct k8s_client_stats *out)
{
	*out = c->st;
	k8s_store_stats(c->store, &out->store);
	k8s_node_stats(c->nodet, &out->node);
}

const struct k8s_set *k8s_client_set(const k8s_client_t *c)
{
	return &c->pub.set;
}

const struct k8s_publish *k8s_client_publish(const k8s_client_t *c)
{
	return &c->pub;
}

const k8s_objs_t *k8s_client_objs(const k8s_client_t *c, int okind)
{
	if (okind < 0 || okind >= K8S_N_OKINDS ||
	    !c->w[K8S_N_KINDS + okind].on || c->w[K8S_N_KINDS + okind].absent)
		return NULL;
	return c->objs[okind];
}
