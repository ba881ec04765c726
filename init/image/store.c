/* The per-container overlay over the pod's layer store (image.h). Layers are stacked with the new
 * mount API's "lowerdir+" (one layer per call, so no page-size limit on the option string; Linux
 * 6.8+), falling back to a classic mount(2) option string.
 *
 * The mount point is host text, so it is never followed as a string: it must be exactly one of the
 * two rootfs shapes for the request's container id (lib/pathat.h), its directories are made and
 * opened one component at a time beneath /run/kata-containers without following a symlink or
 * entering a mount, and the overlay is attached to the fd of the last one (move_mount with
 * MOVE_MOUNT_T_EMPTY_PATH). What is there afterwards is checked to be the mount just made. */
#define _GNU_SOURCE
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/pathat.h"
#include "lib/validate.h"

#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING	1
#define FSCONFIG_CMD_CREATE	6
#define FSMOUNT_CLOEXEC		0x00000001
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

int sp_image_kata_dir(struct sp_err *err)
{
	int fd;

	if (mkdir(SP_KATA_DIR, 0755) < 0 && errno != EEXIST)
		return sp_error(err, errno, "create %s", SP_KATA_DIR);
	fd = sp_openat2(AT_FDCWD, SP_KATA_DIR, O_PATH | O_DIRECTORY, 0,
			RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return sp_error(err, errno, "open %s", SP_KATA_DIR);
	return fd;
}

/* fd is a directory on the same file system and mount as kata. */
static bool on_kata_mount(int kata, int fd)
{
	struct stat a, b;
	uint64_t ia, ib;

	return fstat(kata, &a) == 0 && fstat(fd, &b) == 0 && S_ISDIR(b.st_mode) &&
	       a.st_dev == b.st_dev && sp_mount_id(kata, &ia) == 0 && sp_mount_id(fd, &ib) == 0 &&
	       ia == ib;
}

int sp_image_rootfs_dir(int kata, const char *cid, const char *target, struct sp_err *err)
{
	const char *rel, *why;
	char dir[SP_PATH_MAX + 1], *slash;
	cleanup_close int parent = -1, leaf = -1;

	if (sp_rootfs_path_check(cid, target, &rel, &why) < 0)
		return sp_error(err, 0, "%s", why);
	(void)snprintf(dir, sizeof(dir), "%s", rel);
	slash = strrchr(dir, '/');
	*slash = '\0'; /* both shapes end in "/rootfs" */
	parent = sp_mkdirs_at(kata, dir, 0755, O_PATH, SP_RESOLVE_STRICT_XDEV, err);
	if (parent < 0)
		return -1;
	leaf = sp_mkdirs_at(parent, slash + 1, 0755, O_PATH, SP_RESOLVE_STRICT_XDEV, err);
	if (leaf < 0)
		return -1;
	if (!on_kata_mount(kata, parent) || !on_kata_mount(kata, leaf))
		return sp_error(err, 0, "is not a plain directory on %s's own file system",
				SP_KATA_DIR);
	return steal_fd(&parent);
}

static int mount_new_api(const char *store, const struct sp_pull_result *res, const char *upper,
			 const char *work, int target, uint64_t *mnt_id)
{
	cleanup_close int fs = (int)syscall(SYS_fsopen, "overlay", 0x1 /* FSOPEN_CLOEXEC */);
	cleanup_close int mnt = -1;
	char dir[600];

	if (fs < 0)
		return -1;
	/* lowerdir+ lists the top layer first */
	for (size_t i = res->n_layers; i-- > 0;) {
		sp_image_layer_dir(store, res->diff_ids[i], dir, sizeof(dir));
		if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+", dir, 0) < 0)
			return -1;
	}
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -1;
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0x4 /* MOUNT_ATTR_NODEV */);
	if (mnt < 0 || sp_mount_id(mnt, mnt_id) < 0)
		return -1;
	return (int)syscall(SYS_move_mount, mnt, "", target, "",
			    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

/* Older kernels: one option string (a page at most), mounted on the target's fd. */
static int mount_classic(const char *store, const struct sp_pull_result *res, const char *upper,
			 const char *work, int target, struct sp_err *err)
{
	char dir[600], fdp[32];
	size_t cap, len;
	char *opts;
	int r;

	cap = 64 + strlen(upper) + strlen(work) + res->n_layers * (strlen(store) + 70);
	opts = malloc(cap);
	if (!opts)
		return sp_error(err, ENOMEM, "pull.unpack: overlay options");
	len = (size_t)snprintf(opts, cap, "lowerdir=");
	for (size_t i = res->n_layers; i-- > 0;) {
		sp_image_layer_dir(store, res->diff_ids[i], dir, sizeof(dir));
		len += (size_t)snprintf(opts + len, cap - len, "%s%s", dir, i ? ":" : "");
	}
	(void)snprintf(opts + len, cap - len, ",upperdir=%s,workdir=%s", upper, work);
	(void)snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", target);
	r = mount("overlay", fdp, "overlay", MS_NODEV, opts);
	free(opts);
	if (r < 0)
		return sp_error(err, errno, "pull.unpack: mount the overlay");
	return 0;
}

/* upper and work under updir (PID 1's own pod directory), created without following a symlink. */
static int make_updirs(const char *updir, char upper[600], char work[600], struct sp_err *err)
{
	cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int u = -1, w = -1;

	if (snprintf(upper, 600, "%s/upper", updir) >= 600 ||
	    snprintf(work, 600, "%s/work", updir) >= 600 || updir[0] != '/' || root < 0)
		return sp_error(err, ENAMETOOLONG, "pull.unpack: %s", updir);
	u = sp_mkdirs_at(root, upper + 1, 0755, O_PATH, SP_RESOLVE_STRICT, err);
	if (u < 0)
		return sp_error_wrap(err, "pull.unpack: %s", updir);
	w = sp_mkdirs_at(root, work + 1, 0700, O_PATH, SP_RESOLVE_STRICT, err);
	if (w < 0)
		return sp_error_wrap(err, "pull.unpack: %s", updir);
	return 0;
}

int sp_image_mount_overlay(const char *store, const struct sp_pull_result *res, const char *updir,
			   int dirfd, const char *name, uint64_t *mnt_id, struct sp_err *err)
{
	cleanup_close int target = -1, now = -1;
	char upper[600], work[600];
	uint64_t made = 0, there;

	*mnt_id = 0;
	if (res->n_layers == 0)
		return sp_error(err, 0, "pull.unpack: the image has no layers");
	if (make_updirs(updir, upper, work, err) < 0)
		return -1;
	/* A plain directory on dirfd's own mount: nothing is mounted on it yet. */
	target = sp_openat2(dirfd, name, O_PATH | O_DIRECTORY, 0, SP_RESOLVE_STRICT_XDEV);
	if (target < 0)
		return sp_error(err, errno, "pull.mount: the mount point is not a plain directory");
	if (mount_new_api(store, res, upper, work, target, &made) < 0) {
		made = 0;
		if (mount_classic(store, res, upper, work, target, err) < 0)
			return -1;
	}
	/* Whatever name resolves to now must be that mount (the classic one has no fd: take it). */
	now = sp_openat2(dirfd, name, O_PATH | O_DIRECTORY, 0, SP_RESOLVE_STRICT);
	if (now < 0 || sp_mount_id(now, &there) < 0 || !sp_is_mount_root(now) ||
	    (made && there != made))
		return sp_error(err, now < 0 ? errno : 0,
				"pull.mount: the mount point does not hold the new overlay");
	*mnt_id = there;
	return 0;
}
