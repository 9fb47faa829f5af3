#!/usr/bin/env python3
"""Failover benchmark on the emulated cluster (deploy/testbed/testbed.sh).

For each scenario (agent SIGKILL, drain by SIGTERM, BIRD SIGKILL, BIRD
frozen by SIGSTOP, link cut), TRIALS times, rotating over the nodes: a
client loop sends RATE queries/s to the anycast address; the event hits
one node; we record

  - the time from the event to the router's kernel route losing that
    node's next hop, from `ip -ts monitor route link` in the router
    namespace: the clock is read in this process just before a signal is
    sent; for a link cut the start is the router's own link-down event in
    the same monitor, so the time to fork `ip link set down` is not
    counted. We wait for the change by reading that monitor's output, not
    by running `ip route` in a loop: a 2 ms poll loop of forks on a
    2-core machine delays the very teardown being measured;
  - the client-visible failed queries (no NOERROR answer within 0.5 s).

Then the node is restored and the next trial waits for a full ECMP group.
Prints p50/max per scenario next to the targets of issue 4. Run by
tests/bench/failover-bench.sh (root, BIRD); see docs/anycast.md.
"""
import datetime
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from anysteer_test import Testbed  # noqa: E402

TRIALS = int(os.environ.get("TRIALS", "10"))
SCENARIOS = ("agent SIGKILL", "drain (SIGTERM)", "BIRD SIGKILL", "BIRD SIGSTOP",
             "link cut")
# SCENARIOS=kill,drain,bird,freeze,link (default all): a subset.
PICK = os.environ.get("SCENARIOS", "")
RATE = int(os.environ.get("RATE", "200"))
NODES = int(os.environ.get("NODES", "3"))
LINGER = 2.0
TARGETS = {"agent SIGKILL": "<= 10 ms", "drain (SIGTERM)": "0 failed queries",
           "BIRD SIGKILL": "<= 300 ms", "BIRD SIGSTOP": "<= 300 ms",
           "link cut": "<= 300 ms"}


class Monitor:
    """`ip -ts monitor route link` in the router namespace, read back as
    records [(wall time, text)]."""

    def __init__(self, tb):
        self.path = os.path.join(tb.dir, "bench-monitor.log")
        self.f = open(self.path, "w")
        self.p = subprocess.Popen(["ip", "-n", tb.router, "-ts", "monitor", "route", "link"],
                                  stdout=self.f, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, TZ="UTC"))
        time.sleep(0.3)

    def records(self):
        recs = []
        with open(self.path) as f:
            for line in f:
                if line.startswith("["):
                    stamp, _, rest = line[1:].partition("]")
                    try:
                        t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f")
                    except ValueError:
                        continue
                    t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
                    recs.append([t, rest])
                elif recs:
                    recs[-1][1] += " " + line.strip()
        return recs

    def gone_after(self, t0, anycast, hop):
        """Seconds from t0 to the first change of the anycast route that
        no longer has hop as a next hop (or deletes the route)."""
        for t, text in self.records():
            if t < t0 or anycast not in text:
                continue
            if ("via %s " % hop) not in text + " ":
                return t - t0
        return None

    def link_down_after(self, t0, ifname):
        """Wall time of the first link-down event of ifname after t0."""
        for t, text in self.records():
            if t >= t0 and (" %s@" % ifname) in text and "state DOWN" in text:
                return t
        return None

    def close(self):
        self.p.terminate()
        self.p.wait()
        self.f.close()


