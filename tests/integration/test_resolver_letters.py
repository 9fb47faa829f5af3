#!/usr/bin/env python3
"""A caching resolver must never lose the whole zone (issue 19, item 1).

The testbed (4 nodes, real BIRD with BFD, ECMP router) with unbound as the
client site's resolver, its stub zone pointing at the zone's name-server
addresses, and a client asking unbound 50 times a second (cache off, so
every question reaches anysteer) while two bounded busy loops load the
CPU. Two faults, one after the other:

  1. node1's link cut for 1 s (the router side), then restored;
  2. one anycast address unreachable from the site for 5 s (a router
     filter dropping it): the fault that made unbound back its one server
     off and answer SERVFAIL for minutes when the zone had one address.

With one address (--letters 1, the old default) the second fault takes the
whole zone away: the longest run of failed resolutions lasts at least the
outage. With two addresses announced by disjoint halves of the nodes
(--letters 2), unbound uses the other, and no run of failures lasts longer
than OUTAGE_LIMIT. Both are asserted, so the test shows the failure it
guards against. Needs root, BIRD, unbound, nft; skips (77) otherwise."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (skip_cluster_in_distcheck, QUERIER, Testbed, main_skip77,  # noqa: E402
                           require_root_bird, require_tools, sanitizer_report)

NODES = 4
RATE = 50.0          # client resolutions per second
QTIMEOUT = 2.0       # a stub resolver's patience
CUT_AT, CUT_FOR = 3.0, 1.0
DROP_AT, DROP_FOR = 8.0, 5.0
DURATION = 20.0
OUTAGE_LIMIT = 3.0   # "a few seconds"
ZONE = "svc.example."
LETTER_A = "fd00:53::53"


def unbound_conf(d, letters):
    stubs = "".join("\tstub-addr: %s\n" % a for a in letters)
    return """server:
