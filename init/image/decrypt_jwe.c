/* The JWE key wrapper of ocicrypt (decrypt.h): each comma-separated entry of the annotation is
 * base64 of a JWE in JSON serialization, general (a "recipients" array) or flattened (one
 * recipient's "encrypted_key" and "header" at the top). ocicrypt encrypts for RSA keys with
 * RSA-OAEP (SHA-1) and accepts RSA-OAEP-256; the content is A256GCM over the private options,
 * the protected header (and "aad" when present) authenticated. An EC recipient
 * (ECDH-ES+A256KW) is refused, naming its alg. */
#define _GNU_SOURCE
#include "image/decrypt.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "attest/attest_int.h"
#include "attest/json.h"
#include "lib/cleanup.h"

#define MAX_RECIPIENTS 64

struct jwe_ct {
	const char *prot, *aad; /* as sent (base64url): the AAD */
	size_t prot_len, aad_len;
	uint8_t *iv, *ct, *tag;
	size_t iv_len, ct_len, tag_len;
	struct json_object *ph; /* the protected header, parsed (may be NULL) */
	struct json_object *shared;
};

static void jwe_ct_free(struct jwe_ct *j)
{
	free(j->iv), free(j->ct), free(j->tag);
	if (j->ph)
		json_object_put(j->ph);
}

static int b64u_member(struct json_object *o, const char *key, uint8_t **out, size_t *n,
		       struct sp_err *err)
{
	size_t slen = 0;
	const char *s = sp_json_str(o, key, &slen);

	if (!s || sp_b64_decode(s, slen, true, out, n) < 0)
		return sp_error(err, 0, "JWE: %s is missing or not base64url", key);
	return 0;
}

static int jwe_content(struct json_object *root, struct jwe_ct *j, struct sp_err *err)
{
	cleanup_free uint8_t *ph = NULL;
	size_t phl = 0;

	j->prot = sp_json_str(root, "protected", &j->prot_len);
	j->aad = sp_json_str(root, "aad", &j->aad_len);
	if (j->prot) {
		if (sp_b64_decode(j->prot, j->prot_len, true, &ph, &phl) < 0 ||
		    sp_json_parse((const char *)ph, phl, &j->ph, err) < 0 ||
		    !json_object_is_type(j->ph, json_type_object))
			return sp_error(err, 0, "JWE: the protected header is not a JSON object");
	}
	if (json_object_object_get_ex(root, "unprotected", &j->shared) &&
	    !json_object_is_type(j->shared, json_type_object))
		return sp_error(err, 0, "JWE: unprotected is not an object");
	if (b64u_member(root, "iv", &j->iv, &j->iv_len, err) < 0 ||
	    b64u_member(root, "ciphertext", &j->ct, &j->ct_len, err) < 0 ||
	    b64u_member(root, "tag", &j->tag, &j->tag_len, err) < 0)
		return -1;
	if (j->iv_len != 12 || j->tag_len != 16)
		return sp_error(err, 0, "JWE: iv must be 12 bytes and tag 16");
	return 0;
}

/* A header member from the protected, shared or per-recipient header (first found). */
static const char *hdr_str(const struct jwe_ct *j, struct json_object *rh, const char *key)
{
	const char *v = sp_json_str(j->ph, key, NULL);

	if (!v)
		v = sp_json_str(j->shared, key, NULL);
	if (!v)
		v = sp_json_str(rh, key, NULL);
	return v;
}

static int rsa_cek(EVP_PKEY *pk, const char *alg, const uint8_t *ek, size_t ekl, uint8_t cek[32])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	const EVP_MD *md = strcmp(alg, "RSA-OAEP") == 0 ? EVP_sha1() : EVP_sha256();
	uint8_t buf[1024];
	size_t n = sizeof(buf);
	int ret = -1;

	if (ctx && EVP_PKEY_decrypt_init(ctx) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
	    EVP_PKEY_decrypt(ctx, buf, &n, ek, ekl) > 0 && n == 32) {
		memcpy(cek, buf, 32);
		ret = 0;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* AES-256-GCM: 0 with the private options when the tag holds; 1 when it does not, which the
 * caller reports exactly as a key that RSA-OAEP did not open (the registry chooses the
 * encrypted_key: telling the two apart would make the pull an OAEP padding oracle). */
static int jwe_open(const struct jwe_ct *j, const uint8_t cek[32], struct sp_enc_priv *priv,
		    struct sp_err *err)
{
	cleanup_evp_ctx EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	cleanup_wipe uint8_t *out = malloc(j->ct_len + 1);
	int outl = 0, fin = 0, l = 0;

	if (!c || !out || !EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) ||
	    !EVP_DecryptInit_ex(c, NULL, NULL, cek, j->iv) ||
	    (j->prot &&
	     !EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)j->prot, (int)j->prot_len)) ||
	    (j->aad &&
	     (!EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)".", 1) ||
	      !EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)j->aad, (int)j->aad_len))) ||
	    !EVP_DecryptUpdate(c, out, &outl, j->ct, (int)j->ct_len) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, j->tag) ||
	    EVP_DecryptFinal_ex(c, out + outl, &fin) <= 0)
		return 1; // NOLINT(clang-analyzer-unix.Malloc): out is cleanup_wipe
	return sp_enc_privopts_parse(out, (size_t)outl + (size_t)fin, priv, err);
}

