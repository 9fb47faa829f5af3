"""`tests/eval/run scale`: how anysteer and the L7 ingress proxies grow
with nodes, services and client identities (issue 15, section 3).

One step = one emulated cluster (NamespaceBackend, one pod per node, one
client site) of N nodes serving S services, each service with up to two
pods on different nodes (a pod serves many services: as-backend answers
any name). Per step, measured on this machine:
  - every node agent's CPU seconds and peak RSS over a quiet window
    (/proc of the anysteerd PIDs) and its gossip bytes per second (UDP and
    TCP, in and out, from `status`'s gossip.bytes);
  - time to answerable: an endpoint is added to one node's configuration
    (reload), and every node's `explain SERVICE` is polled until it holds it
    healthy; p50/p99 over nodes;
  - DNS queries per second reaching anysteer at a fixed offered load, per
    number of client identities (as-loadgen with anysteer's anycast
    address as the clients' resolver, each identity caching for the TTL).
At the smallest N, per S, for nginx and HAProxy on one ingress node: CPU
per request and peak memory at the same load, then pod churn during load:
nginx rewrites upstreams and `nginx -s reload` (reload time = until every
worker is a new one), HAProxy uses its runtime API over the stats socket
(`set server B/S addr`, as haproxy-ingress does; time = until `show
servers state` shows the new address); failed requests during the churn.
Modelled: tests/bench/gossip_bench --endpoints (simulated time) for node
counts beyond this machine: bytes per node per second and dissemination
p50/p99 of an endpoint change.
"""
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from . import cluster, steady
from .backend import NamespaceBackend, restart_agents_with
from .steady import Interrupted, log, loadavg

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICAS = 2   # pods per service (on different nodes)
DEFAULT_MAX_ENDPOINTS = 256   # gossip.max_endpoints_per_node
LOADGEN_NAMES = 64   # as-loadgen's MAX_NAMES
PROGRESS_S = 10.0    # a progress line this often while waiting for readiness


# Seconds for estimate(), from the quick runs on the 2-core VM (a step of
# 3-5 nodes: ~10 s up, ~3 s down) and single larger steps; a step's set-up
# grows with the endpoint records every agent must hold (nodes x
# endpoints), its teardown with the nodes.
STEP_SETUP_S = 4.0
STEP_SETUP_PER_NODE_S = 1.0
STEP_SETUP_PER_COPY_S = 0.002     # per endpoint held by a node
STEP_RESTART_S = 15.0             # agents restarted for max_endpoints_per_node
STEP_TEARDOWN_S = 2.0
STEP_TEARDOWN_PER_NODE_S = 0.3
LOAD_OVERHEAD_S = 2.0             # as-loadgen's start, warm-up second, reading
PROXY_START_S = 3.0
# gossip_bench --endpoints at 1000 nodes in a plain build: 264 s (146 s of
# CPU, niced at load average 7; sanitized ~13 min); about nodes^1.5.
MODEL_S_AT_1000 = 250.0


def estimate(o):
    """{"runs" (steps), "run_s", "setup_s", "total_s"}: per step set-up,
    the quiet window, the time-to-answerable reps, the DNS load per client
    count and teardown; the proxies at the smallest node count; the model."""
    steps, total, setup = 0, 0.0, 0.0
    for n in o.nodes:
        for s in o.services:
            steps += 1
            eps = ScaleLayout(n, s).endpoint_count()
            up = STEP_SETUP_S + STEP_SETUP_PER_NODE_S * n + STEP_SETUP_PER_COPY_S * n * eps
            if eps / float(n) + o.tta_reps > DEFAULT_MAX_ENDPOINTS:
                up += STEP_RESTART_S
            setup += up
            total += up + o.window + o.tta_reps * (1.0 + 0.05 * n) + \
                len(o.clients) * (o.duration + LOAD_OVERHEAD_S) + \
                STEP_TEARDOWN_S + STEP_TEARDOWN_PER_NODE_S * n
            if n == o.nodes[0]:
                total += len(o.proxy_modes) * (PROXY_START_S + s / 200.0 + o.duration +
                                               o.churn_duration + 2 * LOAD_OVERHEAD_S)
    for s in o.model_services or []:
        for n in o.model_sizes or []:
            total += MODEL_S_AT_1000 * (n / 1000.0) ** 1.5
    return {"runs": steps, "run_s": round(total / steps, 1) if steps else 0.0,
            "setup_s": round(setup), "total_s": round(total)}


class ScaleLayout:
    """S services over N single-pod nodes: service k (0-based) is served by
    the pods of nodes k mod N + 1 and (k+1) mod N + 1. Duck-types
    cluster.Layout for the proxies' configurations."""

    def __init__(self, nodes, services):
        self.nodes, self.nservices = nodes, services
        self.weights = None
        self.services = ["svc%d" % (k + 1) for k in range(services)]
        self.pods = [("n%dp1" % i, i, 1, None) for i in range(1, nodes + 1)]
        self._of = {}
        for k, s in enumerate(self.services):
            ids = sorted({k % nodes + 1, (k + 1) % nodes + 1})[:REPLICAS]
            self._of[s] = [("n%dp1" % i, i, 1, s) for i in ids]

    def pods_of(self, service):
        return self._of[service]

    def weight(self, name):
        return 100

    def dns_name(self, service):
        return "%s.%s" % (service, cluster.SERVICE_ZONE.rstrip("."))

    def ingress_name(self, service):
        return "%s.%s" % (service, cluster.INGRESS_ZONE.rstrip("."))

    def load_services(self):
        """The services the load asks for: all, or LOADGEN_NAMES spread
        evenly over them (what as-loadgen takes)."""
        step = int(math.ceil(len(self.services) / float(LOADGEN_NAMES)))
        return self.services[::step]

    def endpoint_count(self):
        return sum(len(v) for v in self._of.values())


