/*
 * gossip/gossip.h - cluster membership and load/endpoint dissemination.
 *
 * Design. The module is a pure protocol core plus a thin libuv adapter.
 * The core (struct gossip_core) is a state machine: it is fed the current
 * time with every call (gossip_core_recv for a received packet,
 * gossip_core_tick when its deadline has passed, and the local API calls)
 * and leaves the packets it wants sent in an outbox that the caller drains
 * (gossip_core_outbox / gossip_core_outbox_clear). It never reads a clock,
 * never touches a socket and draws randomness for protocol decisions from
 * a seeded generator, so the same code runs in anysteerd, in the unit tests
 * and in the deterministic simulator (tests/sim). Only AEAD nonces come
 * from libsodium's CSPRNG; they change ciphertext bytes, never behaviour.
 *
 * Protocol: SWIM (coordinated probing, see below; ack timeout, k
 * indirect probes through ping-req, suspicion, dead, refutation
 * by incarnation bump, graceful leave) with Lifeguard (local health
 * multiplier stretching our own probe interval and timeouts; a suspicion
 * timeout that shrinks with independent confirmations; the suspect is told
 * in the probe itself). State changes and node-record updates ride on
 * probes, acks and a fast gossip timer (whose first peer is always the
 * next alive member on the ring below, so news that reaches a node
 * reaches its successor without waiting for a probe), each retransmitted
 * lambda * ceil(log10(N + 1)) times (at least retransmit_min); a newer
 * message about a node replaces the older one in the retransmit queue.
 * A periodic push-pull full state exchange (a stream message pair; TCP in
 * the daemon) heals joins and partitions; its interval grows with N and
 * its size is capped. Dead nodes are remembered for a retention time, and
 * each node push-pulls one of them every reconnect_interval_ms, so a
 * healed partition is noticed within seconds; seeds are rejoined
 * periodically.
 *
 * Beyond Lifeguard, for zero false deaths under CPU stalls: a node that
 * wakes far past its deadlines (stalled) extends its running suspicions by
 * the lost time; a refuting node sends its new record straight to its
 * accusers; a node that hears from a member it suspects tells it so
 * directly; an alive record that does not refute a queued accusation
 * does not replace it; before declaring a suspect dead a node probes it
 * once more (directly and through k peers), so a refutation lost on the
 * way does not kill a live node; and the libuv adapter reads waiting
 * datagrams before it runs overdue timers (a descheduled process would
 * otherwise time out acks it has received). News (membership, a factor
 * move) that finds no news queued is gossiped at once, not at the next
 * round. Defaults (probe 250 ms, timeout 40 ms, suspicion floor 2.2 s,
 * gossip 50 ms x 3) target crash detection under 3 s while a 2 s stall is
 * never taken for a death. (Timing a suspicion from the unanswered ping
 * instead of the end of the probe period was tried and dropped: it left a
 * falsely suspected node too little time to refute before a stall.)
 *
 * Load: only the factor changes answers, so only a factor move (a whole
 * load_step from the gossiped value, which sits on the load_step grid)
 * is published at once, at most load_burst at once and then one per
 * load_min_interval_ms (20 s); utilisation alone waits for the refresh. A
 * factor move is retransmitted retransmit_mult * ceil(log10(N + 1)) times
 * without the retransmit_min floor (the next move supersedes it and
 * push-pull repairs a miss). A record that moves no factor rides on
 * probes and acks only and never makes a gossip round send a packet
 * (docs/gossip.md has the costs).
 *
 * Network coordinates (vivaldi.c): the round trip of every direct probe
 * (ping to the target's own ack) is a Vivaldi sample; the target's
 * coordinate rides in the ack only when the ping asks for it (none
 * cached, then after 1, 2, 4 ... s, at most every 30 s), so every member
 * holds a coordinate of every other at a few dozen bytes/s.
 *
 * Coordinated probing (issue 19): time is cut into slots of
 * probe_interval_ms on the wall clock (taken from seq_base, see below);
 * the live members, this node included, sorted by name form a ring of L,
 * and in slot k the node at position p probes position
 * p + 1 + (k mod (L - 1)). Every member is then probed by exactly one
 * node in every slot, so a crashed one is probed in the next slot rather
 * than after the exponential wait of independent random schedules (p99
 * 4.6 intervals), and each node still probes every other member once per
 * L - 1 slots. This needs the nodes' clocks within a fraction of a slot
 * (NTP does it; gossip_core_set_wall_ms follows a clock stepped after
 * the start): with clocks off by up to +-100 ms the simulator's crash
 * detection p99 is 2.90 s instead of 2.78 s, with clocks unrelated
 * 3.2 s. Views that differ (a join not yet everywhere) only make the
 * schedule as random as independent ones for a while.
 *
 * For anysteerd: pass incarnation = wall-clock seconds and seq_base =
 * wall-clock microseconds (ms * 1000), so a restarted node outranks its
 * old self; seq_base / 1000 minus the now of gossip_core_new is also the
 * wall clock's offset that the probe slots follow.
 *
 * Node record: the name is the identity. Per origin, the newer
 * (incarnation, version) wins; the incarnation orders liveness claims, the
 * version orders record changes made by the node itself. A node that
 * restarts with a higher incarnation (anysteerd uses the wall clock) and a
 * new address replaces its old entry.
 *
 * Records of any size (issue 19): a record whose ALIVE does not fit a
 * datagram is gossiped as a HEAD (the record without its endpoints, with
 * their count). A member that sees endpoints newer than it holds sends a
 * PULL (name, incarnation, ep_version) to the node the head came from and
 * gets the whole record back as an ALIVE over the stream transport; a
 * member relays a record only once it holds its endpoints, so whoever
 * sent a head can answer the pull. Push-pulls other than a join and its
 * answer are digests: records without endpoints, newer ones pulled the
 * same way. A member keeps at most max_endpoints endpoints of any record
 * (the rest are counted in endpoints_dropped).
 *
 * Wire: a packet is a 2-byte outer header (protocol version 3, flags),
 * then either the plaintext envelope or a 16-byte nonce (a random prefix
 * per key epoch and a counter; gossip/crypto.c says why that is safe) and
 * the envelope sealed with XChaCha20-Poly1305 (additional data: header
 * and cluster label): 34 bytes over the envelope. The envelope is msgpack:
 * [label, sender, incarnation, seq, [message, ...]], each message an
 * array led by its type; a sealed envelope's label is empty (the
 * additional data authenticates it). Version 1 (a 24-byte nonce, the
 * label in every envelope) is dropped as "version": upgrade all nodes of
 * a cluster together. UDP packets are at most GOSSIP_UDP_MAX bytes;
 * larger state travels by push-pull. Encoding uses msgpack-c's packer;
 * decoding uses a small bounded reader of our own (gossip/wire.c) so a
 * hostile length field can never make us allocate: every count is checked
 * against the bytes that remain, and every rejection has a counted reason.
 * Stream frames (push-pull over TCP) put a header of their own in front of
 * the packet: version GOSSIP_STREAM_VERSION, flags, and the packet's length
 * sealed like a packet (nonce, 4 bytes, tag; additional data: the header
 * bytes and the label): 46 bytes, or 6 in plaintext. The receiver
 * authenticates these before it reserves or reads anything more, so a
 * sender without a key never makes us hold more than the header, and an
 * authenticated length is still bounded by what a push-pull can carry
 * (gossip_stream_frame_max). Version 1 of the stream frame was a bare
 * 4-byte length; its first byte (0 for any length under 16 MiB) is not
 * version 2, so such frames are dropped as "version". Inbound streams are
 * capped in number, per source and in buffered bytes, and must deliver an
 * authenticated header within stream_hdr_timeout_ms and the whole frame
 * within stream_timeout_ms (docs/gossip.md has the numbers).
 * Replay: seq grows per packet from a base the daemon takes from the wall
 * clock; an envelope carries its low 32 bits (4 bytes a packet fewer;
 * receivers place them next to the top of their window, RFC 1982 serial
 * arithmetic, and still take any unsigned integer there); receivers keep
 * a sliding window per sender and drop repeated or stale seqs. A higher sender incarnation whose seq went backwards is a
 * new process and restarts the window; an older incarnation may not move
 * the window forward.
 */
