/* init/attest/: the TOML reader, initdata (disk format, digests, settings), base64, canonical JSON
 * and the KBS messages. The JWE interop and SNP encoder tests are in test_attest_jose.c and
 * test_attest_snp.c. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "attest/attest_int.h"
#include "attest/toml.h"
#include "lib/worker.h"
#include "unit.h"

static int toml_ok(const char *s, struct sp_toml *d)
{
	struct sp_err err;
	int r = sp_toml_parse(s, strlen(s), d, &err);
	if (r < 0)
		fprintf(stderr, "    toml: %s\n", err.msg);
	return r;
}

static bool toml_rejects(const char *s)
{
	struct sp_toml d;
	struct sp_err err;
	return sp_toml_parse(s, strlen(s), &d, &err) < 0;
}

TEST(attest_toml_values)
{
	struct sp_toml d;
	const struct sp_toml_ent *e;
	const char *doc = "# comment\n"
			  "version = \"0.1.0\" # trailing\n"
			  "n = -42\n"
			  "big = 1_000\n"
			  "yes = true\n"
			  "no = false\n"
			  "[data]\n"
			  "\"aa.toml\" = '''\n"
			  "[token_configs.kbs]\n"
			  "url = \"https://kbs\"\n"
			  "'''\n"
			  "'lit' = 'C:\\path'\n"
			  "esc = \"a\\tb\\u00e9\\\"q\\\\\"\n"
			  "ml = \"\"\"\n"
			  "one \\\n"
			  "   two\"\"\"\n"
			  "arr = [ \"x\", 'y', # comment\n"
			  "  \"z\", ]\n"
			  "a.b.c = \"dotted\"\r\n"
			  "[t.\"q.k\"]\n"
			  "k = \"v\"\n";

	REQUIRE(toml_ok(doc, &d) == 0);
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "version", NULL })->str, "0.1.0");
	CHECK(sp_toml_get(&d, (const char *[]){ "n", NULL })->i == -42);
	CHECK(sp_toml_get(&d, (const char *[]){ "big", NULL })->i == 1000);
	CHECK(sp_toml_get(&d, (const char *[]){ "yes", NULL })->b == true);
	CHECK(sp_toml_get(&d, (const char *[]){ "no", NULL })->type == SP_TOML_BOOL);
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "data", "aa.toml", NULL })->str, "[token_"
										     "configs.kbs]"
										     "\nurl = "
										     "\"https://"
										     "kbs\"\n");
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "data", "lit", NULL })->str, "C:\\path");
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "data", "esc", NULL })->str, "a\tb\xc3\xa9\"q"
										 "\\");
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "data", "ml", NULL })->str, "one two");
	e = sp_toml_get(&d, (const char *[]){ "data", "arr", NULL });
	REQUIRE(e && e->type == SP_TOML_ARRAY && e->narr == 3);
	CHECK_STR(e->arr[2], "z");
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "data", "a", "b", "c", NULL })->str, "dotted");
	CHECK_STR(sp_toml_get(&d, (const char *[]){ "t", "q.k", "k", NULL })->str, "v");
	CHECK(sp_toml_get(&d, (const char *[]){ "t", "q", NULL }) == NULL);
	sp_toml_free(&d);
}

TEST(attest_toml_rejects)
{
	static const char *bad[] = {
		"x = 1.5\n",
		"x = 1979-05-27\n",
		"x = 0x10\n",
		"x = 012\n",
		"x = [1, 2]\n",
		"x = [\"a\", 1]\n",
		"x = \"a\"\nx = \"b\"\n",
		"[t]\n[t]\n",
		"x = 1\n[x]\n",
		"x = 1\nx.y = 2\n",
		"x = \"unterminated\n",
		"x = \"bad \\q escape\"\n",
		"x = \"\\u0000\"\n",
		"x = \"\\ud800\"\n",
		"x = \"ctl \x01\"\n",
		"x = \"a\" y\n",
		"= 1\n",
		"x\n",
		"x = \n",
		"x = \"\xff\"\n",
		"x = \"\xc0\xaf\"\n",
		"x = 99999999999999999999\n",
		"x = 1__0\n",
		"x = truex\n",
		"[a\n",
		"\"\" = 1\n",
		"x = '''never closed\n",
		"x = \"a\"\r\n\r",
		"x = \"\"\"a\\\n", /* fuzzer find: line-ending backslash at the very end */
		"x = \"\"\"a\\  \n  \n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!toml_rejects(bad[i])) {
			fprintf(stderr, "    accepted: %s", bad[i]);
			CHECK(0);
		}
	}
	/* A NUL byte inside the buffer. */
	{
		struct sp_toml d;
		struct sp_err err;
		CHECK(sp_toml_parse("x = \"a\0b\"\n", 10, &d, &err) < 0);
	}
	/* Too many keys. */
	{
		size_t n = (SP_TOML_MAX_ENTRIES + 2) * 16;
		char *s = malloc(n), *p = s;
		for (int i = 0; i < SP_TOML_MAX_ENTRIES + 1; i++)
			p += sprintf(p, "k%d = true\n", i);
		CHECK(toml_rejects(s));
		free(s);
	}
}

