#!/usr/bin/env python3
"""SRv6 steering benchmark (issue 17) on the SR testbed; run it through
tests/bench/srv6-bench.sh, which checks the prerequisites.

`testbed.sh up 1 --sr`, then iperf3 from the client site to node1 over
the same routers (client-ra-rb-router-node1) in three modes:

  none       no program on the client's eth0 (the plain baseline)
  unmatched  the client's egress and ingress programs attached, the
             port has no entry (what the programs cost unsteered traffic)
  steered    the port encapsulated along ra, rb, router to node1's SID
             (End on three routers, decapsulation by node1's ingress
             program)

node1's ingress program (tests/unit/test_srv6_holder, standing in for
the agent) is attached throughout. Each round runs every mode once, the
order rotating round by round, so slow drift of the shared machine
spreads over all modes; the iperf3 sender runs on CPU 0, the receiver on
CPU 1. Per run: the receiver's TCP throughput; CPU per
GB moved, machine-wide (/proc/stat busy time: every namespace's softirq
work is there, and so is any other load on the machine) and of the two
iperf3 processes (their own accounting); the egress program's run time
per run from the kernel's BPF_ENABLE_STATS (run_time_ns / run_cnt; one
run per skb, a GSO skb carrying up to 64 kB); the same for node1's
ingress program. Then tests/bench/srv6_update_bench times steering
updates (no traffic). Prints the median and min-max over rounds.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from anysteer_test import Testbed  # noqa: E402
from test_srv6 import HOLDER, Holder, wait_line  # noqa: E402

PLAIN, STEER = 5301, 5302
MODES = ["none", "unmatched", "steered"]
BUILD = os.environ.get("top_builddir", os.getcwd())
UPDATE_BENCH = os.path.join(BUILD, "tests", "bench", "srv6_update_bench")


class NsHolder(Holder):
    def __init__(self, netns):
        self.p = subprocess.Popen(["ip", "netns", "exec", netns, HOLDER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  universal_newlines=True, bufsize=1)

    def runstats(self, hook):
        return tuple(map(int, self.cmd("runstats " + hook).split()))


def run_bounded(argv, timeout):
    """iperf3's JSON; never waits without bound (a process stuck in the
    kernel after an oops stays in D state: we leave it and stop)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        raise RuntimeError("%s: no end after %d s (see dmesg)" % (" ".join(argv), timeout))
    return out


