/*
 * srv6/steer.c - checks of steering entries and counter names, shared by
 * the real loader (prog.c) and the one built without eBPF (prog_none.c).
 */
#include <netinet/in.h>
#include <string.h>

#include "lib/as.h"
#include "srv6/srv6.h"

static const char *const stat_names[SRV6_ST_N] = {
	[SRV6_ST_STEERED] = "steered",
	[SRV6_ST_UNMATCHED] = "unmatched",
	[SRV6_ST_SKIPPED] = "skipped",
	[SRV6_ST_TOO_BIG] = "too_big",
	[SRV6_ST_UNSUPPORTED] = "unsupported",
	[SRV6_ST_MALFORMED] = "malformed",
	[SRV6_ST_WRITE_FAIL] = "write_fail",
	[SRV6_ST_DECAP] = "decap",
	[SRV6_ST_STRIP] = "strip",
	[SRV6_ST_DECAP_FAIL] = "decap_fail",
	[SRV6_ST_MSS_CLAMPED] = "mss_clamped",
};

const char *srv6_stat_name(enum srv6_stat s)
{
	if ((unsigned)s >= SRV6_ST_N)
		return "unknown";
	return stat_names[s];
}

int srv6_match_check(const struct srv6_match *m)
{
	if (!m || m->plen > 128)
		return AS_EINVAL;
	/* Ports are parsed for TCP and UDP only; "any protocol" has none. */
	if (m->port && m->proto != IPPROTO_TCP && m->proto != IPPROTO_UDP)
		return AS_EINVAL;
	return AS_OK;
}

int srv6_steer_check(const struct srv6_steer *s)
{
	if (!s)
		return AS_EINVAL;
	if (s->mode != SRV6_MODE_ENCAP && s->mode != SRV6_MODE_INSERT)
		return AS_EINVAL;
	if (s->nsegs < 1 || s->nsegs > SRV6_SEGS_MAX)
		return AS_ERANGE;
	/* IPv6's minimum link MTU: below it nothing could be steered. */
	if (s->mtu < 1280)
		return AS_ERANGE;
	if (s->mode == SRV6_MODE_INSERT && s->has_src)
		return AS_EINVAL;	/* an inserted SRH has no outer source */
	return AS_OK;
}

size_t srv6_rthdr_build(const struct in6_addr *segs, size_t n, void *buf,
			size_t len)
{
	uint8_t *b = buf;
	size_t need = 8 + 16 * n;

	if (n < 2 || n > SRV6_SEGS_MAX || !buf || len < need)
		return 0;
	memset(b, 0, need);
	b[1] = (uint8_t)(2 * n);	/* header length, 8-byte units after 8 */
	b[2] = 4;			/* routing type: SRH */
	b[3] = (uint8_t)(n - 1);	/* segments left */
	b[4] = (uint8_t)(n - 1);	/* last entry */
	for (size_t k = 0; k < n; k++)
		memcpy(b + 8 + 16 * k, &segs[n - 1 - k], 16);
	return need;
}
