/* The policy gate (init/policy) and the id/path validators (init/lib/validate). Run from the
 * repository root (tests/data/policy/ holds the example documents). */
#include "unit.h"

#include <stdlib.h>

#include "lib/fileio.h"
#include "lib/validate.h"
#include "policy/policy.h"

static const struct sp_policy_state fresh;

/* The verdict as three outcomes: refused, allowed, allowed once the digest is one pinned. */
enum { DENY = 0, ALLOW, ALLOW_NEEDS_DIGEST };

static int check(const struct sp_policy *p, const struct sp_policy_state *st, const char *req,
		 const struct sp_policy_input *in, char *why, size_t whylen)
{
	struct sp_verdict v;
	bool ok = sp_policy_check(p, st, req, in, &v);

	if (why)
		snprintf(why, whylen, "%s", v.why);
	if (!ok)
		return DENY;
	return v.needs & SP_NEED_DIGEST ? ALLOW_NEEDS_DIGEST : ALLOW;
}

static int ask(const struct sp_policy *p, const char *req, const struct sp_policy_input *in,
	       char *why)
{
	return check(p, &fresh, req, in, why, SP_POLICY_WHY_MAX);
}

static struct sp_policy *load_str(const char *doc, struct sp_err *err)
{
	struct sp_policy *p = NULL;

	if (sp_policy_load(doc, strlen(doc), &p, err) < 0)
		return NULL;
	return p;
}

static struct sp_policy *load_file(const char *path, struct sp_err *err)
{
	static char buf[SP_POLICY_MAX_DOC + 1];
	struct sp_policy *p = NULL;
	bool trunc;
	size_t len;

	if (sp_read_file(path, buf, sizeof(buf), &len, &trunc, err) < 0)
		return NULL;
	if (sp_policy_load(buf, len, &p, err) < 0)
		return NULL;
	return p;
}

/* Every request the Go shim sends in a pod's life (CopyFile checked with a path below). */
static const char *const shim_needs[] = { "CheckRequest",
					  "CreateSandboxRequest",
					  "GetDiagnosticDataRequest",
					  "GuestDetailsRequest",
					  "UpdateInterfaceRequest",
					  "UpdateRoutesRequest",
					  "AddARPNeighborsRequest",
					  "CreateContainerRequest",
					  "StartContainerRequest",
					  "ReadStreamRequest",
					  "WriteStreamRequest",
					  "CloseStdinRequest",
					  "WaitProcessRequest",
					  "SignalProcessRequest",
					  "RemoveContainerRequest",
					  "StatsContainerRequest",
					  "GetOOMEventRequest",
					  "DestroySandboxRequest",
					  "OnlineCPUMemRequest",
					  "RemoveStaleVirtiofsShareMountsRequest",
					  "TtyWinResizeRequest",
					  "UpdateEphemeralMountsRequest",
					  "SetPolicyRequest" };

static const char *const default_denies[] = {
	"ExecProcessRequest", "SetGuestDateTimeRequest", "ReseedRandomDevRequest",
	"AddSwapRequest",     "AddSwapPathRequest",	 "MemHotplugByProbeRequest",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

TEST(policy_builtin_allows_what_the_shim_needs)
{
	struct sp_policy *p = NULL;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];
	struct sp_policy_input in = { .copy_path = SP_SHARED_PREFIX "abc123-resolv.conf" };

	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	for (size_t i = 0; i < N(shim_needs); i++) {
		int v = ask(p, shim_needs[i], NULL, why);
		if (v != ALLOW)
			fprintf(stderr, "    denied: %s (%s)\n", shim_needs[i], why);
		CHECK(v == ALLOW);
	}
	CHECK(ask(p, "CopyFileRequest", &in, why) == ALLOW);
	in.copy_path = SP_SHARED_PREFIX "cid/rootfs/etc/hosts";
	CHECK(ask(p, "CopyFileRequest", &in, why) == ALLOW);
	CHECK_STR(sp_policy_describe(p), "built-in default");
	sp_policy_free(p);
}

TEST(policy_builtin_denies_the_listed_requests)
{
	struct sp_policy *p = NULL;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX], want[SP_POLICY_WHY_MAX];

	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	for (size_t i = 0; i < N(default_denies); i++) {
		CHECK(ask(p, default_denies[i], NULL, why) == DENY);
		snprintf(want, sizeof(want), "%s is blocked by policy: ", default_denies[i]);
		CHECK(strncmp(why, want, strlen(want)) == 0);
	}
	CHECK_STR(why, "MemHotplugByProbeRequest is blocked by policy: the built-in default policy "
		       "denies MemHotplugByProbeRequest");
	/* Unknown names and requests without a name are denied. */
	CHECK(ask(p, "FrobnicateRequest", NULL, why) == DENY);
	CHECK_STR(why, "FrobnicateRequest is blocked by policy: unknown request");
	CHECK(ask(p, "", NULL, why) == DENY);
	CHECK(check(p, &fresh, NULL, NULL, why, sizeof(why)) == DENY);
	CHECK(check(NULL, &fresh, "CheckRequest", NULL, why, sizeof(why)) == DENY);
	sp_policy_free(p);
}

