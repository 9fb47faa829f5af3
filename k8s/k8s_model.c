/*
 * k8s/k8s_model.c - the pure translator: Service and EndpointSlice JSON
 * in, the endpoint set of this node out.
 *
 * Design. The store keeps two tables sorted by "namespace/name": the
 * annotated Services (hostnames, TTL, weight, max-answers, ports) and
 * the EndpointSlices that have at least one ready address on this node
 * (only those addresses are kept, so memory follows the node, not the
 * cluster). Every object is parsed completely into a fresh record before
 * the table is touched, so an object that fails half way leaves the old
 * record in place: bad input is counted and skipped, never half applied.
 * A relist marks every record, unmarks what the list contains and drops
 * the rest at the end, which also works across paginated lists.
 * The set is derived on demand: one entry per hostname, endpoints merged
 * across a Service's slices, de-duplicated and sorted so two sets compare
 * with a plain walk.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "k8s/k8s.h"
#include "k8s/k8s_json.h"
#include "lib/as.h"

#define HOSTNAME_MAX 253
#define LABEL_MAX 63

struct svc_port {
	char *name, *protocol;
	uint16_t port;
};

struct svc_rec {
	char **hostnames;	/* FQDN, lower case, trailing dot */
	size_t n_hostnames;
	uint32_t ttl, weight, max_answers;
	char *path;		/* anysteer.io/path */
	char **avoid;		/* anysteer.io/path-avoid */
	size_t n_avoid;
	struct k8s_intent intent;	/* also for a Service without a
					 * hostname: its Ingress and route
					 * names may take it (publish.c) */
	struct svc_port *ports;
	size_t n_ports;
};

struct slice_rec {
	char *svc_key;		/* "namespace/service-name" */
	struct svc_port *ports;	/* the target ports */
	size_t n_ports;
	struct k8s_endpoint *eps;	/* ready, on this node */
	size_t n_eps;
	size_t n_ready;		/* ready endpoints on every node (weights) */
};

struct item {
	char *key;		/* "namespace/name" */
	void *rec;
	bool seen;		/* relist mark */
};

struct table {
	struct item *v;
	size_t n, cap;
	bool relisting;
};

struct k8s_store {
	char *zone;		/* lower case, no trailing dot */
	char *node;
	struct table tab[K8S_N_KINDS];
	struct k8s_store_stats st;
};

static const char *const kind_name[K8S_N_KINDS] = {
	"Service", "EndpointSlice",
};
static const char *const list_kind_name[K8S_N_KINDS] = {
	"ServiceList", "EndpointSliceList",
};

/* ---- records -------------------------------------------------------------- */

static void ports_free(struct svc_port *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].protocol);
	}
	free(p);
}

static void eps_free(struct k8s_endpoint *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].address);
		free(e[i].pod);
	}
	free(e);
}

static void svc_free(struct svc_rec *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_hostnames; i++)
		free(s->hostnames[i]);
	free(s->hostnames);
	free(s->path);
	k8s__strv_free(s->avoid, s->n_avoid);
	k8s__intent_free(&s->intent);
	ports_free(s->ports, s->n_ports);
	free(s);
}

static void slice_free(struct slice_rec *s)
{
	if (!s)
		return;
	free(s->svc_key);
	ports_free(s->ports, s->n_ports);
	eps_free(s->eps, s->n_eps);
	free(s);
}

static void rec_free(int kind, void *rec)
{
	if (kind == K8S_SERVICES)
		svc_free(rec);
	else
		slice_free(rec);
}

/* ---- table ---------------------------------------------------------------- */

static size_t tab_find(const struct table *t, const char *key, bool *found)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].key, key);

		if (c == 0) {
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

/* Takes ownership of rec (NULL = remove the key). Returns whether the
 * table changed, or AS_ENOMEM (rec freed). */
static int tab_put(struct table *t, int kind, const char *key, void *rec)
{
	bool found;
	size_t i = tab_find(t, key, &found);

	if (found) {
		rec_free(kind, t->v[i].rec);
		if (rec) {
			t->v[i].rec = rec;
			t->v[i].seen = true;
			return 1;
		}
		free(t->v[i].key);
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
		return 1;
	}
	if (!rec)
		return 0;
	if (AS_GROW(t->v, t->cap, t->n + 1)) {
		rec_free(kind, rec);
		return AS_ENOMEM;
	}
	char *k = strdup(key);

	if (!k) {
		rec_free(kind, rec);
		return AS_ENOMEM;
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i] = (struct item){ .key = k, .rec = rec, .seen = true };
	t->n++;
	return 1;
}

/* Marks a key as present in the current relist without replacing it. */
static void tab_mark(struct table *t, const char *key)
{
	bool found;
	size_t i = tab_find(t, key, &found);

	if (found)
		t->v[i].seen = true;
}

/* ---- JSON helpers ------------------------------------------------------------ */

/* Typed member access: k8s__str and k8s__typed (k8s_json.c). */

/* Reads metadata.namespace/name into "ns/name". -1 if missing. */
static int object_key(const json_t *obj, char *key, size_t len)
{
	json_t *md;
	const char *ns, *name;

	if (!json_is_object(obj) || k8s__typed(obj, "metadata", JSON_OBJECT, &md) || !md)
		return -1;
	if (k8s__str(md, "namespace", &ns) || k8s__str(md, "name", &name) ||
	    !ns || !name || !*ns || !*name || strchr(ns, '/') ||
	    strchr(name, '/'))
		return -1;
	int n = snprintf(key, len, "%s/%s", ns, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void copy_rv(const json_t *obj, char *rv, size_t rv_len)
{
	json_t *md;
	const char *s = NULL;

	if (!rv || !rv_len)
		return;
	rv[0] = '\0';
	if (k8s__typed(obj, "metadata", JSON_OBJECT, &md) || !md ||
	    k8s__str(md, "resourceVersion", &s) || !s)
		return;
	if (strlen(s) < rv_len)
		memcpy(rv, s, strlen(s) + 1);
}

/* Decimal in [lo, hi], the whole string. */
static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > hi)
			return -1;
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s || v < lo)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static char *lower_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[n] = '\0';
	return d;
}

