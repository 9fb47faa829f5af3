"""`tests/eval/run balance`: balancing under uneven pod capacity (issue 15,
part 2), the steady experiment with slow pods plus what only this
experiment measures:

- per pod: the latency of the requests it served (p50, p99, from the
  clients' event log, --events of as-loadgen) next to its share;
- a load change during the load (--shift-at S): S seconds into the
  measured part `anysteerctl load set L` (or `load clear`) on the slow
  nodes, a per-second series of every pod's share of its service, and
  the time until the slow pods' share stayed within --shift-band of the
  share anysteer then aims at. Only the DNS modes' runs have the change:
  the proxies read no load signal, so theirs would be the same run again
  (and each change costs the slow nodes a factor-move token, see
  MoveBudget); their series is aligned with the DNS runs' (second 0 = S
  seconds into the measured part) and shown anyway;
- anysteer's answer policies against the site resolver's caching
  (--sweep-answers, --sweep-ttls): after the main runs, every other
  combination of max_answers x TTL is set on every node (the catalog
  rewritten, `anysteerctl reload`) and the DNS modes run again; per
  setting the steering error and the requests one answer carried.

The pure parts (load factor, targets, per-pod latency, share series,
time to shift) are functions of their inputs, tested in test_eval_lib.py.
"""
import csv
import json
import os
import re
import time

from . import analysis, cluster, report, steady
from .failover import read_events
from .hist import Histogram
from .report import COLORS, DNS_MODES, _f, _spread

# The testbed's load section keeps anysteer's default watermarks.
LOW_WATERMARK, HIGH_WATERMARK = 0.6, 0.95
# A bin of the share series with fewer requests (of the services with a
# slow pod) than this is left out of the time to shift: too noisy.
MIN_BIN_REQUESTS = 10
HIST_BITS = 7
# gossip/core.c's defaults: a node publishes a load factor move at once
# while it holds a token, load_burst (3) at most, then one per
# load_min_interval_ms (20 s); its first publication at start takes one.
# A move without a token waits for the next one (it is not lost).
FACTOR_MOVE_BURST, FACTOR_MOVE_INTERVAL_S = 3, 20.0
# The token is looked at once a second (gossip housekeeping).
FACTOR_MOVE_SLACK_S = 1.5
PLOTS = ("shift", "shift-pods", "pod-latency", "policies")


# ---- pure parts ------------------------------------------------------------

def load_factor(load, low=LOW_WATERMARK, high=HIGH_WATERMARK):
    """anysteer's load factor of a node reporting `load` (dns_load_factor)."""
    if load <= low:
        return 1.0
    if load >= high:
        return 0.0
    return 1.0 - (load - low) / (high - low)


def capacity_load(slow_factor, low=LOW_WATERMARK, high=HIGH_WATERMARK):
    """The load whose factor is 1/slow_factor: what a node whose pods have
    that capacity ratio should report for anysteer to match it."""
    return round(low + (1.0 - 1.0 / slow_factor) * (high - low), 4)


def shares_with_factor(layout, factor):
    """{pod: share} that anysteer aims at when the slow nodes' load factor
    is `factor` and every other node's is 1: weight x factor, per service."""
    out = {}
    for s in layout.services:
        pods = layout.pods_of(s)
        w = {p[0]: layout.weight(p[0]) * (factor if p[1] in layout.slow_nodes else 1.0)
             for p in pods}
        tot = sum(w.values())
        for n, x in w.items():
            out[n] = x / tot if tot else 1.0 / len(pods)
    return out


class MoveBudget:
    """The slow nodes' token bucket of factor moves, as far as the harness
    moved their factors (the static signal moves nothing else). Started
    after the daemons, with the start's token taken: the real bucket holds
    at least as much."""
    def __init__(self, now, burst=FACTOR_MOVE_BURST, interval=FACTOR_MOVE_INTERVAL_S):
        self.burst, self.interval = burst, interval
        self.tokens, self.at = burst - 1.0, now

    def _refill(self, now):
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) / self.interval)
            self.at = now

    def move(self, now):
        """A factor move commanded at `now`: when it is published."""
        t = self.ready_at(now)
        self._refill(t)
        self.tokens = max(0.0, self.tokens - 1)
        return t

    def ready_at(self, now):
        """The first time from `now` on when a move is published at once."""
        self._refill(now)
        return now if self.tokens >= 1 else self.at + (1 - self.tokens) * self.interval


def slow_services(layout):
    return [s for s in layout.services if any(p[1] in layout.slow_nodes for p in layout.pods_of(s))]


def pooled_slow_share(layout, shares):
    """The slow pods' share of the services that have one, averaged over
    those services (they get the same number of requests)."""
    svcs = slow_services(layout)
    if not svcs:
        return None
    return sum(sum(shares[p[0]] for p in layout.pods_of(s) if p[1] in layout.slow_nodes)
               for s in svcs) / len(svcs)


def pod_latency(events, warmup):
    """{pod: Histogram (us)} of the successful measured requests; events:
    [(t0, rows)] per site as failover.read_events gives."""
    out = {}
    for _, rows in events:
        for ts, te, res, pod, _, _ in rows:
            if ts < warmup or res != "ok" or not pod:
                continue
            h = out.get(pod)
            if h is None:
                h = out[pod] = Histogram(HIST_BITS)
            h.record(max(0, round((te - ts) * 1e6)))
    return out


def latency_json(hists):
    return {p: {"n": h.count, "p50_us": h.percentile(0.5), "p99_us": h.percentile(0.99),
                "hist": h.to_json()} for p, h in sorted(hists.items())}


