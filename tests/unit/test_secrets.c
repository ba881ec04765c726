/* cdh.toml's [sealpod.secrets.<name>] declarations: what a valid one yields, and every malformed
 * one refused (the whole initdata with it). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "unit.h"

#define HEAD                                                                                       \
	"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = '''\n"                 \
	"[token_configs.kbs]\nurl = \"https://10.0.2.100:8080\"\n'''\n\"cdh.toml\" = '''\n"
#define DIGEST_A                                                                                   \
	"sha256:"                                                                                  \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST_B                                                                                   \
	"sha256:"                                                                                  \
	"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static int parse(const char *text, struct sp_initdata *id, struct sp_err *err)
{
	char *doc = strdup(text);

	return sp_initdata_parse(doc, strlen(doc), id, err);
}

TEST(secrets_declarations)
{
	struct sp_initdata id;
	struct sp_err err = { 0 };

	REQUIRE(parse(HEAD
		      "[image]\nmax_concurrent_layer_downloads_per_image = 2\n"
		      "[sealpod.secrets.db-password]\nresource = \"kbs:///default/key/db\"\n"
		      "image = \"" DIGEST_A "\"\npath = \"/run/secrets/db\"\n"
		      "[sealpod.secrets.tls.key]\n" /* a dotted name is a nested table: refused */
		      "resource = \"kbs:///default/key/tls\"\n'''\n",
		      &id, &err) < 0);
	CHECK(strstr(err.msg, "tls") != NULL);
	REQUIRE(parse(HEAD "[sealpod.secrets.db-password]\nresource = \"kbs:///default/key/db\"\n"
			   "image = \"" DIGEST_A "\"\npath = \"/run/secrets/db\"\n"
			   "[sealpod.secrets.\"tls_key\"]\nresource = \"kbs:///default/key/tls\"\n"
			   "image = \"" DIGEST_B "\"\npath = \"/etc/tls/key.pem\"\nmode = "
			   "\"0440\"\n"
			   "'''\n",
		      &id, &err) == 0);
	REQUIRE(id.nsecrets == 2);
	CHECK_STR(id.secrets[0].name, "db-password");
	CHECK_STR(id.secrets[0].resource, "kbs:///default/key/db");
	CHECK_STR(id.secrets[0].image, DIGEST_A);
	CHECK_STR(id.secrets[0].path, "/run/secrets/db");
	CHECK(id.secrets[0].mode == 0400);
	CHECK_STR(id.secrets[1].name, "tls_key");
	CHECK_STR(id.secrets[1].path, "/etc/tls/key.pem");
	CHECK(id.secrets[1].mode == 0440);
	sp_initdata_free(&id);
	/* None declared: none. */
	REQUIRE(parse(HEAD "[image]\n'''\n", &id, &err) == 0);
	CHECK(id.nsecrets == 0);
	sp_initdata_free(&id);
}

TEST(secrets_declarations_rejected)
{
#define OK_RES	 "resource = \"kbs:///default/key/db\"\n"
#define OK_IMG	 "image = \"" DIGEST_A "\"\n"
#define OK_PATH	 "path = \"/run/secrets/db\"\n"
#define ONE(...) HEAD "[sealpod.secrets.s]\n" __VA_ARGS__ "'''\n"
	static const struct {
		const char *doc, *why;
	} bad[] = {
		{ ONE(OK_IMG OK_PATH), "needs resource" },
		{ ONE(OK_RES OK_PATH), "needs resource" },
		{ ONE(OK_RES OK_IMG), "needs resource" },
		{ ONE("resource = \"https://kbs/x\"\n" OK_IMG OK_PATH), "kbs:///" },
		{ ONE("resource = \"kbs:///a/../b\"\n" OK_IMG OK_PATH), "kbs:///" },
		{ ONE(OK_RES "image = \"docker.io/library/app:latest\"\n" OK_PATH), "digest" },
		{ ONE(OK_RES "image = \"sha256:0123\"\n" OK_PATH), "digest" },
		{ ONE(OK_RES "image = \"sha256:"
			     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\""
			     "\n" OK_PATH),
		  "digest" },
		{ ONE(OK_RES OK_IMG "path = \"run/secrets/db\"\n"), "absolute" },
		{ ONE(OK_RES OK_IMG "path = \"/run/../etc/shadow\"\n"), "absolute" },
		{ ONE(OK_RES OK_IMG "path = \"/run/secrets/\"\n"), "absolute" },
		{ ONE(OK_RES OK_IMG "path = \"/\"\n"), "absolute" },
		{ ONE(OK_RES OK_IMG "path = \"/proc/self/attr\"\n"), "/proc" },
		{ ONE(OK_RES OK_IMG "path = \"/dev\"\n"), "/proc" },
		{ ONE(OK_RES OK_IMG OK_PATH "mode = \"0644\"\n"), "mode" },
		{ ONE(OK_RES OK_IMG OK_PATH "mode = \"0040\"\n"), "mode" },
		{ ONE(OK_RES OK_IMG OK_PATH "mode = \"4400\"\n"), "mode" },
		{ ONE(OK_RES OK_IMG OK_PATH "mode = \"04x0\"\n"), "mode" },
		{ ONE(OK_RES OK_IMG OK_PATH "mode = 256\n"), "must be a string" },
		{ ONE(OK_RES OK_IMG OK_PATH "owner = \"root\"\n"), "unknown key" },
		{ ONE(OK_RES OK_IMG OK_PATH "value = \"hunter2\"\n"), "unknown key" },
		{ HEAD "[sealpod]\nsecrets = \"kbs:///default/key/db\"\n'''\n", "one table" },
		{ HEAD "[sealpod.secrets]\ns = \"x\"\n'''\n", "one table" },
		{ HEAD "[sealpod.secrets.\"-bad\"]\n" OK_RES OK_IMG OK_PATH "'''\n", "not valid" },
		{ HEAD "[sealpod.secrets.\"a/b\"]\n" OK_RES OK_IMG OK_PATH "'''\n", "not valid" },
		{ HEAD "[sealpod.secrets.a]\n" OK_RES OK_IMG OK_PATH
		       "[sealpod.secrets.b]\n" OK_RES OK_IMG OK_PATH "'''\n",
		  "same path" },
		/* Secrets with no KBS to fetch them from. */
		{ "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = '''\n"
		  "[sealpod.secrets.s]\n" OK_RES OK_IMG OK_PATH "'''\n",
		  "no KBS" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sp_initdata id;
		struct sp_err err = { 0 };

		if (parse(bad[i].doc, &id, &err) == 0) {
			fprintf(stderr, "    accepted: %s\n", bad[i].doc);
			sp_initdata_free(&id);
			CHECK(0);
		} else if (!strstr(err.msg, bad[i].why)) {
			fprintf(stderr, "    case %zu: '%s' lacks '%s'\n", i, err.msg, bad[i].why);
			CHECK(0);
		}
	}
	/* At most SP_SECRETS_MAX. */
	{
		char *doc = malloc(64 * 1024), *p = doc;
		struct sp_initdata id;
		struct sp_err err = { 0 };

		p += sprintf(p, "%s", HEAD);
		for (int i = 0; i <= SP_SECRETS_MAX; i++)
			p += sprintf(p,
				     "[sealpod.secrets.s%d]\n" OK_RES OK_IMG "path = \"/s/%d\"\n",
				     i, i);
		sprintf(p, "'''\n");
		CHECK(parse(doc, &id, &err) < 0 && strstr(err.msg, "more than"));
		free(doc);
	}
}
