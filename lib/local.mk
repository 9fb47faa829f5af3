noinst_LTLIBRARIES += lib/libas.la
lib_libas_la_SOURCES = lib/as.h lib/err.c lib/log.c lib/util.c

# The YAML tree reader: its own library, so that only the modules that
# read YAML (the config, the kubeconfig) link libyaml.
noinst_LTLIBRARIES += lib/libasyaml.la
lib_libasyaml_la_SOURCES = lib/yamltree.h lib/yamltree.c
lib_libasyaml_la_CFLAGS = $(AM_CFLAGS) $(YAML_CFLAGS)
lib_libasyaml_la_LIBADD = lib/libas.la $(YAML_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_lib_log
TESTS += tests/unit/test_lib_log
endif
tests_unit_test_lib_log_SOURCES = tests/unit/test_lib_log.c
tests_unit_test_lib_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_log_LDADD = lib/libas.la $(CMOCKA_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_lib_yamltree
TESTS += tests/unit/test_lib_yamltree
endif
tests_unit_test_lib_yamltree_SOURCES = tests/unit/test_lib_yamltree.c
tests_unit_test_lib_yamltree_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(YAML_CFLAGS)
tests_unit_test_lib_yamltree_LDADD = lib/libasyaml.la lib/libas.la $(YAML_LIBS) $(CMOCKA_LIBS)
