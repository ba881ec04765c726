/* sealpod-policy generate's reader, model and settings: the YAML it refuses (malformed, aliases
 * past the bound, too deep, tags, merge and duplicate keys), the kinds and fields it refuses with
 * their path, what a generated policy holds (never a Secret's value) and the settings file. */
#include "unit.h"

#include <json-c/json.h>
#include <stdlib.h>

#include "../../measure/policy/gen.h"
#include "../../measure/policy/k8s.h"
#include "../../measure/policy/yaml.h"

static int parse(const char *text, struct spy_stream *s, struct sp_err *err)
{
	return spy_parse(text, strlen(text), s, err);
}

/* Parses text, expecting a refusal whose message contains want. */
static bool refused(const char *text, const char *want)
{
	struct spy_stream s;
	struct sp_err err = { 0 };

	if (parse(text, &s, &err) == 0) {
		spy_free(&s);
		fprintf(stderr, "    accepted: %.60s\n", text);
		return false;
	}
	if (!strstr(err.msg, want)) {
		fprintf(stderr, "    message '%s' lacks '%s'\n", err.msg, want);
		return false;
	}
	return true;
}

TEST(policygen_yaml_documents)
{
	struct spy_stream s;
	struct sp_err err;

	REQUIRE(parse("a: 1\nb: [x, 'y']\n---\n---\n- 1\n- {k: v}\n", &s, &err) == 0);
	CHECK(s.ndocs == 3);
	CHECK(s.docs[0]->kind == SPY_MAP && strcmp(spy_str(spy_get(s.docs[0], "a")), "1") == 0);
	CHECK(spy_get(s.docs[0], "a")->plain);
	CHECK(!spy_get(s.docs[0], "b")->v[1]->plain); /* quoted: a string, never a number */
	CHECK(s.docs[1] == NULL || spy_is_null(s.docs[1]));
	CHECK(s.docs[2]->kind == SPY_SEQ && s.docs[2]->n == 2);
	spy_free(&s);
}

TEST(policygen_yaml_malformed)
{
	CHECK(refused("a: [1, 2\n", "line"));
	CHECK(refused("a: b: c\n", "line 1"));
	CHECK(refused("a:\n  - x\n y: 1\n", "line"));
	CHECK(refused("\"unterminated\n", "line"));
	CHECK(refused("a: 1\na: 2\n", "'a' appears twice"));
	CHECK(refused("? [x]\n: 1\n", "not a scalar"));
	CHECK(refused("base: &b {x: 1}\nmine:\n  <<: *b\n", "merge keys"));
	CHECK(refused("a: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary"));
	CHECK(refused("a: !custom x\n", "'!custom'"));
	CHECK(refused("a: *nothing\n", "has no anchor"));
	CHECK(refused("a: &x [1, *x]\n", "contains it"));
}

TEST(policygen_yaml_anchors)
{
	struct spy_stream s;
	struct sp_err err;

	/* an alias is its anchor's node, shared */
	REQUIRE(parse("x: &c [a, b]\ny: *c\n", &s, &err) == 0);
	CHECK(spy_get(s.docs[0], "x") == spy_get(s.docs[0], "y"));
	spy_free(&s);
	/* anchors belong to their document */
	CHECK(refused("a: &x 1\n---\nb: *x\n", "has no anchor"));
}

TEST(policygen_yaml_bounds)
{
	char laughs[2048], *deep, *big;
	size_t n = 0;

	/* nine levels of ten aliases: 10^9 nodes once expanded */
	n += (size_t)snprintf(laughs + n, sizeof(laughs) - n, "l0: &l0 [lol]\n");
	for (int i = 1; i < 10; i++)
		n += (size_t)snprintf(laughs + n, sizeof(laughs) - n,
				      "l%d: &l%d "
				      "[*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d]\n",
				      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
				      i - 1, i - 1);
	CHECK(refused(laughs, "aliases expand to more than"));
	deep = calloc(1, 2 * SPY_MAX_DEPTH + 8);
	REQUIRE(deep);
	memset(deep, '[', SPY_MAX_DEPTH + 1);
	memset(deep + SPY_MAX_DEPTH + 1, ']', SPY_MAX_DEPTH + 1);
	CHECK(refused(deep, "nested deeper than"));
	free(deep);
	big = malloc(SPY_MAX_INPUT + 2);
	REQUIRE(big);
	memset(big, '#', SPY_MAX_INPUT + 1);
	big[SPY_MAX_INPUT + 1] = 0;
	CHECK(refused(big, "larger than"));
	free(big);
	{
		struct spy_stream s;
		struct sp_err err;

		CHECK(spy_parse("a: b\0c\n", 7, &s, &err) < 0 && strstr(err.msg, "NUL"));
	}
}

