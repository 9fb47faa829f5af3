#!/usr/bin/env python3
"""A test Kubernetes API server for anysteer's list+watch client.

Speaks the parts of the real protocol the client uses, for two resources
(v1 Services and discovery.k8s.io/v1 EndpointSlices, cluster-wide):

  GET /api/v1/services?limit=N[&continue=T]          -> ServiceList
  GET /apis/discovery.k8s.io/v1/endpointslices?...   -> EndpointSliceList
  GET ...?watch=1&resourceVersion=R&allowWatchBookmarks=true&timeoutSeconds=S
      -> HTTP/1.1 200, Transfer-Encoding: chunked, one JSON WatchEvent per
         line ({"type": "ADDED", "object": {...}}), ended after S seconds
         with the terminating chunk.

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
  raw {kind, line}                   writes a raw line to the watches of kind
  tokens {tokens: [..]}              the accepted bearer tokens
  GET /_test/stats                   request counters, tokens seen, watches

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

KINDS = {
    "/api/v1/services": ("Service", "v1", "ServiceList"),
    "/apis/discovery.k8s.io/v1/endpointslices":
        ("EndpointSlice", "discovery.k8s.io/v1", "EndpointSliceList"),
}
BY_KIND = {v[0]: (k, v[1], v[2]) for k, v in KINDS.items()}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason,
            "code": code}


class Watch:
    def __init__(self, kind, bookmarks):
        self.kind = kind
        self.bookmarks = bookmarks
        self.queue = []
        self.drop = False


class State:
    def __init__(self, tokens):
        self.lock = threading.Condition()
        self.rv = 1000
        self.objects = {k: {} for k in BY_KIND}
        self.history = []          # (rv, kind, line bytes)
        self.compacted = 0
        self.gone_mode = "event"
        self.tokens = set(tokens)
        self.watches = []
        self.snapshots = {}
        self.stats = {"requests": {}, "tokens_seen": [], "unauthorized": 0,
                      "gone": 0}

    def count(self, name):
        r = self.stats["requests"]
        r[name] = r.get(name, 0) + 1

    def emit(self, kind, etype, obj, silent=False):
        line = json.dumps({"type": etype, "object": obj},
                          separators=(",", ":")).encode() + b"\n"
        self.history.append((self.rv, kind, line))
        # silent: the event is in the history but the open watches miss
        # it, as a client that was away while it happened.
        for w in self.watches:
            if w.kind == kind and not silent:
                w.queue.append(line)
        self.lock.notify_all()

    def apply(self, obj, silent=False):
        kind = obj["kind"]
        md = obj.setdefault("metadata", {})
        key = md["namespace"] + "/" + md["name"]
        self.rv += 1
        old = self.objects[kind].get(key)
        md["resourceVersion"] = str(self.rv)
        md.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        md.setdefault("creationTimestamp",
                      time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        obj["apiVersion"] = BY_KIND[kind][1]
        self.objects[kind][key] = obj
        self.emit(kind, "MODIFIED" if old else "ADDED", obj, silent)
        return self.rv

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

    def do_POST(self):
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
            elif path == "/_test/delete":
                rv = st.delete(body["kind"], body["namespace"], body["name"],
                               silent)
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
        if url.path not in KINDS:
            self.send_json(404, status(404, "NotFound",
                                       "the server could not find the requested resource"))
            return
        kind, api_version, list_kind = KINDS[url.path]
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with st.lock:
            if token not in st.stats["tokens_seen"]:
                st.stats["tokens_seen"].append(token)
            if token not in st.tokens:
                st.stats["unauthorized"] += 1
                self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
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
                for key in sorted(st.objects[kind]):
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
        w = Watch(kind, q.get("allowWatchBookmarks") == "true")
        with st.lock:
            st.count(kind + "/watch")
            gone = since < st.compacted
            if gone:
                st.stats["gone"] += 1
                if st.gone_mode == "http":
                    self.send_json(410, status(410, "Expired",
                                               "too old resource version: %d (%d)"
                                               % (since, st.compacted)))
                    return
            else:
                for rv, k, line in st.history:
                    if k == kind and rv > since:
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
