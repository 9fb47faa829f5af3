#!/usr/bin/env python3
"""Unit tests of the evaluation harness's pure parts (no root, no
network): the histogram layout shared with as-loadgen, merging and
percentiles, the interleaved run plan, the maximum sustainable rate, the
intended shares (fail open), the ratios, the generated configurations'
content, and the balance experiment's figures (load factors, targets,
per-pod latency, share series, time to shift, answer policies)."""
import os
import shutil
import struct
import sys
import tempfile
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evallib import analysis, balance, cluster, dnscap, hist, runall, steady  # noqa: E402
from evallib.backend import NamespaceBackend  # noqa: E402


class HistogramTest(unittest.TestCase):
    def test_layout_is_hdrhistograms(self):
        h = hist.Histogram(7)
        # Exact below S = 128, then 64 sub-buckets per power of two.
        self.assertEqual(h.bounds(0), (0, 1))
        self.assertEqual(h.bounds(127), (127, 128))
        self.assertEqual(h.bounds(128), (128, 130))
        self.assertEqual(h.bounds(191), (254, 256))
        self.assertEqual(h.bounds(192), (256, 260))
        # as-loadgen's eval_hist_index(): e << (b-1) + (v >> e), e = msb - (b-1).
        for v in (0, 1, 127, 128, 129, 255, 256, 1000, 12345, 999999, 60000000):
            msb = v.bit_length() - 1
            if v < 128:
                want = v
            else:
                e = msb - 6
                want = (e << 6) + (v >> e)
            self.assertEqual(h.index_of(v), want, v)
            lo, hi = h.bounds(h.index_of(v))
            self.assertTrue(lo <= v < hi, (v, lo, hi))
        # Relative bucket width stays under 1/64 above 128.
        for i in range(128, 2000):
            lo, hi = h.bounds(i)
            self.assertLessEqual((hi - lo) / lo, 1 / 64.0)
            self.assertEqual(h.bounds(i + 1)[0], hi)  # contiguous

    def test_percentiles_and_merge(self):
        a = hist.Histogram(7)
        for v in range(1, 101):         # 1..100 us, exact buckets
            a.record(v)
        self.assertEqual(a.percentile(0.5), 50)
        self.assertEqual(a.percentile(0.99), 99)
        self.assertEqual(a.percentile(1.0), 100)
        b = hist.Histogram.from_json({"sub_bucket_bits": 7, "counts": [[a.index_of(5000), 100]],
                                      "min": 5000, "max": 5001, "sum": 500050})
        m = hist.merge_all([a.to_json(), b.to_json()])
        self.assertEqual(m.count, 200)
        self.assertEqual(m.percentile(0.5), 100)
        lo, hi = m.bounds(m.index_of(5000))
        # The bucket's highest value, capped at the exact maximum (as
        # as-loadgen reports it).
        self.assertGreater(hi - 1, 5001)
        self.assertEqual(m.percentile(0.75), 5001)
        s = m.summary()
        self.assertEqual(s["min"], 1)
        self.assertEqual(s["max"], 5001)
        self.assertAlmostEqual(s["mean"], (5050 + 500050) / 200.0)
        # Without exact values on one side the max is the bucket's.
        c = hist.merge_all([a.to_json(), {"sub_bucket_bits": 7, "counts": [[300, 1]]}])
        self.assertEqual(c.summary()["max"], c.bounds(300)[1] - 1)
        self.assertIsNone(hist.Histogram(7).percentile(0.5))

    def test_rejects_bad_input(self):
        with self.assertRaises(ValueError):
            hist.Histogram.from_json({"counts": []})
        with self.assertRaises(ValueError):
            hist.Histogram(7, [[-1, 3]])
        with self.assertRaises(ValueError):
            hist.Histogram(7).merge(hist.Histogram(8))


def opts(**kw):
    o = dict(nodes=3, pods_per_node=2, services=4, reps=3, rates=[50, 200],
             modes=["dns", "nginx", "haproxy"], out="/tmp/x", p99_bound_ms=10.0)
    o.update(kw)
    return types.SimpleNamespace(**o)


class PlanTest(unittest.TestCase):
    def test_interleaved_and_rotated(self):
        exp = steady.Steady(opts(), "/nonexistent")
        plan = exp.plan()
        self.assertEqual(len(plan), 3 * 2 * 3)
        # Every (rep, rate) runs each mode once, back to back.
        for i in range(0, len(plan), 3):
            block = plan[i:i + 3]
            self.assertEqual(sorted(m for _, _, m, _ in block), ["dns", "haproxy", "nginx"])
            self.assertEqual(len({(r, x) for r, x, _, _ in block}), 1)
            self.assertEqual(len({s for _, _, _, s in block}), 1)  # same workload seed
        firsts = [plan[i][2] for i in range(0, len(plan), 3)]
        self.assertEqual(firsts, ["dns", "nginx", "haproxy", "dns", "nginx", "haproxy"])


def row(mode, rate, rep, p99, errors=0, achieved=None, cpu=1.0):
    r = {"mode": mode, "rate": rate, "rep": rep, "errors_total": errors,
         "achieved_rps": rate if achieved is None else achieved, "lat_total_p99_us": p99}
    for k, _, _, _ in analysis.FIGURES:
        r.setdefault(k, cpu)
    r["lat_total_p99_us"] = p99
    return r


