/*
 * tests/unit/test_k8s_watch.c - the list+watch client against the test API
 * server (tests/k8s/apiserver.py) on loopback.
 *
 * The server speaks the real protocol (paginated lists, chunked watch
 * streams, resourceVersion, bookmarks, 410 as a watch ERROR event or an
 * HTTP status, 401) on [::1], over plain HTTP except for the in-cluster
 * test, which serves HTTPS with a certificate made by openssl(1) at test
 * time (skipped without it) to check the CA bundle is used. Each test starts its own server and client, drives the
 * server over its /_test/ control endpoints and runs the libuv loop until
 * the client's state shows the expected outcome (or a deadline passes).
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "tests/unit/k8s_fixture.h"

#define ZONE "svc.example.net"
#define WAIT_MS 8000

struct t {
	uv_loop_t loop;
	uv_timer_t tick;
	k8s_client_t *c;
	pid_t pid;
	int port;
	bool tls;
	char dir[64];
	char token_path[128];
	unsigned updates;
	size_t last_entries;
	size_t max_body;	/* client option; 0 = default */
	uint32_t backoff_min, backoff_max;	/* 0 = the tests' 20 / 200 ms */
	bool objects;		/* watch Ingress and Gateway API kinds too */
	bool node_zone;		/* watch node-a's Node for its zone label */
	unsigned node_calls;	/* node_cb calls */
	char zone[64];		/* the last zone node_cb gave, "" none */
};

/* ---- the server ------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
	char tmp[256];
	FILE *f;

	/* Write and rename, as kubelet swaps a projected token. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

/* Debian's interpreter when it is there: a version manager's shim in
 * PATH can take seconds to start. */
static const char *python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" :
		"/usr/local/bin/python3";
}

static void server_start(struct t *t, const char *token, bool tls)
{
	char cert[160], key[160];

	char script[4096], line[64] = "";
	int pfd[2];
	size_t n = 0;

	snprintf(script, sizeof(script), "%s/tests/k8s/apiserver.py", k8s_srcdir());
	assert_int_equal(pipe(pfd), 0);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		/* The server goes with the test, even if the test crashes. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		snprintf(cert, sizeof(cert), "%s/server.pem", t->dir);
		snprintf(key, sizeof(key), "%s/server.key", t->dir);
		if (tls)
			execl(python(), "python3", script, "--listen", "::1", "--token", token,
			      "--tls-cert", cert, "--tls-key", key, (char *)NULL);
		else
			execl(python(), "python3", script, "--listen", "::1", "--token", token,
			      (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	/* "PORT <n>\n" within a few seconds. */
	while (n < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 10000) != 1)
			break;
		r = read(pfd[0], line + n, sizeof(line) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
	}
	close(pfd[0]);
	if (sscanf(line, "PORT %d", &t->port) != 1)
		fail_msg("test API server did not start (got \"%s\")", line);
}

static void server_stop(struct t *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
}

static size_t sink(char *p, size_t s, size_t n, void *arg)
{
	char **out = arg;
	size_t old = *out ? strlen(*out) : 0;
	char *b = realloc(*out, old + s * n + 1);

	assert_non_null(b);
	memcpy(b + old, p, s * n);
	b[old + s * n] = '\0';
	*out = b;
	return s * n;
}

