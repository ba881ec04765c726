/* Arbitrary bytes as an encrypted layer's JWE annotation (comma-separated base64 of JWE JSON
 * serializations, general or flattened: decrypt_jwe.c), opened with the RSA key the real seeds
 * were made for (tests/data/ocicrypt/jwe-priv.pem, when the fuzzer runs from the checkout; a
 * fresh key otherwise). Whatever opens must yield a full layer key. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "image/decrypt.h"

static char *pem;
static size_t pem_len;

static void load_key(void)
{
	FILE *f = fopen("tests/data/ocicrypt/jwe-priv.pem", "rb");
	EVP_PKEY *k;
	BIO *b;
	char *p;
	long n;

	pem = malloc(SP_ENC_KEY_MAX);
	if (!pem)
		abort();
	if (f) {
		pem_len = fread(pem, 1, SP_ENC_KEY_MAX, f);
		fclose(f);
		if (pem_len)
			return;
	}
	k = EVP_RSA_gen(2048);
	b = BIO_new(BIO_s_mem());
	if (!k || !b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		abort();
	n = BIO_get_mem_data(b, &p);
	pem_len = (size_t)n;
	memcpy(pem, p, pem_len);
	BIO_free(b);
	EVP_PKEY_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_enc_priv priv;
	struct sp_err err;
	char *s;

	if (!pem)
		load_key();
	if (size > SP_ENC_ANNOT_MAX)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (sp_enc_jwe_unwrap(s, size, pem, pem_len, &priv, &err) == 0) {
		static const uint8_t zero[32];

		if (memcmp(priv.key, zero, sizeof(zero)) == 0 && memcmp(priv.nonce, zero, 16) == 0)
			abort(); /* an opened key is never left unset */
		sp_enc_priv_wipe(&priv);
	}
	free(s);
	return 0;
}
