/* The first process of a container (and of an exec), from clone3 to execve. It runs in a copy of
 * PID 1's memory, so it reads the plan and the decoded request directly. Every failure is sent to
 * PID 1 as a record on the CLOEXEC report pipe (stage, errno, message) before _exit, so that the
 * host learns exactly which step failed; a successful execve closes the pipe. */
#define _GNU_SOURCE
#include "runtime/child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#include "lib/cleanup.h"

/* struct landlock_ruleset_attr as of Landlock ABI 6 (Linux 6.12), spelled out: older headers
 * lack `scoped`. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs, handled_access_net, scoped;
};
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)

static void send_report(int fd, int stage, const struct sp_err *e)
{
	struct sp_rt_report r;

	memset(&r, 0, sizeof(r));
	r.stage = stage;
	if (e) {
		r.errnum = e->errnum;
		(void)snprintf(r.msg, sizeof(r.msg), "%s", e->msg);
	}
	while (write(fd, &r, sizeof(r)) < 0 && errno == EINTR)
		;
}

__attribute__((noreturn)) static void fail(const struct sp_rt_child_args *a, struct sp_err *e)
{
	send_report(a->report_fd, SP_RT_STAGE_ERROR, e);
	_exit(SP_RT_SETUP_EXIT);
}

static void reset_signals(void)
{
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int setup_stdio(const struct sp_rt_child_args *a, struct sp_err *err)
{
	if (setsid() < 0)
		return sp_error(err, errno, "setsid");
	if (a->tty_slave >= 0) {
		if (ioctl(a->tty_slave, TIOCSCTTY, 0) < 0)
			return sp_error(err, errno, "TIOCSCTTY");
		for (int i = 0; i < 3; i++)
			if (dup2(a->tty_slave, i) < 0)
				return sp_error(err, errno, "dup2 the terminal");
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		/* dup3 of an fd onto itself fails; the pipes are never 0..2 in PID 1. */
		if (a->stdio[i] >= 0 && dup2(a->stdio[i], i) < 0)
			return sp_error(err, errno, "dup2 stdio %d", i);
	}
	return 0;
}

/* Closes every fd above 2 but keep[] (ascending not required; -1 entries ignored): PID 1's other
 * fds are CLOEXEC, but until execve this child would hold other containers' pipe ends (a stdin
 * that never sees EOF) and PID 1's sockets. */
static void close_other_fds(const int *keep, size_t n)
{
	unsigned lo = 3;

	for (;;) {
		unsigned next = ~0U;

		for (size_t i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > lo)
			syscall(SYS_close_range, lo, next - 1, 0);
		if (next == ~0U)
			return;
		lo = next + 1;
	}
}

static int set_oom_score(int adj, struct sp_err *err)
{
	cleanup_close int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	char v[16];
	int n = snprintf(v, sizeof(v), "%d", adj);

	/* Always written: the child inherits PID 1's -1000, which no container may keep. */
	if (fd < 0 || write(fd, v, (size_t)n) != n)
		return sp_error(err, errno, "write oom_score_adj %d", adj);
	return 0;
}

static int set_rlimits(const struct sp_rt_proc_plan *pp, struct sp_err *err)
{
	for (size_t i = 0; i < pp->nrlimits; i++) {
		struct rlimit rl = { pp->rlimits[i].soft, pp->rlimits[i].hard };

		if (setrlimit(pp->rlimits[i].resource, &rl) < 0)
			return sp_error(err, errno, "setrlimit %d", pp->rlimits[i].resource);
	}
	return 0;
}

static const char *env_get(const Grpc__Process *p, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < p->n_env; i++)
		if (strncmp(p->env[i], name, n) == 0 && p->env[i][n] == '=')
			return p->env[i] + n + 1;
	return NULL;
}

/* execve, searching PATH (the process's own, in the container's root) for a bare name. Returns
 * only on failure, with errno of the most telling attempt. */
