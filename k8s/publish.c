/*
 * k8s/publish.c - the names the agent answers, from every source k8s/
 * knows: annotated Services (k8s_model.c), the Ingresses anysteer owns
 * (ingress.c) and the routes attached to its Gateways (gateway.c).
 *
 * Design. Each source decides its own names; this file only maps them
 * to the ready endpoints of their backend Services through the store and
 * merges the three lists into one endpoint set, every entry carrying its
 * origin ("Ingress shop/web") for anysteerctl. Sources are ranked so that
 * every node picks the same winner for a name claimed twice without
 * talking to the others: Service annotations first (the oldest and most
 * explicit way), then Ingresses, then routes, each by namespace/name.
 * A name's intent is its own object's annotations when it has any, else
 * its backend Service's (name_intent). Pure: tables in, a set and what
 * the leader should say out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

#define WEIGHT_SCALE 10000.0

enum { RANK_SERVICE = 0, RANK_INGRESS, RANK_HTTPROUTE, RANK_GRPCROUTE };

/* One candidate entry and its rank, before the merge. */
struct cand {
	struct k8s_entry e;
	int rank;
	int okind;		/* for the loser's warning; -1 for Services */
};

struct ctx {
	k8s_store_t *store;
	const struct k8s_publish_input *in;
	struct k8s_publish *out;
	struct cand *c;
	size_t n, cap;
	size_t ing_cap;		/* room in out->ingresses */
	size_t rel_cap;		/* room in out->released */
};

static struct cand *cand_new(struct ctx *x, int rank, int okind)
{
	if (AS_GROW(x->c, x->cap, x->n + 1))
		return NULL;
	struct cand *c = &x->c[x->n++];

	memset(c, 0, sizeof(*c));
	c->rank = rank;
	c->okind = okind;
	return c;
}

static int set_origin(struct k8s_entry *e, int okind, const char *ns,
		      const char *name)
{
	return asprintf(&e->origin, "%s %s/%s", k8s_okind_name(okind), ns, name) < 0 ?
		-1 : 0;
}

/* Moves the chosen Service port (by name, else by number) to the front,
 * where the catalog looks for the port to answer with. */
static void port_first(struct k8s_entry *e, const char *name, uint16_t port)
{
	for (size_t i = 0; i < e->n_ports; i++) {
		bool hit = name && *name ? !strcmp(e->ports[i].name, name) :
			e->ports[i].port == port;

		if (hit && i) {
			struct k8s_port p = e->ports[i];

			memmove(&e->ports[1], &e->ports[0], i * sizeof(p));
			e->ports[0] = p;
		}
		if (hit)
			return;
	}
}

/* ---- intents ------------------------------------------------------------- */

/*
 * The intent of a name from an Ingress or a route: the object's own
 * annotations when it carries any (the name is its owner's to qualify),
 * else those of the Service it answers with (e->namespace_/service: an
 * Ingress host's backend, a route's first resolved backend, the one
 * whose port SRV carries), else none: balance. As a whole, never field
 * by field, so the checked combinations stay whole. AS_OK or AS_ENOMEM.
 */
static int name_intent(struct ctx *x, struct k8s_entry *e,
		       const struct k8s_intent *own)
{
	const struct k8s_intent *in = own;

	e->spill_over = -1;
	if (!k8s__intent_set(own) &&
	    k8s__store_intent(x->store, e->namespace_, e->service, &in) != AS_OK)
		return AS_OK;
	e->spill_over = in->spill_over;
	if ((in->objective && !(e->objective = k8s__dup(in->objective))) ||
	    (in->spread && !(e->spread = k8s__dup(in->spread))))
		return AS_ENOMEM;
	return AS_OK;
}

/* A bad intent annotation on an Ingress or a route, told once per
 * object: what is wrong and what is answered meanwhile. */