/* --- initdata ---------------------------------------------------------------------------------- */
static const char KATA_INITDATA[] = "version = \"0.1.0\"\n"
				    "algorithm = \"sha384\"\n"
				    "[data]\n"
				    "\"aa.toml\" = '''\n"
				    "[token_configs]\n"
				    "[token_configs.coco_as]\n"
				    "url = 'http://127.0.0.1:8080'\n"
				    "\n"
				    "[token_configs.kbs]\n"
				    "url = 'https://10.0.2.100:8443'\n"
				    "cert = \"\"\"\n"
				    "-----BEGIN CERTIFICATE-----\n"
				    "MIIB\n"
				    "-----END CERTIFICATE-----\n"
				    "\"\"\"\n"
				    "'''\n"
				    "\"cdh.toml\" = '''\n"
				    "socket = 'unix:///run/confidential-containers/cdh.sock'\n"
				    "credentials = []\n"
				    "\n"
				    "[kbc]\n"
				    "name = 'cc_kbc'\n"
				    "url = 'https://10.0.2.100:8443'\n"
				    "\n"
				    "[image]\n"
				    "authenticated_registry_credentials_uri = "
				    "'kbs:///default/credential/test'\n"
				    "max_concurrent_layer_downloads_per_image = 5\n"
				    "'''\n"
				    "\"policy.rego\" = '''\n"
				    "package agent_policy\n"
				    "\n"
				    "default AllowRequestsFailingPolicy := false\n"
				    "'''\n";

static size_t gz(const char *s, size_t n, uint8_t *out, size_t cap)
{
	z_stream zs = { 0 };
	size_t r;

	deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *)s;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	r = zs.total_out;
	deflateEnd(&zs);
	return r;
}

static uint8_t *disk_image(const char *toml, size_t len, size_t *dlen)
{
	uint8_t *d = calloc(1, 16 + len + 1024);
	size_t g = gz(toml, len, d + 16, len + 1024);

	memcpy(d, "initdata", 8);
	for (int i = 0; i < 8; i++)
		d[8 + i] = (uint8_t)(g >> (8 * i));
	*dlen = 16 + g;
	return d;
}

