/*
 * agent/config.c - the configuration schema and its YAML loader.
 *
 * Design. The whole configuration is described by one schema: a table of
 * rows per section (key, type, where the value lands, default, range,
 * validator, one-line description), as in Knot DNS's conf/schema.c. Every
 * consumer is a walk over that table: the loader, the defaults, the
 * freeing of a (possibly half-built) agent_config and the printed
 * reference. Adding a key is adding a row; adding a section is adding a
 * SECTION row that points at the section's own table.
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
 * Values that depend on other keys (node.name from the host name,
 * dns.nameservers from the zone, an endpoint's node from node.name) and
 * checks across keys (watermarks, duplicates) live in per-section finish
 * hooks, which run after the section's rows. Sections run in table order,
 * so `node` is settled before `services` needs it.
 *
 * Loading is thread-safe: reloads parse on a libuv worker thread while
 * the loop runs. Everything lives in the call's own context; the schema
 * tables are const; the only outside state read is the host name and
 * $NODE_NAME (nothing in the daemon sets the environment), and messages
 * use as_strerror, which keeps its buffer per thread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "agent/agent.h"
#include "lib/yamltree.h"
#include "lib/as.h"

/* Refuse files larger than this: a configuration is kilobytes. */
#define CFG_MAX_FILE (16u << 20)
/* Key paths such as "services[999].endpoints[9].address" fit easily. */
#define CFG_PATH_MAX 192
/* Messages kept for errbuf; more are counted, not stored. */
#define CFG_MAX_ERRORS 1000

enum cfg_type {
	CFG_STR,	/* free text, optional validator */
	CFG_UINT,	/* unsigned integer, .min..max, stored in .size bytes */
	CFG_DOUBLE,	/* finite number, .dmin..dmax */
	CFG_BOOL,
	CFG_DURATION,	/* "5s", "250ms", bare seconds; stored in ms */
	CFG_SOCKADDR,	/* "[v6]:port" or "v4:port", .port if omitted */
	CFG_IPADDR,	/* bare IPv6 or IPv4 address */
	CFG_DNAME,	/* DNS name, stored lower case with trailing dot */
	CFG_LABEL,	/* one DNS label, stored lower case */
	CFG_ENUM,	/* one of .values, stored as the canonical string */
	CFG_LIST,	/* list of scalars of type .elem, stored as char ** */
	CFG_SECTION,	/* nested map: an embedded struct at .off */
	CFG_SECTIONS,	/* list of maps: array of .sub->size structs */
};

enum cfg_flags {
	CFG_REQUIRED = 1 << 0,	/* absent or empty is an error */
	CFG_NONEMPTY = 1 << 1,	/* a list given explicitly needs an item */
	CFG_EMPTY_OK = 1 << 2,	/* "" is accepted (an address: disabled) */
	CFG_PARSED = 1 << 3,	/* also store the parsed form at .aux_off */
};

struct cfg_ctx;
struct cfg_section;

struct cfg_item {
	const char *name;
	enum cfg_type type;
	enum cfg_type elem;	/* CFG_LIST: type of the items */
	unsigned flags;
	size_t off;		/* the value, relative to the section struct */
	size_t size;		/* bytes of integer storage */
	size_t count_off;	/* lists: the size_t item count */
	/* CFG_PARSED: SOCKADDR scalar -> struct sockaddr_storage; IPADDR
	 * scalar -> int family here, 16 address bytes at aux2_off; LIST of
	 * addresses -> parallel struct sockaddr_storage array. */
	size_t aux_off;
	size_t aux2_off;
	const char *def;	/* default, parsed like input; NULL = none */
	const char *def_doc;	/* default shown when computed at load time */
	uint64_t min, max;	/* UINT, DURATION (ms) */
	double dmin, dmax;	/* DOUBLE */
	uint16_t port;		/* SOCKADDR: port when none is written */
	const char *const *values; /* ENUM, NULL-terminated */
	/* Extra check of the normalised text; returns why it is bad. */
	const char *(*check)(const char *value);
	const struct cfg_section *sub; /* SECTION, SECTIONS */
	const char *desc;
};

struct cfg_where {
	const struct as_yaml_node *map; /* the section's map, NULL if absent */
	const char *path;	/* "dns", "services[3]" */
	size_t line;		/* of the section's key (its map if a list
				 * item), or of its parent if absent */
	bool clean;		/* its own keys loaded without error */
};

struct cfg_section {
	const struct cfg_item *items;
	size_t n_items;
	size_t size;		/* element size, for CFG_SECTIONS */
	void (*finish)(struct cfg_ctx *ctx, void *base,
		       const struct cfg_where *w);
};

struct cfg_msg {
	size_t line, seq;
	char *text;
};

struct cfg_ctx {
	const char *file;
	const struct as_yaml *doc;
	struct agent_config *root;
	unsigned char *seen;	/* maps and lists already walked */
	char *buf;		/* the caller's errbuf */
	size_t len, used;
	struct cfg_msg *msgs;	/* collected, written out sorted by line */
	size_t n_msgs, cap_msgs;
	unsigned n_errors;
	bool oom;
};

/* A parsed scalar before it is stored. */
struct cfg_val {
	char *str;		/* normalised text (string-like types) */
	uint64_t u;
	double d;
	bool b;
	struct sockaddr_storage ss;
};

typedef __typeof__(((struct agent_config *)0)->node) cfg_node_t;
typedef __typeof__(((struct agent_config *)0)->dns) cfg_dns_t;
typedef __typeof__(((struct agent_config *)0)->control) cfg_control_t;
typedef __typeof__(((struct agent_config *)0)->metrics) cfg_metrics_t;
typedef __typeof__(((struct agent_config *)0)->load) cfg_load_t;
typedef __typeof__(((struct agent_config *)0)->anycast) cfg_anycast_t;
typedef __typeof__(((struct agent_config *)0)->bird) cfg_bird_t;
typedef __typeof__(((struct agent_config *)0)->drain) cfg_drain_t;
typedef __typeof__(((struct agent_config *)0)->gossip) cfg_gossip_t;
typedef __typeof__(((struct agent_config *)0)->health) cfg_health_t;
typedef __typeof__(((struct agent_config *)0)->kubernetes) cfg_k8s_t;

#define AT(T, m) .off = offsetof(T, m), .size = sizeof(((T *)0)->m)
#define COUNT(T, m) .count_off = offsetof(T, m)
#define AUX(T, m) .aux_off = offsetof(T, m)
#define AUX2(T, m) .aux2_off = offsetof(T, m)
#define SECTION_OF(items_, T, finish_) \
	{ items_, AS_ARRAY_SIZE(items_), sizeof(T), finish_ }

/* ---- errors --------------------------------------------------------------- */

