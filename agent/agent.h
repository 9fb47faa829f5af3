/*
 * agent/agent.h - the anysteerd daemon: configuration, local sources
 * (static catalog, load sampler), control socket and metrics, and the
 * wiring that connects them to dns/, gossip/ and routing/.
 *
 * Design. Configuration is one schema table (agent/config.c): each row
 * names a key, its type, default, range and validator, and where the
 * value lands in struct agent_config. The YAML loader walks the document
 * against that table and reports every problem as "file:line: key: what",
 * so --check-config, startup and SIGHUP reload share one code path.
 * Reload parses into a new agent_config on a worker thread (the loader is
 * thread-safe) and swaps it in on the loop only when valid.
 *
 * The load sampler is a pure core (text of /proc/stat, /proc/loadavg and
 * /proc/pressure/cpu in, sample out) with a thin timer around it, so it is
 * tested with recorded files rather than a live machine.
 */
#ifndef ANYSTEER_AGENT_AGENT_H
#define ANYSTEER_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* ---- configuration -------------------------------------------------------- */

struct agent_endpoint {
	char *address;		/* as written */
	int family;		/* AF_INET6 or AF_INET */
	uint8_t addr[16];	/* parsed, network order */
	uint32_t weight;	/* default 100 */
	char *node;		/* default: this node */
};

/* What a service asks of the answers and of the network. Issue 16's
 * answer objective (docs/intents.md; names as in dns_objective_values /
 * dns_spread_values) and issue 17's path (SRv6 path steering, docs/srv6.md). */
struct agent_intent {
	char *objective;	/* "balance" (default), "locality", ... */
	double spill_over;	/* locality: 0..1 (0.8) */
	char *spread;		/* resilience: "node" (default) or "zone" */
	bool steered;		/* path or avoid given: SRv6 steers the
				 * service's traffic */
	char *path;		/* "latency", "bandwidth" or "cost"
				 * (srv6_metric_parse); NULL: not steered */
	char **avoid;		/* link tags the path must not use */
	size_t n_avoid;
};

struct agent_service {
	char *name;		/* lower case; dns_name_service_problem() is NULL */
	uint16_t port;
	char *protocol;		/* "tcp" (default) or "udp" */
	uint32_t ttl;		/* 0 = dns.ttl */
	uint32_t max_answers;	/* 0 = dns.max_answers */
	struct agent_endpoint *endpoints;
	size_t n_endpoints;
	struct agent_intent intent;
	/* Where the name comes from (anysteerctl services): NULL for the
	 * config's own, else the Kubernetes source's "Service ns/name",
	 * "Ingress ns/name", "HTTPRoute ns/name", "GRPCRoute ns/name". */
	const char *origin;
};

/* A client prefix and its clients' zone (dns.client_zones). */
struct agent_client_zone {
	char *prefix;		/* "fd00:10::/48" (dns_prefix_parse) */
	char *zone;		/* as node.zone */
};

struct agent_config {
	char *path;		/* file it was loaded from */

	struct {
		char *name;	/* default: gethostname() */
		char *role;	/* "node", or "end-host": gossip and SRv6
				 * only, no DNS listener, no anycast */
		bool end_host;	/* role is end-host */
		char *zone;	/* topology zone; NULL = none
				 * (dns_topo_zone_problem() is NULL) */
	} node;

