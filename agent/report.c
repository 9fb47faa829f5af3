/*
 * agent/report.c - pure renderings for the operator: the DNS counters
 * and the load sample as JSON (status), the answer view with effective
 * weights and shares (services), RCODE names (status and metrics).
 *
 * The shares are what the sampler does (dns/view.c, dns/policy.c): per
 * service and address family, effective weights; when they are all 0,
 * the configured weights (fail open); when those are 0 too, every
 * endpoint alike. Services by name and endpoints by node and address,
 * so every node of a cluster lists them in the same order. Numbers are
 * rounded: the JSON is read by people too.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "agent/report.h"
#include "lib/as.h"

static const char *const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
	"RCODE12", "RCODE13", "RCODE14", "RCODE15",
};

const char *agent_rcode_name(unsigned rcode)
{
	if (rcode == DNS_RCODE_BADVERS)
		return "BADVERS";
	return rcode < 16 ? rcode_names[rcode] : "OTHER";
}

json_t *agent_dns_stats_json(const struct dns_stats *st)
{
	json_t *o = json_object();
	json_t *rc = json_object(), *qt = json_object(), *mal = json_object();

	json_object_set_new(o, "total", json_integer((json_int_t)st->queries));
	json_object_set_new(o, "udp", json_integer((json_int_t)st->udp_queries));
	json_object_set_new(o, "tcp", json_integer((json_int_t)st->tcp_queries));
	/* Not in the counts above: the agent's own routing self-check. */
	json_object_set_new(o, "self_checks", json_integer((json_int_t)st->self_checks));
	for (unsigned i = 0; i < AS_ARRAY_SIZE(st->by_rcode); i++)
		if (st->by_rcode[i])
			json_object_set_new(rc, agent_rcode_name(i),
					    json_integer((json_int_t)st->by_rcode[i]));
	for (unsigned i = 0; i < DNS_QT__COUNT; i++)
		if (st->by_qtype[i])
			json_object_set_new(qt, dns_qtype_bucket_name(i),
					    json_integer((json_int_t)st->by_qtype[i]));
	for (unsigned i = 1; i < DNS_MAL__COUNT; i++)
		json_object_set_new(mal, dns_malformed_name(i),
				    json_integer((json_int_t)st->malformed[i]));
	json_object_set_new(o, "by_rcode", rc);
	json_object_set_new(o, "by_qtype", qt);
	json_object_set_new(o, "malformed", mal);
	json_object_set_new(o, "dropped", json_integer((json_int_t)st->dropped));
	json_object_set_new(o, "truncated", json_integer((json_int_t)st->truncated));
	json_object_set_new(o, "tcp_accepted", json_integer((json_int_t)st->tcp_accepted));
	json_object_set_new(o, "tcp_rejected", json_integer((json_int_t)st->tcp_rejected));
	json_object_set_new(o, "tcp_timeouts", json_integer((json_int_t)st->tcp_timeouts));
	json_object_set_new(o, "tcp_active", json_integer((json_int_t)st->tcp_active));
	json_object_set_new(o, "tcp_evicted", json_integer((json_int_t)st->tcp_evicted));
	json_object_set_new(o, "tcp_message_timeouts",
			    json_integer((json_int_t)st->tcp_msg_timeouts));
	json_object_set_new(o, "tcp_accept_errors",
			    json_integer((json_int_t)st->tcp_accept_errors));
	json_object_set_new(o, "rrl_dropped",
			    json_integer((json_int_t)st->rrl_dropped));
	json_object_set_new(o, "rrl_slipped",
			    json_integer((json_int_t)st->rrl_slipped));
	return o;
}

json_t *agent_load_json(const struct agent_load_sample *l,
			 const struct agent_config *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "signal_name", json_string(c->load.signal));
	/* What the signal is: the measured one's name, static or override. */
	json_object_set_new(o, "source", json_string(l->source ? l->source : c->load.signal));
	json_object_set_new(o, "override_allowed", json_boolean(c->load.override));
	json_object_set_new(o, "signal", json_real(l->signal));
	json_object_set_new(o, "factor", json_real(l->factor));
	json_object_set_new(o, "cpu_utilisation", json_real(isfinite(l->cpu_util) ? l->cpu_util : 0));
	json_object_set_new(o, "loadavg1", json_real(l->loadavg1));
	json_object_set_new(o, "cpus", json_integer(l->ncpu));
	json_object_set_new(o, "psi_cpu_some_avg10",
			    l->have_psi ? json_real(l->psi_some_avg10) : json_null());
	json_object_set_new(o, "low_watermark", json_real(c->load.low_watermark));
	json_object_set_new(o, "high_watermark", json_real(c->load.high_watermark));
	return o;
}

/* Rounded for the JSON: a share to 1/10000, a factor to 1/1000. */
static double round_to(double x, double unit)
{
	return isfinite(x) ? round(x / unit) * unit : 0;
}