TEST(attest_initdata_disk_and_digest)
{
	size_t dlen, tlen;
	uint8_t *disk = disk_image(KATA_INITDATA, strlen(KATA_INITDATA), &dlen);
	char *toml;
	struct sp_initdata id;
	struct sp_err err;
	uint8_t want[64];
	unsigned wl;

	REQUIRE(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) == 0);
	CHECK(tlen == strlen(KATA_INITDATA) && memcmp(toml, KATA_INITDATA, tlen) == 0);
	REQUIRE(sp_initdata_parse(toml, tlen, &id, &err) == 0);
	EVP_Digest(KATA_INITDATA, strlen(KATA_INITDATA), want, &wl, EVP_sha384(), NULL);
	CHECK(id.alg == SP_HASH_SHA384 && id.digest_len == 48 && memcmp(id.digest, want, 48) == 0);
	CHECK_STR(id.kbs_url, "https://10.0.2.100:8443");
	CHECK(id.kbs_cert && strstr(id.kbs_cert, "BEGIN CERTIFICATE"));
	CHECK(id.require_attestation);
	CHECK_STR(id.image.auth_uri, "kbs:///default/credential/test");
	CHECK(id.image.max_parallel_layers == 5);
	CHECK(id.policy && strstr(id.policy, "package agent_policy"));
	/* The binding comparison: truncated to HOSTDATA, zero-padded to a 64-byte field. */
	{
		uint8_t b[64] = { 0 };
		memcpy(b, want, 32);
		CHECK(sp_initdata_matches(id.digest, 48, b, 32));
		memcpy(b, want, 48);
		CHECK(sp_initdata_matches(id.digest, 48, b, 64));
		b[50] = 1;
		CHECK(!sp_initdata_matches(id.digest, 48, b, 64));
		b[50] = 0, b[3] ^= 1;
		CHECK(!sp_initdata_matches(id.digest, 48, b, 48));
	}
	sp_initdata_free(&id);
	free(disk);
}

TEST(attest_initdata_algorithms)
{
	static const char *algs[] = { "sha256", "sha384", "sha512" };
	static const EVP_MD *(*mds[])(void) = { EVP_sha256, EVP_sha384, EVP_sha512 };

	for (int i = 0; i < 3; i++) {
		char *doc;
		struct sp_initdata id;
		struct sp_err err;
		uint8_t want[64];
		unsigned wl;
		int n = asprintf(&doc, "version = \"0.1.0\"\nalgorithm = \"%s\"\n[data]\n",
				 algs[i]);
		EVP_Digest(doc, (size_t)n, want, &wl, mds[i](), NULL);
		REQUIRE(sp_initdata_parse(doc, (size_t)n, &id, &err) == 0);
		CHECK(id.digest_len == wl && memcmp(id.digest, want, wl) == 0);
		CHECK(!id.require_attestation && !id.kbs_url && !id.policy);
		sp_initdata_free(&id);
	}
}

TEST(attest_initdata_rejects)
{
	static const char *bad[] = {
		"algorithm = \"sha256\"\n[data]\n",
		"version = \"0.1.0\"\n[data]\n",
		"version = \"0.2.0\"\nalgorithm = \"sha256\"\n",
		"version = \"0.1.0\"\nalgorithm = \"md5\"\n",
		"version = \"0.1.0\"\nalgorithm = \"sm3\"\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nx = 1\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = \"x = 1.5\"\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = '''\n[image]\n"
		"authenticated_registry_credentials_uri = \"kbs:///a/../c\"\n'''\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = '''\n[image]\n"
		"max_concurrent_layer_downloads_per_image = 0\n'''\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = "
		"'''\n[sealpod]\n"
		"attestation = \"off\"\n'''\n",
		"version = 1\nalgorithm = \"sha256\"\n",
		/* literal registry credentials, anywhere initdata could carry them */
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"auth.json\" = "
		"'{\"auths\":{\"r.example\":{\"auth\":\"dTpw\"}}}'\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"registry-Auth.json\" = "
		"\"{}\"\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = '''\n[image]\n"
		"username = \"u\"\npassword = \"p\"\n'''\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = '''\n"
		"[image.auths.\"r.example\"]\nauth = \"dTpw\"\n'''\n",
		"version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = '''\n[image]\n"
		"authenticated_registry_credentials = \"u:p\"\n'''\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sp_initdata id;
		struct sp_err err;
		char *doc = strdup(bad[i]);
		if (sp_initdata_parse(doc, strlen(doc), &id, &err) == 0) {
			fprintf(stderr, "    accepted: %s", bad[i]);
			sp_initdata_free(&id);
			CHECK(0);
		}
	}
}

