"""`tests/eval/run all`: every experiment in sequence, one combined report.

Each experiment runs as its own `tests/eval/run EXPERIMENT --out
DIR/EXPERIMENT ...` child (its usual outputs, its log in
DIR/EXPERIMENT/run.log), so a failing one cannot take the others down;
then DIR/report.md and DIR/summary.json combine what they wrote.

Pure parts (unit-tested in test_eval_lib.py): estimate() (the expected
seconds of an experiment from its options: run count x run length, set-up
and teardown), plan_lines(), failure_reason() (from a child's log) and
combine() (the combined report and summary from each experiment's
summary.json). The rest is the thin driver.
"""
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

from . import failover, report, scale, steady

# The order `run all` runs them in: part 1 first, srv6 (on its own SR
# testbed) last.
EXPERIMENTS = ("steady", "balance", "failover", "scale", "srv6")

# steady and balance (steady's engine): seconds a run takes beyond its
# warm-up + measured seconds (reading every process's counters before and
# after, the resolver's statistics, the capture): the reference run, 36
# runs of 22 s in 17.6 min with 65 s of set-up, gives 5.5 s; the CI's
# quick run (24 runs of 5 s in 240 s) 5 s.
STEADY_RUN_OVERHEAD_S = 5.5
STEADY_SETUP_S = 20.0            # build check, testbed, Unbound, proxies ...
STEADY_SETUP_PER_NODE_S = 2.0    # ... and per node (22 nodes: 65 s)
TEARDOWN_S = 10.0
# srv6: the SR testbed up (~20 s; a quick run took 40 s in all), per
# transfer iperf3's start and the path checks (~4 s), per cut the restore
# wait (~6 s).
SRV6_SETUP_S = 20.0
SRV6_TRANSFER_OVERHEAD_S = 4.0
SRV6_CUT_OVERHEAD_S = 6.0
SRV6_INTENTS = 4


def estimate(cmd, o):
    """{"runs", "run_s" (mean seconds per run), "setup_s", "total_s"} of
    experiment cmd with its options o (defaults filled in: tests/eval/run's
    fill_defaults). An experiment module evallib/CMD.py may define its own
    estimate(o) (failover and scale do); else steady's engine's or srv6's
    below."""
    try:
        mod = importlib.import_module("." + cmd, __package__)
    except ModuleNotFoundError as e:
        if e.name != "%s.%s" % (__package__, cmd):
            raise
        mod = None
    if hasattr(mod, "estimate"):
        return mod.estimate(o)
    if cmd in ("steady", "balance"):
        runs = o.reps * len(o.rates) * len(o.modes)
        run_s = o.warmup + o.duration + STEADY_RUN_OVERHEAD_S
        setup = STEADY_SETUP_S + STEADY_SETUP_PER_NODE_S * o.nodes
        return {"runs": runs, "run_s": run_s, "setup_s": setup,
                "total_s": round(runs * run_s + setup + TEARDOWN_S)}
    if cmd == "srv6":
        per_rep = SRV6_INTENTS * (o.duration + SRV6_TRANSFER_OVERHEAD_S) + \
            o.cut_duration + SRV6_CUT_OVERHEAD_S
        runs = o.reps * (SRV6_INTENTS + 1)
        return {"runs": runs, "run_s": round(per_rep / (SRV6_INTENTS + 1), 1),
                "setup_s": SRV6_SETUP_S,
                "total_s": round(o.reps * per_rep + SRV6_SETUP_S + TEARDOWN_S)}
    raise ValueError(cmd)


