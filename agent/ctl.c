/*
 * anysteerctl: talks to anysteerd's control socket (see control.c for the
 * protocol). The daemon's command table is the authority: a command this
 * client has no renderer for is still sent, with its words as "argv", and
 * its answer printed as JSON, so new daemon commands work at once.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
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

static void print_counts(const char *label, json_t *obj)
{
	const char *k;
	json_t *v;
	int any = 0;
	printf("  %-10s", label);
	json_object_foreach(obj, k, v) {
		if (json_integer_value(v) == 0)
			continue;
		printf(" %s %lld", k, (long long)json_integer_value(v));
		any = 1;
	}
	printf("%s\n", any ? "" : " none");
}

static void render_status(json_t *d)
{
	long long up = (long long)num(d, "uptime_s");
	json_t *load = json_object_get(d, "load");
	json_t *q = json_object_get(d, "queries");
	json_t *cfg = json_object_get(d, "config");
	json_t *v;
	size_t i;

	printf("node        %s\n", str(d, "node"));
	printf("version     %s\n", str(d, "version"));
	printf("uptime      %lldd %02lld:%02lld:%02lld\n", up / 86400, up / 3600 % 24,
	       up / 60 % 60, up % 60);
	printf("zone        %s\n", str(d, "zone"));
	printf("listeners  ");
	json_array_foreach(json_object_get(d, "listeners"), i, v)
		printf(" %s", json_string_value(v));
	printf("  (%d workers, UDP on %s)\n", (int)num(d, "workers"),
	       str(d, "udp_io"));
	printf("load        %s %.3f -> factor %.3f (watermarks %.2f..%.2f)\n",
	       str(load, "source"), num(load, "signal"), num(load, "factor"),
	       num(load, "low_watermark"), num(load, "high_watermark"));
	printf("            cpu %.1f%%, loadavg %.2f, %d cpus", 100 * num(load, "cpu_utilisation"),
	       num(load, "loadavg1"), (int)num(load, "cpus"));
	if (json_is_number(json_object_get(load, "psi_cpu_some_avg10")))
		printf(", psi some avg10 %.2f%%", num(load, "psi_cpu_some_avg10"));
	printf("\n");
	printf("queries     %lld (udp %lld, tcp %lld)\n", (long long)num(q, "total"),
	       (long long)num(q, "udp"), (long long)num(q, "tcp"));
	print_counts("rcode", json_object_get(q, "by_rcode"));
	print_counts("qtype", json_object_get(q, "by_qtype"));
	print_counts("malformed", json_object_get(q, "malformed"));
	printf("  %-10s dropped %lld, truncated %lld\n", "other", (long long)num(q, "dropped"),
	       (long long)num(q, "truncated"));
	printf("  %-10s accepted %lld, rejected %lld, idle timeouts %lld, active %lld\n", "tcp",
	       (long long)num(q, "tcp_accepted"), (long long)num(q, "tcp_rejected"),
	       (long long)num(q, "tcp_timeouts"), (long long)num(q, "tcp_active"));
	printf("config      %s (%d services, %d reloads, %d rejected)\n", str(cfg, "path"),
	       (int)num(cfg, "services"), (int)num(cfg, "reloads"),
	       (int)num(cfg, "reload_failures"));
	json_t *any = json_object_get(d, "anycast");
	if (json_is_true(json_object_get(any, "configured")))
		printf("anycast     %s (%s)%s, BIRD %s\n",
		       json_is_true(json_object_get(any, "announced")) ? "announced" : "withdrawn",
		       str(any, "reason"),
		       json_is_true(json_object_get(any, "draining")) ? ", draining" : "",
		       json_is_true(json_object_get(any, "bird_connected")) ? "connected" : "not connected");
	json_t *g = json_object_get(d, "gossip");
	if (json_is_true(json_object_get(g, "enabled"))) {
		json_t *m = json_object_get(g, "members");
		printf("gossip      %s on %s, cluster %s, %s; members alive %d, suspect %d, "
		       "dead %d, left %d\n",
		       json_is_true(json_object_get(g, "joined")) ? "joined" : "not joined",
		       str(g, "advertise"), str(g, "cluster"),
		       json_is_true(json_object_get(g, "encrypted")) ? "encrypted" : "PLAINTEXT",
		       (int)num(m, "alive"), (int)num(m, "suspect"), (int)num(m, "dead"),
		       (int)num(m, "left"));
		printf("            local endpoints %d healthy of %d; auth failures %lld, "
		       "suspicions %lld raised, %lld refuted\n",
		       (int)num(g, "local_endpoints_healthy"), (int)num(g, "local_endpoints"),
		       (long long)num(g, "auth_failures"), (long long)num(g, "suspicions_raised"),
		       (long long)num(g, "suspicions_refuted"));
		json_t *af = json_object_get(g, "last_auth_failure");
		if (json_is_object(af))
			printf("            last auth failure from %s, %.1f s ago (%s)\n",
			       str(af, "host"), num(af, "seconds_ago"), str(af, "reason"));
	}
}

/* `members` and `keyring`: see agent/cluster.c for the fields. */
static void render_members(json_t *d)
{
	json_t *m;
	size_t i;

	printf("%-20s %-40s %-7s %10s %6s %5s %9s %8s\n", "NAME", "ADDRESS", "STATE",
	       "INCARN", "FACTOR", "UTIL", "ENDPOINTS", "AGE");
	json_array_foreach(d, i, m) {
		char eps[24];
		snprintf(eps, sizeof(eps), "%d/%d", (int)num(m, "endpoints_healthy"),
			 (int)num(m, "endpoints"));
		printf("%-20s %-40s %-7s %10lld %6.2f %4.0f%% %9s %7.1fs%s\n", str(m, "name"),
		       str(m, "address"), str(m, "state"), (long long)num(m, "incarnation"),
		       num(m, "load_factor"), 100 * num(m, "utilisation"), eps,
		       num(m, "age_ms") / 1000, json_is_true(json_object_get(m, "self")) ? " (self)" : "");
	}
}

