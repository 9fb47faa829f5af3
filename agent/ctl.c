/*
 * anysteerctl: talks to anysteerd's control socket (see control.c for the
 * protocol). The daemon's command table is the authority: a command this
 * client has no renderer for is still sent, with its words as "argv", and
 * its answer printed as JSON, so new daemon commands work at once.
 *
 * Text output: tables with a header line and columns as wide as their
 * widest cell; durations relative ("14.6s ago", "3m12s"), shares in
 * percent. --json prints the daemon's data unchanged: fractions and
 * absolute times. `top` redraws status, routes and services once a
 * second.
 *
 * Exit codes, the same for every command: 0 ok, 1 the daemon answered
 * with an error, 2 usage, 3 no answer from the daemon (socket missing or
 * refused, connection closed, timeout, an unreadable answer).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/anysteer/ctl.sock"
#define CONTROL_VERSION 1

enum {
	CTL_OK = 0,
	CTL_FAILED = 1,		/* the daemon answered with an error */
	CTL_USAGE = 2,
	CTL_UNREACHABLE = 3,	/* no (readable) answer from the daemon */
};

struct ctl {
	const char *path;
	int timeout_ms;
	bool json;
	long count;		/* top: refreshes, 0 = until SIGINT */
	double interval_s;	/* top */
};

static volatile sig_atomic_t interrupted;

/* ---- JSON helpers ---------------------------------------------------------- */

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : "-";
}

static bool flag(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* ---- durations --------------------------------------------------------------- */

/* "850ms", "14.6s", "3m12s", "2h03m", "4d02h". */
static void fmt_dur(double s, char *buf, size_t len)
{
	if (!isfinite(s) || s < 0)
		s = 0;
	long long t = (long long)s;
	if (s < 1)
		snprintf(buf, len, "%.0fms", s * 1000);
	else if (s < 60)
		snprintf(buf, len, "%.1fs", s);
	else if (t < 3600)
		snprintf(buf, len, "%lldm%02llds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%lldh%02lldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", t / 86400, t / 3600 % 24);
}

static void fmt_ago(double s, char *buf, size_t len)
{
	char d[32];
	fmt_dur(s, d, sizeof(d));
	snprintf(buf, len, "%s ago", d);
}

/* BIRD's protocol times are local, "YYYY-MM-DD HH:MM:SS[.fff]" or, for
 * today, "HH:MM:SS[.fff]" (its timeformat). "14.6s ago" when one of
 * those, else the text as it is. */
static void fmt_bird_since(const char *since, char *buf, size_t len)
{
	struct tm tm;
	time_t now = time(NULL);
	int y, mo, d, h, mi, sec, n = 0;
	double frac = 0;

	localtime_r(&now, &tm);
	if (sscanf(since, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) == 6) {
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
	} else if (n = 0, sscanf(since, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3) {
		snprintf(buf, len, "%s", since);
		return;
	}
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (since[n] == '.')
		frac = strtod(since + n, NULL);
	tm.tm_isdst = -1;
	double ago = difftime(now, mktime(&tm)) - frac;
	if (ago < -60)		/* a time of day that is yesterday's */
		ago += 86400;
	fmt_ago(ago, buf, len);
}

/* ---- tables ------------------------------------------------------------------- */

/* Rows of cells, printed with every column as wide as its widest cell;
 * right: a bit per right-aligned (numeric) column. */
#define TABLE_MAX_COLS 32

struct table {
	size_t ncols, nrows, cap;	/* ncols <= TABLE_MAX_COLS */
	unsigned right;
	char **cells;
};

static void table_add(struct table *t, const char *const *row);

static void table_init(struct table *t, size_t ncols, unsigned right,
		       const char *const *head)
{
	*t = (struct table){ .ncols = ncols, .right = right };
	table_add(t, head);
}

static void table_add(struct table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));
		if (!nc)
			return;
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = strdup(row[c] ? row[c] : "");
	t->nrows++;
}

/* A cell's text ("" when strdup failed). */
static const char *cell(const struct table *t, size_t r, size_t c)
{
	const char *s = t->cells[r * t->ncols + c];
	return s ? s : "";
}

