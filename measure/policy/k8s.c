/* The Kubernetes objects of a manifest (k8s.h): which document is the workload, where its pod
 * spec is, its ConfigMaps and Secrets, and the fields that are refused. */
#include "k8s.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/validate.h"

struct workload_kind {
	const char *kind;
	const char *path; /* the pod template beneath the object; "" for a Pod */
};

static const struct workload_kind workloads[] = {
	{ "Pod", "" },
	{ "Deployment", "spec.template" },
	{ "StatefulSet", "spec.template" },
	{ "DaemonSet", "spec.template" },
	{ "ReplicaSet", "spec.template" },
	{ "Job", "spec.template" },
	{ "CronJob", "spec.jobTemplate.spec.template" },
};

/* n's child at a dotted path ("spec.template"); "" is n itself. */
static const struct spy_node *walk(const struct spy_node *n, const char *path)
{
	char key[32];

	while (n && *path) {
		size_t len = strcspn(path, ".");

		if (len >= sizeof(key))
			return NULL;
		memcpy(key, path, len);
		key[len] = 0;
		n = spy_get(n, key);
		path += len + (path[len] == '.');
	}
	return n;
}

static int add_obj(struct spk_manifest *m, const struct spy_node *doc, bool secret, size_t i,
		   const char *ns_default, struct sp_err *err)
{
	const struct spy_node *meta = spy_get(doc, "metadata");
	struct spk_obj *o;

	if (m->nobjs == SPK_MAX_OBJS)
		return sp_fail(err, SP_E_EXHAUSTED, 0,
			       "document %zu: more than %d ConfigMaps and "
			       "Secrets",
			       i + 1, SPK_MAX_OBJS);
	o = &m->objs[m->nobjs];
	o->name = spy_str(spy_get(meta, "name"));
	o->ns = spy_str(spy_get(meta, "namespace"));
	if (!o->ns)
		o->ns = ns_default;
	if (!o->name)
		return sp_fail(err, SP_E_INVALID, 0, "document %zu: metadata.name is missing",
			       i + 1);
	o->secret = secret;
	o->data = spy_get(doc, "data");
	o->string_data = secret ? spy_get(doc, "stringData") : NULL;
	if ((o->data && o->data->kind != SPY_MAP && !spy_is_null(o->data)) ||
	    (o->string_data && o->string_data->kind != SPY_MAP && !spy_is_null(o->string_data)))
		return sp_fail(err, SP_E_INVALID, 0, "document %zu: data is not a mapping", i + 1);
	m->nobjs++;
	return 0;
}

static int set_workload(struct spk_manifest *m, const struct spy_node *doc,
			const struct workload_kind *w, size_t i, const char *ns_default,
			struct sp_err *err)
{
	const struct spy_node *tmpl = walk(doc, w->path);
	const struct spy_node *meta = spy_get(doc, "metadata");

	if (m->spec)
		return sp_fail(err, SP_E_UNSUPPORTED, 0,
			       "document %zu: a second workload (%s); one pod per policy", i + 1,
			       w->kind);
	m->kind = w->kind;
	m->pod_meta = spy_get(tmpl, "metadata");
	m->spec = spy_get(tmpl, "spec");
	(void)snprintf(m->path, sizeof(m->path), "%s%sspec", w->path, *w->path ? "." : "");
	if (!m->spec || m->spec->kind != SPY_MAP)
		return sp_fail(err, SP_E_INVALID, 0, "document %zu (%s): %s is missing", i + 1,
			       w->kind, m->path);
	m->ns = spy_str(spy_get(meta, "namespace"));
	if (!m->ns)
		m->ns = ns_default;
	m->named = strcmp(w->kind, "Pod") == 0;
	m->name = m->named ? spy_str(spy_get(meta, "name")) : NULL;
	if (m->named && !m->name)
		return sp_fail(err, SP_E_INVALID, 0, "document %zu (Pod): metadata.name is missing",
			       i + 1);
	return 0;
}

