# shellcheck shell=bash
# Shared helpers for sealpod's build scripts. Sourced, never run.

set -euo pipefail

SEALPOD_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Expensive outputs (static dependencies, the kernel) live outside the checkout, keyed by a
# hash of their inputs, so a clean clone on a warm machine rebuilds nothing.
SEALPOD_CACHE=${SEALPOD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sealpod}
JOBS=${JOBS:-$(nproc)}
# Reproducible builds: one fixed time for every artifact.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}

log() { printf '[%s] %s\n' "${LOG_TAG:-build}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${LOG_TAG:-build}" "$*" >&2; exit 1; }

# hash_inputs FILE...: short sha256 over the names and contents of the given files.
hash_inputs() {
	local f
	for f in "$@"; do
		printf '%s\n' "${f#"$SEALPOD_TOP"/}"
		sha256sum <"$f"
	done | sha256sum | cut -c1-16
}

# Installed version of a Debian package, or empty.
deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

# atomic_dir TMP FINAL: publish a finished cache entry in one rename.
atomic_dir() {
	rm -rf "$2.old"
	[ -e "$2" ] && mv "$2" "$2.old"
	mv "$1" "$2"
	rm -rf "$2.old"
}
