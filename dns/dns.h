/*
 * dns/dns.h - authoritative DNS for the service zone.
 *
 * Design. Three layers, as in Knot DNS:
 *
 *  - The answer view (dns_view_t) is an immutable, reference-counted
 *    snapshot of everything needed to answer: zone apex records, and for
 *    every service its endpoints with their effective weights (configured
 *    weight x health x load factor of the endpoint's node). It is built
 *    off the query path whenever the catalog, the cluster view or a load
 *    factor changes, with the static records (SOA, NS) pre-rendered to
 *    wire format with ldns, and then published to the workers.
 *
 *  - dns_answer() is a pure function: view + query bytes + transport +
 *    random state -> response bytes (or a counted drop). It touches no
 *    socket and no clock and never allocates, so it is what the unit
 *    tests, the fuzz harness and the benchmark drive.
 *
 *  - dns_server_t owns the listeners: `workers` threads, each with its own
 *    libuv loop and its own SO_REUSEPORT UDP and TCP sockets on every
 *    configured address (UDP on a per-worker io_uring where the kernel
 *    has it, else recvmmsg/sendmmsg). A new view reaches each worker
 *    through a uv_async; the worker swaps its private pointer and drops
 *    the old reference, so the query path reads the view without locks.
 *
 * Files: view.c builds a view (layout in view.h), policy.c samples,
 * query.c is dns_answer(), wire.h the wire-format cursors they share;
 * server.c runs the workers, socket.c binds their sockets, udp_mmsg.c
 * and udp_uring.c are the two UDP back ends behind one table of hooks
 * (server_int.h), tcp.c is DNS over TCP with conntab.c's limits;
 * probe.c is the routing self-check's query; forward.c, fcache.c and
 * fwd_io.c forward names outside the zone for allowed clients
 * (forward.h). This header is the only one other modules include.
 *
 * Answer policy: each answer is a weighted sample without replacement of
 * up to max_answers endpoints of the queried family, by effective weight.
 * An answer that falls short is filled, after them, from the healthy
 * endpoints whose load factor is 0, by configured weight, so a client
 * keeps a fallback address. Unhealthy endpoints and configured weight 0
 * are never drawn, unless no endpoint of the family is healthy with a
 * weight: then the configured weights are used, and if those are all 0
 * too, every endpoint is equally likely (fail open at the DNS layer).
 */
#ifndef ANYSTEER_DNS_DNS_H
#define ANYSTEER_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/rng.h"

#define DNS_UDP_PAYLOAD_MAX 1232 /* EDNS0 size we advertise (DNS flag day 2020) */
#define DNS_MSG_MAX 65535
#define DNS_NAME_MAX 255	/* octets of a name on the wire (RFC 1035) */
#define DNS_NAME_TEXT_MAX 253	/* characters of it, without the last dot */
#define DNS_LABEL_MAX 63

/* ---- names (name.c) -----------------------------------------------------
 *
 * The one rule for names in the zone, used by every layer that accepts a
 * name (configuration, Kubernetes, gossip, the view): host names per RFC
 * 1035/1123 (letters, digits, '-', no '-' at either end of a label; label
 * <= 63, name <= 253 characters), compared without case and kept in lower
 * case. Each returns why the name is bad (a constant string), or NULL. */

/* One label: "web", "3d-print". Either case. */
const char *dns_name_label_problem(const char *label);
/* A host name, trailing dot optional; "." is the root. Either case. */
const char *dns_name_problem(const char *name);
/* A service name in either case: a label as above, or the wildcard "*"
 * (which answers every name of the zone without a name of its own). */
const char *dns_name_service_label_problem(const char *label);
/* A service name of the zone: a label or "*", in lower case, whose SRV owner
 * _<label>._tcp.<zone> fits in 255 octets and which is not the first
 * label of a nameserver name <label>.<zone> (nameservers as in
 * dns_view_spec: relative to the zone without a trailing dot, NULL/0 =
 * "ns"). zone NULL checks the label and its case only. */
const char *dns_name_service_problem(const char *label, const char *zone,
				     const char *const *nameservers,
				     size_t n_nameservers);
/* The part of that rule about nameservers: <label>.<zone> is one of them. */
bool dns_name_is_nameserver(const char *label, const char *zone,
			    const char *const *nameservers, size_t n_nameservers);

/* ---- load factor ------------------------------------------------------ */

/* 1 at or below low, falling linearly to 0 at high, 0 above. Inputs are
 * clamped; low >= high degrades to a step at high. NaN load counts as 0. */
