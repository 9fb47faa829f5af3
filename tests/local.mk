# tests/: integration tests (python3 + real DNS clients against real
# daemons). Unit tests are registered by each module's local.mk.
TEST_EXTENSIONS = .py .sh
PY_LOG_COMPILER = python3
SH_LOG_COMPILER = /bin/sh

# Module headers are included only in the allowed direction (lib <- dns,
# gossip, routing, k8s <- agent); the rules are a table in the script.
TESTS += tests/check-includes.py
EXTRA_DIST += tests/check-includes.py tests/repeat-under-load.sh

TESTS += tests/integration/test_daemon_dns.py
EXTRA_DIST += tests/integration/anysteer_test.py tests/integration/test_daemon_dns.py
TESTS += tests/integration/test_cluster.py
# Intents on four gossiping nodes in two zones (issue 16).
TESTS += tests/integration/test_intents.py
EXTRA_DIST += tests/integration/test_intents.py
# dns.forward against NSD + unbound in a namespace, and a spoofer.
TESTS += tests/integration/test_dns_forward.py
EXTRA_DIST += tests/integration/test_dns_forward.py
# Response rate limiting: a flood limited, other sources and TCP not.
TESTS += tests/integration/test_dns_rrl.py
EXTRA_DIST += tests/integration/test_dns_rrl.py
# README.md's "Running" lines in a scratch prefix (make install, start,
# anysteerctl, kdig, curl, reload, stop, make uninstall).
TESTS += tests/integration/test_install.py
# Issue 18: load override, wrong-key diagnostics, self-check counters.
TESTS += tests/integration/test_diag.py
EXTRA_DIST += tests/integration/test_diag.py
# Issue 19: a node retries a seed that was not listening yet promptly.
TESTS += tests/integration/test_gossip_seed_retry.py
EXTRA_DIST += tests/integration/test_gossip_seed_retry.py
# deploy/demo.sh, local and cluster (root + BIRD), with its share checks.
# Its 4000 queries and namespaces keep both cores busy for half a minute:
# under `make -j check` it waits for the tests with timing bounds.
TESTS += tests/integration/test_demo.py
EXTRA_DIST += tests/integration/test_demo.py
tests/integration/test_demo.log: tests/integration/test_dos_dns.log \
	tests/integration/test_dos_gossip.log tests/integration/test_dos_agent.log \
	tests/integration/test_anycast.log tests/integration/test_anycast_testbed.log \
	tests/integration/routing-failover.log
EXTRA_DIST += tests/integration/test_install.py
EXTRA_DIST += tests/integration/test_cluster.py
# Node records of any size: 4 daemons x 110 endpoints (issue 19).
TESTS += tests/integration/test_large_records.py
EXTRA_DIST += tests/integration/test_large_records.py
# --check-config and the daemon agree (issue 13).
TESTS += tests/integration/test_config_verdict.py
EXTRA_DIST += tests/integration/test_config_verdict.py
TESTS += tests/integration/test_k8s_daemon.py
EXTRA_DIST += tests/integration/test_k8s_daemon.py
# anysteerctl's output, --json anywhere, exit codes 0-3, top; both
# binaries' --version and --help-config (issue 18).
TESTS += tests/integration/test_ctl.py
EXTRA_DIST += tests/integration/test_ctl.py
# Ingresses and Gateway API routes answered (issue 14).
TESTS += tests/integration/test_k8s_ingress.py
EXTRA_DIST += tests/integration/test_k8s_ingress.py
# deploy/kubernetes rendered by `kubectl kustomize` and checked against
# the API schema of its kinds (python3-kubernetes models), offline.
TESTS += tests/k8s/check_kustomize
EXTRA_DIST += tests/k8s/check_kustomize
# deploy/Containerfile without a build: stages, context, Debian 12
# packages against configure.ac and the binaries' libraries.
TESTS += tests/check-containerfile.py
EXTRA_DIST += tests/check-containerfile.py .containerignore
# Denial-of-service regressions for the agent (issue 11).
TESTS += tests/integration/test_dos_agent.py
EXTRA_DIST += tests/integration/test_dos_agent.py
# Denial of service against DNS over TCP (issue 11).
TESTS += tests/integration/test_dos_dns.py
EXTRA_DIST += tests/integration/test_dos_dns.py

