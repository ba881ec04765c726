/* The container runtime: containers as children of PID 1, set up from an OCI spec that the host
 * does not get to dictate.
 *
 * Shape (one concern per file):
 *   spec.c      filters the host's spec into a struct sp_rt_plan (pure: unit-tested on the host)
 *   caps.c      capability names, the default set, applying the five sets
 *   seccomp.c   the OCI profile and the filter that always denies AF_VSOCK sockets (libseccomp)
 *   cgroup.c    cgroup v2: the sandbox cgroup, one per container, limits, kill, stats, OOM
 *   devcg.c     the device cgroup: a BPF program that allows a container its own /dev nodes only
 *   rootfs.c    everything between the rootfs bind and pivot_root, never following a symlink;
 *               the masked and read-only paths every container gets
 *   child.c     the container's first process: namespaces, rootfs, sync, user, privileges, exec
 *   process.c   processes in PID 1's loop: pidfds, exit status, waiters, stdio pipes and ptys
 *   await.c     waiting for a child's report pipe on the loop (PID 1 never blocks on a child)
 *   create.c    creating a container: plan, allocate, spawn, await the init's report
 *   container.c the container table and the rest of the lifecycle (start, exec, signal, remove)
 *   image.c     an image configuration's copy and the user it names
 *   pin.c       pin_process_to_image: the process and the binds against the image
 *   secrets.c   the secrets initdata binds to a container's image: fetched, on a tmpfs, bound in
 *   prepare.c   CreateContainer's orchestrator: one record per container and a table of steps
 *   steps.c     the steps (attestation, storages, digest, secrets, creation) over the primitives
 *   handlers.c  the control port's container and process methods (sp_runtime_api)
 *   update.c    UpdateContainer: a running container's cgroup limits, with Kata's rules
 *
 * Errors: functions return 0 or -1 with err saying why and what kind of failure it is
 * (SP_E_INVALID for what the spec got wrong, SP_E_DENIED for what needs the policy's consent,
 * SP_E_NOT_FOUND, ...); the message goes to the host, so it names no secret. */
#ifndef SEALPOD_RUNTIME_RUNTIME_H
#define SEALPOD_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/caps.h"
#include "lib/err.h"
#include "lib/loop.h"
#include "agent/ttrpc.h"
#include "attest/attest.h"
#include "image/image.h"
#include "policy/policy.h"

#include "agent.pb-c.h"

#define SP_RT_MAX_CONTAINERS   512
#define SP_RT_MAX_PROCS	       64  /* processes (init + execs) per container */
#define SP_RT_MAX_MOUNTS       128 /* OCI mounts in one spec */
#define SP_RT_MAX_PATHS	       128 /* masked or read-only paths in one spec */
#define SP_RT_MAX_RLIMITS      16
#define SP_RT_MAX_ARGS	       4096 /* argv or env entries */
#define SP_RT_MAX_GIDS	       64
#define SP_RT_MAX_SYSCTLS      16
#define SP_RT_SYSCTL_VALUE_MAX 256
#define SP_RT_CGROUP_ROOT      "/sys/fs/cgroup"
#define SP_RT_CGROUP_SANDBOX   "sealpod" /* the sandbox cgroup, below SP_RT_CGROUP_ROOT */
/* Bind-mount sources must lie beneath one of these (the Kata shared-file and sandbox paths). */
#define SP_RT_SHARED_DIR  "/run/kata-containers/shared/"
#define SP_RT_SANDBOX_DIR "/run/kata-containers/sandbox/"
/* The pause program's directory, bind-mounted read-only as the sandbox container's rootfs. */
#define SP_RT_PAUSE_DIR "/usr/libexec/sealpod"

/* --- capabilities (caps.c) ------------------------------------------------------------------- */
/* Names and the default set: lib/caps.h. */

struct sp_rt_caps {
	uint64_t bounding, effective, inheritable, permitted, ambient;
	bool net_raw_dropped; /* CAP_NET_RAW was named without the policy's consent */
};
/* The sets named by lc (NULL: the default set in bounding/effective/permitted). CAP_NET_RAW
 * outside allowed_extra | default is dropped (net_raw_dropped); any other name outside it is
 * refused with PERMISSION_DENIED naming the capability; unknown names with INVALID_ARGUMENT. */
int sp_caps_parse(const Grpc__LinuxCapabilities *lc, uint64_t allowed_extra, struct sp_rt_caps *out,
		  struct sp_err *err);
