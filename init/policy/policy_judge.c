/* What a request brings beyond its name and image: whether a container may share the sandbox's
 * pid namespace, the spec's mounts against allowed_mounts, and an exec's argv, environment,
 * user, working directory and terminal against allowed_exec and the container it joins. */
#define _GNU_SOURCE
#include "policy/policy_int.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/validate.h"

#define DENY(...)                                                                                  \
	do {                                                                                       \
		sp_policy_say(why, whylen, __VA_ARGS__);                                           \
		return SP_D_DENY;                                                                  \
	} while (0)

#define CREATE "CreateContainerRequest is blocked by policy: "
#define EXEC   "ExecProcessRequest is blocked by policy: "

enum sp_decision sp_judge_pidns(const struct sp_policy *p, const struct sp_policy_input *in,
				char *why, size_t whylen)
{
	if (in->sandbox_pidns && !p->allow_sandbox_pidns)
		DENY(CREATE "sandbox_pidns: the policy does not allow a container in the sandbox's "
			    "pid namespace (allow_sandbox_pidns is false)");
	return SP_D_ALLOW;
}

/* --- sysctls ---------------------------------------------------------------------------------- */

/* The pause is judged too: its net.* keys apply to the whole pod (containerd puts its defaults
 * on the pause's spec only). */
enum sp_decision sp_judge_sysctls(const struct sp_policy *p, const struct sp_policy_input *in,
				  char *why, size_t whylen)
{
	char b[SP_ESC_MAX], c[SP_ESC_MAX];

	if (!p->has_sysctls)
		return SP_D_ALLOW;
	if (in->nsysctls && !in->sysctls)
		DENY(CREATE "sysctls: missing");
	for (size_t i = 0; i < in->nsysctls; i++) {
		const struct sp_policy_sysctl *s = &in->sysctls[i];
		const struct sp_policy_sysctl_rule *r = NULL;

		for (size_t k = 0; k < p->nsysctls && !r; k++)
			if (s->key && strcmp(p->sysctls[k].key, s->key) == 0)
				r = &p->sysctls[k];
		if (!r)
			DENY(CREATE "sysctl '%s' is not in allowed_sysctls",
			     sp_policy_esc(b, s->key));
		if (r->value && (!s->value || strcmp(r->value, s->value) != 0))
			DENY(CREATE "sysctl '%s': value '%s' is not the one allowed_sysctls allows "
				    "('%s')",
			     sp_policy_esc(b, s->key), sp_policy_esc(c, s->value), r->value);
	}
	return SP_D_ALLOW;
}

/* --- mounts ------------------------------------------------------------------------------------ */

/* pattern with every "$(cid)" replaced by the container's id and every "$(sandbox-id)" by the
 * sandbox's (as genpolicy's bundle-id and sandbox-id), into buf; false when it does not fit. */
static bool expand(const char *pattern, const struct sp_policy_input *in, char *buf, size_t size)
{
	const struct {
		const char *var, *val;
	} vars[] = { { "$(cid)", in->cid ? in->cid : "" },
		     { "$(sandbox-id)", in->sandbox_id ? in->sandbox_id : "" } };
	size_t n = 0;

	for (const char *s = pattern; *s;) {
		size_t k = 0;

		while (k < 2 && strncmp(s, vars[k].var, strlen(vars[k].var)) != 0)
			k++;
		if (k < 2) {
			size_t vl = strlen(vars[k].val);

			if (n + vl >= size)
				return false;
			memcpy(buf + n, vars[k].val, vl);
			n += vl;
			s += strlen(vars[k].var);
			continue;
		}
		if (n + 1 >= size)
			return false;
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	return true;
}

static bool has_str(const struct sp_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->v[i], s) == 0)
			return true;
	return false;
}

static bool options_equal(const struct sp_strv *want, const char *const *opts, size_t n)
{
	if (n && !opts)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!opts[i] || !has_str(want, opts[i]))
			return false;
	for (size_t j = 0; j < want->n; j++) {
		size_t i = 0;

		while (i < n && strcmp(opts[i], want->v[j]) != 0)
			i++;
		if (i == n)
			return false;
	}
	return true;
}

