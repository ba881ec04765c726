# shellcheck shell=bash
# isa-l (Debian source package libisal): libisal.a and its headers, for isal_inflate in the image
# pipeline. Only the library is built: the programs and tests would need a second link per file.
# The assembly goes through nasm (configure's choice when AS is unset); the .asm sources address
# their tables RIP-relative, as Debian's shared libisal2 needs, so they link into a static-pie.
# CCASFLAGS would default to CFLAGS, whose -isystem tools/nasm-filter.sh turns into a stray
# input file for nasm: the .asm files need none of it.
build_isa_l() {
	export CCASFLAGS=
	autoreconf --install --force >/dev/null
	ac_static
	make -j"$JOBS" libisal.la
	make install-libLTLIBRARIES install-pkgincludeHEADERS install-nobase_includeHEADERS \
		install-pkgconfigDATA
}
