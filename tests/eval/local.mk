# tests/eval/: the evaluation's load generator and backend (issue 12).
# Pure cores in a convenience library that the programs and the unit
# tests link; the harness (tests/eval/run) runs the two programs.
noinst_LTLIBRARIES += tests/eval/libeval.la
tests_eval_libeval_la_SOURCES = tests/eval/src/eval.h tests/eval/src/hist.c \
	tests/eval/src/sched.c tests/eval/src/results.c tests/eval/src/dns.c \
	tests/eval/src/http.c
tests_eval_libeval_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_eval_libeval_la_LIBADD = lib/libas.la $(JANSSON_LIBS) -lm

noinst_PROGRAMS += tests/eval/as-backend tests/eval/as-loadgen
tests_eval_as_backend_SOURCES = tests/eval/src/backend.c
tests_eval_as_backend_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(JANSSON_CFLAGS)
tests_eval_as_backend_LDADD = tests/eval/libeval.la lib/libas.la $(LIBUV_LIBS) $(JANSSON_LIBS) -lm
tests_eval_as_loadgen_SOURCES = tests/eval/src/loadgen.c
tests_eval_as_loadgen_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(JANSSON_CFLAGS)
tests_eval_as_loadgen_LDADD = tests/eval/libeval.la lib/libas.la $(LIBUV_LIBS) $(JANSSON_LIBS) -lm

EVAL_TEST_LDADD = tests/eval/libeval.la lib/libas.la $(JANSSON_LIBS) $(CMOCKA_LIBS) -lm
EVAL_TEST_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CMOCKA_CFLAGS)
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_eval_hist tests/unit/test_eval_sched tests/unit/test_eval_proto \
	tests/unit/test_eval_events
TESTS += tests/unit/test_eval_hist tests/unit/test_eval_sched tests/unit/test_eval_proto \
	tests/unit/test_eval_events
endif
tests_unit_test_eval_hist_SOURCES = tests/unit/test_eval_hist.c
tests_unit_test_eval_hist_CFLAGS = $(EVAL_TEST_CFLAGS)
tests_unit_test_eval_hist_LDADD = $(EVAL_TEST_LDADD)
tests_unit_test_eval_sched_SOURCES = tests/unit/test_eval_sched.c
tests_unit_test_eval_sched_CFLAGS = $(EVAL_TEST_CFLAGS)
tests_unit_test_eval_sched_LDADD = $(EVAL_TEST_LDADD)
tests_unit_test_eval_events_SOURCES = tests/unit/test_eval_events.c
tests_unit_test_eval_events_CFLAGS = $(EVAL_TEST_CFLAGS)
tests_unit_test_eval_events_LDADD = $(EVAL_TEST_LDADD)
tests_unit_test_eval_proto_SOURCES = tests/unit/test_eval_proto.c
tests_unit_test_eval_proto_CFLAGS = $(EVAL_TEST_CFLAGS) $(LDNS_CFLAGS)
tests_unit_test_eval_proto_LDADD = $(EVAL_TEST_LDADD) $(LDNS_LIBS)

# Smoke test: backends, anysteerd as the resolver path, the load generator
# (root for a private network namespace, else SKIP).
TESTS += tests/integration/test_eval_loadgen.py
EXTRA_DIST += tests/integration/test_eval_loadgen.py
# The load generator's own cost and top rate (by hand, as root):
#   sudo top_builddir=_build/plain tests/eval/src/selfbench.py
EXTRA_DIST += tests/eval/src/selfbench.py

# `tests/eval/run failover --quick` (issue 15): after the steady run, so the
# two never share the cores (root and the tools, else SKIP).
TESTS += tests/eval/test_eval_failover.py
EXTRA_DIST += tests/eval/test_eval_failover.py tests/eval/evallib/failover.py
tests/eval/test_eval_failover.log: tests/eval/test_eval_steady.log

# `tests/eval/run all` (issue 15): every experiment and the combined report;
# its pure parts are tested in test_eval_lib.py (with `run all --plan`).
EXTRA_DIST += tests/eval/evallib/runall.py

# `tests/eval/run balance --ci` (issue 15, section 2), about 2.5 minutes:
# after the scale run (which runs beside the failover run), so that no
# more than two emulated clusters share the cores.
TESTS += tests/eval/test_eval_balance.py
EXTRA_DIST += tests/eval/test_eval_balance.py tests/eval/evallib/balance.py
tests/eval/test_eval_balance.log: tests/eval/test_eval_scale.log