/* POST (body != NULL) or GET on the control API; returns the response. */
static json_t *ctl(struct t *t, const char *path, const char *body)
{
	CURL *e = curl_easy_init();
	char url[256], *resp = NULL;
	long code = 0;
	json_t *j;

	snprintf(url, sizeof(url), "%s://[::1]:%d%s", t->tls ? "https" : "http",
		 t->port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	/* The test's own control channel; the client under test verifies. */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	if (code != 200)
		fail_msg("%s: HTTP %ld: %s", path, code, resp ? resp : "");
	j = json_loads(resp, 0, NULL);
	free(resp);
	assert_non_null(j);
	return j;
}

static void ctl_do(struct t *t, const char *path, const char *body)
{
	json_decref(ctl(t, path, body));
}

static void ctl_apply(struct t *t, json_t *obj, bool silent)
{
	char *text = k8s_dump(obj);

	ctl_do(t, silent ? "/_test/apply?silent=1" : "/_test/apply", text);
	free(text);
}

static void ctl_apply_file(struct t *t, const char *name)
{
	json_t *j = k8s_fixture(name);

	ctl_apply(t, j, false);
	json_decref(j);
}

static long server_stat(struct t *t, const char *key)
{
	json_t *s = ctl(t, "/_test/stats", NULL);
	json_t *v = json_object_get(s, key);
	long r;

	if (!v)
		v = json_object_get(json_object_get(s, "requests"), key);
	r = v ? (long)json_integer_value(v) : 0;
	json_decref(s);
	return r;
}

static bool server_saw_token(struct t *t, const char *token)
{
	json_t *s = ctl(t, "/_test/stats", NULL), *v;
	size_t i;
	bool found = false;

	json_array_foreach(json_object_get(s, "tokens_seen"), i, v)
		found |= !strcmp(json_string_value(v), token);
	json_decref(s);
	return found;
}

/* ---- the client ----------------------------------------------------------------- */

static void on_set(const struct k8s_set *set, void *arg)
{
	struct t *t = arg;

	t->updates++;
	t->last_entries = set->n_entries;
}

static void on_node_zone(const char *zone, void *arg)
{
	struct t *t = arg;

	t->node_calls++;
	snprintf(t->zone, sizeof(t->zone), "%s", zone ? zone : "");
}

static void on_tick(uv_timer_t *h)
{
}

static void client_start_conn(struct t *t, const struct k8s_conn *conn,
			      uint32_t list_limit)
{
	struct k8s_client_opts o = {
		.zone = ZONE, .node_name = "node-a",
		.backoff_min_ms = t->backoff_min ? t->backoff_min : 20,
		.backoff_max_ms = t->backoff_max ? t->backoff_max : 200,
		.list_limit = list_limit, .cb = on_set, .cb_arg = t,
		.max_body = t->max_body,
		.ingress = t->objects, .gateway_api = t->objects,
		.node_zone = t->node_zone, .node_cb = on_node_zone,
	};

	assert_int_equal(k8s_client_new(&t->loop, conn, &o, &t->c), AS_OK);
	assert_int_equal(k8s_client_start(t->c), AS_OK);
}

static void client_start(struct t *t, uint32_t list_limit)
{
	struct k8s_conn conn = { 0 };
	char server[64];

	snprintf(server, sizeof(server), "http://[::1]:%d", t->port);
	conn.server = server;
	conn.token_file = t->token_path;
	client_start_conn(t, &conn, list_limit);
}

static struct k8s_client_stats stats(struct t *t)
{
	struct k8s_client_stats s;

	k8s_client_stats(t->c, &s);
	return s;
}

static const struct k8s_entry *entry(struct t *t, const char *label)
{
	const struct k8s_set *set = k8s_client_set(t->c);

	for (size_t i = 0; i < set->n_entries; i++)
		if (!strcmp(set->entries[i].label, label))
			return &set->entries[i];
	return NULL;
}

/* Number of endpoints of label, -1 if the name is absent. */
static long n_eps(struct t *t, const char *label)
{
	const struct k8s_entry *e = entry(t, label);

	return e ? (long)e->n_endpoints : -1;
}

/* Runs the loop until cond(t, arg) holds; false after WAIT_MS. */
typedef bool (*cond_fn)(struct t *t, long arg, const char *s);

static bool wait_for(struct t *t, cond_fn cond, long arg, const char *s)
{
	uint64_t end = as_now_ms() + WAIT_MS;

	while (!cond(t, arg, s)) {
		if (as_now_ms() > end)
			return false;
		uv_run(&t->loop, UV_RUN_ONCE);
	}
	return true;
}

/* Runs the loop for ms without waiting for anything in particular. */
static void run_for(struct t *t, uint64_t ms)
{
	uint64_t end = as_now_ms() + ms;

	while (as_now_ms() < end)
		uv_run(&t->loop, UV_RUN_ONCE);
}

static bool c_eps(struct t *t, long n, const char *label)
{
	return n_eps(t, label) == n;
}

static bool c_updates(struct t *t, long n, const char *s)
{
	return t->updates >= (unsigned long)n;
}

static bool c_watches(struct t *t, long n, const char *s)
{
	return stats(t).watches >= (uint64_t)n;
}

static bool c_unauth(struct t *t, long n, const char *s)
{
	return stats(t).unauthorized >= (uint64_t)n;
}

static bool c_gone(struct t *t, long n, const char *s)
{
	return stats(t).relists_gone >= (uint64_t)n;
}

static bool c_server_watches(struct t *t, long n, const char *s)
{
	run_for(t, 10);
	return server_stat(t, "watches") >= n;
}

static bool c_malformed(struct t *t, long n, const char *s)
{
	return stats(t).store.malformed >= (uint64_t)n;
}

/* ---- fixture set-up ------------------------------------------------------------------- */

static int setup_common(void **state, bool tls)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/k8swatchXXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->token_path, sizeof(t->token_path), "%s/token", t->dir);
	write_file(t->token_path, "tok1\n");
	assert_int_equal(uv_loop_init(&t->loop), 0);
	/* A steady wake-up so wait_for() re-checks its condition. */
	uv_timer_init(&t->loop, &t->tick);
	uv_timer_start(&t->tick, on_tick, 5, 5);
	*state = t;
	if (tls) {
		/* A self-signed server certificate for [::1], and a second,
		 * unrelated one that must not be trusted for it. */
		char cmd[1024];

		snprintf(cmd, sizeof(cmd),
			 "cd %s && for n in server other; do openssl req -x509 -newkey ec "
			 "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
			 "-subj /CN=k8s-test -addext subjectAltName=IP:::1 "
			 "-keyout $n.key -out $n.pem >/dev/null 2>&1 || exit 1; done",
			 t->dir);
		if (system(cmd) != 0)
			return 0;	/* the test skips: no port set */
	}
	t->tls = tls;
	server_start(t, "tok1", tls);
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, false);
}

