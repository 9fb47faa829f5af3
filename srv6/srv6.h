/*
 * srv6/srv6.h - SRv6 path steering from end hosts: a tc egress program
 * that pushes a segment list chosen by destination prefix, protocol and
 * port, its decapsulating tc ingress twin, and the pure path computation
 * that turns an objective into that segment list.
 *
 * Design. DNS picks *which* endpoint a client reaches; this module lets
 * the sending host pick *the path* to it. The kernel here has no seg6
 * lightweight tunnels, so the SRH is pushed by a tc egress BPF program
 * (srv6/bpf/srv6.bpf.c): an LPM trie keyed by (protocol, port, address
 * prefix) maps to one value holding the mode (encapsulation in an outer
 * IPv6 header + SRH, or SRH insertion), the segment list, the path MTU
 * and a counter slot. SR routers forward with the kernel's own End
 * behaviour (seg6_enabled=1); the destination host's tc ingress program
 * removes the outer header + SRH (or the inserted SRH) when it is the last
 * segment. A path change rewrites one map value with one syscall, which
 * the trie swaps under RCU: no packet sees half a segment list. MTU: the
 * egress program sends a packet that would not fit the path unsteered
 * (counted), GSO packets shrink their segments by the added room, and both
 * programs lower the MSS option of TCP SYNs to and from steered
 * destinations to the path MTU minus the SRv6 overhead.
 *
 * Two halves, usable apart:
 *  - srv6_prog_t loads the programs (libbpf skeleton generated at build
 *    time), attaches them to interfaces, and writes steering entries and
 *    local SIDs; it reads counters back. Built only when configure found
 *    clang, libbpf and bpftool; otherwise every call says so.
 *  - srv6_topo_t and srv6_path_compute() are pure: a topology (routers
 *    with End SIDs, hosts, links with latency, bandwidth, cost, tags and
 *    liveness) and an objective (latency | bandwidth | cost, avoid tags)
 *    give a path and its strict segment list. An intent will later name
 *    an objective with srv6_metric_parse()'s words.
 */
#ifndef ANYSTEER_SRV6_SRV6_H
#define ANYSTEER_SRV6_SRV6_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SRV6_SEGS_MAX 8		/* segments in one list (= the map's) */

/* ---------------------------------------------------------------------- */
/* Data plane                                                              */
/* ---------------------------------------------------------------------- */

enum srv6_mode {
	SRV6_MODE_ENCAP = 1,	/* outer IPv6 header + SRH (H.Encaps) */
	SRV6_MODE_INSERT = 2,	/* SRH after the IPv6 header (H.Insert) */
};

/* What a steering entry matches: protocol 0 = any (then port must be
 * 0), port 0 = any port. A port entry wins over a wildcard entry. */
struct srv6_match {
	struct in6_addr prefix;
	uint8_t plen;		/* 0..128 */
	uint8_t proto;		/* IPPROTO_TCP, IPPROTO_UDP, ..., 0 = any */
	uint16_t port;		/* destination port (host order), 0 = any */
};

/* Where matching packets go. */
struct srv6_steer {
	enum srv6_mode mode;
	uint8_t nsegs;		/* 1..SRV6_SEGS_MAX */
	/* Path order: segs[0] is the first segment (the packet's new
	 * destination), segs[nsegs-1] the last. */
	struct in6_addr segs[SRV6_SEGS_MAX];
	/* The last segment is the packet's own destination (always for
	 * INSERT); segs[nsegs-1] is then ignored. */
	bool last_is_dst;
	bool has_src;		/* ENCAP: outer source = src, else inner's */
	struct in6_addr src;
	uint16_t mtu;		/* path MTU, >= 1280 */
	uint32_t generation;	/* caller's reprogramming number */
};

/* Program-wide counters, in the order of srv6_prog_stats()'s array. */
enum srv6_stat {
	SRV6_ST_STEERED,	/* egress: segment list pushed */
	SRV6_ST_UNMATCHED,	/* egress: IPv6 without an entry */
	SRV6_ST_SKIPPED,	/* egress: never steered (ND, multicast, link-local, routing header) */
	SRV6_ST_TOO_BIG,	/* egress: would exceed the path MTU: unsteered */
	SRV6_ST_UNSUPPORTED,	/* egress: kernel refused the room: unsteered */
	SRV6_ST_MALFORMED,	/* bad header chain: passed untouched */
	SRV6_ST_WRITE_FAIL,	/* egress: headers half written: dropped */
	SRV6_ST_DECAP,	/* ingress: outer header + SRH removed */
	SRV6_ST_STRIP,	/* ingress: inserted SRH removed */
	SRV6_ST_DECAP_FAIL,	/* ingress: removal failed: dropped */
	SRV6_ST_MSS_CLAMPED,	/* a SYN's MSS lowered */
	SRV6_ST_N,
};
/* "steered", "unmatched", ...: names for metrics and status. */
const char *srv6_stat_name(enum srv6_stat s);