static void cfg_error(struct cfg_ctx *ctx, size_t line, const char *key,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void cfg_error(struct cfg_ctx *ctx, size_t line, const char *key,
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
	if (ctx->n_msgs == ctx->cap_msgs) {
		size_t ncap = ctx->cap_msgs ? ctx->cap_msgs * 2 : 16;
		struct cfg_msg *nm = realloc(ctx->msgs, ncap * sizeof(*nm));
		if (!nm) {
			free(text);
			return;
		}
		ctx->msgs = nm;
		ctx->cap_msgs = ncap;
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

static const char *show(const char *s, char out[80])
{
	return show_n(s, strlen(s), out);
}

static void oom(struct cfg_ctx *ctx)
{
	if (!ctx->oom)
		cfg_error(ctx, 0, "(loader)", "out of memory");
	ctx->oom = true;
}

/* ---- YAML node helpers ----------------------------------------------------- */

static size_t line_of(const struct as_yaml_node *n)
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

static const struct as_yaml_node *map_get(struct cfg_ctx *ctx,
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
static const struct as_yaml_node *seq_get(struct cfg_ctx *ctx,
					  const struct as_yaml_node *seq,
					  size_t i)
{
	return as_yaml_item(ctx->doc, seq, i);
}

/* Line of map[key] if it is there, else the section's own line. */
static size_t key_line(struct cfg_ctx *ctx, const struct cfg_where *w,
		       const char *key)
{
	const struct as_yaml_node *v = map_get(ctx, w->map, key);
	return v ? line_of(v) : w->line;
}

static bool has_key(struct cfg_ctx *ctx, const struct as_yaml_node *map,
		    const char *key)
{
	const struct as_yaml_node *v = map_get(ctx, map, key);
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
		cfg_error(ctx, line_of(n), path,
			  "repeats, through an alias, the %s at this line; "
			  "aliases of maps and lists are not supported",
			  is_type(n, AS_YAML_MAPPING) ? "map" : "list");
		return false;
	}
	ctx->seen[i] = 1;
	return true;
}

/* ---- scalar types ---------------------------------------------------------- */

static bool label_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Why s is not a DNS name (letters, digits, '-', '_' per label), or NULL. */
static const char *dname_problem(const char *s)
{
	size_t n = strlen(s), lab = 0;

	if (n == 0)
		return "empty name";
	if (strcmp(s, ".") == 0)
		return NULL;
	if (s[n - 1] == '.')
		n--;
	if (n > 253)
		return "longer than 253 characters";
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (lab == 0)
				return "empty label";
			lab = 0;
			continue;
		}
		if (!label_char(s[i]))
			return "invalid character (use letters, digits, '-' and '_')";
		if (++lab > 63)
			return "label longer than 63 characters";
	}
	return NULL;
}

static const char *label_problem(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "empty label";
	if (n > 63)
		return "longer than 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i]))
			return "invalid character (use letters, digits, '-' and '_')";
	if (s[0] == '-' || s[n - 1] == '-')
		return "may not begin or end with '-'";
	return NULL;
}

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
 * Parses the text of one scalar as type t for row it. Reports problems
 * against path/line and returns false; v->str is owned by the caller.
 */
static bool parse_scalar(struct cfg_ctx *ctx, const struct cfg_item *it,
			 enum cfg_type t, const char *s, size_t len,
			 size_t line, const char *path, struct cfg_val *v)
{
	char q[80], a[32], b[32];
	const char *why = NULL;
	char *end;

	memset(v, 0, sizeof(*v));
	if (strlen(s) != len) {
		cfg_error(ctx, line, path, "contains a NUL character");
		return false;
	}
	switch (t) {
	case CFG_UINT: {
		bool neg = s[0] == '-';
		if (!all_digits(s + neg))
			goto bad_type;
		errno = 0;
		unsigned long long x = strtoull(s + neg, &end, 10);
		if ((neg && x) || errno == ERANGE || x < it->min ||
		    x > it->max) {
			cfg_error(ctx, line, path,
				  "must be between %" PRIu64 " and %" PRIu64
				  ", got %s", it->min, it->max, show(s, q));
			return false;
		}
		v->u = x;
		return true;
	}
	case CFG_DOUBLE:
		errno = 0;
		v->d = strtod(s, &end);
		if (!*s || isspace((unsigned char)*s) || *end ||
		    !isfinite(v->d))
			goto bad_type;
		if (v->d < it->dmin || v->d > it->dmax) {
			cfg_error(ctx, line, path,
				  "must be between %g and %g, got %s",
				  it->dmin, it->dmax, show(s, q));
			return false;
		}
		return true;
	case CFG_BOOL:
		if (!parse_bool(s, &v->b))
			goto bad_type;
		return true;
	case CFG_DURATION: {
		int r = as_parse_duration_ms(s, &v->u);
		if (r == AS_EPARSE)
			goto bad_type;
		if (r || v->u < it->min || v->u > it->max) {
			fmt_duration(it->min, a, sizeof(a));
			fmt_duration(it->max, b, sizeof(b));
			cfg_error(ctx, line, path,
				  "must be between %s and %s, got %s", a, b,
				  show(s, q));
			return false;
		}
		return true;
	}
	case CFG_SOCKADDR:
		if (!(*s == 0 && (it->flags & CFG_EMPTY_OK)) &&
		    as_parse_sockaddr(s, it->port, &v->ss) != AS_OK) {
			cfg_error(ctx, line, path,
				  "invalid address %s: expected [IPv6]:port "
				  "or IPv4:port", show(s, q));
			return false;
		}
		break;
	case CFG_IPADDR: {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&v->ss;
		struct sockaddr_in *a4 = (struct sockaddr_in *)&v->ss;
		if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
		} else if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
		} else {
			cfg_error(ctx, line, path,
				  "invalid IP address %s: expected an IPv6 or "
				  "IPv4 address without port", show(s, q));
			return false;
		}
		break;
	}
	case CFG_DNAME:
		if ((why = dname_problem(s))) {
			cfg_error(ctx, line, path, "invalid DNS name %s: %s",
				  show(s, q), why);
			return false;
		}
		break;
	case CFG_LABEL:
		if ((why = label_problem(s))) {
			cfg_error(ctx, line, path, "invalid DNS label %s: %s",
				  show(s, q), why);
			return false;
		}
		break;
	case CFG_ENUM: {
		size_t i;
		for (i = 0; it->values[i]; i++)
			if (strcasecmp(s, it->values[i]) == 0)
				break;
		if (!it->values[i]) {
			char list[128] = "";
			for (size_t j = 0; it->values[j]; j++)
				snprintf(list + strlen(list),
					 sizeof(list) - strlen(list), "%s%s",
					 j ? ", " : "", it->values[j]);
			cfg_error(ctx, line, path, "must be one of %s, got %s",
				  list, show(s, q));
			return false;
		}
		s = it->values[i];	/* canonical spelling */
		break;
	}
	case CFG_STR:
		break;
	default:
		goto bad_type;
	}

	/* String-valued types: normalise, then the row's own check. */
	if (t == CFG_DNAME || t == CFG_LABEL)
		v->str = lower_dup(s, t == CFG_DNAME);
	else
		v->str = strdup(s);
	if (!v->str) {
		oom(ctx);
		return false;
	}
	if (it->check && (why = it->check(v->str))) {
		cfg_error(ctx, line, path, "%s: %s", show(s, q), why);
		free(v->str);
		v->str = NULL;
		return false;
	}
	return true;

bad_type:
	cfg_error(ctx, line, path, "expected %s, got %s", type_noun(t),
		  show(s, q));
	return false;
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
static void pathf(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pathf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, CFG_PATH_MAX, fmt, ap);
	va_end(ap);
}

