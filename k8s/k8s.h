/*
 * k8s/k8s.h - the Kubernetes API client: the one public header of k8s/.
 *
 * Design. k8s/ knows the Kubernetes API and nothing of anysteer's
 * daemon: it turns what the API server says about annotated Services and
 * their EndpointSlices into a plain value, the endpoint set of this node
 * (struct k8s_set), and hands each new set to its owner's callback. It
 * depends on lib/ only and never includes an agent/ header; the agent's
 * component agent/k8s_source.c turns the sets into catalog entries. New
 * object kinds (Ingress, Gateway API) belong in the model and its set,
 * not in the agent.
 *
 * Three layers, each testable on its own:
 *
 *  - The store (k8s_store, k8s_model.c) is a pure translator: JSON
 *    text of list responses and watch events in, an endpoint set out. It
 *    keeps, per Service annotated with anysteer.io/hostname (or
 *    external-dns.alpha.kubernetes.io/hostname), its hostnames, TTL,
 *    weight, max-answers and ports, per other Service its ports and
 *    intent (a backend), and per EndpointSlice only the ready
 *    addresses whose nodeName is this node. A malformed object is logged,
 *    counted and skipped; what the store held for it before stays, so the
 *    last good state is never dropped by bad input. The store touches no
 *    socket and no clock, which is what the unit tests and the fuzz
 *    harness drive.
 *
 *  - The connection (k8s_conn, k8s_conf.c): where the API server is
 *    and how to authenticate, from the in-cluster service account or from
 *    a kubeconfig file (server, CA, token / tokenFile or client
 *    certificate; exec plugins are not supported).
 *
 *  - The client (k8s_client, k8s_client.c): list + watch of
 *    Services and EndpointSlices with libcurl's multi interface driven by
 *    the caller's libuv loop (curl_multi_socket_action from uv_poll and a
 *    uv_timer). It tracks resourceVersion, asks for bookmarks, relists on
 *    410 Gone (HTTP status or watch ERROR event), reconnects with
 *    exponential backoff and jitter, re-reads the token file when it
 *    changes (and after a 401), and calls the owner with the full
 *    endpoint set for this node whenever it changes, once both kinds have
 *    been listed. The process calls curl_global_init() once at startup,
 *    before any thread exists (libcurl's rule, not ours).
 */
#ifndef ANYSTEER_K8S_H
#define ANYSTEER_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- endpoint set ------------------------------------------------------- */

#define K8S_ANN_HOSTNAME "anysteer.io/hostname"
#define K8S_ANN_EXTDNS "external-dns.alpha.kubernetes.io/hostname"
#define K8S_ANN_TTL "anysteer.io/ttl"
#define K8S_ANN_WEIGHT "anysteer.io/weight"
#define K8S_ANN_MAX_ANSWERS "anysteer.io/max-answers"
/* The service's intent (agent: services[].intent): the path objective
 * and the link tags to avoid, comma-separated. Carried as written; the
 * agent checks the words (srv6/). */
#define K8S_ANN_PATH "anysteer.io/path"
#define K8S_ANN_PATH_AVOID "anysteer.io/path-avoid"
/* The intent (docs/intents.md): objective, and the keys it reads. The
 * same three on a Service, an Ingress, an HTTPRoute or a GRPCRoute, read
 * by one parser (k8s_model.c) with the configuration's checks. */
#define K8S_ANN_OBJECTIVE "anysteer.io/objective"
#define K8S_ANN_SPILL_OVER "anysteer.io/spill-over"
#define K8S_ANN_SPREAD "anysteer.io/spread"
#define K8S_LABEL_SERVICE "kubernetes.io/service-name"

#define K8S_DEFAULT_WEIGHT 100

/* The intent annotations of one object, as checked (words of
 * dns_objective_values / dns_spread_values; spill-over 0..1 with
 * locality or latency, spread with resilience). */
struct k8s_intent {
	char *objective;	/* NULL = not annotated */
	double spill_over;	/* < 0 = not annotated */
	char *spread;		/* NULL = not annotated */
	/* Ingress and routes: what is wrong with the annotations, NULL when
	 * nothing is. The fields above are then the object's last valid
	 * intent (the table keeps them across a bad update; none for an
	 * object first seen with bad ones), and publish warns InvalidIntent. */
	char *error;
};

struct k8s_port {
	char *name;		/* Service port name, "" if unnamed */
	char *protocol;		/* "tcp", "udp" or "sctp" */
	uint16_t port;		/* the Service's port */
	uint16_t target_port;	/* what the pods listen on, from the
				 * EndpointSlices (0 = no slice says) */
};

struct k8s_endpoint {
	int family;		/* AF_INET6 or AF_INET */
	uint8_t addr[16];	/* network order */
	char *address;		/* canonical text form */
	char *pod;		/* targetRef name, "" if none */
	uint32_t weight;	/* answer weight: the entry's, or a route
				 * backend's share (docs/kubernetes.md) */
};

/* One DNS name of the zone. A Service with two hostnames yields two
 * entries; entries are sorted by hostname. */
struct k8s_entry {
	char *hostname;		/* FQDN, lower case, trailing dot */
	char *label;		/* the one label below the zone: "web" */
	char *namespace_;	/* Service it comes from (a route's first) */
	char *service;
	char *origin;		/* "Service ns/name", "Ingress ns/name",
				 * "HTTPRoute ns/name", "GRPCRoute ns/name" */
	uint32_t ttl;		/* 0 = the zone default */
	uint32_t weight;	/* per endpoint; default 100 */
	uint32_t max_answers;	/* 0 = the zone default */
	char *path;		/* anysteer.io/path, NULL when absent */
	char **path_avoid;	/* anysteer.io/path-avoid, split at commas */
	size_t n_path_avoid;
	/* The intent: the Service's, or for an Ingress or route name its
	 * own, else its backend Service's (k8s_publish_build). */
	char *objective;	/* NULL = not annotated (balance) */
	double spill_over;	/* locality, latency; < 0 = not annotated */
	char *spread;		/* resilience; NULL = not annotated */
	struct k8s_port *ports;	/* in Service order */
	size_t n_ports;
	struct k8s_endpoint *endpoints;	/* ready, on this node, sorted */
	size_t n_endpoints;
};

