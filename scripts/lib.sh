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

# host_bookworm_sources: this machine's Debian bookworm apt entries, read from its deb822
# (*.sources) and one-line (*.list) files, one per line as
#   deb [signed-by=KEYRING] URI SUITE COMPONENTS
# Entries for other suites are left out. Nothing in this repository names a package host:
# whatever the machine is configured with is what the build and the fresh root use.
host_bookworm_sources() {
	local f
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -r "$f" ] || continue
			awk '
			function flush(   n, s, m, u, i, j, sb) {
				if (types ~ /(^| )deb( |$)/ && uris != "" && suites != "") {
					sb = signed != "" ? " [signed-by=" signed "]" : ""
					n = split(suites, s, " "); m = split(uris, u, " ")
					for (j = 1; j <= m; j++)
						for (i = 1; i <= n; i++)
							if (s[i] ~ /^bookworm/) print "deb" sb " " u[j] " " s[i] " " comps
				}
				types = uris = suites = comps = signed = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{ key = $1; sub(/:$/, "", key); $1 = ""; sub(/^ +/, ""); val = $0 }
			tolower(key) == "types" { types = val }
			tolower(key) == "uris" { uris = val }
			tolower(key) == "suites" { suites = val }
			tolower(key) == "components" { comps = val }
			tolower(key) == "signed-by" { signed = val }
			END { flush() }' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -r "$f" ] || continue
			awk '
			/^[ \t]*deb[ \t]/ {
				opts = ""; i = 2
				if ($2 ~ /^\[/) { while (i <= NF) { opts = opts (opts == "" ? "" : " ") $i; if ($i ~ /\]$/) { i++; break } i++ } }
				uri = $i; suite = $(i + 1); comps = ""
				for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
				if (suite !~ /^bookworm/) next
				print "deb" (opts == "" ? "" : " " opts) " " uri " " suite " " comps
			}' "$f"
		done
	} | sort -u
}

# copy_tree SRC DEST: a checkout's files without its build outputs, as a fresh clone has them
# (plus uncommitted edits): git's tracked and untracked-but-not-ignored files when SRC is a git
# work tree this user may read with git, else everything except build/ and .git/.
copy_tree() {
	mkdir -p "$2"
	if git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$1" && git ls-files -z --cached --others --exclude-standard |
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$2" -xf -
	else
		(cd "$1" && tar --exclude=./build --exclude=./.git -cf - .) | tar -C "$2" -xf -
	fi
}

# package_lists [FILE...]: the package names of the given lists (default: scripts/*-packages.txt,
# what a machine needs to build and test), one per line, sorted, without comments.
package_lists() {
	[ $# -gt 0 ] || set -- "$SEALPOD_TOP"/scripts/*-packages.txt
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" | awk '{print $1}' | sort -u
}
