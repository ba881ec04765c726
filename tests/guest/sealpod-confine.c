/* sealpod-confine: probes run inside a container by the confinement tests
 * (tests/integration/test_confine.py), bound into it from the shared-files directory. Test
 * overlay only. Each prints `<probe>: key=value ...` lines; errors are errno names.
 *
 *   sealpod-confine race WANT_EXE   until SIGTERM, PTRACE_SEIZE every other process in our pid
 *                                   namespace, again and again until it works or the process is
 *                                   gone. A process we could seize is stopped at once and must
 *                                   already run WANT_EXE (/proc/PID/exe); anything else was a copy
 *                                   of PID 1 between clone and execve. Prints a `breach:` line per
 *                                   such copy and `race: pids=N eperm=N execd=N gone=N breach=N`
 *   sealpod-confine rawsock         `rawsock: inet=<errno> packet=<errno>`: socket(AF_INET,
 *                                   SOCK_RAW) and socket(AF_PACKET, SOCK_RAW)
 *   sealpod-confine peek NEEDLE     every other process's /proc/PID/environ and root/tmp/secret
 *                                   (read, NEEDLE searched) and mem (opened): a `peek:` line per
 *                                   process and `peek: others=N leaks=N`
 *   sealpod-confine nodes WHERE T:MAJ:MIN...
 *                                   WHERE is `tmpfs` (a new tmpfs on /t, dev allowed) or `dev`
 *                                   (/dev remounted read-write): tries BPF_PROG_DETACH of a device
 *                                   program on its own cgroup, then mknods each node (T is b or c)
 *                                   there and opens it: `nodes: detach=E` and
 *                                   `nodes: T:MAJ:MIN mknod=E open=E`
 *   sealpod-confine devs            opens the default /dev nodes and a pts slave, reads /dev/zero
 *                                   and writes /dev/full: `devs: null=E zero=E ...`
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#ifndef AF_PACKET
#define AF_PACKET 17
#endif

static const char *ename(int e)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{ 0, "OK" },	      { EPERM, "EPERM" },   { EACCES, "EACCES" },
		{ ENOENT, "ENOENT" }, { ENXIO, "ENXIO" },   { ESRCH, "ESRCH" },
		{ ENOSPC, "ENOSPC" }, { EROFS, "EROFS" },   { EINVAL, "EINVAL" },
		{ EBADF, "EBADF" },   { EIO, "EIO" },	    { EAFNOSUPPORT, "EAFNOSUPPORT" },
		{ ENODEV, "ENODEV" }, { EEXIST, "EEXIST" }, { EPROTONOSUPPORT, "EPROTONOSUPPORT" },
		{ ENOTTY, "ENOTTY" }, { ENOSYS, "ENOSYS" },
	};
	static char other[16];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].n;
	(void)snprintf(other, sizeof(other), "E%d", e);
	return other;
}

/* Numeric entries of /proc but ours, one call of fn per pid. */
static void each_pid(void (*fn)(pid_t, void *), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		fn((pid_t)pid, arg);
	}
	closedir(d);
}

/* --- race ------------------------------------------------------------------------------------ */

#define RACE_MAX 4096

struct race {
	const char *want;
	pid_t done[RACE_MAX]; /* seized or gone: never tried again */
	size_t ndone;
	pid_t seen[RACE_MAX];
	size_t nseen;
	unsigned long eperm, execd, breach, gone;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static bool in(const pid_t *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

/* Seized: stop it (PTRACE_INTERRUPT), so that what /proc/PID/exe says is what ran when we got
 * hold of it, then let it go. A process that exits before it stops (the container's `true`,
 * just exec'd) is counted as gone: an exited process has no exe to read. */
static void judge_seized(struct race *r, pid_t pid)
{
	char path[64], exe[512];
	ssize_t n;
	int st = 0;

	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0 || waitpid(pid, &st, __WALL) < 0 ||
	    !WIFSTOPPED(st)) {
		r->gone++;
		return;
	}
	(void)snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if (n > 0 && strcmp(exe, r->want) == 0) {
		r->execd++;
	} else {
		r->breach++;
		printf("breach: pid %d exe %s\n", (int)pid, n > 0 ? exe : ename(errno));
	}
	(void)ptrace(PTRACE_DETACH, pid, 0, 0);
}

static void race_one(pid_t pid, void *arg)
{
	struct race *r = arg;

	if (in(r->done, r->ndone, pid))
		return;
	if (!in(r->seen, r->nseen, pid) && r->nseen < RACE_MAX)
		r->seen[r->nseen++] = pid;
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
		judge_seized(r, pid);
	} else if (errno == EPERM) {
		r->eperm++;
		return;
	}
	if (r->ndone < RACE_MAX)
		r->done[r->ndone++] = pid;
}

static int race(const char *want)
{
	static struct race r;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	r.want = want;
	while (!stop)
		each_pid(race_one, &r);
	printf("race: pids=%zu eperm=%lu execd=%lu gone=%lu breach=%lu\n", r.nseen, r.eperm,
	       r.execd, r.gone, r.breach);
	return 0;
}

/* --- rawsock --------------------------------------------------------------------------------- */