TEST(policy_copyfile_outside_prefix_denied)
{
	static const char *const bad[] = { "/etc/passwd",
					   "/run/kata-containers/shared/containers",
					   SP_SHARED_PREFIX,
					   "/run/kata-containers/shared/containers-evil/x",
					   SP_SHARED_PREFIX "../../../etc/shadow",
					   SP_SHARED_PREFIX "a/./b",
					   SP_SHARED_PREFIX "a//b",
					   SP_SHARED_PREFIX "a/",
					   "run/kata-containers/shared/containers/a",
					   "" };
	struct sp_policy *p = NULL;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];
	struct sp_policy_input in = { 0 };

	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	for (size_t i = 0; i < N(bad); i++) {
		in.copy_path = bad[i];
		CHECK(ask(p, "CopyFileRequest", &in, why) == DENY);
		CHECK(strncmp(why, "CopyFileRequest is blocked by policy: path '", 44) == 0);
	}
	in.copy_path = "/etc/passwd";
	ask(p, "CopyFileRequest", &in, why);
	CHECK_STR(why, "CopyFileRequest is blocked by policy: path '/etc/passwd' is outside the "
		       "allowed prefix (allowed: beneath /run/kata-containers/shared/containers/)");
	/* An embedded NUL, given with the wire length. */
	in.copy_path = SP_SHARED_PREFIX "a\0/../../x";
	in.copy_path_len = sizeof(SP_SHARED_PREFIX "a\0/../../x") - 1;
	CHECK(ask(p, "CopyFileRequest", &in, why) == DENY);
	/* No path at all. */
	CHECK(ask(p, "CopyFileRequest", NULL, why) == DENY);
	sp_policy_free(p);
}

TEST(policy_setpolicy_state_machine)
{
	struct sp_policy *p = NULL, *old;
	struct sp_policy_state st = { 0 };
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];
	const char *rego = "package agent_policy\ndefault ExecProcessRequest := false\n"
			   "default CreateContainerRequest := true\n";

	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	CHECK(sp_policy_set_allowed(p, &st, why, sizeof(why)));
	/* A bad document leaves the old policy in place. */
	old = p;
	CHECK(sp_policy_replace(&p, &st, "package agent_policy\nx := 1\n", 28, &err) < 0);
	CHECK(p == old);
	CHECK(strstr(err.msg, "line 2") != NULL);
	/* A good one replaces it; this Rego has no SetPolicyRequest rule, so a second is refused. */
	REQUIRE(sp_policy_replace(&p, &st, rego, strlen(rego), &err) == 0);
	CHECK(sp_policy_source(p) == SP_POLICY_REGO);
	CHECK(!sp_policy_set_allowed(p, &st, why, sizeof(why)));
	CHECK_STR(why, "SetPolicyRequest is blocked by policy: the Rego policy has no rule "
		       "'SetPolicyRequest' (a request without a rule is denied)");
	CHECK(sp_policy_replace(&p, &st, rego, strlen(rego), &err) < 0);
	CHECK(strncmp(err.msg, "SetPolicyRequest is blocked by policy", 37) == 0);
	CHECK(ask(p, "SetPolicyRequest", NULL, why) == DENY);
	sp_policy_free(p);

	/* Refused after the first container, and after attestation, even when the rule allows. */
	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	st.first_container_created = true;
	CHECK(!sp_policy_set_allowed(p, &st, why, sizeof(why)));
	CHECK(strstr(why, "a container has already been created") != NULL);
	CHECK(check(p, &st, "SetPolicyRequest", NULL, why, sizeof(why)) == DENY);
	old = p;
	CHECK(sp_policy_replace(&p, &st, rego, strlen(rego), &err) < 0);
	CHECK(p == old);
	st.first_container_created = false;
	st.attested = true;
	CHECK(!sp_policy_set_allowed(p, &st, why, sizeof(why)));
	CHECK(strstr(why, "attestation has happened") != NULL);
	CHECK(sp_policy_replace(&p, &st, rego, strlen(rego), &err) < 0);
	CHECK(!sp_policy_set_allowed(p, NULL, why, sizeof(why)));
	sp_policy_free(p);
}

