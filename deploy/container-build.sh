#!/bin/sh
# Builds deploy/Containerfile with buildah where debian:bookworm-slim
# cannot be pulled (no registry, only a Debian archive): the base image is
# made from Debian 12 packages with mmdebstrap (minbase, the archive apt
# uses here) and stored under that name in a private buildah storage, so
# FROM finds it without pulling; the build runs with chroot isolation (no
# user namespace or OCI runtime needed, works as root inside a container)
# and the host network (for apt-get in the RUN steps). Then the image is
# tried: anysteerd --version, anysteerctl --help, BIRD's version,
# --check-config of the DaemonSet's configuration inside it, and one
# anysteerd run from it answering kdig on a loopback port.
#
# Usage: deploy/container-build.sh [--oci FILE]   (as root)
#   --oci FILE  also write the image as an OCI archive (podman load -i FILE)
# Environment: CONTAINER_DIR (default /var/tmp/anysteer-container: the
# base rootfs and the buildah storage, kept for the next run; remove it
# to start afresh), TAG (default ghcr.io/anysteer/anysteer:0.1.0).
# Installs buildah and mmdebstrap if missing. Took 13 minutes on a busy
# two-core machine the first time (base, apt-get, compiling), 6 with the
# base kept. In the image, anysteerd logs that io_uring is unavailable
# (buildah's default seccomp profile blocks it, as container runtimes'
# usually do) and serves UDP with recvmmsg.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${CONTAINER_DIR:-/var/tmp/anysteer-container}
tag=${TAG:-ghcr.io/anysteer/anysteer:0.1.0}
oci=
while [ $# -gt 0 ]; do
	case $1 in
	--oci) [ $# -ge 2 ] || { echo "usage: $0 [--oci FILE]" >&2; exit 2; }; oci=$2; shift 2 ;;
	*) echo "usage: $0 [--oci FILE]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "container-build: needs root (chroot isolation, mmdebstrap)" >&2; exit 1; }
# buildah and mmdebstrap only for this (not in deploy/install-deps.sh:
# buildah brings ~40 packages the other tests do not need).
missing=
for t in buildah mmdebstrap; do command -v $t >/dev/null || missing="$missing $t"; done
if [ -n "$missing" ]; then
	echo "container-build: installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
for t in kdig python3; do
	command -v $t >/dev/null || { echo "container-build: no $t (deploy/install-deps.sh)" >&2; exit 1; }
done
mkdir -p "$dir"
# A private storage: nothing of the machine's own containers is touched.
b() { buildah --root "$dir/storage" --runroot "$dir/run" --storage-driver overlay "$@"; }
ctr=
cleanup() { [ -z "$ctr" ] || b rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

base=docker.io/library/debian:bookworm-slim
if ! b inspect --type image "$base" >/dev/null 2>&1; then
	if [ ! -s "$dir/bookworm.tar" ]; then
		echo "container-build: making the Debian 12 base with mmdebstrap"
		mmdebstrap --quiet --variant=minbase --mode=root bookworm "$dir/bookworm.tar.tmp"
		mv "$dir/bookworm.tar.tmp" "$dir/bookworm.tar"
	fi
	ctr=$(b from scratch)
	b add "$ctr" "$dir/bookworm.tar" / >/dev/null
	b config --cmd /bin/bash "$ctr"
	b commit -q "$ctr" "$base" >/dev/null
	b rm "$ctr" >/dev/null
	ctr=
fi

echo "container-build: building $tag from deploy/Containerfile"
b bud --isolation chroot --network host --pull=never --layers=false \
	-f "$top/deploy/Containerfile" -t "$tag" "$top"

echo "container-build: trying the image"
ctr=$(b from --pull=never "$tag")
conf=$(mktemp)
# The DaemonSet's configuration, as its ConfigMap mounts it.
sed -n '/^  anysteer.yaml: |$/,/^---$/{/^  anysteer.yaml: |$/d;/^---$/d;s/^    //;p}' \
	"$top/deploy/kubernetes/20-config.yaml" >"$conf"
b copy "$ctr" "$conf" /etc/anysteer/anysteer.yaml >/dev/null
rm -f "$conf"
run() { echo "\$ $*"; b run --isolation chroot --env NODE_NAME=node-1 "$ctr" -- "$@"; }
run /usr/sbin/anysteerd --version
run /usr/bin/anysteerctl --help >/dev/null
run /usr/sbin/bird --version
run /usr/sbin/anysteerd --check-config --config /etc/anysteer/anysteer.yaml

# And serving: one node on a free loopback port (chroot isolation shares
# the host's network), asked from outside with kdig, stopped by its PID.
port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0)); print(s.getsockname()[1])')
conf=$(mktemp)
printf '%s\n' 'node: {name: image1}' \
	"dns: {zone: svc.example., listen: [\"[::1]:$port\"]}" \
	'metrics: {listen: ""}' \
	'services: [{name: web, port: 80, endpoints: [{address: "fd00:10::1"}]}]' >"$conf"
b copy "$ctr" "$conf" /etc/anysteer/anysteer.yaml >/dev/null
rm -f "$conf"
log=$(mktemp)
b run --isolation chroot "$ctr" -- /usr/sbin/anysteerd --foreground \
	--config /etc/anysteer/anysteer.yaml >"$log" 2>&1 &
runner=$!
descendants() { for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
answer=
i=0
while [ $i -lt 150 ] && kill -0 $runner 2>/dev/null; do
	answer=$(kdig @::1 -p "$port" +short +timeout=1 +retry=0 web.svc.example. AAAA 2>/dev/null || true)
	[ "$answer" = fd00:10::1 ] && break
	i=$((i + 1))
	sleep 0.2
done
for c in $(descendants $runner); do
	[ "$(cat /proc/"$c"/comm 2>/dev/null)" = anysteerd ] && kill -TERM "$c"
done
wait $runner || true
cat "$log"
rm -f "$log"
[ "$answer" = fd00:10::1 ] || { echo "container-build: anysteerd in the image did not answer" >&2; exit 1; }
echo "\$ kdig @::1 -p $port +short web.svc.example. AAAA   # anysteerd in the image"
echo "$answer"
b rm "$ctr" >/dev/null
ctr=
if [ -n "$oci" ]; then
	b push "$tag" "oci-archive:$oci:$tag"
	echo "container-build: wrote $oci"
fi
b images "$tag"
