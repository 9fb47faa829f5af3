#!/usr/bin/env python3
"""Node records of any size between real anysteerd processes (issue 19).

Four daemons on loopback, each with 110 static endpoints of its own (a
Kubernetes node's default pod limit; one gossip datagram holds about 30):
  1. they converge: every node's `members --json` holds every member's 110
     endpoints exactly as that member's catalog has them, and every
     node's DNS answer for `tail.svc.example.` carries node 4's 110th
     endpoint (the end of a record far larger than one datagram);
  2. node 1 changes one endpoint (a reload): every other node holds the
     new record within 5 s, with the periodic push-pull at 60 s, so the
     record travels by head and pull, not by push-pull;
  3. node 4's catalog grows past gossip.max_endpoints_per_node: it logs
     the error, announces the first 150 and counts the rest.
Before issue 19 a record held at most 32 endpoints, so step 1 fails: every
member shows 32 endpoints and `tail` has no answer.

Health probes are off (health.interval 0s: always healthy), so the
endpoint addresses need not listen.
"""
import ipaddress
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (Daemon, free_port, sanitizer_report)  # noqa: E402

ZONE = "svc.example."
N = 4
EPS = 110
LIMIT = 150
SERVICES = 11


def addr_of(node, k):
    return "fd00:19:3::%x:%x" % (node, k + 1)


def catalog(node, n_eps, changed=None):
    """Node `node`'s endpoints: 11 services x 10 each (more past 110),
    service of endpoint k = k % 11; the last one is also in `tail`."""
    by_svc = {}
    for k in range(n_eps):
        a = changed if (changed and k == 0) else addr_of(node, k)
        by_svc.setdefault("s%d" % (k % SERVICES), []).append(a)
    return by_svc


def norm(a):
    return str(ipaddress.ip_address(a))


def expected(node, n_eps, changed=None):
    """What every node must hold of `node`'s record: its endpoints and,
    for node 4, the `tail` one."""
    out = {(s, norm(a)) for s, addrs in catalog(node, n_eps, changed).items()
           for a in addrs}
    if node == N:
        out.add(("tail", norm(addr_of(N, EPS - 1))))
    return out


