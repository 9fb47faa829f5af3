#!/usr/bin/env python3
"""Intents on the emulated cluster (issue 16): `TESTBED_ZONES=2
testbed.sh up 4 --letters 1 --sites 2`, so node1 and node3 are in zone
z1, node2 and node4 in z2, and every node announces the anycast address
fd00:53::53 (ECMP over all four by an L4 hash). Clients in the site
namespaces ask the anycast address with kdig (and dig) and +nsid: the
router places each query at a node, whose name the NSID gives. Every
node has one endpoint (fd00:10::I) of each service:

  loc   locality, spill_over 0.5, max_answers 2
  res   resilience, spread zone, max_answers 4
  near  latency, max_answers 1

and dns.client_zones (TESTBED_CLIENT_ZONES) places fd00:aa::/48 and
site 2 (fd00:2:0:1::/64) in z1, fd00:bb::/48 in z2. Asserted:

 1. locality: every answer holds the two endpoints of the answering
    node's zone, at every node; `anysteerctl explain loc` at each node
    plans exactly that, and `explain --from` at node1 agrees with it;
 2. an EDNS Client Subnet in a prefix of the table gets that zone's
    endpoints at every node, scope echoed (48; the source length for a
    prefix the table does not hold; 0 for a service without locality);
    site 2 without the option is placed by its source address, with
    it by the option; `explain --client` says so;
 3. spill-over (`anysteerctl load set`, the test knob): node1 at factor
    0 puts z1's load at the threshold, so z1's first address stays
    node3's and the second comes from z2; node3 too: past it, z1's
    nodes answer z2 only (explain: 100 % leave), the spill-over counter
    counts them, and resilience still spreads over both zones; cleared,
    answers return to z1;
 4. resilience: every answer, at every node, has one address per zone;
 5. latency: once coordinates exist, every node plans `near` by RTT;
    node2 loaded to factor 0: no node answers with node2's endpoint,
    node2 itself (0 ms to its own) included.

Every step waits on a condition, never a sleep. Needs root, BIRD and
kdig; skips (77) otherwise.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (Answer, skip_cluster_in_distcheck, Testbed,  # noqa: E402
                           main_skip77, require_root_bird, require_tools)

NODES = 4
QUERIES = 48    # per batch: P(a node gets none of them) = 4 x 0.75^48 < 1e-5
NAME = "%s.svc.example."
SITE2 = "fd00:2:0:1::/64"
ECS_Z1, ECS_Z2 = "fd00:aa::/48", "fd00:bb::/48"


def node(i):
    return "node%d" % i


def zone_of_node(i):
    return "z%d" % ((i - 1) % 2 + 1)      # testbed.sh: TESTBED_ZONES=2


def ep(i):
    return "fd00:10::%d" % i


NUM = {node(i): i for i in range(1, NODES + 1)}
ZONE_OF = {ep(i): zone_of_node(i) for i in NUM.values()}
IN_ZONE = {z: sorted(a for a, y in ZONE_OF.items() if y == z) for z in ("z1", "z2")}
Z1_NODES = [n for n, i in NUM.items() if zone_of_node(i) == "z1"]


def services():
    out = ["services:"]
    for name, extra in (("loc", "max_answers: 2\n    intent: {objective: locality, "
                         "spill_over: 0.5}"),
                        ("res", "max_answers: 4\n    intent: {objective: resilience, "
                         "spread: zone}"),
                        ("near", "max_answers: 1\n    intent: {objective: latency}")):
        out += ["  - name: %s" % name, "    port: 443", "    " + extra, "    endpoints:"]
        out += ['      - { address: "%s", node: %s }' % (ep(i), node(i))
                for i in range(1, NODES + 1)]
    return "\n".join(out) + "\n"


class IntentsTestbedTest(unittest.TestCase):
    tb = None

    @classmethod
    def setUpClass(cls):
        skip_cluster_in_distcheck()
        require_root_bird()
        require_tools("dig")
        cls.tmp = tempfile.mkdtemp(prefix="intents-tb-")
        svc = os.path.join(cls.tmp, "services.yaml")
        with open(svc, "w") as f:
            f.write(services())
        cls.tb = Testbed()
        # BFD at 300 ms (x3), as tests/eval runs it: this test is about
        # answers, not failover times, and beside evaluation runs (far
        # more load than the soak that set the default, 50 ms) 2 runs of
        # 7 lost the anycast address at 75 ms (not analysed further).
        cls.tb.env.update(
            TESTBED_BFD_MS="300", TESTBED_ZONES="2", TESTBED_SERVICES_FILE=svc,
            TESTBED_CLIENT_ZONES='[{prefix: "%s", zone: z1}, {prefix: "%s", zone: z1}, '
                                 '{prefix: "%s", zone: z2}]' % (SITE2, ECS_Z1, ECS_Z2))
        cls.sites = {1: cls.tb.client, 2: cls.tb.prefix + "-c2"}
        t0 = time.monotonic()
        try:
            cls.tb.run("up", NODES, "--letters", 1, "--sites", 2, timeout=180)
            cls.tb.n = NODES
            # Gossip brought every endpoint, with its node's zone, to
            # every node.
            ok = cls.tb.wait(lambda: all(cls.view_complete(i) for i in NUM.values()),
                             60, 0.1)
            if ok is None:
                raise AssertionError("gossip did not bring every endpoint and zone "
                                     "to every node in 60 s")
        except BaseException:
            cls.tearDownClass()
            raise
        print("\n  testbed up and converged in %.1f s" % (time.monotonic() - t0),
              file=sys.stderr)

    @classmethod
    def view_complete(cls, i):
        s = {x["name"]: x for x in cls.tb.ctl_json(i, "services")["services"]}
        return all(sorted((e["address"], e["zone"]) for e in s[n]["endpoints"]) ==
                   sorted(ZONE_OF.items()) for n in ("loc", "res", "near"))

    @classmethod
    def tearDownClass(cls):
        reports = []
        if cls.tb is not None:
            reports = cls.tb.down_with_reports(NODES)
            cls.tb = None
        if getattr(cls, "tmp", None):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        for who, rep in reports:
            raise AssertionError("%s: sanitizer report:\n%s" % (who, rep))

    # ---- helpers ----
    def wait_for(self, what, pred, timeout=30):
        if self.tb.wait(pred, timeout, 0.1) is None:
            self.fail("timed out after %d s waiting for %s" % (timeout, what))

    def ctl(self, i, *args):
        return self.tb.ctl_json(i, *args)

    def explain(self, i, svc, *args):
        return self.ctl(i, "explain", svc, *args)

    def batch(self, site, svc, opts=(), n=QUERIES):
        """n queries for svc AAAA from a site to the anycast address, one
        kdig (a socket, so a source port, per query): a list of
        (answering node, addresses in order, CLIENT-SUBNET echoed)."""
        argv = ["ip", "netns", "exec", self.sites[site], "kdig", "@" + self.tb.anycast,
                "+nsid", "+time=3", "+retry=0"] + list(opts) + [NAME % svc, "AAAA"] * n
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60 + 3 * n)
        chunks = [c for c in re.split(r"(?=;; ->>HEADER<<-)", r.stdout) if "->>HEADER" in c]
        if len(chunks) != n:
            net = subprocess.run(["ip", "-n", self.sites[site], "-6", "addr"],
                                 capture_output=True, text=True).stdout + \
                subprocess.run(["ip", "-n", self.sites[site], "-6", "route"],
                               capture_output=True, text=True).stdout
            self.fail("kdig: %d of %d answers\n%s%s\n%s: %s\nrouter's next hops: %s" % (
                len(chunks), n, r.stdout[-1500:], r.stderr, self.sites[site], net,
                self.tb.hops()))
        out = []
        for c in chunks:
            a = Answer(c)
            self.assertEqual(a.status, "NOERROR", c)
            self.assertIn(a.nsid, NUM, c)
            m = re.search(r"CLIENT-SUBNET: (\S+)", c)
            out.append((a.nsid, a.rdata("ANSWER", "AAAA"), m.group(1) if m else None))
        return out

    @staticmethod
    def by_node(res):
        out = {}
        for who, addrs, _ in res:
            out.setdefault(who, []).append(addrs)
        return out

    def metric(self, i, name):
        r = subprocess.run(["ip", "netns", "exec", self.tb.node_ns(i), "curl", "-sS",
                            "--max-time", "5", "http://[::1]:9153/metrics"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"^%s (\S+)$" % re.escape(name), r.stdout, re.M)
        self.assertIsNotNone(m, "node%d: no %s" % (i, name))
        return float(m.group(1))

    def zone_load(self, i):
        return self.explain(i, "loc")["intent"]["zone_load"]

    def set_load(self, i, value):
        self.tb.run("ctl", i, "load", "set", value)

    def clear_load(self, *nodes):
        for i in nodes:
            self.tb.run("ctl", i, "load", "clear", check=False)

    # ---- the steps, in order ----
    def test_1_locality_by_answering_node(self):
        """Answers hold the answering node's zone; explain plans so."""
        self.assertEqual(self.tb.hops(), [Testbed.node_addr(i) for i in NUM.values()])
        members = {m["name"]: m["zone"] for m in self.ctl(1, "members")}
        self.assertEqual(members, {n: zone_of_node(i) for n, i in NUM.items()})
        by = self.by_node(self.batch(1, "loc"))
        # The router spread the queries over every node (anycast, ECMP).
        self.assertEqual(sorted(by), sorted(NUM), by)
        for who, answers in by.items():
            for a in answers:
                self.assertEqual(sorted(a), IN_ZONE[zone_of_node(NUM[who])], (who, a))
        print("\n  locality: %s" % ", ".join("%s %d answers" % (n, len(by[n]))
                                             for n in sorted(by)), file=sys.stderr)

        def plan(x):
            return [(e["address"], e["rank"], e["share"]) for e in x["endpoints"]]
        for who, i in NUM.items():
            z = zone_of_node(i)
            x = self.explain(i, "loc")
            self.assertEqual(x["node_zone"], z)
            self.assertIn("locality from zone %s: its load 0.000 is within" % z,
                          x["explanation"])
            for e in x["endpoints"]:
                mine = e["zone"] == z
                self.assertEqual((e["rank"], e["share"]), (0, 0.5) if mine else (1, 0), e)
            # node1 computes node i's plan from its own view: the same
            self.assertEqual(plan(self.explain(1, "loc", "--from", who)), plan(x), who)

    def test_2_client_subnet_and_client_zones(self):
        """ECS in a table prefix: that zone at every node, scope echoed."""
        sent = 0
        for subnet, zone, echo in (("fd00:bb::/56", "z2", "fd00:bb::/56/48"),
                                   ("fd00:aa::/56", "z1", "fd00:aa::/56/48"),
                                   ("fd00:cc::/56", None, "fd00:cc::/56/56")):
            res = self.batch(1, "loc", ["+subnet=" + subnet])
            sent += len(res)
            for who, a, ecs in res:
                self.assertEqual(sorted(a), IN_ZONE[zone or zone_of_node(NUM[who])],
                                 (subnet, who, a))
                self.assertEqual(ecs, echo, (subnet, who))
            # Nodes of both zones answered: the option, not the node, decided.
            self.assertEqual({zone_of_node(NUM[w]) for w, _, _ in res}, {"z1", "z2"})
        # A service without locality does not depend on the client: scope 0.
        for who, a, ecs in self.batch(1, "res", ["+subnet=fd00:bb::/56"], n=8):
            self.assertEqual(ecs, "fd00:bb::/56/0", who)
        # dig agrees.
        r = subprocess.run(["ip", "netns", "exec", self.sites[1], "dig",
                            "@" + self.tb.anycast, "+nsid", "+time=3", "+tries=1",
                            "+subnet=fd00:bb::/56", NAME % "loc", "AAAA"],
                           capture_output=True, text=True, timeout=30)
        a = Answer(r.stdout)
        self.assertEqual(sorted(a.rdata("ANSWER", "AAAA")), IN_ZONE["z2"], r.stdout)
        self.assertIn(a.nsid, NUM, r.stdout)
        self.assertIn("CLIENT-SUBNET: fd00:bb::/56/48", r.stdout)
        sent += 1
        # Site 2 is in z1 by its source address (no option, none echoed);
        # with an option, the option decides.
        res = self.batch(2, "loc")
        self.assertEqual({zone_of_node(NUM[w]) for w, _, _ in res}, {"z1", "z2"})
        for who, a, ecs in res:
            self.assertEqual(sorted(a), IN_ZONE["z1"], (who, a))
            self.assertIsNone(ecs)
        res = self.batch(2, "loc", ["+subnet=fd00:bb::/56"])
        sent += len(res)
        for who, a, ecs in res:
            self.assertEqual(sorted(a), IN_ZONE["z2"], (who, a))
        # Every ECS query was counted by the node that answered it.
        total = sum(self.metric(i, "anysteer_dns_ecs_queries_total") for i in NUM.values())
        self.assertGreaterEqual(total, sent + 8)
        # explain as such a client: at a z1 node, placed in z2; at a z2
        # node, site 2 placed in z1.
        x = self.explain(1, "loc", "--client", "fd00:bb::1")
        self.assertEqual((x["node_zone"], x["client_zone"]), ("z1", "z2"))
        self.assertIn("placed by dns.client_zones", x["explanation"])
        for e in x["endpoints"]:
            self.assertEqual(e["share"], 0.5 if e["zone"] == "z2" else 0, e)
        x = self.explain(2, "loc", "--client", "fd00:2:0:1::2")
        self.assertEqual((x["node_zone"], x["client_zone"]), ("z2", "z1"))
        for e in x["endpoints"]:
            self.assertEqual(e["share"], 0.5 if e["zone"] == "z1" else 0, e)

    def test_3_spill_over(self):
        """z1 loaded to the threshold: first address stays; past it: z2."""
        try:
            self.set_load(1, 1)
            self.wait_for("z1's nodes to see z1's load at 0.5", lambda: all(
                abs(self.zone_load(NUM[n]) - 0.5) < 0.01 for n in Z1_NODES))
            res = self.batch(1, "loc")
            at_z1 = [(w, a) for w, a, _ in res if w in Z1_NODES]
            self.assertTrue(at_z1, "no query reached a z1 node: %s" % res)
            for who, a, _ in res:
                if who in Z1_NODES:
                    # node1 is loaded (tier 3), the zone's load is not
                    # past spill_over: node3's endpoint first, then z2.
                    self.assertEqual(a[0], ep(3), (who, a))
                    self.assertEqual(ZONE_OF[a[1]], "z2", (who, a))
                else:
                    self.assertEqual(sorted(a), IN_ZONE["z2"], (who, a))
            spill0 = sum(self.metric(NUM[n], "anysteer_dns_spill_overs_total")
                         for n in Z1_NODES)

            self.set_load(3, 1)
            self.wait_for("z1's nodes to spill over all of z1", lambda: all(
                self.explain(NUM[n], "loc")["intent"]["spill"] == 1 for n in Z1_NODES))
            res = self.batch(1, "loc")
            n_z1 = sum(1 for w, _, _ in res if w in Z1_NODES)
            self.assertGreater(n_z1, 0, "no query reached a z1 node: %s" % res)
            for who, a, _ in res:
                self.assertEqual(sorted(a), IN_ZONE["z2"], (who, a))
            spilled = sum(self.metric(NUM[n], "anysteer_dns_spill_overs_total")
                          for n in Z1_NODES) - spill0
            self.assertGreaterEqual(spilled, n_z1)
            for n in Z1_NODES:
                x = self.explain(NUM[n], "loc")
                self.assertIn("past spill_over 0.500, so 100.0% of first answers leave it",
                              x["explanation"])
                for e in x["endpoints"]:
                    self.assertEqual(e["share"], 0.5 if e["zone"] == "z2" else 0, e)
            # Resilience still spreads over both zones (z1 by configured weight).
            for who, a, _ in self.batch(1, "res"):
                self.assertEqual(sorted(ZONE_OF[x] for x in a), ["z1", "z2"], (who, a))
            print("\n  spill-over: z1 at load 1: %d of %d answers at z1 nodes, all from z2"
                  % (n_z1, len(res)), file=sys.stderr)
        finally:
            self.clear_load(1, 3)
        self.wait_for("z1's load back to 0", lambda: all(
            self.zone_load(NUM[n]) == 0 for n in Z1_NODES))
        for who, a in ((w, a) for w, a, _ in self.batch(1, "loc")):
            self.assertEqual(sorted(a), IN_ZONE[zone_of_node(NUM[who])], (who, a))

    def test_4_resilience_never_shares_a_zone(self):
        res = self.batch(1, "res")
        self.assertEqual(sorted(self.by_node(res)), sorted(NUM))
        for who, a, _ in res:
            self.assertEqual(sorted(ZONE_OF[x] for x in a), ["z1", "z2"], (who, a))
        for i in NUM.values():
            x = self.explain(i, "res")
            self.assertEqual(x["intent"]["spread"], "zone")
            self.assertIn("no two addresses of an answer on one zone (2 of them",
                          x["explanation"])

    def test_5_latency(self):
        """Planned by RTT once coordinates exist; a loaded node's endpoint
        is never the answer while others are fit."""
        def applied(i):
            x = self.explain(i, "near")
            return x["intent"]["applied"] == "latency" and \
                all(e["rtt_ms"] is not None for e in x["endpoints"])
        # Estimates are compared with the view's every 10 s.
        self.wait_for("every node to plan near by latency",
                      lambda: all(applied(i) for i in NUM.values()), 60)
        for who, i in NUM.items():
            x = self.explain(i, "near")
            own = [e for e in x["endpoints"] if e["address"] == ep(i)][0]
            self.assertEqual((own["rtt_ms"], own["rank"]), (0, 0), x)
        try:
            self.set_load(2, 1)
            self.wait_for("every node to rank node2's endpoint last", lambda: all(
                [e["rank"] for e in self.explain(i, "near")["endpoints"]
                 if e["address"] == ep(2)] == [3] for i in NUM.values()))
            res = self.batch(1, "near")
            self.assertIn("node2", self.by_node(res))
            for who, a, _ in res:
                self.assertEqual(len(a), 1, (who, a))
                self.assertNotEqual(a[0], ep(2), who)
        finally:
            self.clear_load(2)


if __name__ == "__main__":
    main_skip77()
