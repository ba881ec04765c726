/* The policy document (gen.h): the request rules, the workload's containers and the pod-wide
 * keys. */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* The built-in default's allowed requests but SetPolicyRequest (initdata's policy is final). */
static const char *const allowed_requests[] = {
	"CreateContainerRequest",
	"StartContainerRequest",
	"RemoveContainerRequest",
	"SignalProcessRequest",
	"WaitProcessRequest",
	"UpdateContainerRequest",
	"UpdateEphemeralMountsRequest",
	"StatsContainerRequest",
	"PauseContainerRequest",
	"ResumeContainerRequest",
	"RemoveStaleVirtiofsShareMountsRequest",
	"WriteStreamRequest",
	"ReadStreamRequest",
	"CloseStdinRequest",
	"TtyWinResizeRequest",
	"UpdateInterfaceRequest",
	"UpdateRoutesRequest",
	"ListInterfacesRequest",
	"ListRoutesRequest",
	"AddARPNeighborsRequest",
	"GetIPTablesRequest",
	"SetIPTablesRequest",
	"GetMetricsRequest",
	"CreateSandboxRequest",
	"DestroySandboxRequest",
	"OnlineCPUMemRequest",
	"GuestDetailsRequest",
	"CopyFileRequest",
	"GetOOMEventRequest",
	"VolumeStatsRequest",
	"ResizeVolumeRequest",
	"GetDiagnosticDataRequest",
};

void spg_add_unique(json_object *a, json_object *v)
{
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (json_object_equal(json_object_array_get_idx(a, i), v)) {
			json_object_put(v);
			return;
		}
	json_object_array_add(a, v);
}

static int parse_lock(const struct spg_text *t, json_object **root, json_object **images,
		      struct sp_err *err)
{
	struct json_tokener *tok = json_tokener_new();

	if (!tok)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	if (!t->buf) {
		/* --resolve without --lock: everything comes from the registries */
		json_tokener_free(tok);
		*root = json_tokener_parse("{\"version\": 1, \"images\": {}}");
		*images = json_object_object_get(*root, "images");
		return *root ? 0 : sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	}
	*root = json_tokener_parse_ex(tok, t->buf, (int)t->len);
	if (*root && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(*root);
		*root = NULL;
	}
	json_tokener_free(tok);
	if (!*root)
		return sp_fail(err, SP_E_INVALID, 0, "%s: not JSON (the lock file, --lock FILE)",
			       t->name ? t->name : "lock file");
	*images = json_object_object_get(*root, "images");
	if (json_object_get_int(json_object_object_get(*root, "version")) != 1 || !*images ||
	    !json_object_is_type(*images, json_type_object))
		return sp_fail(err, SP_E_INVALID, 0, "%s: not a lock file (version 1 with images)",
			       t->name);
	return 0;
}

static int each_container(struct spg_ctx *g, const char *key, struct sp_err *err)
{
	const struct spy_node *l = spy_get(g->m.spec, key);
	char path[128];

	for (size_t i = 0; l && l->kind == SPY_SEQ && i < l->n; i++) {
		(void)snprintf(path, sizeof(path), "%s.%s[%zu]", g->m.path, key, i);
		if (spg_container(g, l->v[i], path, err) < 0 ||
		    spg_mounts(g, l->v[i], path, err) < 0)
			return -1;
	}
	return 0;
}

static void add_sysctl(json_object *a, const char *key, const char *value)
{
	json_object *s = json_object_new_object();

	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (strcmp(json_object_get_string(
				   json_object_object_get(json_object_array_get_idx(a, i), "key")),
			   key) == 0) {
			json_object_put(s);
			return;
		}
	json_object_object_add(s, "key", json_object_new_string(key));
	json_object_object_add(s, "value", json_object_new_string(value));
	json_object_array_add(a, s);
}

/* The pod's sysctls (checked by spk_check_unsafe), then containerd 2.x's defaults. */
static json_object *sysctls(const struct spg_ctx *g)
{
	const struct spy_node *l = spy_get(spy_get(g->m.spec, "securityContext"), "sysctls");
	json_object *a = json_object_new_array();

	for (size_t i = 0; l && l->kind == SPY_SEQ && i < l->n; i++)
		add_sysctl(a, spy_str(spy_get(l->v[i], "name")),
			   spy_str(spy_get(l->v[i], "value")));
	if (g->set->containerd == SPS_CONTAINERD_2) {
		add_sysctl(a, "net.ipv4.ip_unprivileged_port_start", "0");
		add_sysctl(a, "net.ipv4.ping_group_range", "0 2147483647");
	}
	return a;
}