def share_series(events, origins, warmup, layout):
    """Per second, every pod's share of its service's successful requests.
    events: [(t0, rows)] per site; origins: per site, the second (on that
    generator's clock) that is 0 of the series (the load change, else the
    end of the warm-up). Requests scheduled in the warm-up are left out.
    Returns {"t": [second...], "pods": {pod: [share or None]},
    "requests": {service: [n]}, "slow": [pooled slow share or None],
    "slow_requests": [n]}."""
    svc_of = {p[0]: p[3] for p in layout.pods}
    counts, per_svc = {}, {}
    for (_, rows), origin in zip(events, origins):
        for ts, _, res, pod, _, _ in rows:
            if ts < warmup or res != "ok" or pod not in svc_of:
                continue
            k = int((ts - origin) // 1)
            counts[(k, pod)] = counts.get((k, pod), 0) + 1
            key = (k, svc_of[pod])
            per_svc[key] = per_svc.get(key, 0) + 1
    ks = sorted({k for k, _ in per_svc})
    ts = list(range(ks[0], ks[-1] + 1)) if ks else []
    pods = {}
    for name, _, _, svc in layout.pods:
        pods[name] = [(counts.get((k, name), 0) / per_svc[(k, svc)])
                      if per_svc.get((k, svc)) else None for k in ts]
    requests = {s: [per_svc.get((k, s), 0) for k in ts] for s in layout.services}
    svcs = slow_services(layout)
    slow, slow_n = [], []
    for k in ts:
        vals = []
        for s in svcs:
            n = per_svc.get((k, s), 0)
            if n:
                vals.append(sum(counts.get((k, p[0]), 0) for p in layout.pods_of(s)
                                if p[1] in layout.slow_nodes) / n)
        slow.append(sum(vals) / len(vals) if vals and len(vals) == len(svcs) else None)
        slow_n.append(sum(per_svc.get((k, s), 0) for s in svcs))
    return {"t": ts, "pods": pods, "requests": requests, "slow": slow, "slow_requests": slow_n}


def time_to_shift(t, share, n, target, band, min_requests=MIN_BIN_REQUESTS):
    """The first second k >= 0 after the change from which the share stays
    within target +- band in every later second with at least
    min_requests requests (a bin of [k, k+1) s after the change). None if
    the last such second is outside the band, or there is none."""
    bins = [(k, x) for k, x, c in zip(t, share, n)
            if k >= 0 and x is not None and c >= min_requests]
    if not bins or abs(bins[-1][1] - target) > band:
        return None
    first = bins[-1][0]
    for k, x in reversed(bins):
        if abs(x - target) > band:
            break
        first = k
    return first


def mean_share(t, share, n, lo, hi, min_requests=MIN_BIN_REQUESTS):
    """Request-weighted mean share over the seconds lo <= k < hi."""
    xs = [(x, c) for k, x, c in zip(t, share, n)
          if lo <= k < hi and x is not None and c >= min_requests]
    tot = sum(c for _, c in xs)
    return sum(x * c for x, c in xs) / tot if tot else None


def policies(answers, ttls):
    """The (max_answers, ttl) settings of the sweep, in run order."""
    return [(a, t) for a in answers for t in ttls]


def with_policy(yaml_text, max_answers, ttl):
    """A node configuration (or the catalog) with every service's
    max_answers and ttl set (the catalog's lines are indented by 4)."""
    text = re.sub(r"(?m)^(    ttl: )\d+$", r"\g<1>%d" % ttl, yaml_text)
    return re.sub(r"(?m)^(    max_answers: )\d+$", r"\g<1>%d" % max_answers, text)


# estimate(): seconds beyond a run's own (runall's steady figures): per
# policy of the sweep, every node's catalog rewritten and reloaded and the
# wait until every agent answers with it; after a run with a change, the
# wait until every agent sees the signal restored and the sites' flush.
POLICY_SET_S, POLICY_SET_PER_NODE_S = 3.0, 0.3
RESTORE_S = 2.0


def sweep_policies(o):
    """The sweep's settings: every max_answers x TTL but the default."""
    return [p for p in policies(o.sweep_answers or [o.max_answers], o.sweep_ttls or [o.ttl])
            if p != (o.max_answers, o.ttl)]


def estimate(o):
    """runall.estimate's figures for balance: steady's runs, the sweep's
    runs of the DNS modes and, with --shift-at, the waits for the slow
    nodes' factor-move tokens, by playing the run order against MoveBudget
    (a change and its restore are two moves; the proxies' runs have none)."""
    from .runall import (STEADY_RUN_OVERHEAD_S, STEADY_SETUP_PER_NODE_S, STEADY_SETUP_S,
                         TEARDOWN_S)
    run_s = o.warmup + o.duration + STEADY_RUN_OVERHEAD_S
    plan = steady.run_plan(o.reps, o.rates, o.modes)
    dns_runs = [x for x in plan if x[2] in DNS_MODES]
    blocks = [(False, plan)] + [(True, dns_runs) for _ in sweep_policies(o) if dns_runs]
    budget = MoveBudget(0.0)
    if o.slow_load is not None:
        budget.move(0.0)
    t, runs = 0.0, 0
    for new_policy, block in blocks:
        if new_policy:
            t += POLICY_SET_S + POLICY_SET_PER_NODE_S * o.nodes
        for _, _, mode, _ in block:
            runs += 1
            if o.shift_at is None or mode not in DNS_MODES:
                t += run_s
                continue
            change = t + o.warmup + o.shift_at
            t += max(0.0, budget.ready_at(t) + FACTOR_MOVE_SLACK_S - change)
            budget.move(t + o.warmup + o.shift_at)
            t += run_s
            t = max(t, budget.move(t)) + RESTORE_S
    setup = STEADY_SETUP_S + STEADY_SETUP_PER_NODE_S * o.nodes
    return {"runs": runs, "run_s": round(t / runs, 1) if runs else 0.0, "setup_s": setup,
            "total_s": round(t + setup + TEARDOWN_S)}


def shift_action(opts):
    """("set", load) or ("clear", None): what --shift-at does; the default
    undoes --slow-load, or tells anysteer the slow pods' capacity."""
    v = getattr(opts, "shift_load", None)
    if v is None:
        v = "clear" if opts.slow_load is not None else capacity_load(opts.slow_factor)
    return ("clear", None) if v == "clear" else ("set", float(v))


# ---- the experiment -----------------------------------------------------------

class Balance(steady.Steady):
    def __init__(self, opts, top):
        super().__init__(opts, top)
        self.policy = (opts.max_answers, opts.ttl)
        self.policy_rows = []
        self.shift_ctx = None
        self.budget = None

    def run_tag(self, rep, rate, mode):
        tag = super().run_tag(rep, rate, mode)
        if self.policy != (self.o.max_answers, self.o.ttl):
            tag += "-a%d-t%d" % self.policy
        return tag

    def loadgen_argv(self, mode, rate, site, seed, outdir):
        return super().loadgen_argv(mode, rate, site, seed, outdir) + [
            "--events", os.path.join(outdir, "events-site%d.csv" % site)]

    # ---- the load signal ----------------------------------------------------
    def slow_addrs(self):
        return {self.be.pod_addr(i, j) for _, i, j, _ in self.layout.pods
                if i in self.layout.slow_nodes}

    def slow_factors_seen(self, pred):
        """Whether every agent's view of every slow pod's load factor
        satisfies pred."""
        slow = self.slow_addrs()
        for i in range(1, self.o.nodes + 1):
            for svc in self.be.ctl_json(i, "services")["services"]:
                for e in svc["endpoints"]:
                    if e["address"] in slow and not pred(e["load_factor"]):
                        return False
        return True

    def moves(self):
        if self.budget is None:
            self.budget = MoveBudget(time.monotonic())
        return self.budget

    def set_slow_load(self):
        self.moves().move(time.monotonic())
        super().set_slow_load()

    def set_slow(self, action, value):
        self.moves().move(time.monotonic())
        for i in sorted(self.layout.slow_nodes):
            if action == "set":
                self.be.ctl_json(i, "load", "set", "%g" % value)
            else:
                self.be.ctl_json(i, "load", "clear")

    def expect(self, action, value):
        """pred on a load factor: the agents saw this change."""
        if action == "set":
            f = load_factor(value)
            return lambda x: abs(x - f) < 0.01
        # Cleared: the static signal's factor (or, measured, anything but an
        # override's value; any is accepted then).
        if getattr(self.o, "load", "static") == "static":
            return lambda x: x >= 0.999
        return lambda x: True

    def initial_state(self):
        o = self.o
        return ("set", o.slow_load) if o.slow_load is not None else ("clear", None)

    def restore_signal(self):
        """Back to the state before a run's change, seen by every agent,
        and the sites' cached answers of the service zone dropped."""
        action, value = self.initial_state()
        self.set_slow(action, value)
        cluster.wait_for(lambda: self.slow_factors_seen(self.expect(action, value)), 60,
                         "every agent to see the slow nodes' load restored", 0.2)
        self.flush_service_zone()

    def flush_service_zone(self):
        for s, (_, conf) in self.unbound.items():
            self.be.run(("site", s), ["unbound-control", "-c", conf, "flush_zone",
                                      cluster.SERVICE_ZONE], check=False, timeout=30)

    def during_load(self, mode, outdir, gens):
        """--shift-at: at that second of the measured part, the change on
        the slow nodes; then until every agent sees it."""
        o, be = self.o, self.be
        self.shift_ctx = None
        if not self.shifts(mode):
            return
        ev = os.path.join(outdir, "events-site1.csv")

        def header():
            try:
                with open(ev) as f:
                    line = f.readline()
                return int(line.split("t0_monotonic_ns=")[1]) if "\n" in line else None
            except (OSError, IndexError, ValueError):
                return None
        t0 = cluster.wait_for(header, 30, "as-loadgen to start", 0.01)
        delay = (t0 + int((o.warmup + o.shift_at) * 1e9) - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        if any(be.poll(g) is not None for g in gens):
            return
        action, value = shift_action(o)
        t_cmd = time.monotonic_ns()
        self.set_slow(action, value)
        t_done = time.monotonic_ns()
        seen = self.expect(action, value)
        t_seen = None
        end = t0 + int((o.warmup + o.duration) * 1e9)
        while time.monotonic_ns() < end + int(5e9):
            if self.slow_factors_seen(seen):
                t_seen = time.monotonic_ns()
                break
            time.sleep(0.1)
        self.shift_ctx = {"action": action, "load": value, "t_cmd_ns": t_cmd,
                          "paced_s": None,
                          "cmd_s": round((t_done - t_cmd) / 1e9, 3),
                          "applied_s": round((t_cmd - t0) / 1e9 - o.warmup, 3),
                          "agents_saw_s": None if t_seen is None else
                          round((t_seen - t_cmd) / 1e9, 3)}

    def shifts(self, mode):
        """Whether a run of this mode has the --shift-at change."""
        return self.o.shift_at is not None and mode in DNS_MODES

    # ---- per run -------------------------------------------------------------
    def measure(self, rep, rate, mode, seed):
        o, L = self.o, self.layout
        paced = 0.0
        if self.shifts(mode):
            # The slow nodes publish the change at once only with a token
            # left (the runs before spent theirs): wait for one first.
            now = time.monotonic()
            paced = max(0.0, self.moves().ready_at(now) + FACTOR_MOVE_SLACK_S -
                        (now + o.warmup + o.shift_at))
            if paced:
                steady.log("%.1f s for the slow nodes' next factor move (one per %g s)"
                           % (paced, FACTOR_MOVE_INTERVAL_S))
                time.sleep(paced)
        row = super().measure(rep, rate, mode, seed)
        outdir = os.path.join(self.out, "runs", self.run_tag(rep, rate, mode))
        events = [read_events(os.path.join(outdir, "events-site%d.csv" % s))
                  for s in range(1, o.sites + 1)]
        row["policy"] = {"max_answers": self.policy[0], "ttl": self.policy[1]}
        row["pod_latency"] = latency_json(pod_latency(events, o.warmup))
        ctx = self.shift_ctx
        if ctx:
            ctx["paced_s"] = round(paced, 1)
            origins = [(ctx["t_cmd_ns"] - t0) / 1e9 for t0, _ in events]
        else:
            # No change in this run: aligned with the runs that have one.
            origins = [o.warmup + (o.shift_at or 0.0)] * len(events)
        ser = share_series(events, origins, o.warmup, L)
        row["share_series"] = ser
        if ctx:
            before_f = load_factor(o.slow_load) if o.slow_load is not None else 1.0
            after_f = 1.0 if ctx["action"] == "clear" else load_factor(ctx["load"])
            tb = pooled_slow_share(L, shares_with_factor(L, before_f))
            ta = pooled_slow_share(L, shares_with_factor(L, after_f))
            tts = time_to_shift(ser["t"], ser["slow"], ser["slow_requests"], ta, o.shift_band)
            last = ser["t"][-1] + 1 if ser["t"] else 0
            row["shift"] = dict({k: v for k, v in ctx.items() if k != "t_cmd_ns"}, **{
                "at_s": o.shift_at, "band": o.shift_band, "min_requests": MIN_BIN_REQUESTS,
                "target_before": tb, "target_after": ta, "time_to_shift_s": tts,
                "share_before": mean_share(ser["t"], ser["slow"], ser["slow_requests"],
                                           -10 ** 6, 0),
                # The settled part: from the time to shift on, or the last 2 s.
                "share_after": mean_share(ser["t"], ser["slow"], ser["slow_requests"],
                                          tts if tts is not None else last - 2, last)})
            self.restore_signal()
        with open(os.path.join(outdir, "row.json"), "w") as f:
            json.dump(row, f, indent=1)
        return row

    # ---- the policy sweep ----------------------------------------------------
    def set_policy(self, max_answers, ttl):
        """Every node's catalog with these settings, reloaded; then until
        every agent answers with them, and the sites' caches dropped."""
        be = self.be
        for i in range(1, self.o.nodes + 1):
            path = os.path.join(be.dir, "n%d" % i, "anysteer.yaml")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(with_policy(text, max_answers, ttl))
            be.ctl_json(i, "reload")

        def applied():
            # ...and still sees every pod healthy (the reload re-announces
            # the local endpoints).
            for i in range(1, self.o.nodes + 1):
                for s in be.ctl_json(i, "services")["services"]:
                    if (s.get("max_answers"), s.get("ttl")) != (max_answers, ttl) or \
                            not all(e.get("healthy", True) for e in s["endpoints"]):
                        return False
            return True
        cluster.wait_for(applied, 60, "every agent to answer with max_answers %d, TTL %d"
                         % (max_answers, ttl), 0.2)
        cluster.write(os.path.join(self.configs_dir(), "services-a%d-t%d.yaml"
                                   % (max_answers, ttl)),
                      with_policy(be.services_yaml, max_answers, ttl))
        self.policy = (max_answers, ttl)
        # The load override survives a reload; checked, as the runs rely on it.
        action, value = self.initial_state()
        cluster.wait_for(lambda: self.slow_factors_seen(self.expect(action, value)), 60,
                         "the slow nodes' load to stay set after the reload", 0.2)
        self.flush_service_zone()

    def run(self):
        super().run()
        o = self.o
        sweep = sweep_policies(o)
        modes = [m for m in o.modes if m in DNS_MODES]
        if not sweep or not modes:
            return
        t = time.time()
        n = 0
        total = len(sweep) * len(modes) * o.reps * len(o.rates)
        for a, ttl in sweep:
            self.set_policy(a, ttl)
            steady.log("policy max_answers %d, TTL %d s" % (a, ttl))
            for rep, rate, mode, seed in self.plan():
                if mode not in modes:
                    continue
                row = self.measure(rep, rate, mode, seed)
                self.policy_rows.append(row)
                n += 1
                steady.log("sweep %d/%d rep %d %-11s %6g req/s a%d t%d: ok %d, errors %d, "
                           "steering error %s, requests per answer %s" % (
                               n, total, rep, mode, rate, a, ttl, row["ok"],
                               row["errors_total"], _f(row["steer_err_served"], 3),
                               _f(row["dns"]["requests_per_answer"], 1)))
        self.meta["sweep_s"] = round(time.time() - t, 1)
        self.meta["loadavg_after"] = steady.loadavg()
        self.meta["measure_s"] = round(time.time() - self.t_start, 1)

    # ---- results -------------------------------------------------------------
    def finish(self):
        summary = analysis.summarize(self, self.rows)
        summary["balance"] = summarize(self.o, self.layout, summary, self.rows,
                                       self.policy_rows)
        analysis.write_outputs(self.out, summary)
        write_csvs(self.out, summary)
        report.plots(self.out, summary)
        plots(self.out, summary)
        report.write_report(self.out, summary)
        with open(os.path.join(self.out, "report.md"), "a") as f:
            f.write("\n".join(report_lines(summary)) + "\n")
        return summary

    def headline(self, summary):
        out = super().headline(summary)
        b = summary.get("balance") or {}
        for mode, per in (b.get("shift") or {}).get("by_mode", {}).items():
            for r, e in per.items():
                out.append("%s at %s req/s: slow pods' share %s before, %s after the change "
                           "(target %s), time to shift %s s" % (
                               mode, r, _f(e["share_before"]["median"], 3),
                               _f(e["share_after"]["median"], 3), _f(e["target_after"], 3),
                               _spread(e["time_to_shift_s"], 1, 1)))
        for p in b.get("policies") or []:
            out.append("max_answers %d TTL %d %s at %s req/s: steering error %s, requests "
                       "per answer %s" % (p["max_answers"], p["ttl"], p["mode"], p["rate"],
                                          _spread(p["steer_err_served"], 1, 3),
                                          _spread(p["requests_per_answer"], 1, 1)))
        return out


# ---- summary ---------------------------------------------------------------

def _pooled_pods(layout, rows):
    """Per pod over the runs: served share of its service (pooled counts)
    and the latency of its requests (pooled histograms)."""
    out = {}
    for name, i, _, svc in layout.pods:
        served = sum(r["per_pod"][name]["served"] for r in rows)
        tot = sum(r["per_pod"][p[0]]["served"] for r in rows for p in layout.pods_of(svc))
        h = None
        for r in rows:
            x = (r.get("pod_latency") or {}).get(name)
            if x:
                y = Histogram.from_json(x["hist"])
                h = y if h is None else h.merge(y)
        out[name] = {"service": svc, "node": i, "slow": i in layout.slow_nodes,
                     "target_share": rows[0]["per_pod"][name]["target_share"],
                     "share_served": served / tot if tot else None,
                     "n": h.count if h else 0,
                     "p50_us": h.percentile(0.5) if h else None,
                     "p99_us": h.percentile(0.99) if h else None}
    return out


def _mean_series(rows):
    """The slow pods' share per second, averaged over the runs, and every
    pod's share per second (pooled counts over the runs)."""
    ks = sorted({k for r in rows for k in r["share_series"]["t"]})
    slow = []
    for k in ks:
        xs = [r["share_series"]["slow"][r["share_series"]["t"].index(k)] for r in rows
              if k in r["share_series"]["t"]]
        xs = [x for x in xs if x is not None]
        slow.append(sum(xs) / len(xs) if xs else None)
    return {"t": ks, "slow": slow}


def summarize(o, layout, summary, rows, policy_rows):
    modes, rates = summary["modes"], summary["rates"]
    out = {"per_pod": {}, "shift": None, "policies": [],
           "slow_pods": [p[0] for p in layout.pods if p[1] in layout.slow_nodes],
           "slow_services": slow_services(layout)}
    for m in modes:
        out["per_pod"][m] = {}
        for r in rates:
            rs = [x for x in rows if x["mode"] == m and x["rate"] == r]
            if rs:
                out["per_pod"][m][str(r)] = {
                    "pods": _pooled_pods(layout, rs),
                    "cluster_p99_us": analysis.spread([x["lat_total_p99_us"] for x in rs])}
    if o.shift_at is not None:
        action, value = shift_action(o)
        sh = {"at_s": o.shift_at, "action": action, "load": value, "band": o.shift_band,
              "min_requests": MIN_BIN_REQUESTS, "from_load": o.slow_load, "by_mode": {}}
        for m in modes:
            for r in rates:
                rs = [x for x in rows if x["mode"] == m and x["rate"] == r and x.get("shift")]
                if not rs:
                    continue
                e = {k: analysis.spread([x["shift"][k] for x in rs]) for k in (
                    "time_to_shift_s", "agents_saw_s", "applied_s", "share_before",
                    "share_after")}
                e["paced_s"] = analysis.spread([x["shift"].get("paced_s") for x in rs])
                e["target_before"] = rs[0]["shift"]["target_before"]
                e["target_after"] = rs[0]["shift"]["target_after"]
                e["never"] = sum(1 for x in rs if x["shift"]["time_to_shift_s"] is None)
                e["series"] = _mean_series(rs)
                sh["by_mode"].setdefault(m, {})[str(r)] = e
        out["shift"] = sh
    # The sweep: the default setting from the main runs, the others from theirs.
    settings = {}
    for x in [x for x in rows if x["mode"] in DNS_MODES] + policy_rows:
        p = x.get("policy") or {"max_answers": o.max_answers, "ttl": o.ttl}
        settings.setdefault((p["max_answers"], p["ttl"], x["mode"], x["rate"]), []).append(x)
    if policy_rows:
        for (a, t, m, r), rs in sorted(settings.items()):
            e = {"max_answers": a, "ttl": t, "mode": m, "rate": r, "runs": len(rs),
                 "default": (a, t) == (o.max_answers, o.ttl)}
            for k in ("steer_err_served", "steer_err_first_clients", "steer_err_first_anysteer",
                      "requests_per_answer", "agent_queries", "lat_total_p99_us",
                      "errors_total"):
                e[k] = analysis.spread([x[k] for x in rs])
            e["time_to_shift_s"] = analysis.spread(
                [(x.get("shift") or {}).get("time_to_shift_s") for x in rs])
            e["slow_share_served"] = analysis.spread([pooled_slow_share(layout, {
                n: v["share_served"] or 0 for n, v in x["per_pod"].items()}) for x in rs])
            out["policies"].append(e)
        out["policy_runs"] = [{k: x[k] for k in ("rep", "rate", "mode", "policy", "ok",
                                                 "errors_total", "steer_err_served",
                                                 "steer_err_first_clients",
                                                 "requests_per_answer", "agent_queries",
                                                 "lat_total_p99_us", "per_pod", "dns",
                                                 "pod_latency", "share_series")}
                              for x in policy_rows]
    out["target_slow_share"] = pooled_slow_share(layout, layout.target_shares())
    return out


def write_csvs(out, summary):
    b = summary["balance"]
    with open(os.path.join(out, "pod_latency.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "rate", "pod", "service", "slow", "target_share", "share_served",
                    "requests", "p50_us", "p99_us"])
        for m, per in b["per_pod"].items():
            for r, e in per.items():
                for p, v in e["pods"].items():
                    w.writerow([m, r, p, v["service"], int(v["slow"]),
                                analysis._fmt(v["target_share"]),
                                analysis._fmt(v["share_served"]), v["n"], v["p50_us"],
                                v["p99_us"]])
    if b["shift"]:
        with open(os.path.join(out, "shift.csv"), "w", newline="") as f:
            # Every run's per-second share of every pod (0 = the change).
            w = csv.writer(f)
            w.writerow(["mode", "rate", "rep", "second", "pod", "service", "slow", "share",
                        "service_requests"])
            layout_slow = set(b["slow_pods"])
            for x in summary["runs"]:
                ser = x["share_series"]
                for k, t in enumerate(ser["t"]):
                    for p, shares in sorted(ser["pods"].items()):
                        svc = x["per_pod"][p]["service"]
                        w.writerow([x["mode"], x["rate"], x["rep"], t, p, svc,
                                    int(p in layout_slow), analysis._fmt(shares[k]),
                                    ser["requests"][svc][k]])
    if b["policies"]:
        with open(os.path.join(out, "policies.csv"), "w", newline="") as f:
            w = csv.writer(f)
            keys = ("steer_err_served", "steer_err_first_clients", "requests_per_answer",
                    "agent_queries", "lat_total_p99_us", "time_to_shift_s",
                    "slow_share_served")
            w.writerow(["max_answers", "ttl", "mode", "rate", "runs"] +
                       ["%s_%s" % (k, s) for k in keys for s in ("median", "min", "max")])
            for p in b["policies"]:
                w.writerow([p["max_answers"], p["ttl"], p["mode"], p["rate"], p["runs"]] +
                           [analysis._fmt(p[k][s]) for k in keys
                            for s in ("median", "min", "max")])


# ---- plots and report ------------------------------------------------------

def plots(out, summary):
    """The balance plots (PLOTS) in OUT/plots; returns the names made."""
    plt, save, made = report.plotter(out)
    b, modes, rates = summary["balance"], summary["modes"], summary["rates"]
    sh = b.get("shift")
    if sh and rates:
        # The slow pods' share per second around the change, per rate.
        fig, axes = plt.subplots(1, len(rates), figsize=(4.6 * len(rates), 3.6), squeeze=False)
        for ax, r in zip(axes[0], rates):
            tb = ta = None
            for m in modes:
                e = sh["by_mode"].get(m, {}).get(str(r))
                if not e:
                    continue
                tb, ta = e["target_before"], e["target_after"]
                ser = e["series"]
                xs = [k + 0.5 for k, y in zip(ser["t"], ser["slow"]) if y is not None]
                ys = [100 * y for y in ser["slow"] if y is not None]
                ax.plot(xs, ys, "-o", ms=3, color=COLORS.get(m), label=m)
            if ta is not None:
                ax.axhspan(100 * (ta - sh["band"]), 100 * (ta + sh["band"]), color="grey",
                           alpha=0.15, label="target after +- band")
                ax.axhline(100 * tb, color="grey", ls=":", lw=0.8, label="target before")
            ax.axvline(0, color="black", lw=0.8)
            ax.set_xlabel("s after the load change (%s)" % (
                "clear" if sh["action"] == "clear" else "load set %g" % sh["load"]))
            ax.set_ylabel("% of the slow pods' services")
            ax.set_ylim(bottom=0)
            ax.set_title("slow pods' share per second at %s req/s\n(mean of repetitions)" % r,
                         fontsize=9)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=6)
        save(fig, "shift")
        # Every pod's share of the first service with a slow pod, per mode,
        # at the middle rate (first repetition).
        r = rates[len(rates) // 2]
        svc = (b.get("slow_services") or [None])[0]
        runs = [x for x in summary["runs"] if x["rate"] == r and x["rep"] == min(
            y["rep"] for y in summary["runs"])]
        if svc and runs:
            fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.2),
                                     squeeze=False, sharey=True)
            for ax, x in zip(axes[0], runs):
                ser = x["share_series"]
                for p, v in sorted(x["per_pod"].items()):
                    if v["service"] != svc:
                        continue
                    slow = p in b["slow_pods"]
                    pts = [(k + 0.5, 100 * y) for k, y in zip(ser["t"], ser["pods"][p])
                           if y is not None]
                    ax.plot([a for a, _ in pts], [c for _, c in pts], "-" if slow else "--",
                            lw=2 if slow else 1, color="#b2182b" if slow else None,
                            label="%s%s" % (p, " (slow)" if slow else ""))
                ax.axvline(0, color="black", lw=0.8)
                ax.set_title("%s" % x["mode"], fontsize=9)
                ax.set_xlabel("s after the change")
                ax.grid(True, alpha=0.3)
            axes[0][0].set_ylabel("%% of %s's requests" % svc)
            axes[0][0].legend(fontsize=6)
            fig.suptitle("each pod's share of %s per second, %s req/s, repetition 1"
                         % (svc, r), fontsize=9)
            save(fig, "shift-pods")
    # Per-pod p50/p99 at the middle rate, per mode.
    if rates and b["per_pod"]:
        r = str(rates[len(rates) // 2])
        first = next((b["per_pod"][m][r]["pods"] for m in modes if r in b["per_pod"][m]), None)
        if first:
            pods = sorted(first, key=lambda p: (first[p]["service"], first[p]["node"], p))
            fig, ax = plt.subplots(figsize=(min(14.0, max(6.4, 0.3 * len(pods) + 2)), 3.8))
            for n, m in enumerate(modes):
                e = b["per_pod"][m].get(r)
                if not e:
                    continue
                xs = [k + (n - len(modes) / 2) * 0.12 for k in range(len(pods))]
                ax.plot(xs, [(e["pods"][p]["p99_us"] or 0) / 1000.0 for p in pods], "o",
                        ms=4, color=COLORS.get(m), label="%s p99" % m)
                ax.plot(xs, [(e["pods"][p]["p50_us"] or 0) / 1000.0 for p in pods], "_",
                        ms=6, color=COLORS.get(m))
            ax.set_xticks(range(len(pods)))
            ax.set_xticklabels(["%s %s%s" % (p, first[p]["service"],
                                             " slow" if first[p]["slow"] else "")
                                for p in pods], fontsize=6, rotation=90)
            ax.set_yscale("log")
            ax.set_ylabel("ms (log): dot p99, dash p50")
            ax.set_title("latency of each pod's requests at %s req/s (pooled repetitions)" % r,
                         fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6)
            save(fig, "pod-latency")
    pol = b.get("policies") or []
    if pol:
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
        labels = sorted({(p["max_answers"], p["ttl"]) for p in pol})
        keys = sorted({(p["mode"], p["rate"]) for p in pol})
        width = 0.8 / max(1, len(keys))
        for ax, k, title, log in ((axes[0], "steer_err_served", "steering error (served)",
                                   False),
                                  (axes[1], "requests_per_answer", "requests per AAAA answer",
                                   True)):
            for n, (m, r) in enumerate(keys):
                ys = []
                for a, t in labels:
                    e = next((p for p in pol if (p["max_answers"], p["ttl"], p["mode"],
                                                 p["rate"]) == (a, t, m, r)), None)
                    ys.append((e[k]["median"] if e else None) or 0)
                ax.bar([i + n * width for i in range(len(labels))], ys, width,
                       color=COLORS.get(m), alpha=1.0 if n % 2 == 0 else 0.6,
                       label="%s %s req/s" % (m, r))
            ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(labels))])
            ax.set_xticklabels(["%d ans\nTTL %d" % lt for lt in labels], fontsize=7)
            if log:
                ax.set_yscale("log")
            ax.set_title(title + " (median of repetitions)", fontsize=9)
            ax.grid(True, axis="y", alpha=0.3)
        axes[0].legend(fontsize=6)
        save(fig, "policies")
    return made


