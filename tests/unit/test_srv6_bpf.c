/*
 * The tc programs of srv6/ run by the kernel on crafted Ethernet frames
 * (BPF_PROG_TEST_RUN), through the loader's public API: encapsulation and
 * insertion byte by byte, port vs wildcard entries, extension headers,
 * fragments, ICMPv6 and neighbour discovery, the path MTU, MSS clamping
 * with a valid checksum, decapsulation back to the original frame, and
 * entry updates that keep their counters. Needs root (CAP_BPF +
 * CAP_NET_ADMIN) and a kernel that loads the programs; else SKIP (77)
 * with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "lib/as.h"
#include "srv6/srv6.h"

#define ETH 14
#define IP6 40
#define TC_OK 0

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

/* Ones' complement sum over the IPv6 pseudo-header and the upper layer. */
static uint16_t l4sum(const struct in6_addr *src, const struct in6_addr *dst,
		      uint8_t proto, const uint8_t *l4, size_t len)
{
	uint32_t s = 0;

	for (int i = 0; i < 16; i += 2) {
		s += src->s6_addr[i] << 8 | src->s6_addr[i + 1];
		s += dst->s6_addr[i] << 8 | dst->s6_addr[i + 1];
	}
	s += (uint32_t)len + proto;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += l4[i] << 8 | l4[i + 1];
	if (len & 1)
		s += l4[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

struct frame {
	uint8_t b[2048];
	size_t len;
	size_t l4off;
};

/* Ethernet + IPv6 (src, dst, next header nh) + ext (already chained to
 * proto) + an upper-layer header of proto. For TCP: flags, an MSS option
 * when mss != 0, datalen bytes of data; UDP: datalen bytes; ICMPv6:
 * type, datalen bytes. The checksum is right for dst. */
static void build(struct frame *f, const char *src, const char *dst,
		  uint8_t nh, const uint8_t *ext, size_t extlen, uint8_t proto,
		  uint16_t sport, uint16_t dport, uint8_t tcpflags_or_type,
		  uint16_t mss, size_t datalen)
{
	struct in6_addr s = a6(src), d = a6(dst);
	uint8_t *ip = f->b + ETH, *l4;
	size_t l4len = 0;

	memset(f, 0, sizeof(*f));
	memcpy(f->b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd", ETH);
	ip[0] = 0x60;
	ip[1] = 0x0a;		/* a flow label to see copied */
	ip[2] = 0xbc;
	ip[3] = 0xde;
	ip[6] = nh;
	ip[7] = 61;
	memcpy(ip + 8, &s, 16);
	memcpy(ip + 24, &d, 16);
	if (extlen)
		memcpy(ip + IP6, ext, extlen);
	f->l4off = ETH + IP6 + extlen;
	l4 = f->b + f->l4off;
	if (proto == IPPROTO_TCP) {
		size_t hl = mss ? 24 : 20;

		l4[0] = sport >> 8; l4[1] = sport & 0xff;
		l4[2] = dport >> 8; l4[3] = dport & 0xff;
		l4[7] = 1;
		l4[12] = (uint8_t)(hl / 4) << 4;
		l4[13] = tcpflags_or_type;
		l4[14] = 0xff;
		if (mss) {
			l4[20] = 2; l4[21] = 4;
			l4[22] = mss >> 8; l4[23] = mss & 0xff;
		}
		l4len = hl + datalen;
	} else if (proto == IPPROTO_UDP) {
		l4len = 8 + datalen;
		l4[0] = sport >> 8; l4[1] = sport & 0xff;
		l4[2] = dport >> 8; l4[3] = dport & 0xff;
		l4[4] = l4len >> 8; l4[5] = l4len & 0xff;
	} else if (proto == IPPROTO_ICMPV6) {
		l4len = 8 + datalen;
		l4[0] = tcpflags_or_type;
	} else {
		l4len = datalen;
	}
	for (size_t i = l4len - datalen; i < l4len; i++)
		l4[i] = (uint8_t)(i * 7);
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_ICMPV6) {
		size_t at = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 2;
		uint16_t c = l4sum(&s, &d, proto, l4, l4len);

		l4[at] = c >> 8;
		l4[at + 1] = c & 0xff;
	}
	ip[4] = (extlen + l4len) >> 8;
	ip[5] = (extlen + l4len) & 0xff;
	f->len = ETH + IP6 + extlen + l4len;
}

static srv6_prog_t *prog;

static struct srv6_match match(const char *prefix, uint8_t plen, uint8_t proto,
			       uint16_t port)
{
	struct srv6_match m = { .prefix = a6(prefix), .plen = plen,
				.proto = proto, .port = port };
	return m;
}

/* segs in path order; the last is replaced by the destination when
 * last_is_dst. */
static void steer(const struct srv6_match *m, enum srv6_mode mode,
		  const char *const *segs, uint8_t n, bool last_is_dst,
		  uint16_t mtu)
{
	struct srv6_steer s = { .mode = mode, .nsegs = n,
				.last_is_dst = last_is_dst, .mtu = mtu,
				.generation = 7 };

	for (uint8_t i = 0; i < n; i++)
		s.segs[i] = a6(segs[i]);
	assert_int_equal(srv6_prog_steer_set(prog, m, &s), AS_OK);
}

static void run(enum srv6_hook hook, const struct frame *in, struct frame *out,
		int want_verdict)
{
	int verdict = -1;

	out->len = sizeof(out->b);
	assert_int_equal(srv6_prog_test_run(prog, hook, in->b, in->len, out->b,
					    &out->len, &verdict), AS_OK);
	assert_int_equal(verdict, want_verdict);
}

static uint64_t stat(enum srv6_stat s)
{
	uint64_t v[SRV6_ST_N];

	assert_int_equal(srv6_prog_stats(prog, v), AS_OK);
	return v[s];
}

static void assert_untouched(const struct frame *in, const struct frame *out)
{
	assert_int_equal(out->len, in->len);
	assert_memory_equal(out->b, in->b, in->len);
}

static void assert_addr(const uint8_t *p, const char *want)
{
	struct in6_addr w = a6(want);

	assert_memory_equal(p, &w, 16);
}

static int setup(void **state)
{
	char why[256] = "";
	int err = srv6_prog_open(&prog, why, sizeof(why));

	if (err) {
		print_message("srv6_prog_open: %s: %s\n", as_strerror(err), why);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	srv6_prog_free(prog);
	prog = NULL;
	return 0;
}

static const char *const three[] = { "fd00:ff::a", "fd00:ff::d", "fd00:2::1" };

/* TCP to a steered port: outer header + SRH in front, inner untouched. */
static void test_encap_tcp(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, IPPROTO_TCP, 443);
	struct frame in, out;
	const uint8_t *o = out.b + ETH, *srh = o + IP6;
	uint64_t pk, by;
	size_t ilen;

	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 443, 0x10, 0, 100);
	ilen = in.len - ETH;
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + IP6 + 8 + 3 * 16);
	assert_memory_equal(out.b, in.b, ETH);
	/* Outer: version/class/flow label copied, SRH next, hop limit 64. */
	assert_memory_equal(o, in.b + ETH, 4);
	assert_int_equal(o[4] << 8 | o[5], 8 + 48 + ilen);
	assert_int_equal(o[6], 43);
	assert_int_equal(o[7], 64);
	assert_addr(o + 8, "fd00:1::1");
	assert_addr(o + 24, "fd00:ff::a");
	/* SRH: IPv6 inside, 6 units, type 4, 2 left, segments last first. */
	assert_int_equal(srh[0], 41);
	assert_int_equal(srh[1], 6);
	assert_int_equal(srh[2], 4);
	assert_int_equal(srh[3], 2);
	assert_int_equal(srh[4], 2);
	assert_addr(srh + 8, "fd00:2::1");
	assert_addr(srh + 24, "fd00:ff::d");
	assert_addr(srh + 40, "fd00:ff::a");
	assert_memory_equal(srh + 56, in.b + ETH, ilen);
	assert_int_equal(srv6_prog_steer_counters(prog, &m, &pk, &by), AS_OK);
	assert_int_equal(pk, 1);
	assert_int_equal(by, out.len);
	assert_int_equal(stat(SRV6_ST_STEERED), 1);
}

