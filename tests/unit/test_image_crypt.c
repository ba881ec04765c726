/* Encrypted layers (decrypt.c, decrypt_jwe.c) against real producers: a layer skopeo 1.9
 * (containers/ocicrypt) encrypted for an RSA key with JWE, and one our key-provider encryptor
 * (tests/image/crypt_image.py) sealed under a KEK, both in tests/data/ocicrypt/. Each must
 * decrypt to the bytes whose diff_id the image names; a flipped ciphertext byte, a wrong key and
 * every malformed annotation are refused. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attest/attest_int.h"
#include "image/decrypt.h"
#include "image/image_int.h"
#include "image/manifest.h"
#include "image/wire.h"
#include "policy/policy.h"
#include "unit.h"

#define DATA "tests/data/ocicrypt/"
#define D1   "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = 0;
	fclose(f);
	return b;
}

struct fixture {
	json_object *root, *desc, *ann;
	const char *digest, *diff_id, *jwe, *aa, *pub;
	uint8_t *blob;
	size_t blob_len;
};

static int fixture_load(const char *name, struct fixture *fx)
{
	char path[256];
	size_t n;
	char *text;
	json_object *v;

	memset(fx, 0, sizeof(*fx));
	(void)snprintf(path, sizeof(path), DATA "%s.json", name);
	text = slurp(path, &n);
	if (!text)
		return -1;
	fx->root = json_tokener_parse(text);
	free(text);
	if (!fx->root || !json_object_object_get_ex(fx->root, "descriptor", &fx->desc) ||
	    !json_object_object_get_ex(fx->desc, "annotations", &fx->ann))
		return -1;
	fx->digest = json_object_get_string(json_object_object_get(fx->desc, "digest"));
	fx->diff_id = json_object_get_string(json_object_object_get(fx->root, "diff_id"));
	if (json_object_object_get_ex(fx->ann, SP_ENC_ANNOT_JWE, &v))
		fx->jwe = json_object_get_string(v);
	if (json_object_object_get_ex(fx->ann, SP_ENC_ANNOT_AA, &v))
		fx->aa = json_object_get_string(v);
	if (json_object_object_get_ex(fx->ann, SP_ENC_ANNOT_PUBOPTS, &v))
		fx->pub = json_object_get_string(v);
	(void)snprintf(path, sizeof(path), DATA "%s.bin", name);
	fx->blob = (uint8_t *)slurp(path, &fx->blob_len);
	return fx->blob && fx->pub ? 0 : -1;
}

static void fixture_free(struct fixture *fx)
{
	json_object_put(fx->root);
	free(fx->blob);
}

struct sink {
	struct sp_stream *s;
};

static int to_stream(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	return sp_stream_feed(((struct sink *)arg)->s, buf, len, err);
}

static int discard(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	(void)arg, (void)buf, (void)len, (void)err;
	return 0;
}

/* The blob through the cipher and gzip in odd-sized pieces: 0 with the ciphertext's digest, the
 * plaintext blob's and the diff_id, or -1 with err. */
static int run_layer(const struct fixture *fx, const struct sp_enc_priv *priv, const uint8_t *blob,
		     char *ct_digest, char *plain_digest, char *diff, struct sp_err *err)
{
	struct sp_enc_pub pub;
	struct sink k = { sp_stream_new(SP_COMP_GZIP, 1 << 20, discard, NULL) };
	struct sp_decrypt *d;
	int ret = -1;

	if (sp_enc_pubopts_parse(fx->pub, strlen(fx->pub), &pub, err) < 0)
		return -1;
	d = sp_decrypt_new(priv, &pub, to_stream, &k);
	if (!d || !k.s)
		goto out;
	for (size_t off = 0; off < fx->blob_len; off += 7) {
		size_t n = fx->blob_len - off < 7 ? fx->blob_len - off : 7;

		if (sp_decrypt_feed(d, blob + off, n, err) < 0)
			goto out;
	}
	if (sp_decrypt_finish(d, ct_digest, err) == 0 &&
	    sp_stream_finish(k.s, plain_digest, diff, err) == 0)
		ret = 0;
out:
	sp_decrypt_free(d);
	sp_stream_free(k.s);
	return ret;
}

