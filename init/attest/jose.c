/* JOSE as the KBS uses it: base64/base64url, RFC 8785 canonical JSON for the runtime data, the
 * per-boot TEE key as a JWK, and flattened JWE decryption (ECDH-ES+A256KW or RSA-OAEP-256, then
 * A256GCM with AAD = the protected string exactly as received). JWEs are untrusted input. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "attest/attest_int.h"
#include "attest/json.h"
#include "lib/cleanup.h"

#define JWE_MAX_BODY ((size_t)4 << 20)

/* --- base64 ---------------------------------------------------------------------------------- */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *sp_b64_encode(const uint8_t *p, size_t n, bool url)
{
	const char *a = url ? B64URL : B64;
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		*o++ = a[v >> 18 & 63];
		*o++ = a[v >> 12 & 63];
		if (left > 1)
			*o++ = a[v >> 6 & 63];
		else if (!url)
			*o++ = '=';
		if (left > 2)
			*o++ = a[v & 63];
		else if (!url)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

int sp_b64_decode(const char *s, size_t slen, bool url, uint8_t **out, size_t *out_len)
{
	size_t pad = 0, n, o = 0;
	uint8_t *buf;
	uint32_t acc = 0;
	unsigned bits = 0;

	*out = NULL;
	if (!url) {
		if (slen % 4)
			return -1;
		while (pad < 2 && slen > pad && s[slen - 1 - pad] == '=')
			pad++;
	} else if (slen % 4 == 1) {
		return -1;
	}
	n = slen - pad;
	buf = malloc(n * 3 / 4 + 1);
	if (!buf)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i], url);
		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero (one canonical encoding per byte string). */
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0 || (!url && pad && (n + pad) % 4)) {
		free(buf);
		return -1;
	}
	buf[o] = 0;
	*out = buf;
	*out_len = o;
	return 0;
}

/* --- JSON helpers (json.h) --------------------------------------------------------------------- */
int sp_json_parse(const char *buf, size_t len, struct json_object **out, struct sp_err *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > JWE_MAX_BODY || len > INT_MAX)
		return sp_error(err, 0, "JSON body of %zu bytes is too large", len);
	if (memchr(buf, 0, len))
		return sp_error(err, 0, "JSON body holds a NUL byte");
	tok = json_tokener_new_ex(16);
	if (!tok)
		return sp_error(err, ENOMEM, "json");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	*out = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (!*out && jerr == json_tokener_continue && end == len) {
		/* A bare number at the very end ("0") is complete only once the tokener sees
		 * something after it: end the input with a space (JSON whitespace). */
		*out = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (!*out || jerr != json_tokener_success) {
		json_object_put(*out);
		*out = NULL;
		return sp_error(err, 0, "invalid JSON at byte %zu: %s", end,
				jerr == json_tokener_continue ? "truncated"
							      : json_tokener_error_desc(jerr));
	}
	while (end < len &&
	       (buf[end] == ' ' || buf[end] == '\t' || buf[end] == '\r' || buf[end] == '\n'))
		end++;
	if (end != len) {
		json_object_put(*out);
		*out = NULL;
		return sp_error(err, 0, "trailing bytes after the JSON value");
	}
	return 0;
}

const char *sp_json_str(struct json_object *o, const char *key, size_t *len)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* --- RFC 8785 ------------------------------------------------------------------------------------ */
struct obuf {
	char *s;
	size_t n, cap;
	bool oom;
};

static void put(struct obuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *t = realloc(b->s, cap);
		if (!t) {
			b->oom = true;
			return;
		}
		b->s = t, b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void put_jstr(struct obuf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		switch (c) {
		case '"':
			put(b, "\\\"", 2);
			break;
		case '\\':
			put(b, "\\\\", 2);
			break;
		case '\b':
			put(b, "\\b", 2);
			break;
		case '\f':
			put(b, "\\f", 2);
			break;
		case '\n':
			put(b, "\\n", 2);
			break;
		case '\r':
			put(b, "\\r", 2);
			break;
		case '\t':
			put(b, "\\t", 2);
			break;
		default:
			if (c < 0x20) {
				(void)snprintf(esc, sizeof(esc), "\\u%04x", c);
				put(b, esc, 6);
			} else {
				put(b, (const char *)&c, 1);
			}
		}
	}
	put(b, "\"", 1);
}

