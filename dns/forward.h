/*
 * dns/forward.h - forwarding names outside the zone to recursive
 * resolvers, the pure part; internal to the DNS module.
 *
 * Design. A worker that gets a query for a name outside the zone from a
 * client that may recurse hands it to its forwarder; sockets and timers
 * stay in the worker, and every decision is made here, over bytes and
 * time, so it is unit-tested and fuzzed like dns_answer():
 *
 *  - which upstream to ask: the lowest smoothed RTT among those not yet
 *    tried for this query, with a small chance of another so that a
 *    recovered upstream is found again, and a timeout counting as a long
 *    RTT (the scheme BIND and unbound use);
 *  - what to send: a fresh ID, the name with its letters' case randomised
 *    (0x20, draft-vixie-dnsext-dns0x20), RD set, EDNS with the 1232-byte
 *    buffer of DNS Flag Day 2020, DO and CD as the client sent them;
 *  - whether a response answers it: QR set, the same ID, one question
 *    with the exact name bytes sent (case included), type and class;
 *    anything else is dropped and counted by reason (a spoofing attempt
 *    or a late answer);
 *  - what may be cached and for how long: positive answers for the lowest
 *    TTL of the answer and authority sections, negative ones (NXDOMAIN,
 *    NODATA) for min(SOA TTL, SOA MINIMUM) of the SOA in the authority
 *    section (RFC 2308 section 5; without a SOA they are not cached),
 *    both capped; truncated answers and other rcodes are never cached;
 *  - the reply each client gets, from a fresh or a cached answer: its own
 *    ID, question (its case) and flags, TTLs counted down by the answer's
 *    age (30 s for a stale answer, RFC 8767), its own EDNS buffer size,
 *    and TC with an empty answer when the records do not fit.
 *
 * A parsed answer keeps its records as the upstream wrote them, minus its
 * OPT record, which must come last (as every common server writes it):
 * compressed names point into the question, whose offset and length are
 * the same in every reply built from it, so the bytes are reused without
 * decompressing them. The cache is per worker: no lock on any path, at the
 * price of one upstream query per worker for a popular name.
 */
#ifndef ANYSTEER_DNS_FORWARD_H
#define ANYSTEER_DNS_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"
#include "lib/rng.h"

#define DNS_FWD_EDNS_SIZE 1232	/* what we advertise upstream */
#define DNS_FWD_STALE_TTL 30	/* TTL of a stale answer (RFC 8767 4) */
/* Lower-case name, type, class, DO and CD. */
#define DNS_FWD_KEY_MAX (DNS_NAME_MAX + 5)

/* The parts of a client's query that its reply needs. */
struct dns_fwd_client {
	uint16_t id;
	bool rd, cd, ad, do_bit, edns;
	uint16_t udp_size;		/* its EDNS buffer; 512 without EDNS */
	uint8_t qname[DNS_NAME_MAX];	/* wire form, as the client wrote it */
	uint8_t qname_len;
	uint16_t qtype, qclass;
};

/* Reads a query that dns_answer() judged well-formed: AS_OK, or
 * AS_EMALFORMED for anything this path does not forward (no or several
 * questions, a compressed question name, opcode other than QUERY). */
int dns_fwd_client_parse(const uint8_t *query, size_t len,
			 struct dns_fwd_client *out);

/* The cache key of a client's question; returns its length. */
size_t dns_fwd_key(const struct dns_fwd_client *c,
		   uint8_t key[DNS_FWD_KEY_MAX]);

/* What was sent upstream, to check the response against. */
struct dns_fwd_sent {
	uint16_t id;
	bool case_exact;		/* 0x20 was used: compare case too */
	uint8_t qname[DNS_NAME_MAX];
	uint8_t qname_len;
	uint16_t qtype, qclass;
};

/* Writes the upstream query for c with ID id; rng non-NULL randomises the
 * case of the name's letters. Fills *sent. AS_OK or AS_ESPACE. */
int dns_fwd_query_build(const struct dns_fwd_client *c, uint16_t id,
			struct as_rng *rng, uint8_t *out, size_t cap,
			size_t *len, struct dns_fwd_sent *sent);

/* Why a response was not taken. */
enum dns_fwd_bad {
	DNS_FWD_OK = 0,
	DNS_FWD_BAD_MALFORMED,	/* does not parse, or OPT not last */
	DNS_FWD_BAD_ID,		/* not our ID: stray or spoofed */
	DNS_FWD_BAD_QUESTION,	/* not the question sent: spoofed */
	DNS_FWD_BAD_NOT_RESPONSE,	/* QR clear or opcode not QUERY */
	DNS_FWD_BAD_COUNT
};
const char *dns_fwd_bad_name(enum dns_fwd_bad why);

