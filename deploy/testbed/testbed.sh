#!/bin/sh
# An emulated anysteer cluster in network namespaces (needs root, BIRD 2,
# iproute2, kdig).
#
#   router  ($P-r)  bridge br0 fd00:1::1/64 to every node, fd00:2::1/64 to
#                   the client; BIRD with deploy/bird/upstream.conf (one
#                   BGP+BFD session per node, ECMP `merge paths`),
#                   forwarding=1, fib_multipath_hash_policy=1 (L4 hash)
#   node i  ($P-nI) eth0 fd00:1::1:I/64; BIRD with deploy/bird/node.conf;
#                   anysteerd owning anysteer0 with the anycast address
#                   fd00:53::53 (node name nodeI, also its NSID)
#   client  ($P-c)  eth0 fd00:2::2/64, default route via the router
#
# Optional parts (for the evaluation harness, tests/eval; all off by default):
#   pods    ($P-nI-pJ) J = 1..PODS per node: eth0 fd00:10:0:I::J/128 (I, J
#                   in hex), default route via fe80::1 on the node's veth pJ;
#                   the node forwards and its BIRD announces the node's pod
#                   prefix fd00:10:0:I::/64 (a static route) to the router.
#                   Nothing runs in a pod: the caller starts its server.
#   ingress ($P-gK) K = 1..INGRESS: eth0 fd00:1::2:K on the bridge, the VIP
#                   fd00:80::80 on vip0 (one end of a veth pair), BIRD announcing it like a
#                   node announces fd00:53::53 (MetalLB in BGP mode): the
#                   router has an ECMP route over the ingress nodes. Nothing
#                   else runs there: the caller starts its proxy.
#   sites   ($P-cS) S = 2..SITES: more clients, eth0 fd00:2:0:S-1::2/64 (hex)
#                   (site 1 is $P-c above)
#   SR      (--sr)  SRv6 routers between the client site and the router
#                   (issue 17, docs/srv6.md), a diamond:
#
#                     client -- ra -+- rb -+- router -- nodes
#                                   `- rc -'
#                   $P-ra, $P-rb, $P-rc forward with seg6_enabled=1; they
#                   and the router have End SIDs fd00:5a::a|b|c|1 on lo.
#                   The client's eth0 (still fd00:2::2/64, default via
#                   fd00:2::1) goes to ra instead of the router. Links
#                   fd00:5c:L::/64 (ra-rb 2, ra-rc 3, rb-router 4,
#                   rc-router 5; first name ::1), the interface facing
#                   peer X is named to-X. Static routes send unsteered
#                   traffic via rb both ways; the ra-rc and rc-router links
#                   are shaped by TBF (both directions) to
#                   TESTBED_SR_SHAPED_KBPS. Decapsulating SIDs on lo:
#                   the client fd00:5b::2:2, node I fd00:5b::1:I (the
#                   router routes each to its node). The topology file
#                   (format: docs/srv6.md) is $DIR/sr-topology.yaml,
#                   written before the agents start; `env` prints its
#                   path. Nothing steers by itself: the senders' tc
#                   programs (the agent, or tests/unit/test_srv6_holder)
#                   push the segment lists and decapsulate.
#
# Usage: testbed.sh [--build DIR] COMMAND ...  (DIR: the build directory
#                               with agent/anysteerd, see top_builddir below)
#        testbed.sh up [N] [--pods-per-node K] [--ingress K] [--sites S]
#                          [--letters L] [--sr]
#                               start N nodes (default 3, up to 200); the
#                               zone has two anycast addresses (--letters 2,
#                               the default, as docs/operations.md advises):
#                               fd00:53::53 announced by the odd nodes and
#                               fd00:53::54 by the even ones, both in the
#                               zone's NS glue; --letters 1: every node
#                               announces fd00:53::53 (ECMP over all nodes).
#                               Raises the kernel's IPv6 neighbour table
#                               limits (net.ipv6.neigh.default.gc_thresh2/3,
#                               host-wide) when N needs more than they allow
#        testbed.sh down        stop everything it started, by PID file
#                               and namespace name
#        testbed.sh status [I]  a picture of the topology (client, router,
#                               nodes: announcing or not, load, who answered
#                               the last `query`/demo batch), the router's
#                               route and BGP/BFD sessions, one line per
#                               node (agent, anycast state, BIRD export,
#                               gossip members alive), the gossip members;
#                               with I: node I's full `routes` and `members`
#        testbed.sh demo        up 3 with a pod per node serving HTTP,
#                               queries, answer shares before and after
#                               node2 becomes hot (checked against the
#                               formula), kill -9 of node1's agent,
#                               failover, an HTTP fetch from the client to
#                               the pod the DNS answer names, down
#   for tests and the benchmark:
#        testbed.sh env                      prints the names below as sh vars
#        testbed.sh hops [ADDR]              router next hops (to every letter,
#                                            or to ADDR), one per line
#        testbed.sh wait-hops COUNT [SEC]    until the route has COUNT hops
#        testbed.sh wait-members [SEC]       until every running agent sees
#                                            every running agent alive
#        testbed.sh agent-start I | agent-kill I [SIG] | agent-wait I
#        testbed.sh bird-start I  | bird-kill I
#        testbed.sh link I up|down           the router side of node I's link
#        testbed.sh ctl I ARGS...            anysteerctl against node I
#                                            (routes, members, drain, ...)
#        testbed.sh sr-link A B up|down      (--sr) the interface of SR
#                                            router A facing B (ra rb rc
#                                            router)
#        testbed.sh query [COUNT]            kdig from the client, with NSID
#
# Environment: ANYSTEERD, ANYSTEERCTL (default: $top_builddir/agent/...;
# top_builddir, or --build DIR, default: the source tree after an in-tree
# build, else $top/_build/demo as deploy/demo.sh builds it), BIRD
# (/usr/sbin/bird),
# TESTBED_DIR (/tmp/anysteer-testbed), TESTBED_PREFIX (astb),
# TESTBED_LINGER (drain.linger, default 2s), TESTBED_FAST_WITHDRAW
# (bird.fast_withdraw, default 1; 0 = carrier only), TESTBED_BFD_MS (BFD
# tx/rx interval on nodes and router in ms, default that of deploy/bird:
# 50, i.e. 50 ms x 3 = 150 ms detection),
# TESTBED_SERVICES_FILE (a YAML `services:` section that replaces the
# default `web` service in every node's configuration: the static catalog;
# each node publishes its own endpoints, gossip brings the rest),
# TESTBED_HEALTH_INTERVAL (health.interval of the nodes, default 0s: the
# default catalog's endpoint does not listen),
# TESTBED_LOAD (static, the default: every node's load signal is pinned
# at 0.3 with load.source: static, since all nodes share this machine's
# CPU; measured: load.signal cpu, the host's CPU),
# TESTBED_FORWARD_UPSTREAMS and TESTBED_FORWARD_ALLOW (dns.forward of every
# node, YAML flow lists such as '["[fd00:2::2]:53"]' and '["fd00:2::/48"]':
# clients in ALLOW may use the anycast address as their only resolver;
# anysteerd refuses one without the other). Every node allows the
# test knob `testbed.sh ctl I load set VALUE|clear` (load.override).
# With --sr: TESTBED_SR_SHAPED_KBPS (the TBF rate of the rc path in
# kbit/s, default 100000), TESTBED_SR_FAST_KBPS (a TBF rate for the rb
# path too; default none: unshaped, declared at the 10 Gbit/s veth
# reports), TESTBED_SR_AGENT (1: every node's agent runs the SRv6 data
# plane: `srv6: { enabled: true, topology: FILE, interfaces: [eth0],
# probe_interval: 0s }`; default 0). TESTBED_ZONES=K puts node I in zone
# zJ, J = (I-1) mod K + 1 (node.zone; default 0: no zones).
# TESTBED_CLIENT_ZONES: dns.client_zones of every node, a YAML flow list
# such as '[{prefix: "fd00:2:0:1::/64", zone: z1}]' (default none).
# Addresses are ULA only; every address is added with nodad and
# accept_dad=0 is set in each namespace before interfaces exist.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${1:-}" = --build ]; then
	[ $# -ge 2 ] || { echo "testbed: --build needs a directory" >&2; exit 2; }
	top_builddir=$(cd "$2" && pwd) || exit 2
	shift 2
fi
if [ -z "${top_builddir:-}" ]; then
	if [ -f "$top/config.status" ]; then top_builddir=$top; else top_builddir=$top/_build/demo; fi
fi
ANYSTEERD=${ANYSTEERD:-$top_builddir/agent/anysteerd}
ANYSTEERCTL=${ANYSTEERCTL:-$top_builddir/agent/anysteerctl}
BIRD=${BIRD:-/usr/sbin/bird}
DIR=${TESTBED_DIR:-/tmp/anysteer-testbed}
P=${TESTBED_PREFIX:-astb}
LINGER=${TESTBED_LINGER:-2s}
FAST_WITHDRAW=${TESTBED_FAST_WITHDRAW:-1}
BFD_MS=${TESTBED_BFD_MS:-}
SERVICES_FILE=${TESTBED_SERVICES_FILE:-}
HEALTH_INTERVAL=${TESTBED_HEALTH_INTERVAL:-0s}
LOAD=${TESTBED_LOAD:-static}
FORWARD_UPSTREAMS=${TESTBED_FORWARD_UPSTREAMS:-}
FORWARD_ALLOW=${TESTBED_FORWARD_ALLOW:-}
CLIENT_ZONES=${TESTBED_CLIENT_ZONES:-}
SR_SHAPED_KBPS=${TESTBED_SR_SHAPED_KBPS:-100000}
SR_FAST_KBPS=${TESTBED_SR_FAST_KBPS:-}
SR_AGENT=${TESTBED_SR_AGENT:-0}
ZONES=${TESTBED_ZONES:-0}
case $ZONES in ''|*[!0-9]*) echo "testbed: TESTBED_ZONES must be a number" >&2; exit 2 ;; esac
STATIC_LOAD=0.3
ANY=fd00:53::53
ANY2=fd00:53::54
VIP=fd00:80::80
ZONE=svc.example.
R=$P-r
C=$P-c

