/* Small file helpers shared by several capabilities. */
#ifndef SEALPOD_LIB_FILEIO_H
#define SEALPOD_LIB_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/* Reads at most cap bytes of path into buf; *len gets the count, *truncated whether more was
 * there. Does not NUL-terminate. */
int sp_read_file(const char *path, char *buf, size_t cap, size_t *len, bool *truncated,
		 struct sp_err *err);
/* open(O_WRONLY|O_CLOEXEC) + write all of s + close. */
int sp_write_file(const char *path, const char *s, size_t len, struct sp_err *err);
int sp_write_all(int fd, const void *buf, size_t len);
bool sp_path_exists(const char *path);
/* openat2(2) with O_CLOEXEC added: resolve takes RESOLVE_* from <linux/openat2.h> (musl has no
 * wrapper). Retries the kernel's EAGAIN, which it returns when a rename raced the walk. */
int sp_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);

#endif
