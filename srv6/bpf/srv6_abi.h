/*
 * srv6/bpf/srv6_abi.h - the layout of the maps the tc programs share with
 * srv6/prog.c. Included by the BPF program (clang -target bpf) and by the
 * loader, so it uses only fixed-width kernel types and no libc.
 *
 * A steering entry is one element of an LPM trie. The key's data begin
 * with the protocol and the destination port, then the destination
 * address, so a prefix length of SRV6_KEY_FIXED_BITS + n matches
 * "this protocol, this port, the first n bits of the address". Port 0
 * is the wildcard port and protocol 0 the wildcard protocol: the program
 * looks up (proto, port), then (proto, 0), then (0, 0), so a port entry
 * wins over a wildcard entry whatever their address prefix lengths.
 *
 * The value is written whole by one bpf_map_update_elem(): the trie
 * allocates a new node, copies the value into it and swaps the pointer
 * under RCU, so a packet sees the old or the new segment list, never a
 * mix. The program never writes into a value; its counters live in a
 * per-CPU array indexed by the value's counter slot, which survives
 * path changes of the same key.
 */
#ifndef ANYSTEER_SRV6_BPF_SRV6_ABI_H
#define ANYSTEER_SRV6_BPF_SRV6_ABI_H

#include <linux/types.h>

#define SRV6_MAX_SEGS 8		/* segments in one list */
#define SRV6_MAX_ROUTES 4096	/* steering entries and counter slots */
#define SRV6_MAX_LOCAL_SIDS 64	/* addresses this host decapsulates */
#define SRV6_KEY_FIXED_BITS 24	/* proto (8) + port (16) before the address */

enum srv6_abi_mode {
	SRV6_ABI_ENCAP = 1,	/* outer IPv6 + SRH (H.Encaps) */
	SRV6_ABI_INSERT = 2,	/* SRH inserted after the IPv6 header */
};

/* segs[0] is replaced by the packet's destination (a prefix entry then
 * needs no per-host last segment). Always on for SRV6_ABI_INSERT. */
#define SRV6_ABI_F_LAST_IS_DST 0x1
/* src is the outer source; without it the inner source is copied. */
#define SRV6_ABI_F_OUTER_SRC 0x2

struct srv6_key {
	__u32 prefixlen;	/* SRV6_KEY_FIXED_BITS + address bits */
	__u8 proto;		/* IPPROTO_*, 0 = any */
	__u8 port[2];		/* destination port, network order, 0 = any */
	__u8 addr[16];
	__u8 pad;		/* never matched (beyond any prefix length) */
};

struct srv6_route {
	__u8 mode;		/* enum srv6_abi_mode */
	__u8 nsegs;		/* 1..SRV6_MAX_SEGS */
	__u16 mtu;		/* path MTU in bytes (host order) */
	__u32 flags;		/* SRV6_ABI_F_* */
	__u32 counter;		/* slot in srv6_counters */
	__u32 generation;	/* which reprogramming wrote it */
	__u8 src[16];		/* outer source (ENCAP, SRV6_ABI_F_OUTER_SRC) */
	__u8 segs[SRV6_MAX_SEGS][16]; /* SRH order: segs[0] = last segment */
};

struct srv6_counter {
	__u64 packets;
	__u64 bytes;
};

/* Program-wide counters (per-CPU array srv6_stats). */
enum srv6_abi_stat {
	SRV6_STAT_STEERED = 0,	/* egress: SRH pushed */
	SRV6_STAT_UNMATCHED,	/* egress: IPv6, no entry */
	SRV6_STAT_SKIPPED,	/* egress: never steered (ND, multicast, link-local, has a routing header) */
	SRV6_STAT_TOO_BIG,	/* egress: would exceed the path MTU, sent unsteered */
	SRV6_STAT_UNSUPPORTED,	/* egress: the kernel refused the room (e.g. UDP GSO), sent unsteered */
	SRV6_STAT_MALFORMED,	/* truncated or over-long header chain, passed as is */
	SRV6_STAT_WRITE_FAIL,	/* headers half written: dropped */
	SRV6_STAT_DECAP,	/* ingress: outer header + SRH removed */
	SRV6_STAT_STRIP,	/* ingress: inserted SRH removed */
	SRV6_STAT_DECAP_FAIL,	/* ingress: removal failed, dropped */
	SRV6_STAT_MSS_CLAMPED,	/* SYN's MSS option lowered */
	SRV6_STAT_COUNT,
};

#endif
