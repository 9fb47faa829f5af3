#!/bin/sh
# Validates deploy/bird/ with BIRD's own parser (bird -p), and checks the
# properties the failover mechanism depends on. A deliberately broken copy
# must be rejected, so the check can fail.
#
# Standalone: top_srcdir=/work/main tests/integration/routing-bird-config.sh
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
BIRD=${BIRD:-/usr/sbin/bird}
src=$top_srcdir/deploy/bird

if [ ! -x "$BIRD" ]; then
	echo "SKIP: $BIRD not installed"
	exit 77
fi

tmp=$(mktemp -d /tmp/anysteer-birdcfg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$src"/*.conf "$tmp"/

fail() {
	echo "FAIL: $*"
	exit 1
}

for f in node.conf upstream.conf; do
	"$BIRD" -p -c "$tmp/$f" || fail "bird -p rejected $f"
	echo "ok: bird -p accepts $f"
done

# What the mechanism relies on (see routing/routing.h).
grep -q 'check link yes' "$tmp/node.conf" || fail "node: direct without check link"
grep -q 'interface "anysteer0"' "$tmp/node.conf" || fail "node: direct not limited to anysteer0"
grep -q 'graceful restart off' "$tmp/node.conf" || fail "node: graceful restart not off"
grep -q 'bfd on' "$tmp/node.conf" || fail "node: no BFD on the BGP session"
grep -q 'multiplier 3' "$tmp/node.conf" || fail "node: BFD multiplier"
grep -q 'min tx interval 50 ms' "$tmp/node.conf" || fail "node: BFD interval"
grep -q '(65535, 0)' "$tmp/node.conf" || fail "node: no RFC 8326 community"
grep -q 'merge paths on' "$tmp/upstream.conf" || fail "upstream: no ECMP (merge paths)"
grep -q '(65535, 0) ~ bgp_community' "$tmp/upstream.conf" || fail "upstream: ignores RFC 8326"

# Draining on: still valid.
sed -i 's/ANYSTEER_DRAINING = 0/ANYSTEER_DRAINING = 1/' "$tmp/anysteer-drain.conf"
"$BIRD" -p -c "$tmp/node.conf" || fail "bird -p rejected node.conf while draining"
echo "ok: node.conf with ANYSTEER_DRAINING = 1"

# Negative control: the parser does reject a broken file.
printf 'protocol bgp broken { neighbor ; }\n' >> "$tmp/upstream.conf"
if "$BIRD" -p -c "$tmp/upstream.conf" 2>/dev/null; then
	fail "bird -p accepted a broken config: the check proves nothing"
fi
echo "ok: a broken config is rejected"
