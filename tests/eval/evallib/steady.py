"""`tests/eval/run steady`: the steady-state comparison of DNS steering
(anysteer) against L7 ingress proxies (nginx, HAProxy) on the same pods,
clients and offered load.

One run = one (repetition, rate, mode): every site's as-loadgen offers
rate/sites requests per second for warm-up + duration seconds while the
harness reads, before and after, the CPU time and peak RSS of every
process of the cluster, anysteer's query counters, each site resolver's
statistics and each pod's request counter, and a passive capture at each
site records what anysteer answered. Modes are interleaved: for every
repetition and rate the modes (dns, dns-anycast, nginx, haproxy; the
balance experiment adds haproxy-lc) run back to back, in an order rotated
from one (repetition, rate) to the next.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import analysis, cluster, report
from .backend import NamespaceBackend, host_str

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("dns", "dns-anycast", "nginx", "haproxy", "haproxy-lc")
PROXY_PORTS = {"nginx": cluster.NGINX_PORT, "haproxy": cluster.HAPROXY_PORT,
               "haproxy-lc": cluster.HAPROXY_LC_PORT}
# The DNS steering modes: clients ask their site's Unbound (dns), or
# anysteer's anycast address directly (dns-anycast), for svcN.svc.example.
DNS_MODES = ("dns", "dns-anycast")
RESOLVER_MODES = {"site": ["dns"], "anycast": ["dns-anycast"], "both": ["dns", "dns-anycast"]}


def expand_modes(modes, resolver):
    """--modes with `dns` replaced by the DNS modes --resolver picks."""
    out = []
    for m in modes:
        out += RESOLVER_MODES[resolver] if m == "dns" else [m]
    return list(dict.fromkeys(out))


OBJECTIVES = ("balance", "locality", "resilience", "latency")


def objectives_of(services, spec):
    """--objective: one objective for every service ("locality"), or
    per service ("svc1=locality,svc2=resilience"; the others keep the
    default, balance). Returns {service: objective}."""
    if not spec:
        return {}
    if "=" not in spec:
        return {s: spec for s in services}
    out = {}
    for part in spec.split(","):
        name, _, obj = part.partition("=")
        out[name.strip()] = obj.strip()
    return out


class Interrupted(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- build -----------------------------------------------------------------

def ensure_build(top, build_dir):
    """The build folder to use: --build-dir as given, else a plain
    (non-sanitized) tree in TOP/_build/eval, configured and built here."""
    if build_dir:
        return os.path.abspath(build_dir)
    b = os.path.join(top, "_build", "eval")
    os.makedirs(b, exist_ok=True)
    if not os.path.exists(os.path.join(top, "configure")):
        log("autoreconf -fi")
        subprocess.run(["autoreconf", "-fi"], cwd=top, check=True, capture_output=True)
    if not os.path.exists(os.path.join(b, "Makefile")):
        log("configuring a plain build in %s" % b)
        subprocess.run([os.path.join(top, "configure"), "-q"], cwd=b, check=True)
    log("make -j2 in %s" % b)
    r = subprocess.run(["make", "-s", "-j2"], cwd=b, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("build failed:\n%s%s" % (r.stdout[-3000:], r.stderr[-3000:]))
    return b


def binaries(build):
    b = {"anysteerd": os.path.join(build, "agent", "anysteerd"),
         "anysteerctl": os.path.join(build, "agent", "anysteerctl"),
         "as-loadgen": os.path.join(build, "tests", "eval", "as-loadgen"),
         "as-backend": os.path.join(build, "tests", "eval", "as-backend")}
    missing = [p for p in b.values() if not os.access(p, os.X_OK)]
    return b, missing


def tool_versions():
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    return {"nginx": first(["nginx", "-v"]), "haproxy": first(["haproxy", "-v"]),
            "unbound": first(["unbound", "-V"]), "nsd": first(["nsd", "-v"]),
            "bird": first(["bird", "--version"]), "kernel": os.uname().release,
            "python": sys.version.split()[0]}


# ---- the experiment --------------------------------------------------------

class Steady:
    def __init__(self, opts, top):
        self.o = opts
        self.top = top
        self.out = os.path.abspath(opts.out)
        self.layout = cluster.Layout(opts.nodes, opts.pods_per_node, opts.services,
                                     getattr(opts, "weights", None),
                                     getattr(opts, "slow_nodes", None) or (),
                                     getattr(opts, "slow_factor", None) or 1.0)
        self.kind = getattr(opts, "cmd", None) or "steady"
        tag = os.getpid()
        self.prefix = "ev%d" % (tag % 100000)
        self.state = "/tmp/anysteer-eval-%d" % tag
        self.be = None
        self.pods = {}        # pod name -> Proc
        self.proxies = {}     # (mode, k) -> Proc
        self.unbound = {}     # site -> (Proc, conf path)
        self.nsd = None
        self.rows = []
        self.meta = {}
        self.t_start = time.time()

    # ---- set-up --------------------------------------------------------------
    def configs_dir(self, *p):
        d = os.path.join(self.out, "configs", *p)
        os.makedirs(d, exist_ok=True)
        return d

    def logs_dir(self):
        d = os.path.join(self.out, "logs")
        os.makedirs(d, exist_ok=True)
        return d

    def start_cluster(self):
        o, L, be = self.o, self.layout, self.be
        logs = self.logs_dir()
        cluster.write(os.path.join(self.configs_dir(), "services.yaml"), be.services_yaml)
        # Pods: one as-backend each.
        for name, i, j, svc in L.pods:
            pid = os.path.join(be.host_dir(("pod", i, j)), "backend.pid")
            self.pods[name] = be.spawn(("pod", i, j), "as-backend", [
                self.bin["as-backend"], "--listen", "[::]:%d" % cluster.POD_PORT,
                "--pod", name, "--service-us", L.service_us(name, o.service_us),
                "--size", o.size,
                "--pidfile", pid], os.path.join(logs, "pod-%s.log" % name))
        # The ingress name's authoritative server, on the router.
        d = be.host_dir("router")
        cdir = self.configs_dir("router")
        cluster.write(os.path.join(d, "ingress.zone"),
                      cluster.ingress_zone(L, be.vip, o.ingress_ttl))
        conf = cluster.write(os.path.join(cdir, "nsd.conf"), cluster.nsd_conf(d, be.router_addr))
        shutil.copy(os.path.join(d, "ingress.zone"), cdir)
        self.nsd = be.spawn("router", "nsd", ["nsd", "-d", "-c", conf],
                            os.path.join(logs, "nsd.log"))
        # Site resolvers.
        for s in range(1, o.sites + 1):
            d = be.host_dir(("site", s))
            conf = cluster.write(os.path.join(self.configs_dir("site%d" % s), "unbound.conf"),
                                 cluster.unbound_conf(d, be.site_addr(s), be.anycast,
                                                      be.router_addr))
            p = be.spawn(("site", s), "unbound", ["unbound", "-d", "-c", conf],
                         os.path.join(logs, "unbound-site%d.log" % s))
            self.unbound[s] = (p, conf)
        # Ingress proxies: nginx on port 80, HAProxy on 8080 of the VIP,
        # both running on every ingress node for the whole experiment.
        for k in range(1, o.ingress + 1):
            d = be.host_dir(("ingress", k))
            for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            cdir = self.configs_dir("ingress%d" % k)
            if "nginx" in o.modes:
                conf = cluster.write(os.path.join(cdir, "nginx.conf"),
                                     cluster.nginx_conf(L, be, d, be.vip, o.proxy_workers))
                self.proxies[("nginx", k)] = be.spawn(
                    ("ingress", k), "nginx", ["nginx", "-c", conf, "-p", d],
                    os.path.join(logs, "nginx-ingress%d.log" % k))
            if "haproxy" in o.modes or "haproxy-lc" in o.modes:
                conf = cluster.write(os.path.join(cdir, "haproxy.cfg"), cluster.haproxy_conf(
                    L, be, d, be.vip, o.proxy_workers, leastconn="haproxy-lc" in o.modes))
                self.proxies[("haproxy", k)] = be.spawn(
                    ("ingress", k), "haproxy", ["haproxy", "-db", "-f", conf],
                    os.path.join(logs, "haproxy-ingress%d.log" % k))

    def forward_config(self):
        """dns.forward for the nodes when a mode uses anysteer as the
        clients' resolver: the sites' prefix allowed, the sites' Unbound
        as upstreams (so names outside the zone still resolve)."""
        if "dns-anycast" not in self.o.modes:
            return None
        B = NamespaceBackend
        return (["[%s]:53" % B.site_addr(s) for s in range(1, self.o.sites + 1)],
                [B.site_prefix])

    def check_alive(self):
        dead = [p for p in list(self.pods.values()) + list(self.proxies.values()) +
                [u for u, _ in self.unbound.values()] + [self.nsd]
                if self.be.poll(p) is not None]
        if dead:
            raise RuntimeError("exited: %s (see %s)" % (
                ", ".join("%s on %s (%s)" % (p.name, host_str(p.host), p.returncode)
                          for p in dead), self.logs_dir()))

    def fetch(self, host, urls, vhost=None, timeout=5.0):
        argv = ["python3", os.path.join(HERE, "fetch.py"), "--timeout", timeout]
        if vhost:
            argv += ["--host", vhost]
        r = self.be.run(host, argv + list(urls), timeout=timeout * 4 + 30)
        return json.loads(r.stdout)

    def pod_url(self, name, path):
        _, i, j, _ = next(p for p in self.layout.pods if p[0] == name)
        return "http://[%s]:%d%s" % (self.be.pod_addr(i, j), cluster.POD_PORT, path)

    def wait_ready(self):
        L, be = self.layout, self.be
        # Every pod answers /healthz (from the router: across the network).
        urls = [self.pod_url(p[0], "/healthz") for p in L.pods]

        def pods_ok():
            self.check_alive()
            r = self.fetch("router", urls, timeout=2.0)
            bad = [u for u in urls if r[u].get("status") != 200]
            return not bad
        cluster.wait_for(pods_ok, 60, "every pod to answer /healthz")
        # anysteer sees every pod healthy (its TCP health probes).
        total = len(L.pods)

        # Every agent (any of them may answer the anycast address) knows
        # every pod, healthy.
        def agents_ok():
            for i in range(1, self.o.nodes + 1):
                svcs = be.ctl_json(i, "services")["services"]
                healthy = sum(1 for s in svcs for e in s["endpoints"] if e["healthy"])
                if healthy != total:
                    return False
            return True
        cluster.wait_for(agents_ok, 120, "anysteer to see every pod healthy", step=0.5)
        # Each site resolves every service name (through Unbound) to pods.
        # A query that timed out while the cluster came up makes Unbound
        # back off from the server (and cache the failure): start afresh.
        pod_addrs = {be.pod_addr(i, j) for _, i, j, _ in L.pods}
        for s in range(1, self.o.sites + 1):
            self.unbound_flush(s)
            for svc in L.services:
                seen = []

                def resolves():
                    r = be.run(("site", s), ["kdig", "@" + be.site_addr(s), "+short",
                                             "+time=2", "+retry=0", L.dns_name(svc), "AAAA"],
                               check=False)
                    got = set(r.stdout.split())
                    seen.append(r.stdout.strip() or r.stderr.strip())
                    if got and got <= pod_addrs:
                        return True
                    if len(seen) % 5 == 0:
                        self.unbound_flush(s)
                    return False
                try:
                    cluster.wait_for(resolves, 60, "site%d to resolve %s" % (s, L.dns_name(svc)),
                                     0.5)
                except RuntimeError as e:
                    raise RuntimeError("%s (last answers: %s)" % (e, seen[-3:]))
                r = be.run(("site", s), ["kdig", "@" + be.site_addr(s), "+short",
                                         L.ingress_name(svc), "AAAA"], check=False)
                if r.stdout.split() != [be.vip]:
                    raise RuntimeError("site%d resolves %s to %r, not the VIP"
                                       % (s, L.ingress_name(svc), r.stdout))
        if "dns-anycast" in self.o.modes:
            self.check_anycast_resolver(pod_addrs)
        if getattr(self.o, "slow_load", None) is not None:
            self.set_slow_load()
        # Each proxy serves each service from one of its pods.
        for mode, port in PROXY_PORTS.items():
            if mode not in self.o.modes:
                continue
            for svc in L.services:
                names = {p[0] for p in L.pods_of(svc)}
                url = "http://[%s]:%d/" % (be.vip, port)

                def served():
                    self.check_alive()
                    r = self.fetch(("site", 1), [url], vhost=L.ingress_name(svc), timeout=2.0)[url]
                    return r.get("status") == 200 and r["headers"].get("x-pod") in names
                cluster.wait_for(served, 30, "%s to serve %s" % (mode, svc), 0.5)
        self.check_alive()

    def check_anycast_resolver(self, pod_addrs):
        """With anysteer as the sites' only resolver: each site gets pods
        for the service names from the anycast address, and a name outside
        the zone (the ingress name) through anysteer's forwarder (to the
        site's Unbound, then NSD), while a client outside dns.forward.allow
        (the router) is refused. Recorded in the report's meta."""
        L, be = self.layout, self.be
        checks = {"allow": [be.site_prefix], "sites": {}}
        svc = L.services[0]

        def ask(name, host):
            """(RCODE, [AAAA addresses]) of kdig from host at the anycast address."""
            r = be.run(host, ["kdig", "@" + be.anycast, "+time=2", "+retry=1",
                              "+noall", "+header", "+answer", name, "AAAA"], check=False)
            m = re.search(r"status: ([A-Z]+)", r.stdout)
            addrs = [ln.split()[-1] for ln in r.stdout.splitlines()
                     if not ln.startswith(";") and len(ln.split()) >= 5
                     and ln.split()[-2] == "AAAA"]
            return (m.group(1) if m else None), addrs
        for s in range(1, self.o.sites + 1):
            def zone_ok():
                rc, addrs = ask(L.dns_name(svc), ("site", s))
                return rc == "NOERROR" and addrs and set(addrs) <= pod_addrs
            cluster.wait_for(zone_ok, 60, "site%d to resolve %s at the anycast address"
                             % (s, L.dns_name(svc)), 0.5)
            got = []

            def forwarded():
                got.append(ask(L.ingress_name(svc), ("site", s)))
                return got[-1] == ("NOERROR", [be.vip])
            try:
                cluster.wait_for(forwarded, 60, "site%d to resolve %s through anysteer's "
                                 "forwarder" % (s, L.ingress_name(svc)), 0.5)
            except RuntimeError as e:
                raise RuntimeError("%s (last: %s)" % (e, got[-3:]))
            checks["sites"][s] = {"zone_name": L.dns_name(svc), "forwarded_name":
                                  L.ingress_name(svc), "forwarded_answer": got[-1][1]}
        rc, _ = ask(L.ingress_name(svc), "router")
        checks["outside_allow"] = {"from": be.router_addr, "rcode": rc}
        if rc != "REFUSED":
            raise RuntimeError("anysteer answered %s to the router (outside dns.forward.allow) "
                               "for %s, not REFUSED" % (rc, L.ingress_name(svc)))
        fw = self.forward_counters()
        checks["forward_counters_after_checks"] = fw
        self.meta["anycast_resolver"] = checks

    def set_slow_load(self):
        """The balance experiment's load signal: the slow nodes report
        --slow-load (anysteerctl load set, the testbed's test knob), as a
        node whose pods use more CPU would; then wait until every agent
        weights their pods down."""
        o, be, L = self.o, self.be, self.layout
        for i in sorted(L.slow_nodes):
            be.ctl_json(i, "load", "set", "%g" % o.slow_load)
        slow = {be.pod_addr(i, j) for _, i, j, _ in L.pods if i in L.slow_nodes}

        def seen():
            for i in range(1, o.nodes + 1):
                for svc in be.ctl_json(i, "services")["services"]:
                    for e in svc["endpoints"]:
                        if e["address"] in slow and e["load_factor"] >= 0.999:
                            return False
            return True
        cluster.wait_for(seen, 60, "every agent to see the slow nodes' load", 0.5)
        self.meta["slow_load"] = {"nodes": sorted(L.slow_nodes), "value": o.slow_load}

    def forward_counters(self):
        """anysteer's forwarder counters summed over the nodes."""
        out = {"queries": 0, "refused": 0, "cache_hits": 0, "cache_misses": 0, "servfail": 0}
        for i in range(1, self.o.nodes + 1):
            fw = self.be.ctl_json(i, "status").get("forward") or {}
            for k in out:
                out[k] += int(fw.get(k, 0))
        return out

    # ---- measuring -----------------------------------------------------------
    def tracked(self):
        """Processes whose CPU and peak RSS are measured, by group."""
        g = {"anysteerd": [], "bird_nodes": [], "bird_ingress": [], "bird_router": [],
             "nginx": [], "haproxy": [], "backends": list(self.pods.values()),
             "unbound": [u for u, _ in self.unbound.values()], "nsd": [self.nsd]}
        for p in self.be.system_procs():
            if p.name == "anysteerd":
                g["anysteerd"].append(p)
            elif p.host == "router":
                g["bird_router"].append(p)
            elif p.host[0] == "ingress":
                g["bird_ingress"].append(p)
            else:
                g["bird_nodes"].append(p)
        for (mode, k), p in self.proxies.items():
            g[mode].append(p)
            g[mode].extend(self.be.children(p))   # nginx workers
        return g

    def agent_counters(self):
        q = {"A": 0, "AAAA": 0, "SOA": 0, "total": 0, "SERVFAIL": 0, "NXDOMAIN": 0,
             "forwarded": 0}
        for i in range(1, self.o.nodes + 1):
            full = self.be.ctl_json(i, "status")
            st = full["queries"]
            # Names outside the zone that went on to the upstreams.
            q["forwarded"] += int((full.get("forward") or {}).get("queries", 0))
            q["total"] += st.get("total", 0)
            for k in ("A", "AAAA", "SOA"):
                q[k] += st.get("by_qtype", {}).get(k, 0)
            for k in ("SERVFAIL", "NXDOMAIN"):
                q[k] += st.get("by_rcode", {}).get(k, 0)
        return q

    def unbound_flush(self, s):
        """Forgets what site s's Unbound learnt about the servers and names."""
        _, conf = self.unbound[s]
        for args in (["flush_infra", "all"], ["flush_zone", cluster.SERVICE_ZONE],
                     ["flush_zone", cluster.INGRESS_ZONE], ["flush_requestlist"]):
            self.be.run(("site", s), ["unbound-control", "-c", conf] + args, check=False,
                        timeout=30)

    def unbound_counters(self):
        out = {}
        for s, (p, conf) in self.unbound.items():
            r = self.be.run(("site", s), ["unbound-control", "-c", conf, "stats_noreset"],
                            timeout=30)
            kv = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

            def num(k):
                try:
                    return float(kv.get(k, 0))
                except ValueError:
                    return 0.0
            out[s] = {"queries": num("total.num.queries"),
                      "cachehits": num("total.num.cachehits"),
                      "cachemiss": num("total.num.cachemiss"),
                      "prefetch": num("total.num.prefetch"),
                      "servfail": num("num.answer.rcode.SERVFAIL"),
                      "nxdomain": num("num.answer.rcode.NXDOMAIN"),
                      "outgoing_queries": num("num.query.tcpout") + 0,
                      "requestlist_avg": num("total.requestlist.avg")}
        return out

    def pod_counters(self):
        """Every pod's /stats, read from the router; a pod that does not
        answer (e.g. its node's route flapped) is asked again for 30 s."""
        want = {self.pod_url(n, "/stats"): n for n in self.pods}
        out, deadline, last = {}, time.monotonic() + 30, None
        while want:
            r = self.fetch("router", list(want), timeout=5.0)
            for u, x in r.items():
                if x.get("status") == 200:
                    j = json.loads(x["body"])
                    out[want.pop(u)] = {"requests": j["requests"], "cpu_us": j["cpu_us"]}
                else:
                    last = (want[u], x)
            if want and time.monotonic() > deadline:
                raise RuntimeError("pod %s /stats: %s" % last)
            if want:
                time.sleep(0.5)
        return out

    def snapshot(self, groups):
        procs = [p for ps in groups.values() for p in ps]
        return {"proc": self.be.stats(procs), "agents": self.agent_counters(),
                "unbound": self.unbound_counters(), "pods": self.pod_counters(),
                "bgp": self.be.bgp_sessions(), "t": time.monotonic()}

    def loadgen_argv(self, mode, rate, site, seed, outdir):
        o, L, be = self.o, self.layout, self.be
        if mode in DNS_MODES:
            names, port = [L.dns_name(s) for s in L.services], cluster.POD_PORT
        else:
            names = [L.ingress_name(s) for s in L.services]
            port = PROXY_PORTS[mode]
        # dns-anycast: the clients' only resolver is anysteer's anycast
        # address; every other mode asks the site's Unbound.
        resolver = be.anycast if mode == "dns-anycast" else be.site_addr(site)
        argv = [self.bin["as-loadgen"], "--resolver", "[%s]:53" % resolver]
        for n in names:
            argv += ["--name", n]
        # --duration includes the warm-up (EVAL-CONTRACT).
        argv += ["--rate", "%g" % (rate / o.sites), "--duration", o.duration + o.warmup,
                 "--warmup", o.warmup, "--arrival", o.arrival, "--clients", o.clients,
                 "--client-cache", o.client_cache, "--reuse", o.reuse,
                 "--try-next", o.try_next, "--port", port, "--path", "/",
                 "--timeout-ms", o.timeout_ms, "--seed", seed,
                 "--out", os.path.join(outdir, "site%d.json" % site),
                 "--series", os.path.join(outdir, "site%d.csv" % site)]
        return argv

    def run_tag(self, rep, rate, mode):
        """The run's folder name under OUT/runs."""
        return "r%d-%s-%s" % (rep, rate, mode)

    def during_load(self, mode, outdir, gens):
        """Called once the load generators run (the balance experiment
        changes the load signal here)."""

    def headline(self, summary):
        return report.headline(summary)

    def measure(self, rep, rate, mode, seed):
        o, be = self.o, self.be
        tag = self.run_tag(rep, rate, mode)
        outdir = os.path.join(self.out, "runs", tag)
        os.makedirs(outdir, exist_ok=True)
        self.check_alive()
        groups = self.tracked()
        be.reset_peak([p for ps in groups.values() for p in ps])
        before = self.snapshot(groups)
        caps = []
        for s in range(1, o.sites + 1):
            ready = os.path.join(be.host_dir(("site", s)), "dnscap.ready")
            if os.path.exists(ready):
                os.unlink(ready)
            p = be.spawn(("site", s), "dnscap", [
                "python3", os.path.join(HERE, "dnscap.py"), "--ifname", "eth0",
                "--ready", ready, "--out", os.path.join(outdir, "dnscap-site%d.json" % s)],
                os.path.join(outdir, "dnscap-site%d.log" % s))
            caps.append((p, ready))
        for p, ready in caps:
            cluster.wait_for(lambda: os.path.exists(ready) or be.poll(p) is not None, 20,
                             "the DNS capture to start", 0.02)
            if be.poll(p) is not None:
                raise RuntimeError("dnscap exited: see %s" % p.log)
        gens = []
        t0 = time.monotonic()
        for s in range(1, o.sites + 1):
            argv = self.loadgen_argv(mode, rate, s, seed * 100 + s, outdir)
            with open(os.path.join(outdir, "loadgen-site%d.cmd" % s), "w") as f:
                f.write(" ".join(map(str, argv)) + "\n")
            gens.append(be.spawn(("site", s), "as-loadgen", argv,
                                 os.path.join(outdir, "loadgen-site%d.log" % s)))
        self.during_load(mode, outdir, gens)
        limit = o.duration + o.warmup + 60
        for g in gens:
            rc = be.wait(g, max(1, limit - (time.monotonic() - t0)))
            if rc is None:
                be.stop(g, signal.SIGKILL)
                raise RuntimeError("as-loadgen did not finish in %d s (%s)" % (limit, g.log))
            if rc != 0:
                raise RuntimeError("as-loadgen exited %d: see %s" % (rc, g.log))
        wall = time.monotonic() - t0
        after = self.snapshot(groups)
        for p, _ in caps:
            if be.stop(p, timeout=10) != 0:
                raise RuntimeError("dnscap failed: see %s" % p.log)
        sites = []
        for s in range(1, o.sites + 1):
            with open(os.path.join(outdir, "site%d.json" % s)) as f:
                lg = json.load(f)
            with open(os.path.join(outdir, "dnscap-site%d.json" % s)) as f:
                cap = json.load(f)
            g = gens[s - 1]
            ru = g.rusage
            sites.append({"loadgen": lg, "dnscap": cap,
                          "loadgen_cpu_s": (ru.ru_utime + ru.ru_stime) if ru else None,
                          "loadgen_maxrss_kb": ru.ru_maxrss if ru else None})
        intended = None
        if mode in DNS_MODES:
            intended = analysis.intended_shares(be.ctl_json(1, "services")["services"])
        row = analysis.run_row(self, rep, rate, mode, seed, groups, before, after, sites,
                               wall, intended)
        if row["errors_total"]:
            self.network_diag(os.path.join(outdir, "network-after-errors.txt"))
        with open(os.path.join(outdir, "row.json"), "w") as f:
            json.dump(row, f, indent=1)
        return row

    def network_diag(self, path):
        """After a run with client errors: the router's routes, neighbours
        and BGP sessions, and each ingress node's listeners and TCP drop
        counters (a connect timeout through an ingress VIP is a dropped SYN
        somewhere on this path)."""
        be = self.be
        cmds = [("router", ["ip", "-6", "route", "show"]), ("router", ["ip", "-6", "neigh"]),
                ("router", ["birdc", "-s", os.path.join(be.dir, "r", "bird.ctl"),
                            "show", "protocols"])]
        for k in range(1, self.o.ingress + 1):
            cmds += [(("ingress", k), ["ss", "-ltn"]),
                     (("ingress", k), ["nstat", "-az", "TcpExtListenOverflows",
                                       "TcpExtListenDrops", "TcpExtTCPReqQFullDrop",
                                       "Ip6InNoRoutes", "Ip6OutNoRoutes"])]
        with open(path, "w") as f:
            for host, argv in cmds:
                try:
                    r = be.run(host, argv, check=False, timeout=20)
                    out = r.stdout + r.stderr
                except Exception as e:  # a diagnosis must not fail the run
                    out = "%s\n" % e
                f.write("== %s: %s\n%s\n" % (host_str(host), " ".join(argv), out))

    # ---- the whole experiment -------------------------------------------------
    def plan(self):
        return run_plan(self.o.reps, self.o.rates, self.o.modes)

    def run(self):
        o = self.o
        os.makedirs(self.out, exist_ok=True)
        t_start = self.t_start = time.time()
        self.meta = {"experiment": self.kind,
                     "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                     "loadavg_before": loadavg(), "host": socket.gethostname(),
                     "cpus": os.cpu_count(), "tools": tool_versions()}
        build = ensure_build(self.top, o.build_dir)
        self.bin, missing = binaries(build)
        if missing:
            raise RuntimeError("not built: %s (make in %s; the load generator and the pod "
                               "backend come from tests/eval/local.mk)" % (", ".join(missing), build))
        self.meta["build_dir"] = build
        self.be = NamespaceBackend(self.top, build, self.prefix, self.state, o.nodes,
                                   o.pods_per_node, o.ingress, o.sites,
                                   health_interval="2s", bfd_ms=o.bfd_ms, log=log,
                                   services_yaml=None, load=getattr(o, "load", "measured"),
                                   forward=self.forward_config())
        self.be.services_yaml = cluster.services_yaml(
            self.layout, self.be, o.ttl, o.max_answers,
            objectives_of(self.layout.services, getattr(o, "objective", None)),
            getattr(o, "zones", 0))
        if getattr(o, "zones", 0):
            self.be.env["TESTBED_ZONES"] = str(o.zones)
        self.meta["backend"] = self.be.kind
        log("cluster: %d nodes x %d pods, %d services, %d ingress nodes, %d sites "
            "(prefix %s, state %s)" % (o.nodes, o.pods_per_node, o.services, o.ingress,
                                        o.sites, self.prefix, self.state))
        t = time.monotonic()
        log(self.be.up())
        self.start_cluster()
        self.wait_ready()
        self.meta["setup_s"] = round(time.monotonic() - t, 1)
        log("ready after %.1f s; load average %s" % (self.meta["setup_s"], loadavg()))
        plan = self.plan()
        for n, (rep, rate, mode, seed) in enumerate(plan, 1):
            row = self.measure(rep, rate, mode, seed)
            self.rows.append(row)
            log("run %d/%d rep %d %-7s %6g req/s: ok %d, errors %d, p50 %s p99 %s us, "
                "steering CPU %.3f s/1k req" % (
                    n, len(plan), rep, mode, rate, row["ok"], row["errors_total"],
                    row["latency_us"]["total"]["p50"], row["latency_us"]["total"]["p99"],
                    row["cpu_s_per_1k"]["steering"] or 0))
        self.meta["loadavg_after"] = loadavg()
        self.meta["measure_s"] = round(time.time() - t_start, 1)

    def finish(self):
        """Analysis, files, plots, report: from the rows measured so far."""
        summary = analysis.summarize(self, self.rows)
        analysis.write_outputs(self.out, summary)
        report.plots(self.out, summary)
        report.write_report(self.out, summary)
        return summary


