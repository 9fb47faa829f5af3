#!/usr/bin/env python3
"""A test Kubernetes API server for anysteer's list+watch client.

Speaks the parts of the real protocol the client uses, cluster-wide, for
v1 Services, discovery.k8s.io/v1 EndpointSlices, networking.k8s.io/v1
Ingresses and IngressClasses, and gateway.networking.k8s.io/v1
GatewayClasses, Gateways, HTTPRoutes and GRPCRoutes:

  GET /api/v1/services?limit=N[&continue=T]          -> ServiceList
  GET /api/v1/nodes?fieldSelector=metadata.name%3DX   -> NodeList (cluster-
      scoped; fieldSelector metadata.name / metadata.namespace, = or ==,
      on lists and watches of every kind, as the real server; any other
      field is 400 BadRequest)
  GET /apis/discovery.k8s.io/v1/endpointslices?...   -> EndpointSliceList
  GET /apis/networking.k8s.io/v1/ingresses, .../ingressclasses
  GET /apis/gateway.networking.k8s.io/v1/gatewayclasses, gateways,
      httproutes, grpcroutes  (404 NotFound while the Gateway API "CRDs are
      absent": --no-gateway-api, or /_test/gateway_api)
  GET ...?watch=1&resourceVersion=R&allowWatchBookmarks=true&timeoutSeconds=S
      -> HTTP/1.1 200, Transfer-Encoding: chunked, one JSON WatchEvent per
         line ({"type": "ADDED", "object": {...}}), ended after S seconds
         with the terminating chunk.

Writes, as the leader makes them (each needs an accepted token, and is
logged with the token in /_test/writes so a test can tell who wrote):

  PUT|PATCH <group path>/namespaces/NS/<resource>/NAME/status (cluster-
      scoped kinds: <group path>/<resource>/NAME/status) for Ingresses and
      the Gateway API kinds: only .status changes (PATCH: JSON merge patch,
      application/merge-patch+json); a metadata.resourceVersion that is not
      the current one gets 409 Conflict; emits MODIFIED, keeps generation.
  POST /api/v1/namespaces/NS/events (409 AlreadyExists on a taken name),
  PATCH /api/v1/namespaces/NS/events/NAME (415 unless a JSON or strategic
      merge patch by Content-Type; RFC 7386 semantics, null removes; 404 if
      absent; 409 on a stale metadata.resourceVersion; 422 renaming it),
  GET /api/v1/namespaces/NS/events
  GET|PUT /apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME and
  POST /apis/coordination.k8s.io/v1/namespaces/NS/leases: 404 when
      absent, 409 AlreadyExists on POST of an existing one, 409 Conflict on
      a PUT whose resourceVersion is not the current one.

Objects applied through /_test/apply get metadata.generation as the real
server keeps it (1, then +1 whenever spec changes) and keep their status
when the applied object carries none (the status subresource rule).

One resourceVersion counter for everything, as etcd's revision. A watch
from a resourceVersion older than the compaction point gets 410 Gone: as
a watch ERROR event carrying a Status (what a real API server sends on a
200 stream) or as an HTTP 410 with a Status body, by mode. A request
without an accepted bearer token gets 401 with a Status body.

The test drives it over /_test/ (POST with a JSON body):
  apply {object}                     create or update, emits ADDED/MODIFIED
  delete {kind, namespace, name}     emits DELETED
      (?silent=1: into the history only, the open watches miss it)
  bookmark {}                        BOOKMARK to every watch that asked
  drop {}                            closes every watch without the last chunk
  compact {}                         older resourceVersions become 410
  gone_mode {mode: event|http}
  gone_always {enabled: bool}        every watch is 410 Gone (a server
                                     that keeps compacting), to check the
                                     client backs off instead of looping
  raw {kind, line}                   writes a raw line to the watches of kind
  tokens {tokens: [..]}              the accepted bearer tokens
  gateway_api {enabled: bool}        the Gateway API CRDs installed or not
  lease {object}                     puts a Lease as it is (e.g. held by
                                     someone else); {delete: true, ...} drops it
  GET /_test/stats                   request counters, tokens seen, watches
  GET /_test/writes                  [{verb, path, token, code, content_type}]
                                     of API writes
  GET /_test/leases, /_test/events   what is stored
  GET /_test/lease_log               every Lease GET and write: {verb, token,
                                     code, t (CLOCK_MONOTONIC, comparable
                                     with the test's time.monotonic()), rv
                                     answered, holder read or written}

With --tls-cert/--tls-key it serves HTTPS. On start it prints
"PORT <n>" on stdout. Objects are read from and shaped
like tests/k8s/fixtures/*.json.
"""
import argparse
import base64
import copy
import json
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

