"""Plots (PNG and SVG, matplotlib) and report.md of a steady run."""
import os

PLOTS = ("latency", "ttfb", "cpu", "memory", "pods", "accuracy")
COLORS = {"dns": "#1b7837", "dns-anycast": "#762a83", "nginx": "#2166ac", "haproxy": "#b2182b",
          "haproxy-lc": "#f46d43"}
DNS_MODES = ("dns", "dns-anycast")


def _ms(us):
    return None if us is None else us / 1000.0


def _fig_get(summary, mode, rate, key, stat="median"):
    f = summary["by_mode_rate"].get(mode, {}).get(str(rate))
    return None if f is None else f[key][stat]


def plotter(out):
    """(pyplot, save, made): save(fig, name) writes OUT/plots/NAME.png and
    .svg and appends NAME to made."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # Text as text (small SVGs), and no date or random ids in the files.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "anysteer-eval"
    d = os.path.join(out, "plots")
    os.makedirs(d, exist_ok=True)
    made = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(os.path.join(d, name + ".png"), dpi=80, metadata={"Software": None})
        fig.savefig(os.path.join(d, name + ".svg"), metadata={"Date": None})
        plt.close(fig)
        made.append(name)
    return plt, save, made


def plots(out, summary):
    """Writes OUT/plots/*.png and *.svg; returns the base names."""
    plt, save, made = plotter(out)
    modes, rates = summary["modes"], summary["rates"]

    # Latency against offered rate, per mode: p50, p99, p99.9 with the
    # spread over repetitions as error bars.
    for name, prefix, title in (("latency", "lat_total", "total latency"),
                                ("ttfb", "lat_ttfb", "time to first byte")):
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for m in modes:
            for q, style in (("p50", "-"), ("p99", "--"), ("p999", ":")):
                k = "%s_%s_us" % (prefix, q)
                xs, ys, lo, hi = [], [], [], []
                for r in rates:
                    v = _fig_get(summary, m, r, k)
                    if v is None:
                        continue
                    xs.append(r)
                    ys.append(v / 1000.0)
                    lo.append(v / 1000.0 - _fig_get(summary, m, r, k, "min") / 1000.0)
                    hi.append(_fig_get(summary, m, r, k, "max") / 1000.0 - v / 1000.0)
                if xs:
                    ax.errorbar(xs, ys, yerr=[lo, hi], fmt=style, marker="o", ms=3,
                                color=COLORS.get(m), capsize=2,
                                label="%s %s" % (m, q.replace("p999", "p99.9")))
        ax.set_xlabel("offered load (requests/s, all sites)")
        ax.set_ylabel("ms (log)")
        ax.set_yscale("log")
        ax.set_title("%s: median of repetitions, bars = min..max" % title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=3)
        save(fig, name)

    # CPU seconds per 1000 requests: steering path and whole cluster.
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.6), sharey=False)
    width = 0.8 / max(1, len(modes))
    for ax, key, title in ((axes[0], "cpu_steering_per_1k", "steering path"),
                           (axes[1], "cpu_cluster_per_1k", "cluster (steering + pods + node BIRD)")):
        for n, m in enumerate(modes):
            xs = [i + n * width for i in range(len(rates))]
            ys = [_fig_get(summary, m, r, key) or 0 for r in rates]
            lo = [y - (_fig_get(summary, m, r, key, "min") or 0) for y, r in zip(ys, rates)]
            hi = [(_fig_get(summary, m, r, key, "max") or 0) - y for y, r in zip(ys, rates)]
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, color=COLORS.get(m), label=m)
        ax.set_xticks([i + width * (len(modes) - 1) / 2 for i in range(len(rates))])
        ax.set_xticklabels([str(r) for r in rates])
        ax.set_xlabel("offered load (req/s)")
        ax.set_ylabel("CPU s per 1000 requests")
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    save(fig, "cpu")

    # Peak RSS of the steering path and the cluster at the highest rate.
    r = rates[-1] if rates else None
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    for n, m in enumerate(modes):
        s = _fig_get(summary, m, r, "rss_steering_peak_mb") or 0
        c = _fig_get(summary, m, r, "rss_cluster_peak_mb") or 0
        ax.bar([n - 0.2], [s], 0.4, color=COLORS.get(m), label="%s steering" % m)
        ax.bar([n + 0.2], [c], 0.4, color=COLORS.get(m), alpha=0.45, label="%s cluster" % m)
    ax.set_xticks(range(len(modes)))
    ax.set_xticklabels(modes)
    ax.set_ylabel("MB (sum of per-process VmHWM)")
    ax.set_title("peak RSS at %s req/s (dark: steering path, light: cluster)" % r, fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    save(fig, "memory")

    # Requests per pod relative to its target share (weight x capacity) in its
    # service (1 = on target) at the middle rate, per mode; for the
    # DNS modes also how often anysteer put the pod first, on the same scale.
    r = rates[len(rates) // 2] if rates else None
    runs = [x for x in summary["runs"] if x["rate"] == r]
    if runs:
        pp = runs[0]["per_pod"]
        pods = sorted(pp, key=lambda p: (pp[p]["service"], pp[p]["node"], p))
        fig, ax = plt.subplots(figsize=(min(14.0, max(6.4, 0.14 * len(pods) + 2)), 3.8))
        xs = list(range(len(pods)))

        def rel(rs, p, key):
            ws = pp[p].get("target_share") or 1.0
            return sum((x["per_pod"][p][key] or 0) for x in rs) / len(rs) / ws
        for n, m in enumerate(modes):
            rs = [x for x in runs if x["mode"] == m]
            ax.plot(xs, [rel(rs, p, "share_served") for p in pods], "o", ms=4,
                    color=COLORS.get(m), label="%s: served" % m)
        for m in DNS_MODES:
            rs = [x for x in runs if x["mode"] == m]
            if rs:
                ax.plot(xs, [rel(rs, p, "share_first_by_anysteer") for p in pods], "_", ms=7,
                        mew=1.5, color=COLORS.get(m), label="%s: first in anysteer's answers" % m)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(xs)
        ax.set_xticklabels(["%s %s w%s" % (p, pp[p]["service"], pp[p].get("weight", ""))
                            for p in pods], fontsize=5, rotation=90)
        ax.set_ylabel("share / target share (weight x capacity)")
        ax.set_title("requests per pod at %s req/s (mean of repetitions; 1 = on target)" % r,
                     fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, "pods")

    # Steering accuracy: left, the shares of the pods of the largest weight
    # class at the middle rate (target, first address the clients got,
    # served) per mode; right, the steering error of the requests served
    # against the offered rate.
    acc = summary.get("steering_accuracy") or {}
    if rates and acc:
        r = rates[len(rates) // 2]
        classes = (summary["setup"].get("weight_classes") or {})
        cls = max(classes, key=lambda c: (len(c.split("/")), len(classes[c]))) if classes else None
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.8))
        ax = axes[0]
        if cls:
            npos = len(cls.split("/"))
            bars = [("target (weight x capacity)", "target", None)]
            for m in modes:
                bars.append(("%s: served" % m, m, "served"))
                if m in DNS_MODES:
                    bars.append(("%s: first to clients" % m, m, "first_to_clients"))
            width = 0.8 / len(bars)
            for n, (lab, m, key) in enumerate(bars):
                e = acc.get(modes[0] if key is None else m, {}).get(str(r), {}).get(cls)
                if e is None:
                    continue
                ys = e["target"] if key is None else (e.get(key) or [0] * npos)
                ax.bar([k + n * width for k in range(npos)], [100 * y for y in ys], width,
                       color="lightgrey" if key is None else COLORS.get(m),
                       alpha=1.0 if key in (None, "served") else 0.5, label=lab,
                       edgecolor="black" if key is None else None, lw=0.5)
            ax.set_xticks([k + width * (len(bars) - 1) / 2 for k in range(npos)])
            ax.set_xticklabels(["pod %d (%s)" % (k + 1, w) for k, w in enumerate(cls.split("/"))])
            ax.set_ylabel("% of the service's requests / answers")
            ax.set_title("shares at %s req/s, services of class %s (pooled)" % (r, cls),
                         fontsize=9)
            ax.grid(True, axis="y", alpha=0.3)
            ax.legend(fontsize=6)
        ax = axes[1]
        for m in modes:
            xs, ys, lo, hi = [], [], [], []
            for rr in rates:
                v = _fig_get(summary, m, rr, "steer_err_served")
                if v is None:
                    continue
                xs.append(rr)
                ys.append(v)
                lo.append(v - _fig_get(summary, m, rr, "steer_err_served", "min"))
                hi.append(_fig_get(summary, m, rr, "steer_err_served", "max") - v)
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", ms=3, capsize=2,
                            color=COLORS.get(m), label=m)
        ax.set_xlabel("offered load (requests/s, all sites)")
        ax.set_ylabel("total variation distance")
        ax.set_ylim(bottom=0)
        ax.set_title("steering error of requests served vs target\n(median of repetitions, "
                     "bars = min..max; 0 = exact)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, "accuracy")
    return made


def _f(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, int):
        return "{:,}".format(v)
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    if v != 0 and abs(v) < 0.1 and nd <= 2:
        return "%.2g" % v     # a ratio of 0.0016 must not read 0.00
    return ("%%.%df" % nd) % v


def _spread(s, scale=1.0, nd=2):
    if s is None or s["median"] is None:
        return "-"
    return "%s (%s-%s)" % (_f(s["median"] * scale, nd), _f(s["min"] * scale, nd),
                           _f(s["max"] * scale, nd))


def headline(summary):
    out = []
    for pair, per in summary["ratios"].items():
        for r, fig in per.items():
            out.append("%s at %s req/s: p99 %s, steering CPU/req %s, cluster CPU/req %s" % (
                pair, r, _spread(fig["lat_total_p99_us"]), _spread(fig["cpu_steering_per_1k"]),
                _spread(fig["cpu_cluster_per_1k"])))
    for mo, per in summary["by_mode_rate"].items():
        for r, fig in per.items():
            if fig["steer_err_served"]["median"] is not None:
                out.append("%s at %s req/s: steering error (served vs target) %s" % (
                    mo, r, _spread(fig["steer_err_served"], 1, 3)))
    for m, v in summary["max_sustainable_rate"].items():
        out.append("max sustainable rate %s (p99 <= %g ms): %s" % (
            m, v["p99_bound_ms"], v["rate"] if v["rate"] is not None else "below the lowest rate"))
    return out


def write_report(out, summary):
    s, m = summary["setup"], summary["meta"]
    modes, rates = summary["modes"], summary["rates"]
    L = []
    w = L.append
    balance = s.get("experiment") == "balance"
    w("# anysteer evaluation: %s, DNS steering vs L7 ingress" % (
        "balancing under uneven capacity" if balance else "steady state"))
    w("")
    if m.get("incomplete"):
        w("**Incomplete run**: interrupted or failed; only the runs listed below were measured.")
        w("")
    w("Generated by `tests/eval/run %s` on %s (%s). Everything ran on **one %s-core "
      "machine**: every namespace (nodes, pods, ingress nodes, resolver, load generator) "
      "shares the same CPUs, so absolute numbers are this machine's and only the ratios "
      "measured in the same run mean something." % (s.get("experiment", "steady"), m.get("started"),
                                                     m.get("host"), m.get("cpus")))
    w("")
    w("## Set-up")
    w("")
    w("- Cluster (%s): %d nodes, each with anysteerd + BIRD and %d pods (%d pods), "
      "%d services (%s), pods spread over the nodes; %d ingress nodes sharing the VIP "
      "fd00:80::80 (BIRD, ECMP at the router, L4 hash); %d client site(s), each with "
      "Unbound and as-loadgen." % (m.get("backend"), s["nodes"], s["pods_per_node"], s["pods"],
                                   len(s["services"]), ", ".join(s["services"]),
                                   s["ingress_nodes"], s["sites"]))
    w("- Pods: as-backend, %d us of CPU work per request, %d-byte bodies, one thread."
      % (s["service_us"], s["size"]))
    if s.get("slow_nodes"):
        w("- Uneven capacity: the pods of node(s) %s take %g x the CPU work per request "
          "(%d us), so each has 1/%g of a normal pod's capacity; the target share of a pod is "
          "its service's capacity share. anysteer's load signal on those nodes: %s. "
          "`haproxy-lc` is the same HAProxy with `balance leastconn` (port %d)." % (
              ", ".join(str(i) for i in s["slow_nodes"]), s["slow_factor"],
              round(s["service_us"] * s["slow_factor"]), s["slow_factor"],
              "`anysteerctl load set %g` (the test knob: what a node whose pods burn more CPU "
              "would report)" % s["slow_load"] if s.get("slow_load") is not None else
              "as on every other node (anysteer is not told: it cannot see per-pod load)",
              8081))
    w("- Modes: `dns` = clients resolve svcN.svc.example through the site's Unbound "
      "(stub zone to the anycast address of anysteer) and connect to the pod; `nginx` / "
      "`haproxy` = clients resolve svcN.ingress.example (AAAA = the VIP, TTL %d s, served "
      "by NSD on the router) through the same Unbound and connect to the proxy, which "
      "forwards to the pods. Proxies: %d workers/threads per ingress node (the machine's "
      "cores), keep-alive to clients and pods; configs in `configs/`."
      % (s["ingress_ttl"], s["proxy_workers"]))
    if "dns-anycast" in modes:
        w("- `dns-anycast`: the clients' only resolver is anysteer's anycast address: they "
          "ask it for svcN.svc.example directly, with no shared cache in between "
          "(`dns.forward` on every node allows %s and forwards other names to the "
          "sites' Unbound, so they still resolve)." % ", ".join(
              (m.get("anycast_resolver") or {}).get("allow") or ["the sites"]))
    w("- Weights: %s (anysteer's catalog, nginx `weight=` and HAProxy `weight` alike); "
      "anysteer's load signal: %s." % (
          "each service's pods in order weighted %s (repeated)" % "/".join(
              str(x) for x in s["weights"]) if s.get("weights") else "equal",
          "this machine's CPU" if s.get("load", "measured") == "measured"
          else "pinned at 0.3 on every node (load.source: static)"))
    w("- anysteer: TTL %d s, %d addresses per answer, health probes every 2 s; "
      "load-weighted answers (load signal: this machine's CPU, the same for every node)."
      " BFD %s ms x 3 on every BGP session (deploy/bird's 75 ms lets a starved BIRD's "
      "sessions flap on a saturated shared CPU)."
      % (s["ttl"], s["max_answers"], s.get("bfd_ms") or 75))
    if s.get("objective") or s.get("zones"):
        w("- anysteer intents (docs/intents.md): objective %s; nodes in %s."
          % (s.get("objective") or "balance (default)",
             "%d zones (node.zone, round robin)" % s["zones"] if s.get("zones") else "no zones"))
    w("- Load: open loop, %s arrivals, %s req/s offered in all (split evenly over the "
      "sites), %d client identities per site (DNS cache: %s, connection reuse: %s, "
      "try next address: %s), round robin over the services; %g s warm-up + %g s measured "
      "per run; %d repetitions; for each repetition and rate the modes run back to back, "
      "the order rotated each time; timeout %d ms."
      % (s["arrival"], ", ".join(str(r) for r in rates), s["clients_per_site"],
         s["client_cache"], s["reuse"], s["try_next"], s["warmup_s"], s["duration_s"],
         s["reps"], s["timeout_ms"]))
    w("- Machine load: load average %s before, %s after; set-up %s s, whole run %s s."
      % (m.get("loadavg_before"), m.get("loadavg_after"), m.get("setup_s"), m.get("total_s")))
    w("- Tools: %s." % "; ".join("%s" % v for v in m.get("tools", {}).values()))
    w("")
    w("## Latency, rate, errors (median over repetitions; min-max in parentheses)")
    w("")
    w("| mode | offered req/s | achieved req/s | errors | p50 ms | p99 ms | p99.9 ms | "
      "TTFB p50 ms | TTFB p99 ms | TTFB p99.9 ms |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in rates:
        for mo in modes:
            f = summary["by_mode_rate"][mo].get(str(r))
            if not f:
                continue
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                mo, r, _f(f["achieved_rps"]["median"], 1), _f(sum(
                    v for v in f["errors_total"]["values"] if v)),
                _spread(f["lat_total_p50_us"], 1e-3), _spread(f["lat_total_p99_us"], 1e-3),
                _spread(f["lat_total_p999_us"], 1e-3), _spread(f["lat_ttfb_p50_us"], 1e-3),
                _spread(f["lat_ttfb_p99_us"], 1e-3), _spread(f["lat_ttfb_p999_us"], 1e-3)))
    w("")
    w("Errors are summed over the repetitions (kinds in summary.json: "
      "`by_mode_rate.MODE.RATE.errors_by_kind`); a resolver SERVFAIL counts as an error.")
    w("")
    w("**Maximum sustainable rate** (highest offered rate with no error and >= 95 %% of it "
      "achieved in every repetition and median p99 <= %g ms, every lower rate passing too; "
      "only the offered rates are tried):" % s["p99_bound_ms"])
    w("")
    for mo, v in summary["max_sustainable_rate"].items():
        r = v["rate"]
        w("- %s: %s" % (mo, "below the lowest rate tried" if r is None else (
            "%s req/s%s" % (r, " (the highest tried: the limit is above)"
                            if r == v["highest_tested"] else ""))))
    w("")
    flaps = summary.get("bgp_flaps") or []
    if flaps:
        w("**Routing flaps**: BGP sessions at the router went down or came back during "
          "%d run(s) (BFD lost a starved BIRD; the routes moved): %s." % (
              len(flaps), "; ".join("rep %s %s req/s %s: %s" % (a, b, c, ", ".join(d))
                                   for a, b, c, d in flaps)))
    else:
        w("No BGP session at the router changed state during any run.")
    w("")
    w("## Resources (median; min-max)")
    w("")
    w("CPU seconds per 1000 requests from /proc/PID/stat (utime+stime of every thread, "
      "before and after each run, warm-up included on both sides); peak RSS = VmHWM, reset "
      "through /proc/PID/clear_refs at the start of each run and summed over the processes. "
      "Steering path: dns = anysteerd + BIRD on every node; nginx/haproxy = the proxies "
      "(nginx master and workers) + BIRD on the ingress nodes. Cluster = steering path + "
      "pods + node BIRD.")
    w("")
    w("| mode | req/s | steering CPU s/1k | pods CPU s/1k | cluster CPU s/1k | resolver CPU "
      "s/1k | load gen CPU s/1k | steering peak RSS MB | cluster peak RSS MB |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rates:
        for mo in modes:
            f = summary["by_mode_rate"][mo].get(str(r))
            if not f:
                continue
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                mo, r, _spread(f["cpu_steering_per_1k"], 1, 4),
                _spread(f["cpu_backends_per_1k"], 1, 4), _spread(f["cpu_cluster_per_1k"], 1, 4),
                _spread(f["cpu_resolver_per_1k"], 1, 4), _spread(f["cpu_clients_per_1k"], 1, 4),
                _spread(f["rss_steering_peak_mb"], 1, 1), _spread(f["rss_cluster_peak_mb"], 1, 1)))
    w("")
    w("## DNS side (DNS modes)")
    w("")
    w("Medians over the repetitions. Client resolutions and new connections count the "
      "measured part of the run; the resolver's and anysteer's counters span the whole run "
      "(warm-up included). Clients resolve only when they open a connection (cached "
      "answer for its TTL%s). Requests per answer = requests "
      "of the run (warm-up included) / AAAA answers anysteer sent: how many requests one "
      "steering decision carried." % (
          ", keep-alive connections reused" if summary["setup"].get("reuse") == "on"
          else "; no keep-alive reuse"))
    w("")
    w("| mode | req/s | new connections | client resolutions | site resolver queries | "
      "resolver hit rate | queries reaching anysteer (A+AAAA) | of them A | anysteer queries "
      "per resolver miss | requests per answer |")
    w("|---|---|---|---|---|---|---|---|---|---|")

    def mid(xs):
        xs = sorted(x for x in xs if x is not None)
        return xs[len(xs) // 2] if xs else None
    for mo in [x for x in DNS_MODES if x in modes]:
        for r in rates:
            rs = [x for x in summary["runs"] if x["mode"] == mo and x["rate"] == r]
            if not rs:
                continue
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                mo, r, _f(mid(x["connections"]["opened"] for x in rs)),
                _f(mid(x["dns"]["client_resolutions"] for x in rs)),
                _f(mid(x["dns"]["resolver_queries"] for x in rs), 0),
                _f(mid(x["dns"]["resolver_hit_rate"] for x in rs), 3),
                _f(mid(x["dns"]["agent_queries"] for x in rs)),
                _f(mid(x["dns"]["agent_queries_by_qtype"]["A"] for x in rs)),
                _f(mid(x["dns"]["agent_queries_per_resolver_miss"] for x in rs), 2),
                _f(mid(x["dns"].get("requests_per_answer") for x in rs), 1)))
    w("")
    ar = m.get("anycast_resolver")
    if ar:
        w("Anycast resolver set-up check: %s; the router (%s, outside `dns.forward.allow`) got "
          "%s for the same name." % ("; ".join(
              "site%s resolved %s at the anycast address and %s through anysteer's forwarder "
              "to %s" % (k, v["zone_name"], v["forwarded_name"],
                         ", ".join(v["forwarded_answer"]))
              for k, v in sorted(ar["sites"].items())), ar["outside_allow"]["from"],
              ar["outside_allow"]["rcode"]))
        w("")
    r = rates[len(rates) // 2] if rates else None
    for mo in [x for x in DNS_MODES if x in modes]:
        rs = [x for x in summary["runs"] if x["mode"] == mo and x["rate"] == r]
        if not rs:
            continue
        w("Per pod (%s, all repetitions at %s req/s): its target share (weight x capacity), "
          "anysteer's intended share (weights and load factors), anysteer's first-place share "
          "(captured on the site's uplink%s), the clients' first-place share%s, and the share "
          "of requests served, per service:" % (
              mo, r, ", before Unbound" if mo == "dns" else "",
              " (after Unbound's cache and rrset-roundrobin)" if mo == "dns" else
              " (straight from anysteer)"))
        w("")
        w("| pod | service | target share | intended | first by anysteer | first to clients "
          "| served |")
        w("|---|---|---|---|---|---|---|")
        pods = sorted(rs[0]["per_pod"], key=lambda p: (rs[0]["per_pod"][p]["service"],
                                                         rs[0]["per_pod"][p]["node"], p))
        for p in pods:
            def avg(k):
                xs = [x["per_pod"][p].get(k) for x in rs]
                xs = [v for v in xs if v is not None]
                return sum(xs) / len(xs) if xs else None
            w("| %s | %s | %s | %s | %s | %s | %s |" % (
                p, rs[0]["per_pod"][p]["service"], _f(avg("target_share"), 3),
                _f(avg("intended_share"), 3), _f(avg("share_first_by_anysteer"), 3),
                _f(avg("share_first_to_clients"), 3), _f(avg("share_served"), 3)))
        w("")
    w("## Steering accuracy")
    w("")
    w("How close each mode's shares come to the target: each pod's share of its service's "
      "configured weight x capacity (the weights when every pod is as fast). Steering error "
      "= total variation distance between a service's shares and its target shares (half the sum "
      "of the differences over its pods: the fraction of requests that would have to move "
      "to match the target; 0 = exact), averaged over the services; median (min-max) over "
      "the repetitions. With few requests per pod a run's shares also carry sampling noise "
      "(for n requests over a service, about 0.4/sqrt(n) per pod).%s" % (
          " anysteer's load signal was this machine's CPU (`--load measured`): each node "
          "samples the shared CPU at other moments, and near saturation the factors reach "
          "0, so anysteer's intended shares (per-pod tables) can move away from the weights "
          "for reasons that are not the resolver's; `--load static` pins the factor on "
          "every node and isolates the resolver's effect." if s.get("load", "measured")
          == "measured" else " The load signal was pinned on every node (`--load static`): "
          "anysteer aimed at the configured weights."))
    w("")
    w("| mode | req/s | served | first address to clients | anysteer's first address | "
      "queries reaching anysteer | requests per answer |")
    w("|---|---|---|---|---|---|---|")
    for r in rates:
        for mo in modes:
            f = summary["by_mode_rate"][mo].get(str(r))
            if not f:
                continue
            w("| %s | %s | %s | %s | %s | %s | %s |" % (
                mo, r, _spread(f["steer_err_served"], 1, 3),
                _spread(f["steer_err_first_clients"], 1, 3),
                _spread(f["steer_err_first_anysteer"], 1, 3),
                _spread(f["agent_queries"], 1, 0) if mo in DNS_MODES else "-",
                _spread(f["requests_per_answer"], 1, 1) if mo in DNS_MODES else "-"))
    w("")
    acc = summary.get("steering_accuracy") or {}
    w("Shares pooled over the repetitions and the services with the same weights, in %, "
      "in pod order (target / anysteer's first address / first address to the "
      "clients / served):")
    w("")
    w("| mode | req/s | weight x capacity | target | first by anysteer | first to clients | served "
      "| requests |")
    w("|---|---|---|---|---|---|---|---|")

    def pct(xs):
        return "-" if not xs else "/".join("%.0f" % (100 * x) for x in xs)
    for r in rates:
        for mo in modes:
            for cls, e in sorted((acc.get(mo) or {}).get(str(r), {}).items()):
                w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    mo, r, cls, pct(e["target"]), pct(e["first_by_anysteer"]),
                    pct(e["first_to_clients"]), pct(e["served"]),
                    _f(sum(e["counts"]["served"]))))
    w("")
    w("Balance over pods (busiest pod / mean pod of its service, averaged over services; "
      "1.0 = perfect%s):" % ("" if not s.get("weights") else
                              "; with unequal weights the weights themselves put it above 1, "
                              "see the steering error above"))
    w("")
    w("| mode | " + " | ".join("%s req/s" % r for r in rates) + " |")
    w("|---|" + "---|" * len(rates))
    for mo in modes:
        w("| %s | %s |" % (mo, " | ".join(_spread(summary["by_mode_rate"][mo][str(r)]
                                                  ["balance_max_over_mean"])
                                          if str(r) in summary["by_mode_rate"][mo] else "-"
                                          for r in rates)))
    w("")
    w("## Ratios (dns / proxy, per repetition; median and min-max over repetitions)")
    w("")
    keys = [("lat_total_p50_us", "p50"), ("lat_total_p99_us", "p99"),
            ("lat_total_p999_us", "p99.9"), ("lat_ttfb_p99_us", "TTFB p99"),
            ("achieved_rps", "achieved"), ("cpu_steering_per_1k", "steering CPU/req"),
            ("cpu_cluster_per_1k", "cluster CPU/req"),
            ("rss_steering_peak_mb", "steering peak RSS"),
            ("balance_max_over_mean", "max/mean pod")]
    w("| pair | req/s | " + " | ".join(k[1] for k in keys) + " |")
    w("|---|---|" + "---|" * len(keys))
    for pair, per in summary["ratios"].items():
        for r in rates:
            f = per.get(str(r))
            if f:
                w("| %s | %s | %s |" % (pair, r, " | ".join(_spread(f[k]) for k, _ in keys)))
    w("")
    w("Below 1 means dns is lower (for latency, CPU and memory: better; for the achieved "
      "rate: worse).")
    w("")
    w("## Plots")
    w("")
    for p in PLOTS:
        if os.path.exists(os.path.join(out, "plots", p + ".png")):
            w("![%s](plots/%s.svg)" % (p, p))
            w("")
    w("## Threats to validity and what the emulation cannot show")
    w("")
    w("- One %s-core machine for everything: the load generator, the resolver, the proxies, "
      "the agents and the pods compete for the same cores, so a mode that spends more CPU "
      "anywhere slows every other component too. Absolute latencies and rates are this "
      "machine's; compare modes only through ratios from the same run." % m.get("cpus"))
    w("- No link delay: the kernel here has neither netem nor the fq qdisc, and no delay "
      "was emulated, so a round trip costs microseconds. A real network adds one client-"
      "to-proxy round trip per new connection in the ingress modes and, for dns, one "
      "resolver-to-anysteer round trip per resolver cache miss; neither shows here.")
    w("- The machine was shared (load average %s before, %s after): other work adds noise "
      "to every mode; interleaving spreads it over the modes." % (
          m.get("loadavg_before"), m.get("loadavg_after")))
    w("- Proxies run all the time on the ingress nodes (nginx on port 80, HAProxy on 8080 "
      "of the VIP) and anysteerd on every node, whatever the mode: an idle component's "
      "CPU (health checks, self-checks, gossip) is counted only in its own mode's figures.")
    w("- Access logging is off in both proxies (ingress-nginx logs every request by "
      "default): this favours the proxies. nginx balances with stock round robin: "
      "ingress-nginx's Lua balancer and its EWMA option are not available in stock nginx.")
    w("- anysteer's load signal is this machine's CPU, the same on every node, so load "
      "steering cannot prefer an idle node here; answers are weighted samples of the "
      "healthy pods.")
    w("- Unbound runs with its defaults: rrset-roundrobin rotates the cached RRset for "
      "every client, so a pod that anysteer placed first is first for only part of the "
      "clients; one cached answer serves every client of a site for the TTL; QNAME "
      "minimisation sends an extra A query per cache miss. These are effects of real "
      "resolvers and are shown, not corrected.")
    w("- The loadgen's client identities cache their answer for its TTL%s; real clients "
      "differ (browsers, glibc without a cache)." % (
          " and reuse keep-alive connections (a held connection never resolves again)"
          if summary["setup"].get("reuse") == "on" else " and open a connection per request"))
    w("- Peak RSS sums per-process VmHWM: shared pages (libraries) count once per "
      "process, which weighs against the mode with more processes (22 agents vs 2 "
      "proxies).")
    w("- Only the offered rates are tried: the maximum sustainable rate is a lower bound "
      "within the grid, not a search.")
    w("")
    w("## Files")
    w("")
    w("summary.json (everything, including every run's histograms and per-pod counts), "
      "summary.csv (per mode and rate: median/min/max of each figure, then the ratios), "
      "shares.csv (per mode, rate and class of weight x capacity: each pod position's target, "
      "first-address and served shares), runs.csv (one line per run), runs/ (raw outputs of as-loadgen and the DNS capture "
      "per run), configs/ (services.yaml, unbound.conf, nsd.conf, nginx.conf, "
      "haproxy.cfg as used), logs/, plots/.")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")