#ifndef ANYSTEER_GOSSIP_GOSSIP_H
#define ANYSTEER_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Packet format: 1 had a 24-byte nonce and the label in the envelope; 3
 * has a 16-byte nonce and an empty label in sealed envelopes (2 is the
 * stream header's version byte, kept apart so neither opens as the other). */
#define GOSSIP_PROTO_VERSION 3
#define GOSSIP_UDP_MAX 1232		/* IPv6 minimum MTU minus headers */
#define GOSSIP_NAME_MAX 63		/* node names, bytes */
#define GOSSIP_LABEL_MAX 63		/* cluster label, bytes */
#define GOSSIP_SERVICE_MAX 63		/* endpoint service names, bytes */
/* Endpoints per node record: a member holds at most the configured
 * max_endpoints (default GOSSIP_ENDPOINTS_DEFAULT) of a peer's record;
 * the decoder takes at most GOSSIP_ENDPOINTS_WIRE_MAX in one record. */
#define GOSSIP_ENDPOINTS_DEFAULT 256
#define GOSSIP_ENDPOINTS_WIRE_MAX 65535
#define GOSSIP_ZONE_MAX 63		/* a node's topology zone, bytes */
#define GOSSIP_KEY_LEN 32
#define GOSSIP_KEYS_MAX 16
#define GOSSIP_KEY_B64_LEN 45		/* base64 of a key, with NUL */
#define GOSSIP_CRYPTO_OVERHEAD (2 + 16 + 16)	/* header, nonce, tag */
#define GOSSIP_STREAM_VERSION 2		/* stream frame header; 1 was a bare length */
#define GOSSIP_STREAM_HDR_MAX (2 + 24 + 16 + 4) /* sealed length, 24-byte nonce */
#define GOSSIP_STREAM_HDR_PLAIN (2 + 4)	/* plaintext: header, length */
/* The largest push-pull entry on the wire: state and a node record with a
 * 63-byte name, an IPv6 address, 5-byte incarnation, 9-byte versions and
 * the load (GOSSIP_PP_HEAD_MAX), the endpoint array's header (3 bytes up
 * to 65535 endpoints), GOSSIP_ENDPOINT_WIRE_MAX per endpoint with a
 * 63-byte service name and a 63-byte zone (GOSSIP_ZONE_WIRE_MAX) (checked
 * by test_gossip_wire against the encoder). */
#define GOSSIP_PP_HEAD_MAX 119
#define GOSSIP_ENDPOINT_WIRE_MAX 91
#define GOSSIP_ZONE_WIRE_MAX 65
#define GOSSIP_PP_RECORD_MAX(n) (GOSSIP_PP_HEAD_MAX + 3 + (n) * GOSSIP_ENDPOINT_WIRE_MAX + \
				 GOSSIP_ZONE_WIRE_MAX)

