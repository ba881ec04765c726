/* The Kata pause program: PID 1 of a pod's sandbox container. It holds the pod's namespaces
 * open, reaps whatever is reparented to it, and exits 0 on SIGTERM or SIGINT. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return 1;
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (sig == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			continue;
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		return 0;
	}
}