# Anycast (issue 4): one node, then the emulated cluster of
# deploy/testbed/testbed.sh. Root + BIRD, else SKIP (77).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_agent_anycast
TESTS += tests/unit/test_agent_anycast
endif
tests_unit_test_agent_anycast_SOURCES = tests/unit/test_agent_anycast.c
tests_unit_test_agent_anycast_CFLAGS = $(AGENT_TEST_CFLAGS) $(JANSSON_CFLAGS) $(LIBUV_CFLAGS)
tests_unit_test_agent_anycast_LDADD = $(AGENT_TEST_LDADD)
TESTS += tests/integration/test_anycast.py tests/integration/test_anycast_testbed.py \
	tests/integration/test_testbed_large.py
EXTRA_DIST += tests/integration/test_anycast.py tests/integration/test_anycast_testbed.py \
	tests/integration/test_testbed_large.py \
	deploy/testbed/testbed.sh deploy/testbed/querier.py tests/bench/failover-bench.sh tests/bench/failover-bench.py \
	tests/bench/soak-bench.sh tests/bench/large-records-testbed.py
# A caching resolver (unbound) keeps the zone through a link cut and a
# dark anycast address when the zone has two (issue 19). Its own busy
# loops would skew the timing bounds of the tests above: it runs after them.
TESTS += tests/integration/test_resolver_letters.py tests/integration/test_partition.py
EXTRA_DIST += tests/integration/test_resolver_letters.py tests/integration/test_partition.py
# A two-way partition of 6 testbed nodes heals within 30 s (issue 19).
tests/integration/test_partition.log: tests/integration/test_anycast_testbed.log \
	tests/integration/test_anycast.log tests/integration/routing-failover.log
tests/integration/test_resolver_letters.log: tests/integration/test_anycast.log \
	tests/integration/test_anycast_testbed.log tests/integration/routing-failover.log \
	tests/integration/test_dos_dns.log tests/integration/test_daemon_dns.log

# Intents on the emulated cluster (issue 16): 4 nodes in 2 zones, real
# clients through the anycast address; after the tests with timing bounds.
TESTS += tests/integration/test_intents_testbed.py
EXTRA_DIST += tests/integration/test_intents_testbed.py
tests/integration/test_intents_testbed.log: tests/integration/test_anycast_testbed.log \
	tests/integration/test_anycast.log tests/integration/routing-failover.log

# Evaluation harness (issue 12): its pure parts (no root), then
# `tests/eval/run steady --quick` on the emulated cluster (root, BIRD,
# Unbound, NSD, nginx, HAProxy and tests/eval/as-*, else SKIP (77)).
TESTS += tests/eval/test_eval_lib.py tests/eval/test_eval_steady.py
EXTRA_DIST += tests/eval/run tests/eval/test_eval_lib.py tests/eval/test_eval_steady.py \
	tests/eval/evallib/__init__.py tests/eval/evallib/analysis.py \
	tests/eval/evallib/backend.py tests/eval/evallib/cluster.py \
	tests/eval/evallib/dnscap.py tests/eval/evallib/fetch.py tests/eval/evallib/hist.py \
	tests/eval/evallib/report.py tests/eval/evallib/steady.py
# The steady run keeps both cores busy for ~4 minutes: under `make -j
# check` it starts only after the tests with real daemons and timing
# bounds (the anycast failover test's 50 ms) have finished.
tests/eval/test_eval_steady.log: tests/integration/test_daemon_dns.log \
	tests/integration/test_config_verdict.log \
	tests/integration/test_cluster.log tests/integration/test_k8s_daemon.log \
	tests/integration/test_large_records.log tests/integration/test_k8s_ingress.log \
	tests/integration/test_anycast.log tests/integration/test_anycast_testbed.log \
	tests/integration/routing-failover.log tests/integration/test_eval_loadgen.log \
	tests/integration/test_resolver_letters.log tests/eval/test_eval_lib.log

# `tests/eval/run scale --quick` (issue 15): after the steady run, for the same reason.
TESTS += tests/eval/test_eval_scale.py
EXTRA_DIST += tests/eval/test_eval_scale.py tests/eval/evallib/scale.py
tests/eval/test_eval_scale.log: tests/eval/test_eval_steady.log

# Script tests have no objects, so in a VPATH build (distcheck) nothing
# else creates their folders for the .log and .trs files.
check_DATA = tests/.script-dirs
tests/.script-dirs:
	$(MKDIR_P) tests/integration tests/k8s tests/eval && touch $@
DISTCLEANFILES = tests/.script-dirs

# Test logs of a build directory never belong in a release tarball.
dist-hook:
	find $(distdir) \( -name '*.log' -o -name '*.trs' \) -type f -exec rm -f {} +
