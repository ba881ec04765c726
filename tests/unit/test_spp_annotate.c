/* Unit tests of sealpod-policy's annotation (measure/policy/annotate.c): the encoding is what the
 * guest's own initdata reader inflates, and the YAML edit touches only the annotation's lines. */
#define _GNU_SOURCE
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

#include "../../measure/policy/spp.h"
#include "attest/attest_int.h"

static const char initdata[] = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n";

/* The standard base64 alphabet, padding included; -1 on anything else. */
static int b64_value(char c)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
				  "/";
	const char *p = c ? strchr(tab, c) : NULL;

	return p ? (int)(p - tab) : -1;
}

static size_t b64_decode(const char *s, uint8_t *out)
{
	size_t n = 0, len = strlen(s);

	for (size_t i = 0; i + 3 < len; i += 4) {
		int v[4];

		for (int k = 0; k < 4; k++)
			v[k] = s[i + k] == '=' ? 0 : b64_value(s[i + k]);
		out[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (s[i + 2] != '=')
			out[n++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (s[i + 3] != '=')
			out[n++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	return n;
}

TEST(spp_annotation_is_what_the_guest_inflates)
{
	struct sp_err err;
	char *value = NULL, *toml = NULL;
	uint8_t disk[4096];
	size_t n, toml_len;

	REQUIRE(spp_annotation_encode(initdata, strlen(initdata), &value, &err) == 0);
	for (const char *p = value; *p; p++)
		CHECK(b64_value(*p) >= 0 || *p == '=');
	CHECK(strlen(value) % 4 == 0);
	/* The disk Kata writes from it: the magic, the length, the gzip bytes. */
	memcpy(disk, SP_INITDATA_MAGIC, 8);
	n = b64_decode(value, disk + 16);
	CHECK(disk[16] == 0x1f && disk[17] == 0x8b); /* a gzip member, not raw zlib */
	for (int i = 0; i < 8; i++)
		disk[8 + i] = (uint8_t)((uint64_t)n >> (8 * i));
	REQUIRE(sp_initdata_unpack(disk, 16 + n, &toml, &toml_len, &err) == 0);
	CHECK(toml_len == strlen(initdata));
	CHECK_STR(toml, initdata);
	free(toml);
	free(value);
}

static char *annotate(const char *yaml, struct sp_err *err)
{
	char *out = NULL;
	size_t len;

	if (spp_annotate_yaml(yaml, strlen(yaml), "V", &out, &len, err) < 0)
		return NULL;
	if (strlen(out) != len) {
		free(out);
		return NULL;
	}
	return out;
}

#define ANN SPP_ANNOTATION ": \"V\"\n"

TEST(spp_annotate_pod_adds_annotations_under_metadata)
{
	static const char in[] = "apiVersion: v1\n"
				 "kind: Pod\n"
				 "metadata:\n"
				 "  name: p # the pod\n"
				 "spec:\n"
				 "  containers: []\n";
	static const char want[] = "apiVersion: v1\n"
				   "kind: Pod\n"
				   "metadata:\n"
				   "  annotations:\n"
				   "    " ANN "  name: p # the pod\n"
				   "spec:\n"
				   "  containers: []\n";
	struct sp_err err;
	char *out = annotate(in, &err);

	REQUIRE(out);
	CHECK_STR(out, want);
	free(out);
}

TEST(spp_annotate_replaces_an_existing_value_with_its_continuation)
{
	static const char in[] = "kind: Pod\n"
				 "metadata:\n"
				 "    annotations:\n"
				 "        a: b\n"
				 "        \"" SPP_ANNOTATION "\": >-\n"
				 "          old\n"
				 "          more\n"
				 "        c: d\n";
	static const char want[] = "kind: Pod\n"
				   "metadata:\n"
				   "    annotations:\n"
				   "        a: b\n"
				   "        " ANN "        c: d\n";
	struct sp_err err;
	char *out = annotate(in, &err);

	REQUIRE(out);
	CHECK_STR(out, want);
	free(out);
}

TEST(spp_annotate_deployment_template_not_its_own_metadata)
{
	static const char in[] = "kind: Deployment\n"
				 "metadata:\n"
				 "  name: d\n"
				 "  annotations:\n"
				 "    x: y\n"
				 "spec:\n"
				 "  template:\n"
				 "    metadata:\n"
				 "      labels:\n"
				 "        app: a\n"
				 "    spec:\n"
				 "      containers: []\n";
	static const char want[] = "kind: Deployment\n"
				   "metadata:\n"
				   "  name: d\n"
				   "  annotations:\n"
				   "    x: y\n"
				   "spec:\n"
				   "  template:\n"
				   "    metadata:\n"
				   "      annotations:\n"
				   "        " ANN "      labels:\n"
				   "        app: a\n"
				   "    spec:\n"
				   "      containers: []\n";
	struct sp_err err;
	char *out = annotate(in, &err);

	REQUIRE(out);
	CHECK_STR(out, want);
	free(out);
}

TEST(spp_annotate_cronjob_template_without_metadata)
{
	static const char in[] = "kind: CronJob\n"
				 "spec:\n"
				 "  jobTemplate:\n"
				 "    spec:\n"
				 "      template:\n"
				 "        spec:\n"
				 "          containers: []\n";
	static const char want[] = "kind: CronJob\n"
				   "spec:\n"
				   "  jobTemplate:\n"
				   "    spec:\n"
				   "      template:\n"
				   "        metadata:\n"
				   "          annotations:\n"
				   "            " ANN "        spec:\n"
				   "          containers: []\n";
	struct sp_err err;
	char *out = annotate(in, &err);

	REQUIRE(out);
	CHECK_STR(out, want);
	free(out);
}

TEST(spp_annotate_every_workload_of_a_stream_and_nothing_else)
{
	static const char in[] = "kind: ConfigMap\n"
				 "metadata:\n"
				 "  name: c\n"
				 "---\n"
				 "kind: Pod\n"
				 "metadata:\n"
				 "  name: p\n"
				 "...\n"
				 "---\n"
				 "kind: \"Job\"\n"
				 "spec:\n"
				 "  template:\n"
				 "    spec: {}\n";
	static const char want[] = "kind: ConfigMap\n"
				   "metadata:\n"
				   "  name: c\n"
				   "---\n"
				   "kind: Pod\n"
				   "metadata:\n"
				   "  annotations:\n"
				   "    " ANN "  name: p\n"
				   "...\n"
				   "---\n"
				   "kind: \"Job\"\n"
				   "spec:\n"
				   "  template:\n"
				   "    metadata:\n"
				   "      annotations:\n"
				   "        " ANN "    spec: {}\n";
	struct sp_err err;
	char *out = annotate(in, &err);

	REQUIRE(out);
	CHECK_STR(out, want);
	free(out);
}

TEST(spp_annotate_keeps_crlf_and_a_missing_last_newline)
{
	static const char in[] = "kind: Pod\r\n"
				 "metadata:\r\n"
				 "  name: p";
	static const char want[] = "kind: Pod\r\n"
				   "metadata:\r\n"
				   "  annotations:\r\n"
				   "    " SPP_ANNOTATION ": \"V\"\r\n"
				   "  name: p";
	struct sp_err err;
	char *out = annotate(in, &err);

	REQUIRE(out);
	CHECK_STR(out, want);
	free(out);
}

TEST(spp_annotate_refuses_what_it_cannot_edit_safely)
{
	struct sp_err err;

	CHECK(!annotate("kind: Pod\nmetadata: {name: p}\n", &err));
	CHECK(strstr(err.msg, "line 2") != NULL);
	CHECK(!annotate("kind: Pod\nmetadata:\n  annotations: {}\n", &err));
	CHECK(strstr(err.msg, "line 3") != NULL);
	CHECK(!annotate("kind: Deployment\nmetadata:\n  name: d\n", &err));
	CHECK(strstr(err.msg, "template") != NULL);
	CHECK(!annotate("kind: Service\nmetadata:\n  name: s\n", &err));
	CHECK(strstr(err.msg, "no Pod") != NULL);
	CHECK(spp_annotate_yaml("kind: Pod\0", 10, "V", &(char *){ NULL }, &(size_t){ 0 }, &err) <
	      0);
}