class AnalysisTest(unittest.TestCase):
    def test_max_sustainable(self):
        rows = [row("dns", 100, i, 5000) for i in (1, 2, 3)] + \
               [row("dns", 200, i, 9000) for i in (1, 2, 3)] + \
               [row("dns", 400, i, 20000) for i in (1, 2, 3)]
        self.assertEqual(analysis.max_sustainable(rows, "dns", [100, 200, 400], 10000), 200)
        self.assertEqual(analysis.max_sustainable(rows, "dns", [100, 200, 400], 30000), 400)
        self.assertIsNone(analysis.max_sustainable(rows, "dns", [100, 200, 400], 1000))
        # One error in one repetition disqualifies the rate and those above.
        rows[4]["errors_total"] = 1
        self.assertEqual(analysis.max_sustainable(rows, "dns", [100, 200, 400], 30000), 100)
        rows[4]["errors_total"] = 0
        rows[7]["achieved_rps"] = 300     # < 95 % of 400
        self.assertEqual(analysis.max_sustainable(rows, "dns", [100, 200, 400], 30000), 200)

    def test_intended_shares_fail_open(self):
        svcs = [{"endpoints": [
            {"address": "a", "weight": 100, "effective_weight": 30.0, "load_factor": 0.3},
            {"address": "b", "weight": 100, "effective_weight": 90.0, "load_factor": 0.9}]},
            {"endpoints": [
                {"address": "c", "weight": 100, "effective_weight": 0.0, "load_factor": 0.0},
                {"address": "d", "weight": 300, "effective_weight": 0.0, "load_factor": 0.0}]}]
        s = analysis.intended_shares(svcs)
        self.assertAlmostEqual(s["a"][0], 0.25)
        self.assertAlmostEqual(s["b"][0], 0.75)
        self.assertAlmostEqual(s["c"][0], 0.25)   # configured weights
        self.assertAlmostEqual(s["d"][0], 0.75)

    def test_bgp_session_changes(self):
        up = ("up", "14:57:58.708")
        self.assertFalse(analysis._session_changed(up, ("up", "14:57:58.707")))
        self.assertTrue(analysis._session_changed(up, ("up", "14:58:03.100")))
        self.assertTrue(analysis._session_changed(up, ("start", "14:57:58.708")))
        self.assertTrue(analysis._session_changed(up, None))
        self.assertFalse(analysis._session_changed(("up", "23:59:59.900"), ("up", "00:00:00.100")))

    def test_spread_and_balance(self):
        self.assertEqual(analysis.spread([3, None, 1, 2])["median"], 2)
        self.assertEqual(analysis.spread([None])["median"], None)
        pods = {"p1": {"service": "s", "served": 10}, "p2": {"service": "s", "served": 30}}
        b = analysis._balance(["s"], pods)
        self.assertAlmostEqual(b["max_over_mean"], 1.5)
        self.assertAlmostEqual(b["cv"], 0.5)


class AccuracyTest(unittest.TestCase):
    def test_steering_error_is_total_variation(self):
        pods = {"a": {"service": "s", "target_share": 0.1, "x": 0.2},
                "b": {"service": "s", "target_share": 0.3, "x": 0.3},
                "c": {"service": "s", "target_share": 0.6, "x": 0.5},
                "d": {"service": "t", "target_share": 0.5, "x": 0.5},
                "e": {"service": "t", "target_share": 0.5, "x": 0.5}}
        e = analysis.steering_error(["s", "t"], pods, "x")
        self.assertAlmostEqual(e["by_service"]["s"], 0.1)
        self.assertAlmostEqual(e["by_service"]["t"], 0.0)
        self.assertAlmostEqual(e["mean"], 0.05)
        # No shares (a proxy has no DNS answers): no error, not 0.
        pods["d"]["x"] = pods["e"]["x"] = None
        e = analysis.steering_error(["s", "t"], pods, "x")
        self.assertIsNone(e["by_service"]["t"])
        self.assertAlmostEqual(e["mean"], 0.1)

    def test_shares_pooled_by_weight_class(self):
        def pod(svc, k, served):
            return {"service": svc, "position": k, "served": served, "first_to_clients": 0,
                    "first_by_anysteer": 0}
        rows = [{"per_pod": {"p1": pod("s1", 0, 1), "p2": pod("s1", 1, 3),
                             "p3": pod("s2", 1, 5), "p4": pod("s2", 0, 1)}},
                {"per_pod": {"p1": pod("s1", 0, 0), "p2": pod("s1", 1, 6),
                             "p3": pod("s2", 1, 0), "p4": pod("s2", 0, 4)}}]
        out = analysis.shares_by_weights(rows, {"10/30": ["s1", "s2"]})
        e = out["10/30"]
        self.assertEqual(e["counts"]["served"], [6, 14])   # by position, not by name
        self.assertAlmostEqual(e["served"][0], 0.3)
        self.assertAlmostEqual(e["target"][1], 0.75)
        self.assertIsNone(e["first_to_clients"])

    def test_ratio_pairs_and_modes(self):
        self.assertEqual(steady.expand_modes(["dns", "nginx"], "both"),
                         ["dns", "dns-anycast", "nginx"])
        self.assertEqual(steady.expand_modes(["dns", "haproxy"], "anycast"),
                         ["dns-anycast", "haproxy"])
        self.assertEqual(steady.expand_modes(["nginx", "dns"], "site"), ["nginx", "dns"])
        self.assertEqual(analysis.ratio_pairs(["dns", "dns-anycast", "nginx", "haproxy"]),
                         [("dns", "nginx"), ("dns", "haproxy"), ("dns-anycast", "nginx"),
                          ("dns-anycast", "haproxy"), ("dns-anycast", "dns")])
        self.assertEqual(analysis.ratio_pairs(["dns", "nginx"]), [("dns", "nginx")])
        self.assertEqual(analysis.ratio_pairs(["dns-anycast", "haproxy-lc"]),
                         [("dns-anycast", "haproxy-lc")])

    def test_forward_config_only_for_the_anycast_resolver(self):
        exp = steady.Steady(opts(modes=["dns", "nginx"], sites=2), "/nonexistent")
        self.assertIsNone(exp.forward_config())
        exp = steady.Steady(opts(modes=["dns-anycast"], sites=2), "/nonexistent")
        up, allow = exp.forward_config()
        self.assertEqual(up, ["[fd00:2::2]:53", "[fd00:2:0:1::2]:53"])
        self.assertEqual(allow, ["fd00:2::/48"])
        for s in (1, 2, 16):
            self.assertTrue(NamespaceBackend.site_addr(s).startswith("fd00:2:"))


