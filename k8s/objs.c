/*
 * k8s/objs.c - IngressClass, Ingress, GatewayClass, Gateway, HTTPRoute
 * and GRPCRoute: JSON in, plain structs out, held in one sorted table
 * per kind.
 *
 * Design. The same contract as the Service store (k8s_model.c): each
 * object is decoded completely into a fresh struct before the table is
 * touched, so a malformed object is counted and skipped and its previous
 * record stays; a relist marks, unmarks what the pages contain and drops
 * the rest at the end. Only the fields the DNS decisions and the status
 * writer need are kept; everything the specification allows but DNS
 * cannot do (matches, filters, timeouts) is reduced to a reason string on
 * the rule, which is all the evaluation needs to say so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

#define GW_GROUP "gateway.networking.k8s.io"
#define MAX_ITEMS 1000		/* per array inside one object */

static const struct {
	const char *kind, *list, *resource, *api;
	bool cluster;
} okinds[K8S_N_OKINDS] = {
	[K8S_O_INGRESSCLASS] = { "IngressClass", "IngressClassList",
				 "ingressclasses", "networking.k8s.io/v1", true },
	[K8S_O_INGRESS] = { "Ingress", "IngressList", "ingresses",
			    "networking.k8s.io/v1", false },
	[K8S_O_GATEWAYCLASS] = { "GatewayClass", "GatewayClassList",
				 "gatewayclasses", GW_GROUP "/v1", true },
	[K8S_O_GATEWAY] = { "Gateway", "GatewayList", "gateways",
			    GW_GROUP "/v1", false },
	[K8S_O_HTTPROUTE] = { "HTTPRoute", "HTTPRouteList", "httproutes",
			      GW_GROUP "/v1", false },
	[K8S_O_GRPCROUTE] = { "GRPCRoute", "GRPCRouteList", "grpcroutes",
			      GW_GROUP "/v1", false },
};

const char *k8s_okind_name(int okind)
{
	return okind >= 0 && okind < K8S_N_OKINDS ? okinds[okind].kind : NULL;
}

const char *k8s_okind_resource(int okind)
{
	return okind >= 0 && okind < K8S_N_OKINDS ? okinds[okind].resource : NULL;
}

const char *k8s_okind_api_version(int okind)
{
	return okind >= 0 && okind < K8S_N_OKINDS ? okinds[okind].api : NULL;
}

/* ---- freeing -------------------------------------------------------------- */

static void backend_free(struct k8s_ingress_backend *b)
{
	free(b->service);
	free(b->port_name);
}

static void ingress_free(struct k8s_ingress *g)
{
	k8s__meta_free(&g->md);
	free(g->class_name);
	free(g->class_annotation);
	backend_free(&g->default_backend);
	for (size_t i = 0; i < g->n_rules; i++) {
		struct k8s_ingress_rule *r = &g->rules[i];

		free(r->host);
		for (size_t j = 0; j < r->n_paths; j++) {
			free(r->paths[j].path);
			backend_free(&r->paths[j].backend);
		}
		free(r->paths);
	}
	free(g->rules);
	k8s__strv_free(g->lb_hostnames, g->n_lb_hostnames);
	k8s__strv_free(g->lb_entries, g->n_lb_entries);
	k8s__intent_free(&g->intent);
	free(g);
}

static void listener_free(struct k8s_listener *l)
{
	free(l->name);
	free(l->hostname);
	free(l->protocol);
	k8s__strv_free(l->kinds, l->n_kinds);
}

static void parent_ref_free(struct k8s_parent_ref *p)
{
	free(p->group);
	free(p->kind);
	free(p->namespace_);
	free(p->name);
	free(p->section);
}

static void route_free(struct k8s_route *r)
{
	k8s__meta_free(&r->md);
	for (size_t i = 0; i < r->n_parents; i++)
		parent_ref_free(&r->parents[i]);
	free(r->parents);
	k8s__strv_free(r->hostnames, r->n_hostnames);
	for (size_t i = 0; i < r->n_rules; i++) {
		struct k8s_route_rule *u = &r->rules[i];

		free(u->name);
		free(u->unsupported);
		for (size_t j = 0; j < u->n_backends; j++) {
			free(u->backends[j].group);
			free(u->backends[j].kind);
			free(u->backends[j].namespace_);
			free(u->backends[j].name);
		}
		free(u->backends);
	}
	free(r->rules);
	k8s__intent_free(&r->intent);
	for (size_t i = 0; i < r->n_status; i++) {
		parent_ref_free(&r->status[i].ref);
		free(r->status[i].controller);
		k8s__conds_free(r->status[i].conds, r->status[i].n_conds);
	}
	free(r->status);
	free(r);
}