static int intent_warning(struct ctx *x, int okind, const char *ns,
			  const char *name, const struct k8s_intent *in)
{
	struct k8s_publish *p = x->out;

	if (!in->error)
		return AS_OK;
	for (size_t i = 0; i < p->n_warnings; i++)
		if (p->warnings[i].okind == okind && p->warnings[i].name &&
		    !strcmp(p->warnings[i].reason, "InvalidIntent") &&
		    !strcmp(p->warnings[i].namespace_, ns) &&
		    !strcmp(p->warnings[i].name, name))
			return AS_OK;
	if ((k8s__intent_set(in) ?
	     k8s__warn(&p->warnings, &p->n_warnings, "InvalidIntent",
		       "%s; the last valid intent stays (objective %s)",
		       in->error, in->objective ? in->objective : "balance") :
	     k8s__warn(&p->warnings, &p->n_warnings, "InvalidIntent",
		       "%s; answered as if not annotated (the backend "
		       "Service's intent, else balance)", in->error)) ||
	    k8s__warn_obj(p->warnings, p->n_warnings, okind, ns, name))
		return AS_ENOMEM;
	return AS_OK;
}

/* ---- Ingresses ------------------------------------------------------------ */

static int ingress_add(struct ctx *x, const struct k8s_ingress *ing)
{
	struct k8s_ingress_result r = { 0 };
	struct k8s_ingress_pub *pub;
	int rc;

	rc = k8s_ingress_names(ing, x->in->zone, &r);
	if (rc)
		return rc == AS_ENOMEM ? rc : AS_OK;
	for (size_t i = 0; i < r.n_warnings; i++) {
		struct k8s_warning *w = &r.warnings[i];

		if (k8s__warn(&x->out->warnings, &x->out->n_warnings, w->reason,
			      "%s", w->message) ||
		    k8s__warn_obj(x->out->warnings, x->out->n_warnings,
				  K8S_O_INGRESS, ing->md.namespace_, ing->md.name))
			goto nomem;
	}
	if (intent_warning(x, K8S_O_INGRESS, ing->md.namespace_, ing->md.name,
			   &ing->intent) ||
	    AS_GROW(x->out->ingresses, x->ing_cap, x->out->n_ingresses + 1))
		goto nomem;
	pub = &x->out->ingresses[x->out->n_ingresses++];
	memset(pub, 0, sizeof(*pub));
	pub->namespace_ = k8s__dup(ing->md.namespace_);
	pub->name = k8s__dup(ing->md.name);
	if (!pub->namespace_ || !pub->name)
		goto nomem;
	for (size_t i = 0; i < r.n_hosts; i++) {
		const struct k8s_ingress_host *h = &r.hosts[i];
		struct cand *c = cand_new(x, RANK_INGRESS, K8S_O_INGRESS);

		if (!c)
			goto nomem;
		c->e.hostname = k8s__dup(h->hostname);
		c->e.label = k8s__dup(h->label);
		c->e.namespace_ = k8s__dup(ing->md.namespace_);
		c->e.service = k8s__dup(h->service);
		c->e.weight = K8S_DEFAULT_WEIGHT;
		if (!c->e.hostname || !c->e.label || !c->e.namespace_ ||
		    !c->e.service ||
		    set_origin(&c->e, K8S_O_INGRESS, ing->md.namespace_, ing->md.name))
			goto nomem;
		rc = k8s__store_service(x->store, ing->md.namespace_, h->service,
					K8S_DEFAULT_WEIGHT, &c->e, NULL);
		if (rc == AS_ENOMEM)
			goto nomem;
		if (rc == AS_ENOTFOUND &&
		    (k8s__warn(&x->out->warnings, &x->out->n_warnings,
			       "BackendNotFound",
			       "host %s: Service %s/%s does not exist: no answers",
			       h->hostname, ing->md.namespace_, h->service) ||
		     k8s__warn_obj(x->out->warnings, x->out->n_warnings, K8S_O_INGRESS,
				   ing->md.namespace_, ing->md.name)))
			goto nomem;
		if (name_intent(x, &c->e, &ing->intent))
			goto nomem;
		port_first(&c->e, h->port_name, h->port);
	}
	k8s_ingress_result_free(&r);
	return AS_OK;
nomem:
	k8s_ingress_result_free(&r);
	return AS_ENOMEM;
}