struct k8s_set {
	struct k8s_entry *entries;
	size_t n_entries;
};

void k8s_set_free(struct k8s_set *set);	/* NULL ok */
bool k8s_set_equal(const struct k8s_set *a,
		   const struct k8s_set *b);

/* ---- store (pure translator) ---------------------------------------------- */

enum k8s_kind {
	K8S_SERVICES = 0,
	K8S_SLICES = 1,
};
#define K8S_N_KINDS 2

enum k8s_event_type {
	K8S_EV_ADDED = 1,
	K8S_EV_MODIFIED,
	K8S_EV_DELETED,
	K8S_EV_BOOKMARK,
	K8S_EV_ERROR,
};

/* What a watch event line said, beyond the change to the store. */
struct k8s_event_info {
	int type;		/* enum k8s_event_type, 0 if unparsable */
	char rv[64];		/* resourceVersion it carries, "" if none */
	int code;		/* ERROR: the Status code (410 = relist) */
	bool changed;		/* the store's content changed */
};

struct k8s_store_stats {
	uint64_t malformed;	/* objects or events skipped as malformed */
	uint64_t bad_hostnames;	/* hostnames outside the zone, skipped */
	uint64_t conflicts;	/* a hostname claimed by two Services */
	uint64_t events;	/* watch events applied */
	uint64_t lists;		/* list responses applied */
	uint64_t services;	/* annotated Services held now */
	uint64_t slices;	/* EndpointSlices held now (of those) */
};

typedef struct k8s_store k8s_store_t;

/* zone: "svc.example.net" (trailing dot optional); node_name: this node,
 * compared with the endpoints' nodeName. AS_OK, AS_EINVAL or AS_ENOMEM;
 * *out is NULL on failure. */
int k8s_store_new(const char *zone, const char *node_name,
		  k8s_store_t **out);
void k8s_store_free(k8s_store_t *store);

/*
 * Applies one page of a list response (ServiceList, EndpointSliceList).
 * A relist is begin, one or more pages, end: objects of that kind not
 * seen between begin and end are removed at end. A page that is not a
 * list returns AS_EMALFORMED and changes nothing; abort ends a relist
 * without removing anything. rv/cont receive metadata.resourceVersion
 * and metadata.continue (both "" when absent).
 */
void k8s_store_relist_begin(k8s_store_t *store, int kind);
int k8s_store_apply_list(k8s_store_t *store, int kind,
			 const char *json, size_t len, char *rv,
			 size_t rv_len, char *cont, size_t cont_len);
/* Returns whether the relist changed the store. */
bool k8s_store_relist_end(k8s_store_t *store, int kind);
void k8s_store_relist_abort(k8s_store_t *store, int kind);

/* Applies one watch event (one line of a watch stream). Returns AS_OK,
 * or AS_EMALFORMED (counted, logged, store unchanged). */
int k8s_store_apply_event(k8s_store_t *store, int kind,
			  const char *json, size_t len,
			  struct k8s_event_info *info);

/* Builds the endpoint set for this node (and updates the conflicts
 * gauge). AS_OK or AS_ENOMEM. */
int k8s_store_build(k8s_store_t *store,
		    struct k8s_set *out);
void k8s_store_stats(const k8s_store_t *store,
		     struct k8s_store_stats *out);

/* ---- this node's Node object (node.c) ---------------------------------------
 *
 * The agent's topology zone when node.zone is not configured: the
 * topology.kubernetes.io/zone label of its own Node. A table fed with
 * list pages and watch events like the store (same relist protocol and
 * k8s_event_info), holding one Node by name. Pure: no socket, no clock. */

#define K8S_LABEL_ZONE "topology.kubernetes.io/zone"
#define K8S_ZONE_MAX 63		/* a label value */

typedef struct k8s_node k8s_node_t;

struct k8s_node_stats {
	bool present;		/* the Node exists (listed, not deleted) */
	char zone[K8S_ZONE_MAX + 1];	/* "" = none */
	uint64_t malformed;	/* objects or events skipped as malformed */
	uint64_t bad_zone;	/* label values refused (zone kept) */
};

/* name: the Node's (kubernetes.node_name). AS_OK, AS_EINVAL, AS_ENOMEM. */
int k8s_node_new(const char *name, k8s_node_t **out);
void k8s_node_free(k8s_node_t *t);	/* NULL ok */
/* A Node object's name and zone label (zone "" when it has none or it is
 * empty). AS_OK, AS_EMALFORMED (not a Node) or AS_EINVAL (the value is
 * not a label value: 1..63 letters, digits, '-', '_', '.', beginning and
 * ending with a letter or digit; zone ""). */
int k8s_node_zone_parse(const char *json, size_t len, char *name,
			size_t name_len, char zone[K8S_ZONE_MAX + 1]);
/* As k8s_store_*; info->changed and relist_end's result say whether the
 * zone changed. A bad label value is counted and logged and the zone
 * stays what it was; a deleted Node (or one a relist lacks) has none. */
void k8s_node_relist_begin(k8s_node_t *t);
int k8s_node_apply_list(k8s_node_t *t, const char *json, size_t len,
			char *rv, size_t rv_len, char *cont, size_t cont_len);
bool k8s_node_relist_end(k8s_node_t *t);
void k8s_node_relist_abort(k8s_node_t *t);
int k8s_node_apply_event(k8s_node_t *t, const char *json, size_t len,
			 struct k8s_event_info *info);
/* The zone now; NULL when none. */
const char *k8s_node_zone(const k8s_node_t *t);
void k8s_node_stats(const k8s_node_t *t, struct k8s_node_stats *out);

/* ---- connection ------------------------------------------------------------- */

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct k8s_conn {
	char *server;		/* base URL, "https://[fd00::1]:443" */
	char *ca_file;		/* PEM bundle path, or NULL */
	uint8_t *ca_data;	/* PEM bytes, or NULL */
	size_t ca_len;
	bool insecure;		/* insecure-skip-tls-verify */
	char *token;		/* static bearer token, or NULL */
	char *token_file;	/* re-read when it changes, or NULL */
	char *cert_file, *key_file;	/* client certificate (PEM paths) */
	uint8_t *cert_data, *key_data;	/* ... or PEM bytes */
	size_t cert_len, key_len;
};

