/* Format and teardown workers: child processes of PID 1 that do the blocking work (libcryptsetup,
 * mke2fs, mount, umount) and report one fixed-size message over a pipe that PID 1's loop
 * watches, so the control port keeps answering meanwhile. PID 1's reaper collects the exit; the
 * report (or its absence at EOF) is what counts.
 *
 * A worker keeps only the capabilities the work needs (sp_storage_worker_caps), in every set
 * including the bounding set, so mke2fs, which it executes, gets no more; and no_new_privs.
 * SYS_ADMIN: the device-mapper ioctls, mount and umount. MKNOD: libdevmapper makes the
 * /dev/mapper node (without it, measured with tests/integration/test_storage.py, activation
 * fails with "Block device required"). CHOWN is not needed (measured: the node stays 0:0).
 * IPC_LOCK: the tests pass without it, but mlockall(MCL_FUTURE) of the worker (format.c) would
 * then be bounded by RLIMIT_MEMLOCK and a larger format could fail. No seccomp filter:
 * libcryptsetup, libdevmapper and mke2fs between them use too wide a set of calls for a list to
 * mean much, and the worker parses no network bytes (its inputs are PID 1's validated request
 * and the disk). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/caps.h"
#include "lib/log.h"
#include "storage/storage_int.h"

struct report {
	int32_t ret;
	struct sp_fmt_times t;
	char msg[256];
};

struct sp_fmt_job {
	struct sp_watch watch;
	struct sp_loop *loop;
	sp_fmt_done_fn done;
	void *arg;
	struct sp_fmt_req req;
	bool teardown, abandoned, reported;
	struct report rep;
	size_t got;
};

#define CAPBIT(c) (1ull << (c))
const uint64_t sp_storage_worker_caps = CAPBIT(CAP_SYS_ADMIN) | CAPBIT(CAP_IPC_LOCK) |
					CAPBIT(CAP_MKNOD);

int sp_storage_narrow_caps(uint64_t keep)
{
	return sp_caps_narrow(keep);
}

__attribute__((noreturn)) static void worker_main(int fd, const struct sp_fmt_req *r, bool teardown)
{
	struct report rep;
	struct sp_err err = { 0 };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* Hold none of PID 1's sockets and pipes: a connection PID 1 closes must not stay open
	 * here. The report pipe moves to fd 3. */
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(1);
		fd = 3;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* not for mke2fs */
	(void)syscall(SYS_close_range, 4u, ~0u, 0u);
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&rep, 0, sizeof(rep));
	if (sp_storage_narrow_caps(sp_storage_worker_caps) < 0) {
		rep.ret = sp_error(&err, errno, "storage.%s: drop capabilities",
				   teardown ? "release" : "format");
		memcpy(rep.msg, err.msg, sizeof(rep.msg));
		rep.msg[sizeof(rep.msg) - 1] = '\0';
		(void)sp_write_all(fd, &rep, sizeof(rep));
		_exit(1);
	}
	rep.ret = teardown ? sp_storage_teardown(r->target, r->dm_name, &err)
			   : sp_storage_format(r, &rep.t, &err);
	if (rep.ret < 0)
		memcpy(rep.msg, err.msg, sizeof(rep.msg));
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	(void)sp_write_all(fd, &rep, sizeof(rep));
	_exit(rep.ret < 0 ? 1 : 0);
}

static void finish(struct sp_fmt_job *w)
{
	struct sp_err err = { 0 };
	int ret = 0;

	if (w->got == sizeof(w->rep)) {
		ret = w->rep.ret < 0 ? -1 : 0;
		memcpy(err.msg, w->rep.msg, sizeof(err.msg));
		err.msg[sizeof(err.msg) - 1] = '\0';
	} else {
		ret = -1;
		sp_error(&err, 0, "storage.%s: the worker died before it reported",
			 w->teardown ? "release" : "format");
	}
	w->reported = true;
	if (w->abandoned) {
		/* Nobody wants what it made: take it apart again. */
		if (!w->teardown && ret == 0) {
			struct sp_err e2;

			if (!sp_fmt_start(w->loop, &w->req, true, NULL, NULL, &e2))
				sp_warn("storage", "%s", e2.msg);
		}
	} else if (w->done) {
		w->done(w->arg, ret, &err, &w->rep.t);
	}
	sp_loop_release(w->loop, &w->watch);
}

static void on_event(struct sp_watch *watch, uint32_t events)
{
	struct sp_fmt_job *w = (struct sp_fmt_job *)watch;

	for (;;) {
		ssize_t n;

		if (w->got == sizeof(w->rep))
			break;
		n = read(watch->fd, (char *)&w->rep + w->got, sizeof(w->rep) - w->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return; /* more later */
		if (n <= 0)
			break;
		w->got += (size_t)n;
	}
	if (!w->reported)
		finish(w);
}

static void on_release(struct sp_watch *watch)
{
	close(watch->fd);
	free(watch);
}

struct sp_fmt_job *sp_fmt_start(struct sp_loop *loop, const struct sp_fmt_req *r, bool teardown,
				sp_fmt_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_fmt_job *w = calloc(1, sizeof(*w));
	int fds[2];
	pid_t pid;

	if (!w) {
		sp_error(err, ENOMEM, "storage: worker");
		return NULL;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		sp_error(err, errno, "storage: pipe");
		free(w);
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		sp_error(err, errno, "storage: fork");
		close(fds[0]);
		close(fds[1]);
		free(w);
		return NULL;
	}
	if (pid == 0) {
		close(fds[0]);
		(void)fcntl(fds[1], F_SETFL, 0);
		worker_main(fds[1], r, teardown);
	}
	close(fds[1]);
	w->watch.fd = fds[0];
	w->watch.on_event = on_event;
	w->watch.on_release = on_release;
	w->loop = loop;
	w->done = done;
	w->arg = arg;
	w->req = *r;
	w->teardown = teardown;
	if (sp_loop_add(loop, &w->watch, EPOLLIN, err) < 0) {
		close(fds[0]);
		free(w);
		return NULL; /* the child still runs; its report goes nowhere */
	}
	return w;
}

void sp_fmt_abandon(struct sp_fmt_job *w)
{
	if (w && !w->reported)
		w->abandoned = true;
}