TEST(policy_rego_kata_style_files)
{
	struct sp_policy *p;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];

	p = load_file("tests/data/policy/allow-all.rego", &err);
	if (!p)
		fprintf(stderr, "    %s\n", err.msg);
	REQUIRE(p);
	CHECK(sp_policy_source(p) == SP_POLICY_REGO);
	CHECK(ask(p, "ExecProcessRequest", NULL, why) == ALLOW);
	CHECK(ask(p, "SetGuestDateTimeRequest", NULL, why) == ALLOW);
	CHECK(ask(p, "SetPolicyRequest", NULL, why) == ALLOW);
	/* Not listed in that file: denied, as in Kata. */
	CHECK(ask(p, "MemAgentMemcgConfig", NULL, why) == DENY);
	sp_policy_free(p);

	p = load_file("tests/data/policy/allow-all-except-exec.rego", &err);
	REQUIRE(p);
	CHECK(ask(p, "ExecProcessRequest", NULL, why) == DENY);
	CHECK_STR(why, "ExecProcessRequest is blocked by policy: rule 'ExecProcessRequest' = "
		       "false");
	for (size_t i = 0; i < N(shim_needs); i++)
		CHECK(ask(p, shim_needs[i], NULL, why) == ALLOW);
	sp_policy_free(p);

	/* CRLF line ends, tabs, comments, no blank around :=, unknown names warned about. */
	p = load_str("# policy\r\n\tpackage   agent_policy  # trailing\r\n\r\n"
		     "default ExecProcessRequest:=false\r\ndefault FutureThingRequest := true\r\n"
		     "default AllowRequestsFailingPolicy := false\r\n",
		     &err);
	if (!p)
		fprintf(stderr, "    %s\n", err.msg);
	REQUIRE(p);
	CHECK(sp_policy_nwarnings(p) == 1);
	CHECK(strstr(sp_policy_warning(p, 0), "FutureThingRequest") != NULL);
	CHECK(sp_policy_warning(p, 1) == NULL);
	CHECK(ask(p, "ExecProcessRequest", NULL, why) == DENY);
	CHECK(ask(p, "CreateContainerRequest", NULL, why) == DENY);
	sp_policy_free(p);
}

TEST(policy_rego_outside_subset_refused)
{
	static const struct {
		const char *doc;
		const char *want; /* in the error */
	} bad[] = {
		{ "package agent_policy\n\ndefault CreateContainerRequest := false\n\n"
		  "CreateContainerRequest {\n\tinput.x == 1\n}\n",
		  "line 5: 'CreateContainerRequest {': rules with bodies" },
		{ "package agent_policy\nimport future.keywords.in\n", "line 2: 'import" },
		{ "package agent_policy\nimport rego.v1\ndefault ExecProcessRequest := true\n",
		  "imports are not supported" },
		{ "package agent_policy\ndefault ExecProcessRequest := {\"a\": 1}\n", "may only be "
										      "`true` or "
										      "`false`" },
		{ "package agent_policy\ndefault ExecProcessRequest := 1\n", "line 2" },
		{ "package agent_policy\ndefault ExecProcessRequest := \"true\"\n", "line 2" },
		{ "package agent_policy\ndefault ExecProcessRequest = true\n", "expected `:=`" },
		{ "package agent_policy\ndefault ExecProcessRequest := true if { true }\n", "line "
											    "2" },
		{ "package agent_policy\nExecProcessRequest := true\n", "not a default rule" },
		{ "package agent_policy\nallow_exec := input.process.Args[0] == \"ls\"\n", "not a "
											   "default"
											   " rul"
											   "e" },
		{ "package agent_policy\npolicy_data := {\n  \"containers\": []\n}\n", "line 2: "
										       "'policy_"
										       "data := "
										       "{'" },
		{ "package agent_policy\ndefault ExecProcessRequest := false\n"
		  "default ExecProcessRequest := true\n",
		  "a second default for ExecProcessRequest (first on line 2)" },
		{ "package other\ndefault ExecProcessRequest := true\n", "package must be "
									 "agent_policy" },
		{ "default ExecProcessRequest := true\n", "first statement must be" },
		{ "package agent_policy\npackage agent_policy\n", "a second package line" },
		{ "package agent_policy\ndefault AllowRequestsFailingPolicy := true\n", "log-only "
											"denials" },
		{ "package agent_policy\ndefault Exéc := true\n", "non-ASCII" },
		{ "package agent_policy\ndefault\n", "expected a rule name" },
		{ "package agent_policy\ndefault 9lives := true\n", "expected a rule name" },
		{ "", "no `package agent_policy` line" },
		{ "# only a comment\n\n", "no `package agent_policy` line" },
		{ "package agent_policy\x01\n", "control character" },
	};
	struct sp_policy *p;
	struct sp_err err;

	for (size_t i = 0; i < N(bad); i++) {
		err.msg[0] = '\0';
		p = NULL;
		CHECK(sp_policy_load_rego(bad[i].doc, strlen(bad[i].doc), &p, &err) < 0);
		CHECK(p == NULL);
		if (!strstr(err.msg, bad[i].want))
			fprintf(stderr, "    case %zu: want '%s' in '%s'\n", i, bad[i].want,
				err.msg);
		CHECK(strstr(err.msg, bad[i].want) != NULL);
	}
	p = load_file("tests/data/policy/genpolicy-style.rego", &err);
	CHECK(p == NULL);
	CHECK(strstr(err.msg, "policy.rego line 7: 'CreateContainerRequest {'") != NULL);
	/* A NUL byte and an oversize document. */
	CHECK(sp_policy_load_rego("package agent_policy\n\0", 22, &p, &err) < 0);
	CHECK(strstr(err.msg, "NUL") != NULL);
	char *big = malloc(SP_POLICY_MAX_DOC + 2);
	REQUIRE(big);
	memset(big, '\n', SP_POLICY_MAX_DOC + 1);
	CHECK(sp_policy_load(big, SP_POLICY_MAX_DOC + 1, &p, &err) < 0);
	CHECK(strstr(err.msg, "over the 262144 byte limit") != NULL);
	free(big);
}

