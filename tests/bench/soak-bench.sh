#!/bin/sh
# Soak benchmark of issue 19 item 4 on the emulated cluster with real
# processes: N anysteerd + N BIRD + the router's BIRD, a busy loop on each
# core, for a fixed time. Reports what a busy machine does to the control
# plane, with nothing injected:
#
#   - BFD/BGP false flaps: the router's route to the anycast address is
#     polled (~5 times a second); a sample with fewer next hops than
#     nodes means a session went down although every node was healthy;
#   - gossip false deaths: anysteer_gossip_deaths_declared_total summed
#     over the nodes (no node dies in the run, so every one is false),
#     with suspicions raised/refuted;
#   - gossip bytes per member per second (UDP + TCP, sent), from
#     anysteer_gossip_bytes_total, min / median / max over the nodes.
#
#   top_builddir=/tmp/build tests/bench/soak-bench.sh [-n NODES] [-d SECONDS]
#       [-b BFD_MS] [-H HOGS] [-l static|measured]
#
#   -n  nodes (default 22)          -d  seconds of soak (default 600)
#   -b  BFD interval in ms (default: deploy/bird's, 75; x 3 multiplier)
#   -H  busy loops (default: one per core)
#   -l  load signal of the nodes: measured (default: the host's CPU, which
#       the busy loops keep high and moving) or static (pinned, as the
#       testbed's default)
#
# Needs root and BIRD 2. Use a non-sanitized build. Every busy loop is
# bounded by timeout(1) and killed by PID; the testbed is torn down at
# the end (also on failure or interrupt).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir

nodes=22 secs=600 bfd= hogs=$(nproc 2>/dev/null || echo 2) load=measured
while getopts n:d:b:H:l: o; do
	case $o in
	n) nodes=$OPTARG ;;
	d) secs=$OPTARG ;;
	b) bfd=$OPTARG ;;
	H) hogs=$OPTARG ;;
	l) load=$OPTARG ;;
	*) sed -n '2,26p' "$0"; exit 2 ;;
	esac
done
for v in "$nodes" "$secs" "$hogs" ${bfd:+"$bfd"}; do
	case $v in '' | *[!0-9]*) echo "soak-bench: not a number: $v" >&2; exit 2 ;; esac
done
case $load in static | measured) ;; *) echo "soak-bench: -l static|measured" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "${BIRD:-/usr/sbin/bird}" ] || { echo "SKIP: BIRD not installed"; exit 77; }
[ -x "$top_builddir/agent/anysteerd" ] ||
	{ echo "anysteerd not built in $top_builddir (set top_builddir)"; exit 1; }

export TESTBED_PREFIX=${TESTBED_PREFIX:-soak$$}
export TESTBED_DIR=${TESTBED_DIR:-/tmp/anysteer-soak-$$}
export TESTBED_LOAD=$load
[ -n "$bfd" ] && export TESTBED_BFD_MS=$bfd
tb="$top_srcdir/deploy/testbed/testbed.sh"
work=$(mktemp -d)
hog_pids=
cleanup() {
	for p in $hog_pids; do kill "$p" 2>/dev/null || true; done
	for p in $hog_pids; do wait "$p" 2>/dev/null || true; done
	"$tb" down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: $nodes nodes, ${secs}s, BFD ${bfd:-75 (default)} ms x 3, $hogs busy loop(s), load $load"
echo "soak: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
"$tb" up "$nodes" --letters 1 >"$work/up.log" 2>&1 ||
	{ tail -20 "$work/up.log"; echo "soak: testbed up failed" >&2; exit 1; }
"$tb" wait-hops "$nodes" 120 || { echo "soak: not every node announced" >&2; exit 1; }
"$tb" wait-members 120 || { echo "soak: gossip did not converge" >&2; exit 1; }

# One line per node: bytes out (udp+tcp), deaths declared, suspicions
# raised, refuted.
snapshot() {
	for i in $(seq 1 "$nodes"); do
		ip netns exec "$TESTBED_PREFIX-n$i" curl -s --max-time 5 'http://[::1]:9153/metrics' |
			awk -v i="$i" '
			/^anysteer_gossip_bytes_total\{direction="out"/ { out += $2 }
			/^anysteer_gossip_deaths_declared_total / { dead = $2 }
			/^anysteer_gossip_suspicions_total\{event="raised"/ { sr = $2 }
			/^anysteer_gossip_suspicions_total\{event="refuted"/ { sf = $2 }
			END { printf "%d %d %d %d %d\n", i, out, dead, sr, sf }'
	done
}
snapshot >"$work/before"

for _ in $(seq "$hogs"); do
	timeout $((secs + 120)) sh -c 'while :; do :; done' &
	hog_pids="$hog_pids $!"
done

start=$(date +%s)
end=$((start + secs))
samples=0 short=0 last_short=0 flaps=0
: >"$work/flaps"
while [ "$(date +%s)" -lt "$end" ]; do
	n=$(ip -n "$TESTBED_PREFIX-r" -6 route show "fd00:53::53/128" 2>/dev/null | grep -c 'via' || true)
	samples=$((samples + 1))
	if [ "$n" -lt "$nodes" ]; then
		short=$((short + 1))
		# A flap is a run of short samples: count its start.
		if [ "$last_short" = 0 ]; then
			flaps=$((flaps + 1))
			echo "$(date -u +%H:%M:%S) next hops $n of $nodes" >>"$work/flaps"
		fi
		last_short=1
	else
		last_short=0
	fi
	sleep 0.2
done
elapsed=$(( $(date +%s) - start ))
snapshot >"$work/after"
echo "soak: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "BFD/BGP: $flaps false flap(s) in $samples samples over ${elapsed}s ($short short samples)"
cat "$work/flaps"
paste -d' ' "$work/before" "$work/after" | awk -v t="$elapsed" '
	{ bps[NR] = ($7 - $2) / t; dead += $8 - $3; sr += $9 - $4; sf += $10 - $5 }
	END {
		n = NR
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (bps[j] < bps[i]) { x = bps[i]; bps[i] = bps[j]; bps[j] = x }
		printf "gossip: %d false death(s), %d suspicion(s) raised, %d refuted\n", dead, sr, sf
		printf "gossip bytes sent per member: min %.0f B/s, median %.0f B/s, max %.0f B/s (%d members)\n",
			bps[1], bps[int((n + 1) / 2)], bps[n], n
	}'
