/*
 * dns/rrl.h - response rate limiting (RRL) for UDP replies, as NSD and
 * Knot do it; internal to the DNS module (the configuration is struct
 * dns_rrl_config in dns.h).
 *
 * Design. A reply is classified from its own bytes, as Knot classifies a
 * response: its source prefix (ipv6_prefix_length / ipv4_prefix_length
 * bits of the client address), a class (normal, empty, large, ANY,
 * NXDOMAIN, error) and a name: the question name, except for NXDOMAIN
 * and errors, which share one bucket per prefix (Knot uses the zone
 * there: a flood of random names must not get a bucket per name). The
 * three are hashed with SipHash and a secret key, so a client cannot aim
 * its queries at one slot of the table.
 *
 * Each bucket is a token bucket: tokens refill at the per-worker rate
 * and hold at most rate x window, so an idle source may burst rate x
 * window replies and a flood gets rate replies per second after that.
 * A reply that finds no token is dropped, except every slip-th one,
 * which is sent truncated (TC=1, no records) so that a real resolver
 * behind a spoofed prefix retries over TCP, which cannot be spoofed.
 *
 * The table is fixed (table_size buckets, allocated once): a key probes
 * RRL_PROBE slots from its hash; a bucket idle for a whole window holds
 * a full bucket anyway and is reused as if new. When every probed slot
 * is in use within the window, the new key shares the least recently
 * used one (its tokens limit both) instead of evicting it: a flood from
 * many prefixes then limits more coarsely, but never resets a limited
 * bucket to full.
 *
 * One table per worker, touched only by the worker's thread: no locks.
 * The kernel spreads a source over the workers by SO_REUSEPORT (its
 * address and port), so each worker gets rate / workers: together they
 * send a prefix at most the configured rate. The price: a client that
 * always uses one source port reaches one worker and gets rate / workers;
 * resolvers randomise source ports (RFC 5452) and spread like floods.
 * Time is passed in; nothing here reads a clock or a socket.
 */
#ifndef ANYSTEER_DNS_RRL_H
#define ANYSTEER_DNS_RRL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns.h"

typedef struct dns_rrl dns_rrl_t;

enum dns_rrl_action {
	DNS_RRL_PASS,		/* send the reply as it is */
	DNS_RRL_DROP,		/* send nothing */
	DNS_RRL_SLIP,		/* send it truncated (dns_rrl_slip) */
};

/* A table for one of n_workers workers (the rate is shared by them).
 * AS_EINVAL for a configuration dns_rrl_config_problem() rejects,
 * AS_ENOMEM. */
int dns_rrl_new(const struct dns_rrl_config *cfg, unsigned n_workers,
		const uint8_t key[16], dns_rrl_t **out);
void dns_rrl_free(dns_rrl_t *rrl);		/* NULL ok */

/* Decides for one reply (len bytes) to peer at now_ns (any monotonic
 * clock). Peers of other families and replies too short to classify
 * pass. */
enum dns_rrl_action dns_rrl_check(dns_rrl_t *rrl,
				  const struct sockaddr_storage *peer,
				  const uint8_t *reply, size_t len,
				  uint64_t now_ns);

/* Cuts reply down to its header and question with TC=1 and no records
 * (the header alone when the question cannot be read); returns the new
 * length. */
size_t dns_rrl_slip(uint8_t *reply, size_t len);

#endif
