/* A container's process as the kubelet and containerd make it (gen_int.h): the environment
 * (the image's, HOSTNAME, envFrom and env with valueFrom expanded, the `kubernetes` service's
 * variables), the argv (command/args against the image's Entrypoint/Cmd, $(VAR) expanded), the
 * user and groups, the working directory; and its exec probes' and hooks' argv. */
#define _GNU_SOURCE
#include "gen_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/caps.h"
#include "lib/cleanup.h"

static int env_set(struct spg_envl *e, const char *name, const char *value, bool any,
		   struct sp_err *err)
{
	const char *val = any ? "*" : value;
	char *n, *v;
	size_t i = 0;

	if (!val)
		return sp_fail(err, SP_E_INVALID, 0, "the value of %.64s is not a string", name);
	n = strdup(name);
	v = strdup(val);
	if (!n || !v) {
		free(n);
		free(v);
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	}
	while (i < e->n && strcmp(e->v[i].name, name) != 0)
		i++;
	if (i == e->n) {
		if (e->n == SPG_MAX_ENV) {
			free(n);
			free(v);
			return sp_fail(err, SP_E_EXHAUSTED, 0, "more than %d variables",
				       SPG_MAX_ENV);
		}
		e->n++;
	} else {
		free(e->v[i].name);
		free(e->v[i].value);
	}
	e->v[i] = (struct spg_env){ n, v, any };
	return 0;
}

static void env_free(struct spg_envl *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].name);
		free(e->v[i].value);
	}
	e->n = 0;
}

static const struct spg_env *env_find(const struct spg_envl *e, const char *name, size_t len)
{
	for (size_t i = 0; i < e->n; i++)
		if (strlen(e->v[i].name) == len && strncmp(e->v[i].name, name, len) == 0)
			return &e->v[i];
	return NULL;
}

/* The kubelet's $(VAR) expansion: a defined variable's value, `$$` a dollar, anything else as
 * written. A variable whose value is not known cannot be pinned: an error naming path. */
static int expand(const char *in, const struct spg_envl *e, const char *path, char **out,
		  struct sp_err *err)
{
	size_t cap = strlen(in) + 1, len = 0;
	char *o = malloc(cap);

	if (!o)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	while (*in) {
		const char *add = in, *close = NULL;
		size_t alen = 1, skip = 1;

		if (in[0] == '$' && in[1] == '$') {
			skip = 2;
		} else if (in[0] == '$' && in[1] == '(' && (close = strchr(in + 2, ')'))) {
			const struct spg_env *v = env_find(e, in + 2, (size_t)(close - in - 2));

			skip = alen = (size_t)(close - in + 1);
			if (v && v->any) {
				free(o);
				return sp_fail(err, SP_E_UNSUPPORTED, 0,
					       "%s: $(%.*s) has a value only the cluster knows",
					       path, (int)(close - in - 2), in + 2);
			}
			if (v) {
				add = v->value;
				alen = strlen(v->value);
			}
		}
		if (len + alen + 1 > cap) {
			char *n = realloc(o, cap = (len + alen + 1) * 2);

			if (!n) {
				free(o);
				return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
			}
			o = n;
		}
		memcpy(o + len, add, alen);
		len += alen;
		in += skip;
	}
	o[len] = 0;
	*out = o;
	return 0;
}

/* A data key of a ConfigMap (decoded text) or NULL; *found says whether the object exists. */
static const char *cm_value(const struct spg_ctx *g, const char *name, const char *key, bool *found)
{
	const struct spk_obj *o = spk_obj(&g->m, false, name);

	*found = o != NULL;
	return o ? spy_str(spy_get(o->data, key)) : NULL;
}

static bool secret_has(const struct spg_ctx *g, const char *name, const char *key)
{
	const struct spk_obj *o = spk_obj(&g->m, true, name);

	return o && (spy_get(o->data, key) || spy_get(o->string_data, key));
}