double dns_load_factor(double load, double low, double high);

/* ---- intents (intent.c) --------------------------------------------------
 *
 * A service's intent says what its answers optimise (docs/intents.md):
 * balance (the default: load-weighted, as described above), locality
 * (the endpoints in the answering node's topology zone first, spilling
 * over to other zones as that zone's load passes spill_over), resilience
 * (answers spread over distinct nodes or zones) and latency (the endpoints
 * whose nodes are nearest to the answering node by estimated round trip
 * time first, passing over loaded ones; balance while no estimate
 * exists). The view applies it when it is built (dns_plan), so a query
 * costs what it did. */

enum dns_objective {
	DNS_OBJ_BALANCE = 0,
	DNS_OBJ_LOCALITY,
	DNS_OBJ_RESILIENCE,
	DNS_OBJ_LATENCY,
	DNS_OBJ__COUNT
};
enum dns_spread { DNS_SPREAD_NODE = 0, DNS_SPREAD_ZONE, DNS_SPREAD__COUNT };

/* Names as in the configuration ("balance", "node"), indexed by the enum
 * and NULL-terminated (the configuration's enum rows use them); the
 * parsers return -1 for an unknown name. */
extern const char *const dns_objective_values[DNS_OBJ__COUNT + 1];
extern const char *const dns_spread_values[DNS_SPREAD__COUNT + 1];
const char *dns_objective_name(enum dns_objective o);
int dns_objective_parse(const char *s);
const char *dns_spread_name(enum dns_spread s);
int dns_spread_parse(const char *s);

#define DNS_SPILL_OVER_DEFAULT 0.8
/* latency: endpoints whose RTT is within max(DNS_LATENCY_TIE_MS,
 * DNS_LATENCY_TIE_FRAC x the lowest) of the lowest count as equally near
 * (coordinates are estimates) and share the first rank by weight. */
#define DNS_LATENCY_TIE_MS 2.0
#define DNS_LATENCY_TIE_FRAC 0.25

struct dns_intent {
	enum dns_objective objective;	/* 0: balance */
	double spill_over;	/* locality, latency: 0..1, see dns_plan */
	enum dns_spread spread;	/* resilience */
};

/* The rule for a node's topology zone (node.zone, the Kubernetes node
 * label topology.kubernetes.io/zone): a label value, 1..63 characters of
 * letters, digits, '-', '_' and '.', beginning and ending with a letter
 * or digit; compared exactly (case matters, as in Kubernetes). Why it
 * is not one (a constant string), or NULL. */
const char *dns_topo_zone_problem(const char *zone);

/* ---- answer view ------------------------------------------------------ */

typedef struct dns_view dns_view_t;
struct dns_client_zone;	/* below, with the prefixes */
struct dns_prefix;

struct dns_endpoint_spec {
	int family;		/* AF_INET6 or AF_INET */
	uint8_t addr[16];	/* network order; 4 bytes used for AF_INET */
	uint32_t weight;	/* configured weight */
	const char *node;	/* node that hosts it (copied) */
	double load_factor;	/* 0..1, of that node */
	bool healthy;		/* false: effective weight 0 */
	const char *zone;	/* that node's topology zone; NULL/"" = none */
	/* latency: the estimated round trip time (ms) from the answering
	 * node to that node (network coordinates; 0 for itself), if known. */
	bool rtt_known;
	double rtt_ms;
};

/* The most endpoints per service: keeps the sum of 48-bit integer weights
 * inside 64 bits. */
#define DNS_MAX_ENDPOINTS 65535
/* The most nameservers and nameserver addresses of a view. */
#define DNS_MAX_NAMESERVERS 255
#define DNS_MAX_NS_ADDRESSES 65535

struct dns_service_spec {
	const char *name;	/* dns_name_service_problem() is NULL for it,
				 * e.g. "web" (copied) */
	uint16_t port;
	const char *proto;	/* "tcp" or "udp", for the SRV owner name */
	uint32_t ttl;		/* 0 = zone default */
	uint32_t max_answers;	/* 0 = zone default */
	const struct dns_endpoint_spec *endpoints;
	size_t n_endpoints;
	struct dns_intent intent;	/* zeroed: balance */
};

