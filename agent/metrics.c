/*
 * Prometheus metrics over HTTP (text exposition format 0.0.4).
 *
 * libmicrohttpd runs its own thread; it reads the DNS counters through
 * dns_server_stats() (relaxed atomic reads) and everything else from the
 * agent snapshot (copied under a mutex by the loop thread), so it never
 * touches loop-owned state. Rendering is a pure function of those two
 * structs, tested without HTTP.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/daemon.h"
#include "lib/as.h"

struct agent_metrics {
	struct MHD_Daemon *mhd;
	struct agent *agent;
};

const char *agent_rcode_name(unsigned rcode);

void agent_metric_head(FILE *f, const char *name, const char *help,
		       const char *type)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *agent_metrics_render(const struct agent_snapshot *s,
			   const struct dns_stats *st, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;

	agent_metric_head(f, "anysteer_build_info", "Version and node name.", "gauge");
	fprintf(f, "anysteer_build_info{version=\"%s\",node=\"%s\"} 1\n",
		PACKAGE_VERSION, s->node);
	agent_metric_head(f, "anysteer_uptime_seconds", "Seconds since the daemon started.", "gauge");
	fprintf(f, "anysteer_uptime_seconds %llu\n", (unsigned long long)s->uptime_s);
	agent_metric_head(f, "anysteer_dns_udp_io_info", "The UDP path the DNS workers use.", "gauge");
	fprintf(f, "anysteer_dns_udp_io_info{mode=\"%s\"} 1\n", s->udp_io ? s->udp_io : "none");

	agent_metric_head(f, "anysteer_dns_queries_total", "DNS messages received, by transport.", "counter");
	fprintf(f, "anysteer_dns_queries_total{transport=\"udp\"} %llu\n",
		(unsigned long long)st->udp_queries);
	fprintf(f, "anysteer_dns_queries_total{transport=\"tcp\"} %llu\n",
		(unsigned long long)st->tcp_queries);
	agent_metric_head(f, "anysteer_dns_queries_by_qtype_total", "DNS queries by query type.", "counter");
	for (unsigned i = 0; i < DNS_QT__COUNT; i++)
		fprintf(f, "anysteer_dns_queries_by_qtype_total{qtype=\"%s\"} %llu\n",
			dns_qtype_bucket_name(i), (unsigned long long)st->by_qtype[i]);
	agent_metric_head(f, "anysteer_dns_responses_total", "DNS responses sent, by RCODE.", "counter");
	for (unsigned i = 0; i < AS_ARRAY_SIZE(st->by_rcode); i++)
		if (i <= 5 || st->by_rcode[i])
			fprintf(f, "anysteer_dns_responses_total{rcode=\"%s\"} %llu\n",
				agent_rcode_name(i), (unsigned long long)st->by_rcode[i]);
	agent_metric_head(f, "anysteer_dns_malformed_total", "Malformed DNS messages, by reason.", "counter");
	for (unsigned i = 1; i < DNS_MAL__COUNT; i++)
		fprintf(f, "anysteer_dns_malformed_total{reason=\"%s\"} %llu\n",
			dns_malformed_name(i), (unsigned long long)st->malformed[i]);
	agent_metric_head(f, "anysteer_dns_dropped_total", "DNS messages dropped without a response.", "counter");
	fprintf(f, "anysteer_dns_dropped_total %llu\n", (unsigned long long)st->dropped);
	agent_metric_head(f, "anysteer_dns_truncated_total", "UDP responses sent with TC=1.", "counter");
	fprintf(f, "anysteer_dns_truncated_total %llu\n", (unsigned long long)st->truncated);
	agent_metric_head(f, "anysteer_dns_tcp_connections_total", "TCP connections, by outcome.", "counter");
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"accepted\"} %llu\n",
		(unsigned long long)st->tcp_accepted);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"rejected\"} %llu\n",
		(unsigned long long)st->tcp_rejected);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"idle_timeout\"} %llu\n",
		(unsigned long long)st->tcp_timeouts);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"message_timeout\"} %llu\n",
		(unsigned long long)st->tcp_msg_timeouts);
	fprintf(f, "anysteer_dns_tcp_connections_total{result=\"evicted\"} %llu\n",
		(unsigned long long)st->tcp_evicted);
	agent_metric_head(f, "anysteer_dns_tcp_accept_errors_total",
		     "Failed accept() calls on DNS TCP listeners (e.g. at the open-file limit).", "counter");
	fprintf(f, "anysteer_dns_tcp_accept_errors_total %llu\n",
		(unsigned long long)st->tcp_accept_errors);
	agent_metric_head(f, "anysteer_dns_tcp_active_connections", "Open TCP connections.", "gauge");
	fprintf(f, "anysteer_dns_tcp_active_connections %llu\n", (unsigned long long)st->tcp_active);

	agent_metric_head(f, "anysteer_dns_answer_duration_seconds",
		     "Time from receiving a query to having its answer ready.", "histogram");
	uint64_t cum = 0;
	for (unsigned i = 0; i < DNS_LAT_BUCKETS; i++) {
		cum += st->latency[i];
		if (i + 1 < DNS_LAT_BUCKETS)
			fprintf(f, "anysteer_dns_answer_duration_seconds_bucket{le=\"%g\"} %llu\n",
				(double)dns_latency_bounds_ns[i] / 1e9, (unsigned long long)cum);
		else
			fprintf(f, "anysteer_dns_answer_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cum);
	}
	fprintf(f, "anysteer_dns_answer_duration_seconds_sum %.9f\n",
		(double)st->latency_sum_ns / 1e9);
	fprintf(f, "anysteer_dns_answer_duration_seconds_count %llu\n", (unsigned long long)cum);

	agent_metric_head(f, "anysteer_load_cpu_utilisation", "EWMA of CPU utilisation, 0..1.", "gauge");
	fprintf(f, "anysteer_load_cpu_utilisation %.6f\n", s->load.cpu_util);
	agent_metric_head(f, "anysteer_load_loadavg1", "One-minute load average.", "gauge");
	fprintf(f, "anysteer_load_loadavg1 %.6f\n", s->load.loadavg1);
	agent_metric_head(f, "anysteer_load_cpus", "Online CPUs.", "gauge");
	fprintf(f, "anysteer_load_cpus %u\n", s->load.ncpu);
	if (s->load.have_psi) {
		agent_metric_head(f, "anysteer_load_psi_cpu_some_avg10",
			     "CPU pressure, some avg10 (percent).", "gauge");
		fprintf(f, "anysteer_load_psi_cpu_some_avg10 %.6f\n", s->load.psi_some_avg10);
	}
	agent_metric_head(f, "anysteer_load_signal", "The configured load signal, 0..1.", "gauge");
	fprintf(f, "anysteer_load_signal %.6f\n", s->load.signal);
	agent_metric_head(f, "anysteer_load_factor", "This node's load factor applied to its endpoints, 0..1.", "gauge");
	fprintf(f, "anysteer_load_factor %.6f\n", s->load.factor);

	agent_metric_head(f, "anysteer_config_reloads_total", "Configuration reloads, by result.", "counter");
	fprintf(f, "anysteer_config_reloads_total{result=\"ok\"} %llu\n",
		(unsigned long long)s->reloads_ok);
	fprintf(f, "anysteer_config_reloads_total{result=\"failed\"} %llu\n",
		(unsigned long long)s->reloads_failed);
	agent_metric_head(f, "anysteer_view_builds_total", "Answer views built.", "counter");
	fprintf(f, "anysteer_view_builds_total %llu\n", (unsigned long long)s->view_builds);
	agent_metric_head(f, "anysteer_catalog_services", "Services in the catalog.", "gauge");
	fprintf(f, "anysteer_catalog_services %zu\n", s->n_services);
	agent_metric_head(f, "anysteer_catalog_endpoints", "Endpoints in the catalog.", "gauge");
	fprintf(f, "anysteer_catalog_endpoints %zu\n", s->n_endpoints);
	agent_anycast_metrics(f, &s->anycast);
	agent_cluster_metrics(f, &s->cluster);
	agent_k8s_metrics(f, &s->k8s);

	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct agent_metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned code = MHD_HTTP_OK;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "method not allowed\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		code = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/healthz") == 0) {
		/* Kubernetes readiness: 200 while the gate announces (or,
		 * without anycast, while DNS answers its self-check). */
		struct agent_snapshot snap;
		char msg[96];
		agent_snapshot(m->agent, &snap);
		int n = snprintf(msg, sizeof(msg), "%s: %s\n",
				 snap.anycast.healthy ? "ok" : "unhealthy",
				 snap.anycast.health_reason);
		resp = MHD_create_response_from_buffer((size_t)n, msg,
						       MHD_RESPMEM_MUST_COPY);
		code = snap.anycast.healthy ? MHD_HTTP_OK :
					      MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "not found: metrics are at /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
						       MHD_RESPMEM_PERSISTENT);
		code = MHD_HTTP_NOT_FOUND;
	} else {
		struct agent_snapshot snap;
		struct dns_stats st;
		size_t len = 0;
		agent_snapshot(m->agent, &snap);
		snap.uptime_s = (as_now_ms() - m->agent->start_ms) / 1000;
		dns_server_stats(m->agent->dns, &st);
		char *text = agent_metrics_render(&snap, &st, &len);
		if (!text)
			return MHD_NO;
		resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(resp, "Content-Type",
					"text/plain; version=0.0.4; charset=utf-8");
	}
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

int agent_metrics_new(struct agent *a, const char *listen,
		      struct agent_metrics **out)
{
	struct sockaddr_storage ss;
	struct agent_metrics *m;

	if (as_parse_sockaddr(listen, 9153, &ss) != AS_OK) {
		as_err("metrics.listen: cannot parse '%s'", listen);
		return AS_EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return AS_ENOMEM;
	m->agent = a;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	uint16_t port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	m->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, m,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!m->mhd) {
		char buf[AS_SOCKADDR_STRLEN];
		as_err("metrics: cannot listen on %s (address in use or not local?)",
		       as_format_sockaddr(&ss, buf, sizeof(buf)));
		free(m);
		return AS_ELIB;
	}
	as_notice("metrics on http://%s/metrics", listen);
	*out = m;
	return AS_OK;
}

void agent_metrics_free(struct agent_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
