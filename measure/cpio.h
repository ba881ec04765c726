/* A bit-reproducible writer of newc ("070701") cpio archives for the initramfs.
 *
 * The archive is described by list files in a gen_init_cpio-like format, one entry a line:
 *
 *   dir   PATH MODE
 *   file  PATH SOURCE MODE
 *   nod   PATH MODE c|b MAJOR MINOR
 *   slink PATH TARGET MODE
 *
 * '#' starts a comment (a whole line, or from a field that begins with '#'). PATH is absolute
 * inside the image; MODE is octal permission bits (at most 07777). SOURCE may use ${NAME},
 * looked up in the variables given to the parser and then in the environment; a relative
 * SOURCE is resolved against the parser's root directory. Several lists are layered: an entry
 * of a later list replaces the entry of an earlier one with the same PATH; the same PATH twice
 * in one list is an error.
 *
 * Output is a function of the list contents and the source file bytes only: entries sorted by
 * path (parents first), uid/gid 0, one fixed mtime, sequential inode numbers, nlink 1 (2 for
 * directories), devmajor/devminor 0; missing parent directories are added as 0755. */
#ifndef SEALPOD_CPIO_H
#define SEALPOD_CPIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CPIO_ERR_MAX  512
#define CPIO_PATH_MAX 1024
#define CPIO_MAX_VARS 16

struct cpio_error {
	char msg[CPIO_ERR_MAX];
};

enum cpio_type {
	CPIO_DIR,
	CPIO_FILE,
	CPIO_NOD_CHR,
	CPIO_NOD_BLK,
	CPIO_SLINK,
};

struct cpio_entry {
	char *path; /* absolute, normalised in-image path ("/etc/ssl") */
	char *data; /* CPIO_FILE: host source path; CPIO_SLINK: link target; else NULL */
	enum cpio_type type;
	unsigned mode;		 /* permission bits only */
	unsigned rmajor, rminor; /* device nodes */
	int layer;		 /* which list it came from; later layers override earlier ones */
	int implicit;		 /* a parent directory nobody listed */
	uint32_t size;		 /* CPIO_FILE: the source's size, filled in by cpio_write */
};

struct cpio_list {
	struct cpio_entry *v;
	size_t n, cap;
};

/* Substitutions for ${NAME} in SOURCE fields, and the directory relative sources start from. */
struct cpio_parse_ctx {
	const char *root; /* NULL: the current directory */
	struct {
		const char *name, *value;
	} vars[CPIO_MAX_VARS];
	size_t nvars;
};

/* Fills err->msg from fmt, adding ": strerror(errnum)" when errnum is not 0; returns -1. */
__attribute__((format(printf, 3, 4))) int cpio_fail(struct cpio_error *err, int errnum,
						    const char *fmt, ...);

void cpio_list_init(struct cpio_list *l);
void cpio_list_free(struct cpio_list *l);

/* Adds (or, from a later layer, replaces) one entry; copies path and data. */
int cpio_list_add(struct cpio_list *l, enum cpio_type type, const char *path, const char *data,
		  unsigned mode, unsigned rmajor, unsigned rminor, int layer,
		  struct cpio_error *err);

/* Checks that path is absolute and has no empty, "." or ".." component nor odd characters. */
int cpio_check_path(const char *path, struct cpio_error *err);

/* Parses one line of a list (no trailing newline needed); where names the line in errors. */
int cpio_parse_line(struct cpio_list *l, const struct cpio_parse_ctx *ctx, const char *line,
		    int layer, const char *where, struct cpio_error *err);
/* Parses a whole list file; name is used in error messages. */
int cpio_parse_stream(struct cpio_list *l, const struct cpio_parse_ctx *ctx, FILE *in,
		      const char *name, int layer, struct cpio_error *err);
int cpio_parse_file(struct cpio_list *l, const struct cpio_parse_ctx *ctx, const char *path,
		    int layer, struct cpio_error *err);

/* Adds implicit parent directories, sorts by path and checks that every parent is a
 * directory. cpio_write calls it; exposed for tests and for --print. */
int cpio_finalize(struct cpio_list *l, struct cpio_error *err);

/* Writes the archive, TRAILER!!! included, padded to a 4-byte boundary. Every file source is
 * checked (exists, regular, < 4 GiB) before the first byte is written. */
int cpio_write(struct cpio_list *l, uint32_t mtime, FILE *out, struct cpio_error *err);

#endif
