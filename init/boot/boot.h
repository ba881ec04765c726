/* The boot capability: filesystem layout, loopback, signals and reaping, spawning children,
 * power-off. main.c strings these together as the boot story. */
#ifndef SEALPOD_BOOT_BOOT_H
#define SEALPOD_BOOT_BOOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/err.h"
#include "lib/loop.h"
#include "lib/power.h" /* sp_is_pid1, sp_poweroff, sp_fatal, sp_harden_self */

/* mounts.c: run the const table of mount/mkdir/symlink operations. Optional entries that fail
 * are logged; a required one fails the call. */
int sp_mount_all(struct sp_err *err);
/* mounts.c: leaves the initramfs (PID 1 only, first thing at boot): copies it into a tmpfs,
 * empties rootfs, moves the tmpfs over / and execs /init (argv, envp) again from it, so that
 * containers can pivot_root. Returns 0 in the re-executed PID 1 (or, with a warning, when only
 * the exec failed: the new root is in place); -1 with err when the switch failed. */
int sp_switch_root(char **argv, char **envp, struct sp_err *err);
/* Opens /dev/console and /dev/kmsg as the log sinks (PID 1 only). */
void sp_open_log_sinks(void);

/* net.c: bring `lo` up. */
int sp_loopback_up(struct sp_err *err);

/* signals.c: block every asynchronous signal and deliver them through a signalfd watched by
 * loop. SIGCHLD reaps every child (orphans included); SIGTERM, SIGINT (ctrl-alt-del) and SIGPWR
 * power the guest off. */
int sp_signals_init(struct sp_loop *loop, struct sp_err *err);
/* Who else wants to know about exits: main hands the container runtime's (step_runtime). */
typedef void (*sp_child_hook)(pid_t pid, int status, void *data);
void sp_set_child_hook(sp_child_hook fn, void *data);
/* Reap until 0/ECHILD; returns how many were reaped. */
int sp_reap_children(void);

/* spawn.c: fork+exec with default signal dispositions and an empty mask; exec failure is
 * reported exactly through a CLOEXEC pipe (musl posix_spawn style). */
int sp_spawn(const char *path, char *const argv[], char *const envp[], pid_t *pid,
	     struct sp_err *err);

#endif
