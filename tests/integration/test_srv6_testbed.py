#!/usr/bin/env python3
"""The testbed's SR option end to end (issue 17): `testbed.sh up 2 --sr`

    client -- ra -+- rb -+- router -- node1, node2
                  `- rc -'            (ra-rc-router shaped by TBF)

Asserts that the topology file it writes parses as YAML with the fields
of docs/srv6.md and describes the network that was built: every SID
answers ICMPv6 echo and sits on its router's lo with seg6 on, every link
joins two namespaces over a shared /64 (one hop), the shaped links carry
a TBF of the declared rate at both ends, the SR routers have no
undeclared links. Then tests/unit/test_srv6_holder on the client steers
one TCP port along ra-rb-router and one along ra-rc-router to node1's
SID (node1's holder decapsulates), with a third port unsteered:
tcpdump on rb and rc shows each steered port's SRH (segment list and
segments left after ra) on its own path only, the unsteered port crosses
rb without one, 1400-byte writes arrive intact on all three, and iperf3
gets the shaped rate (within a generous band) on the rc path and more
on the rb path; `testbed.sh sr-link` cuts and restores a link. Needs
root, BIRD, tcpdump, iperf3, tc and the holder built with the SRv6 data
plane; skips (77) with the reason otherwise.
"""
import ipaddress
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (skip_cluster_in_distcheck, Testbed, main_skip77,  # noqa: E402
                           require_root_bird, require_tools, sanitizer_report)
from test_srv6 import (HOLDER, Holder, parse_pcap, volume, wait_line,  # noqa: E402
                       SERVER_PY, CLIENT_PY, CHUNK, CHUNKS)

NODES = 2
FAST, SHAPED, PLAIN = 5201, 5202, 5203       # TCP ports at node1: transfers
IPERF_FAST, IPERF_SHAPED = 5211, 5212        # and iperf3
IPERF_S = 3                                  # seconds per iperf3 run
NAME_RE = re.compile(r"^[a-z0-9-]{1,63}$")
PING_PY = r"""
import os, select, socket, struct, sys, time
addr, hlim = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hlim)
ident = os.getpid() & 0xffff
end = time.monotonic() + 5
for seq in range(1, 6):
    s.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, seq) + b"anysteer", (addr, 0))
    until = min(end, time.monotonic() + 1)
    while time.monotonic() < until:
        if not select.select([s], [], [], until - time.monotonic())[0]:
            break
        d, src = s.recvfrom(2048)
        if d[0] == 129 and struct.unpack("!H", d[4:6])[0] == ident and src[0] == addr:
            sys.exit(0)
sys.exit(1)
"""


def run(*args, check=True, timeout=60):
    return subprocess.run(args, check=check, timeout=timeout, capture_output=True,
                          text=True)


