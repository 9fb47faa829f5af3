"""From raw measurements to figures: one row per run, then per mode and
rate over the repetitions (median, min, max), ratios dns/nginx and
dns/haproxy (each repetition's dns run against the same repetition's
proxy run at the same rate), and the maximum sustainable rate per mode.
"""
import csv
import json
import os
import statistics

from .hist import merge_all

ERROR_KINDS = ("dns_timeout", "dns_servfail", "dns_nxdomain", "dns_noanswer", "dns_other",
               "connect_refused", "connect_timeout", "connect_other", "reset", "http_timeout",
               "http_status", "http_parse", "client_overload")

# What each mode's steering path is (the definition): DNS steering
# = anysteerd and BIRD on every node; an ingress = its proxies and the
# BIRD that announces its VIP on the ingress nodes.
STEERING = {"dns": ("anysteerd", "bird_nodes"),
            "dns-anycast": ("anysteerd", "bird_nodes"),
            "haproxy-lc": ("haproxy", "bird_ingress"),
            "nginx": ("nginx", "bird_ingress"),
            "haproxy": ("haproxy", "bird_ingress")}
# The cluster's whole cost: the steering path, the pods, and the nodes'
# BIRD (the pods' routes, needed by every mode).
CLUSTER_EXTRA = ("backends", "bird_nodes")

# Scalar figures of a run that are summarised and compared. (key, label,
# unit, lower_is_better)
FIGURES = [
    ("lat_total_p50_us", "latency p50 (total)", "us", True),
    ("lat_total_p99_us", "latency p99 (total)", "us", True),
    ("lat_total_p999_us", "latency p99.9 (total)", "us", True),
    ("lat_ttfb_p50_us", "time to first byte p50", "us", True),
    ("lat_ttfb_p99_us", "time to first byte p99", "us", True),
    ("lat_ttfb_p999_us", "time to first byte p99.9", "us", True),
    ("achieved_rps", "achieved rate", "req/s", False),
    ("errors_total", "errors", "", True),
    ("cpu_steering_per_1k", "steering path CPU", "s/1000 req", True),
    ("cpu_backends_per_1k", "backends (pods) CPU", "s/1000 req", True),
    ("cpu_cluster_per_1k", "cluster CPU (steering + pods + node BIRD)", "s/1000 req", True),
    ("cpu_resolver_per_1k", "site resolver CPU", "s/1000 req", True),
    ("cpu_clients_per_1k", "load generator CPU", "s/1000 req", True),
    ("rss_steering_peak_mb", "steering path peak RSS", "MB", True),
    ("rss_cluster_peak_mb", "cluster peak RSS", "MB", True),
    ("client_resolutions", "client resolutions (to the resolver)", "", True),
    ("resolver_hit_rate", "resolver cache hit rate", "", False),
    ("agent_queries", "queries reaching anysteer (A+AAAA)", "", True),
    ("balance_max_over_mean", "busiest pod / mean pod (per service, averaged)", "", True),
    ("balance_cv", "coefficient of variation of requests per pod", "", True),
    # Steering accuracy: how far a service's shares are from its pods'
    # target shares (weight x capacity; total variation distance: half the
    # sum of |share - target share| over its pods; 0 = exact, 1 =
    # disjoint), averaged over the services.
    ("steer_err_served", "steering error: requests served vs target shares", "", True),
    ("steer_err_first_clients", "steering error: first address the clients got vs target",
     "", True),
    ("steer_err_first_anysteer", "steering error: anysteer's first address vs target", "",
     True),
    ("requests_per_answer", "requests per AAAA answer anysteer sent", "", True),
]


def _sum(xs):
    return sum(x for x in xs if x is not None)


def _delta_groups(groups, before, after):
    """CPU seconds used and peak RSS (sum of VmHWM, reset at the start) per group."""
    cpu, rss = {}, {}
    for g, procs in groups.items():
        c = h = 0.0
        for p in procs:
            b, a = before["proc"].get(p.pid), after["proc"].get(p.pid)
            if b is None or a is None:
                continue
            c += a.cpu_s - b.cpu_s
            h += a.hwm_kb
        cpu[g], rss[g] = round(c, 3), h
    return cpu, rss