/* A parsed upstream answer (one allocation; dns_fwd_msg_free). */
struct dns_fwd_msg {
	uint8_t rcode;
	bool tc, aa, ad;
	bool negative;		/* NXDOMAIN or NODATA */
	uint32_t ttl;		/* seconds it may be cached; 0 = not cacheable */
	uint16_t count[3];	/* answer, authority, additional (no OPT) */
	size_t qlen;		/* header + question: where rr[] starts */
	size_t rr_len;
	size_t n_ttl;
	uint16_t *ttl_off;	/* offset in rr[] of each record's TTL */
	uint32_t *ttl_val;	/* and its value as received */
	uint8_t *rr;
};

/* Limits a cached answer's lifetime. */
struct dns_fwd_ttl_limits {
	uint32_t max;		/* positive answers */
	uint32_t neg_max;	/* NXDOMAIN / NODATA */
};

/* Checks resp against sent and parses it: AS_OK and *out, or
 * AS_EMALFORMED / AS_EPROTO with *why set. */
int dns_fwd_parse(const uint8_t *resp, size_t len,
		  const struct dns_fwd_sent *sent,
		  const struct dns_fwd_ttl_limits *lim,
		  struct dns_fwd_msg **out, enum dns_fwd_bad *why);
void dns_fwd_msg_free(struct dns_fwd_msg *m);	/* NULL ok */

/* The reply to client c from m, age_s seconds after m arrived; stale
 * gives every record DNS_FWD_STALE_TTL. tcp lifts the size limit to
 * 65535. Sets TC (records dropped) when they do not fit. AS_OK or
 * AS_ESPACE (cap below a question). */
int dns_fwd_reply(const struct dns_fwd_msg *m, const struct dns_fwd_client *c,
		  uint32_t age_s, bool stale, bool tcp, uint8_t *out,
		  size_t cap, size_t *len);

/* SERVFAIL (every upstream failed) or REFUSED for c, with its question
 * and EDNS; ra says whether recursion is available to it. */
int dns_fwd_error_reply(const struct dns_fwd_client *c, uint8_t rcode,
			bool ra, uint8_t *out, size_t cap, size_t *len);

/* ---- upstream choice ---------------------------------------------------- */

struct dns_fwd_upstream {
	uint32_t srtt_us;	/* smoothed RTT; 0 = never measured */
	uint64_t queries, answers, timeouts;
};

/* Index of the upstream to ask next among n, skipping those with
 * tried[i]; n when all were tried. Decays the others' SRTT a little, so
 * one penalised long ago is tried again. */
size_t dns_fwd_pick(struct dns_fwd_upstream *u, size_t n, const bool *tried,
		    struct as_rng *rng);
void dns_fwd_rtt(struct dns_fwd_upstream *u, uint32_t rtt_us);
void dns_fwd_timeout(struct dns_fwd_upstream *u, uint32_t timeout_us);

/* ---- cache -------------------------------------------------------------- */

typedef struct dns_fcache dns_fcache_t;

struct dns_fcache_stats {
	uint64_t entries, bytes, hits, stale_hits, misses, inserts,
		evictions;
};

/* max_bytes bounds the memory of entries (keys, records, bookkeeping). */
int dns_fcache_new(size_t max_bytes, dns_fcache_t **out);
void dns_fcache_free(dns_fcache_t *c);	/* NULL ok */
/* Takes m in every case: stores it under key, replacing an older entry,
 * or frees it (not cacheable, or larger than the whole cache). */
void dns_fcache_put(dns_fcache_t *c, const uint8_t *key, size_t klen,
		    struct dns_fwd_msg *m, uint64_t now_ms);
/* The entry for key: fresh, or expired by at most stale_s seconds (then
 * *stale); NULL otherwise. *age_s is its age. The pointer is valid until
 * the next put. A stale entry is returned only if allow_stale. */
const struct dns_fwd_msg *dns_fcache_get(dns_fcache_t *c, const uint8_t *key,
					 size_t klen, uint64_t now_ms,
					 bool allow_stale, uint32_t stale_s,
					 uint32_t *age_s, bool *stale);
void dns_fcache_stats(const dns_fcache_t *c, struct dns_fcache_stats *out);

#endif