void k8s_obj_free(int okind, void *obj)
{
	if (!obj)
		return;
	switch (okind) {
	case K8S_O_INGRESSCLASS: {
		struct k8s_ingress_class *c = obj;

		k8s__meta_free(&c->md);
		free(c->controller);
		free(c);
		break;
	}
	case K8S_O_INGRESS:
		ingress_free(obj);
		break;
	case K8S_O_GATEWAYCLASS: {
		struct k8s_gateway_class *c = obj;

		k8s__meta_free(&c->md);
		free(c->controller);
		k8s__conds_free(c->conds, c->n_conds);
		free(c);
		break;
	}
	case K8S_O_GATEWAY: {
		struct k8s_gateway *g = obj;

		k8s__meta_free(&g->md);
		free(g->class_name);
		for (size_t i = 0; i < g->n_listeners; i++)
			listener_free(&g->listeners[i]);
		free(g->listeners);
		k8s__conds_free(g->conds, g->n_conds);
		for (size_t i = 0; i < g->n_listener_status; i++) {
			struct k8s_listener_status *ls = &g->listener_status[i];

			free(ls->name);
			k8s__strv_free(ls->supported_kinds, ls->n_supported_kinds);
			k8s__conds_free(ls->conds, ls->n_conds);
		}
		free(g->listener_status);
		free(g);
		break;
	}
	case K8S_O_HTTPROUTE:
	case K8S_O_GRPCROUTE:
		route_free(obj);
		break;
	default:
		break;
	}
}

/* ---- Ingress ---------------------------------------------------------------- */

static int decode_ingress_class(const json_t *o, void **out)
{
	struct k8s_ingress_class *c = calloc(1, sizeof(*c));
	json_t *spec, *md, *ann;
	const char *ctl, *def = NULL;

	if (!c)
		return AS_ENOMEM;
	if (k8s__meta(o, true, &c->md))
		goto bad;
	md = json_object_get(o, "metadata");
	if (k8s__typed(md, "annotations", JSON_OBJECT, &ann) ||
	    (ann && k8s__str(ann, K8S_ANN_DEFAULT_CLASS, &def)) ||
	    k8s__typed(o, "spec", JSON_OBJECT, &spec) ||
	    (spec && k8s__str(spec, "controller", &ctl)))
		goto bad;
	if (!spec)
		ctl = NULL;
	c->is_default = def && !strcmp(def, "true");
	c->controller = k8s__dup(ctl);
	if (!c->controller)
		goto bad;
	*out = c;
	return AS_OK;
bad:
	k8s_obj_free(K8S_O_INGRESSCLASS, c);
	return AS_EMALFORMED;
}

/* The intent annotations of an Ingress or a route. A bad value does not
 * make the object malformed (its names and backends still apply): it is
 * kept as the reason, the table keeps the last valid intent (keep_intent)
 * and publish.c tells it. -1 on memory only. */
static int decode_intent(const json_t *ann, struct k8s_intent *in)
{
	char why[256];

	if (!k8s__intent_parse(ann, in, why, sizeof(why)))
		return 0;
	return (in->error = strdup(why)) ? 0 : -1;
}

/* spec.defaultBackend or a path's backend: {service: {name, port:
 * {name|number}}} or {resource: {...}}. */
static int decode_ing_backend(const json_t *o, struct k8s_ingress_backend *b)
{
	json_t *svc, *port, *res;
	const char *name, *pname;
	int64_t num = 0;

	if (!json_is_object(o) || k8s__typed(o, "service", JSON_OBJECT, &svc) ||
	    k8s__typed(o, "resource", JSON_OBJECT, &res))
		return -1;
	if (!svc) {
		if (!res)
			return -1;
		b->port_name = strdup("");
		return b->port_name ? 0 : -1;
	}
	if (k8s__str(svc, "name", &name) || !name || !*name ||
	    strchr(name, '/') || k8s__typed(svc, "port", JSON_OBJECT, &port) ||
	    (port && (k8s__str(port, "name", &pname) ||
		      k8s__int(port, "number", 1, 65535, &num))))
		return -1;
	if (!port)
		pname = NULL;
	b->service = strdup(name);
	b->port_name = k8s__dup(num ? NULL : pname);
	b->port = (uint16_t)num;
	return b->service && b->port_name ? 0 : -1;
}

