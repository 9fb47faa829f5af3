/*
 * dns/view.c - building, sharing and inspecting the answer view.
 *
 * Design. dns_view_new() does all the work the query path must not do:
 * it validates the spec, renders the static RDATA (SOA, NS, CHAOS TXT)
 * with ldns, turns weights into cumulative integer arrays (effective
 * weight = configured weight x health x load factor scaled to 2^16, with
 * the fail-open fallback chosen here, per service and address family),
 * and indexes every name that exists in the zone - the apex, services,
 * SRV owners, in-zone nameservers and the empty non-terminals above them
 * - in an open-addressing hash table keyed by the lower-case wire name
 * relative to the zone. Arrays are flat and shared by all services to
 * keep 1,000 services x 10 endpoints in well under a megabyte.
 *
 * An RRset must not hold the same record twice (RFC 2181 5), so an
 * address listed by several endpoints of one service (two nodes
 * publishing it, say) is merged here, once, into one sampling item whose
 * weights are the sums of theirs: its chance to be drawn first is what
 * the endpoints together had, and every other address keeps its share.
 * The same goes for nameserver addresses. The query path never sees a
 * duplicate and pays nothing for this.
 *
 * A view never changes once built; the reference count is the only
 * mutable field and is atomic, so workers on other threads can hold and
 * drop references without locks.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "dns/view.h"
#include "dns/wire.h"

#define DEFAULT_MAX_ANSWERS 2

/* An address and where it came from, for sorting. */
struct addr_ix {
	uint8_t addr[16];
	uint32_t j;
};

/* A string and where it came from, for interning zones and nodes. */
struct str_ix {
	const char *s;
	uint32_t k;
};

/* Per-family scratch of build_services(), each max endpoints long. */
struct fam_scratch {
	struct str_ix *six;		/* per endpoint */
	uint32_t *zid, *nid;		/* per endpoint: zone, node ids */
	uint32_t *uzone, *unode;	/* per distinct address */
	uint64_t *eff, *cfg;		/* per endpoint */
	uint64_t *ueff, *ucfg, *uhcfg;	/* per distinct address: sums */
	uint32_t *mult;			/* endpoints per distinct address */
	uint32_t *order, *pos;		/* sampling order and its inverse */
	uint32_t *slot;			/* endpoint -> distinct address */
	uint32_t *spec_j;		/* endpoint -> index in the spec */
	struct addr_ix *ix;
	double *urtt;			/* per distinct address (latency) */
};

/* Build-time state that does not outlive dns_view_new(). */
struct build {
	struct dns_view *v;
	size_t nodes_cap;
	size_t keys_len, keys_cap;
	char *str_pos, *str_end;
	struct fam_scratch fs;
	uint8_t (*ns_wire)[DNS_NAME_MAX];	/* per nameserver */
	size_t *ns_wlen, *ns_rel;
	double zone_load, spill;	/* of the service being built */
	bool no_rtt;			/* ... latency fell back to balance */
	const char **cz_names;		/* distinct client zones: plan k+1 */
	size_t n_cz_names;
	size_t n_vfams;			/* used of v->vfams */
	size_t vfams_total;		/* client plans of the view */
};

static int addr_ix_cmp(const void *a, const void *b)
{
	const struct addr_ix *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (c)
		return c;
	return x->j < y->j ? -1 : x->j > y->j;
}

/* Gives each of the n addresses (alen bytes each, at addrs + k * stride)
 * the index of its distinct address, numbered in order of first
 * appearance, in slot[k], and moves the distinct addresses to the front
 * in that order. Returns how many there are. n log n: catalogs can hold
 * thousands of endpoints per service. */
static size_t dedup_addrs(uint8_t *addrs, size_t alen, size_t n,
			  struct addr_ix *ix, uint32_t *slot)
{
	size_t nu = 0;

	for (size_t k = 0; k < n; k++) {
		memset(ix[k].addr, 0, sizeof(ix[k].addr));
		memcpy(ix[k].addr, addrs + k * alen, alen);
		ix[k].j = (uint32_t)k;
	}
	qsort(ix, n, sizeof(*ix), addr_ix_cmp);
	/* slot[k] temporarily holds the first endpoint with k's address. */
	for (size_t i = 0; i < n; i++)
		slot[ix[i].j] = (i && memcmp(ix[i].addr, ix[i - 1].addr,
					     sizeof(ix[i].addr)) == 0) ?
					slot[ix[i - 1].j] : ix[i].j;
	for (size_t k = 0; k < n; k++) {
		if (slot[k] == k) {	/* first of its address */
			memmove(addrs + nu * alen, addrs + k * alen, alen);
			slot[k] = (uint32_t)nu++;
		} else {
			slot[k] = slot[slot[k]];	/* earlier: already final */
		}
	}
	return nu;
}

static void view_free(struct dns_view *v)
{
	if (!v)
		return;
	free(v->zone_text);
	free(v->soa_rdata);
	free(v->ns_rdata);
	free(v->ns_off);
	free(v->ns_len);
	free(v->ns_nsh);
	free(v->txt_rdata);
	free(v->svcs);
	free(v->eps);
	free(v->addr6);
	free(v->addr4);
	free(v->cum6);
	free(v->cum4);
	free(v->doms6);
	free(v->doms4);
	free(v->vfams);
	free(v->vinv6);
	free(v->vinv4);
	free(v->czones);
	free(v->cz_zones);
	free(v->dcum6);
	free(v->dcum4);
	free(v->nshs);
	free(v->nodes);
	free(v->keys);
	free(v->table);
	free(v->strings);
	free(v);
}

static const char *arena_dup(struct build *b, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = b->str_pos;

	if ((size_t)(b->str_end - p) < n)
		return NULL; /* cannot happen: the arena was sized first */
	memcpy(p, s, n);
	b->str_pos += n;
	return p;
}

/* Parses a name in presentation form; without a trailing dot it is taken
 * relative to the zone. Writes the lower-case wire form to out. */
static int parse_name(const char *text, const char *zone_text, uint8_t *out,
		      size_t *out_len)
{
	size_t n = strlen(text);
	char *full = NULL;
	ldns_rdf *rdf = NULL;
	int err = AS_EINVAL;

	if (n == 0)
		return AS_EINVAL;
	if (text[n - 1] == '.' && !(n >= 2 && text[n - 2] == '\\')) {
		full = strdup(text);
	} else {
		full = malloc(n + strlen(zone_text) + 2);
		if (full)
			sprintf(full, "%s.%s", text, zone_text);
	}
	if (!full)
		return AS_ENOMEM;
	rdf = ldns_dname_new_frm_str(full);
	if (!rdf || ldns_rdf_size(rdf) > DNS_NAME_MAX)
		goto cleanup;
	ldns_dname2canonical(rdf);
	memcpy(out, ldns_rdf_data(rdf), ldns_rdf_size(rdf));
	*out_len = ldns_rdf_size(rdf);
	err = AS_OK;
cleanup:
	ldns_rdf_deep_free(rdf);
	free(full);
	return err;
}

/* If name (lower-case wire) is in the zone, stores the length of the
 * part before the zone and returns true. */
static bool in_zone(const struct dns_view *v, const uint8_t *name,
		    size_t len, size_t *rel)
{
	size_t off = 0;

	while (off < len) {
		if (len - off == v->zone_len &&
		    memcmp(name + off, v->zone, v->zone_len) == 0) {
			*rel = off;
			return true;
		}
		if (name[off] == 0)
			break;
		off += (size_t)name[off] + 1;
	}
	return false;
}

static int node_add(struct build *b, const uint8_t *key, size_t len,
		    struct dns_node **out)
{
	struct dns_view *v = b->v;
	uint32_t i = as_fnv1a32(key, len) & v->table_mask;

