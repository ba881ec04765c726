/* The container's filesystem, built in the child's own mount namespace before pivot_root. Every
 * path inside the image is resolved from the rootfs fd with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), missing directories are created one component
 * at a time with mkdirat, and mounts target the resolved fd through PID 1's /proc/self/fd (a
 * /proc the image cannot have touched). A symlink planted in the image therefore fails the setup
 * instead of redirecting a mount onto the guest. */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/validate.h"

#define RESOLVE_SAFE (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

static int openat2_safe(int dirfd, const char *path, int flags, uint64_t resolve)
{
	return sp_openat2(dirfd, path, flags, 0, resolve);
}

static const char *fdpath(int fd, char buf[32])
{
	(void)snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* Resolves rel (relative to rootfd, "a/b/c") creating missing directories, and the last
 * component as a directory or (file) an empty regular file. Returns an O_PATH fd. */
static int open_create(int rootfd, const char *rel, bool file, struct sp_err *err)
{
	cleanup_close int cur = openat2_safe(rootfd, ".", O_PATH | O_DIRECTORY, RESOLVE_SAFE);
	char comp[256];

	if (cur < 0)
		return sp_error(err, errno, "open the rootfs");
	for (const char *c = rel; *c;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		bool last = !e || !e[1];
		int next;

		if (n == 0 || n >= sizeof(comp))
			return sp_error(err, EINVAL, "path /%s", rel);
		memcpy(comp, c, n);
		comp[n] = '\0';
		next = openat2_safe(cur, comp, O_PATH, RESOLVE_SAFE);
		if (next < 0 && errno == ENOENT) {
			if (last && file) {
				int f = openat(cur, comp,
					       O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					       0644);

				if (f < 0 && errno != EEXIST)
					return sp_error(err, errno, "create /%s", rel);
				if (f >= 0)
					close(f);
			} else if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
				return sp_error(err, errno, "mkdir %s in /%s", comp, rel);
			}
			next = openat2_safe(cur, comp, O_PATH, RESOLVE_SAFE);
		}
		if (next < 0)
			return sp_error(err, errno, "resolve /%s (at %s)", rel, comp);
		close(cur);
		cur = next;
		c = e ? e + 1 : c + n;
	}
	return steal_fd(&cur);
}

static int mount_on(const char *src, int fd, const char *type, unsigned long flags,
		    const char *data, const char *what, struct sp_err *err)
{
	char p[32];

	if (mount(src, fdpath(fd, p), type, flags, data) < 0)
		return sp_error(err, errno, "mount %s on %s", type ? type : src, what);
	return 0;
}

/* Re-reads what is mounted at rel now (an fd opened before a mount still names the covered
 * directory), and remounts it with flags. */
