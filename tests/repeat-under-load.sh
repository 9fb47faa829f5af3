#!/bin/sh
# Runs the unit and integration suites again and again beside a CPU hog,
# to find the tests that depend on timing. Usage:
#
#   tests/repeat-under-load.sh [-n RUNS] [-H HOGS] [-b BUILD_DIR] [-t REGEX]
#
#   -n RUNS     how many times the suites run (default 20)
#   -H HOGS     busy-loop processes beside them (default: one per core)
#   -b DIR      a configured build tree (default _build/check, as
#               tests/run-all.sh leaves it; built here if needed)
#   -t REGEX    only tests whose path matches (default: unit + integration)
#
# Each run is one `make check` over the selected tests; the logs of every
# failed test are kept under DIR/repeat/run-K/. The hogs are plain shell
# busy loops at the same priority as the tests, each bounded by timeout(1)
# and killed by PID when the script ends. Prints a line per run and a
# table of failures per test; exits 1 if any test failed in any run.
set -eu

runs=20
hogs=$(nproc 2>/dev/null || echo 2)
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/_build/check"
regex='^tests/(unit|integration)/|^tests/check-includes'
while getopts n:H:b:t: o; do
	case $o in
	n) runs=$OPTARG ;;
	H) hogs=$OPTARG ;;
	b) build=$OPTARG ;;
	t) regex=$OPTARG ;;
	*) sed -n '2,14p' "$0"; exit 2 ;;
	esac
done

if [ ! -f "$build/Makefile" ]; then
	echo "no configured build in $build: run tests/run-all.sh first, or configure one" >&2
	exit 2
fi
# Absolute: the logs go under it after the cd below.
build=$(cd "$build" && pwd)
cd "$build"
jobs=$(nproc 2>/dev/null || echo 2)
make -s -j"$jobs"

tests=$(printf 'print-tests:\n\t@echo $(TESTS)\n' | make -s -f Makefile -f - print-tests |
	tr ' ' '\n' | grep -E "$regex" | tr '\n' ' ')
if [ -z "$tests" ]; then
	echo "no test matches $regex" >&2
	exit 2
fi
echo "tests: $(echo $tests | wc -w) per run, $runs runs, $hogs hog(s)"

hog_pids=""
cleanup() {
	for p in $hog_pids; do kill "$p" 2>/dev/null || true; done
	for p in $hog_pids; do wait "$p" 2>/dev/null || true; done
}
# INT/TERM end the script (a bare trap would run cleanup and go on
# with the next run, without its hogs).
trap cleanup EXIT
trap 'exit 130' INT TERM
# Bounded: a hog never outlives 6 hours even if this script is killed -9.
for _ in $(seq "$hogs"); do
	timeout 21600 sh -c 'while :; do :; done' &
	hog_pids="$hog_pids $!"
done

out="$build/repeat"
rm -rf "$out"
mkdir -p "$out"
: >"$out/failures"
failed_runs=0
k=1
while [ "$k" -le "$runs" ]; do
	start=$(date +%s)
	rc=0
	make -s -j"$jobs" check TESTS="$tests" >"$out/run-$k.out" 2>&1 || rc=$?
	bad=""
	for t in $tests; do
		# automake drops a TEST_EXTENSIONS suffix: x.py -> x.trs
		f="${t%.py}"
		f="${f%.sh}.trs"
		if [ -f "$f" ] && grep -q '^:test-result: \(FAIL\|ERROR\|XPASS\)' "$f"; then
			bad="$bad $t"
			mkdir -p "$out/run-$k"
			cp "${f%.trs}.log" "$out/run-$k/" 2>/dev/null || true
			echo "$t" >>"$out/failures"
		fi
	done
	if [ "$rc" -ne 0 ] && [ -z "$bad" ]; then
		bad=" (make failed: see $out/run-$k.out)"
		echo "make:$k" >>"$out/failures"
	fi
	[ -z "$bad" ] || failed_runs=$((failed_runs + 1))
	echo "run $k/$runs: $(( $(date +%s) - start )) s, load $(cut -d' ' -f1 /proc/loadavg), failed:${bad:- none}"
	k=$((k + 1))
done

echo "runs with a failure: $failed_runs of $runs"
if [ -s "$out/failures" ]; then
	echo "failures per test:"
	sort "$out/failures" | uniq -c | sort -rn | sed 's/^/  /'
	exit 1
fi