/* --- the model and the policy ---------------------------------------------------------------- */

static const char lock[] = "{\"version\": 1, \"images\": {\"img:1\": {\"digest\": \"sha256:"
			   "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e\", "
			   "\"config\": {\"Env\": "
			   "[\"PATH=/bin\"], \"Cmd\": [\"/bin/sh\"], \"User\": \"7:8\"}}}}";

static int gen(const char *yaml, const struct sps_settings *set, char **doc, struct sp_err *err)
{
	struct sps_settings def;
	struct spg_input in = { .pod = { "pod.yaml", yaml, strlen(yaml) },
				.lock = { "lock.json", lock, strlen(lock) },
				.settings = set };

	json_object *o;

	if (!set) {
		sps_defaults(&def);
		in.settings = &def;
	}
	if (spg_generate(&in, doc, err) < 0)
		return -1;
	/* one line, so that the checks below can look for a list as a string */
	o = json_tokener_parse(*doc);
	free(*doc);
	*doc = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
								    JSON_C_TO_STRING_NOSLASHESCAPE))
		 : NULL;
	json_object_put(o);
	return *doc ? 0 : -1;
}

/* generate refuses yaml with a message containing want */
static bool gen_refuses(const char *yaml, const char *want)
{
	struct sp_err err = { 0 };
	char *doc = NULL;

	if (gen(yaml, NULL, &doc, &err) == 0) {
		fprintf(stderr, "    generated:\n%s\n", yaml);
		free(doc);
		return false;
	}
	if (!strstr(err.msg, want)) {
		fprintf(stderr, "    message '%s' lacks '%s'\n", err.msg, want);
		return false;
	}
	return true;
}

#define POD "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
#define CTR "  containers:\n  - name: c\n    image: img:1\n"

TEST(policygen_model_kinds)
{
	CHECK(gen_refuses("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "document 1: "
										  "kind 'Service' "
										  "is not "
										  "supported"));
	CHECK(gen_refuses(POD CTR "---\n" POD CTR, "document 2: a second workload (Pod)"));
	CHECK(gen_refuses("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "no Pod or pod "
										    "template"));
	CHECK(gen_refuses("- a\n- b\n", "document 1: no kind"));
	CHECK(gen_refuses(POD "  volumes: []\n", "containers: missing"));
}

TEST(policygen_model_unsafe)
{
	CHECK(gen_refuses(POD CTR "  volumes:\n  - name: h\n    hostPath: {path: /}\n", "spec."
											"volumes[0]"
											".hostPat"
											"h"));
	CHECK(gen_refuses(POD CTR "  volumes:\n  - name: v\n    emptyDir: {}\n  - name: p\n"
				  "    persistentVolumeClaim: {claimName: x}\n",
			  "spec.volumes[1].persistentVolumeClaim"));
	CHECK(gen_refuses(POD "  hostNetwork: true\n" CTR, "spec.hostNetwork"));
	CHECK(gen_refuses(POD "  hostPID: true\n" CTR, "spec.hostPID"));
	CHECK(gen_refuses(POD "  hostIPC: true\n" CTR, "spec.hostIPC"));
	CHECK(gen_refuses(POD CTR "    securityContext: {privileged: true}\n", "spec.containers[0]."
									       "securityContext."
									       "privileged"));
	CHECK(gen_refuses(POD CTR "    volumeMounts: [{name: v, mountPath: /v, subPath: x}]\n"
				  "  volumes: [{name: v, emptyDir: {}}]\n",
			  "spec.containers[0].volumeMounts[0].subPath"));
	CHECK(gen_refuses(POD "  securityContext:\n    sysctls: [{name: kernel.panic, value: "
			      "'1'}]\n" CTR,
			  "spec.securityContext.sysctls[0]"));
	CHECK(gen_refuses(POD CTR "    securityContext: {capabilities: {add: [ALL]}}\n", "capabilit"
											 "ies.add["
											 "0]"));
	CHECK(gen_refuses("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
			  "  template:\n    spec:\n      containers: [{name: c, image: img:1}]\n"
			  "      volumes: [{name: h, hostPath: {path: /etc}}]\n",
			  "spec.template.spec.volumes[0].hostPath"));
	CHECK(gen_refuses("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: j}\nspec:\n"
			  "  jobTemplate:\n    spec:\n      template:\n        spec:\n"
			  "          hostNetwork: true\n"
			  "          containers: [{name: c, image: img:1}]\n",
			  "spec.jobTemplate.spec.template.spec.hostNetwork"));
}

