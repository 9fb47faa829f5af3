#!/usr/bin/env python3
"""Intents on a real cluster (issue 16): four anysteerd processes gossiping
on loopback, n1 and n2 in zone a, n3 and n4 in zone b, one endpoint each.

  1. Locality: every answer at a zone-a node holds zone-a endpoints only
     (and at a zone-b node zone b's, unless the client's source address
     places it in zone a).
  2. Spill-over (spill_over 0.5): n2 overloaded (anysteerctl load set 1,
     factor 0): zone a's load is 0.5, at the threshold, so the first
     address at n1 stays n1's and the second comes from zone b (n2 is
     loaded, zone b is not). n1 overloaded too: the zone's load is 1 and
     answers leave it: zone b only. Cleared: back to zone a. A client
     whose EDNS Client Subnet lies in a prefix of zone a
     (dns.client_zones) gets zone a at a zone-b node, scope echoed; so
     does a client without one whose source address lies there.
  3. Resilience by zone: no answer has two addresses of one zone, and
     every answer has one of each (max_answers 4, two zones).
  4. Resilience by node: four distinct nodes per answer.
  5. Latency: once the probes have given network coordinates, explain
     at n3 says the objective applied is latency, with an RTT estimate
     for every endpoint (0 for its own); on loopback all are within the
     tie band. n3 overloaded: its own endpoint is never the first
     address (the others are as near).

Endpoints are 127.0.1.N on a port this test listens on, so the TCP
health probes pass. Every step waits on a condition, never on a sleep.
"""
import os
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (Acceptor, Daemon, free_port, main_skip77,  # noqa: E402
                           query_a, sanitizer_report)

ZONE = "svc.example."
ZONES = {1: "a", 2: "a", 3: "b", 4: "b"}
QUERIES = 60


def ep(i):
    return "127.0.1.%d" % i


ZONE_OF = {ep(i): z for i, z in ZONES.items()}


