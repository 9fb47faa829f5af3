/*
 * routing/routing.h - the anycast address, its health gate, and BIRD.
 *
 * Design. Every healthy node announces the service's IPv6 anycast
 * addresses through its local BIRD. The announcement is bound to the
 * agent process: the addresses live on a non-persistent TUN device whose
 * file descriptor only the agent holds, so when the process dies (even by
 * SIGKILL) the kernel deletes the device, BIRD's `direct` protocol sees
 * the addresses go over netlink and the route is withdrawn. Withdrawal on
 * purpose (health gate, drain) turns the TUN carrier off instead: with
 * `check link yes` BIRD withdraws the route while the address stays, so
 * queries already routed to this node are still answered.
 *
 * Four parts, each usable on its own:
 *
 *  - The bird.ctl reply parser (route_bird_parser_t) is pure: it is fed
 *    bytes and hands back complete numbered replies (code, lines). Small
 *    pure decoders turn replies into protocol lists, BFD sessions and
 *    "is this prefix exported" answers. Commands are built only from
 *    validated names and prefixes, so nothing can inject a second line.
 *
 *  - route_birdctl_t adapts the parser to a libuv UNIX stream: it keeps
 *    one connection open, sends one command at a time, times each one out,
 *    and reconnects with exponential backoff. BIRD being down is reported
 *    through a state callback and as errors of the pending commands; it is
 *    never fatal.
 *
 *  - route_tun_t owns the TUN device and talks rtnetlink (libmnl) to
 *    bring it up, add the /128 addresses (no DAD, no prefix route) and read
 *    the link state back; TUNSETCARRIER switches the carrier.
 *
 *  - route_gate_t is a pure state machine over the health inputs (DNS
 *    self-query ok/fail with rise/fall hysteresis, gossip joined or
 *    single-node, draining) that decides announce/withdraw with a reason
 *    and the time of the last change. route_anycast_t combines a gate with
 *    a TUN: it applies each decision to the carrier and records, per
 *    address, whether it is announced, why, and since when.
 *
 * Times are monotonic milliseconds passed in by the caller (as_now_ms()),
 * so the pure parts never read a clock.
 */
#ifndef ANYSTEER_ROUTING_ROUTING_H
#define ANYSTEER_ROUTING_ROUTING_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* ---------------------------------------------------------------------- */
/* bird.ctl replies (pure)                                                 */
/* ---------------------------------------------------------------------- */

/* Limits that keep a misbehaving peer from growing our buffers. */
#define ROUTE_BIRD_LINE_MAX 8192       /* one line, without the newline */
#define ROUTE_BIRD_REPLY_MAX (1u << 20) /* text kept of one reply */

/* Classes of BIRD reply codes (doc/reply_codes). */
enum route_bird_class {
	ROUTE_BIRD_OK = 0,        /* 0xxx action completed */
	ROUTE_BIRD_ENTRY = 1,     /* 1xxx table entry */
	ROUTE_BIRD_HEADING = 2,   /* 2xxx table heading */
	ROUTE_BIRD_RUNTIME = 8,   /* 8xxx run-time error */
	ROUTE_BIRD_SYNTAX = 9,    /* 9xxx parse-time error */
	ROUTE_BIRD_OTHER = -1,
};

struct route_bird_line {
	int code;          /* 0..9999; continuation lines carry the code above */
	const char *text;  /* without code, separator and newline; NUL-ended */
	size_t len;
};

/* One complete reply. Valid only during the callback that receives it. */
struct route_bird_reply {
	int code;                          /* code of the final line */
	size_t nlines;
	const struct route_bird_line *lines;
	bool truncated;                    /* lines beyond the limits dropped */
};

static inline enum route_bird_class route_bird_class(int code)
{
	switch (code / 1000) {
	case 0: return ROUTE_BIRD_OK;
	case 1: return ROUTE_BIRD_ENTRY;
	case 2: return ROUTE_BIRD_HEADING;
	case 8: return ROUTE_BIRD_RUNTIME;
	case 9: return ROUTE_BIRD_SYNTAX;
	default: return ROUTE_BIRD_OTHER;
	}
}

typedef struct route_bird_parser route_bird_parser_t;
typedef void (*route_bird_reply_cb)(const struct route_bird_reply *reply,
				    void *arg);

