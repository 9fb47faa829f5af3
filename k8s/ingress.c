/*
 * k8s/ingress.c - what an Ingress means for DNS: whose it is (class
 * selection) and which names it asks for, with which backend Service.
 *
 * Design. An Ingress routes HTTP by host and path; DNS can only route by
 * host. So each host gets exactly one backend Service, chosen the same
 * way on every node without coordination: the Service of its "/" prefix
 * path (what a browser's first request hits), else of its first path.
 * Every path that this sends elsewhere than the Ingress says is reported
 * as a warning, which the leader turns into an Event on the Ingress: the
 * compromise is published, never silent. Rules without a host match
 * every name, which a DNS zone cannot claim, so they name nothing (and
 * say so). docs/kubernetes.md describes the behaviour for users.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

#define MSG_MAX 900		/* Event messages stay readable (and < 1 KiB) */

static bool ours(const struct k8s_ingress_class *c)
{
	return c && !strcmp(c->controller, K8S_INGRESS_CONTROLLER);
}

int k8s_ingress_owner(const struct k8s_ingress *ing,
		      const k8s_objs_t *classes,
		      const char *annotation_class)
{
	const struct k8s_ingress_class *c;
	size_t n_def = 0, n_ours = 0;

	if (!annotation_class)
		annotation_class = K8S_DEFAULT_CLASS_NAME;
	if (ing->class_annotation && *ing->class_annotation) {
		/* An IngressClass of that name decides; without one, the
		 * name we answer to (ingress-nginx's --ingress-class). */
		c = k8s_objs_get(classes, "", ing->class_annotation);
		if (c)
			return ours(c) ? K8S_ING_BY_ANNOTATION : K8S_ING_NOT_OURS;
		return !strcmp(ing->class_annotation, annotation_class) ?
		       K8S_ING_BY_ANNOTATION : K8S_ING_NOT_OURS;
	}
	if (ing->class_name && *ing->class_name)
		return ours(k8s_objs_get(classes, "", ing->class_name)) ?
		       K8S_ING_BY_CLASS : K8S_ING_NOT_OURS;
	for (size_t i = 0; i < k8s_objs_count(classes); i++) {
		c = k8s_objs_at(classes, i);
		if (c->is_default) {
			n_def++;
			n_ours += ours(c);
		}
	}
	return n_def && n_def == n_ours ? K8S_ING_BY_DEFAULT : K8S_ING_NOT_OURS;
}

static bool is_root(const struct k8s_ingress_path *p)
{
	return p->type != K8S_PATH_EXACT &&
	       (!strcmp(p->path, "/") || !*p->path);
}

static bool same_backend(const struct k8s_ingress_backend *a,
			 const struct k8s_ingress_backend *b)
{
	return a->service && b->service && !strcmp(a->service, b->service) &&
	       !strcmp(a->port_name, b->port_name) && a->port == b->port;
}

static void backend_text(const struct k8s_ingress_backend *b, char *buf,
			 size_t len)
{
	if (!b->service)
		snprintf(buf, len, "(resource backend)");
	else if (b->port)
		snprintf(buf, len, "%s:%u", b->service, b->port);
	else
		snprintf(buf, len, "%s:%s", b->service, b->port_name);
}

static const char *const type_name[] = {
	[K8S_PATH_PREFIX] = "Prefix",
	[K8S_PATH_EXACT] = "Exact",
	[K8S_PATH_IMPL] = "ImplementationSpecific",
};

static bool host_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && !strncasecmp(a, b, la);
}

static int host_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_ingress_host *)a)->hostname,
		      ((const struct k8s_ingress_host *)b)->hostname);
}

/* Appends to a bounded message; "..." once it is full. */
static void msg_add(char *msg, size_t *len, const char *fmt, const char *a,
		    const char *b, const char *c)
{
	if (*len >= MSG_MAX)
		return;
	int n = snprintf(msg + *len, MSG_MAX + 4 - *len, fmt, a, b, c);

	if (n < 0 || *len + (size_t)n >= MSG_MAX) {
		memcpy(msg + MSG_MAX, "...", 4);
		*len = MSG_MAX;
		return;
	}
	*len += (size_t)n;
}

/* The path that decides host's backend: the first "/" path of its rules
 * from rules[first] on, else the first path; NULL when it has none. */
static const struct k8s_ingress_path *pick_path(const struct k8s_ingress *ing,
						const char *host, size_t first)
{
	const struct k8s_ingress_path *p0 = NULL;

	for (size_t i = first; i < ing->n_rules; i++) {
		const struct k8s_ingress_rule *r = &ing->rules[i];

		if (!host_eq(r->host, host))
			continue;
		for (size_t j = 0; j < r->n_paths; j++) {
			if (is_root(&r->paths[j]))
				return &r->paths[j];
			if (!p0)
				p0 = &r->paths[j];
		}
	}
	return p0;
}

/* Every path of host that DNS cannot honour exactly, in one warning:
 * every request for the name goes to be (chosen's backend). */