/* ---- node record ---------------------------------------------------- */

struct gossip_load {
	double util;		/* CPU utilisation, 0..1 */
	double psi;		/* CPU pressure (some avg10), 0..1 */
	uint32_t cpus;		/* CPU count */
	double factor;		/* load factor used for steering, 0..1 */
};

struct gossip_endpoint {
	char service[GOSSIP_SERVICE_MAX + 1];
	uint8_t addr[16];	/* IPv6, or IPv4-mapped */
	uint16_t port;
	uint16_t weight;
	bool healthy;
};

/* A node record as carried on the wire and held in the view. */
struct gossip_record {
	char name[GOSSIP_NAME_MAX + 1];
	struct sockaddr_storage addr;	/* gossip address */
	uint32_t incarnation;
	uint64_t version;		/* bumps on every record change */
	uint64_t ep_version;		/* version at which endpoints changed */
	struct gossip_load load;
	uint32_t n_endpoints;
	struct gossip_endpoint *endpoints; /* owned by whoever holds it */
	/* The node's topology zone (node.zone), "" if none. Optional on the
	 * wire (a record field after the endpoints, left out when empty, so
	 * older peers skip it); fixed for an incarnation: a record relayed
	 * by an older peer arrives without it and does not clear it. */
	char zone[GOSSIP_ZONE_MAX + 1];
};

enum gossip_state {
	GOSSIP_ALIVE = 0,
	GOSSIP_SUSPECT = 1,
	GOSSIP_DEAD = 2,
	GOSSIP_LEFT = 3,
	GOSSIP_STATE_COUNT
};
const char *gossip_state_name(enum gossip_state st);

/* ---- network coordinates (vivaldi.c) ----------------------------------
 *
 * Vivaldi (Dabek et al., SIGCOMM 2004) with the refinements Serf and
 * Consul use: a height added to the Euclidean distance for the access
 * link a node cannot share (Ledlie et al., "Network coordinates in the
 * wild", NSDI 2007), a per-node adjustment term (the mean residual of the
 * last GOSSIP_COORD_WINDOW samples, halved) and a weak gravity towards
 * the origin so the whole system does not drift. Units are milliseconds
 * of round trip time. Pure functions: the caller keeps the state and
 * feeds it (own state, remote coordinate, measured RTT). */

#define GOSSIP_COORD_DIMS 8
#define GOSSIP_COORD_WINDOW 20		/* adjustment samples */
#define GOSSIP_COORD_ERROR_MAX 1.5	/* and the initial error */
#define GOSSIP_COORD_HEIGHT_MIN 0.01	/* ms (10 us) */
#define GOSSIP_COORD_LIMIT 100000.0	/* ms: larger values are rejected */
/* On the wire: a msgpack bin of float32s (big endian): the vector, then
 * height, error, adjustment; 1..GOSSIP_COORD_DIMS dimensions. */
#define GOSSIP_COORD_WIRE_LEN (4 * (GOSSIP_COORD_DIMS + 3))

struct gossip_coord {
	double vec[GOSSIP_COORD_DIMS];
	double height;		/* >= GOSSIP_COORD_HEIGHT_MIN */
	double error;		/* relative, 0..GOSSIP_COORD_ERROR_MAX */
	double adjustment;	/* may be negative */
};

/* A node's own state: its coordinate and the adjustment window. */
struct gossip_coord_self {
	struct gossip_coord c;
	double adj[GOSSIP_COORD_WINDOW];
	uint32_t adj_i, updates;
	uint64_t rng;		/* direction when two coordinates coincide */
};

/* The origin, height min, error max (a node that knows nothing). */
void gossip_coord_init(struct gossip_coord *c);
void gossip_coord_self_init(struct gossip_coord_self *s, uint64_t seed);
/* Finite, within GOSSIP_COORD_LIMIT, height and error in range. */
bool gossip_coord_valid(const struct gossip_coord *c);
/* Estimated RTT (ms) between two coordinates: the Euclidean distance plus
 * both heights, plus both adjustments when that stays positive. */
