/* Processes in PID 1's loop: the pidfd tells the exit, stdout/stderr are pipes (or the pty
 * master) read only while a ReadStdout/ReadStderr waits, so an unread stream applies the pipe's
 * back-pressure instead of growing PID 1. A read answers empty data (EOF) only once the process
 * has exited and its stream is drained, which is what lets the shim go on to WaitProcess. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "runtime/child.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#define SP_CLONE_INTO_CGROUP 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct clone_args_v2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};

pid_t sp_rt_clone(uint64_t ns_flags, int cgfd, int *pidfd)
{
	struct clone_args_v2 ca;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PIDFD | ns_flags | (cgfd >= 0 ? SP_CLONE_INTO_CGROUP : 0);
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = cgfd >= 0 ? (uint64_t)cgfd : 0;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

/* --- parked calls -------------------------------------------------------------------------- */

static void park_cancel(struct tt_call *call)
{
	rt_park_unlink(call->priv);
}

struct rt_park *rt_park_add(struct rt_plist *l, struct tt_call *call, uint32_t len)
{
	struct rt_park *pk = calloc(1, sizeof(*pk));

	if (!pk)
		return NULL;
	pk->call = call;
	pk->len = len;
	pk->list = l;
	pk->prev = l->tail;
	if (l->tail)
		l->tail->next = pk;
	else
		l->head = pk;
	l->tail = pk;
	tt_call_park(call, park_cancel, pk);
	return pk;
}

static void plist_unlink(struct rt_plist *l, struct rt_park *pk)
{
	if (l->head == pk)
		l->head = pk->next;
	else if (pk->prev)
		pk->prev->next = pk->next;
	if (l->tail == pk)
		l->tail = pk->prev;
	else if (pk->next)
		pk->next->prev = pk->prev;
	free(pk);
}

void rt_park_unlink(struct rt_park *pk)
{
	plist_unlink(pk->list, pk);
}

/* Takes the first parked call off l (the caller answers it). */
static struct tt_call *park_pop(struct rt_plist *l, uint32_t *len)
{
	struct rt_park *pk = l->head;
	struct tt_call *call;

	if (!pk)
		return NULL;
	call = pk->call;
	if (len)
		*len = pk->len;
	plist_unlink(l, pk);
	return call;
}

/* --- lifetime ------------------------------------------------------------------------------ */

static void proc_unref(struct sp_watch *w);

static void proc_put(struct rt_proc *p)
{
	if (--p->refs == 0) {
		free(p->in_buf);
		free(p);
	}
}

static void on_release_pid(struct sp_watch *w)
{
	proc_put((struct rt_proc *)((char *)w - offsetof(struct rt_proc, wpid)));
}

static void on_release_in(struct sp_watch *w)
{
	proc_put((struct rt_proc *)((char *)w - offsetof(struct rt_proc, win)));
}

static void proc_unref(struct sp_watch *w)
{
	proc_put(((struct rt_stream *)w)->p);
}

static void release_watch(struct sp_watch *w)
{
	bool had = w->fd >= 0;

	sp_loop_release(rt.loop, w);
	if (had) {
		close(w->fd);
		w->fd = -1;
	}
}

static void stream_off(struct rt_stream *s)
{
	if (s->in_loop && s->w.fd >= 0)
		epoll_ctl(rt.loop->epfd, EPOLL_CTL_DEL, s->w.fd, NULL);
	s->in_loop = false;
}

static void stream_on(struct rt_stream *s)
{
	struct sp_err err;

	if (s->in_loop || s->w.fd < 0)
		return;
	if (sp_loop_add(rt.loop, &s->w, EPOLLIN, &err) < 0) {
		sp_warn("runtime", "%s", err.msg);
		return;
	}
	s->in_loop = true;
}

static int reply_data(struct tt_call *call, const uint8_t *data, size_t n)
{
	Grpc__ReadStreamResponse r = GRPC__READ_STREAM_RESPONSE__INIT;

	r.data.data = (uint8_t *)data;
	r.data.len = n;
	return tt_call_reply(call, &r.base);
}

/* Answers the readers that can be answered now, in order: data when there is some, empty data
 * (EOF) only once the process has exited and the stream gives nothing more. */