TEST(policy_json_example_file)
{
	struct sp_policy *p;
	struct sp_err err;
	struct sp_policy_state st = { 0 };
	char why[SP_POLICY_WHY_MAX];
	const char *args[] = { "/usr/bin/web", "--port", "8080" };
	const char *env[] = { "PATH=/usr/bin:/bin", "HOSTNAME=web-0", "LOG_LEVEL=info" };
	const char *digest = "sha256:"
			     "5f1c2b8e0d7a4c3b9e6f1a2d8c7b4e3f0a9d6c5b2e1f8a7d4c3b0e9f6a5d2c1b";
	struct sp_policy_input in = {
		.image_ref = "registry.example.com/shop/web:1.4",
		.image_digest = digest,
		.image_pulled = true,
		.argv = args,
		.argc = 3,
		.env = env,
		.envc = 3,
		.has_user = true,
		.uid = 1000,
		.gid = 1000,
		.cwd = "/srv",
	};

	p = load_file("tests/data/policy/example.json", &err);
	if (!p)
		fprintf(stderr, "    %s\n", err.msg);
	REQUIRE(p);
	CHECK(sp_policy_source(p) == SP_POLICY_JSON);
	CHECK(sp_policy_requires_attestation(p));
	CHECK(!sp_policy_requires_encrypted_storage(p));
	/* require_attestation */
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == DENY);
	CHECK(strstr(why, "require_attestation") != NULL);
	st.attested = true;
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == ALLOW);
	/* default deny, listed requests allowed */
	CHECK(check(p, &st, "SetGuestDateTimeRequest", NULL, why, sizeof(why)) == DENY);
	CHECK_STR(why, "SetGuestDateTimeRequest is blocked by policy: 'SetGuestDateTimeRequest' "
		       "has "
		       "no rule and default = deny");
	CHECK(check(p, &st, "GuestDetailsRequest", NULL, why, sizeof(why)) == ALLOW);
	/* the digest-only entry: pending without a digest, then decided by it */
	in = (struct sp_policy_input){ .image_ref = "registry.example.com/tools:latest",
				       .image_pulled = true };
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == ALLOW_NEEDS_DIGEST);
	in.image_digest = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == ALLOW);
	in.image_digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == DENY);
	CHECK(strstr(why, "is not in allowed_images") != NULL);
	/* a digest carried in the reference */
	in = (struct sp_policy_input){ .image_ref = "registry.example.com/tools@sha256:"
						    "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60"
						    "718293a4b5c6d7e8f9",
				       .image_pulled = true };
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == ALLOW);
	/* the sandbox's pause container: the guest pull of "pause" only */
	in = (struct sp_policy_input){ .image_ref = "pause",
				       .image_pulled = true,
				       .builtin_pause = true };
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == ALLOW);
	in.builtin_pause = false; /* an annotation saying "pause" */
	in.image_pulled = false;
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == DENY);
	/* an image that is not pulled in the guest (the CRI annotation only): refused */
	in = (struct sp_policy_input){ .image_ref = "registry.example.com/tools@sha256:"
						    "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60"
						    "718293a4b5c6d7e8f9" };
	CHECK(check(p, &st, "CreateContainerRequest", &in, why, sizeof(why)) == DENY);
	CHECK(strstr(why, "is not pulled in the guest") != NULL);
	sp_policy_free(p);
}

