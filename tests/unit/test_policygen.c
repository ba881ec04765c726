/* sealpod-policy generate against the guest's own policy code: for each pod of tests/data/pods
 * the generated policy admits every request both Kata shims send for it (the pod's
 * <pod>.<shim>.json, README there) and refuses each single-field mutation of them. */
#include "unit.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../measure/policy/gen.h"
#include "policy/policy.h"

#define MAX_LIST 128

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	char *buf;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = 0;
	*len = (size_t)n;
	fclose(f);
	return buf;
}

/* The policy for tests/data/pods/<pod>.yaml with the default settings, loaded as the guest does. */
static struct sp_policy *policy_for(const char *pod, struct sp_err *err)
{
	char path[256];
	size_t plen, llen;
	char *yaml, *lock, *doc = NULL;
	struct sps_settings set;
	struct sp_policy *p = NULL;
	struct spg_input in = { 0 };

	(void)snprintf(path, sizeof(path), "tests/data/pods/%s.yaml", pod);
	yaml = slurp(path, &plen);
	lock = slurp("tests/data/pods/lock.json", &llen);
	sps_defaults(&set);
	in = (struct spg_input){ .pod = { path, yaml, plen },
				 .lock = { "lock.json", lock, llen },
				 .settings = &set };
	if (yaml && lock && spg_generate(&in, &doc, err) == 0 &&
	    sp_policy_load(doc, strlen(doc), &p, err) < 0)
		p = NULL;
	free(yaml);
	free(lock);
	free(doc);
	return p;
}

/* One request of a fixture, as the agent's gate fills it in (init/agent/gate.c). */
struct req {
	const char *name;
	struct sp_policy_input in;
	struct sp_policy_ctr ctr;
	const char *argv[MAX_LIST], *env[MAX_LIST], *caps[MAX_LIST];
	uint32_t gids[MAX_LIST];
	struct sp_policy_mount mounts[MAX_LIST];
	const char *opts[MAX_LIST][16];
	struct sp_policy_sysctl sysctls[16];
};

static size_t strings(json_object *a, const char **out)
{
	size_t n = json_object_array_length(a);

	for (size_t i = 0; i < n && i < MAX_LIST; i++)
		out[i] = json_object_get_string(json_object_array_get_idx(a, i));
	return n < MAX_LIST ? n : MAX_LIST;
}

static json_object *get(json_object *o, const char *k)
{
	return json_object_object_get(o, k);
}

static void fill_process(struct req *r, json_object *p)
{
	json_object *g = get(p, "gids");

	r->in.argc = strings(get(p, "args"), r->argv);
	r->in.argv = r->argv;
	r->in.envc = strings(get(p, "env"), r->env);
	r->in.env = r->env;
	r->in.ncaps = strings(get(p, "caps"), r->caps);
	r->in.caps = r->caps;
	r->in.has_user = true;
	r->in.uid = (uint32_t)json_object_get_int64(get(p, "uid"));
	r->in.gid = (uint32_t)json_object_get_int64(get(p, "gid"));
	r->in.ngids = json_object_array_length(g);
	for (size_t i = 0; i < r->in.ngids && i < MAX_LIST; i++)
		r->gids[i] = (uint32_t)json_object_get_int64(json_object_array_get_idx(g, i));
	r->in.gids = r->gids;
	r->in.cwd = json_object_get_string(get(p, "cwd"));
	r->in.terminal = json_object_get_boolean(get(p, "terminal"));
	r->in.no_new_privs = json_object_get_boolean(get(p, "no_new_privileges"));
}

static void fill_create(struct req *r, json_object *o)
{
	json_object *m = get(o, "mounts");
	size_t k = 0;

	r->in.image_ref = json_object_get_string(get(o, "image"));
	r->in.image_digest = json_object_get_string(get(o, "digest"));
	r->in.image_pulled = true;
	r->in.builtin_pause = json_object_get_boolean(get(o, "pause"));
	r->in.cid = json_object_get_string(get(o, "cid"));
	r->in.sandbox_id = json_object_get_string(get(o, "sandbox_id"));
	r->in.sandbox_pidns = json_object_get_boolean(get(o, "sandbox_pidns"));
	r->in.root_readonly = json_object_get_boolean(get(o, "root_readonly"));
	for (size_t i = 0; i < json_object_array_length(m) && i < MAX_LIST; i++) {
		json_object *x = json_object_array_get_idx(m, i);

		r->mounts[i] = (struct sp_policy_mount){ json_object_get_string(get(x, "destinatio"
										       "n")),
							 json_object_get_string(get(x, "source")),
							 json_object_get_string(get(x, "type")),
							 r->opts[i],
							 strings(get(x, "options"), r->opts[i]) };
		r->in.nmounts++;
	}
	r->in.mounts = r->mounts;
	json_object_object_foreach(get(o, "sysctls"), key, val)
	{
		if (k < 16)
			r->sysctls[k++] =
				(struct sp_policy_sysctl){ key, json_object_get_string(val) };
	}
	r->in.sysctls = r->sysctls;
	r->in.nsysctls = k;
}

