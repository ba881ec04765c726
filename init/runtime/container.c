/* The container table and the lifecycle: create (plan, allocate, spawn the init, which sets
 * everything up and holds before exec; then await its report), start (release it, learn whether
 * exec worked), exec, signal, remove. PID 1 stays single-threaded and never waits on a child: a
 * report is awaited on the loop (await.c), and a removed container's cgroup goes once its last
 * process has been reaped. */
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

#define REPORT_TIMEOUT_MS 20000

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

static struct rt_proc *ctr_init(struct rt_ctr *c)
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

/* --- cgroups of removed containers ------------------------------------------------------------ */

static bool cg_pending(const char *cid)
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
static void ctr_report(struct rt_ctr *c, int ret, const struct sp_err *err)
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
static void ctr_drop(struct rt_ctr *c)
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
	ctr_report(c, -1, &e);
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
	struct sp_err e;

	if (rt.ready)
		return 0;
	if (!loop)
		return sp_error(err, 0, "no event loop");
	rt.loop = loop;
	rt.conf.loop = loop;
	rt.own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (rt.own_pidns < 0)
		return sp_error(err, errno, "open /proc/self/ns/pid");
	if (sp_cgroup_setup_sandbox(&e) < 0)
		sp_warn("runtime", "containers get no cgroup: %s", e.msg);
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

/* --- create: plan -------------------------------------------------------------------------------- */

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

/* The policy's pin_process_to_image against the configuration of the pulled image. */
static int check_pin(const struct sp_rt_create *a, const struct sp_rt_plan *plan,
		     struct sp_err *err)
{
	cleanup_close int rootfd = -1;

	if (!a->pin.enabled)
		return 0;
	rootfd = open(plan->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return sp_rt_check_image_pin(a->img, &plan->p, &a->pin, rootfd, err);
}

/* What the spec may do, as filtered; heap (*out) because it is large. */
static int plan_create(const struct sp_rt_create *a, struct sp_rt_plan **out, struct sp_err *err)
{
	cleanup_free struct sp_rt_plan *plan = NULL;
	char prepared[SP_PATH_MAX + 1] = "";

	if (!a->cid || !sp_valid_id(a->cid))
		return sp_fail(err, SP_E_INVALID, 0, "container id is not valid");
	if (rt_ctr_find(a->cid))
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s already exists", a->cid);
	if (a->pause)
		(void)snprintf(prepared, sizeof(prepared), "/run/kata-containers/%s/rootfs",
			       a->cid);
	else if (a->rootfs)
		(void)snprintf(prepared, sizeof(prepared), "%s", a->rootfs->path);
	plan = malloc(sizeof(*plan));
	if (!plan)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "plan");
	if (sp_rt_filter_spec(a->spec, a->cid, prepared[0] ? prepared : NULL, a->pause,
			      a->allowed_extra, plan, err) < 0)
		return -1;
	if (!a->pause &&
	    (check_pin(a, plan, err) < 0 || sp_rt_secret_mounts(a->secrets, plan, err) < 0))
		return -1;
	if (!rt.ready)
		return sp_fail(err, SP_E_PRECONDITION, 0, "containers run only in the guest");
	if (rt.nctrs >= SP_RT_MAX_CONTAINERS)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "%d containers already",
			       SP_RT_MAX_CONTAINERS);
	rt_cgroup_gc();
	if (cg_pending(a->cid))
		return sp_fail(err, SP_E_PRECONDITION, 0,
			       "container %s: the cgroup of its earlier instance is not empty yet",
			       a->cid);
	if (a->pause && mkdir_p(plan->root) < 0)
		return sp_error(err, errno, "mkdir %s", plan->root);
	*out = steal_ptr(&plan);
	return 0;
}

/* --- create: allocate ---------------------------------------------------------------------------- */

/* What the spawn needs besides the container: the init's ends of its pipes. */
struct spawn {
	struct rt_proc *p;
	int stdio[3], tty_slave;
	int rp[2], sp[2]; /* report pipe (child writes), sync pipe (child reads) */
};

static void spawn_close(struct spawn *s)
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

static int ctr_new(const char *cid, struct rt_ctr **out, struct sp_err *err)
{
	struct rt_ctr *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "container");
	(void)snprintf(c->id, sizeof(c->id), "%s", cid);
	c->cgfd = c->sync_fd = c->report_fd = c->wev.fd = -1;
	c->wev.on_event = on_mem_events;
	c->wev.on_release = ctr_free;
	c->state = CTR_SETUP;
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

