#!/bin/sh
# The main demo (as root): installs what is missing, builds anysteer, then
#
#   deploy/demo.sh            starts an emulated 3-node cluster in network
#                             namespaces (deploy/testbed/testbed.sh demo):
#                             upstream router with BIRD and ECMP, 3 nodes
#                             with BIRD + anysteerd announcing the anycast
#                             address, a client; queries show which node
#                             answered (NSID); one agent is killed (-9) and
#                             the route fails over; everything is removed.
#   deploy/demo.sh --local    one anysteerd on loopback with
#                             deploy/examples/demo.yaml, real queries and the
#                             operator's view; add --keep to leave it running.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
keep=no
mode=testbed
for arg in "$@"; do
	case $arg in
	--keep) keep=yes ;;
	--local) mode=local ;;
	*) echo "usage: $0 [--local [--keep]]" >&2; exit 2 ;;
	esac
done
cd "$top"
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
echo
echo "Answer shares over 300 queries for web.svc.example. (weights 100/300/100, 2 per answer):"
for n in $(seq 300); do
	dig @::1 -p 5353 +short +tries=1 web.svc.example. AAAA
done | sort | uniq -c
show $ctl services
show $ctl status
if [ "$keep" = yes ]; then
	echo
	echo "anysteerd keeps running (pid $pid); stop it with: kill $pid"
fi
