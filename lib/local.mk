noinst_LTLIBRARIES += lib/libas.la
lib_libas_la_SOURCES = lib/as.h lib/err.c lib/log.c lib/util.c