def run_row(exp, rep, rate, mode, seed, groups, before, after, sites, wall, intended):
    """One run's figures from the snapshots and the sites' outputs."""
    lgs = [s["loadgen"] for s in sites]
    row = {"rep": rep, "rate": rate, "mode": mode, "seed": seed, "wall_s": round(wall, 2)}
    for k in ("scheduled", "sent", "completed", "ok", "warmup_requests"):
        row[k] = sum(int(lg[k]) for lg in lgs)
    row["achieved_rps"] = round(sum(float(lg["achieved_rps"]) for lg in lgs), 2)
    row["duration_s"] = max(float(lg["duration_s"]) for lg in lgs)
    row["errors"] = {k: sum(int(lg["errors"].get(k, 0)) for lg in lgs) for k in ERROR_KINDS}
    # Keys the load generator reports beyond the contract's.
    for lg in lgs:
        for k, v in lg["errors"].items():
            if k not in row["errors"]:
                row["errors"][k] = row["errors"].get(k, 0) + int(v)
    row["errors_total"] = sum(row["errors"].values())
    row["error_rate"] = row["errors_total"] / row["sent"] if row["sent"] else None
    hist = {}
    row["latency_us"] = {}
    for kind in ("total", "ttfb"):
        h = merge_all([lg["histogram"][kind] for lg in lgs])
        hist[kind] = h.to_json()
        row["latency_us"][kind] = h.summary()
    row["histogram"] = hist
    row["latency_us_sites"] = [{k: lg["latency_us"].get(k) for k in ("connect", "dns")}
                               for lg in lgs]
    # The load generator's own health: did it keep up, did its DNS socket drop?
    row["loadgen_sites"] = [{k: lg.get("loadgen", {}).get(k) for k in (
        "cpu_us_per_request", "never_sent", "unfinished", "max_inflight_seen",
        "dns_socket_drops", "refused_destinations", "interrupted")} for lg in lgs]
    row["connections"] = {k: sum(int(lg["connections"][k]) for lg in lgs)
                          for k in ("opened", "reused_requests")}
    # Requests in the measured window (warm-up included: the CPU counters
    # span it too).
    window = row["sent"] + row["warmup_requests"]
    row["requests_in_window"] = window
    cpu, rss = _delta_groups(groups, before, after)
    cpu["clients"] = round(_sum(s["loadgen_cpu_s"] for s in sites), 3)
    rss["clients"] = _sum(s["loadgen_maxrss_kb"] for s in sites)
    steering = STEERING[mode]
    cluster = tuple(dict.fromkeys(steering + CLUSTER_EXTRA))
    cpu["steering"] = round(sum(cpu[g] for g in steering), 3)
    cpu["cluster"] = round(sum(cpu[g] for g in cluster), 3)
    cpu["resolver"] = round(cpu["unbound"] + cpu["nsd"], 3)
    rss["steering"] = sum(rss[g] for g in steering)
    rss["cluster"] = sum(rss[g] for g in cluster)
    row["cpu_s"] = cpu
    row["peak_rss_kb"] = rss
    k = window / 1000.0 if window else None
    row["cpu_s_per_1k"] = {g: (round(v / k, 5) if k else None) for g, v in cpu.items()}
    row["process_counts"] = {g: len(ps) for g, ps in groups.items()}
    # BGP sessions at the router that went down or came back during the
    # run (BFD losing a starved BIRD): each one moved routes.
    b0, b1 = before.get("bgp", {}), after.get("bgp", {})
    row["bgp_flaps"] = ["%s (%s -> %s)" % (k, " ".join(b0.get(k, ("-",))), " ".join(b1.get(k, ("-",))))
                        for k in sorted(set(b0) | set(b1)) if _session_changed(b0.get(k), b1.get(k))]
    # DNS side.
    ag = {q: after["agents"][q] - before["agents"][q] for q in before["agents"]}
    ub = {}
    for s in before["unbound"]:
        for q in before["unbound"][s]:
            ub[q] = ub.get(q, 0) + after["unbound"][s][q] - before["unbound"][s][q]
    caps = [s["dnscap"] for s in sites]
    anycast = exp.be.anycast
    cap_resp = sum(c["by_server"].get(anycast, 0) for c in caps)
    dns = {
        "client_resolutions": sum(int(lg["dns"]["resolutions"]) for lg in lgs),
        "client_cache_hits": sum(int(lg["dns"]["cache_hits"]) for lg in lgs),
        "client_queries_sent": sum(int(lg["dns"]["queries_sent"]) for lg in lgs),
        "resolver_queries": ub.get("queries", 0),
        "resolver_cachehits": ub.get("cachehits", 0),
        "resolver_cachemiss": ub.get("cachemiss", 0),
        "resolver_servfail": ub.get("servfail", 0),
        "resolver_hit_rate": (ub["cachehits"] / ub["queries"]) if ub.get("queries") else None,
        "agent_queries": ag["A"] + ag["AAAA"],
        "agent_forwarded": ag.get("forwarded", 0),
        "agent_queries_by_qtype": {"A": ag["A"], "AAAA": ag["AAAA"]},
        "agent_selfcheck_soa": ag["SOA"],
        "agent_servfail": ag["SERVFAIL"],
        "upstream_responses_seen": {"anysteer": cap_resp,
                                    "all": sum(c["responses"] for c in caps)},
        "upstream_by_qtype": _merge_counts(c["by_qtype"] for c in caps),
    }
    # How many requests one steering decision (an AAAA answer of anysteer)
    # carried: through a shared cache many, asked directly about one per
    # new connection.
    dns["requests_per_answer"] = (window / ag["AAAA"]) if ag["AAAA"] else None
    dns["agent_queries_per_resolver_miss"] = (
        dns["agent_queries"] / dns["resolver_cachemiss"] if dns["resolver_cachemiss"] else None)
    row["dns"] = dns
    # Per pod: what anysteer put first, what the clients got first (after
    # the resolver's rotation), what the pods served.
    first_anysteer = _merge_counts(c["first_aaaa"] for c in caps)
    first_client = _merge_counts(lg["dns"]["answers_by_address"] for lg in lgs)
    per_pod_lg = _merge_counts(lg["per_pod"] for lg in lgs)
    be = exp.be
    wshare = exp.layout.weight_shares()
    target = exp.layout.target_shares()
    position = {p[0]: k for svc in exp.layout.services
                for k, p in enumerate(exp.layout.pods_of(svc))}
    pods = {}
    for name, i, j, svc in exp.layout.pods:
        addr = be.pod_addr(i, j)
        pods[name] = {"service": svc, "address": addr, "node": i,
                      "weight": exp.layout.weight(name), "weight_share": wshare[name],
                      "capacity": exp.layout.capacity(name), "target_share": target[name],
                      "position": position[name],
                      "served": after["pods"][name]["requests"] - before["pods"][name]["requests"],
                      "cpu_s": (after["pods"][name]["cpu_us"] - before["pods"][name]["cpu_us"]) / 1e6,
                      "ok_measured": per_pod_lg.get(name, 0),
                      "first_by_anysteer": first_anysteer.get(addr, 0),
                      "first_to_clients": first_client.get(addr, 0),
                      "intended_share": (intended or {}).get(addr, (None, None))[0],
                      "load_factor": (intended or {}).get(addr, (None, None))[1]}
    for svc in exp.layout.services:
        mine = [p for p in pods.values() if p["service"] == svc]
        for key, out in (("first_by_anysteer", "share_first_by_anysteer"),
                         ("first_to_clients", "share_first_to_clients"),
                         ("served", "share_served")):
            tot = sum(p[key] for p in mine)
            for p in mine:
                p[out] = (p[key] / tot) if tot else None
    row["per_pod"] = pods
    row["balance"] = _balance(exp.layout.services, pods)
    row["steering_error"] = {k: steering_error(exp.layout.services, pods, k) for k in (
        "share_served", "share_first_to_clients", "share_first_by_anysteer")}
    row["checks"] = {
        "per_pod_sum": sum(per_pod_lg.values()),
        "unknown_pod": per_pod_lg.get("-", 0),
        "ok": row["ok"],
        "served_sum": sum(p["served"] for p in pods.values()),
        "requests_in_window": window,
    }
    row.update(flat_figures(row))
    return row