static void child_path(char *out, const char *path, const char *name)
{
	pathf(out, "%s%s%s", path, *path ? "." : "", name);
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
		cfg_error(ctx, line_of(key), kp,
			  "unknown key; did you mean '%s'?", best);
	else
		cfg_error(ctx, line_of(key), kp, "unknown key");
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
		cfg_error(ctx, line_of(val), path,
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
			cfg_error(ctx, line_of(val), path,
				  "must not be empty");
		return;
	}
	char **strs = calloc(n, sizeof(char *));
	struct sockaddr_storage *aux = NULL;
	if (!strs)
		return oom(ctx);
	if (it->flags & CFG_PARSED) {
		aux = calloc(n, sizeof(*aux));
		if (!aux) {
			free(strs);
			return oom(ctx);
		}
		*(struct sockaddr_storage **)(base + it->aux_off) = aux;
	}
	/* Owned by the config from here on, so every exit frees them. */
	*(char ***)(base + it->off) = strs;
	*(size_t *)(base + it->count_off) = n;

	for (size_t i = 0; i < n; i++) {
		struct cfg_val v;
		const struct as_yaml_node *e = seq ? seq_get(ctx, seq, i) : val;
		const char *text = it->def;
		size_t len = e ? 0 : strlen(it->def), eline = line;
		if (seq)
			pathf(ip, "%s[%zu]", path, i);
		else
			pathf(ip, "%s", path);
		if (e && !is_type(e, AS_YAML_SCALAR)) {
			cfg_error(ctx, line_of(e), ip, "expected %s, got %s",
				  type_noun(it->elem), kind(e));
			continue;
		}
		if (is_null(ctx, e)) {
			cfg_error(ctx, line_of(e), ip, "empty list item");
			continue;
		}
		if (e) {
			text = scalar(ctx, e, &len);
			eline = line_of(e);
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
		cfg_error(ctx, line_of(val), path,
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
		return oom(ctx);
	*(char **)(base + it->off) = arr;
	*(size_t *)(base + it->count_off) = n;

	for (size_t i = 0; i < n && !ctx->oom; i++) {
		const struct as_yaml_node *e = seq_get(ctx, val, i);
		pathf(ip, "%s[%zu]", path, i);
		if (!is_type(e, AS_YAML_MAPPING)) {
			cfg_error(ctx, line_of(e), ip, "expected a map, got %s",
				  is_null(ctx, e) ? "nothing" : kind(e));
			continue;
		}
		if (!enter(ctx, e, ip))
			continue;
		load_section(ctx, sub, arr + i * sub->size, e, ip, line_of(e));
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
			cfg_error(ctx, line_of(val), path,
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
		load_list(ctx, it, base, val, path, line_of(val));
		return;
	default:
		break;
	}
	if (!is_type(val, AS_YAML_SCALAR)) {
		cfg_error(ctx, line_of(val), path, "expected %s, got %s",
			  type_noun(it->type), kind(val));
		return;
	}
	text = scalar(ctx, val, &len);
	if (parse_scalar(ctx, it, it->type, text, len, line_of(val), path, &v))
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
		oom(ctx);
		goto cleanup;
	}
	if (map) {
		for (size_t j = 0, n = as_yaml_len(map); j < n; j++) {
			const struct as_yaml_node *k = as_yaml_key(ctx->doc, map, j);
			const char *name;
			size_t i, len;
			if (!is_type(k, AS_YAML_SCALAR)) {
				cfg_error(ctx, line_of(k), *path ? path : "(document)",
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
				cfg_error(ctx, line_of(k), kp,
					  "duplicate key (first at line %zu)",
					  line_of(keys[i]));
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
				   line_of(keys[i]));
		} else if (it->flags & CFG_REQUIRED) {
			if (found[i])
				cfg_error(ctx, line_of(found[i]), kp,
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

/* ---- validators and finish hooks ------------------------------------------- */

/* Node names travel in gossip and metrics labels: keep them tame. */
static const char *check_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "longer than 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i]) && s[i] != '.')
			return "invalid character (use letters, digits, "
			       "'-', '_' and '.')";
	return NULL;
}

static const char *check_socket_path(const char *s)
{
	if (!*s)
		return "must not be empty";
	if (strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return "longer than a UNIX socket path may be (107 bytes)";
	return NULL;
}

static void finish_node(struct cfg_ctx *ctx, void *base,
			const struct cfg_where *w)
{
	cfg_node_t *node = base;
	char host[256], q[80];
	const char *why;

	if (node->name || has_key(ctx, w->map, "name"))
		return;
	if (gethostname(host, sizeof(host)) != 0) {
		cfg_error(ctx, w->line, "node.name",
			  "cannot read the host name (%s); set node.name",
			  as_strerror(-errno));
		return;
	}
	host[sizeof(host) - 1] = 0;
	if ((why = check_node_name(host))) {
		cfg_error(ctx, w->line, "node.name",
			  "the host name %s is not a valid node name (%s); "
			  "set node.name", show(host, q), why);
		return;
	}
	if (!(node->name = strdup(host)))
		oom(ctx);
}

static void finish_dns(struct cfg_ctx *ctx, void *base,
		       const struct cfg_where *w)
{
	cfg_dns_t *dns = base;

	if (dns->n_nameservers || !dns->zone ||
	    has_key(ctx, w->map, "nameservers"))
		return;
	dns->nameservers = calloc(1, sizeof(char *));
	if (!dns->nameservers)
		return oom(ctx);
	dns->n_nameservers = 1;
	size_t n = strlen(dns->zone) + 4;
	if (!(dns->nameservers[0] = malloc(n)))
		return oom(ctx);
	/* The zone is normalised, so "ns." + zone is too (root: "ns."). */
	snprintf(dns->nameservers[0], n, "ns.%s",
		 strcmp(dns->zone, ".") ? dns->zone : "");
}

static void finish_load(struct cfg_ctx *ctx, void *base,
			const struct cfg_where *w)
{
	cfg_load_t *load = base;

	/* Only when both values are real, not left at 0 by an error. */
	if (w->clean && load->low_watermark >= load->high_watermark)
		cfg_error(ctx, key_line(ctx, w, "high_watermark"),
			  "load.high_watermark",
			  "must be greater than load.low_watermark "
			  "(%g >= %g)", load->low_watermark,
			  load->high_watermark);
}

/* ---- anycast, bird, drain (agent/anycast.c) ---- */

static const char *check_ifname(const char *s)
{
	if (!*s)
		return "must not be empty";
	if (strlen(s) >= 16)
		return "longer than an interface name may be (15 bytes)";
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return "invalid character (use letters, digits, "
			       "'-', '_' and '.')";
	return NULL;
}

static const char *check_bird_socket(const char *s)
{
	return *s ? check_socket_path(s) : NULL;	/* "" = no BIRD */
}

/* A BIRD symbol, as BIRD's commands take it; "" where allowed. */
static const char *check_bird_name_or_empty(const char *s)
{
	if (!*s)
		return NULL;
	if (strlen(s) > 63)
		return "longer than 63 characters";
	if (!isalpha((unsigned char)*s) && *s != '_')
		return "must start with a letter or '_' (a BIRD protocol name)";
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return "invalid character (a BIRD protocol name: "
			       "letters, digits, '_')";
	return NULL;
}

static const char *check_bird_name(const char *s)
{
	return *s ? check_bird_name_or_empty(s) : "must not be empty";
}

static void finish_anycast(struct cfg_ctx *ctx, void *base,
			   const struct cfg_where *w)
{
	cfg_anycast_t *ac = base;
	size_t line = key_line(ctx, w, "addresses");
	char q[80];

	if (ac->n_addresses > 16)
		cfg_error(ctx, line, "anycast.addresses",
			  "at most 16 addresses, got %zu", ac->n_addresses);
	for (size_t i = 0; ac->addrs && i < ac->n_addresses; i++) {
		const struct sockaddr_in6 *a6 = (const void *)&ac->addrs[i];
		const struct in6_addr *a = &a6->sin6_addr;
		if (!ac->addresses[i] || a6->sin6_family == AF_UNSPEC)
			continue;	/* did not parse: already reported */
		if (a6->sin6_family != AF_INET6) {
			cfg_error(ctx, line, "anycast.addresses",
				  "%s: anycast addresses must be IPv6",
				  show(ac->addresses[i], q));
			continue;
		}
		if (IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
		    IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
		    IN6_IS_ADDR_V4MAPPED(a))
			cfg_error(ctx, line, "anycast.addresses",
				  "%s is not a unicast address a node can "
				  "announce", show(ac->addresses[i], q));
		for (size_t j = 0; j < i; j++)
			if (memcmp(&((const struct sockaddr_in6 *)&ac->addrs[j])->sin6_addr,
				   a, sizeof(*a)) == 0)
				cfg_error(ctx, line, "anycast.addresses",
					  "duplicate address %s",
					  show(ac->addresses[i], q));
	}
}

static void finish_endpoint(struct cfg_ctx *ctx, void *base,
			    const struct cfg_where *w)
{
	struct agent_endpoint *ep = base;

	if (ep->node || has_key(ctx, w->map, "node") || !ctx->root->node.name)
		return;
	if (!(ep->node = strdup(ctx->root->node.name)))
		oom(ctx);
}

/*
 * Duplicate detection by sorting (n log n: catalogs can be large). The
 * comparator sees entries holding a key and the index of the entry; each
 * later duplicate is reported against the first one, in input order.
 */
struct dup_ent {
	const void *key;
	size_t idx;
};

static int cmp_name(const void *a, const void *b)
{
	const struct dup_ent *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_endpoint(const void *a, const void *b)
{
	const struct dup_ent *x = a, *y = b;
	const struct agent_endpoint *p = x->key, *q = y->key;
	int c = (p->family > q->family) - (p->family < q->family);
	if (!c)
		c = memcmp(p->addr, q->addr, 16);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Fills first[i] with the index of i's first duplicate, or SIZE_MAX. */
static void find_dups(struct dup_ent *e, size_t n,
		      int (*cmp)(const void *, const void *), size_t *first)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++)
		first[i] = SIZE_MAX;
	qsort(e, n, sizeof(*e), cmp);
	for (size_t i = 1; i < n; i++) {
		struct dup_ent a = e[run], b = e[i];
		a.idx = b.idx = 0;	/* compare keys only */
		if (cmp(&a, &b) == 0)
			first[e[i].idx] = e[run].idx;
		else
			run = i;
	}
}

static void finish_service(struct cfg_ctx *ctx, void *base,
			   const struct cfg_where *w)
{
	struct agent_service *svc = base;
	size_t n = 0, *first = NULL, *orig = NULL;
	struct dup_ent *e = NULL;
	char q[80], kp[CFG_PATH_MAX];

	if (svc->n_endpoints < 2)
		return;
	e = calloc(svc->n_endpoints, sizeof(*e));
	first = calloc(svc->n_endpoints, sizeof(*first));
	orig = calloc(svc->n_endpoints, sizeof(*orig));
	if (!e || !first || !orig) {
		oom(ctx);
		goto cleanup;
	}
	/* Only endpoints whose address parsed take part. */
	for (size_t i = 0; i < svc->n_endpoints; i++) {
		if (svc->endpoints[i].family) {
			e[n].key = &svc->endpoints[i];
			e[n].idx = n;
			orig[n++] = i;
		}
	}
	find_dups(e, n, cmp_endpoint, first);
	const struct as_yaml_node *eps = map_get(ctx, w->map, "endpoints");
	for (size_t i = 0; i < n; i++) {
		if (first[i] == SIZE_MAX)
			continue;
		size_t d = orig[i], f = orig[first[i]];
		const struct as_yaml_node *a =
			map_get(ctx, seq_get(ctx, eps, d), "address");
		const struct as_yaml_node *fa =
			map_get(ctx, seq_get(ctx, eps, f), "address");
		pathf(kp, "%s.endpoints[%zu].address", w->path, d);
		cfg_error(ctx, a ? line_of(a) : w->line, kp,
			  "duplicate endpoint address %s (first at line %zu)",
			  show(svc->endpoints[d].address, q), line_of(fa));
	}
cleanup:
	free(e);
	free(first);
	free(orig);
}

static void finish_root(struct cfg_ctx *ctx, void *base,
			const struct cfg_where *w)
{
	struct agent_config *cfg = base;
	size_t n = 0, *first = NULL, *orig = NULL;
	struct dup_ent *e = NULL;
	char q[80], kp[CFG_PATH_MAX];

	if (cfg->n_services < 2)
		return;
	e = calloc(cfg->n_services, sizeof(*e));
	first = calloc(cfg->n_services, sizeof(*first));
	orig = calloc(cfg->n_services, sizeof(*orig));
	if (!e || !first || !orig) {
		oom(ctx);
		goto cleanup;
	}
	for (size_t i = 0; i < cfg->n_services; i++) {
		if (cfg->services[i].name) {
			e[n].key = cfg->services[i].name;
			e[n].idx = n;
			orig[n++] = i;
		}
	}
	find_dups(e, n, cmp_name, first);
	const struct as_yaml_node *svcs = map_get(ctx, w->map, "services");
	for (size_t i = 0; i < n; i++) {
		if (first[i] == SIZE_MAX)
			continue;
		size_t d = orig[i], f = orig[first[i]];
		const struct as_yaml_node *nm =
			map_get(ctx, seq_get(ctx, svcs, d), "name");
		const struct as_yaml_node *fn =
			map_get(ctx, seq_get(ctx, svcs, f), "name");
		pathf(kp, "services[%zu].name", d);
		cfg_error(ctx, nm ? line_of(nm) : w->line, kp,
			  "duplicate service name %s (first at line %zu)",
			  show(cfg->services[d].name, q), line_of(fn));
	}
cleanup:
	free(e);
	free(first);
	free(orig);
}

/* ---- the schema ------------------------------------------------------------ */

static const char *const protocol_values[] = { "tcp", "udp", NULL };
static const char *const signal_values[] = { "cpu", "psi", "loadavg", NULL };
static const char *const udp_io_values[] = { "auto", "io_uring", "recvmmsg",
					     NULL };

static const struct cfg_item endpoint_items[] = {
	{ .name = "address", .type = CFG_IPADDR,
	  AT(struct agent_endpoint, address),
	  .flags = CFG_REQUIRED | CFG_PARSED,
	  AUX(struct agent_endpoint, family), AUX2(struct agent_endpoint, addr),
	  .desc = "IPv6 or IPv4 address of the endpoint (no port)" },
	{ .name = "weight", .type = CFG_UINT,
	  AT(struct agent_endpoint, weight), .def = "100", .max = 65535,
	  .desc = "relative share of answers among the service's endpoints" },
	{ .name = "node", .type = CFG_STR, AT(struct agent_endpoint, node),
	  .def_doc = "node.name", .check = check_node_name,
	  .desc = "node whose load steers this endpoint" },
};

static const struct cfg_section endpoint_section =
	SECTION_OF(endpoint_items, struct agent_endpoint, finish_endpoint);

static const struct cfg_item service_items[] = {
	{ .name = "name", .type = CFG_LABEL, AT(struct agent_service, name),
	  .flags = CFG_REQUIRED,
	  .desc = "service name, one DNS label under dns.zone; unique" },
	{ .name = "port", .type = CFG_UINT, AT(struct agent_service, port),
	  .flags = CFG_REQUIRED, .min = 1, .max = 65535,
	  .desc = "port the endpoints serve on" },
	{ .name = "protocol", .type = CFG_ENUM,
	  AT(struct agent_service, protocol), .def = "tcp",
	  .values = protocol_values, .desc = "transport of the service" },
	{ .name = "ttl", .type = CFG_UINT, AT(struct agent_service, ttl),
	  .def = "0", .max = 86400,
	  .desc = "TTL of this service's answers in seconds; 0 = dns.ttl" },
	{ .name = "max_answers", .type = CFG_UINT,
	  AT(struct agent_service, max_answers), .def = "0", .max = 64,
	  .desc = "addresses per answer; 0 = dns.max_answers" },
	{ .name = "endpoints", .type = CFG_SECTIONS,
	  AT(struct agent_service, endpoints),
	  COUNT(struct agent_service, n_endpoints), .sub = &endpoint_section,
	  .desc = "endpoints of the service (may be empty)" },
};

static const struct cfg_section service_section =
	SECTION_OF(service_items, struct agent_service, finish_service);

static const struct cfg_item node_items[] = {
	{ .name = "name", .type = CFG_STR, AT(cfg_node_t, name),
	  .def_doc = "host name", .check = check_node_name,
	  .desc = "this node's name in gossip, answers and metrics "
		  "(letters, digits, '-', '_', '.'; at most 63)" },
};

static const struct cfg_item dns_items[] = {
	{ .name = "listen", .type = CFG_LIST, .elem = CFG_SOCKADDR,
	  AT(cfg_dns_t, listen), COUNT(cfg_dns_t, n_listen),
	  AUX(cfg_dns_t, listen_addrs), .flags = CFG_NONEMPTY | CFG_PARSED,
	  .port = 53, .def = "[::]:53",
	  .desc = "addresses the DNS server listens on, UDP and TCP "
		  "(port 53 if omitted)" },
	{ .name = "zone", .type = CFG_DNAME, AT(cfg_dns_t, zone),
	  .flags = CFG_REQUIRED, .desc = "the zone this node is authoritative for" },
	{ .name = "ttl", .type = CFG_UINT, AT(cfg_dns_t, ttl), .def = "5",
	  .max = 86400, .desc = "TTL of answers in seconds" },
	{ .name = "max_answers", .type = CFG_UINT, AT(cfg_dns_t, max_answers),
	  .def = "2", .min = 1, .max = 64,
	  .desc = "addresses per answer (a weighted sample)" },
	{ .name = "workers", .type = CFG_UINT, AT(cfg_dns_t, workers),
	  .def = "0", .max = 256,
	  .desc = "DNS worker threads; 0 = one per core" },
	{ .name = "nameservers", .type = CFG_LIST, .elem = CFG_DNAME,
	  AT(cfg_dns_t, nameservers), COUNT(cfg_dns_t, n_nameservers),
	  .flags = CFG_NONEMPTY, .def_doc = "[\"ns.\" + dns.zone]",
	  .desc = "NS records of the zone" },
	{ .name = "ns_addresses", .type = CFG_LIST, .elem = CFG_IPADDR,
	  AT(cfg_dns_t, ns_addresses), COUNT(cfg_dns_t, n_ns_addresses),
	  AUX(cfg_dns_t, ns_addrs), .flags = CFG_PARSED,
	  .desc = "AAAA/A answers for nameservers inside the zone" },
	{ .name = "negative_ttl", .type = CFG_UINT, AT(cfg_dns_t, negative_ttl),
	  .def = "5", .max = 86400,
	  .desc = "SOA minimum: how long resolvers cache NXDOMAIN/NODATA" },
	{ .name = "tcp_idle_timeout", .type = CFG_DURATION,
	  AT(cfg_dns_t, tcp_idle_timeout_ms), .def = "10s",
	  .min = 100, .max = 3600000,
	  .desc = "close idle DNS-over-TCP connections after this" },
	{ .name = "tcp_message_timeout", .type = CFG_DURATION,
	  AT(cfg_dns_t, tcp_message_timeout_ms), .def = "500ms",
	  .min = 50, .max = 60000,
	  .desc = "close a DNS-over-TCP connection whose message is not "
		  "complete this long after its first byte (Knot: "
		  "tcp-io-timeout)" },
	{ .name = "tcp_max_clients", .type = CFG_UINT,
	  AT(cfg_dns_t, tcp_max_clients), .def = "256", .min = 1,
	  .max = 65535,
	  .desc = "DNS-over-TCP connections per worker, then a new one "
		  "closes the oldest; at most half the open-file limit" },
	{ .name = "tcp_max_clients_per_prefix", .type = CFG_UINT,
	  AT(cfg_dns_t, tcp_max_clients_per_prefix), .def = "32", .min = 1,
	  .max = 65535,
	  .desc = "DNS-over-TCP connections per worker from one client "
		  "prefix, then a new one closes the prefix's oldest" },
	{ .name = "tcp_prefix_length_v6", .type = CFG_UINT,
	  AT(cfg_dns_t, tcp_prefix_length_v6), .def = "64", .min = 1,
	  .max = 128, .desc = "IPv6 client prefix length for "
			       "dns.tcp_max_clients_per_prefix" },
	{ .name = "tcp_prefix_length_v4", .type = CFG_UINT,
	  AT(cfg_dns_t, tcp_prefix_length_v4), .def = "32", .min = 1,
	  .max = 32, .desc = "IPv4 client prefix length for "
			      "dns.tcp_max_clients_per_prefix" },
	{ .name = "udp_io", .type = CFG_ENUM, AT(cfg_dns_t, udp_io),
	  .def = "auto", .values = udp_io_values,
	  .desc = "UDP path: io_uring (one system call per wakeup; Linux "
		  "6.1+), recvmmsg (epoll), or auto: io_uring where the "
		  "kernel allows it" },
};

static const struct cfg_item control_items[] = {
	{ .name = "socket", .type = CFG_STR, AT(cfg_control_t, socket),
	  .def = "/run/anysteer/ctl.sock", .check = check_socket_path,
	  .desc = "UNIX socket for anysteerctl (mode 0600)" },
	{ .name = "test_commands", .type = CFG_BOOL,
	  AT(cfg_control_t, test_commands), .def = "false",
	  .desc = "enable test-only commands (`test pause-dns`); never in "
		  "production" },
};

static const struct cfg_item metrics_items[] = {
	{ .name = "listen", .type = CFG_SOCKADDR, AT(cfg_metrics_t, listen),
	  AUX(cfg_metrics_t, listen_addr),
	  .flags = CFG_EMPTY_OK | CFG_PARSED, .port = 9153,
	  .def = "[::1]:9153",
	  .desc = "HTTP address of Prometheus metrics; \"\" disables" },
};

static const struct cfg_item load_items[] = {
	{ .name = "low_watermark", .type = CFG_DOUBLE,
	  AT(cfg_load_t, low_watermark), .def = "0.6", .dmin = 0, .dmax = 1,
	  .desc = "load signal below which the node takes its full share" },
	{ .name = "high_watermark", .type = CFG_DOUBLE,
	  AT(cfg_load_t, high_watermark), .def = "0.95", .dmin = 0, .dmax = 1,
	  .desc = "load signal at which the node takes no new clients; "
		  "> low_watermark" },
	{ .name = "interval", .type = CFG_DURATION, AT(cfg_load_t, interval_ms),
	  .def = "1s", .min = 100, .max = 3600000,
	  .desc = "load sampling period" },
	{ .name = "signal", .type = CFG_ENUM, AT(cfg_load_t, signal),
	  .def = "cpu", .values = signal_values,
	  .desc = "cpu: CPU utilisation; psi: CPU pressure (some avg10); "
		  "loadavg: 1-minute load average" },
};

static const struct cfg_item anycast_items[] = {
	{ .name = "addresses", .type = CFG_LIST, .elem = CFG_IPADDR,
	  AT(cfg_anycast_t, addresses), COUNT(cfg_anycast_t, n_addresses),
	  AUX(cfg_anycast_t, addrs), .flags = CFG_PARSED,
	  .desc = "IPv6 anycast addresses this node announces through BIRD "
		  "while healthy (also DNS listeners); none = no anycast" },
	{ .name = "interface", .type = CFG_STR, AT(cfg_anycast_t, interface),
	  .def = "anysteer0", .check = check_ifname,
	  .desc = "the agent-owned TUN device carrying the addresses "
		  "(BIRD's direct protocol must name it)" },
	{ .name = "port", .type = CFG_UINT, AT(cfg_anycast_t, port),
	  .def = "53", .min = 1, .max = 65535,
	  .desc = "DNS port served on the anycast addresses" },
	{ .name = "check_interval", .type = CFG_DURATION,
	  AT(cfg_anycast_t, check_interval_ms), .def = "250ms",
	  .min = 10, .max = 60000,
	  .desc = "DNS self-check period (also its timeout)" },
	{ .name = "rise", .type = CFG_UINT, AT(cfg_anycast_t, rise),
	  .def = "2", .min = 1, .max = 100,
	  .desc = "passing self-checks in a row before announcing" },
	{ .name = "fall", .type = CFG_UINT, AT(cfg_anycast_t, fall),
	  .def = "2", .min = 1, .max = 100,
	  .desc = "failing self-checks in a row before withdrawing" },
	{ .name = "wait_for_gossip", .type = CFG_BOOL,
	  AT(cfg_anycast_t, wait_for_gossip), .def = "false",
	  .desc = "announce only once gossip has joined a cluster "
		  "(false: single node)" },
};
static const struct cfg_item bird_items[] = {
	{ .name = "socket", .type = CFG_STR, AT(cfg_bird_t, socket),
	  .def = "/run/bird/bird.ctl", .check = check_bird_socket,
	  .desc = "BIRD's control socket (state is read, never required); "
		  "\"\" = do not talk to BIRD" },
	{ .name = "protocol", .type = CFG_STR, AT(cfg_bird_t, protocol),
	  .def = "anysteer", .check = check_bird_name,
	  .desc = "BIRD direct protocol that turns the TUN addresses into "
		  "routes" },
	{ .name = "export_protocol", .type = CFG_STR,
	  AT(cfg_bird_t, export_protocol), .def = "upstream",
	  .check = check_bird_name_or_empty,
	  .desc = "BIRD BGP protocol whose export of the addresses is "
		  "reported; \"\" = do not check" },
	{ .name = "poll_interval", .type = CFG_DURATION,
	  AT(cfg_bird_t, poll_interval_ms), .def = "1s",
	  .min = 100, .max = 3600000,
	  .desc = "how often BIRD's protocol and BFD states are read" },
	{ .name = "fast_withdraw", .type = CFG_BOOL,
	  AT(cfg_bird_t, fast_withdraw), .def = "true",
	  .desc = "also disable bird.protocol while withdrawn (sub-ms, in "
		  "addition to the TUN carrier)" },
};
static const struct cfg_item drain_items[] = {
	{ .name = "linger", .type = CFG_DURATION, AT(cfg_drain_t, linger_ms),
	  .def = "5s", .max = 3600000,
	  .desc = "after SIGTERM with anycast: answer this long with the "
		  "route withdrawn, then exit" },
};

static const struct cfg_section anycast_section =
	SECTION_OF(anycast_items, cfg_anycast_t, finish_anycast);
static const struct cfg_section bird_section =
	SECTION_OF(bird_items, cfg_bird_t, NULL);
static const struct cfg_section drain_section =
	SECTION_OF(drain_items, cfg_drain_t, NULL);

/* ---- gossip, health (agent/cluster.c, agent/probe.c) ---- */

/* The cluster label travels in every packet and is the AEAD's additional
 * data: printable and short, the same rule as node names. */
static const char *check_cluster_label(const char *s)
{
	return check_node_name(s);
}

static const char *check_path_or_empty(const char *s)
{
	if (*s && *s != '/')
		return "must be an absolute path (or \"\" with plaintext)";
	if (strlen(s) >= PATH_MAX)
		return "path too long";
	return NULL;
}

static bool unspecified_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
			&((const struct sockaddr_in6 *)ss)->sin6_addr);
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == 0;
	return true;
}

/* Without the section anysteerd runs as a single node, exactly as
 * before gossip existed. */
static void finish_gossip(struct cfg_ctx *ctx, void *base,
			  const struct cfg_where *w)
{
	cfg_gossip_t *g = base;

	g->enabled = w->map != NULL;
	if (!g->enabled || !w->clean)
		return;
	if (!g->plaintext && (!g->keyring || !*g->keyring))
		cfg_error(ctx, key_line(ctx, w, "keyring"), "gossip.keyring",
			  "required unless gossip.plaintext is true "
			  "(create one with `anysteerd --generate-key`)");
	if (g->advertise && *g->advertise &&
	    unspecified_addr(&g->advertise_addr))
		cfg_error(ctx, key_line(ctx, w, "advertise"),
			  "gossip.advertise",
			  "must be an address other nodes can reach, not a "
			  "wildcard");
	if (g->probe_timeout_ms && g->probe_interval_ms &&
	    g->probe_timeout_ms >= g->probe_interval_ms)
		cfg_error(ctx, key_line(ctx, w, "probe_timeout"),
			  "gossip.probe_timeout",
			  "must be shorter than gossip.probe_interval");
}

static void finish_health(struct cfg_ctx *ctx, void *base,
			  const struct cfg_where *w)
{
	cfg_health_t *h = base;

	if (w->clean && h->interval_ms && h->timeout_ms > h->interval_ms)
		cfg_error(ctx, key_line(ctx, w, "timeout"), "health.timeout",
			  "must not be longer than health.interval");
}

static const struct cfg_item gossip_items[] = {
	{ .name = "bind", .type = CFG_SOCKADDR, AT(cfg_gossip_t, bind),
	  AUX(cfg_gossip_t, bind_addr), .flags = CFG_PARSED, .port = 7946,
	  .def = "[::]:7946",
	  .desc = "UDP and TCP address gossip listens on (port 7946 if "
		  "omitted)" },
	{ .name = "advertise", .type = CFG_SOCKADDR,
	  AT(cfg_gossip_t, advertise), AUX(cfg_gossip_t, advertise_addr),
	  .flags = CFG_PARSED | CFG_EMPTY_OK, .port = 7946,
	  .def_doc = "gossip.bind",
	  .desc = "address other nodes reach this one at; with a wildcard "
		  "bind, the source address toward the seeds" },
	{ .name = "seeds", .type = CFG_LIST, .elem = CFG_SOCKADDR,
	  AT(cfg_gossip_t, seeds), COUNT(cfg_gossip_t, n_seeds),
	  AUX(cfg_gossip_t, seed_addrs), .flags = CFG_PARSED, .port = 7946,
	  .desc = "gossip addresses of nodes to join through (this node's "
		  "own address is skipped); none = first node" },
	{ .name = "cluster", .type = CFG_STR, AT(cfg_gossip_t, cluster),
	  .def = "anysteer", .check = check_cluster_label,
	  .desc = "cluster label: packets of other clusters are dropped" },
	{ .name = "keyring", .type = CFG_STR, AT(cfg_gossip_t, keyring),
	  .def = "/var/lib/anysteer/keyring", .check = check_path_or_empty,
	  .desc = "keyring file (base64 keys, primary first, mode 0600); "
		  "`anysteerd --generate-key` makes a key" },
	{ .name = "plaintext", .type = CFG_BOOL, AT(cfg_gossip_t, plaintext),
	  .def = "false",
	  .desc = "gossip without encryption (only when explicitly true)" },
	{ .name = "probe_interval", .type = CFG_DURATION,
	  AT(cfg_gossip_t, probe_interval_ms), .def = "0", .max = 60000,
	  .desc = "SWIM probe period; 0 = the protocol default" },
	{ .name = "probe_timeout", .type = CFG_DURATION,
	  AT(cfg_gossip_t, probe_timeout_ms), .def = "0", .max = 60000,
	  .desc = "ack timeout of a probe; 0 = the protocol default" },
	{ .name = "gossip_interval", .type = CFG_DURATION,
	  AT(cfg_gossip_t, gossip_interval_ms), .def = "0", .max = 60000,
	  .desc = "period of the fast gossip round; 0 = the protocol "
		  "default" },
	{ .name = "pushpull_interval", .type = CFG_DURATION,
	  AT(cfg_gossip_t, pushpull_interval_ms), .def = "0",
	  .max = 3600000,
	  .desc = "full state exchange period (grows with N); 0 = the "
		  "protocol default" },
	{ .name = "suspicion_mult", .type = CFG_UINT,
	  AT(cfg_gossip_t, suspicion_mult), .def = "0", .max = 100,
	  .desc = "suspicion timeout in probe intervals x log(N); 0 = the "
		  "protocol default" },
	{ .name = "load_step", .type = CFG_DOUBLE,
	  AT(cfg_gossip_t, load_step), .def = "0", .dmin = 0, .dmax = 1,
	  .desc = "load factor change gossiped at once (smaller ones wait "
		  "for the refresh); 0 = the protocol default" },
	{ .name = "leave_timeout", .type = CFG_DURATION,
	  AT(cfg_gossip_t, leave_timeout_ms), .def = "500ms", .max = 10000,
	  .desc = "on shutdown, keep gossiping this long after announcing "
		  "the leave" },
	{ .name = "rebuild_delay", .type = CFG_DURATION,
	  AT(cfg_gossip_t, rebuild_delay_ms), .def = "20ms", .max = 1000,
	  .desc = "coalesce cluster changes this long before rebuilding "
		  "the answer view" },
	{ .name = "tcp_max_conns", .type = CFG_UINT,
	  AT(cfg_gossip_t, tcp_max_conns), .def = "64", .min = 1, .max = 4096,
	  .desc = "inbound push-pull (TCP) connections open at once; more "
		  "are reset at accept and counted" },
	{ .name = "tcp_max_per_source", .type = CFG_UINT,
	  AT(cfg_gossip_t, tcp_max_per_source), .def = "8", .min = 1,
	  .max = 4096,
	  .desc = "of those, from one source (see tcp_source_prefix)" },
	{ .name = "tcp_source_prefix", .type = CFG_UINT,
	  AT(cfg_gossip_t, tcp_source_prefix), .def = "128", .max = 128,
	  .desc = "IPv6 prefix length that counts as one source for "
		  "tcp_max_per_source (an IPv4 source is its address)" },
};
static const struct cfg_item health_items[] = {
	{ .name = "interval", .type = CFG_DURATION,
	  AT(cfg_health_t, interval_ms), .def = "2s", .max = 3600000,
	  .desc = "TCP connect probe period of this node's endpoints (with "
		  "gossip); 0 = no probes, always healthy" },
	{ .name = "timeout", .type = CFG_DURATION,
	  AT(cfg_health_t, timeout_ms), .def = "1s", .min = 1,
	  .max = 3600000, .desc = "connect timeout of one probe" },
	{ .name = "rise", .type = CFG_UINT, AT(cfg_health_t, rise),
	  .def = "2", .min = 1, .max = 100,
	  .desc = "passing probes in a row before an endpoint is healthy" },
	{ .name = "fall", .type = CFG_UINT, AT(cfg_health_t, fall),
	  .def = "2", .min = 1, .max = 100,
	  .desc = "failing probes in a row before an endpoint is unhealthy" },
};
/* ---- kubernetes (agent/k8s_source.c) ---- */

/* The DaemonSet passes spec.nodeName as NODE_NAME: that is what the
 * EndpointSlices carry, and it need not equal the host name. */
static void finish_k8s(struct cfg_ctx *ctx, void *base,
		       const struct cfg_where *w)
{
	cfg_k8s_t *k = base;
	const char *env = getenv("NODE_NAME");
	const char *dflt = env && *env ? env : ctx->root->node.name;

	if (k->node_name || has_key(ctx, w->map, "node_name") || !dflt)
		return;
	if (!(k->node_name = strdup(dflt)))
		oom(ctx);
}

static const char *check_k8s_node_name(const char *s)
{
	/* A Kubernetes node name is a DNS subdomain (RFC 1123). */
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return "must be 1 to 253 characters";
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		      s[i] == '-' || s[i] == '.'))
			return "invalid character (a Kubernetes node name is "
			       "lower-case letters, digits, '-' and '.')";
	return NULL;
}

static const char *check_path_or_empty_k8s(const char *s)
{
	if (*s && *s != '/')
		return "must be an absolute path (or \"\" for in-cluster)";
	if (strlen(s) >= PATH_MAX)
		return "path too long";
	return NULL;
}

static const struct cfg_item k8s_items[] = {
	{ .name = "enabled", .type = CFG_BOOL, AT(cfg_k8s_t, enabled),
	  .def = "false",
	  .desc = "publish this node's ready endpoints of Services annotated "
		  "anysteer.io/hostname (list+watch of the API server)" },
	{ .name = "kubeconfig", .type = CFG_STR, AT(cfg_k8s_t, kubeconfig),
	  .def = "", .check = check_path_or_empty_k8s,
	  .desc = "kubeconfig file for use outside the cluster; \"\" = the "
		  "in-cluster service account" },
	{ .name = "node_name", .type = CFG_STR, AT(cfg_k8s_t, node_name),
	  .def_doc = "$NODE_NAME, else node.name", .check = check_k8s_node_name,
	  .desc = "this node's name in the EndpointSlices (spec.nodeName)" },
};

static const struct cfg_section k8s_section =
	SECTION_OF(k8s_items, cfg_k8s_t, finish_k8s);

static const struct cfg_section gossip_section =
	SECTION_OF(gossip_items, cfg_gossip_t, finish_gossip);
static const struct cfg_section health_section =
	SECTION_OF(health_items, cfg_health_t, finish_health);

static const struct cfg_section node_section =
	SECTION_OF(node_items, cfg_node_t, finish_node);
static const struct cfg_section dns_section =
	SECTION_OF(dns_items, cfg_dns_t, finish_dns);
static const struct cfg_section control_section =
	SECTION_OF(control_items, cfg_control_t, NULL);
static const struct cfg_section metrics_section =
	SECTION_OF(metrics_items, cfg_metrics_t, NULL);
static const struct cfg_section load_section_ =
	SECTION_OF(load_items, cfg_load_t, finish_load);

/* Top level; `node` comes first because later defaults read node.name. */
static const struct cfg_item root_items[] = {
	{ .name = "node", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, node), .sub = &node_section,
	  .desc = "this node" },
	{ .name = "dns", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, dns), .sub = &dns_section,
	  .desc = "the authoritative DNS server" },
	{ .name = "control", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, control),
	  .sub = &control_section, .desc = "the control socket" },
	{ .name = "metrics", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, metrics),
	  .sub = &metrics_section, .desc = "the metrics endpoint" },
	{ .name = "load", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, load), .sub = &load_section_,
	  .desc = "the load signal and its watermarks" },
	{ .name = "anycast", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, anycast),
	  .sub = &anycast_section,
	  .desc = "the anycast address, its TUN device and health gate" },
	{ .name = "bird", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, bird), .sub = &bird_section,
	  .desc = "the local BIRD that announces the anycast address" },
	{ .name = "drain", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, drain), .sub = &drain_section,
	  .desc = "graceful shutdown" },
	{ .name = "gossip", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, gossip), .sub = &gossip_section,
	  .desc = "cluster membership (SWIM); absent = single node" },
	{ .name = "health", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, health), .sub = &health_section,
	  .desc = "health probes of this node's endpoints" },
	{ .name = "kubernetes", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, kubernetes), .sub = &k8s_section,
	  .desc = "endpoints from the Kubernetes API server" },
	{ .name = "services", .type = CFG_SECTIONS,
	  AT(struct agent_config, services),
	  COUNT(struct agent_config, n_services), .sub = &service_section,
	  .desc = "the static service catalog" },
};

