#!/usr/bin/env python3
"""Smoke test of the evaluation's programs (issue 12): two as-backend pods,
anysteerd as the authoritative DNS the load generator resolves through,
and as-loadgen, all in a private network namespace (ULA addresses on its
loopback). Checks the JSON of the contract, that per_pod adds up to ok and
follows the weights, TTL caching and reuse, a stalled backend counted from
the scheduled time (SIGSTOP), and a killed backend showing up as connect
errors (and --try-next moving past it).

The test re-runs itself inside the namespace; the outer process creates
and deletes the namespace and ends any process left in it, by PID."""
import csv
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERD, BUILD, Daemon,  # noqa: E402
                           main_skip77, sanitizer_report)

BACKEND = os.path.join(BUILD, "tests", "eval", "as-backend")
LOADGEN = os.path.join(BUILD, "tests", "eval", "as-loadgen")
NS_ENV = "ANYSTEER_EVAL_NS"
POD_A, POD_B = "fd00:e7a1::a", "fd00:e7a1::b"
ZONE = "svc.test."
NAME = "web." + ZONE
WEIGHTS = {"pod-a": 100, "pod-b": 300}

ERROR_KEYS = ["dns_timeout", "dns_servfail", "dns_nxdomain", "dns_noanswer",
              "dns_other", "connect_refused", "connect_timeout",
              "connect_other", "reset", "http_timeout", "http_status",
              "http_parse", "client_overload"]
HIST_KEYS = ["count", "min", "mean", "p50", "p90", "p99", "p999", "max"]