/* ---- Service ------------------------------------------------------------------ */

/*
 * One comma-separated name: returns a new FQDN with trailing dot if it is
 * exactly one LDH label below the zone, NULL (counted) otherwise.
 *
 * This parses the anysteer.io/hostname (or external-dns) annotation, so
 * it is k8s/'s: which part is below the zone, and that it is one label.
 * The label check itself is the host-name rule that dns/name.c owns
 * (dns_name_label_problem); k8s/ sits beside dns/ and may not include it,
 * so it is repeated here only to count and warn per Service, where the
 * operator looks. It is not the authority: whoever maps the entries into
 * the catalog (agent/) checks every label with dns_name_service_problem,
 * which also knows the zone's nameserver labels, which this store does not.
 * tests/unit/test_name_rules.c keeps the two in step.
 */
static char *zone_name(k8s_store_t *store, const char *key,
		       const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n && s[n - 1] == '.')
		n--;
	if (!n)
		return NULL;	/* empty item, e.g. "a,,b": ignored */

	size_t zl = strlen(store->zone);
	const char *why = NULL;

	if (n > HOSTNAME_MAX)
		why = "too long";
	else if (n <= zl + 1 || s[n - zl - 1] != '.' ||
		 strncasecmp(s + n - zl, store->zone, zl) != 0)
		why = "not below the zone";
	else {
		size_t ll = n - zl - 1;

		if (ll > LABEL_MAX)
			why = "label too long";
		for (size_t i = 0; !why && i < ll; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '.')
				why = "more than one label below the zone";
			else if (!isalnum(c) && c != '-')
				why = "not a host name";
		}
		if (!why && (s[0] == '-' || s[ll - 1] == '-'))
			why = "not a host name";
	}
	if (why) {
		store->st.bad_hostnames++;
		as_warn("k8s: service %s: hostname \"%.*s\" skipped: %s (zone %s)",
			key, (int)AS_MIN(n, 300), s, why, store->zone);
		return NULL;
	}
	char *d = lower_dup(s, n + 1);

	if (d)
		d[n] = '.';
	return d;
}

/* Protocol "TCP" -> "tcp"; NULL/absent -> "tcp". */
static char *proto_dup(const char *p)
{
	if (!p)
		p = "TCP";
	if (strcasecmp(p, "TCP") && strcasecmp(p, "UDP") && strcasecmp(p, "SCTP"))
		return NULL;
	return lower_dup(p, strlen(p));
}

/* Parses a ports array (Service or EndpointSlice). port_required: the
 * Service form (port must be 1..65535); slices may leave it null. */
static int parse_ports(const json_t *arr, bool port_required,
		       struct svc_port **out, size_t *n_out)
{
	size_t n = json_array_size(arr);
	struct svc_port *p;

	*out = NULL;
	*n_out = 0;
	if (!n)
		return 0;
	if (n > 1000)
		return -1;
	p = calloc(n, sizeof(*p));
	if (!p)
		return AS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i), *pv;
		const char *name, *proto;

		if (!json_is_object(o) || k8s__str(o, "name", &name) ||
		    k8s__str(o, "protocol", &proto))
			goto bad;
		pv = json_object_get(o, "port");
		if (pv && json_is_integer(pv)) {
			json_int_t v = json_integer_value(pv);

			if (v < 1 || v > 65535)
				goto bad;
			p[i].port = (uint16_t)v;
		} else if (port_required || (pv && !json_is_null(pv))) {
			goto bad;
		}
		p[i].name = strdup(name ? name : "");
		p[i].protocol = proto_dup(proto);
		if (!p[i].name || !p[i].protocol)
			goto bad;
		*n_out = i + 1;
	}
	*out = p;
	*n_out = n;
	return 0;
bad:
	ports_free(p, n);
	*n_out = 0;
	return -1;
}

/*
 * The intent's words. The names are dns/'s (dns_objective_values,
 * dns_spread_values), which k8s/ may not include; they are repeated here
 * only to refuse a bad value on the object, where the operator looks,
 * and tests/unit/test_name_rules.c keeps the copies in step. The catalog
 * (agent/) reads them with dns/'s parsers.
 */
static const char *const objectives[] = { "balance", "locality",
					   "resilience", "latency", NULL };
static const char *const spreads[] = { "node", "zone", NULL };

static int parse_word(const char *s, const char *const *words, char **out)
{
	for (size_t i = 0; words[i]; i++)
		if (strcmp(s, words[i]) == 0)
			return (*out = strdup(words[i])) ? 0 : -1;
	return -1;
}

