/* The container table and the lifecycle after creation (create.c): start (release the init,
 * learn whether exec worked), exec, signal, remove. PID 1 stays single-threaded and never waits
 * on a child: a report is awaited on the loop (await.c), and a removed container's cgroup goes
 * once its last process has been reaped. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/power.h"
#include "runtime/child.h"

struct rt_state rt = { .own_pidns = -1 };

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

struct rt_proc *rt_ctr_init(struct rt_ctr *c)
{
	return c->nprocs ? c->procs[0] : NULL;
}

void rt_ctr_init_exited(struct rt_ctr *c)
{
	if (c->state != CTR_SETUP)
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

/* --- cgroups of removed containers ------------------------------------------------------------ */

bool rt_cgroup_pending(const char *cid)
{
	for (size_t i = 0; i < rt.ncg_pending; i++)
		if (strcmp(rt.cg_pending[i], cid) == 0)
			return true;
	return false;
}

void rt_cgroup_gc(void)
{
	for (size_t i = 0; i < rt.ncg_pending;) {
		struct sp_err e;

		if (sp_cgroup_remove(rt.cg_pending[i], &e) < 0 && e.errnum == EBUSY) {
			i++; /* a process is still there: again after the next exit */
			continue;
		}
		memmove(rt.cg_pending[i], rt.cg_pending[--rt.ncg_pending],
			sizeof(rt.cg_pending[0]));
	}
}

/* The cgroup of cid goes now, or once its processes have been reaped. */
static void cg_release(const char *cid)
{
	struct sp_err e;

	if (!rt.cgroups)
		return;
	if (sp_cgroup_remove(cid, &e) == 0 || e.errnum != EBUSY)
		return;
	if (rt.ncg_pending == RT_CG_PENDING) {
		sp_warn("runtime", "container %s: its cgroup stays (%d pending removal)", cid,
			RT_CG_PENDING);
		return;
	}
	(void)snprintf(rt.cg_pending[rt.ncg_pending++], SP_ID_MAX + 1, "%s", cid);
}

/* Answers the create or start waiting on c, if any. */
void rt_ctr_report(struct rt_ctr *c, int ret, const struct sp_err *err)
{
	sp_done_fn done = c->done;

	c->done = NULL;
	if (c->await) {
		rt_await_cancel(c->await);
		c->await = NULL;
	}
	if (done)
		done(c->done_arg, ret, err);
}

/* Takes c out of the table, kills what still runs and frees it after the batch. */
void rt_ctr_drop(struct rt_ctr *c)
{
	struct sp_err e;

	for (size_t i = 0; i < rt.nctrs; i++)
		if (rt.ctrs[i] == c) {
			rt.ctrs[i] = rt.ctrs[--rt.nctrs];
			break;
		}
	if (rt.sandbox == c)
		rt.sandbox = NULL;
	if (c->cgfd >= 0)
		(void)sp_cgroup_kill(c->cgfd, &e);
	for (size_t i = 0; i < c->nprocs; i++) {
		struct rt_proc *p = c->procs[i];

		if (!p->exited && p->wpid.fd >= 0)
			syscall(SYS_pidfd_send_signal, p->wpid.fd, SIGKILL, NULL, 0);
		rt_proc_release(p);
	}
	c->nprocs = 0;
	sp_fail(&e, SP_E_NOT_FOUND, 0, "container %s was removed", c->id);
	rt_ctr_report(c, -1, &e);
	if (c->sync_fd >= 0)
		close(c->sync_fd);
	if (c->report_fd >= 0)
		close(c->report_fd);
	if (c->cgfd >= 0)
		close(c->cgfd);
	c->sync_fd = c->report_fd = c->cgfd = -1;
	cg_release(c->id);
	sp_loop_release(rt.loop, &c->wev);
	if (c->wev.fd >= 0)
		close(c->wev.fd);
	c->wev.fd = -1;
}

/* --- init ------------------------------------------------------------------------------------ */

