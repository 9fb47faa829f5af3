#!/usr/bin/env python3
"""Forwarding names outside the zone (dns.forward), against real resolvers.

Upstream side, in a network namespace of its own (nothing leaves this
machine): NSD is authoritative for example.test and unbound recurses for
it (a stub zone to NSD); anysteerd runs on the host and forwards to
unbound over a veth pair. Clients are kdig on ::1 (allowed) and on
127.0.0.1 (not allowed). unbound-control tells how many queries unbound
saw, so the cache is checked from the upstream's side.

A second test class puts a spoofer in front: a UDP "upstream" written
here that answers every query first with a wrong ID, then with the wrong
question, then correctly; anysteer must drop the first two (and count
them) and pass the third."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERD, Daemon, require_tools,  # noqa: E402
                           sanitizer_report)

ZONE = "svc.example."
UP = "fd00:f0%x::2" % (os.getpid() % 0xff)
HOST = "fd00:f0%x::1" % (os.getpid() % 0xff)

ZONEFILE = """$ORIGIN example.test.
$TTL 300
@ IN SOA ns.example.test. host.example.test. 1 7200 900 1209600 60
@ IN NS ns
ns IN AAAA %(up)s
www IN AAAA 2001:db8::1
www IN A 192.0.2.1
other IN AAAA 2001:db8::2
gone IN AAAA 2001:db8::3
late IN AAAA 2001:db8::4
%(big)s
""" % {"up": UP, "big": "\n".join(
    'big IN TXT "%s"' % (("%02d" % i) * 100) for i in range(12))}


def config(d, upstreams, extra=""):
    return """node: {name: fw}
dns:
  listen: ["[::1]:%(port)d", "127.0.0.1:%(port)d"]
  zone: %(zone)s
  workers: 1
  forward:
    upstreams: [%(ups)s]
    allow: ["::1/128"]
    timeout: 400ms
    total_timeout: 1500ms
%(extra)scontrol: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
services:
  - name: web
    port: 80
    endpoints:
      - { address: "fd00:10::1" }
""" % {"port": d.port, "zone": ZONE, "ctl": d.ctl, "mport": d.metrics_port,
       "ups": ", ".join('"%s"' % u for u in upstreams), "extra": extra}


def metric(d, name, labels=""):
    with urllib.request.urlopen("http://[::1]:%d/metrics" % d.metrics_port,
                                timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %.0fs waiting for %s"
                         % (timeout, what))


class Upstream:
    """NSD and unbound in their own namespace."""

    def __init__(self):
        self.ns = "asfw%d" % os.getpid()
        self.dir = tempfile.mkdtemp(prefix="anysteer-fwd-")
        self.procs = {}
        self.veth = "asfw%dh" % (os.getpid() % 100000)

    def ip(self, *args, ns=True):
        cmd = (["ip", "netns", "exec", self.ns] if ns else []) + list(args)
        subprocess.run(cmd, check=True, capture_output=True)

    def start(self):
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.ip("ip", "link", "set", "lo", "up")
        self.ip("ip", "link", "add", self.veth, "type", "veth", "peer",
                "name", "up0", "netns", self.ns, ns=False)
        self.ip("ip", "addr", "add", HOST + "/64", "dev", self.veth,
                "nodad", ns=False)
        self.ip("ip", "link", "set", self.veth, "up", ns=False)
        self.ip("ip", "addr", "add", UP + "/64", "dev", "up0", "nodad")
        self.ip("ip", "link", "set", "up0", "up")
        with open(os.path.join(self.dir, "example.test.zone"), "w") as f:
            f.write(ZONEFILE)
        with open(os.path.join(self.dir, "nsd.conf"), "w") as f:
            f.write("""server:
  ip-address: %(up)s@5300
  username: ""
  chroot: ""
  zonesdir: "%(d)s"
  database: ""
  zonelistfile: "%(d)s/zone.list"
  xfrdfile: "%(d)s/xfrd.state"
  pidfile: "%(d)s/nsd.pid"
  logfile: "%(d)s/nsd.log"
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: example.test.zone
""" % {"up": UP, "d": self.dir})
        with open(os.path.join(self.dir, "unbound.conf"), "w") as f:
            f.write("""server:
  interface: %(up)s@53
  access-control: ::/0 allow
  username: ""
  chroot: ""
  directory: "%(d)s"
  pidfile: "%(d)s/unbound.pid"
  logfile: "%(d)s/unbound.log"
  use-syslog: no
  verbosity: 1
  module-config: "iterator"
  do-not-query-localhost: no
  qname-minimisation: no
  infra-keep-probing: yes
  local-zone: "test." nodefault
