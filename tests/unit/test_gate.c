/* The policy gate (init/agent/gate.c): what each request shows the policy, denials with their
 * reason, and SetPolicy's rules, through the same dispatch path the control port uses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/gate.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "ttpair.h"
#include "attest/attest.h"
#include "attest/attest_int.h"
#include "lib/validate.h"
#include "agent.pb-c.h"
#include "ttrpc.pb-c.h"
#include "agent_call.h"
#include "hooks/hooks.h"
#include "unit.h"

static int code_of(Ttrpc__Response *r)
{
	return r ? (r->status ? r->status->code : 0) : -1;
}

/* Calls method and returns the status code; *msg (if given) gets a copy of the message. */
static int call_code(const char *method, const ProtobufCMessage *m, char *msg, size_t size)
{
	Ttrpc__Response *r = unit_agent_call(method, m);
	int code = code_of(r);

	if (msg && size)
		snprintf(msg, size, "%s", r && r->status ? r->status->message : "");
	if (r)
		ttrpc__response__free_unpacked(r, NULL);
	return code;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static struct sp_verdict last; /* the verdict of the last gate() */

static int gate(const char *request, const ProtobufCMessage *m, char *why, size_t size)
{
	int r = sp_agent_policy_gate(request, m, &last);

	snprintf(why, size, "%s", last.why);
	return r;
}

TEST(gate_default_policy_denials)
{
	Grpc__ExecProcessRequest ep = GRPC__EXEC_PROCESS_REQUEST__INIT;
	Grpc__GetDiagnosticDataRequest dd = GRPC__GET_DIAGNOSTIC_DATA_REQUEST__INIT;
	Grpc__CopyFileRequest cf = GRPC__COPY_FILE_REQUEST__INIT;
	Grpc__CreateSandboxRequest cs = GRPC__CREATE_SANDBOX_REQUEST__INIT;
	char why[SP_POLICY_WHY_MAX], msg[256];

	sp_agent_gate_reset();
	CHECK(gate("ExecProcessRequest", &ep.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "ExecProcessRequest is blocked by policy: the built-in default") == why);
	/* Both shims ask for the termination log at every container stop (POLICY.md). */
	CHECK(gate("GetDiagnosticDataRequest", &dd.base, why, sizeof(why)) == 0);
	cf.path = "/etc/passwd";
	CHECK(gate("CopyFileRequest", &cf.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "CopyFileRequest is blocked by policy: path '/etc/passwd'") == why);
	cf.path = SP_SHARED_PREFIX "../../../etc/passwd";
	CHECK(gate("CopyFileRequest", &cf.base, why, sizeof(why)) < 0);
	cf.path = SP_SHARED_PREFIX "abc-0123-hosts";
	CHECK(gate("CopyFileRequest", &cf.base, why, sizeof(why)) == 0);
	CHECK(gate("CreateSandboxRequest", &cs.base, why, sizeof(why)) == 0);
	CHECK(gate("SetGuestDateTimeRequest", &cs.base, why, sizeof(why)) < 0);

	/* Through the dispatcher: PERMISSION_DENIED with the same reason. */
	CHECK(call_code("ExecProcess", &ep.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK_STR(msg, "ExecProcessRequest is blocked by policy: the built-in default policy "
		       "denies ExecProcessRequest");
	cf.path = "/etc/passwd";
	CHECK(call_code("CopyFile", &cf.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "CopyFileRequest is blocked by policy") == msg);
	/* Host text in the reason is escaped. */
	cf.path = "/etc/\x1b[31mred";
	CHECK(call_code("CopyFile", &cf.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK(!strchr(msg, '\x1b') && strstr(msg, "\\x1b"));
	sp_agent_gate_reset();
}

/* A CreateContainerRequest for image ref (as the guest-pull Storage source) running argv. */
struct cc {
	Grpc__CreateContainerRequest req;
	Grpc__Storage st, *stp[1];
	Grpc__Spec spec;
	Grpc__Process proc;
	Grpc__User user;
	Grpc__LinuxCapabilities caps;
};

static void cc_init(struct cc *c, const char *ref, char **argv, size_t argc, char **env,
		    size_t envc)
{
	static const Grpc__CreateContainerRequest r = GRPC__CREATE_CONTAINER_REQUEST__INIT;
	static const Grpc__Storage s = GRPC__STORAGE__INIT;
	static const Grpc__Spec sp = GRPC__SPEC__INIT;
	static const Grpc__Process p = GRPC__PROCESS__INIT;
	static const Grpc__User u = GRPC__USER__INIT;
	static const Grpc__LinuxCapabilities lc = GRPC__LINUX_CAPABILITIES__INIT;

	c->req = r;
	c->st = s;
	c->spec = sp;
	c->proc = p;
	c->user = u;
	c->caps = lc;
	c->st.driver = "image_guest_pull";
	c->st.source = (char *)ref;
	c->stp[0] = &c->st;
	c->req.n_storages = 1;
	c->req.storages = c->stp;
	c->req.container_id = "web";
	c->req.oci = &c->spec;
	c->spec.process = &c->proc;
	c->proc.args = argv;
	c->proc.n_args = argc;
	c->proc.env = env;
	c->proc.n_env = envc;
	c->proc.cwd = "/srv";
	c->proc.user = &c->user;
	c->user.uid = 1000;
	c->user.gid = 1000;
	c->proc.capabilities = &c->caps;
}

#define BUSYBOX                                                                                    \
	"docker.io/library/busybox@sha256:"                                                        \
	"1111111111111111111111111111111111111111111111111111111111111111"

TEST(gate_json_policy_constrains_images_and_exec)
{
	static char *web_args[] = { "/usr/bin/web", "--port", "8080" };
	static char *bad_args[] = { "/bin/sh", "-c", "id" };
	static char *env[] = { "PATH=/usr/bin:/bin", "HOSTNAME=web-1", "LOG_LEVEL=info" };
	static char *admin[] = { "CAP_SYS_ADMIN" };
	static char *health[] = { "/usr/bin/web", "--healthcheck" };
	static char *shell[] = { "/bin/sh" };
	const char *ref = "registry.example.com/shop/web:1.4";
	const char *good = "sha256:"
			   "5f1c2b8e0d7a4c3b9e6f1a2d8c7b4e3f0a9d6c5b2e1f8a7d4c3b0e9f6a5d2c1b";
	Grpc__ExecProcessRequest ep = GRPC__EXEC_PROCESS_REQUEST__INIT;
	Grpc__Process eproc = GRPC__PROCESS__INIT;
	struct sp_policy *p = NULL;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];
	struct cc c;
	size_t len;
	char *doc = slurp("tests/data/policy/example.json", &len);

	REQUIRE(doc);
	sp_agent_gate_reset();
	REQUIRE(sp_policy_load(doc, len, &p, &err) == 0);
	free(doc);
	sp_agent_install_policy(p, false, false);

	cc_init(&c, ref, web_args, 3, env, 3);
	/* require_attestation: nothing runs before the guest attested. */
	sp_attest_test_state(SP_ATTESTATION_OFF);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "require_attestation") != NULL);
	sp_attest_test_state(SP_ATTESTATION_DONE);

	/* The pinned process on a tag: allowed on the obligation that the digest the pull
	 * resolves is one allowed_images pins (the preparation's digest step checks it). */
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	CHECK(sp_agent_container_accepted());
	CHECK(last.allow && last.needs == SP_NEED_DIGEST);
	CHECK(sp_policy_digest_allowed(&last, good));
	CHECK(!sp_policy_digest_allowed(&last, "sha256:00"));
	CHECK(!sp_policy_digest_allowed(&last, NULL));
	/* The capabilities the policy consents to travel with the verdict. */
	CHECK(last.consented_caps == (1ULL << 12)); /* CAP_NET_ADMIN */

	/* Another image, or the same with another process, or an extra capability: denied. (A
	 * tag passes provisionally: the example's digest-only entry may match once resolved.) */
	c.st.source = BUSYBOX;
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "is not in allowed_images") != NULL);
	cc_init(&c, ref, bad_args, 3, env, 3);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	CHECK(last.needs == SP_NEED_DIGEST && !sp_policy_digest_allowed(&last, good));
	cc_init(&c, ref, web_args, 3, env, 3);
	c.caps.permitted = admin;
	c.caps.n_permitted = 1;
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "CAP_SYS_ADMIN") != NULL);
	/* The sandbox's built-in pause (a guest pull of "pause") always passes. */
	cc_init(&c, "pause", NULL, 0, NULL, 0);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	CHECK(last.needs == 0);
	/* Without a guest pull the CRI annotation names the image: only the host's word, so
	 * with allowed_images set it is refused, whatever it says (also "pause"). */
	{
		Grpc__Spec__AnnotationsEntry a = GRPC__SPEC__ANNOTATIONS_ENTRY__INIT, *ap = &a;
		static const char *const names[] = { BUSYBOX, "registry.example.com/shop/web:1.4",
						     "pause" };

		for (size_t i = 0; i < 3; i++) {
			cc_init(&c, ref, web_args, 3, env, 3);
			c.req.n_storages = 0;
			a.key = "io.kubernetes.cri.image-name";
			a.value = (char *)names[i];
			c.spec.annotations = &ap;
			c.spec.n_annotations = 1;
			CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
			CHECK(strstr(why, "is not pulled in the guest") != NULL);
		}
	}
	/* Two guest-pull storages are ambiguous. */
	{
		Grpc__Storage *two[2];

		cc_init(&c, ref, web_args, 3, env, 3);
		two[0] = two[1] = &c.st;
		c.req.storages = two;
		c.req.n_storages = 2;
		CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
		CHECK(strstr(why, "more than one") != NULL);
	}

	/* allowed_exec */
	ep.process = &eproc;
	eproc.args = health;
	eproc.n_args = 2;
	CHECK(gate("ExecProcessRequest", &ep.base, why, sizeof(why)) == 0);
	eproc.args = shell;
	eproc.n_args = 1;
	CHECK(gate("ExecProcessRequest", &ep.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "allowed_exec") != NULL);
	sp_attest_test_state(SP_ATTESTATION_OFF);
	sp_agent_gate_reset();
}