/* Other ports, protocols and prefixes pass untouched. */
static void test_unmatched(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, IPPROTO_TCP, 443);
	struct frame in, out;

	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 80, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_UDP, NULL, 0, IPPROTO_UDP,
	      40000, 443, 0, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	build(&in, "fd00:1::1", "fd00:2:0:1::1", IPPROTO_TCP, NULL, 0,
	      IPPROTO_TCP, 40000, 443, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_UNMATCHED), 3);
	assert_int_equal(stat(SRV6_ST_STEERED), 0);
}

/* A wildcard-port entry inserts an SRH; a port entry with a shorter
 * prefix still wins for its port. */
static void test_insert_and_wildcard(void **state)
{
	static const char *const two[] = { "fd00:ff::b", "::" };
	struct srv6_match any = match("fd00:2::", 64, IPPROTO_UDP, 0);
	struct srv6_match dns = match("fd00::", 16, IPPROTO_UDP, 53);
	struct frame in, out;
	const uint8_t *ip = out.b + ETH, *srh = ip + IP6;

	steer(&any, SRV6_MODE_INSERT, two, 2, true, 1500);
	steer(&dns, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_UDP, NULL, 0, IPPROTO_UDP,
	      40000, 5353, 0, 0, 20);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 8 + 32);
	assert_memory_equal(ip, in.b + ETH, 4);
	assert_int_equal(ip[4] << 8 | ip[5], (in.b[ETH + 4] << 8 | in.b[ETH + 5]) + 40);
	assert_int_equal(ip[6], 43);
	assert_int_equal(ip[7], 61);	/* the hop limit is the packet's */
	assert_addr(ip + 8, "fd00:1::1");
	assert_addr(ip + 24, "fd00:ff::b");
	assert_int_equal(srh[0], IPPROTO_UDP);
	assert_int_equal(srh[1], 4);
	assert_int_equal(srh[3], 1);
	assert_addr(srh + 8, "fd00:2::1");	/* the original destination */
	assert_addr(srh + 24, "fd00:ff::b");
	assert_memory_equal(srh + 40, in.b + ETH + IP6, in.len - ETH - IP6);

	/* Port 53 takes its own entry although /16 is shorter than /64. */
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_UDP, NULL, 0, IPPROTO_UDP,
	      40000, 53, 0, 0, 20);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 40 + 8 + 48);
	assert_int_equal(out.b[ETH + 6], 43);
	assert_int_equal(out.b[ETH + IP6], 41);
}

