#define _GNU_SOURCE
#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
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
