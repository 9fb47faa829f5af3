#!/usr/bin/env python3
"""Checks that module headers are included only in the allowed direction.

    lib  <-  dns, gossip, routing, k8s  <-  agent components  <-  agent/daemon.c

Inside agent/, a component (anycast, cluster, k8s_source, control,
metrics) includes its own header, the component interface
(agent/component.h), the pure agent headers and the modules' public
headers, never another component's header; only agent/daemon.c wires
the components and includes their headers.

Every .c and .h under the module folders is scanned; an #include that
names a header of a module the file may not use fails the test with
file:line. Another module's headers are reachable only through its public
header (dns/dns.h, not dns/wire.h).

The rules are a table (RULES below): each row names files by a glob and
the headers they may include; the first row that matches a file applies,
so a narrower row (one component of agent/, say) goes above a wider one.
A file that no row matches is an error too, so a new module has to be
placed in the table.

Usage: check-includes.py [ROOT]   (default: $top_srcdir, else the tree
this script is in). Before checking ROOT it checks a small tree of known
violations in a temporary folder and fails if any of them goes unreported.
"""
import fnmatch
import os
import posixpath
import re
import sys
import tempfile

# What other modules may include of each module.
LIB = "lib/*.h"              # lib/ has no internal headers
DNS = "dns/dns.h"
GOSSIP = "gossip/gossip.h"
ROUTING = "routing/routing.h"
K8S = "k8s/k8s.h"
SRV6 = "srv6/srv6.h"

MODULES = [LIB, DNS, GOSSIP, ROUTING, K8S, SRV6]
# agent/: the public header, the component interface, and the headers of
# pure functions (no loop, no component state) that anyone may use.
AGENT_PURE = ["agent/agent.h", "agent/catalog.h", "agent/viewspec.h",
              "agent/report.h", "agent/srv6plan.h"]
COMPONENT = "agent/component.h"
# Each component with the agent headers only it may include besides its
# own (the prober is the cluster component's helper).
COMPONENTS = {
    "anycast": [],
    "cluster": ["agent/probe.h"],
    "k8s_source": [],
    "control": [],
    "metrics": [],
    "srv6": [],
}

# (files, headers they may include); first match wins.
RULES = [
    ("lib/*", ["lib/*"]),
    ("dns/*", ["dns/*", LIB]),
    ("gossip/*", ["gossip/*", LIB]),
    ("routing/*", ["routing/*", LIB]),
    ("k8s/*", ["k8s/*", LIB]),
    ("srv6/*", ["srv6/*", LIB]),
    # The daemon wires the components: the one file that includes them.
    ("agent/daemon.c", ["agent/*"] + MODULES),
] + [
    ("agent/%s.[ch]" % name, ["agent/%s.h" % name, COMPONENT] + extra
     + AGENT_PURE + MODULES)
    for name, extra in sorted(COMPONENTS.items())
] + [
    ("agent/component.[ch]", [COMPONENT] + AGENT_PURE + MODULES),
    ("agent/probe.[ch]", ["agent/probe.h"] + AGENT_PURE + MODULES),
    # The daemon's reload queue (it needs the reply callback's type).
    ("agent/reload.[ch]", ["agent/reload.h", COMPONENT] + AGENT_PURE
     + MODULES),
    # The configuration's schema engine: config.c and its own file only.
    ("agent/config.c", ["agent/config_schema.h"] + AGENT_PURE + MODULES),
    ("agent/config_schema.[ch]", ["agent/config_schema.h"] + AGENT_PURE
     + MODULES),
    # Everything else in agent/ (config, load sampler, pure functions,
    # main, anysteerctl): no component header, no component interface.
    ("agent/*", AGENT_PURE + MODULES),
]

MODULE_DIRS = sorted({pat.split("/", 1)[0] for pat, _ in RULES})

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def rule_for(path):
    for pat, allowed in RULES:
        if fnmatch.fnmatchcase(path, pat):
            return pat, allowed
    return None, None


def resolve(root, src, kind, name):
    """The tree-relative path an #include names, or None when it is not
    in the tree (a system header, config.h)."""
    candidates = []
    if kind == '"':
        candidates.append(posixpath.join(posixpath.dirname(src), name))
    candidates.append(name)      # -I$(top_srcdir)
    for c in candidates:
        c = posixpath.normpath(c)
        if c.startswith("../"):
            continue
        if os.path.exists(os.path.join(root, c)):
            return c
    # A module path that does not exist (yet, or generated) still names
    # that module.
    c = posixpath.normpath(name)
    if c.split("/", 1)[0] in MODULE_DIRS and "/" in c:
        return c
    return None