die() { echo "testbed: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
node_ns() { echo "$P-n$1"; }
node_addr() { echo "fd00:1::1:$1"; }
nodes() { [ -f "$DIR/nodes" ] && seq 1 "$(cat "$DIR/nodes")"; }
# The optional parts, as recorded by `up` (0 when absent).
count_of() { cat "$DIR/$1" 2>/dev/null || echo 0; }
pod_ns() { echo "$P-n$1-p$2"; }
pod_prefix() { printf 'fd00:10:0:%x::/64' "$1"; }
pod_addr() { printf 'fd00:10:0:%x::%x' "$1" "$2"; }
ingress_ns() { echo "$P-g$1"; }
ingress_addr() { echo "fd00:1::2:$1"; }
site_ns() { if [ "$1" = 1 ]; then echo "$C"; else echo "$P-c$1"; fi; }
# Whether PID runs (a zombie does not: nothing may reap our orphans).
alive() {
	[ -n "$1" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

mkns() {
	ip netns add "$1" || die "ip netns add $1"
	echo "$1" >>"$DIR/namespaces"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0 >/dev/null
	ip -n "$1" link set lo up
}

# Kills the process in a PID file (if it is still the one we started)
# and removes the file.
kill_pidfile() {
	f=$1; sig=${2:-TERM}
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null)
	if alive "$pid"; then
		kill -"$sig" "$pid" 2>/dev/null
		i=0
		while alive "$pid" && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$f"
}

# The zone's anycast addresses: $ANY, and with --letters 2 also $ANY2,
# each announced by the nodes whose name picks it (anycast.announce: one).
letters() { if [ "$(count_of letters)" = 2 ]; then echo "$ANY $ANY2"; else echo "$ANY"; fi; }
# Next hops of the router's routes to one address, or to every letter.
hops_of() {
	ip -n "$R" -6 route show "$1/128" 2>/dev/null |
		grep -o 'via [0-9a-f:]*' | awk '{print $2}'
}
hops() { for a in $(letters); do hops_of "$a"; done | sort; }
# The letter node I announces: with two, odd nodes $ANY and even ones
# $ANY2 (set per node, so the halves are exact; a DaemonSet with one
# config uses anycast.announce: one instead, see docs/operations.md).
node_letter() {
	if [ "$(count_of letters)" = 2 ] && [ $(($1 % 2)) = 0 ]; then echo "$ANY2"; else echo "$ANY"; fi
}
nhops() { hops | grep -c . ; }

wait_hops() {
	want=$1; limit=$(( $(now_ms) + ${2:-30} * 1000 ))
	while [ "$(nhops)" != "$want" ]; do
		[ "$(now_ms)" -gt "$limit" ] && return 1
		sleep 0.05
	done
	return 0
}

# Until every running agent lists every running agent as alive.
wait_members() {
	limit=$(( $(now_ms) + ${1:-30} * 1000 ))
	while :; do
		want=0; up=
		for i in $(nodes); do
			alive "$(cat "$DIR/n$i/anysteerd.pid" 2>/dev/null)" || continue
			want=$((want + 1)); up="$up $i"
		done
		ok=1
		for i in $up; do
			n=$(ctl "$i" --json members 2>/dev/null | grep -c '"state": "alive"')
			[ "$n" = "$want" ] || { ok=0; break; }
		done
		[ $ok = 1 ] && return 0
		[ "$(now_ms)" -gt "$limit" ] && return 1
		sleep 0.1
	done
}

ctl() {
	i=$1; shift
	ip netns exec "$(node_ns "$i")" "$ANYSTEERCTL" --socket "$DIR/n$i/ctl.sock" "$@"
}

bird_start() {
	i=$1
	ip netns exec "$(node_ns "$i")" "$BIRD" -c "$DIR/n$i/node.conf" \
		-s "$DIR/n$i/bird.ctl" -P "$DIR/n$i/bird.pid" ||
		die "BIRD on node$i did not start"
}

agent_start() {
	i=$1
	[ -f "$DIR/n$i/anysteerd.pid" ] && alive "$(cat "$DIR/n$i/anysteerd.pid")" &&
		die "node$i's agent is already running"
	# `ip netns exec` execs, so $! is anysteerd itself.
	ip netns exec "$(node_ns "$i")" "$ANYSTEERD" --config "$DIR/n$i/anysteer.yaml" \
		--foreground --log-level info >>"$DIR/n$i/anysteerd.log" 2>&1 &
	echo $! >"$DIR/n$i/anysteerd.pid"
}

# Until node i's agent answers on its control socket and announces.
agent_wait() {
	i=$1; limit=$(( $(now_ms) + ${2:-20} * 1000 ))
	until ctl "$i" --json routes 2>/dev/null | grep -q '"state": "announced"'; do
		if [ "$(now_ms)" -gt "$limit" ] ||
		   ! alive "$(cat "$DIR/n$i/anysteerd.pid" 2>/dev/null)"; then
			echo "testbed: node$i's agent did not come up:" >&2
			tail -20 "$DIR/n$i/anysteerd.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

write_node_files() {
	i=$1; d=$DIR/n$i
	mkdir -p "$d"
	cp "$top/deploy/bird/anysteer-drain.conf" "$d/"
	bfd_sed <"$top/deploy/bird/node.conf" >"$d/node.conf"
	prefixes="fd00:53::/64{128,128}"
	if [ "$(count_of pods)" -gt 0 ]; then
		# The node's pod prefix leaves through the same export filter
		# (as a CNI's BGP speaker would announce it).
		prefixes="$prefixes, $(pod_prefix "$i")"
		cat >>"$d/node.conf" <<EOF

# testbed: this node's pod prefix (one /128 route per pod in the kernel).
protocol static pods {
	ipv6;
	route $(pod_prefix "$i") unreachable;
}
EOF
	fi
	cat >"$d/anysteer-node-params.conf" <<EOF
define NODE_ROUTER_ID = 10.0.$((i / 250)).$((i % 250 + 1));
define NODE_ADDR = $(node_addr "$i");
define NODE_AS = 65001;
define UPSTREAM_ADDR = fd00:1::1;
define UPSTREAM_AS = 65000;
define ANYCAST_PREFIXES = [ $prefixes ];
EOF
	cat >"$d/anysteer.yaml" <<EOF
# testbed node $i (generated by deploy/testbed/testbed.sh)
node:
  name: node$i
$(zone_yaml "$i")
dns:
  listen: ["[$(node_addr "$i")]:53", "[::1]:53"]
  zone: $ZONE
  workers: 1
  ns_addresses: [$(letters | sed 's/\([^ ]*\)/"\1"/g; s/ /, /g')]
  # Every client site is in fd00:2::/56 (one RRL prefix) and the
  # evaluation offers thousands of queries a second from them.
  rrl: { enabled: false }
$(forward_yaml)
$(client_zones_yaml)
control:
  socket: $d/ctl.sock
  test_commands: true
metrics:
  listen: "[::1]:9153"
anycast:
  addresses: ["$(node_letter "$i")"]
  interface: anysteer0
  wait_for_gossip: true
bird:
  socket: $d/bird.ctl
  fast_withdraw: $([ "$FAST_WITHDRAW" = 0 ] && echo false || echo true)
drain:
  linger: $LINGER
gossip:
  bind: "[$(node_addr "$i")]:7946"
  seeds: [$(gossip_seeds "$i")]
  cluster: testbed
  keyring: $d/keyring
health:
  interval: $HEALTH_INTERVAL   # 0s: nothing listens on the default endpoint
$(load_yaml)
$(services_yaml "$i")
$(sr_agent_yaml)
EOF
	# One cluster key, generated once, a copy per node (each node
	# persists its own keyring on rotation).
	[ -s "$DIR/keyring" ] || (umask 077; "$ANYSTEERD" --generate-key >"$DIR/keyring") ||
		die "cannot generate a gossip key"
	install -m 600 "$DIR/keyring" "$d/keyring"
}

# The `load:` section: every node measures the same shared CPU, so the
# signal is pinned unless TESTBED_LOAD=measured; the override test knob
# is on (the demo makes a node hot with it).
load_yaml() {
	printf 'load:\n  override: true   # test knob: testbed.sh ctl I load set VALUE\n'
	if [ "$LOAD" = static ]; then
		printf '  source: static\n  value: %s\n' "$STATIC_LOAD"
	fi
}

# node.zone of node $1 with TESTBED_ZONES=K: zone zJ, J = (I-1) mod K + 1
# (round robin, so every zone has nodes of every part of the cluster).
zone_yaml() {
	[ "$ZONES" -gt 0 ] || return 0
	printf '  zone: z%d\n' $(( ($1 - 1) % ZONES + 1 ))
}

# The SRv6 data plane of a node (TESTBED_SR_AGENT=1): the topology file,
# eth0's tc programs (egress steers this node's traffic to services with
# a path intent, ingress decapsulates packets that end at the node's
# SID). No link probes from the nodes: their only link is router-node,
# and the client's end-host agent (which tests start) probes the SR part.
sr_agent_yaml() {
	sr_on && [ "$SR_AGENT" = 1 ] || return 0
	printf 'srv6:\n  enabled: true\n  topology: %s\n  interfaces: [eth0]\n  probe_interval: 0s\n' \
		"$(sr_topology)"
}

# dns.forward, when TESTBED_FORWARD_UPSTREAMS is set.
forward_yaml() {
	[ -n "$FORWARD_UPSTREAMS" ] || return 0
	printf '  forward:\n    upstreams: %s\n    allow: %s\n' "$FORWARD_UPSTREAMS" "$FORWARD_ALLOW"
}

# dns.client_zones, when TESTBED_CLIENT_ZONES is set.
client_zones_yaml() {
	[ -n "$CLIENT_ZONES" ] || return 0
	printf '  client_zones: %s\n' "$CLIENT_ZONES"
}

# The `services:` section of node $1: TESTBED_SERVICES_FILE, or one `web`
# service whose endpoint (which nothing serves) is on this node.
services_yaml() {
	if [ -n "$SERVICES_FILE" ]; then
		cat "$SERVICES_FILE"
	else
		printf 'services:\n  - name: web\n    port: 443\n    endpoints:\n'
		printf '      - { address: "fd00:10::%s", node: node%s }\n' "$1" "$1"
	fi
}

# Copies a BIRD config, with TESTBED_BFD_MS as the BFD intervals if set.
bfd_sed() {
	if [ -n "$BFD_MS" ]; then
		sed -e "s/min rx interval [0-9]* ms/min rx interval $BFD_MS ms/" \
		    -e "s/min tx interval [0-9]* ms/min tx interval $BFD_MS ms/"
	else
		cat
	fi
}

# Gossip seeds of node $1: the first three nodes other than itself.
gossip_seeds() {
	n=$(cat "$DIR/nodes"); k=0; sep=
	for j in $(seq 1 "$n"); do
		[ "$j" = "$1" ] && continue
		printf '%s"[%s]:7946"' "$sep" "$(node_addr "$j")"; sep=", "
		k=$((k + 1)); [ "$k" -ge 3 ] && break
	done
}

# The upstream router's config: deploy/bird/upstream.conf with one BGP
# session per node instead of the example's three, and room for more
# than BIRD's default 16 ECMP paths. With pods or ingress nodes it also
# takes the pod /64s and the ingress VIP, and has a session per ingress
# node.
write_router_conf() {
	n=$1
	mkdir -p "$DIR/r"
	sed -e '/^protocol bgp node[0-9]* from anysteer_node/d' \
	    -e 's/merge paths on;/merge paths on limit 255;/' \
	    -e 's|^define ANYCAST_PREFIXES = \[ fd00:53::/64{128,128} \];|define ANYCAST_PREFIXES = [ fd00:53::/64{128,128}, fd00:80::/64{128,128}, fd00:10::/48{64,64} ];|' \
		"$top/deploy/bird/upstream.conf" | bfd_sed >"$DIR/r/bird.conf"
	grep -q 'fd00:10::/48{64,64}' "$DIR/r/bird.conf" ||
		die "deploy/bird/upstream.conf: its ANYCAST_PREFIXES line changed; update write_router_conf"
	for i in $(seq 1 "$n"); do
		echo "protocol bgp node$i from anysteer_node { neighbor $(node_addr "$i") as NODE_AS; }"
	done >>"$DIR/r/bird.conf"
	for k in $(seq 1 "$(count_of ingress)"); do
		echo "protocol bgp ingress$k from anysteer_node { neighbor $(ingress_addr "$k") as NODE_AS; }"
	done >>"$DIR/r/bird.conf"
}

# Pod namespaces of node $1 (after the node's eth0 exists).
add_pods() {
	i=$1; ns=$(node_ns "$i")
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1 >/dev/null
	for j in $(seq 1 "$(count_of pods)"); do
		pns=$(pod_ns "$i" "$j"); a=$(pod_addr "$i" "$j")
		mkns "$pns"
		ip -n "$ns" link add "p$j" type veth peer name eth0 netns "$pns" ||
			die "pod veth $i/$j"
		ip -n "$ns" addr add fe80::1/64 dev "p$j" nodad
		ip -n "$ns" link set "p$j" up
		ip -n "$pns" addr add "$a/128" dev eth0 nodad
		ip -n "$pns" link set eth0 up
		ip -n "$pns" -6 route add default via fe80::1 dev eth0 || die "pod route $i/$j"
		ip -n "$ns" -6 route add "$a/128" dev "p$j" || die "node route to pod $i/$j"
	done
}

# Ingress node $1: the VIP on a local device, BIRD announcing it with the
# node configuration (its direct protocol watching vip0 instead of the
# agent's TUN).
add_ingress() {
	k=$1; ns=$(ingress_ns "$k"); d=$DIR/g$k
	mkns "$ns"
	ip link add "$P-i$k" type veth peer name eth0 netns "$ns" || die "ingress veth $k"
	ip link set "$P-i$k" netns "$R"
	ip -n "$R" link set "$P-i$k" master br0 up
	ip -n "$ns" addr add "$(ingress_addr "$k")/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	ip -n "$ns" -6 route add default via fd00:1::1
	# A veth pair stands in for a dummy device (this kernel has no dummy
	# driver): it has carrier while both ends are up.
	ip -n "$ns" link add vip0 type veth peer name vip0p || die "ingress $k: vip0"
	ip -n "$ns" addr add "$VIP/128" dev vip0 nodad
	ip -n "$ns" link set vip0p up
	ip -n "$ns" link set vip0 up
	mkdir -p "$d"
	cp "$top/deploy/bird/anysteer-drain.conf" "$d/"
	sed 's/interface "anysteer0";/interface "vip0";/' "$top/deploy/bird/node.conf" |
		bfd_sed >"$d/node.conf"
	grep -q 'interface "vip0";' "$d/node.conf" || die "deploy/bird/node.conf: no anysteer0 interface line"
	cat >"$d/anysteer-node-params.conf" <<EOF
define NODE_ROUTER_ID = 10.1.$((k / 250)).$((k % 250 + 1));
define NODE_ADDR = $(ingress_addr "$k");
define NODE_AS = 65001;
define UPSTREAM_ADDR = fd00:1::1;
define UPSTREAM_AS = 65000;
define ANYCAST_PREFIXES = [ fd00:80::/64{128,128} ];
EOF
	ip netns exec "$ns" "$BIRD" -c "$d/node.conf" -s "$d/bird.ctl" -P "$d/bird.pid" ||
		die "BIRD on ingress$k did not start"
}

# Client site $1 >= 2 (site 1 is made with the router).
add_site() {
	s=$1; ns=$(site_ns "$s"); net=$(printf 'fd00:2:0:%x' $((s - 1)))
	mkns "$ns"
	ip link add "$P-cl$s" type veth peer name eth0 netns "$ns" || die "site veth $s"
	ip link set "$P-cl$s" netns "$R"
	ip -n "$R" addr add "$net::1/64" dev "$P-cl$s" nodad
	ip -n "$R" link set "$P-cl$s" up
	ip -n "$ns" addr add "$net::2/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	ip -n "$ns" -6 route add default via "$net::1"
}

# Until the router has a route to every node's pod prefix.
wait_pod_routes() {
	n=$1; limit=$(( $(now_ms) + ${2:-30} * 1000 ))
	while [ "$(ip -n "$R" -6 route show | grep -c '^fd00:10:0:[0-9a-f]*::/64 ')" != "$n" ]; do
		[ "$(now_ms)" -gt "$limit" ] && return 1
		sleep 0.05
	done
}

vip_hops() {
	ip -n "$R" -6 route show "$VIP/128" 2>/dev/null | grep -c 'via '
}

# ---- SR option (--sr, issue 17) ----------------------------------------
# Names are those of the topology file; node I is nodeI.
SR_ROUTERS="ra rb rc router"
# Router links: A B SUBNET(/64) PATH (fast: rb, the default route; shaped: rc).
SR_LINKS="ra rb fd00:5c:2 fast
ra rc fd00:5c:3 shaped
rb router fd00:5c:4 fast
rc router fd00:5c:5 shaped"
# What veth reports (/sys/class/net/*/speed: 10000 Mb/s) stands for an
# unshaped link's bandwidth; no netem here, so every link is declared
# with the same nominal latency.
SR_VETH_KBPS=10000000
SR_LATENCY_US=50
# The rb path costs more (a metered transit, say): `cost` then prefers
# the shaped rc path, `bandwidth` the rb path, `latency` ties (same
# latency, same hops) and takes rb by name.
SR_FAST_COST=10
sr_on() { [ "$(count_of sr)" = 1 ]; }
sr_topology() { echo "$DIR/sr-topology.yaml"; }
sr_ns() {
	case $1 in
	client) echo "$C" ;; router) echo "$R" ;;
	node*) node_ns "${1#node}" ;; *) echo "$P-$1" ;;
	esac
}
sr_sid() {
	case $1 in
	ra) echo fd00:5a::a ;; rb) echo fd00:5a::b ;; rc) echo fd00:5a::c ;;
	router) echo fd00:5a::1 ;; client) echo fd00:5b::2:2 ;;
	node*) echo "fd00:5b::1:${1#node}" ;;
	esac
}
# The interface of $1 facing $2 (the client and nodes keep eth0).
sr_if() { case $1 in client|node*) echo eth0 ;; *) echo "to-$2" ;; esac; }
# A path's TBF rate in kbit/s, empty when unshaped.
sr_rate() { if [ "$1" = shaped ]; then echo "$SR_SHAPED_KBPS"; else echo "$SR_FAST_KBPS"; fi; }
sr_sysctl() {
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.all.seg6_enabled=1 net.ipv6.conf.default.seg6_enabled=1 >/dev/null
}
# TBF at $3 kbit/s on interface $2 of namespace $1: a burst of 10 ms at
# the rate (at least 64 kB, so a GSO packet passes whole), 20 ms queue.
sr_shape() {
	burst=$(( $3 * 1000 / 8 / 100 )); [ "$burst" -ge 65536 ] || burst=65536
	ip netns exec "$1" tc qdisc replace dev "$2" root tbf rate "$3"kbit \
		burst "$burst" latency 20ms || die "tc tbf on $1 $2"
}

