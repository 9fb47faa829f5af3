#!/usr/bin/env python3
"""Response rate limiting (issue 19, section 5): a single-source flood of
one name from a raw UDP socket is answered at about the configured rate
(plus truncated slips), while another source prefix sees no loss, TCP is
never limited, and the counters reach metrics and status. Runs on the
io_uring path (where the kernel has it) and again on recvmmsg.

Before RRL the same flood was answered in full (3000 of 3000)."""
import os
import socket
import struct
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import Daemon, require_tools, sanitizer_report  # noqa: E402

ZONE = "svc.example."
RATE = 50           # dns.rrl.responses_per_second
FLOOD = 3000        # bounded
OTHER = "127.0.1.1"  # another /24 than the flood's 127.0.0.1 (lo has 127/8)


def config(d):
    return """node: {name: %(name)s}
dns:
  listen: ["[::1]:%(port)d", "127.0.0.1:%(port)d"]
  zone: %(zone)s
  workers: 1
  udp_io: %(udp_io)s
  rrl:
    responses_per_second: %(rate)d
    window: 1s
    slip: 2
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
services:
  - name: web
    port: 80
    endpoints:
      - { address: "fd00:10::1", weight: 100, node: node2 }
      - { address: "fd00:10::2", weight: 100, node: node2 }
""" % {"name": d.name, "port": d.port, "zone": ZONE, "rate": RATE,
       "udp_io": getattr(d, "udp_io", "auto"), "ctl": d.ctl,
       "mport": d.metrics_port}


def query(name, qid, qtype=28):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def kind(resp):
    """'answer' (NOERROR with records), 'slip' (TC=1, no records) or
    'other'."""
    flags, qd, an = struct.unpack("!HHH", resp[2:8])
    if flags & 0x0200 and an == 0:
        return "slip"
    if flags & 0x000F == 0 and an > 0:
        return "answer"
    return "other"


class RRLTest(unittest.TestCase):
    UDP_IO = "auto"

    @classmethod
    def setUpClass(cls):
        require_tools("kdig")
        cls.d = Daemon(config)
        cls.d.udp_io = cls.UDP_IO
        cls.d.write_config(config(cls.d))
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        code, log = cls.d.stop()
        cls.d.cleanup()
        report = sanitizer_report(log)
        if report:
            raise AssertionError("sanitizer report:\n" + report)
        if code != 0:
            raise AssertionError("anysteerd exited with %s:\n%s"
                                 % (code, log[-3000:]))

    def metrics(self):
        url = "http://[::1]:%d/metrics" % self.d.metrics_port
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        out = {}
        for line in body.splitlines():
            if line.startswith("anysteer_dns_rrl_"):
                k, v = line.split()
                out[k] = int(float(v))
        return out

    def drain(self, s, counts, until):
        while True:
            s.settimeout(max(0.0, until - time.monotonic()))
            try:
                counts[kind(s.recv(4096))] += 1
                self.last_reply = time.monotonic()
            except (socket.timeout, BlockingIOError):
                return

    def test_flood_limited_others_unaffected_tcp_free(self):
        before = self.metrics()
        name = "web." + ZONE
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        flood.bind(("127.0.0.1", 0))
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind((OTHER, 0))
        counts = {"answer": 0, "slip": 0, "other": 0}
        other_ok = other_lost = 0
        t0 = self.last_reply = time.monotonic()
        for i in range(FLOOD):
            flood.sendto(query(name, i & 0xFFFF), ("127.0.0.1", self.d.port))
            if i % 75 == 0:
                # Another prefix, same name, mid-flood: always answered
                # (40 queries, below its own bucket's rate x window).
                other.settimeout(2.0)
                other.sendto(query(name, 60000 + i // 75),
                             ("127.0.0.1", self.d.port))
                try:
                    r = other.recv(4096)
                    if kind(r) == "answer":
                        other_ok += 1
                    else:
                        other_lost += 1
                except socket.timeout:
                    other_lost += 1
                self.drain(flood, counts, 0)
        sent_in = time.monotonic() - t0
        self.drain(flood, counts, time.monotonic() + 1.0)
        # Tokens accrue until the daemon's last answer, which may come
        # after the sending ended (the flood queries after the last
        # mid-flood probe, read late by a daemon off the CPU): the rate
        # runs over the time to the last reply.
        elapsed = max(sent_in, self.last_reply - t0)
        flood.close()
        other.close()
        sys.stderr.write("flood of %d in %.2f s: %s; other source %d/%d\n"
                         % (FLOOD, elapsed, counts, other_ok,
                            other_ok + other_lost))
        self.assertEqual(other_lost, 0)
        self.assertEqual(other_ok, FLOOD // 75 + (FLOOD % 75 > 0))
        # rate x window to start with, then rate per second; 10 % slack
        # for the clock reads being per batch.
        bound = RATE * (1 + elapsed) * 1.1 + 5
        self.assertGreaterEqual(counts["answer"], RATE * 0.9)
        self.assertLessEqual(counts["answer"], bound, counts)
        # slip 2: about every second limited reply comes back truncated.
        limited = FLOOD - counts["answer"]
        self.assertGreater(counts["slip"], limited * 0.3, counts)
        self.assertLessEqual(counts["slip"], limited // 2 + 1, counts)
        self.assertEqual(counts["other"], 0, counts)
        after = self.metrics()
        slipped = (after["anysteer_dns_rrl_slipped_total"]
                   - before.get("anysteer_dns_rrl_slipped_total", 0))
        dropped = (after["anysteer_dns_rrl_dropped_total"]
                   - before.get("anysteer_dns_rrl_dropped_total", 0))
        self.assertGreaterEqual(slipped, counts["slip"])
        self.assertGreater(dropped, limited * 0.3)
        st = self.d.ctl_json("status")
        self.assertGreaterEqual(st["queries"]["rrl_slipped"], slipped)

        # The flood's bucket is empty now, yet TCP answers every time.
        for _ in range(20):
            a = self.d.kdig(name, "AAAA", "+tcp", server="127.0.0.1")
            self.assertEqual(a.status, "NOERROR", a.text)
            self.assertEqual(len(a.rdata("ANSWER", "AAAA")), 2, a.text)


class RRLMmsgTest(RRLTest):
    UDP_IO = "recvmmsg"


if __name__ == "__main__":
    unittest.main(verbosity=2)
