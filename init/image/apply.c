/* The applier (apply.h). */
#define _GNU_SOURCE
#include "image/apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define RESOLVE		 (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define MAX_REMOVE_DEPTH 128

struct dir_time {
	char *path;
	struct timespec ts;
};

struct sp_apply {
	int root;
	bool chown;
	int cur_fd; /* the regular file being written */
	uint64_t cur_left;
	struct sp_tar_entry cur; /* its metadata (applied once complete) */
	struct dir_time *dirs;
	size_t ndirs, capdirs;
	struct sp_apply_stats st;
};

struct sp_apply *sp_apply_new(int root_fd, bool chown)
{
	struct sp_apply *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->root = root_fd;
	a->chown = chown;
	a->cur_fd = -1;
	return a;
}

void sp_apply_free(struct sp_apply *a)
{
	if (!a)
		return;
	if (a->cur_fd >= 0)
		close(a->cur_fd);
	for (size_t i = 0; i < a->ndirs; i++)
		free(a->dirs[i].path);
	free(a->dirs);
	free(a);
}

const struct sp_apply_stats *sp_apply_stats(const struct sp_apply *a)
{
	return &a->st;
}

/* Escaped copy of an image path for messages (untrusted bytes). */
static const char *esc(const char *p, char *buf, size_t n)
{
	sp_log_escape(buf, n, p, strlen(p));
	return buf;
}

static int rm_rec(int pfd, const char *name, int depth, struct sp_err *err)
{
	cleanup_close int fd = -1;
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (unlinkat(pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return sp_error(err, errno, "remove a directory");
	if (depth > MAX_REMOVE_DEPTH)
		return sp_error(err, 0, "a directory to replace is nested too deep");
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sp_error(err, errno, "open a directory to remove");
	d = fdopendir(fd);
	if (!d)
		return sp_error(err, errno, "read a directory to remove");
	(void)steal_fd(&fd); /* owned by d now */
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			if (rm_rec(dirfd(d), de->d_name, depth + 1, err) < 0) {
				ret = -1;
				break;
			}
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			if (errno == EISDIR && rm_rec(dirfd(d), de->d_name, depth + 1, err) == 0)
				continue;
			ret = sp_error(err, errno, "remove a file");
			break;
		}
	}
	closedir(d);
	if (ret == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return sp_error(err, errno, "remove a directory");
	return ret;
}

int sp_remove_tree_at(int dirfd, const char *name, struct sp_err *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sp_error(err, errno, "stat before removing");
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT
			       ? 0
			       : sp_error(err, errno, "remove a file");
	return rm_rec(dirfd, name, 0, err);
}

/* Opens the directory dir (normalised, relative to the root; "" is the root) as O_PATH,
 * creating missing components as 0755 directories. */
static int open_dir(struct sp_apply *a, const char *dir, struct sp_err *err)
{
	char buf[SP_TAR_PATH_MAX + 1], eb[96];
	int fd = sp_openat2(a->root, dir[0] ? dir : ".", O_PATH | O_DIRECTORY, 0, RESOLVE);
	int prev;

	if (fd >= 0 || errno != ENOENT) {
		if (fd < 0)
			return sp_error(err, errno, "open the directory '%s'",
					esc(dir, eb, sizeof(eb)));
		return fd;
	}
	/* Create the missing components one by one, each resolved from the root again. */
	prev = sp_openat2(a->root, ".", O_PATH | O_DIRECTORY, 0, RESOLVE);
	if (prev < 0)
		return sp_error(err, errno, "open the layer root");
	(void)snprintf(buf, sizeof(buf), "%s", dir);
	for (char *c = buf;;) {
		char *s = strchrnul(c, '/');
		char save = *s;
		char *comp = c;

		*s = '\0';
		/* comp is the last component of buf[0..s) */
		fd = sp_openat2(a->root, buf, O_PATH | O_DIRECTORY, 0, RESOLVE);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(prev, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;

				close(prev);
				return sp_error(err, e, "create the directory '%s'",
						esc(buf, eb, sizeof(eb)));
			}
			fd = sp_openat2(a->root, buf, O_PATH | O_DIRECTORY, 0, RESOLVE);
			a->st.dirs++;
		}
		if (fd < 0) {
			int e = errno;

			close(prev);
			return sp_error(err, e, "open the directory '%s'",
					esc(buf, eb, sizeof(eb)));
		}
		close(prev);
		prev = fd;
		if (!save)
			break;
		*s = save;
		c = s + 1;
	}
	return prev;
}

