# shellcheck shell=bash
# libseccomp: libseccomp.a.
build_libseccomp() {
	ac_static --disable-python
	make -C include
	make -C src -j"$JOBS" libseccomp.la
	make -C src install-libLTLIBRARIES
	make -C include install
	make install-pkgconfDATA
}
