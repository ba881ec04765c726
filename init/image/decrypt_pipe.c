/* Decryption keys and an encrypted layer's annotations on their way through a pull's processes,
 * and the choice of the layer key in the parser worker (decrypt.h). */
#define _GNU_SOURCE
#include "image/decrypt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "image/image_int.h"
#include "image/wire.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/worker.h"

/* --- keys ------------------------------------------------------------------------------------- */

int sp_dec_keys_add(struct sp_dec_keys *ks, const char *uri, const uint8_t *data, size_t len)
{
	struct sp_dec_key *k;

	if (ks->n >= SP_DEC_KEYS_MAX || len == 0 || len > SP_ENC_KEY_MAX ||
	    strlen(uri) > SP_ENC_KID_MAX)
		return -1;
	k = &ks->k[ks->n];
	k->data = malloc(len);
	if (!k->data)
		return -1;
	memcpy(k->data, data, len);
	k->len = len;
	(void)snprintf(k->uri, sizeof(k->uri), "%s", uri);
	ks->n++;
	return 0;
}

void sp_dec_keys_wipe(struct sp_dec_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->k[i].data)
			OPENSSL_cleanse(ks->k[i].data, ks->k[i].len);
		free(ks->k[i].data);
	}
	OPENSSL_cleanse(ks, sizeof(*ks));
}

/* The frame of k (heap, secret): uri[512], then the key. */
static uint8_t *key_frame(const struct sp_dec_key *k, size_t *n)
{
	uint8_t *b;

	*n = SP_ENC_KID_MAX + 1 + k->len;
	b = calloc(1, *n);
	if (!b)
		return NULL;
	memcpy(b, k->uri, strlen(k->uri));
	memcpy(b + SP_ENC_KID_MAX + 1, k->data, k->len);
	return b;
}

int sp_dec_key_send_worker(struct sp_worker *w, uint32_t type, const struct sp_dec_key *k,
			   struct sp_err *err)
{
	size_t n;
	uint8_t *b = key_frame(k, &n);
	int r;

	if (!b)
		return sp_error(err, ENOMEM, "a decryption key");
	r = sp_worker_send(w, type, b, n, err);
	OPENSSL_cleanse(b, n);
	free(b);
	return r;
}

int sp_dec_keys_send(int fd, uint32_t type, const struct sp_dec_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		size_t n;
		uint8_t *b = key_frame(&ks->k[i], &n);
		int r = b ? sp_frame_send(fd, type, b, n) : -1;

		if (b)
			OPENSSL_cleanse(b, n);
		free(b);
		if (r < 0)
			return -1;
	}
	return 0;
}

int sp_dec_keys_take(struct sp_dec_keys *ks, const uint8_t *p, uint32_t len)
{
	char uri[SP_ENC_KID_MAX + 1];

	if (len < SP_DEC_KEY_FRAME_MIN || len > SP_DEC_KEY_FRAME_MAX ||
	    !memchr(p, '\0', SP_ENC_KID_MAX + 1))
		return -1;
	memcpy(uri, p, sizeof(uri));
	return sp_dec_keys_add(ks, uri, p + sizeof(uri), len - sizeof(uri));
}

/* --- annotations ------------------------------------------------------------------------------ */

int sp_enc_annots_send(int fd, uint32_t type, uint32_t idx, const struct sp_enc_annots *a)
{
	for (uint32_t w = 0; w < SP_ENC_NANNOT; w++) {
		size_t n = a->v[w] ? strnlen(a->v[w], SP_ENC_ANNOT_MAX) : 0;
		uint32_t h[2] = { idx, w };
		uint8_t *b;
		int r;

		if (!n)
			continue;
		b = malloc(sizeof(h) + n);
		if (!b)
			return -1;
		memcpy(b, h, sizeof(h));
		memcpy(b + sizeof(h), a->v[w], n);
		r = sp_frame_send(fd, type, b, sizeof(h) + n);
		free(b);
		if (r < 0)
			return -1;
	}
	return 0;
}

int sp_enc_annots_take(struct sp_enc_annots *a, size_t n, const uint8_t *p, uint32_t len)
{
	uint32_t h[2];
	char **dst;

	if (len < SP_ENC_ANNOT_FRAME_MIN || len > SP_ENC_ANNOT_FRAME_MAX)
		return -1;
	memcpy(h, p, sizeof(h));
	if (h[0] >= n || h[1] >= SP_ENC_NANNOT || memchr(p + 8, '\0', len - 8))
		return -1;
	dst = &a[h[0]].v[h[1]];
	if (*dst)
		return -1;
	*dst = strndup((const char *)p + 8, len - 8);
	return *dst ? 0 : -1;
}

bool sp_enc_annots_complete(const struct sp_enc_annots *a)
{
	return a->v[SP_ENC_PUB] && (a->v[SP_ENC_JWE] || a->v[SP_ENC_AA]);
}

void sp_enc_annots_free(struct sp_enc_annots *a)
{
	for (int w = 0; w < SP_ENC_NANNOT; w++) {
		free(a->v[w]);
		a->v[w] = NULL;
	}
}

