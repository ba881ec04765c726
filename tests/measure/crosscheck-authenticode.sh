#!/bin/bash
# Cross-checks sealpod-measure's Authenticode hash with an independent implementation:
# osslsigncode signs a copy of the image with a throwaway key, and the digest it embeds
# ("Current message digest") must equal sealpod-measure's kernel_authenticode_sha256 for the
# unpatched file, and for the signed copy too (the certificate table is excluded); and, signed
# with -h sha384, the TDX path's kernel_authenticode_sha384 (the RTMR1 kernel event).
# osslsigncode hashes the file flatly (not section by section), so this is a check for
# well-formed images whose sections are contiguous and in order, such as a bzImage.
#
#   tests/measure/crosscheck-authenticode.sh MEASURE_BIN IMAGE...
set -euo pipefail
measure=$1
shift
command -v osslsigncode >/dev/null || { echo "authenticode-oracle: osslsigncode missing" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
	-subj /CN=sealpod-test -days 1 2>/dev/null
: > "$tmp/empty"
rc=0
for img in "$@"; do
	for alg in sha256 sha384; do
		osslsigncode sign -h $alg -certs "$tmp/cert.pem" -key "$tmp/key.pem" -in "$img" \
			-out "$tmp/signed" >/dev/null
		oracle=$( (osslsigncode verify -in "$tmp/signed" 2>/dev/null || true) |
			sed -n 's/^Current message digest *: *\([0-9A-F]*\).*/\1/p' | tr A-F a-f)
		tee=tpm
		[ $alg = sha384 ] && tee=tdx
		for f in "$img" "$tmp/signed"; do
			ours=$("$measure" --tee $tee --kernel "$f" --initrd "$tmp/empty" --cmdline "" \
				--mem 1024 --no-qemu-patch |
				sed -n "s/.*\"kernel_authenticode_$alg\": \"\([0-9a-f]*\)\".*/\1/p")
			what="$(basename "$img")$([ "$f" = "$img" ] || echo ' (signed)') $alg"
			if [ -n "$oracle" ] && [ "$ours" = "$oracle" ]; then
				echo "authenticode-oracle: $what $ours = osslsigncode"
			else
				echo "authenticode-oracle: $what MISMATCH ours=$ours osslsigncode=$oracle"
				rc=1
			fi
		done
		rm -f "$tmp/signed"
	done
done
exit $rc
