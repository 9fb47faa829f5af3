#!/bin/bash
# tests/bench/dns-bench.sh - DNS benchmark: anysteerd against NSD and Knot DNS.
#
# Usage: tests/bench/dns-bench.sh [--build-dir DIR] [--duration S] [--rounds N]
#          [--loads 20000,50000] [--anysteerd PATH] [--port-base N] [--keep]
#          [--wildcard] [--dns-extra FILE] [--rrl RATE]
#
# --build-dir: where agent/anysteerd is (default: the current directory);
# --anysteerd: the binary itself (tests/bench/dns/knot-as-anysteerd.sh gives
# an A/A run that shows the noise floor); --duration: seconds per dnsperf
# run; --rounds: runs per server and load; --keep: keep the temp dir;
# --wildcard: every catalog gets the wildcard service "*" (the NXDOMAIN
# share of the mix is then answered from it, by all three servers);
# --dns-extra: YAML lines added to the dns section of anysteerd's config,
# e.g. "forward: { upstreams: [...], allow: [...] }" to see whether
# forwarding costs in-zone queries anything (see docs/dns.md); --rrl: all
# three servers with response rate limiting on at RATE replies a second
# (NSD rrl-ratelimit, Knot mod-rrl, anysteerd dns.rrl), e.g. 1000000: a rate
# no bench load reaches, so nothing is dropped and the figures show what
# the bookkeeping costs each server.
#
# Design. The three servers serve the same catalog (one generator,
# tests/bench/dns/benchlib.py, writes anysteerd's YAML and the zone file NSD
# and Knot load) on loopback, each pinned to core 1 with one worker (every
# thread: Knot pins its UDP worker itself, see pin_threads), while
# dnsperf runs on core 0. They run side by side and the dnsperf runs
# interleave, round robin over servers for each load, for --rounds rounds;
# the report gives the median of the rounds, so background load on a shared
# machine hits all servers alike and its size shows in the spread of the
# rounds. On a 2-core machine dnsperf saturates its own core (~110k qps)
# before NSD or Knot saturate theirs, so max qps measures the load
# generator more than the server. The figure that
# counts is the server's CPU time per answered query at fixed offered loads
# (dnsperf -Q), read from the server's own /proc/PID/stat counters (utime +
# stime of every thread and child process) just before and after each run,
# together with mean and p99 latency (p99 from dnsperf -v's per-response
# latencies), lost queries, and max qps with no rate limit. Memory (VmRSS,
# VmHWM, Pss) is read after serving the small catalog and after serving a
# 1,000 services x 10 endpoints catalog.
#
# Not part of `make check`: with the defaults it takes about three minutes
# and its numbers depend on the machine (run it on a quiet one: see the
# loadavg it prints). If anysteerd's binary is missing, fails its config
# check or does not answer, its rows are skipped with the reason and NSD and
# Knot are still measured.
set -u

SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
LIB="$SRC_DIR/tests/bench/dns/benchlib.py"
CONF_DIR="$SRC_DIR/tests/bench/dns"

BUILD_DIR=$PWD
ANYSTEERD=
DURATION=4
ROUNDS=3
LOADS=20000,50000
PORT_BASE=5301
KEEP=0
WILDCARD=
DNS_EXTRA=()
RRL=0
SMALL_SERVICES=100	# x2 endpoints: answers are the same size everywhere
SMALL_ENDPOINTS=2	# (max_answers 2), so only the server's work differs
BIG_SERVICES=1000
BIG_ENDPOINTS=10
WARMUP=1		# seconds at the lowest load before measuring
RSS_LOAD_S=2		# seconds of traffic before reading memory
OUTSTANDING=500		# dnsperf -q: qps <= outstanding / latency, and latency
			# spikes on a busy machine must not cap the offered load
CLIENT_BUF_KB=4096	# dnsperf -b: room for every outstanding response, so
			# that losses are the server's, not dnsperf's