struct dns_view_spec {
	const char *zone;		/* "svc.example." (trailing dot optional) */
	const char *node_name;		/* answered to NSID and CHAOS id.server */
	const char *node_zone;		/* the answering node's topology zone
					 * (locality); NULL/"" = none */
	/* Client prefixes and their zones (dns.client_zones): a query
	 * with an EDNS Client Subnet option (RFC 7871) inside one of them
	 * gets a locality service's answers planned for that zone. At most
	 * DNS_CLIENT_ZONES_MAX. */
	const struct dns_client_zone *client_zones;
	size_t n_client_zones;
	uint32_t ttl;			/* default TTL for service records */
	uint32_t max_answers;		/* default max endpoints per answer
					 * (0 = 2; any max_answers is capped at 64) */
	/* NS targets; NULL/0 = "ns.<zone>". Names without a trailing dot
	 * (here and in soa_rname) are relative to the zone. */
	const char *const *nameservers;
	size_t n_nameservers;
	/* Addresses answered for in-zone nameserver names (AAAA/A glue).
	 * Only family and addr are used, and node names the nameserver the
	 * address belongs to (as in nameservers); NULL = every in-zone one. */
	const struct dns_endpoint_spec *ns_addresses;
	size_t n_ns_addresses;
	const char *soa_rname;		/* NULL = "hostmaster.<zone>" */
	uint32_t soa_serial;		/* 0 = a fingerprint of the content
					 * (docs/dns.md, "SOA serial") */
	uint32_t soa_refresh, soa_retry, soa_expire;
	uint32_t soa_minimum;		/* negative-caching TTL (RFC 2308) */
	uint32_t apex_ttl;		/* TTL of SOA and NS records */
	const struct dns_service_spec *services;
	size_t n_services;
};

/* Builds a view into *out; copies everything it needs from spec. On
 * failure *out is NULL and the result AS_EINVAL (with a logged reason)
 * for a bad spec, or AS_ENOMEM. */
int dns_view_new(const struct dns_view_spec *spec, dns_view_t **out);
dns_view_t *dns_view_ref(dns_view_t *view);	/* thread-safe */
void dns_view_unref(dns_view_t *view);		/* thread-safe; NULL ok */

/* Introspection for the control socket ("services") and metrics. */
struct dns_endpoint_info {
	int family;
	uint8_t addr[16];
	const char *node;
	uint32_t weight;		/* configured */
	double load_factor;
	bool healthy;
	double effective_weight;	/* what the sampler uses */
	const char *zone;		/* its node's zone; NULL = none */
	/* The plan (dns_plan): the tier the address is drawn in (0 first;
	 * for resilience the tier of its domain), -1 never; and the chance
	 * that it is the first address of an answer of its family. */
	int rank;
	double first_share;
	bool rtt_known;			/* as in the spec */
	double rtt_ms;
};
struct dns_service_info {
	const char *name;
	uint16_t port;
	const char *proto;
	uint32_t ttl;
	uint32_t max_answers;
	size_t n_endpoints;
	struct dns_intent intent;
	/* locality: the load of this node's zone (0..1, the larger of the
	 * two families') and the share of the drawing weight other zones
	 * get by spilling over (0: none). */
	double zone_load, spill;
	/* latency: no endpoint had an RTT estimate when the view was
	 * built, so balance was applied. */
	bool latency_fallback;
};
size_t dns_view_service_count(const dns_view_t *view);
/* Fills *out for service i; endpoint j of it with dns_view_endpoint(). */
int dns_view_service(const dns_view_t *view, size_t i,
		     struct dns_service_info *out);
int dns_view_endpoint(const dns_view_t *view, size_t i, size_t j,
		      struct dns_endpoint_info *out);
/* The same as a client in prefix (NULL: none) would be answered:
 * rank and first_share from the plan of the client's zone when
 * dns.client_zones places it (and service i plans by locality); *zone
 * (NULL ok) gets that zone, or NULL when this node's plan applies. */
int dns_view_endpoint_for(const dns_view_t *view, size_t i, size_t j,
			  const struct dns_prefix *client,
			  struct dns_endpoint_info *out, const char **zone);
const char *dns_view_zone(const dns_view_t *view);	/* "svc.example." */
uint32_t dns_view_serial(const dns_view_t *view);	/* as in the SOA */

/* ---- query -> answer ---------------------------------------------------- */

enum dns_transport { DNS_TRANSPORT_UDP = 0, DNS_TRANSPORT_TCP = 1 };

/* Why a query was malformed; FORMERR is sent when the header could be
 * read and the query was not a response, otherwise it is dropped. */
