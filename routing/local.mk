# routing/: see routing/routing.h.
noinst_LTLIBRARIES += routing/librouting.la
routing_librouting_la_SOURCES = routing/routing.h routing/bird.c routing/birdctl.c routing/tun.c \
	routing/gate.c routing/anycast.c
routing_librouting_la_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(MNL_CFLAGS)
routing_librouting_la_LIBADD = lib/libas.la $(LIBUV_LIBS) $(MNL_LIBS)

ROUTING_TEST_LDADD = routing/librouting.la lib/libas.la $(LIBUV_LIBS) $(MNL_LIBS) $(CMOCKA_LIBS)
ROUTING_TEST_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(MNL_CFLAGS) $(CMOCKA_CFLAGS)
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_routing_bird
TESTS += tests/unit/test_routing_bird
endif
tests_unit_test_routing_bird_SOURCES = tests/unit/test_routing_bird.c
tests_unit_test_routing_bird_CFLAGS = $(ROUTING_TEST_CFLAGS)
tests_unit_test_routing_bird_LDADD = $(ROUTING_TEST_LDADD)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_routing_birdctl
TESTS += tests/unit/test_routing_birdctl
endif
tests_unit_test_routing_birdctl_SOURCES = tests/unit/test_routing_birdctl.c
tests_unit_test_routing_birdctl_CFLAGS = $(ROUTING_TEST_CFLAGS)
tests_unit_test_routing_birdctl_LDADD = $(ROUTING_TEST_LDADD)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_routing_tun
TESTS += tests/unit/test_routing_tun
endif
tests_unit_test_routing_tun_SOURCES = tests/unit/test_routing_tun.c
tests_unit_test_routing_tun_CFLAGS = $(ROUTING_TEST_CFLAGS)
tests_unit_test_routing_tun_LDADD = $(ROUTING_TEST_LDADD)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_routing_gate
TESTS += tests/unit/test_routing_gate
endif
tests_unit_test_routing_gate_SOURCES = tests/unit/test_routing_gate.c
tests_unit_test_routing_gate_CFLAGS = $(ROUTING_TEST_CFLAGS)
tests_unit_test_routing_gate_LDADD = $(ROUTING_TEST_LDADD)

# Stand-in for the agent in tests/integration/routing-*.sh.
check_PROGRAMS += tests/unit/test_routing_holder
tests_unit_test_routing_holder_SOURCES = tests/unit/test_routing_holder.c
tests_unit_test_routing_holder_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(MNL_CFLAGS)
tests_unit_test_routing_holder_LDADD = routing/librouting.la lib/libas.la $(LIBUV_LIBS) $(MNL_LIBS)

# Shell-level tests (root, network namespaces, real BIRD); each skips (77)
# with a reason when it cannot run. Runnable standalone, see their headers.
TESTS += tests/integration/routing-bird-config.sh \
	tests/integration/routing-failover.sh
EXTRA_DIST += tests/integration/routing-bird-config.sh \
	tests/integration/routing-failover.sh