/* Whether host (trailing dot optional) is a name below zone. */
static bool below_zone(const char *host, const char *zone)
{
	size_t h = strlen(host), z = strlen(zone);

	while (h && host[h - 1] == '.')
		h--;
	while (z && zone[z - 1] == '.')
		z--;
	return z && h > z + 1 && host[h - z - 1] == '.' &&
	       !strncasecmp(host + h - z, zone, z);
}

/* An Ingress not ours: the zone's hostnames its status still lists,
 * which only anysteer writes there (it was ours before its class
 * changed), for the leader to remove as ingress-nginx does. */
static int ingress_released(struct ctx *x, const struct k8s_ingress *ing)
{
	struct k8s_ingress_pub *pub = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < ing->n_lb_hostnames; i++) {
		if (!below_zone(ing->lb_hostnames[i], x->in->zone))
			continue;
		if (!pub) {
			if (AS_GROW(x->out->released, x->rel_cap, x->out->n_released + 1))
				return AS_ENOMEM;
			pub = &x->out->released[x->out->n_released++];
			memset(pub, 0, sizeof(*pub));
			pub->namespace_ = k8s__dup(ing->md.namespace_);
			pub->name = k8s__dup(ing->md.name);
			if (!pub->namespace_ || !pub->name)
				return AS_ENOMEM;
		}
		if (k8s__strv_add(&pub->hostnames, &pub->n_hostnames, &cap,
				  ing->lb_hostnames[i]))
			return AS_ENOMEM;
	}
	return AS_OK;
}

static int ingresses(struct ctx *x)
{
	const k8s_objs_t *ings = x->in->objs[K8S_O_INGRESS];
	const k8s_objs_t *classes = x->in->objs[K8S_O_INGRESSCLASS];

	if (!ings)
		return AS_OK;
	for (size_t i = 0; i < k8s_objs_count(ings); i++) {
		const struct k8s_ingress *ing = k8s_objs_at(ings, i);
		int rc;

		if (k8s_ingress_owner(ing, classes, x->in->annotation_class) ==
		    K8S_ING_NOT_OURS)
			rc = ingress_released(x, ing);
		else
			rc = ingress_add(x, ing);
		if (rc)
			return rc;
	}
	return AS_OK;
}

/* ---- routes ------------------------------------------------------------------ */

static bool svc_exists(const char *ns, const char *name, void *arg)
{
	struct ctx *x = arg;
	struct k8s_entry e = { 0 };
	int rc = k8s__store_service(x->store, ns, name, 0, &e, NULL);

	k8s__entry_free(&e);
	return rc != AS_ENOTFOUND;
}

