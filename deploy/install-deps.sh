#!/bin/sh
# Installs the Debian packages anysteer needs to build, test and benchmark.
# Idempotent, non-interactive; run as root (or through sudo) on Debian 12 /
# Raspberry Pi OS. Services shipped by these packages (BIRD, NSD, Knot,
# Unbound, nginx, HAProxy) are not started: the tests start their own
# instances.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config clang
libuv1-dev liburing-dev libsodium-dev libmsgpack-dev libldns-dev libcmocka-dev
libcyaml-dev libmicrohttpd-dev libmnl-dev libcurl4-openssl-dev libjansson-dev
libbpf-dev bpftool tcpdump iperf3
bird2 knot-dnsutils bind9-dnsutils dnsperf nsd knot
iproute2 nftables procps valgrind python3 python3-yaml
unbound nginx haproxy python3-matplotlib
scdoc curl python3-kubernetes dnsdist"
# scdoc builds the man pages (man/*.scd) in a build from git; curl is in
# the README's "Running" lines (tests/integration/test_install.py);
# python3-kubernetes has the API models tests/k8s/test_manifests.py
# checks deploy/kubernetes against, kubectl renders it (kustomize).
# libbpf-dev and bpftool (with clang) build srv6/'s tc programs and
# their skeleton (configure skips the SRv6 data plane without them);
# tests/integration/test_srv6.py captures SRHs on its routers with tcpdump.
# iperf3 measures TCP rates over the SR testbed's shaped and unshaped
# paths (tests/integration/test_srv6_testbed.py, tests/bench/srv6-bench.sh).
# dnsdist is a peer in tests/bench/fwd-bench.sh (a forwarder with a
# packet cache, against which dns.forward's CPU per query is measured).
# Debian's kubectl is kubernetes-client; a kubectl from elsewhere (e.g.
# Google's kubectl package) serves as well and would conflict with it.
command -v kubectl >/dev/null 2>&1 || PKGS="$PKGS kubernetes-client"

# Run as root directly, or through sudo when there is one (keeping
# DEBIAN_FRONTEND).
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -E "$@"
	else
		echo "install-deps: not root and no sudo: run $0 as root" >&2
		exit 1
	fi
}

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

echo "install-deps: installing$missing"
# Keep package post-install scripts from starting daemons on ports the
# tests use.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
	as_root chmod 755 "$policy"
	made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
rc=0
as_root apt-get update -q && \
	as_root apt-get install -y -q --no-install-recommends $missing || rc=$?
if [ -n "$made_policy" ]; then as_root rm -f "$policy"; fi
exit $rc