int route_bird_parser_new(route_bird_parser_t **out);
void route_bird_parser_free(route_bird_parser_t *p);
/* Feeds bytes; calls cb once per complete reply, in order. Lines starting
 * with '+' (spontaneous printouts) are dropped and counted. Returns AS_OK,
 * or AS_EPROTO for bytes that are not BIRD's protocol (a NUL, a line
 * without a code, a continuation with nothing to continue); the error is
 * sticky until route_bird_parser_reset(): the stream cannot be resynced. */
int route_bird_parser_feed(route_bird_parser_t *p, const void *data,
			   size_t len, route_bird_reply_cb cb, void *arg);
void route_bird_parser_reset(route_bird_parser_t *p);
/* Spontaneous lines dropped and lines dropped over the limits. */
uint64_t route_bird_parser_dropped(const route_bird_parser_t *p);

/* AS_OK for a 0xxx final code, AS_EREMOTE for 8xxx/9xxx, AS_EPROTO else. */
int route_bird_reply_status(const struct route_bird_reply *reply);

/* `show protocols` */
struct route_bird_proto {
	char name[64];
	char proto[16];  /* "BGP", "BFD", "Direct", ... */
	char table[32];
	char state[16];  /* "up", "start", "down", "flush" */
	char since[32];  /* as BIRD prints it */
	char info[64];   /* "Established", "Active", ... or "" */
};
/* Decodes a `show protocols` reply into out[0..max). *n is the number of
 * protocols in the reply, which may exceed max (then only max are written).
 * Returns AS_OK, AS_EREMOTE if BIRD answered with an error, AS_EPARSE if a
 * line does not look like a protocol line. */
int route_bird_parse_protocols(const struct route_bird_reply *reply,
			       struct route_bird_proto *out, size_t max,
			       size_t *n);

/* `show bfd sessions` */
struct route_bird_bfd {
	char bfd_proto[64]; /* the BFD protocol instance the session is in */
	char address[48];
	char iface[32];
	char state[16];    /* "Up", "Down", "Init", "AdminDown" */
	char since[32];
	uint32_t interval_ms;
	uint32_t timeout_ms;
};
int route_bird_parse_bfd(const struct route_bird_reply *reply,
			 struct route_bird_bfd *out, size_t max, size_t *n);

/* `show route PREFIX export PROTO`: *exported is true when BIRD lists the
 * prefix itself as passing PROTO's export filter. "Network not found"
 * and "No valid tables" (the protocol's channel is down) are answers
 * (false), other errors are AS_EREMOTE. */
int route_bird_parse_exported(const struct route_bird_reply *reply,
			      const struct in6_addr *prefix,
			      unsigned prefix_len, bool *exported);

/* enable/disable: *changed is false for "already enabled/disabled". */
int route_bird_parse_switch(const struct route_bird_reply *reply,
			    bool *changed);

/* Command builders. A protocol name must be a BIRD symbol
 * ([A-Za-z_][A-Za-z0-9_]*, at most 63 chars). Return AS_OK, AS_EINVAL for
 * a bad name or prefix, AS_ESPACE if buf is too small. */
int route_bird_cmd_exported(char *buf, size_t len,
			    const struct in6_addr *prefix,
			    unsigned prefix_len, const char *proto);
int route_bird_cmd_switch(char *buf, size_t len, const char *proto,
			  bool enable);
/* The one BIRD symbol rule, used by the command builders and by the
 * configuration (bird.protocol, bird.export_protocol): why name is not a
 * symbol BIRD's commands take, or NULL. */
const char *route_bird_symbol_problem(const char *name);
bool route_bird_symbol_ok(const char *name);	/* problem == NULL */

/* ---------------------------------------------------------------------- */
/* bird.ctl client (libuv)                                                 */
/* ---------------------------------------------------------------------- */

typedef struct route_birdctl route_birdctl_t;

/* Called on every connect and disconnect; err says why it went down
 * (a negated errno or AS_* code), 0 when connected. */
typedef void (*route_birdctl_state_cb)(bool connected, int err, void *arg);

struct route_birdctl_opts {
	const char *path;          /* e.g. /run/bird/bird.ctl */
	uint64_t timeout_ms;       /* per command; 0 = 2000 */
	uint64_t backoff_min_ms;   /* reconnect delay; 0 = 100 */
	uint64_t backoff_max_ms;   /* 0 = 5000 */
	size_t queue_max;          /* pending commands; 0 = 64 */
	route_birdctl_state_cb state_cb; /* may be NULL */
	void *state_arg;
};

/* status is AS_OK with a reply, or the reason there is none (-ENOTCONN,
 * -ECONNRESET, AS_ETIMEDOUT, AS_EPROTO, -ECANCELED on free). A reply with
 * a BIRD error code still arrives with status AS_OK. */
