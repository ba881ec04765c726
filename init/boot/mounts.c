#define _GNU_SOURCE
#include "boot/boot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

enum fs_kind { FS_MKDIR, FS_MOUNT, FS_SYMLINK };

struct fs_op {
	enum fs_kind kind;
	const char *target;
	const char *source; /* mount source or symlink target */
	const char *fstype;
	unsigned long flags;
	const char *data;
	mode_t mode;   /* FS_MKDIR */
	bool optional; /* failure is logged, boot goes on */
	bool replace;  /* FS_SYMLINK: remove what is there first */
};

#define NOSUID_NODEV	    (MS_NOSUID | MS_NODEV)
#define NOSUID_NODEV_NOEXEC (MS_NOSUID | MS_NODEV | MS_NOEXEC)

#define MKDIR(path, m, opt)                                                                        \
	{                                                                                          \
		.kind = FS_MKDIR, .target = (path), .mode = (m), .optional = (opt)                 \
	}
#define MOUNT(path, src, type, fl, d, opt)                                                         \
	{                                                                                          \
		.kind = FS_MOUNT, .target = (path), .source = (src), .fstype = (type),             \
		.flags = (fl), .data = (d), .optional = (opt)                                      \
	}
#define SYMLINK(path, to, repl)                                                                    \
	{                                                                                          \
		.kind = FS_SYMLINK, .target = (path), .source = (to), .optional = true,            \
		.replace = (repl)                                                                  \
	}

/* The guest's filesystem layout, in order: review this table to see what PID 1 mounts.
 * proc, sys, dev and run are required; the rest is logged and skipped when the kernel lacks it. */
static const struct fs_op fs_layout[] = {
	MKDIR("/proc", 0555, false),
	MOUNT("/proc", "proc", "proc", NOSUID_NODEV_NOEXEC, NULL, false),
	MKDIR("/sys", 0555, false),
	MOUNT("/sys", "sysfs", "sysfs", NOSUID_NODEV_NOEXEC, NULL, false),
	MKDIR("/dev", 0755, false),
	MOUNT("/dev", "devtmpfs", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755", false),
	MKDIR("/dev/pts", 0755, true),
	MOUNT("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
	      "newinstance,ptmxmode=0666,mode=0620,gid=5", true),
	SYMLINK("/dev/ptmx", "pts/ptmx", true),
	MKDIR("/dev/shm", 01777, true),
	MOUNT("/dev/shm", "shm", "tmpfs", NOSUID_NODEV, "mode=1777", true),
	SYMLINK("/dev/fd", "/proc/self/fd", false),
	SYMLINK("/dev/stdin", "/proc/self/fd/0", false),
	SYMLINK("/dev/stdout", "/proc/self/fd/1", false),
	SYMLINK("/dev/stderr", "/proc/self/fd/2", false),
	MKDIR("/run", 0755, false),
	MOUNT("/run", "tmpfs", "tmpfs", NOSUID_NODEV, "mode=0755", false),
	MOUNT("/sys/fs/cgroup", "cgroup2", "cgroup2", NOSUID_NODEV_NOEXEC, "nsdelegate", true),
	MOUNT("/sys/kernel/config", "configfs", "configfs", NOSUID_NODEV_NOEXEC, NULL, true),
	MOUNT("/sys/kernel/security", "securityfs", "securityfs", NOSUID_NODEV_NOEXEC, NULL, true),
	MKDIR("/run/sealpod", 0755, false),
	MKDIR("/run/kata-containers", 0755, false),
};

static int run_op(const struct fs_op *op, struct sp_err *err)
{
	switch (op->kind) {
	case FS_MKDIR:
		if (mkdir(op->target, op->mode) < 0 && errno != EEXIST)
			return sp_error(err, errno, "mkdir %s", op->target);
		/* mkdir honours the umask; the table's mode is what we mean. */
		if (chmod(op->target, op->mode) < 0)
			return sp_error(err, errno, "chmod %s", op->target);
		return 0;
	case FS_MOUNT:
		if (mount(op->source, op->target, op->fstype, op->flags, op->data) < 0)
			return sp_error(err, errno, "mount %s on %s", op->fstype, op->target);
		return 0;
	case FS_SYMLINK:
		if (op->replace && unlink(op->target) < 0 && errno != ENOENT)
			return sp_error(err, errno, "unlink %s", op->target);
		if (symlink(op->source, op->target) < 0 && errno != EEXIST)
			return sp_error(err, errno, "symlink %s", op->target);
		return 0;
	}
	return sp_error(err, EINVAL, "fs op %d", (int)op->kind);
}

int sp_mount_all(struct sp_err *err)
{
	unsigned done = 0, skipped = 0;

	umask(022);
	for (size_t i = 0; i < sizeof(fs_layout) / sizeof(fs_layout[0]); i++) {
		const struct fs_op *op = &fs_layout[i];
		struct sp_err e;

		if (run_op(op, &e) == 0) {
			done++;
			continue;
		}
		if (!op->optional) {
			*err = e;
			return -1;
		}
		skipped++;
		sp_warn("mounts", "%s unavailable: %s", op->target, e.msg);
	}
	sp_info("mounts", "%u ops done, %u optional skipped", done, skipped);
	return 0;
}

void sp_open_log_sinks(void)
{
	int console, kmsg;

	/* Without /dev/console in the initramfs the kernel starts us with fds 0-2 closed; give
	 * them the console so that children (and stray writes) have somewhere to go. */
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int c = open("/dev/console", O_RDWR | O_NOCTTY);

			if (c >= 0 && c != fd) {
				dup2(c, fd);
				close(c);
			}
		}
	}
	console = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	kmsg = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	/* Without /dev/console, fd 2 is the best we have. */
	sp_log_set_sinks(console >= 0 ? console : 2, kmsg);
}

