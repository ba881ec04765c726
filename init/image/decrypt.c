/* ocicrypt's layer options, the key-provider packet and the layer cipher (decrypt.h). */
#define _GNU_SOURCE
#include "image/decrypt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "attest/attest_int.h"
#include "attest/json.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define CIPHER_NAME "AES_256_CTR_HMAC_SHA256"

/* --- helpers ----------------------------------------------------------------------------------- */

/* o[key], a standard base64 string, decoded into exactly n bytes of out. */
static int b64_exact(struct json_object *o, const char *key, uint8_t *out, size_t n,
		     struct sp_err *err)
{
	cleanup_wipe uint8_t *raw = NULL;
	size_t slen = 0, rlen = 0;
	const char *s = sp_json_str(o, key, &slen);

	if (!s || sp_b64_decode(s, slen, false, &raw, &rlen) < 0)
		return sp_error(err, 0, "%s is missing or not base64", key);
	if (rlen != n)
		return sp_error(err, 0, "%s is %zu bytes, not %zu", key, rlen, n);
	memcpy(out, raw, n);
	return 0;
}

/* A JSON object from a base64 string (the annotations' values). */
static int b64_json(const char *b64, size_t len, struct json_object **o, struct sp_err *err)
{
	cleanup_wipe uint8_t *raw = NULL;
	size_t rlen = 0;

	*o = NULL;
	if (len > SP_ENC_ANNOT_MAX || sp_b64_decode(b64, len, false, &raw, &rlen) < 0)
		return sp_error(err, 0, "not base64 (or over 64 KiB)");
	if (sp_json_parse((const char *)raw, rlen, o, err) < 0)
		return -1;
	if (!json_object_is_type(*o, json_type_object)) {
		json_object_put(*o);
		*o = NULL;
		return sp_error(err, 0, "not a JSON object");
	}
	return 0;
}

int sp_enc_annot_entry(const char *v, size_t vlen, size_t n, const char **p, size_t *len)
{
	size_t start = 0;

	for (size_t i = 0; i <= vlen; i++) {
		if (i < vlen && v[i] != ',')
			continue;
		if (n-- == 0) {
			*p = v + start;
			*len = i - start;
			return 0;
		}
		start = i + 1;
	}
	return -1;
}

/* --- options ----------------------------------------------------------------------------------- */

int sp_enc_pubopts_parse(const char *b64, size_t len, struct sp_enc_pub *pub, struct sp_err *err)
{
	cleanup_json struct json_object *o = NULL;
	const char *cipher;

	memset(pub, 0, sizeof(*pub));
	if (b64_json(b64, len, &o, err) < 0)
		return sp_error_wrap(err, "pubopts");
	cipher = sp_json_str(o, "cipher", NULL);
	if (!cipher || strcmp(cipher, CIPHER_NAME) != 0)
		return sp_error(err, 0, "pubopts: the cipher is not " CIPHER_NAME);
	if (b64_exact(o, "hmac", pub->hmac, sizeof(pub->hmac), err) < 0)
		return sp_error_wrap(err, "pubopts");
	return 0;
}

int sp_enc_privopts_parse(const uint8_t *json, size_t len, struct sp_enc_priv *priv,
			  struct sp_err *err)
{
	cleanup_json struct json_object *o = NULL;
	struct json_object *co = NULL;
	const char *dg;

	memset(priv, 0, sizeof(*priv));
	if (sp_json_parse((const char *)json, len, &o, err) < 0 ||
	    !json_object_is_type(o, json_type_object))
		return sp_error(err, 0, "the layer's private options are not a JSON object");
	if (!json_object_object_get_ex(o, "cipheroptions", &co) ||
	    !json_object_is_type(co, json_type_object))
		return sp_error(err, 0, "the layer's private options have no cipheroptions");
	if (b64_exact(o, "symkey", priv->key, sizeof(priv->key), err) < 0 ||
	    b64_exact(co, "nonce", priv->nonce, sizeof(priv->nonce), err) < 0) {
		sp_enc_priv_wipe(priv);
		return sp_error_wrap(err, "the layer's private options");
	}
	dg = sp_json_str(o, "digest", NULL);
	if (dg && dg[0]) {
		if (!sp_digest_valid(dg)) {
			sp_enc_priv_wipe(priv);
			return sp_error(err, 0,
					"the layer's private digest is not sha256:<64 hex>");
		}
		memcpy(priv->digest, dg, SP_DIGEST_LEN + 1);
	}
	return 0;
}