GW = "gateway.networking.k8s.io/v1"
KINDS = {
    "/api/v1/services": ("Service", "v1", "ServiceList"),
    "/api/v1/nodes": ("Node", "v1", "NodeList"),
    "/apis/discovery.k8s.io/v1/endpointslices":
        ("EndpointSlice", "discovery.k8s.io/v1", "EndpointSliceList"),
    "/apis/networking.k8s.io/v1/ingresses":
        ("Ingress", "networking.k8s.io/v1", "IngressList"),
    "/apis/networking.k8s.io/v1/ingressclasses":
        ("IngressClass", "networking.k8s.io/v1", "IngressClassList"),
    "/apis/" + GW + "/gatewayclasses": ("GatewayClass", GW, "GatewayClassList"),
    "/apis/" + GW + "/gateways": ("Gateway", GW, "GatewayList"),
    "/apis/" + GW + "/httproutes": ("HTTPRoute", GW, "HTTPRouteList"),
    "/apis/" + GW + "/grpcroutes": ("GRPCRoute", GW, "GRPCRouteList"),
}
BY_KIND = {v[0]: (k, v[1], v[2]) for k, v in KINDS.items()}
CLUSTER_SCOPED = {"IngressClass", "GatewayClass", "Node"}
GATEWAY_API = {"GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute"}
# Kinds with a status subresource the leader writes.
STATUS_KINDS = {"Ingress"} | GATEWAY_API
LEASES = "/apis/coordination.k8s.io/v1/namespaces/"
EVENTS_PREFIX = "/api/v1/namespaces/"
NOT_FOUND = "the server could not find the requested resource"


def key_of(md):
    return md.get("namespace", "") + "/" + md["name"]


def field_selector(sel):
    """A fieldSelector -> a predicate on an object's metadata, or None
    when it names a field the server does not index (400, as the real
    one: only metadata.name and metadata.namespace for every kind)."""
    want = []
    for term in filter(None, (sel or "").split(",")):
        op = "!=" if "!=" in term else "==" if "==" in term else "="
        field, _, value = term.partition(op)
        if field not in ("metadata.name", "metadata.namespace"):
            return None
        want.append((field.split(".")[1], op != "!=", value))
    return lambda md: all((md.get(f, "") == v) == eq for f, eq, v in want)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def status_path(path):
    """(kind, namespace, name) of a .../status path, or None."""
    parts = path.strip("/").split("/")
    if len(parts) < 4 or parts[-1] != "status":
        return None
    for prefix, (kind, _api, _list) in KINDS.items():
        base = prefix.strip("/").split("/")
        resource = base[-1]
        group = base[:-1]
        if parts[:len(group)] != group:
            continue
        rest = parts[len(group):-1]
        if kind in CLUSTER_SCOPED and len(rest) == 2 and rest[0] == resource:
            return kind, "", rest[1]
        if len(rest) == 4 and rest[0] == "namespaces" and rest[2] == resource:
            return kind, rest[1], rest[3]
    return None


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code}


class Watch:
    def __init__(self, kind, bookmarks, match=None):
        self.kind = kind
        self.match = match or (lambda md: True)
        self.bookmarks = bookmarks
        self.queue = []
        self.drop = False