TEST(policy_json_images_and_pinned_process)
{
	const char *doc = "{\"version\":1,\"default\":\"allow\",\"allowed_images\":["
			  "{\"reference\":\"reg.example/app:1\",\"process\":{\"args\":[\"/"
			  "app\",\"-v\"],"
			  "\"env\":[\"PATH=/bin\",\"HOSTNAME=*\"],\"user\":{\"uid\":10,\"gid\":20},"
			  "\"cwd\":\"/w\"}},"
			  "{\"reference\":\"reg.example/free:2\"}]}";
	const char *args[] = { "/app", "-v" }, *args2[] = { "/bin/sh" };
	const char *env[] = { "PATH=/bin", "HOSTNAME=x" }, *env2[] = { "PATH=/bin", "LD_PRELOAD=/"
										    "x" };
	const char *env3[] = { "HOSTNAME=x" };
	struct sp_policy_input in = { .image_ref = "reg.example/app:1",
				      .image_pulled = true,
				      .argv = args,
				      .argc = 2,
				      .env = env,
				      .envc = 2,
				      .has_user = true,
				      .uid = 10,
				      .gid = 20,
				      .cwd = "/w" };
	struct sp_policy *p;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];

	p = load_str(doc, &err);
	if (!p)
		fprintf(stderr, "    %s\n", err.msg);
	REQUIRE(p);
	CHECK(ask(p, "CreateContainerRequest", &in, why) == ALLOW);
	in.envc = 1; /* HOSTNAME=* may be absent */
	CHECK(ask(p, "CreateContainerRequest", &in, why) == ALLOW);
	in.env = env3; /* PATH=/bin may not */
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK_STR(why, "CreateContainerRequest is blocked by policy: the process env differ from "
		       "the "
		       "one pinned for image 'reg.example/app:1'");
	in.env = env2, in.envc = 2; /* nothing else may appear */
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	in.env = env;
	in.argv = args2, in.argc = 1;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK(strstr(why, "process args differ") != NULL);
	in.argv = args, in.argc = 1; /* a prefix of the pinned args is not enough */
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	in.argc = 2;
	in.uid = 0;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK(strstr(why, "process user differ") != NULL);
	in.uid = 10, in.has_user = false;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	in.has_user = true, in.cwd = "/";
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK(strstr(why, "process cwd differ") != NULL);
	in.cwd = NULL;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	/* an image without a pinned process takes any */
	in.image_ref = "reg.example/free:2";
	CHECK(ask(p, "CreateContainerRequest", &in, why) == ALLOW);
	/* not listed, look-alikes, no reference */
	in.image_ref = "reg.example/app:1 ";
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	in.image_ref = "evil.example/x:\x1b[2J";
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK_STR(why, "CreateContainerRequest is blocked by policy: image "
		       "'evil.example/x:\\x1b[2J' is not in allowed_images");
	in.image_ref = NULL;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK(strstr(why, "no image reference") != NULL);
	/* with default allow, other requests pass */
	CHECK(ask(p, "ExecProcessRequest", NULL, why) == ALLOW);
	sp_policy_free(p);
}

TEST(policy_json_exec_and_capabilities)
{
	const char *doc = "{\"version\":1,\"default\":\"deny\",\"requests\":{"
			  "\"ExecProcessRequest\":\"allow\",\"CreateContainerRequest\":\"allow\"},"
			  "\"allowed_exec\":[[\"cat\",\"/etc/hostname\"],[\"/bin/date\"]],"
			  "\"allow_privileged_capabilities\":[\"CAP_NET_ADMIN\"]}";
	const char *ok1[] = { "cat", "/etc/hostname" }, *ok2[] = { "/bin/date" };
	const char *bad1[] = { "cat", "/etc/shadow" }, *bad2[] = { "cat", "/etc/hostname", "x" };
	const char *caps_ok[] = { "CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_MKNOD" };
	const char *caps_bad[] = { "CAP_CHOWN", "CAP_SYS_ADMIN" };
	const char *caps_raw[] = { "CAP_CHOWN", "CAP_NET_RAW" }; /* not in the default set */
	const char *caps_odd[] = { "cap_sys_admin" };
	struct sp_policy_input in = { .argv = ok1, .argc = 2 };
	struct sp_policy *p;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];

	p = load_str(doc, &err);
	if (!p)
		fprintf(stderr, "    %s\n", err.msg);
	REQUIRE(p);
	CHECK(ask(p, "ExecProcessRequest", &in, why) == ALLOW);
	in.argv = ok2, in.argc = 1;
	CHECK(ask(p, "ExecProcessRequest", &in, why) == ALLOW);
	in.argv = bad1, in.argc = 2;
	CHECK(ask(p, "ExecProcessRequest", &in, why) == DENY);
	CHECK_STR(why, "ExecProcessRequest is blocked by policy: argv (2 args, argv[0] 'cat') is "
		       "not in allowed_exec");
	in.argv = bad2, in.argc = 3;
	CHECK(ask(p, "ExecProcessRequest", &in, why) == DENY);
	in.argv = NULL, in.argc = 0;
	CHECK(ask(p, "ExecProcessRequest", &in, why) == DENY);
	in.argv = ok1, in.argc = 2;

	in.caps = caps_ok, in.ncaps = 4;
	CHECK(ask(p, "ExecProcessRequest", &in, why) == ALLOW);
	CHECK(ask(p, "CreateContainerRequest", &in, why) == ALLOW);
	in.caps = caps_bad, in.ncaps = 2;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK_STR(why, "CreateContainerRequest is blocked by policy: capability 'CAP_SYS_ADMIN' is "
		       "beyond the default set and not in allow_privileged_capabilities");
	CHECK(ask(p, "ExecProcessRequest", &in, why) == DENY);
	/* CAP_NET_RAW is forced out by the runtime (dropped), not a reason to deny */
	in.caps = caps_raw, in.ncaps = 2;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == ALLOW);
	in.caps = caps_odd, in.ncaps = 1;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	in.caps = NULL, in.ncaps = 3;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	sp_policy_free(p);

	/* The built-in default grants nothing beyond the default set either. */
	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	in.caps = caps_ok, in.ncaps = 4;
	CHECK(ask(p, "CreateContainerRequest", &in, why) == DENY);
	CHECK(strstr(why, "'CAP_NET_ADMIN'") != NULL);
	sp_policy_free(p);
}

