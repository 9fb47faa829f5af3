#!/bin/bash
# tests/bench/dns/knot-as-anysteerd.sh - a stand-in for anysteerd that serves
# the benchmark catalog with a second Knot DNS, for an A/A run:
#
#   tests/bench/dns-bench.sh --anysteerd tests/bench/dns/knot-as-anysteerd.sh
#
# Its "anysteerd" rows are then Knot again, so the anysteerd/knot ratios show
# the benchmark's noise floor on this machine (ideally 1.00). It takes
# anysteerd's arguments: --config FILE (the generated YAML, next to which the
# generator put the zone file), --check-config, --foreground.
set -eu
cfg=
while [ $# -gt 0 ]; do
	case $1 in
	--config) cfg=${2:?}; shift 2 ;;
	--check-config) check=1; shift ;;
	*) shift ;;
	esac
done
[ -n "$cfg" ] || { echo "knot-as-anysteerd: --config FILE required" >&2; exit 2; }
cat_dir=$(dirname "$cfg")
[ -f "$cat_dir/svc.example.zone" ] || { echo "knot-as-anysteerd: no zone file next to $cfg" >&2; exit 2; }
[ -z "${check:-}" ] || exit 0
port=$(sed -n 's/.*listen: \["\[::1\]:\([0-9]*\)"\].*/\1/p' "$cfg")
[ -n "$port" ] || { echo "knot-as-anysteerd: no [::1]:PORT listen in $cfg" >&2; exit 2; }
dir="$cat_dir/knot-as-anysteerd"
rm -rf "$dir" && mkdir -p "$dir/db"
cp "$cat_dir/svc.example.zone" "$dir/"
sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" \
	"$(dirname "$0")/knot.conf.in" >"$dir/knot.conf"
exec knotd -c "$dir/knot.conf"