int sp_rt_init(struct sp_loop *loop, struct sp_err *err)
{
	if (rt.ready)
		return 0;
	if (!loop)
		return sp_error(err, 0, "no event loop");
	rt.loop = loop;
	rt.conf.loop = loop;
	rt.own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (rt.own_pidns < 0)
		return sp_error(err, errno, "open /proc/self/ns/pid");
	if (sp_cgroup_setup_sandbox(&rt.no_cgroup) < 0)
		sp_warn("runtime", "no container will run: %s", rt.no_cgroup.msg);
	else
		rt.cgroups = true;
	rt.ready = true;
	sp_info("runtime", "ready (cgroup v2 %s)", rt.cgroups ? "on" : "off");
	return 0;
}

int sp_runtime_init(const struct sp_runtime_conf *conf, struct sp_err *err)
{
	rt.conf = *conf;
	rt.loop = conf->loop;
	if (!sp_is_pid1()) {
		sp_info("runtime", "no containers: not PID 1 (host test mode)");
		return 0;
	}
	return sp_rt_init(conf->loop, err);
}

bool sp_rt_ready(void)
{
	return rt.ready;
}

/* --- what create and exec share --------------------------------------------------------------- */

void rt_spawn_close(struct rt_spawn *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->rp[i] >= 0)
			close(s->rp[i]);
		if (s->sp[i] >= 0)
			close(s->sp[i]);
		s->rp[i] = s->sp[i] = -1;
	}
	rt_proc_close_child_ends(s->stdio, &s->tty_slave);
}

/* Clones into pidns_of (its pid namespace for our child) when pidns_of >= 0. */
pid_t rt_clone_child(uint64_t flags, int cgfd, int pidns_of, int *pidfd, struct sp_err *err)
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

/* --- start, exec ----------------------------------------------------------------------------- */

/* After the go byte (or for an exec, right away): EOF means execve worked. */
static int exec_result(int ret, const struct sp_rt_report *rep, const struct sp_err *err,
		       struct sp_err *out)
{
	if (ret < 0) {
		*out = *err;
		return -1;
	}
	if (rep->stage == 0)
		return 0;
	sp_fail(out,
		rep->stage != SP_RT_STAGE_EXEC ? SP_E_INTERNAL
		: rep->errnum == ENOENT	       ? SP_E_NOT_FOUND
					       : SP_E_PRECONDITION,
		0, "%s", rep->msg);
	out->errnum = rep->errnum;
	return -1;
}

static void on_start_report(void *arg, int ret, const struct sp_rt_report *rep,
			    const struct sp_err *err)
{
	struct rt_ctr *c = arg;
	struct sp_err e;

	c->await = NULL;
	ret = exec_result(ret, rep, err, &e);
	close(c->report_fd);
	c->report_fd = -1;
	c->state = ret < 0 ? CTR_STOPPED : CTR_RUNNING;
	if (ret == 0)
		sp_info("runtime", "container %s started", c->id);
	rt_ctr_report(c, ret, ret < 0 ? &e : NULL);
}

int sp_rt_start(const char *cid, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p;
	char go = 1;

	if (!c)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "container %s not found", cid ? cid : "");
	p = rt_ctr_init(c);
	if (c->state != CTR_CREATED || !p || p->exited || c->await)
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s is not waiting to start",
			       cid);
	if (write(c->sync_fd, &go, 1) != 1)
		return sp_error(err, errno, "start container %s", cid);
	close(c->sync_fd);
	c->sync_fd = -1;
	c->await = rt_await_report(c->report_fd, RT_REPORT_TIMEOUT_MS, on_start_report, c, err);
	if (!c->await) {
		c->state = CTR_STOPPED;
		return -1;
	}
	c->done = done;
	c->done_arg = arg;
	return SP_PENDING;
}

/* Forgets process p of c (a failed exec: the shim never hears of it). */
static void proc_forget(struct rt_ctr *c, struct rt_proc *p)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (c->procs[i] == p) {
			c->procs[i] = c->procs[--c->nprocs];
			break;
		}
	rt_proc_release(p);
}

