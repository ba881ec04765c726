/* The container table and the lifecycle: create (clone the init, which sets everything up and
 * holds before exec), start (release it, learn whether exec worked), exec, signal, remove. PID 1
 * stays single-threaded: the only waits here are on a child's report pipe, which the child
 * answers within its setup, bounded by a timeout. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/gate.h"
#include "boot/boot.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/pathat.h"
#include "runtime/child.h"

#define REPORT_TIMEOUT_MS 20000
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct rt_state rt = { .own_pidns = -1 };
static struct sp_err no_cgroup; /* why sp_rt_init found no cgroup (no container runs then) */

/* --- prepared rootfs registry ---------------------------------------------------------------- */

static struct {
	char cid[SP_ID_MAX + 1];
	char *path;
	uint64_t mnt_id; /* the mount its preparer made (lib/pathat.h) */
} roots[SP_RT_MAX_CONTAINERS];

int sp_runtime_register_rootfs(const char *cid, const char *path, uint64_t mnt_id)
{
	size_t slot = SIZE_MAX;

	if (!sp_valid_id(cid) || !sp_rt_abs_path_ok(path) || mnt_id == 0)
		return -1;
	for (size_t i = 0; i < SP_RT_MAX_CONTAINERS; i++) {
		if (roots[i].path && strcmp(roots[i].cid, cid) == 0) {
			free(roots[i].path);
			roots[i].path = NULL;
			slot = i;
			break;
		}
		if (!roots[i].path && slot == SIZE_MAX)
			slot = i;
	}
	if (slot == SIZE_MAX)
		return -1;
	(void)snprintf(roots[slot].cid, sizeof(roots[slot].cid), "%s", cid);
	roots[slot].path = strdup(path);
	roots[slot].mnt_id = mnt_id;
	return roots[slot].path ? 0 : -1;
}

static void unregister_rootfs(const char *cid)
{
	for (size_t i = 0; i < SP_RT_MAX_CONTAINERS; i++)
		if (roots[i].path && strcmp(roots[i].cid, cid) == 0) {
			free(roots[i].path);
			roots[i].path = NULL;
			roots[i].mnt_id = 0;
		}
}

const char *sp_runtime_rootfs(const char *cid)
{
	for (size_t i = 0; i < SP_RT_MAX_CONTAINERS; i++)
		if (roots[i].path && strcmp(roots[i].cid, cid) == 0)
			return roots[i].path;
	return NULL;
}

static uint64_t rootfs_mnt_id(const char *cid)
{
	for (size_t i = 0; i < SP_RT_MAX_CONTAINERS; i++)
		if (roots[i].path && strcmp(roots[i].cid, cid) == 0)
			return roots[i].mnt_id;
	return 0;
}

/* --- table ----------------------------------------------------------------------------------- */

struct rt_ctr *rt_ctr_find(const char *id)
{
	for (size_t i = 0; id && i < rt.nctrs; i++)
		if (strcmp(rt.ctrs[i]->id, id) == 0)
			return rt.ctrs[i];
	return NULL;
}

struct rt_proc *rt_proc_find(struct rt_ctr *c, const char *exec_id)
{
	if (!exec_id || !exec_id[0])
		exec_id = c->id;
	for (size_t i = 0; i < c->nprocs; i++)
		if (strcmp(c->procs[i]->exec_id, exec_id) == 0)
			return c->procs[i];
	return NULL;
}

size_t sp_rt_count(void)
{
	return rt.nctrs;
}

static struct rt_proc *ctr_init(struct rt_ctr *c)
{
	return c->nprocs ? c->procs[0] : NULL;
}

void rt_ctr_init_exited(struct rt_ctr *c)
{
	c->state = CTR_STOPPED;
}