double gossip_coord_distance(const struct gossip_coord *a, const struct gossip_coord *b);
/* One observation: RTT rtt_ms measured to a node at remote. AS_EINVAL
 * (nothing changes) for an invalid remote or an RTT that is not finite,
 * not positive or over GOSSIP_COORD_LIMIT. */
int gossip_coord_update(struct gossip_coord_self *s, const struct gossip_coord *remote,
			double rtt_ms);
/* Median filter of the last 3 RTT samples of one peer (Serf's latency
 * filter): adds rtt_ms to win (n: how many it holds) and returns the
 * median of what it holds. */
double gossip_coord_filter(double win[3], uint32_t *n, double rtt_ms);
/* Wire body (not the msgpack header): GOSSIP_COORD_WIRE_LEN bytes, or
 * AS_ESPACE. Decoding accepts 1..GOSSIP_COORD_DIMS dimensions (missing
 * ones are 0) and returns AS_EMALFORMED for another length or an invalid
 * coordinate. */
int gossip_coord_encode(const struct gossip_coord *c, uint8_t *buf, size_t len);
int gossip_coord_decode(const uint8_t *buf, size_t len, struct gossip_coord *c);

/* ---- wire ----------------------------------------------------------- */

enum gossip_msg_type {
	GOSSIP_MSG_PING = 1,
	GOSSIP_MSG_PING_REQ = 2,
	GOSSIP_MSG_ACK = 3,
	GOSSIP_MSG_NACK = 4,
	GOSSIP_MSG_ALIVE = 5,	/* full node record */
	GOSSIP_MSG_LOAD = 6,	/* load only */
	GOSSIP_MSG_SUSPECT = 7,
	GOSSIP_MSG_DEAD = 8,	/* from == name means a graceful leave */
	GOSSIP_MSG_PUSHPULL = 9, /* full state; flag says request or reply */
	GOSSIP_MSG_HEAD = 10,	/* a record too big for UDP, without endpoints */
	GOSSIP_MSG_PULL = 11,	/* asks for a record's endpoints (by stream) */
	GOSSIP_MSG_TYPE_COUNT
};
const char *gossip_msg_type_name(int type);

/* Why a packet or message was dropped. */
enum gossip_drop {
	GOSSIP_DROP_SHORT = 0,	/* shorter than a header */
	GOSSIP_DROP_VERSION,	/* unknown protocol version */
	GOSSIP_DROP_FLAGS,	/* unknown header flags */
	GOSSIP_DROP_PLAINTEXT,	/* plaintext, not allowed by config */
	GOSSIP_DROP_ENCRYPTED,	/* encrypted, but we run plaintext */
	GOSSIP_DROP_AUTH,	/* no installed key opens it */
	GOSSIP_DROP_MALFORMED,	/* msgpack or field invalid */
	GOSSIP_DROP_LABEL,	/* other cluster */
	GOSSIP_DROP_REPLAY,	/* stale or repeated sequence number */
	GOSSIP_DROP_TOO_BIG,	/* over the size limit */
	GOSSIP_DROP_UNKNOWN_TYPE, /* message type we do not know */
	GOSSIP_DROP_SELF,	/* our own name as sender */
	GOSSIP_DROP_CONN_LIMIT,	/* stream refused: too many connections */
	GOSSIP_DROP_SOURCE_LIMIT, /* stream refused: too many from its source */
	GOSSIP_DROP_TIMEOUT,	/* stream not complete by its deadline */
	GOSSIP_DROP_MEMORY,	/* stream refused: buffer budget exhausted */
	GOSSIP_DROP_COUNT
};
const char *gossip_drop_name(enum gossip_drop d);

/* One decoded message. Strings point into the decoded packet buffer or
 * into dec->scratch; endpoint arrays point into scratch. Valid until the
 * next decode into the same struct. */
struct gossip_msg {
	int type;
	uint32_t wire_len;	/* encoded size, set by the decoder */
	uint32_t seq;		/* PING, PING_REQ, ACK, NACK */
	char target[GOSSIP_NAME_MAX + 1]; /* PING, PING_REQ; SUSPECT/DEAD: node */
	char from[GOSSIP_NAME_MAX + 1];	/* SUSPECT, DEAD */
	struct sockaddr_storage addr;	/* PING_REQ target address */
	bool nack;			/* PING_REQ wants a nack */
	/* Network coordinates, both optional on the wire (older peers
	 * neither send nor read them): a PING's flags field (bit 0: put
	 * your coordinate in the ack), an ACK's coordinate (a bin, see
	 * gossip_coord_encode). An invalid one is dropped (coord_bad). */
	bool want_coord;		/* PING */
	bool has_coord, coord_bad;	/* ACK */
	struct gossip_coord coord;	/* ACK, when has_coord */
	uint32_t incarnation;		/* SUSPECT, DEAD */
	struct gossip_record rec;	/* ALIVE, LOAD, HEAD; PULL: name,
					 * incarnation, ep_version */
	uint32_t ep_count;		/* HEAD: endpoints of the record */
	/* PUSHPULL */
	bool pp_reply;
	bool pp_join;
	bool pp_digest;		/* records without endpoints (their count
				 * instead): newer ones are pulled */
	uint32_t pp_count;
	struct gossip_record *pp_recs;
	uint8_t *pp_states;
};