static int setup_tls(void **state)
{
	return setup_common(state, true);
}

static int teardown(void **state)
{
	struct t *t = *state;

	k8s_client_free(t->c);
	uv_close((uv_handle_t *)&t->tick, NULL);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	/* Every handle the client opened is closed. */
	assert_int_equal(uv_loop_close(&t->loop), 0);
	server_stop(t);
	/* Token, certificates, keys. */
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", t->dir);
	free(t);
	return 0;
}

/* Starts with web (2 local ready eps), api (1) and the unannotated
 * kubernetes Service; returns when the first set is reported. */
static void sync_initial(struct t *t, uint32_t list_limit)
{
	ctl_apply_file(t, "service-kubernetes.json");
	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "service-api-extdns.json");
	ctl_apply_file(t, "endpointslice-web.json");
	ctl_apply_file(t, "endpointslice-api.json");
	client_start(t, list_limit);
	assert_true(wait_for(t, c_updates, 1, NULL));
	assert_int_equal(t->last_entries, 2);
	assert_int_equal(n_eps(t, "web"), 2);
	assert_int_equal(n_eps(t, "api"), 1);
	assert_true(stats(t).synced);
	/* Both watches are open on the server before the test goes on. */
	assert_true(wait_for(t, c_server_watches, 2, NULL));
}

/* ---- tests ------------------------------------------------------------------------------- */

static bool c_zone(struct t *t, long calls, const char *zone)
{
	return t->node_calls >= (unsigned long)calls && !strcmp(t->zone, zone);
}

/* node-a.json as node name with its zone label (NULL: none). */
static void apply_node(struct t *t, const char *name, const char *zone,
		       bool silent)
{
	json_t *n = k8s_fixture("node-a.json");
	json_t *labels = json_object_get(json_object_get(n, "metadata"), "labels");

	json_object_set_new(json_object_get(n, "metadata"), "name", json_string(name));
	if (zone)
		json_object_set_new(labels, "topology.kubernetes.io/zone", json_string(zone));
	else
		json_object_del(labels, "topology.kubernetes.io/zone");
	ctl_apply(t, n, silent);
	json_decref(n);
}

/* This node's zone label (issue 16): listed and watched with a field
 * selector (another Node's changes never reach the client), followed
 * on change, relisted after 410, gone with the Node. */
static void test_node_zone(void **state)
{
	struct t *t = *state;

	apply_node(t, "node-a", "eu-west-1a", false);
	apply_node(t, "node-b", "eu-west-1b", false);
	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "endpointslice-web.json");
	t->node_zone = true;
	client_start(t, 0);
	assert_true(wait_for(t, c_zone, 1, "eu-west-1a"));
	assert_true(wait_for(t, c_updates, 1, NULL));
	assert_true(stats(t).node_synced);
	assert_string_equal(stats(t).node.zone, "eu-west-1a");
	assert_int_equal(server_stat(t, "Node/list"), 1);
	assert_true(wait_for(t, c_server_watches, 3, NULL));
	/* the label changes */
	apply_node(t, "node-a", "eu-west-1c", false);
	assert_true(wait_for(t, c_zone, 2, "eu-west-1c"));
	/* another Node, and node-a without a change of zone: no call */
	apply_node(t, "node-b", "eu-west-1c", false);
	apply_node(t, "node-a", "eu-west-1c", false);
	run_for(t, 300);
	assert_int_equal(t->node_calls, 2);
	/* missed while away and compacted: a relist finds it (410) */
	apply_node(t, "node-a", "eu-west-1d", true);
	ctl_do(t, "/_test/compact", "{}");
	ctl_do(t, "/_test/drop", "{}");
	assert_true(wait_for(t, c_zone, 3, "eu-west-1d"));
	assert_int_equal(server_stat(t, "Node/list"), 2);
	/* the label removed, then the Node deleted: no zone */
	apply_node(t, "node-a", "eu-west-1d", false);
	apply_node(t, "node-a", NULL, false);
	assert_true(wait_for(t, c_zone, 4, ""));
	apply_node(t, "node-a", "eu-west-1a", false);
	assert_true(wait_for(t, c_zone, 5, "eu-west-1a"));
	ctl_do(t, "/_test/delete", "{\"kind\":\"Node\",\"name\":\"node-a\"}");
	assert_true(wait_for(t, c_zone, 6, ""));
	assert_false(stats(t).node.present);
}

