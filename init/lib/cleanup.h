/* Scope-bound ownership of fds and heap, crun style: `cleanup_close int fd = -1;` closes on every
 * return path; hand ownership out with steal_fd()/steal_ptr(). */
#ifndef SEALPOD_LIB_CLEANUP_H
#define SEALPOD_LIB_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sp_cleanup_close(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void sp_cleanup_free(void *p)
{
	int saved = errno;
	free(*(void **)p);
	errno = saved;
}

#define cleanup_close __attribute__((cleanup(sp_cleanup_close)))
#define cleanup_free  __attribute__((cleanup(sp_cleanup_free)))

static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}

#endif
