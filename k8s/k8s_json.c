/*
 * k8s/k8s_json.c - JSON, name and time helpers shared by the Ingress,
 * Gateway API, status and Lease code (k8s/k8s_json.h), and the public
 * RFC 3339 time functions.
 *
 * Design. Kubernetes objects come from a server we trust to be honest
 * but not to be the version we were written against, or from a fuzzer:
 * every member is type-checked where it is read, absent and null mean
 * the same, and nothing here aborts.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

int k8s__str(const json_t *obj, const char *name, const char **out)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

int k8s__typed(const json_t *obj, const char *name, json_type type,
	       json_t **out)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (json_typeof(v) != type)
		return -1;
	*out = v;
	return 0;
}

int k8s__int(const json_t *obj, const char *name, int64_t lo, int64_t hi,
	     int64_t *out)
{
	json_t *v = json_object_get(obj, name);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

char *k8s__dup(const char *s)
{
	return strdup(s ? s : "");
}

int k8s__meta(const json_t *obj, bool cluster, struct k8s_meta *md)
{
	json_t *m;
	const char *ns, *name, *uid, *rv, *ct;

	memset(md, 0, sizeof(*md));
	if (!json_is_object(obj) || k8s__typed(obj, "metadata", JSON_OBJECT, &m) ||
	    !m || k8s__str(m, "namespace", &ns) || k8s__str(m, "name", &name) ||
	    k8s__str(m, "uid", &uid) || k8s__str(m, "resourceVersion", &rv) ||
	    k8s__str(m, "creationTimestamp", &ct) ||
	    k8s__int(m, "generation", 0, INT64_MAX, &md->generation))
		return -1;
	if (!name || !*name || strchr(name, '/') || strlen(name) > 253)
		return -1;
	if (cluster)
		ns = "";
	else if (!ns || !*ns || strchr(ns, '/') || strlen(ns) > 63)
		return -1;
	md->namespace_ = strdup(ns);
	md->name = strdup(name);
	md->uid = k8s__dup(uid);
	md->resource_version = k8s__dup(rv);
	md->created = k8s__dup(ct);
	if (!md->namespace_ || !md->name || !md->uid || !md->resource_version ||
	    !md->created) {
		k8s__meta_free(md);
		return -1;
	}
	return 0;
}

void k8s__meta_free(struct k8s_meta *md)
{
	free(md->namespace_);
	free(md->name);
	free(md->uid);
	free(md->resource_version);
	free(md->created);
	memset(md, 0, sizeof(*md));
}

void k8s__conds_free(struct k8s_condition *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].type);
		free(c[i].status);
		free(c[i].reason);
		free(c[i].message);
		free(c[i].last_transition);
	}
	free(c);
}

int k8s__cond_set(struct k8s_condition *c, const char *type, bool status,
		  const char *reason, const char *message, int64_t gen)
{
	c->type = strdup(type);
	c->status = strdup(status ? "True" : "False");
	c->reason = strdup(reason);
	c->message = strdup(message);
	c->last_transition = strdup("");
	c->observed_generation = gen;
	return c->type && c->status && c->reason && c->message &&
	       c->last_transition ? 0 : -1;
}

int k8s__conds(const json_t *arr, struct k8s_condition **out, size_t *n)
{
	size_t len = json_array_size(arr);
	struct k8s_condition *c;

	*out = NULL;
	*n = 0;
	if (!len)
		return 0;
	if (len > 64)
		return -1;
	c = calloc(len, sizeof(*c));
	if (!c)
		return -1;
	for (size_t i = 0; i < len; i++) {
		json_t *o = json_array_get(arr, i);
		const char *type, *st, *reason, *msg, *ltt;

		*n = i + 1;
		if (!json_is_object(o) || k8s__str(o, "type", &type) || !type ||
		    k8s__str(o, "status", &st) || k8s__str(o, "reason", &reason) ||
		    k8s__str(o, "message", &msg) ||
		    k8s__str(o, "lastTransitionTime", &ltt) ||
		    k8s__int(o, "observedGeneration", 0, INT64_MAX,
			     &c[i].observed_generation))
			goto bad;
		c[i].type = strdup(type);
		c[i].status = k8s__dup(st);
		c[i].reason = k8s__dup(reason);
		c[i].message = k8s__dup(msg);
		c[i].last_transition = k8s__dup(ltt);
		if (!c[i].type || !c[i].status || !c[i].reason || !c[i].message ||
		    !c[i].last_transition)
			goto bad;
	}
	*out = c;
	return 0;
bad:
	k8s__conds_free(c, *n);
	*n = 0;
	return -1;
}

void k8s__strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int k8s__strv_add(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		char **nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -1;
		*v = nv;
		*cap = nc;
	}
	(*v)[*n] = strdup(s);
	if (!(*v)[*n])
		return -1;
	(*n)++;
	return 0;
}

int k8s__warn(struct k8s_warning **v, size_t *n, const char *reason,
	      const char *fmt, ...)
{
	struct k8s_warning *nv = realloc(*v, (*n + 1) * sizeof(*nv));
	va_list ap;
	char *msg = NULL;
	int rc;

	if (!nv)
		return -1;
	*v = nv;
	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	nv[*n].reason = strdup(reason);
	nv[*n].message = msg;
	nv[*n].okind = -1;
	nv[*n].namespace_ = nv[*n].name = NULL;
	if (!nv[*n].reason) {
		free(msg);
		return -1;
	}
	(*n)++;
	return 0;
}

int k8s__warn_obj(struct k8s_warning *v, size_t n, int okind, const char *ns,
		 const char *name)
{
	struct k8s_warning *w = &v[n - 1];

	w->okind = okind;
	w->namespace_ = k8s__dup(ns);
	w->name = k8s__dup(name);
	return w->namespace_ && w->name ? 0 : -1;
}

void k8s__warnings_free(struct k8s_warning *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].reason);
		free(v[i].message);
		free(v[i].namespace_);
		free(v[i].name);
	}
	free(v);
}

const char *k8s__zone_host(const char *zone, const char *host, char **fqdn,
			   char **label, bool *wildcard)
{
	size_t zl = strlen(zone), n = strlen(host), ll;

	*fqdn = *label = NULL;
	*wildcard = false;
	if (zl && zone[zl - 1] == '.')
		zl--;
	if (n && host[n - 1] == '.')
		n--;
	if (!n)
		return "empty host";
	if (n > 253)
		return "longer than 253 characters";
	if (n == zl && !strncasecmp(host, zone, zl))
		return "the zone apex (it carries the zone's SOA and NS)";
	if (n <= zl + 1 || host[n - zl - 1] != '.' ||
	    strncasecmp(host + n - zl, zone, zl) != 0)
		return "not in the zone";
	ll = n - zl - 1;
	if (ll > 63)
		return "label longer than 63 characters";
	if (memchr(host, '.', ll))
		return "more than one label below the zone";
	if (ll == 1 && host[0] == '*') {
		*wildcard = true;
	} else {
		for (size_t i = 0; i < ll; i++) {
			unsigned char c = (unsigned char)host[i];

			if (!isalnum(c) && c != '-')
				return "not a host name";
		}
		if (host[0] == '-' || host[ll - 1] == '-')
			return "not a host name";
	}
	*fqdn = malloc(n + 2);
	*label = malloc(ll + 1);
	if (!*fqdn || !*label) {
		free(*fqdn);
		free(*label);
		*fqdn = *label = NULL;
		return "out of memory";
	}
	for (size_t i = 0; i < n; i++)
		(*fqdn)[i] = (char)tolower((unsigned char)host[i]);
	(*fqdn)[n] = '.';
	(*fqdn)[n + 1] = '\0';
	memcpy(*label, *fqdn, ll);
	(*label)[ll] = '\0';
	return NULL;
}

json_t *k8s__load(const char *json, size_t len)
{
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);

	if (root && !json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

json_t *k8s__list_open(const char *json, size_t len, const char *list_kind,
		       json_t **items, char *rv, size_t rv_len, char *cont,
		       size_t cont_len)
{
	json_t *root = k8s__load(json, len), *md;
	const char *k, *c = NULL, *r = NULL;

	if (rv && rv_len)
		rv[0] = '\0';
	if (cont && cont_len)
		cont[0] = '\0';
	if (!root || k8s__str(root, "kind", &k) || (k && strcmp(k, list_kind)) ||
	    k8s__typed(root, "items", JSON_ARRAY, items) ||
	    k8s__typed(root, "metadata", JSON_OBJECT, &md) ||
	    (md && (k8s__str(md, "continue", &c) ||
		    k8s__str(md, "resourceVersion", &r)))) {
		json_decref(root);
		return NULL;
	}
	if (r && rv && strlen(r) < rv_len)
		memcpy(rv, r, strlen(r) + 1);
	if (c && cont && strlen(c) < cont_len)
		memcpy(cont, c, strlen(c) + 1);
	return root;
}

json_t *k8s__event_open(const char *json, size_t len,
			struct k8s_event_info *info, json_t **obj)
{
	static const char *const types[] = {
		[K8S_EV_ADDED] = "ADDED",	[K8S_EV_MODIFIED] = "MODIFIED",
		[K8S_EV_DELETED] = "DELETED",	[K8S_EV_BOOKMARK] = "BOOKMARK",
		[K8S_EV_ERROR] = "ERROR",
	};
	json_t *root = k8s__load(json, len), *md;
	const char *type = NULL, *rv = NULL;

	memset(info, 0, sizeof(*info));
	if (root && !k8s__str(root, "type", &type))
		for (int i = 1; type && i < (int)AS_ARRAY_SIZE(types); i++)
			if (!strcmp(type, types[i]))
				info->type = i;
	if (!info->type || k8s__typed(root, "object", JSON_OBJECT, obj) || !*obj) {
		info->type = 0;
		json_decref(root);
		return NULL;
	}
	if (info->type == K8S_EV_ERROR) {
		json_t *code = json_object_get(*obj, "code");

		info->code = json_is_integer(code) && json_integer_value(code) > 0 &&
			json_integer_value(code) < 1000 ?
			(int)json_integer_value(code) : 0;
	} else if (!k8s__typed(*obj, "metadata", JSON_OBJECT, &md) && md &&
		   !k8s__str(md, "resourceVersion", &rv) && rv &&
		   strlen(rv) < sizeof(info->rv)) {
		memcpy(info->rv, rv, strlen(rv) + 1);
	}
	return root;
}

/* ---- RFC 3339 ----------------------------------------------------------------- */

int k8s_time_format(int64_t us, bool micro, char *buf, size_t len)
{
	time_t t = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
	int64_t frac = us - (int64_t)t * 1000000;
	struct tm tm;
	int n;

	if (!gmtime_r(&t, &tm))
		return AS_ERANGE;
	if (micro)
		n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
	else
		n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			     tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n < 0 || (size_t)n >= len ? AS_ESPACE : AS_OK;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

int k8s_time_parse(const char *s, int64_t *us)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t frac = 0;
	const char *p = s;
	struct tm tm = { 0 };

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d) || (*p != 'T' && *p != 't'))
		return AS_EPARSE;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
	    *p++ != ':' || digits(&p, 2, &sec))
		return AS_EPARSE;
	if (*p == '.') {
		int64_t scale = 100000;

		p++;
		if (!isdigit((unsigned char)*p))
			return AS_EPARSE;
		for (; isdigit((unsigned char)*p); p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;

		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return AS_EPARSE;
		oh *= sign;
		om *= sign;
	} else {
		return AS_EPARSE;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return AS_EPARSE;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);

	*us = ((int64_t)t - oh * 3600 - om * 60) * 1000000 + frac;
	return AS_OK;
}