/* In the child: drops the bounding set, switches to uid/gid/groups keeping capabilities, then
 * sets the other four sets. */
int sp_caps_apply_user(const struct sp_rt_caps *c, uid_t uid, gid_t gid, const gid_t *gids,
		       size_t ngids, struct sp_err *err);

/* --- the plan: what the filter derived from a spec (spec.c) ----------------------------------- */
enum sp_rt_mount_kind { MK_PROC, MK_SYSFS, MK_TMPFS, MK_DEVPTS, MK_MQUEUE, MK_BIND, MK_CGROUP };

struct sp_rt_mount {
	enum sp_rt_mount_kind kind;
	const char *dest;   /* absolute, normalised; points into the spec */
	const char *source; /* MK_BIND: absolute, beneath a shared dir; never recursive */
	unsigned long flags;
	char data[256]; /* filesystem options */
};

/* A sysctl on the safe list (spec.c), written by the container's first process before its
 * root is entered (child.c). */
struct sp_rt_sysctl {
	const char *key, *value; /* point into the spec */
};

struct sp_rt_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct sp_rt_limits {
	int64_t memory_max;  /* bytes; -1 unlimited */
	int64_t swap_max;    /* bytes of swap (memory.swap.max); -1 unlimited, -2 not set */
	int64_t cpu_quota;   /* us; -1 unlimited */
	uint64_t cpu_period; /* us */
	uint64_t cpu_weight; /* 1..10000; 0 not set */
	int64_t pids_max;    /* -1 unlimited */
};

/* What an UpdateContainer changes (update.c): Kata's "zero or negative means not given", so a
 * resize can lower or raise a limit but never remove one (Pids aside: given, it is applied). */
struct sp_rt_resize {
	int64_t memory_max;  /* bytes; 0 not given */
	int64_t swap_max;    /* bytes of swap alone (memory.swap.max); -1 "max"; -2 not given */
	int64_t cpu_quota;   /* us; 0 not given */
	uint64_t cpu_period; /* us; 0 not given */
	uint64_t cpu_weight; /* 1..10000; 0 not given */
	int64_t pids_max;    /* a limit; -1 "max"; 0 not given */
	/* What the request carries that is not applied, for the console: "Devices CPU.Mems ...". */
	char ignored[128];
};
/* The resize r asks for, bounds checked as CreateContainer checks them (SP_E_INVALID). */
int sp_rt_resize_plan(const Grpc__LinuxResources *r, struct sp_rt_resize *out, struct sp_err *err);
/* UpdateContainer on container cid: the plan applied to its cgroup. */
int sp_rt_update(const char *cid, const Grpc__LinuxResources *r, struct sp_err *err);

/* The process part of a plan: shared by a container's init and every exec. */
struct sp_rt_proc_plan {
	const Grpc__Process *proc; /* argv, env, cwd: points into the request */
	struct sp_rt_caps caps;
	uid_t uid;
	gid_t gid;
	gid_t gids[SP_RT_MAX_GIDS];
	size_t ngids;
	struct sp_rt_rlimit rlimits[SP_RT_MAX_RLIMITS];
	size_t nrlimits;
	bool no_new_privs, terminal, has_oom_score;
	int oom_score_adj;
};

struct sp_rt_plan {
	const Grpc__Spec *spec;
	struct sp_rt_proc_plan p;
	const char *root; /* Root.Path, checked against the prepared rootfs */
	/* What PID 1 found at root on the mount the guest prepared for the container (its
	 * sp_rootfs: create.c): the child binds only this directory. Unset for the pause. */
	bool root_verified;
	dev_t root_dev;
	ino_t root_ino;
	bool root_readonly;
	bool pause;	      /* the sandbox container: rootfs = SP_RT_PAUSE_DIR, read-only */
	const char *hostname; /* NULL: keep the sandbox's */
	struct sp_rt_mount mounts[SP_RT_MAX_MOUNTS];
	size_t nmounts;
	const char *masked[SP_RT_MAX_PATHS];
	size_t nmasked;
	const char *readonly[SP_RT_MAX_PATHS];
	size_t nreadonly;
	struct sp_rt_limits limits;
	const Grpc__LinuxSeccomp *seccomp; /* NULL: only the always-on filter */
	struct sp_rt_sysctl sysctls[SP_RT_MAX_SYSCTLS];
	size_t nsysctls;
};

