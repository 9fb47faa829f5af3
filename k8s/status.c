/*
 * k8s/status.c - the JSON the leader writes: status merge patches for
 * Ingresses, GatewayClasses, Gateways and routes, and core/v1 Events.
 *
 * Design. Every builder compares what it would write with what the
 * object already says and returns NULL when they agree, so the leader's
 * own status write, coming back through the watch, does not cause the
 * next write: status converges instead of ping-ponging. Conditions keep
 * their lastTransitionTime while their status stays the same (the
 * metav1.Condition contract). Each patch carries the object's
 * resourceVersion, which makes the API server refuse a patch built from
 * a stale read with 409 instead of overwriting a newer status.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

#define GW_GROUP "gateway.networking.k8s.io"

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return s;
}

/* {"metadata":{"resourceVersion":rv},"status":status} (status stolen). */
static int patch(const char *rv, json_t *status, char **out)
{
	json_t *j;

	if (!status)
		return AS_ENOMEM;
	j = json_pack("{s:{s:s}, s:o}", "metadata", "resourceVersion", rv,
		      "status", status);
	*out = dump(j);
	return *out ? AS_OK : AS_ENOMEM;
}

/* ---- Ingress -------------------------------------------------------------- */

int k8s_ingress_status_patch(const struct k8s_ingress *cur,
			     const char *const *hostnames, size_t n,
			     char **out)
{
	json_t *arr = json_array();
	size_t k = 0;
	bool same;

	*out = NULL;
	if (!arr)
		return AS_ENOMEM;
	/* One hostname entry per answered name. A wildcard is not a host
	 * name the status may carry, and a client cannot resolve it. */
	for (size_t i = 0; i < n; i++) {
		const char *h = hostnames[i];
		size_t l = strlen(h);

		if (!l || !strncmp(h, "*.", 2))
			continue;
		if (h[l - 1] == '.')
			l--;
		json_t *e = json_pack("{s:s%}", "hostname", h, l);

		if (!e || json_array_append_new(arr, e)) {
			json_decref(arr);
			return AS_ENOMEM;
		}
	}
	same = !cur->n_lb_ips && cur->n_lb_hostnames == json_array_size(arr);
	for (k = 0; same && k < json_array_size(arr); k++)
		same = !strcasecmp(cur->lb_hostnames[k],
				   json_string_value(json_object_get(
					   json_array_get(arr, k), "hostname")));
	if (same) {
		json_decref(arr);
		return AS_OK;
	}
	return patch(cur->md.resource_version,
		     json_pack("{s:{s:o}}", "loadBalancer", "ingress", arr), out);
}

/* Whether entry is exactly {"hostname": h} with h one of hostnames. */
static bool entry_is(json_t *entry, const char *const *hostnames, size_t n)
{
	const char *h = json_string_value(json_object_get(entry, "hostname"));
	size_t hl = h ? strlen(h) : 0;

	if (!h || json_object_size(entry) != 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(hostnames[i]);

		if (l && hostnames[i][l - 1] == '.')
			l--;
		if (hl && h[hl - 1] == '.')
			hl--;
		if (l == hl && !strncasecmp(h, hostnames[i], l))
			return true;
	}
	return false;
}

int k8s_ingress_status_release_patch(const struct k8s_ingress *cur,
				     const char *const *hostnames, size_t n,
				     char **out)
{
	json_t *keep = json_array();
	size_t dropped = 0;

	*out = NULL;
	if (!keep)
		return AS_ENOMEM;
	for (size_t i = 0; i < cur->n_lb_entries; i++) {
		json_t *e = json_loads(cur->lb_entries[i], 0, NULL);

		if (!e) {
			json_decref(keep);
			return AS_ENOMEM;	/* it was dumped by us: memory */
		}
		if (entry_is(e, hostnames, n)) {
			dropped++;
			json_decref(e);
		} else if (json_array_append_new(keep, e)) {
			json_decref(keep);
			return AS_ENOMEM;
		}
	}
	if (!dropped) {
		json_decref(keep);
		return AS_OK;
	}
	/* Nothing left: null removes the list (loadBalancer: {}). */
	if (!json_array_size(keep)) {
		json_decref(keep);
		keep = json_null();
	}
	return patch(cur->md.resource_version,
		     json_pack("{s:{s:o}}", "loadBalancer", "ingress", keep), out);
}

