#!/bin/sh
# Replays every committed seed corpus tests/fuzz/corpus/<name> through the
# matching tests/fuzz/replay_<name> program (a harness linked with
# replay.c instead of libFuzzer). A new harness needs only its replay_
# program in check_PROGRAMS and its corpus directory. A corpus without a
# replay_ program is replayed elsewhere (e.g. by a module's own test) and
# is skipped here.
srcdir=${top_srcdir:-$(dirname "$0")/../..}
builddir=${top_builddir:-.}
status=0
found=0
for dir in "$srcdir"/tests/fuzz/corpus/*/; do
	[ -d "$dir" ] || continue
	name=$(basename "$dir")
	bin="$builddir/tests/fuzz/replay_$name"
	if [ ! -x "$bin" ]; then
		echo "replay.sh: no $bin, corpus $name not replayed here"
		continue
	fi
	found=$((found + 1))
	echo "replay.sh: $name"
	"$bin" "$dir" || status=1
done
if [ "$found" -eq 0 ]; then
	echo "replay.sh: nothing replayed from $srcdir/tests/fuzz/corpus" >&2
	status=1
fi
exit $status