/* No such Node (or no RBAC on nodes): the endpoint set does not wait
 * for it; the zone comes when the Node does. */
static void test_node_zone_absent(void **state)
{
	struct t *t = *state;

	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "endpointslice-web.json");
	t->node_zone = true;
	client_start(t, 0);
	assert_true(wait_for(t, c_updates, 1, NULL));
	assert_true(wait_for(t, c_zone, 1, ""));
	apply_node(t, "node-a", "eu-west-1a", false);
	assert_true(wait_for(t, c_zone, 2, "eu-west-1a"));
}

static void test_list_watch_changes(void **state)
{
	struct t *t = *state;
	json_t *sl = k8s_fixture("endpointslice-web.json");
	json_t *svc = k8s_fixture("service-web.json");

	/* Pages of one item: 3 Services and 2 slices take 3 + 2 requests
	 * (the last page of each comes without a continue token). */
	sync_initial(t, 1);
	assert_int_equal(server_stat(t, "Service/list"), 3);
	assert_int_equal(server_stat(t, "EndpointSlice/list"), 2);
	assert_int_equal(t->updates, 1);

	/* A pod becomes unready. */
	json_t *ep1 = json_array_get(json_object_get(sl, "endpoints"), 1);

	k8s_set(ep1, "conditions", "ready", json_false());
	ctl_apply(t, sl, false);
	assert_true(wait_for(t, c_eps, 1, "web"));
	assert_string_equal(entry(t, "web")->endpoints[0].address, "fd00:10:244:1::1a");

	/* ... and ready again, plus a new local endpoint. */
	k8s_set(ep1, "conditions", "ready", json_true());
	json_t *ep_new = json_deep_copy(ep1);

	json_array_set_new(json_object_get(ep_new, "addresses"), 0,
			   json_string("fd00:10:244:1::1d"));
	json_array_append_new(json_object_get(sl, "endpoints"), ep_new);
	ctl_apply(t, sl, false);
	assert_true(wait_for(t, c_eps, 3, "web"));

	/* Service update: TTL and a new name. */
	k8s_set(svc, "metadata.annotations", "anysteer.io/hostname",
		json_string("web.svc.example.net,shop.svc.example.net"));
	k8s_set(svc, "metadata.annotations", "anysteer.io/ttl", json_string("7"));
	ctl_apply(t, svc, false);
	assert_true(wait_for(t, c_eps, 3, "shop"));
	assert_int_equal(entry(t, "web")->ttl, 7);

	/* Slice deleted, then the Service. */
	ctl_do(t, "/_test/delete",
	       "{\"kind\":\"EndpointSlice\",\"namespace\":\"shop\",\"name\":\"web-7xk2p\"}");
	assert_true(wait_for(t, c_eps, 0, "web"));
	ctl_do(t, "/_test/delete",
	       "{\"kind\":\"Service\",\"namespace\":\"shop\",\"name\":\"web\"}");
	assert_true(wait_for(t, c_eps, -1, "web"));
	assert_int_equal(n_eps(t, "api"), 1);
	/* No relist was needed for any of it. */
	assert_int_equal(server_stat(t, "Service/list"), 3);
	assert_int_equal(stats(t).relists_gone, 0);
	json_decref(sl);
	json_decref(svc);
}

/* A drop mid-stream: the client resumes the watch from its
 * resourceVersion and gets what happened meanwhile, without a relist. */
