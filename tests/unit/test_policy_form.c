/* SetPolicy's document in its fixed form (init/policy/policy_form.c): what the front-end makes of
 * the host's text, through the internal form, becomes the same policy in PID 1 as the text
 * loaded directly; a document that is no policy arrives as its parser's reason; a form PID 1
 * cannot use is refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "front/request.h"
#include "policy/policy.h"
#include "policyform.pb-c.h"
#include "unit.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
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

/* The whole path: made in the "front-end" under a budget, written in the internal form, checked
 * and rebuilt in "PID 1", loaded. 0 with *p, or -1 with err. */
static int via_form(const char *doc, size_t len, struct sp_policy **p, struct sp_err *err)
{
	struct fe_alloc b;
	ProtobufCMessage *f = NULL, *back = NULL;
	uint8_t *form = NULL;
	size_t flen;
	int r = -1;

	fe_alloc_init(&b, FE_DECODE_MAX);
	if (sp_policy_form_make(doc, len, &b.a, &f, err) < 0)
		return -1;
	if (sp_form_measure(f, SP_FORM_MAX_LEN, NULL, NULL, &flen, err) == 0 &&
	    (form = malloc(flen + 1))) {
		sp_form_write(f, form);
		if (sp_form_decode(&sealpod__policy_form__descriptor, form, flen, &back, err) == 0)
			r = sp_policy_form_load(back, p, err);
	}
	free(back);
	free(form);
	protobuf_c_message_free_unpacked(f, &b.a);
	return r;
}

/* Both policies answer every request name the same, and warn the same. */
static void same_policy(int *unit_failed_, const struct sp_policy *a, const struct sp_policy *b)
{
	static const char *const reqs[] = {
		"CreateContainerRequest", "ExecProcessRequest",	  "CopyFileRequest",
		"ReadStreamRequest",	  "SetPolicyRequest",	  "GetDiagnosticDataRequest",
		"UpdateRoutesRequest",	  "CreateSandboxRequest",
	};
	struct sp_policy_state st = { 0 };
	struct sp_policy_input in = { 0 };

	CHECK_STR(sp_policy_describe(a), sp_policy_describe(b));
	CHECK(sp_policy_nwarnings(a) == sp_policy_nwarnings(b));
	for (size_t i = 0; i < sp_policy_nwarnings(a) && i < sp_policy_nwarnings(b); i++)
		CHECK_STR(sp_policy_warning(a, i), sp_policy_warning(b, i));
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct sp_verdict va, vb;
		bool ra = sp_policy_check(a, &st, reqs[i], &in, &va);
		bool rb = sp_policy_check(b, &st, reqs[i], &in, &vb);

		CHECK(ra == rb);
		CHECK_STR(va.why, vb.why);
	}
}

TEST(policy_form_gives_the_same_policy_as_the_text)
{
	static const char *const files[] = {
		"tests/data/policy/example.json",
		"tests/data/policy/allow-all.rego",
		"tests/data/policy/allow-all-except-exec.rego",
	};
	static const char rego_warns[] = "package agent_policy\n"
					 "default CheckRequest := true\n"
					 "default NoSuchRequest := false\n"
					 "default ExecProcessRequest := true\n";

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *doc = slurp(files[i], &len);
		struct sp_policy *direct = NULL, *formed = NULL;
		struct sp_err err;

		REQUIRE(doc);
		REQUIRE(sp_policy_load(doc, len, &direct, &err) == 0);
		CHECK(via_form(doc, len, &formed, &err) == 0);
		if (formed)
			same_policy(unit_failed_, direct, formed);
		sp_policy_free(direct);
		sp_policy_free(formed);
		free(doc);
	}
	{
		struct sp_policy *direct = NULL, *formed = NULL;
		struct sp_err err;

		REQUIRE(sp_policy_load(rego_warns, strlen(rego_warns), &direct, &err) == 0);
		REQUIRE(via_form(rego_warns, strlen(rego_warns), &formed, &err) == 0);
		CHECK(sp_policy_nwarnings(formed) == 2);
		same_policy(unit_failed_, direct, formed);
		sp_policy_free(direct);
		sp_policy_free(formed);
	}
}

