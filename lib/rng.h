/*
 * lib/rng.h - the project's one pseudo-random generator, for protocol and
 * policy decisions (answer sampling, probe order, retry jitter, test
 * schedules). Never for keys or nonces: those come from libsodium or
 * getrandom().
 *
 * Design: xoshiro256** (Blackman and Vigna), seeded by expanding one
 * 64-bit seed with splitmix64, which never yields the all-zero state from
 * four outputs. This is the generator the DNS answer policy has always
 * used, bit for bit, so a seeded stream (and the answer distribution the
 * tests assert) does not change when a module switches to it. Bounded
 * numbers use Lemire's multiply-and-reject (no modulo bias, one multiply
 * in the common case). Everything is inline: the DNS workers draw once
 * per sampled endpoint and must not pay a call. A generator is 32 bytes,
 * owned by one thread; there is no shared state.
 *
 * as_splitmix64() is exposed as well: it is the seeder, and on its own a
 * fine one-word generator where a module keeps a single uint64_t of state
 * and its seeded runs must stay as recorded (the gossip core and the
 * simulator, whose benchmark results docs/gossip.md lists).
 */
#ifndef ANYSTEER_LIB_RNG_H
#define ANYSTEER_LIB_RNG_H

#include <stdint.h>

struct as_rng {
	uint64_t s[4];
};

/* Advances *x and returns the next splitmix64 output. */
static inline uint64_t as_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Any seed, 0 included, gives a valid state; equal seeds, equal streams. */
static inline void as_rng_seed(struct as_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = as_splitmix64(&seed);
}

static inline uint64_t as_rng_rotl_(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t as_rng_next(struct as_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = as_rng_rotl_(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = as_rng_rotl_(s[3], 45);
	return result;
}

/* Uniform integer in [0, bound); 0 when bound is 0. */
static inline uint64_t as_rng_below(struct as_rng *r, uint64_t bound)
{
	unsigned __int128 m = (unsigned __int128)as_rng_next(r) * bound;
	uint64_t low = (uint64_t)m;

	if (low < bound) {
		uint64_t threshold = -bound % bound;
		while (low < threshold) {
			m = (unsigned __int128)as_rng_next(r) * bound;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Uniform double in (0, 1] from 53 random bits: never 0, so -log(u) is
 * finite (exponential inter-arrival times). */
static inline double as_rng_unit(struct as_rng *r)
{
	return (double)((as_rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

#endif
