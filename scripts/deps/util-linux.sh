# shellcheck shell=bash
# util-linux: libuuid.a and libblkid.a only.
build_util_linux() {
	ac_static --disable-all-programs --enable-libuuid --enable-libblkid \
		--disable-nls --disable-bash-completion --disable-asciidoc --disable-poman \
		--disable-makeinstall-chown --disable-makeinstall-setuid \
		--without-python --without-systemd --without-udev --without-readline \
		--without-ncursesw --without-ncurses --without-tinfo --without-libmagic \
		--without-cryptsetup --without-selinux --without-audit --without-smack --without-btrfs
	make -j"$JOBS" libuuid.la libblkid.la
	make install-usrlib_execLTLIBRARIES install-uuidincHEADERS install-nodist_blkidincHEADERS \
		install-pkgconfigDATA
}
