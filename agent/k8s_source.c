/*
 * agent/k8s_source.c - the Kubernetes source component: runs the k8s/
 * client and emits each endpoint set it delivers (AGENT_EV_LOCAL_CHANGED).
 *
 * The daemon merges the set into the catalog (agent/catalog.c: the
 * static catalog of the config followed by one service per
 * anysteer.io/hostname entry, with its ready endpoints on this node, its
 * TTL, weight and max-answers) and tells this component what the merge
 * left out, for its metrics. The set stays put until the next one or
 * until the client is freed, so the catalog may point into it; before
 * the client goes, stop emits a NULL set.
 *
 * Every agent watches every annotated Service, so it knows the TTL and
 * port of services whose pods run elsewhere; those endpoints arrive by
 * gossip (cluster.c) from the node that hosts them.
 *
 * Without node.zone, it also watches its own Node and emits the
 * topology.kubernetes.io/zone label (AGENT_EV_NODE_ZONE) when it is
 * first read and whenever it changes; the daemon makes it this node's
 * zone and the cluster component gossips it. With node.zone the Node is
 * not read at all (no RBAC on nodes needed): the configuration wins.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "agent/k8s_source.h"
#include "k8s/k8s.h"
#include "lib/as.h"

struct agent_k8s {
	struct agent_ctx *ctx;
	k8s_client_t *client;
	k8s_leader_t *leader;	/* NULL: leader_election off */
	struct k8s_conn *conn;
	char *zone, *node;
	struct agent_catalog_skips skips;	/* of the daemon's last merge */
	struct as_ratelimit skip_log;
	bool curl_ready;
	bool node_zone;		/* watching the Node's zone label */
};

void agent_k8s_catalog_skips(void *self, const struct agent_catalog_skips *sk)
{
	struct agent_k8s *k = self;

	if (!k)
		return;
	if (sk->no_port > k->skips.no_port)
		as_log_ratelimited(&k->skip_log, AS_LOG_WARN,
				   "kubernetes: %llu annotated services have no "
				   "TCP or UDP port and are not answered",
				   (unsigned long long)sk->no_port);
	if (sk->ns_label > k->skips.ns_label)
		as_log_ratelimited(&k->skip_log, AS_LOG_WARN,
				   "kubernetes: %llu annotated hostnames are "
				   "nameserver names of %s and are not answered "
				   "as services", (unsigned long long)sk->ns_label,
				   k->zone);
	if (sk->bad_name > k->skips.bad_name)
		as_log_ratelimited(&k->skip_log, AS_LOG_WARN,
				   "kubernetes: %llu annotated hostnames are not "
				   "service names of %s and are not answered",
				   (unsigned long long)sk->bad_name, k->zone);
	if (sk->bad_intent > k->skips.bad_intent)
		as_log_ratelimited(&k->skip_log, AS_LOG_WARN,
				   "kubernetes: %llu annotated services have an "
				   "invalid %s (latency, bandwidth or cost) or %s "
				   "(at most 8 tags of a-z, 0-9 and '-'); they are "
				   "answered but not steered",
				   (unsigned long long)sk->bad_intent, K8S_ANN_PATH,
				   K8S_ANN_PATH_AVOID);
	k->skips = *sk;
}

/* A new set: the daemon merges it into the catalog, re-announces this
 * node's endpoints and rebuilds the answers. */
static void on_set(const struct k8s_set *set, void *arg)
{
	struct agent_k8s *k = arg;
	size_t n = 0;

	for (size_t i = 0; i < set->n_entries; i++)
		n += set->entries[i].n_endpoints;
	as_info("kubernetes: %zu hostnames (Services, Ingresses, routes), %zu "
		"ready endpoints on this node", set->n_entries, n);
	k->ctx->emit(k->ctx, AGENT_EV_LOCAL_CHANGED, set);
}

/* The Node's zone label: NULL when it has none. */
static void on_node_zone(const char *zone, void *arg)
{
	struct agent_k8s *k = arg;

	k->ctx->emit(k->ctx, AGENT_EV_NODE_ZONE, zone);
}

