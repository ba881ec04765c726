/* The sandbox's /dev/shm. Both Kata shims send it with CreateSandbox under Kubernetes: the Go
 * runtime whenever the pause spec has a /dev/shm mount (CRI always makes one), runtime-rs always:
 * Storage{driver "ephemeral", source "shm", fstype "tmpfs", mount point SP_SANDBOX_SHM, options
 * noexec, nosuid, nodev, mode=1777, size=N}. Every container of the pod binds that directory on
 * its own /dev/shm, so they share one tmpfs (POSIX shared memory between a pod's containers).
 *
 * Kata's agent drops every option but fsgid= (a tmpfs of half the guest's memory); we honour
 * size= as containerd measured it, as runc does: POLICY.md says why. nosuid, nodev and noexec are
 * forced whatever the options say; the containers' binds are noexec too (runtime/spec.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/pathat.h"
#include "lib/validate.h"
#include "storage/storage.h"

#define SANDBOX_DIR  "/run/kata-containers/sandbox"
#define SHM_SIZE_MAX (1ULL << 40) /* larger than any guest: a typo, not a size */

static const char *esc(char *b, size_t size, const char *s, size_t max)
{
	sp_log_escape(b, size, s ? s : "", s ? strnlen(s, max) : 0);
	return b;
}

static int num(const char *s, int base, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, base);
	if (errno || end == s || (*s < '0' || *s > '9'))
		return -1;
	if (base == 10 && *end && !end[1]) {
		int shift = *end == 'k' ? 10 : *end == 'm' ? 20 : *end == 'g' ? 30 : -1;

		if (shift < 0 || *v > (SHM_SIZE_MAX >> shift))
			return -1;
		*v <<= shift;
		end++;
	}
	return *end ? -1 : 0;
}

static int shm_option(const char *o, struct sp_shm_opts *out, struct sp_err *err)
{
	unsigned long long v;
	char b[64];

	if (!strcmp(o, "noexec") || !strcmp(o, "nosuid") || !strcmp(o, "nodev"))
		return 0; /* forced anyway */
	if (!strncmp(o, "size=", 5)) {
		if (num(o + 5, 10, &v) < 0 || v == 0 || v > SHM_SIZE_MAX)
			return sp_error(err, 0, "shm storage: size '%s' is not a size in bytes",
					esc(b, sizeof(b), o + 5, 40));
		out->size = v;
		return 0;
	}
	if (!strncmp(o, "mode=", 5)) {
		if (num(o + 5, 8, &v) < 0 || v > 07777 || (v & (S_ISUID | S_ISGID)))
			return sp_error(err, 0,
					"shm storage: mode must be octal permission bits (sticky "
					"allowed, set-id refused)");
		out->mode = (long)v;
		return 0;
	}
	if (!strncmp(o, "fsgid=", 6)) {
		if (num(o + 6, 10, &v) < 0 || v > 0x7fffffffULL)
			return sp_error(err, 0, "shm storage: bad fsgid");
		out->gid = (long)v;
		return 0;
	}
	return sp_error(err, 0, "shm storage: option '%s' is not supported",
			esc(b, sizeof(b), o, 48));
}

int sp_storage_shm_check(const Grpc__Storage *s, struct sp_shm_opts *o, struct sp_err *err)
{
	const char *rest = NULL, *why = NULL;
	char b[96];

	o->size = 0;
	o->mode = 01777;
	o->gid = -1;
	if (!s->driver || strcmp(s->driver, "ephemeral") != 0)
		return sp_fail(err, SP_E_UNSUPPORTED, 0, "storage driver '%s' is not supported",
			       esc(b, sizeof(b), s->driver, 64));
	if (!s->source || strcmp(s->source, "shm") != 0)
		return sp_fail(err, SP_E_UNSUPPORTED, 0,
			       "ephemeral storage '%s' is not supported (the sandbox takes only "
			       "its shm)",
			       esc(b, sizeof(b), s->source, 64));
	if (!s->fstype || strcmp(s->fstype, "tmpfs") != 0)
		return sp_fail(err, SP_E_INVALID, 0, "shm storage: fstype must be tmpfs");
	if (!s->mount_point || sp_path_beneath(s->mount_point, SANDBOX_DIR "/", &rest, &why) < 0 ||
	    strcmp(rest, "shm") != 0)
		return sp_fail(err, SP_E_INVALID, 0, "shm storage: mount point '%s' is not %s",
			       esc(b, sizeof(b), s->mount_point, 80), SP_SANDBOX_SHM);
	for (size_t i = 0; i < s->n_options; i++)
		if (shm_option(s->options[i] ? s->options[i] : "", o, err) < 0)
			return sp_err_kind(err, SP_E_INVALID);
	return 0;
}

/* The directory <root>/run/kata-containers/sandbox/shm, made without following a symlink. */
static int open_shm_dir(const char *root, int *top, struct sp_err *err)
{
	int dir;

	*top = sp_openat2(AT_FDCWD, *root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			  RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (*top < 0)
		return sp_error(err, errno, "shm storage: open %s", *root ? root : "/");
	dir = sp_mkdirs_at(*top, &SP_SANDBOX_SHM[1], 0755, O_RDONLY, SP_RESOLVE_STRICT, err);
	if (dir < 0)
		sp_error_wrap(err, "shm storage: the mount point");
	return dir;
}

int sp_storage_shm_mount(const char *root, const struct sp_shm_opts *o, bool mount_it,
			 struct sp_err *err)
{
	cleanup_close int top = -1, dir = -1, again = -1;
	char fdpath[64], data[96];
	struct stat st;

	dir = open_shm_dir(root, &top, err);
	if (dir < 0)
		return -1;
	if (!mount_it) {
		sp_info("storage", "sandbox shm: not mounted (host test mode)");
		return 0;
	}
	(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", dir);
	if (o->size)
		(void)snprintf(data, sizeof(data), "mode=%lo,size=%llu", (unsigned long)o->mode,
			       o->size);
	else
		(void)snprintf(data, sizeof(data), "mode=%lo", (unsigned long)o->mode);
	if (mount("shm", fdpath, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data) < 0)
		return sp_error(err, errno, "shm storage: mount tmpfs on %s", SP_SANDBOX_SHM);
	/* The fd still names the directory beneath the new mount: reopen to reach its root. */
	again = sp_openat2(top, &SP_SANDBOX_SHM[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			   SP_RESOLVE_STRICT);
	if (again < 0)
		return sp_error(err, errno, "shm storage: reopen %s", SP_SANDBOX_SHM);
	if (o->gid >= 0 && (fchown(again, (uid_t)-1, (gid_t)o->gid) < 0 || fstat(again, &st) < 0 ||
			    fchmod(again, (st.st_mode & 07777) | S_ISGID) < 0))
		return sp_error(err, errno, "shm storage: fsgid");
	sp_info("storage", "sandbox shm: tmpfs at %s, %s", SP_SANDBOX_SHM,
		o->size ? "size as the shim asked" : "the kernel's default size");
	return 0;
}
