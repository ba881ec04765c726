/* The workers' confinement tables entered for real (lib/confine.c): the attestation worker's
 * (init/attest/confine.c) in a forked child:
 * the child tries what a compromised worker would (read a file of the guest, write or create one,
 * open a unix, vsock or netlink socket, make a process, signal another one, map executable memory,
 * mount, chroot) and reports each errno; the parent reads the child's /proc status for the
 * capability sets, NoNewPrivs and Seccomp. Needs root and mount namespaces: SKIP (saying which)
 * when a probe child shows either is missing; once the probe passed, every failure is a FAIL.
 * Also the storage worker's narrowed capabilities (init/storage/worker.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/attest_int.h"
#include "lib/confine.h"
#include "storage/storage_int.h"
#include "unit.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

enum probe {
	P_SANDBOX,
	P_READ_GUEST_FILE, /* /etc/passwd: not in the root */
	P_READ_PROC,	   /* /proc/self/status: not in the root */
	P_WRITE_HOSTS,	   /* /etc/hosts for writing: seccomp */
	P_CREATE,	   /* O_CREAT: seccomp */
	P_READ_RESOLV,	   /* /etc/resolv.conf: allowed (copied) */
	P_UNIX,
	P_VSOCK,
	P_NETLINK,
	P_PACKET,
	P_INET,
	P_INET6,
	P_FORK,
	P_KILL_PARENT,
	P_EXEC_MAP,
	P_MOUNT,
	P_CHROOT,
	P_UNSHARE,
	P_NPROBES
};

/* 0 when the call succeeded, else its errno. */
static int res(long r)
{
	return r < 0 ? errno : 0;
}

static int sock(int family, int type)
{
	int fd = socket(family, type, 0);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void child(int out, int hold)
{
	int r[P_NPROBES];
	struct sp_err err;
	void *m;
	char c;

	memset(r, 0, sizeof(r));
	r[P_SANDBOX] = sp_confine_all(sp_attest_confine(SP_EV_SAMPLE), &err) < 0
			       ? (err.errnum ? err.errnum : -1)
			       : 0;
	if (r[P_SANDBOX] == 0) {
		int fd = open("/etc/passwd", O_RDONLY);
		r[P_READ_GUEST_FILE] = res(fd);
		fd = open("/proc/self/status", O_RDONLY);
		r[P_READ_PROC] = res(fd);
		fd = open("/etc/hosts", O_WRONLY);
		r[P_WRITE_HOSTS] = res(fd);
		fd = open("/new", O_WRONLY | O_CREAT, 0600);
		r[P_CREATE] = res(fd);
		fd = open("/etc/resolv.conf", O_RDONLY);
		r[P_READ_RESOLV] = res(fd);
		if (fd >= 0)
			close(fd);
		r[P_UNIX] = sock(AF_UNIX, SOCK_STREAM);
		r[P_VSOCK] = sock(AF_VSOCK, SOCK_STREAM);
		r[P_NETLINK] = sock(AF_NETLINK, SOCK_RAW);
		r[P_PACKET] = sock(AF_PACKET, SOCK_RAW);
		r[P_INET] = sock(AF_INET, SOCK_STREAM);
		r[P_INET6] = sock(AF_INET6, SOCK_DGRAM);
		r[P_FORK] = res(syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L));
		if (r[P_FORK] == 0 && syscall(SYS_getpid) != getpid())
			syscall(SYS_exit_group, 0);
		r[P_KILL_PARENT] = res(kill(getppid(), 0));
		m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		r[P_EXEC_MAP] = m == MAP_FAILED ? errno : 0;
		r[P_MOUNT] = res(mount("none", "/etc", "tmpfs", 0, NULL));
		r[P_CHROOT] = res(chroot("/etc"));
		r[P_UNSHARE] = res(unshare(CLONE_NEWNS));
	}
	if (write(out, r, sizeof(r)) != (ssize_t)sizeof(r))
		syscall(SYS_exit_group, 2);
	(void)!read(hold, &c, 1); /* the parent reads our /proc status meanwhile */
	/* Not _exit: the sanitizers' exit hook runs a leak check that cannot work in here. */
	syscall(SYS_exit_group, 0);
}

static int status_field(pid_t pid, const char *name, char *val, size_t size)
{
	char p[64], line[256];
	FILE *f;
	size_t nl = strlen(name);
	int found = -1;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			char *v = line + nl + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(val, size, "%s", v);
			found = 0;
			break;
		}
	fclose(f);
	return found;
}

/* Whether this process may make what the sandbox makes (mount and IPC namespaces), tried in a
 * child so that this process stays where it is: why not, or "" (also when the probe itself
 * broke, so that the test runs and fails rather than skips). */
