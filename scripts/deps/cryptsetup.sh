# shellcheck shell=bash
# cryptsetup: libcryptsetup.a with the OpenSSL backend; plus a static cryptsetup CLI
# (cryptsetup.static, needs popt) used only as a benchmark baseline. The CLI is best effort.
build_cryptsetup() {
	[ -x configure ] || NOCONFIGURE=1 ./autogen.sh
	local opal=
	grep -q 'hw-opal' configure && opal=--disable-hw-opal
	ac_static --with-crypto_backend=openssl --enable-static-cryptsetup \
		--disable-ssh-token --disable-external-tokens --disable-asciidoc --disable-nls \
		--disable-udev --disable-selinux --disable-pwquality --disable-passwdqc $opal \
		--disable-veritysetup --disable-integritysetup --disable-fips --disable-rpath \
		--with-luks2-lock-path=/run/cryptsetup --with-luks2-external-tokens-path=/usr/lib/cryptsetup
	make -j"$JOBS" libcryptsetup.la
	make install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA
	# The CLI: libtool's -all-static makes a plain static binary.
	if make -j"$JOBS" cryptsetup.static >cli.log 2>&1; then
		install -m755 cryptsetup.static "$PREFIX/sbin/cryptsetup.static"
		strip "$PREFIX/sbin/cryptsetup.static"
	else
		tail -40 cli.log
		echo "NOTICE: cryptsetup.static failed to build (library is fine)" >&2
		echo "cryptsetup.static failed" >"$PREFIX/sbin/cryptsetup.static.FAILED"
	fi
}