/* What the sampler uses for an endpoint at level 0 (dns/view.c turns
 * the factor into 1/65536ths). */
static double eff_weight(const struct dns_endpoint_info *e)
{
	double lf = !(e->load_factor > 0) ? 0 : e->load_factor > 1 ? 1 : e->load_factor;
	return e->healthy ? e->weight * (round(lf * 65536) / 65536) : 0;
}

const char *agent_answer_mode_name(enum agent_answer_mode m)
{
	static const char *const names[] = {
		[AGENT_ANSWER_NONE] = "none",
		[AGENT_ANSWER_WEIGHTED] = "weighted",
		[AGENT_ANSWER_FALLBACK_CONFIGURED] = "fallback-configured",
		[AGENT_ANSWER_FALLBACK_UNIFORM] = "fallback-uniform",
		[AGENT_ANSWER_LOADED] = "loaded",
	};
	return (unsigned)m < AS_ARRAY_SIZE(names) ? names[m] : "?";
}

enum agent_answer_mode agent_answer_shares(const struct dns_endpoint_info *eps,
					   size_t n, int family, double *share)
{
	double eff = 0, hcfg = 0, cfg = 0;
	size_t count = 0;

	/* The first address of an answer, as dns/policy.c draws it: by
	 * effective weight; with none, the healthy endpoints loaded to 0 by
	 * configured weight (the fill tier); with none of those either,
	 * fail open over all by configured weight, or all alike. */
	for (size_t j = 0; j < n; j++) {
		if (eps[j].family != family)
			continue;
		eff += eff_weight(&eps[j]);
		hcfg += eps[j].healthy ? eps[j].weight : 0;
		cfg += eps[j].weight;
		count++;
	}
	enum agent_answer_mode m = count == 0 ? AGENT_ANSWER_NONE :
		eff > 0 ? AGENT_ANSWER_WEIGHTED :
		hcfg > 0 ? AGENT_ANSWER_LOADED :
		cfg > 0 ? AGENT_ANSWER_FALLBACK_CONFIGURED :
		AGENT_ANSWER_FALLBACK_UNIFORM;
	for (size_t j = 0; j < n; j++) {
		if (eps[j].family != family)
			continue;
		share[j] = m == AGENT_ANSWER_WEIGHTED ? eff_weight(&eps[j]) / eff :
			   m == AGENT_ANSWER_LOADED ?
				   (eps[j].healthy ? eps[j].weight / hcfg : 0) :
			   m == AGENT_ANSWER_FALLBACK_CONFIGURED ? eps[j].weight / cfg :
			   1.0 / (double)count;
	}
	return m;
}

struct ep_row {
	struct dns_endpoint_info ei;
	char addr[INET6_ADDRSTRLEN];
	double share;
};

/* Node, then address: the same order on every node of a cluster. */
static int ep_cmp(const void *a, const void *b)
{
	const struct ep_row *x = a, *y = b;
	int c = strcmp(x->ei.node ? x->ei.node : "", y->ei.node ? y->ei.node : "");
	if (c)
		return c;
	if (x->ei.family != y->ei.family)
		return x->ei.family == AF_INET6 ? -1 : 1;
	return memcmp(x->ei.addr, y->ei.addr, 16);
}

struct svc_row {
	struct dns_service_info si;
	size_t i;
};

static int svc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svc_row *)a)->si.name,
		      ((const struct svc_row *)b)->si.name);
}

/* planned: the intent, not the weights alone, decides the first answer
 * (docs/intents.md): the share is the plan's. */
static json_t *endpoint_json(const struct ep_row *r, json_t *node_cpu,
			     bool planned)
{
	json_t *e = json_object();
	json_t *cpu = json_object_get(node_cpu, r->ei.node ? r->ei.node : "");

	json_object_set_new(e, "address", json_string(r->addr));
	json_object_set_new(e, "node", json_string(r->ei.node ? r->ei.node : ""));
	json_object_set_new(e, "weight", json_integer(r->ei.weight));
	json_object_set_new(e, "cpu_utilisation", json_is_number(cpu) ?
			    json_real(round_to(json_number_value(cpu), 1e-3)) : json_null());
	json_object_set_new(e, "load_factor", json_real(round_to(r->ei.load_factor, 1e-3)));
	json_object_set_new(e, "healthy", json_boolean(r->ei.healthy));
	json_object_set_new(e, "effective_weight", json_real(round_to(r->ei.effective_weight, 1e-3)));
	json_object_set_new(e, "share", json_real(round_to(planned ?
			    r->ei.first_share : r->share, 1e-4)));
	json_object_set_new(e, "zone", r->ei.zone ? json_string(r->ei.zone) : json_null());
	json_object_set_new(e, "rank", json_integer(r->ei.rank));
	/* Estimated round trip from this node to the endpoint's node
	 * (network coordinates), null while unknown. */
	json_object_set_new(e, "rtt_ms", r->ei.rtt_known ?
			    json_real(round_to(r->ei.rtt_ms, 1e-3)) : json_null());
	return e;
}

