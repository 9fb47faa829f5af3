/*
 * agent/config.c - the configuration schema: its rows and the checks
 * across keys.
 *
 * Design. The whole configuration is described by one schema: a table of
 * rows per section (key, type, where the value lands, default, range,
 * validator, one-line description), as in Knot DNS's conf/schema.c. The
 * engine that walks it (types, YAML, errors with file:line, defaults,
 * freeing, the printed reference) is agent/config_schema.c; this file is
 * only what anysteer's keys are. Adding a key is adding a row; adding a
 * section is adding a SECTION row that points at the section's own table.
 *
 * One rule, one owner. A value that another module consumes is checked by
 * that module's own function: DNS names, labels and service names by
 * dns/name.c (dns_name_*), BIRD protocol names by routing/bird.c
 * (route_bird_symbol_problem), and the view's size limits come from
 * dns/dns.h. So `anysteerd --check-config` accepts exactly what the
 * running daemon accepts, and a rule changes in one place.
 *
 * Values that depend on other keys (node.name from the host name,
 * dns.nameservers from the zone, an endpoint's node from node.name) and
 * checks across keys (watermarks, duplicates, service names against the
 * zone) live in per-section finish hooks, which run after the section's
 * rows. Sections run in table order, so `node` is settled before
 * `services` needs it.
 *
 * The only outside state read is the host name and $NODE_NAME (nothing in
 * the daemon sets the environment).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/config_schema.h"
#include "dns/dns.h"
#include "lib/as.h"
#include "routing/routing.h"
#include "srv6/srv6.h"

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
typedef __typeof__(((struct agent_config *)0)->srv6) cfg_srv6_t;

/* ---- validators and finish hooks ------------------------------------------- */

/* Node names travel in gossip and metrics labels: keep them tame. They
 * name hosts in messages, not names in the zone, so '_' and '.' are
 * fine (this is the agent's own rule, not the DNS one). */
static const char *check_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "must not be empty";
	if (n > 63)
		return "longer than 63 characters";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_' && s[i] != '.')
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

	node->end_host = node->role && !strcmp(node->role, "end-host");
	if (node->name || cfg_has_key(ctx, w->map, "name"))
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
			  "set node.name", cfg_show(host, q), why);
		return;
	}
	if (!(node->name = strdup(host)))
		cfg_oom(ctx);
}

/* At most DNS_CLIENT_ZONES_MAX, and a prefix once (which zone would it
 * be?). Quadratic in at most 256. */
static void check_client_zones(struct cfg_ctx *ctx, const cfg_dns_t *dns,
			       const struct cfg_where *w)
{
	const struct as_yaml_node *seq = cfg_map_get(ctx, w->map, "client_zones");
	struct dns_prefix a, b;
	char kp[CFG_PATH_MAX], q[80];

	if (dns->n_client_zones > DNS_CLIENT_ZONES_MAX) {
		cfg_error(ctx, cfg_key_line(ctx, w, "client_zones"),
			  "dns.client_zones", "at most %d prefixes, got %zu",
			  DNS_CLIENT_ZONES_MAX, dns->n_client_zones);
		return;
	}
	for (size_t i = 0; i < dns->n_client_zones; i++) {
		const char *pi = dns->client_zones[i].prefix;
		if (!pi || dns_prefix_parse(pi, &a))
			continue;	/* already reported */
		for (size_t j = 0; j < i; j++) {
			const char *pj = dns->client_zones[j].prefix;
			if (!pj || dns_prefix_parse(pj, &b) ||
			    a.family != b.family || a.len != b.len ||
			    memcmp(a.addr, b.addr, sizeof(a.addr)) != 0)
				continue;
			const struct as_yaml_node *n = cfg_map_get(ctx,
				cfg_seq_get(ctx, seq, i), "prefix");
			cfg_pathf(kp, "dns.client_zones[%zu].prefix", i);
			cfg_error(ctx, n ? cfg_line_of(n) : w->line, kp,
				  "duplicate prefix %s", cfg_show(pi, q));
			break;
		}
	}
}

