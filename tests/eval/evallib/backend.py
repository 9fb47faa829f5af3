"""How the experiment reaches the machines: the nodes backend.

The experiment logic (tests/eval/evallib/steady.py) never runs `ip netns`
or ssh itself; it asks a backend. A backend knows the cluster's roles
and addresses and can run commands and processes on its hosts:

  hosts    'router' (the upstream, also the ingress name's authoritative
           server), ('node', i) i = 1..N (anysteerd + BIRD, pods' node),
           ('pod', i, j) j = 1..P (one HTTP backend), ('ingress', k)
           k = 1..K (one L7 proxy + BIRD announcing the VIP),
           ('site', s) s = 1..S (a caching resolver and the clients)
  up() / down()        build / remove the cluster (anysteerd and BIRD run
                       on every node afterwards; nothing runs in pods,
                       ingress proxies or sites yet)
  run(host, argv)      run a command there to completion
  spawn(host, argv)    start a long-running process there -> Proc
  stop(proc)           SIGTERM, then SIGKILL after a timeout
  stats(procs)         {pid: ProcStat} CPU seconds (utime+stime, all
                       threads), VmRSS, VmHWM of each process
  reset_peak(procs)    restart VmHWM at the current RSS (clear_refs 5)
  system_procs()       the processes `up` started: anysteerd and BIRD
                       per node, BIRD per ingress node, the router's BIRD
  children(proc)       a process's child processes (nginx workers)
  file paths           the namespace backend shares one file system with
                       every host; an ssh backend would copy files (put())

NamespaceBackend implements it with deploy/testbed/testbed.sh on this
machine; docs/evaluation.md says what an ssh backend for real machines
has to do.
"""
import os
import signal
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Proc:
    """A process a backend started or found."""

    def __init__(self, host, name, pid, popen=None, log=None):
        self.host, self.name, self.pid = host, name, pid
        self.popen, self.log = popen, log
        self.rusage = None  # from wait4 once it exited (spawned ones)
        self.returncode = None

    def __repr__(self):
        return "Proc(%s %s pid %d)" % (self.host, self.name, self.pid)


class ProcStat:
    def __init__(self, cpu_s, rss_kb, hwm_kb):
        self.cpu_s, self.rss_kb, self.hwm_kb = cpu_s, rss_kb, hwm_kb


def host_str(host):
    return host if isinstance(host, str) else "-".join(str(x) for x in host)