static bool mount_matches(const struct sp_policy_mount_rule *r, const struct sp_policy_mount *m,
			  const struct sp_policy_input *in)
{
	char pattern[SP_PATH_MAX + 1];

	if (!m->destination || strcmp(r->destination, m->destination) != 0)
		return false;
	if (strcmp(r->type, m->type ? m->type : "") != 0)
		return false;
	if (r->source) {
		if (!m->source || !expand(r->source, in, pattern, sizeof(pattern)) ||
		    fnmatch(pattern, m->source, FNM_PATHNAME) != 0)
			return false;
	}
	return !r->has_options || options_equal(&r->options, m->options, m->noptions);
}

enum sp_decision sp_judge_mounts(const struct sp_policy *p, const struct sp_policy_input *in,
				 struct sp_verdict *v, char *why, size_t whylen)
{
	char b[SP_ESC_MAX], t[SP_ESC_MAX];

	/* The sandbox's pause gets no mount at all (runtime/rootfs.c). */
	if (!p->has_mounts || in->builtin_pause)
		return SP_D_ALLOW;
	if (in->nmounts && !in->mounts)
		DENY(CREATE "mounts: missing");
	if (in->nmounts > SP_POLICY_MAX_REQ_MOUNTS)
		DENY(CREATE "mounts: %zu of them, more than %d", in->nmounts,
		     SP_POLICY_MAX_REQ_MOUNTS);
	for (size_t i = 0; i < in->nmounts; i++) {
		const struct sp_policy_mount *m = &in->mounts[i];
		size_t k = 0;

		while (k < p->nmounts && !mount_matches(&p->mounts[k], m, in))
			k++;
		if (k == p->nmounts)
			DENY(CREATE "mounts[%zu]: destination '%s' (type '%s') matches no "
				    "allowed_mounts entry",
			     i, sp_policy_esc(b, m->destination), sp_policy_esc(t, m->type));
		if (p->mounts[k].exec)
			v->mount_exec[i / 64] |= 1ULL << (i % 64);
	}
	v->mounts_judged = true;
	return SP_D_ALLOW;
}

/* --- exec -------------------------------------------------------------------------------------- */