def sources(root):
    for d in MODULE_DIRS:
        top = os.path.join(root, d)
        for dirpath, dirnames, files in os.walk(top):
            dirnames.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    full = os.path.join(dirpath, f)
                    yield os.path.relpath(full, root).replace(os.sep, "/")


def check(root):
    """Returns the problems as (file, line, message), in file order."""
    problems = []
    for src in sources(root):
        pat, allowed = rule_for(src)
        if pat is None:
            problems.append((src, 0, "no row of RULES covers this file"))
            continue
        with open(os.path.join(root, src), encoding="utf-8",
                  errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = resolve(root, src, m.group(1), m.group(2))
                if target is None or target == src:
                    continue
                if any(fnmatch.fnmatchcase(target, a) for a in allowed):
                    continue
                problems.append((src, lineno, "includes %s; files matching "
                                 "%s may include only %s"
                                 % (target, pat, ", ".join(allowed))))
    return problems


def selftest():
    """Known violations in a throw-away tree must all be reported, at
    the right lines, and nothing else."""
    files = {
        "lib/as.h": "",
        "lib/ok.c": '#include "lib/as.h"\n#include <stdio.h>\n',
        "lib/bad.c": '#include "lib/as.h"\n#include "dns/dns.h"\n',
        "dns/dns.h": '#include "lib/as.h"\n',
        "dns/wire.h": "",
        "dns/q.c": ('#include "dns/wire.h"\n#include "k8s/k8s.h"\n'
                    '#include <agent/agent.h>\n'),
        "gossip/gossip.h": '#include "routing/routing.h"\n',
        "routing/routing.h": "",
        "k8s/k8s.h": "",
        "k8s/local.h": "",
        "k8s/c.c": ('#include "local.h"\n#include "lib/as.h"\n'
                    '/* #include "agent/daemon.h" */\n'
                    '#include "../agent/daemon.h"\n'),
        "agent/agent.h": "",
        "agent/daemon.h": "",
        "agent/component.h": '#include "agent/agent.h"\n#include "dns/dns.h"\n',
        "agent/anycast.h": '#include "agent/component.h"\n',
        "agent/cluster.h": '#include "agent/component.h"\n',
        "agent/probe.h": "",
        "agent/ok.c": ('#include "agent/agent.h"\n#include "k8s/k8s.h"\n'
                       '#include "gossip/gossip.h"\n#include "lib/as.h"\n'),
        "agent/bad.c": '#include "dns/dns.h"\n#include "dns/wire.h"\n',
        "agent/daemon.c": ('#include "agent/anycast.h"\n'
                           '#include "agent/cluster.h"\n'),
        # A component: its own header and the interface are fine, a
        # neighbour's header, the daemon's or another's helper are not.
        "agent/cluster.c": ('#include "agent/cluster.h"\n'
                            '#include "agent/probe.h"\n'
                            '#include "agent/anycast.h"\n'
                            '#include "agent/daemon.h"\n'),
        "agent/anycast.c": ('#include "agent/anycast.h"\n'
                            '#include "agent/probe.h"\n'),
        # Outside the components, component headers are off limits.
        "agent/main.c": ('#include "agent/agent.h"\n'
                         '#include "agent/component.h"\n'),
    }
    expected = {
        ("lib/bad.c", 2), ("dns/q.c", 2), ("dns/q.c", 3),
        ("gossip/gossip.h", 1), ("k8s/c.c", 4), ("agent/bad.c", 2),
        ("agent/cluster.c", 3), ("agent/cluster.c", 4),
        ("agent/anycast.c", 2), ("agent/main.c", 2),
    }
    with tempfile.TemporaryDirectory(prefix="check-includes.") as root:
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)),
                        exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        got = {(p, n) for p, n, _ in check(root)}
        # A file outside every row is reported as well.
        global RULES
        saved = RULES
        RULES = [r for r in RULES if r[0] != "routing/*"]
        try:
            uncovered = {(p, n) for p, n, _ in check(root)} - got
        finally:
            RULES = saved
    ok = True
    if got != expected:
        print("check-includes: self-test: expected %s, got %s"
              % (sorted(expected), sorted(got)), file=sys.stderr)
        ok = False
    if uncovered != {("routing/routing.h", 0)}:
        print("check-includes: self-test: a file outside RULES was not "
              "reported (got %s)" % sorted(uncovered), file=sys.stderr)
        ok = False
    return ok


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else (
        os.environ.get("top_srcdir") or
        os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if not selftest():
        return 1
    problems = check(root)
    for src, lineno, msg in problems:
        print("%s:%d: %s" % (src, lineno, msg))
    n = sum(1 for _ in sources(root))
    if problems:
        print("check-includes: %d problem(s) in %d files" % (len(problems), n))
        return 1
    print("check-includes: %d files, every include in an allowed direction"
          % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
