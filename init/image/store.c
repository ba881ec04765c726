/* The per-container overlay over the pod's layer store (image.h). Layers are stacked with the new
 * mount API's "lowerdir+" (one layer per call, so no page-size limit on the option string; Linux
 * 6.8+), falling back to a classic mount(2) option string. */
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

#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING	1
#define FSCONFIG_CMD_CREATE	6
#define FSMOUNT_CLOEXEC		0x00000001
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int mount_new_api(const char *store, const struct sp_pull_result *res, const char *upper,
			 const char *work, const char *target)
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
	if (mnt < 0)
		return -1;
	return (int)syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
}

int sp_image_mount_overlay(const char *store, const struct sp_pull_result *res, const char *updir,
			   const char *target, struct sp_err *err)
{
	char upper[600], work[600], dir[600];
	char *opts;
	size_t cap, len;
	int r;

	if (res->n_layers == 0)
		return sp_error(err, 0, "pull.unpack: the image has no layers");
	(void)snprintf(upper, sizeof(upper), "%s/upper", updir);
	(void)snprintf(work, sizeof(work), "%s/work", updir);
	if (mkdir_p(upper, 0755) < 0 || mkdir_p(work, 0700) < 0)
		return sp_error(err, errno, "pull.unpack: create %s", updir);
	if (mkdir_p(target, 0755) < 0)
		return sp_error(err, errno, "pull.unpack: create the mount point");
	if (mount_new_api(store, res, upper, work, target) == 0)
		return 0;
	/* Older kernels: one option string (a page at most). */
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
	r = mount("overlay", target, "overlay", MS_NODEV, opts);
	free(opts);
	if (r < 0)
		return sp_error(err, errno, "pull.unpack: mount the overlay");
	return 0;
}