/* Frees what alloc_ctr made of c when the spawn does not happen (c is not in the table). */
static void ctr_discard(struct rt_ctr *c, struct spawn *s)
{
	spawn_close(s);
	if (s->p)
		rt_proc_release(s->p);
	if (c->cgfd >= 0) {
		close(c->cgfd);
		c->cgfd = -1;
		(void)sp_cgroup_remove(c->id, &(struct sp_err){ 0 });
	}
	sp_loop_release(rt.loop, &c->wev); /* frees c after the batch */
}

static int alloc_ctr(const struct sp_rt_create *a, const struct sp_rt_plan *plan,
		     struct rt_ctr **out, struct spawn *s, struct sp_err *err)
{
	struct rt_ctr *c = NULL;

	if (ctr_new(a->cid, &c, err) < 0 || !c)
		return -1;
	c->pause = a->pause;
	c->nnp = plan->p.no_new_privs;
	(void)snprintf(c->root, sizeof(c->root), "%s", plan->root);
	for (size_t i = 0; i < plan->nmounts; i++)
		if (plan->mounts[i].kind == MK_BIND &&
		    strcmp(plan->mounts[i].dest, RT_TERMINATION_LOG) == 0)
			(void)snprintf(c->termlog, sizeof(c->termlog), "%s",
				       plan->mounts[i].source);
	if ((rt.cgroups && sp_cgroup_create(a->cid, &plan->limits, &c->cgfd, err) < 0) ||
	    !(s->p = rt_proc_new(c, a->cid, plan->p.terminal, a->stdio, s->stdio, &s->tty_slave,
				 err))) {
		ctr_discard(c, s);
		return -1;
	}
	s->p->is_init = true;
	if (pipe2(s->rp, O_CLOEXEC) < 0 || pipe2(s->sp, O_CLOEXEC) < 0) {
		sp_error(err, errno, "pipe2");
		ctr_discard(c, s);
		return -1;
	}
	copy_seccomp(c, plan->seccomp);
	*out = c;
	return 0;
}

/* --- create: spawn ----------------------------------------------------------------------------- */

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

/* The sandbox's init, whose namespaces a container shares; NULL when there is none alive. */
static struct rt_proc *sandbox_init(void)
{
	struct rt_proc *sb = rt.sandbox ? ctr_init(rt.sandbox) : NULL;

	return sb && !sb->exited ? sb : NULL;
}

static int spawn(struct rt_ctr *c, const struct sp_rt_create *a, const struct sp_rt_plan *plan,
		 struct spawn *s, struct sp_err *err)
{
	struct rt_proc *sb = sandbox_init();
	struct sp_rt_child_args ca = {
		.plan = plan,
		.pp = &plan->p,
		.seccomp = plan->seccomp,
		.report_fd = s->rp[1],
		.sync_fd = s->sp[0],
		.tty_slave = s->tty_slave,
		.join_pidfd = -1,
		.exec_rootfd = -1,
	};
	uint64_t flags = CLONE_NEWNS | (c->cgfd >= 0 ? CLONE_NEWCGROUP : 0);
	int pidfd = -1;
	pid_t pid;

	memcpy(ca.stdio, s->stdio, sizeof(ca.stdio));
	if (sb) {
		/* ipc and uts are the sandbox's, as Kata shares them per pod. */
		ca.join_pidfd = sb->wpid.fd;
		ca.join_flags = CLONE_NEWIPC | CLONE_NEWUTS;
	} else {
		flags |= CLONE_NEWIPC | CLONE_NEWUTS;
	}
	if (!(a->sandbox_pidns && sb))
		flags |= CLONE_NEWPID;
	pid = clone_child(flags, c->cgfd, a->sandbox_pidns && sb ? sb->wpid.fd : -1, &pidfd, err);
	if (pid == 0) {
		close(s->rp[0]);
		close(s->sp[1]);
		sp_rt_child(&ca);
	}
	close(s->rp[1]);
	close(s->sp[0]);
	s->rp[1] = s->sp[0] = -1;
	rt_proc_close_child_ends(s->stdio, &s->tty_slave);
	if (pid < 0) {
		ctr_discard(c, s);
		return -1;
	}
	c->report_fd = steal_fd(&s->rp[0]);
	c->sync_fd = steal_fd(&s->sp[1]);
	c->procs[c->nprocs++] = s->p;
	rt.ctrs[rt.nctrs++] = c;
	if (rt_proc_started(s->p, pid, pidfd, err) < 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		close(pidfd);
		s->p->wpid.fd = -1;
		ctr_drop(c);
		return -1;
	}
	return 0;
}

