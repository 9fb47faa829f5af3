#!/bin/sh
# Failover benchmark of issue 4 on the emulated cluster: >= 10 trials each
# of agent SIGKILL, drain (SIGTERM), BIRD SIGKILL and link cut; prints the
# time until the upstream router's next hop is gone (p50/max) and the
# client-visible failed queries next to the targets (<= 10 ms agent death,
# <= 300 ms node loss, 0 failed queries for drain). See
# tests/bench/failover-bench.py and docs/anycast.md.
#
#   top_builddir=/tmp/build tests/bench/failover-bench.sh
#   TRIALS=20 RATE=400 NODES=3 tests/bench/failover-bench.sh
# Needs root and BIRD 2; takes a few minutes (each trial restores the node).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "${BIRD:-/usr/sbin/bird}" ] || { echo "SKIP: BIRD not installed"; exit 77; }
[ -x "$top_builddir/agent/anysteerd" ] ||
	{ echo "anysteerd not built in $top_builddir (set top_builddir)"; exit 1; }
exec python3 "$here/failover-bench.py"
