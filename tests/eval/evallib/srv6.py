"""`tests/eval/run srv6`: SRv6 path steering by intent on the SR testbed
(issue 17), measured as a client sees it.

The cluster is `TESTBED_SR_AGENT=1 testbed.sh up N --sr` (docs/srv6.md):
client -- ra -+- rb -+- router -- nodes, the rc path shaped by TBF, every
node's agent running the SRv6 data plane, plus one anysteerd on the
client in the end-host role that programs the client's egress from the
testbed's topology file. Four services have an endpoint on node1 (its own
address), one per intent: `none` (no path intent: the routed default,
via rb), `bandwidth` (the widest path, rb), `cost` (the cheapest, rc) and
`latency` (a tie on this testbed, which cannot emulate latency: rb by
name). Nothing else programs any host.

Two kinds of run, interleaved over --reps repetitions in an order
rotated from one repetition to the next:

- transfer: iperf3 (TCP, one stream, --duration s) per intent: goodput,
  retransmissions, machine-wide CPU seconds per GB (/proc/stat: every
  namespace's softirq work, and any other load on the machine), the
  bytes that crossed rc's TBF (which path the data really took), and
  the path `anysteerctl paths` reported;
- cut: iperf3 to the cost service for --cut-duration s; at --cut-at s
  the link ra-rc goes down (`testbed.sh sr-link ra rc down`) and at
  --restore-at s comes back: goodput per 0.5 s, the time from the cut to
  the agent's reprogrammed maps and from the restore back, and whether
  the transfer survived.

Output, as the other experiments: summary.json, summary.csv (one row per
run), plots (goodput per intent; goodput over time around the cut, PNG
and SVG), report.md, the configurations and logs.
"""
import csv
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

from . import steady

INTENTS = (("none", 5401, None), ("bandwidth", 5402, "bandwidth"),
           ("cost", 5403, "cost"), ("latency", 5404, "latency"))
CUT_PORT = 5403
CLIENT_ADDR = "fd00:2::2"
NODE1 = "fd00:1::1:1"


def busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]     # all but idle and iowait


