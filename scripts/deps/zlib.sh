# shellcheck shell=bash
# zlib: libz.a only.
build_zlib() {
	./configure --static --prefix="$PREFIX" --libdir="$PREFIX/lib" --includedir="$PREFIX/include"
	make -j"$JOBS" libz.a
	make install-libs install-headers 2>/dev/null || {
		install -m644 libz.a "$PREFIX/lib/"
		install -m644 zlib.h zconf.h "$PREFIX/include/"
		install -m644 zlib.pc "$PREFIX/lib/pkgconfig/"
	}
	rm -rf "$PREFIX/share"
}
