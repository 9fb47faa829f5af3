#!/usr/bin/env python3
"""anysteerd on loopback, queried with kdig and dig: every answer case over
UDP and TCP, malformed input, SIGHUP reload (valid and invalid), the control
socket, metrics, --check-config and a clean SIGTERM."""
import collections
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERD, Daemon, require_tools,  # noqa: E402
                           sanitizer_report)

ZONE = "svc.example."


def config(d, web_endpoints=None):
    web = web_endpoints or [("fd00:10::1", 100), ("fd00:10::2", 300),
                            ("192.0.2.10", 100)]
    big = "\n".join('      - { address: "fd00:30::%x", weight: 10, node: node2 }'
                    % (i + 1) for i in range(40))
    return """# integration test configuration
node:
  name: %(name)s
dns:
  listen: ["[::1]:%(port)d", "127.0.0.1:%(port)d"]
  zone: %(zone)s
  ttl: 5
  max_answers: 2
  workers: %(workers)d
  udp_io: %(udp_io)s
  nameservers: [ns1.%(zone)s]
  ns_addresses: ["fd00:53::53"]
  negative_ttl: 7
  tcp_idle_timeout: 2s
  # Shares and floods below send thousands of queries from one address;
  # rate limiting has its own test (test_dns_rrl.py).
  rrl: {enabled: false}
control:
  socket: %(ctl)s
metrics:
  listen: "[::1]:%(mport)d"
load:
  low_watermark: 0.6
  high_watermark: 0.95
services:
  - name: web
    port: 80
    ttl: 10
    endpoints:
%(web)s
  - name: one
    port: 443
    max_answers: 1
    endpoints:
      - { address: "fd00:40::1", weight: 100, node: node2 }
      - { address: "fd00:40::2", weight: 300, node: node2 }
      - { address: "fd00:40::3", weight: 0, node: node2 }
  - name: big
    port: 8080
    max_answers: 40
    endpoints:
%(big)s
  - name: empty
    port: 9000
    endpoints: []
""" % {"name": d.name, "port": d.port, "zone": ZONE, "workers": d.workers,
       "udp_io": getattr(d, "udp_io", "auto"),
       "ctl": d.ctl, "mport": d.metrics_port, "big": big,
       "web": "\n".join('      - { address: "%s", weight: %d, node: node2 }' % e
                        for e in web)}


def raw_query(port, payload, tcp=False, timeout=1.0, family=socket.AF_INET6,
              host="::1"):
    """Sends raw bytes; returns the response bytes or None."""
    if tcp:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(struct.pack("!H", len(payload)) + payload)
        try:
            hdr = s.recv(2)
            if len(hdr) < 2:
                return None
            n = struct.unpack("!H", hdr)[0]
            data = b""
            while len(data) < n:
                chunk = s.recv(n - len(data))
                if not chunk:
                    break
                data += chunk
            return data
        except socket.timeout:
            return None
        finally:
            s.close()
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(payload, (host, port))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def make_query(name, qtype, qid=None, qdcount=1, flags=0x0100):
    qid = random.randrange(65536) if qid is None else qid
    return struct.pack("!HHHHHH", qid, flags, qdcount, 0, 0, 0) + \
        encode_name(name) + struct.pack("!HH", qtype, 1)


def parse_aaaa_answers(resp):
    """Addresses in the answer section of a response to an AAAA query."""
    qd, an = struct.unpack("!HH", resp[4:8])
    off = 12
    while resp[off] != 0:
        off += resp[off] + 1
    off += 5
    addrs = []
    for _ in range(an):
        if resp[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while resp[off] != 0:
                off += resp[off] + 1
            off += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", resp[off:off + 10])
        off += 10
        if rtype == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, resp[off:off + rdlen]))
        off += rdlen
    return addrs