TEST(attest_initdata_unpack_rejects)
{
	size_t dlen, tlen;
	uint8_t *disk = disk_image(KATA_INITDATA, strlen(KATA_INITDATA), &dlen);
	char *toml;
	struct sp_err err;

	CHECK(sp_initdata_unpack(disk, 15, &toml, &tlen, &err) < 0);
	disk[0] = 'X';
	CHECK(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) < 0);
	disk[0] = 'i';
	CHECK(sp_initdata_unpack(disk, dlen - 1, &toml, &tlen, &err) < 0); /* length beyond data */
	disk[8]--; /* one byte short: truncated gzip */
	CHECK(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) < 0);
	disk[8] += 1;
	disk[30] ^= 0x55; /* corrupt deflate data or CRC */
	CHECK(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) < 0);
	disk[30] ^= 0x55;
	CHECK(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) == 0);
	free(toml);
	for (int i = 8; i < 16; i++)
		disk[i] = 0xff; /* absurd length */
	CHECK(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) < 0);
	free(disk);
	/* A gzip bomb: 4 MiB of zeros is over the limit. */
	{
		size_t big = 4u << 20;
		char *z = calloc(1, big);
		disk = disk_image(z, big, &dlen);
		CHECK(sp_initdata_unpack(disk, dlen, &toml, &tlen, &err) < 0);
		CHECK(strstr(err.msg, "over") != NULL);
		free(z);
		free(disk);
	}
	/* Bytes after the gzip stream inside the declared length. */
	{
		disk = disk_image(KATA_INITDATA, strlen(KATA_INITDATA), &dlen);
		uint8_t *d2 = calloc(1, dlen + 4);
		memcpy(d2, disk, dlen);
		uint64_t g = dlen - 16 + 4;
		for (int i = 0; i < 8; i++)
			d2[8 + i] = (uint8_t)(g >> (8 * i));
		CHECK(sp_initdata_unpack(d2, dlen + 4, &toml, &tlen, &err) < 0);
		free(d2);
		free(disk);
	}
}

/* --- base64 and canonical JSON ----------------------------------------------------------------- */
TEST(attest_base64)
{
	uint8_t *out;
	size_t n;
	char *s = sp_b64_encode((const uint8_t *)"\xfb\xff", 2, true);

	CHECK_STR(s, "-_8");
	free(s);
	s = sp_b64_encode((const uint8_t *)"\xfb\xff", 2, false);
	CHECK_STR(s, "+/8=");
	free(s);
	CHECK(sp_b64_decode("-_8", 3, true, &out, &n) == 0 && n == 2 && out[0] == 0xfb);
	free(out);
	CHECK(sp_b64_decode("-_8=", 4, true, &out, &n) < 0);  /* padding in base64url */
	CHECK(sp_b64_decode("+/8", 3, false, &out, &n) < 0);  /* missing padding */
	CHECK(sp_b64_decode("+/9=", 4, false, &out, &n) < 0); /* non-zero spare bits */
	CHECK(sp_b64_decode("ab c", 4, false, &out, &n) < 0);
	CHECK(sp_b64_decode("a", 1, true, &out, &n) < 0);
	CHECK(sp_b64_decode("", 0, true, &out, &n) == 0 && n == 0);
	free(out);
}

