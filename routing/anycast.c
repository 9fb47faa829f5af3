/*
 * routing/anycast.c - the route life cycle: gate decisions on the TUN.
 *
 * Design. One TUN device carries every anycast address, so all of them
 * are announced or withdrawn together by its carrier; the per-address
 * record exists because that is what an operator asks about ("is
 * fd00:53::53 announced, why not, since when"). Each health input goes
 * through the pure gate and the decision is applied to the carrier. If
 * the switch fails, the addresses are recorded with reason ERROR and
 * their previous announced value, and every later input retries, because
 * the applied carrier state is tracked apart from the decided one.
 * Addresses are only ever removed by closing the device: withdrawing
 * keeps them so queries already in flight are still answered.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "lib/hash.h"
#include "routing/routing.h"

struct route_anycast {
	route_tun_t *tun;
	route_gate_t *gate;
	bool carrier;              /* what the device has now */
	size_t n;
	struct route_anycast_status st[ROUTE_ANYCAST_MAX];
};

static bool usable(const struct in6_addr *a)
{
	return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a) &&
	       !IN6_IS_ADDR_MULTICAST(a) && !IN6_IS_ADDR_LINKLOCAL(a) &&
	       !IN6_IS_ADDR_V4MAPPED(a);
}

int route_anycast_new(const struct route_anycast_opts *o, uint64_t now_ms,
		      route_anycast_t **out)
{
	route_anycast_t *a;
	int rc;

	if (!o || !o->ifname || !o->addresses || o->naddresses == 0)
		return AS_EINVAL;
	if (o->naddresses > ROUTE_ANYCAST_MAX)
		return AS_ELIMIT;
	a = calloc(1, sizeof(*a));
	if (!a)
		return AS_ENOMEM;
	for (size_t i = 0; i < o->naddresses; i++) {
		struct route_anycast_status *s = &a->st[i];
		if (!o->addresses[i] ||
		    inet_pton(AF_INET6, o->addresses[i], &s->address) != 1 ||
		    !usable(&s->address)) {
			rc = AS_ECONFIG;
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (memcmp(&a->st[j].address, &s->address,
				   sizeof(s->address)) == 0) {
				rc = AS_ECONFIG;
				goto fail;
			}
		inet_ntop(AF_INET6, &s->address, s->text, sizeof(s->text));
		s->reason = ROUTE_REASON_STARTING;
		s->since_ms = now_ms;
		a->n++;
	}
	rc = route_gate_new(&o->gate, now_ms, &a->gate);
	if (rc)
		goto fail;
	rc = route_tun_new(o->ifname, &a->tun);
	if (rc)
		goto fail;
	for (size_t i = 0; i < a->n; i++) {
		rc = route_tun_add_address(a->tun, &a->st[i].address);
		if (rc)
			goto fail;
	}
	*out = a;
	return AS_OK;
fail:
	route_anycast_free(a);
	return rc;
}

void route_anycast_free(route_anycast_t *a)
{
	if (!a)
		return;
	route_tun_free(a->tun);
	route_gate_free(a->gate);
	free(a);
}

static int apply(route_anycast_t *a, const struct route_decision *d,
		 uint64_t now_ms)
{
	if (a->carrier != d->announce) {
		int rc = route_tun_set_carrier(a->tun, d->announce);
		if (rc) {
			as_warn("routing: %s: cannot turn carrier %s: %s",
				route_tun_name(a->tun),
				d->announce ? "on" : "off", as_strerror(rc));
			for (size_t i = 0; i < a->n; i++) {
				if (a->st[i].reason != ROUTE_REASON_ERROR)
					a->st[i].since_ms = now_ms;
				a->st[i].reason = ROUTE_REASON_ERROR;
			}
			return rc;
		}
		a->carrier = d->announce;
		as_info("routing: anycast %s on %s (%s)",
			d->announce ? "announced" : "withdrawn",
			route_tun_name(a->tun), route_reason_name(d->reason));
	}
	for (size_t i = 0; i < a->n; i++) {
		struct route_anycast_status *s = &a->st[i];
		if (s->announced != a->carrier || s->reason != d->reason) {
			s->announced = a->carrier;
			s->reason = d->reason;
			s->since_ms = d->changed ? d->since_ms : now_ms;
		}
	}
	return AS_OK;
}

int route_anycast_selfcheck(route_anycast_t *a, bool ok, uint64_t now_ms)
{
	struct route_decision d;
	route_gate_selfcheck(a->gate, ok, now_ms, &d);
	return apply(a, &d, now_ms);
}

int route_anycast_set_joined(route_anycast_t *a, bool joined,
			     uint64_t now_ms)
{
	struct route_decision d;
	route_gate_set_joined(a->gate, joined, now_ms, &d);
	return apply(a, &d, now_ms);
}

int route_anycast_set_draining(route_anycast_t *a, bool draining,
			       uint64_t now_ms)
{
	struct route_decision d;
	route_gate_set_draining(a->gate, draining, now_ms, &d);
	return apply(a, &d, now_ms);
}

int route_anycast_stop(route_anycast_t *a, uint64_t now_ms)
{
	struct route_decision d;
	route_gate_stop(a->gate, now_ms, &d);
	return apply(a, &d, now_ms);
}

size_t route_anycast_count(const route_anycast_t *a)
{
	return a->n;
}

size_t route_anycast_status(const route_anycast_t *a,
			    struct route_anycast_status *out, size_t max)
{
	size_t n = AS_MIN(max, a->n);
	memcpy(out, a->st, n * sizeof(*out));
	return n;
}

void route_anycast_decision(const route_anycast_t *a,
			    struct route_decision *out)
{
	route_gate_get(a->gate, out);
}

route_tun_t *route_anycast_tun(route_anycast_t *a)
{
	return a->tun;
}

/* FNV over the node's name, a 0 and the address, mixed: FNV alone
 * leaves the weights of addresses that differ in their last bytes
 * correlated. */
static uint64_t pick_weight(const char *node, const struct in6_addr *addr)
{
	uint64_t h = as_fnv1a64(node, strlen(node) + 1);

	for (size_t i = 0; i < 16; i++)
		h = (h ^ addr->s6_addr[i]) * 0x100000001b3ull;
	return as_hash_mix64(h);
}

size_t route_anycast_pick(const char *node, const struct in6_addr *addresses,
			  size_t n)
{
	size_t best = 0;
	uint64_t top = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t w = pick_weight(node, &addresses[i]);
		if (i == 0 || w > top) {
			top = w;
			best = i;
		}
	}
	return best;
}
