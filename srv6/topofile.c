/*
 * srv6/topofile.c - the SR domain's topology file (YAML) into a
 * srv6_topo_t: the contract the testbed writes (routers, hosts, links;
 * docs/srv6.md, "The topology file").
 *
 * Pure apart from srv6_topo_load()'s read. Every problem is reported as
 * "file:line: key: message" (the configuration's own style), all of them,
 * not only the first; the topology is returned only when there were none.
 * Unknown keys are errors: a misspelt `latency` must not silently become
 * a link of latency 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/as.h"
#include "lib/yamltree.h"
#include "srv6/srv6.h"

#define TOPO_MAX_FILE (4u << 20)

struct pctx {
	const char *file;
	struct as_yaml *doc;
	srv6_topo_t *t;
	char *err;
	size_t errlen, used;
	unsigned n_errors;
};

__attribute__((format(printf, 4, 5)))
static void perr(struct pctx *c, size_t line, const char *key,
		 const char *fmt, ...)
{
	va_list ap;
	int n;

	c->n_errors++;
	if (!c->err || c->used + 1 >= c->errlen)
		return;
	n = snprintf(c->err + c->used, c->errlen - c->used, "%s:%zu: %s: ",
		     c->file, line, key);
	if (n < 0 || (size_t)n >= c->errlen - c->used) {
		c->used = c->errlen - 1;
		return;
	}
	c->used += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(c->err + c->used, c->errlen - c->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= c->errlen - c->used) {
		c->used = c->errlen - 1;
		return;
	}
	c->used += (size_t)n;
	if (c->used + 1 < c->errlen) {
		c->err[c->used++] = '\n';
		c->err[c->used] = 0;
	}
}

static const char *str(struct pctx *c, const struct as_yaml_node *n)
{
	size_t len;
	const char *s;

	if (!n || as_yaml_type(n) != AS_YAML_SCALAR)
		return NULL;
	s = as_yaml_str(c->doc, n, &len);
	return strlen(s) == len ? s : NULL;	/* no NUL inside */
}

static const struct as_yaml_node *get(struct pctx *c,
				      const struct as_yaml_node *map,
				      const char *key)
{
	for (size_t i = 0; map && i < as_yaml_len(map); i++) {
		const char *k = str(c, as_yaml_key(c->doc, map, i));
		if (k && !strcmp(k, key))
			return as_yaml_value(c->doc, map, i);
	}
	return NULL;
}

/* Refuses keys other than the allowed ones (and duplicates). */
static void check_keys(struct pctx *c, const struct as_yaml_node *map,
		       const char *path, const char *const *allowed)
{
	for (size_t i = 0; i < as_yaml_len(map); i++) {
		const struct as_yaml_node *kn = as_yaml_key(c->doc, map, i);
		const char *k = str(c, kn);
		size_t a;

		if (!k) {
			perr(c, as_yaml_line(kn), path, "a key must be a word");
			continue;
		}
		for (a = 0; allowed[a]; a++)
			if (!strcmp(k, allowed[a]))
				break;
		if (!allowed[a]) {
			perr(c, as_yaml_line(kn), path, "unknown key \"%.40s\"", k);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const char *k2 = str(c, as_yaml_key(c->doc, map, j));
			if (k2 && !strcmp(k, k2))
				perr(c, as_yaml_line(kn), path,
				     "duplicate key \"%s\"", k);
		}
	}
}

/* [a-z0-9-]{1,63}: names and tags. */
static bool good_word(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= SRV6_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-'))
			return false;
	return true;
}

const char *srv6_name_problem(const char *s)
{
	return good_word(s) ? NULL : "must be 1 to 63 of a-z, 0-9 and '-'";
}

static const char *word(struct pctx *c, const struct as_yaml_node *map,
			const char *key, const char *path, size_t line)
{
	const struct as_yaml_node *n = get(c, map, key);
	const char *s = str(c, n);

	if (!n) {
		perr(c, line, path, "%s is missing", key);
		return NULL;
	}
	if (!good_word(s)) {
		perr(c, as_yaml_line(n), path,
		     "%s must be 1 to 63 of a-z, 0-9 and '-'", key);
		return NULL;
	}
	return s;
}

static bool sid_of(struct pctx *c, const struct as_yaml_node *map,
		   const char *path, size_t line, struct in6_addr *out)
{
	const struct as_yaml_node *n = get(c, map, "sid");
	const char *s = str(c, n);

	if (!n) {
		perr(c, line, path, "sid is missing");
		return false;
	}
	if (!s || inet_pton(AF_INET6, s, out) != 1) {
		perr(c, as_yaml_line(n), path, "sid must be an IPv6 address");
		return false;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(out) || IN6_IS_ADDR_MULTICAST(out) ||
	    IN6_IS_ADDR_LOOPBACK(out) || IN6_IS_ADDR_LINKLOCAL(out)) {
		perr(c, as_yaml_line(n), path,
		     "sid must be a global or unique-local unicast address");
		return false;
	}
	return true;
}

