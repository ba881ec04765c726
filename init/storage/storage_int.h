/* Inside the storage module: the pure parsers (opts.c, fuzzed and unit-tested), the sysfs
 * lookups (sysfs.c), the work a format worker does (format.c), the worker processes and their
 * reports on PID 1's loop (worker.c), and the Kata drivers (kata.c). */
#ifndef SEALPOD_STORAGE_INT_H
#define SEALPOD_STORAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"
#include "lib/loop.h"

#define SP_STORAGE_DIR	     "/run/sealpod/storage"
#define SP_STORAGE_TMPFS_DIR SP_STORAGE_DIR	 /* no disk: the same path, on /run's tmpfs */
#define SP_STORAGE_HDR_DIR   "/run/sealpod/luks" /* detached LUKS2 headers, on tmpfs */
#define SP_STORAGE_SERIAL    "sealpod-ephemeral"
#define SP_STORAGE_MIN_BYTES (64ull << 20)
#define SP_STORAGE_MKE2FS    "/usr/bin/mke2fs"
#define SP_KATA_PREFIX	     "/run/kata-containers/"
#define SP_PCI_PATH_MAX	     8 /* hops (bridges) in a PCI path */

/* --- opts.c: pure, no I/O ------------------------------------------------------------------ */

/* A Kata PCI path, "SS[.F]/SS[.F]/..." (hex slot <= 1f, function <= 7): the first hop is a
 * device on the root bus, each further one a device on the bus behind the previous bridge. */
struct sp_pci_path {
	unsigned n;
	uint8_t slot[SP_PCI_PATH_MAX];
	uint8_t fn[SP_PCI_PATH_MAX];
};
int sp_pci_path_parse(const char *s, size_t len, struct sp_pci_path *out, struct sp_err *err);

/* What a Storage's driver_options and options ask of the blk driver. */
struct sp_blk_opts {
	bool encrypt;	      /* encryption_key=ephemeral */
	bool create_fs;	      /* create_filesystem */
	bool read_only;	      /* "ro" in options */
	unsigned long mflags; /* MS_* from options (nodev, nosuid always added) */
};
/* driver_options and options as the host sent them (n entries each). Unknown driver options and
 * mount options that would loosen the rules (dev, suid, exec is fine) are refused. */
int sp_blk_opts_parse(char *const *drv_opts, size_t ndrv, char *const *opts, size_t nopts,
		      struct sp_blk_opts *out, struct sp_err *err);

/* Refuses a disk too small (or absurdly large) for an encrypted file system: bytes is the
 * disk's size, name its kernel name for the message. */
int sp_storage_size_check(const char *name, uint64_t bytes, struct sp_err *err);

/* The 4 KiB blocks of an ext4 with 32768 blocks per group and sparse_super that hold a
 * superblock (group 0 and the backup groups 1, 3^k, 5^k, 7^k) below nblocks, ascending; returns
 * how many (at most max are stored). */
size_t sp_ext4_sb_blocks(uint64_t nblocks, uint64_t *out, size_t max);

/* The options of Kata's "ephemeral" and "local" emptyDir storages (sandboxfs.c). */
struct sp_sandboxfs_opts {
	long gid;  /* fsgid=N, -1 when absent */
	long mode; /* local only: mode=OOOO, -1 when absent */
};
int sp_sandboxfs_opts_parse(char *const *opts, size_t n, bool local, struct sp_sandboxfs_opts *out,
			    struct sp_err *err);

/* "vdb" etc.: a kernel block device name we accept from sysfs (no '/', no dots, short). */
bool sp_valid_blkname(const char *s);

/* --- sysfs.c -------------------------------------------------------------------------------- */

/* Kernel name of the virtio-blk disk whose serial is serial; 0 found, 1 none, <0 error. */
int sp_sysfs_find_serial(const char *serial, char *name, size_t size, struct sp_err *err);
/* Kernel name of the virtio-blk disk at PCI path p (root bus 0000:00): 0 found, 1 not (yet)
 * there, <0 error. */
int sp_sysfs_find_pci(const struct sp_pci_path *p, char *name, size_t size, struct sp_err *err);
/* Size in bytes and logical block size of /sys/class/block/<name>. */
int sp_sysfs_disk_size(const char *name, uint64_t *bytes, unsigned *lbs, struct sp_err *err);