void k8s_conn_free(struct k8s_conn *conn);	/* NULL ok */

/* In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * with sa_dir/token and sa_dir/ca.crt (sa_dir NULL = K8S_SA_DIR).
 * host/port NULL = read the environment. AS_ECONFIG with a message in
 * errbuf when something is missing. */
int k8s_conn_in_cluster(const char *sa_dir, const char *host,
			const char *port, struct k8s_conn **out,
			char *errbuf, size_t errlen);

/* Parses kubeconfig YAML text: the current-context's cluster and user.
 * Relative paths resolve against dir. AS_ECONFIG with a message. */
int k8s_kubeconfig_parse(const char *text, size_t len,
			 const char *dir, struct k8s_conn **out,
			 char *errbuf, size_t errlen);
/* The same from a file. */
int k8s_kubeconfig_load(const char *path, struct k8s_conn **out,
			char *errbuf, size_t errlen);

/* ---- client ------------------------------------------------------------------- */

struct uv_loop_s;
typedef struct k8s_client k8s_client_t;

/* The set is valid until the next call or k8s_client_free(). */
typedef void (*k8s_cb)(const struct k8s_set *set, void *arg);

struct k8s_client_opts {
	const char *zone;		/* the DNS zone, required */
	const char *node_name;		/* this node, required */
	uint32_t backoff_min_ms;	/* 0 = 800 (client-go's reflector) */
	uint32_t backoff_max_ms;	/* 0 = 30000 */
	uint32_t watch_timeout_s;	/* 0 = 300..600 s, random per watch */
	uint32_t connect_timeout_ms;	/* 0 = 10000 */
	size_t max_body;		/* list body / event line; 0 = 64 MiB */
	uint32_t list_limit;		/* items per list page; 0 = 500 */
	bool ingress;			/* watch Ingresses, IngressClasses */
	bool gateway_api;		/* watch the Gateway API kinds (404:
					 * not installed, logged once) */
	const char *annotation_class;	/* see k8s_publish_input; NULL ok */
	k8s_cb cb;
	void *cb_arg;
	/* Watch this node's Node for its zone label (needs get, list and
	 * watch on nodes); node_cb gets the zone (NULL: none) after the
	 * first list and whenever it changes, from the loop. The Node is
	 * not part of the endpoint set's sync: a Node that cannot be read
	 * delays nothing else. */
	bool node_zone;
	void (*node_cb)(const char *zone, void *arg);
};

struct k8s_client_stats {
	struct k8s_store_stats store;
	uint64_t lists;		/* list requests started */
	uint64_t watches;	/* watch requests started */
	uint64_t relists_gone;	/* relists caused by 410 */
	uint64_t errors;	/* failed requests (transport or HTTP) */
	uint64_t unauthorized;	/* 401/403 answers */
	uint64_t token_reads;	/* times the token file was (re)read */
	uint64_t updates;	/* callbacks made */
	uint64_t publishes;	/* k8s_publish_build runs */
	uint64_t backoffs;	/* retries scheduled */
	uint32_t last_backoff_ms;	/* the last retry's delay */
	bool gateway_api_absent;	/* a Gateway API list said 404 */
	uint64_t writes;	/* writes answered 2xx */
	uint64_t write_errors;	/* writes failed (transport, non-2xx) */
	uint64_t write_dropped;	/* writes refused: the queue was full */
	bool synced;		/* every watched kind listed at least once */
	bool node_synced;	/* the Node watched and listed once */
	struct k8s_node_stats node;	/* with opts.node_zone */
};

/* Copies conn and opts. Nothing runs before k8s_client_start(). */
int k8s_client_new(struct uv_loop_s *loop,
		   const struct k8s_conn *conn,
		   const struct k8s_client_opts *opts,
		   k8s_client_t **out);
int k8s_client_start(k8s_client_t *client);
/* Stops all transfers and closes the handles; memory goes when the loop
 * has run the close callbacks (run it once more). NULL ok. */
void k8s_client_free(k8s_client_t *client);
void k8s_client_stats(const k8s_client_t *client,
		      struct k8s_client_stats *out);
/* The current set (empty before the first sync); never NULL. */
const struct k8s_set *k8s_client_set(const k8s_client_t *client);
struct k8s_publish;
/* The last k8s_publish_build() result (its set is k8s_client_set()):
 * warnings and statuses for the leader; valid until the loop runs. */
const struct k8s_publish *k8s_client_publish(const k8s_client_t *client);
/* The table of one object kind; NULL when not watched or absent. */
struct k8s_objs;
const struct k8s_objs *k8s_client_objs(const k8s_client_t *client, int okind);

/*
 * The write path (status, Events, Leases): one request on the client's
 * curl multi and loop, with its connection and token. path is relative
 * to the server ("/api/v1/namespaces/x/events"); body is JSON (PATCH: a
 * merge patch). At most 4 run at once and 64 wait; beyond that AS_ELIMIT
 * (counted in write_dropped). cb gets the HTTP status (0: transport
 * error) and the response body, from the loop, never inside curl. AS_OK,
 * AS_EINVAL, AS_ELIMIT or AS_ENOMEM.
 */
typedef void (*k8s_req_cb)(long code, const char *body, size_t len, void *arg);
int k8s_client_request(k8s_client_t *client, const char *method,
		       const char *path, const char *body, k8s_req_cb cb,
		       void *arg);
/* Drops the waiting and running requests made with arg (no callbacks). */
void k8s_client_cancel(k8s_client_t *client, void *arg);
/* The same, blocking up to timeout_ms, for the Lease release at stop.
 * Returns the HTTP status, 0 on a transport error; *resp (NULL ok) gets
 * the response body (caller frees; NULL on failure). */
long k8s_client_request_sync(k8s_client_t *client, const char *method,
			     const char *path, const char *body,
			     long timeout_ms, char **resp);

