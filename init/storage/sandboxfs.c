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

#include "agent/ttrpc.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/pathat.h"
#include "lib/validate.h"
#include "runtime/prepare.h"
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

static int prepare(const Grpc__Storage *s, bool local, struct sp_err *err)
{
	const char *prefix = local ? SP_SHARED_PREFIX : EPHEMERAL_PREFIX;
	const char *rest = NULL, *why = NULL,
		   *base = local ? "/run/kata-containers/shared" : "/run/kata-containers/sandbox";
	struct sp_sandboxfs_opts o;
	cleanup_close int top = -1, dir = -1;
	char fdpath[64], esc[96];
	int r;

	if (!s->mount_point || sp_path_beneath(s->mount_point, prefix, &rest, &why) < 0) {
		sp_log_escape(esc, sizeof(esc), s->mount_point ? s->mount_point : "",
			      s->mount_point ? strnlen(s->mount_point, 80) : 0);
		sp_error(err, 0, "storage.options: %s mount point '%s' %s",
			 local ? "local" : "ephemeral", esc, why ? why : "is missing");
		return -TT_INVALID_ARGUMENT;
	}
	if (!local && (!s->fstype || strcmp(s->fstype, "tmpfs") != 0)) {
		sp_error(err, 0,
			 "storage.options: ephemeral storage must be tmpfs (hugetlbfs and "
			 "others are not supported)");
		return -TT_INVALID_ARGUMENT;
	}
	if (sp_sandboxfs_opts_parse(s->options, s->n_options, local, &o, err) < 0)
		return -TT_INVALID_ARGUMENT;
	(void)mkdir("/run/kata-containers", 0755);
	(void)mkdir(base, 0755);
	top = sp_openat2(AT_FDCWD, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			 RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (top < 0)
		return sp_error(err, errno, "storage: open %s", base), -TT_INTERNAL;
	/* The prefix's remaining components, then the mount point's own. */
	r = snprintf(fdpath, sizeof(fdpath), "%s", prefix + strlen(base) + 1);
	if (r < 0 || (size_t)r >= sizeof(fdpath))
		return sp_error(err, 0, "storage: prefix"), -TT_INTERNAL;
	{
		char rel[4096];

		if (snprintf(rel, sizeof(rel), "%s%s", fdpath, rest) >= (int)sizeof(rel))
			return sp_error(err, ENAMETOOLONG, "storage: mount point"),
			       -TT_INVALID_ARGUMENT;
		dir = sp_mkdirs_at(top, rel, 0755, O_RDONLY, SP_RESOLVE_STRICT, err);
		if (dir < 0)
			sp_error_wrap(err, "storage: the mount point");
	}
	if (dir < 0)
		return -TT_INTERNAL;
	(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", dir);
	if (!local) {
		struct stat st;
		bool mounted = false;

		/* A second container of the pod names the same tmpfs: keep the one mounted. */
		if (fstat(dir, &st) == 0) {
			struct stat up;
			cleanup_close int parent =
				openat(dir, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			mounted = parent >= 0 && fstat(parent, &up) == 0 && up.st_dev != st.st_dev;
		}
		if (!mounted) {
			if (mount("tmpfs", fdpath, "tmpfs", MS_NODEV | MS_NOSUID, "mode=1777") < 0)
				return sp_error(err, errno, "storage.mount: tmpfs"), -TT_INTERNAL;
			close(dir);
			dir = sp_openat2(top, "ephemeral", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
					 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
			if (dir >= 0) {
				int d2 = sp_openat2(dir, rest, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
						    0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);

				close(dir);
				dir = d2;
			}
			if (dir < 0)
				return sp_error(err, errno, "storage: reopen the tmpfs"),
				       -TT_INTERNAL;
		}
	} else if (o.mode >= 0 && fchmod(dir, (mode_t)o.mode) < 0) {
		return sp_error(err, errno, "storage: chmod the local directory"), -TT_INTERNAL;
	}
	if (o.gid >= 0) {
		struct stat st;

		if (fchown(dir, (uid_t)-1, (gid_t)o.gid) < 0 || fstat(dir, &st) < 0 ||
		    fchmod(dir, (st.st_mode & 07777) | S_ISGID) < 0)
			return sp_error(err, errno, "storage: fsgid"), -TT_INTERNAL;
	}
	sp_log_escape(esc, sizeof(esc), s->mount_point, strnlen(s->mount_point, 80));
	sp_info("storage", "%s emptyDir at %s (guest memory)", local ? "local" : "ephemeral", esc);
	return 0;
}

static int prepare_ephemeral(struct sp_prep *h, const Grpc__Storage *s, struct sp_err *err)
{
	(void)h;
	return prepare(s, false, err);
}

static int prepare_local(struct sp_prep *h, const Grpc__Storage *s, struct sp_err *err)
{
	(void)h;
	return prepare(s, true, err);
}

/* Synchronous and sandbox-scoped: nothing to cancel, nothing released per container. */
const struct sp_storage_driver sp_storage_driver_ephemeral = { .prepare = prepare_ephemeral };
const struct sp_storage_driver sp_storage_driver_local = { .prepare = prepare_local };