/* reqs[i] from the fixture's request i; an exec's container is the CreateContainer before it. */
static size_t load_reqs(json_object *fx, struct req *reqs, size_t max)
{
	json_object *a = get(fx, "requests");
	size_t n = 0;

	for (size_t i = 0; i < json_object_array_length(a) && n < max; i++) {
		json_object *o = json_object_array_get_idx(a, i);
		struct req *r = &reqs[n++];

		memset(r, 0, sizeof(*r));
		r->name = json_object_get_string(get(o, "request"));
		if (strcmp(r->name, "CopyFileRequest") == 0) {
			r->in.copy_path = json_object_get_string(get(o, "path"));
			continue;
		}
		fill_process(r, get(o, "process"));
		if (strcmp(r->name, "CreateContainerRequest") == 0) {
			fill_create(r, o);
			continue;
		}
		for (size_t j = n - 1; j-- > 0;)
			if (strcmp(reqs[j].name, "CreateContainerRequest") == 0 && reqs[j].in.cid &&
			    strcmp(reqs[j].in.cid, json_object_get_string(get(o, "cid"))) == 0) {
				const struct sp_policy_input *c = &reqs[j].in;

				r->ctr =
					(struct sp_policy_ctr){ c->env, c->envc, true,	   c->uid,
								c->gid, c->gids, c->ngids, c->cwd };
				r->in.ctr = &r->ctr;
				break;
			}
	}
	return n;
}

static bool allowed(const struct sp_policy *p, const struct req *r, char *why, size_t len)
{
	static const struct sp_policy_state st = { .attested = true,
						   .initdata = true,
						   .from_initdata = true,
						   .attestation_configured = true };
	struct sp_verdict v;
	bool ok = sp_policy_check(p, &st, r->name, &r->in, &v);

	(void)snprintf(why, len, "%s", v.why);
	return ok && !v.needs;
}

/* A copy of r whose input points into the copy, so a mutation leaves r as it was. */
static struct req *clone(const struct req *r)
{
	struct req *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	memcpy(c, r, sizeof(*c));
	c->in.argv = c->argv;
	c->in.env = c->env;
	c->in.caps = c->caps;
	c->in.gids = c->gids;
	c->in.mounts = c->mounts;
	c->in.sysctls = c->sysctls;
	for (size_t i = 0; i < c->in.nmounts; i++)
		c->mounts[i].options = c->opts[i];
	if (r->in.ctr)
		c->in.ctr = &c->ctr;
	return c;
}

static char extra_src[256];
static bool quiet; /* the cross test expects refusals: do not print them */

static int first_bind(const struct req *r)
{
	for (size_t i = 0; i < r->in.nmounts; i++)
		if (strcmp(r->mounts[i].type, "bind") == 0)
			return (int)i;
	return -1;
}

/* Each mutation changes one field; false when it does not apply to r. */
static bool mutate(struct req *r, int which)
{
	static const char *const extra_opts[] = { "rbind", "rprivate", "rw" };
	int b = first_bind(r);

	switch (which) {
	case 0: /* another image digest */
		r->in.image_digest = "sha256:"
				     "0000000000000000000000000000000000000000000000000000000000000"
				     "000";
		return true;
	case 1: /* an extra bind */
		(void)snprintf(extra_src, sizeof(extra_src),
			       "/run/kata-containers/shared/containers/%s-0123456789abcdef-extra",
			       r->in.cid);
		for (size_t i = 0; i < 3; i++)
			r->opts[r->in.nmounts][i] = extra_opts[i];
		r->mounts[r->in.nmounts] = (struct sp_policy_mount){ "/extra", extra_src, "bind",
								     r->opts[r->in.nmounts], 3 };
		r->in.nmounts++;
		return true;
	case 2: /* a changed bind option: rw for ro, ro for rw */
		for (size_t i = 0; b >= 0 && i < r->mounts[b].noptions; i++)
			if (strcmp(r->opts[b][i], "rw") == 0 || strcmp(r->opts[b][i], "ro") == 0) {
				r->opts[b][i] = r->opts[b][i][1] == 'w' ? "ro" : "rw";
				return true;
			}
		return false;
	case 3: /* a changed mount point */
		if (b < 0)
			return false;
		r->mounts[b].destination = "/etc/moved";
		return true;
	case 4: /* an extra env var */
		r->env[r->in.envc++] = "EXTRA_VAR=1";
		return true;
	case 5: /* another uid */
		r->in.uid += 1;
		return true;
	case 6: /* another gid */
		r->in.gid += 1;
		return true;
	case 7: /* another additional gid */
		r->gids[r->in.ngids++] = 4242;
		return true;
	case 8: /* an extra capability */
		r->caps[r->in.ncaps++] = "CAP_SYS_ADMIN";
		return true;
	case 9: /* the sandbox's pid namespace */
		r->in.sandbox_pidns = true;
		return true;
	case 10: /* another argv */
		r->argv[r->in.argc++] = "--extra";
		return true;
	case 11: /* no_new_privs flipped */
		r->in.no_new_privs = !r->in.no_new_privs;
		return true;
	case 12: /* a read-only root flipped */
		r->in.root_readonly = !r->in.root_readonly;
		return true;
	default:
		return false;
	}
}

