#!/bin/sh
# Failover benchmark of issue 4 on the emulated cluster: >= 10 trials each
# of agent SIGKILL, drain (SIGTERM), BIRD SIGKILL, BIRD frozen (SIGSTOP)
# and link cut; prints the time until the upstream router's next hop is
# gone (p50/max) and the client-visible failed queries next to the targets
# (<= 10 ms agent death, <= 300 ms node loss, 0 failed queries for drain),
# with the load average. See tests/bench/failover-bench.py and
# docs/anycast.md (method and measured numbers).
#
#   top_builddir=/tmp/build tests/bench/failover-bench.sh
#   TRIALS=20 RATE=400 NODES=3 tests/bench/failover-bench.sh
#   SCENARIOS=kill,drain,bird,freeze,link   a subset
#   TESTBED_FAST_WITHDRAW=0                 drain by the TUN carrier alone
#   TESTBED_BFD_MS=75                       BFD interval (default: deploy/bird's, 75)
# Needs root and BIRD 2; takes about 6 minutes for 10 trials of each
# scenario (each trial restores the node). Use a non-sanitized build.
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