static int remount_at(int rootfd, const char *rel, unsigned long flags, struct sp_err *err)
{
	cleanup_close int fd = openat2_safe(rootfd, rel, O_PATH, RESOLVE_SAFE);
	char p[32];

	if (fd < 0)
		return sp_error(err, errno, "reopen /%s", rel);
	if (mount(NULL, fdpath(fd, p), NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return sp_error(err, errno, "remount /%s", rel);
	return 0;
}

static const struct {
	const char *name, *target;
} dev_links[] = {
	{ "ptmx", "pts/ptmx" },		 { "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" },	 { "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" }, { "core", "/proc/kcore" },
};

/* A fresh tmpfs on /dev with the minimal nodes: nothing of the image's /dev is used, and what we
 * create in a new tmpfs cannot be a planted symlink. */
static int setup_dev(int rootfd, struct sp_err *err)
{
	cleanup_close int at = open_create(rootfd, "dev", false, err);
	cleanup_close int dev = -1;

	if (at < 0)
		return -1;
	if (mount_on("tmpfs", at, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k", "/dev",
		     err) < 0)
		return -1;
	dev = openat2_safe(rootfd, "dev", O_RDONLY | O_DIRECTORY, RESOLVE_SAFE);
	if (dev < 0)
		return sp_error(err, errno, "reopen /dev");
	/* The device cgroup (devcg.c) allows these and nothing else. */
	for (size_t i = 0; i < sp_rt_ndevs; i++)
		if (sp_rt_devs[i].node &&
		    mknodat(dev, sp_rt_devs[i].name, S_IFCHR | 0666,
			    makedev(sp_rt_devs[i].major, (unsigned)sp_rt_devs[i].minor)) < 0)
			return sp_error(err, errno, "mknod /dev/%s", sp_rt_devs[i].name);
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if (symlinkat(dev_links[i].target, dev, dev_links[i].name) < 0)
			return sp_error(err, errno, "symlink /dev/%s", dev_links[i].name);
	if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0 ||
	    mkdirat(dev, "mqueue", 0755) < 0)
		return sp_error(err, errno, "mkdir in /dev");
	return 0;
}

static bool has_mount(const struct sp_rt_plan *plan, const char *dest)
{
	for (size_t i = 0; i < plan->nmounts; i++)
		if (strcmp(plan->mounts[i].dest, dest) == 0)
			return true;
	return false;
}

static int do_mount(int rootfd, const struct sp_rt_mount *m, struct sp_err *err)
{
	static const char *const types[] = {
		[MK_PROC] = "proc",	[MK_SYSFS] = "sysfs",	[MK_TMPFS] = "tmpfs",
		[MK_DEVPTS] = "devpts", [MK_MQUEUE] = "mqueue", [MK_BIND] = NULL,
		[MK_CGROUP] = "cgroup2"
	};
	const char *rel = m->dest + 1;
	cleanup_close int src = -1;
	cleanup_close int dst = -1;
	if (m->kind != MK_BIND) {
		dst = open_create(rootfd, rel, false, err);
		if (dst < 0)
			return -1;
		if (mount_on(types[m->kind], dst, types[m->kind], m->flags,
			     m->data[0] ? m->data : NULL, m->dest, err) < 0)
			return -1;
		return 0;
	}
	/* The source is the guest's, beneath the shared paths; no symlink on the way to it. */
	src = openat2_safe(AT_FDCWD, m->source, O_PATH,
			   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (src < 0)
		return sp_error(err, errno, "bind source %s", m->source);
	{
		struct stat st;

		if (fstat(src, &st) < 0)
			return sp_error(err, errno, "stat %s", m->source);
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			return sp_error(err, EINVAL,
					"bind source %s is neither a file nor a "
					"directory",
					m->source);
		dst = open_create(rootfd, rel, !S_ISDIR(st.st_mode), err);
	}
	if (dst < 0)
		return -1;
	{
		char sp[32], dp[32];

		if (mount(fdpath(src, sp), fdpath(dst, dp), NULL, MS_BIND, NULL) < 0)
			return sp_error(err, errno, "bind %s on %s", m->source, m->dest);
	}
	return remount_at(rootfd, rel, m->flags, err);
}

static int mask_path(int rootfd, const char *path, struct sp_err *err)
{
	cleanup_close int fd = openat2_safe(rootfd, path + 1, O_PATH, RESOLVE_SAFE);
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return sp_error(err, errno, "masked path %s", path);
	}
	if (fstat(fd, &st) < 0)
		return sp_error(err, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode))
		return mount_on("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				"size=0", path, err);
	return mount_on("/dev/null", fd, NULL, MS_BIND, NULL, path, err);
}

static int readonly_path(int rootfd, const char *path, struct sp_err *err)
{
	cleanup_close int fd = openat2_safe(rootfd, path + 1, O_PATH, RESOLVE_SAFE);
	char p[32];

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return sp_error(err, errno, "read-only path %s", path);
	}
	if (mount(fdpath(fd, p), p, NULL, MS_BIND | MS_REC, NULL) < 0)
		return sp_error(err, errno, "bind %s on itself", path);
	return remount_at(rootfd, path + 1, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
}

/* Masked and read-only whatever the spec says, beneath every proc and sysfs mount the spec makes
 * (wherever it puts them); the spec's own lists come on top and can only add. The floor is what
 * containerd and the kubelet send by default (/proc/interrupts since Kubernetes 1.34), plus
 * /sys/kernel/vmcoreinfo, the physical address of the kernel's crash notes, which would help
 * a container defeat the guest kernel's address randomisation. In a confidential guest
 * /sys/firmware matters more than usual: the ACPI tables (the CCEL measurement log among them)
 * and the EFI variables. A container that the policy grants CAP_SYS_ADMIN can mount a proc of
 * its own, which no mask covers: that consent is the policy's to give. */
static const struct {
	const char *rel;
	enum sp_rt_mount_kind fs;
	bool masked;
} floor_paths[] = {
	{ "acpi", MK_PROC, true },
	{ "asound", MK_PROC, true },
	{ "interrupts", MK_PROC, true },
	{ "kcore", MK_PROC, true },
	{ "keys", MK_PROC, true },
	{ "latency_stats", MK_PROC, true },
	{ "timer_list", MK_PROC, true },
	{ "timer_stats", MK_PROC, true },
	{ "sched_debug", MK_PROC, true },
	{ "scsi", MK_PROC, true },
	{ "firmware", MK_SYSFS, true },
	{ "devices/virtual/powercap", MK_SYSFS, true },
	{ "kernel/vmcoreinfo", MK_SYSFS, true },
	{ "bus", MK_PROC, false },
	{ "fs", MK_PROC, false },
	{ "irq", MK_PROC, false },
	{ "sys", MK_PROC, false },
	{ "sysrq-trigger", MK_PROC, false },
};

int sp_rt_floor_path(const struct sp_rt_plan *plan, size_t i, char *buf, size_t size, bool *masked)
{
	const size_t nfloor = sizeof(floor_paths) / sizeof(floor_paths[0]);

	for (size_t m = 0; m < plan->nmounts; m++) {
		const struct sp_rt_mount *mt = &plan->mounts[m];
		int n;

		if (mt->kind != MK_PROC && mt->kind != MK_SYSFS)
			continue;
		for (size_t k = 0; k < nfloor; k++) {
			if (floor_paths[k].fs != mt->kind)
				continue;
			if (i > 0) {
				i--;
				continue;
			}
			n = snprintf(buf, size, "%s/%s", mt->dest, floor_paths[k].rel);
			if (n < 0 || (size_t)n >= size)
				return -1;
			*masked = floor_paths[k].masked;
			return 1;
		}
	}
	return 0;
}

static int mask_floor(int rootfd, const struct sp_rt_plan *plan, struct sp_err *err)
{
	char path[SP_PATH_MAX + 32];
	bool masked;
	int r;

	for (size_t i = 0; (r = sp_rt_floor_path(plan, i, path, sizeof(path), &masked)) > 0; i++)
		if ((masked ? mask_path(rootfd, path, err) : readonly_path(rootfd, path, err)) < 0)
			return -1;
	return r < 0 ? sp_error(err, ENAMETOOLONG, "mandatory masked paths beneath a mount") : 0;
}

/* pivot_root into the container's root and detach the old one with everything mounted on it
 * (the guest's /proc, /sys, /run, ...), as runc does. PID 1 left the initramfs at boot
 * (boot/mounts.c), so the old root is an ordinary mount; what lies beneath it is the emptied
 * rootfs, which is all that a chroot escape can reach. There is no chroot fallback: when
 * pivot_root fails, the container is not created. */
static int enter_root(const char *root, struct sp_err *err)
{
	if (chdir(root) < 0)
		return sp_error(err, errno, "chdir %s", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sp_error(err, errno, "pivot_root %s", root);
	if (umount2(".", MNT_DETACH) < 0)
		return sp_error(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return sp_error(err, errno, "chdir /");
	return 0;
}

/* Binds the container's root on plan->root, both resolved without a symlink. Not recursive: a
 * mount that something else placed beneath the rootfs never comes along. Outside the pause, the
 * directory bound must be the one PID 1 verified on the prepared mount (create.c). */
static int bind_root(const struct sp_rt_plan *plan, struct sp_err *err)
{
	const uint64_t how = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	cleanup_close int dst = openat2_safe(AT_FDCWD, plan->root, O_PATH | O_DIRECTORY, how);
	cleanup_close int src = -1;
	char sp[32], dp[32];
	struct stat st;

	if (dst < 0)
		return sp_error(err, errno, "open the rootfs %s", plan->root);
	if (plan->pause) {
		src = openat2_safe(AT_FDCWD, SP_RT_PAUSE_DIR, O_PATH | O_DIRECTORY, how);
		if (src < 0)
			return sp_error(err, errno, "open %s", SP_RT_PAUSE_DIR);
	} else if (!plan->root_verified || fstat(dst, &st) < 0 || st.st_dev != plan->root_dev ||
		   st.st_ino != plan->root_ino) {
		return sp_error(err, 0, "the rootfs at %s is not the one prepared", plan->root);
	}
	if (mount(fdpath(src >= 0 ? src : dst, sp), fdpath(dst, dp), NULL, MS_BIND, NULL) < 0)
		return sp_error(err, errno, "bind the rootfs on %s", plan->root);
	return 0;
}

int sp_rootfs_setup(const struct sp_rt_plan *plan, struct sp_err *err)
{
	cleanup_close int rootfd = -1;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sp_error(err, errno, "make / private");
	if (bind_root(plan, err) < 0)
		return -1;
	if (mount(NULL, plan->root, NULL,
		  MS_REMOUNT | MS_BIND | MS_NODEV | (plan->pause ? MS_RDONLY | MS_NOSUID : 0),
		  NULL) < 0)
		return sp_error(err, errno, "remount the rootfs nodev");
	rootfd = open(plan->root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (rootfd < 0)
		return sp_error(err, errno, "open the rootfs");
	if (!plan->pause) {
		if (setup_dev(rootfd, err) < 0)
			return -1;
		for (size_t i = 0; i < plan->nmounts; i++) {
			if (strcmp(plan->mounts[i].dest, "/dev") == 0)
				continue; /* ours, above */
			if (do_mount(rootfd, &plan->mounts[i], err) < 0)
				return -1;
		}
		if (!has_mount(plan, "/dev/pts")) {
			struct sp_rt_mount m = { .kind = MK_DEVPTS,
						 .dest = "/dev/pts",
						 .flags = MS_NOSUID | MS_NOEXEC,
						 .data = "newinstance,ptmxmode=0666,mode=0620" };

			if (do_mount(rootfd, &m, err) < 0)
				return -1;
		}
		if (!has_mount(plan, "/dev/shm")) {
			struct sp_rt_mount m = { .kind = MK_TMPFS,
						 .dest = "/dev/shm",
						 .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC,
						 .data = "mode=1777,size=65536k" };

			if (do_mount(rootfd, &m, err) < 0)
				return -1;
		}
		if (mask_floor(rootfd, plan, err) < 0)
			return -1;
		for (size_t i = 0; i < plan->nmasked; i++)
			if (mask_path(rootfd, plan->masked[i], err) < 0)
				return -1;
		for (size_t i = 0; i < plan->nreadonly; i++)
			if (readonly_path(rootfd, plan->readonly[i], err) < 0)
				return -1;
		/* /dev holds only our nodes; nothing may add one (CAP_MKNOD is in the default
		 * set, and a node on a nodev mount is useless, but /dev itself is not nodev). */
		if (remount_at(rootfd, "dev", MS_RDONLY | MS_NOSUID | MS_NOEXEC, err) < 0)
			return -1;
	}
	if (enter_root(plan->root, err) < 0)
		return -1;
	if (plan->root_readonly && !plan->pause &&
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV, NULL) < 0)
		return sp_error(err, errno, "remount / read-only");
	return 0;
}