TEST(policygen_model_references)
{
	CHECK(gen_refuses(POD "  containers:\n  - name: c\n    image: other:2\n", "'other:2' is "
										  "not in the lock "
										  "file"));
	CHECK(gen_refuses(POD CTR "    env:\n    - name: X\n      valueFrom:\n"
				  "        configMapKeyRef: {name: cm, key: k}\n",
			  "ConfigMap 'cm' key 'k' is not in the manifest"));
	/* an optional reference to what is missing leaves the variable out */
	{
		char *doc = NULL;
		struct sp_err err;

		CHECK(gen(POD CTR "    env:\n    - name: X\n      valueFrom:\n"
				  "        configMapKeyRef: {name: cm, key: k, optional: true}\n",
			  NULL, &doc, &err) == 0);
		CHECK(doc && !strstr(doc, "\"X="));
		free(doc);
	}
	/* a Secret's value cannot be expanded into the argv (it would be in the policy) */
	CHECK(gen_refuses(POD CTR "    command: [/bin/echo, $(PW)]\n    env:\n    - name: PW\n"
				  "      valueFrom:\n        secretKeyRef: {name: s, key: k}\n"
				  "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
				  "data: {k: aHVudGVyMg==}\n",
			  "$(PW) has a value only the cluster knows"));
}

static bool has(const char *doc, const char *s)
{
	bool ok = doc && strstr(doc, s);

	if (!ok)
		fprintf(stderr, "    the policy lacks %s\n", s);
	return ok;
}

TEST(policygen_model_process)
{
	char *doc = NULL;
	struct sp_err err;

	REQUIRE(gen(POD "  securityContext: {fsGroup: 50, supplementalGroups: [60]}\n" CTR
			"    args: [-c, 'echo $(A) $$(A)']\n    workingDir: /w\n"
			"    env:\n    - {name: A, value: one}\n    - {name: B, value: x$(A)}\n"
			"    - name: PW\n      valueFrom:\n        secretKeyRef: {name: s, key: "
			"k}\n"
			"    - name: NS\n      valueFrom: {fieldRef: {fieldPath: "
			"metadata.namespace}}\n"
			"    - name: IP\n      valueFrom: {fieldRef: {fieldPath: status.podIP}}\n"
			"    livenessProbe: {exec: {command: [/bin/true, $(A)]}}\n"
			"    readinessProbe: {exec: {command: [/bin/ready, $(PW), $(B)]}}\n"
			"    lifecycle: {preStop: {exec: {command: [/bin/stop, $(A)]}}}\n"
			"    securityContext: {capabilities: {add: [NET_ADMIN]}}\n"
			"---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
			"data: {k: aHVudGVyMg==}\n",
		    NULL, &doc, &err) == 0);
	/* the image's Cmd is replaced by args, its Env kept, its User 7:8 */
	CHECK(has(doc, "\"args\": [ \"-c\", \"echo one $(A)\" ]"));
	CHECK(has(doc, "\"PATH=/bin\"") && has(doc, "\"HOSTNAME=p\"") && has(doc, "\"B=xone\""));
	CHECK(has(doc, "\"NS=default\"") && has(doc, "\"IP=*\"") && has(doc, "\"PW=*\""));
	CHECK(!strstr(doc, "hunter2") && !strstr(doc, "aHVudGVyMg"));
	CHECK(has(doc, "\"uid\": 7") && has(doc, "\"gid\": 8"));
	CHECK(has(doc, "\"additional_gids\": [ 8, 60, 50 ]"));
	CHECK(has(doc, "\"cwd\": \"/w\""));
	/* a probe's $(VAR): the env as written (valueFrom is ""); a hook's: not expanded */
	CHECK(has(doc, "[ \"/bin/true\", \"one\" ]"));
	CHECK(has(doc, "[ \"/bin/ready\", \"\", \"x$(A)\" ]"));
	CHECK(has(doc, "[ \"/bin/stop\", \"$(A)\" ]"));
	CHECK(has(doc, "\"ExecProcessRequest\": \"allow\""));
	CHECK(has(doc, "\"allow_privileged_capabilities\": [ \"CAP_NET_ADMIN\" ]"));
	CHECK(has(doc, "\"allow_sandbox_pidns\": false"));
	CHECK(!strstr(doc, "SetPolicyRequest"));
	free(doc);
	/* runAsUser without runAsGroup: the gid of that user's passwd entry, here none: 0 */
	REQUIRE(gen(POD "  securityContext: {runAsUser: 1000}\n  shareProcessNamespace: true\n" CTR,
		    NULL, &doc, &err) == 0);
	CHECK(has(doc, "\"uid\": 1000") && has(doc, "\"gid\": 0"));
	CHECK(has(doc, "\"allow_sandbox_pidns\": true"));
	CHECK(!strstr(doc, "ExecProcessRequest") && !strstr(doc, "allowed_exec"));
	free(doc);
}