/* ---- conditions --------------------------------------------------------------- */

static const struct k8s_condition *cond_find(const struct k8s_condition *v,
					     size_t n, const char *type)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].type, type))
			return &v[i];
	return NULL;
}

/* Whether the wanted conditions are what the object says already. */
static bool conds_same(const struct k8s_condition *want, size_t n,
		       const struct k8s_condition *have, size_t nh)
{
	if (n != nh)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct k8s_condition *h = cond_find(have, nh, want[i].type);

		if (!h || strcmp(h->status, want[i].status) ||
		    strcmp(h->reason, want[i].reason) ||
		    strcmp(h->message, want[i].message) ||
		    h->observed_generation != want[i].observed_generation ||
		    !*h->last_transition)
			return false;
	}
	return true;
}

static json_t *conds_json(const struct k8s_condition *want, size_t n,
			  const struct k8s_condition *have, size_t nh,
			  const char *now)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		const struct k8s_condition *h = cond_find(have, nh, want[i].type);
		const char *ltt = h && !strcmp(h->status, want[i].status) &&
			*h->last_transition ? h->last_transition : now;
		json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}",
				      "type", want[i].type, "status", want[i].status,
				      "reason", want[i].reason,
				      "message", want[i].message,
				      "observedGeneration",
				      (json_int_t)want[i].observed_generation,
				      "lastTransitionTime", ltt);

		if (!c || json_array_append_new(arr, c)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- GatewayClass and Gateway ------------------------------------------------------ */

int k8s_gateway_class_status_patch(const struct k8s_gateway_class *cur,
				   const struct k8s_obj_status *st,
				   const char *now, char **out)
{
	*out = NULL;
	if (conds_same(st->conds, st->n_conds, cur->conds, cur->n_conds))
		return AS_OK;
	return patch(cur->md.resource_version,
		     json_pack("{s:o*}", "conditions",
			       conds_json(st->conds, st->n_conds, cur->conds,
					  cur->n_conds, now)), out);
}

static const struct k8s_listener_status *
listener_find(const struct k8s_gateway *g, const char *name)
{
	for (size_t i = 0; i < g->n_listener_status; i++)
		if (!strcmp(g->listener_status[i].name, name))
			return &g->listener_status[i];
	return NULL;
}

static bool listeners_same(const struct k8s_gateway *g,
			   const struct k8s_obj_status *st)
{
	if (g->n_listener_status != st->n_listeners)
		return false;
	for (size_t i = 0; i < st->n_listeners; i++) {
		const struct k8s_listener_status *w = &st->listeners[i];
		const struct k8s_listener_status *h = listener_find(g, w->name);

		if (!h || h->attached_routes != w->attached_routes ||
		    h->n_supported_kinds != w->n_supported_kinds ||
		    !conds_same(w->conds, w->n_conds, h->conds, h->n_conds))
			return false;
		for (size_t k = 0; k < w->n_supported_kinds; k++)
			if (strcmp(h->supported_kinds[k], w->supported_kinds[k]))
				return false;
	}
	return true;
}

int k8s_gateway_status_patch(const struct k8s_gateway *cur,
			     const struct k8s_obj_status *st,
			     const char *now, char **out)
{
	json_t *ls, *status;

	*out = NULL;
	if (conds_same(st->conds, st->n_conds, cur->conds, cur->n_conds) &&
	    listeners_same(cur, st))
		return AS_OK;
	ls = json_array();
	for (size_t i = 0; ls && i < st->n_listeners; i++) {
		const struct k8s_listener_status *w = &st->listeners[i];
		const struct k8s_listener_status *h = listener_find(cur, w->name);
		json_t *kinds = json_array(), *l;

		for (size_t k = 0; kinds && k < w->n_supported_kinds; k++)
			if (json_array_append_new(kinds, json_pack("{s:s, s:s}",
								   "group", GW_GROUP, "kind",
								   w->supported_kinds[k]))) {
				json_decref(kinds);
				kinds = NULL;
			}
		l = json_pack("{s:s, s:I, s:o*, s:o*}", "name", w->name,
			      "attachedRoutes", (json_int_t)w->attached_routes,
			      "supportedKinds", kinds, "conditions",
			      conds_json(w->conds, w->n_conds, h ? h->conds : NULL,
					 h ? h->n_conds : 0, now));
		if (!l || !kinds || json_array_append_new(ls, l)) {
			json_decref(ls);
			ls = NULL;
		}
	}
	if (!ls)
		return AS_ENOMEM;
	status = json_pack("{s:o*, s:o}", "conditions",
			   conds_json(st->conds, st->n_conds, cur->conds,
				      cur->n_conds, now), "listeners", ls);
	return patch(cur->md.resource_version, status, out);
}

/* ---- routes ---------------------------------------------------------------------- */

static bool ref_eq(const struct k8s_parent_ref *a, const struct k8s_parent_ref *b)
{
	return !strcmp(a->group, b->group) && !strcmp(a->kind, b->kind) &&
	       !strcmp(a->namespace_, b->namespace_) && !strcmp(a->name, b->name) &&
	       !strcmp(a->section, b->section) && a->port == b->port;
}

static json_t *ref_json(const struct k8s_parent_ref *r)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "group", r->group,
			      "kind", r->kind, "namespace", r->namespace_,
			      "name", r->name);

	if (j && *r->section)
		json_object_set_new(j, "sectionName", json_string(r->section));
	if (j && r->port)
		json_object_set_new(j, "port", json_integer(r->port));
	return j;
}

