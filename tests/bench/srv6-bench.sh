#!/bin/sh
# SRv6 steering benchmark of issue 17 on the SR testbed (testbed.sh up 1
# --sr): TCP throughput and CPU per GB without a program, with the
# programs attached but the port unsteered, and steered over the same
# routers, interleaved over rounds; the egress program's run time per
# run (kernel BPF stats); steering map update latency
# (tests/bench/srv6_update_bench). See tests/bench/srv6-bench.py and
# docs/srv6.md (method and measured numbers).
#
#   top_builddir=/tmp/build tests/bench/srv6-bench.sh
#   tests/bench/srv6-bench.sh --rounds 5 --duration 10 --entries 1000 --updates 20000
# Needs root, BIRD 2, iperf3, tc and a build with the SRv6 data plane;
# about a minute with the defaults (3 rounds x 3 modes x 5 s). Use a
# non-sanitized build (the holder, the update bench and anysteerd).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "${BIRD:-/usr/sbin/bird}" ] || { echo "SKIP: BIRD not installed"; exit 77; }
for t in iperf3 tc; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed (deploy/install-deps.sh)"; exit 77; }
done
for b in agent/anysteerd tests/unit/test_srv6_holder tests/bench/srv6_update_bench; do
	[ -x "$top_builddir/$b" ] ||
		{ echo "$b not built in $top_builddir (set top_builddir; make $b)"; exit 1; }
done
"$top_builddir/tests/unit/test_srv6_holder" </dev/null >/dev/null ||
	{ echo "SKIP: no SRv6 data plane: $("$top_builddir/tests/unit/test_srv6_holder" </dev/null)"; exit 77; }
exec python3 "$here/srv6-bench.py" "$@"
