#define _GNU_SOURCE
#include "boot/boot.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

static struct sp_watch sig_watch = { .fd = -1 };
static sp_child_hook child_hook;
static void *child_hook_data;

void sp_set_child_hook(sp_child_hook fn, void *data)
{
	child_hook = fn;
	child_hook_data = data;
}

int sp_reap_children(void)
{
	int n = 0;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return n; /* 0: children left, none exited; -1/ECHILD: none left */
		n++;
		if (WIFEXITED(status))
			sp_debug("reap", "pid %d exited %d", (int)pid, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			sp_debug("reap", "pid %d killed by signal %d", (int)pid, WTERMSIG(status));
		if (child_hook)
			child_hook(pid, status, child_hook_data);
	}
}

static void on_signal(struct sp_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(w->fd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;
		switch (si.ssi_signo) {
		case SIGCHLD:
			sp_reap_children();
			break;
		case SIGTERM:
		case SIGINT: /* ctrl-alt-del, once RB_DISABLE_CAD is set */
		case SIGPWR:
			sp_poweroff(strsignal((int)si.ssi_signo), 0);
		default:
			sp_debug("signal", "ignored %s from pid %u", strsignal((int)si.ssi_signo),
				 si.ssi_pid);
			break;
		}
	}
}

/* Synchronous faults stay deliverable: blocking them would only turn a bug into a hang. */
static void fill_blocked(sigset_t *set)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };

	sigfillset(set);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(set, faults[i]);
}

int sp_signals_init(struct sp_loop *loop, struct sp_err *err)
{
	sigset_t set;
	int fd;

	fill_blocked(&set);
	if (sigprocmask(SIG_SETMASK, &set, NULL) < 0)
		return sp_error(err, errno, "sigprocmask");
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return sp_error(err, errno, "signalfd");
	sig_watch.fd = fd;
	sig_watch.on_event = on_signal;
	sig_watch.on_release = NULL;
	if (sp_loop_add(loop, &sig_watch, EPOLLIN, err) < 0) {
		close(fd);
		sig_watch.fd = -1;
		return -1;
	}
	/* Children that exited before the signalfd existed. */
	sp_reap_children();
	return 0;
}
