# dns/: query handling, answer policy, listeners.
noinst_LTLIBRARIES += dns/libdns.la
dns_libdns_la_SOURCES = dns/dns.h dns/wire.h dns/view.h \
	dns/conntab.c dns/conntab.h dns/name.c dns/intent.c dns/policy.c dns/view.c dns/query.c dns/stats.c \
	dns/server_int.h dns/server.c dns/socket.c dns/udp_mmsg.c dns/udp_uring.c dns/tcp.c \
	dns/probe.c dns/forward.h dns/forward.c dns/fcache.c dns/fwd_io.c dns/rrl.h dns/rrl.c
dns_libdns_la_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS) $(LIBUV_CFLAGS) $(SODIUM_CFLAGS) $(URING_CFLAGS)
dns_libdns_la_LIBADD = lib/libas.la $(LDNS_LIBS) $(LIBUV_LIBS) $(SODIUM_LIBS) $(URING_LIBS) -lm

DNS_TEST_LDADD = dns/libdns.la lib/libas.la $(LDNS_LIBS) $(LIBUV_LIBS) $(SODIUM_LIBS) $(URING_LIBS) $(CMOCKA_LIBS) -lm
DNS_TEST_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS) $(CMOCKA_CFLAGS)
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_dns_policy tests/unit/test_dns_intent tests/unit/test_dns_query \
	tests/unit/test_dns_conntab tests/unit/test_dns_name tests/unit/test_dns_probe \
	tests/unit/test_dns_forward tests/unit/test_dns_rrl
TESTS += tests/unit/test_dns_policy tests/unit/test_dns_intent tests/unit/test_dns_query \
	tests/unit/test_dns_conntab tests/unit/test_dns_name tests/unit/test_dns_probe \
	tests/unit/test_dns_forward tests/unit/test_dns_rrl
endif
tests_unit_test_dns_rrl_SOURCES = tests/unit/test_dns_rrl.c
tests_unit_test_dns_rrl_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_rrl_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_name_SOURCES = tests/unit/test_dns_name.c
tests_unit_test_dns_name_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_name_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_policy_SOURCES = tests/unit/test_dns_policy.c
tests_unit_test_dns_policy_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_policy_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_intent_SOURCES = tests/unit/test_dns_intent.c
tests_unit_test_dns_intent_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_intent_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_query_SOURCES = tests/unit/test_dns_query.c
tests_unit_test_dns_query_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_query_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_conntab_SOURCES = tests/unit/test_dns_conntab.c
tests_unit_test_dns_conntab_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_conntab_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_forward_SOURCES = tests/unit/test_dns_forward.c
tests_unit_test_dns_forward_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_forward_LDADD = $(DNS_TEST_LDADD)
tests_unit_test_dns_probe_SOURCES = tests/unit/test_dns_probe.c
tests_unit_test_dns_probe_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_probe_LDADD = $(DNS_TEST_LDADD)

# Benchmark of dns_answer() alone (not part of make check):
# make tests/bench/dns_answer_bench
noinst_PROGRAMS += tests/bench/dns_answer_bench
tests_bench_dns_answer_bench_SOURCES = tests/bench/dns_answer_bench.c
tests_bench_dns_answer_bench_CFLAGS = $(AM_CFLAGS) $(LDNS_CFLAGS)
tests_bench_dns_answer_bench_LDADD = dns/libdns.la lib/libas.la $(LDNS_LIBS) -lm

# Forwarding benchmark against unbound and dnsdist (run by hand, not part
# of make check; it uses tests/bench/dns/benchlib.py, distributed whole).
EXTRA_DIST += tests/bench/fwd-bench.sh

# Listener tests (dns/server.c): real sockets on loopback.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_dns_server
TESTS += tests/unit/test_dns_server
endif
tests_unit_test_dns_server_SOURCES = tests/unit/test_dns_server.c
tests_unit_test_dns_server_CFLAGS = $(DNS_TEST_CFLAGS)
tests_unit_test_dns_server_LDADD = $(DNS_TEST_LDADD)