/* A decimal number in 0..1 ("0.8", "1"). */
static int parse_fraction(const char *s, double *out)
{
	char *end = NULL;
	double v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '.')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	while (end && isspace((unsigned char)*end))
		end++;
	if (errno || !end || *end || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

/* One annotation: absent, or a string that parse() takes. */
static bool bad_value(const json_t *ann, const char *key, const char *must,
		      int (*parse)(const char *, void *), void *out,
		      char *why, size_t why_len)
{
	json_t *v = ann ? json_object_get(ann, key) : NULL;
	const char *s = json_string_value(v);

	if (!v || json_is_null(v))
		return false;
	if (s && parse(s, out) == 0)
		return false;
	if (s)
		snprintf(why, why_len, "%s \"%.64s\": must be %s", key, s, must);
	else
		snprintf(why, why_len, "%s: not a string (must be %s)", key, must);
	return true;
}

static int objective_of(const char *s, void *out)
{
	return parse_word(s, objectives, out);
}

static int spread_of(const char *s, void *out)
{
	return parse_word(s, spreads, out);
}

static int fraction_of(const char *s, void *out)
{
	return parse_fraction(s, out);
}

bool k8s__intent_set(const struct k8s_intent *in)
{
	return in->objective || in->spread || in->spill_over >= 0;
}

void k8s__intent_free(struct k8s_intent *in)
{
	free(in->objective);
	free(in->spread);
	free(in->error);
	*in = (struct k8s_intent){ .spill_over = -1 };
}

int k8s__intent_copy(struct k8s_intent *dst, const struct k8s_intent *src)
{
	dst->spill_over = src->spill_over;
	if ((src->objective && !(dst->objective = strdup(src->objective))) ||
	    (src->spread && !(dst->spread = strdup(src->spread))))
		return -1;
	return 0;
}

/* The intent annotations, with the configuration's checks: a word it
 * knows, and spill-over / spread only with the objectives that read
 * them, so a misspelt objective cannot silently drop them. */
int k8s__intent_parse(const json_t *ann, struct k8s_intent *out, char *why,
		      size_t why_len)
{
	*out = (struct k8s_intent){ .spill_over = -1 };
	if (bad_value(ann, K8S_ANN_OBJECTIVE,
		      "balance, locality, resilience or latency", objective_of,
		      &out->objective, why, why_len) ||
	    bad_value(ann, K8S_ANN_SPILL_OVER, "a number in 0..1", fraction_of,
		      &out->spill_over, why, why_len) ||
	    bad_value(ann, K8S_ANN_SPREAD, "node or zone", spread_of,
		      &out->spread, why, why_len))
		goto bad;

	const char *o = out->objective ? out->objective : "balance";

	if (out->spill_over >= 0 && strcmp(o, "locality") != 0 &&
	    strcmp(o, "latency") != 0) {
		snprintf(why, why_len, "%s applies to objectives locality and "
			 "latency only (objective is %s)", K8S_ANN_SPILL_OVER, o);
		goto bad;
	}
	if (out->spread && strcmp(o, "resilience") != 0) {
		snprintf(why, why_len, "%s applies to objective resilience only "
			 "(objective is %s)", K8S_ANN_SPREAD, o);
		goto bad;
	}
	return 0;
bad:
	k8s__intent_free(out);
	return -1;
}

/* The TTL, weight and max-answers annotations, and the SRv6 path. -1
 * (logged) if one is out of range or not a string. */
static int parse_attrs(const char *key, const json_t *ann, struct svc_rec *r)
{
	const char *s;

	r->weight = K8S_DEFAULT_WEIGHT;
	if (k8s__str(ann, K8S_ANN_TTL, &s) ||
	    (s && parse_u32(s, 1, 86400, &r->ttl))) {
		as_warn("k8s: service %s: %s must be 1..86400", key, K8S_ANN_TTL);
		return -1;
	}
	if (k8s__str(ann, K8S_ANN_WEIGHT, &s) ||
	    (s && parse_u32(s, 0, 65535, &r->weight))) {
		as_warn("k8s: service %s: %s must be 0..65535", key, K8S_ANN_WEIGHT);
		return -1;
	}
	if (k8s__str(ann, K8S_ANN_MAX_ANSWERS, &s) ||
	    (s && parse_u32(s, 1, 64, &r->max_answers))) {
		as_warn("k8s: service %s: %s must be 1..64", key, K8S_ANN_MAX_ANSWERS);
		return -1;
	}
	/* The intent, as written: the agent judges the words. */
	if (k8s__str(ann, K8S_ANN_PATH, &s) || (s && !(r->path = strdup(s))))
		return -1;
	if (k8s__str(ann, K8S_ANN_PATH_AVOID, &s))
		return -1;
	for (size_t cap = 0; s && *s;) {
		size_t n = strcspn(s, ",");
		char w[80];
		const char *b = s, *e = s + n;
		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		/* Longer than a tag may be: kept cut, so the agent refuses it. */
		snprintf(w, sizeof(w), "%.*s", (int)AS_MIN((size_t)(e - b), sizeof(w) - 1), b);
		if (*w && k8s__strv_add(&r->avoid, &r->n_avoid, &cap, w))
			return -1;
		s += n + (s[n] == ',');
	}
	return 0;
}

/* The comma-separated hostname annotation: the names in the zone, each
 * once (r->n_hostnames may end up 0). -1 if there are too many or on
 * memory. */
static int parse_hostnames(k8s_store_t *store, const char *key,
			   const char *hn, struct svc_rec *r)
{
	/* Count the commas for the array size. */
	size_t cap = 1;

	for (const char *c = hn; *c; c++)
		cap += *c == ',';
	if (cap > 64) {
		as_warn("k8s: service %s: more than 64 hostnames", key);
		return -1;
	}
	r->hostnames = calloc(cap, sizeof(char *));
	if (!r->hostnames)
		return -1;
	for (const char *p = hn;;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char *name = zone_name(store, key, p, n);

		if (name) {
			bool dup = false;

			for (size_t i = 0; i < r->n_hostnames; i++)
				dup |= !strcmp(r->hostnames[i], name);
			if (dup)
				free(name);
			else
				r->hostnames[r->n_hostnames++] = name;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* Parses a Service. Returns 0 with *out a record (or NULL when the Service
 * is not one to keep), or -1 if malformed. Every Service but an
 * ExternalName one is kept: those without a hostname of the zone
 * (n_hostnames 0) only for their ports, as Ingress and route backends. */
static int parse_service(k8s_store_t *store, const char *key,
			 const json_t *obj, struct svc_rec **out)
{
	json_t *md, *ann, *spec, *ports = NULL;
	const char *hn = NULL, *type = NULL;
	struct svc_rec *r = NULL;
	char why[256];

	*out = NULL;
	if (k8s__typed(obj, "metadata", JSON_OBJECT, &md) ||
	    k8s__typed(md, "annotations", JSON_OBJECT, &ann) ||
	    k8s__typed(obj, "spec", JSON_OBJECT, &spec))
		return -1;
	if (ann && k8s__str(ann, K8S_ANN_HOSTNAME, &hn))
		return -1;
	if (ann && !hn && k8s__str(ann, K8S_ANN_EXTDNS, &hn))
		return -1;
	if (spec && (k8s__str(spec, "type", &type) ||
		     k8s__typed(spec, "ports", JSON_ARRAY, &ports)))
		return hn ? -1 : 0;
	if (spec && type && !strcmp(type, "ExternalName")) {
		as_debug("k8s: service %s: ExternalName, ignored", key);
		return 0;
	}

	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	/* With or without a hostname: an Ingress or route may take it. */
	if (k8s__intent_parse(ann, &r->intent, why, sizeof(why))) {
		as_warn("k8s: service %s: %s", key, why);
		goto bad;
	}
	if (ports && parse_ports(ports, true, &r->ports, &r->n_ports)) {
		if (!hn) {
			/* Not annotated: a backend nobody can use, not an error. */
			svc_free(r);
			return 0;
		}
		as_warn("k8s: service %s: bad spec.ports", key);
		goto bad;
	}
	if (!hn) {
		r->weight = K8S_DEFAULT_WEIGHT;
		*out = r;
		return 0;
	}
	if (parse_attrs(key, ann, r))
		goto bad;
	if (parse_hostnames(store, key, hn, r))
		goto bad;
	*out = r;
	return 0;
bad:
	svc_free(r);
	return -1;
}

/* ---- EndpointSlice -------------------------------------------------------------- */

/* Appends one endpoint of this node to r (*cap: r->eps' room). */
static int add_endpoint(struct slice_rec *r, size_t *cap, int family,
			const uint8_t *addr, const char *pod)
{
	if (AS_GROW(r->eps, *cap, r->n_eps + 1))
		return -1;
	struct k8s_endpoint *e = &r->eps[r->n_eps];
	char txt[INET6_ADDRSTRLEN];

	memset(e, 0, sizeof(*e));
	e->family = family;
	memcpy(e->addr, addr, family == AF_INET6 ? 16 : 4);
	inet_ntop(family, addr, txt, sizeof(txt));
	e->address = strdup(txt);
	e->pod = strdup(pod ? pod : "");
	r->n_eps++;
	return e->address && e->pod ? 0 : -1;
}

/* One element of a slice's endpoints: every address is validated, and
 * kept when the endpoint is ready on this node. -1 if malformed. */
static int parse_endpoint(const k8s_store_t *store, int family,
			  const json_t *ep, struct slice_rec *r, size_t *cap,
			  size_t idx, char *why, size_t why_len)
{
	json_t *addrs, *cond, *ref, *rd;
	const char *node, *pod = NULL;
	bool ready = true;

	if (!json_is_object(ep) ||
	    k8s__typed(ep, "addresses", JSON_ARRAY, &addrs) ||
	    k8s__typed(ep, "conditions", JSON_OBJECT, &cond) ||
	    k8s__typed(ep, "targetRef", JSON_OBJECT, &ref) ||
	    k8s__str(ep, "nodeName", &node) ||
	    (ref && k8s__str(ref, "name", &pod)))
		return -1;
	/* "ready": nil means true (discovery.k8s.io/v1). */
	rd = cond ? json_object_get(cond, "ready") : NULL;
	if (rd && !json_is_null(rd)) {
		if (!json_is_boolean(rd))
			return -1;
		ready = json_is_true(rd);
	}
	if (!addrs || json_array_size(addrs) == 0)
		return -1;
	if (ready)
		r->n_ready++;
	/* Validate every address even when not ours, so a bad slice
	 * is rejected the same way on every node. */
	for (size_t j = 0; j < json_array_size(addrs); j++) {
		const char *a = json_string_value(json_array_get(addrs, j));
		uint8_t buf[16];

		if (!a || inet_pton(family, a, buf) != 1) {
			/* Name the field: which address of which endpoint. */
			snprintf(why, why_len, "endpoints[%zu].addresses[%zu] %s%.64s%s "
				 "is not an %s address", idx, j, a ? "\"" : "",
				 a ? a : "(not a string)", a ? "\"" : "",
				 family == AF_INET6 ? "IPv6" : "IPv4");
			return -1;
		}
		if (!ready || !node || strcmp(node, store->node))
			continue;
		if (add_endpoint(r, cap, family, buf, pod))
			return -1;
	}
	return 0;
}

static int parse_slice(k8s_store_t *store, const char *key,
		       const json_t *obj, struct slice_rec **out, char *why,
		       size_t why_len)
{
	json_t *md, *labels, *eps, *ports;
	const char *svc, *at, *ns;
	struct slice_rec *r = NULL;
	int family;

	*out = NULL;
	if (k8s__typed(obj, "metadata", JSON_OBJECT, &md) ||
	    k8s__typed(md, "labels", JSON_OBJECT, &labels) ||
	    k8s__str(obj, "addressType", &at) ||
	    k8s__typed(obj, "endpoints", JSON_ARRAY, &eps) ||
	    k8s__typed(obj, "ports", JSON_ARRAY, &ports))
		return -1;
	if (!labels || k8s__str(labels, K8S_LABEL_SERVICE, &svc) || !svc ||
	    !*svc || strchr(svc, '/'))
		return 0;	/* not managed for a Service: not ours */
	if (!at)
		return -1;
	if (!strcmp(at, "IPv6"))
		family = AF_INET6;
	else if (!strcmp(at, "IPv4"))
		family = AF_INET;
	else
		return 0;	/* FQDN slices carry no addresses we can answer */
	if (!eps)
		return 0;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -1;
	k8s__str(md, "namespace", &ns);
	size_t kl = strlen(ns) + strlen(svc) + 2;

	r->svc_key = malloc(kl);
	if (!r->svc_key)
		goto bad;
	snprintf(r->svc_key, kl, "%s/%s", ns, svc);
	if (ports && parse_ports(ports, false, &r->ports, &r->n_ports))
		goto bad;

	size_t n = json_array_size(eps), cap = 0;

	if (n > 10000)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (parse_endpoint(store, family, json_array_get(eps, i), r, &cap, i,
				   why, why_len))
			goto bad;
	if (!r->n_ready) {
		slice_free(r);
		return 0;
	}
	*out = r;
	return 0;
bad:
	slice_free(r);
	return -1;
}

/* ---- applying ---------------------------------------------------------------------- */

static void malformed(k8s_store_t *store, int kind, const char *key,
		      const char *what)
{
	store->st.malformed++;
	as_warn("k8s: %s %s: %s, skipped (previous state kept)",
		kind_name[kind], key ? key : "(unnamed)", what);
}

/* Parses obj and replaces (or removes) its record. Returns 1 changed,
 * 0 unchanged, -1 malformed (store untouched). */
static int upsert(k8s_store_t *store, int kind, const json_t *obj,
		  bool relist)
{
	char key[512], why[256] = "";
	void *rec = NULL;
	int rc;

	if (object_key(obj, key, sizeof(key))) {
		malformed(store, kind, NULL, "no metadata.namespace/name");
		return -1;
	}
	if (kind == K8S_SERVICES)
		rc = parse_service(store, key, obj, (struct svc_rec **)&rec);
	else
		rc = parse_slice(store, key, obj, (struct slice_rec **)&rec, why,
				 sizeof(why));
	if (rc) {
		malformed(store, kind, key, why[0] ? why : "malformed object");
		/* A relist keeps the old record of a bad object. */
		if (relist)
			tab_mark(&store->tab[kind], key);
		return -1;
	}
	rc = tab_put(&store->tab[kind], kind, key, rec);
	if (rc < 0) {
		as_err("k8s: %s %s: out of memory", kind_name[kind], key);
		if (relist)
			tab_mark(&store->tab[kind], key);
		return -1;
	}
	return rc;
}

int k8s_store_new(const char *zone, const char *node_name,
		  k8s_store_t **out)
{
	k8s_store_t *s;
	size_t zl;

	*out = NULL;
	if (!zone || !node_name || !*node_name)
		return AS_EINVAL;
	zl = strlen(zone);
	if (zl && zone[zl - 1] == '.')
		zl--;
	if (!zl || zl > HOSTNAME_MAX - 2)
		return AS_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return AS_ENOMEM;
	s->zone = lower_dup(zone, zl);
	s->node = strdup(node_name);
	if (!s->zone || !s->node) {
		k8s_store_free(s);
		return AS_ENOMEM;
	}
	*out = s;
	return AS_OK;
}

void k8s_store_free(k8s_store_t *store)
{
	if (!store)
		return;
	for (int k = 0; k < K8S_N_KINDS; k++) {
		struct table *t = &store->tab[k];

		for (size_t i = 0; i < t->n; i++) {
			free(t->v[i].key);
			rec_free(k, t->v[i].rec);
		}
		free(t->v);
	}
	free(store->zone);
	free(store->node);
	free(store);
}

static json_t *load(k8s_store_t *store, int kind, const char *json,
		    size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!root) {
		store->st.malformed++;
		as_warn("k8s: %s: bad JSON at %d:%d: %s, skipped", kind_name[kind],
			jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		store->st.malformed++;
		as_warn("k8s: %s: JSON is not an object, skipped", kind_name[kind]);
		json_decref(root);
		return NULL;
	}
	return root;
}

void k8s_store_relist_begin(k8s_store_t *store, int kind)
{
	struct table *t = &store->tab[kind];

	for (size_t i = 0; i < t->n; i++)
		t->v[i].seen = false;
	t->relisting = true;
}

int k8s_store_apply_list(k8s_store_t *store, int kind,
			 const char *json, size_t len, char *rv,
			 size_t rv_len, char *cont, size_t cont_len)
{
	json_t *root, *items, *md;
	const char *k, *c = NULL;

	if (rv && rv_len)
		rv[0] = '\0';
	if (cont && cont_len)
		cont[0] = '\0';
	if (kind < 0 || kind >= K8S_N_KINDS)
		return AS_EINVAL;
	root = load(store, kind, json, len);
	if (!root)
		return AS_EMALFORMED;
	if (k8s__str(root, "kind", &k) || (k && strcmp(k, list_kind_name[kind])) ||
	    k8s__typed(root, "items", JSON_ARRAY, &items) ||
	    k8s__typed(root, "metadata", JSON_OBJECT, &md) ||
	    (md && k8s__str(md, "continue", &c))) {
		store->st.malformed++;
		as_warn("k8s: %s list: not a %s, skipped", kind_name[kind],
			list_kind_name[kind]);
		json_decref(root);
		return AS_EMALFORMED;
	}
	for (size_t i = 0; i < json_array_size(items); i++)
		upsert(store, kind, json_array_get(items, i), true);
	copy_rv(root, rv, rv_len);
	if (c && cont && strlen(c) < cont_len)
		memcpy(cont, c, strlen(c) + 1);
	store->st.lists++;
	json_decref(root);
	return AS_OK;
}

bool k8s_store_relist_end(k8s_store_t *store, int kind)
{
	struct table *t = &store->tab[kind];
	size_t w = 0;
	bool changed = false;

	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].seen) {
			t->v[w++] = t->v[i];
			continue;
		}
		free(t->v[i].key);
		rec_free(kind, t->v[i].rec);
		changed = true;
	}
	t->n = w;
	t->relisting = false;
	/* Upserts during the relist may have changed records as well; the
	 * caller compares built sets, so "changed" here only needs to
	 * cover removals. */
	return changed;
}

void k8s_store_relist_abort(k8s_store_t *store, int kind)
{
	store->tab[kind].relisting = false;
}

static int event_type(const char *s)
{
	static const char *const names[] = {
		[K8S_EV_ADDED] = "ADDED",
		[K8S_EV_MODIFIED] = "MODIFIED",
		[K8S_EV_DELETED] = "DELETED",
		[K8S_EV_BOOKMARK] = "BOOKMARK",
		[K8S_EV_ERROR] = "ERROR",
	};

	for (size_t i = 1; s && i < AS_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return 0;
}

int k8s_store_apply_event(k8s_store_t *store, int kind,
			  const char *json, size_t len,
			  struct k8s_event_info *info)
{
	json_t *root, *obj;
	const char *t, *k;
	int rc = AS_OK;

	memset(info, 0, sizeof(*info));
	if (kind < 0 || kind >= K8S_N_KINDS)
		return AS_EINVAL;
	root = load(store, kind, json, len);
	if (!root)
		return AS_EMALFORMED;
	if (k8s__str(root, "type", &t) || !(info->type = event_type(t)) ||
	    k8s__typed(root, "object", JSON_OBJECT, &obj) || !obj ||
	    k8s__str(obj, "kind", &k)) {
		info->type = 0;
		malformed(store, kind, NULL, "not a watch event");
		rc = AS_EMALFORMED;
		goto out;
	}
	store->st.events++;
	if (info->type == K8S_EV_ERROR) {
		json_t *code = json_object_get(obj, "code");
		const char *msg = NULL;

		k8s__str(obj, "message", &msg);
		info->code = json_is_integer(code) &&
			json_integer_value(code) > 0 && json_integer_value(code) < 1000 ?
			(int)json_integer_value(code) : 0;
		as_info("k8s: %s watch: ERROR %d: %s", kind_name[kind], info->code,
			msg ? msg : "(no message)");
		goto out;
	}
	if (k && strcmp(k, kind_name[kind])) {
		malformed(store, kind, NULL, "object of the wrong kind");
		rc = AS_EMALFORMED;
		goto out;
	}
	copy_rv(obj, info->rv, sizeof(info->rv));
	if (info->type == K8S_EV_BOOKMARK)
		goto out;
	if (info->type == K8S_EV_DELETED) {
		char key[512];

		if (object_key(obj, key, sizeof(key))) {
			malformed(store, kind, NULL, "no metadata.namespace/name");
			rc = AS_EMALFORMED;
			goto out;
		}
		info->changed = tab_put(&store->tab[kind], kind, key, NULL) > 0;
		goto out;
	}
	int r = upsert(store, kind, obj, store->tab[kind].relisting);

	if (r < 0)
		rc = AS_EMALFORMED;
	else
		info->changed = r > 0;
out:
	json_decref(root);
	return rc;
}

void k8s_store_stats(const k8s_store_t *store,
		     struct k8s_store_stats *out)
{
	const struct table *t = &store->tab[K8S_SERVICES];

	*out = store->st;
	out->services = 0;
	for (size_t i = 0; i < t->n; i++)
		out->services += ((const struct svc_rec *)t->v[i].rec)->n_hostnames > 0;
	out->slices = store->tab[K8S_SLICES].n;
}

/* ---- building the set ---------------------------------------------------------------- */

static int ep_cmp(const void *a, const void *b)
{
	const struct k8s_endpoint *x = a, *y = b;

	if (x->family != y->family)
		return x->family == AF_INET6 ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

struct claim {
	const char *hostname;
	const char *key;
	const struct svc_rec *svc;
};

static int claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int c = strcmp(x->hostname, y->hostname);

	return c ? c : strcmp(x->key, y->key);
}

static void entry_free(struct k8s_entry *e)
{
	free(e->objective);
	free(e->spread);
	free(e->origin);
	free(e->hostname);
	free(e->label);
	free(e->namespace_);
	free(e->service);
	free(e->path);
	k8s__strv_free(e->path_avoid, e->n_path_avoid);
	for (size_t i = 0; i < e->n_ports; i++) {
		free(e->ports[i].name);
		free(e->ports[i].protocol);
	}
	free(e->ports);
	eps_free(e->endpoints, e->n_endpoints);
}

void k8s_set_free(struct k8s_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n_entries; i++)
		entry_free(&set->entries[i]);
	free(set->entries);
	set->entries = NULL;
	set->n_entries = 0;
}

/* The ports of Service s (key "ns/name") with their target ports, and
 * its ready endpoints on this node (weight w each) appended to e; the
 * ready endpoints on every node are counted in *n_ready (NULL ok). */
static int fill_backend(const k8s_store_t *store, const char *key,
			const struct svc_rec *s, uint32_t w, struct k8s_entry *e,
			size_t *n_ready)
{
	const struct table *sl = &store->tab[K8S_SLICES];
	size_t cap = e->n_endpoints;

	if (!e->n_ports && s->n_ports) {
		e->ports = calloc(s->n_ports, sizeof(*e->ports));
		if (!e->ports)
			return AS_ENOMEM;
		for (size_t i = 0; i < s->n_ports; i++) {
			struct k8s_port *p = &e->ports[i];

			e->n_ports = i + 1;
			p->name = strdup(s->ports[i].name);
			p->protocol = strdup(s->ports[i].protocol);
			p->port = s->ports[i].port;
			if (!p->name || !p->protocol)
				return AS_ENOMEM;
		}
	}
	for (size_t i = 0; i < sl->n; i++) {
		const struct slice_rec *r = sl->v[i].rec;

		if (strcmp(r->svc_key, key))
			continue;
		if (n_ready)
			*n_ready += r->n_ready;
		/* Target ports: matched by name (and protocol), as the
		 * EndpointSlice controller names them after the Service. */
		for (size_t j = 0; j < e->n_ports; j++)
			for (size_t k = 0; k < r->n_ports; k++)
				if (!e->ports[j].target_port && r->ports[k].port &&
				    !strcmp(e->ports[j].name, r->ports[k].name) &&
				    !strcmp(e->ports[j].protocol, r->ports[k].protocol))
					e->ports[j].target_port = r->ports[k].port;
		for (size_t j = 0; j < r->n_eps; j++) {
			bool dup = false;

			for (size_t k = 0; k < e->n_endpoints && !dup; k++)
				dup = !ep_cmp(&e->endpoints[k], &r->eps[j]);
			if (dup)
				continue;
			if (AS_GROW(e->endpoints, cap, e->n_endpoints + 1))
				return AS_ENOMEM;
			struct k8s_endpoint *d = &e->endpoints[e->n_endpoints];

			*d = r->eps[j];
			d->weight = w;
			d->address = strdup(r->eps[j].address);
			d->pod = strdup(r->eps[j].pod);
			e->n_endpoints++;
			if (!d->address || !d->pod)
				return AS_ENOMEM;
		}
	}
	if (e->n_endpoints > 1)
		qsort(e->endpoints, e->n_endpoints, sizeof(*e->endpoints), ep_cmp);
	return AS_OK;
}

static int fill_entry(const k8s_store_t *store, const struct claim *c,
		      struct k8s_entry *e)
{
	const struct svc_rec *s = c->svc;
	const char *slash = strchr(c->key, '/');
	size_t ol = strlen(c->key) + sizeof("Service ");

	e->hostname = strdup(c->hostname);
	e->label = strndup(c->hostname, strcspn(c->hostname, "."));
	e->namespace_ = strndup(c->key, (size_t)(slash - c->key));
	e->service = strdup(slash + 1);
	e->origin = malloc(ol);
	e->ttl = s->ttl;
	e->weight = s->weight;
	e->max_answers = s->max_answers;
	e->spill_over = s->intent.spill_over;
	if ((s->intent.objective &&
	     !(e->objective = strdup(s->intent.objective))) ||
	    (s->intent.spread && !(e->spread = strdup(s->intent.spread))))
		return AS_ENOMEM;
	if (!e->hostname || !e->label || !e->namespace_ || !e->service ||
	    !e->origin || (s->path && !(e->path = strdup(s->path))))
		return AS_ENOMEM;
	for (size_t i = 0, cap = 0; i < s->n_avoid; i++)
		if (k8s__strv_add(&e->path_avoid, &e->n_path_avoid, &cap,
				  s->avoid[i]))
			return AS_ENOMEM;
	snprintf(e->origin, ol, "Service %s", c->key);
	return fill_backend(store, c->key, s, s->weight, e, NULL);
}

/* The record of Service ns/name and its key in key; NULL when none. */
static const struct svc_rec *svc_find(const k8s_store_t *store, const char *ns,
				      const char *name, char *key, size_t len)
{
	bool found;
	size_t i;

	if (snprintf(key, len, "%s/%s", ns, name) >= (int)len)
		return NULL;
	i = tab_find(&store->tab[K8S_SERVICES], key, &found);
	return found ? store->tab[K8S_SERVICES].v[i].rec : NULL;
}

int k8s__store_service(const k8s_store_t *store, const char *ns,
		       const char *name, uint32_t weight, struct k8s_entry *e,
		       size_t *n_ready)
{
	char key[512];
	const struct svc_rec *s = svc_find(store, ns, name, key, sizeof(key));

	return s ? fill_backend(store, key, s, weight, e, n_ready) : AS_ENOTFOUND;
}

int k8s__store_intent(const k8s_store_t *store, const char *ns,
		      const char *name, const struct k8s_intent **out)
{
	char key[512];
	const struct svc_rec *s = svc_find(store, ns, name, key, sizeof(key));

	*out = s ? &s->intent : NULL;
	return s ? AS_OK : AS_ENOTFOUND;
}

void k8s__entry_free(struct k8s_entry *e)
{
	entry_free(e);
	memset(e, 0, sizeof(*e));
}

int k8s_store_build(k8s_store_t *store,
		    struct k8s_set *out)
{
	const struct table *st = &store->tab[K8S_SERVICES];
	struct claim *cl = NULL;
	size_t n = 0, conflicts = 0;
	int rc = AS_OK;

	out->entries = NULL;
	out->n_entries = 0;
	for (size_t i = 0; i < st->n; i++)
		n += ((const struct svc_rec *)st->v[i].rec)->n_hostnames;
	if (!n)
		return AS_OK;
	cl = calloc(n, sizeof(*cl));
	out->entries = calloc(n, sizeof(*out->entries));
	if (!cl || !out->entries) {
		rc = AS_ENOMEM;
		goto out;
	}
	n = 0;
	for (size_t i = 0; i < st->n; i++) {
		const struct svc_rec *s = st->v[i].rec;

		for (size_t j = 0; j < s->n_hostnames; j++)
			cl[n++] = (struct claim){ s->hostnames[j], st->v[i].key, s };
	}
	qsort(cl, n, sizeof(*cl), claim_cmp);
	for (size_t i = 0; i < n; i++) {
		/* The same name from two Services: the first by
		 * namespace/name wins, so every node picks the same one. */
		if (i && !strcmp(cl[i].hostname, cl[i - 1].hostname)) {
			conflicts++;
			as_debug("k8s: hostname %s claimed by %s and %s; %s ignored",
				 cl[i].hostname, cl[i - 1].key, cl[i].key, cl[i].key);
			continue;
		}
		rc = fill_entry(store, &cl[i], &out->entries[out->n_entries++]);
		if (rc)
			goto out;
	}
out:
	free(cl);
	if (rc)
		k8s_set_free(out);
	/* The conflict count is a gauge of the last build. */
	store->st.conflicts = conflicts;
	return rc;
}

static bool str_eq(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

bool k8s_set_equal(const struct k8s_set *a,
		   const struct k8s_set *b)
{
	if (a->n_entries != b->n_entries)
		return false;
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct k8s_entry *x = &a->entries[i], *y = &b->entries[i];

		if (!str_eq(x->hostname, y->hostname) ||
		    !str_eq(x->namespace_, y->namespace_) ||
		    !str_eq(x->service, y->service) ||
		    !str_eq(x->origin, y->origin) || x->ttl != y->ttl ||
		    x->weight != y->weight || x->max_answers != y->max_answers ||
		    !str_eq(x->path, y->path) ||
		    x->n_path_avoid != y->n_path_avoid ||
		    !str_eq(x->objective, y->objective) ||
		    !str_eq(x->spread, y->spread) ||
		    x->spill_over != y->spill_over ||
		    x->n_ports != y->n_ports || x->n_endpoints != y->n_endpoints)
			return false;
		for (size_t j = 0; j < x->n_path_avoid; j++)
			if (!str_eq(x->path_avoid[j], y->path_avoid[j]))
				return false;
		for (size_t j = 0; j < x->n_ports; j++)
			if (!str_eq(x->ports[j].name, y->ports[j].name) ||
			    !str_eq(x->ports[j].protocol, y->ports[j].protocol) ||
			    x->ports[j].port != y->ports[j].port ||
			    x->ports[j].target_port != y->ports[j].target_port)
				return false;
		for (size_t j = 0; j < x->n_endpoints; j++)
			if (ep_cmp(&x->endpoints[j], &y->endpoints[j]) ||
			    x->endpoints[j].weight != y->endpoints[j].weight ||
			    !str_eq(x->endpoints[j].pod, y->endpoints[j].pod))
				return false;
	}
	return true;
}