static void table_print(struct table *t, FILE *f)
{
	int w[TABLE_MAX_COLS] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			int l = (int)strlen(cell(t, r, c));
			w[c] = l > w[c] ? l : w[c];
		}
	for (size_t r = 0; r < t->nrows; r++) {
		/* Trailing blanks would only make lines longer. */
		size_t last = t->ncols;
		while (last > 1 && !*cell(t, r, last - 1))
			last--;
		for (size_t c = 0; c < last; c++) {
			const char *s = cell(t, r, c);
			bool pad = c + 1 < last;
			if (t->right >> c & 1)
				fprintf(f, "%*s", w[c], s);
			else
				fprintf(f, "%-*s", pad ? w[c] : 0, s);
			fputs(pad ? "  " : "\n", f);
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ---- status -------------------------------------------------------------------- */

static void print_counts(FILE *f, const char *label, json_t *obj)
{
	const char *k;
	json_t *v;
	int any = 0;
	fprintf(f, "  %-10s", label);
	json_object_foreach(obj, k, v) {
		if (json_integer_value(v) == 0)
			continue;
		fprintf(f, " %s %lld", k, (long long)json_integer_value(v));
		any = 1;
	}
	fprintf(f, "%s\n", any ? "" : " none");
}

/* The load line: the signal steering this node and its factor. */
static void print_load(FILE *f, json_t *load)
{
	fprintf(f, "load        %s %.1f%% -> factor %.3f (watermarks %.1f%%..%.1f%%)\n",
		str(load, "source"), 100 * num(load, "signal"), num(load, "factor"),
		100 * num(load, "low_watermark"), 100 * num(load, "high_watermark"));
}

static void print_kubernetes(FILE *f, json_t *k)
{
	if (!flag(k, "enabled")) {
		fprintf(f, "kubernetes  not enabled (kubernetes.enabled)\n");
		return;
	}
	fprintf(f, "kubernetes  %s, API server %s, node name %s\n",
		flag(k, "synced") ? "synced" : "NOT synced (lists not complete)",
		str(k, "server"), str(k, "node_name"));
	fprintf(f, "            %lld hostnames, %lld local endpoints; held: %lld Services, "
		"%lld EndpointSlices; errors %lld, malformed %lld, relists after 410 %lld\n",
		(long long)num(k, "hostnames"), (long long)num(k, "local_endpoints"),
		(long long)num(k, "services"), (long long)num(k, "endpointslices"),
		(long long)num(k, "errors"), (long long)num(k, "malformed"),
		(long long)num(k, "relists_gone"));
	json_t *kl = json_object_get(k, "leader");
	if (flag(kl, "enabled"))
		fprintf(f, "leader      %s%s\n", *str(kl, "holder") ? str(kl, "holder") : "(none)",
			flag(kl, "leading") ? " (this agent)" :
			flag(kl, "drained") ? " (this agent is drained: not standing)" : "");
}

/* The forwarder (dns.forward): counters and each upstream's health. */
static void print_forward(FILE *f, json_t *fw)
{
	json_t *u;
	size_t i;

	if (!json_is_object(fw)) {
		fprintf(f, "forward     off: names outside the zone get REFUSED "
			"(dns.forward)\n");
		return;
	}
	fprintf(f, "forward     %lld queries from allowed clients, %lld refused; cache %lld hits, "
		"%lld misses, %lld entries; %lld SERVFAIL, %lld stale\n",
		(long long)num(fw, "queries"), (long long)num(fw, "refused"),
		(long long)num(fw, "cache_hits"), (long long)num(fw, "cache_misses"),
		(long long)num(fw, "cache_entries"), (long long)num(fw, "servfail"),
		(long long)num(fw, "stale_answers"));
	json_array_foreach(json_object_get(fw, "upstreams"), i, u) {
		json_t *rtt = json_object_get(u, "srtt_ms");
		char r[32] = "not yet measured";
		if (json_is_number(rtt))
			snprintf(r, sizeof(r), "srtt %.1f ms", json_number_value(rtt));
		fprintf(f, "  upstream  %s: %s, %lld queries, %lld answers, %lld timeouts\n",
			str(u, "address"), r, (long long)num(u, "queries"),
			(long long)num(u, "answers"), (long long)num(u, "timeouts"));
	}
}

/* The DNS counters: queries, by rcode and qtype, malformed, TCP. */
static void print_queries(FILE *f, json_t *q)
{
	fprintf(f, "queries     %lld (udp %lld, tcp %lld)\n", (long long)num(q, "total"),
		(long long)num(q, "udp"), (long long)num(q, "tcp"));
	print_counts(f, "rcode", json_object_get(q, "by_rcode"));
	print_counts(f, "qtype", json_object_get(q, "by_qtype"));
	print_counts(f, "malformed", json_object_get(q, "malformed"));
	fprintf(f, "  %-10s dropped %lld, truncated %lld\n", "other", (long long)num(q, "dropped"),
		(long long)num(q, "truncated"));
	fprintf(f, "  %-10s accepted %lld, rejected %lld, idle timeouts %lld, active %lld\n", "tcp",
		(long long)num(q, "tcp_accepted"), (long long)num(q, "tcp_rejected"),
		(long long)num(q, "tcp_timeouts"), (long long)num(q, "tcp_active"));
}

/* Gossip: membership, local endpoints, authentication, suspicions. */
static void print_gossip(FILE *f, json_t *g)
{
	if (!flag(g, "enabled")) {
		fprintf(f, "gossip      not configured (no gossip section)\n");
		return;
	}
	json_t *m = json_object_get(g, "members");
	fprintf(f, "gossip      %s on %s, cluster %s, %s; members alive %d, suspect %d, "
		"dead %d, left %d\n",
		flag(g, "joined") ? "joined" : "not joined", str(g, "advertise"),
		str(g, "cluster"), flag(g, "encrypted") ? "encrypted" : "PLAINTEXT",
		(int)num(m, "alive"), (int)num(m, "suspect"), (int)num(m, "dead"),
		(int)num(m, "left"));
	fprintf(f, "            local endpoints %d healthy of %d; auth failures %lld, "
		"suspicions %lld raised, %lld refuted\n",
		(int)num(g, "local_endpoints_healthy"), (int)num(g, "local_endpoints"),
		(long long)num(g, "auth_failures"), (long long)num(g, "suspicions_raised"),
		(long long)num(g, "suspicions_refuted"));
	json_t *af = json_object_get(g, "last_auth_failure");
	if (json_is_object(af))
		fprintf(f, "            last auth failure from %s, %.1f s ago (%s)\n",
			str(af, "host"), num(af, "seconds_ago"), str(af, "reason"));
}

/* SRv6 steering, when the daemon reports it (`paths` has the detail). */
static void print_srv6(FILE *f, json_t *sr)
{
	if (!json_is_object(sr))
		return;
	if (!flag(sr, "enabled")) {
		fprintf(f, "srv6        not enabled (srv6.enabled)\n");
		return;
	}
	fprintf(f, "srv6        host %s, %s, data plane %s%s; %lld steered, "
		"%lld installed, %lld without a path; %lld links down; "
		"%lld reprograms (anysteerctl paths)\n",
		str(sr, "host"), str(sr, "mode"),
		flag(sr, "dataplane") ? "on" : "OFF: ",
		flag(sr, "dataplane") ? "" : str(sr, "reason"),
		(long long)num(sr, "planned"), (long long)num(sr, "installed"),
		(long long)num(sr, "no_path"), (long long)num(sr, "links_down"),
		(long long)num(sr, "reprograms"));
}

static void render_status(FILE *f, json_t *d)
{
	json_t *load = json_object_get(d, "load");
	json_t *cfg = json_object_get(d, "config");
	json_t *view = json_object_get(d, "view");
	json_t *v;
	size_t i;
	char up[32];

	if (num(d, "uptime_s") < 60)	/* whole seconds */
		snprintf(up, sizeof(up), "%.0fs", num(d, "uptime_s"));
	else
		fmt_dur(num(d, "uptime_s"), up, sizeof(up));
	fprintf(f, "node        %s\n", str(d, "node"));
	fprintf(f, "version     %s\n", str(d, "version"));
	fprintf(f, "uptime      %s\n", up);
	fprintf(f, "zone        %s\n", str(d, "zone"));
	if (json_is_string(json_object_get(d, "node_zone")))
		fprintf(f, "node zone   %s (%s)\n", str(d, "node_zone"),
			!strcmp(str(d, "node_zone_from"), "config") ? "node.zone" :
			"the Kubernetes Node's label topology.kubernetes.io/zone");
	fprintf(f, "listeners  ");
	json_array_foreach(json_object_get(d, "listeners"), i, v)
		fprintf(f, " %s", json_string_value(v));
	fprintf(f, "  (%d workers, UDP on %s)\n", (int)num(d, "workers"), str(d, "udp_io"));
	print_load(f, load);
	fprintf(f, "            cpu %.1f%%, loadavg %.2f, %d cpus", 100 * num(load, "cpu_utilisation"),
		num(load, "loadavg1"), (int)num(load, "cpus"));
	if (json_is_number(json_object_get(load, "psi_cpu_some_avg10")))
		fprintf(f, ", psi some avg10 %.2f%%", num(load, "psi_cpu_some_avg10"));
	fprintf(f, "\n");
	print_queries(f, json_object_get(d, "queries"));
	print_forward(f, json_object_get(d, "forward"));
	fprintf(f, "config      %s (%d reloads, %d rejected%s)\n", str(cfg, "path"),
		(int)num(cfg, "reloads"), (int)num(cfg, "reload_failures"),
		flag(cfg, "reloading") ? "; one being parsed" : "");
	/* The view is what `services` lists; the catalog only this node's
	 * part of it (with gossip the view holds every node's). */
	fprintf(f, "services    %d in the answer view with %d endpoints (`services`); "
		"%d in this node's catalog\n", (int)num(view, "services"),
		(int)num(view, "endpoints"), (int)num(cfg, "services"));
	json_t *any = json_object_get(d, "anycast");
	if (flag(any, "configured"))
		fprintf(f, "anycast     %s (%s)%s, BIRD %s\n",
			flag(any, "announced") ? "announced" : "withdrawn", str(any, "reason"),
			flag(any, "draining") ? ", draining" : "",
			flag(any, "bird_connected") ? "connected" : "not connected");
	else
		fprintf(f, "anycast     not configured (anycast.addresses)\n");
	print_gossip(f, json_object_get(d, "gossip"));
	if (json_is_object(json_object_get(d, "kubernetes")))
		print_kubernetes(f, json_object_get(d, "kubernetes"));
	print_srv6(f, json_object_get(d, "srv6"));
}

/* ---- services ------------------------------------------------------------------- */

/* One column of `services` (and of `top`): its cell for service s and
 * endpoint e (NULL: a service without endpoints). per_service: shown on
 * the service's first row only. A new column is one more row here. */
struct svc_col {
	const char *head;
	bool right, per_service, in_top;
	void (*cell)(json_t *s, json_t *e, char *b, size_t n);
};

static void c_name(json_t *s, json_t *e, char *b, size_t n)
{ (void)e; snprintf(b, n, "%s", str(s, "name")); }
static void c_port(json_t *s, json_t *e, char *b, size_t n)
{ (void)e; snprintf(b, n, "%d", (int)num(s, "port")); }
static void c_proto(json_t *s, json_t *e, char *b, size_t n)
{ (void)e; snprintf(b, n, "%s", str(s, "protocol")); }
static void c_ttl(json_t *s, json_t *e, char *b, size_t n)
{ (void)e; snprintf(b, n, "%d", (int)num(s, "ttl")); }
static void c_max(json_t *s, json_t *e, char *b, size_t n)
{ (void)e; snprintf(b, n, "%d", (int)num(s, "max_answers")); }
static void c_addr(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, "%s", e ? str(e, "address") : "(no endpoints)"); }
static void c_node(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, "%s", e ? str(e, "node") : ""); }
static void c_weight(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, e ? "%d" : "", (int)num(e, "weight")); }
static void c_health(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, "%s", !e ? "" : flag(e, "healthy") ? "up" : "down"); }
static void c_cpu(json_t *s, json_t *e, char *b, size_t n)
{
	(void)s;
	if (e && json_is_number(json_object_get(e, "cpu_utilisation")))
		snprintf(b, n, "%.0f%%", 100 * num(e, "cpu_utilisation"));
	else
		snprintf(b, n, "%s", e ? "-" : "");
}
static void c_factor(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, e ? "%.3f" : "", num(e, "load_factor")); }
static void c_eff(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, e ? "%.1f" : "", num(e, "effective_weight")); }
static void c_origin(json_t *s, json_t *e, char *b, size_t n)
{ (void)e; snprintf(b, n, "%s", str(s, "origin")); }
static void c_share(json_t *s, json_t *e, char *b, size_t n)
{ (void)s; snprintf(b, n, e ? "%.1f%%" : "", 100 * num(e, "share")); }