def _clock_s(t):
    """Seconds of BIRD's HH:MM:SS.mmm, or None."""
    try:
        h, m, sec = t.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except (AttributeError, ValueError):
        return None


def _session_changed(a, b):
    """Whether a BGP session (state, since) changed between two readings.
    BIRD prints `since` from the current time, so the same instant can read
    a millisecond apart: only a change of state or a jump of `since` by
    more than 0.5 s is a flap."""
    if a is None or b is None or a[0] != b[0]:
        return a != b
    t0, t1 = _clock_s(a[1]), _clock_s(b[1])
    if t0 is None or t1 is None:
        return a[1] != b[1]
    d = abs(t1 - t0)
    return min(d, 86400 - d) > 0.5


def intended_shares(services):
    """{address: (share, load factor)} from `anysteerctl services`: the
    share of first places anysteer aims at. When every endpoint of a
    service has effective weight 0 (every node's load factor is 0, e.g. a
    saturated shared CPU) anysteer fails open to the configured weights
    (docs/dns.md), and so does this."""
    out = {}
    for s in services:
        eps = s["endpoints"]
        eff = sum(e["effective_weight"] for e in eps)
        if eff > 0:
            for e in eps:
                out[e["address"]] = (e["effective_weight"] / eff, e["load_factor"])
            continue
        w = sum(e["weight"] for e in eps)
        for e in eps:
            out[e["address"]] = ((e["weight"] / w) if w else 1.0 / len(eps), e["load_factor"])
    return out


