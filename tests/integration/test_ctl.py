#!/usr/bin/env python3
"""anysteerctl's output and exit codes against two real anysteerd
processes gossiping on loopback (issue 18), and the command lines of
both binaries (--version, --help-config).

Two nodes, ctl1 and ctl2, each publishing one endpoint of three
services: `web` (endpoints listening, health probes pass), `down` (no
listener: every endpoint fails its probe, so the answers fall back to the
configured weights, 100/300) and `zero` (configured weights 0: every
endpoint alike). Checked:
  - exit codes 0 (ok), 1 (the daemon answered with an error), 2 (usage:
    an unknown option before or after the command, a missing value, no
    command, top's options on another command), 3 (no socket, a socket
    that never answers);
  - --json before, after and between the command's words;
  - `services`: the same rows in the same order on both nodes, a header
    saying what SHARE is, shares in percent in text and fractions in
    JSON that sum to 1 per service, the fallback shown (text and JSON),
    CPU and FACTOR columns with one precision for local and remote rows;
  - `status`: its service and endpoint counts equal what `services`
    lists, and the Kubernetes and anycast parts are there;
  - `members`: this node marked, its peer's last update as "...s ago",
    no incarnation; after the peer leaves, its load is not shown;
  - `routes` without anycast, `top --count 2` (two frames, no ANSI
    escapes into a pipe) and `top` ended by SIGINT.
Every wait is on a condition with a generous deadline.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERCTL, ANYSTEERD, BUILD, Daemon,  # noqa: E402
                           free_port, sanitizer_report)

ZONE = "svc.example."
DEADLINE = 60.0


def package_version():
    with open(os.path.join(BUILD, "config.h")) as f:
        return re.search(r'#define PACKAGE_VERSION "([^"]*)"', f.read()).group(1)


def wait_for(cond, timeout=DEADLINE, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except (AssertionError, ValueError, KeyError, IndexError):
            pass
        time.sleep(step)
    return False


class Acceptor:
    """A TCP listener on each address that accepts and closes at once,
    so the daemons' health probes of `web` pass."""

    def __init__(self, addrs, port):
        self.socks = []
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
            s.listen(64)
            s.settimeout(0.1)
            self.socks.append(s)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            for s in self.socks:
                try:
                    c, _ = s.accept()
                    c.close()
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


def ctl(sock, *args, timeout=20, env=None):
    return subprocess.run([ANYSTEERCTL, "--socket", sock] + list(args),
                          capture_output=True, text=True, timeout=timeout, env=env)


class CtlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.web_port = free_port()
        cls.down_port = free_port()    # nobody listens: probes fail
        cls.acceptor = Acceptor(["127.0.3.1", "127.0.3.2"], cls.web_port)
        cls.nodes = []
        gports = [free_port(), free_port()]
        try:
            for i in (1, 2):
                cls.nodes.append(Daemon(cls.config(i, gports), name="ctl%d" % i))
            for d in cls.nodes:
                d.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def config(cls, i, gports):
        def text(d):
            return """node: {name: %(name)s}
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  workers: 1
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
load: {interval: 500ms, source: static, value: 0.1}
gossip:
  bind: "[::1]:%(gport)d"
  seeds: ["[::1]:%(seed)d"]
  cluster: ctl-test
  plaintext: true
  probe_interval: 200ms
  probe_timeout: 150ms
health: {interval: 250ms, timeout: 200ms, rise: 1, fall: 1}
services:
  - name: web
    port: %(web)d
    endpoints: [{address: "127.0.3.%(i)d", weight: %(w)d, node: %(name)s}]
  - name: down
    port: %(down)d
    endpoints: [{address: "127.0.4.%(i)d", weight: %(w)d, node: %(name)s}]
  - name: zero
    port: %(down)d
    endpoints: [{address: "127.0.5.%(i)d", weight: 0, node: %(name)s}]
""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
       "mport": d.metrics_port, "gport": gports[i - 1], "seed": gports[2 - i],
       "web": cls.web_port, "down": cls.down_port, "i": i, "w": 100 if i == 1 else 300}
        return text

    @classmethod
    def tearDownClass(cls):
        for d in cls.nodes:
            code, log = d.stop()
            d.cleanup()
            rep = sanitizer_report(log or "")
            if rep:
                raise AssertionError("sanitizer report from %s:\n%s" % (d.name, rep))
        cls.acceptor.close()

    def converged(self, d):
        """Both nodes' endpoints in d's view, `down` in fallback, `web` up."""
        sv = {s["name"]: s for s in d.ctl_json("services")["services"]}
        if any(len(sv[n]["endpoints"]) != 2 for n in ("web", "down", "zero")):
            return False
        return (sv["down"]["answer_mode"] == {"A": "fallback-configured"} and
                all(e["healthy"] for e in sv["web"]["endpoints"]) and
                sv["web"]["answer_mode"] == {"A": "weighted"})

    def setUp(self):
        for d in self.nodes:
            self.assertTrue(wait_for(lambda: self.converged(d)),
                            "%s never saw both nodes' endpoints:\n%s\n%s" % (
                                d.name, d.ctl_run("services", check=False).stdout,
                                d.log()[-3000:]))

    # ---- exit codes and options ----------------------------------------------
    def test_exit_codes(self):
        d = self.nodes[0]
        r = ctl(d.ctl, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        # 1: the daemon answered with an error.
        for args, why in ((["no-such-command"], "unknown command"),
                          (["drain"], "anycast is not configured")):
            r = ctl(d.ctl, *args)
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertIn(why, r.stderr)
        # 2: usage, before anything is sent.
        for args in (["--bogus", "status"], ["status", "--bogus"], ["status", "-x"],
                     [], ["--timeout"], ["--timeout", "soon", "status"],
                     ["status", "--count", "2"], ["top", "--count", "0"],
                     ["top", "--json"], ["top", "extra"]):
            r = ctl(d.ctl, *args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertTrue(r.stderr.strip(), args)
            self.assertEqual(r.stdout, "", args)
        # 3: no daemon there, or one that never answers.
        r = ctl(os.path.join(d.dir, "nobody.sock"), "status")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("cannot connect", r.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "mute.sock")
            mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            mute.bind(path)
            mute.listen(4)
            try:
                r = ctl(path, "--timeout", "0.3", "status")
            finally:
                mute.close()
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertIn("no answer", r.stderr)
        # Help and version: 0 on stdout.
        for args in (["--help"], ["status", "-h"]):
            r = ctl(d.ctl, *args)
            self.assertEqual(r.returncode, 0)
            self.assertIn("Exit: 0 ok, 1", r.stdout)

    def test_versions(self):
        v = package_version()
        for binary, name in ((ANYSTEERCTL, "anysteerctl"), (ANYSTEERD, "anysteerd")):
            r = subprocess.run([binary, "--version"], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual((r.returncode, r.stdout), (0, "%s %s\n" % (name, v)))
        # The man pages built here say it too (a build without scdoc has none).
        for page in ("anysteerd.8", "anysteerctl.8", "anysteer.yaml.5"):
            path = os.path.join(BUILD, "man", page)
            if os.path.exists(path):
                with open(path) as f:
                    self.assertRegex(f.read(), r'(?m)^\.TH .*"anysteer %s"$' % re.escape(v))

    def test_json_anywhere(self):
        d = self.nodes[0]
        for args in (["--json", "status"], ["status", "--json"], ["status", "-j"]):
            r = ctl(d.ctl, *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["node"], "ctl1", args)
        for args in (["keyring", "--json", "generate"], ["keyring", "generate", "--json"]):
            r = ctl(d.ctl, *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("key", json.loads(r.stdout))
        # Words after "--" are the command's, even when they look like options.
        r = ctl(d.ctl, "--", "keyring", "--json")
        self.assertEqual(r.returncode, 1)
        self.assertIn("usage: keyring", r.stderr)

    # ---- services and status ----------------------------------------------------
    def test_services_same_on_every_node(self):
        rows, texts = [], []
        for d in self.nodes:
            sv = d.ctl_json("services")
            rows.append([(s["name"], e["node"], e["address"])
                         for s in sv["services"] for e in s["endpoints"]])
            text = d.ctl_run("services").stdout
            texts.append(re.findall(r"(127\.0\.\d\.\d)\s+(ctl\d)", text))
        self.assertEqual(rows[0], rows[1])
        self.assertEqual([n for n, _, _ in rows[0]], ["down"] * 2 + ["web"] * 2 + ["zero"] * 2)
        self.assertEqual([x[1] for x in rows[0][:2]], ["ctl1", "ctl2"])
        self.assertEqual(texts[0], texts[1])
        self.assertEqual(len(texts[0]), 6, texts)

    def test_services_text_and_json(self):
        d = self.nodes[1]
        sv = d.ctl_json("services")
        by = {s["name"]: s for s in sv["services"]}
        for s in sv["services"]:
            self.assertAlmostEqual(sum(e["share"] for e in s["endpoints"]), 1.0, places=3)
        down = {e["node"]: e for e in by["down"]["endpoints"]}
        self.assertFalse(any(e["healthy"] for e in down.values()))
        # Every endpoint down: the configured weights 100 and 300.
        self.assertAlmostEqual(down["ctl1"]["share"], 0.25, places=4)
        self.assertAlmostEqual(down["ctl2"]["share"], 0.75, places=4)
        self.assertEqual(by["zero"]["answer_mode"], {"A": "fallback-uniform"})
        self.assertEqual([e["share"] for e in by["zero"]["endpoints"]], [0.5, 0.5])
        for s in sv["services"]:
            for e in s["endpoints"]:
                self.assertIsInstance(e["cpu_utilisation"], float)
                self.assertEqual(round(e["load_factor"], 3), e["load_factor"])
        text = d.ctl_run("services").stdout
        self.assertIn("this node's first answers", text)
        self.assertIn("caching resolver", text)
        self.assertRegex(text, r"FALLBACK down A: no endpoint is healthy with a weight.*configured weights")
        self.assertRegex(text, r"FALLBACK zero A: .*all endpoints alike")
        self.assertNotRegex(text, r"FALLBACK web")
        head = [l for l in text.splitlines() if l.startswith("SERVICE")][0].split()
        self.assertEqual(head, ["SERVICE", "PORT", "PROTO", "TTL", "MAX", "FROM", "ENDPOINT", "NODE",
                                "WEIGHT", "HEALTH", "CPU", "FACTOR", "EFFECTIVE", "SHARE"])
        lines = {m.group(1): l for l in text.splitlines()
                 for m in [re.search(r"(127\.0\.4\.\d)", l)] if m}
        self.assertRegex(lines["127.0.4.1"], r"ctl1\s+100\s+down\s+\d+%\s+\d\.\d{3}\s+0\.0\s+25\.0%$")
        self.assertRegex(lines["127.0.4.2"], r"ctl2\s+300\s+down\s+\d+%\s+\d\.\d{3}\s+0\.0\s+75\.0%$")

    def test_status(self):
        d = self.nodes[0]
        st = d.ctl_json("status")
        sv = d.ctl_json("services")["services"]
        self.assertEqual(st["view"]["services"], len(sv))
        self.assertEqual(st["view"]["endpoints"], sum(len(s["endpoints"]) for s in sv))
        text = d.ctl_run("status").stdout
        self.assertIn("node        ctl1", text)
        self.assertRegex(text, r"services    %d in the answer view with %d endpoints"
                         % (len(sv), st["view"]["endpoints"]))
        self.assertIn("kubernetes  not enabled", text)
        self.assertIn("anycast     not configured", text)
        self.assertRegex(text, r"gossip      joined .*members alive 2")
        self.assertRegex(text, r"load        static 10\.0% -> factor 1\.000")

    def test_routes_without_anycast(self):
        r = ctl(self.nodes[0].ctl, "routes")
        self.assertEqual(r.returncode, 0)
        self.assertIn("anycast is not configured", r.stdout)

    # ---- top --------------------------------------------------------------------------
    def test_top_count(self):
        d = self.nodes[0]
        r = ctl(d.ctl, "top", "--count", "2", "--interval", "0.2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("anysteerctl top: node ctl1"), 2, r.stdout)
        self.assertNotIn("\033", r.stdout)     # a pipe gets no escapes
        self.assertRegex(r.stdout, r"queries     \d+, [\d.]+/s")
        self.assertRegex(r.stdout, r"down\s+127\.0\.4\.1\s+ctl1\s+100\s+down")
        self.assertIn("members alive 2", r.stdout)

    def test_top_sigint(self):
        d = self.nodes[0]
        p = subprocess.Popen([ANYSTEERCTL, "--socket", d.ctl, "top", "-i", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()       # the first frame is out
            self.assertIn("anysteerctl top", line)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)

    # ---- members (last: the second node leaves) ------------------------------------------
    def test_z_members(self):
        d1, d2 = self.nodes
        text = d1.ctl_run("members").stdout
        head = text.splitlines()[0].split()
        self.assertEqual(head, ["NAME", "STATE", "ADDRESS", "HEARD", "UPDATED", "CPU",
                                "FACTOR", "RTT", "COORD-ERR", "ENDPOINTS"])
        self.assertNotIn("INCARN", text)
        self.assertRegex(text, r"(?m)^ctl1 \*\s+alive\s+\S+\s+-\s+-\s+\d+%\s+\d\.\d{3}\s+-\s+"
                               r"(-|\d\.\d\d)\s+1/3 up$")
        # Network coordinates: the probes give RTT samples, and the
        # peer's coordinate comes with the first ack asked for it.
        self.assertTrue(wait_for(lambda: all(
            m["rtt_ms"] is not None and m["coord_error"] is not None
            for m in d1.ctl_json("members"))))
        text = d1.ctl_run("members").stdout
        self.assertRegex(text, r"(?m)^ctl2\s+alive\s+.*\s\d+\.\d\dms\s+\d\.\d\d\s+\d+/\d+ up$")
        # Two nodes probe each other: the peer was heard from recently.
        ago = r"([\d.]+(ms|s)|\d+m\d\ds) ago"
        self.assertRegex(text, r"(?m)^ctl2\s+alive\s+\S+\s+%s\s+%s" % (ago, ago))
        peer = {m["name"]: m for m in d1.ctl_json("members")}["ctl2"]
        self.assertLess(peer["heard_ms"], 10000, peer)
        self.assertIsNone({m["name"]: m for m in d1.ctl_json("members")}["ctl1"]["heard_ms"])
        self.assertIn("* this node", text)
        # The peer leaves: its last load is not shown as if current.
        d2.stop()
        self.assertTrue(wait_for(lambda: {m["name"]: m["state"] for m in
                                          d1.ctl_json("members")}["ctl2"] in ("left", "dead")))
        text = d1.ctl_run("members").stdout
        self.assertRegex(text, r"(?m)^ctl2\s+(left|dead)\s+\S+\s+\S+ ago\s+\S+ ago\s+-\s+-\s+")


class HelpConfigTest(unittest.TestCase):
    def help_config(self, env, *args):
        return subprocess.run([ANYSTEERD, "--help-config"] + list(args), capture_output=True,
                              text=True, timeout=10, env=env)

    def test_wrapped(self):
        env = dict(os.environ)
        env.pop("COLUMNS", None)
        md = subprocess.run([ANYSTEERD, "--help-config=markdown"], capture_output=True,
                            text=True, timeout=10).stdout
        keys = re.findall(r"^\| `([^`]+)`", md, re.M)
        self.assertGreater(len(keys), 40)
        self.assertTrue(any(len(l) > 200 for l in md.splitlines()))
        for width, env_cols in ((80, None), (60, "60"), (132, "132")):
            e = dict(env)
            if env_cols:
                e["COLUMNS"] = env_cols
            r = self.help_config(e)
            self.assertEqual(r.returncode, 0)
            long = [l for l in r.stdout.splitlines() if len(l) > width]
            self.assertEqual(long, [], "COLUMNS=%s" % env_cols)
            got = re.findall(r"^(\S+) \(", r.stdout, re.M)
            self.assertEqual(got, keys, "COLUMNS=%s" % env_cols)
        r = subprocess.run([ANYSTEERD, "--help-config=html"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
