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

#include "agent/daemon.h"
#include "k8s/k8s.h"
#include "lib/as.h"

struct agent_k8s {
	k8s_client_t *client;
	struct k8s_conn *conn;
	char *zone, *node;
	/* The merged catalog, when the source is on. */
	struct agent_service *services;
	struct agent_endpoint *endpoints;
	size_t n_services;
	uint64_t skipped_services;	/* entries with no TCP/UDP port */
	bool curl_ready;
};

/* The port clients use: pods are reached directly, so the port the pods
 * listen on (from the EndpointSlices) rather than the Service port that
 * kube-proxy would translate. The first TCP or UDP port of the Service. */
static const struct k8s_port *pick_port(const struct k8s_entry *e)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (!strcmp(e->ports[i].protocol, "tcp") ||
		    !strcmp(e->ports[i].protocol, "udp"))
			return &e->ports[i];
	return NULL;
}

static int find_service(const struct agent_service *s, size_t n,
			const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return (int)i;
	return -1;
}

static bool has_address(const struct agent_service *s,
			const struct k8s_endpoint *ep)
{
	for (size_t i = 0; i < s->n_endpoints; i++)
		if (s->endpoints[i].family == ep->family &&
		    !memcmp(s->endpoints[i].addr, ep->addr,
			    ep->family == AF_INET ? 4 : 16))
			return true;
	return false;
}

int agent_catalog_update(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	struct agent_k8s *k = a->k8s;

	if (!k) {
		a->services = c->services;
		a->n_services = c->n_services;
		return AS_OK;
	}
	const struct k8s_set *set = k8s_client_set(k->client);
	size_t n_svc = c->n_services + set->n_entries, n_eps = 0;
	for (size_t i = 0; i < c->n_services; i++)
		n_eps += c->services[i].n_endpoints;
	for (size_t i = 0; i < set->n_entries; i++)
		n_eps += set->entries[i].n_endpoints;

	struct agent_service *svcs = calloc(n_svc ? n_svc : 1, sizeof(*svcs));
	struct agent_endpoint *eps = calloc(n_eps ? n_eps : 1, sizeof(*eps));
	if (!svcs || !eps) {
		free(svcs);
		free(eps);
		return AS_ENOMEM;
	}
	/* Static services first, each with room for its k8s namesake's
	 * endpoints right behind its own. */
	size_t ns = 0, ne = 0, skipped = 0;
	for (size_t i = 0; i < c->n_services; i++) {
		svcs[ns] = c->services[i];
		svcs[ns].endpoints = eps + ne;
		memcpy(eps + ne, c->services[i].endpoints,
		       c->services[i].n_endpoints * sizeof(*eps));
		ne += c->services[i].n_endpoints;
		for (size_t j = 0; j < set->n_entries; j++)
			if (!strcmp(set->entries[j].label, c->services[i].name))
				ne += set->entries[j].n_endpoints;
		ns++;
	}
	for (size_t j = 0; j < set->n_entries; j++) {
		const struct k8s_entry *e = &set->entries[j];
		int at = find_service(svcs, c->n_services, e->label);
		struct agent_service *s;
		if (at >= 0) {
			s = &svcs[at];
		} else {
			const struct k8s_port *p = pick_port(e);
			if (!p) {
				skipped++;
				continue;
			}
			s = &svcs[ns++];
			*s = (struct agent_service){
				.name = e->label,
				.port = p->target_port ? p->target_port : p->port,
				.protocol = p->protocol,
				.ttl = e->ttl,
				.max_answers = e->max_answers,
				.endpoints = eps + ne,
			};
			ne += e->n_endpoints;
		}
		for (size_t i = 0; i < e->n_endpoints; i++) {
			if (has_address(s, &e->endpoints[i]))
				continue;
			struct agent_endpoint *d = &s->endpoints[s->n_endpoints++];
			d->address = e->endpoints[i].address;
			d->family = e->endpoints[i].family;
			memcpy(d->addr, e->endpoints[i].addr, sizeof(d->addr));
			d->weight = e->weight;
			d->node = c->node.name;
		}
	}
	if (skipped > k->skipped_services)
		as_warn("kubernetes: %llu annotated services have no TCP or UDP "
			"port and are not answered",
			(unsigned long long)skipped);
	k->skipped_services = skipped;
	free(k->services);
	free(k->endpoints);
	k->services = svcs;
	k->endpoints = eps;
	k->n_services = ns;
	a->services = svcs;
	a->n_services = ns;
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
		free(a->k8s->services);
		free(a->k8s->endpoints);
		a->k8s->services = NULL;
		a->k8s->endpoints = NULL;
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
	free(k->services);
	free(k->endpoints);
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
