/* A block storage's Storage.fs_group (Kubernetes' pod securityContext.fsGroup), applied as Kata's
 * agent does (its set_ownership): every file and directory beneath the mount gets the group,
 * read (and write, unless the storage is read-only) for the group, directories also search and
 * set-group-id so that what is made later inherits the group; symbolic links are skipped, never
 * followed. With the OnRootMismatch policy nothing changes when the root already has the group
 * and those bits. Runs in the storage worker right after the mount: the file system is the one the
 * worker just made (the key is ephemeral), but the walk is bounded anyway. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "storage/storage_int.h"

#define FSGROUP_MAX_DEPTH 64

static mode_t wanted(bool dir, bool ro)
{
	mode_t m = S_IRGRP | (ro ? 0 : S_IWGRP);

	return dir ? m | S_IXGRP | S_ISGID : m;
}

/* Group and bits on the object fd (O_PATH) names. */
static int set_one(int fd, const struct stat *st, gid_t gid, bool ro, const char *name,
		   struct sp_err *err)
{
	char p[64];

	if (fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0)
		return sp_error(err, errno, "storage.fsgroup: chgrp %s", name);
	(void)snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (chmod(p, (st->st_mode & 07777) | wanted(S_ISDIR(st->st_mode), ro)) < 0)
		return sp_error(err, errno, "storage.fsgroup: chmod %s", name);
	return 0;
}

static int walk(int dirfd, gid_t gid, bool ro, unsigned depth, struct sp_err *err)
{
	struct dirent *e;
	int ret = 0, scan;
	DIR *d;

	if (depth > FSGROUP_MAX_DEPTH)
		return sp_error(err, ELOOP, "storage.fsgroup: deeper than %d", FSGROUP_MAX_DEPTH);
	/* A descriptor of its own for the scan: the DIR owns it from here. */
	scan = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (scan < 0)
		return sp_error(err, errno, "storage.fsgroup: read a directory");
	d = fdopendir(scan);
	if (!d) {
		ret = sp_error(err, errno, "storage.fsgroup: read a directory");
		close(scan);
		return ret;
	}
	while (ret == 0 && (errno = 0, e = readdir(d))) {
		cleanup_close int fd = -1;
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		fd = openat(dirfd, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = sp_error(err, errno, "storage.fsgroup: open %s", e->d_name);
			break;
		}
		if (S_ISLNK(st.st_mode))
			continue;
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int sub = openat(
				dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				ret = sp_error(err, errno, "storage.fsgroup: open %s", e->d_name);
				break;
			}
			ret = walk(sub, gid, ro, depth + 1, err);
		}
		if (ret == 0)
			ret = set_one(fd, &st, gid, ro, e->d_name, err);
	}
	if (ret == 0 && errno)
		ret = sp_error(err, errno, "storage.fsgroup: readdir");
	closedir(d);
	return ret;
}

int sp_fs_group_apply(int rootfd, gid_t gid, bool ro, bool on_root_mismatch, bool *changed,
		      struct sp_err *err)
{
	struct stat st;
	mode_t want = wanted(true, ro);

	*changed = false;
	if (fstat(rootfd, &st) < 0 || !S_ISDIR(st.st_mode))
		return sp_error(err, errno ? errno : ENOTDIR, "storage.fsgroup: the mount's root");
	if (on_root_mismatch && st.st_gid == gid && (st.st_mode & want) == want)
		return 0;
	if (walk(rootfd, gid, ro, 0, err) < 0 || set_one(rootfd, &st, gid, ro, "/", err) < 0)
		return -1;
	*changed = true;
	return 0;
}
