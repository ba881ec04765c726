/* The parser child's confinement (image_int.h, DESIGN.md "Image pull", privilege separation):
 * a private mount namespace whose root is an empty read-only tmpfs (holding only a copy of
 * resolv.conf and hosts when the child talks to the network), no network namespace of the guest
 * when it does not, uid/gid nobody with no capabilities, no_new_privs, and a seccomp allow-list
 * (everything else fails with EPERM): no file can be opened for writing, no socket but TCP/UDP
 * over IPv4/IPv6 (none at all without network), no mount, no ptrace, no new process. */
#define _GNU_SOURCE
#include "image/image_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/fileio.h"

#define SANDBOX_DIR "/tmp"
#define NOBODY	    65534

static void copy_small(const char *src, const char *dst)
{
	char buf[8192];
	size_t len = 0;
	bool trunc;

	if (sp_read_file(src, buf, sizeof(buf), &len, &trunc, NULL) < 0)
		return;
	(void)sp_write_file(dst, buf, len, NULL); /* needs O_CREAT: done below with open() */
}

static int write_new(const char *dst, const char *src)
{
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);

	if (fd < 0)
		return -1;
	close(fd);
	copy_small(src, dst);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Closes every fd but 2 and those in keep. */
static void close_others(const int *keep, size_t nkeep)
{
	int k[16], n = 0, lo = 0;

	for (size_t i = 0; i < nkeep && n < 15; i++)
		if (keep[i] >= 0)
			k[n++] = keep[i];
	k[n++] = 2;
	qsort(k, (size_t)n, sizeof(int), cmp_int);
	for (int i = 0; i < n; i++) {
		if (k[i] > lo)
			(void)syscall(SYS_close_range, (unsigned)lo, (unsigned)(k[i] - 1), 0u);
		lo = k[i] + 1;
	}
	(void)syscall(SYS_close_range, (unsigned)lo, ~0u, 0u);
}

static int load_seccomp(bool network, struct sp_err *err)
{
	static const int allow[] = {
		SCMP_SYS(read),
		SCMP_SYS(write),
		SCMP_SYS(readv),
		SCMP_SYS(writev),
		SCMP_SYS(pread64),
		SCMP_SYS(close),
		SCMP_SYS(fstat),
		SCMP_SYS(newfstatat),
		SCMP_SYS(statx),
		SCMP_SYS(lseek),
		SCMP_SYS(mmap),
		SCMP_SYS(munmap),
		SCMP_SYS(mremap),
		SCMP_SYS(mprotect),
		SCMP_SYS(brk),
		SCMP_SYS(madvise),
		SCMP_SYS(rt_sigaction),
		SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(rt_sigreturn),
		SCMP_SYS(sigaltstack),
		SCMP_SYS(poll),
		SCMP_SYS(ppoll),
		SCMP_SYS(select),
		SCMP_SYS(pselect6),
		SCMP_SYS(epoll_create1),
		SCMP_SYS(epoll_ctl),
		SCMP_SYS(epoll_wait),
		SCMP_SYS(epoll_pwait),
		SCMP_SYS(eventfd2),
		SCMP_SYS(pipe2),
		SCMP_SYS(socketpair),
		SCMP_SYS(fcntl),
		SCMP_SYS(ioctl),
		SCMP_SYS(clock_gettime),
		SCMP_SYS(clock_getres),
		SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep),
		SCMP_SYS(gettimeofday),
		SCMP_SYS(getrandom),
		SCMP_SYS(exit),
		SCMP_SYS(exit_group),
		SCMP_SYS(futex),
		SCMP_SYS(set_robust_list),
		SCMP_SYS(get_robust_list),
		SCMP_SYS(rseq),
		SCMP_SYS(getpid),
		SCMP_SYS(gettid),
		SCMP_SYS(getuid),
		SCMP_SYS(geteuid),
		SCMP_SYS(getgid),
		SCMP_SYS(getegid),
		SCMP_SYS(getppid),
		SCMP_SYS(uname),
		SCMP_SYS(sched_yield),
		SCMP_SYS(sched_getaffinity),
		SCMP_SYS(prlimit64),
		SCMP_SYS(set_tid_address),
		SCMP_SYS(membarrier),
		SCMP_SYS(restart_syscall),
		SCMP_SYS(dup),
		SCMP_SYS(dup3),
		SCMP_SYS(getcwd),
		SCMP_SYS(sysinfo),
		SCMP_SYS(tgkill),
		SCMP_SYS(shutdown),
	};
	static const int net[] = {
		SCMP_SYS(connect),     SCMP_SYS(getsockopt),  SCMP_SYS(setsockopt),
		SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(sendto),
		SCMP_SYS(recvfrom),    SCMP_SYS(sendmsg),     SCMP_SYS(recvmsg),
		SCMP_SYS(sendmmsg),    SCMP_SYS(recvmmsg),    SCMP_SYS(bind),
	};
	const uint64_t wflags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int r = 0;

	if (!ctx)
		return sp_error(err, 0, "seccomp_init failed");
	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0);
	/* Files: read-only opens only (the root is an empty read-only tmpfs anyway). */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, wflags, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, wflags, 0));
	/* Threads only (curl's resolver): a clone without CLONE_THREAD is a new process. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (r == 0) /* libcs fall back to clone when clone3 is missing */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (network) {
		for (size_t i = 0; i < sizeof(net) / sizeof(net[0]) && r == 0; i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, net[i], 0);
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_INET, 0));
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0));
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return sp_error(err, -r, "load the parser's seccomp filter");
	return 0;
}

int sp_image_sandbox(const int *keep, size_t nkeep, bool network, struct sp_err *err)
{
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (network ? 0 : CLONE_NEWNET);

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(flags) < 0)
		return sp_error(err, errno, "unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sp_error(err, errno, "make mounts private");
	if (mount("none", SANDBOX_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=64k,nr_inodes=16,mode=0755") < 0)
		return sp_error(err, errno, "mount the sandbox tmpfs");
	if (network) {
		/* The resolver's two files, nothing else of the guest's filesystem. */
		if (mkdir(SANDBOX_DIR "/etc", 0755) < 0)
			return sp_error(err, errno, "mkdir in the sandbox");
		(void)write_new(SANDBOX_DIR "/etc/resolv.conf", "/etc/resolv.conf");
		(void)write_new(SANDBOX_DIR "/etc/hosts", "/etc/hosts");
	}
	if (mount(NULL, SANDBOX_DIR, NULL,
		  MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return sp_error(err, errno, "make the sandbox read-only");
	if (chdir(SANDBOX_DIR) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return sp_error(err, errno, "chroot into the sandbox");
	close_others(keep, nkeep);
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		return sp_error(err, errno, "drop to nobody");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_error(err, errno, "prctl");
	return load_seccomp(network, err);
}
