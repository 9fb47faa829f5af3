"""`tests/eval/run failover`: failover as clients see it (issue 15, part 1).

The cluster of `steady` (pods, site resolver, anysteer on every node, the
two ingress proxies on the ingress nodes) with --services services (at
least one per swept TTL): service k's answers carry TTL ttls[k], so the
TTL sweep needs no agent restart, and the services beyond only spread
the pods (a rolling update replaces every pod of one service). One run =
one (repetition, scenario, mode, TTL, client behaviour): as-loadgen
offers --rate requests/s for pre + post seconds against one service,
logging every request (--events); at pre seconds the
harness injects the scenario's fault, stamped on CLOCK_MONOTONIC (the
load generator's clock origin is in its log), and after the load ended
it undoes the fault and waits until the cluster is whole again.

Scenarios (the victim rotates over the service's pods per repetition):
  pod-kill        the pod's server SIGKILLed (restarted afterwards)
  agent-kill      dns modes: anysteerd SIGKILLed on the pod's node;
                  proxy modes: every process of one ingress node SIGKILLed
                  (proxies and BIRD: the node died, its kernel still RSTs)
  link-cut        the router side of the pod's node's link set down
  node-freeze     every process of the pod's node and of its pods SIGSTOPped
                  (links up)
  drain           `anysteerctl drain` on the pod's node, then 3 s later the
                  maintenance: its link cut (the proxies get no drain)
  pod-unready     the pod's readiness fails (/healthz 503, SIGUSR1) while it
                  keeps serving requests
  rolling-update  every pod of the service replaced one by one (the victim
                  first): SIGTERM, started again at its address, then the
                  next once every agent and HAProxy sees it healthy
What is measured per run (from the clients' event log; times in s from
the fault): failed requests by kind; the first and last failure; the last
request that went to a dead pod (by address: first address tried or the
one connected to, or by X-Pod), for proxies what the proxy did instead
(nginx: the last error naming a dead pod in its log, second resolution;
HAProxy: when its checks marked the dead servers DOWN, polled every
0.2 s); per second: successes, failures, p99 latency.
"""
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time

from . import cluster, steady
from .steady import log, loadavg

SCENARIOS = ("pod-kill", "agent-kill", "link-cut", "node-freeze", "drain", "pod-unready",
             "rolling-update")
NOT_DONE = ()
# rolling-update: load seconds per replaced pod (SIGTERM, start, healthy
# for every agent and HAProxy) when --post is not given.
ROLLING_S_PER_POD = 2.0
# Victims whose pods stop answering: the pod, or every pod of its node.
NODE_SCENARIOS = ("link-cut", "node-freeze", "drain")
DRAIN_MAINTENANCE_S = 3.0
HAPROXY_POLL_S = 0.2
# Seconds a run takes beyond its load (victim choice, undo, waiting until
# the cluster is whole again), per scenario, measured on the 2-core VM at
# 5 nodes under a load average of 8-10: the restarted pod's first probes,
# BGP and BFD back after a cut or a freeze, the drained node's cut link
# and undrain; waiting for every agent grows with the nodes beyond.
RUN_OVERHEAD_S = {"pod-kill": 4.5, "agent-kill": 2.5, "link-cut": 6.5, "node-freeze": 6.5,
                  "drain": 10.5, "pod-unready": 3.0, "rolling-update": 1.0}
RUN_OVERHEAD_PER_NODE_S = 0.1
RUN_OVERHEAD_PER_SERVICE_S = 0.05   # each name resolved again through Unbound
SETUP_S = 20.0            # set-up and teardown ...
SETUP_PER_NODE_S = 2.5    # ... and per node (steady's 22 nodes: 65 s up)


def plan_runs(o):
    """[(rep, scenario, mode, ttl, client cache, try next)] in run order:
    per repetition and scenario the modes (the dns modes once per TTL and
    client behaviour, the proxies once), the order rotated each time."""
    runs, k = [], 0
    dns_variants = [(t, c, n) for t in o.ttl for c in o.client_cache for n in o.try_next]
    for rep in range(1, o.repeat + 1):
        for sc in o.scenario:
            items = []
            for m in o.modes:
                if m in steady.DNS_MODES:
                    items += [(m, v) for v in dns_variants]
                else:
                    items.append((m, (None, o.client_cache[0], o.try_next[0])))
            rot = k % len(items)
            for m, v in items[rot:] + items[:rot]:
                runs.append((rep, sc, m) + v)
            k += 1
    return runs


def post_seconds(o, pods_in_service, mode, ttl, scenario=None):
    """Seconds of load after the fault: --post, else long enough for a
    client and the site's Unbound to outlive a cached answer, anysteer's
    health probes (2 s x fall 2) and HAProxy's (2 s x fall 3); a rolling
    update, for every pod of the service (a restart took 0.3-0.6 s on the
    busy VM) and then as long."""
    if o.post:
        return o.post
    if scenario == "rolling-update":
        return ROLLING_S_PER_POD * pods_in_service + 8
    return max(10.0, 1.5 * ttl + 8) if ttl is not None else 12.0


def service_of(o, layout, ttl):
    """The service a run with this TTL loads (None: a proxy mode, the first)."""
    return layout.services[o.ttl.index(ttl) if ttl is not None else 0]