static int set_policy(const char *doc, char *msg, size_t size)
{
	Grpc__SetPolicyRequest sp = GRPC__SET_POLICY_REQUEST__INIT;

	sp.policy = (char *)doc;
	return call_code("SetPolicy", &sp.base, msg, size);
}

TEST(gate_set_policy_rules)
{
	Grpc__ExecProcessRequest ep = GRPC__EXEC_PROCESS_REQUEST__INIT;
	Grpc__CreateContainerRequest cc = GRPC__CREATE_CONTAINER_REQUEST__INIT;
	char msg[256], why[SP_POLICY_WHY_MAX];
	size_t len;
	char *doc = slurp("tests/data/policy/allow-all-except-exec.rego", &len);
	char *genpolicy = slurp("tests/data/policy/genpolicy-style.rego", &len);

	REQUIRE(doc && genpolicy);
	/* Allowed by the built-in default before any container or attestation. */
	sp_agent_gate_reset();
	CHECK(set_policy(doc, msg, sizeof(msg)) == TT_OK);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_REGO);
	CHECK(call_code("ExecProcess", &ep.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK_STR(msg, "ExecProcessRequest is blocked by policy: rule 'ExecProcessRequest' = "
		       "false");

	/* Bad documents are refused and the policy in force stays. */
	sp_agent_gate_reset();
	CHECK(set_policy("not a policy", msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(strstr(msg, "SetPolicy: ") == msg);
	CHECK(set_policy(genpolicy, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(set_policy("{\"version\": 1}", msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_BUILTIN);

	/* A policy that does not allow SetPolicyRequest cannot be replaced. */
	CHECK(set_policy("package agent_policy\ndefault CreateSandboxRequest := true\n", msg,
			 sizeof(msg)) == TT_OK);
	CHECK(set_policy(doc, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "SetPolicyRequest is blocked by policy") == msg);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_REGO);

	/* Refused after the first container... */
	sp_agent_gate_reset();
	CHECK(gate("CreateContainerRequest", &cc.base, why, sizeof(why)) == 0);
	CHECK(set_policy(doc, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "a container has already been created") != NULL);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_BUILTIN);
	/* ... and after attestation. */
	sp_agent_gate_reset();
	sp_attest_test_state(SP_ATTESTATION_DONE);
	CHECK(set_policy(doc, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "attestation has happened") != NULL);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_BUILTIN);
	sp_attest_test_state(SP_ATTESTATION_OFF);
	sp_agent_gate_reset();
	free(doc);
	free(genpolicy);
}

/* allowed_sysctls from a SetPolicy document reaches the CreateContainer of the sandbox's pause
 * (containerd's defaults ride on its spec; its net.* keys are pod-wide): a key the policy leaves
 * out is refused by name as PERMISSION_DENIED, before any handler runs. */
TEST(gate_json_policy_gates_sysctls)
{
	Grpc__Linux__SysctlEntry port = GRPC__LINUX__SYSCTL_ENTRY__INIT;
	Grpc__Linux__SysctlEntry ping = GRPC__LINUX__SYSCTL_ENTRY__INIT;
	Grpc__Linux__SysctlEntry *ents[] = { &port, &ping };
	Grpc__Linux lin = GRPC__LINUX__INIT;
	char msg[256], why[SP_POLICY_WHY_MAX];
	struct cc c;

	port.key = "net.ipv4.ip_unprivileged_port_start";
	port.value = "0";
	ping.key = "net.ipv4.ping_group_range";
	ping.value = "0 2147483647";
	lin.sysctl = ents;
	lin.n_sysctl = 2;
	cc_init(&c, "pause", NULL, 0, NULL, 0);
	c.spec.linux_ = &lin;
	sp_agent_gate_reset();
	CHECK(set_policy("{\"version\":1,\"default\":\"allow\",\"allowed_sysctls\":["
			 "{\"key\":\"net.ipv4.ping_group_range\"}]}",
			 msg, sizeof(msg)) == TT_OK);
	CHECK(call_code("CreateContainer", &c.req.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK_STR(msg, "CreateContainerRequest is blocked by policy: sysctl "
		       "'net.ipv4.ip_unprivileged_port_start' is not in allowed_sysctls");
	CHECK(!sp_agent_container_accepted());
	lin.sysctl = &ents[1];
	lin.n_sysctl = 1;
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	sp_agent_gate_reset();
}

/* The spec's Process.NoNewPrivileges and Root.Readonly reach the policy's pins: a create that
 * turns either off where the policy pins it on is refused naming the field. */
TEST(gate_json_policy_pins_nnp_and_read_only_root)
{
	static char *args[] = { "/bin/sh" };
	Grpc__Root root = GRPC__ROOT__INIT;
	char msg[256], why[SP_POLICY_WHY_MAX];
	struct cc c;

	cc_init(&c, BUSYBOX, args, 1, NULL, 0);
	c.spec.root = &root;
	sp_agent_gate_reset();
	CHECK(set_policy("{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{"
			 "\"reference\":\"" BUSYBOX "\",\"read_only_root\":true,"
			 "\"process\":{\"no_new_privileges\":true}}]}",
			 msg, sizeof(msg)) == TT_OK);
	root.readonly = true;
	CHECK(call_code("CreateContainer", &c.req.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "CreateContainerRequest is blocked by policy: no_new_privileges is "
			  "false, the policy pins true") == msg);
	c.proc.nonewprivileges = true;
	root.readonly = false;
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "read_only_root is false, the policy pins true") != NULL);
	root.readonly = true;
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	sp_agent_gate_reset();
}

/* A policy that came from verified initdata is never replaced, even one that allows SetPolicy and
 * before the (lazy) attestation: the KBS would attest an initdata that no longer describes the
 * running policy. */
TEST(gate_set_policy_refused_over_initdata_policy)
{
	struct sp_policy *p = NULL;
	struct sp_err err;
	char msg[256];
	size_t len;
	char *doc = slurp("tests/data/policy/allow-all-except-exec.rego", &len);

	REQUIRE(doc);
	sp_agent_gate_reset();
	sp_attest_test_state(SP_ATTESTATION_PENDING);
	REQUIRE(sp_policy_load(doc, len, &p, &err) == 0);
	sp_agent_install_policy(p, true, true);
	CHECK(set_policy("{\"version\": 1, \"default\": \"allow\"}", msg, sizeof(msg)) ==
	      TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "SetPolicyRequest is blocked by policy: the policy in force came from "
			  "verified initdata") == msg);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_REGO);
	/* Initdata without a policy of its own (the built-in default in force): still refused,
	 * the KBS attests that initdata as describing this guest. */
	REQUIRE(sp_policy_load(doc, len, &p, &err) == 0);
	sp_agent_install_policy(p, false, true);
	sp_attest_test_state(SP_ATTESTATION_OFF);
	CHECK(set_policy("{\"version\": 1, \"default\": \"allow\"}", msg, sizeof(msg)) ==
	      TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "verified initdata is present") != NULL);
	/* No initdata, but attestation configured (the command line's KBS): refused too, before
	 * it ran and after it failed. */
	REQUIRE(sp_policy_load(doc, len, &p, &err) == 0);
	sp_agent_install_policy(p, false, false);
	sp_attest_test_state(SP_ATTESTATION_PENDING);
	CHECK(set_policy("{\"version\": 1, \"default\": \"allow\"}", msg, sizeof(msg)) ==
	      TT_PERMISSION_DENIED);
	CHECK(strstr(msg, "attestation is configured") != NULL);
	sp_attest_test_state(SP_ATTESTATION_FAILED);
	CHECK(set_policy("{\"version\": 1, \"default\": \"allow\"}", msg, sizeof(msg)) ==
	      TT_PERMISSION_DENIED);
	/* No initdata, no attestation: the current policy decides. */
	sp_attest_test_state(SP_ATTESTATION_OFF);
	CHECK(set_policy("{\"version\": 1, \"default\": \"allow\"}", msg, sizeof(msg)) == TT_OK);
	CHECK(sp_policy_source(sp_agent_policy()) == SP_POLICY_JSON);
	sp_agent_gate_reset();
	free(doc);
}

