/* JWE interop: our TEE key's JWK goes to python3-jwcrypto (tests/kbs/jwe_vector.py, the test
 * KBS's encrypt()), which makes a flattened JWE; our C code must decrypt it, and must refuse it
 * once tampered with. Both key types. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "attest/attest_int.h"
#include "unit.h"

static char *run_capture(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int c;

	if (!p)
		return NULL;
	while ((c = fgetc(p)) != EOF) {
		if (len + 2 > cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
		}
		buf[len++] = (char)c;
	}
	if (pclose(p) != 0) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

static char *jwcrypto_jwe(const char *jwk, const char *plain)
{
	char *cmd, *out;

	if (asprintf(&cmd, "/usr/bin/python3 tests/kbs/jwe_vector.py '%s' '%s'", jwk, plain) < 0)
		return NULL;
	out = run_capture(cmd);
	free(cmd);
	return out;
}

/* Replaces member m of JSON object text j with value v (a JSON string literal without quotes). */
static char *with_member(const char *j, const char *m, const char *v)
{
	struct json_object *o = json_tokener_parse(j);
	char *s;

	if (v)
		json_object_object_add(o, m, json_object_new_string(v));
	else
		json_object_object_del(o, m);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

static void interop(int *unit_failed_, enum sp_tee_key_kind kind)
{
	struct sp_tee_key *k = NULL, *other = NULL;
	struct sp_err err;
	char *jwk, *jwe, *bad;
	uint8_t *pt;
	size_t n;

	REQUIRE(sp_tee_key_new(kind, &k, &err) == 0);
	REQUIRE(sp_tee_key_new(kind, &other, &err) == 0);
	jwk = sp_tee_key_jwk(k);
	REQUIRE(jwk);
	{
		const char *pfx = kind == SP_TEE_KEY_EC_P256 ? "{\"kty\":\"EC\",\"crv\":\"P-256\","
							       "\"alg\":\"ECDH-ES+A256KW\",\"x\":"
							     : "{\"kty\":\"RSA\",\"alg\":\"RSA-"
							       "OAEP-256\",\"n\":";
		CHECK(strncmp(jwk, pfx, strlen(pfx)) == 0);
	}
	jwe = jwcrypto_jwe(jwk, "the secret 0123456789");
	REQUIRE(jwe);
	if (sp_jwe_decrypt(k, jwe, strlen(jwe), &pt, &n, &err) < 0) {
		fprintf(stderr, "    %s\n    %s\n", err.msg, jwe);
		REQUIRE(0);
	}
	CHECK(n == 21 && memcmp(pt, "the secret 0123456789", 21) == 0);
	free(pt);
	/* Not ours: another key of the same kind. */
	CHECK(sp_jwe_decrypt(other, jwe, strlen(jwe), &pt, &n, &err) < 0);
	/* A flipped tag, a different protected header (AAD), a cut ciphertext. */
	{
		struct json_object *o = json_tokener_parse(jwe), *v;
		char tag[64], prot[2048];
		json_object_object_get_ex(o, "tag", &v);
		snprintf(tag, sizeof(tag), "%s", json_object_get_string(v));
		tag[0] = tag[0] == 'A' ? 'B' : 'A';
		bad = with_member(jwe, "tag", tag);
		CHECK(sp_jwe_decrypt(k, bad, strlen(bad), &pt, &n, &err) < 0);
		CHECK(strstr(err.msg, "authentication failed") != NULL);
		free(bad);
		json_object_object_get_ex(o, "protected", &v);
		{
			/* The same header, one space added: equal as JSON, different as AAD. */
			const char *ps = json_object_get_string(v);
			uint8_t *raw;
			size_t rl;
			REQUIRE(sp_b64_decode(ps, strlen(ps), true, &raw, &rl) == 0);
			char *spaced = malloc(rl + 2);
			spaced[0] = ' ';
			memcpy(spaced + 1, raw, rl);
			char *enc = sp_b64_encode((uint8_t *)spaced, rl + 1, true);
			bad = with_member(jwe, "protected", enc);
			CHECK(sp_jwe_decrypt(k, bad, strlen(bad), &pt, &n, &err) < 0);
			CHECK(strstr(err.msg, "authentication failed") != NULL);
			free(bad), free(enc), free(spaced), free(raw);
		}
		json_object_object_get_ex(o, "ciphertext", &v);
		snprintf(prot, sizeof(prot), "%s", json_object_get_string(v));
		prot[strlen(prot) - 4] = '\0';
		bad = with_member(jwe, "ciphertext", prot);
		CHECK(sp_jwe_decrypt(k, bad, strlen(bad), &pt, &n, &err) < 0);
		free(bad);
		json_object_put(o);
	}
	/* An aad member is ignored (Intel's KBS sends one equal to protected). */
	bad = with_member(jwe, "aad", "ignored");
	CHECK(sp_jwe_decrypt(k, bad, strlen(bad), &pt, &n, &err) == 0);
	free(pt);
	free(bad);
	/* Missing members. */
	static const char *members[] = { "protected", "encrypted_key", "iv", "ciphertext", "tag" };
	for (int i = 0; i < 5; i++) {
		bad = with_member(jwe, members[i], NULL);
		CHECK(sp_jwe_decrypt(k, bad, strlen(bad), &pt, &n, &err) < 0);
		free(bad);
	}
	free(jwe);
	free(jwk);
	sp_tee_key_free(k);
	sp_tee_key_free(other);
}

TEST(attest_jwe_interop_ec)
{
	interop(unit_failed_, SP_TEE_KEY_EC_P256);
}

TEST(attest_jwe_interop_rsa)
{
	interop(unit_failed_, SP_TEE_KEY_RSA);
}

TEST(attest_jwe_malformed)
{
	struct sp_tee_key *k;
	struct sp_err err;
	uint8_t *pt;
	size_t n;
	/* protected = {"alg":"dir","enc":"A256GCM"}, {"alg":"ECDH-ES+A256KW","enc":"A128GCM"} */
	static const char *bad[] = {
		"",
		"[]",
		"{\"protected\":5}",
		"{\"protected\":\"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0\",\"encrypted_key\":\"\","
		"\"iv\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"\",\"tag\":"
		"\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"protected\":\"eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkExMjhHQ00ifQ\","
		"\"encrypted_key\":\"\",\"iv\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"\","
		"\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		"{\"protected\":\"e30\",\"encrypted_key\":\"\",\"iv\":\"AA\",\"ciphertext\":\"\","
		"\"tag\":\"AA\"}",
		"{\"protected\":\"!!\",\"encrypted_key\":\"\",\"iv\":\"\",\"ciphertext\":\"\","
		"\"tag\":\"\"}",
	};

	REQUIRE(sp_tee_key_new(SP_TEE_KEY_EC_P256, &k, &err) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(sp_jwe_decrypt(k, bad[i], strlen(bad[i]), &pt, &n, &err) < 0);
	sp_tee_key_free(k);
}
