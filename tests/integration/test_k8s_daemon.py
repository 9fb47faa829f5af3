#!/usr/bin/env python3
"""anysteerd with the Kubernetes source, end to end (issue 5).

A test API server (tests/k8s/apiserver.py: the real list/watch protocol,
payloads from tests/k8s/fixtures/) and two real anysteerd processes that
gossip with each other, node-a and node-b, each publishing only the ready
endpoints whose nodeName is its own. One scenario, in order:

node-b binds the wildcard address without gossip.advertise, as the
DaemonSet's shared ConfigMap does: it must advertise [::1] (its source
address toward the seed), or node-a could not reach it.

  1. Both nodes answer web.svc.example.net with the ready pods of both
     nodes (node-b's pod reaches node-a by gossip and the other way
     round), with the TTL and weight from the annotations, SRV with the
     pods' port; api.svc.example.net (external-dns annotation) too; a
     static catalog service answers beside them.
  2. A pod becomes unready: it leaves both nodes' answers.
  3. A malformed watch event: counted, nothing lost, still answering.
  4. The Service is deleted: NXDOMAIN on both nodes.
  5. The API server goes away: both keep answering the last good state;
     anysteerctl status and the metrics say so. A SIGHUP that changes the
     static catalog keeps the Kubernetes state.
  6. SIGTERM: clean exit, no sanitizer report.

K8sZoneTest (issue 16): node-a has no node.zone and takes its zone from
its Node's topology.kubernetes.io/zone label; node-b has node.zone, which
wins over its Node's label (never read). node-b sees node-a's zone in
`anysteerctl members` and `explain --from node-a`; a label change reaches
it without a restart; a value that is no label value is counted and
changes nothing; removing the label clears the zone.

K8sNoGossipTest: one node without gossip. A Service annotated with the
zone's own nameserver name (ns.<zone>) is left out of the catalog and
counted; it must not stop later changes from reaching the answers (it
once made every view build fail, so the answers froze).
"""
import copy
import json
import os
import signal
import subprocess
import shutil
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERD, Daemon, free_port,  # noqa: E402
                           require_tools, sanitizer_report)

SRC = os.environ.get("top_srcdir") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(SRC, "tests", "k8s", "fixtures")
APISERVER = os.path.join(SRC, "tests", "k8s", "apiserver.py")
TOKEN = "test-token-5f1c"
ZONE = "svc.example.net."
WEB = "web.svc.example.net."
NODE_A_PODS = {"fd00:10:244:1::1a", "fd00:10:244:1::1b"}
NODE_B_PODS = {"fd00:10:244:2::31"}


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