class LargeRecordsTest(unittest.TestCase):
    def setUp(self):
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()

    def config(self, d, seeds, n_eps=EPS, changed=None):
        svc = []
        for s, addrs in sorted(catalog(d.index, n_eps, changed).items()):
            svc.append("  - name: %s\n    port: 443\n    endpoints:\n%s" % (
                s, "\n".join('      - { address: "%s", node: %s }' % (a, d.name)
                             for a in addrs)))
        # Node 4's last endpoint of the 110 is served alone as `tail`: a
        # service only gossip tells the other nodes about.
        tail = ""
        if d.index == N:
            tail = ("  - name: tail\n    port: 443\n    endpoints:\n"
                    '      - { address: "%s", node: %s }\n'
                    % (addr_of(N, EPS - 1), d.name))
        return """node: {name: %(name)s}
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  max_answers: 8
  workers: 1
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
load: {interval: 500ms, source: static, value: 0.1}
gossip:
  bind: "[::1]:%(gport)d"
  seeds: [%(seeds)s]
  cluster: it-large
  plaintext: true
  probe_interval: 200ms
  probe_timeout: 100ms
  pushpull_interval: 60s
  max_endpoints_per_node: %(limit)d
health: {interval: 0s}
services:
%(svc)s
%(tail)s""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
               "mport": d.metrics_port, "gport": d.gossip_port,
               "seeds": ", ".join('"[::1]:%d"' % p for p in seeds),
               "limit": LIMIT, "svc": "\n".join(svc), "tail": tail}

    def make_node(self, i):
        gport = free_port()

        def cfg(d):
            d.index = i
            d.gossip_port = gport
            return self.config(d, [])
        d = Daemon(cfg, name="n%d" % i)
        self.daemons.append(d)
        return d

    def view(self, d):
        """{member: set of (service, address)} as d holds them."""
        out = {}
        for m in d.ctl_json("members"):
            if m["state"] != "alive":
                continue
            out[m["name"]] = {(e["service"], norm(e["address"]))
                              for e in m["endpoint_list"]}
        return out

    def wait_for(self, what, cond, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cond():
                return time.monotonic() - t0
            time.sleep(0.05)
        state = []
        for d in self.daemons:
            try:
                v = {k: len(x) for k, x in self.view(d).items()}
            except Exception as e:  # noqa: BLE001
                v = str(e)
            state.append("%s holds %s\n%s" % (
                d.name, v, "\n".join(d.log().splitlines()[-10:])))
        self.fail("timed out after %.0fs waiting for %s:\n%s"
                  % (timeout, what, "\n".join(state)))

    def metric(self, d, series):
        import urllib.request
        with urllib.request.urlopen("http://[::1]:%d/metrics"
                                    % d.metrics_port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(series + " "):
                    return float(line[len(series) + 1:])
        return None

    def test_large_records(self):
        nodes = [self.make_node(i) for i in range(1, N + 1)]
        seeds = [nodes[0].gossip_port, nodes[1].gossip_port]
        for d in nodes:
            d.write_config(self.config(d, seeds))
            d.start(wait=False)
        for d in nodes:
            d.wait_ready()
        want = {d.name: expected(d.index, EPS) for d in nodes}
        tail = norm(addr_of(N, EPS - 1))

        def converged():
            for d in nodes:
                if self.view(d) != want:
                    return False
                if tail not in d.dig("tail." + ZONE, "AAAA").rdata(rtype="AAAA"):
                    return False
            return True
        t = self.wait_for("every node to hold %d x %d endpoints" % (N, EPS),
                          converged, 30)
        print("\nconverged: %d nodes x %d endpoints in every view, %.2f s "
              "after start" % (N, EPS, t))
        pulls = sum(self.metric(d, 'anysteer_gossip_pulls_total{event="done"}')
                    or 0 for d in nodes)
        print("records fetched by pull: %d" % pulls)

        # 2. one endpoint of node 1 changes: head and pull, not push-pull
        new = "fd00:19:3::1:ffff"
        nodes[0].write_config(self.config(nodes[0], seeds, changed=new))
        want["n1"] = expected(1, EPS, changed=new)
        nodes[0].signal(signal.SIGHUP)
        t = self.wait_for("the changed record everywhere",
                          lambda: all(self.view(d).get("n1") == want["n1"]
                                      for d in nodes), 5)
        print("a changed 110-endpoint record reached every node in %.2f s" % t)

        # 3. node 4's catalog over the limit
        d4 = nodes[N - 1]
        d4.write_config(self.config(d4, seeds, n_eps=LIMIT + 20))
        d4.signal(signal.SIGHUP)
        first = set(list(self.expected_order(N, LIMIT + 20))[:LIMIT])
        self.wait_for("node 4's first %d endpoints everywhere" % LIMIT,
                      lambda: all(self.view(d).get("n4") == first
                                  for d in nodes), 10)
        self.wait_for("the over-limit error", lambda: "max_endpoints_per_node"
                      in d4.log(), 5)
        # 170 + tail = 171 endpoints, 150 announced
        self.wait_for("the over-limit gauge", lambda: self.metric(
            d4, "anysteer_gossip_local_endpoints_over_limit") == 21, 5)

        for d in nodes:
            code, log = d.stop()
            self.assertEqual(code, 0, log)
            self.assertIsNone(sanitizer_report(log), log)

    @staticmethod
    def expected_order(node, n_eps):
        """(service, address) in catalog order: services sorted by name,
        as config() writes them, then `tail` for node 4."""
        for s, addrs in sorted(catalog(node, n_eps).items()):
            for a in addrs:
                yield (s, norm(a))
        if node == N:
            yield ("tail", norm(addr_of(N, EPS - 1)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
