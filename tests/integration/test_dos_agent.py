#!/usr/bin/env python3
"""Denial-of-service regressions for the agent (issue 11), replayed against
a real anysteerd: control clients that close early (also during a slow
reload), anysteerctl when the daemon drops the connection, oversize and
empty control lines, deeply nested YAML (SIGHUP, anysteerctl reload and
--check-config), slow HTTP clients on the metrics listener, and the
open-file limit. After each attack the daemon must answer UDP and TCP
queries, control commands and /healthz within a second, with memory
under 200 MB."""
import json
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERCTL, ANYSTEERD, Daemon,  # noqa: E402
                           sanitizer_report)

ZONE = "svc.example."
PROBE_SRC = "127.0.0.2"     # the readiness prober's address
MAX_RSS_MB = 200


def answer_budget():
    """The time an answer may take: 1 s, the issue's bound. On a machine
    so loaded that the daemon waits for a CPU (more than two runnable
    tasks per core, as when parallel builds share it), proportionally
    more, and the test says so: the old code failed these tests by a
    minute or by dying, not by a fraction of a second."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    budget = max(1.0, load / 2)
    if budget > 1.0:
        print("load average %.1f per CPU: answers may take %.1f s"
              % (load, budget))
    return budget


BUDGET = answer_budget()


def config(d, endpoint="fd00:10::1"):
    return """node:
  name: %(name)s
dns:
  listen: ["[::1]:%(port)d", "127.0.0.1:%(port)d"]
  zone: %(zone)s
  workers: 1
control:
  socket: %(ctl)s
metrics:
  listen: "127.0.0.1:%(mport)d"
services:
  - name: web
    port: 80
    endpoints:
      - { address: "%(ep)s", weight: 100 }
""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
       "mport": d.metrics_port, "ep": endpoint}


def dns_query(port, tcp, timeout=BUDGET):
    """web.ZONE AAAA over UDP or TCP to [::1]; returns (rcode, AAAA
    addresses) or raises on timeout."""
    qid = int.from_bytes(os.urandom(2), "big")
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in ("web." + ZONE).rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 28, 1)
    s = socket.socket(socket.AF_INET6,
                      socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        if tcp:
            s.connect(("::1", port))
            s.sendall(struct.pack("!H", len(q)) + q)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("TCP connection closed")
                buf += chunk
            r = buf[2:]
        else:
            s.sendto(q, ("::1", port))
            r = s.recv(4096)
    finally:
        s.close()
    rid, flags, _, an = struct.unpack("!HHHH", r[:8])
    if rid != qid:
        raise AssertionError("wrong DNS id")
    addrs, off = [], len(q)
    for _ in range(an):
        off += 2  # compressed owner
        rtype, _, _, rdlen = struct.unpack("!HHIH", r[off:off + 10])
        off += 10
        if rtype == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, r[off:off + rdlen]))
        off += rdlen
    return flags & 0xF, addrs


def http_get(port, path, src=PROBE_SRC, timeout=BUDGET):
    """GET path from src; returns (status, body). Raises on timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   % path).encode())
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    if not buf:
        raise OSError("connection closed without a response")
    head, _, body = buf.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def ctl_lines(path, payload, n, timeout=BUDGET):
    """Sends payload on one connection and reads n response lines (fewer
    if the daemon closes); returns (lines, closed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)     # blocking, as anysteerctl's
        s.settimeout(timeout)
        s.sendall(payload)
        buf = b""
        closed = False
        while buf.count(b"\n") < n:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            buf += chunk
        if not closed:
            # Is the connection closed after the lines? (0.2 s is only
            # how long to look; a connection left open passes here.)
            s.settimeout(0.2)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                pass
    finally:
        s.close()
    return [json.loads(x) for x in buf.split(b"\n") if x], closed