def services_yaml(layout, backend, ttl, max_answers):
    out = ["services:"]
    for s in layout.services:
        out += ["  - name: %s" % s, "    port: %d" % cluster.POD_PORT, "    ttl: %d" % ttl,
                "    max_answers: %d" % max_answers, "    endpoints:"]
        for name, i, j, _ in layout.pods_of(s):
            out.append('      - { address: "%s", node: node%d }  # pod %s'
                       % (backend.pod_addr(i, j), i, name))
    return "\n".join(out) + "\n"


def add_endpoint(conf_text, service, address, node):
    """conf_text with one more endpoint under service's `endpoints:`."""
    lines = conf_text.split("\n")
    start = lines.index("  - name: %s" % service)
    k = next(n for n in range(start + 1, len(lines)) if lines[n] == "    endpoints:")
    lines.insert(k + 1, '      - { address: "%s", node: %s }  # added by scale' % (address, node))
    return "\n".join(lines)


class Ctl:
    """One connection to an agent's control socket (a UNIX path, reachable
    from any namespace): line-delimited JSON, cheaper to poll than
    anysteerctl."""

    def __init__(self, path):
        self.path = path
        self.s = None
        self.buf = b""

    def ask(self, command, timeout=30.0, argv=None):
        if self.s is None:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.connect(self.path)
        self.s.settimeout(timeout)
        self.s.sendall((json.dumps({"version": 1, "command": command,
                                   "args": {"argv": argv} if argv else {}}) + "\n")
                       .encode())
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("%s closed the connection" % self.path)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        r = json.loads(line)
        if not r.get("ok"):
            raise RuntimeError("%s: %s: %s" % (self.path, command, r.get("error")))
        return r["data"]

    def close(self):
        if self.s:
            self.s.close()
            self.s = None


def pct(values, p):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return v[min(len(v) - 1, max(0, int(math.ceil(p * len(v))) - 1))]


def median(values):
    return pct(values, 0.5)