/* ---- Ingress and Gateway API objects (objs.c) --------------------------------
 *
 * The ingress-controller side of k8s/: decoded IngressClass, Ingress,
 * GatewayClass, Gateway, HTTPRoute and GRPCRoute objects, held by kind in
 * a k8s_objs table fed with list pages and watch events exactly like the
 * store above (same relist protocol, same k8s_event_info, a malformed
 * object counted and skipped with its previous record kept). What the
 * objects mean for DNS is decided by pure functions over these tables
 * (ingress.c, gateway.c); what the leader writes back is built as JSON
 * text by status.c; leader election over a Lease is lease.c. None of it
 * touches a socket or a clock: time comes in as arguments. */

#define K8S_INGRESS_CONTROLLER "anysteer.io/ingress-controller"
#define K8S_GATEWAY_CONTROLLER "anysteer.io/gateway-controller"
#define K8S_ANN_INGRESS_CLASS "kubernetes.io/ingress.class"
#define K8S_ANN_DEFAULT_CLASS "ingressclass.kubernetes.io/is-default-class"
/* The deprecated annotation's value that means anysteer when no
 * IngressClass of ours has that name (ingress-nginx's --ingress-class). */
#define K8S_DEFAULT_CLASS_NAME "anysteer"

enum k8s_okind {
	K8S_O_INGRESSCLASS = 0,
	K8S_O_INGRESS,
	K8S_O_GATEWAYCLASS,
	K8S_O_GATEWAY,
	K8S_O_HTTPROUTE,
	K8S_O_GRPCROUTE,
};
#define K8S_N_OKINDS 6

/* "IngressClass", ... ; "ingressclasses", ... (the resource); the API
 * group/version ("networking.k8s.io/v1", ...). NULL out of range. */
const char *k8s_okind_name(int okind);
const char *k8s_okind_resource(int okind);
const char *k8s_okind_api_version(int okind);

struct k8s_meta {
	char *namespace_;	/* "" for cluster-scoped kinds */
	char *name;
	char *uid;		/* "" if absent */
	char *resource_version;	/* "" if absent */
	char *created;		/* creationTimestamp, "" if absent */
	int64_t generation;	/* 0 if absent */
};

/* A metav1.Condition as read from or written to an object's status. */
struct k8s_condition {
	char *type;
	char *status;		/* "True", "False" or "Unknown" */
	char *reason;
	char *message;
	int64_t observed_generation;
	char *last_transition;	/* RFC 3339; "" when not yet set */
};

struct k8s_ingress_class {
	struct k8s_meta md;
	char *controller;	/* spec.controller */
	bool is_default;	/* is-default-class annotation == "true" */
};

struct k8s_ingress_backend {
	char *service;		/* NULL: spec...backend.resource (no Service) */
	char *port_name;	/* "" when the port is given by number */
	uint16_t port;		/* 0 when given by name */
};

enum k8s_path_type {
	K8S_PATH_PREFIX = 0,
	K8S_PATH_EXACT,
	K8S_PATH_IMPL,		/* ImplementationSpecific */
};

struct k8s_ingress_path {
	char *path;		/* "" when absent */
	int type;		/* enum k8s_path_type */
	struct k8s_ingress_backend backend;
};

struct k8s_ingress_rule {
	char *host;		/* as written; "" = no host */
	struct k8s_ingress_path *paths;	/* spec.rules[].http.paths */
	size_t n_paths;
};

struct k8s_ingress {
	struct k8s_meta md;
	char *class_name;	/* spec.ingressClassName; NULL unset */
	char *class_annotation;	/* kubernetes.io/ingress.class; NULL unset */
	bool has_default_backend;
	struct k8s_ingress_backend default_backend;
	struct k8s_ingress_rule *rules;
	size_t n_rules;
	size_t n_tls;		/* spec.tls entries (TLS is the pods' job) */
	char **lb_hostnames;	/* status.loadBalancer.ingress[].hostname */
	size_t n_lb_hostnames;
	size_t n_lb_ips;	/* ... entries with an ip instead */
	char **lb_entries;	/* every entry as compact JSON, in order */
	size_t n_lb_entries;
	struct k8s_intent intent;	/* anysteer.io/objective, ... */
};

struct k8s_gateway_class {
	struct k8s_meta md;
	char *controller;	/* spec.controllerName */
	struct k8s_condition *conds;	/* status.conditions */
	size_t n_conds;
};

enum k8s_from {
	K8S_FROM_SAME = 0,	/* allowedRoutes.namespaces.from default */
	K8S_FROM_ALL,
	K8S_FROM_SELECTOR,
};

struct k8s_listener {
	char *name;
	char *hostname;		/* "" = any */
	char *protocol;		/* "HTTP", "HTTPS", "TLS", "TCP", "UDP", ... */
	uint16_t port;
	int from;		/* enum k8s_from */
	char **kinds;		/* allowedRoutes.kinds[].kind; none = default */
	size_t n_kinds;
	bool kinds_foreign;	/* a kinds entry names another group */
};

struct k8s_listener_status {
	char *name;
	uint32_t attached_routes;
	char **supported_kinds;	/* of HTTPRoute, GRPCRoute */
	size_t n_supported_kinds;
	struct k8s_condition *conds;	/* evaluated: no last_transition yet */
	size_t n_conds;
};

struct k8s_gateway {
	struct k8s_meta md;
	char *class_name;	/* spec.gatewayClassName */
	struct k8s_listener *listeners;
	size_t n_listeners;
	size_t n_addresses;	/* spec.addresses (anysteer has none to give) */
	struct k8s_condition *conds;	/* status.conditions */
	size_t n_conds;
	struct k8s_listener_status *listener_status;	/* status.listeners */
	size_t n_listener_status;
};

struct k8s_parent_ref {
	char *group;		/* default gateway.networking.k8s.io */
	char *kind;		/* default Gateway */
	char *namespace_;	/* default: the route's */
	char *name;
	char *section;		/* sectionName, "" if none */
	uint16_t port;		/* 0 if none */
};

struct k8s_backend_ref {
	char *group;		/* "" = core */
	char *kind;		/* default Service */
	char *namespace_;	/* default: the route's */
	char *name;
	uint16_t port;		/* 0 if absent */
	uint32_t weight;	/* default 1 */
	bool has_filters;
};

