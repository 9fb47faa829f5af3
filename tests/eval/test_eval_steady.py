#!/usr/bin/env python3
"""`tests/eval/run steady --quick --weights 10,30,60` end to end (issues
12, 20): the emulated cluster with pods, ingress nodes and a site
resolver, the four modes (dns through the site's Unbound, dns-anycast with
anysteer as the clients' resolver, nginx, haproxy) interleaved over 3
repetitions, then the results. Asserts: every mode served requests with 0
errors at the lowest rate, the per-pod counts add up to the requests sent
(at the client and at the pods), round robin reached every pod through
each proxy, anysteer saw the resolver's cache misses, in dns-anycast every
client query reached anysteer directly and none the site's Unbound, and
anysteer forwarded a name outside its zone for the site (not for the
router), summary.json carries every figure (steering accuracy too), the
plots and the report exist, nothing is left running. A second test interrupts a run
with SIGTERM and checks that it tears everything down.

Needs root, BIRD, Unbound, NSD, nginx, HAProxy and the programs of
tests/eval/local.mk in top_builddir; skips (77) otherwise."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from anysteer_test import BUILD, main_skip77, require_root_bird, sanitizer_report  # noqa: E402
from evallib import analysis, report  # noqa: E402

RUN = os.path.join(HERE, "run")
MODES = ["dns", "dns-anycast", "nginx", "haproxy"]
WEIGHTS = [10, 30, 60]


def in_distcheck():
    """`make distcheck` makes the unpacked source tree read-only (mode
    bits; root ignores them, so os.access cannot tell)."""
    src = os.environ.get("top_srcdir") or os.path.join(HERE, "..", "..")
    return os.stat(src).st_mode & 0o222 == 0


def require_eval():
    if in_distcheck():
        # CI time: the same run already passed in the sanitized make check;
        # distcheck shows the tarball builds and its other tests pass.
        raise unittest.SkipTest("distcheck (read-only source tree): run steady --quick "
                                "runs once, in the sanitized make check")
    require_root_bird()
    missing = [t for t in ("unbound", "unbound-control", "nsd", "nginx", "haproxy", "kdig")
               if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t)]
    if missing:
        raise unittest.SkipTest("missing %s (deploy/install-deps.sh)" % ", ".join(missing))
    for p in ("as-loadgen", "as-backend"):
        if not os.access(os.path.join(BUILD, "tests", "eval", p), os.X_OK):
            raise unittest.SkipTest("tests/eval/%s not built in %s" % (p, BUILD))
    r = subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True)
    if r.returncode != 0:
        raise unittest.SkipTest("python3-matplotlib not installed")


def leftovers(prefix):
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in ns.splitlines() if line.startswith(prefix + "-")]


def run_prefix(text):
    m = re.search(r"\(prefix (\S+), state (\S+)\)", text)
    return (m.group(1), m.group(2)) if m else (None, None)


class HarnessRun(unittest.TestCase):
    """One `tests/eval/run ARGS --build-dir BUILD --out OUT` for the whole
    class (the quick experiments' tests share it): its result (returncode,
    stdout, stderr), pid and elapsed time; OUT is removed after a
    successful run whose tests all passed unless EVAL_KEEP is set, and
    kept (and named) otherwise: a failed assertion needs the run's logs."""
    ARGS = ()
    TIMEOUT = 900
    out = None
    result = None
    failed = False

    def run(self, result=None):
        bad = (lambda: len(result.failures) + len(result.errors)) if result else (lambda: 0)
        before = bad()
        outcome = super().run(result)
        if bad() > before:
            type(self).failed = True
        return outcome

    @classmethod
    def run_harness(cls):
        cls.out = tempfile.mkdtemp(prefix="anysteer-eval-%s-" % cls.ARGS[0])
        t0 = time.monotonic()
        p = subprocess.Popen([RUN] + list(cls.ARGS) + ["--build-dir", BUILD, "--out", cls.out],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cls.pid = p.pid
        try:
            out, err = p.communicate(timeout=cls.TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += "\n(killed after %d s)" % cls.TIMEOUT
        cls.result = subprocess.CompletedProcess(p.args, p.returncode, out, err)
        cls.elapsed = time.monotonic() - t0
        print("\n  run %s: %.0f s, exit %d" % (" ".join(cls.ARGS), cls.elapsed,
                                              cls.result.returncode), file=sys.stderr)

    @classmethod
    def tearDownClass(cls):
        if cls.out and os.path.isdir(cls.out):
            if cls.result is not None and cls.result.returncode == 0 and \
                    not cls.failed and not os.environ.get("EVAL_KEEP"):
                shutil.rmtree(cls.out, ignore_errors=True)
            else:
                print("  results kept in %s" % cls.out, file=sys.stderr)

    def assert_torn_down_and_clean(self):
        """No namespace or state folder of the run is left, and no log it
        kept (logs/, runs/) holds a sanitizer report."""
        prefix, state = run_prefix(self.result.stdout)
        self.assertIsNotNone(prefix, self.result.stdout[:2000])
        self.assertEqual(leftovers(prefix), [])
        self.assertFalse(os.path.exists(state))
        logs = [os.path.join(d, f) for sub in ("logs", "runs")
                for d, _, fs in os.walk(os.path.join(self.out, sub))
                for f in fs if f.endswith(".log")]
        self.assertTrue(any("anysteerd-n1" in f for f in logs), "agent logs not kept")
        for f in logs:
            with open(f, errors="replace") as fh:
                rep = sanitizer_report(fh.read())
            self.assertIsNone(rep, "%s:\n%s" % (f, rep))

    def summary(self):
        self.assertEqual(self.result.returncode, 0,
                         "run failed:\n%s\n%s" % (self.result.stdout[-5000:],
                                                  self.result.stderr[-5000:]))
        with open(os.path.join(self.out, "summary.json")) as f:
            return json.load(f)


class EvalSteadyQuickTest(HarnessRun):
    ARGS = ("steady", "--quick", "--weights", ",".join(map(str, WEIGHTS)))

    @classmethod
    def setUpClass(cls):
        require_eval()
        cls.run_harness()

    def test_1_every_mode_served_without_errors_at_the_lowest_rate(self):
        s = self.summary()
        self.assertEqual(s["modes"], MODES)
        low = min(s["rates"])
        for m in MODES:
            runs = [r for r in s["runs"] if r["mode"] == m and r["rate"] == low]
            self.assertEqual(len(runs), 3, "%s: %d repetitions at %s" % (m, len(runs), low))
            for r in runs:
                self.assertGreater(r["ok"], 0, "%s rep %d served nothing" % (m, r["rep"]))
                self.assertEqual(r["errors_total"], 0, "%s rep %d: %s" % (m, r["rep"], r["errors"]))
                self.assertEqual(r["ok"], r["sent"])
                # Open loop: what was scheduled was sent.
                self.assertEqual(r["sent"], r["scheduled"])

    def test_2_per_pod_counts_add_up(self):
        s = self.summary()
        for r in s["runs"]:
            what = "%s %s rep %d" % (r["mode"], r["rate"], r["rep"])
            c = r["checks"]
            # The clients' count by X-Pod adds up to the successful requests...
            self.assertEqual(c["per_pod_sum"], r["ok"], what)
            self.assertEqual(c["unknown_pod"], 0, what)
            self.assertEqual(sum(p["ok_measured"] for p in r["per_pod"].values()), r["ok"], what)
            # ...and the pods' own counters to every request sent (warm-up
            # included), when nothing failed.
            if r["errors_total"] == 0:
                self.assertEqual(c["served_sum"], r["sent"] + r["warmup_requests"], what)
            if r["mode"] in ("nginx", "haproxy"):
                # Round robin in every proxy reaches every pod.
                idle = [p for p, v in r["per_pod"].items() if v["served"] == 0]
                self.assertEqual(idle, [], what)

    def test_3_dns_side(self):
        s = self.summary()
        dns = [r for r in s["runs"] if r["mode"] == "dns"]
        self.assertGreater(sum(r["dns"]["agent_queries"] for r in dns), 0,
                           "no query reached anysteer through the site resolver")
        for r in dns:
            d = r["dns"]
            self.assertGreater(d["resolver_queries"], 0)
            self.assertEqual(d["resolver_servfail"], 0)
            # Every resolver miss became queries to anysteer, which the
            # capture on the site's uplink saw too. (A run may have none:
            # the warm-up fills Unbound's cache and a TTL of 5 s can
            # outlast the 4 s measured; a quiet machine did so once.)
            if d["resolver_cachemiss"] > 0:
                self.assertGreater(d["agent_queries"], 0, d)
            self.assertEqual(d["upstream_responses_seen"]["anysteer"],
                             d["agent_queries"], d)
            self.assertGreaterEqual(d["resolver_hit_rate"], 0.0)
            self.assertLessEqual(d["resolver_hit_rate"], 1.0)
            firsts = sum(p["first_by_anysteer"] for p in r["per_pod"].values())
            self.assertEqual(firsts, d["upstream_by_qtype"].get("AAAA", 0), d)
            for p in r["per_pod"].values():
                self.assertIsNotNone(p["intended_share"])
        for r in s["runs"]:
            if r["mode"] not in ("dns", "dns-anycast"):
                # The ingress modes never ask anysteer for a service.
                self.assertEqual(r["dns"]["upstream_responses_seen"]["anysteer"], 0, r["dns"])

    def test_3b_anycast_resolver_asks_anysteer_directly(self):
        s = self.summary()
        runs = [r for r in s["runs"] if r["mode"] == "dns-anycast"]
        self.assertEqual(len(runs), 3 * len(s["rates"]))
        for r in runs:
            d, what = r["dns"], "rep %d %s: %s" % (r["rep"], r["rate"], r["dns"])
            # No query went through the site's Unbound (the clients'
            # resolver is anysteer; the load asks only in-zone names, which
            # anysteer answers itself without forwarding)...
            self.assertEqual(d["resolver_queries"], 0, what)
            self.assertEqual(d["agent_forwarded"], 0, what)
            # ...every client query reached anysteer, AAAA only (no QNAME
            # minimisation), seen on the site's uplink as many times...
            self.assertGreater(d["client_queries_sent"], 0, what)
            self.assertEqual(d["agent_queries_by_qtype"]["A"], 0, what)
            self.assertGreaterEqual(d["agent_queries"], d["client_queries_sent"], what)
            self.assertEqual(d["upstream_responses_seen"]["anysteer"], d["agent_queries"], what)
            firsts = sum(p["first_by_anysteer"] for p in r["per_pod"].values())
            self.assertEqual(firsts, d["agent_queries"], what)
            # ...and each client used the address anysteer put first: no
            # cache or rotation in between (the capture also holds the
            # warm-up's answers, the clients' count only the measured part).
            for name, p in r["per_pod"].items():
                self.assertLessEqual(p["first_to_clients"], p["first_by_anysteer"], name)
            answered = sum(p["first_to_clients"] for p in r["per_pod"].values())
            self.assertLessEqual(answered, d["client_resolutions"], what)
            if r["errors_total"] == 0:
                self.assertEqual(answered, d["client_resolutions"], what)
            self.assertIsNotNone(d["requests_per_answer"])
        # Set-up: a name outside the zone resolved through anysteer's
        # forwarder for the site; the router, outside dns.forward.allow,
        # was refused.
        ar = s["meta"]["anycast_resolver"]
        self.assertEqual(ar["allow"], ["fd00:2::/48"])
        self.assertEqual(ar["sites"]["1"]["forwarded_answer"], ["fd00:80::80"])
        self.assertEqual(ar["outside_allow"]["rcode"], "REFUSED")
        self.assertGreaterEqual(ar["forward_counters_after_checks"]["queries"], 1)
        self.assertGreaterEqual(ar["forward_counters_after_checks"]["refused"], 1)
        with open(os.path.join(self.out, "configs", "services.yaml")) as f:
            self.assertIn("weight: 60", f.read())

    def test_3c_steering_accuracy_structure(self):
        s = self.summary()
        self.assertEqual(s["setup"]["weights"], WEIGHTS)
        self.assertEqual(s["setup"]["resolver"], "both")
        classes = s["setup"]["weight_classes"]
        self.assertEqual(sorted(classes), ["10/30", "10/30/60"])
        for m in MODES:
            for r in s["rates"]:
                acc = s["steering_accuracy"][m][str(r)]
                self.assertEqual(sorted(acc), sorted(classes))
                e = acc["10/30/60"]
                for got, want in zip(e["target"], [0.1, 0.3, 0.6]):
                    self.assertAlmostEqual(got, want)
                self.assertAlmostEqual(sum(e["served"]), 1.0)
                f = s["by_mode_rate"][m][str(r)]
                self.assertIsNotNone(f["steer_err_served"]["median"], (m, r))
                self.assertTrue(0 <= f["steer_err_served"]["median"] <= 1, (m, r))
                if m.startswith("dns"):
                    self.assertAlmostEqual(sum(e["first_to_clients"]), 1.0)
                    self.assertIsNotNone(f["requests_per_answer"]["median"], (m, r))
                else:
                    self.assertIsNone(e["first_to_clients"])
                    self.assertIsNone(f["steer_err_first_clients"]["median"])
        with open(os.path.join(self.out, "shares.csv")) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1 + len(MODES) * len(s["rates"]) * 5)
        for r in s["runs"]:
            for svc in ("svc1", "svc2", "svc3", "svc4"):
                self.assertAlmostEqual(sum(p["weight_share"] for p in r["per_pod"].values()
                                           if p["service"] == svc), 1.0)

    def test_4_json_carries_every_figure(self):
        s = self.summary()
        for key in ("meta", "setup", "modes", "rates", "figures", "by_mode_rate", "ratios",
                    "max_sustainable_rate", "runs"):
            self.assertIn(key, s)
        for key in ("loadavg_before", "loadavg_after", "cpus", "tools", "setup_s", "total_s"):
            self.assertIn(key, s["meta"])
        figs = [k for k, _, _, _ in analysis.FIGURES]
        for m in MODES:
            for r in s["rates"]:
                f = s["by_mode_rate"][m][str(r)]
                for k in figs:
                    self.assertIn(k, f)
                    self.assertEqual(len(f[k]["values"]), 3, (m, r, k))
                for q in ("lat_total_p50_us", "lat_total_p99_us", "lat_total_p999_us",
                          "lat_ttfb_p50_us", "lat_ttfb_p99_us", "lat_ttfb_p999_us",
                          "cpu_steering_per_1k", "cpu_cluster_per_1k", "cpu_backends_per_1k",
                          "rss_steering_peak_mb"):
                    self.assertIsNotNone(f[q]["median"], (m, r, q))
                    self.assertGreater(f[q]["median"], 0, (m, r, q))
        for pair in ("dns/nginx", "dns/haproxy", "dns-anycast/nginx", "dns-anycast/haproxy",
                     "dns-anycast/dns"):
            for r in s["rates"]:
                for k in figs:
                    self.assertIn(k, s["ratios"][pair][str(r)])
                v = s["ratios"][pair][str(r)]["lat_total_p99_us"]
                self.assertEqual(v["n"], 3)
                self.assertTrue(v["min"] <= v["median"] <= v["max"])
        for m in MODES:
            self.assertIn("rate", s["max_sustainable_rate"][m])
        r = s["runs"][0]
        for key in ("cpu_s", "peak_rss_kb", "cpu_s_per_1k", "latency_us", "histogram",
                    "dns", "per_pod", "balance", "errors", "connections"):
            self.assertIn(key, r)
        for g in ("anysteerd", "bird_nodes", "bird_ingress", "nginx", "haproxy", "backends",
                  "unbound", "clients", "steering", "cluster"):
            self.assertIn(g, r["cpu_s"])
        # nginx is measured with its workers, HAProxy as one process.
        self.assertEqual(r["process_counts"]["nginx"], 2 * (1 + os.cpu_count()))
        self.assertEqual(r["process_counts"]["haproxy"], 2)

    def test_5_plots_report_configs(self):
        self.summary()
        for p in report.PLOTS:
            for ext in ("png", "svg"):
                f = os.path.join(self.out, "plots", "%s.%s" % (p, ext))
                self.assertTrue(os.path.getsize(f) > 1000, f)
        with open(os.path.join(self.out, "report.md")) as f:
            rep = f.read()
        for text in ("## Ratios", "Threats to validity", "netem", "Maximum sustainable rate",
                     "## Steering accuracy", "dns-anycast", "REFUSED",
                     "2-core" if os.cpu_count() == 2 else "core"):
            self.assertIn(text, rep)
        for f in ("summary.csv", "runs.csv", "shares.csv", "configs/services.yaml",
                  "configs/site1/unbound.conf",
                  "configs/ingress1/nginx.conf", "configs/ingress2/haproxy.cfg",
                  "configs/router/nsd.conf"):
            self.assertTrue(os.path.exists(os.path.join(self.out, f)), f)

    def test_6_torn_down_and_clean(self):
        self.summary()
        self.assert_torn_down_and_clean()


class EvalInterruptTest(unittest.TestCase):
    def test_sigterm_tears_down(self):
        require_eval()
        out = tempfile.mkdtemp(prefix="anysteer-eval-int-")
        try:
            p = subprocess.Popen([RUN, "steady", "--quick", "--nodes", "2", "--services", "2",
                                  "--pods-per-node", "1", "--build-dir", BUILD, "--out", out],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            seen = []
            deadline = time.monotonic() + 300
            # Interrupt in the middle of the first measured run.
            while time.monotonic() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                seen.append(line)
                if "ready after" in line:
                    time.sleep(1.5)
                    p.send_signal(signal.SIGTERM)
                    break
            rest, _ = p.communicate(timeout=120)
            text = "".join(seen) + rest
            self.assertEqual(p.returncode, 130, text)
            self.assertIn("tearing down", text)
            prefix, state = run_prefix(text)
            self.assertIsNotNone(prefix, text)
            self.assertEqual(leftovers(prefix), [], text)
            self.assertFalse(os.path.exists(state), text)
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main_skip77()
