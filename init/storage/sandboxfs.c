/* Kata's sandbox-level emptyDirs that carry no disk: driver "ephemeral" (a memory-backed emptyDir:
 * a tmpfs at a mount point beneath /run/kata-containers/sandbox/ephemeral/) and driver "local" (a
 * directory beneath the shared-files path, for Kata's local emptyDirs). Both live in guest memory,
 * which the TEE encrypts; nothing of them reaches a host disk. They belong to the sandbox, not to
 * one container: later containers of the pod mount the same directory, so RemoveContainer keeps
 * them (the guest powers off with the sandbox).
 *
 * What the host controls is checked: the mount point (normalised, beneath its prefix, created
 * without following a symlink), the file system type (tmpfs only; hugetlbfs is refused), and the
 * options: "fsgid=N" (group ownership plus setgid, as Kata's agent does) and, for "local",
 * "mode=OOOO" (permission bits; set-user-id is refused). Other options are refused. */
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
#include "storage/storage_int.h"

#define EPHEMERAL_PREFIX "/run/kata-containers/sandbox/ephemeral/"

int sp_sandboxfs_opts_parse(char *const *opts, size_t n, bool local, struct sp_sandboxfs_opts *out,
			    struct sp_err *err)
{
	memset(out, 0, sizeof(*out));
	out->gid = -1;
	out->mode = -1;
	for (size_t i = 0; i < n; i++) {
		const char *o = opts[i] ? opts[i] : "";
		char *end;
		unsigned long v;

		if (strncmp(o, "fsgid=", 6) == 0) {
			errno = 0;
			v = strtoul(o + 6, &end, 10);
			if (errno || end == o + 6 || *end || v > 0x7fffffffUL || out->gid >= 0)
				return sp_error(err, 0, "storage.options: bad or repeated fsgid");
			out->gid = (long)v;
		} else if (local && strncmp(o, "mode=", 5) == 0) {
			errno = 0;
			v = strtoul(o + 5, &end, 8);
			if (errno || end == o + 5 || *end || v > 07777 || out->mode >= 0)
				return sp_error(err, 0, "storage.options: bad or repeated mode");
			if (v & S_ISUID)
				return sp_error(err, 0,
						"storage.options: a set-user-id directory is "
						"refused");
			out->mode = (long)v;
		} else {
			char b[64];

			sp_log_escape(b, sizeof(b), o, strnlen(o, 48));
			return sp_error(err, 0, "storage.options: option '%s' is not supported", b);
		}
	}
	return 0;
}

/* What the host's Storage asks, checked: the mount point beneath prefix (*rest: the part after
 * it), tmpfs for ephemeral, the options. */
static int check_storage(const Grpc__Storage *s, bool local, const char *prefix, const char **rest,
			 struct sp_sandboxfs_opts *o, struct sp_err *err)
{
	const char *why = NULL;
	char esc[96];

	if (!s->mount_point || sp_path_beneath(s->mount_point, prefix, rest, &why) < 0) {
		sp_log_escape(esc, sizeof(esc), s->mount_point ? s->mount_point : "",
			      s->mount_point ? strnlen(s->mount_point, 80) : 0);
		return sp_fail(err, SP_E_INVALID, 0, "storage.options: %s mount point '%s' %s",
			       local ? "local" : "ephemeral", esc, why ? why : "is missing");
	}
	if (!local && (!s->fstype || strcmp(s->fstype, "tmpfs") != 0))
		return sp_fail(err, SP_E_INVALID, 0,
			       "storage.options: ephemeral storage must be tmpfs (hugetlbfs and "
			       "others are not supported)");
	if (sp_sandboxfs_opts_parse(s->options, s->n_options, local, o, err) < 0)
		return sp_err_kind(err, SP_E_INVALID);
	return 0;
}

/* The mount point's directory beneath base (opened without following a symlink, *top too),
 * created as needed: prefix's remaining components, then rest. */
static int open_dir(const char *base, const char *prefix, const char *rest, int *top,
		    struct sp_err *err)
{
	char rel[4096];
	int dir;

	(void)mkdir("/run/kata-containers", 0755);
	(void)mkdir(base, 0755);
	*top = sp_openat2(AT_FDCWD, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			  RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (*top < 0)
		return sp_error(err, errno, "storage: open %s", base);
	if (snprintf(rel, sizeof(rel), "%s%s", prefix + strlen(base) + 1, rest) >= (int)sizeof(rel))
		return sp_fail(err, SP_E_INVALID, ENAMETOOLONG, "storage: mount point");
	dir = sp_mkdirs_at(*top, rel, 0755, O_RDONLY, SP_RESOLVE_STRICT, err);
	if (dir < 0)
		sp_error_wrap(err, "storage: the mount point");
	return dir;
}

/* A tmpfs on the ephemeral directory dir (unless a second container of the pod names the same
 * one, already mounted); returns the directory to use from now on, or -1. dir is consumed. */
static int mount_tmpfs(int top, int dir, const char *rest, struct sp_err *err)
{
	struct stat st, up;
	char fdpath[64];
	int d2;

	if (fstat(dir, &st) == 0) {
		cleanup_close int parent = openat(dir, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (parent >= 0 && fstat(parent, &up) == 0 && up.st_dev != st.st_dev)
			return dir;
	}
	(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", dir);
	if (mount("tmpfs", fdpath, "tmpfs", MS_NODEV | MS_NOSUID, "mode=1777") < 0) {
		close(dir);
		return sp_error(err, errno, "storage.mount: tmpfs");
	}
	close(dir);
	dir = sp_openat2(top, "ephemeral", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
	if (dir < 0)
		return sp_error(err, errno, "storage: reopen the tmpfs");
	d2 = sp_openat2(dir, rest, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
	close(dir);
	if (d2 < 0)
		return sp_error(err, errno, "storage: reopen the tmpfs");
	return d2;
}

int sp_storage_sandboxfs_prepare(const Grpc__Storage *s, bool local, struct sp_err *err)
{
	const char *prefix = local ? SP_SHARED_PREFIX : EPHEMERAL_PREFIX;
	const char *base = local ? "/run/kata-containers/shared" : "/run/kata-containers/sandbox";
	const char *rest = NULL;
	struct sp_sandboxfs_opts o = { .gid = -1, .mode = -1 };
	cleanup_close int top = -1, dir = -1;
	struct stat st;
	char esc[96];

	if (check_storage(s, local, prefix, &rest, &o, err) < 0)
		return -1;
	dir = open_dir(base, prefix, rest, &top, err);
	if (dir < 0)
		return -1;
	if (!local && (dir = mount_tmpfs(top, steal_fd(&dir), rest, err)) < 0)
		return -1;
	if (local && o.mode >= 0 && fchmod(dir, (mode_t)o.mode) < 0)
		return sp_error(err, errno, "storage: chmod the local directory");
	if (o.gid >= 0 && (fchown(dir, (uid_t)-1, (gid_t)o.gid) < 0 || fstat(dir, &st) < 0 ||
			   fchmod(dir, (st.st_mode & 07777) | S_ISGID) < 0))
		return sp_error(err, errno, "storage: fsgid");
	sp_log_escape(esc, sizeof(esc), s->mount_point, strnlen(s->mount_point, 80));
	sp_info("storage", "%s emptyDir at %s (guest memory)", local ? "local" : "ephemeral", esc);
	return 0;
}