static void finish_dns(struct cfg_ctx *ctx, void *base,
		       const struct cfg_where *w)
{
	cfg_dns_t *dns = base;

	/* The view's limits (dns/dns.h). */
	if (dns->n_nameservers > DNS_MAX_NAMESERVERS)
		cfg_error(ctx, cfg_key_line(ctx, w, "nameservers"),
			  "dns.nameservers", "at most %d names, got %zu",
			  DNS_MAX_NAMESERVERS, dns->n_nameservers);
	if (dns->n_ns_addresses > DNS_MAX_NS_ADDRESSES)
		cfg_error(ctx, cfg_key_line(ctx, w, "ns_addresses"),
			  "dns.ns_addresses", "at most %d addresses, got %zu",
			  DNS_MAX_NS_ADDRESSES, dns->n_ns_addresses);
	check_client_zones(ctx, dns, w);
	if (dns->n_nameservers || !dns->zone ||
	    cfg_has_key(ctx, w->map, "nameservers"))
		return;
	dns->nameservers = calloc(1, sizeof(char *));
	if (!dns->nameservers)
		return cfg_oom(ctx);
	dns->n_nameservers = 1;
	size_t n = strlen(dns->zone) + 4;
	if (!(dns->nameservers[0] = malloc(n)))
		return cfg_oom(ctx);
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
		cfg_error(ctx, cfg_key_line(ctx, w, "high_watermark"),
			  "load.high_watermark",
			  "must be greater than load.low_watermark "
			  "(%g >= %g)", load->low_watermark,
			  load->high_watermark);
	/* A value that would be ignored is a mistake, not a default. */
	if (load->source && strcmp(load->source, "static") != 0 &&
	    cfg_has_key(ctx, w->map, "value"))
		cfg_error(ctx, cfg_key_line(ctx, w, "value"), "load.value",
			  "is used only with load.source: static");
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

/* BIRD protocol names: routing/ builds the commands, so routing/ owns
 * the symbol rule. */
static const char *check_bird_name(const char *s)
{
	return route_bird_symbol_problem(s);
}

static const char *check_bird_name_or_empty(const char *s)
{
	return *s ? route_bird_symbol_problem(s) : NULL;	/* "" = none */
}

static void finish_anycast(struct cfg_ctx *ctx, void *base,
			   const struct cfg_where *w)
{
	cfg_anycast_t *ac = base;
	size_t line = cfg_key_line(ctx, w, "addresses");
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
				  cfg_show(ac->addresses[i], q));
			continue;
		}
		if (IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
		    IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
		    IN6_IS_ADDR_V4MAPPED(a))
			cfg_error(ctx, line, "anycast.addresses",
				  "%s is not a unicast address a node can "
				  "announce", cfg_show(ac->addresses[i], q));
		for (size_t j = 0; j < i; j++)
			if (memcmp(&((const struct sockaddr_in6 *)&ac->addrs[j])->sin6_addr,
				   a, sizeof(*a)) == 0)
				cfg_error(ctx, line, "anycast.addresses",
					  "duplicate address %s",
					  cfg_show(ac->addresses[i], q));
	}
}

static void finish_endpoint(struct cfg_ctx *ctx, void *base,
			    const struct cfg_where *w)
{
	struct agent_endpoint *ep = base;

	if (ep->node || cfg_has_key(ctx, w->map, "node") || !((struct agent_config *)cfg_root(ctx))->node.name)
		return;
	if (!(ep->node = strdup(((struct agent_config *)cfg_root(ctx))->node.name)))
		cfg_oom(ctx);
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

	if (svc->n_endpoints > DNS_MAX_ENDPOINTS)
		cfg_error(ctx, cfg_key_line(ctx, w, "endpoints"),
			  w->path, "at most %d endpoints per service, got %zu",
			  DNS_MAX_ENDPOINTS, svc->n_endpoints);
	if (svc->n_endpoints < 2)
		return;
	e = calloc(svc->n_endpoints, sizeof(*e));
	first = calloc(svc->n_endpoints, sizeof(*first));
	orig = calloc(svc->n_endpoints, sizeof(*orig));
	if (!e || !first || !orig) {
		cfg_oom(ctx);
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
	const struct as_yaml_node *eps = cfg_map_get(ctx, w->map, "endpoints");
	for (size_t i = 0; i < n; i++) {
		if (first[i] == SIZE_MAX)
			continue;
		size_t d = orig[i], f = orig[first[i]];
		const struct as_yaml_node *a =
			cfg_map_get(ctx, cfg_seq_get(ctx, eps, d), "address");
		const struct as_yaml_node *fa =
			cfg_map_get(ctx, cfg_seq_get(ctx, eps, f), "address");
		cfg_pathf(kp, "%s.endpoints[%zu].address", w->path, d);
		cfg_error(ctx, a ? cfg_line_of(a) : w->line, kp,
			  "duplicate endpoint address %s (first at line %zu)",
			  cfg_show(svc->endpoints[d].address, q), cfg_line_of(fa));
	}
cleanup:
	free(e);
	free(first);
	free(orig);
}

/*
 * A service name that is a valid label can still be one the zone cannot
 * serve: too long for it, or the name of one of its nameservers. The
 * rule is dns/'s (dns_name_service_problem, the check the view runs);
 * here it only needs the zone and nameservers settled in `dns`.
 */
static void check_service_names(struct cfg_ctx *ctx,
				const struct agent_config *cfg,
				const struct cfg_where *w)
{
	const struct as_yaml_node *svcs = cfg_map_get(ctx, w->map, "services");
	char q[80], kp[CFG_PATH_MAX];
	const char *why;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const char *name = cfg->services[i].name;
		if (!name)
			continue;	/* did not parse: already reported */
		why = dns_name_service_problem(name, cfg->dns.zone,
			(const char *const *)cfg->dns.nameservers,
			cfg->dns.n_nameservers);
		if (!why)
			continue;
		const struct as_yaml_node *nm =
			cfg_map_get(ctx, cfg_seq_get(ctx, svcs, i), "name");
		cfg_pathf(kp, "services[%zu].name", i);
		cfg_error(ctx, nm ? cfg_line_of(nm) : w->line, kp,
			  "service name %s %s", cfg_show(name, q), why);
	}
}

