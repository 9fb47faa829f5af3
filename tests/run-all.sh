#!/bin/sh
# Builds anysteer with AddressSanitizer + UBSan and runs every test: unit
# (cmocka), fuzz corpus replay, integration (real daemons, kdig/dig, BIRD,
# network namespaces when run as root), then `make distcheck`.
# Installs the Debian packages it needs first. Usage: tests/run-all.sh
# With ANYSTEER_CONTAINER_BUILD=1 it also builds and tries the container
# image (deploy/container-build.sh, ~10 minutes more).
set -eu

t_start=$(date +%s)
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# The sanitized build lives in _build/check; configure refuses that while
# the source tree holds an in-tree build ("Building by hand").
if [ -f config.status ]; then
	echo "run-all: $top holds an in-tree build; run 'make distclean' in $top first" >&2
	exit 1
fi
./deploy/install-deps.sh
autoreconf -fi >/dev/null

jobs=$(nproc 2>/dev/null || echo 2)
build="$top/_build/check"
rm -rf "$build"
mkdir -p "$build"
cd "$build"
"$top/configure" -q --enable-sanitizers
make -s -j"$jobs"
t_built=$(date +%s)

rc=0
make -s -j"$jobs" check || rc=$?
t_checked=$(date +%s)
# Show what failed, then one summary line for humans and CI.
pass=$(find . -name '*.trs' -exec grep -l '^:test-result: PASS' {} + 2>/dev/null | wc -l)
fail=$(find . -name '*.trs' -exec grep -l '^:test-result: \(FAIL\|ERROR\|XPASS\)' {} + 2>/dev/null | wc -l)
skip=$(find . -name '*.trs' -exec grep -l '^:test-result: SKIP' {} + 2>/dev/null | wc -l)
if [ "$rc" -ne 0 ]; then
	for f in $(find . -name '*.trs' -exec grep -l '^:test-result: \(FAIL\|ERROR\)' {} +); do
		echo "==== ${f%.trs}.log"
		tail -n 80 "${f%.trs}.log"
	done
fi
if [ "$skip" -gt 0 ]; then
	echo "Skipped tests and why:"
	for f in $(find . -name '*.trs' -exec grep -l '^:test-result: SKIP' {} +); do
		echo "  ${f%.trs}: $(grep -i -m1 'skip' "${f%.trs}.log" || echo 'no reason printed')"
	done
fi
echo "tests: $pass passed, $fail failed, $skip skipped"
# Where CI's minutes go (its budget is 20): the slowest Python tests, by
# unittest's own count (run two at a time, so they overlap).
echo "slowest tests (s):"
find . -name '*.log' -exec grep -H -E '^Ran [0-9]+ tests? in [0-9.]+s' {} + 2>/dev/null |
	sed -E 's|^\./(.*)\.log:Ran [0-9]+ tests? in ([0-9.]+)s|\2 \1|' | sort -rn | head -n 8 |
	while read -r secs name; do printf '  %6.0f  %s\n' "$secs" "$name"; done
[ "$rc" -eq 0 ] || exit "$rc"

# The release tarball builds and passes its tests too (no sanitizers).
make -s -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=-q >distcheck.log 2>&1 || {
	tail -n 100 distcheck.log
	echo "distcheck failed"
	exit 1
}
echo "distcheck: ok"
t_dist=$(date +%s)
echo "time: deps and build $((t_built - t_start)) s, make check $((t_checked - t_built)) s," \
	"distcheck $((t_dist - t_checked)) s, in all $((t_dist - t_start)) s"

# The container image (deploy/Containerfile), on request: minutes of
# apt-get and compiling, more than the CI budget allows on every run.
if [ "${ANYSTEER_CONTAINER_BUILD:-0}" = 1 ]; then
	"$top/deploy/container-build.sh"
	echo "container image: ok"
fi
echo "$pass passed, $fail failed"