	for (;;) {
		uint32_t slot = v->table[i];
		if (slot == 0)
			break;
		struct dns_node *nd = &v->nodes[slot - 1];
		if (nd->key_len == len &&
		    memcmp(v->keys + nd->key_off, key, len) == 0) {
			*out = nd;
			return AS_OK;
		}
		i = (i + 1) & v->table_mask;
	}
	if (v->n_nodes == b->nodes_cap)
		return AS_ERANGE; /* sized from an upper bound: cannot happen */
	int e = AS_GROW(v->keys, b->keys_cap, b->keys_len + len);
	if (e)
		return e;
	if (len)
		memcpy(v->keys + b->keys_len, key, len);
	struct dns_node *nd = &v->nodes[v->n_nodes];
	nd->key_off = (uint32_t)b->keys_len;
	nd->key_len = (uint8_t)len;
	nd->apex = len == 0;
	nd->svc = nd->srv = nd->nsh = -1;
	b->keys_len += len;
	v->table[i] = (uint32_t)++v->n_nodes;
	*out = nd;
	return AS_OK;
}

/* Adds a name and every name between it and the apex (so empty
 * non-terminals exist, RFC 8020). Returns the node of the name itself. */
static int node_add_path(struct build *b, const uint8_t *key, size_t len,
			 struct dns_node **out)
{
	struct dns_node *nd;
	size_t off = 0;
	int err;

	while (off < len) {
		err = node_add(b, key + off, len - off, &nd);
		if (err)
			return err;
		if (off == 0)
			*out = nd;
		off += (size_t)key[off] + 1;
	}
	return node_add(b, key, 0, len == 0 ? out : &nd);
}

static bool node_has_role(const struct dns_node *nd)
{
	return nd->svc >= 0 || nd->srv >= 0 || nd->nsh >= 0;
}

static int render_ns_soa(struct dns_view *v, const struct dns_view_spec *spec,
			 const uint8_t (*ns_wire)[DNS_NAME_MAX],
			 const size_t *ns_wlen, uint32_t serial)
{
	ldns_rr *rr = NULL;
	ldns_buffer *buf = NULL;
	ldns_rdf *rdf;
	uint8_t rname[DNS_NAME_MAX];
	size_t rname_len, total = 0;
	int err = AS_ENOMEM;

	/* NS RDATA: the target names, uncompressed. */
	for (size_t i = 0; i < v->n_ns; i++)
		total += ns_wlen[i];
	v->ns_rdata = malloc(total);
	if (!v->ns_rdata)
		goto cleanup;
	total = 0;
	for (size_t i = 0; i < v->n_ns; i++) {
		memcpy(v->ns_rdata + total, ns_wire[i], ns_wlen[i]);
		v->ns_off[i] = (uint16_t)total;
		v->ns_len[i] = (uint16_t)ns_wlen[i];
		total += ns_wlen[i];
	}

	err = parse_name(spec->soa_rname ? spec->soa_rname : "hostmaster",
			 v->zone_text, rname, &rname_len);
	if (err) {
		as_err("dns: bad SOA rname '%s'", spec->soa_rname);
		goto cleanup;
	}
	err = AS_ENOMEM;
	rr = ldns_rr_new();
	buf = ldns_buffer_new(512);
	if (!rr || !buf)
		goto cleanup;
	ldns_rr_set_type(rr, LDNS_RR_TYPE_SOA);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, ns_wlen[0], ns_wire[0]);
	if (!rdf || !ldns_rr_push_rdf(rr, rdf))
		goto cleanup;
	rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, rname_len, rname);
	if (!rdf || !ldns_rr_push_rdf(rr, rdf))
		goto cleanup;
	const uint32_t nums[5] = { serial, spec->soa_refresh,
				   spec->soa_retry, spec->soa_expire,
				   spec->soa_minimum };
	for (size_t i = 0; i < 5; i++) {
		rdf = ldns_native2rdf_int32(i == 0 ? LDNS_RDF_TYPE_INT32 :
					    LDNS_RDF_TYPE_PERIOD, nums[i]);
		if (!rdf || !ldns_rr_push_rdf(rr, rdf))
			goto cleanup;
	}
	if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK) {
		err = AS_ELIB;
		goto cleanup;
	}
	v->soa_rdlen = (uint16_t)ldns_buffer_position(buf);
	v->soa_rdata = malloc(v->soa_rdlen);
	if (!v->soa_rdata)
		goto cleanup;
	memcpy(v->soa_rdata, ldns_buffer_begin(buf), v->soa_rdlen);
	err = AS_OK;
cleanup:
	ldns_rr_free(rr);
	ldns_buffer_free(buf);
	return err;
}

/* ---- the content serial ------------------------------------------------- */

static uint64_t fnv_add(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fnv_u32(uint64_t h, uint32_t x)
{
	uint8_t b[4] = { x >> 24, x >> 16, x >> 8, x };

	return fnv_add(h, b, 4);
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv_add(h, s ? s : "", strlen(s ? s : "") + 1);
}

/* A fingerprint of what the zone publishes, for the SOA serial when the
 * spec gives none: the zone, its nameservers and their addresses, the
 * SOA timers, and every service (name, protocol, port, TTL, answer size)
 * with every endpoint (address, configured weight, node). Health and
 * load factors are steering state, not content, and the node's own name
 * is not the zone's: nodes with the same catalog get the same serial,
 * whatever order they list it in (sets are summed, not chained). */
static uint32_t content_serial(const struct build *b,
			       const struct dns_view_spec *spec)
{
	const struct dns_view *v = b->v;
	const uint64_t basis = 0xcbf29ce484222325ull;
	uint64_t h = fnv_add(basis, v->zone, v->zone_len), set = 0;

	for (size_t i = 0; i < v->n_ns; i++)
		h = fnv_add(h, b->ns_wire[i], b->ns_wlen[i]);
	for (size_t i = 0; i < spec->n_ns_addresses; i++) {
		const struct dns_endpoint_spec *e = &spec->ns_addresses[i];
		uint64_t x = fnv_u32(basis, (uint32_t)e->family);
		x = fnv_add(x, e->addr, e->family == AF_INET6 ? 16 : 4);
		set += as_hash_mix64(fnv_str(x, e->node));
	}
	h = fnv_add(h, &set, sizeof(set));
	h = fnv_str(h, spec->soa_rname);
	h = fnv_u32(h, spec->soa_refresh);
	h = fnv_u32(h, spec->soa_retry);
	h = fnv_u32(h, spec->soa_expire);
	h = fnv_u32(h, spec->soa_minimum);
	h = fnv_u32(h, spec->apex_ttl);
	set = 0;
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct dns_service_spec *s = &spec->services[i];
		const struct dns_svc *sv = &v->svcs[i];
		uint64_t x = fnv_str(basis, sv->name), eps = 0;
		x = fnv_str(x, sv->proto);
		x = fnv_u32(x, sv->port);
		x = fnv_u32(x, sv->ttl);
		x = fnv_u32(x, sv->max_answers);
		for (size_t j = 0; j < s->n_endpoints; j++) {
			const struct dns_endpoint_spec *e = &s->endpoints[j];
			uint64_t y = fnv_u32(basis, (uint32_t)e->family);
			y = fnv_add(y, e->addr, e->family == AF_INET6 ? 16 : 4);
			y = fnv_u32(y, e->weight);
			eps += as_hash_mix64(fnv_str(y, e->node));
		}
		x = fnv_add(x, &eps, sizeof(eps));
		set += as_hash_mix64(x);
	}
	h = as_hash_mix64(fnv_add(h, &set, sizeof(set)));
	return (uint32_t)(h ^ h >> 32);
}

static uint64_t lf_scaled(double lf)
{
	if (!(lf > 0))
		return 0;
	if (lf >= 1)
		return DNS_LF_ONE;
	return (uint64_t)llround(lf * DNS_LF_ONE);
}