static char *key_pem(size_t *len)
{
	return slurp(DATA "jwe-priv.pem", len);
}

TEST(image_crypt_jwe_skopeo_layer)
{
	struct fixture fx;
	struct sp_enc_priv priv;
	struct sp_err err = { 0 };
	char ct[SP_DIGEST_LEN + 1], plain[SP_DIGEST_LEN + 1], diff[SP_DIGEST_LEN + 1];
	size_t pem_len = 0;
	char *pem = key_pem(&pem_len);
	uint8_t *bad;

	REQUIRE(pem && fixture_load("jwe-layer", &fx) == 0 && fx.jwe);
	REQUIRE(sp_enc_jwe_unwrap(fx.jwe, strlen(fx.jwe), pem, pem_len, &priv, &err) == 0);
	REQUIRE(run_layer(&fx, &priv, fx.blob, ct, plain, diff, &err) == 0);
	CHECK(strcmp(ct, fx.digest) == 0);
	CHECK(strcmp(diff, fx.diff_id) == 0);
	CHECK(!priv.digest[0] || strcmp(priv.digest, plain) == 0);
	/* one flipped ciphertext byte: the HMAC refuses the layer */
	bad = malloc(fx.blob_len);
	REQUIRE(bad);
	memcpy(bad, fx.blob, fx.blob_len);
	bad[fx.blob_len / 2] ^= 1;
	err.msg[0] = 0;
	CHECK(run_layer(&fx, &priv, bad, ct, plain, diff, &err) < 0);
	CHECK(strstr(err.msg, "HMAC") != NULL);
	free(bad);
	sp_enc_priv_wipe(&priv);
	fixture_free(&fx);
	free(pem);
}