/* Filters spec for container cid. prepared_root: the rootfs this guest prepared for cid (NULL:
 * none, every Root.Path is refused); pause: that rootfs is the pause program's. allowed_extra:
 * capabilities beyond the default set that the policy consented to. */
int sp_rt_filter_spec(const Grpc__Spec *spec, const char *cid, const char *prepared_root,
		      bool pause, uint64_t allowed_extra, struct sp_rt_plan *plan,
		      struct sp_err *err);
/* The process part alone (also ExecProcess). */
int sp_rt_filter_process(const Grpc__Process *proc, uint64_t allowed_extra,
			 struct sp_rt_proc_plan *out, struct sp_err *err);
/* The request's fields around the spec (string_user, shared_mounts, the passfd ports): refused
 * when set. */
int sp_rt_filter_request(const Grpc__CreateContainerRequest *req, struct sp_err *err);
int sp_rt_filter_exec_request(const Grpc__ExecProcessRequest *req, struct sp_err *err);
/* Whether key is on the safe list of sysctls a spec may set. */
bool sp_rt_sysctl_safe(const char *key);
/* Lifts the forced noexec from the binds whose bit is set (the verdict's mount_exec: the policy's
 * allowed_mounts consented); nbits bits of mount_exec. */
void sp_rt_plan_allow_exec(struct sp_rt_plan *plan, const uint64_t *mount_exec, size_t nbits);

/* --- seccomp (seccomp.c) --------------------------------------------------------------------- */
/* Loads the OCI profile (when given) and then the filter denying socket(AF_VSOCK, ...) and
 * io_uring (which could open sockets behind seccomp's back). nnp: no_new_privs is set. */
int sp_seccomp_load(const Grpc__LinuxSeccomp *profile, bool nnp, struct sp_err *err);
/* Builds (without loading) the profile's filter; for tests. Returns 0 or -1 (SP_E_INVALID). */
int sp_seccomp_check_profile(const Grpc__LinuxSeccomp *profile, struct sp_err *err);

/* --- cgroup v2 (cgroup.c) --------------------------------------------------------------------- */
int sp_cgroup_setup_sandbox(struct sp_err *err);
/* Creates <root>/sealpod/<cid>, applies limits, returns an O_DIRECTORY fd in *fd. */
int sp_cgroup_create(const char *cid, const struct sp_rt_limits *l, int *fd, struct sp_err *err);
/* Writes what r gives into the container cgroup cgfd (UpdateContainer), nothing else. */
struct sp_rt_resize;
int sp_cgroup_update(int cgfd, const struct sp_rt_resize *r, struct sp_err *err);
int sp_cgroup_kill(int cgfd, struct sp_err *err);
int sp_cgroup_remove(const char *cid, struct sp_err *err);
/* oom_kill counter from memory.events (-1 on error). */
long sp_cgroup_oom_kills(int events_fd);
struct sp_rt_stats {
	Grpc__CgroupStats st;
	Grpc__CpuStats cpu;
	Grpc__CpuUsage cu;
	Grpc__MemoryStats mem;
	Grpc__MemoryData usage, swap, kernel;
	Grpc__PidsStats pids;
};
/* Fills s (every message initialised here) from the cgroup's files. */
void sp_cgroup_stats(int cgfd, struct sp_rt_stats *s);

/* --- rootfs (rootfs.c), run in the child after it has its own mount namespace ----------------- */
int sp_rootfs_setup(const struct sp_rt_plan *plan, struct sp_err *err);
/* The i-th (0, 1, ...) of the paths every container gets masked or read-only whatever its spec
 * says, beneath each proc and sysfs mount of plan: its absolute path in buf, *masked (else
 * read-only). 1, 0 past the last, -1 when the path does not fit in size. */
int sp_rt_floor_path(const struct sp_rt_plan *plan, size_t i, char *buf, size_t size, bool *masked);

/* --- the device cgroup (devcg.c) ------------------------------------------------------------ */
/* The devices a container may use, and nothing else: node, the ones rootfs.c creates in its
 * /dev; minor -1, any; access, the BPF_DEVCG_ACC_* bits allowed. */
struct sp_rt_dev {
	const char *name;
	unsigned major;
	int minor;
	bool node;
	unsigned access;
};
extern const struct sp_rt_dev sp_rt_devs[];
extern const size_t sp_rt_ndevs;
struct bpf_insn;
/* The BPF_PROG_TYPE_CGROUP_DEVICE program that allows sp_rt_devs only: its length, or 0 when
 * max instructions are too few. */
