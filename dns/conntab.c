/*
 * dns/conntab.c - per-worker TCP connection limits and eviction order.
 * See dns/conntab.h for the policy; this file is its bookkeeping.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dns/conntab.h"
#include "lib/as.h"

/* ---- lists --------------------------------------------------------------- */

static struct as_list *table_list(struct dns_conntab *t, bool idle)
{
	return idle ? &t->idle : &t->busy;
}

static struct as_list *prefix_list(struct dns_ct_prefix *p, bool idle)
{
	return idle ? &p->idle : &p->busy;
}

/* ---- prefixes ------------------------------------------------------------- */

/* The masked address of peer with a family tag; false for other families.
 * IPv4-mapped IPv6 peers count as IPv4. */
static bool prefix_key(const struct dns_conntab *t,
		       const struct sockaddr_storage *peer, uint8_t key[17])
{
	const uint8_t *a;
	unsigned bits, len;

	memset(key, 0, 17);
	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a = s6->sin6_addr.s6_addr + 12;
			len = 4;
			bits = t->lim.len4;
		} else {
			a = s6->sin6_addr.s6_addr;
			len = 16;
			bits = t->lim.len6;
		}
	} else if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)peer;
		a = (const uint8_t *)&s4->sin_addr.s_addr;
		len = 4;
		bits = t->lim.len4;
	} else {
		return false;
	}
	key[0] = (uint8_t)len;
	for (unsigned i = 0; i < len && bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		key[1 + i] = (uint8_t)(a[i] & (0xFF00u >> take));
		bits -= take;
	}
	return true;
}

static uint32_t prefix_hash(const struct dns_conntab *t, const uint8_t key[17])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint32_t v;

	crypto_shorthash(h, key, 17, t->hash_key);
	memcpy(&v, h, sizeof(v));
	return v & t->mask;
}

static struct dns_ct_prefix *prefix_find(const struct dns_conntab *t,
					 const uint8_t key[17])
{
	for (struct dns_ct_prefix *p = t->bucket[prefix_hash(t, key)]; p;
	     p = p->next)
		if (memcmp(p->key, key, 17) == 0)
			return p;
	return NULL;
}

/* ---- table ---------------------------------------------------------------- */

int dns_conntab_init(struct dns_conntab *t,
		     const struct dns_conntab_limits *lim,
		     const uint8_t hash_key[16])
{
	uint32_t nb = 16;

	memset(t, 0, sizeof(*t));
	as_list_init(&t->idle);
	as_list_init(&t->busy);
	if (!lim->max || !lim->max_per_prefix || lim->len6 > 128 ||
	    lim->len4 > 32)
		return AS_EINVAL;
	if (sodium_init() < 0)
		return AS_ELIB;
	t->lim = *lim;
	if (t->lim.max_per_prefix > t->lim.max)
		t->lim.max_per_prefix = t->lim.max;
	while (nb < lim->max && nb < (1u << 30))
		nb *= 2;
	t->pool = calloc(lim->max, sizeof(*t->pool));
	t->bucket = calloc(nb, sizeof(*t->bucket));
	if (!t->pool || !t->bucket) {
		dns_conntab_fini(t);
		return AS_ENOMEM;
	}
	t->mask = nb - 1;
	for (uint32_t i = lim->max; i-- > 0;) {
		t->pool[i].next = t->free;
		t->free = &t->pool[i];
	}
	memcpy(t->hash_key, hash_key, sizeof(t->hash_key));
	return AS_OK;
}

void dns_conntab_fini(struct dns_conntab *t)
{
	free(t->pool);
	free(t->bucket);
	memset(t, 0, sizeof(*t));
	as_list_init(&t->idle);
	as_list_init(&t->busy);
}

/* The oldest connection of the table's order pair: idle first. */
static struct dns_ct_entry *oldest_all(const struct dns_conntab *t)
{
	struct as_list *n = as_list_first(&t->idle);

	if (!n)
		n = as_list_first(&t->busy);
	return n ? AS_LIST_ENTRY(n, struct dns_ct_entry, all) : NULL;
}

/* The same for one prefix. */
static struct dns_ct_entry *oldest_same(const struct dns_ct_prefix *p)
{
	struct as_list *n = as_list_first(&p->idle);

	if (!n)
		n = as_list_first(&p->busy);
	return n ? AS_LIST_ENTRY(n, struct dns_ct_entry, same) : NULL;
}

struct dns_ct_entry *dns_conntab_victim(struct dns_conntab *t,
					const struct sockaddr_storage *peer)
{
	uint8_t key[17];

	if (prefix_key(t, peer, key)) {
		struct dns_ct_prefix *p = prefix_find(t, key);
		if (p && p->n >= t->lim.max_per_prefix)
			return oldest_same(p);
	}
	if (t->n >= t->lim.max)
		return oldest_all(t);
	return NULL;
}

int dns_conntab_add(struct dns_conntab *t, struct dns_ct_entry *e,
		    const struct sockaddr_storage *peer)
{
	uint8_t key[17];
	struct dns_ct_prefix *p;

	if (!prefix_key(t, peer, key))
		return AS_EINVAL;
	if (t->n >= t->lim.max)
		return AS_ERANGE;
	p = prefix_find(t, key);
	if (p && p->n >= t->lim.max_per_prefix)
		return AS_ERANGE;
	if (!p) {
		/* n < max connections, so fewer than max prefixes are in use. */
		p = t->free;
		t->free = p->next;
		memset(p, 0, sizeof(*p));
		as_list_init(&p->idle);
		as_list_init(&p->busy);
		memcpy(p->key, key, sizeof(p->key));
		uint32_t h = prefix_hash(t, key);
		p->next = t->bucket[h];
		t->bucket[h] = p;
	}
	memset(e, 0, sizeof(*e));
	e->prefix = p;
	e->idle = true;
	e->in_table = true;
	as_list_push_back(&t->idle, &e->all);
	as_list_push_back(&p->idle, &e->same);
	p->n++;
	t->n++;
	return AS_OK;
}

void dns_conntab_remove(struct dns_conntab *t, struct dns_ct_entry *e)
{
	struct dns_ct_prefix *p = e->prefix;

	if (!e->in_table)
		return;
	as_list_remove(&e->all);
	as_list_remove(&e->same);
	e->in_table = false;
	e->prefix = NULL;
	t->n--;
	if (--p->n)
		return;
	/* Last connection of the prefix: unchain it and free the entry. */
	struct dns_ct_prefix **pp = &t->bucket[prefix_hash(t, p->key)];
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	p->next = t->free;
	t->free = p;
}

void dns_conntab_update(struct dns_conntab *t, struct dns_ct_entry *e,
			bool idle)
{
	if (!e->in_table || (!idle && !e->idle))
		return;
	e->idle = idle;
	as_list_push_back(table_list(t, idle), &e->all);
	as_list_push_back(prefix_list(e->prefix, idle), &e->same);
}

struct dns_ct_entry *dns_conntab_oldest_idle(const struct dns_conntab *t)
{
	struct as_list *n = as_list_first(&t->idle);

	return n ? AS_LIST_ENTRY(n, struct dns_ct_entry, all) : NULL;
}

uint32_t dns_conntab_prefix_count(const struct dns_conntab *t,
				  const struct sockaddr_storage *peer)
{
	uint8_t key[17];
	const struct dns_ct_prefix *p;

	if (!prefix_key(t, peer, key) || !(p = prefix_find(t, key)))
		return 0;
	return p->n;
}