remote-control:
  control-enable: yes
  control-interface: "%(d)s/unbound.ctl"
  control-use-cert: no
stub-zone:
  name: "example.test"
  stub-addr: %(up)s@5300
""" % {"up": UP, "d": self.dir})
        self.spawn("nsd", ["nsd", "-d", "-c",
                           os.path.join(self.dir, "nsd.conf")])
        self.spawn("unbound", ["unbound", "-d", "-c",
                               os.path.join(self.dir, "unbound.conf")])
        wait_for(lambda: self.dig_up("www.example.test", 53) == "NOERROR",
                 20, "unbound in front of NSD to answer\n" + self.logs())

    def spawn(self, name, cmd):
        log = open(os.path.join(self.dir, name + ".out"), "w")
        self.procs[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns] + cmd, stdin=subprocess.DEVNULL,
            stdout=log, stderr=log)

    def dig_up(self, name, port):
        r = subprocess.run(["kdig", "@" + UP, "-p", str(port), "+time=1",
                            "+retry=0", name, "AAAA"],
                           capture_output=True, text=True, timeout=10)
        m = re.search(r"status: ([A-Z]+)", r.stdout)
        return m.group(1) if m else None

    def queries(self):
        """Queries unbound has received (unbound-control stats)."""
        r = subprocess.run(
            ["ip", "netns", "exec", self.ns, "unbound-control", "-c",
             os.path.join(self.dir, "unbound.conf"), "stats_noreset"],
            capture_output=True, text=True, timeout=10)
        m = re.search(r"^total\.num\.queries=(\d+)$", r.stdout, re.M)
        if not m:
            raise AssertionError("unbound-control: %s%s"
                                 % (r.stdout, r.stderr))
        return int(m.group(1))

    def stop_unbound(self):
        p = self.procs.pop("unbound", None)
        if p and p.poll() is None:
            p.terminate()
            p.wait(10)

    def logs(self):
        out = ""
        for n in ("nsd.out", "unbound.out", "unbound.log", "nsd.log"):
            try:
                with open(os.path.join(self.dir, n)) as f:
                    out += "--- %s\n%s" % (n, f.read()[-2000:])
            except OSError:
                pass
        return out

    def cleanup(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run(["ip", "link", "del", self.veth],
                       capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class ForwardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(ANYSTEERD, os.X_OK):
            raise unittest.SkipTest("%s not built" % ANYSTEERD)
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root for a network namespace")
        require_tools("kdig", "nsd", "unbound", "unbound-control")

    def setUp(self):
        self.up = Upstream()
        self.addCleanup(self.up.cleanup)
        self.up.start()
        self.d = Daemon(lambda d: config(d, ["[%s]:53" % UP]))
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def kdig(self, name, rtype="AAAA", *opts, server="::1"):
        return self.d.kdig(name, rtype, *opts, server=server)

    def test_forward(self):
        d = self.d
        # An allowed client gets the upstream's answer, RA set, AA not.
        a = self.kdig("www.example.test")
        self.assertEqual(a.status, "NOERROR", a.text)
        self.assertEqual(a.rdata(rtype="AAAA"), ["2001:db8::1"], a.text)
        self.assertIn("ra", a.flags, a.text)
        self.assertNotIn("aa", a.flags, a.text)
        # The zone itself is still answered with authority, and with RA
        # (recursion is available to this client), over UDP and TCP; a
        # client outside allow gets the zone without RA.
        for opts in ((), ("+tcp",)):
            z = self.kdig("web." + ZONE, "AAAA", *opts)
            self.assertEqual(z.status, "NOERROR", z.text)
            self.assertIn("aa", z.flags, z.text)
            self.assertIn("ra", z.flags, z.text)
            self.assertEqual(z.rdata(rtype="AAAA"), ["fd00:10::1"])
            z = self.kdig("web." + ZONE, "AAAA", *opts, server="127.0.0.1")
            self.assertEqual(z.status, "NOERROR", z.text)
            self.assertNotIn("ra", z.flags, z.text)

        # A client outside allow: REFUSED, no RA, nothing forwarded.
        before = self.up.queries()
        r = self.kdig("other.example.test", server="127.0.0.1")
        self.assertEqual(r.status, "REFUSED", r.text)
        self.assertNotIn("ra", r.flags, r.text)
        self.assertEqual(metric(d, "anysteer_dns_forward_queries_total",
                                '{client="refused"}'), 1)

        # The second identical query comes from the cache: unbound sees
        # one query for two answers; the TTL counts down, not up.
        a1 = self.kdig("other.example.test")
        a2 = self.kdig("other.example.test")
        self.assertEqual(a1.rdata(rtype="AAAA"), ["2001:db8::2"], a1.text)
        self.assertEqual(a2.rdata(rtype="AAAA"), ["2001:db8::2"], a2.text)
        self.assertEqual(self.up.queries() - before, 1)
        self.assertLessEqual(a2.records(rtype="AAAA")[0][1],
                             a1.records(rtype="AAAA")[0][1])
        self.assertEqual(metric(d, "anysteer_dns_forward_cache_total",
                                '{result="hit"}'), 1)
        # Case does not make another entry; the answer keeps the case
        # the client asked in (dig sends the name as written; kdig
        # writes it in lower case).
        a3 = d.dig("OTHER.Example.TEST")
        self.assertEqual(a3.status, "NOERROR", a3.text)
        self.assertEqual(self.up.queries() - before, 1)
        self.assertIn("OTHER.Example.TEST.", a3.text)

        # Over TCP, an uncached name: the reply comes later, on the same
        # connection (the forwarder's late-reply hook of tcp.c).
        t = self.kdig("gone.example.test", "AAAA", "+tcp")
        self.assertEqual(t.status, "NOERROR", t.text)
        self.assertEqual(t.rdata(rtype="AAAA"), ["2001:db8::3"], t.text)
        self.assertIn("(TCP)", t.text)

        # NXDOMAIN is cached for min(SOA TTL, SOA MINIMUM) = 60 s.
        n1 = self.kdig("nope.example.test")
        self.assertEqual(n1.status, "NXDOMAIN", n1.text)
        soa = n1.records("AUTHORITY", "SOA")
        self.assertTrue(soa and soa[0][1] <= 60, n1.text)
        q = self.up.queries()
        n2 = self.kdig("nope.example.test")
        self.assertEqual(n2.status, "NXDOMAIN", n2.text)
        self.assertEqual(self.up.queries(), q, "NXDOMAIN not cached")

        # A truncated upstream answer is asked again over TCP; the
        # client's UDP answer is truncated in turn, and over TCP (kdig
        # retries by itself) it gets all twelve strings.
        big = self.kdig("big.example.test", "TXT", "+bufsize=1232")
        self.assertEqual(big.status, "NOERROR", big.text)
        self.assertEqual(len(big.rdata(rtype="TXT")), 12, big.text)
        self.assertGreaterEqual(
            metric(d, "anysteer_dns_forward_tcp_retries_total"), 1)
        st = d.ctl_json("status")["forward"]
        self.assertEqual(st["upstreams"][0]["address"], "[%s]:53" % UP)
        self.assertGreater(st["upstreams"][0]["answers"], 0)
        self.assertIsNotNone(st["upstreams"][0]["srtt_ms"])
        text = d.ctl_run("status").stdout
        self.assertIn("upstream  [%s]:53: srtt" % UP, text)

    def test_rrl_forwarded(self):
        """Rate limiting covers forwarded answers too (issue 20), also the
        replies that go out late, when the upstream has answered."""
        d = self.d
        code, log = d.stop()
        self.assertEqual(code, 0, log[-3000:])
        d.write_config(config(d, ["[%s]:53" % UP],
                              "  rrl: {responses_per_second: 10, slip: 0}\n"))
        d.start()
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(("::1", 0))
        q = b"\1\0\0\1\0\0\0\0\0\0" + b"\3www\7example\4test\0" + \
            struct.pack("!HH", 28, 1)
        t0 = time.monotonic()
        # 100 queries at once for a name not cached yet: they wait for
        # the upstream, and their replies leave from the forwarder.
        for i in range(100):
            s.sendto(struct.pack("!H", i) + q, ("::1", d.port))
        answers = 0
        s.settimeout(2.0)
        try:
            while True:
                r = s.recv(4096)
                if struct.unpack("!H", r[6:8])[0] > 0:
                    answers += 1
        except socket.timeout:
            pass
        elapsed = time.monotonic() - t0 - 2.0
        sys.stderr.write("forwarded: %d of 100 answered in %.2f s\n"
                         % (answers, elapsed))
        self.assertGreaterEqual(answers, 1)
        self.assertLessEqual(answers, 10 * (1 + elapsed) + 2)
        self.assertGreaterEqual(
            metric(d, "anysteer_dns_rrl_dropped_total"), 100 - answers)
        code, log = d.stop()
        self.assertEqual(code, 0, log[-3000:])
        self.assertIsNone(sanitizer_report(log), log[-3000:])

    def test_upstream_down(self):
        d = self.d
        self.assertEqual(self.kdig("www.example.test").status, "NOERROR")
        self.up.stop_unbound()
        # An uncached name: SERVFAIL within total_timeout (1.5 s); kdig
        # waits 4 s. Meanwhile the zone answers as fast as ever.
        result = {}

        def slow():
            t = time.monotonic()
            result["a"] = self.kdig("late.example.test", "AAAA", "+time=4")
            result["t"] = time.monotonic() - t
        th = threading.Thread(target=slow)
        th.start()
        lat = []
        while th.is_alive():
            t = time.monotonic()
            z = self.kdig("web." + ZONE)
            lat.append(time.monotonic() - t)
            self.assertEqual(z.status, "NOERROR", z.text)
        th.join()
        a = result["a"]
        self.assertEqual(a.status, "SERVFAIL", a.text)
        self.assertLess(result["t"], 1.5 + 1.0, a.text)
        self.assertGreaterEqual(len(lat), 3)
        # The cached name is still served (within its TTL).
        self.assertEqual(self.kdig("www.example.test").status, "NOERROR")
        self.assertGreaterEqual(metric(
            d, "anysteer_dns_forward_answers_total", '{kind="servfail"}'), 1)
        code, log = d.stop()
        self.assertEqual(code, 0, log[-3000:])
        self.assertIsNone(sanitizer_report(log), log[-3000:])


class Spoofer:
    """A UDP upstream on loopback that answers each query three times:
    wrong ID, wrong question, then right (an A record 192.0.2.99)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            qid = struct.unpack("!H", q[:2])[0]
            end = 12
            while q[end]:
                end += 1 + q[end]
            question = q[12:end + 5]
            rr = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) +
                  bytes([192, 0, 2, 99]))

            def answer(i, qn):
                return (struct.pack("!HHHHHH", i, 0x8180, 1, 1, 0, 0) +
                        qn + rr)
            other = bytearray(question)
            other[1] ^= 0x01  # another first letter
            self.sock.sendto(answer(qid ^ 0x5555, question), peer)
            self.sock.sendto(answer(qid, bytes(other)), peer)
            self.sock.sendto(answer(qid, question), peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


class SpoofTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(ANYSTEERD, os.X_OK):
            raise unittest.SkipTest("%s not built" % ANYSTEERD)
        require_tools("kdig")

    def test_spoofed_answers_dropped(self):
        sp = Spoofer()
        self.addCleanup(sp.close)
        d = Daemon(lambda d: config(d, ["[::1]:%d" % sp.port]))
        self.addCleanup(d.cleanup)
        d.start()
        a = d.kdig("spoof.example.test", "A")
        self.assertEqual(a.status, "NOERROR", a.text)
        self.assertEqual(a.rdata(rtype="A"), ["192.0.2.99"], a.text)
        self.assertEqual(metric(d, "anysteer_dns_forward_bad_responses_total",
                                '{reason="id"}'), 1)
        self.assertEqual(metric(d, "anysteer_dns_forward_bad_responses_total",
                                '{reason="question"}'), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
