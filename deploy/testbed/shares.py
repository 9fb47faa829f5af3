#!/usr/bin/env python3
"""Answer shares, expected against measured, for deploy/demo.sh.

Sends COUNT queries (NAME AAAA, UDP, an EDNS NSID request, each from a
new socket so the router's L4 ECMP hash spreads them over the nodes) and
counts the first address of every answer and the node that answered
(NSID). The expected share of endpoint i is docs/dns.md's formula,

    share_i = weight_i x factor_i / sum_j (weight_j x factor_j)
    factor  = 1 below LOW, 0 from HIGH, 1 - (load - LOW) / (HIGH - LOW)

with the load signal of the endpoint's node given on the command line
(ADDRESS=WEIGHT@LOAD). The first address is a draw weighted by exactly
these shares, so the tolerance is 4 standard deviations of a share over
COUNT draws (binomial), plus 0.005 for the 0.01 steps in which gossip
carries a load factor. Prints the table and exits 1 if a share is out.

    shares.py --server fd00:53::53 web.svc.example. \\
        fd00:10::1=100@0.3 fd00:10::2=200@0.9 fd00:10::3=100@0.3
"""
import argparse
import json
import random
import socket
import struct
import sys


def factor(load, low, high):
    if low >= high:
        return 1.0 if load <= high else 0.0
    if load <= low:
        return 1.0
    if load >= high:
        return 0.0
    return 1.0 - (load - low) / (high - low)


def query(qid, name):
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 28, 1)
    return q + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4) + struct.pack("!HH", 3, 0)


def skip_name(m, off):
    while m[off] != 0:
        if m[off] & 0xC0 == 0xC0:
            return off + 2
        off += 1 + m[off]
    return off + 1


def parse(m):
    """(first AAAA or None, NSID or None)."""
    qd, an, ns, ar = struct.unpack("!HHHH", m[4:12])
    off = 12
    for _ in range(qd):
        off = skip_name(m, off) + 4
    first = nsid = None
    for i in range(an + ns + ar):
        off = skip_name(m, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", m[off:off + 10])
        off += 10
        rd = m[off:off + rdlen]
        if i < an and rtype == 28 and rdlen == 16 and first is None:
            first = socket.inet_ntop(socket.AF_INET6, rd)
        if rtype == 41:
            p = 0
            while p + 4 <= len(rd):
                code, ln = struct.unpack("!HH", rd[p:p + 4])
                if code == 3:
                    nsid = rd[p + 4:p + 4 + ln].decode(errors="replace")
                p += 4 + ln
        off += rdlen
    return first, nsid


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--low", type=float, default=0.6)
    ap.add_argument("--high", type=float, default=0.95)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--json", help="write the counts here (who answered)")
    ap.add_argument("name")
    ap.add_argument("expect", nargs="+", help="ADDRESS=WEIGHT@LOAD")
    a = ap.parse_args()
    if not 1 <= a.count <= 100000:
        ap.error("--count must be 1..100000")

    eps = []
    for e in a.expect:
        addr, rest = e.split("=", 1)
        w, load = rest.split("@", 1)
        addr = socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, addr))
        eps.append((addr, float(w), float(load), factor(float(load), a.low, a.high)))
    total = sum(w * f for _, w, _, f in eps)

    first, by_node, lost = {}, {}, 0
    for _ in range(a.count):
        qid = random.randrange(65536)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(a.timeout)
        try:
            s.sendto(query(qid, a.name), (a.server, a.port))
            while True:
                m = s.recv(4096)
                if len(m) >= 12 and struct.unpack("!H", m[:2])[0] == qid:
                    break
            f, nsid = parse(m)
        except (OSError, ValueError, IndexError, struct.error):
            lost += 1
            continue
        finally:
            s.close()
        first[f] = first.get(f, 0) + 1
        by_node[nsid or "-"] = by_node.get(nsid or "-", 0) + 1

    n = a.count - lost
    ok = n > 0 and lost <= a.count // 100
    print("  %-18s %6s %5s %7s %9s %9s" % ("ADDRESS", "WEIGHT", "LOAD", "FACTOR",
                                            "EXPECTED", "MEASURED"))
    for addr, w, load, f in eps:
        want = w * f / total if total > 0 else 1.0 / len(eps)
        got = first.get(addr, 0) / n if n else 0.0
        tol = 4 * (want * (1 - want) / max(n, 1)) ** 0.5 + 0.005
        bad = abs(got - want) > tol
        ok = ok and not bad
        print("  %-18s %6g %5.2f %7.3f %8.1f%% %8.1f%%  (+-%.1f)%s"
              % (addr, w, load, f, 100 * want, 100 * got, 100 * tol,
                 "  <-- OUT OF TOLERANCE" if bad else ""))
    other = {k: v for k, v in first.items() if k not in {e[0] for e in eps}}
    if other:
        ok = False
        print("  unexpected first answers: %s" % other)
    print("  %d queries, %d answered (first address counted); answered by: %s"
          % (a.count, n, ", ".join("%s %d" % kv for kv in sorted(by_node.items()))))
    print("  tolerance: 4 standard deviations of a share over %d draws + 0.5 %%" % n)
    if a.json:
        with open(a.json, "w") as fj:
            json.dump({"first": first, "by_node": by_node, "lost": lost}, fj)
    if not ok:
        print("SHARES DO NOT MATCH THE FORMULA (or more than 1 %% of the "
              "queries got no answer: %d)" % lost)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