class DnscapTest(unittest.TestCase):
    @staticmethod
    def response(addrs, qtype=28, rcode=0, qname=b"\x04svc1\x03svc\x07example\x00"):
        import socket
        import struct
        msg = struct.pack("!HHHHHH", 7, 0x8400 | rcode, 1, len(addrs), 0, 0)
        msg += qname + struct.pack("!HH", qtype, 1)
        for a in addrs:   # owner: a compression pointer to the question
            msg += struct.pack("!HHHIH", 0xC00C, 28, 1, 5, 16) + socket.inet_pton(socket.AF_INET6, a)
        return msg

    def test_parses_answers_in_order(self):
        r = dnscap.parse(self.response(["fd00:10:0:3::1", "fd00:10:0:1::2"]))
        self.assertEqual(r, (True, "svc1.svc.example.", 28, 0, ["fd00:10:0:3::1", "fd00:10:0:1::2"]))
        r = dnscap.parse(self.response([], qtype=1))   # QNAME minimisation's A probe: NODATA
        self.assertEqual(r[2:], (1, 0, []))

    def test_rejects_malformed(self):
        good = self.response(["fd00::1"])
        for bad in (good[:11], good[:20], good[:-3],
                    self.response([], qname=b"\xc0\x0c")):   # pointer loop in the question
            # What dnscap's loop counts as malformed and skips.
            with self.assertRaises((ValueError, struct.error, IndexError)):
                dnscap.parse(bad)

    def test_bpf_program_jumps_stay_inside(self):
        for n, (code, jt, jf, k) in enumerate(dnscap.BPF):
            if code == 0x15:
                self.assertLess(n + 1 + max(jt, jf), len(dnscap.BPF))
        self.assertEqual(dnscap.BPF[-1], (0x06, 0, 0, 0))   # the last instruction drops


class ConfigTest(unittest.TestCase):
    def test_layout_spreads_services(self):
        L = cluster.Layout(22, 2, 4)
        for s in L.services:
            pods = L.pods_of(s)
            self.assertEqual(len(pods), 11)
            self.assertEqual(len({p[1] for p in pods}), 11)  # 11 different nodes
        with self.assertRaises(ValueError):
            cluster.Layout(1, 2, 4)

    def test_proxies_list_every_pod(self):
        L = cluster.Layout(3, 2, 4)
        B = NamespaceBackend
        n = cluster.nginx_conf(L, B, "/d", B.vip, 2)
        h = cluster.haproxy_conf(L, B, "/d", B.vip, 2)
        for name, i, j, svc in L.pods:
            self.assertIn("server [%s]:80 max_fails=0;" % B.pod_addr(i, j), n)
            self.assertIn("server %s [%s]:80 check inter 2s" % (name, B.pod_addr(i, j)), h)
        self.assertIn("proxy_next_upstream error timeout;", n)
        self.assertIn("worker_processes 2;", n)
        self.assertIn("keepalive 320;", n)
        self.assertIn("balance roundrobin", h)
        self.assertIn("nbthread 2", h)
        y = cluster.services_yaml(L, B, 5, 2)
        self.assertEqual(y.count("- name: svc"), 4)
        self.assertIn('{ address: "fd00:10:0:3::2", node: node3 }', y)
        self.assertNotIn("weight", y + n + h)
        u = cluster.unbound_conf("/d", "fd00:2::2", B.anycast, B.router_addr)
        self.assertIn("stub-addr: fd00:53::53", u)
        self.assertNotIn("rrset-roundrobin: no", u)


    def test_objectives_per_service(self):
        # --objective: one for all, or per service; resilience spreads
        # over zones only when the nodes have them.
        L = cluster.Layout(4, 1, 3)
        B = NamespaceBackend
        self.assertEqual(steady.objectives_of(L.services, None), {})
        self.assertEqual(steady.objectives_of(L.services, "locality"),
                         {"svc1": "locality", "svc2": "locality", "svc3": "locality"})
        objs = steady.objectives_of(L.services, "svc1=locality, svc3=resilience")
        self.assertEqual(objs, {"svc1": "locality", "svc3": "resilience"})
        y = cluster.services_yaml(L, B, 5, 2, objs, zones=2).split("  - name: ")
        self.assertIn("intent: {objective: locality}", y[1])
        self.assertNotIn("intent", y[2])
        self.assertIn("intent: {objective: resilience, spread: zone}", y[3])
        self.assertIn("spread: node", cluster.services_yaml(L, B, 5, 2, objs, zones=0))

    def test_weights_everywhere_alike(self):
        L = cluster.Layout(5, 2, 4, weights=[10, 30, 60])
        B = NamespaceBackend
        self.assertEqual([len(L.pods_of(s)) for s in L.services], [3, 3, 2, 2])
        self.assertEqual(L.weight_class("svc1"), "10/30/60")
        self.assertEqual(L.weight_class("svc4"), "10/30")
        ws = L.weight_shares()
        for s in L.services:
            self.assertAlmostEqual(sum(ws[p[0]] for p in L.pods_of(s)), 1.0)
        third = L.pods_of("svc1")[2]
        self.assertAlmostEqual(ws[third[0]], 0.6)
        addr = B.pod_addr(third[1], third[2])
        y = cluster.services_yaml(L, B, 5, 2)
        self.assertIn('{ address: "%s", node: node%d, weight: 60 }' % (addr, third[1]), y)
        self.assertIn("server [%s]:80 weight=60 max_fails=0;" % addr,
                      cluster.nginx_conf(L, B, "/d", B.vip, 2))
        self.assertIn("server %s [%s]:80 check inter 2s weight 60" % (third[0], addr),
                      cluster.haproxy_conf(L, B, "/d", B.vip, 2))
        self.assertEqual(cluster.Layout(5, 2, 4).weight("n1p1"), 100)

    def test_slow_pods_and_leastconn(self):
        # The balance experiment: node 1's pods 4x slower; the target is
        # the capacity share, HAProxy gets a leastconn frontend too.
        L = cluster.Layout(5, 2, 4, slow_nodes=[1], slow_factor=4)
        B = NamespaceBackend
        self.assertEqual(L.service_us("n1p1", 200), 800)
        self.assertEqual(L.service_us("n2p1", 200), 200)
        t = L.target_shares()
        # svc1 = n1p1 (slow), n3p1, n5p1: capacities 0.25, 1, 1.
        self.assertAlmostEqual(t["n1p1"], 0.25 / 2.25)
        self.assertAlmostEqual(t["n3p1"], 1 / 2.25)
        self.assertEqual(L.weight_class("svc1"), "25/100/100")
        self.assertEqual(L.weight_class("svc3"), "100/100")
        # Without slow pods the target is the weight share.
        W = cluster.Layout(5, 2, 4, weights=[10, 30, 60])
        self.assertEqual(W.target_shares(), W.weight_shares())
        h = cluster.haproxy_conf(L, B, "/d", B.vip, 2, leastconn=True)
        self.assertIn("bind [%s]:%d" % (B.vip, cluster.HAPROXY_LC_PORT), h)
        self.assertEqual(h.count("balance leastconn"), 4)
        self.assertEqual(h.count("balance roundrobin"), 4)
        self.assertIn("use_backend svc2_lc if", h)
        self.assertNotIn("leastconn", cluster.haproxy_conf(L, B, "/d", B.vip, 2))