static const struct svc_col svc_cols[] = {
	{ "SERVICE", false, true, true, c_name },
	{ "PORT", true, true, false, c_port },
	{ "PROTO", false, true, false, c_proto },
	{ "TTL", true, true, false, c_ttl },
	{ "MAX", true, true, false, c_max },
	{ "FROM", false, true, false, c_origin },
	{ "ENDPOINT", false, false, true, c_addr },
	{ "NODE", false, false, true, c_node },
	{ "WEIGHT", true, false, true, c_weight },
	{ "HEALTH", false, false, true, c_health },
	{ "CPU", true, false, true, c_cpu },
	{ "FACTOR", true, false, true, c_factor },
	{ "EFFECTIVE", true, false, false, c_eff },
	{ "SHARE", true, false, true, c_share },
};
#define N_SVC_COLS (sizeof(svc_cols) / sizeof(svc_cols[0]))
_Static_assert(N_SVC_COLS <= TABLE_MAX_COLS, "one table holds every column");

static const char *mode_text(const char *m)
{
	return !strcmp(m, "loaded") ?
	       "every healthy endpoint is at load factor 0: they answer by configured weight" :
	       !strcmp(m, "fallback-configured") ?
	       "no endpoint is healthy with a weight: the configured weights of all apply (fail open)" :
	       !strcmp(m, "fallback-uniform") ?
	       "no endpoint is healthy with a weight and every configured weight is 0: "
	       "all endpoints alike (fail open)" : m;
}