TEST(policygen_settings)
{
	struct sps_settings def, file, s;
	struct sp_err err;
	char *doc = NULL, *text;
	FILE *f = fopen("measure/policy/settings.json", "re");
	long n;

	REQUIRE(f);
	REQUIRE(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
	text = calloc(1, (size_t)n + 1);
	REQUIRE(text && fread(text, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	/* the documented file holds the built-in defaults */
	sps_defaults(&def);
	memset(&file, 0x5a, sizeof(file));
	sps_defaults(&file);
	file.containerd = SPS_CONTAINERD_17;
	file.nservice_env = 0;
	CHECK(sps_load(text, (size_t)n, &file, &err) == 0);
	CHECK(memcmp(&def, &file, sizeof(def)) == 0);
	free(text);
	sps_defaults(&s);
	CHECK(sps_load("{\"colour\": 1}", 13, &s, &err) < 0 && strstr(err.msg, "'colour'"));
	CHECK(sps_load("{\"shims\": \"java\"}", 17, &s, &err) < 0 && strstr(err.msg, "shims"));
	/* containerd 1.7 puts no sysctls on the pause; a shared-fs emptyDir is a local storage
	 * named by each shim */
	REQUIRE(sps_load("{\"containerd\": \"1.7\", \"emptydir_mode\": \"shared-fs\"}", 52, &s,
			 &err) == 0);
	REQUIRE(gen(POD CTR "    volumeMounts: [{name: v, mountPath: /v}]\n"
			    "  volumes: [{name: v, emptyDir: {}}]\n",
		    &s, &doc, &err) == 0);
	CHECK(has(doc, "\"allowed_sysctls\": [ ]"));
	CHECK(has(doc, "/run/kata-containers/shared/containers/$(sandbox-id)/rootfs/local/v"));
	CHECK(has(doc, "/run/kata-containers/shared/containers/passthrough/$(sandbox-id)/rootfs/"
		       "local/v"));
	free(doc);
}

TEST(policygen_model_hostname_and_rofs)
{
	char *doc = NULL;
	struct sp_err err;

	/* HOSTNAME: a long pod name cut as the kubelet does */
	REQUIRE(gen("apiVersion: v1\nkind: Pod\nmetadata:\n  name: "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbb\nspec:"
		    "\n" CTR "    securityContext: {readOnlyRootFilesystem: true}\n",
		    NULL, &doc, &err) == 0);
	CHECK(has(doc, "\"HOSTNAME="
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""));
	/* a read-only root: containerd's hostname and resolv.conf read-only, the kubelet's hosts
	 * not */
	CHECK(has(doc, "\"destination\": \"/etc/hostname\", \"type\": \"bind\", \"source\": "
		       "\"/run/kata-containers/shared/containers/$(cid)-*-hostname\", \"options\": "
		       "[ \"rbind\", \"rprivate\", \"ro\" ]"));
	CHECK(has(doc, "\"destination\": \"/etc/hosts\", \"type\": \"bind\", \"source\": "
		       "\"/run/kata-containers/shared/containers/$(cid)-*-hosts\", \"options\": "
		       "[ \"rbind\", \"rprivate\", \"rw\" ]"));
	free(doc);
}

/* The kubelet asks containerd for no_new_privs only when allowPrivilegeEscalation is false
 * (unset: off), and for a read-only root only with readOnlyRootFilesystem; the request always
 * says one or the other, so both are pinned either way. */
TEST(policygen_model_no_new_privileges_and_read_only_root)
{
	static const struct {
		const char *sc, *nnp, *ro;
	} cases[] = {
		{ "", "\"no_new_privileges\": false", "\"read_only_root\": false" },
		{ "    securityContext: {allowPrivilegeEscalation: false}\n",
		  "\"no_new_privileges\": true", "\"read_only_root\": false" },
		{ "    securityContext: {allowPrivilegeEscalation: true, readOnlyRootFilesystem: "
		  "true}\n",
		  "\"no_new_privileges\": false", "\"read_only_root\": true" },
		{ "    securityContext: {capabilities: {drop: [ALL]}}\n",
		  "\"no_new_privileges\": false", "\"read_only_root\": false" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[512], *doc = NULL;
		struct sp_err err;

		(void)snprintf(yaml, sizeof(yaml), POD CTR "%s", cases[i].sc);
		CHECK(gen(yaml, NULL, &doc, &err) == 0);
		CHECK(has(doc, cases[i].nnp) && has(doc, cases[i].ro));
		free(doc);
	}
	CHECK(gen_refuses(POD CTR "    securityContext: {allowPrivilegeEscalation: 'no'}\n",
			  "spec.containers[0].securityContext.allowPrivilegeEscalation: not true "
			  "or false"));
	CHECK(gen_refuses(POD CTR "    securityContext: {readOnlyRootFilesystem: 1}\n",
			  "spec.containers[0].securityContext.readOnlyRootFilesystem: not true or "
			  "false"));
}