struct k8s_route_rule {
	char *name;		/* rules[].name, "" if none */
	/* Why DNS cannot honour this rule: "header match", "path match
	 * /api (PathPrefix)", "filters", "timeouts", ... NULL when it can
	 * (no match, or only the match-everything PathPrefix "/"). */
	char *unsupported;
	struct k8s_backend_ref *backends;
	size_t n_backends;
};

struct k8s_route_parent_status {
	struct k8s_parent_ref ref;
	char *controller;	/* controllerName */
	struct k8s_condition *conds;
	size_t n_conds;
};

/* An HTTPRoute or a GRPCRoute. */
struct k8s_route {
	struct k8s_meta md;
	int kind;		/* K8S_O_HTTPROUTE or K8S_O_GRPCROUTE */
	struct k8s_parent_ref *parents;
	size_t n_parents;
	char **hostnames;	/* spec.hostnames as written */
	size_t n_hostnames;
	struct k8s_route_rule *rules;
	size_t n_rules;
	struct k8s_route_parent_status *status;	/* status.parents */
	size_t n_status;
	struct k8s_intent intent;	/* anysteer.io/objective, ... */
};

/* Decodes one object of okind (JSON text of the object itself) into the
 * struct above of that kind. AS_OK, AS_EMALFORMED or AS_ENOMEM. */
int k8s_obj_decode(int okind, const char *json, size_t len, void **out);
void k8s_obj_free(int okind, void *obj);	/* NULL ok */

typedef struct k8s_objs k8s_objs_t;

int k8s_objs_new(int okind, k8s_objs_t **out);
void k8s_objs_free(k8s_objs_t *objs);	/* NULL ok */
int k8s_objs_kind(const k8s_objs_t *objs);
/* The list/watch protocol of k8s_store_* for one kind. */
void k8s_objs_relist_begin(k8s_objs_t *objs);
int k8s_objs_apply_list(k8s_objs_t *objs, const char *json, size_t len,
			char *rv, size_t rv_len, char *cont,
			size_t cont_len);
bool k8s_objs_relist_end(k8s_objs_t *objs);
void k8s_objs_relist_abort(k8s_objs_t *objs);
int k8s_objs_apply_event(k8s_objs_t *objs, const char *json, size_t len,
			 struct k8s_event_info *info);
/* Objects sorted by "namespace/name" (cluster-scoped: by name); the
 * pointer is a struct of the table's kind, valid until the next apply. */
size_t k8s_objs_count(const k8s_objs_t *objs);
const void *k8s_objs_at(const k8s_objs_t *objs, size_t i);
const void *k8s_objs_get(const k8s_objs_t *objs, const char *ns,
			 const char *name);	/* ns "" for cluster-scoped */
uint64_t k8s_objs_malformed(const k8s_objs_t *objs);

/* A compromise DNS had to make, for the leader to turn into a Warning
 * Event on the object and for the logs / anysteerctl. */
struct k8s_warning {
	char *reason;		/* CamelCase Event reason */
	char *message;
	/* The object it is about (the Event's involvedObject): okind -1
	 * and NULL names when the caller knows it (k8s_ingress_names). */
	int okind;
	char *namespace_, *name;
};

/* ---- Ingress (ingress.c) -------------------------------------------------------- */

enum k8s_ingress_owner {
	K8S_ING_NOT_OURS = 0,
	K8S_ING_BY_CLASS,	/* spec.ingressClassName names our class */
	K8S_ING_BY_DEFAULT,	/* no class; the default class is ours */
	K8S_ING_BY_ANNOTATION,	/* kubernetes.io/ingress.class */
};

/* Whether ing is anysteer's, decided over the IngressClass table:
 *  - the deprecated annotation, when set, decides alone (as in
 *    ingress-nginx; the API server refuses it together with the field):
 *    ours when it names an IngressClass whose spec.controller is
 *    K8S_INGRESS_CONTROLLER, or equals annotation_class (NULL =
 *    K8S_DEFAULT_CLASS_NAME);
 *  - else spec.ingressClassName naming a class of ours;
 *  - else (no class at all) when at least one IngressClass is marked
 *    default and every default class is ours (two controllers' defaults
 *    make the Ingress nobody's rather than everybody's). */
int k8s_ingress_owner(const struct k8s_ingress *ing,
		      const k8s_objs_t *classes,
		      const char *annotation_class);

struct k8s_ingress_host {
	char *hostname;		/* FQDN, lower case, trailing dot */
	char *label;		/* the label below the zone; "*" wildcard */
	bool wildcard;		/* "*.zone." */
	char *service;		/* backend Service, in the Ingress' namespace */
	char *port_name;	/* "" when by number */
	uint16_t port;		/* the Service port, 0 when by name */
};

struct k8s_ingress_result {
	struct k8s_ingress_host *hosts;	/* sorted by hostname, unique */
	size_t n_hosts;
	struct k8s_warning *warnings;
	size_t n_warnings;
};

/*
 * The names one Ingress asks for, in zone (docs/kubernetes.md):
 *  - each rule host that is one label below the zone, or "*." + the zone,
 *    gets one backend Service: the backend of its Prefix (or
 *    ImplementationSpecific) path "/" if it has one, else its first path's
 *    (rules with the same host count as one, in order). Other paths and
 *    Services are reported as warning PathRoutingUnsupported.
 *  - a host rule without paths takes spec.defaultBackend (warning
 *    NoBackend when there is none);
 *  - hosts outside the zone: warning HostOutsideZone, no name;
 *  - rules without a host and spec.defaultBackend alone name nothing
 *    (they match every name, which DNS cannot claim): warning
 *    NoHostIgnored;
 *  - a resource backend (not a Service): warning UnsupportedBackend.
 * AS_OK (result may be empty), AS_EINVAL or AS_ENOMEM.
 */
int k8s_ingress_names(const struct k8s_ingress *ing, const char *zone,
		      struct k8s_ingress_result *out);
void k8s_ingress_result_free(struct k8s_ingress_result *r);	/* NULL ok */

/* ---- Gateway API (gateway.c) ------------------------------------------------------ */

