# srv6/: see srv6/srv6.h. The path computation and the entry checks are
# always built; the eBPF data plane only when configure found clang,
# libbpf and bpftool (prog_none.c stands in otherwise).
noinst_LTLIBRARIES += srv6/libsrv6.la
srv6_libsrv6_la_SOURCES = srv6/srv6.h srv6/steer.c srv6/path.c srv6/topofile.c
srv6_libsrv6_la_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS) $(YAML_CFLAGS)
srv6_libsrv6_la_LIBADD = lib/libasyaml.la lib/libas.la $(YAML_LIBS)
EXTRA_DIST += srv6/bpf/srv6.bpf.c

if HAVE_SRV6_BPF
srv6_libsrv6_la_SOURCES += srv6/prog.c srv6/bpf/srv6_abi.h
nodist_srv6_libsrv6_la_SOURCES = srv6/srv6.skel.h
srv6_libsrv6_la_LIBADD += $(LIBBPF_LIBS)

# The BPF object uses only uapi headers and struct __sk_buff (no
# vmlinux.h, no CO-RE relocations); -g keeps the BTF the maps need.
SRV6_BPF_FLAGS = -target bpf -O2 -g -Wall -Werror -I$(top_srcdir) \
	$(BPF_CPPFLAGS) $(LIBBPF_CFLAGS)
srv6/bpf/srv6.bpf.o: $(top_srcdir)/srv6/bpf/srv6.bpf.c $(top_srcdir)/srv6/bpf/srv6_abi.h
	@$(MKDIR_P) srv6/bpf
	$(AM_V_GEN)$(CLANG) $(SRV6_BPF_FLAGS) -c $(top_srcdir)/srv6/bpf/srv6.bpf.c -o $@
srv6/srv6.skel.h: srv6/bpf/srv6.bpf.o
	$(AM_V_GEN)$(BPFTOOL) gen skeleton srv6/bpf/srv6.bpf.o name srv6_bpf >$@.tmp && mv $@.tmp $@
# (A rule naming the object itself would replace automake's compile rule.)
$(srv6_libsrv6_la_OBJECTS): srv6/srv6.skel.h
CLEANFILES += srv6/bpf/srv6.bpf.o srv6/srv6.skel.h
else
srv6_libsrv6_la_SOURCES += srv6/prog_none.c
endif

SRV6_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
SRV6_TEST_LDADD = srv6/libsrv6.la lib/libasyaml.la lib/libas.la $(LIBBPF_LIBS) $(YAML_LIBS) $(CMOCKA_LIBS)

# Path computation (pure).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_srv6_path
TESTS += tests/unit/test_srv6_path
endif
tests_unit_test_srv6_path_SOURCES = tests/unit/test_srv6_path.c
tests_unit_test_srv6_path_CFLAGS = $(SRV6_TEST_CFLAGS)
tests_unit_test_srv6_path_LDADD = $(SRV6_TEST_LDADD)

# The topology file (pure).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_srv6_topofile
TESTS += tests/unit/test_srv6_topofile
endif
tests_unit_test_srv6_topofile_SOURCES = tests/unit/test_srv6_topofile.c
tests_unit_test_srv6_topofile_CFLAGS = $(SRV6_TEST_CFLAGS)
tests_unit_test_srv6_topofile_LDADD = $(SRV6_TEST_LDADD)

# The tc programs run on crafted packets (BPF_PROG_TEST_RUN); root, else
# SKIP (77) with the reason.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_srv6_bpf
TESTS += tests/unit/test_srv6_bpf
endif
tests_unit_test_srv6_bpf_SOURCES = tests/unit/test_srv6_bpf.c
tests_unit_test_srv6_bpf_CFLAGS = $(SRV6_TEST_CFLAGS)
tests_unit_test_srv6_bpf_LDADD = $(SRV6_TEST_LDADD)

# Stand-in for the agent in tests/integration/test_srv6.py (root,
# namespaces, tcpdump; SKIP 77 with the reason otherwise).
check_PROGRAMS += tests/unit/test_srv6_holder
tests_unit_test_srv6_holder_SOURCES = tests/unit/test_srv6_holder.c
tests_unit_test_srv6_holder_CFLAGS = $(AM_CFLAGS)
tests_unit_test_srv6_holder_LDADD = srv6/libsrv6.la lib/libasyaml.la lib/libas.la $(LIBBPF_LIBS) $(YAML_LIBS)
TESTS += tests/integration/test_srv6.py
EXTRA_DIST += tests/integration/test_srv6.py

# The testbed's SR option (deploy/testbed/testbed.sh up --sr): topology
# file against the network, SRHs per path, iperf3 on the shaped path.
# Root, BIRD, tcpdump, iperf3, else SKIP (77); skips under distcheck
# like the other cluster tests. Its iperf3 runs load both cores: after
# the tests with tight timing bounds.
TESTS += tests/integration/test_srv6_testbed.py
EXTRA_DIST += tests/integration/test_srv6_testbed.py
tests/integration/test_srv6_testbed.log: tests/integration/test_anycast_testbed.log \
	tests/integration/test_anycast.log tests/integration/routing-failover.log

# Agents on the SR testbed: an end-host agent steers two services by
# intent (bandwidth, cost), iperf3 rates, a long transfer across a link
# cut. iperf3 loads both cores: after the tests with tight bounds.
TESTS += tests/integration/test_srv6_agents_testbed.py
EXTRA_DIST += tests/integration/test_srv6_agents_testbed.py
tests/integration/test_srv6_agents_testbed.log: tests/integration/test_srv6_testbed.log
# The evaluation's SRv6 scenario, quick (tests/eval/run srv6 --quick):
# iperf3 per intent and a transfer across a link cut, ~1 minute.
TESTS += tests/eval/test_eval_srv6.py
EXTRA_DIST += tests/eval/test_eval_srv6.py tests/eval/evallib/srv6.py
tests/eval/test_eval_srv6.log: tests/integration/test_srv6_agents_testbed.log

# Benchmark (by hand, not part of make check): tests/bench/srv6-bench.sh
# runs tests/bench/srv6_update_bench (map update latency) and iperf3
# over the SR testbed.
noinst_PROGRAMS += tests/bench/srv6_update_bench
tests_bench_srv6_update_bench_SOURCES = tests/bench/srv6_update_bench.c
tests_bench_srv6_update_bench_CFLAGS = $(AM_CFLAGS)
tests_bench_srv6_update_bench_LDADD = srv6/libsrv6.la lib/libasyaml.la lib/libas.la $(LIBBPF_LIBS) $(YAML_LIBS)
EXTRA_DIST += tests/bench/srv6-bench.sh tests/bench/srv6-bench.py tests/bench/srv6-cut-bench.py
# Real agents: an end host steering by intent, reload, link cut; and one
# without the capabilities (root, namespaces, tcpdump; SKIP 77 otherwise).
TESTS += tests/integration/test_srv6_agent.py
EXTRA_DIST += tests/integration/test_srv6_agent.py