size_t sp_devcg_program(struct bpf_insn *prog, size_t max);
/* Loads it and attaches it, with no flags, to cgfd (an O_RDONLY cgroup directory). */
int sp_devcg_attach(int cgfd, struct sp_err *err);

/* --- the runtime state and lifecycle (container.c, process.c) --------------------------------- */
/* What main hands the runtime at boot (step_runtime). The secret declarations and the image
 * settings come from initdata and stay valid for the boot. */
struct sp_runtime_conf {
	struct sp_loop *loop;
	bool test_overlay; /* read once at boot: nothing at run time checks a file for it */
	const struct sp_image_settings *image;
	const struct sp_secret_decl *secrets;
	size_t nsecrets;
};
/* Starts the runtime: the cgroup v2 sandbox, PID 1's pid namespace. Off PID 1 (host tests) the
 * runtime answers but runs no container. The caller routes child exits to
 * sp_rt_child_exited(). */
int sp_runtime_init(const struct sp_runtime_conf *conf, struct sp_err *err);
/* The same without a configuration (the bundle driver): loop only, containers run off PID 1. */
int sp_rt_init(struct sp_loop *loop, struct sp_err *err);
bool sp_rt_ready(void);
/* The control port's container and process methods (handlers.c). */
extern const struct tt_msg_table sp_runtime_api;

/* The configuration of the image the guest pulled for a container: its process defaults and
 * its digest. When the policy sets pin_process_to_image, CreateContainer refuses a process
 * whose args, env or user differ from it (image.c has the rules). */
struct sp_rt_image_config {
	const char *const *entrypoint;
	size_t n_entrypoint;
	const char *const *cmd;
	size_t n_cmd;
	const char *const *env; /* "NAME=value" */
	size_t n_env;
	const char *workdir;
	const char *user; /* OCI config.User: "", "uid", "name", "uid:gid", "name:group", ... */
	const char *digest;
	/* What user resolves to in the image's own /etc/passwd and /etc/group, looked up by the
	 * pull worker (image/userdb.c, sp_image_user): user_ret 0 with uid and gid, or -1 with
	 * user_err (the pin then refuses with it). PID 1 reads nothing of the image. Without
	 * user_resolved the pin refuses: nobody looked it up. */
	bool user_resolved;
	int user_ret;
	uint32_t uid, gid;
	struct sp_err user_err;
};
/* A copy in one allocation (free() it), or NULL for NULL strings, more than SP_RT_MAX_ARGS
 * entries in a list, a string over 64 KiB, over 1 MiB in all, or no memory. */
struct sp_rt_image_config *sp_rt_image_config_dup(const struct sp_rt_image_config *cfg);
/* The uid and gid the image's User resolved to: the pull worker looked them up in the image's
 * own /etc/passwd and /etc/group (image/userdb.c) and sent them with the pull's result. -1 with
 * the lookup's error, or SP_E_DENIED when nobody looked it up. */
int sp_rt_image_user_resolved(const struct sp_rt_image_config *cfg, uint32_t *uid, uint32_t *gid,
			      struct sp_err *err);
/* 0 when pin is off or pp's args, env, cwd, user and additional gids agree with cfg (NULL:
 * none, refused when pinning); else -1 with err naming the field, never the image's value
 * (SP_E_DENIED, or another kind). pin.c has the rules. */
int sp_rt_check_image_pin(const struct sp_rt_image_config *cfg, const struct sp_rt_proc_plan *pp,
			  const struct sp_policy_pin *pin, struct sp_err *err);
/* 0 when pin is off or no bind of plan covers the code its process runs (program directory,
 * dynamic loader) or, unless mounts_judged (the policy's allowed_mounts matched every mount), a
 * path the image has (looked up beneath rootfd, the verified rootfs); else -1 (SP_E_DENIED)
 * naming the mount. */
int sp_rt_check_pin_mounts(const struct sp_rt_plan *plan, const struct sp_policy_pin *pin,
			   bool mounts_judged, int rootfd, struct sp_err *err);

/* --- secrets (secrets.c) ---------------------------------------------------------------------- */
/* The secrets one container has: files on PID 1's own tmpfs, bound into the container. */
struct sp_secret_set;
/* Fetches from the KBS every secret of decls bound to digest, for container cid, onto the
 * tmpfs: 0 when none is bound to it (*set NULL), -1, or SP_PENDING and then done with the set
 * (the caller's from then on: sp_secret_set_release). Cancel wipes what was fetched. */