# The SR routers and the client site's link to ra (the router's side of
# it and the nodes' SIDs are added by cmd_up).
sr_build() {
	for r in ra rb rc; do mkns "$(sr_ns "$r")"; sr_sysctl "$(sr_ns "$r")"; done
	# The kernel takes the larger of `all` and the interface's
	# seg6_enabled: `all` covers the router's existing interfaces too.
	sr_sysctl "$R"
	for r in $SR_ROUTERS; do
		ip -n "$(sr_ns "$r")" addr add "$(sr_sid "$r")/128" dev lo || die "SID of $r"
	done
	ip -n "$C" link add eth0 type veth peer name to-client netns "$(sr_ns ra)" ||
		die "client veth"
	ip -n "$(sr_ns ra)" addr add fd00:2::1/64 dev to-client nodad
	ip -n "$(sr_ns ra)" link set to-client up
	while read -r a b net path; do
		ip -n "$(sr_ns "$a")" link add "to-$b" type veth peer name "to-$a" \
			netns "$(sr_ns "$b")" || die "veth $a-$b"
		ip -n "$(sr_ns "$a")" addr add "$net::1/64" dev "to-$b" nodad
		ip -n "$(sr_ns "$b")" addr add "$net::2/64" dev "to-$a" nodad
		ip -n "$(sr_ns "$a")" link set "to-$b" up
		ip -n "$(sr_ns "$b")" link set "to-$a" up
		rate=$(sr_rate "$path")
		if [ -n "$rate" ]; then
			sr_shape "$(sr_ns "$a")" "to-$b" "$rate"
			sr_shape "$(sr_ns "$b")" "to-$a" "$rate"
		fi
	done <<EOF
$SR_LINKS
EOF
	sr_static_routes add
	ip -n "$C" addr add fd00:5b::2:2/128 dev lo || die "client SID"
}
# Static routes: the default path is client-ra-rb-router both ways;
# each router reaches a neighbour's SID over their shared link (the
# strict segment lists of docs/srv6.md rely on it). $1: add, or replace
# to restore what a link's admin-down removed (sr-link A B up).
sr_static_routes() {
	sr_routes "$1" ra "default via fd00:5c:2::2" \
		"fd00:5a::c via fd00:5c:3::2" "fd00:5c:5::/64 via fd00:5c:3::2" \
		"fd00:5b::2:2 via fd00:2::2"
	for r in rb rc; do
		if [ $r = rb ]; then l=2; up=4; other=fd00:5a::c; else l=3; up=5; other=fd00:5a::b; fi
		sr_routes "$1" $r "default via fd00:5c:$up::2" "fd00:2::/64 via fd00:5c:$l::1" \
			"fd00:5b::2:2 via fd00:5c:$l::1" "fd00:5a::a via fd00:5c:$l::1" \
			"$other via fd00:5c:$l::1" "fd00:5c:$((5 - l))::/64 via fd00:5c:$l::1"
	done
	sr_routes "$1" router "fd00:2::/64 via fd00:5c:4::1" "fd00:5b::2:2 via fd00:5c:4::1" \
		"fd00:5a::a via fd00:5c:4::1" "fd00:5a::b via fd00:5c:4::1" \
		"fd00:5a::c via fd00:5c:5::1" "fd00:5c:2::/64 via fd00:5c:4::1" \
		"fd00:5c:3::/64 via fd00:5c:5::1"
}
sr_routes() {
	verb=$1; ns=$(sr_ns "$2"); shift 2
	for rt in "$@"; do
		# shellcheck disable=SC2086 # "DST via HOP" splits on purpose
		ip -n "$ns" -6 route "$verb" $rt || die "route on $ns: $rt"
	done
}
# `sr-link A B up|down`. Down is the admin-down of A's interface (the
# carrier drops at B): the kernel then removes that interface's IPv6
# addresses and every route through it, so up puts the link's addresses
# and the static routes back.
sr_link_set() {
	ip -n "$(sr_ns "$1")" link set "$(sr_if "$1" "$2")" "$3" || die "sr-link $*"
	[ "$3" = up ] || return 0
	while read -r a b net path; do
		if { [ "$a" = "$1" ] && [ "$b" = "$2" ]; } || { [ "$a" = "$2" ] && [ "$b" = "$1" ]; }; then
			ip -n "$(sr_ns "$a")" addr replace "$net::1/64" dev "to-$b" nodad
			ip -n "$(sr_ns "$b")" addr replace "$net::2/64" dev "to-$a" nodad
		fi
	done <<EOF
$SR_LINKS
EOF
	case "$1 $2" in
	"client ra"|"ra client")
		ip -n "$(sr_ns ra)" addr replace fd00:2::1/64 dev to-client nodad
		ip -n "$C" addr replace fd00:2::2/64 dev eth0 nodad
		ip -n "$C" -6 route replace default via fd00:2::1 ;;
	esac
	sr_static_routes replace
}