/* The downward API: what the pod's YAML says, or NULL for what only the cluster knows. */
static const char *field_value(const struct spg_ctx *g, const char *fp)
{
	static const char *const labels = "metadata.labels['", *const annots = "metadata."
									       "annotations['";
	const struct spy_node *meta = g->m.pod_meta;
	const char *map = NULL, *key = NULL;
	char k[256];

	if (strcmp(fp, "metadata.name") == 0)
		return g->m.named ? g->m.name : NULL;
	if (strcmp(fp, "metadata.namespace") == 0)
		return g->m.ns;
	if (strcmp(fp, "spec.serviceAccountName") == 0) {
		const char *sa = spy_str(spy_get(g->m.spec, "serviceAccountName"));

		return sa ? sa : "default";
	}
	if (strncmp(fp, labels, strlen(labels)) == 0)
		map = "labels", key = fp + strlen(labels);
	else if (strncmp(fp, annots, strlen(annots)) == 0)
		map = "annotations", key = fp + strlen(annots);
	if (!key || strlen(key) < 2 || strlen(key) >= sizeof(k) ||
	    strcmp(key + strlen(key) - 2, "']") != 0)
		return NULL;
	memcpy(k, key, strlen(key) - 2);
	k[strlen(key) - 2] = 0;
	return spy_str(spy_get(spy_get(meta, map), k));
}

static int env_from_ref(struct spg_ctx *g, struct spg_envl *e, const char *name,
			const struct spy_node *vf, const char *path, struct sp_err *err)
{
	const struct spy_node *cm = spy_get(vf, "configMapKeyRef"), *sec = spy_get(vf, "secretKeyRe"
										       "f");
	const struct spy_node *ref = cm ? cm : sec;
	const char *fp = spy_str(spy_get(spy_get(vf, "fieldRef"), "fieldPath"));
	bool optional = false, found;
	const char *v;

	if (fp)
		return (v = field_value(g, fp)) ? env_set(e, name, v, false, err)
						: env_set(e, name, NULL, true, err);
	if (spy_get(vf, "resourceFieldRef"))
		return env_set(e, name, NULL, true, err);
	if (!ref || !spy_str(spy_get(ref, "name")) || !spy_str(spy_get(ref, "key")))
		return sp_fail(err, SP_E_UNSUPPORTED, 0, "%s.valueFrom: not supported", path);
	if (spk_bool(spy_get(ref, "optional"), path, &optional, err) < 0)
		return -1;
	if (sec) {
		/* A Secret's value never goes into the policy: the host reads initdata. */
		if (!optional &&
		    !secret_has(g, spy_str(spy_get(ref, "name")), spy_str(spy_get(ref, "key"))))
			return sp_fail(err, SP_E_INVALID, 0,
				       "%s.valueFrom.secretKeyRef: Secret '%.64s' key '%.64s' is "
				       "not in the manifest (add it, or --config FILE)",
				       path, spy_str(spy_get(ref, "name")),
				       spy_str(spy_get(ref, "key")));
		return env_set(e, name, NULL, true, err);
	}
	v = cm_value(g, spy_str(spy_get(ref, "name")), spy_str(spy_get(ref, "key")), &found);
	if (v)
		return env_set(e, name, v, false, err);
	if (optional)
		return 0;
	return sp_fail(err, SP_E_INVALID, 0,
		       "%s.valueFrom.configMapKeyRef: ConfigMap '%.64s' key '%.64s' is not in the "
		       "manifest (add it, or --config FILE)",
		       path, spy_str(spy_get(ref, "name")), spy_str(spy_get(ref, "key")));
}

