/* The image configuration the guest pulled for a container (copied into the container's record
 * by the preparation, sp_rt_image_config_dup), and the uid and gid its User resolved to: the
 * pull worker looked the user up in the image's own /etc/passwd and /etc/group
 * (image/userdb.c) and sent the answer with its result, so PID 1 reads nothing of the image.
 * pin.c compares a process with them. Messages name what is wrong, never the image's value:
 * they reach the host. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define IMG_STR_MAX   ((size_t)64 * 1024)   /* bytes of one string */
#define IMG_TOTAL_MAX ((size_t)1024 * 1024) /* bytes of one configuration, copied */

/* --- the copy --------------------------------------------------------------------------------- */

static bool strv_size(const char *const *v, size_t n, size_t *total)
{
	if (n && !v)
		return false;
	if (n > SP_RT_MAX_ARGS)
		return false;
	*total += n * sizeof(char *);
	for (size_t i = 0; i < n; i++) {
		size_t l = v[i] ? strnlen(v[i], IMG_STR_MAX + 1) : IMG_STR_MAX + 1;

		if (l > IMG_STR_MAX)
			return false;
		*total += l + 1;
	}
	return true;
}

static bool str_size(const char *s, size_t *total)
{
	size_t l;

	if (!s)
		return true;
	l = strnlen(s, IMG_STR_MAX + 1);
	if (l > IMG_STR_MAX)
		return false;
	*total += l + 1;
	return true;
}

static char *put_str(char **pool, const char *s)
{
	char *r = *pool;
	size_t l = strlen(s) + 1;

	memcpy(r, s, l);
	*pool += l;
	return r;
}

struct sp_rt_image_config *sp_rt_image_config_dup(const struct sp_rt_image_config *cfg)
{
	size_t total = sizeof(struct sp_rt_image_config);
	struct sp_rt_image_config *c;
	const char **ep, **cm, **en;
	char *pool;

	if (!cfg || !strv_size(cfg->entrypoint, cfg->n_entrypoint, &total) ||
	    !strv_size(cfg->cmd, cfg->n_cmd, &total) || !strv_size(cfg->env, cfg->n_env, &total) ||
	    !str_size(cfg->workdir, &total) || !str_size(cfg->user, &total) ||
	    !str_size(cfg->digest, &total) || total > IMG_TOTAL_MAX)
		return NULL;
	/* One allocation: the struct, the three pointer arrays (aligned), then the strings. */
	c = calloc(1, total);
	if (!c)
		return NULL;
	pool = (char *)(c + 1);
	c->n_entrypoint = cfg->n_entrypoint;
	c->n_cmd = cfg->n_cmd;
	c->n_env = cfg->n_env;
	ep = (const char **)(void *)pool;
	cm = ep + cfg->n_entrypoint;
	en = cm + cfg->n_cmd;
	pool = (char *)(en + cfg->n_env);
	for (size_t i = 0; i < cfg->n_entrypoint; i++)
		ep[i] = put_str(&pool, cfg->entrypoint[i]);
	for (size_t i = 0; i < cfg->n_cmd; i++)
		cm[i] = put_str(&pool, cfg->cmd[i]);
	for (size_t i = 0; i < cfg->n_env; i++)
		en[i] = put_str(&pool, cfg->env[i]);
	c->entrypoint = ep;
	c->cmd = cm;
	c->env = en;
	c->workdir = cfg->workdir ? put_str(&pool, cfg->workdir) : NULL;
	c->user = cfg->user ? put_str(&pool, cfg->user) : NULL;
	c->digest = cfg->digest ? put_str(&pool, cfg->digest) : NULL;
	c->user_resolved = cfg->user_resolved;
	c->user_ret = cfg->user_ret;
	c->uid = cfg->uid;
	c->gid = cfg->gid;
	c->user_err = cfg->user_err;
	return c;
}

/* --- the image's user ------------------------------------------------------------------------- */

int sp_rt_image_user_resolved(const struct sp_rt_image_config *cfg, uint32_t *uid, uint32_t *gid,
			      struct sp_err *err)
{
	/* The pull worker looked the user up in the image's own files (image/userdb.c) and the
	 * answer came with the pull's result: PID 1 reads nothing of the image. */
	*uid = *gid = 0;
	if (!cfg->user_resolved)
		return sp_fail(err, SP_E_DENIED, 0, "the image's user was not looked up");
	if (cfg->user_ret < 0) {
		*err = cfg->user_err;
		return -1;
	}
	*uid = cfg->uid;
	*gid = cfg->gid;
	return 0;
}