static void check_duplicate_services(struct cfg_ctx *ctx,
				     const struct agent_config *cfg,
				     const struct cfg_where *w)
{
	size_t n = 0, *first = NULL, *orig = NULL;
	struct dup_ent *e = NULL;
	char q[80], kp[CFG_PATH_MAX];

	if (cfg->n_services < 2)
		return;
	e = calloc(cfg->n_services, sizeof(*e));
	first = calloc(cfg->n_services, sizeof(*first));
	orig = calloc(cfg->n_services, sizeof(*orig));
	if (!e || !first || !orig) {
		cfg_oom(ctx);
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
	const struct as_yaml_node *svcs = cfg_map_get(ctx, w->map, "services");
	for (size_t i = 0; i < n; i++) {
		if (first[i] == SIZE_MAX)
			continue;
		size_t d = orig[i], f = orig[first[i]];
		const struct as_yaml_node *nm =
			cfg_map_get(ctx, cfg_seq_get(ctx, svcs, d), "name");
		const struct as_yaml_node *fn =
			cfg_map_get(ctx, cfg_seq_get(ctx, svcs, f), "name");
		cfg_pathf(kp, "services[%zu].name", d);
		cfg_error(ctx, nm ? cfg_line_of(nm) : w->line, kp,
			  "duplicate service name %s (first at line %zu)",
			  cfg_show(cfg->services[d].name, q), cfg_line_of(fn));
	}
cleanup:
	free(e);
	free(first);
	free(orig);
}

/* An end host serves nothing: no anycast route, no endpoint of its own
 * (it would be announced in gossip and answered). */
static void check_end_host(struct cfg_ctx *ctx, const struct agent_config *cfg,
			   const struct cfg_where *w)
{
	const struct as_yaml_node *svcs = cfg_map_get(ctx, w->map, "services");
	char kp[CFG_PATH_MAX];

	if (!cfg->node.end_host)
		return;
	if (cfg->anycast.n_addresses)
		cfg_error(ctx, cfg_key_line(ctx, w, "anycast"),
			  "anycast.addresses", "an end host (node.role: "
			  "end-host) announces no anycast address");
	for (size_t i = 0; i < cfg->n_services; i++)
		for (size_t j = 0; j < cfg->services[i].n_endpoints; j++) {
			const struct agent_endpoint *ep = &cfg->services[i].endpoints[j];
			if (!ep->node || !cfg->node.name ||
			    strcmp(ep->node, cfg->node.name))
				continue;
			const struct as_yaml_node *s = cfg_seq_get(ctx, svcs, i);
			const struct as_yaml_node *eps = cfg_map_get(ctx, s, "endpoints");
			const struct as_yaml_node *e = cfg_seq_get(ctx, eps, j);
			cfg_pathf(kp, "services[%zu].endpoints[%zu].node", i, j);
			cfg_error(ctx, e ? cfg_line_of(e) : w->line, kp,
				  "an end host (node.role: end-host) has no "
				  "endpoints of its own; name the node that "
				  "serves it");
		}
}

static void finish_root(struct cfg_ctx *ctx, void *base,
			const struct cfg_where *w)
{
	struct agent_config *cfg = base;

	check_service_names(ctx, cfg, w);
	check_duplicate_services(ctx, cfg, w);
	check_end_host(ctx, cfg, w);
}

/* ---- the schema ------------------------------------------------------------ */

static const char *const protocol_values[] = { "tcp", "udp", NULL };
static const char *const signal_values[] = { "cpu", "psi", "loadavg", NULL };
static const char *const load_source_values[] = { "measured", "static", NULL };
static const char *const announce_values[] = { "all", "one", NULL };
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

/* ---- services[].intent (dns/ objectives, agent/srv6.c paths) ---- */

/* The words are srv6/'s (srv6_metric_parse). */
static const char *check_path_metric(const char *s)
{
	return srv6_metric_parse(s) < 0 ?
		"must be latency, bandwidth or cost" : NULL;
}

static const char *check_srv6_word(const char *s)
{
	return srv6_name_problem(s);
}

/* Steered when the intent names a path or tags to avoid (avoid alone:
 * the least latency path); the answer keys do not steer. A key of the
 * intent that only one objective reads is an error under another: a
 * typo'd objective must not silently ignore it. */
static void finish_intent(struct cfg_ctx *ctx, void *base,
			  const struct cfg_where *w)
{
	struct agent_intent *in = base;
	char kp[CFG_PATH_MAX];

	in->steered = in->path || in->n_avoid;
	if (in->steered && !in->path && !(in->path = strdup("latency")))
		cfg_oom(ctx);
	if (!w->map || !in->objective)
		return;
	if (cfg_has_key(ctx, w->map, "spill_over") &&
	    strcmp(in->objective, "locality") != 0 &&
	    strcmp(in->objective, "latency") != 0) {
		cfg_pathf(kp, "%s.spill_over", w->path);
		cfg_error(ctx, cfg_key_line(ctx, w, "spill_over"), kp,
			  "applies to objectives locality and latency only "
			  "(objective is %s)", in->objective);
	}
	if (cfg_has_key(ctx, w->map, "spread") &&
	    strcmp(in->objective, "resilience") != 0) {
		cfg_pathf(kp, "%s.spread", w->path);
		cfg_error(ctx, cfg_key_line(ctx, w, "spread"), kp,
			  "applies to objective resilience only (objective "
			  "is %s)", in->objective);
	}
}

static const struct cfg_item intent_items[] = {
	/* issue 16: the answer objective (docs/intents.md) */
	{ .name = "objective", .type = CFG_ENUM,
	  AT(struct agent_intent, objective), .def = "balance",
	  .values = dns_objective_values,
	  .desc = "what the answers optimise: balance (load-weighted), "
		  "locality (this node's node.zone first), resilience "
		  "(answers on distinct nodes or zones), latency (the nearest "
		  "endpoints by estimated round trip first; balance until "
		  "network coordinates exist)" },
	{ .name = "spill_over", .type = CFG_DOUBLE,
	  AT(struct agent_intent, spill_over), .def = "0.8",
	  .dmin = 0, .dmax = 1,
	  .desc = "locality: the zone's load (1 - its endpoints' mean load "
		  "factor) past which answers spill over to other zones, "
		  "growing to plain balance at load 1; latency: the load "
		  "(1 - load factor) past which a near endpoint is passed "
		  "over for farther ones" },
	{ .name = "spread", .type = CFG_ENUM,
	  AT(struct agent_intent, spread), .def = "node",
	  .values = dns_spread_values,
	  .desc = "resilience: the failure domain no two addresses of an "
		  "answer share" },
	/* issue 17: the path (docs/srv6.md) */
	{ .name = "path", .type = CFG_STR, AT(struct agent_intent, path),
	  .def_doc = "none: not steered (latency with avoid)",
	  .check = check_path_metric,
	  .desc = "with srv6.enabled: steer this service's traffic along the "
		  "path of least latency, the widest (bandwidth) or the "
		  "cheapest (cost) path of srv6.topology" },
	{ .name = "avoid", .type = CFG_LIST, .elem = CFG_STR,
	  AT(struct agent_intent, avoid), COUNT(struct agent_intent, n_avoid),
	  .check = check_srv6_word,
	  .desc = "link tags (srv6.topology) the path must not use; no such "
		  "path = not steered" },
};

static const struct cfg_section intent_section =
	SECTION_OF(intent_items, struct agent_intent, finish_intent);

static const struct cfg_item service_items[] = {
	{ .name = "name", .type = CFG_LABEL, AT(struct agent_service, name),
	  .flags = CFG_REQUIRED,
	  .desc = "service name, one DNS label under dns.zone (\"*\": "
		  "every name without a service of its own); unique" },
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
	{ .name = "intent", .type = CFG_SECTION,
	  .off = offsetof(struct agent_service, intent), .sub = &intent_section,
	  .desc = "what the service asks: of its answers (objective, "
		  "spill_over, spread; docs/intents.md; absent = balance) and "
		  "of the network (path, avoid: SRv6 steering, docs/srv6.md; "
		  "neither = the routed path)" },
};

static const struct cfg_section service_section =
	SECTION_OF(service_items, struct agent_service, finish_service);

static const char *const role_values[] = { "node", "end-host", NULL };

static const struct cfg_item node_items[] = {
	{ .name = "name", .type = CFG_STR, AT(cfg_node_t, name),
	  .def_doc = "host name", .check = check_node_name,
	  .desc = "this node's name in gossip, answers and metrics "
		  "(letters, digits, '-', '_', '.'; at most 63)" },
	{ .name = "role", .type = CFG_ENUM, AT(cfg_node_t, role),
	  .def = "node", .values = role_values,
	  .desc = "node: serves DNS; end-host: a client host that joins the "
		  "cluster view and programs its own SRv6 egress, with no DNS "
		  "listener, no anycast and no endpoints of its own" },
	{ .name = "zone", .type = CFG_STR, AT(cfg_node_t, zone),
	  .check = dns_topo_zone_problem,
	  .desc = "this node's topology zone, gossiped to every node, for "
		  "intents (a Kubernetes label value such as eu-west-1a); "
		  "absent = the Node's topology.kubernetes.io/zone label with "
		  "kubernetes.enabled, else none" },
};

/* ---- dns.forward (dns/forward.h) ---- */

typedef __typeof__(((struct agent_config *)0)->dns.forward) cfg_forward_t;

static const char *check_prefix(const char *s)
{
	struct dns_prefix p;

	return dns_prefix_parse(s, &p);
}

static void finish_forward(struct cfg_ctx *ctx, void *base,
			   const struct cfg_where *w)
{
	cfg_forward_t *f = base;

	if (!w->clean)
		return;
	if (f->n_upstreams > DNS_FWD_UPSTREAMS_MAX)
		cfg_error(ctx, cfg_key_line(ctx, w, "upstreams"),
			  "dns.forward.upstreams", "at most %d upstreams, got %zu",
			  DNS_FWD_UPSTREAMS_MAX, f->n_upstreams);
	if (f->n_allow > DNS_FWD_ALLOW_MAX)
		cfg_error(ctx, cfg_key_line(ctx, w, "allow"),
			  "dns.forward.allow", "at most %d prefixes, got %zu",
			  DNS_FWD_ALLOW_MAX, f->n_allow);
	if (f->n_upstreams && !f->n_allow)
		cfg_error(ctx, cfg_key_line(ctx, w, "upstreams"),
			  "dns.forward.allow", "needed with dns.forward."
			  "upstreams: the client prefixes that may ask for "
			  "names outside the zone (anysteer is never an open "
			  "resolver by default)");
	if (f->n_allow && !f->n_upstreams)
		cfg_error(ctx, cfg_key_line(ctx, w, "allow"),
			  "dns.forward.upstreams", "needed with dns.forward."
			  "allow: the resolvers to forward to");
	for (size_t i = 0; i < f->n_allow && !f->open; i++) {
		struct dns_prefix p;
		if (!dns_prefix_parse(f->allow[i], &p) && p.len == 0)
			cfg_error(ctx, cfg_key_line(ctx, w, "allow"),
				  "dns.forward.allow", "%s lets every address "
				  "on the Internet recurse through anysteer (an "
				  "open resolver, an amplifier); set dns.forward."
				  "open: true if that is really meant",
				  f->allow[i]);
	}
	if (f->total_timeout_ms < f->timeout_ms)
		cfg_error(ctx, cfg_key_line(ctx, w, "total_timeout"),
			  "dns.forward.total_timeout",
			  "must be at least dns.forward.timeout");
}

static const struct cfg_item forward_items[] = {
	{ .name = "upstreams", .type = CFG_LIST, .elem = CFG_SOCKADDR,
	  AT(cfg_forward_t, upstreams), COUNT(cfg_forward_t, n_upstreams),
	  AUX(cfg_forward_t, upstream_addrs), .flags = CFG_PARSED,
	  .port = 53,
	  .desc = "recursive resolvers for names outside the zone (port 53 "
		  "if omitted); none = REFUSED, as without this section" },
	{ .name = "allow", .type = CFG_LIST, .elem = CFG_STR,
	  AT(cfg_forward_t, allow), COUNT(cfg_forward_t, n_allow),
	  .check = check_prefix,
	  .desc = "client prefixes (fd00:2::/48, 10.0.0.0/8) whose queries "
		  "for other names are forwarded; others get REFUSED" },
	{ .name = "open", .type = CFG_BOOL, AT(cfg_forward_t, open),
	  .def = "false",
	  .desc = "allow ::/0 or 0.0.0.0/0 in allow: an open resolver" },
	{ .name = "timeout", .type = CFG_DURATION, AT(cfg_forward_t, timeout_ms),
	  .def = "1s", .min = 10, .max = 60000,
	  .desc = "wait this long for one upstream, then ask the next" },
	{ .name = "total_timeout", .type = CFG_DURATION,
	  AT(cfg_forward_t, total_timeout_ms), .def = "3s", .min = 10,
	  .max = 60000,
	  .desc = "then answer SERVFAIL (or a stale answer)" },
	{ .name = "cache_size_mb", .type = CFG_UINT,
	  AT(cfg_forward_t, cache_size_mb), .def = "16", .min = 1,
	  .max = 65536,
	  .desc = "memory for cached answers, MiB, shared out among the "
		  "DNS workers" },
	{ .name = "max_ttl", .type = CFG_DURATION,
	  AT(cfg_forward_t, max_ttl_ms), .def = "24h", .min = 1000,
	  .max = 604800000, .desc = "cache positive answers at most this long" },
	{ .name = "negative_max_ttl", .type = CFG_DURATION,
	  AT(cfg_forward_t, negative_max_ttl_ms), .def = "1h", .min = 1000,
	  .max = 604800000,
	  .desc = "cache NXDOMAIN/NODATA at most this long (RFC 2308)" },
	{ .name = "serve_stale", .type = CFG_DURATION,
	  AT(cfg_forward_t, serve_stale_ms), .def = "0",
	  .max = 604800000,
	  .desc = "when no upstream answers, serve expired answers up to "
		  "this long past their TTL (RFC 8767); 0 = never" },
	{ .name = "max_pending", .type = CFG_UINT,
	  AT(cfg_forward_t, max_pending), .def = "1000", .min = 1,
	  .max = 100000,
	  .desc = "forwarded queries in flight per worker; more are dropped" },
	{ .name = "case_randomization", .type = CFG_BOOL,
	  AT(cfg_forward_t, case_randomization), .def = "true",
	  .desc = "0x20: random letter case in upstream queries, checked in "
		  "answers (off only for upstreams that lose case)" },
};

static const struct cfg_section forward_section =
	SECTION_OF(forward_items, cfg_forward_t, finish_forward);

/* ---- dns.rrl (dns/rrl.h) ---- */

typedef __typeof__(((struct agent_config *)0)->dns.rrl) cfg_rrl_t;

static const struct cfg_item rrl_items[] = {
	{ .name = "enabled", .type = CFG_BOOL, AT(cfg_rrl_t, enabled),
	  .def = "true",
	  .desc = "limit UDP replies per client prefix and answer (TCP is "
		  "never limited)" },
	{ .name = "responses_per_second", .type = CFG_UINT,
	  AT(cfg_rrl_t, responses_per_second), .def = "200", .min = 1,
	  .max = DNS_RRL_RATE_MAX,
	  .desc = "replies per second to one prefix for one name and kind "
		  "of answer, all workers together (NSD's rrl-ratelimit)" },
	{ .name = "slip", .type = CFG_UINT, AT(cfg_rrl_t, slip), .def = "2",
	  .max = DNS_RRL_SLIP_MAX,
	  .desc = "every slip-th limited reply is sent truncated (TC=1) so "
		  "real clients retry over TCP; 0 = drop all, 1 = truncate "
		  "all" },
	{ .name = "window", .type = CFG_DURATION, AT(cfg_rrl_t, window_ms),
	  .def = "1s", .min = 100, .max = DNS_RRL_WINDOW_MAX_MS,
	  .desc = "credit a quiet prefix saves up: a burst of at most "
		  "responses_per_second x window replies" },
	{ .name = "ipv6_prefix_length", .type = CFG_UINT,
	  AT(cfg_rrl_t, ipv6_prefix_length), .def = "56", .min = 1,
	  .max = 128, .desc = "IPv6 clients in one prefix share a limit" },
	{ .name = "ipv4_prefix_length", .type = CFG_UINT,
	  AT(cfg_rrl_t, ipv4_prefix_length), .def = "24", .min = 1,
	  .max = 32, .desc = "IPv4 clients in one prefix share a limit" },
	{ .name = "table_size", .type = CFG_UINT, AT(cfg_rrl_t, table_size),
	  .def = "65536", .min = 16, .max = DNS_RRL_TABLE_MAX,
	  .desc = "limit buckets per worker (32 bytes each); when full, "
		  "new prefixes share buckets" },
};

static const struct cfg_section rrl_section =
	SECTION_OF(rrl_items, cfg_rrl_t, NULL);

static const struct cfg_item client_zone_items[] = {
	{ .name = "prefix", .type = CFG_STR,
	  AT(struct agent_client_zone, prefix), .flags = CFG_REQUIRED,
	  .check = check_prefix,
	  .desc = "client prefix such as fd00:10::/48 (an address alone: "
		  "one host); the longest that holds the client wins" },
	{ .name = "zone", .type = CFG_STR,
	  AT(struct agent_client_zone, zone), .flags = CFG_REQUIRED,
	  .check = dns_topo_zone_problem,
	  .desc = "the topology zone of the clients in prefix (as node.zone)" },
};

static const struct cfg_section client_zone_section =
	SECTION_OF(client_zone_items, struct agent_client_zone, NULL);

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
	{ .name = "forward", .type = CFG_SECTION,
	  .off = offsetof(cfg_dns_t, forward), .sub = &forward_section,
	  .desc = "forwarding names outside the zone to recursive resolvers, "
		  "for allowed clients only; absent = REFUSED" },
	{ .name = "rrl", .type = CFG_SECTION,
	  .off = offsetof(cfg_dns_t, rrl), .sub = &rrl_section,
	  .desc = "response rate limiting of UDP replies (docs/dns.md)" },
	{ .name = "client_zones", .type = CFG_SECTIONS,
	  AT(cfg_dns_t, client_zones), COUNT(cfg_dns_t, n_client_zones),
	  .sub = &client_zone_section,
	  .desc = "where clients are: a query whose EDNS Client Subnet (or, "
		  "without one, source address) is in one of these prefixes "
		  "gets locality answers for its zone (docs/intents.md); at "
		  "most 256" },
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
	{ .name = "source", .type = CFG_ENUM, AT(cfg_load_t, source),
	  .def = "measured", .values = load_source_values,
	  .desc = "measured: load.signal; static: load.value, pinned (testbeds, "
		  "CI: shared CPUs)" },
	{ .name = "value", .type = CFG_DOUBLE, AT(cfg_load_t, value),
	  .def = "0", .dmin = 0, .dmax = 1,
	  .desc = "the load signal with load.source static" },
	{ .name = "override", .type = CFG_BOOL, AT(cfg_load_t, override),
	  .def = "false",
	  .desc = "test knob: allow `anysteerctl load set` to pin the signal; "
		  "never in production" },
};