/* Next code point of valid UTF-8 (json-c validated it). */
static uint32_t next_cp(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t cp;
	if (s[0] < 0x80)
		cp = s[0], *p += 1;
	else if (s[0] < 0xe0)
		cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f), *p += 2;
	else if (s[0] < 0xf0)
		cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f),
		*p += 3;
	else
		cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		     (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f),
		*p += 4;
	return cp;
}

struct u16it {
	const unsigned char *p;
	uint16_t pending; /* the low surrogate still to come */
};

/* The next UTF-16 code unit, -1 at the end. */
static int u16next(struct u16it *it)
{
	uint32_t cp;

	if (it->pending) {
		int r = it->pending;
		it->pending = 0;
		return r;
	}
	if (!*it->p)
		return -1;
	cp = next_cp(&it->p);
	if (cp < 0x10000)
		return (int)cp;
	cp -= 0x10000;
	it->pending = (uint16_t)(0xdc00 | (cp & 0x3ff));
	return (int)(0xd800 | cp >> 10);
}

/* Key order of RFC 8785: by UTF-16 code units. */
static int cmp_utf16(const void *a, const void *b)
{
	struct u16it x = { *(const unsigned char *const *)a, 0 };
	struct u16it y = { *(const unsigned char *const *)b, 0 };

	for (;;) {
		int ux = u16next(&x), uy = u16next(&y);
		if (ux != uy)
			return ux < uy ? -1 : 1;
		if (ux < 0)
			return 0;
	}
}

static int jcs_value(struct obuf *b, struct json_object *v, unsigned depth, struct sp_err *err)
{
	char num[32];

	if (depth > 32)
		return sp_error(err, 0, "canonical JSON: nested too deeply");
	switch (json_object_get_type(v)) {
	case json_type_null:
		put(b, "null", 4);
		return 0;
	case json_type_boolean:
		if (json_object_get_boolean(v))
			put(b, "true", 4);
		else
			put(b, "false", 5);
		return 0;
	case json_type_int: {
		int64_t i = json_object_get_int64(v);
		if (i > (1LL << 53) || i < -(1LL << 53))
			return sp_error(err, 0, "canonical JSON: integer beyond 2^53");
		(void)snprintf(num, sizeof(num), "%lld", (long long)i);
		put(b, num, strlen(num));
		return 0;
	}
	case json_type_double: {
		double d = json_object_get_double(v);
		if (!(d <= 9007199254740992.0 && d >= -9007199254740992.0) ||
		    d != (double)(long long)d)
			return sp_error(err, 0,
					"canonical JSON: non-integer numbers are unsupported");
		(void)snprintf(num, sizeof(num), "%lld", (long long)d);
		put(b, num, strlen(num));
		return 0;
	}
	case json_type_string:
		put_jstr(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		return 0;
	case json_type_array: {
		size_t n = json_object_array_length(v);
		put(b, "[", 1);
		for (size_t i = 0; i < n; i++) {
			if (i)
				put(b, ",", 1);
			if (jcs_value(b, json_object_array_get_idx(v, i), depth + 1, err) < 0)
				return -1;
		}
		put(b, "]", 1);
		return 0;
	}
	case json_type_object: {
		size_t n = (size_t)json_object_object_length(v), k = 0;
		cleanup_free const char **keys = calloc(n ? n : 1, sizeof(*keys));
		if (!keys)
			return sp_error(err, ENOMEM, "canonical JSON");
		json_object_object_foreach(v, key, val)
		{
			(void)val;
			keys[k++] = key;
		}
		qsort(keys, k, sizeof(*keys), cmp_utf16);
		put(b, "{", 1);
		for (size_t i = 0; i < k; i++) {
			if (i)
				put(b, ",", 1);
			put_jstr(b, keys[i], strlen(keys[i]));
			put(b, ":", 1);
			if (jcs_value(b, json_object_object_get(v, keys[i]), depth + 1, err) < 0)
				return -1;
		}
		put(b, "}", 1);
		return 0;
	}
	}
	return sp_error(err, 0, "canonical JSON: unknown value");
}

int sp_jcs(const char *json, size_t len, char **out, struct sp_err *err)
{
	struct json_object *root;
	struct obuf b = { 0 };
	int r;

	*out = NULL;
	if (sp_json_parse(json, len, &root, err) < 0)
		return -1;
	r = jcs_value(&b, root, 0, err);
	json_object_put(root);
	if (r < 0 || b.oom) {
		free(b.s);
		return r < 0 ? -1 : sp_error(err, ENOMEM, "canonical JSON");
	}
	*out = b.s;
	return 0;
}

/* --- the TEE key --------------------------------------------------------------------------------- */
struct sp_tee_key {
	enum sp_tee_key_kind kind;
	EVP_PKEY *pkey;
};

int sp_tee_key_new(enum sp_tee_key_kind kind, struct sp_tee_key **out, struct sp_err *err)
{
	struct sp_tee_key *k = calloc(1, sizeof(*k));

	if (!k)
		return sp_error(err, ENOMEM, "TEE key");
	k->kind = kind;
	k->pkey = kind == SP_TEE_KEY_EC_P256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
					     : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!k->pkey) {
		free(k);
		return sp_error(err, 0, "TEE key generation failed");
	}
	*out = k;
	return 0;
}