static int warn_compromises(const struct k8s_ingress *ing, const char *host,
			    size_t first, const struct k8s_ingress_path *chosen,
			    const struct k8s_ingress_backend *be,
			    const char *fqdn, struct k8s_ingress_result *out)
{
	char msg[MSG_MAX + 4], what[320];
	size_t len = 0;
	bool compromise = false;

	msg[0] = '\0';
	for (size_t i = first; i < ing->n_rules; i++) {
		const struct k8s_ingress_rule *r = &ing->rules[i];

		for (size_t j = 0; host_eq(r->host, host) && j < r->n_paths; j++) {
			const struct k8s_ingress_path *p = &r->paths[j];

			if (p == chosen && is_root(p))
				continue;
			if (is_root(p) && same_backend(&p->backend, be))
				continue;
			backend_text(&p->backend, what, sizeof(what));
			msg_add(msg, &len, "%s%s (%s) -> ", compromise ? "; " : "",
				*p->path ? p->path : "(none)", type_name[p->type]);
			msg_add(msg, &len, "%s%s%s", what,
				same_backend(&p->backend, be) ? " (same Service)" : "",
				"");
			compromise = true;
		}
	}
	if (!compromise)
		return 0;
	backend_text(be, what, sizeof(what));
	return k8s__warn(&out->warnings, &out->n_warnings,
			 "PathRoutingUnsupported",
			 "host %s: DNS routes by name only; every request "
			 "for it goes to Service %s (%s). Not honoured: %s",
			 fqdn, what,
			 is_root(chosen) ? "the \"/\" path" :
			 "the first path, there is no \"/\" path", msg);
}

/* Appends a host answered with be; takes fqdn and label. */
static int host_add(struct k8s_ingress_result *out, char *fqdn, char *label,
		    bool wild, const struct k8s_ingress_backend *be)
{
	struct k8s_ingress_host *h = realloc(out->hosts,
					     (out->n_hosts + 1) * sizeof(*h));

	if (!h) {
		free(fqdn);
		free(label);
		return AS_ENOMEM;
	}
	out->hosts = h;
	h = &h[out->n_hosts];
	memset(h, 0, sizeof(*h));
	h->hostname = fqdn;
	h->label = label;
	h->wildcard = wild;
	h->service = strdup(be->service);
	h->port_name = strdup(be->port_name);
	h->port = be->port;
	out->n_hosts++;
	return h->service && h->port_name ? AS_OK : AS_ENOMEM;
}

/* The one host at rules[first]: picks its backend, warns about the rest. */
static int one_host(const struct k8s_ingress *ing, const char *zone,
		    size_t first, struct k8s_ingress_result *out)
{
	const char *host = ing->rules[first].host;
	const struct k8s_ingress_path *chosen;
	const struct k8s_ingress_backend *be = NULL;
	char *fqdn, *label;
	bool wild;
	const char *why = k8s__zone_host(zone, host, &fqdn, &label, &wild);
	int rc;

	if (why) {
		if (!strcmp(why, "out of memory"))
			return AS_ENOMEM;
		return k8s__warn(&out->warnings, &out->n_warnings, "HostOutsideZone",
				 "host %.253s is not answered: %s (zone %.253s)",
				 host, why, zone) ? AS_ENOMEM : AS_OK;
	}
	chosen = pick_path(ing, host, first);
	if (chosen)
		be = &chosen->backend;
	else if (ing->has_default_backend)
		be = &ing->default_backend;	/* host matched, no path */
	if (!be) {
		rc = k8s__warn(&out->warnings, &out->n_warnings, "NoBackend",
			       "host %s has no paths and the Ingress no "
			       "defaultBackend: not answered", fqdn);
		goto done;
	}
	if (!be->service) {
		rc = k8s__warn(&out->warnings, &out->n_warnings,
			       "UnsupportedBackend",
			       "host %s: a resource backend is not a Service "
			       "with endpoints DNS could answer with: not "
			       "answered", fqdn);
		goto done;
	}
	if (chosen && (rc = warn_compromises(ing, host, first, chosen, be, fqdn,
					     out)))
		goto done;
	return host_add(out, fqdn, label, wild, be);
done:
	free(fqdn);
	free(label);
	return rc ? AS_ENOMEM : AS_OK;
}

int k8s_ingress_names(const struct k8s_ingress *ing, const char *zone,
		      struct k8s_ingress_result *out)
{
	size_t hostless = 0;
	int rc = AS_OK;

	memset(out, 0, sizeof(*out));
	if (!ing || !zone || !*zone)
		return AS_EINVAL;
	for (size_t i = 0; i < ing->n_rules && rc == AS_OK; i++) {
		const char *host = ing->rules[i].host;
		bool seen = false;

		if (!*host) {
			hostless++;
			continue;
		}
		for (size_t j = 0; j < i && !seen; j++)
			seen = host_eq(ing->rules[j].host, host);
		if (!seen)
			rc = one_host(ing, zone, i, out);
	}
	if (rc == AS_OK && hostless &&
	    k8s__warn(&out->warnings, &out->n_warnings, "NoHostIgnored",
		      "%zu rule(s) without a host match every name, which DNS "
		      "cannot claim: not answered", hostless))
		rc = AS_ENOMEM;
	if (rc == AS_OK && !ing->n_rules && ing->has_default_backend &&
	    k8s__warn(&out->warnings, &out->n_warnings, "NoHostIgnored",
		      "spec.defaultBackend alone matches every name, which DNS "
		      "cannot claim: not answered (add a rule with a host)"))
		rc = AS_ENOMEM;
	if (rc) {
		k8s_ingress_result_free(out);
		return rc;
	}
	/* Two spellings of a host ("A.zone", "a.zone.") are one name. */
	if (out->n_hosts > 1)
		qsort(out->hosts, out->n_hosts, sizeof(*out->hosts), host_cmp);
	return AS_OK;
}

void k8s_ingress_result_free(struct k8s_ingress_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_hosts; i++) {
		free(r->hosts[i].hostname);
		free(r->hosts[i].label);
		free(r->hosts[i].service);
		free(r->hosts[i].port_name);
	}
	free(r->hosts);
	k8s__warnings_free(r->warnings, r->n_warnings);
	memset(r, 0, sizeof(*r));
}