static void test_reconnect_after_drop(void **state)
{
	struct t *t = *state;
	uint64_t watches;

	sync_initial(t, 0);
	watches = stats(t).watches;
	ctl_do(t, "/_test/drop", "{}");
	ctl_do(t, "/_test/delete",
	       "{\"kind\":\"EndpointSlice\",\"namespace\":\"shop\",\"name\":\"api-q9w3z\"}");
	assert_true(wait_for(t, c_eps, 0, "api"));
	assert_true(wait_for(t, c_watches, (long)watches + 2, NULL));
	assert_true(stats(t).errors >= 1);
	assert_int_equal(stats(t).relists_gone, 0);
	assert_int_equal(server_stat(t, "Service/list"), 1);
	assert_int_equal(server_stat(t, "EndpointSlice/list"), 1);
	assert_int_equal(n_eps(t, "web"), 2);
}

/* 410: the client's resourceVersion was compacted while it was away
 * and it missed a change; it must relist, as a watch ERROR event or as
 * an HTTP 410, and then see the change. */
static void relist_after_gone(struct t *t, const char *mode)
{
	char body[64];
	json_t *sl = k8s_fixture("endpointslice-web.json");

	snprintf(body, sizeof(body), "{\"mode\":\"%s\"}", mode);
	sync_initial(t, 0);
	ctl_do(t, "/_test/gone_mode", body);
	/* Missed by the open watch, then compacted away. */
	json_object_set_new(sl, "endpoints", json_array());
	ctl_apply(t, sl, true);
	ctl_do(t, "/_test/delete?silent=1",
	       "{\"kind\":\"Service\",\"namespace\":\"shop\",\"name\":\"api\"}");
	ctl_do(t, "/_test/compact", "{}");
	ctl_do(t, "/_test/drop", "{}");
	assert_true(wait_for(t, c_gone, 2, NULL));
	assert_true(wait_for(t, c_eps, 0, "web"));
	assert_true(wait_for(t, c_eps, -1, "api"));
	assert_int_equal(server_stat(t, "Service/list"), 2);
	assert_int_equal(server_stat(t, "EndpointSlice/list"), 2);
	assert_true(server_stat(t, "gone") >= 2);
	/* And it watches again from the new list. */
	assert_true(wait_for(t, c_server_watches, 2, NULL));
	ctl_apply_file(t, "endpointslice-web.json");
	assert_true(wait_for(t, c_eps, 2, "web"));
	json_decref(sl);
}

static void test_relist_after_410_event(void **state)
{
	relist_after_gone(*state, "event");
}

static void test_relist_after_410_http(void **state)
{
	relist_after_gone(*state, "http");
}

/* Bookmarks move the resourceVersion forward without events: after one,
 * a compaction does not force a relist. */
static void test_bookmark(void **state)
{
	struct t *t = *state;
	json_t *sl = k8s_fixture("endpointslice-api.json");

	sync_initial(t, 0);
	/* Slice changes move the server's resourceVersion past what the
	 * Services watch has seen. */
	k8s_set(sl, "metadata.labels", "x", json_string("1"));
	ctl_apply(t, sl, false);
	ctl_do(t, "/_test/bookmark", "{}");
	run_for(t, 200);
	ctl_do(t, "/_test/compact", "{}");
	ctl_do(t, "/_test/drop", "{}");
	assert_true(wait_for(t, c_server_watches, 2, NULL));
	run_for(t, 200);
	assert_int_equal(stats(t).relists_gone, 0);
	assert_int_equal(server_stat(t, "gone"), 0);
	assert_int_equal(server_stat(t, "Service/list"), 1);
	json_decref(sl);
}

/* The token rotates: a 401 makes the client re-read the file; a new file
 * is picked up by the next request. */
static void test_token_rotation(void **state)
{
	struct t *t = *state;
	uint64_t reads;

	sync_initial(t, 0);
	reads = stats(t).token_reads;
	assert_int_equal(reads, 1);

	/* The server stops accepting tok1: requests fail with 401. */
	ctl_do(t, "/_test/tokens", "{\"tokens\":[\"tok2\"]}");
	ctl_do(t, "/_test/drop", "{}");
	assert_true(wait_for(t, c_unauth, 2, NULL));
	assert_int_equal(n_eps(t, "web"), 2);	/* last good state kept */

	/* kubelet writes the new token. */
	write_file(t->token_path, "tok2\n");
	assert_true(wait_for(t, c_server_watches, 2, NULL));
	assert_true(server_saw_token(t, "tok2"));
	assert_true(stats(t).token_reads > reads);
	ctl_do(t, "/_test/delete",
	       "{\"kind\":\"EndpointSlice\",\"namespace\":\"shop\",\"name\":\"web-7xk2p\"}");
	assert_true(wait_for(t, c_eps, 0, "web"));

	/* Rotation without a 401: the next request carries the new token. */
	write_file(t->token_path, "tok3\n");
	ctl_do(t, "/_test/tokens", "{\"tokens\":[\"tok2\",\"tok3\"]}");
	ctl_do(t, "/_test/drop", "{}");
	run_for(t, 100);
	assert_true(wait_for(t, c_server_watches, 2, NULL));
	assert_true(server_saw_token(t, "tok3"));
}

