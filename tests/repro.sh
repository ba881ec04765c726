#!/usr/bin/env bash
# Reproducibility of what the guest runs: /init, the pause program, the test overlay's programs
# and both initramfs images are built from scratch twice, in two copies of this tree at
# different paths (different names and depths), each under another umask, locale, time zone
# and working directory, and compared byte for byte.
# Both builds take the static dependency prefix from the shared cache (the same files; the
# prefix's own reproducibility is not checked here) and build no kernel (`make check-repro` and
# `make check-fresh` compare kernels). Prints one line per comparison:
#   PASS|FAIL repro/<what>: ...
# and exits 1 if any differs or a build failed. About two guest builds' time.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$TOP/scripts/lib.sh"
set +e

work=$(mktemp -d "${TMPDIR:-/tmp}/sealpod-repro.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset MAKEFLAGS MFLAGS MAKELEVEL

copies=("$work/a/sealpod" "$work/b/x/y/other-name")
masks=(022 077)
locales=(C C.UTF-8)
zones=(UTC Pacific/Kiritimati)
targets=(build/guest/init build/guest/pause build/initramfs.img build/initramfs-test.img)
for src in "$TOP"/tests/guest/*.c; do
	targets+=("build/guest/$(basename "$src" .c)")
done

for i in 0 1; do
	dir=${copies[$i]}
	copy_tree "$TOP" "$dir"
	rm -rf "$dir/build"
	mkdir -p "$dir/build"
	[ "$i" -eq 0 ] || sleep 1 # different mtimes on every source file and output
	if ! (
		umask "${masks[$i]}"
		cd "$dir/tests" &&
			LC_ALL=${locales[$i]} LANG=${locales[$i]} TZ=${zones[$i]} \
				make -C "$dir" -j"$(nproc)" "${targets[@]}" >"$work/build-$i.log" 2>&1
	); then
		tail -30 "$work/build-$i.log"
		echo "FAIL repro/build: building the guest from scratch in $dir failed (log above)"
		exit 1
	fi
done

rc=0
# Both builds really compiled: a make that found everything up to date would prove nothing.
for i in 0 1; do
	ncc[$i]=$(grep -c '^  CC ' "$work/build-$i.log")
	if [ "${ncc[$i]}" -eq 0 ]; then
		echo "FAIL repro/build: the build in ${copies[$i]} compiled nothing"
		exit 1
	fi
done
same=()
for t in "${targets[@]}"; do
	a=$(sha256sum <"${copies[0]}/$t" | cut -d' ' -f1)
	b=$(sha256sum <"${copies[1]}/$t" | cut -d' ' -f1)
	if [ "$a" != "$b" ]; then
		echo "FAIL repro/${t#build/}: two builds from scratch differ: $a vs $b"
		rc=1
	else
		same+=("${t#build/}")
	fi
done
if [ "$rc" -eq 0 ]; then
	img=$(sha256sum <"${copies[0]}/build/initramfs.img" | cut -c1-16)
	test_img=$(sha256sum <"${copies[0]}/build/initramfs-test.img" | cut -c1-16)
	echo "PASS repro/initramfs-reproducible: ${#same[@]} outputs equal in two builds from scratch" \
		"(${ncc[0]} and ${ncc[1]} files compiled; initramfs.img $img, initramfs-test.img $test_img)"
	# Not a verdict, a hint: a development build directory may hold outputs of other sources.
	if [ -e "$TOP/build/initramfs.img" ] &&
		! cmp -s "$TOP/build/initramfs.img" "${copies[0]}/build/initramfs.img"; then
		echo "    note: $TOP/build/initramfs.img differs from the clean builds (uncommitted or stale build?)"
	fi
fi
exit "$rc"