def _pct(x):
    return "-" if x is None else "%.0f" % (100 * x)


def report_lines(summary):
    b = summary["balance"]
    modes, rates = summary["modes"], summary["rates"]
    L = []
    w = L.append
    w("")
    w("## Balance: per-pod latency")
    w("")
    w("Per pod, pooled over the repetitions: its target share (weight x capacity), the "
      "share of its service's requests it served, and the latency of the requests it "
      "served (from scheduled send to the last byte, from the clients' event log: p50 / "
      "p99 ms). Slow pods are marked. Cluster p99 = the p99 of every request of the run "
      "(median over the repetitions).")
    w("")
    for r in rates:
        e0 = next((b["per_pod"][m][str(r)] for m in modes if str(r) in b["per_pod"][m]), None)
        if not e0:
            continue
        pods = sorted(e0["pods"], key=lambda p: (e0["pods"][p]["service"],
                                                 e0["pods"][p]["node"], p))
        w("**%s req/s** (share %% served, p50 / p99 ms)" % r)
        w("")
        w("| pod | service | target % | " + " | ".join(modes) + " |")
        w("|---|---|---|" + "---|" * len(modes))
        for p in pods:
            cells = []
            for m in modes:
                v = b["per_pod"][m].get(str(r), {}).get("pods", {}).get(p)
                cells.append("-" if not v or not v["n"] else "%s: %s / %s" % (
                    _pct(v["share_served"]), _f(v["p50_us"] / 1000.0),
                    _f(v["p99_us"] / 1000.0)))
            w("| %s%s | %s | %s | %s |" % (p, " (slow)" if e0["pods"][p]["slow"] else "",
                                           e0["pods"][p]["service"],
                                           _pct(e0["pods"][p]["target_share"]),
                                           " | ".join(cells)))
        w("| cluster p99 ms | | | %s |" % " | ".join(
            _spread(b["per_pod"][m][str(r)]["cluster_p99_us"], 1e-3)
            if str(r) in b["per_pod"][m] else "-" for m in modes))
        w("")
    sh = b.get("shift")
    if sh:
        w("## Balance: share shift after a load change")
        w("")
        w("%s s into each run's measured part the harness ran `anysteerctl load %s` on the "
          "slow node(s) (before: %s). Series: per second from that moment (second k = "
          "[k, k+1) s after it), the slow pods' share of the requests of their services "
          "(%s). **Time to shift** = the first second from which that share stayed within "
          "+-%g of the share anysteer then aims at (target after) in every later second "
          "with at least %d requests; `never` = outside the band in the run's last second. "
          "Only the DNS modes' runs have the change (the proxies read no load signal; "
          "their target stays the same). Agents saw "
          "= seconds until every agent reported the new load factor." % (
              _f(sh["at_s"], 1), "clear" if sh["action"] == "clear" else "set %g" % sh["load"],
              "`load set %g`" % sh["from_load"] if sh["from_load"] is not None else
              "not told", ", ".join(b["slow_services"]), sh["band"], sh["min_requests"]))
        w("")
        w("| mode | req/s | target before % | target after % | share before % | share "
          "after % | time to shift s | never | agents saw s |")
        w("|---|---|---|---|---|---|---|---|---|")
        for r in rates:
            for m in modes:
                e = sh["by_mode"].get(m, {}).get(str(r))
                if not e:
                    continue
                w("| %s | %s | %s | %s | %s | %s | %s | %d of %d | %s |" % (
                    m, r, _pct(e["target_before"]), _pct(e["target_after"]),
                    _spread(e["share_before"], 100, 1), _spread(e["share_after"], 100, 1),
                    _spread(e["time_to_shift_s"], 1, 0), e["never"],
                    len(e["time_to_shift_s"]["values"]), _spread(e["agents_saw_s"], 1, 2)))
        w("")
        w("Slow pods' share per second (%, mean of the repetitions; 0 = the change):")
        w("")
        for r in rates:
            ts = sorted({k for m in modes for k in
                         sh["by_mode"].get(m, {}).get(str(r), {}).get("series", {}).get("t", [])})
            if not ts:
                continue
            w("| %s req/s | " % r + " | ".join(str(k) for k in ts) + " |")
            w("|---|" + "---|" * len(ts))
            for m in modes:
                ser = sh["by_mode"].get(m, {}).get(str(r), {}).get("series")
                if not ser:
                    continue
                byk = dict(zip(ser["t"], ser["slow"]))
                w("| %s | %s |" % (m, " | ".join(_pct(byk.get(k)) for k in ts)))
            w("")
        w("Every pod's share per second, per run: `shift.csv`; plots `shift` and "
          "`shift-pods`.")
        w("")
    pol = b.get("policies") or []
    if pol:
        w("## Balance: answer policies against the site resolver")
        w("")
        w("The DNS modes at every max_answers x TTL setting (the default one from the main "
          "runs, the others after the catalog was changed on every node and reloaded, the "
          "sites' caches flushed). Requests per answer = the run's requests / AAAA answers "
          "anysteer sent. Steering error against the target shares (weight x capacity), "
          "median (min-max) over the repetitions%s." % (
              "; each run also had the load change above" if sh else ""))
        w("")
        w("| max answers | TTL s | mode | req/s | steering error (served) | first to clients "
          "| slow pods' share %% (target %s) | requests per answer | queries to anysteer | p99 "
          "ms |%s" % (_pct(b["target_slow_share"]), " time to shift s |" if sh else ""))
        w("|---|---|---|---|---|---|---|---|---|---|%s" % ("---|" if sh else ""))
        for p in pol:
            w("| %d%s | %d | %s | %s | %s | %s | %s | %s | %s | %s |%s" % (
                p["max_answers"], " (default)" if p["default"] else "", p["ttl"], p["mode"],
                p["rate"], _spread(p["steer_err_served"], 1, 3),
                _spread(p["steer_err_first_clients"], 1, 3),
                _spread(p["slow_share_served"], 100, 1), _spread(p["requests_per_answer"], 1, 1),
                _spread(p["agent_queries"], 1, 0), _spread(p["lat_total_p99_us"], 1e-3),
                (" %s |" % _spread(p["time_to_shift_s"], 1, 0)) if sh else ""))
        w("")
    w("Balance files: `pod_latency.csv`%s%s." % (", `shift.csv`" if sh else "",
                                                ", `policies.csv`" if pol else ""))
    return L