static int one_doc(struct spk_manifest *m, const struct spy_node *doc, size_t i, bool objs_only,
		   const char *ns_default, struct sp_err *err)
{
	const char *kind = spy_str(spy_get(doc, "kind"));

	if (!doc)
		return 0;
	if (doc->kind != SPY_MAP || !kind)
		return sp_fail(err, SP_E_INVALID, 0, "document %zu: no kind", i + 1);
	if (strcmp(kind, "ConfigMap") == 0 || strcmp(kind, "Secret") == 0)
		return add_obj(m, doc, kind[0] == 'S', i, ns_default, err);
	for (size_t k = 0; !objs_only && k < sizeof(workloads) / sizeof(workloads[0]); k++)
		if (strcmp(kind, workloads[k].kind) == 0)
			return set_workload(m, doc, &workloads[k], i, ns_default, err);
	return sp_fail(err, SP_E_UNSUPPORTED, 0, "document %zu: kind '%.64s' is not supported (%s)",
		       i + 1, kind,
		       objs_only ? "ConfigMap and Secret only"
				 : "Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, "
				   "CronJob, ConfigMap, Secret");
}

int spk_find(const struct spy_stream *s, struct spk_manifest *m, const char *ns_default,
	     struct sp_err *err)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < s->ndocs; i++)
		if (one_doc(m, s->docs[i], i, false, ns_default, err) < 0)
			return -1;
	if (!m->spec)
		return sp_fail(err, SP_E_INVALID, 0, "no Pod or pod template in the file");
	for (size_t i = 0; i < m->nobjs; i++)
		if (strcmp(m->objs[i].ns, m->ns) != 0)
			return sp_fail(err, SP_E_INVALID, 0,
				       "%s '%.64s' is in namespace '%.64s', the pod in '%.64s'",
				       m->objs[i].secret ? "Secret" : "ConfigMap", m->objs[i].name,
				       m->objs[i].ns, m->ns);
	return 0;
}

int spk_add_objects(const struct spy_stream *s, struct spk_manifest *m, struct sp_err *err)
{
	for (size_t i = 0; i < s->ndocs; i++)
		if (one_doc(m, s->docs[i], i, true, m->ns, err) < 0)
			return -1;
	return 0;
}

const struct spk_obj *spk_obj(const struct spk_manifest *m, bool secret, const char *name)
{
	for (size_t i = 0; i < m->nobjs; i++)
		if (m->objs[i].secret == secret && strcmp(m->objs[i].name, name) == 0 &&
		    strcmp(m->objs[i].ns, m->ns) == 0)
			return &m->objs[i];
	return NULL;
}

int spk_int(const struct spy_node *n, const char *path, int64_t lo, int64_t hi, int64_t *out,
	    struct sp_err *err)
{
	char *end;
	long long v;

