#!/usr/bin/env python3
"""SRv6 path steering by real agents (issue 17), in network namespaces.

    client --- ra ---- rb ---- rd --- server
                 \\            /
                  `--- rc ---'

test_srv6.py's diamond of SR routers (seg6_enabled=1, End SIDs;
unsteered traffic is routed via rb). The server runs anysteerd owning
the service web (its endpoint is the server's address, which is also its
SID); the client runs anysteerd in the end-host role (no DNS listener,
no anycast), gossiping with the server, with web's intent in its
catalog and the topology file. Nothing else programs the client:

 1. the client's agent installs web's endpoint along the latency path
    (ra, rb, rd): a TCP transfer crosses rb with the SRH, none crosses rc,
    and `anysteerctl paths` shows the path with nonzero counters;
 2. the intent switches to cost by a config reload: the next transfer
    crosses rc;
 3. the link rc-rd is cut (nftables on rc): the agent's probes take it
    down and the path moves back to rb; when the link returns, back to rc;
 4. the link ra-rc takes its liveness from a BIRD protocol on the client
    (bird_protocol in the client's topology file): disabling it moves the
    path to rb, enabling it brings it back.

The second class runs an agent with srv6.enabled but without the
capabilities the data plane needs: it says what is missing, runs on and
answers DNS.

Needs root, ip, tcpdump, nft, BIRD, setpriv and a build with the SRv6 data plane;
skips (77) with the reason otherwise.
"""
import json
import os
import shutil
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_srv6 as bed  # noqa: E402
from anysteer_test import (ANYSTEERD, Daemon, free_port, main_skip77,  # noqa: E402
                           sanitizer_report)

bed.PREFIX = "s6agent-%d-" % os.getpid()
ZONE = "svc.example."
CLIENT = "fd00:60:1::1"
SERVER = bed.SERVER
PORT = 5001
CHUNK, CHUNKS = 1400, 300

TOPOLOGY = """\
# the diamond of test_srv6.py (issue 17 topology file)
routers:
%(routers)s
hosts:
  - {name: client, sid: "%(client)s", prefixes: ["fd00:60:1::/64"]}
  - {name: server, sid: "%(server)s", prefixes: ["fd00:60:6::/64"]}
links:
  - {between: [client, ra], latency_us: 100, bandwidth_kbps: 1000000}
  - {between: [ra, rb], latency_us: 1000, bandwidth_kbps: 100000, cost: 50}
  - {between: [ra, rc], latency_us: 5000, bandwidth_kbps: 1000000, cost: 5, tags: [satellite]}
  - {between: [rb, rd], latency_us: 1000, bandwidth_kbps: 100000, cost: 50}
  - {between: [rc, rd], latency_us: 5000, bandwidth_kbps: 1000000, cost: 5}
  - {between: [rd, server], latency_us: 100, bandwidth_kbps: 1000000}
""" % {"routers": "\n".join('  - {name: %s, sid: "%s"}' % (n, s)
                            for n, s in sorted(bed.SID.items())),
       "client": CLIENT, "server": SERVER}


# The client's copy: the link ra-rc takes its liveness from a BIRD
# protocol (bird_protocol) instead of probes.
TOPOLOGY_CLIENT = TOPOLOGY.replace(
    "tags: [satellite]}", "tags: [satellite], bird_protocol: sr_ra_rc}")
assert TOPOLOGY_CLIENT != TOPOLOGY
BIRD = os.environ.get("BIRD", "/usr/sbin/bird")
BIRD_CONF = """router id 10.255.0.1;
protocol device {}
# Stands for a BFD-backed session over ra-rc: its state is the link's.
protocol static sr_ra_rc { ipv6; route fd00:99::/64 blackhole; }
"""


class NsDaemon(Daemon):
    """anysteerd inside a namespace (ip netns exec execs it: same PID)."""

    def __init__(self, node, config_fn):
        self.node = node
        Daemon.__init__(self, config_fn, name=node)

    def start(self, extra_args=(), wait=True):
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", bed.ns(self.node), ANYSTEERD, "--config",
             self.config, "--foreground", "--log-level", "info"]
            + list(extra_args),
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr)
        if wait:
            self.wait_ready(timeout=30)
        return self


