#!/usr/bin/env python3
"""`tests/eval/run srv6 --quick` end to end (issue 17): the SR testbed with
agents, an end-host agent on the client, one iperf3 transfer per intent
and one transfer across a cut of the link ra-rc. Asserts: every intent's
transfer moved data along the path its intent picks (the agent's
report, and the bytes through rc's TBF: all of cost's, almost none of
the others'), the transfer across the cut survived, the agent moved it
off rc after the cut and back after the restore (the times are printed,
not asserted: see test_srv6_agents_testbed.py for the bound), data
flowed after the restore, summary.json/csv, the plots and the report
exist, the agents' logs hold no sanitizer report, nothing is left
running. Needs root, BIRD, iperf3, tc, python3-matplotlib and a build
with the SRv6 data plane; skips (77) otherwise."""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from anysteer_test import (BUILD, main_skip77, require_root_bird, require_tools,  # noqa: E402
                           sanitizer_report)
from test_eval_steady import HarnessRun, in_distcheck  # noqa: E402

RUN = os.path.join(HERE, "run")
HOLDER = os.path.join(BUILD, "tests", "unit", "test_srv6_holder")
ROUTED = "routed (rb)"
VIA = {"bandwidth": "client,ra,rb,router,node1", "cost": "client,ra,rc,router,node1",
       "latency": "client,ra,rb,router,node1", "none": ROUTED}


class EvalSRv6QuickTest(HarnessRun):
    ARGS = ("srv6", "--quick")
    TIMEOUT = 600

    @classmethod
    def setUpClass(cls):
        if in_distcheck():
            raise unittest.SkipTest("distcheck (read-only source tree): run srv6 --quick "
                                    "runs once, in the sanitized make check")
        require_root_bird()
        require_tools("iperf3", "tc")
        if not os.access(HOLDER, os.X_OK) or subprocess.run(
                [HOLDER], stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
            raise unittest.SkipTest("no SRv6 data plane in %s" % BUILD)
        if subprocess.run(["/usr/bin/python3", "-c", "import matplotlib"],
                          capture_output=True).returncode != 0:
            raise unittest.SkipTest("python3-matplotlib not installed")
        cls.run_harness()

    def test_1_each_intent_takes_its_path(self):
        s = self.summary()
        self.assertEqual(sorted(s["intents"]), sorted(VIA))
        for name, via in VIA.items():
            x = s["intents"][name]
            self.assertEqual((x["runs"], x["failed"]), (1, 0), name)
            self.assertEqual(x["paths"], [via], name)
            self.assertGreater(x["goodput_mbps"]["median"], 0, name)
            rc = x["via_rc_fraction"]["median"]
            if name == "cost":
                # TBF counts what it sent, iperf3 what arrived: equal
                # but for the headers the TBF sees (≥) and rounding.
                self.assertGreaterEqual(rc, 0.9, name)
            else:
                self.assertLessEqual(rc, 0.1, name)
        # The shaped path is shaped: cost stays near the TBF rate.
        self.assertLessEqual(s["intents"]["cost"]["goodput_mbps"]["max"],
                             1.1 * s["shaped_mbps"])

    def test_2_the_transfer_survives_the_cut(self):
        c = self.summary()["cut"]
        self.assertEqual((c["runs"], c["survived"]), (1, 1))
        d = c["runs_detail"][0]
        print("\n  measure: cut to reprogrammed %.2f s, restore to reprogrammed %.2f s, "
              "longest stall %.1f s" % (d["cut_to_reprogram_s"], d["restore_to_reprogram_s"],
                                        d["longest_stall_s"]), file=sys.stderr)
        # Reprogrammed after each event (the agent's clock, not before).
        self.assertGreater(d["cut_to_reprogram_s"], 0)
        self.assertGreater(d["restore_to_reprogram_s"], 0)
        self.assertLess(d["cut_at_s"], d["restore_at_s"])
        after = [v for t, v in d["series_mbps"] if t > d["restore_at_s"] + 1]
        self.assertTrue(after and max(after) > 0, d["series_mbps"])

    def test_3_files(self):
        self.summary()
        for f in ("summary.csv", "report.md", "srv6-goodput.png", "srv6-goodput.svg",
                  "srv6-cut.png", "srv6-cut.svg", "configs/client.yaml",
                  "configs/sr-topology.yaml", "logs/client-agent.log", "logs/node1-agent.log"):
            p = os.path.join(self.out, f)
            self.assertTrue(os.path.isfile(p) and os.path.getsize(p) > 0, f)
        for f in os.listdir(os.path.join(self.out, "logs")):
            with open(os.path.join(self.out, "logs", f)) as fh:
                rep = sanitizer_report(fh.read())
            self.assertFalse(rep, "%s: %s" % (f, rep))

    def test_4_nothing_left(self):
        self.summary()
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        prefix = "ev6%d-" % self.pid
        self.assertEqual([x for x in ns.split() if x.startswith(prefix)], [])


if __name__ == "__main__":
    main_skip77()
