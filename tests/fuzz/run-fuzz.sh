#!/bin/sh
# tests/fuzz/run-fuzz.sh - what `make fuzz` runs (docs/testing.md).
#
# Runs every libFuzzer harness tests/fuzz/fuzz_<name> of a build
# configured with CC=clang --enable-fuzzing for FUZZ_TIME seconds, starting
# from its committed corpus tests/fuzz/corpus/<name>, then merges the
# inputs that add coverage into that corpus (libFuzzer -merge=1), so they
# can be committed. A crash, leak or timeout goes to a separate directory
# and makes the run fail, naming the reproducer.
#
# Environment (make variables of the same name):
#   FUZZ_TIME       seconds per harness (default 60)
#   FUZZ_HARNESSES  names to run, e.g. "k8s_json config" (default: all)
#   FUZZ_JOBS       harnesses run at once, one core each (default 1)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-timeout=30"
#   top_srcdir, top_builddir  set by make; default: this checkout, "."
#
# Work files: <builddir>/tests/fuzz/out/<name>/ holds new/ (inputs found
# and not yet merged: an interrupted run merges them next time),
# crashes/, fuzz.log and merge.log.
#
# Usage: run-fuzz.sh           all harnesses (or FUZZ_HARNESSES)
#        run-fuzz.sh --one N   one harness; used for FUZZ_JOBS > 1
set -u

srcdir=${top_srcdir:-$(dirname "$0")/../..}
srcdir=$(cd "$srcdir" && pwd) || exit 2
builddir=${top_builddir:-.}
builddir=$(cd "$builddir" && pwd) || exit 2
time=${FUZZ_TIME:-60}
jobs=${FUZZ_JOBS:-1}
out="$builddir/tests/fuzz/out"

case $time in
'' | *[!0-9]*) echo "run-fuzz.sh: FUZZ_TIME must be whole seconds, not '$time'" >&2; exit 2 ;;
esac
case $jobs in
'' | *[!0-9]* | 0) echo "run-fuzz.sh: FUZZ_JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;;
esac

# One harness: fuzz, merge, leave a one-line summary and a status file.
run_one() {
	name=$1
	bin="$builddir/tests/fuzz/fuzz_$name"
	corpus="$srcdir/tests/fuzz/corpus/$name"
	dir="$out/$name"
	mkdir -p "$dir/new" "$dir/crashes" || return 2
	rm -f "$dir/status" "$dir/summary"
	# Marks the start: older reproducers in crashes/ are not this run's.
	touch "$dir/started"
	before=$(find "$corpus" -type f | wc -l)

	# A slow input is a denial of service: 10 s per input is ~1000x
	# what any harness needs. FUZZ_ARGS comes last and may override.
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$time" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$dir/crashes/" ${FUZZ_ARGS:-} \
		"$dir/new" "$corpus" >"$dir/fuzz.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log")

	# Keep what adds coverage, even from a run that crashed. The merge
	# gets no FUZZ_ARGS: a limit meant for fuzzing can make it drop
	# inputs. new/ is emptied only after a clean merge.
	merged=""
	if [ ! -w "$corpus" ]; then
		merged="corpus not writable, new inputs kept in $dir/new"
	elif "$bin" -merge=1 "$corpus" "$dir/new" >"$dir/merge.log" 2>&1 &&
		grep -q '^MERGE-OUTER: [0-9]* new files' "$dir/merge.log" &&
		! grep -q '^SUMMARY: ' "$dir/merge.log"; then
		after=$(find "$corpus" -type f | wc -l)
		merged="corpus +$((after - before)) ($after files)"
		find "$dir/new" -type f -exec rm -f {} +
	else
		merged="merge incomplete (see $dir/merge.log), new inputs kept in $dir/new"
	fi

	line="$name: ${execs:-?} runs, ${rate:-?} exec/s, $merged"
	if [ "$rc" -eq 0 ]; then
		echo "fuzz: $line" >"$dir/summary"
		echo 0 >"$dir/status"
		cat "$dir/summary"
		return 0
	fi
	found=$(find "$dir/crashes" -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) -newer "$dir/started" 2>/dev/null |
		head -n 1)
	{
		echo "fuzz: $line"
		echo "fuzz: $name FAILED (exit $rc), log: $dir/fuzz.log"
		if [ -n "$found" ]; then
			echo "fuzz: reproducer: $found"
			echo "fuzz:   rerun it: $bin $found"
			echo "fuzz:   or in any build: tests/fuzz/replay_$name $found"
		fi
	} >"$dir/summary"
	echo 1 >"$dir/status"
	cat "$dir/summary"
	return 1
}

if [ "${1:-}" = --one ]; then
	run_one "$2"
	exit $?
fi

if [ -n "${FUZZ_HARNESSES:-}" ]; then
	names=$FUZZ_HARNESSES
	for n in $names; do
		if [ ! -d "$srcdir/tests/fuzz/corpus/$n" ] || [ ! -x "$builddir/tests/fuzz/fuzz_$n" ]; then
			echo "run-fuzz.sh: no harness '$n' (need tests/fuzz/corpus/$n and a built tests/fuzz/fuzz_$n)" >&2
			exit 2
		fi
	done
else
	names=""
	for d in "$srcdir"/tests/fuzz/corpus/*/; do
		n=$(basename "$d")
		[ -x "$builddir/tests/fuzz/fuzz_$n" ] && names="$names $n"
	done
fi
if [ -z "$names" ]; then
	echo "run-fuzz.sh: no fuzz_<name> programs in $builddir/tests/fuzz: configure CC=clang --enable-fuzzing" >&2
	exit 2
fi

# shellcheck disable=SC2086 # one word per name
set -- $names
echo "fuzz: $# harness(es), ${time}s each, $jobs at a time: $*"
mkdir -p "$out" || exit 2
for n in $names; do
	rm -f "$out/$n/status"
done
if [ "$jobs" -eq 1 ]; then
	for n in $names; do
		run_one "$n"
	done
else
	# shellcheck disable=SC2086
	printf '%s\n' $names | xargs -P "$jobs" -I{} sh "$0" --one {}
fi

status=0
failed=""
for n in $names; do
	if [ "$(cat "$out/$n/status" 2>/dev/null)" != 0 ]; then
		status=1
		failed="$failed $n"
	fi
done
if [ "$status" -ne 0 ]; then
	echo "fuzz: FAILED:$failed (reproducers above; details in $out/<name>/)"
else
	echo "fuzz: all $# harness(es) passed; commit new corpus files under $srcdir/tests/fuzz/corpus"
fi
exit $status
