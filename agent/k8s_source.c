/*
 * agent/k8s_source.c - the Kubernetes source wired into the daemon, and
 * the catalog the rest of the agent reads.
 *
 * The catalog (a->services) is the static catalog of the config followed
 * by one service per anysteer.io/hostname entry of the Kubernetes source
 * (k8s/k8s.h): its ready endpoints on this node, its TTL, weight and
 * max-answers. A name in both keeps the static attributes and gets both
 * sets of endpoints. Without the source the catalog is the config's own
 * array, so nothing is copied. The merged array only points into the
 * config and into the client's current set, both of which stay put until
 * the next agent_catalog_update() (called on reload and on every set the
 * client delivers), so building it allocates two arrays and no strings.
 *
 * Every agent watches every annotated Service, so it knows the TTL and
 * port of services whose pods run elsewhere; those endpoints arrive by
 * gossip (cluster.c) from the node that hosts them.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "agent/catalog.h"
#include "agent/daemon.h"
#include "k8s/k8s.h"
#include "lib/as.h"

struct agent_k8s {
	k8s_client_t *client;
	struct k8s_conn *conn;
	char *zone, *node;
	struct agent_catalog catalog;	/* merged, when the source is on */
	struct agent_catalog_skips skips;
	struct as_ratelimit skip_log;
	bool curl_ready;
};

int agent_catalog_update(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	struct agent_k8s *k = a->k8s;
	struct agent_catalog cat;
	struct agent_catalog_skips sk;

	if (!k) {
		a->services = c->services;
		a->n_services = c->n_services;
		return AS_OK;
	}
	int rc = agent_catalog_merge(c, k8s_client_set(k->client), &cat, &sk);
	if (rc)
		return rc;
	if (sk.no_port > k->skips.no_port)
		as_log_ratelimited(&k->skip_log, AS_LOG_WARN,
				   "kubernetes: %llu annotated services have no "
				   "TCP or UDP port and are not answered",
				   (unsigned long long)sk.no_port);
	if (sk.ns_label > k->skips.ns_label)
		as_log_ratelimited(&k->skip_log, AS_LOG_WARN,
				   "kubernetes: %llu annotated hostnames are "
				   "nameserver names of %s and are not answered "
				   "as services", (unsigned long long)sk.ns_label,
				   c->dns.zone);
	k->skips = sk;
	agent_catalog_free(&k->catalog);
	k->catalog = cat;
	a->services = (struct agent_service *)cat.services;
	a->n_services = cat.n_services;
	return AS_OK;
}

static void on_set(const struct k8s_set *set, void *arg)
{
	struct agent *a = arg;
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < set->n_entries; i++)
		n += set->entries[i].n_endpoints;
	as_info("kubernetes: %zu annotated hostnames, %zu ready endpoints on "
		"this node", set->n_entries, n);
	if ((rc = agent_catalog_update(a))) {
		/* The old merged array points into the set the client just
		 * replaced: fall back to the static catalog until the next
		 * update rather than keep dangling pointers. */
		as_err("kubernetes: cannot merge the catalog: %s", as_strerror(rc));
		agent_catalog_free(&a->k8s->catalog);
		a->services = a->cfg->services;
		a->n_services = a->cfg->n_services;
	}
	agent_cluster_local_changed(a);
	if ((rc = agent_rebuild_view(a)))
		as_err("kubernetes: cannot rebuild the answer view: %s",
		       as_strerror(rc));
}

