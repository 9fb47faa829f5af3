/*
 * dns/conntab.h - internal to the DNS module: one worker's table of TCP
 * connections, its limits and whom to close when a new client comes.
 *
 * Design. A DNS server cannot tell a slow client from an attacker that
 * holds connections open, so it must never run out of slots: when a new
 * connection would exceed a limit, the oldest connection that the limit
 * counts is closed instead of the new one being refused (RFC 7766 6.2.3
 * lets a server close any connection to free resources; the client of a
 * closed idle connection simply reconnects). Two limits apply:
 *
 *  - per worker: at most `max` connections;
 *  - per client prefix: at most `max_per_prefix` connections from one
 *    IPv6 /len6 (default /64, one site or host) or IPv4 /len4 (default
 *    /32). A new connection from a prefix at its limit closes that
 *    prefix's own oldest connection, so one source can crowd out only
 *    itself.
 *
 * "Oldest" prefers idle connections (nothing buffered in either
 * direction, and at least one message received: a new connection is busy
 * until its first query has come) in least-recently-active order; only when none is idle does
 * the connection that has been busy (a message half received, or replies
 * the client does not read) for the longest go. The table only knows what
 * the server told it; the server (dns/tcp.c) asks the kernel before it
 * closes an "idle" victim and marks one with unread bytes busy instead. Both orders are kept as
 * intrusive FIFO lists, in the table and in each prefix, so choosing a
 * victim, adding, removing and re-ordering are O(1); a prefix is found
 * through a hash table keyed with a per-worker secret (SipHash), so
 * crafted source addresses cannot degrade it. Everything is allocated in
 * dns_conntab_init(): at most `max` prefixes can be in use at once.
 *
 * Pure: no sockets, no clock, no locks; the server embeds a struct
 * dns_ct_entry in each connection and calls in from its worker thread.
 */
#ifndef ANYSTEER_DNS_CONNTAB_H
#define ANYSTEER_DNS_CONNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/list.h"

struct dns_ct_prefix;

/* Embedded in each connection; zero it before dns_conntab_add(). The
 * lists below run oldest first. */
struct dns_ct_entry {
	struct as_list all;		/* in the table's idle or busy list */
	struct as_list same;		/* in its prefix's idle or busy list */
	struct dns_ct_prefix *prefix;
	bool idle;
	bool in_table;
};

struct dns_ct_prefix {
	uint8_t key[17];		/* family tag, then masked address */
	uint32_t n;
	struct as_list idle, busy;	/* of entries' `same` links */
	struct dns_ct_prefix *next;	/* hash chain, or the free list */
};

struct dns_conntab_limits {
	uint32_t max;			/* connections; >= 1 */
	uint32_t max_per_prefix;	/* >= 1; above max means max */
	uint8_t len6;			/* 0..128 prefix bits of IPv6 peers */
	uint8_t len4;			/* 0..32 prefix bits of IPv4 peers */
};

struct dns_conntab {
	struct dns_conntab_limits lim;
	uint32_t n;
	struct as_list idle, busy;	/* of entries' `all` links */
	struct dns_ct_prefix *pool;	/* lim.max entries */
	struct dns_ct_prefix *free;
	struct dns_ct_prefix **bucket;
	uint32_t mask;
	uint8_t hash_key[16];
};

/* Sizes the table; AS_EINVAL for a zero limit, AS_ENOMEM. */
int dns_conntab_init(struct dns_conntab *t,
		     const struct dns_conntab_limits *lim,
		     const uint8_t hash_key[16]);
void dns_conntab_fini(struct dns_conntab *t);

/* The connection to close before one from peer can be admitted, or NULL
 * when there is room. Closing it (dns_conntab_remove) makes room. */
struct dns_ct_entry *dns_conntab_victim(struct dns_conntab *t,
					const struct sockaddr_storage *peer);

/* Adds an idle connection from peer; AS_ERANGE when it would exceed a
 * limit (call dns_conntab_victim first), AS_EINVAL for another family. */
int dns_conntab_add(struct dns_conntab *t, struct dns_ct_entry *e,
		    const struct sockaddr_storage *peer);

/* Removes e (no-op when it is not in the table). */
void dns_conntab_remove(struct dns_conntab *t, struct dns_ct_entry *e);

/* After activity on e: idle (nothing buffered either way) moves it to the
 * newest end of the idle order; busy moves it to the newest end of the
 * busy order only when it was idle, so the busy order stays "busy since". */
void dns_conntab_update(struct dns_conntab *t, struct dns_ct_entry *e,
			bool idle);

/* The least recently active idle connection, or NULL. */
struct dns_ct_entry *dns_conntab_oldest_idle(const struct dns_conntab *t);

/* Connections from peer's prefix (tests, introspection). */
uint32_t dns_conntab_prefix_count(const struct dns_conntab *t,
				  const struct sockaddr_storage *peer);

#endif