/* --- leaving the initramfs --------------------------------------------------------------------
 * The kernel unpacks the initramfs into rootfs, the one mount that has no parent, and
 * pivot_root(2) refuses to move a root that has no parent: a container could then only be
 * chrooted, and a chroot escape (CAP_SYS_CHROOT is in the default set) would land in the guest's
 * files. So PID 1 first does what switch_root does on a distribution: copy the initramfs into
 * a tmpfs, empty rootfs, move the tmpfs over / and exec /init again from it. Afterwards rootfs
 * lies empty beneath everything, containers pivot_root and detach the guest's tree, and what a
 * chroot escape can reach is an empty directory. */

#define NEWROOT	     "/.sealpod-root"
#define NEWROOT_NAME ".sealpod-root"
#define SWITCHED_FD  3 /* held across the exec; the kernel starts init with fds 0-2 only */
#define COPY_DEPTH   32

struct copy_stats {
	dev_t dev; /* rootfs's */
	unsigned long entries;
	unsigned long long bytes;
};

static int copy_file(int from, int to, const char *name, const struct stat *st,
		     struct copy_stats *cs, struct sp_err *err)
{
	int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int out = -1;
	off_t left = st->st_size;
	int ret = -1;

	if (in < 0) {
		sp_error(err, errno, "open %s", name);
		goto done;
	}
	out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     st->st_mode & 07777);
	if (out < 0) {
		sp_error(err, errno, "create %s", name);
		goto done;
	}
	while (left > 0) {
		ssize_t n = sendfile(out, in, NULL, (size_t)left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sp_error(err, n < 0 ? errno : EIO, "copy %s", name);
			goto done;
		}
		left -= n;
	}
	if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0 ||
	    futimens(out, (const struct timespec[2]){ st->st_atim, st->st_mtim }) < 0) {
		sp_error(err, errno, "set the attributes of %s", name);
		goto done;
	}
	cs->bytes += (unsigned long long)st->st_size;
	ret = 0;
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

static int copy_tree(int from, int to, int depth, struct copy_stats *cs, struct sp_err *err);

/* A directory: made, filled, then given the original's owner and times (after its entries,
 * whose creation would change them). */
static int copy_dir(int from, int to, const char *n, const struct stat *st, int depth,
		    struct copy_stats *cs, struct sp_err *err)
{
	int a, b, ret;