static double lf_clamped(double lf)
{
	return !(lf > 0) ? 0 : lf > 1 ? 1 : lf;
}

static int check_spec(const struct dns_view_spec *spec, size_t *n6,
		      size_t *n4, size_t *n_eps, size_t *str_bytes)
{
	*n6 = *n4 = *n_eps = 0;
	*str_bytes = 0;
	if (!spec->zone) {
		as_err("dns: view spec without zone");
		return AS_EINVAL;
	}
	if (spec->node_name && strlen(spec->node_name) > 255) {
		as_err("dns: node name longer than 255 bytes");
		return AS_EINVAL;
	}
	if ((spec->n_services && !spec->services) ||
	    (spec->n_nameservers && !spec->nameservers) ||
	    (spec->n_ns_addresses && !spec->ns_addresses)) {
		as_err("dns: view spec has a count without its array");
		return AS_EINVAL;
	}
	*str_bytes += strlen(spec->node_name ? spec->node_name : "") + 1;
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct dns_service_spec *s = &spec->services[i];
		const char *why = dns_name_service_problem(s->name, spec->zone,
			spec->nameservers, spec->n_nameservers);
		if (why) {
			as_err("dns: bad service name '%s': %s",
			       s->name ? s->name : "", why);
			return AS_EINVAL;
		}
		if (s->proto && strcasecmp(s->proto, "tcp") != 0 &&
		    strcasecmp(s->proto, "udp") != 0) {
			as_err("dns: service %s: proto must be tcp or udp",
			       s->name);
			return AS_EINVAL;
		}
		if ((unsigned)s->intent.objective >= DNS_OBJ__COUNT ||
		    (unsigned)s->intent.spread >= DNS_SPREAD__COUNT ||
		    !(s->intent.spill_over >= 0 && s->intent.spill_over <= 1)) {
			as_err("dns: service %s: bad intent", s->name);
			return AS_EINVAL;
		}
		if ((s->n_endpoints && !s->endpoints) ||
		    s->n_endpoints > DNS_MAX_ENDPOINTS) {
			as_err("dns: service %s: bad endpoint list", s->name);
			return AS_EINVAL;
		}
		*str_bytes += strlen(s->name) + 1 + 4;
		for (size_t j = 0; j < s->n_endpoints; j++) {
			const struct dns_endpoint_spec *e = &s->endpoints[j];
			if (e->family == AF_INET6)
				(*n6)++;
			else if (e->family == AF_INET)
				(*n4)++;
			else {
				as_err("dns: service %s: endpoint %zu has "
				       "family %d", s->name, j, e->family);
				return AS_EINVAL;
			}
			*str_bytes += strlen(e->node ? e->node : "") + 1 +
				      (e->zone ? strlen(e->zone) + 1 : 0);
		}
		*n_eps += s->n_endpoints;
	}
	for (size_t i = 0; i < spec->n_ns_addresses; i++) {
		int f = spec->ns_addresses[i].family;
		if (f != AF_INET6 && f != AF_INET) {
			as_err("dns: ns address %zu has family %d", i, f);
			return AS_EINVAL;
		}
	}
	if (*n_eps > UINT32_MAX / 2) {
		as_err("dns: too many endpoints");
		return AS_EINVAL;
	}
	return AS_OK;
}

/* Service i's names: <service>.<zone> (also its SRV target) and
 * _<service>._<proto>.<zone>, with the empty non-terminals above. */
static int add_service_names(struct build *b, const struct dns_view_spec *spec,
			     size_t i)
{
	struct dns_view *v = b->v;
	const struct dns_service_spec *s = &spec->services[i];
	struct dns_svc *sv = &v->svcs[i];
	uint8_t key[DNS_NAME_MAX];
	size_t nl = strlen(s->name), pl = strlen(sv->proto);
	bool wild = strcmp(s->name, "*") == 0;
	struct dns_node *nd;
	int err;

	v->wildcards |= wild;
	if (1 + nl + v->zone_len > DNS_NAME_MAX ||
	    4 + nl + pl + v->zone_len > DNS_NAME_MAX) {
		as_err("dns: service %s: name too long for the zone", s->name);
		return AS_EINVAL;
	}
	/* <service>.<zone>: key and SRV target (for the wildcard the
	 * literal *.<zone>, as RFC 4592 copies RDATA unchanged). */
	key[0] = (uint8_t)nl;
	for (size_t k = 0; k < nl; k++)
		key[1 + k] = wire_lower((uint8_t)s->name[k]);
	memcpy(sv->target, key, 1 + nl);
	memcpy(sv->target + 1 + nl, v->zone, v->zone_len);
	sv->target_len = (uint8_t)(1 + nl + v->zone_len);
	err = node_add_path(b, key, 1 + nl, &nd);
	if (err)
		return err;
	if (node_has_role(nd)) {
		as_err("dns: service %s: name already used", s->name);
		return AS_EINVAL;
	}
	nd->svc = (int32_t)i;
	/* _<service>._<proto>.<zone>; for the wildcard *._<proto>.<zone>,
	 * which answers _<any>._<proto>.<zone> without a service of its own. */
	size_t fl;
	if (wild) {
		key[0] = 1;
		key[1] = '*';
		fl = 2;
	} else {
		key[0] = (uint8_t)(nl + 1);
		key[1] = '_';
		for (size_t k = 0; k < nl; k++)
			key[2 + k] = wire_lower((uint8_t)s->name[k]);
		fl = 2 + nl;
	}
	key[fl] = (uint8_t)(pl + 1);
	key[fl + 1] = '_';
	memcpy(key + fl + 2, sv->proto, pl);
	err = node_add_path(b, key, fl + 2 + pl, &nd);
	if (err)
		return err;
	if (node_has_role(nd)) {
		as_err("dns: service %s: SRV name already used", s->name);
		return AS_EINVAL;
	}
	nd->srv = (int32_t)i;
	return AS_OK;
}

/* The endpoints of service s of family af: introspection entries from
 * eps (the service's first), addresses from addrs on, one sampling item
 * per distinct address, in the order and with the cumulative weights of
 * dns_policy_tiers (tiers into f). */
static int str_ix_cmp(const void *a, const void *b)
{
	const struct str_ix *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	return c ? c : (x->k > y->k) - (x->k < y->k);
}

/* Numbers the n strings of ix (each with its index k): id[k] is 0 for
 * an empty string, else 1, 2, ... with equal strings equal. Returns the
 * id of here: 0 for NULL or "", UINT32_MAX when no string equals it. */
static uint32_t intern(struct str_ix *ix, size_t n, uint32_t *id,
		       const char *here)
{
	uint32_t next = 0, here_id = here && *here ? UINT32_MAX : 0;

	qsort(ix, n, sizeof(*ix), str_ix_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!*ix[i].s) {
			id[ix[i].k] = 0;
			continue;
		}
		if (i == 0 || strcmp(ix[i].s, ix[i - 1].s) != 0) {
			next++;
			if (here_id && strcmp(ix[i].s, here) == 0)
				here_id = next;
		}
		id[ix[i].k] = next;
	}
	return here_id;
}

/* The zone (or node) ids of a family's n endpoints into id, then per
 * distinct address (the first endpoint's) into uid; the id of here. */
static uint32_t family_ids(struct build *b, const struct dns_service_spec *s,
			   size_t n, bool zones, const char *here,
			   uint32_t *id, uint32_t *uid)
{
	struct fam_scratch *fs = &b->fs;
	uint32_t here_id;

	for (size_t k = 0; k < n; k++) {
		const struct dns_endpoint_spec *e = &s->endpoints[fs->spec_j[k]];
		const char *str = zones ? e->zone : e->node;
		fs->six[k] = (struct str_ix){ str ? str : "", (uint32_t)k };
	}
	here_id = intern(fs->six, n, id, here);
	for (size_t k = n; k-- > 0;)
		uid[fs->slot[k]] = id[k];	/* the first endpoint's wins */
	return here_id;
}

