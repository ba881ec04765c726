/* OnlineCPUMem: after the VMM hot-plugged vCPUs or memory, bring them online through sysfs. */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"

static int cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* The N of every "<stem>N" entry of dir, ascending, in a malloc'd array (NULL and 0 when the
 * directory is absent). */
static int list_numbered(const char *dir, const char *stem, unsigned **out, size_t *n,
			 struct sp_err *err)
{
	DIR *d = opendir(dir);
	size_t cap = 0, stemlen = strlen(stem);
	struct dirent *e;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0
							   : sp_error(err, errno, "open %s", dir);
	while ((e = readdir(d)) != NULL && *n < SP_ONLINE_MAX_ENTRIES) {
		const char *num = e->d_name + stemlen;
		char *end;
		unsigned long v;

		if (strncmp(e->d_name, stem, stemlen) != 0 || *num < '0' || *num > '9')
			continue;
		errno = 0;
		v = strtoul(num, &end, 10);
		if (errno || *end || v > 1000000)
			continue;
		if (*n == cap) {
			unsigned *p = realloc(*out, (cap ? cap * 2 : 64) * sizeof(**out));

			if (!p) {
				closedir(d);
				free(*out);
				*out = NULL;
				*n = 0;
				return sp_error(err, ENOMEM, "list %s", dir);
			}
			*out = p;
			cap = cap ? cap * 2 : 64;
		}
		(*out)[(*n)++] = (unsigned)v;
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_uint);
	return 0;
}

/* 1 when <dir>/<stem>N/online was 0 and now is 1, 0 when it was online already or has no
 * online file, -1 on a write error. */
static int online_one(const char *dir, const char *stem, unsigned idx, struct sp_err *err)
{
	char path[512], state[8];
	cleanup_close int fd = -1;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s%u/online", dir, stem, idx) >= (int)sizeof(path))
		return sp_error(err, ENAMETOOLONG, "%s/%s%u", dir, stem, idx);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT || errno == EACCES || errno == EPERM
			       ? 0
			       : sp_error(err, errno, "open %s", path);
	n = pread(fd, state, sizeof(state) - 1, 0);
	if (n <= 0 || state[0] != '0')
		return 0;
	if (pwrite(fd, "1", 1, 0) != 1)
		return sp_error(err, errno, "write 1 to %s", path);
	return 1;
}

static int online_all(const char *sysfs, const char *sub, const char *stem, unsigned max,
		      unsigned *done, struct sp_err *err)
{
	cleanup_free unsigned *idx = NULL;
	char dir[512];
	size_t n;

	*done = 0;
	if (snprintf(dir, sizeof(dir), "%s/%s", sysfs, sub) >= (int)sizeof(dir))
		return sp_error(err, ENAMETOOLONG, "%s/%s", sysfs, sub);
	if (list_numbered(dir, stem, &idx, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && *done < max; i++) {
		int r = online_one(dir, stem, idx[i], err);

		if (r < 0)
			return -1;
		*done += (unsigned)r;
	}
	return 0;
}

int sp_online_cpu_mem(const char *sysfs, uint32_t nb_cpus, bool cpu_only, unsigned *cpus,
		      unsigned *mems, struct sp_err *err)
{
	*cpus = *mems = 0;
	if (nb_cpus && online_all(sysfs, "devices/system/cpu", "cpu", nb_cpus, cpus, err) < 0)
		return -1;
	if (!cpu_only && online_all(sysfs, "devices/system/memory", "memory", SP_ONLINE_MAX_ENTRIES,
				    mems, err) < 0)
		return -1;
	return 0;
}