	struct {
		char **listen;	/* "[::1]:5353" strings */
		struct sockaddr_storage *listen_addrs; /* parsed */
		size_t n_listen;
		char *zone;	/* normalised: lower case, trailing dot */
		uint32_t ttl;
		uint32_t max_answers;
		uint32_t workers;	/* 0 = one per core */
		char **nameservers;	/* default: ["ns.<zone>"] */
		size_t n_nameservers;
		char **ns_addresses;	/* addresses answered for in-zone NS names */
		struct sockaddr_storage *ns_addrs; /* parsed, port 0 */
		size_t n_ns_addresses;
		uint32_t negative_ttl;	/* SOA minimum */
		struct agent_client_zone *client_zones;
		size_t n_client_zones;
		uint32_t tcp_idle_timeout_ms;
		uint32_t tcp_message_timeout_ms;
		uint32_t tcp_max_clients;	/* per worker */
		uint32_t tcp_max_clients_per_prefix;
		uint32_t tcp_prefix_length_v6, tcp_prefix_length_v4;
		char *udp_io;	/* "auto", "io_uring" or "recvmmsg" */
		struct {	/* names outside the zone (dns/forward.h) */
			char **upstreams;
			struct sockaddr_storage *upstream_addrs; /* parsed */
			size_t n_upstreams;
			char **allow;	/* client prefixes, dns_prefix_parse */
			size_t n_allow;
			bool open;	/* allow may hold ::/0 or 0.0.0.0/0 */
			uint32_t timeout_ms, total_timeout_ms;
			uint32_t cache_size_mb;
			uint32_t max_ttl_ms, negative_max_ttl_ms;
			uint32_t serve_stale_ms;	/* 0 = off */
			uint32_t max_pending;
			bool case_randomization;
		} forward;
		struct {	/* response rate limiting (dns/rrl.h) */
			bool enabled;
			uint32_t responses_per_second;
			uint32_t slip;
			uint32_t window_ms;
			uint32_t ipv6_prefix_length, ipv4_prefix_length;
			uint32_t table_size;
		} rrl;
	} dns;

	struct {
		char *socket;
		bool test_commands;	/* test-only commands (pause DNS) */
	} control;

	struct {
		char *listen;	/* NULL or "" = disabled */
		struct sockaddr_storage listen_addr; /* AF_UNSPEC if disabled */
	} metrics;

	struct {
		double low_watermark;
		double high_watermark;
		uint64_t interval_ms;	/* sampling period */
		char *signal;		/* "cpu", "psi" or "loadavg" */
		char *source;		/* "measured" (signal) or "static" */
		double value;		/* the signal when source is static */
		bool override;		/* `anysteerctl load set` allowed */
	} load;

	struct agent_service *services;
	size_t n_services;

	struct {
		char **addresses;	/* IPv6 literals; none = no anycast */
		struct sockaddr_storage *addrs; /* parsed, port 0 */
		size_t n_addresses;
		char *interface;	/* the agent-owned TUN device */
		uint32_t port;		/* DNS port on the anycast addresses */
		uint64_t check_interval_ms; /* DNS self-check period */
		uint32_t rise, fall;	/* health gate hysteresis */
		bool wait_for_gossip;	/* announce only once gossip joined */
		char *announce;		/* "all", or "one" of the addresses */
	} anycast;

	struct {
		char *socket;		/* bird.ctl; "" = do not talk to BIRD */
		char *protocol;		/* direct protocol of the anycast TUN */
		char *export_protocol;	/* BGP protocol exporting it; "" = skip */
		uint64_t poll_interval_ms;
		bool fast_withdraw;	/* also disable `protocol` while withdrawn */
	} bird;

	struct {
		uint64_t linger_ms;	/* answer this long after SIGTERM */
	} drain;

	struct {
		bool enabled;		/* the section is present */
		char *bind;
		struct sockaddr_storage bind_addr; /* parsed */
		char *advertise;	/* NULL = bind */
		struct sockaddr_storage advertise_addr; /* AF_UNSPEC if unset */
		char **seeds;
		struct sockaddr_storage *seed_addrs; /* parsed */
		size_t n_seeds;
		char *cluster;		/* the cluster label */
		char *keyring;		/* keyring file; "" only with plaintext */
		bool plaintext;		/* only when explicitly true */
		/* Protocol tuning; 0 = the gossip module's default. */
		uint64_t probe_interval_ms, probe_timeout_ms;
		uint64_t gossip_interval_ms, pushpull_interval_ms;
		uint32_t suspicion_mult;
		double load_step;
		uint64_t leave_timeout_ms;	/* keep sending after a leave */
		uint64_t rebuild_delay_ms;	/* coalesce view rebuilds */
		/* Inbound push-pull connections (TCP). */
		uint32_t tcp_max_conns, tcp_max_per_source;
		uint32_t tcp_source_prefix;	/* IPv6 bits that are one source */
		uint32_t max_endpoints_per_node; /* a record's endpoints kept */
	} gossip;

	struct {
		uint64_t interval_ms;	/* endpoint TCP probe period; 0 = off */
		uint64_t timeout_ms;
		uint32_t rise, fall;
	} health;