def _merge_counts(dicts):
    out = {}
    for d in dicts:
        for k, v in (d or {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def _balance(services, pods):
    per = {}
    for svc in services:
        xs = [p["served"] for p in pods.values() if p["service"] == svc]
        if not xs or sum(xs) == 0:
            per[svc] = {"max_over_mean": None, "cv": None, "pods": len(xs)}
            continue
        m = sum(xs) / len(xs)
        cv = (statistics.pstdev(xs) / m) if m else None
        per[svc] = {"max_over_mean": max(xs) / m, "cv": cv, "pods": len(xs)}
    vals = [v["max_over_mean"] for v in per.values() if v["max_over_mean"] is not None]
    cvs = [v["cv"] for v in per.values() if v["cv"] is not None]
    return {"by_service": per,
            "max_over_mean": sum(vals) / len(vals) if vals else None,
            "cv": sum(cvs) / len(cvs) if cvs else None}


def steering_error(services, pods, key):
    """Per service, the total variation distance between the pods' shares
    `key` and their target shares (weight x capacity) (half the sum of the absolute
    differences: the fraction of requests, or answers, that would have to
    move to another pod to match the weights), and its mean over the
    services that have any. None where a mode has no such shares (the
    proxies have no DNS answers)."""
    per = {}
    for svc in services:
        mine = [p for p in pods.values() if p["service"] == svc]
        if not mine or any(p.get(key) is None for p in mine):
            per[svc] = None
            continue
        per[svc] = 0.5 * sum(abs(p[key] - p["target_share"]) for p in mine)
    vals = [v for v in per.values() if v is not None]
    return {"by_service": per, "mean": sum(vals) / len(vals) if vals else None}


def shares_by_weights(rows, layout_classes):
    """Pooled shares per weight class: for every set of services with the
    same weights (e.g. "10/30/60"), the counts of each pod position summed
    over the runs and those services, as shares. {class: {"target": [..],
    "served": [..], "first_to_clients": [..], "first_by_anysteer": [..],
    "services": [..], "counts": {...}}}; a share list is None without counts."""
    out = {}
    for cls, svcs in sorted(layout_classes.items()):
        ws = [float(w) for w in cls.split("/")]
        ent = {"services": svcs, "target": [w / sum(ws) for w in ws], "counts": {}}
        for key in ("served", "first_to_clients", "first_by_anysteer"):
            c = [0] * len(ws)
            for r in rows:
                for svc in svcs:
                    mine = sorted((p for p in r["per_pod"].items() if p[1]["service"] == svc),
                                  key=lambda p: p[1].get("position", 0))
                    for k, (_, p) in enumerate(mine):
                        c[k] += p[key]
            ent["counts"][key] = c
            ent[key] = [x / sum(c) for x in c] if sum(c) else None
        out[cls] = ent
    return out


def flat_figures(row):
    lt, lf = row["latency_us"]["total"], row["latency_us"]["ttfb"]
    c = row["cpu_s_per_1k"]
    return {
        "lat_total_p50_us": lt["p50"], "lat_total_p99_us": lt["p99"],
        "lat_total_p999_us": lt["p999"],
        "lat_ttfb_p50_us": lf["p50"], "lat_ttfb_p99_us": lf["p99"],
        "lat_ttfb_p999_us": lf["p999"],
        "cpu_steering_per_1k": c["steering"], "cpu_backends_per_1k": c["backends"],
        "cpu_cluster_per_1k": c["cluster"], "cpu_resolver_per_1k": c["resolver"],
        "cpu_clients_per_1k": c["clients"],
        "rss_steering_peak_mb": round(row["peak_rss_kb"]["steering"] / 1024.0, 2),
        "rss_cluster_peak_mb": round(row["peak_rss_kb"]["cluster"] / 1024.0, 2),
        "client_resolutions": row["dns"]["client_resolutions"],
        "resolver_hit_rate": row["dns"]["resolver_hit_rate"],
        "agent_queries": row["dns"]["agent_queries"],
        "balance_max_over_mean": row["balance"]["max_over_mean"],
        "balance_cv": row["balance"]["cv"],
        "steer_err_served": row["steering_error"]["share_served"]["mean"],
        "steer_err_first_clients": row["steering_error"]["share_first_to_clients"]["mean"],
        "steer_err_first_anysteer": row["steering_error"]["share_first_by_anysteer"]["mean"],
        "requests_per_answer": row["dns"]["requests_per_answer"],
    }


def spread(values):
    xs = [v for v in values if v is not None]
    if not xs:
        return {"median": None, "min": None, "max": None, "n": 0, "values": values}
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs),
            "values": values}