static void print_service_table(FILE *f, json_t *d, bool top)
{
	const char *head[N_SVC_COLS], *row[N_SVC_COLS];
	char cells[N_SVC_COLS][128];
	unsigned right = 0;
	size_t nc = 0, idx[N_SVC_COLS];
	struct table t;
	json_t *s, *e;
	size_t i, j;

	for (size_t c = 0; c < N_SVC_COLS; c++) {
		if (top && !svc_cols[c].in_top)
			continue;
		if (svc_cols[c].right)
			right |= 1u << nc;
		head[nc] = svc_cols[c].head;
		idx[nc++] = c;
	}
	table_init(&t, nc, right, head);
	json_array_foreach(json_object_get(d, "services"), i, s) {
		json_t *eps = json_object_get(s, "endpoints");
		size_t n = json_array_size(eps);
		for (j = 0; j < (n ? n : 1); j++) {
			e = n ? json_array_get(eps, j) : NULL;
			for (size_t k = 0; k < nc; k++) {
				const struct svc_col *c = &svc_cols[idx[k]];
				cells[k][0] = 0;
				if (!(c->per_service && j > 0))
					c->cell(s, e, cells[k], sizeof(cells[k]));
				row[k] = cells[k];
			}
			table_add(&t, row);
		}
	}
	table_print(&t, f);
	json_array_foreach(json_object_get(d, "services"), i, s) {
		const char *rr;
		json_t *m;
		json_object_foreach(json_object_get(s, "answer_mode"), rr, m)
			if (json_is_string(m) && strcmp(json_string_value(m), "weighted"))
				fprintf(f, "FALLBACK %s %s: %s\n", str(s, "name"), rr,
					mode_text(json_string_value(m)));
	}
}

static void render_services(FILE *f, json_t *d)
{
	fprintf(f, "zone %s, as node %s answers it\n", str(d, "zone"), str(d, "node"));
	fprintf(f, "SHARE: %% of this node's first answers (AAAA for IPv6 endpoints, A for IPv4),\n"
		"  not of clients: a caching resolver hands one answer to many clients for a TTL.\n"
		"CPU: the node's CPU utilisation (as gossiped); FACTOR: its load factor,\n"
		"  1 = full share, 0 = none; EFFECTIVE = WEIGHT x FACTOR when up, else 0.\n");
	print_service_table(f, d, false);
}

/* ---- members, keyring ----------------------------------------------------------- */

/* `members`: see agent/cluster.c for the fields. A dead or left
 * member's load is its last word, not shown; this node has no age. */
static void render_members(FILE *f, json_t *d)
{
	static const char *const head[] = { "NAME", "STATE", "ADDRESS", "HEARD", "UPDATED",
					    "CPU", "FACTOR", "RTT", "COORD-ERR", "ENDPOINTS" };
	char heard[40], upd[40], cpu[16], fac[16], eps[24], name[96], rtt[24], cerr[16];
	struct table t;
	json_t *m;
	size_t i;
	bool self_seen = false;

	table_init(&t, 10, 1u << 5 | 1u << 6 | 1u << 7 | 1u << 8, head);
	json_array_foreach(d, i, m) {
		bool self = flag(m, "self");
		const char *st = str(m, "state");
		bool live = !strcmp(st, "alive") || !strcmp(st, "suspect");
		snprintf(name, sizeof(name), "%s%s", str(m, "name"), self ? " *" : "");
		self_seen |= self;
		if (self)
			snprintf(upd, sizeof(upd), "-");
		else
			fmt_ago(num(m, "age_ms") / 1000, upd, sizeof(upd));
		if (json_is_number(json_object_get(m, "heard_ms")))
			fmt_ago(num(m, "heard_ms") / 1000, heard, sizeof(heard));
		else
			snprintf(heard, sizeof(heard), self ? "-" : "never");
		snprintf(cpu, sizeof(cpu), live ? "%.0f%%" : "-", 100 * num(m, "utilisation"));
		snprintf(fac, sizeof(fac), live ? "%.3f" : "-", num(m, "load_factor"));
		snprintf(eps, sizeof(eps), "%d/%d up", (int)num(m, "endpoints_healthy"),
			 (int)num(m, "endpoints"));
		if (json_is_number(json_object_get(m, "rtt_ms")) && !self)
			snprintf(rtt, sizeof(rtt), "%.2fms", num(m, "rtt_ms"));
		else
			snprintf(rtt, sizeof(rtt), "-");
		if (json_is_number(json_object_get(m, "coord_error")))
			snprintf(cerr, sizeof(cerr), "%.2f", num(m, "coord_error"));
		else
			snprintf(cerr, sizeof(cerr), "-");
		const char *row[] = { name, st, str(m, "address"), heard, upd, cpu, fac, rtt,
				      cerr, eps };
		table_add(&t, row);
	}
	table_print(&t, f);
	if (self_seen)
		fprintf(f, "* this node. HEARD: the last packet received from the member itself "
			"(never: known only through others); UPDATED: the last news about it "
			"(state, load or endpoints); dead and left members' load is not shown. "
			"RTT: estimated round trip from this node (network coordinates); COORD-ERR: "
			"the member's own relative error estimate of its coordinate (- none yet).\n");
}

/* explain NAME: the service's plan at this node (docs/intents.md). */
static void render_explain(FILE *f, json_t *d)
{
	static const char *const head[] = { "ENDPOINT", "NODE", "ZONE", "HEALTH",
					    "FACTOR", "RTT", "RANK", "SHARE" };
	char fac[16], rank[16], share[16], rtt[24];
	struct table t;
	json_t *e;
	size_t i;

	if (json_is_string(json_object_get(d, "from")))
		fprintf(f, "as %s answers it (from this node's view of the "
			"cluster)\n", str(d, "from"));
	fprintf(f, "%s: %s\n", str(d, "name"), str(d, "explanation"));
	table_init(&t, 8, 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7, head);
	json_array_foreach(json_object_get(d, "endpoints"), i, e) {
		int r = (int)num(e, "rank");
		snprintf(fac, sizeof(fac), "%.3f", num(e, "load_factor"));
		if (json_is_number(json_object_get(e, "rtt_ms")))
			snprintf(rtt, sizeof(rtt), "%.2fms", num(e, "rtt_ms"));
		else
			snprintf(rtt, sizeof(rtt), "-");
		snprintf(rank, sizeof(rank), r < 0 ? "never" : "%d", r + 1);
		snprintf(share, sizeof(share), "%.1f%%", 100 * num(e, "share"));
		const char *z = str(e, "zone");
		const char *row[] = { str(e, "address"), str(e, "node"), *z ? z : "-",
				      flag(e, "healthy") ? "up" : "down", fac, rtt, rank, share };
		table_add(&t, row);
	}
	table_print(&t, f);
	fprintf(f, "objective applied: %s. RTT: estimated round trip from this node to the "
		"endpoint's node (network coordinates; - unknown). RANK: the tier an address "
		"is drawn in (1 first; for resilience its domain's); SHARE: how often it is an "
		"answer's first address here.\n",
		str(json_object_get(d, "intent"), "applied"));
}