def run_bounded(argv, timeout):
    """(returncode, stdout, stderr); returncode None when argv did not
    end within timeout. Never waits without bound: a process stuck in
    the kernel (D state after an oops) would hang make check."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return None, "", "%s: no end after %d s" % (" ".join(argv), timeout)


def a16(addr):
    return socket.inet_pton(socket.AF_INET6, addr)


class NsHolder(Holder):
    """test_srv6's holder, in a namespace of the testbed."""

    def __init__(self, netns):
        self.p = subprocess.Popen(["ip", "netns", "exec", netns, HOLDER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  universal_newlines=True, bufsize=1)


class SRTestbedTest(unittest.TestCase):
    tb = None

    @classmethod
    def setUpClass(cls):
        skip_cluster_in_distcheck()
        require_root_bird()
        require_tools("tcpdump", "iperf3", "tc")
        try:
            import yaml  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3-yaml not installed")
        if not os.access(HOLDER, os.X_OK):
            raise unittest.SkipTest("%s not built" % HOLDER)
        probe = run(HOLDER, check=False)
        if probe.returncode != 0:
            raise unittest.SkipTest("no SRv6 data plane: %s" % probe.stdout.strip())
        cls.tmp = tempfile.mkdtemp(prefix="srv6-tb-test-")
        cls.procs, cls.holders = [], []
        cls.tb = Testbed()
        try:
            cls.build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def build(cls):
        import yaml
        t0 = time.monotonic()
        cls.tb.run("up", NODES, "--sr", timeout=180)
        cls.t_up = time.monotonic() - t0
        env = {}
        for tok in shlex.split(cls.tb.run("env").stdout):
            k, _, v = tok.partition("=")
            env[k] = v
        cls.env = env
        with open(env["SR_TOPOLOGY"]) as f:
            cls.topo = yaml.safe_load(f)
        cls.ns = dict(x.split("=") for x in env["SR_NAMESPACES"].split())
        for i in range(1, NODES + 1):
            cls.ns["node%d" % i] = cls.tb.node_ns(i)
        cls.sid = {x["name"]: x["sid"] for x in cls.topo["routers"] + cls.topo["hosts"]}
        cls.dst = Testbed.node_addr(1)
        # Strict segment lists from the file's names, ending at node1's SID.
        cls.paths = {FAST: ["ra", "rb", "router", "node1"],
                     SHAPED: ["ra", "rc", "router", "node1"]}
        cls.paths[IPERF_FAST] = cls.paths[FAST]
        cls.paths[IPERF_SHAPED] = cls.paths[SHAPED]

        cls.client = NsHolder(cls.ns["client"])
        cls.holders.append(cls.client)
        for port, names in cls.paths.items():
            cls.client.cmd("steer %s/128 tcp %d encap 1500 %s" % (
                cls.dst, port, ",".join(cls.sid[n] for n in names)))
        cls.client.cmd("attach eth0 egress")
        cls.client.cmd("attach eth0 ingress")
        cls.node = NsHolder(cls.ns["node1"])
        cls.holders.append(cls.node)
        cls.node.cmd("sid " + cls.sid["node1"])
        cls.node.cmd("attach eth0 ingress")

        for port in (FAST, SHAPED, PLAIN):
            p = cls.popen_ns("node1", [sys.executable, "-c", SERVER_PY, str(port)],
                             stdout=subprocess.PIPE)
            cls.procs.append(p)
            wait_line(p, p.stdout, "ready", 30)

        # Captures on rb's and rc's links from ra (what ra's End sent).
        cls.caps = {}
        for router in ("rb", "rc"):
            path = os.path.join(cls.tmp, router + ".pcap")
            p = cls.popen_ns(router, ["tcpdump", "-i", "to-ra", "-n", "-U",
                                      "--immediate-mode", "-s", "256", "-w", path,
                                      "ip6 and not icmp6"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            cls.procs.append(p)
            wait_line(p, p.stderr, "listening on", 30)
            cls.caps[router] = (p, path)
        cls.results = {}
        for port in (FAST, SHAPED, PLAIN):
            r = run("ip", "netns", "exec", cls.ns["client"], sys.executable, "-c",
                    CLIENT_PY, cls.dst, str(port), str(CHUNK), str(CHUNKS),
                    check=False, timeout=120)
            cls.results[port] = (r.returncode, r.stdout.strip(), r.stderr.strip())
        expect = {"rb": (FAST, PLAIN), "rc": (SHAPED,)}
        cls.packets = {}
        for router, (p, path) in cls.caps.items():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if all(volume(parse_pcap(path), port) >= CHUNK * CHUNKS
                       for port in expect[router]):
                    break
                time.sleep(0.05)
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
            cls.packets[router] = parse_pcap(path)

        # iperf3 over each steered path (after the captures: no tcpdump
        # competing for the CPU).
        cls.iperf = {}
        for port in (IPERF_SHAPED, IPERF_FAST):
            tbf0 = cls.tbf_bytes("rc", "to-router")
            srv = cls.popen_ns("node1", ["iperf3", "-s", "-1", "-p", str(port),
                                         "--forceflush"], stdout=subprocess.PIPE)
            cls.procs.append(srv)
            wait_line(srv, srv.stdout, "Server listening", 30)
            rc, out, err = run_bounded(["ip", "netns", "exec", cls.ns["client"], "iperf3",
                                        "-c", cls.dst, "-p", str(port), "-t", str(IPERF_S),
                                        "-J"], IPERF_S + 60)
            try:
                srv.wait(timeout=30)
                end = json.loads(out)["end"]
                got = (end["sum_received"]["bits_per_second"],
                       end["sum_received"]["bytes"])
            except (ValueError, KeyError, subprocess.TimeoutExpired) as e:
                got = (None, "iperf3 failed (%s, %s): %s %s" % (rc, e, out[-500:], err))
            cls.iperf[port] = got + (cls.tbf_bytes("rc", "to-router") - tbf0,)

    @classmethod
    def popen_ns(cls, who, argv, **kw):
        return subprocess.Popen(["ip", "netns", "exec", cls.ns[who]] + argv,
                                universal_newlines=True, **kw)

    @classmethod
    def nsrun(cls, who, *argv, check=True):
        return run("ip", "netns", "exec", cls.ns[who], *argv, check=check)

    @classmethod
    def tbf_bytes(cls, who, dev):
        q = json.loads(cls.nsrun(who, "tc", "-s", "-j", "qdisc", "show", "dev", dev).stdout)
        return sum(x.get("bytes", 0) for x in q if x["kind"] == "tbf")

    @classmethod
    def tearDownClass(cls):
        for h in getattr(cls, "holders", []):
            h.close()
        for p in getattr(cls, "procs", []):
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print("pid %d does not end (stuck in the kernel?)" % p.pid, file=sys.stderr)
        if cls.tb is not None:
            logs = [cls.tb.agent_log(i) for i in range(1, NODES + 1)]
            cls.tb.down()
            cls.tb = None
            for i, log in enumerate(logs, 1):
                rep = sanitizer_report(log)
                if rep:
                    raise AssertionError("node%d agent: sanitizer report:\n%s" % (i, rep))
        if getattr(cls, "tmp", None):
            subprocess.run(["rm", "-rf", cls.tmp])

    # ---- the topology file ----------------------------------------------------
    def test_1_topology_fields(self):
        """The file has the contract's fields, types and names."""
        t = self.topo
        self.assertEqual(sorted(t), ["hosts", "links", "routers"])
        names = []
        for r in t["routers"]:
            self.assertEqual(sorted(r), ["name", "sid"])
            names.append(r["name"])
        for h in t["hosts"]:
            self.assertEqual(sorted(h), ["name", "prefixes", "sid"])
            for p in h["prefixes"]:
                self.assertEqual(ipaddress.ip_network(p).version, 6, p)
            names.append(h["name"])
        for x in t["routers"] + t["hosts"]:
            self.assertEqual(ipaddress.ip_address(x["sid"]).version, 6, x)
            self.assertRegex(x["name"], NAME_RE)
        self.assertEqual(len(names), len(set(names)), names)
        self.assertEqual(sorted(x["name"] for x in t["routers"]),
                         ["ra", "rb", "rc", "router"])
        self.assertEqual(sorted(x["name"] for x in t["hosts"]),
                         ["client"] + ["node%d" % i for i in range(1, NODES + 1)])
        for link in t["links"]:
            self.assertLessEqual(set(link), {"between", "latency_us", "bandwidth_kbps",
                                             "cost", "tags"})
            a, b = link["between"]
            self.assertIn(a, names)
            self.assertIn(b, names)
            self.assertIsInstance(link["latency_us"], int)
            self.assertIsInstance(link["bandwidth_kbps"], int)
            self.assertGreater(link["bandwidth_kbps"], 0)
            self.assertIsInstance(link.get("cost", 1), int)
            tags = link.get("tags", [])
            self.assertLessEqual(len(tags), 8)
            for tag in tags:
                self.assertRegex(tag, NAME_RE)
        # Each node's own address is one of its prefixes.
        for h in t["hosts"]:
            if h["name"].startswith("node"):
                self.assertIn(Testbed.node_addr(int(h["name"][4:])) + "/128", h["prefixes"])

    def test_2_sids_exist_and_answer(self):
        """Every SID is on its owner's lo and answers ICMPv6 echo from the
        client; the routers process SRHs (seg6_enabled)."""
        for name, sid in self.sid.items():
            out = self.nsrun(name, "ip", "-6", "-o", "addr", "show", "dev", "lo").stdout
            self.assertIn(" %s/128 " % sid, out, name)
            if name != "client":
                r = self.nsrun("client", sys.executable, "-c", PING_PY, sid, "64", check=False)
                self.assertEqual(r.returncode, 0, "%s's SID %s does not answer" % (name, sid))
        for r in self.topo["routers"]:
            got = self.nsrun(r["name"], "sysctl", "-n", "net.ipv6.conf.all.seg6_enabled",
                             "net.ipv6.conf.all.forwarding").stdout.split()
            self.assertEqual(got, ["1", "1"], r["name"])

    def addrs(self, who):
        """(interface, address, network) of a namespace's global addresses."""
        out = self.nsrun(who, "ip", "-6", "-o", "addr", "show", "scope", "global").stdout
        res = []
        for line in out.splitlines():
            f = line.split()
            iface = ipaddress.ip_interface(f[3])
            res.append((f[1], str(iface.ip), iface.network))
        return res

    def test_3_links_exist(self):
        """Every link joins its two namespaces over a shared /64 that
        answers with hop limit 1; shaped links have a TBF at the declared
        rate on both ends; ra, rb, rc have no links beyond the file's."""
        degree = {}
        for link in self.topo["links"]:
            a, b = link["between"]
            degree[a] = degree.get(a, 0) + 1
            degree[b] = degree.get(b, 0) + 1
            shared = [(ia, ib, addr_b) for ia, _, na in self.addrs(a)
                      for ib, addr_b, nb in self.addrs(b)
                      if na == nb and na.prefixlen == 64]
            self.assertEqual(len(shared), 1, "%s-%s: %s" % (a, b, shared))
            ia, ib, addr_b = shared[0]
            r = self.nsrun(a, sys.executable, "-c", PING_PY, addr_b, "1", check=False)
            self.assertEqual(r.returncode, 0, "%s-%s: %s not one hop away" % (a, b, addr_b))
            for who, dev in ((a, ia), (b, ib)):
                if who.startswith("node") or who == "router" and dev == "br0":
                    continue    # the bridge: unshaped
                q = json.loads(self.nsrun(who, "tc", "-j", "qdisc", "show", "dev", dev).stdout)
                rates = [x["options"]["rate"] * 8 // 1000 for x in q if x["kind"] == "tbf"]
                if link["bandwidth_kbps"] >= 10000000:
                    self.assertEqual(rates, [], "%s %s: unshaped link has %s" % (who, dev, q))
                else:
                    self.assertEqual(rates, [link["bandwidth_kbps"]], "%s %s" % (who, dev))
        self.assertIn(10, [x.get("cost", 1) for x in self.topo["links"]])
        for r in ("ra", "rb", "rc"):
            out = self.nsrun(r, "ip", "-o", "link", "show", "type", "veth").stdout
            self.assertEqual(len(out.splitlines()), degree[r], "%s: %s" % (r, out))

    # ---- steering ---------------------------------------------------------------
    def test_4_transfers_complete(self):
        """1400-byte writes arrive intact on each port (SHA-256)."""
        for port, (rc, out, err) in self.results.items():
            self.assertEqual(rc, 0, "port %d: %s" % (port, err))
            got_n, got_h, sent_n, sent_h = out.split()
            self.assertEqual((got_n, got_h), (sent_n, sent_h), "port %d" % port)
            self.assertEqual(int(sent_n), CHUNK * CHUNKS)

    def test_5_srh_on_each_path(self):
        """Each steered port crosses only its path's middle router, every
        packet with the SRH [node1, router, rb|rc, ra] and segments left 2
        (ra's End consumed one), addressed to rb's or rc's SID."""
        for port in (FAST, SHAPED):
            names = self.paths[port]
            mid = names[1]
            other = "rc" if mid == "rb" else "rb"
            pk = [p for p in self.packets[mid] if p[2] == port]
            self.assertGreaterEqual(volume(pk, port), CHUNK * CHUNKS, "%s: %d" % (mid, port))
            segs = [a16(self.sid[n]) for n in reversed(names)]
            for dst, srh, _, _ in pk:
                self.assertIsNotNone(srh, "%s: port %d without SRH" % (mid, port))
                self.assertEqual(srh, (2, segs), "%s: port %d" % (mid, port))
                self.assertEqual(dst, a16(self.sid[mid]))
            self.assertEqual([p for p in self.packets[other] if p[2] == port], [],
                             "port %d also on %s" % (port, other))
        for port in (FAST, SHAPED):
            n, b = map(int, self.client.cmd("counters %s/128 tcp %d" % (self.dst, port)).split())
            self.assertGreater(n, 0, "port %d" % port)
            self.assertGreaterEqual(b, CHUNK * CHUNKS, "port %d" % port)
        st, sv = self.client.stats(), self.node.stats()
        self.assertEqual(st["too_big"], 0)
        self.assertEqual(st["write_fail"], 0)
        self.assertGreater(sv["decap"], 0)
        self.assertEqual(sv["decap_fail"], 0)

    def test_6_unsteered_untouched(self):
        """The unsteered port takes the default path via rb, no SRH, to
        node1's own address; none of it crosses rc."""
        pk = [p for p in self.packets["rb"] if p[2] == PLAIN]
        self.assertGreaterEqual(volume(pk, PLAIN), CHUNK * CHUNKS)
        for dst, srh, _, _ in pk:
            self.assertIsNone(srh)
            self.assertEqual(dst, a16(self.dst))
        self.assertEqual([p for p in self.packets["rc"] if p[2] == PLAIN], [])

    def test_7_shaped_rate(self):
        """iperf3 on the rc path gets the shaped rate (0.5x..1.1x, TCP
        over a TBF), on the rb path more than 1.5x that; the shaped run's
        bytes went through rc's TBF."""
        shaped = next(x["bandwidth_kbps"] for x in self.topo["links"]
                      if x["between"] == ["ra", "rc"]) * 1000
        bps_s, bytes_s, tbf_s = self.iperf[IPERF_SHAPED]
        bps_f, bytes_f, tbf_f = self.iperf[IPERF_FAST]
        self.assertIsNotNone(bps_s, bytes_s)
        self.assertIsNotNone(bps_f, bytes_f)
        print("\n  measure: iperf3 %d s: rc path (TBF %.0f Mbit/s) %.1f Mbit/s,"
              " rb path %.1f Mbit/s; testbed up %.1f s"
              % (IPERF_S, shaped / 1e6, bps_s / 1e6, bps_f / 1e6, self.t_up),
              file=sys.stderr)
        self.assertGreaterEqual(bps_s, 0.5 * shaped)
        self.assertLessEqual(bps_s, 1.1 * shaped)
        self.assertGreater(bps_f, 1.5 * bps_s)
        self.assertGreaterEqual(tbf_s, bytes_s)
        self.assertLess(tbf_f, bytes_f / 10)

    def lower_up(self, who, dev):
        out = self.nsrun(who, "ip", "-o", "link", "show", "dev", dev).stdout
        return "LOWER_UP" in out.split(">")[0]

    def test_8_sr_link(self):
        """`testbed.sh sr-link ra rc down` takes the carrier from rc's end
        of the link too; `up` brings both back, with the link's addresses
        and routes."""
        self.assertTrue(self.lower_up("rc", "to-ra"))
        self.tb.run("sr-link", "ra", "rc", "down")
        try:
            self.assertIsNotNone(self.tb.wait(lambda: not self.lower_up("rc", "to-ra"), 10, 0.02))
            self.assertFalse(self.lower_up("ra", "to-rc"))
        finally:
            self.tb.run("sr-link", "ra", "rc", "up")
        self.assertIsNotNone(self.tb.wait(lambda: self.lower_up("rc", "to-ra") and
                                          self.lower_up("ra", "to-rc"), 10, 0.02))
        # The admin-down took the link's addresses and routes with it; up
        # puts them back: ra reaches rc's SID over the link again.
        self.assertIn("dev to-rc", self.nsrun("ra", "ip", "-6", "route", "show",
                                              self.sid["rc"]).stdout)
        self.assertEqual(self.nsrun("ra", sys.executable, "-c", PING_PY, self.sid["rc"],
                                    "1", check=False).returncode, 0)


if __name__ == "__main__":
    main_skip77()