int agent_k8s_start(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	struct agent_k8s *k;
	char err[512] = "";
	int rc;

	if (!c->kubernetes.enabled || a->k8s)
		return AS_OK;
	k = calloc(1, sizeof(*k));
	if (!k)
		return AS_ENOMEM;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		as_err("kubernetes: curl_global_init failed");
		free(k);
		return AS_ELIB;
	}
	k->curl_ready = true;
	k->skip_log.interval_ms = 10000;
	k->skip_log.burst = 2;
	a->k8s = k;	/* from here agent_k8s_free cleans up */
	if (*c->kubernetes.kubeconfig)
		rc = k8s_kubeconfig_load(c->kubernetes.kubeconfig, &k->conn,
					 err, sizeof(err));
	else
		rc = k8s_conn_in_cluster(NULL, NULL, NULL, &k->conn, err,
					 sizeof(err));
	if (rc) {
		as_err("kubernetes: %s%s%s", *c->kubernetes.kubeconfig ?
		       c->kubernetes.kubeconfig : "in-cluster configuration",
		       err[0] ? ": " : "", err);
		return rc;
	}
	k->zone = strdup(c->dns.zone);
	k->node = strdup(c->kubernetes.node_name);
	if (!k->zone || !k->node)
		return AS_ENOMEM;
	struct k8s_client_opts o = {
		.zone = k->zone,
		.node_name = k->node,
		.cb = on_set,
		.cb_arg = a,
	};
	rc = k8s_client_new(&a->loop, k->conn, &o, &k->client);
	if (rc) {
		as_err("kubernetes: cannot create the client: %s", as_strerror(rc));
		return rc;
	}
	rc = k8s_client_start(k->client);
	if (rc) {
		as_err("kubernetes: cannot start the client: %s", as_strerror(rc));
		return rc;
	}
	as_notice("kubernetes: watching %s for Services annotated %s in %s, "
		  "endpoints of node %s", k->conn->server, K8S_ANN_HOSTNAME,
		  k->zone, k->node);
	return agent_catalog_update(a);
}

void agent_k8s_close(struct agent *a)
{
	struct agent_k8s *k = a->k8s;

	if (!k || !k->client)
		return;
	/* The catalog keeps pointing into the client's set until the
	 * client is gone; switch to the static catalog first. */
	a->services = a->cfg->services;
	a->n_services = a->cfg->n_services;
	k8s_client_free(k->client);
	k->client = NULL;
}

void agent_k8s_free(struct agent *a)
{
	struct agent_k8s *k = a->k8s;

	if (!k)
		return;
	agent_k8s_close(a);
	k8s_conn_free(k->conn);
	agent_catalog_free(&k->catalog);
	free(k->zone);
	free(k->node);
	if (k->curl_ready)
		curl_global_cleanup();
	free(k);
	a->k8s = NULL;
}

void agent_k8s_reload(struct agent *a, const struct agent_config *old)
{
	const struct agent_config *c = a->cfg;

	if (old->kubernetes.enabled != c->kubernetes.enabled ||
	    strcmp(old->kubernetes.kubeconfig, c->kubernetes.kubeconfig) != 0 ||
	    strcmp(old->kubernetes.node_name, c->kubernetes.node_name) != 0)
		as_warn("reload: the kubernetes section changed; takes effect "
			"after a restart");
	if (a->k8s && strcmp(old->dns.zone, c->dns.zone) != 0)
		as_warn("reload: dns.zone changed; the Kubernetes source keeps "
			"the old zone until a restart");
}

void agent_k8s_snapshot(struct agent *a, struct agent_k8s_snap *s)
{
	memset(s, 0, sizeof(*s));
	if (!a->k8s || !a->k8s->client)
		return;
	s->enabled = true;
	k8s_client_stats(a->k8s->client, &s->st);
	const struct k8s_set *set = k8s_client_set(a->k8s->client);
	s->hostnames = set->n_entries;
	s->skipped_no_port = a->k8s->skips.no_port;
	s->skipped_ns_label = a->k8s->skips.ns_label;
	for (size_t i = 0; i < set->n_entries; i++)
		s->endpoints += set->entries[i].n_endpoints;
}

