# tests/: integration tests (python3 + real DNS clients against real
# daemons). Unit tests are registered by each module's local.mk.
TEST_EXTENSIONS = .py .sh
PY_LOG_COMPILER = python3
SH_LOG_COMPILER = /bin/sh

TESTS += tests/integration/test_daemon_dns.py
EXTRA_DIST += tests/integration/anysteer_test.py tests/integration/test_daemon_dns.py

# Script tests have no objects, so in a VPATH build (distcheck) nothing
# else creates their folders for the .log and .trs files.
check_DATA = tests/.script-dirs
tests/.script-dirs:
	$(MKDIR_P) tests/integration tests/k8s && touch $@
DISTCLEANFILES = tests/.script-dirs

# Test logs of a build directory never belong in a release tarball.
dist-hook:
	find $(distdir) \( -name '*.log' -o -name '*.trs' \) -type f -exec rm -f {} +
