# agent/: daemon wiring, config, local sources, control socket, CLI.
noinst_LTLIBRARIES += agent/libagent.la
agent_libagent_la_SOURCES = agent/agent.h agent/component.h agent/component.c \
	agent/catalog.h agent/catalog.c agent/viewspec.h agent/viewspec.c \
	agent/report.h agent/report.c agent/config.c agent/config_schema.c \
	agent/config_schema.h agent/load.c \
	agent/daemon.c agent/reload.h agent/reload.c \
	agent/control.h agent/control.c \
	agent/metrics.h agent/metrics.c agent/anycast.h agent/anycast.c \
	agent/cluster.h agent/cluster.c agent/probe.h agent/probe.c \
	agent/k8s_source.h agent/k8s_source.c \
	agent/srv6plan.h agent/srv6plan.c agent/srv6.h agent/srv6.c
agent_libagent_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS) $(LIBUV_CFLAGS) $(JANSSON_CFLAGS) $(MHD_CFLAGS) $(MNL_CFLAGS) $(CURL_CFLAGS)
agent_libagent_la_LIBADD = k8s/libk8s.la $(CURL_LIBS) gossip/libgossip.la $(MSGPACK_LIBS) $(SODIUM_LIBS) routing/librouting.la dns/libdns.la srv6/libsrv6.la $(LIBBPF_LIBS) lib/libasyaml.la lib/libas.la $(MNL_LIBS) $(YAML_LIBS) $(LIBUV_LIBS) $(JANSSON_LIBS) $(MHD_LIBS)

AGENT_TEST_LDADD = agent/libagent.la k8s/libk8s.la $(CURL_LIBS) gossip/libgossip.la $(MSGPACK_LIBS) routing/librouting.la $(MNL_LIBS) dns/libdns.la srv6/libsrv6.la $(LIBBPF_LIBS) lib/libasyaml.la lib/libas.la $(YAML_LIBS) $(LDNS_LIBS) $(URING_LIBS) \
	$(LIBUV_LIBS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(MHD_LIBS) $(CMOCKA_LIBS) -lm
AGENT_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_agent_config tests/unit/test_agent_load tests/unit/test_agent_metrics
TESTS += tests/unit/test_agent_config tests/unit/test_agent_load tests/unit/test_agent_metrics
check_PROGRAMS += tests/unit/test_agent_probe
TESTS += tests/unit/test_agent_probe
check_PROGRAMS += tests/unit/test_agent_catalog tests/unit/test_agent_viewspec
TESTS += tests/unit/test_agent_catalog tests/unit/test_agent_viewspec
check_PROGRAMS += tests/unit/test_agent_daemon
TESTS += tests/unit/test_agent_daemon
check_PROGRAMS += tests/unit/test_agent_report
TESTS += tests/unit/test_agent_report
check_PROGRAMS += tests/unit/test_agent_srv6plan
TESTS += tests/unit/test_agent_srv6plan
endif
tests_unit_test_agent_srv6plan_SOURCES = tests/unit/test_agent_srv6plan.c
tests_unit_test_agent_srv6plan_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_agent_srv6plan_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_report_SOURCES = tests/unit/test_agent_report.c
tests_unit_test_agent_report_CFLAGS = $(AGENT_TEST_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_agent_report_LDADD = $(AGENT_TEST_LDADD)
# The daemon in-process; its allocations are counted (--wrap=calloc).
tests_unit_test_agent_daemon_SOURCES = tests/unit/test_agent_daemon.c
tests_unit_test_agent_daemon_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_agent_daemon_LDFLAGS = -Wl,--wrap=calloc
tests_unit_test_agent_daemon_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_catalog_SOURCES = tests/unit/test_agent_catalog.c
tests_unit_test_agent_catalog_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_agent_catalog_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_viewspec_SOURCES = tests/unit/test_agent_viewspec.c
tests_unit_test_agent_viewspec_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_agent_viewspec_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_probe_SOURCES = tests/unit/test_agent_probe.c
tests_unit_test_agent_probe_CFLAGS = $(AGENT_TEST_CFLAGS) $(JANSSON_CFLAGS) $(LIBUV_CFLAGS)
tests_unit_test_agent_probe_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_config_SOURCES = tests/unit/test_agent_config.c
tests_unit_test_agent_config_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_agent_config_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_load_SOURCES = tests/unit/test_agent_load.c
tests_unit_test_agent_load_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_agent_load_LDADD = $(AGENT_TEST_LDADD)
tests_unit_test_agent_metrics_SOURCES = tests/unit/test_agent_metrics.c
tests_unit_test_agent_metrics_CFLAGS = $(AGENT_TEST_CFLAGS) $(JANSSON_CFLAGS) $(LIBUV_CFLAGS)
tests_unit_test_agent_metrics_LDADD = $(AGENT_TEST_LDADD)

sbin_PROGRAMS += agent/anysteerd
agent_anysteerd_SOURCES = agent/main.c
agent_anysteerd_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
agent_anysteerd_LDADD = agent/libagent.la k8s/libk8s.la $(CURL_LIBS) gossip/libgossip.la $(MSGPACK_LIBS) routing/librouting.la $(MNL_LIBS) dns/libdns.la srv6/libsrv6.la $(LIBBPF_LIBS) lib/libasyaml.la lib/libas.la $(YAML_LIBS) $(LDNS_LIBS) $(URING_LIBS) \
	$(LIBUV_LIBS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(MHD_LIBS) -lm

bin_PROGRAMS += agent/anysteerctl
agent_anysteerctl_SOURCES = agent/ctl.c
agent_anysteerctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
agent_anysteerctl_LDADD = $(JANSSON_LIBS) -lm
