/*
 * lib/hash.h - the non-cryptographic hash of the project's own tables
 * (DNS names in a view, gossip member names, YAML anchors).
 *
 * Design: FNV-1a over bytes, in a 32-bit form for tables indexed by a
 * uint32_t and a 64-bit form, plus a mixing step (as_hash_mix64, the first
 * round of murmur3's finaliser) for a table indexed by the low bits:
 * FNV's low bits depend only on the input's low bits. Inline, because the DNS lookup hashes every query
 * name. None of this resists an attacker choosing keys to collide; a
 * table keyed by attacker input (the per-source connection table) keeps
 * a keyed hash (libsodium's shorthash).
 */
#ifndef ANYSTEER_LIB_HASH_H
#define ANYSTEER_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t as_fnv1a32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static inline uint64_t as_fnv1a64(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Spreads the high bits over the low ones (one round of murmur3's fmix64). */
static inline uint64_t as_hash_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

#endif