enum srv6_hook { SRV6_EGRESS, SRV6_INGRESS };

typedef struct srv6_prog srv6_prog_t;

/* Checks a match and a steering entry without touching the kernel. */
int srv6_match_check(const struct srv6_match *m);
int srv6_steer_check(const struct srv6_steer *s);

/* The type 4 routing header (RFC 8754) for Linux's IPV6_RTHDR socket
 * option that sends a packet along segs[0..n-1], segs[n-1] being its
 * destination: the segments in SRH order (segments[0] the last, which the
 * kernel overwrites with the destination), segments left and last entry
 * n-1, so the kernel sends it to segs[0]. Returns its length, 8 + 16 n;
 * 0 when n < 2 (no header needed), n > SRV6_SEGS_MAX or len is short. */
size_t srv6_rthdr_build(const struct in6_addr *segs, size_t n, void *buf,
			size_t len);

/* Loads both programs and their maps. On failure returns an error and
 * writes what is missing (privileges, kernel feature, build option) into
 * why (why may be NULL). */
int srv6_prog_open(srv6_prog_t **out, char *why, size_t whylen);
/* Detaches from every interface it attached to and unloads. */
void srv6_prog_free(srv6_prog_t *p);
/* Adds a clsact qdisc if needed and attaches the hook's program. */
int srv6_prog_attach(srv6_prog_t *p, int ifindex, enum srv6_hook hook);

/* Installs or replaces (one map write) the entry for m. Counters of an
 * existing entry are kept. AS_ELIMIT when the map is full. */
int srv6_prog_steer_set(srv6_prog_t *p, const struct srv6_match *m,
			const struct srv6_steer *s);
/* AS_ENOTFOUND when there is no such entry. */
int srv6_prog_steer_del(srv6_prog_t *p, const struct srv6_match *m);
/* Packets and bytes (after encapsulation) steered by m's entry. */
int srv6_prog_steer_counters(srv6_prog_t *p, const struct srv6_match *m,
			     uint64_t *packets, uint64_t *bytes);
/* This host is the last segment for sid: ingress decapsulates. */
int srv6_prog_local_sid_add(srv6_prog_t *p, const struct in6_addr *sid);
int srv6_prog_local_sid_del(srv6_prog_t *p, const struct in6_addr *sid);
/* Sums the per-CPU counters into out[SRV6_ST_N]. */
int srv6_prog_stats(srv6_prog_t *p, uint64_t out[SRV6_ST_N]);

/* Turns on the kernel's run-time accounting of BPF programs while p
 * lives (BPF_ENABLE_STATS), then reads a program's run count and total
 * run time in ns: the per-packet cost without sampling. */
int srv6_prog_enable_run_stats(srv6_prog_t *p);
int srv6_prog_run_stats(srv6_prog_t *p, enum srv6_hook hook, uint64_t *runs,
			uint64_t *run_ns);

/* Runs one program on an Ethernet frame (BPF_PROG_TEST_RUN), for tests
 * and a start-up self-check. *outlen is the buffer's size in, the
 * frame's length out; *verdict the TC_ACT_* returned. */
int srv6_prog_test_run(srv6_prog_t *p, enum srv6_hook hook, const void *in,
		       size_t inlen, void *out, size_t *outlen, int *verdict);

/* ---------------------------------------------------------------------- */
/* Topology and path computation (pure)                                    */
/* ---------------------------------------------------------------------- */

#define SRV6_TOPO_MAX_NODES 256
#define SRV6_TOPO_MAX_LINKS 1024
#define SRV6_TAGS_MAX 8		/* tags on one link */
#define SRV6_NAME_MAX 64
#define SRV6_TOPO_MAX_PREFIXES 4096

enum srv6_metric {
	SRV6_METRIC_LATENCY = 0,	/* least summed latency */
	SRV6_METRIC_BANDWIDTH,		/* widest, then least latency */
	SRV6_METRIC_COST,		/* least summed cost */
};
/* "latency", "bandwidth", "cost"; -1 when unknown. */
int srv6_metric_parse(const char *s);
const char *srv6_metric_name(enum srv6_metric m);

struct srv6_link_attr {
	uint32_t latency_us;
	uint64_t bandwidth_kbps;	/* > 0 */
	uint32_t cost;
	const char *tags[SRV6_TAGS_MAX]; /* NULL-terminated when fewer */
};

struct srv6_objective {
	enum srv6_metric metric;
	const char *const *avoid;	/* tags; a link with one is not used */
	size_t navoid;
};

struct srv6_path {
	size_t nnodes;			/* source host .. destination host */
	int nodes[SRV6_TOPO_MAX_NODES];
	uint64_t latency_us;		/* sum */
	uint64_t bandwidth_kbps;	/* bottleneck */
	uint64_t cost;			/* sum */
	size_t nsegs;			/* strict: every router, then the host */
	struct in6_addr segs[SRV6_SEGS_MAX];
};