class Scale:
    def __init__(self, opts, top):
        self.o, self.top = opts, top
        self.out = os.path.abspath(opts.out)
        tag = os.getpid()
        self.prefix = "es%d" % (tag % 100000)
        self.state = "/tmp/anysteer-evalscale-%d" % tag
        self.be = None
        self.procs = {}
        self.steps, self.proxies, self.model = [], [], []
        self.meta = {}
        self.t_start = time.time()

    # ---- one cluster -----------------------------------------------------------
    def dirs(self, *p):
        d = os.path.join(self.out, *p)
        os.makedirs(d, exist_ok=True)
        return d

    def up(self, n, s, proxies):
        o = self.o
        self.layout = L = ScaleLayout(n, s)
        self.be = be = NamespaceBackend(self.top, self.build, self.prefix, self.state, n, 1,
                                        1 if proxies else 0, 1, None,
                                        health_interval=o.health_interval, log=log,
                                        load="static", bfd_ms=o.bfd_ms)
        be.services_yaml = services_yaml(L, be, o.ttl, 2)
        tag = "n%d-s%d" % (n, s)
        self.logs = self.dirs("logs", tag)
        cluster.write(os.path.join(self.dirs("configs", tag), "services.yaml"), be.services_yaml)
        log("step %s: cluster up (prefix %s, state %s)" % (tag, self.prefix, self.state))
        t = time.monotonic()
        be.up()
        # A node announces at most gossip.max_endpoints_per_node (256 by
        # default, fixed at start): above, restart the agents with room.
        per_node = max(sum(1 for s in L.services for p in L.pods_of(s) if p[1] == i)
                       for i in range(1, n + 1)) + o.tta_reps
        self.max_eps = None
        if per_node > DEFAULT_MAX_ENDPOINTS:
            self.max_eps = per_node
            log("step %s: %d endpoints on a node: restarting the agents with "
                "gossip.max_endpoints_per_node %d" % (tag, per_node, per_node))
            restart_agents_with(be, "gossip", ["max_endpoints_per_node: %d" % per_node])
        self.pods = {}
        for name, i, j, _ in L.pods:
            self.pods[name] = be.spawn(("pod", i, j), "as-backend", [
                self.bin["as-backend"], "--listen", "[::]:%d" % cluster.POD_PORT,
                "--pod", name, "--service-us", 50, "--size", 256,
                "--pidfile", os.path.join(be.host_dir(("pod", i, j)), "backend.pid")],
                os.path.join(self.logs, "pod-%s.log" % name))
        d = be.host_dir("router")
        cluster.write(os.path.join(d, "ingress.zone"), cluster.ingress_zone(L, be.vip, 300))
        conf = cluster.write(os.path.join(d, "nsd.conf"), cluster.nsd_conf(d, be.router_addr))
        self.nsd = be.spawn("router", "nsd", ["nsd", "-d", "-c", conf],
                            os.path.join(self.logs, "nsd.log"))
        self.ctls = {i: Ctl(os.path.join(self.state, "n%d" % i, "ctl.sock"))
                     for i in range(1, n + 1)}
        total = L.endpoint_count()
        pending = set(range(1, n + 1))
        seen = {}     # node -> endpoints it last saw healthy
        self.progress = []
        watch = {"next": time.monotonic() + PROGRESS_S, "cpu": (sum(
            v.cpu_s for v in be.stats(self.agents()).values() if v), time.monotonic())}

        def ready():
            for p in list(self.pods.values()) + [self.nsd]:
                if be.poll(p) is not None:
                    raise RuntimeError("%s exited (%s)" % (p.name, p.log))
            if time.monotonic() >= watch["next"]:
                watch["next"] = time.monotonic() + PROGRESS_S
                self.progress.append(self.ready_progress(t, n, total, pending, seen, watch))
            # A node that saw every endpoint healthy is not asked again
            # (`services` of 1000 services is a large answer).
            for i in sorted(pending):
                svcs = self.ctls[i].ask("services")["services"]
                seen[i] = sum(1 for v in svcs for e in v["endpoints"] if e["healthy"])
                if seen[i] != total:
                    return False
                pending.discard(i)
            return True
        # Under a busy CPU record pulls time out and are retried
        # (22 nodes x 1000 services took over 290 s on a loaded 2-core
        # machine): the progress lines say where the time goes.
        try:
            cluster.wait_for(ready, 180 + n * 5 + total / 4.0,
                             "every agent to see %d endpoints healthy" % total, 0.5)
        finally:
            try:
                self.progress.append(self.ready_progress(t, n, total, pending, seen, watch))
            except Exception as e:  # must not hide why the wait ended
                log("  (no last progress sample: %s)" % e)
        setup = time.monotonic() - t
        log("step %s: ready after %.1f s (%d endpoints); load average %s"
            % (tag, setup, total, loadavg()))
        return setup

    def ready_progress(self, t0, n, total, pending, seen, watch):
        """One sample of the wait for readiness, logged: nodes done, the
        first pending node's healthy endpoints, every agent's own
        endpoints (probes: healthy of announced), gossip pulls and view
        builds summed over the agents, the agents' CPU since the last
        sample, the load average."""
        x = {"t_s": round(time.monotonic() - t0, 1), "done": n - len(pending),
             "waiting_for": min(pending) if pending else None, "loadavg": loadavg()}
        x["seen"] = seen.get(x["waiting_for"]) if pending else total
        local = [0, 0]
        pulls = {"sent": 0, "timed_out": 0, "done": 0}
        builds = 0
        for i, c in self.ctls.items():
            try:
                g = c.ask("status", timeout=10).get("gossip") or {}
            except (OSError, RuntimeError, ValueError) as e:
                x.setdefault("errors", []).append("node %d: %s" % (i, e))
                continue
            local[0] += int(g.get("local_endpoints_healthy", 0))
            local[1] += int(g.get("local_endpoints", 0))
            for k in pulls:
                pulls[k] += int((g.get("pulls") or {}).get(k, 0))
            builds += int(g.get("view_builds", 0))
        x.update({"local_healthy": local[0], "local": local[1], "pulls": pulls,
                  "view_builds": builds})
        procs = self.agents()
        st = self.be.stats(procs)
        cpu = sum(v.cpu_s for v in st.values() if v is not None)
        now = time.monotonic()
        if watch["cpu"] is not None:
            x["agents_cpu_pct"] = round(100 * (cpu - watch["cpu"][0]) / (now - watch["cpu"][1]), 1)
        watch["cpu"] = (cpu, now)
        log("  ready? %.0f s: %d/%d nodes; node %s sees %s/%d healthy; agents' own endpoints "
            "%d/%d healthy; pulls sent %d timed out %d done %d; view builds %d; agents CPU "
            "%s %%; load %s" % (x["t_s"], x["done"], n, x["waiting_for"], x["seen"], total,
                                local[0], local[1], pulls["sent"], pulls["timed_out"],
                                pulls["done"], builds, x.get("agents_cpu_pct", "-"),
                                x["loadavg"]))
        return x

    def down(self):
        for c in getattr(self, "ctls", {}).values():
            c.close()
        self.ctls = {}
        if self.be is not None and self.be.is_up:
            try:
                self.be.save_logs(self.logs)
            except OSError:
                pass
            self.be.down()
        self.be = None

    # ---- anysteer figures ---------------------------------------------------
    def agents(self):
        return [p for p in self.be.system_procs() if p.name == "anysteerd"]

    def gossip_bytes(self):
        out = {}
        for i, c in self.ctls.items():
            b = (c.ask("status").get("gossip") or {}).get("bytes") or {}
            out[i] = sum(int(b.get(k, 0)) for k in ("udp_in", "udp_out", "tcp_in", "tcp_out"))
            out[i] = (out[i], int(b.get("udp_out", 0)) + int(b.get("tcp_out", 0)))
        return out

    def quiet_window(self):
        """CPU, peak RSS and gossip bytes of every agent over o.window s."""
        be, procs = self.be, self.agents()
        if len(procs) != self.layout.nodes:
            raise RuntimeError("found %d anysteerd of %d nodes" % (len(procs), self.layout.nodes))
        s0, g0, t0 = be.stats(procs), self.gossip_bytes(), time.monotonic()
        time.sleep(self.o.window)   # the window itself is what is measured
        s1, g1, dt = be.stats(procs), self.gossip_bytes(), time.monotonic() - t0
        nodes = []
        for p in procs:
            i = p.host[1]
            a, b = s0[p.pid], s1[p.pid]
            if a is None or b is None:
                raise RuntimeError("anysteerd of node %d exited" % i)
            nodes.append({"node": i, "cpu_s": round(b.cpu_s - a.cpu_s, 3),
                          "cpu_pct": round(100 * (b.cpu_s - a.cpu_s) / dt, 2),
                          "cpu_s_total": round(b.cpu_s, 2), "rss_kb": b.rss_kb,
                          "peak_rss_kb": b.hwm_kb,
                          "gossip_bps": round((g1[i][0] - g0[i][0]) / dt, 1),
                          "gossip_out_bps": round((g1[i][1] - g0[i][1]) / dt, 1)})
        nodes.sort(key=lambda x: x["node"])
        return {"window_s": round(dt, 2), "nodes": nodes,
                "median": {k: median([x[k] for x in nodes])
                           for k in ("cpu_pct", "peak_rss_kb", "gossip_bps", "gossip_out_bps")},
                "max": {k: max(x[k] for x in nodes)
                        for k in ("cpu_pct", "peak_rss_kb", "gossip_bps", "gossip_out_bps")}}

    def time_to_answerable(self, rep):
        """Adds node a's pod to a service it does not serve (node a's
        configuration, reload) and times each node until its `explain SERVICE`
        holds the endpoint healthy."""
        L, be, n = self.layout, self.be, self.layout.nodes
        a = (rep % n) + 1
        addr = be.pod_addr(a, 1)
        cand = [s for s in L.services if all(p[1] != a for p in L.pods_of(s))
                and s not in self.added]
        if not cand:
            return None
        svc = cand[rep % len(cand)]
        self.added.add(svc)
        path = os.path.join(self.state, "n%d" % a, "anysteer.yaml")

        def has(c):
            # `explain` holds one service's endpoints: polling `services`
            # (every service) would cost the agents more than the change.
            return any(e["address"] == addr and e["healthy"]
                       for e in c.ask("explain", argv=[svc])["endpoints"])

        with open(path) as f:
            text = f.read()
        if any(has(self.ctls[i]) for i in range(1, n + 1)):
            raise RuntimeError("%s already holds %s before it was added" % (svc, addr))
        seen, errors = {}, []
        go = threading.Event()
        t0 = [0.0]

        def poll(i):
            c = Ctl(self.ctls[i].path)
            try:
                go.wait()
                deadline = time.monotonic() + self.o.tta_timeout
                while time.monotonic() < deadline:
                    if has(c):
                        seen[i] = time.monotonic() - t0[0]
                        return
                    time.sleep(self.o.poll_ms / 1000.0)
            except Exception as e:  # reported with the result
                errors.append("node %d: %s" % (i, e))
            finally:
                c.close()
        threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(1, n + 1)]
        for t in threads:
            t.start()
        with open(path, "w") as f:
            f.write(add_endpoint(text, svc, addr, "node%d" % a))
        t0[0] = time.monotonic()
        go.set()
        self.ctls[a].ask("reload", timeout=60)
        reload_s = time.monotonic() - t0[0]
        for t in threads:
            t.join(self.o.tta_timeout + 30)
        per = [seen.get(i) for i in range(1, n + 1)]
        got = [x for x in per if x is not None]
        return {"rep": rep, "node": a, "service": svc, "address": addr,
                "reload_s": round(reload_s, 3),
                "per_node_s": [None if x is None else round(x, 3) for x in per],
                "origin_s": None if per[a - 1] is None else round(per[a - 1], 3),
                "seen_by": len(got), "nodes": n, "errors": errors,
                "p50_s": None if not got else round(pct(got, 0.5), 3),
                "p99_s": None if len(got) < n else round(pct(got, 0.99), 3)}

    def agent_queries(self):
        return sum(int(c.ask("status")["queries"].get("total", 0)) for c in self.ctls.values())

    def loadgen(self, tag, names, resolver, port, rate, duration, clients, seed):
        o, be = self.o, self.be
        outdir = self.dirs("runs", tag)
        argv = [self.bin["as-loadgen"], "--resolver", "[%s]:53" % resolver]
        for nm in names:
            argv += ["--name", nm]
        argv += ["--rate", "%g" % rate, "--duration", duration + 1, "--warmup", 1,
                 "--arrival", "poisson", "--clients", clients, "--client-cache", "ttl",
                 "--reuse", "on", "--try-next", "off", "--port", port, "--path", "/",
                 "--timeout-ms", 2000, "--seed", seed,
                 "--out", os.path.join(outdir, "loadgen.json"),
                 "--series", os.path.join(outdir, "loadgen.csv")]
        with open(os.path.join(outdir, "loadgen.cmd"), "w") as f:
            f.write(" ".join(map(str, argv)) + "\n")
        return be.spawn(("site", 1), "as-loadgen", argv, os.path.join(outdir, "loadgen.log")), outdir

    def finish_loadgen(self, g, outdir, limit):
        rc = self.be.wait(g, limit)
        if rc is None:
            self.be.stop(g, signal.SIGKILL)
            raise RuntimeError("as-loadgen did not finish in %d s (%s)" % (limit, g.log))
        if rc != 0:
            raise RuntimeError("as-loadgen exited %d: see %s" % (rc, g.log))
        with open(os.path.join(outdir, "loadgen.json")) as f:
            lg = json.load(f)
        errs = {k: int(v) for k, v in lg["errors"].items() if int(v)}
        return {"sent": int(lg["sent"]), "ok": int(lg["ok"]),
                "warmup_requests": int(lg["warmup_requests"]),
                "errors": errs, "errors_total": sum(errs.values()),
                "achieved_rps": float(lg["achieved_rps"]),
                "client_queries_sent": int(lg["dns"]["queries_sent"])}

    def dns_load(self, tag):
        """Queries per second reaching anysteer (all nodes) per number of
        client identities, at o.rate requests/s over every service name."""
        o, L, be = self.o, self.layout, self.be
        out = []
        for c in o.clients:
            q0, t0 = self.agent_queries(), time.monotonic()
            g, d = self.loadgen("%s-dns-c%d" % (tag, c), [L.dns_name(s) for s in L.load_services()],
                                be.anycast, cluster.POD_PORT, o.rate, o.duration, c, 1 + c)
            r = self.finish_loadgen(g, d, o.duration + 60)
            dt = time.monotonic() - t0
            q = self.agent_queries() - q0
            r.update({"clients": c, "rate": o.rate, "agent_queries": q,
                      "agent_qps": round(q / dt, 1), "wall_s": round(dt, 2)})
            out.append(r)
            log("  clients %d: %d queries reached anysteer (%.1f/s), ok %d, errors %d"
                % (c, q, r["agent_qps"], r["ok"], r["errors_total"]))
        return out

    # ---- proxies ---------------------------------------------------------------
    def start_proxy(self, mode):
        be, L, o = self.be, self.layout, self.o
        d = be.host_dir(("ingress", 1))
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        cdir = self.dirs("configs", "n%d-s%d" % (L.nodes, L.nservices))
        if mode == "nginx":
            conf = os.path.join(d, "nginx.conf")
            cluster.write(conf, cluster.nginx_conf(L, be, d, be.vip, o.proxy_workers))
            shutil.copy(conf, cdir)
            p = be.spawn(("ingress", 1), "nginx", ["nginx", "-c", conf, "-p", d],
                         os.path.join(self.logs, "nginx.log"))
        else:
            conf = os.path.join(d, "haproxy.cfg")
            cluster.write(conf, cluster.haproxy_conf(L, be, d, be.vip, o.proxy_workers))
            shutil.copy(conf, cdir)
            p = be.spawn(("ingress", 1), "haproxy", ["haproxy", "-db", "-f", conf],
                         os.path.join(self.logs, "haproxy.log"))
        port = steady.PROXY_PORTS[mode]
        url = "http://[%s]:%d/" % (be.vip, port)
        svc = L.services[-1]

        def served():
            if be.poll(p) is not None:
                raise RuntimeError("%s exited (%s)" % (mode, p.log))
            r = be.run(("site", 1), ["python3", os.path.join(HERE, "fetch.py"), "--timeout", 2,
                                     "--host", L.ingress_name(svc), url], check=False, timeout=30)
            try:
                return json.loads(r.stdout)[url].get("status") == 200
            except (ValueError, KeyError):
                return False
        cluster.wait_for(served, 60 + L.nservices / 10, "%s to serve %s" % (mode, svc), 0.5)
        return p, conf, d

    def haproxy_cmd(self, sock, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(30)
            s.connect(sock)
            s.sendall((cmd + "\n").encode())
            out = b""
            while True:
                b = s.recv(1 << 16)
                if not b:
                    break
                out += b
            return out.decode(errors="replace")
        finally:
            s.close()

    def churn_event(self, mode, proc, conf, d, svc):
        """Moves one pod of svc to another node's pod; returns the
        seconds until the proxy applies it."""
        L, be = self.layout, self.be
        pods = L._of[svc]
        old = pods[0]
        used = {p[1] for p in pods}
        new_i = next(i for i in list(range(old[1] + 1, L.nodes + 1)) + list(range(1, old[1]))
                     if i not in used) if L.nodes > len(used) else old[1]
        new = ("n%dp1" % new_i, new_i, 1, svc)
        t0 = time.monotonic()
        if mode == "nginx":
            L._of[svc] = [new] + pods[1:]
            workers0 = {c.pid for c in be.children(proc)}
            cluster.write(conf, cluster.nginx_conf(L, be, d, be.vip, self.o.proxy_workers))
            be.run(("ingress", 1), ["nginx", "-c", conf, "-p", d, "-s", "reload"], timeout=60)

            def applied():
                now = {c.pid for c in be.children(proc)}
                fresh = now - workers0
                return len(fresh) >= self.o.proxy_workers
            cluster.wait_for(applied, 120, "nginx to start new workers", 0.01)
        else:
            # The server keeps its name (the slot), its address changes:
            # what haproxy-ingress does with `set server ... addr`.
            sock = os.path.join(d, "haproxy.sock")
            addr = be.pod_addr(new_i, 1)
            r = self.haproxy_cmd(sock, "set server %s/%s addr %s port %d"
                                 % (svc, old[0], addr, cluster.POD_PORT))
            if "changed" not in r and "no need to change" not in r:
                raise RuntimeError("haproxy set server: %s" % r.strip())

            def applied():
                st = self.haproxy_cmd(sock, "show servers state %s" % svc)
                return any(ln.split()[3:5] == [old[0], addr] for ln in st.splitlines()
                           if len(ln.split()) > 5)
            cluster.wait_for(applied, 60, "haproxy to show the new address", 0.01)
            L._of[svc] = [(old[0], new_i, 1, svc)] + pods[1:]
        return time.monotonic() - t0

    def proxy_step(self, mode):
        o, L, be = self.o, self.layout, self.be
        tag = "n%d-s%d-%s" % (L.nodes, L.nservices, mode)
        saved = {s: list(v) for s, v in L._of.items()}
        proc, conf, d = self.start_proxy(mode)
        port = steady.PROXY_PORTS[mode]
        loaded = L.load_services()
        names = [L.ingress_name(s) for s in loaded]
        group = lambda: [proc] + be.children(proc)  # noqa: E731
        ps = group()
        be.reset_peak(ps)
        s0 = be.stats(ps)
        g, od = self.loadgen(tag + "-steady", names, be.router_addr, port, o.rate, o.duration,
                             o.clients[0], 7)
        r = self.finish_loadgen(g, od, o.duration + 60)
        s1 = be.stats(ps)
        cpu = sum(s1[p.pid].cpu_s - s0[p.pid].cpu_s for p in ps if s0.get(p.pid) and s1.get(p.pid))
        hwm = sum(s1[p.pid].hwm_kb for p in ps if s1.get(p.pid))
        reqs = r["sent"] + r["warmup_requests"]
        row = {"mode": mode, "services": L.nservices, "nodes": L.nodes,
               "processes": len(ps), "load": r,
               "cpu_s": round(cpu, 3),
               "cpu_ms_per_req": round(1000 * cpu / reqs, 4) if reqs else None,
               "peak_rss_kb": hwm}
        # Churn under the same load: o.churn events spread over the run.
        g, od = self.loadgen(tag + "-churn", names, be.router_addr, port, o.rate,
                             o.churn_duration, o.clients[0], 8)
        t0 = time.monotonic()
        times = []
        for k in range(o.churn):
            at = t0 + 1.5 + k * (o.churn_duration - 1) / o.churn
            time.sleep(max(0.0, at - time.monotonic()))  # spreads the events over the run
            # A service the load asks for, so its clients see the change.
            svc = loaded[(3 * k + 1) % len(loaded)]
            times.append(round(self.churn_event(mode, proc, conf, d, svc), 6))
        rc = self.finish_loadgen(g, od, o.churn_duration + 60)
        row["churn"] = {"method": "nginx -s reload (upstreams rewritten)" if mode == "nginx"
                        else "runtime API: set server B/S addr (stats socket)",
                        "events": len(times), "apply_s": times,
                        "apply_p50_s": median(times), "apply_max_s": max(times) if times else None,
                        "load": rc, "failed_requests": rc["errors_total"]}
        be.stop(proc, timeout=10)
        L._of.update(saved)
        log("  %s: %.3f ms CPU/request, peak RSS %.1f MB; churn: %d events applied in "
            "p50 %.3f s (max %.3f), %d failed of %d" % (
                mode, row["cpu_ms_per_req"] or 0, hwm / 1024.0, len(times),
                row["churn"]["apply_p50_s"] or 0, row["churn"]["apply_max_s"] or 0,
                rc["errors_total"], rc["sent"]))
        return row

    # ---- modelled -----------------------------------------------------------
    def run_model(self):
        o = self.o
        bench = os.path.join(self.build, "tests", "bench", "gossip_bench")
        if not os.access(bench, os.X_OK):
            r = subprocess.run(["make", "-s", "tests/bench/gossip_bench"], cwd=self.build,
                               capture_output=True, text=True)
            if r.returncode != 0:
                log("gossip_bench not built: %s" % r.stderr[-500:])
                return
        for s in o.model_services:
            for n in o.model_sizes:
                eps = max(1, int(math.ceil(REPLICAS * s / n)))
                t = time.monotonic()
                r = subprocess.run(["nice", "-n", "19", bench, "--sizes", str(n),
                                    "--endpoints", str(eps), "--seed", "1"],
                                   capture_output=True, text=True, timeout=3600)
                line = next((ln for ln in r.stdout.splitlines() if "eps |" in ln), "")
                m = re.search(r"quiet\s+(\d+) B/s/node \| changing\s+(\d+) B/s/node.*"
                              r"dissem p50/p99\s+(\S+) /\s+(\S+) ms", line)
                row = {"nodes": n, "services": s, "endpoints_per_node": eps,
                       "quiet_bps": None, "changing_bps": None, "dissem_p50_ms": None,
                       "dissem_p99_ms": None, "line": line.strip(), "rc": r.returncode,
                       "cpu_wall_s": round(time.monotonic() - t, 1)}
                if m:
                    row.update({"quiet_bps": float(m.group(1)), "changing_bps": float(m.group(2)),
                                "dissem_p50_ms": float(m.group(3)),
                                "dissem_p99_ms": float(m.group(4))})
                self.model.append(row)
                log("model N=%d S=%d (%d eps/node): quiet %s B/s/node, changing %s, "
                    "dissemination p99 %s ms" % (n, s, eps, row["quiet_bps"],
                                                  row["changing_bps"], row["dissem_p99_ms"]))

    # ---- the whole run -----------------------------------------------------------
    def run(self):
        o = self.o
        os.makedirs(self.out, exist_ok=True)
        self.meta = {"experiment": "scale", "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                     "loadavg_before": loadavg(), "host": socket.gethostname(),
                     "cpus": os.cpu_count(), "tools": steady.tool_versions()}
        self.build = steady.ensure_build(self.top, o.build_dir)
        self.bin, missing = steady.binaries(self.build)
        if missing:
            raise RuntimeError("not built: %s" % ", ".join(missing))
        self.meta["build_dir"] = self.build
        self.meta["sanitized"] = "enable-sanitizers" in open(
            os.path.join(self.build, "config.log"), errors="replace").read(20000) \
            if os.path.exists(os.path.join(self.build, "config.log")) else None
        for n in o.nodes:
            for s in o.services:
                proxies = n == o.nodes[0] and o.proxy_modes
                setup = self.up(n, s, proxies)
                try:
                    tag = "n%d-s%d" % (n, s)
                    step = {"nodes": n, "services": s,
                            "endpoints": self.layout.endpoint_count(),
                            "max_endpoints_per_node": self.max_eps,
                            "setup_s": round(setup, 1), "loadavg": loadavg(),
                            "ready_progress": self.progress}
                    step["agents"] = self.quiet_window()
                    m = step["agents"]["median"]
                    log("  agents: CPU %.2f %% (median), peak RSS %.1f MB, gossip %.0f B/s/node"
                        % (m["cpu_pct"], m["peak_rss_kb"] / 1024.0, m["gossip_bps"]))
                    self.added = set()
                    step["tta"] = [x for x in (self.time_to_answerable(r)
                                               for r in range(o.tta_reps)) if x]
                    for x in step["tta"]:
                        log("  time to answerable (rep %d, node %d): seen by %d/%d, p50 %s "
                            "p99 %s s" % (x["rep"], x["node"], x["seen_by"], n, x["p50_s"],
                                          x["p99_s"]))
                    allp = [v for x in step["tta"] for v in x["per_node_s"] if v is not None]
                    step["tta_p50_s"] = pct(allp, 0.5)
                    step["tta_p99_s"] = pct(allp, 0.99)
                    step["dns"] = self.dns_load(tag)
                    if proxies:
                        for mode in o.proxy_modes:
                            self.proxies.append(self.proxy_step(mode))
                    self.steps.append(step)
                finally:
                    self.down()
        if o.model_sizes:
            self.run_model()
        self.meta["loadavg_after"] = loadavg()

    def summary(self):
        o = self.o
        return {"meta": self.meta,
                "setup": {"nodes": o.nodes, "services": o.services, "clients": o.clients,
                          "rate": o.rate, "duration": o.duration, "window": o.window,
                          "ttl": o.ttl, "health_interval": o.health_interval,
                          "bfd_ms": o.bfd_ms,
                          "tta_reps": o.tta_reps, "churn": o.churn,
                          "churn_duration": o.churn_duration, "proxy_modes": o.proxy_modes,
                          "proxy_workers": o.proxy_workers, "replicas": REPLICAS,
                          "model_sizes": o.model_sizes, "model_services": o.model_services},
                "measured": ["agents cpu/rss/gossip bytes", "time to answerable",
                             "dns queries reaching anysteer", "proxy cpu/memory/churn"],
                "modelled": ["gossip bytes/node/s and dissemination at model_sizes "
                             "(tests/bench/gossip_bench --endpoints, simulated time)"],
                "steps": self.steps, "proxies": self.proxies, "model": self.model}


# ---- outputs -------------------------------------------------------------------

def write_outputs(out, s):
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(s, f, indent=1)
    import csv
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "mode", "nodes", "services", "clients", "figure", "value"])
        for st in s["steps"]:
            n, sv = st["nodes"], st["services"]
            for k, v in st["agents"]["median"].items():
                w.writerow(["measured", "dns", n, sv, "", "agent_median_" + k, v])
            for k, v in st["agents"]["max"].items():
                w.writerow(["measured", "dns", n, sv, "", "agent_max_" + k, v])
            w.writerow(["measured", "dns", n, sv, "", "tta_p50_s", st["tta_p50_s"]])
            w.writerow(["measured", "dns", n, sv, "", "tta_p99_s", st["tta_p99_s"]])
            for d in st["dns"]:
                w.writerow(["measured", "dns", n, sv, d["clients"], "agent_qps", d["agent_qps"]])
        for p in s["proxies"]:
            for k in ("cpu_ms_per_req", "peak_rss_kb"):
                w.writerow(["measured", p["mode"], p["nodes"], p["services"], "", k, p[k]])
            w.writerow(["measured", p["mode"], p["nodes"], p["services"], "", "apply_p50_s",
                        p["churn"]["apply_p50_s"]])
            w.writerow(["measured", p["mode"], p["nodes"], p["services"], "", "churn_failed",
                        p["churn"]["failed_requests"]])
        for m in s["model"]:
            for k in ("quiet_bps", "changing_bps", "dissem_p50_ms", "dissem_p99_ms"):
                w.writerow(["modelled", "dns", m["nodes"], m["services"], "", k, m[k]])


