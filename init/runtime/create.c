/* Creating a container: plan (the spec filtered, the pin, the secrets' mounts), allocate (the
 * record, its cgroup, its init's stdio and pipes), spawn (clone3 into its namespaces) and await
 * (the init's setup report on the loop: PID 1 never blocks on it). The init then holds before
 * exec until StartContainer (container.c). */
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
#include "lib/pathat.h"
#include "runtime/child.h"

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
	free(c->env);
	free(c);
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

/* The rootfs at Root.Path must be, now, the very mount the guest prepared for the container (a
 * string is not enough: another mount could sit there or beneath it); the child binds only that
 * directory (rootfs.c). Then the policy's pin_process_to_image against the configuration of the
 * pulled image, and the binds against what the image holds, read through the same verified fd. */
static int check_root(const struct sp_rt_create *a, struct sp_rt_plan *plan, struct sp_err *err)
{
	cleanup_close int rootfd = -1;
	struct stat st;

	rootfd = sp_open_on_mount(plan->root, a->rootfs ? a->rootfs->mnt_id : 0, err);
	if (rootfd < 0 || fstat(rootfd, &st) < 0) {
		if (rootfd >= 0)
			sp_error(err, errno, "stat %s", plan->root);
		return sp_fail_wrap(err, SP_E_PRECONDITION, "root.path refused");
	}
	plan->root_dev = st.st_dev;
	plan->root_ino = st.st_ino;
	plan->root_verified = true;
	if (!a->pin.enabled)
		return 0;
	if (sp_rt_check_image_pin(a->img, &plan->p, &a->pin, err) < 0)
		return -1;
	return sp_rt_check_pin_mounts(plan, &a->pin, a->mounts_judged, rootfd, err);
}

/* The spec filtered into *out (heap: it is large) with what the policy consented to and, but
 * for the pause, the prepared rootfs verified and the pin checked against it. */
static int plan_checked(const struct sp_rt_create *a, struct sp_rt_plan **out, struct sp_err *err)
{
	cleanup_free struct sp_rt_plan *plan = NULL;
	char prepared[SP_PATH_MAX + 1] = "";

	*out = NULL;
	if (!a->cid || !sp_valid_id(a->cid))
		return sp_fail(err, SP_E_INVALID, 0, "container id is not valid");
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
	if (a->mount_exec)
		sp_rt_plan_allow_exec(plan, a->mount_exec, SP_POLICY_MAX_REQ_MOUNTS);
	if (!a->pause && check_root(a, plan, err) < 0)
		return -1;
	*out = steal_ptr(&plan);
	return 0;
}

int sp_rt_check_create(const struct sp_rt_create *a, struct sp_err *err)
{
	cleanup_free struct sp_rt_plan *plan = NULL;

	return plan_checked(a, &plan, err);
}

/* What the spec may do, as filtered and checked, with the secrets' binds. */
static int plan_create(const struct sp_rt_create *a, struct sp_rt_plan **out, struct sp_err *err)
{
	cleanup_free struct sp_rt_plan *plan = NULL;

	if (a->cid && rt_ctr_find(a->cid))
		return sp_fail(err, SP_E_PRECONDITION, 0, "container %s already exists", a->cid);
	if (plan_checked(a, &plan, err) < 0 || !plan)
		return -1;
	if (plan->p.caps.net_raw_dropped)
		sp_info("runtime",
			"container %s: CAP_NET_RAW dropped from its capabilities (the policy does "
			"not consent to it: allow_privileged_capabilities)",
			a->cid);
	if (!a->pause && sp_rt_secret_mounts(a->secrets, plan, err) < 0)
		return -1;
	if (!rt.ready)
		return sp_fail(err, SP_E_PRECONDITION, 0, "containers run only in the guest");
	if (!rt.cgroups) /* no limits and, above all, no device cgroup */
		return sp_fail(err, SP_E_PRECONDITION, 0,
			       "no container runs without its cgroup: %s", rt.no_cgroup.msg);
	if (rt.nctrs >= SP_RT_MAX_CONTAINERS)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "%d containers already",
			       SP_RT_MAX_CONTAINERS);
	rt_cgroup_gc();
	if (rt_cgroup_pending(a->cid))
		return sp_fail(err, SP_E_PRECONDITION, 0,
			       "container %s: the cgroup of its earlier instance is not empty yet",
			       a->cid);
	if (a->pause && mkdir_p(plan->root) < 0)
		return sp_error(err, errno, "mkdir %s", plan->root);
	*out = steal_ptr(&plan);
	return 0;
}

