/*
 * k8s/gateway.c - Gateway API evaluation: which HTTPRoutes and GRPCRoutes
 * attach to Gateways of our GatewayClasses, the names and weighted
 * backends they give the zone, and the conditions the specification
 * asks the controller to write.
 *
 * Design. One pure pass over the six tables, in the specification's
 * order: GatewayClasses (Accepted), Gateways and their listeners
 * (Accepted, Programmed, ResolvedRefs, supportedKinds), then each route
 * parentRef that names one of our Gateways (Accepted with NoMatchingParent
 * / NotAllowedByListeners / NoMatchingListenerHostname / UnsupportedValue,
 * ResolvedRefs with InvalidKind / RefNotPermitted / BackendNotFound,
 * PartiallyInvalid when rules were dropped), and last the listeners'
 * attachedRoutes. Parents of other controllers are never touched.
 *
 * DNS routes by name only, so a rule is usable only when it matches every
 * request of its hostnames (no match, or the default PathPrefix "/") and
 * changes none (no filters, timeouts, retries). Unusable rules are
 * dropped, as the specification allows with PartiallyInvalid; of the
 * usable rules the first one decides (they all match the same requests,
 * and the specification gives ties to list order), and its backendRefs'
 * weights become answer weights: a 90/10 canary is a 90/10 DNS split.
 * Two routes claiming the same name: the older one (creationTimestamp,
 * then namespace/name) wins on every node.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* ---- hostnames -------------------------------------------------------------- */

/* Whether wildcard "*.S" covers name (itself possibly "*.T"): name ends in
 * ".S" with at least one label before it. */
static bool covers(const char *wild, const char *name)
{
	const char *s = wild + 1;	/* ".S" */
	size_t sl = strlen(s), nl = strlen(name);

	return nl > sl && !strcasecmp(name + nl - sl, s);
}

bool k8s_hostname_intersect(const char *route, const char *listener,
			    char *out, size_t out_len)
{
	const char *res = NULL;
	bool rw = !strncmp(route, "*.", 2), lw = !strncmp(listener, "*.", 2);

	if (!*listener)
		res = route;
	else if (!*route)
		res = listener;
	else if (!strcasecmp(route, listener))
		res = route;
	else if (lw && covers(listener, route))
		res = route;
	else if (rw && covers(route, listener))
		res = listener;
	if (!res)
		return false;
	if (out && out_len) {
		if (strlen(res) >= out_len)
			return false;
		memcpy(out, res, strlen(res) + 1);
	}
	return true;
}

/* ---- building the result ------------------------------------------------------ */

