noinst_LTLIBRARIES += lib/libas.la
lib_libas_la_SOURCES = lib/as.h lib/err.c lib/log.c lib/util.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_lib_log
TESTS += tests/unit/test_lib_log
endif
tests_unit_test_lib_log_SOURCES = tests/unit/test_lib_log.c
tests_unit_test_lib_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_log_LDADD = lib/libas.la $(CMOCKA_LIBS)
