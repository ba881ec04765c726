/* The applier: creates validated entries (struct sp_tar_entry) under a layer root, never
 * following a symlink out of it (DESIGN.md, "Image pull"). It parses nothing: its input is the
 * entry stream of the parser child, re-checked field by field.
 *
 * Every parent directory is resolved from the root fd with
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV) (a symlink in the layer, even
 * an absolute one or one full of "..", stays inside the root); leaves are created with *at()
 * calls that do not follow (O_EXCL|O_NOFOLLOW, AT_SYMLINK_NOFOLLOW); an existing leaf is removed
 * first unless it is a directory meeting a directory. Whiteouts become char 0:0 devices, opaque
 * directories get trusted.overlay.opaque=y; hard links only reach entries of this layer;
 * device nodes other than 0:0 are not created (counted and skipped: the container's /dev comes
 * from the runtime). Directory mtimes are applied at the end. */
#ifndef SEALPOD_IMAGE_APPLY_H
#define SEALPOD_IMAGE_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "image/tar.h"
#include "lib/err.h"

struct sp_apply_stats {
	uint64_t entries, files, dirs, links, whiteouts, opaques, skipped_devices, bytes;
};

struct sp_apply; /* opaque */

/* root_fd: a directory fd of the (empty) layer root; borrowed. chown: apply uid/gid (false in
 * unprivileged tests). */
struct sp_apply *sp_apply_new(int root_fd, bool chown);
void sp_apply_free(struct sp_apply *a);
int sp_apply_entry(struct sp_apply *a, const struct sp_tar_entry *e, struct sp_err *err);
int sp_apply_data(struct sp_apply *a, const uint8_t *buf, size_t len, struct sp_err *err);
/* All entries applied: directory mtimes. Fails when a file's data is incomplete. */
int sp_apply_finish(struct sp_apply *a, struct sp_err *err);
const struct sp_apply_stats *sp_apply_stats(const struct sp_apply *a);

/* Removes name (recursively when a directory) beneath dirfd without following symlinks. */
int sp_remove_tree_at(int dirfd, const char *name, struct sp_err *err);

#endif