static int cond_add(struct k8s_condition **v, size_t *n, int64_t gen,
		    const char *type, bool status, const char *reason,
		    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int cond_add(struct k8s_condition **v, size_t *n, int64_t gen,
		    const char *type, bool status, const char *reason,
		    const char *fmt, ...)
{
	struct k8s_condition *nv = realloc(*v, (*n + 1) * sizeof(*nv));
	char msg[1024];
	va_list ap;

	if (!nv)
		return -1;
	*v = nv;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memset(&nv[*n], 0, sizeof(nv[*n]));
	(*n)++;
	return k8s__cond_set(&nv[*n - 1], type, status, reason, msg, gen);
}

static struct k8s_obj_status *status_add(struct k8s_gw_result *out, int okind,
					 const struct k8s_meta *md)
{
	struct k8s_obj_status *v = realloc(out->status,
					   (out->n_status + 1) * sizeof(*v));

	if (!v)
		return NULL;
	out->status = v;
	v = &v[out->n_status++];
	memset(v, 0, sizeof(*v));
	v->okind = okind;
	v->generation = md->generation;
	v->namespace_ = strdup(md->namespace_);
	v->name = strdup(md->name);
	return v->namespace_ && v->name ? v : NULL;
}

static int ref_copy(struct k8s_parent_ref *d, const struct k8s_parent_ref *s)
{
	d->group = strdup(s->group);
	d->kind = strdup(s->kind);
	d->namespace_ = strdup(s->namespace_);
	d->name = strdup(s->name);
	d->section = strdup(s->section);
	d->port = s->port;
	return d->group && d->kind && d->namespace_ && d->name && d->section ?
	       0 : -1;
}

static void ref_free(struct k8s_parent_ref *p)
{
	free(p->group);
	free(p->kind);
	free(p->namespace_);
	free(p->name);
	free(p->section);
}

static void name_free(struct k8s_route_name *n)
{
	free(n->hostname);
	free(n->label);
	free(n->route_ns);
	free(n->route_name);
	for (size_t i = 0; i < n->n_backends; i++) {
		free(n->backends[i].namespace_);
		free(n->backends[i].service);
	}
	free(n->backends);
}

void k8s_gw_result_free(struct k8s_gw_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_names; i++)
		name_free(&r->names[i]);
	free(r->names);
	for (size_t i = 0; i < r->n_status; i++) {
		struct k8s_obj_status *s = &r->status[i];

		free(s->namespace_);
		free(s->name);
		k8s__conds_free(s->conds, s->n_conds);
		for (size_t j = 0; j < s->n_listeners; j++) {
			free(s->listeners[j].name);
			k8s__strv_free(s->listeners[j].supported_kinds,
				       s->listeners[j].n_supported_kinds);
			k8s__conds_free(s->listeners[j].conds,
					s->listeners[j].n_conds);
		}
		free(s->listeners);
		for (size_t j = 0; j < s->n_parents; j++) {
			ref_free(&s->parents[j].ref);
			k8s__conds_free(s->parents[j].conds, s->parents[j].n_conds);
		}
		free(s->parents);
	}
	free(r->status);
	k8s__warnings_free(r->warnings, r->n_warnings);
	memset(r, 0, sizeof(*r));
}

/* ---- classes and gateways ------------------------------------------------------- */

static bool class_ours(const struct k8s_gw_input *in, const char *name)
{
	const struct k8s_gateway_class *c = k8s_objs_get(in->classes, "", name);

	return c && !strcmp(c->controller, K8S_GATEWAY_CONTROLLER);
}

static bool proto_http(const char *p)
{
	return !strcmp(p, "HTTP") || !strcmp(p, "HTTPS");
}

static const char *const route_kinds[] = { "HTTPRoute", "GRPCRoute" };

/* Evaluates one Gateway's listeners into st->listeners. Returns the
 * number of valid listeners, -1 on memory. */
static int eval_listeners(const struct k8s_gateway *g,
			  struct k8s_obj_status *st)
{
	int64_t gen = g->md.generation;
	int valid = 0;