void sp_enc_priv_wipe(struct sp_enc_priv *priv)
{
	OPENSSL_cleanse(priv, sizeof(*priv));
}

/* --- the key-provider annotation packet --------------------------------------------------------- */

/* kbs:///<repo>/<type>/<tag>, as the KBS client takes it (no "." or ".." part). */
static bool kid_ok(const char *s)
{
	char path[SP_ENC_KID_MAX + 1];
	struct sp_err e;

	return sp_kbs_parse_uri(s, path, sizeof(path), &e) == 0;
}

static int packet_fields(struct json_object *o, struct sp_enc_packet *pk, struct sp_err *err)
{
	const char *kid, *wt, *prov, *wd;
	size_t kid_len = 0, wd_len = 0;
	char esc[80];

	kid = sp_json_str(o, "kid", &kid_len);
	if (!kid || kid_len > SP_ENC_KID_MAX || strlen(kid) != kid_len || !kid_ok(kid)) {
		sp_log_escape(esc, sizeof(esc), kid ? kid : "", kid ? strnlen(kid, 64) : 0);
		return sp_error(err, 0, "kid '%s' is not kbs:///<repo>/<type>/<tag>", esc);
	}
	memcpy(pk->kid, kid, kid_len + 1);
	/* Version 2 of the packet names its provider: only the KBS is one here. */
	prov = sp_json_str(o, "provider", NULL);
	if (json_object_object_get_ex(o, "provider", NULL) && (!prov || strcmp(prov, "kbs") != 0))
		return sp_error(err, 0, "%s: the provider is not kbs", pk->kid);
	wt = sp_json_str(o, "wrap_type", NULL);
	if (!wt || strcmp(wt, "A256GCM") != 0)
		return sp_error(err, 0, "%s: wrap_type is not A256GCM", pk->kid);
	if (b64_exact(o, "iv", pk->iv, sizeof(pk->iv), err) < 0)
		return sp_error_wrap(err, "%s", pk->kid);
	wd = sp_json_str(o, "wrapped_data", &wd_len);
	if (!wd || sp_b64_decode(wd, wd_len, false, &pk->wrapped, &pk->wrapped_len) < 0 ||
	    pk->wrapped_len <= 16)
		return sp_error(err, 0, "%s: wrapped_data is not base64 of a sealed key", pk->kid);
	return 0;
}

int sp_enc_packet_parse(const char *b64, size_t len, struct sp_enc_packet *pk, struct sp_err *err)
{
	cleanup_json struct json_object *o = NULL;

	memset(pk, 0, sizeof(*pk));
	if (b64_json(b64, len, &o, err) < 0)
		return sp_error_wrap(err, "the key-provider annotation packet");
	if (packet_fields(o, pk, err) < 0) {
		sp_enc_packet_free(pk);
		return sp_error_wrap(err, "the key-provider annotation packet");
	}
	return 0;
}

void sp_enc_packet_free(struct sp_enc_packet *pk)
{
	free(pk->wrapped);
	pk->wrapped = NULL;
	pk->wrapped_len = 0;
}

int sp_enc_packet_unwrap(const struct sp_enc_packet *pk, const uint8_t *kek, size_t kek_len,
			 struct sp_enc_priv *priv, struct sp_err *err)
{
	cleanup_evp_ctx EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	cleanup_wipe uint8_t *out = NULL;
	size_t n = pk->wrapped_len - 16;
	int outl = 0, fin = 0;

	if (kek_len != 32)
		return sp_error(err, 0, "the key %s is not a 32-byte KEK", pk->kid);
	if (!c || !(out = malloc(n + 1)) ||
	    !EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) ||
	    !EVP_DecryptInit_ex(c, NULL, NULL, kek, pk->iv) ||
	    !EVP_DecryptUpdate(c, out, &outl, pk->wrapped, (int)n) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, pk->wrapped + n) ||
	    EVP_DecryptFinal_ex(c, out + outl, &fin) <= 0)
		return sp_error(err, 0, // NOLINT(clang-analyzer-unix.Malloc): out is cleanup_wipe
				"the key %s does not open the layer's wrapped key (GCM tag)",
				pk->kid);
	if (sp_enc_privopts_parse(out, (size_t)outl + (size_t)fin, priv, err) < 0)
		return sp_error_wrap(err, "unwrapped with %s", pk->kid);
	return 0;
}