static void on_exec_report(void *arg, int ret, const struct sp_rt_report *rep,
			   const struct sp_err *err)
{
	struct rt_proc *p = arg;
	sp_done_fn done = p->done;
	void *done_arg = p->done_arg;
	struct sp_err e;

	p->await = NULL;
	p->done = NULL;
	ret = exec_result(ret, rep, err, &e);
	if (ret < 0)
		proc_forget(p->ctr, p);
	if (done)
		done(done_arg, ret, ret < 0 ? &e : NULL);
}

/* Room for one more process: forgets the oldest exec that exited and was waited for. */
static int make_room(struct rt_ctr *c, struct sp_err *err)
{
	if (c->nprocs < SP_RT_MAX_PROCS)
		return 0;
	for (size_t i = 1; i < c->nprocs; i++)
		if (c->procs[i]->exited && c->procs[i]->waited) {
			rt_proc_release(c->procs[i]);
			memmove(&c->procs[i], &c->procs[i + 1],
				(c->nprocs - i - 1) * sizeof(struct rt_proc *));
			c->nprocs--;
			return 0;
		}
	return sp_fail(err, SP_E_EXHAUSTED, 0, "%d processes in %s already", SP_RT_MAX_PROCS,
		       c->id);
}

static int exec_check(struct rt_ctr *c, const char *cid, const char *exec_id, struct sp_err *err)
{
	struct rt_proc *init;

	if (!c)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "container %s not found", cid ? cid : "");
	if (!exec_id || !sp_valid_id(exec_id))
		return sp_fail(err, SP_E_INVALID, 0, "exec id is not valid");
	init = rt_ctr_init(c);
	if (c->state != CTR_RUNNING || !init || init->exited)
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s is not running", cid);
	if (rt_proc_find(c, exec_id))
		return sp_fail(err, SP_E_PRECONDITION, 0, "process %s already exists in %s",
			       exec_id, cid);
	return make_room(c, err);
}

/* Clones the exec's process into the container; 0 with the process started, -1 with p
 * released. */
static int exec_spawn(struct rt_ctr *c, struct rt_proc *p, const struct sp_rt_proc_plan *pp,
		      int rootfd, struct rt_spawn *s, struct sp_err *err)
{
	struct rt_proc *init = rt_ctr_init(c);
	struct sp_rt_child_args ca = {
		.pp = pp,
		.seccomp = c->seccomp,
		.report_fd = s->rp[1],
		.sync_fd = -1,
		.tty_slave = s->tty_slave,
		.join_pidfd = init->wpid.fd,
		.join_flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
			      (c->cgfd >= 0 ? CLONE_NEWCGROUP : 0),
		.exec_rootfd = rootfd,
		.own_domain = c->shared_pidns,
	};
	int pidfd = -1;
	pid_t pid;

	memcpy(ca.stdio, s->stdio, sizeof(ca.stdio));
	pid = rt_clone_child(0, c->cgfd, init->wpid.fd, &pidfd, err);
	if (pid == 0) {
		close(s->rp[0]);
		sp_rt_child(&ca);
	}
	close(s->rp[1]);
	s->rp[1] = -1;
	rt_proc_close_child_ends(s->stdio, &s->tty_slave);
	if (pid < 0) {
		rt_proc_release(p);
		return -1;
	}
	c->procs[c->nprocs++] = p;
	if (rt_proc_started(p, pid, pidfd, err) < 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
		p->wpid.fd = -1;
		proc_forget(c, p);
		return -1;
	}
	return 0;
}