	if (g->n_listeners &&
	    !(st->listeners = calloc(g->n_listeners, sizeof(*st->listeners))))
		return -1;
	for (size_t i = 0; i < g->n_listeners; i++) {
		const struct k8s_listener *l = &g->listeners[i];
		struct k8s_listener_status *ls = &st->listeners[i];
		size_t cap = 0;
		bool bad_kind = l->kinds_foreign, conflict = false;

		st->n_listeners = i + 1;
		if (!(ls->name = strdup(l->name)))
			return -1;
		for (size_t j = 0; j < i; j++)
			conflict |= g->listeners[j].port == l->port &&
				    !strcasecmp(g->listeners[j].hostname, l->hostname);
		if (!proto_http(l->protocol)) {
			if (cond_add(&ls->conds, &ls->n_conds, gen, "Accepted", false,
				     "UnsupportedProtocol",
				     "protocol %s: anysteer answers DNS for HTTP and "
				     "HTTPS listeners only", l->protocol) ||
			    cond_add(&ls->conds, &ls->n_conds, gen, "Programmed",
				     false, "Invalid", "listener not accepted") ||
			    cond_add(&ls->conds, &ls->n_conds, gen, "ResolvedRefs",
				     true, "ResolvedRefs", "no references"))
				return -1;
			continue;
		}
		/* allowedRoutes.kinds: the ones we serve; default both. */
		for (size_t k = 0; k < AS_ARRAY_SIZE(route_kinds); k++) {
			bool listed = !l->n_kinds;

			for (size_t j = 0; j < l->n_kinds; j++)
				listed |= !strcmp(l->kinds[j], route_kinds[k]);
			if (listed && k8s__strv_add(&ls->supported_kinds,
						    &ls->n_supported_kinds, &cap,
						    route_kinds[k]))
				return -1;
		}
		for (size_t j = 0; j < l->n_kinds; j++)
			bad_kind |= strcmp(l->kinds[j], "HTTPRoute") &&
				    strcmp(l->kinds[j], "GRPCRoute");
		if (conflict) {
			if (cond_add(&ls->conds, &ls->n_conds, gen, "Conflicted", true,
				     "HostnameConflict",
				     "another listener has port %u and hostname \"%s\"",
				     l->port, l->hostname) ||
			    cond_add(&ls->conds, &ls->n_conds, gen, "Accepted", false,
				     "HostnameConflict", "conflicts with an earlier listener") ||
			    cond_add(&ls->conds, &ls->n_conds, gen, "Programmed",
				     false, "Invalid", "listener not accepted"))
				return -1;
			continue;
		}
		if (cond_add(&ls->conds, &ls->n_conds, gen, "Accepted", true,
			     "Accepted", "routes of this listener are answered by DNS%s",
			     !strcmp(l->protocol, "HTTPS") ?
			     "; TLS terminates in the pods, certificateRefs are not used" : "") ||
		    cond_add(&ls->conds, &ls->n_conds, gen, "Programmed", true,
			     "Programmed", "every anysteer agent answers its names") ||
		    (bad_kind ?
		     cond_add(&ls->conds, &ls->n_conds, gen, "ResolvedRefs", false,
			      "InvalidRouteKinds",
			      "only HTTPRoute and GRPCRoute are supported") :
		     cond_add(&ls->conds, &ls->n_conds, gen, "ResolvedRefs", true,
			      "ResolvedRefs", "all references resolved")) ||
		    cond_add(&ls->conds, &ls->n_conds, gen, "Conflicted", false,
			     "NoConflicts", "no conflicts"))
			return -1;
		valid++;
	}
	return valid;
}

static bool listener_ok(const struct k8s_listener_status *ls)
{
	for (size_t i = 0; i < ls->n_conds; i++)
		if (!strcmp(ls->conds[i].type, "Accepted"))
			return !strcmp(ls->conds[i].status, "True");
	return false;
}

/* ---- routes ---------------------------------------------------------------------- */

struct claim {
	char *hostname, *label;
	bool wildcard;
	const struct k8s_route *route;
	const struct k8s_route_rule *rule;
};

static int claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int c = strcmp(x->hostname, y->hostname);

	if (c)
		return c;
	/* Older first; then namespace/name: the same winner everywhere. */
	c = strcmp(x->route->md.created, y->route->md.created);
	if (c)
		return c;
	c = strcmp(x->route->md.namespace_, y->route->md.namespace_);
	if (c)
		return c;
	c = strcmp(x->route->md.name, y->route->md.name);
	return c ? c : x->route->kind - y->route->kind;
}

struct ctx {
	const struct k8s_gw_input *in;
	struct k8s_gw_result *out;
	struct claim *claims;
	size_t n_claims, cap_claims;
	/* index into out->status of each of our Gateways, by table index */
	ssize_t *gw_status;
};

