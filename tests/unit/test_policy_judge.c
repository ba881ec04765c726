/* What the policy judges of a request beyond its name and image (init/policy/policy_judge.c):
 * sandbox_pidns, the spec's mounts against allowed_mounts, an exec's env, user, additional gids,
 * cwd and terminal against the container and allowed_exec; the keys that say so, and the
 * documents that get them wrong. */
#include "unit.h"

#include <stdlib.h>

#include "policy/policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct sp_policy *load(const char *doc)
{
	struct sp_policy *p = NULL;
	struct sp_err err;

	if (sp_policy_load(doc, strlen(doc), &p, &err) < 0) {
		fprintf(stderr, "    load: %s\n", err.msg);
		return NULL;
	}
	return p;
}

static bool allowed(const struct sp_policy *p, const char *req, const struct sp_policy_input *in,
		    struct sp_verdict *v)
{
	static const struct sp_policy_state st;

	return sp_policy_check(p, &st, req, in, v);
}

TEST(judge_sandbox_pidns)
{
	struct sp_policy *p;
	struct sp_policy_input in = { .sandbox_pidns = true };
	struct sp_verdict v;
	struct sp_err err;

	/* allowed by the built-in default, the Rego subset and a JSON document that is silent */
	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	REQUIRE((p = load("package agent_policy\ndefault CreateContainerRequest := true\n")));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\"}")));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	/* a JSON document can forbid it; a container without it is fine */
	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\",\"allow_sandbox_pidns\":false}")));
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(strstr(v.why, "sandbox_pidns") != NULL);
	in.sandbox_pidns = false;
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
}

TEST(judge_mounts)
{
	static const char doc[] = "{\"version\":1,\"default\":\"allow\",\"allowed_mounts\":["
				  "{\"destination\":\"/proc\",\"type\":\"proc\"},"
				  "{\"destination\":\"/etc/hosts\",\"type\":\"bind\","
				  "\"source\":\"/run/kata-containers/shared/containers/"
				  "$(cid)-*-hosts\","
				  "\"options\":[\"rbind\",\"ro\"]},"
				  "{\"destination\":\"/tools\",\"type\":\"bind\","
				  "\"source\":\"/run/kata-containers/sandbox/ephemeral/"
				  "tools\",\"exec\":true}]}";
	static const char *const ro[] = { "ro", "rbind" }, *const rw[] = { "rbind", "rw" };
	struct sp_policy_mount m[3] = {
		{ "/proc", "proc", "proc", NULL, 0 },
		{ "/etc/hosts", "/run/kata-containers/shared/containers/c1-0123456789abcdef-hosts",
		  "bind", ro, 2 },
		{ "/tools", "/run/kata-containers/sandbox/ephemeral/tools", "bind", NULL, 0 },
	};
	struct sp_policy_input in = { .cid = "c1", .mounts = m, .nmounts = 3 };
	struct sp_policy *p;
	struct sp_verdict v;

	REQUIRE((p = load(doc)));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(v.mounts_judged && v.mount_exec[0] == 1ULL << 2);
	/* the source pattern names this container: another's copy does not match */
	in.cid = "c2";
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(strstr(v.why, "mounts[1]: destination '/etc/hosts' (type 'bind') matches no "
			    "allowed_mounts entry") != NULL);
	CHECK(!v.mounts_judged && v.mount_exec[0] == 0);
	in.cid = "c1";
	/* a path in the pattern's '*' (FNM_PATHNAME), other options, another type, an extra one */
	m[1].source = "/run/kata-containers/shared/containers/c1-x/y-hosts";
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	m[1].source = "/run/kata-containers/shared/containers/c1-0123456789abcdef-hosts";
	m[1].options = rw;
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	m[1].options = ro;
	m[0].type = "sysfs";
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	m[0].type = "proc";
	m[2].destination = "/usr/bin";
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	m[2].destination = "/tools";
	/* $(sandbox-id): the sandbox's id (Kata's local emptyDir lives beneath it) */
	{
		static const char sb_doc[] = "{\"version\":1,\"default\":\"allow\",\"allowed_"
					     "mounts\":[{\"destination\":"
					     "\"/data\",\"type\":\"bind\",\"source\":\"/run/"
					     "kata-containers/shared/"
					     "containers/$(sandbox-id)/rootfs/local/*\"}]}";
		struct sp_policy_mount lm = { "/data",
					      "/run/kata-containers/shared/containers/sb1/rootfs/"
					      "local/vol",
					      "bind", NULL, 0 };
		struct sp_policy_input li = { .cid = "c1", .mounts = &lm, .nmounts = 1 };
		struct sp_policy *q;

		REQUIRE((q = load(sb_doc)));
		CHECK(!allowed(q, "CreateContainerRequest", &li, &v)); /* no sandbox yet */
		li.sandbox_id = "sb1";
		CHECK(allowed(q, "CreateContainerRequest", &li, &v));
		li.sandbox_id = "sb2";
		CHECK(!allowed(q, "CreateContainerRequest", &li, &v));
		sp_policy_free(q);
	}
	/* the sandbox's pause gets no mounts at all: nothing to judge */
	in.builtin_pause = true;
	in.cid = "other";
	CHECK(allowed(p, "CreateContainerRequest", &in, &v) && !v.mounts_judged);
	sp_policy_free(p);
	/* without allowed_mounts the policy does not judge mounts (the runtime's rules stay) */
	in.builtin_pause = false;
	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\"}")));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v) && !v.mounts_judged);
	sp_policy_free(p);
}