/* Splits path into its parent (opened, created when missing) and base name. */
static int open_parent(struct sp_apply *a, const char *path, const char **base, struct sp_err *err)
{
	char dir[SP_TAR_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = path;
		return open_dir(a, "", err);
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*base = slash + 1;
	return open_dir(a, dir, err);
}

static int set_xattrs(int fd, const struct sp_tar_entry *e, struct sp_err *err)
{
	size_t off = 0;

	for (unsigned i = 0; i < e->nxattrs; i++) {
		const char *name = (const char *)e->xattrs + off;
		size_t nl = strnlen(name, e->xattrs_len - off);
		uint32_t vl;

		if (off + nl + 1 + 4 > e->xattrs_len)
			return sp_error(err, 0, "malformed xattrs");
		memcpy(&vl, e->xattrs + off + nl + 1, 4);
		if (off + nl + 5 + vl > e->xattrs_len)
			return sp_error(err, 0, "malformed xattrs");
		if (strncmp(name, "trusted.", 8) ==
		    0) /* the parser never sends these: re-checked */
			return sp_error(err, 0, "a trusted.* xattr from the image is refused");
		if (fsetxattr(fd, name, e->xattrs + off + nl + 5, vl, 0) < 0 && errno != ENOTSUP)
			return sp_error(err, errno, "set an xattr");
		off += nl + 5 + vl;
	}
	return 0;
}

/* chown, chmod (after chown, which clears set-id bits), xattrs, times on an open fd. */
static int set_meta_fd(struct sp_apply *a, int fd, const struct sp_tar_entry *e, bool times,
		       struct sp_err *err)
{
	struct timespec ts[2] = { { e->mtime, e->mtime_nsec }, { e->mtime, e->mtime_nsec } };

	if (a->chown && fchown(fd, e->uid, e->gid) < 0)
		return sp_error(err, errno, "chown");
	if (fchmod(fd, e->mode) < 0)
		return sp_error(err, errno, "chmod");
	if (set_xattrs(fd, e, err) < 0)
		return -1;
	if (times && futimens(fd, ts) < 0)
		return sp_error(err, errno, "set times");
	return 0;
}

static int finish_file(struct sp_apply *a, struct sp_err *err)
{
	int fd = a->cur_fd;
	int r = set_meta_fd(a, fd, &a->cur, true, err);

	close(fd);
	a->cur_fd = -1;
	return r;
}

static int note_dir_time(struct sp_apply *a, const char *path, const struct sp_tar_entry *e,
			 struct sp_err *err)
{
	if (a->ndirs == a->capdirs) {
		size_t n = a->capdirs ? a->capdirs * 2 : 64;
		struct dir_time *d = realloc(a->dirs, n * sizeof(*d));

		if (!d)
			return sp_error(err, ENOMEM, "directory times");
		a->dirs = d;
		a->capdirs = n;
	}
	a->dirs[a->ndirs].path = strdup(path);
	if (!a->dirs[a->ndirs].path)
		return sp_error(err, ENOMEM, "directory times");
	a->dirs[a->ndirs].ts = (struct timespec){ e->mtime, e->mtime_nsec };
	a->ndirs++;
	return 0;
}

static int apply_dir(struct sp_apply *a, int parent, const char *base, const struct sp_tar_entry *e,
		     struct sp_err *err)
{
	cleanup_close int fd = -1;

	if (e->path[0] == '\0')
		fd = sp_openat2(a->root, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE);
	else {
		if (mkdirat(parent, base, 0700) < 0 && errno != EEXIST)
			return sp_error(err, errno, "mkdir");
		fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return sp_error(err, errno, "open a directory");
	a->st.dirs++;
	if (set_meta_fd(a, fd, e, false, err) < 0)
		return -1;
	return note_dir_time(a, e->path, e, err);
}

static int apply_opaque(struct sp_apply *a, const struct sp_tar_entry *e, struct sp_err *err)
{
	cleanup_close int dfd = open_dir(a, e->path, err);
	cleanup_close int fd = -1;

	if (dfd < 0)
		return -1;
	fd = sp_openat2(dfd, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE);
	if (fd < 0)
		return sp_error(err, errno, "open an opaque directory");
	if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return sp_error(err, errno, "set trusted.overlay.opaque");
	a->st.opaques++;
	return 0;
}

static int apply_hardlink(struct sp_apply *a, int parent, const char *base,
			  const struct sp_tar_entry *e, struct sp_err *err)
{
	cleanup_close int tparent = -1;
	const char *tbase;
	struct stat st;

	tparent = open_parent(a, e->link, &tbase, err);
	if (tparent < 0)
		return -1;
	/* The target must be an entry of this layer (the layer root holds nothing else). */
	if (fstatat(tparent, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error(err, errno, "hard-link target is not in the layer");
	if (S_ISDIR(st.st_mode))
		return sp_error(err, 0, "hard link to a directory");
	if (linkat(tparent, tbase, parent, base, 0) < 0)
		return sp_error(err, errno, "link");
	a->st.links++;
	return 0;
}

/* A regular file: created empty here, filled by sp_apply_data, finished when its size is in. */
static int apply_file(struct sp_apply *a, int parent, const char *base,
		      const struct sp_tar_entry *e, struct sp_err *err)
{
	int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return sp_error(err, errno, "create");
	a->st.files++;
	a->cur_fd = fd;
	a->cur_left = e->size;
	a->cur = *e;
	if (e->size == 0)
		return finish_file(a, err);
	return 0;
}

static int apply_symlink(struct sp_apply *a, int parent, const char *base,
			 const struct sp_tar_entry *e, struct sp_err *err)
{
	struct timespec ts[2] = { { e->mtime, e->mtime_nsec }, { e->mtime, e->mtime_nsec } };

	if (symlinkat(e->link, parent, base) < 0)
		return sp_error(err, errno, "symlink");
	a->st.links++;
	if (a->chown && fchownat(parent, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error(err, errno, "chown a symlink");
	if (utimensat(parent, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error(err, errno, "set symlink times");
	return 0;
}

static int apply_fifo(struct sp_apply *a, int parent, const char *base,
		      const struct sp_tar_entry *e, struct sp_err *err)
{
	if (mknodat(parent, base, S_IFIFO | (e->mode & 0777), 0) < 0)
		return sp_error(err, errno, "mkfifo");
	if (a->chown && fchownat(parent, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error(err, errno, "chown a fifo");
	return 0;
}

/* Device nodes are skipped, except char 0:0, which in the tar is an overlay whiteout already. */
static int apply_whiteout(struct sp_apply *a, int parent, const char *base,
			  const struct sp_tar_entry *e, struct sp_err *err)
{
	if (e->kind != SP_TAR_WHITEOUT &&
	    !(e->kind == SP_TAR_CHAR && e->devmajor == 0 && e->devminor == 0)) {
		a->st.skipped_devices++;
		return 0;
	}
	if (mknodat(parent, base, S_IFCHR, makedev(0, 0)) < 0)
		return sp_error(err, errno, "create a whiteout");
	a->st.whiteouts++;
	return 0;
}

/* The entry itself, at base in parent (whatever was there before is gone). */
static int apply_node(struct sp_apply *a, int parent, const char *base,
		      const struct sp_tar_entry *e, struct sp_err *err)
{
	switch (e->kind) {
	case SP_TAR_DIR:
		return apply_dir(a, parent, base, e, err);
	case SP_TAR_FILE:
		return apply_file(a, parent, base, e, err);
	case SP_TAR_SYMLINK:
		return apply_symlink(a, parent, base, e, err);
	case SP_TAR_HARDLINK:
		return apply_hardlink(a, parent, base, e, err);
	case SP_TAR_FIFO:
		return apply_fifo(a, parent, base, e, err);
	case SP_TAR_CHAR:
	case SP_TAR_BLOCK:
	case SP_TAR_WHITEOUT:
		return apply_whiteout(a, parent, base, e, err);
	case SP_TAR_OPAQUE:
		break;
	}
	return 0;
}

int sp_apply_entry(struct sp_apply *a, const struct sp_tar_entry *e, struct sp_err *err)
{
	cleanup_close int parent = -1;
	const char *base;
	struct stat st;
	char eb[96];

	if (a->cur_fd >= 0)
		return sp_error(err, 0, "an entry arrived before the previous file's data ended");
	if (!sp_tar_path_ok(e->path) || (e->kind == SP_TAR_HARDLINK && !sp_tar_path_ok(e->link)))
		return sp_error(err, 0, "an entry path is not normalised");
	if (e->path[0] == '\0' && e->kind != SP_TAR_DIR && e->kind != SP_TAR_OPAQUE)
		return sp_error(err, 0, "the root entry is not a directory");
	a->st.entries++;
	if (e->kind == SP_TAR_OPAQUE) {
		if (apply_opaque(a, e, err) < 0)
			return sp_error_wrap(err, "'%s'", esc(e->path, eb, sizeof(eb)));
		return 0;
	}
	if (e->path[0] == '\0')
		return apply_dir(a, -1, "", e, err);
	parent = open_parent(a, e->path, &base, err);
	if (parent < 0)
		return -1;

	if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (e->kind == SP_TAR_WHITEOUT)
			return 0; /* this layer has the name itself: nothing of a lower layer shows */
		if (!(S_ISDIR(st.st_mode) && e->kind == SP_TAR_DIR) &&
		    sp_remove_tree_at(parent, base, err) < 0)
			return sp_error_wrap(err, "replace '%s'", esc(e->path, eb, sizeof(eb)));
	}
	if (apply_node(a, parent, base, e, err) < 0)
		return sp_error_wrap(err, "'%s'", esc(e->path, eb, sizeof(eb)));
	return 0;
}

int sp_apply_data(struct sp_apply *a, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (a->cur_fd < 0 || len > a->cur_left)
		return sp_error(err, 0, "file data without a file, or more than its size");
	if (sp_write_all(a->cur_fd, buf, len) < 0)
		return sp_error(err, errno, "write a file of the layer");
	a->cur_left -= len;
	a->st.bytes += len;
	if (a->cur_left == 0)
		return finish_file(a, err);
	return 0;
}

int sp_apply_finish(struct sp_apply *a, struct sp_err *err)
{
	if (a->cur_fd >= 0)
		return sp_error(err, 0, "the layer ended inside a file");
	/* Deepest first is not needed: setting a directory's times does not touch its parent's. */
	for (size_t i = a->ndirs; i-- > 0;) {
		const char *p = a->dirs[i].path;
		struct timespec ts[2] = { a->dirs[i].ts, a->dirs[i].ts };
		int fd = sp_openat2(a->root, p[0] ? p : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0,
				    RESOLVE);

		if (fd < 0)
			continue; /* replaced by a later entry */
		(void)futimens(fd, ts);
		close(fd);
	}
	return 0;
}