def cpu_busy():
    """Machine-wide busy CPU seconds so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = sum(v[:8]) - v[3] - v[4]     # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def spread(xs):
    f = "%.0f" if min(xs) >= 100 else "%.3g"
    return (f + " (" + f + "-" + f + ")") % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per iperf3 run")
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--updates", type=int, default=20000)
    a = ap.parse_args()

    tb = Testbed()
    client_h = node_h = None
    servers = []
    try:
        tb.run("up", 1, "--sr", timeout=180)
        env = dict(x.split("=", 1) for x in shlex.split(tb.run("env").stdout))
        import yaml
        with open(env["SR_TOPOLOGY"]) as f:
            topo = yaml.safe_load(f)
        sid = {x["name"]: x["sid"] for x in topo["routers"] + topo["hosts"]}
        client_ns, node_ns = tb.client, tb.node_ns(1)
        dst = tb.node_addr(1)
        segs = ",".join(sid[n] for n in ("ra", "rb", "router", "node1"))

        node_h = NsHolder(node_ns)
        node_h.cmd("sid " + sid["node1"])
        node_h.cmd("attach eth0 ingress")
        node_h.cmd("runstats on")
        for port in (PLAIN, STEER):
            p = subprocess.Popen(["ip", "netns", "exec", node_ns, "iperf3", "-s", "-p",
                                  str(port), "--forceflush"], stdout=subprocess.PIPE,
                                 universal_newlines=True)
            servers.append(p)
            wait_line(p, p.stdout, "Server listening", 30)

        # Sender on CPU 0, receiver on CPU 1 (iperf3 -A) when there are
        # two: the scheduler then cannot stack them on one core in some
        # runs and not in others.
        pin = ["-A", "0,1"] if (os.cpu_count() or 1) >= 2 else []
        runs = {m: [] for m in MODES}
        for r in range(a.rounds):
            order = MODES[r % 3:] + MODES[:r % 3]
            for mode in order:
                if mode == "none" and client_h:
                    client_h.close()        # detaches its filters
                    client_h = None
                if mode != "none" and not client_h:
                    client_h = NsHolder(client_ns)
                    client_h.cmd("steer %s/128 tcp %d encap 1500 %s" % (dst, STEER, segs))
                    client_h.cmd("attach eth0 egress")
                    client_h.cmd("attach eth0 ingress")
                    client_h.cmd("runstats on")
                port = STEER if mode == "steered" else PLAIN
                e0 = client_h.runstats("egress") if client_h else (0, 0)
                i0 = node_h.runstats("ingress")
                c0 = cpu_busy()
                t0 = time.monotonic()
                out = run_bounded(["ip", "netns", "exec", client_ns, "iperf3", "-c", dst,
                                   "-p", str(port), "-t", str(a.duration), "-J"] + pin,
                                  a.duration + 60)
                wall = time.monotonic() - t0
                c1 = cpu_busy()
                e1 = client_h.runstats("egress") if client_h else (0, 0)
                i1 = node_h.runstats("ingress")
                j = json.loads(out)
                if "error" in j:
                    raise RuntimeError("iperf3 %s: %s" % (mode, j["error"]))
                end = j["end"]
                gb = end["sum_received"]["bytes"] / 1e9
                cu = end["cpu_utilization_percent"]
                secs = end["sum_received"]["seconds"]
                res = {
                    "gbps": end["sum_received"]["bits_per_second"] / 1e9,
                    "sys_s_per_gb": (c1 - c0) / gb,
                    "iperf_s_per_gb": (cu["host_total"] + cu["remote_total"]) / 100
                    * secs / gb,
                    "egress_runs": e1[0] - e0[0],
                    "egress_ns": (e1[1] - e0[1]) / max(1, e1[0] - e0[0]),
                    "ingress_ns": (i1[1] - i0[1]) / max(1, i1[0] - i0[0]),
                    "bytes_per_run": end["sum_sent"]["bytes"] / max(1, e1[0] - e0[0]),
                    "wall": wall,
                }
                runs[mode].append(res)
                print("round %d %-9s %.2f Gbit/s, CPU %.2f s/GB machine-wide, %.2f s/GB"
                      " iperf3, egress %d runs %.0f ns/run, node ingress %.0f ns/run"
                      % (r + 1, mode, res["gbps"], res["sys_s_per_gb"],
                         res["iperf_s_per_gb"], res["egress_runs"], res["egress_ns"],
                         res["ingress_ns"]), flush=True)

        print("\n== %d rounds x %d s per mode, median (min-max); load average %s"
              % (a.rounds, a.duration, open("/proc/loadavg").read().split()[:3]))
        print("%-10s %-22s %-22s %-22s %-22s %-22s" % (
            "mode", "Gbit/s", "CPU s/GB (machine)", "CPU s/GB (iperf3)",
            "egress ns/run", "node ingress ns/run"))
        for mode in MODES:
            rs = runs[mode]
            print("%-10s %-22s %-22s %-22s %-22s %-22s" % (
                mode, spread([x["gbps"] for x in rs]),
                spread([x["sys_s_per_gb"] for x in rs]),
                spread([x["iperf_s_per_gb"] for x in rs]),
                spread([x["egress_ns"] for x in rs]) if mode != "none" else "-",
                spread([x["ingress_ns"] for x in rs])))
        for mode in ("unmatched", "steered"):
            ratio_t = [s["gbps"] / n["gbps"] for s, n in zip(runs[mode], runs["none"])]
            ratio_c = [s["sys_s_per_gb"] / n["sys_s_per_gb"]
                       for s, n in zip(runs[mode], runs["none"])]
            print("%s / none, per round: throughput %s, CPU per GB (machine) %s"
                  % (mode, spread(ratio_t), spread(ratio_c)))
    finally:
        for h in (client_h, node_h):
            if h:
                h.close()
        for p in servers:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        tb.down()

    print("\n== steering map updates (%s %d %d; no traffic)" % (
        os.path.basename(UPDATE_BENCH), a.entries, a.updates), flush=True)
    r = subprocess.run([UPDATE_BENCH, str(a.entries), str(a.updates)])
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