static int decode_ing_rule(const json_t *o, struct k8s_ingress_rule *r)
{
	json_t *http, *paths;
	const char *host;

	if (!json_is_object(o) || k8s__str(o, "host", &host) ||
	    k8s__typed(o, "http", JSON_OBJECT, &http) ||
	    (http && k8s__typed(http, "paths", JSON_ARRAY, &paths)))
		return -1;
	if (!http)
		paths = NULL;
	r->host = k8s__dup(host);
	if (!r->host)
		return -1;
	size_t n = json_array_size(paths);

	if (n > MAX_ITEMS)
		return -1;
	if (n && !(r->paths = calloc(n, sizeof(*r->paths))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(paths, i), *be;
		const char *path, *type;
		struct k8s_ingress_path *d = &r->paths[i];

		r->n_paths = i + 1;
		if (!json_is_object(p) || k8s__str(p, "path", &path) ||
		    k8s__str(p, "pathType", &type) ||
		    k8s__typed(p, "backend", JSON_OBJECT, &be) || !be)
			return -1;
		if (!type || !strcmp(type, "ImplementationSpecific"))
			d->type = K8S_PATH_IMPL;
		else if (!strcmp(type, "Prefix"))
			d->type = K8S_PATH_PREFIX;
		else if (!strcmp(type, "Exact"))
			d->type = K8S_PATH_EXACT;
		else
			return -1;
		d->path = k8s__dup(path);
		if (!d->path || decode_ing_backend(be, &d->backend))
			return -1;
	}
	return 0;
}

static int decode_ingress(const json_t *o, void **out)
{
	struct k8s_ingress *g = calloc(1, sizeof(*g));
	json_t *md, *ann, *spec, *rules, *tls, *def, *st, *lb, *ing;
	const char *cls = NULL, *annc = NULL;
	size_t cap = 0;

	if (!g)
		return AS_ENOMEM;
	if (k8s__meta(o, false, &g->md))
		goto bad;
	md = json_object_get(o, "metadata");
	if (k8s__typed(md, "annotations", JSON_OBJECT, &ann) ||
	    (ann && k8s__str(ann, K8S_ANN_INGRESS_CLASS, &annc)) ||
	    k8s__typed(o, "spec", JSON_OBJECT, &spec) || !spec ||
	    k8s__str(spec, "ingressClassName", &cls) ||
	    k8s__typed(spec, "rules", JSON_ARRAY, &rules) ||
	    k8s__typed(spec, "tls", JSON_ARRAY, &tls) ||
	    k8s__typed(spec, "defaultBackend", JSON_OBJECT, &def) ||
	    k8s__typed(o, "status", JSON_OBJECT, &st))
		goto bad;
	if ((cls && !(g->class_name = strdup(cls))) ||
	    (annc && !(g->class_annotation = strdup(annc))) ||
	    decode_intent(ann, &g->intent))
		goto bad;
	if (def) {
		g->has_default_backend = true;
		if (decode_ing_backend(def, &g->default_backend))
			goto bad;
	}
	g->n_tls = json_array_size(tls);
	size_t n = json_array_size(rules);

	if (n > MAX_ITEMS)
		goto bad;
	if (n && !(g->rules = calloc(n, sizeof(*g->rules))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		g->n_rules = i + 1;
		if (decode_ing_rule(json_array_get(rules, i), &g->rules[i]))
			goto bad;
	}
	/* The status as it is, so the leader writes only when it differs. */
	lb = NULL;
	ing = NULL;
	if (st && (k8s__typed(st, "loadBalancer", JSON_OBJECT, &lb) ||
		   (lb && k8s__typed(lb, "ingress", JSON_ARRAY, &ing))))
		goto bad;
	size_t ecap = 0;

	for (size_t i = 0; i < json_array_size(ing) && i < MAX_ITEMS; i++) {
		json_t *e = json_array_get(ing, i);
		const char *h, *ip;
		char *raw;

		if (!json_is_object(e) || k8s__str(e, "hostname", &h) ||
		    k8s__str(e, "ip", &ip))
			goto bad;
		if (h && k8s__strv_add(&g->lb_hostnames, &g->n_lb_hostnames,
				       &cap, h))
			goto bad;
		if (ip)
			g->n_lb_ips++;
		/* As it is, for a patch that must keep other writers' entries. */
		raw = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
		if (!raw || k8s__strv_add(&g->lb_entries, &g->n_lb_entries, &ecap, raw)) {
			free(raw);
			goto bad;
		}
		free(raw);
	}
	*out = g;
	return AS_OK;
bad:
	ingress_free(g);
	return AS_EMALFORMED;
}

/* ---- Gateway API ---------------------------------------------------------------- */

static int decode_gateway_class(const json_t *o, void **out)
{
	struct k8s_gateway_class *c = calloc(1, sizeof(*c));
	json_t *spec, *st, *conds = NULL;
	const char *ctl;

	if (!c)
		return AS_ENOMEM;
	if (k8s__meta(o, true, &c->md) ||
	    k8s__typed(o, "spec", JSON_OBJECT, &spec) || !spec ||
	    k8s__str(spec, "controllerName", &ctl) || !ctl ||
	    k8s__typed(o, "status", JSON_OBJECT, &st) ||
	    (st && k8s__typed(st, "conditions", JSON_ARRAY, &conds)) ||
	    !(c->controller = strdup(ctl)) ||
	    k8s__conds(conds, &c->conds, &c->n_conds))
		goto bad;
	*out = c;
	return AS_OK;
bad:
	k8s_obj_free(K8S_O_GATEWAYCLASS, c);
	return AS_EMALFORMED;
}

static int decode_listener(const json_t *o, struct k8s_listener *l)
{
	json_t *ar, *ns = NULL, *kinds = NULL;
	const char *name, *host, *proto, *from = NULL;
	int64_t port = 0;
	size_t cap = 0;

	if (!json_is_object(o) || k8s__str(o, "name", &name) || !name ||
	    k8s__str(o, "hostname", &host) || k8s__str(o, "protocol", &proto) ||
	    !proto || k8s__int(o, "port", 1, 65535, &port) ||
	    k8s__typed(o, "allowedRoutes", JSON_OBJECT, &ar) ||
	    (ar && (k8s__typed(ar, "namespaces", JSON_OBJECT, &ns) ||
		    k8s__typed(ar, "kinds", JSON_ARRAY, &kinds))) ||
	    (ns && k8s__str(ns, "from", &from)))
		return -1;
	l->name = strdup(name);
	l->hostname = k8s__dup(host);
	l->protocol = strdup(proto);
	l->port = (uint16_t)port;
	if (!l->name || !l->hostname || !l->protocol)
		return -1;
	if (!from || !strcmp(from, "Same"))
		l->from = K8S_FROM_SAME;
	else if (!strcmp(from, "All"))
		l->from = K8S_FROM_ALL;
	else if (!strcmp(from, "Selector"))
		l->from = K8S_FROM_SELECTOR;
	else
		return -1;
	for (size_t i = 0; i < json_array_size(kinds) && i < MAX_ITEMS; i++) {
		json_t *k = json_array_get(kinds, i);
		const char *group, *kind;

		if (!json_is_object(k) || k8s__str(k, "group", &group) ||
		    k8s__str(k, "kind", &kind) || !kind)
			return -1;
		if (group && strcmp(group, GW_GROUP))
			l->kinds_foreign = true;
		else if (k8s__strv_add(&l->kinds, &l->n_kinds, &cap, kind))
			return -1;
	}
	return 0;
}

static int decode_gateway(const json_t *o, void **out)
{
	struct k8s_gateway *g = calloc(1, sizeof(*g));
	json_t *spec, *ls, *addrs, *st, *conds = NULL, *lst = NULL;
	const char *cls;

	if (!g)
		return AS_ENOMEM;
	if (k8s__meta(o, false, &g->md) ||
	    k8s__typed(o, "spec", JSON_OBJECT, &spec) || !spec ||
	    k8s__str(spec, "gatewayClassName", &cls) || !cls ||
	    k8s__typed(spec, "listeners", JSON_ARRAY, &ls) ||
	    k8s__typed(spec, "addresses", JSON_ARRAY, &addrs) ||
	    k8s__typed(o, "status", JSON_OBJECT, &st) ||
	    (st && (k8s__typed(st, "conditions", JSON_ARRAY, &conds) ||
		    k8s__typed(st, "listeners", JSON_ARRAY, &lst))) ||
	    !(g->class_name = strdup(cls)) ||
	    k8s__conds(conds, &g->conds, &g->n_conds))
		goto bad;
	g->n_addresses = json_array_size(addrs);
	size_t n = json_array_size(ls);

	if (n > 64)
		goto bad;
	if (n && !(g->listeners = calloc(n, sizeof(*g->listeners))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		g->n_listeners = i + 1;
		if (decode_listener(json_array_get(ls, i), &g->listeners[i]))
			goto bad;
	}
	/* The listener status as written, so an unchanged one is not
	 * written again. */
	n = json_array_size(lst);
	if (n > 64)
		goto bad;
	if (n && !(g->listener_status = calloc(n, sizeof(*g->listener_status))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(lst, i), *kinds, *lc;
		struct k8s_listener_status *d = &g->listener_status[i];
		const char *name;
		int64_t att = 0;
		size_t cap = 0;

		g->n_listener_status = i + 1;
		if (!json_is_object(e) || k8s__str(e, "name", &name) || !name ||
		    k8s__int(e, "attachedRoutes", 0, UINT32_MAX, &att) ||
		    k8s__typed(e, "supportedKinds", JSON_ARRAY, &kinds) ||
		    k8s__typed(e, "conditions", JSON_ARRAY, &lc) ||
		    !(d->name = strdup(name)) ||
		    k8s__conds(lc, &d->conds, &d->n_conds))
			goto bad;
		d->attached_routes = (uint32_t)att;
		for (size_t j = 0; j < json_array_size(kinds) && j < 16; j++) {
			json_t *k = json_array_get(kinds, j);
			const char *kind;

			if (!json_is_object(k) || k8s__str(k, "kind", &kind) || !kind ||
			    k8s__strv_add(&d->supported_kinds,
					  &d->n_supported_kinds, &cap, kind))
				goto bad;
		}
	}
	*out = g;
	return AS_OK;
bad:
	k8s_obj_free(K8S_O_GATEWAY, g);
	return AS_EMALFORMED;
}

static int decode_parent_ref(const json_t *o, const char *route_ns,
			     struct k8s_parent_ref *p)
{
	const char *group, *kind, *ns, *name, *sec;
	int64_t port = 0;

	if (!json_is_object(o) || k8s__str(o, "group", &group) ||
	    k8s__str(o, "kind", &kind) || k8s__str(o, "namespace", &ns) ||
	    k8s__str(o, "name", &name) || !name ||
	    k8s__str(o, "sectionName", &sec) ||
	    k8s__int(o, "port", 1, 65535, &port))
		return -1;
	p->group = strdup(group ? group : GW_GROUP);
	p->kind = strdup(kind ? kind : "Gateway");
	p->namespace_ = strdup(ns && *ns ? ns : route_ns);
	p->name = strdup(name);
	p->section = k8s__dup(sec);
	p->port = (uint16_t)port;
	return p->group && p->kind && p->namespace_ && p->name && p->section ?
	       0 : -1;
}

/* Appends "what" to the rule's list of unsupported features. */
static int unsupported(struct k8s_route_rule *u, const char *what)
{
	char *s;

	if (u->unsupported && strstr(u->unsupported, what))
		return 0;
	if (asprintf(&s, "%s%s%s", u->unsupported ? u->unsupported : "",
		     u->unsupported ? ", " : "", what) < 0)
		return -1;
	free(u->unsupported);
	u->unsupported = s;
	return 0;
}

/* HTTPRouteMatch: only "PathPrefix /" and nothing else matches every
 * request, which is the one match DNS can honour. */
static int check_http_match(const json_t *m, struct k8s_route_rule *u)
{
	json_t *path, *hdr, *qp;
	const char *type = NULL, *value = NULL, *method;
	char buf[160];

	if (!json_is_object(m) || k8s__typed(m, "path", JSON_OBJECT, &path) ||
	    (path && (k8s__str(path, "type", &type) ||
		      k8s__str(path, "value", &value))) ||
	    k8s__typed(m, "headers", JSON_ARRAY, &hdr) ||
	    k8s__typed(m, "queryParams", JSON_ARRAY, &qp) ||
	    k8s__str(m, "method", &method))
		return -1;
	if (!type)
		type = "PathPrefix";
	if (!value)
		value = "/";
	if (strcmp(type, "PathPrefix") || strcmp(value, "/")) {
		snprintf(buf, sizeof(buf), "path match %.100s (%.20s)", value, type);
		if (unsupported(u, buf))
			return -1;
	}
	if (json_array_size(hdr) && unsupported(u, "header match"))
		return -1;
	if (json_array_size(qp) && unsupported(u, "query parameter match"))
		return -1;
	if (method && unsupported(u, "method match"))
		return -1;
	return 0;
}

/* GRPCRouteMatch: any method or header match selects some requests. */
static int check_grpc_match(const json_t *m, struct k8s_route_rule *u)
{
	json_t *meth, *hdr;
	const char *svc = NULL, *mname = NULL;

	if (!json_is_object(m) || k8s__typed(m, "method", JSON_OBJECT, &meth) ||
	    (meth && (k8s__str(meth, "service", &svc) ||
		      k8s__str(meth, "method", &mname))) ||
	    k8s__typed(m, "headers", JSON_ARRAY, &hdr))
		return -1;
	if ((svc || mname) && unsupported(u, "gRPC method match"))
		return -1;
	if (json_array_size(hdr) && unsupported(u, "header match"))
		return -1;
	return 0;
}

static int decode_backend_ref(const json_t *o, const char *route_ns,
			      struct k8s_backend_ref *b)
{
	const char *group, *kind, *ns, *name;
	int64_t port = 0, weight = 1;
	json_t *f;

	if (!json_is_object(o) || k8s__str(o, "group", &group) ||
	    k8s__str(o, "kind", &kind) || k8s__str(o, "namespace", &ns) ||
	    k8s__str(o, "name", &name) || !name ||
	    k8s__int(o, "port", 1, 65535, &port) ||
	    k8s__int(o, "weight", 0, 1000000, &weight) ||
	    k8s__typed(o, "filters", JSON_ARRAY, &f))
		return -1;
	b->group = k8s__dup(group);
	b->kind = strdup(kind ? kind : "Service");
	b->namespace_ = strdup(ns && *ns ? ns : route_ns);
	b->name = strdup(name);
	b->port = (uint16_t)port;
	b->weight = (uint32_t)weight;
	b->has_filters = json_array_size(f) > 0;
	return b->group && b->kind && b->namespace_ && b->name ? 0 : -1;
}

static int decode_route_rule(int okind, const json_t *o, const char *ns,
			     struct k8s_route_rule *u)
{
	json_t *matches, *filters, *brefs, *v;
	const char *name;

	if (!json_is_object(o) || k8s__str(o, "name", &name) ||
	    k8s__typed(o, "matches", JSON_ARRAY, &matches) ||
	    k8s__typed(o, "filters", JSON_ARRAY, &filters) ||
	    k8s__typed(o, "backendRefs", JSON_ARRAY, &brefs) ||
	    !(u->name = k8s__dup(name)))
		return -1;
	for (size_t i = 0; i < json_array_size(matches) && i < MAX_ITEMS; i++)
		if ((okind == K8S_O_HTTPROUTE ?
		     check_http_match : check_grpc_match)(json_array_get(matches, i), u))
			return -1;
	if (json_array_size(filters) && unsupported(u, "filters"))
		return -1;
	/* Fields of the standard and experimental channels that change
	 * what a request gets, none of which DNS can do. */
	static const char *const other[][2] = {
		{ "timeouts", "timeouts" },
		{ "retry", "retry" },
		{ "sessionPersistence", "session persistence" },
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(other); i++) {
		v = json_object_get(o, other[i][0]);
		if (v && !json_is_null(v) && unsupported(u, other[i][1]))
			return -1;
	}
	size_t n = json_array_size(brefs);

	if (n > MAX_ITEMS)
		return -1;
	if (n && !(u->backends = calloc(n, sizeof(*u->backends))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		u->n_backends = i + 1;
		if (decode_backend_ref(json_array_get(brefs, i), ns, &u->backends[i]))
			return -1;
		if (u->backends[i].has_filters &&
		    unsupported(u, "backendRef filters"))
			return -1;
	}
	return 0;
}

static int decode_route(int okind, const json_t *o, void **out)
{
	struct k8s_route *r = calloc(1, sizeof(*r));
	json_t *spec, *prefs, *hosts, *rules, *st, *parents = NULL, *ann;
	size_t cap = 0, n;

	if (!r)
		return AS_ENOMEM;
	r->kind = okind;
	if (k8s__meta(o, false, &r->md) ||
	    k8s__typed(json_object_get(o, "metadata"), "annotations",
		       JSON_OBJECT, &ann) ||
	    decode_intent(ann, &r->intent) ||
	    k8s__typed(o, "spec", JSON_OBJECT, &spec) || !spec ||
	    k8s__typed(spec, "parentRefs", JSON_ARRAY, &prefs) ||
	    k8s__typed(spec, "hostnames", JSON_ARRAY, &hosts) ||
	    k8s__typed(spec, "rules", JSON_ARRAY, &rules) ||
	    k8s__typed(o, "status", JSON_OBJECT, &st) ||
	    (st && k8s__typed(st, "parents", JSON_ARRAY, &parents)))
		goto bad;
	n = json_array_size(prefs);
	if (n > 64 || json_array_size(hosts) > 64 ||
	    json_array_size(rules) > MAX_ITEMS || json_array_size(parents) > 64)
		goto bad;
	if (n && !(r->parents = calloc(n, sizeof(*r->parents))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		r->n_parents = i + 1;
		if (decode_parent_ref(json_array_get(prefs, i), r->md.namespace_,
				      &r->parents[i]))
			goto bad;
	}
	for (size_t i = 0; i < json_array_size(hosts); i++) {
		const char *h = json_string_value(json_array_get(hosts, i));

		if (!h || k8s__strv_add(&r->hostnames, &r->n_hostnames, &cap, h))
			goto bad;
	}
	n = json_array_size(rules);
	if (n && !(r->rules = calloc(n, sizeof(*r->rules))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		r->n_rules = i + 1;
		if (decode_route_rule(okind, json_array_get(rules, i),
				      r->md.namespace_, &r->rules[i]))
			goto bad;
	}
	n = json_array_size(parents);
	if (n && !(r->status = calloc(n, sizeof(*r->status))))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(parents, i), *ref, *conds;
		const char *ctl;
		struct k8s_route_parent_status *s = &r->status[i];

		r->n_status = i + 1;
		if (!json_is_object(p) ||
		    k8s__typed(p, "parentRef", JSON_OBJECT, &ref) || !ref ||
		    k8s__str(p, "controllerName", &ctl) ||
		    k8s__typed(p, "conditions", JSON_ARRAY, &conds) ||
		    decode_parent_ref(ref, r->md.namespace_, &s->ref) ||
		    !(s->controller = k8s__dup(ctl)) ||
		    k8s__conds(conds, &s->conds, &s->n_conds))
			goto bad;
	}
	*out = r;
	return AS_OK;
bad:
	route_free(r);
	return AS_EMALFORMED;
}

static int decode_json(int okind, const json_t *o, void **out)
{
	*out = NULL;
	switch (okind) {
	case K8S_O_INGRESSCLASS:
		return decode_ingress_class(o, out);
	case K8S_O_INGRESS:
		return decode_ingress(o, out);
	case K8S_O_GATEWAYCLASS:
		return decode_gateway_class(o, out);
	case K8S_O_GATEWAY:
		return decode_gateway(o, out);
	case K8S_O_HTTPROUTE:
	case K8S_O_GRPCROUTE:
		return decode_route(okind, o, out);
	default:
		return AS_EINVAL;
	}
}

int k8s_obj_decode(int okind, const char *json, size_t len, void **out)
{
	json_t *root;
	const char *k;
	int rc;

	*out = NULL;
	if (okind < 0 || okind >= K8S_N_OKINDS)
		return AS_EINVAL;
	root = k8s__load(json, len);
	if (!root)
		return AS_EMALFORMED;
	if (k8s__str(root, "kind", &k) || (k && strcmp(k, okinds[okind].kind)))
		rc = AS_EMALFORMED;
	else
		rc = decode_json(okind, root, out);
	json_decref(root);
	return rc;
}

/* ---- the table ------------------------------------------------------------------ */

struct item {
	char *key;		/* "ns/name", or "name" for cluster-scoped */
	void *obj;
	bool seen;
};

struct k8s_objs {
	int okind;
	struct item *v;
	size_t n, cap;
	bool relisting;
	uint64_t malformed;
};

int k8s_objs_new(int okind, k8s_objs_t **out)
{
	*out = NULL;
	if (okind < 0 || okind >= K8S_N_OKINDS)
		return AS_EINVAL;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return AS_ENOMEM;
	(*out)->okind = okind;
	return AS_OK;
}

void k8s_objs_free(k8s_objs_t *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].key);
		k8s_obj_free(t->okind, t->v[i].obj);
	}
	free(t->v);
	free(t);
}

int k8s_objs_kind(const k8s_objs_t *t)
{
	return t->okind;
}

static size_t find(const k8s_objs_t *t, const char *key, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].key, key);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* Takes obj (NULL removes). 1 changed, 0 not, AS_ENOMEM (obj freed). */
static int put(k8s_objs_t *t, const char *key, void *obj)
{
	bool found;
	size_t i = find(t, key, &found);

	if (found) {
		k8s_obj_free(t->okind, t->v[i].obj);
		if (obj) {
			t->v[i].obj = obj;
			t->v[i].seen = true;
			return 1;
		}
		free(t->v[i].key);
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
		return 1;
	}
	if (!obj)
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct item *v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			k8s_obj_free(t->okind, obj);
			return AS_ENOMEM;
		}
		t->v = v;
		t->cap = cap;
	}
	char *k = strdup(key);

	if (!k) {
		k8s_obj_free(t->okind, obj);
		return AS_ENOMEM;
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i] = (struct item){ .key = k, .obj = obj, .seen = true };
	t->n++;
	return 1;
}