# The topology file of an SR testbed of $1 nodes (docs/srv6.md).
sr_write_topology() {
	n=$1; f=$(sr_topology)
	{
		echo "# SR domain of the testbed (written by deploy/testbed/testbed.sh up --sr;"
		echo "# format: docs/srv6.md). client -- ra -+- rb -+- router -- node1..node$n"
		echo "#                                      \`- rc -'"
		echo "# Unsteered traffic takes rb both ways; ra-rc-router is shaped (TBF)."
		echo "routers:"
		for r in $SR_ROUTERS; do
			printf '  - name: %s\n    sid: "%s"\n' "$r" "$(sr_sid "$r")"
		done
		echo "hosts:"
		printf '  - name: client\n    sid: "%s"\n    prefixes: ["fd00:2::/64"]\n' \
			"$(sr_sid client)"
		for i in $(seq 1 "$n"); do
			pfx="\"$(node_addr "$i")/128\""
			[ "$(count_of pods)" -gt 0 ] && pfx="$pfx, \"$(pod_prefix "$i")\""
			printf '  - name: node%s\n    sid: "%s"\n    prefixes: [%s]\n' \
				"$i" "$(sr_sid "node$i")" "$pfx"
		done
		echo "links:"
		sr_link client ra "$SR_VETH_KBPS"
		while read -r a b net path; do
			rate=$(sr_rate "$path")
			if [ "$path" = fast ]; then cost=$SR_FAST_COST; else cost=1; fi
			sr_link "$a" "$b" "${rate:-$SR_VETH_KBPS}" "$cost" "$path"
		done <<EOF
$SR_LINKS
EOF
		for i in $(seq 1 "$n"); do sr_link router "node$i" "$SR_VETH_KBPS"; done
	} >"$f.tmp" && mv "$f.tmp" "$f" || die "cannot write $f"
}
sr_link() {
	printf '  - between: [%s, %s]\n    latency_us: %s\n    bandwidth_kbps: %s\n' \
		"$1" "$2" "$SR_LATENCY_US" "$3"
	[ $# -ge 4 ] && printf '    cost: %s\n    tags: [%s]\n' "$4" "$5"
	return 0
}

# The kernel's IPv6 neighbour table is one for every namespace (its
# gc_thresh limits exist in the initial namespace only): N nodes that all
# gossip with each other hold about N^2 entries, past the default hard
# limit (1024) from about 30 nodes; beyond it new entries fail (the kernel
# logs "neighbor table overflow", sends get EINVAL) and gossip flaps
# (50 nodes: 42,000 suspicions in 2 minutes, some nodes never joined).
# Raise the limits for this size, never lower them.
raise_neigh_limits() {
	peers=$(( $1 + $2 + 4 ))	# nodes, ingress nodes, router, sites
	need=$(( peers * peers + $1 * $3 * 2 + 256 ))
	cur2=$(sysctl -n net.ipv6.neigh.default.gc_thresh2 2>/dev/null || echo 0)
	cur3=$(sysctl -n net.ipv6.neigh.default.gc_thresh3 2>/dev/null || echo 0)
	[ "$cur3" -ge $(( need * 2 )) ] && return 0
	if sysctl -qw net.ipv6.neigh.default.gc_thresh3=$(( need * 2 )) \
	    net.ipv6.neigh.default.gc_thresh2=$(( cur2 > need ? cur2 : need )) >/dev/null 2>&1; then
		echo "testbed: raised the kernel's IPv6 neighbour table limits (gc_thresh2 $need, gc_thresh3 $(( need * 2 ))) for $1 nodes" >&2
	else
		echo "testbed: warning: cannot raise net.ipv6.neigh.default.gc_thresh3 ($cur3) to $(( need * 2 )): with $1 nodes neighbour entries may overflow" >&2
	fi
}

cmd_up() {
	n=3; pods=0; ingress=0; sites=1; letters=2; sr=0
	while [ $# -gt 0 ]; do
		case $1 in
		--sr) sr=1; shift ;;
		--pods-per-node|--ingress|--sites|--letters)
			[ $# -ge 2 ] || die "up: $1 needs a number"
			case $1 in
			--pods-per-node) pods=$2 ;; --ingress) ingress=$2 ;; --sites) sites=$2 ;;
			--letters) letters=$2 ;;
			esac
			shift 2 ;;
		-*) die "up: unknown option $1" ;;
		*) n=$1; shift ;;
		esac
	done
	case $n in ''|*[!0-9]*) die "up: N must be a number";; esac
	[ "$letters" = 1 ] || [ "$letters" = 2 ] || die "up: --letters is 1 or 2"
	for v in "$pods" "$ingress" "$sites"; do
		case $v in ''|*[!0-9]*) die "up: counts must be numbers";; esac
	done
	[ "$pods" -le 200 ] && [ "$ingress" -le 16 ] && [ "$sites" -ge 1 ] && [ "$sites" -le 16 ] ||
		die "up: pods per node 0..200, ingress 0..16, sites 1..16"
	[ -z "$SERVICES_FILE" ] || [ -r "$SERVICES_FILE" ] || die "cannot read $SERVICES_FILE"
	case $BFD_MS in *[!0-9]*) die "TESTBED_BFD_MS must be a number of ms";; esac
	case $LOAD in static|measured) ;; *) die "TESTBED_LOAD must be static or measured";; esac
	[ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up: N must be 1..200"
	if [ $sr = 1 ]; then
		for v in "$SR_SHAPED_KBPS" "$SR_FAST_KBPS"; do
			case $v in *[!0-9]*) die "TESTBED_SR_*_KBPS must be numbers (kbit/s)";; esac
		done
		[ "$SR_SHAPED_KBPS" -gt 0 ] || die "TESTBED_SR_SHAPED_KBPS must be > 0"
		command -v tc >/dev/null || die "--sr needs tc (iproute2)"
		ip netns list | grep -q "^$P-ra\b" && die "namespace $P-ra exists; run: $0 down"
	fi
	[ "$(id -u)" = 0 ] || die "needs root"
	[ -x "$BIRD" ] || die "$BIRD not installed"
	[ -x "$ANYSTEERD" ] || die "$ANYSTEERD not built (build it, or name the build: $0 --build DIR ...)"
	[ -e "$DIR/nodes" ] && die "already up ($DIR); run: $0 down"
	ip netns list | grep -q "^$R\b" && die "namespace $R exists; run: $0 down"
	raise_neigh_limits "$n" "$ingress" "$pods"
	t_start=$(now_ms)
	mkdir -p "$DIR"
	: >"$DIR/namespaces"
	echo "$n" >"$DIR/nodes"
	echo "$pods" >"$DIR/pods"
	echo "$letters" >"$DIR/letters"
	echo "$ingress" >"$DIR/ingress"
	echo "$sites" >"$DIR/sites"
	echo "$sr" >"$DIR/sr"
	echo "$SR_SHAPED_KBPS ${SR_FAST_KBPS:-0}" >"$DIR/sr-rates"
	# Before any agent starts: agents may read it (TESTBED_SR_AGENT).
	[ $sr = 1 ] && sr_write_topology "$n"

	mkns "$R"
	ip netns exec "$R" sysctl -qw net.ipv6.conf.all.forwarding=1 \
		net.ipv6.fib_multipath_hash_policy=1 >/dev/null
	ip -n "$R" link add br0 type bridge || die "bridge"
	ip -n "$R" addr add fd00:1::1/64 dev br0 nodad
	ip -n "$R" link set br0 up
	mkns "$C"
	if [ $sr = 1 ]; then
		sr_build
	else
		ip link add "$P-cl" type veth peer name eth0 netns "$C" || die "client veth"
		ip link set "$P-cl" netns "$R"
		ip -n "$R" addr add fd00:2::1/64 dev "$P-cl" nodad
		ip -n "$R" link set "$P-cl" up
	fi
	ip -n "$C" addr add fd00:2::2/64 dev eth0 nodad
	ip -n "$C" link set eth0 up
	ip -n "$C" -6 route add default via fd00:2::1
	for s in $(seq 2 "$sites"); do add_site "$s"; done
	write_router_conf "$n"
	ip netns exec "$R" "$BIRD" -c "$DIR/r/bird.conf" -s "$DIR/r/bird.ctl" \
		-P "$DIR/r/bird.pid" || die "router BIRD did not start"

	for i in $(seq 1 "$n"); do
		ns=$(node_ns "$i")
		mkns "$ns"
		ip link add "$P-v$i" type veth peer name eth0 netns "$ns" || die "veth $i"
		ip link set "$P-v$i" netns "$R"
		ip -n "$R" link set "$P-v$i" master br0 up
		ip -n "$ns" addr add "$(node_addr "$i")/64" dev eth0 nodad
		ip -n "$ns" link set eth0 up
		ip -n "$ns" -6 route add default via fd00:1::1
		if [ $sr = 1 ]; then
			ip -n "$ns" addr add "$(sr_sid "node$i")/128" dev lo || die "node$i SID"
			ip -n "$R" -6 route add "$(sr_sid "node$i")/128" via "$(node_addr "$i")" ||
				die "router: route to node$i's SID"
		fi
		[ "$pods" -gt 0 ] && add_pods "$i"
		write_node_files "$i"
		bird_start "$i"
		agent_start "$i"
	done
	for k in $(seq 1 "$ingress"); do add_ingress "$k"; done
	for i in $(seq 1 "$n"); do
		agent_wait "$i" 60 || die "node$i not ready"
	done
	t0=$(now_ms)
	wait_hops "$n" 60 || die "router has $(nhops) of $n next hops after 60 s"
	t1=$(now_ms)
	wait_members 60 || die "gossip: not every agent sees $n alive members after 60 s"
	t2=$(now_ms)
	if [ "$pods" -gt 0 ]; then
		wait_pod_routes "$n" 60 || die "router: not every node's pod prefix after 60 s"
	fi
	if [ "$ingress" -gt 0 ]; then
		limit=$(( $(now_ms) + 60000 ))
		while [ "$(vip_hops)" != "$ingress" ]; do
			[ "$(now_ms)" -gt "$limit" ] && die "router: $(vip_hops) of $ingress next hops to $VIP"
			sleep 0.05
		done
	fi
	echo "testbed up: $n nodes, $(nhops) next hops to $(letters | sed "s/ / and /") after $(( t1 - t_start )) ms" \
		"(BGP: $(( t1 - t0 )) ms after the last agent announced);" \
		"every agent sees $n alive members after $(( t2 - t_start )) ms"
	if [ $sr = 1 ]; then
		echo "testbed SR: client -- ra -+- rb -+- router, ra-rc-router shaped to" \
			"$SR_SHAPED_KBPS kbit/s, rb path ${SR_FAST_KBPS:-unshaped}${SR_FAST_KBPS:+ kbit/s};" \
			"topology $(sr_topology)"
	fi
	[ "$pods$ingress$sites" = 001 ] ||
		echo "testbed extras: $pods pods per node ($((n * pods)) in all), $ingress ingress" \
			"nodes ($(vip_hops) next hops to $VIP), $sites client sites;" \
			"all routed after $(( $(now_ms) - t_start )) ms"
}