class SR:
    def __init__(self, opts, top):
        self.o, self.top = opts, top
        self.out = os.path.abspath(opts.out)
        self.rows, self.cuts = [], []
        self.meta = {"experiment": "srv6", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "tools": steady.tool_versions(), "options": vars(opts)}
        self.t_start = time.time()
        self.tb_env = None
        self.client = None
        self.procs = []

    # ---- set-up -------------------------------------------------------------
    def tb(self, *args, check=True, timeout=180):
        r = subprocess.run([os.path.join(self.top, "deploy", "testbed", "testbed.sh")]
                           + [str(a) for a in args], env=self.tb_env, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("testbed.sh %s: %s%s" % (" ".join(map(str, args)),
                                                        r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def ns_run(self, who, argv, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns[who]] + argv,
                              capture_output=True, text=True, **kw)

    def services_yaml(self):
        out = ["services:"]
        for name, port, path in INTENTS:
            out.append("  - name: %s\n    port: %d" % (name, port))
            if path:
                out.append("    intent: {path: %s}" % path)
            out.append('    endpoints:\n      - { address: "%s", node: node1 }' % NODE1)
        return "\n".join(out) + "\n"

    def client_yaml(self, keyring):
        seeds = ", ".join('"[fd00:1::1:%d]:7946"' % i for i in range(1, self.o.nodes + 1))
        svcs = "".join("  - name: %s\n    port: %d\n%s" % (
            n, p, "    intent: {path: %s}\n" % i if i else "") for n, p, i in INTENTS)
        return """# the client's end-host agent (tests/eval/run srv6)
node: {name: client, role: end-host}
dns: {zone: svc.example.}
control: {socket: %(ctl)s}
metrics: {listen: ""}
load: {source: static, value: 0}
health: {interval: 0s}
gossip:
  bind: "[%(addr)s]:7946"
  seeds: [%(seeds)s]
  cluster: testbed
  keyring: %(keyring)s
srv6:
  enabled: true
  topology: %(topo)s
  interfaces: [eth0]
  probe_interval: %(probe)dms
  rise: 2
  fall: 4
services:
%(svcs)s""" % {"ctl": self.ctl, "addr": CLIENT_ADDR, "seeds": seeds, "keyring": keyring,
               "topo": self.topology, "probe": self.o.probe_ms, "svcs": svcs}

    def up(self):
        build = steady.ensure_build(self.top, self.o.build_dir)
        anysteerd = os.path.join(build, "agent", "anysteerd")
        self.anysteerctl = os.path.join(build, "agent", "anysteerctl")
        holder = os.path.join(build, "tests", "unit", "test_srv6_holder")
        subprocess.run(["make", "-s", "tests/unit/test_srv6_holder"], cwd=build,
                       capture_output=True)
        if not os.access(holder, os.X_OK) or \
                subprocess.run([holder], stdin=subprocess.DEVNULL,
                               capture_output=True).returncode != 0:
            raise RuntimeError("no SRv6 data plane in %s (configure found no clang/libbpf/"
                               "bpftool, or the kernel lacks tc BPF)" % build)
        for d in ("configs", "logs"):
            os.makedirs(os.path.join(self.out, d), exist_ok=True)
        tbdir = os.path.join(self.out, "testbed")
        svc = os.path.join(self.out, "configs", "services.yaml")
        with open(svc, "w") as f:
            f.write(self.services_yaml())
        self.tb_env = dict(os.environ, top_builddir=build, ANYSTEERD=anysteerd,
                           ANYSTEERCTL=self.anysteerctl, TESTBED_DIR=tbdir,
                           TESTBED_PREFIX="ev6%d" % os.getpid(), TESTBED_SR_AGENT="1",
                           TESTBED_SERVICES_FILE=svc,
                           TESTBED_SR_SHAPED_KBPS=str(self.o.shaped_mbps * 1000))
        steady.log("testbed up %d --sr" % self.o.nodes)
        self.tb("up", self.o.nodes, "--sr")
        env = dict(tok.partition("=")[::2] for tok in shlex.split(self.tb("env").stdout))
        self.topology = env["SR_TOPOLOGY"]
        self.ns = dict(x.split("=") for x in env["SR_NAMESPACES"].split())
        self.ns["node1"] = "ev6%d-n1" % os.getpid()
        shutil.copy(self.topology, os.path.join(self.out, "configs", "sr-topology.yaml"))
        keyring = os.path.join(self.out, "configs", "client-keyring")
        shutil.copy(os.path.join(tbdir, "keyring"), keyring)
        os.chmod(keyring, 0o600)
        self.ctl = os.path.join(tbdir, "client-ctl.sock")
        cfg = os.path.join(self.out, "configs", "client.yaml")
        with open(cfg, "w") as f:
            f.write(self.client_yaml(keyring))
        self.client_log = open(os.path.join(self.out, "logs", "client-agent.log"), "w")
        self.client = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["client"], anysteerd, "--config", cfg,
             "--foreground", "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=self.client_log, stderr=self.client_log)
        want = {p: ["client", "ra", "rc" if i == "cost" else "rb", "router", "node1"]
                for _, p, i in INTENTS if i}
        self.wait(lambda: all(self.path(p) == w for p, w in want.items()), 60,
                  "the client's agent steering every intent")

    def wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.client is not None and self.client.poll() is not None:
                raise RuntimeError("the client's agent exited (%d)" % self.client.returncode)
            try:
                if pred():
                    return
            except (OSError, ValueError, KeyError, subprocess.SubprocessError):
                pass
            time.sleep(0.05)
        raise RuntimeError("not within %d s: %s" % (timeout, what))

    def paths(self):
        r = subprocess.run([self.anysteerctl, "--socket", self.ctl, "--json", "paths"],
                           capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout)

    def path(self, port, p=None):
        for d in (p or self.paths())["destinations"]:
            if d["address"] == NODE1 and d["port"] == port and d["installed"]:
                return d["path"]
        return None

    def tbf_bytes(self):
        q = json.loads(self.ns_run("rc", ["tc", "-s", "-j", "qdisc", "show", "dev",
                                          "to-router"], check=True).stdout)
        return sum(x.get("bytes", 0) for x in q if x["kind"] == "tbf")

    def iperf(self, port, secs, interval=1.0, during=None):
        """iperf3 from the client to node1:port; during(t0) runs while it
        does. Returns iperf3's JSON (None when it failed) and stderr."""
        srv = subprocess.Popen(["ip", "netns", "exec", self.ns["node1"], "iperf3", "-s", "-1",
                                "-p", str(port), "--forceflush"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        self.procs.append(srv)
        seen = ""
        for _ in range(5):      # a rule of dashes, then "Server listening"
            line = srv.stdout.readline()
            seen += line
            if "Server listening" in line or not line:
                break
        if "Server listening" not in seen:
            srv.kill()
            raise RuntimeError("iperf3 server: %s" % seen)
        cli = subprocess.Popen(["ip", "netns", "exec", self.ns["client"], "iperf3", "-c", NODE1,
                                "-p", str(port), "-t", str(secs), "-i", str(interval), "-J"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(cli)
        t0 = time.monotonic()
        if during:
            during(t0)
        try:
            out, err = cli.communicate(timeout=secs + 60)
        except subprocess.TimeoutExpired:
            cli.kill()
            out, err = "", "iperf3 did not end"
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
        try:
            return (json.loads(out) if cli.returncode == 0 else None), err
        except ValueError:
            return None, err

    # ---- runs ---------------------------------------------------------------
    def transfer(self, rep, name, port):
        p0, tbf0, j0 = self.path(port), self.tbf_bytes(), busy_jiffies()
        res, err = self.iperf(port, self.o.duration)
        j1, tbf1 = busy_jiffies(), self.tbf_bytes()
        row = {"run": "transfer", "rep": rep, "intent": name, "port": port,
               "path": ",".join(p0) if p0 else "routed (rb)", "ok": res is not None}
        if res is None:
            row["error"] = err.strip()[-300:]
        else:
            e = res["end"]
            got = e["sum_received"]["bytes"]
            row.update(goodput_mbps=round(e["sum_received"]["bits_per_second"] / 1e6, 1),
                       bytes=got, retransmits=e["sum_sent"].get("retransmits"),
                       cpu_s_per_gb=round((j1 - j0) / os.sysconf("SC_CLK_TCK")
                                          / max(got, 1) * 1e9, 2),
                       via_rc_fraction=round(min((tbf1 - tbf0) / max(got, 1), 1.0), 3))
        self.rows.append(row)
        steady.log("rep %d %-9s %s" % (rep, name, "%.1f Mbit/s via %s" % (
            row["goodput_mbps"], row["path"]) if row["ok"] else "FAILED " + row["error"]))

    def cut(self, rep):
        marks = {}

        def inject(t0):
            self.wait(lambda: time.monotonic() - t0 >= self.o.cut_at, self.o.cut_at + 5,
                      "the cut time")
            marks["cut_wall"] = time.time() * 1000
            marks["cut_t"] = time.monotonic() - t0
            self.tb("sr-link", "ra", "rc", "down")
            self.wait(lambda: self.path(CUT_PORT) and self.path(CUT_PORT)[2] == "rb", 30,
                      "cost moved to rb")
            marks["moved_s"] = (self.paths()["last_reprogram_ms"] - marks["cut_wall"]) / 1000
            self.wait(lambda: time.monotonic() - t0 >= self.o.restore_at,
                      self.o.restore_at + 5, "the restore time")
            marks["restore_wall"] = time.time() * 1000
            marks["restore_t"] = time.monotonic() - t0
            self.tb("sr-link", "ra", "rc", "up")
            self.wait(lambda: self.path(CUT_PORT) and self.path(CUT_PORT)[2] == "rc", 30,
                      "cost back on rc")
            marks["back_s"] = (self.paths()["last_reprogram_ms"] - marks["restore_wall"]) / 1000

        try:
            res, err = self.iperf(CUT_PORT, self.o.cut_duration, 0.5, inject)
        finally:
            self.tb("sr-link", "ra", "rc", "up", check=False)
        series = []
        if res is not None:
            series = [(round(i["sum"]["end"], 2), round(i["sum"]["bits_per_second"] / 1e6, 1))
                      for i in res["intervals"]]
        c = {"rep": rep, "survived": res is not None, "cut_at_s": round(marks.get("cut_t", 0), 2),
             "restore_at_s": round(marks.get("restore_t", 0), 2),
             "cut_to_reprogram_s": round(marks.get("moved_s", -1), 2),
             "restore_to_reprogram_s": round(marks.get("back_s", -1), 2),
             "series_mbps": series}
        if res is None:
            c["error"] = err.strip()[-300:]
        else:
            c["bytes"] = res["end"]["sum_received"]["bytes"]
            # The longest stretch of 0.5 s intervals with no data.
            gap = run = 0.0
            for _, mbps in series:
                run = run + 0.5 if mbps == 0 else 0.0
                gap = max(gap, run)
            c["longest_stall_s"] = gap
        self.cuts.append(c)
        self.rows.append({"run": "cut", "rep": rep, "intent": "cost", "port": CUT_PORT,
                          "ok": c["survived"], "cut_to_reprogram_s": c["cut_to_reprogram_s"],
                          "restore_to_reprogram_s": c["restore_to_reprogram_s"],
                          "longest_stall_s": c.get("longest_stall_s"), "bytes": c.get("bytes")})
        steady.log("rep %d cut: moved %.2f s after the cut, back %.2f s after the restore, "
                   "transfer %s" % (rep, c["cut_to_reprogram_s"], c["restore_to_reprogram_s"],
                                    "survived" if c["survived"] else "FAILED"))

    def run(self):
        os.makedirs(self.out, exist_ok=True)
        self.up()
        kinds = [(n, p) for n, p, _ in INTENTS] + [("cut", None)]
        for rep in range(1, self.o.reps + 1):
            k = (rep - 1) % len(kinds)
            for name, port in kinds[k:] + kinds[:k]:
                if name == "cut":
                    self.cut(rep)
                else:
                    self.transfer(rep, name, port)

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                steady.log("pid %d does not end (stuck in the kernel?)" % p.pid)
        if self.client is not None:
            self.client.terminate()
            try:
                self.client.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.client.kill()
                self.client.wait()
            self.client_log.close()
        if self.tb_env is not None:
            tbdir = self.tb_env["TESTBED_DIR"]
            for i in range(1, self.o.nodes + 1):
                log = os.path.join(tbdir, "n%d" % i, "anysteerd.log")
                if os.path.exists(log):
                    shutil.copy(log, os.path.join(self.out, "logs", "node%d-agent.log" % i))
            self.tb("down", check=False)
            shutil.rmtree(tbdir, ignore_errors=True)

    # ---- results ------------------------------------------------------------
    def summary(self):
        per = {}
        for name, port, path in INTENTS:
            rs = [r for r in self.rows if r["run"] == "transfer" and r["intent"] == name]
            ok = [r for r in rs if r["ok"]]

            def spread(key):
                v = [r[key] for r in ok if r.get(key) is not None]
                return {"min": min(v), "median": statistics.median(v), "max": max(v)} if v \
                    else None
            per[name] = {"port": port, "path_intent": path, "runs": len(rs), "failed": len(rs) - len(ok),
                         "paths": sorted({r["path"] for r in rs}),
                         "goodput_mbps": spread("goodput_mbps"),
                         "cpu_s_per_gb": spread("cpu_s_per_gb"),
                         "retransmits": spread("retransmits"),
                         "via_rc_fraction": spread("via_rc_fraction")}
        cut = None
        if self.cuts:
            def sp(key):
                v = [c[key] for c in self.cuts if c.get(key) is not None and c[key] >= 0]
                return {"min": min(v), "median": statistics.median(v), "max": max(v)} if v \
                    else None
            cut = {"runs": len(self.cuts), "survived": sum(c["survived"] for c in self.cuts),
                   "cut_to_reprogram_s": sp("cut_to_reprogram_s"),
                   "restore_to_reprogram_s": sp("restore_to_reprogram_s"),
                   "longest_stall_s": sp("longest_stall_s"), "runs_detail": self.cuts}
        return {"meta": self.meta, "shaped_mbps": self.o.shaped_mbps, "intents": per,
                "cut": cut}

    def finish(self):
        s = self.summary()
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(s, f, indent=1)
        keys = sorted({k for r in self.rows for k in r})
        with open(os.path.join(self.out, "summary.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        self.plots(s)
        self.report(s)
        return s

    def plots(self, s):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        names = [n for n, _, _ in INTENTS if s["intents"][n]["goodput_mbps"]]
        if names:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            med = [s["intents"][n]["goodput_mbps"]["median"] for n in names]
            lo = [m - s["intents"][n]["goodput_mbps"]["min"] for m, n in zip(med, names)]
            hi = [s["intents"][n]["goodput_mbps"]["max"] - m for m, n in zip(med, names)]
            ax.bar(names, med, yerr=[lo, hi], capsize=4, color="#4a7ebb")
            ax.axhline(s["shaped_mbps"], color="grey", ls="--", lw=1,
                       label="rc path TBF %d Mbit/s" % s["shaped_mbps"])
            ax.set_yscale("log")
            ax.set_ylabel("iperf3 goodput, Mbit/s (median, min-max)")
            ax.set_title("SRv6 path by intent (client to node1)")
            ax.legend(fontsize=8)
            fig.tight_layout()
            for ext in ("png", "svg"):
                fig.savefig(os.path.join(self.out, "srv6-goodput." + ext))
            plt.close(fig)
        if s["cut"]:
            fig, ax = plt.subplots(figsize=(7, 3.5))
            for c in s["cut"]["runs_detail"]:
                if c["series_mbps"]:
                    ax.plot([t for t, _ in c["series_mbps"]], [v for _, v in c["series_mbps"]],
                            lw=1, label="rep %d" % c["rep"])
            c0 = s["cut"]["runs_detail"][0]
            ax.axvline(c0["cut_at_s"], color="red", ls="--", lw=1, label="ra-rc down")
            ax.axvline(c0["restore_at_s"], color="green", ls="--", lw=1, label="ra-rc up")
            ax.set_xlabel("seconds into the transfer (intent cost)")
            ax.set_ylabel("goodput per 0.5 s, Mbit/s")
            ax.set_yscale("symlog", linthresh=10)
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=7, ncol=2)
            fig.tight_layout()
            for ext in ("png", "svg"):
                fig.savefig(os.path.join(self.out, "srv6-cut." + ext))
            plt.close(fig)

    def report(self, s):
        def f(d, key="median", nd=1):
            return "-" if not d else ("%.*f" % (nd, d[key]))

        def mmm(d, nd=1):
            return "-" if not d else "%.*f / %.*f / %.*f" % (nd, d["min"], nd, d["median"],
                                                            nd, d["max"])
        L = ["# SRv6 path steering by intent (tests/eval/run srv6)", "",
             "Started %s, %d node(s), rc path shaped to %d Mbit/s, %d repetitions of "
             "%g s transfers; load average at the end %s. Kernel %s." % (
                 s["meta"]["started"], self.o.nodes, s["shaped_mbps"], self.o.reps,
                 self.o.duration, steady.loadavg(), s["meta"]["tools"]["kernel"]),
             "", "## Transfers per intent", "",
             "| intent | path | runs (failed) | goodput Mbit/s min / median / max | "
             "CPU s per GB (machine) | retransmits | share through rc's TBF |",
             "|---|---|---|---|---|---|---|"]
        for n, _, _ in INTENTS:
            x = s["intents"][n]
            L.append("| %s | %s | %d (%d) | %s | %s | %s | %s |" % (
                n, "; ".join(x["paths"]), x["runs"], x["failed"], mmm(x["goodput_mbps"]),
                mmm(x["cpu_s_per_gb"], 2), f(x["retransmits"], nd=0),
                f(x["via_rc_fraction"], nd=2)))
        L += ["", "![goodput](srv6-goodput.png)", ""]
        if s["cut"]:
            c = s["cut"]
            L += ["## A link cut during a transfer (intent cost)", "",
                  "ra-rc down at %.1f s, up at %.1f s of a %g s iperf3 run; probes every %d ms, "
                  "fall 4, rise 2." % (self.o.cut_at, self.o.restore_at, self.o.cut_duration,
                                       self.o.probe_ms), "",
                  "| runs | survived | cut to reprogrammed, s | restore to reprogrammed, s | "
                  "longest stall, s |", "|---|---|---|---|---|",
                  "| %d | %d | %s | %s | %s |" % (c["runs"], c["survived"],
                                                 mmm(c["cut_to_reprogram_s"], 2),
                                                 mmm(c["restore_to_reprogram_s"], 2),
                                                 mmm(c["longest_stall_s"], 1)),
                  "", "![cut](srv6-cut.png)", ""]
        L += ["## Reading it", "",
              "- The rb path is not shaped: its goodput is what two shared cores push "
              "through four namespaces with SRv6 End on three routers; it says nothing about "
              "a real link.",
              "- This kernel has no netem: every link has the same real latency, so "
              "`latency` ties and takes rb by name; its row shows the cost of steering, "
              "not a latency gain.",
              "- `none` is the routed default (rb) with the programs attached but no entry: "
              "the steered rows against it show what encapsulation costs.",
              "- CPU per GB is machine-wide and includes any other load on the machine.", ""]
        with open(os.path.join(self.out, "report.md"), "w") as f:
            f.write("\n".join(L))


def main(opts, top):
    exp = SR(opts, top)
    old = steady.install_signal_handlers()
    rc = 0
    try:
        exp.run()
    except steady.Interrupted as e:
        steady.log("interrupted (%s): tearing down" % e)
        rc = 130
    except Exception as e:
        steady.log("failed: %s: %s" % (type(e).__name__, e))
        import traceback
        traceback.print_exc()
        rc = 1
    finally:
        import signal
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        t = time.monotonic()
        exp.down()
        steady.log("torn down in %.1f s" % (time.monotonic() - t))
        for s, h in old.items():
            signal.signal(s, h)
    if exp.rows:
        exp.meta["total_s"] = round(time.time() - exp.t_start, 1)
        if rc:
            exp.meta["incomplete"] = True
        exp.finish()
        steady.log("results in %s (summary.json, summary.csv, report.md, plots)" % exp.out)
    return rc


if __name__ == "__main__":
    sys.exit("run it through tests/eval/run srv6")
