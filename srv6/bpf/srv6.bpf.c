/*
 * srv6/bpf/srv6.bpf.c - the tc programs of srv6/ (see srv6/srv6.h).
 *
 * srv6_egress (tc egress, Ethernet devices): parses the IPv6 header chain,
 * looks the destination up in srv6_routes and pushes the entry's segment
 * list: either an outer IPv6 header + SRH in front of the packet
 * (encapsulation) or an SRH after the IPv6 header (insertion). It fails
 * open: a packet it cannot steer (too big for the path, a kernel refusal)
 * goes out unsteered and is counted; it drops only a packet whose headers
 * it has begun to rewrite and could not finish.
 *
 * srv6_ingress (tc ingress): when a packet's SRH has no segments left and
 * its destination is one of this host's SIDs, removes the outer header +
 * SRH (encapsulation) or the SRH alone (insertion), since this kernel has
 * no End.DX6. Both programs lower the MSS option of TCP SYNs exchanged with
 * steered destinations so that segments fit the path MTU with the SRH.
 *
 * The programs touch only packet bytes and struct __sk_buff (a stable
 * context the verifier rewrites), so they need no vmlinux.h and no CO-RE
 * relocations: the same object loads on any kernel with these helpers.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "srv6/bpf/srv6_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_EXTHDRS 8
#define IPPROTO_ICMPV6_ 58
#define SRH_TYPE 4
#define OUTER_HOPLIMIT 64

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SRV6_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct srv6_key);
	__type(value, struct srv6_route);
} srv6_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SRV6_MAX_ROUTES);
	__type(key, __u32);
	__type(value, struct srv6_counter);
} srv6_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SRV6_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} srv6_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SRV6_MAX_LOCAL_SIDS);
	__type(key, struct in6_addr);
	__type(value, __u32);
} srv6_local_sids SEC(".maps");

/* The SRH as on the wire (RFC 8754), without its segments. */
struct srh {
	__u8 nexthdr;
	__u8 hdrlen;		/* 8-octet units after the first 8 */
	__u8 type;
	__u8 segments_left;
	__u8 last_entry;
	__u8 flags;
	__be16 tag;
};

/* The most we ever write in front of (or into) a packet. */
struct hdrbuf {
	struct ipv6hdr ip6;
	struct srh srh;
	__u8 segs[SRV6_MAX_SEGS][16];
};

struct pkt {
	struct ipv6hdr ip6;
	__u32 l4off;		/* offset of the upper-layer header */
	__u8 proto;		/* upper-layer protocol */
	__u8 frag;		/* a fragment: no ports */
	__u8 has_rh;		/* carries a routing header already */
	__u8 icmp_type;
	__be16 sport;
	__be16 dport;
	__u8 tcp_syn;
};

static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&srv6_stats, &which);

	if (v)
		*v += 1;
}

/* Walks the extension headers. Returns 0, or -1 when the chain is
 * truncated or longer than MAX_EXTHDRS. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	__u32 off = ETH_HLEN + sizeof(struct ipv6hdr);
	__u8 nh;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &p->ip6, sizeof(p->ip6)))
		return -1;
	if (p->ip6.version != 6)
		return -1;
	nh = p->ip6.nexthdr;
	for (int i = 0; i < MAX_EXTHDRS; i++) {
		__u8 h[8];

		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (bpf_skb_load_bytes(skb, off, h, 2))
				return -1;
			if (nh == IPPROTO_ROUTING)
				p->has_rh = 1;
			nh = h[0];
			off += ((__u32)h[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			if (bpf_skb_load_bytes(skb, off, h, 2))
				return -1;
			nh = h[0];
			off += ((__u32)h[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT:
			if (bpf_skb_load_bytes(skb, off, h, 8))
				return -1;
			nh = h[0];
			off += 8;
			/* Offset or more-fragments: every fragment of a
			 * datagram, the first included, is matched without
			 * ports so that all of them take one path. */
			if (((h[2] << 8 | h[3]) & 0xfff9) != 0) {
				p->frag = 1;
				p->proto = nh;
				p->l4off = off;
				return 0;
			}
			continue;
		default:
			goto l4;
		}
	}
	return -1;