TEST(attest_jcs_vectors)
{
	char *out;
	struct sp_err err;
	uint8_t d[48];
	char hx[97];
	unsigned dl;

	/* trustee's own unit-test vector (reference/attestation.md, 2.1). */
	{
		const char *v = "{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}";
		REQUIRE(sp_jcs(v, strlen(v), &out, &err) == 0);
	}
	CHECK_STR(out, "{\"a\":\"test\",\"b\":1,\"c\":{\"d\":\"e\"}}");
	EVP_Digest(out, strlen(out), d, &dl, EVP_sha384(), NULL);
	sp_hex(d, 48, hx);
	CHECK_STR(hx, "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186"
		      "427c813ca941da78870c3");
	free(out);
	/* RFC 8785 3.2.3: keys by UTF-16 code units (U+1D11E sorts before U+FB33 there, after it
	 * in UTF-8 byte order); strings escaped minimally; whitespace gone. */
	{
		const char *in = "{ \"\xef\xac\xb3\": 1, \"\xf0\x9d\x84\x9e\": 2, \"\\u0007\": "
				 "[true, "
				 "null, \"/\\n\\u00e9\"], \"1\": -0 }";
		REQUIRE(sp_jcs(in, strlen(in), &out, &err) == 0);
		CHECK_STR(out, "{\"\\u0007\":[true,null,\"/\\n\xc3\xa9\"],\"1\":0,"
			       "\"\xf0\x9d\x84\x9e\":2,\"\xef\xac\xb3\":1}");
		free(out);
	}
	CHECK(sp_jcs("{\"a\":1.5}", 9, &out, &err) < 0);
	CHECK(sp_jcs("{\"a\":1e300}", 11, &out, &err) < 0); /* fuzzer find: UB on the cast */
	CHECK(sp_jcs("[-1e300]", 8, &out, &err) < 0);
	CHECK(sp_jcs("{\"a\":1} x", 9, &out, &err) < 0);
	CHECK(sp_jcs("[1,", 3, &out, &err) < 0);
	/* Fuzzer find: a bare number at the end of the input ("0 " canonicalised to "0", which
	 * then failed to parse as "truncated"): canonical JSON must be a fixed point. */
	for (int i = 0; i < 2; i++) {
		REQUIRE(sp_jcs(i ? "0" : "0 ", i ? 1 : 2, &out, &err) == 0);
		CHECK_STR(out, "0");
		free(out);
	}
	REQUIRE(sp_jcs("-12", 3, &out, &err) == 0);
	CHECK_STR(out, "-12");
	free(out);
	CHECK(sp_jcs("\"ab", 3, &out, &err) < 0); /* an unterminated string stays truncated */
}

TEST(attest_runtime_data_and_messages)
{
	char *out, *body;
	struct sp_err err;
	const char *jwk = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\",\"x\":"
			  "\"X\","
			  "\"y\":\"Y\"}";

	REQUIRE(sp_kbs_runtime_data("NONCE", jwk, &out, &err) == 0);
	CHECK_STR(out, "{\"additional-evidence\":\"\",\"nonce\":\"NONCE\",\"tee-pubkey\":{\"alg\":"
		       "\"ECDH-ES+A256KW\",\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"X\",\"y\":"
		       "\"Y\"}}");
	free(out);
	body = sp_kbs_request_json("tpm");
	CHECK(body && strstr(body, "\"version\":\"0.4.0\"") && strstr(body, "\"tee\":\"tpm\""));
	free(body);
	REQUIRE(sp_kbs_attest_json("a = \"q\\\"\"\n", "N", jwk, "{\"svn\":\"1\"}", &body, &err) ==
		0);
	CHECK(strstr(body, "\"init-data\":{\"format\":\"toml\",\"body\":\"a = "
			   "\\\"q\\\\\\\"\\\"\\u000a\"}"));
	CHECK(strstr(body, "\"additional_evidence\":\"\"}}"));
	REQUIRE(sp_jcs(body, strlen(body), &out, &err) == 0); /* valid JSON */
	free(out);
	free(body);
}

