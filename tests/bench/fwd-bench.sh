#!/bin/bash
# tests/bench/fwd-bench.sh - forwarding benchmark: anysteerd's dns.forward
# against unbound (forward-zone) and dnsdist (packet cache), warm caches.
#
# Usage: tests/bench/fwd-bench.sh [--build-dir DIR] [--anysteerd PATH]
#          [--duration S] [--rounds N] [--loads 5000,20000] [--names N]
#          [--port-base N] [--keep]
#
# --build-dir: where agent/anysteerd is (default: the current directory);
# --anysteerd: the binary itself; --duration: seconds per dnsperf run;
# --rounds: runs per forwarder and load; --loads: offered qps (dnsperf -Q);
# --names: names in the upstream's zone (and in the query file);
# --port-base: NSD on N, anysteerd N+1, unbound N+2, dnsdist N+3;
# --keep: keep the temp dir.
#
# Design. One NSD is authoritative for fwd.example. with --names AAAA
# names (TTL one day, so nothing expires during a run). Three forwarders
# send every query for it to that NSD: anysteerd (zone svc.example.,
# dns.forward with ::1 allowed), unbound (forward-zone, iterator module
# only: no validation, as anysteerd does none) and dnsdist (newServer plus
# a packet cache). Each runs with one worker thread (unbound num-threads
# 1, anysteerd workers 1; dnsdist has its own fixed set of threads), all
# pinned to CPU 1 with NSD, dnsperf on CPU 0, everything on loopback. The
# same dnsperf query file (every name once, AAAA) first warms each cache
# (two passes over all names), then the runs interleave, round robin over
# the forwarders for each load, the order rotating every round, as in
# tests/bench/dns-bench.sh. What counts is the forwarder's CPU time
# (utime + stime of all its threads, /proc/PID/stat) per answered query
# at fixed offered loads, the ratio anysteerd / peer taken in the same
# run (median of the rounds, and the min-max of the per-round ratios),
# plus dnsperf's answered rate and latency. NSD's CPU during each run is
# printed too: with warm caches it stays near zero; if it does not, a
# forwarder is not answering from its cache.
#
# Not part of `make check` (run by hand; about two minutes with the
# defaults). A forwarder whose binary is missing (dnsdist is not always
# installed: deploy/install-deps.sh installs it) or that does not start is
# skipped with the reason printed, and the others are still measured.
set -u

SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
LIB="$SRC_DIR/tests/bench/dns/benchlib.py"
CONF_DIR="$SRC_DIR/tests/bench/dns"

BUILD_DIR=$PWD
ANYSTEERD=
DURATION=4
ROUNDS=3
LOADS=5000,20000
NAMES=1000
PORT_BASE=5321
KEEP=0
ZONE=fwd.example.
OUTSTANDING=500		# dnsperf -q, as in dns-bench.sh
CLIENT_BUF_KB=4096	# dnsperf -b

usage() {
	sed -n '5,14p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) BUILD_DIR=${2:?}; shift 2 ;;
	--anysteerd) ANYSTEERD=${2:?}; shift 2 ;;
	--duration) DURATION=${2:?}; shift 2 ;;
	--rounds) ROUNDS=${2:?}; shift 2 ;;
	--loads) LOADS=${2:?}; shift 2 ;;
	--names) NAMES=${2:?}; shift 2 ;;
	--port-base) PORT_BASE=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) usage 0 ;;
	*) echo "fwd-bench: unknown argument '$1'" >&2; usage 2 ;;
	esac
done

die() { echo "fwd-bench: $*" >&2; exit 1; }
log() { echo "fwd-bench: $*"; }

case $DURATION in ''|*[!0-9]*|0) die "--duration must be whole seconds >= 1" ;; esac
case $ROUNDS in ''|*[!0-9]*|0) die "--rounds must be a number >= 1" ;; esac
case $NAMES in ''|*[!0-9]*|0) die "--names must be a number >= 1" ;; esac
[ "$NAMES" -le 65535 ] || die "--names must be at most 65535"
IFS=, read -r -a LOAD_LIST <<<"$LOADS"
for l in "${LOAD_LIST[@]}"; do
	case $l in ''|*[!0-9]*|0*) die "--loads wants qps numbers like 5000,20000" ;; esac
