/* The image module's parsers of registry bytes (manifest.c, auth.c) and of the field list a pull
 * worker sends to PID 1 (pull.c): what they accept, and every malformed input they refuse. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "image/image_int.h"
#include "image/manifest.h"
#include "image/wire.h"
#include "unit.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static struct sp_manifest m;

static int parse(const char *body, const char *ct, struct sp_err *err)
{
	return sp_manifest_parse(body, strlen(body), ct, &m, err);
}

#define OCI_MAN                                                                                    \
	"{\"schemaVersion\":2,\"mediaType\":\"" SP_MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":" \
	"\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1 "\",\"size\":10},"         \
	"\"layers\":[{\"mediaType\":\"application/"                                                \
	"vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D2 "\",\"size\":20}]}"

TEST(image_manifest_accepts_oci_docker_index)
{
	struct sp_err err;

	REQUIRE(parse(OCI_MAN, SP_MT_OCI_MANIFEST "; charset=utf-8", &err) == 0);
	CHECK(!m.is_index && m.n == 1 && strcmp(m.entries[0].digest, D2) == 0);
	CHECK(sp_layer_compression(m.entries[0].media_type) == SP_COMP_ZSTD);
	CHECK(strcmp(m.config.digest, D1) == 0);
	/* without mediaType in the body: the Content-Type decides */
	CHECK(parse("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.docker."
		    "container.image.v1+json\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
		    SP_MT_DOCKER_V2, &err) == 0);
	REQUIRE(parse("{\"schemaVersion\":2,\"mediaType\":\"" SP_MT_OCI_INDEX "\",\"manifests\":["
		      "{\"mediaType\":\"" SP_MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
		      "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		      "{\"mediaType\":\"" SP_MT_OCI_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":1},"
		      "{\"mediaType\":\"" SP_MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":1,"
		      "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
		      SP_MT_OCI_INDEX, &err) == 0);
	CHECK(m.is_index && m.n == 3);
	CHECK(sp_index_select(&m, "linux", "amd64") == 2);
	CHECK(sp_index_select(&m, "linux", "s390x") == -1);
}