static int str_ix_find(const void *key, const void *elem)
{
	return strcmp(key, ((const struct str_ix *)elem)->s);
}

/* A locality family's plan for each client zone: plan k is stored after
 * the base one (nu items each) and described in vf[k]. The items are the
 * base plan's (in fs), their addresses the base's in its order. */
static int add_client_plans(struct build *b, const struct dns_service_spec *s,
			    const struct dns_plan_in *base_in, size_t n,
			    size_t alen, uint8_t *addrs, uint64_t *cum,
			    struct dns_dom *doms, uint64_t *dcum,
			    struct dns_vfam *vf, bool v6, uint32_t first)
{
	uint32_t *inv = (v6 ? b->v->vinv6 : b->v->vinv4) + first;
	struct fam_scratch *fs = &b->fs;
	size_t nu = base_in->n;

	for (size_t k = 0; k < b->n_cz_names; k++) {
		struct dns_family *f = v6 ? &vf[k].v6 : &vf[k].v4;
		size_t off = (k + 1) * nu;
		const struct str_ix *hit = bsearch(b->cz_names[k], fs->six, n,
						   sizeof(*fs->six), str_ix_find);
		struct dns_plan_in in = *base_in;
		struct dns_plan plan = { .order = fs->order, .cum = cum + off,
					 .doms = doms ? doms + off : NULL,
					 .dcum = dcum ? dcum + off : NULL };
		in.here = hit ? fs->zid[hit->k] : UINT32_MAX;
		int err = dns_plan(&s->intent, &in, &plan);
		if (err)
			return err;
		for (size_t p = 0; p < nu; p++) {
			uint32_t base = fs->pos[fs->order[p]];
			memcpy(addrs + (off + p) * alen,
			       addrs + (size_t)base * alen, alen);
			inv[off + base] = (uint32_t)p;
		}
		*f = (struct dns_family){
			.first = first + (uint32_t)off, .n = (uint32_t)nu,
			.spread = plan.spread, .locality = plan.locality,
			.local0 = plan.local0,
		};
		memcpy(f->tier, plan.tier, sizeof(f->tier));
		memcpy(f->dom_tier, plan.dom_tier, sizeof(f->dom_tier));
	}
	return AS_OK;
}

/* The endpoints of family af into eps (by spec index), their addresses
 * into addrs and their weights into the scratch; how many there are. */
static size_t collect_family(struct build *b, const struct dns_service_spec *s,
			     int af, size_t alen, struct dns_ep *eps,
			     uint8_t *addrs)
{
	struct fam_scratch *fs = &b->fs;
	size_t n = 0;

	for (size_t j = 0; j < s->n_endpoints; j++) {
		const struct dns_endpoint_spec *e = &s->endpoints[j];
		struct dns_ep *di = &eps[j];
		if (e->family != af)
			continue;
		di->node = arena_dup(b, e->node ? e->node : "");
		di->zone = e->zone ? arena_dup(b, e->zone) : NULL;
		di->weight = e->weight;
		di->load_factor = lf_clamped(e->load_factor);
		di->healthy = e->healthy;
		di->rtt_known = e->rtt_known && isfinite(e->rtt_ms) && e->rtt_ms >= 0;
		di->rtt_ms = di->rtt_known ? (float)e->rtt_ms : 0;
		di->family = af;
		fs->spec_j[n] = (uint32_t)j;
		fs->cfg[n] = e->weight;
		fs->eff[n] = e->healthy ?
			(uint64_t)e->weight * lf_scaled(e->load_factor) : 0;
		memcpy(addrs + n * alen, e->addr, alen);
		n++;
	}
	return n;
}

/* The weights of the n endpoints summed per distinct address (nu). */
static void sum_per_address(struct fam_scratch *fs,
			    const struct dns_service_spec *s, size_t n,
			    size_t nu)
{
	memset(fs->ueff, 0, nu * sizeof(*fs->ueff));
	memset(fs->ucfg, 0, nu * sizeof(*fs->ucfg));
	memset(fs->uhcfg, 0, nu * sizeof(*fs->uhcfg));
	memset(fs->mult, 0, nu * sizeof(*fs->mult));
	for (size_t k = 0; k < n; k++) {
		uint32_t u = fs->slot[k];
		fs->ueff[u] += fs->eff[k];
		fs->ucfg[u] += fs->cfg[k];
		if (s->endpoints[fs->spec_j[k]].healthy)
			fs->uhcfg[u] += fs->cfg[k];
		fs->mult[u]++;
	}
}

/* The plan's inputs the intent reads beyond weights: RTTs per distinct
 * address (latency), zone or node ids (locality, resilience) and the id
 * of this node's zone. A balanced service costs no more to build. */
static void objective_inputs(struct build *b, const struct dns_service_spec *s,
			     const struct dns_ep *eps, const char *node_zone,
			     size_t n, struct dns_plan_in *in)
{
	struct fam_scratch *fs = &b->fs;
	size_t nu = in->n;

	memset(fs->uzone, 0, nu * sizeof(*fs->uzone));
	memset(fs->unode, 0, nu * sizeof(*fs->unode));
	if (s->intent.objective == DNS_OBJ_LATENCY) {
		/* An address on several nodes is as near as the nearest. */
		for (size_t u = 0; u < nu; u++)
			fs->urtt[u] = NAN;
		for (size_t k = 0; k < n; k++) {
			const struct dns_ep *di = &eps[fs->spec_j[k]];
			double *r = &fs->urtt[fs->slot[k]];
			if (di->rtt_known && !(*r <= di->rtt_ms))
				*r = di->rtt_ms;
		}
		in->rtt = fs->urtt;
	}
	if (s->intent.objective == DNS_OBJ_LOCALITY ||
	    (s->intent.objective == DNS_OBJ_RESILIENCE &&
	     s->intent.spread == DNS_SPREAD_ZONE))
		in->here = family_ids(b, s, n, true, node_zone, fs->zid,
				      fs->uzone);
	else if (s->intent.objective == DNS_OBJ_RESILIENCE)
		family_ids(b, s, n, false, NULL, fs->nid, fs->unode);
}

/* Stores the nu distinct addresses in sampling order (fs->order) and
 * each of the n endpoints' position among them. */
static void store_in_order(struct fam_scratch *fs, struct dns_ep *eps,
			   uint8_t *addrs, size_t alen, size_t n, size_t nu)
{
	for (size_t p = 0; p < nu; p++) {
		memcpy(fs->ix[p].addr, addrs + (size_t)fs->order[p] * alen, alen);
		fs->pos[fs->order[p]] = (uint32_t)p;
	}
	for (size_t p = 0; p < nu; p++)
		memcpy(addrs + p * alen, fs->ix[p].addr, alen);
	for (size_t k = 0; k < n; k++)
		eps[fs->spec_j[k]].fam_index = fs->pos[fs->slot[k]];
}

static int add_service_family(struct build *b,
			      const struct dns_service_spec *s, int af,
			      const char *node_zone, struct dns_ep *eps,
			      uint8_t *addrs, uint64_t *cum,
			      struct dns_dom *doms, uint64_t *dcum,
			      struct dns_family *f, struct dns_vfam *vf)
{
	struct fam_scratch *fs = &b->fs;
	size_t alen = af == AF_INET6 ? 16 : 4;
	size_t n = collect_family(b, s, af, alen, eps, addrs);