def wait_for(what, cond, timeout, log=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("not within %.0f s: %s%s" % (
        timeout, what, ("\n" + log()) if log else ""))


class AgentSteeringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (network namespaces, BPF)")
        for tool in ("ip", "tcpdump", "nft", "birdc"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s not installed" % tool)
        if not os.access(ANYSTEERD, os.X_OK):
            raise unittest.SkipTest("%s not built" % ANYSTEERD)
        if not os.access(BIRD, os.X_OK):
            raise unittest.SkipTest("%s not installed" % BIRD)
        probe = bed.sh(bed.HOLDER, check=False, timeout=30) \
            if os.access(bed.HOLDER, os.X_OK) else None
        if probe is None or probe.returncode != 0:
            raise unittest.SkipTest("no SRv6 data plane: %s" % (
                probe.stdout.strip() if probe else "holder not built"))
        cls.tmp = tempfile.mkdtemp(prefix="s6agent-test-")
        cls.procs, cls.daemons = [], []
        try:
            cls.build()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def build(cls):
        for n in bed.NODES:
            bed.sh("ip", "netns", "add", bed.ns(n))
            bed.nsx(n, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                    "net.ipv6.conf.all.forwarding=%d" % (n.startswith("r")),
                    "net.ipv6.conf.all.seg6_enabled=%d" % (n.startswith("r")),
                    "net.ipv6.conf.default.seg6_enabled=%d" % (n.startswith("r")))
            bed.sh("ip", "-n", bed.ns(n), "link", "set", "lo", "up")
            if n in bed.SID:
                bed.sh("ip", "-n", bed.ns(n), "addr", "add", bed.SID[n] + "/128",
                       "dev", "lo")
        for a, ia, b, ib, pfx in bed.LINKS:
            bed.sh("ip", "-n", bed.ns(a), "link", "add", ia, "type", "veth",
                   "peer", "name", ib, "netns", bed.ns(b))
            for node, ifn, host in ((a, ia, "1"), (b, ib, "2")):
                bed.sh("ip", "-n", bed.ns(node), "addr", "add",
                       pfx + host + "/64", "dev", ifn, "nodad")
                bed.sh("ip", "-n", bed.ns(node), "link", "set", ifn, "up")
        for n, routes in bed.ROUTES.items():
            for dst, via in routes:
                bed.sh("ip", "-n", bed.ns(n), "-6", "route", "add", dst, "via", via)

        cls.topo = os.path.join(cls.tmp, "topology.yaml")
        with open(cls.topo, "w") as f:
            f.write(TOPOLOGY)
        cls.ctopo = os.path.join(cls.tmp, "topology-client.yaml")
        with open(cls.ctopo, "w") as f:
            f.write(TOPOLOGY_CLIENT)
        cls.bird_ctl = os.path.join(cls.tmp, "bird.ctl")
        cls.bird_pid = os.path.join(cls.tmp, "bird.pid")
        with open(os.path.join(cls.tmp, "bird.conf"), "w") as f:
            f.write(BIRD_CONF)
        bed.nsx("client", BIRD, "-c", os.path.join(cls.tmp, "bird.conf"), "-s",
                cls.bird_ctl, "-P", cls.bird_pid)
        gport = free_port()
        cls.intent = "latency"

        def server_cfg(d):
            return """node: {name: server}
dns: {listen: ["[::1]:%(port)d"], zone: %(zone)s, workers: 1}
control: {socket: %(ctl)s}
metrics: {listen: ""}
load: {source: static, value: 0}
health: {interval: 0}
gossip:
  bind: "[%(server)s]:%(gport)d"
  plaintext: true
  probe_interval: 200ms
  probe_timeout: 150ms
srv6:
  enabled: true
  topology: %(topo)s
  interfaces: [s1]
  probe_interval: 0
services:
  - name: web
    port: %(sport)d
    endpoints: [{address: "%(server)s"}]
""" % {"port": d.port, "zone": ZONE, "ctl": d.ctl, "server": SERVER,
                "gport": gport, "topo": cls.topo, "sport": PORT}

        def client_cfg(d):
            return """node: {name: client, role: end-host}
dns: {zone: %(zone)s}
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
load: {source: static, value: 0}
health: {interval: 0}
bird: {socket: %(bird)s, poll_interval: 200ms}
gossip:
  bind: "[%(client)s]:%(gport)d"
  seeds: ["[%(server)s]:%(gport)d"]
  plaintext: true
  probe_interval: 200ms
  probe_timeout: 150ms
srv6:
  enabled: true
  topology: %(topo)s
  interfaces: [c1]
  # A link is down after ~1 s of silence: four rounds, so a busy
  # machine's late replies do not take a live link down.
  probe_interval: 250ms
  rise: 2
  fall: 4
services:
  - name: web
    port: %(sport)d
    intent: {path: %(intent)s}
""" % {"zone": ZONE, "ctl": d.ctl, "mport": d.metrics_port,
                "client": CLIENT, "server": SERVER, "gport": gport,
                "topo": cls.ctopo, "sport": PORT, "intent": cls.intent,
                "bird": cls.bird_ctl}

        cls.client_cfg = staticmethod(client_cfg)
        p = subprocess.Popen(["ip", "netns", "exec", bed.ns("server"),
                              sys.executable, "-c", bed.SERVER_PY, str(PORT)],
                             stdout=subprocess.PIPE, universal_newlines=True)
        cls.procs.append(p)
        bed.wait_line(p, p.stdout, "ready", 30)
        cls.server = NsDaemon("server", server_cfg)
        cls.daemons.append(cls.server)
        cls.server.start()
        cls.client = NsDaemon("client", client_cfg)
        cls.daemons.append(cls.client)
        cls.client.start()

    @classmethod
    def tearDownClass(cls):
        for d in getattr(cls, "daemons", []):
            d.stop()
            d.cleanup()
        for p in getattr(cls, "procs", []):
            if p.poll() is None:
                p.kill()
            p.wait()
        try:
            with open(cls.bird_pid) as f:
                os.kill(int(f.read()), signal.SIGKILL)
        except (AttributeError, OSError, ValueError):
            pass
        for n in bed.NODES:
            bed.sh("ip", "netns", "del", bed.ns(n), check=False)
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----

    def dest(self):
        """The client's entry for the server's endpoint, or None."""
        for d in self.client.ctl_json("paths")["destinations"]:
            if d["address"] == SERVER and d["port"] == PORT:
                return d
        return None

    def wait_path(self, via, timeout=30):
        want = ["client", "ra", via, "rd", "server"]

        def ok():
            d = self.dest()
            return d if d and d["installed"] and d["path"] == want else None
        return wait_for("client steers web via %s" % via, ok, timeout,
                        lambda: json.dumps(self.client.ctl_json("paths"),
                                           indent=1) + self.client.log()[-3000:])

    def transfer_captured(self, via):
        """One transfer to web with tcpdump on rb's and rc's links from ra;
        returns {router: packets to PORT} once via's capture holds it."""
        caps = {}
        for router, ifn in (("rb", "b1"), ("rc", "c1")):
            path = os.path.join(self.tmp, "%s-%d.pcap" % (router, time.monotonic_ns()))
            p = subprocess.Popen(["ip", "netns", "exec", bed.ns(router), "tcpdump",
                                  "-i", ifn, "-n", "-U", "--immediate-mode",
                                  "-s", "256", "-w", path, "ip6 and not icmp6"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            self.procs.append(p)
            bed.wait_line(p, p.stderr, "listening on", 30)
            caps[router] = (p, path)
        r = bed.nsx("client", sys.executable, "-c", bed.CLIENT_PY, SERVER,
                    str(PORT), str(CHUNK), str(CHUNKS), check=False, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        got_n, got_h, sent_n, sent_h = r.stdout.split()
        self.assertEqual((got_n, got_h), (sent_n, sent_h))
        # Until the expected router's capture holds the transfer
        # (bounded); the other one had as long.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if bed.volume(bed.parse_pcap(caps[via][1]), PORT) >= CHUNK * CHUNKS:
                break
            time.sleep(0.05)
        out = {}
        for router, (p, path) in caps.items():
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
            out[router] = [x for x in bed.parse_pcap(path) if x[2] == PORT]
        return out

    def assert_steered(self, caps, via, other):
        path = [bed.SID["ra"], bed.SID[via], bed.SID["rd"], SERVER]
        segs = [bed.a16(s) for s in reversed(path)]
        pk = caps[via]
        self.assertGreaterEqual(bed.volume(pk, PORT), CHUNK * CHUNKS)
        for dst, srh, _, _ in pk:
            self.assertIsNotNone(srh, "%s: a packet without SRH" % via)
            sl, got = srh
            self.assertEqual(sl, len(segs) - 2)	# ra has done End
            self.assertEqual(got, segs)
            self.assertEqual(dst, bed.a16(bed.SID[via]))
        self.assertEqual(caps[other], [], "packets crossed %s" % other)

    def counters(self):
        d = self.dest()
        return d["packets"], d["bytes"]

    # ---- the steps, in order ----

    def test_1_latency_path(self):
        """The end host joins, learns web's endpoint by gossip and steers
        it along the least latency path (rb); paths shows it with
        counters; the end host serves no DNS."""
        d = self.wait_path("rb")
        self.assertEqual(d["intent"], {"path": "latency", "avoid": []})
        self.assertEqual(d["host"], "server")
        self.assertEqual(d["segments"], [bed.SID["ra"], bed.SID["rb"],
                                         bed.SID["rd"], SERVER])
        self.assertEqual(d["latency_us"], 2200)
        p0, _ = self.counters()
        caps = self.transfer_captured("rb")
        self.assert_steered(caps, "rb", "rc")
        p1, b1 = self.counters()
        self.assertGreater(p1, p0)
        self.assertGreaterEqual(b1, CHUNK * CHUNKS)
        st = self.client.ctl_json("status")
        self.assertEqual(st["listeners"], [])
        self.assertTrue(st["srv6"]["dataplane"])
        self.assertEqual(st["srv6"]["installed"], 1)
        self.assertIn("srv6        host client, encap, data plane on; 1 steered, "
                      "1 installed", self.client.ctl_run("status").stdout)
        text = self.client.ctl_run("paths").stdout
        print(text, file=sys.stderr)	# the format docs/srv6.md shows
        self.assertIn("client>ra>rb>rd>server", text)
        self.assertIn("installed", text)
        # The server decapsulated it (its own agent added its SID).
        sp = self.server.ctl_json("paths")
        self.assertEqual(sp["destinations"], [])	# its own endpoint
        self.assertTrue(sp["dataplane"])
        def metrics():
            return bed.nsx("client", sys.executable, "-c",
                           "import urllib.request;print(urllib.request.urlopen("
                           "'http://[::1]:%d/metrics', timeout=10).read().decode())"
                           % self.client.metrics_port).stdout
        # The metrics read the agent's snapshot, refreshed every
        # load.interval (1 s): the transfer shows at the next refresh.
        m = wait_for("the steered packets in the metrics",
                     lambda: (lambda t: t if re.search(
                         r'anysteer_srv6_packets_total\{outcome="steered"\} [1-9]', t)
                         else None)(metrics()), 5)
        self.assertIn('anysteer_srv6_entries{state="installed"} 1', m)
        self.assertIn('anysteer_srv6_link_up{link="rc-rd"} 1', m)

    def test_2_reload_switches_intent(self):
        """A reload with intent cost moves web to rc."""
        self.wait_path("rb")
        type(self).intent = "cost"
        self.client.write_config(self.client_cfg(self.client))
        self.client.ctl_run("reload")
        d = self.wait_path("rc", timeout=15)
        self.assertEqual(d["intent"]["path"], "cost")
        caps = self.transfer_captured("rc")
        self.assert_steered(caps, "rc", "rb")

    def test_3_link_cut_moves_path(self):
        """rc-rd goes down: probes notice, the path moves to rb; it comes
        back to rc when the link does."""
        self.wait_path("rc")
        t0 = time.monotonic()
        # A cut that leaves addresses and routes in place (a link set
        # down loses its IPv6 addresses and routes for good): rc drops
        # everything that would cross rc-rd.
        bed.nsx("rc", "nft", "add table inet s6cut ; add chain inet s6cut cutc2 "
                "{ type filter hook forward priority 0 ; } ; add rule inet "
                "s6cut cutc2 oifname c2 drop ; add rule inet s6cut cutc2 iifname "
                "c2 drop")
        try:
            self.wait_path("rb", timeout=20)
            print("measure: link down to reprogram %.2f s (probe 250 ms x "
                  "fall 4)" % (time.monotonic() - t0), file=sys.stderr)
            links = {"-".join(l["between"]): l["up"]
                     for l in self.client.ctl_json("paths")["links"]}
            self.assertFalse(links["rc-rd"])
            self.assertTrue(links["ra-rb"])
            caps = self.transfer_captured("rb")
            self.assert_steered(caps, "rb", "rc")
        finally:
            bed.nsx("rc", "nft", "delete table inet s6cut")
        self.wait_path("rc", timeout=20)

    def test_4_bird_protocol_liveness(self):
        """ra-rc's liveness is BIRD's protocol sr_ra_rc (not probed): when
        it goes down the path leaves rc, when it is up again it returns."""
        self.wait_path("rc")
        links = {"-".join(l["between"]): l
                 for l in self.client.ctl_json("paths")["links"]}
        self.assertEqual(links["ra-rc"]["bird_protocol"], "sr_ra_rc")
        self.assertFalse(links["ra-rc"]["probed"])
        birdc = ("ip", "netns", "exec", bed.ns("client"), "birdc", "-s",
                 self.bird_ctl)
        bed.sh(*birdc, "disable", "sr_ra_rc")
        try:
            self.wait_path("rb", timeout=20)
            # BIRD passes through "flush" on its way down; either is down.
            self.assertRegex(self.client.log(), r"BIRD protocol sr_ra_rc: (down|flush)")
        finally:
            bed.sh(*birdc, "enable", "sr_ra_rc")
        self.wait_path("rc", timeout=20)

    def test_5_clean_exit(self):
        """Both agents stop on SIGTERM with exit 0 and no sanitizer report."""
        for d in (self.client, self.server):
            code, log = d.stop()
            self.assertEqual(code, 0, log[-3000:])
            self.assertIsNone(sanitizer_report(log))


class NoDataPlaneTest(unittest.TestCase):
    """srv6.enabled without CAP_BPF/CAP_NET_ADMIN/CAP_SYS_ADMIN: the agent
    says what is missing and serves DNS all the same."""

    def test_runs_on_without_capabilities(self):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (to drop capabilities)")
        if not shutil.which("setpriv"):
            raise unittest.SkipTest("setpriv not installed")
        tmp = tempfile.mkdtemp(prefix="s6agent-nocap-")
        topo = os.path.join(tmp, "topology.yaml")
        with open(topo, "w") as f:
            f.write(TOPOLOGY)

        def cfg(d):
            return """node: {name: client}
dns: {listen: ["[::1]:%(port)d"], zone: %(zone)s, workers: 1}
control: {socket: %(ctl)s}
metrics: {listen: ""}
srv6: {enabled: true, topology: %(topo)s, interfaces: [lo], probe_interval: 0}
services:
  - {name: web, port: 80, intent: {path: cost}, endpoints: [{address: "%(server)s", node: server}]}
""" % {"port": d.port, "zone": ZONE, "ctl": d.ctl, "topo": topo,
                "server": SERVER}
        d = Daemon(cfg, name="client")
        try:
            drop = "-bpf,-sys_admin,-net_admin,-perfmon"
            d._stderr = open(d.stderr_path, "w")
            d.proc = subprocess.Popen(
                ["setpriv", "--bounding-set", drop, "--inh-caps", drop,
                 ANYSTEERD, "--config", d.config, "--foreground"],
                stdin=subprocess.DEVNULL, stdout=d._stderr, stderr=d._stderr)
            d.wait_ready()
            st = d.ctl_json("status")["srv6"]
            self.assertTrue(st["enabled"])
            self.assertFalse(st["dataplane"])
            self.assertTrue(st["reason"])
            log = d.log()
            self.assertIn("srv6: path steering is off: ", log)
            if "built without SRv6" not in st["reason"]:
                self.assertIn("CAP_BPF", st["reason"])
            # It plans anyway: paths shows what it would install.
            p = d.ctl_json("paths")
            self.assertEqual(len(p["destinations"]), 1)
            self.assertEqual(p["reprograms"], 0)	# nothing was written
            self.assertFalse(p["destinations"][0]["installed"])
            self.assertEqual(p["destinations"][0]["path"],
                             ["client", "ra", "rc", "rd", "server"])
            if shutil.which("kdig"):
                self.assertIn(SERVER, d.kdig("web." + ZONE).rdata())
            code, log = d.stop()
            self.assertEqual(code, 0, log[-2000:])
            self.assertIsNone(sanitizer_report(log))
        finally:
            d.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main_skip77()