class DaemonDNSTest(unittest.TestCase):
    # dns.udp_io: the default picks io_uring where the kernel has it; the
    # subclass at the end runs every case again on the recvmmsg path.
    UDP_IO = "auto"

    @classmethod
    def setUpClass(cls):
        require_tools("kdig", "dig")
        cls.d = Daemon(config, workers=2)
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
            raise AssertionError("anysteerd exited with %s:\n%s" % (code, log[-3000:]))

    def both(self, fn):
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                fn(("+tcp",) if tcp else ())

    # ---- positive answers ---------------------------------------------------
    def test_soa_and_ns_at_apex(self):
        def check(opts):
            a = self.d.kdig(ZONE, "SOA", *opts)
            self.assertEqual(a.status, "NOERROR", a.text)
            self.assertIn("aa", a.flags)
            soa = a.records("ANSWER", "SOA")
            self.assertEqual(len(soa), 1, a.text)
            self.assertEqual(soa[0][0], ZONE)
            self.assertTrue(soa[0][4].startswith("ns1.svc.example. hostmaster.svc.example."),
                            soa[0][4])
            self.assertEqual(soa[0][4].split()[-1], "7")  # minimum = negative_ttl
            a = self.d.kdig(ZONE, "NS", *opts)
            self.assertEqual(a.rdata("ANSWER", "NS"), ["ns1.svc.example."], a.text)
            a = self.d.kdig("ns1." + ZONE, "AAAA", *opts)
            self.assertEqual(a.rdata("ANSWER", "AAAA"), ["fd00:53::53"], a.text)
        self.both(check)

    def test_aaaa_and_a_for_service(self):
        def check(opts):
            seen = set()
            for _ in range(20):
                a = self.d.kdig("web." + ZONE, "AAAA", *opts)
                self.assertEqual(a.status, "NOERROR", a.text)
                self.assertIn("aa", a.flags)
                rd = a.rdata("ANSWER", "AAAA")
                self.assertEqual(len(rd), 2, a.text)   # max_answers 2 of 2 v6
                self.assertEqual(len(set(rd)), 2)      # without replacement
                self.assertTrue(set(rd) <= {"fd00:10::1", "fd00:10::2"})
                self.assertTrue(all(r[1] == 10 for r in a.records()), a.text)  # service TTL
                seen |= set(rd)
            self.assertEqual(seen, {"fd00:10::1", "fd00:10::2"})
            a = self.d.dig("web." + ZONE, "A", *opts)
            self.assertEqual(a.rdata("ANSWER", "A"), ["192.0.2.10"], a.text)
            # Case is preserved in the question and matched insensitively.
            a = self.d.kdig("WeB.SvC.ExAmPlE.", "AAAA", *opts)
            self.assertEqual(a.status, "NOERROR")
            self.assertEqual(len(a.rdata("ANSWER", "AAAA")), 2)
        self.both(check)

    def test_weighted_share(self):
        # 'one' answers a single endpoint: weights 100/300/0 -> 25 %/75 %/0 %.
        counts = collections.Counter()
        n = 4000
        for i in range(n):
            resp = raw_query(self.d.port, make_query("one." + ZONE, 28))
            self.assertIsNotNone(resp)
            addrs = parse_aaaa_answers(resp)
            self.assertEqual(len(addrs), 1)
            counts[addrs[0]] += 1
        self.assertEqual(counts["fd00:40::3"], 0, counts)
        share = counts["fd00:40::2"] / n
        # 3 sigma of a binomial(4000, .75) is about 2 percentage points.
        self.assertAlmostEqual(share, 0.75, delta=0.025, msg=str(counts))

    def test_srv(self):
        def check(opts):
            a = self.d.kdig("_web._tcp." + ZONE, "SRV", *opts)
            self.assertEqual(a.status, "NOERROR", a.text)
            srv = a.rdata("ANSWER", "SRV")
            self.assertEqual(len(srv), 1, a.text)
            prio, weight, port, target = srv[0].split()
            self.assertEqual((port, target), ("80", "web.svc.example."))
            add = a.records("ADDITIONAL", "AAAA")
            self.assertTrue(add, a.text)
            self.assertTrue(all(r[0] == "web.svc.example." for r in add))
        self.both(check)

    def test_https(self):
        def check(opts):
            a = self.d.kdig("web." + ZONE, "HTTPS", *opts)
            self.assertEqual(a.status, "NOERROR", a.text)
            rd = a.rdata("ANSWER", "HTTPS")
            self.assertEqual(len(rd), 1, a.text)
            self.assertIn("port=80", rd[0])
            self.assertIn("ipv6hint=", rd[0])
            hint = rd[0].split("ipv6hint=")[1].split()[0].split(",")
            self.assertTrue(set(hint) <= {"fd00:10::1", "fd00:10::2"}, rd[0])
        self.both(check)

    # ---- negative answers ------------------------------------------------
    def test_nxdomain_and_nodata(self):
        def check(opts):
            a = self.d.kdig("nope." + ZONE, "AAAA", *opts)
            self.assertEqual(a.status, "NXDOMAIN", a.text)
            self.assertIn("aa", a.flags)
            soa = a.records("AUTHORITY", "SOA")
            self.assertEqual(len(soa), 1, a.text)
            self.assertEqual(soa[0][1], 7)  # negative TTL from the SOA minimum
            a = self.d.kdig("x.web." + ZONE, "AAAA", *opts)
            self.assertEqual(a.status, "NXDOMAIN", a.text)
            a = self.d.kdig("web." + ZONE, "TXT", *opts)
            self.assertEqual(a.status, "NOERROR", a.text)
            self.assertEqual(a.records("ANSWER"), [])
            self.assertEqual(len(a.records("AUTHORITY", "SOA")), 1, a.text)
            a = self.d.kdig("empty." + ZONE, "AAAA", *opts)
            self.assertEqual(a.status, "NOERROR", a.text)
            self.assertEqual(a.records("ANSWER"), [])
            a = self.d.kdig("_tcp." + ZONE, "SRV", *opts)   # empty non-terminal
            self.assertEqual(a.status, "NOERROR", a.text)
        self.both(check)

    def test_refused_notimp(self):
        def check(opts):
            a = self.d.kdig("example.com.", "AAAA", *opts)
            self.assertEqual(a.status, "REFUSED", a.text)
            self.assertNotIn("aa", a.flags)
            a = self.d.dig("web." + ZONE, "AAAA", "+opcode=2", *opts)
            self.assertEqual(a.status, "NOTIMP", a.text)
            a = self.d.kdig(ZONE, "AXFR", *opts) if opts else None
            if a is not None:
                self.assertIn("REFUSED", a.text)
        self.both(check)

    def test_any_minimal(self):
        def check(opts):
            a = self.d.kdig("web." + ZONE, "ANY", *opts)
            self.assertEqual(a.status, "NOERROR", a.text)
            types = {r[3] for r in a.records("ANSWER")}
            self.assertEqual(len(types), 1, a.text)  # one RRset (RFC 8482)
        self.both(check)

    # ---- EDNS, NSID, CHAOS, truncation -------------------------------------
    def test_edns_and_nsid(self):
        def check(opts):
            a = self.d.kdig("web." + ZONE, "AAAA", "+nsid", *opts)
            self.assertTrue(a.edns, a.text)
            self.assertEqual(a.udp_size, 1232, a.text)
            self.assertEqual(a.nsid, "node1", a.text)
            a = self.d.kdig("web." + ZONE, "AAAA", "+noedns", *opts)
            self.assertFalse(a.edns, a.text)
            self.assertEqual(a.status, "NOERROR")
            a = self.d.dig("web." + ZONE, "AAAA", "+edns=1", "+noednsneg", *opts)
            self.assertEqual(a.status, "BADVERS", a.text)
        self.both(check)

    def test_chaos_identity(self):
        def check(opts):
            for name in ("id.server.", "hostname.bind."):
                a = self.d.kdig(name, "TXT", *opts, klass="CH")
                self.assertEqual(a.status, "NOERROR", a.text)
                self.assertEqual(a.rdata("ANSWER", "TXT"), ['"node1"'], a.text)
            a = self.d.kdig("version.server.", "TXT", *opts, klass="CH")
            self.assertEqual(a.status, "REFUSED", a.text)
        self.both(check)

    def test_truncation_then_tcp(self):
        a = self.d.kdig("big." + ZONE, "AAAA", "+bufsize=512", "+ignore")
        self.assertIn("tc", a.flags, a.text)
        self.assertEqual(a.records("ANSWER"), [])
        a = self.d.kdig("big." + ZONE, "AAAA", "+bufsize=512")  # kdig retries over TCP
        self.assertNotIn("tc", a.flags, a.text)
        self.assertEqual(len(a.rdata("ANSWER", "AAAA")), 40, a.text)
        a = self.d.kdig("big." + ZONE, "AAAA", "+tcp")
        self.assertEqual(len(a.rdata("ANSWER", "AAAA")), 40, a.text)

    def test_ipv4_listener(self):
        a = self.d.kdig("web." + ZONE, "AAAA", server="127.0.0.1")
        self.assertEqual(a.status, "NOERROR", a.text)
        a = self.d.kdig("web." + ZONE, "AAAA", "+tcp", server="127.0.0.1")
        self.assertEqual(a.status, "NOERROR", a.text)

    # ---- malformed input ---------------------------------------------------
    def test_malformed(self):
        before = self.d.ctl_json("status")["queries"]
        port = self.d.port
        # Fewer than 12 bytes: dropped.
        self.assertIsNone(raw_query(port, b"\x12\x34\x01", timeout=0.3))
        # A response (QR=1): dropped.
        self.assertIsNone(raw_query(port, make_query("web." + ZONE, 28, flags=0x8100),
                                    timeout=0.3))
        # QDCOUNT 2 and 0: FORMERR.
        for qd in (0, 2):
            r = raw_query(port, make_query("web." + ZONE, 28, qid=0x4242, qdcount=qd))
            self.assertIsNotNone(r)
            self.assertEqual(r[:2], b"\x42\x42")
            self.assertEqual(r[3] & 0x0F, 1)
        # A compression pointer loop in the question: FORMERR.
        loop = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x1c\x00\x01"
        r = raw_query(port, loop)
        self.assertIsNotNone(r)
        self.assertEqual(r[3] & 0x0F, 1)
        # An over-long label: FORMERR.
        longlabel = struct.pack("!HHHHHH", 8, 0x0100, 1, 0, 0, 0) + b"\x50" + b"a" * 80 + \
            b"\x00\x00\x1c\x00\x01"
        r = raw_query(port, longlabel)
        self.assertIsNotNone(r)
        self.assertEqual(r[3] & 0x0F, 1)
        # Random garbage, over UDP and TCP: the daemon keeps answering.
        rnd = random.Random(1)
        for i in range(300):
            raw_query(port, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 120))),
                      timeout=0.02)
        raw_query(port, b"\x00" * 5, tcp=True, timeout=0.3)
        a = self.d.kdig("web." + ZONE, "AAAA")
        self.assertEqual(a.status, "NOERROR", a.text)
        after = self.d.ctl_json("status")["queries"]
        mal_b, mal_a = before["malformed"], after["malformed"]
        self.assertGreaterEqual(mal_a["short_header"] - mal_b["short_header"], 1)
        self.assertGreaterEqual(mal_a["response"] - mal_b["response"], 1)
        self.assertGreaterEqual(mal_a["qdcount"] - mal_b["qdcount"], 2)
        self.assertGreaterEqual(mal_a["name"] - mal_b["name"], 2)
        self.assertGreater(after["dropped"], before["dropped"])

    # ---- operator surface ----------------------------------------------------
    def test_ctl_status_and_services(self):
        st = self.d.ctl_json("status")
        self.assertEqual(st["node"], "node1")
        self.assertEqual(st["zone"], ZONE)
        self.assertEqual(len(st["listeners"]), 2)
        self.assertEqual(st["workers"], 2)
        if self.UDP_IO == "auto":
            # recvmmsg only where the daemon said why io_uring is out.
            self.assertIn(st["udp_io"], ("io_uring", "recvmmsg"))
            if st["udp_io"] == "recvmmsg":
                self.assertIn("io_uring not available", self.d.log())
        else:
            self.assertEqual(st["udp_io"], self.UDP_IO)
        self.assertIn("factor", st["load"])
        self.assertGreaterEqual(st["load"]["cpus"], 1)
        text = self.d.ctl_run("status").stdout
        self.assertIn("node        node1", text)
        self.assertIn("listeners", text)
        sv = self.d.ctl_json("services")
        names = [s["name"] for s in sv["services"]]
        self.assertEqual(sorted(names), ["big", "empty", "one", "web"])
        one = [s for s in sv["services"] if s["name"] == "one"][0]
        shares = {e["address"]: e["share"] for e in one["endpoints"]}
        self.assertAlmostEqual(shares["fd00:40::2"], 0.75, places=3)
        self.assertEqual(shares["fd00:40::3"], 0)
        text = self.d.ctl_run("services").stdout
        self.assertRegex(text, r"one\s+443\s+tcp")
        r = self.d.ctl_run("no-such-command", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown command", r.stderr)

    def test_metrics(self):
        self.d.kdig("web." + ZONE, "AAAA")
        url = "http://[::1]:%d/metrics" % self.d.metrics_port
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        self.assertIn('anysteer_build_info{version="', body)
        mode = self.d.ctl_json("status")["udp_io"]
        self.assertIn('anysteer_dns_udp_io_info{mode="%s"} 1' % mode, body)
        m = [l for l in body.splitlines()
             if l.startswith('anysteer_dns_queries_by_qtype_total{qtype="AAAA"}')]
        self.assertEqual(len(m), 1)
        self.assertGreater(int(m[0].split()[-1]), 0)
        self.assertIn("anysteer_dns_answer_duration_seconds_bucket{le=\"+Inf\"}", body)
        self.assertIn("anysteer_load_factor ", body)
        self.assertIn('anysteer_dns_malformed_total{reason="name"}', body)
        with self.assertRaises(urllib.error.HTTPError):
            urllib.request.urlopen("http://[::1]:%d/nope" % self.d.metrics_port, timeout=5)


class ReloadTest(unittest.TestCase):
    def setUp(self):
        require_tools("kdig")
        self.d = Daemon(config)
        self.d.start()

    def tearDown(self):
        code, log = self.d.stop()
        self.d.cleanup()
        self.assertIsNone(sanitizer_report(log))
        self.assertEqual(code, 0, log[-3000:])

    def wait_for(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def test_sighup_valid_then_invalid(self):
        a = self.d.kdig("web." + ZONE, "AAAA")
        self.assertTrue(set(a.rdata()) <= {"fd00:10::1", "fd00:10::2"})
        self.d.write_config(config(self.d, [("fd00:99::1", 100)]))
        self.d.signal(signal.SIGHUP)
        self.assertTrue(self.wait_for(
            lambda: self.d.kdig("web." + ZONE, "AAAA").rdata() == ["fd00:99::1"]),
            self.d.log()[-2000:])
        self.assertEqual(self.d.ctl_json("status")["config"]["reloads"], 1)
        # An invalid file is rejected and the old catalog keeps serving.
        self.d.write_config(config(self.d, [("fd00:98::1", 100)])
                            .replace("ttl: 5", "ttl: -3"))
        self.d.signal(signal.SIGHUP)
        self.assertTrue(self.wait_for(
            lambda: self.d.ctl_json("status")["config"]["reload_failures"] == 1))
        self.assertEqual(self.d.kdig("web." + ZONE, "AAAA").rdata(), ["fd00:99::1"])
        self.assertRegex(self.d.log(), r"anysteer\.yaml:\d+: dns\.ttl")
        # And through the control socket.
        r = self.d.ctl_run("reload", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("dns.ttl", r.stderr)


class CheckConfigTest(unittest.TestCase):
    def test_check_config(self):
        d = Daemon(config)
        try:
            r = subprocess.run([ANYSTEERD, "--check-config", "--config", d.config],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("valid", r.stdout)
            d.write_config(config(d).replace("max_answers: 2", "max_answers: 0")
                           .replace("  zone:", "  zonee:"))
            r = subprocess.run([ANYSTEERD, "--check-config", "--config", d.config],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2)
            self.assertRegex(r.stderr, r"anysteer\.yaml:\d+: dns\.max_answers")
            self.assertRegex(r.stderr, r"anysteer\.yaml:\d+: dns\.zonee")
            r = subprocess.run([ANYSTEERD, "--check-config", "--config",
                                os.path.join(d.dir, "missing.yaml")],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2)
            self.assertIn("missing.yaml", r.stderr)
        finally:
            d.cleanup()

    def test_busy_port_fails_cleanly(self):
        d = Daemon(config)
        blocker = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            blocker.bind(("::1", d.port))
            d.start(wait=False)
            code = d.proc.wait(10)
            self.assertEqual(code, 1)
            self.assertIn("[::1]:%d" % d.port, d.log())
            self.assertIsNone(sanitizer_report(d.log()))
        finally:
            blocker.close()
            d.stop()
            d.cleanup()


WZONE = "apps.example."


def wild_config(d, extra_endpoint=""):
    """A zone with the wildcard service (issue 14: Ingress hosts such as
    *.apps.example), an explicit name beside it, and a udp service."""
    return """node:
  name: %(name)s
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  workers: 1
  max_answers: 2
  negative_ttl: 7
control:
  socket: %(ctl)s
metrics:
  listen: ""
services:
  - name: "*"
    port: 8443
    endpoints:
      - { address: "fd00:70::1", node: node2 }
      - { address: "fd00:70::2", node: node2 }
      - { address: "192.0.2.70", node: node2 }
%(extra)s  - name: web
    port: 443
    endpoints:
      - { address: "fd00:71::1", node: node2 }
  - name: dns
    port: 53
    protocol: udp
    endpoints:
      - { address: "fd00:72::1", node: node2 }
""" % {"name": d.name, "port": d.port, "zone": WZONE, "ctl": d.ctl,
       "extra": extra_endpoint}


class WildcardTest(unittest.TestCase):
    """The wildcard service through kdig (RFC 4592; docs/dns.md)."""

    @classmethod
    def setUpClass(cls):
        require_tools("kdig", "dig")
        cls.d = Daemon(wild_config)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        code, log = cls.d.stop()
        cls.d.cleanup()
        report = sanitizer_report(log)
        if report:
            raise AssertionError("sanitizer report:\n" + report)
        if code != 0:
            raise AssertionError("anysteerd exited with %s:\n%s" % (code, log[-3000:]))

    def both(self, fn):
        for tcp in (False, True):
            with self.subTest(tcp=tcp):
                fn(("+tcp",) if tcp else ())

    def test_addresses_below_the_zone(self):
        wild6 = {"fd00:70::1", "fd00:70::2"}

        def check(opts):
            for name in ("shop." + WZONE, "a.b.c." + WZONE, "*." + WZONE):
                a = self.d.kdig(name, "AAAA", *opts)
                self.assertEqual(a.status, "NOERROR", a.text)
                self.assertIn("aa", a.flags)
                recs = a.records("ANSWER", "AAAA")
                self.assertEqual(len(recs), 2, a.text)
                self.assertTrue(all(r[0] == name for r in recs), a.text)
                self.assertEqual({r[4] for r in recs}, wild6, a.text)
            a = self.d.kdig("x.y." + WZONE, "A", *opts)
            self.assertEqual(a.rdata("ANSWER", "A"), ["192.0.2.70"], a.text)
            # dig keeps the case: the owner is the query name as asked.
            a = self.d.dig("ShOp.ApPs.example.", "AAAA", *opts)
            recs = a.records("ANSWER", "AAAA")
            self.assertEqual(len(recs), 2, a.text)
            self.assertRegex(a.text, r"(?m)^ShOp\.ApPs\.example\.\s+\d+\s+IN\s+AAAA")
        self.both(check)

    def test_https_and_srv(self):
        def check(opts):
            a = self.d.kdig("shop." + WZONE, "HTTPS", *opts)
            rd = a.rdata("ANSWER", "HTTPS")
            self.assertEqual(len(rd), 1, a.text)
            self.assertIn("port=8443", rd[0])
            self.assertIn("ipv6hint=", rd[0])
            self.assertEqual(a.records("ANSWER")[0][0], "shop." + WZONE)
            a = self.d.kdig("_shop._tcp." + WZONE, "SRV", *opts)
            recs = a.records("ANSWER", "SRV")
            self.assertEqual(len(recs), 1, a.text)
            self.assertEqual(recs[0][0], "_shop._tcp." + WZONE)
            self.assertEqual(recs[0][4].split()[2:], ["8443", "*." + WZONE])
            self.assertTrue(a.records("ADDITIONAL", "AAAA"), a.text)
            a = self.d.kdig("_web._tcp." + WZONE, "SRV", *opts)
            self.assertEqual(a.rdata("ANSWER", "SRV")[0].split()[2:],
                             ["443", "web." + WZONE], a.text)
        self.both(check)

    def test_what_it_does_not_answer(self):
        def check(opts):
            a = self.d.kdig("web." + WZONE, "AAAA", *opts)
            self.assertEqual(a.rdata("ANSWER", "AAAA"), ["fd00:71::1"], a.text)
            for name in (WZONE, "_tcp." + WZONE, "ns." + WZONE):
                a = self.d.kdig(name, "AAAA", *opts)
                self.assertEqual(a.status, "NOERROR", a.text)
                self.assertEqual(a.records("ANSWER"), [], a.text)
                self.assertEqual(len(a.records("AUTHORITY", "SOA")), 1, a.text)
            a = self.d.kdig("shop." + WZONE, "TXT", *opts)    # NODATA
            self.assertEqual(a.status, "NOERROR", a.text)
            self.assertEqual(a.records("ANSWER"), [], a.text)
            for name in ("x.web." + WZONE, "_shop._udp." + WZONE):
                a = self.d.kdig(name, "AAAA", *opts)
                self.assertEqual(a.status, "NXDOMAIN", a.text)
                self.assertEqual(a.records("AUTHORITY", "SOA")[0][1], 7, a.text)
        self.both(check)

    def test_listed_by_services(self):
        names = [s["name"] for s in self.d.ctl_json("services")["services"]]
        self.assertIn("*", names)


class SoaTest(unittest.TestCase):
    """Issue 18: the SOA's names in canonical case whatever the query's
    case; the serial a fingerprint of the catalog: the same on two nodes
    and across a restart or a reload that changes nothing, different
    when the catalog changes."""

    def setUp(self):
        require_tools("kdig", "dig")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            code, log = d.stop()
            d.cleanup()
            self.assertIsNone(sanitizer_report(log))
            self.assertEqual(code, 0, log[-3000:])

    def daemon(self, name):
        d = Daemon(config, name=name)
        self.daemons.append(d)
        return d.start()

    def soa(self, d, qname=ZONE):
        a = d.dig(qname, "SOA")
        self.assertEqual(a.status, "NOERROR", a.text)
        recs = a.records("ANSWER", "SOA")
        self.assertEqual(len(recs), 1, a.text)
        return recs[0][4].split()

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def test_canonical_names(self):
        d = self.daemon("node-a")
        for q in ("SvC.ExAmPlE.", "SVC.EXAMPLE."):
            mname, rname = self.soa(d, q)[:2]
            self.assertEqual((mname, rname), ("ns1.svc.example.",
                                              "hostmaster.svc.example."))
        # And in the authority section of negative answers.
        a = d.dig("NoPe.sVc.ExAmPlE.", "AAAA")
        self.assertEqual(a.status, "NXDOMAIN", a.text)
        self.assertEqual(a.records("AUTHORITY", "SOA")[0][4].split()[:2],
                         ["ns1.svc.example.", "hostmaster.svc.example."])

    def test_serial_is_the_catalog(self):
        a, b = self.daemon("node-a"), self.daemon("node-b")
        serial = self.soa(a)[2]
        self.assertEqual(self.soa(b)[2], serial, "same catalog, other node")
        # Restart: same serial.
        code, log = a.stop()
        self.assertEqual(code, 0, log[-2000:])
        a.start()
        self.assertEqual(self.soa(a)[2], serial, "after a restart")
        # A reload that changes nothing: same serial.
        a.ctl_run("reload")
        self.assertEqual(a.ctl_json("status")["config"]["reloads"], 1)
        self.assertEqual(self.soa(a)[2], serial, "after a reload")
        # A reload that adds an endpoint: a new serial, once it serves.
        a.write_config(config(a, [("fd00:99::1", 100)]))
        a.ctl_run("reload")
        self.assertTrue(self.wait_for(
            lambda: a.kdig("web." + ZONE).rdata() == ["fd00:99::1"]))
        self.assertNotEqual(self.soa(a)[2], serial)
        self.assertEqual(self.soa(b)[2], serial)


class DaemonDNSTestRecvmmsg(DaemonDNSTest):
    UDP_IO = "recvmmsg"


if __name__ == "__main__":
    unittest.main(verbosity=2)