/* Decoded packet: envelope and its messages. */
#define GOSSIP_MSGS_MAX 64
struct gossip_packet {
	char label[GOSSIP_LABEL_MAX + 1];
	char sender[GOSSIP_NAME_MAX + 1];
	uint32_t incarnation;	/* the sender's */
	uint64_t seq;		/* its low 32 bits count (older senders sent 64) */
	uint32_t n_msgs;
	uint32_t n_unknown;	/* messages of unknown type, skipped */
	struct gossip_msg msgs[GOSSIP_MSGS_MAX];
	/* Endpoint and push-pull arrays; each is bounded by the bytes that
	 * carry it. Freed by gossip_packet_reset. */
	void *arena;
};

/* Encodes one message (without envelope) into buf. Returns the length or
 * AS_ESPACE / AS_EINVAL. */
int gossip_msg_encode(const struct gossip_msg *m, uint8_t *buf, size_t len);
/* Builds a plaintext envelope around already encoded messages; seq is
 * the low 32 bits of the sender's packet counter. */
int gossip_envelope_encode(const char *label, const char *sender, uint32_t incarnation,
			   uint32_t seq,
			   const uint8_t *const *msgs, const size_t *msg_lens,
			   size_t n_msgs, uint8_t *buf, size_t len);
/* Decodes a plaintext envelope (no outer header) into pkt, which must be
 * zeroed or reset. On failure returns a negative AS_* code and sets *why;
 * call gossip_packet_reset afterwards either way. */
int gossip_envelope_decode(const uint8_t *buf, size_t len,
			   struct gossip_packet *pkt, enum gossip_drop *why);
void gossip_packet_reset(struct gossip_packet *pkt);

/* ---- keyring -------------------------------------------------------- */

struct gossip_keyring;

struct gossip_keyring *gossip_keyring_new(void);
void gossip_keyring_free(struct gossip_keyring *kr);
size_t gossip_keyring_count(const struct gossip_keyring *kr);
/* Adds a key (AS_EEXIST if present, AS_ELIMIT if full). The first key
 * installed becomes the primary. */
int gossip_keyring_install(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN]);
/* Makes an installed key the primary (AS_ENOTFOUND if not installed). */
int gossip_keyring_use(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN]);
/* Removes a key; the primary cannot be removed (AS_ESTATE). */
int gossip_keyring_remove(struct gossip_keyring *kr, const uint8_t key[GOSSIP_KEY_LEN]);
/* Copies key i (0 = primary) out. AS_ENOTFOUND past the end. */
int gossip_keyring_get(const struct gossip_keyring *kr, size_t i,
		       uint8_t key[GOSSIP_KEY_LEN], bool *primary);
/* Base64 (standard, padded) form of a key, and back. */
void gossip_key_format(const uint8_t key[GOSSIP_KEY_LEN], char out[GOSSIP_KEY_B64_LEN]);
int gossip_key_parse(const char *b64, uint8_t key[GOSSIP_KEY_LEN]);
/* A fresh random key. */
void gossip_key_generate(uint8_t key[GOSSIP_KEY_LEN]);
/* Keyring file: one base64 key a line, the primary first, '#' comments.
 * Load refuses a file readable by group or others. On error, err gets a
 * human-readable reason (with the line number). */
int gossip_keyring_load(const char *path, struct gossip_keyring **out,
			char *err, size_t errlen);
/* Writes atomically (temp file, fsync, rename) with mode 0600. */
int gossip_keyring_save(const struct gossip_keyring *kr, const char *path);

/* Seals a plaintext envelope into a packet with the primary key (or just
 * adds the header when kr is NULL). Returns the packet length. */
int gossip_seal(struct gossip_keyring *kr, const char *label,
		const uint8_t *plain, size_t plain_len, uint8_t *out, size_t outlen);
/* Opens a packet: checks the header and tries every key. plain must hold
 * len bytes. Returns the plaintext length, or a negative code with *why. */
int gossip_open(const struct gossip_keyring *kr, bool allow_plaintext,
		const char *label, const uint8_t *pkt, size_t len,
		uint8_t *plain, size_t plainlen, enum gossip_drop *why);

/* Stream frame header (see the design note above): seals the header that
 * announces a packet of body_len bytes with the primary key (plaintext
 * when kr is NULL or empty). Returns the header length (46 or 6). */
int gossip_stream_hdr_seal(struct gossip_keyring *kr, const char *label,
			   uint32_t body_len, uint8_t *out, size_t outlen);
/* The length of a header from its first two bytes, under the same rules
 * as gossip_open (version, flags, plaintext allowed or not); a negative
 * code with *why if the frame is to be dropped. */
int gossip_stream_hdr_len(const struct gossip_keyring *kr, bool allow_plaintext,
			  const uint8_t hdr[2], enum gossip_drop *why);