static int env_from_all(struct spg_ctx *g, struct spg_envl *e, const struct spy_node *ef,
			const char *path, struct sp_err *err)
{
	const struct spy_node *ref = spy_get(ef, "configMapRef");
	bool secret = !ref, optional = false;
	const char *prefix = spy_str(spy_get(ef, "prefix"));
	const struct spk_obj *o;
	char name[512];

	if (!ref)
		ref = spy_get(ef, "secretRef");
	if (!ref || !spy_str(spy_get(ref, "name")))
		return sp_fail(err, SP_E_UNSUPPORTED, 0, "%s: not supported", path);
	if (spk_bool(spy_get(ref, "optional"), path, &optional, err) < 0)
		return -1;
	o = spk_obj(&g->m, secret, spy_str(spy_get(ref, "name")));
	if (!o)
		return optional ? 0
				: sp_fail(err, SP_E_INVALID, 0,
					  "%s: %s '%.64s' is not in the manifest (add it, or "
					  "--config FILE)",
					  path, secret ? "Secret" : "ConfigMap",
					  spy_str(spy_get(ref, "name")));
	for (int d = 0; d < 2; d++) {
		const struct spy_node *data = d ? o->string_data : o->data;

		for (size_t i = 0; data && data->kind == SPY_MAP && i < data->n; i += 2) {
			(void)snprintf(name, sizeof(name), "%s%s", prefix ? prefix : "",
				       data->v[i]->str);
			if (env_set(e, name, spy_str(data->v[i + 1]), secret, err) < 0)
				return -1;
		}
	}
	return 0;
}

/* The kubelet's list: envFrom, then env (each $(VAR)-expanded against what came before), then
 * the `kubernetes` service's variables that the pod did not set. */
static int kube_env(struct spg_ctx *g, const struct spy_node *c, const char *path,
		    struct spg_envl *e, struct sp_err *err)
{
	const struct spy_node *ef = spy_get(c, "envFrom"), *env = spy_get(c, "env");
	char p[160];

	for (size_t i = 0; ef && ef->kind == SPY_SEQ && i < ef->n; i++) {
		(void)snprintf(p, sizeof(p), "%s.envFrom[%zu]", path, i);
		if (env_from_all(g, e, ef->v[i], p, err) < 0)
			return -1;
	}
	for (size_t i = 0; env && env->kind == SPY_SEQ && i < env->n; i++) {
		const char *name = spy_str(spy_get(env->v[i], "name"));
		const struct spy_node *vf = spy_get(env->v[i], "valueFrom");
		char *v = NULL;
		int ret;

		(void)snprintf(p, sizeof(p), "%s.env[%zu]", path, i);
		if (!name)
			return sp_fail(err, SP_E_INVALID, 0, "%s.name: missing", p);
		if (vf) {
			if (env_from_ref(g, e, name, vf, p, err) < 0)
				return -1;
			continue;
		}
		if (expand(spy_str(spy_get(env->v[i], "value")) ?: "", e, p, &v, err) < 0)
			return -1;
		ret = env_set(e, name, v, false, err);
		free(v);
		if (ret < 0)
			return -1;
	}
	for (size_t i = 0; i < g->set->nservice_env; i++)
		if (!env_find(e, g->set->service_env[i], strlen(g->set->service_env[i])) &&
		    env_set(e, g->set->service_env[i], NULL, true, err) < 0)
			return -1;
	return 0;
}

