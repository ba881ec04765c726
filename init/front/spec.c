/* The front-end as a worker (front.h): the frames each side accepts and its confinement, as data
 * for lib/worker.c and lib/confine.c. */
#define _GNU_SOURCE
#include "front/front.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/resource.h>

const struct sp_frame_type sp_front_in_types[1] = {
	{ FE_REPLY, sizeof(struct fe_reply_hdr), FE_BATCH_MAX },
};
const struct sp_frame_type sp_front_out_types[2] = {
	{ FE_REQUEST, sizeof(struct fe_request_hdr), FE_BATCH_MAX },
	{ FE_CLOSED, sizeof(uint32_t), sizeof(uint32_t) },
};

/* Everything the front-end does after its exec: its loop, the sockets it was given (none it
 * makes: no socket, connect, bind or accept), memory that is never executable, its clock, its
 * log lines, its exit. No open of any kind, no exec, no process or thread. */
static const struct sp_sc_rule front_sc[] = {
	SP_SC_ALLOW(SCMP_SYS(read)),
	SP_SC_ALLOW(SCMP_SYS(write)),
	SP_SC_ALLOW(SCMP_SYS(writev)),
	SP_SC_ALLOW(SCMP_SYS(recvfrom)),
	SP_SC_ALLOW(SCMP_SYS(sendto)),
	SP_SC_ALLOW(SCMP_SYS(recvmsg)),
	SP_SC_ALLOW(SCMP_SYS(sendmsg)),
	SP_SC_ALLOW(SCMP_SYS(close)),
	SP_SC_ALLOW(SCMP_SYS(epoll_create1)),
	SP_SC_ALLOW(SCMP_SYS(epoll_ctl)),
	SP_SC_ALLOW(SCMP_SYS(epoll_wait)),
	SP_SC_ALLOW(SCMP_SYS(epoll_pwait)),
	SP_SC_ARG_EQ(SCMP_SYS(fcntl), 1, F_GETFL),
	SP_SC_ARG_EQ(SCMP_SYS(fcntl), 1, F_SETFL),
	SP_SC_ARG_EQ(SCMP_SYS(fcntl), 1, F_GETFD),
	SP_SC_ARG_MASK(SCMP_SYS(mmap), 2, PROT_EXEC, 0),
	SP_SC_ARG_MASK(SCMP_SYS(mprotect), 2, PROT_EXEC, 0),
	SP_SC_ALLOW(SCMP_SYS(munmap)),
	SP_SC_ALLOW(SCMP_SYS(mremap)),
	SP_SC_ALLOW(SCMP_SYS(brk)),
	SP_SC_ALLOW(SCMP_SYS(madvise)),
	SP_SC_ALLOW(SCMP_SYS(clock_gettime)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigreturn)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigprocmask)),
	SP_SC_ALLOW(SCMP_SYS(getpid)),
	SP_SC_ALLOW(SCMP_SYS(gettid)),
	SP_SC_ALLOW(SCMP_SYS(exit)),
	SP_SC_ALLOW(SCMP_SYS(exit_group)),
};

/* Fds: the host's connections (PID 1 caps them at FE_MAX_CONNS), its two sockets, the log
 * fds, epoll. (No RLIMIT_NPROC: it would fail the worker's own exec after the uid change; the
 * filter refuses fork and clone anyway.) */
static const struct sp_rlimit front_rlimits[] = {
	{ RLIMIT_NOFILE, FE_MAX_CONNS + 16, FE_MAX_CONNS + 16 },
};

const struct sp_confine sp_front_confine = {
	.name = "sp-front",
	.rlimits = front_rlimits,
	.nrlimits = sizeof(front_rlimits) / sizeof(front_rlimits[0]),
	.unshare = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS,
	.empty_root = true,
	.set_ids = true,
	.uid = 65534,
	.gid = 65534,
	.caps = 0,
	.seccomp = true,
	.sc = { SP_SC_LIST(front_sc) },
};