static void render_keyring(FILE *f, json_t *d)
{
	json_t *k;
	size_t i;

	if (json_is_string(json_object_get(d, "key")) && !json_object_get(d, "keys")) {
		fprintf(f, "%s\n", str(d, "key"));	/* keyring generate */
		return;
	}
	fprintf(f, "keyring file %s\n", str(d, "file"));
	json_array_foreach(json_object_get(d, "keys"), i, k)
		fprintf(f, "  %s%s\n", str(k, "key"), flag(k, "primary") ? "  (primary)" : "");
}

/* ---- routes -------------------------------------------------------------------- */

static void print_route_addresses(FILE *f, json_t *d)
{
	static const char *const head[] = { "ADDRESS", "STATE", "REASON", "SINCE",
					    "EXPORTED BY BIRD" };
	char ago[40];
	struct table t;
	json_t *e;
	size_t i;

	table_init(&t, 5, 0, head);
	json_array_foreach(json_object_get(d, "addresses"), i, e) {
		json_t *x = json_object_get(e, "bird_exported");
		fmt_ago(num(json_object_get(e, "since"), "seconds_ago"), ago, sizeof(ago));
		const char *row[] = { str(e, "address"), str(e, "state"), str(e, "reason"), ago,
				      !x || json_is_null(x) ? "unknown" :
				      json_is_true(x) ? "yes" : "no" };
		table_add(&t, row);
	}
	table_print(&t, f);
}

/* `routes`, `drain`, `undrain`: see agent/anycast.c for the fields. */
static void render_routes(FILE *f, json_t *d)
{
	json_t *e, *g = json_object_get(d, "gate"), *b = json_object_get(d, "bird");
	json_t *sc = json_object_get(g, "selfcheck");
	char ago[40];
	size_t i;

	if (!flag(d, "configured")) {
		fprintf(f, "anycast is not configured (anycast.addresses)\n");
		if (flag(d, "draining"))
			fprintf(f, "draining   yes (no Kubernetes leadership until undrain)\n");
		return;
	}
	print_route_addresses(f, d);
	if (json_array_size(json_object_get(d, "other_nodes_announce"))) {
		fprintf(f, "announce    one (anycast.announce): this node's name picked "
			"the address above; other nodes announce");
		json_array_foreach(json_object_get(d, "other_nodes_announce"), i, e)
			fprintf(f, " %s", json_string_value(e));
		fprintf(f, "\n");
	}
	json_t *last = json_object_get(sc, "last");
	fmt_ago(num(json_object_get(g, "since"), "seconds_ago"), ago, sizeof(ago));
	fprintf(f, "\ngate        %s (%s) since %s, %d transitions; interface %s\n",
		flag(g, "announce") ? "announce" : "withdraw", str(g, "reason"), ago,
		(int)num(g, "transitions"), str(d, "interface"));
	fprintf(f, "  self-check %s, %lld ok, %lld failed, last rtt %lld us, every %lld ms%s\n",
		json_is_null(last) ? "pending" : json_is_true(last) ? "passing" : "failing",
		(long long)num(sc, "ok_total"), (long long)num(sc, "failed_total"),
		(long long)num(sc, "last_rtt_us"), (long long)num(sc, "interval_ms"),
		flag(sc, "dns_paused") ? " (DNS paused by test command)" : "");
	fprintf(f, "  gossip     %s%s\n", flag(g, "joined") ? "joined" : "not joined",
		flag(g, "wait_for_gossip") ? " (the gate waits for it)" :
		" (not waited for: anycast.wait_for_gossip is false)");
	fprintf(f, "  draining   %s%s\n", flag(g, "draining") ? "yes" : "no",
		flag(g, "exiting") ? " (exiting after the linger)" : "");
	if (!flag(b, "configured")) {
		fprintf(f, "bird        not configured\n");
		return;
	}
	fmt_ago(num(json_object_get(b, "since"), "seconds_ago"), ago, sizeof(ago));
	fprintf(f, "bird        %s: %s since %s", str(b, "socket"),
		flag(b, "connected") ? "connected" : "NOT connected", ago);
	if (json_is_string(json_object_get(b, "error")))
		fprintf(f, " (%s)", str(b, "error"));
	fprintf(f, "\n  export     the addresses' routes come from protocol %s and go out "
		"through %s; fast withdraw %s\n", str(b, "protocol"), str(b, "export_protocol"),
		flag(b, "fast_withdraw") ? "on" : "off");
	if (json_array_size(json_object_get(b, "protocols"))) {
		static const char *const head[] = { "  PROTOCOL", "TYPE", "STATE", "SINCE", "INFO" };
		struct table t;
		char name[80];
		table_init(&t, 5, 0, head);
		json_array_foreach(json_object_get(b, "protocols"), i, e) {
			snprintf(name, sizeof(name), "  %s", str(e, "name"));
			fmt_bird_since(str(e, "since"), ago, sizeof(ago));
			const char *row[] = { name, str(e, "proto"), str(e, "state"), ago,
					      str(e, "info") };
			table_add(&t, row);
		}
		table_print(&t, f);
	}
	if (json_array_size(json_object_get(b, "bfd_sessions"))) {
		static const char *const head[] = { "  BFD PEER", "INTERFACE", "STATE", "SINCE" };
		struct table t;
		char peer[80];
		table_init(&t, 4, 0, head);
		json_array_foreach(json_object_get(b, "bfd_sessions"), i, e) {
			snprintf(peer, sizeof(peer), "  %s", str(e, "address"));
			fmt_bird_since(str(e, "since"), ago, sizeof(ago));
			const char *row[] = { peer, str(e, "interface"), str(e, "state"), ago };
			table_add(&t, row);
		}
		table_print(&t, f);
	}
}

