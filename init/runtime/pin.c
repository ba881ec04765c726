/* pin_process_to_image: a container runs the process its verified image's configuration
 * describes (image.c keeps the configuration and reads its user), and the host's binds cannot
 * put other code under it.
 *
 * The rules (init/policy/POLICY.md says the same):
 *   args  equal entrypoint + cmd; with pin_allow_args_override, the entrypoint followed by any
 *         arguments (what Kubernetes' `args` does: it replaces cmd, never the entrypoint).
 *   env   every NAME=value of the image is present with the same value, and no entry names an
 *         image variable with another value; entries for other variables need
 *         pin_allow_extra_env.
 *   cwd   equals the image's WorkingDir ("" is "/"), unless pin_allow_workdir_override.
 *   user  uid and gid equal what the image's User resolves to (image.c); additional gids are
 *         the process's own gid or listed in pin_allow_additional_gids.
 *   binds never over, above or beneath the program's directory (every PATH directory for a bare
 *         name), the dynamic loader's files and library directories; and never over a path
 *         the image has, unless the policy's allowed_mounts judged the mounts or it is one of
 *         the files Kubernetes writes for every pod. Checked through the verified rootfs fd.
 *
 * What goes back to the host names the field and never the image's data (a private image's
 * configuration is the owner's); the console gets lengths, which it may. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/validate.h"

#define PIN "pin_process_to_image: "

static size_t slen(const char *s)
{
	return s ? strnlen(s, 65536) : 0;
}

/* --- the process --------------------------------------------------------------------------------- */

static int args_differ(const char *what, size_t i, const char *mine, const char *image,
		       bool cmd_fixed, struct sp_err *err)
{
	sp_info("pin", "args[%zu] (%zu bytes) differs from the image's %s (%zu bytes)", i,
		slen(mine), what, slen(image));
	return sp_fail(err, SP_E_DENIED, 0, PIN "args[%zu] differs from the image's %s%s", i, what,
		       cmd_fixed ? " (the policy does not allow overriding cmd)" : "");
}

static int check_args(const struct sp_rt_image_config *cfg, const Grpc__Process *p, bool override,
		      struct sp_err *err)
{
	size_t ne = cfg->n_entrypoint, nc = cfg->n_cmd;

	if (ne + nc == 0)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "the image configuration has neither entrypoint nor cmd");
	for (size_t i = 0; i < ne; i++) {
		if (i >= p->n_args) {
			sp_info("pin", "args has %zu entries, the image's entrypoint %zu",
				p->n_args, ne);
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "args is shorter than the image's entrypoint");
		}
		if (strcmp(p->args[i], cfg->entrypoint[i]) != 0)
			return args_differ("entrypoint", i, p->args[i], cfg->entrypoint[i], false,
					   err);
	}
	if (override && p->n_args > 0)
		return 0; /* the entrypoint, then whatever replaces cmd */
	if (p->n_args != ne + nc) {
		sp_info("pin", "args has %zu entries, the image's entrypoint + cmd %zu", p->n_args,
			ne + nc);
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "args is not the image's entrypoint + cmd%s",
			       override ? "" : " (the policy does not allow overriding cmd)");
	}
	for (size_t i = 0; i < nc; i++)
		if (strcmp(p->args[ne + i], cfg->cmd[i]) != 0)
			return args_differ("cmd", ne + i, p->args[ne + i], cfg->cmd[i], true, err);
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
	for (size_t i = 0; i < cfg->n_env; i++) {
		size_t n = name_len(cfg->env[i]);
		bool found = false;

		if (n == 0)
			continue; /* not NAME=value: nothing a process could match */
		for (size_t j = 0; j < p->n_env && !found; j++)
			found = strcmp(p->env[j], cfg->env[i]) == 0;
		if (!found) {
			sp_info("pin",
				"env: the image's env[%zu] (a name of %zu bytes) is missing "
				"or has another value",
				i, n);
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "env: a variable of the image's is missing or has "
					   "another value");
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
		if (known && !same)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "env[%zu] gives a variable of the image's another value",
				       j);
		if (!known && !extra)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "env[%zu] is not in the image configuration (the policy "
					   "does not allow extra variables)",
				       j);
	}
	return 0;
}

