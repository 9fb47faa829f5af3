#!/usr/bin/env python3
"""Checks the fake API server's Ingress, Gateway API, status, Event and
Lease endpoints (tests/k8s/apiserver.py) against the behaviour of a real
API server that the agent-side tests will rely on: lists and watches of
the new kinds in the real shape, metadata.generation, status writes with
resourceVersion preconditions (409), merge patches that leave spec
alone, Events with AlreadyExists and merge-patch-only PATCH (415, 409,
null removes), Lease create/get/update with 404 and
409, and 404 for every Gateway API path while the CRDs are "absent".
"""
import http.client
import json
import os
import subprocess
import sys

SRC = os.environ.get("top_srcdir") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(SRC, "tests", "k8s", "fixtures")
TOKEN = "t-leader"
GW = "/apis/gateway.networking.k8s.io/v1"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


class Client:
    def __init__(self, port):
        self.port = port

    def req(self, verb, path, body=None, token=TOKEN, ctype="application/json"):
        c = http.client.HTTPConnection("::1", self.port, timeout=30)
        h = {"Content-Type": ctype}
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(verb, path, json.dumps(body) if body is not None else None, h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def watch(self, path, rv, timeout=2):
        c = http.client.HTTPConnection("::1", self.port, timeout=30)
        c.request("GET", "%s?watch=1&resourceVersion=%s&timeoutSeconds=%d"
                  % (path, rv, timeout), headers={"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        lines = [json.loads(x) for x in r.read().splitlines() if x.strip()]
        c.close()
        return lines


def main():
    proc = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "k8s", "apiserver.py"),
                             "--token", TOKEN, "--token", "t-other"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[1])
        run(Client(port))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("ok")
    return 0


def run(c):
    for f in ("ingressclass-anysteer.json", "ingress-web.json",
              "gatewayclass-anysteer.json", "gateway-public.json",
              "httproute-canary.json"):
        code, _ = c.req("POST", "/_test/apply", fixture(f), token=None)
        check(code == 200, "apply " + f)

    # Lists of the new kinds, in the real shape (items without kind).
    code, lst = c.req("GET", "/apis/networking.k8s.io/v1/ingresses?limit=500")
    check(code == 200 and lst["kind"] == "IngressList", "IngressList")
    check(len(lst["items"]) == 1 and "kind" not in lst["items"][0], "list items")
    ing = lst["items"][0]
    check(ing["metadata"]["generation"] == 1, "generation starts at 1")
    code, lst = c.req("GET", "/apis/networking.k8s.io/v1/ingressclasses")
    check(code == 200 and lst["items"][0]["metadata"]["name"] == "anysteer",
          "IngressClassList (cluster-scoped)")
    code, lst = c.req("GET", GW + "/httproutes")
    check(code == 200 and lst["kind"] == "HTTPRouteList", "HTTPRouteList")
    code, _ = c.req("GET", GW + "/httproutes", token="wrong")
    check(code == 401, "401 without an accepted token")

    # Status: stale resourceVersion -> 409; current -> 200, MODIFIED on
    # the watch, spec and generation untouched.
    path = "/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web/status"
    patch = {"metadata": {"resourceVersion": "1"},
             "status": {"loadBalancer": {"ingress": [{"hostname": "web.svc.example.net"}]}},
             "spec": {"rules": []}}
    code, res = c.req("PATCH", path, patch, ctype="application/merge-patch+json")
    check(code == 409 and res["reason"] == "Conflict", "stale status patch: 409")
    code, _ = c.req("PATCH", path, patch)
    check(code == 415, "a patch needs the merge-patch content type")
    patch["metadata"]["resourceVersion"] = ing["metadata"]["resourceVersion"]
    code, res = c.req("PATCH", path, patch, ctype="application/merge-patch+json")
    check(code == 200, "status patch: 200")
    check(res["status"]["loadBalancer"]["ingress"][0]["hostname"] == "web.svc.example.net",
          "status written")
    check(len(res["spec"]["rules"]) == 5, "status patch leaves spec alone")
    check(res["metadata"]["generation"] == 1, "status keeps generation")
    ev = c.watch("/apis/networking.k8s.io/v1/ingresses",
                 ing["metadata"]["resourceVersion"], 1)
    check([e["type"] for e in ev] == ["MODIFIED"] and
          ev[0]["object"]["status"]["loadBalancer"]["ingress"], "watch sees the status write")

    # PUT on a cluster-scoped GatewayClass status; spec change bumps
    # generation and keeps status.
    code, gc = c.req("GET", GW + "/gatewayclasses")
    gc = gc["items"][0]
    gc["status"] = {"conditions": [{"type": "Accepted", "status": "True",
                                    "reason": "Accepted", "message": "",
                                    "observedGeneration": 1,
                                    "lastTransitionTime": "2026-12-06T17:00:00Z"}]}
    code, res = c.req("PUT", GW + "/gatewayclasses/anysteer/status", gc)
    check(code == 200 and res["status"]["conditions"][0]["status"] == "True",
          "GatewayClass status PUT")
    code, _ = c.req("PUT", GW + "/gatewayclasses/anysteer/status", gc)
    check(code == 409, "second PUT with the old resourceVersion: 409")
    rt = fixture("httproute-canary.json")
    del rt["status"]
    rt["spec"]["hostnames"] = ["other.svc.example.net"]
    c.req("POST", "/_test/apply", rt, token=None)
    code, lst = c.req("GET", GW + "/httproutes")
    r = lst["items"][0]
    check(r["metadata"]["generation"] == 2, "spec change bumps generation")
    check(r["status"]["parents"][0]["controllerName"] == "example.com/other",
          "apply without status keeps status")
    code, _ = c.req("PATCH", GW + "/namespaces/shop/httproutes/nope/status",
                    {"status": {}}, ctype="application/merge-patch+json")
    check(code == 404, "status of a missing route: 404")

    # Events: create, AlreadyExists, patch count, list.
    evt = {"apiVersion": "v1", "kind": "Event",
           "metadata": {"name": "web.1", "namespace": "shop"},
           "involvedObject": {"kind": "Ingress", "namespace": "shop", "name": "web"},
           "reason": "PathRoutingUnsupported", "message": "m", "type": "Warning",
           "count": 1}
    code, _ = c.req("POST", "/api/v1/namespaces/shop/events", evt)
    check(code == 201, "Event created")
    code, res = c.req("POST", "/api/v1/namespaces/shop/events", evt)
    check(code == 409 and res["reason"] == "AlreadyExists", "Event name taken: 409")
    code, res = c.req("PATCH", "/api/v1/namespaces/shop/events/web.1", {"count": 2},
                      ctype="application/merge-patch+json")
    check(code == 200 and res["count"] == 2 and res["reason"] == "PathRoutingUnsupported",
          "Event patched")
    code, res = c.req("PATCH", "/api/v1/namespaces/shop/events/web.1", {"count": 3})
    check(code == 415, "Event patch as application/json: 415")
    code, res = c.req("PATCH", "/api/v1/namespaces/shop/events/web.1",
                      {"count": 3, "metadata": {"resourceVersion": "1"}},
                      ctype="application/merge-patch+json")
    check(code == 409, "Event patch over a stale resourceVersion: 409")
    code, res = c.req("PATCH", "/api/v1/namespaces/shop/events/web.1",
                      {"count": 3, "message": None},
                      ctype="application/strategic-merge-patch+json")
    check(code == 200 and res["count"] == 3 and "message" not in res,
          "Event strategic merge patch; null removes")
    code, res = c.req("PATCH", "/api/v1/namespaces/shop/events/nope", {"count": 2},
                      ctype="application/merge-patch+json")
    check(code == 404, "patch of a missing Event: 404")
    code, res = c.req("GET", "/api/v1/namespaces/shop/events")
    check(code == 200 and len(res["items"]) == 1, "EventList")

    # Lease: 404, create, AlreadyExists, update, conflict.
    lp = "/apis/coordination.k8s.io/v1/namespaces/anysteer/leases"
    code, _ = c.req("GET", lp + "/anysteer-leader")
    check(code == 404, "no Lease yet: 404")
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "anysteer-leader", "namespace": "anysteer"},
             "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                      "leaseTransitions": 0}}
    code, created = c.req("POST", lp, lease)
    check(code == 201 and created["spec"]["holderIdentity"] == "a", "Lease created")
    code, res = c.req("POST", lp, lease, token="t-other")
    check(code == 409 and res["reason"] == "AlreadyExists", "second create: 409")
    upd = dict(created)
    upd["spec"] = dict(created["spec"], holderIdentity="a", renewTime="2026-12-06T17:00:02.000000Z")
    code, renewed = c.req("PUT", lp + "/anysteer-leader", upd)
    check(code == 200 and renewed["metadata"]["resourceVersion"] !=
          created["metadata"]["resourceVersion"], "Lease renewed, new resourceVersion")
    steal = dict(created)
    steal["spec"] = dict(created["spec"], holderIdentity="b")
    code, res = c.req("PUT", lp + "/anysteer-leader", steal, token="t-other")
    check(code == 409 and res["reason"] == "Conflict", "update over an old resourceVersion: 409")
    code, res = c.req("GET", lp + "/anysteer-leader")
    check(code == 200 and res["spec"]["holderIdentity"] == "a", "the holder stayed")
    code, _ = c.req("PUT", lp + "/missing", upd)
    check(code == 404, "update of a missing Lease: 404")

    # Who wrote: the token of each write.
    code, writes = c.req("GET", "/_test/writes", token=None)
    check(any(w["token"] == "t-other" and w["code"] == 409 for w in writes),
          "writes are logged with the writer's token")

    # Nodes: cluster-scoped, a field selector on the name narrows lists
    # and watches (what the agent reads its zone label with); another
    # field is 400, as the real server says.
    node = fixture("node-a.json")
    c.req("POST", "/_test/apply", node, token=None)
    other = json.loads(json.dumps(node))
    other["metadata"]["name"] = "node-b"
    other["metadata"]["labels"]["topology.kubernetes.io/zone"] = "eu-west-1b"
    code, _ = c.req("POST", "/_test/apply", other, token=None)
    check(code == 200, "apply node-b")
    code, lst = c.req("GET", "/api/v1/nodes?limit=500")
    check(code == 200 and lst["kind"] == "NodeList" and
          [n["metadata"]["name"] for n in lst["items"]] == ["node-a", "node-b"],
          "NodeList")
    code, lst = c.req("GET", "/api/v1/nodes?limit=500&fieldSelector=metadata.name%3Dnode-a")
    check(code == 200 and [n["metadata"]["name"] for n in lst["items"]] == ["node-a"]
          and "namespace" not in lst["items"][0]["metadata"],
          "fieldSelector narrows the list")
    code, res = c.req("GET", "/api/v1/nodes?fieldSelector=spec.unschedulable%3Dfalse")
    check(code == 400 and res["reason"] == "BadRequest", "unknown field: 400")
    rv = lst["metadata"]["resourceVersion"]
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = "eu-west-1c"
    c.req("POST", "/_test/apply", node, token=None)
    c.req("POST", "/_test/apply", other, token=None)
    ev = c.watch("/api/v1/nodes", rv + "&fieldSelector=metadata.name%3Dnode-a", 1)
    check([(e["type"], e["object"]["metadata"]["name"]) for e in ev] ==
          [("MODIFIED", "node-a")] and ev[0]["object"]["metadata"]["labels"]
          ["topology.kubernetes.io/zone"] == "eu-west-1c",
          "fieldSelector narrows the watch")

    # CRDs absent: every Gateway API path is 404, lists and status alike;
    # the other kinds carry on.
    c.req("POST", "/_test/gateway_api", {"enabled": False}, token=None)
    for p in ("/gatewayclasses", "/gateways", "/httproutes", "/grpcroutes"):
        code, res = c.req("GET", GW + p)
        check(code == 404 and res["reason"] == "NotFound", "no CRDs: 404 for " + p)
    code, _ = c.req("PATCH", GW + "/namespaces/infra/gateways/public/status",
                    {"status": {}}, ctype="application/merge-patch+json")
    check(code == 404, "no CRDs: status 404")
    code, _ = c.req("GET", "/apis/networking.k8s.io/v1/ingresses")
    check(code == 200, "Ingress served without the Gateway API")
    c.req("POST", "/_test/gateway_api", {"enabled": True}, token=None)
    code, _ = c.req("GET", GW + "/gateways")
    check(code == 200, "CRDs installed again")


if __name__ == "__main__":
    sys.exit(main())