def max_sustainable(rows, mode, rates, bound_us):
    """Highest offered rate at which, in every repetition, there were no
    errors and the achieved rate was >= 95 % of the offered one, and the
    median p99 over the repetitions was within the bound; and every lower
    rate passed too. None if the lowest rate fails."""
    best = None
    for r in sorted(rates):
        rs = [x for x in rows if x["mode"] == mode and x["rate"] == r]
        if not rs:
            break
        ok = all(x["errors_total"] == 0 and x["achieved_rps"] >= 0.95 * r for x in rs)
        p99 = statistics.median([x["lat_total_p99_us"] or 0 for x in rs])
        if not ok or p99 > bound_us:
            break
        best = r
    return best


def ratio_pairs(modes):
    """(a, b) for the ratios a/b: each DNS mode against each proxy, and
    the anycast resolver against the site resolver."""
    out = [(d, p) for d in ("dns", "dns-anycast") for p in ("nginx", "haproxy", "haproxy-lc")
           if d in modes and p in modes]
    if "dns" in modes and "dns-anycast" in modes:
        out.append(("dns-anycast", "dns"))
    return out


def summarize(exp, rows):
    o = exp.o
    modes = [m for m in o.modes if any(r["mode"] == m for r in rows)]
    rates = [r for r in o.rates if any(x["rate"] == r for x in rows)]
    by = {}
    for m in modes:
        by[m] = {}
        for r in rates:
            rs = sorted((x for x in rows if x["mode"] == m and x["rate"] == r),
                        key=lambda x: x["rep"])
            if not rs:
                continue
            fig = {k: spread([x[k] for x in rs]) for k, _, _, _ in FIGURES}
            pooled = {}
            for kind in ("total", "ttfb"):
                h = merge_all([x["histogram"][kind] for x in rs])
                pooled[kind] = h.summary() if h else None
            fig["pooled_latency_us"] = pooled
            fig["errors_by_kind"] = {k: sum(x["errors"].get(k, 0) for x in rs)
                                     for k in rs[0]["errors"]}
            fig["reps"] = [x["rep"] for x in rs]
            by[m][str(r)] = fig
    ratios = {}
    for a, b in ratio_pairs(modes):
        key = "%s/%s" % (a, b)
        ratios[key] = {}
        for r in rates:
            per = {}
            for k, _, _, _ in FIGURES:
                vals = []
                for rep in range(1, o.reps + 1):
                    x = [y for y in rows if y["mode"] == a and y["rate"] == r and y["rep"] == rep]
                    z = [y for y in rows if y["mode"] == b and y["rate"] == r and y["rep"] == rep]
                    if not x or not z or x[0][k] is None or z[0][k] in (None, 0):
                        vals.append(None)
                    else:
                        vals.append(x[0][k] / z[0][k])
                per[k] = spread(vals)
            ratios[key][str(r)] = per
    classes = {}
    for svc in exp.layout.services:
        classes.setdefault(exp.layout.weight_class(svc), []).append(svc)
    accuracy = {m: {str(r): shares_by_weights(
        [x for x in rows if x["mode"] == m and x["rate"] == r], classes)
        for r in rates if any(x["mode"] == m and x["rate"] == r for x in rows)}
        for m in modes}
    bound_us = o.p99_bound_ms * 1000
    mx = {m: max_sustainable(rows, m, rates, bound_us) for m in modes}
    meta = dict(exp.meta)
    setup = {
        "nodes": o.nodes, "pods_per_node": o.pods_per_node, "pods": len(exp.layout.pods),
        "services": exp.layout.services, "ingress_nodes": o.ingress, "sites": o.sites,
        "proxy_workers": o.proxy_workers, "service_us": o.service_us, "size": o.size,
        "clients_per_site": o.clients, "client_cache": o.client_cache, "reuse": o.reuse,
        "try_next": o.try_next, "arrival": o.arrival, "duration_s": o.duration,
        "warmup_s": o.warmup, "reps": o.reps, "rates": o.rates, "modes": list(o.modes),
        "ttl": o.ttl, "max_answers": o.max_answers, "ingress_ttl": o.ingress_ttl,
        "objective": getattr(o, "objective", None), "zones": getattr(o, "zones", 0),
        "timeout_ms": o.timeout_ms, "p99_bound_ms": o.p99_bound_ms, "quick": o.quick,
        "pods_of_service": {s: [p[0] for p in exp.layout.pods_of(s)]
                            for s in exp.layout.services},
        "steering_path": {m: list(v) for m, v in STEERING.items()},
        "cluster_adds": list(CLUSTER_EXTRA),
        "order": [[r["rep"], r["rate"], r["mode"]] for r in rows],
    }
    setup["bfd_ms"] = o.bfd_ms
    flaps = [[r["rep"], r["rate"], r["mode"], r["bgp_flaps"]] for r in rows if r.get("bgp_flaps")]
    setup["weights"] = exp.layout.weights
    setup["experiment"] = getattr(exp, "kind", "steady")
    setup["slow_nodes"] = sorted(exp.layout.slow_nodes)
    setup["slow_factor"] = exp.layout.slow_factor
    setup["slow_load"] = getattr(o, "slow_load", None)
    setup["resolver"] = getattr(o, "resolver", "site")
    setup["load"] = getattr(o, "load", "measured")
    setup["weight_classes"] = classes
    return {"meta": meta, "setup": setup, "modes": modes, "rates": rates, "bgp_flaps": flaps,
            "steering_accuracy": accuracy,
            "figures": [{"key": k, "label": lab, "unit": u, "lower_is_better": low}
                        for k, lab, u, low in FIGURES],
            "by_mode_rate": by, "ratios": ratios,
            "max_sustainable_rate": {m: {"rate": mx[m], "p99_bound_ms": o.p99_bound_ms,
                                         "highest_tested": max(rates) if rates else None}
                                     for m in modes},
            "runs": rows}