enum dns_malformed {
	DNS_MAL_NONE = 0,
	DNS_MAL_SHORT_HEADER,	/* fewer than 12 bytes: dropped */
	DNS_MAL_RESPONSE,	/* QR bit set: dropped */
	DNS_MAL_QDCOUNT,	/* QDCOUNT != 1 */
	DNS_MAL_NAME,		/* bad label, pointer loop, name > 255 */
	DNS_MAL_TRUNCATED,	/* question or record runs past the end */
	DNS_MAL_EDNS,		/* bad or duplicate OPT record */
	DNS_MAL_SECTIONS,	/* answer/authority records in a query */
	DNS_MAL_TRAILING,	/* bytes after the last record */
	DNS_MAL_TSIG,		/* TSIG not last, twice, or bad RDATA */
	DNS_MAL__COUNT
};
const char *dns_malformed_name(enum dns_malformed m);

/* qtype buckets counted by the server and exported as metrics. */
enum dns_qtype_bucket {
	DNS_QT_A, DNS_QT_NS, DNS_QT_SOA, DNS_QT_TXT, DNS_QT_AAAA, DNS_QT_SRV,
	DNS_QT_HTTPS, DNS_QT_ANY, DNS_QT_OTHER, DNS_QT__COUNT
};
const char *dns_qtype_bucket_name(enum dns_qtype_bucket b);
enum dns_qtype_bucket dns_qtype_bucket(uint16_t qtype);

struct dns_result {
	bool send;		/* false: drop silently */
	uint16_t qtype;
	uint8_t rcode;		/* RCODE sent (extended RCODEs included) */
	bool truncated;		/* TC=1 was set */
	enum dns_malformed malformed;
	size_t len;		/* response length when send */
	/* REFUSED only because the name is outside the zone (class IN, not
	 * a zone transfer): a forwarder may answer it instead. */
	bool forwardable;
	bool forwarded;		/* handed to the forwarder (server.c) */
	bool self_check;	/* the routing self-check's query (probe.c) */
	bool rate_limited;	/* RRL: dropped (send false) or slipped
				 * (sent truncated) */
	uint8_t objective;	/* intent of the service answered + 1
				 * (enum dns_objective); 0: no service */
	bool ecs;		/* the query had an EDNS Client Subnet option */
	bool left_zone;		/* locality: a first address outside this
				 * node's zone (a spill-over) */
};

/* Answers one query. out must hold DNS_MSG_MAX bytes for TCP and
 * DNS_UDP_PAYLOAD_MAX for UDP (the function never writes more than the
 * transport allows: for UDP min(client EDNS size or 512, 1232)). */
void dns_answer(const dns_view_t *view, struct as_rng *rng,
		enum dns_transport transport, const uint8_t *query,
		size_t qlen, uint8_t *out, size_t out_cap,
		struct dns_result *res);
/* The same from the query's source address (NULL: unknown), which places
 * a client that sends no Client Subnet option in dns.client_zones. */
void dns_answer_from(const dns_view_t *view, struct as_rng *rng,
		     enum dns_transport transport,
		     const struct sockaddr_storage *src, const uint8_t *query,
		     size_t qlen, uint8_t *out, size_t out_cap,
		     struct dns_result *res);

/* ---- routing self-check ------------------------------------------------- */

/* Writes the self-check query, (zone, SOA, IN) with the given ID and RD
 * off, marked by an EDNS option (counted apart from client queries), to
 * buf and its length to *len. zone is text, trailing dot
 * optional ("svc.example." or "." for the root). AS_EINVAL for an empty
 * or over-long label or a name over 255 bytes, AS_ESPACE when buf (cap
 * bytes) is too small. */
int dns_probe_query_build(const char *zone, uint16_t id, uint8_t *buf,
			  size_t cap, size_t *len);
/* True when reply answers query (as built above): same ID, a response
 * to a standard QUERY with RCODE NOERROR, one question equal to the
 * query's (the name in any case), and at least one answer record. */
bool dns_probe_reply_check(const uint8_t *query, size_t qlen,
			   const uint8_t *reply, size_t rlen);

/* ---- statistics ---------------------------------------------------------- */

/* Reasons an upstream answer is dropped: malformed, id, question,
 * not_response (dns_fwd_bad_reason_name). */
#define DNS_FWD_BAD_REASONS 4
const char *dns_fwd_bad_reason_name(unsigned i);

/* Latency histogram upper bounds, in nanoseconds (last bucket is +Inf). */
#define DNS_LAT_BUCKETS 12
extern const uint64_t dns_latency_bounds_ns[DNS_LAT_BUCKETS - 1];

#define DNS_RCODE_BADVERS 16	/* the only extended RCODE we send */