l4:
	p->proto = nh;
	p->l4off = off;
	if (nh == IPPROTO_TCP) {
		__u8 t[14];

		if (bpf_skb_load_bytes(skb, off, t, sizeof(t)))
			return -1;
		__builtin_memcpy(&p->sport, t, 2);
		__builtin_memcpy(&p->dport, t + 2, 2);
		p->tcp_syn = (t[13] & 0x02) != 0;
	} else if (nh == IPPROTO_UDP) {
		__u8 u[4];

		if (bpf_skb_load_bytes(skb, off, u, sizeof(u)))
			return -1;
		__builtin_memcpy(&p->sport, u, 2);
		__builtin_memcpy(&p->dport, u + 2, 2);
	} else if (nh == IPPROTO_ICMPV6_) {
		if (bpf_skb_load_bytes(skb, off, &p->icmp_type, 1))
			return -1;
	}
	return 0;
}

/* (proto, port), then (proto, any port), then (any, any). */
static __always_inline struct srv6_route *lookup(const struct in6_addr *addr,
						 __u8 proto, __be16 port)
{
	struct srv6_key k = {};
	struct srv6_route *r;

	k.prefixlen = SRV6_KEY_FIXED_BITS + 128;
	k.proto = proto;
	__builtin_memcpy(k.port, &port, 2);
	__builtin_memcpy(k.addr, addr, 16);
	if (port) {
		r = bpf_map_lookup_elem(&srv6_routes, &k);
		if (r)
			return r;
		k.port[0] = k.port[1] = 0;
	}
	r = bpf_map_lookup_elem(&srv6_routes, &k);
	if (r || !proto)
		return r;
	k.proto = 0;
	return bpf_map_lookup_elem(&srv6_routes, &k);
}

static __always_inline __u32 route_overhead(const struct srv6_route *r)
{
	__u32 n = r->nsegs;
	__u32 srh = sizeof(struct srh) + 16 * n;

	return r->mode == SRV6_ABI_ENCAP ? sizeof(struct ipv6hdr) + srh : srh;
}

/* Lowers the MSS option of a TCP SYN at l4off to at most maxmss. */
static __always_inline void clamp_mss(struct __sk_buff *skb, __u32 l4off,
				      __u32 maxmss)
{
	__u8 doff;
	__u32 off, end;

	if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1))
		return;
	off = l4off + 20;
	end = l4off + (__u32)(doff >> 4) * 4;
	for (int i = 0; i < 40; i++) {
		__u8 opt[4];
		__be16 old, new;

		if (off + 1 > end)
			return;
		if (bpf_skb_load_bytes(skb, off, opt, 1))
			return;
		if (opt[0] == 0)
			return;
		if (opt[0] == 1) {
			off++;
			continue;
		}
		if (off + 2 > end || bpf_skb_load_bytes(skb, off, opt, 2))
			return;
		if (opt[1] < 2)
			return;
		if (opt[0] != 2 || opt[1] != 4) {
			off += opt[1];
			continue;
		}
		if (off + 4 > end || bpf_skb_load_bytes(skb, off, opt, 4))
			return;
		__builtin_memcpy(&old, opt + 2, 2);
		if (bpf_ntohs(old) <= maxmss)
			return;
		new = bpf_htons((__u16)maxmss);
		if (bpf_l4_csum_replace(skb, l4off + 16, old, new, 2))
			return;
		if (bpf_skb_store_bytes(skb, off + 2, &new, 2, 0))
			return;
		stat_inc(SRV6_STAT_MSS_CLAMPED);
		return;
	}
}

static __always_inline void clamp_for(struct __sk_buff *skb,
				      const struct pkt *p,
				      const struct srv6_route *r)
{
	__u32 hdrs = sizeof(struct ipv6hdr) + 20 + route_overhead(r);

	if (p->proto == IPPROTO_TCP && !p->frag && p->tcp_syn && r->mtu > hdrs)
		clamp_mss(skb, p->l4off, r->mtu - hdrs);
}