/* --- the layer cipher --------------------------------------------------------------------------- */

struct sp_decrypt {
	EVP_CIPHER_CTX *ctr;
	EVP_MAC_CTX *hmac;
	EVP_MD_CTX *sha;
	uint8_t want[32];
	sp_stream_out_fn out;
	void *arg;
	uint8_t *buf;
	bool failed;
	/* What came after the cipher failed: the rest is only MACed, so that a tampered layer is
	 * reported as one (the HMAC) rather than as the garbage its plaintext became. */
	bool down_failed;
	struct sp_err down_err;
};

#define DEC_BUF ((size_t)64 << 10)

struct sp_decrypt *sp_decrypt_new(const struct sp_enc_priv *priv, const struct sp_enc_pub *pub,
				  sp_stream_out_fn out, void *arg)
{
	struct sp_decrypt *d = calloc(1, sizeof(*d));
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM prm[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
			     OSSL_PARAM_construct_end() };

	if (!d || !mac)
		goto fail;
	d->out = out;
	d->arg = arg;
	memcpy(d->want, pub->hmac, sizeof(d->want));
	d->ctr = EVP_CIPHER_CTX_new();
	d->hmac = EVP_MAC_CTX_new(mac);
	d->sha = EVP_MD_CTX_new();
	d->buf = malloc(DEC_BUF);
	if (!d->ctr || !d->hmac || !d->sha || !d->buf ||
	    !EVP_DecryptInit_ex(d->ctr, EVP_aes_256_ctr(), NULL, priv->key, priv->nonce) ||
	    !EVP_MAC_init(d->hmac, priv->key, sizeof(priv->key), prm) ||
	    !EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL))
		goto fail;
	EVP_MAC_free(mac);
	return d;
fail:
	EVP_MAC_free(mac);
	sp_decrypt_free(d);
	return NULL;
}

int sp_decrypt_feed(struct sp_decrypt *d, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (d->failed)
		return sp_error(err, 0, "the layer decryption already failed");
	if (!EVP_MAC_update(d->hmac, buf, len) || !EVP_DigestUpdate(d->sha, buf, len)) {
		d->failed = true;
		return sp_error(err, 0, "decrypt: HMAC");
	}
	while (len) {
		size_t n = len < DEC_BUF ? len : DEC_BUF;
		int outl = 0;

		if (!EVP_DecryptUpdate(d->ctr, d->buf, &outl, buf, (int)n) || (size_t)outl != n) {
			d->failed = true;
			return sp_error(err, 0, "decrypt: AES-CTR");
		}
		if (!d->down_failed && d->out(d->arg, d->buf, n, &d->down_err) < 0)
			d->down_failed = true;
		buf += n;
		len -= n;
	}
	return 0;
}

int sp_decrypt_finish(struct sp_decrypt *d, char *blob_digest, struct sp_err *err)
{
	uint8_t mac[32], md[32];
	size_t mlen = 0;
	unsigned int n = 0;
	static const char hex[] = "0123456789abcdef";

	if (d->failed)
		return sp_error(err, 0, "the layer decryption already failed");
	if (!EVP_MAC_final(d->hmac, mac, &mlen, sizeof(mac)) || mlen != 32 ||
	    CRYPTO_memcmp(mac, d->want, 32) != 0) {
		d->failed = true;
		return sp_error(err, 0,
				"the layer's HMAC does not match its pubopts (tampered ciphertext "
				"or wrong key): nothing of it is used");
	}
	if (d->down_failed) {
		d->failed = true;
		if (err)
			*err = d->down_err;
		return -1;
	}
	(void)EVP_DigestFinal_ex(d->sha, md, &n);
	(void)snprintf(blob_digest, SP_DIGEST_LEN + 1, "sha256:");
	for (size_t i = 0; i < 32; i++) {
		blob_digest[7 + 2 * i] = hex[md[i] >> 4];
		blob_digest[8 + 2 * i] = hex[md[i] & 15];
	}
	blob_digest[SP_DIGEST_LEN] = '\0';
	return 0;
}

void sp_decrypt_free(struct sp_decrypt *d)
{
	if (!d)
		return;
	EVP_CIPHER_CTX_free(d->ctr);
	EVP_MAC_CTX_free(d->hmac);
	EVP_MD_CTX_free(d->sha);
	if (d->buf)
		OPENSSL_cleanse(d->buf, DEC_BUF);
	free(d->buf);
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
}