/* client: as a client in that prefix would be answered (explain), or
 * NULL; *client_zone (NULL ok) gets the zone it is placed in, if any. */
static json_t *service_json(const dns_view_t *view, const struct svc_row *sr,
			    json_t *node_cpu, const struct dns_prefix *client,
			    const char **client_zone)
{
	const struct dns_service_info *si = &sr->si;
	struct ep_row *rows = calloc(si->n_endpoints ? si->n_endpoints : 1, sizeof(*rows));
	struct dns_endpoint_info *infos = calloc(si->n_endpoints ? si->n_endpoints : 1,
						 sizeof(*infos));
	double *share = calloc(si->n_endpoints ? si->n_endpoints : 1, sizeof(*share));
	json_t *s = NULL;
	size_t n = 0;

	if (!rows || !infos || !share)
		goto out;
	for (size_t j = 0; j < si->n_endpoints; j++)
		if (dns_view_endpoint_for(view, sr->i, j, client, &infos[n],
					  client_zone) == AS_OK)
			n++;
	json_t *modes = json_object();
	static const struct { int af; const char *rr; } fams[] = {
		{ AF_INET6, "AAAA" }, { AF_INET, "A" },
	};
	for (size_t f = 0; f < AS_ARRAY_SIZE(fams); f++) {
		enum agent_answer_mode m = agent_answer_shares(infos, n, fams[f].af, share);
		if (m != AGENT_ANSWER_NONE)
			json_object_set_new(modes, fams[f].rr,
					    json_string(agent_answer_mode_name(m)));
	}
	for (size_t j = 0; j < n; j++) {
		rows[j].ei = infos[j];
		rows[j].share = share[j];
		inet_ntop(infos[j].family, infos[j].addr, rows[j].addr, sizeof(rows[j].addr));
	}
	qsort(rows, n, sizeof(*rows), ep_cmp);
	enum dns_objective obj = si->intent.objective;
	bool planned = obj == DNS_OBJ_LOCALITY || obj == DNS_OBJ_RESILIENCE ||
		       (obj == DNS_OBJ_LATENCY && !si->latency_fallback);
	json_t *eps = json_array();
	for (size_t j = 0; j < n; j++)
		json_array_append_new(eps, endpoint_json(&rows[j], node_cpu,
							 planned));
	json_t *in = json_object();
	json_object_set_new(in, "objective", json_string(dns_objective_name(obj)));
	/* What the plan does: latency without an RTT estimate is balance. */
	json_object_set_new(in, "applied", json_string(dns_objective_name(
		obj == DNS_OBJ_LATENCY && si->latency_fallback ? DNS_OBJ_BALANCE : obj)));
	if (obj == DNS_OBJ_LOCALITY) {
		json_object_set_new(in, "spill_over",
				    json_real(round_to(si->intent.spill_over, 1e-3)));
		json_object_set_new(in, "zone_load", json_real(round_to(si->zone_load, 1e-3)));
		json_object_set_new(in, "spill", json_real(round_to(si->spill, 1e-4)));
	} else if (obj == DNS_OBJ_LATENCY) {
		/* fit = load factor at least 1 - spill_over */
		json_object_set_new(in, "spill_over",
				    json_real(round_to(si->intent.spill_over, 1e-3)));
	} else if (obj == DNS_OBJ_RESILIENCE) {
		json_object_set_new(in, "spread",
				    json_string(dns_spread_name(si->intent.spread)));
	}
	s = json_object();
	json_object_set_new(s, "name", json_string(si->name));
	json_object_set_new(s, "port", json_integer(si->port));
	json_object_set_new(s, "protocol", json_string(si->proto));
	json_object_set_new(s, "ttl", json_integer(si->ttl));
	json_object_set_new(s, "max_answers", json_integer(si->max_answers));
	json_object_set_new(s, "answer_mode", modes);
	json_object_set_new(s, "intent", in);
	json_object_set_new(s, "endpoints", eps);
out:
	free(rows);
	free(infos);
	free(share);
	return s;
}

json_t *agent_services_json(const dns_view_t *view, json_t *node_cpu)
{
	json_t *arr = json_array();
	size_t n = dns_view_service_count(view), k = 0;
	struct svc_row *svcs = calloc(n ? n : 1, sizeof(*svcs));

	if (!svcs)
		return arr;
	for (size_t i = 0; i < n; i++)
		if (dns_view_service(view, i, &svcs[k].si) == AS_OK)
			svcs[k++].i = i;
	qsort(svcs, k, sizeof(*svcs), svc_cmp);
	for (size_t i = 0; i < k; i++) {
		json_t *s = service_json(view, &svcs[i], node_cpu, NULL, NULL);
		if (s)
			json_array_append_new(arr, s);
	}
	free(svcs);
	return arr;
}

