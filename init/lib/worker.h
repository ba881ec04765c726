/* Worker processes, in the shape of OpenBSD's proc.c + imsg: one primitive to start a worker
 * from a table entry and to talk to it in frames.
 *
 * A kind of worker is one const struct sp_worker_def: its name, its confinement (lib/confine.h),
 * the frames it accepts and the frames it sends (each type with its exact, or exactly bounded,
 * size), and its main. Spawning is fork; in the child the signal dispositions and mask are reset,
 * every fd is closed but the worker's socket and the fds passed, the confinement is applied;
 * then execveat of /init itself (an fd opened at boot: sp_worker_set_exe) in the worker's mode.
 * So no worker inherits its parent's heap (PID 1 holds registry tokens and the other containers'
 * requests): it starts from a fresh image, undumpable, and learns what it needs from frames.
 *
 * In the exec'd process, main() hands argv to sp_worker_main() first thing; it recognises a
 * worker's argv, finds the entry in the table main gives it, sets PR_SET_DUMPABLE 0 and the
 * seccomp filter (sp_confine_self), and calls the entry's main, whose return value is the exit
 * status. A worker may spawn its own workers with the same calls (the pull worker does).
 *
 * The worker's fds: 0-2 its parent's, SP_WORKER_FD its socket, then the fds passed at the spawn
 * (struct sp_worker_ctx says where); /dev/kmsg when the parent logs there. Nothing else.
 *
 * Frames: struct sp_frame_hdr {u32 type; u32 len} then len bytes, in host byte order (both ends
 * are this binary). A receiver accepts only the types of its table, each within [min, max]
 * bytes; anything else (an unknown type, a length outside its bounds, EOF inside a frame) is a
 * protocol error, and a parent kills a worker that commits one. Type 0, SP_FRAME_ERR, is in
 * every table: the typed error frame, struct sp_frame_err (struct sp_err's fields and a
 * reference to what it answers), decoded with sp_frame_err_decode (message escaped, kind and
 * stage checked). */
#ifndef SEALPOD_LIB_WORKER_H
#define SEALPOD_LIB_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/confine.h"
#include "lib/err.h"
#include "lib/loop.h"

#define SP_WORKER_FD	  3		       /* the worker's end of its socket */
#define SP_WORKER_MAX_FDS 8		       /* fds passed at a spawn, at most */
#define SP_FRAME_MAX	  ((uint32_t)64 << 20) /* no table may declare more */

/* --- frames ------------------------------------------------------------------------------------ */

struct sp_frame_hdr {
	uint32_t type, len;
};

#define SP_FRAME_ERR 0u
struct sp_frame_err {
	uint32_t ref; /* what it answers (a request's id); 0: the worker's work as a whole */
	int32_t errnum;
	uint8_t kind;  /* enum sp_err_kind */
	uint8_t stage; /* enum sp_stage */
	uint8_t pad[2];
	char msg[256];	  /* NUL-terminated */
	char detail[192]; /* NUL-terminated; sp_err.detail: never printed, never sent to the host */
};

struct sp_frame_type {
	uint32_t type;
	uint32_t min, max; /* bytes of payload; min == max: exact */
};

struct sp_frame_table {
	const struct sp_frame_type *types; /* SP_FRAME_ERR is implied: do not list it */
	size_t n;
};
#define SP_FRAME_TABLE(a)                                                                          \
	{                                                                                          \
		(a), sizeof(a) / sizeof((a)[0])                                                    \
	}

/* The header h is one t accepts: 0, or -1 with err (kind SP_E_INVALID) saying why. */
int sp_frame_check(const struct sp_frame_table *t, const struct sp_frame_hdr *h,
		   struct sp_err *err);
/* The payload of an SP_FRAME_ERR frame into *ref and err: every byte of msg and detail outside
 * printable ASCII escaped as \xNN (they come from a process that may have been taken over;
 * honest text passes unchanged), kind and stage within lib/err.h's ranges, a message there.
 * 0, or -1 (malformed: err then says so, kind SP_E_INTERNAL). */
int sp_frame_err_decode(const void *p, size_t len, uint32_t *ref, struct sp_err *err);
/* err as an SP_FRAME_ERR payload. */
void sp_frame_err_encode(uint32_t ref, const struct sp_err *err, struct sp_frame_err *out);

/* A receive buffer: bytes read from a socket, cut into frames checked against a table. Used by
 * PID 1's loop and by blocking readers alike. wipe: the bytes of every frame are wiped once the
 * next one is asked for, and a grown buffer never leaves a copy behind (secrets). */
struct sp_frame_rx {
	const struct sp_frame_table *t;
	uint8_t *buf;
	size_t cap, start, end, wiped;
	size_t max; /* the largest frame t allows, with its header */
	bool wipe;
};
int sp_frame_rx_init(struct sp_frame_rx *rx, const struct sp_frame_table *t, bool wipe,
		     struct sp_err *err);
void sp_frame_rx_free(struct sp_frame_rx *rx);
/* One read(2) from fd into rx: > 0 bytes read, 0 EOF, -1 with errno (EAGAIN included). */
ssize_t sp_frame_rx_read(struct sp_frame_rx *rx, int fd);
/* Appends bytes (fuzzing, tests): 0, or -1 when they do not fit in a frame's room. */
int sp_frame_rx_put(struct sp_frame_rx *rx, const void *p, size_t len);
/* The next whole frame: 1 with its type, payload (valid until the next call) and length; 0 when
 * more bytes are needed; -1 with err on a protocol error. */
