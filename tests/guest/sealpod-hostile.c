/* sealpod-hostile: what a hostile container does to its neighbours and to PID 1 (test overlay
 * only; tests/integration/test_hostile.py binds it into containers from the shared-files path).
 * It only reports what it could do; the tests decide what is allowed.
 *
 *   sealpod-hostile ptrace-race SECONDS COUNT
 *       As the container's init, wait for the next COUNT processes that appear in the container's
 *       pid namespace (ExecProcess children) and try PTRACE_SEIZE on each, over and over, from
 *       the moment it exists until it has exec'd or gone. A child caught before its execve is a
 *       copy of PID 1 (its memory included). One line per child:
 *         child PID: eperm=N before-exec=yes|no attached=pre-exec|post-exec|no cmdline=...
 *       where before-exec says the child was seen still running PID 1's image (its cmdline is
 *       PID 1's, /init), and pre-exec means the seize succeeded while the child still ran PID 1's
 *       image: stopped right after the seize, its /proc/PID/exe is still /init. (A seize can
 *       also land inside the child's execve after the new image has replaced PID 1's memory and
 *       made it dumpable, before the exec event: that tracer holds the container's own program,
 *       not a copy of PID 1, and counts as post-exec.) Then `summary: children=N
 *       seen-before-exec=N attached-pre-exec=N`.
 *   sealpod-hostile sockets
 *       socket(AF_PACKET, SOCK_RAW) and socket(AF_INET, SOCK_RAW, ICMP): `packet=ok|<error>
 *       raw=ok|<error>` (both need CAP_NET_RAW).
 *   sealpod-hostile devnodes DIR MAJ:MIN...
 *       Mounts a tmpfs (without nodev) on DIR, then for each block device number: mknod, open
 *       read-only, read 4096 bytes. One line each: `dev MAJ:MIN mknod=... open=... read=...`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first argument of /proc/PID/cmdline (readable by anyone), or "" when gone. */
static void cmdline_of(pid_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	out[0] = '\0';
	(void)snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, size - 1);
	close(fd);
	out[n > 0 ? n : 0] = '\0';
}