struct k8s_weighted_backend {
	char *namespace_;
	char *service;
	uint16_t port;
	uint32_t weight;	/* backendRefs[].weight, 0 = no traffic */
};

/* One name a route gives to the zone. */
struct k8s_route_name {
	char *hostname;		/* FQDN, lower case, trailing dot */
	char *label;		/* "*" for the wildcard */
	bool wildcard;
	int route_kind;		/* K8S_O_HTTPROUTE / K8S_O_GRPCROUTE */
	char *route_ns, *route_name;
	struct k8s_weighted_backend *backends;	/* resolved ones only */
	size_t n_backends;
};

struct k8s_parent_status {
	struct k8s_parent_ref ref;	/* as the route wrote it */
	struct k8s_condition *conds;	/* no last_transition yet */
	size_t n_conds;
};

/* The status the leader should write on one object: a GatewayClass
 * (conds), a Gateway (conds, listeners) or a route (parents). */
struct k8s_obj_status {
	int okind;
	char *namespace_, *name;
	int64_t generation;
	struct k8s_condition *conds;
	size_t n_conds;
	struct k8s_listener_status *listeners;
	size_t n_listeners;
	struct k8s_parent_status *parents;
	size_t n_parents;
};

struct k8s_gw_input {
	const char *zone;
	const k8s_objs_t *classes, *gateways, *httproutes, *grpcroutes;
	/* Whether Service ns/name exists; NULL = assume it does. */
	bool (*service_exists)(const char *ns, const char *name, void *arg);
	void *arg;
};

struct k8s_gw_result {
	struct k8s_route_name *names;	/* sorted by hostname, unique */
	size_t n_names;
	struct k8s_obj_status *status;	/* classes, gateways, routes */
	size_t n_status;
	struct k8s_warning *warnings;
	size_t n_warnings;
};

/*
 * Evaluates the Gateway API objects of our GatewayClasses: which routes
 * attach to which listeners (parentRefs, sectionName, port,
 * allowedRoutes), the hostnames they get (route hostnames intersected
 * with listener hostnames, wildcards included, then kept when inside
 * the zone), their weighted Service backends, and every condition the
 * specification asks the controller to set. Rules DNS cannot honour are
 * dropped (route Accepted=True, PartiallyInvalid=True, UnsupportedValue)
 * or, when no rule is left, the route is not accepted (Accepted=False,
 * UnsupportedValue). AS_OK or AS_ENOMEM.
 */
int k8s_gateway_evaluate(const struct k8s_gw_input *in,
			 struct k8s_gw_result *out);
void k8s_gw_result_free(struct k8s_gw_result *r);	/* NULL ok */

/* Whether a route hostname and a listener hostname intersect (Gateway
 * API rules: "" is any; "*." matches one or more labels); the narrower
 * of the two is written to out (NULL ok). */
bool k8s_hostname_intersect(const char *route, const char *listener,
			    char *out, size_t out_len);

/* ---- what the objects publish (publish.c) ------------------------------------------ */

/* An Ingress anysteer owns and the names it answers for it (the leader
 * writes them to status.loadBalancer; wildcards left out). */
struct k8s_ingress_pub {
	char *namespace_, *name;
	char **hostnames;	/* FQDN, trailing dot */
	size_t n_hostnames;
};

struct k8s_publish {
	struct k8s_set set;	/* every name, sorted by hostname */
	struct k8s_warning *warnings;	/* each names its object */
	size_t n_warnings;
	struct k8s_ingress_pub *ingresses;	/* sorted by ns/name */
	size_t n_ingresses;
	/* Ingresses that are not (or no longer) anysteer's but whose
	 * status.loadBalancer still lists hostnames in the zone (what
	 * anysteer writes): those hostnames, for the leader to remove. */
	struct k8s_ingress_pub *released;	/* sorted by ns/name */
	size_t n_released;
	struct k8s_gw_result gw;	/* Gateway API statuses (names moved
					 * into set) */
	uint64_t conflicts;	/* names lost to an earlier source */
};

struct k8s_publish_input {
	const char *zone;
	/* kubernetes.io/ingress.class value that means anysteer; NULL =
	 * K8S_DEFAULT_CLASS_NAME. */
	const char *annotation_class;
	/* The object tables by okind; NULL = that kind is not watched. */
	const k8s_objs_t *objs[K8S_N_OKINDS];
};

/*
 * Everything the agent answers, from the store's annotated Services and
 * the Ingresses and routes of anysteer's classes: one entry per name
 * with its origin. An Ingress host maps to the ready endpoints on this
 * node of its backend Service (the chosen port first), weight
 * K8S_DEFAULT_WEIGHT; a route name to those of every resolved backend,
 * each endpoint weighted
 *     round(10000 * weight(b) / (sum of the name's weights * ready(b)))
 * (at least 1 when weight(b) > 0), ready(b) counting ready endpoints on
 * every node, so a backend's share does not follow its pod count. A name
 * claimed twice goes to the first source in the order Service
 * annotation, Ingress, HTTPRoute, GRPCRoute, then by namespace/name; the
 * loser gets a HostnameConflict warning. The intent of an Ingress or route
 * name is its object's annotations when it has any, else its backend
 * Service's (a route's first resolved backend), taken whole; an object
 * whose annotations are invalid keeps its last valid intent and gets an
 * InvalidIntent warning. AS_OK or AS_ENOMEM.
 */
int k8s_publish_build(k8s_store_t *store,
		      const struct k8s_publish_input *in,
		      struct k8s_publish *out);
void k8s_publish_free(struct k8s_publish *p);	/* NULL ok */

/* ---- what the leader writes (status.c) ------------------------------------------- */

/*
 * Merge-patch bodies for the status subresource (PATCH .../status,
 * application/merge-patch+json). Each carries the object's
 * metadata.resourceVersion, so the API server refuses (409) a patch
 * built from a stale read. *out is NULL when the object already says
 * it (no write needed). lastTransitionTime stays as it was for a
 * condition whose status did not change, else becomes now (RFC 3339).
 * AS_OK or AS_ENOMEM.
 */
int k8s_ingress_status_patch(const struct k8s_ingress *cur,
			     const char *const *hostnames, size_t n,
			     char **out);