def estimate(o):
    """The plan's size and expected seconds: per run the load (pre +
    post) and RUN_OVERHEAD_S, plus set-up and teardown."""
    layout = cluster.Layout(o.nodes, o.pods_per_node, o.services)
    runs = plan_runs(o)
    extra = RUN_OVERHEAD_PER_NODE_S * max(0, o.nodes - 5) + \
        RUN_OVERHEAD_PER_SERVICE_S * (o.services - 1)
    total = 0.0
    for rep, sc, mode, ttl, cache, trynext in runs:
        pods = len(layout.pods_of(service_of(o, layout, ttl)))
        total += o.pre + post_seconds(o, pods, mode, ttl, sc) + \
            RUN_OVERHEAD_S[sc] + extra
    setup = SETUP_S + SETUP_PER_NODE_S * o.nodes
    return {"runs": len(runs), "run_s": round(total / len(runs), 1) if runs else 0.0,
            "setup_s": setup, "total_s": round(total + setup)}


def services_yaml(layout, backend, ttls, max_answers):
    """The catalog of cluster.services_yaml, service k with TTL ttls[k]
    (the services beyond the swept TTLs, which only spread the pods, with
    ttls[0])."""
    text = cluster.services_yaml(layout, backend, ttls[0], max_answers)
    out, k = [], -1
    for line in text.splitlines():
        if line.startswith("  - name: "):
            k += 1
        if line.startswith("    ttl: "):
            line = "    ttl: %d" % (ttls[k] if k < len(ttls) else ttls[0])
        out.append(line)
    return "\n".join(out) + "\n"


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def read_events(path):
    """(t0 CLOCK_MONOTONIC ns, [(t_sched_s, t_end_s, result, pod, addr, first)])."""
    t0, rows = None, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                t0 = int(line.split("t0_monotonic_ns=")[1])
                continue
            if line.startswith("t_sched_us"):
                continue
            p = line.rstrip("\n").split(",")
            if len(p) == 6:
                rows.append((int(p[0]) / 1e6, int(p[1]) / 1e6, p[2], p[3], p[4], p[5]))
    if t0 is None:
        raise RuntimeError("%s: no header" % path)
    return t0, rows