static int route_add(struct ctx *x, const struct k8s_route_name *n)
{
	int rank = n->route_kind == K8S_O_GRPCROUTE ? RANK_GRPCROUTE : RANK_HTTPROUTE;
	struct cand *c = cand_new(x, rank, n->route_kind);
	const struct k8s_route *r = k8s_objs_get(x->in->objs[n->route_kind],
						 n->route_ns, n->route_name);
	const struct k8s_intent none = { .spill_over = -1 };
	uint64_t total = 0;

	if (!c)
		return AS_ENOMEM;
	c->e.hostname = k8s__dup(n->hostname);
	c->e.label = k8s__dup(n->label);
	c->e.namespace_ = k8s__dup(n->n_backends ? n->backends[0].namespace_ :
				   n->route_ns);
	c->e.service = k8s__dup(n->n_backends ? n->backends[0].service : "");
	c->e.weight = K8S_DEFAULT_WEIGHT;
	if (!c->e.hostname || !c->e.label || !c->e.namespace_ || !c->e.service ||
	    set_origin(&c->e, n->route_kind, n->route_ns, n->route_name) ||
	    name_intent(x, &c->e, r ? &r->intent : &none) ||
	    (r && intent_warning(x, n->route_kind, n->route_ns, n->route_name,
				 &r->intent)))
		return AS_ENOMEM;
	for (size_t i = 0; i < n->n_backends; i++)
		total += n->backends[i].weight;
	for (size_t i = 0; i < n->n_backends; i++) {
		const struct k8s_weighted_backend *b = &n->backends[i];
		struct k8s_entry probe = { 0 };
		size_t ready = 0;
		double w = 0;
		int rc;

		/* First the ready count of b, for the weight of each of its
		 * endpoints (see k8s.h); then its endpoints with it. An
		 * address that two backends share keeps the first's. */
		rc = k8s__store_service(x->store, b->namespace_, b->service, 0,
					&probe, &ready);
		k8s__entry_free(&probe);
		if (rc == AS_ENOMEM)
			return rc;
		if (rc)
			continue;
		if (b->weight && total)
			w = WEIGHT_SCALE * b->weight /
				((double)total * (double)(ready ? ready : 1));
		uint32_t ew = b->weight ?
			(uint32_t)AS_MIN(65535.0, AS_MAX(1.0, w + 0.5)) : 0;

		rc = k8s__store_service(x->store, b->namespace_, b->service, ew,
					&c->e, NULL);
		if (rc)
			return rc == AS_ENOMEM ? rc : AS_OK;
		if (i == 0)
			port_first(&c->e, NULL, b->port);
	}
	return AS_OK;
}

static int routes(struct ctx *x)
{
	const struct k8s_publish_input *in = x->in;
	struct k8s_gw_input gi = {
		.zone = in->zone,
		.classes = in->objs[K8S_O_GATEWAYCLASS],
		.gateways = in->objs[K8S_O_GATEWAY],
		.httproutes = in->objs[K8S_O_HTTPROUTE],
		.grpcroutes = in->objs[K8S_O_GRPCROUTE],
		.service_exists = svc_exists,
		.arg = x,
	};
	struct k8s_gw_result *g = &x->out->gw;
	int rc;

	if (!gi.classes || !gi.gateways)
		return AS_OK;
	rc = k8s_gateway_evaluate(&gi, g);
	if (rc)
		return rc;
	for (size_t i = 0; i < g->n_names; i++) {
		rc = route_add(x, &g->names[i]);
		if (rc)
			return rc;
	}
	/* The warnings move to the common list; they name their objects. */
	for (size_t i = 0; i < g->n_warnings; i++) {
		struct k8s_warning *w = &g->warnings[i];

		if (k8s__warn(&x->out->warnings, &x->out->n_warnings, w->reason, "%s",
			      w->message) ||
		    (w->name && k8s__warn_obj(x->out->warnings, x->out->n_warnings,
					      w->okind, w->namespace_, w->name)))
			return AS_ENOMEM;
	}
	return AS_OK;
}

/* ---- the merge ----------------------------------------------------------------- */

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->e.hostname, y->e.hostname);

	if (c)
		return c;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(x->e.origin, y->e.origin);
}

static int services(struct ctx *x)
{
	struct k8s_set s;
	int rc = k8s_store_build(x->store, &s);

	if (rc)
		return rc;
	for (size_t i = 0; i < s.n_entries; i++) {
		struct cand *c = cand_new(x, RANK_SERVICE, -1);

		if (!c) {
			k8s_set_free(&s);
			return AS_ENOMEM;
		}
		c->e = s.entries[i];
		memset(&s.entries[i], 0, sizeof(s.entries[i]));
	}
	k8s_set_free(&s);
	return AS_OK;
}