/* --- create: allocate ---------------------------------------------------------------------------- */

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

#define KEEP_ENV_MAX ((size_t)256 * 1024) /* bytes of an init's environment kept for execs */

/* What an exec into c is compared with (sp_rt_process_facts): the init's user, gids, cwd and,
 * when it is not too large, its environment. */
static void keep_process(struct rt_ctr *c, const struct sp_rt_proc_plan *pp)
{
	const Grpc__Process *p = pp->proc;
	size_t total = 0;
	char *pool;

	c->uid = pp->uid;
	c->gid = pp->gid;
	c->ngids = pp->ngids;
	for (size_t i = 0; i < pp->ngids; i++)
		c->gids[i] = pp->gids[i];
	(void)snprintf(c->cwd, sizeof(c->cwd), "%s", p->cwd && p->cwd[0] ? p->cwd : "/");
	for (size_t i = 0; i < p->n_env && total <= KEEP_ENV_MAX; i++)
		total += sizeof(char *) + strlen(p->env[i]) + 1;
	if (total > KEEP_ENV_MAX || !(c->env = malloc(total ? total : 1)))
		return; /* only an allowed_exec entry can admit an exec's environment then */
	pool = (char *)(c->env + p->n_env);
	for (size_t i = 0; i < p->n_env; i++) {
		size_t l = strlen(p->env[i]) + 1;

		c->env[i] = memcpy(pool, p->env[i], l);
		pool += l;
	}
	c->nenv = p->n_env;
}

/* Frees what alloc_ctr made of c when the spawn does not happen (c is not in the table). */
static void ctr_discard(struct rt_ctr *c, struct rt_spawn *s)
{
	rt_spawn_close(s);
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
		     struct rt_ctr **out, struct rt_spawn *s, struct sp_err *err)
{
	struct rt_ctr *c = NULL;

	if (ctr_new(a->cid, &c, err) < 0 || !c)
		return -1;
	c->pause = a->pause;
	c->nnp = plan->p.no_new_privs;
	c->caps = plan->p.caps;
	c->caps.net_raw_dropped = false; /* said at the create */
	keep_process(c, &plan->p);
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

/* The sandbox's init, whose namespaces a container shares; NULL when there is none alive. */
static struct rt_proc *sandbox_init(void)
{
	struct rt_proc *sb = rt.sandbox ? rt_ctr_init(rt.sandbox) : NULL;

	return sb && !sb->exited ? sb : NULL;
}

static int spawn(struct rt_ctr *c, const struct sp_rt_create *a, const struct sp_rt_plan *plan,
		 struct rt_spawn *s, struct sp_err *err)
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
	/* Co-tenants of one pid namespace: each its own Landlock domain (child.c). */
	c->shared_pidns = ca.own_domain = a->sandbox_pidns && sb;
	pid = rt_clone_child(flags, c->cgfd, a->sandbox_pidns && sb ? sb->wpid.fd : -1, &pidfd,
			     err);
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
		rt_ctr_drop(c);
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
	struct rt_proc *p = rt_ctr_init(c);
	struct sp_err e;

	c->await = NULL;
	if (ret == 0 && rep->stage == SP_RT_STAGE_READY) {
		c->state = CTR_CREATED;
		watch_oom(c);
		if (c->pause)
			rt.sandbox = c;
		sp_info("runtime", "container %s created, init pid %d%s", c->id, (int)p->pid,
			c->pause ? " (sandbox)" : "");
		rt_ctr_report(c, 0, NULL);
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
	rt_ctr_report(c, -1, &e); /* before the drop, which would answer "removed" */
	rt_ctr_drop(c);
}

int sp_rt_create(const struct sp_rt_create *a, sp_done_fn done, void *arg,
		 struct sp_rt_pending **pending, struct sp_err *err)
{
	cleanup_free struct sp_rt_plan *plan = NULL;
	struct rt_spawn s = {
		.stdio = { -1, -1, -1 }, .tty_slave = -1, .rp = { -1, -1 }, .sp = { -1, -1 }
	};
	struct rt_ctr *c = NULL;

	*pending = NULL;
	if (plan_create(a, &plan, err) < 0 || !plan || alloc_ctr(a, plan, &c, &s, err) < 0 || !c ||
	    spawn(c, a, plan, &s, err) < 0)
		return -1;
	c->await = rt_await_report(c->report_fd, RT_REPORT_TIMEOUT_MS, on_setup_report, c, err);
	if (!c->await) {
		rt_ctr_drop(c);
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
	rt_ctr_drop(c);
}
