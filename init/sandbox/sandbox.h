/* The sandbox: the pod-level state the host sets up through the control port before any
 * container (CreateSandbox: hostname, DNS; CopyFile into the shared-files directory; OnlineCPUMem)
 * and tears down (DestroySandbox: reply, then power off). The handlers are the module's method
 * table (sp_sandbox_api, assembled into the AgentService by agent/service.c); this header also
 * holds what they are built from, so that unit tests can drive each piece against a temporary
 * directory.
 *
 * Where the files go: in the guest (PID 1) every path is the real one. Off PID 1 (host test mode)
 * the same paths are taken relative to a root directory, $SEALPOD_HOST_ROOT or the one set by
 * sp_sandbox_set_root(); without one, every handler that writes refuses (FAILED_PRECONDITION),
 * so a test agent never touches the host's /sys, /run or hostname. */
#ifndef SEALPOD_SANDBOX_SANDBOX_H
#define SEALPOD_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/ttrpc.h"
#include "lib/err.h"
#include "lib/loop.h"

#include "agent.pb-c.h"

#define SP_HOSTNAME_MAX	      64   /* bytes; HOST_NAME_MAX on Linux */
#define SP_RESOLV_MAX_LINES   32   /* dns lines in one CreateSandboxRequest */
#define SP_RESOLV_MAX_LINE    512  /* bytes of one line */
#define SP_RESOLV_MAX_BYTES   4096 /* the whole file we write */
#define SP_RESOLV_PATH	      "/run/sealpod/resolv.conf"
#define SP_COPY_MAX_FILE      ((int64_t)64 << 20)  /* bytes of one CopyFile file */
#define SP_COPY_FREE_RESERVE  ((uint64_t)16 << 20) /* left free on the shared fs after a chunk */
#define SP_ONLINE_MAX_ENTRIES 65536		   /* cpuN / memoryN entries looked at */

/* The control port's sandbox methods, and the loop DestroySandbox's power-off timer runs on
 * (main, step_runtime). */
extern const struct tt_msg_table sp_sandbox_api;
void sp_sandbox_init(struct sp_loop *loop);

/* --- where files go (see above) --------------------------------------------------------------- */
/* root: an absolute directory, or NULL to go back to the default for this process. */
void sp_sandbox_set_root(const char *root);
/* Writes root + abs_path into buf. Returns 0, or -1 with err when no root is known (host test
 * mode without one) or the result does not fit. */
int sp_sandbox_path(const char *abs_path, char *buf, size_t size, struct sp_err *err);

/* --- CreateSandbox pieces (resolv.c) ----------------------------------------------------------- */
/* RFC 1123 host name: 1..64 bytes of labels [A-Za-z0-9] with inner '-', joined by '.'. */
bool sp_valid_hostname(const char *s, size_t len);
/* Builds resolv.conf from Kata's dns lines. Accepted: `nameserver <IPv4|IPv6[%zone]>`,
 * `search <domain>...`, `options <option>...`; blank lines and `#`/`;` comments are dropped;
 * anything else, or a line over SP_RESOLV_MAX_LINE bytes, refuses the whole list (err says which
 * line and why, host text escaped). Fields are re-joined with one space. out gets a
 * NUL-terminated file of *len bytes. */
int sp_resolv_conf_build(char *const *lines, size_t n, char *out, size_t size, size_t *len,
			 struct sp_err *err);

/* --- OnlineCPUMem (online.c) ------------------------------------------------------------------ */
/* Onlines up to nb_cpus offline CPUs (cpuN/online reading 0; none when nb_cpus is 0) and, unless
 * cpu_only, every offline memory block, under sysfs (normally "/sys"). Absent directories and
 * entries without an `online` file are skipped. *cpus and *mems get how many were onlined.
 * Never waits: what the kernel has not announced yet stays for a later call. */
int sp_online_cpu_mem(const char *sysfs, uint32_t nb_cpus, bool cpu_only, unsigned *cpus,
		      unsigned *mems, struct sp_err *err);

/* --- CopyFile (copyfile.c) --------------------------------------------------------------------- */
/* Applies one CopyFile request beneath the directory dirfd, which stands for SP_SHARED_PREFIX:
 * rest is the request's path with that prefix removed (sp_path_beneathn). Every component is
 * resolved with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS); missing
 * parents are created with dir_mode. Regular files arrive in chunks written to a temporary file
 * in the same directory, renamed over the target when offset + len(data) == file_size; chunks
 * must come in order. Directories and symlinks (data = target, created, never followed) as Kata
 * sends them. Set-id and sticky bits are dropped (*stripped says so); device nodes, FIFOs and
 * sockets are refused. Owner uid/gid is applied when chown is true.
 * Returns 0, or -1 with err saying why and its kind (SP_E_INVALID for what the request got
 * wrong, SP_E_EXHAUSTED, SP_E_INTERNAL). */
int sp_copy_file_at(int dirfd, const char *rest, const Grpc__CopyFileRequest *req, bool chown,
		    bool *stripped, struct sp_err *err);

/* --- DestroySandbox (sandbox.c) ---------------------------------------------------------------- */
/* What runs after DestroySandbox's reply was queued. The default asks PID 1's loop to power off
 * (see sandbox.c); tests replace it. NULL restores the default. */
void sp_sandbox_set_destroy_hook(void (*fn)(void));

/* What CreateSandbox recorded (for the runtime, later). */
bool sp_sandbox_created(void);
const char *sp_sandbox_id(void);
bool sp_sandbox_pidns(void);

#endif