/* The connection: from the kubeconfig when one is configured, else the
 * pod's in-cluster service account. */
static int k8s_load_conn(struct agent_k8s *k, const struct agent_config *c)
{
	char err[512] = "";
	int rc;

	if (*c->kubernetes.kubeconfig)
		rc = k8s_kubeconfig_load(c->kubernetes.kubeconfig, &k->conn,
					 err, sizeof(err));
	else
		rc = k8s_conn_in_cluster(NULL, NULL, NULL, &k->conn, err,
					 sizeof(err));
	if (rc)
		as_err("kubernetes: %s%s%s", *c->kubernetes.kubeconfig ?
		       c->kubernetes.kubeconfig : "in-cluster configuration",
		       err[0] ? ": " : "", err);
	return rc;
}

/* Leader election on the configured Lease, so that one agent writes
 * status and Events. */
static int k8s_start_leader(struct agent_k8s *k, const struct agent_config *c)
{
	/* The pod name (downward API) tells the agents apart in the
	 * Lease; outside a pod, the node's name. */
	const char *pod = getenv("POD_NAME");
	struct k8s_leader_opts lo = {
		.identity = pod && *pod ? pod : c->node.name,
		.namespace_ = c->kubernetes.lease_namespace,
		.name = c->kubernetes.lease_name,
		.component = "anysteer",
		.lease_ms = (uint32_t)c->kubernetes.lease_duration_ms,
		.renew_deadline_ms = (uint32_t)c->kubernetes.renew_deadline_ms,
		.retry_ms = (uint32_t)c->kubernetes.retry_period_ms,
	};
	int rc;

	rc = k8s_leader_new(k->ctx->loop, k->client, &lo, &k->leader);
	if (!rc)
		rc = k8s_leader_start(k->leader);
	if (rc)
		as_err("kubernetes: cannot start leader election: %s",
		       as_strerror(rc));
	return rc;
}

/* After the cluster component: its sets re-announce local endpoints. */
static int k8s_start(struct agent_ctx *ctx, void **self)
{
	const struct agent_config *c = ctx->cfg;
	struct agent_k8s *k;
	int rc;

	*self = NULL;
	if (!c->kubernetes.enabled)
		return AS_OK;
	k = calloc(1, sizeof(*k));
	if (!k)
		return AS_ENOMEM;
	k->ctx = ctx;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		as_err("kubernetes: curl_global_init failed");
		free(k);
		return AS_ELIB;
	}
	k->curl_ready = true;
	k->skip_log.interval_ms = 10000;
	k->skip_log.burst = 2;
	*self = k;	/* from here stop and free clean up */
	rc = k8s_load_conn(k, c);
	if (rc)
		return rc;
	k->zone = strdup(c->dns.zone);
	k->node = strdup(c->kubernetes.node_name);
	if (!k->zone || !k->node)
		return AS_ENOMEM;
	struct k8s_client_opts o = {
		.zone = k->zone,
		.node_name = k->node,
		.ingress = c->kubernetes.ingress,
		.gateway_api = c->kubernetes.gateway_api,
		.annotation_class = c->kubernetes.ingress_class,
		.cb = on_set,
		.cb_arg = k,
		.node_zone = !c->node.zone,
		.node_cb = on_node_zone,
	};
	k->node_zone = o.node_zone;
	rc = k8s_client_new(ctx->loop, k->conn, &o, &k->client);
	if (rc) {
		as_err("kubernetes: cannot create the client: %s", as_strerror(rc));
		return rc;
	}
	rc = k8s_client_start(k->client);
	if (rc) {
		as_err("kubernetes: cannot start the client: %s", as_strerror(rc));
		return rc;
	}
	if (c->kubernetes.leader_election &&
	    (c->kubernetes.ingress || c->kubernetes.gateway_api)) {
		rc = k8s_start_leader(k, c);
		if (rc)
			return rc;
	}
	as_notice("kubernetes: watching %s for Services annotated %s in %s, "
		  "endpoints of node %s%s", k->conn->server, K8S_ANN_HOSTNAME,
		  k->zone, k->node, k->node_zone ? ", its zone from the Node's "
		  K8S_LABEL_ZONE " label" : "");
	/* The catalog points into the client's set from here on. */
	return ctx->emit(ctx, AGENT_EV_LOCAL_CHANGED, k8s_client_set(k->client));
}

