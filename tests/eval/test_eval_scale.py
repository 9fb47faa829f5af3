#!/usr/bin/env python3
"""`tests/eval/run scale --quick` end to end (issue 15, section 3): nodes
3 and 5, services 10 and 50, client identities 100 and 1000, nginx and
HAProxy at 3 nodes, gossip_bench at 22 and 100 nodes. Asserts the
structure of the results and that every measured figure is there and
plausible: each agent's CPU, RSS and gossip bytes in and out > 0; every endpoint
added was seen healthy by every node, after a time > 0; DNS queries
reached anysteer, no more with 100 identities than with 1000 (each
identity caches for the TTL); each proxy served the load, its pod changes
were applied (nginx started new workers, HAProxy showed the new address)
as many times as asked; the simulator's rows are there. Timings are
reported, not asserted. Nothing is left running.

Needs root, BIRD, NSD, nginx, HAProxy and tests/eval/as-*, gossip_bench in
top_builddir; skips (77) otherwise."""
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from anysteer_test import BUILD, main_skip77, require_root_bird  # noqa: E402
from evallib import scale  # noqa: E402
from test_eval_steady import HarnessRun, in_distcheck  # noqa: E402

RUN = os.path.join(HERE, "run")


def require_eval():
    if in_distcheck():
        raise unittest.SkipTest("distcheck (read-only source tree): scale --quick runs "
                                "once, in the sanitized make check")
    require_root_bird()
    missing = [t for t in ("nsd", "nginx", "haproxy")
               if shutil.which(t) is None and not os.path.exists("/usr/sbin/" + t)]
    if missing:
        raise unittest.SkipTest("missing %s (deploy/install-deps.sh)" % ", ".join(missing))
    for p in ("tests/eval/as-loadgen", "tests/eval/as-backend", "tests/bench/gossip_bench"):
        if not os.access(os.path.join(BUILD, p), os.X_OK):
            raise unittest.SkipTest("%s not built in %s" % (p, BUILD))
    r = subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"], capture_output=True)
    if r.returncode != 0:
        raise unittest.SkipTest("python3-matplotlib not installed")