static int json_strv(json_object *a, const char *what, const char ***out, size_t *n,
		     struct sp_err *err)
{
	*out = NULL;
	*n = 0;
	if (!a || json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return sp_fail(err, SP_E_INVALID, 0, "lock file: %s is not a list", what);
	*n = json_object_array_length(a);
	*out = calloc(*n + 1, sizeof(**out));
	if (!*out)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	for (size_t i = 0; i < *n; i++) {
		json_object *s = json_object_array_get_idx(a, i);

		if (!json_object_is_type(s, json_type_string))
			return sp_fail(err, SP_E_INVALID, 0, "lock file: %s[%zu] is not a string",
				       what, i);
		(*out)[i] = json_object_get_string(s);
	}
	return 0;
}

/* --- argv ------------------------------------------------------------------------------------ */

static int expand_list(const char *const *v, size_t n, const struct spg_envl *e, const char *path,
		       const char *what, json_object *out, struct sp_err *err)
{
	char p[192];

	for (size_t i = 0; i < n; i++) {
		char *x = NULL;

		(void)snprintf(p, sizeof(p), "%s.%s[%zu]", path, what, i);
		if (expand(v[i], e, p, &x, err) < 0)
			return -1;
		json_object_array_add(out, json_object_new_string(x));
		free(x);
	}
	return 0;
}

/* Kubernetes' rule: command replaces the image's Entrypoint (and drops its Cmd), args replaces
 * its Cmd. */
static int make_args(const struct spy_node *c, json_object *cfg, const struct spg_envl *e,
		     const char *path, json_object *out, struct sp_err *err)
{
	const char **cmd = NULL, **args = NULL, **ep = NULL, **icmd = NULL;
	size_t ncmd, nargs, nep = 0, nicmd = 0;
	int ret = -1;

	if (spk_strv(spy_get(c, "command"), path, &cmd, &ncmd, err) < 0 ||
	    spk_strv(spy_get(c, "args"), path, &args, &nargs, err) < 0 ||
	    json_strv(json_object_object_get(cfg, "Entrypoint"), "Entrypoint", &ep, &nep, err) <
		    0 ||
	    json_strv(json_object_object_get(cfg, "Cmd"), "Cmd", &icmd, &nicmd, err) < 0)
		goto out;
	if (cmd && expand_list(cmd, ncmd, e, path, "command", out, err) < 0)
		goto out;
	for (size_t i = 0; !cmd && i < nep; i++)
		json_object_array_add(out, json_object_new_string(ep[i]));
	if (args && expand_list(args, nargs, e, path, "args", out, err) < 0)
		goto out;
	for (size_t i = 0; !cmd && !args && i < nicmd; i++)
		json_object_array_add(out, json_object_new_string(icmd[i]));
	ret = json_object_array_length(out) ? 0
					    : sp_fail(err, SP_E_INVALID, 0,
						      "%s: no command (neither the pod nor the "
						      "image names one)",
						      path);
out:
	free(cmd);
	free(args);
	free(ep);
	free(icmd);
	return ret;
}

/* --- user and groups ------------------------------------------------------------------------- */

static int lock_u32_value(json_object *v, const char *key, const char *img, int64_t *out,
			  struct sp_err *err)
{
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) > UINT32_MAX - 1)
		return sp_fail(err, SP_E_INVALID, 0, "lock file: %s of '%.96s' is not a uid/gid",
			       key, img);
	*out = json_object_get_int64(v);
	return 0;
}

static int lock_u32(json_object *o, const char *key, const char *img, int64_t *out,
		    struct sp_err *err)
{
	json_object *v = o ? json_object_object_get(o, key) : NULL;

	return v ? lock_u32_value(v, key, img, out, err) : 0;
}

/* The image's user: numeric "uid[:gid]" in its config, or the lock entry's uid/gid (which a
 * named user needs: the guest looks names up in the image's /etc/passwd). */
static int image_user(json_object *ent, json_object *cfg, const char *img, int64_t *uid,
		      int64_t *gid, struct sp_err *err)
{
	const char *u = json_object_get_string(json_object_object_get(cfg, "User"));
	unsigned long a, b;
	int n;
	char tail;

	*uid = *gid = 0;
	if (lock_u32(ent, "uid", img, uid, err) < 0 || lock_u32(ent, "gid", img, gid, err) < 0)
		return -1;
	if (json_object_object_get(ent, "uid"))
		return 0;
	if (!u || !u[0])
		return 0;
	n = sscanf(u, "%lu:%lu%c", &a, &b, &tail);
	if (n == 2 && a < UINT32_MAX && b < UINT32_MAX) {
		*uid = (int64_t)a, *gid = (int64_t)b;
		return 0;
	}
	if (sscanf(u, "%lu%c", &a, &tail) == 1 && a < UINT32_MAX) {
		*uid = (int64_t)a;
		return 0;
	}
	return sp_fail(err, SP_E_INVALID, 0,
		       "lock file: image '%.96s' runs as a named user: give its \"uid\" and "
		       "\"gid\"",
		       img);
}