void sp_tee_key_free(struct sp_tee_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

static char *bn_b64(const EVP_PKEY *p, const char *name, size_t pad)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	int n;
	char *s = NULL;

	if (!EVP_PKEY_get_bn_param(p, name, &bn))
		return NULL;
	n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
	if (n > 0 && (size_t)n <= sizeof(buf))
		s = sp_b64_encode(buf, (size_t)n, true);
	BN_free(bn);
	return s;
}

char *sp_tee_key_jwk(const struct sp_tee_key *k)
{
	char *a = NULL, *b = NULL, *out = NULL;
	int r = -1;

	if (k->kind == SP_TEE_KEY_EC_P256) {
		a = bn_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		b = bn_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		if (a && b)
			r = asprintf(&out,
				     "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES+A256KW\","
				     "\"x\":\"%s\",\"y\":\"%s\"}",
				     a, b);
	} else {
		a = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		if (a && b)
			r = asprintf(&out,
				     "{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP-256\",\"n\":\"%s\",\"e\":"
				     "\"%s\"}",
				     a, b);
	}
	free(a);
	free(b);
	return r < 0 ? NULL : out;
}

/* --- JWE ------------------------------------------------------------------------------------------ */
struct blob {
	uint8_t *p;
	size_t n;
};

static void blob_free(struct blob *b)
{
	if (b->p)
		OPENSSL_cleanse(b->p, b->n);
	free(b->p);
	b->p = NULL;
}

static int member_b64(struct json_object *o, const char *key, bool required, struct blob *out,
		      struct sp_err *err)
{
	size_t len;
	const char *s = sp_json_str(o, key, &len);

	out->p = NULL, out->n = 0;
	if (!s)
		return required ? sp_error(err, 0, "JWE: %s missing or not a string", key) : 0;
	if (sp_b64_decode(s, len, true, &out->p, &out->n) < 0)
		return sp_error(err, 0, "JWE: %s is not base64url", key);
	return 0;
}