void rt_oom_push(const char *cid)
{
	struct rt_park *pk = rt.oom_waiters.head;

	sp_info("runtime", "container %s: OOM kill", cid);
	if (pk) {
		Grpc__OOMEvent ev = GRPC__OOMEVENT__INIT;
		struct tt_call *call = pk->call;

		rt_park_unlink(pk);
		ev.container_id = (char *)cid;
		tt_call_reply(call, &ev.base);
		return;
	}
	if (rt.oom_n == RT_OOM_QUEUE) { /* drop the oldest */
		rt.oom_head = (rt.oom_head + 1) % RT_OOM_QUEUE;
		rt.oom_n--;
	}
	(void)snprintf(rt.oom_queue[(rt.oom_head + rt.oom_n) % RT_OOM_QUEUE], SP_ID_MAX + 1, "%s",
		       cid);
	rt.oom_n++;
}

static void on_mem_events(struct sp_watch *w, uint32_t events)
{
	struct rt_ctr *c = (struct rt_ctr *)((char *)w - offsetof(struct rt_ctr, wev));
	long n = sp_cgroup_oom_kills(w->fd);

	if (n > c->oom_seen) {
		c->oom_seen = n;
		rt_oom_push(c->id);
	}
}

static void ctr_free(struct sp_watch *w)
{
	struct rt_ctr *c = (struct rt_ctr *)((char *)w - offsetof(struct rt_ctr, wev));

	if (c->seccomp)
		protobuf_c_message_free_unpacked(&c->seccomp->base, NULL);
	free(c);
}

/* Takes c out of the table and frees it after the batch (processes included). */
static void ctr_drop(struct rt_ctr *c)
{
	for (size_t i = 0; i < rt.nctrs; i++)
		if (rt.ctrs[i] == c) {
			rt.ctrs[i] = rt.ctrs[--rt.nctrs];
			break;
		}
	if (rt.sandbox == c)
		rt.sandbox = NULL;
	for (size_t i = 0; i < c->nprocs; i++)
		rt_proc_release(c->procs[i]);
	c->nprocs = 0;
	if (c->sync_fd >= 0)
		close(c->sync_fd);
	if (c->report_fd >= 0)
		close(c->report_fd);
	if (c->cgfd >= 0)
		close(c->cgfd);
	c->sync_fd = c->report_fd = c->cgfd = -1;
	sp_loop_release(rt.loop, &c->wev);
	if (c->wev.fd >= 0)
		close(c->wev.fd);
	c->wev.fd = -1;
}

/* --- init ------------------------------------------------------------------------------------ */

static void child_hook(pid_t pid, int status, void *data)
{
	sp_rt_child_exited(pid, status);
}

int sp_rt_init(struct sp_loop *loop, struct sp_err *err)
{
	if (rt.ready)
		return 0;
	if (!loop)
		return sp_error(err, 0, "no event loop");
	rt.loop = loop;
	rt.own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (rt.own_pidns < 0)
		return sp_error(err, errno, "open /proc/self/ns/pid");
	if (sp_cgroup_setup_sandbox(&no_cgroup) < 0)
		sp_warn("runtime", "no container will run: %s", no_cgroup.msg);
	else
		rt.cgroups = true;
	sp_set_child_hook(child_hook, NULL);
	rt.ready = true;
	sp_info("runtime", "ready (cgroup v2 %s)", rt.cgroups ? "on" : "off");
	return 0;
}

bool sp_rt_ready(void)
{
	return rt.ready;
}

/* --- the report pipe --------------------------------------------------------------------------- */

/* Reads one record, or EOF (returns 0 with r->stage 0). -1: timeout or error. */
static int read_report(int fd, struct sp_rt_report *r, struct sp_err *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int pr;

	memset(r, 0, sizeof(*r));
	do
		pr = poll(&pfd, 1, REPORT_TIMEOUT_MS);
	while (pr < 0 && errno == EINTR);
	if (pr == 0)
		return sp_error(err, ETIMEDOUT, "container setup did not report");
	if (pr < 0)
		return sp_error(err, errno, "poll");
	do
		n = read(fd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(*r))
		return sp_error(err, errno ? errno : EPROTO, "short report from the container");
	r->msg[sizeof(r->msg) - 1] = '\0';
	return 0;
}

