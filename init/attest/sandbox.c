/* The attestation worker's confinement (attest.c forks the worker; DESIGN.md "Attestation").
 *
 * The worker parses the KBS's HTTP, JSON and JWE replies (untrusted network bytes) and holds the
 * TEE key and the token. Before it speaks to the network it enters this sandbox:
 *   - a private mount namespace whose root is an empty read-only tmpfs holding copies of
 *     /etc/resolv.conf and /etc/hosts (the resolver's two files) and, bind-mounted at their usual
 *     paths, exactly the evidence device the chosen provider uses: /dev/tpmrm0 (tpm), the
 *     configfs-tsm report directory (tdx, snp) and /dev/sev-guest (snp). So the evidence code
 *     opens the same paths as ever, and nothing else of the guest is reachable;
 *   - no capabilities at all (effective, permitted, inheritable, ambient, and the bounding set),
 *     no_new_privs, not dumpable. It stays uid 0 because configfs-tsm reports are made by mkdir
 *     in a root-owned 0755 directory; with no capabilities uid 0 only means owner rights on the
 *     few files mounted in its root;
 *   - a seccomp allow-list (below); everything else fails with EPERM rather than killing, as in
 *     the image parser's sandbox: the attestation fails closed either way (the worker reports a
 *     stage error, or PID 1 sees it die), and a path the tests cannot reach here (TDX and SNP
 *     hardware, a KBS named by DNS) turns an unforeseen call into an errno in the console line
 *     instead of "the worker died". (With SCMP_ACT_KILL_PROCESS as the default every
 *     tests/integration/test_attest.py case passed: nothing on those paths is denied.)
 * The split: PID 1 keeps the TPM for PCR8 at boot and everything else; the worker keeps only its
 * socket to PID 1, the console/kmsg fds it logs to, and the evidence paths above. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "lib/fileio.h"

#define TSM_DIR	 "/sys/kernel/config/tsm/report"
#define TPM_PATH "/dev/tpmrm0"
#define SEV_PATH "/dev/sev-guest"
/* SNP_GET_REPORT and SNP_GET_EXT_REPORT: _IOWR('S', 0 and 2, struct snp_guest_request_ioctl)
 * (32 bytes), as in evidence.c. */
#define SNP_IOCTL     0xc0205300UL
#define SNP_EXT_IOCTL 0xc0205302UL

