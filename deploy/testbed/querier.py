#!/usr/bin/env python3
"""A DNS client load loop for the anysteer testbed and its tests.

Sends one UDP query (web.<zone> AAAA with an EDNS NSID request) every
1/rate seconds, each from a new socket, so every query is a new flow and
the upstream router's L4 ECMP hash spreads them over the nodes. A query
fails when no valid answer (matching ID, NOERROR) arrives within
--timeout. Runs for --duration seconds or until SIGTERM/SIGINT, then
prints one JSON object: counts, answers per node (NSID), and the send
times (CLOCK_MONOTONIC, comparable across network namespaces) of every
failed query.

    ip netns exec astb-c deploy/testbed/querier.py --server fd00:53::53 \
        --rate 200 --duration 5
"""
import argparse
import json
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time


def build_query(qid, name, qtype=28, rd=False):
    q = struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 1)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack("!HH", qtype, 1)
    # OPT: udp 1232, NSID option (3) with no data.
    q += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 4) + struct.pack("!HH", 3, 0)
    return q


def skip_name(msg, off):
    while off < len(msg):
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n
    raise ValueError("truncated name")


def parse_reply(msg):
    """(id, rcode, nsid or None); raises ValueError on garbage."""
    if len(msg) < 12:
        raise ValueError("short")
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    if not flags & 0x8000:
        raise ValueError("not a response")
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    nsid = None
    for i in range(an + ns + ar):
        off = skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if rtype == 41 and i >= an + ns:
            o = off
            while o + 4 <= off + rdlen:
                code, olen = struct.unpack("!HH", msg[o:o + 4])
                if code == 3:
                    nsid = msg[o + 4:o + 4 + olen].decode(errors="replace")
                o += 4 + olen
        off += rdlen
    return qid, flags & 0xF, nsid


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="fd00:53::53")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--name", default="web.svc.example.")
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--duration", type=float, default=0, help="0 = until SIGTERM")
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--ready", help="file created once the loop runs")
    ap.add_argument("--times", action="store_true",
                    help="also print the send time of every query (sent_times)")
    ap.add_argument("--recursive", action="store_true",
                    help="set RD: the server is a recursive resolver")
    args = ap.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    sel = selectors.DefaultSelector()
    rnd = random.Random()
    pending = {}  # sock -> (qid, sent)
    sent = answered = 0
    failures = []
    sent_times = []
    errors = 0
    by_node = {}
    start = time.monotonic()
    next_send = start
    interval = 1.0 / args.rate
    end = start + args.duration if args.duration > 0 else None
    if args.ready:
        open(args.ready, "w").close()

    def finish(sock):
        sel.unregister(sock)
        sock.close()
        del pending[sock]

    while True:
        now = time.monotonic()
        sending = not stop and (end is None or now < end)
        if not sending and not pending:
            break
        while sending and now >= next_send:
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.setblocking(False)
            qid = rnd.randrange(65536)
            try:
                s.sendto(build_query(qid, args.name, rd=args.recursive),
                         (args.server, args.port))
            except OSError:
                errors += 1
                failures.append(next_send)
                s.close()
            else:
                sel.register(s, selectors.EVENT_READ)
                pending[s] = (qid, next_send)
            sent += 1
            if args.times:
                sent_times.append(next_send)
            next_send += interval
            if next_send < now - 1.0:   # fell far behind: do not burst
                next_send = now
        wait = max(0.0, min(next_send - time.monotonic(), 0.01)) if sending else 0.01
        for key, _ in sel.select(wait):
            sock = key.fileobj
            try:
                msg = sock.recv(4096)
                rid, rcode, nsid = parse_reply(msg)
            except (OSError, ValueError, struct.error):
                continue
            qid, t = pending[sock]
            if rid != qid:
                continue
            if rcode == 0:
                answered += 1
                by_node[nsid or "?"] = by_node.get(nsid or "?", 0) + 1
            else:
                failures.append(t)
            finish(sock)
        # Expire only after reading what arrived: a stalled loop (busy
        # machine) must not count answers waiting in socket buffers.
        now = time.monotonic()
        for sock, (qid, t) in list(pending.items()):
            if now - t > args.timeout:
                try:
                    msg = sock.recv(4096)
                    rid, rcode, nsid = parse_reply(msg)
                    if rid == qid and rcode == 0:
                        answered += 1
                        by_node[nsid or "?"] = by_node.get(nsid or "?", 0) + 1
                        finish(sock)
                        continue
                except (OSError, ValueError, struct.error):
                    pass
                failures.append(t)
                finish(sock)
    extra = {"sent_times": sent_times} if args.times else {}
    json.dump(dict(extra, **{"sent": sent, "answered": answered, "failed": len(failures),
               "send_errors": errors, "start": start, "end": time.monotonic(),
               "rate": args.rate, "timeout": args.timeout,
               "by_node": by_node, "failures": sorted(failures)}), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