TEST(image_manifest_refusals)
{
	static const struct {
		const char *body, *ct, *why;
	} bad[] = {
		{ OCI_MAN, "application/vnd.docker.distribution.manifest.v1+prettyjws", "schema1" },
		{ "{\"schemaVersion\":1,\"fsLayers\":[]}", SP_MT_DOCKER_V2, "schemaVersion" },
		{ OCI_MAN, SP_MT_OCI_INDEX, "mediaType" }, /* media-type confusion */
		{ OCI_MAN, "application/json", "unexpected" },
		{ OCI_MAN, "", "unexpected" },
		{ "{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}", SP_MT_OCI_INDEX, "both" },
		{ "{\"schemaVersion\":2,\"mediaType\":5}", SP_MT_OCI_MANIFEST, "not a string" },
		{ "{\"schemaVersion\":2}", SP_MT_OCI_MANIFEST, "no layers" },
		{ "[1,2]", SP_MT_OCI_MANIFEST, "not an object" },
		{ "{\"schemaVersion\":2,", SP_MT_OCI_MANIFEST, "malformed" },
		{ "{\"schemaVersion\":2} trailing", SP_MT_OCI_MANIFEST, "malformed" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
		  "vnd.oci.image.config.v1"
		  "+json\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
		  "\"application/"
		  "vnd.oci.image.layer.v1.tar+encrypted\",\"digest\":\"" D2 "\",\"size\":1}]}",
		  SP_MT_OCI_MANIFEST, "has no annotations" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
		  "vnd.oci.image.config.v1"
		  "+json\",\"digest\":\"md5:abc\",\"size\":1},\"layers\":[]}",
		  SP_MT_OCI_MANIFEST, "digest" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"text/plain\",\"digest\":\"" D1
		  "\",\"size\":1},\"layers\":[]}",
		  SP_MT_OCI_MANIFEST, "config media type" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
		  "vnd.oci.image.config.v1"
		  "+json\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
		  SP_MT_OCI_MANIFEST, "size" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sp_err err = { 0 };

		CHECK(parse(bad[i].body, bad[i].ct, &err) < 0);
		if (!strstr(err.msg, bad[i].why)) {
			fprintf(stderr, "    case %zu: '%s' lacks '%s'\n", i, err.msg, bad[i].why);
			CHECK(0);
		}
	}
}

TEST(image_config_parse)
{
	const char *good = "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{"
			   "\"Entrypoint\":"
			   "[\"/bin/sh\",\"-c\"],\"Cmd\":null,\"Env\":[\"PATH=/"
			   "bin\"],\"User\":\"1:2\"},"
			   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
	struct sp_image_config c;
	struct sp_err err;

	REQUIRE(sp_config_parse(good, strlen(good), &c, &err) == 0);
	CHECK(c.n_diff_ids == 2 && c.n_entrypoint == 2 && c.n_cmd == 0 && c.n_env == 1);
	CHECK_STR(c.user, "1:2");
	CHECK_STR(c.workdir, "");
	sp_config_free(&c);
	{
		const char *b = "{\"os\":\"linux\",\"architecture\":\"amd64\"}";

		CHECK(sp_config_parse(b, strlen(b), &c, &err) < 0);
	}
	CHECK(strstr(err.msg, "diff_ids") != NULL);
	{
		const char *b = "{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":{\"diff_"
				"ids\":"
				"[\"sha256:zz\"]}}";

		CHECK(sp_config_parse(b, strlen(b), &c, &err) < 0);
	}
	{
		const char *b = "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Cmd\":["
				"1]},"
				"\"rootfs\":{\"diff_ids\":[]}}";

		CHECK(sp_config_parse(b, strlen(b), &c, &err) < 0);
	}
	{
		const char *b = "{\"os\":\"linux\",\"architecture\":\"amd64\",\"config\":{\"Env\":"
				"[\"A=\\u0000B\"]},\"rootfs\":{\"diff_ids\":[]}}";

		CHECK(sp_config_parse(b, strlen(b), &c, &err) < 0); /* embedded NUL */
	}
}

TEST(image_reference_parse)
{
	struct sp_image_ref r;
	struct sp_err err;

	REQUIRE(sp_image_ref_parse("busybox", &r, &err) == 0);
	CHECK_STR(r.host, "docker.io");
	CHECK_STR(r.api_host, "registry-1.docker.io");
	CHECK_STR(r.repo, "library/busybox");
	CHECK_STR(r.tag, "latest");
	REQUIRE(sp_image_ref_parse("10.0.2.100:5000/a/b-c__d:v1.2@" D1, &r, &err) == 0);
	CHECK_STR(r.host, "10.0.2.100:5000");
	CHECK_STR(r.repo, "a/b-c__d");
	CHECK_STR(r.tag, "v1.2");
	CHECK_STR(r.digest, D1);
	CHECK(sp_image_ref_parse("localhost/x@" D2, &r, &err) == 0 && r.tag[0] == '\0');
	CHECK(sp_image_ref_parse("Registry.example/UPPER:tag", &r, &err) < 0);
	CHECK(sp_image_ref_parse("host:5000/a//b", &r, &err) < 0);
	CHECK(sp_image_ref_parse("host:5000/a/../b", &r, &err) < 0);
	CHECK(sp_image_ref_parse("host:5000/a:bad tag", &r, &err) < 0);
	CHECK(sp_image_ref_parse("host:5000/a@sha256:short", &r, &err) < 0);
	CHECK(sp_image_ref_parse("host:5000/a?x=1", &r, &err) < 0);
	CHECK(sp_image_ref_parse("", &r, &err) < 0);
}

TEST(image_auth_challenge)
{
	struct sp_challenge c;
	struct sp_err err;
	const char *h = "Bearer realm=\"https://auth.example/token\",service=\"reg\","
			"scope=\"repository:a/b:pull,push\", error=\"invalid_token\"";

	REQUIRE(sp_auth_parse_challenge(h, strlen(h), &c, &err) == 0);
	CHECK(c.scheme == SP_AUTH_BEARER);
	CHECK_STR(c.realm, "https://auth.example/token");
	CHECK_STR(c.service, "reg");
	CHECK_STR(c.scope, "repository:a/b:pull,push");
	CHECK(sp_auth_parse_challenge("basic realm=x", 13, &c, &err) == 0 &&
	      c.scheme == SP_AUTH_BASIC);
	CHECK(sp_auth_parse_challenge("Negotiate abc", 13, &c, &err) < 0);
	CHECK(sp_auth_parse_challenge("Bearer realm=\"ftp://x\"", 22, &c, &err) < 0);
	CHECK(sp_auth_parse_challenge("Bearer service=\"x\"", 18, &c, &err) < 0); /* no realm */
	CHECK(sp_auth_parse_challenge("Bearer realm=\"https://x", 23, &c, &err) < 0);
	CHECK(sp_auth_parse_challenge("Bearer realm", 12, &c, &err) < 0);
	CHECK(sp_auth_parse_challenge("Bearer realm=\"https://a b\"", 26, &c, &err) < 0);
}

TEST(image_auth_token_and_auth_json)
{
	char tok[64], user[32], pass[32];
	unsigned exp;
	struct sp_err err;
	const char *j;

	CHECK(sp_auth_parse_token("{\"token\":\"abc\",\"expires_in\":10}", 31, tok, sizeof(tok),
				  &exp, &err) == 0);
	CHECK_STR(tok, "abc");
	CHECK(exp == 60); /* the spec's floor */
	CHECK(sp_auth_parse_token("{\"access_token\":\"xyz\"}", 22, tok, sizeof(tok), &exp, &err) ==
	      0);
	CHECK_STR(tok, "xyz");
	CHECK(sp_auth_parse_token("{\"token\":\"\"}", 12, tok, sizeof(tok), &exp, &err) < 0);
	CHECK(sp_auth_parse_token("{\"token\":\"a b\"}", 15, tok, sizeof(tok), &exp, &err) < 0);
	CHECK(sp_auth_parse_token("{\"token\":\"a\\r\\nX: y\"}", 21, tok, sizeof(tok), &exp, &err) <
	      0);
	CHECK(sp_auth_parse_token("[]", 2, tok, sizeof(tok), &exp, &err) < 0);
	/* the secret never appears in the message */
	CHECK(strstr(err.msg, "a\r\n") == NULL);

	j = "{\"auths\":{\"reg.example:5000\":{\"auth\":\"dTE6cDE=\"},"
	    "\"reg.example:5000/team\":{\"auth\":\"dTI6cDI=\"},"
	    "\"reg.example:5000/te\":{\"auth\":\"dTM6cDM=\"}}}";
	CHECK(sp_auth_json_lookup(j, strlen(j), "reg.example:5000", "team/app", user, sizeof(user),
				  pass, sizeof(pass), &err) == 1);
	CHECK_STR(user, "u2"); /* the longest prefix on a path boundary */
	CHECK_STR(pass, "p2");
	CHECK(sp_auth_json_lookup(j, strlen(j), "reg.example:5000", "other", user, sizeof(user),
				  pass, sizeof(pass), &err) == 1);
	CHECK_STR(user, "u1");
	CHECK(sp_auth_json_lookup(j, strlen(j), "reg.example", "other", user, sizeof(user), pass,
				  sizeof(pass), &err) == 0);
	j = "{\"auths\":{\"r\":{\"auth\":\"!!!\"}}}";
	CHECK(sp_auth_json_lookup(j, strlen(j), "r", "x", user, sizeof(user), pass, sizeof(pass),
				  &err) < 0);
	j = "{\"auths\":{\"r\":{\"auth\":\"bm9jb2xvbg==\"}}}"; /* "nocolon" */
	CHECK(sp_auth_json_lookup(j, strlen(j), "r", "x", user, sizeof(user), pass, sizeof(pass),
				  &err) < 0);
}

/* Frames of a pull worker's result fed to the decoder PID 1 runs: 1 complete, 0 more needed,
 * -1 refused. */
static int decode_result(const uint8_t *buf, size_t len, struct sp_meta *res, struct sp_err *err)
{
	struct sp_frame_rx rx;
	const uint8_t *p;
	uint32_t type, flen;
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (sp_frame_rx_init(&rx, &sp_img_result_out, false, err) < 0)
		return -1;
	if (sp_frame_rx_put(&rx, buf, len) < 0)
		r = -1;
	while (r == 0 && (r = sp_frame_next(&rx, &type, &p, &flen, err)) == 1)
		r = sp_img_take(res, SP_IMG_RESULT, type, p, flen, err);
	sp_frame_rx_free(&rx);
	return r;
}

/* Appends a frame to buf. */
static size_t put(uint8_t *buf, size_t off, uint32_t type, const void *p, uint32_t len)
{
	struct sp_frame_hdr h = { type, len };

	memcpy(buf + off, &h, sizeof(h));
	if (len)
		memcpy(buf + off + sizeof(h), p, len);
	return off + sizeof(h) + len;
}

static size_t good_result(uint8_t *buf, bool ids)
{
	struct sp_img_head h = { .mnt_id = 0x100000042ull };
	uint32_t uidgid[2] = { 1000, 1001 };
	struct sp_err e;
	struct sp_frame_err fe;
	size_t n = 0;

	snprintf(h.digest, sizeof(h.digest), "%s", D1);
	n = put(buf, n, IMG_HEAD, &h, sizeof(h));
	n = put(buf, n, IMG_CMD, "/bin/sh", 7);
	n = put(buf, n, IMG_ENV, "A=1", 3);
	n = put(buf, n, IMG_ENV, "B=2", 3);
	n = put(buf, n, IMG_WORKDIR, "/w", 2);
	n = put(buf, n, IMG_USER, "u", 1);
	if (ids) {
		n = put(buf, n, IMG_IDS, uidgid, sizeof(uidgid));
	} else {
		sp_fail(&e, SP_E_PRECONDITION, 0,
			"the image's user \"u\" is not in its /etc/passwd");
		sp_frame_err_encode(SP_IMG_REF_USER, &e, &fe);
		n = put(buf, n, SP_FRAME_ERR, &fe, sizeof(fe));
	}
	return put(buf, n, IMG_END, NULL, 0);
}

TEST(image_pull_result_frames)
{
	static uint8_t buf[65536];
	struct sp_pull_result out;
	struct sp_img_head h = { 0 };
	struct sp_frame_err fe;
	struct sp_meta res;
	struct sp_err err, fail;
	size_t n;

	n = good_result(buf, true);
	REQUIRE(decode_result(buf, n, &res, &err) == 1 && !res.failed);
	sp_img_result(&res, &out);
	CHECK(strcmp(out.digest, D1) == 0 && out.n_cmd == 1 && out.n_env == 2);
	CHECK(out.mnt_id == 0x100000042ull && out.user_ret == 0 && out.uid == 1000 &&
	      out.gid == 1001);
	CHECK_STR(out.env[1], "B=2");
	CHECK_STR(out.workdir, "/w");
	sp_pull_result_free(&out);
	sp_meta_free(&res);
	/* the user's own error, as the pin will show it */
	n = good_result(buf, false);
	REQUIRE(decode_result(buf, n, &res, &err) == 1 && !res.failed);
	CHECK(res.user_ret == -1 && res.user_err.kind == SP_E_PRECONDITION);
	CHECK(strstr(res.user_err.msg, "is not in its /etc/passwd") != NULL);
	sp_meta_free(&res);
	/* truncated: never complete */
	n = good_result(buf, true);
	CHECK(decode_result(buf, n - 1, &res, &err) == 0);
	sp_meta_free(&res);
	/* an unknown type, a string over its bound, a second head, the end without the ids */
	n = put(buf, 0, 99, NULL, 0);
	CHECK(decode_result(buf, n, &res, &err) < 0);
	sp_meta_free(&res);
	{
		static char big[SP_IMG_STR_MAX + 1];

		memset(big, 'x', sizeof(big));
		n = put(buf, 0, IMG_ENV, big, sizeof(big));
	}
	CHECK(decode_result(buf, n, &res, &err) < 0);
	sp_meta_free(&res);
	snprintf(h.digest, sizeof(h.digest), "%s", D1);
	h.mnt_id = 1;
	n = put(buf, 0, IMG_HEAD, &h, sizeof(h));
	n = put(buf, n, IMG_HEAD, &h, sizeof(h));
	CHECK(decode_result(buf, n, &res, &err) < 0);
	sp_meta_free(&res);
	n = put(buf, 0, IMG_HEAD, &h, sizeof(h));
	n = put(buf, n, IMG_END, NULL, 0);
	CHECK(decode_result(buf, n, &res, &err) < 0);
	sp_meta_free(&res);
	/* a digest that is not sha256, a NUL inside a string */
	snprintf(h.digest, sizeof(h.digest), "sha256:xyz");
	n = put(buf, 0, IMG_HEAD, &h, sizeof(h));
	CHECK(decode_result(buf, n, &res, &err) < 0);
	sp_meta_free(&res);
	n = put(buf, 0, IMG_CMD, "a\0b", 3);
	CHECK(decode_result(buf, n, &res, &err) < 0);
	sp_meta_free(&res);
	/* the pull failed: its message escaped, its kind and stage carried as fields */
	sp_fail(&fail, SP_E_NOT_FOUND, 0, "pull.manifest: x\n\x01");
	fail.stage = SP_STAGE_PULL_MANIFEST;
	sp_frame_err_encode(0, &fail, &fe);
	n = put(buf, 0, SP_FRAME_ERR, &fe, sizeof(fe));
	REQUIRE(decode_result(buf, n, &res, &err) == 1 && res.failed);
	CHECK(strstr(res.err.msg, "pull.manifest: x\\x0a\\x01") != NULL);
	CHECK(res.err.kind == SP_E_NOT_FOUND && res.err.stage == SP_STAGE_PULL_MANIFEST);
	sp_meta_free(&res);
}