static const char *namespaces_unavailable(void)
{
	static char why[128];
	int st;
	pid_t pid;

	if (geteuid() != 0)
		return "needs root (the sandbox unshares mount and IPC namespaces)";
	pid = fork();
	if (pid < 0)
		return "";
	if (pid == 0)
		syscall(SYS_exit_group, unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0 ? errno : 0);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) == 0)
		return "";
	snprintf(why, sizeof(why), "no mount or IPC namespaces here: unshare: %s",
		 strerror(WEXITSTATUS(st)));
	return why;
}

TEST(attest_confinement_confines_the_worker)
{
	int out[2], hold[2], r[P_NPROBES], st;
	char v[64];
	pid_t pid;

	const char *why = namespaces_unavailable();

	if (*why)
		SKIP("%s", why);
	REQUIRE(pipe(out) == 0 && pipe(hold) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(out[0]), close(hold[1]);
		child(out[1], hold[0]);
	}
	close(out[1]), close(hold[0]);
	memset(r, 0xff, sizeof(r));
	CHECK(read(out[0], r, sizeof(r)) == (ssize_t)sizeof(r));
	/* The probe showed namespaces work here: a sandbox that fails to set up is a failure,
	 * whatever its errno. */
	CHECK(r[P_SANDBOX] == 0);
	if (r[P_SANDBOX] == 0) {
		CHECK(r[P_READ_GUEST_FILE] == ENOENT);
		CHECK(r[P_READ_PROC] == ENOENT);
		CHECK(r[P_WRITE_HOSTS] == EPERM);
		CHECK(r[P_CREATE] == EPERM);
		CHECK(r[P_READ_RESOLV] == 0 || access("/etc/resolv.conf", R_OK) != 0);
		CHECK(r[P_UNIX] == EPERM);
		CHECK(r[P_VSOCK] == EPERM);
		CHECK(r[P_NETLINK] == EPERM);
		CHECK(r[P_PACKET] == EPERM);
		CHECK(r[P_INET] == 0);
		CHECK(r[P_INET6] == 0 || r[P_INET6] == EAFNOSUPPORT);
		CHECK(r[P_FORK] == EPERM);
		CHECK(r[P_KILL_PARENT] == EPERM);
		CHECK(r[P_EXEC_MAP] == EPERM);
		CHECK(r[P_MOUNT] == EPERM);
		CHECK(r[P_CHROOT] == EPERM);
		CHECK(r[P_UNSHARE] == EPERM);
		CHECK(status_field(pid, "CapEff", v, sizeof(v)) == 0 && strcmp(v, "000000000000000"
										  "0") == 0);
		CHECK(status_field(pid, "CapPrm", v, sizeof(v)) == 0 && strcmp(v, "000000000000000"
										  "0") == 0);
		CHECK(status_field(pid, "CapBnd", v, sizeof(v)) == 0 && strcmp(v, "000000000000000"
										  "0") == 0);
		CHECK(status_field(pid, "CapAmb", v, sizeof(v)) == 0 && strcmp(v, "000000000000000"
										  "0") == 0);
		CHECK(status_field(pid, "NoNewPrivs", v, sizeof(v)) == 0 && strcmp(v, "1") == 0);
		CHECK(status_field(pid, "Seccomp", v, sizeof(v)) == 0 && strcmp(v, "2") == 0);
	}
	close(hold[1]);
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "    child status 0x%x\n", st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(out[0]);
}

TEST(storage_worker_keeps_only_its_capabilities)
{
	int out[2], hold[2], st, r = -1;
	char v[64], want[32];
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root (the worker narrows the capabilities root has)");
	REQUIRE(pipe(out) == 0 && pipe(hold) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char c;
		close(out[0]), close(hold[1]);
		struct sp_err err;

		r = sp_confine_all(&sp_storage_confine, &err) < 0 ? errno : 0;
		if (r == 0) /* a capability outside the set is gone: no chroot, no kill(1) */
			r = chroot("/") == 0 ? -2 : errno == EPERM ? 0 : errno;
		if (write(out[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			syscall(SYS_exit_group, 2);
		(void)!read(hold[0], &c, 1);
		syscall(SYS_exit_group, 0);
	}
	close(out[1]), close(hold[0]);
	CHECK(read(out[0], &r, sizeof(r)) == (ssize_t)sizeof(r));
	CHECK(r == 0);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)sp_storage_worker_caps);
	CHECK(want[0] && status_field(pid, "CapBnd", v, sizeof(v)) == 0 && strcmp(v, want) == 0);
	CHECK(status_field(pid, "CapEff", v, sizeof(v)) == 0 && strcmp(v, want) == 0);
	CHECK(status_field(pid, "CapPrm", v, sizeof(v)) == 0 && strcmp(v, want) == 0);
	CHECK(status_field(pid, "CapInh", v, sizeof(v)) == 0 && strcmp(v, "0000000000000000") == 0);
	CHECK(status_field(pid, "NoNewPrivs", v, sizeof(v)) == 0 && strcmp(v, "1") == 0);
	close(hold[1]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(out[0]);
}
