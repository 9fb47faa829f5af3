/*
 * gossip/internal.h - declarations shared by the files of gossip/ only.
 */
#ifndef ANYSTEER_GOSSIP_INTERNAL_H
#define ANYSTEER_GOSSIP_INTERNAL_H

#include "gossip/gossip.h"

/* Load values travel as integers in 1/GOSSIP_QUANT steps. */
#define GOSSIP_QUANT 100

#define GOSSIP_HDR_LEN 2
#define GOSSIP_FLAG_ENCRYPTED 0x01
#define GOSSIP_NONCE_LEN 24		/* XChaCha20-Poly1305's nonce */
#define GOSSIP_NONCE_PREFIX 12		/* random per key epoch (crypto.c) */
#define GOSSIP_PKT_NONCE_LEN 16		/* prefix and counter: a packet's */
#define GOSSIP_TAG_LEN 16

/* Tests: moves the nonce counter (to see it wrap without 2^32 packets). */
void gossip_keyring_nonce_skip(struct gossip_keyring *kr, uint32_t ctr);

size_t gossip_envelope_overhead(const char *label, const char *sender);

/* core.c's side of the inbound streams (stream.c). */
struct gossip_stream_acct {
	struct gossip_stream *head;	/* open streams */
	uint32_t n;
	size_t reserved;		/* body bytes they announced */
};
struct gossip_stream_acct *gossip_core_stream_acct(struct gossip_core *c);
const struct gossip_config *gossip_core_config(const struct gossip_core *c);
/* Counts a drop (and an authentication failure where the reason is one,
 * with its source; from may be NULL for other reasons). */
void gossip_core_count_drop(struct gossip_core *c, enum gossip_drop why,
			    const struct sockaddr_storage *from);
/* Counts stream frames (headers read whole) and bytes received. */
void gossip_core_count_stream(struct gossip_core *c, uint64_t frames, uint64_t bytes);
/* Feeds a stream frame's packet, its header already checked. */
int gossip_core_recv_body(struct gossip_core *c, uint64_t now,
			  const struct sockaddr_storage *from, const uint8_t *data, size_t len);

#endif