/* Garbage and malformed objects in the stream are skipped; the stream
 * goes on and the last good state stays. */
static void test_malformed_stream(void **state)
{
	struct t *t = *state;
	json_t *svc = k8s_fixture("service-web.json");
	char *ev, body[8192];
	json_t *raw;
	unsigned updates;

	sync_initial(t, 0);
	updates = t->updates;
	ctl_do(t, "/_test/raw", "{\"kind\":\"Service\",\"line\":\"{not json\"}");
	ctl_do(t, "/_test/raw", "{\"kind\":\"EndpointSlice\","
	       "\"line\":\"{\\\"type\\\":\\\"MODIFIED\\\",\\\"object\\\":{\\\"kind\\\":"
	       "\\\"EndpointSlice\\\",\\\"metadata\\\":{\\\"namespace\\\":\\\"shop\\\"}}}\"}");
	k8s_set(svc, "metadata.annotations", "anysteer.io/weight", json_string("heavy"));
	ev = k8s_event("MODIFIED", svc);
	raw = json_pack("{s:s, s:s}", "kind", "Service", "line", ev);
	free(ev);
	ev = k8s_dump(raw);
	snprintf(body, sizeof(body), "%s", ev);
	free(ev);
	json_decref(raw);
	ctl_do(t, "/_test/raw", body);
	assert_true(wait_for(t, c_malformed, 3, NULL));
	assert_int_equal(n_eps(t, "web"), 2);
	assert_int_equal(entry(t, "web")->weight, 50);
	assert_int_equal(t->updates, updates);

	/* The same watch still delivers good events. */
	k8s_set(svc, "metadata.annotations", "anysteer.io/weight", json_string("80"));
	ctl_apply(t, svc, false);
	run_for(t, 50);
	for (uint64_t end = as_now_ms() + WAIT_MS;
	     entry(t, "web")->weight != 80 && as_now_ms() < end;)
		uv_run(&t->loop, UV_RUN_ONCE);
	assert_int_equal(entry(t, "web")->weight, 80);
	assert_int_equal(stats(t).relists_gone, 0);
	json_decref(svc);
}

/* Nothing is reported before both kinds are listed: with a wrong token,
 * no callback at all; once the token is right, the first set. */
static void test_unauthorized_start(void **state)
{
	struct t *t = *state;

	write_file(t->token_path, "wrong\n");
	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "endpointslice-web.json");
	client_start(t, 0);
	assert_true(wait_for(t, c_unauth, 4, NULL));
	assert_int_equal(t->updates, 0);
	assert_false(stats(t).synced);
	write_file(t->token_path, "tok1\n");
	assert_true(wait_for(t, c_updates, 1, NULL));
	assert_int_equal(n_eps(t, "web"), 2);
}

static bool c_errors(struct t *t, long n, const char *s)
{
	return stats(t).errors >= (uint64_t)n;
}

/* In-cluster configuration over HTTPS: the service-account directory
 * holds the token and ca.crt. A CA that did not sign the server's
 * certificate gets nowhere; the right one syncs. */