static int claim_add(struct ctx *c, const struct k8s_route *r,
		     const struct k8s_route_rule *rule, const char *host)
{
	char *fqdn, *label;
	bool wild;
	const char *why = k8s__zone_host(c->in->zone, host, &fqdn, &label, &wild);

	if (why) {
		if (!strcmp(why, "out of memory"))
			return -1;
		return k8s__warn(&c->out->warnings, &c->out->n_warnings,
				 "HostOutsideZone",
				 "%s %s/%s: hostname %.253s is not answered: %s (zone %.253s)",
				 k8s_okind_name(r->kind), r->md.namespace_, r->md.name,
				 host, why, c->in->zone) ||
			k8s__warn_obj(c->out->warnings, c->out->n_warnings, r->kind,
				      r->md.namespace_, r->md.name);
	}
	for (size_t i = 0; i < c->n_claims; i++)
		if (c->claims[i].route == r && !strcmp(c->claims[i].hostname, fqdn)) {
			free(fqdn);
			free(label);
			return 0;
		}
	if (c->n_claims == c->cap_claims) {
		size_t nc = c->cap_claims ? c->cap_claims * 2 : 16;
		struct claim *v = realloc(c->claims, nc * sizeof(*v));

		if (!v) {
			free(fqdn);
			free(label);
			return -1;
		}
		c->claims = v;
		c->cap_claims = nc;
	}
	c->claims[c->n_claims++] = (struct claim){ fqdn, label, wild, r, rule };
	return 0;
}

static bool ns_allowed(const struct k8s_listener *l, const struct k8s_gateway *g,
		       const struct k8s_route *r)
{
	/* Selector needs Namespace labels, which anysteer does not watch:
	 * it admits the Gateway's own namespace only (docs/kubernetes.md). */
	return l->from == K8S_FROM_ALL || !strcmp(g->md.namespace_, r->md.namespace_);
}

static bool kind_allowed(const struct k8s_listener_status *ls, int kind)
{
	for (size_t i = 0; i < ls->n_supported_kinds; i++)
		if (!strcmp(ls->supported_kinds[i], k8s_okind_name(kind)))
			return true;
	return false;
}

/* ResolvedRefs over the deciding rule's backends. */
static int eval_backends(struct ctx *c, const struct k8s_route *r,
			 const struct k8s_route_rule *rule,
			 struct k8s_parent_status *ps)
{
	const char *reason = NULL;
	char msg[600] = "";
	int64_t gen = r->md.generation;

	for (size_t i = 0; rule && i < rule->n_backends && !reason; i++) {
		const struct k8s_backend_ref *b = &rule->backends[i];

		if ((*b->group && strcmp(b->group, "core")) ||
		    strcmp(b->kind, "Service")) {
			reason = "InvalidKind";
			snprintf(msg, sizeof(msg), "backendRef %.100s: %.60s%s%.60s is not "
				 "a Service", b->name, b->group, *b->group ? "/" : "",
				 b->kind);
		} else if (strcmp(b->namespace_, r->md.namespace_)) {
			reason = "RefNotPermitted";
			snprintf(msg, sizeof(msg), "backendRef %.63s/%.100s: other "
				 "namespaces need a ReferenceGrant, which anysteer "
				 "does not support yet", b->namespace_, b->name);
		} else if (c->in->service_exists &&
			   !c->in->service_exists(b->namespace_, b->name,
						  c->in->arg)) {
			reason = "BackendNotFound";
			snprintf(msg, sizeof(msg), "Service %.63s/%.100s not found",
				 b->namespace_, b->name);
		}
	}
	if (reason)
		return cond_add(&ps->conds, &ps->n_conds, gen, "ResolvedRefs", false,
				reason, "%s", msg);
	return cond_add(&ps->conds, &ps->n_conds, gen, "ResolvedRefs", true,
			"ResolvedRefs", "all backend references resolved");
}

static bool backend_ok(const struct ctx *c, const struct k8s_route *r,
		       const struct k8s_backend_ref *b)
{
	return (!*b->group || !strcmp(b->group, "core")) &&
	       !strcmp(b->kind, "Service") &&
	       !strcmp(b->namespace_, r->md.namespace_) &&
	       (!c->in->service_exists ||
		c->in->service_exists(b->namespace_, b->name, c->in->arg));
}