static void k8s_stop(void *self)
{
	struct agent_k8s *k = self;

	if (!k || !k->client)
		return;
	/* The catalog keeps pointing into the client's set until the
	 * client is gone; switch to the static catalog first. */
	k->ctx->emit(k->ctx, AGENT_EV_LOCAL_CHANGED, NULL);
	/* Releases the Lease if we lead, while the client can still write. */
	k8s_leader_free(k->leader);
	k->leader = NULL;
	k8s_client_free(k->client);
	k->client = NULL;
}

static void k8s_free(void *self)
{
	struct agent_k8s *k = self;

	if (!k)
		return;
	k8s_stop(k);
	k8s_conn_free(k->conn);
	free(k->zone);
	free(k->node);
	if (k->curl_ready)
		curl_global_cleanup();
	free(k);
}

/* anysteerctl drain / undrain, and SIGTERM with anycast (daemon.c): a
 * drained agent gives up the Lease and does not stand until undrained. */
static void k8s_notify(void *self, enum agent_event ev)
{
	struct agent_k8s *k = self;

	if (k && (ev == AGENT_EV_DRAINED || ev == AGENT_EV_UNDRAINED))
		k8s_leader_set_drained(k->leader, ev == AGENT_EV_DRAINED);
}

static void k8s_reconfigure(struct agent_ctx *ctx, void *self,
			    const struct agent_config *old)
{
	const struct agent_config *c = ctx->cfg;

	const __typeof__(c->kubernetes) *o = &old->kubernetes, *n = &c->kubernetes;

	if (o->enabled != n->enabled || strcmp(o->kubeconfig, n->kubeconfig) ||
	    strcmp(o->node_name, n->node_name) || o->ingress != n->ingress ||
	    o->gateway_api != n->gateway_api ||
	    strcmp(o->ingress_class, n->ingress_class) ||
	    o->leader_election != n->leader_election ||
	    strcmp(o->lease_name, n->lease_name) ||
	    strcmp(o->lease_namespace, n->lease_namespace) ||
	    o->lease_duration_ms != n->lease_duration_ms ||
	    o->renew_deadline_ms != n->renew_deadline_ms ||
	    o->retry_period_ms != n->retry_period_ms)
		as_warn("reload: the kubernetes section changed; takes effect "
			"after a restart");
	if (self && strcmp(old->dns.zone, c->dns.zone) != 0)
		as_warn("reload: dns.zone changed; the Kubernetes source keeps "
			"the old zone until a restart");
	const struct agent_k8s *k = self;

	if (k && k->client && !k->node_zone && old->node.zone && !c->node.zone)
		as_warn("reload: node.zone removed; the Node's " K8S_LABEL_ZONE
			" label is read from the next restart (no zone until then)");
}

static void k8s_snapshot(const void *self, struct agent_snapshot *snap)
{
	const struct agent_k8s *k = self;
	struct agent_k8s_snap *s = &snap->k8s;

	memset(s, 0, sizeof(*s));
	if (!k || !k->client)
		return;
	s->enabled = true;
	k8s_client_stats(k->client, &s->st);
	const struct k8s_set *set = k8s_client_set(k->client);
	s->hostnames = set->n_entries;
	s->skipped_no_port = k->skips.no_port;
	s->skipped_ns_label = k->skips.ns_label;
	s->skipped_bad_name = k->skips.bad_name;
	s->node_zone = k->node_zone;
	s->election = k->leader != NULL;
	s->leading = k8s_leader_is_leader(k->leader);
	s->warnings = k8s_client_publish(k->client)->n_warnings;
	for (size_t i = 0; i < set->n_entries; i++)
		s->endpoints += set->entries[i].n_endpoints;
}