/* For an Ingress that left anysteer's class: the patch that removes the
 * status.loadBalancer.ingress entries that are exactly {"hostname": h}
 * for h in hostnames (trailing dot ignored), keeping every other entry
 * as it is; *out NULL when there is none. AS_OK or AS_ENOMEM. */
int k8s_ingress_status_release_patch(const struct k8s_ingress *cur,
				     const char *const *hostnames, size_t n,
				     char **out);
int k8s_gateway_class_status_patch(const struct k8s_gateway_class *cur,
				   const struct k8s_obj_status *st,
				   const char *now, char **out);
int k8s_gateway_status_patch(const struct k8s_gateway *cur,
			     const struct k8s_obj_status *st,
			     const char *now, char **out);
/* Only the status.parents entries of our controller are replaced;
 * other controllers' entries are kept as they are. */
int k8s_route_status_patch(const struct k8s_route *cur,
			   const struct k8s_obj_status *st,
			   const char *now, char **out);

/* A core/v1 Event about one object (docs/kubernetes.md says why core/v1). */
struct k8s_event_spec {
	const char *name;	/* Event name, e.g. "<object>.<hex time>" */
	const char *namespace_;	/* the Event's; "" = the object's or "default" */
	int okind;		/* involved object's kind */
	const char *obj_ns, *obj_name, *obj_uid, *obj_rv;
	bool warning;		/* type Warning (else Normal) */
	const char *reason, *message;
	const char *component;	/* source.component, reportingComponent */
	const char *instance;	/* source.host, reportingInstance */
	const char *now;	/* RFC 3339 */
	uint32_t count;		/* 1 for a new Event */
};
/* POST body for a new Event, or (count > 1) the merge patch for a
 * repeated one. AS_OK, AS_EINVAL or AS_ENOMEM. */
int k8s_event_json(const struct k8s_event_spec *ev, char **out);

/* Which Events to write (events.c): client-go's EventRecorder
 * aggregation. One key per involved object (uid included), reason and
 * message; an occurrence is a warning that appears (first time, or
 * again after it went away) or still holds after its object's
 * metadata.generation changed. The first occurrence is a new Event
 * (CREATE, count 1), each later one a merge patch of its count and
 * lastTimestamp (PATCH). */
typedef struct k8s_evbook k8s_evbook_t;

enum k8s_ev_op {
	K8S_EV_NONE = 0,	/* already told */
	K8S_EV_CREATE,		/* POST a new Event, count 1 */
	K8S_EV_PATCH,		/* PATCH Event name: count, lastTimestamp */
};

struct k8s_ev_action {
	int op;			/* enum k8s_ev_op */
	size_t id;		/* the key, for k8s_evbook_written() */
	uint32_t count;		/* the count to write */
	const char *name;	/* PATCH: the Event's name (valid until the
				 * next written() of this id) */
};

/* max keys (0 = 4096, client-go's cache). AS_OK or AS_ENOMEM. */
int k8s_evbook_new(size_t max, k8s_evbook_t **out);
void k8s_evbook_free(k8s_evbook_t *b);	/* NULL ok */
/* One round: begin, tell() for every current warning, end. */
void k8s_evbook_begin(k8s_evbook_t *b);
/* w names its object (w->name, w->namespace_); uid and generation are
 * the object's. AS_OK (out->op may be NONE: told, or a write in flight),
 * AS_ELIMIT (the book is full), AS_EINVAL or AS_ENOMEM. */
int k8s_evbook_tell(k8s_evbook_t *b, const struct k8s_warning *w,
		    const char *uid, int64_t generation,
		    struct k8s_ev_action *out);
void k8s_evbook_end(k8s_evbook_t *b);
/* The write's HTTP status (0 transport); name: the Event a CREATE made.
 * A failure is told again at the next round (a PATCH's 404: as a new
 * Event). */
void k8s_evbook_written(k8s_evbook_t *b, size_t id, long code,
			const char *name);
/* A new leadership: every current warning counts once more. */
void k8s_evbook_retell(k8s_evbook_t *b);
uint32_t k8s_evbook_count(const k8s_evbook_t *b, size_t id);
size_t k8s_evbook_size(const k8s_evbook_t *b);

/* Where the leader sends them (relative to the server URL): the status
 * subresource of an object ("/apis/networking.k8s.io/v1/namespaces/shop/
 * ingresses/web/status"; cluster-scoped kinds without the namespace),
 * the Events of a namespace (name NULL: the collection, for POST) and a
 * Lease (name NULL: the collection). Names must be DNS labels or
 * subdomains (nothing to escape). AS_OK, AS_EINVAL or AS_ESPACE. */
int k8s_status_path(int okind, const char *ns, const char *name,
		    char *buf, size_t len);
int k8s_event_path(const char *ns, const char *name, char *buf, size_t len);
int k8s_lease_path(const char *ns, const char *name, char *buf, size_t len);
/* A fresh Event name as client-go makes them: "<object>.<hex ns>". */
int k8s_event_name(const char *obj_name, int64_t wall_us, char *buf,
		   size_t len);

/* Times: RFC 3339 "2026-12-06T17:13:03Z" and the MicroTime
 * "2026-12-06T17:13:03.123456Z" from microseconds since the epoch; and
 * back (any offset, fraction optional). AS_OK, AS_ESPACE, AS_EPARSE. */
int k8s_time_format(int64_t us, bool micro, char *buf, size_t len);
int k8s_time_parse(const char *s, int64_t *us);

/* ---- leader election over a coordination.k8s.io/v1 Lease (lease.c) ----------- */

/* client-go's leaderelection defaults. */
#define K8S_LEASE_DURATION_MS 15000
#define K8S_LEASE_RENEW_DEADLINE_MS 10000
#define K8S_LEASE_RETRY_MS 2000

struct k8s_lease_rec {
	bool exists;		/* false: the GET said 404 */
	char holder[254];	/* holderIdentity, "" = free */
	char rv[64];		/* metadata.resourceVersion */
	int32_t duration_s;	/* leaseDurationSeconds */
	int64_t acquire_us;	/* acquireTime, 0 if absent */
	int64_t renew_us;	/* renewTime, 0 if absent */
	int32_t transitions;	/* leaseTransitions */
};

