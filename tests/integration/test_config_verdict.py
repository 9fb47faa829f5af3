#!/usr/bin/env python3
"""`anysteerd --check-config` and a started anysteerd give the same verdict
for every configuration (issue 13: a service named my_svc passed the check,
then the daemon exited with "dns: bad service name"; issue 14: the
wildcard service "*").

For each configuration of a set (good and bad service names, upper case,
'-' at either end, the nameserver label, too-long labels, a name too long
for its zone, a bad BIRD name, SRv6 intents and topology) the test runs
--check-config, then starts the daemon on loopback and waits until it
either answers on its control socket or exits. Accepted by one must mean
running and serving the name; rejected by one must mean rejected by the
other, as a configuration error (exit 2) naming the same key."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import (ANYSTEERD, Daemon, main_skip77,  # noqa: E402
                           require_tools, sanitizer_report)

ZONE = "svc.example."
# A zone of 183 characters: a 63-character service name just fits
# (_<name>._tcp.<zone> is 255 octets); one more character and it does not.
LONG_ZONE = ".".join(["z" * 49] * 3 + ["y" * 33]) + "."
L63 = "a" * 63


def case(name, zone=ZONE, extra_dns="", extra="", node_extra="",
         svc_extra=""):
    def text(d):
        return """node:
  name: node1
%(node_extra)sdns:
  listen: ["[::1]:%(port)d"]
  zone: %(zone)s
  workers: 1
%(extra_dns)scontrol:
  socket: %(ctl)s
metrics:
  listen: ""
%(extra)sservices:
  - name: %(name)s
    port: 80
%(svc_extra)s    endpoints:
      - { address: "fd00:77::1" }
""" % {"port": d.port, "zone": zone, "ctl": d.ctl, "name": name,
       "extra_dns": extra_dns, "extra": extra, "node_extra": node_extra,
       "svc_extra": svc_extra}
    return text


# (label, config, expected verdict, DNS name served when accepted)
CASES = [
    ("plain", case("web"), True, "web." + ZONE),
    ("digits first", case("3d-print"), True, "3d-print." + ZONE),
    ("upper case", case("Web"), True, "web." + ZONE),
    ("underscore", case("my_svc"), False, None),
    ("leading hyphen", case('"-web"'), False, None),
    ("trailing hyphen", case("web-"), False, None),
    ("two labels", case("web.api"), False, None),
    ("nameserver label", case("ns"), False, None),
    ("configured nameserver label",
     case("ns1", extra_dns="  nameservers: [ns1.%s]\n" % ZONE), False, None),
    ("ns when the nameserver is elsewhere",
     case("ns", extra_dns="  nameservers: [ns1.example.net]\n"), True,
     "ns." + ZONE),
    ("63 characters", case(L63), True, L63 + "." + ZONE),
    ("64 characters", case("a" * 64), False, None),
    ("63 characters in a long zone", case(L63, zone=LONG_ZONE), True,
     L63 + "." + LONG_ZONE),
    ("too long for the zone", case(L63, zone=LONG_ZONE[:-1] + "y."),
     False, None),
    ("zone label ends in a hyphen", case("web", zone="svc-.example."),
     False, None),
    # The wildcard service (RFC 4592): "*" alone, quoted for YAML.
    ("wildcard", case('"*"'), True, "any.thing." + ZONE),
    ("star inside a label", case('"*web"'), False, None),
    ("wildcard of two labels", case('"*.web"'), False, None),
    ("bad BIRD protocol name",
     case("web", extra="bird:\n  protocol: any-steer\n"), False, None),
    # issue 17: a service's path intent, and srv6 (off: no topology read).
    ("path intent", case("web", svc_extra="    intent: {path: cost, "
                         "avoid: [wan]}\n"), True, "web." + ZONE),
    ("unknown path objective",
     case("web", svc_extra="    intent: {path: fastest}\n"), False, None),
    ("bad tag to avoid",
     case("web", svc_extra="    intent: {avoid: [Wan]}\n"), False, None),
    ("srv6 without a topology",
     case("web", extra="srv6: {enabled: true, interfaces: [lo]}\n"),
     False, None),
    ("srv6 with a missing topology file",
     case("web", extra="srv6: {enabled: true, interfaces: [lo], "
          "topology: /nonexistent/sr-topology.yaml}\n"), False, None),
    # Intents and the node's zone (issue 16).
    ("locality in a zone",
     case("web", node_extra="  zone: eu-west-1a\n",
          svc_extra="    intent: { objective: locality, spill_over: 0.5 }\n"),
     True, "web." + ZONE),
    ("resilience over zones without a zone",
     case("web", svc_extra="    intent: { objective: resilience, "
          "spread: zone }\n"), True, "web." + ZONE),
    ("latency (balance until coordinates come)",
     case("web", svc_extra="    intent: { objective: latency }\n"), True,
     "web." + ZONE),
    ("latency with its own spill_over",
     case("web", svc_extra="    intent: { objective: latency, spill_over: 0.3 }\n"),
     True, "web." + ZONE),
    ("spill_over under resilience",
     case("web", svc_extra="    intent: { objective: resilience, "
          "spill_over: 0.3 }\n"), False, None),
    ("unknown objective",
     case("web", svc_extra="    intent: { objective: nearest }\n"), False,
     None),
    ("spill_over without locality",
     case("web", svc_extra="    intent: { spill_over: 0.5 }\n"), False,
     None),
    ("bad node zone", case("web", node_extra="  zone: eu/west\n"), False,
     None),
]


class ConfigVerdict(unittest.TestCase):
    def setUp(self):
        require_tools("kdig")

    def check_config(self, d):
        r = subprocess.run([ANYSTEERD, "--check-config", "--config", d.config],
                           capture_output=True, text=True, timeout=30)
        self.assertIn(r.returncode, (0, 2), r.stdout + r.stderr)
        return r.returncode == 0, r.stdout + r.stderr

    def start(self, d, timeout=30.0):
        """Starts d; True once it answers on its control socket, False
        once it has exited (with its exit code in d.code)."""
        d.start(wait=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if d.proc.poll() is not None:
                d.code = d.proc.returncode
                return False
            if os.path.exists(d.ctl) and \
                    d.ctl_run("status", check=False).returncode == 0:
                return True
            time.sleep(0.05)
        self.fail("anysteerd neither ready nor exited after %.0fs:\n%s"
                  % (timeout, d.log()))

    def test_same_verdict(self):
        for label, text, expect, served in CASES:
            with self.subTest(label):
                d = Daemon(text)
                try:
                    checked, out = self.check_config(d)
                    running = self.start(d)
                    self.assertEqual(
                        checked, running,
                        "%s: --check-config says %s, the daemon %s:\n"
                        "check: %s\ndaemon: %s"
                        % (label, "valid" if checked else "invalid",
                           "runs" if running else "exited %d" % d.code,
                           out, d.log()))
                    self.assertEqual(checked, expect, out)
                    if running:
                        a = d.kdig(served, "AAAA")
                        self.assertEqual(a.status, "NOERROR", a.text)
                        self.assertEqual(a.rdata("ANSWER", "AAAA"),
                                         ["fd00:77::1"], a.text)
                        code, log = d.stop()
                        self.assertEqual(code, 0, log)
                    else:
                        # A configuration error, reported as such.
                        code, log = d.stop()
                        self.assertEqual(code, 2, log)
                        self.assertIn("configuration is invalid", out)
                    report = sanitizer_report(log)
                    self.assertIsNone(report, report)
                finally:
                    d.cleanup()


if __name__ == "__main__":
    main_skip77()