def config(d):
    return """node:
  name: %(name)s
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  ttl: 2
  max_answers: 2
  workers: 1
  rrl: {enabled: false}   # as-loadgen sends hundreds of qps from ::1
  nameservers: [ns1.%(zone)s]
  ns_addresses: ["fd00:53::53"]
control:
  socket: %(ctl)s
metrics:
  listen: "[::1]:%(mport)d"
services:
  - name: web
    port: 80
    ttl: 2
    endpoints:
      - { address: "%(a)s", weight: %(wa)d, node: node2 }
      - { address: "%(b)s", weight: %(wb)d, node: node2 }
  - name: nothing
    port: 80
    endpoints: []
""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
       "mport": d.metrics_port, "a": POD_A, "b": POD_B,
       "wa": WEIGHTS["pod-a"], "wb": WEIGHTS["pod-b"]}


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


class Backend:
    def __init__(self, pod, addr, tmp, service_us=0):
        self.pod, self.addr = pod, addr
        self.killed = False
        self.pidfile = os.path.join(tmp, pod + ".pid")
        self.log = open(os.path.join(tmp, pod + ".log"), "w+")
        self.proc = subprocess.Popen(
            [BACKEND, "--listen", "[%s]:80" % addr, "--pod", pod,
             "--service-us", str(service_us), "--size", "100",
             "--pidfile", self.pidfile],
            stdout=self.log, stderr=self.log)
        wait_for(lambda: self.proc.poll() is not None or
                 os.path.exists(self.pidfile), 10, pod + " pid file")
        if self.proc.poll() is not None:
            raise AssertionError("%s exited: %s" % (pod, self.output()))

    def get(self, path):
        c = http.client.HTTPConnection(self.addr, 80, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.getheader("X-Pod"), r.read()
        finally:
            c.close()

    def stats(self):
        return json.loads(self.get("/stats")[2])

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode




class LoadgenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="anysteer-evlg-")
        cls.backends = {}
        cls.daemon = Daemon(config, name="node1")
        cls.daemon.start()
        cls.backends["pod-a"] = Backend("pod-a", POD_A, cls.tmp)
        cls.backends["pod-b"] = Backend("pod-b", POD_B, cls.tmp)
        cls.runs = 0

    @classmethod
    def tearDownClass(cls):
        problems = []
        for b in cls.backends.values():
            # SIGTERM: a clean exit and no leak report are part of the test.
            code = b.stop()
            if not b.killed and code != 0:
                problems.append("%s exited %s" % (b.pod, code))
            report = sanitizer_report(b.output())
            if report:
                problems.append("%s sanitizer report:\n%s" % (b.pod, report))
        code, log = cls.daemon.stop()
        cls.daemon.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        report = sanitizer_report(log)
        if report:
            problems.append("anysteerd sanitizer report:\n" + report)
        if problems:
            raise AssertionError("\n".join(problems))

    def loadgen(self, *args, wait=True, rate=300, duration=3.0,
                name=NAME):
        LoadgenTest.runs += 1
        out = os.path.join(self.tmp, "run%d.json" % self.runs)
        series = os.path.join(self.tmp, "run%d.csv" % self.runs)
        cmd = [LOADGEN, "--resolver", "[::1]:%d" % self.daemon.port,
               "--name", name, "--rate", str(rate), "--duration",
               str(duration), "--out", out, "--series", series] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.out, p.series = out, series
        if wait:
            return self.result(p)
        return p

    def result(self, p):
        stdout, stderr = p.communicate(timeout=120)
        report = sanitizer_report(stderr)
        self.assertIsNone(report, report)
        self.assertEqual(p.returncode, 0, stderr)
        with open(p.out) as f:
            j = json.load(f)
        with open(p.series) as f:
            rows = list(csv.DictReader(f))
        return j, rows

    def check_contract(self, j, rows):
        for k in ["config", "duration_s", "scheduled", "sent", "completed",
                  "ok", "achieved_rps", "warmup_requests", "errors",
                  "latency_us", "dns", "connections", "per_pod",
                  "per_address", "histogram"]:
            self.assertIn(k, j)
        self.assertEqual(sorted(j["errors"]), sorted(ERROR_KEYS))
        for h in ["total", "ttfb", "connect", "dns"]:
            self.assertEqual(sorted(j["latency_us"][h]), sorted(HIST_KEYS))
        for k in ["resolutions", "cache_hits", "queries_sent",
                  "answers_by_address"]:
            self.assertIn(k, j["dns"])
        self.assertEqual(sorted(j["connections"]),
                         ["opened", "reused_requests"])
        for h in ["total", "ttfb"]:
            enc = j["histogram"][h]
            self.assertGreaterEqual(enc["sub_bucket_bits"], 7)
            self.assertEqual(sum(c for _, c in enc["counts"]), j["ok"])
        for k in ["resolver", "names", "rate", "duration", "arrival",
                  "clients", "client_cache", "reuse", "try_next", "port",
                  "path", "timeout_ms", "dns_timeout_ms", "dns_attempts",
                  "max_inflight", "seed", "warmup", "out", "series"]:
            self.assertIn(k, j["config"])
        self.assertEqual(sum(j["per_pod"].values()), j["ok"])
        self.assertEqual(sum(j["per_address"].values()), j["ok"])
        self.assertEqual(j["completed"],
                         j["ok"] + sum(v for k, v in j["errors"].items()
                                       if k != "client_overload"))
        self.assertEqual(j["latency_us"]["total"]["count"], j["ok"])
        # The series covers the measured seconds and adds up.
        self.assertEqual(len(rows), round(j["duration_s"]))
        self.assertEqual(sum(int(r["scheduled"]) for r in rows),
                         j["scheduled"])
        self.assertEqual(sum(int(r["ok"]) for r in rows), j["ok"])

    def test_0_usage(self):
        """Usage errors exit 2 and write nothing; a public resolver is
        refused."""
        out = os.path.join(self.tmp, "usage.json")
        for args in ([], ["--name", "x", "--rate", "1", "--duration", "1",
                          "--out", out],
                     ["--resolver", "[2001:4860::8888]:53", "--name", "x",
                      "--rate", "1", "--duration", "1", "--out", out],
                     ["--resolver", "::1", "--name", "x", "--rate", "0",
                      "--duration", "1", "--out", out],
                     ["--resolver", "::1", "--name", "a..b", "--rate", "1",
                      "--duration", "1", "--out", out],
                     ["--resolver", "::1", "--name", "x", "--rate", "1",
                      "--duration", "1", "--warmup", "1", "--out", out],
                     ["--resolver", "::1", "--name", "x", "--rate", "1",
                      "--duration", "1", "--reuse", "maybe", "--out", out]):
            r = subprocess.run([LOADGEN] + args, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("usage", r.stderr)
            self.assertFalse(os.path.exists(out))
        for prog in (LOADGEN, BACKEND):
            r = subprocess.run([prog, "--help"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage", r.stdout)

    def test_1_contract_and_weights(self):
        """Glibc-like clients without reuse: one resolution and one
        connection per request; the pod split follows the weights."""
        j, rows = self.loadgen("--clients", "50", "--client-cache", "none",
                               "--reuse", "off", "--warmup", "0.5",
                               rate=400, duration=3.5)
        self.check_contract(j, rows)
        self.assertEqual(j["scheduled"], 1200)
        self.assertEqual(j["warmup_requests"], 200)
        self.assertEqual(j["ok"], j["scheduled"], j["errors"])
        self.assertEqual(sum(j["errors"].values()), 0)
        self.assertEqual(j["dns"]["resolutions"], j["ok"])
        self.assertEqual(j["dns"]["cache_hits"], 0)
        self.assertEqual(j["connections"]["opened"], j["ok"])
        self.assertEqual(j["connections"]["reused_requests"], 0)
        self.assertEqual(sum(j["dns"]["answers_by_address"].values()),
                         j["dns"]["resolutions"])
        # The pod and its address agree; the split follows 1:3 (binomial
        # sd of the share at n=1200 is 0.0125).
        self.assertEqual(j["per_pod"]["pod-a"], j["per_address"][POD_A])
        self.assertEqual(j["per_pod"]["pod-b"], j["per_address"][POD_B])
        share_b = j["per_pod"]["pod-b"] / j["ok"]
        self.assertAlmostEqual(share_b, 0.75, delta=0.06)
        self.assertGreater(j["latency_us"]["total"]["p50"], 0)
        self.assertGreater(j["latency_us"]["dns"]["count"], 0)
        self.assertGreater(j["achieved_rps"], 390)
        self.assertEqual(j["config"]["client_cache"], "none")
        lg = j["loadgen"]
        for k in ("unfinished", "never_sent", "dns_dropped", "dns_send_errors",
                  "dns_socket_drops", "refused_destinations"):
            self.assertEqual(lg[k], 0, k)
        self.assertFalse(lg["interrupted"])
        self.assertEqual(lg["requests_sent_all"], 1400)
        self.assertGreater(lg["cpu_us_per_request"], 0)
        self.assertEqual(lg["send_lag_us"]["count"], 1200)

    def test_2_ttl_cache_and_reuse(self):
        """Browser-like clients: answers kept for the TTL (2 s), idle
        connections reused."""
        j, rows = self.loadgen("--clients", "20", "--client-cache", "ttl",
                               "--reuse", "on", "--arrival", "poisson",
                               rate=200, duration=3)
        self.check_contract(j, rows)
        self.assertEqual(sum(j["errors"].values()), 0, j["errors"])
        self.assertEqual(j["ok"], j["scheduled"])
        # 20 identities, TTL 2 s, 3 s: about 2 resolutions each.
        self.assertGreater(j["dns"]["resolutions"], 0)
        self.assertLessEqual(j["dns"]["resolutions"], 20 * 3)
        self.assertGreater(j["connections"]["reused_requests"], j["ok"] / 2)
        self.assertEqual(j["connections"]["opened"] +
                         j["connections"]["reused_requests"], j["ok"])
        self.assertEqual(j["config"]["arrival"], "poisson")

    def test_3_dns_errors(self):
        """An empty service is NODATA, an unknown name NXDOMAIN."""
        j, _ = self.loadgen("--clients", "5", name="nothing." + ZONE,
                            rate=50, duration=1)
        self.assertEqual(j["ok"], 0)
        self.assertEqual(j["errors"]["dns_noanswer"], j["scheduled"])
        j, _ = self.loadgen("--clients", "5", "--client-cache", "none",
                            name="nope." + ZONE, rate=50, duration=1)
        self.assertEqual(j["errors"]["dns_nxdomain"], j["scheduled"])

    def test_3b_client_overload(self):
        """--max-inflight 1 at 20,000 requests/s: requests that find one in
        flight are not sent and count as client_overload. (At 1,000/s a
        quiet machine finished every request before the next arrival in
        a distcheck run: 0 overloads. A request here is a DNS lookup, a
        TCP connect and an HTTP exchange; Poisson gaps of 50 us on
        average leave no machine that fast.)"""
        j, rows = self.loadgen("--clients", "5", "--client-cache", "none",
                               "--reuse", "off", "--max-inflight", "1",
                               rate=20000, duration=1)
        self.check_contract(j, rows)
        self.assertGreater(j["errors"]["client_overload"], 0)
        self.assertEqual(j["sent"] + j["errors"]["client_overload"],
                         j["scheduled"])
        self.assertEqual(j["completed"], j["sent"])
        self.assertEqual(j["loadgen"]["max_inflight_seen"], 1)

    def test_4_stall_counted_from_schedule(self):
        """Both backends stopped (SIGSTOP) for 600 ms mid-run: requests
        scheduled during the stall count their wait."""
        before = sum(b.stats()["requests"] for b in self.backends.values())
        p = self.loadgen("--clients", "20", "--timeout-ms", "5000",
                         rate=200, duration=3, wait=False)
        wait_for(lambda: sum(b.stats()["requests"]
                             for b in self.backends.values()) - before >= 150,
                 20, "the run to get going")
        for b in self.backends.values():
            b.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.6)     # the stall under test
        finally:
            for b in self.backends.values():
                b.proc.send_signal(signal.SIGCONT)
        j, rows = self.result(p)
        self.check_contract(j, rows)
        self.assertEqual(j["ok"], j["scheduled"], j["errors"])
        # The request sent as the stall began waited ~600 ms; 20 % of
        # the run was in the stall, so p90 saw it too.
        self.assertGreaterEqual(j["latency_us"]["total"]["max"], 500000)
        self.assertGreaterEqual(j["latency_us"]["total"]["p99"], 300000)
        self.assertGreaterEqual(max(int(r["max_us"]) for r in rows), 500000)
        # The load generator kept its schedule meanwhile.
        self.assertLess(j["loadgen"]["send_lag_us"]["p99"], 100000)

    def test_5_killed_backend(self):
        """pod-a killed mid-run: its share turns into connect errors;
        with --try-next on the second address of the answer is used."""
        b = self.backends["pod-a"]
        before = b.stats()["requests"]
        p = self.loadgen("--clients", "50", "--client-cache", "none",
                         "--reuse", "off", rate=300, duration=3, wait=False)
        wait_for(lambda: b.stats()["requests"] - before >= 60, 20,
                 "pod-a to serve")
        b.killed = True
        b.proc.kill()
        b.proc.wait()
        j, rows = self.result(p)
        self.check_contract(j, rows)
        self.assertGreater(j["errors"]["connect_refused"], 20, j["errors"])
        self.assertGreater(j["per_pod"]["pod-a"], 0)
        self.assertGreater(j["per_pod"]["pod-b"], j["per_pod"]["pod-a"])
        self.assertEqual(j["ok"] + j["errors"]["connect_refused"] +
                         j["errors"]["reset"], j["scheduled"], j["errors"])

        j, rows = self.loadgen("--clients", "50", "--client-cache", "none",
                               "--reuse", "off", "--try-next", "on",
                               rate=300, duration=1)
        self.check_contract(j, rows)
        self.assertEqual(j["errors"]["connect_refused"], 0, j["errors"])
        self.assertEqual(j["ok"], j["scheduled"])
        self.assertEqual(list(j["per_pod"]), ["pod-b"])
        self.assertGreater(j["connections"]["opened"], 0)

    def test_6_backend_endpoints(self):
        """The backend's own surface: X-Pod, /healthz toggled by
        SIGUSR1/SIGUSR2, /stats."""
        b = self.backends["pod-b"]
        status, pod, body = b.get("/anything")
        self.assertEqual((status, pod, len(body)), (200, "pod-b", 100))
        self.assertEqual(b.get("/healthz")[0], 200)
        b.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: b.get("/healthz")[0] == 503, 5, "not ready")
        b.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: b.get("/healthz")[0] == 200, 5, "ready")
        s = b.stats()
        self.assertEqual(s["pod"], "pod-b")
        self.assertGreater(s["requests"], 0)
        # A malformed request: 400 with X-Pod, the connection closed, and
        # counted.
        with socket.create_connection((b.addr, 80), timeout=5) as c:
            c.sendall(b"GET /\r\n\r\n")
            reply = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply)
        self.assertIn(b"X-Pod: pod-b\r\n", reply)
        self.assertEqual(b.stats()["bad_requests"], s["bad_requests"] + 1)
        # Pipelined requests are answered in order on one connection.
        with socket.create_connection((b.addr, 80), timeout=5) as c:
            c.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /3 HTTP/1.1\r\nConnection: close\r\n\r\n")
            reply = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                reply += chunk
        self.assertEqual(reply.count(b"HTTP/1.1 200 OK\r\n"), 3)
        self.assertEqual(reply.count(b"x" * 100), 2)   # HEAD has no body


def outer():
    """Creates the namespace, runs this file inside it, cleans up."""
    if os.geteuid() != 0:
        print("SKIP: needs root for a network namespace")
        return 77
    for f in (ANYSTEERD, BACKEND, LOADGEN):
        if not os.access(f, os.X_OK):
            print("SKIP: %s not built" % f)
            return 77
    ns = "evlg-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["addr", "add", POD_A + "/128", "dev", "lo", "nodad"],
                    ["addr", "add", POD_B + "/128", "dev", "lo", "nodad"]):
            subprocess.run(["ip", "-n", ns] + cmd, check=True)
        env = dict(os.environ, **{NS_ENV: ns})
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable,
                            os.path.abspath(__file__)], env=env, timeout=600)
        return r.returncode
    finally:
        pids = subprocess.run(["ip", "netns", "pids", ns],
                              capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "delete", ns])


if __name__ == "__main__":
    if os.environ.get(NS_ENV):
        main_skip77()
    else:
        sys.exit(outer())