/* A child that reported failure exits right after: reap it here, so its cgroup can go. */
static void reap_failed(struct rt_proc *p)
{
	siginfo_t si;

	if (p->exited || p->wpid.fd < 0)
		return;
	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, p->wpid.fd, &si, WEXITED, NULL) == 0 && si.si_pid)
		sp_rt_child_exited(p->pid, si.si_code == CLD_EXITED ? RT_WEXIT(si.si_status)
								    : RT_WSIG(si.si_status));
}

static int mkdir_p(const char *path)
{
	char buf[SP_PATH_MAX + 1];

	(void)snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -1;
			*s = c;
			if (!c)
				return 0;
		}
	}
}

/* Clones into pidns_of (its pid namespace for our child) when pidns_of >= 0. */
static pid_t clone_child(uint64_t flags, int cgfd, int pidns_of, int *pidfd, struct sp_err *err)
{
	pid_t pid;

	if (pidns_of >= 0 && setns(pidns_of, CLONE_NEWPID) < 0)
		return sp_error(err, errno, "enter the pid namespace");
	pid = sp_rt_clone(flags, cgfd, pidfd);
	if (pid < 0)
		sp_error(err, errno, "clone3");
	if (pid > 0 && pidns_of >= 0 && setns(rt.own_pidns, CLONE_NEWPID) < 0)
		sp_fatal("runtime.pidns", "cannot return to PID 1's pid namespace: %s",
			 strerror(errno));
	return pid;
}

/* --- create ---------------------------------------------------------------------------------- */

static int ctr_new(const char *cid, struct rt_ctr **out, struct sp_err *err)
{
	struct rt_ctr *c = calloc(1, sizeof(*c));

	if (!c)
		return sp_error(err, ENOMEM, "container"), -TT_RESOURCE_EXHAUSTED;
	(void)snprintf(c->id, sizeof(c->id), "%s", cid);
	c->cgfd = c->sync_fd = c->report_fd = c->wev.fd = -1;
	c->wev.on_event = on_mem_events;
	c->wev.on_release = ctr_free;
	*out = c;
	return 0;
}

static void copy_seccomp(struct rt_ctr *c, const Grpc__LinuxSeccomp *s)
{
	size_t n;
	uint8_t *buf;

	if (!s)
		return;
	n = grpc__linux_seccomp__get_packed_size(s);
	buf = malloc(n ? n : 1);
	if (!buf)
		return;
	grpc__linux_seccomp__pack(s, buf);
	c->seccomp = grpc__linux_seccomp__unpack(NULL, n, buf);
	free(buf);
}

static void watch_oom(struct rt_ctr *c)
{
	struct sp_err e;

	if (c->cgfd < 0)
		return;
	c->wev.fd = openat(c->cgfd, "memory.events", O_RDONLY | O_CLOEXEC);
	if (c->wev.fd < 0)
		return;
	c->oom_seen = sp_cgroup_oom_kills(c->wev.fd);
	if (sp_loop_add(rt.loop, &c->wev, EPOLLPRI, &e) < 0)
		sp_warn("runtime", "container %s: no OOM events: %s", c->id, e.msg);
}

/* The rootfs at Root.Path must be, now, the very mount its preparer registered (a string is not
 * enough: another mount could sit there or beneath it); the child binds only that directory
 * (rootfs.c). Then the policy's pin_process_to_image against the image configuration registered
 * for cid, read through the same verified fd. */
static int check_root(const char *cid, struct sp_rt_plan *plan, struct sp_err *err)
{
	cleanup_close int rootfd = sp_open_on_mount(plan->root, rootfs_mnt_id(cid), err);
	struct sp_policy_pin pin;
	struct stat st;

	if (rootfd < 0 || fstat(rootfd, &st) < 0)
		return sp_error_wrap(err, "root.path refused"), -TT_FAILED_PRECONDITION;
	plan->root_dev = st.st_dev;
	plan->root_ino = st.st_ino;
	plan->root_verified = true;
	sp_policy_pin(sp_agent_policy(), &pin);
	if (!pin.enabled)
		return 0;
	return sp_rt_check_image_pin(sp_runtime_image_config(cid), &plan->p, &pin, rootfd, err);
}