\tinterface: ::1
\tport: 53
\taccess-control: ::1 allow
\tdo-daemonize: no
\tusername: ""
\tchroot: ""
\tdirectory: "%(d)s"
\tpidfile: "%(d)s/unbound.pid"
\tuse-syslog: no
\tlogfile: "%(d)s/unbound.log"
\tverbosity: 1
\tdo-ip4: no
\t# Every question goes to anysteer, so every failure is seen.
\tcache-max-ttl: 0
\tcache-max-negative-ttl: 0
\tdomain-insecure: "%(zone)s"
stub-zone:
\tname: "%(zone)s"
%(stubs)s""" % {"d": d, "zone": ZONE, "stubs": stubs}


def outage_runs(sent, failures):
    """(start, length in s) of each run of failed resolutions with no
    success in between, from every query's send time and the failed
    ones': a run lasts from its first failure to the next success (or
    its last failure when none followed)."""
    failed = set(failures)
    runs, start, last = [], None, None
    for t in sorted(sent):
        if t in failed:
            if start is None:
                start = t
            last = t
        elif start is not None:
            runs.append((start, t - start))
            start = None
    if start is not None:
        runs.append((start, last - start))
    return runs


class ResolverLettersTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        skip_cluster_in_distcheck()
        require_root_bird()
        require_tools("unbound", "nft", "kdig")

    def run_case(self, letters):
        tb = Testbed()
        hogs, unbound, q = [], None, None
        ubdir = tempfile.mkdtemp(prefix="anysteer-ub-")
        try:
            tb.run("up", NODES, "--letters", letters, timeout=180)
            tb.n = NODES
            addrs = tb.run("env").stdout.split('LETTERS="', 1)[1].split('"')[0].split()
            self.assertEqual(len(addrs), letters)
            for a in addrs:
                self.assertEqual(tb.ctl_json(1, "routes")["configured"], True)
                self.assertTrue(tb.run("hops", a).stdout.split(),
                                "no node announces %s" % a)
            if letters == 2:
                # Disjoint halves: node1 and node3 announce A, 2 and 4 B.
                self.assertEqual(tb.run("hops", addrs[0]).stdout.split(),
                                 [tb.node_addr(1), tb.node_addr(3)])
                self.assertEqual(tb.run("hops", addrs[1]).stdout.split(),
                                 [tb.node_addr(2), tb.node_addr(4)])
            with open(os.path.join(ubdir, "unbound.conf"), "w") as f:
                f.write(unbound_conf(ubdir, addrs))
            unbound = subprocess.Popen(
                ["ip", "netns", "exec", tb.client, "unbound", "-d", "-c",
                 os.path.join(ubdir, "unbound.conf")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def resolves():
                r = subprocess.run(
                    ["ip", "netns", "exec", tb.client, "kdig", "@::1",
                     "+time=1", "+retry=0", "web." + ZONE, "AAAA"],
                    capture_output=True, text=True, timeout=10)
                return "status: NOERROR" in r.stdout
            self.assertIsNotNone(tb.wait(resolves, 30, 0.2),
                                 "unbound does not resolve web.%s" % ZONE)

            for _ in range(2):   # bounded: timeout(1) ends them anyway
                hogs.append(subprocess.Popen(
                    ["timeout", str(int(DURATION + 30)), "sh", "-c",
                     "while :; do :; done"], start_new_session=True))
            ready = os.path.join(ubdir, "querier.ready")
            q = subprocess.Popen(
                ["ip", "netns", "exec", tb.client, "python3", QUERIER,
                 "--server", "::1", "--recursive", "--times", "--rate", str(RATE), "--duration",
                 str(DURATION), "--timeout", str(QTIMEOUT), "--ready", ready],
                stdout=subprocess.PIPE, text=True)
            self.assertIsNotNone(tb.wait(lambda: os.path.exists(ready), 10, 0.01))
            t0 = time.monotonic()

            def at(t):
                delay = t0 + t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)   # the experiment's schedule
                return time.monotonic()

            cut = at(CUT_AT)
            tb.run("link", 1, "down")
            at(CUT_AT + CUT_FOR)
            tb.run("link", 1, "up")
            drop = at(DROP_AT)
            nft = ["ip", "netns", "exec", tb.router, "nft"]
            subprocess.run(nft + ["add table inet asletters; add chain inet "
                                  "asletters cut { type filter hook forward "
                                  "priority 0; }; add rule inet asletters cut "
                                  "ip6 daddr %s drop" % LETTER_A], check=True)
            applied = time.monotonic()
            lifted = at(DROP_AT + DROP_FOR)
            subprocess.run(nft + ["delete table inet asletters"], check=True)
            res = json.loads(q.communicate(timeout=DURATION + 60)[0])
            q = None

            runs = outage_runs(res["sent_times"], res["failures"])
            longest = max((r[1] for r in runs), default=0.0)
            print("\n  letters %d: %d resolutions, %d failed; runs of failures: "
                  "%s; longest %.2f s (cut at +%.1f s, drop at +%.1f s)"
                  % (letters, res["sent"], res["failed"],
                     ", ".join("%.2f s at +%.1f s" % (ln, st - t0) for st, ln in runs)
                     or "none", longest, cut - t0, drop - t0))
            self.assertGreater(res["sent"], RATE * DURATION * 0.8)
            # Before the first fault every resolution works: the failures
            # below are the faults', not the set-up's.
            self.assertEqual([t for t in res["failures"] if t < cut], [],
                             "resolutions failed before any fault")
            if letters == 1:
                # The zone's only address gone: everything fails for as
                # long as the fault lasts (or longer, with unbound's
                # backoff). This is what two letters must prevent. The
                # resolutions that must fail are those whose whole
                # patience (QTIMEOUT) lies inside the drop, from the rule
                # in place to its removal: one sent later than that may
                # be answered by a retry after the removal (unbound
                # retried that fast in a loaded repeat run).
                window = [t for t in res["sent_times"]
                          if applied <= t < lifted - QTIMEOUT]
                lost = set(res["failures"]).intersection(window)
                self.assertTrue(window and len(lost) >= 0.9 * len(window),
                                "one letter: expected the whole zone lost "
                                "during the drop: %d of %d failed, runs %s"
                                % (len(lost), len(window), runs))
            else:
                self.assertLessEqual(longest, OUTAGE_LIMIT,
                                     "a run of failed resolutions lasted "
                                     "%.2f s: %s" % (longest, runs))
        finally:
            if q is not None:
                q.kill()
                q.wait()
            for h in hogs:
                try:
                    os.killpg(h.pid, 9)
                except ProcessLookupError:
                    pass
                h.wait()
            if unbound is not None:
                unbound.terminate()
                try:
                    unbound.wait(10)
                except subprocess.TimeoutExpired:
                    unbound.kill()
                    unbound.wait()
            logs = [tb.agent_log(i) for i in range(1, NODES + 1)]
            tb.down()
            subprocess.run(["rm", "-rf", ubdir])
            for i, log in enumerate(logs, 1):
                self.assertIsNone(sanitizer_report(log), "node%d" % i)

    def test_1_one_letter_loses_the_zone(self):
        self.run_case(1)

    def test_2_two_letters_keep_it(self):
        self.run_case(2)


if __name__ == "__main__":
    main_skip77()