/* A container's own process as the runtime keeps it for execs. */
static const char *const ctr_env[] = { "PATH=/bin", "HOSTNAME=web-1", "LD_LIBRARY_PATH=/opt/l" };
static const uint32_t ctr_gids[] = { 1000, 50 };
static const struct sp_policy_ctr ctr = { ctr_env, 3, true, 1000, 1000, ctr_gids, 2, "/srv" };

static bool exec_ok(const struct sp_policy *p, const char *const *env, size_t envc, uint32_t uid,
		    uint32_t gid, const char *cwd, bool terminal, char *why)
{
	static const char *const argv[] = { "/bin/id", "-u" };
	struct sp_policy_input in = { .argv = argv,
				      .argc = 2,
				      .env = env,
				      .envc = envc,
				      .has_user = true,
				      .uid = uid,
				      .gid = gid,
				      .cwd = cwd,
				      .terminal = terminal,
				      .ctr = &ctr };
	struct sp_verdict v;
	bool ok = allowed(p, "ExecProcessRequest", &in, &v);

	(void)snprintf(why, SP_POLICY_WHY_MAX, "%s", v.why);
	return ok;
}

TEST(judge_exec_against_the_container)
{
	static const char *const same[] = { "PATH=/bin", "HOSTNAME=web-1" };
	static const char *const preload[] = { "PATH=/bin", "LD_PRELOAD=/tmp/evil.so" };
	static const char *const own_ld[] = { "LD_LIBRARY_PATH=/opt/l" };
	static const char *const other_ld[] = { "LD_LIBRARY_PATH=/tmp" };
	static const char *const term[] = { "PATH=/bin", "TERM=xterm" };
	static const char *const noeq[] = { "NOEQUALS" };
	char why[SP_POLICY_WHY_MAX];
	struct sp_policy *p;

	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\"}")));
	/* the container's own env (or part of it), user and cwd: what kubectl exec sends */
	CHECK(exec_ok(p, same, 2, 1000, 1000, "/srv", false, why));
	CHECK(exec_ok(p, own_ld, 1, 1000, 1000, "/srv", false, why));
	CHECK(exec_ok(p, NULL, 0, 1000, 1000, "/srv", false, why));
	/* anything else: env, user, cwd */
	CHECK(!exec_ok(p, preload, 2, 1000, 1000, "/srv", false, why));
	CHECK(strstr(why, "env: LD_PRELOAD is neither in the container's environment") != NULL);
	CHECK(strstr(why, "evil") == NULL);
	CHECK(!exec_ok(p, other_ld, 1, 1000, 1000, "/srv", false, why));
	CHECK(!exec_ok(p, noeq, 1, 1000, 1000, "/srv", false, why));
	CHECK(!exec_ok(p, same, 2, 0, 0, "/srv", false, why));
	CHECK(strstr(why, "user: the exec runs as 0:0, the container's own user allows only "
			  "1000:1000") != NULL);
	CHECK(!exec_ok(p, same, 2, 1000, 1000, "/", false, why));
	CHECK(strstr(why, "cwd '/' is not the container's own") != NULL);
	/* TERM comes with a terminal (containerd adds it to a tty exec), not without */
	CHECK(exec_ok(p, term, 2, 1000, 1000, "/srv", true, why));
	CHECK(!exec_ok(p, term, 2, 1000, 1000, "/srv", false, why));
	sp_policy_free(p);
}

