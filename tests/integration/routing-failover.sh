#!/bin/sh
# Anycast failover through BIRD, end to end, in network namespaces:
#
#   router namespace: bridge br0 (fd00:1::1/64), BIRD with deploy/bird/upstream.conf
#                     (ECMP: merge paths on), forwarding + L4 multipath hash
#   node1..3:         veth to br0 (fd00:1::11..13), BIRD with deploy/bird/node.conf,
#                     and test_routing_holder owning the TUN anysteer0 with
#                     the anycast address fd00:53::53 (the agent's stand-in)
#
# Asserts: the router's kernel route to fd00:53::53/128 has one next hop per
# node; carrier off on node1 (drain) removes node1's next hop and carrier on
# brings it back; SIGKILL of node2's TUN owner removes node2's next hop;
# the RFC 8326 drain switch (deploy/bird/anysteer-drain.conf) on node3
# takes node3 out of the ECMP group and back.
# Prints how long each withdrawal took in the router's kernel table, from
# the signal to the route change as timestamped by `ip -ts monitor`
# (the clock is read just before the signal, so the figures include a
# fork of date(1): upper bounds by about a millisecond).
#
# Standalone: top_builddir=/tmp/build-routing top_srcdir=/work/main \
#             tests/integration/routing-failover.sh
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
HOLDER_BIN=$top_builddir/tests/unit/test_routing_holder
BIRD=${BIRD:-/usr/sbin/bird}
ANY=fd00:53::53
NODES="1 2 3"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
if [ ! -x "$BIRD" ]; then echo "SKIP: $BIRD not installed"; exit 77; fi
if [ ! -x "$HOLDER_BIN" ]; then
	echo "SKIP: $HOLDER_BIN not built (make tests/unit/test_routing_holder)"
	exit 77
fi
command -v ip >/dev/null || { echo "SKIP: iproute2 missing"; exit 77; }

P=asr$$
R=$P-r
tmp=$(mktemp -d /tmp/anysteer-failover.XXXXXX)
NETNS=""
PIDS=""