def describe(cmd, o):
    """A short line of what an experiment runs (for the plan)."""
    if cmd in ("steady", "balance"):
        text = "%d nodes, modes %s, rates %s, %d reps of %g+%g s" % (
            o.nodes, ",".join(o.modes), ",".join(map(str, o.rates)), o.reps, o.warmup,
            o.duration)
        if cmd == "balance":
            from .balance import sweep_policies
            if o.slow_load is not None:
                text += ", slow load %g" % o.slow_load
            if o.shift_at is not None:
                text += ", change at %g s" % o.shift_at
            sweep = sweep_policies(o)
            if sweep:
                text += ", policies %s" % ",".join("a%dt%d" % p for p in sweep)
        return text
    if cmd == "failover":
        return "%d nodes, %s x %s, TTL %s, cache %s, try-next %s, %d reps" % (
            o.nodes, ",".join(o.scenario), ",".join(o.modes), ",".join(map(str, o.ttl)),
            ",".join(o.client_cache), ",".join(o.try_next), o.repeat)
    if cmd == "scale":
        return "nodes %s x services %s, clients %s, model %s x %s" % (
            ",".join(map(str, o.nodes)), ",".join(map(str, o.services)),
            ",".join(map(str, o.clients)), ",".join(map(str, o.model_sizes or [])) or "-",
            ",".join(map(str, o.model_services or [])) or "-")
    if cmd == "srv6":
        return "%d reps: %d intents x %g s, a cut in %g s" % (
            o.reps, SRV6_INTENTS, o.duration, o.cut_duration)
    return ""


def _min(s):
    return "%.1f" % (s / 60.0)


def plan_lines(plan, budget_s):
    """The plan as text: one line per experiment (estimate in minutes)
    and the total against the budget. plan: [{"name", "what", "estimate"}]."""
    total = sum(p["estimate"]["total_s"] for p in plan)
    out = ["%-9s %5s %7s %7s %8s  %s" % ("experiment", "runs", "s/run", "set-up", "est. min",
                                         "what")]
    for p in plan:
        e = p["estimate"]
        out.append("%-9s %5d %7.1f %7.0f %8s  %s" % (p["name"], e["runs"], e["run_s"],
                                                     e["setup_s"], _min(e["total_s"]),
                                                     p["what"]))
    out.append("total: %s min estimated (budget %s min)" % (_min(total), _min(budget_s)))
    return out, total


def failure_reason(rc, log_text):
    """Why a child failed, from its exit status and its log: the harness
    logs "failed: Kind: message" or "interrupted (...)"; else the last
    line of the log."""
    if rc == 0:
        return None
    if rc == 77:
        prefix = "skipped (77)"
    elif rc == 130:
        prefix = "interrupted (130)"
    elif rc is not None and rc < 0:
        prefix = "killed by signal %d" % -rc
    else:
        prefix = "exit %s" % rc
    lines = [ln.strip() for ln in (log_text or "").splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    # The harness's own words first, then an exception or a usage error.
    for key in ("] failed: ", "] interrupted", "needs root", "Error:", "error:"):
        hit = [ln for ln in lines if key in ln]
        if hit:
            last = hit[-1]
            break
    if last.startswith("[") and "] " in last:
        last = last.split("] ", 1)[1]
    return "%s: %s" % (prefix, last[:300]) if last else prefix


# ---- headlines: a few lines and the data behind them, per experiment -------------

def _ms(us):
    return "-" if us is None else "%.2f" % (us / 1000.0)


def _med(fig, key):
    v = (fig.get(key) or {}).get("median")
    return v


def steady_headline(s):
    lines = ["| mode | offered req/s | achieved | errors | p50 ms | p99 ms | steering CPU "
             "s/1k req | busiest pod / mean |", "|---|---|---|---|---|---|---|---|"]
    rows = []
    for r in s["rates"]:
        for m in s["modes"]:
            f = s["by_mode_rate"].get(m, {}).get(str(r))
            if not f:
                continue
            errs = sum(v for v in (f["errors_total"].get("values") or []) if v)
            row = {"mode": m, "rate": r, "achieved_rps": _med(f, "achieved_rps"),
                   "errors": errs, "p50_us": _med(f, "lat_total_p50_us"),
                   "p99_us": _med(f, "lat_total_p99_us"),
                   "cpu_steering_per_1k": _med(f, "cpu_steering_per_1k"),
                   "balance_max_over_mean": _med(f, "balance_max_over_mean")}
            rows.append(row)
            lines.append("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
                m, r, "-" if row["achieved_rps"] is None else "%.0f" % row["achieved_rps"],
                errs, _ms(row["p50_us"]), _ms(row["p99_us"]),
                "-" if row["cpu_steering_per_1k"] is None else "%.3f" % row["cpu_steering_per_1k"],
                "-" if row["balance_max_over_mean"] is None
                else "%.2f" % row["balance_max_over_mean"]))
    lines.append("")
    lines += ["- " + x for x in report.headline(s)]
    return lines, {"by_mode_rate": rows, "max_sustainable_rate": s.get("max_sustainable_rate")}