	/* One sampling item per distinct address. */
	size_t nu = dedup_addrs(addrs, alen, n, fs->ix, fs->slot);
	sum_per_address(fs, s, n, nu);
	struct dns_plan_in in = {
		.eff = fs->ueff, .hcfg = fs->uhcfg, .cfg = fs->ucfg,
		.mult = fs->mult, .zone = fs->uzone, .node = fs->unode,
		.n = nu,
	};
	struct dns_plan plan = { .order = fs->order, .cum = cum,
				 .doms = doms, .dcum = dcum };
	objective_inputs(b, s, eps, node_zone, n, &in);
	int err = dns_plan(&s->intent, &in, &plan);
	if (err)
		return err;
	memcpy(f->tier, plan.tier, sizeof(f->tier));
	f->spread = plan.spread;
	f->locality = plan.locality;
	f->local0 = plan.local0;
	memcpy(f->dom_tier, plan.dom_tier, sizeof(f->dom_tier));
	b->zone_load = AS_MAX(b->zone_load, plan.zone_load);
	b->spill = AS_MAX(b->spill, plan.spill);
	b->no_rtt |= nu && plan.no_rtt;
	store_in_order(fs, eps, addrs, alen, n, nu);
	f->n = (uint32_t)nu;
	if (vf)
		return add_client_plans(b, s, &in, n, alen, addrs, cum, doms,
					dcum, vf, af == AF_INET6, f->first);
	return AS_OK;
}