int sp_rt_create(const char *cid, const Grpc__Spec *spec, bool sandbox_pidns, bool pause,
		 uint64_t allowed_extra, const int *stdio_given, struct sp_err *err)
{
	struct sp_rt_plan *plan = NULL;
	struct sp_rt_child_args a;
	struct sp_rt_report rep;
	struct rt_ctr *c = NULL;
	struct rt_proc *p = NULL;
	struct rt_proc *sb_init;
	int rp[2] = { -1, -1 }, sp[2] = { -1, -1 };
	int stdio[3], tty_slave = -1, pidfd = -1, ret;
	uint64_t flags = CLONE_NEWNS;
	pid_t pid;
	char prepared[SP_PATH_MAX + 1];

	if (!cid || !sp_valid_id(cid))
		return sp_error(err, 0, "container id is not valid"), -TT_INVALID_ARGUMENT;
	if (rt_ctr_find(cid))
		return sp_error(err, 0, "container %s already exists", cid),
		       -TT_FAILED_PRECONDITION;
	if (pause)
		(void)snprintf(prepared, sizeof(prepared), "/run/kata-containers/%s/rootfs", cid);
	else
		(void)snprintf(prepared, sizeof(prepared), "%s",
			       sp_runtime_rootfs(cid) ? sp_runtime_rootfs(cid) : "");
	plan = malloc(sizeof(*plan));
	if (!plan)
		return sp_error(err, ENOMEM, "plan"), -TT_RESOURCE_EXHAUSTED;
	ret = sp_rt_filter_spec(spec, cid, prepared[0] ? prepared : NULL, pause, allowed_extra,
				plan, err);
	if (ret < 0)
		goto out;
	if (!pause && (ret = check_root(cid, plan, err)) < 0)
		goto out;
	if (!pause && (ret = sp_rt_secret_mounts(cid, plan, err)) < 0)
		goto out;
	ret = -TT_FAILED_PRECONDITION;
	if (!rt.ready) {
		sp_error(err, 0, "containers run only in the guest");
		goto out;
	}
	if (!rt.cgroups) { /* no limits and, above all, no device cgroup */
		sp_error(err, 0, "no container runs without its cgroup: %s", no_cgroup.msg);
		goto out;
	}
	if (rt.nctrs >= SP_RT_MAX_CONTAINERS) {
		sp_error(err, 0, "%d containers already", SP_RT_MAX_CONTAINERS);
		ret = -TT_RESOURCE_EXHAUSTED;
		goto out;
	}
	ret = -TT_INTERNAL;
	if (pause && mkdir_p(plan->root) < 0) {
		sp_error(err, errno, "mkdir %s", plan->root);
		goto out;
	}
	if ((ret = ctr_new(cid, &c, err)) < 0)
		goto out;
	c->pause = pause;
	c->nnp = plan->p.no_new_privs;
	(void)snprintf(c->root, sizeof(c->root), "%s", plan->root);
	for (size_t i = 0; i < plan->nmounts; i++)
		if (plan->mounts[i].kind == MK_BIND &&
		    strcmp(plan->mounts[i].dest, RT_TERMINATION_LOG) == 0)
			(void)snprintf(c->termlog, sizeof(c->termlog), "%s",
				       plan->mounts[i].source);
	if (rt.cgroups && (ret = sp_cgroup_create(cid, &plan->limits, &c->cgfd, err)) < 0)
		goto out;
	ret = -TT_INTERNAL;
	p = rt_proc_new(c, cid, plan->p.terminal, stdio_given, stdio, &tty_slave, err);
	if (!p)
		goto out;
	p->is_init = true;
	if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(sp, O_CLOEXEC) < 0) {
		sp_error(err, errno, "pipe2");
		goto out;
	}
	if (c->cgfd >= 0)
		flags |= CLONE_NEWCGROUP;
	sb_init = rt.sandbox ? ctr_init(rt.sandbox) : NULL;
	if (sb_init && sb_init->exited)
		sb_init = NULL;
	memset(&a, 0, sizeof(a));
	a.plan = plan;
	a.pp = &plan->p;
	a.seccomp = plan->seccomp;
	a.report_fd = rp[1];
	a.sync_fd = sp[0];
	memcpy(a.stdio, stdio, sizeof(a.stdio));
	a.tty_slave = tty_slave;
	a.join_pidfd = -1;
	a.exec_rootfd = -1;
	if (sb_init) {
		/* ipc and uts are the sandbox's, as Kata shares them per pod. */
		a.join_pidfd = sb_init->wpid.fd;
		a.join_flags = CLONE_NEWIPC | CLONE_NEWUTS;
	} else {
		flags |= CLONE_NEWIPC | CLONE_NEWUTS;
	}
	if (!(sandbox_pidns && sb_init))
		flags |= CLONE_NEWPID;
	/* Co-tenants of one pid namespace: each its own Landlock domain (child.c). */
	c->shared_pidns = a.own_domain = sandbox_pidns && sb_init;
	pid = clone_child(flags, c->cgfd, sandbox_pidns && sb_init ? sb_init->wpid.fd : -1, &pidfd,
			  err);
	if (pid == 0) {
		close(rp[0]);
		close(sp[1]);
		sp_rt_child(&a);
	}
	close(rp[1]);
	close(sp[0]);
	rp[1] = sp[0] = -1;
	rt_proc_close_child_ends(stdio, &tty_slave);
	if (pid < 0)
		goto out;
	c->procs[c->nprocs++] = p;
	rt.ctrs[rt.nctrs++] = c;
	if (rt_proc_started(p, pid, pidfd, err) < 0) {
		kill(pid, SIGKILL);
		close(pidfd);
		goto fail_dropped;
	}
	ret = read_report(rp[0], &rep, err);
	if (ret < 0 || rep.stage != SP_RT_STAGE_READY) {
		if (rep.stage == SP_RT_STAGE_ERROR) {
			sp_error(err, 0, "%s", rep.msg);
			err->errnum = rep.errnum;
		} else if (ret == 0) {
			sp_error(err, 0, "container setup failed without a report");
		}
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		reap_failed(p);
		goto fail_dropped;
	}
	c->report_fd = rp[0];
	c->sync_fd = sp[1];
	rp[0] = sp[1] = -1;
	c->state = CTR_CREATED;
	copy_seccomp(c, plan->seccomp);
	watch_oom(c);
	if (pause)
		rt.sandbox = c;
	sp_info("runtime", "container %s created, init pid %d%s", cid, (int)pid,
		pause ? " (sandbox)" : "");
	free(plan);
	return 0;
