"""Shared helpers for anysteer's integration tests.

Starts real anysteerd processes on loopback, queries them with real DNS
clients (kdig, dig) and parses their output. Every process a test starts
is stopped by PID in stop() / the context manager, also on failure.
"""
import json
import os
import random
import re
import selectors
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

BUILD = os.environ.get("top_builddir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
ANYSTEERD = os.path.join(BUILD, "agent", "anysteerd")
ANYSTEERCTL = os.path.join(BUILD, "agent", "anysteerctl")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


# Ports free_port() returned in this process.
_HANDED_OUT = set()


def free_port():
    """A port free for both UDP and TCP on [::1] and 127.0.0.1.

    Chosen at random below the kernel's ephemeral range: a port the kernel
    handed out (bind to 0) is released here and may be handed to another
    process's client socket (kdig, a gossip peer, urllib) before the daemon
    binds it, which made tests fail with "Address already in use" under
    load. The kernel never picks ports below the range by itself, so only
    another test choosing the same random port could collide, or this
    one: a port handed out earlier in this process and not bound yet (a
    daemon started later) is never handed out again.
    """
    lo, _ = _ephemeral_range()
    top = min(lo, 32768) - 1
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(10000, top)
        if port in _HANDED_OUT:
            continue
        ok = True
        for fam, addr, typ in ((socket.AF_INET6, "::1", socket.SOCK_DGRAM),
                               (socket.AF_INET6, "::1", socket.SOCK_STREAM),
                               (socket.AF_INET, "127.0.0.1", socket.SOCK_DGRAM),
                               (socket.AF_INET, "127.0.0.1", socket.SOCK_STREAM)):
            t = socket.socket(fam, typ)
            try:
                if fam == socket.AF_INET6:
                    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                t.bind((addr, port))
            except OSError:
                ok = False
            finally:
                t.close()
            if not ok:
                break
        if ok:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port")


def require_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise unittest.SkipTest("missing tools: %s (run deploy/install-deps.sh)"
                                % ", ".join(missing))


class Answer:
    """A DNS response as printed by kdig or dig."""

    def __init__(self, text):
        self.text = text
        self.status = None
        self.flags = set()
        self.sections = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": [],
                         "QUESTION": []}
        self.nsid = None
        self.edns = False
        self.udp_size = None
        section = None
        for line in text.splitlines():
            m = re.search(r"status: ([A-Z0-9]+)", line)
            if m and "HEADER" in line:
                self.status = m.group(1)
                continue
            m = re.match(r";; [Ff]lags: ([a-z ]*);", line)
            if m:
                self.flags = set(m.group(1).split())
                continue
            if "EDNS" in line or "OPT PSEUDOSECTION" in line:
                self.edns = True
            m = re.search(r"(?:UDP size|udp): (\d+)", line)
            if m:
                self.udp_size = int(m.group(1))
            m = re.search(r'NSID: .*"([^"]*)"', line) or \
                re.search(r'NSID: .*\("([^"]*)"\)', line)
            if m:
                self.nsid = m.group(1)
            m = re.match(r";; ([A-Z]+)(?: SECTION)?:\s*$", line)
            if m and m.group(1) in self.sections:
                section = m.group(1)
                continue
            if not line.strip():
                section = None if section != "QUESTION" else None
                continue
            if line.startswith(";"):
                continue
            if section in ("ANSWER", "AUTHORITY", "ADDITIONAL"):
                parts = line.split(None, 4)
                if len(parts) == 5:
                    owner, ttl, klass, rtype, rdata = parts
                    self.sections[section].append(
                        (owner.lower(), int(ttl), klass, rtype, rdata.strip()))

    def records(self, section="ANSWER", rtype=None):
        return [r for r in self.sections[section] if rtype is None or r[3] == rtype]

    def rdata(self, section="ANSWER", rtype=None):
        return [r[4] for r in self.records(section, rtype)]


# ---- a DNS client and endpoint listeners for cluster tests ----

def query_a(port, name, timeout=0.5):
    """A records of one UDP query to [::1]:port, in order, or None."""
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("::1", port))
        r = s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()
    if len(r) < 12 or struct.unpack("!H", r[:2])[0] != qid:
        return None
    an = struct.unpack("!H", r[6:8])[0]

    def skip_name(off):
        while True:
            n = r[off]
            if n == 0:
                return off + 1
            if n & 0xC0 == 0xC0:
                return off + 2
            off += 1 + n

    off = skip_name(12) + 4
    out = []
    for _ in range(an):
        off = skip_name(off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", r[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(r[off:off + 4]))
        off += rdlen
    return out


class Acceptor:
    """TCP listeners for the endpoints; accepts and closes at once."""

    def __init__(self, addrs, port):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
            s.listen(64)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.socks.append(s)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.1):
                try:
                    c, _ = key.fileobj.accept()
                    c.close()
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()
        self.sel.close()


