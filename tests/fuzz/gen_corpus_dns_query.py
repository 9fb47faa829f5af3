#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dns_query: real queries of every type we
answer plus malformed ones, one file each, into tests/fuzz/corpus/dns_query
(or the directory given as the only argument). Pure standard library, so
the corpus can be regenerated anywhere; the names say what each file is.
Files named crash-* or found-* in that directory are fuzzer finds and are
left alone."""
import os
import struct
import sys

A, NS, SOA, TXT, AAAA, SRV, OPT, HTTPS, IXFR, AXFR, ANY = (
    1, 2, 6, 16, 28, 33, 41, 65, 251, 252, 255)
IN, CH, HS, CLASS_ANY = 1, 3, 4, 255


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def opt(size=1232, version=0, do=False, options=b""):
    ttl = (version << 16) | (0x8000 if do else 0)
    return b"\x00" + struct.pack("!HHIH", OPT, size, ttl, len(options)) + options


def option(code, data=b""):
    return struct.pack("!HH", code, len(data)) + data


def query(qname, qtype, qclass=IN, edns=None, qid=0x1234, flags=0x0100):
    ar = [edns] if edns is not None else []
    return (header(qid, flags, ar=len(ar)) + name(qname) +
            struct.pack("!HH", qtype, qclass) + b"".join(ar))


def seeds():
    z = "svc.example."
    nsid = option(3)
    yield "aaaa_web", query("web." + z, AAAA)
    yield "aaaa_web_mixed_case", query("WeB.SvC.ExAmPlE.", AAAA)
    yield "a_web", query("web." + z, A)
    yield "a_api_nodata", query("api." + z, A)
    yield "aaaa_big_udp512", query("big." + z, AAAA)
    yield "aaaa_big_edns4096", query("big." + z, AAAA, edns=opt(4096))
    yield "aaaa_big_edns600_nsid", query("big." + z, AAAA, edns=opt(600, options=nsid))
    yield "https_web", query("web." + z, HTTPS, edns=opt())
    yield "srv_web", query("_web._tcp." + z, SRV)
    yield "srv_big", query("_big._tcp." + z, SRV, edns=opt(1232))
    yield "soa_apex", query(z, SOA)
    yield "ns_apex", query(z, NS, edns=opt(options=nsid))
    yield "aaaa_ns", query("ns." + z, AAAA)
    yield "any_web", query("web." + z, ANY)
    yield "any_apex", query(z, ANY)
    yield "ent_tcp", query("_tcp." + z, A)
    yield "nxdomain", query("nope." + z, AAAA)
    yield "nxdomain_below_service", query("x.web." + z, AAAA)
    # The harness's second view has the wildcard service "*".
    yield "wild_aaaa_deep", query("a.b.c." + z, AAAA)
    yield "wild_srv", query("_shop._tcp." + z, SRV, edns=opt())
    yield "wild_https_literal", query("*." + z, HTTPS)
    yield "wild_long_name", query(("a." * 118) + z, AAAA)
    yield "refused_outside", query("example.com.", A)
    yield "axfr", query(z, AXFR)
    yield "ixfr", query(z, IXFR)
    yield "class_hs", query("web." + z, A, HS)
    yield "chaos_id_server", query("id.server.", TXT, CH, edns=opt(options=nsid))
    yield "chaos_hostname_bind", query("hostname.bind.", TXT, CH)
    yield "chaos_version_bind", query("version.bind.", TXT, CH)
    yield "edns_badvers", query("web." + z, AAAA, edns=opt(version=1))
    yield "edns_do_cookie", query("web." + z, AAAA,
                                  edns=opt(do=True, options=option(10, bytes(8)) + nsid))
    yield "notify_opcode", query(z, SOA, flags=(4 << 11))
    # Intents: a locality service ("near") and a resilience one
    # ("spread"); EDNS Client Subnet (RFC 7871) places the client.
    def ecs(family, src, addr, scope=0):
        return option(8, struct.pack("!HBB", family, src, scope) + addr)
    yield "near_aaaa", query("near." + z, AAAA, edns=opt())
    yield "near_ecs6_zone_b", query("near." + z, AAAA, edns=opt(
        options=ecs(2, 56, bytes.fromhex("fd00000b000000"))))
    yield "near_ecs6_inner", query("near." + z, AAAA, edns=opt(
        options=ecs(2, 40, bytes.fromhex("fd00000b00"))))
    yield "near_ecs4_https", query("near." + z, HTTPS, edns=opt(
        options=ecs(1, 24, bytes([10, 2, 3])) + nsid))
    yield "near_ecs_src0_srv", query("_near._tcp." + z, SRV, edns=opt(
        options=ecs(2, 0, b"")))
    yield "spread_a", query("spread." + z, AAAA, edns=opt(
        options=ecs(1, 32, bytes([10, 2, 3, 4]))))
    yield "web_ecs_scope0", query("web." + z, AAAA, edns=opt(
        options=ecs(2, 64, bytes(8))))
    yield "mal_ecs_family3", query("near." + z, AAAA, edns=opt(
        options=ecs(3, 8, b"\x0a")))
    yield "mal_ecs_src129", query("near." + z, AAAA, edns=opt(
        options=ecs(2, 129, bytes(17))))
    yield "mal_ecs_short_address", query("near." + z, AAAA, edns=opt(
        options=ecs(2, 56, bytes(6))))
    yield "mal_ecs_bits_past_source", query("near." + z, AAAA, edns=opt(
        options=ecs(1, 20, bytes([10, 2, 0x0f]))))
    yield "mal_ecs_twice", query("near." + z, AAAA, edns=opt(
        options=ecs(1, 8, b"\x0a") + ecs(1, 8, b"\x0a")))
    # Malformed.
    q = query("web." + z, AAAA)
    yield "mal_short_header", q[:7]
    yield "mal_response", query("web." + z, AAAA, flags=0x8100)
    yield "mal_qdcount0", header(qd=0) + q[12:]
    yield "mal_qdcount2", header(qd=2) + q[12:] + q[12:]
    yield "mal_ancount", header(an=1) + q[12:]
    yield "mal_truncated_question", q[:-3]
    yield "mal_label64", header() + b"\x40" + b"a" * 64 + b"\x00" + struct.pack("!HH", A, IN)
    yield "mal_name_too_long", header() + (b"\x3f" + b"b" * 63) * 5 + b"\x00\x00\x01\x00\x01"
    yield "mal_qname_pointer", header() + b"\x03web\xc0\x0c" + struct.pack("!HH", A, IN)
    at = len(q)
    yield "mal_pointer_loop", (header(ar=1) + q[12:] + b"\x01a" +
                               struct.pack("!BB", 0xC0, at) + struct.pack("!HHIH", TXT, IN, 0, 0))
    yield "mal_two_opt", header(ar=2) + q[12:] + opt() + opt()
    yield "mal_opt_option_overrun", header(ar=1) + q[12:] + opt(options=b"\x00\x03\x00\x09\x01")
    yield "mal_rdata_past_end", header(ar=1) + q[12:] + b"\x00" + struct.pack("!HHIH", TXT, IN, 0, 50) + b"xy"
    yield "skip_non_opt_additional", (header(ar=2) + q[12:] + b"\xc0\x0c" +
                                      struct.pack("!HHIH", TXT, IN, 0, 2) + b"\x01z" + opt())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "dns_query")
    os.makedirs(out, exist_ok=True)
    n = 0
    for fname, data in seeds():
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
        n += 1
    print(f"wrote {n} seeds to {out}")


if __name__ == "__main__":
    main()
