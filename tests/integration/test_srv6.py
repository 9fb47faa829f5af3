#!/usr/bin/env python3
"""SRv6 steering end to end in network namespaces (root).

    client --- ra ---- rb ---- rd --- server
                 \\            /
                  `--- rc ---'

ra, rb, rc and rd are SR routers (seg6_enabled=1, End SIDs on their
loopbacks); unsteered traffic follows static routes via rb. The client
runs the srv6 tc programs (tests/unit/test_srv6_holder) on its interface:
TCP port 5001 is encapsulated along ra-rb-rd, port 5002 along ra-rc-rd,
port 5004 gets an inserted SRH along ra-rc-rd; port 5003 is not steered.
The server decapsulates (outer header + SRH, or the inserted SRH) in its
tc ingress program; its own kernel has seg6 processing off, so nothing
but the program can deliver these packets.

tcpdump on rb's and rc's links from ra shows each packet's SRH: the
segment list and segments left expected at that hop, on the expected
router only; port 5003 crosses rb without a routing header. Every
transfer sends 1400-byte writes and must arrive intact (SHA-256) with no
packet left unsteered for its size: the client's ingress program lowers
the MSS of the server's SYN-ACK so segments fit the path with the SRH.

Needs root, ip, tcpdump and the holder built with the SRv6 data plane;
skips (77) with the reason otherwise.
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import main_skip77  # noqa: E402

BUILD = os.environ.get("top_builddir") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
HOLDER = os.path.join(BUILD, "tests", "unit", "test_srv6_holder")
PREFIX = "srv6-%d-" % os.getpid()
NODES = ["client", "ra", "rb", "rc", "rd", "server"]
# (node, ifname, node, ifname, /64 prefix): first end ::1, second ::2.
LINKS = [
    ("client", "c1", "ra", "a1", "fd00:60:1::"),
    ("ra", "a2", "rb", "b1", "fd00:60:2::"),
    ("ra", "a3", "rc", "c1", "fd00:60:3::"),
    ("rb", "b2", "rd", "d1", "fd00:60:4::"),
    ("rc", "c2", "rd", "d2", "fd00:60:5::"),
    ("rd", "d3", "server", "s1", "fd00:60:6::"),
]
SID = {"ra": "fd00:60:ff::a", "rb": "fd00:60:ff::b", "rc": "fd00:60:ff::c",
       "rd": "fd00:60:ff::d"}
SERVER = "fd00:60:6::2"
ROUTES = {
    "client": [("default", "fd00:60:1::2")],
    "ra": [(SID["rb"], "fd00:60:2::2"), (SID["rc"], "fd00:60:3::2"),
           ("default", "fd00:60:2::2"), ("fd00:60:5::/64", "fd00:60:3::2")],
    "rb": [("default", "fd00:60:4::2"), ("fd00:60:1::/64", "fd00:60:2::1"),
           (SID["ra"], "fd00:60:2::1"), (SID["rc"], "fd00:60:2::1"),
           ("fd00:60:3::/64", "fd00:60:2::1")],
    "rc": [("default", "fd00:60:5::2"), ("fd00:60:1::/64", "fd00:60:3::1"),
           (SID["ra"], "fd00:60:3::1"), (SID["rb"], "fd00:60:3::1")],
    "rd": [("default", "fd00:60:4::1"), (SID["rc"], "fd00:60:5::1"),
           ("fd00:60:3::/64", "fd00:60:5::1")],
    "server": [("default", "fd00:60:6::1")],
}
PATH_B = [SID["ra"], SID["rb"], SID["rd"]]
PATH_C = [SID["ra"], SID["rc"], SID["rd"]]
# port: (mode, path) for steered ports.
STEERED = {5001: ("encap", PATH_B), 5002: ("encap", PATH_C),
           5004: ("insert", PATH_C)}
PORTS = [5001, 5002, 5003, 5004]
CHUNK, CHUNKS = 1400, 400


def volume(packets, port):
    """Bytes captured towards port (whole GSO packets count whole)."""
    return sum(p[3] for p in packets if p[2] == port)

SERVER_PY = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1]))); s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(60)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(65536)
        if not b: break
        h.update(b); n += len(b)
    c.sendall(("%d %s\n" % (n, h.hexdigest())).encode()); c.close()
"""

CLIENT_PY = r"""
import hashlib, socket, sys
host, port, chunk, chunks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
h = hashlib.sha256()
s = socket.create_connection((host, port), timeout=60)
for i in range(chunks):
    b = bytes((i + j) & 0xff for j in range(chunk))
    s.sendall(b); h.update(b)
s.shutdown(socket.SHUT_WR)
r = b""
while not r.endswith(b"\n"):
    x = s.recv(100)
    if not x: break
    r += x
print(r.decode().strip(), "%d %s" % (chunk * chunks, h.hexdigest()))
"""


def ns(node):
    return PREFIX + node