static void stream_serve(struct rt_stream *s)
{
	while (s->readers.head) {
		struct rt_park *pk = s->readers.head;
		struct tt_call *call = pk->call;
		size_t want = pk->len && pk->len < RT_READ_MAX ? pk->len : RT_READ_MAX;

		if (!s->eof && s->w.fd >= 0) {
			uint8_t *buf = malloc(want);
			ssize_t n;

			if (!buf) {
				plist_unlink(&s->readers, pk);
				tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
				continue;
			}
			do
				n = read(s->w.fd, buf, want);
			while (n < 0 && errno == EINTR);
			if (n > 0) {
				plist_unlink(&s->readers, pk);
				reply_data(call, buf, (size_t)n);
				free(buf);
				continue;
			}
			free(buf);
			/* 0, or EIO from a pty master whose slave is gone: the end. */
			if (n == 0 || errno != EAGAIN) {
				s->eof = true;
				stream_off(s);
			}
		}
		if (s->p->exited) {
			plist_unlink(&s->readers, pk);
			reply_data(call, NULL, 0);
			continue;
		}
		if (!s->eof)
			stream_on(s);
		return;
	}
	stream_off(s);
}

static void on_stream(struct sp_watch *w, uint32_t events)
{
	stream_serve((struct rt_stream *)w);
}

static void stdin_flush(struct rt_proc *p);

static void on_stdin(struct sp_watch *w, uint32_t events)
{
	stdin_flush((struct rt_proc *)((char *)w - offsetof(struct rt_proc, win)));
}

/* --- exit ---------------------------------------------------------------------------------- */

static void proc_exited(struct rt_proc *p, int status)
{
	struct tt_call *call;

	if (p->exited)
		return;
	p->exited = true;
	p->status = WIFEXITED(status)	  ? WEXITSTATUS(status)
		    : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
					  : 255;
	sp_info("runtime", "container %s process %s (pid %d) exited with status %d", p->ctr->id,
		p->exec_id, (int)p->pid, p->status);
	if (p->wpid.fd >= 0)
		release_watch(&p->wpid);
	while ((call = park_pop(&p->waiters, NULL))) {
		Grpc__WaitProcessResponse r = GRPC__WAIT_PROCESS_RESPONSE__INIT;

		r.status = p->status;
		p->waited = true;
		tt_call_reply(call, &r.base);
	}
	stream_serve(&p->out);
	stream_serve(&p->err);
	if (p->is_init)
		rt_ctr_init_exited(p->ctr);
}

static void on_pidfd(struct sp_watch *w, uint32_t events)
{
	struct rt_proc *p = (struct rt_proc *)((char *)w - offsetof(struct rt_proc, wpid));
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PIDFD, w->fd, &si, WEXITED | WNOHANG, NULL) < 0 || !si.si_pid) {
		/* Reaped by PID 1's SIGCHLD handler: sp_rt_child_exited() had the status. */
		if (!p->exited && errno == ECHILD)
			proc_exited(p, RT_WEXIT(255)); /* reaped by someone who told nobody */
		return;
	}
	proc_exited(p, si.si_code == CLD_EXITED ? RT_WEXIT(si.si_status) : RT_WSIG(si.si_status));
}

void sp_rt_child_exited(pid_t pid, int status)
{
	for (size_t i = 0; i < rt.nctrs; i++) {
		struct rt_ctr *c = rt.ctrs[i];

		for (size_t k = 0; k < c->nprocs; k++)
			if (c->procs[k]->pid == pid && !c->procs[k]->exited) {
				proc_exited(c->procs[k], status);
				goto out;
			}
	}
out:
	/* The exit may have emptied the cgroup of a removed container. */
	rt_cgroup_gc();
}

/* --- creation ------------------------------------------------------------------------------ */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void rt_proc_close_child_ends(int stdio[3], int *tty_slave)
{
	for (int i = 0; i < 3; i++)
		if (stdio[i] >= 0) {
			close(stdio[i]);
			stdio[i] = -1;
		}
	if (*tty_slave >= 0) {
		close(*tty_slave);
		*tty_slave = -1;
	}
}

static int open_pty(struct rt_proc *p, int *slave, struct sp_err *err)
{
	char name[64];
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return sp_error(err, errno, "open /dev/ptmx");
	if (unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
		close(m);
		return sp_error(err, errno, "unlockpt");
	}
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0) {
		close(m);
		return sp_error(err, errno, "open %s", name);
	}
	p->out.w.fd = m;
	p->tty_master = m;
	p->win.fd = fcntl(m, F_DUPFD_CLOEXEC, 3);
	p->err.eof = true;
	if (p->win.fd < 0 || set_nonblock(m) < 0)
		return sp_error(err, errno, "pty master");
	return 0;
}

