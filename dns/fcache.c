/*
 * dns/fcache.c - the cache of forwarded answers (design in forward.h): a
 * hash table of entries on one LRU list, bounded in bytes. An entry lives
 * until the byte bound pushes it out from the cold end, or until it is
 * found expired beyond the stale window; an expired entry still serves
 * stale answers (RFC 8767) when every upstream has failed.
 */
#include <stdlib.h>
#include <string.h>

#include "dns/forward.h"
#include "lib/as.h"
#include "lib/hash.h"
#include "lib/list.h"

struct fentry {
	struct as_list lru;	/* front = most recently used */
	struct fentry *next;	/* hash chain */
	uint64_t hash;
	uint64_t stored_ms, expires_ms;
	size_t size;		/* what it counts against max_bytes */
	struct dns_fwd_msg *m;
	size_t klen;
	uint8_t key[];
};

struct dns_fcache {
	size_t max_bytes;
	struct fentry **bucket;
	size_t n_bucket;	/* a power of two */
	struct as_list lru;
	struct dns_fcache_stats st;
};

int dns_fcache_new(size_t max_bytes, dns_fcache_t **out)
{
	dns_fcache_t *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return AS_ENOMEM;
	c->max_bytes = max_bytes;
	c->n_bucket = 256;
	c->bucket = calloc(c->n_bucket, sizeof(*c->bucket));
	if (!c->bucket) {
		free(c);
		return AS_ENOMEM;
	}
	as_list_init(&c->lru);
	*out = c;
	return AS_OK;
}

static void entry_free(struct fentry *e)
{
	dns_fwd_msg_free(e->m);
	free(e);
}

void dns_fcache_free(dns_fcache_t *c)
{
	struct as_list *n, *tmp;

	if (!c)
		return;
	AS_LIST_FOREACH_SAFE(n, tmp, &c->lru)
		entry_free(AS_LIST_ENTRY(n, struct fentry, lru));
	free(c->bucket);
	free(c);
}

static struct fentry **slot(dns_fcache_t *c, uint64_t hash,
			    const uint8_t *key, size_t klen)
{
	struct fentry **p = &c->bucket[hash & (c->n_bucket - 1)];

	for (; *p; p = &(*p)->next)
		if ((*p)->hash == hash && (*p)->klen == klen &&
		    memcmp((*p)->key, key, klen) == 0)
			break;
	return p;
}

static void unlink_entry(dns_fcache_t *c, struct fentry *e)
{
	struct fentry **p = slot(c, e->hash, e->key, e->klen);

	if (*p == e)
		*p = e->next;
	as_list_remove(&e->lru);
	c->st.entries--;
	c->st.bytes -= e->size;
}

/* Doubles the table when it holds more entries than buckets; a failed
 * allocation only leaves the chains longer. */
static void maybe_grow(dns_fcache_t *c)
{
	if (c->st.entries < c->n_bucket || c->n_bucket > (SIZE_MAX >> 2))
		return;
	size_t n = c->n_bucket * 2;
	struct fentry **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < c->n_bucket; i++) {
		struct fentry *e = c->bucket[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->bucket);
	c->bucket = b;
	c->n_bucket = n;
}

void dns_fcache_put(dns_fcache_t *c, const uint8_t *key, size_t klen,
		    struct dns_fwd_msg *m, uint64_t now_ms)
{
	size_t size = sizeof(struct fentry) + klen + sizeof(*m) +
		      m->n_ttl * (sizeof(uint16_t) + sizeof(uint32_t)) +
		      m->rr_len;
	uint64_t hash = as_hash_mix64(as_fnv1a64(key, klen));
	struct fentry **p, *e;

	if (!m->ttl || size > c->max_bytes)
		goto drop;
	p = slot(c, hash, key, klen);
	if (*p) {
		e = *p;
		unlink_entry(c, e);
		entry_free(e);
	}
	while (c->st.bytes + size > c->max_bytes) {
		struct as_list *cold = as_list_last(&c->lru);
		e = AS_LIST_ENTRY(cold, struct fentry, lru);
		unlink_entry(c, e);
		entry_free(e);
		c->st.evictions++;
	}
	e = malloc(sizeof(*e) + klen);
	if (!e)
		goto drop;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, klen);
	e->klen = klen;
	e->hash = hash;
	e->m = m;
	e->size = size;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)m->ttl * 1000;
	p = &c->bucket[hash & (c->n_bucket - 1)];
	e->next = *p;
	*p = e;
	as_list_push_front(&c->lru, &e->lru);
	c->st.entries++;
	c->st.bytes += size;
	c->st.inserts++;
	maybe_grow(c);
	return;
drop:
	dns_fwd_msg_free(m);
}

const struct dns_fwd_msg *dns_fcache_get(dns_fcache_t *c, const uint8_t *key,
					 size_t klen, uint64_t now_ms,
					 bool allow_stale, uint32_t stale_s,
					 uint32_t *age_s, bool *stale)
{
	uint64_t hash = as_hash_mix64(as_fnv1a64(key, klen));
	struct fentry *e = *slot(c, hash, key, klen);

	*stale = false;
	*age_s = 0;
	if (!e)
		goto miss;
	if (now_ms >= e->expires_ms) {
		if (now_ms - e->expires_ms >= (uint64_t)stale_s * 1000) {
			unlink_entry(c, e);
			entry_free(e);
			goto miss;
		}
		if (!allow_stale)
			goto miss;
		*stale = true;
		c->st.stale_hits++;
	} else {
		c->st.hits++;
	}
	*age_s = (uint32_t)((now_ms - e->stored_ms) / 1000);
	as_list_push_front(&c->lru, &e->lru);
	return e->m;
miss:
	if (!allow_stale)
		c->st.misses++;
	return NULL;
}

void dns_fcache_stats(const dns_fcache_t *c, struct dns_fcache_stats *out)
{
	*out = c->st;
}