/* The route's first rule DNS can honour (*first, NULL if none) and a
 * description of the others in dropped; returns how many were dropped. */
static size_t dropped_rules(const struct k8s_route *r,
			    const struct k8s_route_rule **first,
			    char *dropped, size_t cap)
{
	size_t dl = 0, n_dropped = 0;

	*first = NULL;
	dropped[0] = 0;
	for (size_t i = 0; i < r->n_rules; i++) {
		if (!r->rules[i].unsupported) {
			if (!*first)
				*first = &r->rules[i];
			continue;
		}
		n_dropped++;
		if (dl < cap - 1) {
			int n = snprintf(dropped + dl, cap - dl,
					 "%s%zu%s%.60s%s (%.200s)", dl ? "; " : "", i,
					 *r->rules[i].name ? " \"" : "",
					 r->rules[i].name, *r->rules[i].name ? "\"" : "",
					 r->rules[i].unsupported);

			dl = n < 0 ? cap : AS_MIN(dl + (size_t)n, cap - 1);
		}
	}
	return n_dropped;
}

/* How far a parentRef got through a Gateway's listeners. */
struct reach {
	bool listener;	/* it selects a listener */
	bool allowed;	/* one of those admits the route */
	bool host;	/* and shares a hostname with it */
};

/* Listeners this parentRef selects, and which of them admit the route
 * (kind, namespace) and share a hostname with it: attach[i]. */
static struct reach select_listeners(const struct k8s_route *r,
				     const struct k8s_parent_ref *ref,
				     const struct k8s_gateway *g,
				     const struct k8s_obj_status *gst,
				     bool *attach)
{
	struct reach re = { false, false, false };

	for (size_t i = 0; i < g->n_listeners; i++) {
		const struct k8s_listener *l = &g->listeners[i];
		const struct k8s_listener_status *ls = &gst->listeners[i];

		if ((*ref->section && strcmp(ref->section, l->name)) ||
		    (ref->port && ref->port != l->port))
			continue;
		re.listener = true;
		if (!listener_ok(ls) || !kind_allowed(ls, r->kind) ||
		    !ns_allowed(l, g, r))
			continue;
		re.allowed = true;
		if (!r->n_hostnames) {
			re.host = true;
			attach[i] = true;
			continue;
		}
		for (size_t h = 0; h < r->n_hostnames; h++)
			if (k8s_hostname_intersect(r->hostnames[h], l->hostname,
						   NULL, 0)) {
				re.host = true;
				attach[i] = true;
			}
	}
	return re;
}

/* The Accepted condition (and PartiallyInvalid) of one parent: sets
 * *accepted; -1 when a condition could not be added. */
static int accept_parent(const struct k8s_route *r,
			 const struct k8s_parent_ref *ref,
			 const struct k8s_gateway *g, struct reach re,
			 bool any_rule, size_t n_dropped, const char *dropped,
			 struct k8s_parent_status *ps, bool *accepted)
{
	int64_t gen = r->md.generation;

	*accepted = false;
	if (!re.listener)
		return cond_add(&ps->conds, &ps->n_conds, gen, "Accepted", false,
			     "NoMatchingParent", "Gateway %s/%s has no listener%s%s%s",
			     g->md.namespace_, g->md.name, *ref->section ? " named " : "",
			     ref->section, ref->port ? " on that port" : "");
	if (!re.allowed)
		return cond_add(&ps->conds, &ps->n_conds, gen, "Accepted", false,
			     "NotAllowedByListeners",
			     "no listener of Gateway %s/%s admits %ss from namespace %s",
			     g->md.namespace_, g->md.name, k8s_okind_name(r->kind),
			     r->md.namespace_);
	if (!re.host)
		return cond_add(&ps->conds, &ps->n_conds, gen, "Accepted", false,
			     "NoMatchingListenerHostname",
			     "no hostname of the route matches a listener hostname");
	if (!any_rule && n_dropped)
		return cond_add(&ps->conds, &ps->n_conds, gen, "Accepted", false,
			     "UnsupportedValue",
			     "DNS routes by hostname only and every rule needs more: %s",
			     dropped);
	if (cond_add(&ps->conds, &ps->n_conds, gen, "Accepted", true, "Accepted",
		     "answered by DNS"))
		return -1;
	if (n_dropped &&
	    cond_add(&ps->conds, &ps->n_conds, gen, "PartiallyInvalid", true,
		     "UnsupportedValue",
		     "Dropped Rule(s) %s: DNS routes by hostname only", dropped))
		return -1;
	*accepted = true;
	return 0;
}