/* Ports are found behind extension headers; an SRH is never inserted in
 * front of hop-by-hop options; a packet with a routing header is left. */
static void test_extension_headers(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, IPPROTO_TCP, 443);
	static const char *const one[] = { "fd00:ff::b" };
	struct frame in, out;
	uint8_t dopt[16] = { IPPROTO_TCP, 1 };	/* 16 bytes, PadN inside */
	uint8_t hbh[8] = { IPPROTO_TCP, 0 };
	uint8_t rh[24] = { IPPROTO_TCP, 2, 0, 1 };

	dopt[2] = 1; dopt[3] = 12;
	hbh[2] = 1; hbh[3] = 4;
	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_DSTOPTS, dopt, sizeof(dopt),
	      IPPROTO_TCP, 40000, 443, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 40 + 8 + 48);
	assert_memory_equal(out.b + ETH + 96, in.b + ETH, in.len - ETH);
	/* Behind a destination options header, port 80 is still port 80. */
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_DSTOPTS, dopt, sizeof(dopt),
	      IPPROTO_TCP, 40000, 80, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);

	steer(&m, SRV6_MODE_INSERT, one, 1, true, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_HOPOPTS, hbh, sizeof(hbh),
	      IPPROTO_TCP, 40000, 443, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_UNSUPPORTED), 1);

	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_ROUTING, rh, sizeof(rh),
	      IPPROTO_TCP, 40000, 443, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_SKIPPED), 1);

	/* A chain that ends early is passed as is and counted. */
	in.len = ETH + IP6 + 4;
	in.b[ETH + 6] = IPPROTO_DSTOPTS;
	in.b[ETH + 4] = 0; in.b[ETH + 5] = 4;
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_MALFORMED), 1);
}

