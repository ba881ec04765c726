#!/bin/bash
# Cross-checks sealpod-measure's Authenticode hash with an independent implementation:
# osslsigncode signs a copy of the image with a throwaway key, and the digest it embeds
# ("Current message digest") must equal sealpod-measure's kernel_authenticode_sha256 for the
# unpatched file, and for the signed copy too (the certificate table is excluded).
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
	osslsigncode sign -h sha256 -certs "$tmp/cert.pem" -key "$tmp/key.pem" -in "$img" \
		-out "$tmp/signed" >/dev/null
	oracle=$( (osslsigncode verify -in "$tmp/signed" 2>/dev/null || true) |
		sed -n 's/^Current message digest *: *\([0-9A-F]*\).*/\1/p' | tr A-F a-f)
	for f in "$img" "$tmp/signed"; do
		ours=$("$measure" --kernel "$f" --initrd "$tmp/empty" --cmdline "" --mem 1024 \
			--no-qemu-patch | sed -n 's/.*"kernel_authenticode_sha256": "\([0-9a-f]*\)".*/\1/p')
		if [ -n "$oracle" ] && [ "$ours" = "$oracle" ]; then
			echo "authenticode-oracle: $(basename "$img")$([ "$f" = "$img" ] || echo ' (signed)') $ours = osslsigncode"
		else
			echo "authenticode-oracle: $(basename "$img") MISMATCH ours=$ours osslsigncode=$oracle"
			rc=1
		fi
	done
	rm -f "$tmp/signed"
done
exit $rc