int sp_rt_exec(const char *cid, const char *exec_id, const Grpc__Process *proc,
	       uint64_t allowed_extra, const int *stdio_given, sp_done_fn done, void *arg,
	       struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	cleanup_free struct sp_rt_proc_plan *pp = NULL;
	struct rt_spawn s = {
		.stdio = { -1, -1, -1 }, .tty_slave = -1, .rp = { -1, -1 }, .sp = { -1, -1 }
	};
	cleanup_close int rootfd = -1;
	struct rt_proc *p;
	char path[64];
	int ret = -1;

	if (exec_check(c, cid, exec_id, err) < 0)
		return -1;
	pp = malloc(sizeof(*pp));
	if (!pp)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "plan");
	if (sp_rt_filter_process(proc, allowed_extra, pp, err) < 0)
		return -1;
	if (!proc->capabilities)
		pp->caps = c->caps;
	/* An exec never widens its container: the Go shim never sends NoNewPrivileges, so a
	 * refusal would refuse every probe of a pod that set allowPrivilegeEscalation: false. */
	pp->no_new_privs = pp->no_new_privs || c->nnp;
	if (pp->caps.net_raw_dropped)
		sp_info("runtime",
			"container %s, exec %s: CAP_NET_RAW dropped from its capabilities (the "
			"policy does not consent to it: allow_privileged_capabilities)",
			cid, exec_id);
	/* The container's root, through the init: valid while the pidfd says it lives. */
	(void)snprintf(path, sizeof(path), "/proc/%d/root", (int)rt_ctr_init(c)->pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || syscall(SYS_pidfd_send_signal, rt_ctr_init(c)->wpid.fd, 0, NULL, 0) < 0)
		return sp_fail(err, SP_E_PRECONDITION, errno, "container %s: its init is gone",
			       cid);
	p = rt_proc_new(c, exec_id, pp->terminal, stdio_given, s.stdio, &s.tty_slave, err);
	if (!p)
		return -1;
	if (pipe2(s.rp, O_CLOEXEC) < 0) {
		sp_error(err, errno, "pipe2");
		rt_proc_close_child_ends(s.stdio, &s.tty_slave);
		rt_proc_release(p);
		return -1;
	}
	if (exec_spawn(c, p, pp, rootfd, &s, err) < 0)
		goto out; /* p is released */
	p->await = rt_await_report(s.rp[0], RT_REPORT_TIMEOUT_MS, on_exec_report, p, err);
	if (!p->await) {
		proc_forget(c, p);
		goto out;
	}
	p->done = done;
	p->done_arg = arg;
	ret = SP_PENDING;
out:
	rt_spawn_close(&s);
	return ret;
}

/* --- signal, status, remove -------------------------------------------------------------------- */

int sp_rt_signal(const char *cid, const char *exec_id, int sig, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p;

	if (!c)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "container %s not found", cid ? cid : "");
	if (sig <= 0 || sig >= 65)
		return sp_fail(err, SP_E_INVALID, 0, "signal %d is not valid", sig);
	if ((!exec_id || !exec_id[0]) && sig == SIGKILL && c->cgfd >= 0)
		return sp_cgroup_kill(c->cgfd, err);
	p = rt_proc_find(c, exec_id);
	if (!p)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "process %s not found in %s", exec_id, cid);
	return rt_proc_signal(p, sig, err);
}

int sp_rt_process_facts(const char *cid, struct sp_policy_ctr *out)
{
	struct rt_ctr *c = rt_ctr_find(cid);

	if (!c)
		return -1;
	*out = (struct sp_policy_ctr){
		.env = (const char *const *)c->env,
		.envc = c->nenv,
		.env_known = c->env != NULL,
		.uid = c->uid,
		.gid = c->gid,
		.gids = c->gids,
		.ngids = c->ngids,
		.cwd = c->cwd,
	};
	return 0;
}

int sp_rt_status(const char *cid, const char *exec_id, bool *exited, int *status)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p = c ? rt_proc_find(c, exec_id) : NULL;

	if (!p)
		return -1;
	*exited = p->exited;
	*status = p->status;
	return 0;
}

int sp_rt_remove(const char *cid, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);

	if (!c)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "container %s not found", cid ? cid : "");
	if (c->state == CTR_SETUP)
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s is still being created",
			       cid);
	/* Killed, not waited for: what the host stalls (a process in D state on a host disk)
	 * must not stall PID 1. The cgroup goes once the reaper has seen the last exit. */
	rt_ctr_drop(c);
	rt_cgroup_gc();
	sp_info("runtime", "container %s removed", cid);
	return 0;
}