struct dns_stats {
	uint64_t queries;			/* packets/messages received, but */
	uint64_t self_checks;			/* the routing self-check's */
	uint64_t udp_queries, tcp_queries;
	uint64_t by_qtype[DNS_QT__COUNT];
	uint64_t by_rcode[DNS_RCODE_BADVERS + 1]; /* [16]: BADVERS */
	uint64_t malformed[DNS_MAL__COUNT];
	uint64_t dropped;			/* not answered at all */
	uint64_t truncated;
	uint64_t tcp_accepted, tcp_rejected, tcp_timeouts, tcp_active;
	uint64_t tcp_evicted;		/* closed to make room for a new one */
	uint64_t tcp_msg_timeouts;	/* a message not complete in time */
	uint64_t tcp_accept_errors;	/* accept() failed, e.g. EMFILE */
	uint64_t rrl_dropped;	/* UDP replies not sent by RRL */
	uint64_t rrl_slipped;	/* sent truncated by RRL instead */
	uint64_t by_objective[DNS_OBJ__COUNT];	/* answers of a service */
	uint64_t spill_overs;	/* locality answers that left the zone */
	uint64_t ecs_queries;	/* answered queries with a Client Subnet */
	uint64_t latency[DNS_LAT_BUCKETS];	/* counts per bucket */
	uint64_t latency_sum_ns;
	struct dns_fwd_stats {
		uint64_t queries;	/* from allowed clients, outside the zone */
		uint64_t refused;	/* outside the zone, client not allowed */
		uint64_t cache_hits, cache_misses, stale_answers;
		uint64_t upstream_queries, upstream_timeouts, tcp_retries;
		uint64_t bad_responses[DNS_FWD_BAD_REASONS]; /* dropped, by
							       * reason */
		uint64_t servfail;	/* no upstream answered in time */
		uint64_t overflow;	/* too many queries in flight: dropped */
		uint64_t cache_entries, cache_bytes;	/* gauges */
	} fwd;
};

/* Adds one result to stats (used by the server and by tests). */
void dns_stats_count(struct dns_stats *st, enum dns_transport t,
		     const struct dns_result *res, uint64_t latency_ns);

/* ---- server ------------------------------------------------------------- */

typedef struct dns_server dns_server_t;

/* How the workers move UDP datagrams (dns/udp_uring.c, dns/udp_mmsg.c). */
enum dns_udp_io {
	DNS_UDP_IO_AUTO = 0,	/* io_uring where the kernel allows it */
	DNS_UDP_IO_URING,	/* io_uring or fail */
	DNS_UDP_IO_MMSG,	/* epoll + recvmmsg/sendmmsg */
};

/* An address prefix, e.g. fd00:2::/48 or 10.0.0.0/8. */
struct dns_prefix {
	int family;		/* AF_INET6 or AF_INET */
	uint8_t addr[16];
	uint8_t len;		/* bits */
};
/* Parses "addr/len" (or a bare address: a host prefix); returns why it
 * is not one (a constant string), or NULL. Bits past len must be 0. */
const char *dns_prefix_parse(const char *text, struct dns_prefix *out);
/* Whether sa (IPv4-mapped IPv6 counts as IPv4) lies in one of p. */
bool dns_prefix_match(const struct dns_prefix *p, size_t n,
		      const struct sockaddr_storage *sa);

/* A client prefix and the topology zone of its clients (dns_view_spec). */
struct dns_client_zone {
	struct dns_prefix prefix;
	const char *zone;	/* dns_topo_zone_problem() is NULL */
};
#define DNS_CLIENT_ZONES_MAX 256

#define DNS_FWD_UPSTREAMS_MAX 8
#define DNS_FWD_ALLOW_MAX 64

/* Forwarding of names outside the zone to recursive resolvers, for
 * clients inside allow only (dns/forward.h has the design). */
struct dns_forward_config {
	const struct sockaddr_storage *upstreams;
	size_t n_upstreams;		/* 1..DNS_FWD_UPSTREAMS_MAX */
	const struct dns_prefix *allow;
	size_t n_allow;
	uint32_t timeout_ms;		/* one upstream attempt (1000) */
	uint32_t total_timeout_ms;	/* then SERVFAIL (3000) */
	size_t cache_bytes;		/* all workers together (16 MiB) */
	uint32_t max_ttl, neg_max_ttl;	/* (86400, 3600) */
	uint32_t serve_stale_s;		/* 0 = no stale answers */
	uint32_t max_pending;		/* per worker (1000) */
	bool no_0x20;			/* for upstreams that lose case */
};