TEST(policy_json_storage_and_prefix)
{
	struct sp_policy_state st = { 0 };
	struct sp_policy_input in = { .copy_path = SP_SHARED_PREFIX "sandbox/x" };
	struct sp_policy *p;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];

	p = load_str("{\"version\":1,\"default\":\"allow\",\"require_encrypted_storage\":true,"
		     "\"copy_file_prefix\":\"" SP_SHARED_PREFIX "sandbox/\"}",
		     &err);
	REQUIRE(p);
	CHECK(sp_policy_requires_encrypted_storage(p));
	CHECK(check(p, &st, "CreateContainerRequest", NULL, why, sizeof(why)) == DENY);
	CHECK(strstr(why, "require_encrypted_storage") != NULL);
	st.encrypted_storage = true;
	CHECK(check(p, &st, "CreateContainerRequest", NULL, why, sizeof(why)) == ALLOW);
	CHECK(ask(p, "CopyFileRequest", &in, why) == ALLOW);
	in.copy_path = SP_SHARED_PREFIX "other/x";
	CHECK(ask(p, "CopyFileRequest", &in, why) == DENY);
	sp_policy_free(p);
}

TEST(policy_json_malformed_refused)
{
	static const struct {
		const char *doc;
		const char *want;
	} bad[] = {
		{ "{", "truncated document" },
		{ "{\"version\":1,\"default\":\"deny\"", "truncated" },
		{ "{\"version\":1,\"default\":\"deny\"} x", "invalid JSON at byte 31" },
		{ "{\"version\":1,\"default\":\"deny\"}{}", "" },
		{ "{version:1}", "invalid JSON" },
		{ "{\"version\":1,\"default\":\"deny\",}", "invalid JSON" },
		{ "{\"version\":1, /* c */ \"default\":\"deny\"}", "invalid JSON" },
		{ "[]", "must be a JSON object" },
		{ "{}", "missing \"version\"" },
		{ "{\"version\":2,\"default\":\"deny\"}", "only version 1" },
		{ "{\"version\":\"1\",\"default\":\"deny\"}", "only version 1" },
		{ "{\"version\":1}", "missing \"default\"" },
		{ "{\"version\":1,\"default\":\"permit\"}", "default: expected \"allow\" or "
							    "\"deny\"" },
		{ "{\"version\":1,\"default\":true}", "default: expected" },
		{ "{\"version\":1,\"default\":\"deny\",\"alowed_images\":[]}", "unknown key "
									       "'alowed_images'" },
		{ "{\"version\":1,\"default\":\"allow\",\"requests\":{\"ExecProcesRequest\":"
		  "\"deny\"}}",
		  "unknown request name 'ExecProcesRequest'" },
		{ "{\"version\":1,\"default\":\"allow\",\"requests\":{\"CheckRequest\":\"deny\"}}",
		  "never gated" },
		{ "{\"version\":1,\"default\":\"allow\",\"requests\":{\"ExecProcessRequest\":false}"
		  "}",
		  "requests.ExecProcessRequest: expected" },
		{ "{\"version\":1,\"default\":\"allow\",\"requests\":[]}", "requests: expected an "
									   "object" },
		{ "{\"version\":1,\"default\":\"deny\",\"allowed_exec\":[[\"ls\"]]}", "ExecProcessR"
										      "equest is "
										      "denied" },
		{ "{\"version\":1,\"default\":\"deny\",\"allowed_images\":[{\"reference\":\"a\"}]}",
		  "CreateContainerRequest is denied" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[[]]}", "an empty argv" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[\"ls\"]}", "allowed_exec["
										     "0]: expected "
										     "an argv "
										     "array or an "
										     "object" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[[\"ls\",1]]}", "allowed_"
											 "exec[0]["
											 "1]: "
											 "expected "
											 "a "
											 "string" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{}]}", "needs a "
										   "reference, a "
										   "digest or "
										   "both" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"digest\":\"sha256:"
		  "abc\"}]}",
		  "allowed_images[0].digest: expected sha256" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"digest\":\"sha256:"
		  "5F1C2B8E0D7A4C3B9E6F1A2D8C7B4E3F0A9D6C5B2E1F8A7D4C3B0E9F6A5D2C1B\"}]}",
		  "(lowercase)" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"\"}]}",
		  "reference: empty" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":"
		  "\"a\\u0000b\"}]}",
		  "NUL character" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"user\":{\"uid\":-1,\"gid\":0}}}]}",
		  "out of range" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"user\":{\"uid\":4294967296,\"gid\":0}}}]}",
		  "out of range" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"user\":{\"uid\":1}}}]}",
		  "needs both uid and gid" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"user\":\"root\"}}]}",
		  "expected {\"uid\": N, \"gid\": N}" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"cwd\":\"srv\"}}]}",
		  "must be an absolute path" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"env\":[\"NOEQUALS\"]}}]}",
		  "expected NAME=value" },
		{ "{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"a\","
		  "\"process\":{\"argv\":[]}}]}",
		  "unknown key 'argv'" },
		{ "{\"version\":1,\"default\":\"allow\",\"allow_privileged_capabilities\":[\"SYS_"
		  "ADMIN\"]}",
		  "unknown capability 'SYS_ADMIN'" },
		{ "{\"version\":1,\"default\":\"allow\",\"copy_file_prefix\":\"/etc/\"}", "copy_"
											  "file_"
											  "prefix: "
											  "must "
											  "be" },
		{ "{\"version\":1,\"default\":\"allow\",\"copy_file_prefix\":\"" SP_SHARED_PREFIX
		  "../\"}",
		  "copy_file_prefix: must be" },
		{ "{\"version\":1,\"default\":\"allow\",\"copy_file_prefix\":\"" SP_SHARED_PREFIX
		  "x\"}",
		  "copy_file_prefix: must be" },
		{ "{\"version\":1,\"default\":\"allow\",\"require_attestation\":\"yes\"}", "require"
											   "_attest"
											   "ation: "
											   "expecte"
											   "d true "
											   "or "
											   "fals"
											   "e" },
		{ "{\"version\":1,\"default\":\"allow\",\"x\":\"\xff\xfe\"}", "invalid JSON" },
		{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]"
		  "]]]]]]]"
		  "]]]]]]]]]]]]]]]]]]]]]]]]]}",
		  "invalid JSON" },
	};
	struct sp_policy *p;
	struct sp_err err;

	for (size_t i = 0; i < N(bad); i++) {
		err.msg[0] = '\0';
		p = NULL;
		CHECK(sp_policy_load_json(bad[i].doc, strlen(bad[i].doc), &p, &err) < 0);
		CHECK(p == NULL);
		CHECK(strncmp(err.msg, "policy.json", 11) == 0);
		if (!strstr(err.msg, bad[i].want))
			fprintf(stderr, "    case %zu: want '%s' in '%s'\n", i, bad[i].want,
				err.msg);
		CHECK(strstr(err.msg, bad[i].want) != NULL);
	}
	CHECK(sp_policy_load_json("", 0, &p, &err) < 0);
	CHECK(strstr(err.msg, "empty document") != NULL);
	/* A list over its cap. */
	char doc[8192], *w = doc;
	w += sprintf(w, "{\"version\":1,\"default\":\"allow\",\"allowed_exec\":[[");
	for (int i = 0; i < SP_POLICY_MAX_ARGS + 1; i++)
		w += sprintf(w, "%s\"a\"", i ? "," : "");
	sprintf(w, "]]}");
	CHECK(sp_policy_load_json(doc, strlen(doc), &p, &err) < 0);
	CHECK(strstr(err.msg, "over the limit of 256") != NULL);
}

