# shellcheck shell=bash
# OpenSSL: libssl.a + libcrypto.a, providers built in, no engines, no docs, no programs.
build_openssl() {
	local nodocs=
	grep -qE '^[[:space:]]+"docs",' Configure && nodocs=no-docs
	# --prefix=/usr and path-free flags: libcrypto embeds its install paths and compiler flags
	# (OpenSSL_version()); never embed the staging directory. The compiler wrapper supplies
	# the header search path.
	# shellcheck disable=SC2086 # word splitting of the flag lists is intended
	env -u CFLAGS -u CPPFLAGS -u LDFLAGS ./Configure linux-x86_64 --prefix=/usr --libdir=lib --openssldir=/etc/ssl \
		no-shared no-tests no-module no-engine no-dso no-afalgeng $nodocs \
		no-ssl3 no-weak-ssl-ciphers no-comp no-uplink \
		$CFLAGS_BASE -Wa,--noexecstack
	make -j"$JOBS" build_libs
	make install_dev DESTDIR="$PWD/_dest"
	cp -a _dest/usr/include/. "$PREFIX/include/"
	cp -a _dest/usr/lib/*.a "$PREFIX/lib/"
	local pc
	for pc in _dest/usr/lib/pkgconfig/*.pc; do
		sed "s|^prefix=.*|prefix=$PREFIX|; s|^exec_prefix=.*|exec_prefix=\${prefix}|; s|^libdir=.*|libdir=\${exec_prefix}/lib|; s|^includedir=.*|includedir=\${prefix}/include|" \
			"$pc" >"$PREFIX/lib/pkgconfig/${pc##*/}"
	done
}