cleanup() {
	for pid in $PIDS; do kill -9 "$pid" 2>/dev/null; done
	for f in "$tmp"/*/bird.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	for ns in $NETNS; do ip netns del "$ns" 2>/dev/null; done
	# a veth end still in our namespace if setup failed half-way
	for n in $NODES; do ip link del "$P-v$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	echo "--- router route:"; ip -n "$R" -6 route show "$ANY/128" 2>&1
	for n in $NODES; do
		echo "--- node$n BIRD:"
		birdc -s "$tmp/n$n/bird.ctl" show protocols 2>&1 | tail -n +2
	done
	exit 1
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

mkns() {
	ip netns add "$1" || fail "ip netns add $1"
	NETNS="$NETNS $1"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}

# Next hops of the router's kernel route to the anycast address, one per line.
hops() {
	ip -n "$R" -6 route show "$ANY/128" 2>/dev/null |
		grep -o 'via [0-9a-f:]*' | awk '{print $2}' | sort
}
nhops() { hops | grep -c . ; }

# wait_until TIMEOUT_MS COMMAND...: polls until COMMAND succeeds.
wait_until() {
	limit=$(( $(now_ms) + $1 )); shift
	while ! "$@"; do
		[ "$(now_ms)" -gt "$limit" ] && return 1
		sleep 0.002
	done
	return 0
}
has_hops() { [ "$(nhops)" = "$1" ]; }

# Precise timing: polling with `ip` costs milliseconds per round on a busy
# machine, so delays are read from `ip -ts monitor route` in the router
# namespace instead. clock_tod prints the time of day in seconds (the
# clock the monitor's timestamps use); mon_delay START HOP prints the ms
# from START to the first change of the anycast route that lacks HOP.
clock_tod() { date +%H:%M:%S.%N | awk -F: '{ printf "%.6f\n", $1 * 3600 + $2 * 60 + $3 }'; }
mon_delay() {
	awk -v start="$1" -v hop="$2" -v any="$ANY" '
	function flush() {
		if (rec != "" && index(rec, any) && !index(rec, "via " hop " ")) {
			d = (ts - start) * 1000
			if (d < 0) d += 86400000
			printf "%.1f\n", d; found = 1; exit
		}
	}
	/^\[/ {
		flush()
		split(substr($1, 2, length($1) - 2), p, "T")
		split(p[2], t, ":")
		ts = t[1] * 3600 + t[2] * 60 + t[3]
		rec = (ts >= start) ? $0 : ""
		next
	}
	{ if (rec != "") rec = rec " " $0 }
	END { if (!found) flush() }' "$tmp/rmon.log"
}
# mon_gone START: ms from START until node2's monitor saw anysteer0 deleted.
mon_gone() {
	awk -v start="$1" '
	/^\[/ && /Deleted/ && /anysteer0/ {
		split(substr($1, 2, length($1) - 2), p, "T")
		split(p[2], t, ":")
		ts = t[1] * 3600 + t[2] * 60 + t[3]
		if (ts < start) next
		printf "%.1f\n", (ts - start) * 1000; exit
	}' "$tmp/n2mon.log"
}
lacks_hop() { ! hops | grep -qx "$1"; }
has_hop() { hops | grep -qx "$1"; }

# ---- topology -------------------------------------------------------------
mkns "$R"
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.forwarding=1 \
	net.ipv6.fib_multipath_hash_policy=1
ip -n "$R" link add br0 type bridge || fail "bridge"
ip -n "$R" addr add fd00:1::1/64 dev br0 nodad
ip -n "$R" link set br0 up
mkdir -p "$tmp/r"
cp "$top_srcdir/deploy/bird/upstream.conf" "$tmp/r/bird.conf"

for n in $NODES; do
	ns=$P-n$n
	mkns "$ns"
	ip link add "$P-v$n" type veth peer name eth0 netns "$ns" || fail "veth"
	ip link set "$P-v$n" netns "$R"
	ip -n "$R" link set "$P-v$n" master br0 up
	ip -n "$ns" addr add "fd00:1::1$n/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	mkdir -p "$tmp/n$n"
	cp "$top_srcdir/deploy/bird/node.conf" \
		"$top_srcdir/deploy/bird/anysteer-drain.conf" "$tmp/n$n/"
	cat >"$tmp/n$n/anysteer-node-params.conf" <<EOF
define NODE_ROUTER_ID = 10.0.0.1$n;
define NODE_ADDR = fd00:1::1$n;
define NODE_AS = 65001;
define UPSTREAM_ADDR = fd00:1::1;
define UPSTREAM_AS = 65000;
define ANYCAST_PREFIXES = [ fd00:53::/64{128,128} ];
EOF
done

ip netns exec "$R" "$BIRD" -c "$tmp/r/bird.conf" -s "$tmp/r/bird.ctl" \
	-P "$tmp/r/bird.pid" || fail "router BIRD did not start"
for n in $NODES; do
	ip netns exec "$P-n$n" "$BIRD" -c "$tmp/n$n/node.conf" \
		-s "$tmp/n$n/bird.ctl" -P "$tmp/n$n/bird.pid" ||
		fail "node$n BIRD did not start"
done
for n in $NODES; do
	ip netns exec "$P-n$n" "$HOLDER_BIN" anysteer0 "$ANY" \
		>"$tmp/n$n/holder.out" 2>&1 &
	eval "HOLDER$n=$!"
	PIDS="$PIDS $!"
done
for n in $NODES; do
	wait_until 5000 grep -q ready "$tmp/n$n/holder.out" ||
		fail "holder $n not ready: $(cat "$tmp/n$n/holder.out")"
done

ip -n "$R" -ts monitor route >"$tmp/rmon.log" 2>&1 &
PIDS="$PIDS $!"
ip -n "$P-n2" -ts monitor link >"$tmp/n2mon.log" 2>&1 &
PIDS="$PIDS $!"

# ---- 1: one next hop per node ----------------------------------------------
t0=$(now_ms)
wait_until 20000 has_hops 3 || fail "expected 3 next hops, got $(nhops)"
echo "ok: 3 next hops after $(( $(now_ms) - t0 )) ms of BGP convergence: $(hops | tr "\n" " ")"
for n in $NODES; do
	has_hop "fd00:1::1$n" || fail "no next hop via node$n"
done

# ---- 2: carrier off (drain) withdraws, carrier on restores -------------------
t0=$(clock_tod)
kill -USR1 "$HOLDER1"
wait_until 3000 lacks_hop fd00:1::11 || fail "node1 still a next hop after carrier off"
sleep 0.1 # let the monitor write
[ "$(nhops)" = 2 ] || fail "carrier off on node1 left $(nhops) next hops"
echo "ok: carrier off on node1 -> next hop gone in $(mon_delay "$t0" fd00:1::11) ms"
# the address stays on node1 while withdrawn (in-flight queries still land)
ip -n "$P-n1" -6 addr show dev anysteer0 | grep -q "$ANY" ||
	fail "carrier off removed the address"
kill -USR2 "$HOLDER1"
t0=$(now_ms)
wait_until 5000 has_hop fd00:1::11 || fail "node1 not back after carrier on"
echo "ok: carrier on on node1 -> next hop back in $(( $(now_ms) - t0 )) ms"

# ---- 3: SIGKILL of the TUN owner withdraws ---------------------------------
t0=$(clock_tod)
kill -9 "$HOLDER2"
wait_until 3000 lacks_hop fd00:1::12 || fail "node2 still a next hop after SIGKILL"
sleep 0.1
wait "$HOLDER2" 2>/dev/null
[ "$(nhops)" = 2 ] || fail "SIGKILL on node2 left $(nhops) next hops"
ip -n "$P-n2" link show anysteer0 >/dev/null 2>&1 && fail "anysteer0 survived its owner"
echo "ok: SIGKILL of node2's TUN owner -> next hop gone in $(mon_delay "$t0" fd00:1::12) ms" \
	"(device gone on node2 after $(mon_gone "$t0") ms)"
# ---- 4: RFC 8326 maintenance drain of node3's BIRD -------------------------
# GRACEFUL_SHUTDOWN makes the upstream drop node3 from the ECMP group
# (local-pref 0) while node3 still announces; clearing it brings it back.
sed -i 's/ANYSTEER_DRAINING = 0/ANYSTEER_DRAINING = 1/' "$tmp/n3/anysteer-drain.conf"
birdc -s "$tmp/n3/bird.ctl" configure >/dev/null || fail "birdc configure node3"
wait_until 5000 lacks_hop fd00:1::13 || fail "node3 still in ECMP while gracefully shutting down"
[ "$(hops)" = fd00:1::11 ] || fail "expected only node1 left, got $(hops | tr '\n' ' ')"
birdc -s "$tmp/r/bird.ctl" show route "$ANY/128" all | grep -q '(65535,0)' ||
	fail "router did not receive the GRACEFUL_SHUTDOWN community"
echo "ok: RFC 8326 on node3 -> out of the ECMP group, route still received"
sed -i 's/ANYSTEER_DRAINING = 1/ANYSTEER_DRAINING = 0/' "$tmp/n3/anysteer-drain.conf"
birdc -s "$tmp/n3/bird.ctl" configure >/dev/null || fail "birdc configure node3"
wait_until 5000 has_hop fd00:1::13 || fail "node3 not back after graceful shutdown ended"
echo "ok: graceful shutdown over -> node3 back"
echo "PASS"