static const char *const mutation_names[] = {
	"another digest",	 "an extra bind", "a changed bind option", "a changed mount point",
	"an extra env var",	 "another uid",	  "another gid",	   "another additional gid",
	"an extra capability",	 "sandbox_pidns", "another argv",	   "no_new_privs flipped",
	"Root.Readonly flipped",
};

/* Every request of the pod's fixture for shim is allowed; every mutation of each CreateContainer
 * (but the pause's) and ExecProcess is refused. Returns the number of failures. */
static int check_pod_as(const char *pod, const char *fixture, const char *shim, int *refused)
{
	static struct req reqs[64];
	struct sp_err err = { 0 };
	struct sp_policy *p = policy_for(pod, &err);
	char path[256], why[SP_POLICY_WHY_MAX];
	size_t len, n;
	char *text;
	json_object *fx;
	int failures = 0;

	(void)snprintf(path, sizeof(path), "tests/data/pods/%s.%s.json", fixture, shim);
	text = slurp(path, &len);
	fx = text ? json_tokener_parse(text) : NULL;
	free(text);
	if (!p || !fx) {
		fprintf(stderr, "    %s.%s: %s\n", pod, shim, p ? "no fixture" : err.msg);
		sp_policy_free(p);
		json_object_put(fx);
		return 1;
	}
	n = load_reqs(fx, reqs, 64);
	for (size_t i = 0; i < n; i++) {
		bool exec = strcmp(reqs[i].name, "ExecProcessRequest") == 0;

		if (!allowed(p, &reqs[i], why, sizeof(why))) {
			if (!quiet)
				fprintf(stderr, "    %s.%s: request %zu refused: %s\n", pod, shim,
					i, why);
			failures++;
		}
		if (!exec && (strcmp(reqs[i].name, "CreateContainerRequest") != 0 ||
			      reqs[i].in.builtin_pause))
			continue;
		for (int m = 0; m < 13; m++) {
			struct req *c = clone(&reqs[i]);

			if (!c)
				return failures + 1;
			if ((exec ? (m == 4 || m == 5 || m == 10) : m != 10) && mutate(c, m)) {
				if (allowed(p, c, why, sizeof(why))) {
					fprintf(stderr,
						"    %s.%s: request %zu with %s is allowed\n", pod,
						shim, i, mutation_names[m]);
					failures++;
				} else {
					(*refused)++;
				}
			}
			free(c);
		}
	}
	json_object_put(fx);
	sp_policy_free(p);
	return failures;
}

/* min: mutations that must have been tried and refused for each shim (12 for each container
 * with a bind, 3 for each exec) */
#define POD_TEST(id, name, min)                                                                    \
	TEST(policygen_pod_##id)                                                                   \
	{                                                                                          \
		int go = 0, rs = 0;                                                                \
                                                                                                   \
		CHECK(check_pod_as(name, name, "go", &go) == 0);                                   \
		CHECK(check_pod_as(name, name, "runtime-rs", &rs) == 0);                           \
		CHECK(go >= (min) && rs >= (min));                                                 \
	}

POD_TEST(plain, "plain", 12)
POD_TEST(service_account, "service-account", 12)
POD_TEST(nonroot_fsgroup, "nonroot-fsgroup", 12)
POD_TEST(configmap_secret, "configmap-secret", 12)
POD_TEST(exec_probe, "exec-probe", 21)
POD_TEST(shared_shm, "shared-shm", 24)
POD_TEST(init_container, "init-container", 24)
POD_TEST(deployment, "deployment", 12)
POD_TEST(cronjob, "cronjob", 12)
POD_TEST(nonroot_port80, "nonroot-port80", 12)
POD_TEST(readonly_root, "readonly-root", 15)

/* A policy is this pod's, not any pod's: the plain pod's refuses the service-account token's
 * bind, the exec probes, the other pods' processes. */
TEST(policygen_pod_cross)
{
	static const char *const others[] = { "service-account", "exec-probe",
					      "nonroot-fsgroup", "configmap-secret",
					      "init-container",	 "nonroot-port80",
					      "readonly-root" };
	int refused = 0;

	quiet = true;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		CHECK(check_pod_as("plain", others[i], "go", &refused) > 0);
	quiet = false;
}
