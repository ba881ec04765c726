/* Scope-bound ownership, crun style: `cleanup_close int fd = -1;` closes on every return path;
 * hand ownership out with steal_fd()/steal_ptr(). One cleanup per kind of resource: fds, heap,
 * secrets (wiped before they are freed), json-c objects, OpenSSL cipher contexts, and a child a
 * worker forked (killed and waited for). */
#ifndef SEALPOD_LIB_CLEANUP_H
#define SEALPOD_LIB_CLEANUP_H

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
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

/* Secret bytes on the heap (a key, credentials, a plaintext): the whole allocation is wiped,
 * then freed, on every return path. `cleanup_wipe char *key = malloc(n);` */
static inline void sp_cleanup_wipe(void *pp)
{
	void **p = pp;

	if (*p) {
		explicit_bzero(*p, malloc_usable_size(*p));
		free(*p);
	}
}

#define cleanup_wipe __attribute__((cleanup(sp_cleanup_wipe)))

/* The same for a buffer on the stack: `char key[64]; SP_WIPE_ON_EXIT(key);` wipes all of key on
 * every return path after the declaration. */
struct sp_wipe_guard {
	void *p;
	size_t n;
};

static inline void sp_cleanup_wipe_guard(struct sp_wipe_guard *g)
{
	explicit_bzero(g->p, g->n);
}

#define SP_WIPE_ON_EXIT(buf)                                                                       \
	__attribute__((cleanup(sp_cleanup_wipe_guard),                                             \
		       unused)) struct sp_wipe_guard buf##_wiped_ = { buf, sizeof(buf) }

/* json-c's objects and tokeners (declared here so that users need not include json-c). */
struct json_object;
struct json_tokener;
int json_object_put(struct json_object *obj);
void json_tokener_free(struct json_tokener *tok);

static inline void sp_cleanup_json(struct json_object **o)
{
	if (*o)
		(void)json_object_put(*o);
}

static inline void sp_cleanup_json_tokener(struct json_tokener **t)
{
	if (*t)
		json_tokener_free(*t);
}

#define cleanup_json	     __attribute__((cleanup(sp_cleanup_json)))
#define cleanup_json_tokener __attribute__((cleanup(sp_cleanup_json_tokener)))

/* OpenSSL's cipher contexts (it wipes their keys when it frees them). */
struct evp_cipher_ctx_st;
void EVP_CIPHER_CTX_free(struct evp_cipher_ctx_st *ctx);

static inline void sp_cleanup_evp_ctx(struct evp_cipher_ctx_st **c)
{
	if (*c)
		EVP_CIPHER_CTX_free(*c);
}

#define cleanup_evp_ctx __attribute__((cleanup(sp_cleanup_evp_ctx)))

/* A child a worker process forked: killed and waited for on every return path. It waits, so
 * never in PID 1 (which reaps through its loop, and never blocks on a child). */
static inline void sp_cleanup_pid(pid_t *pid)
{
	int saved = errno;

	if (*pid > 0) {
		(void)kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	errno = saved;
}

#define cleanup_pid __attribute__((cleanup(sp_cleanup_pid)))

/* The child was waited for: nothing left to kill. */
static inline pid_t steal_pid(pid_t *pid)
{
	pid_t r = *pid;

	*pid = -1;
	return r;
}

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
