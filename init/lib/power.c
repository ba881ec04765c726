#define _GNU_SOURCE
#include "lib/power.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/log.h"

bool sp_is_pid1(void)
{
	return getpid() == 1;
}

/* Reaps for up to ms milliseconds; returns early once no child is left. */
static void reap_for(unsigned ms)
{
	struct timespec step = { 0, 50L * 1000 * 1000 };

	for (unsigned waited = 0;; waited += 50) {
		int status;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			;
		if (pid < 0 && errno == ECHILD)
			return;
		if (waited >= ms)
			return;
		nanosleep(&step, NULL);
	}
}

void sp_poweroff(const char *reason, int status)
{
	sp_info("poweroff", "%s", reason);
	if (!sp_is_pid1())
		exit(status); /* host test mode: a normal process just exits */
	kill(-1, SIGTERM);    /* every process but PID 1 */
	reap_for(1000);
	kill(-1, SIGKILL);
	reap_for(500);
	sync();
	sp_info("poweroff", "synced, powering off");
	reboot(RB_POWER_OFF);
	/* PID 1 must not return or exit: that panics the kernel. */
	for (;;)
		pause();
}

void sp_fatal(const char *code, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	sp_log_fatal(code, "%s", reason);
	sp_poweroff("fatal error", 1);
}

int sp_harden_self(struct sp_err *err)
{
	static const char adj[] = "-1000";
	int cad_errno = 0;

	/* Ctrl-alt-del then reaches us as SIGINT instead of rebooting at once. */
	if (reboot(RB_DISABLE_CAD) < 0)
		cad_errno = errno;
	if (sp_write_file("/proc/self/oom_score_adj", adj, sizeof(adj) - 1, err) < 0)
		return -1;
	if (cad_errno)
		return sp_error(err, cad_errno, "reboot(RB_DISABLE_CAD)");
	return 0;
}