done
case $PORT_BASE in ''|*[!0-9]*) die "--port-base must be a number" ;; esac

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || die "python3 not found"
for tool in dnsperf nsd kdig taskset ss getconf; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool not found (deploy/install-deps.sh installs it)"
done
[ "$(id -u)" = 0 ] || die "run as root (the servers run as root-owned processes here)"

NSD_PORT=$PORT_BASE
declare -A PORT=([anysteerd]=$((PORT_BASE + 1)) [unbound]=$((PORT_BASE + 2))
	[dnsdist]=$((PORT_BASE + 3)))
for p in $NSD_PORT "${PORT[@]}"; do
	if [ -n "$(ss -Hlnu "sport = :$p")$(ss -Hlnt "sport = :$p")" ]; then
		die "port $p is in use; pick others with --port-base"
	fi
done

if [ "$(nproc)" -ge 2 ]; then
	SERVER_CPU=1; CLIENT_CPU=0
else
	log "warning: one CPU only; servers and dnsperf share it"
	SERVER_CPU=0; CLIENT_CPU=0
fi
HZ=$(getconf CLK_TCK)
[ -n "$ANYSTEERD" ] || ANYSTEERD="$BUILD_DIR/agent/anysteerd"

TMP=$(mktemp -d /tmp/fwd-bench.XXXXXX) || die "mktemp failed"
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
declare -A PID=()	# running servers by name (nsd included)
FORWARDERS=(anysteerd unbound dnsdist)

tree_pids() {
	local pid=$1 kids k
	echo "$pid"
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null) || return 0
	for k in $kids; do tree_pids "$k"; done
}

stop_server() {	# name
	local pid=${PID[$1]:-} pids p i
	[ -n "$pid" ] || return 0
	pids=$(tree_pids "$pid")
	# shellcheck disable=SC2086 # one word per PID
	kill -TERM $pids 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	for p in $pids; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	wait "$pid" 2>/dev/null
	unset "PID[$1]"
}

cleanup() {
	local n
	for n in "${!PID[@]}"; do stop_server "$n"; done
	if [ "$KEEP" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- zone, query file, configurations ---------------------------------------

# Name i is n<i>.fwd.example. AAAA fd00:20::<i+1>.
awk -v n="$NAMES" -v zone="$ZONE" 'BEGIN {
	printf "$ORIGIN %s\n$TTL 86400\n", zone
	printf "@ 86400 IN SOA ns1.%s hostmaster.%s 1 3600 600 86400 3600\n", zone, zone
	printf "@ 86400 IN NS ns1\nns1 IN AAAA ::1\n"
	for (i = 0; i < n; i++) printf "n%05d IN AAAA fd00:20::%x\n", i, i + 1
}' >"$TMP/$ZONE"zone
awk -v n="$NAMES" -v zone="$ZONE" 'BEGIN {
	for (i = 0; i < n; i++) printf "n%05d.%s AAAA\n", i, zone
}' >"$TMP/queries.txt"

mkdir -p "$TMP/nsd" "$TMP/anysteerd" "$TMP/unbound" "$TMP/dnsdist"
sed -e "s|@DIR@|$TMP/nsd|g" -e "s|@PORT@|$NSD_PORT|g" \
	-e "s|\"svc.example.\"|\"$ZONE\"|" -e "s|svc.example.zone|${ZONE}zone|" \
	"$CONF_DIR/nsd.conf.in" >"$TMP/nsd/nsd.conf"
cp "$TMP/${ZONE}zone" "$TMP/nsd/"

cat >"$TMP/anysteerd/anysteerd.yaml" <<EOF
# anysteerd forwarding everything outside svc.example. to NSD.
node: { name: fwdbench }
dns:
  listen: ["[::1]:${PORT[anysteerd]}"]
  zone: svc.example.
  workers: 1
  # dnsperf floods from one address: measure forwarding, not RRL.
  rrl: { enabled: false }
  forward:
    upstreams: ["[::1]:$NSD_PORT"]
    allow: ["::1/128"]