TEST(attest_challenge_and_errors)
{
	struct sp_kbs_challenge c;
	struct sp_err err;
	char t[64];
	char *tok;
	const char *n = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
	char buf[256];

	snprintf(buf, sizeof(buf), "{\"nonce\":\"%s\",\"extra-params\":\"\"}", n);
	REQUIRE(sp_kbs_parse_challenge(buf, strlen(buf), &c, &err) == 0);
	CHECK_STR(c.nonce, n);
	CHECK(c.hash == SP_HASH_SHA384);
	snprintf(buf, sizeof(buf),
		 "{\"nonce\":\"%s\",\"extra-params\":{\"selected-hash-algorithm\":\"sha512\"}}", n);
	REQUIRE(sp_kbs_parse_challenge(buf, strlen(buf), &c, &err) == 0);
	CHECK(c.hash == SP_HASH_SHA512);
	snprintf(buf, sizeof(buf),
		 "{\"nonce\":\"%s\",\"extra-params\":{\"selected-hash-algorithm\":\"md5\"}}", n);
	CHECK(sp_kbs_parse_challenge(buf, strlen(buf), &c, &err) < 0);
	CHECK(sp_kbs_parse_challenge("{\"nonce\":\"AAAA\"}", 16, &c, &err) < 0); /* too short */
	CHECK(sp_kbs_parse_challenge("{\"nonce\":\"!!!!\"}", 16, &c, &err) < 0);
	CHECK(sp_kbs_parse_challenge("{\"nonce\":5}", 11, &c, &err) < 0);
	CHECK(sp_kbs_parse_challenge("[]", 2, &c, &err) < 0);
	CHECK(sp_kbs_parse_challenge("\x00", 1, &c, &err) < 0);
	snprintf(buf, sizeof(buf), "{\"nonce\":\"%s\",\"extra-params\":5}", n);
	CHECK(sp_kbs_parse_challenge(buf, strlen(buf), &c, &err) < 0);

	{
		const char *e = "{\"type\":\"https://x/errors/PolicyDeny\",\"detail\":\"d\"}";
		sp_kbs_error_type(e, strlen(e), t, sizeof(t));
	}
	CHECK_STR(t, "PolicyDeny");
	sp_kbs_error_type("garbage", 7, t, sizeof(t));
	CHECK_STR(t, "");
	sp_kbs_error_type("{\"type\":\"\\u001b[31m\"}", 21, t, sizeof(t));
	CHECK(strchr(t, 0x1b) == NULL);

	CHECK(sp_kbs_parse_token("{\"token\":\"a.b.c\"}", 17, &tok, &err) == 0);
	CHECK_STR(tok, "a.b.c");
	free(tok);
	CHECK(sp_kbs_parse_token("{\"token\":\"a b\"}", 15, &tok, &err) < 0);
	CHECK(sp_kbs_parse_token("{\"token\":\"\"}", 12, &tok, &err) < 0);
	CHECK(sp_kbs_parse_token("{}", 2, &tok, &err) < 0);
}

