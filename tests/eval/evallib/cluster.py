"""The evaluated cluster: pods, services, the site resolvers, the ingress
name's authoritative server and the two L7 ingress proxies.

Only configuration text and process start-up live here; where processes
run is the backend's business (backend.py), what is measured is steady.py's.
Every generated configuration is written into the results (OUT/configs/)
so anyone can check it.
"""
import os
import time

SERVICE_ZONE = "svc.example."
INGRESS_ZONE = "ingress.example."
NGINX_PORT = 80
HAPROXY_PORT = 8080
HAPROXY_LC_PORT = 8081   # the same HAProxy, balance leastconn
POD_PORT = 80


class Layout:
    """Which pod serves which service: pod j of node i is pod number
    g = (i-1)*P + (j-1) of the cluster and serves service g % S, so every
    service's pods are spread over the nodes.

    weights: None (every pod the same) or a list: the k-th pod of a
    service (in this order) gets weights[k mod len], in anysteer's catalog
    and in both proxies alike, so every mode aims at the same shares.
    slow_nodes, slow_factor: the pods of these nodes take slow_factor
    times the service time (the balance experiment), so their capacity is
    1/slow_factor of the others'.

    The target share of a pod within its service is proportional to
    weight x capacity: the weights when every pod is as fast, the
    capacity when the weights are equal."""

    def __init__(self, nodes, pods_per_node, services, weights=None, slow_nodes=(),
                 slow_factor=1.0):
        self.nodes, self.pods_per_node, self.nservices = nodes, pods_per_node, services
        self.weights = list(weights) if weights else None
        self.slow_nodes, self.slow_factor = set(slow_nodes or ()), float(slow_factor)
        if nodes * pods_per_node < services:
            raise ValueError("%d pods cannot serve %d services"
                             % (nodes * pods_per_node, services))
        self.services = ["svc%d" % (s + 1) for s in range(services)]
        self.pods = []   # (name, node, j, service)
        for i in range(1, nodes + 1):
            for j in range(1, pods_per_node + 1):
                g = (i - 1) * pods_per_node + (j - 1)
                self.pods.append(("n%dp%d" % (i, j), i, j, self.services[g % services]))

    def pods_of(self, service):
        return [p for p in self.pods if p[3] == service]

    def weight(self, name):
        """The configured weight of pod `name` (100, anysteer's default,
        when the weights are uniform)."""
        if not self.weights:
            return 100
        svc = next(p[3] for p in self.pods if p[0] == name)
        k = [p[0] for p in self.pods_of(svc)].index(name)
        return self.weights[k % len(self.weights)]

    def capacity(self, name):
        """A pod's capacity relative to a pod of normal speed."""
        node = next(p[1] for p in self.pods if p[0] == name)
        return 1.0 / self.slow_factor if node in self.slow_nodes else 1.0

    def service_us(self, name, base):
        """CPU work per request of pod `name` when the others do `base` us."""
        return int(round(base / self.capacity(name)))

    def target_shares(self):
        """{pod name: weight x capacity / the sum over its service}."""
        out = {}
        for s in self.services:
            pods = self.pods_of(s)
            tot = sum(self.weight(p[0]) * self.capacity(p[0]) for p in pods)
            for p in pods:
                out[p[0]] = self.weight(p[0]) * self.capacity(p[0]) / tot
        return out

    def weight_shares(self):
        """{pod name: its weight / the sum of its service's weights}."""
        out = {}
        for s in self.services:
            pods = self.pods_of(s)
            tot = sum(self.weight(p[0]) for p in pods)
            for p in pods:
                out[p[0]] = self.weight(p[0]) / tot
        return out

    def weight_class(self, service):
        """The service's weight x capacity in pod order, e.g. "10/30/60"
        (the weights, when every pod is as fast) or "100/10/100" (a pod of
        a slow node): services of one class are pooled in the report."""
        return "/".join("%g" % round(self.weight(p[0]) * self.capacity(p[0]), 3)
                        for p in self.pods_of(service))

    def dns_name(self, service):
        return "%s.%s" % (service, SERVICE_ZONE.rstrip("."))

    def ingress_name(self, service):
        return "%s.%s" % (service, INGRESS_ZONE.rstrip("."))