struct sp_secrets_job;
typedef void (*sp_secrets_done_fn)(void *arg, int ret, struct sp_secret_set *set,
				   const struct sp_err *err);
int sp_secrets_start(const char *cid, const char *digest, const struct sp_secret_decl *decls,
		     size_t ndecls, sp_secrets_done_fn done, void *arg, struct sp_secrets_job **job,
		     struct sp_err *err);
void sp_secrets_cancel(struct sp_secrets_job *job);
/* Overwrites and removes the files and frees set (NULL: nothing). */
void sp_secret_set_release(struct sp_secret_set *set);
size_t sp_secret_set_count(const struct sp_secret_set *set);
/* Appends to plan a read-only (nosuid, nodev, noexec) bind of each secret of set at its
 * declared path, after the host's mounts so that none covers it; each file is made the container
 * user's, with its declared mode. 0 (also when set is NULL) or -1. */
int sp_rt_secret_mounts(const struct sp_secret_set *set, struct sp_rt_plan *plan,
			struct sp_err *err);

/* --- the lifecycle, without the control port (handlers.c and the bundle driver) ---------------- */
/* One container to create. rootfs: what the guest prepared for it (NULL: none, every Root.Path
 * is refused), path and mount id (0 is refused: Root.Path must be on that very mount, checked
 * when the container is created); pause: the sandbox container (the built-in pause program, read-only);
 * allowed_extra: capabilities beyond the default set that the policy consented to; stdio: fds
 * for the container's 0, 1, 2 (NULL: pipes that ReadStdout/ReadStderr/WriteStdin serve). */
struct sp_rt_create {
	const char *cid;
	const Grpc__Spec *spec;
	bool sandbox_pidns;
	bool pause;
	uint64_t allowed_extra;
	const uint64_t *mount_exec; /* the verdict's: binds that may keep exec (NULL: none) */
	bool mounts_judged;	    /* the policy's allowed_mounts matched every mount */
	const int *stdio;
	const struct sp_rootfs *rootfs;
	const struct sp_rt_image_config *img; /* what the pin compares the process with */
	struct sp_policy_pin pin;
	const struct sp_secret_set *secrets;
};
/* Plans, allocates and spawns the container's init, which sets everything up and holds before
 * exec; then waits on the loop for its report: -1 at once, or SP_PENDING and then done (ret 0:
 * created, waiting for StartContainer). Cancel kills it and forgets it. */
struct sp_rt_pending;
int sp_rt_create(const struct sp_rt_create *a, sp_done_fn done, void *arg,
		 struct sp_rt_pending **pending, struct sp_err *err);
/* What sp_rt_create would refuse of a before anything is made: the spec filtered and, with the
 * pin, the process and the binds against the image (through the rootfs a->rootfs names). The
 * preparation runs it before it fetches any secret; 0 or -1 with err. */
int sp_rt_check_create(const struct sp_rt_create *a, struct sp_err *err);
void sp_rt_create_cancel(struct sp_rt_pending *pending);
/* Releases the init and learns whether its execve worked: -1 at once, or SP_PENDING and done. */
int sp_rt_start(const char *cid, sp_done_fn done, void *arg, struct sp_err *err);
/* A new process in a running container: -1 at once, or SP_PENDING and done once its execve
 * worked or failed (a failed one is forgotten). */
int sp_rt_exec(const char *cid, const char *exec_id, const Grpc__Process *proc,
	       uint64_t allowed_extra, const int *stdio, sp_done_fn done, void *arg,
	       struct sp_err *err);
/* The process cid's init was created with, as the policy compares an exec with it: 0 with *out
 * pointing into the container's record (valid until the runtime next runs), -1 when there is no
 * such container. */
int sp_rt_process_facts(const char *cid, struct sp_policy_ctr *out);
/* exec_id "" means the container's init; SIGKILL to "" kills the whole cgroup. */
int sp_rt_signal(const char *cid, const char *exec_id, int sig, struct sp_err *err);
/* Kills every process and forgets the container; its cgroup goes once it is empty (never a
 * wait here). */
int sp_rt_remove(const char *cid, struct sp_err *err);
/* 0 with *exited and *status (exit code or 128+signal), or -1 (no such process). */
int sp_rt_status(const char *cid, const char *exec_id, bool *exited, int *status);
size_t sp_rt_count(void);

/* An exit reported by the reaper (PID 1's SIGCHLD or the driver's waitpid). */
void sp_rt_child_exited(pid_t pid, int status);

#endif
