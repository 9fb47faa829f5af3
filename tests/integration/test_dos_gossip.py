#!/usr/bin/env python3
"""Unauthenticated gossip TCP frames must not exhaust memory (issue 11).

One real anysteerd with a gossip section (keyring, metrics, control
socket, the DNS self-check behind /healthz) on 127.0.0.1, attacked from
other 127.0.0.0/8 source addresses by a separate process (so the probes
here never wait for the attackers' interpreter):
  - 24 sources each stream huge frames for ATTACK_S seconds, reconnecting
    whenever they are cut off: the old framing (a bare 4-byte length of
    64 MiB, the attack of the issue), a forged sealed header, and a
    plaintext header announcing 64 MiB;
  - one source keeps 40 idle connections open (per-source cap);
  - afterwards a burst of 80 idle connections from 80 sources (total cap).
While it runs, every 100 ms the daemon's VmRSS is sampled, and DNS over
UDP and TCP, `anysteerctl status` and /healthz must each answer within
1 s. A legitimate second member joins during the attack and push-pulls
with the first afterwards. Then: VmHWM under 200 MB, the drop counters
by reason rose in /metrics, both nodes exit 0 without sanitizer reports.

With the old framing (4-byte length, buffer grown to it at once, no caps)
this peaked at several hundred MB; the numbers are printed either way.
"""
import multiprocessing
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERCTL, ANYSTEERD, Daemon,  # noqa: E402
                           free_port, sanitizer_report)

ZONE = "svc.example."
ATTACK_S = 5.0
MEM_LIMIT_MB = 200
ANSWER_LIMIT_S = 1.0
STREAMERS = 24
IDLE_ONE_SOURCE = 40
BURST_SOURCES = 80
HUGE = 64 << 20


def generate_key():
    r = subprocess.run([ANYSTEERD, "--generate-key"], capture_output=True,
                       text=True, timeout=10, check=True)
    return r.stdout.strip()


def write_keyring(path, key):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")


def proc_status(pid):
    """VmRSS and VmHWM of pid in MB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) / 1024.0
    return out


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_get(url, timeout):
    try:
        r = urllib.request.urlopen(url, timeout=timeout)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def dns_query(name):
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return qid, q + b"\0" + struct.pack("!HH", 28, 1)


def dns_udp(port, timeout):
    qid, q = dns_query("web." + ZONE)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("::1", port))
        r = s.recv(65535)
    finally:
        s.close()
    return len(r) >= 12 and struct.unpack("!H", r[:2])[0] == qid


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(b), n))
        b += chunk
    return b


def dns_tcp(port, timeout):
    qid, q = dns_query("web." + ZONE)
    s = socket.create_connection(("::1", port), timeout=timeout)
    try:
        s.sendall(struct.pack("!H", len(q)) + q)
        n = struct.unpack("!H", recv_exact(s, 2))[0]
        r = recv_exact(s, n)
    finally:
        s.close()
    return len(r) >= 12 and struct.unpack("!H", r[:2])[0] == qid


def control(path, command, timeout):
    """One request on the control socket, without anysteerctl's start-up."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b'{"version": 1, "command": "%s"}\n' % command.encode())
        r = b""
        while not r.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            r += chunk
    finally:
        s.close()
    return b'"ok": true' in r or b'"ok":true' in r


def metric(text, name, **labels):
    """The value of one sample of the exposition text (0 if absent)."""
    lab = ",".join('%s="%s"' % kv for kv in labels.items())
    pat = re.escape(name) + (r"\{" + re.escape(lab) + r"\}" if lab else "") + \
        r" (\d+)"
    m = re.search(pat, text)
    return int(m.group(1)) if m else 0


# ---- the attack: runs in a child process ------------------------------------

