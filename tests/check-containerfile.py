"""deploy/Containerfile checked without building it (a build needs the
debian:bookworm-slim base image, i.e. a registry; deploy/container-build.sh
builds it where one cannot be pulled, in minutes, outside make check):

- stages: every COPY --from names an earlier stage;
- the build context: every COPY source exists in the source tree, and
  .containerignore keeps builds and in-tree build products out of it;
- every package either stage installs exists in Debian 12 (apt-cache);
- the build stage has the -dev package of every pkg-config module
  configure.ac requires (whose .pc file it ships), and the tools;
- the runtime stage has the package of every shared library the built
  anysteerd and anysteerctl need directly (NEEDED), unless the slim base
  has it (Priority: required);
- the binaries it copies out are where `make install` puts them with
  --prefix=/usr.

Needs a Debian system (apt-cache, dpkg, readelf) and the packages of
deploy/install-deps.sh; skips (77) with the reason otherwise.
"""
import fnmatch
import os
import re
import shutil
import subprocess
import sys

SRC = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILD = os.environ.get("top_builddir") or SRC
failures = []


def fail(msg):
    failures.append(msg)


def run(*cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)


for tool in ("apt-cache", "dpkg", "dpkg-query", "readelf", "ldd"):
    if not shutil.which(tool):
        print("SKIP: no %s: the package checks need a Debian system" % tool)
        sys.exit(77)

# Instructions, continuation lines joined, comments dropped.
instrs, cur = [], ""
with open(os.path.join(SRC, "deploy", "Containerfile")) as f:
    for line in f:
        line = line.rstrip("\n")
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        instrs.append(cur.strip())
        cur = ""

stages = []          # [name, [packages]]
for ins in instrs:
    op, _, rest = ins.partition(" ")
    op = op.upper()
    if op == "FROM":
        m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
        if not m:
            fail("cannot parse %s" % ins)
            continue
        base = m.group(1)
        if base != "debian:bookworm-slim" and base not in [s[0] for s in stages]:
            fail("FROM %s: not Debian 12 (bookworm-slim): the package checks assume it" % base)
        stages.append([m.group(2) or "stage%d" % len(stages), []])
    elif op == "RUN":
        for m in re.finditer(r"apt-get install ((?:-\S+\s+)*)([^&;|]+)", rest):
            stages[-1][1] += m.group(2).split()
    elif op == "COPY":
        args = rest.split()
        frm = [a for a in args if a.startswith("--from=")]
        paths = [a for a in args if not a.startswith("--")]
        if frm:
            name = frm[0].split("=", 1)[1]
            if name not in [s[0] for s in stages[:-1]]:
                fail("%s: no earlier stage %s" % (ins, name))
            continue
        for p in paths[:-1]:
            if not os.path.exists(os.path.join(SRC, p)):
                fail("%s: %s is not in the source tree" % (ins, p))

if len(stages) != 2:
    fail("expected a build and a runtime stage, found %s" % [s[0] for s in stages])
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
(build_name, build_pkgs), (_, run_pkgs) = stages
print("build stage %s: %s" % (build_name, " ".join(build_pkgs)))
print("runtime stage: %s" % " ".join(run_pkgs))

# Every package exists in this (Debian 12) system's archive.
pkgs = sorted(set(build_pkgs + run_pkgs))
policy = run("apt-cache", "policy", *pkgs).stdout
cand = dict(re.findall(r"^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)", policy, re.M))
for p in pkgs:
    if cand.get(p, "(none)") == "(none)":
        fail("package %s: not in Debian %s's archive" % (p, open("/etc/debian_version").read().strip()))

# Build stage: the tools, and a package for each required pkg-config module.
for tool in ("build-essential", "autoconf", "automake", "libtool", "pkg-config"):
    if tool not in build_pkgs:
        fail("build stage lacks %s" % tool)
with open(os.path.join(SRC, "configure.ac")) as f:
    ac = f.read()
modules = []
for m in re.finditer(r"PKG_CHECK_MODULES\(\[\w+\],\s*\[([\w.+-]+)[^\]]*\](.*)", ac):
    if "have_" in m.group(2):           # optional (cmocka: tests only)
        continue
    modules.append(m.group(1))
if len(modules) < 5:
    fail("found only %s in configure.ac" % modules)


def owners(*patterns):
    """dpkg -S in one call (each call reads the whole database):
    {path: package}."""
    out = {}
    for l in run("dpkg", "-S", *patterns).stdout.splitlines():
        pkg, _, path = l.partition(": ")
        out.setdefault(path, pkg.split(", ")[0].split(":")[0])
    return out