int sp_frame_next(struct sp_frame_rx *rx, uint32_t *type, const uint8_t **p, uint32_t *len,
		  struct sp_err *err);
/* True when bytes of an unfinished frame are buffered (EOF now would cut a frame). */
bool sp_frame_rx_partial(const struct sp_frame_rx *rx);
/* Blocking: reads fd until the next whole frame. 1 a frame, 0 EOF between frames, -1 with err
 * (protocol error, EOF inside a frame, read error). For workers; PID 1 never blocks. */
int sp_frame_recv(struct sp_frame_rx *rx, int fd, uint32_t *type, const uint8_t **p, uint32_t *len,
		  struct sp_err *err);

/* Blocking writes of one frame (for workers, whose parent reads). 0, or -1 with errno. A socket
 * whose reader is gone gives EPIPE, not SIGPIPE. */
int sp_frame_send(int fd, uint32_t type, const void *p, size_t len);
int sp_frame_send_err(int fd, uint32_t ref, const struct sp_err *err);

/* --- the table entry --------------------------------------------------------------------------- */

struct sp_worker_def;

/* What a worker's main gets. */
struct sp_worker_ctx {
	const struct sp_worker_def *def;
	int fd;		/* SP_WORKER_FD: frames from def->in come in, def->out go out */
	const int *fds; /* the fds passed at the spawn, in their order (nfds of them) */
	size_t nfds;
	bool confined; /* false: spawned with unconfined (host tools without privileges) */
};

struct sp_worker_def {
	const char *name;		  /* its argv[2] and, without a confine name, its comm */
	const struct sp_confine *confine; /* NULL: none */
	struct sp_frame_table in;	  /* what it accepts from its parent */
	struct sp_frame_table out;	  /* what it sends */
	int (*main)(const struct sp_worker_ctx *ctx);
	bool secret;	  /* its frames may carry secrets: buffers are wiped */
	size_t queue_max; /* bytes its parent may queue for it on the loop (0: 1 MiB) */
};

/* The /init to exec: opened once (O_PATH, O_CLOEXEC), at boot, by PID 1 ("/init"), else the
 * caller's own binary ("/proc/self/exe"). Spawning without it opens /proc/self/exe. */
int sp_worker_set_exe(const char *path, struct sp_err *err);

/* Called first in main(): returns at once when argv is not a worker's; else runs the worker of
 * defs named in argv and never returns. */
void sp_worker_main(int argc, char **argv, const struct sp_worker_def *const *defs, size_t n);

/* --- spawning (anywhere; blocking helpers for workers that spawn workers) ---------------------- */

struct sp_spawn_opts {
	const int *fds; /* passed to the worker (they stay open here) */
	size_t nfds;	/* <= SP_WORKER_MAX_FDS */
	bool unconfined;
};

struct sp_child {
	pid_t pid;
	int fd;	   /* this side of the socket (O_CLOEXEC, blocking) */
	int pidfd; /* kill without hitting a reused pid */
};

/* fork + confine + execveat. 0 with c filled, or -1 with err. A failure in the child (its
 * confinement, the exec) arrives as an SP_FRAME_ERR on c->fd, then EOF. */
int sp_worker_spawn(const struct sp_worker_def *def, const struct sp_spawn_opts *o,
		    struct sp_child *c, struct sp_err *err);
/* SIGKILL through the pidfd. */
void sp_child_kill(const struct sp_child *c);
/* Closes c's fds and waits for it (blocking: never in PID 1). Its exit status, or -1. */
int sp_child_reap(struct sp_child *c);

/* --- a worker on PID 1's loop ------------------------------------------------------------------ */

/* A frame from the worker (its type in def->out, or SP_FRAME_ERR; length checked). Returns 0, or
 * -1 with err when the frame breaks the caller's protocol: the worker is then killed and done
 * gets err. */
typedef int (*sp_worker_frame_fn)(void *arg, uint32_t type, const uint8_t *p, uint32_t len,
				  struct sp_err *err);

struct sp_worker_start {
	struct sp_loop *loop;
	const struct sp_worker_def *def;
	struct sp_spawn_opts spawn;
	sp_worker_frame_fn on_frame;
	/* Once, from the loop, when the worker is gone (its socket at EOF and the process exited;
	 * one that closes its socket is killed):
	 * ret 0 when its stream ended cleanly (whether it sent what the caller needed is the
	 * caller's to judge from the frames); -1 with err when it broke the protocol, died inside
	 * a frame, was killed with sp_worker_kill, or could not be watched. PID 1's reaper collects
	 * the exit status; nothing here waits. */
	sp_done_fn done;
	void *arg;
};

struct sp_worker;
/* SP_PENDING with *w (done follows, never from inside this call), or -1 with err. */
int sp_worker_start(const struct sp_worker_start *s, struct sp_worker **w, struct sp_err *err);
/* Queues a frame of type (one of def->in) for the worker and writes what the socket takes now,
 * the rest when it is writable: never blocks. -1 with err when the worker is gone or more than
 * def->queue_max bytes would wait. */
int sp_worker_send(struct sp_worker *w, uint32_t type, const void *p, size_t len,
		   struct sp_err *err);
/* SIGKILL now; done still comes, once it is gone (with ret -1). */
void sp_worker_kill(struct sp_worker *w);
/* SIGKILL now, and neither on_frame nor done is called again; the handle frees itself once the
 * worker is gone. Not after done. */
void sp_worker_cancel(struct sp_worker *w);
pid_t sp_worker_pid(const struct sp_worker *w);

#endif
