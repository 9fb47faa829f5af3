#!/usr/bin/env python3
"""Five real anysteerd processes gossiping on loopback (issue 3).

One scenario, in order, because starting the cluster is the expensive
part:
  1. 5 nodes converge: every node's `members` lists 5 alive and every
     node's DNS answers carry the endpoints of all 5 (and never the
     catalog's entry for a node that does not gossip).
  2. A node holding the wrong key never joins; the nodes it tried are
     counting its packets as authentication failures.
  3. A key rotation (install new everywhere, use new everywhere, remove
     old everywhere) raises no suspicion: the counters stay put and a
     poller never sees a member that is not alive. The keyring files end
     up holding only the new key, mode 0600.
  4. kill -9 of one node: its endpoints leave every other node's answers
     (the time is measured and printed; target 3 s, the crash-detection
     p99 target), then it restarts under the same name, rejoins and its
     endpoints come back.
  5. SIGTERM everywhere: a graceful leave, clean exit, no sanitizer report.

Every step waits on a condition, never on a sleep: the key rotation
waits for probe acks (a round trip that worked) on every node after each
keyring step, read from the nodes' metrics.

Endpoints are 127.0.1.N / 127.0.2.N on a port this test listens on (an
accept loop keeps the queue empty), so the TCP health probes pass.
"""
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERD, Acceptor, Daemon, free_port,  # noqa: E402
                           query_a, sanitizer_report)

ZONE = "svc.example."
N = 5
CRASH_TARGET_S = 3.0


def generate_key():
    r = subprocess.run([ANYSTEERD, "--generate-key"], capture_output=True,
                       text=True, timeout=10, check=True)
    key = r.stdout.strip()
    assert len(key) == 44, key
    return key


def write_keyring(path, keys):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# test keyring\n" + "\n".join(keys) + "\n")


