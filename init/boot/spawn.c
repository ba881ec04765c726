#define _GNU_SOURCE
#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"

__attribute__((noreturn)) static void child(int report_fd, const char *path, char *const argv[],
					    char *const envp[])
{
	struct sigaction dfl;
	sigset_t none;
	int e;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP, RT internals */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	execve(path, argv, envp);
	e = errno;
	while (write(report_fd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

int sp_spawn(const char *path, char *const argv[], char *const envp[], pid_t *pid,
	     struct sp_err *err)
{
	cleanup_close int rd = -1;
	cleanup_close int wr = -1;
	int fds[2], child_errno = 0;
	ssize_t n;
	pid_t p;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return sp_error(err, errno, "pipe2");
	rd = fds[0];
	wr = fds[1];
	p = fork();
	if (p < 0)
		return sp_error(err, errno, "fork for %s", path);
	if (p == 0)
		child(wr, path, argv, envp);
	close(steal_fd(&wr));
	do
		n = read(rd, &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(child_errno)) {
		/* SIGCHLD is blocked and read through the signalfd, so this cannot race the reaper. */
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		return sp_error(err, child_errno, "exec %s", path);
	}
	*pid = p;
	return 0;
}
