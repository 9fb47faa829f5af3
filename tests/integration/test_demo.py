#!/usr/bin/env python3
"""deploy/demo.sh, both modes, on the build under test (--build: no
package installs, no build). Each demo checks its answer shares against
the formula of docs/dns.md itself and exits non-zero when they do not
match; this test also checks that the checks ran (expected and measured
tables before and after the node became hot), and for the cluster demo
the topology picture and the HTTP fetch from the client to the pod the
DNS answer named.

The local demo needs no root; it uses the fixed ports of
deploy/examples/demo.yaml ([::1]:5353, metrics [::1]:9153). The cluster
demo needs root and BIRD (else that test skips, saying why) and runs with
a private testbed folder and namespace prefix."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (skip_cluster_in_distcheck, BUILD, SRCDIR, main_skip77,  # noqa: E402
                           require_root_bird, require_tools)

DEMO = os.path.join(SRCDIR, "deploy", "demo.sh")
TABLE = re.compile(r"^  (\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+([\d.]+)%",
                   re.M)


def tables(out):
    """The share tables of shares.py in out: lists of (address, weight,
    load, factor, expected %, measured %)."""
    res = []
    for block in out.split("  ADDRESS ")[1:]:
        res.append([(m[0], int(m[1]), float(m[2]), float(m[3]), float(m[4]),
                     float(m[5])) for m in TABLE.findall(block.split("tolerance")[0])])
    return res


class DemoTest(unittest.TestCase):
    def run_demo(self, *args, env=None, timeout=600):
        r = subprocess.run([DEMO, "--build", BUILD] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, **(env or {})))
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out[-6000:])
        self.assertNotIn("FAILED", out)
        return out

    def test_local(self):
        require_tools("dig", "kdig", "python3")
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.bind(("::1", 5353))
        except OSError:
            self.fail("[::1]:5353 is taken: the local demo (deploy/examples/"
                      "demo.yaml) needs it")
        finally:
            s.close()
        out = self.run_demo("--local")
        t = tables(out)
        self.assertEqual(len(t), 2, out)
        before, hot = t
        # Weights 100/300/100; demo1's endpoints at 0.3, then 0.9.
        self.assertEqual([x[4] for x in before], [20.0, 60.0, 20.0])
        self.assertEqual([x[3] for x in hot], [0.143, 0.143, 1.0])
        self.assertEqual([x[4] for x in hot], [9.1, 27.3, 63.6])
        self.assertIn("(override cleared", out)
        print("\n".join(l for l in out.splitlines() if l.startswith("  fd00")))

    def test_cluster(self):
        skip_cluster_in_distcheck(DEMO)
        require_root_bird()
        require_tools("curl", "python3")
        tag = "%d" % os.getpid()  # whole: pid % 10000 collided
        d = tempfile.mkdtemp(prefix="anysteer-demo-")
        os.rmdir(d)
        out = self.run_demo(env={"TESTBED_DIR": d, "TESTBED_PREFIX": "dm" + tag})
        t = tables(out)
        self.assertEqual(len(t), 2, out)
        before, hot = t
        # Weights 100/200/100, node2 at 0.9 after `load set`.
        self.assertEqual([x[4] for x in before], [25.0, 50.0, 25.0])
        self.assertEqual([x[2] for x in hot], [0.3, 0.9, 0.3])
        self.assertEqual([x[4] for x in hot], [43.8, 12.5, 43.8])
        # The picture: every node announces, node2 hot, who answered.
        pic = [l for l in out.splitlines() if re.match(r"\s+[+`]-- node", l)]
        self.assertEqual(len(pic), 3, out)
        self.assertTrue(all("announces fd00:53::53" in l and "answered" in l
                            for l in pic), pic)
        self.assertIn("(override) -> factor 0.14", pic[1])
        # DNS answer -> pod, over HTTP from the client.
        m = re.search(r"AAAA (fd00:10:0:\d::1) \(the first", out)
        self.assertIsNotNone(m, out)
        self.assertIn("hello from pod %s on node" % m.group(1), out)
        self.assertIn("testbed down", out)
        self.assertFalse(os.path.exists(d))
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True,
                            text=True).stdout
        self.assertNotIn("dm%s-" % tag, ns)
        print("\n".join(l for l in out.splitlines()
                        if l.startswith("  fd00") or "-- node" in l or
                        "hello from pod" in l))


if __name__ == "__main__":
    main_skip77()
