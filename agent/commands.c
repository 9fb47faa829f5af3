/*
 * The control command table. Each command returns a JSON value for the
 * "data" field, or NULL with a message in err. The table is the single
 * place a command is declared; anysteerctl asks for it with "commands".
 */
#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/as.h"

static const char *const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
	"RCODE12", "RCODE13", "RCODE14", "RCODE15",
};

const char *agent_rcode_name(unsigned rcode);
const char *agent_rcode_name(unsigned rcode)
{
	if (rcode == DNS_RCODE_BADVERS)
		return "BADVERS";
	return rcode < 16 ? rcode_names[rcode] : "OTHER";
}

static json_t *stats_json(const struct dns_stats *st)
{
	json_t *o = json_object();
	json_t *rc = json_object(), *qt = json_object(), *mal = json_object();

	json_object_set_new(o, "total", json_integer((json_int_t)st->queries));
	json_object_set_new(o, "udp", json_integer((json_int_t)st->udp_queries));
	json_object_set_new(o, "tcp", json_integer((json_int_t)st->tcp_queries));
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

static json_t *load_json(const struct agent_load_sample *l,
			 const struct agent_config *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "signal_name", json_string(c->load.signal));
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

json_t *agent_status_json(struct agent *a)
{
	struct dns_stats st;
	char buf[AS_SOCKADDR_STRLEN];
	json_t *o = json_object();
	json_t *listeners = json_array();

	dns_server_stats(a->dns, &st);
	for (size_t i = 0; i < dns_server_listener_count(a->dns); i++)
		json_array_append_new(listeners, json_string(as_format_sockaddr(
			dns_server_listener(a->dns, i), buf, sizeof(buf))));
	json_object_set_new(o, "node", json_string(a->cfg->node.name));
	json_object_set_new(o, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(o, "uptime_s",
			    json_integer((json_int_t)((as_now_ms() - a->start_ms) / 1000)));
	json_object_set_new(o, "zone", json_string(a->cfg->dns.zone));
	json_object_set_new(o, "listeners", listeners);
	json_object_set_new(o, "workers", json_integer(dns_server_worker_count(a->dns)));
	json_object_set_new(o, "udp_io", json_string(dns_udp_io_name(dns_server_udp_io(a->dns))));
	json_object_set_new(o, "tcp_max_clients_per_worker",
			    json_integer(dns_server_tcp_max_clients(a->dns)));
	json_object_set_new(o, "load", load_json(&a->load, a->cfg));
	json_object_set_new(o, "queries", stats_json(&st));
	json_t *cfg = json_object();
	json_object_set_new(cfg, "path", json_string(a->config_path));
	json_object_set_new(cfg, "services", json_integer((json_int_t)a->n_services));
	json_object_set_new(cfg, "reloads", json_integer((json_int_t)a->reloads_ok));
	json_object_set_new(cfg, "reload_failures", json_integer((json_int_t)a->reloads_failed));
	/* A file is being parsed (reloads run off the loop). */
	json_object_set_new(cfg, "reloading", json_boolean(a->reload != NULL));
	json_object_set_new(cfg, "view_builds", json_integer((json_int_t)a->view_builds));
	json_object_set_new(o, "config", cfg);
	json_object_set_new(o, "anycast", agent_anycast_status_json(a));
	json_object_set_new(o, "gossip", agent_cluster_status_json(a));
	json_object_set_new(o, "kubernetes", agent_k8s_status_json(a));
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

static json_t *cmd_status(struct agent *a, json_t *args, char *err, size_t errlen)
{
	return agent_status_json(a);
}

static json_t *cmd_services(struct agent *a, json_t *args, char *err, size_t errlen)
{
	json_t *o = json_object();
	json_object_set_new(o, "zone", json_string(dns_view_zone(a->view)));
	json_object_set_new(o, "services", agent_services_json(a->view));
	return o;
}

static void reload_done(struct agent *a, void *arg, int rc, const char *err)
{
	struct agent_reply *r = arg;

	if (rc != AS_OK)
		agent_reply_done(r, NULL, err);
	else
		agent_reply_done(r, json_pack("{s:s, s:i}", "config",
					      a->config_path, "services",
					      (int)a->n_services), NULL);
}

/* Answers once the file is parsed off the loop and swapped in. */
static void cmd_reload(struct agent *a, json_t *args, struct agent_reply *r)
{
	int rc = agent_reload_start(a, reload_done, r);
	if (rc != AS_OK)
		agent_reply_done(r, NULL, rc == AS_ESTATE ?
				 "the daemon is shutting down" : as_strerror(rc));
}

static json_t *cmd_commands(struct agent *a, json_t *args, char *err, size_t errlen);

static const struct agent_command commands[] = {
	{ "commands", cmd_commands, "list the commands this daemon understands", NULL },
	{ "status", cmd_status, "node, version, uptime, load, listeners, query counters", NULL },
	{ "services", cmd_services, "services with their endpoints and effective weights", NULL },
	{ "reload", NULL, "reload the configuration file (like SIGHUP)", cmd_reload },
	{ "routes", agent_anycast_cmd_routes, "anycast addresses (announced/withdrawn, why, since), health gate, BIRD sessions", NULL },
	{ "drain", agent_anycast_cmd_drain, "withdraw the anycast route, keep answering", NULL },
	{ "undrain", agent_anycast_cmd_undrain, "announce again (if the health gate agrees)", NULL },
	{ "members", agent_cluster_cmd_members, "gossip members: address, state, incarnation, load, endpoints, age", NULL },
	{ "keyring", agent_cluster_cmd_keyring, "gossip keys: list|install KEY|use KEY|remove KEY|generate", NULL },
	{ "test", agent_anycast_cmd_test, "test only (control.test_commands): pause-dns|resume-dns", NULL },
};

static json_t *cmd_commands(struct agent *a, json_t *args, char *err, size_t errlen)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < AS_ARRAY_SIZE(commands); i++)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "name", commands[i].name,
						     "help", commands[i].help));
	return arr;
}

const struct agent_command *agent_command_find(const char *name)
{
	for (size_t i = 0; i < AS_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

size_t agent_command_count(void)
{
	return AS_ARRAY_SIZE(commands);
}

const struct agent_command *agent_command_at(size_t i)
{
	return i < AS_ARRAY_SIZE(commands) ? &commands[i] : NULL;
}