static void exec_process(const Grpc__Process *p)
{
	const char *name = p->args[0];
	const char *path;
	int saved = ENOENT;
	/* protobuf-c's repeated strings carry a count, execve wants a NULL at the end. */
	char **argv = calloc(p->n_args + 1, sizeof(char *));
	char **envp = calloc(p->n_env + 1, sizeof(char *));

	if (!argv || !envp) {
		errno = ENOMEM;
		return;
	}
	memcpy(argv, p->args, p->n_args * sizeof(char *));
	if (p->n_env)
		memcpy(envp, p->env, p->n_env * sizeof(char *));
	if (strchr(name, '/')) {
		execve(name, argv, envp);
		return;
	}
	path = env_get(p, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (const char *c = path;;) {
		const char *e = strchr(c, ':');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		char full[4096];

		int k = snprintf(full, sizeof(full), "%.*s/%s", (int)n, c, name);

		if (n && k > 0 && (size_t)k < sizeof(full)) {
			execve(full, argv, envp);
			if (errno == EACCES)
				saved = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (!e)
			break;
		c = e + 1;
	}
	errno = saved;
}

/* Containers that share the sandbox's pid namespace see each other's processes, and root in one
 * has the same uid and capabilities as root in another: ptrace_may_access lets it read the
 * other's /proc/PID/root (its secrets), environ and mem, and attach. What the kernel checks
 * beyond uid and capabilities is dumpability and the LSMs. Dumpability cannot be kept: every
 * execve of an ordinary program makes a process dumpable again (that is runc's and Kata's
 * behaviour too), and an undumpable process's /proc files are root's, which breaks non-root
 * programs that read their own. So each process that PID 1 starts in a shared namespace (a
 * container's init and every exec) enters a Landlock domain of its own before it runs anything
 * of the container's. A domain may ptrace (and read through /proc) only itself and domains
 * nested in it, whatever the capabilities, so co-tenants, and a container's execs and its
 * init, are out of each other's reach; signals still pass (Kubernetes' shared process
 * namespace is for that). A ruleset must restrict something: it scopes abstract Unix sockets,
 * so connecting to one made in another domain is refused too. Without Landlock (ABI 6) the
 * container is refused, never started unconfined. */
static int enter_own_domain(struct sp_err *err)
{
	struct ll_ruleset_attr attr = { .scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET };
	cleanup_close int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);

	if (fd < 0)
		return sp_error(err, errno,
				"a shared pid namespace needs Landlock ABI 6: create a ruleset");
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0)
		return sp_error(err, errno, "enter a Landlock domain");
	return 0;
}

/* The spec's sysctls (the safe list, spec.c), written through the guest's /proc before the
 * container's root is entered: the net.* keys in the guest's one network namespace, which every
 * container of the pod shares, kernel.shm_rmid_forced in the IPC namespace this process is in
 * (the sandbox's, or the pause's own, which the others join). */
static int apply_sysctls(const struct sp_rt_plan *plan, struct sp_err *err)
{
	for (size_t i = 0; i < plan->nsysctls; i++) {
		const char *k = plan->sysctls[i].key, *v = plan->sysctls[i].value;
		char path[128];
		int n = snprintf(path, sizeof(path), "/proc/sys/%s", k);
		cleanup_close int fd = -1;
		size_t len = strlen(v);

		if (n < 0 || (size_t)n >= sizeof(path))
			return sp_error(err, ENAMETOOLONG, "sysctl %s", k);
		for (char *c = path + 10; *c; c++)
			if (*c == '.')
				*c = '/';
		fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || write(fd, v, len) != (ssize_t)len)
			return sp_error(err, errno, "sysctl %s", k);
	}
	return 0;
}

/* The container's root: for a new container its sysctls, root file system and hostname; for a
 * process joining one (exec), the root it already has. */
