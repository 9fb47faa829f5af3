#!/usr/bin/env python3
"""Denial of service against anysteerd's DNS over TCP (issue 11), replayed
against a real daemon on loopback:

- slow clients: 600 TCP clients, each from its own 127.x source address,
  each sending one byte of a never-finished message every 3 s and
  reconnecting when closed (more clients than the two workers have
  slots); meanwhile kdig over TCP (IPv6 and IPv4) and UDP, `anysteerctl
  status` and /healthz must each answer within a second;
- the open-file limit reached at run time (prlimit on the running
  daemon): the DNS side logs once, stays off the CPU, counts the failed
  accepts in metrics and status, keeps answering UDP, and serves TCP
  again once the attacker lets go;
- a low open-file limit at start: the TCP workers keep to half of it, so
  connections alone cannot starve the control socket.

Every phase is bounded in time; the attacker runs in this process."""
import json
import os
import re
import resource
import selectors
import signal
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
from anysteer_test import (ANYSTEERCTL, ANYSTEERD, Answer, Daemon,  # noqa: E402
                           main_skip77, require_tools, sanitizer_report)

ZONE = "svc.example."
CLK_TCK = os.sysconf("SC_CLK_TCK")


# The self-check behind /healthz at its default period: with 50 ms and
# `fall: 2`, two rounds unanswered within 100 ms (a sanitized build on a
# loaded CI machine, tests running in parallel) made /healthz say
# "self-check failing" during test_slow_clients (seen in CI and once
# here); the test asks whether the attack starves the daemon, not whether
# a 100 ms stall of the machine does.
def config(d, extra=""):
    return """node: {name: %(name)s}
dns:
  listen: ["[::1]:%(port)d", "127.0.0.1:%(port)d"]
  zone: %(zone)s
  workers: %(workers)d
%(extra)scontrol: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
anycast: {check_interval: 250ms}
services:
  - name: web
    port: 80
    endpoints:
      - {address: "fd00:10::1"}
      - {address: "192.0.2.10"}
""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
       "mport": d.metrics_port, "workers": d.workers, "extra": extra}


class LimitedDaemon(Daemon):
    """A Daemon started with RLIMIT_NOFILE lowered to `nofile`."""

    def __init__(self, config_fn, nofile, workers=2):
        self.nofile = nofile
        super().__init__(config_fn, workers=workers)

    def start(self, extra_args=(), wait=True):
        nofile = self.nofile

        def limit():
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [ANYSTEERD, "--config", self.config, "--foreground",
             "--log-level", "info"] + list(extra_args),
            stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, preexec_fn=limit)
        if wait:
            self.wait_ready()
        return self


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def vm_hwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def http_get(url, timeout=1.0):
    try:
        r = urllib.request.urlopen(url, timeout=timeout)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def timed(fn, *args, **kw):
    """(result, seconds) of fn(*args, **kw)."""
    t0 = time.monotonic()
    r = fn(*args, **kw)
    return r, time.monotonic() - t0


def source_address(i, net=1):
    """The i-th attacker source: 127.<net>.x.y, one /32 per client."""
    return "127.%d.%d.%d" % (net, (i + 1) // 250, (i + 1) % 250 + 1)


class SlowClients(threading.Thread):
    """n TCP clients of host:port, client i from source_address(i), each
    sending one byte of a message announced as 65535 bytes long every
    `interval` seconds, reconnecting at its next turn when the server
    closes it; stops after `duration` s or stop(). Counts what happens."""

    def __init__(self, port, n, interval, duration, net=1,
                 first_byte=True):
        super().__init__(daemon=True)
        self.port, self.n, self.interval = port, n, interval
        self.duration, self.net, self.first_byte = duration, net, first_byte
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.connects = self.closed_by_server = self.bytes_sent = 0
        self.connect_errors = 0
        self.open = 0
        self.conns = [None] * n
        self.started_all = threading.Event()

    def stop(self):
        self.stop_ev.set()
        self.join(30)

    def _connect(self, i, sel):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.bind((source_address(i, self.net), 0))
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            with self.lock:
                self.connect_errors += 1
            return None
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        with self.lock:
            self.connects += 1
            self.open += 1
        return s

    def _drop(self, i, sel, by_server):
        s = self.conns[i]
        sel.unregister(s)
        s.close()
        self.conns[i] = None
        with self.lock:
            self.open -= 1
            if by_server:
                self.closed_by_server += 1

    def run(self):
        sel = selectors.DefaultSelector()
        due = [0.0] * self.n
        end = time.monotonic() + self.duration
        first_round = True
        try:
            while not self.stop_ev.is_set() and time.monotonic() < end:
                now = time.monotonic()
                for i in range(self.n):
                    if now < due[i]:
                        continue
                    due[i] = now + self.interval
                    if self.conns[i] is None:
                        self.conns[i] = self._connect(i, sel)
                        if self.conns[i] is None:
                            continue
                    if not self.first_byte:
                        continue        # silent: holds the connection
                    try:
                        self.conns[i].send(b"\xff")
                        with self.lock:
                            self.bytes_sent += 1
                    except OSError:
                        self._drop(i, sel, True)
                if first_round:
                    first_round = False
                    self.started_all.set()
                for key, _ in sel.select(timeout=0.05):
                    i = key.data
                    try:
                        data = self.conns[i].recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(i, sel, True)
        finally:
            for i in range(self.n):
                if self.conns[i] is not None:
                    self._drop(i, sel, False)
            sel.close()
            self.started_all.set()


class DosTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        require_tools("kdig")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < 2048:
            raise unittest.SkipTest("RLIMIT_NOFILE hard limit %d < 2048: "
                                    "cannot open the attacker's sockets"
                                    % hard)
        if soft < 2048:
            resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
        try:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind((source_address(0), 0))
            probe.close()
        except OSError as e:
            raise unittest.SkipTest("cannot bind 127.1.0.2 (%s)" % e)

    def setUp(self):
        self.d = None
        self.attack = None

    def tearDown(self):
        if self.attack is not None and self.attack.is_alive():
            self.attack.stop()
        if self.d is not None:
            code, log = self.d.stop()
            self.d.cleanup()
            self.assertIsNone(sanitizer_report(log))

    # ---- what a genuine client sees ----------------------------------------

    def kdig_ok(self, tcp, server):
        opts = ["+tcp"] if tcp else []
        cmd = ["kdig", "@%s" % server, "-p", str(self.d.port), "+time=2",
               "+retry=0"] + opts + ["web." + ZONE, "AAAA"]
        r, secs = timed(subprocess.run, cmd, capture_output=True, text=True,
                        timeout=10)
        a = Answer(r.stdout + r.stderr)
        self.assertEqual(a.status, "NOERROR",
                         "kdig %s @%s: %s" % ("+tcp" if tcp else "udp",
                                              server, r.stdout + r.stderr))
        self.assertEqual(a.rdata("ANSWER", "AAAA"), ["fd00:10::1"])
        return secs

    def status(self, timeout=1.0):
        cmd = [ANYSTEERCTL, "--socket", self.d.ctl, "--json", "--timeout",
               str(timeout), "status"]
        r, secs = timed(subprocess.run, cmd, capture_output=True, text=True,
                        timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout), secs

    def metrics(self):
        code, body = http_get("http://[::1]:%d/metrics" % self.d.metrics_port,
                              timeout=2.0)
        self.assertEqual(code, 200)
        return body

    def metric(self, body, name):
        m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
        self.assertIsNotNone(m, "%s not in the metrics" % name)
        return int(m.group(1))

    def all_answer_within(self, limit):
        """kdig TCP (IPv6, IPv4), kdig UDP, status, /healthz: each in
        time. Returns the slowest."""
        times = {
            "tcp6": self.kdig_ok(True, "::1"),
            "tcp4": self.kdig_ok(True, "127.0.0.1"),
            "udp": self.kdig_ok(False, "::1"),
            "status": self.status(limit)[1],
        }
        (code, body), times["healthz"] = timed(
            http_get, "http://[::1]:%d/healthz" % self.d.metrics_port, limit)
        self.assertEqual(code, 200, body)
        for what, secs in times.items():
            self.assertLess(secs, limit, "%s took %.3f s: %r"
                            % (what, secs, times))
        return max(times.values())

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for %s" % what)

    def dns_log_lines(self):
        return [l for l in self.d.log().splitlines()
                if "cannot accept TCP" in l]

    # ---- attacks -------------------------------------------------------------

    def test_slow_clients(self):
        """600 slow clients against 2 x 256 slots: genuine TCP queries,
        UDP, status and /healthz still answer within a second."""
        self.d = LimitedDaemon(config, nofile=4096, workers=2).start()
        self.wait_for(lambda: http_get("http://[::1]:%d/healthz"
                                       % self.d.metrics_port)[0] == 200,
                      10, "/healthz 200")
        self.attack = SlowClients(self.d.port, 600, interval=3.0,
                                  duration=40.0)
        self.attack.start()
        self.assertTrue(self.attack.started_all.wait(30))
        slowest = []
        rounds_end = time.monotonic() + 9.0    # three byte intervals
        while time.monotonic() < rounds_end:
            slowest.append(self.all_answer_within(1.0))
        self.attack.stop()
        print("slow clients: %d rounds, slowest %.3f s; attacker: %d "
              "connects, %d closed by the server, %d bytes"
              % (len(slowest), max(slowest), self.attack.connects,
                 self.attack.closed_by_server, self.attack.bytes_sent))
        st, _ = self.status()
        q = st["queries"]
        print("daemon: accepted %d, evicted %d, message timeouts %d, "
              "idle timeouts %d, VmHWM %.1f MB"
              % (q["tcp_accepted"], q["tcp_evicted"],
                 q["tcp_message_timeouts"], q["tcp_timeouts"],
                 vm_hwm_mb(self.d.proc.pid)))
        sc = self.d.ctl_json("routes")["gate"]["selfcheck"]
        print("self-check during the attack: %d rounds ok, %d failed, last "
              "round trip %d us" % (sc["ok_total"], sc["failed_total"],
                                     sc["last_rtt_us"]))
        self.assertGreaterEqual(len(slowest), 3)
        self.assertEqual(st["tcp_max_clients_per_worker"], 256)
        # The attacker held more connections than there are slots, and
        # the server took them away: slow messages timed out.
        self.assertGreater(self.attack.connects, 512)
        self.assertGreater(q["tcp_message_timeouts"], 0)
        self.assertEqual(q["tcp_accept_errors"], 0)
        self.assertLess(vm_hwm_mb(self.d.proc.pid), 200)
        # The same count in the metrics (read later: at least as high).
        self.assertGreaterEqual(self.metric(
            self.metrics(),
            'anysteer_dns_tcp_connections_total{result="message_timeout"}'),
            q["tcp_message_timeouts"])

    def test_queued_query_not_evicted(self):
        """A genuine query accepted in the same batch as an attacker's
        connection is not the one closed to make room: its bytes wait in
        the kernel, so it is busy, not idle (the flake of test_slow_clients
        made certain by stopping the daemon while both connect)."""
        self.batch_case(query_first=True)

    def test_new_connection_not_evicted(self):
        """The same when the genuine client's query comes only after both
        connections were accepted (a client connects, then writes): a
        connection is busy until its first message, not idle."""
        self.batch_case(query_first=False)

    def batch_case(self, query_first):
        self.d = LimitedDaemon(
            # Timeouts far beyond the test: on a loaded machine the
            # attackers must still hold their slots when the two connect.
            lambda d: config(d, "  tcp_max_clients: 4\n"
                             "  tcp_idle_timeout: 60s\n"
                             "  tcp_message_timeout: 60s\n"),
            nofile=4096, workers=1).start()
        # Four attackers fill the only worker's table, each with one byte
        # of a message (busy).
        attackers = []
        for i in range(4):
            s = socket.create_connection(("127.0.0.1", self.d.port), 2,
                                         source_address=(source_address(i),
                                                         0))
            s.sendall(b"\xff")
            attackers.append(s)
        self.wait_for(lambda: self.status()[0]["queries"]["tcp_accepted"]
                      >= 4, 10, "4 accepted connections")
        # A UDP answer from the same worker: its loop has read the bytes.
        self.kdig_ok(False, "127.0.0.1")
        q0 = self.status()[0]["queries"]
        qname = b"".join(bytes([len(l)]) + l.encode()
                         for l in ("web." + ZONE).split(".") if l) + b"\0"
        query = struct.pack("!HHHHHH", 0x5A5A, 0, 1, 0, 0, 0) + qname + \
            struct.pack("!HH", 28, 1)
        query = struct.pack("!H", len(query)) + query
        os.kill(self.d.proc.pid, signal.SIGSTOP)
        try:
            genuine = socket.create_connection(("127.0.0.1", self.d.port), 2)
            if query_first:
                genuine.sendall(query)
            late = socket.create_connection(
                ("127.0.0.1", self.d.port), 2,
                source_address=(source_address(4), 0))
            late.sendall(b"\xff")
            attackers.append(late)
        finally:
            os.kill(self.d.proc.pid, signal.SIGCONT)
        try:
            if not query_first:
                self.wait_for(lambda: self.status()[0]["queries"]
                              ["tcp_accepted"] >= q0["tcp_accepted"] + 2,
                              10, "both connections accepted")
                genuine.sendall(query)
            genuine.settimeout(5)
            reply = b""
            while len(reply) < 2 or len(reply) < 2 + struct.unpack(
                    "!H", reply[:2])[0]:
                try:
                    chunk = genuine.recv(4096)
                except ConnectionResetError:
                    chunk = b""     # closed with the query unread
                if not chunk:
                    break
                reply += chunk
            self.assertGreaterEqual(len(reply), 14,
                                    "the genuine connection was closed "
                                    "without an answer (%r)" % reply)
            rid, flags, _, ancount = struct.unpack("!HHHH", reply[2:10])
            self.assertEqual(rid, 0x5A5A)
            self.assertEqual(flags & 0x800F, 0x8000)   # a response, NOERROR
            self.assertEqual(ancount, 1)
            # Two attackers made room, one for each new connection.
            self.assertEqual(self.status()[0]["queries"]["tcp_evicted"],
                             q0["tcp_evicted"] + 2)
        finally:
            genuine.close()
            for s in attackers:
                s.close()

    def test_open_file_limit(self):
        """The open-file limit reached while running: one log line, no
        busy loop, UDP unaffected, the count in metrics and status, and
        TCP works again once the descriptors are free."""
        self.d = LimitedDaemon(config, nofile=1024, workers=2).start()
        self.kdig_ok(True, "::1")
        pid = self.d.proc.pid
        lines_before = len(self.d.log().splitlines())
        # Leave 24 descriptors; the attacker wants 150 connections, each
        # sending the first byte of a message every second (so they are
        # busy, until their message times out).
        free = 24
        hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(pid, resource.RLIMIT_NOFILE,
                         (open_fds(pid) + free, hard))
        self.attack = SlowClients(self.d.port, 150, interval=1.0,
                                  duration=60.0, net=2)
        self.attack.start()
        self.assertTrue(self.attack.started_all.wait(30))
        self.wait_for(lambda: self.dns_log_lines(), 10,
                      "the DNS side to log the failed accept")
        # At the limit: measure CPU over 3 s while the attacker keeps its
        # connections and keeps knocking; UDP still answers within 1 s.
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        udp = []
        while time.monotonic() - t0 < 3.0:
            udp.append(self.kdig_ok(False, "::1"))
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        log = self.d.log().splitlines()
        dns_lines = self.dns_log_lines()
        print("at the limit: CPU %.1f %%, %d log lines (%d from the DNS "
              "side), UDP slowest %.3f s; attacker %d open, %d connects"
              % (cpu * 100, len(log) - lines_before, len(dns_lines),
                 max(udp), self.attack.open, self.attack.connects))
        print("\n".join(log[lines_before:]))
        self.assertLess(cpu, 0.15)
        self.assertLessEqual(len(dns_lines), 2)
        self.assertLess(len(log) - lines_before, 20)
        self.assertLess(max(udp), 1.0)

        # The attacker lets go: the descriptors come back, TCP works.
        self.attack.stop()
        self.wait_for(lambda: self.try_tcp(), 10, "a TCP answer")
        self.all_answer_within(1.0)
        # Metrics first, status second: the counter may still move (the
        # attacker's last connects fail as it lets go), so the later
        # reading is the larger (seen: 106 in status read first, 107 in
        # metrics read after, in a loaded repeat run).
        body = self.metrics()
        errors = self.metric(body, "anysteer_dns_tcp_accept_errors_total")
        st, _ = self.status()
        print("accept errors: metrics %d, status %d"
              % (errors, st["queries"]["tcp_accept_errors"]))
        self.assertGreater(errors, 0)
        self.assertGreaterEqual(st["queries"]["tcp_accept_errors"], errors)
        self.assertLess(vm_hwm_mb(pid), 200)

    def try_tcp(self):
        try:
            self.kdig_ok(True, "::1")
            return True
        except AssertionError:
            return False

    def test_low_limit_at_start(self):
        """Started with 128 descriptors, the two workers keep 32 TCP
        connections each: 150 clients cannot starve the control socket,
        and accept() never fails."""
        self.d = LimitedDaemon(config, nofile=128, workers=2).start()
        # Healthy before the attack (rise: two self-check rounds).
        self.wait_for(lambda: http_get("http://[::1]:%d/healthz"
                                       % self.d.metrics_port)[0] == 200,
                      10, "/healthz 200")
        self.attack = SlowClients(self.d.port, 150, interval=1.0,
                                  duration=60.0, net=3, first_byte=False)
        self.attack.start()
        self.assertTrue(self.attack.started_all.wait(30))
        # Every client has connected once: were there no cap, their
        # descriptors alone would exceed the limit by now.
        self.wait_for(lambda: self.attack.connects >= 150, 10,
                      "150 connections")
        slowest = self.all_answer_within(1.0)
        st, _ = self.status()
        q = st["queries"]
        self.assertIn("using 32", self.d.log())
        self.assertEqual(st["tcp_max_clients_per_worker"], 32)
        self.assertGreater(q["tcp_evicted"], 0)
        print("low limit: evicted %d, accept errors %d, slowest %.3f s, "
              "%d open descriptors" % (q["tcp_evicted"],
                                       q["tcp_accept_errors"], slowest,
                                       open_fds(self.d.proc.pid)))
        self.assertEqual(q["tcp_accept_errors"], 0)
        self.assertLessEqual(q["tcp_active"], 64 + 2)


if __name__ == "__main__":
    main_skip77()