static int build_services(struct build *b, const struct dns_view_spec *spec)
{
	struct dns_view *v = b->v;
	size_t ep = 0, i6 = 0, i4 = 0;
	int err;

	for (size_t i = 0; i < spec->n_services; i++) {
		const struct dns_service_spec *s = &spec->services[i];
		struct dns_svc *sv = &v->svcs[i];
		char proto[4];

		snprintf(proto, sizeof(proto), "%s", s->proto ? s->proto : "tcp");
		for (char *p = proto; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		sv->name = arena_dup(b, s->name);
		sv->proto = arena_dup(b, proto);
		sv->port = s->port;
		sv->ttl = s->ttl ? s->ttl : spec->ttl;
		sv->max_answers = s->max_answers ? s->max_answers : v->max_answers;
		if (sv->max_answers > DNS_MAX_ANSWERS)
			sv->max_answers = DNS_MAX_ANSWERS;
		if ((err = add_service_names(b, spec, i)))
			return err;

		/* Endpoints: spec order for introspection, split by family
		 * for sampling. */
		sv->ep_first = (uint32_t)ep;
		sv->n_ep = (uint32_t)s->n_endpoints;
		sv->intent = s->intent;
		b->zone_load = b->spill = 0;
		b->no_rtt = false;
		/* Locality: one plan more per client zone (dns.client_zones). */
		struct dns_vfam *vf = NULL;
		if (s->intent.objective == DNS_OBJ_LOCALITY && b->n_cz_names) {
			sv->var_first = (uint32_t)b->n_vfams;
			sv->n_var = (uint32_t)b->n_cz_names;
			vf = v->vfams + b->n_vfams;
			b->n_vfams += b->n_cz_names;
		}
		/* Failure domains only for resilience (allocated only then). */
		bool sp = s->intent.objective == DNS_OBJ_RESILIENCE;
		sv->v6.first = (uint32_t)i6;
		if ((err = add_service_family(b, s, AF_INET6, spec->node_zone,
					      &v->eps[ep], v->addr6[i6],
					      v->cum6 + i6,
					      sp ? v->doms6 + i6 : NULL,
					      sp ? v->dcum6 + i6 : NULL,
					      &sv->v6, vf)))
			return err;
		i6 += (size_t)sv->v6.n * (1 + sv->n_var);
		sv->v4.first = (uint32_t)i4;
		if ((err = add_service_family(b, s, AF_INET, spec->node_zone,
					      &v->eps[ep], v->addr4[i4],
					      v->cum4 + i4,
					      sp ? v->doms4 + i4 : NULL,
					      sp ? v->dcum4 + i4 : NULL,
					      &sv->v4, vf)))
			return err;
		i4 += (size_t)sv->v4.n * (1 + sv->n_var);
		sv->zone_load = (float)b->zone_load;
		sv->spill = (float)b->spill;
		sv->latency_fallback = b->no_rtt;
		ep += s->n_endpoints;
	}
	return AS_OK;
}

/* The zone name, through ldns so escapes and limits follow the RFCs. */
static int view_set_zone(struct dns_view *v, const struct dns_view_spec *spec)
{
	size_t zl = strlen(spec->zone);
	char *ztext = malloc(zl + 2);
	ldns_rdf *zrdf = NULL;
	int err = AS_ENOMEM;

	if (!ztext)
		return AS_ENOMEM;
	memcpy(ztext, spec->zone, zl + 1);
	if (zl == 0 || spec->zone[zl - 1] != '.')
		strcat(ztext, ".");
	zrdf = ldns_dname_new_frm_str(ztext);
	if (!zrdf || ldns_rdf_size(zrdf) > DNS_NAME_MAX) {
		as_err("dns: bad zone name '%s'", spec->zone);
		err = AS_EINVAL;
		goto out;
	}
	ldns_dname2canonical(zrdf);
	v->zone_len = (uint8_t)ldns_rdf_size(zrdf);
	memcpy(v->zone, ldns_rdf_data(zrdf), v->zone_len);
	v->zone_text = ldns_rdf2str(zrdf);
	if (v->zone_text)
		err = AS_OK;
out:
	ldns_rdf_deep_free(zrdf);
	free(ztext);
	return err;
}

/* Nameservers: their wire names, and which of them are inside the zone
 * (b->ns_rel: length before the zone, SIZE_MAX outside). *labels_bound
 * bounds the index nodes the in-zone ones will need. */
static int view_plan_ns(struct build *b, const struct dns_view_spec *spec,
			size_t *labels_bound)
{
	struct dns_view *v = b->v;
	int err;

	v->n_ns = spec->n_nameservers ? spec->n_nameservers : 1;
	b->ns_wire = calloc(v->n_ns, sizeof(*b->ns_wire));
	b->ns_wlen = calloc(v->n_ns, sizeof(*b->ns_wlen));
	b->ns_rel = calloc(v->n_ns, sizeof(*b->ns_rel));
	v->ns_off = calloc(v->n_ns, sizeof(*v->ns_off));
	v->ns_len = calloc(v->n_ns, sizeof(*v->ns_len));
	v->ns_nsh = calloc(v->n_ns, sizeof(*v->ns_nsh));
	if (!b->ns_wire || !b->ns_wlen || !b->ns_rel || !v->ns_off ||
	    !v->ns_len || !v->ns_nsh)
		return AS_ENOMEM;
	*labels_bound = 0;
	for (size_t i = 0; i < v->n_ns; i++) {
		const char *t = spec->n_nameservers ? spec->nameservers[i] : "ns";
		if (!t || (err = parse_name(t, v->zone_text, b->ns_wire[i],
					    &b->ns_wlen[i]))) {
			as_err("dns: bad nameserver name '%s'", t ? t : "");
			return err == AS_ENOMEM ? err : AS_EINVAL;
		}
		v->ns_nsh[i] = -1;
		if (in_zone(v, b->ns_wire[i], b->ns_wlen[i], &b->ns_rel[i]))
			*labels_bound += 1 + b->ns_wlen[i] / 2;
		else
			b->ns_rel[i] = SIZE_MAX;
	}
	if (spec->n_ns_addresses > 65535 || v->n_ns > 255) {
		as_err("dns: too many nameservers or nameserver addresses");
		return AS_EINVAL;
	}
	return AS_OK;
}

/* The view's arrays: n6/n4 endpoint addresses (and ns6/ns4 of in-zone
 * nameservers after them), n_eps endpoints, str_bytes of strings,
 * b->nodes_cap nodes. Whether all were allocated. */
static bool view_arrays_alloc(struct build *b, const struct dns_view_spec *spec,
			      size_t n6, size_t n4, size_t ns6, size_t ns4,
			      size_t n_eps, size_t str_bytes)
{
	struct dns_view *v = b->v;
	size_t tsize = 16;

	v->nodes = calloc(b->nodes_cap, sizeof(*v->nodes));
	while (tsize < 2 * b->nodes_cap)
		tsize *= 2;
	v->table = calloc(tsize, sizeof(*v->table));
	v->table_mask = (uint32_t)(tsize - 1);
	v->svcs = calloc(spec->n_services ? spec->n_services : 1, sizeof(*v->svcs));
	v->eps = calloc(n_eps ? n_eps : 1, sizeof(*v->eps));
	v->addr6 = calloc(n6 + ns6 + 1, sizeof(*v->addr6));
	v->addr4 = calloc(n4 + ns4 + 1, sizeof(*v->addr4));
	v->cum6 = calloc(n6 + 1, sizeof(*v->cum6));
	v->cum4 = calloc(n4 + 1, sizeof(*v->cum4));
	/* Failure domains and client plans' positions only where some
	 * service has them: a catalog of balance services keeps its size. */
	bool spread = false;
	for (size_t i = 0; i < spec->n_services; i++)
		spread |= spec->services[i].intent.objective == DNS_OBJ_RESILIENCE;
	size_t d6 = spread ? n6 + 1 : 1, d4 = spread ? n4 + 1 : 1;
	size_t v6 = b->vfams_total ? n6 + 1 : 1, v4 = b->vfams_total ? n4 + 1 : 1;
	v->doms6 = calloc(d6, sizeof(*v->doms6));
	v->doms4 = calloc(d4, sizeof(*v->doms4));
	v->dcum6 = calloc(d6, sizeof(*v->dcum6));
	v->dcum4 = calloc(d4, sizeof(*v->dcum4));
	v->vinv6 = calloc(v6, sizeof(*v->vinv6));
	v->vinv4 = calloc(v4, sizeof(*v->vinv4));
	v->nshs = calloc(v->n_ns, sizeof(*v->nshs));
	v->strings = malloc(str_bytes);
	return v->nodes && v->table && v->svcs && v->eps && v->addr6 &&
	       v->addr4 && v->cum6 && v->cum4 && v->doms6 && v->doms4 &&
	       v->dcum6 && v->dcum4 && v->vinv6 && v->vinv4 && v->nshs &&
	       v->strings;
}

/* The scratch of build_services(), as long as the largest service or
 * the nameserver addresses. Whether all were allocated. */
static bool fam_scratch_alloc(struct fam_scratch *fs,
			      const struct dns_view_spec *spec)
{
	size_t max_eps = 0;

	for (size_t i = 0; i < spec->n_services; i++)
		max_eps = AS_MAX(max_eps, spec->services[i].n_endpoints);
	max_eps = AS_MAX(max_eps, spec->n_ns_addresses);
	fs->eff = calloc(max_eps + 1, sizeof(*fs->eff));
	fs->cfg = calloc(max_eps + 1, sizeof(*fs->cfg));
	fs->ueff = calloc(max_eps + 1, sizeof(*fs->ueff));
	fs->ucfg = calloc(max_eps + 1, sizeof(*fs->ucfg));
	fs->uhcfg = calloc(max_eps + 1, sizeof(*fs->uhcfg));
	fs->order = calloc(max_eps + 1, sizeof(*fs->order));
	fs->pos = calloc(max_eps + 1, sizeof(*fs->pos));
	fs->mult = calloc(max_eps + 1, sizeof(*fs->mult));
	fs->slot = calloc(max_eps + 1, sizeof(*fs->slot));
	fs->spec_j = calloc(max_eps + 1, sizeof(*fs->spec_j));
	fs->ix = calloc(max_eps + 1, sizeof(*fs->ix));
	fs->six = calloc(max_eps + 1, sizeof(*fs->six));
	fs->zid = calloc(max_eps + 1, sizeof(*fs->zid));
	fs->nid = calloc(max_eps + 1, sizeof(*fs->nid));
	fs->uzone = calloc(max_eps + 1, sizeof(*fs->uzone));
	fs->unode = calloc(max_eps + 1, sizeof(*fs->unode));
	fs->urtt = calloc(max_eps + 1, sizeof(*fs->urtt));
	return fs->eff && fs->cfg && fs->ueff && fs->ucfg && fs->uhcfg &&
	       fs->order && fs->pos && fs->mult && fs->slot && fs->spec_j &&
	       fs->ix && fs->six && fs->zid && fs->nid && fs->uzone &&
	       fs->unode && fs->urtt;
}

/* Every array of the view and the build scratch, sized from the spec:
 * n6/n4 endpoint addresses, n_eps endpoints, str_bytes of strings,
 * labels_bound nodes for in-zone nameservers. */
static int view_alloc(struct build *b, const struct dns_view_spec *spec,
		      size_t n6, size_t n4, size_t n_eps, size_t str_bytes,
		      size_t labels_bound)
{
	struct dns_view *v = b->v;
	size_t ns_addr6 = 0, ns_addr4 = 0;

	/* Addresses of in-zone nameservers go after the endpoints. */
	for (size_t i = 0; i < spec->n_ns_addresses; i++) {
		if (spec->ns_addresses[i].family == AF_INET6)
			ns_addr6 += v->n_ns;
		else
			ns_addr4 += v->n_ns;
	}
	if (spec->n_ns_addresses > DNS_MAX_NS_ADDRESSES ||
	    v->n_ns > DNS_MAX_NAMESERVERS) {
		as_err("dns: too many nameservers or nameserver addresses");
		return AS_EINVAL;
	}

	b->nodes_cap = 1 + 3 * spec->n_services + labels_bound;
	/* Both, whatever the first one's outcome; dns_view_new() frees
	 * what was allocated (view_free, build_fini). */
	bool ok = view_arrays_alloc(b, spec, n6, n4, ns_addr6, ns_addr4,
				    n_eps, str_bytes);
	if (!fam_scratch_alloc(&b->fs, spec) || !ok)
		return AS_ENOMEM;
	b->str_pos = v->strings;
	b->str_end = v->strings + str_bytes;
	return AS_OK;
}

/* Whether the nameserver address e belongs to nameserver i: it names
 * that nameserver, or no nameserver at all. */
static bool ns_addr_of(const struct build *b, const struct dns_endpoint_spec *e,
		       size_t i)
{
	uint8_t w[DNS_NAME_MAX];
	size_t wl;

	if (!e->node)
		return true;
	return parse_name(e->node, b->v->zone_text, w, &wl) == AS_OK &&
	       wl == b->ns_wlen[i] && memcmp(w, b->ns_wire[i], wl) == 0;
}

/* In-zone nameserver names with their addresses (glue), stored after
 * the n6/n4 endpoint addresses. */
static int build_ns_hosts(struct build *b, const struct dns_view_spec *spec,
			  size_t n6, size_t n4)
{
	struct dns_view *v = b->v;
	struct fam_scratch *fs = &b->fs;
	size_t a6 = n6, a4 = n4;
	int err;

	for (size_t i = 0; i < v->n_ns; i++) {
		struct dns_node *nd;
		if (b->ns_rel[i] == SIZE_MAX)
			continue;
		err = node_add_path(b, b->ns_wire[i], b->ns_rel[i], &nd);
		if (err)
			return err;
		if (nd->svc >= 0 || nd->srv >= 0) {
			as_err("dns: nameserver %zu collides with a service "
			       "name", i);
			return AS_EINVAL;
		}
		if (nd->nsh >= 0) { /* listed twice */
			v->ns_nsh[i] = nd->nsh;
			continue;
		}
		struct dns_nsh *h = &v->nshs[v->n_nshs];
		nd->nsh = v->ns_nsh[i] = (int32_t)v->n_nshs++;
		h->v6.first = (uint32_t)a6;
		h->v4.first = (uint32_t)a4;
		for (size_t j = 0; j < spec->n_ns_addresses; j++) {
			const struct dns_endpoint_spec *e = &spec->ns_addresses[j];
			if (!ns_addr_of(b, e, i))
				continue;
			if (e->family == AF_INET6) {
				memcpy(v->addr6[a6++], e->addr, 16);
				h->v6.n++;
			} else {
				memcpy(v->addr4[a4++], e->addr, 4);
				h->v4.n++;
			}
		}
		/* Glue without repeats. */
		h->v6.n = (uint32_t)dedup_addrs(v->addr6[h->v6.first], 16,
						h->v6.n, fs->ix, fs->slot);
		h->v4.n = (uint32_t)dedup_addrs(v->addr4[h->v4.first], 4,
						h->v4.n, fs->ix, fs->slot);
		a6 = h->v6.first + h->v6.n;
		a4 = h->v4.first + h->v4.n;
	}
	return AS_OK;
}

/* Says which nameserver addresses of the spec no in-zone nameserver
 * uses (they are ignored, not an error). */
static void warn_unused_ns_addrs(const struct build *b,
				 const struct dns_view_spec *spec)
{
	const struct dns_view *v = b->v;

	if (spec->n_ns_addresses && v->n_nshs == 0)
		as_warn("dns: nameserver addresses given but no nameserver "
			"is inside %s; ignored", v->zone_text);
	for (size_t j = 0; v->n_nshs && j < spec->n_ns_addresses; j++) {
		const char *node = spec->ns_addresses[j].node;
		uint8_t w[DNS_NAME_MAX];
		size_t wl;
		bool used = false;
		if (!node)
			continue;
		if (parse_name(node, v->zone_text, w, &wl) == AS_OK)
			for (size_t i = 0; i < v->n_ns; i++)
				used |= b->ns_rel[i] != SIZE_MAX &&
					wl == b->ns_wlen[i] &&
					memcmp(w, b->ns_wire[i], wl) == 0;
		if (!used)
			as_warn("dns: nameserver address %zu names '%s', which is "
				"no in-zone nameserver; ignored", j, node);
	}
}

/* The distinct zones of dns.client_zones (b->cz_names: plan k + 1 of a
 * locality service is for zone k), and the address slots the extra
 * plans take: each locality service's endpoints once more per zone. */
static int plan_client_zones(struct build *b, const struct dns_view_spec *spec,
			     size_t *n6, size_t *n4, size_t *str_bytes)
{
	size_t e6 = 0, e4 = 0;

	if (spec->n_client_zones > DNS_CLIENT_ZONES_MAX ||
	    (spec->n_client_zones && !spec->client_zones)) {
		as_err("dns: at most %d client zones", DNS_CLIENT_ZONES_MAX);
		return AS_EINVAL;
	}
	b->cz_names = calloc(spec->n_client_zones + 1, sizeof(*b->cz_names));
	if (!b->cz_names)
		return AS_ENOMEM;
	for (size_t i = 0; i < spec->n_client_zones; i++) {
		const struct dns_client_zone *cz = &spec->client_zones[i];
		const struct dns_prefix *p = &cz->prefix;
		size_t k;
		if (dns_topo_zone_problem(cz->zone) ||
		    (p->family != AF_INET6 && p->family != AF_INET) ||
		    p->len > (p->family == AF_INET6 ? 128 : 32)) {
			as_err("dns: client zone %zu: bad prefix or zone", i);
			return AS_EINVAL;
		}
		for (k = 0; k < b->n_cz_names; k++)
			if (strcmp(b->cz_names[k], cz->zone) == 0)
				break;
		if (k == b->n_cz_names) {
			b->cz_names[b->n_cz_names++] = cz->zone;
			*str_bytes += strlen(cz->zone) + 1;
		}
	}
	for (size_t i = 0; b->n_cz_names && i < spec->n_services; i++) {
		const struct dns_service_spec *sv = &spec->services[i];
		if (sv->intent.objective != DNS_OBJ_LOCALITY)
			continue;
		b->n_vfams += b->n_cz_names;
		for (size_t j = 0; j < sv->n_endpoints; j++) {
			if (sv->endpoints[j].family == AF_INET6)
				e6++;
			else
				e4++;
		}
	}
	if (e6 > (UINT32_MAX / 4) / (b->n_cz_names + 1) ||
	    e4 > (UINT32_MAX / 4) / (b->n_cz_names + 1)) {
		as_err("dns: too many endpoints for the client zones' plans");
		return AS_EINVAL;
	}
	*n6 += e6 * b->n_cz_names;
	*n4 += e4 * b->n_cz_names;
	return AS_OK;
}

static int cmp_czone(const void *a, const void *b)
{
	const struct dns_czone *x = a, *y = b;

	return (x->p.len < y->p.len) - (x->p.len > y->p.len);
}

/* The view's client prefixes, longest first, each with its plan; the
 * space for the plans' families. */
static int view_client_zones(struct build *b, const struct dns_view_spec *spec)
{
	struct dns_view *v = b->v;

	v->vfams = calloc(b->n_vfams + 1, sizeof(*v->vfams));
	v->czones = calloc(spec->n_client_zones + 1, sizeof(*v->czones));
	v->cz_zones = calloc(b->n_cz_names + 1, sizeof(*v->cz_zones));
	if (!v->vfams || !v->czones || !v->cz_zones)
		return AS_ENOMEM;
	for (size_t i = 0; i < spec->n_client_zones; i++) {
		const struct dns_client_zone *cz = &spec->client_zones[i];
		uint32_t k = 0;
		while (strcmp(b->cz_names[k], cz->zone) != 0)
			k++;
		v->czones[i] = (struct dns_czone){ cz->prefix, k + 1 };
	}
	v->n_czones = spec->n_client_zones;
	qsort(v->czones, v->n_czones, sizeof(*v->czones), cmp_czone);
	b->vfams_total = b->n_vfams;
	b->n_vfams = 0;		/* counts the families as they are built */
	return AS_OK;
}

static void build_fini(struct build *b)
{
	free(b->cz_names);
	free(b->ns_wire);
	free(b->ns_wlen);
	free(b->ns_rel);
	free(b->fs.eff);
	free(b->fs.cfg);
	free(b->fs.ueff);
	free(b->fs.ucfg);
	free(b->fs.uhcfg);
	free(b->fs.order);
	free(b->fs.pos);
	free(b->fs.mult);
	free(b->fs.slot);
	free(b->fs.spec_j);
	free(b->fs.ix);
	free(b->fs.six);
	free(b->fs.zid);
	free(b->fs.nid);
	free(b->fs.uzone);
	free(b->fs.unode);
	free(b->fs.urtt);
}

int dns_view_new(const struct dns_view_spec *spec, dns_view_t **out)
{
	struct dns_view *v = NULL;
	struct build b = { 0 };
	struct dns_node *apex;
	static const uint8_t empty_key[1];
	size_t n6, n4, n_eps, str_bytes, labels_bound;
	int err;

	if (!spec || !out) {
		err = AS_EINVAL;
		goto cleanup;
	}
	err = check_spec(spec, &n6, &n4, &n_eps, &str_bytes);
	if (err)
		goto cleanup;
	if ((err = plan_client_zones(&b, spec, &n6, &n4, &str_bytes)))
		goto cleanup;
	err = AS_ENOMEM;
	v = calloc(1, sizeof(*v));
	if (!v)
		goto cleanup;
	b.v = v;
	v->refs = 1;
	if ((err = view_set_zone(v, spec)) ||
	    (err = view_client_zones(&b, spec)))
		goto cleanup;

	v->ttl = spec->ttl;
	v->max_answers = spec->max_answers ? spec->max_answers
					   : DEFAULT_MAX_ANSWERS;
	if (v->max_answers > DNS_MAX_ANSWERS)
		v->max_answers = DNS_MAX_ANSWERS;
	v->apex_ttl = spec->apex_ttl;
	v->neg_ttl = AS_MIN(spec->apex_ttl, spec->soa_minimum);

	if ((err = view_plan_ns(&b, spec, &labels_bound)) ||
	    (err = view_alloc(&b, spec, n6, n4, n_eps, str_bytes,
			      labels_bound)))
		goto cleanup;
	v->n_svcs = spec->n_services;
	if ((err = node_add(&b, empty_key, 0, &apex)))
		goto cleanup;
	v->node_name = (char *)arena_dup(&b, spec->node_name ? spec->node_name : "");
	for (size_t k = 0; k < b.n_cz_names; k++)
		v->cz_zones[k] = arena_dup(&b, b.cz_names[k]);
	v->node_len = (uint8_t)strlen(v->node_name);
	if ((err = build_services(&b, spec)) ||
	    (err = build_ns_hosts(&b, spec, n6, n4)))
		goto cleanup;
	warn_unused_ns_addrs(&b, spec);
	v->serial = spec->soa_serial ? spec->soa_serial :
				       content_serial(&b, spec);
	err = render_ns_soa(v, spec,
			    (const uint8_t (*)[DNS_NAME_MAX])b.ns_wire,
			    b.ns_wlen, v->serial);
	if (err)
		goto cleanup;
	err = AS_ENOMEM;
	v->txt_rdlen = (uint16_t)(1 + v->node_len);
	v->txt_rdata = malloc(v->txt_rdlen);
	if (!v->txt_rdata)
		goto cleanup;
	v->txt_rdata[0] = v->node_len;
	memcpy(v->txt_rdata + 1, v->node_name, v->node_len);
	err = AS_OK;

cleanup:
	if (err) {
		view_free(v);
		v = NULL;
	}
	build_fini(&b);
	if (out)
		*out = v;
	return err;
}

dns_view_t *dns_view_ref(dns_view_t *view)
{
	if (view)
		__atomic_fetch_add(&view->refs, 1, __ATOMIC_RELAXED);
	return view;
}

void dns_view_unref(dns_view_t *view)
{
	if (view && __atomic_sub_fetch(&view->refs, 1, __ATOMIC_ACQ_REL) == 0)
		view_free(view);
}

size_t dns_view_service_count(const dns_view_t *view)
{
	return view ? view->n_svcs : 0;
}

int dns_view_service(const dns_view_t *view, size_t i,
		     struct dns_service_info *out)
{
	if (!view || !out)
		return AS_EINVAL;
	if (i >= view->n_svcs)
		return AS_ENOENT;
	const struct dns_svc *s = &view->svcs[i];
	out->name = s->name;
	out->port = s->port;
	out->proto = s->proto;
	out->ttl = s->ttl;
	out->max_answers = s->max_answers;
	out->n_endpoints = s->n_ep;
	out->intent = s->intent;
	out->zone_load = s->zone_load;
	out->spill = s->spill;
	out->latency_fallback = s->latency_fallback;
	return AS_OK;
}

/* Where item p of family f stands in the plan: its tier (-1 never) and
 * the chance that it is an answer's first address. */
static void item_rank(const struct dns_view *v, const struct dns_family *f,
		      bool v6, uint32_t p, int *rank, double *share)
{
	const uint64_t *cum = (v6 ? v->cum6 : v->cum4) + f->first;
	uint64_t w, total;

	*rank = -1;
	*share = 0;
	if (f->spread) {
		const struct dns_dom *dm = (v6 ? v->doms6 : v->doms4) + f->first;
		const uint64_t *dc = (v6 ? v->dcum6 : v->dcum4) + f->first;
		uint32_t n_dom = f->dom_tier[0] + f->dom_tier[1];
		for (uint32_t d = 0; d < n_dom; d++) {
			if (p < dm[d].first || p >= dm[d].first + dm[d].n_draw)
				continue;
			unsigned t = d < f->dom_tier[0] ? 0 : 1;
			*rank = (int)t;
			w = cum[p] - (p > dm[d].first ? cum[p - 1] : 0);
			/* first domains from tier 0 when it has weight */
			total = f->dom_tier[0] ? dc[f->dom_tier[0] - 1] : 0;
			if (t == 1 && total == 0)
				total = dc[n_dom - 1];
			else if (t == 1)
				total = 0;
			*share = total ? (double)w / (double)total : 0;
		}
		return;
	}
	uint32_t off = 0;
	bool first_found = false;
	for (unsigned t = 0; t < DNS_TIERS; t++) {
		uint32_t n = f->tier[t];
		total = n ? cum[off + n - 1] : 0;
		if (p >= off && p < off + n) {
			*rank = (int)t;
			w = cum[p] - (p > off ? cum[p - 1] : 0);
			if (!first_found && total)
				*share = (double)w / (double)total;
			return;
		}
		first_found |= total > 0;
		off += n;
	}
}

int dns_view_endpoint(const dns_view_t *view, size_t i, size_t j,
		      struct dns_endpoint_info *out)
{
	if (!view || !out)
		return AS_EINVAL;
	if (i >= view->n_svcs || j >= view->svcs[i].n_ep)
		return AS_ENOENT;
	const struct dns_svc *s = &view->svcs[i];
	const struct dns_ep *e = &view->eps[s->ep_first + j];
	memset(out, 0, sizeof(*out));
	out->family = e->family;
	if (e->family == AF_INET6)
		memcpy(out->addr, view->addr6[s->v6.first + e->fam_index], 16);
	else
		memcpy(out->addr, view->addr4[s->v4.first + e->fam_index], 4);
	out->node = e->node;
	out->weight = e->weight;
	out->load_factor = e->load_factor;
	out->healthy = e->healthy;
	out->effective_weight = e->healthy ? e->weight * e->load_factor : 0;
	out->zone = e->zone;
	out->rtt_known = e->rtt_known;
	out->rtt_ms = e->rtt_ms;
	item_rank(view, e->family == AF_INET6 ? &s->v6 : &s->v4,
		  e->family == AF_INET6, e->fam_index, &out->rank,
		  &out->first_share);
	return AS_OK;
}

/* The plan (1..) dns.client_zones gives a client in prefix c, or 0. */
static uint32_t client_var(const struct dns_view *v, const struct dns_prefix *c)
{
	for (size_t i = 0; c && i < v->n_czones; i++) {
		const struct dns_prefix *p = &v->czones[i].p;
		unsigned full = p->len / 8, rest = p->len % 8;
		if (p->family != c->family || p->len > c->len ||
		    memcmp(p->addr, c->addr, full) != 0 ||
		    (rest && ((p->addr[full] ^ c->addr[full]) &
			      (0xFF << (8 - rest)))))
			continue;
		return v->czones[i].var;	/* longest first */
	}
	return 0;
}

int dns_view_endpoint_for(const dns_view_t *view, size_t i, size_t j,
			  const struct dns_prefix *client,
			  struct dns_endpoint_info *out, const char **zone)
{
	int err = dns_view_endpoint(view, i, j, out);
	uint32_t var;

	if (zone)
		*zone = NULL;
	if (err || !view->svcs[i].n_var || !(var = client_var(view, client)))
		return err;
	const struct dns_svc *s = &view->svcs[i];
	const struct dns_ep *e = &view->eps[s->ep_first + j];
	const struct dns_vfam *vf = &view->vfams[s->var_first + var - 1];
	bool v6 = e->family == AF_INET6;
	const struct dns_family *f = v6 ? &vf->v6 : &vf->v4;
	uint32_t p = (v6 ? view->vinv6 : view->vinv4)[f->first + e->fam_index];

	item_rank(view, f, v6, p, &out->rank, &out->first_share);
	if (zone)
		*zone = view->cz_zones[var - 1];
	return AS_OK;
}

const char *dns_view_zone(const dns_view_t *view)
{
	return view ? view->zone_text : NULL;
}

uint32_t dns_view_serial(const dns_view_t *view)
{
	return view ? view->serial : 0;
}
