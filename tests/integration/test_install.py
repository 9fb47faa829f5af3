#!/usr/bin/env python3
"""README.md's "Running" block, line by line, in a scratch prefix.

The lines after the `<!-- tests/integration/test_install.py ... -->` marker
are what a new user types after building: make install, check the
installed example configuration, start anysteerd under start-stop-daemon
(PID file), ask it with anysteerctl, kdig and curl, reload, stop. This test
runs exactly those lines, with every system path (/etc, /var, /run,
/usr/local) moved under a temporary folder T: `make install` gets the
matching prefix and directories, the installed configuration's DNS and
metrics ports become free ones (the user's "edit it" step), and each line
must exit 0 and show what it promises. Then `make uninstall` must leave
only the edited configuration and the log. So the README cannot drift from
what the build installs."""
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anysteer_test import BUILD, SRCDIR, free_port, sanitizer_report  # noqa: E402

MARKER = "<!-- tests/integration/test_install.py"
# The README assumes ./configure --sysconfdir=/etc --localstatedir=/var
# --runstatedir=/run and the default prefix /usr/local.
SYSTEM_DIRS = ("/usr/local/", "/etc/", "/var/", "/run/")


def readme_lines():
    """The marked block of README.md, continuation lines joined."""
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read().split("\n")
    start = next((i for i, l in enumerate(text) if l.startswith(MARKER)), None)
    if start is None:
        raise AssertionError("README.md has no %s marker" % MARKER)
    block, i = [], start + 1
    while i < len(text) and not text[i].strip():
        i += 1
    while i < len(text) and (text[i].startswith("    ") or not text[i].strip()):
        if text[i].strip():
            block.append(text[i][4:])
        elif block and i + 1 < len(text) and not text[i + 1].startswith("    "):
            break
        i += 1
    lines, cur = [], ""
    for l in block:
        if l.endswith("\\"):
            cur += l[:-1] + " "
        else:
            lines.append(cur + l)
            cur = ""
    return lines


def relocate(line, root):
    """Every absolute system path of a line moved under root."""
    pat = "(?<![\\w/.:\\]])(%s)" % "|".join(re.escape(d) for d in SYSTEM_DIRS)
    return re.sub(pat, lambda m: root + m.group(1), line)


