/*
 * agent/report.c - pure renderings for the operator: the DNS counters
 * and the load sample as JSON (status), the answer view with effective
 * weights (services), RCODE names (status and metrics).
 */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

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

json_t *agent_services_json(const dns_view_t *view)
{
	json_t *arr = json_array();
	size_t n = dns_view_service_count(view);

	for (size_t i = 0; i < n; i++) {
		struct dns_service_info si;
		if (dns_view_service(view, i, &si))
			continue;
		json_t *s = json_object(), *eps = json_array();
		double total = 0;
		for (size_t j = 0; j < si.n_endpoints; j++) {
			struct dns_endpoint_info ei;
			if (dns_view_endpoint(view, i, j, &ei) == AS_OK)
				total += ei.effective_weight;
		}
		for (size_t j = 0; j < si.n_endpoints; j++) {
			struct dns_endpoint_info ei;
			char addr[INET6_ADDRSTRLEN];
			if (dns_view_endpoint(view, i, j, &ei))
				continue;
			inet_ntop(ei.family, ei.addr, addr, sizeof(addr));
			json_t *e = json_object();
			json_object_set_new(e, "address", json_string(addr));
			json_object_set_new(e, "node", json_string(ei.node));
			json_object_set_new(e, "weight", json_integer(ei.weight));
			json_object_set_new(e, "load_factor", json_real(ei.load_factor));
			json_object_set_new(e, "healthy", json_boolean(ei.healthy));
			json_object_set_new(e, "effective_weight", json_real(ei.effective_weight));
			json_object_set_new(e, "share", json_real(total > 0 ? ei.effective_weight / total : 0));
			json_array_append_new(eps, e);
		}
		json_object_set_new(s, "name", json_string(si.name));
		json_object_set_new(s, "port", json_integer(si.port));
		json_object_set_new(s, "protocol", json_string(si.proto));
		json_object_set_new(s, "ttl", json_integer(si.ttl));
		json_object_set_new(s, "max_answers", json_integer(si.max_answers));
		json_object_set_new(s, "endpoints", eps);
		json_array_append_new(arr, s);
	}
	return arr;
}