def write_outputs(out, summary):
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=False)
    keys = [k for k, _, _, _ in FIGURES]
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "rate", "stat"] + keys)
        for m, per in summary["by_mode_rate"].items():
            for r, fig in per.items():
                for stat in ("median", "min", "max"):
                    w.writerow([m, r, stat] + [_fmt(fig[k][stat]) for k in keys])
        for pair, per in summary["ratios"].items():
            for r, fig in per.items():
                for stat in ("median", "min", "max"):
                    w.writerow([pair, r, stat] + [_fmt(fig[k][stat]) for k in keys])
    with open(os.path.join(out, "shares.csv"), "w", newline="") as f:
        # Steering accuracy: pooled shares per pod position, per weight class.
        w = csv.writer(f)
        w.writerow(["mode", "rate", "class", "position", "target", "first_by_anysteer",
                    "first_to_clients", "served", "served_requests"])
        for m, per in summary["steering_accuracy"].items():
            for r, classes in per.items():
                for cls, e in classes.items():
                    for k, conf in enumerate(e["target"]):
                        w.writerow([m, r, cls, k, _fmt(conf)] + [
                            _fmt(e[key][k]) if e[key] else "" for key in (
                                "first_by_anysteer", "first_to_clients", "served")] +
                            [e["counts"]["served"][k]])
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rep", "rate", "mode", "sent", "ok"] + keys)
        for r in summary["runs"]:
            w.writerow([r["rep"], r["rate"], r["mode"], r["sent"], r["ok"]] +
                       [_fmt(r[k]) for k in keys])


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.6g" % v
    return v