TEST(policy_method_names)
{
	CHECK_STR(sp_policy_request_name("ReadStdout"), "ReadStreamRequest");
	CHECK_STR(sp_policy_request_name("ReadStderr"), "ReadStreamRequest");
	CHECK_STR(sp_policy_request_name("WriteStdin"), "WriteStreamRequest");
	CHECK_STR(sp_policy_request_name("GetGuestDetails"), "GuestDetailsRequest");
	CHECK_STR(sp_policy_request_name("Check"), "CheckRequest");
	CHECK_STR(sp_policy_request_name("Version"), "CheckRequest");
	CHECK_STR(sp_policy_request_name("ExecProcess"), "ExecProcessRequest");
	CHECK_STR(sp_policy_request_name("SetPolicy"), "SetPolicyRequest");
	CHECK(sp_policy_request_name("Frobnicate") == NULL);
	CHECK(sp_policy_request_name(NULL) == NULL);
	CHECK(sp_policy_known_request("CheckRequest"));
	CHECK(sp_policy_known_request("AddSwapPathRequest"));
	CHECK(!sp_policy_known_request("ExecProcess"));
}

/* ---- validators ---------------------------------------------------------------------------- */

TEST(validate_ids)
{
	char longest[SP_ID_MAX + 1], over[SP_ID_MAX + 2];

	CHECK(sp_valid_id("a"));
	CHECK(sp_valid_id("0"));
	CHECK(sp_valid_id("3f2a9c_b.d-e"));
	CHECK(sp_valid_id("abc..def")); /* dots inside are fine: never a whole component */
	memset(longest, 'a', SP_ID_MAX);
	longest[SP_ID_MAX] = '\0';
	CHECK(sp_valid_id(longest));
	memset(over, 'a', SP_ID_MAX + 1);
	over[SP_ID_MAX + 1] = '\0';
	CHECK(!sp_valid_id(over));
	CHECK(!sp_valid_id(NULL));
	CHECK(!sp_valid_id(""));
	CHECK(!sp_valid_id("."));
	CHECK(!sp_valid_id(".."));
	CHECK(!sp_valid_id(".hidden"));
	CHECK(!sp_valid_id("-rf"));
	CHECK(!sp_valid_id("_x"));
	CHECK(!sp_valid_id("a/b"));
	CHECK(!sp_valid_id("../etc"));
	CHECK(!sp_valid_id("a b"));
	CHECK(!sp_valid_id("a\n"));
	CHECK(!sp_valid_id("caf\xc3\xa9"));  /* é */
	CHECK(!sp_valid_id("\xef\xbc\xa1")); /* fullwidth A */
	CHECK(!sp_valid_id("a\xe2\x80\x8b"
			   "b")); /* zero-width space */
	CHECK(sp_valid_idn("abc", 3));
	CHECK(!sp_valid_idn("ab\0c", 4));
	CHECK(!sp_valid_idn("abc", 0));
}