static void render_keyring(json_t *d)
{
	json_t *k;
	size_t i;

	if (json_is_string(json_object_get(d, "key")) && !json_object_get(d, "keys")) {
		printf("%s\n", str(d, "key"));	/* keyring generate */
		return;
	}
	printf("keyring file %s\n", str(d, "file"));
	json_array_foreach(json_object_get(d, "keys"), i, k)
		printf("  %s%s\n", str(k, "key"),
		       json_is_true(json_object_get(k, "primary")) ? "  (primary)" : "");
}

/* `routes`, `drain`, `undrain`: see agent/anycast.c for the fields. */
static void render_routes(json_t *d)
{
	json_t *e, *g = json_object_get(d, "gate"), *b = json_object_get(d, "bird");
	json_t *sc = json_object_get(g, "selfcheck");
	size_t i;

	if (!json_is_true(json_object_get(d, "configured"))) {
		printf("anycast is not configured (anycast.addresses)\n");
		return;
	}
	printf("%-39s %-10s %-20s %-21s %s\n", "ADDRESS", "STATE", "REASON",
	       "SINCE", "BIRD EXPORT");
	json_array_foreach(json_object_get(d, "addresses"), i, e) {
		json_t *since = json_object_get(e, "since"), *x = json_object_get(e, "bird_exported");
		char ago[40];
		snprintf(ago, sizeof(ago), "%s", str(since, "time"));
		printf("%-39s %-10s %-20s %-21s %s (%.1fs ago)\n", str(e, "address"), str(e, "state"),
		       str(e, "reason"), ago,
		       json_is_null(x) ? "unknown" : json_is_true(x) ? "yes" : "no",
		       num(since, "seconds_ago"));
	}
	json_t *last = json_object_get(sc, "last");
	printf("gate        %s (%s), %d transitions; interface %s\n",
	       json_is_true(json_object_get(g, "announce")) ? "announce" : "withdraw",
	       str(g, "reason"), (int)num(g, "transitions"), str(d, "interface"));
	printf("  self-check %s, %lld ok, %lld failed, last rtt %lld us, every %lld ms%s\n",
	       json_is_null(last) ? "pending" : json_is_true(last) ? "passing" : "failing",
	       (long long)num(sc, "ok_total"), (long long)num(sc, "failed_total"),
	       (long long)num(sc, "last_rtt_us"), (long long)num(sc, "interval_ms"),
	       json_is_true(json_object_get(sc, "dns_paused")) ? " (DNS paused by test command)" : "");
	printf("  gossip     %s%s\n",
	       json_is_true(json_object_get(g, "joined")) ? "joined" : "not joined",
	       json_is_true(json_object_get(g, "wait_for_gossip")) ? " (the gate waits for it)" :
	       " (not waited for: anycast.wait_for_gossip is false)");
	printf("  draining   %s%s\n", json_is_true(json_object_get(g, "draining")) ? "yes" : "no",
	       json_is_true(json_object_get(g, "exiting")) ? " (exiting after the linger)" : "");
	if (!json_is_true(json_object_get(b, "configured"))) {
		printf("bird        not configured\n");
		return;
	}
	printf("bird        %s %s", str(b, "socket"),
	       json_is_true(json_object_get(b, "connected")) ? "connected" : "NOT connected");
	if (json_is_string(json_object_get(b, "error")))
		printf(" (%s)", str(b, "error"));
	printf(", since %s\n", str(json_object_get(b, "since"), "time"));
	json_array_foreach(json_object_get(b, "protocols"), i, e)
		printf("  %-16s %-8s %-6s %-20s %s\n", str(e, "name"), str(e, "proto"),
		       str(e, "state"), str(e, "since"), str(e, "info"));
	json_t *bfd = json_object_get(b, "bfd_sessions");
	json_array_foreach(bfd, i, e)
		printf("  bfd %-39s %-8s %-6s %s\n", str(e, "address"), str(e, "interface"),
		       str(e, "state"), str(e, "since"));
}


