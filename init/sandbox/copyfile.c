/* CopyFile (Kata's shared_fs=none path): the host pushes ConfigMaps, Secrets, /etc/hosts and the
 * like into the shared-files directory, file by file. Every name is host-chosen, so nothing here
 * follows a symlink, leaves the directory or enters a mount beneath it (a container's rootfs is
 * mounted at shared/containers/<cid>/rootfs by real shims): each step is an openat2() from a
 * directory fd with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV,
 * and the target itself is only ever replaced by rename, never opened for writing. The symlinks
 * it makes stay inside the directory too (link_target_escapes). */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/validate.h"

#define DEFAULT_DIR_MODE 0750

static int openat_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	return sp_openat2(dirfd, name, flags, mode,
			  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
				  RESOLVE_NO_XDEV);
}

/* Which answer a failed system call deserves: what a planted symlink, a wrong file type or a
 * missing chunk causes is the request's fault; a full disk is exhaustion; the rest is ours. */
static enum sp_err_kind kind_for(int errnum)
{
	switch (errnum) {
	case 0:
	case ELOOP:
	case EXDEV:
	case ENOTDIR:
	case EISDIR:
	case EEXIST:
	case ENOTEMPTY:
	case ENOENT:
	case EINVAL:
	case ENAMETOOLONG:
	case EFBIG:
	case EBUSY: /* a rename over a mount point */
		return SP_E_INVALID;
	case ENOSPC:
	case EDQUOT:
	case ENOMEM:
		return SP_E_EXHAUSTED;
	default:
		return SP_E_INTERNAL;
	}
}

/* Fills err with fmt applied to the escaped host text what and the kind kind_for(errnum);
 * evaluates to -1. */
#define FAIL(err, errnum, fmt, what)                                                               \
	({                                                                                         \
		int e_ = (errnum);                                                                 \
		char b_[96];                                                                       \
		sp_log_escape(b_, sizeof(b_), (what), strnlen((what), SP_PATH_MAX));               \
		sp_fail((err), kind_for(e_), e_, fmt, b_);                                         \
	})

/* The temporary name a file is assembled under, in its own directory: stable across the chunks
 * of one file, fixed length whatever the target's name. */
static void temp_name(const char *leaf, char out[32])
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)leaf; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	(void)snprintf(out, 32, ".sealpod-copy-%016" PRIx64, h);
}

/* Walks rel (components separated by '/', at least one) from dirfd, creating missing
 * directories with mode; returns an fd on the last one. */