class ReadmeRunning(unittest.TestCase):
    def setUp(self):
        missing = [t for t in ("start-stop-daemon", "kdig", "curl", "make")
                   if shutil.which(t, path=os.environ.get("PATH", "") +
                                   ":/sbin:/usr/sbin") is None]
        if missing:
            self.skipTest("missing tools: %s (deploy/install-deps.sh installs "
                          "kdig and curl; start-stop-daemon is Debian's dpkg)"
                          % ", ".join(missing))
        self.root = tempfile.mkdtemp(prefix="anysteer-install-")
        # What a fresh system has already.
        for d in ("run", "var/log"):
            os.makedirs(os.path.join(self.root, d))
        self.pidfile = self.root + "/run/anysteerd.pid"
        self.log = self.root + "/var/log/anysteerd.log"
        self.env = dict(os.environ)
        for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
            self.env.pop(k, None)  # the nested make is not part of make check's
        self.env["PATH"] = "%s/usr/local/sbin:%s/usr/local/bin:%s:/sbin:/usr/sbin" % (
            self.root, self.root, os.environ.get("PATH", "/usr/bin:/bin"))
        # anysteerctl's built-in socket is /run/anysteer/ctl.sock (checked
        # below); moved under T like the configuration's.
        self.env["ANYSTEER_CTL_SOCKET"] = self.root + "/run/anysteer/ctl.sock"
        self.dirs = ["prefix=%s/usr/local" % self.root, "sysconfdir=%s/etc" % self.root,
                     "localstatedir=%s/var" % self.root, "runstatedir=%s/run" % self.root]

    def tearDown(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, 9)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def read_log(self):
        if not os.path.exists(self.log):
            return ""
        with open(self.log) as f:
            return f.read()

    def sh(self, line, what):
        p = subprocess.run(["/bin/sh", "-ec", line], cwd=BUILD, env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=600)
        print("$ %s\n%s" % (what, p.stdout[-3000:]))
        if p.returncode != 0:
            log = self.read_log()[-3000:]
            self.fail("README line failed (exit %d): %s\n%s\nlog:\n%s"
                      % (p.returncode, what, p.stdout[-3000:], log))
        return p.stdout

    def wait_for(self, cond, what, deadline=60):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.05)
        log = self.read_log()[-3000:]
        self.fail("timed out waiting for %s\nlog:\n%s" % (what, log))

    def ctl_answers(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.env["ANYSTEER_CTL_SOCKET"])
            return True
        except OSError:
            return False
        finally:
            s.close()

    def metrics(self):
        with urllib.request.urlopen("http://[::1]:%d/metrics" % self.mport, timeout=5) as r:
            return r.read().decode()

    def man_pages(self, mandir):
        """Installed, free of groff warnings, and anysteer.yaml(5) names
        every key the installed anysteerd --help-config lists."""
        text = {}
        for page in ("man8/anysteerd.8", "man8/anysteerctl.8", "man5/anysteer.yaml.5"):
            path = mandir + page
            self.assertTrue(os.path.exists(path), page)
            if not shutil.which("groff"):
                continue
            p = subprocess.run(["groff", "-man", "-ww", "-Tascii", "-P-cbou", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
            self.assertEqual(p.stderr, "", page)
            text[page] = p.stdout
        if not text:
            print("note: no groff, man pages not rendered")
            return
        out = subprocess.run([self.root + "/usr/local/sbin/anysteerd", "--help-config"],
                             stdout=subprocess.PIPE, universal_newlines=True).stdout
        # A key starts its line (descriptions are indented).
        keys = re.findall(r"^([a-z][a-z0-9_]*(?:\[\])?(?:\.[a-z0-9_]+(?:\[\])?)*) \(",
                          out, re.M)
        self.assertGreaterEqual(len(keys), 20, out[:2000])
        page = re.sub(r"\s+", " ", text["man5/anysteer.yaml.5"])
        missing = [k for k in keys if k not in page]
        self.assertEqual(missing, [], "keys of --help-config not in anysteer.yaml(5)")
        for opt in ("--config", "--check-config", "--foreground", "--log-level",
                    "--help-config", "--generate-key", "SIGHUP", "SIGTERM", "EXIT STATUS"):
            self.assertIn(opt, text["man8/anysteerd.8"])

    def installed(self):
        """After `make install`: what it must have put where, then the
        user's edit of the configuration (free ports)."""
        r = self.root
        for f in ("usr/local/sbin/anysteerd", "usr/local/bin/anysteerctl"):
            self.assertTrue(os.access(os.path.join(r, f), os.X_OK), f)
        conf = r + "/etc/anysteer/anysteer.yaml"
        with open(conf) as f:
            text = f.read()
        with open(conf + ".example") as f:
            self.assertEqual(f.read(), text)
        # The installed paths, not the template's placeholders.
        self.assertNotIn("@", text)
        self.assertIn("socket: %s/run/anysteer/ctl.sock" % r, text)
        self.assertIn("%s/var/lib/anysteer/keyring" % r, text)
        st = os.stat(r + "/var/lib/anysteer")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        with open(r + "/usr/local/lib/systemd/system/anysteerd.service") as f:
            unit = f.read()
        self.assertIn("ExecStart=%s/usr/local/sbin/anysteerd --foreground --config %s"
                      % (r, conf), unit)
        if any(os.path.exists(os.path.join(d, "man", "anysteerd.8"))
               for d in (BUILD, SRCDIR)):
            self.man_pages(r + "/usr/local/share/man/")
        else:
            print("note: no man pages built (no scdoc), none installed")
        # anysteerctl without --socket reaches the configuration's socket
        # only because runstatedir=/run makes them the same.
        out = subprocess.run([r + "/usr/local/bin/anysteerctl", "--help"],
                             stdout=subprocess.PIPE, universal_newlines=True).stdout
        self.assertIn("default /run/anysteer/ctl.sock", out)
        # The user's edit: ports free on this machine.
        for old, new in (('listen: ["[::]:53"]', 'listen: ["[::1]:%d"]' % self.dport),
                         ('listen: "[::1]:9153"', 'listen: "[::1]:%d"' % self.mport)):
            self.assertEqual(text.count(old), 1, old)
            text = text.replace(old, new)
        with open(conf, "w") as f:
            f.write(text)
        return text

    def test_readme_running(self):
        lines = readme_lines()
        self.assertGreaterEqual(len(lines), 5, lines)
        self.assertEqual(lines[0].split("#")[0].strip(), "make install", lines[0])
        self.dport, self.mport = free_port(), free_port()
        ports = ((" -p 53 ", " -p %d " % self.dport),
                 ("[::1]:9153", "[::1]:%d" % self.mport))
        used = set()
        pid = None
        for n, line in enumerate(lines):
            if n == 0:
                self.sh("make install " + " ".join(self.dirs), line)
                text = self.installed()
                continue
            run = relocate(line, self.root)
            for old, new in ports:
                if old in run:
                    run = run.replace(old, new)
                    used.add(old)
            # Nothing of the real system is touched.
            rest = run
            for d in SYSTEM_DIRS:
                rest = rest.replace(self.root + d, "")
            left = [d for d in SYSTEM_DIRS
                    if re.search("(?<![\\w/.:\\]])" + re.escape(d), rest)]
            self.assertEqual(left, [], run)
            out = self.sh(run, line)
            if "start-stop-daemon --start" in line:
                # Someone typing reads the output first; anysteerd binds in
                # milliseconds, a loaded test machine may take longer.
                self.wait_for(lambda: os.path.exists(self.pidfile), "the PID file")
                with open(self.pidfile) as f:
                    pid = int(f.read())
                self.wait_for(lambda: self.ctl_answers() or
                              not os.path.exists("/proc/%d" % pid), "the control socket")
                self.assertTrue(os.path.exists("/proc/%d" % pid),
                                "anysteerd exited:\n" + self.read_log())
            elif line.startswith("anysteerctl status"):
                self.assertRegex(out, r"zone\s+svc\.example\.")
            elif line.startswith("anysteerctl services"):
                self.assertIn("2001:db8:10::1", out)
            elif line.startswith("anysteerctl --json status"):
                self.assertIn('"zone": "svc.example."', out)
            elif line.startswith("kdig"):
                got = set(out.split())
                self.assertTrue(got and got <= {"2001:db8:10::1", "2001:db8:10::2"}, out)
            elif line.startswith("curl"):
                total = sum(float(l.split()[-1]) for l in out.splitlines() if l.strip())
                self.assertGreaterEqual(total, 1, out)  # the kdig query
            elif "kill -HUP" in line:
                self.wait_for(lambda: 'anysteer_config_reloads_total{result="ok"} 1'
                              in self.metrics(), "the reload")
            elif "start-stop-daemon --stop" in line:
                self.assertIsNotNone(pid, "no start line before the stop line")
                # --retry waits for the exit.
                self.assertFalse(os.path.exists("/proc/%d" % pid), "still running")
                self.assertFalse(os.path.exists(self.pidfile))
        self.assertEqual(used, {old for old, _ in ports},
                         "README lost the kdig -p 53 or the metrics line")
        self.assertIsNotNone(pid, "README starts no anysteerd")
        self.assertFalse(os.path.exists(self.pidfile), "README does not stop anysteerd")
        log = self.read_log()
        self.assertIsNone(sanitizer_report(log), log)
        self.assertIn("anysteerd stopped", log)

        self.sh("make uninstall " + " ".join(self.dirs), "make uninstall")
        left = sorted(os.path.relpath(os.path.join(d, f), self.root)
                      for d, _, fs in os.walk(self.root) for f in fs)
        self.assertEqual(left, ["etc/anysteer/anysteer.yaml", "var/log/anysteerd.log"])
        with open(self.root + "/etc/anysteer/anysteer.yaml") as f:
            self.assertEqual(f.read(), text)  # the edited one stays


if __name__ == "__main__":
    from anysteer_test import main_skip77
    main_skip77()