/* --- format.c: runs in a worker process ----------------------------------------------------- */

enum sp_fmt_flags {
	SP_FMT_JOURNAL = 1u << 0, /* dm-integrity journal on (default off) */
	SP_FMT_WIPE = 1u << 1, /* crypt_wipe the whole device instead of write-before-read mkfs */
	SP_FMT_KATA_EMPTYDIR = 1u << 2, /* Kata's emptyDir mkfs profile (few inodes) */
};

struct sp_fmt_req {
	char disk[32];		 /* kernel name, e.g. "vdb" */
	char dm_name[64];	 /* device-mapper name */
	char target[256];	 /* where to mount; "" to leave unmounted */
	unsigned flags;		 /* enum sp_fmt_flags */
	unsigned long mflags;	 /* extra MS_* flags */
	bool has_fs_gid;	 /* Storage.fs_group given: apply it once mounted (fsgroup.c) */
	bool fs_gid_on_mismatch; /* its policy is OnRootMismatch */
	uint32_t fs_gid;
};

/* Kata's set_ownership of fs_group on the mounted tree at rootfd: group gid and g+r (g+rw unless
 * ro) on everything beneath, g+x and set-group-id on directories, symlinks skipped. With
 * on_root_mismatch nothing is done when the root already has the group and bits (*changed says
 * whether anything was). fsgroup.c. */
int sp_fs_group_apply(int rootfd, gid_t gid, bool ro, bool on_root_mismatch, bool *changed,
		      struct sp_err *err);

/* Milliseconds spent in each stage, for the console line and the benchmark. */
struct sp_fmt_times {
	uint32_t luks_ms, activate_ms, wipe_ms, mkfs_ms, mount_ms, total_ms;
};

/* Formats and (when target is set) mounts; every failure is "storage.<stage>: reason". Runs the
 * whole sequence synchronously: call it in a worker process, never in PID 1's loop. */
int sp_storage_format(const struct sp_fmt_req *r, struct sp_fmt_times *t, struct sp_err *err);
/* Unmounts target (when set) and removes dm_name. Synchronous, for a worker too. */
int sp_storage_teardown(const char *target, const char *dm_name, struct sp_err *err);

/* --- worker.c: a worker process (lib/worker.h) reporting on PID 1's loop ---------------------- */

struct sp_fmt_job;
enum { SP_FMT_REQ = 1 };  /* to the worker: the request (and whether to tear down) */
enum { SP_FMT_DONE = 1 }; /* from it: struct sp_fmt_times, or an error frame */
typedef void (*sp_fmt_done_fn)(void *arg, int ret, const struct sp_err *err,
			       const struct sp_fmt_times *t);
/* Spawns a worker that formats r (or, with teardown set, tears it down) and calls done on the
 * loop when it reported and is gone. Returns the handle or NULL with err. */
struct sp_fmt_job *sp_fmt_start(struct sp_loop *loop, const struct sp_fmt_req *r, bool teardown,
				sp_fmt_done_fn done, void *arg, struct sp_err *err);
/* Forget the worker's report (the requester went away); the process runs to its end and what
 * it made is torn down by a second worker then. */
void sp_fmt_abandon(struct sp_fmt_job *j);

/* --- pod.c / kata.c ------------------------------------------------------------------------- */
/* Who waits for the pod storage or for a Kata storage job (storage.h). */
struct sp_storage_waiter {
	struct sp_storage_waiter *next;
	sp_done_fn done;
	void *arg;
};
struct sp_loop *sp_storage_loop(void);
unsigned sp_storage_hotplug_timeout_ms(void);
/* The trusted image store is mounted at dir: the pod dir moves there (encrypted). */
void sp_storage_note_trusted(const char *dir);
/* Kernel name of the standalone pod disk, NULL when there is none. */
const char *sp_storage_pod_disk(void);

/* The worker's capabilities (worker.c): every one outside them leaves every set, bounding and
 * ambient included, and no_new_privs is set (sp_storage_confine). */
struct sp_confine;
extern const uint64_t sp_storage_worker_caps;
extern const struct sp_confine sp_storage_confine;

#endif
