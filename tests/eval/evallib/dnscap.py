#!/usr/bin/env python3
"""Passive capture of a site resolver's upstream DNS traffic.

Runs in a client site's network namespace, on its uplink (eth0), and
records every DNS response that reaches the resolver from an
authoritative server (UDP source port 53): per server, per question name
and type, the RCODE and the AAAA addresses in the order the server sent
them. This is what anysteer answered, before the resolver's cache and
rrset-roundrobin touched it. It sends nothing and does not sit in the
path: an AF_PACKET socket with a classic BPF filter (IPv6, UDP, port 53
either way, no extension headers) sees copies of the packets.

    ip netns exec SITE dnscap.py --ifname eth0 --ready FILE --out FILE.json

Stops on SIGTERM/SIGINT and writes its JSON: {"responses": N,
"queries": N, "by_server": {addr: N}, "by_qtype": {"AAAA": N, ...},
"by_rcode": {...}, "first_aaaa": {addr: N}, "all_aaaa": {addr: N},
"by_name": {name: {"responses": N, "first_aaaa": {addr: N}}},
"malformed": N}.
"""
import argparse
import ctypes
import json
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
QTYPES = {1: "A", 28: "AAAA", 6: "SOA", 2: "NS", 33: "SRV", 65: "HTTPS"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

# ldh [12]; jeq #0x86dd; ldb [20]; jeq #17; ldh [54]; jeq #53 -> accept;
# ldh [56]; jeq #53 -> accept; drop. (Ethernet 14 + IPv6 40 bytes.)
BPF = [
    (0x28, 0, 0, 12),
    (0x15, 0, 7, 0x86dd),
    (0x30, 0, 0, 20),
    (0x15, 0, 5, 17),
    (0x28, 0, 0, 54),
    (0x15, 2, 0, 53),
    (0x28, 0, 0, 56),
    (0x15, 0, 1, 53),
    (0x06, 0, 0, 0x40000),
    (0x06, 0, 0, 0),
]


def attach_filter(sock):
    prog = b"".join(struct.pack("HBBI", *ins) for ins in BPF)
    buf = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HL", len(BPF), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # keep alive


def read_name(msg, off):
    labels, jumps, end = [], 0, None
    while True:
        if off >= len(msg):
            raise ValueError("name past the end")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg) or jumps > 20:
                raise ValueError("bad pointer")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            continue
        if n == 0:
            return ".".join(labels).lower() + ".", (end if end is not None else off + 1)
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def parse(msg):
    """(is_response, qname, qtype, rcode, [aaaa...]) of a DNS message."""
    if len(msg) < 12:
        raise ValueError("short")
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    if qd != 1:
        raise ValueError("qdcount")
    qname, off = read_name(msg, 12)
    qtype = struct.unpack("!H", msg[off:off + 2])[0]
    off += 4
    aaaa = []
    if flags & 0x8000:
        for _ in range(an):
            _, off = read_name(msg, off)
            rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
            off += 10
            if rtype == 28 and rdlen == 16:
                aaaa.append(socket.inet_ntop(socket.AF_INET6, msg[off:off + 16]))
            off += rdlen
    return bool(flags & 0x8000), qname, qtype, flags & 0xF, aaaa


def bump(d, k, n=1):
    d[k] = d.get(k, 0) + n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--ready")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = {"responses": 0, "queries": 0, "by_server": {}, "by_qtype": {}, "by_rcode": {},
           "first_aaaa": {}, "all_aaaa": {}, "by_name": {}, "malformed": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    keep = attach_filter(s)
    s.bind((a.ifname, 0))
    s.settimeout(0.2)
    if a.ready:
        open(a.ready, "w").close()
    while not stop:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if len(frame) < 62:
            continue
        src = socket.inet_ntop(socket.AF_INET6, frame[22:38])
        sport = struct.unpack("!H", frame[54:56])[0]
        try:
            is_resp, qname, qtype, rcode, aaaa = parse(frame[62:])
        except (ValueError, struct.error, IndexError):
            res["malformed"] += 1
            continue
        if not is_resp:
            res["queries"] += 1
            continue
        if sport != 53:
            continue
        res["responses"] += 1
        bump(res["by_server"], src)
        bump(res["by_qtype"], QTYPES.get(qtype, str(qtype)))
        bump(res["by_rcode"], RCODES.get(rcode, str(rcode)))
        n = res["by_name"].setdefault(qname, {"responses": 0, "first_aaaa": {}})
        n["responses"] += 1
        if aaaa:
            bump(res["first_aaaa"], aaaa[0])
            bump(n["first_aaaa"], aaaa[0])
            for x in aaaa:
                bump(res["all_aaaa"], x)
    del keep
    with open(a.out, "w") as f:
        json.dump(res, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