fail_dropped:
	p = NULL;
	if (rp[0] >= 0)
		close(rp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	ctr_drop(c);
	if (rt.cgroups)
		(void)sp_cgroup_remove(cid, &(struct sp_err){ 0 });
	free(plan);
	return -TT_INTERNAL;
out:
	for (int i = 0; i < 2; i++) {
		if (rp[i] >= 0)
			close(rp[i]);
		if (sp[i] >= 0)
			close(sp[i]);
	}
	if (p) {
		rt_proc_close_child_ends(stdio, &tty_slave);
		rt_proc_release(p);
	}
	if (c) {
		if (c->cgfd >= 0) {
			close(c->cgfd);
			c->cgfd = -1;
			(void)sp_cgroup_remove(cid, &(struct sp_err){ 0 });
		}
		sp_loop_release(rt.loop, &c->wev);
	}
	free(plan);
	return ret;
}

/* --- start, exec ----------------------------------------------------------------------------- */

/* After the go byte (or for an exec, right away): EOF means execve worked. */
static int exec_result(int report_fd, struct rt_proc *p, struct sp_err *err)
{
	struct sp_rt_report rep;

	if (read_report(report_fd, &rep, err) < 0)
		return -TT_INTERNAL;
	if (rep.stage == 0)
		return 0;
	sp_error(err, 0, "%s", rep.msg);
	err->errnum = rep.errnum;
	reap_failed(p);
	return rep.stage == SP_RT_STAGE_EXEC && rep.errnum == ENOENT ? -TT_NOT_FOUND
	       : rep.stage == SP_RT_STAGE_EXEC			     ? -TT_FAILED_PRECONDITION
								     : -TT_INTERNAL;
}