def sh(*args, check=True, timeout=30):
    return subprocess.run(args, check=check, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


def nsx(node, *args, **kw):
    return sh("ip", "netns", "exec", ns(node), *args, **kw)


def wait_line(proc, stream, want, timeout):
    """Reads lines from stream until one contains want (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        if want in line:
            return line
    raise AssertionError("no %r from %s" % (want, proc.args))


class Holder:
    def __init__(self, node):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns(node), HOLDER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  universal_newlines=True, bufsize=1)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        if not r.startswith("ok"):
            raise AssertionError("holder: %s -> %r" % (line, r))
        return r[2:].strip()

    def stats(self):
        return {k: int(v) for k, v in
                (kv.split("=") for kv in self.cmd("stats").split())}

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def parse_pcap(path):
    """[(outer dst, srh or None, inner TCP dport, length)] of the IPv6 TCP
    packets in an Ethernet pcap; srh = (segments left, [segments]); length
    on the wire, or of a whole GSO packet (veth passes those along)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 24
    while off + 16 <= len(data):
        incl, orig = struct.unpack_from("<II", data, off + 8)
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 54 or pkt[12:14] != b"\x86\xdd":
            continue
        ip = pkt[14:]
        dst = ip[24:40]
        nh, l4 = ip[6], 40
        srh = None
        if nh == 43 and ip[42] == 4:
            hl, sl, last = ip[41], ip[43], ip[44]
            segs = [ip[48 + 16 * i:64 + 16 * i] for i in range(last + 1)]
            srh = (sl, segs)
            nh, l4 = ip[40], 40 + (hl + 1) * 8
            if nh == 41:
                nh, l4 = ip[l4 + 6], l4 + 40
        if nh != 6 or len(ip) < l4 + 4:
            continue
        out.append((dst, srh, struct.unpack_from("!H", ip, l4 + 2)[0], orig))
    return out


def a16(addr):
    import socket
    return socket.inet_pton(socket.AF_INET6, addr)


class SRv6Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (network namespaces, BPF)")
        for tool in ("ip", "tcpdump"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s not installed" % tool)
        if not os.access(HOLDER, os.X_OK):
            raise unittest.SkipTest("%s not built" % HOLDER)
        probe = sh(HOLDER, check=False, timeout=30)
        if probe.returncode != 0:
            raise unittest.SkipTest("no SRv6 data plane: %s" % probe.stdout.strip())
        cls.tmp = tempfile.mkdtemp(prefix="srv6-test-")
        cls.procs, cls.holders = [], []
        try:
            cls.build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def build(cls):
        for n in NODES:
            sh("ip", "netns", "add", ns(n))
            # Before any interface exists, so every one inherits these.
            nsx(n, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.all.forwarding=%d" % (n.startswith("r")),
                "net.ipv6.conf.all.seg6_enabled=%d" % (n.startswith("r")),
                "net.ipv6.conf.default.seg6_enabled=%d" % (n.startswith("r")))
            sh("ip", "-n", ns(n), "link", "set", "lo", "up")
            if n in SID:
                sh("ip", "-n", ns(n), "addr", "add", SID[n] + "/128", "dev", "lo")
        for a, ia, b, ib, pfx in LINKS:
            sh("ip", "-n", ns(a), "link", "add", ia, "type", "veth",
               "peer", "name", ib, "netns", ns(b))
            for node, ifn, host in ((a, ia, "1"), (b, ib, "2")):
                sh("ip", "-n", ns(node), "addr", "add", pfx + host + "/64",
                   "dev", ifn, "nodad")
                sh("ip", "-n", ns(node), "link", "set", ifn, "up")
        for n, routes in ROUTES.items():
            for dst, via in routes:
                sh("ip", "-n", ns(n), "-6", "route", "add", dst, "via", via)

        cls.client = Holder("client")
        cls.holders.append(cls.client)
        for port, (mode, path) in STEERED.items():
            cls.client.cmd("steer %s/128 tcp %d %s 1500 %s" % (
                SERVER, port, mode, ",".join(path + ["dst"])))
        cls.client.cmd("attach c1 egress")
        cls.client.cmd("attach c1 ingress")
        cls.server = Holder("server")
        cls.holders.append(cls.server)
        cls.server.cmd("sid " + SERVER)
        cls.server.cmd("attach s1 ingress")

        for port in PORTS:
            p = subprocess.Popen(["ip", "netns", "exec", ns("server"),
                                  sys.executable, "-c", SERVER_PY, str(port)],
                                 stdout=subprocess.PIPE, universal_newlines=True)
            cls.procs.append(p)
            wait_line(p, p.stdout, "ready", 30)

        cls.caps = {}
        for router, ifn in (("rb", "b1"), ("rc", "c1")):
            path = os.path.join(cls.tmp, router + ".pcap")
            p = subprocess.Popen(["ip", "netns", "exec", ns(router), "tcpdump",
                                  "-i", ifn, "-n", "-U", "--immediate-mode",
                                  "-s", "256", "-w",
                                  path, "ip6 and not icmp6"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, universal_newlines=True)
            cls.procs.append(p)
            wait_line(p, p.stderr, "listening on", 30)
            cls.caps[router] = (p, path)

        # One transfer per port, one after the other.
        # The egress program's own run time per packet (BPF_ENABLE_STATS)
        # during each transfer, printed for docs/srv6.md (not asserted:
        # every namespace shares the machine's cores).
        cls.client.cmd("runstats on")
        cls.results, cls.cost = {}, {}
        for port in PORTS:
            r0, n0 = map(int, cls.client.cmd("runstats egress").split())
            t0 = time.monotonic()
            r = nsx("client", sys.executable, "-c", CLIENT_PY, SERVER,
                    str(port), str(CHUNK), str(CHUNKS), check=False, timeout=120)
            dt = time.monotonic() - t0
            r1, n1 = map(int, cls.client.cmd("runstats egress").split())
            cls.results[port] = (r.returncode, r.stdout.strip(), r.stderr.strip())
            cls.cost[port] = (r1 - r0, n1 - n0)
            print("measure: port %d (%s): egress program %d runs, %.0f ns/run;"
                  " transfer %.0f ms" % (port, STEERED.get(port, ("unsteered",))[0],
                                         r1 - r0, (n1 - n0) / max(1, r1 - r0),
                                         dt * 1000), file=sys.stderr)
        # Until each capture holds what crossed its router (bounded):
        # the asserts then judge what it holds.
        expect = {"rb": (5001, 5003), "rc": (5002, 5004)}
        cls.packets = {}
        for router, (p, path) in cls.caps.items():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got = parse_pcap(path)
                if all(volume(got, port) >= CHUNK * CHUNKS
                       for port in expect[router]):
                    break
                time.sleep(0.05)
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
            cls.packets[router] = parse_pcap(path)

    @classmethod
    def tearDownClass(cls):
        for h in getattr(cls, "holders", []):
            h.close()
        for p in getattr(cls, "procs", []):
            if p.poll() is None:
                p.kill()
            p.wait()
        for n in NODES:
            sh("ip", "netns", "del", ns(n), check=False)
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_transfers_complete(self):
        """Every port's 1400-byte writes arrive intact."""
        for port in PORTS:
            rc, out, err = self.results[port]
            self.assertEqual(rc, 0, "port %d: %s" % (port, err))
            got_n, got_h, sent_n, sent_h = out.split()
            self.assertEqual(got_n, sent_n, "port %d" % port)
            self.assertEqual(int(sent_n), CHUNK * CHUNKS)
            self.assertEqual(got_h, sent_h, "port %d" % port)

    def expect_srh(self, router, port, mode, path):
        pk = [p for p in self.packets[router] if p[2] == port]
        self.assertGreaterEqual(volume(pk, port), CHUNK * CHUNKS,
                                "%s: port %d" % (router, port))
        segs = [a16(SERVER)] + [a16(s) for s in reversed(path)]
        for dst, srh, _, _ in pk:
            self.assertIsNotNone(srh, "%s: port %d without SRH" % (router, port))
            sl, got = srh
            # ra (the first segment) has done End: one segment consumed.
            self.assertEqual(sl, len(segs) - 2)
            self.assertEqual(got, segs)
            self.assertEqual(dst, a16(path[1]))

    def test_paths_by_port(self):
        """5001 crosses rb, 5002 and 5004 cross rc, with their SRHs."""
        self.expect_srh("rb", 5001, *STEERED[5001])
        self.expect_srh("rc", 5002, *STEERED[5002])
        self.expect_srh("rc", 5004, *STEERED[5004])
        self.assertEqual([p for p in self.packets["rc"] if p[2] in (5001, 5003)], [])
        self.assertEqual([p for p in self.packets["rb"] if p[2] in (5002, 5004)], [])

    def test_unsteered_untouched(self):
        """5003 follows the static routes via rb with no routing header."""
        pk = [p for p in self.packets["rb"] if p[2] == 5003]
        self.assertGreaterEqual(volume(pk, 5003), CHUNK * CHUNKS)
        for dst, srh, _, _ in pk:
            self.assertIsNone(srh)
            self.assertEqual(dst, a16(SERVER))

    def test_counters(self):
        """Counters: steered packets per entry, the SYN-ACKs' MSS lowered,
        nothing sent unsteered for its size, the server decapsulated and
        stripped."""
        for port in STEERED:
            n, b = map(int, self.client.cmd(
                "counters %s/128 tcp %d" % (SERVER, port)).split())
            self.assertGreater(n, 0, "port %d" % port)
            self.assertGreaterEqual(b, CHUNK * CHUNKS)
        st = self.client.stats()
        self.assertGreaterEqual(st["mss_clamped"], 3 * 2)  # SYN out, SYN-ACK in
        self.assertEqual(st["too_big"], 0)
        self.assertEqual(st["write_fail"], 0)
        sv = self.server.stats()
        self.assertGreater(sv["decap"], 0)
        self.assertGreater(sv["strip"], 0)
        self.assertEqual(sv["decap_fail"], 0)
        # The kernel accounted the egress program's runs for each transfer.
        for port in PORTS:
            self.assertGreater(self.cost[port][0], 0)


if __name__ == "__main__":
    main_skip77()