static void gid_add(json_object *gids, int64_t g)
{
	spg_add_unique(gids, json_object_new_int64(g));
}

static int make_user(struct spg_ctx *g, const struct spy_node *c, json_object *ent,
		     json_object *cfg, const char *img, const char *path, json_object *user,
		     struct sp_err *err)
{
	const struct spy_node *psc = spy_get(g->m.spec, "securityContext");
	const struct spy_node *csc = spy_get(c, "securityContext");
	const struct spy_node *sup = spy_get(psc, "supplementalGroups");
	int64_t uid, gid, ru = -1, rg = -1, fsg = -1;
	json_object *gids = json_object_new_array(), *groups = json_object_object_get(ent, "group"
											   "s");

	json_object_object_add(user, "additional_gids", gids);
	if (image_user(ent, cfg, img, &uid, &gid, err) < 0 ||
	    spk_int(spy_get(psc, "runAsUser"), path, 0, UINT32_MAX - 1, &ru, err) < 0 ||
	    spk_int(spy_get(csc, "runAsUser"), path, 0, UINT32_MAX - 1, &ru, err) < 0 ||
	    spk_int(spy_get(psc, "runAsGroup"), path, 0, UINT32_MAX - 1, &rg, err) < 0 ||
	    spk_int(spy_get(csc, "runAsGroup"), path, 0, UINT32_MAX - 1, &rg, err) < 0 ||
	    spk_int(spy_get(psc, "fsGroup"), path, 0, UINT32_MAX - 1, &fsg, err) < 0)
		return -1;
	if (ru >= 0) {
		/* containerd takes the gid of that uid's /etc/passwd entry in the image, else 0 */
		json_object *pw = json_object_object_get(ent, "passwd_gid");
		char key[24];

		(void)snprintf(key, sizeof(key), "%lld", (long long)ru);
		gid = 0;
		if (lock_u32(pw, key, img, &gid, err) < 0)
			return -1;
		uid = ru;
	}
	if (rg >= 0)
		gid = rg;
	json_object_object_add(user, "uid", json_object_new_int64(uid));
	json_object_object_add(user, "gid", json_object_new_int64(gid));
	gid_add(gids, gid);
	for (size_t i = 0; sup && sup->kind == SPY_SEQ && i < sup->n; i++) {
		int64_t s = -1;

		if (spk_int(sup->v[i], path, 0, UINT32_MAX - 1, &s, err) < 0)
			return -1;
		gid_add(gids, s);
	}
	if (fsg >= 0)
		gid_add(gids, fsg);
	/* containerd adds the groups the image's /etc/group lists the user in */
	if (groups && !json_object_is_type(groups, json_type_array))
		return sp_fail(err, SP_E_INVALID, 0, "lock file: groups of '%.96s' is not a list",
			       img);
	for (size_t i = 0; groups && i < json_object_array_length(groups); i++) {
		json_object *x = json_object_array_get_idx(groups, i);
		int64_t s = -1;

		if (lock_u32_value(x, "groups", img, &s, err) < 0)
			return -1;
		gid_add(gids, s);
	}
	return 0;
}

/* --- capabilities ---------------------------------------------------------------------------- */

/* Capabilities the container adds beyond the guest's default set need the policy's consent.
 * containerd's default set has CAP_NET_RAW, which the guest drops without consent (lib/caps.h),
 * so only what the pod adds is consented. */