control: { socket: $TMP/anysteerd/ctl.sock }
metrics: { listen: "" }
services:
  - name: web
    port: 80
    endpoints:
      - { address: "fd00:10::1", node: fwdbench }
EOF

# Iterator only (no validation, like anysteerd), one thread, no access
# logging; prefetch off (its default) so that a warm cache sends nothing.
cat >"$TMP/unbound/unbound.conf" <<EOF
server:
	interface: ::1@${PORT[unbound]}
	do-ip4: no
	num-threads: 1
	access-control: ::1/128 allow
	username: ""
	chroot: ""
	directory: "$TMP/unbound"
	pidfile: "$TMP/unbound/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	module-config: "iterator"
	do-not-query-localhost: no
remote-control:
	control-enable: no
forward-zone:
	name: "$ZONE"
	forward-addr: ::1@$NSD_PORT
EOF

# The health check asks NSD for the zone's SOA once a second; no security
# polling (it would query the internet), no console.
cat >"$TMP/dnsdist/dnsdist.conf" <<EOF
setLocal("[::1]:${PORT[dnsdist]}")
setACL({"::1/128"})
setSecurityPollSuffix("")
newServer({address="[::1]:$NSD_PORT", checkName="$ZONE", checkType="SOA", mustResolve=true})
pc = newPacketCache(100000, {maxTTL=86400})
getPool(""):setCache(pc)
EOF

# ---- servers ----------------------------------------------------------------

