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
#define GOSSIP_NONCE_LEN 24
#define GOSSIP_TAG_LEN 16

size_t gossip_envelope_overhead(const char *label, const char *sender);

#endif