static int check_user(const struct sp_rt_image_config *cfg, const struct sp_rt_proc_plan *pp,
		      const struct sp_policy_pin *pin, struct sp_err *err)
{
	uint32_t uid, gid;

	if (sp_rt_image_user_resolved(cfg, &uid, &gid, err) < 0)
		return sp_error_wrap(err, PIN "user");
	if (pp->uid != uid || pp->gid != gid)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "user: the process runs as %u:%u, not as the image's user",
			       (unsigned)pp->uid, (unsigned)pp->gid);
	for (size_t i = 0; i < pp->ngids; i++) {
		bool ok = pp->gids[i] == pp->gid;

		for (size_t k = 0; k < pin->nextra_gids && !ok; k++)
			ok = pin->extra_gids[k] == pp->gids[i];
		if (!ok)
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "user: additional gid %u is neither the process's gid "
					   "nor in pin_allow_additional_gids",
				       (unsigned)pp->gids[i]);
	}
	return 0;
}

int sp_rt_check_image_pin(const struct sp_rt_image_config *cfg, const struct sp_rt_proc_plan *pp,
			  const struct sp_policy_pin *pin, struct sp_err *err)
{
	int ret;

	if (!pin->enabled)
		return 0;
	if (!cfg)
		return sp_fail(err, SP_E_DENIED, 0,
			       PIN "no image configuration is registered for this container");
	if ((ret = check_args(cfg, pp->proc, pin->allow_args_override, err)) < 0 ||
	    (ret = check_env(cfg, pp->proc, pin->allow_extra_env, err)) < 0)
		return ret;
	if (!pin->allow_workdir_override) {
		const char *want = cfg->workdir && cfg->workdir[0] ? cfg->workdir : "/";
		const char *cwd = pp->proc && pp->proc->cwd && pp->proc->cwd[0] ? pp->proc->cwd
										: "/";

		if (strcmp(want, cwd) != 0) {
			sp_info("pin", "cwd: %zu bytes, the image's WorkingDir %zu", strlen(cwd),
				strlen(want));
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "cwd is not the image's WorkingDir (the policy does not "
					   "allow overriding it)");
		}
	}
	return check_user(cfg, pp, pin, err);
}

/* --- the binds ----------------------------------------------------------------------------------- */

/* What decides which code the program runs besides the program itself: the dynamic loader's
 * configuration (glibc's and musl's) and the library directories it searches by default. */
static const char *const loader_paths[] = {
	"/etc/ld.so.preload",
	"/etc/ld.so.conf",
	"/etc/ld.so.conf.d",
	"/etc/ld.so.cache",
	"/lib",
	"/lib32",
	"/lib64",
	"/libx32",
	"/usr/lib",
	"/usr/lib32",
	"/usr/lib64",
	"/usr/libx32",
	"/usr/local/lib",
};
#define MUSL_LOADER_PATH "/etc/ld-musl-" /* /etc/ld-musl-<arch>.path */

/* The files the kubelet and containerd write for every pod, over whatever the image has. */
static const char *const pod_files[] = { "/etc/hosts", "/etc/hostname", "/etc/resolv.conf" };

/* a and b (absolute, normalised; b may be n bytes of a longer string) are the same path, or
 * one lies beneath the other. */
static bool overlaps(const char *a, const char *b, size_t n)
{
	size_t la = strlen(a), k = la < n ? la : n;

	if (strncmp(a, b, k) != 0)
		return false;
	if (la == n)
		return true;
	if (la < n)
		return la == 1 || b[la] == '/';
	return n == 1 || a[n] == '/';
}

/* dest against every directory of a ':'-separated list (absolute entries only). */
static bool overlaps_list(const char *dest, const char *list)
{
	for (const char *c = list; c && *c;) {
		const char *e = strchr(c, ':');
		size_t len = e ? (size_t)(e - c) : strlen(c), n = len;

		while (n > 1 && c[n - 1] == '/')
			n--;
		if (n > 1 && c[0] == '/' && overlaps(dest, c, n))
			return true;
		c = e ? e + 1 : c + len;
	}
	return false;
}

