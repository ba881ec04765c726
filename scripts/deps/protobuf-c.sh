# shellcheck shell=bash
# protobuf-c: the runtime library only (protoc-c comes from the host).
build_protobuf_c() {
	ac_static --disable-protoc
	make -j"$JOBS" protobuf-c/libprotobuf-c.la
	make install-libLTLIBRARIES install-nobase_includeHEADERS install-pkgconfigDATA 2>/dev/null || make install
}
