/* Encrypted layers as ocicrypt makes them (skopeo/containerd "--encryption-key"), in the pull's
 * parser worker:
 *   pubopts     org.opencontainers.image.enc.pubopts: base64 of {"cipher", "hmac",
 *               "cipheroptions"}; only AES_256_CTR_HMAC_SHA256 is accepted
 *   privopts    what a key wrapper protects: {"symkey", "cipheroptions": {"nonce"}, "digest"}
 *   JWE         org.opencontainers.image.enc.keys.jwe: comma-separated base64 of JWE JSON
 *               serializations (one or more recipients), alg RSA-OAEP or RSA-OAEP-256, enc
 *               A256GCM; the private key a PEM (decrypt_jwe.c)
 *   key provider org.opencontainers.image.enc.keys.provider.attestation-agent: comma-separated
 *               base64 of Confidential Containers' annotation packet {"kid": "kbs:///...",
 *               "wrapped_data", "iv", "wrap_type": "A256GCM"}; the KEK the KBS resource kid
 *   the cipher  AES-256-CTR over the blob, HMAC-SHA256 (same key) over the ciphertext, checked
 *               at the end before the layer counts as unpacked
 * Everything here parses registry bytes and is fuzzed (tests/fuzz/fuzz_ocicrypt_annot.c,
 * fuzz_jwe_recipients.c). Keys and options are wiped by their free functions. */
#ifndef SEALPOD_IMAGE_DECRYPT_H
#define SEALPOD_IMAGE_DECRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/stream.h"
#include "lib/err.h"

#define SP_ENC_ANNOT_JWE     "org.opencontainers.image.enc.keys.jwe"
#define SP_ENC_ANNOT_AA	     "org.opencontainers.image.enc.keys.provider.attestation-agent"
#define SP_ENC_ANNOT_PUBOPTS "org.opencontainers.image.enc.pubopts"
#define SP_ENC_ANNOT_MAX     ((size_t)64 << 10) /* one annotation's value */
#define SP_ENC_KID_MAX	     511
#define SP_ENC_KEY_MAX	     ((size_t)16 << 10) /* a PEM private key or a KEK */

/* The public options: the HMAC the ciphertext must have. */
struct sp_enc_pub {
	uint8_t hmac[32];
};

/* The private options: the layer key and nonce (secret), and the digest of the plaintext blob
 * when the producer set one ("" otherwise). */
struct sp_enc_priv {
	uint8_t key[32], nonce[16];
	char digest[SP_DIGEST_LEN + 1];
};

int sp_enc_pubopts_parse(const char *b64, size_t len, struct sp_enc_pub *pub, struct sp_err *err);
int sp_enc_privopts_parse(const uint8_t *json, size_t len, struct sp_enc_priv *priv,
			  struct sp_err *err);
void sp_enc_priv_wipe(struct sp_enc_priv *priv);

/* The n-th (0-based) comma-separated entry of an annotation value: *p and *len; -1 when none. */
int sp_enc_annot_entry(const char *v, size_t vlen, size_t n, const char **p, size_t *len);

/* One key-provider annotation packet (an entry of SP_ENC_ANNOT_AA, still base64). */
struct sp_enc_packet {
	char kid[SP_ENC_KID_MAX + 1]; /* kbs:///<repo>/<type>/<tag> */
	uint8_t iv[12];
	uint8_t *wrapped; /* heap: AES-256-GCM ciphertext with its 16-byte tag at the end */
	size_t wrapped_len;
};
int sp_enc_packet_parse(const char *b64, size_t len, struct sp_enc_packet *pk, struct sp_err *err);
void sp_enc_packet_free(struct sp_enc_packet *pk);
/* The private options the packet wraps, with the KEK (32 bytes). */
int sp_enc_packet_unwrap(const struct sp_enc_packet *pk, const uint8_t *kek, size_t kek_len,
			 struct sp_enc_priv *priv, struct sp_err *err);

/* The private options from the JWE annotation value with the private key pem: the first
 * recipient the key opens (decrypt_jwe.c). */
int sp_enc_jwe_unwrap(const char *annot, size_t len, const char *pem, size_t pem_len,
		      struct sp_enc_priv *priv, struct sp_err *err);

