#!/usr/bin/env bash
# Reproducibility of the initramfs: pack the production and the test image twice from the same
# inputs, each time in a fresh copy of the inputs (new mtimes, copied under a different umask),
# from a different current directory, umask and locale, and compare the bytes.
# Prints `PASS initramfs-reproducible` or `FAIL initramfs-reproducible: <details>`; exits 0/1.
# It does not rebuild anything: inputs missing under build/ (before `make`) are replaced by
# fixed stub files in both copies, which still tests the packer, and the line says so.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LISTS=(rootfs/initramfs.list rootfs/test-overlay.list)

fail() { printf 'FAIL initramfs-reproducible: %s\n' "$*"; exit 1; }

cpio_tool=$TOP/build/sealpod-cpio
if [ ! -x "$cpio_tool" ]; then
	make -s -C "$TOP" build/sealpod-cpio >&2 || fail "cannot build build/sealpod-cpio"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sealpod-repro.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The host files the lists read, as the packer resolves them (B = the real build directory).
# DEPS = the static dependency prefix (outside the checkout: the same files for both packs).
deps=/nonexistent
[ ! -r "$TOP/build/deps-prefix" ] || deps=$(cat "$TOP/build/deps-prefix")
mapfile -t sources < <(cd / && "$cpio_tool" --root "$TOP" -D "B=$TOP/build" -D "DEPS=$deps" --deps \
	"${LISTS[@]/#/$TOP/}" 2>/dev/null | sort -u) || true
[ ${#sources[@]} -gt 0 ] || fail "sealpod-cpio --deps listed no sources"

stubs=()
# make_copy DIR UMASK: a minimal checkout with every input the packer reads.
make_copy() {
	local dir=$1 src rel
	(
		umask "$2"
		mkdir -p "$dir/scripts" "$dir/build"
		cp "$TOP/scripts/mkinitramfs" "$TOP/scripts/lib.sh" "$dir/scripts/"
		cp -r "$TOP/rootfs" "$dir/"
		cp "$cpio_tool" "$dir/build/"
		[ ! -r "$TOP/build/deps-prefix" ] || cp "$TOP/build/deps-prefix" "$dir/build/"
		for src in "${sources[@]}"; do
			case $src in
			"$TOP"/*) rel=${src#"$TOP"/} ;;
			*) continue ;; # a host file outside the checkout (busybox): the same for both
			esac
			mkdir -p "$dir/$(dirname "$rel")"
			if [ -e "$src" ]; then
				cp "$src" "$dir/$rel"
			else
				printf 'stub for %s\n' "$rel" >"$dir/$rel"
			fi
		done
		chmod +x "$dir/scripts/mkinitramfs" "$dir/build/sealpod-cpio"
	)
}
for src in "${sources[@]}"; do
	case $src in
	"$TOP"/build/rootfs/*) ;; # staged by mkinitramfs itself
	"$TOP"/*) [ -e "$src" ] || stubs+=("${src#"$TOP"/}") ;;
	esac
done

make_copy "$work/a" 022
sleep 1 # different mtimes on every copied input
make_copy "$work/b" 077
mkdir -p "$work/cwd-a" "$work/b/deep/cwd"

pack() { # COPY UMASK CWD LOCALE OUT LIST...
	local copy=$1 mask=$2 cwd=$3 locale=$4 out=$5
	shift 5
	(
		umask "$mask"
		cd "$cwd"
		LC_ALL=$locale LANG=$locale TZ=Pacific/Kiritimati B='' \
			"$copy/scripts/mkinitramfs" "$out" "${@/#/$copy/}" >/dev/null 2>"$out.log"
	) || fail "mkinitramfs failed in $copy: $(tail -3 "$out.log" | tr '\n' ' ')"
}

result=()
for img in prod test; do
	lists=("${LISTS[0]}")
	[ "$img" = prod ] || lists=("${LISTS[@]}")
	pack "$work/a" 022 "$work/cwd-a" C "$work/$img-a.img" "${lists[@]}"
	pack "$work/b" 077 "$work/b/deep/cwd" C.UTF-8 "$work/$img-b.img" "${lists[@]}"
	ha=$(sha256sum <"$work/$img-a.img" | cut -d' ' -f1)
	hb=$(sha256sum <"$work/$img-b.img" | cut -d' ' -f1)
	[ "$ha" = "$hb" ] || fail "$img image differs: $ha vs $hb"
	result+=("$img=${ha:0:16}")
done

note=
[ ${#stubs[@]} -eq 0 ] || note=" (stubs for missing ${stubs[*]})"
printf 'PASS initramfs-reproducible %s%s\n' "${result[*]}" "$note"
