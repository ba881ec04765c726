/* Worker processes (worker.h): the spawn (fork, confine, execveat of /init), the worker's side
 * of the exec (sp_worker_main) and a worker watched on PID 1's loop.
 *
 * The worker's argv is {"sealpod-worker", "--worker", <name>, <nfds>, <parent pid>, <flags>};
 * flags: 'c' confined, 'k' /dev/kmsg passed, 'd' debug logging. The parent's pid lets the
 * worker notice a parent that died before PR_SET_PDEATHSIG was in place. Its environment is
 * empty (PID 1's comes from the host's kernel command line), but for the sanitizers' options in
 * host builds. */
#define _GNU_SOURCE
#include "lib/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"

#define HDR	      sizeof(struct sp_frame_hdr)
#define QUEUE_DEFAULT ((size_t)1 << 20)
#define HIGH_FD	      64 /* above every fd the worker's layout uses */

static int exe_fd = -1;

int sp_worker_set_exe(const char *path, struct sp_err *err)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return sp_error(err, errno, "worker: open %s", path);
	if (exe_fd >= 0)
		close(exe_fd);
	exe_fd = fd;
	return 0;
}

/* --- the child, between fork and exec ---------------------------------------------------------- */

static void reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL); /* fails harmlessly for KILL, STOP, libc's own */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* want[0..n) to fds 3.. in order (the last, the exe, close-on-exec); everything else above 2
 * closed. Two passes, so that a wanted fd is never overwritten before it moved. */
static int place_fds(const int *want, size_t n)
{
	int tmp[SP_WORKER_MAX_FDS + 3];

	for (size_t i = 0; i < n; i++)
		if ((tmp[i] = fcntl(want[i], F_DUPFD_CLOEXEC, HIGH_FD)) < 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		if (dup3(tmp[i], SP_WORKER_FD + (int)i, i + 1 == n ? O_CLOEXEC : 0) < 0)
			return -1;
	return (int)syscall(SYS_close_range, (unsigned)(SP_WORKER_FD + (int)n), ~0u, 0u);
}

static __attribute__((noreturn)) void child_fail(int fd, int status, int errnum, const char *what,
						 const struct sp_err *e)
{
	struct sp_err err;

	if (e)
		err = *e;
	else
		sp_error(&err, errnum, "worker: %s", what);
	(void)sp_frame_send_err(fd, 0, &err);
	_exit(status);
}

static char **worker_env(char **env, size_t cap)
{
	extern char **environ;
	size_t n = 0;

	for (char **e = environ; e && *e && n + 1 < cap; e++)
		if (!strncmp(*e, "ASAN_OPTIONS=", 13) || !strncmp(*e, "UBSAN_OPTIONS=", 14) ||
		    !strncmp(*e, "LSAN_OPTIONS=", 13))
			env[n++] = *e;
	env[n] = NULL;
	return env;
}

static __attribute__((noreturn)) void child(const struct sp_worker_def *def,
					    const struct sp_spawn_opts *o, int sock, pid_t ppid)
{
	int want[SP_WORKER_MAX_FDS + 3], kmsg = sp_log_kmsg_fd();
	char nfds[16], parent[16], flags[8], *env[4];
	char *argv[] = {
		"sealpod-worker", "--worker", (char *)def->name, nfds, parent, flags, NULL
	};
	size_t n = 0, f = 0;
	struct sp_err err;

	reset_signals();
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ppid)
		_exit(1);
	want[n++] = sock;
	if (kmsg >= 0)
		want[n++] = kmsg;
	for (size_t i = 0; i < o->nfds; i++)
		want[n++] = o->fds[i];
	want[n++] = exe_fd;
	if (place_fds(want, n) < 0)
		child_fail(sock, 126, errno, "arrange the fds", NULL);
	if (!o->unconfined)
		flags[f++] = 'c';
	if (kmsg >= 0)
		flags[f++] = 'k';
	if (sp_log_get_level() >= SP_LOG_DEBUG)
		flags[f++] = 'd';
	flags[f] = '\0';
	(void)snprintf(nfds, sizeof(nfds), "%zu", o->nfds);
	(void)snprintf(parent, sizeof(parent), "%d", (int)ppid);
	if (!o->unconfined && def->confine && sp_confine_child(def->confine, &err) < 0)
		child_fail(SP_WORKER_FD, 126, 0, NULL, &err);
	syscall(SYS_execveat, SP_WORKER_FD + (int)n - 1, "", argv, worker_env(env, 4),
		AT_EMPTY_PATH);
	child_fail(SP_WORKER_FD, 127, errno, "exec /init", NULL);
}

int sp_worker_spawn(const struct sp_worker_def *def, const struct sp_spawn_opts *o,
		    struct sp_child *c, struct sp_err *err)
{
	static const struct sp_spawn_opts none;
	pid_t ppid = getpid();
	int sv[2];