/* require_attestation with attestation configured but not run yet (Kata's flow: it starts with
 * the first CreateContainer): the gate lets CreateContainer through on the obligation that the
 * attestation succeeds first (the preparation's attest step); with no attestation configured,
 * or a failed one, it refuses. */
TEST(gate_require_attestation_is_an_obligation)
{
	static char *web_args[] = { "/usr/bin/web", "--port", "8080" };
	static char *env[] = { "PATH=/usr/bin:/bin", "HOSTNAME=web-1", "LOG_LEVEL=info" };
	struct sp_policy *p = NULL;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];
	struct cc c;
	size_t len;
	char *doc = slurp("tests/data/policy/example.json", &len);

	REQUIRE(doc);
	sp_agent_gate_reset();
	REQUIRE(sp_policy_load(doc, len, &p, &err) == 0);
	free(doc);
	sp_agent_install_policy(p, false, false);
	cc_init(&c, "registry.example.com/shop/web:1.4", web_args, 3, env, 3);

	sp_attest_test_state(SP_ATTESTATION_OFF);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "require_attestation") != NULL);
	CHECK(!sp_agent_container_accepted());
	sp_attest_test_state(SP_ATTESTATION_FAILED);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);

	sp_attest_test_state(SP_ATTESTATION_PENDING);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	CHECK(last.needs == (SP_NEED_ATTESTATION | SP_NEED_DIGEST));
	sp_attest_test_state(SP_ATTESTATION_DONE);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	CHECK(last.needs == SP_NEED_DIGEST);

	sp_attest_test_state(SP_ATTESTATION_OFF);
	sp_agent_gate_reset();
}

