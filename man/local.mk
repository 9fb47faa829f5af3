# man/: anysteerd(8), anysteerctl(8), anysteer.yaml(5) from scdoc sources.
# anysteer.yaml(5)'s key list is the table of docs/configuration.md (the
# `anysteerd --help-config` output, kept equal by test_agent_config).
# The release tarball carries the built pages, so building from it needs
# no scdoc; a build from git without scdoc installs no man pages.
MAN_PAGES = man/anysteerd.8 man/anysteerctl.8 man/anysteer.yaml.5
EXTRA_DIST += $(MAN_PAGES) man/anysteerd.8.scd man/anysteerctl.8.scd \
	man/anysteer.yaml.5.scd.in man/config-keys.awk
if HAVE_MAN
man_MANS = $(MAN_PAGES)
endif

if HAVE_SCDOC
# @PACKAGE_VERSION@ in the sources: the version in each page's footer.
MAN_VERSION = sed -e 's/[@]PACKAGE_VERSION[@]/$(PACKAGE_VERSION)/g'
man/anysteerd.8: man/anysteerd.8.scd
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_VERSION) $(srcdir)/man/anysteerd.8.scd | $(SCDOC) >$@.tmp && mv -f $@.tmp $@
man/anysteerctl.8: man/anysteerctl.8.scd
	$(AM_V_GEN)$(MKDIR_P) man && $(MAN_VERSION) $(srcdir)/man/anysteerctl.8.scd | $(SCDOC) >$@.tmp && mv -f $@.tmp $@
man/anysteer.yaml.5: man/anysteer.yaml.5.scd.in man/config-keys.awk docs/configuration.md
	$(AM_V_GEN)$(MKDIR_P) man && $(AWK) -f $(srcdir)/man/config-keys.awk \
		$(srcdir)/docs/configuration.md $(srcdir)/man/anysteer.yaml.5.scd.in \
		| $(MAN_VERSION) >$@.scd \
	&& $(SCDOC) <$@.scd >$@.tmp && rm -f $@.scd && mv -f $@.tmp $@
else
$(MAN_PAGES):
	@echo "$@: scdoc is needed to build the man pages (apt-get install scdoc)" >&2; exit 1
endif
CLEANFILES += man/*.tmp man/*.5.scd
# Pages built in a separate build directory go with it; in the source
# tree they stay (a tarball's came with it and may not be rebuildable).
MAINTAINERCLEANFILES = $(MAN_PAGES)
distclean-local: distclean-man
distclean-man:
	test "$(srcdir)" = . || rm -f $(MAN_PAGES)
.PHONY: distclean-man
