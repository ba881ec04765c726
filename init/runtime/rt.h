/* Internal to the runtime: the container and process tables (container.c, process.c,
 * handlers.c). Every object that owns a loop watch is freed only from a watch's on_release
 * (after the loop's batch), counted by refs, so an event already fetched never touches freed
 * memory. */
#ifndef SEALPOD_RUNTIME_RT_H
#define SEALPOD_RUNTIME_RT_H

#include "agent/ttrpc.h"
#include "lib/validate.h"
#include "runtime/runtime.h"

#define RT_READ_MAX  (1u << 20) /* bytes one ReadStdout/ReadStderr answers at most */
#define RT_OOM_QUEUE 64
/* Kubernetes' default terminationMessagePath; the kubelet reads at most 4096 bytes of it. */
#define RT_TERMINATION_LOG     "/dev/termination-log"
#define RT_TERMINATION_LOG_MAX 4096
/* wait(2) statuses built from a siginfo (musl has no W_EXITCODE). */
#define RT_WEXIT(code) (((code)&0xff) << 8)
#define RT_WSIG(sig)   ((sig)&0x7f)

/* A parked call (WaitProcess, ReadStdout/ReadStderr, GetOOMEvent) in one list. */
struct rt_park {
	struct tt_call *call;
	uint32_t len;
	struct rt_plist *list;
	struct rt_park *next, *prev;
};
struct rt_plist {
	struct rt_park *head, *tail;
};

struct rt_proc;

struct rt_stream {
	struct sp_watch w; /* fd: our read end, non-blocking */
	struct rt_proc *p;
	bool in_loop, eof;
	struct rt_plist readers;
};

enum rt_ctr_state { CTR_SETUP, CTR_CREATED, CTR_RUNNING, CTR_STOPPED };
#define RT_CG_PENDING 64 /* cgroups of removed containers waiting to be empty */

struct rt_ctr;

struct rt_proc {
	char exec_id[SP_ID_MAX + 1];
	struct rt_ctr *ctr;
	pid_t pid;
	bool is_init, exited, tty, waited;
	int status;
	struct sp_watch wpid; /* fd: the pidfd */
	struct rt_stream out, err;
	struct sp_watch win; /* fd: our write end of stdin (a dup of the pty master) */
	bool win_in_loop;
	uint8_t *in_buf; /* a WriteStdin that did not fit yet */
	size_t in_len, in_off;
	struct tt_call *in_call;
	bool close_in_after;
	int tty_master; /* == out.w.fd with a terminal; -1 otherwise */
	struct rt_plist waiters;
	/* An exec waiting for its report: done runs once with its result. */
	struct rt_await *await;
	sp_done_fn done;
	void *done_arg;
	int refs; /* watches not yet released */
};

struct rt_ctr {
	char id[SP_ID_MAX + 1];
	enum rt_ctr_state state;
	bool pause;
	char root[SP_PATH_MAX + 1];
	/* The bind source mounted on /dev/termination-log (beneath the shared prefix), or "". */
	char termlog[SP_PATH_MAX + 1];
	struct rt_proc *procs[SP_RT_MAX_PROCS];
	size_t nprocs;
	int cgfd;
	int sync_fd;	     /* write end: one byte starts the init */
	int report_fd;	     /* read end: the init's setup/exec report */
	struct sp_watch wev; /* fd: memory.events, EPOLLPRI */
	long oom_seen;
	Grpc__LinuxSeccomp *seccomp; /* a copy, for execs */
	bool nnp; /* the init's no_new_privs, which every exec gets too (sp_rt_exec) */
	/* The init's capability sets: an exec that names none gets these, as Kata does (neither
	 * shim sends an exec's capabilities), never the default set. */
	struct sp_rt_caps caps;
	bool shared_pidns; /* in the sandbox's pid namespace: every process in a domain of its own */
	/* The init's process, what the policy compares an exec with (sp_rt_process_facts): env in
	 * one allocation (the pointers, then the strings), NULL when it was too large to keep. */
	char **env;
	size_t nenv;
	uid_t uid;
	gid_t gid;
	uint32_t gids[SP_RT_MAX_GIDS];
	size_t ngids;
	char cwd[SP_PATH_MAX + 1];
	/* The create or start waiting for the init's report: done runs once with its result. */
	struct rt_await *await;
	sp_done_fn done;
	void *done_arg;
};