def failover_headline(s):
    lines = failover.medians_table(s)
    keep = ("scenario", "mode", "ttl", "client_cache", "try_next", "n", "injected", "failed",
            "failed_max", "errors", "last_fail_s", "stop_to_dead_s", "to_dead_until_end",
            "p99_before_ms", "p99_peak_ms")
    not_injected = [m for m in s["medians"] if m["injected"] < m["n"]]
    if not_injected:
        lines += ["", "Fault not confirmed in %d group(s): %s." % (
            len(not_injected), ", ".join("%s/%s" % (m["scenario"], m["mode"])
                                         for m in not_injected))]
    return lines, {"medians": [{k: m.get(k) for k in keep} for m in s["medians"]]}


def scale_headline(s):
    lines = scale.agent_table(s) + [""] + scale.proxy_table(s)
    steps = [{k: st.get(k) for k in ("nodes", "services", "endpoints", "setup_s",
                                     "tta_p50_s", "tta_p99_s")} |
             {"agents_median": st["agents"]["median"]} for st in s["steps"]]
    return lines, {"steps": steps, "proxies": [{k: p.get(k) for k in (
        "mode", "services", "cpu_ms_per_req", "peak_rss_kb")} | {
        "apply_p50_s": p["churn"]["apply_p50_s"], "failed": p["churn"]["failed_requests"]}
        for p in s["proxies"]], "model": s.get("model")}


def srv6_headline(s):
    lines = ["| intent | path | runs (failed) | goodput Mbit/s median | share through rc |",
             "|---|---|---|---|---|"]
    data = {}
    for name, x in s["intents"].items():
        g = (x.get("goodput_mbps") or {}).get("median")
        rc = (x.get("via_rc_fraction") or {}).get("median")
        data[name] = {"paths": x["paths"], "runs": x["runs"], "failed": x["failed"],
                      "goodput_mbps": g, "via_rc_fraction": rc}
        lines.append("| %s | %s | %d (%d) | %s | %s |" % (
            name, "; ".join(x["paths"]), x["runs"], x["failed"],
            "-" if g is None else "%.0f" % g, "-" if rc is None else "%.2f" % rc))
    c = s.get("cut")
    if c:
        def med(k):
            return (c.get(k) or {}).get("median")
        data["cut"] = {"runs": c["runs"], "survived": c["survived"],
                       "cut_to_reprogram_s": med("cut_to_reprogram_s"),
                       "restore_to_reprogram_s": med("restore_to_reprogram_s")}
        lines += ["", "Link cut: %d of %d transfers survived; cut to reprogrammed %s s, "
                  "restore to reprogrammed %s s (medians)." % (
                      c["survived"], c["runs"], med("cut_to_reprogram_s"),
                      med("restore_to_reprogram_s"))]
    return lines, data


HEADLINES = {"steady": steady_headline, "balance": steady_headline,
             "failover": failover_headline, "scale": scale_headline, "srv6": srv6_headline}