static int make_caps(struct spg_ctx *g, const struct spy_node *c, const char *path,
		     struct sp_err *err)
{
	const struct spy_node *add =
		spy_get(spy_get(spy_get(c, "securityContext"), "capabilities"), "add");
	char name[64];

	for (size_t i = 0; add && add->kind == SPY_SEQ && i < add->n; i++) {
		const char *a = spy_str(add->v[i]);
		int cap;

		if (!a || strcmp(a, "ALL") == 0)
			return sp_fail(err, SP_E_DENIED, 0,
				       "%s.securityContext.capabilities.add[%zu]: name each "
				       "capability (ALL is not allowed)",
				       path, i);
		(void)snprintf(name, sizeof(name), "%s%s", strncmp(a, "CAP_", 4) ? "CAP_" : "", a);
		cap = sp_cap_from_name(name);
		if (cap < 0)
			return sp_fail(err, SP_E_INVALID, 0,
				       "%s.securityContext.capabilities.add[%zu]: unknown "
				       "capability "
				       "'%.32s'",
				       path, i, a);
		if (!(sp_cap_default_set & (1ull << cap)))
			spg_add_unique(g->caps, json_object_new_string(name));
	}
	return 0;
}

/* --- exec probes and lifecycle hooks --------------------------------------------------------- */

/* The kubelet expands a probe's command against the container's env as written (a valueFrom
 * variable is ""; no envFrom, no service variables), and a lifecycle hook's not at all. */
static int static_env(const struct spy_node *c, struct spg_envl *st, struct sp_err *err)
{
	const struct spy_node *env = spy_get(c, "env");

	for (size_t i = 0; env && env->kind == SPY_SEQ && i < env->n; i++) {
		const char *name = spy_str(spy_get(env->v[i], "name"));
		const char *v = spy_str(spy_get(env->v[i], "value"));

		if (name && env_set(st, name, v ? v : "", false, err) < 0)
			return -1;
	}
	return 0;
}

static int make_execs(struct spg_ctx *g, const struct spy_node *c, struct spg_envl *st,
		      const char *path, struct sp_err *err)
{
	static const char *const probes[] = { "livenessProbe", "readinessProbe", "startupProbe" };
	static const char *const hooks[] = { "postStart", "preStop" };
	const struct spy_node *exec[5];
	char p[192];

	if (static_env(c, st, err) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++)
		exec[i] = spy_get(spy_get(c, probes[i]), "exec");
	for (size_t i = 0; i < 2; i++)
		exec[3 + i] = spy_get(spy_get(spy_get(c, "lifecycle"), hooks[i]), "exec");
	for (size_t i = 0; i < 5; i++) {
		const char **v = NULL;
		json_object *argv;
		size_t n;
		int ret;

		if (!exec[i])
			continue;
		(void)snprintf(p, sizeof(p), "%s.%s%s.exec", path, i < 3 ? "" : "lifecycle.",
			       i < 3 ? probes[i] : hooks[i - 3]);
		if (spk_strv(spy_get(exec[i], "command"), p, &v, &n, err) < 0)
			return -1;
		argv = json_object_new_array();
		if (i < 3) {
			ret = expand_list(v, n, st, p, "command", argv, err);
		} else {
			for (size_t k = 0; k < n; k++)
				json_object_array_add(argv, json_object_new_string(v[k]));
			ret = 0;
		}
		free(v);
		if (ret == 0 && !n)
			ret = sp_fail(err, SP_E_INVALID, 0, "%s.command: empty", p);
		if (ret < 0) {
			json_object_put(argv);
			return -1;
		}
		spg_add_unique(g->execs, argv);
	}
	return 0;
}

/* --- the container --------------------------------------------------------------------------- */