struct rt_proc *rt_proc_new(struct rt_ctr *c, const char *exec_id, bool terminal, const int *given,
			    int stdio[3], int *tty_slave, struct sp_err *err)
{
	struct rt_proc *p = calloc(1, sizeof(*p));
	int fds[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };

	stdio[0] = stdio[1] = stdio[2] = -1;
	*tty_slave = -1;
	if (!p) {
		sp_error(err, ENOMEM, "process");
		return NULL;
	}
	(void)snprintf(p->exec_id, sizeof(p->exec_id), "%s", exec_id);
	p->ctr = c;
	p->tty = terminal;
	p->tty_master = -1;
	p->wpid.fd = p->out.w.fd = p->err.w.fd = p->win.fd = -1;
	p->out.p = p->err.p = p;
	p->out.w.on_event = p->err.w.on_event = on_stream;
	p->out.w.on_release = p->err.w.on_release = proc_unref;
	p->wpid.on_event = on_pidfd;
	p->wpid.on_release = on_release_pid;
	p->win.on_event = on_stdin;
	p->win.on_release = on_release_in;
	p->refs = 4;
	if (given) {
		/* The bundle driver's own stdio: nothing for PID 1 to serve. */
		p->out.eof = p->err.eof = true;
		for (int i = 0; i < 3; i++)
			if ((stdio[i] = fcntl(given[i], F_DUPFD_CLOEXEC, 3)) < 0) {
				sp_error(err, errno, "dup stdio");
				goto fail;
			}
		return p;
	}
	if (terminal) {
		if (open_pty(p, tty_slave, err) < 0)
			goto fail;
		return p;
	}
	for (int i = 0; i < 3; i++)
		if (pipe2(fds[i], O_CLOEXEC) < 0) {
			sp_error(err, errno, "pipe2");
			goto fail;
		}
	stdio[0] = fds[0][0];
	p->win.fd = fds[0][1];
	p->out.w.fd = fds[1][0];
	stdio[1] = fds[1][1];
	p->err.w.fd = fds[2][0];
	stdio[2] = fds[2][1];
	if (set_nonblock(p->win.fd) < 0 || set_nonblock(p->out.w.fd) < 0 ||
	    set_nonblock(p->err.w.fd) < 0) {
		sp_error(err, errno, "O_NONBLOCK");
		goto fail;
	}
	return p;
fail:
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++)
			if (fds[i][k] >= 0)
				close(fds[i][k]);
	if (*tty_slave >= 0)
		close(*tty_slave);
	if (p->out.w.fd >= 0 && p->tty)
		close(p->out.w.fd);
	if (p->win.fd >= 0 && p->tty)
		close(p->win.fd);
	for (int i = 0; given && i < 3; i++)
		if (stdio[i] >= 0)
			close(stdio[i]);
	stdio[0] = stdio[1] = stdio[2] = -1;
	*tty_slave = -1;
	free(p);
	return NULL;
}

int rt_proc_started(struct rt_proc *p, pid_t pid, int pidfd, struct sp_err *err)
{
	p->pid = pid;
	p->wpid.fd = pidfd;
	if (sp_loop_add(rt.loop, &p->wpid, EPOLLIN, err) < 0)
		return -1;
	return 0;
}

void rt_proc_release(struct rt_proc *p)
{
	struct tt_call *call;
	struct rt_stream *ss[2] = { &p->out, &p->err };

	if (p->await) { /* an exec still waiting for its report */
		sp_done_fn done = p->done;
		struct sp_err e;

		rt_await_cancel(p->await);
		p->await = NULL;
		p->done = NULL;
		sp_fail(&e, SP_E_NOT_FOUND, 0, "process %s was removed", p->exec_id);
		if (done)
			done(p->done_arg, -1, &e);
	}

	while ((call = park_pop(&p->waiters, NULL)))
		tt_call_failf(call, SP_E_NOT_FOUND, "process %s was removed", p->exec_id);
	for (int i = 0; i < 2; i++) {
		while ((call = park_pop(&ss[i]->readers, NULL)))
			reply_data(call, NULL, 0);
		stream_off(ss[i]);
		release_watch(&ss[i]->w);
	}
	if (p->in_call) {
		tt_call_failf(p->in_call, SP_E_NOT_FOUND, "process %s was removed", p->exec_id);
		p->in_call = NULL;
	}
	release_watch(&p->win);
	release_watch(&p->wpid);
}

/* --- requests ------------------------------------------------------------------------------ */