def request(command, **args):
    return (json.dumps({"version": 1, "command": command, "args": args})
            + "\n").encode()


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError("no series %s" % series)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except (OSError, ValueError, AssertionError):
            pass
        time.sleep(step)
    return False


class LimitedDaemon(Daemon):
    """anysteerd under a low RLIMIT_NOFILE (soft and hard)."""
    nofile = None

    def start(self, extra_args=(), wait=True):
        lim = self.nofile

        def preexec():
            resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [ANYSTEERD, "--config", self.config, "--foreground",
             "--log-level", "info"] + list(extra_args),
            stdin=subprocess.DEVNULL, stdout=self._stderr,
            stderr=self._stderr, preexec_fn=preexec if lim else None)
        if wait:
            self.wait_ready()
        return self


class DosBase(unittest.TestCase):
    NOFILE = None

    def setUp(self):
        LimitedDaemon.nofile = self.NOFILE
        self.d = LimitedDaemon(config)
        self.d.start()
        self.assertTrue(wait_for(lambda: http_get(
            self.d.metrics_port, "/healthz")[0] == 200),
            "/healthz never 200:\n" + self.d.log()[-2000:])

    def tearDown(self):
        alive = self.d.proc is not None and self.d.proc.poll() is None
        code, log = self.d.stop()
        self.d.cleanup()
        report = sanitizer_report(log)
        if report:
            raise AssertionError("sanitizer report:\n" + report)
        if not alive:
            raise AssertionError("anysteerd died (%s):\n%s" % (code, log[-3000:]))
        self.assertEqual(code, 0, log[-3000:])

    # ---- helpers ------------------------------------------------------------
    def assert_alive(self):
        code = self.d.proc.poll()
        if code is not None:
            self.fail("anysteerd died (exit %d%s):\n%s"
                      % (code, ", SIGPIPE" if code == -signal.SIGPIPE else "",
                         self.d.log()[-3000:]))

    def assert_responsive(self, endpoint="fd00:10::1", what=""):
        """UDP, TCP, a control command and /healthz, each within 1 s
        (BUDGET)."""
        self.assert_alive()
        for name, fn in (
                ("udp", lambda: dns_query(self.d.port, False)),
                ("tcp", lambda: dns_query(self.d.port, True)),
                ("control", lambda: ctl_lines(self.d.ctl, request("status"), 1)),
                ("healthz", lambda: http_get(self.d.metrics_port, "/healthz"))):
            t0 = time.monotonic()
            try:
                r = fn()
            except OSError as e:
                self.fail("%s: %s did not answer within %.1f s: %s\n%s"
                          % (what, name, BUDGET, e, self.d.log()[-2000:]))
            took = time.monotonic() - t0
            self.assertLess(took, BUDGET, "%s: %s took %.2fs" % (what, name, took))
            if name in ("udp", "tcp"):
                self.assertEqual(r, (0, [endpoint]), what)
            elif name == "control":
                self.assertTrue(r[0] and r[0][0]["ok"], (what, r))
            else:
                self.assertEqual(r[0], 200, (what, r))
        rss = rss_mb(self.d.proc.pid)
        self.assertLess(rss, MAX_RSS_MB, "%s: RSS %.0f MB" % (what, rss))

    def ctl(self, *args, timeout=None):
        cmd = [ANYSTEERCTL, "--socket", self.d.ctl]
        if timeout:
            cmd += ["--timeout", str(timeout)]
        return subprocess.run(cmd + list(args), capture_output=True, text=True,
                              timeout=30)

    def status(self):
        return json.loads(self.ctl("--json", "status", timeout=BUDGET).stdout)

    def early_closers(self, n):
        """n clients that send `status` and close at once (half with a
        reset) before the reply is written."""
        for i in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.d.ctl)
            s.sendall(request("status"))
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()