static const struct k8s_route_parent_status *
parent_find(const struct k8s_route *r, const struct k8s_parent_ref *ref)
{
	for (size_t i = 0; i < r->n_status; i++)
		if (!strcmp(r->status[i].controller, K8S_GATEWAY_CONTROLLER) &&
		    ref_eq(&r->status[i].ref, ref))
			return &r->status[i];
	return NULL;
}

int k8s_route_status_patch(const struct k8s_route *cur,
			   const struct k8s_obj_status *st,
			   const char *now, char **out)
{
	size_t n_ours = 0;
	bool same = true;
	json_t *arr;

	*out = NULL;
	for (size_t i = 0; i < cur->n_status; i++)
		n_ours += !strcmp(cur->status[i].controller, K8S_GATEWAY_CONTROLLER);
	same = n_ours == st->n_parents;
	for (size_t i = 0; same && i < st->n_parents; i++) {
		const struct k8s_route_parent_status *h =
			parent_find(cur, &st->parents[i].ref);

		same = h && conds_same(st->parents[i].conds, st->parents[i].n_conds,
				       h->conds, h->n_conds);
	}
	if (same)
		return AS_OK;
	/* Other controllers' entries first, as they were; then ours. */
	arr = json_array();
	for (size_t i = 0; arr && i < cur->n_status; i++) {
		const struct k8s_route_parent_status *h = &cur->status[i];
		json_t *e;

		if (!strcmp(h->controller, K8S_GATEWAY_CONTROLLER))
			continue;
		e = json_pack("{s:o*, s:s, s:o*}", "parentRef", ref_json(&h->ref),
			      "controllerName", h->controller, "conditions",
			      conds_json(h->conds, h->n_conds, h->conds, h->n_conds,
					 now));
		if (!e || json_array_append_new(arr, e)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	for (size_t i = 0; arr && i < st->n_parents; i++) {
		const struct k8s_parent_status *w = &st->parents[i];
		const struct k8s_route_parent_status *h = parent_find(cur, &w->ref);
		json_t *e = json_pack("{s:o*, s:s, s:o*}", "parentRef",
				      ref_json(&w->ref), "controllerName",
				      K8S_GATEWAY_CONTROLLER, "conditions",
				      conds_json(w->conds, w->n_conds,
						 h ? h->conds : NULL,
						 h ? h->n_conds : 0, now));

		if (!e || json_array_append_new(arr, e)) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr)
		return AS_ENOMEM;
	return patch(cur->md.resource_version,
		     json_pack("{s:o}", "parents", arr), out);
}

/* ---- Events ------------------------------------------------------------------------ */

int k8s_event_json(const struct k8s_event_spec *ev, char **out)
{
	const char *kind = k8s_okind_name(ev->okind);
	const char *ns;
	json_t *j, *io;

	*out = NULL;
	if (!kind || !ev->obj_name || !ev->reason || !ev->message || !ev->now ||
	    !ev->name || !ev->count)
		return AS_EINVAL;
	if (ev->count > 1) {
		/* A repeat: the count and time of the Event already there. */
		*out = dump(json_pack("{s:I, s:s, s:s}", "count", (json_int_t)ev->count,
				      "lastTimestamp", ev->now, "message", ev->message));
		return *out ? AS_OK : AS_ENOMEM;
	}
	ns = ev->namespace_ && *ev->namespace_ ? ev->namespace_ :
	     ev->obj_ns && *ev->obj_ns ? ev->obj_ns : "default";
	io = json_pack("{s:s, s:s, s:s}", "apiVersion", k8s_okind_api_version(ev->okind),
		       "kind", kind, "name", ev->obj_name);
	if (io && ev->obj_ns && *ev->obj_ns)
		json_object_set_new(io, "namespace", json_string(ev->obj_ns));
	if (io && ev->obj_uid && *ev->obj_uid)
		json_object_set_new(io, "uid", json_string(ev->obj_uid));
	if (io && ev->obj_rv && *ev->obj_rv)
		json_object_set_new(io, "resourceVersion", json_string(ev->obj_rv));
	j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o*, s:s, s:s, s:s, s:{s:s, s:s},"
		      " s:I, s:s, s:s, s:s, s:s}",
		      "apiVersion", "v1", "kind", "Event",
		      "metadata", "name", ev->name, "namespace", ns,
		      "involvedObject", io,
		      "reason", ev->reason, "message", ev->message,
		      "type", ev->warning ? "Warning" : "Normal",
		      "source", "component", ev->component ? ev->component : "anysteer",
		      "host", ev->instance ? ev->instance : "",
		      "count", (json_int_t)1,
		      "firstTimestamp", ev->now, "lastTimestamp", ev->now,
		      "reportingComponent", ev->component ? ev->component : "anysteer",
		      "reportingInstance", ev->instance ? ev->instance : "");
	*out = dump(j);
	return *out ? AS_OK : AS_ENOMEM;
}

/* ---- paths ------------------------------------------------------------------------- */

/* A DNS subdomain (RFC 1123, what object names and namespaces are). */
static bool dns_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > 253 || !isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static int fit(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? AS_ESPACE : AS_OK;
}

int k8s_status_path(int okind, const char *ns, const char *name,
		    char *buf, size_t len)
{
	const char *api = k8s_okind_api_version(okind);
	const char *res = k8s_okind_resource(okind);
	bool cluster = okind == K8S_O_INGRESSCLASS || okind == K8S_O_GATEWAYCLASS;

	if (!api || !dns_name(name) || (!cluster && !dns_name(ns)))
		return AS_EINVAL;
	if (cluster)
		return fit(snprintf(buf, len, "/apis/%s/%s/%s/status", api, res, name),
			   len);
	return fit(snprintf(buf, len, "/apis/%s/namespaces/%s/%s/%s/status", api,
			    ns, res, name), len);
}

static int coll_path(const char *prefix, const char *res, const char *ns,
		     const char *name, char *buf, size_t len)
{
	if (!dns_name(ns) || (name && !dns_name(name)))
		return AS_EINVAL;
	return fit(snprintf(buf, len, "%s/namespaces/%s/%s%s%s", prefix, ns, res,
			    name ? "/" : "", name ? name : ""), len);
}

int k8s_event_path(const char *ns, const char *name, char *buf, size_t len)
{
	return coll_path("/api/v1", "events", ns, name, buf, len);
}

int k8s_lease_path(const char *ns, const char *name, char *buf, size_t len)
{
	return coll_path("/apis/coordination.k8s.io/v1", "leases", ns, name, buf,
			 len);
}

int k8s_event_name(const char *obj_name, int64_t wall_us, char *buf,
		   size_t len)
{
	if (!dns_name(obj_name) || strlen(obj_name) > 253 - 17)
		return AS_EINVAL;
	return fit(snprintf(buf, len, "%s.%" PRIx64, obj_name,
			    (uint64_t)wall_us * 1000), len);
}