static int lock_entry(struct spg_ctx *g, const char *img, const char *path, json_object **ent,
		      json_object **cfg, struct sp_err *err)
{
	const char *d;

	*ent = json_object_object_get(g->lock, img);
	if (!*ent && g->resolve) {
		if (spg_resolve(img, ent, err) < 0)
			return sp_error_wrap(err, "%s.image", path);
		json_object_object_add(g->lock, img, *ent);
	}
	if (!*ent || !json_object_is_type(*ent, json_type_object))
		return sp_fail(err, SP_E_NOT_FOUND, 0,
			       "%s.image: '%.96s' is not in the lock file (--lock FILE, or "
			       "--resolve)",
			       path, img);
	d = json_object_get_string(json_object_object_get(*ent, "digest"));
	if (!d || (strncmp(d, "sha256:", 7) != 0 && strncmp(d, "sha384:", 7) != 0 &&
		   strncmp(d, "sha512:", 7) != 0))
		return sp_fail(err, SP_E_INVALID, 0,
			       "lock file: the digest of '%.96s' is missing or not sha256/384/512",
			       img);
	*cfg = json_object_object_get(*ent, "config");
	if (*cfg && !json_object_is_type(*cfg, json_type_object))
		return sp_fail(err, SP_E_INVALID, 0,
			       "lock file: the config of '%.96s' is not an "
			       "object",
			       img);
	return 0;
}

/* The image's Env, HOSTNAME, the kubelet's list: later entries replace earlier ones of the same
 * name, as containerd merges them. */
static int image_env(json_object *cfg, struct spg_envl *e, struct sp_err *err)
{
	const char **ienv = NULL;
	size_t n = 0;
	int ret = 0;

	if (json_strv(json_object_object_get(cfg, "Env"), "Env", &ienv, &n, err) < 0)
		ret = -1;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		const char *eq = ienv[i] ? strchr(ienv[i], '=') : NULL;
		char name[256];

		if (!eq || eq == ienv[i] || (size_t)(eq - ienv[i]) >= sizeof(name)) {
			ret = sp_fail(err, SP_E_INVALID, 0, "lock file: Env[%zu] is not NAME=value",
				      i);
			break;
		}
		memcpy(name, ienv[i], (size_t)(eq - ienv[i]));
		name[eq - ienv[i]] = 0;
		ret = env_set(e, name, eq + 1, false, err);
	}
	free(ienv);
	return ret;
}

/* The image's Env, HOSTNAME, the kubelet's list: later entries replace earlier ones of the same
 * name, as containerd merges them. */
static int make_env(struct spg_ctx *g, const struct spy_node *c, json_object *cfg, const char *path,
		    struct spg_envl *e, struct spg_envl *kube, struct sp_err *err)
{
	const char *host = spy_str(spy_get(g->m.spec, "hostname"));
	char h[64];

	if (image_env(cfg, e, err) < 0)
		return -1;
	if (!host && g->m.named) {
		/* the kubelet's: a pod name cut to 63 bytes, without a trailing '-' or '.' */
		size_t n = strnlen(g->m.name, 63);

		while (n && (g->m.name[n - 1] == '-' || g->m.name[n - 1] == '.'))
			n--;
		memcpy(h, g->m.name, n);
		h[n] = 0;
		host = h;
	}
	if (env_set(e, "HOSTNAME", host, !host, err) < 0 || kube_env(g, c, path, kube, err) < 0)
		return -1;
	for (size_t i = 0; i < kube->n; i++)
		if (env_set(e, kube->v[i].name, kube->v[i].value, kube->v[i].any, err) < 0)
			return -1;
	return 0;
}

static int env_json(const struct spg_envl *e, const char *path, json_object *out,
		    struct sp_err *err)
{
	for (size_t i = 0; i < e->n; i++) {
		char *s;

		/* the policy reads NAME=* as "any value": a literal '*' cannot be pinned */
		if (!e->v[i].any && strcmp(e->v[i].value, "*") == 0)
			return sp_fail(err, SP_E_UNSUPPORTED, 0,
				       "%s: %.64s='*' cannot be pinned exactly", path,
				       e->v[i].name);
		if (asprintf(&s, "%s=%s", e->v[i].name, e->v[i].value) < 0)
			return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
		json_object_array_add(out, json_object_new_string(s));
		free(s);
	}
	return 0;
}