static int assemble(struct spg_ctx *g, json_object *doc, struct sp_err *err)
{
	json_object *req = json_object_new_object();
	bool pidns = false;

	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "default", json_object_new_string("deny"));
	json_object_object_add(doc, "requests", req);
	for (size_t i = 0; i < sizeof(allowed_requests) / sizeof(allowed_requests[0]); i++)
		json_object_object_add(req, allowed_requests[i], json_object_new_string("allow"));
	if (json_object_array_length(g->execs))
		json_object_object_add(req, "ExecProcessRequest", json_object_new_string("allow"));
	if (spk_bool(spy_get(g->m.spec, "shareProcessNamespace"), g->m.path, &pidns, err) < 0)
		return -1;
	json_object_object_add(doc, "allowed_images", json_object_get(g->images));
	if (json_object_array_length(g->execs))
		json_object_object_add(doc, "allowed_exec", json_object_get(g->execs));
	json_object_object_add(doc, "allowed_mounts", json_object_get(g->mounts));
	json_object_object_add(doc, "allowed_sysctls", sysctls(g));
	json_object_object_add(doc, "allow_sandbox_pidns", json_object_new_boolean(pidns));
	if (json_object_array_length(g->caps))
		json_object_object_add(doc, "allow_privileged_capabilities",
				       json_object_get(g->caps));
	json_object_object_add(doc, "require_attestation",
			       json_object_new_boolean(g->set->require_attestation));
	json_object_object_add(doc, "require_encrypted_storage",
			       json_object_new_boolean(g->set->require_encrypted_storage));
	return 0;
}

static int read_manifest(const struct spg_input *in, struct spy_stream *pod,
			 struct spy_stream *cfgs, struct spk_manifest *m, struct sp_err *err)
{
	if (spy_parse(in->pod.buf, in->pod.len, pod, err) < 0)
		return sp_error_wrap(err, "%s", in->pod.name);
	if (spk_find(pod, m, in->settings->namespace_default, err) < 0)
		return sp_error_wrap(err, "%s", in->pod.name);
	for (size_t i = 0; i < in->nconfigs; i++)
		if (spy_parse(in->configs[i].buf, in->configs[i].len, &cfgs[i], err) < 0 ||
		    spk_add_objects(&cfgs[i], m, err) < 0)
			return sp_error_wrap(err, "%s", in->configs[i].name);
	if (spk_check_unsafe(m, err) < 0)
		return sp_error_wrap(err, "%s", in->pod.name);
	return 0;
}

int spg_generate(const struct spg_input *in, char **policy, struct sp_err *err)
{
	struct spy_stream pod, *cfgs = calloc(in->nconfigs + 1, sizeof(*cfgs));
	struct spg_ctx *g = calloc(1, sizeof(*g));
	json_object *lock = NULL, *doc = json_object_new_object();
	int ret = -1;

	memset(&pod, 0, sizeof(pod));
	*policy = NULL;
	if (!cfgs || !g || !doc) {
		ret = sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
		goto out;
	}
	g->set = in->settings;
	g->resolve = in->resolve;
	g->images = json_object_new_array();
	g->execs = json_object_new_array();
	g->mounts = json_object_new_array();
	g->caps = json_object_new_array();
	if (read_manifest(in, &pod, cfgs, &g->m, err) < 0 ||
	    parse_lock(&in->lock, &lock, &g->lock, err) < 0 ||
	    each_container(g, "initContainers", err) < 0 ||
	    each_container(g, "containers", err) < 0 || assemble(g, doc, err) < 0)
		goto out;
	*policy = strdup(json_object_to_json_string_ext(
		doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			     JSON_C_TO_STRING_NOSLASHESCAPE));
	ret = *policy ? 0 : sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	if (ret == 0 && in->lock_json) {
		*in->lock_json = strdup(json_object_to_json_string_ext(
			lock, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
				      JSON_C_TO_STRING_NOSLASHESCAPE));
		if (!*in->lock_json)
			ret = sp_fail(err, SP_E_EXHAUSTED, 0, "out of memory");
	}
out:
	if (g) {
		json_object_put(g->images);
		json_object_put(g->execs);
		json_object_put(g->mounts);
		json_object_put(g->caps);
	}
	free(g);
	json_object_put(lock);
	json_object_put(doc);
	spy_free(&pod);
	for (size_t i = 0; cfgs && i < in->nconfigs; i++)
		spy_free(&cfgs[i]);
	free(cfgs);
	return ret;
}
