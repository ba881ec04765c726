/* The image configuration the guest pulled for a container (copied into the container's record
 * by the preparation, sp_rt_image_config_dup), and the check that pins a container's process to
 * it when the policy says pin_process_to_image (the policy may pin a container's process, args,
 * env and user, to the verified image's configuration).
 *
 * The rules (init/policy/POLICY.md says the same for users):
 *   args  equal entrypoint + cmd; with pin_allow_args_override, the entrypoint followed by any
 *         arguments (what Kubernetes' `args` does: it replaces cmd, never the entrypoint).
 *   env   every NAME=value of the image is present with the same value, and no entry names an
 *         image variable with another value; entries for other variables need
 *         pin_allow_extra_env. Values never appear in an error (they may be secrets).
 *   cwd   equals the image's WorkingDir ("" is "/"), unless pin_allow_workdir_override.
 *   user  uid and gid equal what the image's User resolves to: "" is 0:0; "uid", "name",
 *         "uid:gid", "name:group" and mixes, names looked up in the rootfs's own /etc/passwd and
 *         /etc/group (opened beneath the rootfs); a user without a group gets its passwd group,
 *         or 0 when it has no passwd entry. Additional gids are not pinned (the image
 *         configuration has none). */
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

/* --- the check -------------------------------------------------------------------------------- */

#define PIN "pin_process_to_image: "

static const char *esc(char *buf, size_t size, const char *s)
{
	sp_log_escape(buf, size, s, strnlen(s, 200));
	return buf;
}

static int check_args(const struct sp_rt_image_config *cfg, const Grpc__Process *p, bool override,
		      struct sp_err *err)
{
	size_t ne = cfg->n_entrypoint, nc = cfg->n_cmd;
	char a[96], b[96];

	if (ne + nc == 0)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "the image configuration has neither entrypoint nor cmd");
	for (size_t i = 0; i < ne; i++) {
		if (i >= p->n_args)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "args has %zu entries, the image's entrypoint alone "
					   "has %zu",
				       p->n_args, ne);
		if (strcmp(p->args[i], cfg->entrypoint[i]) != 0)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "args[%zu] is \"%s\", the image's entrypoint has "
					   "\"%s\"",
				       i, esc(a, sizeof(a), p->args[i]),
				       esc(b, sizeof(b), cfg->entrypoint[i]));
	}
	if (override && p->n_args > 0)
		return 0; /* the entrypoint, then whatever replaces cmd */
	if (p->n_args != ne + nc)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "args has %zu entries, the image's entrypoint + cmd has %zu%s",
			       p->n_args, ne + nc,
			       override ? "" : " (the policy does not allow overriding cmd)");
	for (size_t i = 0; i < nc; i++)
		if (strcmp(p->args[ne + i], cfg->cmd[i]) != 0)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "args[%zu] is \"%s\", the image's cmd has \"%s\" (the "
					   "policy does not allow overriding cmd)",
				       ne + i, esc(a, sizeof(a), p->args[ne + i]),
				       esc(b, sizeof(b), cfg->cmd[i]));
	return 0;
}

static size_t name_len(const char *e)
{
	const char *eq = strchr(e, '=');

	return eq ? (size_t)(eq - e) : 0;
}

static int check_env(const struct sp_rt_image_config *cfg, const Grpc__Process *p, bool extra,
		     struct sp_err *err)
{
	char a[96];

	for (size_t i = 0; i < cfg->n_env; i++) {
		size_t n = name_len(cfg->env[i]);
		bool found = false;

		if (n == 0)
			continue; /* not NAME=value: nothing a process could match */
		for (size_t j = 0; j < p->n_env && !found; j++)
			found = strcmp(p->env[j], cfg->env[i]) == 0;
		if (!found) {
			sp_log_escape(a, sizeof(a), cfg->env[i], n < 80 ? n : 80);
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "env: the image's variable %s is missing or has "
					   "another value",
				       a);
		}
	}
	for (size_t j = 0; j < p->n_env; j++) {
		size_t n = name_len(p->env[j]);
		bool known = false, same = false;

		if (n == 0)
			return sp_fail(err, SP_E_INVALID, 0, PIN "env[%zu] is not NAME=value", j);
		for (size_t i = 0; i < cfg->n_env; i++)
			if (name_len(cfg->env[i]) == n && memcmp(cfg->env[i], p->env[j], n) == 0) {
				known = true;
				same |= strcmp(cfg->env[i], p->env[j]) == 0;
			}
		sp_log_escape(a, sizeof(a), p->env[j], n < 80 ? n : 80);
		if (known && !same)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "env: %s is set to another value than the image's", a);
		if (!known && !extra)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "env: %s is not in the image configuration (the policy "
					   "does not allow extra variables)",
				       a);
	}
	return 0;
}

/* What the image's user resolved to. The pull worker looked it up in the image's own files
 * (image/userdb.c) and the answer came with the pull's result: PID 1 reads nothing of the image. */
static int image_user(const struct sp_rt_image_config *cfg, uint32_t *uid, uint32_t *gid,
		      struct sp_err *err)
{
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

int sp_rt_check_image_pin(const struct sp_rt_image_config *cfg, const struct sp_rt_proc_plan *pp,
			  const struct sp_policy_pin *pin, int rootfd, struct sp_err *err)
{
	uint32_t uid, gid;
	int ret;
	char u[96];

	if (!pin->enabled)
		return 0;
	if (!cfg)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "no image configuration is registered for this "
				   "container");
	if ((ret = check_args(cfg, pp->proc, pin->allow_args_override, err)) < 0)
		return ret;
	if ((ret = check_env(cfg, pp->proc, pin->allow_extra_env, err)) < 0)
		return ret;
	if (!pin->allow_workdir_override) {
		const char *want = cfg->workdir && cfg->workdir[0] ? cfg->workdir : "/";
		const char *cwd = pp->proc && pp->proc->cwd && pp->proc->cwd[0] ? pp->proc->cwd
										: "/";

		if (strcmp(want, cwd) != 0)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "cwd \"%s\" is not the image's WorkingDir \"%s\" (the "
					   "policy does not allow overriding it)",
				       esc(u, 48, cwd), esc(u + 48, 48, want));
	}
	if (image_user(cfg, &uid, &gid, err) < 0)
		return sp_error_wrap(err, PIN "user");
	if (pp->uid != uid || pp->gid != gid)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "user: the process runs as %u:%u, the image's user \"%s\" is "
				   "%u:%u",
			       (unsigned)pp->uid, (unsigned)pp->gid,
			       esc(u, sizeof(u), cfg->user ? cfg->user : ""), uid, gid);
	return 0;
}