PLOTS = ("agent_cpu", "agent_rss", "gossip_bytes", "time_to_answerable", "proxy_reload",
         "dns_qps")


def plots(out, s):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "anysteer-eval"
    d = os.path.join(out, "plots")
    os.makedirs(d, exist_ok=True)

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(os.path.join(d, name + ".png"), dpi=80, metadata={"Software": None})
        fig.savefig(os.path.join(d, name + ".svg"), metadata={"Date": None})
        plt.close(fig)

    def finish(fig, ax, name, xlabel, ylabel, logx, fontsize=8):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logx:
            ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=fontsize)
        save(fig, name)
    steps = s["steps"]
    svcs = sorted({x["services"] for x in steps})

    def by_nodes(fig_name, ylabel, get, model_key=None, scale=1.0):
        fig, ax = plt.subplots(figsize=(6, 4))
        for sv in svcs:
            pts = sorted((x["nodes"], get(x)) for x in steps if x["services"] == sv)
            pts = [(a, b * scale) for a, b in pts if b is not None]
            if pts:
                ax.plot([a for a, _ in pts], [b for _, b in pts], "o-",
                        label="%d services (measured)" % sv)
            if model_key:
                mp = sorted((m["nodes"], m[model_key]) for m in s["model"]
                            if m["services"] == sv and m[model_key] is not None)
                if mp:
                    ax.plot([a for a, _ in mp], [b * scale for _, b in mp], "s--",
                            label="%d services (modelled)" % sv)
        finish(fig, ax, fig_name, "nodes", ylabel, model_key and s["model"])
    by_nodes("agent_cpu", "anysteerd CPU, % of a core (median node, quiet)",
             lambda x: x["agents"]["median"]["cpu_pct"])
    by_nodes("agent_rss", "anysteerd peak RSS, MB (median node)",
             lambda x: x["agents"]["median"]["peak_rss_kb"], scale=1 / 1024.0)
    # Sent bytes, as the simulator counts them.
    by_nodes("gossip_bytes", "gossip bytes sent/s per node",
             lambda x: x["agents"]["median"]["gossip_out_bps"], "quiet_bps")
    # Measured in s, modelled in ms: its own plot.
    fig, ax = plt.subplots(figsize=(6, 4))
    for sv in svcs:
        pts = sorted((x["nodes"], x["tta_p50_s"], x["tta_p99_s"]) for x in steps
                     if x["services"] == sv and x["tta_p99_s"] is not None)
        if pts:
            ax.plot([a for a, _, _ in pts], [c for _, _, c in pts], "o-",
                    label="%d services p99 (measured, incl. reload + health probe)" % sv)
            ax.plot([a for a, _, _ in pts], [b for _, b, _ in pts], "o:",
                    label="%d services p50 (measured)" % sv)
        mp = sorted((m["nodes"], m["dissem_p99_ms"]) for m in s["model"]
                    if m["services"] == sv and m["dissem_p99_ms"] is not None)
        if mp:
            ax.plot([a for a, _ in mp], [b / 1000.0 for _, b in mp], "s--",
                    label="%d services dissemination p99 (modelled)" % sv)
    finish(fig, ax, "time_to_answerable", "nodes", "seconds", s["model"], 7)
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode in sorted({p["mode"] for p in s["proxies"]}):
        pts = sorted((p["services"], p["churn"]["apply_p50_s"]) for p in s["proxies"]
                     if p["mode"] == mode and p["churn"]["apply_p50_s"] is not None)
        if pts:
            ax.plot([a for a, _ in pts], [b for _, b in pts], "o-", label=mode)
    finish(fig, ax, "proxy_reload", "services",
           "pod change applied, p50 s (nginx reload / HAProxy runtime API)", True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for x in steps:
        pts = [(d["clients"], d["agent_qps"]) for d in x["dns"]]
        ax.plot([a for a, _ in pts], [b for _, b in pts], "o-",
                label="%d nodes, %d services" % (x["nodes"], x["services"]))
    finish(fig, ax, "dns_qps", "client identities (each caches for the TTL)",
           "DNS queries/s reaching anysteer (all nodes)", True, 7)


def fmt(v, f="%.3g"):
    return "-" if v is None else f % v


def agent_table(s):
    """anysteer per node, one row per step (markdown lines)."""
    L = ["| nodes | services | endpoints | ready s | CPU % (median/max) | peak RSS MB "
         "(median/max) | gossip B/s/node in+out (median/max) | gossip B/s/node sent (median) | "
         "answerable p50 / p99 s | reload s |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for st in s["steps"]:
        a = st["agents"]
        L.append("| %d | %d | %d | %s | %s / %s | %s / %s | %s / %s | %s | %s / %s | %s |" % (
            st["nodes"], st["services"], st["endpoints"], fmt(st.get("setup_s"), "%.0f"),
            fmt(a["median"]["cpu_pct"]), fmt(a["max"]["cpu_pct"]),
            fmt(a["median"]["peak_rss_kb"] / 1024.0), fmt(a["max"]["peak_rss_kb"] / 1024.0),
            fmt(a["median"]["gossip_bps"], "%.0f"), fmt(a["max"]["gossip_bps"], "%.0f"),
            fmt(a["median"]["gossip_out_bps"], "%.0f"),
            fmt(st["tta_p50_s"]), fmt(st["tta_p99_s"]),
            fmt(median([x["reload_s"] for x in st["tta"]]))))
    return L


def proxy_table(s):
    """The proxies at the smallest node count (markdown lines)."""
    L = ["| mode | services | CPU ms/request | peak RSS MB | pod change method | applied p50 / "
         "max s | failed during churn |", "|---|---|---|---|---|---|---|"]
    for p in s["proxies"]:
        c = p["churn"]
        L.append("| %s | %d | %s | %s | %s | %s / %s | %d of %d |" % (
            p["mode"], p["services"], fmt(p["cpu_ms_per_req"]), fmt(p["peak_rss_kb"] / 1024.0),
            c["method"], fmt(c["apply_p50_s"]), fmt(c["apply_max_s"]), c["failed_requests"],
            c["load"]["sent"]))
    return L


def write_report(out, s):
    m = s["meta"]
    L = ["# Scale: anysteer and the ingress proxies by nodes, services and clients", "",
         "Started %s on %s (%s CPUs), load average %s before, %s after; build %s%s." % (
             m.get("started"), m.get("host"), m.get("cpus"), m.get("loadavg_before"),
             m.get("loadavg_after"), m.get("build_dir"),
             " (sanitized: RSS and CPU inflated)" if m.get("sanitized") else ""),
         "", "Measured on the emulated cluster (network namespaces, one machine; every "
         "process shares its cores, so CPU and timings include contention). Modelled: "
         "the gossip simulator's rows (simulated time).", "",
         "## anysteer per node (measured)", ""]
    L += agent_table(s)
    L += ["", "Time to answerable: from the configuration reload on one node (the new "
          "endpoint's own node) until each node's `explain SERVICE` holds it healthy: the reload, "
          "the first health probe (health.interval %s) and gossip." % s["setup"]["health_interval"],
          "", "## DNS queries reaching anysteer (measured)", "",
          "Offered %s requests/s over the service names (at most %d, spread over the "
          "services: as-loadgen's limit), clients resolving at anysteer's "
          "anycast address and caching each answer for its TTL (%d s)." % (
              s["setup"]["rate"], LOADGEN_NAMES, s["setup"]["ttl"]), "",
          "| nodes | services | clients | queries/s at anysteer | ok | errors |",
          "|---|---|---|---|---|---|"]
    for st in s["steps"]:
        for d in st["dns"]:
            L.append("| %d | %d | %d | %s | %d | %d |" % (st["nodes"], st["services"],
                                                        d["clients"], fmt(d["agent_qps"]),
                                                        d["ok"], d["errors_total"]))
    L += ["", "## Ingress proxies (measured, one ingress node)", ""]
    L += proxy_table(s)
    L += ["", "## Gossip beyond this machine (modelled)", "",
          "tests/bench/gossip_bench --endpoints E (E = %d x services / nodes, at least 1): "
          "a quiet minute, then every node changes one endpoint's health every 60 s." % REPLICAS,
          "", "| nodes | services | endpoints/node | quiet B/s/node sent | changing B/s/node sent | "
          "dissemination p50 / p99 ms |", "|---|---|---|---|---|---|"]
    for x in s["model"]:
        L.append("| %d | %d | %d | %s | %s | %s / %s |" % (
            x["nodes"], x["services"], x["endpoints_per_node"], fmt(x["quiet_bps"], "%.0f"),
            fmt(x["changing_bps"], "%.0f"), fmt(x["dissem_p50_ms"], "%.0f"),
            fmt(x["dissem_p99_ms"], "%.0f")))
    L += ["", "## Plots", ""] + ["![%s](plots/%s.png)" % (p, p) for p in PLOTS] + [""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L))


def main(opts, top):
    exp = Scale(opts, top)
    old = steady.install_signal_handlers()
    rc = 0
    try:
        exp.run()
    except Interrupted as e:
        log("interrupted (%s): tearing down" % e)
        rc = 130
    except Exception as e:
        log("failed: %s: %s" % (type(e).__name__, e))
        rc = 1
        import traceback
        traceback.print_exc()
    finally:
        for sg in old:
            signal.signal(sg, signal.SIG_IGN)
        if exp.be is not None:
            t = time.monotonic()
            try:
                exp.down()
                log("torn down in %.1f s" % (time.monotonic() - t))
            except Exception as e:
                log("teardown: %s" % e)
        for sg, h in old.items():
            signal.signal(sg, h)
    if rc == 0 or exp.steps:
        s = exp.summary()
        s["meta"]["total_s"] = round(time.time() - exp.t_start, 1)
        if rc:
            s["meta"]["incomplete"] = True
        write_outputs(exp.out, s)
        plots(exp.out, s)
        write_report(exp.out, s)
        log("results in %s (summary.json, summary.csv, report.md, plots)" % exp.out)
    return rc
