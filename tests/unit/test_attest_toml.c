/* init/attest/toml.c: arrays of tables ([[name]] and arrays of inline tables) and inline tables,
 * the shapes CoCo's cdh.toml and containers-registries.conf use. The scalar reader is tested in
 * test_attest.c. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/toml.h"
#include "unit.h"

static int parse_ok(const char *s, struct sp_toml *d)
{
	struct sp_err err;
	int r = sp_toml_parse(s, strlen(s), d, &err);

	if (r < 0)
		fprintf(stderr, "    toml: %s\n", err.msg);
	return r;
}

static bool rejects(const char *s, const char *why)
{
	struct sp_toml d;
	struct sp_err err;

	if (sp_toml_parse(s, strlen(s), &d, &err) == 0) {
		sp_toml_free(&d);
		fprintf(stderr, "    accepted: %s", s);
		return false;
	}
	if (why && !strstr(err.msg, why)) {
		fprintf(stderr, "    '%s' refused with '%s', not '%s'\n", s, err.msg, why);
		return false;
	}
	return true;
}

static const char *str_at(const struct sp_toml *d, const char *const *segs)
{
	const struct sp_toml_ent *e = sp_toml_get(d, segs);

	return e && e->type == SP_TOML_STRING ? e->str : NULL;
}

/* The shape of CoCo's example cdh.toml (our own text): [[credentials]], an [image] table with a
 * registries.conf nested under it as tables of arrays of tables, a proxy table. */
static const char CDH_SHAPE[] = "socket = \"unix:///run/cdh.sock\"\n"
				"[kbc]\n"
				"name = \"cc_kbc\"\n"
				"url = \"http://kbs.test:8080\"\n"
				"\n"
				"[[credentials]]\n"
				"path = \"/run/cdh/kbs/one\"\n"
				"resource_uri = \"kbs:///default/one/a\"\n"
				"\n"
				"[[credentials]] # the second\n"
				"path = \"/run/cdh/kbs/two\"\n"
				"resource_uri = \"kbs:///default/two/b\"\n"
				"\n"
				"[image]\n"
				"max_concurrent_layer_downloads_per_image = 2\n"
				"[image.registry_config]\n"
				"unqualified-search-registries = [\"r1.test\", \"r2.test\"]\n"
				"[[image.registry_config.registry]]\n"
				"prefix = \"r1.test/banned\"\n"
				"blocked = true\n"
				"[[image.registry_config.registry]]\n"
				"prefix = \"r1.test/foo\"\n"
				"location = \"inner.test/bar\"\n"
				"[[image.registry_config.registry.mirror]]\n"
				"location = \"m0.test/foo\"\n"
				"[[image.registry_config.registry.mirror]]\n"
				"location = \"m1.test/foo\"\n"
				"insecure = true\n"
				"[[image.registry_config.registry]]\n"
				"location = \"r2.test\"\n"
				"[[image.registry_config.registry.mirror]]\n"
				"location = \"m2.test\"\n"
				"[image.image_pull_proxy]\n"
				"https_proxy = \"http://127.0.0.1:3128\"\n"
				"no_proxy = \"localhost\"\n";

TEST(attest_toml_arrays_of_tables)
{
	struct sp_toml d;
	const struct sp_toml_ent *e;
	char e0[SP_TOML_ELEM_MAX], e1[SP_TOML_ELEM_MAX], e2[SP_TOML_ELEM_MAX];

	sp_toml_elem(e0, 0), sp_toml_elem(e1, 1), sp_toml_elem(e2, 2);
	REQUIRE(parse_ok(CDH_SHAPE, &d) == 0);
	e = sp_toml_get(&d, (const char *[]){ "credentials", NULL });
	REQUIRE(e && e->type == SP_TOML_TABLES && e->narr == 2);
	CHECK_STR(str_at(&d, (const char *[]){ "credentials", e0, "path", NULL }), "/run/cdh/kbs/"
										   "one");
	CHECK_STR(str_at(&d, (const char *[]){ "credentials", e1, "resource_uri", NULL }), "kbs:///"
											   "default"
											   "/two/"
											   "b");
	e = sp_toml_get(&d, (const char *[]){ "credentials", e1, NULL });
	CHECK(e && e->type == SP_TOML_TABLE);
	CHECK(sp_toml_get(&d, (const char *[]){ "credentials", e2, NULL }) == NULL);

	e = sp_toml_get(&d, (const char *[]){ "image", "registry_config", "registry", NULL });
	REQUIRE(e && e->type == SP_TOML_TABLES && e->narr == 3);
	CHECK(sp_toml_get(&d, (const char *[]){ "image", "registry_config", "registry", e0,
						"blocked", NULL })
		      ->b);
	/* A nested [[...]] belongs to the last element of every array above it. */
	e = sp_toml_get(&d, (const char *[]){ "image", "registry_config", "registry", e1, "mirror",
					      NULL });
	REQUIRE(e && e->type == SP_TOML_TABLES && e->narr == 2);
	CHECK_STR(str_at(&d, (const char *[]){ "image", "registry_config", "registry", e1, "mirror",
					       e1, "location", NULL }),
		  "m1.test/foo");
	CHECK_STR(str_at(&d, (const char *[]){ "image", "registry_config", "registry", e2, "mirror",
					       e0, "location", NULL }),
		  "m2.test");
	CHECK(sp_toml_get(&d, (const char *[]){ "image", "registry_config", "registry", e0,
						"mirror", NULL }) == NULL);
	CHECK_STR(str_at(&d, (const char *[]){ "image", "image_pull_proxy", "https_proxy", NULL }),
		  "http://127.0.0.1:3128");
	sp_toml_free(&d);
}

