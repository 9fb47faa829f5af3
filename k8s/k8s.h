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
 *    weight, max-answers and ports, and per EndpointSlice only the ready
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
#define K8S_LABEL_SERVICE "kubernetes.io/service-name"

#define K8S_DEFAULT_WEIGHT 100

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
};

/* One DNS name of the zone. A Service with two hostnames yields two
 * entries; entries are sorted by hostname. */
struct k8s_entry {
	char *hostname;		/* FQDN, lower case, trailing dot */
	char *label;		/* the one label below the zone: "web" */
	char *namespace_;	/* Service it comes from */
	char *service;
	uint32_t ttl;		/* 0 = the zone default */
	uint32_t weight;	/* per endpoint; default 100 */
	uint32_t max_answers;	/* 0 = the zone default */
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
	uint32_t backoff_min_ms;	/* 0 = 500 */
	uint32_t backoff_max_ms;	/* 0 = 30000 */
	uint32_t watch_timeout_s;	/* 0 = 300..600 s, random per watch */
	uint32_t connect_timeout_ms;	/* 0 = 10000 */
	size_t max_body;		/* list body / event line; 0 = 64 MiB */
	uint32_t list_limit;		/* items per list page; 0 = 500 */
	k8s_cb cb;
	void *cb_arg;
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
	bool synced;		/* both kinds listed at least once */
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

#endif
