/* The storage module's pure parsers of host-chosen bytes: PCI paths, Storage options, sizes.
 * No I/O here, so tests/unit/test_storage.c and tests/fuzz/fuzz_storage.c cover all of it. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "lib/log.h"
#include "storage/storage_int.h"
#include "lib/validate.h"

/* One hop "SS" or "SS.F" in s[0..len). */
static int parse_hop(const char *s, size_t len, uint8_t *slot, uint8_t *fn)
{
	unsigned v = 0;
	size_t i = 0;

	if (len == 0 || len > 4)
		return -1;
	for (; i < len && s[i] != '.'; i++) {
		int h = sp_hexval(s[i]);

		if (h < 0 || i >= 2)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	if (i == 0 || v > 0x1f)
		return -1;
	*slot = (uint8_t)v;
	*fn = 0;
	if (i == len)
		return 0;
	/* ".F": exactly one digit 0-7 */
	if (len - i != 2 || s[i + 1] < '0' || s[i + 1] > '7')
		return -1;
	*fn = (uint8_t)(s[i + 1] - '0');
	return 0;
}

int sp_pci_path_parse(const char *s, size_t len, struct sp_pci_path *out, struct sp_err *err)
{
	char shown[48];
	size_t start = 0;

	memset(out, 0, sizeof(*out));
	sp_log_escape(shown, sizeof(shown), s, len < 40 ? len : 40);
	if (len == 0 || len > (size_t)SP_PCI_PATH_MAX * 5)
		return sp_error(err, 0, "PCI path '%s' is empty or too long", shown);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		if (out->n == SP_PCI_PATH_MAX)
			return sp_error(err, 0, "PCI path '%s' has more than %d hops", shown,
					SP_PCI_PATH_MAX);
		if (parse_hop(s + start, i - start, &out->slot[out->n], &out->fn[out->n]) < 0)
			return sp_error(err, 0,
					"PCI path '%s' is not SS[.F][/SS[.F]...] (hex slot <= 1f, "
					"function <= 7)",
					shown);
		out->n++;
		start = i + 1;
	}
	return 0;
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

int sp_blk_opts_parse(char *const *drv_opts, size_t ndrv, char *const *opts, size_t nopts,
		      struct sp_blk_opts *out, struct sp_err *err)
{
	char shown[64];

	memset(out, 0, sizeof(*out));
	out->mflags = MS_NODEV | MS_NOSUID;
	for (size_t i = 0; i < ndrv; i++) {
		const char *o = drv_opts[i] ? drv_opts[i] : "";

		if (is(o, "encryption_key=ephemeral")) {
			out->encrypt = true;
		} else if (is(o, "create_filesystem")) {
			out->create_fs = true;
		} else {
			sp_log_escape(shown, sizeof(shown), o, strnlen(o, 48));
			if (strncmp(o, "encryption_key=", 15) == 0)
				return sp_error(err, 0,
						"driver option '%s': only encryption_key=ephemeral "
						"is supported",
						shown);
			return sp_error(err, 0, "driver option '%s' is not supported", shown);
		}
	}
	for (size_t i = 0; i < nopts; i++) {
		const char *o = opts[i] ? opts[i] : "";

		if (is(o, "ro")) {
			out->read_only = true;
			out->mflags |= MS_RDONLY;
		} else if (is(o, "rw") || is(o, "nodev") || is(o, "nosuid") || is(o, "exec") ||
			   is(o, "defaults") || is(o, "relatime") || is(o, "async")) {
			/* the defaults, or what we force anyway */
		} else if (is(o, "noexec")) {
			out->mflags |= MS_NOEXEC;
		} else if (is(o, "noatime")) {
			out->mflags |= MS_NOATIME;
		} else if (is(o, "nodiratime")) {
			out->mflags |= MS_NODIRATIME;
		} else if (is(o, "sync")) {
			out->mflags |= MS_SYNCHRONOUS;
		} else {
			sp_log_escape(shown, sizeof(shown), o, strnlen(o, 48));
			return sp_error(err, 0, "mount option '%s' is not supported%s", shown,
					is(o, "dev") || is(o, "suid") ? " (storage is always "
									"nodev,nosuid)"
								      : "");
		}
	}
	return 0;
}

int sp_storage_size_check(const char *name, uint64_t bytes, struct sp_err *err)
{
	if (bytes < SP_STORAGE_MIN_BYTES)
		return sp_error(err, 0, "disk %s is %llu KiB; at least %llu MiB is needed", name,
				(unsigned long long)(bytes >> 10),
				(unsigned long long)(SP_STORAGE_MIN_BYTES >> 20));
	if (bytes >= (1ull << 60))
		return sp_error(err, 0, "disk %s claims %llu bytes; refusing an implausible size",
				name, (unsigned long long)bytes);
	if (bytes % 4096)
		return sp_error(err, 0, "disk %s is %llu bytes, not a multiple of 4096", name,
				(unsigned long long)bytes);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

size_t sp_ext4_sb_blocks(uint64_t nblocks, uint64_t *out, size_t max)
{
	const uint64_t per_group = 32768;
	uint64_t ngroups = nblocks / per_group + (nblocks % per_group != 0);
	uint64_t groups[3 * 64 + 2];
	size_t n = 0, stored;

	/* Group 0 and 1, then the powers of 3, 5 and 7 (never equal to each other). */
	for (uint64_t g = 0; g < 2 && g < ngroups; g++)
		groups[n++] = g;
	for (uint64_t b = 3; b <= 7; b += 2)
		for (uint64_t g = b; g < ngroups; g *= b)
			groups[n++] = g;
	qsort(groups, n, sizeof(groups[0]), cmp_u64);
	stored = n < max ? n : max;
	for (size_t i = 0; i < stored; i++)
		out[i] = groups[i] * per_group;
	return n;
}

bool sp_valid_blkname(const char *s)
{
	size_t n = strnlen(s, 33);

	if (n == 0 || n > 31 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}