def _sp(v):
    return {"median": v, "min": v, "max": v, "n": 1, "values": [v]}


class RunAllTest(unittest.TestCase):
    """`tests/eval/run all`: the combined report from hand-built summaries,
    failure reasons, and the plan's estimate against the 90-minute budget
    (`run all --plan`: no root, nothing started)."""

    RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run")

    def steady_summary(self):
        fig = {k: _sp(None) for k, _, _, _ in analysis.FIGURES}
        fig.update({"achieved_rps": _sp(199.0), "errors_total": _sp(0),
                    "lat_total_p50_us": _sp(900.0), "lat_total_p99_us": _sp(5400.0),
                    "cpu_steering_per_1k": _sp(0.2), "balance_max_over_mean": _sp(1.5)})
        nginx = dict(fig, lat_total_p99_us=_sp(8000.0), errors_total=_sp(3))
        return {"meta": {}, "modes": ["dns", "nginx"], "rates": [200],
                "by_mode_rate": {"dns": {"200": fig}, "nginx": {"200": nginx}},
                "ratios": {"dns/nginx": {"200": {"lat_total_p99_us": _sp(0.675),
                                                  "cpu_steering_per_1k": _sp(1.0),
                                                  "cpu_cluster_per_1k": _sp(1.0)}}},
                "max_sustainable_rate": {"dns": {"rate": 200, "p99_bound_ms": 50.0},
                                         "nginx": {"rate": None, "p99_bound_ms": 50.0}}}

    def failover_summary(self):
        m = {"scenario": "pod-kill", "mode": "dns", "ttl": 5, "client_cache": "ttl",
             "try_next": "off", "n": 5, "injected": 4, "sent": 3000, "failed": 40,
             "failed_max": 90, "errors": {"connect_refused": 40}, "last_fail_s": 4.2,
             "stop_to_dead_s": 4.2, "to_dead_until_end": 0, "has_dead": True,
             "p99_before_ms": 10.0, "p99_peak_ms": 80.0}
        return {"meta": {"incomplete": True}, "medians": [m], "runs": [{"huge": "x" * 100}]}

    def results(self):
        est = {"runs": 1, "run_s": 10.0, "setup_s": 5.0, "total_s": 600}
        base = {"estimate": est, "rc": 0, "wall_s": 630.0, "reason": None, "plots": [],
                "report": None, "summary": None}
        return [
            dict(base, name="steady", argv=["steady", "--resolver", "site"], status="ok",
                 what="22 nodes, modes dns,nginx",
                 summary=self.steady_summary(), report="steady/report.md",
                 plots=["steady/plots/latency_p99.png"]),
            dict(base, name="failover", argv=["failover"], status="failed", rc=1,
                 reason="exit 1: failed: RuntimeError: HAProxy to see every pod UP: timed out",
                 summary=self.failover_summary(), report="failover/report.md"),
            dict(base, name="scale", argv=["scale"], status="failed", rc=1,
                 reason="exit 1: no summary", summary={"steps": "not a list"}),
            dict(base, name="srv6", argv=["srv6"], status="not run", rc=None, wall_s=None,
                 reason="interrupted before it started"),
        ]

    def test_combine(self):
        meta = {"started": "2026-12-07 10:00", "host": "h", "cpus": 2, "quick": False,
                "loadavg_before": "1 1 1", "loadavg_after": "2 2 2", "total_s": 1900.0,
                "estimate_s": 2400, "budget_s": 5400}
        text, s = runall.combine(meta, self.results())
        # What failed, and why, up front and per experiment.
        self.assertEqual(s["failed"], ["failover", "scale", "srv6"])
        self.assertIn("**Not everything succeeded**: failover failed (exit 1: failed: "
                      "RuntimeError: HAProxy to see every pod UP: timed out)", text)
        self.assertIn("srv6 not run (interrupted before it started)", text)
        self.assertIn("| steady | ok | 10.5 | 10.0 | `tests/eval/run steady --resolver site` "
                      "| [report.md](steady/report.md) |", text)
        self.assertIn("whole run 31.7 min (estimated 40.0 min, budget 90.0 min)", text)
        # Each experiment's headline table, from its summary.
        self.assertIn("| dns | 200 | 199 | 0 | 0.90 | 5.40 | 0.200 | 1.50 |", text)
        self.assertIn("| nginx | 200 | 199 | 3 | 0.90 | 8.00 | 0.200 | 1.50 |", text)
        self.assertIn("- max sustainable rate nginx (p99 <= 50 ms): below the lowest rate", text)
        self.assertIn("| pod-kill | dns | 5 | ttl | off | 5 | 40 (90) | connect_refused=40 "
                      "| 4.2 | 4.2 | 10 / 80 |", text)
        self.assertIn("Fault not confirmed in 1 group(s): pod-kill/dns.", text)
        self.assertIn("Incomplete: the runs measured before it stopped.", text)
        # A summary it cannot read does not stop the report.
        self.assertIn("(no headline from its summary.json: TypeError", text)
        self.assertIn("Plots: [latency_p99](steady/plots/latency_p99.png)", text)
        self.assertEqual(text.count("\n## "), 6)
        self.assertIn("- steady: 22 nodes, modes dns,nginx", text)
        self.assertIn("- scale: -", text)
        # The combined summary: statuses, estimates, headline data (not
        # every run of every experiment).
        e = s["experiments"]
        self.assertEqual({k: v["status"] for k, v in e.items()},
                         {"steady": "ok", "failover": "failed", "scale": "failed",
                          "srv6": "not run"})
        self.assertEqual(e["steady"]["headline"]["by_mode_rate"][1]["errors"], 3)
        self.assertEqual(e["failover"]["headline"]["medians"][0]["failed"], 40)
        self.assertNotIn("runs", e["failover"]["headline"])
        self.assertIsNone(e["scale"]["headline"])
        self.assertEqual(e["srv6"]["estimate"]["total_s"], 600)
        self.assertEqual(s["meta"]["total_s"], 1900.0)

    def test_all_ok(self):
        r = self.results()[:1]
        text, s = runall.combine({"total_s": 60}, r)
        self.assertEqual(s["failed"], [])
        self.assertNotIn("Not everything succeeded", text)

    def test_failure_reason(self):
        log = ("[10:00:01] cluster: 22 nodes\n[10:05:00] failed: RuntimeError: every agent "
               "to see 2000 endpoints healthy: timed out\nTraceback (most recent call last):\n"
               "  File x\nRuntimeError: boom\n[10:05:03] torn down in 2.0 s\n")
        self.assertEqual(runall.failure_reason(1, log),
                         "exit 1: failed: RuntimeError: every agent to see 2000 endpoints "
                         "healthy: timed out")
        self.assertEqual(runall.failure_reason(77, "tests/eval/run: needs root (network "
                                                   "namespaces)\n"),
                         "skipped (77): tests/eval/run: needs root (network namespaces)")
        self.assertEqual(runall.failure_reason(-9, ""), "killed by signal 9")
        self.assertEqual(runall.failure_reason(2, "a\nlast words\n"), "exit 2: last words")
        self.assertIsNone(runall.failure_reason(0, "failed: x"))

    def test_run_all_goes_on_after_a_failure(self):
        """The driver with a stand-in for tests/eval/run: the failing
        experiment is reported, the ones after it still run."""
        import json
        import shutil
        import tempfile
        d = tempfile.mkdtemp(prefix="anysteer-runall-")
        try:
            fake = os.path.join(d, "fake-run")
            with open(os.path.join(d, "steady.json"), "w") as f:
                json.dump(self.steady_summary(), f)
            with open(fake, "w") as f:
                f.write("""import json, os, shutil, sys
name, out = sys.argv[1], sys.argv[sys.argv.index("--out") + 1]
if name == "failover":
    print("[10:00:00] failed: RuntimeError: the victim did not die")
    sys.exit(1)
os.makedirs(os.path.join(out, "plots"), exist_ok=True)
shutil.copy(%r, os.path.join(out, "summary.json"))
open(os.path.join(out, "report.md"), "w").write("# x")
open(os.path.join(out, "plots", "p.png"), "w").write("png")
print("ran", name)
""" % os.path.join(d, "steady.json"))
            out = os.path.join(d, "all")
            est = {"runs": 1, "run_s": 1.0, "setup_s": 0.0, "total_s": 1}
            plan = [{"name": n, "argv": [n, "--out", os.path.join(out, n)], "estimate": est,
                     "what": ""} for n in ("failover", "steady")]
            rc = runall.run_all(plan, out, fake, 5400, True)
            self.assertEqual(rc, 1)
            with open(os.path.join(out, "summary.json")) as f:
                s = json.load(f)
            self.assertEqual(s["failed"], ["failover"])
            e = s["experiments"]
            self.assertEqual((e["failover"]["status"], e["failover"]["rc"]), ("failed", 1))
            self.assertEqual(e["failover"]["reason"],
                             "exit 1: failed: RuntimeError: the victim did not die")
            self.assertEqual(e["steady"]["status"], "ok")
            self.assertEqual(e["steady"]["plots"], ["steady/plots/p.png"])
            with open(os.path.join(out, "steady", "run.log")) as f:
                self.assertEqual(f.read(), "ran steady\n")
            with open(os.path.join(out, "report.md")) as f:
                text = f.read()
            self.assertIn("failover failed (exit 1: failed: RuntimeError: the victim did "
                          "not die)", text)
            self.assertIn("| dns | 200 | 199 | 0 |", text)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def plan(self, *args):
        import subprocess
        r = subprocess.run([sys.executable, self.RUN, "all", "--plan"] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        rows = {ln.split()[0]: ln.split() for ln in lines[1:-1]}
        total = float(lines[-1].split()[1])
        return rows, total, r.stdout

    def test_plan_fits_the_budget(self):
        rows, total, text = self.plan()
        # Every experiment, at 22 nodes, within 90 minutes.
        self.assertEqual(list(rows), list(runall.EXPERIMENTS))
        self.assertLessEqual(total, 90.0, text)
        self.assertGreater(total, 30.0, text)
        self.assertAlmostEqual(total, sum(float(r[4]) for r in rows.values()), delta=0.3)
        for name in ("steady", "balance", "failover"):
            self.assertIn("22 nodes", text.split("\n%s " % name, 1)[1].split("\n")[0])
        self.assertEqual(int(rows["failover"][1]), 7 * 3 * 5)
        rows, total, text = self.plan("--quick")
        self.assertLessEqual(total, 25.0, text)
        self.assertEqual(int(rows["failover"][1]), 3)
        # Over the budget: refused, unless forced (--plan only prints).
        import subprocess
        r = subprocess.run([sys.executable, self.RUN, "all", "--only", "failover", "--opts",
                            "failover=--ttl 1,5,30 --client-cache ttl,none"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("over the budget of 90 min", r.stderr)
        rows, total, text = self.plan("--only", "failover", "--opts", "failover=--ttl 1,5,30")
        self.assertEqual(int(rows["failover"][1]), 7 * 5 * 5)
        self.assertGreater(total, 90.0)

    def test_estimates(self):
        # failover: every run's load plus its overhead; a rolling update
        # lasts as long as the service has pods.
        o = types.SimpleNamespace(nodes=5, pods_per_node=2, services=1, ttl=[1],
                                  client_cache=["ttl"], try_next=["off"], repeat=2,
                                  scenario=["pod-kill", "rolling-update"],
                                  modes=["dns", "nginx"], pre=3.0, post=None)
        from evallib import failover, scale
        e = failover.estimate(o)
        self.assertEqual(e["runs"], 2 * 2 * 2)
        load = 2 * ((3 + 10) + (3 + 12) + 2 * (3 + 2.0 * 10 + 8))
        over = 2 * 2 * (failover.RUN_OVERHEAD_S["pod-kill"] +
                        failover.RUN_OVERHEAD_S["rolling-update"])
        self.assertAlmostEqual(e["total_s"], round(load + over + e["setup_s"]), delta=1)
        # scale: bigger steps cost more.
        so = types.SimpleNamespace(nodes=[3], services=[10], clients=[100], duration=3.0,
                                   window=5.0, tta_reps=3, proxy_modes=[], churn_duration=6.0,
                                   model_sizes=[], model_services=[])
        small = scale.estimate(so)["total_s"]
        so.nodes, so.services = [22], [1000]
        self.assertGreater(scale.estimate(so)["total_s"], small + 60)

def _events(t0, spec):
    """One site's events: spec = [(t_sched_s, latency_s, pod)], ok unless
    pod is None."""
    return (t0, [(ts, ts + lat, "ok" if pod else "connect_refused", pod or "", "", "")
                 for ts, lat, pod in spec])


class BalanceTest(unittest.TestCase):
    L = cluster.Layout(5, 2, 4, slow_nodes=[1], slow_factor=5)

    def test_load_factor_and_capacity_load(self):
        self.assertEqual(balance.load_factor(0.3), 1.0)
        self.assertEqual(balance.load_factor(0.95), 0.0)
        self.assertAlmostEqual(balance.load_factor(0.88), 0.2)
        # The load that tells anysteer a pod has 1/5 of the capacity.
        self.assertAlmostEqual(balance.capacity_load(5), 0.88)
        self.assertAlmostEqual(balance.load_factor(balance.capacity_load(4)), 0.25)

    def test_targets_with_factor(self):
        L = self.L
        self.assertEqual(balance.slow_services(L), ["svc1", "svc2"])
        sh = balance.shares_with_factor(L, 1.0)
        self.assertAlmostEqual(sh["n1p1"], 1 / 3)
        sh = balance.shares_with_factor(L, 0.2)
        # Told the capacity, anysteer aims at the target shares.
        for p, t in L.target_shares().items():
            self.assertAlmostEqual(sh[p], t, msg=p)
        self.assertAlmostEqual(balance.pooled_slow_share(L, sh), 0.2 / 2.2)
        self.assertIsNone(balance.pooled_slow_share(cluster.Layout(2, 1, 2), sh))

    def test_pod_latency_leaves_out_warmup_and_failures(self):
        ev = [_events(0, [(0.5, 0.9, "n1p1"), (1.5, 0.010, "n1p1"), (1.6, 0.020, "n1p1"),
                          (1.7, 0.001, "n3p1"), (1.8, 0.5, None)])]
        h = balance.pod_latency(ev, warmup=1.0)
        self.assertEqual(sorted(h), ["n1p1", "n3p1"])
        self.assertEqual(h["n1p1"].count, 2)
        self.assertEqual(h["n1p1"].percentile(0.99), 20000)
        self.assertEqual(h["n3p1"].percentile(0.5), 1000)
        j = balance.latency_json(h)
        self.assertEqual(j["n1p1"]["n"], 2)
        # Bucket bound (< 1.6 % above the value), as as-loadgen's.
        self.assertTrue(10000 <= j["n1p1"]["p50_us"] < 10160, j["n1p1"])
        self.assertEqual(hist.Histogram.from_json(j["n1p1"]["hist"]).count, 2)

    def test_share_series_aligned_on_the_change(self):
        L = self.L
        # Site 1 changes at 3.0 s of its clock, site 2 (started 1 s later) at 2.0 s.
        spec1 = [(2.1, 0.001, "n1p1"), (2.2, 0.001, "n3p1"), (3.1, 0.001, "n3p1"),
                 (3.2, 0.001, "n5p1"), (3.3, 0.001, "n1p2"), (0.5, 0.001, "n1p1")]
        spec2 = [(2.5, 0.001, "n3p2"), (1.5, 0.001, "n1p2"), (2.6, 0.001, None)]
        s = balance.share_series([_events(0, spec1), _events(10 ** 9, spec2)], [3.0, 2.0],
                                 1.0, L)
        self.assertEqual(s["t"], [-1, 0])
        self.assertEqual(s["pods"]["n1p1"], [0.5, 0.0])
        self.assertEqual(s["pods"]["n3p1"], [0.5, 0.5])
        self.assertEqual(s["requests"]["svc1"], [2, 2])
        self.assertEqual(s["requests"]["svc2"], [1, 2])
        self.assertEqual(s["pods"]["n2p1"], [None, None])
        # Pooled: svc1 0.5 and svc2 1.0 (n1p2 is slow) before; 0 and 0.5 after.
        self.assertEqual(s["slow"], [0.75, 0.25])
        self.assertEqual(s["slow_requests"], [3, 4])
        self.assertEqual(balance.share_series([], [], 1.0, L)["t"], [])

    def test_time_to_shift(self):
        t = [-2, -1, 0, 1, 2, 3, 4, 5]
        n = [50] * 8
        x = [0.33, 0.33, 0.30, 0.20, 0.12, 0.16, 0.08, 0.10]
        f = balance.time_to_shift
        # Within 0.09 +- 0.05 from second 4 on (3 is at 0.16).
        self.assertEqual(f(t, x, n, 0.09, 0.05), 4)
        self.assertEqual(f(t, x, n, 0.09, 0.08), 2)
        self.assertEqual(f(t, x, n, 0.33, 0.05), None)
        # Already there at the change (the proxies when the target stays).
        self.assertEqual(f(t, [0.33] * 8, n, 0.33, 0.05), 0)
        # Thin seconds do not count; nothing after the change: None.
        self.assertEqual(f(t, x[:5] + [0.9] + x[6:], n[:5] + [3] + n[6:], 0.09, 0.05), 2)
        self.assertEqual(f(t[:2], x[:2], n[:2], 0.33, 0.05), None)
        self.assertAlmostEqual(balance.mean_share(t, x, [10, 30] + n[2:], -10, 0), 0.33)
        self.assertAlmostEqual(balance.mean_share(t, x, n, 4, 6), 0.09)
        self.assertIsNone(balance.mean_share(t, x, n, 10, 12))

    def test_policies_and_catalog(self):
        self.assertEqual(balance.policies([1, 4], [1, 30]), [(1, 1), (1, 30), (4, 1), (4, 30)])
        y = cluster.services_yaml(self.L, NamespaceBackend, 5, 2)
        node = "dns:\n  zone: svc.example\n" + y
        z = balance.with_policy(node, 4, 30)
        self.assertEqual(z.count("    ttl: 30\n"), 4)
        self.assertEqual(z.count("    max_answers: 4\n"), 4)
        self.assertNotIn("ttl: 5", z)
        self.assertTrue(z.startswith("dns:\n  zone: svc.example\n"))

    def test_shift_action_defaults(self):
        o = types.SimpleNamespace(shift_load=None, slow_load=None, slow_factor=5.0)
        self.assertEqual(balance.shift_action(o), ("set", 0.88))
        o.slow_load = 0.88
        self.assertEqual(balance.shift_action(o), ("clear", None))
        o.shift_load = 0.7
        self.assertEqual(balance.shift_action(o), ("set", 0.7))

    def test_move_budget(self):
        """The slow node's factor moves in a CI run (n1's log, s after its
        start): set, clear, set at once; the 2nd clear waited 8.9 s for a
        token, nginx's set 15.3 s, past the run's end (cleared at 55.2),
        haproxy-lc's (at 59.9) 0.1 s."""
        b = balance.MoveBudget(0.0)
        for t in (13.64, 19.475, 25.267):
            self.assertEqual(b.move(t), t)
        self.assertAlmostEqual(b.move(31.146), 40.0, places=1)
        self.assertAlmostEqual(b.ready_at(44.677), 60.0, places=1)
        self.assertAlmostEqual(b.move(44.677), 60.0, places=1)
        # A long quiet time fills the bucket to its burst, no more.
        for k in range(3):
            self.assertEqual(b.move(1000.0 + k), 1000.0 + k)
        self.assertAlmostEqual(b.ready_at(1003.0), 1020.0, places=1)

    def test_estimate(self):
        """Steady's runs and the sweep's DNS runs; with --shift-at the DNS
        runs also wait for the slow nodes' tokens (two moves a run), the
        proxies' runs not."""
        from evallib import runall
        o = types.SimpleNamespace(warmup=1.0, duration=8.0, reps=1, rates=[400],
                                  modes=["dns", "dns-anycast", "nginx", "haproxy-lc"],
                                  max_answers=2, ttl=5, sweep_answers=None, sweep_ttls=None,
                                  slow_load=None, shift_at=None, nodes=5)
        run_s = 1 + 8 + runall.STEADY_RUN_OVERHEAD_S
        fixed = runall.STEADY_SETUP_S + 5 * runall.STEADY_SETUP_PER_NODE_S + runall.TEARDOWN_S
        e = balance.estimate(o)
        self.assertEqual(e["runs"], 4)
        self.assertAlmostEqual(e["total_s"], 4 * run_s + fixed, delta=1)
        # The sweep: one more setting (the default is not run again), the
        # two DNS modes once each.
        o.sweep_answers, o.sweep_ttls = [1, 2], [5]
        e = balance.estimate(o)
        self.assertEqual(e["runs"], 6)
        self.assertAlmostEqual(e["total_s"], 6 * run_s + fixed + balance.POLICY_SET_S +
                               5 * balance.POLICY_SET_PER_NODE_S, delta=1)
        # The shift: 2 tokens at start (burst 3, one taken by the start).
        # dns: change at 4 s, restore at 14.5 s (0.725 left); dns-anycast
        # waits 1 s for a token (20 s + 1.5 s slack - its change at 20.5 s),
        # its restore at 32 s waits until 40 s; the proxies' runs move nothing.
        o.sweep_answers = o.sweep_ttls = None
        o.shift_at = 3.0
        e = balance.estimate(o)
        self.assertAlmostEqual(e["total_s"], 4 * run_s + fixed + 2 * balance.RESTORE_S + 1 + 8,
                               delta=1)
        o.modes, o.reps = ["dns"], 10
        e = balance.estimate(o)
        self.assertGreater(e["total_s"], 10 * 2 * balance.FACTOR_MOVE_INTERVAL_S - 60)
        self.assertLess(e["total_s"], 10 * (2 * balance.FACTOR_MOVE_INTERVAL_S + run_s) + fixed)
        o.modes = ["nginx"]
        self.assertAlmostEqual(balance.estimate(o)["total_s"], 10 * run_s + fixed, delta=1)

    def test_summary_report_and_files(self):
        """The balance summary, report section and CSVs from fabricated runs."""
        L = self.L
        o = types.SimpleNamespace(shift_at=2.0, shift_band=0.05, shift_load=None,
                                  slow_load=None, slow_factor=5.0, max_answers=2, ttl=5)
        target = L.target_shares()

        def row(mode, rep, slow_after, policy=None):
            spec = []
            for k in range(-2, 3):
                for svc in ("svc1", "svc2", "svc3", "svc4"):
                    pods = L.pods_of(svc)
                    for q in range(30):
                        slow = [p for p in pods if p[1] == 1]
                        share = (slow_after if k >= 0 else 1 / 3) if slow else 0
                        pick = slow[0] if slow and q < share * 30 else \
                            [p for p in pods if p[1] != 1][q % (len(pods) - len(slow))]
                        spec.append((3.0 + k + q / 31.0, 0.002 if pick[1] == 1 else 0.001,
                                     pick[0]))
            ev = [_events(0, spec)]
            ser = balance.share_series(ev, [3.0], 1.0, L)
            served = {p[0]: sum(1 for x in spec if x[2] == p[0]) for p in L.pods}
            per_pod = {}
            for name, i, j, svc in L.pods:
                tot = sum(served[p[0]] for p in L.pods_of(svc))
                per_pod[name] = {"service": svc, "served": served[name],
                                 "target_share": target[name],
                                 "share_served": served[name] / tot}
            ta = balance.pooled_slow_share(L, balance.shares_with_factor(L, 0.2))
            r = {"mode": mode, "rate": 400, "rep": rep, "ok": len(spec), "errors_total": 0,
                 "per_pod": per_pod, "share_series": ser, "lat_total_p99_us": 2000,
                 "pod_latency": balance.latency_json(balance.pod_latency(ev, 1.0)),
                 "steer_err_served": 0.1, "steer_err_first_clients": 0.1,
                 "steer_err_first_anysteer": 0.05, "requests_per_answer": 3.0,
                 "agent_queries": 100, "dns": {}, "policy": policy,
                 "shift": {"time_to_shift_s": balance.time_to_shift(
                     ser["t"], ser["slow"], ser["slow_requests"], ta, 0.05),
                     "agents_saw_s": 0.3, "applied_s": 2.0,
                     "share_before": balance.mean_share(ser["t"], ser["slow"],
                                                        ser["slow_requests"], -9, 0),
                     "share_after": balance.mean_share(ser["t"], ser["slow"],
                                                       ser["slow_requests"], 0, 9),
                     "target_before": 1 / 3, "target_after": ta}}
            if mode not in ("dns", "dns-anycast"):
                del r["shift"]  # the proxies' runs have no change
            return r
        rows = [row("dns-anycast", 1, 0.1), row("nginx", 1, 1 / 3)]
        prow = [row("dns-anycast", 1, 0.4, {"max_answers": 1, "ttl": 1})]
        summary = {"modes": ["dns-anycast", "nginx"], "rates": [400], "runs": rows,
                   "setup": {}}
        b = balance.summarize(o, L, summary, rows, prow)
        summary["balance"] = b
        self.assertEqual(b["slow_pods"], ["n1p1", "n1p2"])
        pods = b["per_pod"]["dns-anycast"]["400"]["pods"]
        self.assertTrue(pods["n1p1"]["slow"])
        self.assertEqual(pods["n1p1"]["p99_us"], 2000)
        self.assertEqual(pods["n3p1"]["p50_us"], 1000)
        sh = b["shift"]["by_mode"]
        self.assertEqual(sh["dns-anycast"]["400"]["time_to_shift_s"]["median"], 0)
        self.assertEqual(len(sh["dns-anycast"]["400"]["series"]["t"]), 5)
        self.assertNotIn("nginx", sh)
        self.assertEqual([(p["max_answers"], p["ttl"], p["default"]) for p in b["policies"]],
                         [(1, 1, False), (2, 5, True)])
        # The setting whose slow pods got 40 % is further from the target.
        self.assertGreater(b["policies"][0]["slow_share_served"]["median"],
                           b["policies"][1]["slow_share_served"]["median"])
        text = "\n".join(balance.report_lines(summary))
        for want in ("## Balance: per-pod latency", "n1p1 (slow)", "cluster p99 ms",
                     "## Balance: share shift", "load set 0.88", "| dns-anycast | 400 |",
                     "## Balance: answer policies", "| 1 | 1 | dns-anycast"):
            self.assertIn(want, text)
        d = tempfile.mkdtemp(prefix="evalbal-")
        try:
            balance.write_csvs(d, summary)
            with open(os.path.join(d, "shift.csv")) as f:
                lines = f.read().splitlines()
            self.assertEqual(len(lines), 1 + 2 * 5 * len(L.pods))
            for name in ("pod_latency.csv", "policies.csv"):
                self.assertTrue(os.path.getsize(os.path.join(d, name)) > 100)
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                return
            made = balance.plots(d, summary)
            self.assertEqual(sorted(made), sorted(balance.PLOTS))
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