static const struct cfg_item anycast_items[] = {
	{ .name = "addresses", .type = CFG_LIST, .elem = CFG_IPADDR,
	  AT(cfg_anycast_t, addresses), COUNT(cfg_anycast_t, n_addresses),
	  AUX(cfg_anycast_t, addrs), .flags = CFG_PARSED,
	  .desc = "IPv6 anycast addresses this node announces through BIRD "
		  "while healthy (also DNS listeners); none = no anycast" },
	{ .name = "announce", .type = CFG_ENUM, AT(cfg_anycast_t, announce),
	  .def = "all", .values = announce_values,
	  .desc = "all: every address; one: the one this node's name picks "
		  "(nodes split into disjoint sets, one per address)" },
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
		cfg_error(ctx, cfg_key_line(ctx, w, "keyring"), "gossip.keyring",
			  "required unless gossip.plaintext is true "
			  "(create one with `anysteerd --generate-key`)");
	if (g->advertise && *g->advertise &&
	    (!as_sockaddr_valid(&g->advertise_addr) ||
	     as_sockaddr_is_any(&g->advertise_addr)))
		cfg_error(ctx, cfg_key_line(ctx, w, "advertise"),
			  "gossip.advertise",
			  "must be an address other nodes can reach, not a "
			  "wildcard");
	if (g->probe_timeout_ms && g->probe_interval_ms &&
	    g->probe_timeout_ms >= g->probe_interval_ms)
		cfg_error(ctx, cfg_key_line(ctx, w, "probe_timeout"),
			  "gossip.probe_timeout",
			  "must be shorter than gossip.probe_interval");
}

