# deploy/: what `make install` puts beside the binaries and man pages:
# the example configuration (as $(sysconfdir)/anysteer/anysteer.yaml
# unless that exists, and always as anysteer.yaml.example), the systemd
# unit, and the state directory for gossip.keyring. The files get the
# configured paths at install time, so `make install prefix=...
# sysconfdir=...` (tests/integration/test_install.py) gets them too.
anysteerconfdir = $(sysconfdir)/anysteer
anysteerstatedir = $(localstatedir)/lib/anysteer
deploy_edit = sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' -e 's|@runstatedir[@]|$(runstatedir)|g'

install-data-local: install-deploy
install-deploy:
	$(MKDIR_P) '$(DESTDIR)$(anysteerconfdir)'
	$(deploy_edit) $(srcdir)/deploy/examples/anysteer.yaml.in \
		>'$(DESTDIR)$(anysteerconfdir)/anysteer.yaml.example'
	chmod 644 '$(DESTDIR)$(anysteerconfdir)/anysteer.yaml.example'
	@if test -e '$(DESTDIR)$(anysteerconfdir)/anysteer.yaml'; then \
		echo "keeping $(DESTDIR)$(anysteerconfdir)/anysteer.yaml (the new example is anysteer.yaml.example)"; \
	else \
		echo "cp -p $(DESTDIR)$(anysteerconfdir)/anysteer.yaml.example $(DESTDIR)$(anysteerconfdir)/anysteer.yaml"; \
		cp -p '$(DESTDIR)$(anysteerconfdir)/anysteer.yaml.example' '$(DESTDIR)$(anysteerconfdir)/anysteer.yaml'; \
	fi
# The keyring inside is mode 0600 too; nobody but root reads either.
	$(MKDIR_P) '$(DESTDIR)$(anysteerstatedir)'
	chmod 700 '$(DESTDIR)$(anysteerstatedir)'
if HAVE_SYSTEMD_UNIT
	$(MKDIR_P) '$(DESTDIR)$(systemdsystemunitdir)'
	$(deploy_edit) $(srcdir)/deploy/systemd/anysteerd.service.in \
		>'$(DESTDIR)$(systemdsystemunitdir)/anysteerd.service'
	chmod 644 '$(DESTDIR)$(systemdsystemunitdir)/anysteerd.service'
endif

# An edited configuration and a keyring stay; so do their folders.
uninstall-local: uninstall-deploy
uninstall-deploy:
	@c='$(DESTDIR)$(anysteerconfdir)'; \
	if test -f "$$c/anysteer.yaml" && test -f "$$c/anysteer.yaml.example" && \
	   cmp -s "$$c/anysteer.yaml" "$$c/anysteer.yaml.example"; then \
		echo "rm -f $$c/anysteer.yaml"; rm -f "$$c/anysteer.yaml"; \
	elif test -f "$$c/anysteer.yaml"; then \
		echo "keeping $$c/anysteer.yaml (edited)"; \
	fi
	rm -f '$(DESTDIR)$(anysteerconfdir)/anysteer.yaml.example'
	-rmdir '$(DESTDIR)$(anysteerconfdir)' 2>/dev/null
	-rmdir '$(DESTDIR)$(anysteerstatedir)' 2>/dev/null
if HAVE_SYSTEMD_UNIT
	rm -f '$(DESTDIR)$(systemdsystemunitdir)/anysteerd.service'
endif
.PHONY: install-deploy uninstall-deploy
