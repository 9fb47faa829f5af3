#!/bin/sh
# The main demo: installs what is missing, builds anysteer, starts anysteerd
# on loopback with deploy/examples/demo.yaml, and shows real queries and the
# operator's view. `deploy/demo.sh --keep` leaves the daemon running.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
keep=no
[ "${1:-}" = "--keep" ] && keep=yes
cd "$top"
./deploy/install-deps.sh
[ -x configure ] || autoreconf -fi >/dev/null
build="$top/_build/demo"
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$top/configure" -q
make -s -j"$(nproc 2>/dev/null || echo 2)"

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
