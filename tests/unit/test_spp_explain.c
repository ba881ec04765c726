/* Unit tests of sealpod-policy explain's input (measure/policy/explain.c): placeholders as the
 * fixtures define them, calls decoded into the agent's messages, and the verdict of the guest's
 * gate on them. */
#define _GNU_SOURCE
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../measure/policy/explain.h"
#include "agent.pb-c.h"

static json_object *sub(struct spp_explain *x, const char *json, struct sp_err *err)
{
	json_object *in = json_tokener_parse(json), *out = NULL;

	if (!in)
		return NULL;
	if (spp_explain_substitute(x, in, &out, err) < 0)
		out = NULL;
	json_object_put(in);
	return out;
}

TEST(spp_explain_placeholders_as_the_fixtures_define_them)
{
	struct spp_explain x = { 0 };
	struct sp_err err;
	json_object *out;

	x.defaults = json_tokener_parse("{\"ARGS\": [\"/bin/cat\", \"/etc/hostname\"], "
					"\"MTU\": 1500, \"ID\": \"abc\", \"PCI\": \"02/00\"}");
	x.overrides = json_tokener_parse("{\"ID\": \"xyz\"}");
	REQUIRE(x.defaults && x.overrides);
	out = sub(&x,
		  "{\"a\": [\"${ARGS}\", \"-n\"], \"m\": \"${MTU}\", \"p\": \"/x/${ID}-h\", "
		  "\"u\": \"${b64url:PCI}\"}",
		  &err);
	REQUIRE(out);
	CHECK_STR(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
		  "{\"a\":[\"\\/bin\\/cat\",\"\\/etc\\/hostname\",\"-n\"],\"m\":1500,"
		  "\"p\":\"\\/x\\/xyz-h\",\"u\":\"MDIvMDA=\"}");
	json_object_put(out);
	CHECK(!sub(&x, "[\"${NOPE}\"]", &err));
	CHECK(strstr(err.msg, "${NOPE}") != NULL);
	json_object_put(x.defaults);
	json_object_put(x.overrides);
}

static int write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The verdict of the guest's gate on one call under x. */
static int judge(struct spp_explain *x, const char *call_json, struct sp_verdict *v)
{
	json_object *call = json_tokener_parse(call_json);
	struct sp_gate_env env = { .st = x->st };
	ProtobufCMessage *msg = NULL;
	const char *request;
	struct sp_err err;
	int ret = -1;

	if (call && spp_explain_decode(call, &msg, &request, &err) == 0) {
		ret = sp_agent_policy_judge(x->policy, &env, request, msg, v);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	json_object_put(call);
	return ret;
}

TEST(spp_explain_exec_judged_by_the_guest_gate)
{
	char path[] = "/tmp/spp-policy-XXXXXX";
	struct spp_explain x = { 0 };
	struct sp_verdict v;
	struct sp_err err;

	REQUIRE(write_tmp(path, "{\"version\": 1, \"default\": \"allow\", \"requests\": "
				"{\"ExecProcessRequest\": \"allow\"}, \"allowed_exec\": "
				"[[\"/bin/cat\", \"/etc/hostname\"]]}") == 0);
	REQUIRE(spp_explain_load_policy(path, &x, &err) == 0);
	unlink(path);
	CHECK(x.st.from_initdata && x.st.initdata);
	CHECK(judge(&x,
		    "{\"method\": \"ExecProcess\", \"request\": {\"containerId\": \"c\", "
		    "\"process\": {\"Args\": [\"/bin/cat\", \"/etc/hostname\"], \"Cwd\": \"/\"}}}",
		    &v) == 1);
	CHECK(judge(&x,
		    "{\"method\": \"ExecProcess\", \"request\": {\"containerId\": \"c\", "
		    "\"process\": {\"Args\": [\"/bin/sh\"], \"Cwd\": \"/\"}}}",
		    &v) == 0);
	CHECK(strstr(v.why, "ExecProcessRequest is blocked by policy") != NULL);
	CHECK(strstr(v.why, "allowed_exec") != NULL);
	sp_policy_free(x.policy);
	free(x.text);
}

TEST(spp_explain_decode_refuses_what_is_not_the_agent_api)
{
	json_object *call;
	ProtobufCMessage *msg = NULL;
	const char *request;
	struct sp_err err;

	call = json_tokener_parse("{\"method\": \"LaunchMissiles\", \"request\": {}}");
	CHECK(spp_explain_decode(call, &msg, &request, &err) < 0);
	CHECK(strstr(err.msg, "LaunchMissiles") != NULL);
	json_object_put(call);
	call = json_tokener_parse("{\"method\": \"ExecProcess\", \"request\": {\"nosuch\": 1}}");
	CHECK(spp_explain_decode(call, &msg, &request, &err) < 0);
	CHECK(strstr(err.msg, "nosuch") != NULL);
	json_object_put(call);
	call = json_tokener_parse("{\"method\": \"CopyFile\", \"request\": {\"path\": \"/p\"}, "
				  "\"bytes\": {\"data\": \"abc\"}, \"size_of\": {\"fileSize\": "
				  "\"data\"}}");
	REQUIRE(spp_explain_decode(call, &msg, &request, &err) == 0);
	CHECK_STR(request, "CopyFileRequest");
	CHECK(((Grpc__CopyFileRequest *)(void *)msg)->file_size == 3);
	CHECK(((Grpc__CopyFileRequest *)(void *)msg)->data.len == 3);
	protobuf_c_message_free_unpacked(msg, NULL);
	json_object_put(call);
}