int sp_rt_start(const char *cid, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p;
	char go = 1;
	int ret;

	if (!c)
		return sp_error(err, 0, "container %s not found", cid ? cid : ""), -TT_NOT_FOUND;
	p = ctr_init(c);
	if (c->state != CTR_CREATED || !p || p->exited)
		return sp_error(err, 0, "container %s is not waiting to start", cid),
		       -TT_FAILED_PRECONDITION;
	if (write(c->sync_fd, &go, 1) != 1)
		return sp_error(err, errno, "start container %s", cid), -TT_INTERNAL;
	close(c->sync_fd);
	c->sync_fd = -1;
	ret = exec_result(c->report_fd, p, err);
	close(c->report_fd);
	c->report_fd = -1;
	c->state = ret < 0 ? CTR_STOPPED : CTR_RUNNING;
	if (ret == 0)
		sp_info("runtime", "container %s started", cid);
	return ret;
}

int sp_rt_exec(const char *cid, const char *exec_id, const Grpc__Process *proc,
	       uint64_t allowed_extra, const int *stdio_given, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *init, *p;
	struct sp_rt_proc_plan *pp;
	struct sp_rt_child_args a;
	int rp[2] = { -1, -1 }, stdio[3], tty_slave = -1, pidfd = -1, ret;
	cleanup_close int rootfd = -1;
	char path[64];
	pid_t pid;

	if (!c)
		return sp_error(err, 0, "container %s not found", cid ? cid : ""), -TT_NOT_FOUND;
	if (!exec_id || !sp_valid_id(exec_id))
		return sp_error(err, 0, "exec id is not valid"), -TT_INVALID_ARGUMENT;
	init = ctr_init(c);
	if (c->state != CTR_RUNNING || !init || init->exited)
		return sp_error(err, 0, "container %s is not running", cid),
		       -TT_FAILED_PRECONDITION;
	if (rt_proc_find(c, exec_id))
		return sp_error(err, 0, "process %s already exists in %s", exec_id, cid),
		       -TT_FAILED_PRECONDITION;
	if (c->nprocs >= SP_RT_MAX_PROCS) {
		/* Make room: forget the oldest exec that exited and was waited for. */
		for (size_t i = 1; i < c->nprocs; i++)
			if (c->procs[i]->exited && c->procs[i]->waited) {
				rt_proc_release(c->procs[i]);
				memmove(&c->procs[i], &c->procs[i + 1],
					(c->nprocs - i - 1) * sizeof(struct rt_proc *));
				c->nprocs--;
				break;
			}
		if (c->nprocs >= SP_RT_MAX_PROCS)
			return sp_error(err, 0, "%d processes in %s already", SP_RT_MAX_PROCS, cid),
			       -TT_RESOURCE_EXHAUSTED;
	}
	pp = malloc(sizeof(*pp));
	if (!pp)
		return sp_error(err, ENOMEM, "plan"), -TT_RESOURCE_EXHAUSTED;
	if ((ret = sp_rt_filter_process(proc, allowed_extra, pp, err)) < 0)
		goto out;
	ret = -TT_INTERNAL;
	/* The container's root, through the init: valid while the pidfd says it lives. */
	(void)snprintf(path, sizeof(path), "/proc/%d/root", (int)init->pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || syscall(SYS_pidfd_send_signal, init->wpid.fd, 0, NULL, 0) < 0) {
		sp_error(err, errno, "container %s: its init is gone", cid);
		ret = -TT_FAILED_PRECONDITION;
		goto out;
	}
	p = rt_proc_new(c, exec_id, pp->terminal, stdio_given, stdio, &tty_slave, err);
	if (!p)
		goto out;
	if (pipe2(rp, O_CLOEXEC) < 0) {
		sp_error(err, errno, "pipe2");
		rt_proc_close_child_ends(stdio, &tty_slave);
		rt_proc_release(p);
		goto out;
	}
	memset(&a, 0, sizeof(a));
	a.pp = pp;
	a.seccomp = c->seccomp;
	a.report_fd = rp[1];
	a.sync_fd = -1;
	memcpy(a.stdio, stdio, sizeof(a.stdio));
	a.tty_slave = tty_slave;
	a.join_pidfd = init->wpid.fd;
	a.join_flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
		       (c->cgfd >= 0 ? CLONE_NEWCGROUP : 0);
	a.exec_rootfd = rootfd;
	a.own_domain = c->shared_pidns;
	pid = clone_child(0, c->cgfd, init->wpid.fd, &pidfd, err);
	if (pid == 0) {
		close(rp[0]);
		sp_rt_child(&a);
	}
	close(rp[1]);
	rp[1] = -1;
	rt_proc_close_child_ends(stdio, &tty_slave);
	if (pid < 0) {
		rt_proc_release(p);
		goto out;
	}
	c->procs[c->nprocs++] = p;
	if (rt_proc_started(p, pid, pidfd, err) < 0) {
		kill(pid, SIGKILL);
		close(pidfd);
		p->wpid.fd = -1;
		goto out;
	}
	ret = exec_result(rp[0], p, err);
	if (ret < 0) {
		/* Failed before or at execve: the shim never hears of this process. */
		for (size_t i = 0; i < c->nprocs; i++)
			if (c->procs[i] == p) {
				c->procs[i] = c->procs[--c->nprocs];
				break;
			}
		rt_proc_release(p);
	}
out:
	for (int i = 0; i < 2; i++)
		if (rp[i] >= 0)
			close(rp[i]);
	free(pp);
	return ret;
}