static void render_commands(FILE *f, json_t *d)
{
	json_t *c;
	size_t i;
	json_array_foreach(d, i, c)
		fprintf(f, "%-12s %s\n", str(c, "name"), str(c, "help"));
}

/* `load [set VALUE|clear]`: where the signal comes from, and its factor. */
static void render_load(FILE *f, json_t *d)
{
	fprintf(f, "load %.3f (%s) -> factor %.3f (watermarks %.2f..%.2f)%s\n",
		num(d, "signal"), str(d, "source"), num(d, "factor"),
		num(d, "low_watermark"), num(d, "high_watermark"),
		flag(d, "override_allowed") ? "; override allowed (test knob)" : "");
}

static void render_reload(FILE *f, json_t *d)
{
	fprintf(f, "reloaded %s (%d services)\n", str(d, "config"), (int)num(d, "services"));
}

/* Joins the strings of array a with sep into buf. */
static const char *join(json_t *a, const char *sep, char *buf, size_t len)
{
	json_t *v;
	size_t i, off = 0;

	buf[0] = 0;
	json_array_foreach(a, i, v) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? sep : "",
				 json_is_string(v) ? json_string_value(v) : "?");
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

/* `paths`: see agent/srv6.c (cmd_paths) for the fields. */
static void render_paths(FILE *f, json_t *d)
{
	char ago[48] = "never", b[4][512];
	json_t *v;
	size_t i;
	struct table t;

	if (num(d, "last_reprogram_ms") > 0)
		fmt_ago((num(d, "now_ms") - num(d, "last_reprogram_ms")) / 1000, ago,
			sizeof(ago));
	fprintf(f, "srv6: host %s, mode %s, data plane %s%s%s, %.0f reprograms, "
		"last %s\n", str(d, "host"), str(d, "mode"),
		flag(d, "dataplane") ? "on" : "OFF",
		flag(d, "dataplane") ? "" : ": ",
		flag(d, "dataplane") ? "" : str(d, "reason"), num(d, "reprograms"),
		ago);
	fprintf(f, "links:");
	json_array_foreach(json_object_get(d, "links"), i, v)
		fprintf(f, "%s %s %s", i ? "," : "",
			join(json_object_get(v, "between"), "-", b[0], sizeof(b[0])),
			flag(v, "up") ? "up" : "DOWN");
	fprintf(f, "\n");
	table_init(&t, 9, 1u << 7 | 1u << 8, (const char *const[]){
		"SERVICE", "INTENT", "DESTINATION", "HOST", "PATH", "SEGMENTS",
		"MAP", "PACKETS", "BYTES" });
	json_array_foreach(json_object_get(d, "destinations"), i, v) {
		json_t *in = json_object_get(v, "intent");
		char intent[160], dst[96], pk[32] = "-", by[32] = "-";

		snprintf(intent, sizeof(intent), "%s%s%s", str(in, "path"),
			 json_array_size(json_object_get(in, "avoid")) ? " avoid " : "",
			 join(json_object_get(in, "avoid"), ",", b[0], sizeof(b[0])));
		snprintf(dst, sizeof(dst), "%s %s/%.0f", str(v, "address"),
			 str(v, "protocol"), num(v, "port"));
		if (json_is_number(json_object_get(v, "packets"))) {
			snprintf(pk, sizeof(pk), "%.0f", num(v, "packets"));
			snprintf(by, sizeof(by), "%.0f", num(v, "bytes"));
		}
		bool err = json_is_string(json_object_get(v, "error"));
		const char *row[] = {
			str(v, "service"), intent, dst, str(v, "host"),
			err ? str(v, "error") :
			      join(json_object_get(v, "path"), ">", b[1], sizeof(b[1])),
			err ? "" : join(json_object_get(v, "segments"), ",", b[2],
					sizeof(b[2])),
			flag(v, "installed") ? "installed" : "-", pk, by };
		table_add(&t, row);
	}
	table_print(&t, f);
}

static const struct {
	const char *name;
	void (*render)(FILE *f, json_t *data);
} renderers[] = {
	{ "paths", render_paths },
	{ "status", render_status },
	{ "services", render_services },
	{ "explain", render_explain },
	{ "commands", render_commands },
	{ "reload", render_reload },
	{ "load", render_load },
	{ "members", render_members },
	{ "keyring", render_keyring },
	{ "routes", render_routes },
	{ "drain", render_routes },
	{ "undrain", render_routes },
};

/* ---- the connection ------------------------------------------------------------ */

/* A connected socket to path, or -1 (said why). */
static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "anysteerctl: socket path too long\n");
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "anysteerctl: cannot connect to %s: %s (is anysteerd running?)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Writes req; 0, 1 when the daemon closed before taking it all (it may
 * have said why: read on), -1 on an error. */