/* Sorted by name, then rank: the first of each name wins. */
static int merge(struct ctx *x)
{
	struct k8s_set *set = &x->out->set;

	if (x->n > 1)
		qsort(x->c, x->n, sizeof(*x->c), cand_cmp);
	set->entries = calloc(x->n ? x->n : 1, sizeof(*set->entries));
	if (!set->entries)
		return AS_ENOMEM;
	for (size_t i = 0; i < x->n; i++) {
		struct cand *c = &x->c[i];

		if (set->n_entries &&
		    !strcmp(set->entries[set->n_entries - 1].hostname, c->e.hostname)) {
			const char *win = set->entries[set->n_entries - 1].origin;
			const char *sp = strchr(c->e.origin, ' ');

			x->out->conflicts++;
			/* Routes report their own conflicts (gateway.c). */
			if (c->okind == K8S_O_INGRESS ||
			    (c->okind >= 0 && strncmp(win, "HTTPRoute", 9) &&
			     strncmp(win, "GRPCRoute", 9))) {
				char ns[254] = "";
				const char *slash = sp ? strchr(sp + 1, '/') : NULL;

				if (slash && (size_t)(slash - sp - 1) < sizeof(ns))
					memcpy(ns, sp + 1, (size_t)(slash - sp - 1));
				if (slash &&
				    (k8s__warn(&x->out->warnings, &x->out->n_warnings,
					       "HostnameConflict",
					       "%s: %s is already answered for %s",
					       c->e.origin, c->e.hostname, win) ||
				     k8s__warn_obj(x->out->warnings, x->out->n_warnings,
						   c->okind, ns, slash + 1)))
					return AS_ENOMEM;
			}
			k8s__entry_free(&c->e);
			continue;
		}
		set->entries[set->n_entries++] = c->e;
		memset(&c->e, 0, sizeof(c->e));
	}
	return AS_OK;
}

/* The status hostnames of each owned Ingress: the names it won. */
static int ingress_hostnames(struct k8s_publish *p)
{
	for (size_t i = 0; i < p->set.n_entries; i++) {
		const struct k8s_entry *e = &p->set.entries[i];

		if (strncmp(e->origin, "Ingress ", 8) || e->label[0] == '*')
			continue;
		for (size_t j = 0; j < p->n_ingresses; j++) {
			struct k8s_ingress_pub *g = &p->ingresses[j];
			size_t cap = g->n_hostnames;
			char o[600];

			snprintf(o, sizeof(o), "Ingress %s/%s", g->namespace_, g->name);
			if (strcmp(o, e->origin))
				continue;
			if (k8s__strv_add(&g->hostnames, &g->n_hostnames, &cap,
					  e->hostname))
				return AS_ENOMEM;
			break;
		}
	}
	return AS_OK;
}

int k8s_publish_build(k8s_store_t *store, const struct k8s_publish_input *in,
		      struct k8s_publish *out)
{
	struct ctx x = { .store = store, .in = in, .out = out };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = services(&x);
	if (!rc)
		rc = ingresses(&x);
	if (!rc)
		rc = routes(&x);
	if (!rc)
		rc = merge(&x);
	if (!rc)
		rc = ingress_hostnames(out);
	for (size_t i = 0; i < x.n; i++)
		k8s__entry_free(&x.c[i].e);
	free(x.c);
	if (rc)
		k8s_publish_free(out);
	return rc;
}

void k8s_publish_free(struct k8s_publish *p)
{
	if (!p)
		return;
	k8s_set_free(&p->set);
	k8s__warnings_free(p->warnings, p->n_warnings);
	for (size_t i = 0; i < p->n_ingresses; i++) {
		free(p->ingresses[i].namespace_);
		free(p->ingresses[i].name);
		k8s__strv_free(p->ingresses[i].hostnames, p->ingresses[i].n_hostnames);
	}
	free(p->ingresses);
	for (size_t i = 0; i < p->n_released; i++) {
		free(p->released[i].namespace_);
		free(p->released[i].name);
		k8s__strv_free(p->released[i].hostnames, p->released[i].n_hostnames);
	}
	free(p->released);
	k8s_gw_result_free(&p->gw);
	memset(p, 0, sizeof(*p));
}