TEST(policy_form_carries_the_parsers_reason)
{
	static const struct {
		const char *doc, *why;
	} bad[] = {
		{ "{\"version\": 1,", "policy.json: truncated document" },
		{ "{\"version\": 1} x", "policy.json: invalid JSON at byte 15" },
		{ "{\"version\": 2}", "version" },
		{ "{\"version\": 1, \"default\": \"allow\", \"x\": \"a\\u0000b\"}", "policy.json: "
										    "a string with "
										    "a NUL byte" },
		{ "package agent_policy\ndefault x { true }\n", "policy.rego line 2" },
		{ "package agent_policy\ndefault ExecProcessRequest := false\n"
		  "default ExecProcessRequest := true\n",
		  "a second default for ExecProcessRequest (first on line 2)" },
		{ "", "no `package agent_policy` line" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sp_policy *p = NULL;
		struct sp_err err = { 0 };

		CHECK(FAILS_AS(via_form(bad[i].doc, strlen(bad[i].doc), &p, &err), err,
			       SP_E_INVALID));
		if (!strstr(err.msg, bad[i].why)) {
			fprintf(stderr, "    case %zu: \"%s\" lacks \"%s\"\n", i, err.msg,
				bad[i].why);
			*unit_failed_ = 1;
		}
		CHECK(p == NULL);
	}
}

TEST(policy_form_too_deep_or_too_many_values)
{
	char deep[128] = "{\"version\": 1, \"default\": \"allow\", \"x\": ";
	size_t n = strlen(deep);
	struct sp_policy *p = NULL;
	struct sp_err err;
	char *many;

	for (int i = 0; i < 13; i++)
		deep[n++] = '[';
	for (int i = 0; i < 13; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	CHECK(FAILS_AS(via_form(deep, n, &p, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "nested deeper than a policy goes") != NULL);
	many = malloc(20 + 2 * 17000);
	REQUIRE(many);
	n = (size_t)sprintf(many, "{\"x\": [0");
	for (int i = 0; i < 17000; i++)
		n += (size_t)sprintf(many + n, ",0");
	n += (size_t)sprintf(many + n, "]}");
	CHECK(FAILS_AS(via_form(many, n, &p, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "more values than a policy holds") != NULL);
	free(many);
}

/* What PID 1 refuses in a form a taken-over front-end could send. */
TEST(policy_form_pid1_refuses_forms_it_cannot_use)
{
	Sealpod__PolicyForm f = SEALPOD__POLICY_FORM__INIT;
	Sealpod__JsonValue root = SEALPOD__JSON_VALUE__INIT, v1 = SEALPOD__JSON_VALUE__INIT;
	Sealpod__JsonValue *items[2] = { &v1, &v1 };
	char *keys[2] = { "version", "version" };
	struct sp_policy *p = NULL;
	struct sp_err err;

	f.format = 1;
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "no document") != NULL);
	f.json = &root;
	root.kind = 6;
	root.keys = keys;
	root.n_keys = 2;
	root.items = items;
	root.n_items = 1;
	v1.kind = 2;
	v1.integer = 1;
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "keys and values differ") != NULL);
	root.n_items = 2;
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "a key twice") != NULL);
	root.kind = 4;
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "items on a scalar") != NULL);
	root.kind = 9;
	root.n_items = root.n_keys = 0;
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	f.format = 7;
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	/* A reason with control bytes is escaped before it reaches a log or the host. */
	f.format = 0;
	f.error = "policy.json: \x1b[2Jcleared";
	CHECK(FAILS_AS(sp_policy_form_load(&f.base, &p, &err), err, SP_E_INVALID));
	CHECK_STR(err.msg, "policy.json: \\x1b[2Jcleared");
	CHECK(p == NULL);
}