/* The stream stage: ciphertext in (its sha256 is the blob digest), plaintext out to out. */
struct sp_decrypt;
struct sp_decrypt *sp_decrypt_new(const struct sp_enc_priv *priv, const struct sp_enc_pub *pub,
				  sp_stream_out_fn out, void *arg);
int sp_decrypt_feed(struct sp_decrypt *d, const uint8_t *buf, size_t len, struct sp_err *err);
/* End of the ciphertext: the HMAC must match (else -1, "the HMAC ... does not match"); fills
 * "sha256:<hex>" of the ciphertext. */
int sp_decrypt_finish(struct sp_decrypt *d, char *blob_digest, struct sp_err *err);
void sp_decrypt_free(struct sp_decrypt *d);

/* --- in the pull pipeline (decrypt_pipe.c) ------------------------------------------------------
 * PID 1 fetches the decryption keys initdata allows (cdh.toml [sealpod.image]
 * decryption_keys, KBS resources, after attestation) and sends them to the pull worker, which
 * hands them, with an encrypted layer's annotations, to that layer's worker and on to its
 * parser worker: only the parser unwraps and decrypts. Keys are wiped where they end. */
#define SP_DEC_KEYS_MAX 16

struct sp_dec_key {
	char uri[SP_ENC_KID_MAX + 1]; /* kbs:///<repo>/<type>/<tag> */
	uint8_t *data;		      /* heap, secret */
	size_t len;
};
struct sp_dec_keys {
	struct sp_dec_key k[SP_DEC_KEYS_MAX];
	size_t n;
};
int sp_dec_keys_add(struct sp_dec_keys *ks, const char *uri, const uint8_t *data, size_t len);
void sp_dec_keys_wipe(struct sp_dec_keys *ks);
/* The keys as frames of type (one each), and one such frame into ks. */
int sp_dec_keys_send(int fd, uint32_t type, const struct sp_dec_keys *ks);
int sp_dec_keys_take(struct sp_dec_keys *ks, const uint8_t *p, uint32_t len);
/* One key as a frame of type queued for a worker PID 1 started (lib/worker.h). */
struct sp_worker;
int sp_dec_key_send_worker(struct sp_worker *w, uint32_t type, const struct sp_dec_key *k,
			   struct sp_err *err);
#define SP_DEC_KEY_FRAME_MIN (SP_ENC_KID_MAX + 2)
#define SP_DEC_KEY_FRAME_MAX (SP_ENC_KID_MAX + 1 + SP_ENC_KEY_MAX)

/* An encrypted layer's annotations (heap strings, NULL when absent). */
enum { SP_ENC_PUB = 0, SP_ENC_JWE, SP_ENC_AA, SP_ENC_NANNOT };
struct sp_enc_annots {
	char *v[SP_ENC_NANNOT];
};
/* As frames of type: {uint32 idx, uint32 which} then the value. */
int sp_enc_annots_send(int fd, uint32_t type, uint32_t idx, const struct sp_enc_annots *a);
/* One such frame into a[idx] (idx < n, each value once): 0 or -1. */
int sp_enc_annots_take(struct sp_enc_annots *a, size_t n, const uint8_t *p, uint32_t len);
/* Complete: pubopts and a key wrapper. */
bool sp_enc_annots_complete(const struct sp_enc_annots *a);
void sp_enc_annots_free(struct sp_enc_annots *a);
#define SP_ENC_ANNOT_FRAME_MIN 9
#define SP_ENC_ANNOT_FRAME_MAX (8 + SP_ENC_ANNOT_MAX)

/* What a layer or parser worker gets for an encrypted layer before its job. */
struct sp_enc_layer {
	struct sp_dec_keys keys;
	struct sp_enc_annots a;
};
/* One IMG_DEC_KEY or IMG_LAYER_ENC frame (index 0) into l: 0, or -1 when malformed. */
int sp_enc_layer_take(struct sp_enc_layer *l, uint32_t type, const uint8_t *p, uint32_t len);
void sp_enc_layer_free(struct sp_enc_layer *l);

/* The layer key from its annotations and the keys: the key-provider packets first (each names
 * its key: a missing one fails naming the kid), then the JWE recipients against every key that
 * is a private key. */
int sp_enc_layer_keys(const struct sp_enc_annots *a, const struct sp_dec_keys *ks,
		      struct sp_enc_pub *pub, struct sp_enc_priv *priv, struct sp_err *err);

#endif