/* Every fragment of a datagram, the first too, is matched without its
 * port, so all take one path. */
static void test_fragments(void **state)
{
	struct srv6_match port = match("fd00:2::", 64, IPPROTO_UDP, 443);
	struct srv6_match any = match("fd00:2::", 64, IPPROTO_UDP, 0);
	static const char *const one[] = { "fd00:ff::b" };
	uint8_t first[8] = { IPPROTO_UDP, 0, 0x00, 0x01, 0, 0, 0, 9 };
	uint8_t later[8] = { IPPROTO_UDP, 0, 0x05, 0x00, 0, 0, 0, 9 };
	uint8_t whole[8] = { IPPROTO_UDP, 0, 0x00, 0x00, 0, 0, 0, 9 };
	struct frame in, out;

	steer(&port, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_FRAGMENT, first, 8,
	      IPPROTO_UDP, 40000, 443, 0, 0, 64);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);	/* no port-less entry yet */

	steer(&any, SRV6_MODE_INSERT, one, 1, true, 1500);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 8 + 16);
	assert_int_equal(out.b[ETH + 6], 43);
	assert_int_equal(out.b[ETH + IP6], IPPROTO_FRAGMENT);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_FRAGMENT, later, 8,
	      IPPROTO_UDP, 1, 2, 0, 0, 64);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 8 + 16);
	/* An atomic fragment (offset 0, no more) is a whole datagram. */
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_FRAGMENT, whole, 8,
	      IPPROTO_UDP, 40000, 443, 0, 0, 64);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 40 + 8 + 48);
}

/* ICMPv6 takes an any-protocol entry; neighbour discovery, multicast and
 * link-local destinations are never steered. */
static void test_icmpv6(void **state)
{
	struct srv6_match all = match("fd00:2::", 64, 0, 0);
	struct frame in, out;

	steer(&all, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_ICMPV6, NULL, 0,
	      IPPROTO_ICMPV6, 0, 0, 128, 0, 56);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 40 + 8 + 48);
	assert_memory_equal(out.b + ETH + 96, in.b + ETH, in.len - ETH);

	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_ICMPV6, NULL, 0,
	      IPPROTO_ICMPV6, 0, 0, 135, 0, 16);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	build(&in, "fe80::1", "ff02::1:ff00:1", IPPROTO_ICMPV6, NULL, 0,
	      IPPROTO_ICMPV6, 0, 0, 128, 0, 16);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_SKIPPED), 2);
	/* The any-protocol entry also carries TCP. */
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 22, 0x10, 0, 0);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, in.len + 40 + 8 + 48);
}

/* A packet that would exceed the path MTU once encapsulated goes out
 * unsteered, never dropped. */
static void test_mtu(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, IPPROTO_TCP, 443);
	struct frame in, out;

	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	/* 40 + 20 + 1345 + (40 + 8 + 48) = 1501 > 1500 */
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 443, 0x10, 0, 1345);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_TOO_BIG), 1);
	/* 40 + 20 + 1344 + 96 = 1500: fits exactly. */
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 443, 0x10, 0, 1344);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_int_equal(out.len, ETH + 1500);
}