	struct {
		bool enabled;		/* watch the API server */
		char *kubeconfig;	/* "" = in-cluster service account */
		char *node_name;	/* the EndpointSlices' nodeName of
					 * this node; default $NODE_NAME,
					 * else node.name */
		bool ingress;		/* watch Ingresses */
		bool gateway_api;	/* watch the Gateway API kinds */
		char *ingress_class;	/* kubernetes.io/ingress.class value */
		bool leader_election;	/* may write status and Events */
		char *lease_name;
		char *lease_namespace;	/* default $POD_NAMESPACE, else
					 * "anysteer" */
		uint64_t lease_duration_ms, renew_deadline_ms, retry_period_ms;
	} kubernetes;

	struct {	/* SRv6 path steering (agent/srv6.c, srv6/) */
		bool enabled;
		char *topology;		/* the SR domain's file (checked
					 * here, read by agent/srv6.c) */
		char *host;		/* this host in the topology */
		char **interfaces;	/* tc egress + ingress attach here */
		size_t n_interfaces;
		char *mode;		/* "encap" or "insert" */
		uint32_t mtu;		/* path MTU of steered packets */
		uint64_t probe_interval_ms;	/* link probes; 0 = off */
		uint32_t rise, fall;
	} srv6;
};

/*
 * Loads and validates a YAML file; thread-safe (reloads run it on a
 * worker thread). On failure returns AS_ECONFIG (or a
 * negated errno when the file cannot be read) and writes every error,
 * one per line as "file:line: key: message", to errbuf (truncated to
 * errlen). *out is set only on success.
 */
int agent_config_load(const char *path, struct agent_config **out,
		      char *errbuf, size_t errlen);
/* The same from a string (path is used in messages only). */
int agent_config_parse(const char *path, const char *text, size_t len,
		       struct agent_config **out, char *errbuf, size_t errlen);
void agent_config_free(struct agent_config *cfg);

/* Prints the schema (key, type, default, description) as the Markdown
 * table of docs/configuration.md (`anysteerd --help-config=markdown`). */
void agent_config_print_schema(FILE *f);
/* The same wrapped to width columns (`anysteerd --help-config`). */
void agent_config_print_schema_text(FILE *f, int width);

/* ---- daemon ----------------------------------------------------------------- */

/* The running agent. agent_new takes ownership of cfg (also on failure of
 * the later calls); agent_start binds sockets and starts threads;
 * agent_run runs the event loop until SIGTERM/SIGINT and returns the exit
 * code; agent_free releases everything (safe after a failed start). */
struct agent;
int agent_new(const char *config_path, struct agent_config *cfg,
	      struct agent **out);
int agent_start(struct agent *a);
int agent_run(struct agent *a);
void agent_free(struct agent *a);

/* ---- load sampler ----------------------------------------------------------- */

struct agent_load_sample {
	double cpu_util;	/* EWMA of busy/total jiffies, 0..1 */
	double loadavg1;
	unsigned ncpu;
	bool have_psi;
	double psi_some_avg10;	/* percent, 0..100 */
	double signal;		/* the signal in use, 0..1 */
	double factor;		/* dns_load_factor(signal, low, high) */
	const char *source;	/* where signal came from: the signal's
				 * name, "static" or "override" */
};

struct agent_cpu_times {
	uint64_t busy, total;
};

/* Pure parsers over file contents; return AS_OK or AS_EPARSE. */
int agent_parse_proc_stat(const char *text, struct agent_cpu_times *out,
			  unsigned *ncpu);
int agent_parse_loadavg(const char *text, double *load1);
int agent_parse_psi_cpu(const char *text, double *some_avg10);
/* Utilisation between two /proc/stat readings, 0..1 (0 if no time passed). */
double agent_cpu_util(const struct agent_cpu_times *prev,
		      const struct agent_cpu_times *cur);
/* EWMA step: prev + alpha * (x - prev). */
double agent_ewma(double prev, double x, double alpha);
/* Settles s->signal, s->source and s->factor from the readings in s and
 * the load section of c: an override (0..1; NAN = none) wins, then
 * load.source static (load.value), else load.signal from the readings.
 * The signal is clamped to 0..1 (NAN reads as 0). */
void agent_load_settle(struct agent_load_sample *s, const struct agent_config *c,
		       double override);

#endif