static int key_of(const k8s_objs_t *t, const json_t *o, char *key, size_t len)
{
	struct k8s_meta md;
	int n;

	if (k8s__meta(o, okinds[t->okind].cluster, &md))
		return -1;
	if (okinds[t->okind].cluster)
		n = snprintf(key, len, "%s", md.name);
	else
		n = snprintf(key, len, "%s/%s", md.namespace_, md.name);
	k8s__meta_free(&md);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void bad(k8s_objs_t *t, const char *key, const char *what)
{
	t->malformed++;
	as_warn("k8s: %s %s: %s, skipped (previous state kept)",
		okinds[t->okind].kind, key ? key : "(unnamed)", what);
}

/* The intent of an Ingress or a route; NULL for the other kinds. */
static struct k8s_intent *intent_of(int okind, void *obj)
{
	switch (okind) {
	case K8S_O_INGRESS:
		return &((struct k8s_ingress *)obj)->intent;
	case K8S_O_HTTPROUTE:
	case K8S_O_GRPCROUTE:
		return &((struct k8s_route *)obj)->intent;
	default:
		return NULL;
	}
}

/* An update with a bad intent annotation keeps the object's last valid
 * intent, as a bad Service update keeps the Service, while the rest of
 * it applies (a typo must not freeze the object's names and backends).
 * AS_OK or AS_ENOMEM. */
static int keep_intent(const k8s_objs_t *t, const char *key, void *obj)
{
	struct k8s_intent *in = intent_of(t->okind, obj);
	bool found;
	size_t i;

	if (!in || !in->error)
		return AS_OK;
	i = find(t, key, &found);
	if (!found)
		return AS_OK;
	return k8s__intent_copy(in, intent_of(t->okind, t->v[i].obj)) ?
		AS_ENOMEM : AS_OK;
}

static int upsert(k8s_objs_t *t, const json_t *o, bool relist)
{
	char key[512];
	void *obj;
	bool found;
	int rc;

	if (key_of(t, o, key, sizeof(key))) {
		bad(t, NULL, "no metadata.name (or namespace)");
		return -1;
	}
	rc = decode_json(t->okind, o, &obj);
	if (rc == AS_OK && keep_intent(t, key, obj)) {
		k8s_obj_free(t->okind, obj);
		rc = AS_ENOMEM;
	}
	if (rc == AS_OK)
		rc = put(t, key, obj);
	if (rc < 0) {
		bad(t, key, rc == AS_ENOMEM ? "out of memory" : "malformed object");
		if (relist) {
			size_t i = find(t, key, &found);

			if (found)
				t->v[i].seen = true;
		}
		return -1;
	}
	return rc;
}

void k8s_objs_relist_begin(k8s_objs_t *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i].seen = false;
	t->relisting = true;
}