TEST(judge_exec_gids_and_unknown_container)
{
	static const char *const argv[] = { "/bin/true" };
	uint32_t gids[] = { 50 };
	struct sp_policy_input in = { .argv = argv,
				      .argc = 1,
				      .has_user = true,
				      .uid = 1000,
				      .gid = 1000,
				      .gids = gids,
				      .ngids = 1,
				      .cwd = "/srv",
				      .ctr = &ctr };
	struct sp_policy *p;
	struct sp_verdict v;

	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\"}")));
	CHECK(allowed(p, "ExecProcessRequest", &in, &v));
	gids[0] = 0;
	CHECK(!allowed(p, "ExecProcessRequest", &in, &v));
	CHECK(strstr(v.why, "user: additional gid 0 is not one of the container's own") != NULL);
	/* no such container: only argv is judged here, the handler answers NOT_FOUND */
	in.ctr = NULL;
	CHECK(allowed(p, "ExecProcessRequest", &in, &v));
	sp_policy_free(p);
}

TEST(judge_exec_entries)
{
	static const char doc[] = "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":["
				  "[\"/bin/id\",\"-u\"],"
				  "{\"args\":[\"/bin/"
				  "id\",\"-u\"],\"env\":[\"DEBUG=1\",\"TRACE=*\",\"LD_AUDIT=*\"],"
				  "\"user\":{\"uid\":0,\"gid\":0},\"cwd\":\"/"
				  "\",\"terminal\":false}]}";
	static const char *const dbg[] = { "PATH=/bin", "DEBUG=1" };
	static const char *const trace[] = { "TRACE=anything" };
	static const char *const audit[] = { "LD_AUDIT=/tmp/x.so" };
	char why[SP_POLICY_WHY_MAX];
	struct sp_policy *p;

	REQUIRE((p = load(doc)));
	/* the plain argv entry: the container's own process only */
	CHECK(exec_ok(p, NULL, 0, 1000, 1000, "/srv", true, why));
	/* the object entry: its env, user and cwd, no terminal */
	CHECK(exec_ok(p, dbg, 2, 0, 0, "/", false, why));
	CHECK(exec_ok(p, trace, 1, 0, 0, "/", false, why));
	CHECK(!exec_ok(p, dbg, 2, 0, 0, "/", true, why));
	/* a NAME=* pattern never admits a dynamic loader variable */
	CHECK(!exec_ok(p, audit, 1, 0, 0, "/", false, why));
	CHECK(!exec_ok(p, dbg, 2, 7, 7, "/", false, why));
	sp_policy_free(p);
}

TEST(judge_pinned_gids_and_extra_gids)
{
	static const char doc[] = "{\"version\":1,\"default\":\"allow\",\"pin_process_to_image\":"
				  "true,"
				  "\"pin_allow_additional_gids\":[2000,3000],\"allowed_images\":[{"
				  "\"reference\":"
				  "\"r\",\"process\":{\"user\":{\"uid\":1,\"gid\":1,\"additional_"
				  "gids\":[5,1]}}}]}";
	uint32_t gids[] = { 1, 5 };
	struct sp_policy_input in = { .image_ref = "r",
				      .image_pulled = true,
				      .has_user = true,
				      .uid = 1,
				      .gid = 1,
				      .gids = gids,
				      .ngids = 2 };
	struct sp_policy *p;
	struct sp_verdict v;

	REQUIRE((p = load(doc)));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(v.pin.nextra_gids == 2 && v.pin.extra_gids[1] == 3000);
	gids[1] = 0;
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(strstr(v.why, "additional gids") != NULL);
	sp_policy_free(p);
}

TEST(judge_documents_refused)
{
	static const struct {
		const char *doc, *want;
	} bad[] = {
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_mounts\":{}}", "allowed_mounts: "
										 "expected an "
										 "array" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_mounts\":[{\"type\":\"bind\"}]}",
		  "needs a destination and a type" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_mounts\":[{\"destination\":"
		  "\"rel\",\"type\":\"bind\"}]}",
		  "must be an absolute normalised path" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_mounts\":[{\"destination\":"
		  "\"/x\",\"type\":\"bind\",\"exec\":\"yes\"}]}",
		  "expected true or false" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_mounts\":[{\"destination\":"
		  "\"/x\",\"type\":\"bind\",\"readonly\":true}]}",
		  "unknown key 'readonly'" },
		{ "{\"version\":1,\"default\":\"deny\",\"allowed_mounts\":[]}", "CreateContainerReq"
										"uest is denied" },
		{ "{\"version\":1,\"default\":\"allow\",\"allow_sandbox_pidns\":1}", "expected "
										     "true or "
										     "false" },
		{ "{\"version\":1,\"default\":\"allow\",\"pin_allow_additional_gids\":[1]}",
		  "pin_process_to_image, which is not set" },
		{ "{\"version\":1,\"default\":\"allow\",\"pin_process_to_image\":true,"
		  "\"pin_allow_additional_gids\":[-1]}",
		  "out of range" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[{\"env\":[]}]}", "needs "
											   "args" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[{\"args\":[\"a\"],"
		  "\"user\":{\"uid\":0}}]}",
		  "expected {\"uid\": N, \"gid\": N}" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[{\"args\":[\"a\"],"
		  "\"cwd\":\"x/..\"}]}",
		  "absolute normalised path" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[{\"args\":[\"a\"],"
		  "\"env\":[\"=x\"]}]}",
		  "expected NAME=value" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[{\"args\":[\"a\"],"
		  "\"tty\":true}]}",
		  "unknown key 'tty'" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"r\","
		  "\"process\":{\"user\":{\"uid\":0,\"gid\":0,\"additional_gids\":\"0\"}}}]}",
		  "expected an array of gids" },
	};
	struct sp_policy *p;
	struct sp_err err;

	for (size_t i = 0; i < N(bad); i++) {
		p = NULL;
		err.msg[0] = '\0';
		CHECK(sp_policy_load(bad[i].doc, strlen(bad[i].doc), &p, &err) < 0 && !p);
		if (!strstr(err.msg, bad[i].want))
			fprintf(stderr, "    case %zu: want '%s' in '%s'\n", i, bad[i].want,
				err.msg);
		CHECK(strstr(err.msg, bad[i].want) != NULL);
	}
}

#define SYSCTL_DOC(entries)                                                                        \
	"{\"version\":1,\"default\":\"allow\",\"allowed_sysctls\":[" entries "]}"

TEST(judge_sysctls)
{
	static const struct sp_policy_sysctl pod[] = {
		{ "net.ipv4.ip_unprivileged_port_start", "0" },
		{ "net.ipv4.ping_group_range", "0 2147483647" },
	};
	struct sp_policy_input in = { .sysctls = pod, .nsysctls = N(pod) };
	struct sp_policy *p;
	struct sp_verdict v;
	struct sp_err err;

	/* silent policies keep the runtime's safe-list check alone */
	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\"}")));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	/* a key left out is refused by name; the pause's spec is judged too (pod-wide keys) */
	REQUIRE((p = load(SYSCTL_DOC("{\"key\":\"net.ipv4.ping_group_range\"}"))));
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(strstr(v.why, "sysctl 'net.ipv4.ip_unprivileged_port_start'") != NULL);
	CHECK(strstr(v.why, "allowed_sysctls") != NULL);
	in.builtin_pause = true;
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	in.builtin_pause = false;
	in.sysctls = &pod[1];
	in.nsysctls = 1;
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	/* a value given must be equal; absent, any value */
	REQUIRE((p = load(SYSCTL_DOC("{\"key\":\"net.ipv4.ip_unprivileged_port_start\","
				     "\"value\":\"1024\"},"
				     "{\"key\":\"net.ipv4.ping_group_range\"}"))));
	in.sysctls = pod;
	in.nsysctls = N(pod);
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	CHECK(strstr(v.why, "value '0'") != NULL);
	sp_policy_free(p);
	REQUIRE((p = load(SYSCTL_DOC("{\"key\":\"net.ipv4.ip_unprivileged_port_start\","
				     "\"value\":\"0\"},"
				     "{\"key\":\"net.ipv4.ping_group_range\"}"))));
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
	/* an empty list: no sysctl at all */
	REQUIRE((p = load(SYSCTL_DOC(""))));
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	in.nsysctls = 0;
	CHECK(allowed(p, "CreateContainerRequest", &in, &v));
	in.nsysctls = 1;
	in.sysctls = NULL;
	CHECK(!allowed(p, "CreateContainerRequest", &in, &v));
	sp_policy_free(p);
}

TEST(judge_sysctl_documents_refused)
{
	static const struct {
		const char *doc, *want;
	} bad[] = {
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_sysctls\":{}}", "allowed_sysctls:"
										  " expected an "
										  "array" },
		{ SYSCTL_DOC("\"net.ipv4.ping_group_range\""), "expected an object" },
		{ SYSCTL_DOC("{\"value\":\"0\"}"), "needs a key" },
		{ SYSCTL_DOC("{\"key\":1}"), "expected a string" },
		{ SYSCTL_DOC("{\"key\":\"net.ipv4.ping_group_range\",\"value\":0}"), "expected a "
										     "string" },
		{ SYSCTL_DOC("{\"key\":\"net.ipv4.ping_group_range\",\"val\":\"0\"}"), "unknown "
										       "key "
										       "'val'" },
		/* the safe list is the floor: no policy can open a key outside it */
		{ SYSCTL_DOC("{\"key\":\"kernel.randomize_va_space\"}"), "'kernel.randomize_va_"
									 "space' is not one of the "
									 "namespaced safe "
									 "sysctls" },
		{ SYSCTL_DOC("{\"key\":\"net.ipv4.*\"}"), "not one of the namespaced safe" },
		{ SYSCTL_DOC("{\"key\":\"net.ipv4.ping_group_range\",\"value\":\"\"}"), "a number, "
											"range or "
											"list of "
											"them" },
		{ SYSCTL_DOC("{\"key\":\"net.ipv4.ping_group_range\",\"value\":\"0; 1\"}"),
		  "a number, range or list of them" },
		{ "{\"version\":1,\"default\":\"deny\",\"allowed_sysctls\":[]}", "CreateContainerRe"
										 "quest is "
										 "denied" },
	};
	struct sp_policy *p;
	struct sp_err err;

	for (size_t i = 0; i < N(bad); i++) {
		p = NULL;
		CHECK(sp_policy_load(bad[i].doc, strlen(bad[i].doc), &p, &err) < 0);
		CHECK(p == NULL);
		if (!strstr(err.msg, bad[i].want)) {
			fprintf(stderr, "    doc %zu: got '%s'\n", i, err.msg);
			CHECK(false);
		}
	}
}