static uint16_t mss_of(const struct frame *f, size_t l4off)
{
	return f->b[l4off + 22] << 8 | f->b[l4off + 23];
}

/* SYNs to and from steered destinations carry at most the MSS that fits
 * the path with the SRH, and a checksum that still verifies. */
static void test_mss_clamp(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, IPPROTO_TCP, 443);
	struct in6_addr s = a6("fd00:1::1"), d = a6("fd00:2::1");
	struct frame in, out;
	size_t l4len, inner = ETH + 96;

	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 443, 0x02, 1440, 0);
	l4len = in.len - in.l4off;
	assert_int_equal(l4sum(&s, &d, IPPROTO_TCP, in.b + in.l4off, l4len), 0);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	/* 1500 - 40 - 20 - (40 + 8 + 3 * 16) */
	assert_int_equal(mss_of(&out, inner + IP6), 1344);
	assert_int_equal(l4sum(&s, &d, IPPROTO_TCP, out.b + inner + IP6, l4len), 0);
	assert_int_equal(stat(SRV6_ST_MSS_CLAMPED), 1);

	/* The SYN-ACK back from the steered port, at ingress. */
	build(&in, "fd00:2::1", "fd00:1::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      443, 40000, 0x12, 1440, 0);
	run(SRV6_INGRESS, &in, &out, TC_OK);
	assert_int_equal(mss_of(&out, in.l4off), 1344);
	assert_int_equal(l4sum(&d, &s, IPPROTO_TCP, out.b + in.l4off, l4len), 0);
	/* A small MSS stays; an unsteered peer's stays. */
	build(&in, "fd00:2::1", "fd00:1::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      443, 40000, 0x12, 1200, 0);
	run(SRV6_INGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	build(&in, "fd00:2::1", "fd00:1::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      80, 40000, 0x12, 1440, 0);
	run(SRV6_INGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_MSS_CLAMPED), 2);
}

/* What the last router hands the destination: segments left 0, the
 * destination address the last segment. */
static void arrive(struct frame *f, size_t srh_at, const char *last)
{
	struct in6_addr a = a6(last);

	f->b[srh_at + 3] = 0;
	memcpy(f->b + ETH + 24, &a, 16);
}

static void test_decap(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, IPPROTO_TCP, 443);
	static const char *const two[] = { "fd00:ff::b", "::" };
	struct in6_addr me = a6("fd00:2::1");
	struct frame in, enc, out;

	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 443, 0x10, 0, 200);
	run(SRV6_EGRESS, &in, &enc, TC_OK);
	/* Not yet at the end: untouched. */
	assert_int_equal(srv6_prog_local_sid_add(prog, &me), AS_OK);
	run(SRV6_INGRESS, &enc, &out, TC_OK);
	assert_untouched(&enc, &out);
	arrive(&enc, ETH + IP6, "fd00:2::1");
	run(SRV6_INGRESS, &enc, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_DECAP), 1);
	/* Not one of ours: untouched. */
	assert_int_equal(srv6_prog_local_sid_del(prog, &me), AS_OK);
	run(SRV6_INGRESS, &enc, &out, TC_OK);
	assert_untouched(&enc, &out);
	assert_int_equal(srv6_prog_local_sid_del(prog, &me), AS_ENOTFOUND);

	/* An inserted SRH is stripped, the IPv6 header repaired. */
	assert_int_equal(srv6_prog_local_sid_add(prog, &me), AS_OK);
	steer(&m, SRV6_MODE_INSERT, two, 2, true, 1500);
	run(SRV6_EGRESS, &in, &enc, TC_OK);
	assert_int_equal(enc.len, in.len + 40);
	arrive(&enc, ETH + IP6, "fd00:2::1");
	run(SRV6_INGRESS, &enc, &out, TC_OK);
	assert_untouched(&in, &out);
	assert_int_equal(stat(SRV6_ST_STRIP), 1);
}

/* A path change is one write that keeps the entry's counters; a deleted
 * entry steers nothing. */