void agent_k8s_metrics(FILE *f, const struct agent_k8s_snap *s)
{
	agent_metric_head(f, "anysteer_kubernetes_enabled", "1 when the Kubernetes source runs.", "gauge");
	fprintf(f, "anysteer_kubernetes_enabled %d\n", s->enabled);
	if (!s->enabled)
		return;
	agent_metric_head(f, "anysteer_kubernetes_synced",
	     "1 once Services and EndpointSlices have both been listed.", "gauge");
	fprintf(f, "anysteer_kubernetes_synced %d\n", s->st.synced);
	agent_metric_head(f, "anysteer_kubernetes_hostnames", "Annotated hostnames served.", "gauge");
	fprintf(f, "anysteer_kubernetes_hostnames %zu\n", s->hostnames);
	agent_metric_head(f, "anysteer_kubernetes_skipped_hostnames",
	     "Annotated hostnames not answered as services, by reason.", "gauge");
	fprintf(f, "anysteer_kubernetes_skipped_hostnames{reason=\"no_port\"} %llu\n",
		(unsigned long long)s->skipped_no_port);
	fprintf(f, "anysteer_kubernetes_skipped_hostnames{reason=\"nameserver_name\"} %llu\n",
		(unsigned long long)s->skipped_ns_label);
	agent_metric_head(f, "anysteer_kubernetes_local_endpoints",
	     "Ready endpoints on this node from EndpointSlices.", "gauge");
	fprintf(f, "anysteer_kubernetes_local_endpoints %zu\n", s->endpoints);
	agent_metric_head(f, "anysteer_kubernetes_objects", "Objects held, by kind.", "gauge");
	fprintf(f, "anysteer_kubernetes_objects{kind=\"service\"} %llu\n",
		(unsigned long long)s->st.store.services);
	fprintf(f, "anysteer_kubernetes_objects{kind=\"endpointslice\"} %llu\n",
		(unsigned long long)s->st.store.slices);
	agent_metric_head(f, "anysteer_kubernetes_requests_total", "Requests started, by verb.", "counter");
	fprintf(f, "anysteer_kubernetes_requests_total{verb=\"list\"} %llu\n",
		(unsigned long long)s->st.lists);
	fprintf(f, "anysteer_kubernetes_requests_total{verb=\"watch\"} %llu\n",
		(unsigned long long)s->st.watches);
	agent_metric_head(f, "anysteer_kubernetes_errors_total",
	     "Failed requests and skipped input, by reason.", "counter");
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"request\"} %llu\n",
		(unsigned long long)s->st.errors);
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"unauthorized\"} %llu\n",
		(unsigned long long)s->st.unauthorized);
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"gone\"} %llu\n",
		(unsigned long long)s->st.relists_gone);
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"malformed\"} %llu\n",
		(unsigned long long)s->st.store.malformed);
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"hostname_outside_zone\"} %llu\n",
		(unsigned long long)s->st.store.bad_hostnames);
	agent_metric_head(f, "anysteer_kubernetes_hostname_conflicts",
	     "Hostnames claimed by more than one Service (first by namespace/name wins).",
	     "gauge");
	fprintf(f, "anysteer_kubernetes_hostname_conflicts %llu\n",
		(unsigned long long)s->st.store.conflicts);
	agent_metric_head(f, "anysteer_kubernetes_updates_total",
	     "Endpoint sets delivered to the catalog.", "counter");
	fprintf(f, "anysteer_kubernetes_updates_total %llu\n",
		(unsigned long long)s->st.updates);
}

json_t *agent_k8s_status_json(struct agent *a)
{
	struct agent_k8s_snap s;

	agent_k8s_snapshot(a, &s);
	json_t *o = json_object();
	json_object_set_new(o, "enabled", json_boolean(s.enabled));
	if (!s.enabled)
		return o;
	json_object_set_new(o, "server", json_string(a->k8s->conn->server));
	json_object_set_new(o, "node_name", json_string(a->k8s->node));
	json_object_set_new(o, "synced", json_boolean(s.st.synced));
	json_object_set_new(o, "hostnames", json_integer((json_int_t)s.hostnames));
	json_object_set_new(o, "local_endpoints", json_integer((json_int_t)s.endpoints));
	json_object_set_new(o, "services", json_integer((json_int_t)s.st.store.services));
	json_object_set_new(o, "endpointslices", json_integer((json_int_t)s.st.store.slices));
	json_object_set_new(o, "errors", json_integer((json_int_t)s.st.errors));
	json_object_set_new(o, "malformed", json_integer((json_int_t)s.st.store.malformed));
	json_object_set_new(o, "relists_gone", json_integer((json_int_t)s.st.relists_gone));
	return o;
}