usage() {
	sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) BUILD_DIR=${2:?}; shift 2 ;;
	--anysteerd) ANYSTEERD=${2:?}; shift 2 ;;
	--duration) DURATION=${2:?}; shift 2 ;;
	--rounds) ROUNDS=${2:?}; shift 2 ;;
	--loads) LOADS=${2:?}; shift 2 ;;
	--port-base) PORT_BASE=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--wildcard) WILDCARD=--wildcard; shift ;;
	--rrl) RRL=${2:?}; shift 2 ;;
	--dns-extra) DNS_EXTRA=(--dns-extra "$(realpath "${2:?}")"); shift 2 ;;
	-h|--help) usage 0 ;;
	*) echo "dns-bench: unknown argument '$1'" >&2; usage 2 ;;
	esac
done

die() { echo "dns-bench: $*" >&2; exit 1; }
log() { echo "dns-bench: $*"; }

case $DURATION in ''|*[!0-9]*) die "--duration must be whole seconds" ;; esac
[ "$DURATION" -ge 1 ] || die "--duration must be >= 1"
case $ROUNDS in ''|*[!0-9]*|0) die "--rounds must be a number >= 1" ;; esac
IFS=, read -r -a LOAD_LIST <<<"$LOADS"
for l in "${LOAD_LIST[@]}"; do
	case $l in ''|*[!0-9]*|0*) die "--loads wants qps numbers like 20000,50000" ;; esac
done
case $PORT_BASE in ''|*[!0-9]*) die "--port-base must be a number" ;; esac
[ ${#DNS_EXTRA[@]} = 0 ] || [ -f "${DNS_EXTRA[1]}" ] ||
	die "--dns-extra: no file ${DNS_EXTRA[1]}"

# The system interpreter: a version-manager shim (pyenv) costs a second per
# call, several times per run.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || die "python3 not found"
for tool in dnsperf nsd knotd kdig taskset ss getconf; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "$tool not found (deploy/install-deps.sh installs it)"
done
case $RRL in ''|*[!0-9]*) die "--rrl needs a number of replies per second" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (NSD and Knot run as root-owned processes here)"

NSD_PORT=$PORT_BASE
KNOT_PORT=$((PORT_BASE + 1))
ANY_PORT=$((PORT_BASE + 2))
for p in $NSD_PORT $KNOT_PORT $ANY_PORT; do
	if [ -n "$(ss -Hlnu "sport = :$p")$(ss -Hlnt "sport = :$p")" ]; then
		die "port $p is in use; pick others with --port-base"
	fi
done

# Server on core 1, dnsperf on core 0 (both on core 0 on a 1-core box).
if [ "$(nproc)" -ge 2 ]; then
	SERVER_CPU=1; CLIENT_CPU=0
else
	log "warning: one CPU only; server and dnsperf share it"
	SERVER_CPU=0; CLIENT_CPU=0
fi
HZ=$(getconf CLK_TCK)
[ -n "$ANYSTEERD" ] || ANYSTEERD="$BUILD_DIR/agent/anysteerd"

TMP=$(mktemp -d /tmp/dns-bench.XXXXXX) || die "mktemp failed"
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
declare -A PID=()	# running servers by name
SERVERS_ALL=(anysteerd nsd knot)

# The PIDs of a process and its descendants (NSD forks its server and xfrd).
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

stop_all() {
	local n
	for n in "${!PID[@]}"; do stop_server "$n"; done
}

cleanup() {
	stop_all
	if [ "$KEEP" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- catalogs ---------------------------------------------------------------

gen_catalog() {	# dir services endpoints
	"$PY" "$LIB" gen --out "$1" --services "$2" --endpoints "$3" \
		--listen "[::1]:$ANY_PORT" --ctl "$1/ctl.sock" \
		--queries 20000 --seed 1 --rrl "$RRL" $WILDCARD "${DNS_EXTRA[@]}" ||
		die "catalog generation failed"
}
SMALL="${SMALL_SERVICES}x${SMALL_ENDPOINTS}"
BIG="${BIG_SERVICES}x${BIG_ENDPOINTS}"
gen_catalog "$TMP/$SMALL" $SMALL_SERVICES $SMALL_ENDPOINTS
gen_catalog "$TMP/$BIG" $BIG_SERVICES $BIG_ENDPOINTS

# ---- servers ----------------------------------------------------------------

port_of() {
	case $1 in
	nsd) echo "$NSD_PORT" ;;
	knot) echo "$KNOT_PORT" ;;
	anysteerd) echo "$ANY_PORT" ;;
	esac
}