static void finish_health(struct cfg_ctx *ctx, void *base,
			  const struct cfg_where *w)
{
	cfg_health_t *h = base;

	if (w->clean && h->interval_ms && h->timeout_ms > h->interval_ms)
		cfg_error(ctx, cfg_key_line(ctx, w, "timeout"), "health.timeout",
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
	{ .name = "max_endpoints_per_node", .type = CFG_UINT,
	  AT(cfg_gossip_t, max_endpoints_per_node), .def = "256", .min = 1,
	  .max = 32768,
	  .desc = "endpoints one node announces and keeps of each member's "
		  "record; more are left out, logged and counted" },
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
	const char *dflt = env && *env ? env : ((struct agent_config *)cfg_root(ctx))->node.name;

	/* The Lease lives in the agents' own namespace (downward API). */
	const char *pns = getenv("POD_NAMESPACE");
	if (!k->lease_namespace && !cfg_has_key(ctx, w->map, "lease_namespace") &&
	    !(k->lease_namespace = strdup(pns && *pns ? pns : "anysteer")))
		cfg_oom(ctx);
	/* client-go's rule: the leader gives up (renew deadline) before
	 * anyone may take over (lease duration), and retries within it. */
	if (w->clean && k->renew_deadline_ms >= k->lease_duration_ms)
		cfg_error(ctx, cfg_key_line(ctx, w, "renew_deadline"),
			  "kubernetes.renew_deadline",
			  "must be shorter than kubernetes.lease_duration");
	else if (w->clean && k->retry_period_ms >= k->renew_deadline_ms)
		cfg_error(ctx, cfg_key_line(ctx, w, "retry_period"),
			  "kubernetes.retry_period",
			  "must be shorter than kubernetes.renew_deadline");
	if (k->node_name || cfg_has_key(ctx, w->map, "node_name") || !dflt)
		return;
	if (!(k->node_name = strdup(dflt)))
		cfg_oom(ctx);
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
	{ .name = "ingress", .type = CFG_BOOL, AT(cfg_k8s_t, ingress),
	  .def = "true",
	  .desc = "answer the hosts of Ingresses of an IngressClass with "
		  "controller anysteer.io/ingress-controller" },
	{ .name = "gateway_api", .type = CFG_BOOL, AT(cfg_k8s_t, gateway_api),
	  .def = "true",
	  .desc = "answer HTTPRoutes and GRPCRoutes on Gateways of a GatewayClass "
		  "with controllerName anysteer.io/gateway-controller" },
	{ .name = "ingress_class", .type = CFG_STR, AT(cfg_k8s_t, ingress_class),
	  .def = "anysteer", .check = check_k8s_node_name,
	  .desc = "the kubernetes.io/ingress.class annotation value that means "
		  "anysteer when no IngressClass has that name" },
	{ .name = "leader_election", .type = CFG_BOOL,
	  AT(cfg_k8s_t, leader_election), .def = "true",
	  .desc = "elect one agent (a Lease) to write Ingress/Gateway API status "
		  "and Events; false: this agent never writes" },
	{ .name = "lease_name", .type = CFG_STR, AT(cfg_k8s_t, lease_name),
	  .def = "anysteer-leader", .check = check_k8s_node_name,
	  .desc = "name of the coordination.k8s.io/v1 Lease" },
	{ .name = "lease_namespace", .type = CFG_STR,
	  AT(cfg_k8s_t, lease_namespace),
	  .def_doc = "$POD_NAMESPACE or anysteer", .check = check_k8s_node_name,
	  .desc = "namespace of the Lease (the agents' own)" },
	{ .name = "lease_duration", .type = CFG_DURATION,
	  AT(cfg_k8s_t, lease_duration_ms), .def = "15s", .min = 1000,
	  .max = 3600000,
	  .desc = "a Lease not renewed for this long may be taken over" },
	{ .name = "renew_deadline", .type = CFG_DURATION,
	  AT(cfg_k8s_t, renew_deadline_ms), .def = "10s", .min = 500,
	  .max = 3600000,
	  .desc = "the leader stops writing when it could not renew for this long" },
	{ .name = "retry_period", .type = CFG_DURATION,
	  AT(cfg_k8s_t, retry_period_ms), .def = "2s", .min = 100,
	  .max = 3600000,
	  .desc = "how often every agent reads (and the leader renews) the Lease" },
};

/* ---- srv6 (agent/srv6.c) ---- */

static const char *const srv6_mode_values[] = { "encap", "insert", NULL };

static const char *check_path_or_empty_srv6(const char *s)
{
	if (*s && *s != '/')
		return "must be an absolute path";
	if (strlen(s) >= PATH_MAX)
		return "path too long";
	return NULL;
}

/* The topology file is checked here, so --check-config, start and
 * reload judge it with the parser (srv6_topo_load) the agent then reads
 * it with; the agent reads it again (a config holds no topology). */
static void finish_srv6(struct cfg_ctx *ctx, void *base,
			const struct cfg_where *w)
{
	cfg_srv6_t *s = base;
	const struct agent_config *cfg = cfg_root(ctx);
	size_t tline = cfg_key_line(ctx, w, "topology");
	char err[4096], q[80];
	int rc, node;
	bool host;

	if (!s->host && !cfg_has_key(ctx, w->map, "host") && cfg->node.name &&
	    !(s->host = strdup(cfg->node.name)))
		return cfg_oom(ctx);
	if (!s->enabled || !w->clean)
		return;
	if (!s->topology || !*s->topology)
		return cfg_error(ctx, tline, "srv6.topology",
				 "required with srv6.enabled: the SR domain's "
				 "topology file (docs/srv6.md)");
	if (!s->n_interfaces)
		cfg_error(ctx, cfg_key_line(ctx, w, "interfaces"),
			  "srv6.interfaces", "required with srv6.enabled: "
			  "where steered packets leave");
	srv6_topo_t *topo = NULL;
	rc = srv6_topo_load(s->topology, &topo, err, sizeof(err));
	if (rc) {
		/* One configuration error per line of the file's report. */
		for (char *l = err, *nl; l && *l; l = nl) {
			if ((nl = strchr(l, '\n')))
				*nl++ = 0;
			cfg_error(ctx, tline, "srv6.topology", "%s", l);
		}
		return;
	}
	/* A link's liveness from BIRD: the name by BIRD's rule (routing/'s),
	 * and a BIRD to ask. */
	for (size_t i = 0; i < srv6_topo_link_count(topo); i++) {
		const char *bp = srv6_topo_link_bird(topo, (int)i), *why;
		struct srv6_link_info li;
		if (!bp || srv6_topo_link(topo, (int)i, &li))
			continue;
		if ((why = route_bird_symbol_problem(bp)))
			cfg_error(ctx, tline, "srv6.topology", "link %s-%s: "
				  "bird_protocol %s: %s",
				  srv6_topo_node_name(topo, li.a),
				  srv6_topo_node_name(topo, li.b),
				  cfg_show(bp, q), why);
		else if (!cfg->bird.socket || !*cfg->bird.socket)
			cfg_error(ctx, tline, "srv6.topology", "link %s-%s: "
				  "bird_protocol needs bird.socket",
				  srv6_topo_node_name(topo, li.a),
				  srv6_topo_node_name(topo, li.b));
	}
	node = srv6_topo_node(topo, s->host);
	if (node < 0 || srv6_topo_node_info(topo, node, NULL, &host) ||
	    !host)
		cfg_error(ctx, cfg_key_line(ctx, w, "host"), "srv6.host",
			  "%s is not a host of %s", cfg_show(s->host, q),
			  s->topology);
	srv6_topo_free(topo);
}

static const struct cfg_item srv6_items[] = {
	{ .name = "enabled", .type = CFG_BOOL, AT(cfg_srv6_t, enabled),
	  .def = "false",
	  .desc = "steer this host's traffic to services with an intent "
		  "along SRv6 paths (tc eBPF; needs CAP_BPF and CAP_NET_ADMIN; "
		  "without them or the build option the agent says what is "
		  "missing and runs on)" },
	{ .name = "topology", .type = CFG_STR, AT(cfg_srv6_t, topology),
	  .def = "", .check = check_path_or_empty_srv6,
	  .desc = "the SR domain's topology file: routers, hosts with their "
		  "prefixes, links (docs/srv6.md); read at start and reload" },
	{ .name = "host", .type = CFG_STR, AT(cfg_srv6_t, host),
	  .def_doc = "node.name", .check = check_srv6_word,
	  .desc = "this host's name in the topology (paths start here; its "
		  "SID is decapsulated here)" },
	{ .name = "interfaces", .type = CFG_LIST, .elem = CFG_STR,
	  AT(cfg_srv6_t, interfaces), COUNT(cfg_srv6_t, n_interfaces),
	  .check = check_ifname,
	  .desc = "interfaces whose tc egress steers and tc ingress "
		  "decapsulates" },
	{ .name = "mode", .type = CFG_ENUM, AT(cfg_srv6_t, mode),
	  .def = "encap", .values = srv6_mode_values,
	  .desc = "encap: outer IPv6 header + SRH (H.Encaps); insert: an SRH "
		  "in the packet (H.Insert; the endpoint's host must "
		  "decapsulate its address)" },
	{ .name = "mtu", .type = CFG_UINT, AT(cfg_srv6_t, mtu), .def = "1500",
	  .min = 1280, .max = 65535,
	  .desc = "path MTU of steered packets (TCP MSS is clamped to fit)" },
	{ .name = "probe_interval", .type = CFG_DURATION,
	  AT(cfg_srv6_t, probe_interval_ms), .def = "1s", .max = 3600000,
	  .desc = "ICMPv6 echo along a segment list across each link of the "
		  "topology this often; 0 = links are always up" },
	{ .name = "rise", .type = CFG_UINT, AT(cfg_srv6_t, rise), .def = "2",
	  .min = 1, .max = 100,
	  .desc = "answered probes in a row before a link is up again" },
	{ .name = "fall", .type = CFG_UINT, AT(cfg_srv6_t, fall), .def = "3",
	  .min = 1, .max = 100,
	  .desc = "lost probes in a row before a link is down" },
};

static const struct cfg_section srv6_section =
	SECTION_OF(srv6_items, cfg_srv6_t, finish_srv6);

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
	{ .name = "srv6", .type = CFG_SECTION,
	  .off = offsetof(struct agent_config, srv6), .sub = &srv6_section,
	  .desc = "SRv6 path steering of this host's traffic (docs/srv6.md)" },
	{ .name = "services", .type = CFG_SECTIONS,
	  AT(struct agent_config, services),
	  COUNT(struct agent_config, n_services), .sub = &service_section,
	  .desc = "the static service catalog" },
};

