/* File helpers of sealpod-policy (spp.h). The inputs are the user's own files on the host, read
 * whole with a limit; outputs replace their target atomically so a failed run leaves the old
 * file in place. */
#define _GNU_SOURCE
#include "spp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fileio.h"

int spp_read_file(const char *path, size_t max, char **out, size_t *len, struct sp_err *err)
{
	int fd = strcmp(path, "-") == 0 ? fcntl(0, F_DUPFD_CLOEXEC, 3)
					: open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;

	if (fd < 0)
		return sp_error(err, errno, "open %s", path);
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return sp_error(err, ENOMEM, "read %s", path);
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				sp_error(err, ENOMEM, "read %s", path);
				goto fail;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sp_error(err, errno, "read %s", path);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			sp_fail(err, SP_E_EXHAUSTED, 0, "%s: larger than %zu bytes", path, max);
			goto fail;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

int spp_write_file(const char *path, const void *buf, size_t len, struct sp_err *err)
{
	char tmp[4096];
	int fd;

	if (strcmp(path, "-") == 0) {
		if (sp_write_all(1, buf, len) < 0)
			return sp_error(err, errno, "write stdout");
		return 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return sp_fail(err, SP_E_INVALID, 0, "%.64s...: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return sp_error(err, errno, "create a temporary file beside %s", path);
	if (sp_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		sp_error(err, errno, "write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		sp_error(err, errno, "rename %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

void spp_buf_add(struct spp_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void spp_buf_printf(struct spp_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	spp_buf_add(b, s, (size_t)n);
	free(s);
}

void spp_buf_free(struct spp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
