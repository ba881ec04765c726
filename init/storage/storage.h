/* Pod-scoped storage: where image layers, container upper/work dirs and emptyDirs live, and
 * Kata's storages. init/storage/ defines these; main runs the boot step, the CreateContainer
 * preparation (runtime/prepare.c) calls the primitives, the policy gate reads the state.
 *
 * - sp_storage_pod_dir() names the directory for pod-scoped data and says whether it is on the
 *   encrypted, integrity-protected disk; NULL while that storage is still being made
 *   (standalone: the sealpod-ephemeral disk is formatted at boot in a worker) or after it
 *   failed. Ask again for every pull: under Kata the pod dir moves to the trusted store once the
 *   host hands one (`/run/kata-containers/image`).
 * - The asynchronous primitives follow lib/err.h: start returns 0, -1 or SP_PENDING and then
 *   runs done once from PID 1's loop unless cancelled. */
#ifndef SEALPOD_STORAGE_STORAGE_H
#define SEALPOD_STORAGE_STORAGE_H

#include <stdbool.h>

#include "lib/err.h"
#include "lib/loop.h"

#include "agent.pb-c.h"

/* --- the pod storage -------------------------------------------------------------------------- */
enum sp_pod_state {
	SP_POD_NONE = 0, /* the boot step has not run */
	SP_POD_PENDING,	 /* the sealpod-ephemeral disk is being formatted */
	SP_POD_READY,
	SP_POD_FAILED,
};
/* What the pod storage is now; *encrypted (may be NULL) whether it is on an encrypted disk. */
enum sp_pod_state sp_storage_state(bool *encrypted);
const char *sp_storage_pod_dir(bool *encrypted);

/* Waits until the pod storage is usable: 0 it is, -1 with err it failed, SP_PENDING. */
struct sp_storage_waiter;
int sp_storage_wait(sp_done_fn done, void *arg, struct sp_storage_waiter **w, struct sp_err *err);
void sp_storage_wait_cancel(struct sp_storage_waiter *w);

/* Boot step (init/boot/main.c): finds the sealpod-ephemeral disk and starts formatting it in a
 * worker on loop (or settles on tmpfs); remembers loop and agent.hotplug_timeout for the Kata
 * block storages. Returns at once; -1 when the pod storage failed already (console says why). */
int sp_storage_boot(struct sp_loop *loop, unsigned hotplug_timeout_s);

/* --- Kata's storages (kata.c, sandboxfs.c) ------------------------------------------------------ */
#define SP_TRUSTED_STORE_DEVICE "/dev/trusted_store"

/* The pod's trusted image store: the Device a CreateContainer names SP_TRUSTED_STORE_DEVICE (its
 * id a PCI path), formatted like the pod disk and mounted on /run/kata-containers/image, where
 * the pod dir then moves. Pod-scoped: made once, kept until the guest goes; a second request
 * waits for the first one's format. cid is for messages. Cancel forgets this waiter only. */
int sp_storage_trusted_start(const Grpc__Device *d, const char *cid, sp_done_fn done, void *arg,
			     struct sp_storage_waiter **w, struct sp_err *err);
void sp_storage_trusted_cancel(struct sp_storage_waiter *w);

/* Kata's block storage (driver "blk"/"blk-pci"): Storage s for container cid, a disk by PCI path
 * (or /dev/<name>) that may still be hot-plugged, formatted encrypted and mounted at its mount
 * point. Always SP_PENDING or -1. Cancel (while pending) stops and undoes it; release (once done
 * with 0) unmounts it and closes its devices. Both free the handle. */
struct sp_blk;
int sp_storage_blk_start(const Grpc__Storage *s, const char *cid, sp_done_fn done, void *arg,
			 struct sp_blk **b, struct sp_err *err);
void sp_storage_blk_cancel(struct sp_blk *b);
void sp_storage_blk_release(struct sp_blk *b);
/* Waits until every block storage released so far is torn down (unmounted, its device-mapper
 * device gone or, when still busy, deferred): 0 at once when none is in flight, else
 * SP_PENDING and done(arg, 0, NULL) runs once from the loop. Never cancelled: done must cope
 * with a requester that went away. */
int sp_storage_released_wait(sp_done_fn done, void *arg, struct sp_err *err);

/* Kata's emptyDirs without a disk, synchronous and sandbox-scoped (nothing to release): driver
 * "ephemeral" (local false: a tmpfs beneath /run/kata-containers/sandbox/ephemeral/) and "local"
 * (a directory beneath the shared-files path). */
int sp_storage_sandboxfs_prepare(const Grpc__Storage *s, bool local, struct sp_err *err);

/* The sandbox's /dev/shm: CreateSandbox's storage {driver "ephemeral", source "shm", fstype
 * "tmpfs", mount point SP_SANDBOX_SHM}, which containers bind on their /dev/shm. Check reads the
 * options (noexec, nosuid, nodev, mode=OOOO, size=BYTES[k|m|g], fsgid=N; anything else refused by
 * name) without changing anything; mount puts the tmpfs there, beneath root ("" in the guest).
 * size= is honoured: see POLICY.md "The sandbox's /dev/shm". */
#define SP_SANDBOX_SHM "/run/kata-containers/sandbox/shm"
struct sp_shm_opts {
	unsigned long long size; /* bytes; 0: the kernel's default (half of RAM) */
	long mode;		 /* permission bits, 01777 unless given */
	long gid;		 /* fsgid=N: group owner plus set-group-id, -1 when absent */
};
int sp_storage_shm_check(const Grpc__Storage *s, struct sp_shm_opts *o, struct sp_err *err);
int sp_storage_shm_mount(const char *root, const struct sp_shm_opts *o, bool mount_it,
			 struct sp_err *err);

/* The format and teardown worker's table entry (worker.c), for /init's list of workers. */
struct sp_worker_def;
extern const struct sp_worker_def sp_storage_worker;

#endif