/* One upstream as all workers see it. */
struct dns_upstream_status {
	struct sockaddr_storage addr;
	uint32_t srtt_us;		/* the lowest of the workers' */
	uint64_t queries, answers, timeouts;
};

/* Response rate limiting of UDP replies (design in dns/rrl.h; defaults
 * in docs/dns.md). */
#define DNS_RRL_RATE_MAX 1000000
#define DNS_RRL_WINDOW_MAX_MS 3600000
#define DNS_RRL_SLIP_MAX 100
#define DNS_RRL_TABLE_MAX (1u << 24)
struct dns_rrl_config {
	bool enabled;
	uint32_t responses_per_second;	/* per bucket, all workers together */
	uint32_t slip;		/* every slip-th limited reply goes out
				 * truncated; 0: none, 1: all */
	uint32_t window_ms;	/* a bucket holds rate x window replies */
	uint8_t prefix_v6, prefix_v4;	/* bits of a source prefix */
	uint32_t table_size;	/* buckets per worker */
};
/* Why cfg (enabled or not) is unusable (a constant string), or NULL. */
const char *dns_rrl_config_problem(const struct dns_rrl_config *cfg);

/* TCP limits are per worker (see dns/tcp.c); 0 = default. */
struct dns_server_config {
	const struct sockaddr_storage *listen;
	size_t n_listen;
	unsigned workers;		/* 0 = one per online CPU */
	uint32_t tcp_idle_timeout_ms;	/* RFC 7766 idle timeout (10 s) */
	uint32_t tcp_message_timeout_ms; /* from a message's first byte to
					  * its last (500 ms) */
	uint32_t tcp_max_clients;	/* per worker (256); all workers
					 * together at most half the
					 * open-file limit */
	uint32_t tcp_max_clients_per_prefix; /* per worker (32) */
	uint8_t tcp_prefix_v6;		/* bits of a client prefix (64) */
	uint8_t tcp_prefix_v4;		/* (32) */
	enum dns_udp_io udp_io;
	const struct dns_forward_config *forward;	/* NULL: REFUSED */
	const struct dns_rrl_config *rrl;	/* NULL or not enabled: off */
};

/* Creates the server into *out and binds every socket (so a bad address
 * fails here, before any thread starts). Takes a reference on view. On
 * failure *out is NULL. */
int dns_server_new(const struct dns_server_config *cfg, dns_view_t *view,
		   dns_server_t **out);
/* Starts the worker threads. */
int dns_server_start(dns_server_t *srv);
/* Publishes a new view to every worker (takes its own reference). */
void dns_server_publish(dns_server_t *srv, dns_view_t *view);
/* Workers that have not yet swapped in the last published view; 0 once
 * every worker answers from it (tests wait on this after a publish). */
unsigned dns_server_publish_pending(dns_server_t *srv);
/* Sums the workers' counters (relaxed reads; fine for monitoring). */
void dns_server_stats(dns_server_t *srv, struct dns_stats *out);
/* Listener addresses as bound (port 0 in config resolves here). */
size_t dns_server_listener_count(const dns_server_t *srv);
const struct sockaddr_storage *dns_server_listener(const dns_server_t *srv,
						   size_t i);
unsigned dns_server_worker_count(const dns_server_t *srv);
/* TCP connections a worker keeps (configured, capped by the open-file
 * limit). */
uint32_t dns_server_tcp_max_clients(const dns_server_t *srv);
/* The UDP path in use: DNS_UDP_IO_URING or DNS_UDP_IO_MMSG. */
enum dns_udp_io dns_server_udp_io(const dns_server_t *srv);
const char *dns_udp_io_name(enum dns_udp_io io);
/* Whether this kernel runs the io_uring path (a short self-test with a
 * socket pair); on false, why holds the reason. */
bool dns_udp_uring_supported(char *why, size_t len);
/* The forwarder's upstreams (0 when forwarding is off): fills up to n
 * entries of out, returns how many there are. */
size_t dns_server_upstreams(dns_server_t *srv, struct dns_upstream_status *out,
			    size_t n);
/* Stops workers, closes sockets, joins threads. Idempotent. */
void dns_server_stop(dns_server_t *srv);
void dns_server_free(dns_server_t *srv);

/* Test hook for the health gate: while paused the workers keep
 * receiving but answer nothing (UDP queries are dropped and counted,
 * TCP connections closed). */
void dns_server_set_paused(dns_server_t *srv, bool paused);

#endif
