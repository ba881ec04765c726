# shellcheck shell=bash
# json-c: libjson-c.a via CMake.
build_json_c() {
	cmake -S . -B _b -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX="$PREFIX" \
		-DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_C_FLAGS="$CPPFLAGS $CFLAGS" \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON \
		-DBUILD_TESTING=OFF -DDISABLE_WERROR=ON -DBUILD_APPS=OFF -DENABLE_THREADING=OFF
	cmake --build _b -j"$JOBS" --target json-c-static 2>/dev/null || cmake --build _b -j"$JOBS"
	cmake --install _b
}
