# shellcheck shell=bash
# libcurl: HTTP/HTTPS only, OpenSSL, zlib and zstd; no curl program.
build_curl() {
	[ -x configure ] || autoreconf -fi
	ac_static --with-openssl="$PREFIX" --with-zlib="$PREFIX" --with-zstd="$PREFIX" \
		--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path --without-ca-fallback \
		--disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
		--disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
		--disable-ftp --disable-file --disable-manual --disable-docs --disable-ntlm --disable-ntlm-wb \
		--disable-alt-svc --disable-hsts --disable-kerberos-auth --disable-negotiate-auth \
		--without-libpsl --without-brotli --without-nghttp2 --without-nghttp3 --without-ngtcp2 \
		--without-libidn2 --without-librtmp --without-libssh2 --without-libssh --without-gssapi \
		--without-hyper --without-quiche --without-msh3 --without-libgsasl \
		--enable-unix-sockets --enable-threaded-resolver --disable-versioned-symbols
	make -C lib -j"$JOBS" libcurl.la
	make -C lib install-libLTLIBRARIES
	make -C include install
	make install-pkgconfigDATA
}