static void render_services(json_t *d)
{
	json_t *s, *e;
	size_t i, j;

	printf("zone %s\n", str(d, "zone"));
	printf("%-16s %5s %-5s %5s %3s  %-39s %-12s %6s %5s %-6s %9s %6s\n", "SERVICE", "PORT",
	       "PROTO", "TTL", "MAX", "ENDPOINT", "NODE", "WEIGHT", "LOAD", "HEALTH",
	       "EFFECTIVE", "SHARE");
	json_array_foreach(json_object_get(d, "services"), i, s) {
		json_t *eps = json_object_get(s, "endpoints");
		if (json_array_size(eps) == 0)
			printf("%-16s %5d %-5s %5d %3d  (no endpoints)\n", str(s, "name"),
			       (int)num(s, "port"), str(s, "protocol"), (int)num(s, "ttl"),
			       (int)num(s, "max_answers"));
		json_array_foreach(eps, j, e) {
			if (j == 0)
				printf("%-16s %5d %-5s %5d %3d  ", str(s, "name"), (int)num(s, "port"),
				       str(s, "protocol"), (int)num(s, "ttl"),
				       (int)num(s, "max_answers"));
			else
				printf("%-16s %5s %-5s %5s %3s  ", "", "", "", "", "");
			printf("%-39s %-12s %6d %5.2f %-6s %9.1f %5.1f%%\n", str(e, "address"),
			       str(e, "node"), (int)num(e, "weight"), num(e, "load_factor"),
			       json_is_true(json_object_get(e, "healthy")) ? "up" : "down",
			       num(e, "effective_weight"), 100 * num(e, "share"));
		}
	}
}

static void render_commands(json_t *d)
{
	json_t *c;
	size_t i;
	json_array_foreach(d, i, c)
		printf("%-12s %s\n", str(c, "name"), str(c, "help"));
}

/* `load [set VALUE|clear]`: where the signal comes from, and its factor. */
static void render_load(json_t *d)
{
	printf("load %.3f (%s) -> factor %.3f (watermarks %.2f..%.2f)%s\n",
	       num(d, "signal"), str(d, "source"), num(d, "factor"),
	       num(d, "low_watermark"), num(d, "high_watermark"),
	       json_is_true(json_object_get(d, "override_allowed")) ?
	       "; override allowed (test knob)" : "");
}

static void render_reload(json_t *d)
{
	printf("reloaded %s (%d services)\n", str(d, "config"), (int)num(d, "services"));
}