/* An accepted route: counted on the listeners it attaches to, and its
 * names (route hostnames within each listener's) claimed for rule. */
static int attach_route(struct ctx *c, const struct k8s_route *r,
			const struct k8s_route_rule *rule,
			const struct k8s_gateway *g, struct k8s_obj_status *gst,
			const bool *attach)
{
	char host[256];

	for (size_t i = 0; i < g->n_listeners; i++) {
		const struct k8s_listener *l = &g->listeners[i];

		if (!attach[i])
			continue;
		gst->listeners[i].attached_routes++;
		if (!rule)
			continue;
		if (!r->n_hostnames) {
			if (*l->hostname ? claim_add(c, r, rule, l->hostname) :
			    k8s__warn(&c->out->warnings, &c->out->n_warnings,
			         "NoHostname",
			         "%s %s/%s: neither the route nor listener %s has a "
			         "hostname: nothing for DNS to answer",
			         k8s_okind_name(r->kind), r->md.namespace_,
			         r->md.name, l->name) ||
			    (!*l->hostname &&
			     k8s__warn_obj(c->out->warnings, c->out->n_warnings,
					   r->kind, r->md.namespace_, r->md.name)))
				return -1;
			continue;
		}
		for (size_t h = 0; h < r->n_hostnames; h++)
			if (k8s_hostname_intersect(r->hostnames[h], l->hostname, host,
						   sizeof(host)) &&
			    claim_add(c, r, rule, host))
				return -1;
	}
	return 0;
}

/* One parentRef of a route that names one of our Gateways. */
static int eval_parent(struct ctx *c, const struct k8s_route *r,
		       const struct k8s_parent_ref *ref,
		       const struct k8s_gateway *g, struct k8s_obj_status *gst,
		       struct k8s_parent_status *ps)
{
	const struct k8s_route_rule *rule;
	char dropped[600];
	size_t n_dropped;
	bool *attach = NULL, accepted;
	struct reach re;
	int rc = -1;

	if (ref_copy(&ps->ref, ref))
		return -1;
	n_dropped = dropped_rules(r, &rule, dropped, sizeof(dropped));
	if (g->n_listeners && !(attach = calloc(g->n_listeners, sizeof(*attach))))
		return -1;
	re = select_listeners(r, ref, g, gst, attach);
	if (accept_parent(r, ref, g, re, rule != NULL, n_dropped, dropped, ps,
			  &accepted))
		goto out;
	if (accepted && attach_route(c, r, rule, g, gst, attach))
		goto out;
	if (eval_backends(c, r, rule, ps))
		goto out;
	rc = 0;
out:
	free(attach);
	return rc;
}