int k8s_objs_apply_list(k8s_objs_t *t, const char *json, size_t len,
			char *rv, size_t rv_len, char *cont, size_t cont_len)
{
	json_t *items, *root = k8s__list_open(json, len, okinds[t->okind].list,
					       &items, rv, rv_len, cont, cont_len);

	if (!root) {
		t->malformed++;
		as_warn("k8s: %s list: not a %s, skipped", okinds[t->okind].kind,
			okinds[t->okind].list);
		return AS_EMALFORMED;
	}
	for (size_t i = 0; i < json_array_size(items); i++)
		upsert(t, json_array_get(items, i), true);
	json_decref(root);
	return AS_OK;
}

bool k8s_objs_relist_end(k8s_objs_t *t)
{
	size_t w = 0;
	bool changed = false;

	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].seen) {
			t->v[w++] = t->v[i];
			continue;
		}
		free(t->v[i].key);
		k8s_obj_free(t->okind, t->v[i].obj);
		changed = true;
	}
	t->n = w;
	t->relisting = false;
	return changed;
}

void k8s_objs_relist_abort(k8s_objs_t *t)
{
	t->relisting = false;
}

int k8s_objs_apply_event(k8s_objs_t *t, const char *json, size_t len,
			 struct k8s_event_info *info)
{
	json_t *obj = NULL, *root = k8s__event_open(json, len, info, &obj);
	const char *k;
	int rc = AS_OK;