	c->pid = -1, c->fd = c->pidfd = -1;
	o = o ? o : &none;
	if (o->nfds > SP_WORKER_MAX_FDS)
		return sp_error(err, EINVAL, "worker %s: %zu fds", def->name, o->nfds);
	if (exe_fd < 0 && sp_worker_set_exe("/proc/self/exe", err) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return sp_error(err, errno, "worker %s: socketpair", def->name);
	c->pid = fork();
	if (c->pid == 0)
		child(def, o, sv[1], ppid);
	close(sv[1]);
	if (c->pid < 0) {
		close(sv[0]);
		return sp_error(err, errno, "worker %s: fork", def->name);
	}
	c->fd = sv[0];
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (c->pidfd < 0) {
		int e = errno;

		/* Not reaped yet (the caller has not waited): the pid is still this child's. Its
		 * parent's reaper collects it; nothing here waits (PID 1 never does). */
		(void)kill(c->pid, SIGKILL);
		close(steal_fd(&c->fd));
		c->pid = -1;
		return sp_error(err, e, "worker %s: pidfd_open", def->name);
	}
	return 0;
}

void sp_child_kill(const struct sp_child *c)
{
	if (c->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
}

int sp_child_reap(struct sp_child *c)
{
	int status = -1;

	if (c->fd >= 0)
		close(steal_fd(&c->fd));
	if (c->pidfd >= 0)
		close(steal_fd(&c->pidfd));
	if (c->pid > 0) {
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
		c->pid = -1;
	}
	return status;
}

/* --- the worker, after the exec ---------------------------------------------------------------- */

static const struct sp_worker_def *find_def(const char *name,
					    const struct sp_worker_def *const *defs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (defs[i] && strcmp(defs[i]->name, name) == 0)
			return defs[i];
	return NULL;
}

void sp_worker_main(int argc, char **argv, const struct sp_worker_def *const *defs, size_t n)
{
	int fds[SP_WORKER_MAX_FDS];
	struct sp_worker_ctx ctx = { .fd = SP_WORKER_FD };
	struct sp_err err;
	char *end;
	long nfds, ppid;
	int next = SP_WORKER_FD + 1;

	if (argc != 6 || strcmp(argv[1], "--worker") != 0 || getpid() == 1)
		return;
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* the exec made us dumpable again */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	nfds = strtol(argv[3], &end, 10);
	ppid = strtol(argv[4], NULL, 10);
	ctx.def = find_def(argv[2], defs, n);
	if (*end || nfds < 0 || nfds > SP_WORKER_MAX_FDS || getppid() != (pid_t)ppid)
		_exit(1);
	if (!ctx.def)
		child_fail(SP_WORKER_FD, 127, 0, "no such worker in this binary", NULL);
	/* Not for what the worker execs (mke2fs): it passes on what it means to. */
	for (int fd = SP_WORKER_FD; fd < next + (strchr(argv[5], 'k') ? 1 : 0) + (int)nfds; fd++)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	sp_log_set_sinks(2, strchr(argv[5], 'k') ? next++ : -1);
	sp_log_set_level(strchr(argv[5], 'd') ? SP_LOG_DEBUG : SP_LOG_INFO);
	for (long i = 0; i < nfds; i++)
		fds[i] = next++;
	ctx.fds = fds;
	ctx.nfds = (size_t)nfds;
	ctx.confined = strchr(argv[5], 'c') != NULL;
	if (ctx.confined && ctx.def->confine && sp_confine_self(ctx.def->confine, &err) < 0)
		child_fail(SP_WORKER_FD, 126, 0, NULL, &err);
	/* _exit: nothing of a worker's is flushed at exit, and the sanitizers' exit hooks cannot
	 * work under its seccomp filter. */
	_exit(ctx.def->main(&ctx) & 0xff);
}

/* --- a worker on PID 1's loop ------------------------------------------------------------------ */

struct sp_worker {
	struct sp_watch sock; /* the socket: frames in, queued frames out */
	struct sp_watch exit; /* the pidfd: readable once the process exited */
	struct sp_loop *loop;
	const struct sp_worker_def *def;
	sp_worker_frame_fn on_frame;
	sp_done_fn done;
	void *arg;
	pid_t pid;
	struct sp_frame_rx rx;
	uint8_t *out; /* frames the socket has not taken yet */
	size_t out_len, out_cap;
	bool eof, exited, reported, cancelled, failed;
	int watches; /* not yet released: the handle goes with the last */
	struct sp_err why;
};

#define OF(p, field) ((struct sp_worker *)(void *)((char *)(p)-offsetof(struct sp_worker, field)))

static void w_free(struct sp_worker *w)
{
	sp_frame_rx_free(&w->rx);
	if (w->out && w->def->secret)
		explicit_bzero(w->out, w->out_cap);
	free(w->out);
	free(w);
}

static void release_watch(struct sp_worker *w, struct sp_watch *watch)
{
	if (watch->fd >= 0)
		close(steal_fd(&watch->fd));
	if (--w->watches == 0)
		w_free(w);
}

static void on_sock_release(struct sp_watch *watch)
{
	release_watch(OF(watch, sock), watch);
}

static void on_exit_release(struct sp_watch *watch)
{
	release_watch(OF(watch, exit), watch);
}

static void kill_now(struct sp_worker *w)
{
	if (w->exit.fd >= 0 && !w->exited)
		(void)syscall(SYS_pidfd_send_signal, w->exit.fd, SIGKILL, NULL, 0);
}

static void maybe_done(struct sp_worker *w)
{
	if (!w->eof || !w->exited || w->reported)
		return;
	w->reported = true;
	if (!w->cancelled && w->done)
		w->done(w->arg, w->failed ? -1 : 0, w->failed ? &w->why : NULL);
}

/* Nothing more can come: a worker that closed its socket but lives on is killed, so that it is
 * gone and done comes. */
static void sock_gone(struct sp_worker *w)
{
	if (w->eof)
		return;
	w->eof = true;
	sp_loop_release(w->loop, &w->sock);
	kill_now(w);
	maybe_done(w);
}

/* The worker broke the protocol (or the caller said so): it is killed, nothing more is read. */
static void fail(struct sp_worker *w, const struct sp_err *err)
{
	if (!w->failed) {
		w->failed = true;
		w->why = *err;
	}
	kill_now(w);
	sock_gone(w);
}

static void fail_msg(struct sp_worker *w, int errnum, const char *what)
{
	struct sp_err err;

	sp_error(&err, errnum, "worker %s: %s", w->def->name, what);
	fail(w, &err);
}

/* Hands every whole frame buffered to the caller. -1 when reading must stop. */
static int deliver(struct sp_worker *w)
{
	const uint8_t *p;
	uint32_t type, len;
	struct sp_err err = { 0 };
	int r;

	while ((r = sp_frame_next(&w->rx, &type, &p, &len, &err)) == 1) {
		if (w->cancelled)
			continue; /* drained until EOF, delivered to nobody */
		if (w->on_frame && w->on_frame(w->arg, type, p, len, &err) < 0) {
			fail(w, &err);
			return -1;
		}
		if (w->eof)
			return -1;
	}
	if (r < 0) {
		(void)sp_error_wrap(&err, "worker %s", w->def->name);
		fail(w, &err);
		return -1;
	}
	return 0;
}

static void read_frames(struct sp_worker *w)
{
	/* A bounded number of reads per wake-up: a worker that floods PID 1 cannot keep the
	 * loop from the other watches (epoll is level-triggered: the rest comes next time). */
	for (int i = 0; i < 16 && !w->eof; i++) {
		size_t room = w->rx.cap - w->rx.end;
		ssize_t n = sp_frame_rx_read(&w->rx, w->sock.fd);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			fail_msg(w, errno, "read");
			return;
		}
		if (n == 0) {
			if (sp_frame_rx_partial(&w->rx))
				fail_msg(w, 0, "it ended inside a frame");
			sock_gone(w);
			return;
		}
		if (deliver(w) < 0)
			return;
		/* A short read drained the socket: the loop calls again when more comes, so the
		 * read that would only say EAGAIN is saved (one syscall per front-end request). */
		if (room && (size_t)n < room)
			return;
	}
}

static ssize_t send_now(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = blen ? 2 : 1 };
	ssize_t n;

	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n;
}