static int eval_route(struct ctx *c, const struct k8s_route *r)
{
	struct k8s_obj_status *st = NULL;

	for (size_t i = 0; i < r->n_parents; i++) {
		const struct k8s_parent_ref *ref = &r->parents[i];
		const struct k8s_gateway *g;
		size_t gi;

		if (strcmp(ref->group, GW_GROUP) || strcmp(ref->kind, "Gateway"))
			continue;
		g = NULL;
		for (gi = 0; gi < k8s_objs_count(c->in->gateways); gi++) {
			const struct k8s_gateway *x = k8s_objs_at(c->in->gateways, gi);

			if (!strcmp(x->md.namespace_, ref->namespace_) &&
			    !strcmp(x->md.name, ref->name)) {
				g = x;
				break;
			}
		}
		/* Not a Gateway of ours: another controller's business. */
		if (!g || c->gw_status[gi] < 0)
			continue;
		if (!st) {
			if (!(st = status_add(c->out, r->kind, &r->md)) ||
			    !(st->parents = calloc(r->n_parents, sizeof(*st->parents))))
				return -1;
		}
		struct k8s_obj_status *gst = &c->out->status[c->gw_status[gi]];

		/* status_add may have moved the array: re-find st. */
		st = &c->out->status[c->out->n_status - 1];
		st->n_parents++;
		if (eval_parent(c, r, ref, g, gst, &st->parents[st->n_parents - 1]))
			return -1;
	}
	/* No parent of ours any more, but our entries still in the status:
	 * an empty status record, whose patch removes them. */
	for (size_t i = 0; !st && i < r->n_status; i++)
		if (!strcmp(r->status[i].controller, K8S_GATEWAY_CONTROLLER)) {
			if (!status_add(c->out, r->kind, &r->md))
				return -1;
			break;
		}
	return 0;
}

/* Turns the sorted claims into names: the first claim of a hostname wins. */
static int build_names(struct ctx *c)
{
	struct k8s_gw_result *out = c->out;

	if (c->n_claims > 1)
		qsort(c->claims, c->n_claims, sizeof(*c->claims), claim_cmp);
	if (c->n_claims && !(out->names = calloc(c->n_claims, sizeof(*out->names))))
		return -1;
	for (size_t i = 0; i < c->n_claims; i++) {
		const struct claim *cl = &c->claims[i];
		const struct k8s_route *r = cl->route;
		struct k8s_route_name *n;

		if (i && !strcmp(cl->hostname, c->claims[i - 1].hostname)) {
			const struct k8s_route *w = c->claims[i - 1].route;

			if (w != r &&
			    (k8s__warn(&out->warnings, &out->n_warnings, "HostnameConflict",
				       "%s %s/%s: %s is already answered for %s %s/%s (older)",
				       k8s_okind_name(r->kind), r->md.namespace_, r->md.name,
				       cl->hostname, k8s_okind_name(w->kind),
				       w->md.namespace_, w->md.name) ||
			     k8s__warn_obj(out->warnings, out->n_warnings, r->kind,
					   r->md.namespace_, r->md.name)))
				return -1;
			continue;
		}
		n = &out->names[out->n_names++];
		n->hostname = strdup(cl->hostname);
		n->label = strdup(cl->label);
		n->wildcard = cl->wildcard;
		n->route_kind = r->kind;
		n->route_ns = strdup(r->md.namespace_);
		n->route_name = strdup(r->md.name);
		if (!n->hostname || !n->label || !n->route_ns || !n->route_name)
			return -1;
		if (cl->rule->n_backends &&
		    !(n->backends = calloc(cl->rule->n_backends, sizeof(*n->backends))))
			return -1;
		for (size_t j = 0; j < cl->rule->n_backends; j++) {
			const struct k8s_backend_ref *b = &cl->rule->backends[j];
			struct k8s_weighted_backend *wb;

			/* A backend that does not resolve gets no traffic
			 * (HTTP would answer 500 for its share; DNS cannot). */
			if (!backend_ok(c, r, b))
				continue;
			wb = &n->backends[n->n_backends++];
			wb->namespace_ = strdup(b->namespace_);
			wb->service = strdup(b->name);
			wb->port = b->port;
			wb->weight = b->weight;
			if (!wb->namespace_ || !wb->service)
				return -1;
		}
	}
	return 0;
}