/* An unsigned integer in [min, max]. */
static bool uint_of(struct pctx *c, const struct as_yaml_node *n,
		    const char *path, const char *key, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	const char *s = str(c, n);
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+') {
		perr(c, as_yaml_line(n), path, "%s must be an integer", key);
		return false;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end) {
		perr(c, as_yaml_line(n), path, "%s must be an integer", key);
		return false;
	}
	if (v < min || v > max) {
		perr(c, as_yaml_line(n), path, "%s must be %llu to %llu, got %llu",
		     key, (unsigned long long)min, (unsigned long long)max, v);
		return false;
	}
	*out = v;
	return true;
}

static int parse_prefix(const char *s, struct in6_addr *a, unsigned *plen)
{
	char buf[64];
	const char *slash = s ? strchr(s, '/') : NULL;
	char *end;
	unsigned long l = 128;

	if (!s || strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (slash) {
		buf[slash - s] = 0;
		if (!slash[1])
			return -1;
		errno = 0;
		l = strtoul(slash + 1, &end, 10);
		if (errno || *end || l > 128 || slash[1] == '-' || slash[1] == '+')
			return -1;
	}
	if (inet_pton(AF_INET6, buf, a) != 1)
		return -1;
	*plen = (unsigned)l;
	return 0;
}

static void node_list(struct pctx *c, const struct as_yaml_node *root,
		      const char *key, bool hosts)
{
	static const char *const rkeys[] = { "name", "sid", NULL };
	static const char *const hkeys[] = { "name", "sid", "prefixes", NULL };
	const struct as_yaml_node *seq = get(c, root, key);
	char path[64];

	if (!seq)
		return;
	if (as_yaml_type(seq) != AS_YAML_SEQUENCE) {
		perr(c, as_yaml_line(seq), key, "must be a list");
		return;
	}
	for (size_t i = 0; i < as_yaml_len(seq); i++) {
		const struct as_yaml_node *m = as_yaml_item(c->doc, seq, i);
		size_t line = as_yaml_line(m);
		struct in6_addr sid;
		const char *name;
		int rc;

		snprintf(path, sizeof(path), "%s[%zu]", key, i);
		if (as_yaml_type(m) != AS_YAML_MAPPING) {
			perr(c, line, path, "must be a map (name, sid%s)",
			     hosts ? ", prefixes" : "");
			continue;
		}
		check_keys(c, m, path, hosts ? hkeys : rkeys);
		name = word(c, m, "name", path, line);
		if (!sid_of(c, m, path, line, &sid) || !name)
			continue;
		rc = hosts ? srv6_topo_add_host(c->t, name, &sid)
			   : srv6_topo_add_router(c->t, name, &sid);
		if (rc == AS_EEXIST) {
			perr(c, line, path, "name \"%s\" is used twice", name);
			continue;
		} else if (rc < 0) {
			perr(c, line, path, "%s", as_strerror(rc));
			continue;
		}
		for (size_t j = 0; j < srv6_topo_node_count(c->t) - 1; j++) {
			struct in6_addr o;
			srv6_topo_node_info(c->t, (int)j, &o, NULL);
			if (!memcmp(&o, &sid, sizeof(o)))
				perr(c, as_yaml_line(get(c, m, "sid")), path,
				     "sid is also %s's", srv6_topo_node_name(c->t, (int)j));
		}
		if (!hosts)
			continue;
		const struct as_yaml_node *pl = get(c, m, "prefixes");
		if (!pl)
			continue;
		if (as_yaml_type(pl) != AS_YAML_SEQUENCE) {
			perr(c, as_yaml_line(pl), path, "prefixes must be a list");
			continue;
		}
		for (size_t j = 0; j < as_yaml_len(pl); j++) {
			const struct as_yaml_node *pn = as_yaml_item(c->doc, pl, j);
			struct in6_addr a;
			unsigned plen;

			if (parse_prefix(str(c, pn), &a, &plen)) {
				perr(c, as_yaml_line(pn), path,
				     "prefixes[%zu] must be an IPv6 prefix "
				     "(fd00:10:1::/64)", j);
				continue;
			}
			rc = srv6_topo_add_prefix(c->t, name, &a, plen);
			if (rc == AS_EEXIST)
				perr(c, as_yaml_line(pn), path,
				     "prefixes[%zu] is given twice", j);
			else if (rc)
				perr(c, as_yaml_line(pn), path, "prefixes[%zu]: %s",
				     j, as_strerror(rc));
		}
	}
}

/* A link's `between`: two different names of routers or hosts. */
static bool link_ends(struct pctx *c, const struct as_yaml_node *m,
		      size_t line, const char *path, const char *ends[2])
{
	const struct as_yaml_node *n = get(c, m, "between");
	bool ok = true;

	if (!n || as_yaml_type(n) != AS_YAML_SEQUENCE || as_yaml_len(n) != 2) {
		perr(c, n ? as_yaml_line(n) : line, path,
		     "between must list two names");
		return false;
	}
	for (size_t k = 0; k < 2; k++) {
		ends[k] = str(c, as_yaml_item(c->doc, n, k));
		if (!ends[k] || srv6_topo_node(c->t, ends[k]) < 0) {
			perr(c, as_yaml_line(n), path,
			     "between: \"%.63s\" is no router or host",
			     ends[k] ? ends[k] : "?");
			ok = false;
		}
	}
	if (ok && !strcmp(ends[0], ends[1])) {
		perr(c, as_yaml_line(n), path,
		     "between: a link needs two different ends");
		ok = false;
	}
	return ok;
}

/* A link's numbers: latency_us and bandwidth_kbps (required), cost. */
static bool link_metrics(struct pctx *c, const struct as_yaml_node *m,
			 size_t line, const char *path,
			 struct srv6_link_attr *attr)
{
	const struct as_yaml_node *n;
	bool ok = true;
	uint64_t v;

	if (!(n = get(c, m, "latency_us"))) {
		perr(c, line, path, "latency_us is missing");
		ok = false;
	} else if (uint_of(c, n, path, "latency_us", 0, 60000000, &v)) {
		attr->latency_us = (uint32_t)v;
	} else {
		ok = false;
	}
	if (!(n = get(c, m, "bandwidth_kbps"))) {
		perr(c, line, path, "bandwidth_kbps is missing");
		ok = false;
	} else if (uint_of(c, n, path, "bandwidth_kbps", 1,
			   UINT64_C(1) << 40, &v)) {
		attr->bandwidth_kbps = v;
	} else {
		ok = false;
	}
	if ((n = get(c, m, "cost"))) {
		if (uint_of(c, n, path, "cost", 0, 1000000000, &v))
			attr->cost = (uint32_t)v;
		else
			ok = false;
	}
	return ok;
}

/* How the agent learns the link's state: `probe` (default true) and
 * `bird_protocol` (*bird stays NULL without it). */
static bool link_liveness(struct pctx *c, const struct as_yaml_node *m,
			  const char *path, bool *probe, const char **bird)
{
	const struct as_yaml_node *n;
	bool ok = true;

	if ((n = get(c, m, "probe"))) {
		const char *s = str(c, n);
		if (s && !strcmp(s, "true")) {
			*probe = true;
		} else if (s && !strcmp(s, "false")) {
			*probe = false;
		} else {
			perr(c, as_yaml_line(n), path,
			     "probe must be true or false");
			ok = false;
		}
	}
	if ((n = get(c, m, "bird_protocol"))) {
		/* BIRD's symbol rule is routing/'s: the agent's config
		 * check applies it; here only its shape. */
		*bird = str(c, n);
		bool shape = *bird && **bird && strlen(*bird) < SRV6_NAME_MAX;
		for (const char *q = *bird; shape && *q; q++)
			shape = *q > ' ' && *q < 127;
		if (!shape) {
			perr(c, as_yaml_line(n), path, "bird_protocol must "
			     "be a BIRD protocol name (at most 63 characters)");
			ok = false;
		}
	}
	return ok;
}

/* A link's `tags`, into attr->tags (pointing into the document). */
static bool link_tags(struct pctx *c, const struct as_yaml_node *m,
		      const char *path, struct srv6_link_attr *attr)
{
	const struct as_yaml_node *n = get(c, m, "tags");
	bool ok = true;

	if (!n)
		return true;
	if (as_yaml_type(n) != AS_YAML_SEQUENCE) {
		perr(c, as_yaml_line(n), path, "tags must be a list");
		return false;
	}
	if (as_yaml_len(n) > SRV6_TAGS_MAX) {
		perr(c, as_yaml_line(n), path, "at most %d tags, got %zu",
		     SRV6_TAGS_MAX, as_yaml_len(n));
		return false;
	}
	for (size_t k = 0; k < as_yaml_len(n); k++) {
		const char *tg = str(c, as_yaml_item(c->doc, n, k));
		if (!good_word(tg)) {
			perr(c, as_yaml_line(n), path, "tags[%zu] must be 1 to 63 "
			     "of a-z, 0-9 and '-'", k);
			ok = false;
		}
		attr->tags[k] = tg;
	}
	return ok;
}

static void links(struct pctx *c, const struct as_yaml_node *root)
{
	static const char *const lkeys[] = { "between", "latency_us",
		"bandwidth_kbps", "cost", "tags", "probe", "bird_protocol",
		NULL };
	const struct as_yaml_node *seq = get(c, root, "links");
	char path[64];

	if (!seq)
		return;
	if (as_yaml_type(seq) != AS_YAML_SEQUENCE) {
		perr(c, as_yaml_line(seq), "links", "must be a list");
		return;
	}
	for (size_t i = 0; i < as_yaml_len(seq); i++) {
		const struct as_yaml_node *m = as_yaml_item(c->doc, seq, i);
		struct srv6_link_attr attr = { .cost = 1 };
		size_t line = as_yaml_line(m);
		const char *ends[2] = { NULL, NULL };
		bool ok = true, probe = true;
		const char *bird = NULL;
		int rc;

		snprintf(path, sizeof(path), "links[%zu]", i);
		if (as_yaml_type(m) != AS_YAML_MAPPING) {
			perr(c, line, path, "must be a map (between, latency_us, "
			     "bandwidth_kbps, ...)");
			continue;
		}
		check_keys(c, m, path, lkeys);
		/* Each step reports its own problems, all of them. */
		if (!link_ends(c, m, line, path, ends))
			ok = false;
		if (!link_metrics(c, m, line, path, &attr))
			ok = false;
		if (!link_liveness(c, m, path, &probe, &bird))
			ok = false;
		if (!link_tags(c, m, path, &attr))
			ok = false;
		if (!ok)
			continue;
		rc = srv6_topo_add_link(c->t, ends[0], ends[1], &attr);
		if (rc < 0)
			perr(c, line, path, "%s", as_strerror(rc));
		if (rc >= 0 && !probe)
			srv6_topo_link_set_probed(c->t, rc, false);
		if (rc >= 0 && bird)
			srv6_topo_link_set_bird(c->t, rc, bird);
	}
}

int srv6_topo_parse(const char *path, const char *text, size_t len,
		    srv6_topo_t **out, char *err, size_t errlen)
{
	static const char *const top[] = { "routers", "hosts", "links", NULL };
	struct pctx c = { .file = path ? path : "(topology)", .err = err,
			  .errlen = errlen };
	yaml_parser_t parser;
	const struct as_yaml_node *root;
	int rc = AS_ECONFIG;

	if (err && errlen)
		err[0] = 0;
	if (!out)
		return AS_EINVAL;
	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return AS_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""),
				     text ? len : 0);
	if (as_yaml_load(&parser, &c.doc) != AS_OK) {
		if (parser.error == YAML_MEMORY_ERROR) {
			rc = AS_ENOMEM;
			goto out;
		}
		perr(&c, parser.problem_mark.line + 1, "(yaml)", "%s",
		     parser.problem ? parser.problem : "syntax error");
		goto out;
	}
	root = as_yaml_root(c.doc);
	if (!root || as_yaml_type(root) != AS_YAML_MAPPING) {
		perr(&c, root ? as_yaml_line(root) : 1, "(document)",
		     "expected a map with routers, hosts and links");
		goto out;
	}
	if ((rc = srv6_topo_new(&c.t)))
		goto out;
	rc = AS_ECONFIG;
	check_keys(&c, root, "(document)", top);
	/* Routers and hosts first: links name them. */
	node_list(&c, root, "routers", false);
	node_list(&c, root, "hosts", true);
	links(&c, root);
	if (!c.n_errors) {
		*out = c.t;
		c.t = NULL;
		rc = AS_OK;
	}
out:
	srv6_topo_free(c.t);
	as_yaml_free(c.doc);
	yaml_parser_delete(&parser);
	return rc;
}

int srv6_topo_load(const char *path, srv6_topo_t **out, char *err,
		   size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	if (out)
		*out = NULL;
	if (!path || !out)
		return AS_EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (!(buf = malloc(TOPO_MAX_FILE + 1))) {
		rc = AS_ENOMEM;
		goto fail;
	}
	while ((n = read(fd, buf + len, TOPO_MAX_FILE + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > TOPO_MAX_FILE) {
			rc = -EFBIG;
			goto fail;
		}
	}
	if (n < 0) {
		rc = -errno;
		goto fail;
	}
	close(fd);
	buf[len] = 0;
	rc = srv6_topo_parse(path, buf, len, out, err, errlen);
	free(buf);
	return rc;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	if (err && errlen)
		snprintf(err, errlen, "%s: cannot read: %s\n", path, as_strerror(rc));
	return rc;
}