int rt_proc_read(struct tt_call *call, struct rt_proc *p, bool err_stream, uint32_t len)
{
	struct rt_stream *s = err_stream ? &p->err : &p->out;

	if (!rt_park_add(&s->readers, call, len))
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	stream_serve(s);
	return TT_PARKED;
}

static int reply_written(struct tt_call *call, size_t n)
{
	Grpc__WriteStreamResponse r = GRPC__WRITE_STREAM_RESPONSE__INIT;

	r.len = (uint32_t)n;
	return tt_call_reply(call, &r.base);
}

static void stdin_flush(struct rt_proc *p)
{
	while (p->in_off < p->in_len) {
		ssize_t n = write(p->win.fd, p->in_buf + p->in_off, p->in_len - p->in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			tt_call_failf(p->in_call, SP_E_INTERNAL, "write stdin: %s",
				      strerror(errno));
			goto done;
		}
		p->in_off += (size_t)n;
	}
	reply_written(p->in_call, p->in_len);
done:
	p->in_call = NULL;
	free(p->in_buf);
	p->in_buf = NULL;
	p->in_len = p->in_off = 0;
	if (p->win_in_loop) {
		epoll_ctl(rt.loop->epfd, EPOLL_CTL_DEL, p->win.fd, NULL);
		p->win_in_loop = false;
	}
	if (p->close_in_after)
		rt_proc_close_stdin(p);
}

static void stdin_cancel(struct tt_call *call)
{
	struct rt_proc *p = call->priv;

	p->in_call = NULL;
	free(p->in_buf);
	p->in_buf = NULL;
	p->in_len = p->in_off = 0;
}

int rt_proc_write(struct tt_call *call, struct rt_proc *p, const uint8_t *data, size_t len)
{
	struct sp_err err;

	if (p->win.fd < 0 || p->close_in_after)
		return tt_call_failf(call, SP_E_PRECONDITION, "stdin of %s is closed", p->exec_id);
	if (p->in_call)
		return tt_call_failf(call, SP_E_EXHAUSTED,
				     "a write to stdin of %s is still pending", p->exec_id);
	if (len == 0)
		return reply_written(call, 0);
	p->in_buf = malloc(len);
	if (!p->in_buf)
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	memcpy(p->in_buf, data, len);
	p->in_len = len;
	p->in_off = 0;
	p->in_call = call;
	stdin_flush(p);
	if (!p->in_call)
		return TT_DONE; /* answered */
	tt_call_park(call, stdin_cancel, p);
	if (sp_loop_add(rt.loop, &p->win, EPOLLOUT, &err) == 0)
		p->win_in_loop = true;
	return TT_PARKED;
}

void rt_proc_close_stdin(struct rt_proc *p)
{
	if (p->in_call) {
		p->close_in_after = true;
		return;
	}
	if (p->win.fd >= 0) {
		if (p->win_in_loop)
			epoll_ctl(rt.loop->epfd, EPOLL_CTL_DEL, p->win.fd, NULL);
		p->win_in_loop = false;
		close(p->win.fd);
		p->win.fd = -1;
	}
}

int rt_proc_wait(struct tt_call *call, struct rt_proc *p)
{
	if (p->exited) {
		Grpc__WaitProcessResponse r = GRPC__WAIT_PROCESS_RESPONSE__INIT;

		r.status = p->status;
		p->waited = true;
		return tt_call_reply(call, &r.base);
	}
	if (!rt_park_add(&p->waiters, call, 0))
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	return TT_PARKED;
}

/* True when the process catches sig (SigCgt in /proc/<pid>/status). */
static bool catches(pid_t pid, int sig)
{
	char path[64], buf[4096];
	cleanup_close int fd = -1;
	ssize_t n;
	const char *l;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* cannot tell: do not escalate */
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	l = strstr(buf, "SigCgt:");
	if (!l)
		return true;
	return (strtoull(l + 7, NULL, 16) >> (sig - 1)) & 1;
}

int rt_proc_signal(struct rt_proc *p, int sig, struct sp_err *err)
{
	if (p->exited || p->wpid.fd < 0)
		return 0; /* ESRCH is swallowed, as Kata does */
	if (sig == SIGTERM && p->is_init && !catches(p->pid, SIGTERM))
		sig = SIGKILL;
	if (syscall(SYS_pidfd_send_signal, p->wpid.fd, sig, NULL, 0) < 0 && errno != ESRCH)
		return sp_error(err, errno, "signal %d to %s", sig, p->exec_id);
	return 0;
}