static void test_in_cluster_tls(void **state)
{
	struct t *t = *state;
	struct k8s_conn *conn;
	char port[16], err[256], ca[160], src[160], cmd[400];

	if (!t->port)
		skip();	/* no openssl to make certificates */
	snprintf(port, sizeof(port), "%d", t->port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", t->dir);
	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "endpointslice-web.json");
	assert_int_equal(k8s_conn_in_cluster(t->dir, "::1", port, &conn, err,
					     sizeof(err)), AS_OK);
	assert_string_equal(conn->ca_file, ca);

	snprintf(src, sizeof(src), "%s/other.pem", t->dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", src, ca);
	assert_int_equal(system(cmd), 0);
	client_start_conn(t, conn, 0);
	assert_true(wait_for(t, c_errors, 4, NULL));
	assert_false(stats(t).synced);
	assert_int_equal(t->updates, 0);
	assert_int_equal(server_stat(t, "Service/list"), 0);
	k8s_client_free(t->c);
	t->c = NULL;

	snprintf(src, sizeof(src), "%s/server.pem", t->dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", src, ca);
	assert_int_equal(system(cmd), 0);
	client_start_conn(t, conn, 0);
	assert_true(wait_for(t, c_updates, 1, NULL));
	assert_int_equal(n_eps(t, "web"), 2);
	assert_true(wait_for(t, c_server_watches, 2, NULL));
	ctl_do(t, "/_test/delete",
	       "{\"kind\":\"EndpointSlice\",\"namespace\":\"shop\",\"name\":\"web-7xk2p\"}");
	assert_true(wait_for(t, c_eps, 0, "web"));
	k8s_conn_free(conn);
}

/* insecure-skip-tls-verify: with it the client talks to a server whose
 * certificate nothing vouches for (the flag used to be lost when the
 * client copied the connection). */
static void test_insecure_skip_verify(void **state)
{
	struct t *t = *state;
	struct k8s_conn conn = { 0 };
	char server[64];

	if (!t->port)
		skip();	/* no openssl to make certificates */
	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "endpointslice-web.json");
	snprintf(server, sizeof(server), "https://[::1]:%d", t->port);
	conn.server = server;
	conn.token_file = t->token_path;
	conn.insecure = true;
	client_start_conn(t, &conn, 0);
	assert_true(wait_for(t, c_updates, 1, NULL));
	assert_int_equal(n_eps(t, "web"), 2);
}

/* A response larger than max_body is cut off and counted; the client
 * retries rather than parse half of it, and stays unsynced. */
static void test_oversized_response(void **state)
{
	struct t *t = *state;

	ctl_apply_file(t, "service-web.json");
	t->max_body = 1024;	/* the Service alone is larger */
	client_start(t, 0);
	assert_true(wait_for(t, c_errors, 3, NULL));
	assert_false(stats(t).synced);
	assert_int_equal(t->updates, 0);
	assert_int_equal(stats(t).store.malformed, 0);
}

/* A server that answers every watch with 410 Gone (it keeps
 * compacting): the client relists after a growing, jittered backoff,
 * never in a tight loop. The old client relisted at once: hundreds of
 * lists a second. */
static void test_gone_backs_off(void **state)
{
	struct t *t = *state;
	long lists;

	t->backoff_min = 200;
	t->backoff_max = 2000;
	sync_initial(t, 0);
	ctl_do(t, "/_test/gone_mode", "{\"mode\":\"http\"}");
	ctl_do(t, "/_test/gone_always", "{\"enabled\":true}");
	ctl_do(t, "/_test/drop", "{}");
	run_for(t, 3000);
	lists = server_stat(t, "Service/list");
	/* Delays of at least 200, 400, 800, 1600 ms: at most 4 relists in
	 * 3 s after the first list; at least one happened. */
	assert_true(lists >= 2);
	assert_true(lists <= 5);
	assert_true(stats(t).relists_gone >= 1);
	assert_true(stats(t).last_backoff_ms >= 200);
	/* And when the server recovers, the client is back. */
	ctl_do(t, "/_test/gone_always", "{\"enabled\":false}");
	assert_true(wait_for(t, c_server_watches, 2, NULL));
}

static bool c_synced(struct t *t, long n, const char *s)
{
	return stats(t).synced;
}

/* Ingresses are watched; without the Gateway API CRDs (404) the client
 * says so once, is synced all the same and answers the Ingress. */
static void test_ingress_without_gateway_api(void **state)
{
	struct t *t = *state;

	ctl_do(t, "/_test/gateway_api", "{\"enabled\":false}");
	ctl_apply_file(t, "ingressclass-anysteer.json");
	ctl_apply_file(t, "service-web.json");
	ctl_apply_file(t, "endpointslice-web.json");
	ctl_apply_file(t, "ingress-docs.json");
	t->objects = true;
	client_start(t, 0);
	assert_true(wait_for(t, c_synced, 0, NULL));
	assert_true(stats(t).gateway_api_absent);
	assert_non_null(k8s_client_objs(t->c, K8S_O_INGRESS));
	assert_null(k8s_client_objs(t->c, K8S_O_GATEWAY));
	assert_int_equal(k8s_objs_count(k8s_client_objs(t->c, K8S_O_INGRESS)), 1);
	/* One list per Gateway API kind, no retry loop. */
	run_for(t, 500);
	assert_int_equal(server_stat(t, "GatewayClass/absent"), 1);
	assert_int_equal(server_stat(t, "HTTPRoute/absent"), 1);
	assert_int_equal(server_stat(t, "Ingress/list"), 1);
}

struct wres {
	unsigned done, created, conflict;
};

static void on_written(long code, const char *body, size_t len, void *arg)
{
	struct wres *r = arg;

	(void)body;
	(void)len;
	r->done++;
	r->created += code == 201;
	r->conflict += code == 409;
}

static bool c_written(struct t *t, long n, const char *s)
{
	(void)t;
	return ((struct wres *)s)->done >= (unsigned long)n;
}

/* The write path: Events POSTed on the client's loop; 4 run and 64 wait,
 * more are refused and counted; a name taken twice is a 409, counted as
 * an error; callbacks come for every accepted request. */
static void test_write_queue(void **state)
{
	struct t *t = *state;
	struct wres r = { 0 };
	char body[256];
	int rc, accepted = 0, refused = 0;

	sync_initial(t, 0);
	for (int i = 0; i < 70; i++) {
		snprintf(body, sizeof(body),
			 "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":"
			 "{\"name\":\"ev.%d\",\"namespace\":\"shop\"}}", i);
		rc = k8s_client_request(t->c, "POST", "/api/v1/namespaces/shop/events",
					body, on_written, &r);
		if (rc == AS_OK)
			accepted++;
		else if (rc == AS_ELIMIT)
			refused++;
		else
			fail_msg("k8s_client_request: %s", as_strerror(rc));
	}
	assert_int_equal(accepted, 68);
	assert_int_equal(refused, 2);
	assert_int_equal(stats(t).write_dropped, 2);
	assert_true(wait_for(t, c_written, 68, (const char *)&r));
	assert_int_equal(r.created, 68);
	assert_int_equal(stats(t).writes, 68);
	/* ev.0 again: 409 AlreadyExists, an error. */
	snprintf(body, sizeof(body), "{\"kind\":\"Event\",\"metadata\":{\"name\":\"ev.0\"}}");
	assert_int_equal(k8s_client_request(t->c, "POST", "/api/v1/namespaces/shop/events",
					    body, on_written, &r), AS_OK);
	assert_true(wait_for(t, c_written, 69, (const char *)&r));
	assert_int_equal(r.conflict, 1);
	assert_int_equal(stats(t).write_errors, 1);
	/* A request cancelled before it ran makes no callback. */
	assert_int_equal(k8s_client_request(t->c, "POST", "/api/v1/namespaces/shop/events",
					    body, on_written, &r), AS_OK);
	k8s_client_cancel(t->c, &r);
	run_for(t, 300);
	assert_int_equal(r.done, 69);
}

static bool c_leading(struct t *t, long n, const char *s)
{
	(void)t;
	(void)n;
	return k8s_leader_is_leader((const k8s_leader_t *)s);
}

/* The elected writer against this server: it takes the free Lease, and
 * when the server goes away it stops leading after the renew deadline
 * and retries every retry period, not in a loop (a failed read used to
 * schedule the next round at once: thousands a second). */
static void test_leader_server_down(void **state)
{
	struct t *t = *state;
	struct k8s_leader_opts lo = {
		.identity = "agent-a", .namespace_ = "anysteer", .name = "lead",
		.lease_ms = 1500, .renew_deadline_ms = 1000, .retry_ms = 200,
	};
	k8s_leader_t *l;
	uint64_t errors;

	sync_initial(t, 0);
	assert_int_equal(k8s_leader_new(&t->loop, t->c, &lo, &l), AS_OK);
	assert_int_equal(k8s_leader_start(l), AS_OK);
	assert_true(wait_for(t, c_leading, 0, (const char *)l));
	assert_string_equal(k8s_leader_holder(l), "agent-a");
	server_stop(t);
	errors = stats(t).write_errors;
	run_for(t, 2000);
	assert_false(k8s_leader_is_leader(l));
	/* 2 s at one round per 200 ms: about 10 failed reads. */
	assert_true(stats(t).write_errors - errors >= 3);
	assert_true(stats(t).write_errors - errors <= 15);
	k8s_leader_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_leader_server_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_backs_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingress_without_gateway_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_watch_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_zone_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_after_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relist_after_410_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relist_after_410_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bookmark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthorized_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_cluster_tls, setup_tls, teardown),
		cmocka_unit_test_setup_teardown(test_insecure_skip_verify, setup_tls, teardown),
	};
	const char *lvl = getenv("K8S_TEST_LOG");

	if (access(python(), X_OK) != 0) {
		printf("SKIP: python3 is needed for the test API server\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	as_log_set_level(lvl ? as_log_level_parse(lvl) : AS_LOG_ERR);
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	curl_global_cleanup();
	return rc;
}
