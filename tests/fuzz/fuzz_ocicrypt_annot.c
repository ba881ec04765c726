/* Arbitrary bytes as an encrypted layer's annotations (registry bytes, decrypt.h): the first
 * byte picks what the rest is: 0 pubopts, 1 a key-provider annotation (comma-separated packets,
 * each unwrapped with a fixed KEK), 2 the private options a key wrapper opened, 3 the frames a
 * layer worker takes (keys and annotations). What is accepted must keep the parsers' promises:
 * a packet's kid is a kbs:/// URI the KBS client takes, its sealed key longer than its tag. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "image/decrypt.h"
#include "image/wire.h"

static void packets(const char *s, size_t n)
{
	static const uint8_t kek[32] = { 1, 2, 3 };
	struct sp_enc_priv priv;
	struct sp_err err;
	const char *e;
	size_t el;

	for (size_t i = 0; sp_enc_annot_entry(s, n, i, &e, &el) == 0 && i < 64; i++) {
		struct sp_enc_packet pk;
		char path[600];

		if (sp_enc_packet_parse(e, el, &pk, &err) < 0)
			continue;
		if (sp_kbs_parse_uri(pk.kid, path, sizeof(path), &err) < 0 || pk.wrapped_len <= 16)
			abort();
		if (sp_enc_packet_unwrap(&pk, kek, sizeof(kek), &priv, &err) == 0)
			sp_enc_priv_wipe(&priv);
		sp_enc_packet_free(&pk);
	}
}

static void frames(const uint8_t *p, size_t n)
{
	struct sp_enc_layer l;
	struct sp_enc_pub pub;
	struct sp_enc_priv priv;
	struct sp_err err;

	memset(&l, 0, sizeof(l));
	/* frames of [type byte][u16 length][payload] */
	while (n >= 3) {
		size_t len = (size_t)p[1] | (size_t)p[2] << 8;
		uint32_t type = p[0] & 1 ? IMG_DEC_KEY : IMG_LAYER_ENC;

		p += 3, n -= 3;
		if (len > n)
			len = n;
		(void)sp_enc_layer_take(&l, type, p, (uint32_t)len);
		p += len, n -= len;
	}
	if (sp_enc_layer_keys(&l.a, &l.keys, &pub, &priv, &err) == 0)
		sp_enc_priv_wipe(&priv);
	sp_enc_layer_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_enc_pub pub;
	struct sp_enc_priv priv;
	struct sp_err err;
	char *s;

	if (size < 1 || size > SP_ENC_ANNOT_MAX)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		(void)sp_enc_pubopts_parse(s, size - 1, &pub, &err);
		break;
	case 1:
		packets(s, size - 1);
		break;
	case 2:
		if (sp_enc_privopts_parse((const uint8_t *)s, size - 1, &priv, &err) == 0) {
			if (priv.digest[0] && !sp_digest_valid(priv.digest))
				abort();
			sp_enc_priv_wipe(&priv);
		}
		break;
	default:
		frames(data + 1, size - 1);
	}
	free(s);
	return 0;
}