cmd_down() {
	for f in "$DIR"/n*/anysteerd.pid; do [ -e "$f" ] && kill_pidfile "$f" KILL; done
	for f in "$DIR"/n*/bird.pid "$DIR"/g*/bird.pid "$DIR"/r/bird.pid; do
		[ -e "$f" ] && kill_pidfile "$f" KILL
	done
	for f in "$DIR"/*.pid; do [ -e "$f" ] && kill_pidfile "$f" KILL; done
	if [ -f "$DIR/namespaces" ]; then
		while read -r ns; do ip netns del "$ns" 2>/dev/null; done <"$DIR/namespaces"
	fi
	# Anything of ours left from a run that failed half-way.
	for ns in $(ip netns list | awk '{print $1}' | grep -E "^$P-([rcg][0-9]*|r[abc]|n[0-9]+(-p[0-9]+)?)$"); do
		ip netns del "$ns" 2>/dev/null
	done
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$P-"); do
		ip link del "$l" 2>/dev/null
	done
	rm -rf "$DIR"
	echo "testbed down"
}

# The node table of `status`: for every node I, $DIR/nI/status.{routes,members}
# hold its agent's --json answers (absent: agent down), $DIR/nI/status.bgp
# the router's BGP state for it and $DIR/nI/status.hop yes/no. One python3
# for all nodes: its start-up is the slow part.
node_table() {
	python3 - "$DIR" "$(cat "$DIR/nodes")" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
fmt = "%-7s %-13s %-8s %-10s %-20s %-6s %-12s %-4s %s"
print(fmt % ("NODE", "ADDRESS", "AGENT", "ANYCAST", "REASON", "EXPORT", "ROUTER BGP",
             "HOP", "MEMBERS"))
def read(i, what):
    try:
        with open(os.path.join(d, "n%d" % i, "status." + what)) as f:
            return f.read().strip()
    except OSError:
        return ""
for i in range(1, n + 1):
    agent, state, reason, exp, mem = "down", "-", "-", "-", "-"
    if os.path.exists(os.path.join(d, "n%d" % i, "status.routes")):
        agent = "no ctl"
        try:
            r = json.loads(read(i, "routes"))
            m = json.loads(read(i, "members"))
        except ValueError:
            r = m = None
        if r is not None:
            agent = "up"
            a = r["addresses"][0] if r.get("addresses") else {}
            state, reason = a.get("state", "-"), a.get("reason", "-")
            e = a.get("bird_exported")
            exp = "-" if e is None else ("yes" if e else "no")
            count = {}
            for x in m:
                count[x["state"]] = count.get(x["state"], 0) + 1
            mem = " ".join("%d %s" % (v, k) for k, v in sorted(count.items()))
    print(fmt % ("node%d" % i, "fd00:1::1:%d" % i, agent, state, reason, exp,
                 read(i, "bgp") or "-", read(i, "hop") or "-", mem))
PY
}

# A picture of the emulated topology: the client, the router with its
# ECMP route to the anycast address, and per node whether the router has
# it as a next hop (it announces), its load and factor, and how many
# queries it answered in the last share measurement ($DIR/answered.json,
# written by the demo's shares.py: NSID = node).
picture() {
	hs=$(hops)
	echo "  client   $C  fd00:2::2"
	echo "     |"
	if sr_on; then
		read -r shaped fast <"$DIR/sr-rates"
		echo "  ra -+- rb -+   SR routers $P-ra|rb|rc, End SIDs fd00:5a::a|b|c (router fd00:5a::1)"
		echo "      \`- rc -'   rc path: TBF $shaped kbit/s; rb path (unsteered traffic):" \
			"$([ "$fast" = 0 ] && echo unshaped || echo "TBF $fast kbit/s")"
		echo "     |"
	fi
	echo "  router   $R  fd00:1::1   BIRD; routes to $(letters | sed 's/ / and /'): $(nhops) next hops (ECMP)"
	echo "     |"
	last=$(cat "$DIR/nodes")
	for i in $(nodes); do
		if [ "$i" = "$last" ]; then br='`--'; else br='+--'; fi
		ann="not announcing    "
		for a in $(letters); do
			hops_of "$a" | grep -qx "$(node_addr "$i")" && ann="announces $a"
		done
		if alive "$(cat "$DIR/n$i/anysteerd.pid" 2>/dev/null)"; then
			ld=$(ctl "$i" --json load 2>/dev/null | awk -F': *' '
				/"source"/ { gsub(/[",]/, "", $2); src = $2 }
				/"signal"/ { gsub(/,/, "", $2); sig = $2 }
				/"factor"/ { gsub(/,/, "", $2); f = $2 }
				END { if (f != "") printf "load %.2f (%s) -> factor %.2f", sig, src, f }')
			[ -n "$ld" ] || ld="agent not answering"
		else
			ld="agent down"
		fi
		n=
		[ -f "$DIR/answered.json" ] &&
			n=$(grep -o "\"node$i\": [0-9]*" "$DIR/answered.json" | awk '{print $2}')
		[ -f "$DIR/answered.json" ] && ld=$(printf '%-40s answered %s' "$ld" "${n:-0}")
		printf '     %s node%-3s %-13s %s  %s\n' "$br" "$i" "$(node_addr "$i")" "$ann" "$ld"
	done
	[ -f "$DIR/answered.json" ] &&
		echo "  (answered: queries of the last share measurement each node answered, by NSID)"
	return 0
}

cmd_status() {
	[ -f "$DIR/nodes" ] || die "not up"
	if [ $# -ge 1 ]; then
		i=$1
		[ -d "$DIR/n$i" ] || die "no node$i"
		echo "== node$i ($(node_addr "$i")): anysteerctl routes"
		ctl "$i" routes
		echo
		echo "== node$i: anysteerctl members"
		ctl "$i" members
		return
	fi
	echo "== topology"
	picture
	echo
	echo "== router $R: routes to $(letters | sed 's/ / and /') ($(nhops) next hops)"
	for a in $(letters); do ip -n "$R" -6 route show "$a/128"; done
	birdc -s "$DIR/r/bird.ctl" show protocols 2>/dev/null >"$DIR/r/protocols.txt"
	grep -E '^bfd[0-9]* ' "$DIR/r/protocols.txt" |
		awk '{printf "   %-8s %-5s %s\n", $1, $2, $4}'
	echo
	echo "== nodes: agent, its anycast address as the agent sees it, BIRD's"
	echo "   export of it, the router's BGP session and next hop, gossip members"
	hs=$(hops)
	first=
	for i in $(nodes); do
		f=$DIR/n$i/status
		rm -f "$f".*
		awk -v p="node$i" '$1 == p { print ($6 != "" ? $6 : $4) }' \
			"$DIR/r/protocols.txt" >"$f.bgp"
		if echo "$hs" | grep -qx "$(node_addr "$i")"; then echo yes; else echo no; fi >"$f.hop"
		if alive "$(cat "$DIR/n$i/anysteerd.pid" 2>/dev/null)"; then
			[ -n "$first" ] || first=$i
			ctl "$i" --json routes >"$f.routes" 2>/dev/null
			ctl "$i" --json members >"$f.members" 2>/dev/null
		fi
	done
	node_table
	rm -f "$DIR"/n*/status.*
	if [ "$(count_of pods)$(count_of ingress)" != 00 ]; then
		echo
		echo "== extras: $(count_of pods) pods per node," \
			"$(ip -n "$R" -6 route show | grep -c '^fd00:10:0:[0-9a-f]*::/64 ') pod prefixes" \
			"routed; $(count_of ingress) ingress nodes, $(vip_hops) next hops to $VIP;" \
			"$(count_of sites) client sites"
	fi
	rm -f "$DIR/r/protocols.txt"
	if [ -n "$first" ]; then
		echo
		echo "== gossip members as node$first sees them (testbed.sh ctl $first members)"
		ctl "$first" members
	fi
	echo
	echo "(testbed.sh status I: node I's full routes and members)"
}