class IntentsTest(unittest.TestCase):
    def setUp(self):
        self.daemons = []
        self.svc_port = free_port()
        self.acceptor = Acceptor([ep(i) for i in ZONES], self.svc_port)

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        self.acceptor.close()

    def make_node(self, i, seeds):
        def config(d):
            d.gossip_port = getattr(d, "gossip_port", None) or free_port()
            return """node: {name: %(name)s, zone: %(zone)s}
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(dzone)s
  workers: 1
  client_zones: [{prefix: "fd00:aa::/48", zone: a}%(czextra)s]
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
# A pinned signal: answers follow the test's overrides, not the machine.
load: {interval: 250ms, source: static, value: 0.1, override: true}
gossip:
  bind: "[::1]:%(gport)d"
  seeds: [%(seeds)s]
  cluster: it-intents
  plaintext: true
  probe_interval: 200ms
  probe_timeout: 100ms
health: {interval: 250ms, timeout: 200ms, rise: 2, fall: 2}
services:
  - name: web
    port: %(sport)d
    max_answers: 2
    intent: {objective: locality, spill_over: 0.5}
    endpoints:
      - { address: "%(ep)s" }
  - name: db
    port: %(sport)d
    max_answers: 4
    intent: {objective: resilience, spread: zone}
    endpoints:
      - { address: "%(ep)s" }
  - name: cache
    port: %(sport)d
    max_answers: 4
    intent: {objective: resilience, spread: node}
    endpoints:
      - { address: "%(ep)s" }
  - name: near
    port: %(sport)d
    max_answers: 1
    intent: {objective: latency}
    endpoints:
      - { address: "%(ep)s" }
""" % {"name": d.name, "zone": ZONES[i], "port": d.port, "dzone": ZONE,
                "ctl": d.ctl, "gport": d.gossip_port, "sport": self.svc_port,
                "mport": d.metrics_port,
                # n4 places the test's own queries (from ::1) in zone a
                "czextra": ', {prefix: "::1/128", zone: a}' if i == 4 else "",
                "ep": ep(i),
                "seeds": ", ".join('"[::1]:%d"' % p for p in seeds)}
        d = Daemon(config, name="n%d" % i)
        d.make = config
        self.daemons.append(d)
        return d

    def wait_for(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        logs = "\n".join("%s:\n%s" % (d.name, "\n".join(
            d.log().splitlines()[-10:])) for d in self.daemons)
        self.fail("timed out waiting for %s\n%s" % (what, logs))

    def metrics(self, d):
        """The samples of d's /metrics (DNS counters are read live)."""
        with urllib.request.urlopen("http://[::1]:%d/metrics"
                                    % d.metrics_port, timeout=5) as r:
            out = {}
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, _, v = line.rpartition(" ")
                    out[k] = float(v)
            return out

    def answers(self, d, name, n=QUERIES):
        out = []
        for _ in range(n):
            a = query_a(d.port, name + "." + ZONE)
            self.assertIsNotNone(a, "no answer from %s" % d.name)
            out.append(a)
        return out

    def test_intents(self):
        nodes = [self.make_node(i, []) for i in sorted(ZONES)]
        seeds = [nodes[0].gossip_port]
        for d in nodes:
            d.write_config(d.make(d).replace(
                "seeds: []", "seeds: [%s]" % ", ".join(
                    '"[::1]:%d"' % p for p in seeds)))
            d.start(wait=False)
        for d in nodes:
            d.wait_ready()
        n1 = nodes[0]
        every = {ep(i) for i in ZONES}

        # Converged: every node's resilience-by-node answers hold every
        # endpoint (n1's alone was not enough: a loaded run found n3 still
        # without n4's endpoint, so zone b had too few and spilled over),
        # and every member's zone is known.
        for d in nodes:
            self.wait_for("%s to see 4 healthy endpoints" % d.name,
                          lambda d=d: set(query_a(d.port, "cache." + ZONE) or []) == every)
        members = {m["name"]: m for m in n1.ctl_json("members")}
        self.assertEqual({k: v["zone"] for k, v in members.items()},
                         {"n%d" % i: z for i, z in ZONES.items()})

        # 1. locality: zone a only, at both zone-a nodes
        for d in nodes[:2]:
            for a in self.answers(d, "web"):
                self.assertEqual(sorted(a), [ep(1), ep(2)], d.name)
        for a in self.answers(nodes[2], "web"):
            self.assertEqual(sorted(a), [ep(3), ep(4)])
        # n4 is in zone b, but its dns.client_zones puts ::1 in zone a:
        # the source address places a client without a Client Subnet,
        # over UDP and TCP alike
        for a in self.answers(nodes[3], "web"):
            self.assertEqual(sorted(a), [ep(1), ep(2)])
        a = nodes[3].kdig("web." + ZONE, "A", "+tcp")
        self.assertEqual(sorted(a.rdata("ANSWER", "A")), [ep(1), ep(2)], a.text)

        # 2. spill-over: n2 at factor 0, zone a's load at the threshold
        nodes[1].ctl_run("load", "set", "1")

        def n2_loaded():
            s = {x["name"]: x for x in n1.ctl_json("services")["services"]}["web"]
            return abs(s["intent"]["zone_load"] - 0.5) < 0.01
        self.wait_for("n1 to see n2 loaded", n2_loaded)
        # services shows the view n1 built; its DNS worker takes it on
        # its own loop a moment later: the first zone-b address says it
        # has (the view before has zone a only)
        self.wait_for("n1's answers to spill to zone b", lambda: any(
            ZONE_OF[x] == "b" for a in self.answers(n1, "web", 5) for x in a))
        for a in self.answers(n1, "web"):
            self.assertEqual(len(a), 2)
            self.assertEqual(a[0], ep(1))
            self.assertEqual(ZONE_OF[a[1]], "b", a)
        # n1 too: the zone's load is 1, answers leave it
        n1.ctl_run("load", "set", "1")
        self.wait_for("n1's answers to leave zone a", lambda: all(
            ZONE_OF[x] == "b" for a in self.answers(n1, "web", 5) for x in a))
        s = {x["name"]: x for x in n1.ctl_json("services")["services"]}["web"]
        self.assertEqual(s["intent"]["objective"], "locality")
        self.assertEqual(s["intent"]["spill"], 1)
        # explain says so, and shows the plan: zone b first, a never
        x = n1.ctl_json("explain", "web")
        self.assertIn("100.0% of first answers leave it", x["explanation"])
        for e in x["endpoints"]:
            self.assertEqual(e["rank"], 0 if e["zone"] == "b" else 2, e)
            self.assertEqual(e["share"], 0.5 if e["zone"] == "b" else 0, e)
        text = n1.ctl_run("explain", "web").stdout
        self.assertIn("locality from zone a", text)
        self.assertIn("ZONE", text)
        # --from: n3's plan (zone b, unloaded), computed at n1 from its
        # cluster view, is the plan n3 makes itself
        x = n1.ctl_json("explain", "web", "--from", "n3")
        self.assertEqual(x["from"], "n3")
        self.assertEqual(x["node_zone"], "b")
        self.assertIn("locality from zone b", x["explanation"])
        # n3 plans from what gossip told it: wait until it holds the
        # load factors n1 holds (n1's own move to 0 reaches n3 by gossip;
        # compared too early in a distcheck run, n3 still had 1)
        factors = {e["address"]: e["load_factor"] for e in x["endpoints"]}
        self.wait_for("n3 to hold n1's load factors", lambda: {
            e["address"]: e["load_factor"]
            for e in nodes[2].ctl_json("explain", "web")["endpoints"]} == factors)
        own = {e["address"]: e for e in
               nodes[2].ctl_json("explain", "web")["endpoints"]}
        for e in x["endpoints"]:
            self.assertEqual(e["share"], 0.5 if e["zone"] == "b" else 0, e)
            self.assertEqual(e["rank"], own[e["address"]]["rank"], e)
            self.assertAlmostEqual(e["share"], own[e["address"]]["share"])
        text = n1.ctl_run("explain", "web", "--from", "n3").stdout
        self.assertIn("as n3 answers it", text)
        self.assertIn("locality from zone b", text)
        # --from this node is the plain explain
        def plan(*args):
            return [(e["address"], e["rank"], e["share"]) for e in
                    n1.ctl_json("explain", "web", *args)["endpoints"]]
        self.assertEqual(plan("--from", "n1"), plan())
        r = n1.ctl_run("explain", "web", "--from", "nosuch", check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no such node in the cluster view", r.stderr)
        r = n1.ctl_run("explain", "nosuch", check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for a in self.answers(n1, "web"):
            self.assertEqual(sorted(a), [ep(3), ep(4)])
        # the counters saw it: answers by objective, spill-overs
        m = self.metrics(n1)
        self.assertGreater(m['anysteer_dns_answers_by_objective_total'
                             '{objective="locality"}'], 0)
        self.assertGreater(m["anysteer_dns_spill_overs_total"], 0)
        for d in nodes[:2]:
            d.ctl_run("load", "clear")
        self.wait_for("n1's answers back in zone a", lambda: all(
            sorted(a) == [ep(1), ep(2)] for a in self.answers(n1, "web", 5)))

        # 2b. a client placed by its EDNS Client Subnet: at a zone-b node
        # a client in fd00:aa::/48 (zone a) gets zone a, scope 48, once
        # n3 too holds the cleared factors (n1's answers said only that
        # n1 did; n3 learns n1's and n2's by gossip on its own time) and
        # its DNS worker has taken the view built from them
        n3 = nodes[2]
        self.wait_for("n3 to hold every load factor at 1", lambda: all(
            e["load_factor"] == 1.0
            for e in n3.ctl_json("explain", "web")["endpoints"]))
        self.wait_for("n3's worker to answer zone a's client from zone a",
                      lambda: sorted(n3.kdig("web." + ZONE, "A",
                                             "+subnet=fd00:aa::/56")
                                     .rdata("ANSWER", "A")) == [ep(1), ep(2)])
        for _ in range(10):
            a = n3.kdig("web." + ZONE, "A", "+subnet=fd00:aa::/56")
            self.assertEqual(a.status, "NOERROR", a.text)
            self.assertEqual(sorted(a.rdata("ANSWER", "A")), [ep(1), ep(2)],
                             a.text)
            self.assertIn("fd00:aa::/56/48", a.text)
        a = n3.kdig("web." + ZONE, "A", "+subnet=fd00:bb::/56")
        self.assertEqual(sorted(a.rdata("ANSWER", "A")), [ep(3), ep(4)], a.text)
        self.assertIn("fd00:bb::/56/56", a.text)
        self.assertGreaterEqual(
            self.metrics(n3)["anysteer_dns_ecs_queries_total"], 11)
        # explain shows the client's plan
        x = n3.ctl_json("explain", "web", "--client", "fd00:aa::1")
        self.assertEqual(x["client_zone"], "a")
        self.assertIn("placed by dns.client_zones", x["explanation"])
        for e in x["endpoints"]:
            self.assertEqual(e["share"], 0.5 if e["zone"] == "a" else 0, e)
        # ... and so does n1 for n3 (both options at once)
        x = n1.ctl_json("explain", "web", "--client", "fd00:aa::1",
                        "--from", "n3")
        self.assertEqual((x["from"], x["node_zone"], x["client_zone"]),
                         ("n3", "b", "a"), x)
        for e in x["endpoints"]:
            self.assertEqual(e["share"], 0.5 if e["zone"] == "a" else 0, e)

        # 3. resilience by zone: one address per zone, never two in one
        for d in nodes:
            for a in self.answers(d, "db"):
                self.assertEqual(sorted(ZONE_OF[x] for x in a), ["a", "b"],
                                 (d.name, a))
        # 4. resilience by node: every node once
        for a in self.answers(n1, "cache"):
            self.assertEqual(sorted(a), sorted(every))

        # 5. latency: coordinates come with the probes; the view is
        # rebuilt when the estimates appear (checked every 10 s)
        n3 = nodes[2]

        def latency_applied():
            x = n3.ctl_json("explain", "near")
            return (x["intent"]["applied"] == "latency" and
                    all(e["rtt_ms"] is not None for e in x["endpoints"]))
        self.wait_for("n3 to plan near by latency", latency_applied)
        x = n3.ctl_json("explain", "near")
        self.assertIn("nearest endpoints by estimated RTT", x["explanation"])
        own = [e for e in x["endpoints"] if e["address"] == ep(3)][0]
        self.assertEqual(own["rtt_ms"], 0, x)
        # Loopback RTTs are well under 2 ms, but a busy machine delays
        # the probes' acks (estimates of 4 ms were seen under a CPU hog):
        # check the planner's rule rather than the estimates. The
        # nearest is n3's own endpoint (0 ms), so the first tier is
        # every endpoint within 2 ms; the rest come after (the next
        # band, or the one after it).
        self.assertEqual(own["rank"], 0, x)
        for e in x["endpoints"]:
            if e["rtt_ms"] <= 2:
                self.assertEqual(e["rank"], 0, x)
            else:
                self.assertIn(e["rank"], (1, 2), x)
        self.assertIn("objective applied: latency", n3.ctl_run("explain", "near").stdout)
        members = n3.ctl_json("members")
        self.assertTrue(all(m["coord_error"] is not None for m in members), members)
        n3.ctl_run("load", "set", "1")
        self.wait_for("n3's own endpoint to leave the first rank", lambda: [
            e["rank"] for e in n3.ctl_json("explain", "near")["endpoints"]
            if e["address"] == ep(3)] == [3])
        # (explain shows the view n3 built; its worker's answers follow
        # once web, in the same view, spills from loaded zone b to a)
        self.wait_for("n3's worker to take the view", lambda: any(
            ZONE_OF[x] == "a" for a in self.answers(n3, "web", 5) for x in a))
        for a in self.answers(n3, "near"):
            self.assertNotEqual(a[0], ep(3))
        n3.ctl_run("load", "clear")

        # 6. a reload that moves n4 to zone c: gossiped at once (a new
        # incarnation), no restart; n1 sees it and plans for it
        n4 = nodes[3]
        text = n4.make(n4)
        self.assertIn("n4, zone: b}", text)
        n4.write_config(text.replace("n4, zone: b}", "n4, zone: c}").replace(
            "seeds: []", "seeds: [\"[::1]:%d\"]" % seeds[0]))
        n4.ctl_run("reload")
        self.wait_for("n1 to see n4 in zone c", lambda: {
            m["name"]: m["zone"] for m in n1.ctl_json("members")}["n4"] == "c")
        self.assertEqual(n1.ctl_json("explain", "web", "--from", "n4")
                         ["node_zone"], "c")

        for d in nodes:
            code, log = d.stop()
            self.assertEqual(code, 0, log)
            self.assertIsNone(sanitizer_report(log), log)


if __name__ == "__main__":
    main_skip77()