static const struct {
	const char *name;
	void (*render)(json_t *data);
} renderers[] = {
	{ "status", render_status },
	{ "services", render_services },
	{ "commands", render_commands },
	{ "reload", render_reload },
	{ "load", render_load },
	{ "members", render_members },
	{ "keyring", render_keyring },
	{ "routes", render_routes },
	{ "drain", render_routes },
	{ "undrain", render_routes },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: anysteerctl [options] COMMAND [ARG...]\n"
		"  -s, --socket PATH   control socket (default " DEFAULT_SOCKET ")\n"
		"  -j, --json          print the daemon's JSON answer\n"
		"  -t, --timeout SEC   give up after SEC seconds (default 5)\n"
		"  -h, --help          this text\n"
		"Commands: status, services, reload, routes, drain, undrain, members,\n"
		"          keyring list|install KEY|use KEY|remove KEY|generate, commands\n"
		"          (ask the daemon for the full list)\n");
}

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

/* Sends one request line and reads one response line. */
static int roundtrip(const char *path, const char *req, int timeout_ms, char **resp)
{
	int fd = connect_to(path);

	if (fd < 0)
		return -1;
	int sent = send_all(fd, req);
	*resp = sent < 0 ? NULL : read_line(fd, path, timeout_ms, sent == 1);
	close(fd);
	return *resp ? 0 : -1;
}

/* Parses the options; -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, const char **path,
			 int *json_out, int *timeout_ms)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+s:jt:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			*path = optarg;
			break;
		case 'j':
			*json_out = 1;
			break;
		case 't': {
			char *end;
			double t = strtod(optarg, &end);
			if (*end || t <= 0 || t > 3600) {
				fprintf(stderr, "anysteerctl: bad timeout '%s'\n", optarg);
				return 2;
			}
			*timeout_ms = (int)(t * 1000);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The request line for argv (command, then its words as "argv"). */
static char *request_line(int argc, char **argv)
{
	json_t *args = json_object(), *av = json_array();
	for (int i = 1; i < argc; i++)
		json_array_append_new(av, json_string(argv[i]));
	json_object_set_new(args, "argv", av);
	json_t *req = json_pack("{s:i, s:s, s:o}", "version", CONTROL_VERSION, "command",
				argv[0], "args", args);
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

/* Prints the daemon's answer r to cmd; the exit code. */
static int print_answer(const char *cmd, json_t *r, int json_out)
{
	if (!json_is_true(json_object_get(r, "ok"))) {
		fprintf(stderr, "anysteerctl: %s: %s\n", cmd, str(r, "error"));
		if (json_out) {
			json_dumpf(r, stdout, JSON_INDENT(2));
			putchar('\n');
		}
		return 1;
	}
	size_t i = 0, n = sizeof(renderers) / sizeof(renderers[0]);
	while (!json_out && i < n && strcmp(renderers[i].name, cmd) != 0)
		i++;
	if (!json_out && i < n) {
		renderers[i].render(json_object_get(r, "data"));
	} else {
		json_dumpf(json_object_get(r, "data"), stdout,
			   JSON_INDENT(2) | JSON_ENCODE_ANY);
		putchar('\n');
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("ANYSTEER_CTL_SOCKET");
	int json_out = 0, timeout_ms = 5000;

	/* A daemon that drops the connection must give an error, not a
	 * silent death by SIGPIPE (exit 141). */
	signal(SIGPIPE, SIG_IGN);

	if (!path || !*path)
		path = DEFAULT_SOCKET;
	int code = parse_options(argc, argv, &path, &json_out, &timeout_ms);
	if (code >= 0)
		return code;
	const char *cmd = argv[optind];
	char *line = request_line(argc - optind, argv + optind);
	if (!line)
		return 1;
	char *resp = NULL;
	int rc = roundtrip(path, line, timeout_ms, &resp);
	free(line);
	if (rc)
		return 1;

	json_error_t jerr;
	json_t *r = json_loads(resp, JSON_DISABLE_EOF_CHECK, &jerr);
	free(resp);
	if (!r || !json_is_object(r)) {
		fprintf(stderr, "anysteerctl: unreadable answer from the daemon: %s\n",
			r ? "not an object" : jerr.text);
		json_decref(r);
		return 1;
	}
	code = print_answer(cmd, r, json_out);
	json_decref(r);
	return code;
}