def services_yaml(layout, backend, ttl, max_answers, objectives=None, zones=0):
    """The static catalog every node gets (each publishes its own pods;
    gossip brings the others), as the Kubernetes source would build it.
    objectives: {service: objective} (docs/intents.md); resilience
    spreads over zones when the nodes have them, else over nodes."""
    out = ["services:"]
    for s in layout.services:
        out.append("  - name: %s" % s)
        out.append("    port: %d" % POD_PORT)
        out.append("    ttl: %d" % ttl)
        out.append("    max_answers: %d" % max_answers)
        obj = (objectives or {}).get(s)
        if obj == "resilience":
            out.append("    intent: {objective: resilience, spread: %s}"
                       % ("zone" if zones else "node"))
        elif obj:
            out.append("    intent: {objective: %s}" % obj)
        out.append("    endpoints:")
        for name, i, j, _ in layout.pods_of(s):
            w = ", weight: %d" % layout.weight(name) if layout.weights else ""
            out.append('      - { address: "%s", node: node%d%s }  # pod %s'
                       % (backend.pod_addr(i, j), i, w, name))
    return "\n".join(out) + "\n"


def nsd_conf(d, listen):
    return """# The ingress name's authoritative server (generated by tests/eval).
server:
	ip-address: %(listen)s
	do-ip4: no
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: "%(d)s"
	database: ""
	zonelistfile: "%(d)s/zone.list"
	xfrdfile: "%(d)s/xfrd.state"
	xfrdir: "%(d)s"
	pidfile: "%(d)s/nsd.pid"
	verbosity: 0
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
remote-control:
	control-enable: no
zone:
	name: "%(zone)s"
	zonefile: "ingress.zone"
""" % {"d": d, "listen": listen, "zone": INGRESS_ZONE}


def ingress_zone(layout, vip, ttl):
    z = INGRESS_ZONE
    lines = ["$ORIGIN %s" % z, "$TTL %d" % ttl,
             "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 %d" % (z, z, ttl),
             "@ IN NS ns.%s" % z,
             "ns IN AAAA fd00:1::1"]
    for s in layout.services:
        lines.append("%s IN AAAA %s" % (s, vip))
    return "\n".join(lines) + "\n"


def unbound_conf(d, listen, anycast, ingress_auth):
    """A site resolver: Unbound's defaults except what running it in a
    namespace needs (no chroot/user switch, no daemon, the listen address),
    two stub zones, extended statistics and a control socket."""
    return """# Site resolver (generated by tests/eval). Unbound defaults otherwise:
# rrset-roundrobin yes, qname-minimisation yes, prefetch no, no trust anchor.
server:
	interface: %(listen)s
	port: 53
	access-control: ::/0 allow
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "%(d)s"
	pidfile: "%(d)s/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 0
	extended-statistics: yes
	# svc.example is a private name under the reserved .example TLD.
	domain-insecure: "svc.example."
	domain-insecure: "ingress.example."
stub-zone:
	name: "svc.example."
	stub-addr: %(anycast)s
stub-zone:
	name: "ingress.example."
	stub-addr: %(ingress_auth)s
remote-control:
	control-enable: yes
	control-interface: "%(d)s/unbound.ctl"
""" % {"d": d, "listen": listen, "anycast": anycast, "ingress_auth": ingress_auth}