cmd_query() {
	count=${1:-1}
	for q in $(seq 1 "$count"); do
		ip netns exec "$C" kdig @"$ANY" +nsid +time=1 +retry=0 "web.$ZONE" AAAA 2>&1 |
			awk -v q="$q" '
			/NSID:/ { n = $0; sub(/.*"/, "", n); sub(/.*NSID: /, "", n); nsid = $0 }
			/status:/ { st = $0; sub(/.*status: /, "", st); sub(/;.*/, "", st) }
			/^web/ { a = a " " $NF }
			END {
				match(nsid, /"[^"]*"/)
				who = RSTART ? substr(nsid, RSTART + 1, RLENGTH - 2) : "-"
				printf "query %2d: %-8s answered by %-8s%s\n", q, (st ? st : "TIMEOUT"), who, a
			}'
	done
}

# The demo's catalog: one `web` endpoint per node, in the node's pod,
# served by a small HTTP server there; node2's weight is twice the others'.
DEMO_WEIGHTS="100 200 100"
DEMO_PORT=8080
demo_weight() { echo "$DEMO_WEIGHTS" | cut -d' ' -f"$1"; }

# Shares of web's first answers from the client through the anycast
# address against the formula; $1..$3: the nodes' load signals. Fails
# the demo loudly when they do not match.
demo_shares() {
	set -- "fd00:10:0:1::1=$(demo_weight 1)@$1" "fd00:10:0:2::1=$(demo_weight 2)@$2" \
		"fd00:10:0:3::1=$(demo_weight 3)@$3"
	ip netns exec "$C" python3 "$top/deploy/testbed/shares.py" --server "$ANY" \
		--count 1000 --json "$DIR/answered.json" "web.$ZONE" "$@" ||
		die "demo FAILED: the answer shares do not match the formula of docs/dns.md"
}

# Until every running agent's view has node $1's endpoint with a load
# factor in [$2, $3] (gossip carries the load).
wait_factor() {
	limit=$(( $(now_ms) + 30000 ))
	for i in $(nodes); do
		alive "$(cat "$DIR/n$i/anysteerd.pid" 2>/dev/null)" || continue
		until ctl "$i" --json services 2>/dev/null | python3 -c '
import json, sys
node, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
eps = [e for s in json.load(sys.stdin)["services"] if s["name"] == "web"
       for e in s["endpoints"]]
ok = len(eps) == 3 and any(e["node"] == node and lo <= e["load_factor"] <= hi
                           for e in eps)
sys.exit(0 if ok else 1)' "node$1" "$2" "$3"; do
			[ "$(now_ms)" -gt "$limit" ] &&
				die "demo FAILED: node$i does not see node$1's load factor in [$2, $3]"
			sleep 0.2
		done
	done
}

# An HTTP server in node $1's pod (bounded: `down` kills it by PID).
demo_http() {
	i=$1; d=$DIR/www$i; a=$(pod_addr "$i" 1)
	mkdir -p "$d"
	echo "hello from pod $a on node$i" >"$d/index.html"
	ip netns exec "$(pod_ns "$i" 1)" python3 -m http.server --bind "$a" \
		--directory "$d" "$DEMO_PORT" >"$DIR/http$i.log" 2>&1 &
	echo $! >"$DIR/http$i.pid"
}

cmd_demo() {
	[ -f "$DIR/nodes" ] && die "a testbed is already up ($DIR); run: $0 down"
	SERVICES_FILE=$(mktemp "${TMPDIR:-/tmp}/anysteer-demo-services.XXXXXX")
	trap 'cmd_down >/dev/null; rm -f "$SERVICES_FILE"' EXIT
	trap 'exit 1' INT TERM
	{
		printf 'services:\n  - name: web\n    port: %s\n    endpoints:\n' "$DEMO_PORT"
		for i in 1 2 3; do
			printf '      - { address: "%s", weight: %s, node: node%s }\n' \
				"$(pod_addr "$i" 1)" "$(demo_weight "$i")" "$i"
		done
	} >"$SERVICES_FILE"
	[ "$LOAD" = static ] || die "the demo needs TESTBED_LOAD=static (its shares assume load $STATIC_LOAD)"
	# One address over all three nodes: the demo shows ECMP and a
	# node's withdrawal from it (a deployment gives the zone two).
	cmd_up 3 --pods-per-node 1 --letters 1 || exit 1
	for i in 1 2 3; do demo_http "$i"; done
	echo
	echo "\$ ip -n $R -6 route show $ANY/128    # the upstream router: ECMP over the nodes"
	ip -n "$R" -6 route show "$ANY/128"
	echo
	echo "Queries from the client namespace to the anycast address $ANY (NSID = node):"
	cmd_query 9
	echo
	echo "\$ testbed.sh ctl 1 routes"
	ctl 1 routes
	echo
	wait_factor 2 0.99 1
	echo "Answer shares of web.$ZONE over 1000 queries from the client (the first"
	echo "address of each answer; weights $DEMO_WEIGHTS; every node's load pinned at"
	echo "$STATIC_LOAD by load.source: static, since all share this machine's CPU):"
	demo_shares "$STATIC_LOAD" "$STATIC_LOAD" "$STATIC_LOAD"
	echo
	echo "\$ testbed.sh ctl 2 load set 0.9    # node2 becomes hot (test knob: load.override)"
	ctl 2 load set 0.9
	wait_factor 2 0.13 0.15
	echo "Every node learned node2's factor by gossip: 1 - (0.9 - 0.6) / (0.95 - 0.6) = 0.143"
	echo "(gossip carries it in steps of 0.01). The shares follow:"
	demo_shares "$STATIC_LOAD" 0.9 "$STATIC_LOAD"
	echo
	echo "\$ testbed.sh status    # the topology"
	picture
	ctl 2 load clear >/dev/null
	echo
	echo "\$ kill -9 <node1's anysteerd>"
	ip -n "$R" -ts monitor route >"$DIR/demo-monitor.log" 2>&1 &
	echo $! >"$DIR/monitor.pid"
	sleep 0.2
	# The clock is read in the process that sends the signal: in sh,
	# $(date) and $(cat) cost several ms of forks each on this VM.
	t0=$(python3 -c 'import datetime, os, sys, time
t = time.time(); os.kill(int(sys.argv[1]), 9)
print(datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f"))' \
		"$(cat "$DIR/n1/anysteerd.pid")")
	# Then wait without polling: a loop of forks competes for the CPU
	# with the very teardown being timed (2 cores).
	sleep 0.2
	i=0
	while hops | grep -qx "$(node_addr 1)" && [ $i -lt 300 ]; do sleep 0.01; i=$((i + 1)); done
	sleep 0.1
	# From the kill to the router's kernel route change, by the
	# monitor's timestamps (same clock, read just before the kill).
	ms=$(awk -v t0="$t0" -v any="$ANY" '
		BEGIN { split(t0, a, ":"); s0 = a[1] * 3600 + a[2] * 60 + a[3] }
		/^\[/ && index($0, any) { split(substr($1, 2, length($1) - 2), p, "T")
			split(p[2], t, ":"); d = (t[1] * 3600 + t[2] * 60 + t[3] - s0) * 1000
			if (d >= 0) { printf "%.1f", d; exit } }' "$DIR/demo-monitor.log")
	echo "node1's next hop left the router's kernel route ${ms:-?} ms after the kill:"
	ip -n "$R" -6 route show "$ANY/128"
	echo
	echo "Queries keep being answered by the surviving nodes:"
	cmd_query 6
	kill_pidfile "$DIR/monitor.pid"
	echo
	echo "Router's route changes as the kernel saw them (ip -ts monitor):"
	grep -A3 "$ANY" "$DIR/demo-monitor.log" | head -12
	echo
	echo "Restarting node1's agent: it announces again once its self-check passes."
	agent_start 1
	agent_wait 1 30 && wait_hops 3 30 && echo "back to $(nhops) next hops"
	echo
	echo "The whole path from the client: the DNS answer, then HTTP to the pod it names."
	echo "\$ kdig @$ANY +nsid web.$ZONE AAAA    # (in $C)"
	ans=$(ip netns exec "$C" kdig @"$ANY" +nsid +time=2 +retry=1 "web.$ZONE" AAAA 2>&1)
	addr=$(echo "$ans" | awk '/^[^;]/ && $4 == "AAAA" { print $5; exit }')
	who=$(echo "$ans" | sed -n 's/.*NSID: .*"\(.*\)".*/\1/p' | head -1)
	[ -n "$addr" ] || die "demo FAILED: no AAAA answer from $ANY: $ans"
	echo "answered by ${who:-?}: web.$ZONE AAAA $addr (the first of" \
		"$(echo "$ans" | awk '/^[^;]/ && $4 == "AAAA"' | wc -l) addresses)"
	echo "\$ curl -g http://[$addr]:$DEMO_PORT/    # (in $C)"
	body=$(ip netns exec "$C" curl -g -sS --max-time 5 "http://[$addr]:$DEMO_PORT/") ||
		die "demo FAILED: no HTTP answer from $addr"
	echo "$body"
	echo "$body" | grep -q "hello from pod $addr" || die "demo FAILED: unexpected body: $body"
	echo
	cmd_down
	rm -f "$SERVICES_FILE"
	trap - EXIT
}

[ $# -ge 1 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
cmd=$1; shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status "$@" ;;
demo) cmd_demo ;;
env)
	echo "TESTBED_DIR=$DIR ROUTER_NS=$R CLIENT_NS=$C NODE_NS_PREFIX=$P-n ANYCAST=$ANY"
	echo "LETTERS=\"$(letters)\"" ;
	echo "NODES=$(cat "$DIR/nodes" 2>/dev/null || echo 0) ROUTER_LINK_PREFIX=$P-v"
	echo "PODS=$(count_of pods) INGRESS=$(count_of ingress) SITES=$(count_of sites)" \
		"INGRESS_NS_PREFIX=$P-g VIP=$VIP"
	if sr_on; then
		echo "SR=1 SR_TOPOLOGY=$(sr_topology)"
		printf 'SR_NAMESPACES="'
		for x in client $SR_ROUTERS; do printf '%s=%s ' "$x" "$(sr_ns "$x")"; done |
			sed 's/ $//'
		echo '"'
	else
		echo "SR=0 SR_TOPOLOGY="
	fi ;;
sr-link)
	sr_on || die "not an SR testbed (up --sr)"
	[ $# = 3 ] || die "sr-link A B up|down"
	sr_link_set "$@" ;;
hops) if [ $# -ge 1 ]; then hops_of "$1" | sort; else hops; fi ;;
wait-members) wait_members "${1:-30}" || { echo "testbed: gossip members not converged" >&2; exit 1; } ;;
wait-hops) wait_hops "$@" || { echo "testbed: $(nhops) next hops, wanted $1" >&2; exit 1; } ;;
agent-start) agent_start "$1" && agent_wait "$1" 30 ;;
agent-kill) kill -"${2:-KILL}" "$(cat "$DIR/n$1/anysteerd.pid")" ;;
agent-wait) agent_wait "$1" "${2:-30}" ;;
bird-start) bird_start "$1" ;;
bird-kill) kill_pidfile "$DIR/n$1/bird.pid" KILL ;;
link) ip -n "$R" link set "$P-v$1" "$2" ;;
ctl) ctl "$@" ;;
query) cmd_query "$@" ;;
*) die "unknown command $cmd (up, down, status, demo, env, hops, wait-hops, agent-*, bird-*, link, sr-link, ctl, query)" ;;
esac