static void k8s_metrics(FILE *f, const struct agent_snapshot *snap)
{
	const struct agent_k8s_snap *s = &snap->k8s;

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
	fprintf(f, "anysteer_kubernetes_skipped_hostnames{reason=\"bad_name\"} %llu\n",
		(unsigned long long)s->skipped_bad_name);
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
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"bad_zone_label\"} %llu\n",
		(unsigned long long)s->st.node.bad_zone);
	fprintf(f, "anysteer_kubernetes_errors_total{reason=\"malformed_node\"} %llu\n",
		(unsigned long long)s->st.node.malformed);
	agent_metric_head(f, "anysteer_kubernetes_node_zone_synced",
	     "1 once this node's Node has been read for its zone label "
	     "(0 also when node.zone is configured: the Node is not read).", "gauge");
	fprintf(f, "anysteer_kubernetes_node_zone_synced %d\n",
		s->node_zone && s->st.node_synced);
	agent_metric_head(f, "anysteer_kubernetes_hostname_conflicts",
	     "Hostnames claimed by more than one Service (first by namespace/name wins).",
	     "gauge");
	fprintf(f, "anysteer_kubernetes_hostname_conflicts %llu\n",
		(unsigned long long)s->st.store.conflicts);
	agent_metric_head(f, "anysteer_kubernetes_leader",
	     "1 when this agent holds the Lease and writes status and Events.", "gauge");
	fprintf(f, "anysteer_kubernetes_leader %d\n", s->leading);
	agent_metric_head(f, "anysteer_kubernetes_writes_total",
	     "Status, Event and Lease writes, by result.", "counter");
	fprintf(f, "anysteer_kubernetes_writes_total{result=\"ok\"} %llu\n",
		(unsigned long long)s->st.writes);
	fprintf(f, "anysteer_kubernetes_writes_total{result=\"error\"} %llu\n",
		(unsigned long long)s->st.write_errors);
	fprintf(f, "anysteer_kubernetes_writes_total{result=\"dropped\"} %llu\n",
		(unsigned long long)s->st.write_dropped);
	agent_metric_head(f, "anysteer_kubernetes_warnings",
	     "What DNS cannot honour in Ingresses and routes (Events when leading).",
	     "gauge");
	fprintf(f, "anysteer_kubernetes_warnings %zu\n", s->warnings);
	agent_metric_head(f, "anysteer_kubernetes_updates_total",
	     "Endpoint sets delivered to the catalog.", "counter");
	fprintf(f, "anysteer_kubernetes_updates_total %llu\n",
		(unsigned long long)s->st.updates);
}

/* The Node's zone label, when it is read (node.zone unset). */
static json_t *k8s_node_zone_json(const struct agent_k8s_snap *s)
{
	json_t *nz = json_object();

	json_object_set_new(nz, "watched", json_boolean(s->node_zone));
	if (s->node_zone) {
		json_object_set_new(nz, "synced", json_boolean(s->st.node_synced));
		json_object_set_new(nz, "found", json_boolean(s->st.node.present));
		json_object_set_new(nz, "zone", s->st.node.zone[0] ?
				    json_string(s->st.node.zone) : json_null());
		json_object_set_new(nz, "bad_labels",
				    json_integer((json_int_t)s->st.node.bad_zone));
	}
	return nz;
}

/* What is published: "ingresses" (namespace/name of those answered) and
 * "warnings" (what DNS could not honour, as the leader's Events say it). */
