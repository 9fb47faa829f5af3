noinst_LTLIBRARIES += lib/libas.la
lib_libas_la_SOURCES = lib/as.h lib/err.c lib/log.c lib/util.c \
	lib/sockaddr.h lib/sockaddr.c lib/list.h lib/rng.h lib/hash.h

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

# The small shared facilities (as_grow, sockaddr, list, rng, hash).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_lib_grow tests/unit/test_lib_sockaddr \
	tests/unit/test_lib_list tests/unit/test_lib_rng tests/unit/test_lib_hash
TESTS += tests/unit/test_lib_grow tests/unit/test_lib_sockaddr \
	tests/unit/test_lib_list tests/unit/test_lib_rng tests/unit/test_lib_hash
endif
tests_unit_test_lib_grow_SOURCES = tests/unit/test_lib_grow.c
tests_unit_test_lib_grow_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_grow_LDADD = lib/libas.la $(CMOCKA_LIBS)
tests_unit_test_lib_sockaddr_SOURCES = tests/unit/test_lib_sockaddr.c
tests_unit_test_lib_sockaddr_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_sockaddr_LDADD = lib/libas.la $(CMOCKA_LIBS)
tests_unit_test_lib_list_SOURCES = tests/unit/test_lib_list.c
tests_unit_test_lib_list_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_list_LDADD = $(CMOCKA_LIBS)
tests_unit_test_lib_rng_SOURCES = tests/unit/test_lib_rng.c
tests_unit_test_lib_rng_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_rng_LDADD = $(CMOCKA_LIBS)
tests_unit_test_lib_hash_SOURCES = tests/unit/test_lib_hash.c
tests_unit_test_lib_hash_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lib_hash_LDADD = $(CMOCKA_LIBS)