static const struct cfg_section root_section =
	SECTION_OF(root_items, struct agent_config, finish_root);


/* ---- entry points ------------------------------------------------------------ */

void agent_config_free(struct agent_config *cfg)
{
	if (!cfg)
		return;
	cfg_free(&root_section, cfg);
	free(cfg->path);
	free(cfg);
}

int agent_config_parse(const char *path, const char *text, size_t len,
		       struct agent_config **out, char *errbuf, size_t errlen)
{
	void *p = NULL;
	struct agent_config *cfg;
	int rc;

	if (!out)
		return AS_EINVAL;
	*out = NULL;
	rc = cfg_parse(&root_section, path, text, len, &p, errbuf, errlen);
	if (rc)
		return rc;
	cfg = p;
	if (!(cfg->path = strdup(path ? path : ""))) {
		agent_config_free(cfg);
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: (loader): out of memory\n",
				 path ? path : "(config)");
		return AS_ENOMEM;
	}
	*out = cfg;
	return AS_OK;
}

int agent_config_load(const char *path, struct agent_config **out,
		      char *errbuf, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!path || !out)
		return AS_EINVAL;
	rc = cfg_read_file(path, &text, &len, errbuf, errlen);
	if (rc)
		return rc;
	rc = agent_config_parse(path, text, len, out, errbuf, errlen);
	free(text);
	return rc;
}

void agent_config_print_schema(FILE *f)
{
	cfg_print_schema(&root_section, f);
}

void agent_config_print_schema_text(FILE *f, int width)
{
	cfg_print_schema_text(&root_section, f, width);
}