def nginx_conf(layout, backend, d, vip, workers):
    """nginx as ingress-nginx configures it (defaults of its ConfigMap),
    with stock nginx's round robin in place of ingress-nginx's Lua
    balancer (whose default is round robin too; its EWMA option needs
    Lua, which stock nginx lacks)."""
    ups = []
    servers = []
    for s in layout.services:
        srv = "\n".join("\t\tserver [%s]:%d%s max_fails=0;" % (
            backend.pod_addr(i, j), POD_PORT,
            " weight=%d" % layout.weight(n) if layout.weights else "")
            for n, i, j, _ in layout.pods_of(s))
        ups.append("""	upstream %(s)s {
%(srv)s
		keepalive 320;
		keepalive_timeout 60s;
		keepalive_requests 10000;
	}""" % {"s": s, "srv": srv})
        servers.append("""	server {
		listen [%(vip)s]:%(port)d;
		server_name %(name)s;
		location / {
			proxy_pass http://%(s)s;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
			proxy_set_header X-Real-IP $remote_addr;
			proxy_set_header X-Forwarded-For $remote_addr;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_next_upstream error timeout;
			proxy_next_upstream_tries 3;
			proxy_connect_timeout 5s;
			proxy_send_timeout 60s;
			proxy_read_timeout 60s;
			proxy_buffering off;
		}
	}""" % {"vip": vip, "port": NGINX_PORT, "name": layout.ingress_name(s), "s": s,
               })
    return """# nginx as an ingress (generated by tests/eval), after ingress-nginx's defaults.
daemon off;
master_process on;
worker_processes %(workers)d;
worker_rlimit_nofile 16384;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx-error.log warn;
events {
	worker_connections 8192;
	multi_accept on;
	use epoll;
}
http {
	access_log off;
	keepalive_timeout 75s;
	keepalive_requests 1000;
	client_body_temp_path %(d)s/client_body;
	proxy_temp_path %(d)s/proxy;
	fastcgi_temp_path %(d)s/fastcgi;
	uwsgi_temp_path %(d)s/uwsgi;
	scgi_temp_path %(d)s/scgi;
	server_tokens off;
	reset_timedout_connection on;
	server {
		listen [%(vip)s]:%(port)d default_server reuseport backlog=4096;
		return 404;
	}
%(ups)s
%(servers)s
}
""" % {"workers": workers, "d": d, "vip": vip, "port": NGINX_PORT,
       "ups": "\n".join(ups), "servers": "\n".join(servers)}


def haproxy_conf(layout, backend, d, vip, threads, leastconn=False):
    """HAProxy as haproxy-ingress configures it by default (its
    createDefaults(): balance roundrobin, health checks every 2 s, 2
    threads, forwardfor, timeouts connect 5s, http-request 5s, keep-alive
    1m, queue 5s, client/server 50s), keep-alive on both sides and
    HAProxy's own server connection reuse ("safe"). maxconn is raised from
    haproxy-ingress's 2000 so that every client connection fits."""
    rules, backends, lc_rules = [], [], []
    for s in layout.services:
        rules.append("\tuse_backend %s if { hdr(host),field(1,:) -i %s }"
                     % (s, layout.ingress_name(s)))
        lc_rules.append("\tuse_backend %s_lc if { hdr(host),field(1,:) -i %s }"
                        % (s, layout.ingress_name(s)))
        srv = "\n".join("\tserver %s [%s]:%d check inter 2s%s" % (
            name, backend.pod_addr(i, j), POD_PORT,
            " weight %d" % layout.weight(name) if layout.weights else "")
            for name, i, j, _ in layout.pods_of(s))
        backends.append("""backend %(s)s
	balance roundrobin
	option httpchk GET /healthz
	http-reuse safe
%(srv)s
""" % {"s": s, "srv": srv})
        if leastconn:
            # The same servers, balanced by fewest connections in flight
            # (haproxy-ingress's balance-algorithm: leastconn).
            backends.append("""backend %(s)s_lc
	balance leastconn
	option httpchk GET /healthz
	http-reuse safe
%(srv)s
""" % {"s": s, "srv": srv})
    return """# HAProxy as an ingress (generated by tests/eval), after haproxy-ingress's defaults.
global
	nbthread %(threads)d
	maxconn 8000
	pidfile %(d)s/haproxy.pid
	stats socket %(d)s/haproxy.sock mode 600 level admin
defaults
	mode http
	option http-keep-alive
	option forwardfor
	option redispatch
	retries 3
	timeout connect 5s
	timeout client 50s
	timeout server 50s
	timeout http-keep-alive 1m
	timeout http-request 5s
	timeout queue 5s
	maxconn 8000
frontend ingress
	bind [%(vip)s]:%(port)d
%(rules)s
	default_backend none
%(lc)sbackend none
	http-request return status 404
%(backends)s""" % {"threads": threads, "d": d, "vip": vip, "port": HAPROXY_PORT,
                   "rules": "\n".join(rules), "backends": "\n".join(backends),
                   "lc": ("""frontend ingress_leastconn
	bind [%s]:%d
%s
	default_backend none
""" % (vip, HAPROXY_LC_PORT, "\n".join(lc_rules))) if leastconn else ""}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def wait_for(pred, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(step)