static void k8s_publish_json(const struct k8s_publish *p, json_t *o)
{
	json_t *ings = json_array(), *warns = json_array();

	for (size_t i = 0; i < p->n_ingresses; i++) {
		char name[600];

		snprintf(name, sizeof(name), "%s/%s", p->ingresses[i].namespace_,
			 p->ingresses[i].name);
		json_array_append_new(ings, json_string(name));
	}
	for (size_t i = 0; i < p->n_warnings; i++) {
		json_t *w = json_object();
		const struct k8s_warning *x = &p->warnings[i];

		json_object_set_new(w, "reason", json_string(x->reason));
		json_object_set_new(w, "message", json_string(x->message));
		if (x->name) {
			char obj[600];

			snprintf(obj, sizeof(obj), "%s %s/%s", k8s_okind_name(x->okind),
				 x->namespace_, x->name);
			json_object_set_new(w, "object", json_string(obj));
		}
		json_array_append_new(warns, w);
	}
	json_object_set_new(o, "ingresses", ings);
	json_object_set_new(o, "warnings", warns);
}

/* Who writes status and Events (the Lease holder) and whether it is us. */
static json_t *k8s_leader_json(const k8s_leader_t *l)
{
	json_t *le = json_object();

	json_object_set_new(le, "enabled", json_boolean(l != NULL));
	if (l) {
		struct k8s_leader_stats ls;

		k8s_leader_stats(l, &ls);
		json_object_set_new(le, "holder", json_string(k8s_leader_holder(l)));
		json_object_set_new(le, "leading", json_boolean(k8s_leader_is_leader(l)));
		json_object_set_new(le, "drained", json_boolean(k8s_leader_drained(l)));
		json_object_set_new(le, "status_writes", json_integer((json_int_t)ls.status_writes));
		json_object_set_new(le, "status_errors", json_integer((json_int_t)ls.status_errors));
		json_object_set_new(le, "events", json_integer((json_int_t)ls.events));
		json_object_set_new(le, "lease_errors", json_integer((json_int_t)ls.lease_errors));
	}
	return le;
}

static json_t *k8s_status(void *self)
{
	struct agent_k8s *k = self;
	struct agent_snapshot snap;
	const struct agent_k8s_snap *s = &snap.k8s;

	k8s_snapshot(k, &snap);

	json_t *o = json_object();
	json_object_set_new(o, "enabled", json_boolean(s->enabled));
	if (!s->enabled)
		return o;
	json_object_set_new(o, "server", json_string(k->conn->server));
	json_object_set_new(o, "node_name", json_string(k->node));
	json_object_set_new(o, "synced", json_boolean(s->st.synced));
	json_object_set_new(o, "hostnames", json_integer((json_int_t)s->hostnames));
	json_object_set_new(o, "local_endpoints", json_integer((json_int_t)s->endpoints));
	json_object_set_new(o, "services", json_integer((json_int_t)s->st.store.services));
	json_object_set_new(o, "endpointslices", json_integer((json_int_t)s->st.store.slices));
	json_object_set_new(o, "errors", json_integer((json_int_t)s->st.errors));
	json_object_set_new(o, "malformed", json_integer((json_int_t)s->st.store.malformed));
	json_object_set_new(o, "relists_gone", json_integer((json_int_t)s->st.relists_gone));
	json_object_set_new(o, "node_zone_label", k8s_node_zone_json(s));
	json_object_set_new(o, "gateway_api_installed",
			    json_boolean(!s->st.gateway_api_absent));
	k8s_publish_json(k8s_client_publish(k->client), o);
	json_object_set_new(o, "leader", k8s_leader_json(k->leader));
	json_object_set_new(o, "write_errors", json_integer((json_int_t)s->st.write_errors));
	json_object_set_new(o, "write_dropped", json_integer((json_int_t)s->st.write_dropped));
	return o;
}

const struct agent_component_ops agent_k8s_ops = {
	.name = "kubernetes",
	.status_key = "kubernetes",
	.start = k8s_start,
	.reconfigure = k8s_reconfigure,
	.notify = k8s_notify,
	.stop = k8s_stop,
	.free = k8s_free,
	.snapshot = k8s_snapshot,
	.status = k8s_status,
	.metrics = k8s_metrics,
};