class State:
    def __init__(self, tokens):
        self.lock = threading.Condition()
        self.rv = 1000
        self.objects = {k: {} for k in BY_KIND}
        self.history = []          # (rv, kind, line bytes, metadata)
        self.compacted = 0
        self.gone_mode = "event"
        self.gone_always = False
        self.tokens = set(tokens)
        self.watches = []
        self.snapshots = {}
        self.stats = {"requests": {}, "tokens_seen": [], "unauthorized": 0,
                      "gone": 0}
        self.gateway_api = True
        self.leases = {}
        self.events = {}
        self.writes = []
        self.lease_log = []

    def count(self, name):
        r = self.stats["requests"]
        r[name] = r.get(name, 0) + 1

    def emit(self, kind, etype, obj, silent=False):
        line = json.dumps({"type": etype, "object": obj},
                          separators=(",", ":")).encode() + b"\n"
        self.history.append((self.rv, kind, line, obj["metadata"]))
        # silent: the event is in the history but the open watches miss
        # it, as a client that was away while it happened.
        for w in self.watches:
            if w.kind == kind and not silent and w.match(obj["metadata"]):
                w.queue.append(line)
        self.lock.notify_all()

    def apply(self, obj, silent=False):
        kind = obj["kind"]
        md = obj.setdefault("metadata", {})
        key = key_of(md)
        self.rv += 1
        old = self.objects[kind].get(key)
        md["resourceVersion"] = str(self.rv)
        # generation: 1, then +1 on every spec change (metadata.generation
        # is the server's, whatever the object says).
        if old is None:
            md["generation"] = 1
        elif old.get("spec") != obj.get("spec"):
            md["generation"] = old["metadata"].get("generation", 1) + 1
        else:
            md["generation"] = old["metadata"].get("generation", 1)
        if kind in STATUS_KINDS and "status" not in obj and old is not None \
                and "status" in old:
            obj["status"] = copy.deepcopy(old["status"])
        md.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        md.setdefault("creationTimestamp",
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        obj["apiVersion"] = BY_KIND[kind][1]
        self.objects[kind][key] = obj
        self.emit(kind, "MODIFIED" if old else "ADDED", obj, silent)
        return self.rv

    def write_status(self, kind, ns, name, body, patch):
        """(code, object or Status) of a status subresource write."""
        key = ns + "/" + name
        cur = self.objects[kind].get(key)
        if cur is None:
            return 404, status(404, "NotFound", '%s "%s" not found'
                               % (kind.lower(), name))
        want = (body.get("metadata") or {}).get("resourceVersion")
        if want and want != cur["metadata"]["resourceVersion"]:
            return 409, status(409, "Conflict",
                               'Operation cannot be fulfilled on %s "%s": the '
                               'object has been modified; please apply your '
                               'changes to the latest version and try again'
                               % (kind.lower(), name))
        new = copy.deepcopy(cur)
        if patch:
            new["status"] = merge_patch(cur.get("status", {}),
                                        body.get("status", {}))
        else:
            new["status"] = body.get("status", {})
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[kind][key] = new
        self.emit(kind, "MODIFIED", new)
        return 200, new

    def delete(self, kind, ns, name, silent=False):
        obj = self.objects[kind].pop(ns + "/" + name, None)
        if obj is None:
            return None
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.emit(kind, "DELETED", obj, silent)
        return self.rv


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "k8s-test-apiserver"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("apiserver: " + fmt % args + "\n")

    def send_json(self, code, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    # ---- control -----------------------------------------------------------

    def authorized(self):
        """The bearer token if accepted; else answers 401 and gives None."""
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with st.lock:
            if token not in st.stats["tokens_seen"]:
                st.stats["tokens_seen"].append(token)
            if token not in st.tokens:
                st.stats["unauthorized"] += 1
                self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
                return None
        return token

    def do_POST(self):
        if not self.path.startswith("/_test/"):
            self.api_write("POST")
            return
        st = self.server.state
        url = urlsplit(self.path)
        path = url.path
        silent = parse_qs(url.query).get("silent") == ["1"]
        try:
            body = self.read_body()
        except ValueError:
            self.send_json(400, status(400, "BadRequest", "bad JSON"))
            return
        with st.lock:
            if path == "/_test/apply":
                res = {"resourceVersion": str(st.apply(body, silent))}
            elif path == "/_test/gateway_api":
                st.gateway_api = bool(body["enabled"])
                res = {}
            elif path == "/_test/lease":
                md = body["metadata"]
                key = md["namespace"] + "/" + md["name"]
                if body.get("delete"):
                    st.leases.pop(key, None)
                else:
                    st.rv += 1
                    md["resourceVersion"] = str(st.rv)
                    st.leases[key] = body
                res = {"resourceVersion": str(st.rv)}
            elif path == "/_test/delete":
                rv = st.delete(body["kind"], body.get("namespace", ""),
                               body["name"], silent)
                if rv is None:
                    self.send_json(404, status(404, "NotFound", "not found"))
                    return
                res = {"resourceVersion": str(rv)}
            elif path == "/_test/bookmark":
                for w in st.watches:
                    if w.bookmarks:
                        w.queue.append(json.dumps({"type": "BOOKMARK", "object": {
                            "kind": w.kind, "apiVersion": BY_KIND[w.kind][1],
                            "metadata": {"resourceVersion": str(st.rv),
                                         "creationTimestamp": None}}},
                            separators=(",", ":")).encode() + b"\n")
                st.lock.notify_all()
                res = {"resourceVersion": str(st.rv)}
            elif path == "/_test/drop":
                n = 0
                for w in st.watches:
                    w.drop = True
                    n += 1
                st.lock.notify_all()
                res = {"dropped": n}
            elif path == "/_test/compact":
                st.compacted = st.rv
                st.history = [h for h in st.history if h[0] >= st.rv]
                res = {"compacted": str(st.compacted)}
            elif path == "/_test/gone_mode":
                st.gone_mode = body["mode"]
                res = {}
            elif path == "/_test/gone_always":
                st.gone_always = bool(body["enabled"])
                res = {}
            elif path == "/_test/raw":
                for w in st.watches:
                    if w.kind == body["kind"]:
                        w.queue.append(body["line"].encode() + b"\n")
                st.lock.notify_all()
                res = {}
            elif path == "/_test/tokens":
                st.tokens = set(body["tokens"])
                res = {}
            else:
                self.send_json(404, status(404, "NotFound", "no such control"))
                return
        self.send_json(200, res)

    # ---- API ---------------------------------------------------------------

    def do_PUT(self):
        self.api_write("PUT")

    def do_PATCH(self):
        self.api_write("PATCH")

    def api_write(self, verb):
        """Status subresources, Events and Leases (see the module doc)."""
        st = self.server.state
        path = urlsplit(self.path).path
        token = self.authorized()
        if token is None:
            return
        try:
            body = self.read_body()
        except ValueError:
            self.send_json(400, status(400, "BadRequest", "bad JSON"))
            return
        if not isinstance(body, dict):
            self.send_json(400, status(400, "BadRequest", "not an object"))
            return
        ctype = self.headers.get("Content-Type", "")
        with st.lock:
            code, res = self.route_write(verb, path, body, ctype)
            st.count(verb + " " + ("status" if path.endswith("/status") else
                                   "events" if "/events" in path else
                                   "leases" if "/leases" in path else "other"))
            st.writes.append({"verb": verb, "path": path, "token": token,
                              "code": code, "content_type": ctype})
            if "/leases" in path:
                st.lease_log.append({
                    "verb": verb, "token": token, "code": code,
                    "t": time.monotonic(),
                    "rv": (res.get("metadata") or {}).get("resourceVersion", "")
                    if code < 300 else "",
                    "holder": (body.get("spec") or {}).get("holderIdentity", "")})
        self.send_json(code, res)

    def route_write(self, verb, path, body, ctype):
        st = self.server.state
        sp = status_path(path)
        if sp and verb in ("PUT", "PATCH"):
            kind, ns, name = sp
            if kind in GATEWAY_API and not st.gateway_api:
                return 404, status(404, "NotFound", NOT_FOUND)
            if verb == "PATCH" and "merge-patch" not in ctype:
                return 415, status(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown "
                                   "format - accepted media types include: "
                                   "application/merge-patch+json")
            return st.write_status(kind, ns, name, body, verb == "PATCH")
        parts = path.strip("/").split("/")
        # /api/v1/namespaces/NS/events[/NAME]
        if path.startswith(EVENTS_PREFIX) and len(parts) in (5, 6) and \
                parts[4] == "events":
            ns = parts[3]
            if verb == "POST" and len(parts) == 5:
                name = (body.get("metadata") or {}).get("name")
                if not name:
                    return 422, status(422, "Invalid", "metadata.name: Required value")
                if (body.get("metadata") or {}).get("namespace", ns) != ns:
                    return 400, status(400, "BadRequest",
                                       "the namespace of the object does not "
                                       "match the namespace on the request")
                if ns + "/" + name in st.events:
                    return 409, status(409, "AlreadyExists",
                                       'events "%s" already exists' % name)
                st.rv += 1
                ev = copy.deepcopy(body)
                ev["metadata"]["namespace"] = ns
                ev["metadata"]["resourceVersion"] = str(st.rv)
                st.events[ns + "/" + name] = ev
                return 201, ev
            if verb == "PATCH" and len(parts) == 6:
                # What client-go's recorder sends for a repeat: a merge
                # patch (JSON or strategic: the same for Event's scalar
                # fields). JSON Patch is not served here.
                if ctype.split(";")[0].strip() not in (
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json"):
                    return 415, status(415, "UnsupportedMediaType",
                                       "the body of the request was in an "
                                       "unknown format - accepted media types "
                                       "include: application/merge-patch+json, "
                                       "application/strategic-merge-patch+json")
                key = ns + "/" + parts[5]
                if key not in st.events:
                    return 404, status(404, "NotFound",
                                       'events "%s" not found' % parts[5])
                want = (body.get("metadata") or {}).get("resourceVersion")
                if want and want != st.events[key]["metadata"]["resourceVersion"]:
                    return 409, status(409, "Conflict",
                                       'Operation cannot be fulfilled on events '
                                       '"%s": the object has been modified; '
                                       'please apply your changes to the latest '
                                       'version and try again' % parts[5])
                for f in ("name", "namespace"):
                    if f in (body.get("metadata") or {}) and \
                            body["metadata"][f] != st.events[key]["metadata"][f]:
                        return 422, status(422, "Invalid",
                                           "metadata.%s: field is immutable" % f)
                st.rv += 1
                ev = merge_patch(st.events[key], body)
                ev["metadata"]["resourceVersion"] = str(st.rv)
                st.events[key] = ev
                return 200, ev
        # /apis/coordination.k8s.io/v1/namespaces/NS/leases[/NAME]
        if path.startswith(LEASES) and len(parts) in (6, 7) and \
                parts[5] == "leases":
            ns = parts[4]
            if verb == "POST" and len(parts) == 6:
                name = (body.get("metadata") or {}).get("name")
                if not name:
                    return 422, status(422, "Invalid", "metadata.name: Required value")
                if ns + "/" + name in st.leases:
                    return 409, status(409, "AlreadyExists",
                                       'leases.coordination.k8s.io "%s" already '
                                       'exists' % name)
                return 201, self.store_lease(ns, name, body)
            if verb == "PUT" and len(parts) == 7:
                key = ns + "/" + parts[6]
                cur = st.leases.get(key)
                if cur is None:
                    return 404, status(404, "NotFound",
                                       'leases.coordination.k8s.io "%s" not found'
                                       % parts[6])
                want = (body.get("metadata") or {}).get("resourceVersion")
                if want and want != cur["metadata"]["resourceVersion"]:
                    return 409, status(409, "Conflict",
                                       'Operation cannot be fulfilled on '
                                       'leases.coordination.k8s.io "%s": the object '
                                       'has been modified; please apply your changes '
                                       'to the latest version and try again' % parts[6])
                return 200, self.store_lease(ns, parts[6], body, cur)
        return 404, status(404, "NotFound", NOT_FOUND)

    def store_lease(self, ns, name, body, cur=None):
        st = self.server.state
        st.rv += 1
        obj = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
               "metadata": {"name": name, "namespace": ns,
                            "resourceVersion": str(st.rv),
                            "uid": cur["metadata"]["uid"] if cur else str(uuid.uuid4()),
                            "creationTimestamp":
                                cur["metadata"]["creationTimestamp"] if cur else
                                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
               "spec": copy.deepcopy(body.get("spec") or {})}
        st.leases[ns + "/" + name] = obj
        return obj

    def do_GET(self):
        st = self.server.state
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/_test/stats":
            with st.lock:
                s = copy.deepcopy(st.stats)
                s["watches"] = len(st.watches)
                s["resourceVersion"] = str(st.rv)
            self.send_json(200, s)
            return
        if url.path in ("/_test/writes", "/_test/leases", "/_test/events",
                        "/_test/lease_log"):
            with st.lock:
                res = copy.deepcopy({"/_test/writes": st.writes,
                                     "/_test/leases": st.leases,
                                     "/_test/lease_log": st.lease_log,
                                     "/_test/events": st.events}[url.path])
            self.send_json(200, res)
            return
        parts = url.path.strip("/").split("/")
        if url.path.startswith(LEASES) and len(parts) == 7 and parts[5] == "leases":
            token = self.authorized()
            if token is None:
                return
            with st.lock:
                st.count("Lease/get")
                obj = copy.deepcopy(st.leases.get(parts[4] + "/" + parts[6]))
                st.lease_log.append({
                    "verb": "GET", "token": token, "code": 200 if obj else 404,
                    "t": time.monotonic(),
                    "rv": obj["metadata"]["resourceVersion"] if obj else "",
                    "holder": (obj or {}).get("spec", {}).get("holderIdentity", "")})
            if obj is None:
                self.send_json(404, status(404, "NotFound",
                                           'leases.coordination.k8s.io "%s" not found'
                                           % parts[6]))
            else:
                self.send_json(200, obj)
            return
        if url.path.startswith(EVENTS_PREFIX) and len(parts) == 5 and \
                parts[4] == "events":
            if self.authorized() is None:
                return
            with st.lock:
                items = [copy.deepcopy(v) for k, v in sorted(st.events.items())
                         if k.startswith(parts[3] + "/")]
                rv = str(st.rv)
            self.send_json(200, {"kind": "EventList", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": rv},
                                 "items": items})
            return
        if url.path not in KINDS or \
                (KINDS[url.path][0] in GATEWAY_API and not st.gateway_api):
            # What a real server says for a group/resource it does not
            # serve, e.g. the Gateway API without its CRDs.
            if url.path in KINDS:
                with st.lock:
                    st.count(KINDS[url.path][0] + "/absent")
            self.send_json(404, status(404, "NotFound", NOT_FOUND))
            return
        kind, api_version, list_kind = KINDS[url.path]
        if self.authorized() is None:
            return
        if field_selector(q.get("fieldSelector")) is None:
            self.send_json(400, status(400, "BadRequest",
                                       'field label not supported: %s'
                                       % q.get("fieldSelector")))
            return
        if q.get("watch") in ("1", "true"):
            self.watch(kind, api_version, q)
        else:
            self.list(kind, list_kind, api_version, q)

    def list(self, kind, list_kind, api_version, q):
        st = self.server.state
        limit = int(q.get("limit") or 0)
        with st.lock:
            st.count(kind + "/list")
            cont = q.get("continue")
            if cont:
                try:
                    sid, start = json.loads(base64.urlsafe_b64decode(cont))
                    rv, items = st.snapshots[sid]
                except (ValueError, KeyError, TypeError):
                    self.send_json(410, status(410, "Expired",
                                               "The provided continue parameter is too old"))
                    return
            else:
                sid, start = str(uuid.uuid4()), 0
                rv = st.rv
                items = []
                match = field_selector(q.get("fieldSelector"))
                for key in sorted(st.objects[kind]):
                    if not match(st.objects[kind][key]["metadata"]):
                        continue
                    o = copy.deepcopy(st.objects[kind][key])
                    # List items carry no kind/apiVersion of their own.
                    o.pop("kind", None)
                    o.pop("apiVersion", None)
                    items.append(o)
                st.snapshots[sid] = (rv, items)
        end = start + limit if limit else len(items)
        md = {"resourceVersion": str(rv)}
        if end < len(items):
            md["continue"] = base64.urlsafe_b64encode(
                json.dumps([sid, end]).encode()).decode()
            md["remainingItemCount"] = len(items) - end
        self.send_json(200, {"kind": list_kind, "apiVersion": api_version,
                             "metadata": md, "items": items[start:end]})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, kind, api_version, q):
        st = self.server.state
        timeout = int(q.get("timeoutSeconds") or 1800)
        try:
            since = int(q.get("resourceVersion") or "0")
        except ValueError:
            self.send_json(400, status(400, "BadRequest", "bad resourceVersion"))
            return
        w = Watch(kind, q.get("allowWatchBookmarks") == "true",
                  field_selector(q.get("fieldSelector")))
        with st.lock:
            st.count(kind + "/watch")
            gone = since < st.compacted or st.gone_always
            if gone:
                st.stats["gone"] += 1
                if st.gone_mode == "http":
                    self.send_json(410, status(410, "Expired",
                                               "too old resource version: %d (%d)"
                                               % (since, st.compacted)))
                    return
            else:
                for rv, k, line, md in st.history:
                    if k == kind and rv > since and w.match(md):
                        w.queue.append(line)
                st.watches.append(w)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if gone:
            self.chunk(json.dumps({"type": "ERROR", "object": status(
                410, "Expired", "too old resource version: %d (%d)"
                % (since, st.compacted))}, separators=(",", ":")).encode() + b"\n")
            self.chunk(b"")
            return
        deadline = time.monotonic() + timeout
        try:
            while True:
                with st.lock:
                    while not w.queue and not w.drop and \
                            time.monotonic() < deadline:
                        st.lock.wait(0.05)
                    lines, w.queue = w.queue, []
                    drop = w.drop
                if drop:
                    # Lose the connection mid-stream: no terminating chunk.
                    # What was queued before (a bookmark, an event) goes
                    # first, as a real server's bytes before the break;
                    # dropped with it, it hung on this thread being woken
                    # between the two requests (test_bookmark ran 200 ms).
                    if lines:
                        self.chunk(b"".join(lines))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if lines:
                    self.chunk(b"".join(lines))
                elif time.monotonic() >= deadline:
                    self.chunk(b"")
                    return
        except OSError:
            self.close_connection = True
        finally:
            with st.lock:
                st.watches.remove(w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="::1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--fixture", action="append", default=[],
                    help="object JSON file to load before serving")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate")
    ap.add_argument("--tls-key", help="... and this PEM key")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-gateway-api", action="store_true",
                    help="serve as a cluster without the Gateway API CRDs (404)")
    a = ap.parse_args()

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in a.listen else socket.AF_INET
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A client that refuses our certificate is a test case, not
            # a server bug: no traceback unless asked for.
            if a.verbose:
                super().handle_error(request, client_address)

    srv = Server((a.listen, a.port), Handler)
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        # Handshake in the request's thread, not in accept(): a client
        # that stalls its handshake must not block everyone else.
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    srv.state = State(a.token)
    srv.state.gateway_api = not a.no_gateway_api
    srv.verbose = a.verbose
    for f in a.fixture:
        with open(f) as fh, srv.state.lock:
            srv.state.apply(json.load(fh))
    print("PORT %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