static bool in_strv(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; v && i < n; i++)
		if (v[i] && strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Whether env entry e (NAME=value) may come with the exec: the container's own, or admitted by
 * the allowed_exec entry (exactly; a NAME=* pattern never admits a dynamic loader variable, LD_*),
 * or TERM with a terminal (containerd adds TERM=xterm to a tty exec). */
static bool env_ok(const struct sp_policy_exec *e, const struct sp_policy_input *in,
		   const char *ent)
{
	const struct sp_policy_ctr *c = in->ctr;
	bool loader = strncmp(ent, "LD_", 3) == 0;

	if (c->env_known && in_strv(c->env, c->envc, ent))
		return true;
	for (size_t j = 0; e && e->pin_env && j < e->env.n; j++)
		if (strcmp(e->env.v[j], ent) == 0 || (!loader && sp_env_match(e->env.v[j], ent)))
			return true;
	return in->terminal && strncmp(ent, "TERM=", 5) == 0;
}

static bool gid_ok(const struct sp_policy_ctr *c, uint32_t want_gid, uint32_t g)
{
	if (g == want_gid || g == c->gid)
		return true;
	for (size_t i = 0; c->gids && i < c->ngids; i++)
		if (c->gids[i] == g)
			return true;
	return false;
}

/* NULL when the exec fits entry e (NULL: no allowed_exec entry, only the container's own
 * process) and the container; else the field that does not, with why filled. */
static const char *exec_mismatch(const struct sp_policy_exec *e, const struct sp_policy_input *in,
				 char *why, size_t whylen)
{
	const struct sp_policy_ctr *c = in->ctr;
	uint32_t uid = in->has_user ? in->uid : 0, gid = in->has_user ? in->gid : 0;
	uint32_t want_uid = e && e->pin_user ? e->uid : c->uid;
	uint32_t want_gid = e && e->pin_user ? e->gid : c->gid;
	const char *want_cwd = e && e->cwd ? e->cwd : c->cwd;
	const char *cwd = in->cwd && in->cwd[0] ? in->cwd : "/";
	char b[SP_ESC_MAX];

	for (size_t i = 0; i < in->envc; i++) {
		const char *ent = in->env ? in->env[i] : NULL;
		const char *eq = ent ? strchr(ent, '=') : NULL;

		if (!eq || eq == ent) {
			sp_policy_say(why, whylen, EXEC "env[%zu] is not NAME=value", i);
			return "env";
		}
		if (!env_ok(e, in, ent)) {
			char name[SP_ESC_MAX];
			size_t n = (size_t)(eq - ent);

			sp_log_escape(name, sizeof(name), ent, n < 64 ? n : 64);
			sp_policy_say(why, whylen,
				      EXEC "env: %s is neither in the container's environment nor "
					   "allowed by "
					   "an allowed_exec entry",
				      name);
			return "env";
		}
	}
	if (uid != want_uid || gid != want_gid) {
		sp_policy_say(why, whylen,
			      EXEC "user: the exec runs as %u:%u, the %s allows only %u:%u", uid,
			      gid, e && e->pin_user ? "allowed_exec entry" : "container's own user",
			      want_uid, want_gid);
		return "user";
	}
	for (size_t i = 0; i < in->ngids; i++)
		if (!in->gids || !gid_ok(c, want_gid, in->gids[i])) {
			sp_policy_say(why, whylen,
				      EXEC "user: additional gid %u is not one of the container's "
					   "own",
				      in->gids ? in->gids[i] : 0);
			return "user";
		}
	if (strcmp(cwd, want_cwd && want_cwd[0] ? want_cwd : "/") != 0) {
		sp_policy_say(why, whylen, EXEC "cwd '%s' is not the %s", sp_policy_esc(b, cwd),
			      e && e->cwd ? "allowed_exec entry's" : "container's own");
		return "cwd";
	}
	if (e && e->terminal >= 0 && (int)in->terminal != e->terminal) {
		sp_policy_say(why, whylen, EXEC "terminal: the allowed_exec entry says %s",
			      e->terminal ? "true" : "false");
		return "terminal";
	}
	return NULL;
}

enum sp_decision sp_judge_exec(const struct sp_policy *p, const struct sp_policy_input *in,
			       char *why, size_t whylen)
{
	char b[SP_ESC_MAX];
	bool argv_known = !p->has_exec;

	if (in->envc && !in->env)
		DENY(EXEC "env: missing");
	for (size_t i = 0; p->has_exec && i < p->nexec; i++)
		argv_known |= sp_strv_equal(&p->exec[i].args, in->argv, in->argc);
	if (!argv_known)
		DENY(EXEC "argv (%zu args, argv[0] '%s') is not in allowed_exec", in->argc,
		     sp_policy_esc(b, in->argc && in->argv ? in->argv[0] : NULL));
	/* No such container: nothing to compare with, and the handler answers NOT_FOUND. */
	if (!in->ctr)
		return SP_D_ALLOW;
	if (!p->has_exec)
		return exec_mismatch(NULL, in, why, whylen) ? SP_D_DENY : SP_D_ALLOW;
	/* The first entry with this argv that admits the rest; else the first one's reason. */
	for (size_t i = 0, tried = 0; i < p->nexec; i++) {
		bool first = tried == 0;

		if (!sp_strv_equal(&p->exec[i].args, in->argv, in->argc))
			continue;
		tried++;
		if (!exec_mismatch(&p->exec[i], in, first ? why : NULL, first ? whylen : 0))
			return SP_D_ALLOW;
	}
	return SP_D_DENY;
}