/* The peer's public key from the epk header member. */
static EVP_PKEY *epk_key(struct json_object *epk, struct sp_err *err)
{
	struct blob x = { 0 }, y = { 0 };
	const char *kty = sp_json_str(epk, "kty", NULL), *crv = sp_json_str(epk, "crv", NULL);
	uint8_t pt[65];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *pk = NULL;

	if (!kty || strcmp(kty, "EC") != 0 || !crv || strcmp(crv, "P-256") != 0) {
		sp_error(err, 0, "JWE: epk must be an EC P-256 key");
		return NULL;
	}
	if (member_b64(epk, "x", true, &x, err) < 0 || member_b64(epk, "y", true, &y, err) < 0 ||
	    x.n != 32 || y.n != 32) {
		blob_free(&x), blob_free(&y);
		sp_error(err, 0, "JWE: epk coordinates must be 32 bytes");
		return NULL;
	}
	pt[0] = 4;
	memcpy(pt + 1, x.p, 32);
	memcpy(pt + 33, y.p, 32);
	blob_free(&x), blob_free(&y);
	bld = OSSL_PARAM_BLD_new();
	if (bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
		params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pk = NULL;
	if (pk) {
		chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		if (!chk || EVP_PKEY_public_check(chk) <= 0) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
	}
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	if (!pk)
		sp_error(err, 0, "JWE: epk is not a point on P-256");
	return pk;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static int ecdh_unwrap(const struct sp_tee_key *k, struct json_object *hdr, const struct blob *ek,
		       uint8_t cek[32], struct sp_err *err)
{
	struct json_object *epk;
	EVP_PKEY *peer;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t z[32], kek[32], lenb[4];
	size_t zlen = sizeof(z);
	struct blob apu = { 0 }, apv = { 0 };
	EVP_MD_CTX *md = NULL;
	EVP_CIPHER_CTX *c = NULL;
	int outl = 0, fin = 0, ret = -1;
	static const char alg[] = "ECDH-ES+A256KW";

	if (!json_object_object_get_ex(hdr, "epk", &epk) ||
	    !json_object_is_type(epk, json_type_object))
		return sp_error(err, 0, "JWE: no epk in the protected header");
	if (ek->n != 40)
		return sp_error(err, 0, "JWE: encrypted_key must be 40 bytes for A256KW");
	if (member_b64(hdr, "apu", false, &apu, err) < 0 ||
	    member_b64(hdr, "apv", false, &apv, err) < 0)
		goto out;
	peer = epk_key(epk, err);
	if (!peer)
		goto out;
	ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, peer) <= 0 ||
	    EVP_PKEY_derive(ctx, z, &zlen) <= 0 || zlen != 32) {
		EVP_PKEY_free(peer);
		sp_error(err, 0, "JWE: ECDH failed");
		goto out;
	}
	EVP_PKEY_free(peer);
	/* Concat KDF (NIST SP 800-56A), one SHA-256 round, as RFC 7518 4.6.2 specifies. */
	md = EVP_MD_CTX_new();
	be32(lenb, 1);
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, lenb, 4) ||
	    !EVP_DigestUpdate(md, z, 32))
		goto kdf_fail;
	be32(lenb, sizeof(alg) - 1);
	if (!EVP_DigestUpdate(md, lenb, 4) || !EVP_DigestUpdate(md, alg, sizeof(alg) - 1))
		goto kdf_fail;
	be32(lenb, (uint32_t)apu.n);
	if (!EVP_DigestUpdate(md, lenb, 4) || (apu.n && !EVP_DigestUpdate(md, apu.p, apu.n)))
		goto kdf_fail;
	be32(lenb, (uint32_t)apv.n);
	if (!EVP_DigestUpdate(md, lenb, 4) || (apv.n && !EVP_DigestUpdate(md, apv.p, apv.n)))
		goto kdf_fail;
	be32(lenb, 256);
	if (!EVP_DigestUpdate(md, lenb, 4) || !EVP_DigestFinal_ex(md, kek, NULL))
		goto kdf_fail;
	c = EVP_CIPHER_CTX_new();
	if (!c || !EVP_DecryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) ||
	    !EVP_DecryptUpdate(c, cek, &outl, ek->p, 40) ||
	    !EVP_DecryptFinal_ex(c, cek + outl, &fin) || outl + fin != 32) {
		sp_error(err, 0, "JWE: key unwrap failed (wrong key or tampered encrypted_key)");
		goto out;
	}
	ret = 0;
	goto out;