static const struct cfg_section root_section =
	SECTION_OF(root_items, struct agent_config, finish_root);

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

void agent_config_free(struct agent_config *cfg)
{
	if (!cfg)
		return;
	free_section(&root_section, (char *)cfg);
	free(cfg->path);
	free(cfg);
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
		oom(ctx);
	} else if (p->context) {
		cfg_error(ctx, line, "(yaml)", "%s (%s at line %zu)",
			  p->problem ? p->problem : "syntax error", p->context,
			  p->context_mark.line + 1);
	} else {
		cfg_error(ctx, line, "(yaml)", "%s",
			  p->problem ? p->problem : "syntax error");
	}
}

int agent_config_parse(const char *path, const char *text, size_t len,
		       struct agent_config **out, char *errbuf, size_t errlen)
{
	struct cfg_ctx ctx = { .file = path ? path : "(config)",
			       .buf = errbuf, .len = errlen };
	yaml_parser_t parser;
	struct as_yaml *doc = NULL, *extra = NULL;
	const struct as_yaml_node *root, *r2;
	struct agent_config *cfg = NULL;
	int ret = AS_ECONFIG;

	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!out || (!text && len))
		return AS_EINVAL;
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
		cfg_error(&ctx, line_of(root), "(document)",
			  "expected a map of sections at the top level, got %s",
			  kind(root));
		goto cleanup;
	}
	/* A second document would be silently ignored: refuse it. */
	if (as_yaml_load(&parser, &extra) != AS_OK) {
		syntax_error(&ctx, &parser, text, len);
	} else {
		if ((r2 = as_yaml_root(extra)))
			cfg_error(&ctx, line_of(r2), "(document)",
				  "more than one YAML document; anysteerd "
				  "reads one");
		as_yaml_free(extra);
	}

	ctx.seen = calloc(as_yaml_count(doc) + 1, 1);
	cfg = calloc(1, sizeof(*cfg));
	if (!ctx.seen || !cfg) {
		oom(&ctx);
		goto cleanup;
	}
	ctx.root = cfg;
	ctx.seen[as_yaml_index(doc, root)] = 1;
	load_section(&ctx, &root_section, (char *)cfg, root, "", line_of(root));
	if (ctx.oom || ctx.n_errors)
		goto cleanup;
	if (!(cfg->path = strdup(path ? path : ""))) {
		oom(&ctx);
		goto cleanup;
	}
	*out = cfg;
	cfg = NULL;
	ret = AS_OK;