class DosTest(DosBase):
    # ---- control socket -----------------------------------------------------
    def test_early_closing_control_clients(self):
        for _ in range(5):
            self.early_closers(100)
            self.assert_responsive(what="after early-closing clients")
        self.assert_alive()

    def fifo_writer(self, timeout=10.0):
        """Waits until a reload opened the FIFO config for reading; returns
        a write descriptor."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return os.open(self.d.config, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.02)
        self.fail("no reload opened the configuration")

    def feed(self, fd, text):
        os.set_blocking(fd, True)
        os.write(fd, text.encode())
        os.close(fd)

    def test_control_during_slow_reload(self):
        """The configuration is a FIFO, so a reload waits for its content
        as long as the test likes: status answers meanwhile, clients that
        leave early do no harm, and requests during a parse share the next
        one, which `anysteerctl reload` waits for."""
        fifo = self.d.config + ".fifo"
        os.mkfifo(fifo)
        os.rename(fifo, self.d.config)
        new = config(self.d, "fd00:10::2")
        try:
            self.d.signal(signal.SIGHUP)
            w = self.fifo_writer()
            # anysteerctl's --timeout bounds the wait for the answer.
            r = self.ctl("--json", "status", timeout=BUDGET)
            self.assertEqual(r.returncode, 0,
                             "status during a reload: %s" % r.stderr)
            self.assertTrue(json.loads(r.stdout)["config"]["reloading"])
            self.early_closers(100)
            # Two more requests while the file is being parsed: they
            # share the next parse; anysteerctl waits for its result.
            # Both must be in before the first parse ends, or the late
            # one starts a third parse that waits on the FIFO forever.
            # anysteerctl first: its request makes the waiting job, which
            # logs "parse starts" (made by the SIGHUP, the line said
            # nothing of an anysteerctl a loaded machine started late);
            # then the SIGHUP, which logs on the loop as it joins.
            waiting = subprocess.Popen(
                [ANYSTEERCTL, "--socket", self.d.ctl, "--timeout", "30",
                 "reload"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            self.assertTrue(wait_for(lambda: "parse starts" in self.d.log()))
            self.d.signal(signal.SIGHUP)
            self.assertTrue(wait_for(
                lambda: self.d.log().count("SIGHUP: reloading") == 2))
            self.assert_responsive(what="during a slow reload")
            self.feed(w, new)
            self.assertTrue(wait_for(
                lambda: self.status()["config"]["reloads"] == 1))
            self.assertIsNone(waiting.poll(), "answered before its parse")
            self.feed(self.fifo_writer(), new)
            out, err = waiting.communicate(timeout=30)
            self.assertEqual(waiting.returncode, 0, err)
            self.assertIn("reloaded", out)
            st = self.status()["config"]
            self.assertEqual((st["reloads"], st["reload_failures"],
                              st["reloading"]), (2, 0, False))
        finally:
            os.unlink(self.d.config)
            self.d.write_config(new)
        self.assert_responsive("fd00:10::2", what="after a slow reload")

    def test_ctl_when_the_daemon_drops_the_connection(self):
        """A request far over 64 KiB: the daemon answers with an error and
        closes while anysteerctl is still writing; it must say why instead
        of dying of SIGPIPE."""
        big = ["x" * 120000] * 8
        r = self.ctl("status", *big, timeout=5)
        self.assertNotEqual(r.returncode, -signal.SIGPIPE, "killed by SIGPIPE")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("request too long", r.stderr)
        self.assert_responsive(what="after an oversize request")

    def test_oversize_and_empty_lines(self):
        lines, closed = ctl_lines(self.d.ctl, b"\n \r\n" + request("status"), 3)
        self.assertFalse(closed)
        self.assertEqual([x["ok"] for x in lines], [False, False, True])
        self.assertIn("empty request", lines[0]["error"])
        self.assertEqual(lines[0]["version"], 1)
        # Up to 64 KiB a line is fine ...
        ok = request("status", pad="p" * 60000)
        lines, closed = ctl_lines(self.d.ctl, ok, 1)
        self.assertTrue(lines[0]["ok"], lines)
        self.assertFalse(closed)
        # ... a complete line over it is refused and closes the
        # connection, also when it arrives in one piece.
        big = request("status", pad="p" * 100000)
        lines, closed = ctl_lines(self.d.ctl, big + request("status"), 2)
        self.assertEqual(len(lines), 1, lines)
        self.assertFalse(lines[0]["ok"])
        self.assertIn("request too long", lines[0]["error"])
        self.assertTrue(closed)
        # An unfinished one too.
        lines, closed = ctl_lines(self.d.ctl, b"{" * 70000, 1)
        self.assertIn("request too long", lines[0]["error"])
        self.assertTrue(closed)
        self.assert_responsive(what="after oversize and empty lines")

    # ---- deep YAML --------------------------------------------------------------
    def test_deep_yaml_reload(self):
        good = config(self.d)
        self.d.write_config("[" * 200000 + "\n")
        try:
            self.d.signal(signal.SIGHUP)
            for i in range(5):
                self.assert_responsive(what="deep YAML reload, round %d" % i)
            self.assertTrue(wait_for(
                lambda: self.status()["config"]["reload_failures"] == 1),
                self.d.log()[-2000:])
            self.assertIn("nested deeper than 64 levels", self.d.log())
            self.assertIn("keeping the running configuration", self.d.log())
            t0 = time.monotonic()
            r = self.ctl("reload", timeout=5)
            self.assertLess(time.monotonic() - t0, 2 * BUDGET)
            self.assertEqual(r.returncode, 1)
            self.assertIn("nested deeper than 64 levels", r.stderr)
        finally:
            self.d.write_config(good)
        self.assert_responsive(what="after a deep YAML reload")
        self.assertEqual(self.status()["config"]["reloads"], 0)

    # ---- metrics listener ----------------------------------------------------
    def slow_clients(self, sources, per_source, duration, interval,
                     reconnect=True):
        """Trickling HTTP clients: each sends a request line, then a header
        line every `interval` s and never finishes; reconnects when closed
        (at most every 0.2 s). Runs `duration` seconds in a thread;
        returns the thread and a dict of counters."""
        stats = {"connects": 0, "closed_by_server": 0}
        stop = time.monotonic() + duration

        def run():
            socks = {}          # slot -> [socket, last send, sent first]
            next_connect = {}
            slots = [(src, i) for src in sources for i in range(per_source)]
            while time.monotonic() < stop:
                now = time.monotonic()
                for slot in slots:
                    c = socks.get(slot)
                    if c is None:
                        if now < next_connect.get(slot, 0) or \
                                (slot in socks and not reconnect):
                            continue
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.setblocking(False)
                        s.bind((slot[0], 0))
                        try:
                            s.connect(("127.0.0.1", self.d.metrics_port))
                        except BlockingIOError:
                            pass
                        socks[slot] = [s, 0, False]
                        stats["connects"] += 1
                        next_connect[slot] = now + 0.2
                        continue
                    s = c[0]
                    if now - c[1] < interval:
                        continue
                    try:
                        s.send(b"X-Slow: 1\r\n" if c[2]
                               else b"GET /metrics HTTP/1.1\r\n")
                        c[1], c[2] = now, True
                        if s.recv(1) == b"":
                            raise ConnectionError
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        stats["closed_by_server"] += 1
                        s.close()
                        socks[slot] = None
                time.sleep(0.02)
            for c in socks.values():
                if c:
                    c[0].close()

        t = threading.Thread(target=run)
        t.start()
        return t, stats

    def probe_during(self, thread, src, paths=("/healthz", "/metrics")):
        """Probes while thread runs: every path answers within 1 s. A
        connection that lands in a burst of the attacker's from the same
        address may be refused (see agent/metrics.c); the probe then tries
        again within the same second. Returns (probes, retried)."""
        n = retried = 0
        while thread.is_alive():
            for path in paths:
                t0 = time.monotonic()
                while True:
                    left = BUDGET - (time.monotonic() - t0)
                    try:
                        code, _ = http_get(self.d.metrics_port, path, src=src,
                                           timeout=max(left, 0.01))
                        break
                    except OSError as e:
                        if time.monotonic() - t0 > BUDGET - 0.1:
                            self.fail("%s from %s: no answer within %.1f s "
                                      "during the attack: %s"
                                      % (path, src, BUDGET, e))
                        retried += 1
                        time.sleep(0.05)
                self.assertLess(time.monotonic() - t0, BUDGET, path)
                self.assertEqual(code, 200, path)
                n += 1
            time.sleep(0.2)
        return n, retried

    def test_slow_http_clients(self):
        port = self.d.metrics_port
        phases = [
            # The attack: 64 clients sending a header line every
            # 5 s, here from the prober's own address.
            ("64 slow, same address", ["127.0.0.3"], 64, 5.0, False,
             "127.0.0.3"),
            # 80 trickling a line a second (never idle), reconnecting at
            # once when closed, from the prober's own address ...
            ("80 reconnecting, same address", ["127.0.0.3"], 80, 1.0, True,
             "127.0.0.3"),
            # ... and from ten addresses, 8 each: the per-address limit
            # does not bite, the total does.
            ("80 reconnecting, ten addresses",
             ["127.0.0.%d" % i for i in range(10, 20)], 8, 1.0, True,
             PROBE_SRC),
        ]
        for what, sources, per, interval, reconnect, src in phases:
            t, st = self.slow_clients(sources, per, 6.0, interval, reconnect)
            try:
                n, retried = self.probe_during(t, src)
            finally:
                t.join()
            print("%s: %d probes answered within 1 s, %d connections "
                  "retried; attackers %s" % (what, n, retried, st))
            self.assertGreater(n, 10, what)
            self.assertGreater(st["closed_by_server"], 0, (what, st))
        # 3. Four clients within every limit, trickling a line a second
        # (never idle): each is cut at the request deadline (5 s).
        socks = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            socks.append((s, time.monotonic()))
        lived = []
        deadline = time.monotonic() + 12
        while socks and time.monotonic() < deadline:
            for s, t0 in list(socks):
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                    s.settimeout(0.01)
                    if s.recv(1) == b"":
                        raise ConnectionError
                except socket.timeout:
                    continue
                except OSError:
                    lived.append(time.monotonic() - t0)
                    s.close()
                    socks.remove((s, t0))
            time.sleep(0.25)
        for s, _ in socks:
            s.close()
        self.assertEqual(len(lived), 4, "not cut: %s" % lived)
        for x in lived:
            self.assertTrue(4.0 < x < 7.5, lived)
        _, text = http_get(port, "/metrics")
        self.assertGreaterEqual(
            metric(text, 'anysteer_http_connections_total{result="deadline"}'), 4)
        self.assertGreater(
            metric(text, 'anysteer_http_connections_total{result="evicted"}'), 0)
        self.assert_responsive(what="after slow HTTP clients")

    # ---- --check-config --------------------------------------------------------
    def test_check_config_deep(self):
        for n in (40000, 200000):
            path = os.path.join(self.d.dir, "deep%d.yaml" % n)
            with open(path, "w") as f:
                f.write("[" * n + "\n")
            t0 = time.monotonic()
            r = subprocess.run([ANYSTEERD, "--check-config", "--config", path],
                               capture_output=True, text=True, timeout=15)
            took = time.monotonic() - t0
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("deep%d.yaml:1: (yaml): document nested deeper than "
                          "64 levels" % n, r.stderr)
            self.assertLess(took, 3 * BUDGET, "%d levels: %.1fs" % (n, took))


class OpenFileLimitTest(DosBase):
    """The same daemon with 64 open files (`ulimit -n 64`)."""
    NOFILE = 64

    def window(self, seconds=2.0):
        """CPU seconds and log lines of the daemon over a window."""
        pid = self.d.proc.pid
        c0, l0 = cpu_seconds(pid), self.d.log().count("\n")
        time.sleep(seconds)  # the measurement window itself
        return cpu_seconds(pid) - c0, self.d.log().count("\n") - l0

    def test_open_file_limit(self):
        port = self.d.metrics_port
        fd_dir = "/proc/%d/fd" % self.d.proc.pid
        base_fds = len(os.listdir(fd_dir))
        # 1. 100 idle HTTP connections: HTTP keeps within its share of
        # the descriptors, everything else keeps answering.
        socks = []
        try:
            for i in range(100):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.%d" % (10 + i % 20), 0))
                s.settimeout(1)
                try:
                    s.connect(("127.0.0.1", port))
                except OSError:
                    pass
                socks.append(s)
            cpu, lines = self.window()
            print("100 HTTP connections, 64 files: CPU %.2f s and %d log "
                  "lines in 2 s" % (cpu, lines))
            self.assertLess(cpu, 0.3, "CPU %.2fs in 2s" % cpu)
            self.assertLess(lines, 10, self.d.log()[-2000:])
            self.assert_responsive(what="100 HTTP connections, 64 files")
        finally:
            for s in socks:
                s.close()
        # The daemon closes step 1's connections when it reads their
        # ends: until then they hold descriptors that step 2's control
        # clients would leave to HTTP once freed (seen in a loaded run:
        # 10 of them freed after the limit was hit, so HTTP accepted
        # without EMFILE). Start step 2 from the daemon's own count.
        self.assertTrue(wait_for(lambda: len(os.listdir(fd_dir)) <= base_fds + 1, 10),
                        "the daemon holds %d descriptors, %d before step 1"
                        % (len(os.listdir(fd_dir)), base_fds))
        # 2. Descriptors exhausted through the control socket, then HTTP
        # connections: accept fails with EMFILE and pauses; no spinning,
        # a handful of log lines.
        ctls, socks = [], []
        try:
            for _ in range(60):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.d.ctl)
                ctls.append(s)

            # The limit must be reached before the HTTP clients come: had
            # the loop seen both listeners readable at once, HTTP could
            # accept first (and refuse beyond its budget) and the control
            # socket take the EMFILE, which libuv absorbs silently by
            # closing the excess connections (seen once in 20 loaded runs).
            # So wait until it closed one of ours: the limit was hit.
            def ctl_closed():
                r, _, _ = select.select(ctls, [], [], 0)
                return any(x.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
                           for x in r)
            self.assertTrue(wait_for(ctl_closed, 5),
                            "60 control clients did not reach the open-file limit")
            for _ in range(20):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(1)
                try:
                    s.connect(("127.0.0.1", port))
                except OSError:
                    pass
                socks.append(s)
            self.assertTrue(wait_for(lambda: "metrics: cannot accept a connection: "
                                     "Too many open files" in self.d.log(), 5),
                            self.d.log()[-2000:])
            cpu, lines = self.window()
            print("descriptors exhausted: CPU %.2f s and %d log lines in 2 s"
                  % (cpu, lines))
            self.assertLess(cpu, 0.3, "CPU %.2fs in 2s" % cpu)
            self.assertLess(lines, 10, self.d.log()[-2000:])
            dns_query(self.d.port, False)   # UDP needs no descriptor
        finally:
            for s in ctls + socks:
                s.close()
        self.assertTrue(wait_for(lambda: http_get(port, "/healthz")[0] == 200))
        self.assert_responsive(what="after the open-file limit")
        _, text = http_get(port, "/metrics")
        self.assertGreater(metric(text, "anysteer_http_accept_errors_total"), 0)
        log = self.d.log()
        self.assertLess(log.count("Too many open files"), 10, log[-3000:])
        self.assertLess(len(log), 20000, log[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