static int enter_root(const struct sp_rt_child_args *a, struct sp_err *err)
{
	if (!a->plan) {
		if (fchdir(a->exec_rootfd) < 0 || chroot(".") < 0)
			return sp_error(err, errno, "enter the container's root");
		return 0;
	}
	if (apply_sysctls(a->plan, err) < 0)
		return -1;
	umask(0);
	if (sp_rootfs_setup(a->plan, err) < 0)
		return -1;
	umask(022);
	if (a->plan->hostname && sethostname(a->plan->hostname, strlen(a->plan->hostname)) < 0)
		return sp_error(err, errno, "sethostname");
	return 0;
}

/* Like `runc create`: set up, then hold until StartContainer. */
static void await_start(const struct sp_rt_child_args *a)
{
	char go;
	ssize_t n;

	send_report(a->report_fd, SP_RT_STAGE_READY, NULL);
	do
		n = read(a->sync_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(SP_RT_SETUP_EXIT); /* removed before it was started */
	close(a->sync_fd);
}

/* seccomp, the process's user and capabilities, no_new_privs: the last steps before exec. */
static int drop_privileges(const struct sp_rt_child_args *a, struct sp_err *err)
{
	const struct sp_rt_proc_plan *pp = a->pp;

	/* Without no_new_privs, seccomp needs CAP_SYS_ADMIN: load it while we still have it. */
	if (!pp->no_new_privs && sp_seccomp_load(a->seccomp, false, err) < 0)
		return -1;
	if (sp_caps_apply_user(&pp->caps, pp->uid, pp->gid, pp->gids, pp->ngids, err) < 0)
		return -1;
	if (pp->no_new_privs) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return sp_error(err, errno, "PR_SET_NO_NEW_PRIVS");
		if (sp_seccomp_load(a->seccomp, true, err) < 0)
			return -1;
	}
	return 0;
}

__attribute__((noreturn)) void sp_rt_child(const struct sp_rt_child_args *a)
{
	const struct sp_rt_proc_plan *pp = a->pp;
	const char *cwd = pp->proc->cwd && pp->proc->cwd[0] ? pp->proc->cwd : "/";
	struct sp_err err = { 0 };

	/* Until execve this is a copy of PID 1's memory (registry tokens, other requests), and once
	 * the capabilities are dropped, root in the container would pass ptrace_may_access (same
	 * uid, no more capabilities than its own) but for this. PID 1 is undumpable itself
	 * (boot/main.c), so this holds from the clone on; it is said again for the bundle driver,
	 * which is not PID 1. The exec of the container's program makes it dumpable again, as
	 * itself: enter_own_domain says why that is right. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	reset_signals();
	/* Our parent is PID 1: if it went away we would be a stray. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (set_oom_score(pp->oom_score_adj, &err) < 0)
		fail(a, &err);
	if (a->join_pidfd >= 0 && setns(a->join_pidfd, a->join_flags) < 0) {
		sp_error(&err, errno, "join the %s namespaces",
			 a->plan ? "sandbox's" : "container's");
		fail(a, &err);
	}
	if (setup_stdio(a, &err) < 0)
		fail(a, &err);
	{
		const int keep[] = { a->report_fd, a->sync_fd, a->exec_rootfd };

		close_other_fds(keep, sizeof(keep) / sizeof(keep[0]));
	}
	if (enter_root(a, &err) < 0)
		fail(a, &err);
	if (a->own_domain && enter_own_domain(&err) < 0)
		fail(a, &err);
	if (set_rlimits(pp, &err) < 0)
		fail(a, &err);
	if (chdir(cwd) < 0) {
		sp_error(&err, errno, "chdir %s", cwd);
		fail(a, &err);
	}
	if (a->sync_fd >= 0)
		await_start(a);
	if (drop_privileges(a, &err) < 0)
		fail(a, &err);
	exec_process(pp->proc);
	sp_error(&err, errno, "exec %s", pp->proc->args[0]);
	send_report(a->report_fd, SP_RT_STAGE_EXEC, &err);
	_exit(errno == ENOENT ? 127 : 126);
}