static const char *env_value(const Grpc__Process *p, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < p->n_env; i++)
		if (strncmp(p->env[i], name, n) == 0 && p->env[i][n] == '=')
			return p->env[i] + n + 1;
	return NULL;
}

/* The program's absolute path in buf: 1; 0 for a bare name (found through PATH); -1 for one
 * that cannot be reasoned about (then every bind is suspect). */
static int prog_path(const Grpc__Process *p, char *buf, size_t size)
{
	const char *prog = p->n_args ? p->args[0] : "";
	const char *cwd = p->cwd && p->cwd[0] ? p->cwd : "/";
	int n;

	if (!strchr(prog, '/'))
		return 0;
	if (prog[0] == '/') {
		n = snprintf(buf, size, "%s", prog);
	} else {
		while (prog[0] == '.' && prog[1] == '/')
			prog += 2;
		n = snprintf(buf, size, "%s/%s", strcmp(cwd, "/") != 0 ? cwd : "", prog);
	}
	return n > 0 && (size_t)n < size && sp_abs_path_ok(buf) ? 1 : -1;
}

/* Whether a bind at dest could change the code the process runs: its program's directory, what
 * is above it and what is in it (for a program in /, the program itself: anything is beneath
 * /; for a bare name, every directory of its PATH), the loader's files and library
 * directories, LD_LIBRARY_PATH. */
static bool covers_code(const char *dest, const Grpc__Process *p)
{
	const char *path = env_value(p, "PATH");
	char full[SP_PATH_MAX + 1];
	const char *slash;

	for (size_t i = 0; i < sizeof(loader_paths) / sizeof(loader_paths[0]); i++)
		if (overlaps(dest, loader_paths[i], strlen(loader_paths[i])))
			return true;
	if (strncmp(dest, MUSL_LOADER_PATH, strlen(MUSL_LOADER_PATH)) == 0 ||
	    overlaps_list(dest, env_value(p, "LD_LIBRARY_PATH")))
		return true;
	switch (prog_path(p, full, sizeof(full))) {
	case -1:
		return true;
	case 0:
		return overlaps_list(dest, path ? path
						: "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
						  "/usr/bin:/sbin:/bin");
	default:
		slash = strrchr(full, '/');
		return slash > full ? overlaps(dest, full, (size_t)(slash - full))
				    : strcmp(dest, full) == 0;
	}
}

/* Whether dest names something in the image (a symlink on the way counts: the image has it). */
static bool in_image(int rootfd, const char *dest)
{
	cleanup_close int fd = -1;

	if (rootfd < 0)
		return true; /* nothing to look in: assume the worst */
	fd = sp_openat2(rootfd, dest + 1, O_PATH, 0,
			RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	return fd >= 0 || (errno != ENOENT && errno != ENOTDIR);
}

static bool pod_file(const char *dest)
{
	for (size_t i = 0; i < sizeof(pod_files) / sizeof(pod_files[0]); i++)
		if (strcmp(dest, pod_files[i]) == 0)
			return true;
	/* /dev is the container's own tmpfs (rootfs.c): nothing there is the image's. */
	return strncmp(dest, "/dev/", 5) == 0;
}

int sp_rt_check_pin_mounts(const struct sp_rt_plan *plan, const struct sp_policy_pin *pin,
			   bool mounts_judged, int rootfd, struct sp_err *err)
{
	char b[96];

	if (!pin->enabled)
		return 0;
	for (size_t i = 0; i < plan->nmounts; i++) {
		const struct sp_rt_mount *m = &plan->mounts[i];

		if (m->kind != MK_BIND)
			continue;
		sp_log_escape(b, sizeof(b), m->dest, strnlen(m->dest, 80));
		if (covers_code(m->dest, plan->p.proc))
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "mounts[%zu]: a bind at %s covers the program's "
					   "directory or the dynamic loader's files",
				       i, b);
		if (!mounts_judged && !pod_file(m->dest) && in_image(rootfd, m->dest))
			return sp_fail(err, SP_E_DENIED, 0,
				       PIN "mounts[%zu]: a bind at %s covers a path the image "
					   "provides (allowed_mounts can allow it)",
				       i, b);
	}
	return 0;
}