def analyse(events, fault_ns, warmup, dead_addrs, dead_pods):
    """The client-side figures of one run; events: [(t0 ns, rows)] per
    site (times from that generator's start); warmup: its --warmup.
    Times in the result are relative to the fault."""
    reqs = []
    for t0, rows in events:
        off = (t0 - fault_ns) / 1e9
        for ts, te, res, pod, addr, first in rows:
            if ts >= warmup:
                reqs.append((ts + off, te + off, res, pod, addr, first))
    fails = [r for r in reqs if r[2] != "ok"]
    kinds = {}
    for r in fails:
        kinds[r[2]] = kinds.get(r[2], 0) + 1

    def to_dead(r):
        return r[4] in dead_addrs or r[5] in dead_addrs or (r[3] and r[3] in dead_pods)
    dead = [r for r in reqs if to_dead(r)]
    after = [r for r in dead if r[0] >= 0]
    series = {}
    for ts, te, res, pod, addr, first in reqs:
        s = series.setdefault(int(ts // 1), {"ok": 0, "failed": 0, "lat": []})
        if res == "ok":
            s["ok"] += 1
            s["lat"].append((te - ts) * 1000.0)
        else:
            s["failed"] += 1
    ser = []
    for t in sorted(series):
        lat = sorted(series[t]["lat"])
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None
        ser.append({"t": t, "ok": series[t]["ok"], "failed": series[t]["failed"],
                    "p99_ms": None if p99 is None else round(p99, 3)})
    base = [s["p99_ms"] for s in ser if s["t"] < 0 and s["p99_ms"] is not None]
    peak = [s["p99_ms"] for s in ser if s["t"] >= 0 and s["p99_ms"] is not None]
    last_dead = max((r[0] for r in after), default=None)
    return {
        "sent": len(reqs), "ok": len(reqs) - len(fails), "failed": len(fails),
        "errors": dict(sorted(kinds.items())),
        # Observed before the fault: unrelated to it (should be 0).
        "failed_before_fault": sum(1 for r in fails if r[1] < 0),
        "first_fail_s": round(min(r[0] for r in fails), 3) if fails else None,
        "last_fail_s": round(max(r[0] for r in fails), 3) if fails else None,
        "last_fail_seen_s": round(max(r[1] for r in fails), 3) if fails else None,
        "to_dead_before": sum(1 for r in dead if r[0] < 0),
        "to_dead_after": len(after),
        "ok_from_dead_after": sum(1 for r in dead if r[1] > 0.2 and r[2] == "ok"
                                  and r[3] in dead_pods),
        # Scheduled time of the last request that still went to a dead
        # pod; None: none after the fault.
        "last_to_dead_s": None if last_dead is None else round(last_dead, 3),
        "p99_before_ms": None if not base else round(_median(base), 3),
        "p99_peak_ms": max(peak) if peak else None,
        "series": ser,
    }


def stop_figures(row):
    """Sets row["stop_to_dead_s"], the time after which nothing went to a
    dead pod, and row["to_dead_until_end"]. Proxies hide their failed
    attempts from the clients: for them it is also what the proxy did
    (HAProxy marked the pods DOWN, nginx's last error naming one),
    whichever is later; a HAProxy that never marked them DOWN kept
    sending to them to the end."""
    proxy, dead = row["proxy"], bool(row["victim"]["dead_pods"])
    stops = [row["last_to_dead_s"], proxy.get("marked_down_s"), proxy.get("last_error_s")]
    stops = [x for x in stops if x is not None]
    stop = max(stops) if stops else None
    never_down = dead and row["mode"] == "haproxy" and proxy.get("marked_down_s") is None
    row["stop_to_dead_s"] = None if never_down else stop
    row["to_dead_until_end"] = dead and (never_down or (
        stop is not None and stop > row["end_s"] - 1.0))


def haproxy_watched(dead, svc):
    """The dead pods HaproxyWatch waits for: those of the loaded service,
    whose backend it polls (a node fault also kills the node's pods of
    other services, which that backend does not list)."""
    return {p[0] for p in dead if p[3] == svc}


class HaproxyWatch(threading.Thread):
    """Polls every HAProxy's `show servers state BACKEND` and records when
    each watched server was first not running (op state != 2) on every
    ingress node: from then on HAProxy sends it nothing."""

    def __init__(self, sockets, backend, servers):
        super().__init__(daemon=True)
        self.sockets, self.backend, self.servers = sockets, backend, set(servers)
        self.down_at = {}
        self.stop = threading.Event()
        self.errors = 0

    @staticmethod
    def states(path, backend):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect(path)
            s.sendall(("show servers state %s\n" % backend).encode())
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        finally:
            s.close()
        out = {}
        for line in data.decode(errors="replace").splitlines():
            f = line.split()
            if len(f) > 5 and f[0].isdigit():
                out[f[3]] = int(f[5])
        return out

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic_ns()
            down = None
            for p in self.sockets:
                try:
                    st = self.states(p, self.backend)
                except OSError:
                    self.errors += 1
                    st = None
                if st is None:
                    down = None
                    break
                d = {n for n in self.servers if st.get(n, 2) != 2}
                down = d if down is None else down & d
            for n in down or ():
                self.down_at.setdefault(n, now)
            self.stop.wait(HAPROXY_POLL_S)


def nginx_last_error(paths, offsets, dead_addrs):
    """Wall time (s, second resolution) of the last line of nginx's error
    logs, after offsets, that names a dead pod as the upstream."""
    last = None
    for p in paths:
        try:
            with open(p, errors="replace") as f:
                f.seek(offsets.get(p, 0))
                for line in f:
                    if not any("[%s]" % a in line for a in dead_addrs):
                        continue
                    try:
                        t = time.mktime(time.strptime(line[:19], "%Y/%m/%d %H:%M:%S"))
                    except ValueError:
                        continue
                    last = t if last is None else max(last, t)
        except OSError:
            pass
    return last


class Failover(steady.Steady):
    def __init__(self, opts, top):
        super().__init__(opts, top)
        self.kind = "failover"
        self.recipes = {}     # pid -> (host, name, argv, log): to restart it

    # ---- set-up ----------------------------------------------------------
    def start_cluster(self):
        """Steady's start-up, remembering how each process was started."""
        be, spawn = self.be, self.be.spawn

        def recorded(host, name, argv, logf):
            p = spawn(host, name, argv, logf)
            self.recipes[p.pid] = (host, name, argv, logf)
            return p
        be.spawn = recorded
        try:
            super().start_cluster()
        finally:
            del be.spawn

    def respawn(self, proc):
        p = self.be.spawn(*self.recipes[proc.pid])
        self.recipes[p.pid] = self.recipes[proc.pid]
        return p

    def service_for(self, mode, ttl):
        return service_of(self.o, self.layout, ttl)

    def victim(self, svc, mode, rep, evfiles, t_now):
        """dns modes: the pod first in the answer the site's resolver
        gives now (anysteer answers a site with a few of the pods, and
        clients keep connections to pods of earlier answers: a pod chosen
        otherwise often gets no new connection and shows no fault).
        Proxies: the pod that served the most requests in the last second.
        Else one in rotation."""
        pods = self.layout.pods_of(svc)
        if mode in steady.DNS_MODES:
            be = self.be
            server = be.anycast if mode == "dns-anycast" else be.site_addr(1)
            r = be.run(("site", 1), ["kdig", "@" + server, "+short", "+time=1", "+retry=0",
                                     self.layout.dns_name(svc), "AAAA"], check=False)
            first = (r.stdout.split() or [None])[0]
            for p in pods:
                if be.pod_addr(p[1], p[2]) == first:
                    return p
        counts = {}
        for f in evfiles:
            try:
                t0, rows = read_events(f)
            except (OSError, RuntimeError):
                continue
            now = (t_now - t0) / 1e9
            for ts, te, res, pod, addr, first in rows:
                if res == "ok" and te > now - 1.0:
                    counts[pod] = counts.get(pod, 0) + 1
        busy = [p for p in pods if counts.get(p[0])]
        if busy:
            return max(busy, key=lambda p: (counts[p[0]], -pods.index(p)))
        return pods[(rep - 1) % len(pods)]

    def ingress_sockets(self):
        return [os.path.join(self.be.host_dir(("ingress", k)), "haproxy.sock")
                for k in range(1, self.o.ingress + 1)]

    def nginx_logs(self):
        return [os.path.join(self.be.host_dir(("ingress", k)), "nginx-error.log")
                for k in range(1, self.o.ingress + 1)]

    def ns_pids(self, host):
        r = subprocess.run(["ip", "netns", "pids", self.be.ns(host)], capture_output=True,
                           text=True, timeout=30)
        return [int(x) for x in r.stdout.split()]

    def router_link(self, i, state):
        subprocess.run(["ip", "-n", self.prefix + "-r", "link", "set",
                        "%s-v%d" % (self.prefix, i), state], check=True, timeout=30)

    def agent_pid(self, i):
        with open(os.path.join(self.state, "n%d" % i, "anysteerd.pid")) as f:
            return int(f.read())

    # ---- faults ------------------------------------------------------------
    def inject(self, scenario, mode, pod, k_ingress, ctx):
        """Injects the fault; returns its CLOCK_MONOTONIC stamp (ns) and
        records what shows it happened in ctx."""
        name, i, j, _ = pod
        be = self.be
        if scenario == "pod-kill":
            p = self.pods[name]
            t = time.monotonic_ns()
            os.kill(p.pid, signal.SIGKILL)
            ctx["evidence"] = "pod %s pid %d SIGKILLed" % (name, p.pid)
        elif scenario == "agent-kill" and mode in steady.DNS_MODES:
            pid = self.agent_pid(i)
            t = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            ctx["evidence"] = "anysteerd of node%d pid %d SIGKILLed" % (i, pid)
        elif scenario == "agent-kill":
            pids = self.ns_pids(("ingress", k_ingress))
            t = time.monotonic_ns()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            ctx["evidence"] = "ingress%d: %d processes SIGKILLed" % (k_ingress, len(pids))
            ctx["killed"] = pids
        elif scenario == "link-cut":
            t = time.monotonic_ns()
            self.router_link(i, "down")
        elif scenario == "node-freeze":
            pids = self.ns_pids(("node", i))
            for jj in range(1, self.o.pods_per_node + 1):
                pids += self.ns_pids(("pod", i, jj))
            t = time.monotonic_ns()
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            ctx["stopped"] = pids
        elif scenario == "drain":
            t = time.monotonic_ns()
            out = be.ctl_json(i, "drain")
            ctx["drain_answer"] = out
            time.sleep(DRAIN_MAINTENANCE_S)
            self.router_link(i, "down")
        elif scenario == "pod-unready":
            t = time.monotonic_ns()
            os.kill(self.pods[name].pid, signal.SIGUSR1)
        elif scenario == "rolling-update":
            t = time.monotonic_ns()
            self.rolling_update(pod, ctx)
        else:
            raise ValueError(scenario)
        ctx["injected"] = self.verify(scenario, mode, pod, k_ingress, ctx)
        return t

    def verify(self, scenario, mode, pod, k_ingress, ctx):
        """True if the fault is in place (checked right after injecting)."""
        name, i, _, _ = pod

        def state(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                return "gone"
        if scenario == "pod-kill":
            return self.be.wait(self.pods[name], 5) is not None
        if scenario == "agent-kill" and mode in steady.DNS_MODES:
            return cluster.wait_for(lambda: state(self.agent_pid(i)) in ("Z", "gone"), 5,
                                    "node%d's agent to die" % i, 0.02)
        if scenario == "agent-kill":
            return cluster.wait_for(lambda: all(state(p) in ("Z", "gone")
                                                for p in ctx["killed"]), 5,
                                    "ingress%d's processes to die" % k_ingress, 0.02)
        if scenario in ("link-cut", "drain"):
            r = subprocess.run(["ip", "-n", self.prefix + "-r", "-o", "link", "show",
                                "%s-v%d" % (self.prefix, i)], capture_output=True, text=True)
            ctx["link"] = r.stdout.strip()[:200]
            return "state DOWN" in r.stdout or ",UP" not in r.stdout
        if scenario == "node-freeze":
            return cluster.wait_for(lambda: all(state(p) in ("T", "t", "gone")
                                                for p in ctx["stopped"]), 5,
                                    "node%d to stop" % i, 0.02)
        if scenario == "rolling-update":
            return ctx.get("replaced") == [p[0] for p in self.rolling_order(pod)]
        if scenario == "pod-unready":
            url = self.pod_url(name, "/healthz")
            r = self.fetch("router", [url], timeout=2.0)[url]
            ctx["healthz"] = r.get("status")
            return r.get("status") == 503
        return False

    def rolling_order(self, pod):
        pods = self.layout.pods_of(pod[3])
        return [pod] + [p for p in pods if p != pod]

    def rolling_update(self, pod, ctx):
        """Replaces every pod of pod's service, pod first: SIGTERM (the
        server closes its listener, finishes what it has), started again,
        then the next once it answers, every agent sees it healthy and
        every HAProxy has it UP. ctx["replaced"]: the pods done, with the
        seconds each took."""
        be, ctx["replaced"], ctx["took_s"] = self.be, [], []
        for p in self.rolling_order(pod):
            t = time.monotonic()
            old = self.pods[p[0]]
            be.stop(old, signal.SIGTERM, timeout=10)
            self.pods[p[0]] = self.respawn(old)
            addr, url = be.pod_addr(p[1], p[2]), self.pod_url(p[0], "/healthz")

            def ready():
                if self.fetch("router", [url], timeout=2.0)[url].get("status") != 200:
                    return False
                for i in range(1, self.o.nodes + 1):
                    for svc in be.ctl_json(i, "services")["services"]:
                        if any(e["address"] == addr and not e["healthy"]
                               for e in svc["endpoints"]):
                            return False
                if ("haproxy", 1) in self.proxies:
                    for path in self.ingress_sockets():
                        if HaproxyWatch.states(path, p[3]).get(p[0]) != 2:
                            return False
                return True
            cluster.wait_for(ready, 90, "replaced pod %s to be ready" % p[0], 0.25)
            ctx["replaced"].append(p[0])
            ctx["took_s"].append(round(time.monotonic() - t, 2))

    def undo(self, scenario, mode, pod, k_ingress, ctx):
        name, i, _, _ = pod
        be = self.be
        if scenario == "pod-kill":
            old = self.pods[name]
            be.stop(old, timeout=5)
            self.pods[name] = self.respawn(old)
        elif scenario == "agent-kill" and mode in steady.DNS_MODES:
            be._testbed("agent-start", i, timeout=120)
        elif scenario == "agent-kill":
            for key, p in list(self.proxies.items()):
                if key[1] == k_ingress:
                    be.stop(p, timeout=5)
                    self.proxies[key] = self.respawn(p)
            d = os.path.join(self.state, "g%d" % k_ingress)
            be.run(("ingress", k_ingress), ["/usr/sbin/bird", "-c", os.path.join(d, "node.conf"),
                                            "-s", os.path.join(d, "bird.ctl"),
                                            "-P", os.path.join(d, "bird.pid")])
        elif scenario == "link-cut":
            self.router_link(i, "up")
        elif scenario == "node-freeze":
            for pid in ctx["stopped"]:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        elif scenario == "drain":
            self.router_link(i, "up")
            be.ctl_json(i, "undrain")
        elif scenario == "pod-unready":
            os.kill(self.pods[name].pid, signal.SIGUSR2)

    def wait_whole(self):
        """Every node and ingress node routed, every pod healthy for every
        agent and every HAProxy, each site's Unbound flushed and resolving
        (steady's wait_ready)."""
        be, o = self.be, self.o
        be._testbed("wait-hops", o.nodes, 90, timeout=120)

        def vip_hops():
            r = subprocess.run(["ip", "-n", self.prefix + "-r", "-6", "route", "show",
                                "%s/128" % be.vip], capture_output=True, text=True)
            return r.stdout.count("via ") >= o.ingress
        cluster.wait_for(vip_hops, 90, "every ingress node to announce the VIP", 0.1)
        self.wait_ready()
        if ("haproxy", 1) in self.proxies:
            names = {p[0] for p in self.layout.pods}

            def all_up():
                for path in self.ingress_sockets():
                    for svc in self.layout.services:
                        st = HaproxyWatch.states(path, svc)
                        if any(st.get(n, 0) != 2 for n in names if n in st) or not st:
                            return False
                return True
            cluster.wait_for(all_up, 90, "HAProxy to see every pod UP", 0.25)

    # ---- one run -----------------------------------------------------------
    def plan(self):
        return plan_runs(self.o)

    def post_s(self, mode, ttl, scenario=None):
        return post_seconds(self.o, len(self.layout.pods_of(self.service_for(mode, ttl))),
                            mode, ttl, scenario)

    def measure_failover(self, n, rep, scenario, mode, ttl, cache, trynext):
        o, L, be = self.o, self.layout, self.be
        svc = self.service_for(mode, ttl)
        k_ing = (rep - 1) % o.ingress + 1
        post = self.post_s(mode, ttl, scenario)
        tag = "r%d-%s-%s-t%s-%s-%s" % (rep, scenario, mode, ttl if ttl is not None else "x",
                                       cache, trynext)
        outdir = os.path.join(self.out, "runs", tag)
        os.makedirs(outdir, exist_ok=True)
        names = [L.dns_name(svc)] if mode in steady.DNS_MODES else [L.ingress_name(svc)]
        port = cluster.POD_PORT if mode in steady.DNS_MODES else steady.PROXY_PORTS[mode]
        resolver = be.anycast if mode == "dns-anycast" else None
        gens, evfiles = [], []
        nginx_off = {p: os.path.getsize(p) for p in self.nginx_logs() if os.path.exists(p)}
        watch = None
        for s in range(1, o.sites + 1):
            ev = os.path.join(outdir, "events-site%d.csv" % s)
            argv = [self.bin["as-loadgen"], "--resolver",
                    "[%s]:53" % (resolver or be.site_addr(s))]
            for nm in names:
                argv += ["--name", nm]
            argv += ["--rate", "%g" % (o.rate / o.sites), "--duration", o.pre + post,
                     "--warmup", o.warmup, "--arrival", o.arrival, "--clients", o.clients,
                     "--client-cache", cache, "--reuse", o.reuse, "--try-next", trynext,
                     "--port", port, "--timeout-ms", o.timeout_ms,
                     "--seed", 1000 * rep + n * 10 + s,
                     "--out", os.path.join(outdir, "site%d.json" % s),
                     "--series", os.path.join(outdir, "site%d.csv" % s), "--events", ev]
            with open(os.path.join(outdir, "loadgen-site%d.cmd" % s), "w") as f:
                f.write(" ".join(map(str, argv)) + "\n")
            gens.append(be.spawn(("site", s), "as-loadgen", argv,
                                 os.path.join(outdir, "loadgen-site%d.log" % s)))
            evfiles.append(ev)
        ctx, injecting = {}, False
        try:
            # The fault at pre seconds on the first generator's clock.
            def header():
                try:
                    with open(evfiles[0]) as f:
                        line = f.readline()
                    return int(line.split("t0_monotonic_ns=")[1]) if "\n" in line else None
                except (OSError, IndexError, ValueError):
                    return None
            t0 = cluster.wait_for(header, 30, "as-loadgen to start", 0.01)
            delay = (t0 + int(o.pre * 1e9) - time.monotonic_ns()) / 1e9 - 0.3
            if delay > 0:
                time.sleep(delay)
            pod = self.victim(svc, mode, rep, evfiles, time.monotonic_ns())
            if scenario in NODE_SCENARIOS:
                dead = [p for p in L.pods if p[1] == pod[1]]
            elif scenario in ("agent-kill", "rolling-update"):
                dead = []
            else:
                dead = [pod]
            dead_addrs = {be.pod_addr(p[1], p[2]) for p in dead}
            dead_pods = {p[0] for p in dead}
            watched = haproxy_watched(dead, svc)
            if mode == "haproxy" and watched:
                watch = HaproxyWatch(self.ingress_sockets(), svc, watched)
                watch.start()
            delay = (t0 + int(o.pre * 1e9) - time.monotonic_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            fault_wall = time.time()
            injecting = True
            fault_ns = self.inject(scenario, mode, pod, k_ing, ctx)
            limit = o.pre + post + 60
            for g in gens:
                rc = be.wait(g, limit)
                if rc is None:
                    be.stop(g, signal.SIGKILL)
                    raise RuntimeError("as-loadgen did not finish in %d s (%s)" % (limit, g.log))
                if rc != 0:
                    raise RuntimeError("as-loadgen exited %d: see %s" % (rc, g.log))
        finally:
            if watch:
                watch.stop.set()
                watch.join()
            if injecting:
                self.undo(scenario, mode, pod, k_ing, ctx)
        end_s = o.pre + post - (fault_ns - t0) / 1e9
        row = {"rep": rep, "scenario": scenario, "mode": mode, "ttl": ttl,
               "client_cache": cache, "try_next": trynext, "service": svc,
               "victim": {"pod": pod[0], "node": pod[1],
                          "ingress": k_ing if scenario == "agent-kill" and
                          mode not in steady.DNS_MODES else None,
                          "dead_pods": sorted(dead_pods), "dead_addrs": sorted(dead_addrs)},
               "fault_after_start_s": round((fault_ns - t0) / 1e9, 3), "end_s": round(end_s, 3),
               "injected": bool(ctx.get("injected")),
               "evidence": {k: v for k, v in ctx.items() if k not in ("stopped", "killed")}}
        row.update(analyse([read_events(f) for f in evfiles], fault_ns, o.warmup,
                           dead_addrs, dead_pods))
        proxy = {}
        if mode == "nginx" and dead_addrs:
            last = nginx_last_error(self.nginx_logs(), nginx_off, dead_addrs)
            proxy["nginx_errors_seen"] = last is not None
            # The log has whole seconds: the middle of that second.
            proxy["last_error_s"] = None if last is None else round(last + 0.5 - fault_wall, 1)
        if watch:
            downs = [watch.down_at.get(nm) for nm in sorted(watch.servers)]
            proxy["marked_down_s"] = None if None in downs else \
                round((max(downs) - fault_ns) / 1e9, 3)
            proxy["poll_errors"] = watch.errors
        row["proxy"] = proxy
        # The time after which nothing went to a dead pod, as well as the
        # clients or the proxy can tell.
        stop_figures(row)
        with open(os.path.join(outdir, "row.json"), "w") as f:
            json.dump(row, f, indent=1)
        return row

    # ---- the whole experiment ------------------------------------------------
    def run(self):
        o = self.o
        os.makedirs(self.out, exist_ok=True)
        self.t_start = time.time()
        self.meta = {"experiment": "failover", "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                     "loadavg_before": loadavg(), "host": socket.gethostname(),
                     "cpus": os.cpu_count(), "tools": steady.tool_versions()}
        build = steady.ensure_build(self.top, o.build_dir)
        self.bin, missing = steady.binaries(build)
        if missing:
            raise RuntimeError("not built: %s" % ", ".join(missing))
        self.meta["build_dir"] = build
        self.be = steady.NamespaceBackend(
            self.top, build, self.prefix, self.state, o.nodes, o.pods_per_node, o.ingress,
            o.sites, health_interval="2s", bfd_ms=o.bfd_ms, log=log, services_yaml=None,
            load="static", forward=self.forward_config())
        self.be.services_yaml = services_yaml(self.layout, self.be, o.ttl, o.max_answers)
        self.meta["backend"] = self.be.kind
        log("cluster: %d nodes x %d pods, services %s (TTL %s), %d ingress nodes, %d sites "
            "(prefix %s, state %s)" % (o.nodes, o.pods_per_node, ",".join(self.layout.services),
                                        ",".join(map(str, o.ttl)), o.ingress, o.sites,
                                        self.prefix, self.state))
        t = time.monotonic()
        log(self.be.up())
        self.start_cluster()
        self.wait_ready()
        self.meta["setup_s"] = round(time.monotonic() - t, 1)
        log("ready after %.1f s; load average %s" % (self.meta["setup_s"], loadavg()))
        plan = self.plan()
        for n, (rep, sc, mode, ttl, cache, trynext) in enumerate(plan, 1):
            t = time.monotonic()
            row = self.measure_failover(n, rep, sc, mode, ttl, cache, trynext)
            self.wait_whole()
            row["restore_s"] = round(time.monotonic() - t, 1)
            self.rows.append(row)
            log("run %d/%d rep %d %-11s %-7s ttl %-4s %s/%s: injected %s, failed %d %s, "
                "last failure %s s, last to dead %s s" % (
                    n, len(plan), rep, sc, mode, ttl if ttl is not None else "-", cache,
                    trynext, row["injected"], row["failed"], row["errors"],
                    row["last_fail_s"], row["stop_to_dead_s"]))
        self.meta["loadavg_after"] = loadavg()
        self.meta["measure_s"] = round(time.time() - self.t_start, 1)

    def summarize(self):
        o = self.o
        groups = {}
        for r in self.rows:
            key = (r["scenario"], r["mode"], r["ttl"], r["client_cache"], r["try_next"])
            groups.setdefault(key, []).append(r)
        medians = []
        for key, rs in groups.items():
            medians.append({
                "scenario": key[0], "mode": key[1], "ttl": key[2], "client_cache": key[3],
                "try_next": key[4], "n": len(rs),
                "injected": sum(1 for r in rs if r["injected"]),
                "sent": _median([r["sent"] for r in rs]),
                "failed": _median([r["failed"] for r in rs]),
                "failed_max": max(r["failed"] for r in rs),
                "errors": {k: _median([r["errors"].get(k, 0) for r in rs])
                           for k in sorted({k for r in rs for k in r["errors"]})},
                # A run without failures, or with no request to a dead pod
                # after the fault, counts as 0 s.
                "last_fail_s": _median([r["last_fail_s"] if r["failed"] else 0.0 for r in rs]),
                "stop_to_dead_s": _median([
                    r["stop_to_dead_s"] if r["stop_to_dead_s"] is not None or
                    r["to_dead_until_end"] else 0.0 for r in rs]),
                "to_dead_until_end": sum(1 for r in rs if r["to_dead_until_end"]),
                "has_dead": any(r["victim"]["dead_pods"] for r in rs),
                "p99_before_ms": _median([r["p99_before_ms"] for r in rs]),
                "p99_peak_ms": _median([r["p99_peak_ms"] for r in rs])})
        order = {x: k for k, x in enumerate(list(o.scenario) + list(o.modes))}
        medians.sort(key=lambda m: (order[m["scenario"]], order[m["mode"]],
                                    m["ttl"] if m["ttl"] is not None else -1,
                                    m["client_cache"], m["try_next"]))
        setup = {k: getattr(o, k) for k in (
            "nodes", "pods_per_node", "ingress", "sites", "rate", "clients", "ttl",
            "client_cache", "try_next", "reuse", "repeat", "pre", "warmup", "timeout_ms",
            "max_answers", "ingress_ttl", "bfd_ms", "arrival", "scenario")}
        setup["services"] = self.layout.services
        # A proxy's clients resolve the ingress name (TTL 300 s): its post
        # does not follow the swept TTLs (a rolling update's takes longer).
        setup["post_s"] = {m: {str(t): self.post_s(m, t if m in steady.DNS_MODES else None)
                               for t in o.ttl} for m in o.modes}
        return {"meta": self.meta, "setup": setup, "modes": list(o.modes),
                "scenarios": list(o.scenario), "not_implemented": list(NOT_DONE),
                "medians": medians, "runs": self.rows}


# ---- outputs -------------------------------------------------------------------

MEDIAN_COLS = ("scenario", "mode", "ttl", "client_cache", "try_next", "n", "injected", "sent",
               "failed", "failed_max", "last_fail_s", "stop_to_dead_s", "to_dead_until_end",
               "p99_before_ms", "p99_peak_ms")
RUN_COLS = ("rep", "scenario", "mode", "ttl", "client_cache", "try_next", "service",
            "injected", "sent", "ok", "failed", "failed_before_fault", "first_fail_s",
            "last_fail_s", "to_dead_before", "to_dead_after", "last_to_dead_s",
            "stop_to_dead_s", "p99_before_ms", "p99_peak_ms", "restore_s")


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.4g" % v
    if isinstance(v, dict):
        return " ".join("%s=%s" % (k, _cell(x)) for k, x in v.items())
    return str(v)


def write_outputs(out, summary):
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MEDIAN_COLS + ("errors",))
        for m in summary["medians"]:
            w.writerow([_cell(m[k]) for k in MEDIAN_COLS] + [_cell(m["errors"])])
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(RUN_COLS + ("errors",))
        for r in summary["runs"]:
            w.writerow([_cell(r.get(k)) for k in RUN_COLS] + [_cell(r["errors"])])


def variant(r):
    if r["ttl"] is None:
        return r["mode"]
    return "TTL %s, cache %s, try-next %s" % (r["ttl"], r["client_cache"], r["try_next"])


def plots(out, summary):
    """plots/failover-SCENARIO-MODE.{png,svg}: successes, failures and p99
    per second around the fault, one line per TTL and client behaviour
    (first repetition)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "anysteer-eval"
    d = os.path.join(out, "plots")
    os.makedirs(d, exist_ok=True)
    made = []
    for sc in summary["scenarios"]:
        for m in summary["modes"]:
            rs = [r for r in summary["runs"] if r["scenario"] == sc and r["mode"] == m]
            first = min((r["rep"] for r in rs), default=None)
            rs = [r for r in rs if r["rep"] == first]
            if not rs:
                continue
            fig, axs = plt.subplots(3, 1, figsize=(7.0, 6.4), sharex=True)
            for r in rs:
                ts = [s["t"] for s in r["series"]]
                lab = variant(r)
                axs[0].step(ts, [s["ok"] for s in r["series"]], where="post", label=lab)
                axs[1].step(ts, [s["failed"] for s in r["series"]], where="post", label=lab)
                axs[2].plot([s["t"] + 0.5 for s in r["series"] if s["p99_ms"] is not None],
                            [s["p99_ms"] for s in r["series"] if s["p99_ms"] is not None],
                            marker=".", label=lab)
            for ax, yl in zip(axs, ("successes/s", "failures/s", "p99 ms (log)")):
                ax.axvline(0, color="k", lw=0.8, ls="--")
                ax.set_ylabel(yl)
                ax.grid(alpha=0.3)
            axs[2].set_yscale("log")
            axs[2].set_xlabel("seconds from the fault (scheduled time of the request)")
            axs[0].set_title("%s, %s (repetition %d)" % (sc, m, first))
            axs[0].legend(fontsize=7)
            name = "failover-%s-%s" % (sc, m)
            fig.tight_layout()
            fig.savefig(os.path.join(d, name + ".png"), dpi=80, metadata={"Software": None})
            fig.savefig(os.path.join(d, name + ".svg"), metadata={"Date": None})
            plt.close(fig)
            made.append(name)
    return made


def medians_table(summary):
    lines = ["| scenario | mode | TTL | client cache | try next | n | failed (max) | errors "
             "| last failure s | nothing to dead pod after s | p99 before / peak ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in summary["medians"]:
        stop = _cell(m["stop_to_dead_s"])
        if not m["has_dead"]:
            stop = "no dead pod"
        if m["to_dead_until_end"]:
            stop = "until the end (%d/%d)" % (m["to_dead_until_end"], m["n"])
        lines.append("| %s | %s | %s | %s | %s | %d | %s (%d) | %s | %s | %s | %s / %s |" % (
            m["scenario"], m["mode"], _cell(m["ttl"]) or "-",
            m["client_cache"] if m["ttl"] is not None else "-",
            m["try_next"] if m["ttl"] is not None else "-", m["n"], _cell(m["failed"]),
            m["failed_max"], _cell(m["errors"]) or "-", _cell(m["last_fail_s"]) or "-",
            stop or "-", _cell(m["p99_before_ms"]), _cell(m["p99_peak_ms"])))
    return lines


def post_text(post):
    """setup["post_s"] ({mode: {ttl: s}}) as "dns 10 (TTL 1), 15.5 (TTL 5); nginx 12"."""
    parts = []
    for m, per in post.items():
        vals = sorted(set(per.values()))
        if len(vals) == 1:
            parts.append("%s %g" % (m, vals[0]))
        else:
            parts.append("%s %s" % (m, ", ".join("%g (TTL %s)" % (v, t) for t, v in per.items())))
    return "; ".join(parts)


def write_report(out, summary, plot_names):
    s, meta = summary["setup"], summary["meta"]
    lines = ["# Failover (tests/eval/run failover)", "",
             "Started %s on %s (%s CPUs), backend: %s; load average %s before, %s after; "
             "set-up %s s, total %s s." % (
                 meta.get("started"), meta.get("host"), meta.get("cpus"), meta.get("backend"),
                 meta.get("loadavg_before"), meta.get("loadavg_after"), meta.get("setup_s"),
                 meta.get("total_s")), "",
             "%d nodes x %d pods, %d ingress nodes, %d site(s); %g requests/s over %d client "
             "identities (reuse %s), %g s before the fault, after it (s) %s, a rolling update "
             "longer; client timeout %d ms;"
             " %d services, the load on %s with TTLs %s (the others spread the pods); %d "
             "answers per query; HAProxy checks every 2 s, anysteer's TCP probes every 2 s "
             "(fall 2); BFD %d ms." % (
                 s["nodes"], s["pods_per_node"], s["ingress"], s["sites"], s["rate"],
                 s["clients"], s["reuse"], s["pre"], post_text(s["post_s"]), s["timeout_ms"],
                 len(s["services"]), ",".join(s["services"][:len(s["ttl"])]),
                 ",".join(map(str, s["ttl"])), s["max_answers"], s["bfd_ms"]), ""]
    if meta.get("incomplete"):
        lines += ["**Incomplete**: the run was interrupted or failed; these are the runs "
                  "measured so far.", ""]
    lines += ["## Medians over repetitions", "",
              "Times in seconds from the fault (scheduled time of the request). \"Nothing "
              "to dead pod after\": the last request whose first or connected address was a "
              "dead pod's, or that a dead pod answered (X-Pod); for the proxies, also when "
              "HAProxy's checks marked the dead servers DOWN and the last upstream error "
              "naming a dead pod in nginx's log (whole seconds; nginx has max_fails=0 and "
              "no checks), whichever is later. \"until the end\": still in the last second "
              "of the load (runs of n). agent-kill and rolling-update have no dead pod. "
              "A run without failures, or with no request to a dead pod after the fault, "
              "counts as 0 s in the medians. drain: the link is cut "
              "%g s after the drain." % DRAIN_MAINTENANCE_S, ""]
    lines += medians_table(summary)
    lines += ["", "## Per second around the fault", ""]
    for p in plot_names:
        lines.append("![%s](plots/%s.svg)" % (p, p))
    lines += ["", "## Not implemented", "",
              "Scenarios: %s. drain on the proxies' side (Kubernetes would evict the "
              "pods and the ingress controller reload its upstreams)." % (
                  ", ".join(summary["not_implemented"]) or "none"), "",
              "## Threats to validity", "",
              "One machine runs the cluster, the proxies and the clients; a loaded machine "
              "stretches every detection time (probes, BFD, HAProxy checks). drain only "
              "drains anysteer (the proxies get no equivalent before the link is cut).", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))


def main(opts, top):
    exp = Failover(opts, top)
    old = steady.install_signal_handlers()
    rc = 0
    try:
        exp.run()
    except steady.Interrupted as e:
        log("interrupted (%s): tearing down" % e)
        rc = 130
    except Exception as e:
        log("failed: %s: %s" % (type(e).__name__, e))
        import traceback
        traceback.print_exc()
        rc = 1
    finally:
        for sig in old:
            signal.signal(sig, signal.SIG_IGN)
        if exp.be is not None and exp.be.is_up:
            t = time.monotonic()
            try:
                exp.be.save_logs(exp.logs_dir())
                for k in range(1, opts.ingress + 1):
                    f = os.path.join(exp.be.host_dir(("ingress", k)), "nginx-error.log")
                    if os.path.exists(f):
                        shutil.copy(f, os.path.join(exp.logs_dir(),
                                                    "nginx-error-ingress%d.log" % k))
            except OSError as e:
                log("could not keep the agents' logs: %s" % e)
            ok = exp.be.down()
            log("torn down in %.1f s%s" % (time.monotonic() - t, "" if ok else " (with errors)"))
        for sig, h in old.items():
            signal.signal(sig, h)
    if rc != 0 and not exp.rows:
        return rc
    exp.meta["total_s"] = round(time.time() - exp.t_start, 1)
    if rc != 0:
        exp.meta["incomplete"] = True
    summary = exp.summarize()
    write_outputs(exp.out, summary)
    names = plots(exp.out, summary)
    write_report(exp.out, summary, names)
    log("results in %s (summary.json, summary.csv, runs.csv, report.md, plots)" % exp.out)
    for line in medians_table(summary):
        log(line)
    return rc