static long last_pid(void)
{
	char buf[32] = { 0 };
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

struct child {
	pid_t pid;
	unsigned eperm;
	bool before_exec;
	const char *attached;
	char cmdline[128];
};

/* /proc/PID/exe of a tracee, "" when it cannot be read. */
static void exe_of(pid_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* After a successful seize: which image does the tracee run? PID 1's (/init) means the seize got
 * a copy of PID 1 (pre-exec); anything else is the exec'd program. Looked at at once (a tracee
 * that was PID 1's image when the seize landed may exec before the interrupt stops it) and again
 * once stopped; then detached. */
static const char *classify(pid_t pid, long long deadline)
{
	char exe[256] = "";
	bool pid1_image;
	int st;

	exe_of(pid, exe, sizeof(exe));
	pid1_image = strcmp(exe, "/init") == 0;
	(void)ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
	while (now_ms() < deadline) {
		pid_t r = waitpid(pid, &st, __WALL | WNOHANG);

		if (r < 0 || (r > 0 && (WIFEXITED(st) || WIFSIGNALED(st))))
			break; /* gone before it stopped */
		if (r == 0) {
			usleep(100);
			continue;
		}
		if (WIFSTOPPED(st)) {
			exe_of(pid, exe, sizeof(exe));
			pid1_image |= strcmp(exe, "/init") == 0;
			(void)ptrace(PTRACE_DETACH, pid, NULL, NULL);
			break;
		}
	}
	return pid1_image ? "pre-exec" : "post-exec";
}

/* Spins on one pid until it is attached or gone. */
static void race_one(struct child *c, long long deadline)
{
	while (now_ms() < deadline) {
		if (ptrace(PTRACE_SEIZE, c->pid, NULL, (void *)(long)PTRACE_O_TRACEEXEC) == 0) {
			char cmd[128];

			cmdline_of(c->pid, cmd, sizeof(cmd));
			if (strcmp(cmd, "/init") == 0)
				c->before_exec = true;
			c->attached = classify(c->pid, deadline);
			return;
		}
		if (errno == EPERM) {
			if (!c->eperm++) {
				cmdline_of(c->pid, c->cmdline, sizeof(c->cmdline));
				c->before_exec |= strcmp(c->cmdline, "/init") == 0;
			}
			continue;
		}
		if (errno == ESRCH && (c->eperm || last_pid() >= c->pid))
			return; /* it came and went */
		if (errno == ESRCH)
			usleep(200); /* not born yet: leave the CPU to PID 1 */
	}
}

static int ptrace_race(int argc, char **argv)
{
	static struct child kids[MAX_CHILDREN];
	long long deadline;
	int want, seen_before = 0, pre = 0, n;

	if (argc != 4)
		return 2;
	deadline = now_ms() + atoll(argv[2]) * 1000;
	want = atoi(argv[3]);
	if (want < 1 || want > MAX_CHILDREN)
		return 2;
	printf("ptrace-race: waiting for %d children\n", want);
	fflush(stdout);
	for (n = 0; n < want && now_ms() < deadline; n++) {
		struct child *c = &kids[n];

		c->pid = (pid_t)(n ? kids[n - 1].pid + 1 : getpid() + 1);
		c->attached = "no";
		race_one(c, deadline);
		seen_before += c->before_exec;
		pre += strcmp(c->attached, "pre-exec") == 0;
		printf("child %d: eperm=%u before-exec=%s attached=%s cmdline=%s\n", (int)c->pid,
		       c->eperm, c->before_exec ? "yes" : "no", c->attached,
		       c->cmdline[0] ? c->cmdline : "?");
		fflush(stdout);
	}
	printf("summary: children=%d seen-before-exec=%d attached-pre-exec=%d\n", n, seen_before,
	       pre);
	return 0;
}

static int sockets(void)
{
	int p = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	int pe = errno;
	int r = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	int re = errno;

	printf("packet=%s raw=%s\n", p >= 0 ? "ok" : strerror(pe), r >= 0 ? "ok" : strerror(re));
	return 0;
}

static int devnodes(int argc, char **argv)
{
	const char *dir;

	if (argc < 4)
		return 2;
	dir = argv[2];
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return printf("mkdir %s: %s\n", dir, strerror(errno)), 1;
	if (mount("none", dir, "tmpfs", MS_NOSUID, "mode=0700") < 0)
		printf("mount tmpfs on %s: %s (trying the directory as it is)\n", dir,
		       strerror(errno));
	for (int i = 3; i < argc; i++) {
		unsigned maj, mnr;
		char path[256], buf[4096];
		const char *mk = "ok", *op = "ok";
		char rd[32] = "-";
		int fd;

		if (sscanf(argv[i], "%u:%u", &maj, &mnr) != 2)
			return 2;
		(void)snprintf(path, sizeof(path), "%s/b%u_%u", dir, maj, mnr);
		if (mknod(path, S_IFBLK | 0600, makedev(maj, mnr)) < 0)
			mk = strerror(errno);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			op = strerror(errno);
		} else {
			ssize_t n = read(fd, buf, sizeof(buf));

			(void)snprintf(rd, sizeof(rd), "%zd", n);
			close(fd);
		}
		printf("dev %u:%u mknod=%s open=%s read=%s\n", maj, mnr, mk, op, rd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (argc >= 2 && strcmp(argv[1], "ptrace-race") == 0)
		r = ptrace_race(argc, argv);
	else if (argc == 2 && strcmp(argv[1], "sockets") == 0)
		r = sockets();
	else if (argc >= 2 && strcmp(argv[1], "devnodes") == 0)
		r = devnodes(argc, argv);
	if (r == 2)
		fprintf(stderr, "usage: sealpod-hostile ptrace-race SECONDS COUNT | sockets | "
				"devnodes DIR MAJ:MIN...\n");
	fflush(stdout);
	return r;
}
