# gossip/: SWIM + Lifeguard membership, see gossip/gossip.h.
noinst_LTLIBRARIES += gossip/libgossip.la
gossip_libgossip_la_SOURCES = gossip/gossip.h gossip/internal.h \
	gossip/wire.c gossip/crypto.c gossip/core.c gossip/stream.c gossip/uv.c \
	gossip/vivaldi.c
gossip_libgossip_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(SODIUM_CFLAGS) $(LIBUV_CFLAGS)
gossip_libgossip_la_LIBADD = lib/libas.la $(MSGPACK_LIBS) $(SODIUM_LIBS) $(LIBUV_LIBS) -lm

GOSSIP_LIBS = gossip/libgossip.la lib/libas.la $(MSGPACK_LIBS) $(SODIUM_LIBS) $(LIBUV_LIBS) -lm
GOSSIP_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS) $(LIBUV_CFLAGS)

# The simulator: a library shared by the sim tests and the benchmark.
noinst_LTLIBRARIES += tests/sim/libgossipsim.la
tests_sim_libgossipsim_la_SOURCES = tests/sim/sim.h tests/sim/sim.c
tests_sim_libgossipsim_la_CFLAGS = $(AM_CFLAGS)

GOSSIP_UNIT_TESTS = tests/unit/test_gossip_wire tests/unit/test_gossip_keyring \
	tests/unit/test_gossip_core tests/unit/test_gossip_sim tests/unit/test_gossip_uv \
	tests/unit/test_gossip_vivaldi
if HAVE_CMOCKA
check_PROGRAMS += $(GOSSIP_UNIT_TESTS)
TESTS += $(GOSSIP_UNIT_TESTS)
endif
tests_unit_test_gossip_wire_SOURCES = tests/unit/test_gossip_wire.c
tests_unit_test_gossip_wire_CFLAGS = $(GOSSIP_TEST_CFLAGS)
tests_unit_test_gossip_wire_LDADD = $(GOSSIP_LIBS) $(CMOCKA_LIBS)
tests_unit_test_gossip_keyring_SOURCES = tests/unit/test_gossip_keyring.c
tests_unit_test_gossip_keyring_CFLAGS = $(GOSSIP_TEST_CFLAGS)
tests_unit_test_gossip_keyring_LDADD = $(GOSSIP_LIBS) $(CMOCKA_LIBS)
tests_unit_test_gossip_core_SOURCES = tests/unit/test_gossip_core.c
tests_unit_test_gossip_core_CFLAGS = $(GOSSIP_TEST_CFLAGS)
tests_unit_test_gossip_core_LDADD = $(GOSSIP_LIBS) $(CMOCKA_LIBS)
tests_unit_test_gossip_sim_SOURCES = tests/unit/test_gossip_sim.c
tests_unit_test_gossip_sim_CFLAGS = $(GOSSIP_TEST_CFLAGS)
tests_unit_test_gossip_sim_LDADD = tests/sim/libgossipsim.la $(GOSSIP_LIBS) $(CMOCKA_LIBS)
tests_unit_test_gossip_vivaldi_SOURCES = tests/unit/test_gossip_vivaldi.c
tests_unit_test_gossip_vivaldi_CFLAGS = $(GOSSIP_TEST_CFLAGS)
tests_unit_test_gossip_vivaldi_LDADD = $(GOSSIP_LIBS) $(CMOCKA_LIBS)
tests_unit_test_gossip_uv_SOURCES = tests/unit/test_gossip_uv.c
tests_unit_test_gossip_uv_CFLAGS = $(GOSSIP_TEST_CFLAGS)
tests_unit_test_gossip_uv_LDADD = $(GOSSIP_LIBS) $(CMOCKA_LIBS)
# Benchmark (not part of make check): make tests/bench/gossip_bench
noinst_PROGRAMS += tests/bench/gossip_bench
tests_bench_gossip_bench_SOURCES = tests/bench/gossip_bench.c
tests_bench_gossip_bench_LDADD = tests/sim/libgossipsim.la $(GOSSIP_LIBS)

# libFuzzer harness (configure CC=clang --enable-fuzzing), and its replay
# over the seed corpus tests/fuzz/corpus/gossip_decode, which
# tests/fuzz/replay.sh runs in every make check.
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_gossip_decode
endif
tests_fuzz_fuzz_gossip_decode_SOURCES = tests/fuzz/fuzz_gossip_decode.c
tests_fuzz_fuzz_gossip_decode_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_gossip_decode_LDADD = $(GOSSIP_LIBS)

check_PROGRAMS += tests/fuzz/replay_gossip_decode
tests_fuzz_replay_gossip_decode_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_gossip_decode.c
tests_fuzz_replay_gossip_decode_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_gossip_decode_LDADD = $(GOSSIP_LIBS)

# Issue 11: a real anysteerd under a flood of unauthenticated TCP frames.
TESTS += tests/integration/test_dos_gossip.py
EXTRA_DIST += tests/integration/test_dos_gossip.py