static int open_parents(int dirfd, char *rel, mode_t mode, struct sp_err *err)
{
	cleanup_close int cur = -1;
	char *save = NULL;

	for (char *c = strtok_r(rel, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int at = cur >= 0 ? cur : dirfd, next;
		bool made = mkdirat(at, c, mode) == 0;

		if (!made && errno != EEXIST)
			return FAIL(err, errno, "create directory '%s'", c);
		next = openat_beneath(at, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
		if (next < 0 && errno == EXDEV)
			return FAIL(err, EXDEV, "directory '%s' is a mount point (never entered)",
				    c);
		if (next < 0)
			return FAIL(err, errno, "open directory '%s' (symlinks are not followed)",
				    c);
		if (made && fchmod(next, mode) < 0) {
			int e = errno;

			close(next);
			return FAIL(err, e, "chmod directory '%s'", c);
		}
		if (cur >= 0)
			close(cur);
		cur = next;
	}
	return steal_fd(&cur);
}

static uid_t owner(int32_t id)
{
	return id < 0 ? (uid_t)-1 : (uid_t)id;
}

static int copy_dir(int pfd, const char *leaf, mode_t perm, const Grpc__CopyFileRequest *req,
		    bool chown, struct sp_err *err)
{
	cleanup_close int fd = -1;

	if (mkdirat(pfd, leaf, perm) < 0 && errno != EEXIST)
		return FAIL(err, errno, "create directory '%s'", leaf);
	fd = openat_beneath(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0 && errno == EXDEV)
		return FAIL(err, EXDEV, "'%s' is a mount point (CopyFile never enters a mount)",
			    leaf);
	if (fd < 0)
		return FAIL(err, errno, "'%s' exists and is not a directory", leaf);
	if (fchmod(fd, perm) < 0)
		return FAIL(err, errno, "chmod '%s'", leaf);
	if (chown && fchown(fd, owner(req->uid), owner(req->gid)) < 0)
		return FAIL(err, errno, "chown '%s'", leaf);
	return 0;
}

/* Why a link at depth (directories between the shared-files directory and the link's own) with
 * target could lead out of the shared-files directory, or NULL. Decided lexically, so the target
 * must be relative, and its ".." components must all come first and climb at most depth levels:
 * a ".." after a name climbs from wherever that name leads, and the name may be another link
 * ("up -> ..", then "up/../.."). kubelet's "..data -> ..2024_01_01_00_00_00.1" and
 * "key -> ..data/key" pass. */
static const char *link_target_escapes(const char *target, size_t depth)
{
	bool named = false;

	if (target[0] == '/')
		return "is absolute";
	for (const char *c = target; *c;) {
		const char *e = strchrnul(c, '/');
		size_t n = (size_t)(e - c);

		if (n == 2 && c[0] == '.' && c[1] == '.') {
			if (named)
				return "has a '..' after a name";
			if (depth == 0)
				return "climbs out of the shared-files directory";
			depth--;
		} else if (n > 0 && !(n == 1 && c[0] == '.')) {
			named = true;
		}
		c = *e ? e + 1 : e;
	}
	return NULL;
}

static int copy_symlink(int pfd, const char *leaf, size_t depth, const Grpc__CopyFileRequest *req,
			bool chown, struct sp_err *err)
{
	char target[SP_PATH_MAX + 1], tmp[32], el[96], et[96];
	size_t n = req->data.len;
	const char *why;

	if (n == 0 || n > SP_PATH_MAX || memchr(req->data.data, '\0', n))
		return FAIL(err, 0, "symlink '%s': target empty, too long or with a NUL byte",
			    leaf);
	memcpy(target, req->data.data, n);
	target[n] = '\0';
	why = link_target_escapes(target, depth);
	if (why) {
		sp_log_escape(el, sizeof(el), leaf, strnlen(leaf, 80));
		sp_log_escape(et, sizeof(et), target, strnlen(target, 80));
		return sp_fail(err, SP_E_INVALID, 0,
			       "symlink '%s': its target '%s' %s (a symlink must stay inside the "
			       "shared-files directory)",
			       el, et, why);
	}
	temp_name(leaf, tmp);
	if (unlinkat(pfd, tmp, 0) < 0 && errno != ENOENT)
		return FAIL(err, errno, "remove a stale temporary for '%s'", leaf);
	if (symlinkat(target, pfd, tmp) < 0)
		return FAIL(err, errno, "create symlink '%s'", leaf);
	if ((chown &&
	     fchownat(pfd, tmp, owner(req->uid), owner(req->gid), AT_SYMLINK_NOFOLLOW) < 0) ||
	    renameat(pfd, tmp, pfd, leaf) < 0) {
		int e = errno;

		unlinkat(pfd, tmp, 0);
		return FAIL(err, e, "install symlink '%s'", leaf);
	}
	return 0;
}

static int write_all_at(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int copy_regular(int pfd, const char *leaf, mode_t perm, const Grpc__CopyFileRequest *req,
			bool chown, struct sp_err *err)
{
	int64_t off = req->offset, size = req->file_size, len = (int64_t)req->data.len;
	cleanup_close int fd = -1;
	struct statvfs vfs;
	struct stat st;
	char tmp[32];

	if (size < 0 || off < 0 || len > size || off > size - len)
		return FAIL(err, 0, "file '%s': offset/length outside file_size", leaf);
	if (size > SP_COPY_MAX_FILE) {
		return sp_fail(err, SP_E_EXHAUSTED, 0,
			       "file of %" PRId64 " bytes (at most %" PRId64 ")", size,
			       SP_COPY_MAX_FILE);
	}
	if (fstatvfs(pfd, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < (uint64_t)len + SP_COPY_FREE_RESERVE) {
		return sp_fail(err, SP_E_EXHAUSTED, 0, "the shared-files filesystem is full");
	}
	temp_name(leaf, tmp);
	if (off == 0) {
		/* A fresh inode each time: a stale temporary is never written through. */
		if (unlinkat(pfd, tmp, 0) < 0 && errno != ENOENT)
			return FAIL(err, errno, "remove a stale temporary for '%s'", leaf);
		fd = openat_beneath(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	} else {
		fd = openat_beneath(pfd, tmp, O_WRONLY | O_NOFOLLOW, 0);
	}
	if (fd < 0)
		return FAIL(err, errno,
			    off ? "file '%s': a chunk without the ones before it"
				: "create a temporary for '%s'",
			    leaf);
	if (fstat(fd, &st) < 0)
		return FAIL(err, errno, "stat the temporary for '%s'", leaf);
	if (!S_ISREG(st.st_mode) || st.st_size != off) {
		return sp_fail(err, SP_E_INVALID, 0,
			       "file chunk at offset %" PRId64 " but %" PRId64 " bytes written",
			       off, (int64_t)st.st_size);
	}
	if (len && write_all_at(fd, req->data.data, (size_t)len, (off_t)off) < 0)
		return FAIL(err, errno, "write '%s'", leaf);
	if (off + len < size)
		return 0; /* more chunks to come */
	if (fchmod(fd, perm) < 0 || (chown && fchown(fd, owner(req->uid), owner(req->gid)) < 0) ||
	    renameat(pfd, tmp, pfd, leaf) < 0) {
		int e = errno;

		unlinkat(pfd, tmp, 0);
		return FAIL(err, e, "install file '%s'", leaf);
	}
	return 0;
}

int sp_copy_file_at(int dirfd, const char *rest, const Grpc__CopyFileRequest *req, bool chown,
		    bool *stripped, struct sp_err *err)
{
	mode_t type = req->file_mode & S_IFMT, perm = req->file_mode & 07777;
	mode_t dmode = req->dir_mode & 0777;
	char rel[SP_PATH_MAX + 1], *slash;
	const char *leaf;
	cleanup_close int pfd = -1;

	*stripped = (perm & 07000) != 0;
	perm &= 0777;
	if (!dmode)
		dmode = DEFAULT_DIR_MODE;
	if (type == S_IFCHR || type == S_IFBLK || type == S_IFIFO || type == S_IFSOCK)
		return FAIL(err, 0, "'%s': device nodes, FIFOs and sockets are refused", rest);
	if (type != 0 && type != S_IFREG && type != S_IFDIR && type != S_IFLNK)
		return FAIL(err, 0, "'%s': unknown file type in file_mode", rest);
	if (strlen(rest) > SP_PATH_MAX)
		return FAIL(err, ENAMETOOLONG, "'%s'", rest);
	memcpy(rel, rest, strlen(rest) + 1);
	slash = strrchr(rel, '/');
	if (slash) {
		*slash = '\0';
		leaf = slash + 1;
		pfd = open_parents(dirfd, rel, dmode, err);
		if (pfd < 0)
			return pfd;
	} else {
		leaf = rel;
		pfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		if (pfd < 0)
			return FAIL(err, errno, "dup the directory fd for '%s'", rest);
	}
	if (type == S_IFDIR)
		return copy_dir(pfd, leaf, perm, req, chown, err);
	if (type == S_IFLNK) {
		size_t depth = 0;

		for (const char *c = rest; *c; c++)
			depth += *c == '/';
		return copy_symlink(pfd, leaf, depth, req, chown, err);
	}
	return copy_regular(pfd, leaf, perm, req, chown, err);
}
