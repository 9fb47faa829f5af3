#!/usr/bin/env python3
"""Anycast failover end to end on the emulated cluster (deploy/testbed):
an upstream router with BIRD and ECMP, three nodes each running BIRD and
anysteerd, a client namespace sending >= 200 queries/s to the anycast
address. Asserts: one next hop per healthy node; kill -9 of an agent
removes its next hop (by the TUN device, under 150 ms) and loses only
queries sent before the hop was gone;
SIGTERM drains with zero failed queries; a killed BIRD or a cut link is
gone within 1 s (BFD); the health gate withdraws when the DNS workers stop
answering and announces again when they recover; anysteerctl drain and
undrain. Needs root and BIRD; skips (77) otherwise."""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (skip_cluster_in_distcheck, Testbed, main_skip77,  # noqa: E402
                           require_root_bird, sanitizer_report)

RATE = 200          # client queries per second
QTIMEOUT = 0.5      # a query without an answer after this failed
LINGER = 2.0        # drain.linger of the testbed nodes


class AnycastTestbedTest(unittest.TestCase):
    tb = None

    @classmethod
    def setUpClass(cls):
        skip_cluster_in_distcheck()
        require_root_bird()
        cls.tb = Testbed(linger="%gs" % LINGER)
        try:
            cls.tb.up(3)
        except Exception:
            cls.tb.down()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.tb is None:
            return
        logs = [cls.tb.agent_log(i) for i in (1, 2, 3)]
        cls.tb.down()
        for i, log in enumerate(logs, 1):
            rep = sanitizer_report(log)
            if rep:
                raise AssertionError("node%d agent: sanitizer report:\n%s" % (i, rep))

    def setUp(self):
        # Every test starts from a full cluster. A test restores what it
        # broke; one that failed half-way may not have, so restart any
        # agent that is gone here rather than fail every later test too.
        for i in (1, 2, 3):
            for what, pidof in (("bird", self.tb.bird_pid), ("agent", self.tb.agent_pid)):
                try:
                    alive = self.tb.pid_alive(pidof(i))
                except (OSError, ValueError):
                    alive = False
                if not alive:
                    print("\n  setUp: node%d's %s is not running (an earlier "
                          "test failed?); restarting it" % (i, what), file=sys.stderr)
                    self.tb.run("%s-start" % what, i, timeout=60)
        t = self.tb.wait(lambda: len(self.tb.hops()) == 3, 30, 0.05)
        self.assertIsNotNone(t, "cluster not whole: %s" % self.tb.hops())

    def restart_agent(self, i):
        self.tb.run("agent-start", i, timeout=60)
        self.assertIsNotNone(self.tb.wait_hop_back(i, 30),
                             "node%d's next hop did not come back" % i)

    # ---- steady state ---------------------------------------------------------
    def test_1_one_next_hop_per_node(self):
        self.assertEqual(self.tb.hops(), [self.tb.node_addr(i) for i in (1, 2, 3)])
        for i in (1, 2, 3):
            r = self.tb.ctl_json(i, "routes")
            self.assertTrue(r["configured"])
            self.assertEqual(r["addresses"][0]["address"], self.tb.anycast)
            self.assertEqual(r["addresses"][0]["state"], "announced")
            self.assertEqual(r["addresses"][0]["reason"], "healthy")
            self.assertTrue(r["bird"]["connected"])
            # The testbed's gate waits for gossip: announced means joined.
            self.assertTrue(r["gate"]["wait_for_gossip"])
            self.assertTrue(r["gate"]["joined"])
            # BIRD exports the /128 to the upstream (polled every second).
            ok = self.tb.wait(lambda: self.tb.ctl_json(i, "routes")["addresses"][0]
                              ["bird_exported"] is True, 5, 0.2)
            self.assertIsNotNone(ok, "node%d: BIRD export not reported" % i)
            protos = {p["name"]: p for p in self.tb.ctl_json(i, "routes")["bird"]["protocols"]}
            self.assertEqual(protos["upstream"]["state"], "up")
            self.assertEqual(protos["upstream"]["info"], "Established")
        # Queries spread over every node (L4 ECMP hash).
        q = self.tb.querier(rate=RATE, duration=1.5, timeout=QTIMEOUT)
        res = self.tb.querier_result(q)
        self.assertEqual(res["failed"], 0, res)
        self.assertEqual(sorted(res["by_node"]), ["node1", "node2", "node3"], res)

    # ---- agent death -------------------------------------------------------------
    def test_2_kill9_agent(self):
        q = self.tb.querier(rate=RATE, duration=3.0, timeout=QTIMEOUT)
        time.sleep(1.0)
        pid = self.tb.agent_pid(1)
        t_kill = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        gone = self.tb.wait_hop_gone(1, 2.0)
        res = self.tb.querier_result(q)
        self.assertIsNotNone(gone, "node1's next hop still there 2 s after SIGKILL")
        self.assertEqual(self.tb.hops(), [self.tb.node_addr(2), self.tb.node_addr(3)])
        # The next hop goes with the agent's TUN device, not by BFD
        # (>= 225 ms): well under 150 ms even with sanitizers and a CPU
        # hog (a fixed 50 ms bound failed once in a loaded repeat run at
        # 51.6 ms). The real time is the benchmark's to measure
        # (tests/bench/failover-bench.sh: ~4 ms, docs/anycast.md).
        self.assertLess(gone, 0.150, "node1's next hop went after %.1f ms" % (gone * 1000))
        # Only queries in flight until then may be lost: every failed
        # query was sent before the poll that saw the hop gone had ended
        # (and not long before the kill, which would be an unrelated
        # failure). Compared with the poll's own end, not t_kill + gone:
        # under a CPU hog this process can be preempted between the kill
        # and the first poll, and that gap (repeat run 10 of 20: a query
        # 1 ms past t_kill + gone) is not in gone.
        seen_gone = self.tb.held_at
        late = [round((f - t_kill) * 1000, 1) for f in res["failures"]
                if f > seen_gone or f < t_kill - QTIMEOUT]
        self.assertEqual(late, [], "failed queries sent after the next hop was seen gone "
                         "(%.1f ms after the kill, the first poll %.1f ms after it; failures "
                         "in ms after the kill): %s; %s"
                         % ((seen_gone - t_kill) * 1000, (seen_gone - t_kill - gone) * 1000,
                            late, res))
        self.assertGreaterEqual(res["sent"], int(RATE * 3.0 * 0.9), res)
        print("\n  kill -9: next hop gone after %.1f ms (polled from %.1f ms after the "
              "kill), %d of %d queries failed"
              % (gone * 1000, (seen_gone - t_kill - gone) * 1000, res["failed"], res["sent"]),
              file=sys.stderr)
        self.restart_agent(1)

    # ---- drain ---------------------------------------------------------------------
    def test_3_sigterm_drain(self):
        duration = 1.0 + LINGER + 2.0
        q = self.tb.querier(rate=RATE, duration=duration, timeout=QTIMEOUT)
        time.sleep(1.0)
        pid = self.tb.agent_pid(2)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        gone = self.tb.wait_hop_gone(2, LINGER)
        self.assertIsNotNone(gone, "node2 still announced %.1f s into its drain" % LINGER)
        # Still answering while draining (the address stays on the TUN).
        self.assertTrue(self.tb.pid_alive(pid), "agent exited before its linger")
        r = self.tb.ctl_json(2, "routes")
        self.assertEqual(r["addresses"][0]["state"], "withdrawn")
        self.assertEqual(r["addresses"][0]["reason"], "draining")
        exited = self.tb.wait(lambda: not self.tb.pid_alive(pid), LINGER + 5, 0.05)
        self.assertIsNotNone(exited, "agent did not exit after the linger")
        self.assertGreaterEqual(time.monotonic() - t0, LINGER - 0.1)
        res = self.tb.querier_result(q)
        self.assertEqual(res["failed"], 0, "drain lost queries: %s" % res)
        self.assertIn("drain linger of", self.tb.agent_log(2))
        print("\n  drain: next hop gone after %.1f ms, 0 of %d queries failed"
              % (gone * 1000, res["sent"]), file=sys.stderr)
        self.restart_agent(2)

    def test_4_second_sigterm_exits_at_once(self):
        pid = self.tb.agent_pid(3)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.2)
        self.assertTrue(self.tb.pid_alive(pid))
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        exited = self.tb.wait(lambda: not self.tb.pid_alive(pid), 3, 0.02)
        self.assertIsNotNone(exited, "second SIGTERM did not stop the agent")
        self.assertLess(time.monotonic() - t0, LINGER)
        self.restart_agent(3)

    def test_5_ctl_drain_undrain(self):
        r = self.tb.ctl_json(1, "drain")
        self.assertEqual(r["addresses"][0]["state"], "withdrawn")
        self.assertIsNotNone(self.tb.wait_hop_gone(1, 3), "drain did not withdraw")
        res = self.tb.querier_result(self.tb.querier(rate=RATE, duration=1.0))
        self.assertNotIn("node1", res["by_node"], res)
        self.assertEqual(res["failed"], 0, res)
        r = self.tb.ctl_json(1, "undrain")
        self.assertEqual(r["addresses"][0]["state"], "announced")
        self.assertIsNotNone(self.tb.wait_hop_back(1, 10), "undrain did not announce")

    # ---- health gate -------------------------------------------------------------------
    def test_6_health_gate(self):
        self.tb.ctl_json(3, "test", "pause-dns")
        try:
            gone = self.tb.wait_hop_gone(3, 5)
            self.assertIsNotNone(gone, "paused DNS workers: route still announced")
            r = self.tb.ctl_json(3, "routes")
            self.assertEqual(r["addresses"][0]["state"], "withdrawn")
            self.assertEqual(r["addresses"][0]["reason"], "self-check failing")
            self.assertEqual(self.tb.ctl_json(3, "status")["anycast"]["healthy"], False)
        finally:
            self.tb.ctl_json(3, "test", "resume-dns")
        back = self.tb.wait_hop_back(3, 10)
        self.assertIsNotNone(back, "route did not return after DNS recovered")
        self.assertEqual(self.tb.ctl_json(3, "routes")["addresses"][0]["reason"], "healthy")

    # ---- node loss (BFD) ------------------------------------------------------------------
    def test_7_bird_killed(self):
        pid = self.tb.bird_pid(2)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        gone = self.tb.wait_hop_gone(2, 3)
        self.assertIsNotNone(gone, "node2's route survived its BIRD")
        self.assertLess(gone, 1.0, "BFD should withdraw within 1 s, took %.0f ms" % (gone * 1000))
        print("\n  BIRD kill: next hop gone after %.0f ms" % (gone * 1000), file=sys.stderr)
        # The agent reports BIRD down and keeps serving DNS.
        ok = self.tb.wait(lambda: not self.tb.ctl_json(2, "routes")["bird"]["connected"], 5, 0.1)
        self.assertIsNotNone(ok, "agent did not notice BIRD went away")
        r = subprocess.run(["ip", "netns", "exec", self.tb.node_ns(2), "kdig", "@::1",
                            "+time=1", "+retry=0", "web.svc.example.", "AAAA"],
                           capture_output=True, text=True, timeout=10)
        self.assertIn("status: NOERROR", r.stdout)
        self.assertLess(time.monotonic() - t0, 30)
        self.tb.run("bird-start", 2)
        self.assertIsNotNone(self.tb.wait_hop_back(2, 30), "node2 not back after BIRD restart")
        ok = self.tb.wait(lambda: self.tb.ctl_json(2, "routes")["bird"]["connected"], 10, 0.1)
        self.assertIsNotNone(ok, "agent did not reconnect to BIRD")

    def test_8_link_cut(self):
        self.tb.run("link", 1, "down")
        try:
            gone = self.tb.wait_hop_gone(1, 3)
            self.assertIsNotNone(gone, "node1's route survived the cut link")
            self.assertLess(gone, 1.0, "BFD should withdraw within 1 s, took %.0f ms"
                            % (gone * 1000))
            print("\n  link cut: next hop gone after %.0f ms" % (gone * 1000), file=sys.stderr)
        finally:
            self.tb.run("link", 1, "up")
        self.assertIsNotNone(self.tb.wait_hop_back(1, 30), "node1 not back after link up")


if __name__ == "__main__":
    main_skip77()