/* Never steered: multicast, link-local, neighbour discovery. */
static __always_inline int never_steer(const struct pkt *p)
{
	const __u8 *d = p->ip6.daddr.s6_addr;

	if (d[0] == 0xff || (d[0] == 0xfe && (d[1] & 0xc0) == 0x80))
		return 1;
	if (p->proto == IPPROTO_ICMPV6_ && !p->frag &&
	    p->icmp_type >= 133 && p->icmp_type <= 137)
		return 1;
	return p->has_rh;
}

/* The route a packet is steered by, or NULL (counted unless it is not
 * IPv6 at all): the packet parsed, steerable, matched, and a route whose
 * segment list this program can push on it. */
static __always_inline struct srv6_route *route_for(struct __sk_buff *skb,
						    struct pkt *p)
{
	struct srv6_route *r;
	__be16 port;

	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return NULL;
	if (parse(skb, p)) {
		stat_inc(SRV6_STAT_MALFORMED);
		return NULL;
	}
	if (never_steer(p)) {
		stat_inc(SRV6_STAT_SKIPPED);
		return NULL;
	}
	port = (p->frag || (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)) ?
		0 : p->dport;
	r = lookup(&p->ip6.daddr, p->proto, port);
	if (!r) {
		stat_inc(SRV6_STAT_UNMATCHED);
		return NULL;
	}
	if (r->nsegs < 1 || r->nsegs > SRV6_MAX_SEGS) {
		stat_inc(SRV6_STAT_MALFORMED);
		return NULL;
	}
	/* An SRH may not precede a hop-by-hop header (RFC 8200 4.1). */
	if (r->mode == SRV6_ABI_INSERT && p->ip6.nexthdr == IPPROTO_HOPOPTS) {
		stat_inc(SRV6_STAT_UNSUPPORTED);
		return NULL;
	}
	return r;
}

/* The IPv6 header and SRH with n segments, built on the stack from one
 * snapshot of the route, the destination the last segment. */
static __always_inline void build_headers(struct hdrbuf *b,
					  const struct pkt *p,
					  const struct srv6_route *r, __u32 n)
{
	b->srh.hdrlen = 2 * n;
	b->srh.type = SRH_TYPE;
	b->srh.segments_left = n - 1;
	b->srh.last_entry = n - 1;
	for (int i = 0; i < SRV6_MAX_SEGS; i++)
		__builtin_memcpy(b->segs[i], r->segs[i], 16);
	if (r->mode == SRV6_ABI_INSERT || (r->flags & SRV6_ABI_F_LAST_IS_DST))
		__builtin_memcpy(b->segs[0], &p->ip6.daddr, 16);
	b->ip6 = p->ip6;
	__builtin_memcpy(&b->ip6.daddr, b->segs[(n - 1) & (SRV6_MAX_SEGS - 1)], 16);
}

/* Makes len bytes of room for the headers (in front of the packet for
 * encapsulation, after its IPv6 header for insertion) and sets the
 * fields that differ between the two. Returns 0, or -1 when the kernel
 * refuses. */
static __always_inline int make_room(struct __sk_buff *skb, struct hdrbuf *b,
				     const struct pkt *p,
				     const struct srv6_route *r, __u32 len,
				     __u32 srhlen)
{
	if (r->mode == SRV6_ABI_ENCAP) {
		b->ip6.payload_len = bpf_htons(skb->len - ETH_HLEN + srhlen);
		b->ip6.nexthdr = IPPROTO_ROUTING;
		b->ip6.hop_limit = OUTER_HOPLIMIT;
		if (r->flags & SRV6_ABI_F_OUTER_SRC)
			__builtin_memcpy(&b->ip6.saddr, r->src, 16);
		b->srh.nexthdr = IPPROTO_IPV6;
		return bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_MAC,
					   BPF_F_ADJ_ROOM_ENCAP_L3_IPV6) ? -1 : 0;
	}
	b->ip6.payload_len = bpf_htons(bpf_ntohs(p->ip6.payload_len) + srhlen);
	b->ip6.nexthdr = IPPROTO_ROUTING;
	b->srh.nexthdr = p->ip6.nexthdr;
	return bpf_skb_adjust_room(skb, len, BPF_ADJ_ROOM_NET, 0) ? -1 : 0;
}

