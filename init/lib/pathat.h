/* Paths PID 1 creates and mounts on itself, resolved from a directory fd it opened, never through
 * a symlink (DESIGN.md, "Trust rules"): directories made one component at a time, the two
 * per-container rootfs shapes real Kata shims use, and mount ids, which say whether what sits at a
 * path now is the very mount a worker made there. */
#ifndef SEALPOD_LIB_PATHAT_H
#define SEALPOD_LIB_PATHAT_H

#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

#define SP_KATA_DIR "/run/kata-containers"

/* openat2 resolve flags for a walk that stays beneath its dirfd, never follows a symlink, and
 * (with _XDEV) never leaves the dirfd's mount. */
#define SP_RESOLVE_STRICT      (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
#define SP_RESOLVE_STRICT_XDEV (SP_RESOLVE_STRICT | RESOLVE_NO_XDEV)

enum sp_rootfs_shape {
	SP_ROOTFS_RUN = 1,    /* /run/kata-containers/<cid>/rootfs */
	SP_ROOTFS_SHARED = 2, /* /run/kata-containers/shared/containers/<cid>/rootfs */
};

/* Whether path is, byte for byte, one of the per-container rootfs shapes for container cid (a
 * valid id): returns the shape, and *rel (may be NULL) the part after "/run/kata-containers/",
 * inside path's storage. Anything else (another container's id, a nested path, "//", ".",
 * "..", a trailing '/') returns -1 with *why (may be NULL), a phrase fit for
 * "the mount point '<p>' <why>". */
int sp_rootfs_path_check(const char *cid, const char *path, const char **rel, const char **why);

/* Creates the missing directories of rel (relative, '/'-separated, no "." or ".." needed) beneath
 * dirfd with mode, each opened with openat2(resolve) before the next is made, and returns an fd
 * of the last one opened with flags | O_DIRECTORY | O_CLOEXEC (O_PATH or O_RDONLY). Every
 * component must be a plain directory; resolve decides the rest (SP_RESOLVE_STRICT[_XDEV]).
 * Returns -1 with err naming the component (a symlink gives ELOOP, a mount under _XDEV EXDEV). */
int sp_mkdirs_at(int dirfd, const char *rel, mode_t mode, int flags, uint64_t resolve,
		 struct sp_err *err);

/* The id of the mount fd lies on (statx; the 64-bit unique id where the kernel has it, which is
 * never reused while the guest runs). 0 or -1. */
int sp_mount_id(int fd, uint64_t *id);

/* Opens path (absolute) as an O_PATH directory without following a symlink and checks that it
 * lies on the mount whose id is want. Returns the fd, or -1 with err ("... is not the mount ...
 * made there" when something else is there now). */
int sp_open_on_mount(const char *path, uint64_t want, struct sp_err *err);

/* The mount id of the directory at path (absolute), resolved without following a symlink. */
int sp_path_mount_id(const char *path, uint64_t *id, struct sp_err *err);

/* True when fd is the root of a mount (something is mounted there). */
bool sp_is_mount_root(int fd);

#endif