typedef struct srv6_topo srv6_topo_t;

int srv6_topo_new(srv6_topo_t **out);
void srv6_topo_free(srv6_topo_t *t);
/* A router forwards with End at sid; a host is only ever an end of a
 * path (never transit) and sid is its decapsulating address. Returns the
 * node's index (>= 0) or an error (AS_EEXIST for a second name). */
int srv6_topo_add_router(srv6_topo_t *t, const char *name,
			 const struct in6_addr *sid);
int srv6_topo_add_host(srv6_topo_t *t, const char *name,
		       const struct in6_addr *sid);
/* A bidirectional link, up. Returns its index (>= 0) or an error. */
int srv6_topo_add_link(srv6_topo_t *t, const char *a, const char *b,
		       const struct srv6_link_attr *attr);
int srv6_topo_link_set_up(srv6_topo_t *t, int link, bool up);
/* A node's index by name, or AS_ENOTFOUND. */
int srv6_topo_node(const srv6_topo_t *t, const char *name);
const char *srv6_topo_node_name(const srv6_topo_t *t, int node);

/* A copy (liveness is then set on the copy). */
int srv6_topo_clone(const srv6_topo_t *t, srv6_topo_t **out);
/* Destinations that live at a host (pods, endpoints, its services'
 * addresses); host bits are ignored. AS_EEXIST for a prefix given
 * twice (to any host). */
int srv6_topo_add_prefix(srv6_topo_t *t, const char *host,
			 const struct in6_addr *prefix, unsigned plen);
/* The host whose prefixes hold addr (the longest wins), or
 * AS_ENOTFOUND. */
int srv6_topo_host_of(const srv6_topo_t *t, const struct in6_addr *addr);
size_t srv6_topo_node_count(const srv6_topo_t *t);
/* A node's SID and whether it is a host (either may be NULL). */
int srv6_topo_node_info(const srv6_topo_t *t, int node, struct in6_addr *sid,
			bool *host);
size_t srv6_topo_link_count(const srv6_topo_t *t);
struct srv6_link_info {
	int a, b;			/* node indices */
	bool up;
	struct srv6_link_attr attr;	/* tags point into the topology */
};
int srv6_topo_link(const srv6_topo_t *t, int link, struct srv6_link_info *out);

/* The best path from host `from` to host `to` for the objective, over
 * links that are up and carry no avoided tag. Ties go to fewer hops, then
 * to the predecessor whose name sorts first, so the answer does not depend
 * on the order the topology was written in. AS_ENOTFOUND for an unknown
 * or non-host name, AS_ENOENT when no path exists, AS_ELIMIT when the
 * strict segment list would exceed SRV6_SEGS_MAX. */
int srv6_path_compute(const srv6_topo_t *t, const char *from, const char *to,
		      const struct srv6_objective *o, struct srv6_path *out);

/*
 * The path a liveness probe of `link` takes from host `from`: for a link
 * of `from` itself, straight to the far end's SID; otherwise the least
 * latency path to the link's router end over links that are up, not
 * using the link, then across it to the other end (its SID is the
 * probe's destination). AS_ENOENT when the near end cannot be reached
 * without the link, or when both ends are hosts.
 */
int srv6_path_probe(const srv6_topo_t *t, int from, int link,
		    struct srv6_path *out);

/*
 * The SR domain's topology file (docs/srv6.md, "The topology file"):
 * routers (name, sid), hosts (name, sid, prefixes) and links (between,
 * latency_us, bandwidth_kbps, cost, tags, probe, bird_protocol). Every problem is written
 * to err as "file:line: key: message" lines; AS_ECONFIG then (AS_ENOMEM,
 * or a negated errno when the file cannot be read). Pure apart from
 * srv6_topo_load's read of the file.
 */
int srv6_topo_parse(const char *path, const char *text, size_t len,
		    srv6_topo_t **out, char *err, size_t errlen);
int srv6_topo_load(const char *path, srv6_topo_t **out, char *err,
		   size_t errlen);
/* Why s is not a name or tag of the file ([a-z0-9-]{1,63}), or NULL. */
const char *srv6_name_problem(const char *s);
/* Links a probe may test (the file's `probe`, default true). */
bool srv6_topo_link_probed(const srv6_topo_t *t, int link);
int srv6_topo_link_set_probed(srv6_topo_t *t, int link, bool probed);
/* The BIRD protocol whose state is the link's liveness (the file's
 * bird_protocol; the agent checks the name by BIRD's rule), or NULL. */
const char *srv6_topo_link_bird(const srv6_topo_t *t, int link);
int srv6_topo_link_set_bird(srv6_topo_t *t, int link, const char *proto);

#endif
