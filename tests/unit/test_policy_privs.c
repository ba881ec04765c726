/* allowed_images[].process.no_new_privileges and allowed_images[].read_only_root
 * (init/policy/policy.c process_mismatch): a pinned value must equal the request's
 * Process.NoNewPrivileges and Root.Readonly, a value left out pins nothing, and a value that is
 * no boolean refuses the document. */
#include "unit.h"

#include "policy/policy.h"

static struct sp_policy *load(const char *doc, struct sp_err *err)
{
	struct sp_policy *p = NULL;

	if (sp_policy_load(doc, strlen(doc), &p, err) < 0)
		return NULL;
	return p;
}

static bool create_ok(const struct sp_policy *p, bool nnp, bool ro, char *why)
{
	static const struct sp_policy_state st;
	static const char *const args[] = { "/app" };
	struct sp_policy_input in = { .image_ref = "reg.example/app:1",
				      .image_pulled = true,
				      .argv = args,
				      .argc = 1,
				      .no_new_privs = nnp,
				      .root_readonly = ro };
	struct sp_verdict v;
	bool ok = sp_policy_check(p, &st, "CreateContainerRequest", &in, &v);

	(void)snprintf(why, SP_POLICY_WHY_MAX, "%s", v.why);
	return ok;
}

#define DOC(image_keys, process_keys)                                                              \
	"{\"version\":1,\"default\":\"allow\",\"allowed_images\":[{\"reference\":\"reg.example/"   \
	"app:1\"" image_keys ",\"process\":{\"args\":[\"/app\"]" process_keys "}}]}"

TEST(policy_pins_no_new_privileges)
{
	char why[SP_POLICY_WHY_MAX];
	struct sp_err err;
	struct sp_policy *p = load(DOC("", ",\"no_new_privileges\":true"), &err);

	REQUIRE(p);
	CHECK(create_ok(p, true, false, why));
	CHECK(create_ok(p, true, true, why)); /* read_only_root left out: either */
	CHECK(!create_ok(p, false, false, why));
	CHECK_STR(why, "CreateContainerRequest is blocked by policy: no_new_privileges is false, "
		       "the policy pins true for image 'reg.example/app:1'");
	sp_policy_free(p);
	REQUIRE((p = load(DOC("", ",\"no_new_privileges\":false"), &err)));
	CHECK(create_ok(p, false, false, why));
	CHECK(!create_ok(p, true, false, why));
	CHECK(strstr(why, "no_new_privileges is true, the policy pins false") != NULL);
	sp_policy_free(p);
}

TEST(policy_pins_read_only_root)
{
	char why[SP_POLICY_WHY_MAX];
	struct sp_err err;
	struct sp_policy *p = load(DOC(",\"read_only_root\":true", ""), &err);

	REQUIRE(p);
	CHECK(create_ok(p, false, true, why));
	CHECK(create_ok(p, true, true, why)); /* no_new_privileges left out: either */
	CHECK(!create_ok(p, false, false, why));
	CHECK_STR(why, "CreateContainerRequest is blocked by policy: read_only_root is false, the "
		       "policy pins true for image 'reg.example/app:1'");
	sp_policy_free(p);
	REQUIRE((p = load(DOC(",\"read_only_root\":false", ""), &err)));
	CHECK(create_ok(p, false, false, why));
	CHECK(!create_ok(p, false, true, why));
	CHECK(strstr(why, "read_only_root is true, the policy pins false") != NULL);
	sp_policy_free(p);
}

TEST(policy_pins_privs_left_out_and_other_entries)
{
	char why[SP_POLICY_WHY_MAX];
	struct sp_err err;
	struct sp_policy *p = load(DOC("", ""), &err);

	REQUIRE(p);
	for (int i = 0; i < 4; i++)
		CHECK(create_ok(p, i & 1, i & 2, why));
	sp_policy_free(p);
	/* each entry pins its own: a second entry for the same image admits the other value */
	REQUIRE((p = load("{\"version\":1,\"default\":\"allow\",\"allowed_images\":["
			  "{\"reference\":\"reg.example/app:1\",\"read_only_root\":true},"
			  "{\"reference\":\"reg.example/app:1\",\"read_only_root\":false,"
			  "\"process\":{\"no_new_privileges\":true}}]}",
			  &err)));
	CHECK(create_ok(p, false, true, why));
	CHECK(create_ok(p, true, false, why));
	CHECK(!create_ok(p, false, false, why));
	CHECK(strstr(why, "no_new_privileges is false, the policy pins true") != NULL);
	sp_policy_free(p);
}

#define NOT_BOOL ": expected true or false"
#define PROC_NNP "allowed_images[0].process.no_new_privileges"
#define RO_ROOT	 "allowed_images[0].read_only_root"

TEST(policy_pins_privs_malformed_refused)
{
	static const struct {
		const char *doc, *msg;
	} bad[] = {
		{ DOC("", ",\"no_new_privileges\":1"), PROC_NNP NOT_BOOL },
		{ DOC("", ",\"no_new_privileges\":\"true\""), PROC_NNP NOT_BOOL },
		{ DOC("", ",\"no_new_privileges\":null"), PROC_NNP NOT_BOOL },
		{ DOC(",\"read_only_root\":0", ""), RO_ROOT NOT_BOOL },
		{ DOC(",\"read_only_root\":[true]", ""), RO_ROOT NOT_BOOL },
		/* each key in its own place: no misplaced key is ignored */
		{ DOC(",\"no_new_privileges\":true", ""), "[0]: unknown key 'no_new_privileges'" },
		{ DOC("", ",\"read_only_root\":true"), "process: unknown key 'read_only_root'" },
	};
	struct sp_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sp_policy *p = load(bad[i].doc, &err);

		CHECK(!p);
		sp_policy_free(p);
		if (!p && !strstr(err.msg, bad[i].msg))
			fprintf(stderr, "    %zu: %s\n", i, err.msg);
		CHECK(p || strstr(err.msg, bad[i].msg));
	}
}