	if (mkdirat(to, n, st->st_mode & 07777) < 0)
		return sp_error(err, errno, "mkdir %s", n);
	a = openat(from, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	b = openat(to, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (a < 0 || b < 0)
		ret = sp_error(err, errno, "open directory %s", n);
	else
		ret = copy_tree(a, b, depth + 1, cs, err);
	if (ret == 0 && (fchown(b, st->st_uid, st->st_gid) < 0 ||
			 futimens(b, (const struct timespec[2]){ st->st_atim, st->st_mtim }) < 0))
		ret = sp_error(err, errno, "set the attributes of %s", n);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	return ret;
}

/* A symlink, device node, fifo or socket, with the original's owner and times. */
static int copy_node(int from, int to, const char *n, const struct stat *st, struct sp_err *err)
{
	char link[4096];
	ssize_t len;

	if (S_ISLNK(st->st_mode)) {
		len = readlinkat(from, n, link, sizeof(link) - 1);
		if (len < 0)
			return sp_error(err, errno, "readlink %s", n);
		link[len] = '\0';
		if (symlinkat(link, to, n) < 0)
			return sp_error(err, errno, "symlink %s", n);
	} else if (mknodat(to, n, st->st_mode, st->st_rdev) < 0) {
		return sp_error(err, errno, "mknod %s", n);
	}
	if (fchownat(to, n, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(to, n, (const struct timespec[2]){ st->st_atim, st->st_mtim },
		      AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error(err, errno, "set the attributes of %s", n);
	return 0;
}

/* Copies the directory from (its entries, recursively) into to. At the top level the mount point
 * of the new root is skipped. */
static int copy_tree(int from, int to, int depth, struct copy_stats *cs, struct sp_err *err)
{
	int dfd = dup(from);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return sp_error(err, errno, "read a directory of the initramfs");
	}
	rewinddir(d); /* the dup shares its offset with from, which may have been read */
	if (depth > COPY_DEPTH) {
		closedir(d);
		return sp_error(err, ELOOP, "the initramfs nests deeper than %d", COPY_DEPTH);
	}
	while (ret == 0 && (errno = 0, de = readdir(d))) {
		const char *n = de->d_name;
		struct stat st;

		if (!strcmp(n, ".") || !strcmp(n, "..") || (depth == 0 && !strcmp(n, NEWROOT_NAME)))
			continue;
		if (fstatat(from, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = sp_error(err, errno, "stat %s", n);
			break;
		}
		if (st.st_dev != cs->dev)
			continue; /* something mounted already: not the initramfs's */
		cs->entries++;
		if (S_ISREG(st.st_mode))
			ret = copy_file(from, to, n, &st, cs, err);
		else if (S_ISDIR(st.st_mode))
			ret = copy_dir(from, to, n, &st, depth, cs, err);
		else /* symlinks, device nodes, fifos, sockets */
			ret = copy_node(from, to, n, &st, err);
	}
	if (ret == 0 && errno)
		ret = sp_error(err, errno, "read a directory of the initramfs");
	closedir(d);
	return ret;
}

/* Empties the directory dir of rootfs (recursively); the new root's mount point stays. */
static void empty_tree(int dir, dev_t dev, int depth)
{
	int dfd = dup(dir);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		int sub;

		if (!strcmp(n, ".") || !strcmp(n, "..") || (depth == 0 && !strcmp(n, NEWROOT_NAME)))
			continue;
		if (de->d_type == DT_DIR && depth < COPY_DEPTH) {
			struct stat st;

			sub = openat(dir, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0 && fstat(sub, &st) == 0 && st.st_dev == dev)
				empty_tree(sub, dev, depth + 1);
			if (sub >= 0)
				close(sub);
			(void)unlinkat(dir, n, AT_REMOVEDIR);
		} else {
			(void)unlinkat(dir, n, 0);
		}
	}
	closedir(d);
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int sp_switch_root(char **argv, char **envp, struct sp_err *err)
{
	struct copy_stats cs = { 0, 0, 0 };
	struct stat rst;
	int oldroot, newroot, marker;
	double t0 = mono_ms();

	if (fcntl(SWITCHED_FD, F_GETFD) >= 0) { /* the exec below brought us here */
		close(SWITCHED_FD);
		return 0;
	}
	umask(0);
	if (mkdir(NEWROOT, 0755) < 0)
		return sp_error(err, errno, "mkdir %s", NEWROOT);
	/* nodev: /dev is a devtmpfs mounted over it; nothing here needs a device node. */
	if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return sp_error(err, errno, "mount tmpfs on %s", NEWROOT);
	oldroot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	newroot = open(NEWROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0 || fstat(oldroot, &rst) < 0)
		return sp_error(err, errno, "open / and %s", NEWROOT);
	cs.dev = rst.st_dev;
	/* Copy first, empty rootfs only once the copy is whole: a failure leaves the initramfs
	 * as it was (and the caller powers off). */
	if (copy_tree(oldroot, newroot, 0, &cs, err) < 0) {
		(void)umount2(NEWROOT, MNT_DETACH);
		return -1;
	}
	empty_tree(oldroot, cs.dev, 0);
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		return sp_error(err, errno, "move the new root over /");
	(void)unlinkat(oldroot, NEWROOT_NAME, AT_REMOVEDIR); /* rootfs is empty now */
	close(oldroot);
	close(newroot);
	umask(022);
	sp_info("root", "initramfs moved to a tmpfs root: %lu entries, %llu KiB in %.1f ms",
		cs.entries, cs.bytes / 1024, mono_ms() - t0);
	marker = open("/", O_PATH | O_DIRECTORY); /* not CLOEXEC: it crosses the exec */
	if (marker < 0 || (marker != SWITCHED_FD && dup2(marker, SWITCHED_FD) < 0))
		return sp_error(err, errno, "keep a marker fd");
	if (marker != SWITCHED_FD)
		close(marker);
	execve("/init", argv, envp);
	/* Still on the new root, only running the old copy of the binary (which keeps the
	 * emptied initramfs's /init in memory): worth a line, not a reason to stop. */
	sp_warn("root", "exec /init from the new root: %s; going on", strerror(errno));
	close(SWITCHED_FD);
	return 0;
}
