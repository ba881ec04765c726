#define _GNU_SOURCE
#include "lib/pathat.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/validate.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

int sp_rootfs_path_check(const char *cid, const char *path, const char **rel, const char **why)
{
	static const char base[] = SP_KATA_DIR "/";
	char want[2][SP_ID_MAX + 64];
	size_t len;

	if (!path || !path[0]) {
		if (why)
			*why = "is missing";
		return -1;
	}
	if (!sp_valid_id(cid)) {
		if (why)
			*why = "cannot be checked: the container id is not valid";
		return -1;
	}
	/* Both shapes are built from the id and compared byte for byte: no normalisation, so "//",
	 * ".", "..", a trailing '/' or anything beneath either shape is simply not equal. */
	(void)snprintf(want[0], sizeof(want[0]), "%s%s/rootfs", base, cid);
	(void)snprintf(want[1], sizeof(want[1]), "%sshared/containers/%s/rootfs", base, cid);
	len = strnlen(path, SP_PATH_MAX + 1);
	for (int i = 0; i < 2; i++) {
		if (len == strlen(want[i]) && memcmp(path, want[i], len) == 0) {
			if (rel)
				*rel = path + sizeof(base) - 1;
			return i == 0 ? SP_ROOTFS_RUN : SP_ROOTFS_SHARED;
		}
	}
	if (why)
		*why = "is neither " SP_KATA_DIR "/<container id>/rootfs nor " SP_KATA_DIR
		       "/shared/containers/<container id>/rootfs for this container";
	return -1;
}

int sp_mkdirs_at(int dirfd, const char *rel, mode_t mode, int flags, uint64_t resolve,
		 struct sp_err *err)
{
	char buf[SP_PATH_MAX + 1], esc[96];
	cleanup_close int cur = -1;
	char *c, *next;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf) || !buf[0])
		return sp_error(err, ENAMETOOLONG, "create the directories of a path");
	for (c = buf; c; c = next) {
		int at = cur >= 0 ? cur : dirfd, fd;

		next = strchr(c, '/');
		if (next)
			*next++ = '\0';
		sp_log_escape(esc, sizeof(esc), c, strnlen(c, 80));
		if (!c[0] || strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
			return sp_error(err, EINVAL, "directory '%s': not a plain name", esc);
		if (mkdirat(at, c, mode) < 0 && errno != EEXIST)
			return sp_error(err, errno, "create directory '%s'", esc);
		fd = sp_openat2(at, c, flags | O_DIRECTORY, 0, resolve);
		if (fd < 0) {
			int e = errno;

			if (e == ELOOP)
				return sp_error(err, e,
						"directory '%s' is a symlink (never followed)",
						esc);
			if (e == EXDEV)
				return sp_error(err, e, "directory '%s' is a mount (never entered)",
						esc);
			return sp_error(err, e, "open directory '%s'", esc);
		}
		if (cur >= 0)
			close(cur);
		cur = fd;
	}
	return steal_fd(&cur);
}

static int statx_fd(int fd, unsigned mask, struct statx *stx)
{
	memset(stx, 0, sizeof(*stx));
	return (int)syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, mask, stx);
}

int sp_mount_id(int fd, uint64_t *id)
{
	struct statx stx;

	*id = 0;
	if (statx_fd(fd, STATX_MNT_ID | STATX_MNT_ID_UNIQUE, &stx) < 0)
		return -1;
	if (!(stx.stx_mask & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE)) || stx.stx_mnt_id == 0) {
		errno = ENOTSUP;
		return -1;
	}
	*id = stx.stx_mnt_id;
	return 0;
}

bool sp_is_mount_root(int fd)
{
	struct statx stx;

	return statx_fd(fd, STATX_BASIC_STATS, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int open_dir_nofollow(const char *path, struct sp_err *err)
{
	int fd;

	if (!path || path[0] != '/')
		return sp_error(err, EINVAL, "a directory path that is not absolute");
	fd = sp_openat2(AT_FDCWD, path, O_PATH | O_DIRECTORY, 0,
			RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return sp_error(err, errno, "open %s (symlinks are not followed)", path);
	return fd;
}

int sp_open_on_mount(const char *path, uint64_t want, struct sp_err *err)
{
	cleanup_close int fd = open_dir_nofollow(path, err);
	uint64_t id;

	if (fd < 0)
		return -1;
	if (sp_mount_id(fd, &id) < 0)
		return sp_error(err, errno, "the mount id of %s", path);
	if (want == 0 || id != want)
		return sp_error(err, 0, "%s is not the mount made there (mount id %llu, not %llu)",
				path, (unsigned long long)id, (unsigned long long)want);
	return steal_fd(&fd);
}

int sp_path_mount_id(const char *path, uint64_t *id, struct sp_err *err)
{
	cleanup_close int fd = open_dir_nofollow(path, err);

	*id = 0;
	if (fd < 0)
		return -1;
	if (sp_mount_id(fd, id) < 0)
		return sp_error(err, errno, "the mount id of %s", path);
	return 0;
}