SEC("tc")
int srv6_egress(struct __sk_buff *skb)
{
	struct hdrbuf b = {};
	struct pkt p = {};
	struct srv6_route *r;
	struct srv6_counter *c;
	__u32 n, srhlen, slot, len;

	r = route_for(skb, &p);
	if (!r)
		return TC_ACT_OK;
	n = r->nsegs;
	srhlen = sizeof(struct srh) + 16 * n;
	len = route_overhead(r);
	/* A GSO packet's segments shrink by the room added below; a single
	 * packet that would not fit the path goes out unsteered. */
	if (!skb->gso_size && skb->len - ETH_HLEN + len > r->mtu) {
		stat_inc(SRV6_STAT_TOO_BIG);
		return TC_ACT_OK;
	}
	clamp_for(skb, &p, r);
	build_headers(&b, &p, r, n);
	if (make_room(skb, &b, &p, r, len, srhlen)) {
		stat_inc(SRV6_STAT_UNSUPPORTED);
		return TC_ACT_OK;
	}
	len = sizeof(struct ipv6hdr) + srhlen;
	if (len < sizeof(struct ipv6hdr) + sizeof(struct srh) + 16 ||
	    len > sizeof(b) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &b, len, 0)) {
		stat_inc(SRV6_STAT_WRITE_FAIL);
		return TC_ACT_SHOT;
	}
	slot = r->counter;
	c = bpf_map_lookup_elem(&srv6_counters, &slot);
	if (c) {
		c->packets += 1;
		c->bytes += skb->len;
	}
	stat_inc(SRV6_STAT_STEERED);
	return TC_ACT_OK;
}

SEC("tc")
int srv6_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct srh s;
	struct srv6_route *r;
	__u32 srhlen;

	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &p.ip6, sizeof(p.ip6)))
		return TC_ACT_OK;
	if (p.ip6.nexthdr == IPPROTO_ROUTING &&
	    !bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(struct ipv6hdr), &s,
				sizeof(s)) &&
	    s.type == SRH_TYPE && s.segments_left == 0 &&
	    bpf_map_lookup_elem(&srv6_local_sids, &p.ip6.daddr)) {
		srhlen = ((__u32)s.hdrlen + 1) * 8;
		if (s.nexthdr == IPPROTO_IPV6) {
			if (bpf_skb_adjust_room(skb, -(__s32)(sizeof(struct ipv6hdr) + srhlen),
						BPF_ADJ_ROOM_MAC, 0)) {
				stat_inc(SRV6_STAT_DECAP_FAIL);
				return TC_ACT_SHOT;
			}
			stat_inc(SRV6_STAT_DECAP);
		} else {
			p.ip6.nexthdr = s.nexthdr;
			p.ip6.payload_len = bpf_htons(bpf_ntohs(p.ip6.payload_len) - srhlen);
			if (bpf_skb_adjust_room(skb, -(__s32)srhlen, BPF_ADJ_ROOM_NET, 0) ||
			    bpf_skb_store_bytes(skb, ETH_HLEN, &p.ip6, sizeof(p.ip6), 0)) {
				stat_inc(SRV6_STAT_DECAP_FAIL);
				return TC_ACT_SHOT;
			}
			stat_inc(SRV6_STAT_STRIP);
		}
	}
	/* A SYN or SYN-ACK from a steered peer: its MSS bounds the segments
	 * this host sends along the steered path. */
	__builtin_memset(&p, 0, sizeof(p));
	if (parse(skb, &p) || p.proto != IPPROTO_TCP || p.frag || !p.tcp_syn)
		return TC_ACT_OK;
	r = lookup(&p.ip6.saddr, IPPROTO_TCP, p.sport);
	if (r && r->nsegs >= 1 && r->nsegs <= SRV6_MAX_SEGS)
		clamp_for(skb, &p, r);
	return TC_ACT_OK;
}