/* GatewayClasses of our controller: Accepted. */
static int eval_classes(const struct k8s_gw_input *in, struct k8s_gw_result *out)
{
	for (size_t i = 0; i < k8s_objs_count(in->classes); i++) {
		const struct k8s_gateway_class *gc = k8s_objs_at(in->classes, i);
		struct k8s_obj_status *st;

		if (strcmp(gc->controller, K8S_GATEWAY_CONTROLLER))
			continue;
		if (!(st = status_add(out, K8S_O_GATEWAYCLASS, &gc->md)) ||
		    cond_add(&st->conds, &st->n_conds, gc->md.generation, "Accepted",
			     true, "Accepted", "handled by anysteer: routes are answered by DNS"))
			return -1;
	}
	return 0;
}

/* Gateway i's status, when its class is ours: its listeners and its
 * Accepted and Programmed conditions. Sets c->gw_status[i] (-1: not ours). */
static int eval_gateway(struct ctx *c, size_t i)
{
	const struct k8s_gateway *g = k8s_objs_at(c->in->gateways, i);
	struct k8s_gw_result *out = c->out;
	struct k8s_obj_status *st;
	int64_t gen = g->md.generation;
	int valid;

	c->gw_status[i] = -1;
	if (!class_ours(c->in, g->class_name))
		return 0;
	if (!(st = status_add(out, K8S_O_GATEWAY, &g->md)))
		return -1;
	c->gw_status[i] = (ssize_t)out->n_status - 1;
	if ((valid = eval_listeners(g, st)) < 0)
		return -1;
	if (g->n_addresses) {
		if (cond_add(&st->conds, &st->n_conds, gen, "Accepted", false,
			     "UnsupportedAddress",
			     "anysteer has no addresses to assign: names are "
			     "answered with the ready endpoints") ||
		    cond_add(&st->conds, &st->n_conds, gen, "Programmed", false,
			     "AddressNotUsable", "spec.addresses cannot be honoured"))
			return -1;
	} else if (!valid) {
		if (cond_add(&st->conds, &st->n_conds, gen, "Accepted", false,
			     "ListenersNotValid", "no listener is valid") ||
		    cond_add(&st->conds, &st->n_conds, gen, "Programmed", false,
			     "Invalid", "no listener is valid"))
			return -1;
	} else {
		bool all = (size_t)valid == g->n_listeners;

		if (cond_add(&st->conds, &st->n_conds, gen, "Accepted", true,
			     all ? "Accepted" : "ListenersNotValid",
			     all ? "answered by DNS" :
			     "answered by DNS; some listeners are not valid") ||
		    cond_add(&st->conds, &st->n_conds, gen, "Programmed", true,
			     "Programmed", "every anysteer agent answers its routes' names"))
			return -1;
	}
	return 0;
}

int k8s_gateway_evaluate(const struct k8s_gw_input *in,
			 struct k8s_gw_result *out)
{
	struct ctx c = { .in = in, .out = out };
	size_t n_gw = k8s_objs_count(in->gateways);
	int rc = AS_ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!in->zone)
		return AS_EINVAL;
	c.gw_status = calloc(n_gw + 1, sizeof(*c.gw_status));
	if (!c.gw_status)
		return AS_ENOMEM;
	if (eval_classes(in, out))
		goto out;
	for (size_t i = 0; i < n_gw; i++)
		if (eval_gateway(&c, i))
			goto out;
	for (size_t i = 0; i < k8s_objs_count(in->httproutes); i++)
		if (eval_route(&c, k8s_objs_at(in->httproutes, i)))
			goto out;
	for (size_t i = 0; i < k8s_objs_count(in->grpcroutes); i++)
		if (eval_route(&c, k8s_objs_at(in->grpcroutes, i)))
			goto out;
	if (build_names(&c))
		goto out;
	rc = AS_OK;
out:
	for (size_t i = 0; i < c.n_claims; i++) {
		free(c.claims[i].hostname);
		free(c.claims[i].label);
	}
	free(c.claims);
	free(c.gw_status);
	if (rc)
		k8s_gw_result_free(out);
	return rc;
}