kdf_fail:
	sp_error(err, 0, "JWE: key derivation failed");
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(kek, sizeof(kek));
	EVP_CIPHER_CTX_free(c);
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(ctx);
	blob_free(&apu);
	blob_free(&apv);
	return ret;
}

static int rsa_unwrap(const struct sp_tee_key *k, const struct blob *ek, uint8_t cek[32],
		      struct sp_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
	uint8_t buf[1024];
	size_t n = sizeof(buf);
	int ret = -1;

	if (ctx && EVP_PKEY_decrypt_init(ctx) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) > 0 &&
	    EVP_PKEY_decrypt(ctx, buf, &n, ek->p, ek->n) > 0 && n == 32) {
		memcpy(cek, buf, 32);
		ret = 0;
	} else {
		sp_error(err, 0, "JWE: RSA-OAEP-256 decryption of the key failed");
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

/* The members of a flattened JWE, decoded (blobs wiped and freed with it). */
struct jwe {
	const char *prot; /* the protected header as sent: the AAD */
	size_t prot_len;
	struct blob ph, ek, iv, ct, tag;
};

static void jwe_free(struct jwe *j)
{
	blob_free(&j->ph), blob_free(&j->ek), blob_free(&j->iv), blob_free(&j->ct);
	blob_free(&j->tag);
}

#define cleanup_jwe __attribute__((cleanup(jwe_free)))

static int jwe_members(struct json_object *root, struct jwe *j, struct sp_err *err)
{
	if (!json_object_is_type(root, json_type_object))
		return sp_error(err, 0, "JWE: not a JSON object");
	j->prot = sp_json_str(root, "protected", &j->prot_len);
	if (!j->prot || j->prot_len == 0)
		return sp_error(err, 0, "JWE: protected missing");
	if (member_b64(root, "protected", true, &j->ph, err) < 0 ||
	    member_b64(root, "encrypted_key", true, &j->ek, err) < 0 ||
	    member_b64(root, "iv", true, &j->iv, err) < 0 ||
	    member_b64(root, "ciphertext", true, &j->ct, err) < 0 ||
	    member_b64(root, "tag", true, &j->tag, err) < 0)
		return -1;
	if (j->iv.n != 12 || j->tag.n != 16)
		return sp_error(err, 0, "JWE: iv must be 12 bytes and tag 16");
	return 0;
}

/* The JOSE header: the protected header (*hdr, the caller's) with the unprotected ones merged
 * in. RFC 7516 4: their members must be disjoint (jwcrypto puts epk in the per-recipient
 * "header"). Only the protected part is authenticated (AAD), but a forged epk or alg only makes
 * the key derivation, and then the tag check, fail. */
static int jwe_header(struct json_object *root, const struct jwe *j, struct json_object **hdr,
		      struct sp_err *err)
{
	static const char *const unprot[] = { "header", "unprotected" };

	if (!j->ph.p || sp_json_parse((const char *)j->ph.p, j->ph.n, hdr, err) < 0 ||
	    !json_object_is_type(*hdr, json_type_object))
		return sp_error(err, 0, "JWE: protected header is not a JSON object");
	for (int u = 0; u < 2; u++) {
		struct json_object *uh;

		if (!json_object_object_get_ex(root, unprot[u], &uh))
			continue;
		if (!json_object_is_type(uh, json_type_object))
			return sp_error(err, 0, "JWE: %s is not an object", unprot[u]);
		json_object_object_foreach(uh, key, val)
		{
			if (json_object_object_get_ex(*hdr, key, NULL))
				return sp_error(err, 0, "JWE: header member %.32s appears twice",
						key);
			json_object_object_add(*hdr, key, json_object_get(val));
		}
	}
	return 0;
}

/* The content encryption key, unwrapped with k as the header's alg says. */
static int jwe_cek(const struct sp_tee_key *k, struct json_object *hdr, const struct jwe *j,
		   uint8_t cek[32], struct sp_err *err)
{
	const char *alg = sp_json_str(hdr, "alg", NULL);
	const char *enc = sp_json_str(hdr, "enc", NULL);
	struct json_object *x;

	if (!enc || strcmp(enc, "A256GCM") != 0)
		return sp_error(err, 0, "JWE: enc must be A256GCM");
	if (json_object_object_get_ex(hdr, "zip", &x) || json_object_object_get_ex(hdr, "crit", &x))
		return sp_error(err, 0, "JWE: zip and crit are unsupported");
	if (k->kind == SP_TEE_KEY_EC_P256) {
		if (!alg || strcmp(alg, "ECDH-ES+A256KW") != 0)
			return sp_error(err, 0, "JWE: alg must be ECDH-ES+A256KW for this key");
		return ecdh_unwrap(k, hdr, &j->ek, cek, err);
	}
	if (!alg || strcmp(alg, "RSA-OAEP-256") != 0)
		return sp_error(err, 0, "JWE: alg must be RSA-OAEP-256 for this key");
	return rsa_unwrap(k, &j->ek, cek, err);
}

/* AES-256-GCM over the ciphertext, the protected header as AAD: the plaintext (heap, NUL after
 * it) only when the tag holds. */
static int jwe_open(const uint8_t cek[32], const struct jwe *j, uint8_t **plain, size_t *plain_len,
		    struct sp_err *err)
{
	cleanup_evp_ctx EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	cleanup_wipe uint8_t *out = NULL;
	int outl = 0, fin = 0;

	if (!c || !EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) ||
	    !EVP_DecryptInit_ex(c, NULL, NULL, cek, j->iv.p) ||
	    !EVP_DecryptUpdate(c, NULL, &outl, (const uint8_t *)j->prot, (int)j->prot_len) ||
	    !(out = malloc(j->ct.n + 1)) ||
	    !EVP_DecryptUpdate(c, out, &outl, j->ct.p, (int)j->ct.n) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, j->tag.p) ||
	    EVP_DecryptFinal_ex(c, out + outl, &fin) <= 0)
		return sp_error(err, 0, // NOLINT(clang-analyzer-unix.Malloc): out is cleanup_wipe
				"JWE: authentication failed (wrong tag, key or protected header)");
	*plain_len = (size_t)outl + (size_t)fin;
	out[*plain_len] = 0;
	*plain = steal_ptr(&out);
	return 0;
}

