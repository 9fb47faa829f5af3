#!/usr/bin/env python3
"""Time from a link going down (and up) to reprogrammed SRv6 maps, with
real agents on the SR testbed (issue 17's benchmark item).

    top_builddir=_build/rel tests/bench/srv6-cut-bench.py [--cuts N]

Brings up tests/integration/test_srv6_agents_testbed.py's cluster
(`TESTBED_SR_AGENT=1 testbed.sh up 2 --sr`, an end-host agent on the
client steering `cheap` (intent cost) along ra-rc-router; its probes
every 250 ms, fall 4, rise 2), then N times: cuts ra-rc (`testbed.sh
sr-link ra rc down`) and waits until cheap is steered via rb, restores
it and waits until cheap is back on rc. Each figure is the agent's
own last_reprogram_ms (wall clock) minus the wall time of the cut or
restore, so polling adds nothing. Prints every cut and min / median /
max. The probe settings bound it: down needs `fall` lost rounds after
the last reply (4 x 250 ms, plus the round in flight), up `rise`.
Needs what the test needs (root, BIRD, iperf3, tc, SRv6 data plane).
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import test_srv6_agents_testbed as t  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cuts", type=int, default=10)
    args = ap.parse_args()
    if args.cuts < 1 or args.cuts > 200:
        ap.error("--cuts: 1..200")
    T = t.SRAgentsTestbedTest
    try:
        T.setUpClass()
    except t.unittest.SkipTest as e:
        print("SKIP: %s" % e)
        return 77
    x = T("test_1_paths_by_intent")
    down, up = [], []
    try:
        x.wait_path(t.CHEAP, "rc")
        for i in range(args.cuts):
            for state, via, out in (("down", "rb", down), ("up", "rc", up)):
                at = time.time() * 1000
                T.tb.run("sr-link", "ra", "rc", state)
                p = x.wait_path(t.CHEAP, via, timeout=30)
                out.append((p["last_reprogram_ms"] - at) / 1000.0)
            print("cut %d: down -> via rb %.2f s, up -> via rc %.2f s" % (i + 1, down[-1], up[-1]),
                  flush=True)
    finally:
        T.tb.run("sr-link", "ra", "rc", "up", check=False)
        T.tearDownClass()
    for name, v in (("link down -> reprogrammed", down), ("link up -> reprogrammed", up)):
        print("%s: min %.2f s, median %.2f s, max %.2f s (%d cuts)"
              % (name, min(v), statistics.median(v), max(v), len(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