def trial(tb, mon, scenario, i):
    hop = tb.node_addr(i)
    post = LINGER + 1.5 if scenario.startswith("drain") else 1.5
    q = tb.querier(rate=RATE, duration=0.5 + post, timeout=0.5)
    time.sleep(0.5)
    wall = time.time()
    if scenario == "agent SIGKILL":
        os.kill(tb.agent_pid(i), signal.SIGKILL)
    elif scenario == "drain (SIGTERM)":
        pid = tb.agent_pid(i)
        os.kill(pid, signal.SIGTERM)
    elif scenario == "BIRD SIGKILL":
        os.kill(tb.bird_pid(i), signal.SIGKILL)
    elif scenario == "BIRD SIGSTOP":
        os.kill(tb.bird_pid(i), signal.SIGSTOP)
    else:
        tb.run("link", i, "down")
    tb.wait(lambda: mon.gone_after(wall, tb.anycast, hop) is not None, 3.0, 0.01)
    res = tb.querier_result(q)
    time.sleep(0.1)  # let the monitor write
    if scenario == "link cut":
        wall = mon.link_down_after(wall, "%s-v%d" % (tb.prefix, i)) or wall
    gone = mon.gone_after(wall, tb.anycast, hop)
    # Restore.
    if scenario == "agent SIGKILL":
        tb.run("agent-start", i, timeout=60)
    elif scenario == "drain (SIGTERM)":
        tb.wait(lambda: not tb.pid_alive(pid), LINGER + 5, 0.05)
        tb.run("agent-start", i, timeout=60)
    elif scenario == "BIRD SIGKILL":
        tb.run("bird-start", i)
    elif scenario == "BIRD SIGSTOP":
        os.kill(tb.bird_pid(i), signal.SIGCONT)
    else:
        tb.run("link", i, "up")
    if tb.wait(lambda: len(tb.hops()) == NODES, 60, 0.05) is None:
        raise RuntimeError("cluster not restored after %s on node%d: %s"
                           % (scenario, i, tb.hops()))
    return gone, res["failed"], res["sent"]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    keys = dict(zip(("kill", "drain", "bird", "freeze", "link"), SCENARIOS))
    words = [w.strip() for w in PICK.split(",") if w.strip()]
    picked = [s for k, s in keys.items() if not words or k in words]
    if not picked:
        print("SCENARIOS=%s matches none of kill, drain, bird, freeze, link" % PICK)
        return 2
    tb = Testbed(linger="%gs" % LINGER)
    rows = []
    load0 = os.getloadavg()
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    try:
        tb.up(NODES)
        mon = Monitor(tb)
        for scenario in picked:
            gones, fails, sent = [], [], 0
            for k in range(TRIALS):
                i = k % NODES + 1
                g, f, s = trial(tb, mon, scenario, i)
                sent += s
                fails.append(f)
                if g is not None:
                    gones.append(g * 1000)
                print("  %-16s trial %2d node%d: next hop gone %s, %d/%d queries failed"
                      % (scenario, k + 1, i, "%.1f ms" % (g * 1000) if g is not None else "NOT SEEN",
                         f, s), flush=True)
            rows.append((scenario, len(gones), gones, fails, sent))
        mon.close()
    finally:
        tb.down()
    load1 = os.getloadavg()
    print()
    print("Failover on the emulated cluster: %d nodes, %d trials each, client at %d queries/s"
          % (NODES, TRIALS, RATE))
    print("started %s on %d CPUs; load average (1/5/15 min) %.2f %.2f %.2f at the start, "
          "%.2f %.2f %.2f at the end" % ((started, os.cpu_count()) + load0 + load1))
    print("%-16s %6s %10s %10s %10s %14s %9s  %s" % ("scenario", "seen", "p50 ms", "max ms",
                                                    "min ms", "failed q/trial", "failed", "target"))
    for scenario, n, gones, fails, sent in rows:
        print("%-16s %3d/%-2d %10s %10s %10s %14s %9s  %s" % (
            scenario, n, TRIALS,
            "%.1f" % statistics.median(gones) if gones else "-",
            "%.1f" % max(gones) if gones else "-",
            "%.1f" % min(gones) if gones else "-",
            "%d..%d" % (min(fails), max(fails)),
            "%d/%d" % (sum(fails), sent), TARGETS[scenario]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