TEST(validate_paths_beneath)
{
	static const char *const bad[] = { "",
					   "relative/x",
					   "/",
					   "/run/kata-containers/shared/containers",
					   "/run/kata-containers/shared/containers/",
					   "/run/kata-containers/shared/containers-evil/x",
					   "/run/kata-containers/shared/containersx",
					   "/run/kata-containers/shared/other/x",
					   "/run/kata-containers/shared/containers/../containers/x",
					   "/run/kata-containers/shared/containers/a/../../../etc/"
					   "passwd",
					   "/run/kata-containers/shared/containers/./a",
					   "/run/kata-containers/shared/containers/a/.",
					   "/run/kata-containers/shared/containers/..",
					   "/run/kata-containers/shared/containers//a",
					   "//run/kata-containers/shared/containers/a",
					   "/run/kata-containers/shared/containers/a/",
					   "/run/kata-containers/shared/containers/a\nb",
					   "/run/kata-containers/shared/containers/a\x7f",
					   "/RUN/kata-containers/shared/containers/a" };
	const char *rest, *reason;
	char longpath[SP_PATH_MAX + 2], comp[400];

	for (size_t i = 0; i < N(bad); i++) {
		reason = NULL;
		CHECK(sp_path_beneath(bad[i], SP_SHARED_PREFIX, &rest, &reason) < 0);
		CHECK(reason != NULL);
	}
	CHECK(sp_path_beneath(NULL, SP_SHARED_PREFIX, &rest, &reason) < 0);
	CHECK(sp_path_beneath("/run/kata-containers/shared/containers/../x", SP_SHARED_PREFIX,
			      &rest, &reason) < 0);
	CHECK_STR(reason, "contains a '.' or '..' component");
	CHECK(sp_path_beneath("/run/kata-containers/shared/containers-evil/x", SP_SHARED_PREFIX,
			      &rest, &reason) < 0);
	CHECK_STR(reason, "is outside the allowed prefix");

	CHECK(sp_path_beneath(SP_SHARED_PREFIX "a", SP_SHARED_PREFIX, &rest, &reason) == 0);
	CHECK_STR(rest, "a");
	CHECK(sp_path_beneath(SP_SHARED_PREFIX "cid-1/rootfs/etc/hosts", SP_SHARED_PREFIX, &rest,
			      NULL) == 0);
	CHECK_STR(rest, "cid-1/rootfs/etc/hosts");
	CHECK(sp_path_beneath(SP_SHARED_PREFIX "...", SP_SHARED_PREFIX, &rest, NULL) == 0);
	CHECK(sp_path_beneath(SP_SHARED_PREFIX "..a/.b", SP_SHARED_PREFIX, &rest, NULL) == 0);
	/* Non-ASCII file names are names like any other. */
	CHECK(sp_path_beneath(SP_SHARED_PREFIX "caf\xc3\xa9", SP_SHARED_PREFIX, &rest, NULL) == 0);

	/* An embedded NUL, seen only with the wire length. */
	CHECK(sp_path_beneathn(SP_SHARED_PREFIX "a\0/../x", sizeof(SP_SHARED_PREFIX "a\0/../x") - 1,
			       SP_SHARED_PREFIX, &rest, &reason) < 0);
	CHECK_STR(reason, "contains a NUL byte");

	/* Overlong: a whole path and a single component. */
	memcpy(longpath, SP_SHARED_PREFIX, strlen(SP_SHARED_PREFIX));
	for (size_t i = strlen(SP_SHARED_PREFIX); i < sizeof(longpath) - 1; i++)
		longpath[i] = (i % 100 == 0) ? '/' : 'x';
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK(sp_path_beneath(longpath, SP_SHARED_PREFIX, &rest, &reason) < 0);
	CHECK_STR(reason, "is too long");
	memset(comp, 'c', sizeof(comp));
	memcpy(comp, SP_SHARED_PREFIX, strlen(SP_SHARED_PREFIX));
	comp[sizeof(comp) - 1] = '\0';
	CHECK(sp_path_beneath(comp, SP_SHARED_PREFIX, &rest, &reason) < 0);
	CHECK_STR(reason, "has a component longer than 255 bytes");

	/* Prefixes */
	CHECK(sp_valid_prefix(SP_SHARED_PREFIX));
	CHECK(!sp_valid_prefix("/"));
	CHECK(!sp_valid_prefix("/run/kata-containers/shared/containers"));
	CHECK(!sp_valid_prefix("/run//x/"));
	CHECK(!sp_valid_prefix("/run/../x/"));
	CHECK(!sp_valid_prefix("run/x/"));
	CHECK(!sp_valid_prefix(NULL));
	CHECK(sp_path_beneath(SP_SHARED_PREFIX "a", "/run/../", &rest, &reason) < 0);
}
