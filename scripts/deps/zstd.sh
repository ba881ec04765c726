# shellcheck shell=bash
# zstd: libzstd.a only (no legacy formats, no programs).
build_zstd() {
	make -C lib -j"$JOBS" libzstd.a ZSTD_LEGACY_SUPPORT=0
	make -C lib install-static install-includes install-pc ZSTD_LEGACY_SUPPORT=0 \
		PREFIX="$PREFIX" LIBDIR="$PREFIX/lib" INCLUDEDIR="$PREFIX/include" PKGCONFIGDIR="$PREFIX/lib/pkgconfig"
}
