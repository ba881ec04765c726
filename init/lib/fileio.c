#define _GNU_SOURCE
#include "lib/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"

int sp_read_file(const char *path, char *buf, size_t cap, size_t *len, bool *truncated,
		 struct sp_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t have = 0;

	if (fd < 0)
		return sp_error(err, errno, "open %s", path);
	while (have < cap) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sp_error(err, errno, "read %s", path);
		if (n == 0)
			break;
		have += (size_t)n;
	}
	*len = have;
	if (truncated) {
		char extra;
		ssize_t n;

		do
			n = read(fd, &extra, 1);
		while (n < 0 && errno == EINTR);
		*truncated = n > 0;
	}
	return 0;
}

int sp_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sp_write_file(const char *path, const char *s, size_t len, struct sp_err *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return sp_error(err, errno, "open %s", path);
	if (sp_write_all(fd, s, len) < 0)
		return sp_error(err, errno, "write %s", path);
	return 0;
}

bool sp_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int sp_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = resolve,
	};
	long fd = -1;

	for (int i = 0; i < 8; i++) {
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0 || (errno != EAGAIN && errno != EINTR))
			break;
	}
	return (int)fd;
}