/* One line on how the service's intent plans this node's answers. */
static void explanation(const struct dns_service_info *si, const char *zone,
			size_t n_zones, char *b, size_t n)
{
	const struct dns_intent *in = &si->intent;

	switch (in->objective) {
	case DNS_OBJ_LOCALITY:
		if (!zone)
			snprintf(b, n, "locality, but the answering node has no zone: "
				 "answered as balance");
		else if (si->spill > 0 && si->zone_load > in->spill_over)
			snprintf(b, n, "locality from zone %s: its load %.3f is past "
				 "spill_over %.3f, so %.1f%% of first answers leave it",
				 zone, si->zone_load, in->spill_over, 100 * si->spill);
		else if (si->spill > 0)
			snprintf(b, n, "locality from zone %s: it has no endpoint to "
				 "answer with, so %.1f%% of first answers leave it",
				 zone, 100 * si->spill);
		else
			snprintf(b, n, "locality from zone %s: its load %.3f is within "
				 "spill_over %.3f; its endpoints first, other zones "
				 "fill short answers", zone, si->zone_load,
				 in->spill_over);
		break;
	case DNS_OBJ_RESILIENCE:
		snprintf(b, n, "resilience: no two addresses of an answer on one "
			 "%s (%zu of them with endpoints here)",
			 dns_spread_name(in->spread), n_zones);
		break;
	case DNS_OBJ_LATENCY:
		if (si->latency_fallback)
			snprintf(b, n, "latency, but no RTT estimate yet (no network "
				 "coordinates: this node has taken no sample, or no "
				 "endpoint's node has sent one): answered as balance");
		else
			snprintf(b, n, "latency: nearest endpoints by estimated RTT "
				 "from this node first (within max(%.0f ms, %.0f%%) of "
				 "the nearest share by weight); endpoints with load "
				 "factor below %.2f only after the others",
				 DNS_LATENCY_TIE_MS, 100 * DNS_LATENCY_TIE_FRAC,
				 1 - (in->spill_over >= 0 && in->spill_over <= 1 ?
				      in->spill_over : DNS_SPILL_OVER_DEFAULT));
		break;
	default:
		snprintf(b, n, "balance: by effective weight (weight x health x "
			 "load factor)");
		break;
	}
}

json_t *agent_explain_json(const dns_view_t *view, const char *name,
			   const char *node_zone, const struct dns_prefix *client,
			   json_t *node_cpu)
{
	size_t n = dns_view_service_count(view);
	struct svc_row sr;
	const char *czone = NULL;
	char why[256];

	for (size_t i = 0; i < n; i++) {
		if (dns_view_service(view, i, &sr.si) != AS_OK ||
		    strcasecmp(sr.si.name, name) != 0)
			continue;
		sr.i = i;
		json_t *s = service_json(view, &sr, node_cpu, client, &czone);
		if (!s)
			return NULL;
		/* Failure domains with endpoints: distinct zones or nodes. */
		json_t *eps = json_object_get(s, "endpoints"), *e;
		const char *key = sr.si.intent.spread == DNS_SPREAD_ZONE ? "zone" : "node";
		json_t *seen = json_object();
		size_t k;
		json_array_foreach(eps, k, e) {
			const char *v = json_string_value(json_object_get(e, key));
			json_object_set_new(seen, v ? v : "", json_true());
		}
		explanation(&sr.si, node_zone, json_object_size(seen), why, sizeof(why));
		json_decref(seen);
		if (czone) {
			/* The client's zone's plan: what leaves it, from the
			 * plan's own shares. */
			double out = 0;
			json_array_foreach(eps, k, e) {
				const char *z = json_string_value(json_object_get(e, "zone"));
				if (!z || strcmp(z, czone) != 0)
					out += json_real_value(json_object_get(e, "share"));
			}
			snprintf(why, sizeof(why), "locality for a client in zone %s "
				 "(placed by dns.client_zones): %.1f%% of first answers "
				 "leave it", czone, 100 * out);
		} else if (client && sr.si.intent.objective == DNS_OBJ_LOCALITY) {
			size_t l = strlen(why);
			snprintf(why + l, sizeof(why) - l, " (the client is in no "
				 "prefix of dns.client_zones)");
		}
		json_object_set_new(s, "client_zone", czone ? json_string(czone)
							    : json_null());
		json_object_set_new(s, "node_zone", node_zone ? json_string(node_zone)
							      : json_null());
		json_object_set_new(s, "explanation", json_string(why));
		return s;
	}
	return NULL;
}