/* --- create: await ------------------------------------------------------------------------------ */

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

/* The init's setup report: READY, or why it failed (then it is killed and forgotten). */
static void on_setup_report(void *arg, int ret, const struct sp_rt_report *rep,
			    const struct sp_err *err)
{
	struct rt_ctr *c = arg;
	struct rt_proc *p = ctr_init(c);
	struct sp_err e;

	c->await = NULL;
	if (ret == 0 && rep->stage == SP_RT_STAGE_READY) {
		c->state = CTR_CREATED;
		watch_oom(c);
		if (c->pause)
			rt.sandbox = c;
		sp_info("runtime", "container %s created, init pid %d%s", c->id, (int)p->pid,
			c->pause ? " (sandbox)" : "");
		ctr_report(c, 0, NULL);
		return;
	}
	if (ret < 0)
		e = *err;
	else if (rep->stage == SP_RT_STAGE_ERROR)
		sp_error(&e, 0, "%s", rep->msg);
	else
		sp_error(&e, 0, "container setup failed without a report");
	if (ret == 0 && rep->stage == SP_RT_STAGE_ERROR)
		e.errnum = rep->errnum;
	ctr_report(c, -1, &e); /* before the drop, which would answer "removed" */
	ctr_drop(c);
}

int sp_rt_create(const struct sp_rt_create *a, sp_done_fn done, void *arg,
		 struct sp_rt_pending **pending, struct sp_err *err)
{
	cleanup_free struct sp_rt_plan *plan = NULL;
	struct spawn s = {
		.stdio = { -1, -1, -1 }, .tty_slave = -1, .rp = { -1, -1 }, .sp = { -1, -1 }
	};
	struct rt_ctr *c = NULL;

	*pending = NULL;
	if (plan_create(a, &plan, err) < 0 || !plan || alloc_ctr(a, plan, &c, &s, err) < 0 ||
	    !c || spawn(c, a, plan, &s, err) < 0)
		return -1;
	c->await = rt_await_report(c->report_fd, REPORT_TIMEOUT_MS, on_setup_report, c, err);
	if (!c->await) {
		ctr_drop(c);
		return -1;
	}
	c->done = done;
	c->done_arg = arg;
	*pending = (struct sp_rt_pending *)c;
	return SP_PENDING;
}

void sp_rt_create_cancel(struct sp_rt_pending *pending)
{
	struct rt_ctr *c = (struct rt_ctr *)pending;

	if (!c || c->state != CTR_SETUP)
		return;
	c->done = NULL; /* the caller went away: nobody to tell */
	ctr_drop(c);
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
	ctr_report(c, ret, ret < 0 ? &e : NULL);
}

int sp_rt_start(const char *cid, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p;
	char go = 1;

	if (!c)
		return sp_fail(err, SP_E_NOT_FOUND, 0, "container %s not found", cid ? cid : "");
	p = ctr_init(c);
	if (c->state != CTR_CREATED || !p || p->exited || c->await)
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s is not waiting to start",
			       cid);
	if (write(c->sync_fd, &go, 1) != 1)
		return sp_error(err, errno, "start container %s", cid);
	close(c->sync_fd);
	c->sync_fd = -1;
	c->await = rt_await_report(c->report_fd, REPORT_TIMEOUT_MS, on_start_report, c, err);
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
	init = ctr_init(c);
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
		      int rootfd, struct spawn *s, struct sp_err *err)
{
	struct rt_proc *init = ctr_init(c);
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
	};
	int pidfd = -1;
	pid_t pid;

	memcpy(ca.stdio, s->stdio, sizeof(ca.stdio));
	pid = clone_child(0, c->cgfd, init->wpid.fd, &pidfd, err);
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
	struct spawn s = {
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
	/* The container's root, through the init: valid while the pidfd says it lives. */
	(void)snprintf(path, sizeof(path), "/proc/%d/root", (int)ctr_init(c)->pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || syscall(SYS_pidfd_send_signal, ctr_init(c)->wpid.fd, 0, NULL, 0) < 0)
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
	p->await = rt_await_report(s.rp[0], REPORT_TIMEOUT_MS, on_exec_report, p, err);
	if (!p->await) {
		proc_forget(c, p);
		goto out;
	}
	p->done = done;
	p->done_arg = arg;
	ret = SP_PENDING;
out:
	spawn_close(&s);
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
	ctr_drop(c);
	rt_cgroup_gc();
	sp_info("runtime", "container %s removed", cid);
	return 0;
}