cleanup:
	if (ctx.oom)
		ret = AS_ENOMEM;
	cfg_flush(&ctx);
	agent_config_free(cfg);
	free(ctx.seen);
	as_yaml_free(doc);
	yaml_parser_delete(&parser);
	return ret;
}

int agent_config_load(const char *path, struct agent_config **out,
		      char *errbuf, size_t errlen)
{
	struct cfg_ctx ctx = { .file = path, .buf = errbuf, .len = errlen };
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd = -1, ret;

	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!path || !out)
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
	/* st_size is 0 for pipes and /proc files: read until EOF anyway. */
	for (;;) {
		if (len == cap) {
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
		ssize_t r = read(fd, buf + len, cap - len);
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
	ret = agent_config_parse(path, buf, len, out, errbuf, errlen);
	free(buf);
	return ret;
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

void agent_config_print_schema(FILE *f)
{
	struct schema_print sp = { f, { 3, 4, 7, 11 } };
	char dash[4][200];

	schema_walk(&root_section, "", schema_measure, &sp);
	for (int i = 0; i < 4; i++) {
		int w = AS_MIN(sp.w[i], (int)sizeof(dash[i]) - 1);
		memset(dash[i], '-', (size_t)w);
		dash[i][w] = 0;
	}
	fprintf(f, "| %-*s | %-*s | %-*s | %-*s |\n", sp.w[0], "Key",
		sp.w[1], "Type", sp.w[2], "Default", sp.w[3], "Description");
	fprintf(f, "|-%s-|-%s-|-%s-|-%s-|\n", dash[0], dash[1], dash[2],
		dash[3]);
	schema_walk(&root_section, "", schema_row, &sp);
}
