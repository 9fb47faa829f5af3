#!/usr/bin/env python3
"""N testbed agents (default 22) x 110 static endpoints (issue 19, item 3):
the time until every agent holds every record whole, the bytes each agent
sends per second with no change (60 s), and the spread of one changed
endpoint (node1's config edited, SIGHUP). Needs what deploy/testbed needs
(root, BIRD, iproute2) and a build in _build/rel; run from the source
root: tests/bench/large-records-testbed.py [N]. Not part of make check."""
import json
import os
import re
import signal
import subprocess
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 22
EPS = 110
BUILD = os.path.abspath(os.environ.get("top_builddir", "_build/rel"))
PID = os.getpid()
ENV = dict(os.environ, TESTBED_PREFIX="r19t%d" % (PID % 10000),
           TESTBED_DIR="/tmp/rec19-tb-%d" % PID,
           TESTBED_SERVICES_FILE="/tmp/rec19-tb-svc-%d.yaml" % PID)
TB = ["deploy/testbed/testbed.sh", "--build", BUILD]


def addr(i, k):
    return "fd00:19:3::%x:%x" % (i, k + 1)


def write_services(changed=None):
    by = {}
    for i in range(1, N + 1):
        for k in range(EPS):
            a = changed if (changed and i == 1 and k == 0) else addr(i, k)
            by.setdefault("s%d" % (k % 11), []).append((a, i))
    with open(ENV["TESTBED_SERVICES_FILE"], "w") as f:
        f.write("services:\n")
        for s, lst in sorted(by.items()):
            f.write("  - name: %s\n    port: 443\n    endpoints:\n" % s)
            for a, i in lst:
                f.write('      - { address: "%s", node: node%d }\n' % (a, i))


def tb(*args, check=True):
    return subprocess.run(TB + list(args), env=ENV, capture_output=True,
                          text=True, check=check, timeout=600)


def members(i):
    r = tb("ctl", str(i), "--json", "members", check=False)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return []


def status(i):
    return json.loads(tb("ctl", str(i), "--json", "status").stdout)["gossip"]


def complete(i, want_first=None):
    ms = members(i)
    if len([m for m in ms if m["state"] == "alive"]) != N:
        return False
    for m in ms:
        if m["endpoints"] != EPS:
            return False
        if want_first and m["name"] == "node1":
            if want_first not in {e["address"] for e in m["endpoint_list"]}:
                return False
    return True


def wait_all(pred, limit):
    t0 = time.monotonic()
    pending = set(range(1, N + 1))
    while pending and time.monotonic() - t0 < limit:
        pending = {i for i in pending if not pred(i)}
    return time.monotonic() - t0 if not pending else None


write_services()
t0 = time.monotonic()
try:
    r = tb("up", str(N), "--letters", "1")
    t_up = time.monotonic() - t0
    t_conv = wait_all(complete, 300)
    t_all = time.monotonic() - t0
    print("up %d returned after %.1f s; every view whole %s s later (%.1f s "
          "after the start)" % (N, t_up, "%.1f" % t_conv if t_conv is not None
                               else "NEVER", t_all))
    # quiet bytes per node over 60 s
    b0 = {i: status(i)["bytes"] for i in range(1, N + 1)}
    time.sleep(60)
    b1 = {i: status(i)["bytes"] for i in range(1, N + 1)}
    out = [(b1[i]["udp_out"] + b1[i]["tcp_out"] - b0[i]["udp_out"] - b0[i]["tcp_out"]) / 60.0
           for i in b0]
    print("quiet: %.0f B/s sent per node (min %.0f, max %.0f), UDP+TCP payload"
          % (sum(out) / len(out), min(out), max(out)))
    # one endpoint of node1 changes (reload)
    new = "fd00:19:3::1:ffff"
    write_services(changed=new)
    d = ENV["TESTBED_DIR"]
    cfg = open("%s/n1/anysteer.yaml" % d).read()
    cfg = cfg.replace('"%s"' % addr(1, 0), '"%s"' % new)
    open("%s/n1/anysteer.yaml.tmp" % d, "w").write(cfg)
    os.rename("%s/n1/anysteer.yaml.tmp" % d, "%s/n1/anysteer.yaml" % d)
    pid = int(open("%s/n1/anysteerd.pid" % d).read())
    t1 = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    t_chg = wait_all(lambda i: complete(i, new), 60)
    print("a changed 110-endpoint record (node1, reload) in every view after "
          "%s s (polling %d nodes by anysteerctl)" %
          ("%.2f" % t_chg if t_chg is not None else "NEVER", N))
    # when each node took it: the query time minus the age of its update
    # about node1 (the query's own start-up makes the lower bound early)
    seen = []
    own = None
    for i in range(1, N + 1):
        ta = time.monotonic()
        ms = members(i)
        tb_ = time.monotonic()
        for m in ms:
            if m["name"] == "node1":
                if m["self"]:
                    own = (ta - m["age_ms"] / 1000.0 - t1, tb_ - m["age_ms"] / 1000.0 - t1)
                else:
                    seen.append((ta - m["age_ms"] / 1000.0 - t1, tb_ - m["age_ms"] / 1000.0 - t1))
    print("node1 itself announced it %.3f-%.3f s after the SIGHUP; the 21 others "
          "took it %.3f-%.3f s (earliest) to %.3f-%.3f s (last) after it"
          % (own[0], own[1], min(x[0] for x in seen), min(x[1] for x in seen),
             max(x[0] for x in seen), max(x[1] for x in seen)))
    st = [status(i) for i in range(1, N + 1)]
    print("pulls done %d, timed out %d, endpoints dropped %d, drops %s" % (
        sum(s["pulls"]["done"] for s in st), sum(s["pulls"]["timed_out"] for s in st),
        sum(s["endpoints_dropped"] for s in st),
        {k: sum(s["drops"][k] for s in st) for k in st[0]["drops"]
         if sum(s["drops"][k] for s in st)}))
finally:
    tb("down", check=False)