/* --- signal, status, remove -------------------------------------------------------------------- */

int sp_rt_signal(const char *cid, const char *exec_id, int sig, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p;

	if (!c)
		return sp_error(err, 0, "container %s not found", cid ? cid : ""), -TT_NOT_FOUND;
	if (sig <= 0 || sig >= 65)
		return sp_error(err, 0, "signal %d is not valid", sig), -TT_INVALID_ARGUMENT;
	if ((!exec_id || !exec_id[0]) && sig == SIGKILL && c->cgfd >= 0) {
		if (sp_cgroup_kill(c->cgfd, err) < 0)
			return -TT_INTERNAL;
		return 0;
	}
	p = rt_proc_find(c, exec_id);
	if (!p)
		return sp_error(err, 0, "process %s not found in %s", exec_id, cid), -TT_NOT_FOUND;
	return rt_proc_signal(p, sig, err) < 0 ? -TT_INTERNAL : 0;
}

int sp_rt_status(const char *cid, const char *exec_id, bool *exited, int *status)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p = c ? rt_proc_find(c, exec_id) : NULL;

	if (!p)
		return -TT_NOT_FOUND;
	*exited = p->exited;
	*status = p->status;
	return 0;
}

int sp_rt_remove(const char *cid, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *init;
	struct sp_err e;

	if (!c)
		return sp_error(err, 0, "container %s not found", cid ? cid : ""), -TT_NOT_FOUND;
	if (c->cgfd >= 0)
		(void)sp_cgroup_kill(c->cgfd, &e);
	for (size_t i = 0; i < c->nprocs; i++) {
		struct rt_proc *p = c->procs[i];

		if (!p->exited && p->wpid.fd >= 0)
			syscall(SYS_pidfd_send_signal, p->wpid.fd, SIGKILL, NULL, 0);
	}
	/* The init dies at once from SIGKILL; reap it so the cgroup empties. */
	init = ctr_init(c);
	if (init)
		reap_failed(init);
	for (size_t i = 1; i < c->nprocs; i++)
		reap_failed(c->procs[i]);
	ctr_drop(c);
	unregister_rootfs(cid); /* the rootfs and the image configuration go with the container */
	sp_runtime_forget_image_config(cid);
	if (rt.cgroups && sp_cgroup_remove(cid, &e) < 0)
		sp_warn("runtime", "container %s: %s", cid, e.msg);
	sp_info("runtime", "container %s removed", cid);
	return 0;
}