def read_proc_stat(pid):
    """ProcStat of a local pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
    except OSError:
        return None
    fields = st.rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime, stime are fields 14, 15.
    if fields[0] == "Z":
        return None
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return ProcStat(cpu, rss, hwm)


def local_children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return sorted(out)


class NamespaceBackend:
    """The emulated cluster of deploy/testbed/testbed.sh (network namespaces
    on this machine). Every process it starts is recorded as a PID file in
    the testbed folder, so `testbed.sh down` (and down() here) stops it even
    if the harness itself was killed."""

    def __init__(self, top_srcdir, build_dir, prefix, state_dir, nodes, pods_per_node,
                 ingress, sites, services_yaml, health_interval="2s", bfd_ms=None, log=print,
                 forward=None, load="measured"):
        self.top = top_srcdir
        self.testbed = os.path.join(top_srcdir, "deploy", "testbed", "testbed.sh")
        self.build = build_dir
        self.prefix, self.dir = prefix, state_dir
        self.n, self.pods, self.ingress, self.sites = nodes, pods_per_node, ingress, sites
        self.services_yaml = services_yaml
        self.health_interval = health_interval
        self.log = log
        self.procs = []
        self.anysteerctl = os.path.join(build_dir, "agent", "anysteerctl")
        self.env = dict(os.environ, top_builddir=build_dir, top_srcdir=top_srcdir,
                        ANYSTEERD=os.path.join(build_dir, "agent", "anysteerd"),
                        ANYSTEERCTL=self.anysteerctl,
                        TESTBED_DIR=state_dir, TESTBED_PREFIX=prefix,
                        TESTBED_HEALTH_INTERVAL=health_interval,
                        TESTBED_LOAD=load)
        if forward:
            # dns.forward on every node: the sites' clients may use the
            # anycast address as their only resolver; other names go on
            # to the sites' resolvers.
            up, allow = forward
            self.env["TESTBED_FORWARD_UPSTREAMS"] = "[%s]" % ", ".join('"%s"' % u for u in up)
            self.env["TESTBED_FORWARD_ALLOW"] = "[%s]" % ", ".join('"%s"' % a for a in allow)
        if bfd_ms:
            self.env["TESTBED_BFD_MS"] = str(bfd_ms)
        self.is_up = False
        self.kind = "namespaces (deploy/testbed/testbed.sh) on one machine"

    # ---- addresses ---------------------------------------------------------
    anycast = "fd00:53::53"
    vip = "fd00:80::80"
    router_addr = "fd00:1::1"
    site_prefix = "fd00:2::/48"     # every site_addr(s)

    @staticmethod
    def node_addr(i):
        return "fd00:1::1:%d" % i

    @staticmethod
    def pod_addr(i, j):
        return "fd00:10:0:%x::%x" % (i, j)

    @staticmethod
    def ingress_addr(k):
        return "fd00:1::2:%d" % k

    @staticmethod
    def site_addr(s):
        return "fd00:2:0:%x::2" % (s - 1) if s > 1 else "fd00:2::2"

    def ns(self, host):
        if host == "router":
            return self.prefix + "-r"
        role = host[0]
        if role == "node":
            return "%s-n%d" % (self.prefix, host[1])
        if role == "pod":
            return "%s-n%d-p%d" % (self.prefix, host[1], host[2])
        if role == "ingress":
            return "%s-g%d" % (self.prefix, host[1])
        if role == "site":
            return self.prefix + "-c" + ("" if host[1] == 1 else str(host[1]))
        raise ValueError("unknown host %r" % (host,))

    # ---- cluster -----------------------------------------------------------
    def _testbed(self, *args, timeout=600, check=True):
        r = subprocess.run([self.testbed] + [str(a) for a in args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("testbed.sh %s failed (%d):\n%s%s"
                               % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r

    def up(self):
        os.makedirs(os.path.dirname(self.dir) or "/", exist_ok=True)
        svc = self.dir + ".services.yaml"
        with open(svc, "w") as f:
            f.write(self.services_yaml)
        self.env["TESTBED_SERVICES_FILE"] = svc
        self.is_up = True  # from here on down() has something to do
        # One anycast address over every node (the testbed's default is
        # two, each on half of the nodes): the experiments send their DNS
        # to it and compare per-node figures over all nodes.
        r = self._testbed("up", self.n, "--letters", 1, "--pods-per-node", self.pods,
                          "--ingress", self.ingress, "--sites", self.sites, timeout=900)
        return r.stdout.strip()

    def save_logs(self, dest):
        """Copies the agents' and BIRD's logs out of the state folder
        (down() removes it)."""
        import glob
        import shutil
        os.makedirs(dest, exist_ok=True)
        for f in glob.glob(os.path.join(self.dir, "n*", "anysteerd.log")):
            shutil.copy(f, os.path.join(dest, "anysteerd-%s.log"
                                        % os.path.basename(os.path.dirname(f))))

    def down(self):
        for p in reversed(self.procs):
            try:
                self.stop(p, timeout=3)
            except Exception as e:  # keep tearing down
                self.log("teardown: %s: %s" % (p, e))
        self.procs = []
        r = self._testbed("down", check=False, timeout=300)
        try:
            os.unlink(self.dir + ".services.yaml")
        except OSError:
            pass
        self.is_up = False
        return r.returncode == 0

    # ---- processes ---------------------------------------------------------
    def run(self, host, argv, timeout=60, check=True, input=None):
        cmd = ["ip", "netns", "exec", self.ns(host)] + [str(a) for a in argv]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise RuntimeError("%s on %s failed (%d): %s%s" % (
                " ".join(map(str, argv)), host_str(host), r.returncode, r.stdout, r.stderr))
        return r

    def spawn(self, host, name, argv, log):
        """Starts argv in host's namespace (`ip netns exec` execs, so the
        PID is the program's own). Its output goes to the file log."""
        out = open(log, "ab")
        try:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + [str(a) for a in argv],
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        finally:
            out.close()
        proc = Proc(host, name, p.pid, popen=p, log=log)
        self.procs.append(proc)
        with open(os.path.join(self.dir, "eval-%d.pid" % p.pid), "w") as f:
            f.write("%d\n" % p.pid)
        return proc

    def poll(self, proc):
        """None while running, else the exit code (collects rusage)."""
        if proc.returncode is not None:
            return proc.returncode
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == 0:
            return None
        self._reaped(proc, status, ru)
        return proc.returncode

    def _reaped(self, proc, status, ru):
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.rusage = ru
        proc.popen.returncode = proc.returncode  # keep Popen from waiting again
        try:
            os.unlink(os.path.join(self.dir, "eval-%d.pid" % proc.pid))
        except OSError:
            pass

    def wait(self, proc, timeout):
        """Waits for proc to exit; returns its exit code, None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            rc = self.poll(proc)
            if rc is not None or time.monotonic() > deadline:
                return rc
            time.sleep(0.05)

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if self.poll(proc) is not None:
            return proc.returncode
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        rc = self.wait(proc, timeout)
        if rc is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = self.wait(proc, 5)
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    def stats(self, procs):
        return {p.pid: read_proc_stat(p.pid) for p in procs}

    def reset_peak(self, procs):
        for p in procs:
            try:
                with open("/proc/%d/clear_refs" % p.pid, "w") as f:
                    f.write("5")
            except OSError:
                pass

    def children(self, proc):
        return [Proc(proc.host, proc.name + "-child", pid) for pid in local_children(proc.pid)]

    def system_procs(self):
        """anysteerd and BIRD of every node, BIRD of ingress nodes and router."""
        out = []

        def pidfile(path):
            try:
                with open(path) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                return None
        for i in range(1, self.n + 1):
            for name in ("anysteerd", "bird"):
                pid = pidfile(os.path.join(self.dir, "n%d" % i, name + ".pid"))
                if pid:
                    out.append(Proc(("node", i), name, pid))
        for k in range(1, self.ingress + 1):
            pid = pidfile(os.path.join(self.dir, "g%d" % k, "bird.pid"))
            if pid:
                out.append(Proc(("ingress", k), "bird", pid))
        pid = pidfile(os.path.join(self.dir, "r", "bird.pid"))
        if pid:
            out.append(Proc("router", "bird", pid))
        return out

    def bgp_sessions(self):
        """{session: (state, since)} of the router's BGP sessions (one per
        node and ingress node): a changed `since` is a flap."""
        r = subprocess.run(["birdc", "-s", os.path.join(self.dir, "r", "bird.ctl"),
                            "show", "protocols"], capture_output=True, text=True, timeout=30)
        out = {}
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 5 and f[1] == "BGP":
                out[f[0]] = (f[3], f[4])
        return out

    def ctl_json(self, i, *args):
        """anysteerctl --json ARGS against node i's agent."""
        import json
        r = self.run(("node", i), [self.anysteerctl, "--socket",
                                   os.path.join(self.dir, "n%d" % i, "ctl.sock"),
                                   "--json"] + list(args), timeout=30)
        return json.loads(r.stdout)

    def host_dir(self, host):
        """A folder for a host's files (configs, logs, sockets): short, so
        UNIX socket paths fit."""
        d = os.path.join(self.dir, "x-" + host_str(host))
        os.makedirs(d, exist_ok=True)
        return d


def restart_agents_with(be, section, lines, timeout=60):
    """Adds `lines` to the `section:` of every node's anysteer.yaml and
    restarts its agent, one node after the other (for keys fixed at
    start, e.g. gossip.max_endpoints_per_node)."""
    for i in range(1, be.n + 1):
        d = os.path.join(be.dir, "n%d" % i)
        path = os.path.join(d, "anysteer.yaml")
        with open(path) as f:
            text = f.read()
        head = "\n%s:\n" % section
        if head not in text:
            raise RuntimeError("%s has no %s section" % (path, section))
        text = text.replace(head, head + "".join("  %s\n" % ln for ln in lines), 1)
        with open(path, "w") as f:
            f.write(text)
        with open(os.path.join(d, "anysteerd.pid")) as f:
            pid = int(f.read().strip())
        be._testbed("agent-kill", i, "TERM")
        deadline = time.monotonic() + timeout
        while read_proc_stat(pid) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError("node %d's agent did not stop on SIGTERM" % i)
            time.sleep(0.05)
        be._testbed("agent-start", i, timeout=timeout + 30)
