# tests/fuzz/: libFuzzer harnesses and the corpus replay that 'make check' runs.
#
# Each harness fuzz_<name>.c builds twice: as tests/fuzz/fuzz_<name> with
# libFuzzer (only with --enable-fuzzing), and as tests/fuzz/replay_<name>
# with replay.c's main(), which tests/fuzz/replay.sh runs over the seed
# corpus tests/fuzz/corpus/<name> in every 'make check'.
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_dns_query
# The library code carries -fsanitize=fuzzer-no-link (and ASan, UBSan):
# the replay programs need those runtimes without libFuzzer's main().
FUZZ_REPLAY_SANFLAGS = -fsanitize=address,undefined
else
FUZZ_REPLAY_SANFLAGS =
endif

FUZZ_DNS_LDADD = dns/libdns.la lib/libas.la $(LDNS_LIBS) $(URING_LIBS) $(LIBUV_LIBS) $(SODIUM_LIBS) -lm

tests_fuzz_fuzz_dns_query_SOURCES = tests/fuzz/fuzz_dns_query.c
tests_fuzz_fuzz_dns_query_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS)
tests_fuzz_fuzz_dns_query_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_dns_query_LDADD = $(FUZZ_DNS_LDADD)

check_PROGRAMS += tests/fuzz/replay_dns_query
tests_fuzz_replay_dns_query_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_dns_query.c
tests_fuzz_replay_dns_query_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS)
tests_fuzz_replay_dns_query_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_dns_query_LDADD = $(FUZZ_DNS_LDADD)

TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/replay.sh tests/fuzz/gen_corpus_dns_query.py \
	tests/fuzz/corpus

# The forwarder's upstream answers and client queries (dns/forward.c).
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_dns_forward
endif
tests_fuzz_fuzz_dns_forward_SOURCES = tests/fuzz/fuzz_dns_forward.c
tests_fuzz_fuzz_dns_forward_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_dns_forward_LDADD = $(FUZZ_DNS_LDADD)
check_PROGRAMS += tests/fuzz/replay_dns_forward
tests_fuzz_replay_dns_forward_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_dns_forward.c
tests_fuzz_replay_dns_forward_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_dns_forward_LDADD = $(FUZZ_DNS_LDADD)
EXTRA_DIST += tests/fuzz/gen_corpus_dns_forward.py

# The configuration loader (agent/config.c).
# The agent's test link line carries every library the agent needs.
FUZZ_CONFIG_LDADD = $(AGENT_TEST_LDADD)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_config
endif
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_config_LDADD = $(FUZZ_CONFIG_LDADD)
check_PROGRAMS += tests/fuzz/replay_config
tests_fuzz_replay_config_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_config.c
tests_fuzz_replay_config_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_config_LDADD = $(FUZZ_CONFIG_LDADD)

# The SR topology file (srv6/topofile.c).
FUZZ_SRV6_LDADD = srv6/libsrv6.la lib/libasyaml.la lib/libas.la $(LIBBPF_LIBS) $(YAML_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_srv6_topo
endif
tests_fuzz_fuzz_srv6_topo_SOURCES = tests/fuzz/fuzz_srv6_topo.c
tests_fuzz_fuzz_srv6_topo_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_srv6_topo_LDADD = $(FUZZ_SRV6_LDADD)
check_PROGRAMS += tests/fuzz/replay_srv6_topo
tests_fuzz_replay_srv6_topo_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_srv6_topo.c
tests_fuzz_replay_srv6_topo_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_srv6_topo_LDADD = $(FUZZ_SRV6_LDADD)

# 'make fuzz' (docs/testing.md): every harness for FUZZ_TIME seconds from
# its corpus in the source tree; inputs that add coverage are merged into
# that corpus, crashes go to tests/fuzz/out/<name>/crashes and fail the
# run. E.g. make fuzz FUZZ_TIME=28800 FUZZ_HARNESSES=k8s_json (one night).
FUZZ_TIME = 60
FUZZ_HARNESSES =
FUZZ_JOBS = 1
FUZZ_ARGS =
FUZZ_PROGS = tests/fuzz/fuzz_dns_query$(EXEEXT) tests/fuzz/fuzz_dns_forward$(EXEEXT) tests/fuzz/fuzz_config$(EXEEXT) \
	tests/fuzz/fuzz_gossip_decode$(EXEEXT) tests/fuzz/fuzz_k8s_json$(EXEEXT) \
	tests/fuzz/fuzz_k8s_kubeconfig$(EXEEXT) tests/fuzz/fuzz_srv6_topo$(EXEEXT)
EXTRA_DIST += tests/fuzz/run-fuzz.sh
.PHONY: fuzz
if FUZZING
fuzz: $(FUZZ_PROGS)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	FUZZ_TIME='$(FUZZ_TIME)' FUZZ_HARNESSES='$(FUZZ_HARNESSES)' \
	FUZZ_JOBS='$(FUZZ_JOBS)' FUZZ_ARGS='$(FUZZ_ARGS)' \
	$(SHELL) $(srcdir)/tests/fuzz/run-fuzz.sh
else
fuzz:
	@echo "make fuzz: this build has no libFuzzer harnesses; configure one in a separate directory with $(top_srcdir)/configure CC=clang --enable-fuzzing (docs/testing.md)"; exit 1
endif

clean-local: clean-fuzz-out
clean-fuzz-out:
	rm -rf tests/fuzz/out
.PHONY: clean-fuzz-out
