#!/usr/bin/env python3
"""`tests/eval/run failover --quick` end to end (issue 15, part 1): the
emulated cluster, client load through the site's Unbound (dns) and through
both ingress proxies (nginx, haproxy), the pod serving the most requests
SIGKILLed in the middle of each run. Asserts the structure of the
results and that each fault was injected and observed: the pod served
requests before the fault and no request after it; failures, if any, were
seen only after the fault; in dns mode the clients stopped going to the
dead pod before the load ended, nginx logged its refusals, HAProxy marked
it down. Timings are reported, not asserted. FailoverAnalysisTest checks
the pure part without root: the figures from a made-up event log, the
stop times of each mode, one TTL per service in the catalog.

Needs root, BIRD, Unbound, NSD, nginx, HAProxy and the programs of
tests/eval/local.mk in top_builddir; skips (77) otherwise."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from anysteer_test import main_skip77, sanitizer_report  # noqa: E402
from test_eval_steady import HarnessRun, leftovers, require_eval, run_prefix  # noqa: E402
from evallib import failover  # noqa: E402

RUN = os.path.join(HERE, "run")
MODES = ["dns", "nginx", "haproxy"]
ERROR_KINDS = {"dns_timeout", "dns_servfail", "dns_nxdomain", "dns_noanswer", "dns_other",
               "connect_refused", "connect_timeout", "connect_other", "reset",
               "http_timeout", "http_status", "http_parse", "client_overload"}


class EvalFailoverQuickTest(HarnessRun):
    ARGS = ("failover", "--quick")
    TIMEOUT = 900

    @classmethod
    def setUpClass(cls):
        require_eval()
        cls.run_harness()

    def test_1_structure(self):
        s = self.summary()
        self.assertEqual(s["modes"], MODES)
        self.assertEqual(s["scenarios"], ["pod-kill"])
        self.assertEqual(s["setup"]["nodes"], 5)
        self.assertEqual(sorted(r["mode"] for r in s["runs"]), sorted(MODES))
        self.assertEqual(len(s["medians"]), 3)
        for m in s["medians"]:
            self.assertEqual((m["n"], m["injected"]), (1, 1), m)
            for k in ("failed", "last_fail_s", "stop_to_dead_s", "p99_peak_ms", "errors"):
                self.assertIn(k, m)
        for r in s["runs"]:
            what = r["mode"]
            self.assertGreater(r["sent"], 0, what)
            self.assertEqual(r["ok"] + r["failed"], r["sent"], what)
            self.assertEqual(sum(r["errors"].values()), r["failed"], what)
            self.assertLessEqual(set(r["errors"]), ERROR_KINDS, what)
            # The per-second series covers both sides of the fault and
            # adds up to the requests.
            ts = [x["t"] for x in r["series"]]
            self.assertLess(min(ts), 0, what)
            self.assertGreater(max(ts), 0, what)
            self.assertEqual(sum(x["ok"] + x["failed"] for x in r["series"]), r["sent"], what)
            self.assertIsNotNone(r["p99_before_ms"], what)
            self.assertIsNotNone(r["p99_peak_ms"], what)
            print("  %-7s failed %d %s, last failure %s s, nothing to the dead pod after %s s, "
                  "p99 %s -> %s ms" % (what, r["failed"], r["errors"], r["last_fail_s"],
                                       r["stop_to_dead_s"], r["p99_before_ms"],
                                       r["p99_peak_ms"]), file=sys.stderr)

    def test_2_fault_injected_and_observed(self):
        s = self.summary()
        for r in s["runs"]:
            what = "%s: %s" % (r["mode"], {k: v for k, v in r.items() if k != "series"})
            self.assertTrue(r["injected"], what)
            self.assertIn("SIGKILLed", r["evidence"]["evidence"], what)
            self.assertEqual(r["victim"]["dead_pods"], [r["victim"]["pod"]], what)
            # The victim served requests before the fault...
            self.assertGreater(r["to_dead_before"], 0, what)
            # ...and none after it.
            self.assertEqual(r["ok_from_dead_after"], 0, what)
            # Failures, if any, were seen after the fault.
            self.assertEqual(r["failed_before_fault"], 0, what)
            if r["failed"]:
                self.assertGreaterEqual(r["last_fail_seen_s"], 0, what)
        by = {r["mode"]: r for r in s["runs"]}
        # dns: the clients stopped going to the dead pod before the end.
        self.assertFalse(by["dns"]["to_dead_until_end"], by["dns"])
        # nginx (no health checks, max_fails=0) logged its refusals.
        self.assertTrue(by["nginx"]["proxy"]["nginx_errors_seen"], by["nginx"]["proxy"])
        # HAProxy's checks marked the pod down.
        self.assertIsNotNone(by["haproxy"]["proxy"]["marked_down_s"], by["haproxy"]["proxy"])
        self.assertGreater(by["haproxy"]["proxy"]["marked_down_s"], 0)

    def test_3_files(self):
        s = self.summary()
        for mode in MODES:
            for ext in ("png", "svg"):
                f = os.path.join(self.out, "plots", "failover-pod-kill-%s.%s" % (mode, ext))
                self.assertTrue(os.path.getsize(f) > 1000, f)
        with open(os.path.join(self.out, "summary.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 1 + len(s["medians"]))
        with open(os.path.join(self.out, "runs.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 1 + len(s["runs"]))
        with open(os.path.join(self.out, "report.md")) as f:
            rep = f.read()
        for text in ("## Medians over repetitions", "| pod-kill | haproxy |",
                     "failover-pod-kill-dns.svg", "Not implemented"):
            self.assertIn(text, rep)

    def test_4_torn_down_and_clean(self):
        self.summary()
        prefix, state = run_prefix(self.result.stdout)
        self.assertIsNotNone(prefix, self.result.stdout[:2000])
        self.assertEqual(leftovers(prefix), [])
        self.assertFalse(os.path.exists(state))
        d = os.path.join(self.out, "logs")
        logs = [os.path.join(d, f) for f in os.listdir(d)]
        logs += [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(self.out, "runs"))
                 for f in fs if f.endswith(".log")]
        for f in logs:
            with open(f, errors="replace") as fh:
                rep = sanitizer_report(fh.read())
            self.assertIsNone(rep, "%s:\n%s" % (f, rep))


class FailoverAnalysisTest(unittest.TestCase):
    """The pure part (no root): figures from an event log, stop times."""

    def test_analyse(self):
        # One generator started 10 s before the fault (warm-up 1 s): the
        # fault is at 10 s on its clock.
        t0, fault = 5 * 10**9, 15 * 10**9
        dead, other = "fd00:10:0:1::1", "fd00:10:0:2::1"
        rows = [(0.5, 0.51, "ok", "n1p1", dead, dead),            # warm-up
                (9.2, 9.21, "ok", "n1p1", dead, dead),
                (9.5, 9.52, "ok", "n2p1", other, other),
                (9.9, 11.9, "http_timeout", "", dead, dead),      # in flight at the fault
                (10.3, 10.3, "connect_refused", "", dead, dead),
                (11.6, 11.6, "connect_refused", "", dead, dead),
                (12.0, 12.01, "ok", "n2p1", other, dead),         # tried next
                (13.0, 13.04, "ok", "n2p1", other, other)]
        r = failover.analyse([(t0, rows)], fault, 1.0, {dead}, {"n1p1"})
        self.assertEqual((r["sent"], r["ok"], r["failed"]), (7, 4, 3))
        self.assertEqual(r["errors"], {"connect_refused": 2, "http_timeout": 1})
        self.assertEqual(r["failed_before_fault"], 0)
        self.assertAlmostEqual(r["first_fail_s"], -0.1)
        self.assertAlmostEqual(r["last_fail_s"], 1.6)
        self.assertEqual((r["to_dead_before"], r["to_dead_after"]), (2, 3))
        self.assertAlmostEqual(r["last_to_dead_s"], 2.0)
        self.assertEqual(r["ok_from_dead_after"], 0)
        self.assertEqual([(x["t"], x["ok"], x["failed"]) for x in r["series"]],
                         [(-1, 2, 1), (0, 0, 1), (1, 0, 1), (2, 1, 0), (3, 1, 0)])
        self.assertAlmostEqual(r["series"][0]["p99_ms"], 20.0)

    def test_stop_figures(self):
        def row(mode, last, proxy, dead=("n1p1",)):
            return {"mode": mode, "last_to_dead_s": last, "proxy": proxy, "end_s": 12.0,
                    "victim": {"dead_pods": list(dead)}}
        r = row("haproxy", 0.5, {"marked_down_s": 4.2})
        failover.stop_figures(r)
        self.assertEqual((r["stop_to_dead_s"], r["to_dead_until_end"]), (4.2, False))
        # A HAProxy that never marked the pod down kept sending to it.
        r = row("haproxy", 3.0, {"marked_down_s": None})
        failover.stop_figures(r)
        self.assertEqual((r["stop_to_dead_s"], r["to_dead_until_end"]), (None, True))
        r = row("nginx", None, {"last_error_s": 11.5})
        failover.stop_figures(r)
        self.assertEqual((r["stop_to_dead_s"], r["to_dead_until_end"]), (11.5, True))
        r = row("dns", None, {})
        failover.stop_figures(r)
        self.assertEqual((r["stop_to_dead_s"], r["to_dead_until_end"]), (None, False))
        r = row("haproxy", None, {}, dead=())
        failover.stop_figures(r)
        self.assertEqual((r["stop_to_dead_s"], r["to_dead_until_end"]), (None, False))

    def test_haproxy_watched(self):
        # A node fault kills the node's pods of every service; HAProxy's
        # watch polls the loaded service's backend, so it waits for that
        # service's dead pods only (it waited for all: never DOWN).
        dead = [("n1p1", 1, 1, "svc1"), ("n1p2", 1, 2, "svc2")]
        self.assertEqual(failover.haproxy_watched(dead, "svc1"), {"n1p1"})
        self.assertEqual(failover.haproxy_watched(dead[1:], "svc1"), set())

    def test_catalog_ttl_per_service(self):
        from evallib import cluster
        from evallib.backend import NamespaceBackend
        text = failover.services_yaml(cluster.Layout(2, 2, 3), NamespaceBackend, [1, 5, 30], 2)
        self.assertEqual([ln.strip() for ln in text.splitlines() if "ttl:" in ln],
                         ["ttl: 1", "ttl: 5", "ttl: 30"])
        # Services beyond the swept TTLs only spread the pods: the first TTL.
        text = failover.services_yaml(cluster.Layout(2, 2, 4), NamespaceBackend, [1, 5], 2)
        self.assertEqual([ln.strip() for ln in text.splitlines() if "ttl:" in ln],
                         ["ttl: 1", "ttl: 5", "ttl: 1", "ttl: 1"])

    def test_post_seconds(self):
        import types
        o = types.SimpleNamespace(post=None)
        self.assertEqual(failover.post_seconds(o, 4, "dns", 1), 10.0)
        self.assertEqual(failover.post_seconds(o, 4, "dns", 30), 53.0)
        self.assertEqual(failover.post_seconds(o, 4, "nginx", None), 12.0)
        self.assertEqual(failover.post_seconds(o, 4, "haproxy", None, "rolling-update"), 16.0)
        self.assertEqual(failover.post_seconds(types.SimpleNamespace(post=7.0), 4, "dns", 30),
                         7.0)
        self.assertEqual(failover.post_text({"dns": {"1": 10.0, "5": 15.5},
                                             "nginx": {"1": 12.0, "5": 12.0}}),
                         "dns 10 (TTL 1), 15.5 (TTL 5); nginx 12")

    def test_plan(self):
        """Every scenario in every mode once per repetition, the dns modes
        once per TTL and client behaviour; the order rotates."""
        import types
        o = types.SimpleNamespace(ttl=[1, 5], client_cache=["ttl"], try_next=["off", "on"],
                                  repeat=5, scenario=list(failover.SCENARIOS),
                                  modes=["dns", "nginx", "haproxy"])
        runs = failover.plan_runs(o)
        self.assertEqual(len(runs), 5 * 7 * (4 + 2))
        for sc in failover.SCENARIOS:
            for m in ("nginx", "haproxy"):
                self.assertEqual(sum(1 for r in runs if r[1:3] == (sc, m)), 5)
            for t in (1, 5):
                for n in ("off", "on"):
                    self.assertEqual(sum(1 for r in runs if r[1:4] == (sc, "dns", t)
                                         and r[5] == n), 5)
        self.assertNotEqual(runs[0][2:], runs[6][2:])


if __name__ == "__main__":
    main_skip77()