/* Opens a whole header: *body_len gets the authenticated packet length. */
int gossip_stream_hdr_open(const struct gossip_keyring *kr, bool allow_plaintext,
			   const char *label, const uint8_t *hdr, size_t len,
			   uint32_t *body_len, enum gossip_drop *why);

/* ---- core ----------------------------------------------------------- */

struct gossip_config {
	const char *name;		/* this node's name (identity) */
	struct sockaddr_storage addr;	/* advertised gossip address */
	const char *label;		/* cluster label */
	const char *zone;		/* topology zone; NULL or "" = none */
	bool plaintext;			/* explicitly allow plaintext (no keys) */
	uint64_t seed;			/* PRNG seed for protocol decisions */
	uint32_t incarnation;		/* initial incarnation */
	uint64_t seq_base;		/* first packet sequence number; /1000:
					 * the wall clock (ms) for probe slots */

	uint32_t probe_interval_ms;	/* default 250: the probe slot */
	uint32_t probe_timeout_ms;	/* default 40 */
	uint32_t indirect_checks;	/* k, default 3 */
	uint32_t suspicion_mult;	/* default 4 */
	uint32_t suspicion_max_mult;	/* default 6 */
	uint32_t suspicion_min_ms;	/* floor of the suspicion timeout, 2200 */
	uint32_t lhm_max;		/* local health multiplier cap, default 8 */
	uint32_t gossip_interval_ms;	/* default 50 */
	uint32_t gossip_nodes;		/* default 3 */
	uint32_t retransmit_mult;	/* lambda, default 4 */
	uint32_t retransmit_min;	/* floor of the retransmit count, 12
					 * (not for factor moves) */
	uint32_t pushpull_interval_ms;	/* default 30000, scaled with N */
	uint32_t pushpull_max_bytes;	/* default 4 MiB */
	uint32_t rejoin_interval_ms;	/* default 60000 */
	uint32_t reconnect_interval_ms;	/* push-pull a dead member, 10000 (+-50 %) */
	uint32_t dead_retention_ms;	/* default 1 hour */
	uint32_t gossip_to_dead_ms;	/* default 30000 */
	double load_step;		/* factor grid and hysteresis, 0.05 */
	uint32_t load_refresh_ms;	/* republish utilisation, 30000 */
	uint32_t load_min_interval_ms;	/* one factor move per, 20000 ... */
	uint32_t load_burst;		/* ... after a burst of 3 */
	uint32_t queue_max;		/* broadcast queue cap, default 4096 */
	uint32_t max_endpoints;		/* endpoints held per member record
					 * (and announced by this node), 256 */
	/* Inbound streams (gossip_stream_*): */
	uint32_t stream_max_conns;	/* open at once, default 64 */
	uint32_t stream_max_per_source;	/* from one source prefix, default 8 */
	uint32_t stream_source_prefix;	/* IPv6 prefix length of a source, 128;
					 * IPv4 sources are whole addresses */
	uint32_t stream_hdr_timeout_ms;	/* accept to authenticated header, 1000 */
	uint32_t stream_timeout_ms;	/* accept to whole frame, 5000 */
};
/* Fills defaults (no zone); leaves name, addr and label untouched. */
void gossip_config_defaults(struct gossip_config *cfg);

enum gossip_transport {
	GOSSIP_TX_UDP = 0,
	GOSSIP_TX_STREAM = 1,	/* reliable, large: TCP in the daemon */
};

struct gossip_out {
	enum gossip_transport transport;
	struct sockaddr_storage to;
	uint8_t *data;
	size_t len;
};

/* Counters; by_type arrays are indexed by enum gossip_msg_type. */
struct gossip_metrics {
	uint64_t members[GOSSIP_STATE_COUNT];
	uint64_t msgs_in[GOSSIP_MSG_TYPE_COUNT], msgs_out[GOSSIP_MSG_TYPE_COUNT];
	uint64_t msg_bytes_in[GOSSIP_MSG_TYPE_COUNT], msg_bytes_out[GOSSIP_MSG_TYPE_COUNT];
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	/* UDP packets sent and their bytes by their first message (what
	 * the packet was sent for; a gossip round leads with its news). */
	uint64_t lead_packets[GOSSIP_MSG_TYPE_COUNT], lead_bytes[GOSSIP_MSG_TYPE_COUNT];
	uint64_t stream_in, stream_out, stream_bytes_in, stream_bytes_out;
	uint64_t auth_failures;
	/* The last of them: its source (AF_UNSPEC: none yet), when (the
	 * core's clock, ms) and why (auth, plaintext or encrypted). */
	struct sockaddr_storage auth_last_from;
	uint64_t auth_last_ms;
	enum gossip_drop auth_last_why;
	uint64_t drops[GOSSIP_DROP_COUNT];
	uint64_t suspicions_raised, suspicions_refuted; /* refuted: others' */
	uint64_t suspicions_cleared;	/* by our last-chance probe */
	uint64_t self_refutes;		/* times we refuted a claim about us */
	uint64_t deaths_declared;
	uint64_t stalls_detected;	/* woke up long past a deadline */
	uint64_t queue_superseded, queue_dropped;
	/* Records over max_endpoints: how many, and the endpoints left out. */
	uint64_t records_truncated, endpoints_dropped;
	/* Endpoint pulls (records too big for UDP): sent, answered for
	 * others, timed out (retried from the record's owner), and records
	 * fetched that way. */
	uint64_t pulls_sent, pulls_answered, pulls_timed_out, pulls_done;
	/* Network coordinates: RTT samples taken (direct acks to our
	 * probes), and coordinates dropped as invalid (NaN, infinite, out
	 * of range, bad length). */
	uint64_t rtt_samples, coords_rejected;
	uint64_t coord_bytes_out;	/* what they add to pings and acks */
	uint32_t lhm;			/* current local health multiplier */
	uint32_t streams_open;		/* inbound streams now */
	uint64_t streams_reserved;	/* bytes they may buffer, at most */
};