class EvalScaleQuickTest(HarnessRun):
    ARGS = ("scale", "--quick")
    TIMEOUT = 1200

    @classmethod
    def setUpClass(cls):
        require_eval()
        cls.run_harness()

    def test_1_steps_and_agents(self):
        s = self.summary()
        self.assertEqual([(x["nodes"], x["services"]) for x in s["steps"]],
                         [(3, 10), (3, 50), (5, 10), (5, 50)])
        for st in s["steps"]:
            a, what = st["agents"], "%d nodes %d services" % (st["nodes"], st["services"])
            self.assertEqual([x["node"] for x in a["nodes"]], list(range(1, st["nodes"] + 1)))
            self.assertEqual(st["endpoints"], 2 * st["services"], what)
            for x in a["nodes"]:
                # Every agent probes, gossips and samples its load: it used
                # CPU, holds memory and sent and received gossip.
                # (the window's CPU may be below one clock tick)
                self.assertGreaterEqual(x["cpu_s"], 0, what)
                self.assertGreater(x["cpu_s_total"], 0, what)
                self.assertGreater(x["peak_rss_kb"], 1024, what)
                self.assertGreaterEqual(x["peak_rss_kb"], x["rss_kb"], what)
                self.assertGreater(x["gossip_out_bps"], 0, what)
                self.assertGreater(x["gossip_bps"], x["gossip_out_bps"], what)
            # The wait for readiness left its progress: at the end every
            # node saw every endpoint and every agent its own healthy.
            last = st["ready_progress"][-1]
            self.assertEqual((last["done"], last["seen"]), (st["nodes"], st["endpoints"]), what)
            self.assertEqual(last["local_healthy"], last["local"], what)
            self.assertEqual(last["local"], st["endpoints"], what)
            self.assertGreater(last["view_builds"], 0, what)

    def test_2_time_to_answerable(self):
        s = self.summary()
        for st in s["steps"]:
            self.assertEqual(len(st["tta"]), 3)
            for x in st["tta"]:
                what = "%d nodes: %s" % (st["nodes"], x)
                # The endpoint was really seen, healthy, on every node.
                self.assertEqual(x["seen_by"], st["nodes"], what)
                self.assertEqual(x["errors"], [], what)
                self.assertTrue(all(v is not None and v > 0 for v in x["per_node_s"]), what)
                self.assertTrue(0 < x["p50_s"] <= x["p99_s"], what)
                self.assertGreater(x["reload_s"], 0, what)
            # Each endpoint added on a different node, to a different service.
            self.assertEqual(len({x["node"] for x in st["tta"]}), 3)
            self.assertEqual(len({x["service"] for x in st["tta"]}), 3)
            self.assertTrue(0 < st["tta_p50_s"] <= st["tta_p99_s"])

    def test_3_dns_queries_reach_anysteer(self):
        s = self.summary()
        for st in s["steps"]:
            self.assertEqual([d["clients"] for d in st["dns"]], [100, 1000])
            for d in st["dns"]:
                self.assertGreater(d["ok"], 0, d)
                # Names resolved: the figure is the queries, not the
                # requests (HTTP errors, e.g. a pod's route flapping on a
                # starved CPU, are reported, not asserted). A rare empty
                # answer was seen on a loaded machine: shown, and held
                # to 1 % of the resolutions.
                dns_err = sum(v for k, v in d["errors"].items() if k.startswith("dns_"))
                if dns_err:
                    print("\n  %d nodes %d services %d clients: DNS errors %s" % (
                        st["nodes"], st["services"], d["clients"], d["errors"]), file=sys.stderr)
                self.assertLessEqual(dns_err, 0.01 * d["client_queries_sent"], d)
                self.assertGreater(d["client_queries_sent"], 0, d)
                # Every client query reached anysteer (its anycast address
                # is the clients' resolver; nothing else asks meanwhile
                # but the harness's control socket).
                self.assertGreaterEqual(d["agent_queries"], d["client_queries_sent"], d)
                self.assertGreater(d["agent_qps"], 0, d)
            few, many = st["dns"]
            # Identities cache for the TTL: fewer identities, no more queries.
            self.assertLessEqual(few["client_queries_sent"], many["client_queries_sent"], st["dns"])

    def test_4_proxies(self):
        s = self.summary()
        self.assertEqual([(p["mode"], p["services"]) for p in s["proxies"]],
                         [("nginx", 10), ("haproxy", 10), ("nginx", 50), ("haproxy", 50)])
        for p in s["proxies"]:
            what = "%s %d services" % (p["mode"], p["services"])
            self.assertEqual(p["nodes"], 3)
            self.assertGreater(p["load"]["ok"], 0, what)
            self.assertEqual(p["load"]["errors_total"], 0, what)
            self.assertGreater(p["cpu_ms_per_req"], 0, what)
            self.assertGreater(p["peak_rss_kb"], 1024, what)
            c = p["churn"]
            # Every pod change was applied (the harness waited for nginx's
            # new workers / HAProxy's new address) while the load ran.
            self.assertEqual(c["events"], 4, what)
            self.assertEqual(len(c["apply_s"]), 4, what)
            self.assertTrue(all(t > 0 for t in c["apply_s"]), what)
            self.assertGreater(c["load"]["ok"], 0, what)
            self.assertIn("reload" if p["mode"] == "nginx" else "runtime API", c["method"])
            self.assertGreaterEqual(c["failed_requests"], 0)
        with open(os.path.join(self.out, "configs", "n3-s50", "nginx.conf")) as f:
            self.assertEqual(f.read().count("upstream svc"), 50)
        with open(os.path.join(self.out, "configs", "n3-s50", "haproxy.cfg")) as f:
            self.assertEqual(f.read().count("\nbackend svc"), 50)

    def test_5_model_and_outputs(self):
        s = self.summary()
        self.assertEqual([(m["nodes"], m["services"]) for m in s["model"]], [(22, 50), (100, 50)])
        for m in s["model"]:
            self.assertEqual(m["rc"], 0, m)
            self.assertEqual(m["endpoints_per_node"], -(-100 // m["nodes"]))
            for k in ("quiet_bps", "changing_bps", "dissem_p50_ms", "dissem_p99_ms"):
                self.assertIsNotNone(m[k], m)
                self.assertGreater(m[k], 0, m)
        self.assertIn("measured", s)
        self.assertIn("modelled", s)
        for p in scale.PLOTS:
            for ext in ("png", "svg"):
                f = os.path.join(self.out, "plots", "%s.%s" % (p, ext))
                self.assertTrue(os.path.getsize(f) > 1000, f)
        with open(os.path.join(self.out, "report.md")) as f:
            rep = f.read()
        for text in ("(measured)", "(modelled)", "runtime API", "nginx -s reload",
                     "Time to answerable"):
            self.assertIn(text, rep)
        with open(os.path.join(self.out, "summary.csv")) as f:
            rows = f.read().splitlines()
        self.assertTrue(any(r.startswith("modelled,") for r in rows))
        self.assertTrue(any(",tta_p99_s," in r for r in rows))

    def test_6_torn_down_and_clean(self):
        self.summary()
        self.assert_torn_down_and_clean()


if __name__ == "__main__":
    main_skip77()