/* Recipient rh (its header) with encrypted_key: 0 opened, 1 not for this key, -1 refused. */
static int try_recipient(const struct jwe_ct *j, struct json_object *r, EVP_PKEY *pk,
			 struct sp_enc_priv *priv, struct sp_err *err)
{
	struct json_object *rh = NULL;
	cleanup_free uint8_t *ek = NULL;
	const char *alg, *enc;
	uint8_t cek[32];
	size_t ekl = 0;
	int ret;

	if (json_object_object_get_ex(r, "header", &rh) &&
	    !json_object_is_type(rh, json_type_object))
		return sp_error(err, 0, "JWE: a recipient's header is not an object");
	alg = hdr_str(j, rh, "alg");
	enc = hdr_str(j, rh, "enc");
	if (!enc || strcmp(enc, "A256GCM") != 0)
		return sp_error(err, 0, "JWE: enc is not A256GCM");
	if (hdr_str(j, rh, "zip") || hdr_str(j, rh, "crit"))
		return sp_error(err, 0, "JWE: zip and crit are unsupported");
	if (!alg || (strcmp(alg, "RSA-OAEP") != 0 && strcmp(alg, "RSA-OAEP-256") != 0) ||
	    EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
		return 1; /* another recipient's (an EC key's, say) */
	if (b64u_member(r, "encrypted_key", &ek, &ekl, err) < 0)
		return -1;
	if (rsa_cek(pk, alg, ek, ekl, cek) < 0)
		return 1;
	ret = jwe_open(j, cek, priv, err);
	OPENSSL_cleanse(cek, sizeof(cek));
	return ret;
}

/* One JWE (JSON text): 0 opened, 1 no recipient for this key, -1 refused. */
static int jwe_one(const char *json, size_t len, EVP_PKEY *pk, struct sp_enc_priv *priv,
		   struct sp_err *err)
{
	cleanup_json struct json_object *root = NULL;
	__attribute__((cleanup(jwe_ct_free))) struct jwe_ct j = { 0 };
	struct json_object *rs;
	size_t n;

	if (sp_json_parse(json, len, &root, err) < 0 ||
	    !json_object_is_type(root, json_type_object))
		return sp_error(err, 0, "JWE: not a JSON object");
	if (jwe_content(root, &j, err) < 0)
		return -1;
	if (!json_object_object_get_ex(root, "recipients", &rs))
		return try_recipient(&j, root, pk, priv, err); /* flattened */
	if (!json_object_is_type(rs, json_type_array) || (n = json_object_array_length(rs)) == 0 ||
	    n > MAX_RECIPIENTS)
		return sp_error(err, 0, "JWE: recipients is not an array of 1 to %d",
				MAX_RECIPIENTS);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(rs, i);
		int ret;

		if (!json_object_is_type(r, json_type_object))
			return sp_error(err, 0, "JWE: recipient %zu is not an object", i);
		if ((ret = try_recipient(&j, r, pk, priv, err)) <= 0)
			return ret;
	}
	return 1;
}

static EVP_PKEY *load_key(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return pk;
}

int sp_enc_jwe_unwrap(const char *annot, size_t len, const char *pem, size_t pem_len,
		      struct sp_enc_priv *priv, struct sp_err *err)
{
	EVP_PKEY *pk;
	const char *e;
	size_t elen;
	int ret = 1;

	memset(priv, 0, sizeof(*priv));
	if (len > SP_ENC_ANNOT_MAX || pem_len > SP_ENC_KEY_MAX)
		return sp_error(err, 0, "JWE: the annotation or the key is too large");
	pk = load_key(pem, pem_len);
	if (!pk)
		return sp_error(err, 0, "JWE: the private key is not a PEM private key");
	for (size_t i = 0; ret == 1 && sp_enc_annot_entry(annot, len, i, &e, &elen) == 0; i++) {
		cleanup_wipe uint8_t *raw = NULL;
		size_t rlen = 0;

		if (sp_b64_decode(e, elen, false, &raw, &rlen) < 0) {
			ret = sp_error(err, 0, "JWE: entry %zu is not base64", i);
			break;
		}
		ret = jwe_one((const char *)raw, rlen, pk, priv, err);
	}
	EVP_PKEY_free(pk);
	if (ret == 1)
		return sp_error(err, 0, "JWE: no recipient of the layer is for this private key");
	if (ret < 0)
		sp_enc_priv_wipe(priv);
	return ret;
}