static int try_socket(int domain, int type, int proto)
{
	int fd = socket(domain, type | SOCK_CLOEXEC, proto);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int rawsock(void)
{
	int inet = try_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	int packet = try_socket(AF_PACKET, SOCK_RAW, 0x0300 /* htons(ETH_P_ALL) */);

	printf("rawsock: inet=%s packet=%s\n", ename(inet), ename(packet));
	return 0;
}

/* --- peek ------------------------------------------------------------------------------------ */

struct peek {
	const char *needle;
	unsigned long others, leaks;
};

/* 0 and *found, or the errno of open/read. */
static int read_find(const char *path, const char *needle, bool *found)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*found = false;
	if (fd < 0)
		return errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		return e;
	}
	close(fd);
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = '\n';
	buf[n] = '\0';
	*found = strstr(buf, needle) != NULL;
	return 0;
}

static void peek_one(pid_t pid, void *arg)
{
	struct peek *p = arg;
	char path[96], comm[64] = "?";
	bool env_found, root_found;
	int env, root, mem, fd;
	ssize_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, comm, sizeof(comm) - 1);
		comm[n > 0 ? n - 1 : 0] = '\0';
		close(fd);
	}
	(void)snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	env = read_find(path, p->needle, &env_found);
	(void)snprintf(path, sizeof(path), "/proc/%d/root/tmp/secret", (int)pid);
	root = read_find(path, p->needle, &root_found);
	(void)snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	mem = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	p->others++;
	p->leaks += env_found + root_found + (mem == 0);
	printf("peek: pid %d comm %s environ=%s%s root=%s%s mem=%s\n", (int)pid, comm, ename(env),
	       env_found ? "+needle" : "", ename(root), root_found ? "+needle" : "", ename(mem));
}

static int peek(const char *needle)
{
	struct peek p = { .needle = needle };

	each_pid(peek_one, &p);
	printf("peek: others=%lu leaks=%lu\n", p.others, p.leaks);
	return 0;
}

/* --- nodes, devs ----------------------------------------------------------------------------- */

/* A device program on our own cgroup would be ours to remove: 6.12 asks no capability of
 * BPF_PROG_DETACH, only a cgroup directory fd. */
static int try_detach(void)
{
	union bpf_attr a;
	int fd = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return errno;
	memset(&a, 0, sizeof(a));
	a.target_fd = (unsigned)fd;
	a.attach_type = BPF_CGROUP_DEVICE;
	r = (int)syscall(SYS_bpf, BPF_PROG_DETACH, &a, sizeof(a));
	r = r < 0 ? errno : 0;
	close(fd);
	return r;
}

static int nodes(const char *where, char **specs, int n)
{
	const char *dir = strcmp(where, "dev") == 0 ? "/dev" : "/t";
	int e = 0;

	if (strcmp(dir, "/t") == 0) {
		if ((mkdir("/t", 0755) < 0 && errno != EEXIST) ||
		    mount("t", "/t", "tmpfs", MS_NOSUID, "mode=755") < 0)
			e = errno;
	} else if (mount(NULL, "/dev", NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) < 0) {
		e = errno;
	}
	printf("nodes: %s=%s detach=%s\n", where, ename(e), ename(try_detach()));
	for (int i = 0; i < n; i++) {
		char type, path[64];
		unsigned maj, min;
		int mk, op = -1, fd;

		if (sscanf(specs[i], "%c:%u:%u", &type, &maj, &min) != 3 ||
		    (type != 'b' && type != 'c'))
			return fprintf(stderr, "bad node %s\n", specs[i]), 2;
		(void)snprintf(path, sizeof(path), "%s/probe%d", dir, i);
		mk = mknod(path, (type == 'b' ? S_IFBLK : S_IFCHR) | 0600, makedev(maj, min)) < 0
			     ? errno
			     : 0;
		if (mk == 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			op = fd < 0 ? errno : 0;
			if (fd >= 0)
				close(fd);
		}
		printf("nodes: %s mknod=%s open=%s\n", specs[i], ename(mk),
		       op < 0 ? "-" : ename(op));
	}
	return 0;
}

static int open_errno(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int devs(void)
{
	static const char *const names[] = { "null", "zero", "full", "random", "urandom", "tty" };
	char buf[8], pts[64];
	int fd, e;

	printf("devs:");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[32];

		(void)snprintf(path, sizeof(path), "/dev/%s", names[i]);
		printf(" %s=%s", names[i], ename(open_errno(path, O_RDWR)));
	}
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	e = fd < 0 ? errno : (read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) ? 0 : errno);
	printf(" read-zero=%s", ename(e));
	if (fd >= 0)
		close(fd);
	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	e = fd < 0 ? errno : (write(fd, "x", 1) < 0 ? errno : 0);
	printf(" write-full=%s", ename(e));
	if (fd >= 0)
		close(fd);
	fd = open("/dev/ptmx", O_RDWR | O_CLOEXEC | O_NOCTTY);
	printf(" ptmx=%s", ename(fd < 0 ? errno : 0));
	e = fd < 0 ? -1 : (unlockpt(fd) < 0 || ptsname_r(fd, pts, sizeof(pts)) != 0) ? errno : 0;
	if (e == 0)
		e = open_errno(pts, O_RDWR);
	printf(" pts=%s\n", e < 0 ? "-" : ename(e));
	if (fd >= 0)
		close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "race") == 0)
		return race(argv[2]);
	if (argc == 2 && strcmp(argv[1], "rawsock") == 0)
		return rawsock();
	if (argc == 3 && strcmp(argv[1], "peek") == 0)
		return peek(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "nodes") == 0)
		return nodes(argv[2], argv + 3, argc - 3);
	if (argc == 2 && strcmp(argv[1], "devs") == 0)
		return devs();
	fprintf(stderr, "usage: sealpod-confine race EXE | rawsock | peek NEEDLE | "
			"nodes tmpfs|dev T:MAJ:MIN... | devs\n");
	return 2;
}