TEST(attest_kbs_uri)
{
	char p[128];
	struct sp_err err;

	REQUIRE(sp_kbs_parse_uri("kbs:///default/key/disk-1.k_v", p, sizeof(p), &err) == 0);
	CHECK_STR(p, "default/key/disk-1.k_v");
	static const char *bad[] = { "kbs://host/a/b/c", "kbs:///a/b",	  "kbs:///a/b/c/d",
				     "kbs:///a/../c",	 "kbs:///a//c",	  "kbs:///a/b/c?x",
				     "kbs:///a/b/%2e",	 "http:///a/b/c", "kbs:///./b/c" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(sp_kbs_parse_uri(bad[i], p, sizeof(p), &err) < 0);
}

/* Which evidence the guest sends (boot.c): the command line is the host's and never picks
 * weaker evidence than the hardware offers; initdata may choose; the test overlay may. The
 * detector is stubbed by passing what it would have found. */
TEST(attest_evidence_choice)
{
	char note[160];

	/* TDX detected, sealpod.evidence=tpm, a TPM attached by the host: TDX stays. */
	CHECK(sp_attest_choose_evidence(SP_EV_TDX, true, NULL, "tpm", false, note, sizeof(note)) ==
	      SP_EV_TDX);
	CHECK(strstr(note, "evidence \"tpm\" ignored") != NULL);
	CHECK(sp_attest_choose_evidence(SP_EV_SNP, true, NULL, "tpm", false, note, sizeof(note)) ==
	      SP_EV_SNP);
	/* Nor over initdata's choice. */
	CHECK(sp_attest_choose_evidence(SP_EV_TDX, true, "tdx", "tpm", false, note, sizeof(note)) ==
	      SP_EV_TDX);
	/* initdata may choose what the machine has, and is measured with it. */
	CHECK(sp_attest_choose_evidence(SP_EV_TDX, true, "tpm", NULL, false, note, sizeof(note)) ==
	      SP_EV_TPM);
	CHECK(note[0] == '\0');
	CHECK(sp_attest_choose_evidence(SP_EV_TDX, false, "tpm", NULL, false, note, sizeof(note)) ==
	      SP_EV_TDX);
	CHECK(strstr(note, "not available here") != NULL);
	/* The test overlay's command line may (it even overrides initdata). */
	CHECK(sp_attest_choose_evidence(SP_EV_TDX, true, "tdx", "tpm", true, note, sizeof(note)) ==
	      SP_EV_TPM);
	CHECK(sp_attest_choose_evidence(SP_EV_TPM, true, NULL, "sample", true, note,
					sizeof(note)) == SP_EV_SAMPLE);
	/* sample only there, from initdata or the command line. */
	CHECK(sp_attest_choose_evidence(SP_EV_TPM, true, "sample", NULL, false, note,
					sizeof(note)) == SP_EV_TPM);
	CHECK(strstr(note, "test overlay only") != NULL);
	CHECK(sp_attest_choose_evidence(SP_EV_TPM, true, NULL, "sample", false, note,
					sizeof(note)) == SP_EV_TPM);
	CHECK(strstr(note, "evidence \"sample\" ignored") != NULL);
	/* The command line naming what the machine has anyway changes nothing, says nothing. */
	CHECK(sp_attest_choose_evidence(SP_EV_TDX, true, NULL, "tdx", false, note, sizeof(note)) ==
	      SP_EV_TDX);
	CHECK(note[0] == '\0');
	CHECK(sp_attest_choose_evidence(SP_EV_NONE, false, NULL, NULL, false, note, sizeof(note)) ==
	      SP_EV_NONE);
}

/* The KBS's words in a refusal may describe the owner's policy: they stay in sp_err.detail, out
 * of the message the host gets and out of the line the console (which the host reads) gets. The
 * worker's error crosses as a typed frame, so its fields are fields, not cuts in a text. */
static struct sp_err from_worker(enum sp_stage stage, const char *msg, const char *detail)
{
	struct sp_err in, out;
	struct sp_frame_err f;
	uint32_t ref;

	sp_error(&in, 0, "%s", msg);
	in.stage = (uint8_t)stage;
	snprintf(in.detail, sizeof(in.detail), "%s", detail);
	sp_frame_err_encode(0, &in, &f);
	if (sp_frame_err_decode(&f, sizeof(f), &ref, &out) < 0)
		abort();
	return out;
}

TEST(attest_failure_detail_stays_out)
{
	struct sp_err err, w;
	char why[200];

	w = from_worker(SP_STAGE_ATTEST_VERIFY, "KBS refused the evidence: HTTP 401 PolicyDeny",
			"PCR4 0123 is not the reference");
	sp_attest_failure(&w, SP_STAGE_ATTEST_AUTH, "died", SP_E_PRECONDITION, &err, why,
			  sizeof(why));
	CHECK_STR(err.msg, "attest.verify: KBS refused the evidence: HTTP 401 PolicyDeny");
	CHECK_STR(why, "KBS refused the evidence: HTTP 401 PolicyDeny");
	CHECK(err.stage == SP_STAGE_ATTEST_VERIFY && err.kind == SP_E_PRECONDITION);
	CHECK_STR(err.detail, "PCR4 0123 is not the reference");
	/* Text that imitates a separator moves nothing. */
	w = from_worker(SP_STAGE_ATTEST_AUTH, "HTTP 403 | KBS says: x", "y");
	sp_attest_failure(&w, SP_STAGE_ATTEST_AUTH, "died", SP_E_PRECONDITION, &err, why,
			  sizeof(why));
	CHECK_STR(err.msg, "attest.auth: HTTP 403 | KBS says: x");
	CHECK_STR(err.detail, "y");
	/* Control bytes from the worker are escaped once, on the way in. */
	w = from_worker(SP_STAGE_NONE, "bad\nline", "");
	sp_attest_failure(&w, SP_STAGE_ATTEST_RESOURCE, "failed", SP_E_UNAVAILABLE, &err, why,
			  sizeof(why));
	CHECK_STR(err.msg, "attest.resource: bad\\x0aline");
	/* The worker died: no frame. */
	sp_attest_failure(NULL, SP_STAGE_ATTEST_AUTH, "the attestation worker died",
			  SP_E_PRECONDITION, &err, why, sizeof(why));
	CHECK_STR(err.msg, "attest.auth: the attestation worker died");
	CHECK(err.detail[0] == '\0' && err.stage == SP_STAGE_ATTEST_AUTH);
}
