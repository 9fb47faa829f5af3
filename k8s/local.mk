# k8s/: the Kubernetes API client (list+watch of Services and
# EndpointSlices). Built as its own convenience library so the daemon, the
# tests and the fuzz harness link the same objects.
noinst_LTLIBRARIES += k8s/libk8s.la
k8s_libk8s_la_SOURCES = k8s/k8s.h \
	k8s/k8s_model.c k8s/k8s_conf.c k8s/k8s_client.c \
	k8s/k8s_json.h k8s/k8s_json.c k8s/objs.c k8s/ingress.c k8s/gateway.c \
	k8s/status.c k8s/events.c k8s/lease.c k8s/publish.c k8s/leader.c \
	k8s/node.c
k8s_libk8s_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	$(LIBUV_CFLAGS) $(YAML_CFLAGS) $(SODIUM_CFLAGS)
k8s_libk8s_la_LIBADD = lib/libasyaml.la lib/libas.la $(JANSSON_LIBS) $(CURL_LIBS) \
	$(LIBUV_LIBS) $(YAML_LIBS) $(SODIUM_LIBS)

K8S_TEST_LDADD = k8s/libk8s.la lib/libasyaml.la lib/libas.la $(JANSSON_LIBS) $(CURL_LIBS) \
	$(LIBUV_LIBS) $(YAML_LIBS) $(SODIUM_LIBS) $(CMOCKA_LIBS)
K8S_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) \
	$(CURL_CFLAGS) $(LIBUV_CFLAGS) \
	-DK8S_TEST_SRCDIR='"$(abs_top_srcdir)"'

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_k8s_model tests/unit/test_k8s_conf \
	tests/unit/test_k8s_watch tests/unit/test_k8s_ingress \
	tests/unit/test_k8s_gateway tests/unit/test_k8s_lease \
	tests/unit/test_k8s_publish tests/unit/test_k8s_events \
	tests/unit/test_k8s_node
TESTS += tests/unit/test_k8s_model tests/unit/test_k8s_conf \
	tests/unit/test_k8s_watch tests/unit/test_k8s_ingress \
	tests/unit/test_k8s_gateway tests/unit/test_k8s_lease \
	tests/unit/test_k8s_publish tests/unit/test_k8s_events \
	tests/unit/test_k8s_node
endif
tests_unit_test_k8s_model_SOURCES = tests/unit/test_k8s_model.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_model_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_model_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_conf_SOURCES = tests/unit/test_k8s_conf.c
tests_unit_test_k8s_conf_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_conf_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_watch_SOURCES = tests/unit/test_k8s_watch.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_watch_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_watch_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_ingress_SOURCES = tests/unit/test_k8s_ingress.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_ingress_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_ingress_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_gateway_SOURCES = tests/unit/test_k8s_gateway.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_gateway_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_gateway_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_lease_SOURCES = tests/unit/test_k8s_lease.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_lease_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_lease_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_publish_SOURCES = tests/unit/test_k8s_publish.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_publish_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_publish_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_events_SOURCES = tests/unit/test_k8s_events.c
tests_unit_test_k8s_events_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_events_LDADD = $(K8S_TEST_LDADD)
tests_unit_test_k8s_node_SOURCES = tests/unit/test_k8s_node.c tests/unit/k8s_fixture.h
tests_unit_test_k8s_node_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_k8s_node_LDADD = $(K8S_TEST_LDADD)

# The annotation filter's copy of the host-name label rule agrees with
# its owner, dns/name.c (the test links both; k8s/ itself never does).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_name_rules
TESTS += tests/unit/test_name_rules
endif
tests_unit_test_name_rules_SOURCES = tests/unit/test_name_rules.c
tests_unit_test_name_rules_CFLAGS = $(K8S_TEST_CFLAGS)
tests_unit_test_name_rules_LDADD = dns/libdns.la $(K8S_TEST_LDADD) \
	$(LDNS_LIBS) $(URING_LIBS) -lm

# Every manifest document parses and carries the fields issue 5 asks for.
TESTS += tests/k8s/check_manifests
# The fake API server's Ingress / Gateway API / status / Event / Lease
# endpoints behave as the agent-side tests will need them to.
TESTS += tests/k8s/test_apiserver.py
EXTRA_DIST += tests/k8s/apiserver.py tests/k8s/check_manifests tests/k8s/fixtures \
	tests/k8s/test_apiserver.py

# Fuzz harnesses over the JSON entry points and the kubeconfig reader:
# libFuzzer binaries with --enable-fuzzing, and replay_ programs that
# tests/fuzz/replay.sh runs over tests/fuzz/corpus/k8s_json and
# tests/fuzz/corpus/k8s_kubeconfig in every 'make check'.
K8S_FUZZ_LDADD = k8s/libk8s.la lib/libasyaml.la lib/libas.la $(JANSSON_LIBS) $(CURL_LIBS) \
	$(LIBUV_LIBS) $(YAML_LIBS) $(SODIUM_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_k8s_json tests/fuzz/fuzz_k8s_kubeconfig
endif
tests_fuzz_fuzz_k8s_json_SOURCES = tests/fuzz/fuzz_k8s_json.c
tests_fuzz_fuzz_k8s_json_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_k8s_json_LDADD = $(K8S_FUZZ_LDADD)
tests_fuzz_fuzz_k8s_kubeconfig_SOURCES = tests/fuzz/fuzz_k8s_kubeconfig.c
tests_fuzz_fuzz_k8s_kubeconfig_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_k8s_kubeconfig_LDADD = $(K8S_FUZZ_LDADD)

check_PROGRAMS += tests/fuzz/replay_k8s_json tests/fuzz/replay_k8s_kubeconfig
tests_fuzz_replay_k8s_json_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_k8s_json.c
tests_fuzz_replay_k8s_json_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_k8s_json_LDADD = $(K8S_FUZZ_LDADD)
tests_fuzz_replay_k8s_kubeconfig_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_k8s_kubeconfig.c
tests_fuzz_replay_k8s_kubeconfig_LDFLAGS = $(AM_LDFLAGS) $(FUZZ_REPLAY_SANFLAGS)
tests_fuzz_replay_k8s_kubeconfig_LDADD = $(K8S_FUZZ_LDADD)