static int build_process(struct spg_ctx *g, const struct spy_node *c, json_object *ent,
			 json_object *cfg, const char *path, json_object *proc, struct sp_err *err)
{
	const char *img = spy_str(spy_get(c, "image"));
	const char *wd = spy_str(spy_get(c, "workingDir"));
	const char *iwd = json_object_get_string(json_object_object_get(cfg, "WorkingDir"));
	struct spg_envl *e = calloc(3, sizeof(*e));
	json_object *args = json_object_new_array(), *env = json_object_new_array();
	json_object *user = json_object_new_object();
	int ret = -1;

	json_object_object_add(proc, "args", args);
	json_object_object_add(proc, "env", env);
	json_object_object_add(proc, "user", user);
	json_object_object_add(proc, "cwd",
			       json_object_new_string(wd	      ? wd
						      : iwd && iwd[0] ? iwd
								      : "/"));
	if (!e)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	/* e[1]: the kubelet's own list, which $(VAR) in command and args refers to; e[2]: the env
	 * as written, which a probe's refers to */
	if (make_env(g, c, cfg, path, &e[0], &e[1], err) == 0 &&
	    make_args(c, cfg, &e[1], path, args, err) == 0 &&
	    env_json(&e[0], path, env, err) == 0 &&
	    make_user(g, c, ent, cfg, img, path, user, err) == 0 &&
	    make_execs(g, c, &e[2], path, err) == 0 && make_caps(g, c, path, err) == 0)
		ret = 0;
	env_free(&e[0]);
	env_free(&e[1]);
	env_free(&e[2]);
	free(e);
	return ret;
}

/* The kubelet asks containerd for NoNewPrivileges only when allowPrivilegeEscalation is false
 * (unset: off, whatever the other fields say), and for Root.Readonly only with
 * readOnlyRootFilesystem. The request says one or the other, so both are pinned either way. */
static int make_privs(const struct spy_node *c, const char *path, json_object *entry,
		      json_object *proc, struct sp_err *err)
{
	const struct spy_node *sc = spy_get(c, "securityContext");
	bool escalate = true, rofs = false;
	char p[192];

	(void)snprintf(p, sizeof(p), "%s.securityContext.allowPrivilegeEscalation", path);
	if (spk_bool(spy_get(sc, "allowPrivilegeEscalation"), p, &escalate, err) < 0)
		return -1;
	(void)snprintf(p, sizeof(p), "%s.securityContext.readOnlyRootFilesystem", path);
	if (spk_bool(spy_get(sc, "readOnlyRootFilesystem"), p, &rofs, err) < 0)
		return -1;
	json_object_object_add(proc, "no_new_privileges", json_object_new_boolean(!escalate));
	json_object_object_add(entry, "read_only_root", json_object_new_boolean(rofs));
	return 0;
}

int spg_container(struct spg_ctx *g, const struct spy_node *c, const char *path, struct sp_err *err)
{
	const char *img = spy_str(spy_get(c, "image"));
	json_object *ent = NULL, *cfg = NULL, *entry, *proc;

	if (lock_entry(g, img, path, &ent, &cfg, err) < 0)
		return -1;
	entry = json_object_new_object();
	proc = json_object_new_object();
	json_object_object_add(entry, "digest",
			       json_object_get(json_object_object_get(ent, "digest")));
	json_object_object_add(entry, "process", proc);
	if (build_process(g, c, ent, cfg, path, proc, err) < 0 ||
	    make_privs(c, path, entry, proc, err) < 0) {
		json_object_put(entry);
		return -1;
	}
	spg_add_unique(g->images, entry);
	return 0;
}