static void test_update_and_delete(void **state)
{
	struct srv6_match m = match("fd00:2::1", 128, IPPROTO_TCP, 443);
	static const char *const other[] = { "fd00:ff::b", "fd00:ff::e", "fd00:2::1" };
	struct frame in, out;
	uint64_t pk, by;

	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	build(&in, "fd00:1::1", "fd00:2::1", IPPROTO_TCP, NULL, 0, IPPROTO_TCP,
	      40000, 443, 0x10, 0, 10);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_addr(out.b + ETH + 24, "fd00:ff::a");
	steer(&m, SRV6_MODE_ENCAP, other, 3, false, 1500);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_addr(out.b + ETH + 24, "fd00:ff::b");
	assert_addr(out.b + ETH + IP6 + 24, "fd00:ff::e");
	assert_int_equal(srv6_prog_steer_counters(prog, &m, &pk, &by), AS_OK);
	assert_int_equal(pk, 2);
	assert_int_equal(by, 2 * out.len);

	assert_int_equal(srv6_prog_steer_del(prog, &m), AS_OK);
	assert_int_equal(srv6_prog_steer_del(prog, &m), AS_ENOTFOUND);
	assert_int_equal(srv6_prog_steer_counters(prog, &m, &pk, &by), AS_ENOTFOUND);
	run(SRV6_EGRESS, &in, &out, TC_OK);
	assert_untouched(&in, &out);
	/* A new entry in the freed slot starts from zero. */
	steer(&m, SRV6_MODE_ENCAP, three, 3, false, 1500);
	assert_int_equal(srv6_prog_steer_counters(prog, &m, &pk, &by), AS_OK);
	assert_int_equal(pk, 0);
}

/* Bad entries are refused before they reach the kernel. */
static void test_checks(void **state)
{
	struct srv6_match m = match("fd00:2::", 64, 0, 443);
	struct srv6_steer s = { .mode = SRV6_MODE_ENCAP, .nsegs = 1, .mtu = 1500 };

	assert_int_equal(srv6_prog_steer_set(prog, &m, &s), AS_EINVAL);
	m = match("fd00:2::", 129, IPPROTO_TCP, 0);
	assert_int_equal(srv6_prog_steer_set(prog, &m, &s), AS_EINVAL);
	m = match("fd00:2::", 64, IPPROTO_TCP, 0);
	s.nsegs = 0;
	assert_int_equal(srv6_prog_steer_set(prog, &m, &s), AS_ERANGE);
	s.nsegs = SRV6_SEGS_MAX + 1;
	assert_int_equal(srv6_prog_steer_set(prog, &m, &s), AS_ERANGE);
	s.nsegs = 1;
	s.mtu = 1000;
	assert_int_equal(srv6_prog_steer_set(prog, &m, &s), AS_ERANGE);
	s.mtu = 1500;
	s.mode = SRV6_MODE_INSERT;
	s.has_src = true;
	assert_int_equal(srv6_prog_steer_set(prog, &m, &s), AS_EINVAL);
	assert_string_equal(srv6_stat_name(SRV6_ST_MSS_CLAMPED), "mss_clamped");
}

int main(void)
{
	char why[256] = "";
	srv6_prog_t *probe;
	int err;

	if (geteuid() != 0) {
		printf("SKIP: needs root (CAP_BPF and CAP_NET_ADMIN) to load BPF programs\n");
		return 77;
	}
	err = srv6_prog_open(&probe, why, sizeof(why));
	/* Missing privileges, BPF or the build option: skip. A verifier
	 * rejection (EACCES, EINVAL) is a failure. */
	if (err == AS_ESTATE || err == -EPERM || err == -ENOSYS) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if (err) {
		printf("srv6_prog_open: %s: %s\n", as_strerror(err), why);
		return 1;
	}
	srv6_prog_free(probe);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_encap_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmatched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_and_wildcard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extension_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmpv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mss_clamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