# ---- options (tests/eval/run balance) -------------------------------------------

# --ci: the size of the make check test (about 2 minutes here): 5 nodes,
# one site, one repetition at 400 req/s, the modes that show the point.
CI_SIZES = {"nodes": 5, "sites": 1, "rates": [400], "duration": 8.0, "warmup": 1.0,
            "reps": 1, "modes": ["dns", "nginx", "haproxy-lc"]}


def _numbers(kind, lo, hi):
    def parse(text):
        import argparse
        try:
            xs = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError("%s: integers separated by commas" % kind)
        if not xs or any(not lo <= x <= hi for x in xs):
            raise argparse.ArgumentTypeError("%s must be %d..%d" % (kind, lo, hi))
        return list(dict.fromkeys(xs))
    return parse


def _shift_load(text):
    import argparse
    if text == "clear":
        return text
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError("--shift-load: a load 0..1 or clear")
    return v


def add_options(p):
    """The balance subcommand's own options (beyond add_common's and the
    slow pods')."""
    p.add_argument("--ci", action="store_true",
                   help="make check size: 5 nodes, 1 site, 1 repetition at 400 req/s, "
                   "1 s + 8 s, modes dns, dns-anycast, nginx, haproxy-lc (explicit "
                   "options still win)")
    p.add_argument("--shift-at", type=float,
                   help="S seconds into each run's measured part, change the slow nodes' "
                   "load signal (--shift-load) and record every pod's share per second")
    p.add_argument("--shift-load", type=_shift_load,
                   help="the change: anysteerctl load set VALUE, or clear; default clear "
                   "with --slow-load, else the load whose factor is 1/--slow-factor")
    p.add_argument("--shift-band", type=float, default=0.05,
                   help="time to shift: the slow pods' share within this of its new target")
    p.add_argument("--sweep-answers", type=_numbers("max answers", 1, 8),
                   help="answer policies: after the main runs, the DNS modes again with "
                   "each of these max_answers x --sweep-ttls (e.g. 1,2,4)")
    p.add_argument("--sweep-ttls", type=_numbers("TTLs", 0, 3600),
                   help="answer policies: TTLs of the sweep (e.g. 1,5,30)")
    p.set_defaults(reps=None, modes=None)


def ci_sizes(a):
    """--ci: its sizes for the options left unset (before --quick's)."""
    if a.ci:
        for k, v in CI_SIZES.items():
            if getattr(a, k) is None:
                setattr(a, k, v)


def check(a):
    """An error message for inconsistent balance options, or None."""
    if a.shift_at is not None and not 0 < a.shift_at < a.duration:
        return "--shift-at within the measured part (0 < S < --duration)"
    if not 0 < a.shift_band < 1:
        return "--shift-band 0..1"
    if a.shift_load is not None and a.shift_at is None:
        return "--shift-load needs --shift-at"
    return None


def main(opts, top):
    return steady.main(opts, top, Balance)