typedef void (*route_birdctl_cb)(int status,
				 const struct route_bird_reply *reply,
				 void *arg);

/* Starts connecting at once; never fails because BIRD is down. */
int route_birdctl_new(uv_loop_t *loop, const struct route_birdctl_opts *opts,
		      route_birdctl_t **out);
/* Cancels pending commands (their callbacks run with -ECANCELED before
 * this returns) and closes the handles; the memory is released from their
 * close callbacks, so run the loop once more before uv_loop_close(). */
void route_birdctl_free(route_birdctl_t *c);
bool route_birdctl_connected(const route_birdctl_t *c);
/* Queues one command line (no newline). Returns AS_OK (cb will run once),
 * -ENOTCONN while disconnected, AS_ELIMIT if the queue is full, AS_EINVAL
 * for a command containing a control character. */
int route_birdctl_send(route_birdctl_t *c, const char *cmd,
		       route_birdctl_cb cb, void *arg);

/* High-level queries; each cb runs once, unless the call returns an error. */
typedef void (*route_birdctl_protocols_cb)(int status,
					   const struct route_bird_proto *p,
					   size_t n, void *arg);
int route_birdctl_protocols(route_birdctl_t *c,
			    route_birdctl_protocols_cb cb, void *arg);
typedef void (*route_birdctl_bfd_cb)(int status,
				     const struct route_bird_bfd *s,
				     size_t n, void *arg);
int route_birdctl_bfd_sessions(route_birdctl_t *c, route_birdctl_bfd_cb cb,
			       void *arg);
typedef void (*route_birdctl_bool_cb)(int status, bool value, void *arg);
/* value = exported */
int route_birdctl_exported(route_birdctl_t *c, const struct in6_addr *prefix,
			   unsigned prefix_len, const char *proto,
			   route_birdctl_bool_cb cb, void *arg);
/* value = changed (false: it already was in that state) */
int route_birdctl_switch(route_birdctl_t *c, const char *proto, bool enable,
			 route_birdctl_bool_cb cb, void *arg);

/* ---------------------------------------------------------------------- */
/* The agent-owned TUN device (rtnetlink via libmnl)                       */
/* ---------------------------------------------------------------------- */

typedef struct route_tun route_tun_t;

struct route_link_state {
	unsigned ifindex;
	bool up;          /* IFF_UP: administratively up */
	bool lower_up;    /* IFF_LOWER_UP */
	bool carrier;     /* IFLA_CARRIER */
	unsigned operstate; /* IF_OPER_* */
	bool ipv6_ready;  /* IPv6 has seen the link usable once (IF_READY) */
};

/* Creates the non-persistent TUN device `name` (IFF_TUN | IFF_NO_PI) with
 * its carrier off, and brings it up. The kernel deletes the device when
 * the descriptor closes: on route_tun_free() or when the process dies.
 * AS_EEXIST if a device of that name exists, AS_EINVAL for a bad name,
 * a negated errno for other failures (e.g. -EPERM without CAP_NET_ADMIN).
 * Blocks until the kernel has applied the link changes: usually a few ms,
 * up to ~1 s when carrier events are being rate-limited (call it at
 * startup, before the loop runs). */
int route_tun_new(const char *name, route_tun_t **out);
void route_tun_free(route_tun_t *t);
const char *route_tun_name(const route_tun_t *t);
unsigned route_tun_ifindex(const route_tun_t *t);
/* The TUN descriptor, for a caller that wants to drain packets the
 * kernel routes into the device (it may stay unread). */
int route_tun_fd(const route_tun_t *t);
/* Adds/removes addr/128 with IFA_F_NODAD | IFA_F_NOPREFIXROUTE. Adding an
 * address already present is AS_OK. Adding waits (normally well under a
 * millisecond) until the kernel has installed the local route, so the
 * address answers as soon as this returns, whatever the carrier. */
int route_tun_add_address(route_tun_t *t, const struct in6_addr *addr);
int route_tun_del_address(route_tun_t *t, const struct in6_addr *addr);
int route_tun_set_carrier(route_tun_t *t, bool on);
/* Reads the link back from the kernel (RTM_GETLINK). */
int route_tun_link_state(route_tun_t *t, struct route_link_state *out);
/* Whether addr is configured on the device (RTM_GETADDR). */
int route_tun_has_address(route_tun_t *t, const struct in6_addr *addr,
			  bool *present);