struct rt_state {
	struct sp_loop *loop;
	bool ready, cgroups;
	struct sp_err no_cgroup; /* why sp_rt_init found no cgroup (no container runs then) */
	int own_pidns; /* PID 1's pid namespace, to come back after cloning into another */
	struct rt_ctr *ctrs[SP_RT_MAX_CONTAINERS];
	size_t nctrs;
	struct rt_ctr *sandbox; /* the pause container: its ipc/uts (and pid) are shared */
	char oom_queue[RT_OOM_QUEUE][SP_ID_MAX + 1];
	size_t oom_head, oom_n;
	struct rt_plist oom_waiters;
	/* Cgroups of removed containers, removed once their last process is gone. */
	char cg_pending[RT_CG_PENDING][SP_ID_MAX + 1];
	size_t ncg_pending;
	struct sp_runtime_conf conf;
};
extern struct rt_state rt;

/* Lists of parked calls. */
struct rt_park *rt_park_add(struct rt_plist *l, struct tt_call *call, uint32_t len);
void rt_park_unlink(struct rt_park *pk);

/* process.c */
struct rt_proc *rt_proc_new(struct rt_ctr *c, const char *exec_id, bool terminal, const int *given,
			    int stdio[3], int *tty_slave, struct sp_err *err);
/* Takes the child's pid and pidfd, and watches it. */
int rt_proc_started(struct rt_proc *p, pid_t pid, int pidfd, struct sp_err *err);
/* Drops a process: answers its parked calls, releases its watches (freed after the batch). */
void rt_proc_release(struct rt_proc *p);
void rt_proc_close_child_ends(int stdio[3], int *tty_slave);
int rt_proc_read(struct tt_call *call, struct rt_proc *p, bool err_stream, uint32_t len);
int rt_proc_write(struct tt_call *call, struct rt_proc *p, const uint8_t *data, size_t len);
void rt_proc_close_stdin(struct rt_proc *p);
int rt_proc_wait(struct tt_call *call, struct rt_proc *p);
/* SIGTERM to an init with no SIGTERM handler becomes SIGKILL. */
int rt_proc_signal(struct rt_proc *p, int sig, struct sp_err *err);

/* await.c: waits for one record on a child's report pipe (fd stays the caller's). fn gets ret 0
 * with the record (stage 0: EOF, the child exec'd or died) or -1 with err (the deadline passed,
 * or the pipe failed), once, from the loop, unless rt_await_cancel() came first. */
struct sp_rt_report;
struct rt_await;
typedef void (*rt_report_fn)(void *arg, int ret, const struct sp_rt_report *rep,
			     const struct sp_err *err);
struct rt_await *rt_await_report(int fd, unsigned timeout_ms, rt_report_fn fn, void *arg,
				 struct sp_err *err);
void rt_await_cancel(struct rt_await *a);

/* container.c */
#define RT_REPORT_TIMEOUT_MS 20000 /* a child's setup or exec report */
struct rt_ctr *rt_ctr_find(const char *id);
/* The container's init (its first process), NULL before it was spawned. */
struct rt_proc *rt_ctr_init(struct rt_ctr *c);
/* Answers the create or start waiting on c, if any (its await cancelled). */
void rt_ctr_report(struct rt_ctr *c, int ret, const struct sp_err *err);
/* Takes c out of the table, kills what still runs and frees it after the batch. */
void rt_ctr_drop(struct rt_ctr *c);
/* What a spawn needs besides the container: the child's ends of its stdio, report and sync
 * pipes. rt_spawn_close closes what is still open. */
struct rt_spawn {
	struct rt_proc *p;
	int stdio[3], tty_slave;
	int rp[2], sp[2]; /* report pipe (child writes), sync pipe (child reads) */
};
void rt_spawn_close(struct rt_spawn *s);
/* clone3 into cgfd and, when pidns_of >= 0, into that process's pid namespace. */
pid_t rt_clone_child(uint64_t flags, int cgfd, int pidns_of, int *pidfd, struct sp_err *err);
struct rt_proc *rt_proc_find(struct rt_ctr *c, const char *exec_id);
void rt_ctr_init_exited(struct rt_ctr *c);
void rt_oom_push(const char *cid);
/* Tries to remove the cgroups of removed containers (after an exit, or a removal); whether
 * cid's is one still waiting to be empty. */
void rt_cgroup_gc(void);
bool rt_cgroup_pending(const char *cid);

#endif
