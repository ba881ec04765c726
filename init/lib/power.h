/* PID 1's last resorts, used by every module that may have to stop the guest deliberately, and
 * the test that tells PID 1 from a host test run (power.c). */
#ifndef SEALPOD_LIB_POWER_H
#define SEALPOD_LIB_POWER_H

#include <stdbool.h>

#include "lib/err.h"

/* True when we are the guest's PID 1; false when run as a normal process for host tests, where
 * every step that would change the machine (mounts, lo, reboot) is skipped. */
bool sp_is_pid1(void);

/* Orderly power-off: log, SIGTERM everyone, short grace, SIGKILL, sync, reboot(RB_POWER_OFF).
 * Off PID 1 it exits the process with status. Never returns. */
__attribute__((noreturn)) void sp_poweroff(const char *reason, int status);
/* `sealpod: FATAL <code>: <reason>` on the console, then sp_poweroff. */
__attribute__((noreturn, format(printf, 2, 3))) void sp_fatal(const char *code, const char *fmt,
							      ...);
/* Write -1000 to /proc/self/oom_score_adj and disable ctrl-alt-del (it becomes SIGINT). */
int sp_harden_self(struct sp_err *err);

#endif