def run_plan(reps, rates, modes):
    """[(rep, rate, mode, seed)] in run order: for each repetition and
    rate the modes back to back, the order rotated each time."""
    runs, k = [], 0
    for rep in range(1, reps + 1):
        for ri, rate in enumerate(rates):
            modes = list(modes)
            rot = k % len(modes)
            for m in modes[rot:] + modes[:rot]:
                runs.append((rep, rate, m, 1000 * rep + ri))
            k += 1
    return runs


def install_signal_handlers():
    def handler(sig, frame):
        raise Interrupted("signal %d" % sig)
    old = {}
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        old[s] = signal.signal(s, handler)
    return old


def main(opts, top, experiment=Steady):
    exp = experiment(opts, top)
    old = install_signal_handlers()
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
        # Teardown must finish: no more signals until it did.
        for s in old:
            signal.signal(s, signal.SIG_IGN)
        if exp.be is not None and exp.be.is_up:
            t = time.monotonic()
            try:
                exp.be.save_logs(exp.logs_dir())
            except OSError as e:
                log("could not keep the agents' logs: %s" % e)
            ok = exp.be.down()
            log("torn down in %.1f s%s" % (time.monotonic() - t, "" if ok else " (with errors)"))
        for s, h in old.items():
            signal.signal(s, h)
    if rc == 0:
        exp.meta["total_s"] = round(time.time() - exp.t_start, 1)
        summary = exp.finish()
        log("results in %s (summary.json, summary.csv, report.md, plots)" % exp.out)
        for line in exp.headline(summary):
            log(line)
    elif exp.rows:
        # Keep what was measured, marked incomplete.
        exp.meta["incomplete"] = True
        try:
            exp.finish()
            log("partial results in %s" % exp.out)
        except Exception as e:
            log("could not write partial results: %s" % e)
    return rc
