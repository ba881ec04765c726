/* The streaming tar reader of the parser child (DESIGN.md, "Image pull"): ustar, GNU long names
 * ('L'/'K'), PAX extended headers ('x', 'g') with a size cap, base-256 numbers. Bytes are pushed
 * in any chunking; every entry comes out validated and normalised (struct sp_tar_entry), file
 * contents follow as data callbacks. Anything the reader cannot represent safely is refused with
 * a reason: '..' components, a non-directory root, a bare ".wh.", trusted.overlay.* xattrs,
 * sparse and other unknown types, a header whose checksum is wrong, sizes over the caps.
 * Pure: no I/O, no syscalls (fuzzed as tests/fuzz/fuzz_tar.c). */
#ifndef SEALPOD_IMAGE_TAR_H
#define SEALPOD_IMAGE_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SP_TAR_PATH_MAX	  4095	/* bytes of a normalised path or link target */
#define SP_TAR_XATTRS_MAX 65536 /* bytes of encoded xattrs of one entry */

enum sp_tar_kind {
	SP_TAR_FILE = 1,
	SP_TAR_DIR,
	SP_TAR_SYMLINK,
	SP_TAR_HARDLINK,
	SP_TAR_FIFO,
	SP_TAR_CHAR,
	SP_TAR_BLOCK,
	SP_TAR_WHITEOUT, /* ".wh.<name>": path names <name> (the thing to hide) */
	SP_TAR_OPAQUE,	 /* "<dir>/.wh..wh..opq": path names <dir> ("" for the root) */
};

struct sp_tar_limits {
	uint64_t max_pax;     /* bytes of one PAX or GNU long-name header */
	uint64_t max_entries; /* entries in the archive */
	uint64_t max_total;   /* bytes of the archive (the decompressed stream) */
	uint64_t max_file;    /* bytes of one file */
};

/* Defaults: 1 MiB PAX, 1,000,000 entries, 64 GiB total and per file. */
void sp_tar_limits_default(struct sp_tar_limits *l);

struct sp_tar_entry {
	enum sp_tar_kind kind;
	char path[SP_TAR_PATH_MAX + 1]; /* normalised, relative; "" is the layer root */
	char link[SP_TAR_PATH_MAX +
		  1];  /* symlink target (verbatim) or hard-link target (normalised) */
	uint32_t mode; /* permission bits, 07777 */
	uint32_t uid, gid;
	uint64_t size; /* bytes of content that follow (files only; 0 otherwise) */
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t devmajor, devminor;
	/* xattrs: repeated (name NUL, u32 little-endian value length, value) */
	uint8_t xattrs[SP_TAR_XATTRS_MAX];
	size_t xattrs_len;
	unsigned nxattrs;
};

struct sp_tar_ops {
	/* An entry is complete (for files: its data follows through on_data). Return <0 to stop. */
	int (*on_entry)(void *arg, const struct sp_tar_entry *e, struct sp_err *err);
	int (*on_data)(void *arg, const uint8_t *buf, size_t len, struct sp_err *err);
};

struct sp_tar; /* opaque */

struct sp_tar *sp_tar_new(const struct sp_tar_limits *lim, const struct sp_tar_ops *ops, void *arg);
void sp_tar_free(struct sp_tar *t);
/* Pushes len bytes. 0, or -1 with err (the archive is refused; further calls fail too). */
int sp_tar_feed(struct sp_tar *t, const uint8_t *buf, size_t len, struct sp_err *err);
/* The input ended: 0 when the archive was complete (end marker seen), else -1 with err. */
int sp_tar_finish(struct sp_tar *t, struct sp_err *err);
uint64_t sp_tar_entries(const struct sp_tar *t);

/* Normalises a tar path into out (size SP_TAR_PATH_MAX + 1): strips leading '/' and "./",
 * drops empty and "." components and a trailing '/'. Refuses "..", NUL and over-long paths.
 * "" means the root. Returns 0, or -1 with a static reason. */
int sp_tar_normalise(const char *in, size_t len, char *out, const char **reason);
/* True when p is what sp_tar_normalise makes (the applier re-checks every record with this). */
bool sp_tar_path_ok(const char *p);

#endif