static int copy_small(const char *src, const char *dst)
{
	char buf[8192];
	size_t len = 0;
	bool trunc;
	int fd;

	if (sp_read_file(src, buf, sizeof(buf), &len, &trunc, NULL) < 0)
		return 0; /* absent: the resolver does without */
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return -1;
	if (sp_write_all(fd, buf, len) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* mkdir -p of path (absolute) beneath root. */
static int mkdirs(const char *root, const char *path)
{
	char p[256];

	if ((size_t)snprintf(p, sizeof(p), "%s%s", root, path) >= sizeof(p))
		return -1;
	for (char *s = p + strlen(root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Bind-mounts path (a directory or a device node) at the same path beneath root. */
static int bind_in(const char *root, const char *path, struct sp_err *err)
{
	char dst[256];
	struct stat st;

	if (stat(path, &st) < 0)
		return sp_error(err, errno, "%s", path);
	(void)snprintf(dst, sizeof(dst), "%s%s", root, path);
	if (S_ISDIR(st.st_mode)) {
		if (mkdirs(root, path) < 0)
			return sp_error(err, errno, "mkdir %s", dst);
	} else {
		char dir[256];
		int fd;
		(void)snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = '\0';
		if (mkdirs(root, dir) < 0)
			return sp_error(err, errno, "mkdir for %s", dst);
		fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return sp_error(err, errno, "create %s", dst);
		close(fd);
	}
	if (mount(path, dst, NULL, MS_BIND, NULL) < 0)
		return sp_error(err, errno, "bind %s", path);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return sp_error(err, errno, "remount %s", path);
	return 0;
}

static int drop_caps(struct sp_err *err)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return sp_error(err, errno, "clear ambient capabilities");
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return sp_error(err, errno, "drop capability %d from the bounding set", c);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return sp_error(err, errno, "capset");
	return 0;
}

/* The allow-list. Every entry is something the worker's code (ours, musl, OpenSSL, libcurl with
 * its threaded resolver, json-c) does between the sandbox and _exit. */
static int load_seccomp(enum sp_evidence_kind ev, struct sp_err *err)
{
	static const int allow[] = {
		/* its socket to PID 1, log fds, HTTP sockets, evidence files */
		SCMP_SYS(read),
		SCMP_SYS(write),
		SCMP_SYS(readv),
		SCMP_SYS(writev),
		SCMP_SYS(close),
		SCMP_SYS(fcntl),
		SCMP_SYS(lseek),
		SCMP_SYS(fstat),
		SCMP_SYS(newfstatat),
		SCMP_SYS(statx), /* stat, lstat */
		/* memory (mmap/mprotect further below: never executable) */
		SCMP_SYS(munmap),
		SCMP_SYS(mremap),
		SCMP_SYS(brk),
		SCMP_SYS(madvise),
		/* signals (curl's NOSIGNAL still sets SIGPIPE handling) and threads */
		SCMP_SYS(rt_sigaction),
		SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(rt_sigreturn),
		SCMP_SYS(futex),
		SCMP_SYS(set_robust_list),
		SCMP_SYS(set_tid_address),
		SCMP_SYS(sched_yield),
		SCMP_SYS(exit),
		SCMP_SYS(exit_group),
		SCMP_SYS(getpid),
		SCMP_SYS(gettid),
		SCMP_SYS(getuid),
		SCMP_SYS(geteuid),
		SCMP_SYS(getgid),
		SCMP_SYS(getegid),
		/* libcurl's event wait and wake-up pipe */
		SCMP_SYS(poll),
		SCMP_SYS(ppoll),
		SCMP_SYS(pipe2),
		SCMP_SYS(eventfd2),
		/* time, randomness (TEE key, TLS, JWE) */
		SCMP_SYS(clock_gettime),
		SCMP_SYS(gettimeofday),
		SCMP_SYS(clock_nanosleep),
		SCMP_SYS(nanosleep),
		SCMP_SYS(getrandom),
		/* TCP to the KBS and the resolver's UDP (socket() itself further below) */
		SCMP_SYS(connect),
		SCMP_SYS(bind),
		SCMP_SYS(getsockopt),
		SCMP_SYS(setsockopt),
		SCMP_SYS(getsockname),
		SCMP_SYS(getpeername),
		SCMP_SYS(sendto),
		SCMP_SYS(recvfrom),
		SCMP_SYS(sendmsg),
		SCMP_SYS(recvmsg),
		SCMP_SYS(shutdown),
	};
	const uint64_t wflags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	bool dev_rw = ev == SP_EV_TPM || ev == SP_EV_TDX || ev == SP_EV_SNP;
	bool tsm = ev == SP_EV_TDX || ev == SP_EV_SNP;
	int r = 0;

#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (r == 0)                                                                        \
			r = seccomp_rule_add(ctx, __VA_ARGS__);                                    \
	} while (0)
	if (!ctx)
		return sp_error(err, 0, "seccomp_init failed");
	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++)
		ADD(SCMP_ACT_ALLOW, allow[i], 0);
	/* No executable memory: nothing in the worker generates code. */
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Sockets: IPv4 and IPv6 only (no unix, vsock, netlink, packet); a socketpair of unix
	 * sockets is only ever connected to itself (libcurl's wake-up pair). */
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_INET, 0));
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0));
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
	/* Threads only (the resolver): a clone without CLONE_THREAD would be a new process. */
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	ADD(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); /* libcs fall back to clone */
	/* Signals to its own threads only (abort, pthread_kill): never to another process. */
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, (uint64_t)getpid(), 0));
	/* ioctl: non-blocking and pending-bytes on sockets, isatty, and the SNP report. */
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, FIONBIO, 0));
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, FIONREAD, 0));
	ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TIOCGWINSZ, 0));
	if (ev == SP_EV_SNP) {
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, SNP_IOCTL, 0));
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, SNP_EXT_IOCTL, 0));
	}
	/* Opens: the root holds only the resolver's files and the evidence mounts. Read-only,
	 * except where the evidence needs a read-write device or writes configfs-tsm's inblob. */
	if (dev_rw) {
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(open), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, O_CREAT, 0));
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, 0));
	} else {
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(open), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, wflags, 0));
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, wflags, 0));
	}
	/* configfs-tsm: a report is a directory made and removed for each quote. */
	if (tsm) {
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(mkdir), 0);
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(mkdirat), 0);
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(rmdir), 0);
		ADD(SCMP_ACT_ALLOW, SCMP_SYS(unlinkat), 1, SCMP_A2(SCMP_CMP_EQ, AT_REMOVEDIR, 0));
	}
#undef ADD
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return sp_error(err, -r, "load the worker's seccomp filter");
	return 0;
}

int sp_attest_sandbox(enum sp_evidence_kind ev, const char *root, struct sp_err *err)
{
	char p[256];

	(void)prctl(PR_SET_NAME, "sp-attest", 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0)
		return sp_error(err, errno, "unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sp_error(err, errno, "make mounts private");
	if (mount("none", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=64k,nr_inodes=32,mode=0755") < 0)
		return sp_error(err, errno, "mount the sandbox tmpfs on %s", root);
	if (mkdirs(root, "/etc") < 0)
		return sp_error(err, errno, "mkdir in the sandbox");
	(void)snprintf(p, sizeof(p), "%s/etc/resolv.conf", root);
	if (copy_small("/etc/resolv.conf", p) < 0)
		return sp_error(err, errno, "copy resolv.conf");
	(void)snprintf(p, sizeof(p), "%s/etc/hosts", root);
	if (copy_small("/etc/hosts", p) < 0)
		return sp_error(err, errno, "copy hosts");
	if (ev == SP_EV_TPM && bind_in(root, TPM_PATH, err) < 0)
		return -1;
	if ((ev == SP_EV_TDX || ev == SP_EV_SNP) && sp_path_exists(TSM_DIR) &&
	    bind_in(root, TSM_DIR, err) < 0)
		return -1;
	if (ev == SP_EV_SNP && sp_path_exists(SEV_PATH) && bind_in(root, SEV_PATH, err) < 0)
		return -1;
	if (mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return sp_error(err, errno, "make the sandbox read-only");
	if (chdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return sp_error(err, errno, "chroot into the sandbox");
	if (drop_caps(err) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_error(err, errno, "prctl");
	return load_seccomp(ev, err);
}
