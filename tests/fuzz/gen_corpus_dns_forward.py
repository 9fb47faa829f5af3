#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_dns_forward: upstream answers as
recursive resolvers send them (positive, CNAME chains, NXDOMAIN and NODATA
with a SOA, truncated, with EDNS and signatures-like records) and broken
ones (loops, forward pointers, OPT not last), one file each, into
tests/fuzz/corpus/dns_forward (or the directory given as the only
argument). Pure standard library. Files named crash-* or found-* are
fuzzer finds and are left alone."""
import os
import struct
import sys

A, NS, CNAME, SOA, AAAA, OPT, RRSIG = 1, 2, 5, 6, 28, 41, 46
IN = 1
QNAME_PTR = b"\xc0\x0c"


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def header(qid=0x1234, flags=0x8180, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def rr(owner, rtype, ttl, rdata, klass=IN):
    return owner + struct.pack("!HHIH", rtype, klass, ttl, len(rdata)) + rdata


def opt(size=1232, do=False):
    return b"\x00" + struct.pack("!HHIH", OPT, size, 0x8000 if do else 0, 0)


def soa(ttl=3600, minimum=300):
    rdata = name("ns.example.org") + name("host.example.org") + \
        struct.pack("!IIIII", 2026120601, 7200, 900, 1209600, minimum)
    return rr(name("example.org"), SOA, ttl, rdata)


def question(qname="www.Example.org", qtype=A):
    return name(qname) + struct.pack("!HH", qtype, IN)


def answer(records_an=(), records_ns=(), records_ar=(), flags=0x8180,
           qname="www.Example.org", qtype=A, edns=True):
    ar = list(records_ar) + ([opt()] if edns else [])
    return (header(flags=flags, an=len(records_an), ns=len(records_ns),
                   ar=len(ar)) + question(qname, qtype) +
            b"".join(records_an) + b"".join(records_ns) + b"".join(ar))


SEEDS = {
    "a": answer([rr(QNAME_PTR, A, 300, bytes([192, 0, 2, 1]))]),
    "aaaa-many": answer([rr(QNAME_PTR, AAAA, 60, bytes(15) + bytes([i]))
                         for i in range(40)], qtype=AAAA),
    "cname-chain": answer([
        rr(QNAME_PTR, CNAME, 300, name("w.example.org")),
        rr(name("w.example.org"), A, 30, bytes([192, 0, 2, 2]))]),
    "nxdomain-soa": answer(records_ns=[soa()], flags=0x8183),
    "nodata-soa": answer(records_ns=[soa(60, 600)]),
    "nxdomain-no-soa": answer(flags=0x8183),
    "servfail": answer(flags=0x8182),
    "truncated": answer(flags=0x8380),
    "signed": answer([rr(QNAME_PTR, A, 300, bytes([192, 0, 2, 1])),
                      rr(QNAME_PTR, RRSIG, 300, bytes(18) + name("example.org")
                         + bytes(64))], flags=0x81a0),
    "no-edns": answer([rr(QNAME_PTR, A, 300, bytes([192, 0, 2, 1]))],
                      edns=False),
    "opt-not-last": (header(an=1, ar=2) + question() +
                     rr(QNAME_PTR, A, 300, bytes([192, 0, 2, 1])) + opt() +
                     rr(QNAME_PTR, A, 300, bytes([192, 0, 2, 3]))),
    "pointer-loop": (header(an=1) + question() +
                     rr(b"\xc0\x21", A, 300, bytes([192, 0, 2, 1]))),
    "pointer-forward": (header(an=1) + question() +
                        rr(b"\xc0\x30", A, 300, bytes([192, 0, 2, 1]))),
    "query": header(flags=0x0100) + question(),
    "query-edns": header(flags=0x0100, ar=1) + question() + opt(4096, True),
    "ttl-top-bit": answer([rr(QNAME_PTR, A, 0x80000001,
                              bytes([192, 0, 2, 1]))]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "dns_forward")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if not f.startswith(("crash-", "found-")):
            os.unlink(os.path.join(out, f))
    for n, data in SEEDS.items():
        with open(os.path.join(out, n), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