class Daemon:
    """One anysteerd process with its own temporary directory."""

    def __init__(self, config_text_fn, name="node1", workers=1):
        self.dir = tempfile.mkdtemp(prefix="anysteer-it-")
        self.port = free_port()
        self.metrics_port = free_port()
        self.ctl = os.path.join(self.dir, "ctl.sock")
        self.config = os.path.join(self.dir, "anysteer.yaml")
        self.name = name
        self.workers = workers
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self._config_fn = config_text_fn
        self._write(config_text_fn(self))
        self._generated = True

    def _write(self, text):
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config)

    def write_config(self, text):
        self._write(text)
        self._generated = False

    def start(self, extra_args=(), wait=True):
        # free_port() checks a port and the daemon binds it later: another
        # test may take it in between (seen once in a loaded repeat run).
        # While the configuration is still the generated one, pick new
        # ports and start again; any other early exit is the test's.
        for attempt in range(3):
            self._stderr = open(self.stderr_path, "w")
            self.proc = subprocess.Popen(
                [ANYSTEERD, "--config", self.config, "--foreground",
                 "--log-level", "info"] + list(extra_args),
                stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except AssertionError:
                if (attempt == 2 or not self._generated or self.proc.poll() is None
                        or "Address already in use" not in self.log()):
                    raise
                self._stderr.close()
                sys.stderr.write("anysteerd: a port was taken before it bound "
                                 "it; new ports, attempt %d\n" % (attempt + 2))
                self.port = free_port()
                self.metrics_port = free_port()
                self._write(self._config_fn(self))
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("anysteerd exited early (%d):\n%s"
                                     % (self.proc.returncode, self.log()))
            if os.path.exists(self.ctl):
                r = self.ctl_run("status", check=False)
                if r.returncode == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("anysteerd not ready after %.0fs:\n%s"
                             % (timeout, self.log()))

    def log(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ""

    def ctl_run(self, *args, check=True, json_out=False):
        cmd = [ANYSTEERCTL, "--socket", self.ctl]
        if json_out:
            cmd.append("--json")
        r = subprocess.run(cmd + list(args), capture_output=True, text=True,
                           timeout=10)
        if check and r.returncode != 0:
            raise AssertionError("anysteerctl %s failed: %s%s"
                                 % (" ".join(args), r.stdout, r.stderr))
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl_run(*args, json_out=True).stdout)

    def kdig(self, name, rtype="AAAA", *opts, server="::1", klass=None):
        cmd = ["kdig", "@%s" % server, "-p", str(self.port), "+time=2",
               "+retry=0"] + list(opts)
        if klass:
            cmd += ["-c", klass]
        cmd += [name, rtype]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return Answer(r.stdout + r.stderr)

    def dig(self, name, rtype="AAAA", *opts, server="::1"):
        cmd = ["dig", "@%s" % server, "-p", str(self.port), "+time=2",
               "+tries=1"] + list(opts) + [name, rtype]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return Answer(r.stdout + r.stderr)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns (exit code, log)."""
        if self.proc is None:
            return None, ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        code = self.proc.returncode
        self.proc = None
        return code, self.log()

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def sanitizer_report(log):
    """The part of a log that reports a sanitizer finding, or None."""
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:"):
        i = log.find(marker)
        if i >= 0:
            return log[max(0, i - 200):i + 2000]
    return None


# ---- anycast testbed (issue 4) ----------------------------------------------

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TESTBED = os.path.join(SRCDIR, "deploy", "testbed", "testbed.sh")
QUERIER = os.path.join(SRCDIR, "deploy", "testbed", "querier.py")
BIRD = os.environ.get("BIRD", "/usr/sbin/bird")


def require_root_bird():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (network namespaces, TUN)")
    if not os.access(BIRD, os.X_OK):
        raise unittest.SkipTest("%s not installed" % BIRD)
    require_tools("ip", "kdig", "birdc")
    if not os.access(ANYSTEERD, os.X_OK):
        raise unittest.SkipTest("%s not built" % ANYSTEERD)


def in_distcheck():
    """`make distcheck` makes the unpacked source tree read-only (mode
    bits; root ignores them, so os.access cannot tell)."""
    return os.stat(SRCDIR).st_mode & 0o222 == 0


def skip_cluster_in_distcheck(*paths):
    """The tests that run an emulated cluster (deploy/testbed) take one or
    two minutes each and have just passed in tests/run-all.sh's sanitized
    pass on the same sources; under distcheck they check only that the
    files they need are in the tarball, then skip (CI's 20 minutes, and
    one exposure of their timing bounds, not two)."""
    if not in_distcheck():
        return
    missing = [p for p in (TESTBED, QUERIER) + paths if not os.path.exists(p)]
    if missing:
        raise AssertionError("not in the tarball (EXTRA_DIST): %s" % missing)
    raise unittest.SkipTest("distcheck (read-only source tree): the emulated "
                            "cluster ran in the sanitized make check; its "
                            "files are in the tarball")


def main_skip77():
    """unittest.main, but exit 77 (automake SKIP) when every test skipped,
    printing why."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    # A skip in setUpClass counts as a skip but not as a test run.
    if r.skipped and len(r.skipped) >= r.testsRun and \
            not r.failures and not r.errors:
        for _, why in r.skipped[:1]:
            print("SKIP: %s" % why)
        os._exit(77)
    os._exit(0 if r.wasSuccessful() else 1)


class Testbed:
    """deploy/testbed/testbed.sh with a private state folder and namespace
    prefix, so tests never touch a testbed someone started by hand."""

    def __init__(self, linger="2s"):
        tag = "%d" % os.getpid()  # whole: pid % 10000 collided
        self.dir = tempfile.mkdtemp(prefix="anysteer-tb-")
        os.rmdir(self.dir)  # testbed.sh creates it
        self.prefix = "at" + tag
        self.env = dict(os.environ, top_builddir=BUILD, top_srcdir=SRCDIR,
                        ANYSTEERD=ANYSTEERD, ANYSTEERCTL=ANYSTEERCTL,
                        TESTBED_DIR=self.dir, TESTBED_PREFIX=self.prefix,
                        TESTBED_LINGER=linger)
        self.router = self.prefix + "-r"
        self.client = self.prefix + "-c"
        self.anycast = "fd00:53::53"
        self.n = 0

    def run(self, *args, check=True, timeout=120):
        r = subprocess.run([TESTBED] + [str(a) for a in args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("testbed.sh %s failed (%d):\n%s%s"
                                 % (" ".join(map(str, args)), r.returncode,
                                    r.stdout, r.stderr))
        return r

    def up(self, n=3, letters=1):
        """letters=1: every node announces self.anycast (the tests of
        ECMP failover); 2 is the testbed's own default."""
        self.n = n
        return self.run("up", n, "--letters", letters, timeout=180)

    def down(self):
        return self.run("down", check=False)

    def down_with_reports(self, nodes):
        """Reads the sanitizer reports of nodes 1..nodes' agents, tears
        the testbed down, returns [("nodeI agent", report)] of those that
        have one."""
        reports = [("node%d agent" % i, sanitizer_report(self.agent_log(i)))
                   for i in range(1, nodes + 1)]
        self.down()
        return [(who, r) for who, r in reports if r]

    @staticmethod
    def node_addr(i):
        return "fd00:1::1:%d" % i

    def node_ns(self, i):
        return "%s-n%d" % (self.prefix, i)

    def hops(self):
        out = subprocess.run(["ip", "-n", self.router, "-6", "route", "show",
                              self.anycast + "/128"], capture_output=True,
                             text=True).stdout
        return sorted(re.findall(r"via ([0-9a-f:]+)", out))

    def wait(self, pred, timeout, step=0.002):
        """Polls pred(); returns seconds until it held, or None. The
        instant the poll that held ended is kept in self.held_at (on
        CLOCK_MONOTONIC, as the querier's send times): a test that
        compares events with it must not add the seconds returned to an
        instant taken before the call, since the caller may be preempted
        between the two."""
        t0 = time.monotonic()
        self.held_at = None
        while True:
            if pred():
                self.held_at = time.monotonic()
                return self.held_at - t0
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(step)

    def wait_hop_gone(self, i, timeout):
        return self.wait(lambda: self.node_addr(i) not in self.hops(), timeout)

    def wait_hop_back(self, i, timeout):
        return self.wait(lambda: self.node_addr(i) in self.hops(), timeout, 0.05)

    def agent_pid(self, i):
        with open(os.path.join(self.dir, "n%d" % i, "anysteerd.pid")) as f:
            return int(f.read())

    def bird_pid(self, i):
        with open(os.path.join(self.dir, "n%d" % i, "bird.pid")) as f:
            return int(f.read())

    def agent_log(self, i):
        try:
            with open(os.path.join(self.dir, "n%d" % i, "anysteerd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def ctl_json(self, i, *args):
        r = self.run("ctl", i, "--json", *args)
        return json.loads(r.stdout)

    def querier(self, rate=200, duration=3.0, timeout=0.5):
        """Starts the client query loop; returns (Popen, ready file)."""
        ready = os.path.join(self.dir, "querier.ready.%d" % time.monotonic_ns())
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.client, "python3", QUERIER,
             "--server", self.anycast, "--rate", str(rate), "--duration",
             str(duration), "--timeout", str(timeout), "--ready", ready],
            stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.01)
        return p

    @staticmethod
    def querier_result(p, timeout=60):
        out, _ = p.communicate(timeout=timeout)
        return json.loads(out)

    def pid_alive(self, pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie is not ours to reap (the shell started it); /proc says.
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False