pcs = owners(*["*/pkgconfig/%s.pc" % m for m in modules])
for mod in modules:
    have = {p for path, p in pcs.items() if path.endswith("/pkgconfig/%s.pc" % mod)}
    if not have:
        fail("pkg-config module %s: no installed package ships %s.pc "
             "(run deploy/install-deps.sh)" % (mod, mod))
    elif not have & set(build_pkgs):
        fail("build stage lacks %s (pkg-config %s, required by configure.ac)"
             % (" or ".join(sorted(have)), mod))

# What a slim Debian base has: the Essential and required packages and
# what they depend on (closure over the installed packages).
info = {}
for l in run("dpkg-query", "-W", "-f",
             "${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\n").stdout.splitlines():
    name, ess, prio, deps = l.split("\t")
    info[name] = (ess == "yes" or prio == "required",
                  {re.split(r"[\s:(]", d.strip())[0] for d in re.split(r"[,|]", deps) if d.strip()})
base = {n for n, (b, _) in info.items() if b}
todo = list(base)
while todo:
    for d in info.get(todo.pop(), (0, set()))[1]:
        if d in info and d not in base:
            base.add(d)
            todo.append(d)

# Runtime stage: the package of every library the binaries link directly.
# libasan/libubsan are those of a sanitizer build (make check's own).
libs = []          # (binary, soname, path)
for binary in ("agent/anysteerd", "agent/anysteerctl"):
    path = os.path.join(BUILD, binary)
    if not os.access(path, os.X_OK):
        fail("%s not built" % path)
        continue
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", run("readelf", "-d", path).stdout)
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", run("ldd", path).stdout, re.M))
    for lib in needed:
        if not re.match(r"lib(asan|ubsan)\.", lib):
            libs.append((binary, lib, where.get(lib, lib)))


def aliases(p):
    """Debian 12 is merged-/usr: dpkg may know a file under /lib or /usr/lib."""
    real = os.path.realpath(p)
    return [p, real, real.replace("/usr/lib/", "/lib/", 1), p.replace("/lib/", "/usr/lib/", 1)]


own = owners(*sorted({a for _, _, p in libs for a in aliases(p)}))
for binary, lib, p in libs:
    pkg = next((own[a] for a in aliases(p) if a in own), None)
    if not pkg:
        fail("%s needs %s: no package owns %s" % (binary, lib, p))
    elif pkg not in run_pkgs and pkg not in base:
        fail("runtime stage lacks %s (%s needs %s)" % (pkg, binary, lib))
# What the runtime stage copies out of the build stage is where
# `make install` puts it with --prefix=/usr.
with open(os.path.join(SRC, "agent", "local.mk")) as f:
    mk = f.read()
installed = {"/usr/sbin/" + os.path.basename(p) for p in re.findall(r"^sbin_PROGRAMS \+= (\S+)", mk, re.M)}
installed |= {"/usr/bin/" + os.path.basename(p) for p in re.findall(r"^bin_PROGRAMS \+= (\S+)", mk, re.M)}
for ins in instrs:
    m = re.match(r"COPY --from=\S+ /out(\S+) ", ins)
    if m and m.group(1) not in installed:
        fail("%s: make install puts no %s (it installs %s)" % (ins, m.group(1), sorted(installed)))
if "--prefix=/usr" not in " ".join(instrs):
    fail("the build stage does not configure --prefix=/usr")

# The context: .containerignore keeps builds and in-tree products out,
# and none of the sources the build needs.
ign = os.path.join(SRC, ".containerignore")
if not os.path.exists(ign):
    fail("no .containerignore: COPY . . would take _build/ and in-tree objects")
else:
    pats = [l.strip() for l in open(ign) if l.strip() and not l.startswith("#")]

    def ignored(p):
        out = False
        for pat in pats:
            neg = pat.startswith("!")
            pat = pat.lstrip("!")
            hit = fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) or \
                p.startswith(pat.rstrip("/") + "/")
            if hit:
                out = not neg
        return out
    for p in ("_build/dev/agent/anysteerd", "agent/libagent_la-config.o", "config.status",
              "Makefile", "agent/anysteerd", ".git", "tests/unit/test_dns_policy"):
        if not ignored(p):
            fail(".containerignore lets %s into the build context" % p)
    for p in ("configure.ac", "Makefile.am", "agent/local.mk", "agent/main.c",
              "tests/unit/test_agent_config.c", "deploy/Containerfile", "man/anysteerd.8.scd",
              "tests/fuzz/fuzz_config.c"):
        if ignored(p):
            fail(".containerignore leaves out %s, which the build needs" % p)

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("deploy/Containerfile: %d instructions, %d packages, %d pkg-config modules: ok"
      % (len(instrs), len(set(build_pkgs + run_pkgs)), len(modules)))