def streamer(src, port, kind, until, stats):
    """Frames from one source until `until`: connect, announce, stream."""
    chunk = os.urandom(64 << 10)
    heads = {
        "v1": struct.pack("!I", HUGE),                      # the issue's
        "forged": bytes([2, 1]) + os.urandom(44),           # no key
        "plain": bytes([2, 0]) + struct.pack("!I", HUGE),   # no key either
    }
    while time.monotonic() < until:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(0.5)
            s.bind((src, 0))
            s.connect(("127.0.0.1", port))
            stats["conns"] += 1
            s.sendall(heads[kind])
            while time.monotonic() < until:
                s.sendall(chunk)
                stats["bytes"] += len(chunk)
        except (OSError, socket.timeout):
            stats["cut"] += 1
        finally:
            s.close()


def idle_holder(srcs, per_src, port, until, stats):
    """Keeps per_src idle connections from each source open until `until`,
    reopening those the daemon closes."""
    socks = []

    def opened(src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        stats["conns"] += 1
        return s
    for src in srcs:
        socks += [(src, opened(src)) for _ in range(per_src)]
    while time.monotonic() < until:
        time.sleep(0.05)
        for i, (src, s) in enumerate(socks):
            try:
                if s.recv(1) == b"":
                    raise ConnectionError
            except BlockingIOError:
                continue    # still open
            except OSError:
                pass
            stats["cut"] += 1
            s.close()
            socks[i] = (src, opened(src))
    for _, s in socks:
        s.close()


def attack(port, duration, q):
    # Niced: the attack must not starve the other tests make check runs
    # alongside (their daemons have timing to keep); anysteerd's own
    # priority is untouched.
    os.nice(10)
    until = time.monotonic() + duration
    threads, stats = [], []
    kinds = ("v1", "forged", "plain")
    for k in range(STREAMERS):
        st = {"conns": 0, "bytes": 0, "cut": 0, "kind": kinds[k % 3]}
        stats.append(st)
        threads.append(threading.Thread(target=streamer, args=(
            "127.0.0.%d" % (10 + k), port, st["kind"], until, st)))
    idle = {"conns": 0, "cut": 0, "kind": "idle"}
    stats.append(idle)
    threads.append(threading.Thread(target=idle_holder, args=(
        ["127.0.0.200"], IDLE_ONE_SOURCE, port, until, idle)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put(stats)


def burst(port, hold, q):
    """One idle connection from each of BURST_SOURCES sources, held."""
    os.nice(10)
    stats = {"conns": 0, "cut": 0}
    idle_holder(["127.0.1.%d" % (1 + i) for i in range(BURST_SOURCES)], 1,
                port, time.monotonic() + hold, stats)
    q.put(stats)


# ---- the test -----------------------------------------------------------------

class GossipDosTest(unittest.TestCase):
    def setUp(self):
        self.key = generate_key()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()

    def node(self, name, seeds=()):
        # The self-check at its default period (as test_dos_dns.py): 50 ms
        # with `fall: 2` reports a 100 ms stall of a loaded machine.
        def config(d):
            d.gossip_port = free_port()
            d.keyring = os.path.join(d.dir, "keyring")
            write_keyring(d.keyring, self.key)
            return """node: {name: %(name)s}
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  workers: 1
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
anycast: {check_interval: 250ms}
gossip:
  bind: "127.0.0.1:%(gport)d"
  seeds: [%(seeds)s]
  cluster: dos
  keyring: %(keyring)s
  pushpull_interval: 1s
health: {interval: 0s}
services:
  - name: web
    port: 80
    endpoints: [{address: "fd00:10::1", node: %(name)s}]
""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
                "mport": d.metrics_port, "gport": d.gossip_port,
                "keyring": d.keyring,
                "seeds": ", ".join('"127.0.0.1:%d"' % p for p in seeds)}
        d = Daemon(config, name=name)
        self.daemons.append(d)
        return d

    def metrics(self, d):
        return http_get("http://[::1]:%d/metrics" % d.metrics_port, 5)[1]

    def counters(self, d):
        """Drops by reason and auth failures, live from the status."""
        g = d.ctl_json("status")["gossip"]
        return {"drops": g["drops"], "auth_failures": g["auth_failures"]}

    def members(self, d):
        return {m["name"]: m["state"] for m in d.ctl_json("members")}

    def wait_for(self, what, cond, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cond():
                return time.monotonic() - t0
            time.sleep(0.05)
        self.fail("timed out after %.0f s waiting for %s:\n%s" % (
            timeout, what, "\n".join(d.log()[-3000:] for d in self.daemons)))

    def probe_loop(self, d, stop, lat, errors):
        """Each kind of client answer, timed, until stop is set."""
        base = "http://[::1]:%d" % d.metrics_port
        checks = {
            "dns-udp": lambda: dns_udp(d.port, ANSWER_LIMIT_S + 1),
            "dns-tcp": lambda: dns_tcp(d.port, ANSWER_LIMIT_S + 1),
            "control": lambda: control(d.ctl, "status", ANSWER_LIMIT_S + 1),
            "status": lambda: subprocess.run(
                [ANYSTEERCTL, "--socket", d.ctl, "status"],
                capture_output=True, timeout=ANSWER_LIMIT_S + 5).returncode == 0,
            "healthz": lambda: http_get(base + "/healthz",
                                        ANSWER_LIMIT_S + 1)[0] == 200,
        }
        while not stop.is_set():
            for kind, check in checks.items():
                t0 = time.monotonic()
                try:
                    ok = check()
                except Exception as e:  # noqa: BLE001
                    ok = False
                    errors.append("%s: %s" % (kind, e))
                lat[kind].append(time.monotonic() - t0)
                if not ok:
                    errors.append("%s: no good answer" % kind)
            time.sleep(0.1)

    def test_frame_flood(self):
        a = self.node("a")
        a.start()
        pid = a.proc.pid
        self.wait_for("/healthz 200", lambda: http_get(
            "http://[::1]:%d/healthz" % a.metrics_port, 5)[0] == 200, 10)
        base_mem = proc_status(pid)
        m0 = self.counters(a)
        cpu0 = cpu_seconds(pid)

        # The attack, with probes and memory samples alongside.
        lat = {k: [] for k in ("dns-udp", "dns-tcp", "control", "status",
                              "healthz")}
        errors, rss = [], []
        stop = threading.Event()
        prober = threading.Thread(target=self.probe_loop,
                                  args=(a, stop, lat, errors))

        def sample():
            while not stop.is_set():
                try:
                    rss.append(proc_status(pid)["VmRSS"])
                except (OSError, KeyError):
                    return      # gone (the check below says why)
                time.sleep(0.05)
        sampler = threading.Thread(target=sample)
        # Spawned, not forked: this process has threads running.
        mp = multiprocessing.get_context("spawn")
        q = mp.Queue()
        attacker = mp.Process(target=attack, args=(a.gossip_port, ATTACK_S, q))
        prober.start()
        sampler.start()
        t0 = time.monotonic()
        attacker.start()
        try:
            # A legitimate member joins while the attack runs.
            time.sleep(1.0)
            b = self.node("b", seeds=[a.gossip_port])
            b.start()
            stats = q.get(timeout=ATTACK_S + 60)
            attacker.join(30)
            t_attack = time.monotonic() - t0
            print("\nattack over after %.1f s: VmRSS peaked at %.1f MB in the "
                  "samples (%.1f MB before)" % (t_attack, max(rss or [0]),
                                               base_mem["VmRSS"]), flush=True)
            self.assertIsNone(a.proc.poll(), "anysteerd died in the attack "
                              "(VmRSS peaked at %.0f MB in the samples):\n%s" % (
                                  max(rss or [0]), a.log()[-3000:]))
            # Idle connections from many sources: the total cap.
            m1 = self.counters(a)
            bq = mp.Queue()
            burster = mp.Process(target=burst, args=(a.gossip_port, 1.5, bq))
            burster.start()
            bstats = bq.get(timeout=60)
            burster.join(30)
        finally:
            stop.set()
            prober.join()
            sampler.join()
            if attacker.is_alive():
                attacker.kill()
        sent = sum(s.get("bytes", 0) for s in stats)
        conns = sum(s["conns"] for s in stats)
        print("\nattack: %.1f s, %d connections from %d sources, %.0f MB "
              "streamed at the gossip port; then %d idle connections from %d "
              "sources" % (t_attack, conns, STREAMERS + 1, sent / 1e6,
                           bstats["conns"], BURST_SOURCES))
        for kind, v in lat.items():
            print("during the attack %-8s answered %3d times, slowest %.3f s"
                  % (kind, len(v), max(v or [0])))
        if a.proc.poll() is not None:
            self.fail("anysteerd died during the attack (exit %d; VmRSS "
                      "peaked at %.0f MB in the samples):\n%s" % (
                          a.proc.returncode, max(rss or [0]), a.log()[-3000:]))
        mem = proc_status(pid)
        cpu = cpu_seconds(pid) - cpu0
        m2 = self.counters(a)

        def delta(reason, before=m0, after=m2):
            # .get: a build without a reason still gets its memory checked
            return after["drops"].get(reason, 0) - before["drops"].get(reason, 0)

        print("anysteerd used %.1f s of CPU meanwhile" % cpu)
        print("memory of anysteerd: VmRSS %.1f MB before, peak sample %.1f MB, "
              "VmHWM %.1f MB after (limit %d MB)" % (
                  base_mem["VmRSS"], max(rss or [0]), mem["VmHWM"],
                  MEM_LIMIT_MB))
        reasons = ("version", "auth", "plaintext", "source-limit",
                   "conn-limit", "timeout", "short")
        print("drops by reason: " + ", ".join(
            "%s +%d" % (r, delta(r)) for r in reasons))

        self.assertLess(mem["VmHWM"], MEM_LIMIT_MB)
        self.assertEqual(errors, [])
        for kind, v in lat.items():
            self.assertGreater(len(v), 3, kind)
            # anysteerctl's own start-up (a sanitizer build on a loaded
            # machine: 0.3-0.5 s with no attack at all) is not the daemon's
            # answer time: the daemon's is "control", the same request
            # on the socket. anysteerctl only has to succeed every time.
            if kind != "status":
                self.assertLess(max(v), ANSWER_LIMIT_S, kind)
        # Each attack is refused, and counted under its reason.
        self.assertGreater(delta("version", m0, m1), 0)     # 4-byte length
        self.assertGreater(delta("auth", m0, m1), 0)        # forged header
        self.assertGreater(delta("plaintext", m0, m1), 0)   # plaintext one
        self.assertGreaterEqual(delta("source-limit", m0, m1),
                                IDLE_ONE_SOURCE - 8)
        self.assertGreater(delta("timeout", m0, m1), 0)     # idle ones
        self.assertGreater(delta("conn-limit", m1, m2), 0)  # the burst
        self.assertGreater(m2["auth_failures"], m0["auth_failures"])
        # /metrics says the same (its snapshot follows within a load
        # interval).
        self.wait_for("/metrics to carry the drops", lambda: all(
            metric(self.metrics(a), "anysteer_gossip_dropped_total",
                   reason=r) >= m2["drops"][r] for r in reasons), 10)

        # The member that joined during the attack is in, and push-pull
        # between the two goes on afterwards.
        self.wait_for("a and b to see each other alive", lambda: (
            self.members(a) == {"a": "alive", "b": "alive"} and
            self.members(b) == {"a": "alive", "b": "alive"}), 15)

        def tcp_in(d):
            return metric(self.metrics(d), "anysteer_gossip_packets_total",
                          direction="in", transport="tcp")
        before = (tcp_in(a), tcp_in(b))
        self.wait_for("push-pulls after the attack", lambda: (
            tcp_in(a) >= before[0] + 2 and tcp_in(b) >= before[1] + 2), 15)
        self.assertEqual(delta("malformed"), 0)

        for d in (b, a):
            code, log = d.stop()
            self.assertEqual(code, 0, log[-3000:])
            self.assertIsNone(sanitizer_report(log), log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
