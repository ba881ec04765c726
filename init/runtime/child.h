/* Internal to the runtime: what PID 1 hands the cloned child, and the report it gets back. */
#ifndef SEALPOD_RUNTIME_CHILD_H
#define SEALPOD_RUNTIME_CHILD_H

#include "runtime/runtime.h"

#include <stdint.h>

enum { SP_RT_STAGE_READY = 1, SP_RT_STAGE_ERROR = 2, SP_RT_STAGE_EXEC = 3 };
#define SP_RT_SETUP_EXIT 125 /* the child's status when its setup failed */

/* One record on the report pipe. A successful execve closes the pipe (CLOEXEC): 0 bytes. */
struct sp_rt_report {
	int32_t stage;
	int32_t errnum;
	char msg[256];
};

struct sp_rt_child_args {
	const struct sp_rt_plan *plan; /* a container's init; NULL for an exec */
	const struct sp_rt_proc_plan *pp;
	const Grpc__LinuxSeccomp *seccomp;
	int report_fd; /* write end, CLOEXEC */
	int sync_fd;   /* read end: one byte starts it; -1 for an exec */
	int stdio[3];  /* pipe ends for 0, 1, 2 (tty_slave < 0) */
	int tty_slave;
	int join_pidfd; /* whose namespaces to join first (-1: none) */
	int join_flags;
	int exec_rootfd; /* an exec: the container's root (/proc/<pid>/root) */
	bool own_domain; /* a shared pid namespace: enter a Landlock domain of its own */
};

__attribute__((noreturn)) void sp_rt_child(const struct sp_rt_child_args *a);

/* process.c: clone3 with a pidfd, into cgfd (-1: the caller's cgroup). Returns the pid in the
 * parent, 0 in the child, -1 with errno. */
pid_t sp_rt_clone(uint64_t ns_flags, int cgfd, int *pidfd);

#endif