	if (!root || k8s__str(obj, "kind", &k)) {
		info->type = 0;
		bad(t, NULL, "not a watch event");
		json_decref(root);
		return AS_EMALFORMED;
	}
	if (info->type == K8S_EV_ERROR)
		goto out;
	if (k && strcmp(k, okinds[t->okind].kind)) {
		bad(t, NULL, "object of the wrong kind");
		info->rv[0] = '\0';
		rc = AS_EMALFORMED;
		goto out;
	}
	if (info->type == K8S_EV_BOOKMARK)
		goto out;
	if (info->type == K8S_EV_DELETED) {
		char key[512];

		if (key_of(t, obj, key, sizeof(key))) {
			bad(t, NULL, "no metadata.name (or namespace)");
			rc = AS_EMALFORMED;
			goto out;
		}
		info->changed = put(t, key, NULL) > 0;
		goto out;
	}
	int r = upsert(t, obj, t->relisting);

	if (r < 0)
		rc = AS_EMALFORMED;
	else
		info->changed = r > 0;
out:
	json_decref(root);
	return rc;
}

size_t k8s_objs_count(const k8s_objs_t *t)
{
	return t ? t->n : 0;
}

const void *k8s_objs_at(const k8s_objs_t *t, size_t i)
{
	return t && i < t->n ? t->v[i].obj : NULL;
}

const void *k8s_objs_get(const k8s_objs_t *t, const char *ns,
			 const char *name)
{
	char key[512];
	bool found;
	size_t i;
	int n;

	if (!t)
		return NULL;
	if (okinds[t->okind].cluster)
		n = snprintf(key, sizeof(key), "%s", name);
	else
		n = snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL;
	i = find(t, key, &found);
	return found ? t->v[i].obj : NULL;
}

uint64_t k8s_objs_malformed(const k8s_objs_t *t)
{
	return t->malformed;
}