	if (!n)
		return 0;
	if (n->kind != SPY_SCALAR || !n->plain || !n->str[0])
		return sp_fail(err, SP_E_INVALID, 0, "%s: not an integer", path);
	errno = 0;
	v = strtoll(n->str, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return sp_fail(err, SP_E_INVALID, 0,
			       "%s: '%.32s' is not an integer in %" PRId64 "..%" PRId64, path,
			       n->str, lo, hi);
	*out = v;
	return 0;
}

int spk_bool(const struct spy_node *n, const char *path, bool *out, struct sp_err *err)
{
	if (!n)
		return 0;
	if (n->kind == SPY_SCALAR && n->plain && strcmp(n->str, "true") == 0)
		*out = true;
	else if (n->kind == SPY_SCALAR && n->plain && strcmp(n->str, "false") == 0)
		*out = false;
	else
		return sp_fail(err, SP_E_INVALID, 0, "%s: not true or false", path);
	return 0;
}

int spk_strv(const struct spy_node *seq, const char *path, const char ***out, size_t *n,
	     struct sp_err *err)
{
	*out = NULL;
	*n = 0;
	if (spy_is_null(seq))
		return 0;
	if (seq->kind != SPY_SEQ)
		return sp_fail(err, SP_E_INVALID, 0, "%s: not a list", path);
	*out = calloc(seq->n + 1, sizeof(**out));
	if (!*out)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	for (size_t i = 0; i < seq->n; i++) {
		(*out)[i] = spy_str(seq->v[i]);
		if (!(*out)[i]) {
			free(*out);
			*out = NULL;
			return sp_fail(err, SP_E_INVALID, 0, "%s[%zu]: not a string", path, i);
		}
	}
	*n = seq->n;
	return 0;
}

/* --- what is refused ------------------------------------------------------------------------- */

static const char *const volume_ok[] = { "name",   "emptyDir",	"configMap",
					 "secret", "projected", "downwardAPI" };
static const char *const projection_ok[] = { "serviceAccountToken", "configMap", "secret",
					     "downwardAPI" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static int check_volume(const struct spy_node *v, const char *path, struct sp_err *err)
{
	const struct spy_node *proj = spy_get(spy_get(v, "projected"), "sources");

	if (!v || v->kind != SPY_MAP)
		return sp_fail(err, SP_E_INVALID, 0, "%s: not a mapping", path);
	for (size_t i = 0; i < v->n; i += 2) {
		const char *k = v->v[i]->str;

		if (strcmp(k, "hostPath") == 0)
			return sp_fail(err, SP_E_DENIED, 0,
				       "%s.hostPath: a host path cannot be safe in a confidential "
				       "guest (the host writes it)",
				       path);
		if (!in_list(k, volume_ok, sizeof(volume_ok) / sizeof(volume_ok[0])))
			return sp_fail(err, SP_E_UNSUPPORTED, 0,
				       "%s.%.48s: this volume type is not supported (emptyDir, "
				       "configMap, secret, projected, downwardAPI)",
				       path, k);
	}
	for (size_t i = 0; proj && proj->kind == SPY_SEQ && i < proj->n; i++)
		for (size_t j = 0; proj->v[i]->kind == SPY_MAP && j < proj->v[i]->n; j += 2)
			if (!in_list(proj->v[i]->v[j]->str, projection_ok, 4))
				return sp_fail(err, SP_E_UNSUPPORTED, 0,
					       "%s.projected.sources[%zu].%.48s: not supported",
					       path, i, proj->v[i]->v[j]->str);
	return 0;
}

static int check_mounts(const struct spy_node *c, const char *path, struct sp_err *err)
{
	const struct spy_node *vm = spy_get(c, "volumeMounts");
	static const char *const bad[] = { "subPath", "subPathExpr" };

	if (spy_get(c, "volumeDevices"))
		return sp_fail(err, SP_E_UNSUPPORTED, 0,
			       "%s.volumeDevices: raw block devices are not supported", path);
	for (size_t i = 0; vm && vm->kind == SPY_SEQ && i < vm->n; i++) {
		const char *prop = spy_str(spy_get(vm->v[i], "mountPropagation"));

		for (size_t b = 0; b < 2; b++)
			if (spy_get(vm->v[i], bad[b]))
				return sp_fail(err, SP_E_UNSUPPORTED, 0,
					       "%s.volumeMounts[%zu].%s: not supported", path, i,
					       bad[b]);
		if (prop && strcmp(prop, "None") != 0)
			return sp_fail(err, SP_E_DENIED, 0,
				       "%s.volumeMounts[%zu].mountPropagation: '%.32s' shares "
				       "mounts with the host; only None",
				       path, i, prop);
	}
	return 0;
}

static int check_container(const struct spy_node *c, const char *path, struct sp_err *err)
{
	const struct spy_node *sc = spy_get(c, "securityContext");
	const char *pm = spy_str(spy_get(sc, "procMount"));
	bool priv = false;

	if (!c || c->kind != SPY_MAP)
		return sp_fail(err, SP_E_INVALID, 0, "%s: not a mapping", path);
	if (!spy_str(spy_get(c, "name")) || !spy_str(spy_get(c, "image")))
		return sp_fail(err, SP_E_INVALID, 0, "%s: name or image is missing", path);
	if (spk_bool(spy_get(sc, "privileged"), path, &priv, err) < 0)
		return -1;
	if (priv)
		return sp_fail(err, SP_E_DENIED, 0,
			       "%s.securityContext.privileged: a privileged container holds every "
			       "capability and device of the guest; not allowed",
			       path);
	if (pm && strcmp(pm, "Default") != 0)
		return sp_fail(err, SP_E_DENIED, 0, "%s.securityContext.procMount: only Default",
			       path);
	return check_mounts(c, path, err);
}

static int check_list(const struct spy_node *spec, const char *key, const char *base,
		      int (*fn)(const struct spy_node *, const char *, struct sp_err *),
		      struct sp_err *err)
{
	const struct spy_node *l = spy_get(spec, key);
	char path[96];

	if (spy_is_null(l))
		return 0;
	if (l->kind != SPY_SEQ)
		return sp_fail(err, SP_E_INVALID, 0, "%s.%s: not a list", base, key);
	for (size_t i = 0; i < l->n; i++) {
		(void)snprintf(path, sizeof(path), "%s.%s[%zu]", base, key, i);
		if (fn(l->v[i], path, err) < 0)
			return -1;
	}
	return 0;
}

static int check_sysctls(const struct spy_node *spec, const char *base, struct sp_err *err)
{
	const struct spy_node *l = spy_get(spy_get(spec, "securityContext"), "sysctls");

	for (size_t i = 0; l && l->kind == SPY_SEQ && i < l->n; i++) {
		const char *k = spy_str(spy_get(l->v[i], "name"));
		const char *v = spy_str(spy_get(l->v[i], "value"));

		if (!k || !v)
			return sp_fail(err, SP_E_INVALID, 0,
				       "%s.securityContext.sysctls[%zu]: name or value is missing",
				       base, i);
		if (!sp_sysctl_safe(k) || !sp_sysctl_value_ok(v))
			return sp_fail(err, SP_E_DENIED, 0,
				       "%s.securityContext.sysctls[%zu]: '%.64s' is not a "
				       "namespaced "
				       "safe sysctl with a valid value",
				       base, i, k);
	}
	return 0;
}

int spk_check_unsafe(const struct spk_manifest *m, struct sp_err *err)
{
	static const char *const host_ns[] = { "hostNetwork", "hostPID", "hostIPC" };
	const struct spy_node *spec = m->spec;

	for (size_t i = 0; i < 3; i++) {
		bool on = false;
		char path[96];

		(void)snprintf(path, sizeof(path), "%s.%s", m->path, host_ns[i]);
		if (spk_bool(spy_get(spec, host_ns[i]), path, &on, err) < 0)
			return -1;
		if (on)
			return sp_fail(err, SP_E_DENIED, 0,
				       "%s: the host's namespaces cannot be shared with a "
				       "confidential guest",
				       path);
	}
	if (spy_get(spec, "ephemeralContainers"))
		return sp_fail(err, SP_E_UNSUPPORTED, 0, "%s.ephemeralContainers: not supported",
			       m->path);
	if (check_list(spec, "volumes", m->path, check_volume, err) < 0 ||
	    check_list(spec, "initContainers", m->path, check_container, err) < 0 ||
	    check_list(spec, "containers", m->path, check_container, err) < 0)
		return -1;
	if (spy_is_null(spy_get(spec, "containers")))
		return sp_fail(err, SP_E_INVALID, 0, "%s.containers: missing", m->path);
	return check_sysctls(spec, m->path, err);
}
