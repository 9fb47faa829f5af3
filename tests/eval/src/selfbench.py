#!/usr/bin/env python3
"""Measures as-loadgen itself: its CPU per request and the highest rate one
process keeps on schedule, against one local as-backend (no service time)
with anysteerd as the DNS, in a private network namespace.

    sudo top_builddir=_build/plain tests/eval/src/selfbench.py \
        [--rates 1000,2000,4000] [--duration 10] [--modes ttl-reuse,none-noreuse]
        [--target as-backend|nginx]

Modes: ttl-reuse (browser-like: TTL cache, keep-alive), none-noreuse
(glibc-like: a query and a connection per request). Prints one line per
run; "on schedule" means send lag p99 < 1 ms and ok == scheduled. Bounded
(every run stops by itself); the namespace and its processes are removed
at the end, by PID."""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
from anysteer_test import BUILD, Daemon  # noqa: E402

BACKEND = os.path.join(BUILD, "tests", "eval", "as-backend")
LOADGEN = os.path.join(BUILD, "tests", "eval", "as-loadgen")
POD = "fd00:e7a2::a"
NS_ENV = "ANYSTEER_SELFBENCH_NS"
MODES = {
    "ttl-reuse": ["--client-cache", "ttl", "--reuse", "on"],
    "none-noreuse": ["--client-cache", "none", "--reuse", "off"],
    "ttl-noreuse": ["--client-cache", "ttl", "--reuse", "off"],
}


def config(d):
    return """node: {name: bench}
dns:
  listen: ["[::1]:%d"]
  zone: svc.test.
  ttl: 10
  workers: 1
  nameservers: [ns1.svc.test.]
  ns_addresses: ["fd00:53::53"]
control: {socket: %s}
metrics: {listen: "[::1]:%d"}
services:
  - name: web
    port: 80
    endpoints:
      - {address: "%s", weight: 1, node: other}
""" % (d.port, d.ctl, d.metrics_port, POD)


NGINX_CONF = """worker_processes 1;
daemon off;
master_process off;
pid %(d)s/nginx.pid;
error_log %(d)s/nginx.err;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path %(d)s/t1; proxy_temp_path %(d)s/t2;
    fastcgi_temp_path %(d)s/t3; uwsgi_temp_path %(d)s/t4; scgi_temp_path %(d)s/t5;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    server {
        listen [%(pod)s]:80;
        location / { root %(d)s/www; add_header X-Pod nginx; }
    }
}
"""


def start_target(kind, tmp):
    """The server under the load generator; returns its Popen."""
    if kind == "nginx":
        os.makedirs(os.path.join(tmp, "www"))
        with open(os.path.join(tmp, "www", "index.html"), "w") as f:
            f.write("x" * 64)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"d": tmp, "pod": POD})
        return subprocess.Popen(["nginx", "-c", conf])
    pidfile = os.path.join(tmp, "backend.pid")
    p = subprocess.Popen([BACKEND, "--listen", "[%s]:80" % POD,
                          "--pod", "p", "--pidfile", pidfile])
    return p


def wait_serving():
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(POD, 80, timeout=1)
            c.request("GET", "/")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("target not serving")


def cpu_s(pid):
    """User + system CPU seconds of a process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inner(args):
    tmp = tempfile.mkdtemp(prefix="anysteer-selfbench-")
    backend = start_target(args.target, tmp)
    daemon = Daemon(config)
    daemon.start()
    try:
        wait_serving()
        print("target: %s" % args.target)
        print("mode          rate  achieved  ok/sched  errors  cpu_us/req  "
              "lag_p99_us  total_p50_us  total_p99_us  target_cpu_us/req")
        for mode in args.modes.split(","):
            for rate in [int(r) for r in args.rates.split(",")]:
                out = os.path.join(tmp, "r.json")
                c0 = cpu_s(backend.pid)
                wrap = os.environ.get("SELFBENCH_WRAP", "").split()
                subprocess.run(wrap + [LOADGEN, "--resolver", "[::1]:%d" % daemon.port,
                                "--name", "web.svc.test", "--rate", str(rate),
                                "--duration", str(args.duration),
                                "--warmup", "1", "--clients",
                                str(args.clients), "--out", out]
                               + MODES[mode], check=True, timeout=600)
                with open(out) as f:
                    j = json.load(f)
                lg = j["loadgen"]
                bcpu = (cpu_s(backend.pid) - c0) * 1e6 / max(
                    1, lg["requests_sent_all"])
                print("%-12s %6d %9.0f  %8.3f  %6d  %10.1f  %10d  %12d  %12d"
                      "  %18.1f"
                      % (mode, rate, j["achieved_rps"],
                         j["ok"] / max(1, j["scheduled"]),
                         sum(j["errors"].values()), lg["cpu_us_per_request"],
                         lg["send_lag_us"]["p99"],
                         j["latency_us"]["total"]["p50"],
                         j["latency_us"]["total"]["p99"], bcpu), flush=True)
                errs = {k: v for k, v in j["errors"].items() if v}
                if errs or lg["unfinished"]:
                    print("    errors %s, unfinished %d, never sent %d, connections opened %d,"
                          " DNS queries %d, answers dropped by our socket %d,"
                          " unmatched %d, rcvbuf %d"
                          % (errs, lg["unfinished"], lg["never_sent"],
                             j["connections"]["opened"],
                             j["dns"]["queries_sent"], lg["dns_socket_drops"],
                             lg["dns_dropped"], lg["dns_rcvbuf"]), flush=True)
    finally:
        backend.send_signal(signal.SIGTERM)
        backend.wait(10)
        daemon.stop()
        daemon.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def outer():
    ns = "evlgb-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", POD + "/128", "dev",
                        "lo", "nodad"], check=True)
        env = dict(os.environ, **{NS_ENV: ns})
        return subprocess.run(["ip", "netns", "exec", ns, sys.executable,
                               os.path.abspath(__file__)] + sys.argv[1:],
                              env=env).returncode
    finally:
        for pid in subprocess.run(["ip", "netns", "pids", ns],
                                  capture_output=True,
                                  text=True).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "delete", ns])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="1000,2000,4000,8000")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--modes", default="ttl-reuse,none-noreuse")
    ap.add_argument("--target", choices=["as-backend", "nginx"],
                    default="as-backend")
    a = ap.parse_args()
    if os.environ.get(NS_ENV):
        inner(a)
    else:
        sys.exit(outer())