TEST(image_crypt_jwe_wrong_key_and_malformed)
{
	struct fixture fx;
	struct sp_enc_priv priv;
	struct sp_err err = { 0 };
	EVP_PKEY *k = EVP_RSA_gen(2048);
	BIO *b = BIO_new(BIO_s_mem());
	char *other = NULL, *pem;
	long n;
	size_t pem_len = 0;

	REQUIRE(k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	n = BIO_get_mem_data(b, &other);
	REQUIRE(fixture_load("jwe-layer", &fx) == 0 && fx.jwe);
	CHECK(sp_enc_jwe_unwrap(fx.jwe, strlen(fx.jwe), other, (size_t)n, &priv, &err) < 0);
	CHECK(strstr(err.msg, "no recipient") != NULL);
	pem = key_pem(&pem_len);
	REQUIRE(pem);
	CHECK(sp_enc_jwe_unwrap(fx.jwe, strlen(fx.jwe), "not a key", 9, &priv, &err) < 0);
	CHECK(sp_enc_jwe_unwrap("!!!", 3, pem, pem_len, &priv, &err) < 0);
	CHECK(sp_enc_jwe_unwrap("e30=", 4, pem, pem_len, &priv, &err) < 0); /* {} */
	CHECK(sp_enc_jwe_unwrap("", 0, pem, pem_len, &priv, &err) < 0);
	/* a second entry after a garbage one is not reached: refused at the first */
	CHECK(sp_enc_jwe_unwrap("W10=,e30=", 9, pem, pem_len, &priv, &err) < 0);
	free(pem);
	fixture_free(&fx);
	BIO_free(b);
	EVP_PKEY_free(k);
}

TEST(image_crypt_key_provider_packet)
{
	struct fixture fx;
	struct sp_enc_packet pk;
	struct sp_enc_priv priv;
	struct sp_err err = { 0 };
	char ct[SP_DIGEST_LEN + 1], plain[SP_DIGEST_LEN + 1], diff[SP_DIGEST_LEN + 1];
	uint8_t kek[32];
	json_object *v;
	const char *hex;

	REQUIRE(fixture_load("aa-layer", &fx) == 0 && fx.aa);
	REQUIRE(json_object_object_get_ex(fx.root, "kek_hex", &v));
	hex = json_object_get_string(v);
	for (size_t i = 0; i < 32; i++)
		REQUIRE(sscanf(hex + 2 * i, "%2hhx", &kek[i]) == 1);
	REQUIRE(sp_enc_packet_parse(fx.aa, strlen(fx.aa), &pk, &err) == 0);
	CHECK(strcmp(pk.kid, "kbs:///default/image-kek/layer1") == 0);
	REQUIRE(sp_enc_packet_unwrap(&pk, kek, 32, &priv, &err) == 0);
	REQUIRE(run_layer(&fx, &priv, fx.blob, ct, plain, diff, &err) == 0);
	CHECK(strcmp(ct, fx.digest) == 0 && strcmp(diff, fx.diff_id) == 0);
	CHECK(strcmp(priv.digest, plain) == 0);
	/* a wrong KEK: refused, naming the kid */
	kek[0] ^= 1;
	CHECK(sp_enc_packet_unwrap(&pk, kek, 32, &priv, &err) < 0);
	CHECK(strstr(err.msg, "kbs:///default/image-kek/layer1") != NULL);
	CHECK(sp_enc_packet_unwrap(&pk, kek, 16, &priv, &err) < 0);
	sp_enc_packet_free(&pk);
	fixture_free(&fx);
}

/* base64 of s, for the malformed packets below. */
static int packet_of(const char *json, struct sp_enc_packet *pk, struct sp_err *err)
{
	char *b = sp_b64_encode((const uint8_t *)json, strlen(json), false);
	int r = b ? sp_enc_packet_parse(b, strlen(b), pk, err) : -1;

	if (r == 0)
		sp_enc_packet_free(pk);
	free(b);
	return r;
}

TEST(image_crypt_annotation_refusals)
{
	static const char *const packets[] = {
		"[]",
		"{}",
		"{\"kid\":\"https://x/a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\"}",
		"{\"kid\":\"kbs:///a/b\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\"}",
		"{\"kid\":\"kbs:///a/../c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\"}",
		"{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A128KW\"}",
		"{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAA\",\"iv\":\"AAAAAAAAAAAAAAAA\","
		"\"wrap_type\":\"A256GCM\"}",
		"{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"iv\":\"AAAA\",\"wrap_type\":\"A256GCM\"}",
		"{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"iv\":\"AAAAAAAAAAAAAAAA\",\"wrap_type\":\"A256GCM\",\"provider\":\"aliyun\"}",
	};
	static const char ok[] = "{\"kid\":\"kbs:///a/b/c\",\"wrapped_data\":"
				 "\"AAAAAAAAAAAAAAAAAAAAAAAA\",\"iv\":\"AAAAAAAAAAAAAAAA\","
				 "\"wrap_type\":\"A256GCM\",\"provider\":\"kbs\",\"version\":\"0.1."
				 "0\"}";
	struct sp_enc_packet pk;
	struct sp_enc_pub pub;
	struct sp_enc_priv priv;
	struct sp_err err;
	const char *e;
	size_t el;

	for (size_t i = 0; i < sizeof(packets) / sizeof(packets[0]); i++)
		CHECK(packet_of(packets[i], &pk, &err) < 0);
	CHECK(packet_of(ok, &pk, &err) == 0);
	CHECK(sp_enc_packet_parse("%%%", 3, &pk, &err) < 0);
	/* pubopts: another cipher, a short HMAC */
	CHECK(sp_enc_pubopts_parse("eyJjaXBoZXIiOiJBRVNfMTI4X0dDTSJ9", 32, &pub, &err) < 0);
	{
		static const char j[] = "{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":"
					"\"AAAA\"}";
		char *b = sp_b64_encode((const uint8_t *)j, strlen(j), false);

		CHECK(b && sp_enc_pubopts_parse(b, strlen(b), &pub, &err) < 0);
		free(b);
	}
	/* private options: no nonce, a short key, a bad digest */
	CHECK(sp_enc_privopts_parse((const uint8_t *)"{\"symkey\":\"AAAA\"}", 17, &priv, &err) < 0);
	CHECK(sp_enc_privopts_parse((const uint8_t *)"{\"symkey\":"
						     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
						     "=\","
						     "\"cipheroptions\":{\"nonce\":"
						     "\"AAAAAAAAAAAAAAAAAAAAAA==\"},"
						     "\"digest\":\"md5:x\"}",
				    129, &priv, &err) < 0);
	/* comma-separated entries */
	CHECK(sp_enc_annot_entry("a,bc,", 5, 1, &e, &el) == 0 && el == 2 && e[0] == 'b');
	CHECK(sp_enc_annot_entry("a,bc,", 5, 2, &e, &el) == 0 && el == 0);
	CHECK(sp_enc_annot_entry("a,bc,", 5, 3, &e, &el) < 0);
}

TEST(image_crypt_manifest_media_types)
{
	static struct sp_manifest m;
	struct fixture fx;
	struct sp_err err;
	char *body = NULL;
	json_object *man;

	CHECK(sp_layer_compression("application/vnd.oci.image.layer.v1.tar+gzip+encrypted") ==
	      SP_COMP_GZIP);
	CHECK(sp_layer_compression("application/vnd.oci.image.layer.v1.tar+zstd+encrypted") ==
	      SP_COMP_ZSTD);
	CHECK(sp_layer_compression("application/vnd.oci.image.layer.v1.tar+encrypted") ==
	      SP_COMP_NONE);
	CHECK(sp_layer_encrypted("application/vnd.oci.image.layer.v1.tar+encrypted"));
	CHECK(!sp_layer_encrypted("application/vnd.oci.image.layer.v1.tar"));
	CHECK(sp_layer_compression("+encrypted") < 0 && !sp_layer_encrypted("+encrypted"));
	CHECK(sp_layer_compression("application/vnd.oci.image.layer.v1.tar+encrypted+encrypted") <
	      0);
	REQUIRE(fixture_load("jwe-layer", &fx) == 0);
	man = json_object_new_object();
	json_object_object_add(man, "schemaVersion", json_object_new_int(2));
	json_object_object_add(man, "config",
			       json_tokener_parse("{\"mediaType\":\"application/"
						  "vnd.oci.image.config.v1+json\","
						  "\"digest\":\"sha256:"
						  "1111111111111111111111111111111111111111111"
						  "111111111111111111111\",\"size\":3}"));
	json_object_object_add(man, "layers", json_object_new_array());
	json_object_array_add(json_object_object_get(man, "layers"), json_object_get(fx.desc));
	body = strdup(json_object_to_json_string(man));
	REQUIRE(body);
	REQUIRE(sp_manifest_parse(body, strlen(body), SP_MT_OCI_MANIFEST, &m, &err) == 0);
	CHECK(m.entries[0].encrypted && m.entries[0].enc_jwe && m.entries[0].enc_pub &&
	      !m.entries[0].enc_aa);
	/* without its pubopts the encrypted layer is refused */
	json_object_object_del(fx.ann, SP_ENC_ANNOT_PUBOPTS);
	free(body);
	body = strdup(json_object_to_json_string(man));
	CHECK(sp_manifest_parse(body, strlen(body), SP_MT_OCI_MANIFEST, &m, &err) < 0);
	CHECK(strstr(err.msg, SP_ENC_ANNOT_PUBOPTS) != NULL);
	sp_manifest_free(&m);
	free(body);
	json_object_put(man);
	fixture_free(&fx);
}

/* skopeo with two --encryption-key: the general serialization, our key the second recipient
 * (the fuzz seed tests/fuzz/make-seeds wrote from it). */
TEST(image_crypt_jwe_two_recipients)
{
	struct sp_enc_priv priv;
	struct sp_err err = { 0 };
	size_t n = 0, pem_len = 0;
	char *annot = slurp("tests/fuzz/corpus/fuzz_jwe_recipients/real-skopeo-jwe-2", &n);
	char *pem = key_pem(&pem_len);

	REQUIRE(annot && pem);
	CHECK(strchr(annot, ',') == NULL); /* one JWE, two recipients inside */
	CHECK(sp_enc_jwe_unwrap(annot, n, pem, pem_len, &priv, &err) == 0);
	sp_enc_priv_wipe(&priv);
	free(annot);
	free(pem);
}

/* The metadata worker's frames as the pull worker takes them (wire.c): an encrypted layer's
 * annotations follow it, complete (pubopts and a key wrapper) by the end, or the stream is
 * refused; annotations of a plain layer or of another layer are refused. */
static int meta_stream(bool encrypted, const uint32_t *which, size_t n, uint32_t idx)
{
	static struct sp_meta m;
	struct sp_img_head h = { .digest = D1, .config_digest = D1 };
	struct sp_img_layer l = { .digest = D1, .diff_id = D1, .encrypted = encrypted };
	struct sp_err err;
	int r;

	sp_meta_free(&m);
	memset(&m, 0, sizeof(m));
	if (sp_img_take(&m, SP_IMG_META, IMG_HEAD, (const uint8_t *)&h, sizeof(h), &err) != 0 ||
	    sp_img_take(&m, SP_IMG_META, IMG_LAYER, (const uint8_t *)&l, sizeof(l), &err) != 0)
		return -2;
	for (size_t i = 0; i < n; i++) {
		uint8_t f[12];
		uint32_t hdr[2] = { idx, which[i] };

		memcpy(f, hdr, sizeof(hdr));
		memcpy(f + 8, "abcd", 4);
		if (sp_img_take(&m, SP_IMG_META, IMG_LAYER_ENC, f, sizeof(f), &err) != 0)
			return -1;
	}
	r = sp_img_take(&m, SP_IMG_META, IMG_END, NULL, 0, &err);
	if (r == 1 && encrypted && !(m.enc[0].v[SP_ENC_PUB] && m.layers[0].encrypted))
		return -3;
	return r == 1 ? 0 : -1;
}

TEST(image_crypt_meta_frames)
{
	static const uint32_t full[] = { SP_ENC_PUB, SP_ENC_JWE }, pub_only[] = { SP_ENC_PUB },
			      twice[] = { SP_ENC_PUB, SP_ENC_PUB }, bad[] = { 3 };

	CHECK(meta_stream(true, full, 2, 0) == 0);
	CHECK(meta_stream(false, NULL, 0, 0) == 0);
	CHECK(meta_stream(true, NULL, 0, 0) == -1);	/* encrypted, no annotations */
	CHECK(meta_stream(true, pub_only, 1, 0) == -1); /* no key wrapper */
	CHECK(meta_stream(true, twice, 2, 0) == -1);	/* the same one twice */
	CHECK(meta_stream(true, bad, 1, 0) == -1);	/* no such annotation */
	CHECK(meta_stream(true, full, 2, 1) == -1);	/* another layer's */
	CHECK(meta_stream(false, full, 2, 0) == -1);	/* a plain layer's */
}

/* The policy's require_encrypted_layers: an obligation on a CreateContainer that pulls (not on
 * the built-in pause), which the pull meets or refuses naming the first plain layer. */
TEST(image_crypt_require_encrypted_layers)
{
	static const char doc[] = "{\"version\": 1, \"default\": \"allow\", "
				  "\"require_encrypted_layers\": true}";
	static const char *const argv[] = { "/bin/true" };
	static struct sp_meta m;
	struct sp_policy *p = NULL;
	struct sp_policy_state st = { 0 };
	struct sp_policy_input in = {
		.image_ref = "r.example/app:1", .image_pulled = true, .argv = argv, .argc = 1
	};
	struct sp_verdict v;
	struct sp_err err;

	REQUIRE(sp_policy_load(doc, sizeof(doc) - 1, &p, &err) == 0);
	CHECK(sp_policy_check(p, &st, "CreateContainerRequest", &in, &v) && v.allow);
	CHECK(v.needs & SP_NEED_ENCRYPTED_LAYERS);
	in.builtin_pause = true;
	CHECK(sp_policy_check(p, &st, "CreateContainerRequest", &in, &v));
	CHECK(!(v.needs & SP_NEED_ENCRYPTED_LAYERS));
	sp_policy_free(p);
	memset(&m, 0, sizeof(m));
	m.n = 2;
	m.layers[0].encrypted = m.layers[1].encrypted = true;
	memcpy(m.layers[1].digest, D1, sizeof(D1));
	CHECK(sp_pull_check_encrypted("r.example/app:1", &m, &err) == 0);
	m.layers[1].encrypted = false;
	CHECK(sp_pull_check_encrypted("r.example/app:1", &m, &err) < 0);
	CHECK(strstr(err.msg, "require_encrypted_layers") && strstr(err.msg, "layer 1") &&
	      strstr(err.msg, D1));
	CHECK(err.stage == SP_STAGE_POLICY_DENY);
}