class ApiServer:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, APISERVER, "--listen", "::1", "--token", TOKEN]
            + ["--fixture=" + os.path.join(FIX, f) for f in (
                "service-web.json", "endpointslice-web.json",
                "service-api-extdns.json", "endpointslice-api.json",
                "service-kubernetes.json")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise AssertionError("apiserver.py did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://[::1]:%d" % self.port

    def post(self, op, body):
        req = urllib.request.Request(
            self.url + "/_test/" + op, data=json.dumps(body).encode(),
            method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.proc = None


def config_for(api, name, gossip_port, peer_port, keyring, kubeconfig,
               static):
    def fn(d):
        svc = ""
        if static:
            svc = """services:
  - name: static
    port: 80
    endpoints:
      - { address: "fd00:99::1", node: %s }
""" % name
        return """node:
  name: %(name)s
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  max_answers: 8
  workers: 1
control:
  socket: %(ctl)s
metrics:
  listen: "[::1]:%(mport)d"
# Both nodes share this machine's CPU: a pinned load keeps the answers a
# matter of membership and readiness, not of whatever runs next door.
load: {interval: 500ms, source: static, value: 0.1}
gossip:
  bind: "[%(bind)s]:%(gport)d"
  seeds: ["[::1]:%(peer)d"]
  cluster: k8s-test
  keyring: %(keyring)s
  probe_interval: 200ms
  probe_timeout: 100ms
  gossip_interval: 50ms
health:
  interval: 0s
kubernetes:
  enabled: true
  kubeconfig: %(kubeconfig)s
  node_name: %(name)s
%(svc)s""" % dict(name=name, port=d.port, zone=ZONE, ctl=d.ctl,
                  mport=d.metrics_port, gport=gossip_port, peer=peer_port,
                  keyring=keyring, kubeconfig=kubeconfig, svc=svc,
                  bind="::1" if static else "::")
    return fn


class K8sTwoNodes(unittest.TestCase):
    """Two agents and the test API server; a subclass sets node_zones
    (node name -> node.zone) and nodes (Node objects applied first)."""
    node_zones = {}
    node_objects = ()

    @classmethod
    def setUpClass(cls):
        if not os.access(ANYSTEERD, os.X_OK):
            raise unittest.SkipTest("%s not built" % ANYSTEERD)
        require_tools("kdig")

    def setUp(self):
        # addCleanup, not tearDown: if setUp fails half-way (a node does
        # not start), what it already started is still stopped.
        self.api = ApiServer()
        self.addCleanup(self.api.stop)
        for n in self.node_objects:
            self.api.post("apply", n)
        self.nodes = []
        self.dir = tempfile.mkdtemp(prefix="anysteer-k8s-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        key = subprocess.run([ANYSTEERD, "--generate-key"], check=True,
                             capture_output=True, text=True).stdout.strip()
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write("""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
users:
- name: anysteer
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: anysteer}
current-context: test
""" % (self.api.url, TOKEN))
        ports = [free_port(), free_port()]
        for i, name in enumerate(("node-a", "node-b")):
            kr = os.path.join(self.dir, "keyring-" + name)
            fd = os.open(kr, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
            cfg = config_for(self.api, name, ports[i], ports[1 - i], kr,
                             self.kubeconfig, static=(i == 0))
            if name in self.node_zones:
                cfg = (lambda fn, name, z: lambda d: fn(d).replace(
                    "node:\n  name: %s\n" % name,
                    "node:\n  name: %s\n  zone: %s\n" % (name, z)))(
                        cfg, name, self.node_zones[name])
            d = Daemon(cfg, name=name)
            self.nodes.append(d)
            self.addCleanup(d.cleanup)
        for d in self.nodes:
            d.start()

    def aaaa(self, d, name=WEB):
        a = d.kdig(name, "AAAA")
        return a

    def wait_answers(self, want, name=WEB, timeout=10.0, rcode="NOERROR"):
        """Until every node answers name with exactly the set want."""
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            got = []
            for d in self.nodes:
                a = self.aaaa(d, name)
                got.append((a.status, set(a.rdata(rtype="AAAA"))))
            if all(rc == rcode and s == want for rc, s in got):
                return time.monotonic() - (deadline - timeout)
            time.sleep(0.05)
        self.fail("answers for %s never became %s %s; last %s\n%s" % (
            name, rcode, sorted(want), got,
            "\n".join(d.log()[-3000:] for d in self.nodes)))

    def metric(self, d, name):
        with urllib.request.urlopen("http://[::1]:%d/metrics"
                                    % d.metrics_port, timeout=5) as r:
            text = r.read().decode()
        total = None
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
        return total

    def wait_metric(self, d, name, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = self.metric(d, name)
            if v is not None and pred(v):
                return v
            time.sleep(0.1)
        self.fail("metric %s stayed at %s" % (name, v))



class K8sDaemonTest(K8sTwoNodes):
    def test_k8s_source(self):
        a, b = self.nodes
        # 1. Both nodes answer both nodes' ready pods.
        t = self.wait_answers(NODE_A_PODS | NODE_B_PODS)
        print("\nconverged: both nodes answer the 3 ready pods of both "
              "nodes %.2f s after start" % t)
        ans = a.kdig(WEB, "AAAA")
        self.assertTrue(all(r[1] == 10 for r in ans.records(rtype="AAAA")),
                        "anysteer.io/ttl: 10 not applied: %s" % ans.text)
        srv = b.kdig("_web._tcp." + ZONE, "SRV")
        self.assertEqual(srv.status, "NOERROR", srv.text)
        ports = {r.split()[2] for r in srv.rdata(rtype="SRV")}
        self.assertEqual(ports, {"8080"}, "SRV must carry the pods' port "
                         "(first Service port's target): %s" % srv.text)
        self.wait_answers({"fd00:10:244:1::40"}, name="api." + ZONE)
        # The static catalog keeps working beside the source (node-a's,
        # on node-b by gossip).
        self.wait_answers({"fd00:99::1"}, name="static." + ZONE)
        svcs = b.ctl_json("services")
        web = [s for s in svcs["services"] if s["name"] == "web"]
        self.assertEqual(len(web), 1, svcs)
        weights = {e["address"]: e["weight"] for e in web[0]["endpoints"]}
        self.assertEqual(set(weights.values()), {50},
                         "anysteer.io/weight: 50 not applied: %s" % weights)
        # node-b's advertised address, as node-a knows it.
        mem = {m["name"]: m for m in a.ctl_json("members")}
        self.assertEqual(mem["node-b"]["state"], "alive", mem)
        self.assertTrue(mem["node-b"]["address"].startswith("[::1]:"),
                        "wildcard bind advertised %s" % mem["node-b"])
        st = a.ctl_json("status")
        self.assertTrue(st["kubernetes"]["synced"], st["kubernetes"])
        self.assertEqual(st["kubernetes"]["local_endpoints"], 3,
                         st["kubernetes"])  # 2 web + 1 api on node-a
        # The text says so too (docs/operations.md promises it).
        text = a.ctl_run("status").stdout
        self.assertRegex(text, r"kubernetes  synced, API server http\S+, node name node-a\n"
                         r"\s+\d+ hostnames, 3 local endpoints")
        # Metrics come from a snapshot taken every load.interval (1 s).
        self.wait_metric(a, "anysteer_kubernetes_synced", lambda v: v == 1)

        # 2. One of node-a's pods becomes unready.
        sl = fixture("endpointslice-web.json")
        sl = copy.deepcopy(sl)
        for ep in sl["endpoints"]:
            if ep["addresses"] == ["fd00:10:244:1::1a"]:
                ep["conditions"]["ready"] = False
        self.api.post("apply", sl)
        t = self.wait_answers({"fd00:10:244:1::1b"} | NODE_B_PODS)
        print("unready pod left both nodes' answers after %.2f s" % t)

        # 2b. The intent annotations (issue 16) reach the answers' plan;
        # a bad one is a malformed update that changes nothing.
        svc = copy.deepcopy(fixture("service-web.json"))
        ann = svc["metadata"]["annotations"]
        ann["anysteer.io/objective"] = "resilience"
        ann["anysteer.io/spread"] = "node"
        self.api.post("apply", svc)

        def intent_of(d):
            for s in d.ctl_json("services")["services"]:
                if s["name"] == "web":
                    return s["intent"]
            return None
        deadline = time.monotonic() + 10
        # (explain adds the objective applied: compare what was set)
        while {k: v for k, v in (intent_of(b) or {}).items() if k != "applied"} != \
                {"objective": "resilience", "spread": "node"}:
            self.assertLess(time.monotonic(), deadline, intent_of(b))
            time.sleep(0.05)
        before = {d.name: self.metric(d, "anysteer_kubernetes_errors_total") or 0
                  for d in (a, b)}
        ann["anysteer.io/objective"] = "nearest"
        self.api.post("apply", svc)
        # Both count it (node-a too: else step 3's count on node-a could
        # be this one, and pass with the malformed event still unread).
        for d in (b, a):
            self.wait_metric(d, "anysteer_kubernetes_errors_total",
                             lambda v, d=d: v > before[d.name])
        self.assertEqual(intent_of(b)["objective"], "resilience")

        # 3. A malformed watch event is counted and changes nothing.
        before = self.metric(a, "anysteer_kubernetes_errors_total")
        self.api.post("raw", {"kind": "EndpointSlice",
                              "line": '{"type":"MODIFIED","object":{"kind":'
                                      '"EndpointSlice","endpoints":7}}'})
        self.wait_metric(a, "anysteer_kubernetes_errors_total",
                         lambda v: v > before)
        self.wait_answers({"fd00:10:244:1::1b"} | NODE_B_PODS, timeout=2)

        # 4. The Service goes: NXDOMAIN everywhere.
        self.api.post("delete", {"kind": "Service", "namespace": "shop",
                                 "name": "web"})
        t = self.wait_answers(set(), rcode="NXDOMAIN")
        print("deleted Service left both nodes after %.2f s" % t)

        # 5. The API server goes away: the last good state stays.
        self.api.stop()
        time.sleep(1.0)
        self.wait_answers({"fd00:10:244:1::40"}, name="api." + ZONE,
                          timeout=2)
        self.wait_metric(b, "anysteer_kubernetes_errors_total",
                         lambda v: v > 0)

        # 5b. SIGHUP on node-a with the API server still gone: the
        # static catalog changes (a second endpoint; a static "web" whose
        # name the deleted Service had), the Kubernetes state survives.
        with open(a.config) as f:
            text = f.read()
        text = text.replace(
            '      - { address: "fd00:99::1", node: node-a }\n',
            '      - { address: "fd00:99::1", node: node-a }\n'
            '      - { address: "fd00:99::2", node: node-a }\n'
            '  - name: web\n    port: 8443\n    ttl: 30\n    endpoints:\n'
            '      - { address: "fd00:99::3", node: node-a }\n')
        self.assertIn("fd00:99::3", text)
        a.write_config(text)
        a.signal(signal.SIGHUP)
        self.wait_answers({"fd00:99::1", "fd00:99::2"}, name="static." + ZONE)
        self.wait_answers({"fd00:99::3"})
        self.wait_answers({"fd00:10:244:1::40"}, name="api." + ZONE,
                          timeout=2)
        ttls = {r[1] for r in a.kdig(WEB, "AAAA").records(rtype="AAAA")}
        self.assertEqual(ttls, {30}, "static attributes of web not applied")
        self.assertEqual(a.ctl_json("status")["config"]["reloads"], 1)

        # 6. Clean exit.
        for d in self.nodes:
            code, log = d.stop()
            self.assertEqual(code, 0, log[-3000:])
            self.assertIsNone(sanitizer_report(log), log[-3000:])


def node_object(name, zone):
    n = fixture("node-a.json")
    n["metadata"]["name"] = n["metadata"]["labels"]["kubernetes.io/hostname"] = name
    if zone is None:
        del n["metadata"]["labels"]["topology.kubernetes.io/zone"]
    else:
        n["metadata"]["labels"]["topology.kubernetes.io/zone"] = zone
    return n


class K8sZoneTest(K8sTwoNodes):
    node_zones = {"node-b": "z-config"}
    node_objects = (node_object("node-a", "eu-west-1a"),
                    node_object("node-b", "eu-west-1b"))

    def wait_for(self, what, fn, timeout=10.0):
        deadline = time.monotonic() + timeout
        v = None
        while time.monotonic() < deadline:
            v = fn()
            if v:
                return time.monotonic() - (deadline - timeout)
            time.sleep(0.05)
        self.fail("%s: never; last %r\n%s" % (
            what, v, "\n".join(d.log()[-3000:] for d in self.nodes)))

    def zones_at(self, d):
        return {m["name"]: m["zone"] for m in d.ctl_json("members")}

    def test_zone_from_node_label(self):
        a, b = self.nodes
        want = {"node-a": "eu-west-1a", "node-b": "z-config"}
        t = self.wait_for("both nodes to see both zones", lambda: all(
            self.zones_at(d) == want for d in self.nodes))
        print("\nzones gossiped %.2f s after start" % t)
        st = a.ctl_json("status")
        self.assertEqual((st["node_zone"], st["node_zone_from"]),
                         ("eu-west-1a", "kubernetes"), st)
        nz = st["kubernetes"]["node_zone_label"]
        self.assertEqual((nz["watched"], nz["synced"], nz["found"], nz["zone"]),
                         (True, True, True, "eu-west-1a"), nz)
        self.assertIn("node zone   eu-west-1a (the Kubernetes Node's label "
                      "topology.kubernetes.io/zone)", a.ctl_run("status").stdout)
        # node.zone wins: node-b never reads its Node (label eu-west-1b)
        st = b.ctl_json("status")
        self.assertEqual((st["node_zone"], st["node_zone_from"]),
                         ("z-config", "config"), st)
        self.assertEqual(st["kubernetes"]["node_zone_label"], {"watched": False})
        self.assertIn("node zone   z-config (node.zone)", b.ctl_run("status").stdout)
        # node-b plans as node-a would, with node-a's zone (once web is
        # in node-b's answers: the zones can converge before the
        # EndpointSlices are listed; seen in a loaded repeat run)
        self.wait_for("web in node-b's answers", lambda: any(
            s["name"] == "web" for s in b.ctl_json("services")["services"]))
        x = b.ctl_json("explain", "web", "--from", "node-a")
        self.assertEqual(x["node_zone"], "eu-west-1a", x)

        # The label changes: re-published, no restart.
        self.api.post("apply", node_object("node-a", "eu-west-1c"))
        want["node-a"] = "eu-west-1c"
        t = self.wait_for("node-b to see node-a's new zone",
                          lambda: self.zones_at(b) == want)
        print("label change reached the other node after %.2f s" % t)
        self.assertEqual(a.ctl_json("status")["node_zone"], "eu-west-1c")
        self.assertEqual(b.ctl_json("explain", "web", "--from", "node-a")
                         ["node_zone"], "eu-west-1c")

        # A value that is no label value: counted, the zone stays.
        series = 'anysteer_kubernetes_errors_total{reason="bad_zone_label"}'
        self.assertEqual(self.metric(a, series), 0)
        self.api.post("apply", node_object("node-a", "not a zone!"))
        self.wait_metric(a, series, lambda v: v == 1)
        self.assertEqual(a.ctl_json("status")["node_zone"], "eu-west-1c")
        self.assertIn("is not a zone", a.log())
        self.assertEqual(self.zones_at(b), want)

        # The label removed: no zone, there and here.
        self.api.post("apply", node_object("node-a", None))
        want["node-a"] = None
        self.wait_for("node-b to see node-a without a zone",
                      lambda: self.zones_at(b) == want)
        st = a.ctl_json("status")
        self.assertIsNone(st["node_zone"], st)
        self.assertIsNone(st["kubernetes"]["node_zone_label"]["zone"])

        for d in self.nodes:
            code, log = d.stop()
            self.assertEqual(code, 0, log[-3000:])
            self.assertIsNone(sanitizer_report(log), log[-3000:])


class K8sNoGossipTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        K8sDaemonTest.setUpClass()

    def setUp(self):
        self.api = ApiServer()
        self.addCleanup(self.api.stop)
        self.dir = tempfile.mkdtemp(prefix="anysteer-k8s-ng-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write("""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
users:
- name: anysteer
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: anysteer}
current-context: test
""" % (self.api.url, TOKEN))

        def cfg(d):
            return """node: {name: node-a}
dns:
  listen: ["[::1]:%d"]
  zone: %s
  max_answers: 8
  workers: 1
control: {socket: %s}
metrics: {listen: "[::1]:%d"}
load: {source: static, value: 0.1}
kubernetes:
  enabled: true
  kubeconfig: %s
  node_name: node-a
""" % (d.port, ZONE, d.ctl, d.metrics_port, self.kubeconfig)
        self.d = Daemon(cfg, name="node-a")
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def wait_aaaa(self, want, name=WEB, timeout=10.0):
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            a = self.d.kdig(name, "AAAA")
            got = (a.status, set(a.rdata(rtype="AAAA")))
            if got == ("NOERROR", want):
                return
            time.sleep(0.05)
        self.fail("%s never answered %s; last %s\n%s"
                  % (name, sorted(want), got, self.d.log()[-3000:]))

    def test_ns_hostname_skipped(self):
        self.wait_aaaa(NODE_A_PODS)
        svc = copy.deepcopy(fixture("service-web.json"))
        svc["metadata"].update(name="clash", uid="0c1a55e5-0000-4000-8000-"
                               "000000000001")
        svc["metadata"]["annotations"] = {"anysteer.io/hostname":
                                          "ns." + ZONE.rstrip(".")}
        self.api.post("apply", svc)
        sl = copy.deepcopy(fixture("endpointslice-web.json"))
        sl["metadata"].update(name="clash-1", uid="0c1a55e5-0000-4000-8000-"
                              "000000000002")
        sl["metadata"]["labels"]["kubernetes.io/service-name"] = "clash"
        self.api.post("apply", sl)
        # Once the daemon has seen the clash (counted now; a failed
        # view build and its log line on the old code) ...
        deadline = time.monotonic() + 10
        text = ""
        series = ('anysteer_kubernetes_skipped_hostnames'
                  '{reason="nameserver_name"} 1')
        while (time.monotonic() < deadline and series not in text
               and "collides with a service" not in self.d.log()):
            with urllib.request.urlopen("http://[::1]:%d/metrics"
                                        % self.d.metrics_port, timeout=5) as r:
                text = r.read().decode()
            time.sleep(0.1)
        # ... later changes still reach the answers ...
        web = copy.deepcopy(fixture("endpointslice-web.json"))
        for ep in web["endpoints"]:
            if ep["addresses"] == ["fd00:10:244:1::1a"]:
                ep["conditions"]["ready"] = False
        self.api.post("apply", web)
        self.wait_aaaa({"fd00:10:244:1::1b"})
        # ... and the clash is counted.
        self.assertIn(series, text, self.d.log()[-3000:])
        # ns.<zone> stays the nameserver's name, not a service.
        ns = self.d.kdig("ns." + ZONE, "AAAA")
        self.assertEqual(set(ns.rdata(rtype="AAAA")) & NODE_A_PODS, set(),
                         ns.text)
        code, log = self.d.stop()
        self.assertEqual(code, 0, log[-3000:])
        self.assertIsNone(sanitizer_report(log), log[-3000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