static void flush(struct sp_worker *w)
{
	struct sp_err err;
	ssize_t n = send_now(w->sock.fd, w->out, w->out_len, NULL, 0);

	if (n < 0) {
		fail_msg(w, errno, "write");
		return;
	}
	memmove(w->out, w->out + n, w->out_len - (size_t)n);
	if (w->def->secret)
		explicit_bzero(w->out + w->out_len - (size_t)n, (size_t)n);
	w->out_len -= (size_t)n;
	if (!w->out_len && sp_loop_mod(w->loop, &w->sock, EPOLLIN, &err) < 0)
		fail(w, &err);
}

static void on_sock(struct sp_watch *watch, uint32_t events)
{
	struct sp_worker *w = OF(watch, sock);

	if ((events & EPOLLOUT) && w->out_len)
		flush(w);
	if (!w->eof && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_frames(w);
}

static void on_exit_event(struct sp_watch *watch, uint32_t events)
{
	struct sp_worker *w = OF(watch, exit);

	(void)events;
	w->exited = true;
	sp_loop_release(w->loop, &w->exit);
	maybe_done(w);
}

/* The bytes from off on of the frame (h, p) into the queue. */
static int enqueue(struct sp_worker *w, const struct sp_frame_hdr *h, const void *p, size_t off,
		   struct sp_err *err)
{
	size_t total = HDR + h->len, need = w->out_len + total - off;

	if (need > w->out_cap) {
		size_t cap = need < 65536 ? 65536 : need * 2;
		uint8_t *nb = malloc(cap);

		if (!nb)
			return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "worker %s: queue",
				       w->def->name);
		if (w->out_len)
			memcpy(nb, w->out, w->out_len);
		if (w->out && w->def->secret)
			explicit_bzero(w->out, w->out_cap);
		free(w->out);
		w->out = nb;
		w->out_cap = cap;
	}
	if (off < HDR) {
		memcpy(w->out + w->out_len, (const uint8_t *)h + off, HDR - off);
		w->out_len += HDR - off;
		off = HDR;
	}
	if (total > off)
		memcpy(w->out + w->out_len, (const uint8_t *)p + (off - HDR), total - off);
	w->out_len += total - off;
	return sp_loop_mod(w->loop, &w->sock, EPOLLIN | EPOLLOUT, err);
}