# Answers on UDP? kdig prints the SOA once the zone is loaded. Sets
# SKIP_REASON when not.
wait_ready() {	# name port log
	local pid=${PID[$1]} i rc
	for i in $(seq 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"; rc=$?
			unset "PID[$1]"
			SKIP_REASON="exited with status $rc at start: $(tail -n 3 "$3" | tr '\n' ' ')"
			return 1
		fi
		if [ -n "$(kdig +short +timeout=1 +retry=0 @::1 -p "$2" svc.example. SOA 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.1
	done
	SKIP_REASON="did not answer SOA on [::1]:$2 within 10 s: $(tail -n 3 "$3" | tr '\n' ' ')"
	return 1
}

# Starts server $1 on catalog $2 (a label: dir under $TMP). On failure sets
# SKIP_REASON and returns 1. Servers run at nice -10, like dnsperf, so that
# builds sharing the machine disturb the measurement less.
start_server() {
	local name=$1 cat="$TMP/$2" port dir
	port=$(port_of "$name")
	dir="$TMP/$2-$name"
	mkdir -p "$dir/db"
	SKIP_REASON=
	case $name in
	nsd)
		sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@RRL@|$RRL|g" \
			"$CONF_DIR/nsd.conf.in" >"$dir/nsd.conf"
		cp "$cat/svc.example.zone" "$dir/"
		nice -n -10 taskset -c $SERVER_CPU nsd -d -c "$dir/nsd.conf" \
			>"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	knot)
		if [ "$RRL" -gt 0 ]; then
			sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" \
				-e "s|^# @RRL_SECTION@|mod-rrl:\n  - id: bench\n    rate-limit: $RRL\n    slip: 2|" \
				-e "s|^    # @RRL_GLOBAL@|    global-module: mod-rrl/bench|" \
				"$CONF_DIR/knot.conf.in" >"$dir/knot.conf"
		else
			sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" \
				"$CONF_DIR/knot.conf.in" >"$dir/knot.conf"
		fi
		cp "$cat/svc.example.zone" "$dir/"
		nice -n -10 taskset -c $SERVER_CPU knotd -c "$dir/knot.conf" \
			>"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	anysteerd)
		if [ ! -x "$ANYSTEERD" ]; then
			SKIP_REASON="binary not found at $ANYSTEERD (use --build-dir)"
			return 1
		fi
		if ! "$ANYSTEERD" --config "$cat/anysteerd.yaml" --check-config \
			>"$dir/check.out" 2>&1; then
			SKIP_REASON="--check-config failed: $(tail -n 3 "$dir/check.out" | tr '\n' ' ')"
			return 1
		fi
		nice -n -10 taskset -c $SERVER_CPU "$ANYSTEERD" \
			--config "$cat/anysteerd.yaml" --foreground >"$dir/out" 2>&1 &
		PID[$name]=$!
		;;
	esac
	if ! wait_ready "$name" "$port" "$dir/out"; then
		stop_server "$name"
		return 1
	fi
	pin_threads "$name"
	return 0
}

# Knot DNS sets the CPU affinity of its UDP worker itself (to CPU 0 here,
# the load generator's core), which would undo taskset and let it share
# dnsperf's core. Pin every thread of every server to SERVER_CPU once it
# runs, and check that it stuck.
pin_threads() {	# name
	local pid=${PID[$1]} t bad=0
	taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null 2>&1 ||
		log "warning: cannot pin the threads of $1 to CPU $SERVER_CPU"
	for t in /proc/"$pid"/task/*; do
		[ "$(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status")" = "$SERVER_CPU" ] ||
			bad=$((bad + 1))
	done
	[ "$bad" = 0 ] || log "warning: $bad threads of $1 are not pinned to CPU $SERVER_CPU"
}

# A sanity query so that a server answering something else is visible.
check_answers() {	# name
	local port out
	port=$(port_of "$1")
	out=$(kdig +timeout=1 +retry=0 @::1 -p "$port" s0000.svc.example. AAAA 2>&1)
	if ! grep -q 'status: NOERROR' <<<"$out" || ! grep -q 'fd00:10:1::' <<<"$out"; then
		log "warning: $1 answers s0000.svc.example. AAAA unexpectedly:"
		grep -v '^ *$' <<<"$out" | head -20 | while IFS= read -r line; do
			echo "    $line"
		done
	fi
}

# ---- measurement ----------------------------------------------------------

cpu_ticks() { "$PY" "$LIB" cpu "${PID[$1]}"; }

# Machine-wide UDP/IPv6 receive-buffer overflows (either side's socket):
# tells whether lost queries were dropped by the kernel.
udp6_drops() { awk '$1 == "Udp6RcvbufErrors" { print $2 }' /proc/net/snmp6; }

# One dnsperf run against running server $1; appends a "load" row.
#   run_load NAME LABEL QPS(0 = unlimited) SECONDS QUERYFILE ROUND(0 = discard)
run_load() {
	local name=$1 label=$2 qps=$3 secs=$4 qfile=$5 round=$6
	local port out t0 t1 c0 c1 d0 d1 kv rate=() verbose=(-v)
	port=$(port_of "$name")
	out="$TMP/dnsperf-$name-$label-$round.out"
	[ "$qps" -gt 0 ] && rate=(-Q "$qps")
	# -v costs dnsperf ~20% of its throughput: not in the unlimited run.
	[ "$qps" -eq 0 ] && verbose=()
	d0=$(udp6_drops)
	c0=$(cpu_ticks "$name") || return 1
	t0=$(date +%s.%N)
	nice -n -10 taskset -c $CLIENT_CPU dnsperf -s ::1 -p "$port" -d "$qfile" \
		-e -t 1 -q $OUTSTANDING -b $CLIENT_BUF_KB \
		-l "$secs" "${rate[@]}" "${verbose[@]}" >"$out" 2>&1
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$name") || return 1
	d1=$(udp6_drops)
	[ "$round" -gt 0 ] || { rm -f "$out"; return 0; }
	kv=$("$PY" "$LIB" dnsperf "$out") || {
		log "dnsperf failed for $name ($label):"; tail -n 5 "$out"; return 1; }
	rm -f "$out"
	# c0, c1 are "utime stime" in clock ticks.
	kv="$kv $(awk -v d="$((d1 - d0))" -v c0="$c0" -v c1="$c1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" -v kv="$kv" 'BEGIN {
		n = split(kv, f, " "); done = 0
		for (i = 1; i <= n; i++) if (f[i] ~ /^completed=/) { sub(/^completed=/, "", f[i]); done = f[i] }
		split(c0, a, " "); split(c1, b, " ")
		usr = (b[1] - a[1]) / hz; sys = (b[2] - a[2]) / hz; cpu = usr + sys
		per = done > 0 ? 1e6 / done : 0
		printf "udp6_rcvbuf_drops=%d cpu_s=%.2f cpu_us_per_q=%.3f usr_us_per_q=%.3f sys_us_per_q=%.3f cpu_pct=%.1f wall_s=%.2f", d, cpu, cpu * per, usr * per, sys * per, 100 * cpu / (t1 - t0), t1 - t0 }')"
	printf 'load\t%s\t%s\tround=%s\t%s\n' "$name" "$label" "$round" \
		"$(tr ' ' '\t' <<<"$kv")" >>"$RESULTS"
	log "  r$round $(printf '%-9s %-6s' "$name" "$label") $(sed -e 's/ nlat=[^ ]*//' -e 's/ lath=[^ ]*//' -e 's/ wall_s=.*//' <<<"$kv")"
}

record_mem() {	# name catalog
	local kv
	kv=$("$PY" "$LIB" mem "${PID[$1]}") || return 1
	printf 'rss\t%s\t%s\t%s\n' "$1" "$2" "$(tr ' ' '\t' <<<"$kv")" >>"$RESULTS"
	log "  $(printf '%-9s %-8s' "$1" "$2") $kv"
}

skip() {	# name reason
	log "SKIP $1: $2"
	printf 'skip\t%s\t-\treason=%s\n' "$1" "$2" >>"$RESULTS"
}

log "$(nproc) CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds of ${DURATION}s runs, loads $LOADS qps + max, temp $TMP"
log "$(dnsperf -h 2>&1 | grep -m1 Version), $(nsd -v 2>&1 | head -n1), $(knotd --version)"
if awk -v n="$(nproc)" '{ exit !($1 > n / 4) }' /proc/loadavg; then
	log "warning: the machine is busy (loadavg above); expect noisy numbers, compare the ranges"
fi

# Phase 1: all servers up at once on the small catalog, servers on core
# SERVER_CPU and dnsperf on CLIENT_CPU; runs interleave (round robin, the
# order rotating every round) so that background load on this shared
# machine spreads over all servers alike. Idle servers cost nothing.
log "$SMALL catalog: starting servers on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU"
UP=()
for s in "${SERVERS_ALL[@]}"; do
	if start_server "$s" "$SMALL"; then
		UP+=("$s")
		check_answers "$s"
		if [ "$s" = anysteerd ] && grep -q __asan_init "$ANYSTEERD" 2>/dev/null; then
			log "warning: $ANYSTEERD is built with sanitizers; its numbers are not representative (configure without --enable-sanitizers)"
		fi
	else
		skip "$s" "$SKIP_REASON"
	fi
done
[ ${#UP[@]} -gt 0 ] || die "no server started"
for s in "${UP[@]}"; do
	run_load "$s" warmup "${LOAD_LIST[0]}" "$WARMUP" "$TMP/$SMALL/queries.txt" 0
done
for r in $(seq "$ROUNDS"); do
	n=${#UP[@]}
	for l in "${LOAD_LIST[@]}" max; do
		for i in $(seq 0 $((n - 1))); do
			s=${UP[$(((i + r) % n))]}
			if [ "$l" = max ]; then
				run_load "$s" max 0 "$DURATION" "$TMP/$SMALL/queries.txt" "$r"
			else
				run_load "$s" "$l" "$l" "$DURATION" "$TMP/$SMALL/queries.txt" "$r"
			fi
		done
	done
done
for s in "${UP[@]}"; do record_mem "$s" "$SMALL"; done
stop_all

# Phase 2: memory with the big catalog, after some traffic.
log "$BIG catalog: memory after ${RSS_LOAD_S}s at ${LOAD_LIST[0]} qps"
for s in "${UP[@]}"; do
	if start_server "$s" "$BIG"; then
		run_load "$s" rssload "${LOAD_LIST[0]}" "$RSS_LOAD_S" "$TMP/$BIG/queries.txt" 0
		record_mem "$s" "$BIG"
		stop_server "$s"
	else
		log "$s: $BIG catalog failed: $SKIP_REASON"
	fi
done
log "done, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" "$LIB" report --big "$BIG" "$RESULTS"