/* A member as seen by this node. Pointers stay valid until the next call
 * that changes the core. */
struct gossip_member {
	const struct gossip_record *rec;
	enum gossip_state state;
	uint64_t age_ms;		/* since the last update about it */
	uint64_t heard_ms;		/* since the last packet from it
					 * (UINT64_MAX: none yet) */
	bool self;
	/* Its last known network coordinate (ours for self, once we have
	 * taken a sample), NULL if none yet. */
	const struct gossip_coord *coord;
};

enum gossip_change_what {
	GOSSIP_CHANGE_JOIN = 1,
	GOSSIP_CHANGE_STATE = 2,
	GOSSIP_CHANGE_LOAD = 4,
	GOSSIP_CHANGE_ENDPOINTS = 8,
	GOSSIP_CHANGE_ADDR = 16,
	GOSSIP_CHANGE_REMOVED = 32,
};
typedef void (*gossip_change_cb)(void *arg, const struct gossip_member *m,
				 enum gossip_state old_state, unsigned what);

struct gossip_core;

/* Copies cfg; takes ownership of kr on success (NULL or empty only with
 * cfg->plaintext; otherwise AS_ECONFIG). */
int gossip_core_new(const struct gossip_config *cfg, struct gossip_keyring *kr,
		    uint64_t now, struct gossip_core **out);
void gossip_core_free(struct gossip_core *c);
struct gossip_keyring *gossip_core_keyring(struct gossip_core *c);
void gossip_core_set_change_cb(struct gossip_core *c, gossip_change_cb cb, void *arg);

/* Joins through seed addresses (push-pull); they are remembered for the
 * periodic rejoin. */
int gossip_core_join(struct gossip_core *c, uint64_t now,
		     const struct sockaddr_storage *seeds, size_t n);
/* Announces a graceful leave; keep ticking for a short while to send it. */
int gossip_core_leave(struct gossip_core *c, uint64_t now);
int gossip_core_set_load(struct gossip_core *c, uint64_t now,
			 const struct gossip_load *load);
int gossip_core_set_endpoints(struct gossip_core *c, uint64_t now,
			      const struct gossip_endpoint *eps, size_t n);
/* This node's topology zone ("" or NULL: none). A zone is fixed per
 * incarnation on the wire, so a change takes a new incarnation, as a
 * refutation does. AS_OK or AS_EINVAL (longer than GOSSIP_ZONE_MAX). */
int gossip_core_set_zone(struct gossip_core *c, uint64_t now, const char *zone);

/* Feeds one received packet (GOSSIP_TX_UDP) or whole stream frame
 * (GOSSIP_TX_STREAM). Drops are counted, never fatal: the return value is
 * AS_OK or the reason as a negative code, for tests and logs. */
int gossip_core_recv(struct gossip_core *c, uint64_t now,
		     enum gossip_transport tr, const struct sockaddr_storage *from,
		     const uint8_t *data, size_t len);
/* Runs every timer due at now. */
void gossip_core_tick(struct gossip_core *c, uint64_t now);
/* Absolute time of the next timer. */
uint64_t gossip_core_next_deadline(const struct gossip_core *c);

/* Packets to send, in order; valid until gossip_core_outbox_clear. A
 * GOSSIP_TX_STREAM entry is a whole stream frame (header and packet), and
 * gossip_core_recv takes it that way too. */
const struct gossip_out *gossip_core_outbox(const struct gossip_core *c, size_t *n);
void gossip_core_outbox_clear(struct gossip_core *c);

/* The cluster view, including this node. */
size_t gossip_core_member_count(const struct gossip_core *c);
int gossip_core_member_get(const struct gossip_core *c, size_t i, uint64_t now,
			   struct gossip_member *out);
int gossip_core_member_find(const struct gossip_core *c, const char *name,
			    uint64_t now, struct gossip_member *out);
/* Grows by one for every change the callback would report. */
uint64_t gossip_core_change_counter(const struct gossip_core *c);
void gossip_core_metrics(const struct gossip_core *c, struct gossip_metrics *out);

/* Authentication failures not reported yet, for a rate-limited log line
 * ("N packets from ADDR failed authentication"): how many, the source of
 * the first, whether some came from other hosts, the last reason. */
