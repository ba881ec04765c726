/* cosign's key-based signatures as a registry stores them (sigpolicy.h): the manifest under the
 * sha256-<hex>.sig tag lists one layer per signature, each a simple-signing payload (JSON) with
 * the signature in an annotation. The payload is untrusted until its signature verifies with a
 * key the policy names; even then only its critical section is read. */
#define _GNU_SOURCE
#include "image/sigpolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define MT_SIMPLESIGNING "application/vnd.dev.cosign.simplesigning.v1+json"
#define ANN_SIGNATURE	 "dev.cosignproject.cosign/signature"
#define PAYLOAD_TYPE	 "cosign container image signature"

void sp_cosign_sig_tag(const char *digest, char out[80])
{
	(void)snprintf(out, 80, "sha256-%.64s.sig",
		       strncmp(digest, "sha256:", 7) ? "" : digest + 7);
}

static json_object *parse_obj(const char *body, size_t len, size_t max, struct sp_err *err)
{
	json_tokener *tok;
	json_object *o;

	if (len > max || memchr(body, 0, len))
		return sp_error(err, 0, "over %zu bytes or holds a NUL byte", max), NULL;
	tok = json_tokener_new_ex(16);
	if (!tok)
		return sp_error(err, 0, "out of memory"), NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		sp_error(err, 0, "not a JSON object");
	}
	json_tokener_free(tok);
	return o;
}

static const char *str_at(json_object *o, const char *const *path)
{
	for (size_t i = 0; path[i]; i++)
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, path[i], &o))
			return NULL;
	return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static int take_layer(json_object *l, struct sp_cosign_layer *out)
{
	const char *mt = str_at(l, (const char *const[]){ "mediaType", NULL });
	const char *d = str_at(l, (const char *const[]){ "digest", NULL });
	const char *sig = str_at(l, (const char *const[]){ "annotations", ANN_SIGNATURE, NULL });
	json_object *sz;
	int64_t size;

	if (!mt || strcmp(mt, MT_SIMPLESIGNING) != 0 || !d || !sp_digest_valid(d) || !sig ||
	    strlen(sig) >= sizeof(out->sig_b64) || !json_object_object_get_ex(l, "size", &sz) ||
	    !json_object_is_type(sz, json_type_int))
		return -1;
	size = json_object_get_int64(sz);
	if (size <= 0 || (uint64_t)size > SP_COSIGN_PAYLOAD_MAX)
		return -1;
	memcpy(out->digest, d, strlen(d) + 1);
	memcpy(out->sig_b64, sig, strlen(sig) + 1);
	out->size = (uint64_t)size;
	return 0;
}

int sp_cosign_sig_manifest(const char *body, size_t len, struct sp_cosign_layer *out, size_t max,
			   size_t *n, struct sp_err *err)
{
	json_object *o = parse_obj(body, len, SP_IMG_MAX_JSON, err), *layers;
	size_t nl;

	*n = 0;
	if (!o)
		return sp_error_wrap(err, "signature manifest");
	if (!json_object_object_get_ex(o, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array)) {
		json_object_put(o);
		return sp_error(err, 0, "signature manifest: no layers");
	}
	nl = json_object_array_length(layers);
	/* Layers of another kind (or malformed) are not signatures: skipped, never trusted. */
	for (size_t i = 0; i < nl && *n < max; i++)
		if (take_layer(json_object_array_get_idx(layers, i), &out[*n]) == 0)
			(*n)++;
	json_object_put(o);
	return 0;
}

static EVP_PKEY *load_key(const char *pem, struct sp_err *err)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	char group[32] = "";

	BIO_free(b);
	if (!k)
		return sp_error(err, 0, "the policy's key is not a PEM public key"), NULL;
	if (EVP_PKEY_is_a(k, "ED25519"))
		return k;
	if (EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) == 1 &&
	    strcmp(group, "prime256v1") == 0)
		return k;
	EVP_PKEY_free(k);
	return sp_error(err, 0, "the policy's key is neither ECDSA P-256 nor Ed25519"), NULL;
}

int sp_cosign_verify(const char *key_pem, const uint8_t *payload, size_t len, const char *sig_b64,
		     struct sp_err *err)
{
	unsigned char sig[512];
	size_t n = strlen(sig_b64), pad = 0;
	EVP_PKEY *k;
	EVP_MD_CTX *ctx;
	int got, ok = 0;

	if (n == 0 || n % 4 || n / 4 * 3 > sizeof(sig))
		return sp_error(err, 0, "the signature is not base64");
	got = EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, (int)n);
	while (pad < 2 && sig_b64[n - 1 - pad] == '=')
		pad++;
	if (got < (int)pad)
		return sp_error(err, 0, "the signature is not base64");
	got -= (int)pad;
	k = load_key(key_pem, err);
	if (!k)
		return -1;
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_PKEY_is_a(k, "EC") ? EVP_sha256() : NULL,
					NULL, k) == 1)
		ok = EVP_DigestVerify(ctx, sig, (size_t)got, payload, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok ? 0 : sp_error(err, 0, "the signature does not verify");
}

int sp_cosign_payload(const uint8_t *payload, size_t len, char ref[300],
		      char digest[SP_DIGEST_LEN + 1], struct sp_err *err)
{
	json_object *o = parse_obj((const char *)payload, len, SP_COSIGN_PAYLOAD_MAX, err);
	const char *type, *r, *d;
	int ret = -1;

	if (!o)
		return sp_error_wrap(err, "signature payload");
	type = str_at(o, (const char *const[]){ "critical", "type", NULL });
	r = str_at(o, (const char *const[]){ "critical", "identity", "docker-reference", NULL });
	d = str_at(o, (const char *const[]){ "critical", "image", "docker-manifest-digest", NULL });
	if (!type || strcmp(type, PAYLOAD_TYPE) != 0)
		sp_error(err, 0, "signature payload: critical.type is not \"" PAYLOAD_TYPE "\"");
	else if (!r || !*r || strlen(r) >= 300)
		sp_error(err, 0, "signature payload: no critical.identity.docker-reference");
	else if (!d || !sp_digest_valid(d))
		sp_error(err, 0,
			 "signature payload: no sha256 critical.image.docker-manifest-digest");
	else
		ret = 0;
	if (ret == 0) {
		memcpy(ref, r, strlen(r) + 1);
		memcpy(digest, d, strlen(d) + 1);
	}
	json_object_put(o);
	return ret;
}