def combine(meta, results):
    """The combined report (markdown text) and summary (a dict) from each
    experiment's result: {"name", "argv", "what", "estimate", "status" (ok, failed,
    skipped, not run), "rc", "wall_s", "reason", "summary" (its
    summary.json or None), "plots" (paths relative to the combined
    folder), "report" (relative path or None)}. Pure: no files."""
    failed = [r for r in results if r["status"] != "ok"]
    L = ["# anysteer evaluation: every experiment (tests/eval/run all)", ""]
    L += ["Started %s on %s (%s CPUs)%s; load average %s before, %s after; whole run "
          "%s min (estimated %s min, budget %s min)." % (
              meta.get("started"), meta.get("host"), meta.get("cpus"),
              ", --quick" if meta.get("quick") else "", meta.get("loadavg_before"),
              meta.get("loadavg_after"),
              "-" if meta.get("total_s") is None else _min(meta["total_s"]),
              _min(meta.get("estimate_s") or 0), _min(meta.get("budget_s") or 0)), ""]
    if failed:
        L += ["**Not everything succeeded**: %s." % "; ".join(
            "%s %s%s" % (r["name"], r["status"], " (%s)" % r["reason"] if r.get("reason")
                         else "") for r in failed), ""]
    L += ["## Set-up", "",
          "Every experiment runs on this one machine, one after the other, each on a fresh "
          "emulated cluster (network namespaces) of its own; absolute numbers are this "
          "machine's, and only what one experiment measured side by side compares."]
    L += ["- %s: %s" % (r["name"], r.get("what") or "-") for r in results]
    tools = next(((r["summary"].get("meta") or {}).get("tools") for r in results
                  if isinstance(r.get("summary"), dict) and
                  (r["summary"].get("meta") or {}).get("tools")), None)
    if tools:
        L.append("- Tools: %s." % "; ".join(str(v) for v in tools.values()))
    L += ["", "## Experiments", "",
          "| experiment | status | wall min | estimated min | command | report |",
          "|---|---|---|---|---|---|"]
    for r in results:
        L.append("| %s | %s | %s | %s | `tests/eval/run %s` | %s |" % (
            r["name"], r["status"], "-" if r.get("wall_s") is None else _min(r["wall_s"]),
            _min(r["estimate"]["total_s"]), " ".join(r["argv"]),
            "[report.md](%s)" % r["report"] if r.get("report") else "-"))
    L.append("")
    out = {"meta": dict(meta), "experiments": {}, "failed": [r["name"] for r in failed]}
    for r in results:
        L += ["## %s" % r["name"], ""]
        if r["status"] != "ok":
            L += ["**%s**%s" % (r["status"], ": %s" % r["reason"] if r.get("reason") else ""),
                  ""]
        s = r.get("summary")
        data = None
        if s is not None:
            if (s.get("meta") or {}).get("incomplete"):
                L += ["Incomplete: the runs measured before it stopped.", ""]
            try:
                lines, data = HEADLINES[r["name"]](s)
                L += lines
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                L.append("(no headline from its summary.json: %s: %s)" % (type(e).__name__, e))
            L.append("")
        elif r["status"] == "ok":
            L += ["(no summary.json)", ""]
        if r.get("plots"):
            L += ["Plots: " + ", ".join("[%s](%s)" % (os.path.splitext(os.path.basename(p))[0], p)
                                        for p in r["plots"]), ""]
        if r.get("report"):
            L += ["Full report: [%s](%s)." % (r["report"], r["report"]), ""]
        out["experiments"][r["name"]] = {
            k: r.get(k) for k in ("status", "rc", "wall_s", "reason", "argv", "what", "report",
                                  "plots")}
        out["experiments"][r["name"]]["estimate"] = r["estimate"]
        out["experiments"][r["name"]]["headline"] = data
    return "\n".join(L) + "\n", out


# ---- the driver -------------------------------------------------------------------

def loadavg():
    return steady.loadavg()