int sp_worker_send(struct sp_worker *w, uint32_t type, const void *p, size_t len,
		   struct sp_err *err)
{
	struct sp_frame_hdr h = { type, (uint32_t)len };
	size_t max = w->def->queue_max ? w->def->queue_max : QUEUE_DEFAULT;
	ssize_t n = 0;

	if (w->eof || w->cancelled || w->failed)
		return sp_fail(err, SP_E_UNAVAILABLE, 0, "worker %s: gone", w->def->name);
	if (len > SP_FRAME_MAX || sp_frame_check(&w->def->in, &h, err) < 0)
		return sp_fail(err, SP_E_INTERNAL, 0, "worker %s: no frame type %u of %zu bytes",
			       w->def->name, type, len);
	if (w->out_len + HDR + len > max)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "worker %s: more than %zu bytes queued",
			       w->def->name, max);
	if (!w->out_len && (n = send_now(w->sock.fd, &h, HDR, p, len)) < 0) {
		fail_msg(w, errno, "write");
		return sp_fail(err, SP_E_UNAVAILABLE, 0, "worker %s: gone", w->def->name);
	}
	if ((size_t)n == HDR + len)
		return 0;
	if (enqueue(w, &h, p, (size_t)n, err) < 0) {
		fail(w, err); /* a frame cut short: the stream is lost */
		return -1;
	}
	return 0;
}

int sp_worker_start(const struct sp_worker_start *s, struct sp_worker **out, struct sp_err *err)
{
	struct sp_worker *w = calloc(1, sizeof(*w));
	struct sp_child c;

	*out = NULL;
	if (!w)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "worker %s", s->def->name);
	if (sp_frame_rx_init(&w->rx, &s->def->out, s->def->secret, err) < 0) {
		free(w);
		return -1;
	}
	if (sp_worker_spawn(s->def, &s->spawn, &c, err) < 0) {
		sp_frame_rx_free(&w->rx);
		free(w);
		return -1;
	}
	w->sock =
		(struct sp_watch){ .fd = c.fd, .on_event = on_sock, .on_release = on_sock_release };
	w->exit = (struct sp_watch){ .fd = c.pidfd,
				     .on_event = on_exit_event,
				     .on_release = on_exit_release };
	w->loop = s->loop;
	w->def = s->def;
	w->on_frame = s->on_frame;
	w->done = s->done;
	w->arg = s->arg;
	w->pid = c.pid;
	w->watches = 2;
	if (sp_loop_add(s->loop, &w->exit, EPOLLIN, err) < 0) {
		sp_child_kill(&c);
		close(c.fd), close(c.pidfd);
		w_free(w);
		return -1;
	}
	if (fcntl(c.fd, F_SETFL, O_NONBLOCK) < 0 ||
	    sp_loop_add(s->loop, &w->sock, EPOLLIN, err) < 0) {
		/* The exit watch frees the handle once the killed worker is gone. */
		w->cancelled = w->eof = true;
		kill_now(w);
		close(steal_fd(&w->sock.fd));
		w->watches = 1;
		return sp_error(err, errno, "worker %s: watch its socket", s->def->name);
	}
	*out = w;
	return SP_PENDING;
}

void sp_worker_kill(struct sp_worker *w)
{
	if (!w || w->reported)
		return;
	if (!w->failed) {
		w->failed = true;
		sp_fail(&w->why, SP_E_INTERNAL, 0, "worker %s: killed", w->def->name);
	}
	kill_now(w);
}

void sp_worker_cancel(struct sp_worker *w)
{
	if (!w || w->reported)
		return;
	w->cancelled = true;
	kill_now(w);
}

pid_t sp_worker_pid(const struct sp_worker *w)
{
	return w->pid;
}