# Answers a name of the zone on UDP? Sets SKIP_REASON when not.
wait_ready() {	# name port qname log
	local pid=${PID[$1]} i rc
	for i in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"; rc=$?
			unset "PID[$1]"
			SKIP_REASON="exited with status $rc at start: $(tail -n 3 "$4" | tr '\n' ' ')"
			return 1
		fi
		if [ -n "$(kdig +short +timeout=1 +retry=0 @::1 -p "$2" "$3" AAAA 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.1
	done
	SKIP_REASON="did not answer $3 AAAA on [::1]:$2 within 10 s: $(tail -n 3 "$4" | tr '\n' ' ')"
	return 1
}

# Every thread on SERVER_CPU (some servers set their own affinity).
pin_threads() {	# name
	local pid t bad=0
	for pid in $(tree_pids "${PID[$1]}"); do
		taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null 2>&1 ||
			log "warning: cannot pin the threads of $1 ($pid) to CPU $SERVER_CPU"
		for t in /proc/"$pid"/task/*; do
			[ "$(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status" 2>/dev/null)" = "$SERVER_CPU" ] ||
				bad=$((bad + 1))
		done
	done
	[ "$bad" = 0 ] || log "warning: $bad threads of $1 are not pinned to CPU $SERVER_CPU"
}

# Starts server $1; on failure sets SKIP_REASON and returns 1. At nice -10,
# like dnsperf, as in dns-bench.sh.
start_server() {
	local name=$1 dir="$TMP/$1" port run=(nice -n -10 taskset -c "$SERVER_CPU")
	SKIP_REASON=
	case $name in
	nsd)
		port=$NSD_PORT
		"${run[@]}" nsd -d -c "$dir/nsd.conf" >"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	anysteerd)
		port=${PORT[$name]}
		if [ ! -x "$ANYSTEERD" ]; then
			SKIP_REASON="binary not found at $ANYSTEERD (use --build-dir)"
			return 1
		fi
		if ! "$ANYSTEERD" --config "$dir/anysteerd.yaml" --check-config \
			>"$dir/check.out" 2>&1; then
			SKIP_REASON="--check-config failed: $(tail -n 3 "$dir/check.out" | tr '\n' ' ')"
			return 1
		fi
		"${run[@]}" "$ANYSTEERD" --config "$dir/anysteerd.yaml" \
			--foreground >"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	unbound)
		port=${PORT[$name]}
		if ! command -v unbound >/dev/null 2>&1; then
			SKIP_REASON="unbound not installed (deploy/install-deps.sh installs it)"
			return 1
		fi
		"${run[@]}" unbound -d -c "$dir/unbound.conf" >"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	dnsdist)
		port=${PORT[$name]}
		if ! command -v dnsdist >/dev/null 2>&1; then
			SKIP_REASON="dnsdist not installed (Debian package dnsdist; deploy/install-deps.sh installs it)"
			return 1
		fi
		"${run[@]}" dnsdist --supervised --disable-syslog \
			-C "$dir/dnsdist.conf" >"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	esac
	if ! wait_ready "$name" "$port" "n00000.$ZONE" "$dir/out"; then
		stop_server "$name"
		return 1
	fi
	pin_threads "$name"
	return 0
}

# The answer for the last name must be its address, from every forwarder.
check_answers() {	# name
	local last want got
	last=$(printf 'n%05d.%s' $((NAMES - 1)) "$ZONE")
	want=$(printf 'fd00:20::%x' "$NAMES")
	got=$(kdig +short +timeout=1 +retry=0 @::1 -p "${PORT[$1]}" "$last" AAAA 2>&1)
	[ "$got" = "$want" ] ||
		log "warning: $1 answers $last AAAA with '$got', not $want"
}

# ---- measurement ----------------------------------------------------------

cpu_ticks() { "$PY" "$LIB" cpu "${PID[$1]}"; }
udp6_drops() { awk '$1 == "Udp6RcvbufErrors" { print $2 }' /proc/net/snmp6; }

# One dnsperf run against forwarder $1; appends a "load" row (round 0:
# warm-up, not recorded).
run_load() {	# name label qps seconds round
	local name=$1 label=$2 qps=$3 secs=$4 round=$5
	local out t0 t1 c0 c1 n0 n1 d0 d1 kv
	out="$TMP/dnsperf-$name-$label-$round.out"
	d0=$(udp6_drops)
	c0=$(cpu_ticks "$name") || return 1
	n0=$(cpu_ticks nsd) || return 1
	t0=$(date +%s.%N)
	nice -n -10 taskset -c $CLIENT_CPU dnsperf -s ::1 -p "${PORT[$name]}" \
		-d "$TMP/queries.txt" -e -t 1 -q $OUTSTANDING -b $CLIENT_BUF_KB \
		-l "$secs" -Q "$qps" -v >"$out" 2>&1
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$name") || return 1
	n1=$(cpu_ticks nsd) || return 1
	d1=$(udp6_drops)
	[ "$round" -gt 0 ] || { rm -f "$out"; return 0; }
	kv=$("$PY" "$LIB" dnsperf "$out") || {
		log "dnsperf failed for $name ($label):"; tail -n 5 "$out"; return 1; }
	rm -f "$out"
	kv="$kv $(awk -v d="$((d1 - d0))" -v c0="$c0" -v c1="$c1" -v n0="$n0" -v n1="$n1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" -v kv="$kv" 'BEGIN {
		n = split(kv, f, " "); done = 0
		for (i = 1; i <= n; i++) if (f[i] ~ /^completed=/) { sub(/^completed=/, "", f[i]); done = f[i] }
		split(c0, a, " "); split(c1, b, " "); split(n0, x, " "); split(n1, y, " ")
		usr = (b[1] - a[1]) / hz; sys = (b[2] - a[2]) / hz; cpu = usr + sys
		up = (y[1] + y[2] - x[1] - x[2]) / hz
		per = done > 0 ? 1e6 / done : 0
		printf "udp6_rcvbuf_drops=%d cpu_s=%.2f cpu_us_per_q=%.3f usr_us_per_q=%.3f sys_us_per_q=%.3f cpu_pct=%.1f nsd_cpu_s=%.2f wall_s=%.2f", d, cpu, cpu * per, usr * per, sys * per, 100 * cpu / (t1 - t0), up, t1 - t0 }')"
	printf 'load\t%s\t%s\tround=%s\t%s\n' "$name" "$label" "$round" \
		"$(tr ' ' '\t' <<<"$kv")" >>"$RESULTS"
	log "  r$round $(printf '%-9s %-6s' "$name" "$label") $(sed -e 's/ nlat=[^ ]*//' -e 's/ lath=[^ ]*//' -e 's/ wall_s=.*//' <<<"$kv")"
}

skip() {	# name reason
	log "SKIP $1: $2"
	printf 'skip\t%s\t-\treason=%s\n' "$1" "$2" >>"$RESULTS"
}

log "$(nproc) CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds of ${DURATION}s runs, loads $LOADS qps, $NAMES names, temp $TMP"
log "$(dnsperf -h 2>&1 | grep -m1 Version), $(nsd -v 2>&1 | head -n1), $(unbound -V 2>/dev/null | head -n1), $(dnsdist --version 2>/dev/null | head -n1)"
if awk -v n="$(nproc)" '{ exit !($1 > n / 4) }' /proc/loadavg; then
	log "warning: the machine is busy (loadavg above); expect noisy numbers, compare the ranges"
fi

start_server nsd || die "NSD did not start: $SKIP_REASON"
UP=()
for s in "${FORWARDERS[@]}"; do
	if start_server "$s"; then
		UP+=("$s")
		if [ "$s" = anysteerd ] && grep -q __asan_init "$ANYSTEERD" 2>/dev/null; then
			log "warning: $ANYSTEERD is built with sanitizers; its numbers are not representative (configure without --enable-sanitizers)"
		fi
	else
		skip "$s" "$SKIP_REASON"
	fi
done
[ ${#UP[@]} -gt 0 ] || die "no forwarder started"

# Warm the caches: every name twice at the lowest load, then check.
warm_s=$(( (2 * NAMES + LOAD_LIST[0] - 1) / LOAD_LIST[0] + 1 ))
log "warming the caches: ${warm_s}s at ${LOAD_LIST[0]} qps each"
for s in "${UP[@]}"; do
	run_load "$s" warmup "${LOAD_LIST[0]}" "$warm_s" 0
	check_answers "$s"
done
if [ -S "$TMP/anysteerd/ctl.sock" ] && [ -x "$BUILD_DIR/agent/anysteerctl" ]; then
	ctl() { "$BUILD_DIR/agent/anysteerctl" --socket "$TMP/anysteerd/ctl.sock" "$@"; }
else
	ctl() { return 1; }
fi
fwd_counters() {
	ctl status --json 2>/dev/null | "$PY" -c '
import json, sys
f = json.load(sys.stdin).get("forward") or {}
print("cache_hits=%s cache_misses=%s" % (f.get("cache_hits"), f.get("cache_misses")))' 2>/dev/null
}
# anysteerd's cache misses must not grow during the measured runs.
is_up() { [[ " ${UP[*]} " == *" $1 "* ]]; }
! is_up anysteerd ||
	log "anysteerd after warm-up: $(fwd_counters || echo 'counters unavailable (no anysteerctl)')"

for r in $(seq "$ROUNDS"); do
	n=${#UP[@]}
	for l in "${LOAD_LIST[@]}"; do
		for i in $(seq 0 $((n - 1))); do
			s=${UP[$(((i + r) % n))]}
			run_load "$s" "$l" "$l" "$DURATION" "$r"
		done
	done
done
! is_up anysteerd ||
	log "anysteerd at the end: $(fwd_counters || echo 'counters unavailable (no anysteerctl)')"
for s in "${UP[@]}"; do
	kv=$("$PY" "$LIB" mem "${PID[$s]}") &&
		printf 'rss\t%s\t%s\t%s\n' "$s" "${NAMES}names" "$(tr ' ' '\t' <<<"$kv")" >>"$RESULTS"
done
log "done, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" "$LIB" report --servers anysteerd,unbound,dnsdist \
	--peers unbound,dnsdist --no-targets "$RESULTS"
echo
awk -F'\t' '$1 == "load" { for (i = 4; i <= NF; i++) if ($i ~ /^nsd_cpu_s=/) {
	sub(/^nsd_cpu_s=/, "", $i); s[$2] += $i } }
	END { for (k in s) printf("NSD CPU during the measured runs of %s: %.2f s%s\n", k, s[k],
		(s[k] > 0.05 ? " (not all from the cache?)" : "")) }' "$RESULTS"