def endpoints_of(i):
    return {"127.0.1.%d" % i, "127.0.2.%d" % i}


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.daemons = []
        self.tmp_keyrings = []
        self.svc_port = free_port()
        self.acceptor = Acceptor(sorted(set().union(
            *(endpoints_of(i) for i in range(1, N + 2)))), self.svc_port)
        self.old_key = generate_key()

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        self.acceptor.close()

    # ---- helpers ----

    def make_node(self, i, keys, seeds):
        def config(d):
            d.gossip_port = d.gossip_port if hasattr(d, "gossip_port") \
                else free_port()
            d.keyring = os.path.join(d.dir, "keyring")
            write_keyring(d.keyring, keys)
            eps = "\n".join('      - { address: "%s", node: %s }' % (a, d.name)
                            for a in sorted(endpoints_of(i)))
            return """node: {name: %(name)s}
dns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  max_answers: 20
  workers: 1
control: {socket: %(ctl)s}
metrics: {listen: "[::1]:%(mport)d"}
# Every node shares this machine: a pinned load keeps factors at 1 so
# answers depend on membership and health, not on whoever builds next door.
load: {interval: 500ms, source: static, value: 0.1}
gossip:
  bind: "[::1]:%(gport)d"
  seeds: [%(seeds)s]
  cluster: it-cluster
  keyring: %(keyring)s
  # Probe timeouts a sanitizer build on a shared 2-core machine keeps
  # (the no-suspicion check must measure key rotation, not CPU stalls).
  probe_interval: 200ms
  probe_timeout: 100ms
health: {interval: 250ms, timeout: 200ms, rise: 2, fall: 2}
services:
  - name: web
    port: %(sport)d
    endpoints:
%(eps)s
      - { address: "127.0.9.9", node: ghost }
""" % {"name": d.name, "port": d.port, "zone": ZONE, "ctl": d.ctl,
                "gport": d.gossip_port, "keyring": d.keyring,
                "mport": d.metrics_port,
                "seeds": ", ".join('"[::1]:%d"' % p for p in seeds),
                "sport": self.svc_port, "eps": eps}
        d = Daemon(config, name="n%d" % i)
        d.index = i
        self.daemons.append(d)
        return d

    def members(self, d):
        return {m["name"]: m for m in d.ctl_json("members")}

    def answers(self, d):
        a = query_a(d.port, "web." + ZONE)
        return set(a) if a is not None else None

    def wait_for(self, what, cond, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cond():
                return time.monotonic() - t0
            time.sleep(0.05)
        state = []
        for d in self.daemons:
            if d.proc is None or d.proc.poll() is not None:
                state.append("%s: not running" % d.name)
                continue
            try:
                m = {k: (v["state"], v["endpoints_healthy"])
                     for k, v in self.members(d).items()}
            except Exception as e:  # noqa: BLE001
                m = str(e)
            state.append("%s: members %s answers %s\n%s" % (
                d.name, m, sorted(self.answers(d) or []),
                "\n".join(d.log().splitlines()[-15:])))
        self.fail("timed out after %.0fs waiting for %s:\n%s"
                  % (timeout, what, "\n".join(state)))

    def gossip_status(self, d):
        return d.ctl_json("status")["gossip"]

    def acks_in(self, d):
        """Probe acks d has received (from its metrics snapshot, taken
        every load.interval): each one is a round trip that worked."""
        series = ('anysteer_gossip_messages_total{direction="in",'
                  'type="ack"} ')
        with urllib.request.urlopen("http://[::1]:%d/metrics"
                                    % d.metrics_port, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(series):
                    return int(float(line[len(series):]))
        return 0

    def wait_acks(self, what, nodes, n, timeout=15):
        """Until every node has received n more probe acks than now."""
        base = {d.name: self.acks_in(d) for d in nodes}
        self.wait_for(what, lambda: all(
            self.acks_in(d) >= base[d.name] + n for d in nodes), timeout)

    # ---- the scenario ----

    def test_cluster(self):
        t_start = time.monotonic()
        # Nodes 1 and 2 are the seeds of everyone (a restarted seed still
        # finds the cluster through the other).
        nodes = []
        for i in range(1, N + 1):
            nodes.append(self.make_node(i, [self.old_key], []))
        seeds = [nodes[0].gossip_port, nodes[1].gossip_port]
        for d in nodes:
            d.write_config(self.make_config_again(d, seeds))
            d.start(wait=False)
        for d in nodes:
            d.wait_ready()
        all_eps = set().union(*(endpoints_of(i) for i in range(1, N + 1)))

        def converged():
            for d in nodes:
                m = self.members(d)
                if len(m) != N or any(x["state"] != "alive" for x in m.values()):
                    return False
                if self.answers(d) != all_eps:
                    return False
            return True
        t = self.wait_for("5 nodes to converge", converged, 20)
        print("\nconverged: %d nodes, every answer has all %d endpoints, "
              "%.2f s after start" % (N, len(all_eps), t))
        for d in nodes:
            # The catalog's entry for a node that does not gossip never
            # reaches an answer; each member carries its 2 endpoints.
            self.assertNotIn("127.0.9.9", self.answers(d))
            for m in self.members(d).values():
                self.assertEqual(m["endpoints"], 2)
                self.assertEqual(m["endpoints_healthy"], 2)
                self.assertGreater(m["incarnation"], 0)

        self.wrong_key(nodes, seeds)
        self.rotation(nodes)
        self.crash_and_restart(nodes, all_eps)

        for d in nodes:
            code, log = d.stop()
            self.assertEqual(code, 0, log)
            self.assertIsNone(sanitizer_report(log), log)
            self.assertIn("gossip: leaving the cluster", log)
        print("total %.1f s" % (time.monotonic() - t_start))

    def make_config_again(self, d, seeds):
        """The config of d with the seeds filled in (ports known now)."""
        with open(d.config) as f:
            text = f.read()
        return text.replace("seeds: []", "seeds: [%s]" % ", ".join(
            '"[::1]:%d"' % p for p in seeds))

    def wrong_key(self, nodes, seeds):
        before = sum(self.gossip_status(d)["auth_failures"] for d in nodes[:2])
        bad = self.make_node(N + 1, [generate_key()], [])
        bad.write_config(self.make_config_again(bad, seeds))
        bad.start()
        # It tries the seeds at once and keeps trying: wait until the
        # seeds have refused several of its packets.
        self.wait_for(
            "auth failures from the wrong-key node",
            lambda: sum(self.gossip_status(d)["auth_failures"]
                        for d in nodes[:2]) >= before + 3, 10)
        self.assertEqual(list(self.members(bad)), [bad.name])
        self.assertEqual(self.answers(bad), endpoints_of(N + 1))
        for d in nodes:
            self.assertNotIn(bad.name, self.members(d))
            self.assertFalse(self.answers(d) & endpoints_of(N + 1))
        after = sum(self.gossip_status(d)["auth_failures"] for d in nodes[:2])
        print("wrong key: never joined; %d packets counted as auth "
              "failures on the seeds" % (after - before))
        code, log = bad.stop()
        self.assertEqual(code, 0, log)
        self.assertIsNone(sanitizer_report(log), log)

    def rotation(self, nodes):
        new_key = generate_key()
        sus0 = {d.name: self.gossip_status(d) for d in nodes}
        seen_bad = []
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                for d in nodes:
                    try:
                        for m in d.ctl_json("members"):
                            if m["state"] != "alive":
                                seen_bad.append((d.name, m["name"], m["state"]))
                    except Exception as e:  # noqa: BLE001
                        seen_bad.append((d.name, "ctl", str(e)))
                time.sleep(0.05)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            for step in (("install", new_key), ("use", new_key),
                         ("remove", self.old_key)):
                for d in nodes:
                    d.ctl_run("keyring", *step)
                # Traffic flows with every intermediate keyring: a few
                # probe round trips on every node.
                self.wait_acks("probe acks after keyring %s" % step[0],
                               nodes, 2)
            # And goes on with the new key alone for a while (several
            # probe rounds of every node) without a suspicion.
            self.wait_acks("probe acks with the new key", nodes, 6)
        finally:
            stop.set()
            poller.join()
        self.assertEqual(seen_bad, [], "a member was not alive during "
                         "the key rotation")
        for d in nodes:
            st = self.gossip_status(d)
            self.assertEqual(st["suspicions_raised"],
                             sus0[d.name]["suspicions_raised"], d.name)
            self.assertEqual(st["self_refutes"], sus0[d.name]["self_refutes"],
                             d.name)
            kr = d.ctl_json("keyring", "list")
            self.assertEqual([k["key"] for k in kr["keys"]], [new_key])
            self.assertTrue(kr["keys"][0]["primary"])
            mode = stat.S_IMODE(os.stat(d.keyring).st_mode)
            self.assertEqual(mode, 0o600)
            with open(d.keyring) as f:
                lines = [x.strip() for x in f
                         if x.strip() and not x.startswith("#")]
            self.assertEqual(lines, [new_key])
        # Errors are errors: the primary cannot go, garbage is refused.
        r = nodes[0].ctl_run("keyring", "remove", new_key, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("primary", r.stderr)
        r = nodes[0].ctl_run("keyring", "install", "not-a-key", check=False)
        self.assertNotEqual(r.returncode, 0)
        print("key rotation on %d nodes: no suspicion, every member alive "
              "throughout" % len(nodes))

    def crash_and_restart(self, nodes, all_eps):
        victim = nodes[-1]
        others = nodes[:-1]
        gone = endpoints_of(victim.index)
        self.wait_for("every answer to carry every endpoint", lambda: all(
            self.answers(d) == all_eps for d in others), 10)
        t0 = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        left = {d.name for d in others}
        when = {}
        while left and time.monotonic() - t0 < 10:
            for d in others:
                if d.name in left:
                    a = self.answers(d)
                    if a is not None and not (a & gone):
                        when[d.name] = time.monotonic() - t0
                        left.discard(d.name)
            time.sleep(0.01)
        victim.proc.wait()
        self.assertFalse(left, "endpoints of the killed node still answered "
                         "by %s after 10 s" % sorted(left))
        worst = max(when.values())
        print("kill -9 %s: its endpoints left every other node's answers "
              "after %s s (worst %.2f s, target %.1f s)" % (
                  victim.name, ", ".join("%.2f" % when[k]
                                         for k in sorted(when)),
                  worst, CRASH_TARGET_S))
        self.assertLess(worst, CRASH_TARGET_S)
        # Gone because gossip no longer sees it alive, nothing else (a
        # health probe of another endpoint that timed out on this busy
        # machine comes back within its rise count).
        for d in others:
            self.assertNotEqual(self.members(d)[victim.name]["state"], "alive")
        self.wait_for("the other endpoints to stay in every answer",
                      lambda: all(self.answers(d) == all_eps - gone
                                  for d in others), 5)

        # Same name, same ports: it rejoins and its endpoints return.
        victim._stderr.close()
        victim.proc = None
        t1 = time.monotonic()
        victim.start()

        def back():
            for d in nodes:
                m = self.members(d)
                if len(m) != N or any(x["state"] != "alive" for x in m.values()):
                    return False
                if self.answers(d) != all_eps:
                    return False
            return True
        self.wait_for("the restarted node to rejoin", back, 15)
        print("restart of %s: rejoined, endpoints back on every node "
              "%.2f s after start" % (victim.name, time.monotonic() - t1))


if __name__ == "__main__":
    unittest.main(verbosity=2)