/* require_encrypted_storage under Kata: the pause container (built in, writes nothing) passes,
 * a CreateContainer that brings the trusted store (/dev/trusted_store) passes on the
 * obligation that the pod storage is encrypted by its creation; any other is refused at once.
 * An annotation saying "pause" is not the built-in pause. */
TEST(gate_require_encrypted_storage_is_an_obligation)
{
	static const char doc[] = "{\"version\": 1, \"default\": \"allow\", "
				  "\"require_encrypted_storage\": true}";
	static char *args[] = { "/bin/true" };
	struct sp_policy *p = NULL;
	struct sp_err err;
	char why[SP_POLICY_WHY_MAX];
	struct cc c, pause;
	Grpc__Device dev = GRPC__DEVICE__INIT, *devp[1] = { &dev };
	Grpc__Spec__AnnotationsEntry a = GRPC__SPEC__ANNOTATIONS_ENTRY__INIT, *ap = &a;

	sp_agent_gate_reset();
	REQUIRE(sp_policy_load(doc, sizeof(doc) - 1, &p, &err) == 0);
	sp_agent_install_policy(p, false, false);
	CHECK(sp_policy_requires_encrypted_storage(sp_agent_policy()));

	cc_init(&c, "registry.example.com/shop/web:1.4", args, 1, NULL, 0);
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "require_encrypted_storage") != NULL);

	cc_init(&pause, "pause", args, 1, NULL, 0);
	CHECK(gate("CreateContainerRequest", &pause.req.base, why, sizeof(why)) == 0);
	CHECK(last.needs == 0);
	pause.req.n_storages = 0;
	a.key = "io.kubernetes.cri.image-name";
	a.value = "pause";
	pause.spec.annotations = &ap;
	pause.spec.n_annotations = 1;
	CHECK(gate("CreateContainerRequest", &pause.req.base, why, sizeof(why)) < 0);
	CHECK(strstr(why, "require_encrypted_storage") != NULL);

	dev.container_path = "/dev/trusted_store";
	dev.id = "02/00";
	c.req.devices = devp;
	c.req.n_devices = 1;
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) == 0);
	CHECK(last.needs == SP_NEED_ENCRYPTED_STORAGE);
	dev.container_path = "/dev/vdb";
	CHECK(gate("CreateContainerRequest", &c.req.base, why, sizeof(why)) < 0);
	sp_agent_gate_reset();
}