/* A 256-bit key on the stack, wiped when it goes out of scope. */
struct key256 {
	uint8_t b[32];
};

static void key256_wipe(struct key256 *k)
{
	OPENSSL_cleanse(k->b, sizeof(k->b));
}

int sp_jwe_decrypt(const struct sp_tee_key *k, const char *json, size_t len, uint8_t **plain,
		   size_t *plain_len, struct sp_err *err)
{
	cleanup_json struct json_object *root = NULL;
	cleanup_json struct json_object *hdr = NULL;
	cleanup_jwe struct jwe j = { 0 };
	__attribute__((cleanup(key256_wipe))) struct key256 cek;

	*plain = NULL;
	*plain_len = 0;
	if (sp_json_parse(json, len, &root, err) < 0)
		return sp_error_wrap(err, "JWE");
	/* clang-analyzer does not model cleanup attributes: j's blobs are freed with j. */
	if (jwe_members(root, &j, err) < 0 || jwe_header(root, &j, &hdr, err) < 0 ||
	    jwe_cek(k, hdr, &j, cek.b, err) < 0)
		return -1;				   // NOLINT(clang-analyzer-unix.Malloc)
	return jwe_open(cek.b, &j, plain, plain_len, err); // NOLINT(clang-analyzer-unix.Malloc)
}