static int send_all(int fd, const char *req)
{
	size_t rl = strlen(req), off = 0;

	while (off < rl) {
		ssize_t w = write(fd, req + off, rl - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return 1;	/* a request too long, say */
		if (w <= 0) {
			fprintf(stderr, "anysteerctl: write: %s\n", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

static int ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int)((t.tv_sec - t0->tv_sec) * 1000 +
		     (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Reads until a whole line is in; the malloc'd text, or NULL (said
 * why). cut: the request was cut short. */
static char *read_line(int fd, const char *path, int timeout_ms, bool cut)
{
	size_t cap = 65536, len = 0;
	struct timespec t0;
	char *buf = malloc(cap);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (buf) {
		int left = timeout_ms - ms_since(&t0);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) == 0) {
			fprintf(stderr, "anysteerctl: no answer from %s within %d ms\n", path,
				timeout_ms);
			break;
		}
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (cut)
				fprintf(stderr, "anysteerctl: %s closed the connection "
					"before taking the whole request\n", path);
			else
				fprintf(stderr, "anysteerctl: connection closed before "
					"an answer%s%s\n", n < 0 ? ": " : "",
					n < 0 ? strerror(errno) : "");
			break;
		}
		len += (size_t)n;
		buf[len] = 0;
		if (memchr(buf, '\n', len))
			return buf;
	}
	free(buf);
	return NULL;
}

/* The request line for words (command, then its words as "argv"). */
static char *request_line(int n, char **words)
{
	json_t *args = json_object(), *av = json_array();
	for (int i = 1; i < n; i++)
		json_array_append_new(av, json_string(words[i]));
	json_object_set_new(args, "argv", av);
	json_t *req = json_pack("{s:i, s:s, s:o}", "version", CONTROL_VERSION, "command",
				words[0], "args", args);
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		return NULL;
	size_t tl = strlen(text);
	char *line = realloc(text, tl + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[tl] = '\n';
	line[tl + 1] = 0;
	return line;
}

/* Sends the command words and reads the answer into *out (the whole
 * response object); CTL_OK or CTL_UNREACHABLE (said why). */
static int ask(const struct ctl *c, int n, char **words, json_t **out)
{
	char *line = request_line(n, words), *resp = NULL;
	int fd = line ? connect_to(c->path) : -1;

	*out = NULL;
	if (fd >= 0) {
		int sent = send_all(fd, line);
		resp = sent < 0 ? NULL : read_line(fd, c->path, c->timeout_ms, sent == 1);
		close(fd);
	}
	free(line);
	if (!resp)
		return CTL_UNREACHABLE;
	json_error_t jerr;
	json_t *r = json_loads(resp, JSON_DISABLE_EOF_CHECK, &jerr);
	free(resp);
	if (!r || !json_is_object(r)) {
		fprintf(stderr, "anysteerctl: unreadable answer from the daemon: %s\n",
			r ? "not an object" : jerr.text);
		json_decref(r);
		return CTL_UNREACHABLE;
	}
	*out = r;
	return CTL_OK;
}

/* ask() for one word; the data on success, else NULL with *code set
 * (the daemon's error said). */
static json_t *ask_data(const struct ctl *c, const char *cmd, int *code)
{
	char *words[] = { (char *)cmd };
	json_t *r = NULL;

	*code = ask(c, 1, words, &r);
	if (*code)
		return NULL;
	if (!flag(r, "ok")) {
		fprintf(stderr, "anysteerctl: %s: %s\n", cmd, str(r, "error"));
		json_decref(r);
		*code = CTL_FAILED;
		return NULL;
	}
	json_t *d = json_incref(json_object_get(r, "data"));
	json_decref(r);
	return d;
}

/* Prints the daemon's answer r to cmd; the exit code. */
static int print_answer(const char *cmd, json_t *r, bool json_out)
{
	if (!flag(r, "ok")) {
		fprintf(stderr, "anysteerctl: %s: %s\n", cmd, str(r, "error"));
		if (json_out) {
			json_dumpf(r, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
			putchar('\n');
		}
		return CTL_FAILED;
	}
	size_t i = 0, n = sizeof(renderers) / sizeof(renderers[0]);
	while (!json_out && i < n && strcmp(renderers[i].name, cmd) != 0)
		i++;
	if (!json_out && i < n) {
		renderers[i].render(stdout, json_object_get(r, "data"));
	} else {
		json_dumpf(json_object_get(r, "data"), stdout,
			   JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12));
		putchar('\n');
	}
	return CTL_OK;
}

/* ---- top ---------------------------------------------------------------------------- */

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Sleeps s seconds or until SIGINT. */
static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One frame: a header from status (and routes), the services table. */
static int top_frame(const struct ctl *c, FILE *f, double *last_q, struct timespec *last_t)
{
	int code;
	json_t *st = ask_data(c, "status", &code), *rt = NULL, *sv = NULL;
	if (!st)
		return code;
	if (flag(json_object_get(st, "anycast"), "configured") &&
	    !(rt = ask_data(c, "routes", &code)))
		goto out;
	if (!(sv = ask_data(c, "services", &code)))
		goto out;

	time_t now = time(NULL);
	struct tm tm;
	char when[32], up[32], rate[48] = "";
	struct timespec t;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fmt_dur(num(st, "uptime_s"), up, sizeof(up));
	double q = num(json_object_get(st, "queries"), "total");
	clock_gettime(CLOCK_MONOTONIC, &t);
	double dt = (double)(t.tv_sec - last_t->tv_sec) + (t.tv_nsec - last_t->tv_nsec) / 1e9;
	if (*last_q >= 0 && dt > 0)
		snprintf(rate, sizeof(rate), ", %.1f/s", (q - *last_q) / dt);
	*last_q = q;
	*last_t = t;

	fprintf(f, "anysteerctl top: node %s, %s, up %s (every %gs; Ctrl-C quits)\n",
		str(st, "node"), when, up, c->interval_s);
	print_load(f, json_object_get(st, "load"));
	fprintf(f, "queries     %.0f%s\n", q, rate);
	if (rt) {
		json_t *e;
		size_t i;
		json_array_foreach(json_object_get(rt, "addresses"), i, e) {
			char ago[40];
			fmt_ago(num(json_object_get(e, "since"), "seconds_ago"), ago, sizeof(ago));
			fprintf(f, "route       %s %s (%s) since %s\n", str(e, "address"),
				str(e, "state"), str(e, "reason"), ago);
		}
	}
	json_t *g = json_object_get(st, "gossip");
	if (flag(g, "enabled")) {
		json_t *m = json_object_get(g, "members");
		fprintf(f, "gossip      %s; members alive %d, suspect %d, dead %d\n",
			flag(g, "joined") ? "joined" : "not joined", (int)num(m, "alive"),
			(int)num(m, "suspect"), (int)num(m, "dead"));
	}
	fprintf(f, "\nSHARE: %% of this node's first answers; CPU and FACTOR: the node's load\n");
	print_service_table(f, sv, true);
out:
	json_decref(st);
	json_decref(rt);
	json_decref(sv);
	return code;
}

/* Redraws until SIGINT or c->count frames; on a terminal in place
 * (ANSI home and clear), else frame after frame. */
static int run_top(const struct ctl *c)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	struct timespec last_t = { 0 };
	double last_q = -1;
	bool tty = isatty(STDOUT_FILENO);
	int code = CTL_OK;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (long i = 0; !interrupted && (c->count == 0 || i < c->count); i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (!f)
			return CTL_FAILED;
		code = top_frame(c, f, &last_q, &last_t);
		fclose(f);
		if (code == CTL_OK) {
			/* One write per frame: no half-drawn screen. */
			if (tty)
				fputs("\033[H\033[2J", stdout);
			else if (i > 0)
				fputs("\n", stdout);
			fwrite(buf, 1, len, stdout);
			fflush(stdout);
		}
		free(buf);
		if (code != CTL_OK)
			break;
		if (c->count == 0 || i + 1 < c->count)
			nap(c->interval_s);
	}
	return code;
}

/* ---- options ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: anysteerctl [options] COMMAND [ARG...]   (options may follow the command)\n"
		"  -s, --socket PATH    control socket (default " DEFAULT_SOCKET
		", or $ANYSTEER_CTL_SOCKET)\n"
		"  -j, --json           print the daemon's JSON answer\n"
		"  -t, --timeout SEC    give up waiting for an answer after SEC seconds (default 5)\n"
		"  -n, --count N        top: stop after N refreshes (default: at Ctrl-C)\n"
		"  -i, --interval SEC   top: seconds between refreshes (default 1)\n"
		"  -V, --version        print the version\n"
		"  -h, --help           this text\n"
		"Commands: status, services, top, reload, routes, drain, undrain, members,\n"
		"          paths (SRv6 steering),\n"
		"          keyring list|install KEY|use KEY|remove KEY|generate,\n"
		"          explain NAME [--client ADDR[/LEN]] [--from NODE],\n"
		"          commands\n"
		"          (ask the daemon for the full list); `--` ends the options\n"
		"Exit: 0 ok, 1 the daemon answered with an error, 2 usage,\n"
		"      3 no answer from the daemon\n");
}

static bool parse_seconds(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* -t, -n or -i: its value, checked, into c; false (said) when bad. */
static bool number_option(struct ctl *c, int ch, const char *arg)
{
	double v;

	switch (ch) {
	case 't':
		if (!parse_seconds(arg, 0.001, 3600, &v)) {
			fprintf(stderr, "anysteerctl: bad timeout '%s' (seconds, up to 3600)\n",
				arg);
			return false;
		}
		c->timeout_ms = (int)(v * 1000 + 0.5);
		return true;
	case 'n':
		if (!parse_seconds(arg, 1, 1e9, &v) || v != floor(v)) {
			fprintf(stderr, "anysteerctl: bad count '%s' (a whole number >= 1)\n",
				arg);
			return false;
		}
		c->count = (long)v;
		return true;
	default:	/* 'i' */
		if (!parse_seconds(arg, 0.1, 3600, &v)) {
			fprintf(stderr, "anysteerctl: bad interval '%s' (0.1 to 3600 seconds)\n",
				arg);
			return false;
		}
		c->interval_s = v;
		return true;
	}
}

/* The command line as a whole: a command, and top's options with top
 * only (top_opts: --count or --interval was given). -1 when it is fine,
 * else CTL_USAGE (said). */
static int check_command(const struct ctl *c, char **words, int nwords, bool top_opts)
{
	if (nwords == 0) {
		fprintf(stderr, "anysteerctl: no command given\n");
		usage(stderr);
		return CTL_USAGE;
	}
	bool top = strcmp(words[0], "top") == 0;
	if (top_opts && !top) {
		fprintf(stderr, "anysteerctl: --count and --interval are for `top` only\n");
		return CTL_USAGE;
	}
	if (top && (nwords > 1 || c->json)) {
		fprintf(stderr, "anysteerctl: top takes no arguments and has no --json "
			"(use --json services)\n");
		return CTL_USAGE;
	}
	return -1;
}

/* Parses the options anywhere on the line, the words into words/nwords;
 * -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct ctl *c, char **words, int *nwords)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		/* explain's; passed on as words for the daemon to judge */
		{ "client", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	bool top_opts = false;
	int ch;

	*nwords = 0;
	opterr = 0;
	/* "-": words come back in order as option 1, whatever
	 * POSIXLY_CORRECT says, so options may follow the command. */
	while ((ch = getopt_long(argc, argv, "-:s:jt:n:i:Vhc:f:", opts, NULL)) != -1) {
		switch (ch) {
		case 1:
			words[(*nwords)++] = optarg;
			break;
		case 's':
			c->path = optarg;
			break;
		case 'c':
		case 'f':
			words[(*nwords)++] = ch == 'c' ? "--client" : "--from";
			words[(*nwords)++] = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 't':
		case 'n':
		case 'i':
			if (!number_option(c, ch, optarg))
				return CTL_USAGE;
			if (ch != 't')
				top_opts = true;	/* -n, -i are top's */
			break;
		case 'V':
			printf("anysteerctl %s\n", PACKAGE_VERSION);
			return CTL_OK;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case ':':
			fprintf(stderr, "anysteerctl: option '%s' needs a value\n", argv[optind - 1]);
			usage(stderr);
			return CTL_USAGE;
		default:
			fprintf(stderr, "anysteerctl: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return CTL_USAGE;
		}
	}
	while (optind < argc)		/* after "--" */
		words[(*nwords)++] = argv[optind++];
	return check_command(c, words, *nwords, top_opts);
}

int main(int argc, char **argv)
{
	struct ctl c = { .path = getenv("ANYSTEER_CTL_SOCKET"), .timeout_ms = 5000,
			 .interval_s = 1 };
	/* --client X and --from X become two words even when written as one */
	char **words = calloc(2 * (size_t)argc + 1, sizeof(*words));
	int nwords, code;
	json_t *r = NULL;

	/* A daemon that drops the connection must give an error, not a
	 * silent death by SIGPIPE (exit 141). */
	signal(SIGPIPE, SIG_IGN);
	if (!words)
		return CTL_FAILED;
	if (!c.path || !*c.path)
		c.path = DEFAULT_SOCKET;
	code = parse_options(argc, argv, &c, words, &nwords);
	if (code >= 0)
		goto out;
	if (strcmp(words[0], "top") == 0) {
		code = run_top(&c);
		goto out;
	}
	code = ask(&c, nwords, words, &r);
	if (code == CTL_OK)
		code = print_answer(words[0], r, c.json);
	json_decref(r);
out:
	free(words);
	return code;
}
