#!/bin/bash
# Regenerates the TEE test vectors (snp-vectors.tsv, tdx-vectors.tsv) from public reference
# tools run locally as oracles. Their code is never committed: fetch them yourself and point
# these variables at the checkouts (commits used for the committed vectors in the headers):
#   SNP_ORACLE  a checkout of github.com/virtee/sev-snp-measure (runs on Debian's python3 with
#               python3-cryptography)
#   TDX_ORACLE  td-shim-tools/src/bin/td-shim-tee-info-hash/td_shim_tee_info_hash.py from
#               github.com/confidential-containers/td-shim (standard library only; computes MRTD
#               from a TDVF image with the single-pass page order)
# Inputs: the firmware that `make firmware` built, build/bzImage, build/initramfs-test.img and
# a fixed synthetic initrd (the same bytes tests/integration/test_measure.py generates).
#
#   SNP_ORACLE=... TDX_ORACLE=... tests/measure/make-vectors.sh
# VECTORS_OUT=DIR writes the two files into DIR instead of tests/measure/ (`make check-measure`
# regenerates them there for the current inputs and checks sealpod-measure against them).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${SNP_ORACLE:?set SNP_ORACLE to a sev-snp-measure checkout}"
: "${TDX_ORACLE:?set TDX_ORACLE to td_shim_tee_info_hash.py}"
fw=$(firmware/build --print-dir)
[ -e "$fw/.complete" ] || { echo "run 'make firmware' first" >&2; exit 2; }
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fixed=$tmp/fixed-initrd
$py -c 'import sys; sys.stdout.buffer.write(b"sealpod measure test initrd\n" * 2048)' >"$fixed"
kernel=$PWD/build/bzImage
own=$PWD/build/initramfs-test.img
sha() { sha256sum <"$1" | cut -c1-64; }
oracle_rev() { git -C "$1" rev-parse HEAD 2>/dev/null || echo unknown; }

# Input tokens in the vector files: amdsev / inteltdx = the image `make firmware` built,
# bzImage = build/bzImage, fixed = the synthetic initrd above, own = build/initramfs-test.img;
# anything else is a file in the repository (the synthetic images of the fuzz corpus, which
# need no firmware build).
resolve() {
	case $1 in
	amdsev | inteltdx) echo "$fw/OVMF.$1.fd" ;;
	bzImage) echo "$kernel" ;;
	fixed) echo "$fixed" ;;
	own) echo "$own" ;;
	*) echo "$PWD/$1" ;;
	esac
}

outdir=${VECTORS_OUT:-tests/measure}
mkdir -p "$outdir"
out=$outdir/snp-vectors.tsv
{
	printf '# SEV-SNP launch digests computed by virtee/sev-snp-measure %s (%s), mode snp,\n' \
		"$(sed -n 's/^version *= *//p' "$SNP_ORACLE/setup.cfg" 2>/dev/null | head -1)" "$(oracle_rev "$SNP_ORACLE")"
	printf '# by tests/measure/make-vectors.sh on %s.\n' "$(date -u +%Y-%m-%d)"
	printf '# firmware OVMF.amdsev.fd sha256 %s\n' "$(sha "$fw/OVMF.amdsev.fd")"
	printf '# kernel build/bzImage sha256 %s\n' "$(sha "$kernel")"
	printf '# initrd fixed sha256 %s; initrd own = build/initramfs-test.img sha256 %s\n' "$(sha "$fixed")" "$(sha "$own")"
	printf '# name\tfirmware\tkernel\tinitrd\tvcpus\tvcpu\tguest_features\tvmm\tcmdline\tsnp_launch_digest\n'
	while IFS='|' read -r name firmware kern initrd vcpus vcpu feat vmm cmdline; do
		[ -n "$name" ] || continue
		case $vcpu in 0x*) vopt=(--vcpu-sig "$vcpu") ;; *) vopt=(--vcpu-type "$vcpu") ;; esac
		case $vmm in qemu) ovmm=QEMU ;; *) ovmm=$vmm ;; esac
		fwf=$(resolve "$firmware") kf=$(resolve "$kern") inf=$(resolve "$initrd")
		d=$(cd "$SNP_ORACLE" && $py sev-snp-measure.py --mode snp --vcpus "$vcpus" "${vopt[@]}" \
			--guest-features "$feat" --vmm-type "$ovmm" --ovmf "$fwf" --kernel "$kf" \
			--initrd "$inf" --append "$cmdline")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$firmware" "$kern" "$initrd" \
			"$vcpus" "$vcpu" "$feat" "$vmm" "$cmdline" "$d"
	done <<-'EOF'
		epyc-1|amdsev|bzImage|fixed|1|EPYC-v4|0x1|qemu|console=ttyS0
		milan-2|amdsev|bzImage|fixed|2|EPYC-Milan|0x1|qemu|console=ttyS0 quiet
		genoa-4-debugswap|amdsev|bzImage|fixed|4|EPYC-Genoa|0x21|qemu|console=hvc0 sealpod.x=1
		turin-8|amdsev|bzImage|fixed|8|EPYC-Turin|0x1|qemu|console=ttyS0
		sig-3|amdsev|bzImage|fixed|3|0xa10f11|0x1|qemu|console=ttyS0 quiet
		milan-2-ec2|amdsev|bzImage|fixed|2|EPYC-Milan|0x1|ec2|console=ttyS0 quiet
		milan-2-gce|amdsev|bzImage|fixed|2|EPYC-Milan|0x1|gce|console=ttyS0 quiet
		empty-cmdline|amdsev|bzImage|fixed|1|EPYC-Milan|0x1|qemu|
		own-initramfs|amdsev|bzImage|own|2|EPYC-Genoa|0x1|qemu|console=hvc0 quiet
		synthetic-2|tests/fuzz/corpus/fuzz_fwmeta/sev-only-8k|tests/fuzz/corpus/fuzz_fwmeta/footer-only|tests/fuzz/corpus/fuzz_fwmeta/sev-only-8k|2|EPYC-Milan|0x1|qemu|console=ttyS0
		synthetic-3-ec2|tests/fuzz/corpus/fuzz_fwmeta/tdvf-and-sev-8k|tests/fuzz/corpus/fuzz_fwmeta/footer-only|tests/fuzz/corpus/fuzz_fwmeta/tdvf-only-8k|3|EPYC|0x1|ec2|a b c
	EOF
} >"$out"
echo "wrote $out"

out=$outdir/tdx-vectors.tsv
{
	printf '# TDX MRTD computed by td-shim td_shim_tee_info_hash.py (confidential-containers/td-shim\n'
	printf '# %s, single-pass page order) by tests/measure/make-vectors.sh on %s.\n' \
		"$(oracle_rev "$(dirname "$TDX_ORACLE")")" "$(date -u +%Y-%m-%d)"
	printf '# firmware\tfirmware_sha256\tpage_order\tmrtd\n'
	for firmware in inteltdx tests/fuzz/corpus/fuzz_fwmeta/tdvf-only-8k tests/fuzz/corpus/fuzz_fwmeta/tdvf-and-sev-8k; do
		f=$(resolve "$firmware")
		d=$($py "$TDX_ORACLE" --image "$f" 2>/dev/null | head -1)
		printf '%s\t%s\tsingle\t%s\n' "$firmware" "$(sha "$f")" "$d"
	done
} >"$out"
echo "wrote $out"
