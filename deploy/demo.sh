#!/bin/sh
# The main demo (as root): installs what is missing, builds anysteer, then
#
#   deploy/demo.sh            starts an emulated 3-node cluster in network
#                             namespaces (deploy/testbed/testbed.sh demo):
#                             upstream router with BIRD and ECMP, 3 nodes
#                             with BIRD + anysteerd announcing the anycast
#                             address, a client; queries show which node
#                             answered (NSID); the answer shares before and
#                             after node2 becomes hot (`anysteerctl load
#                             set`), checked against the formula of
#                             docs/dns.md; one agent is killed (-9) and the
#                             route fails over; an HTTP fetch from the client
#                             to the pod the DNS answer names; everything is
#                             removed.
#   deploy/demo.sh --local    one anysteerd on loopback with
#                             deploy/examples/demo.yaml, real queries, answer
#                             shares before and after the node becomes hot
#                             (checked against the formula) and the
#                             operator's view; add --keep to leave it running.
#   --build DIR               use the anysteer built in DIR (no package
#                             installs, no build; tests/integration/test_demo.py)
# Either demo exits non-zero, saying why, when the measured shares do not
# match the formula within the printed tolerance.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
keep=no
mode=testbed
build=
usage() { echo "usage: $0 [--build DIR] [--local [--keep]]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=yes ;;
	--local) mode=local ;;
	--build) [ $# -ge 2 ] || usage; build=$(cd "$2" && pwd) || exit 2; shift ;;
	*) usage ;;
	esac
	shift
done
cd "$top"
if [ -z "$build" ]; then
	./deploy/install-deps.sh
	[ -x configure ] || autoreconf -fi >/dev/null
	# After "Building by hand" in the source tree (./configure run there),
	# configure refuses a second, out-of-tree build: use the in-tree one.
	if [ -f "$top/config.status" ]; then
		build="$top"
	else
		build="$top/_build/demo"
	fi
	mkdir -p "$build"
	cd "$build"
	[ -f Makefile ] || "$top/configure" -q
	make -s -j"$(nproc 2>/dev/null || echo 2)"
fi
[ -x "$build/agent/anysteerd" ] || { echo "demo: no $build/agent/anysteerd" >&2; exit 1; }

if [ "$mode" = testbed ]; then
	[ "$(id -u)" = 0 ] || { echo "the cluster demo needs root (or: $0 --local)" >&2; exit 1; }
	top_builddir="$build" exec "$top/deploy/testbed/testbed.sh" demo
fi

mkdir -p /tmp/anysteer-demo
log=/tmp/anysteer-demo/anysteerd.log
"$build/agent/anysteerd" --config "$top/deploy/examples/demo.yaml" --check-config
"$build/agent/anysteerd" --config "$top/deploy/examples/demo.yaml" --foreground \
	--log-level info >"$log" 2>&1 &
pid=$!
stop() {
	if [ "$keep" = no ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" || true
	fi
}
trap stop EXIT INT TERM

ctl="$build/agent/anysteerctl --socket /tmp/anysteer-demo/ctl.sock"
i=0
until $ctl status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "anysteerd did not start:"; cat "$log"; exit 1
	fi
	sleep 0.1
done

show() {
	echo
	echo "\$ $*"
	"$@"
}
echo "anysteerd (pid $pid) serves svc.example. on [::1]:5353 and 127.0.0.1:5353"
show dig @::1 -p 5353 +noall +answer web.svc.example. AAAA
show dig @::1 -p 5353 +noall +answer web.svc.example. AAAA
show dig @::1 -p 5353 +noall +answer _web._tcp.svc.example. SRV
show dig @::1 -p 5353 +noall +answer web.svc.example. HTTPS
show dig @::1 -p 5353 +noall +answer +nsid +comments api.svc.example. AAAA
show dig @::1 -p 5353 +noall +comments +authority nope.svc.example. AAAA
show kdig @::1 -p 5353 +short +tcp -c CH id.server. TXT

# Shares of first answers against docs/dns.md's formula. demo1's signal
# is pinned (load.source: static, 0.3: factor 1); demo2 is not this node
# and there is no gossip, so its load is unknown: factor 1 (load 0 below).
shares() {
	if ! python3 "$top/deploy/testbed/shares.py" --server ::1 --port 5353 --count 1000 \
		web.svc.example. "fd00:10::1=100@$1" "fd00:10::2=300@$1" "fd00:10::3=100@0"; then
		echo "demo: FAILED: the answer shares do not match the formula" >&2
		exit 1
	fi
}
echo
echo "Answer shares of web.svc.example. over 1000 queries (the first address of"
echo "each answer; weights 100/300/100; demo1 at its static load 0.3):"
shares 0.3
show $ctl load set 0.9
echo "demo1 is now hot (a test knob: load.override). Its endpoints' factor is"
echo "1 - (0.9 - 0.6) / (0.95 - 0.6) = 0.143; demo2's endpoint takes the rest:"
shares 0.9
show $ctl services
echo
echo "\$ $ctl load clear"
$ctl load clear >/dev/null && echo "(override cleared: back to the static 0.3)"
show $ctl status
if [ "$keep" = yes ]; then
	echo
	echo "anysteerd keeps running (pid $pid); stop it with: kill $pid"
fi