/* ---------------------------------------------------------------------- */
/* Health gate (pure) and the route life cycle                             */
/* ---------------------------------------------------------------------- */

enum route_reason {
	ROUTE_REASON_STARTING = 0,   /* no self-query has succeeded yet */
	ROUTE_REASON_HEALTHY,        /* announced */
	ROUTE_REASON_SELFCHECK,      /* DNS self-query failed `fall` times */
	ROUTE_REASON_NOT_JOINED,     /* gossip has not joined a cluster */
	ROUTE_REASON_DRAINING,       /* drain requested */
	ROUTE_REASON_STOPPED,        /* shut down by the agent */
	ROUTE_REASON_ERROR,          /* the carrier could not be switched */
};
const char *route_reason_name(enum route_reason r);

struct route_gate_opts {
	unsigned rise;      /* consecutive self-query successes to announce; 0 = 2 */
	unsigned fall;      /* consecutive failures to withdraw; 0 = 3 */
	bool single_node;   /* announce without a gossip cluster */
};

struct route_decision {
	bool announce;
	enum route_reason reason;
	uint64_t since_ms;   /* when announce or reason last changed */
	bool changed;        /* this input changed announce or reason */
};

typedef struct route_gate route_gate_t;

/* Starts withdrawn, reason STARTING, since now_ms. */
int route_gate_new(const struct route_gate_opts *opts, uint64_t now_ms,
		   route_gate_t **out);
void route_gate_free(route_gate_t *g);
void route_gate_selfcheck(route_gate_t *g, bool ok, uint64_t now_ms,
			  struct route_decision *out);
void route_gate_set_joined(route_gate_t *g, bool joined, uint64_t now_ms,
			   struct route_decision *out);
void route_gate_set_draining(route_gate_t *g, bool draining, uint64_t now_ms,
			     struct route_decision *out);
/* Withdraws for good (STOPPED); later inputs change nothing. */
void route_gate_stop(route_gate_t *g, uint64_t now_ms,
		     struct route_decision *out);
void route_gate_get(const route_gate_t *g, struct route_decision *out);

typedef struct route_anycast route_anycast_t;

struct route_anycast_opts {
	const char *ifname;            /* e.g. "anysteer0" */
	const char *const *addresses;  /* IPv6 literals, e.g. "fd00:53::53" */
	size_t naddresses;             /* 1..ROUTE_ANYCAST_MAX */
	struct route_gate_opts gate;
};
#define ROUTE_ANYCAST_MAX 16

struct route_anycast_status {
	struct in6_addr address;
	char text[INET6_ADDRSTRLEN];
	bool announced;               /* carrier on with the address present */
	enum route_reason reason;
	uint64_t since_ms;            /* monotonic ms of the last change */
};

/* Creates the TUN with every address, carrier off (STARTING). */
int route_anycast_new(const struct route_anycast_opts *opts, uint64_t now_ms,
		      route_anycast_t **out);
/* Closes the TUN: the kernel removes the device and BIRD the route. */
void route_anycast_free(route_anycast_t *a);
/* Feed health inputs; each applies the gate's decision to the carrier.
 * Return AS_OK, or the error of the carrier switch (then the addresses
 * are recorded with reason ERROR and the previous announced value). */
int route_anycast_selfcheck(route_anycast_t *a, bool ok, uint64_t now_ms);
int route_anycast_set_joined(route_anycast_t *a, bool joined,
			     uint64_t now_ms);
int route_anycast_set_draining(route_anycast_t *a, bool draining,
			       uint64_t now_ms);
int route_anycast_stop(route_anycast_t *a, uint64_t now_ms);
size_t route_anycast_count(const route_anycast_t *a);
/* Fills out[0..min(max, count)); returns the number written. */
size_t route_anycast_status(const route_anycast_t *a,
			    struct route_anycast_status *out, size_t max);
void route_anycast_decision(const route_anycast_t *a,
			    struct route_decision *out);
route_tun_t *route_anycast_tun(route_anycast_t *a);

/*
 * Which one of n anycast addresses (a zone's name-server "letters") a
 * node announces when each node announces one: the highest-random-weight
 * (rendezvous) choice over the node's name and each address. Every node
 * computes it alone, so a DaemonSet with one config splits the nodes into
 * n disjoint sets of about the same size; a node joining or leaving moves
 * no other node, and adding an address moves only the nodes that now pick
 * it. The binary address counts, not its spelling. Pure; returns 0 for
 * n <= 1.
 */
size_t route_anycast_pick(const char *node, const struct in6_addr *addresses,
			  size_t n);

#endif