def plots_of(out, name):
    """PNG plots an experiment wrote (plots/*.png, or *.png at its top),
    relative to the combined folder."""
    d = os.path.join(out, name)
    found = []
    for sub in ("plots", ""):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            found += [os.path.join(name, sub, f) if sub else os.path.join(name, f)
                      for f in sorted(os.listdir(p)) if f.endswith(".png")]
    return found


def run_child(argv, log_path, stop):
    """Runs argv, its output copied to log_path and to stdout; returns its
    exit status. stop["child"] is the running child (for signals)."""
    with open(log_path, "w") as logf:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, bufsize=1)
        stop["child"] = p
        try:
            for line in p.stdout:
                logf.write(line)
                logf.flush()
                sys.stdout.write(line)
                sys.stdout.flush()
        finally:
            rc = p.wait()
            stop["child"] = None
    return rc


def run_all(plan, out, run_script, budget_s, quick):
    """Runs every planned experiment (plan: [{"name", "argv", "estimate",
    "what"}]) into out/NAME, then writes out/report.md and
    out/summary.json. Returns 0 when all succeeded, 130 when interrupted,
    else 1."""
    os.makedirs(out, exist_ok=True)
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": socket.gethostname(),
            "cpus": os.cpu_count(), "quick": quick, "loadavg_before": loadavg(),
            "budget_s": budget_s, "estimate_s": sum(p["estimate"]["total_s"] for p in plan)}
    t_all = time.monotonic()
    stop = {"child": None, "signal": None}

    def handler(sig, frame):
        stop["signal"] = sig
        if stop["child"] is not None and stop["child"].poll() is None:
            stop["child"].send_signal(signal.SIGTERM)
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    results = []
    try:
        for p in plan:
            name = p["name"]
            r = {"name": name, "argv": p["argv"], "what": p.get("what"),
                 "estimate": p["estimate"], "rc": None,
                 "wall_s": None, "reason": None, "summary": None, "plots": [], "report": None}
            results.append(r)
            if stop["signal"] is not None:
                r["status"], r["reason"] = "not run", "interrupted before it started"
                continue
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            steady.log("run all: %s (estimated %s min): tests/eval/run %s" % (
                name, _min(p["estimate"]["total_s"]), " ".join(p["argv"])))
            t = time.monotonic()
            log_path = os.path.join(d, "run.log")
            try:
                rc = run_child([sys.executable, run_script] + p["argv"], log_path, stop)
            except OSError as e:
                rc, r["reason"] = 1, "could not start: %s" % e
            r["rc"], r["wall_s"] = rc, round(time.monotonic() - t, 1)
            try:
                with open(os.path.join(d, "summary.json")) as f:
                    r["summary"] = json.load(f)
            except (OSError, ValueError):
                pass
            if os.path.exists(os.path.join(d, "report.md")):
                r["report"] = os.path.join(name, "report.md")
            r["plots"] = plots_of(out, name)
            if rc == 0:
                r["status"] = "ok"
            else:
                try:
                    with open(log_path, errors="replace") as f:
                        text = f.read()[-20000:]
                except OSError:
                    text = ""
                r["reason"] = r["reason"] or failure_reason(rc, text)
                r["status"] = "skipped" if rc == 77 else "failed"
            steady.log("run all: %s %s after %s min%s" % (
                name, r["status"], _min(r["wall_s"]),
                " (%s)" % r["reason"] if r["reason"] else ""))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    meta["loadavg_after"] = loadavg()
    meta["total_s"] = round(time.monotonic() - t_all, 1)
    if stop["signal"] is not None:
        meta["interrupted"] = "signal %d" % stop["signal"]
    text, summary = combine(meta, results)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    steady.log("run all: %s in %s min; combined report in %s" % (
        "every experiment succeeded" if not summary["failed"]
        else "not ok: " + ", ".join(summary["failed"]), _min(meta["total_s"]),
        os.path.join(out, "report.md")))
    if stop["signal"] is not None:
        return 130
    return 1 if summary["failed"] else 0
