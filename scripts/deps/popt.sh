# shellcheck shell=bash
# popt: libpopt.a, only for the cryptsetup.static baseline binary.
build_popt() {
	[ -x configure ] || autoreconf -fi
	ac_static --disable-nls
	make -C src -j"$JOBS" libpopt.la
	make -C src install-libLTLIBRARIES install-includeHEADERS
	make install-pkgconfigDATA
}