TEST(attest_toml_inline_tables)
{
	struct sp_toml d;
	const struct sp_toml_ent *e;
	char e0[SP_TOML_ELEM_MAX], e1[SP_TOML_ELEM_MAX];
	const char *doc = "point = { x = 1, y = -2, name = \"p\" }\n"
			  "empty = {}\n"
			  "nest = { a = { b = { c = true } }, d.e = \"dotted\" }\n"
			  "[[registry]]\n"
			  "location = \"r.test\"\n"
			  "mirror = [ { location = \"m0.test\" }, # first\n"
			  "  { location = \"m1.test\", insecure = true },\n"
			  "]\n"
			  "[t]\n"
			  "list = [ { k = [\"a\", \"b\"] } ]\n";

	sp_toml_elem(e0, 0), sp_toml_elem(e1, 1);
	REQUIRE(parse_ok(doc, &d) == 0);
	e = sp_toml_get(&d, (const char *[]){ "point", NULL });
	CHECK(e && e->type == SP_TOML_TABLE);
	CHECK(sp_toml_get(&d, (const char *[]){ "point", "y", NULL })->i == -2);
	CHECK_STR(str_at(&d, (const char *[]){ "point", "name", NULL }), "p");
	e = sp_toml_get(&d, (const char *[]){ "empty", NULL });
	CHECK(e && e->type == SP_TOML_TABLE);
	CHECK(sp_toml_get(&d, (const char *[]){ "nest", "a", "b", "c", NULL })->b);
	CHECK_STR(str_at(&d, (const char *[]){ "nest", "d", "e", NULL }), "dotted");
	e = sp_toml_get(&d, (const char *[]){ "registry", e0, "mirror", NULL });
	REQUIRE(e && e->type == SP_TOML_TABLES && e->narr == 2);
	CHECK_STR(str_at(&d, (const char *[]){ "registry", e0, "mirror", e0, "location", NULL }),
		  "m0.test");
	CHECK(sp_toml_get(&d, (const char *[]){ "registry", e0, "mirror", e1, "insecure", NULL })
		      ->b);
	e = sp_toml_get(&d, (const char *[]){ "t", "list", e0, "k", NULL });
	CHECK(e && e->type == SP_TOML_ARRAY && e->narr == 2);
	sp_toml_free(&d);
}

TEST(attest_toml_tables_reject)
{
	static const struct {
		const char *doc, *why;
	} bad[] = {
		/* inline tables are closed once written */
		{ "a = { x = 1 }\n[a]\n", "defined twice" },
		{ "a = { x = 1 }\n[a.b]\n", "inline" },
		{ "a = { x = 1 }\na.y = 2\n", "inline" },
		{ "a = { x = 1, x = 2 }\n", "defined twice" },
		{ "a = { x = 1, }\n", "expected a key" },
		{ "a = { x = 1\n", "inline table" },
		{ "a = { x = 1\n}\n", "inline table" },
		{ "a = { x }\n", "expected =" },
		{ "a = { x = 1 } y = 2\n", "end of the line" },
		/* arrays of tables */
		{ "[a]\n[[a]]\n", "twice" },
		{ "[[a]]\n[a]\n", "twice" },
		{ "a = 1\n[[a]]\n", "twice" },
		{ "a = [\"s\"]\n[[a]]\n", "twice" },
		{ "a = [ { x = 1 } ]\n[[a]]\n", "inline" },
		{ "a = [ { x = 1 } ]\n[a.b]\n", "inline" },
		{ "a = [ { x = 1 }, \"s\" ]\n", "one kind" },
		{ "a = [ \"s\", { x = 1 } ]\n", "one kind" },
		/* an element's segment cannot be spelt by a key */
		{ "\"\\u001e0\" = 1\n", "invalid key" },
		{ "a = [ { x = 1 } { y = 2 } ]\n", "expected , or ]" },
		{ "[[a]\n", "]]" },
		{ "[[a]] x = 1\n", "end of the line" },
		{ "[[a]]\nb = 1\n[[a.b]]\n", "twice" },
		{ "[[ ]]\n", "key" },
		/* nesting is bounded */
		{ "a = {b={c={d={e={f={g={h={i={j={k={l={m={n={o={p={q={r=1}}}}}}}}}}}}}}}}}\n",
		  "deep" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(rejects(bad[i].doc, bad[i].why));
}

TEST(attest_toml_tables_bounded)
{
	/* Elements count toward the entry limit: many [[aN]] stop at it instead of growing. */
	size_t n = (size_t)(SP_TOML_MAX_ENTRIES + 2) * 12;
	char *s = malloc(n), *p = s;

	REQUIRE(s);
	for (int i = 0; i < SP_TOML_MAX_ENTRIES + 1; i++)
		p += sprintf(p, "[[a%d]]\n", i / 200);
	CHECK(rejects(s, "too many"));
	p = s;
	p += sprintf(p, "a = [");
	for (int i = 0; i < SP_TOML_MAX_ARRAY + 1; i++)
		p += sprintf(p, "{},");
	sprintf(p, "]\n");
	CHECK(rejects(s, "too long"));
	free(s);
}