/* Lease JSON (a GET or PUT answer) -> rec (exists = true). AS_OK or
 * AS_EMALFORMED. */
int k8s_lease_decode(const char *json, size_t len,
		     struct k8s_lease_rec *out);
/* rec -> a Lease object for POST (rec->rv "") or PUT (with the
 * resourceVersion precondition). AS_OK, AS_EINVAL, AS_ENOMEM. */
int k8s_lease_encode(const char *ns, const char *name,
		     const struct k8s_lease_rec *rec, char **out);

typedef struct k8s_elector k8s_elector_t;

struct k8s_elector_opts {
	const char *identity;		/* this agent, e.g. the pod name */
	uint32_t lease_ms;		/* 0 = K8S_LEASE_DURATION_MS */
	uint32_t renew_deadline_ms;	/* 0 = K8S_LEASE_RENEW_DEADLINE_MS */
	uint32_t retry_ms;		/* 0 = K8S_LEASE_RETRY_MS */
};

enum k8s_lease_op {
	K8S_LEASE_WAIT = 0,	/* nothing to write; read again at next_ms */
	K8S_LEASE_CREATE,	/* POST rec */
	K8S_LEASE_UPDATE,	/* PUT rec (rec.rv is the precondition) */
};

struct k8s_lease_action {
	int op;			/* enum k8s_lease_op */
	struct k8s_lease_rec rec;	/* what to write */
	uint64_t next_ms;	/* WAIT: when to read the Lease again */
};

/* The write's outcome, for k8s_elector_written(). */
enum k8s_lease_result {
	K8S_LEASE_OK = 0,
	K8S_LEASE_CONFLICT,	/* 409 (or 422 AlreadyExists on create) */
	K8S_LEASE_FAILED,	/* anything else */
};

/* AS_OK, AS_EINVAL (no identity, deadline >= duration, ...), AS_ENOMEM. */
int k8s_elector_new(const struct k8s_elector_opts *opts,
		    k8s_elector_t **out);
void k8s_elector_free(k8s_elector_t *e);	/* NULL ok */
/* One round, as client-go's tryAcquireOrRenew: given the Lease as just
 * read (read->exists false on 404) at now_ms (monotonic) and wall_us
 * (real time, for the record's timestamps), what to write. Expiry is
 * judged on the local clock from when the record last changed, never on
 * the holder's timestamps, so clock skew between nodes does not matter. */
void k8s_elector_observe(k8s_elector_t *e, uint64_t now_ms, int64_t wall_us,
			 const struct k8s_lease_rec *read,
			 struct k8s_lease_action *act);
/* The outcome of the write observe asked for; stored is the server's
 * answer on K8S_LEASE_OK (NULL ok otherwise). */
void k8s_elector_written(k8s_elector_t *e, uint64_t now_ms, int result,
			 const struct k8s_lease_rec *stored);
/* Leader while the round of the last successful renewal is younger than
 * the renew deadline (client-go gives up leading after it), and not
 * drained. */
bool k8s_elector_is_leader(const k8s_elector_t *e, uint64_t now_ms);
/* When to run the next round (read + observe): retry_ms after the last,
 * or sooner when the lease another holds runs out before (lease.c says
 * why that bounds a takeover by lease + retry). */
uint64_t k8s_elector_next(const k8s_elector_t *e);
/* Drained (anysteerctl drain): leadership ends now, the next round
 * releases the Lease if the record names us, and no round writes us in
 * until undrained. Both make the next round due at now_ms. */
void k8s_elector_set_drained(k8s_elector_t *e, bool drained, uint64_t now_ms);
bool k8s_elector_drained(const k8s_elector_t *e);
/* The holder last observed ("" none), for anysteerctl status. */
const char *k8s_elector_holder(const k8s_elector_t *e);
/* At stop: if we lead (or were drained and the record still names us),
 * the update that releases the Lease (holder "", duration 1 s, as
 * client-go's ReleaseOnCancel); else op WAIT. Leadership ends here
 * either way. */
void k8s_elector_release(k8s_elector_t *e, int64_t wall_us,
			 struct k8s_lease_action *act);

/* ---- the one writer (leader.c) ----------------------------------------------------- */

/* Leader election driven by a timer on the client's loop, and, while
 * leading, the status patches and Warning Events of the client's last
 * publish (docs/kubernetes.md). */
typedef struct k8s_leader k8s_leader_t;

struct k8s_leader_opts {
	const char *identity;		/* this agent (pod name), required */
	const char *namespace_;		/* the Lease's, required */
	const char *name;		/* the Lease's, required */
	const char *component;		/* Events' source; NULL = "anysteer" */
	uint32_t lease_ms, renew_deadline_ms, retry_ms;	/* 0 = client-go's */
};

struct k8s_leader_stats {
	uint64_t transitions;	/* leadership gained or lost */
	uint64_t lease_errors;	/* Lease reads/writes that failed */
	uint64_t status_writes, status_conflicts, status_errors;
	uint64_t events_sent, events, event_errors;
};

/* AS_OK, AS_EINVAL, AS_ENOMEM. The client must outlive it. */
int k8s_leader_new(struct uv_loop_s *loop, k8s_client_t *client,
		   const struct k8s_leader_opts *opts, k8s_leader_t **out);
int k8s_leader_start(k8s_leader_t *l);
/* Stops the rounds, drops pending writes and, when leading, releases the
 * Lease with a blocking PUT of at most 2 s (stop). */
void k8s_leader_stop(k8s_leader_t *l);
/* Drain (true): stop leading, release the Lease at once (a round on the
 * loop, not blocking) and stand down until undrained (false). */
void k8s_leader_set_drained(k8s_leader_t *l, bool drained);
bool k8s_leader_drained(const k8s_leader_t *l);
/* Stops, then frees when the loop has closed the timer. NULL ok. */
void k8s_leader_free(k8s_leader_t *l);
bool k8s_leader_is_leader(const k8s_leader_t *l);
const char *k8s_leader_holder(const k8s_leader_t *l);	/* "" none */
void k8s_leader_stats(const k8s_leader_t *l, struct k8s_leader_stats *out);

#endif
