/*
 * agent/config_schema.c - the schema engine: YAML in, typed structs out.
 *
 * Design. The configuration is described by tables of rows (agent/config.c)
 * in the manner of Knot DNS's conf/schema.c; this file is everything that
 * is not a row: the scalar types and their parsers, lists and sections,
 * defaults, freeing, error collection and the printed reference. Every
 * consumer is a walk over the tables.
 *
 * The loader reads the file into a compact tree built from libyaml's
 * event stream (lib/yamltree.h), in which each node keeps its line at
 * a few times less memory than libyaml's document API, then walks the
 * schema, not the document: unknown keys are reported (with the nearest
 * valid key when one is close) and never descended into, so the work done
 * is bounded by the schema's shape.
 * Every problem is collected as "file:line: key: message"; nothing stops
 * at the first error. Scalars are typed by their row, not by YAML's own
 * guesses, so `port: "80"` and `port: 80` mean the same.
 *
 * A type whose rule belongs to another module asks that module: DNS names
 * and labels are checked by dns/name.c, the same code the DNS view runs,
 * so a name the configuration accepts is one the daemon serves.
 *
 * Loading is thread-safe: reloads parse on a libuv worker thread while
 * the loop runs. Everything lives in the call's own context; the schema
 * tables are const; messages use as_strerror, which keeps its buffer per
 * thread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "agent/config_schema.h"
#include "dns/dns.h"
#include "lib/as.h"
#include "lib/yamltree.h"

/* Refuse files larger than this: a configuration is kilobytes. */
#define CFG_MAX_FILE (16u << 20)
/* Messages kept for errbuf; more are counted, not stored. */
#define CFG_MAX_ERRORS 1000

struct cfg_msg {
	size_t line, seq;
	char *text;
};

struct cfg_ctx {
	const char *file;
	const struct as_yaml *doc;
	char *root;		/* the struct being filled */
	unsigned char *seen;	/* maps and lists already walked */
	char *buf;		/* the caller's errbuf */
	size_t len, used;
	struct cfg_msg *msgs;	/* collected, written out sorted by line */
	size_t n_msgs, cap_msgs;
	unsigned n_errors;
	bool oom;
};

void *cfg_root(const struct cfg_ctx *ctx)
{
	return ctx->root;
}

/* A parsed scalar before it is stored. */
struct cfg_val {
	char *str;		/* normalised text (string-like types) */
	uint64_t u;
	double d;
	bool b;
	struct sockaddr_storage ss;
};
/* ---- errors --------------------------------------------------------------- */