int sp_layer_send_crypt(int fd, bool encrypted, const struct sp_dec_keys *keys,
			const struct sp_enc_annots *a)
{
	if (!encrypted)
		return 0;
	if (keys && sp_dec_keys_send(fd, IMG_DEC_KEY, keys) < 0)
		return -1;
	return sp_enc_annots_send(fd, IMG_LAYER_ENC, 0, a);
}

int sp_enc_layer_take(struct sp_enc_layer *l, uint32_t type, const uint8_t *p, uint32_t len)
{
	if (type == IMG_DEC_KEY)
		return sp_dec_keys_take(&l->keys, p, len);
	return sp_enc_annots_take(&l->a, 1, p, len);
}

void sp_enc_layer_free(struct sp_enc_layer *l)
{
	sp_dec_keys_wipe(&l->keys);
	sp_enc_annots_free(&l->a);
}

int sp_layer_open_crypt(struct sp_layer_pipe *p, const struct sp_enc_layer *cr, struct sp_err *err)
{
	struct sp_enc_pub pub;
	struct sp_enc_priv priv;
	int r;

	if (sp_enc_layer_keys(&cr->a, &cr->keys, &pub, &priv, err) < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0, "pull.layer: decrypt: %s",
				    err->msg);
	r = sp_layer_pipe_decrypt(p, &pub, &priv);
	sp_enc_priv_wipe(&priv);
	return r < 0 ? sp_pull_fail(err, SP_STAGE_PULL_LAYER, ENOMEM, "pull.layer: decrypt") : 0;
}

int sp_pull_check_encrypted(const char *ref, const struct sp_meta *m, struct sp_err *err)
{
	char shown[128];

	for (size_t i = 0; i < m->n; i++) {
		if (m->layers[i].encrypted)
			continue;
		sp_log_escape(shown, sizeof(shown), ref, strnlen(ref, 100));
		sp_fail(err, SP_E_DENIED, 0,
			"policy.deny: CreateContainerRequest is blocked by policy: "
			"require_encrypted_layers is set and layer %zu of image '%s' (%s) is not "
			"encrypted",
			i, shown, m->layers[i].digest);
		return sp_err_stage(err, SP_STAGE_POLICY_DENY);
	}
	return 0;
}

/* --- the layer key ------------------------------------------------------------------------------ */

static const struct sp_dec_key *key_for(const struct sp_dec_keys *ks, const char *uri)
{
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->k[i].uri, uri) == 0)
			return &ks->k[i];
	return NULL;
}

/* The key-provider packets: 0 opened, 1 none there, -1 failed (naming the kid). */
static int by_packets(const char *v, const struct sp_dec_keys *ks, struct sp_enc_priv *priv,
		      struct sp_err *err)
{
	const char *e;
	size_t elen;
	int ret = 1;

	for (size_t i = 0; ret != 0 && sp_enc_annot_entry(v, strlen(v), i, &e, &elen) == 0; i++) {
		struct sp_enc_packet pk;
		const struct sp_dec_key *k;

		if (sp_enc_packet_parse(e, elen, &pk, err) < 0)
			return -1;
		k = key_for(ks, pk.kid);
		if (!k)
			ret = sp_error(err, 0,
				       "the layer's key %s is not available (not in initdata's "
				       "decryption_keys, or the KBS did not release it)",
				       pk.kid);
		else
			ret = sp_enc_packet_unwrap(&pk, k->data, k->len, priv, err);
		sp_enc_packet_free(&pk);
	}
	return ret;
}

int sp_enc_layer_keys(const struct sp_enc_annots *a, const struct sp_dec_keys *ks,
		      struct sp_enc_pub *pub, struct sp_enc_priv *priv, struct sp_err *err)
{
	int r = 1;

	if (!sp_enc_annots_complete(a))
		return sp_error(err, 0, "the layer lacks pubopts or a key annotation");
	if (sp_enc_pubopts_parse(a->v[SP_ENC_PUB], strlen(a->v[SP_ENC_PUB]), pub, err) < 0)
		return -1;
	if (a->v[SP_ENC_AA] && (r = by_packets(a->v[SP_ENC_AA], ks, priv, err)) == 0)
		return 0;
	if (r < 0 && !a->v[SP_ENC_JWE])
		return -1;
	if (a->v[SP_ENC_JWE]) {
		struct sp_err e2 = { 0 };

		for (size_t i = 0; i < ks->n; i++)
			if (sp_enc_jwe_unwrap(a->v[SP_ENC_JWE], strlen(a->v[SP_ENC_JWE]),
					      (const char *)ks->k[i].data, ks->k[i].len, priv,
					      &e2) == 0)
				return 0;
		if (r < 0) /* the packet's words name the kid: keep them */
			return -1;
		return sp_error(err, 0,
				"no decryption key opens the layer's JWE recipients (%zu key%s "
				"tried%s%s)",
				ks->n, ks->n == 1 ? "" : "s", e2.msg[0] ? ": " : "", e2.msg);
	}
	return sp_error(err, 0, "the layer has no key annotation");
}