struct gossip_auth_report {
	uint64_t n;
	struct sockaddr_storage from;
	bool others;
	enum gossip_drop why;
};
/* True (and *out filled, the count reset) when there are any. */
bool gossip_core_auth_report(struct gossip_core *c, struct gossip_auth_report *out);
bool gossip_core_auth_pending(const struct gossip_core *c);
/* Network coordinates. The RTT of a probe is measured on the clock of
 * gossip_core_set_clock_us when the caller gives it (microseconds, the
 * same base as now; call it right before gossip_core_recv and
 * gossip_core_tick), else on now (ms). */
void gossip_core_set_clock_us(struct gossip_core *c, uint64_t now_us);
const struct gossip_coord_self *gossip_core_coord(const struct gossip_core *c);
/* The wall clock (ms) at now. The probe slots follow it: the core takes
 * it from seq_base when it is made, and a caller that reads the clock
 * passes it again (the libuv adapter does before every tick), so a clock
 * stepped after the start (NTP) realigns the slots once three calls in a
 * row agree on the new offset; a difference under a quarter of a slot is
 * jitter and changes nothing. */
void gossip_core_set_wall_ms(struct gossip_core *c, uint64_t now, uint64_t wall_ms);
/* Where in every probe slot this node sends its ping: ms after the
 * slot's start, from a hash of its name (spreads a cluster's probes over
 * the slot's first half). */
uint64_t gossip_core_probe_phase(const struct gossip_core *c);
/* Estimated RTT (ms) from this node to member name (0 to itself): AS_OK,
 * AS_ENOTFOUND, or AS_EAGAIN when its coordinate or ours is not known
 * yet. */
int gossip_core_rtt_estimate(const struct gossip_core *c, const char *name, double *rtt_ms);
/* Members that are alive or suspect, this node included. */
size_t gossip_core_live_count(const struct gossip_core *c);

/* ---- inbound streams ------------------------------------------------ */

/* The largest packet a stream frame may announce: what the sender's
 * push-pull cap lets it send, pushpull_max_bytes + GOSSIP_CRYPTO_OVERHEAD.
 * All inbound streams together reserve at most 4 times that. */
size_t gossip_stream_frame_max(const struct gossip_config *cfg);
size_t gossip_stream_budget(const struct gossip_config *cfg);

/* One inbound stream connection carrying one frame, read incrementally:
 * the header first (authenticated before anything else is reserved), then
 * the packet into a buffer that grows with what has arrived. The core
 * counts every stream it refuses or drops in its drop counters. */
struct gossip_stream;

/* Admits a connection from `from`: AS_ELIMIT (counted as conn-limit or
 * source-limit) when the caps are reached; the caller closes it then.
 * Every stream is closed before its core is freed. */
int gossip_stream_open(struct gossip_core *c, uint64_t now,
		       const struct sockaddr_storage *from, struct gossip_stream **out);
/* Where the next received bytes go, and at most how many: never past the
 * end of the frame. AS_ENOMEM if the buffer cannot grow. */
int gossip_stream_buf(struct gossip_stream *s, uint8_t **p, size_t *len);
/* n bytes arrived in the buffer gossip_stream_buf gave. Returns AS_OK while
 * more are wanted, GOSSIP_STREAM_DONE once the frame went to the core
 * (send what it queued), or a negative code: drop the connection (the
 * reason is counted already). */
#define GOSSIP_STREAM_DONE 1
int gossip_stream_feed(struct gossip_stream *s, uint64_t now, size_t n);
/* When the stream must be complete: the header deadline until the header
 * is authenticated, then the frame deadline. */
uint64_t gossip_stream_deadline(const struct gossip_stream *s);
/* Call when the deadline passed: true (counted as timeout) if the stream
 * is to be closed. A wake-up far past the deadline (a stalled process) gets
 * one short grace instead, for data that may be waiting unread. */
bool gossip_stream_expired(struct gossip_stream *s, uint64_t now);
/* Buffer bytes the stream holds now (tests, accounting). */
size_t gossip_stream_buffered(const struct gossip_stream *s);
/* Ends the stream (frees it; s may be NULL). One that ended before its
 * frame was complete and was not dropped already counts as short. */
void gossip_stream_close(struct gossip_stream *s);

/* ---- libuv transport ------------------------------------------------- */

struct uv_loop_s;
struct gossip_uv;

/* Binds UDP and TCP on bind_addr, runs the core on loop. The adapter owns
 * the core afterwards. */
int gossip_uv_new(struct uv_loop_s *loop, const struct sockaddr_storage *bind_addr,
		  struct gossip_core *core, struct gossip_uv **out);
struct gossip_core *gossip_uv_core(struct gossip_uv *u);
/* Call after using the core directly (join, set_load, ...) to send what
 * it queued and re-arm the timer. */
void gossip_uv_kick(struct gossip_uv *u);
/* Closes handles; cb runs once everything is closed and freed. */
void gossip_uv_close(struct gossip_uv *u, void (*cb)(void *arg), void *arg);

#endif