void cfg_error(struct cfg_ctx *ctx, size_t line, const char *key,
	       const char *fmt, ...)
{
	char msg[512], *text;
	va_list ap;
	int n;

	ctx->n_errors++;
	if (!ctx->buf || ctx->len == 0 || ctx->n_msgs >= CFG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		n = asprintf(&text, "%s:%zu: %s: %s\n", ctx->file, line, key, msg);
	else if (key)
		n = asprintf(&text, "%s: %s: %s\n", ctx->file, key, msg);
	else
		n = asprintf(&text, "%s: %s\n", ctx->file, msg);
	if (n < 0)
		return;
	if (AS_GROW(ctx->msgs, ctx->cap_msgs, ctx->n_msgs + 1)) {
		free(text);
		return;
	}
	ctx->msgs[ctx->n_msgs] = (struct cfg_msg){ line, ctx->n_msgs, text };
	ctx->n_msgs++;
}

static int cmp_msg(const void *a, const void *b)
{
	const struct cfg_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Errors are found in schema order; the operator reads them in file order.
 * Whole lines only, so a short buffer never shows half a key.
 */
static void cfg_flush(struct cfg_ctx *ctx)
{
	if (ctx->n_msgs)
		qsort(ctx->msgs, ctx->n_msgs, sizeof(*ctx->msgs), cmp_msg);
	for (size_t i = 0; i < ctx->n_msgs; i++) {
		size_t n = strlen(ctx->msgs[i].text);
		if (ctx->used + n < ctx->len) {
			memcpy(ctx->buf + ctx->used, ctx->msgs[i].text, n + 1);
			ctx->used += n;
		}
		free(ctx->msgs[i].text);
	}
	free(ctx->msgs);
	ctx->msgs = NULL;
	ctx->n_msgs = ctx->cap_msgs = 0;
}

/* Copies n bytes of user text for a message: printable ASCII (others
 * become '?'), at most ~60 characters, so one error stays one line. */
static const char *show_n(const char *s, size_t n, char out[80])
{
	size_t o = 0, i;

	for (i = 0; i < n && o < 60; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n)
		out[o++] = '.', out[o++] = '.', out[o++] = '.';
	out[o] = 0;
	return out;
}

const char *cfg_show(const char *s, char out[80])
{
	return show_n(s, strlen(s), out);
}

void cfg_oom(struct cfg_ctx *ctx)
{
	if (!ctx->oom)
		cfg_error(ctx, 0, "(loader)", "out of memory");
	ctx->oom = true;
}

/* ---- YAML node helpers ----------------------------------------------------- */

size_t cfg_line_of(const struct as_yaml_node *n)
{
	return n ? as_yaml_line(n) : 1;
}

static bool is_type(const struct as_yaml_node *n, enum as_yaml_type t)
{
	return as_yaml_type(n) == t;
}

static const char *kind(const struct as_yaml_node *n)
{
	switch (as_yaml_type(n)) {
	case AS_YAML_MAPPING:
		return "a map";
	case AS_YAML_SEQUENCE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* The text of a scalar node and, if len, its length (NULs may sit
 * inside it). */
static const char *scalar(struct cfg_ctx *ctx, const struct as_yaml_node *n,
			  size_t *len)
{
	return as_yaml_str(ctx->doc, n, len);
}

/* `key:` with nothing, `~` and `null` leave the key at its default. */
static bool is_null(struct cfg_ctx *ctx, const struct as_yaml_node *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (!n || !is_type(n, AS_YAML_SCALAR) ||
	    as_yaml_style(n) != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < AS_ARRAY_SIZE(nulls); i++)
		if (strcmp(scalar(ctx, n, NULL), nulls[i]) == 0)
			return true;
	return false;
}

const struct as_yaml_node *cfg_map_get(struct cfg_ctx *ctx,
				       const struct as_yaml_node *map,
				       const char *key)
{
	if (!map || !is_type(map, AS_YAML_MAPPING))
		return NULL;
	for (size_t i = 0, n = as_yaml_len(map); i < n; i++) {
		const struct as_yaml_node *k = as_yaml_key(ctx->doc, map, i);
		if (is_type(k, AS_YAML_SCALAR) &&
		    strcmp(scalar(ctx, k, NULL), key) == 0)
			return as_yaml_value(ctx->doc, map, i);
	}
	return NULL;
}

/* Item i of a list; NULL if seq is absent, not a list or too short. */
const struct as_yaml_node *cfg_seq_get(struct cfg_ctx *ctx,
				       const struct as_yaml_node *seq,
				       size_t i)
{
	return as_yaml_item(ctx->doc, seq, i);
}

/* Line of map[key] if it is there, else the section's own line. */
size_t cfg_key_line(struct cfg_ctx *ctx, const struct cfg_where *w,
		    const char *key)
{
	const struct as_yaml_node *v = cfg_map_get(ctx, w->map, key);
	return v ? cfg_line_of(v) : w->line;
}

bool cfg_has_key(struct cfg_ctx *ctx, const struct as_yaml_node *map,
		 const char *key)
{
	const struct as_yaml_node *v = cfg_map_get(ctx, map, key);
	return v && !is_null(ctx, v);
}

/*
 * An alias makes one node appear in two places. Walking a repeated map or
 * list could multiply the work (a list of aliases of lists of aliases), so
 * each container is walked once; scalars may be aliased freely.
 */
static bool enter(struct cfg_ctx *ctx, const struct as_yaml_node *n,
		  const char *path)
{
	size_t i = as_yaml_index(ctx->doc, n);

	if (ctx->seen[i]) {
		cfg_error(ctx, cfg_line_of(n), path,
			  "repeats, through an alias, the %s at this line; "
			  "aliases of maps and lists are not supported",
			  is_type(n, AS_YAML_MAPPING) ? "map" : "list");
		return false;
	}
	ctx->seen[i] = 1;
	return true;
}

/* ---- scalar types ---------------------------------------------------------- */

static char *lower_dup(const char *s, bool trailing_dot)
{
	size_t n = strlen(s);
	char *d = malloc(n + 2);

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	if (trailing_dot && (n == 0 || d[n - 1] != '.'))
		d[n++] = '.';
	d[n] = 0;
	return d;
}

static void fmt_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms && ms % 3600000 == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms && ms % 60000 == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

static const char *type_noun(enum cfg_type t)
{
	switch (t) {
	case CFG_STR:
		return "a string";
	case CFG_UINT:
		return "an unsigned integer";
	case CFG_DOUBLE:
		return "a number";
	case CFG_BOOL:
		return "a boolean (true or false)";
	case CFG_DURATION:
		return "a duration such as 5s or 250ms";
	case CFG_SOCKADDR:
		return "an address such as [2001:db8::1]:53 or 192.0.2.1:53";
	case CFG_IPADDR:
		return "an IPv6 or IPv4 address";
	case CFG_DNAME:
		return "a DNS name";
	case CFG_LABEL:
		return "a DNS label";
	case CFG_ENUM:
		return "one of the listed words";
	case CFG_LIST:
		return "a list";
	case CFG_SECTION:
		return "a map";
	case CFG_SECTIONS:
		return "a list of maps";
	}
	return "a value";
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < AS_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, true;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/*
 * Scalars. parse_scalar() checks that the text is one C string, then hands
 * it to the parser of the row's type; a string-valued type ends in
 * finish_string(), which normalises the text and runs the row's own
 * check. Each parser reports against the scalar's place and returns false
 * on a bad value; v->str is owned by the caller.
 */
struct cfg_scalar {
	struct cfg_ctx *ctx;
	const struct cfg_item *it;
	enum cfg_type type;
	const char *s;		/* the text */
	size_t line;
	const char *path;
};

static bool bad_type(const struct cfg_scalar *sc)
{
	char q[80];

	cfg_error(sc->ctx, sc->line, sc->path, "expected %s, got %s",
		  type_noun(sc->type), cfg_show(sc->s, q));
	return false;
}

static bool parse_uint(const struct cfg_scalar *sc, struct cfg_val *v)
{
	const struct cfg_item *it = sc->it;
	const char *s = sc->s;
	bool neg = s[0] == '-';
	char q[80];

	if (!all_digits(s + neg))
		return bad_type(sc);
	errno = 0;
	unsigned long long x = strtoull(s + neg, NULL, 10);
	if ((neg && x) || errno == ERANGE || x < it->min || x > it->max) {
		cfg_error(sc->ctx, sc->line, sc->path,
			  "must be between %" PRIu64 " and %" PRIu64
			  ", got %s", it->min, it->max, cfg_show(s, q));
		return false;
	}
	v->u = x;
	return true;
}

static bool parse_double(const struct cfg_scalar *sc, struct cfg_val *v)
{
	const char *s = sc->s;
	char *end, q[80];

	errno = 0;
	v->d = strtod(s, &end);
	if (!*s || isspace((unsigned char)*s) || *end || !isfinite(v->d))
		return bad_type(sc);
	if (v->d < sc->it->dmin || v->d > sc->it->dmax) {
		cfg_error(sc->ctx, sc->line, sc->path,
			  "must be between %g and %g, got %s", sc->it->dmin,
			  sc->it->dmax, cfg_show(s, q));
		return false;
	}
	return true;
}

static bool parse_duration(const struct cfg_scalar *sc, struct cfg_val *v)
{
	const struct cfg_item *it = sc->it;
	char q[80], a[32], b[32];
	int r = as_parse_duration_ms(sc->s, &v->u);

	if (r == AS_EPARSE)
		return bad_type(sc);
	if (r || v->u < it->min || v->u > it->max) {
		fmt_duration(it->min, a, sizeof(a));
		fmt_duration(it->max, b, sizeof(b));
		cfg_error(sc->ctx, sc->line, sc->path,
			  "must be between %s and %s, got %s", a, b,
			  cfg_show(sc->s, q));
		return false;
	}
	return true;
}

static bool parse_sockaddr(const struct cfg_scalar *sc, struct cfg_val *v)
{
	char q[80];

	if (*sc->s == 0 && (sc->it->flags & CFG_EMPTY_OK))
		return true;
	if (as_parse_sockaddr(sc->s, sc->it->port, &v->ss) != AS_OK) {
		cfg_error(sc->ctx, sc->line, sc->path,
			  "invalid address %s: expected [IPv6]:port or "
			  "IPv4:port", cfg_show(sc->s, q));
		return false;
	}
	return true;
}

static bool parse_ipaddr(const struct cfg_scalar *sc, struct cfg_val *v)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&v->ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&v->ss;
	char q[80];

	if (inet_pton(AF_INET6, sc->s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
	} else if (inet_pton(AF_INET, sc->s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
	} else {
		cfg_error(sc->ctx, sc->line, sc->path,
			  "invalid IP address %s: expected an IPv6 or IPv4 "
			  "address without port", cfg_show(sc->s, q));
		return false;
	}
	return true;
}

/* DNS names and labels: dns/ owns the rule (dns/name.c). */
static bool parse_dns(const struct cfg_scalar *sc)
{
	const char *why = sc->type == CFG_DNAME ?
			  dns_name_problem(sc->s) :
			  dns_name_service_label_problem(sc->s);
	char q[80];

	if (!why)
		return true;
	cfg_error(sc->ctx, sc->line, sc->path, "invalid DNS %s %s: %s",
		  sc->type == CFG_DNAME ? "name" : "label", cfg_show(sc->s, q),
		  why);
	return false;
}

/* Returns the canonical spelling of the value, or NULL. */
static const char *parse_enum(const struct cfg_scalar *sc)
{
	const char *const *values = sc->it->values;
	char list[128] = "", q[80];

	for (size_t i = 0; values[i]; i++)
		if (strcasecmp(sc->s, values[i]) == 0)
			return values[i];
	for (size_t j = 0; values[j]; j++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", j ? ", " : "", values[j]);
	cfg_error(sc->ctx, sc->line, sc->path, "must be one of %s, got %s",
		  list, cfg_show(sc->s, q));
	return NULL;
}

/* String-valued types: normalise s into v->str, then the row's check. */
static bool finish_string(const struct cfg_scalar *sc, const char *s,
			  struct cfg_val *v)
{
	const char *why;
	char q[80];

	if (sc->type == CFG_DNAME || sc->type == CFG_LABEL)
		v->str = lower_dup(s, sc->type == CFG_DNAME);
	else
		v->str = strdup(s);
	if (!v->str) {
		cfg_oom(sc->ctx);
		return false;
	}
	if (sc->it->check && (why = sc->it->check(v->str))) {
		cfg_error(sc->ctx, sc->line, sc->path, "%s: %s",
			  cfg_show(s, q), why);
		free(v->str);
		v->str = NULL;
		return false;
	}
	return true;
}

/* Parses the text of one scalar as type t for row it (see above). */
static bool parse_scalar(struct cfg_ctx *ctx, const struct cfg_item *it,
			 enum cfg_type t, const char *s, size_t len,
			 size_t line, const char *path, struct cfg_val *v)
{
	const struct cfg_scalar sc = { ctx, it, t, s, line, path };

	memset(v, 0, sizeof(*v));
	if (strlen(s) != len) {
		cfg_error(ctx, line, path, "contains a NUL character");
		return false;
	}
	switch (t) {
	case CFG_UINT:
		return parse_uint(&sc, v);
	case CFG_DOUBLE:
		return parse_double(&sc, v);
	case CFG_BOOL:
		return parse_bool(s, &v->b) || bad_type(&sc);
	case CFG_DURATION:
		return parse_duration(&sc, v);
	case CFG_SOCKADDR:
		return parse_sockaddr(&sc, v) && finish_string(&sc, s, v);
	case CFG_IPADDR:
		return parse_ipaddr(&sc, v) && finish_string(&sc, s, v);
	case CFG_DNAME:
	case CFG_LABEL:
		return parse_dns(&sc) && finish_string(&sc, s, v);
	case CFG_ENUM: {
		const char *canon = parse_enum(&sc);
		return canon && finish_string(&sc, canon, v);
	}
	case CFG_STR:
		return finish_string(&sc, s, v);
	default:
		return bad_type(&sc);
	}
}

static void store_uint(void *p, size_t size, uint64_t u)
{
	switch (size) {
	case 1: { uint8_t x = (uint8_t)u; memcpy(p, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)u; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)u; memcpy(p, &x, 4); break; }
	default: memcpy(p, &u, 8); break;
	}
}

/* Stores a parsed scalar into its field (and its parsed form). */
static void store_scalar(const struct cfg_item *it, char *base,
			 struct cfg_val *v)
{
	char *p = base + it->off;

	switch (it->type) {
	case CFG_UINT:
	case CFG_DURATION:
		store_uint(p, it->size, v->u);
		return;
	case CFG_DOUBLE:
		memcpy(p, &v->d, sizeof(double));
		return;
	case CFG_BOOL:
		memcpy(p, &v->b, sizeof(bool));
		return;
	default:
		break;
	}
	free(*(char **)p);
	*(char **)p = v->str;
	v->str = NULL;
	if (!(it->flags & CFG_PARSED))
		return;
	if (it->type == CFG_SOCKADDR) {
		memcpy(base + it->aux_off, &v->ss, sizeof(v->ss));
	} else if (it->type == CFG_IPADDR) {
		int fam = v->ss.ss_family;
		uint8_t *addr = (uint8_t *)(base + it->aux2_off);
		memcpy(base + it->aux_off, &fam, sizeof(fam));
		memset(addr, 0, 16);
		if (fam == AF_INET6)
			memcpy(addr, &((struct sockaddr_in6 *)&v->ss)->sin6_addr, 16);
		else
			memcpy(addr, &((struct sockaddr_in *)&v->ss)->sin_addr, 4);
	}
}

/* ---- the walk ------------------------------------------------------------- */

static void load_section(struct cfg_ctx *ctx, const struct cfg_section *sec,
			 char *base, const struct as_yaml_node *map,
			 const char *path, size_t line);

/* Key paths are built through vsnprintf: a path that does not fit is
 * truncated in the message, which is harmless. */
void cfg_pathf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, CFG_PATH_MAX, fmt, ap);
	va_end(ap);
}

static void child_path(char *out, const char *path, const char *name)
{
	cfg_pathf(out, "%s%s%s", path, *path ? "." : "", name);
}

/* Optimal string alignment distance, case-insensitive, for suggestions. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[33][33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t c = tolower((unsigned char)a[i - 1]) !=
				   tolower((unsigned char)b[j - 1]);
			size_t m = AS_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
			m = AS_MIN(m, d[i - 1][j - 1] + c);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1])
				m = AS_MIN(m, d[i - 2][j - 2] + 1);
			d[i][j] = m;
		}
	}
	return d[la][lb];
}

static void unknown_key(struct cfg_ctx *ctx, const struct cfg_section *sec,
			const struct as_yaml_node *key, const char *path)
{
	size_t best_d = SIZE_MAX, n;
	const char *name = scalar(ctx, key, &n), *best = NULL;
	char kp[CFG_PATH_MAX], q[80];

	for (size_t i = 0; i < sec->n_items && strlen(name) == n; i++) {
		size_t d = edit_distance(name, sec->items[i].name);
		if (d < best_d)
			best_d = d, best = sec->items[i].name;
	}
	child_path(kp, path, show_n(name, n, q));
	/* Close means a typo or two, not a different short word. */
	if (best && best_d <= 2 && best_d * 3 <= AS_MAX(n, 3))
		cfg_error(ctx, cfg_line_of(key), kp,
			  "unknown key; did you mean '%s'?", best);
	else
		cfg_error(ctx, cfg_line_of(key), kp, "unknown key");
}

/* val NULL stands for the item's default: one double-quoted scalar (so
 * never null) at `line`. */
static void load_list(struct cfg_ctx *ctx, const struct cfg_item *it,
		      char *base, const struct as_yaml_node *val,
		      const char *path, size_t line)
{
	const struct as_yaml_node *seq = NULL;
	size_t n = 1;
	char ip[CFG_PATH_MAX];

	if (val && is_type(val, AS_YAML_MAPPING)) {
		cfg_error(ctx, cfg_line_of(val), path,
			  "expected a list, got a map");
		return;
	}
	if (val && is_type(val, AS_YAML_SEQUENCE)) {
		if (!enter(ctx, val, path))
			return;
		seq = val;
		n = as_yaml_len(val);
	}	/* else a single scalar: a list of one */
	if (n == 0) {
		if (it->flags & CFG_NONEMPTY)
			cfg_error(ctx, cfg_line_of(val), path,
				  "must not be empty");
		return;
	}
	char **strs = calloc(n, sizeof(char *));
	struct sockaddr_storage *aux = NULL;
	if (!strs)
		return cfg_oom(ctx);
	if (it->flags & CFG_PARSED) {
		aux = calloc(n, sizeof(*aux));
		if (!aux) {
			free(strs);
			return cfg_oom(ctx);
		}
		*(struct sockaddr_storage **)(base + it->aux_off) = aux;
	}
	/* Owned by the config from here on, so every exit frees them. */
	*(char ***)(base + it->off) = strs;
	*(size_t *)(base + it->count_off) = n;

	for (size_t i = 0; i < n; i++) {
		struct cfg_val v;
		const struct as_yaml_node *e = seq ? cfg_seq_get(ctx, seq, i) : val;
		const char *text = it->def;
		size_t len = e ? 0 : strlen(it->def), eline = line;
		if (seq)
			cfg_pathf(ip, "%s[%zu]", path, i);
		else
			cfg_pathf(ip, "%s", path);
		if (e && !is_type(e, AS_YAML_SCALAR)) {
			cfg_error(ctx, cfg_line_of(e), ip, "expected %s, got %s",
				  type_noun(it->elem), kind(e));
			continue;
		}
		if (is_null(ctx, e)) {
			cfg_error(ctx, cfg_line_of(e), ip, "empty list item");
			continue;
		}
		if (e) {
			text = scalar(ctx, e, &len);
			eline = cfg_line_of(e);
		}
		if (!parse_scalar(ctx, it, it->elem, text, len, eline, ip, &v))
			continue;
		strs[i] = v.str;
		if (aux)
			aux[i] = v.ss;
	}
}

static void load_sections(struct cfg_ctx *ctx, const struct cfg_item *it,
			  char *base, const struct as_yaml_node *val,
			  const char *path)
{
	const struct cfg_section *sub = it->sub;
	char ip[CFG_PATH_MAX];

	if (!is_type(val, AS_YAML_SEQUENCE)) {
		cfg_error(ctx, cfg_line_of(val), path,
			  "expected a list of maps, got %s", kind(val));
		return;
	}
	if (!enter(ctx, val, path))
		return;
	size_t n = as_yaml_len(val);
	if (n == 0)
		return;
	char *arr = calloc(n, sub->size);
	if (!arr)
		return cfg_oom(ctx);
	*(char **)(base + it->off) = arr;
	*(size_t *)(base + it->count_off) = n;

	for (size_t i = 0; i < n && !ctx->oom; i++) {
		const struct as_yaml_node *e = cfg_seq_get(ctx, val, i);
		cfg_pathf(ip, "%s[%zu]", path, i);
		if (!is_type(e, AS_YAML_MAPPING)) {
			cfg_error(ctx, cfg_line_of(e), ip, "expected a map, got %s",
				  is_null(ctx, e) ? "nothing" : kind(e));
			continue;
		}
		if (!enter(ctx, e, ip))
			continue;
		load_section(ctx, sub, arr + i * sub->size, e, ip, cfg_line_of(e));
	}
}

static void load_value(struct cfg_ctx *ctx, const struct cfg_item *it,
		       char *base, const struct as_yaml_node *val,
		       const char *path, size_t kline)
{
	struct cfg_val v;
	const char *text;
	size_t len;

	switch (it->type) {
	case CFG_SECTION:
		if (!is_type(val, AS_YAML_MAPPING)) {
			cfg_error(ctx, cfg_line_of(val), path,
				  "expected a map, got %s", kind(val));
			return;
		}
		if (!enter(ctx, val, path))
			return;
		load_section(ctx, it->sub, base + it->off, val, path, kline);
		return;
	case CFG_SECTIONS:
		load_sections(ctx, it, base, val, path);
		return;
	case CFG_LIST:
		load_list(ctx, it, base, val, path, cfg_line_of(val));
		return;
	default:
		break;
	}
	if (!is_type(val, AS_YAML_SCALAR)) {
		cfg_error(ctx, cfg_line_of(val), path, "expected %s, got %s",
			  type_noun(it->type), kind(val));
		return;
	}
	text = scalar(ctx, val, &len);
	if (parse_scalar(ctx, it, it->type, text, len, cfg_line_of(val), path, &v))
		store_scalar(it, base, &v);
}

static void apply_default(struct cfg_ctx *ctx, const struct cfg_item *it,
			  char *base, const char *path, size_t line)
{
	struct cfg_val v;

	if (it->type == CFG_SECTION) {
		load_section(ctx, it->sub, base + it->off, NULL, path, line);
		return;
	}
	if (!it->def || it->type == CFG_SECTIONS)
		return;
	if (it->type == CFG_LIST) {
		load_list(ctx, it, base, NULL, path, line);
		return;
	}
	if (parse_scalar(ctx, it, it->type, it->def, strlen(it->def), line,
			 path, &v))
		store_scalar(it, base, &v);
}

static void load_section(struct cfg_ctx *ctx, const struct cfg_section *sec,
			 char *base, const struct as_yaml_node *map,
			 const char *path, size_t line)
{
	const struct as_yaml_node **found = calloc(sec->n_items, sizeof(*found));
	const struct as_yaml_node **keys = calloc(sec->n_items, sizeof(*keys));
	char kp[CFG_PATH_MAX];
	unsigned errors_before = ctx->n_errors;

	if (!found || !keys) {
		cfg_oom(ctx);
		goto cleanup;
	}
	if (map) {
		for (size_t j = 0, n = as_yaml_len(map); j < n; j++) {
			const struct as_yaml_node *k = as_yaml_key(ctx->doc, map, j);
			const char *name;
			size_t i, len;
			if (!is_type(k, AS_YAML_SCALAR)) {
				cfg_error(ctx, cfg_line_of(k), *path ? path : "(document)",
					  "a key must be a plain word, got %s",
					  kind(k));
				continue;
			}
			/* A key with a NUL inside ("ttl\0x") matches nothing. */
			name = scalar(ctx, k, &len);
			for (i = 0; i < sec->n_items; i++)
				if (strlen(name) == len &&
				    strcmp(name, sec->items[i].name) == 0)
					break;
			if (i == sec->n_items) {
				unknown_key(ctx, sec, k, path);
				continue;
			}
			if (found[i]) {
				child_path(kp, path, sec->items[i].name);
				cfg_error(ctx, cfg_line_of(k), kp,
					  "duplicate key (first at line %zu)",
					  cfg_line_of(keys[i]));
				continue;
			}
			keys[i] = k;
			found[i] = as_yaml_value(ctx->doc, map, j);
		}
	}

	for (size_t i = 0; i < sec->n_items && !ctx->oom; i++) {
		const struct cfg_item *it = &sec->items[i];
		child_path(kp, path, it->name);
		if (found[i] && !is_null(ctx, found[i])) {
			load_value(ctx, it, base, found[i], kp,
				   cfg_line_of(keys[i]));
		} else if (it->flags & CFG_REQUIRED) {
			if (found[i])
				cfg_error(ctx, cfg_line_of(found[i]), kp,
					  "needs a value");
			else
				cfg_error(ctx, line, kp,
					  "required key is missing");
		} else {
			apply_default(ctx, it, base, kp, line);
		}
	}
	if (sec->finish && !ctx->oom) {
		struct cfg_where w = { map, path, line,
				       ctx->n_errors == errors_before };
		sec->finish(ctx, base, &w);
	}
cleanup:
	free(found);
	free(keys);
}

/* ---- freeing ---------------------------------------------------------------- */

static void free_section(const struct cfg_section *sec, char *base)
{
	for (size_t i = 0; i < sec->n_items; i++) {
		const struct cfg_item *it = &sec->items[i];
		char *p = base + it->off;
		switch (it->type) {
		case CFG_UINT:
		case CFG_DOUBLE:
		case CFG_BOOL:
		case CFG_DURATION:
			break;
		case CFG_SECTION:
			free_section(it->sub, p);
			break;
		case CFG_SECTIONS: {
			char *arr = *(char **)p;
			size_t n = *(size_t *)(base + it->count_off);
			for (size_t j = 0; arr && j < n; j++)
				free_section(it->sub, arr + j * it->sub->size);
			free(arr);
			break;
		}
		case CFG_LIST: {
			char **arr = *(char ***)p;
			size_t n = *(size_t *)(base + it->count_off);
			for (size_t j = 0; arr && j < n; j++)
				free(arr[j]);
			free(arr);
			if (it->flags & CFG_PARSED)
				free(*(void **)(base + it->aux_off));
			break;
		}
		default:
			free(*(char **)p);
			break;
		}
	}
}

/* ---- entry points ------------------------------------------------------------ */

static void syntax_error(struct cfg_ctx *ctx, const yaml_parser_t *p,
			 const char *text, size_t len)
{
	size_t line = p->problem_mark.line + 1;

	if (p->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a mark. */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += text[i] == '\n';
		cfg_error(ctx, line, "(yaml)", "%s (byte %zu)",
			  p->problem ? p->problem : "cannot read input",
			  p->problem_offset);
	} else if (p->error == YAML_MEMORY_ERROR) {
		cfg_oom(ctx);
	} else if (p->context) {
		cfg_error(ctx, line, "(yaml)", "%s (%s at line %zu)",
			  p->problem ? p->problem : "syntax error", p->context,
			  p->context_mark.line + 1);
	} else {
		cfg_error(ctx, line, "(yaml)", "%s",
			  p->problem ? p->problem : "syntax error");
	}
}

int cfg_parse(const struct cfg_section *root_sec, const char *path,
	      const char *text, size_t len, void **out, char *errbuf,
	      size_t errlen)
{
	struct cfg_ctx ctx = { .file = path ? path : "(config)",
			       .buf = errbuf, .len = errlen };
	yaml_parser_t parser;
	struct as_yaml *doc = NULL, *extra = NULL;
	const struct as_yaml_node *root, *r2;
	char *cfg = NULL;
	int ret = AS_ECONFIG;

	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!out || (!text && len))
		return AS_EINVAL;
	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return AS_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
	if (as_yaml_load(&parser, &doc) != AS_OK) {
		syntax_error(&ctx, &parser, text, len);
		goto cleanup;
	}
	ctx.doc = doc;

	root = as_yaml_root(doc);
	if (!root || is_null(&ctx, root)) {
		cfg_error(&ctx, 1, "(document)",
			  "the configuration is empty; at least dns.zone is "
			  "required");
		goto cleanup;
	}
	if (!is_type(root, AS_YAML_MAPPING)) {
		cfg_error(&ctx, cfg_line_of(root), "(document)",
			  "expected a map of sections at the top level, got %s",
			  kind(root));
		goto cleanup;
	}
	/* A second document would be silently ignored: refuse it. */
	if (as_yaml_load(&parser, &extra) != AS_OK) {
		syntax_error(&ctx, &parser, text, len);
	} else {
		if ((r2 = as_yaml_root(extra)))
			cfg_error(&ctx, cfg_line_of(r2), "(document)",
				  "more than one YAML document; anysteerd "
				  "reads one");
		as_yaml_free(extra);
	}

	ctx.seen = calloc(as_yaml_count(doc) + 1, 1);
	cfg = calloc(1, root_sec->size);
	if (!ctx.seen || !cfg) {
		cfg_oom(&ctx);
		goto cleanup;
	}
	ctx.root = cfg;
	ctx.seen[as_yaml_index(doc, root)] = 1;
	load_section(&ctx, root_sec, cfg, root, "", cfg_line_of(root));
	if (ctx.oom || ctx.n_errors)
		goto cleanup;
	*out = cfg;
	cfg = NULL;
	ret = AS_OK;
cleanup:
	if (ctx.oom)
		ret = AS_ENOMEM;
	cfg_flush(&ctx);
	if (cfg)
		free_section(root_sec, cfg);
	free(cfg);
	free(ctx.seen);
	as_yaml_free(doc);
	yaml_parser_delete(&parser);
	return ret;
}

void cfg_free(const struct cfg_section *sec, void *base)
{
	if (base)
		free_section(sec, base);
}

int cfg_read_file(const char *path, char **text, size_t *len_out,
		  char *errbuf, size_t errlen)
{
	struct cfg_ctx ctx = { .file = path, .buf = errbuf, .len = errlen };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd = -1, ret;

	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!path || !text || !len_out)
		return AS_EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		ret = -errno;
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto fail;
	}
	/* st_size is 0 for pipes and /proc files: read until EOF anyway;
	 * one byte stays free for the terminating NUL. */
	for (;;) {
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : (size_t)AS_MAX(st.st_size + 1, 4096);
			if (cap >= CFG_MAX_FILE) {
				ret = -EFBIG;
				goto fail;
			}
			char *nb = realloc(buf, ncap);
			if (!nb) {
				ret = AS_ENOMEM;
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CFG_MAX_FILE) {
			ret = -EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[len] = 0;
	*text = buf;
	*len_out = len;
	return AS_OK;
fail:
	cfg_error(&ctx, 0, NULL, "cannot read: %s", as_strerror(ret));
	cfg_flush(&ctx);
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/* ---- schema reference ------------------------------------------------------- */

/* Literal defaults are printed as `code`; computed ones as prose. */
typedef void (*schema_fn)(void *arg, const char *key, const char *type,
			  const char *def, bool literal, const char *desc);

static void describe_type(const struct cfg_item *it, enum cfg_type t,
			  char *buf, size_t len)
{
	char a[32], b[32];

	switch (t) {
	case CFG_STR:
		snprintf(buf, len, "string");
		break;
	case CFG_UINT:
		snprintf(buf, len, "integer %" PRIu64 "..%" PRIu64, it->min,
			 it->max);
		break;
	case CFG_DOUBLE:
		snprintf(buf, len, "number %g..%g", it->dmin, it->dmax);
		break;
	case CFG_BOOL:
		snprintf(buf, len, "bool");
		break;
	case CFG_DURATION:
		fmt_duration(it->min, a, sizeof(a));
		fmt_duration(it->max, b, sizeof(b));
		snprintf(buf, len, "duration %s..%s", a, b);
		break;
	case CFG_SOCKADDR:
		snprintf(buf, len, "socket address");
		break;
	case CFG_IPADDR:
		snprintf(buf, len, "IP address");
		break;
	case CFG_DNAME:
		snprintf(buf, len, "DNS name");
		break;
	case CFG_LABEL:
		snprintf(buf, len, "DNS label");
		break;
	case CFG_ENUM:
		snprintf(buf, len, "one of");
		for (size_t i = 0; it->values[i]; i++)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s %s",
				 i ? "," : "", it->values[i]);
		break;
	case CFG_LIST: {
		static const char *const plural[] = {
			[CFG_STR] = "strings",
			[CFG_SOCKADDR] = "socket addresses",
			[CFG_IPADDR] = "IP addresses",
			[CFG_DNAME] = "DNS names",
			[CFG_LABEL] = "DNS labels",
		};
		char e[64];
		if ((size_t)it->elem < AS_ARRAY_SIZE(plural) && plural[it->elem])
			snprintf(e, sizeof(e), "%s", plural[it->elem]);
		else
			describe_type(it, it->elem, e, sizeof(e));
		snprintf(buf, len, "list of %s", e);
		break;
	}
	case CFG_SECTION:
		snprintf(buf, len, "section");
		break;
	case CFG_SECTIONS:
		snprintf(buf, len, "list of sections");
		break;
	}
}

/* Returns true when the default is a literal value (printed as code). */
static bool describe_default(const struct cfg_item *it, char *buf, size_t len)
{
	if (it->flags & CFG_REQUIRED)
		return snprintf(buf, len, "required"), false;
	if (it->def_doc)
		return snprintf(buf, len, "%s", it->def_doc), false;
	if (it->type == CFG_SECTION)
		return buf[0] = 0, false;
	if (it->type == CFG_LIST)
		snprintf(buf, len, it->def ? "[\"%s\"]" : "[]",
			 it->def ? it->def : "");
	else if (it->type == CFG_SECTIONS)
		snprintf(buf, len, "[]");
	else if (it->def && !*it->def)
		snprintf(buf, len, "\"\"");
	else if (it->def)
		snprintf(buf, len, "%s", it->def);
	else
		return snprintf(buf, len, "none"), false;
	return true;
}

static void schema_walk(const struct cfg_section *sec, const char *prefix,
			schema_fn fn, void *arg)
{
	char key[CFG_PATH_MAX], type[96], def[96];

	for (size_t i = 0; i < sec->n_items; i++) {
		const struct cfg_item *it = &sec->items[i];
		child_path(key, prefix, it->name);
		describe_type(it, it->type, type, sizeof(type));
		bool literal = describe_default(it, def, sizeof(def));
		fn(arg, key, type, def, literal, it->desc);
		if (it->type == CFG_SECTIONS)
			strncat(key, "[]", sizeof(key) - strlen(key) - 1);
		if (it->type == CFG_SECTION || it->type == CFG_SECTIONS)
			schema_walk(it->sub, key, fn, arg);
	}
}

struct schema_print {
	FILE *f;
	int w[4];
};

static void schema_measure(void *arg, const char *key, const char *type,
			   const char *def, bool literal, const char *desc)
{
	struct schema_print *sp = arg;
	const char *col[4] = { key, type, def, desc };

	for (int i = 0; i < 4; i++) {
		/* Keys and literal defaults get two backquotes. */
		int w = (int)strlen(col[i]) + (i == 0 || (i == 2 && literal) ? 2 : 0);
		sp->w[i] = AS_MAX(sp->w[i], w);
	}
}

static void schema_row(void *arg, const char *key, const char *type,
		       const char *def, bool literal, const char *desc)
{
	struct schema_print *sp = arg;
	char k[CFG_PATH_MAX + 2], d[100];

	snprintf(k, sizeof(k), "`%s`", key);
	snprintf(d, sizeof(d), literal ? "`%s`" : "%s", def);
	fprintf(sp->f, "| %-*s | %-*s | %-*s | %-*s |\n", sp->w[0], k,
		sp->w[1], type, sp->w[2], d, sp->w[3], desc);
}

void cfg_print_schema(const struct cfg_section *root, FILE *f)
{
	struct schema_print sp = { f, { 3, 4, 7, 11 } };
	char dash[4][200];

	schema_walk(root, "", schema_measure, &sp);
	for (int i = 0; i < 4; i++) {
		int w = AS_MIN(sp.w[i], (int)sizeof(dash[i]) - 1);
		memset(dash[i], '-', (size_t)w);
		dash[i][w] = 0;
	}
	fprintf(f, "| %-*s | %-*s | %-*s | %-*s |\n", sp.w[0], "Key",
		sp.w[1], "Type", sp.w[2], "Default", sp.w[3], "Description");
	fprintf(f, "|-%s-|-%s-|-%s-|-%s-|\n", dash[0], dash[1], dash[2],
		dash[3]);
	schema_walk(root, "", schema_row, &sp);
}

/* Prints text from column indent, broken at blanks so no line passes
 * width (a word longer than the room gets a line of its own); col: the
 * column the cursor is at. */
static void print_wrapped(FILE *f, const char *text, int col, int indent, int width)
{
	const char *p = text;
	bool first = true;

	while (*p) {
		while (*p == ' ')
			p++;
		size_t wl = strcspn(p, " ");
		if (!wl)
			break;
		if (!first && col + 1 + (int)wl > width) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		first = false;
		fwrite(p, 1, wl, f);
		col += (int)wl;
		p += wl;
	}
	fputc('\n', f);
}

static void schema_text_row(void *arg, const char *key, const char *type,
			    const char *def, bool literal, const char *desc)
{
	struct schema_print *sp = arg;
	char head[CFG_PATH_MAX + 256];
	(void)literal;

	if (!strcmp(def, "required"))
		snprintf(head, sizeof(head), "%s (%s; required)", key, type);
	else if (*def)
		snprintf(head, sizeof(head), "%s (%s; default: %s)", key, type, def);
	else
		snprintf(head, sizeof(head), "%s (%s)", key, type);
	/* A blank line before each section but the first. */
	if ((!strcmp(type, "section") || !strcmp(type, "list of sections")) && sp->w[1]++)
		fputc('\n', sp->f);
	print_wrapped(sp->f, head, 0, 6, sp->w[0]);
	fprintf(sp->f, "    ");
	print_wrapped(sp->f, desc, 4, 4, sp->w[0]);
}

void cfg_print_schema_text(const struct cfg_section *root, FILE *f, int width)
{
	struct schema_print sp = { f, { width < 40 ? 40 : width, 0, 0, 0 } };

	schema_walk(root, "", schema_text_row, &sp);
}
